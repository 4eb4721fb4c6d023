/*
 * fuzz_cmd: the command stream, as a session reads it.  The first byte
 * picks the line limit and a chunk size; the rest is the client's bytes,
 * fed through line_get whole and again in chunks.  Every line goes to
 * cmd_parse, and MAIL/RCPT arguments on to addr_parse.
 *
 * Invariants: line_get never consumes more than it was given, returns a
 * line within the limit that ends at an LF, and finds the same lines
 * (the same transcript) however the bytes are cut; cmd_parse's argument
 * lies inside the line with no trailing space, and a verb is known
 * exactly when the result is CMD_OK.
 */
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "../../smtpd/parse.h"

/* FNV-1a over the events, so two runs can be compared cheaply. */
static uint64_t
mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void
check_path(const char *arg, size_t len)
{
	struct addr a;
	const char *rest;
	enum addr_error e;

	e = addr_parse(arg, len, 1, 0, &a, &rest);
	FUZZ_CHECK(rest >= arg && rest <= arg + len);
	FUZZ_CHECK(e != ADDR_OK || a.null || a.domain[0] != '\0');
}

static void
check_cmd(const char *line, size_t len)
{
	struct cmd c;
	enum cmd_error e;

	e = cmd_parse(line, len, &c);
	FUZZ_CHECK(cmd_name(c.verb) != NULL);
	FUZZ_CHECK((e == CMD_OK) == (c.verb != CMD_UNKNOWN));
	if (e != CMD_OK)
		return;
	FUZZ_CHECK(c.arg >= line && c.arg + c.arglen <= line + len);
	FUZZ_CHECK(c.arglen == 0 || c.arg[c.arglen - 1] != ' ');
	FUZZ_CHECK(memchr(c.arg, '\0', c.arglen) == NULL);
	FUZZ_CHECK(memchr(c.arg, '\r', c.arglen) == NULL);
	if (c.verb == CMD_MAIL && c.arglen >= 5 &&
	    strncasecmp(c.arg, "FROM:", 5) == 0)
		check_path(c.arg + 5, c.arglen - 5);
	if (c.verb == CMD_RCPT && c.arglen >= 3 &&
	    strncasecmp(c.arg, "TO:", 3) == 0)
		check_path(c.arg + 3, c.arglen - 3);
}

/* Read in[0..n) as a session would, chunk bytes per read (0: all). */
static uint64_t
session(const char *in, size_t n, size_t max, size_t chunk)
{
	struct linereader lr = { 0 };
	char *pend;
	size_t plen = 0, fed = 0, k, ll, used;
	enum line_status st;
	uint64_t h = 0xcbf29ce484222325ull;

	if ((pend = malloc(n + 1)) == NULL)
		abort();
	while (fed < n) {
		k = chunk == 0 || chunk > n - fed ? n - fed : chunk;
		memcpy(pend + plen, in + fed, k);
		plen += k;
		fed += k;
		for (;;) {
			st = line_get(&lr, pend, plen, max, &ll, &used);
			FUZZ_CHECK(used <= plen);
			if (st == LINE_OK) {
				FUZZ_CHECK(ll < used && ll + 1 <= max);
				FUZZ_CHECK(pend[ll] == '\n');
				FUZZ_CHECK(memchr(pend, '\n', ll) == NULL);
				check_cmd(pend, ll);
				h = mix(h, "L", 1);
				h = mix(h, pend, ll);
			} else if (st == LINE_TOOLONG) {
				FUZZ_CHECK(used >= max);
				h = mix(h, "T", 1);
			} else
				FUZZ_CHECK(used == 0 || !lr.skipping ||
				    used == plen);
			memmove(pend, pend + used, plen - used);
			plen -= used;
			if (st == LINE_MORE && used == 0)
				break;
		}
	}
	/* Bytes left over: an unfinished line, never one of max bytes. */
	FUZZ_CHECK(lr.skipping || plen < max || max == 0);
	free(pend);
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	size_t n, max, chunk;

	if (size < 1)
		return 0;
	n = size - 1;
	max = 2 + (data[0] & 0x3f) * 8;		/* 2..506 */
	chunk = 1 + (data[0] >> 6) * 3;		/* 1, 4, 7, 10 */
	FUZZ_CHECK(session(in, n, max, 0) == session(in, n, max, chunk));
	return 0;
}
