/*
 * test_map: the map compiler (errors with file:line, key normalisation,
 * install discipline) and the reader (exact, longest prefix, domain
 * suffix, corrupt and truncated cdb files).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../conf/map.h"
#include "t.h"

static char tmpdir[PATH_MAX];
static char text[PATH_MAX + 32], cdbpath[PATH_MAX + 32], tmppath[PATH_MAX + 32];

static void
write_bytes(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL || fwrite(data, 1, len, fp) != len ||
	    fclose(fp) == EOF) {
		perror(path);
		exit(1);
	}
}

static void
write_text(const char *s)
{
	write_bytes(text, s, strlen(s));
}

static int
compile(const char *s, int keep_case, int cidr, unsigned *n, char *err,
    size_t errsize)
{
	write_text(s);
	err[0] = '\0';
	return map_compile(text, keep_case, cidr, n, err, errsize);
}

/* Compile s and open the result; exits on failure (setup, not a test). */
static void
open_map(struct map *m, const char *s, int keep_case, int cidr)
{
	char err[1024];
	unsigned n;

	if (compile(s, keep_case, cidr, &n, err, sizeof(err)) == -1) {
		fprintf(stderr, "setup compile: %s\n", err);
		exit(1);
	}
	if (map_open_path(m, cdbpath) == -1) {
		perror(cdbpath);
		exit(1);
	}
}

/* ---- compile errors ---- */

struct err_case {
	const char	*name;
	const char	*text;
	int		 cidr;
	const char	*err;	/* expected in the message after the file name */
};

static char longkey[MAP_KEY_MAX + 16], longval[MAP_VALUE_MAX + 16];

static const struct err_case err_cases[] = {
	{ "duplicate key", "a x\nb y\n\n# c\nA z\n", 0,
	    ":5: duplicate key a (first at line 1)" },
	{ "duplicate same case", "a@b.test x\na@b.test x\n", 0,
	    ":2: duplicate key a@b.test (first at line 1)" },
	{ "host bits set", "192.0.2.0/25 OK\n192.0.2.1/24 REJECT\n", 1,
	    ":2: host bits set in \"192.0.2.1/24\" (the network is "
	    "192.0.2.0/24)" },
	{ "host bits v6", "2001:db8::1/32 REJECT\n", 1,
	    ":1: host bits set in \"2001:db8::1/32\"" },
	{ "prefix too long v4", "192.0.2.0/33 OK\n", 1,
	    ":1: bad prefix length" },
	{ "prefix too long v6", "2001:db8::/129 OK\n", 1,
	    ":1: bad prefix length" },
	{ "prefix negative", "192.0.2.0/-1 OK\n", 1, ":1: bad prefix length" },
	{ "prefix empty", "192.0.2.0/ OK\n", 1, ":1: bad prefix length" },
	{ "prefix junk", "192.0.2.0/24x OK\n", 1, ":1: bad prefix length" },
	{ "not an address", "example.com OK\n", 1,
	    ":1: \"example.com\" is not an IP address" },
	{ "short address", "192.0.2 OK\n", 1, "is not an IP address" },
	{ "duplicate after normalising", "192.0.2.1/32 OK\n192.0.2.1 X\n",
	    1, ":2: duplicate key 192.0.2.1 (first at line 1)" },
	{ "duplicate v4-mapped", "192.0.2.1 OK\n::ffff:192.0.2.1 X\n", 1,
	    ":2: duplicate key 192.0.2.1 (first at line 1)" },
	{ "duplicate v6 spelling", "2001:db8::/32 OK\n2001:DB8:0::/32 X\n",
	    1, ":2: duplicate key 2001:db8::/32 (first at line 1)" },
	{ "control in value", "a b\x01" "c\n", 0,
	    ":1: control character 0x01 in value" },
	{ "control in key", "a\x7f" "b c\n", 0,
	    ":1: control character 0x7f in key" },
	{ "NUL byte", NULL, 0, ":2: NUL byte" },
	{ "long key", NULL, 0, ":1: key longer than" },
	{ "long value", NULL, 0, ":1: value longer than" },
};

