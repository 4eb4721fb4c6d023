/*
 * test_parse_cmd: line_get (the line limit enforced while reading) and
 * cmd_parse (verbs, arguments, NUL and bare CR).
 */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "../../smtpd/parse.h"

/* ---- line_get ---- */

/*
 * Feed `in` in pieces of `chunk` bytes (0: all at once) through a reader
 * with limit max, the way a session would: append to a pending buffer,
 * take lines out, drop what line_get says was consumed.  The result is a
 * transcript: "L:<line>" per line (CR shown as '~'), "T" per TOOLONG.
 */
static void
line_run(const char *in, size_t len, size_t max, size_t chunk, char *res,
    size_t ressize)
{
	struct linereader lr = { 0 };
	char pend[4096];
	size_t plen = 0, fed = 0, ll, used, r = 0, i, n;
	enum line_status st;

	res[0] = '\0';
	while (fed < len) {
		n = chunk == 0 ? len - fed : chunk;
		if (n > len - fed)
			n = len - fed;
		memcpy(pend + plen, in + fed, n);
		plen += n;
		fed += n;
		for (;;) {
			st = line_get(&lr, pend, plen, max, &ll, &used);
			if (used > plen) {
				r += (size_t)snprintf(res + r, ressize - r, "!");
				return;
			}
			if (st == LINE_OK) {
				r += (size_t)snprintf(res + r, ressize - r,
				    "L:");
				for (i = 0; i < ll; i++)
					res[r++] = pend[i] == '\r' ? '~' :
					    pend[i];
				r += (size_t)snprintf(res + r, ressize - r,
				    "|");
			} else if (st == LINE_TOOLONG)
				r += (size_t)snprintf(res + r, ressize - r,
				    "T|");
			memmove(pend, pend + used, plen - used);
			plen -= used;
			if (st == LINE_MORE && used == 0)
				break;
		}
	}
}

struct line_case {
	const char	*name;
	const char	*in;
	size_t		 max;
	const char	*want;
};

static const struct line_case line_cases[] = {
	{ "one line", "HELO a\r\n", 512, "L:HELO a~|" },
	{ "bare lf line", "NOOP\n", 512, "L:NOOP|" },
	{ "two lines", "NOOP\r\nQUIT\r\n", 512, "L:NOOP~|L:QUIT~|" },
	{ "partial kept", "NOOP\r\nQU", 512, "L:NOOP~|" },
	{ "empty line", "\r\n", 512, "L:~|" },
	/* max counts the terminator: "abcdefgh\r\n" is 10 bytes */
	{ "len max-1", "abcdefg\r\n", 10, "L:abcdefg~|" },
	{ "len max", "abcdefgh\r\n", 10, "L:abcdefgh~|" },
	{ "len max+1", "abcdefghi\r\nNOOP\r\n", 10, "T|L:NOOP~|" },
	{ "lf only at max", "abcdefghi\n", 10, "L:abcdefghi|" },
	{ "lf only max+1", "abcdefghij\nX\n", 10, "T|L:X|" },
	{ "cr at max, lf past", "abcdefghi\r\nX\r\n", 10, "T|L:X~|" },
	{ "long then more long", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa\nb\n", 10,
	  "T|L:b|" },
	{ "two long lines", "aaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbb\nc\n", 10,
	  "T|T|L:c|" },
	{ "long never ends", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 10, "T|" },
	{ "cr cr lf kept", "NOOP\r\r\n", 512, "L:NOOP~~|" },
};

/* Over-long detection must not wait for the LF. */
static void
test_line_early(void)
{
	struct linereader lr = { 0 };
	char buf[32];
	size_t ll, used;
	enum line_status st;

	memset(buf, 'x', sizeof(buf));
	st = line_get(&lr, buf, 9, 10, &ll, &used);
	CHECK(st == LINE_MORE && used == 0, "early: 9 of 10 is more");
	st = line_get(&lr, buf, 10, 10, &ll, &used);
	CHECK(st == LINE_TOOLONG && used == 10,
	    "early: 10 bytes without LF is toolong at once (st %d used %zu)",
	    st, used);
	st = line_get(&lr, buf, 20, 10, &ll, &used);
	CHECK(st == LINE_MORE && used == 20, "early: junk skipped silently");
	memcpy(buf, "xx\nQUIT\r\n", 9);
	st = line_get(&lr, buf, 9, 10, &ll, &used);
	CHECK(st == LINE_MORE && used == 3, "early: skip ends at LF");
	st = line_get(&lr, buf + 3, 6, 10, &ll, &used);
	CHECK(st == LINE_OK && ll == 5 && used == 6,
	    "early: next line is read");
	st = line_get(&lr, buf, 0, 10, &ll, &used);
	CHECK(st == LINE_MORE && used == 0, "empty buffer");
}

