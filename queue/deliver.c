/*
 * deliver: delivery passes over confirmed entries, and their retry.
 *
 * A pass tries every pending recipient of one entry once, in order; it
 * may span several loop turns, because each turn delivers only a slice
 * (QUEUE_SLICE_RCPTS recipients or QUEUE_SLICE_MS) so commits and
 * confirms are never kept waiting behind a big delivery.  A slice is one
 * batch, gathered from the ready entries in order: per recipient, look
 * the address up again in the recipients map (the same chain the worker
 * used at RCPT) and write its maildir file; then fsync every file, link
 * them all into new/, fsync each new/ folder once, and only then mark
 * the recipients D in place.  Written together, the files share the
 * syncs that one by one would cost two each.  A mark needs no fdatasync
 * of its own: if it is lost in a crash the next pass finds the maildir
 * file already there and counts it delivered, so the marks are synced
 * once per pass, only when the entry stays.
 *
 * When a pass ends: nothing pending and nothing held, the entry is
 * removed; nothing pending but some held (after queue_lifetime), it moves
 * to hold/; otherwise it waits for its next try, the wait doubling from
 * retry_min up to retry_max.  Failures are never bounced: moat delivers
 * only to its own maildirs, so a failure is ours to fix, not the
 * sender's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../conf/rcptmap.h"
#include "../metrics/counters.h"
#include "../smtpd/log.h"
#include "lmtp.h"
#include "maildir.h"
#include "queue.h"

/* One recipient's delivery in the batch of a slice. */
struct djob {
	struct qmsg	*m;
	size_t		 rcpt;
	char		 target[MAP_VALUE_MAX];
};

/* The batch: jobs[k] and its maildir job mjobs[k]. */
static struct djob jobs[QUEUE_SLICE_RCPTS];
static struct maildir_job mjobs[QUEUE_SLICE_RCPTS];

unsigned
deliver_backoff_next(const struct conf *cf, unsigned backoff)
{
	unsigned next = backoff > cf->retry_max / 2 ? cf->retry_max :
	    backoff * 2;

	if (next > cf->retry_max)
		next = cf->retry_max;
	return next ? next : 1;
}

int
deliver_busy(struct queue *q)
{
	struct qmsg *m = TAILQ_FIRST(&q->tab.ready);

	return m != NULL && m->fd != -1;
}

/* ---- one recipient ---- */

void
deliver_rcpt_ok(struct queue *q, struct qmsg *m, size_t i, const char *target,
    int existing)
{
	struct spool_rcpt *r = &m->env.rcpt[i];
	struct kv k;

	if (spool_mark(m->fd, r->off, RCPT_DELIVERED) == -1)
		log_warn("queue: mark qid=%s rcpt=%s", m->env.qid, r->addr);
	r->status = RCPT_DELIVERED;
	m->marked = 1;
	kv_begin(&k, "deliver");
	kv_str(&k, "qid", m->env.qid);
	kv_str(&k, "rcpt", r->addr);
	kv_str(&k, "to", target);
	kv_str(&k, "result", "ok");
	kv_int(&k, "delay", (long long)(time(NULL) - m->env.ctime));
	if (existing)
		kv_str(&k, "note", "already-delivered");
	kv_emit(&k);
	ctr_add(CTR_DELIVERED, 1);
}

/* What moatctl queue shows; a string that cannot be kept shows none. */
static void
rcpt_error(struct spool_rcpt *r, const char *reason)
{
	free(r->error);
	if ((r->error = strndup(reason, QUEUE_ERROR_MAX)) != NULL)
		spool_sanitise(r->error);
}

/* queue_lifetime counts from the commit, or from the operator's release. */
static int
lifetime_over(struct queue *q, struct qmsg *m, time_t now)
{
	time_t from = m->released > m->env.ctime ? m->released :
	    m->env.ctime;

	return (long long)(now - from) >= (long long)q->conf->queue_lifetime;
}

