/*
 * test_maildir: target paths, file names, CRLF to LF, delivery into a
 * temporary mail root, idempotent retries, and failures that must come
 * back as errors (never a crash, never a file in new/).
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "../../queue/maildir.h"

static char root[64];

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	chmod(p, 0700);
	return remove(p);
}

/* ---- paths ---- */

struct path_case {
	const char	*name;
	const char	*root;
	const char	*target;
	int		 ok;
	const char	*want;
};

static const struct path_case path_cases[] = {
	{ "relative", "/var/mail", "maildir:example.test/alice/", 1,
	    "/var/mail/example.test/alice" },
	{ "absolute", "/var/mail", "maildir:/srv/m/bob/", 1, "/srv/m/bob" },
	{ "no trailing slash", "/var/mail", "maildir:carol", 1,
	    "/var/mail/carol" },
	{ "many slashes", "/var/mail", "maildir:dave///", 1, "/var/mail/dave" },
	{ "dotdot", "/var/mail", "maildir:../etc/", 0, NULL },
	{ "dotdot inside", "/var/mail", "maildir:a/../../b/", 0, NULL },
	{ "dotdot absolute", "/var/mail", "maildir:/srv/../etc/", 0, NULL },
	{ "dotdot last", "/var/mail", "maildir:a/..", 0, NULL },
	{ "dots in names ok", "/var/mail", "maildir:a..b/.c/", 1,
	    "/var/mail/a..b/.c" },
	{ "empty path", "/var/mail", "maildir:", 0, NULL },
	{ "not maildir", "/var/mail", "lmtp:127.0.0.1:24", 0, NULL },
	{ "relative without root", "", "maildir:alice/", 0, NULL },
	{ "absolute without root", "", "maildir:/m/alice/", 1, "/m/alice" },
};

static void
test_paths(void)
{
	char path[256], err[128];
	size_t i;

	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		int r = maildir_path(c->root, c->target, path, sizeof(path),
		    err, sizeof(err));

		CHECK((r == 0) == c->ok, "path %s: got %d", c->name, r);
		if (r == 0 && c->ok)
			CHECK(strcmp(path, c->want) == 0, "path %s: %s",
			    c->name, path);
	}
}

struct name_case {
	const char	*name;
	const char	*host;
	unsigned	 idx;
	const char	*want;
};

static const struct name_case name_cases[] = {
	{ "plain", "mx.example.test", 0,
	    "1700000000.Q0123456789ABCDEF_0.mx.example.test" },
	{ "index", "mx", 17, "1700000000.Q0123456789ABCDEF_17.mx" },
	{ "slash and colon escaped", "a/b:c", 1,
	    "1700000000.Q0123456789ABCDEF_1.a\\057b\\072c" },
	{ "empty host", "", 2, "1700000000.Q0123456789ABCDEF_2.localhost" },
};

static void
test_names(void)
{
	char name[MAILDIR_NAME_MAX];
	size_t i;

	for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *c = &name_cases[i];
		int r = maildir_name(name, sizeof(name), 1700000000,
		    "0123456789ABCDEF", c->idx, c->host);

		CHECK(r == 0 && strcmp(name, c->want) == 0, "name %s: %s",
		    c->name, name);
	}
	CHECK(maildir_name(name, 10, 1700000000, "0123456789ABCDEF", 0, "h")
	    == -1, "name: too small a buffer refused");
}

/* ---- CRLF to LF ---- */

struct lf_case {
	const char	*name;
	const char	*in;
	const char	*want;
};

static const struct lf_case lf_cases[] = {
	{ "crlf", "a\r\nb\r\n", "a\nb\n" },
	{ "bare cr kept", "a\rb\r\n", "a\rb\n" },
	{ "cr at end kept", "a\r", "a\r" },
	{ "lf alone", "a\nb", "a\nb" },
	{ "cr cr lf", "a\r\r\n", "a\r\n" },
	{ "empty", "", "" },
};

