/*
 * test_conf: the moat.conf value parsers at their edges, and whole files:
 * errors name file and line, paths resolve against the file's folder,
 * and conf_print output reads back as the same settings.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../conf/conf.h"
#include "t.h"

static char tmpdir[PATH_MAX];

/* ---- value parsers ---- */

struct size_case {
	const char	*name;
	const char	*in;
	int		 ok;
	uint64_t	 want;
};

static const struct size_case size_cases[] = {
	{ "zero",		"0",		1, 0 },
	{ "plain",		"123",		1, 123 },
	{ "kilo lower",		"100k",		1, 100 * 1024 },
	{ "kilo upper",		"1K",		1, 1024 },
	{ "mega",		"25M",		1, 25 * 1024 * 1024 },
	{ "giga",		"2G",		1, UINT64_C(2) << 30 },
	{ "max",		"18446744073709551615", 1, UINT64_MAX },
	{ "overflow digits",	"18446744073709551616", 0, 0 },
	{ "overflow suffix",	"17179869184G",	0, 0 },
	{ "largest G",		"17179869183G",	1, UINT64_C(17179869183) << 30 },
	{ "empty",		"",		0, 0 },
	{ "suffix only",	"M",		0, 0 },
	{ "bad suffix",		"1T",		0, 0 },
	{ "two letters",	"1MB",		0, 0 },
	{ "fraction",		"1.5M",		0, 0 },
	{ "negative",		"-1",		0, 0 },
	{ "plus",		"+1",		0, 0 },
	{ "leading space",	" 1",		0, 0 },
	{ "trailing space",	"1 ",		0, 0 },
	{ "trailing junk",	"10x",		0, 0 },
	{ "hex",		"0x10",		0, 0 },
};

static void
test_sizes(void)
{
	size_t i;

	for (i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
		const struct size_case *c = &size_cases[i];
		uint64_t v = 42;
		int r = conf_parse_size(c->in, &v);

		CHECK((r == 0) == c->ok, "size %s: \"%s\" returned %d",
		    c->name, c->in, r);
		if (c->ok && r == 0)
			CHECK(v == c->want, "size %s: got %llu want %llu",
			    c->name, (unsigned long long)v,
			    (unsigned long long)c->want);
	}
}

struct dur_case {
	const char	*name;
	const char	*in;
	int		 ok;
	unsigned	 want;
};

static const struct dur_case dur_cases[] = {
	{ "zero",		"0",		1, 0 },
	{ "plain seconds",	"30",		1, 30 },
	{ "seconds",		"30s",		1, 30 },
	{ "minutes",		"5m",		1, 300 },
	{ "hours",		"1h",		1, 3600 },
	{ "days",		"2d",		1, 172800 },
	{ "max",		"4294967295",	1, 4294967295u },
	{ "overflow",		"4294967296",	0, 0 },
	{ "days at limit",	"49710d",	1, 4294944000u },
	{ "days overflow",	"49711d",	0, 0 },
	{ "huge overflow",	"99999999999999999999", 0, 0 },
	{ "weeks unknown",	"1w",		0, 0 },
	{ "upper M",		"5M",		0, 0 },
	{ "empty",		"",		0, 0 },
	{ "unit only",		"m",		0, 0 },
	{ "space inside",	"5 m",		0, 0 },
	{ "two units",		"5mm",		0, 0 },
	{ "combined",		"1h30m",	0, 0 },
	{ "negative",		"-5",		0, 0 },
};

static void
test_durations(void)
{
	size_t i;

	for (i = 0; i < sizeof(dur_cases) / sizeof(dur_cases[0]); i++) {
		const struct dur_case *c = &dur_cases[i];
		unsigned v = 42;
		int r = conf_parse_duration(c->in, &v);

		CHECK((r == 0) == c->ok, "duration %s: \"%s\" returned %d",
		    c->name, c->in, r);
		if (c->ok && r == 0)
			CHECK(v == c->want, "duration %s: got %u want %u",
			    c->name, v, c->want);
	}
}

struct bool_case {
	const char	*in;
	int		 ok;
	int		 want;
};

static const struct bool_case bool_cases[] = {
	{ "yes", 1, 1 }, { "no", 1, 0 }, { "true", 1, 1 }, { "false", 1, 0 },
	{ "on", 1, 1 }, { "off", 1, 0 }, { "1", 1, 1 }, { "0", 1, 0 },
	{ "YES", 1, 1 }, { "Off", 1, 0 },
	{ "", 0, 0 }, { "2", 0, 0 }, { "yes ", 0, 0 }, { "y", 0, 0 },
	{ "enabled", 0, 0 },
};

