/*
 * render: a view of the live figures as text, json or OpenMetrics.  The
 * names and labels are an interface (moatctl(8), "stats"): they are only
 * ever added to.  A view's names are clean (view.c), so they are printed
 * as they are.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "render.h"

/* A counter's names: in text, in json and in OpenMetrics (with a label,
 * its family's rows in a row, the first with the family's help). */
static const struct {
	const char	*text, *json, *family, *label;
	const char	*help;
} ctr_names[CTR_COUNTERS] = {
	[CTR_CONNECTIONS] = { "connections", "connections",
	    "moat_connections", NULL,
	    "Connections accepted, those refused at once included." },
	[CTR_SESSIONS] = { "sessions", "sessions", "moat_sessions", NULL,
	    "Connections that went on to an SMTP session." },
	[CTR_MESSAGES] = { "messages accepted", "messages_accepted",
	    "moat_messages_accepted", NULL,
	    "Messages answered 250 after DATA, stored durably." },
	[CTR_RECIPIENTS] = { "recipients accepted", "recipients_accepted",
	    "moat_recipients_accepted", NULL,
	    "Recipients of the messages accepted." },
	[CTR_REFUSED] = { "refusals", "refusals", NULL, NULL, NULL },
	[CTR_GREY_NEW] = { "greylisting: new", "greylist_new",
	    "moat_greylist", "new", "Greylisting decisions, by result." },
	[CTR_GREY_EARLY] = { "greylisting: early", "greylist_early",
	    "moat_greylist", "early", NULL },
	[CTR_GREY_PASSED] = { "greylisting: passed", "greylist_passed",
	    "moat_greylist", "passed", NULL },
	[CTR_GREY_AWL] = { "greylisting: allowlisted", "greylist_awl",
	    "moat_greylist", "awl", NULL },
	[CTR_GREY_SKIP] = { "greylisting: skipped", "greylist_skip",
	    "moat_greylist", "skip", NULL },
	[CTR_DELIVERED] = { "delivered", "delivered", "moat_deliveries",
	    "delivered", "Recipients' delivery attempts, by result." },
	[CTR_DEFERRED] = { "delivery deferred", "deferred",
	    "moat_deliveries", "deferred", NULL },
	[CTR_HELD] = { "held (failed)", "held", "moat_deliveries", "held",
	    NULL },
};

static const char *
uptime(int64_t secs, char *buf, size_t size)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		(void)snprintf(buf, size, "%" PRId64 "d %02" PRId64 "h %02"
		    PRId64 "m", secs / 86400, secs % 86400 / 3600,
		    secs % 3600 / 60);
	else
		(void)snprintf(buf, size, "%" PRId64 "h %02" PRId64 "m %02"
		    PRId64 "s", secs / 3600, secs % 3600 / 60, secs % 60);
	return buf;
}

/* "last hour", or how long moatd has been up when that is less. */
static const char *
window(const struct ctr_view *v, char *buf, size_t size)
{
	int64_t w = v->now - v->hour_from;

	if (w < 0)		/* the clock went back */
		w = 0;
	if (w >= CTRS_HOUR)
		(void)snprintf(buf, size, "last hour");
	else
		(void)snprintf(buf, size, "last %" PRId64 "m", (w + 59) / 60);
	return buf;
}

/* ---- text ---- */

static void
text_counters(FILE *fp, const struct ctr_view *v, const char *win)
{
	size_t i;

	fprintf(fp, "%-28s %12s %12s\n", "", "since start", win);
	for (i = 0; i < CTR_COUNTERS; i++)
		fprintf(fp, "%-28s %12" PRIu64 " %12" PRIu64 "\n",
		    ctr_names[i].text, v->v[i], v->hour[i]);
	fprintf(fp, "\n%-28s %12" PRIu64 "\n", "sessions open",
	    v->v[CTR_SESSIONS_OPEN]);
	fprintf(fp, "%-28s %12" PRIu64 "  (%" PRIu64 " waiting for a retry)\n",
	    "queue", v->v[CTR_QUEUE], v->v[CTR_QUEUE_DEFERRED]);
	fprintf(fp, "%-28s %12" PRIu64 " clients, %" PRIu64 " networks\n",
	    "blocked", v->blocked_clients, v->blocked_nets);
}

