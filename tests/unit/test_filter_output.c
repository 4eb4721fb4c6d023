/*
 * test_filter_output: a filter's exit status and stdout, table-driven:
 * the verdicts, the reply text made safe, header fields checked, the
 * block request, and hostile output (control bytes, long lines, reserved
 * fields, too much of everything).
 */
#include <sys/wait.h>

#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "../../filters/output.h"

#define EXITED(n)	((n) << 8)	/* a wait status: exit(n) */

static void
test_verdicts(void)
{
	static const struct {
		int		 status, timed_out;
		enum filter_verdict want;
	} cases[] = {
		{ EXITED(0), 0, FV_ACCEPT },
		{ EXITED(100), 0, FV_REJECT },
		{ EXITED(111), 0, FV_TEMPFAIL },
		{ EXITED(75), 0, FV_FAILED },
		{ EXITED(1), 0, FV_FAILED },
		{ 9, 0, FV_FAILED },		/* killed by SIGKILL */
		{ EXITED(0), 1, FV_FAILED },	/* timed out, then exit 0 */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(filter_verdict(cases[i].status, cases[i].timed_out) ==
		    cases[i].want, "case %zu: %s", i,
		    filter_verdict_name(filter_verdict(cases[i].status,
		    cases[i].timed_out)));
}

struct out_case {
	const char	*name;
	const char	*out;
	const char	*reply;
	const char	*headers;
	unsigned	 dropped;
	unsigned	 block;
};

static const struct out_case out_cases[] = {
	{ "nothing", "", "", "", 0, 0 },
	{ "reply only", "Spam score 12.5\n", "Spam score 12.5", "", 0, 0 },
	{ "reply without LF", "Virus found", "Virus found", "", 0, 0 },
	{ "CRLF reply", "Go away\r\n", "Go away", "", 0, 0 },
	{ "codes stripped", "550 5.7.1 Rejected as spam\n",
	    "Rejected as spam", "", 0, 0 },
	{ "code alone stripped", "451 later\n", "later", "", 0, 0 },
	{ "control bytes", "bad\x01\x1b[31mred\x7f\xff\tend\n",
	    "bad??[31mred?? end", "", 0, 0 },
	{ "blank reply, headers",
	    "\nX-Spam-Status: No, score=1.2\n\tlong=yes\nX-Spam-Level: *\n",
	    "", "X-Spam-Status: No, score=1.2\r\n\tlong=yes\r\n"
	    "X-Spam-Level: *\r\n", 0, 0 },
	{ "bad field name", "\nX Spam: no\nX-Ok: yes\n", "", "X-Ok: yes\r\n",
	    1, 0 },
	{ "no colon", "\njust words\nX-Ok: yes\n", "", "X-Ok: yes\r\n", 1, 0 },
	{ "continuation of nothing", "\n folded\nX-Ok: 1\n", "",
	    "X-Ok: 1\r\n", 1, 0 },
	{ "8-bit value", "\nX-Bad: caf\xc3\xa9\nX-Ok: 1\n", "", "X-Ok: 1\r\n",
	    1, 0 },
	{ "bad continuation drops the field",
	    "\nX-A: 1\n\tbad\x01\nX-B: 2\n", "", "X-B: 2\r\n", 1, 0 },
	{ "reserved fields", "\nReceived: from evil\nreturn-path: <x@y>\n"
	    "Delivered-To: a@b\nX-Ok: 1\n", "", "X-Ok: 1\r\n", 3, 0 },
	{ "block request", "Spamware\nMoat-Block: 2h\n", "Spamware", "", 0,
	    7200 },
	{ "bad block request", "x\nMoat-Block: forever\n", "x", "", 1, 0 },
	{ "blank lines between fields", "\nX-A: 1\n\n\nX-B: 2\n", "",
	    "X-A: 1\r\nX-B: 2\r\n", 0, 0 },
	{ "shell text is inert", "$(touch /tmp/x)\nX-Cmd: `id`; rm -rf /\n",
	    "$(touch /tmp/x)", "X-Cmd: `id`; rm -rf /\r\n", 0, 0 },
};

static void
test_outputs(void)
{
	struct filter_output o;
	size_t i;

	for (i = 0; i < sizeof(out_cases) / sizeof(out_cases[0]); i++) {
		const struct out_case *c = &out_cases[i];

		filter_output_parse(c->out, strlen(c->out), &o);
		CHECK(strcmp(o.reply, c->reply) == 0, "%s: reply \"%s\"",
		    c->name, o.reply);
		CHECK(o.hlen == strlen(c->headers) &&
		    memcmp(o.headers, c->headers, o.hlen) == 0,
		    "%s: headers \"%.*s\"", c->name, (int)o.hlen, o.headers);
		CHECK(o.dropped == c->dropped, "%s: dropped %u", c->name,
		    o.dropped);
		CHECK(o.block == c->block, "%s: block %u", c->name, o.block);
	}
}

/* Megabytes, lines past 998, more fields than allowed: all bounded. */
static void
test_limits(void)
{
	struct filter_output o;
	size_t big = 4u << 20, i, n = 0;
	char *buf = malloc(big);

	if (buf == NULL) {
		CHECK(0, "malloc");
		return;
	}
	memset(buf, 'A', big);
	filter_output_parse(buf, big, &o);
	CHECK(strlen(o.reply) == FILTER_REPLY_MAX, "reply capped: %zu",
	    strlen(o.reply));
	CHECK(o.hlen == 0, "no headers from one huge line");

	n = (size_t)snprintf(buf, big, "\nX-Long: ");
	memset(buf + n, 'v', 1000);
	n += 1000;
	n += (size_t)snprintf(buf + n, big - n, "\nX-Ok: 1\n");
	filter_output_parse(buf, n, &o);
	CHECK(o.dropped == 1 && o.hlen == 9, "a line past 998 dropped");

	n = 1;
	buf[0] = '\n';
	for (i = 0; i < FILTER_FIELDS_MAX + 10; i++)
		n += (size_t)snprintf(buf + n, big - n, "X-F%zu: %zu\n", i, i);
	filter_output_parse(buf, n, &o);
	CHECK(o.nfields == FILTER_FIELDS_MAX && o.dropped == 10,
	    "fields capped: %u kept, %u dropped", o.nfields, o.dropped);
	CHECK(o.hlen <= sizeof(o.headers), "headers bounded");

	n = 1;
	for (i = 0; i < 40; i++) {
		n += (size_t)snprintf(buf + n, big - n, "X-Big%zu: ", i);
		memset(buf + n, 'b', 900);
		n += 900;
		buf[n++] = '\n';
	}
	filter_output_parse(buf, n, &o);
	CHECK(o.hlen <= sizeof(o.headers) && o.dropped > 0 && o.nfields > 0,
	    "bytes capped: %zu kept, %u dropped", o.hlen, o.dropped);
	free(buf);
}

int
main(void)
{
	test_verdicts();
	test_outputs();
	test_limits();
	T_DONE();
}
