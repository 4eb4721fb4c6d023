/*
 * counters: the writers' side of the shared figures (see counters.h):
 * the parent creates the file, retires dead children's slots and takes
 * the minute points; a worker or the queue counts in its own slot.
 */
#include <sys/mman.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../dnsbl/zonestats.h"
#include "../smtpd/sharedfile.h"
#include "counters.h"

static struct ctr_file *cf_;		/* the parent's map */
static struct ctr_slot *mine;		/* a writer's slot */
static uint32_t my_nref;		/* its pairs: never read back */
static time_t last_point;

/*
 * What the parent keeps of its own.  Every writer can scribble on the
 * file, so the parent never reads back a count or an index it wrote
 * there: it keeps them here and only publishes them.
 */
static struct {
	uint32_t	seq, nnames, nzones, ring_next;
	struct ctr_pair	name[CTRS_REFUSALS];
	char		zone_name[CTRS_ZONES][CTRS_ZONE_MAX];
	uint64_t	retired[CTR_COUNTERS];
	uint64_t	retired_ref[CTRS_REFUSALS];
	struct ctr_point point;		/* the next one, made aside */
} own;

int
ctrs_create(const char *spool)
{
	if ((cf_ = sharedfile_create(spool, CTRS_FILE, sizeof(*cf_),
	    "live counters")) == NULL)
		return -1;
	memcpy(cf_->magic, CTRS_MAGIC, sizeof(cf_->magic));
	cf_->parent_pid = (int32_t)getpid();
	cf_->started = time(NULL);
	ctrs_tick(cf_->started);	/* the zero point */
	return 0;
}

/* ---- the parent ---- */

static int
name_add(const char *cls, const char *stage)
{
	uint32_t i = own.nnames;

	(void)snprintf(own.name[i].cls, CTRS_CLASS_MAX, "%.*s",
	    CTRS_CLASS_MAX - 1, cls);
	(void)snprintf(own.name[i].stage, CTRS_STAGE_MAX, "%.*s",
	    CTRS_STAGE_MAX - 1, stage);
	cf_->name[i] = own.name[i];		/* names only ever grow */
	__atomic_store_n(&cf_->nnames, ++own.nnames, __ATOMIC_RELEASE);
	return (int)i;
}

/* The parent's index of a pair, named on first sight; once the names
 * are all taken, the last one, "other", takes the rest. */
static int
name_index(const struct ctr_pair *p)
{
	uint32_t i;

	for (i = 0; i < own.nnames; i++)
		if (strncmp(own.name[i].cls, p->cls, CTRS_CLASS_MAX - 1) == 0 &&
		    strncmp(own.name[i].stage, p->stage,
		    CTRS_STAGE_MAX - 1) == 0)
			return (int)i;
	if (own.nnames < CTRS_REFUSALS - 1)
		return name_add(p->cls, p->stage);
	if (own.nnames == CTRS_REFUSALS - 1)
		return name_add("other", "");
	return CTRS_REFUSALS - 1;
}

/* Add a slot's counters and pairs to v and ref (by the parent's names). */
static void
add_slot(const struct ctr_slot *sl, uint64_t *v, uint64_t *ref)
{
	uint32_t i, n = __atomic_load_n(&sl->nref, __ATOMIC_ACQUIRE);

	for (i = 0; i < CTR_COUNTERS; i++)
		v[i] += __atomic_load_n(&sl->v[i], __ATOMIC_RELAXED);
	for (i = 0; i < n && i < CTRS_SLOT_REFUSALS; i++)
		ref[name_index(&sl->ref[i].p)] +=
		    __atomic_load_n(&sl->ref[i].n, __ATOMIC_RELAXED);
}

void
ctrs_retire(unsigned slot)
{
	struct ctr_slot *sl;

	if (cf_ == NULL || slot >= CTRS_SLOTS)
		return;
	sl = &cf_->slot[slot];
	if (sl->pid != 0)
		add_slot(sl, own.retired, own.retired_ref);
	seq_write_begin(&cf_->seq, &own.seq);
	memcpy(cf_->retired, own.retired, sizeof(cf_->retired));
	memcpy(cf_->retired_ref, own.retired_ref, sizeof(cf_->retired_ref));
	memset(sl, 0, sizeof(*sl));
	seq_write_end(&cf_->seq, &own.seq);
}

static int
zone_index(const char *name)
{
	uint32_t i;

	for (i = 0; i < own.nzones; i++)
		if (strncmp(own.zone_name[i], name, CTRS_ZONE_MAX - 1) == 0)
			return (int)i;
	if (own.nzones == CTRS_ZONES)
		return -1;
	(void)snprintf(own.zone_name[i], CTRS_ZONE_MAX, "%.*s",
	    CTRS_ZONE_MAX - 1, name);
	memcpy(cf_->zone_name[i], own.zone_name[i], CTRS_ZONE_MAX);
	__atomic_store_n(&cf_->nzones, ++own.nzones, __ATOMIC_RELEASE);
	return (int)i;
}

