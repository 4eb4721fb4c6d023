/*
 * commit: the worker side of the protocol (COMMIT, CONFIRM, ABORT) and
 * recovery of the spool at start-up.
 *
 * A commit is written to tmp/ when its frame arrives; at the end of the
 * loop turn every file of the turn is fsynced and renamed into queue/,
 * and one fsync of queue/ covers every rename (group commit).  Only then
 * does COMMIT_OK go out: the reply is never sent before the entry and
 * its name are durable.  A committed entry is unconfirmed (state U)
 * until the worker's CONFIRM, which it sends before it writes the 250
 * (so a U entry is one whose 250 no client can have); only confirmed
 * entries are delivered.  Hence the rules:
 *
 *   - CONFIRM: mark C in place, deliver in this loop turn if the slice
 *     reaches it, then CONFIRM_OK once the entry is delivered or, if it
 *     is still queued, once its mark is fdatasynced (commit_acks);
 *   - ABORT (the 250 never went out in full), or the worker's channel
 *     closing while the entry is still U: the client has no 250 and will
 *     send again, so discard it; a confirmed entry is discarded too if
 *     nothing of it is delivered yet, else delivered;
 *   - after a queue restart, U entries wait QUEUE_GRACE_MS for a worker
 *     to resend its CONFIRM (workers keep them until CONFIRM_OK), then
 *     go.  At the daemon's first start no worker can speak for them: a
 *     machine that stopped may have lost a C mark not yet synced, so
 *     they are delivered (a possible duplicate, never a loss).
 *
 * The worker is less trusted than we are: every field is checked, and a
 * frame that does not decode, names a malformed queue id, a recipient
 * count out of bounds or a size that is not the descriptor's closes the
 * channel.  Fields that merely carry client text we will not store get a
 * 451 instead, so one odd client cannot cut off a whole worker.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../smtpd/log.h"
#include "queue.h"
#include "syncpool.h"

static struct commit_req commit_req;

/* ---- replies ---- */

void
commit_refuse(struct queue *q, struct chan *c, uint64_t ticket,
    unsigned code, const char *enh, const char *text, const char *cls,
    unsigned block)
{
	struct frame *f = &q->out;

	frame_init(f, FRAME_COMMIT_FAIL);
	frame_put_u64(f, ticket);
	frame_put_u32(f, code);
	frame_put_str(f, enh);
	frame_put_str(f, text);
	frame_put_str(f, cls);
	frame_put_u32(f, block);
	chan_send(q, c, f);
}

static void
reply_fail(struct queue *q, struct chan *c, uint64_t ticket, unsigned code,
    const char *enh, const char *text)
{
	commit_refuse(q, c, ticket, code, enh, text, "", 0);
}

static void
reply_qid(struct queue *q, struct chan *c, uint32_t type, uint64_t ticket,
    const char *qid)
{
	struct frame *f = &q->out;

	frame_init(f, type);
	if (type == FRAME_COMMIT_OK)
		frame_put_u64(f, ticket);
	frame_put_str(f, qid);
	chan_send(q, c, f);
}

static void
discard(struct queue *q, struct qmsg *m, const char *reason)
{
	struct kv k;

	if (spool_remove(&q->sp, m->env.qid) == -1 && errno != ENOENT)
		log_warn("queue: remove qid=%s", m->env.qid);
	kv_begin(&k, "discard");
	kv_str(&k, "qid", m->env.qid);
	kv_str(&k, "reason", reason);
	kv_emit(&k);
	msg_free(&q->tab, m);
}

/* ---- COMMIT ---- */