void
deliver_rcpt_fail(struct queue *q, struct qmsg *m, size_t i,
    const char *target, const char *reason, int park)
{
	struct spool_rcpt *r = &m->env.rcpt[i];
	time_t now = time(NULL);
	long long age = (long long)(now - m->env.ctime);
	int hold = park || lifetime_over(q, m, now);
	struct kv k;

	r->attempts++;
	rcpt_error(r, reason);
	if (hold) {
		if (spool_mark(m->fd, r->off, RCPT_HELD) == -1)
			log_warn("queue: mark qid=%s rcpt=%s", m->env.qid,
			    r->addr);
		r->status = RCPT_HELD;
		m->marked = 1;
	} else
		m->deferred = 1;
	kv_begin(&k, hold ? "hold" : "defer");
	ctr_add(hold ? CTR_HELD : CTR_DEFERRED, 1);
	kv_str(&k, "qid", m->env.qid);
	kv_str(&k, "rcpt", r->addr);
	if (target != NULL)
		kv_str(&k, "to", target);
	kv_str(&k, "reason", reason);
	kv_uint(&k, "attempts", r->attempts);
	if (hold)
		kv_int(&k, "age", age);
	else
		kv_uint(&k, "retry_in", m->backoff);
	kv_emit(&k);
}

int
deliver_target(struct queue *q, struct qmsg *m, size_t i, char *target,
    size_t size)
{
	const struct conf *cf = q->conf;
	struct spool_rcpt *r = &m->env.rcpt[i];
	char local[SPOOL_ADDR_MAX], domain[SPOOL_ADDR_MAX];
	int res;

	if (rcpt_split(r->addr, local, sizeof(local), domain,
	    sizeof(domain)) == -1) {
		deliver_rcpt_fail(q, m, i, NULL, "bad address", 0);
		return -1;
	}
	res = rcpt_lookup(&q->rcptmap, local, domain, cf->local_part_fold,
	    target, size, NULL, 0);
	if (res != 1) {
		deliver_rcpt_fail(q, m, i, NULL, res == 0 ? "no recipient map "
		    "entry" : "recipient map unavailable", 0);
		return -1;
	}
	if (strncmp(target, MAILDIR_PREFIX, strlen(MAILDIR_PREFIX)) != 0 &&
	    strncmp(target, LMTP_PREFIX, strlen(LMTP_PREFIX)) != 0 &&
	    cf->delivery[0] != '\0')
		(void)snprintf(target, size, "%s", cf->delivery);
	return 0;
}

/*
 * One recipient of a batch: look it up and start its maildir job.  1: a
 * job was started in j; 0: it failed at once (already logged, marked).
 */
static int
rcpt_start(struct queue *q, struct qmsg *m, size_t i, struct djob *j,
    struct maildir_job *mj)
{
	const struct conf *cf = q->conf;
	struct spool_rcpt *r = &m->env.rcpt[i];
	char path[CONF_PATH_MAX * 2], name[MAILDIR_NAME_MAX], err[512];
	struct maildir_src src;

	err[0] = '\0';
	if (deliver_target(q, m, i, j->target, sizeof(j->target)) == -1)
		return 0;
	if (strncmp(j->target, LMTP_PREFIX, strlen(LMTP_PREFIX)) == 0) {
		if (deliver_lmtp_note(m, i) == -1)
			deliver_rcpt_fail(q, m, i, j->target, "out of memory", 0);
		return 0;		/* it goes at the end of the pass */
	}
	if (maildir_path(cf->mail_root, j->target, path, sizeof(path), err,
	    sizeof(err)) == -1 || maildir_name(name, sizeof(name),
	    m->env.ctime, m->env.qid, (unsigned)i, cf->hostname) == -1) {
		deliver_rcpt_fail(q, m, i, j->target, err[0] ? err :
		    "name too long", 0);
		return 0;
	}
	src.fd = m->fd;
	src.off = m->env.body_off;
	src.len = m->env.body_len;
	src.sender = m->env.sender;
	maildir_start(mj, cf->mail_root, path, name, &src, r->addr,
	    m->recovered);
	j->m = m;
	j->rcpt = i;
	return 1;
}

/*
 * Finish the batch: fsync every file, link them all, fsync each new/
 * folder once, and only then mark the recipients.
 */
static void
batch_finish(struct queue *q, size_t n)
{
	struct maildir_job *mj = mjobs;
	size_t i;
	int res;

	maildir_sync(mj, n);
	for (i = 0; i < n; i++)
		maildir_link(&mj[i]);
	for (i = 0; i < n; i++)
		maildir_sync_new(mj, n, i);
	for (i = 0; i < n; i++) {
		res = maildir_end(&mj[i]);
		if (res >= 0)
			deliver_rcpt_ok(q, jobs[i].m, jobs[i].rcpt,
			    jobs[i].target, res == 1);
		else
			deliver_rcpt_fail(q, jobs[i].m, jobs[i].rcpt,
			    jobs[i].target, mj[i].err, 0);
	}
}

