/*
 * test_spool: queue entries: field checks, write and read back, marks in
 * place, duplicates, a short descriptor, the start-up scan, and envelopes
 * that must not parse; an operator's hold, release and delete.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "../../queue/spool.h"

#define QID1	"0123456789ABCDEF"
#define QID2	"00000000000000AA"
#define QID3	"FFFFFFFFFFFFFFFF"

static char dir[64];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int
make_memfd(const char *body)
{
	int fd = memfd_create("msg", MFD_CLOEXEC);

	if (fd != -1 && write(fd, body, strlen(body)) != (ssize_t)strlen(body))
		return -1;
	return fd;
}

/* ---- field checks ---- */

static char long_addr[SPOOL_ADDR_MAX + 8];

struct field_case {
	const char	*name;
	const char	*qid;
	const char	*ip;
	const char	*sender;
	const char	*helo;
	const char	*rcpt;
	size_t		 nrcpt;
	int		 ok;
};

static const struct field_case field_cases[] = {
	{ "good", QID1, "192.0.2.1", "a@b.example", "h", "x@example.test",
	    1, 1 },
	{ "null sender", QID1, "192.0.2.1", "", "h", "x@example.test", 1, 1 },
	{ "bare postmaster", QID1, "::1", "", "h", "postmaster", 1, 1 },
	{ "bare postmaster any case", QID1, "::1", "", "h", "PostMaster", 1,
	    1 },
	{ "helo with CR is sanitised", QID1, "::1", "", "a\r\nb", "x@y", 1,
	    1 },
	{ "qid lower case", "0123456789abcdef", "::1", "", "h", "x@y", 1, 0 },
	{ "qid short", "0123", "::1", "", "h", "x@y", 1, 0 },
	{ "qid long", QID1 "0", "::1", "", "h", "x@y", 1, 0 },
	{ "qid not hex", "0123456789ABCDEG", "::1", "", "h", "x@y", 1, 0 },
	{ "qid path", "../../etc/passwd", "::1", "", "h", "x@y", 1, 0 },
	{ "ip empty", QID1, "", "", "h", "x@y", 1, 0 },
	{ "ip space", QID1, "1.2.3.4 x", "", "h", "x@y", 1, 0 },
	{ "sender quoted space", QID1, "::1", "\"a b\"@c", "h", "x@y", 1, 1 },
	{ "sender tab", QID1, "::1", "a\tb@c", "h", "x@y", 1, 0 },
	{ "sender newline", QID1, "::1", "a\n@c", "h", "x@y", 1, 0 },
	{ "sender DEL", QID1, "::1", "a\x7f@c", "h", "x@y", 1, 0 },
	{ "sender too long", QID1, "::1", long_addr, "h", "x@y", 1, 0 },
	{ "rcpt empty", QID1, "::1", "", "h", "", 1, 0 },
	{ "rcpt no local", QID1, "::1", "", "h", "@y", 1, 0 },
	{ "rcpt no domain", QID1, "::1", "", "h", "x@", 1, 0 },
	{ "rcpt bare not postmaster", QID1, "::1", "", "h", "alice", 1, 0 },
	{ "rcpt tab", QID1, "::1", "", "h", "x\t@y", 1, 0 },
	{ "rcpt CR", QID1, "::1", "", "h", "x@y\r", 1, 0 },
	{ "rcpt too long", QID1, "::1", "", "h", long_addr, 1, 0 },
	{ "no recipients", QID1, "::1", "", "h", "x@y", 0, 0 },
	{ "too many recipients", QID1, "::1", "", "h", "x@y",
	    SPOOL_RCPT_MAX + 1, 0 },
	{ "most recipients", QID1, "::1", "", "h", "x@y", SPOOL_RCPT_MAX, 1 },
};

