/*
 * dnscache: shared, cached DNS lookups for the worker's sessions (see
 * dnscache.h).
 *
 * An entry is one question (type, name).  While its query is in flight
 * it collects waiters; when the answer comes, each waiter gets a copy of
 * it queued as an event, so no event ever points into an entry that a
 * later lookup or a sweep may change.
 */
#include <sys/queue.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../smtpd/log.h"
#include "../smtpd/parse.h"
#include "dnscache.h"
#include "resolver.h"

#define HASH_SIZE	4096
#define CACHE_MAX	20000	/* entries; the oldest answered go first */
#define CACHE_LOW	(CACHE_MAX - CACHE_MAX / 8)	/* a sweep's goal */
#define EVENTS_MAX	65536	/* queued answers; beyond, a session times out */

struct waiter {
	struct waiter	*next;
	uint64_t	 sid;
	unsigned	 tag;
};

struct entry {
	struct entry	*hnext;
	TAILQ_ENTRY(entry) age;
	enum dns_type	 type;
	char		 name[DNS_NAME_MAX + 1];
	struct dns_answer ans;
	time_t		 expires;
	struct waiter	*waiters;
};

struct event {
	uint64_t	 sid;
	unsigned	 tag;
	struct dns_answer ans;
};

static struct entry *table[HASH_SIZE];
static TAILQ_HEAD(, entry) by_age = TAILQ_HEAD_INITIALIZER(by_age);
static size_t nentries;
static struct event *events;
static size_t nevents, cap_events;
static unsigned ttl_min, ttl_max;
static dns_result_fn deliver;

static const int qtypes[] = {
	[DNS_A] = ns_t_a, [DNS_AAAA] = ns_t_aaaa, [DNS_PTR] = ns_t_ptr,
	[DNS_MX] = ns_t_mx,
};

void
dns_cache_init(unsigned min_ttl, unsigned max_ttl, dns_result_fn fn)
{
	ttl_min = min_ttl;
	ttl_max = max_ttl;
	deliver = fn;
}

static unsigned
hash(enum dns_type t, const char *name)
{
	unsigned h = 2166136261u ^ (unsigned)t;

	for (; *name != '\0'; name++)
		h = (h ^ (unsigned char)*name) * 16777619u;
	return h % HASH_SIZE;
}