static void
test_compile_errors(void)
{
	char err[2048], installed[64];
	size_t i;
	unsigned n;
	int fd;

	/* an installed map that every failed compile must leave alone */
	write_text("keep me\n");
	CHECK(map_compile(text, 0, 0, &n, err, sizeof(err)) == 0 && n == 1,
	    "setup: %s", err);
	memset(longkey, 'k', MAP_KEY_MAX);
	memcpy(longkey + MAP_KEY_MAX, " v\n", 4);
	memcpy(longval, "k ", 2);
	memset(longval + 2, 'v', MAP_VALUE_MAX);
	memcpy(longval + 2 + MAP_VALUE_MAX, "\n", 2);

	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *c = &err_cases[i];
		struct map m;
		int r;

		if (strcmp(c->name, "NUL byte") == 0)
			write_bytes(text, "a b\nc\0d e\n", 10);
		else if (strcmp(c->name, "long key") == 0)
			write_text(longkey);
		else if (strcmp(c->name, "long value") == 0)
			write_text(longval);
		else
			write_text(c->text);
		err[0] = '\0';
		r = map_compile(text, 0, c->cidr, &n, err, sizeof(err));
		CHECK(r == -1, "compile error %s: compiled", c->name);
		CHECK(strncmp(err, text, strlen(text)) == 0 &&
		    strstr(err, c->err) != NULL,
		    "compile error %s: message \"%s\" lacks \"%s\"", c->name,
		    err, c->err);
		CHECK(access(tmppath, F_OK) == -1 && errno == ENOENT,
		    "compile error %s: left the tmp file", c->name);
		CHECK(map_open_path(&m, cdbpath) == 0 &&
		    map_get(&m, "keep", installed, sizeof(installed)) == 1 &&
		    strcmp(installed, "me") == 0,
		    "compile error %s: installed map damaged", c->name);
		map_close(&m);
	}
	/* a missing text file is an error naming it */
	(void)unlink(text);
	CHECK(map_compile(text, 0, 0, &n, err, sizeof(err)) == -1 &&
	    strstr(err, "No such file") != NULL, "missing text: %s", err);
	fd = open(cdbpath, O_RDONLY);
	CHECK(fd != -1, "missing text removed the cdb");
	if (fd != -1)
		close(fd);
}

/* ---- exact lookups ---- */

struct get_case {
	const char	*name;
	const char	*key;
	int		 want;		/* map_get's return */
	const char	*val;
};

static const struct get_case get_cases[] = {
	{ "folded at compile",	"alice@example.test",	1, "maildir:alice/" },
	{ "lookup is exact",	"Alice@example.test",	0, NULL },
	{ "value trimmed",	"bob@example.test",	1, "maildir:bob/  x" },
	{ "tab separated",	"carol@example.test",	1, "maildir:carol/" },
	{ "empty value",	"empty@example.test",	1, "" },
	{ "catch-all key",	"@example.test",	1, "maildir:all/" },
	{ "hash in value",	"hash",			1, "REJECT see #5" },
	{ "comment not a key",	"#",			0, NULL },
	{ "commented entry",	"dave@example.test",	0, NULL },
	{ "empty key",		"",			0, NULL },
	{ "absent",		"nobody@example.test",	0, NULL },
	{ "prefix of a key",	"alice",		0, NULL },
	{ "key too long",	NULL,			0, NULL },
};

