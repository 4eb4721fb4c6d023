/*
 * test_frame: the IPC frame codec and its transport.
 *
 * The codec half builds frames with frame_put_* and reads them back with
 * frame_get_*: every field type round-trips, and every way a reader can
 * be lied to (a short field, a length prefix past the end, a string too
 * long for the caller's array, an embedded NUL, bytes left over) marks
 * the frame bad, after which frame_end() refuses it.  The transport half
 * runs frame_send/frame_recv over a real SOCK_SEQPACKET socketpair, with
 * and without a passed descriptor, and checks that a datagram the reader
 * cannot hold whole (over FRAME_MAX, a header under 4 bytes, too many
 * descriptors) is EBADMSG and leaks no descriptor.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "../../smtpd/frame.h"

/* One frame is 64 KiB: keep them off the stack. */
static struct frame fw, fr;

/* ---- codec ---- */

enum field { F_U32, F_U64, F_STR, F_BYTES };

struct rt_case {
	const char	*name;
	enum field	 kind;
	uint64_t	 num;
	const char	*str;
	size_t		 len;	/* F_BYTES: bytes of str, NULs allowed */
};

static const struct rt_case rt_cases[] = {
	{ "u32 zero", F_U32, 0, NULL, 0 },
	{ "u32 max", F_U32, UINT32_MAX, NULL, 0 },
	{ "u64 zero", F_U64, 0, NULL, 0 },
	{ "u64 max", F_U64, UINT64_MAX, NULL, 0 },
	{ "u64 high bit", F_U64, 0x8000000000000001ULL, NULL, 0 },
	{ "str empty", F_STR, 0, "", 0 },
	{ "str address", F_STR, 0, "alice@example.test", 0 },
	{ "str 8-bit", F_STR, 0, "caf\xc3\xa9 \xff", 0 },
	{ "bytes empty", F_BYTES, 0, "", 0 },
	{ "bytes with NULs", F_BYTES, 0, "a\0b\0\0c", 6 },
};

#define NRT	(sizeof(rt_cases) / sizeof(rt_cases[0]))

static int
put_case(struct frame *f, const struct rt_case *c)
{
	switch (c->kind) {
	case F_U32:
		return frame_put_u32(f, (uint32_t)c->num);
	case F_U64:
		return frame_put_u64(f, c->num);
	case F_STR:
		return frame_put_str(f, c->str);
	case F_BYTES:
		/* frame_get_bytes reads a u32 length, then the bytes */
		return frame_put_u32(f, (uint32_t)c->len) == -1 ? -1 :
		    frame_put_bytes(f, c->str, c->len);
	}
	return -1;
}

/* Read one case's field back from f; 1 if it equals what was put. */
static int
get_case(struct frame *f, const struct rt_case *c)
{
	char s[256];
	size_t n;

	switch (c->kind) {
	case F_U32:
		return frame_get_u32(f) == (uint32_t)c->num;
	case F_U64:
		return frame_get_u64(f) == c->num;
	case F_STR:
		frame_get_str(f, s, sizeof(s));
		return strcmp(s, c->str) == 0;
	case F_BYTES:
		n = frame_get_bytes(f, s, sizeof(s));
		return n == c->len && memcmp(s, c->str, n) == 0;
	}
	return 0;
}

/* Each field alone, then all of them in one frame, in order. */
static void
test_round_trips(void)
{
	size_t i;

	for (i = 0; i < NRT; i++) {
		frame_init(&fw, FRAME_COMMIT);
		CHECK(put_case(&fw, &rt_cases[i]) == 0, "%s: put",
		    rt_cases[i].name);
		fw.pos = 0;
		CHECK(get_case(&fw, &rt_cases[i]), "%s: value differs",
		    rt_cases[i].name);
		CHECK(frame_end(&fw) == 0, "%s: frame_end", rt_cases[i].name);
	}
	frame_init(&fw, FRAME_COMMIT);
	for (i = 0; i < NRT; i++)
		CHECK(put_case(&fw, &rt_cases[i]) == 0, "all: put %s",
		    rt_cases[i].name);
	for (i = 0; i < NRT; i++)
		CHECK(get_case(&fw, &rt_cases[i]), "all: %s differs",
		    rt_cases[i].name);
	CHECK(frame_end(&fw) == 0, "all: frame_end");
}