static void
test_bools(void)
{
	size_t i;

	for (i = 0; i < sizeof(bool_cases) / sizeof(bool_cases[0]); i++) {
		const struct bool_case *c = &bool_cases[i];
		int v = 42, r = conf_parse_bool(c->in, &v);

		CHECK((r == 0) == c->ok, "bool \"%s\" returned %d", c->in, r);
		if (c->ok && r == 0)
			CHECK(v == c->want, "bool \"%s\": got %d", c->in, v);
	}
}

struct listen_case {
	const char	*name;
	const char	*in;
	int		 n;		/* addresses, -1 error */
	const char	*text0;
	const char	*text1;
};

static const struct listen_case listen_cases[] = {
	{ "ipv4",		"127.0.0.1:2525", 1, "127.0.0.1:2525", NULL },
	{ "ipv6",		"[::1]:2525",	1, "[::1]:2525", NULL },
	{ "ipv6 canonical",	"[2001:DB8:0:0::1]:25", 1, "[2001:db8::1]:25", NULL },
	{ "wildcard",		"*:25",		2, "0.0.0.0:25", "[::]:25" },
	{ "port max",		"10.0.0.1:65535", 1, "10.0.0.1:65535", NULL },
	{ "port zero",		"10.0.0.1:0",	-1, NULL, NULL },
	{ "port too big",	"10.0.0.1:65536", -1, NULL, NULL },
	{ "port missing",	"10.0.0.1:",	-1, NULL, NULL },
	{ "no port",		"10.0.0.1",	-1, NULL, NULL },
	{ "no host",		":25",		-1, NULL, NULL },
	{ "port junk",		"10.0.0.1:25x",	-1, NULL, NULL },
	{ "port sign",		"10.0.0.1:+25",	-1, NULL, NULL },
	{ "bare ipv6",		"::1:25",	-1, NULL, NULL },
	{ "bracket no colon",	"[::1]25",	-1, NULL, NULL },
	{ "bracket no port",	"[::1]:",	-1, NULL, NULL },
	{ "bracket unclosed",	"[::1:25",	-1, NULL, NULL },
	{ "empty brackets",	"[]:25",	-1, NULL, NULL },
	{ "v4 in brackets",	"[127.0.0.1]:25", -1, NULL, NULL },
	{ "host name",		"localhost:25",	-1, NULL, NULL },
	{ "scope id",		"[fe80::1%eth0]:25", -1, NULL, NULL },
	{ "wildcard no port",	"*:",		-1, NULL, NULL },
	{ "empty",		"",		-1, NULL, NULL },
};

static void
test_listen(void)
{
	size_t i;

	for (i = 0; i < sizeof(listen_cases) / sizeof(listen_cases[0]); i++) {
		const struct listen_case *c = &listen_cases[i];
		struct listen_addr la[2];
		int n = conf_parse_listen(c->in, la);

		CHECK(n == c->n, "listen %s: \"%s\" gave %d, want %d",
		    c->name, c->in, n, c->n);
		if (n != c->n || n < 1)
			continue;
		CHECK(strcmp(la[0].text, c->text0) == 0,
		    "listen %s: text %s", c->name, la[0].text);
		if (n == 2)
			CHECK(strcmp(la[1].text, c->text1) == 0,
			    "listen %s: text %s", c->name, la[1].text);
	}
	/* the sockaddr is what bind() needs */
	{
		struct listen_addr la[2];
		const struct sockaddr_in *sin =
		    (const struct sockaddr_in *)&la[0].ss;
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)&la[1].ss;

		CHECK(conf_parse_listen("*:2525", la) == 2, "wildcard");
		CHECK(sin->sin_family == AF_INET && ntohs(sin->sin_port) ==
		    2525 && sin->sin_addr.s_addr == htonl(INADDR_ANY) &&
		    la[0].sslen == sizeof(*sin), "wildcard v4 sockaddr");
		CHECK(sin6->sin6_family == AF_INET6 &&
		    ntohs(sin6->sin6_port) == 2525 &&
		    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) &&
		    la[1].sslen == sizeof(*sin6), "wildcard v6 sockaddr");
	}
}

/* ---- whole files ---- */

/* ---- DNS zones and resolvers ---- */

struct zone_case {
	const char	*name;
	enum dns_zone_kind kind;
	const char	*in;
	int		 ok;
	const char	*zone;
	size_t		 ncodes;
	uint32_t	 lo0, hi_last;	/* first low, last high */
	int		 weight;
	const char	*text;
	const char	*printed;	/* conf_fmt_zone; NULL: same as in */
};

#define BAD(name, kind, in) { name, kind, in, 0, NULL, 0, 0, 0, 0, NULL, NULL }
#define IP4(a, b, c, d)	(((uint32_t)(a) << 24) | ((b) << 16) | ((c) << 8) | (d))