static void
test_exact(void)
{
	char val[MAP_VALUE_MAX], big[MAP_KEY_MAX + 8];
	struct map m;
	size_t i;

	open_map(&m,
	    "# recipients\n"
	    "\n"
	    "Alice@Example.TEST   maildir:alice/\n"
	    "   bob@example.test maildir:bob/  x   \r\n"
	    "carol@example.test\tmaildir:carol/\n"
	    "empty@example.test\n"
	    "@example.test maildir:all/\n"
	    "hash REJECT see #5\n"
	    "  # dave@example.test maildir:dave/\n", 0, 0);
	CHECK(m.nrecords == 6, "exact: %u records", m.nrecords);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < sizeof(get_cases) / sizeof(get_cases[0]); i++) {
		const struct get_case *c = &get_cases[i];
		const char *key = c->key != NULL ? c->key : big;
		int r;

		strcpy(val, "unchanged");
		r = map_get(&m, key, val, sizeof(val));
		CHECK(r == c->want, "get %s: returned %d", c->name, r);
		if (r == 1 && c->val != NULL)
			CHECK(strcmp(val, c->val) == 0, "get %s: \"%s\"",
			    c->name, val);
	}
	/* value too long for the buffer: -1, and the exact fit works */
	CHECK(map_get(&m, "alice@example.test", val, 14) == -1,
	    "value longer than the buffer");
	CHECK(map_get(&m, "alice@example.test", val, 15) == 1 &&
	    strcmp(val, "maildir:alice/") == 0, "value exactly fits");
	CHECK(map_get(&m, "empty@example.test", val, 1) == 1 && val[0] == 0,
	    "empty value in a 1-byte buffer");
	CHECK(map_get(&m, "alice@example.test", NULL, 0) == 1,
	    "presence test");
	map_close(&m);
	CHECK(map_get(&m, "alice@example.test", val, sizeof(val)) == 0,
	    "closed map finds nothing");
}

static void
test_keep_case(void)
{
	char val[64];
	struct map m;

	open_map(&m, "Alice@Example.TEST a\nBOB b\n@Example.Test c\n", 1, 0);
	CHECK(map_get(&m, "Alice@example.test", val, sizeof(val)) == 1,
	    "keep case: local part kept, domain lowered");
	CHECK(map_get(&m, "alice@example.test", val, sizeof(val)) == 0,
	    "keep case: local part is case-sensitive");
	CHECK(map_get(&m, "BOB", val, sizeof(val)) == 1,
	    "keep case: no '@' kept as written");
	CHECK(map_get(&m, "@example.test", val, sizeof(val)) == 1,
	    "keep case: catch-all domain lowered");
	map_close(&m);
}

/* ---- addresses ---- */

static void
sockaddr_of(const char *ip, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
	} else {
		fprintf(stderr, "bad test address %s\n", ip);
		exit(1);
	}
}

struct addr_case {
	const char	*name;
	const char	*ip;
	int		 want;
	const char	*val;
	const char	*matched;
};

static const struct addr_case addr_cases[] = {
	{ "v4 host",		"192.0.2.200",	1, "host", "192.0.2.200" },
	{ "v4 longer net",	"192.0.2.129",	1, "half", "192.0.2.128/25" },
	{ "v4 shorter net",	"192.0.2.1",	1, "net", "192.0.2.0/24" },
	{ "v4 network addr",	"192.0.2.0",	1, "net", "192.0.2.0/24" },
	{ "v4 default",		"198.51.100.7",	1, "all", "0.0.0.0/0" },
	{ "v4 /31 edge",	"203.0.113.1",	1, "pair", "203.0.113.0/31" },
	{ "v4 /31 past",	"203.0.113.2",	1, "all", "0.0.0.0/0" },
	{ "v4-mapped host",	"::ffff:192.0.2.200", 1, "host", "192.0.2.200" },
	{ "v4-mapped net",	"::ffff:192.0.2.5", 1, "net", "192.0.2.0/24" },
	{ "v6 host",		"2001:db8:1::5", 1, "v6host", "2001:db8:1::5" },
	{ "v6 /48",		"2001:db8:1::6", 1, "v6sub", "2001:db8:1::/48" },
	{ "v6 /32",		"2001:db8:2::", 1, "v6net", "2001:db8::/32" },
	{ "v6 outside",		"2001:db9::1",	0, NULL, NULL },
	{ "v6 loopback",	"::1",		0, NULL, NULL },
	{ "v6 /127 edge",	"2001:db8:ff::1", 1, "v6pair", "2001:db8:ff::/127" },
};

