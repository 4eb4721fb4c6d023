/*
 * test_parse_addr: RFC 5321 paths, relay tricks, length limits at the
 * limit and one past, 8-bit with and without SMTPUTF8, domain_valid,
 * domain_fqdn and addr_literal.
 */
#include <sys/socket.h>

#include <string.h>

#include "t.h"
#include "../../smtpd/parse.h"

#define F_NULL		0x01
#define F_QUOTED	0x02
#define F_ROUTE		0x04
#define F_LITERAL	0x08
#define F_TDOT		0x10

struct addr_case {
	const char	*name;
	const char	*in;
	int		 allow_null;
	int		 utf8;
	enum addr_error	 err;
	const char	*local;		/* NULL: not checked */
	const char	*domain;
	const char	*text;
	int		 flags;
	const char	*rest;
};

static const struct addr_case addr_cases[] = {
	{ "plain", "<alice@example.test>", 0, 0, ADDR_OK, "alice",
	  "example.test", "alice@example.test", 0, "" },
	{ "domain lowered", "<Alice@Example.TEST>", 0, 0, ADDR_OK, "Alice",
	  "example.test", "Alice@example.test", 0, "" },
	{ "rest is params", "<a@b.test> SIZE=100", 1, 0, ADDR_OK, "a",
	  "b.test", "a@b.test", 0, " SIZE=100" },
	{ "leading spaces", "  <a@b.test>", 0, 0, ADDR_OK, "a", "b.test",
	  "a@b.test", 0, "" },
	{ "null allowed", "<>", 1, 0, ADDR_OK, "", "", "", F_NULL, "" },
	{ "null params", "<> BODY=8BITMIME", 1, 0, ADDR_OK, "", "", "",
	  F_NULL, " BODY=8BITMIME" },
	{ "null refused", "<>", 0, 0, ADDR_SYNTAX, NULL, NULL, NULL, 0,
	  NULL },
	{ "no brackets", "alice@example.test", 0, 0, ADDR_SYNTAX, NULL,
	  NULL, NULL, 0, NULL },
	{ "no close", "<alice@example.test", 0, 0, ADDR_SYNTAX, NULL, NULL,
	  NULL, 0, NULL },
	{ "no close local", "<alice", 0, 0, ADDR_SYNTAX, NULL, NULL, NULL, 0,
	  NULL },
	{ "empty", "", 1, 0, ADDR_SYNTAX, NULL, NULL, NULL, 0, NULL },
	{ "only open", "<", 1, 0, ADDR_SYNTAX, NULL, NULL, NULL, 0, NULL },
	{ "postmaster", "<postmaster>", 0, 0, ADDR_NO_DOMAIN, "postmaster",
	  "", "postmaster", 0, "" },
	{ "Postmaster case kept", "<PostMaster>", 0, 0, ADDR_NO_DOMAIN,
	  "PostMaster", "", "PostMaster", 0, "" },
	{ "user no domain", "<alice>", 0, 0, ADDR_NO_DOMAIN, "alice", "",
	  "alice", 0, "" },
	{ "user at nothing", "<alice@>", 0, 0, ADDR_NO_DOMAIN, "alice", "",
	  "alice", 0, "" },

	/* relay tricks: parsed, never interpreted */
	{ "percent hack", "<user%other@example.test>", 0, 0, ADDR_OK,
	  "user%other", "example.test", "user%other@example.test", 0, "" },
	{ "percent hack foreign", "<user%victim.test@example.test>", 0, 0,
	  ADDR_OK, "user%victim.test", "example.test",
	  "user%victim.test@example.test", 0, "" },
	{ "bang path", "<other!user@example.test>", 0, 0, ADDR_OK,
	  "other!user", "example.test", "other!user@example.test", 0, "" },
	{ "source route", "<@a.example,@b.example:user@c.example>", 0, 0,
	  ADDR_OK, "user", "c.example", "user@c.example", F_ROUTE, "" },
	{ "source route short", "<@a,@b:user@c>", 0, 0, ADDR_OK, "user", "c",
	  "user@c", F_ROUTE, "" },
	{ "source route one", "<@relay.test:u@example.test>", 0, 0, ADDR_OK,
	  "u", "example.test", "u@example.test", F_ROUTE, "" },
	{ "source route no local", "<@a.test:>", 1, 0, ADDR_SYNTAX, NULL,
	  NULL, NULL, 0, NULL },
	{ "source route bad host", "<@a b:u@c.test>", 0, 0, ADDR_SYNTAX,
	  NULL, NULL, NULL, 0, NULL },
	{ "source route no colon", "<@a.test,u@c.test>", 0, 0, ADDR_SYNTAX,
	  NULL, NULL, NULL, 0, NULL },
	{ "source route empty hop", "<@a.test,@:u@c.test>", 0, 0,
	  ADDR_SYNTAX, NULL, NULL, NULL, 0, NULL },
	{ "route to postmaster", "<@a.test:postmaster>", 0, 0,
	  ADDR_NO_DOMAIN, "postmaster", "", "postmaster", F_ROUTE, "" },
	{ "quoted at", "<\"user@other\"@example.test>", 0, 0, ADDR_OK,
	  "user@other", "example.test", "\"user@other\"@example.test",
	  F_QUOTED, "" },
	{ "quoted percent bang", "<\"a%b!c\"@example.test>", 0, 0, ADDR_OK,
	  "a%b!c", "example.test", "\"a%b!c\"@example.test", F_QUOTED, "" },
	{ "quoted pair", "<\"a\\\"b\\\\c\"@example.test>", 0, 0, ADDR_OK,
	  "a\"b\\c", "example.test", "\"a\\\"b\\\\c\"@example.test",
	  F_QUOTED, "" },
	{ "quoted space", "<\"john doe\"@example.test>", 0, 0, ADDR_OK,
	  "john doe", "example.test", "\"john doe\"@example.test",
	  F_QUOTED, "" },
	{ "quoted gt", "<\"a>b\"@example.test>", 0, 0, ADDR_OK, "a>b",
	  "example.test", "\"a>b\"@example.test", F_QUOTED, "" },
	{ "quoted empty", "<\"\"@example.test>", 0, 0, ADDR_OK, "",
	  "example.test", "\"\"@example.test", F_QUOTED, "" },
	{ "quoted plain", "<\"alice\"@example.test>", 0, 0, ADDR_OK, "alice",
	  "example.test", "\"alice\"@example.test", F_QUOTED, "" },
	{ "quoted postmaster", "<\"postmaster\">", 0, 0, ADDR_NO_DOMAIN,
	  "postmaster", "", "\"postmaster\"", F_QUOTED, "" },
	{ "quoted unterminated", "<\"abc@example.test>", 0, 0, ADDR_SYNTAX,
	  NULL, NULL, NULL, 0, NULL },
	{ "quoted then junk", "<\"a\"b@example.test>", 0, 0, ADDR_BAD_LOCAL,
	  NULL, NULL, NULL, 0, NULL },
	{ "quoted tab", "<\"a\tb\"@example.test>", 0, 0, ADDR_BAD_LOCAL,
	  NULL, NULL, NULL, 0, NULL },
	{ "quoted pair ctl", "<\"a\\\tb\"@example.test>", 0, 0,
	  ADDR_BAD_LOCAL, NULL, NULL, NULL, 0, NULL },
	{ "trailing dot", "<user@example.test.>", 0, 0, ADDR_OK, "user",
	  "example.test", "user@example.test", F_TDOT, "" },
	{ "two trailing dots", "<user@example.test..>", 0, 0,
	  ADDR_BAD_DOMAIN, NULL, NULL, NULL, 0, NULL },
	{ "only dot", "<user@.>", 0, 0, ADDR_BAD_DOMAIN, NULL, NULL, NULL,
	  0, NULL },
	{ "ipv4 literal", "<user@[192.0.2.1]>", 0, 0, ADDR_OK, "user",
	  "[192.0.2.1]", "user@[192.0.2.1]", F_LITERAL, "" },
	{ "ipv6 literal", "<user@[IPv6:2001:DB8::1]>", 0, 0, ADDR_OK, "user",
	  "[ipv6:2001:db8::1]", "user@[ipv6:2001:db8::1]", F_LITERAL, "" },
	{ "ipv6 mapped", "<u@[IPv6:::ffff:192.0.2.1]>", 0, 0, ADDR_OK, "u",
	  "[ipv6:::ffff:192.0.2.1]", NULL, F_LITERAL, "" },
	{ "bad ipv4 literal", "<user@[192.0.2.256]>", 0, 0, ADDR_BAD_DOMAIN,
	  NULL, NULL, NULL, 0, NULL },
	{ "short ipv4 literal", "<user@[192.0.2]>", 0, 0, ADDR_BAD_DOMAIN,
	  NULL, NULL, NULL, 0, NULL },
	{ "ipv6 without tag", "<user@[2001:db8::1]>", 0, 0, ADDR_BAD_DOMAIN,
	  NULL, NULL, NULL, 0, NULL },
	{ "ipv4 with v6 tag", "<user@[IPv6:192.0.2.1]>", 0, 0,
	  ADDR_BAD_DOMAIN, NULL, NULL, NULL, 0, NULL },
	{ "literal junk after", "<user@[192.0.2.1]x>", 0, 0, ADDR_BAD_DOMAIN,
	  NULL, NULL, NULL, 0, NULL },
	{ "general literal", "<user@[x400:abc]>", 0, 0, ADDR_BAD_DOMAIN,
	  NULL, NULL, NULL, 0, NULL },

	/* local part syntax */
	{ "atext", "<a.b+c-d_e=f'g{h}~i@x.test>", 0, 0, ADDR_OK,
	  "a.b+c-d_e=f'g{h}~i", "x.test", NULL, 0, "" },
	{ "leading dot", "<.a@x.test>", 0, 0, ADDR_BAD_LOCAL, NULL, NULL,
	  NULL, 0, NULL },
	{ "trailing dot local", "<a.@x.test>", 0, 0, ADDR_BAD_LOCAL, NULL,
	  NULL, NULL, 0, NULL },
	{ "double dot", "<a..b@x.test>", 0, 0, ADDR_BAD_LOCAL, NULL, NULL,
	  NULL, 0, NULL },
	{ "space in local", "<a b@x.test>", 0, 0, ADDR_BAD_LOCAL, NULL, NULL,
	  NULL, 0, NULL },
	{ "space after open", "< a@x.test>", 0, 0, ADDR_BAD_LOCAL, NULL,
	  NULL, NULL, 0, NULL },
	{ "ctl in local", "<a\001b@x.test>", 0, 0, ADDR_BAD_LOCAL, NULL,
	  NULL, NULL, 0, NULL },
	{ "comma in local", "<a,b@x.test>", 0, 0, ADDR_BAD_LOCAL, NULL, NULL,
	  NULL, 0, NULL },
	{ "two ats", "<a@b@x.test>", 0, 0, ADDR_BAD_DOMAIN, NULL, NULL, NULL,
	  0, NULL },

	/* domain syntax */
	{ "space in domain", "<a@x .test>", 0, 0, ADDR_SYNTAX, NULL, NULL,
	  NULL, 0, NULL },
	{ "ctl in domain", "<a@x\001.test>", 0, 0, ADDR_SYNTAX, NULL, NULL,
	  NULL, 0, NULL },
	{ "underscore domain", "<a@x_y.test>", 0, 0, ADDR_BAD_DOMAIN, NULL,
	  NULL, NULL, 0, NULL },
	{ "hyphen start", "<a@-x.test>", 0, 0, ADDR_BAD_DOMAIN, NULL, NULL,
	  NULL, 0, NULL },
	{ "hyphen end", "<a@x-.test>", 0, 0, ADDR_BAD_DOMAIN, NULL, NULL,
	  NULL, 0, NULL },
	{ "hyphen inside", "<a@x-y.test>", 0, 0, ADDR_OK, "a", "x-y.test",
	  NULL, 0, "" },
	{ "empty label", "<a@x..test>", 0, 0, ADDR_BAD_DOMAIN, NULL, NULL,
	  NULL, 0, NULL },
	{ "leading dot domain", "<a@.x.test>", 0, 0, ADDR_BAD_DOMAIN, NULL,
	  NULL, NULL, 0, NULL },
	{ "single label", "<a@localhost>", 0, 0, ADDR_OK, "a", "localhost",
	  NULL, 0, "" },

	/* 8-bit */
	{ "8bit local no utf8", "<j\xc3\xb6rg@example.test>", 0, 0,
	  ADDR_NON_ASCII, NULL, NULL, NULL, 0, NULL },
	{ "8bit local utf8", "<j\xc3\xb6rg@example.test>", 0, 1, ADDR_OK,
	  "j\xc3\xb6rg", "example.test", NULL, 0, "" },
	{ "8bit domain no utf8", "<a@b\xc3\xbc" "cher.test>", 0, 0,
	  ADDR_NON_ASCII, NULL, NULL, NULL, 0, NULL },
	{ "8bit domain utf8", "<a@B\xc3\xbc" "cher.test>", 0, 1, ADDR_OK, "a",
	  "b\xc3\xbc" "cher.test", NULL, 0, "" },
	{ "8bit quoted no utf8", "<\"j\xc3\xb6rg\"@example.test>", 0, 0,
	  ADDR_NON_ASCII, NULL, NULL, NULL, 0, NULL },
	{ "8bit quoted utf8", "<\"j\xc3\xb6 rg\"@example.test>", 0, 1,
	  ADDR_OK, "j\xc3\xb6 rg", "example.test", NULL, F_QUOTED, "" },
	{ "bad utf8 local", "<j\xc3rg@example.test>", 0, 1, ADDR_BAD_LOCAL,
	  NULL, NULL, NULL, 0, NULL },
	{ "overlong utf8 local", "<\xc0\xafx@example.test>", 0, 1,
	  ADDR_BAD_LOCAL, NULL, NULL, NULL, 0, NULL },
	{ "bad utf8 domain", "<a@b\xff.test>", 0, 1, ADDR_BAD_DOMAIN, NULL,
	  NULL, NULL, 0, NULL },
	{ "8bit route no utf8", "<@r\xc3\xa9.test:a@b.test>", 0, 0,
	  ADDR_SYNTAX, NULL, NULL, NULL, 0, NULL },
};