static void
text_refusals(FILE *fp, const struct ctr_view *v, const char *win)
{
	size_t i;

	if (v->nref == 0)
		return;
	fprintf(fp, "\n%-32s %-9s %12s %12s\n", "Refusals by class", "stage",
	    "since start", win);
	for (i = 0; i < v->nref; i++)
		fprintf(fp, "  %-30s %-9s %12" PRIu64 " %12" PRIu64 "\n",
		    v->ref[i].p.cls, v->ref[i].p.stage[0] ? v->ref[i].p.stage :
		    "-", v->ref[i].total, v->ref[i].hour);
}

static void
text_zones(FILE *fp, const struct ctr_view *v, const char *win)
{
	const struct ctr_view_zone *z;
	size_t i;

	if (v->nzones == 0)
		return;
	fprintf(fp, "\n%-30s %9s %9s %9s   %s: %s\n", "DNS lists", "queries",
	    "listed", "errors", win, "queries listed errors");
	for (i = 0; i < v->nzones; i++) {
		z = &v->zone[i];
		fprintf(fp, "  %-28s %9" PRIu64 " %9" PRIu64 " %9" PRIu64
		    "   %" PRIu64 " %" PRIu64 " %" PRIu64 "%s\n", z->name,
		    z->queries, z->listed, z->errors, z->hour_queries,
		    z->hour_listed, z->hour_errors, z->workers == 0 ?
		    "  (asked no more: removed)" : z->disabled_in ?
		    "  (disabled by its probe)" : "");
	}
}

