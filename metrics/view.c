/*
 * view: the readers' side of the shared figures (see counters.h): the
 * slots added up, the dead children's counts, the hour from the ring.
 */
#include <string.h>

#include "../dnsbl/zonestats.h"
#include "../smtpd/sharedfile.h"
#include "counters.h"

const struct ctr_file *
ctrs_open(const char *spool)
{
	return sharedfile_open(spool, CTRS_FILE, sizeof(struct ctr_file),
	    CTRS_MAGIC);
}

static uint64_t
load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/*
 * A name as a view keeps it: at most size - 1 bytes, and only printable
 * ASCII without quotes or backslashes, so every format may print it as
 * it is (a worker wrote it; a class never holds anything else).
 */
static void
clean_copy(char *dst, const char *src, size_t size)
{
	size_t i;

	for (i = 0; i < size - 1 && src[i] != '\0'; i++)
		dst[i] = src[i] < 0x21 || src[i] > 0x7e || src[i] == '"' ||
		    src[i] == '\\' ? '?' : src[i];
	dst[i] = '\0';
}

/* The view's row for a pair, made on first sight. */
static struct ctr_view_ref *
view_ref(struct ctr_view *v, const struct ctr_pair *raw)
{
	struct ctr_view_ref *r;
	struct ctr_pair p;
	size_t i;

	clean_copy(p.cls, raw->cls, sizeof(p.cls));
	clean_copy(p.stage, raw->stage, sizeof(p.stage));
	for (i = 0; i < v->nref; i++) {
		r = &v->ref[i];
		if (strcmp(r->p.cls, p.cls) == 0 &&
		    strcmp(r->p.stage, p.stage) == 0)
			return r;
	}
	if (v->nref == sizeof(v->ref) / sizeof(v->ref[0]))
		return NULL;
	r = &v->ref[v->nref++];
	memset(r, 0, sizeof(*r));
	r->p = p;
	return r;
}

/* Now: what the dead counted, and every live slot. */
static void
view_now(const struct ctr_file *f, struct ctr_view *v)
{
	const struct ctr_slot *sl;
	struct ctr_view_ref *r;
	uint32_t i, n, s;

	for (i = 0; i < CTR_COUNTERS; i++)
		v->v[i] = load(&f->retired[i]);
	n = __atomic_load_n(&f->nnames, __ATOMIC_ACQUIRE);
	for (i = 0; i < n && i < CTRS_REFUSALS; i++)
		if ((r = view_ref(v, &f->name[i])) != NULL)
			r->total += load(&f->retired_ref[i]);
	for (s = 0; s < CTRS_SLOTS; s++) {
		sl = &f->slot[s];
		if (__atomic_load_n(&sl->pid, __ATOMIC_ACQUIRE) == 0)
			continue;
		for (i = 0; i < CTR_ALL; i++)
			v->v[i] += load(&sl->v[i]);
		n = __atomic_load_n(&sl->nref, __ATOMIC_ACQUIRE);
		for (i = 0; i < n && i < CTRS_SLOT_REFUSALS; i++)
			if ((r = view_ref(v, &sl->ref[i].p)) != NULL)
				r->total += load(&sl->ref[i].n);
	}
	v->blocked_clients = load(&f->blocked_clients);
	v->blocked_nets = load(&f->blocked_nets);
}

/*
 * The point the hour is counted from: the newest one at least an hour
 * old, or, when moatd is younger than that, the oldest (its start).
 */
static const struct ctr_point *
hour_point(const struct ctr_file *f, int64_t now)
{
	const struct ctr_point *best = NULL, *oldest = NULL, *p;
	size_t i;

	for (i = 0; i < CTRS_RING; i++) {
		p = &f->ring[i];
		if (p->at == 0)
			continue;
		if (oldest == NULL || p->at < oldest->at)
			oldest = p;
		if (p->at <= now - CTRS_HOUR && (best == NULL ||
		    p->at > best->at))
			best = p;
	}
	return best != NULL ? best : oldest;
}

static uint64_t
grown(uint64_t now, uint64_t then)
{
	return now >= then ? now - then : now;
}

/* Two of the parent's names may clean to one row: their counts then
 * add up, an hour ago as now.  The refusals' total is the pairs' sum. */
