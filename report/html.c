/*
 * html: `moatctl report --format html`, one self-contained file: the
 * tables of the text report and two inline SVG charts (messages
 * accepted and refusals by class, stacked per hour; connections per
 * hour).  No script, no external asset: it can be mailed or archived.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define CHART_W		900
#define CHART_H		260	/* the bars' room */
#define AXIS_H		20	/* the hours below it */
#define LABELS_MAX	12
#define CHART_CLASSES	6	/* the biggest classes; the rest as one */

static const char *const palette[CHART_CLASSES + 2] = {
	"#2ca02c",		/* accepted */
	"#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
	"#7f7f7f",		/* other refusals */
};

/* Text for HTML: what came from a log may hold anything. */
static void
esc(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '<')
			fputs("&lt;", fp);
		else if (c == '>')
			fputs("&gt;", fp);
		else if (c == '&')
			fputs("&amp;", fp);
		else if (c == '"')
			fputs("&quot;", fp);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(fp, "&#%u;", c);
		else
			fputc(c, fp);
	}
}

/* The count of one class (by id) in an hour. */
static unsigned long
hour_class(const struct hour_stat *h, unsigned id)
{
	size_t i;

	for (i = 0; i < h->nbycls; i++)
		if (h->bycls[i].id == id)
			return h->bycls[i].n;
	return 0;
}

/* An hour's stack: accepted, the biggest classes, the other refusals. */
static void
stack(const struct tally *t, const struct hour_stat *h,
    unsigned long v[CHART_CLASSES + 2])
{
	unsigned long shown = 0;
	size_t k;

	memset(v, 0, sizeof(unsigned long) * (CHART_CLASSES + 2));
	v[0] = h->received;
	for (k = 0; k < t->nclasses && k < CHART_CLASSES; k++) {
		v[k + 1] = hour_class(h, t->classes[k].id);
		shown += v[k + 1];
	}
	v[CHART_CLASSES + 1] = h->rejected > shown ? h->rejected - shown : 0;
}

static void
legend(FILE *fp, const struct tally *t)
{
	size_t k;

	fprintf(fp, "<p class=\"legend\"><span style=\"background:%s\">"
	    "</span>accepted ", palette[0]);
	for (k = 0; k < t->nclasses && k < CHART_CLASSES; k++) {
		fprintf(fp, "<span style=\"background:%s\"></span>",
		    palette[k + 1]);
		esc(fp, t->classes[k].name);
		fputc(' ', fp);
	}
	fprintf(fp, "<span style=\"background:%s\"></span>other refusals"
	    "</p>\n", palette[CHART_CLASSES + 1]);
}

/* Hour labels under the bars (at most LABELS_MAX), and the top value. */
static void
axis(FILE *fp, const struct tally *t, double bw, unsigned long top)
{
	size_t i, every = (t->nhours + LABELS_MAX - 1) / LABELS_MAX;

	for (i = 0; i < t->nhours; i += every)
		fprintf(fp, "<text x=\"%.1f\" y=\"%d\" font-size=\"11\">"
		    "%.5s %.2sh</text>\n", (double)i * bw, CHART_H + 14,
		    t->hours[i].key + 5, t->hours[i].key + 11);
	fprintf(fp, "<text x=\"%d\" y=\"12\" font-size=\"11\" "
	    "text-anchor=\"end\">%lu</text>\n", CHART_W - 4, top);
}

static void
traffic_chart(FILE *fp, const struct tally *t)
{
	unsigned long v[CHART_CLASSES + 2], top = 1, sum;
	double bw = (double)CHART_W / (double)t->nhours, y, hgt;
	size_t i, k;

	for (i = 0; i < t->nhours; i++) {
		stack(t, &t->hours[i], v);
		for (sum = 0, k = 0; k < CHART_CLASSES + 2; k++)
			sum += v[k];
		if (sum > top)
			top = sum;
	}
	fprintf(fp, "<h2>Accepted and refused per hour</h2>\n<svg "
	    "id=\"traffic\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\">\n", CHART_W, CHART_H +
	    AXIS_H, CHART_W, CHART_H + AXIS_H);
	for (i = 0; i < t->nhours; i++) {
		stack(t, &t->hours[i], v);
		y = CHART_H;
		for (k = 0; k < CHART_CLASSES + 2; k++) {
			if (v[k] == 0)
				continue;
			hgt = (double)v[k] * (CHART_H - 10) / (double)top;
			y -= hgt;
			fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\" fill=\"%s\"><title>%s %lu</title>"
			    "</rect>\n", (double)i * bw, y, bw * 0.9, hgt,
			    palette[k], t->hours[i].key, v[k]);
		}
	}
	axis(fp, t, bw, top);
	fputs("</svg>\n", fp);
	legend(fp, t);
}

static void
conn_chart(FILE *fp, const struct tally *t)
{
	double bw = (double)CHART_W / (double)t->nhours, hgt;
	unsigned long top = 1;
	size_t i;

	for (i = 0; i < t->nhours; i++)
		if (t->hours[i].conns > top)
			top = t->hours[i].conns;
	fprintf(fp, "<h2>Connections per hour</h2>\n<svg id=\"connections\" "
	    "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\">\n", CHART_W, CHART_H + AXIS_H, CHART_W,
	    CHART_H + AXIS_H);
	for (i = 0; i < t->nhours; i++) {
		hgt = (double)t->hours[i].conns * (CHART_H - 10) / (double)top;
		fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		    "height=\"%.1f\" fill=\"#1f77b4\"><title>%s %lu</title>"
		    "</rect>\n", (double)i * bw, CHART_H - hgt, bw * 0.9, hgt,
		    t->hours[i].key, t->hours[i].conns);
	}
	axis(fp, t, bw, top);
	fputs("</svg>\n", fp);
}