static void
check_addr(const struct addr_case *c)
{
	struct addr a;
	const char *rest = NULL;
	enum addr_error e;
	int flags;

	e = addr_parse(c->in, strlen(c->in), c->allow_null, c->utf8, &a,
	    &rest);
	CHECK(e == c->err, "addr %s: error %d want %d", c->name, e, c->err);
	if (e != c->err)
		return;
	if (c->local != NULL)
		CHECK(strcmp(a.local, c->local) == 0,
		    "addr %s: local '%s' want '%s'", c->name, a.local,
		    c->local);
	if (c->domain != NULL)
		CHECK(strcmp(a.domain, c->domain) == 0,
		    "addr %s: domain '%s' want '%s'", c->name, a.domain,
		    c->domain);
	if (c->text != NULL)
		CHECK(strcmp(a.text, c->text) == 0,
		    "addr %s: text '%s' want '%s'", c->name, a.text, c->text);
	if (c->rest != NULL)
		CHECK(rest != NULL && strcmp(rest, c->rest) == 0,
		    "addr %s: rest '%s' want '%s'", c->name,
		    rest ? rest : "(null)", c->rest);
	if (e != ADDR_OK && e != ADDR_NO_DOMAIN)
		return;
	flags = (a.null ? F_NULL : 0) | (a.quoted ? F_QUOTED : 0) |
	    (a.route ? F_ROUTE : 0) | (a.literal ? F_LITERAL : 0) |
	    (a.trailing_dot ? F_TDOT : 0);
	CHECK(flags == c->flags, "addr %s: flags %#x want %#x", c->name,
	    flags, c->flags);
}

