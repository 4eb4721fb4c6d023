/*
 * queue: the process that makes accepted mail durable and delivers it.
 *
 * The parent forks it, drops privileges to queue_user (no chroot: it
 * needs the spool and the mail root) and calls queue_main(), which never
 * returns.  One epoll loop serves the parent's channel and one channel
 * per smtp worker, all SOCK_SEQPACKET, all non-blocking.  Each loop turn:
 *
 *   1. read frames: commits are written and fsynced at once, confirms
 *      marked in place (not synced yet) and made ready;
 *   2. group commit: one fsync of queue/ covers every commit of the
 *      turn, and only then do their COMMIT_OK replies go out;
 *   3. timers: deferred messages that are due move to the ready list,
 *      recovered unconfirmed entries past their grace are discarded;
 *   4. one bounded slice of deliveries (a batch of recipients, a few
 *      tens of milliseconds), so a long delivery never starves commits;
 *   5. CONFIRM_OK for the turn's confirms: an entry the slice delivered
 *      and removed needs nothing more; one still queued has its mark
 *      fdatasynced first.
 *
 * The protocol, the spool layout and the crash windows are described in
 * queue/README.md.  The rest of this header is shared by the queue's own
 * files (and the tests); the parent needs only queue_main().
 */
#ifndef MOAT_QUEUE_H
#define MOAT_QUEUE_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "../conf/conf.h"
#include "../conf/map.h"
#include "../smtpd/frame.h"
#include "spool.h"

/* first_start: the daemon's first queue process, not a respawn. */
void	queue_main(const struct conf *, int parent_sock, int first_start)
	    __attribute__((noreturn));

/* Recovered unconfirmed entries wait this long for a resent CONFIRM. */
#define QUEUE_GRACE_MS		15000
/*
 * One delivery slice: at most this many recipients or milliseconds.  A
 * slice is one batch whose files share their fsyncs (deliver.c); each
 * recipient holds about four descriptors until the batch ends.
 */
#define QUEUE_SLICE_RCPTS	64
#define QUEUE_SLICE_MS		50
/* On DRAIN, wait at most this long for outstanding confirmations, and
 * this much more for LMTP deliveries out (the parent's shutdown_timeout
 * bounds it all). */
#define QUEUE_DRAIN_MS		5000
#define QUEUE_DRAIN_LMTP_MS	20000
/* A recipient's last delivery error, kept for moatctl queue (bytes). */
#define QUEUE_ERROR_MAX		300
/* Frames queued to one slow peer before it counts as broken. */
#define QUEUE_OUTQ_MAX		4096
/* Frames read from one channel per loop turn (fairness). */
#define QUEUE_READ_BURST	64

enum qlist { QL_NONE, QL_UNCONF, QL_READY, QL_WAIT, QL_DEFER };

struct qmsg {
	struct spool_env env;
	unsigned	 owner;		/* committing channel id; 0: none */
	int		 synced;	/* queue/ fsynced since the rename */
	int		 recovered;	/* found on disk at start-up */
	int64_t		 due;		/* DEFER: next try (monotonic ms) */
	time_t		 released;	/* by the operator: queue_lifetime
					   counts from here, not from T */
	unsigned	 backoff;	/* seconds, for the next failed pass */
	int		 fd;		/* spool file during a pass, else -1 */
	size_t		 cursor;	/* next recipient in this pass */
	int		 deferred;	/* a recipient failed in this pass */
	int		 marked;	/* status bytes written in this pass */
	unsigned char	*lmtp;		/* per recipient: to LMTP this pass */
	unsigned	 lmtp_out;	/* LMTP jobs not answered yet */
	enum qlist	 list;
	TAILQ_ENTRY(qmsg) link;
	struct qmsg	*hnext;
};
TAILQ_HEAD(qmsg_head, qmsg);

#define MSGTAB_BUCKETS	4096