/* A frame whose data is exactly the given bytes, cursor at 0. */
static void
raw_frame(struct frame *f, const void *p, size_t n)
{
	frame_init(f, FRAME_COMMIT);
	if (frame_put_bytes(f, p, n) == -1)
		f->bad = 1;
}

static void
test_bad_readers(void)
{
	uint32_t n;
	uint64_t v;
	char dst[8], big[32];
	const char nul[] = { 3, 0, 0, 0, 'a', '\0', 'b' };
	const char past[] = { 100, 0, 0, 0, 'a', 'b', 'c' };

	/* short frame: 2 bytes where a u32 is wanted */
	raw_frame(&fr, "ab", 2);
	n = frame_get_u32(&fr);
	CHECK(fr.bad && n == 0, "short u32: bad=%d n=%u", fr.bad, n);
	CHECK(frame_end(&fr) == -1, "short u32: frame_end accepted");

	raw_frame(&fr, "abcdefg", 7);
	v = frame_get_u64(&fr);
	CHECK(fr.bad && v == 0, "short u64: bad=%d", fr.bad);

	/* a bad frame stays bad: later fields read as zero */
	raw_frame(&fr, "ab", 2);
	(void)frame_get_u32(&fr);
	fr.len = 0;
	CHECK(frame_get_u32(&fr) == 0 && fr.bad, "sticky bad");

	/* a string that fits exactly, and one byte too long for dst */
	frame_init(&fw, FRAME_MAP);
	CHECK(frame_put_str(&fw, "1234567") == 0, "put 7");
	frame_get_str(&fw, dst, sizeof(dst));
	CHECK(!fw.bad && strcmp(dst, "1234567") == 0, "7 in 8: %s", dst);
	CHECK(frame_end(&fw) == 0, "7 in 8: frame_end");

	frame_init(&fw, FRAME_MAP);
	CHECK(frame_put_str(&fw, "12345678") == 0, "put 8");
	memset(dst, 'x', sizeof(dst));
	frame_get_str(&fw, dst, sizeof(dst));
	CHECK(fw.bad && dst[0] == '\0', "8 in 8: bad=%d", fw.bad);
	CHECK(frame_end(&fw) == -1, "8 in 8: frame_end accepted");

	/* embedded NUL: a C string cannot carry it, so it is refused */
	raw_frame(&fr, nul, sizeof(nul));
	frame_get_str(&fr, dst, sizeof(dst));
	CHECK(fr.bad, "embedded NUL accepted");
	CHECK(frame_end(&fr) == -1, "embedded NUL: frame_end accepted");

	/* a length prefix that points past the end of the frame */
	raw_frame(&fr, past, sizeof(past));
	frame_get_str(&fr, big, sizeof(big));
	CHECK(fr.bad && big[0] == '\0', "str past end: bad=%d", fr.bad);
	raw_frame(&fr, past, sizeof(past));
	CHECK(frame_get_bytes(&fr, big, sizeof(big)) == 0 && fr.bad,
	    "bytes past end accepted");

	/* bytes longer than dst */
	frame_init(&fw, FRAME_MAP);
	CHECK(frame_put_u32(&fw, 9) == 0 &&
	    frame_put_bytes(&fw, "123456789", 9) == 0, "put 9 bytes");
	CHECK(frame_get_bytes(&fw, dst, sizeof(dst)) == 0 && fw.bad,
	    "9 bytes into 8 accepted");

	/* bytes left over: every field read well, one not read at all */
	frame_init(&fw, FRAME_CONFIRM);
	CHECK(frame_put_u32(&fw, 1) == 0 && frame_put_u32(&fw, 2) == 0,
	    "put two");
	CHECK(frame_get_u32(&fw) == 1 && !fw.bad, "get first");
	CHECK(frame_end(&fw) == -1, "left over: frame_end accepted");
	CHECK(frame_get_u32(&fw) == 2 && frame_end(&fw) == 0,
	    "all read: frame_end refused");

	/* an empty frame is fine when nothing is expected */
	frame_init(&fw, FRAME_DRAIN);
	CHECK(frame_end(&fw) == 0, "empty frame refused");
}