static void
test_fields(void)
{
	static char *rcpts[SPOOL_RCPT_MAX + 1];
	struct spool_env e;
	const char *why;
	size_t i, j;

	memset(long_addr, 'a', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = '\0';
	long_addr[10] = '@';
	for (i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
		const struct field_case *c = &field_cases[i];
		int r;

		for (j = 0; j < c->nrcpt; j++)
			rcpts[j] = (char *)c->rcpt;
		r = spool_env_init(&e, c->qid, 1, c->ip, "", c->helo,
		    c->sender, rcpts, c->nrcpt, &why);
		CHECK((r == 0) == c->ok, "fields %s: got %d (%s)", c->name, r,
		    why ? why : "");
		if (r == 0) {
			CHECK(strchr(e.helo, '\r') == NULL &&
			    strchr(e.helo, '\n') == NULL,
			    "fields %s: helo not sanitised", c->name);
			spool_env_free(&e);
		}
	}
}

/* ---- round trip and marks ---- */

static const char body[] = "Received: from x\r\nSubject: hi\r\n\r\nbody\r\n";

static int
commit_one(struct spool *sp, struct spool_env *e, const char *qid,
    const char *body_text, uint64_t size)
{
	char *rcpts[] = { "alice@example.test", "bob+x@example.test",
	    "postmaster" };
	const char *why;
	int fd, r;

	if (spool_env_init(e, qid, 1700000000, "192.0.2.7", "host.example",
	    "helo.example", "sender@example.org", rcpts, 3, &why) == -1)
		return -1;
	if ((fd = make_memfd(body_text)) == -1)
		return -1;
	r = spool_commit(sp, e, fd, size);
	close(fd);
	return r;
}

static char
byte_at(struct spool *sp, const char *sub, const char *qid, off_t off)
{
	char path[256], c = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, qid);
	if ((fd = open(path, O_RDONLY)) == -1)
		return 0;
	if (pread(fd, &c, 1, off) != 1)
		c = 0;
	close(fd);
	return c;
}

static void
check_loaded(const struct spool_env *w, const struct spool_env *g)
{
	size_t i;

	CHECK(g->state == w->state, "load: state %c", g->state);
	CHECK(g->state_off == w->state_off, "load: state offset");
	CHECK(g->ctime == 1700000000, "load: time %lld", (long long)g->ctime);
	CHECK(strcmp(g->ip, "192.0.2.7") == 0, "load: ip %s", g->ip);
	CHECK(strcmp(g->ptr, "host.example") == 0, "load: ptr %s", g->ptr);
	CHECK(strcmp(g->helo, "helo.example") == 0, "load: helo %s", g->helo);
	CHECK(strcmp(g->sender, "sender@example.org") == 0, "load: sender");
	CHECK(g->nrcpt == 3, "load: nrcpt %zu", g->nrcpt);
	for (i = 0; i < 3 && i < g->nrcpt; i++) {
		CHECK(strcmp(g->rcpt[i].addr, w->rcpt[i].addr) == 0,
		    "load: rcpt %zu %s", i, g->rcpt[i].addr);
		CHECK(g->rcpt[i].off == w->rcpt[i].off, "load: rcpt off %zu",
		    i);
	}
	CHECK(g->body_off == w->body_off, "load: body offset");
	CHECK(g->body_len == (off_t)strlen(body), "load: body length %lld",
	    (long long)g->body_len);
}

static void
check_body(struct spool *sp, const struct spool_env *e)
{
	char path[256], got[sizeof(body)];
	int fd;

	snprintf(path, sizeof(path), "%s/queue/%s", dir, e->qid);
	fd = open(path, O_RDONLY);
	CHECK(fd != -1 && pread(fd, got, strlen(body), e->body_off) ==
	    (ssize_t)strlen(body) && memcmp(got, body, strlen(body)) == 0,
	    "body bytes differ");
	if (fd != -1)
		close(fd);
}

static void
test_roundtrip(struct spool *sp)
{
	struct spool_env e, g;
	int fd;

	CHECK(commit_one(sp, &e, QID1, body, strlen(body)) == 0,
	    "commit: %s", strerror(errno));
	CHECK(spool_sync_queue(sp) == 0, "sync queue/");
	CHECK(spool_exists(sp, QID1) == 1, "exists after commit");
	CHECK(byte_at(sp, "queue", QID1, e.state_off) == 'U', "state byte");
	CHECK(byte_at(sp, "queue", QID1, e.rcpt[1].off) == '-', "rcpt byte");
	CHECK(spool_load(sp, QID1, 0, &g) == 0, "load: %s", strerror(errno));
	check_loaded(&e, &g);
	check_body(sp, &e);
	spool_env_free(&g);

	CHECK(spool_confirm(sp, &e) == 0 && e.state == 'C', "confirm");
	fd = spool_open_entry(sp, QID1);
	CHECK(fd != -1 && spool_mark(fd, e.rcpt[1].off, RCPT_DELIVERED) == 0 &&
	    spool_mark(fd, e.rcpt[2].off, RCPT_HELD) == 0, "marks");
	if (fd != -1)
		close(fd);
	CHECK(spool_load(sp, QID1, 0, &g) == 0, "reload");
	CHECK(g.state == 'C', "reloaded state %c", g.state);
	CHECK(g.nrcpt == 3 && g.rcpt[0].status == '-' &&
	    g.rcpt[1].status == 'D' && g.rcpt[2].status == 'H',
	    "reloaded statuses");
	check_body(sp, &g);
	spool_env_free(&g);

	/* a duplicate id never clobbers the entry */
	CHECK(commit_one(sp, &g, QID1, "other", 5) == -1 && errno == EEXIST,
	    "duplicate commit must fail with EEXIST");
	spool_env_free(&g);
	CHECK(byte_at(sp, "queue", QID1, e.state_off) == 'C',
	    "duplicate left the entry alone");

	CHECK(spool_hold(sp, QID1) == 0, "hold");
	CHECK(spool_load(sp, QID1, 1, &g) == 0 && g.state == 'C',
	    "load from hold/");
	spool_env_free(&g);
	CHECK(spool_exists(sp, QID1) == 1, "held still exists");
	spool_env_free(&e);
}

