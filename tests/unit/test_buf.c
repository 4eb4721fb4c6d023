/*
 * test_buf: the length-tracked buffer and its hard cap.
 *
 * The cap is the point of the type: an append that would pass `max`
 * fails and leaves the buffer exactly as it was, whether it comes as raw
 * bytes, as a formatted string, or as a length so large that the sum
 * would wrap.  Tested at the cap and one past it, from empty and from a
 * partly filled buffer, with NUL bytes in the data, and after the
 * buffer has grown through several reallocations.  Also buf_consume,
 * buf_reset, buf_free and strlcpy_ok at their edges.
 */
#include <sys/wait.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "../../smtpd/buf.h"

/* The buffer holds exactly want[0..n) and is NUL-terminated after it. */
static int
holds(const struct buf *b, const char *want, size_t n)
{
	if (b->len != n)
		return 0;
	if (n == 0)
		return b->data == NULL || b->data[0] == '\0';
	return b->data != NULL && memcmp(b->data, want, n) == 0 &&
	    b->data[n] == '\0' && b->cap > n &&
	    (b->max == SIZE_MAX || b->cap <= b->max + 1);
}

struct cap_case {
	const char	*name;
	size_t		 max;
	size_t		 prefill;	/* bytes appended first */
	size_t		 n;		/* then this many */
	int		 ok;
};

static const struct cap_case cap_cases[] = {
	{ "empty max 0, nothing", 0, 0, 0, 1 },
	{ "empty max 0, one byte", 0, 0, 1, 0 },
	{ "to the cap in one append", 100, 0, 100, 1 },
	{ "one past the cap in one append", 100, 0, 101, 0 },
	{ "to the cap after a prefill", 100, 60, 40, 1 },
	{ "one past after a prefill", 100, 60, 41, 0 },
	{ "full, then nothing", 100, 100, 0, 1 },
	{ "full, then one", 100, 100, 1, 0 },
	{ "past the first allocation", 1000, 255, 745, 1 },
	{ "past the first allocation, one over", 1000, 255, 746, 0 },
	{ "large cap, many growths", 1 << 20, (1 << 20) - 1, 1, 1 },
	{ "large cap, one over", 1 << 20, (1 << 20) - 1, 2, 0 },
};

static void
test_cap(void)
{
	const struct cap_case *c;
	struct buf b;
	char *src;
	size_t i, total;

	total = (size_t)(1 << 20) + 2;
	if ((src = malloc(total)) == NULL) {
		CHECK(0, "malloc");
		return;
	}
	for (i = 0; i < total; i++)
		src[i] = (char)(i % 251);	/* NULs included */
	for (c = cap_cases; c < cap_cases + sizeof(cap_cases) /
	    sizeof(cap_cases[0]); c++) {
		buf_init(&b, c->max);
		CHECK(b.len == 0 && b.data == NULL, "%s: init", c->name);
		CHECK(buf_append(&b, src, c->prefill) == 0, "%s: prefill",
		    c->name);
		if (buf_append(&b, src + c->prefill, c->n) == 0) {
			CHECK(c->ok, "%s: accepted", c->name);
			CHECK(holds(&b, src, c->prefill + c->n),
			    "%s: contents after append (len %zu)", c->name,
			    b.len);
		} else {
			CHECK(!c->ok, "%s: refused", c->name);
			CHECK(holds(&b, src, c->prefill),
			    "%s: a refused append changed the buffer", c->name);
		}
		CHECK(b.len <= b.max, "%s: len %zu over max %zu", c->name,
		    b.len, b.max);
		buf_free(&b);
		CHECK(b.data == NULL && b.len == 0 && b.max == c->max,
		    "%s: free", c->name);
	}
	free(src);
}

/* Lengths that would wrap size_t are refused, not wrapped. */
static void
test_overflow(void)
{
	struct buf b;

	buf_init(&b, SIZE_MAX - 1);
	CHECK(buf_append(&b, "abc", 3) == 0, "prefill");
	CHECK(buf_append(&b, "x", SIZE_MAX) == -1, "SIZE_MAX accepted");
	CHECK(buf_append(&b, "x", SIZE_MAX - 3) == -1,
	    "len + n == SIZE_MAX accepted (no room for the NUL)");
	CHECK(buf_append(&b, "x", SIZE_MAX - 2) == -1, "len + n wraps");
	CHECK(holds(&b, "abc", 3), "buffer changed by refused appends");
	buf_free(&b);
}

/*
 * max = SIZE_MAX, "no cap but memory": the growth clamp to max + 1 must
 * not wrap to 0 and hand back an allocation smaller than the data.  Run
 * in a child, so a memory error there is one failed check here.
 */
static void
test_max_size_max(void)
{
	struct buf b;
	pid_t pid;
	int st;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		CHECK(0, "fork");
		return;
	}
	if (pid == 0) {
		buf_init(&b, SIZE_MAX);
		if (buf_append(&b, "abc", 3) != 0 || !holds(&b, "abc", 3) ||
		    buf_append(&b, "x", SIZE_MAX - 3) != -1 ||
		    buf_append(&b, "defghijklmnopqrstuvwxyz", 23) != 0 ||
		    !holds(&b, "abcdefghijklmnopqrstuvwxyz", 26))
			_exit(1);
		buf_free(&b);
		_exit(0);
	}
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0, "buf with max SIZE_MAX: child %s %d "
	    "(the max + 1 clamp wraps to 0: heap overflow)",
	    WIFSIGNALED(st) ? "killed by signal" : "exit",
	    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
}

