/*
 * sender: the envelope sender's domain in DNS (see sender.h).
 *
 * A tag is DNS_TAG_SENDER + (generation << 6 | slot): the slot says what
 * it answers (MX, A, AAAA, or the i-th zone), the generation which MAIL
 * asked.  As in client.c, a slot's bit stays in `want` until its answer
 * is in, and the check is done when nothing it needs is missing or its
 * deadline has passed.
 */
#include <sys/queue.h>

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../smtpd/check.h"
#include "dnsbl.h"
#include "probe.h"
#include "resolver.h"
#include "sender.h"
#include "zonestats.h"

#define SLOT_MX		0
#define SLOT_A		1
#define SLOT_AAAA	2
#define SLOT_ZONE	3		/* + index of the zone */
#define SLOT_BITS	6
#define BIT(slot)	(UINT64_C(1) << (slot))
#define ADDR_SLOTS	(BIT(SLOT_A) | BIT(SLOT_AAAA))
#define GEN_MASK	0xffffffu	/* 24 bits: tags stay below 2^31 */

_Static_assert(SLOT_ZONE + CONF_ZONE_MAX <= (1 << SLOT_BITS), "slots fit");

struct dns_sender {
	struct session	*s;
	LIST_ENTRY(dns_sender) link;		/* in progress */
	unsigned	 gen;
	int64_t		 deadline;
	uint64_t	 want;
	int		 done;
	char		 domain[DNS_NAME_MAX + 1];
	enum dns_status	 mx, a, aaaa;
	int		 null_mx;
	enum zone_result zone[CONF_ZONE_MAX];
	char		 code[CONF_ZONE_MAX][INET_ADDRSTRLEN];
};

static LIST_HEAD(, dns_sender) active = LIST_HEAD_INITIALIZER(active);
static unsigned next_gen;	/* per worker: a session's MAILs differ */

static int
is_rhsbl(const struct conf *c, size_t i)
{
	return c->zones[i].kind == ZONE_RHSBL;
}

int
dns_sender_wanted(const struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nzones; i++)
		if (is_rhsbl(c, i))
			return 1;
	return c->sender_domain != SENDER_DOMAIN_OFF;
}

static void
finish(struct dns_sender *d, int tell)
{
	if (d->done)
		return;
	d->done = 1;
	LIST_REMOVE(d, link);
	if (tell)
		session_sender_done(d->s);
}

/*
 * What is still needed: an MX that exists (null or not) or a domain that
 * does not settles sender_domain, and so does one address once the MX
 * is known to be missing.
 */
static int
settled(const struct dns_sender *d)
{
	if (d->want & ~(BIT(SLOT_ZONE) - 1))
		return 0;
	if (d->mx == DNS_FOUND || d->mx == DNS_NXDOMAIN)
		return 1;
	if (d->want & BIT(SLOT_MX))
		return 0;
	return d->a == DNS_FOUND || d->aaaa == DNS_FOUND ||
	    (d->want & ADDR_SLOTS) == 0;
}

static void
ask(struct dns_sender *d, const char *name, enum dns_type t, unsigned slot)
{
	d->want |= BIT(slot);
	if (dns_lookup(name, t, d->s->id,
	    DNS_TAG_SENDER + (d->gen << SLOT_BITS | slot)) == -1)
		d->want &= ~BIT(slot);	/* counts as unanswered */
}

int
dns_sender_start(struct session *s, const char *domain)
{
	const struct conf *c = wk->conf;
	struct dns_sender *d = s->dns_sender;
	char q[DNS_NAME_MAX + 80];
	size_t i;

	if (d == NULL && (d = malloc(sizeof(*d))) == NULL)
		return -1;
	if (s->dns_sender != NULL && !d->done)
		LIST_REMOVE(d, link);
	memset(d, 0, sizeof(*d));
	d->s = s;
	s->dns_sender = d;
	d->gen = ++next_gen & GEN_MASK;
	d->deadline = dns_now_ms() + (int64_t)c->dnsbl_timeout * 1000;
	d->mx = d->a = d->aaaa = DNS_PENDING;
	(void)snprintf(d->domain, sizeof(d->domain), "%s", domain);
	LIST_INSERT_HEAD(&active, d, link);
	if (c->sender_domain == SENDER_DOMAIN_RESOLVABLE) {
		ask(d, domain, DNS_MX, SLOT_MX);
		ask(d, domain, DNS_A, SLOT_A);
		ask(d, domain, DNS_AAAA, SLOT_AAAA);
	}
	for (i = 0; i < c->nzones; i++)
		if (is_rhsbl(c, i) && probe_zone_enabled(i) &&
		    rhsbl_query_name(domain, c->zones[i].zone, q, sizeof(q)) ==
		    0)
			ask(d, q, DNS_A, SLOT_ZONE + (unsigned)i);
	if (settled(d))
		finish(d, 0);		/* the caller looks: no callback */
	return 0;
}

static void
got_zone(struct dns_sender *d, size_t i, const struct dns_answer *a)
{
	const struct dns_zone *z = &wk->conf->zones[i];
	const char *why;

	d->zone[i] = dnsbl_judge(z, a, d->code[i], sizeof(d->code[i]), &why);
	zstats_count(i, d->zone[i], dns_now_ms() - (d->deadline -
	    (int64_t)wk->conf->dnsbl_timeout * 1000));
	if (d->zone[i] == ZONE_ERROR)
		dnsbl_log_error(d->s->id, d->s->ip, z->zone, why, d->code[i]);
}