/* The two-step commit: nothing in queue/ before the end, nothing at all
 * after a cancel. */
static void
test_two_steps(struct spool *sp)
{
	char *rcpts[] = { "alice@example.test" };
	struct spool_env e, g;
	const char *why;
	int mfd, fd;

	CHECK(spool_env_init(&e, QID2, 1700000000, "192.0.2.7", "", "h",
	    "", rcpts, 1, &why) == 0, "env");
	mfd = make_memfd(body);
	fd = spool_commit_start(sp, &e, mfd, strlen(body), NULL, 0);
	CHECK(fd != -1 && byte_at(sp, "tmp", QID2, e.state_off) == 'U' &&
	    byte_at(sp, "queue", QID2, e.state_off) == 0,
	    "started: in tmp/ only");
	CHECK(spool_commit_start(sp, &e, mfd, strlen(body), NULL, 0) == -1 &&
	    errno == EEXIST, "a second start of the same id fails");
	CHECK(fd != -1 && spool_commit_end(sp, QID2, fd) == 0 &&
	    byte_at(sp, "tmp", QID2, e.state_off) == 0, "ended");
	CHECK(spool_load(sp, QID2, 0, &g) == 0 && g.state == 'U' &&
	    g.nrcpt == 1 && strcmp(g.rcpt[0].addr, rcpts[0]) == 0,
	    "load after end");
	check_body(sp, &g);
	spool_env_free(&g);
	CHECK(spool_remove(sp, QID2) == 0, "remove");
	fd = spool_commit_start(sp, &e, mfd, strlen(body), NULL, 0);
	CHECK(fd != -1, "start again");
	if (fd != -1)
		spool_commit_cancel(sp, QID2, fd);
	CHECK(spool_exists(sp, QID2) == 0, "nothing left after cancel");
	close(mfd);
	spool_env_free(&e);
}

static void
test_short_fd(struct spool *sp)
{
	struct spool_env e;

	CHECK(commit_one(sp, &e, QID2, body, strlen(body) + 10) == -1,
	    "commit with a short descriptor must fail");
	CHECK(spool_exists(sp, QID2) == 0, "nothing left after failure");
	spool_env_free(&e);
}

/* ---- start-up scan ---- */

static void
collect(const char *qid, void *arg)
{
	int *n = arg;

	if (strcmp(qid, QID2) == 0 || strcmp(qid, QID3) == 0)
		(*n)++;
	else
		*n += 100;
}

static void
put_file(const char *sub, const char *name, const char *text)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		CHECK(0, "put_file %s", path);
	if (fd != -1)
		close(fd);
}

static void
test_scan(struct spool *sp)
{
	struct spool_env e, g;
	int n = 0;

	CHECK(commit_one(sp, &e, QID2, body, strlen(body)) == 0, "commit U");
	spool_env_free(&e);
	CHECK(commit_one(sp, &e, QID3, body, strlen(body)) == 0, "commit C");
	CHECK(spool_confirm(sp, &e) == 0, "confirm C");
	spool_env_free(&e);
	put_file("tmp", "00000000000000BB", "partial");
	put_file("tmp", "junk", "x");
	put_file("queue", "not-a-qid", "x");
	CHECK(spool_clean_tmp(sp) == 2, "two tmp leftovers removed");
	CHECK(spool_clean_tmp(sp) == 0, "tmp now empty");
	CHECK(spool_scan(sp, collect, &n) == 0 && n == 2,
	    "scan found the two entries only (n=%d)", n);
	CHECK(spool_load(sp, QID2, 0, &g) == 0 && g.state == 'U',
	    "recovered U");
	spool_env_free(&g);
	CHECK(spool_load(sp, QID3, 0, &g) == 0 && g.state == 'C',
	    "recovered C");
	spool_env_free(&g);
	CHECK(spool_remove(sp, QID2) == 0 && spool_exists(sp, QID2) == 0,
	    "remove");
}