static void
test_line(void)
{
	const struct line_case *c;
	char whole[1024], split[1024];
	size_t i, chunk;

	for (i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		c = &line_cases[i];
		line_run(c->in, strlen(c->in), c->max, 0, whole,
		    sizeof(whole));
		CHECK(strcmp(whole, c->want) == 0, "line %s: got %s want %s",
		    c->name, whole, c->want);
		for (chunk = 1; chunk <= 4; chunk++) {
			line_run(c->in, strlen(c->in), c->max, chunk, split,
			    sizeof(split));
			CHECK(strcmp(split, c->want) == 0,
			    "line %s chunk %zu: got %s want %s", c->name,
			    chunk, split, c->want);
		}
	}
	test_line_early();
}

/* ---- cmd_parse ---- */

struct cmd_case {
	const char	*name;
	const char	*line;
	size_t		 len;		/* 0: strlen */
	enum cmd_error	 err;
	enum cmd_verb	 verb;
	const char	*arg;
};

static const struct cmd_case cmd_cases[] = {
	{ "helo", "HELO mx.example.test", 0, CMD_OK, CMD_HELO,
	  "mx.example.test" },
	{ "ehlo lower", "ehlo mx.example.test", 0, CMD_OK, CMD_EHLO,
	  "mx.example.test" },
	{ "mixed case", "StArTtLs", 0, CMD_OK, CMD_STARTTLS, "" },
	{ "trailing cr dropped", "QUIT\r", 0, CMD_OK, CMD_QUIT, "" },
	{ "trailing spaces", "NOOP   ", 0, CMD_OK, CMD_NOOP, "" },
	{ "arg trailing spaces", "HELO a.test  \r", 0, CMD_OK, CMD_HELO,
	  "a.test" },
	{ "mail from kept", "MAIL FROM:<a@b.test>", 0, CMD_OK, CMD_MAIL,
	  "FROM:<a@b.test>" },
	{ "mail from space", "MAIL FROM: <a@b.test> SIZE=10", 0, CMD_OK,
	  CMD_MAIL, "FROM: <a@b.test> SIZE=10" },
	{ "mail two spaces", "mail  from:<>", 0, CMD_OK, CMD_MAIL,
	  "from:<>" },
	{ "rcpt to kept", "RCPT TO:<b@c.test>", 0, CMD_OK, CMD_RCPT,
	  "TO:<b@c.test>" },
	{ "data", "DATA", 0, CMD_OK, CMD_DATA, "" },
	{ "rset", "rset", 0, CMD_OK, CMD_RSET, "" },
	{ "vrfy", "VRFY alice", 0, CMD_OK, CMD_VRFY, "alice" },
	{ "expn", "EXPN list", 0, CMD_OK, CMD_EXPN, "list" },
	{ "help", "HELP", 0, CMD_OK, CMD_HELP, "" },
	{ "bdat", "BDAT 100 LAST", 0, CMD_OK, CMD_BDAT, "100 LAST" },
	{ "auth", "AUTH PLAIN", 0, CMD_OK, CMD_AUTH, "PLAIN" },
	{ "etrn", "ETRN example.test", 0, CMD_OK, CMD_ETRN, "example.test" },
	{ "turn", "TURN", 0, CMD_OK, CMD_TURN, "" },
	{ "http get", "GET / HTTP/1.1", 0, CMD_OK, CMD_HTTP, "/ HTTP/1.1" },
	{ "http post", "POST /x HTTP/1.0", 0, CMD_OK, CMD_HTTP,
	  "/x HTTP/1.0" },
	{ "http connect", "CONNECT mx:25 HTTP/1.1", 0, CMD_OK, CMD_HTTP,
	  "mx:25 HTTP/1.1" },
	{ "http head", "HEAD / HTTP/1.1", 0, CMD_OK, CMD_HTTP,
	  "/ HTTP/1.1" },
	{ "http put", "put /", 0, CMD_OK, CMD_HTTP, "/" },
	{ "http options", "OPTIONS * HTTP/1.1", 0, CMD_OK, CMD_HTTP,
	  "* HTTP/1.1" },
	{ "user is not http", "USER root", 0, CMD_ERR_UNKNOWN, CMD_UNKNOWN,
	  NULL },
	{ "helox unknown", "HELOX a", 0, CMD_ERR_UNKNOWN, CMD_UNKNOWN, NULL },
	{ "helo tab", "HELO\ta", 0, CMD_ERR_UNKNOWN, CMD_UNKNOWN, NULL },
	{ "mailfrom glued", "MAILFROM:<a@b>", 0, CMD_ERR_UNKNOWN, CMD_UNKNOWN,
	  NULL },
	{ "leading space", " HELO a", 0, CMD_ERR_UNKNOWN, CMD_UNKNOWN, NULL },
	{ "empty", "", 0, CMD_ERR_EMPTY, CMD_UNKNOWN, NULL },
	{ "only cr", "\r", 0, CMD_ERR_EMPTY, CMD_UNKNOWN, NULL },
	{ "only spaces", "   ", 0, CMD_ERR_EMPTY, CMD_UNKNOWN, NULL },
	{ "nul in verb", "NO\0OP", 5, CMD_ERR_NUL, CMD_UNKNOWN, NULL },
	{ "nul in arg", "HELO a\0b", 8, CMD_ERR_NUL, CMD_UNKNOWN, NULL },
	{ "nul at end", "QUIT\0", 5, CMD_ERR_NUL, CMD_UNKNOWN, NULL },
	{ "nul before cr", "QUIT\0\r", 6, CMD_ERR_NUL, CMD_UNKNOWN, NULL },
	{ "bare cr in arg", "HELO a\rb", 0, CMD_ERR_BARE_CR, CMD_UNKNOWN,
	  NULL },
	{ "bare cr smuggle", "RSET\rMAIL FROM:<x@y>", 0, CMD_ERR_BARE_CR,
	  CMD_UNKNOWN, NULL },
	{ "cr cr", "QUIT\r\r", 0, CMD_ERR_BARE_CR, CMD_UNKNOWN, NULL },
	{ "cr first", "\rQUIT", 0, CMD_ERR_BARE_CR, CMD_UNKNOWN, NULL },
};