void
dns_sender_answer(struct session *s, unsigned tag, const struct dns_answer *a)
{
	struct dns_sender *d = s->dns_sender;
	unsigned slot = (tag - DNS_TAG_SENDER) & ((1u << SLOT_BITS) - 1);

	if (d == NULL || d->done ||
	    (tag - DNS_TAG_SENDER) >> SLOT_BITS != d->gen ||
	    !(d->want & BIT(slot)))
		return;			/* gone, too late, or an old MAIL's */
	d->want &= ~BIT(slot);
	if (slot == SLOT_MX) {
		d->mx = a->status;
		d->null_mx = a->status == DNS_FOUND && a->null_mx;
	} else if (slot == SLOT_A) {
		d->a = a->status;
	} else if (slot == SLOT_AAAA) {
		d->aaaa = a->status;
	} else {
		got_zone(d, slot - SLOT_ZONE, a);
	}
	if (settled(d))
		finish(d, 1);
}

static void
expire(struct dns_sender *d)
{
	const struct conf *c = wk->conf;
	size_t i;

	for (i = 0; i < c->nzones; i++)
		if (d->want & BIT(SLOT_ZONE + i)) {
			d->zone[i] = ZONE_ERROR;
			dnsbl_log_error(d->s->id, d->s->ip, c->zones[i].zone,
			    "timeout", "");
			zstats_count(i, ZONE_ERROR,
			    (int64_t)c->dnsbl_timeout * 1000);
		}
	if (d->mx == DNS_PENDING)
		d->mx = DNS_TEMPFAIL;
	if (d->a == DNS_PENDING)
		d->a = DNS_TEMPFAIL;
	if (d->aaaa == DNS_PENDING)
		d->aaaa = DNS_TEMPFAIL;
	d->want = 0;
	finish(d, 1);
}

int64_t
dns_sender_expire(int64_t now, int64_t max_ms)
{
	struct dns_sender *d, *next;
	int64_t wait = max_ms;

	for (d = LIST_FIRST(&active); d != NULL; d = next) {
		next = LIST_NEXT(d, link);
		if (d->deadline <= now)
			expire(d);
		else if (d->deadline - now < wait)
			wait = d->deadline - now;
	}
	return wait;
}

int
dns_sender_done(const struct session *s)
{
	return s->dns_sender == NULL || s->dns_sender->done;
}

void
dns_sender_free(struct session *s)
{
	struct dns_sender *d = s->dns_sender;

	if (d == NULL)
		return;
	if (!d->done)
		LIST_REMOVE(d, link);
	free(d);
	s->dns_sender = NULL;
}

/* ---- the verdict ---- */

static void
rhsbl_verdict(const struct dns_sender *d, struct verdict *v)
{
	const struct conf *c = wk->conf;
	const struct dns_zone *z;
	size_t i;

	for (i = 0; i < c->nzones; i++) {
		if (!is_rhsbl(c, i) || d->zone[i] != ZONE_LISTED)
			continue;
		z = &c->zones[i];
		if (z->text[0] != '\0')
			verdict_set(v, V_REJECT, 554, "5.7.1", "", "%s",
			    z->text);
		else
			verdict_set(v, V_REJECT, 554, "5.7.1", "", "Service "
			    "unavailable; sender domain %s blocked using %s",
			    d->domain, z->zone);
		(void)snprintf(v->cls, sizeof(v->cls), "rhsbl:%.120s",
		    z->zone);
		(void)snprintf(v->hits, sizeof(v->hits), "%.120s=%s",
		    z->zone, d->code[i]);
		return;
	}
}

static int
absent(enum dns_status st)
{
	return st == DNS_NXDOMAIN || st == DNS_NODATA;
}

static void
domain_verdict(const struct dns_sender *d, struct verdict *v)
{
	if (wk->conf->sender_domain == SENDER_DOMAIN_OFF)
		return;
	if (d->null_mx)
		verdict_set(v, V_REJECT, 550, "5.7.27", "sender:null-mx",
		    "Sender domain %s accepts no mail (null MX), so it may "
		    "not send any", d->domain);
	else if (d->mx == DNS_FOUND || d->a == DNS_FOUND ||
	    d->aaaa == DNS_FOUND)
		return;
	else if (d->mx == DNS_NXDOMAIN ||
	    (absent(d->mx) && absent(d->a) && absent(d->aaaa)))
		verdict_set(v, V_REJECT, 550, "5.1.8", "sender:unresolvable",
		    "Sender address rejected: domain %s not found", d->domain);
	else
		verdict_set(v, V_TEMPFAIL, 450, "4.1.8",
		    "sender:unresolvable", "Sender address rejected: domain "
		    "%s lookup failed, try again later", d->domain);
}

void
dns_sender_verdict(const struct session *s, struct verdict *v)
{
	verdict_pass(v);
	if (s->dns_sender == NULL || !s->dns_sender->done)
		return;
	rhsbl_verdict(s->dns_sender, v);
	if (v->kind == V_PASS)
		domain_verdict(s->dns_sender, v);
}