static void
test_addr(void)
{
	char val[64], matched[MAP_KEY_MAX];
	struct map m;
	size_t i;

	open_map(&m,
	    "192.0.2.0/24 net\n"
	    "192.0.2.128/25 half\n"
	    "192.0.2.200/32 host\n"
	    "0.0.0.0/0 all\n"
	    "203.0.113.0/31 pair\n"
	    "2001:DB8::/32 v6net\n"
	    "2001:db8:1:0::/48 v6sub\n"
	    "2001:db8:1::5 v6host\n"
	    "2001:db8:ff::/127 v6pair\n", 0, 1);
	for (i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct sockaddr_storage ss;
		int r;

		sockaddr_of(c->ip, &ss);
		matched[0] = '\0';
		r = map_get_addr(&m, (struct sockaddr *)&ss, val, sizeof(val),
		    matched, sizeof(matched));
		CHECK(r == c->want, "addr %s: returned %d", c->name, r);
		if (r == 1 && c->want == 1)
			CHECK(strcmp(val, c->val) == 0 &&
			    strcmp(matched, c->matched) == 0,
			    "addr %s: %s matched %s", c->name, val, matched);
	}
	map_close(&m);
}

struct key_case {
	const char	*name;
	const char	*ip;
	unsigned	 len;
	const char	*want;		/* NULL: -1 */
};

static const struct key_case key_cases[] = {
	{ "v4 full",		"192.0.2.77",	32,	"192.0.2.77" },
	{ "v4 /24 masks",	"192.0.2.77",	24,	"192.0.2.0/24" },
	{ "v4 /25 masks",	"192.0.2.200",	25,	"192.0.2.128/25" },
	{ "v4 /0",		"192.0.2.77",	0,	"0.0.0.0/0" },
	{ "v4 /33",		"192.0.2.77",	33,	NULL },
	{ "v6 full",		"2001:db8::1",	128,	"2001:db8::1" },
	{ "v6 /64",		"2001:db8:1:2:3::1", 64, "2001:db8:1:2::/64" },
	{ "v6 /0",		"2001:db8::1",	0,	"::/0" },
	{ "v6 /129",		"2001:db8::1",	129,	NULL },
	{ "v4-mapped /128",	"::ffff:10.1.2.3", 128,	"10.1.2.3" },
	{ "v4-mapped /120",	"::ffff:10.1.2.3", 120,	"10.1.2.0/24" },
	{ "v4-mapped /96",	"::ffff:10.1.2.3", 96,	"0.0.0.0/0" },
};

static void
test_addr_key(void)
{
	char key[MAP_KEY_MAX];
	size_t i;

	for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		struct sockaddr_storage ss;
		int r;

		sockaddr_of(c->ip, &ss);
		r = map_addr_key((struct sockaddr *)&ss, c->len, key,
		    sizeof(key));
		if (c->want == NULL) {
			CHECK(r == -1, "addr key %s: accepted", c->name);
			continue;
		}
		CHECK(r == 0 && strcmp(key, c->want) == 0,
		    "addr key %s: %d \"%s\"", c->name, r, r == 0 ? key : "");
	}
	{
		struct sockaddr_storage ss;

		sockaddr_of("192.0.2.77", &ss);
		CHECK(map_addr_key((struct sockaddr *)&ss, 24, key, 12) == -1,
		    "addr key: small buffer refused");
	}
}

/* ---- domains ---- */

