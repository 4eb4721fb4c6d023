/*
 * test_log: escaping and quoting of key=value log lines.
 *
 * Reports are computed from the log alone, and a client controls much of
 * what goes into it, so the escaping is an interface: every byte value
 * is checked against an independent statement of the rules (printable
 * ASCII as is, quote and backslash escaped, \n \r \t by name, every other
 * control byte and every byte >= 0x7f as \xNN), the quoting rules of
 * kv_str are table-driven, and the lines kv_emit writes are captured
 * from stderr and checked to be one line each, never longer than
 * LOG_LINE_MAX, with a truncated line marked.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "../../smtpd/log.h"

/* ---- log_escape ---- */

/* The rules, written out independently of log.c. */
static const char *
want_escape(unsigned char c, char *tmp)
{
	switch (c) {
	case '"':	return "\\\"";
	case '\\':	return "\\\\";
	case '\n':	return "\\n";
	case '\r':	return "\\r";
	case '\t':	return "\\t";
	}
	if (c < 0x20 || c >= 0x7f)
		snprintf(tmp, 5, "\\x%02x", c);
	else
		snprintf(tmp, 5, "%c", c);
	return tmp;
}

static void
test_escape_every_byte(void)
{
	char src[1], dst[16], tmp[5];
	const char *w;
	size_t n;
	int c;

	for (c = 0; c < 256; c++) {
		src[0] = (char)c;
		n = log_escape(dst, sizeof(dst), src, 1);
		w = want_escape((unsigned char)c, tmp);
		CHECK(n == strlen(w) && strcmp(dst, w) == 0,
		    "byte 0x%02x: got \"%s\" (%zu), want \"%s\"", c, dst, n, w);
	}
}

struct esc_case {
	const char	*name;
	const char	*src;
	size_t		 n;
	size_t		 dstsize;
	const char	*want;
};

static const struct esc_case esc_cases[] = {
	{ "plain", "alice@example.test", 18, 64, "alice@example.test" },
	{ "key=value lookalike", "a b=c", 5, 64, "a b=c" },
	{ "quotes", "say \"hi\"", 8, 64, "say \\\"hi\\\"" },
	{ "backslash before quote", "\\\"", 2, 64, "\\\\\\\"" },
	{ "CRLF injection", "x\r\nreject class=fake", 20, 64,
	    "x\\r\\nreject class=fake" },
	{ "embedded NUL counts", "a\0b", 3, 64, "a\\x00b" },
	{ "8-bit UTF-8", "caf\xc3\xa9", 5, 64, "caf\\xc3\\xa9" },
	{ "DEL and ESC", "\x7f\x1b[0m", 5, 64, "\\x7f\\x1b[0m" },
	{ "n limits the input", "abcdef", 3, 64, "abc" },
	/* dst too small: whole escapes only, always terminated */
	{ "cut between plain bytes", "abcdef", 6, 4, "abc" },
	{ "escape that just fits", "\"", 1, 3, "\\\"" },
	{ "escape one byte short", "\"", 1, 2, "" },
	{ "hex escape not split", "a\x01", 2, 5, "a" },
	{ "hex escape that just fits", "a\x01", 2, 6, "a\\x01" },
	{ "dstsize 1", "abc", 3, 1, "" },
};

static void
test_escape_cases(void)
{
	const struct esc_case *c;
	char dst[64];
	size_t n;

	for (c = esc_cases; c < esc_cases + sizeof(esc_cases) /
	    sizeof(esc_cases[0]); c++) {
		memset(dst, 'Z', sizeof(dst));
		n = log_escape(dst, c->dstsize, c->src, c->n);
		CHECK(strcmp(dst, c->want) == 0 && n == strlen(dst),
		    "%s: got \"%s\" (%zu), want \"%s\"", c->name, dst, n,
		    c->want);
		CHECK(n < c->dstsize, "%s: %zu bytes in %zu", c->name, n,
		    c->dstsize);
		if (c->dstsize < sizeof(dst))
			CHECK(dst[c->dstsize] == 'Z', "%s: wrote past dstsize",
			    c->name);
	}
	memset(dst, 'Z', sizeof(dst));
	CHECK(log_escape(dst, 0, "abc", 3) == 0 && dst[0] == 'Z',
	    "dstsize 0 wrote");
}

/* ---- kv_* ---- */