/* ---- the operator's release and delete ---- */

#define QID4	"00000000000000CC"

static void
count_held(const char *qid, void *arg)
{
	int *n = arg;

	*n += strcmp(qid, QID4) == 0 ? 1 : strcmp(qid, QID1) == 0 ? 10 : 100;
}

/* Held by hand: H and D marks, state U on disk; release undoes H and U. */
static void
test_release(struct spool *sp)
{
	struct spool_env e, g;
	int fd, n = 0;

	CHECK(commit_one(sp, &e, QID4, body, strlen(body)) == 0, "commit R");
	fd = spool_open_entry(sp, QID4);
	CHECK(fd != -1 && spool_mark(fd, e.rcpt[0].off, RCPT_HELD) == 0 &&
	    spool_mark(fd, e.rcpt[1].off, RCPT_DELIVERED) == 0, "marks");
	if (fd != -1)
		close(fd);
	CHECK(spool_hold(sp, QID4) == 0, "hold");
	CHECK(spool_scan_hold(sp, count_held, &n) == 0 && n == 11,
	    "hold/ scan found it and the earlier one only (n=%d)", n);
	CHECK(spool_release(sp, QID4, &g) == 0, "release");
	CHECK(g.state == SPOOL_CONFIRMED && g.nrcpt == 3 &&
	    g.rcpt[0].status == RCPT_PENDING &&
	    g.rcpt[1].status == RCPT_DELIVERED &&
	    g.rcpt[2].status == RCPT_PENDING, "released in memory");
	spool_env_free(&g);
	CHECK(byte_at(sp, "queue", QID4, e.rcpt[0].off) == RCPT_PENDING &&
	    byte_at(sp, "queue", QID4, e.rcpt[1].off) == RCPT_DELIVERED &&
	    byte_at(sp, "queue", QID4, e.state_off) == SPOOL_CONFIRMED,
	    "released on disk: H pending again, D kept, confirmed");
	errno = 0;
	CHECK(spool_release(sp, QID4, &g) == -1 && errno == ENOENT,
	    "release of an entry not held: ENOENT");
	CHECK(spool_delete(sp, QID4, 1) == -1 && errno == ENOENT,
	    "delete from hold/ of a queued entry");
	CHECK(spool_delete(sp, QID4, 0) == 0 && spool_exists(sp, QID4) == 0,
	    "delete from queue/");
	put_file("hold", QID4, "moat-spool 1\nS C\n");
	errno = 0;
	CHECK(spool_release(sp, QID4, &g) == -1 && errno == EINVAL &&
	    spool_exists(sp, QID4) == 1, "an unreadable held entry stays");
	CHECK(spool_delete(sp, QID4, 1) == 0 && spool_exists(sp, QID4) == 0,
	    "an unreadable held entry deleted");
	spool_env_free(&e);
}

/* ---- spent files written over ---- */

static ino_t
ino_of(const char *sub, const char *qid)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, qid);
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

static off_t
size_of(const char *sub, const char *qid)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, qid);
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void
test_reuse(struct spool *sp)
{
	static char big[8192];
	struct spool_env e, g;
	ino_t ino;
	off_t short_size;

	memset(big, 'x', sizeof(big) - 1);
	CHECK(commit_one(sp, &e, QID2, big, strlen(big)) == 0, "commit big");
	spool_env_free(&e);
	ino = ino_of("queue", QID2);
	CHECK(spool_remove(sp, QID2) == 0 && spool_exists(sp, QID2) == 0 &&
	    ino_of("free", QID2) == ino, "removed entry kept in free/");
	CHECK(commit_one(sp, &e, QID1, body, strlen(body)) == 0,
	    "commit after a remove");
	CHECK(ino != 0 && ino_of("queue", QID1) == ino &&
	    ino_of("free", QID2) == 0, "the spent file was written over");
	short_size = size_of("queue", QID1);
	CHECK(short_size == e.body_off + (off_t)strlen(body),
	    "no stale tail: size %lld", (long long)short_size);
	CHECK(spool_load(sp, QID1, 0, &g) == 0, "reused entry loads");
	check_loaded(&e, &g);
	check_body(sp, &g);
	spool_env_free(&g);
	spool_env_free(&e);
	CHECK(spool_remove(sp, QID1) == 0, "remove again");

	/* start-up: names are collected, anything else in free/ removed */
	put_file("free", "junk", "x");
	put_file("free", QID3, "spent");
	CHECK(spool_collect_free(sp) == 2 && size_of("free", "junk") == -1,
	    "collect: two spent files, junk removed");
	CHECK(commit_one(sp, &e, QID2, body, strlen(body)) == 0 &&
	    commit_one(sp, &g, "00000000000000CC", body, strlen(body)) == 0,
	    "two commits from the collected files");
	CHECK(size_of("free", QID1) == -1 && size_of("free", QID3) == -1,
	    "free/ used up");
	spool_env_free(&e);
	spool_env_free(&g);
	CHECK(commit_one(sp, &e, "00000000000000DD", body, strlen(body)) == 0,
	    "a commit with free/ empty creates a file");
	spool_env_free(&e);
	CHECK(spool_remove(sp, QID2) == 0 && spool_remove(sp,
	    "00000000000000CC") == 0 && spool_remove(sp, "00000000000000DD")
	    == 0, "clean up");
}

