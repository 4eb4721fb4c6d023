/*
 * probe: the health of each DNS list (see probe.h).
 *
 * A round asks two names per zone and gives them dnsbl_timeout to
 * answer.  A tag is (round << 8 | zone << 1 | which): answers of an
 * earlier round are ignored.  The probes are judged without the zone's
 * answer codes: a test entry may be answered with any code of the list.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "../smtpd/log.h"
#include "../smtpd/smtp.h"
#include "dnsbl.h"
#include "probe.h"
#include "resolver.h"
#include "zonestats.h"

#define MUST_LIST	0	/* 127.0.0.2, or "test" */
#define MUST_NOT	1	/* 127.0.0.1, or "invalid" */
#define BOTH		3
#define ROUND_MASK	0xffffffu

_Static_assert(CONF_ZONE_MAX <= 128, "zone fits 7 bits of a tag");

struct health {
	int		 disabled;
	unsigned	 pending;		/* answers still due (bits) */
	enum zone_result got[2];
	enum dns_status	 status[2];
	char		 answer[2][INET_ADDRSTRLEN];
};

static struct health health[CONF_ZONE_MAX];
static unsigned round_no;
static int64_t next_round, round_end;	/* ms; round_end 0: none open */

static const struct conf *
cf(void)
{
	return wk->conf;
}

void
probe_init(void)
{
	memset(health, 0, sizeof(health));
	next_round = cf()->nzones > 0 && cf()->dnsbl_probe_interval > 0 ?
	    dns_now_ms() : 0;
	round_end = 0;
}

int
probe_zone_enabled(size_t i)
{
	return i < CONF_ZONE_MAX && !health[i].disabled;
}

static int
probe_name(size_t i, int which, char *out, size_t outsize)
{
	const struct dns_zone *z = &cf()->zones[i];
	struct sockaddr_in sin;

	if (z->kind == ZONE_RHSBL)
		return rhsbl_query_name(which == MUST_LIST ? "test" :
		    "invalid", z->zone, out, outsize);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(which == MUST_LIST ? 0x7f000002 :
	    0x7f000001);
	return dnsbl_query_name((struct sockaddr *)&sin, z->zone, out,
	    outsize);
}

static void
round_start(int64_t now)
{
	char q[DNS_NAME_MAX + 80];
	unsigned tag;
	size_t i;
	int which;

	round_no = (round_no + 1) & ROUND_MASK;
	round_end = now + (int64_t)cf()->dnsbl_timeout * 1000;
	next_round = now + (int64_t)cf()->dnsbl_probe_interval * 1000;
	for (i = 0; i < cf()->nzones; i++) {
		health[i].pending = BOTH;
		for (which = MUST_LIST; which <= MUST_NOT; which++) {
			health[i].got[which] = ZONE_PENDING;
			health[i].status[which] = DNS_PENDING;
			health[i].answer[which][0] = '\0';
			tag = round_no << 8 | (unsigned)i << 1 | (unsigned)which;
			if (probe_name(i, which, q, sizeof(q)) == -1 ||
			    dns_lookup_fresh(q, DNS_A, PROBE_SID, tag) == -1)
				health[i].pending &= ~(1u << which);
		}
	}
}

/* Why the zone cannot be trusted, or NULL. */
static const char *
diagnose(const struct health *h, int rhs)
{
	if (h->got[MUST_NOT] == ZONE_LISTED)
		return rhs ? "lists \"invalid\": it lists everything" :
		    "lists 127.0.0.1: it lists everything";
	if (h->got[MUST_LIST] == ZONE_LISTED)
		return NULL;
	switch (h->status[MUST_LIST]) {
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		return "does not list its test entry: a dead list?";
	case DNS_FOUND:
		return "answers its test entry with an error code";
	default:
		return "does not answer";
	}
}

static void
judge(size_t i)
{
	struct health *h = &health[i];
	const struct dns_zone *z = &cf()->zones[i];
	const char *why = diagnose(h, z->kind == ZONE_RHSBL);
	struct kv k;

	h->pending = 0;
	if ((why != NULL) == h->disabled)
		return;
	h->disabled = why != NULL;
	zstats_disabled(i, h->disabled);
	kv_begin(&k, "dnsbl-zone");
	kv_str(&k, "zone", z->zone);
	kv_str(&k, "state", h->disabled ? "disabled" : "enabled");
	if (why != NULL) {
		kv_str(&k, "reason", why);
		if (h->answer[MUST_LIST][0] != '\0')
			kv_str(&k, "answer", h->answer[MUST_LIST]);
		if (h->answer[MUST_NOT][0] != '\0')
			kv_str(&k, "answer_invalid", h->answer[MUST_NOT]);
	}
	kv_emit_warn(&k);
}

void
probe_answer(unsigned tag, const struct dns_answer *a)
{
	struct dns_zone any;
	struct health *h;
	size_t i = (tag >> 1) & 0x7f;
	int which = (int)(tag & 1);
	const char *why;

	if ((tag >> 8) != round_no || round_end == 0 || i >= cf()->nzones)
		return;
	h = &health[i];
	if (!(h->pending & (1u << which)))
		return;
	h->pending &= ~(1u << which);
	memset(&any, 0, sizeof(any));	/* no codes: any listing counts */
	h->status[which] = a->status;
	h->got[which] = dnsbl_judge(&any, a, h->answer[which],
	    sizeof(h->answer[which]), &why);
	if (h->pending == 0)
		judge(i);
}

int64_t
probe_turn(int64_t now, int64_t max_ms)
{
	int64_t wait = max_ms;
	size_t i;

	if (next_round == 0)
		return max_ms;
	if (round_end != 0 && now >= round_end) {
		for (i = 0; i < cf()->nzones; i++)
			if (health[i].pending != 0)
				judge(i);	/* silence counts */
		round_end = 0;
	}
	/* a round is judged before the next starts, however short the
	 * interval: else silence would never count */
	if (round_end == 0 && now >= next_round)
		round_start(now);
	if (round_end != 0 && round_end - now < wait)
		wait = round_end - now;
	if (round_end == 0 && next_round - now < wait)
		wait = next_round - now;
	return wait < 0 ? 0 : wait;
}