void
stats_text(FILE *fp, const struct ctr_view *v)
{
	char up[64], win[32], when[64];
	time_t started = (time_t)v->started;
	struct tm tm;

	if (gmtime_r(&started, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		(void)snprintf(when, sizeof(when), "?");
	fprintf(fp, "moatd pid %ld, up %s (since %s)\n\n",
	    (long)v->parent_pid, uptime(v->now - v->started, up, sizeof(up)),
	    when);
	window(v, win, sizeof(win));
	text_counters(fp, v, win);
	text_refusals(fp, v, win);
	text_zones(fp, v, win);
}

/* ---- json ---- */

static void
json_pair(FILE *fp, const char *key, uint64_t total, uint64_t hour,
    const char *sep)
{
	fprintf(fp, "\"%s\":{\"total\":%" PRIu64 ",\"last_hour\":%" PRIu64
	    "}%s", key, total, hour, sep);
}

void
stats_json(FILE *fp, const struct ctr_view *v)
{
	const struct ctr_view_zone *z;
	size_t i;

	fprintf(fp, "{\"version\":1,\"pid\":%ld,\"now\":%" PRId64
	    ",\"started\":%" PRId64 ",\"hour_from\":%" PRId64 ",",
	    (long)v->parent_pid, v->now, v->started, v->hour_from);
	fprintf(fp, "\"gauges\":{\"sessions_open\":%" PRIu64 ",\"queue\":%"
	    PRIu64 ",\"queue_deferred\":%" PRIu64 ",\"blocked_clients\":%"
	    PRIu64 ",\"blocked_networks\":%" PRIu64 "},",
	    v->v[CTR_SESSIONS_OPEN], v->v[CTR_QUEUE],
	    v->v[CTR_QUEUE_DEFERRED], v->blocked_clients, v->blocked_nets);
	fputs("\"counters\":{", fp);
	for (i = 0; i < CTR_COUNTERS; i++)
		json_pair(fp, ctr_names[i].json, v->v[i], v->hour[i],
		    i + 1 < CTR_COUNTERS ? "," : "");
	fputs("},\"rejections\":[", fp);
	for (i = 0; i < v->nref; i++)
		fprintf(fp, "%s{\"class\":\"%s\",\"stage\":\"%s\",\"total\":%"
		    PRIu64 ",\"last_hour\":%" PRIu64 "}", i ? "," : "",
		    v->ref[i].p.cls, v->ref[i].p.stage, v->ref[i].total,
		    v->ref[i].hour);
	fputs("],\"dnsbl\":[", fp);
	for (i = 0; i < v->nzones; i++) {
		z = &v->zone[i];
		fprintf(fp, "%s{\"zone\":\"%s\",", i ? "," : "", z->name);
		json_pair(fp, "queries", z->queries, z->hour_queries, ",");
		json_pair(fp, "listed", z->listed, z->hour_listed, ",");
		json_pair(fp, "errors", z->errors, z->hour_errors, ",");
		fprintf(fp, "\"workers\":%u,\"disabled_in\":%u}", z->workers,
		    z->disabled_in);
	}
	fputs("]}\n", fp);
}

/* ---- OpenMetrics ---- */

static void
om_family(FILE *fp, const char *name, const char *type, const char *help)
{
	fprintf(fp, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

static void
om_counters(FILE *fp, const struct ctr_view *v)
{
	const char *last = "";
	size_t i;

	for (i = 0; i < CTR_COUNTERS; i++) {
		if (ctr_names[i].family == NULL)
			continue;
		if (strcmp(last, ctr_names[i].family) != 0)
			om_family(fp, ctr_names[i].family, "counter",
			    ctr_names[i].help);
		last = ctr_names[i].family;
		if (ctr_names[i].label == NULL)
			fprintf(fp, "%s_total %" PRIu64 "\n",
			    ctr_names[i].family, v->v[i]);
		else
			fprintf(fp, "%s_total{result=\"%s\"} %" PRIu64 "\n",
			    ctr_names[i].family, ctr_names[i].label, v->v[i]);
	}
}

static void
om_gauge(FILE *fp, const char *name, const char *help, uint64_t n)
{
	om_family(fp, name, "gauge", help);
	fprintf(fp, "%s %" PRIu64 "\n", name, n);
}

static void
om_zones(FILE *fp, const struct ctr_view *v)
{
	static const char *const what[] = { "queries", "listed", "errors" };
	static const char *const help[] = {
		"DNS list queries, by zone.",
		"DNS list answers that listed the client, by zone.",
		"DNS list queries that failed or timed out, by zone.",
	};
	const struct ctr_view_zone *z;
	uint64_t n[3];
	size_t i, k;

	for (k = 0; k < 3; k++) {
		fprintf(fp, "# TYPE moat_dnsbl_%s counter\n# HELP moat_dnsbl_%s"
		    " %s\n", what[k], what[k], help[k]);
		for (i = 0; i < v->nzones; i++) {
			z = &v->zone[i];
			n[0] = z->queries;
			n[1] = z->listed;
			n[2] = z->errors;
			fprintf(fp, "moat_dnsbl_%s_total{zone=\"%s\"} %" PRIu64
			    "\n", what[k], z->name, n[k]);
		}
	}
	om_family(fp, "moat_dnsbl_disabled", "gauge",
	    "1 while a zone's probe has it disabled in some worker.");
	for (i = 0; i < v->nzones; i++)
		fprintf(fp, "moat_dnsbl_disabled{zone=\"%s\"} %d\n",
		    v->zone[i].name, v->zone[i].disabled_in > 0);
}

void
stats_openmetrics(FILE *fp, const struct ctr_view *v)
{
	size_t i;

	fputs("# TYPE moat_start_time_seconds gauge\n"
	    "# UNIT moat_start_time_seconds seconds\n", fp);
	fprintf(fp, "# HELP moat_start_time_seconds When moatd started, in "
	    "seconds since the epoch.\nmoat_start_time_seconds %" PRId64 "\n",
	    v->started);
	om_counters(fp, v);
	om_family(fp, "moat_rejections", "counter",
	    "Refusals (5xx and 4xx), by class and stage.");
	for (i = 0; i < v->nref; i++)
		fprintf(fp, "moat_rejections_total{class=\"%s\",stage=\"%s\"} %"
		    PRIu64 "\n", v->ref[i].p.cls, v->ref[i].p.stage,
		    v->ref[i].total);
	om_gauge(fp, "moat_sessions_open", "SMTP sessions open now.",
	    v->v[CTR_SESSIONS_OPEN]);
	om_gauge(fp, "moat_queue_messages", "Messages in the queue now.",
	    v->v[CTR_QUEUE]);
	om_gauge(fp, "moat_queue_deferred_messages", "Messages in the queue "
	    "waiting for a retry.", v->v[CTR_QUEUE_DEFERRED]);
	om_gauge(fp, "moat_blocked_clients", "Clients blocked now.",
	    v->blocked_clients);
	om_gauge(fp, "moat_blocked_networks", "Networks blocked now.",
	    v->blocked_nets);
	om_zones(fp, v);
	fputs("# EOF\n", fp);
}