static struct entry *
find(enum dns_type t, const char *name)
{
	struct entry *e;

	for (e = table[hash(t, name)]; e != NULL; e = e->hnext)
		if (e->type == t && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void
unlink_entry(struct entry *e)
{
	struct entry **pp = &table[hash(e->type, e->name)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	TAILQ_REMOVE(&by_age, e, age);
	nentries--;
	free(e);
}

/* ---- events ---- */

static int
push_event(uint64_t sid, unsigned tag, const struct dns_answer *a)
{
	struct event *ev;
	size_t ncap;

	if (nevents == cap_events) {
		ncap = cap_events ? cap_events * 2 : 64;
		if (ncap > EVENTS_MAX ||
		    (ev = reallocarray(events, ncap, sizeof(*ev))) == NULL) {
			log_warnx("dns: answer for session %llx dropped",
			    (unsigned long long)sid);
			return -1;
		}
		events = ev;
		cap_events = ncap;
	}
	ev = &events[nevents++];
	ev->sid = sid;
	ev->tag = tag;
	ev->ans = *a;
	return 0;
}

int
dns_events_pending(void)
{
	return nevents > 0;
}

void
dns_dispatch(void)
{
	struct event ev;
	size_t i, rounds;

	/* answers from the cache may queue more events while we run */
	for (rounds = 0; nevents > 0 && rounds < 8; rounds++) {
		size_t n = nevents;

		for (i = 0; i < n; i++) {
			ev = events[i];
			deliver(ev.sid, ev.tag, &ev.ans);
		}
		memmove(events, events + n, (nevents - n) * sizeof(*events));
		nevents -= n;
	}
}

/* ---- answers ---- */

/* The smallest TTL of the answer section, walked with c-ares' own name
 * decoder (which refuses loops and overruns). */
static unsigned
answer_ttl(const unsigned char *abuf, int alen)
{
	const unsigned char *p = abuf + NS_HFIXEDSZ, *end = abuf + alen;
	unsigned qd, an, i, ttl = ~0u, t;
	char *name;
	long enc;

	if (alen < NS_HFIXEDSZ)
		return 0;
	qd = (unsigned)abuf[4] << 8 | abuf[5];
	an = (unsigned)abuf[6] << 8 | abuf[7];
	for (i = 0; i < qd + an; i++) {
		if (ares_expand_name(p, abuf, alen, &name, &enc) != ARES_SUCCESS)
			return 0;
		ares_free_string(name);
		p += enc;
		if (i < qd) {
			p += NS_QFIXEDSZ;
			continue;
		}
		if (end - p < NS_RRFIXEDSZ)
			return 0;
		t = (unsigned)p[4] << 24 | (unsigned)p[5] << 16 |
		    (unsigned)p[6] << 8 | p[7];
		if (t < ttl)
			ttl = t;
		p += NS_RRFIXEDSZ + ((unsigned)p[8] << 8 | p[9]);
		if (p > end)
			return 0;
	}
	return ttl == ~0u ? 0 : ttl;
}

static void
keep_name(struct dns_answer *a, const char *name)
{
	size_t len = strlen(name), i;

	if (a->n == DNS_NAMES_MAX)
		return;
	if (len == 0 || len > DNS_NAME_MAX || !domain_valid(name, len)) {
		a->dropped = 1;
		return;
	}
	for (i = 0; i <= len; i++)
		a->u.name[a->n][i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
		    name[i] - 'A' + 'a' : name[i]);
	a->n++;
}

static int
parse_ptr(const unsigned char *abuf, int alen, struct dns_answer *a)
{
	struct in_addr dummy = { 0 };
	struct hostent *h = NULL;
	size_t i;
	int r;

	r = ares_parse_ptr_reply(abuf, alen, &dummy, sizeof(dummy), AF_INET,
	    &h);
	if (r != ARES_SUCCESS)
		return r;
	keep_name(a, h->h_name);
	for (i = 0; h->h_aliases != NULL && h->h_aliases[i] != NULL; i++)
		keep_name(a, h->h_aliases[i]);
	ares_free_hostent(h);
	return ARES_SUCCESS;
}

static int
parse_mx(const unsigned char *abuf, int alen, struct dns_answer *a)
{
	struct ares_mx_reply *mx = NULL, *m;
	int r;

	if ((r = ares_parse_mx_reply(abuf, alen, &mx)) != ARES_SUCCESS)
		return r;
	for (m = mx; m != NULL; m = m->next)
		a->n++;
	a->null_mx = a->n == 1 && mx->priority == 0 && mx->host[0] == '\0';
	ares_free_data(mx);
	return ARES_SUCCESS;
}

static int
parse_answer(enum dns_type t, const unsigned char *abuf, int alen,
    struct dns_answer *a)
{
	struct ares_addrttl v4[DNS_ANSWERS_MAX];
	struct ares_addr6ttl v6[DNS_ANSWERS_MAX];
	int n = DNS_ANSWERS_MAX, i, r;

	switch (t) {
	case DNS_A:
		if ((r = ares_parse_a_reply(abuf, alen, NULL, v4, &n)) ==
		    ARES_SUCCESS)
			for (i = 0; i < n; i++)
				a->u.a[a->n++] = v4[i].ipaddr;
		return r;
	case DNS_AAAA:
		if ((r = ares_parse_aaaa_reply(abuf, alen, NULL, v6, &n)) ==
		    ARES_SUCCESS)
			for (i = 0; i < n; i++)
				memcpy(&a->u.aaaa[a->n++], &v6[i].ip6addr,
				    sizeof(struct in6_addr));
		return r;
	case DNS_PTR:
		return parse_ptr(abuf, alen, a);
	case DNS_MX:
		return parse_mx(abuf, alen, a);
	}
	return ARES_EBADRESP;
}

static enum dns_status
status_of(int r)
{
	switch (r) {
	case ARES_SUCCESS:	return DNS_FOUND;
	case ARES_ENOTFOUND:	return DNS_NXDOMAIN;
	case ARES_ENODATA:	return DNS_NODATA;
	case ARES_EBADRESP:
	case ARES_EFORMERR:
	case ARES_EBADNAME:	return DNS_BADANSWER;
	default:		return DNS_TEMPFAIL;
	}
}

static unsigned
clamp_ttl(unsigned ttl)
{
	return ttl < ttl_min ? ttl_min : ttl > ttl_max ? ttl_max : ttl;
}

/* c-ares' callback: record, queue the waiters' events, nothing more. */
static void
query_done(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct entry *e = arg;
	struct dns_answer *a = &e->ans;
	struct waiter *w;
	unsigned ttl = 0;

	if (status == ARES_EDESTRUCTION)
		return;			/* the worker is going away */
	memset(a, 0, sizeof(*a));
	if (status == ARES_SUCCESS) {
		status = parse_answer(e->type, abuf, alen, a);
		ttl = answer_ttl(abuf, alen);
	}
	a->status = status_of(status);
	if (a->status == DNS_FOUND && a->n == 0)
		a->status = a->dropped ? DNS_BADANSWER : DNS_NODATA;
	if (a->status != DNS_FOUND)
		a->n = 0;
	a->error = a->status == DNS_FOUND ? NULL : ares_strerror(status);
	/* failures are asked again next time; answers are kept */
	e->expires = time(NULL) + (a->status == DNS_TEMPFAIL ||
	    a->status == DNS_BADANSWER ? 0 : (time_t)clamp_ttl(ttl));
	while ((w = e->waiters) != NULL) {
		e->waiters = w->next;
		(void)push_event(w->sid, w->tag, a);
		free(w);
	}
}

/* ---- lookups ---- */

static int
add_waiter(struct entry *e, uint64_t sid, unsigned tag)
{
	struct waiter *w;

	if ((w = malloc(sizeof(*w))) == NULL)
		return -1;
	w->sid = sid;
	w->tag = tag;
	w->next = e->waiters;
	e->waiters = w;
	return 0;
}

static struct entry *
new_entry(enum dns_type t, const char *name)
{
	struct entry *e;
	unsigned h = hash(t, name);

	if (nentries >= CACHE_MAX)
		dns_cache_sweep();
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->type = t;
	memcpy(e->name, name, strlen(name) + 1);
	e->hnext = table[h];
	table[h] = e;
	TAILQ_INSERT_TAIL(&by_age, e, age);
	nentries++;
	return e;
}

static int
lookup(const char *name, enum dns_type t, uint64_t sid, unsigned tag,
    int fresh)
{
	struct entry *e;

	if (!resolver_active() || strlen(name) > DNS_NAME_MAX)
		return -1;
	e = find(t, name);
	if (!fresh && e != NULL && e->ans.status != DNS_PENDING &&
	    e->expires > time(NULL))
		return push_event(sid, tag, &e->ans);
	if (e == NULL && (e = new_entry(t, name)) == NULL)
		return -1;
	if (add_waiter(e, sid, tag) == -1)
		return -1;
	if (e->ans.status == DNS_PENDING && e->waiters->next != NULL)
		return 0;		/* in flight: share it */
	e->ans.status = DNS_PENDING;
	ares_query(resolver_channel(), name, ns_c_in, qtypes[t], query_done,
	    e);
	return 0;
}

int
dns_lookup(const char *name, enum dns_type t, uint64_t sid, unsigned tag)
{
	return lookup(name, t, sid, tag, 0);
}

int
dns_lookup_fresh(const char *name, enum dns_type t, uint64_t sid,
    unsigned tag)
{
	return lookup(name, t, sid, tag, 1);
}

/*
 * Expired answers go, and the oldest answered ones until the cache is
 * down to CACHE_LOW: a full cache sweeps once per CACHE_MAX / 8 new
 * entries, not at every one.
 */
void
dns_cache_sweep(void)
{
	struct entry *e, *next;
	time_t now = time(NULL);

	for (e = TAILQ_FIRST(&by_age); e != NULL; e = next) {
		next = TAILQ_NEXT(e, age);
		if (e->ans.status == DNS_PENDING || e->waiters != NULL)
			continue;
		if (e->expires <= now || nentries > CACHE_LOW)
			unlink_entry(e);
	}
}

size_t
dns_cache_size(void)
{
	return nentries;
}
