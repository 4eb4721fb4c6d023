/*
 * counters: moatd's live figures, shared by its processes with moatctl
 * stats and the metrics listener, so they can be read without a log.
 *
 * The parent maps one file, SPOOL/moat.stats, before it forks.  Each
 * smtp worker and the queue own a slot and are its only writers: a
 * count is a plain increment, a refusal one more in a small table of
 * (class, stage) pairs kept in the slot.  Readers add the slots up.
 *
 * What the parent owns in the file:
 *   - what dead children counted (retired), folded in when it reaps one,
 *     so a restart loses nothing from the totals;
 *   - a ring of minute points (the totals as they were), from which a
 *     reader takes the last hour;
 *   - the block list's size, counted in the state store each time the
 *     parent syncs it (every 10 seconds).
 * The parent's writes are framed by a sequence number (odd while it
 * writes); a reader that sees it change reads again, so a total never
 * counts a dead child twice.
 *
 * Every byte of the file may have been written by any worker: a
 * compromised one can make the figures lie, nothing more.  The parent
 * and each writer keep their own counts and indices in their own
 * memory and only publish them in the file; readers bound every string
 * and every count of entries they take from it.
 */
#ifndef MOAT_COUNTERS_H
#define MOAT_COUNTERS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../smtpd/limits.h"

#define CTRS_FILE		"moat.stats"
#define CTRS_MAGIC		"moatct1"
#define CTRS_QUEUE_SLOT		LIMITS_MAX_WORKERS	/* after the workers */
#define CTRS_SLOTS		(LIMITS_MAX_WORKERS + 1)
#define CTRS_CLASS_MAX		128	/* a verdict's class, NUL included */
#define CTRS_STAGE_MAX		16
#define CTRS_SLOT_REFUSALS	64	/* pairs one slot keeps */
#define CTRS_REFUSALS		256	/* pairs the parent names */
#define CTRS_ZONES		64
#define CTRS_ZONE_MAX		256
#define CTRS_RING		64	/* minute points: a bit over an hour */
#define CTRS_POINT_EVERY	60	/* seconds */
#define CTRS_HOUR		3600

enum ctr {
	/* counters: they only grow, and survive a child's death */
	CTR_CONNECTIONS,	/* accepted, refused at accept included */
	CTR_SESSIONS,		/* went on to a session */
	CTR_MESSAGES,		/* answered 250 after DATA */
	CTR_RECIPIENTS,		/* of those messages */
	CTR_REFUSED,		/* every refusal: readers sum the pairs */
	CTR_GREY_NEW,
	CTR_GREY_EARLY,
	CTR_GREY_PASSED,
	CTR_GREY_AWL,
	CTR_GREY_SKIP,
	CTR_DELIVERED,		/* recipients */
	CTR_DEFERRED,		/* delivery attempts that will be retried */
	CTR_HELD,		/* recipients parked in hold/ */
	CTR_COUNTERS,
	/* gauges: what is now */
	CTR_SESSIONS_OPEN = CTR_COUNTERS,
	CTR_QUEUE,		/* entries the queue holds */
	CTR_QUEUE_DEFERRED,	/* of those, waiting for a retry */
	CTR_ALL
};

struct ctr_pair {
	char		cls[CTRS_CLASS_MAX];
	char		stage[CTRS_STAGE_MAX];
};

struct ctr_refusal {
	struct ctr_pair	p;
	uint64_t	n;
};

struct ctr_slot {
	int32_t		pid;		/* 0: nobody writes here */
	uint32_t	nref;		/* refusal pairs in use */
	uint64_t	v[CTR_ALL];
	struct ctr_refusal ref[CTRS_SLOT_REFUSALS];
};

struct ctr_zone {
	uint64_t	queries, listed, errors;
};

struct ctr_point {
	int64_t		at;		/* 0: not taken yet */
	uint64_t	v[CTR_COUNTERS];
	uint64_t	ref[CTRS_REFUSALS];	/* by the parent's names */
	struct ctr_zone	zone[CTRS_ZONES];	/* by zone_name */
};

struct ctr_file {
	char		magic[8];		/* CTRS_MAGIC */
	int32_t		parent_pid;
	uint32_t	seq;			/* odd: the parent writes */
	int64_t		started;
	uint64_t	blocked_clients, blocked_nets;
	uint32_t	nnames, nzones;
	struct ctr_pair	name[CTRS_REFUSALS];
	char		zone_name[CTRS_ZONES][CTRS_ZONE_MAX];
	uint64_t	retired[CTR_COUNTERS];
	uint64_t	retired_ref[CTRS_REFUSALS];
	struct ctr_point ring[CTRS_RING];
	struct ctr_slot	slot[CTRS_SLOTS];
};

/* Parent, before the forks: create the file.  0, or -1 (logged). */
int	ctrs_create(const char *spool);
/* Parent: fold a dead child's counts into the totals, free its slot. */
void	ctrs_retire(unsigned slot);
/* Parent, each second: a minute point when one is due. */
void	ctrs_tick(time_t now);
void	ctrs_set_blocked(uint64_t clients, uint64_t nets);

/* A child that writes nothing here: unmap the parent's view. */
void	ctrs_detach(void);
/* A worker or the queue, at start: the slot it writes. */
void	ctrs_attach(unsigned slot);
void	ctr_add(enum ctr, uint64_t n);
void	ctr_set(enum ctr, uint64_t v);		/* a gauge */
void	ctr_refusal(const char *cls, const char *stage);

/*
 * What a reader makes of the file: every figure now and, for the
 * counters, what it grew by over the last hour (or since the start,
 * when moatd is younger).
 */
struct ctr_view_ref {
	struct ctr_pair	p;
	uint64_t	total, hour;
};

struct ctr_view_zone {
	char		name[CTRS_ZONE_MAX];
	uint64_t	queries, listed, errors;	/* since the start */
	uint64_t	hour_queries, hour_listed, hour_errors;
	unsigned	workers, disabled_in;
};

struct ctr_view {
	int64_t		now, started, hour_from;
	int32_t		parent_pid;
	uint64_t	v[CTR_ALL];
	uint64_t	hour[CTR_COUNTERS];
	uint64_t	blocked_clients, blocked_nets;
	size_t		nref, nzones;
	struct ctr_view_ref ref[CTRS_REFUSALS + CTRS_SLOT_REFUSALS];
	struct ctr_view_zone zone[CTRS_ZONES];
};

struct zstats;

/* Map the file read-only: NULL with errno. */
const struct ctr_file *ctrs_open(const char *spool);
/*
 * Fill v from the file and the DNS lists' figures (zs may be NULL).
 * 0, or -1 when the parent kept writing while it was read (or died
 * writing): v then holds what the last try read.
 */
int	ctrs_view(const struct ctr_file *, const struct zstats *zs,
	    time_t now, struct ctr_view *v);

#endif