/*
 * The line grammar a report reader relies on: EVENT, then " key=value"
 * pairs, a value bare (printable, no quote, backslash or '=') or quoted
 * with only the escapes log_escape makes.  1 if the whole line parses.
 */
static int
line_parses(const char *p)
{
	static const char hex[] = "0123456789abcdef";

	if (*p == '\0' || *p == ' ')
		return 0;
	while (*p != '\0' && *p != ' ')
		p++;
	while (*p == ' ') {
		p++;
		if (*p == '=' || *p == '\0')
			return 0;
		while (*p != '=' && *p != '\0' && *p != ' ' && *p != '"')
			p++;
		if (*p++ != '=')
			return 0;
		if (*p != '"') {
			if (*p == ' ' || *p == '\0')
				return 0;
			for (; *p != ' ' && *p != '\0'; p++)
				if (*p == '\\' || *p == '=' || *p == '"' ||
				    (unsigned char)*p < 0x21 ||
				    (unsigned char)*p > 0x7e)
					return 0;
			continue;
		}
		for (p++; *p != '"'; p++) {
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				return 0;	/* '\0' included: unclosed */
			if (*p != '\\')
				continue;
			p++;
			if (*p == 'x') {
				if (p[1] == '\0' || strchr(hex, p[1]) == NULL ||
				    p[2] == '\0' || strchr(hex, p[2]) == NULL)
					return 0;
				p += 2;
			} else if (*p == '\0' || strchr("\"\\nrt", *p) == NULL)
				return 0;
		}
		p++;
	}
	return *p == '\0';
}

