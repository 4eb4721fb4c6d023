/*
 * text: `moatctl report` as tables, the way admins paste them into
 * mailing lists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* A string from the log, fit for a terminal: control bytes (ESC among
 * them) become '?'. */
static const char *
clean(const char *s)
{
	static char buf[4][512];
	static unsigned k;
	char *b = buf[k++ % 4];
	size_t i;

	for (i = 0; s[i] != '\0' && i < sizeof(buf[0]) - 1; i++)
		b[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	b[i] = '\0';
	return b;
}

static void
traffic_row(FILE *fp, const char *label, const struct hour_stat *h)
{
	fprintf(fp, "%-16s %9lu %9lu %9lu %7lu %9lu\n", label, h->received,
	    h->delivered, h->deferred, h->held, h->rejected);
}


/* "2026-11-23T18" -> "2026-11-23 18:00" */
static const char *
hour_label(const char *key, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%.10s %.2s:00", key, key + 11);
	return buf;
}

static void
traffic(FILE *fp, const struct tally *t)
{
	struct hour_stat sum;
	char label[32];
	size_t i;

	memset(&sum, 0, sizeof(sum));
	fprintf(fp, "Traffic per hour\n%-16s %9s %9s %9s %7s %9s\n", "hour",
	    "received", "delivered", "deferred", "held", "rejected");
	for (i = 0; i < t->nhours; i++) {
		traffic_row(fp, hour_label(t->hours[i].key, label,
		    sizeof(label)), &t->hours[i]);
		report_add(&sum, &t->hours[i]);
	}
	traffic_row(fp, "total", &sum);
}

static void
conn_row(FILE *fp, const char *label, const struct hour_stat *h)
{
	fprintf(fp, "%-16s %9lu %12.1f %9.2f %9.2f\n", label, h->conns,
	    h->conn_time, h->conns ? h->conn_time / (double)h->conns : 0.0,
	    h->conn_max);
}

static void
connections(FILE *fp, const struct tally *t)
{
	struct hour_stat sum;
	char label[32];
	size_t i;

	memset(&sum, 0, sizeof(sum));
	fprintf(fp, "\nConnections per hour\n%-16s %9s %12s %9s %9s\n", "hour",
	    "conns", "time (s)", "avg (s)", "max (s)");
	for (i = 0; i < t->nhours; i++) {
		conn_row(fp, hour_label(t->hours[i].key, label,
		    sizeof(label)), &t->hours[i]);
		report_add(&sum, &t->hours[i]);
	}
	conn_row(fp, "total", &sum);
}

static void
days(FILE *fp, const struct tally *t)
{
	struct hour_stat *d;
	size_t i, n;

	fprintf(fp, "\nPer day\n%-10s %9s %9s %9s %7s %9s %9s\n", "day",
	    "received", "delivered", "deferred", "held", "rejected",
	    "conns");
	if ((d = report_days(t, &n)) == NULL)
		return;
	for (i = 0; i < n; i++)
		fprintf(fp, "%s %9lu %9lu %9lu %7lu %9lu %9lu\n", d[i].key,
		    d[i].received, d[i].delivered, d[i].deferred, d[i].held,
		    d[i].rejected, d[i].conns);
	free(d);
}

static void
rejections(FILE *fp, struct tally *t)
{
	unsigned long total = 0;
	size_t i;

	for (i = 0; i < t->nclasses; i++)
		total += t->classes[i].count;
	fprintf(fp, "\nRejections by class\n%9s %6s %9s  %-8s %s\n", "count",
	    "share", "addresses", "stage", "class");
	for (i = 0; i < t->nclasses; i++)
		fprintf(fp, "%9lu %5.1f%% %9zu  %-8s %s\n",
		    t->classes[i].count, total ? 100.0 *
		    (double)t->classes[i].count / (double)total : 0.0,
		    t->classes[i].ips.n, clean(t->classes[i].stage),
		    clean(t->classes[i].name));
	fprintf(fp, "%9lu %5s\n", total, "total");
}

static void
hosts(FILE *fp, struct tally *t, unsigned top)
{
	struct report_group *g;
	size_t i, n;

	fprintf(fp, "\nTop %u clients by connections\n%9s %12s %9s  %-39s  %s\n",
	    top, "conns", "time (s)", "avg (s)", "address", "ptr");
	for (i = 0; i < t->nhosts && i < top; i++)
		fprintf(fp, "%9lu %12.1f %9.2f  %-39s  %s\n", t->hosts[i].conns,
		    t->hosts[i].time, t->hosts[i].conns ? t->hosts[i].time /
		    (double)t->hosts[i].conns : 0.0, clean(t->hosts[i].ip),
		    t->hosts[i].ptr ? clean(t->hosts[i].ptr) : "-");
	if ((g = report_networks(t, &n)) == NULL)
		return;
	fprintf(fp, "\nTop %u networks (IPv4 /24, IPv6 /48) by connections\n"
	    "%9s %12s %9s  %s\n", top, "conns", "time (s)", "clients",
	    "network");
	for (i = 0; i < n && i < top; i++)
		fprintf(fp, "%9lu %12.1f %9lu  %s\n", g[i].conns, g[i].time,
		    g[i].hosts, clean(g[i].net));
	free(g);
}

static unsigned long
all_refusals(const struct tally *t)
{
	unsigned long n = 0;
	size_t i;

	for (i = 0; i < t->nclasses; i++)
		n += t->classes[i].count;
	return n;
}

static void
dns_lists(FILE *fp, struct tally *t)
{
	unsigned long all = all_refusals(t);
	const struct zone_stat *z;
	size_t i;

	if (t->nzones == 0)
		return;
	fprintf(fp, "\nDNS lists\n%9s %6s %8s %9s %9s %7s  %s\n",
	    "refusals", "share", "overlap", "queries", "listed", "errors",
	    "zone");
	for (i = 0; i < t->nzones; i++) {
		z = &t->zones[i];
		fprintf(fp, "%9lu %5.1f%% %8lu %9lu %9lu %7lu  %s%s\n",
		    z->refusals, all ? 100.0 * (double)z->refusals /
		    (double)all : 0.0, z->overlap, z->queries, z->listed,
		    z->errors, clean(z->name), z->refusals == 0 && z->listed == 0 ?
		    " (never hit)" : "");
	}
}

static void
greylisting(FILE *fp, const struct tally *t)
{
	const struct grey_stat *g = &t->grey;
	long median = tally_grey_median(t);

	if (g->new + g->early + g->passed + g->awl + g->skip == 0)
		return;
	fprintf(fp, "\nGreylisting\n%9lu new triplets\n%9lu retries too "
	    "early\n%9lu passed", g->new, g->early, g->passed);
	if (median >= 0)
		fprintf(fp, " (median delay %ld s)", median);
	fprintf(fp, "\n%9lu new triplets never seen again\n%9lu "
	    "auto-allowlisted\n%9lu not greylisted\n",
	    tally_grey_never_back(t), g->awl, g->skip);
}

static void
asns(FILE *fp, const struct tally *t, unsigned top)
{
	size_t i;

	if (t->asn == NULL)
		return;
	fprintf(fp, "\nTop %u network owners by refused clients\n%9s %10s  "
	    "%s\n", top, "clients", "ASN", "owner");
	for (i = 0; i < t->nasn && i < top; i++)
		fprintf(fp, "%9lu %10lu  %s\n", t->asn[i].clients,
		    t->asn[i].asn, clean(t->asn[i].owner));
}

static void
funnel(FILE *fp, const struct tally *t)
{
	unsigned long n[4];

	report_funnel(t, n);
	fprintf(fp, "\nClient addresses\n%9lu connected\n%9lu had the banner "
	    "and spoke\n%9lu began a transaction\n%9lu had a message "
	    "accepted\n", n[0], n[1], n[2], n[3]);
}

void
report_text(FILE *fp, struct tally *t, unsigned top)
{
	if (t->nhours == 0) {
		fprintf(fp, "moat report: no moatd lines in range (%lu lines "
		    "read)\n", t->lines);
		return;
	}
	fprintf(fp, "moat report: %.10s %.2s:00 to %.10s %.2s:59 (%lu lines "
	    "read, %lu counted)\n\n", t->hours[0].key, t->hours[0].key + 11,
	    t->hours[t->nhours - 1].key, t->hours[t->nhours - 1].key + 11,
	    t->lines, t->used);
	traffic(fp, t);
	connections(fp, t);
	days(fp, t);
	rejections(fp, t);
	dns_lists(fp, t);
	greylisting(fp, t);
	hosts(fp, t, top);
	asns(fp, t, top);
	funnel(fp, t);
}