/* Build "<" local "@" domain ">" with parts of exact lengths. */
static size_t
make_path(char *buf, size_t llen, size_t dlen, int quoted)
{
	size_t n = 0, i;

	buf[n++] = '<';
	if (quoted) {
		buf[n++] = '"';
		for (i = 0; i < llen - 2; i++)
			buf[n++] = i % 7 == 3 ? '@' : 'q';
		buf[n++] = '"';
	} else
		for (i = 0; i < llen; i++)
			buf[n++] = 'l';
	if (dlen > 0) {
		buf[n++] = '@';
		/* labels of 49 letters between dots */
		for (i = 0; i < dlen; i++)
			buf[n++] = (i % 50 == 49 && i + 1 < dlen) ? '.' : 'd';
	}
	buf[n++] = '>';
	buf[n] = '\0';
	return n;
}

struct len_case {
	const char	*name;
	size_t		 llen, dlen;
	int		 quoted;
	enum addr_error	 err;
};

/* The path is local + domain + 3 ("<", "@", ">"): 256 needs both big. */
static const struct len_case len_cases[] = {
	{ "local 64", 64, 20, 0, ADDR_OK },
	{ "local 65", 65, 20, 0, ADDR_TOO_LONG },
	{ "quoted local 64", 64, 20, 1, ADDR_OK },
	{ "quoted local 65", 65, 20, 1, ADDR_TOO_LONG },
	{ "local 65 no domain", 65, 0, 0, ADDR_TOO_LONG },
	{ "path 256", 64, 189, 0, ADDR_OK },
	{ "path 257", 64, 190, 0, ADDR_TOO_LONG },
	{ "quoted path 256", 64, 189, 1, ADDR_OK },
	{ "quoted path 257", 64, 190, 1, ADDR_TOO_LONG },
	{ "domain 256", 1, 256, 0, ADDR_TOO_LONG },
	{ "domain 1000", 1, 1000, 0, ADDR_TOO_LONG },
};