/* ---- envelopes that must not parse ---- */

struct parse_case {
	const char	*name;
	const char	*text;
	int		 ok;
};

#define HEAD	"moat-spool 1\nS C\nT 1700000000\nI 192.0.2.1\nP \nH h\nF \n"

static const struct parse_case parse_cases[] = {
	{ "minimal good", HEAD "R - a@b\n\nbody", 1 },
	{ "good, empty body", HEAD "R D a@b\nR H postmaster\n\n", 1 },
	{ "bad magic", "moat-spool 2\nS C\nT 1\nI 1\nP \nH h\nF \nR - a@b\n\n",
	    0 },
	{ "bad state", "moat-spool 1\nS X\nT 1\nI 1\nP \nH h\nF \nR - a@b\n\n",
	    0 },
	{ "long state", "moat-spool 1\nS CC\nT 1\nI 1\nP \nH h\nF \nR - a@b\n\n",
	    0 },
	{ "bad time", "moat-spool 1\nS C\nT 1x\nI 1\nP \nH h\nF \nR - a@b\n\n",
	    0 },
	{ "fields out of order",
	    "moat-spool 1\nS C\nT 1\nP \nI 1\nH h\nF \nR - a@b\n\n", 0 },
	{ "no recipient", HEAD "\nbody", 0 },
	{ "bad status", HEAD "R X a@b\n\n", 0 },
	{ "bad recipient", HEAD "R - ab\n\n", 0 },
	{ "no blank line", HEAD "R - a@b\n", 0 },
	{ "sender with space", "moat-spool 1\nS C\nT 1\nI 1\nP \nH h\n"
	    "F \"a b\"@c\nR - a@b\n\n", 1 },
	{ "sender with tab", "moat-spool 1\nS C\nT 1\nI 1\nP \nH h\n"
	    "F a\tb@c\nR - a@b\n\n", 0 },
	{ "empty file", "", 0 },
	{ "unknown line", HEAD "R - a@b\nX y\n\n", 0 },
};

static void
test_parse(void)
{
	struct spool_env e;
	size_t i;
	int fd, r;

	for (i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];

		if ((fd = make_memfd(c->text)) == -1) {
			CHECK(0, "parse %s: memfd", c->name);
			continue;
		}
		r = spool_load_fd(fd, QID1, &e);
		CHECK((r == 0) == c->ok, "parse %s: got %d", c->name, r);
		if (r == 0)
			spool_env_free(&e);
		else
			CHECK(errno == EINVAL, "parse %s: errno %d", c->name,
			    errno);
		close(fd);
	}
}

static void
test_nul_in_envelope(void)
{
	static const char text[] = HEAD "R - a\0b@c\n\n";
	struct spool_env e;
	int fd = memfd_create("msg", MFD_CLOEXEC);

	CHECK(fd != -1 && write(fd, text, sizeof(text) - 1) ==
	    (ssize_t)sizeof(text) - 1, "nul: memfd");
	CHECK(spool_load_fd(fd, QID1, &e) == -1, "NUL in a recipient refused");
	close(fd);
}

int
main(void)
{
	struct spool sp;

	test_fields();
	test_parse();
	test_nul_in_envelope();
	snprintf(dir, sizeof(dir), "/tmp/test_spool.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		T_DONE();
	}
	CHECK(spool_open(&sp, dir) == 0, "spool_open");
	test_roundtrip(&sp);
	test_two_steps(&sp);
	test_short_fd(&sp);
	test_scan(&sp);
	test_release(&sp);
	test_reuse(&sp);
	spool_close(&sp);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	T_DONE();
}
