/*
 * maildir: tmp/ -> new/ delivery with deterministic names (see maildir.h).
 *
 * Every failure here is temporary for the caller (a missing folder may be
 * created by the administrator, a full disk frees up); the message stays
 * in the queue.  Folders are created 0700 below the mail root, never the
 * mail root itself: a missing mail root is a broken installation, and
 * creating it would hide that behind mail nobody reads.  A folder made
 * here is fsynced into its parent before the delivery counts.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../smtpd/buf.h"
#include "maildir.h"
#include "syncpool.h"

static const char *const maildir_subs[] = { "tmp", "new", "cur" };

static void
seterr(char *err, size_t errsize, const char *what, const char *arg)
{
	snprintf(err, errsize, "%s%s%s: %s", what, arg ? " " : "",
	    arg ? arg : "", strerror(errno));
}

/* ---- names and paths ---- */

static int
has_dotdot(const char *p)
{
	const char *c = p;

	for (;;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);

		if (n == 2 && c[0] == '.' && c[1] == '.')
			return 1;
		if (slash == NULL)
			return 0;
		c = slash + 1;
	}
}

int
maildir_path(const char *mail_root, const char *target, char *path,
    size_t pathsize, char *err, size_t errsize)
{
	size_t plen = strlen(MAILDIR_PREFIX), n;
	const char *p;
	int w;

	if (strncmp(target, MAILDIR_PREFIX, plen) != 0) {
		snprintf(err, errsize, "unsupported target");
		return -1;
	}
	p = target + plen;
	if (*p == '\0' || has_dotdot(p)) {
		snprintf(err, errsize, "bad maildir path");
		return -1;
	}
	if (*p != '/' && mail_root[0] == '\0') {
		snprintf(err, errsize, "relative maildir without mail_root");
		return -1;
	}
	if (*p == '/')
		w = snprintf(path, pathsize, "%s", p);
	else
		w = snprintf(path, pathsize, "%s/%s", mail_root, p);
	if (w < 0 || (size_t)w >= pathsize) {
		snprintf(err, errsize, "maildir path too long");
		return -1;
	}
	for (n = strlen(path); n > 1 && path[n - 1] == '/'; n--)
		path[n - 1] = '\0';
	return 0;
}

int
maildir_name(char *name, size_t namesize, time_t ctime, const char *qid,
    unsigned idx, const char *hostname)
{
	char host[256 * 4 + 1];
	size_t o = 0;
	int w;

	for (; *hostname != '\0' && o + 5 < sizeof(host); hostname++) {
		if (*hostname == '/' || *hostname == ':') {
			o += (size_t)snprintf(host + o, sizeof(host) - o,
			    "\\%03o", (unsigned char)*hostname);
		} else
			host[o++] = *hostname;
	}
	host[o] = '\0';
	w = snprintf(name, namesize, "%lld.Q%s_%u.%s", (long long)ctime, qid,
	    idx, host[0] ? host : "localhost");
	return (w < 0 || (size_t)w >= namesize) ? -1 : 0;
}

/* ---- folders ---- */

static int
make_dir(const char *p, char *err, size_t errsize)
{
	char parent[4096];
	const char *slash;
	int fd;

	if (mkdir(p, 0700) == -1) {
		if (errno == EEXIST)
			return 0;
		seterr(err, errsize, errno == ENOENT ?
		    "maildir parent missing:" : "mkdir", p);
		return -1;
	}
	/* make the new name durable in its parent */
	slash = strrchr(p, '/');
	if (slash == NULL || (size_t)(slash - p) >= sizeof(parent))
		return 0;
	if (slash == p) {
		strcpy(parent, "/");
	} else {
		memcpy(parent, p, (size_t)(slash - p));
		parent[slash - p] = '\0';
	}
	if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1) {
		seterr(err, errsize, "fsync", parent);
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Create path, and the folders between mail_root and it. */
static int
make_path(const char *root, const char *path, char *err, size_t errsize)
{
	char tmp[4096];
	size_t rlen = strlen(root), i;

	while (rlen > 1 && root[rlen - 1] == '/')
		rlen--;
	if (strlen(path) >= sizeof(tmp)) {
		snprintf(err, errsize, "maildir path too long");
		return -1;
	}
	strcpy(tmp, path);
	if (rlen > 0 && strncmp(path, root, rlen) == 0 && path[rlen] == '/') {
		for (i = rlen + 1; tmp[i] != '\0'; i++) {
			if (tmp[i] != '/')
				continue;
			tmp[i] = '\0';
			if (make_dir(tmp, err, errsize) == -1)
				return -1;
			tmp[i] = '/';
		}
	}
	return make_dir(tmp, err, errsize);
}

static int
open_maildir(const char *root, const char *path, char *err, size_t errsize)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 && errno == ENOENT) {
		if (make_path(root, path, err, errsize) == -1)
			return -1;
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd == -1)
		seterr(err, errsize, "open", path);
	return fd;
}