static const char *
decode_commit(struct frame *f, struct commit_req *r)
{
	struct stat st;

	r->ticket = frame_get_u64(f);
	frame_get_str(f, r->qid, sizeof(r->qid));
	frame_get_str(f, r->ip, sizeof(r->ip));
	frame_get_str(f, r->ptr, sizeof(r->ptr));
	frame_get_str(f, r->helo, sizeof(r->helo));
	frame_get_str(f, r->sender, sizeof(r->sender));
	r->nrcpt = frame_get_u32(f);
	if (f->bad)
		return "malformed envelope";
	if (r->nrcpt < 1 || r->nrcpt > SPOOL_RCPT_MAX)
		return "bad recipient count";
	frame_get_strv(f, r->arena, sizeof(r->arena), SPOOL_ADDR_MAX,
	    r->rcpt, r->nrcpt);
	if (f->bad)
		return "malformed recipient";
	r->size = frame_get_u64(f);
	r->port = frame_get_u32(f);
	frame_get_str(f, r->ptr_any, sizeof(r->ptr_any));
	r->ptr_verified = frame_get_u32(f);
	frame_get_str(f, r->tls, sizeof(r->tls));
	frame_get_str(f, r->dnsbl, sizeof(r->dnsbl));
	frame_get_str(f, r->greylist, sizeof(r->greylist));
	if (frame_end(f) != 0)
		return "malformed or trailing bytes";
	if (!spool_qid_valid(r->qid))
		return "bad queue id";
	if (f->fd == -1)
		return "no message descriptor";
	if (fstat(f->fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != r->size)
		return "message size does not match its descriptor";
	return NULL;
}

static int
has_room(struct queue *q)
{
	uint64_t avail;

	if (q->conf->min_free_space == 0)
		return 1;
	if (spool_free_space(&q->sp, &avail) == -1)
		return 1;	/* the write itself will tell */
	return avail >= q->conf->min_free_space;
}

static int
pending_push(struct pendlist *l, unsigned chan, uint64_t ticket,
    const char *qid, int fd)
{
	struct pending *p;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;

		if ((p = reallocarray(l->v, ncap, sizeof(*p))) == NULL)
			return -1;
		l->v = p;
		l->cap = ncap;
	}
	p = &l->v[l->n++];
	p->chan = chan;
	p->ticket = ticket;
	p->fd = fd;
	memcpy(p->qid, qid, QID_LEN + 1);
	return 0;
}

int
commit_store(struct queue *q, struct chan *c, const struct commit_req *r,
    int fd, const char *added, size_t addlen)
{
	struct spool_env env;
	const char *why;
	struct qmsg *m;
	int sfd;

	if (spool_env_init(&env, r->qid, time(NULL), r->ip, r->ptr, r->helo,
	    r->sender, r->rcpt, r->nrcpt, &why) == -1) {
		log_warnx("queue: commit qid=%s refused: %s", r->qid, why);
		reply_fail(q, c, r->ticket, 451, "4.3.0",
		    "Error: message not queued, try again later");
		return -1;
	}
	if ((sfd = spool_commit_start(&q->sp, &env, fd, r->size, added,
	    addlen)) == -1) {
		log_warn("queue: commit qid=%s", r->qid);
		spool_env_free(&env);
		reply_fail(q, c, r->ticket, 451, "4.3.0",
		    "Error: queue file write error");
		return -1;
	}
	if ((m = msg_new()) == NULL ||
	    pending_push(&q->pend, c->id, r->ticket, r->qid, sfd) == -1) {
		log_warn("queue: commit qid=%s", r->qid);
		spool_commit_cancel(&q->sp, r->qid, sfd);
		spool_env_free(&env);
		free(m);
		reply_fail(q, c, r->ticket, 451, "4.3.0",
		    "Error: out of memory");
		return -1;
	}
	m->env = env;
	m->owner = c->id;
	m->backoff = q->conf->retry_min;
	msg_add(&q->tab, m, QL_UNCONF);
	return 0;
}

