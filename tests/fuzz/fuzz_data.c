/*
 * fuzz_data: the DATA recogniser.  Byte 0 picks the policy (bit 0), the
 * size limit (bits 1-2: none, 16, 64, 512) and the hop limit (bits 3-5);
 * byte 1 picks where the input is first cut and the chunk size after it.
 * The rest is what the client sends after the 354.
 *
 * Invariants, per call: consumed <= n; output within 2n+8; all input is
 * consumed unless the end was found; after the end nothing is consumed.
 * Over the whole message: stored bytes never exceed max_size; the
 * chunked feed gives exactly what the whole feed gave; and, checked
 * against a naive oracle on the raw bytes, the message ends exactly at
 * the first CR LF "." CR LF (counting the DATA command's CR LF), a
 * message without errors is stored with CR LF line ends only, and under
 * BARE_LF_REJECT with no limits the bare-LF error is set exactly when the
 * raw bytes hold a bare CR or LF.
 */
#include <string.h>

#include "fuzz.h"
#include "../../smtpd/dataparse.h"

struct run {
	char		*out;
	size_t		 outlen;
	size_t		 consumed;
	struct dataparse p;
};

static void
run_feed(struct run *r, const char *in, size_t n)
{
	size_t sz = 2 * n + 8, got, olen;
	char *out;
	int was_done = r->p.done;
	enum data_error was_err = r->p.error;

	if ((out = malloc(sz)) == NULL)
		abort();
	got = data_feed(&r->p, in, n, out, sz, &olen);
	FUZZ_CHECK(got <= n && olen <= sz);
	FUZZ_CHECK(!was_done || (got == 0 && olen == 0 && r->p.done));
	FUZZ_CHECK(r->p.done || got == n);
	FUZZ_CHECK(was_err == DATA_OK || olen == 0);	/* no output after */
	memcpy(r->out + r->outlen, out, olen);
	r->outlen += olen;
	r->consumed += got;
	free(out);
}

static void
run_init(struct run *r, size_t n, enum bare_lf_policy pol,
    uint64_t max_size, unsigned max_hops)
{
	memset(r, 0, sizeof(*r));
	if ((r->out = malloc(2 * n + 8)) == NULL)
		abort();
	data_init(&r->p, pol, max_size, max_hops);
}

/* End of the first "\r\n.\r\n" in "\r\n" + in, as an offset in in. */
static size_t
oracle_end(const char *in, size_t n, int *found)
{
	static const char mark[] = "\r\n.\r\n";
	size_t i, k;
	char c;

	for (i = 0; i + 5 <= n + 2; i++) {
		for (k = 0; k < 5; k++) {
			c = i + k < 2 ? "\r\n"[i + k] : in[i + k - 2];
			if (c != mark[k])
				break;
		}
		if (k == 5) {
			*found = 1;
			return i + 5 - 2;
		}
	}
	*found = 0;
	return n;
}

/* Does in[0..n) hold a CR not followed by LF, or an LF not after CR?
 * A CR at the very end is not judged yet. */
static int
oracle_bare(const char *in, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (in[i] == '\r' && i + 1 < n && in[i + 1] != '\n')
			return 1;
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			return 1;
	}
	return 0;
}

static int
crlf_only(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
			return 0;
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

static void
check_oracle(const struct run *r, const char *in, size_t n)
{
	size_t end;
	int found;

	end = oracle_end(in, n, &found);
	FUZZ_CHECK(r->p.done == found && r->consumed == end);
	FUZZ_CHECK(r->p.size == r->outlen);
	if (r->p.max_size != 0)
		FUZZ_CHECK(r->outlen <= r->p.max_size);
	if (r->p.error == DATA_OK && r->p.done) {
		FUZZ_CHECK(crlf_only(r->out, r->outlen));
		FUZZ_CHECK(r->outlen == 0 || (r->outlen >= 2 &&
		    memcmp(r->out + r->outlen - 2, "\r\n", 2) == 0));
	}
	if (r->p.policy == BARE_LF_REJECT && r->p.max_size == 0 &&
	    r->p.max_hops == 0)
		FUZZ_CHECK((r->p.error == DATA_ERR_BARE_LF) ==
		    oracle_bare(in, r->consumed));
	if (r->p.policy == BARE_LF_NORMALIZE)
		FUZZ_CHECK(r->p.error != DATA_ERR_BARE_LF);
	if (r->p.error == DATA_ERR_HOPS)
		FUZZ_CHECK(r->p.hops == r->p.max_hops + 1);
	else if (r->p.max_hops != 0)
		FUZZ_CHECK(r->p.hops <= r->p.max_hops);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[4] = { 0, 16, 64, 512 };
	const char *in = (const char *)data + 2;
	struct run whole, cut;
	enum bare_lf_policy pol;
	size_t n, first, chunk, pos;

	if (size < 2)
		return 0;
	n = size - 2;
	pol = data[0] & 1 ? BARE_LF_NORMALIZE : BARE_LF_REJECT;

	run_init(&whole, n, pol, sizes[(data[0] >> 1) & 3],
	    (data[0] >> 3) & 7);
	run_feed(&whole, in, n);
	run_feed(&whole, in + whole.consumed, n - whole.consumed);

	run_init(&cut, n, pol, sizes[(data[0] >> 1) & 3],
	    (data[0] >> 3) & 7);
	first = n * data[1] / 256;
	chunk = 1 + (data[1] & 7);
	run_feed(&cut, in, first);
	for (pos = first; pos < n; pos += chunk)
		run_feed(&cut, in + pos, chunk < n - pos ? chunk : n - pos);

	FUZZ_CHECK(whole.outlen == cut.outlen);
	FUZZ_CHECK(memcmp(whole.out, cut.out, whole.outlen) == 0);
	FUZZ_CHECK(whole.consumed == cut.consumed);
	FUZZ_CHECK(whole.p.done == cut.p.done);
	FUZZ_CHECK(whole.p.error == cut.p.error);
	FUZZ_CHECK(whole.p.hops == cut.p.hops);
	FUZZ_CHECK(whole.p.size == cut.p.size);
	check_oracle(&whole, in, n);

	free(whole.out);
	free(cut.out);
	return 0;
}