static void
test_writer_cap(void)
{
	static char block[FRAME_MAX];

	frame_init(&fw, FRAME_COMMIT);
	CHECK(frame_put_bytes(&fw, block, FRAME_MAX - 4) == 0, "fill");
	CHECK(frame_put_u32(&fw, 7) == 0 && fw.len == FRAME_MAX,
	    "exactly full: len %zu", fw.len);
	CHECK(frame_put_bytes(&fw, "x", 1) == -1 && fw.bad,
	    "one past FRAME_MAX accepted");
	CHECK(fw.len == FRAME_MAX, "a refused put changed len");

	/* room for a string's length, not for its one byte */
	frame_init(&fw, FRAME_COMMIT);
	CHECK(frame_put_bytes(&fw, block, FRAME_MAX - 4) == 0, "fill");
	CHECK(frame_put_str(&fw, "x") == -1 && fw.bad,
	    "string past FRAME_MAX accepted");
}

static void
test_names(void)
{
	static const struct {
		uint32_t	 type;
		const char	*name;
	} names[] = {
		{ FRAME_COMMIT, "commit" }, { FRAME_CONFIRM, "confirm" },
		{ FRAME_ABORT, "abort" }, { FRAME_COMMIT_OK, "commit-ok" },
		{ FRAME_COMMIT_FAIL, "commit-fail" },
		{ FRAME_CONFIRM_OK, "confirm-ok" }, { FRAME_MAP, "map" },
		{ FRAME_QUEUE_SOCK, "queue-sock" },
		{ FRAME_WORKER_SOCK, "worker-sock" },
		{ FRAME_DRAIN, "drain" }, { FRAME_FLUSH, "flush" },
		{ FRAME_STATUS, "status" },
		{ FRAME_SPOOL_STATE, "spool-state" },
		{ FRAME_CTL_REQUEST, "ctl-request" },
		{ FRAME_CTL_REPLY, "ctl-reply" },
		{ 0, "unknown" }, { 9999, "unknown" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK(strcmp(frame_name(names[i].type), names[i].name) == 0,
		    "frame_name(%u) = %s", names[i].type,
		    frame_name(names[i].type));
}

/* ---- transport ---- */

static int
count_fds(void)
{
	DIR *d;
	struct dirent *e;
	int n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	(void)closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

static int
seqpair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

/* Send a raw datagram with nfds copies of fd attached. */
static ssize_t
send_raw(int sock, const void *p, size_t n, int fd, int nfds)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} cm;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *c;
	int fds[8], i;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)p;
	iov.iov_len = n;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		for (i = 0; i < nfds; i++)
			fds[i] = fd;
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

static void
test_send_recv(void)
{
	char s[64];
	int sv[2], r;

	if (seqpair(sv) == -1) {
		CHECK(0, "socketpair: %s", strerror(errno));
		return;
	}
	frame_init(&fw, FRAME_COMMIT_FAIL);
	CHECK(frame_put_u64(&fw, 0x0123456789abcdefULL) == 0 &&
	    frame_put_str(&fw, "451 4.3.0 try later") == 0, "build");
	CHECK(frame_send(sv[0], &fw, -1) == 0, "send: %s", strerror(errno));
	r = frame_recv(sv[1], &fr);
	CHECK(r == 1, "recv: %d %s", r, strerror(errno));
	CHECK(fr.type == FRAME_COMMIT_FAIL && fr.fd == -1 &&
	    fr.len == fw.len && memcmp(fr.data, fw.data, fw.len) == 0,
	    "received frame differs: type %u len %zu fd %d", fr.type, fr.len,
	    fr.fd);
	CHECK(frame_get_u64(&fr) == 0x0123456789abcdefULL, "u64 over wire");
	frame_get_str(&fr, s, sizeof(s));
	CHECK(strcmp(s, "451 4.3.0 try later") == 0 && frame_end(&fr) == 0,
	    "str over wire: %s", s);

	/* an empty frame is just its type */
	frame_init(&fw, FRAME_DRAIN);
	CHECK(frame_send(sv[0], &fw, -1) == 0, "send empty");
	CHECK(frame_recv(sv[1], &fr) == 1 && fr.type == FRAME_DRAIN &&
	    fr.len == 0 && frame_end(&fr) == 0, "recv empty");

	/* a full frame goes through whole */
	frame_init(&fw, FRAME_MAP);
	memset(fw.data, 'z', FRAME_MAX);
	fw.len = FRAME_MAX;
	CHECK(frame_send(sv[0], &fw, -1) == 0, "send full: %s",
	    strerror(errno));
	CHECK(frame_recv(sv[1], &fr) == 1 && fr.len == FRAME_MAX &&
	    fr.data[FRAME_MAX - 1] == 'z', "recv full: len %zu", fr.len);

	/* a frame marked bad is never sent */
	frame_init(&fw, FRAME_MAP);
	fw.bad = 1;
	errno = 0;
	CHECK(frame_send(sv[0], &fw, -1) == -1 && errno == EMSGSIZE,
	    "bad frame sent");

	/* nothing there on a non-blocking socket: EAGAIN */
	CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0, "nonblock");
	errno = 0;
	CHECK(frame_recv(sv[1], &fr) == -1 && errno == EAGAIN,
	    "empty socket: errno %d", errno);

	/* peer closed: 0 */
	(void)close(sv[0]);
	CHECK(frame_recv(sv[1], &fr) == 0, "closed peer");
	(void)close(sv[1]);
}

