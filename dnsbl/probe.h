/*
 * probe: is each DNS list alive and sane?
 *
 * RFC 5782 section 5: a list must list its test entry (127.0.0.2, or
 * the name "test" for a domain list) and must not list 127.0.0.1 (or
 * "invalid").  Each worker asks both for every zone when it starts and
 * every dnsbl_probe_interval after, past its cache.  A zone that lists
 * 127.0.0.1 lists the world; one that does not answer its test entry as
 * listed (silence, SERVFAIL, NXDOMAIN, an error code) is dead or
 * refusing us.  Either way it is disabled: no longer asked for clients
 * or senders, so it can neither refuse everyone nor slow every session,
 * until a later probe finds it sane again.  Each change is one log line
 * at warning level.
 */
#ifndef MOAT_DNS_PROBE_H
#define MOAT_DNS_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "dnscache.h"

/* The session id the probes' answers come back under. */
#define PROBE_SID	0

void	probe_init(void);
/* Start a round when one is due, end one whose time is up; returns the
 * ms until the next thing to do, at most max_ms. */
int64_t	probe_turn(int64_t now, int64_t max_ms);
void	probe_answer(unsigned tag, const struct dns_answer *);
int	probe_zone_enabled(size_t zone);

#endif