static const struct zone_case zone_cases[] = {
	{ "bare zone", ZONE_DNSBL, "zen.example", 1, "zen.example", 0, 0, 0,
	    1, "", NULL },
	{ "upper case folded", ZONE_DNSBL, "ZEN.Example", 1, "zen.example",
	    0, 0, 0, 1, "", "zen.example" },
	{ "one code", ZONE_DNSBL, "bl.example=127.0.0.2", 1, "bl.example", 1,
	    IP4(127, 0, 0, 2), IP4(127, 0, 0, 2), 1, "", NULL },
	{ "codes and range", ZONE_DNSBL,
	    "zen.example=127.0.0.2,127.0.0.4-127.0.0.11", 1, "zen.example", 2,
	    IP4(127, 0, 0, 2), IP4(127, 0, 0, 11), 1, "", NULL },
	{ "weight", ZONE_DNSBL, "bl.example*3", 1, "bl.example", 0, 0, 0, 3,
	    "", NULL },
	{ "codes weight text", ZONE_DNSBL,
	    "bl.example=127.0.0.3*2 Listed as an open proxy", 1, "bl.example",
	    1, IP4(127, 0, 0, 3), IP4(127, 0, 0, 3), 2,
	    "Listed as an open proxy", NULL },
	{ "text after tabs", ZONE_DNSBL, "bl.example\t\tNo thanks", 1,
	    "bl.example", 0, 0, 0, 1, "No thanks", "bl.example No thanks" },
	{ "dnswl default weight", ZONE_DNSWL, "wl.example", 1, "wl.example",
	    0, 0, 0, -1, "", NULL },
	{ "dnswl weight", ZONE_DNSWL, "wl.example=127.0.0.2-127.0.0.3*-5", 1,
	    "wl.example", 1, IP4(127, 0, 0, 2), IP4(127, 0, 0, 3), -5, "",
	    NULL },
	{ "rhsbl codes and text", ZONE_RHSBL, "dbl.example=127.0.1.2 Bad "
	    "sender domain", 1, "dbl.example", 1, IP4(127, 0, 1, 2),
	    IP4(127, 0, 1, 2), 1, "Bad sender domain", NULL },
	BAD("code outside 127/8", ZONE_DNSBL, "bl.example=10.0.0.2"),
	BAD("range upside down", ZONE_DNSBL, "bl.example=127.0.0.9-127.0.0.3"),
	BAD("range end outside", ZONE_DNSBL, "bl.example=127.0.0.2-128.0.0.1"),
	BAD("empty codes", ZONE_DNSBL, "bl.example="),
	BAD("trailing comma", ZONE_DNSBL, "bl.example=127.0.0.2,"),
	BAD("double comma", ZONE_DNSBL, "bl.example=127.0.0.2,,127.0.0.3"),
	BAD("code not an address", ZONE_DNSBL, "bl.example=127.0.0"),
	BAD("seventeen codes", ZONE_DNSBL, "bl.example=127.0.0.1,127.0.0.2,"
	    "127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,"
	    "127.0.0.9,127.0.0.10,127.0.0.11,127.0.0.12,127.0.0.13,127.0.0.14,"
	    "127.0.0.15,127.0.0.16,127.0.0.17"),
	BAD("bad zone", ZONE_DNSBL, "bl..example"),
	BAD("zone with slash", ZONE_DNSBL, "bl/example"),
	BAD("empty weight", ZONE_DNSBL, "bl.example*"),
	BAD("weight not a number", ZONE_DNSBL, "bl.example*x"),
	BAD("weight too big", ZONE_DNSBL, "bl.example*1001"),
	BAD("dnsbl negative weight", ZONE_DNSBL, "bl.example*-1"),
	BAD("dnswl positive weight", ZONE_DNSWL, "wl.example*2"),
	BAD("dnswl with text", ZONE_DNSWL, "wl.example welcome"),
	BAD("rhsbl with weight", ZONE_RHSBL, "dbl.example*2"),
	BAD("text with control byte", ZONE_DNSBL, "bl.example a\x01b"),
	BAD("text with 8-bit byte", ZONE_DNSBL, "bl.example caf\xc3\xa9"),
};

