/*
 * test_listing: the queue listing moatctl reads back: each record kind
 * accepted and refused line by line, what the queue writes read back
 * the same, and the table and JSON moatctl prints from it.
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "../../queue/listing.h"

#define QA	"0123456789ABCDEF"
#define QB	"00000000000000AA"

struct line_case {
	const char	*name;
	const char	*line;
	int		 ok;
};

/* Each after the magic line and one good entry. */
static const struct line_case line_cases[] = {
	{ "entry", "E " QB " deferred 1700000000 60 a@b.example", 1 },
	{ "entry null sender, no next", "E " QB " held 0 - <>", 1 },
	{ "every state", "E " QB " unreadable 0 - <>", 1 },
	{ "recipient", "R - 0 alice@example.test", 1 },
	{ "recipient with error", "R - 3 alice@example.test mkdir x: No", 1 },
	{ "recipient postmaster", "R D 0 postmaster", 1 },
	{ "recipient held", "R H 1 bob@example.test", 1 },
	{ "error with spaces kept", "R - 1 a@b  two  spaces ", 1 },
	{ "unknown record", "X " QB, 0 },
	{ "empty line", "", 0 },
	{ "lower-case qid", "E 0123456789abcdef ready 1 0 <>", 0 },
	{ "short qid", "E 0123 ready 1 0 <>", 0 },
	{ "unknown state", "E " QB " lost 1 0 <>", 0 },
	{ "negative time", "E " QB " ready -1 0 <>", 0 },
	{ "time not a number", "E " QB " ready 1x 0 <>", 0 },
	{ "next not a number", "E " QB " ready 1 soon <>", 0 },
	{ "no sender", "E " QB " ready 1 0", 0 },
	{ "two spaces", "E " QB "  ready 1 0 <>", 0 },
	{ "trailing field", "E " QB " ready 1 0 <> x", 0 },
	{ "control byte in the sender", "E " QB " ready 1 0 a\001@b", 0 },
	{ "bad status", "R X 0 alice@example.test", 0 },
	{ "attempts not a number", "R - many alice@example.test", 0 },
	{ "attempts too big", "R - 4294967296 alice@example.test", 0 },
	{ "recipient not an address", "R - 0 alice", 0 },
	{ "control byte in error", "R - 1 a@b bad\tbyte", 0 },
	{ "missing address", "R - 0", 0 },
};

static void
test_lines(void)
{
	struct listing l;
	char err[128];
	size_t i;
	int r;

	memset(&l, 0, sizeof(l));
	CHECK(listing_parse_line(&l, "E " QA " ready 1 0 <>", err,
	    sizeof(err)) == -1, "an entry before the magic line");
	CHECK(listing_parse_line(&l, LISTING_MAGIC, err, sizeof(err)) == 0,
	    "magic line");
	CHECK(listing_parse_line(&l, "R - 0 a@b", err, sizeof(err)) == -1 &&
	    strstr(err, "before any entry") != NULL,
	    "a recipient before any entry: %s", err);
	CHECK(listing_parse_line(&l, "E " QA " ready 1 0 <>", err,
	    sizeof(err)) == 0, "first entry");
	for (i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *c = &line_cases[i];

		err[0] = '\0';
		r = listing_parse_line(&l, c->line, err, sizeof(err));
		CHECK((r == 0) == c->ok, "line %s: got %d (%s)", c->name, r,
		    err);
	}
	CHECK(l.n == 4 && l.v[3].nrcpt == 5, "entries %zu, recipients %zu",
	    l.n, l.n ? l.v[l.n - 1].nrcpt : 0);
	CHECK(l.n == 4 && strcmp(l.v[3].rcpt[4].error, " two  spaces ") == 0,
	    "error text kept as written: \"%s\"",
	    l.n == 4 ? l.v[3].rcpt[4].error : "");
	listing_free(&l);
}

/* What the queue writes comes back field for field. */
static void
test_roundtrip(void)
{
	struct spool_rcpt r[2];
	struct listing l;
	char err[128], *buf = NULL;
	size_t len = 0;
	FILE *fp;

	memset(r, 0, sizeof(r));
	r[0].status = RCPT_PENDING;
	r[0].attempts = 2;
	r[0].addr = "alice@example.test";
	r[0].error = "open /x/alice:\tNot a directory\n";
	r[1].status = RCPT_DELIVERED;
	r[1].addr = "bob@example.test";
	fp = open_memstream(&buf, &len);
	listing_begin(fp);
	listing_put_entry(fp, QA, LS_DEFERRED, 1700000000, 42,
	    "s@remote.example");
	listing_put_rcpt(fp, &r[0]);
	listing_put_rcpt(fp, &r[1]);
	listing_put_entry(fp, QB, LS_HELD, 1600000000, -1, "");
	listing_put_rcpt(fp, &r[1]);
	fclose(fp);
	CHECK(strstr(buf, "Not a directory?\n") != NULL, "control bytes "
	    "written as ?: %s", buf);
	memset(&l, 0, sizeof(l));
	fp = fmemopen(buf, len, "r");
	CHECK(listing_read(&l, fp, err, sizeof(err)) == 0, "read: %s", err);
	fclose(fp);
	CHECK(l.n == 2 && strcmp(l.v[0].qid, QA) == 0 &&
	    l.v[0].state == LS_DEFERRED && l.v[0].ctime == 1700000000 &&
	    l.v[0].next == 42 && strcmp(l.v[0].sender, "s@remote.example") == 0,
	    "entry fields");
	CHECK(l.n == 2 && l.v[0].nrcpt == 2 && l.v[0].rcpt[0].attempts == 2 &&
	    strcmp(l.v[0].rcpt[0].error, "open /x/alice:?Not a directory?")
	    == 0 && l.v[0].rcpt[1].status == RCPT_DELIVERED &&
	    l.v[0].rcpt[1].error[0] == '\0', "recipient fields");
	CHECK(l.n == 2 && l.v[1].next == -1 && l.v[1].sender[0] == '\0',
	    "null sender, no next try");
	listing_sort(&l);
	CHECK(l.n == 2 && strcmp(l.v[0].qid, QA) == 0,
	    "held entries after queued ones, though older");
	listing_free(&l);
	free(buf);
}

