/*
 * qctl: the operator's requests (moatctl queue, flush), relayed by the
 * parent as FRAME_CTL_REQUEST (smtpd/control.h).
 *
 * They are handled like any other frame of the parent, between two
 * delivery slices, so no maildir file of any entry is in flight: a pass
 * in progress (an entry at the head of ready, its file open) is simply
 * ended early, its marks synced, before its entry is moved or removed.
 * Every recipient is therefore either marked delivered on disk or still
 * pending, and a hold or delete can neither lose nor repeat one.
 *
 *   list     every entry in memory, then every entry in hold/, into a
 *            memfd passed back with the reply (queue/listing.h)
 *   flush    every deferred entry due now
 *   hold     queue/QID -> hold/QID; its file fdatasynced first, so the
 *            marks and the confirmation travel with it
 *   release  hold/QID -> queue/QID, its H recipients pending again, tried
 *            at once; queue_lifetime counts from the release, in memory
 *   delete   queue/QID or hold/QID unlinked, the folder fsynced
 *
 * An unconfirmed entry is refused (hold, delete): its worker may still
 * confirm or abort it.  Each action is one log line; list is none.
 */
#include <sys/mman.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../smtpd/buf.h"
#include "../smtpd/control.h"
#include "../smtpd/log.h"
#include "listing.h"
#include "queue.h"

