/*
 * sharedfile: the figures moatd's processes share with moatctl, as a
 * file under the spool that the parent maps before it forks (the DNS
 * lists', dnsbl/zonestats.c; the live counters, metrics/counters.c).
 *
 * The parent makes the file anew at each start (a reader of the old one
 * keeps its map) and maps it read-write; a reader opens it read-only,
 * maps it read-only and checks its size and magic, so a file of another
 * version is refused, never misread.  What the parent alone writes in
 * it is framed by a sequence number (seqlock): odd while it writes; a
 * reader that sees it odd, or changed once it is done, reads again.
 */
#ifndef MOAT_SHAREDFILE_H
#define MOAT_SHAREDFILE_H

#include <stddef.h>
#include <stdint.h>

#define SHAREDFILE_MAGIC	8	/* bytes at the start of the file */
#define SHAREDFILE_TRIES	500	/* reads before a reader gives up */

/* Parent: SPOOL/name, zeroed, size bytes, mapped read-write; NULL
 * (logged, with what as the figures' name). */
void	*sharedfile_create(const char *spool, const char *name, size_t size,
	    const char *what);
/* A reader: the map, read-only; NULL with errno (EINVAL: not ours). */
const void *sharedfile_open(const char *spool, const char *name, size_t size,
	    const char magic[SHAREDFILE_MAGIC]);
void	sharedfile_close(const void *, size_t size);

/* The writer counts in own, never in the file (anyone may scribble
 * there), and publishes each step. */
static inline void
seq_write_begin(uint32_t *seq, uint32_t *own)
{
	__atomic_store_n(seq, ++*own | 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void
seq_write_end(uint32_t *seq, uint32_t *own)
{
	*own = (*own | 1) + 1;
	__atomic_store_n(seq, *own, __ATOMIC_RELEASE);
}

/*
 * A reader: run fn(arg) until a run saw nothing written meanwhile (0),
 * pausing 200 us between runs; after SHAREDFILE_TRIES, -1, with what
 * the last run read.
 */
int	sharedfile_read(const uint32_t *seq, void (*fn)(void *), void *arg);

#endif