static void
test_cmd(void)
{
	const struct cmd_case *c;
	struct cmd cmd;
	enum cmd_error e;
	size_t i, len;

	for (i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		c = &cmd_cases[i];
		len = c->len ? c->len : strlen(c->line);
		e = cmd_parse(c->line, len, &cmd);
		CHECK(e == c->err, "cmd %s: error %d want %d", c->name, e,
		    c->err);
		CHECK(cmd.verb == c->verb, "cmd %s: verb %d want %d", c->name,
		    cmd.verb, c->verb);
		if (c->arg == NULL || e != CMD_OK)
			continue;
		CHECK(cmd.arglen == strlen(c->arg) &&
		    memcmp(cmd.arg, c->arg, cmd.arglen) == 0,
		    "cmd %s: arg '%.*s' want '%s'", c->name, (int)cmd.arglen,
		    cmd.arg, c->arg);
		CHECK(cmd.arg >= c->line && cmd.arg + cmd.arglen <=
		    c->line + len, "cmd %s: arg inside the line", c->name);
	}
}

static void
test_cmd_name(void)
{
	CHECK(strcmp(cmd_name(CMD_MAIL), "MAIL") == 0, "name MAIL");
	CHECK(strcmp(cmd_name(CMD_STARTTLS), "STARTTLS") == 0,
	    "name STARTTLS");
	CHECK(strcmp(cmd_name(CMD_HTTP), "HTTP") == 0, "name HTTP");
	CHECK(strcmp(cmd_name(CMD_UNKNOWN), "UNKNOWN") == 0, "name UNKNOWN");
	CHECK(strcmp(cmd_name((enum cmd_verb)999), "UNKNOWN") == 0,
	    "name out of range");
}

int
main(void)
{
	test_line();
	test_cmd();
	test_cmd_name();
	T_DONE();
}
