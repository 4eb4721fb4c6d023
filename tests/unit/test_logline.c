/*
 * test_logline: moatd's log lines read back: the three prefixes, quoted
 * values with every escape, lines of other programs, lines cut short.
 */
#include <string.h>

#include "t.h"
#include "../../report/logline.h"

static void
test_prefixes(void)
{
	char a[] = "2026-11-23T11:54:09.108 moatd[25454]: accept session=1 "
	    "qid=6B04 ip=127.0.0.1 nrcpt=1\n";
	char b[] = "Nov  3 07:05:09 mx moatd[25454]: reject stage=rcpt "
	    "class=unknown-recipient ip=192.0.2.7";
	char c[] = "2026-11-23T11:54:09.123456+01:00 mx moatd[1]: connect "
	    "session=2 ip=2001:db8::1 port=25";
	char d[] = "Nov 23 07:05:09 mx postfix/smtpd[99]: connect from x";
	char e[] = "garbage";
	char f[] = "2026-13-99T99:99:99.000 moatd[1]: accept ip=x";
	char g[] = "Feb 30 25:00:00 mx moatd[1]: accept ip=x";
	struct logline l;

	CHECK(logline_parse(a, 202611, &l) == 1 &&
	    strcmp(l.when, "2026-11-23T11:54:09") == 0 &&
	    strcmp(l.event, "accept") == 0 && l.nf == 4 &&
	    strcmp(logline_get(&l, "nrcpt"), "1") == 0, "foreground");
	CHECK(logline_parse(b, 202511, &l) == 1 &&
	    strcmp(l.when, "2025-11-03T07:05:09") == 0 &&
	    strcmp(logline_get(&l, "class"), "unknown-recipient") == 0 &&
	    strcmp(logline_get(&l, "ip"), "192.0.2.7") == 0, "syslog: %s",
	    l.when);
	CHECK(logline_parse(c, 202001, &l) == 1 &&
	    strcmp(l.when, "2026-11-23T11:54:09") == 0 &&
	    strcmp(logline_get(&l, "ip"), "2001:db8::1") == 0, "ISO syslog");
	CHECK(logline_parse(d, 202611, &l) == 0, "another program");
	CHECK(logline_parse(e, 202611, &l) == 0, "garbage");
	CHECK(logline_parse(f, 202611, &l) == 0, "a date that cannot be");
	CHECK(logline_parse(g, 202611, &l) == 0, "an hour that cannot be");
	{
		char dec[] = "Dec 31 23:59:59 mx moatd[1]: accept ip=x";
		char fake[] = "Nov 23 07:05:09 mx sshd[9]: Invalid user x "
		    "moatd[1]: reject stage=rcpt class=EVIL ip=6.6.6.6";

		CHECK(logline_parse(dec, 202601, &l) == 1 &&
		    strcmp(l.when, "2025-12-31T23:59:59") == 0,
		    "December read in January: %s", l.when);
		CHECK(logline_parse(fake, 202611, &l) == 0,
		    "another program quoting moatd[");
	}
	CHECK(logline_get(&l, "nothing") == NULL, "no such key");
}

static void
test_quoting(void)
{
	char a[] = "2026-11-23T11:54:09.108 moatd[1]: reject stage=data "
	    "class=filter:spam reply=\"550 5.7.1 \\\"spam\\\" a\\\\b\\x01\\n\" "
	    "empty=\"\" ip=127.0.0.9";
	char b[] = "2026-11-23T11:54:09.108 moatd[1]: defer reason=\"cut off";
	struct logline l;

	CHECK(logline_parse(a, 202611, &l) == 1, "parsed");
	CHECK(strcmp(logline_get(&l, "reply"), "550 5.7.1 \"spam\" a\\b\x01\n")
	    == 0, "unquoted: %s", logline_get(&l, "reply"));
	CHECK(strcmp(logline_get(&l, "empty"), "") == 0, "empty value");
	CHECK(strcmp(logline_get(&l, "ip"), "127.0.0.9") == 0, "after it");
	CHECK(logline_parse(b, 202611, &l) == 1 &&
	    strcmp(logline_get(&l, "reason"), "cut off") == 0, "unclosed");
}

int
main(void)
{
	test_prefixes();
	test_quoting();
	T_DONE();
}
