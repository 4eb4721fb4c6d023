/*
 * test_dataparse: the DATA recogniser.  Every case runs under both
 * bare-LF policies where it names both, and is fed whole, one byte at a
 * time, split in two at every position and in pseudo-random chunks: all
 * feedings must give the same output, error, hop count and end position.
 * Each call gets an output buffer of exactly 2n+8 bytes so that ASan
 * catches any write past the documented bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "../../smtpd/dataparse.h"

#define S(x)		x, sizeof(x) - 1
#define ALL		((size_t)-1)	/* consumed: the whole input */
#define R		BARE_LF_REJECT
#define N		BARE_LF_NORMALIZE

struct data_case {
	const char		*name;
	enum bare_lf_policy	 policy;
	const char		*in;
	size_t			 inlen;
	uint64_t		 max_size;
	unsigned		 max_hops;
	const char		*out;
	size_t			 outlen;
	enum data_error		 err;
	int			 done;
	size_t			 consumed;
	unsigned		 hops;
};

/* What follows a fake end in the smuggling cases: a second transaction. */
#define EVIL	"MAIL FROM:<x@evil.test>\r\nRCPT TO:<v@example.test>\r\n" \
		"DATA\r\nsmuggled\r\n"
#define HDR	"Subject: t\r\n\r\nhello"
#define TAIL	"QUIT\r\n"

