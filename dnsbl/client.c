/*
 * client: a session's DNS evidence about its client (see client.h).
 *
 * Answers arrive as events tagged with what they answer: the PTR, the
 * forward lookup of the i-th PTR name, or the i-th configured zone.
 * A tag's bit stays set in `want` until its answer is in; the session is
 * done when no answer its verdict needs is missing, or its deadline has
 * passed.  The forward lookups are needed only for require-fcrdns, the
 * PTR only for reverse_dns or dynamic_ptr; answers that come after the
 * verdict still fill in the verified name (for the Received: header).
 */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../smtpd/check.h"
#include "../smtpd/log.h"
#include "client.h"
#include "dnsbl.h"
#include "dynptr.h"
#include "probe.h"
#include "resolver.h"
#include "sender.h"
#include "zonestats.h"

#define TAG_PTR		0
#define TAG_FWD		1		/* + index of the PTR name */
#define TAG_ZONE	8		/* + index of the zone */
#define BIT(tag)	(UINT64_C(1) << (tag))

_Static_assert(TAG_FWD + DNS_NAMES_MAX <= TAG_ZONE, "tags overlap");
_Static_assert(TAG_ZONE + CONF_ZONE_MAX <= 64, "tags fit 64 bits");

struct dns_client {
	struct session	*s;
	LIST_ENTRY(dns_client) link;		/* clients in progress */
	int64_t		 deadline;		/* ms, monotonic */
	uint64_t	 want;			/* tags not answered */
	int		 done;
	enum dns_status	 ptr;
	int		 ptr_dropped;		/* names refused */
	size_t		 nnames;
	char		 names[DNS_NAMES_MAX][DNS_NAME_MAX + 1];
	int		 fwd_temp;		/* a forward lookup failed */
	char		 verified[DNS_NAME_MAX + 1];
	enum zone_result zone[CONF_ZONE_MAX];
	char		 code[CONF_ZONE_MAX][INET_ADDRSTRLEN];
};

static LIST_HEAD(, dns_client) active = LIST_HEAD_INITIALIZER(active);
static const struct conf *cf;

/* Greylisting keys or allowlists on the client's verified name. */
static int
greylist_names(const struct conf *c)
{
	return c->greylist && (c->greylist_key == GREYLIST_KEY_PTR_DOMAIN ||
	    c->maps[MAP_GREYLIST_ALLOW][0] != '\0');
}

/* The tags the verdict (and greylisting, at RCPT) waits for. */
static uint64_t
needed(void)
{
	uint64_t m = ~(BIT(TAG_ZONE) - 1);	/* the zones */

	if (cf->reverse_dns != RDNS_OFF || cf->dynamic_ptr[0] != '\0' ||
	    greylist_names(cf))
		m |= BIT(TAG_PTR);
	if (cf->reverse_dns == RDNS_REQUIRE_FCRDNS || greylist_names(cf))
		m |= (BIT(TAG_ZONE) - 1) & ~BIT(TAG_PTR);
	return m;
}

static int
is_client_zone(const struct dns_zone *z)
{
	return z->kind == ZONE_DNSBL || z->kind == ZONE_DNSWL;
}

int
dns_client_wanted(const struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nzones; i++)
		if (is_client_zone(&c->zones[i]))
			return 1;
	return c->reverse_dns != RDNS_OFF || c->dynamic_ptr[0] != '\0' ||
	    greylist_names(c);
}

static void session_answer(uint64_t sid, unsigned tag,
    const struct dns_answer *);

int
dns_setup(const struct conf *c, char *err, size_t errsize)
{
	cf = c;
	if (!dns_client_wanted(c) && !dns_sender_wanted(c))
		return 0;	/* dynamic_ptr: the parent loaded it for us */
	dns_cache_init(c->dns_cache_min_ttl, c->dns_cache_max_ttl,
	    session_answer);
	probe_init();
	return resolver_init(c, err, errsize);
}

/* ---- the list of clients in progress ---- */


static void
finish(struct dns_client *d, int tell)
{
	if (d->done)
		return;
	d->done = 1;
	LIST_REMOVE(d, link);
	if (tell)
		session_dns_done(d->s);
}