static void
point_zones(struct ctr_point *pt)
{
	static struct zsum sums[CTRS_ZONES];
	size_t i, n;
	int k;

	n = zstats_sum_parent(sums, CTRS_ZONES);
	for (i = 0; i < n; i++) {
		if ((k = zone_index(sums[i].name)) == -1)
			continue;
		pt->zone[k].queries = sums[i].t.queries;
		pt->zone[k].listed = sums[i].t.listed;
		pt->zone[k].errors = sums[i].t.errors;
	}
}

/* The totals as they are now, made aside, then into the ring. */
static void
take_point(time_t now)
{
	struct ctr_point *pt = &own.point;
	unsigned s;

	memset(pt, 0, sizeof(*pt));
	memcpy(pt->v, own.retired, sizeof(pt->v));
	memcpy(pt->ref, own.retired_ref, sizeof(pt->ref));
	for (s = 0; s < CTRS_SLOTS; s++)
		if (__atomic_load_n(&cf_->slot[s].pid, __ATOMIC_ACQUIRE) != 0)
			add_slot(&cf_->slot[s], pt->v, pt->ref);
	point_zones(pt);
	pt->at = now;
	seq_write_begin(&cf_->seq, &own.seq);
	cf_->ring[own.ring_next] = *pt;
	cf_->nnames = own.nnames;	/* a scribbled count heals */
	cf_->nzones = own.nzones;
	seq_write_end(&cf_->seq, &own.seq);
	own.ring_next = (own.ring_next + 1) % CTRS_RING;
}

void
ctrs_tick(time_t now)
{
	if (cf_ == NULL || (last_point != 0 && now >= last_point &&
	    now - last_point < CTRS_POINT_EVERY))
		return;
	last_point = now;
	take_point(now);
}

void
ctrs_set_blocked(uint64_t clients, uint64_t nets)
{
	if (cf_ == NULL)
		return;
	__atomic_store_n(&cf_->blocked_clients, clients, __ATOMIC_RELAXED);
	__atomic_store_n(&cf_->blocked_nets, nets, __ATOMIC_RELAXED);
}

/* A child that writes none of it (the metrics listener): let go. */
void
ctrs_detach(void)
{
	if (cf_ != NULL)
		(void)munmap(cf_, sizeof(*cf_));
	cf_ = NULL;
	mine = NULL;
}

/* ---- a writer: the only one of its slot ---- */

void
ctrs_attach(unsigned slot)
{
	if (cf_ == NULL || slot >= CTRS_SLOTS)
		return;
	mine = &cf_->slot[slot];
	memset(mine, 0, sizeof(*mine));
	my_nref = 0;
	__atomic_store_n(&mine->pid, (int32_t)getpid(), __ATOMIC_RELEASE);
}

void
ctr_add(enum ctr c, uint64_t n)
{
	if (mine != NULL && (unsigned)c < CTR_ALL)
		__atomic_store_n(&mine->v[c], mine->v[c] + n,
		    __ATOMIC_RELAXED);
}

void
ctr_set(enum ctr c, uint64_t v)
{
	if (mine != NULL && (unsigned)c < CTR_ALL)
		__atomic_store_n(&mine->v[c], v, __ATOMIC_RELAXED);
}

/* The slot's pair for (cls, stage); the last one takes any overflow. */
static struct ctr_refusal *
refusal_find(const char *cls, const char *stage)
{
	struct ctr_refusal *r;
	uint32_t i;

	for (i = 0; i < my_nref; i++) {
		r = &mine->ref[i];
		/* as kept: a class cut short is still one class */
		if (strncmp(r->p.cls, cls, sizeof(r->p.cls) - 1) == 0 &&
		    strncmp(r->p.stage, stage, sizeof(r->p.stage) - 1) == 0)
			return r;
	}
	r = &mine->ref[i];
	if (i == CTRS_SLOT_REFUSALS - 1) {
		cls = "other";
		stage = "";
	} else if (i == CTRS_SLOT_REFUSALS)
		return &mine->ref[i - 1];
	(void)snprintf(r->p.cls, sizeof(r->p.cls), "%s", cls);
	(void)snprintf(r->p.stage, sizeof(r->p.stage), "%s", stage);
	r->n = 0;
	my_nref = i + 1;
	__atomic_store_n(&mine->nref, my_nref, __ATOMIC_RELEASE);
	return r;
}

void
ctr_refusal(const char *cls, const char *stage)
{
	struct ctr_refusal *r;

	if (mine == NULL)
		return;
	r = refusal_find(cls, stage);
	__atomic_store_n(&r->n, r->n + 1, __ATOMIC_RELAXED);
}