struct msgtab {
	struct qmsg	*bucket[MSGTAB_BUCKETS];
	struct qmsg_head unconf, ready, wait, defer;
	size_t		 count;
	size_t		 ndefer;	/* on the defer list */
	int64_t		 defer_min;	/* earliest due in defer */
};

/* msg.c: the in-memory index of queue entries */
void	 msgtab_init(struct msgtab *);
struct qmsg *msg_new(void);
struct qmsg *msg_find(struct msgtab *, const char *qid);
void	 msg_add(struct msgtab *, struct qmsg *, enum qlist);
void	 msg_move(struct msgtab *, struct qmsg *, enum qlist);
void	 msg_defer(struct msgtab *, struct qmsg *, int64_t due);
void	 msg_free(struct msgtab *, struct qmsg *);	/* unlink and free */
/* Move deferred entries due by now (all when now < 0) to ready. */
size_t	 msg_due(struct msgtab *, int64_t now);

struct outframe {
	STAILQ_ENTRY(outframe) link;
	uint32_t	 type;
	int		 fd;		/* passed with it, or -1 */
	size_t		 len;
	unsigned char	 data[];
};

enum chan_kind { CHAN_PARENT, CHAN_WORKER, CHAN_FILTER, CHAN_LMTP };

struct chan {
	int		 fd;
	unsigned	 id;		/* never reused while we run */
	enum chan_kind	 kind;
	uint32_t	 slot;		/* worker slot, for logs */
	int		 dead;		/* closed; freed at the end of the turn */
	int		 pollout;
	size_t		 nout;
	STAILQ_HEAD(, outframe) out;
	LIST_ENTRY(chan) link;
};

struct pending {
	unsigned	 chan;
	uint64_t	 ticket;
	int		 fd;		/* a commit's tmp/ file until flushed */
	int		 sync_err;	/* its fsync: 0 or errno */
	char		 qid[QID_LEN + 1];
};

/* Replies that wait for the end of the loop turn. */
struct pendlist {
	struct pending	*v;
	size_t		 n, cap;
};

/* A worker's COMMIT, decoded (commit.c). */
struct commit_req {
	uint64_t	 ticket;
	char		 qid[QID_LEN + 1];
	char		 ip[SPOOL_IP_MAX];
	char		 ptr[SPOOL_PTR_MAX];
	char		 helo[SPOOL_HELO_MAX];
	char		 sender[SPOOL_ADDR_MAX];
	uint32_t	 nrcpt;
	char		*rcpt[SPOOL_RCPT_MAX];
	uint64_t	 size;
	/* for the filters */
	uint32_t	 port;
	char		 ptr_any[SPOOL_PTR_MAX];
	uint32_t	 ptr_verified;
	char		 tls[128];
	char		 dnsbl[1024];
	char		 greylist[16];
	char		 arena[FRAME_MAX];	/* the recipients' text */
};


struct filterq;

struct queue {
	const struct conf *conf;
	int		 ep;
	struct spool	 sp;
	struct map	 rcptmap;
	struct chan	*parent;
	struct chan	*filter;		/* to filterd; NULL: none */
	struct chan	*lmtp;			/* to the LMTP helpers, NULL */
	struct filterq	*fq;			/* messages being filtered */
	LIST_HEAD(, chan) chans;
	unsigned	 next_id;
	struct msgtab	 tab;
	struct pendlist	 pend;		/* COMMIT_OK after the group fsync */
	struct pendlist	 acks;		/* CONFIRM_OK, see commit_acks() */
	int64_t		 grace_until;	/* 0: no recovered entries waiting */
	int		 first_start;	/* no worker can resend a CONFIRM */
	int		 draining;
	int64_t		 drain_until;
	struct frame	 in;		/* the frame being handled */
	struct frame	 out;		/* the reply being built */
};

/* queue.c */
int64_t	 queue_now_ms(void);

/* chan.c: channels and frames */
struct chan *chan_open(struct queue *, int fd, enum chan_kind, uint32_t slot);
struct chan *chan_by_id(struct queue *, unsigned id);
void	 chan_send(struct queue *, struct chan *, struct frame *);
/* The same with a descriptor: a queued frame keeps a dup, so fd stays
 * the caller's to close. */