static void
test_zones(void)
{
	char out[2048];
	struct dns_zone z;
	char msg[256];
	size_t i;
	int r;

	for (i = 0; i < sizeof(zone_cases) / sizeof(zone_cases[0]); i++) {
		const struct zone_case *c = &zone_cases[i];

		msg[0] = '\0';
		r = conf_parse_zone(c->in, c->kind, &z, msg, sizeof(msg));
		CHECK((r == 0) == c->ok, "zone %s: got %d (%s)", c->name, r,
		    msg);
		if (r != 0 || !c->ok)
			continue;
		CHECK(strcmp(z.zone, c->zone) == 0 && z.ncodes == c->ncodes &&
		    z.weight == c->weight && strcmp(z.text, c->text) == 0 &&
		    z.kind == c->kind, "zone %s: fields", c->name);
		if (c->ncodes > 0)
			CHECK(z.codes[0].lo == c->lo0 &&
			    z.codes[c->ncodes - 1].hi == c->hi_last,
			    "zone %s: code bounds", c->name);
		conf_fmt_zone(&z, out, sizeof(out));
		CHECK(strcmp(out, c->printed ? c->printed : c->in) == 0,
		    "zone %s: printed \"%s\"", c->name, out);
	}
}

struct resolver_case {
	const char	*in;
	int		 ok;
	const char	*text;
};

static const struct resolver_case resolver_cases[] = {
	{ "127.0.0.1", 1, "127.0.0.1:53" },
	{ "127.0.0.1:5353", 1, "127.0.0.1:5353" },
	{ "::1", 1, "[::1]:53" },
	{ "[::1]:5353", 1, "[::1]:5353" },
	{ "*:53", 0, NULL },
	{ "dns.example", 0, NULL },
	{ "127.0.0.1:0", 0, NULL },
	{ "127.0.0.1:65536", 0, NULL },
	{ "", 0, NULL },
};

static void
test_resolvers(void)
{
	struct listen_addr la;
	size_t i;
	int r;

	for (i = 0; i < sizeof(resolver_cases) / sizeof(resolver_cases[0]);
	    i++) {
		const struct resolver_case *c = &resolver_cases[i];

		r = conf_parse_resolver(c->in, &la);
		CHECK((r == 0) == c->ok, "resolver \"%s\": got %d", c->in, r);
		if (r == 0 && c->ok)
			CHECK(strcmp(la.text, c->text) == 0,
			    "resolver \"%s\": text %s", c->in, la.text);
	}
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL || fputs(text, fp) == EOF || fclose(fp) == EOF) {
		perror(path);
		exit(1);
	}
}

struct file_case {
	const char	*name;
	const char	*text;
	const char	*err;		/* NULL: must load; else in message */
	int		(*check)(const struct conf *);
};

static int
chk_defaults(const struct conf *c)
{
	return c->nlisten == 1 &&
	    strcmp(c->listen[0].text, "127.0.0.1:2525") == 0 &&
	    c->workers == 0 && strcmp(c->user, "moat") == 0 &&
	    strcmp(c->queue_user, "moatq") == 0 &&
	    strcmp(c->spool, "/var/spool/moat") == 0 &&
	    strcmp(c->mail_root, "/var/vmail") == 0 &&
	    strcmp(c->pidfile, "/run/moatd.pid") == 0 &&
	    strcmp(c->control_socket, "/run/moatd.sock") == 0 &&
	    c->maps[MAP_RECIPIENTS][0] == '\0' && c->tls_cert[0] == '\0' &&
	    c->delay_reject == 1 && c->local_part_fold == 1 &&
	    c->bare_lf == BARE_LF_REJECT && c->max_line == 1000 &&
	    c->max_message_size == 25u << 20 && c->max_recipients == 100 &&
	    c->max_bad_commands == 10 && c->max_commands == 1000 &&
	    c->max_sessions == 1000 && c->max_sessions_per_ip == 20 &&
	    c->max_hops == 100 && c->command_timeout == 300 &&
	    c->data_timeout == 600 && c->session_timeout == 1800 &&
	    c->tls_timeout == 30 && c->shutdown_timeout == 30 &&
	    c->min_free_space == 100u << 20 && c->retry_min == 60 &&
	    c->retry_max == 3600 && c->queue_lifetime == 5 * 86400 &&
	    c->hostname[0] != '\0';
}

static int
chk_values(const struct conf *c)
{
	return strcmp(c->hostname, "mx.example.test") == 0 &&
	    c->max_recipients == 5 && c->max_message_size == 10u << 20 &&
	    c->command_timeout == 90 && c->delay_reject == 0 &&
	    c->local_part_fold == 0 && c->bare_lf == BARE_LF_NORMALIZE;
}

static int
chk_listen(const struct conf *c)
{
	return c->nlisten == 3 &&
	    strcmp(c->listen[0].text, "[::1]:25") == 0 &&
	    strcmp(c->listen[1].text, "0.0.0.0:2525") == 0 &&
	    strcmp(c->listen[2].text, "[::]:2525") == 0;
}

static int
chk_limits_low(const struct conf *c)
{
	return c->max_line == 512 && c->max_recipients == 1 &&
	    c->shutdown_timeout == 0 && c->min_free_space == 0;
}

