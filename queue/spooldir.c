/*
 * spooldir: the spool's folders: opening them, scanning queue/ at
 * start-up, clearing tmp/, collecting free/, moving an entry to hold/,
 * free space.
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

int
spool_scan(struct spool *sp, void (*fn)(const char *, void *), void *arg)
{
	struct dirent *de;
	DIR *d;

	if ((d = open_folder(sp->queuefd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		if (!spool_qid_valid(de->d_name)) {
			log_warnx("spool: ignoring queue/%s: not a queue id",
			    de->d_name);
			continue;
		}
		fn(de->d_name, arg);
	}
	closedir(d);
	return 0;
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