static int
make_subs(int dfd, char *err, size_t errsize)
{
	size_t i;
	int made = 0;

	for (i = 0; i < 3; i++) {
		if (mkdirat(dfd, maildir_subs[i], 0700) == 0)
			made = 1;
		else if (errno != EEXIST) {
			seterr(err, errsize, "mkdir", maildir_subs[i]);
			return -1;
		}
	}
	if (made && fsync(dfd) == -1) {
		seterr(err, errsize, "fsync", "maildir");
		return -1;
	}
	return 0;
}

static int
open_sub(int dfd, const char *sub, char *err, size_t errsize)
{
	int fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		seterr(err, errsize, "open", sub);
	return fd;
}

/* ---- was it delivered before? ---- */

static int
in_cur(int dfd, const char *name)
{
	size_t n = strlen(name);
	struct dirent *de;
	DIR *d;
	int fd, found = 0;

	if ((fd = openat(dfd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while (!found && (de = readdir(d)) != NULL)
		found = strncmp(de->d_name, name, n) == 0 &&
		    (de->d_name[n] == '\0' || de->d_name[n] == ':');
	closedir(d);
	return found;
}

static int
already_there(int dfd, int nfd, const char *name, int check_cur)
{
	struct stat st;

	if (fstatat(nfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return check_cur && in_cur(dfd, name);
}

/* ---- copying ---- */

/* CRLF -> LF over in[0..n); *cr carries a CR that ended the last chunk. */
static size_t
crlf_to_lf(const char *in, size_t n, char *out, int *cr)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (*cr && in[i] != '\n')
			out[o++] = '\r';
		*cr = 0;
		if (in[i] == '\r')
			*cr = 1;
		else
			out[o++] = in[i];
	}
	return o;
}

int
maildir_copy_lf(int in, off_t off, off_t len, int out)
{
	char chunk[65536], conv[65536 + 1];
	off_t end = off + len;
	int cr = 0;
	ssize_t r;
	size_t n;

	while (off < end) {
		size_t want = end - off < (off_t)sizeof(chunk) ?
		    (size_t)(end - off) : sizeof(chunk);

		if ((r = pread(in, chunk, want, off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO;	/* spool file shorter than its envelope */
			return -1;
		}
		off += r;
		n = crlf_to_lf(chunk, (size_t)r, conv, &cr);
		if (fd_write_all(out, conv, n) == -1)
			return -1;
	}
	return cr ? fd_write_all(out, "\r", 1) : 0;
}

/* ---- delivery ---- */

static void
job_fail(struct maildir_job *j, const char *what, const char *arg)
{
	seterr(j->err, sizeof(j->err), what, arg);
	j->state = MJ_FAILED;
}

/* Create and write tmp/NAME; its fsync comes later, with the batch's. */
static void
write_tmp(struct maildir_job *j, const struct maildir_src *src,
    const char *rcpt)
{
	char head[2048];
	int w;

	w = snprintf(head, sizeof(head), "Return-Path: <%s>\nDelivered-To: %s\n",
	    src->sender, rcpt);
	if (w < 0 || (size_t)w >= sizeof(head)) {
		snprintf(j->err, sizeof(j->err), "address too long");
		j->state = MJ_FAILED;
		return;
	}
	if (unlinkat(j->tfd, j->name, 0) == -1 && errno != ENOENT) {
		job_fail(j, "unlink stale", "tmp/");
		return;
	}
	j->fd = openat(j->tfd, j->name, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);
	if (j->fd == -1) {
		job_fail(j, "create", "tmp/");
		return;
	}
	if (fd_write_all(j->fd, head, (size_t)w) == -1 ||
	    maildir_copy_lf(src->fd, src->off, src->len, j->fd) == -1) {
		job_fail(j, "write", "tmp/");
		return;
	}
	/*
	 * Start the write-back now, so the batch's files go to the disk
	 * together and the fsyncs that follow mostly find them written and
	 * share one journal commit.  Only a hint: the fsync is what counts.
	 */
	(void)sync_file_range(j->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	j->state = MJ_WRITTEN;
}

static int
open_job_dirs(struct maildir_job *j, const char *mail_root,
    const char *path)
{
	struct stat st;
	int dfd;

	if ((dfd = open_maildir(mail_root, path, j->err, sizeof(j->err))) == -1)
		return -1;
	if (make_subs(dfd, j->err, sizeof(j->err)) == -1 ||
	    (j->tfd = open_sub(dfd, "tmp", j->err, sizeof(j->err))) == -1 ||
	    (j->nfd = open_sub(dfd, "new", j->err, sizeof(j->err))) == -1)
		return dfd;
	if (fstat(j->nfd, &st) == -1) {
		seterr(j->err, sizeof(j->err), "stat", "new/");
		return dfd;
	}
	j->ndev = st.st_dev;
	j->nino = st.st_ino;
	j->state = MJ_NONE;
	return dfd;
}

void
maildir_start(struct maildir_job *j, const char *mail_root,
    const char *path, const char *name, const struct maildir_src *src,
    const char *rcpt, int check_cur)
{
	int dfd;

	j->state = MJ_FAILED;
	j->existed = 0;
	j->tfd = j->nfd = j->fd = -1;
	j->err[0] = '\0';
	if (strlen(name) >= sizeof(j->name)) {
		snprintf(j->err, sizeof(j->err), "name too long");
		return;
	}
	strcpy(j->name, name);
	if ((dfd = open_job_dirs(j, mail_root, path)) == -1)
		return;
	if (j->state == MJ_NONE) {
		if (already_there(dfd, j->nfd, name, check_cur)) {
			j->existed = 1;
			j->state = MJ_EXISTING;
		} else
			write_tmp(j, src, rcpt);
	}
	close(dfd);
}

static void
job_synced(struct maildir_job *j, int err)
{
	if (err != 0) {
		errno = err;
		job_fail(j, "write", "tmp/");
		return;
	}
	if (close(j->fd) == -1) {
		j->fd = -1;
		job_fail(j, "close", "tmp/");
		return;
	}
	j->fd = -1;
	j->state = MJ_SYNCED;
}

void
maildir_sync(struct maildir_job *jobs, size_t n)
{
	int fds[SYNCPOOL_BATCH], errs[SYNCPOOL_BATCH];
	size_t i, k, done, chunk;

	for (done = 0; done < n; done += chunk) {
		chunk = n - done < SYNCPOOL_BATCH ? n - done :
		    SYNCPOOL_BATCH;
		for (i = done, k = 0; i < done + chunk; i++)
			if (jobs[i].state == MJ_WRITTEN)
				fds[k++] = jobs[i].fd;
		syncpool_fsync(fds, errs, k);
		for (i = done, k = 0; i < done + chunk; i++)
			if (jobs[i].state == MJ_WRITTEN)
				job_synced(&jobs[i], errs[k++]);
	}
}

/* link into new/; EEXIST means an earlier try got there. */
void
maildir_link(struct maildir_job *j)
{
	if (j->state != MJ_SYNCED)
		return;
	if (linkat(j->tfd, j->name, j->nfd, j->name, 0) == -1) {
		if (errno != EEXIST) {
			job_fail(j, "link", "new/");
			return;
		}
		j->existed = 1;
	}
	unlinkat(j->tfd, j->name, 0);
	j->state = MJ_LINKED;
}

static int
needs_new_sync(const struct maildir_job *j)
{
	return j->state == MJ_LINKED || j->state == MJ_EXISTING;
}

void
maildir_sync_new(struct maildir_job *jobs, size_t n, size_t j)
{
	struct maildir_job *a = &jobs[j], *b;
	int r;
	size_t k;

	if (!needs_new_sync(a))
		return;
	r = fsync(a->nfd);
	for (k = j; k < n; k++) {
		b = &jobs[k];
		if (!needs_new_sync(b) || b->ndev != a->ndev ||
		    b->nino != a->nino)
			continue;
		if (r == 0)
			b->state = MJ_DONE;
		else
			job_fail(b, "fsync", "new/");
	}
}

int
maildir_end(struct maildir_job *j)
{
	int r = -1;

	if (j->state == MJ_DONE)
		r = j->existed;
	else if (j->state != MJ_FAILED)
		snprintf(j->err, sizeof(j->err), "delivery not finished");
	if (j->fd != -1)
		close(j->fd);
	if (r == -1 && j->tfd != -1)
		unlinkat(j->tfd, j->name, 0);	/* never a stale tmp file */
	if (j->nfd != -1)
		close(j->nfd);
	if (j->tfd != -1)
		close(j->tfd);
	j->fd = j->nfd = j->tfd = -1;
	return r;
}

int
maildir_deliver(const char *mail_root, const char *path, const char *name,
    const struct maildir_src *src, const char *rcpt, int check_cur,
    char *err, size_t errsize)
{
	struct maildir_job j;
	int r;

	maildir_start(&j, mail_root, path, name, src, rcpt, check_cur);
	maildir_sync(&j, 1);
	maildir_link(&j);
	maildir_sync_new(&j, 1, 0);
	r = maildir_end(&j);
	snprintf(err, errsize, "%s", r == -1 ? j.err : "");
	return r;
}
