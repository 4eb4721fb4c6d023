/*
 * limits: session counts shared by all smtp workers.
 *
 * The parent maps one anonymous shared region before forking.  Each
 * worker slot owns a counter of its open sessions and an open-addressing
 * table of client address -> open sessions; only that worker writes its
 * slot, everybody reads all slots.  Reads race with writes by design: a
 * count may be off by one for an instant, which is fine for a limit and
 * needs no lock.  When a worker dies the parent clears its slot before
 * the replacement starts.  The same region carries the parent's verdict
 * on the spool's free space, so jailed workers need no handle on it, and
 * a worker's word that the state store it has open is broken.
 */
#ifndef MOAT_LIMITS_H
#define MOAT_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LIMITS_MAX_WORKERS	64

int	limits_init(unsigned nslots, unsigned max_sessions);	/* parent */
void	limits_clear_slot(unsigned slot);			/* parent */
void	limits_detach(void);	/* a child that has no part in them */
/* A worker: its slot, and the prefix one IPv6 client is counted by. */
void	limits_set_slot(unsigned slot, unsigned net6_bits);

unsigned limits_total(void);
unsigned limits_ip_count(const struct sockaddr *);
void	limits_open(const struct sockaddr *);
void	limits_close(const struct sockaddr *);

/* The spool's free space is below min_free_space (set by the parent). */
void	limits_set_spool_low(int);
int	limits_spool_low(void);

/*
 * The state store's generation: the parent bumps it each time it starts
 * a new file.  A worker that finds the file corrupt reports it with the
 * generation it opened; a report from a worker still on an older file
 * is not taken.
 */
unsigned limits_store_gen(void);
void	limits_report_store_broken(unsigned gen);	/* worker */
int	limits_store_reported_broken(void);		/* parent */
void	limits_store_renewed(void);			/* parent */

#endif
