/*
 * replay: run corpus files through a fuzz target without libFuzzer.
 *
 * Linked with one fuzz_*.c, it calls LLVMFuzzerTestOneInput once per file
 * named on the command line (a directory means every regular file in
 * it), so the seed corpus and every crash ever found can be replayed
 * with gcc and the sanitizers as a regression test.  Each input gets a
 * buffer of exactly its size, so a read past the end is caught by ASan.
 * Exit status 0 when every input ran; a failed invariant aborts.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int
replay_file(const char *path)
{
	struct stat st;
	uint8_t *data;
	size_t n;
	FILE *fp;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) == -1 || st.st_size < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	n = (size_t)st.st_size;
	if ((data = malloc(n ? n : 1)) == NULL) {
		fclose(fp);
		return -1;
	}
	if (fread(data, 1, n, fp) != n) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(data);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	(void)LLVMFuzzerTestOneInput(data, n);
	free(data);
	return 0;
}

static int
replay_dir(const char *dir, unsigned *count)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0, len;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		len = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (len < 0 || (size_t)len >= sizeof(path)) {
			rc = -1;
			continue;
		}
		if (stat(path, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		if (replay_file(path) == -1)
			rc = -1;
		else
			(*count)++;
	}
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	struct stat st;
	unsigned count = 0;
	int i, rc = 0;

	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (replay_dir(argv[i], &count) == -1)
				rc = 1;
		} else if (replay_file(argv[i]) == -1)
			rc = 1;
		else
			count++;
	}
	printf("%s: replayed %u inputs\n", argv[0], count);
	return rc;
}
