/*
 * report: reading the log and grouping clients (see report.h).
 */
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "report.h"

int
report_read(struct tally *t, FILE *fp, int year)
{
	struct logline l;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	while (getline(&line, &cap, fp) != -1)
		if (logline_parse(line, year, &l) && tally_line(t, &l) == -1) {
			r = -1;
			break;
		}
	free(line);
	return r;
}

static int
host_cmp(const void *a, const void *b)
{
	const struct host_stat *x = a, *y = b;

	if (x->conns != y->conns)
		return x->conns < y->conns ? 1 : -1;
	return strcmp(x->ip, y->ip);
}

void
report_top_hosts(struct tally *t)
{
	qsort(t->hosts, t->nhosts, sizeof(*t->hosts), host_cmp);
}

/* "192.0.2.0/24" or "2001:db8:1::/48"; "" for what is neither. */
static void
network(const char *ip, char *out, size_t size)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET, ip, a) == 1) {
		a[3] = 0;
		(void)inet_ntop(AF_INET, a, text, sizeof(text));
		(void)snprintf(out, size, "%s/24", text);
	} else if (inet_pton(AF_INET6, ip, a) == 1) {
		memset(a + 6, 0, 10);
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