static void
test_lengths(void)
{
	char buf[2048];
	struct addr a;
	const char *rest;
	const struct len_case *c;
	enum addr_error e;
	size_t i, n;

	for (i = 0; i < sizeof(len_cases) / sizeof(len_cases[0]); i++) {
		c = &len_cases[i];
		n = make_path(buf, c->llen, c->dlen, c->quoted);
		e = addr_parse(buf, n, 0, 0, &a, &rest);
		CHECK(e == c->err, "len %s: error %d want %d (%s)", c->name,
		    e, c->err, buf);
		if (e == ADDR_OK)
			CHECK(strlen(a.domain) == c->dlen &&
			    strlen(a.text) == c->llen + 1 + c->dlen,
			    "len %s: stored lengths", c->name);
	}
}

struct dom_case {
	const char	*name;
	const char	*in;
	int		 valid;
	int		 fqdn;
};

static const struct dom_case dom_cases[] = {
	{ "fqdn", "mx.example.test", 1, 1 },
	{ "single label", "localhost", 1, 0 },
	{ "numeric tld", "1.2.3.4", 1, 0 },
	{ "digit label ok", "3com.test", 1, 1 },
	{ "numeric then alpha", "mx.123a", 1, 1 },
	{ "trailing dot", "example.test.", 0, 0 },
	{ "empty", "", 0, 0 },
	{ "dot", ".", 0, 0 },
	{ "underscore", "a_b.test", 0, 0 },
	{ "hyphen edge", "a.-b.test", 0, 0 },
	{ "space", "a b.test", 0, 0 },
	{ "bracketed", "[192.0.2.1]", 0, 0 },
	{ "8bit", "b\xc3\xbc.test", 0, 0 },
};

