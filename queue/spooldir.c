/*
 * spooldir: the spool's folders: opening them, scanning queue/ at
 * start-up and hold/ for a listing, clearing tmp/, collecting free/,
 * moving an entry to hold/ and back, an operator's delete, free space.
 *
 * Folders are created 0700 when missing (the parent creates the spool
 * itself, owned by the queue user) and the spool is fsynced after a
 * creation, so the layout survives a crash like the entries do.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../smtpd/log.h"
#include "spool.h"

static const char *const spool_dirs[] = { "tmp", "queue", "hold", "free" };

int
spool_open(struct spool *sp, const char *path)
{
	int *fds[] = { &sp->tmpfd, &sp->queuefd, &sp->holdfd, &sp->freefd };
	size_t i;

	sp->tmpfd = sp->queuefd = sp->holdfd = sp->freefd = -1;
	sp->nfree = 0;
	if ((sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	for (i = 0; i < 4; i++) {
		if (mkdirat(sp->dirfd, spool_dirs[i], 0700) == 0) {
			if (fsync(sp->dirfd) == -1)
				goto fail;
		} else if (errno != EEXIST)
			goto fail;
		*fds[i] = openat(sp->dirfd, spool_dirs[i],
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (*fds[i] == -1)
			goto fail;
	}
	return 0;
fail:
	spool_close(sp);
	return -1;
}

void
spool_close(struct spool *sp)
{
	int saved = errno;
	int *fds[] = { &sp->dirfd, &sp->tmpfd, &sp->queuefd, &sp->holdfd,
	    &sp->freefd };
	size_t i;

	for (i = 0; i < 5; i++) {
		if (*fds[i] != -1)
			close(*fds[i]);
		*fds[i] = -1;
	}
	errno = saved;
}

int
spool_exists(struct spool *sp, const char *qid)
{
	int fds[] = { sp->tmpfd, sp->queuefd, sp->holdfd };
	struct stat st;
	size_t i;

	for (i = 0; i < 3; i++) {
		if (fstatat(fds[i], qid, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return 1;
		if (errno != ENOENT)
			return -1;
	}
	return 0;
}

int
spool_hold(struct spool *sp, const char *qid)
{
	if (renameat(sp->queuefd, qid, sp->holdfd, qid) == -1 ||
	    fsync(sp->holdfd) == -1 || fsync(sp->queuefd) == -1)
		return -1;
	return 0;
}

/* Pending again, confirmed: what the operator's release promises. */
static int
release_marks(int fd, struct spool_env *e)
{
	size_t i;

	for (i = 0; i < e->nrcpt; i++) {
		if (e->rcpt[i].status != RCPT_HELD)
			continue;
		if (spool_mark(fd, e->rcpt[i].off, RCPT_PENDING) == -1)
			return -1;
		e->rcpt[i].status = RCPT_PENDING;
	}
	if (e->state != SPOOL_CONFIRMED) {
		if (spool_mark(fd, e->state_off, SPOOL_CONFIRMED) == -1)
			return -1;
		e->state = SPOOL_CONFIRMED;
	}
	return fdatasync(fd);
}

static int
release_fail(struct spool_env *e, int fd)
{
	int saved = errno;

	if (fd != -1)
		close(fd);
	spool_env_free(e);
	errno = saved;
	return -1;
}

int
spool_release(struct spool *sp, const char *qid, struct spool_env *e)
{
	int fd;

	memset(e, 0, sizeof(*e));
	fd = openat(sp->holdfd, qid, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (spool_load_fd(fd, qid, e) == -1 || release_marks(fd, e) == -1)
		return release_fail(e, fd);
	if (close(fd) == -1 || spool_rename(sp->holdfd, sp->queuefd, qid)
	    == -1)
		return release_fail(e, -1);
	if (fsync(sp->queuefd) == -1 || fsync(sp->holdfd) == -1)
		log_warn("spool: released %s, but the folders did not sync",
		    qid);
	return 0;
}

int
spool_delete(struct spool *sp, const char *qid, int held)
{
	int dirfd = held ? sp->holdfd : sp->queuefd;

	if (unlinkat(dirfd, qid, 0) == -1)
		return -1;
	if (fsync(dirfd) == -1)
		log_warn("spool: deleted %s/%s, but the folder did not sync",
		    held ? "hold" : "queue", qid);
	return 0;
}

/* ---- folders ---- */

static DIR *
open_folder(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		close(fd);
	return d;
}

static int
is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

int
spool_clean_tmp(struct spool *sp)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = open_folder(sp->tmpfd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		if (unlinkat(sp->tmpfd, de->d_name, 0) == 0)
			n++;
		else
			log_warn("spool: cannot remove tmp/%s", de->d_name);
	}
	closedir(d);
	return n;
}

int
spool_collect_free(struct spool *sp)
{
	struct dirent *de;
	DIR *d;

	sp->nfree = 0;
	if ((d = open_folder(sp->freefd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		if (spool_qid_valid(de->d_name) && sp->nfree < SPOOL_FREE_MAX)
			memcpy(sp->free_ids[sp->nfree++], de->d_name,
			    QID_LEN + 1);
		else if (unlinkat(sp->freefd, de->d_name, 0) == -1)
			log_warn("spool: cannot remove free/%s", de->d_name);
	}
	closedir(d);
	return (int)sp->nfree;
}

static int
scan_folder(int dirfd, const char *name, void (*fn)(const char *, void *),
    void *arg)
{
	struct dirent *de;
	DIR *d;

	if ((d = open_folder(dirfd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		if (!spool_qid_valid(de->d_name)) {
			log_warnx("spool: ignoring %s/%s: not a queue id",
			    name, de->d_name);
			continue;
		}
		fn(de->d_name, arg);
	}
	closedir(d);
	return 0;
}

int
spool_scan(struct spool *sp, void (*fn)(const char *, void *), void *arg)
{
	return scan_folder(sp->queuefd, "queue", fn, arg);
}

int
spool_scan_hold(struct spool *sp, void (*fn)(const char *, void *),
    void *arg)
{
	return scan_folder(sp->holdfd, "hold", fn, arg);
}

int
spool_free_space(struct spool *sp, uint64_t *bytes)
{
	struct statvfs sv;

	if (fstatvfs(sp->dirfd, &sv) == -1)
		return -1;
	*bytes = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return 0;
}