static void
test_appendf(void)
{
	struct buf b;
	char big[2048];

	buf_init(&b, 20);
	CHECK(buf_appendf(&b, "%s=%d", "size", 4096) == 0, "appendf");
	CHECK(holds(&b, "size=4096", 9), "appendf contents");
	/* 20 exactly, then one past */
	CHECK(buf_appendf(&b, " %09d", 12345) == 0, "appendf to the cap");
	CHECK(holds(&b, "size=4096 000012345", 19), "at 19: %s", b.data);
	CHECK(buf_appendf(&b, "%c", 'x') == 0 && b.len == 20,
	    "appendf to exactly 20");
	CHECK(buf_appendf(&b, "%c", 'y') == -1, "appendf past the cap");
	CHECK(holds(&b, "size=4096 000012345x", 20),
	    "refused appendf changed the buffer");
	buf_free(&b);

	/* a formatted result too long for appendf's own scratch space */
	buf_init(&b, 1 << 16);
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(buf_appendf(&b, "head") == 0, "head");
	CHECK(buf_appendf(&b, "%s", big) == -1, "2047-byte appendf accepted"
	    " but silently cut");
	CHECK(holds(&b, "head", 4), "refused long appendf changed the buffer");
	/* one that fits the scratch space exactly (1023 + NUL) goes whole */
	big[1023] = '\0';
	CHECK(buf_appendf(&b, "%s", big) == 0 && b.len == 4 + 1023,
	    "1023-byte appendf: len %zu", b.len);
	big[1023] = 'q';
	big[1024] = '\0';
	CHECK(buf_appendf(&b, "%s", big) == -1 && b.len == 4 + 1023,
	    "1024-byte appendf: len %zu", b.len);
	buf_free(&b);
}

struct consume_case {
	const char	*name;
	size_t		 n;
	const char	*left;
};

static const struct consume_case consume_cases[] = {
	{ "nothing", 0, "abc\0def" },
	{ "one", 1, "bc\0def" },
	{ "up to the NUL", 3, "\0def" },
	{ "all but one", 6, "f" },
	{ "exactly all", 7, "" },
	{ "more than all", 8, "" },
	{ "SIZE_MAX", SIZE_MAX, "" },
};

static void
test_consume(void)
{
	const struct consume_case *c;
	struct buf b;
	size_t left;

	for (c = consume_cases; c < consume_cases + sizeof(consume_cases) /
	    sizeof(consume_cases[0]); c++) {
		buf_init(&b, 64);
		CHECK(buf_append(&b, "abc\0def", 7) == 0, "%s: fill", c->name);
		buf_consume(&b, c->n);
		left = c->n >= 7 ? 0 : 7 - c->n;
		CHECK(holds(&b, c->left, left), "%s: len %zu", c->name,
		    b.len);
		/* room freed by consume can be used again, to the cap */
		CHECK(buf_append(&b, "0123456789012345678901234567890123456789"
		    "012345678901234567890123", 64 - b.len) == 0,
		    "%s: refill to the cap", c->name);
		CHECK(b.len == 64 && buf_append(&b, "x", 1) == -1,
		    "%s: cap after consume", c->name);
		buf_free(&b);
	}
	/* on a buffer that never allocated */
	buf_init(&b, 10);
	buf_consume(&b, 5);
	CHECK(b.len == 0 && b.data == NULL, "consume on empty");
	buf_reset(&b);
	CHECK(b.len == 0, "reset on empty");
	buf_free(&b);
}

static void
test_reset_reuse(void)
{
	struct buf b;
	size_t cap;

	buf_init(&b, 300);
	CHECK(buf_append(&b, "hello", 5) == 0, "append");
	cap = b.cap;
	buf_reset(&b);
	CHECK(holds(&b, "", 0) && b.cap == cap, "reset keeps the memory");
	CHECK(buf_append(&b, "again", 5) == 0 && holds(&b, "again", 5),
	    "append after reset");
	buf_free(&b);
	CHECK(buf_append(&b, "after free", 10) == 0 &&
	    holds(&b, "after free", 10), "append after free");
	buf_free(&b);
}

struct lcpy_case {
	const char	*name;
	const char	*src;
	size_t		 dstsize;
	int		 ret;
	const char	*want;
};

static const struct lcpy_case lcpy_cases[] = {
	{ "fits with room", "abc", 8, 0, "abc" },
	{ "fits exactly", "abcdefg", 8, 0, "abcdefg" },
	{ "one too long", "abcdefgh", 8, -1, "abcdefg" },
	{ "much too long", "abcdefghijklmnop", 8, -1, "abcdefg" },
	{ "empty", "", 1, 0, "" },
	{ "no room for a byte", "a", 1, -1, "" },
};

static void
test_strlcpy_ok(void)
{
	const struct lcpy_case *c;
	char dst[16];

	for (c = lcpy_cases; c < lcpy_cases + sizeof(lcpy_cases) /
	    sizeof(lcpy_cases[0]); c++) {
		memset(dst, 'Z', sizeof(dst));
		CHECK(strlcpy_ok(dst, c->src, c->dstsize) == c->ret,
		    "%s: return", c->name);
		CHECK(strcmp(dst, c->want) == 0, "%s: got %s", c->name, dst);
		CHECK(dst[c->dstsize] == 'Z', "%s: wrote past dstsize",
		    c->name);
	}
	memset(dst, 'Z', sizeof(dst));
	CHECK(strlcpy_ok(dst, "abc", 0) == -1 && dst[0] == 'Z',
	    "dstsize 0 wrote or succeeded");
}

int
main(void)
{
	test_cap();
	test_overflow();
	test_max_size_max();
	test_appendf();
	test_consume();
	test_reset_reuse();
	test_strlcpy_ok();
	T_DONE();
}