static void
qctl_reply(struct queue *q, uint64_t tag, uint32_t status, int fd,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
qctl_reply(struct queue *q, uint64_t tag, uint32_t status, int fd,
    const char *fmt, ...)
{
	char text[CTL_TEXT_MAX];
	struct frame *f = &q->out;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	frame_init(f, FRAME_CTL_REPLY);
	frame_put_u64(f, tag);
	frame_put_u32(f, status);
	frame_put_str(f, text);
	chan_send_fd(q, q->parent, f, fd);
}

/* ---- list ---- */

static int
entry_state(const struct qmsg *m)
{
	switch (m->list) {
	case QL_UNCONF:
		return LS_UNCONFIRMED;
	case QL_DEFER:
		return LS_DEFERRED;
	default:
		return m->fd != -1 ? LS_DELIVERING : LS_READY;
	}
}

static void
list_one(FILE *fp, const struct qmsg *m, int64_t now)
{
	long long next = -1;
	size_t i;

	if (m->list == QL_DEFER)
		next = m->due <= now ? 0 : (m->due - now + 999) / 1000;
	else if (m->list == QL_READY)
		next = 0;
	listing_put_entry(fp, m->env.qid, entry_state(m), m->env.ctime, next,
	    m->env.sender);
	for (i = 0; i < m->env.nrcpt; i++)
		listing_put_rcpt(fp, &m->env.rcpt[i]);
}

static void
list_queued(struct queue *q, FILE *fp)
{
	struct qmsg_head *heads[] = { &q->tab.unconf, &q->tab.ready,
	    &q->tab.defer };
	int64_t now = queue_now_ms();
	struct qmsg *m;
	size_t i;

	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
		TAILQ_FOREACH(m, heads[i], link)
			list_one(fp, m, now);
}

struct held_walk {
	struct queue	*q;
	FILE		*fp;
};

static void
list_held_one(const char *qid, void *arg)
{
	struct held_walk *w = arg;
	struct spool_env env;
	size_t i;

	if (spool_load(&w->q->sp, qid, 1, &env) == -1) {
		listing_put_entry(w->fp, qid, LS_UNREADABLE, 0, -1, "");
		return;
	}
	listing_put_entry(w->fp, qid, LS_HELD, env.ctime, -1, env.sender);
	for (i = 0; i < env.nrcpt; i++)
		listing_put_rcpt(w->fp, &env.rcpt[i]);
	spool_env_free(&env);
}

/* The listing in a memfd, or -1 (logged). */
static int
list_write(struct queue *q)
{
	struct held_walk w = { q, NULL };
	int fd, dupfd, r;

	if ((fd = memfd_create("moat-queue-list", MFD_CLOEXEC)) == -1) {
		log_warn("queue: listing: memfd_create");
		return -1;
	}
	if ((dupfd = dup(fd)) == -1 || (w.fp = fdopen(dupfd, "w")) == NULL) {
		log_warn("queue: listing");
		if (dupfd != -1)
			close(dupfd);
		close(fd);
		return -1;
	}
	listing_begin(w.fp);
	list_queued(q, w.fp);
	r = spool_scan_hold(&q->sp, list_held_one, &w);
	if (r == -1)
		log_warn("queue: listing: cannot read %s/hold", q->conf->spool);
	if (fclose(w.fp) == EOF || r == -1) {
		if (r == 0)
			log_warn("queue: listing");
		close(fd);
		return -1;
	}
	return fd;
}

static void
qctl_list(struct queue *q, uint64_t tag)
{
	int fd;

	if ((fd = list_write(q)) == -1) {
		qctl_reply(q, tag, CTL_FAILED, -1, "the queue could not write "
		    "its listing (see the log)");
		return;
	}
	qctl_reply(q, tag, CTL_OK, fd, "%zu entries in queue/", q->tab.count);
	close(fd);
}

/* ---- flush ---- */

static void
qctl_flush(struct queue *q, uint64_t tag)
{
	size_t n = msg_due(&q->tab, -1);

	log_info("flush", "%zu deferred entries due now", n);
	qctl_reply(q, tag, CTL_OK, -1, "%zu deferred %s due now", n,
	    n == 1 ? "entry" : "entries");
}

/* ---- hold, release, delete ---- */

static size_t
count_status(const struct spool_env *e, char status)
{
	size_t i, n = 0;

	for (i = 0; i < e->nrcpt; i++)
		n += e->rcpt[i].status == status;
	return n;
}

/* The entry the op names, in memory and confirmed; else replied to. */
static struct qmsg *
qctl_queued(struct queue *q, uint64_t tag, const char *qid)
{
	struct qmsg *m = msg_find(&q->tab, qid);
	struct spool_env env;

	if (m != NULL && m->list == QL_WAIT) {
		qctl_reply(q, tag, CTL_REFUSED, -1, "%s is being delivered "
		    "over LMTP; try again in a moment", qid);
		return NULL;
	}
	if (m != NULL && m->list != QL_UNCONF)
		return m;
	if (m != NULL)
		qctl_reply(q, tag, CTL_REFUSED, -1, "%s is not confirmed yet "
		    "(its client may not have our 250); try again", qid);
	else if (spool_load(&q->sp, qid, 1, &env) == 0) {
		spool_env_free(&env);
		qctl_reply(q, tag, CTL_REFUSED, -1, "%s is held already", qid);
	} else if (errno == EINVAL)
		qctl_reply(q, tag, CTL_REFUSED, -1, "%s is held already", qid);
	else if (errno == ENOENT)
		qctl_reply(q, tag, CTL_UNKNOWN, -1, "%s: no such entry", qid);
	else {
		log_warn("queue: read hold/%s", qid);
		qctl_reply(q, tag, CTL_FAILED, -1, "hold/%s: %s", qid,
		    strerror(errno));
	}
	return NULL;
}

static void
qctl_hold(struct queue *q, uint64_t tag, const char *qid)
{
	struct qmsg *m;
	struct kv k;

	if ((m = qctl_queued(q, tag, qid)) == NULL)
		return;
	deliver_stop(m);
	if (spool_sync_entry(&q->sp, qid) == -1 ||
	    spool_hold(&q->sp, qid) == -1) {
		log_warn("queue: hold qid=%s", qid);
		qctl_reply(q, tag, CTL_FAILED, -1, "%s not held: %s", qid,
		    strerror(errno));
		return;
	}
	kv_begin(&k, "hold");
	kv_str(&k, "qid", qid);
	kv_str(&k, "by", "moatctl");
	kv_uint(&k, "pending", count_status(&m->env, RCPT_PENDING));
	kv_uint(&k, "delivered", count_status(&m->env, RCPT_DELIVERED));
	kv_emit(&k);
	msg_free(&q->tab, m);
	qctl_reply(q, tag, CTL_OK, -1, "%s held", qid);
}

static void
release_refused(struct queue *q, uint64_t tag, const char *qid)
{
	if (errno == ENOENT)
		qctl_reply(q, tag, CTL_UNKNOWN, -1, "%s: no such entry", qid);
	else if (errno == EINVAL)
		qctl_reply(q, tag, CTL_REFUSED, -1, "hold/%s cannot be read "
		    "as a spool entry: mend or delete it", qid);
	else {
		log_warn("queue: release qid=%s", qid);
		qctl_reply(q, tag, CTL_FAILED, -1, "%s not released: %s", qid,
		    strerror(errno));
	}
}

static void
qctl_release(struct queue *q, uint64_t tag, const char *qid)
{
	struct qmsg *m;
	struct kv k;

	if (msg_find(&q->tab, qid) != NULL) {
		qctl_reply(q, tag, CTL_REFUSED, -1, "%s is not held", qid);
		return;
	}
	if ((m = msg_new()) == NULL) {
		log_warn("queue: release qid=%s", qid);
		qctl_reply(q, tag, CTL_FAILED, -1, "out of memory");
		return;
	}
	if (spool_release(&q->sp, qid, &m->env) == -1) {
		release_refused(q, tag, qid);
		free(m);
		return;
	}
	m->recovered = 1;	/* a mark lost before the hold: look first */
	m->synced = 1;
	m->released = time(NULL);
	m->backoff = q->conf->retry_min;
	msg_add(&q->tab, m, QL_READY);
	kv_begin(&k, "release");
	kv_str(&k, "qid", qid);
	kv_str(&k, "by", "moatctl");
	kv_uint(&k, "pending", count_status(&m->env, RCPT_PENDING));
	kv_emit(&k);
	qctl_reply(q, tag, CTL_OK, -1, "%s released", qid);
}

/* Mail destroyed by hand: who would have had it, in the log. */
static void
log_delete(const char *qid, const char *folder, const struct spool_env *e)
{
	struct buf b;
	struct kv k;
	size_t i;

	buf_init(&b, LOG_LINE_MAX);
	for (i = 0; e != NULL && i < e->nrcpt; i++)
		if (e->rcpt[i].status != RCPT_DELIVERED)
			(void)buf_appendf(&b, "%s%s", b.len ? "," : "",
			    e->rcpt[i].addr);
	kv_begin(&k, "delete");
	kv_str(&k, "qid", qid);
	kv_str(&k, "by", "moatctl");
	kv_str(&k, "folder", folder);
	if (e != NULL) {
		kv_str(&k, "from", e->sender);
		kv_uint(&k, "nrcpt", e->nrcpt);
		kv_uint(&k, "undelivered", e->nrcpt -
		    count_status(e, RCPT_DELIVERED));
		kv_strn(&k, "rcpt", b.len ? b.data : "", b.len);
	} else
		kv_str(&k, "note", "unreadable");
	kv_emit(&k);
	buf_free(&b);
}

static void
delete_held(struct queue *q, uint64_t tag, const char *qid)
{
	struct spool_env env;
	int loaded = spool_load(&q->sp, qid, 1, &env) == 0;

	if (!loaded && errno == ENOENT) {
		qctl_reply(q, tag, CTL_UNKNOWN, -1, "%s: no such entry", qid);
		return;
	}
	if (spool_delete(&q->sp, qid, 1) == -1) {
		log_warn("queue: delete hold/%s", qid);
		qctl_reply(q, tag, errno == ENOENT ? CTL_UNKNOWN : CTL_FAILED,
		    -1, "%s not deleted: %s", qid, strerror(errno));
	} else {
		log_delete(qid, "hold", loaded ? &env : NULL);
		qctl_reply(q, tag, CTL_OK, -1, "%s deleted", qid);
	}
	if (loaded)
		spool_env_free(&env);
}

static void
qctl_delete(struct queue *q, uint64_t tag, const char *qid)
{
	struct qmsg *m = msg_find(&q->tab, qid);

	if (m == NULL) {
		delete_held(q, tag, qid);
		return;
	}
	if (m->list == QL_UNCONF || m->list == QL_WAIT) {
		qctl_reply(q, tag, CTL_REFUSED, -1, m->list == QL_WAIT ?
		    "%s is being delivered over LMTP; try again in a moment" :
		    "%s is not confirmed yet (its client may not have our "
		    "250); try again", qid);
		return;
	}
	deliver_stop(m);
	if (spool_delete(&q->sp, qid, 0) == -1) {
		log_warn("queue: delete queue/%s", qid);
		qctl_reply(q, tag, CTL_FAILED, -1, "%s not deleted: %s", qid,
		    strerror(errno));
		return;
	}
	log_delete(qid, "queue", &m->env);
	msg_free(&q->tab, m);
	qctl_reply(q, tag, CTL_OK, -1, "%s deleted", qid);
}

/* ---- the frame ---- */

const char *
qctl_frame(struct queue *q, struct frame *f)
{
	char qid[QID_LEN + 1];
	uint64_t tag;
	uint32_t op;

	tag = frame_get_u64(f);
	op = frame_get_u32(f);
	frame_get_str(f, qid, sizeof(qid));
	if (frame_end(f) != 0 || tag == 0 || f->fd != -1)
		return "malformed";
	if (op < CTL_LIST || op > CTL_OP_MAX)
		return "unknown operation";
	if ((op == CTL_LIST || op == CTL_FLUSH) ? qid[0] != '\0' :
	    !spool_qid_valid(qid))
		return "bad queue id";
	switch (op) {
	case CTL_LIST:		qctl_list(q, tag); break;
	case CTL_FLUSH:		qctl_flush(q, tag); break;
	case CTL_HOLD:		qctl_hold(q, tag, qid); break;
	case CTL_RELEASE:	qctl_release(q, tag, qid); break;
	case CTL_DELETE:	qctl_delete(q, tag, qid); break;
	}
	return NULL;
}
