/*
 * test_limits: the shared session counters, per slot and per address,
 * including the sweep that forgets addresses with no open session.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "../../smtpd/limits.h"
#include "t.h"


#define SA(x)	((struct sockaddr *)&(x))

static void
test_counts(void)
{
	struct sockaddr_storage a = t_addr("192.0.2.1"), b = t_addr("192.0.2.2");
	struct sockaddr_storage m = t_addr("::ffff:192.0.2.1"), v6 = t_addr("2001:db8::1");

	CHECK(limits_init(4, 100) == 0, "init");
	limits_set_slot(0, 64);
	limits_open(SA(a));
	limits_open(SA(a));
	limits_open(SA(b));
	limits_set_slot(1, 64);
	limits_open(SA(a));
	limits_open(SA(v6));
	CHECK(limits_total() == 5, "total across slots: %u", limits_total());
	CHECK(limits_ip_count(SA(a)) == 3, "a across slots: %u",
	    limits_ip_count(SA(a)));
	CHECK(limits_ip_count(SA(m)) == 3, "v4-mapped is the same client");
	CHECK(limits_ip_count(SA(b)) == 1, "b");
	CHECK(limits_ip_count(SA(v6)) == 1, "v6");
	{
		struct sockaddr_storage same = t_addr("2001:db8::2:1"),
		    other = t_addr("2001:db8:0:1::1");

		CHECK(limits_ip_count(SA(same)) == 1, "v6: one /64 one client");
		CHECK(limits_ip_count(SA(other)) == 0, "v6: another /64");
	}
	limits_close(SA(a));
	CHECK(limits_ip_count(SA(a)) == 2, "a after close in slot 1");
	limits_clear_slot(0);		/* worker 0 died */
	CHECK(limits_ip_count(SA(a)) == 0 && limits_total() == 1,
	    "slot cleared: a %u total %u", limits_ip_count(SA(a)),
	    limits_total());
	limits_close(SA(a));		/* never below zero */
	CHECK(limits_ip_count(SA(a)) == 0, "no underflow");
}

/* Many distinct clients come and go: the table must not fill up. */
static void
test_sweep(void)
{
	struct sockaddr_storage keep = t_addr("198.51.100.7");
	char text[64];
	unsigned i, wrong = 0;

	limits_clear_slot(2);
	limits_set_slot(2, 64);
	limits_open(SA(keep));
	for (i = 0; i < 5000; i++) {
		struct sockaddr_storage c;

		snprintf(text, sizeof(text), "10.%u.%u.%u", i >> 16,
		    (i >> 8) & 255, i & 255);
		c = t_addr(text);
		limits_open(SA(c));
		if (limits_ip_count(SA(c)) != 1)
			wrong++;
		limits_close(SA(c));
	}
	CHECK(wrong == 0, "%u of 5000 passing clients miscounted", wrong);
	CHECK(limits_ip_count(SA(keep)) == 1, "live client kept by sweeps");
}

int
main(void)
{
	test_counts();
	test_sweep();
	T_DONE();
}
