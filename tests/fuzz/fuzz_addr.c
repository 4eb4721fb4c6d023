/*
 * fuzz_addr: paths and parameters, as in "MAIL FROM:" + the rest.  The
 * first byte gives allow_null (bit 0) and utf8 (bit 1); the rest is what
 * follows the colon.  After addr_parse, the parameters it points at go to
 * mail_params_parse and rcpt_params_parse; the raw input also goes to
 * domain_valid, domain_fqdn and addr_literal.
 *
 * Invariants: every string in struct addr is terminated inside its array
 * and within the RFC limits; an accepted domain is lower-case and valid
 * (or a valid literal); *rest lies inside the input; an accepted address
 * re-parses from its own text to the same local part and domain (what
 * we log is what we decided on); an FQDN is a valid domain.
 */
#include <sys/socket.h>

#include <string.h>

#include "fuzz.h"
#include "../../smtpd/parse.h"

static int
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int
has_upper(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			return 1;
	return 0;
}

static int
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

static void
check_domain(const struct addr *a)
{
	char ip[64];
	size_t dlen = strlen(a->domain);

	FUZZ_CHECK(dlen > 0 && dlen <= ADDR_DOMAIN_MAX);
	FUZZ_CHECK(!has_upper(a->domain));
	if (a->literal)
		FUZZ_CHECK(addr_literal(a->domain, dlen, ip, sizeof(ip)) ==
		    AF_INET || addr_literal(a->domain, dlen, ip,
		    sizeof(ip)) == AF_INET6);
	else if (!has_8bit(a->domain))
		FUZZ_CHECK(domain_valid(a->domain, dlen));
}

/* "<" text ">" must give back the same address, without a route. */
static void
check_roundtrip(const struct addr *a, int utf8)
{
	char path[sizeof(a->text) + 2];
	struct addr b;
	const char *rest;
	size_t tlen = strlen(a->text);

	path[0] = '<';
	memcpy(path + 1, a->text, tlen);
	path[tlen + 1] = '>';
	FUZZ_CHECK(addr_parse(path, tlen + 2, 0, utf8, &b, &rest) ==
	    ADDR_OK);
	FUZZ_CHECK(strcmp(a->local, b.local) == 0);
	FUZZ_CHECK(strcmp(a->domain, b.domain) == 0);
	FUZZ_CHECK(strcmp(a->text, b.text) == 0);
	FUZZ_CHECK(a->quoted == b.quoted && a->literal == b.literal);
	FUZZ_CHECK(!b.route && !b.trailing_dot && rest == path + tlen + 2);
}

static void
check_params(const char *s, size_t len)
{
	struct mail_params mp;
	char badkey[16];
	enum param_error e;

	e = mail_params_parse(s, len, &mp, badkey, sizeof(badkey));
	FUZZ_CHECK(terminated(badkey, sizeof(badkey)));
	FUZZ_CHECK(e != PARAM_OK || badkey[0] == '\0');
	FUZZ_CHECK(e != PARAM_UNKNOWN || badkey[0] != '\0');
	FUZZ_CHECK(mp.body == 0 || mp.body == 7 || mp.body == 8);
	FUZZ_CHECK(mp.size_set || mp.size == 0);
	e = rcpt_params_parse(s, len, badkey, sizeof(badkey));
	FUZZ_CHECK(terminated(badkey, sizeof(badkey)));
	FUZZ_CHECK(e != PARAM_OK || badkey[0] == '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1, *rest;
	struct addr a, again;
	char ip[64];
	enum addr_error e;
	size_t len;
	int allow_null, utf8;

	if (size < 1)
		return 0;
	allow_null = data[0] & 1;
	utf8 = (data[0] >> 1) & 1;
	len = size - 1;

	e = addr_parse(s, len, allow_null, utf8, &a, &rest);
	FUZZ_CHECK(rest >= s && rest <= s + len);
	FUZZ_CHECK(terminated(a.local, sizeof(a.local)));
	FUZZ_CHECK(terminated(a.domain, sizeof(a.domain)));
	FUZZ_CHECK(terminated(a.text, sizeof(a.text)));
	FUZZ_CHECK(addr_parse(s, len, allow_null, utf8, &again, &rest) == e);
	FUZZ_CHECK(memcmp(&a, &again, sizeof(a)) == 0);
	if (e == ADDR_OK || e == ADDR_NO_DOMAIN)
		FUZZ_CHECK(rest > s && rest[-1] == '>');
	if (e == ADDR_OK && a.null)
		FUZZ_CHECK(allow_null && a.text[0] == '\0');
	if (e == ADDR_OK && !a.null) {
		FUZZ_CHECK(strlen(a.local) <= ADDR_LOCAL_MAX);
		FUZZ_CHECK(strlen(a.text) + 2 <= ADDR_PATH_MAX);
		FUZZ_CHECK(utf8 || !has_8bit(a.text));
		check_domain(&a);
		check_roundtrip(&a, utf8);
	}
	if (e == ADDR_OK)
		check_params(rest, (size_t)(s + len - rest));
	check_params(s, len);

	if (domain_fqdn(s, len))
		FUZZ_CHECK(domain_valid(s, len));
	if (addr_literal(s, len, ip, sizeof(ip)) != -1)
		FUZZ_CHECK(terminated(ip, sizeof(ip)) && ip[0] != '\0');
	return 0;
}