static void
row(FILE *fp, const char *label, const struct hour_stat *h)
{
	fputs("<tr><td>", fp);
	esc(fp, label);
	fprintf(fp, "</td><td>%lu</td><td>%lu</td><td>%lu</td><td>%lu</td>"
	    "<td>%lu</td><td>%lu</td><td>%.1f</td><td>%.1f</td></tr>\n",
	    h->received, h->delivered, h->deferred, h->held, h->rejected,
	    h->conns, h->conn_time, h->conn_max);
}

static void
periods(FILE *fp, const char *title, const struct hour_stat *h, size_t n,
    int total)
{
	struct hour_stat sum = { .key = "" };
	size_t i;

	fprintf(fp, "<h2>%s</h2>\n<table><tr><th></th><th>received</th>"
	    "<th>delivered</th><th>deferred</th><th>held</th><th>rejected"
	    "</th><th>connections</th><th>time (s)</th><th>longest (s)</th>"
	    "</tr>\n", title);
	for (i = 0; i < n; i++) {
		row(fp, h[i].key, &h[i]);
		report_add(&sum, &h[i]);
	}
	if (total)
		row(fp, "total", &sum);
	fputs("</table>\n", fp);
}

static void
classes(FILE *fp, const struct tally *t)
{
	size_t i;

	fputs("<h2>Rejections by class</h2>\n<table><tr><th>count</th>"
	    "<th>addresses</th><th>stage</th><th>class</th></tr>\n", fp);
	for (i = 0; i < t->nclasses; i++) {
		fprintf(fp, "<tr><td>%lu</td><td>%zu</td><td>",
		    t->classes[i].count, t->classes[i].ips.n);
		esc(fp, t->classes[i].stage);
		fputs("</td><td>", fp);
		esc(fp, t->classes[i].name);
		fputs("</td></tr>\n", fp);
	}
	fputs("</table>\n", fp);
}

static void
clients(FILE *fp, const struct tally *t, unsigned top)
{
	struct report_group *g;
	unsigned long f[4];
	size_t i, n;

	fputs("<h2>Top clients</h2>\n<table><tr><th>connections</th>"
	    "<th>time (s)</th><th>address</th><th>ptr</th></tr>\n", fp);
	for (i = 0; i < t->nhosts && i < top; i++) {
		fprintf(fp, "<tr><td>%lu</td><td>%.1f</td><td>",
		    t->hosts[i].conns, t->hosts[i].time);
		esc(fp, t->hosts[i].ip);
		fputs("</td><td>", fp);
		esc(fp, t->hosts[i].ptr ? t->hosts[i].ptr : "");
		fputs("</td></tr>\n", fp);
	}
	fputs("</table>\n<h2>Top networks</h2>\n<table><tr><th>connections"
	    "</th><th>clients</th><th>network</th></tr>\n", fp);
	g = report_networks(t, &n);
	for (i = 0; g != NULL && i < n && i < top; i++) {
		fprintf(fp, "<tr><td>%lu</td><td>%lu</td><td>", g[i].conns,
		    g[i].hosts);
		esc(fp, g[i].net);
		fputs("</td></tr>\n", fp);
	}
	free(g);
	report_funnel(t, f);
	fprintf(fp, "</table>\n<h2>Client addresses</h2>\n<table>"
	    "<tr><td>%lu</td><td>connected</td></tr>\n<tr><td>%lu</td><td>"
	    "had the banner and spoke</td></tr>\n<tr><td>%lu</td><td>began a "
	    "transaction</td></tr>\n<tr><td>%lu</td><td>had a message "
	    "accepted</td></tr>\n</table>\n", f[0], f[1], f[2], f[3]);
}

static void
asns(FILE *fp, const struct tally *t, unsigned top)
{
	size_t i;

	if (t->asn == NULL)
		return;
	fputs("<h2>Network owners by refused clients</h2>\n<table><tr>"
	    "<th>clients</th><th>ASN</th><th>owner</th></tr>\n", fp);
	for (i = 0; i < t->nasn && i < top; i++) {
		fprintf(fp, "<tr><td>%lu</td><td>%lu</td><td>",
		    t->asn[i].clients, t->asn[i].asn);
		esc(fp, t->asn[i].owner);
		fputs("</td></tr>\n", fp);
	}
	fputs("</table>\n", fp);
}

void
report_html(FILE *fp, struct tally *t, unsigned top)
{
	struct hour_stat *d;
	size_t nd;

	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8"
	    "\"><title>moat report</title>\n<style>body{font-family:sans-serif;"
	    "margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
	    "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
	    "svg{border:1px solid #ccc}.legend span{display:inline-block;"
	    "width:1em;height:1em;margin:0 4px 0 12px}</style></head><body>\n"
	    "<h1>moat report</h1>\n", fp);
	if (t->nhours == 0) {
		fputs("<p>No moatd lines in range.</p></body></html>\n", fp);
		return;
	}
	fprintf(fp, "<p>%s to %s: %lu lines read, %lu counted.</p>\n",
	    t->hours[0].key, t->hours[t->nhours - 1].key, t->lines, t->used);
	traffic_chart(fp, t);
	conn_chart(fp, t);
	periods(fp, "Per hour", t->hours, t->nhours, 1);
	if ((d = report_days(t, &nd)) != NULL) {
		periods(fp, "Per day", d, nd, 0);
		free(d);
	}
	classes(fp, t);
	clients(fp, t, top);
	asns(fp, t, top);
	fputs("</body></html>\n", fp);
}
