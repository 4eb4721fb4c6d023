/*
 * lg_check.c: what the load generator checks outside the SMTP dialogue.
 *
 * pss_tree() sums the proportional set size (PSS, shared pages divided
 * among the processes sharing them) of a server process and all its
 * descendants, from /proc/PID/smaps_rollup: the honest figure for a
 * pre-forked server, where RSS counts shared pages once per process.
 * maildirs_count() and maildirs_verify() count the files in the maildirs
 * given with -W and check that every accepted message's token is there
 * exactly once (none lost, none duplicated, none delivered without 250).
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"

static pid_t
proc_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;
	long pp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and parens. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %ld",
	    &pp) != 1)
		return -1;
	return (pid_t)pp;
}

/* Add the Pss: and Rss: of one process, in KiB. */
static int
proc_mem(pid_t pid, long *pss, long *rss)
{
	char path[64], line[256];
	FILE *f;
	long v;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Pss: %ld kB", &v) == 1)
			*pss += v;
		else if (sscanf(line, "Rss: %ld kB", &v) == 1)
			*rss += v;
	}
	fclose(f);
	return 0;
}

/* Total PSS and RSS of root and all its descendants. */
int
pss_tree(pid_t root, long *pss, long *rss, unsigned *nproc)
{
	pid_t *pid = NULL, *ppid = NULL, *tree = NULL;
	size_t n = 0, cap = 0, nt = 0, i, j;
	struct dirent *de;
	DIR *d;

	*pss = *rss = 0;
	*nproc = 0;
	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (*end != '\0' || v <= 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			pid = realloc(pid, cap * sizeof(*pid));
			ppid = realloc(ppid, cap * sizeof(*ppid));
			if (pid == NULL || ppid == NULL)
				die("out of memory");
		}
		pid[n] = (pid_t)v;
		ppid[n] = proc_ppid((pid_t)v);
		n++;
	}
	closedir(d);
	if ((tree = malloc((n + 1) * sizeof(*tree))) == NULL)
		die("out of memory");
	tree[nt++] = root;
	for (i = 0; i < nt; i++)	/* breadth first over the tree */
		for (j = 0; j < n; j++)
			if (ppid[j] == tree[i] && pid[j] != root)
				tree[nt++] = pid[j];
	for (i = 0; i < nt; i++)
		if (proc_mem(tree[i], pss, rss) == 0)
			(*nproc)++;
	free(pid);
	free(ppid);
	free(tree);
	return *nproc > 0 ? 0 : -1;
}
static long
maildir_count(const char *dir)
{
	static const char *sub[] = { "new", "cur" };
	char path[PATH_MAX];
	struct dirent *de;
	long c = 0;
	size_t i;
	DIR *d;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, sub[i]);
		if ((d = opendir(path)) == NULL)
			return -1;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				c++;
		closedir(d);
	}
	return c;
}

long
maildirs_count(void)
{
	long total = 0, c;
	unsigned i;

	for (i = 0; i < o.nmaildir; i++) {
		if ((c = maildir_count(o.maildir[i])) == -1)
			die("cannot read maildir %s: %s", o.maildir[i],
			    strerror(errno));
		total += c;
	}
	return total;
}

/* Find "lg-RUNID-SEQ" in the head of one file; mark seen[seq]. */
static void
token_scan(const char *path, unsigned char *seen, size_t nseen,
    struct verify *v)
{
	char buf[TOKEN_SCAN + 1], tok[32], *p;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, TOKEN_SCAN);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	snprintf(tok, sizeof(tok), "lg-%08x-", runid);
	if ((p = strstr(buf, tok)) == NULL)
		return;		/* some other run's message */
	{
		unsigned long long seq = strtoull(p + strlen(tok), NULL, 10);

		if (seq >= nseen || !accepted[seq])
			v->stray++;	/* delivered though never 250 */
		else if (seen[seq] < 255)
			seen[seq]++;
	}
}

void
maildirs_verify(struct verify *v)
{
	static const char *sub[] = { "new", "cur" };
	unsigned char *seen;
	char path[PATH_MAX];
	struct dirent *de;
	unsigned i, k;
	size_t s;
	DIR *d;

	memset(v, 0, sizeof(*v));
	if ((seen = calloc(naccepted + 1, 1)) == NULL)
		die("out of memory");
	for (i = 0; i < o.nmaildir; i++)
		for (k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%s/%s", o.maildir[i],
			    sub[k]);
			if ((d = opendir(path)) == NULL)
				continue;
			while ((de = readdir(d)) != NULL) {
				char f[PATH_MAX];

				if (de->d_name[0] == '.')
					continue;
				if (snprintf(f, sizeof(f), "%s/%s", path,
				    de->d_name) >= (int)sizeof(f))
					continue;
				token_scan(f, seen, naccepted, v);
			}
			closedir(d);
		}
	for (s = 0; s < naccepted; s++) {
		if (!accepted[s])
			continue;
		if (seen[s] == 0)
			v->missing++;
		else if (seen[s] == 1)
			v->verified++;
		else
			v->dup++;
	}
	free(seen);
}

