/*
 * dnscache: DNS lookups for sessions, shared and cached per worker.
 *
 * dns_lookup() asks for (name, type) on behalf of a session, naming the
 * session by id and the question by a tag of the session's choosing.
 * Sessions asking the same question while it is in flight share one
 * query; an answer is kept until its TTL (clamped to dns_cache_min_ttl
 * .. dns_cache_max_ttl) runs out.  The answer never comes back inside
 * the call that asked, nor from inside c-ares: the c-ares callback only
 * records it in the entry and queues one event per waiting session;
 * dns_dispatch(), called by the worker loop, hands the events out.  A
 * session that is gone by then is skipped (ids are never reused).
 *
 * What an answer may carry is checked here, once: names must be host
 * names as the SMTP side judges them (anything else, control bytes and
 * shell metacharacters included, is dropped and flagged), and at most
 * DNS_ANSWERS_MAX records of a kind are kept.
 */
#ifndef MOAT_DNSCACHE_H
#define MOAT_DNSCACHE_H

#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>

#define DNS_ANSWERS_MAX	8
#define DNS_NAMES_MAX	4
#define DNS_NAME_MAX	254

enum dns_type { DNS_A, DNS_AAAA, DNS_PTR, DNS_MX };

enum dns_status {
	DNS_PENDING,
	DNS_FOUND,		/* answers below */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_NODATA,		/* the name exists, no record of the type */
	DNS_TEMPFAIL,		/* timeout, SERVFAIL, REFUSED, unreachable */
	DNS_BADANSWER,		/* an answer that does not parse */
};

struct dns_answer {
	enum dns_status	 status;
	const char	*error;		/* c-ares' word for a failure */
	size_t		 n;		/* records kept */
	int		 dropped;	/* names refused as not host names */
	int		 null_mx;	/* MX: the one record "0 ." (RFC 7505) */
	union {
		struct in_addr	a[DNS_ANSWERS_MAX];
		struct in6_addr	aaaa[DNS_ANSWERS_MAX];
		char		name[DNS_NAMES_MAX][DNS_NAME_MAX + 1];
	} u;
};

/*
 * A reply as c-ares gives it (its status, the packet) made into an
 * answer (dnsparse.c); returns the smallest TTL of the answer section.
 */
unsigned dns_parse_reply(enum dns_type, int ares_status,
	    const unsigned char *abuf, int alen, struct dns_answer *);

/* What a session is handed: valid during the call only. */
typedef void (*dns_result_fn)(uint64_t session_id, unsigned tag,
    const struct dns_answer *);

void	dns_cache_init(unsigned min_ttl, unsigned max_ttl, dns_result_fn);
/* 0, or -1 (no resolver, no memory, bad name): no event will come. */
int	dns_lookup(const char *name, enum dns_type, uint64_t session_id,
	    unsigned tag);
/* The same, asking the servers even when a cached answer is still good
 * (the answer then replaces it). */
int	dns_lookup_fresh(const char *name, enum dns_type, uint64_t session_id,
	    unsigned tag);
/* Hand out the answers that arrived; called once per loop turn. */
void	dns_dispatch(void);
int	dns_events_pending(void);
/* Drop expired entries, and the oldest while the cache is too big
 * (new entries call it when the cache is full). */
void	dns_cache_sweep(void);
size_t	dns_cache_size(void);

#endif
