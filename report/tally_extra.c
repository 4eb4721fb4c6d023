/*
 * tally_extra: the DNS lists and greylisting sections' counting (see
 * tally.h): hits named by refusals and the lists' own figures, and
 * greylisting's results, delays and triplets.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

static struct zone_stat *
zone(struct tally *t, const char *name, size_t len)
{
	struct zone_stat *z;
	size_t i;

	if (len >= sizeof(t->zones[0].name))
		len = sizeof(t->zones[0].name) - 1;
	for (i = 0; i < t->nzones; i++)
		if (strncmp(t->zones[i].name, name, len) == 0 &&
		    t->zones[i].name[len] == '\0')
			return &t->zones[i];
	if (t->nzones == t->capzones) {
		size_t ncap = t->capzones ? t->capzones * 2 : 16;

		if ((z = realloc(t->zones, ncap * sizeof(*z))) == NULL)
			return NULL;
		t->zones = z;
		t->capzones = ncap;
	}
	z = &t->zones[t->nzones++];
	memset(z, 0, sizeof(*z));
	memcpy(z->name, name, len);
	return z;
}

/* hits="zen.example=127.0.0.2,bl.example=127.0.0.4" */
int
tally_hits(struct tally *t, const char *hits)
{
	const char *p = hits, *eq, *end;
	struct zone_stat *z;
	int many = strchr(hits, ',') != NULL;

	while (*p != '\0') {
		if ((end = strchr(p, ',')) == NULL)
			end = p + strlen(p);
		if ((eq = memchr(p, '=', (size_t)(end - p))) == NULL)
			eq = end;
		if (eq > p) {
			if ((z = zone(t, p, (size_t)(eq - p))) == NULL)
				return -1;
			z->refusals++;
			z->overlap += many;
		}
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* A count as moatd writes it; anything else is nothing. */
static unsigned long
count(const char *v)
{
	if (v == NULL || v[0] == '\0' || strlen(v) > 12 ||
	    strspn(v, "0123456789") != strlen(v))
		return 0;
	return strtoul(v, NULL, 10);
}

int
tally_zone_stats(struct tally *t, const struct logline *l)
{
	const char *name = logline_get(l, "zone");
	struct zone_stat *z;

	if (name == NULL || (z = zone(t, name, strlen(name))) == NULL)
		return name == NULL ? 0 : -1;
	z->queries += count(logline_get(l, "queries"));
	z->listed += count(logline_get(l, "listed"));
	z->errors += count(logline_get(l, "errors"));
	return 0;
}

/* ---- greylisting ---- */

static uint64_t
triplet(const struct logline *l)
{
	const char *parts[3] = { logline_get(l, "net"), logline_get(l, "from"),
	    logline_get(l, "to") };
	uint64_t h = 14695981039346656037ull;
	size_t i;
	const char *s;

	for (i = 0; i < 3; i++) {
		for (s = parts[i] != NULL ? parts[i] : ""; *s != '\0'; s++)
			h = (h ^ (unsigned char)*s) * 1099511628211ull;
		h = (h ^ 0xff) * 1099511628211ull;	/* a separator */
	}
	return h != 0 ? h : 1;
}

static int
trip_grow(struct grey_stat *g)
{
	size_t ncap = g->captrip ? g->captrip * 2 : 1024, i, j;
	uint64_t *nt = calloc(ncap, sizeof(*nt));
	unsigned char *nb = calloc(ncap, 1);

	if (nt == NULL || nb == NULL) {
		free(nt);
		free(nb);
		return -1;
	}
	for (i = 0; i < g->captrip; i++) {
		if (g->trip[i] == 0)
			continue;
		for (j = g->trip[i] & (ncap - 1); nt[j] != 0;
		    j = (j + 1) & (ncap - 1))
			;
		nt[j] = g->trip[i];
		nb[j] = g->back[i];
	}
	free(g->trip);
	free(g->back);
	g->trip = nt;
	g->back = nb;
	g->captrip = ncap;
	return 0;
}

/* The triplet's slot; added (when add) or SIZE_MAX when not there. */
static size_t
trip_slot(struct grey_stat *g, uint64_t h, int add)
{
	size_t j;

	if (add && (g->ntrip + 1) * 2 > g->captrip && trip_grow(g) == -1)
		return SIZE_MAX - 1;
	if (g->captrip == 0)
		return SIZE_MAX;
	for (j = h & (g->captrip - 1); g->trip[j] != 0;
	    j = (j + 1) & (g->captrip - 1))
		if (g->trip[j] == h)
			return j;
	if (!add)
		return SIZE_MAX;
	g->trip[j] = h;
	g->ntrip++;
	return j;
}

static int
delay(struct grey_stat *g, const char *v)
{
	unsigned long d;

	if (v == NULL || v[0] == '\0' || strlen(v) > 12 ||
	    strspn(v, "0123456789") != strlen(v))
		return 0;		/* a delay moatd never wrote: not one */
	d = strtoul(v, NULL, 10);
	g->ndelays++;

	if (g->delays == NULL &&
	    (g->delays = calloc(GREY_DELAY_MAX + 1, sizeof(*g->delays))) ==
	    NULL)
		return -1;
	g->delays[d < GREY_DELAY_MAX ? d : GREY_DELAY_MAX]++;
	return 0;
}

int
tally_greylist(struct tally *t, const struct logline *l)
{
	struct grey_stat *g = &t->grey;
	const char *r = logline_get(l, "result");
	size_t j;

	if (r == NULL)
		return 0;
	if (strcmp(r, "new") == 0) {
		g->new++;
		j = trip_slot(g, triplet(l), 1);
		if (j == SIZE_MAX - 1)
			return -1;
		return 0;
	}
	if (strcmp(r, "early") == 0 || strcmp(r, "passed") == 0) {
		if ((j = trip_slot(g, triplet(l), 0)) < SIZE_MAX - 1)
			g->back[j] = 1;
		if (r[0] == 'e') {
			g->early++;
			return 0;
		}
		g->passed++;
		return delay(g, logline_get(l, "delay"));
	}
	if (strcmp(r, "awl") == 0)
		g->awl++;
	else if (strcmp(r, "skip") == 0)
		g->skip++;
	return 0;
}

unsigned long
tally_grey_never_back(const struct tally *t)
{
	const struct grey_stat *g = &t->grey;
	unsigned long n = 0;
	size_t i;

	for (i = 0; i < g->captrip; i++)
		n += g->trip[i] != 0 && !g->back[i];
	return n;
}

/* The median delay of the passes, in seconds; -1 when none. */
long
tally_grey_median(const struct tally *t)
{
	const struct grey_stat *g = &t->grey;
	unsigned long seen = 0;
	size_t d;

	if (g->ndelays == 0 || g->delays == NULL)
		return -1;
	for (d = 0; d <= GREY_DELAY_MAX; d++)
		if ((seen += g->delays[d]) * 2 >= g->ndelays)
			return (long)d;
	return GREY_DELAY_MAX;
}

void
tally_extra_free(struct tally *t)
{
	free(t->zones);
	free(t->grey.delays);
	free(t->grey.trip);
	free(t->grey.back);
}