void	 chan_send_fd(struct queue *, struct chan *, struct frame *, int fd);
void	 chan_close(struct queue *, struct chan *, const char *why);
void	 chan_event(struct queue *, struct chan *, uint32_t events);
void	 chan_reap(struct queue *);	/* free channels closed this turn */

/*
 * Frame handlers: NULL when the frame was handled, else why it is bad
 * (the channel is then closed).  A handler that keeps f->fd sets it -1.
 */
const char *commit_frame(struct queue *, struct chan *, struct frame *);
const char *queue_parent_frame(struct queue *, struct frame *);
const char *qctl_frame(struct queue *, struct frame *);	/* moatctl's */

/* commit.c: the worker side of the protocol */
void	 commit_flush(struct queue *);	/* group fsync, then replies */
void	 commit_acks(struct queue *);	/* CONFIRM_OK, after deliveries */
void	 commit_chan_closed(struct queue *, unsigned chan_id);
/* Store it (added: header fields for after Received:); 0, or -1 after
 * replying the failure. */
int	 commit_store(struct queue *, struct chan *, const struct commit_req *,
	    int fd, const char *added, size_t addlen);
/* COMMIT_FAIL with a refusal class and a block request (filters). */
void	 commit_refuse(struct queue *, struct chan *, uint64_t ticket,
	    unsigned code, const char *enh, const char *text, const char *cls,
	    unsigned block);

/* filterq.c: messages out to the filters until their verdict */
void	 filterq_submit(struct queue *, struct chan *,
	    const struct commit_req *, int fd);
const char *filterq_frame(struct queue *, struct frame *);
void	 filterq_chan_closed(struct queue *, unsigned chan_id);
void	 filterq_lost(struct queue *);	/* filterd's channel closed */
void	 filterq_expire(struct queue *, int64_t now);	/* no verdict */
int	 filterq_pending(struct queue *);
void	 commit_recover(struct queue *);
void	 commit_grace_expired(struct queue *);
size_t	 commit_outstanding(struct queue *);	/* unconfirmed, owned */

/* deliver.c: delivery passes and retry */
int	 deliver_slice(struct queue *);	/* 1: more is ready */
int	 deliver_busy(struct queue *);	/* a pass is in progress */
/* End m's pass early (between slices: no file of it is in flight). */
void	 deliver_stop(struct qmsg *);
unsigned deliver_backoff_next(const struct conf *, unsigned backoff);
/* Shared with deliver_lmtp.c: where recipient i goes (0, or -1 when it
 * failed at once, logged), its outcomes, the end of a pass.  park: a
 * permanent refusal, held at once. */
int	 deliver_target(struct queue *, struct qmsg *, size_t i, char *target,
	    size_t size);
void	 deliver_rcpt_ok(struct queue *, struct qmsg *, size_t i,
	    const char *target, int existing);
void	 deliver_rcpt_fail(struct queue *, struct qmsg *, size_t i,
	    const char *target, const char *reason, int park);
void	 deliver_pass_finish(struct queue *, struct qmsg *);

/* deliver_lmtp.c: recipients delivered over LMTP, through the helpers */
int	 deliver_lmtp_note(struct qmsg *, size_t i);	/* 0 or -1 */
/* At the end of m's pass: its LMTP jobs; how many (m then waits, and
 * deliver_lmtp_pump sends them: it may finish the pass). */
int	 deliver_lmtp_submit(struct queue *, struct qmsg *);
void	 deliver_lmtp_pump(struct queue *);
const char *deliver_lmtp_frame(struct queue *, struct frame *);
void	 deliver_lmtp_lost(struct queue *);	/* the helpers are gone */
int	 deliver_waiting(struct queue *);	/* LMTP jobs are out */
void	 deliver_lmtp_tick(struct queue *, int64_t now);

#endif