static const char *
commit_msg(struct queue *q, struct chan *c, struct frame *f)
{
	struct commit_req *r = &commit_req;
	const char *bad;
	int dup;

	if ((bad = decode_commit(f, r)) != NULL)
		return bad;
	if (q->draining) {
		reply_fail(q, c, r->ticket, 421, "4.3.2",
		    "Service shutting down, try again later");
		return NULL;
	}
	if (!has_room(q)) {
		log_warnx("queue: spool below min_free_space, qid=%s refused",
		    r->qid);
		reply_fail(q, c, r->ticket, 452, "4.3.1",
		    "Insufficient system storage");
		return NULL;
	}
	dup = msg_find(&q->tab, r->qid) != NULL ||
	    spool_exists(&q->sp, r->qid) != 0;
	if (dup) {
		log_warnx("queue: commit qid=%s refused: id in use", r->qid);
		reply_fail(q, c, r->ticket, 451, "4.3.0",
		    "Error: queue id in use, try again");
		return NULL;
	}
	if (q->conf->nfilters > 0) {
		filterq_submit(q, c, r, f->fd);
		return NULL;
	}
	(void)commit_store(q, c, r, f->fd, NULL, 0);
	return NULL;
}

/* fsync every file of the turn at once (see syncpool.h). */
static void
sync_files(struct queue *q)
{
	int fds[SYNCPOOL_BATCH], errs[SYNCPOOL_BATCH];
	size_t k, done, chunk;

	for (done = 0; done < q->pend.n; done += chunk) {
		chunk = q->pend.n - done < SYNCPOOL_BATCH ? q->pend.n - done :
		    SYNCPOOL_BATCH;
		for (k = 0; k < chunk; k++)
			fds[k] = q->pend.v[done + k].fd;
		syncpool_fsync(fds, errs, chunk);
		for (k = 0; k < chunk; k++)
			q->pend.v[done + k].sync_err = errs[k];
	}
}

/*
 * fsync and rename each file of the turn (their write-back started when
 * they were written, so most of it is done by now).  A commit whose entry
 * is gone (aborted, its worker gone) is dropped; one that fails is
 * refused with 451.
 */
static void
flush_files(struct queue *q)
{
	struct pending *p;
	struct qmsg *m;
	size_t i;

	sync_files(q);
	for (i = 0; i < q->pend.n; i++) {
		p = &q->pend.v[i];
		if ((m = msg_find(&q->tab, p->qid)) == NULL) {
			spool_commit_cancel(&q->sp, p->qid, p->fd);
		} else if (p->sync_err != 0 ||
		    spool_commit_end(&q->sp, p->qid, p->fd) == -1) {
			if (p->sync_err != 0) {
				errno = p->sync_err;
				spool_commit_cancel(&q->sp, p->qid, p->fd);
			}
			log_warn("queue: commit qid=%s", p->qid);
			msg_free(&q->tab, m);
			reply_fail(q, chan_by_id(q, p->chan), p->ticket, 451,
			    "4.3.0", "Error: queue file write error");
		}
		p->fd = -1;
	}
}

void
commit_flush(struct queue *q)
{
	struct pending *p;
	struct qmsg *m;
	size_t i;
	int r;

	if (q->pend.n == 0)
		return;
	flush_files(q);
	if ((r = spool_sync_queue(&q->sp)) == -1)
		log_warn("queue: fsync of queue/ failed, %zu commits refused",
		    q->pend.n);
	for (i = 0; i < q->pend.n; i++) {
		p = &q->pend.v[i];
		if ((m = msg_find(&q->tab, p->qid)) == NULL)
			continue;	/* aborted, its worker gone, failed */
		if (r == 0) {
			m->synced = 1;
			reply_qid(q, chan_by_id(q, p->chan), FRAME_COMMIT_OK,
			    p->ticket, p->qid);
		} else {
			discard(q, m, "fsync-failed");
			reply_fail(q, chan_by_id(q, p->chan), p->ticket, 451,
			    "4.3.0", "Error: queue file write error");
		}
	}
	q->pend.n = 0;
}

/* ---- CONFIRM and ABORT ---- */

static const char *
decode_qid(struct frame *f, char *qid)
{
	frame_get_str(f, qid, QID_LEN + 1);
	if (frame_end(f) != 0)
		return "malformed";
	if (!spool_qid_valid(qid))
		return "bad queue id";
	return NULL;
}

