/*
 * zonestats: the shared per-zone figures (see zonestats.h).
 */
#include <sys/mman.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../smtpd/log.h"
#include "../smtpd/sharedfile.h"
#include "zonestats.h"

static struct zstats *zs;
static struct zslot *mine;

/* Parent: what each slot had when last folded into the period's sums. */
static struct {
	int32_t		pid;
	struct zstat	z[CONF_ZONE_MAX];
} seen[ZSTATS_SLOTS];
static struct zsum period[CONF_ZONE_MAX * 2];
static size_t nperiod;
static time_t period_start;
/* Parent: the retired sums as it keeps them; the file only shows them
 * (a worker may scribble there, so nothing is read back from it). */
static struct zsum retired[CONF_ZONE_MAX * 2];
static size_t nretired;
static uint32_t own_seq;

int
zstats_create(const char *spool)
{
	if ((zs = sharedfile_create(spool, ZSTATS_FILE, sizeof(*zs),
	    "DNS list figures")) == NULL)
		return -1;
	period_start = time(NULL);
	memcpy(zs->magic, "moatzs2", 8);
	zs->parent_pid = (int32_t)getpid();
	zs->nslots = ZSTATS_SLOTS;
	return 0;
}

static struct zsum *sum_find(struct zsum *, size_t *, size_t,
    const char *);

static uint64_t
since(uint64_t now, uint64_t then)
{
	return now >= then ? now - then : now;
}

/* Add what a slot did since it was last seen to the period's sums. */
static void
fold_slot(unsigned k)
{
	static const struct zstat none;
	const struct zslot *sl = &zs->slot[k];
	const struct zstat *z, *was;
	struct zsum *o;
	int32_t pid = __atomic_load_n(&sl->pid, __ATOMIC_ACQUIRE);
	size_t i;

	if (pid == 0)
		return;
	for (i = 0; i < sl->nzones && i < CONF_ZONE_MAX; i++) {
		z = &sl->z[i];
		was = &seen[k].z[i];
		if ((o = sum_find(period, &nperiod, sizeof(period) /
		    sizeof(period[0]), sl->name[i])) == NULL)
			continue;
		if (seen[k].pid != pid)
			was = &none;	/* a new worker: all of it is new */
		o->t.queries += since(z->queries, was->queries);
		o->t.listed += since(z->listed, was->listed);
		o->t.not_listed += since(z->not_listed, was->not_listed);
		o->t.errors += since(z->errors, was->errors);
		o->t.latency_ms += since(z->latency_ms, was->latency_ms);
		o->workers++;
		if (z->disabled)
			o->disabled_in++;
		seen[k].z[i] = *z;
	}
	seen[k].pid = pid;
}

static void sum_add(struct zstat *, const struct zstat *);

/* A dead worker's figures, kept in the totals by zone name (a zone
 * past the table's room is lost: 64 names over a daemon's life). */
static void
retire_slot(const struct zslot *sl)
{
	uint32_t i, n = sl->nzones;
	struct zsum *o;

	for (i = 0; i < n && i < CONF_ZONE_MAX; i++)
		if ((o = sum_find(retired, &nretired, sizeof(retired) /
		    sizeof(retired[0]), sl->name[i])) != NULL)
			sum_add(&o->t, &sl->z[i]);
}

void
zstats_clear_slot(unsigned slot)
{
	if (zs == NULL || slot >= ZSTATS_SLOTS)
		return;
	fold_slot(slot);	/* what a dead worker did still counts */
	if (zs->slot[slot].pid != 0)
		retire_slot(&zs->slot[slot]);
	seq_write_begin(&zs->seq, &own_seq);
	memcpy(zs->retired, retired, sizeof(zs->retired));
	zs->nretired = (uint32_t)nretired;
	memset(&zs->slot[slot], 0, sizeof(zs->slot[slot]));
	seq_write_end(&zs->seq, &own_seq);
	seen[slot].pid = 0;
}

void
zstats_detach(void)
{
	if (zs != NULL)
		(void)munmap(zs, sizeof(*zs));
	zs = NULL;
	mine = NULL;
}

void
zstats_log(time_t now, int force)
{
	const struct zsum *o;
	struct kv k;
	unsigned s;
	size_t i;

	if (zs == NULL || (!force && now - period_start < ZSTATS_LOG_INTERVAL))
		return;
	for (i = 0; i < nperiod; i++)
		period[i].workers = period[i].disabled_in = 0;
	for (s = 0; s < ZSTATS_SLOTS; s++)
		fold_slot(s);
	for (i = 0; i < nperiod; i++) {
		o = &period[i];
		kv_begin(&k, "dnsbl-stats");
		kv_str(&k, "zone", o->name);
		kv_uint(&k, "period", (unsigned long long)(now -
		    period_start));
		kv_uint(&k, "queries", o->t.queries);
		kv_uint(&k, "listed", o->t.listed);
		kv_uint(&k, "not_listed", o->t.not_listed);
		kv_uint(&k, "errors", o->t.errors);
		kv_uint(&k, "latency_ms", o->t.queries ? o->t.latency_ms /
		    o->t.queries : 0);
		kv_uint(&k, "disabled_in", o->disabled_in);
		kv_uint(&k, "workers", o->workers);
		kv_emit(&k);
	}
	nperiod = 0;
	period_start = now;
}

