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
/* A reader's wait between two tries: 200 us (so 0.1 s in all). */
void	sharedfile_pause(void);

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

/* A reader: the number to hand to seq_read_ok, or -1 while it is odd. */
static inline int64_t
seq_read_begin(const uint32_t *seq)
{
	uint32_t s = __atomic_load_n(seq, __ATOMIC_ACQUIRE);

	return s & 1 ? -1 : (int64_t)s;
}

/* 1 when nothing was written since seq_read_begin gave s. */
static inline int
seq_read_ok(const uint32_t *seq, int64_t s)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return s != -1 && __atomic_load_n(seq, __ATOMIC_RELAXED) == s;
}

#endif