static const struct addr_case dom_cases[] = {
	{ "exact",		"example.com",	1, "exact", "example.com" },
	{ "exact any case",	"EXAMPLE.Com",	1, "exact", "example.com" },
	{ "trailing dot",	"example.com.",	1, "exact", "example.com" },
	{ "exact no parents",	"a.example.com", 0, NULL, NULL },
	{ "suffix",		"a.example.net", 1, "sub", ".example.net" },
	{ "deep suffix",	"a.b.c.example.net", 1, "sub", ".example.net" },
	{ "suffix not self",	"example.net",	0, NULL, NULL },
	{ "nearest suffix",	"x.deep.example.net", 1, "deep",
	    ".deep.example.net" },
	{ "exact beats suffix",	"host.example.net", 1, "host",
	    "host.example.net" },
	{ "tld suffix",		"foo.invalid",	1, "tld", ".invalid" },
	{ "literal",		"[192.0.2.1]",	0, NULL, NULL },
	{ "empty",		"",		0, NULL, NULL },
	{ "dot only",		".",		0, NULL, NULL },
};

static void
test_domain(void)
{
	char val[64], matched[MAP_KEY_MAX];
	struct map m;
	size_t i;

	open_map(&m,
	    "Example.COM exact\n"
	    ".example.net sub\n"
	    ".deep.example.net deep\n"
	    "host.example.net host\n"
	    ".invalid tld\n", 0, 0);
	for (i = 0; i < sizeof(dom_cases) / sizeof(dom_cases[0]); i++) {
		const struct addr_case *c = &dom_cases[i];
		int r;

		matched[0] = '\0';
		r = map_get_domain(&m, c->ip, val, sizeof(val), matched,
		    sizeof(matched));
		CHECK(r == c->want, "domain %s: returned %d", c->name, r);
		if (r == 1 && c->want == 1)
			CHECK(strcmp(val, c->val) == 0 &&
			    strcmp(matched, c->matched) == 0,
			    "domain %s: %s matched %s", c->name, val, matched);
	}
	CHECK(map_get_domain(&m, "a.example.net", val, 2, NULL, 0) == -1,
	    "domain: value too long");
	map_close(&m);
}

/* ---- corrupt and truncated files ---- */

static long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == -1 ? -1 : (long)st.st_size;
}

static void
read_all(const char *path, unsigned char *buf, size_t *len, size_t max)
{
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	*len = fread(buf, 1, max, fp);
	fclose(fp);
}