static char *
shown(const char *text, int json)
{
	struct listing l;
	char err[128], *buf = NULL;
	size_t len = 0;
	FILE *in, *out;

	memset(&l, 0, sizeof(l));
	in = fmemopen((void *)text, strlen(text), "r");
	CHECK(listing_read(&l, in, err, sizeof(err)) == 0, "read: %s", err);
	fclose(in);
	listing_sort(&l);
	out = open_memstream(&buf, &len);
	if (json)
		listing_print_json(out, &l, 1700000130);
	else
		listing_print(out, &l, 1700000130);
	fclose(out);
	listing_free(&l);
	return buf;
}

static void
test_print(void)
{
	static const char in[] = LISTING_MAGIC "\n"
	    "E " QB " held 1699990000 - <>\n"
	    "R H 1 carol@example.test\n"
	    "E " QA " deferred 1700000000 75 s@remote.example\n"
	    "R - 2 alice@example.test open x: \"No\"\n"
	    "R D 0 bob@example.test\n";
	static const char table[] =
	    "QUEUE ID          STATE            AGE  NEXT TRY   SENDER\n"
	    QA "  deferred       2m10s  in 1m15s   s@remote.example\n"
	    "    pending    alice@example.test  (2 failed tries)  "
	    "open x: \"No\"\n"
	    "    delivered  bob@example.test\n"
	    QB "  held           2h48m  -          <>\n"
	    "    held       carol@example.test  (1 failed try)\n"
	    "2 entries: 1 deferred, 1 held\n";
	static const char json[] =
	    "[{\"id\": \"" QA "\", \"state\": \"deferred\", \"time\": "
	    "1700000000, \"age\": 130, \"next_try\": 75, \"sender\": "
	    "\"s@remote.example\", \"recipients\": [{\"address\": "
	    "\"alice@example.test\", \"status\": \"pending\", \"attempts\": "
	    "2, \"error\": \"open x: \\\"No\\\"\"}, {\"address\": "
	    "\"bob@example.test\", \"status\": \"delivered\", \"attempts\": "
	    "0, \"error\": null}]},\n"
	    " {\"id\": \"" QB "\", \"state\": \"held\", \"time\": 1699990000, "
	    "\"age\": 10130, \"next_try\": null, \"sender\": \"\", "
	    "\"recipients\": [{\"address\": \"carol@example.test\", "
	    "\"status\": \"held\", \"attempts\": 1, \"error\": null}]}]\n";
	char *got;

	got = shown(in, 0);
	CHECK(got != NULL && strcmp(got, table) == 0, "table:\n%s", got);
	free(got);
	got = shown(in, 1);
	CHECK(got != NULL && strcmp(got, json) == 0, "json:\n%s", got);
	free(got);
	got = shown(LISTING_MAGIC "\n", 0);
	CHECK(got != NULL && strcmp(got, "0 entries\n") == 0, "empty: %s",
	    got);
	free(got);
}

static void
test_bad_streams(void)
{
	static const struct {
		const char	*name, *text, *err;
	} cases[] = {
		{ "empty", "", "an empty listing" },
		{ "no magic", "E " QA " ready 1 0 <>\n", "line 1:" },
		{ "last line cut", LISTING_MAGIC "\nE " QA " ready 1 0 <>",
		    "line 2: a broken line" },
		{ "bad third line", LISTING_MAGIC "\nE " QA " ready 1 0 <>\n"
		    "R ? 0 a@b\n", "line 3: bad recipient status" },
	};
	struct listing l;
	char err[128];
	size_t i;
	FILE *fp;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&l, 0, sizeof(l));
		err[0] = '\0';
		/* fmemopen wants a size above 0 */
		fp = cases[i].text[0] == '\0' ? fopen("/dev/null", "r") :
		    fmemopen((void *)cases[i].text, strlen(cases[i].text),
		    "r");
		CHECK(listing_read(&l, fp, err, sizeof(err)) == -1 &&
		    strstr(err, cases[i].err) != NULL, "stream %s: %s",
		    cases[i].name, err);
		fclose(fp);
		listing_free(&l);
	}
}

int
main(void)
{
	test_lines();
	test_roundtrip();
	test_print();
	test_bad_streams();
	T_DONE();
}
