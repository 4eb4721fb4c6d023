/*
 * zonestats: per-zone figures of the DNS lists, shared by the workers
 * with the parent and moatctl, so a dead or useless list shows without
 * reading logs.
 *
 * The parent maps one file, SPOOL/dnsbl.stats, before it forks; each
 * worker owns a slot (its zones by name and, per zone, queries, listed,
 * not listed, errors, summed latency, and whether its probe disabled
 * the zone) and is the only writer of it.  Readers take the figures as
 * they find them: a count may be one behind for an instant.  moatctl
 * maps the same file read-only; the parent logs what each zone did
 * every ZSTATS_LOG_INTERVAL seconds.  When a worker dies the parent adds
 * its figures to the retired sums, so the totals since the start keep
 * them; it marks that write with seq (odd while it writes), and a
 * reader that sees seq move reads again.
 */
#ifndef MOAT_ZONESTATS_H
#define MOAT_ZONESTATS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../conf/conf.h"
#include "dnsbl.h"

#define ZSTATS_FILE		"dnsbl.stats"
#define ZSTATS_SLOTS		64
#define ZSTATS_LOG_INTERVAL	300

struct zstat {
	uint64_t	queries, listed, not_listed, errors;
	uint64_t	latency_ms;		/* summed over the answers */
	uint64_t	disabled;		/* 1 while the probe says so */
};

struct zslot {
	int32_t		pid;			/* 0: no worker */
	uint32_t	nzones;
	char		name[CONF_ZONE_MAX][256];
	struct zstat	z[CONF_ZONE_MAX];
};

/* One zone's figures summed over workers. */
struct zsum {
	char		name[256];
	struct zstat	t;
	unsigned	workers, disabled_in;	/* slots with it; disabled */
};

struct zstats {
	char		magic[8];		/* "moatzs2" */
	int32_t		parent_pid;
	uint32_t	nslots;
	uint32_t	seq;
	uint32_t	nretired;
	struct zsum	retired[CONF_ZONE_MAX * 2];	/* dead workers' */
	struct zslot	slot[ZSTATS_SLOTS];
};

/* Parent, before the forks: create the file.  0 or -1 (logged). */
int	zstats_create(const char *spool);
void	zstats_clear_slot(unsigned slot);		/* parent */
/* Parent: zstats_sum from its own retired sums, never waiting (it is
 * the one that writes them). */
size_t	zstats_sum_parent(struct zsum *out, size_t max);
void	zstats_detach(void);	/* a child that writes none of it */
/* Every ZSTATS_LOG_INTERVAL, and at stop (force): one `dnsbl-stats`
 * line a zone, with what it did in the period. */
void	zstats_log(time_t now, int force);		/* parent */
/* Worker, at start: its slot, its zones. */
void	zstats_worker(unsigned slot, const struct conf *);
void	zstats_count(size_t zone, enum zone_result, int64_t latency_ms);
void	zstats_disabled(size_t zone, int);
/* moatctl: map the file read-only; NULL with errno. */
const struct zstats *zstats_open(const char *spool);
/* Sum the slots and what dead workers did by zone name into out (at
 * most max); the count. */
size_t	zstats_sum(const struct zstats *, struct zsum *out, size_t max);

#endif