static char want_parent[PATH_MAX + 16], want_here[PATH_MAX + 16];

static int
chk_paths(const struct conf *c)
{
	return strcmp(c->spool, want_parent) == 0 &&
	    strcmp(c->chroot, want_here) == 0 &&
	    strcmp(c->mail_root, "/srv/mail") == 0 &&
	    c->pidfile[0] == '\0' &&
	    strcmp(c->maps[MAP_DOMAINS], tmpdir) == 0;
}

static int
chk_control_socket(const struct conf *c)
{
	char want[PATH_MAX + 16];

	(void)snprintf(want, sizeof(want), "%s/moatd.sock", tmpdir);
	return strcmp(c->control_socket, want) == 0;
}

static int
chk_control_socket_off(const struct conf *c)
{
	return c->control_socket[0] == '\0';
}

static int
chk_hash_in_path(const struct conf *c)
{
	char want[PATH_MAX + 16];

	(void)snprintf(want, sizeof(want), "%s/a#b", tmpdir);
	return strcmp(c->tls_cert, want) == 0 && c->max_hops == 7;
}

static int
chk_hostname_case(const struct conf *c)
{
	return strcmp(c->hostname, "mx.example.test") == 0;
}

static int
chk_dns(const struct conf *c)
{
	return c->nzones == 4 && c->zones[0].kind == ZONE_DNSWL &&
	    c->zones[1].kind == ZONE_DNSBL && c->zones[2].kind == ZONE_RHSBL &&
	    c->zones[3].kind == ZONE_DNSBL &&
	    strcmp(c->zones[3].zone, "bl2.example") == 0 &&
	    c->zones[3].weight == 2 && c->nresolver == 2 &&
	    strcmp(c->resolver[1].text, "[::1]:5300") == 0 &&
	    c->dnsbl_threshold == 2 && c->dnsbl_timeout == 3 &&
	    c->reverse_dns == RDNS_REQUIRE_FCRDNS &&
	    c->reverse_dns_action == DNS_MISS_REJECT &&
	    c->sender_domain == SENDER_DOMAIN_RESOLVABLE &&
	    c->dns_action == DNS_LOG && c->dns_cache_min_ttl == 10 &&
	    c->dns_cache_max_ttl == 7200 && c->dynamic_ptr[0] == '/';
}

static int
chk_dns_defaults(const struct conf *c)
{
	return c->nzones == 0 && c->nresolver == 0 &&
	    c->dnsbl_threshold == 1 && c->dnsbl_timeout == 5 &&
	    c->dnsbl_probe_interval == 300 && c->reverse_dns == RDNS_OFF &&
	    c->reverse_dns_action == DNS_MISS_TEMPFAIL &&
	    c->dynamic_ptr[0] == '\0' &&
	    c->sender_domain == SENDER_DOMAIN_OFF &&
	    c->dns_action == DNS_ENFORCE && c->dns_cache_min_ttl == 60 &&
	    c->dns_cache_max_ttl == 3600;
}

static int
chk_filters(const struct conf *c)
{
	const struct conf_filter *f = &c->filters[0];

	return c->nfilters == 2 && strcmp(f->name, "spam") == 0 &&
	    strcmp(f->path, "/usr/bin/spamc") == 0 && f->nargs == 3 &&
	    memcmp(f->args, "-c\0-s\0$(rm)\0", 13) == 0 &&
	    strcmp(c->filters[1].name, "av_2") == 0 &&
	    c->filters[1].nargs == 0 &&
	    c->filters[1].path[0] == '/' &&
	    strstr(c->filters[1].path, "/bin/clam") != NULL &&
	    strcmp(c->filter_user, "nobody") == 0 &&
	    c->filter_timeout == 30 &&
	    c->filter_failure == FILTER_FAIL_ACCEPT &&
	    c->filter_max_procs == 4;
}

static int
chk_filter_defaults(const struct conf *c)
{
	return c->nfilters == 0 && strcmp(c->filter_user, "moatf") == 0 &&
	    c->filter_timeout == 60 &&
	    c->filter_failure == FILTER_FAIL_TEMPFAIL &&
	    c->filter_max_procs == 16;
}