static void
put32(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Either refused at open, or every lookup is safe (ASan watches). */
static void
probe(const char *name, const unsigned char *data, size_t len,
    int must_refuse)
{
	char val[MAP_VALUE_MAX], matched[MAP_KEY_MAX];
	struct sockaddr_storage ss;
	struct map m;
	int r;

	write_bytes(cdbpath, data, len);
	r = map_open_path(&m, cdbpath);
	if (must_refuse)
		CHECK(r == -1, "corrupt %s: opened", name);
	if (r == -1)
		return;
	sockaddr_of("192.0.2.1", &ss);
	(void)map_get(&m, "alice@example.test", val, sizeof(val));
	(void)map_get(&m, "k", val, sizeof(val));
	(void)map_get_domain(&m, "a.b.example.test", val, sizeof(val),
	    matched, sizeof(matched));
	(void)map_get_addr(&m, (struct sockaddr *)&ss, val, sizeof(val),
	    matched, sizeof(matched));
	map_close(&m);
	CHECK(1, "corrupt %s", name);
}

static void
test_corrupt(void)
{
	static unsigned char good[8192], bad[8192];
	size_t len, i;
	char err[512];
	unsigned n;
	struct map m;

	CHECK(compile("alice@example.test maildir:alice/\nk v\n", 0, 0, &n,
	    err, sizeof(err)) == 0, "corrupt setup: %s", err);
	read_all(cdbpath, good, &len, sizeof(good));
	CHECK(len > 2048 && len < sizeof(good), "cdb size %zu", len);

	probe("empty file", good, 0, 1);
	probe("shorter than the table of contents", good, 100, 1);
	probe("toc only", good, 2047, 1);
	/* cut in the middle of the data and of the hash tables */
	probe("cut after the toc", good, 2048 + 4, 1);
	probe("cut in the index", good, len - 4, 1);

	/* a table pointing past the end of the file */
	memcpy(bad, good, len);
	for (i = 0; i < 256; i++)
		put32(bad + 8 * i, 0xfffffff0u);
	probe("tables past the end", bad, len, 1);

	/* huge slot counts */
	memcpy(bad, good, len);
	for (i = 0; i < 256; i++)
		put32(bad + 8 * i + 4, 0x7fffffffu);
	probe("huge tables", bad, len, 1);

	/* a record whose key length runs off the end */
	memcpy(bad, good, len);
	put32(bad + 2048, 0xffffff00u);
	probe("key length past the end", bad, len, 1);
	memcpy(bad, good, len);
	put32(bad + 2048 + 4, 0xfffffff8u);
	probe("value length past the end", bad, len, 1);

	/* noise: refused or safe, never a crash */
	srand(7);
	for (i = 0; i < 200; i++) {
		size_t j, flips = 1 + (size_t)rand() % 8;

		memcpy(bad, good, len);
		for (j = 0; j < flips; j++)
			bad[(size_t)rand() % len] ^=
			    (unsigned char)(1 + rand() % 255);
		probe("bit flips", bad, len, 0);
	}
	for (i = 0; i < sizeof(bad); i++)
		bad[i] = (unsigned char)rand();
	probe("random bytes", bad, sizeof(bad), 0);

	/* not a regular file */
	CHECK(map_open_path(&m, tmpdir) == -1, "a folder opened as a map");
	CHECK(map_open_path(&m, "/nonexistent/x.cdb") == -1 &&
	    errno == ENOENT, "missing cdb");
	CHECK(map_count_path("/nonexistent/x.cdb") == -1, "count missing");
	(void)unlink(cdbpath);
}

/* ---- install discipline ---- */

static void
test_install(void)
{
	char err[512], val[64];
	unsigned n = 0;
	struct map m, old;

	CHECK(compile("a 1\nb 2\nc 3\n", 0, 0, &n, err, sizeof(err)) == 0 &&
	    n == 3, "install setup: %s", err);
	CHECK(map_count_path(cdbpath) == 3, "count after install");
	CHECK(access(tmppath, F_OK) == -1, "tmp left after install");
	CHECK(map_text_newer(text) == 0, "text not newer after compile");

	/* compile without installing: the installed map is untouched */
	write_text("a 1\n");
	CHECK(map_compile_tmp(text, 0, 0, NULL, &n, err, sizeof(err)) == 0 &&
	    n == 1, "compile tmp: %s", err);
	CHECK(map_count_path(cdbpath) == 3 && map_count_path(tmppath) == 1,
	    "tmp compile changed the installed map");
	map_discard(text);
	CHECK(access(tmppath, F_OK) == -1, "discard left the tmp file");

	/* a stale tmp file from a crash is replaced */
	write_bytes(tmppath, "junk", 4);
	CHECK(map_compile_tmp(text, 0, 0, NULL, &n, err, sizeof(err)) == 0,
	    "stale tmp: %s", err);
	CHECK(map_count_path(tmppath) == 1, "stale tmp not rewritten");

	/* install: a reader of the old map sees the replacement */
	CHECK(map_open_path(&old, cdbpath) == 0, "open old");
	CHECK(map_replaced(&old) == 0, "fresh map reported replaced");
	CHECK(map_install(text, err, sizeof(err)) == 0, "install: %s", err);
	CHECK(map_replaced(&old) == 1, "replacement not noticed");
	CHECK(map_get(&old, "b", val, sizeof(val)) == 1,
	    "old map unreadable after replacement");
	map_close(&old);
	CHECK(map_open_path(&m, cdbpath) == 0 && m.nrecords == 1 &&
	    map_get(&m, "b", val, sizeof(val)) == 0, "new map not live");
	map_close(&m);
	CHECK(map_install(text, err, sizeof(err)) == -1 &&
	    strstr(err, "rename") != NULL, "install without tmp: %s", err);

	/* an empty map is valid */
	CHECK(compile("# nothing\n\n", 0, 0, &n, err, sizeof(err)) == 0 &&
	    n == 0 && map_count_path(cdbpath) == 0, "empty map: %s", err);
	CHECK(file_size(cdbpath) == 2048, "empty cdb is the toc alone");
	CHECK(map_open_path(&m, cdbpath) == 0 &&
	    map_get(&m, "a", val, sizeof(val)) == 0, "empty map lookup");
	map_close(&m);

	/* a text newer than its cdb is reported */
	{
		struct timespec ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };

		ts[1].tv_sec = time(NULL) + 10;
		ts[1].tv_nsec = 0;
		CHECK(utimensat(AT_FDCWD, text, ts, 0) == 0, "utimensat");
		CHECK(map_text_newer(text) == 1, "newer text not noticed");
	}
	(void)unlink(cdbpath);
	CHECK(map_text_newer(text) == 1, "missing cdb is not stale");
	(void)unlink(text);
	CHECK(map_text_newer(text) == -1, "missing text");
}