/* ---- passes ---- */

static int
pass_start(struct queue *q, struct qmsg *m)
{
	if ((m->fd = spool_open_entry(&q->sp, m->env.qid)) == -1) {
		if (errno == ENOENT) {
			log_warnx("queue: qid=%s vanished from queue/",
			    m->env.qid);
			msg_free(&q->tab, m);
			return -1;
		}
		log_warn("queue: open qid=%s", m->env.qid);
		msg_defer(&q->tab, m, queue_now_ms() + m->backoff * 1000LL);
		m->backoff = deliver_backoff_next(q->conf, m->backoff);
		return -1;
	}
	m->cursor = 0;
	m->deferred = 0;
	m->marked = 0;
	return 0;
}

static void
pass_close(struct qmsg *m)
{
	if (m->marked && fdatasync(m->fd) == -1)
		log_warn("queue: sync marks of qid=%s", m->env.qid);
	close(m->fd);
	m->fd = -1;
	m->recovered = 0;
}

/* A pass cut short has not looked at every recipient: keep recovered. */
void
deliver_stop(struct qmsg *m)
{
	int recovered = m->recovered;

	if (m->fd == -1)
		return;
	pass_close(m);
	m->recovered = recovered;
}

static void
log_moved(struct qmsg *m, size_t held)
{
	struct kv k;

	kv_begin(&k, "hold");
	kv_str(&k, "qid", m->env.qid);
	kv_str(&k, "folder", "hold");
	kv_uint(&k, "held", held);
	kv_uint(&k, "delivered", m->env.nrcpt - held);
	kv_emit(&k);
}

void
deliver_pass_finish(struct queue *q, struct qmsg *m)
{
	size_t i, held = 0;

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpt[i].status == RCPT_HELD)
			held++;
	if (!m->deferred && held == 0) {
		m->marked = 0;		/* going away: no sync needed */
		pass_close(m);
		if (spool_remove(&q->sp, m->env.qid) == -1)
			log_warn("queue: remove qid=%s", m->env.qid);
		msg_free(&q->tab, m);
		return;
	}
	pass_close(m);
	if (!m->deferred) {
		if (spool_hold(&q->sp, m->env.qid) == 0) {
			log_moved(m, held);
			msg_free(&q->tab, m);
			return;
		}
		log_warn("queue: hold qid=%s", m->env.qid);
	}
	msg_defer(&q->tab, m, queue_now_ms() + m->backoff * 1000LL);
	m->backoff = deliver_backoff_next(q->conf, m->backoff);
}

/* Gather up to a slice of recipients from the ready entries, in order. */
static size_t
batch_gather(struct queue *q)
{
	int64_t start = queue_now_ms();
	struct qmsg *m, *next;
	size_t i, n = 0, tried = 0;

	for (m = TAILQ_FIRST(&q->tab.ready); m != NULL; m = next) {
		next = TAILQ_NEXT(m, link);
		if (m->fd == -1) {
			if (q->draining || tried >= QUEUE_SLICE_RCPTS)
				break;
			if (pass_start(q, m) == -1)
				continue;
		}
		while (m->cursor < m->env.nrcpt && tried < QUEUE_SLICE_RCPTS &&
		    queue_now_ms() - start < QUEUE_SLICE_MS) {
			i = m->cursor++;
			if (m->env.rcpt[i].status != RCPT_PENDING)
				continue;
			tried++;
			if (rcpt_start(q, m, i, &jobs[n], &mjobs[n]))
				n++;
		}
		if (m->cursor < m->env.nrcpt)
			break;		/* this slice is spent */
	}
	return n;
}

int
deliver_slice(struct queue *q)
{
	struct qmsg *m;

	batch_finish(q, batch_gather(q));
	/* the passes the batch completed are at the head of ready */
	while ((m = TAILQ_FIRST(&q->tab.ready)) != NULL && m->fd != -1 &&
	    m->cursor >= m->env.nrcpt) {
		if (m->lmtp != NULL && deliver_lmtp_submit(q, m) > 0) {
			msg_move(&q->tab, m, QL_WAIT);
			deliver_lmtp_pump(q);
		} else
			deliver_pass_finish(q, m);
	}
	m = TAILQ_FIRST(&q->tab.ready);
	return m != NULL && (!q->draining || m->fd != -1);
}