static const struct data_case cases[] = {
	/* the end of data and dot-stuffing */
	{ "empty message", R, S(".\r\n"), 0, 0, S(""), DATA_OK, 1, ALL, 0 },
	{ "empty message n", N, S(".\r\n"), 0, 0, S(""), DATA_OK, 1, ALL, 0 },
	{ "simple", R, S("Subject: hi\r\n\r\nbody\r\n.\r\n"), 0, 0,
	  S("Subject: hi\r\n\r\nbody\r\n"), DATA_OK, 1, ALL, 0 },
	{ "pipelined after end", R, S("a\r\n.\r\nQUIT\r\n"), 0, 0,
	  S("a\r\n"), DATA_OK, 1, 6, 0 },
	{ "no end yet", R, S("a\r\nb\r\n"), 0, 0, S("a\r\nb\r\n"), DATA_OK,
	  0, ALL, 0 },
	{ "pending cr", R, S("abc\r"), 0, 0, S("abc"), DATA_OK, 0, ALL, 0 },
	{ "pending dot", R, S("abc\r\n."), 0, 0, S("abc\r\n"), DATA_OK, 0,
	  ALL, 0 },
	{ "empty line then end", R, S("\r\n.\r\n"), 0, 0, S("\r\n"),
	  DATA_OK, 1, ALL, 0 },
	{ "stuffed dot line", R, S("..\r\n.\r\n"), 0, 0, S(".\r\n"),
	  DATA_OK, 1, ALL, 0 },
	{ "stuffed lines", R, S("..foo\r\n...\r\n.\r\n"), 0, 0,
	  S(".foo\r\n..\r\n"), DATA_OK, 1, ALL, 0 },
	{ "stuffed lines n", N, S("..foo\r\n...\r\n.\r\n"), 0, 0,
	  S(".foo\r\n..\r\n"), DATA_OK, 1, ALL, 0 },
	{ "dot mid line", R, S("a.\r\n a.b\r\n.\r\n"), 0, 0,
	  S("a.\r\n a.b\r\n"), DATA_OK, 1, ALL, 0 },
	{ "unstuffed dot text", R, S(".a\r\n.\r\n"), 0, 0, S("a\r\n"),
	  DATA_OK, 1, ALL, 0 },
	{ "dot space is not end", R, S(". \r\n.\r\n"), 0, 0, S(" \r\n"),
	  DATA_OK, 1, ALL, 0 },
	{ "nul kept", R, S("a\0b\r\n\0\r\n.\r\n"), 0, 0,
	  S("a\0b\r\n\0\r\n"), DATA_OK, 1, ALL, 0 },
	{ "8bit kept", R, S("\xc3\xa9\xff\r\n.\r\n"), 0, 0,
	  S("\xc3\xa9\xff\r\n"), DATA_OK, 1, ALL, 0 },

	/* smuggling: a fake end, a second transaction, then the real end */
	{ "smuggle lf.lf r", R, S(HDR "\n.\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR), DATA_ERR_BARE_LF, 1, sizeof(HDR "\n.\n" EVIL ".\r\n") - 1,
	  0 },
	{ "smuggle lf.lf n", N, S(HDR "\n.\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n.\r\n" EVIL), DATA_OK, 1,
	  sizeof(HDR "\n.\n" EVIL ".\r\n") - 1, 0 },
	{ "smuggle lf.crlf r", R, S(HDR "\n.\r\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR), DATA_ERR_BARE_LF, 1,
	  sizeof(HDR "\n.\r\n" EVIL ".\r\n") - 1, 0 },
	{ "smuggle lf.crlf n", N, S(HDR "\n.\r\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n.\r\n" EVIL), DATA_OK, 1,
	  sizeof(HDR "\n.\r\n" EVIL ".\r\n") - 1, 0 },
	{ "smuggle crlf.lf r", R, S(HDR "\r\n.\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n"), DATA_ERR_BARE_LF, 1,
	  sizeof(HDR "\r\n.\n" EVIL ".\r\n") - 1, 0 },
	{ "smuggle crlf.lf n", N, S(HDR "\r\n.\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n\r\n" EVIL), DATA_OK, 1,
	  sizeof(HDR "\r\n.\n" EVIL ".\r\n") - 1, 0 },
	{ "smuggle cr.cr r", R, S(HDR "\r.\r" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR), DATA_ERR_BARE_LF, 1,
	  sizeof(HDR "\r.\r" EVIL ".\r\n") - 1, 0 },
	{ "smuggle cr.cr n", N, S(HDR "\r.\r" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n.\r\n" EVIL), DATA_OK, 1,
	  sizeof(HDR "\r.\r" EVIL ".\r\n") - 1, 0 },
	{ "smuggle crlf.cr r", R, S(HDR "\r\n.\r" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n"), DATA_ERR_BARE_LF, 1,
	  sizeof(HDR "\r\n.\r" EVIL ".\r\n") - 1, 0 },
	{ "smuggle crlf.cr n", N, S(HDR "\r\n.\r" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n\r\n" EVIL), DATA_OK, 1,
	  sizeof(HDR "\r\n.\r" EVIL ".\r\n") - 1, 0 },
	{ "smuggle cr.crlf r", R, S(HDR "\r.\r\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR), DATA_ERR_BARE_LF, 1,
	  sizeof(HDR "\r.\r\n" EVIL ".\r\n") - 1, 0 },
	{ "smuggle cr.crlf n", N, S(HDR "\r.\r\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n.\r\n" EVIL), DATA_OK, 1,
	  sizeof(HDR "\r.\r\n" EVIL ".\r\n") - 1, 0 },
	{ "smuggle lf.cr r", R, S(HDR "\n.\r" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR), DATA_ERR_BARE_LF, 1,
	  sizeof(HDR "\n.\r" EVIL ".\r\n") - 1, 0 },
	{ "smuggle lf.cr n", N, S(HDR "\n.\r" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n.\r\n" EVIL), DATA_OK, 1,
	  sizeof(HDR "\n.\r" EVIL ".\r\n") - 1, 0 },
	{ "smuggle cr.lf r", R, S(HDR "\r.\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR), DATA_ERR_BARE_LF, 1,
	  sizeof(HDR "\r.\n" EVIL ".\r\n") - 1, 0 },
	{ "smuggle cr.lf n", N, S(HDR "\r.\n" EVIL ".\r\n" TAIL), 0, 0,
	  S(HDR "\r\n.\r\n" EVIL), DATA_OK, 1,
	  sizeof(HDR "\r.\n" EVIL ".\r\n") - 1, 0 },
	{ "smuggle crcrlf.crlf r", R, S(HDR "\r\r\n.\r\n" TAIL), 0, 0,
	  S(HDR), DATA_ERR_BARE_LF, 1, sizeof(HDR "\r\r\n.\r\n") - 1, 0 },
	{ "smuggle crcrlf.crlf n", N, S(HDR "\r\r\n.\r\n" TAIL), 0, 0,
	  S(HDR "\r\n\r\n"), DATA_OK, 1, sizeof(HDR "\r\r\n.\r\n") - 1, 0 },
	{ "lf then real end r", R, S("a\n\r\n.\r\n" TAIL), 0, 0, S("a"),
	  DATA_ERR_BARE_LF, 1, sizeof("a\n\r\n.\r\n") - 1, 0 },
	{ "lf then real end n", N, S("a\n\r\n.\r\n" TAIL), 0, 0,
	  S("a\r\n\r\n"), DATA_OK, 1, sizeof("a\n\r\n.\r\n") - 1, 0 },
	{ "dot lf at start r", R, S(".\n" EVIL ".\r\n" TAIL), 0, 0, S(""),
	  DATA_ERR_BARE_LF, 1, sizeof(".\n" EVIL ".\r\n") - 1, 0 },
	{ "dot lf at start n", N, S(".\n" EVIL ".\r\n" TAIL), 0, 0,
	  S("\r\n" EVIL), DATA_OK, 1, sizeof(".\n" EVIL ".\r\n") - 1, 0 },
	{ "dot cr at start r", R, S(".\r" EVIL ".\r\n" TAIL), 0, 0, S(""),
	  DATA_ERR_BARE_LF, 1, sizeof(".\r" EVIL ".\r\n") - 1, 0 },
	{ "dot cr at start n", N, S(".\r" EVIL ".\r\n" TAIL), 0, 0,
	  S("\r\n" EVIL), DATA_OK, 1, sizeof(".\r" EVIL ".\r\n") - 1, 0 },
	{ "dot cr cr lf n", N, S("a\r\n.\r\r\n.\r\n"), 0, 0,
	  S("a\r\n\r\n\r\n"), DATA_OK, 1, ALL, 0 },
	{ "stuffed fake end n", N, S("a\r\n..\r\n" EVIL ".\r\n" TAIL), 0, 0,
	  S("a\r\n.\r\n" EVIL), DATA_OK, 1,
	  sizeof("a\r\n..\r\n" EVIL ".\r\n") - 1, 0 },
	{ "stuffed fake end r", R, S("a\r\n..\r\n" EVIL ".\r\n" TAIL), 0, 0,
	  S("a\r\n.\r\n" EVIL), DATA_OK, 1,
	  sizeof("a\r\n..\r\n" EVIL ".\r\n") - 1, 0 },
	{ "bare lf only r", R, S("a\nb\n.\n"), 0, 0, S("a"),
	  DATA_ERR_BARE_LF, 0, ALL, 0 },
	{ "bare lf only n", N, S("a\nb\n.\n"), 0, 0, S("a\r\nb\r\n.\r\n"),
	  DATA_OK, 0, ALL, 0 },
	{ "cr cr lf n", N, S("a\r\r\nb\r\n.\r\n"), 0, 0, S("a\r\n\r\nb\r\n"),
	  DATA_OK, 1, ALL, 0 },
	{ "lf cr n", N, S("a\n\rb\r\n.\r\n"), 0, 0, S("a\r\n\r\nb\r\n"),
	  DATA_OK, 1, ALL, 0 },
	{ "error keeps going to end r", R, S("a\nb\r\n.\r\nQUIT\r\n"), 0, 0,
	  S("a"), DATA_ERR_BARE_LF, 1, sizeof("a\nb\r\n.\r\n") - 1, 0 },

	/* size: stored bytes, at the limit and one past */
	{ "size at max", R, S("12345678\r\n.\r\n"), 10, 0,
	  S("12345678\r\n"), DATA_OK, 1, ALL, 0 },
	{ "size max+1", R, S("123456789\r\n.\r\nQUIT\r\n"), 10, 0,
	  S("123456789\r"), DATA_ERR_SIZE, 1,
	  sizeof("123456789\r\n.\r\n") - 1, 0 },
	{ "size stuffing not counted", R, S("..2345678\r\n.\r\n"), 10, 0,
	  S(".2345678\r\n"), DATA_OK, 1, ALL, 0 },
	{ "size far past", R, S("0123456789abcdef\r\nmore\r\n.\r\n"), 10, 0,
	  S("0123456789"), DATA_ERR_SIZE, 1, ALL, 0 },
	{ "size normalized at max", N, S("12345\n\r\n.\r\n"), 9, 0,
	  S("12345\r\n\r\n"), DATA_OK, 1, ALL, 0 },
	{ "size normalized max+1", N, S("123456\n\r\n.\r\n"), 9, 0,
	  S("123456\r\n\r"), DATA_ERR_SIZE, 1, ALL, 0 },
	{ "size error then bare lf", R, S("123456789012\n\r\n.\r\n"), 10, 0,
	  S("1234567890"), DATA_ERR_SIZE, 1, ALL, 0 },
	{ "size unlimited", R, S("0123456789abcdef\r\n.\r\n"), 0, 0,
	  S("0123456789abcdef\r\n"), DATA_OK, 1, ALL, 0 },
	{ "size empty at zero limit", R, S(".\r\n"), 0, 0, S(""), DATA_OK, 1,
	  ALL, 0 },

	/* hops: Received lines in the header section */
	{ "hops at max", R, S("Received: a\r\nReceived: b\r\n\r\nx\r\n.\r\n"),
	  0, 2, S("Received: a\r\nReceived: b\r\n\r\nx\r\n"), DATA_OK, 1, ALL,
	  2 },
	{ "hops max+1", R,
	  S("Received: a\r\nreceived: b\r\nRECEIVED: c\r\n\r\nx\r\n.\r\n"), 0,
	  2, S("Received: a\r\nreceived: b\r\nRECEIVED"), DATA_ERR_HOPS, 1,
	  ALL, 3 },
	{ "hops space before colon", R,
	  S("Received : a\r\nReceived\t: b\r\n\r\n.\r\n"), 0, 0,
	  S("Received : a\r\nReceived\t: b\r\n\r\n"), DATA_OK, 1, ALL, 2 },
	{ "hops continuation", R,
	  S("Received: a\r\n Received: b\r\n\tReceived: c\r\n\r\n.\r\n"), 0,
	  1, S("Received: a\r\n Received: b\r\n\tReceived: c\r\n\r\n"),
	  DATA_OK, 1, ALL, 1 },
	{ "hops other names", R,
	  S("X-Received: a\r\nReceived-SPF: b\r\nReceivedX: c\r\n"
	    "Received foo: d\r\nReceived\r\n\r\n.\r\n"), 0, 1,
	  S("X-Received: a\r\nReceived-SPF: b\r\nReceivedX: c\r\n"
	    "Received foo: d\r\nReceived\r\n\r\n"), DATA_OK, 1, ALL, 0 },
	{ "hops in body ignored", R,
	  S("Subject: x\r\n\r\nReceived: a\r\nReceived: b\r\n.\r\n"), 0, 1,
	  S("Subject: x\r\n\r\nReceived: a\r\nReceived: b\r\n"), DATA_OK, 1,
	  ALL, 0 },
	{ "hops no headers", R, S("\r\nReceived: a\r\n.\r\n"), 0, 1,
	  S("\r\nReceived: a\r\n"), DATA_OK, 1, ALL, 0 },
	{ "hops stuffed", R, S(".Received: a\r\n.\r\n"), 0, 1,
	  S("Received: a\r\n"), DATA_OK, 1, ALL, 1 },
	{ "hops bare lf lines n", N,
	  S("Received: a\nReceived: b\n\nReceived: c\r\n.\r\n"), 0, 2,
	  S("Received: a\r\nReceived: b\r\n\r\nReceived: c\r\n"), DATA_OK, 1,
	  ALL, 2 },
	{ "hops unlimited", R,
	  S("Received: 1\r\nReceived: 2\r\nReceived: 3\r\nReceived: 4\r\n"
	    ".\r\n"), 0, 0,
	  S("Received: 1\r\nReceived: 2\r\nReceived: 3\r\nReceived: 4\r\n"),
	  DATA_OK, 1, ALL, 4 },
	{ "hops long name", R, S("Received            : a\r\n.\r\n"), 0, 1,
	  S("Received            : a\r\n"), DATA_OK, 1, ALL, 0 },
};

/* ---- feeding ---- */

struct result {
	char		 out[4096];
	size_t		 outlen;
	size_t		 consumed;
	enum data_error	 err;
	int		 done;
	unsigned	 hops;
	int		 broken;	/* an invariant failed */
};

static uint32_t rng_state;

static uint32_t
rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/*
 * Feed in[0..n) cut at the given offsets (ascending, each in 1..n-1).
 * After the end of data, later feeds must consume nothing.
 */
static void
feed(const struct data_case *c, const size_t *cuts, size_t ncuts,
    struct result *r)
{
	struct dataparse p;
	size_t start = 0, stop, k, got, olen, sz;
	char *out;

	memset(r, 0, sizeof(*r));
	data_init(&p, c->policy, c->max_size, c->max_hops);
	for (k = 0; k <= ncuts; k++) {
		stop = k < ncuts ? cuts[k] : c->inlen;
		sz = 2 * (stop - start) + 8;
		if ((out = malloc(sz)) == NULL)
			abort();
		got = data_feed(&p, c->in + start, stop - start, out, sz,
		    &olen);
		if (got > stop - start || olen > sz ||
		    r->outlen + olen > sizeof(r->out) ||
		    (r->done && (got != 0 || olen != 0)) ||
		    (!p.done && got != stop - start))
			r->broken = 1;
		else {
			memcpy(r->out + r->outlen, out, olen);
			r->outlen += olen;
		}
		free(out);
		if (!r->done)
			r->consumed += got;
		r->done = p.done;
		start = stop;
	}
	r->err = p.error;
	r->hops = p.hops;
	if (c->max_size != 0 && r->outlen > c->max_size)
		r->broken = 1;
}

static int
same(const struct result *a, const struct result *b)
{
	return !a->broken && !b->broken && a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0 &&
	    a->consumed == b->consumed && a->err == b->err &&
	    a->done == b->done && a->hops == b->hops;
}

static void
check_expected(const struct data_case *c, const struct result *r)
{
	size_t want = c->consumed == ALL ? c->inlen : c->consumed;

	CHECK(!r->broken, "%s: invariant broken", c->name);
	CHECK(r->outlen == c->outlen && memcmp(r->out, c->out,
	    c->outlen) == 0, "%s: output '%.*s' (%zu) want '%s' (%zu)",
	    c->name, (int)r->outlen, r->out, r->outlen, c->out, c->outlen);
	CHECK(r->err == c->err, "%s: error %d want %d", c->name, r->err,
	    c->err);
	CHECK(r->done == c->done, "%s: done %d want %d", c->name, r->done,
	    c->done);
	CHECK(r->consumed == want, "%s: consumed %zu want %zu", c->name,
	    r->consumed, want);
	CHECK(r->hops == c->hops, "%s: hops %u want %u", c->name, r->hops,
	    c->hops);
}

static void
run_case(const struct data_case *c, unsigned seed)
{
	static size_t cuts[8192];
	struct result whole, split;
	size_t i, n, k;
	int ok;

	feed(c, NULL, 0, &whole);
	check_expected(c, &whole);

	/* one byte at a time */
	for (i = 1; i < c->inlen; i++)
		cuts[i - 1] = i;
	feed(c, cuts, c->inlen > 0 ? c->inlen - 1 : 0, &split);
	CHECK(same(&whole, &split), "%s: byte by byte differs", c->name);

	/* two pieces, cut at every position */
	ok = 1;
	for (i = 1; i < c->inlen; i++) {
		cuts[0] = i;
		feed(c, cuts, 1, &split);
		if (!same(&whole, &split))
			ok = 0;
	}
	CHECK(ok, "%s: a two-piece split differs", c->name);

	/* random chunkings */
	rng_state = seed;
	ok = 1;
	for (k = 0; k < 50 && c->inlen > 1; k++) {
		n = 0;
		for (i = 1; i < c->inlen; i++)
			if (rng() % 4 == 0)
				cuts[n++] = i;
		feed(c, cuts, n, &split);
		if (!same(&whole, &split))
			ok = 0;
	}
	CHECK(ok, "%s: a random split differs", c->name);
}

/* After the end, nothing more is consumed, however often we call. */
static void
test_done_sticky(void)
{
	struct dataparse p;
	char out[64];
	size_t got, olen;

	data_init(&p, BARE_LF_REJECT, 0, 0);
	got = data_feed(&p, ".\r\nNOOP\r\n", 9, out, sizeof(out), &olen);
	CHECK(got == 3 && olen == 0 && p.done, "sticky: end consumed");
	got = data_feed(&p, "NOOP\r\n", 6, out, sizeof(out), &olen);
	CHECK(got == 0 && olen == 0 && p.done, "sticky: nothing after");
	got = data_feed(&p, "", 0, out, sizeof(out), &olen);
	CHECK(got == 0 && olen == 0, "sticky: empty feed");
}

/* A caller that gives too little room gets a partial feed, not a write
 * past the buffer. */
static void
test_small_out(void)
{
	struct dataparse p;
	char out[6];
	size_t got, olen;

	data_init(&p, BARE_LF_NORMALIZE, 0, 0);
	got = data_feed(&p, "abcdefgh", 8, out, sizeof(out), &olen);
	CHECK(got == 3 && olen == 3, "small out: stopped at %zu", got);
}

/*
 * Random messages over an alphabet rich in line-end bytes: whole and
 * chunked feedings agree, the output stays within its bounds, and in
 * reject mode a message with no bare CR or LF is stored with CR LF only.
 */
static void
test_random(void)
{
	static const char alpha[] = "\r\n.\r\n.aR:\0 ";
	static char buf[256];
	struct data_case c;
	struct result whole, split;
	size_t cuts[256], i, n, len;
	int iter, bad = 0;

	rng_state = 42;
	for (iter = 0; iter < 3000; iter++) {
		len = rng() % sizeof(buf);
		for (i = 0; i < len; i++)
			buf[i] = alpha[rng() % (sizeof(alpha) - 1)];
		memset(&c, 0, sizeof(c));
		c.name = "random";
		c.policy = iter % 2 ? BARE_LF_NORMALIZE : BARE_LF_REJECT;
		c.in = buf;
		c.inlen = len;
		c.max_size = iter % 3 ? 0 : rng() % 300;
		c.max_hops = iter % 5;
		feed(&c, NULL, 0, &whole);
		n = 0;
		for (i = 1; i < len; i++)
			if (rng() % 3 == 0)
				cuts[n++] = i;
		feed(&c, cuts, n, &split);
		if (!same(&whole, &split) || whole.outlen > 2 * len + 8)
			bad++;
	}
	CHECK(bad == 0, "random: %d inputs differ between feedings", bad);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], (unsigned)i + 1);
	test_done_sticky();
	test_small_out();
	test_random();
	T_DONE();
}