static void
test_pass_fd(void)
{
	char got[16];
	uint32_t type;
	int sv[2], p[2], before, st;
	ssize_t n;

	if (seqpair(sv) == -1 || pipe(p) == -1) {
		CHECK(0, "socketpair/pipe: %s", strerror(errno));
		return;
	}
	before = count_fds();
	frame_init(&fw, FRAME_QUEUE_SOCK);
	CHECK(frame_put_u32(&fw, 42) == 0, "build");
	CHECK(frame_send(sv[0], &fw, p[1]) == 0, "send with fd: %s",
	    strerror(errno));
	CHECK(frame_recv(sv[1], &fr) == 1, "recv with fd: %s",
	    strerror(errno));
	CHECK(fr.fd >= 0 && fr.fd != p[1], "passed fd: %d", fr.fd);
	CHECK(frame_get_u32(&fr) == 42 && frame_end(&fr) == 0, "payload");
	if (fr.fd >= 0) {
		/* the passed descriptor is the same pipe, close-on-exec */
		st = fcntl(fr.fd, F_GETFD);
		CHECK(st != -1 && (st & FD_CLOEXEC), "passed fd not CLOEXEC");
		CHECK(write(fr.fd, "through", 7) == 7, "write passed fd");
		n = read(p[0], got, sizeof(got));
		CHECK(n == 7 && memcmp(got, "through", 7) == 0,
		    "pipe read %zd", n);
		(void)close(fr.fd);
	}
	CHECK(count_fds() == before, "descriptor count %d, was %d",
	    count_fds(), before);

	/* several descriptors on one datagram: the first is kept */
	type = FRAME_MAP;
	memcpy(got, &type, sizeof(type));
	CHECK(send_raw(sv[0], got, 4, p[1], 3) == 4, "send 3 fds: %s",
	    strerror(errno));
	CHECK(frame_recv(sv[1], &fr) == 1 && fr.fd >= 0, "recv 3 fds");
	if (fr.fd >= 0)
		(void)close(fr.fd);
	CHECK(count_fds() == before, "3 fds: descriptor count %d, was %d",
	    count_fds(), before);

	(void)close(p[0]);
	(void)close(p[1]);
	(void)close(sv[0]);
	(void)close(sv[1]);
}

/*
 * What the reader cannot hold whole is an error, and a descriptor that
 * came with it is closed rather than leaked into the process.
 */
