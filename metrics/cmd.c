/*
 * cmd: `moatctl stats [--format text|json|openmetrics]`: the running
 * daemon's live figures, read from the files it shares under the spool.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../dnsbl/zonestats.h"
#include "render.h"
#include "stats.h"

static int
usage(void)
{
	fprintf(stderr, "usage: moatctl stats [--format text|json|"
	    "openmetrics]\n");
	return 2;
}

int
stats_main(const char *spool, int argc, char **argv)
{
	void (*render)(FILE *, const struct ctr_view *) = stats_text;
	const struct ctr_file *f;
	struct ctr_view *v;
	const char *fmt = "text";
	int r;

	if (argc == 3 && strcmp(argv[1], "--format") == 0)
		fmt = argv[2];
	else if (argc != 1)
		return usage();
	if (strcmp(fmt, "json") == 0)
		render = stats_json;
	else if (strcmp(fmt, "openmetrics") == 0)
		render = stats_openmetrics;
	else if (strcmp(fmt, "text") != 0)
		return usage();
	if ((f = ctrs_open(spool)) == NULL) {
		fprintf(stderr, "moatctl: %s/%s: %s (is moatd running?)\n",
		    spool, CTRS_FILE, strerror(errno));
		return 2;
	}
	if (kill(f->parent_pid, 0) == -1 && errno == ESRCH)
		fprintf(stderr, "moatctl: moatd (pid %ld) is not running: the "
		    "figures are those it left\n", (long)f->parent_pid);
	if ((v = malloc(sizeof(*v))) == NULL) {
		fprintf(stderr, "moatctl: out of memory\n");
		return 2;
	}
	if ((r = ctrs_view(f, zstats_open(spool), time(NULL), v)) == -1)
		fprintf(stderr, "moatctl: moatd kept writing the figures while "
		    "they were read (or died writing them): some may be off\n");
	render(stdout, v);
	free(v);
	if (fflush(stdout) == EOF)
		return 2;
	return r == -1 ? 1 : 0;
}
