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

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../smtpd/log.h"
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
	unsigned ttl;

	if (status == ARES_EDESTRUCTION)
		return;			/* the worker is going away */
	ttl = dns_parse_reply(e->type, status, abuf, alen, a);
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