void
zstats_worker(unsigned slot, const struct conf *c)
{
	size_t i;

	if (zs == NULL || slot >= ZSTATS_SLOTS)
		return;
	mine = &zs->slot[slot];
	memset(mine, 0, sizeof(*mine));
	for (i = 0; i < c->nzones; i++)
		(void)snprintf(mine->name[i], sizeof(mine->name[i]), "%s",
		    c->zones[i].zone);
	mine->nzones = (uint32_t)c->nzones;
	__atomic_store_n(&mine->pid, (int32_t)getpid(), __ATOMIC_RELEASE);
}

void
zstats_count(size_t i, enum zone_result r, int64_t latency_ms)
{
	struct zstat *z;

	if (mine == NULL || i >= mine->nzones)
		return;
	z = &mine->z[i];
	z->queries++;
	if (r == ZONE_LISTED)
		z->listed++;
	else if (r == ZONE_NOT_LISTED)
		z->not_listed++;
	else
		z->errors++;
	if (latency_ms > 0)
		z->latency_ms += (uint64_t)latency_ms;
}

void
zstats_disabled(size_t i, int disabled)
{
	if (mine != NULL && i < mine->nzones)
		mine->z[i].disabled = disabled != 0;
}

const struct zstats *
zstats_open(const char *spool)
{
	return sharedfile_open(spool, ZSTATS_FILE, sizeof(struct zstats),
	    "moatzs2");
}

static struct zsum *
sum_find(struct zsum *out, size_t *n, size_t max, const char *name)
{
	size_t i;

	/* names come from a file every worker can write: bounded reads */
	for (i = 0; i < *n; i++)
		if (strncmp(out[i].name, name, sizeof(out[i].name) - 1) == 0)
			return &out[i];
	if (*n == max)
		return NULL;
	memset(&out[*n], 0, sizeof(out[*n]));
	(void)snprintf(out[*n].name, sizeof(out[*n].name), "%.*s",
	    (int)sizeof(out[*n].name) - 1, name);
	return &out[(*n)++];
}

static void
sum_add(struct zstat *t, const struct zstat *z)
{
	t->queries += z->queries;
	t->listed += z->listed;
	t->not_listed += z->not_listed;
	t->errors += z->errors;
	t->latency_ms += z->latency_ms;
}

/* The retired sums given (the file's, or the parent's own) and the
 * live slots, by zone name. */
static size_t
sum_once(const struct zstats *s, const struct zsum *ret, size_t nr,
    struct zsum *out, size_t max)
{
	const struct zslot *sl;
	struct zsum *o;
	size_t n = 0, i, k;

	for (k = 0; k < nr && k < CONF_ZONE_MAX * 2; k++)
		if ((o = sum_find(out, &n, max, ret[k].name)) != NULL)
			sum_add(&o->t, &ret[k].t);
	for (k = 0; k < ZSTATS_SLOTS; k++) {
		sl = &s->slot[k];
		if (__atomic_load_n(&sl->pid, __ATOMIC_ACQUIRE) == 0)
			continue;
		for (i = 0; i < sl->nzones && i < CONF_ZONE_MAX; i++) {
			if ((o = sum_find(out, &n, max, sl->name[i])) == NULL)
				continue;
			sum_add(&o->t, &sl->z[i]);
			o->workers++;
			if (sl->z[i].disabled)
				o->disabled_in++;
		}
	}
	return n;
}

struct sum_args {
	const struct zstats	*s;
	struct zsum		*out;
	size_t			 max, n;
};

static void
sum_read(void *arg)
{
	struct sum_args *a = arg;

	a->n = sum_once(a->s, a->s->retired, a->s->nretired, a->out, a->max);
}

size_t
zstats_sum(const struct zstats *s, struct zsum *out, size_t max)
{
	struct sum_args a = { s, out, max, 0 };

	/* the parent retires a slot in an instant: read again meanwhile */
	(void)sharedfile_read(&s->seq, sum_read, &a);
	return a.n;
}

size_t
zstats_sum_parent(struct zsum *out, size_t max)
{
	if (zs == NULL)
		return 0;
	return sum_once(zs, retired, nretired, out, max);
}
