/*
 * test_dnsbl: DNS list query names (IPv4 octets, IPv6 nibbles, RHSBL),
 * what an answer means (codes, lies, errors), and the dynamic-PTR
 * patterns, the client's own address included.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "../../dnsbl/dnsbl.h"
#include "../../dnsbl/dynptr.h"


static void
test_query_names(void)
{
	struct sockaddr_storage ss;
	char out[300];

	ss = t_addr("192.0.2.99");
	CHECK(dnsbl_query_name((struct sockaddr *)&ss, "bl.example", out,
	    sizeof(out)) == 0 && strcmp(out, "99.2.0.192.bl.example") == 0,
	    "ipv4: %s", out);
	ss = t_addr("2001:db8::567:89ab");
	CHECK(dnsbl_query_name((struct sockaddr *)&ss, "bl.example", out,
	    sizeof(out)) == 0 && strcmp(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example") == 0,
	    "ipv6 (RFC 5782 example): %s", out);
	CHECK(dnsbl_query_name((struct sockaddr *)&ss, "bl.example", out, 40)
	    == -1, "ipv6 name too long for the buffer");
	CHECK(rhsbl_query_name("spam.example", "dbl.example", out,
	    sizeof(out)) == 0 && strcmp(out, "spam.example.dbl.example") == 0,
	    "rhsbl: %s", out);
}

static struct dns_answer
answer_a(const char *a1, const char *a2)
{
	struct dns_answer a;

	memset(&a, 0, sizeof(a));
	a.status = DNS_FOUND;
	inet_pton(AF_INET, a1, &a.u.a[a.n++]);
	if (a2 != NULL)
		inet_pton(AF_INET, a2, &a.u.a[a.n++]);
	return a;
}

static void
test_judge(void)
{
	struct dns_zone z;
	struct dns_answer a;
	char code[INET_ADDRSTRLEN], msg[128];
	const char *why;

	CHECK(conf_parse_zone("bl.example=127.0.0.4-127.0.0.7", ZONE_DNSBL,
	    &z, msg, sizeof(msg)) == 0, "zone: %s", msg);
	a = answer_a("127.0.0.5", NULL);
	CHECK(dnsbl_judge(&z, &a, code, sizeof(code), &why) == ZONE_LISTED &&
	    strcmp(code, "127.0.0.5") == 0, "in the range");
	a = answer_a("127.0.0.2", NULL);
	CHECK(dnsbl_judge(&z, &a, code, sizeof(code), &why) ==
	    ZONE_NOT_LISTED, "outside the codes");
	a = answer_a("127.0.0.2", "127.0.0.7");
	CHECK(dnsbl_judge(&z, &a, code, sizeof(code), &why) == ZONE_LISTED,
	    "one of two answers in the codes");
	a = answer_a("127.0.0.5", "10.1.2.3");
	CHECK(dnsbl_judge(&z, &a, code, sizeof(code), &why) == ZONE_ERROR &&
	    strcmp(code, "10.1.2.3") == 0 && why != NULL,
	    "an answer outside 127/8 spoils the lot");
	a = answer_a("127.255.255.254", NULL);
	CHECK(dnsbl_judge(&z, &a, code, sizeof(code), &why) == ZONE_ERROR,
	    "a list's error code");
	memset(&a, 0, sizeof(a));
	a.status = DNS_NXDOMAIN;
	CHECK(dnsbl_judge(&z, &a, code, sizeof(code), &why) ==
	    ZONE_NOT_LISTED, "nxdomain");
	a.status = DNS_TEMPFAIL;
	a.error = "Timeout";
	CHECK(dnsbl_judge(&z, &a, code, sizeof(code), &why) == ZONE_ERROR &&
	    strcmp(why, "Timeout") == 0, "timeout is an error");
	CHECK(conf_parse_zone("any.example", ZONE_DNSBL, &z, msg,
	    sizeof(msg)) == 0, "zone without codes");
	a = answer_a("127.0.0.200", NULL);
	CHECK(dnsbl_judge(&z, &a, code, sizeof(code), &why) == ZONE_LISTED,
	    "any 127/8 answer lists without codes");
}

struct dyn_case {
	const char	*ptr;
	const char	*ip;
	int		 dynamic;
};

static const struct dyn_case dyn_cases[] = {
	{ "h-192-0-2-33.isp.example", "192.0.2.33", 1 },
	{ "33.2.0.192.in.isp.example", "192.0.2.33", 1 },
	{ "host192_0_2_33.isp.example", "192.0.2.33", 1 },
	{ "c192000002033.isp.example", "192.0.2.33", 1 },
	{ "ip-c0000221.isp.example", "192.0.2.33", 1 },
	{ "h-192-0-2-34.isp.example", "192.0.2.33", 0 },
	{ "adsl-7.isp.example", "192.0.2.33", 1 },
	{ "DYN.isp.example", "192.0.2.33", 1 },
	{ "mail.isp.example", "192.0.2.33", 0 },
	{ "mx1.dynamo.example", "192.0.2.33", 0 },
	{ "h-192-0-2-33.isp.example", "2001:db8::1", 0 },
};

static void
test_dynptr(void)
{
	char path[] = "/tmp/test_dnsbl.XXXXXX", err[256];
	struct sockaddr_storage ss;
	const char *which;
	size_t i;
	int fd;
	const char *text = "# comment\n\n@ip-octets\n(^|[.-])(a?dsl|dyn)"
	    "([0-9.-]|$)\n";

	if ((fd = mkstemp(path)) == -1 ||
	    write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		CHECK(0, "mkstemp");
		return;
	}
	close(fd);
	CHECK(dynptr_load(path, err, sizeof(err)) == 0, "load: %s", err);
	for (i = 0; i < sizeof(dyn_cases) / sizeof(dyn_cases[0]); i++) {
		ss = t_addr(dyn_cases[i].ip);
		CHECK(dynptr_match(dyn_cases[i].ptr, (struct sockaddr *)&ss,
		    &which) == dyn_cases[i].dynamic, "dynptr %s for %s",
		    dyn_cases[i].ptr, dyn_cases[i].ip);
	}
	text = "ok\n(unclosed\n";
	if ((fd = open(path, O_WRONLY | O_TRUNC)) == -1 ||
	    write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		CHECK(0, "rewrite");
	else
		close(fd);
	CHECK(dynptr_load(path, err, sizeof(err)) == -1 &&
	    strstr(err, ":2:") != NULL, "a bad pattern names its line: %s",
	    err);
	ss = t_addr("192.0.2.7");
	CHECK(dynptr_match("adsl-7.pool.example", (struct sockaddr *)&ss,
	    &which) == 1, "a file that fails keeps the patterns loaded");
	unlink(path);
	CHECK(dynptr_load(path, err, sizeof(err)) == -1, "a missing file");
	CHECK(dynptr_match("adsl-7.pool.example", (struct sockaddr *)&ss,
	    &which) == 1, "so does a missing file");
	dynptr_free();
	CHECK(dynptr_match("adsl-7.pool.example", (struct sockaddr *)&ss,
	    &which) == 0, "freed: nothing matches");
}

/* The shipped patterns: pools are caught, mail servers are not. */
static void
test_shipped_patterns(void)
{
	static const struct dyn_case cases[] = {
		{ "adsl-84-1-2-3.example.net", "10.9.9.9", 1 },
		{ "dyn-77.isp.example", "10.9.9.9", 1 },
		{ "cable.pool7.isp.example", "10.9.9.9", 1 },
		{ "ppp-12.dialup.example", "10.9.9.9", 1 },
		{ "10-9-9-9.static.example", "10.9.9.9", 1 },
		{ "mail.example.com", "10.9.9.9", 0 },
		{ "mx1.poolside.example", "10.9.9.9", 0 },
		{ "smtp-out.dynamo.example", "10.9.9.9", 0 },
		{ "mail-io1-f54.google.com", "10.9.9.9", 0 },
	};
	struct sockaddr_storage ss;
	const char *which;
	char err[256];
	size_t i;

	CHECK(dynptr_load("conf/default/dynamic_ptr", err, sizeof(err)) == 0,
	    "shipped file: %s", err);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ss = t_addr(cases[i].ip);
		CHECK(dynptr_match(cases[i].ptr, (struct sockaddr *)&ss,
		    &which) == cases[i].dynamic, "shipped: %s", cases[i].ptr);
	}
	dynptr_free();
}

int
main(void)
{
	test_query_names();
	test_judge();
	test_dynptr();
	test_shipped_patterns();
	T_DONE();
}
