/*
 * test_rcptmap: the recipient lookup chain (exact, +detail, postmaster,
 * catch-all), with local-part folding on and off, and the absent map.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cdb.h>

#include "t.h"
#include "../../conf/map.h"
#include "../../conf/rcptmap.h"

struct entry {
	const char	*key;
	const char	*val;
};

/* Build a cdb from entries in a temporary file and open it as a map. */
static int
open_map(struct map *m, const struct entry *e, char *path, size_t pathsize)
{
	struct cdb_make cm;
	int fd;

	snprintf(path, pathsize, "/tmp/test_rcptmap.XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	cdb_make_start(&cm, fd);
	for (; e->key != NULL; e++)
		cdb_make_add(&cm, e->key, (unsigned)strlen(e->key), e->val,
		    (unsigned)strlen(e->val));
	if (cdb_make_finish(&cm) != 0 || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -1;
	}
	return map_open_fd(m, fd);
}

/* Folded map: keys stored lower-case. */
static const struct entry folded[] = {
	{ "alice@example.test",	"maildir:alice/" },
	{ "bob@example.test",	"maildir:bob/" },
	{ "bob+lists@example.test", "maildir:bob-lists/" },
	{ "@catch.test",	"maildir:catch/" },
	{ "postmaster",		"maildir:pm/" },
	{ "postmaster@other.test", "maildir:pm-other/" },
	{ NULL, NULL },
};

/* Case-sensitive map: keys as written. */
static const struct entry exact[] = {
	{ "Alice@example.test",	"maildir:Alice/" },
	{ "alice@example.test",	"maildir:alice/" },
	{ "postmaster",		"maildir:pm/" },
	{ NULL, NULL },
};

/* No postmaster, only a catch-all. */
static const struct entry catchonly[] = {
	{ "@example.test",	"maildir:catch/" },
	{ NULL, NULL },
};

struct tcase {
	const char	*name;
	const struct entry *map;
	const char	*local;
	const char	*domain;
	int		 fold;
	int		 want;
	const char	*val;
	const char	*matched;
};

static const struct tcase cases[] = {
	{ "exact", folded, "alice", "example.test", 1, 1,
	    "maildir:alice/", "alice@example.test" },
	{ "exact upper-case folded", folded, "ALICE", "Example.TEST", 1, 1,
	    "maildir:alice/", "alice@example.test" },
	{ "unknown", folded, "carol", "example.test", 1, 0, NULL, NULL },
	{ "detail stripped", folded, "alice+news", "example.test", 1, 1,
	    "maildir:alice/", "alice@example.test" },
	{ "detail exact entry wins", folded, "bob+lists", "example.test", 1,
	    1, "maildir:bob-lists/", "bob+lists@example.test" },
	{ "detail unknown base", folded, "carol+x", "example.test", 1, 0,
	    NULL, NULL },
	{ "detail only separator", folded, "+x", "example.test", 1, 0,
	    NULL, NULL },
	{ "double detail", folded, "alice+a+b", "example.test", 1, 1,
	    "maildir:alice/", "alice@example.test" },
	{ "catch-all", folded, "anyone", "catch.test", 1, 1,
	    "maildir:catch/", "@catch.test" },
	{ "catch-all other domain misses", folded, "anyone", "nope.test", 1,
	    0, NULL, NULL },
	{ "postmaster at domain", folded, "postmaster", "example.test", 1, 1,
	    "maildir:pm/", "postmaster" },
	{ "postmaster any case", folded, "PostMaster", "example.test", 1, 1,
	    "maildir:pm/", "postmaster" },
	{ "postmaster bare", folded, "postmaster", "", 1, 1,
	    "maildir:pm/", "postmaster" },
	{ "postmaster bare upper", folded, "POSTMASTER", "", 1, 1,
	    "maildir:pm/", "postmaster" },
	{ "postmaster exact entry first", folded, "postmaster", "other.test",
	    1, 1, "maildir:pm-other/", "postmaster@other.test" },
	{ "postmaster before catch-all", folded, "postmaster", "catch.test",
	    1, 1, "maildir:pm/", "postmaster" },
	{ "postmaster with detail", folded, "postmaster+x", "example.test",
	    1, 1, "maildir:pm/", "postmaster" },
	{ "postmasterx is not postmaster", folded, "postmasterx",
	    "example.test", 1, 0, NULL, NULL },
	{ "bare non-postmaster", folded, "alice", "", 1, 0, NULL, NULL },
	{ "fold off exact case", exact, "Alice", "example.test", 0, 1,
	    "maildir:Alice/", "Alice@example.test" },
	{ "fold off other case", exact, "alice", "example.test", 0, 1,
	    "maildir:alice/", "alice@example.test" },
	{ "fold off unknown case", exact, "ALICE", "example.test", 0, 0,
	    NULL, NULL },
	{ "fold off domain still folded", exact, "Alice", "EXAMPLE.test", 0,
	    1, "maildir:Alice/", "Alice@example.test" },
	{ "fold off postmaster any case", exact, "PostMaster", "example.test",
	    0, 1, "maildir:pm/", "postmaster" },
	{ "no postmaster: catch-all", catchonly, "postmaster", "example.test",
	    1, 1, "maildir:catch/", "@example.test" },
	{ "no postmaster bare: unknown", catchonly, "postmaster", "", 1, 0,
	    NULL, NULL },
};

static void
run_case(const struct tcase *c)
{
	struct map m;
	char path[64], val[MAP_VALUE_MAX], matched[MAP_KEY_MAX + 1];
	int r;

	if (open_map(&m, c->map, path, sizeof(path)) == -1) {
		CHECK(0, "%s: cannot build map", c->name);
		return;
	}
	val[0] = matched[0] = '\0';
	r = rcpt_lookup(&m, c->local, c->domain, c->fold, val, sizeof(val),
	    matched, sizeof(matched));
	CHECK(r == c->want, "%s: got %d want %d", c->name, r, c->want);
	if (r == 1 && c->want == 1) {
		CHECK(strcmp(val, c->val) == 0, "%s: val %s", c->name, val);
		CHECK(strcmp(matched, c->matched) == 0, "%s: matched %s",
		    c->name, matched);
	}
	map_close(&m);
	unlink(path);
}

static void
test_absent(void)
{
	struct map m;
	char val[64];

	memset(&m, 0, sizeof(m));
	m.fd = -1;
	CHECK(rcpt_lookup(&m, "alice", "example.test", 1, val, sizeof(val),
	    NULL, 0) == -1, "closed map must be -1");
	CHECK(rcpt_lookup(NULL, "alice", "example.test", 1, val, sizeof(val),
	    NULL, 0) == -1, "absent map must be -1");
}

static void
test_small_value(void)
{
	struct map m;
	char path[64], val[4];

	if (open_map(&m, folded, path, sizeof(path)) == -1) {
		CHECK(0, "small value: cannot build map");
		return;
	}
	CHECK(rcpt_lookup(&m, "alice", "example.test", 1, val, sizeof(val),
	    NULL, 0) == -1, "value too long for buffer must be -1");
	CHECK(rcpt_lookup(&m, "alice", "example.test", 1, NULL, 0, NULL, 0)
	    == 1, "NULL val buffer is allowed");
	map_close(&m);
	unlink(path);
}

struct split_case {
	const char	*name;
	const char	*addr;
	int		 want;
	const char	*local;
	const char	*domain;
};

static const struct split_case splits[] = {
	{ "plain", "alice@example.test", 0, "alice", "example.test" },
	{ "bare", "postmaster", 0, "postmaster", "" },
	{ "last at", "a@b@example.test", 0, "a@b", "example.test" },
	{ "local too long", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@x", -1,
	    NULL, NULL },
};

static void
test_split(void)
{
	char local[32], domain[32];
	size_t i;

	for (i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
		const struct split_case *c = &splits[i];
		int r = rcpt_split(c->addr, local, sizeof(local), domain,
		    sizeof(domain));

		CHECK(r == c->want, "split %s: got %d", c->name, r);
		if (r == 0 && c->want == 0)
			CHECK(strcmp(local, c->local) == 0 &&
			    strcmp(domain, c->domain) == 0,
			    "split %s: %s / %s", c->name, local, domain);
	}
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
	test_absent();
	test_small_value();
	test_split();
	T_DONE();
}
