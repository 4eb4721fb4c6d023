/*
 * dnsbl: what a DNS list's answer means (RFC 5782).
 *
 * The query name is the client address reversed (IPv4 octets, IPv6
 * nibbles) under the zone, or for an RHSBL the domain under the zone.
 * A list answers 127.0.0.0/8 addresses for a listing; anything outside
 * it, or inside 127.255.255.0/24 (where lists put their error codes,
 * such as "query refused: public resolver"), is an error, never a
 * listing.  With answer codes configured, only those count.
 */
#ifndef MOAT_DNSBL_H
#define MOAT_DNSBL_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>

#include "../conf/conf.h"
#include "dnscache.h"

enum zone_result {
	ZONE_PENDING,
	ZONE_NOT_LISTED,
	ZONE_LISTED,
	ZONE_ERROR,		/* timeout, SERVFAIL, a bad answer */
};

/* "4.3.2.1.zone" or the 32 nibbles of an IPv6 address.  0 or -1. */
int	dnsbl_query_name(const struct sockaddr *, const char *zone,
	    char *out, size_t outsize);
/* "domain.zone" for an RHSBL.  0 or -1 (too long). */
int	rhsbl_query_name(const char *domain, const char *zone, char *out,
	    size_t outsize);
/*
 * Judge an answer to a zone's query.  code (the first answer, dotted)
 * and why (for an error) are filled for the log.
 */
enum zone_result dnsbl_judge(const struct dns_zone *,
	    const struct dns_answer *, char *code, size_t codesize,
	    const char **why);
/* The `dnsbl-error` log line: a zone that failed to answer sensibly. */
void	dnsbl_log_error(uint64_t session_id, const char *ip,
	    const char *zone, const char *why, const char *answer);

#endif
