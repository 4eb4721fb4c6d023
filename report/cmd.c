/*
 * cmd: `moatctl report [--since T] [--until T] [--top N] [--format F]
 * [LOGFILE...]`; it needs no configuration, so it runs on any machine
 * that has the logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asn.h"
#include "report.h"

#define DEFAULT_LOG	"/var/log/mail.log"

static int
usage(void)
{
	fprintf(stderr, "usage: moatctl report [--since TIME] [--until TIME] "
	    "[--top N] [--format text|json|html] [--asn FILE] [LOGFILE...]\n"
	    "  TIME: YYYY-MM-DD[THH[:MM[:SS]]], local time as in the log\n");
	return 2;
}

/* A prefix of "YYYY-MM-DDTHH:MM:SS" (a space for the T is taken too). */
static const char *
time_arg(char *s)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd";
	size_t i, n = strlen(s);

	if (n < 10 || n > 19 || (n != 10 && n != 13 && n != 16 && n != 19))
		return NULL;
	if (n > 10 && s[10] == ' ')
		s[10] = 'T';
	for (i = 0; i < n; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' :
		    s[i] != shape[i])
			return NULL;
	return s;
}

static int
read_file(struct tally *t, const char *path, int year)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	int r;

	if (fp == NULL) {
		fprintf(stderr, "moatctl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	r = report_read(t, fp, year);
	if (ferror(fp)) {
		fprintf(stderr, "moatctl: %s: read error\n", path);
		r = -1;
	}
	if (fp != stdin)
		fclose(fp);
	if (r == -1)
		fprintf(stderr, "moatctl: %s: out of memory\n", path);
	return r;
}

int
report_main(int argc, char **argv)
{
	static struct tally t;
	const char *since = NULL, *until = NULL, *format = "text";
	const char *asnfile = NULL;
	struct asn_table *asn = NULL;
	char err[512];
	unsigned top = 10;
	time_t now = time(NULL);
	struct tm tm;
	int i, today, r = 0;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--") == 0) {
			i++;		/* the files follow */
			break;
		}
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--since") == 0)
			since = time_arg(argv[i + 1]);
		else if (strcmp(argv[i], "--until") == 0)
			until = time_arg(argv[i + 1]);
		else if (strcmp(argv[i], "--top") == 0)
			top = (unsigned)strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--format") == 0)
			format = argv[i + 1];
		else if (strcmp(argv[i], "--asn") == 0)
			asnfile = argv[i + 1];
		else
			return usage();
		if ((strcmp(argv[i], "--since") == 0 && since == NULL) ||
		    (strcmp(argv[i], "--until") == 0 && until == NULL) ||
		    top == 0 || (strcmp(format, "text") != 0 &&
		    strcmp(format, "json") != 0 && strcmp(format, "html") != 0))
			return usage();
	}
	if (asnfile != NULL && (asn = asn_load(asnfile, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "moatctl: %s\n", err);
		return 1;
	}
	localtime_r(&now, &tm);
	today = (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
	tally_init(&t, since, until);
	if (i == argc)
		r = read_file(&t, isatty(STDIN_FILENO) ? DEFAULT_LOG : "-",
		    today);
	for (; i < argc && r == 0; i++)
		r = read_file(&t, argv[i], today);
	if (r == 0) {
		report_prepare(&t);
		if (asn != NULL)
			t.asn = asn_count(asn, &t, &t.nasn);
		if (strcmp(format, "json") == 0)
			report_json(stdout, &t, top);
		else if (strcmp(format, "html") == 0)
			report_html(stdout, &t, top);
		else
			report_text(stdout, &t, top);
	}
	tally_free(&t);
	asn_free(asn);
	return r == 0 ? 0 : 1;
}