/* ---- the caller's value check ---- */

static int
only_ok(const char *value, char *why, size_t whysize)
{
	if (strcmp(value, "OK") == 0)
		return 0;
	snprintf(why, whysize, "not OK");
	return -1;
}

static void
test_value_check(void)
{
	char err[512];
	unsigned n = 0;

	write_text("a OK\n# b bad\nB  bad  \n");
	CHECK(map_compile_tmp(text, 0, 0, only_ok, &n, err,
	    sizeof(err)) == -1 && strstr(err, ":3: B: bad value \"bad\": "
	    "not OK") != NULL, "value check: %s", err);
	CHECK(access(tmppath, F_OK) == -1, "value check left the tmp file");
	write_text("a OK\nb OK\n");
	CHECK(map_compile_tmp(text, 0, 0, only_ok, &n, err,
	    sizeof(err)) == 0 && n == 2, "value check passes: %s", err);
	map_discard(text);
	(void)unlink(text);
}

/* ---- a bigger map: every key found, counts right ---- */

static void
test_many(void)
{
	char err[512], key[64], val[64], want[64];
	unsigned n = 0, i, bad = 0;
	struct map m;
	FILE *fp = fopen(text, "w");

	if (fp == NULL) {
		perror(text);
		exit(1);
	}
	for (i = 0; i < 20000; i++)
		fprintf(fp, "user%u@example.test maildir:u%u/\n", i, i);
	fclose(fp);
	CHECK(map_compile(text, 0, 0, &n, err, sizeof(err)) == 0 &&
	    n == 20000, "many: %s", err);
	CHECK(map_open_path(&m, cdbpath) == 0 && m.nrecords == 20000,
	    "many: records %u", m.nrecords);
	for (i = 0; i < 20000; i++) {
		snprintf(key, sizeof(key), "user%u@example.test", i);
		snprintf(want, sizeof(want), "maildir:u%u/", i);
		if (map_get(&m, key, val, sizeof(val)) != 1 ||
		    strcmp(val, want) != 0)
			bad++;
	}
	CHECK(bad == 0, "many: %u lookups wrong", bad);
	map_close(&m);
	(void)unlink(text);
	(void)unlink(cdbpath);
}

int
main(void)
{
	char tmpl[] = "/tmp/moat-test-map.XXXXXX";

	if (mkdtemp(tmpl) == NULL || realpath(tmpl, tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(text, sizeof(text), "%s/map", tmpdir);
	snprintf(cdbpath, sizeof(cdbpath), "%s/map.cdb", tmpdir);
	snprintf(tmppath, sizeof(tmppath), "%s/map.cdb.tmp", tmpdir);

	test_compile_errors();
	test_exact();
	test_keep_case();
	test_addr();
	test_addr_key();
	test_domain();
	test_corrupt();
	test_install();
	test_value_check();
	test_many();

	(void)unlink(text);
	(void)unlink(cdbpath);
	(void)unlink(tmppath);
	if (rmdir(tmpdir) == -1)
		perror(tmpdir);
	T_DONE();
}
