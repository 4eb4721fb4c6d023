/*
 * sharedfile: the shared figures' files (see sharedfile.h).
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sharedfile.h"

static int
file_path(const char *spool, const char *name, char *out, size_t outsize)
{
	int n = snprintf(out, outsize, "%s/%s", spool, name);

	return n < 0 || (size_t)n >= outsize ? -1 : 0;
}

void *
sharedfile_create(const char *spool, const char *name, size_t size,
    const char *what)
{
	char path[PATH_MAX];
	void *p;
	int fd;

	if (file_path(spool, name, path, sizeof(path)) == -1) {
		log_warnx("%s: %s/%s: path too long", what, spool, name);
		return NULL;
	}
	(void)unlink(path);		/* a reader of the old one keeps it */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1 || ftruncate(fd, (off_t)size) == -1) {
		log_warn("%s: %s", what, path);
		if (fd != -1)
			close(fd);
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		log_warn("%s: mmap %s", what, path);
		return NULL;
	}
	return p;
}

const void *
sharedfile_open(const char *spool, const char *name, size_t size,
    const char magic[SHAREDFILE_MAGIC])
{
	char path[PATH_MAX];
	struct stat st;
	void *p;
	int fd;

	if (file_path(spool, name, path, sizeof(path)) == -1) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	/* the spool is the queue's: take only a plain file of moatd's */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) ||
	    st.st_size != (off_t)size) {
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	if (memcmp(p, magic, SHAREDFILE_MAGIC) != 0) {
		munmap(p, size);
		errno = EINVAL;
		return NULL;
	}
	return p;
}

int
sharedfile_read(const uint32_t *seq, void (*fn)(void *), void *arg)
{
	struct timespec pause = { 0, 200 * 1000 };
	uint32_t s;
	int tries;

	for (tries = 0; tries <= SHAREDFILE_TRIES; tries++) {
		if (tries > 0)
			(void)nanosleep(&pause, NULL);
		s = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
		if ((s & 1) && tries < SHAREDFILE_TRIES)
			continue;		/* being written */
		fn(arg);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!(s & 1) && __atomic_load_n(seq, __ATOMIC_RELAXED) == s)
			return 0;
	}
	return -1;
}

void
sharedfile_close(const void *p, size_t size)
{
	if (p != NULL)
		(void)munmap((void *)p, size);
}
