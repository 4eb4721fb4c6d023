/*
 * conf_dns: the values of the DNS policy keys.
 *
 *   dnsbl        = ZONE[=CODES][*WEIGHT] [REPLY TEXT]
 *   dnswl        = ZONE[=CODES][*-WEIGHT]
 *   rhsbl_sender = ZONE[=CODES] [REPLY TEXT]
 *   resolver     = ADDR[:PORT]
 *
 * CODES is a comma-separated list of answers (127.0.0.2) and ranges
 * (127.0.0.4-127.0.0.11), all inside 127.0.0.0/8; without it any answer
 * in 127.0.0.0/8 counts, except 127.255.255.0/24, which lists use for
 * their errors.  A dnsbl weighs 1 unless told, a dnswl -1; a dnswl's
 * weight subtracts, so it is written negative.  The reply text is the
 * rest of the line, printable ASCII only, and need not name the zone.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_value.h"
#include "../smtpd/buf.h"

static int
parse_code(const char *s, size_t len, uint32_t *out)
{
	char tmp[INET_ADDRSTRLEN];
	struct in_addr a;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, &a) != 1)
		return -1;
	*out = ntohl(a.s_addr);
	return (*out >> 24) == 127 ? 0 : -1;
}

/* "127.0.0.2,127.0.0.4-127.0.0.11" */
static int
parse_codes(const char *s, size_t len, struct dns_zone *z)
{
	const char *end = s + len, *comma, *dash;
	struct dns_code *c;

	while (s < end) {
		if ((comma = memchr(s, ',', (size_t)(end - s))) == NULL)
			comma = end;
		if (z->ncodes == DNS_CODES_MAX)
			return -1;
		c = &z->codes[z->ncodes++];
		dash = memchr(s, '-', (size_t)(comma - s));
		if (dash == NULL) {
			if (parse_code(s, (size_t)(comma - s), &c->lo) == -1)
				return -1;
			c->hi = c->lo;
		} else if (parse_code(s, (size_t)(dash - s), &c->lo) == -1 ||
		    parse_code(dash + 1, (size_t)(comma - dash - 1), &c->hi)
		    == -1 || c->hi < c->lo)
			return -1;
		s = comma + (comma < end);
		if (comma + 1 == end)
			return -1;		/* trailing comma */
	}
	return z->ncodes > 0 ? 0 : -1;
}

static int
parse_weight(const char *s, size_t len, int *out)
{
	char tmp[8], *end;
	long v;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	v = strtol(tmp, &end, 10);
	if (*end != '\0' || v < -1000 || v > 1000)
		return -1;
	*out = (int)v;
	return 0;
}

static int
text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

/* The spec's first word: ZONE[=CODES][*WEIGHT]. */
static int
parse_spec(const char *w, size_t len, struct dns_zone *z, char *msg,
    size_t msgsize)
{
	const char *end = w + len, *eq, *star, *zend;

	star = memchr(w, '*', len);
	eq = memchr(w, '=', (size_t)((star ? star : end) - w));
	zend = eq ? eq : star ? star : end;
	if ((size_t)(zend - w) >= sizeof(z->zone)) {
		(void)snprintf(msg, msgsize, "zone name too long");
		return -1;
	}
	memcpy(z->zone, w, (size_t)(zend - w));
	z->zone[zend - w] = '\0';
	if (!conf_valid_hostname(z->zone)) {
		(void)snprintf(msg, msgsize, "\"%s\" is not a zone name",
		    z->zone);
		return -1;
	}
	if (eq != NULL && parse_codes(eq + 1, (size_t)((star ? star : end) -
	    eq - 1), z) == -1) {
		(void)snprintf(msg, msgsize, "bad answer codes (expected "
		    "127.A.B.C or 127.A.B.C-127.D.E.F, comma-separated, at "
		    "most %d)", DNS_CODES_MAX);
		return -1;
	}
	if (star != NULL && parse_weight(star + 1, (size_t)(end - star - 1),
	    &z->weight) == -1) {
		(void)snprintf(msg, msgsize, "bad weight (expected an integer "
		    "from -1000 to 1000)");
		return -1;
	}
	return 0;
}

