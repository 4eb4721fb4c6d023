/*
 * lmtphelper: the processes that run the LMTP transactions (lmtp.c), so
 * the queue's loop never waits on an LMTP server.
 *
 * LMTP_HELPERS processes, forked by the queue, share one SEQPACKET
 * socket with it, as the fsync helpers do: each job is taken by a
 * helper that is free, which answers with the job's tag and a result
 * per recipient.  The frames, encoded and decoded here only:
 *
 *   LMTP_JOB (queue -> helper), with the spool entry's descriptor: u64
 *     tag, str target, str helo, str sender, u64 offset, u64 length (the
 *     message in the entry), u32 timeout (s), u32 n (1..LMTP_JOB_RCPTS),
 *     n x str recipient.
 *   LMTP_DONE (helper -> queue): u64 tag, u32 n, n x (u32 code, str
 *     text); code 0: no reply (lmtp.h).
 */
#ifndef MOAT_LMTPHELPER_H
#define MOAT_LMTPHELPER_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "../smtpd/frame.h"
#include "lmtp.h"

#define LMTP_HELPERS	8	/* transactions at once */
#define LMTP_JOB_RCPTS	100	/* recipients of one transaction */

struct queue;
struct chan;

struct lmtp_job {
	uint64_t	 tag;
	const char	*target, *helo, *sender;
	off_t		 off, len;
	unsigned	 timeout_s;
	const char	*rcpt[LMTP_JOB_RCPTS];
	size_t		 n;
};

/* Fork the helpers; their channel (CHAN_LMTP), or NULL (logged). */
struct chan *lmtphelper_start(struct queue *);
/* 1 when one of them has died (reaped here). */
int	lmtphelper_died(void);
/* Kill them all and reap them: the pool is given up. */
void	lmtphelper_kill(void);
int	lmtp_job_put(struct frame *, const struct lmtp_job *);
/* NULL, or why the frame is bad; at most LMTP_JOB_RCPTS results. */
const char *lmtp_done_get(struct frame *, uint64_t *tag,
	    struct lmtp_result *res, size_t *n);

#endif
