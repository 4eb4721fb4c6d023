/*
 * test_syncpool: the fsync helpers: a batch is synced with each file's
 * own result, a descriptor that cannot be synced gets its errno, the
 * helpers hold nothing but their socket, and when every helper is gone
 * the caller still gets every file synced.
 */
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "../../queue/syncpool.h"

#define NFILES	40
#define NHELP	4

static char dir[64];
static int fds[NFILES + 1], errs[NFILES + 1];

static void
open_files(void)
{
	char path[128];
	int i;

	for (i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		fds[i] = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
		if (fds[i] == -1 || write(fds[i], "data\n", 5) != 5)
			CHECK(0, "open %s", path);
	}
}

static int
all_ok(size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (errs[i] != 0)
			return 0;
	return 1;
}

/* Children of this process that are still alive (not zombies). */
static int
helpers_alive(pid_t *pids, int max)
{
	char path[300], buf[512], *p;
	struct dirent *de;
	DIR *d = opendir("/proc");
	int n = 0, fd;
	ssize_t len;

	while (d != NULL && (de = readdir(d)) != NULL && n < max) {
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((fd = open(path, O_RDONLY)) == -1)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		if ((p = strrchr(buf, ')')) == NULL)
			continue;
		/* ") S PPID" */
		if (p[2] != 'Z' && atoi(p + 4) == getpid())
			pids[n++] = atoi(de->d_name);
	}
	if (d != NULL)
		closedir(d);
	return n;
}

static int
fd_count(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int
main(void)
{
	pid_t pids[NHELP + 4];
	int i, n, pfd[2];

	snprintf(dir, sizeof(dir), "/tmp/test_syncpool.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		CHECK(0, "mkdtemp");
		T_DONE();
	}
	open_files();

	/* no pool yet: done in this process */
	syncpool_fsync(fds, errs, NFILES);
	CHECK(all_ok(NFILES), "without helpers every fsync is done here");

	syncpool_start(NHELP);
	n = helpers_alive(pids, NHELP + 4);
	CHECK(n == NHELP, "%d helpers running, want %d", n, NHELP);
	for (i = 0; i < n; i++) {
		int fds_held, tries;

		/* a helper just forked may not have closed what it inherited */
		for (tries = 0; (fds_held = fd_count(pids[i])) > 4 &&
		    tries < 200; tries++)
			usleep(10000);
		CHECK(fds_held <= 4, "helper %d holds %d descriptors",
		    (int)pids[i], fds_held);
	}

	memset(errs, 0xff, sizeof(errs));
	syncpool_fsync(fds, errs, NFILES);
	CHECK(all_ok(NFILES), "a batch through the helpers");

	/* a pipe cannot be fsynced: its own errno, the others unharmed */
	if (pipe(pfd) == -1)
		CHECK(0, "pipe");
	fds[NFILES] = pfd[0];
	syncpool_fsync(fds, errs, NFILES + 1);
	CHECK(all_ok(NFILES) && errs[NFILES] == EINVAL,
	    "the pipe's fsync: %d, want EINVAL", errs[NFILES]);

	/* every helper killed: the next batch still gets synced */
	for (i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	memset(errs, 0xff, sizeof(errs));
	syncpool_fsync(fds, errs, NFILES + 1);
	CHECK(all_ok(NFILES) && errs[NFILES] == EINVAL,
	    "with the helpers gone the batch is synced here");

	/* stopping: the helpers exit when their socket closes */
	syncpool_start(NHELP);
	CHECK(helpers_alive(pids, NHELP + 4) == NHELP, "pool restarted");
	syncpool_stop();
	for (i = 0; i < 50 && helpers_alive(pids, NHELP + 4) > 0; i++)
		usleep(20000);
	syncpool_stop();	/* reaps */
	CHECK(helpers_alive(pids, NHELP + 4) == 0, "helpers exit on stop");

	for (i = 0; i < NFILES; i++) {
		char path[128];

		close(fds[i]);
		snprintf(path, sizeof(path), "%s/f%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
	T_DONE();
}
