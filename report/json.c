/*
 * json: `moatctl report --format json`, one object whose shape is an
 * interface (moatctl(8), "report"): keys are only ever added.
 */
#include <stdio.h>
#include <stdlib.h>

#include "report.h"

/* A JSON string: what came from a log may hold anything. */
static void
str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(fp, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(fp, "\\u%04x", c);
		else
			fputc(c, fp);
	}
	fputc('"', fp);
}

static void
counts(FILE *fp, const struct hour_stat *h)
{
	fprintf(fp, "\"received\": %lu, \"delivered\": %lu, \"deferred\": "
	    "%lu, \"held\": %lu, \"rejected\": %lu, \"connections\": %lu, "
	    "\"connection_seconds\": %.3f, \"connection_max_seconds\": %.3f",
	    h->received, h->delivered, h->deferred, h->held, h->rejected,
	    h->conns, h->conn_time, h->conn_max);
}

static void
periods(FILE *fp, const char *name, const struct hour_stat *h, size_t n,
    const char *keyname)
{
	struct hour_stat sum = { .key = "" };
	size_t i;

	fprintf(fp, ",\n  \"%s\": [", name);
	for (i = 0; i < n; i++) {
		fprintf(fp, "%s\n    {\"%s\": ", i ? "," : "", keyname);
		str(fp, h[i].key);
		fputs(", ", fp);
		counts(fp, &h[i]);
		fputc('}', fp);
		report_add(&sum, &h[i]);
	}
	fputs("\n  ]", fp);
	if (name[0] == 'h') {
		fputs(",\n  \"total\": {", fp);
		counts(fp, &sum);
		fputc('}', fp);
	}
}

static void
rejections(FILE *fp, const struct tally *t)
{
	size_t i;

	fputs(",\n  \"rejections\": [", fp);
	for (i = 0; i < t->nclasses; i++) {
		fprintf(fp, "%s\n    {\"stage\": ", i ? "," : "");
		str(fp, t->classes[i].stage);
		fputs(", \"class\": ", fp);
		str(fp, t->classes[i].name);
		fprintf(fp, ", \"count\": %lu, \"addresses\": %zu}",
		    t->classes[i].count, t->classes[i].ips.n);
	}
	fputs("\n  ]", fp);
}

static void
dns_lists(FILE *fp, const struct tally *t)
{
	const struct zone_stat *z;
	size_t i;

	fputs(",\n  \"dns_lists\": [", fp);
	for (i = 0; i < t->nzones; i++) {
		z = &t->zones[i];
		fprintf(fp, "%s\n    {\"zone\": ", i ? "," : "");
		str(fp, z->name);
		fprintf(fp, ", \"refusals\": %lu, \"overlap\": %lu, "
		    "\"queries\": %lu, \"listed\": %lu, \"errors\": %lu}",
		    z->refusals, z->overlap, z->queries, z->listed, z->errors);
	}
	fputs("\n  ]", fp);
}

static void
greylisting(FILE *fp, const struct tally *t)
{
	const struct grey_stat *g = &t->grey;

	fprintf(fp, ",\n  \"greylisting\": {\"new\": %lu, \"early\": %lu, "
	    "\"passed\": %lu, \"median_delay_seconds\": %ld, "
	    "\"never_back\": %lu, \"awl\": %lu, \"skipped\": %lu}", g->new,
	    g->early, g->passed, tally_grey_median(t),
	    tally_grey_never_back(t), g->awl, g->skip);
}

static void
top(FILE *fp, const struct tally *t, unsigned n)
{
	struct report_group *g;
	size_t i, ng;

	fputs(",\n  \"top_clients\": [", fp);
	for (i = 0; i < t->nhosts && i < n; i++) {
		fprintf(fp, "%s\n    {\"address\": ", i ? "," : "");
		str(fp, t->hosts[i].ip);
		fputs(", \"ptr\": ", fp);
		str(fp, t->hosts[i].ptr ? t->hosts[i].ptr : "");
		fprintf(fp, ", \"connections\": %lu, \"seconds\": %.3f}",
		    t->hosts[i].conns, t->hosts[i].time);
	}
	fputs("\n  ],\n  \"top_networks\": [", fp);
	g = report_networks(t, &ng);
	for (i = 0; g != NULL && i < ng && i < n; i++) {
		fprintf(fp, "%s\n    {\"network\": ", i ? "," : "");
		str(fp, g[i].net);
		fprintf(fp, ", \"connections\": %lu, \"seconds\": %.3f, "
		    "\"clients\": %lu}", g[i].conns, g[i].time, g[i].hosts);
	}
	free(g);
	fputs("\n  ]", fp);
}

static void
asns(FILE *fp, const struct tally *t, unsigned n)
{
	size_t i;

	if (t->asn == NULL)
		return;
	fputs(",\n  \"asns\": [", fp);
	for (i = 0; i < t->nasn && i < n; i++) {
		fprintf(fp, "%s\n    {\"asn\": %lu, \"owner\": ", i ? "," : "",
		    t->asn[i].asn);
		str(fp, t->asn[i].owner);
		fprintf(fp, ", \"refused_clients\": %lu}", t->asn[i].clients);
	}
	fputs("\n  ]", fp);
}

void
report_json(FILE *fp, struct tally *t, unsigned ntop)
{
	struct hour_stat *d;
	unsigned long f[4];
	size_t nd;

	fprintf(fp, "{\n  \"version\": 1,\n  \"lines_read\": %lu,\n"
	    "  \"lines_counted\": %lu", t->lines, t->used);
	periods(fp, "hours", t->hours, t->nhours, "hour");
	d = report_days(t, &nd);
	periods(fp, "days", d, nd, "day");
	free(d);
	rejections(fp, t);
	dns_lists(fp, t);
	greylisting(fp, t);
	top(fp, t, ntop);
	asns(fp, t, ntop);
	report_funnel(t, f);
	fprintf(fp, ",\n  \"clients\": {\"connected\": %lu, \"spoke\": %lu, "
	    "\"transaction\": %lu, \"accepted\": %lu}\n}\n", f[0], f[1],
	    f[2], f[3]);
}