static const struct file_case file_cases[] = {
	{ "filter defaults", "", NULL, chk_filter_defaults },
	{ "filters", "filter = spam /usr/bin/spamc -c\t -s  $(rm)\n"
	    "filter = av_2 bin/clam\nfilter_user = nobody\n"
	    "filter_timeout = 30s\nfilter_failure = accept\n"
	    "filter_max_procs = 4\n", NULL, chk_filters },
	{ "filter name twice", "filter = a /bin/true\nfilter = a /bin/false\n",
	    ":2: filter: filter a given twice", NULL },
	{ "filter bad name", "filter = a.b /bin/true\n", ":1: filter: "
	    "expected NAME PATH", NULL },
	{ "filter without path", "filter = spam\n", ":1: filter: filter "
	    "spam: no program path", NULL },
	{ "filter too many arguments", "filter = f /bin/echo 1 2 3 4 5 6 7 8 "
	    "9 10 11 12 13 14 15 16 17\n", "more than 16 arguments", NULL },
	{ "filter timeout zero", "filter_timeout = 0\n", ":1: filter_timeout:",
	    NULL },
	{ "DNS defaults", "", NULL, chk_dns_defaults },
	{ "DNS keys",
	    "dnswl = wl.example\n"
	    "dnsbl = bl.example=127.0.0.2 Go away\n"
	    "rhsbl_sender = dbl.example\n"
	    "dnsbl = bl2.example*2\n"
	    "resolver = 127.0.0.1:5353\n"
	    "resolver = [::1]:5300\n"
	    "dnsbl_threshold = 2\n"
	    "dnsbl_timeout = 3s\n"
	    "reverse_dns = require-fcrdns\n"
	    "reverse_dns_action = reject\n"
	    "dynamic_ptr = dynamic_ptr\n"
	    "sender_domain = require-resolvable\n"
	    "dns_action = log\n"
	    "dns_cache_min_ttl = 10s\n"
	    "dns_cache_max_ttl = 2h\n", NULL, chk_dns },
	{ "same dnsbl twice", "dnsbl = bl.example\ndnsbl = BL.example\n",
	    "bl.example given twice", NULL },
	{ "bad dnsbl names its line", "\n\ndnsbl = bl.example=1.2.3.4\n",
	    ":3: dnsbl: bad answer codes", NULL },
	{ "cache ttls crossed", "dns_cache_min_ttl = 2h\n"
	    "dns_cache_max_ttl = 1h\n", "dns_cache_min_ttl is longer", NULL },
	{ "bad reverse_dns", "reverse_dns = maybe\n", "require-fcrdns",
	    NULL },
	{ "bad resolver", "resolver = dns.example\n", "resolver: bad address",
	    NULL },
	{ "empty file gives defaults", "", NULL, chk_defaults },
	{ "comments and blanks", "# a comment\n\n   # indented\n\t\n",
	    NULL, chk_defaults },
	{ "values",
	    "hostname = mx.example.test\n"
	    "max_recipients=5\n"
	    "max_message_size = 10M   # trailing comment\n"
	    "command_timeout = 90\n"
	    "delay_reject = no\n"
	    "local_part_case = sensitive\n"
	    "bare_lf = normalize\r\n",
	    NULL, chk_values },
	{ "listen replaces default and repeats",
	    "listen = [::1]:25\nlisten = *:2525\n", NULL, chk_listen },
	{ "lower limits", "max_line_length = 512\nmax_recipients = 1\n"
	    "shutdown_timeout = 0\nmin_free_space = 0\n", NULL,
	    chk_limits_low },
	{ "relative paths", "spool = ../spool\nchroot = ./empty\n"
	    "mail_root = /srv/mail\npidfile =\ndomains = .\n", NULL,
	    chk_paths },
	{ "hash inside a word", "tls_cert = a#b\ntls_key = k\n"
	    "max_hops = 7#x\n", "max_hops", NULL },
	{ "hash after space", "tls_cert = a#b\ntls_key = k\n"
	    "max_hops = 7 #x\n", NULL, chk_hash_in_path },
	{ "hostname lower-cased", "hostname = MX.Example.TEST\n", NULL,
	    chk_hostname_case },
	{ "unknown key", "# one\n\nmax_recipient = 5\n",
	    ":3: unknown key \"max_recipient\"", NULL },
	{ "repeated key", "max_hops = 5\nworkers = 2\nmax_hops = 6\n",
	    ":3: max_hops is set twice (first at line 1)", NULL },
	{ "missing equals", "max_hops 5\n", ":1: expected \"key = value\"",
	    NULL },
	{ "missing key", " = 5\n", ":1: missing key", NULL },
	{ "empty number", "max_hops =\n", ":1: max_hops:", NULL },
	{ "bad number", "max_recipients = ten\n", ":1: max_recipients:",
	    NULL },
	{ "number overflow", "max_commands = 99999999999999999999\n",
	    ":1: max_commands:", NULL },
	{ "bad size", "max_message_size = 25Q\n", ":1: max_message_size:",
	    NULL },
	{ "bad duration", "data_timeout = 10x\n", ":1: data_timeout:",
	    NULL },
	{ "bad bool", "delay_reject = maybe\n", ":1: delay_reject:", NULL },
	{ "bad enum", "bare_lf = fix\n", ":1: bare_lf:", NULL },
	{ "bad case enum", "local_part_case = lower\n",
	    ":1: local_part_case:", NULL },
	{ "line length under minimum", "max_line_length = 511\n",
	    ":1: max_line_length: 511 is out of range", NULL },
	{ "zero recipients", "max_recipients = 0\n",
	    ":1: max_recipients: 0 is out of range", NULL },
	{ "zero timeout", "command_timeout = 0\n", ":1: command_timeout:",
	    NULL },
	{ "bad listen", "listen = 127.0.0.1\n", ":1: listen: bad address",
	    NULL },
	{ "listen twice", "listen = 127.0.0.1:25\nlisten = 127.0.0.1:25\n",
	    "127.0.0.1:25 given twice", NULL },
	{ "too many listen",
	    "listen = *:1\nlisten = *:2\nlisten = *:3\nlisten = *:4\n"
	    "listen = *:5\nlisten = *:6\nlisten = *:7\nlisten = *:8\n"
	    "listen = *:9\n", ":9: listen: more than 16", NULL },
	{ "bad hostname", "hostname = -bad.example\n", ":1: hostname:",
	    NULL },
	{ "bad user", "user = a:b\n", ":1: user:", NULL },
	{ "tls cert alone", "\ntls_cert = cert.pem\n",
	    ":2: tls_cert and tls_key go together", NULL },
	{ "tls key alone", "tls_key = key.pem\n",
	    ":1: tls_cert and tls_key go together", NULL },
	{ "same users", "user = moat\nqueue_user = moat\n",
	    ":2: user and queue_user must differ", NULL },
	{ "retry order", "retry_min = 2h\nretry_max = 1h\n",
	    ":1: retry_min is longer than retry_max", NULL },
	{ "empty spool", "spool =\n", "may not be empty", NULL },
	{ "control socket relative", "control_socket = moatd.sock\n", NULL,
	    chk_control_socket },
	{ "control socket off", "control_socket =\n", NULL,
	    chk_control_socket_off },
	{ "control socket at the limit", "control_socket = /"
	    "123456789012345678901234567890123456789012345678901234567890"
	    "1234567890123456789012345678901234567890123456\n", NULL, NULL },
	{ "control socket one past", "\ncontrol_socket = /"
	    "123456789012345678901234567890123456789012345678901234567890"
	    "12345678901234567890123456789012345678901234567\n",
	    ":2: control_socket: /123", NULL },
	{ "NUL byte", "max_hops = 5\nworkers\0 = 1\n", ":2: NUL byte", NULL },
};