static void
test_domains(void)
{
	const struct dom_case *c;
	char big[300];
	size_t i;

	for (i = 0; i < sizeof(dom_cases) / sizeof(dom_cases[0]); i++) {
		c = &dom_cases[i];
		CHECK(domain_valid(c->in, strlen(c->in)) == c->valid,
		    "domain_valid %s", c->name);
		CHECK(domain_fqdn(c->in, strlen(c->in)) == c->fqdn,
		    "domain_fqdn %s", c->name);
	}
	/* label 63 and 64 */
	memset(big, 'a', 64);
	memcpy(big + 64, ".test", 6);
	CHECK(domain_valid(big + 1, 63 + 5), "label 63");
	CHECK(!domain_valid(big, 64 + 5), "label 64");
	/* total 255 and 256: four labels of 63 + three dots = 255 */
	for (i = 0; i < 256; i++)
		big[i] = (i % 64 == 63) ? '.' : 'b';
	CHECK(domain_valid(big, 255), "domain 255");
	big[255] = 'c';
	CHECK(!domain_valid(big, 256), "domain 256");
}

struct lit_case {
	const char	*name;
	const char	*in;
	int		 af;
	const char	*ip;
};

static const struct lit_case lit_cases[] = {
	{ "v4", "[192.0.2.1]", AF_INET, "192.0.2.1" },
	{ "v6", "[IPv6:2001:db8::1]", AF_INET6, "2001:db8::1" },
	{ "v6 tag case", "[ipv6:2001:DB8:0:0::1]", AF_INET6, "2001:db8::1" },
	{ "v4 leading zero", "[192.0.2.01]", -1, NULL },
	{ "v4 too many", "[1.2.3.4.5]", -1, NULL },
	{ "no brackets", "192.0.2.1", -1, NULL },
	{ "empty", "[]", -1, NULL },
	{ "tag only", "[IPv6:]", -1, NULL },
	{ "spaces", "[ 192.0.2.1]", -1, NULL },
	{ "v6 junk", "[IPv6:2001:db8::g]", -1, NULL },
	{ "very long", "[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000]",
	  -1, NULL },
};

static void
test_literals(void)
{
	const struct lit_case *c;
	char ip[64];
	size_t i;
	int af;

	for (i = 0; i < sizeof(lit_cases) / sizeof(lit_cases[0]); i++) {
		c = &lit_cases[i];
		af = addr_literal(c->in, strlen(c->in), ip, sizeof(ip));
		CHECK(af == c->af, "literal %s: %d want %d", c->name, af,
		    c->af);
		if (af != -1 && c->ip != NULL)
			CHECK(strcmp(ip, c->ip) == 0,
			    "literal %s: '%s' want '%s'", c->name, ip, c->ip);
	}
	CHECK(addr_literal("[192.0.2.1]", 11, ip, 4) == -1,
	    "literal: small buffer refused");
	CHECK(addr_literal("[IPv6:::1]", 10, NULL, 0) == AF_INET6,
	    "literal: validate only");
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++)
		check_addr(&addr_cases[i]);
	test_lengths();
	test_domains();
	test_literals();
	T_DONE();
}