/* ---- starting ---- */

static void
ask(struct dns_client *d, const char *name, enum dns_type t, unsigned tag)
{
	d->want |= BIT(tag);
	if (dns_lookup(name, t, d->s->id, tag) != -1)
		return;
	d->want &= ~BIT(tag);	/* counts as unanswered: */
	if (tag >= TAG_FWD && tag < TAG_ZONE)
		d->fwd_temp = 1;	/* a forward lookup: a temporary miss */
}

static void
ptr_name(const struct sockaddr *sa, char *out, size_t outsize)
{
	const char *arpa = sa->sa_family == AF_INET ? "in-addr.arpa" :
	    "ip6.arpa";

	if (dnsbl_query_name(sa, arpa, out, outsize) == -1)
		out[0] = '\0';
}

int
dns_client_start(struct session *s)
{
	struct dns_client *d;
	const struct sockaddr *sa = (const struct sockaddr *)&s->peer;
	char q[DNS_NAME_MAX + 80];
	size_t i;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -1;
	d->s = s;
	s->dns = d;
	d->deadline = dns_now_ms() + (int64_t)cf->dnsbl_timeout * 1000;
	d->ptr = DNS_PENDING;
	LIST_INSERT_HEAD(&active, d, link);
	ptr_name(sa, q, sizeof(q));
	if (q[0] != '\0')
		ask(d, q, DNS_PTR, TAG_PTR);
	for (i = 0; i < cf->nzones; i++) {
		if (!is_client_zone(&cf->zones[i]) || !probe_zone_enabled(i) ||
		    dnsbl_query_name(sa, cf->zones[i].zone, q, sizeof(q)) ==
		    -1)
			continue;
		ask(d, q, DNS_A, TAG_ZONE + (unsigned)i);
	}
	if ((d->want & needed()) == 0)
		finish(d, 0);		/* the caller looks: no callback */
	return 0;
}

/* ---- answers ---- */

static void
got_ptr(struct dns_client *d, const struct dns_answer *a)
{
	enum dns_type t = d->s->peer.ss_family == AF_INET ? DNS_A : DNS_AAAA;
	size_t i;

	d->ptr = a->status;
	d->ptr_dropped = a->dropped;
	if (a->status != DNS_FOUND)
		return;
	d->nnames = a->n;
	for (i = 0; i < a->n; i++) {
		memcpy(d->names[i], a->u.name[i], sizeof(d->names[i]));
		ask(d, d->names[i], t, TAG_FWD + (unsigned)i);
	}
}