/* The NUL case needs its real length: write it with fwrite. */
static void
write_case(const char *path, const struct file_case *c)
{
	size_t len = strlen(c->text);
	FILE *fp;

	if (strcmp(c->name, "NUL byte") == 0)
		len = sizeof("max_hops = 5\nworkers\0 = 1\n") - 1;
	if ((fp = fopen(path, "w")) == NULL ||
	    fwrite(c->text, 1, len, fp) != len || fclose(fp) == EOF) {
		perror(path);
		exit(1);
	}
}

static void
test_files(void)
{
	char path[PATH_MAX + 32], err[1024], *slash;
	size_t i;

	(void)snprintf(path, sizeof(path), "%s/moat.conf", tmpdir);
	(void)snprintf(want_here, sizeof(want_here), "%s/empty", tmpdir);
	(void)snprintf(want_parent, sizeof(want_parent), "%s", tmpdir);
	slash = strrchr(want_parent, '/');
	(void)snprintf(slash, sizeof(want_parent) - (size_t)(slash -
	    want_parent), "/spool");

	for (i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
		const struct file_case *c = &file_cases[i];
		struct conf conf;
		int r;

		write_case(path, c);
		err[0] = '\0';
		memset(&conf, 0xa5, sizeof(conf));
		r = conf_load(&conf, path, err, sizeof(err));
		if (c->err == NULL) {
			CHECK(r == 0, "file %s: failed: %s", c->name, err);
			if (r == 0 && c->check != NULL)
				CHECK(c->check(&conf), "file %s: wrong values",
				    c->name);
			continue;
		}
		CHECK(r == -1, "file %s: loaded", c->name);
		CHECK(strstr(err, c->err) != NULL && strncmp(err, path,
		    strlen(path)) == 0, "file %s: message \"%s\" lacks "
		    "\"%s\" or the file name", c->name, err, c->err);
		/* a failed load leaves the caller's struct alone */
		CHECK(((unsigned char *)&conf)[0] == 0xa5 &&
		    ((unsigned char *)&conf)[sizeof(conf) - 1] == 0xa5,
		    "file %s: struct written on error", c->name);
	}
	(void)unlink(path);
}