static int
memfd_with(const void *p, size_t n)
{
	int fd = memfd_create("t", MFD_CLOEXEC);

	if (fd != -1 && n > 0 && write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

static size_t
read_back(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void
test_lf(void)
{
	char got[256];
	size_t i;

	for (i = 0; i < sizeof(lf_cases) / sizeof(lf_cases[0]); i++) {
		const struct lf_case *c = &lf_cases[i];
		int in = memfd_with(c->in, strlen(c->in));
		int out = memfd_with("", 0);

		CHECK(maildir_copy_lf(in, 0, (off_t)strlen(c->in), out) == 0,
		    "lf %s: copy", c->name);
		read_back(out, got, sizeof(got));
		CHECK(strcmp(got, c->want) == 0, "lf %s: got '%s'", c->name,
		    got);
		close(in);
		close(out);
	}
}

/* CRLF split across the 64 KiB read boundary. */
static void
test_lf_boundary(void)
{
	size_t n = 65536 + 2, i, lfs = 0, crs = 0;
	char *in = malloc(n), *got = malloc(n + 1);
	int fi, fo;

	memset(in, 'x', n);
	in[65535] = '\r';
	in[65536] = '\n';
	fi = memfd_with(in, n);
	fo = memfd_with("", 0);
	CHECK(maildir_copy_lf(fi, 0, (off_t)n, fo) == 0, "boundary: copy");
	n = read_back(fo, got, n + 1);
	for (i = 0; i < n; i++) {
		lfs += got[i] == '\n';
		crs += got[i] == '\r';
	}
	CHECK(n == 65536 + 1 && lfs == 1 && crs == 0,
	    "boundary: len %zu lf %zu cr %zu", n, lfs, crs);
	close(fi);
	close(fo);
	free(in);
	free(got);
}

/* ---- delivery ---- */

static const char spooled[] = "ENVELOPE\n\nSubject: t\r\n\r\nline\r\n";
#define BODY_OFF	10

static int
count_files(const char *sub)
{
	char p[256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "%s/example.test/alice/%s", root, sub);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
check_content(const char *path, const char *name)
{
	static const char want[] = "Return-Path: <s@example.org>\n"
	    "Delivered-To: alice@example.test\nSubject: t\n\nline\n";
	char p[1024], got[512];
	int fd;

	snprintf(p, sizeof(p), "%s/new/%s", path, name);
	fd = open(p, O_RDONLY);
	CHECK(fd != -1, "delivered file %s missing", p);
	if (fd == -1)
		return;
	read_back(fd, got, sizeof(got));
	CHECK(strcmp(got, want) == 0, "content: '%s'", got);
	close(fd);
}

static void
deliver_checks(const struct maildir_src *src, const char *path,
    const char *name)
{
	char err[256];
	int r;

	r = maildir_deliver(root, path, name, src, "alice@example.test", 0,
	    err, sizeof(err));
	CHECK(r == 0, "first delivery: %d %s", r, err);
	check_content(path, name);
	CHECK(count_files("new") == 1 && count_files("tmp") == 0 &&
	    count_files("cur") == 0, "one file in new/, tmp/ empty");
	r = maildir_deliver(root, path, name, src, "alice@example.test", 0,
	    err, sizeof(err));
	CHECK(r == 1 && count_files("new") == 1, "retry is not a duplicate");
}

/* A reader moved our copy to cur/: only a recovery retry looks there. */
static void
cur_checks(const struct maildir_src *src, const char *path,
    const char *name)
{
	char from[1024], to[1024], err[256];
	int r;

	snprintf(from, sizeof(from), "%s/new/%s", path, name);
	snprintf(to, sizeof(to), "%s/cur/%s:2,S", path, name);
	CHECK(rename(from, to) == 0, "move to cur/");
	r = maildir_deliver(root, path, name, src, "alice@example.test", 1,
	    err, sizeof(err));
	CHECK(r == 1 && count_files("new") == 0,
	    "recovered retry finds the copy in cur/");
	/*
	 * A stale tmp/ file from a crash is replaced, not an error (without
	 * check_cur, cur/ is not looked at, so this delivers again).
	 */
	snprintf(to, sizeof(to), "%s/tmp/%s", path, name);
	close(open(to, O_WRONLY | O_CREAT, 0600));
	r = maildir_deliver(root, path, name, src, "alice@example.test", 0,
	    err, sizeof(err));
	CHECK(r == 0 && count_files("new") == 1 && count_files("tmp") == 0,
	    "stale tmp/ file replaced");
}

static void
failure_checks(const struct maildir_src *src)
{
	char path[256], err[256];
	int r;

	/* mail root missing: never created */
	r = maildir_deliver("/nonexistent-moat-root", "/nonexistent-moat-root"
	    "/x/alice", "n", src, "a@b", 0, err, sizeof(err));
	CHECK(r == -1 && err[0] != '\0', "missing root: %d %s", r, err);
	/* absolute target whose parent is missing */
	snprintf(path, sizeof(path), "%s/absent/parent/alice", root);
	r = maildir_deliver("", path, "n", src, "a@b", 0, err, sizeof(err));
	CHECK(r == -1 && strstr(err, "parent") != NULL,
	    "missing parent: %d %s", r, err);
	/* a target that is a file */
	snprintf(path, sizeof(path), "%s/afile", root);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	r = maildir_deliver(root, path, "n", src, "a@b", 0, err, sizeof(err));
	CHECK(r == -1, "file as maildir: %d %s", r, err);
	/* unwritable tmp/ (meaningless as root, who may write anyway) */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro", root);
		r = maildir_deliver(root, path, "n", src, "a@b", 0, err,
		    sizeof(err));
		snprintf(path, sizeof(path), "%s/ro/tmp", root);
		chmod(path, 0500);
		snprintf(path, sizeof(path), "%s/ro", root);
		r = maildir_deliver(root, path, "n2", src, "a@b", 0, err,
		    sizeof(err));
		CHECK(r == -1, "unwritable tmp/: %d %s", r, err);
	}
	/* a bad spool descriptor */
	{
		struct maildir_src bad = *src;

		bad.fd = -1;
		snprintf(path, sizeof(path), "%s/badfd", root);
		r = maildir_deliver(root, path, "n", &bad, "a@b", 0, err,
		    sizeof(err));
		CHECK(r == -1, "bad spool fd: %d", r);
		snprintf(path, sizeof(path), "%s/badfd/new/n", root);
		CHECK(access(path, F_OK) == -1, "bad spool fd: nothing in new/");
	}
}

/*
 * A batch: three new messages in two maildirs, one already delivered and
 * one that fails at the start; each step runs over the whole batch, as
 * the queue does, and each job ends with its own result.
 */
static void
batch_checks(const struct maildir_src *src, const char *path,
    const char *done)
{
	struct maildir_job j[5];
	char other[256], p[1024];
	int r[5];
	size_t i, n = 5;

	snprintf(other, sizeof(other), "%s/example.test/bob", root);
	maildir_start(&j[0], root, path, "b1", src, "alice@example.test", 0);
	maildir_start(&j[1], root, other, "b2", src, "bob@example.test", 0);
	maildir_start(&j[2], root, path, "b3", src, "alice@example.test", 0);
	maildir_start(&j[3], root, path, done, src, "alice@example.test", 0);
	maildir_start(&j[4], "/nonexistent-moat-root", "/nonexistent-moat-root"
	    "/x", "b4", src, "a@b", 0);
	maildir_sync(j, n);
	for (i = 0; i < n; i++)
		maildir_link(&j[i]);
	for (i = 0; i < n; i++)
		maildir_sync_new(j, n, i);
	for (i = 0; i < n; i++)
		r[i] = maildir_end(&j[i]);
	CHECK(r[0] == 0 && r[1] == 0 && r[2] == 0, "batch delivered: %d %d %d",
	    r[0], r[1], r[2]);
	CHECK(r[3] == 1, "batch: already there: %d", r[3]);
	CHECK(r[4] == -1 && j[4].err[0] != '\0', "batch: failure kept: %d",
	    r[4]);
	check_content(path, "b1");
	check_content(path, "b3");
	snprintf(p, sizeof(p), "%s/new/b2", other);
	CHECK(access(p, F_OK) == 0, "batch: bob's copy in his new/");
	CHECK(count_files("tmp") == 0, "batch: tmp/ empty");
}

static void
test_deliver(void)
{
	char path[256], name[MAILDIR_NAME_MAX];
	struct maildir_src src;
	int fd = memfd_with(spooled, strlen(spooled));

	src.fd = fd;
	src.off = BODY_OFF;
	src.len = (off_t)strlen(spooled) - BODY_OFF;
	src.sender = "s@example.org";
	snprintf(path, sizeof(path), "%s/example.test/alice", root);
	maildir_name(name, sizeof(name), 1700000000, "0123456789ABCDEF", 0,
	    "mx.example.test");
	deliver_checks(&src, path, name);
	cur_checks(&src, path, name);
	batch_checks(&src, path, name);
	failure_checks(&src);
	close(fd);
}

int
main(void)
{
	test_paths();
	test_names();
	test_lf();
	test_lf_boundary();
	snprintf(root, sizeof(root), "/tmp/test_maildir.XXXXXX");
	if (mkdtemp(root) == NULL) {
		CHECK(0, "mkdtemp");
		T_DONE();
	}
	test_deliver();
	nftw(root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	T_DONE();
}