static void
view_hour(const struct ctr_file *f, struct ctr_view *v)
{
	static uint64_t then[sizeof(v->ref) / sizeof(v->ref[0])];
	const struct ctr_point *pt = hour_point(f, v->now);
	struct ctr_view_ref *r;
	uint32_t i, n;

	v->hour_from = pt != NULL ? pt->at : v->started;
	for (i = 0; i < CTR_COUNTERS; i++)
		v->hour[i] = grown(v->v[i], pt != NULL ? pt->v[i] : 0);
	memset(then, 0, sizeof(then));
	n = __atomic_load_n(&f->nnames, __ATOMIC_ACQUIRE);
	for (i = 0; pt != NULL && i < n && i < CTRS_REFUSALS; i++)
		if ((r = view_ref(v, &f->name[i])) != NULL)
			then[r - v->ref] += pt->ref[i];
	v->v[CTR_REFUSED] = v->hour[CTR_REFUSED] = 0;
	for (i = 0; i < v->nref; i++) {
		v->ref[i].hour = grown(v->ref[i].total, then[i]);
		v->v[CTR_REFUSED] += v->ref[i].total;
		v->hour[CTR_REFUSED] += v->ref[i].hour;
	}
}

static const struct ctr_zone *
zone_then(const struct ctr_file *f, const struct ctr_point *pt,
    const char *name)
{
	uint32_t i, n = __atomic_load_n(&f->nzones, __ATOMIC_ACQUIRE);

	for (i = 0; pt != NULL && i < n && i < CTRS_ZONES; i++)
		if (strncmp(f->zone_name[i], name, CTRS_ZONE_MAX - 1) == 0)
			return &pt->zone[i];
	return NULL;
}

/* The view's row for a zone: two raw names may clean to one. */
static struct ctr_view_zone *
view_zone(struct ctr_view *v, const char *raw)
{
	char name[CTRS_ZONE_MAX];
	struct ctr_view_zone *z;
	size_t i;

	clean_copy(name, raw, sizeof(name));
	for (i = 0; i < v->nzones; i++)
		if (strcmp(v->zone[i].name, name) == 0)
			return &v->zone[i];
	z = &v->zone[v->nzones++];
	memset(z, 0, sizeof(*z));
	memcpy(z->name, name, sizeof(name));
	return z;
}

/* The zones' figures (summed once, under their own file's lock) with
 * their hour from this file's ring. */
static void
view_zones(const struct ctr_file *f, const struct zsum *sums, size_t n,
    struct ctr_view *v)
{
	static const struct ctr_zone none;
	const struct ctr_point *pt = hour_point(f, v->now);
	const struct ctr_zone *then;
	struct ctr_view_zone *z;
	size_t i;

	v->nzones = 0;
	for (i = 0; i < n && i < CTRS_ZONES; i++) {
		z = view_zone(v, sums[i].name);
		z->queries += sums[i].t.queries;
		z->listed += sums[i].t.listed;
		z->errors += sums[i].t.errors;
		z->workers += sums[i].workers;
		z->disabled_in += sums[i].disabled_in;
		if ((then = zone_then(f, pt, sums[i].name)) == NULL)
			then = &none;
		z->hour_queries += grown(sums[i].t.queries, then->queries);
		z->hour_listed += grown(sums[i].t.listed, then->listed);
		z->hour_errors += grown(sums[i].t.errors, then->errors);
	}
}

struct view_args {
	const struct ctr_file	*f;
	const struct zsum	*sums;
	size_t			 nsums;
	time_t			 now;
	struct ctr_view		*v;
};

static void
view_read(void *arg)
{
	struct view_args *a = arg;
	struct ctr_view *v = a->v;

	memset(v, 0, sizeof(*v));
	v->now = a->now;
	v->started = a->f->started;
	v->parent_pid = a->f->parent_pid;
	view_now(a->f, v);
	view_hour(a->f, v);
	view_zones(a->f, a->sums, a->nsums, v);
}

int
ctrs_view(const struct ctr_file *f, const struct zstats *zs, time_t now,
    struct ctr_view *v)
{
	static struct zsum sums[CTRS_ZONES];
	struct view_args a = { f, sums, 0, now, v };

	if (zs != NULL)
		a.nsums = zstats_sum(zs, sums, CTRS_ZONES);
	return sharedfile_read(&f->seq, view_read, &a);
}
