/*
 * syncpool: fsync many files at once, through helper processes.
 *
 * One fsync on this kind of disk costs a cache flush of the device, and
 * the kernel merges the flushes of fsyncs that are in flight together:
 * sixteen files fsynced at once take little longer than one.  A single
 * process can only have one fsync in flight, so the queue hands the
 * files of a batch to helpers (forked from it, same user, holding
 * nothing but their socket) and waits for all of them: the batch costs
 * about one flush instead of one per file.
 *
 * The helpers share one SOCK_SEQPACKET socketpair: every FRAME_SYNC
 * (a tag and the descriptor) is taken by whichever helper is free, which
 * answers FRAME_SYNC_DONE (the tag and 0 or errno).  Anything the pool
 * cannot do (no helpers, a helper killed, no answer in time) is fsynced
 * by the caller itself: a file fsynced twice is no harm, one never
 * fsynced would be.
 */
#ifndef MOAT_SYNCPOOL_H
#define MOAT_SYNCPOOL_H

#include <stddef.h>

#define SYNCPOOL_HELPERS	16
#define SYNCPOOL_BATCH		64	/* in flight at most; callers batch so */

/* Fork the helpers.  Without them (fork failed, n == 0), every fsync is
 * done in the calling process; that is logged once. */
void	syncpool_start(unsigned n);
/* fsync fds[0..n) at once; errs[i] is then 0 or the errno of that fsync. */
void	syncpool_fsync(const int *fds, int *errs, size_t n);
/* Close the pool: the helpers exit when their socket closes. */
void	syncpool_stop(void);

#endif
