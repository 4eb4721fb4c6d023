/*
 * fuzz_dns: a DNS reply from the network, as the worker's resolver gets
 * it.  Byte 0 picks the question type (A, AAAA, PTR, MX); the rest is the
 * packet.  dns_parse_reply makes it an answer; for an A answer,
 * dnsbl_judge then reads it as a DNS list's.
 *
 * Invariants: the status is one of the known ones; an error string comes
 * exactly with a failure; only a found answer carries records, at most
 * as many as there is room for, and a found answer carries at least one
 * (or is a null MX); every name kept is terminated, lower-case and a
 * valid host name (so no control byte, space, quote or shell
 * metacharacter ever reaches a log, a header or a pattern); a null MX is
 * one record.  A list's answer is listed only inside 127.0.0.0/8 and
 * outside 127.255.255.0/24, and its code is a dotted quad or empty.
 */
#include <arpa/inet.h>

#include <string.h>

#include <ares.h>

#include "fuzz.h"
#include "../../conf/conf.h"
#include "../../dnsbl/dnsbl.h"
#include "../../dnsbl/dnscache.h"
#include "../../smtpd/parse.h"

static void
check_names(const struct dns_answer *a)
{
	size_t i, len, k;

	FUZZ_CHECK(a->n <= DNS_NAMES_MAX);
	for (i = 0; i < a->n; i++) {
		FUZZ_CHECK(memchr(a->u.name[i], '\0', DNS_NAME_MAX + 1) !=
		    NULL);
		len = strlen(a->u.name[i]);
		FUZZ_CHECK(len > 0 && domain_valid(a->u.name[i], len));
		for (k = 0; k < len; k++)
			FUZZ_CHECK(!(a->u.name[i][k] >= 'A' &&
			    a->u.name[i][k] <= 'Z'));
	}
}

static void
check_judge(const struct dns_answer *a)
{
	struct dns_zone z;
	struct in_addr ia;
	char code[INET_ADDRSTRLEN];
	const char *why = NULL;
	enum zone_result r;
	uint32_t v;

	memset(&z, 0, sizeof(z));
	memcpy(z.zone, "bl.example", sizeof("bl.example"));
	r = dnsbl_judge(&z, a, code, sizeof(code), &why);
	FUZZ_CHECK(r == ZONE_LISTED || r == ZONE_NOT_LISTED ||
	    r == ZONE_ERROR);
	FUZZ_CHECK(memchr(code, '\0', sizeof(code)) != NULL);
	FUZZ_CHECK(code[0] == '\0' || inet_pton(AF_INET, code, &ia) == 1);
	FUZZ_CHECK(r != ZONE_ERROR || why != NULL);
	if (r == ZONE_LISTED) {
		FUZZ_CHECK(a->status == DNS_FOUND && a->n > 0);
		FUZZ_CHECK(inet_pton(AF_INET, code, &ia) == 1);
		v = ntohl(ia.s_addr);
		FUZZ_CHECK(v >> 24 == 127 && v >> 8 != 0x7fffff);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum dns_type types[] = { DNS_A, DNS_AAAA, DNS_PTR,
	    DNS_MX };
	struct dns_answer a;
	enum dns_type t;

	if (size < 1 || size > 65536)
		return 0;
	t = types[data[0] & 3];
	(void)dns_parse_reply(t, ARES_SUCCESS, data + 1, (int)(size - 1), &a);
	FUZZ_CHECK(a.status == DNS_FOUND || a.status == DNS_NXDOMAIN ||
	    a.status == DNS_NODATA || a.status == DNS_TEMPFAIL ||
	    a.status == DNS_BADANSWER);
	FUZZ_CHECK((a.error == NULL) == (a.status == DNS_FOUND));
	FUZZ_CHECK(a.status == DNS_FOUND || a.n == 0);
	FUZZ_CHECK(a.status != DNS_FOUND || a.n > 0);
	FUZZ_CHECK(!a.null_mx || (t == DNS_MX && a.n == 1));
	if (t == DNS_A || t == DNS_AAAA)
		FUZZ_CHECK(a.n <= DNS_ANSWERS_MAX);
	if (t == DNS_PTR)
		check_names(&a);
	if (t == DNS_A)
		check_judge(&a);
	return 0;
}
