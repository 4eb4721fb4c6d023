/*
 * check_helo: is the HELO/EHLO name one an honest client would send?
 *
 * RFC 5321 4.1.1.1: the name is the client's FQDN or, lacking one, an
 * address literal.  Spamware sends "localhost", our own name or address,
 * a bare IP, or a single word.  Reasons become classes "helo:REASON".
 * The helo map (names and ".suffix" domains) can REJECT, or say OK to let
 * a known odd name through the other checks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>
#include <strings.h>

#include "log.h"
#include "check.h"

/* Parse an IP text into 16 bytes (IPv4 v4-mapped); 0 ok, -1 not an IP. */
static int
ip_bytes(const char *text, unsigned char out[16])
{
	struct in_addr a4;

	memset(out, 0, 16);
	if (inet_pton(AF_INET, text, &a4) == 1) {
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &a4, 4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, out) == 1)
		return 0;
	return -1;
}

static int
ip_equal(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (ip_bytes(a, x) == -1 || ip_bytes(b, y) == -1)
		return 0;
	return memcmp(x, y, 16) == 0;
}

static int
is_our_ip(const char *ip)
{
	unsigned i;

	for (i = 0; i < wk->nour_ips; i++)
		if (ip_equal(ip, wk->our_ips[i]))
			return 1;
	return 0;
}

static void
check_helo_literal(struct session *s, const char *name, size_t len,
    struct verdict *v)
{
	char ip[64];

	if (addr_literal(name, len, ip, sizeof(ip)) == -1) {
		verdict_set(v, V_REJECT, 501, "5.5.2", "helo:invalid",
		    "Invalid address literal");
		return;
	}
	if (ip_equal(ip, s->ip))
		return;
	if (is_our_ip(ip))
		verdict_set(v, V_REJECT, 550, "5.7.1", "helo:our-ip",
		    "You are not me");
	else
		verdict_set(v, V_REJECT, 550, "5.7.1", "helo:literal-mismatch",
		    "Address literal does not match your address");
}

/* The helo map: 1 decided (v set or OK), 0 no entry. */
static int
check_helo_map(const char *name, struct verdict *v)
{
	char val[MAP_VALUE_MAX], matched[MAP_KEY_MAX];
	const char *text;
	int r, reject;

	if (!wk->maps[MAP_HELO].open)
		return 0;
	r = map_get_domain(&wk->maps[MAP_HELO], name, val, sizeof(val),
	    matched, sizeof(matched));
	if (r == -1) {
		verdict_set(v, V_TEMPFAIL, 451, "4.3.0", "helo:map",
		    "Temporary lookup failure");
		return 1;
	}
	if (r == 0)
		return 0;
	if (check_map_action(val, &reject, &text) == -1) {
		log_warnx("helo map: bad value for %s: %s", matched, val);
		return 0;
	}
	if (reject)
		verdict_set(v, V_REJECT, 550, "5.7.1", "helo:map", "%s",
		    text[0] ? text : "Your HELO name is refused");
	return 1;
}

void
check_helo(struct session *s, const char *name, size_t len,
    struct verdict *v)
{
	char lower[ADDR_DOMAIN_MAX + 1];
	unsigned char ipb[16];
	size_t i;

	verdict_pass(v);
	if (len == 0) {
		verdict_set(v, V_REJECT, 501, "5.5.4", "helo:empty",
		    "HELO requires a domain name");
		return;
	}
	if (s->client_ok)
		return;
	if (name[0] == '[') {
		check_helo_literal(s, name, len, v);
		return;
	}
	if (len > 1 && name[len - 1] == '.')
		len--;		/* "mx.example.org." is an absolute name */
	if (len > ADDR_DOMAIN_MAX) {
		verdict_set(v, V_REJECT, 501, "5.5.2", "helo:invalid",
		    "Invalid HELO name");
		return;
	}
	for (i = 0; i < len; i++)
		lower[i] = (name[i] >= 'A' && name[i] <= 'Z') ?
		    (char)(name[i] + 32) : name[i];
	lower[len] = '\0';
	if (ip_bytes(lower, ipb) == 0) {
		verdict_set(v, V_REJECT, 550, "5.7.1", "helo:bare-ip",
		    "An address must be written as [literal]");
		return;
	}
	if (!domain_valid(lower, len)) {
		verdict_set(v, V_REJECT, 501, "5.5.2", "helo:invalid",
		    "Invalid HELO name");
		return;
	}
	if (check_helo_map(lower, v))
		return;
	if (strcmp(lower, "localhost") == 0 ||
	    strcmp(lower, "localhost.localdomain") == 0) {
		verdict_set(v, V_REJECT, 550, "5.7.1", "helo:localhost",
		    "You are not localhost");
		return;
	}
	if (strcasecmp(lower, wk->conf->hostname) == 0) {
		verdict_set(v, V_REJECT, 550, "5.7.1", "helo:our-name",
		    "You are not me");
		return;
	}
	if (!domain_fqdn(lower, len))
		verdict_set(v, V_REJECT, 504, "5.5.2", "helo:non-fqdn",
		    "HELO name must be a fully-qualified domain name");
}