/* The grammar check itself, so that a pass above means something. */
static void
test_line_grammar(void)
{
	static const struct {
		const char	*line;
		int		 ok;
	} g[] = {
		{ "connect", 1 },
		{ "connect session=0a ip=127.0.0.1", 1 },
		{ "reject reply=\"a \\\"b\\\" \\\\ \\x7f\\n\"", 1 },
		{ "reject k=\"\"", 1 },
		{ "", 0 },
		{ "reject k=", 0 },
		{ "reject =v", 0 },
		{ "reject k=\"abc", 0 },
		{ "reject k=a\"b", 0 },
		{ "reject k=a=b", 0 },
		{ "reject k=\"a\\x4\"", 0 },
		{ "reject k=\"a\\x", 0 },
		{ "reject k=\"a\\q\"", 0 },
		{ "reject k=\"a\\", 0 },
		{ "reject k=\"a\"b", 0 },
		{ "reject k=a  j=b", 0 },
		{ "reject k=\xe9", 0 },
		{ "reject k=\"a\tb\"", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(g) / sizeof(g[0]); i++)
		CHECK(line_parses(g[i].line) == g[i].ok, "grammar: [%s] "
		    "should %sparse", g[i].line, g[i].ok ? "" : "not ");
}

struct kv_case {
	const char	*name;
	const char	*val;		/* NULL: kv_str(NULL) */
	size_t		 n;		/* kv_strn length; 0: use kv_str */
	const char	*want;		/* the line after "ev" */
};

static const struct kv_case kv_cases[] = {
	{ "bare word", "client.remote.example", 0, " k=client.remote.example" },
	{ "empty is quoted", "", 0, " k=\"\"" },
	{ "NULL is empty", NULL, 0, " k=\"\"" },
	{ "space", "a b", 0, " k=\"a b\"" },
	{ "equals sign", "a=b", 0, " k=\"a=b\"" },
	{ "lookalike pair", "x to=evil@example.test", 0,
	    " k=\"x to=evil@example.test\"" },
	{ "quote", "a\"b", 0, " k=\"a\\\"b\"" },
	{ "backslash", "a\\b", 0, " k=\"a\\\\b\"" },
	{ "quoted local part", "\"a\\\"b c=d\"@remote.example", 0,
	    " k=\"\\\"a\\\\\\\"b c=d\\\"@remote.example\"" },
	{ "newline", "a\nb", 0, " k=\"a\\nb\"" },
	{ "tab", "a\tb", 0, " k=\"a\\tb\"" },
	{ "8-bit", "\xe9t\xe9", 0, " k=\"\\xe9t\\xe9\"" },
	{ "DEL", "a\x7f", 0, " k=\"a\\x7f\"" },
	{ "punctuation stays bare", "<a@b.c>[1.2.3.4]:25,x;y", 0,
	    " k=<a@b.c>[1.2.3.4]:25,x;y" },
	{ "kv_strn stops at n", "abcdef", 3, " k=abc" },
	{ "kv_strn NUL inside", "a\0b", 3, " k=\"a\\x00b\"" },
};

static void
test_kv_quoting(void)
{
	const struct kv_case *c;
	struct kv k;
	char want[256];

	for (c = kv_cases; c < kv_cases + sizeof(kv_cases) /
	    sizeof(kv_cases[0]); c++) {
		kv_begin(&k, "ev");
		if (c->n)
			kv_strn(&k, "k", c->val, c->n);
		else
			kv_str(&k, "k", c->val);
		snprintf(want, sizeof(want), "ev%s", c->want);
		CHECK(strcmp(k.line, want) == 0 && k.len == strlen(want) &&
		    !k.truncated, "%s: got [%s], want [%s]", c->name, k.line,
		    want);
		CHECK(line_parses(k.line), "%s: [%s] does not parse", c->name,
		    k.line);
	}
}

static void
test_kv_numbers(void)
{
	struct kv k;

	kv_begin(&k, "disconnect");
	kv_int(&k, "a", -42);
	kv_uint(&k, "b", 18446744073709551615ULL);
	kv_dur(&k, "d1", 1234);
	kv_dur(&k, "d2", 5);
	kv_dur(&k, "d3", -7);
	kv_dur(&k, "d4", 60000);
	kv_id(&k, "session", 0x6aafb0429ad000ULL);
	CHECK(strcmp(k.line, "disconnect a=-42 b=18446744073709551615 "
	    "d1=1.234 d2=0.005 d3=0.000 d4=60.000 session=006aafb0429ad000")
	    == 0, "numbers: [%s]", k.line);

	/* kv_begin starts afresh */
	kv_begin(&k, "connect");
	CHECK(strcmp(k.line, "connect") == 0 && k.len == 7 && !k.truncated,
	    "kv_begin: [%s]", k.line);
}

/* ---- what kv_emit writes ---- */

/*
 * Run kv_emit (or a log_* call) with stderr pointed at a temporary file
 * and return what was written.
 */
static size_t
capture_begin(int *saved)
{
	char path[] = "/tmp/test_log.XXXXXX";
	int fd;

	fflush(stderr);
	if ((fd = mkstemp(path)) == -1)
		return 0;
	(void)unlink(path);
	*saved = dup(2);
	(void)dup2(fd, 2);
	(void)close(fd);
	return 1;
}

static size_t
capture_end(int saved, char *out, size_t outsize)
{
	ssize_t n;

	fflush(stderr);
	(void)lseek(2, 0, SEEK_SET);
	n = read(2, out, outsize - 1);
	(void)dup2(saved, 2);
	(void)close(saved);
	if (n < 0)
		n = 0;
	out[n] = '\0';
	return (size_t)n;
}

/* The event part of one captured line: after "moatd[PID]: ". */
static const char *
event_part(const char *line)
{
	const char *p = strstr(line, "]: ");

	return p == NULL ? NULL : p + 3;
}

static int
count_lines(const char *s, size_t n)
{
	size_t i;
	int lines = 0;

	for (i = 0; i < n; i++)
		if (s[i] == '\n')
			lines++;
	return lines;
}

static void
test_emit_one_line(void)
{
	static char out[3 * LOG_LINE_MAX];
	struct kv k;
	const char *ev;
	size_t n;
	int saved;

	if (!capture_begin(&saved)) {
		CHECK(0, "capture");
		return;
	}
	kv_begin(&k, "reject");
	kv_str(&k, "helo", "x\r\nreject stage=fake class=fake\n");
	kv_str(&k, "from", "a\"b");
	kv_emit(&k);
	n = capture_end(saved, out, sizeof(out));
	CHECK(count_lines(out, n) == 1 && n > 0 && out[n - 1] == '\n',
	    "emit: not one line: [%s]", out);
	ev = event_part(out);
	CHECK(ev != NULL && strcmp(ev, "reject helo=\"x\\r\\nreject "
	    "stage=fake class=fake\\n\" from=\"a\\\"b\"\n") == 0,
	    "emit: [%s]", out);
	CHECK(strstr(out, "moatd[") != NULL, "no ident: [%s]", out);

	/* log_warn: one error line carrying the errno text, quoted */
	if (!capture_begin(&saved)) {
		CHECK(0, "capture");
		return;
	}
	log_setproc("smtp");
	errno = ENOENT;
	log_warn("open %s", "/nonexistent\nfake line");
	n = capture_end(saved, out, sizeof(out));
	CHECK(count_lines(out, n) == 1, "log_warn: not one line: [%s]", out);
	ev = event_part(out);
	CHECK(ev != NULL && strcmp(ev, "error proc=smtp msg=\"open "
	    "/nonexistent\\nfake line: No such file or directory\"\n") == 0,
	    "log_warn: [%s]", out);
	log_setproc(NULL);
}

/*
 * A value longer than a whole line: the line stops short of
 * LOG_LINE_MAX and says it was cut, whatever the value is made of (plain
 * bytes, or bytes that each grow into a four-byte escape).
 */
struct trunc_case {
	const char	*name;
	unsigned char	 fill;
	size_t		 n;
	int		 before;	/* a short key before the long one */
	int		 after;		/* a key after the long one */
};

static const struct trunc_case trunc_cases[] = {
	{ "plain bytes", 'a', 10000, 0, 0 },
	{ "bytes that escape", 0xff, 5000, 0, 0 },
	{ "just over the line", 'b', LOG_LINE_MAX - 8, 0, 0 },
	{ "after a short key", 'c', 10000, 1, 0 },
	{ "with a key after it", 'd', 10000, 1, 1 },
	{ "quoted value", ' ', 10000, 0, 1 },
};

static void
test_truncation(void)
{
	static char out[4 * LOG_LINE_MAX], val[10000];
	const struct trunc_case *c;
	const char *ev;
	struct kv k;
	size_t n, evlen;
	int saved;

	for (c = trunc_cases; c < trunc_cases + sizeof(trunc_cases) /
	    sizeof(trunc_cases[0]); c++) {
		memset(val, c->fill, c->n);
		kv_begin(&k, "reject");
		if (c->before)
			kv_str(&k, "stage", "rcpt");
		kv_strn(&k, "helo", val, c->n);
		if (c->after)
			kv_str(&k, "class", "unknown-recipient");
		CHECK(k.truncated, "%s: not marked truncated", c->name);
		CHECK(k.len < LOG_LINE_MAX && strlen(k.line) == k.len,
		    "%s: len %zu", c->name, k.len);
		if (!capture_begin(&saved)) {
			CHECK(0, "capture");
			return;
		}
		kv_emit(&k);
		n = capture_end(saved, out, sizeof(out));
		CHECK(count_lines(out, n) == 1, "%s: %d lines", c->name,
		    count_lines(out, n));
		if ((ev = event_part(out)) == NULL) {
			CHECK(0, "%s: no event in [%.80s]", c->name, out);
			continue;
		}
		evlen = strlen(ev) - 1;		/* the newline */
		CHECK(evlen < LOG_LINE_MAX, "%s: line of %zu bytes", c->name,
		    evlen);
		CHECK(evlen >= 12 && memcmp(ev + evlen - 12, " truncated=1",
		    12) == 0, "%s: the cut is not marked: ...%.40s", c->name,
		    ev + (evlen > 40 ? evlen - 40 : 0));
		out[strcspn(out, "\n")] = '\0';
		CHECK(line_parses(ev), "%s: the cut line does not parse "
		    "(split escape or unclosed quote): ...%.40s", c->name,
		    ev + (evlen > 40 ? evlen - 40 : 0));
		CHECK(strncmp(ev, c->before ? "reject stage=rcpt helo=" :
		    "reject helo=", c->before ? 23 : 12) == 0,
		    "%s: start of line: %.40s", c->name, ev);
	}

	/* a line that is long but fits is neither cut nor marked */
	memset(val, 'e', 2000);
	kv_begin(&k, "reject");
	kv_strn(&k, "helo", val, 2000);
	CHECK(!k.truncated && k.len == 6 + 6 + 2000, "2000 bytes: len %zu",
	    k.len);
}

int
main(void)
{
	log_init("moatd", 1);
	test_escape_every_byte();
	test_escape_cases();
	test_line_grammar();
	test_kv_quoting();
	test_kv_numbers();
	test_emit_one_line();
	test_truncation();
	T_DONE();
}