static int
same_addr(const struct session *s, const struct dns_answer *a, size_t i)
{
	if (s->peer.ss_family == AF_INET)
		return memcmp(&a->u.a[i], &((const struct sockaddr_in *)
		    &s->peer)->sin_addr, sizeof(struct in_addr)) == 0;
	return memcmp(&a->u.aaaa[i], &((const struct sockaddr_in6 *)
	    &s->peer)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static void
got_forward(struct dns_client *d, size_t idx, const struct dns_answer *a)
{
	size_t i;

	if (a->status == DNS_TEMPFAIL)
		d->fwd_temp = 1;
	if (a->status != DNS_FOUND || d->verified[0] != '\0' ||
	    idx >= d->nnames)
		return;
	for (i = 0; i < a->n; i++)
		if (same_addr(d->s, a, i)) {
			memcpy(d->verified, d->names[idx],
			    sizeof(d->verified));
			return;
		}
}

static void
got_zone(struct dns_client *d, size_t idx, const struct dns_answer *a)
{
	const char *why;

	d->zone[idx] = dnsbl_judge(&cf->zones[idx], a, d->code[idx],
	    sizeof(d->code[idx]), &why);
	zstats_count(idx, d->zone[idx], dns_now_ms() - (d->deadline -
	    (int64_t)cf->dnsbl_timeout * 1000));
	if (d->zone[idx] == ZONE_ERROR)
		dnsbl_log_error(d->s->id, d->s->ip, cf->zones[idx].zone,
		    why, d->code[idx]);
}

static void
session_answer(uint64_t sid, unsigned tag, const struct dns_answer *a)
{
	struct session *s = worker_session_by_id(sid);
	struct dns_client *d;

	if (sid == PROBE_SID) {
		probe_answer(tag, a);
		return;
	}
	if (s != NULL && tag >= DNS_TAG_SENDER) {
		dns_sender_answer(s, tag, a);
		return;
	}
	if (s == NULL || (d = s->dns) == NULL || !(d->want & BIT(tag)))
		return;			/* gone, or too late */
	d->want &= ~BIT(tag);
	if (tag == TAG_PTR)
		got_ptr(d, a);
	else if (tag < TAG_ZONE)
		got_forward(d, tag - TAG_FWD, a);
	else if (!d->done)
		got_zone(d, tag - TAG_ZONE, a);
	if (!d->done && (d->want & needed()) == 0)
		finish(d, 1);
}

/* ---- the budget ---- */

static void
expire(struct dns_client *d)
{
	size_t i;

	if (d->ptr == DNS_PENDING)
		d->ptr = DNS_TEMPFAIL;
	if (d->want & ~(BIT(TAG_ZONE) - 1))
		for (i = 0; i < cf->nzones; i++)
			if (d->want & BIT(TAG_ZONE + i)) {
				d->zone[i] = ZONE_ERROR;
				dnsbl_log_error(d->s->id, d->s->ip,
				    cf->zones[i].zone, "timeout", "");
				zstats_count(i, ZONE_ERROR,
				    (int64_t)cf->dnsbl_timeout * 1000);
			}
	if (d->want & (BIT(TAG_ZONE) - 1 - BIT(TAG_PTR)))
		d->fwd_temp = 1;
	d->want = 0;
	finish(d, 1);
}

int
dns_turn(int max_ms)
{
	struct dns_client *d, *next;
	int64_t now, wait = max_ms;

	if (!resolver_active())
		return max_ms;
	resolver_tick();
	dns_dispatch();
	now = dns_now_ms();
	wait = dns_sender_expire(now, wait);
	wait = probe_turn(now, wait);
	for (d = LIST_FIRST(&active); d != NULL; d = next) {
		next = LIST_NEXT(d, link);
		if (d->deadline <= now)
			expire(d);
		else if (d->deadline - now < wait)
			wait = d->deadline - now;
	}
	if (dns_events_pending())
		wait = 0;
	return resolver_wait_ms((int)wait);
}

int
dns_client_done(const struct session *s)
{
	return s->dns == NULL || s->dns->done;
}

int
dns_client_allowlisted(const struct session *s)
{
	size_t i;

	if (s->dns == NULL)
		return 0;
	for (i = 0; i < cf->nzones; i++)
		if (cf->zones[i].kind == ZONE_DNSWL &&
		    s->dns->zone[i] == ZONE_LISTED)
			return 1;
	return 0;
}

const char *
dns_client_ptr(const struct session *s)
{
	return s->dns != NULL ? s->dns->verified : "";
}

const char *
dns_client_ptr_any(const struct session *s)
{
	if (s->dns == NULL)
		return "";
	if (s->dns->verified[0] != '\0')
		return s->dns->verified;
	return s->dns->nnames > 0 ? s->dns->names[0] : "";
}

void
dns_client_listings(const struct session *s, char *out, size_t outsize)
{
	size_t i, n = 0;
	int w;

	out[0] = '\0';
	for (i = 0; s->dns != NULL && i < cf->nzones && n < outsize; i++) {
		if (cf->zones[i].kind != ZONE_DNSBL ||
		    s->dns->zone[i] != ZONE_LISTED)
			continue;
		w = snprintf(out + n, outsize - n, "%s%s=%s", n ? " " : "",
		    cf->zones[i].zone, s->dns->code[i]);
		if (w < 0 || (size_t)w >= outsize - n) {
			out[n] = '\0';		/* no half entry */
			break;
		}
		n += (size_t)w;
	}
}

void
dns_client_free(struct session *s)
{
	if (s->dns == NULL)
		return;
	if (!s->dns->done)
		LIST_REMOVE(s->dns, link);
	free(s->dns);
	s->dns = NULL;
}

/* ---- the verdict ---- */

/* Summed weights of the listing zones; the first listing DNSBL. */
static int
zone_verdict(struct session *s, struct verdict *v)
{
	struct dns_client *d = s->dns;
	const struct dns_zone *first = NULL;
	char hits[sizeof(v->hits)];
	size_t i, n = 0;
	int sum = 0, wl = 0;

	hits[0] = '\0';
	for (i = 0; i < cf->nzones; i++) {
		if (d->zone[i] != ZONE_LISTED)
			continue;
		sum += cf->zones[i].weight;
		if (cf->zones[i].kind == ZONE_DNSWL)
			wl = 1;
		else if (first == NULL)
			first = &cf->zones[i];
		if (n < sizeof(hits))
			n += (size_t)snprintf(hits + n, sizeof(hits) - n,
			    "%s%s=%s", n ? "," : "", cf->zones[i].zone,
			    d->code[i]);
	}
	if (first != NULL && sum >= (int)cf->dnsbl_threshold) {
		if (first->text[0] != '\0')
			verdict_set(v, V_REJECT, 554, "5.7.1", "", "%s",
			    first->text);
		else
			verdict_set(v, V_REJECT, 554, "5.7.1", "",
			    "Service unavailable; client [%s] blocked using "
			    "%s", s->ip, first->zone);
		(void)snprintf(v->cls, sizeof(v->cls), "dnsbl:%.120s",
		    first->zone);
		(void)snprintf(v->hits, sizeof(v->hits), "%s", hits);
	}
	return wl;
}

static void
miss(struct verdict *v, const char *cls, int temporary, const char *text)
{
	if (temporary || cf->reverse_dns_action == DNS_MISS_TEMPFAIL)
		verdict_set(v, V_TEMPFAIL, 450, "4.7.25", cls, "%s", text);
	else
		verdict_set(v, V_REJECT, 550, "5.7.25", cls, "%s", text);
}

static void
rdns_verdict(struct session *s, struct verdict *v)
{
	struct dns_client *d = s->dns;

	if (cf->reverse_dns == RDNS_OFF)
		return;
	if (d->ptr == DNS_TEMPFAIL || d->ptr == DNS_PENDING)
		miss(v, "no-ptr", 1, "Client host name lookup failed, try "
		    "again later");
	else if (d->ptr == DNS_BADANSWER || (d->ptr == DNS_FOUND &&
	    d->nnames == 0))
		miss(v, "bad-ptr", 0, "Client host name is not valid");
	else if (d->ptr != DNS_FOUND)
		miss(v, "no-ptr", 0, "Client host has no PTR record");
	else if (cf->reverse_dns == RDNS_REQUIRE_FCRDNS &&
	    d->verified[0] == '\0')
		miss(v, "bad-ptr", d->fwd_temp, "Client host name does not "
		    "resolve to its address");
}

static void
dynamic_verdict(struct session *s, struct verdict *v)
{
	struct dns_client *d = s->dns;
	const char *name = d->verified[0] ? d->verified : d->names[0];
	const char *which;

	if (cf->dynamic_ptr[0] == '\0' || d->nnames == 0)
		return;
	if (dynptr_match(name, (const struct sockaddr *)&s->peer, &which)) {
		verdict_set(v, V_REJECT, 550, "5.7.1", "dynamic", "Dynamic "
		    "or generic host name %s: send through your provider's "
		    "mail server", name);
		(void)snprintf(v->hits, sizeof(v->hits), "%s", which);
	}
}

void
dns_client_verdict(struct session *s, struct verdict *v)
{
	verdict_pass(v);
	if (s->dns == NULL || !s->dns->done)
		return;
	if (zone_verdict(s, v) || v->kind != V_PASS)
		return;			/* a DNSWL listing vouches for it */
	rdns_verdict(s, v);
	if (v->kind == V_PASS)
		dynamic_verdict(s, v);
}