static void
test_missing_file(void)
{
	char path[PATH_MAX + 32], err[512];
	struct conf conf;

	(void)snprintf(path, sizeof(path), "%s/nope.conf", tmpdir);
	CHECK(conf_load(&conf, path, err, sizeof(err)) == -1,
	    "missing file loaded");
	CHECK(strstr(err, "nope.conf") != NULL, "missing file: %s", err);
}

/* conf_print output, read back, gives the same settings. */
static void
test_print_roundtrip(void)
{
	char path[PATH_MAX + 32], printed[PATH_MAX + 32], err[1024];
	struct conf a, b;
	FILE *fp;

	(void)snprintf(path, sizeof(path), "%s/moat.conf", tmpdir);
	(void)snprintf(printed, sizeof(printed), "%s/printed.conf", tmpdir);
	write_file(path,
	    "hostname = mx.example.test\nlisten = *:25\nlisten = [::1]:587\n"
	    "spool = spool\ntls_cert = c.pem\ntls_key = k.pem\n"
	    "recipients = recipients\nmax_message_size = 1536\n"
	    "min_free_space = 3G\nsession_timeout = 90\n"
	    "queue_lifetime = 7d\nlocal_part_case = sensitive\n"
	    "bare_lf = normalize\ndelay_reject = off\npidfile =\n"
	    "dnsbl = zen.example=127.0.0.2,127.0.0.4-127.0.0.11*2 Listed\n"
	    "dnswl = wl.example*-3\nrhsbl_sender = dbl.example=127.0.1.2\n"
	    "resolver = ::1\nreverse_dns = require-ptr\n"
	    "dynamic_ptr = dyn\nfilter = spam /usr/bin/spamc -s 5\n"
	    "filter = av bin/clam\nfilter_failure = accept\n");
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	CHECK(conf_load(&a, path, err, sizeof(err)) == 0, "load: %s", err);
	if ((fp = fopen(printed, "w")) == NULL) {
		perror(printed);
		exit(1);
	}
	conf_print(&a, fp);
	if (fclose(fp) == EOF) {
		perror(printed);
		exit(1);
	}
	CHECK(conf_load(&b, printed, err, sizeof(err)) == 0,
	    "reload printed: %s", err);
	memset(a.file, 0, sizeof(a.file));
	memset(b.file, 0, sizeof(b.file));
	/* where a key was set differs between the two files, by design */
	memset(a.map_line, 0, sizeof(a.map_line));
	memset(b.map_line, 0, sizeof(b.map_line));
	a.tls_line = b.tls_line = 0;
	CHECK(memcmp(&a, &b, sizeof(a)) == 0, "printed config differs");
	(void)unlink(path);
	(void)unlink(printed);
}

/*
 * The embedded default ("make run") must load as shipped.  The unit
 * tests run from the top of the source tree.
 */
static void
test_shipped_default(void)
{
	const char *path = "conf/default/moat.conf";
	char err[1024];
	struct conf c;
	int i;

	if (access(path, R_OK) == -1) {
		CHECK(0, "%s: not found: run from the top of the tree", path);
		return;
	}
	CHECK(conf_load(&c, path, err, sizeof(err)) == 0, "default: %s", err);
	CHECK(strcmp(c.hostname, "mx.example.test") == 0 && c.nlisten == 2 &&
	    strcmp(c.listen[0].text, "127.0.0.1:2525") == 0 &&
	    strcmp(c.listen[1].text, "[::1]:2525") == 0,
	    "default: name or addresses");
	CHECK(c.tls_cert[0] == '/' && c.tls_key[0] == '/' &&
	    c.spool[0] == '/' && c.pidfile[0] == '/',
	    "default: paths not made absolute");
	for (i = 0; i < MAP_COUNT; i++)
		CHECK(c.maps[i][0] == '/', "default: map %s not set",
		    map_name(i));
}

static void
test_map_names(void)
{
	int i;

	for (i = 0; i < MAP_COUNT; i++)
		CHECK(map_byname(map_name(i)) == i, "map name %d", i);
	CHECK(map_byname("nope") == -1, "unknown map name");
	CHECK(strcmp(map_name(MAP_ACCESS), "access") == 0, "access name");
}

int
main(void)
{
	char tmpl[] = "/tmp/moat-test-conf.XXXXXX";

	if (mkdtemp(tmpl) == NULL || realpath(tmpl, tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_sizes();
	test_durations();
	test_bools();
	test_listen();
	test_zones();
	test_resolvers();
	test_files();
	test_missing_file();
	test_print_roundtrip();
	test_shipped_default();
	test_map_names();
	if (rmdir(tmpdir) == -1)
		perror(tmpdir);
	T_DONE();
}
