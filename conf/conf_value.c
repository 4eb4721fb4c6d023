/*
 * conf_value: moat.conf's value syntax (see conf_value.h).
 *
 * A size or a duration is a number with an optional one-letter unit; one
 * table per kind serves both the parser and the printer, so what
 * conf_print writes always reads back.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../smtpd/parse.h"
#include "conf.h"
#include "conf_value.h"

struct unit {
	char		suffix;		/* as printed */
	char		alt;		/* also accepted */
	uint64_t	mult;
};

/* Largest first: the printer takes the first that divides exactly. */
static const struct unit size_units[] = {
	{ 'G', 'g', GB }, { 'M', 'm', MB }, { 'K', 'k', KB }, { 0, 0, 0 },
};
static const struct unit duration_units[] = {
	{ 'd', 'd', DAY }, { 'h', 'h', 3600 }, { 'm', 'm', 60 },
	{ 's', 's', 1 }, { 0, 0, 0 },
};

int
conf_parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*p - '0'), &v))
			return -1;
	}
	*end = p;
	*out = v;
	return 0;
}

/* A number, then nothing or one unit letter of the table. */
static int
parse_with_unit(const char *s, const struct unit *units, uint64_t *out)
{
	const char *end;
	uint64_t v, mult = 1;
	size_t i;

	if (conf_parse_u64(s, &end, &v) == -1)
		return -1;
	if (*end != '\0') {
		for (i = 0; units[i].mult != 0; i++)
			if (*end == units[i].suffix || *end == units[i].alt)
				break;
		if (units[i].mult == 0 || end[1] != '\0')
			return -1;
		mult = units[i].mult;
	}
	if (__builtin_mul_overflow(v, mult, &v))
		return -1;
	*out = v;
	return 0;
}

static void
fmt_with_unit(uint64_t v, const struct unit *units, char *buf,
    size_t bufsize)
{
	size_t i;

	for (i = 0; v != 0 && units[i].mult != 0; i++) {
		if (v % units[i].mult == 0) {
			(void)snprintf(buf, bufsize, "%llu%c",
			    (unsigned long long)(v / units[i].mult),
			    units[i].suffix);
			return;
		}
	}
	(void)snprintf(buf, bufsize, "%llu", (unsigned long long)v);
}

int
conf_parse_size(const char *s, uint64_t *out)
{
	return parse_with_unit(s, size_units, out);
}

int
conf_parse_duration(const char *s, unsigned *out)
{
	uint64_t v;

	if (parse_with_unit(s, duration_units, &v) == -1 || v > UINT_MAX)
		return -1;
	*out = (unsigned)v;
	return 0;
}

void
conf_fmt_size(uint64_t v, char *buf, size_t bufsize)
{
	fmt_with_unit(v, size_units, buf, bufsize);
}

void
conf_fmt_duration(uint64_t v, char *buf, size_t bufsize)
{
	fmt_with_unit(v, duration_units, buf, bufsize);
}

int
conf_parse_bool(const char *s, int *out)
{
	static const struct { const char *name; int value; } words[] = {
		{ "yes", 1 }, { "no", 0 }, { "true", 1 }, { "false", 0 },
		{ "on", 1 }, { "off", 0 }, { "1", 1 }, { "0", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcasecmp(s, words[i].name) == 0) {
			*out = words[i].value;
			return 0;
		}
	}
	return -1;
}

static int
parse_port(const char *s, unsigned *port)
{
	const char *end;
	uint64_t v;

	if (conf_parse_u64(s, &end, &v) == -1 || *end != '\0' ||
	    v == 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

static void
listen_set4(struct listen_addr *la, const struct in_addr *a, unsigned port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&la->ss;
	char host[INET_ADDRSTRLEN];

	memset(la, 0, sizeof(*la));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr = *a;
	la->sslen = sizeof(*sin);
	if (inet_ntop(AF_INET, a, host, sizeof(host)) == NULL)
		host[0] = '\0';
	(void)snprintf(la->text, sizeof(la->text), "%s:%u", host, port);
}

static void
listen_set6(struct listen_addr *la, const struct in6_addr *a, unsigned port)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&la->ss;
	char host[INET6_ADDRSTRLEN];

	memset(la, 0, sizeof(*la));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	sin6->sin6_addr = *a;
	la->sslen = sizeof(*sin6);
	if (inet_ntop(AF_INET6, a, host, sizeof(host)) == NULL)
		host[0] = '\0';
	(void)snprintf(la->text, sizeof(la->text), "[%s]:%u", host, port);
}

int
conf_parse_listen(const char *s, struct listen_addr *out)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *close;
	struct in_addr a4;
	struct in6_addr a6;
	unsigned port;
	size_t hlen;

	if (strncmp(s, "*:", 2) == 0) {
		if (parse_port(s + 2, &port) == -1)
			return -1;
		a4.s_addr = htonl(INADDR_ANY);
		listen_set4(&out[0], &a4, port);
		listen_set6(&out[1], &in6addr_any, port);
		return 2;
	}
	if (s[0] == '[') {
		if ((close = strchr(s, ']')) == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - (s + 1));
		if (hlen == 0 || hlen >= sizeof(host))
			return -1;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1 ||
		    parse_port(close + 2, &port) == -1)
			return -1;
		listen_set6(&out[0], &a6, port);
		return 1;
	}
	/* IPv4: exactly one colon (a bare IPv6 address must be bracketed) */
	if ((colon = strchr(s, ':')) == NULL || strchr(colon + 1, ':') != NULL)
		return -1;
	hlen = (size_t)(colon - s);
	if (hlen == 0 || hlen >= sizeof(host))
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &a4) != 1 ||
	    parse_port(colon + 1, &port) == -1)
		return -1;
	listen_set4(&out[0], &a4, port);
	return 1;
}

int
conf_parse_metrics_listen(const char *s, struct listen_addr *out)
{
	struct in_addr lo = { .s_addr = htonl(INADDR_LOOPBACK) };
	struct listen_addr la[2];
	unsigned port;

	memset(out, 0, sizeof(*out));
	if (*s == '\0')
		return 0;
	if (strspn(s, "0123456789") == strlen(s)) {
		if (parse_port(s, &port) == -1)
			return -1;
		listen_set4(out, &lo, port);
		return 0;
	}
	if (conf_parse_listen(s, la) != 1)
		return -1;
	*out = la[0];
	return 0;
}

/* ---- string checks ---- */

/* A domain name, as the SMTP side judges one (no trailing dot). */
int
conf_valid_hostname(const char *s)
{
	return domain_valid(s, strlen(s));
}

/* A login name as useradd accepts it. */
int
conf_valid_username(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > 32 || s[0] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		    c == '.'))
			return 0;
	}
	return 1;
}

int
conf_valid_target(const char *v)
{
	const char *port;
	size_t i;

	for (i = 0; v[i] != '\0'; i++)
		if ((unsigned char)v[i] <= ' ' || (unsigned char)v[i] >= 0x7f)
			return 0;
	if (strncmp(v, "maildir:", 8) == 0)
		return v[8] != '\0';
	if (strncmp(v, "lmtp:unix:/", 11) == 0)
		return v[11] != '\0';
	if (strncmp(v, "lmtp:", 5) != 0 || (port = strrchr(v, ':')) == v + 4)
		return 0;
	return port[1] != '\0' && strspn(port + 1, "0123456789") ==
	    strlen(port + 1) && port > v + 5;
}
