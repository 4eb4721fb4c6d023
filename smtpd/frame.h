/*
 * frame: the one way processes talk to each other.
 *
 * Every channel is a SOCK_SEQPACKET socketpair, so one frame is one
 * datagram: it arrives whole or not at all, never split or merged.  A
 * frame is a 4-byte type followed by fields appended with frame_put_*
 * and read back, in the same order, with frame_get_*.  A reader that finds
 * a short field, an over-long string or bytes left over marks the frame
 * bad (frame_ok() == 0): the receiver treats that as a broken peer.  At
 * most one descriptor travels with a frame (SCM_RIGHTS).
 */
#ifndef MOAT_FRAME_H
#define MOAT_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FRAME_MAX	65536

enum frame_type {
	/* worker -> queue */
	FRAME_COMMIT = 1,	/* envelope + message fd: make it durable */
	FRAME_CONFIRM,		/* the client has our 250 for this id */
	FRAME_ABORT,		/* the client never got the 250: discard */
	/* queue -> worker */
	FRAME_COMMIT_OK,	/* durable, not yet deliverable */
	FRAME_COMMIT_FAIL,	/* not stored: reply code/text for the client */
	FRAME_CONFIRM_OK,	/* confirm recorded durably */
	/* parent -> child */
	FRAME_MAP,		/* map id + cdb fd */
	FRAME_QUEUE_SOCK,	/* worker: new channel to the queue */
	FRAME_WORKER_SOCK,	/* queue: channel to a (new) worker */
	FRAME_DRAIN,		/* stop accepting, finish, exit */
	FRAME_FLUSH,		/* queue: retry deferred deliveries now */
	FRAME_STATUS,		/* queue: spool space check */
	/* child -> parent */
	FRAME_SPOOL_STATE,	/* queue tells workers (via parent) spool full */
	/* queue <-> its fsync helpers */
	FRAME_SYNC,		/* tag + fd: fsync it */
	FRAME_SYNC_DONE,	/* tag + errno (0: done) */
	/* filters (filters/filterd.h) */
	FRAME_FILTER_SOCK,	/* parent -> queue: channel to the filters */
	FRAME_FILTER_RUN,	/* queue -> filter: message fd + envelope */
	FRAME_FILTER_CANCEL,	/* queue -> filter: the client went away */
	FRAME_FILTER_DONE,	/* filter -> queue: the verdict */
	/* queue <-> its LMTP helpers (queue/lmtphelper.c) */
	FRAME_LMTP_JOB,		/* spool fd + one LMTP transaction */
	FRAME_LMTP_DONE,	/* a result per recipient */
	/* moatctl -> parent -> queue, and back (smtpd/control.h) */
	FRAME_CTL_REQUEST,	/* an operator's request: list, hold... */
	FRAME_CTL_REPLY,	/* its answer, with the listing's fd */
};

struct frame {
	uint32_t	type;
	unsigned char	data[FRAME_MAX];
	size_t		len;	/* bytes used (writing) or received */
	size_t		pos;	/* read cursor */
	int		bad;	/* a get ran past the end or a field was bad */
	int		fd;	/* passed descriptor, -1 if none */
};

const char *frame_name(uint32_t type);

void	frame_init(struct frame *, uint32_t type);
int	frame_put_u32(struct frame *, uint32_t);
int	frame_put_u64(struct frame *, uint64_t);
int	frame_put_str(struct frame *, const char *);	/* len-prefixed */
int	frame_put_bytes(struct frame *, const void *, size_t);

uint32_t frame_get_u32(struct frame *);
uint64_t frame_get_u64(struct frame *);
/* copies a string into dst; bad if longer than dstsize-1 or has a NUL */
void	frame_get_str(struct frame *, char *dst, size_t dstsize);
size_t	frame_get_bytes(struct frame *, void *dst, size_t dstsize);
/* n strings, each at most each_max bytes with its NUL, one after the
 * other into arena; v[i] points at each.  Bad when they do not fit. */
void	frame_get_strv(struct frame *, char *arena, size_t arenasize,
	    size_t each_max, char **v, uint32_t n);
int	frame_end(struct frame *);	/* 0 if all consumed and not bad */

/*
 * Send one frame, with fd (or -1).  Never blocks when the socket is
 * non-blocking: returns -1 with errno EAGAIN then.  0 on success.
 */
int	frame_send(int sock, struct frame *, int fd);
/*
 * Receive one frame.  1: got one (f->fd set, or -1); 0: peer closed;
 * -1: error (EAGAIN when nothing is there).  A truncated datagram or a
 * header shorter than 4 bytes is an error (EBADMSG).
 */
int	frame_recv(int sock, struct frame *);

#endif