int
conf_parse_zone(const char *val, enum dns_zone_kind kind,
    struct dns_zone *z, char *msg, size_t msgsize)
{
	size_t wlen = strcspn(val, " \t");
	const char *text = val + wlen;
	char *p;

	memset(z, 0, sizeof(*z));
	z->kind = kind;
	z->weight = kind == ZONE_DNSWL ? -1 : 1;
	if (parse_spec(val, wlen, z, msg, msgsize) == -1)
		return -1;
	for (p = z->zone; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	if (kind == ZONE_DNSWL && z->weight > 0) {
		(void)snprintf(msg, msgsize, "a dnswl weight subtracts: write "
		    "it negative (*-%d)", z->weight);
		return -1;
	}
	if (kind == ZONE_DNSBL && z->weight < 0) {
		(void)snprintf(msg, msgsize, "a negative weight belongs to a "
		    "dnswl");
		return -1;
	}
	if (kind == ZONE_RHSBL && memchr(val, '*', wlen) != NULL) {
		(void)snprintf(msg, msgsize, "rhsbl_sender takes no weight");
		return -1;
	}
	text += strspn(text, " \t");
	if (*text != '\0' && (kind == ZONE_DNSWL || !text_ok(text) ||
	    strlcpy_ok(z->text, text, sizeof(z->text)) == -1)) {
		(void)snprintf(msg, msgsize, kind == ZONE_DNSWL ?
		    "a dnswl has no reply text" : "reply text: printable "
		    "ASCII, at most %zu characters", sizeof(z->text) - 1);
		return -1;
	}
	return 0;
}

void
conf_fmt_zone(const struct dns_zone *z, char *out, size_t outsize)
{
	struct in_addr a;
	char lo[INET_ADDRSTRLEN], hi[INET_ADDRSTRLEN];
	size_t i, n;

	n = (size_t)snprintf(out, outsize, "%s", z->zone);
	for (i = 0; i < z->ncodes && n < outsize; i++) {
		a.s_addr = htonl(z->codes[i].lo);
		inet_ntop(AF_INET, &a, lo, sizeof(lo));
		a.s_addr = htonl(z->codes[i].hi);
		inet_ntop(AF_INET, &a, hi, sizeof(hi));
		n += (size_t)snprintf(out + n, outsize - n, "%c%s%s%s",
		    i == 0 ? '=' : ',', lo, z->codes[i].lo == z->codes[i].hi ?
		    "" : "-", z->codes[i].lo == z->codes[i].hi ? "" : hi);
	}
	if (n < outsize && z->kind != ZONE_RHSBL &&
	    z->weight != (z->kind == ZONE_DNSWL ? -1 : 1))
		n += (size_t)snprintf(out + n, outsize - n, "*%d", z->weight);
	if (n < outsize && z->text[0] != '\0')
		(void)snprintf(out + n, outsize - n, " %s", z->text);
}

int
conf_parse_resolver(const char *val, struct listen_addr *out)
{
	struct listen_addr la[2];
	struct in6_addr a6;
	struct in_addr a4;
	char tmp[INET6_ADDRSTRLEN + 8];

	if (inet_pton(AF_INET, val, &a4) == 1)
		(void)snprintf(tmp, sizeof(tmp), "%s:53", val);
	else if (inet_pton(AF_INET6, val, &a6) == 1)
		(void)snprintf(tmp, sizeof(tmp), "[%s]:53", val);
	else if (strlcpy_ok(tmp, val, sizeof(tmp)) == -1)
		return -1;
	if (strncmp(tmp, "*:", 2) == 0 || conf_parse_listen(tmp, la) != 1)
		return -1;
	*out = la[0];
	return strlcpy_ok(out->text, tmp, sizeof(out->text));
}