/* The client may have our 250 from here on: delivered or held. */
static int
mark_confirmed(struct queue *q, struct qmsg *m)
{
	m->owner = 0;
	msg_move(&q->tab, m, QL_READY);
	if (spool_confirm(&q->sp, &m->env) == 0)
		return 0;
	log_warn("queue: confirm qid=%s not recorded; delivering it anyway",
	    m->env.qid);
	m->env.state = SPOOL_CONFIRMED;
	return -1;
}

/* Answer now, or (for a known entry) at the end of the turn. */
static void
confirm_reply(struct queue *q, struct chan *c, struct qmsg *m)
{
	if (m != NULL && pending_push(&q->acks, c->id, 0, m->env.qid, -1) == 0)
		return;
	if (m != NULL && spool_sync_entry(&q->sp, m->env.qid) == -1) {
		log_warn("queue: sync of qid=%s failed", m->env.qid);
		return;		/* no CONFIRM_OK: the worker keeps it */
	}
	reply_qid(q, c, FRAME_CONFIRM_OK, 0, m ? m->env.qid : "");
}

static const char *
commit_confirm(struct queue *q, struct chan *c, struct frame *f)
{
	char qid[QID_LEN + 1];
	const char *bad;
	struct qmsg *m;

	if ((bad = decode_qid(f, qid)) != NULL)
		return bad;
	if ((m = msg_find(&q->tab, qid)) != NULL && !m->synced) {
		commit_flush(q);	/* a confirm never overtakes its commit */
		m = msg_find(&q->tab, qid);
	}
	if (m == NULL) {
		log_warnx("queue: confirm for unknown qid=%s (delivered "
		    "already, or discarded after the grace period)", qid);
		reply_qid(q, c, FRAME_CONFIRM_OK, 0, qid);
		return NULL;
	}
	if (m->env.state != SPOOL_CONFIRMED && mark_confirmed(q, m) == -1)
		return NULL;	/* no CONFIRM_OK: the worker keeps it */
	confirm_reply(q, c, m);
	return NULL;
}

/*
 * The turn's CONFIRM_OK replies, after its delivery slice.  An entry
 * that is gone was delivered to every recipient (or held): the maildir
 * copies are durable, so the confirmation no longer matters.  An entry
 * still queued has its C mark fdatasynced first.  Either way the worker
 * learns that the message is safe only once it is.
 */
void
commit_acks(struct queue *q)
{
	struct pending *p;
	size_t i;

	for (i = 0; i < q->acks.n; i++) {
		p = &q->acks.v[i];
		if (msg_find(&q->tab, p->qid) != NULL &&
		    spool_sync_entry(&q->sp, p->qid) == -1) {
			if (errno == ENOENT)
				continue;	/* vanished: logged on delivery */
			log_warn("queue: sync of confirmed qid=%s failed; "
			    "the worker keeps the confirmation", p->qid);
			continue;
		}
		reply_qid(q, chan_by_id(q, p->chan), FRAME_CONFIRM_OK, 0,
		    p->qid);
	}
	q->acks.n = 0;
}

/* Confirmed, but no recipient delivered, held or tried yet. */
static int
untouched(const struct qmsg *m)
{
	size_t i;

	if (m->list != QL_READY || m->fd != -1)
		return 0;
	for (i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpt[i].status != RCPT_PENDING ||
		    m->env.rcpt[i].attempts != 0)
			return 0;
	return 1;
}

static const char *
commit_abort(struct queue *q, struct frame *f)
{
	char qid[QID_LEN + 1];
	const char *bad;
	struct qmsg *m;

	if ((bad = decode_qid(f, qid)) != NULL)
		return bad;
	if ((m = msg_find(&q->tab, qid)) == NULL)
		log_debug("queue: abort for unknown qid=%s", qid);
	else if (m->env.state != SPOOL_CONFIRMED || untouched(m))
		discard(q, m, "abort");
	else
		log_warnx("queue: abort for qid=%s after its delivery began; "
		    "it is delivered (the client may send it again)", qid);
	return NULL;
}

