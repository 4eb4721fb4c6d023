/*
 * report: reading the log and grouping clients (see report.h).
 */
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "../greylist/netkey.h"
#include "report.h"

/* One line of at most REPORT_LINE_MAX bytes; longer ones (moatd cuts
 * its own at 4095; a crash may leave megabytes of NULs) are skipped.  1,
 * or 0 at the end. */
static int
next_line(FILE *fp, char *buf, size_t size)
{
	size_t n;
	int c;

	for (;;) {
		if (fgets(buf, (int)size, fp) == NULL)
			return 0;
		n = strlen(buf);
		if (n < size - 1 || buf[n - 1] == '\n')
			return 1;
		while ((c = getc(fp)) != EOF && c != '\n')
			;		/* too long: not one of moatd's */
	}
}

int
report_read(struct tally *t, FILE *fp, int now)
{
	static char line[REPORT_LINE_MAX];
	struct logline l;

	while (next_line(fp, line, sizeof(line)))
		if (logline_parse(line, now, &l) && tally_line(t, &l) == -1)
			return -1;
	return 0;
}

static int
host_cmp(const void *a, const void *b)
{
	const struct host_stat *x = a, *y = b;

	if (x->conns != y->conns)
		return x->conns < y->conns ? 1 : -1;
	return strcmp(x->ip, y->ip);
}

static int
class_cmp(const void *a, const void *b)
{
	const struct class_stat *x = a, *y = b;

	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int
zone_cmp(const void *a, const void *b)
{
	const struct zone_stat *x = a, *y = b;

	if (x->refusals != y->refusals)
		return x->refusals < y->refusals ? 1 : -1;
	return strcmp(x->name, y->name);
}

void
report_prepare(struct tally *t)
{
	tally_sort(t);
	if (t->nclasses > 0)
		qsort(t->classes, t->nclasses, sizeof(*t->classes), class_cmp);
	if (t->nzones > 0)
		qsort(t->zones, t->nzones, sizeof(*t->zones), zone_cmp);
	if (t->nhosts > 0)
		qsort(t->hosts, t->nhosts, sizeof(*t->hosts), host_cmp);
}

/* "192.0.2.0/24" or "2001:db8:1::/48"; "" for what is neither. */
static void
network(const char *ip, char *out, size_t size)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, ip, a) == 1) {
		netkey_mask(a, 4, 24);
		(void)inet_ntop(AF_INET, a, text, sizeof(text));
		(void)snprintf(out, size, "%s/24", text);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		netkey_mask(a, 16, 48);
		(void)inet_ntop(AF_INET6, a, text, sizeof(text));
		(void)snprintf(out, size, "%s/48", text);
	} else
		out[0] = '\0';
}

static int
net_cmp(const void *a, const void *b)
{
	return strcmp(((const struct report_group *)a)->net,
	    ((const struct report_group *)b)->net);
}

static int
group_cmp(const void *a, const void *b)
{
	const struct report_group *x = a, *y = b;

	if (x->conns != y->conns)
		return x->conns < y->conns ? 1 : -1;
	return strcmp(x->net, y->net);
}

struct report_group *
report_networks(const struct tally *t, size_t *n)
{
	struct report_group *g;
	size_t i, k = 0;

	*n = 0;
	if (t->nhosts == 0 || (g = calloc(t->nhosts, sizeof(*g))) == NULL)
		return NULL;
	for (i = 0; i < t->nhosts; i++) {
		network(t->hosts[i].ip, g[i].net, sizeof(g[i].net));
		g[i].conns = t->hosts[i].conns;
		g[i].time = t->hosts[i].time;
		g[i].hosts = 1;
	}
	qsort(g, t->nhosts, sizeof(*g), net_cmp);
	for (i = 0; i < t->nhosts; i++) {
		if (k > 0 && strcmp(g[k - 1].net, g[i].net) == 0) {
			g[k - 1].conns += g[i].conns;
			g[k - 1].time += g[i].time;
			g[k - 1].hosts++;
		} else
			g[k++] = g[i];
	}
	qsort(g, k, sizeof(*g), group_cmp);
	*n = k;
	return g;
}

void
report_add(struct hour_stat *sum, const struct hour_stat *h)
{
	sum->received += h->received;
	sum->delivered += h->delivered;
	sum->deferred += h->deferred;
	sum->held += h->held;
	sum->rejected += h->rejected;
	sum->conns += h->conns;
	sum->conn_time += h->conn_time;
	if (h->conn_max > sum->conn_max)
		sum->conn_max = h->conn_max;
}

struct hour_stat *
report_days(const struct tally *t, size_t *n)
{
	struct hour_stat *d;
	size_t i;

	*n = 0;
	if (t->nhours == 0 || (d = calloc(t->nhours, sizeof(*d))) == NULL)
		return NULL;
	for (i = 0; i < t->nhours; i++) {
		if (*n == 0 || memcmp(d[*n - 1].key, t->hours[i].key, 10) != 0)
			memcpy(d[(*n)++].key, t->hours[i].key, 10);
		report_add(&d[*n - 1], &t->hours[i]);	/* by class: not kept */
	}
	return d;
}

void
report_funnel(const struct tally *t, unsigned long n[4])
{
	static const unsigned bits[4] = { HOST_CONNECTED, HOST_TALKED,
	    HOST_MAIL, HOST_ACCEPTED };
	size_t i, k;

	for (k = 0; k < 4; k++)
		n[k] = 0;
	for (i = 0; i < t->nhosts; i++)
		for (k = 0; k < 4; k++)
			n[k] += (t->hosts[i].flags & bits[k]) != 0;
}
