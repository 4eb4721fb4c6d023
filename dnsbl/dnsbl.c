/*
 * dnsbl: query names and the meaning of answers (see dnsbl.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "../smtpd/log.h"
#include "dnsbl.h"

int
dnsbl_query_name(const struct sockaddr *sa, const char *zone, char *out,
    size_t outsize)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b;
	size_t n = 0;
	int i, r;

	if (sa->sa_family == AF_INET) {
		b = (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
		r = snprintf(out, outsize, "%u.%u.%u.%u.%s", b[3], b[2], b[1],
		    b[0], zone);
		return r < 0 || (size_t)r >= outsize ? -1 : 0;
	}
	if (sa->sa_family != AF_INET6 || outsize < 64 + strlen(zone) + 1)
		return -1;
	b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	for (i = 15; i >= 0; i--) {
		out[n++] = hex[b[i] & 0xf];
		out[n++] = '.';
		out[n++] = hex[b[i] >> 4];
		out[n++] = '.';
	}
	memcpy(out + n, zone, strlen(zone) + 1);
	return 0;
}

int
rhsbl_query_name(const char *domain, const char *zone, char *out,
    size_t outsize)
{
	int r = snprintf(out, outsize, "%s.%s", domain, zone);

	return r < 0 || (size_t)r >= outsize || (size_t)r > DNS_NAME_MAX ?
	    -1 : 0;
}

static int
code_wanted(const struct dns_zone *z, uint32_t a)
{
	size_t i;

	if (z->ncodes == 0)
		return 1;
	for (i = 0; i < z->ncodes; i++)
		if (a >= z->codes[i].lo && a <= z->codes[i].hi)
			return 1;
	return 0;
}

enum zone_result
dnsbl_judge(const struct dns_zone *z, const struct dns_answer *a,
    char *code, size_t codesize, const char **why)
{
	uint32_t v;
	size_t i;
	int listed = 0;

	code[0] = '\0';
	*why = NULL;
	switch (a->status) {
	case DNS_PENDING:
		return ZONE_PENDING;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		return ZONE_NOT_LISTED;
	case DNS_TEMPFAIL:
	case DNS_BADANSWER:
		*why = a->error != NULL ? a->error : "no answer";
		return ZONE_ERROR;
	case DNS_FOUND:
		break;
	}
	inet_ntop(AF_INET, &a->u.a[0], code, (socklen_t)codesize);
	for (i = 0; i < a->n; i++) {
		v = ntohl(a->u.a[i].s_addr);
		if ((v >> 24) != 127 || (v >> 8) == 0x7fffff) {
			inet_ntop(AF_INET, &a->u.a[i], code,
			    (socklen_t)codesize);
			*why = (v >> 24) != 127 ? "answer outside 127.0.0.0/8" :
			    "error code of the list";
			return ZONE_ERROR;
		}
		if (code_wanted(z, v))
			listed = 1;
	}
	return listed ? ZONE_LISTED : ZONE_NOT_LISTED;
}

void
dnsbl_log_error(uint64_t session_id, const char *ip, const char *zone,
    const char *why, const char *answer)
{
	struct kv k;

	kv_begin(&k, "dnsbl-error");
	kv_id(&k, "session", session_id);
	kv_str(&k, "zone", zone);
	kv_str(&k, "ip", ip);
	kv_str(&k, "reason", why);
	if (answer[0] != '\0')
		kv_str(&k, "answer", answer);
	kv_emit(&k);
}