const char *
commit_frame(struct queue *q, struct chan *c, struct frame *f)
{
	switch (f->type) {
	case FRAME_COMMIT:
		return commit_msg(q, c, f);
	case FRAME_CONFIRM:
		return f->fd == -1 ? commit_confirm(q, c, f) : "descriptor";
	case FRAME_ABORT:
		return f->fd == -1 ? commit_abort(q, f) : "descriptor";
	}
	return "unexpected frame type";
}

/* ---- channels going away, start-up, grace ---- */

void
commit_chan_closed(struct queue *q, unsigned chan_id)
{
	struct qmsg *m, *next;

	for (m = TAILQ_FIRST(&q->tab.unconf); m != NULL; m = next) {
		next = TAILQ_NEXT(m, link);
		if (m->owner == chan_id)
			discard(q, m, "unconfirmed");
	}
	filterq_chan_closed(q, chan_id);
}

size_t
commit_outstanding(struct queue *q)
{
	struct qmsg *m;
	size_t n = 0;

	TAILQ_FOREACH(m, &q->tab.unconf, link)
		if (m->owner != 0)
			n++;
	return n;
}

void
commit_grace_expired(struct queue *q)
{
	struct qmsg *m, *next;

	for (m = TAILQ_FIRST(&q->tab.unconf); m != NULL; m = next) {
		next = TAILQ_NEXT(m, link);
		if (m->owner == 0 && m->recovered)
			discard(q, m, "unconfirmed");
	}
	q->grace_until = 0;
}

/*
 * Found unconfirmed at the daemon's first start: its CONFIRM may have
 * been read and the machine stopped before the C mark was on disk, so
 * it is delivered; if its client got no 250, it arrives twice.
 */
static void
orphan(struct queue *q, struct qmsg *m)
{
	struct kv k;

	kv_begin(&k, "orphan");
	kv_str(&k, "qid", m->env.qid);
	kv_str(&k, "reason", "unconfirmed-at-start");
	kv_emit(&k);
	(void)mark_confirmed(q, m);	/* a failure is logged there */
}

static void
recover_one(const char *qid, void *arg)
{
	struct queue *q = arg;
	struct qmsg *m;

	if ((m = msg_new()) == NULL)
		fatal("queue: recover");
	if (spool_load(&q->sp, qid, 0, &m->env) == -1) {
		log_warn("queue: cannot read queue/%s; moving it to hold/",
		    qid);
		free(m);
		if (spool_hold(&q->sp, qid) == -1)
			log_warn("queue: hold qid=%s", qid);
		return;
	}
	m->recovered = 1;
	m->synced = 1;
	m->backoff = q->conf->retry_min;
	if (m->env.state == SPOOL_CONFIRMED) {
		msg_add(&q->tab, m, QL_READY);
	} else if (q->first_start) {
		msg_add(&q->tab, m, QL_UNCONF);
		orphan(q, m);
	} else {
		msg_add(&q->tab, m, QL_UNCONF);
		q->grace_until = queue_now_ms() + QUEUE_GRACE_MS;
	}
}

void
commit_recover(struct queue *q)
{
	struct qmsg *m;
	size_t unconf = 0;
	int n;

	if ((n = spool_clean_tmp(&q->sp)) == -1)
		fatal("queue: cannot read %s/tmp", q->conf->spool);
	if (n > 0)
		log_info("queue", "removed %d unfinished file(s) from tmp/", n);
	if (spool_collect_free(&q->sp) == -1)
		fatal("queue: cannot read %s/free", q->conf->spool);
	if (spool_scan(&q->sp, recover_one, q) == -1)
		fatal("queue: cannot read %s/queue", q->conf->spool);
	TAILQ_FOREACH(m, &q->tab.unconf, link)
		unconf++;
	log_info("queue", "started: %zu entries in the spool, %zu of them "
	    "unconfirmed", q->tab.count, unconf);
}