static void
test_bad_datagrams(void)
{
	static char big[FRAME_MAX + 16];
	char small[4] = { 1, 0, 0, 0 };
	int sv[2], p[2], before, r;
	int sndbuf = 4 * FRAME_MAX;

	if (seqpair(sv) == -1 || pipe(p) == -1) {
		CHECK(0, "socketpair/pipe: %s", strerror(errno));
		return;
	}
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf));
	before = count_fds();
	memset(big, 'o', sizeof(big));

	/* one byte more than a type and FRAME_MAX of data */
	CHECK(send_raw(sv[0], big, 4 + FRAME_MAX + 1, -1, 0) ==
	    4 + FRAME_MAX + 1, "send oversize: %s", strerror(errno));
	errno = 0;
	r = frame_recv(sv[1], &fr);
	CHECK(r == -1 && errno == EBADMSG, "oversize: r=%d errno=%d", r,
	    errno);

	/* the same with a descriptor attached: refused and closed */
	CHECK(send_raw(sv[0], big, 4 + FRAME_MAX + 1, p[1], 1) ==
	    4 + FRAME_MAX + 1, "send oversize+fd: %s", strerror(errno));
	errno = 0;
	r = frame_recv(sv[1], &fr);
	CHECK(r == -1 && errno == EBADMSG && fr.fd == -1,
	    "oversize+fd: r=%d errno=%d fd=%d", r, errno, fr.fd);
	CHECK(count_fds() == before, "oversize+fd leaked: %d, was %d",
	    count_fds(), before);

	/* a header shorter than the 4-byte type */
	CHECK(send_raw(sv[0], small, 3, -1, 0) == 3, "send 3 bytes");
	errno = 0;
	r = frame_recv(sv[1], &fr);
	CHECK(r == -1 && errno == EBADMSG, "3-byte datagram: r=%d errno=%d",
	    r, errno);
	CHECK(send_raw(sv[0], small, 1, p[1], 1) == 1, "send 1 byte+fd");
	errno = 0;
	r = frame_recv(sv[1], &fr);
	CHECK(r == -1 && errno == EBADMSG, "1-byte+fd: r=%d errno=%d", r,
	    errno);
	CHECK(count_fds() == before, "short+fd leaked: %d, was %d",
	    count_fds(), before);

	/* more descriptors than the reader makes room for: control truncated */
	CHECK(send_raw(sv[0], small, 4, p[1], 8) == 4, "send 8 fds: %s",
	    strerror(errno));
	errno = 0;
	r = frame_recv(sv[1], &fr);
	CHECK(r == -1 && errno == EBADMSG, "8 fds: r=%d errno=%d", r, errno);
	CHECK(count_fds() == before, "8 fds leaked: %d, was %d",
	    count_fds(), before);

	/* and the channel still works after all of that */
	frame_init(&fw, FRAME_FLUSH);
	CHECK(frame_send(sv[0], &fw, -1) == 0 && frame_recv(sv[1], &fr) == 1 &&
	    fr.type == FRAME_FLUSH, "channel after bad datagrams");

	(void)close(p[0]);
	(void)close(p[1]);
	(void)close(sv[0]);
	(void)close(sv[1]);
}

/* A string vector: into its arena, each string bounded, all bounded. */
static void
test_strv(void)
{
	struct frame f;
	char arena[16], *v[3];

	frame_init(&f, FRAME_COMMIT);
	frame_put_str(&f, "ab");
	frame_put_str(&f, "cde");
	frame_put_str(&f, "");
	f.pos = 0;
	frame_get_strv(&f, arena, sizeof(arena), 8, v, 3);
	CHECK(!f.bad && strcmp(v[0], "ab") == 0 && strcmp(v[1], "cde") == 0 &&
	    strcmp(v[2], "") == 0 && frame_end(&f) == 0, "three strings");

	frame_init(&f, FRAME_COMMIT);
	frame_put_str(&f, "abcdefgh");
	f.pos = 0;
	frame_get_strv(&f, arena, sizeof(arena), 8, v, 1);
	CHECK(f.bad, "a string past each_max");

	frame_init(&f, FRAME_COMMIT);
	frame_put_str(&f, "abcdef");
	frame_put_str(&f, "ghijkl");
	frame_put_str(&f, "mnopqr");
	f.pos = 0;
	frame_get_strv(&f, arena, sizeof(arena), 8, v, 3);
	CHECK(f.bad, "strings past the arena");

	frame_init(&f, FRAME_COMMIT);
	frame_put_str(&f, "ab");
	f.pos = 0;
	frame_get_strv(&f, arena, sizeof(arena), 8, v, 2);
	CHECK(f.bad, "fewer strings than told");
}

int
main(void)
{
	test_strv();
	test_round_trips();
	test_bad_readers();
	test_writer_cap();
	test_names();
	test_send_recv();
	test_pass_fd();
	test_bad_datagrams();
	T_DONE();
}
