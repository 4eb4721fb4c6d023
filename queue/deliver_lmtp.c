/*
 * deliver_lmtp: recipients whose target is lmtp:..., delivered through
 * the LMTP helpers (lmtphelper.h) so the loop never waits on a server.
 *
 * A pass notes its LMTP recipients as it goes; at its end they are
 * grouped by target into jobs of at most LMTP_JOB_RCPTS, one LMTP
 * transaction each, and the entry waits (list wait) until every job is
 * answered; then the pass finishes as any other.  At most LMTP_HELPERS
 * jobs are out at once; the others wait here in order.  Per recipient:
 * 2xx delivered; 4xx retried with the entry; 5xx held at once (moat
 * sends no bounces: a late refusal is the operator's to see, in the log
 * and in hold/); no reply after the message (the server broke off, or
 * the helpers died) retried, which may deliver a second copy: LMTP
 * cannot say what it did with a recipient it did not answer for.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../smtpd/log.h"
#include "lmtphelper.h"
#include "queue.h"

struct ljob {
	uint64_t	 tag;
	struct qmsg	*m;
	char		 target[MAP_VALUE_MAX];
	size_t		 n;
	uint32_t	 idx[LMTP_JOB_RCPTS];	/* the entry's recipients */
	int		 sent;
	int64_t		 deadline;	/* sent: answered by then, monotonic ms */
	TAILQ_ENTRY(ljob) link;
};

static TAILQ_HEAD(, ljob) ljobs = TAILQ_HEAD_INITIALIZER(ljobs);
static unsigned nsent;
static uint64_t next_tag;
static struct frame frame;
static struct lmtp_result results[LMTP_JOB_RCPTS];

static void job_done(struct queue *, struct ljob *, size_t n);

int
deliver_lmtp_note(struct qmsg *m, size_t i)
{
	if (m->lmtp == NULL && (m->lmtp = calloc(m->env.nrcpt, 1)) == NULL)
		return -1;
	m->lmtp[i] = 1;
	return 0;
}

int
deliver_waiting(struct queue *q)
{
	return !TAILQ_EMPTY(&q->tab.wait);
}

/* The job for target, with room for one more recipient, or a new one. */
static struct ljob *
job_for(struct qmsg *m, const char *target)
{
	struct ljob *j;

	TAILQ_FOREACH(j, &ljobs, link)
		if (j->m == m && !j->sent && j->n < LMTP_JOB_RCPTS &&
		    strcmp(j->target, target) == 0)
			return j;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	j->tag = ++next_tag;
	j->m = m;
	(void)snprintf(j->target, sizeof(j->target), "%s", target);
	TAILQ_INSERT_TAIL(&ljobs, j, link);
	m->lmtp_out++;
	return j;
}

static void
job_send(struct queue *q, struct ljob *j)
{
	struct lmtp_job lj;
	size_t k;

	memset(&lj, 0, sizeof(lj));
	lj.tag = j->tag;
	lj.target = j->target;
	lj.helo = q->conf->hostname;
	lj.sender = j->m->env.sender;
	lj.off = j->m->env.body_off;
	lj.len = j->m->env.body_len;
	lj.timeout_s = q->conf->lmtp_timeout;
	lj.n = j->n;
	for (k = 0; k < j->n; k++)
		lj.rcpt[k] = j->m->env.rcpt[j->idx[k]].addr;
	j->sent = 1;
	nsent++;
	/* the helper ends a transaction by 4 timeouts (lmtp.c) */
	j->deadline = queue_now_ms() + (4LL * lj.timeout_s + 30) * 1000;
	if (lmtp_job_put(&frame, &lj) == -1) {
		for (k = 0; k < j->n; k++) {
			results[k].code = 451;
			(void)snprintf(results[k].text, sizeof(results[k].text),
			    "4.3.0 LMTP job too big for its frame");
		}
		job_done(q, j, j->n);
		return;
	}
	chan_send_fd(q, q->lmtp, &frame, j->m->fd);	/* may lose them */
}

static struct ljob *
first_sent(void)
{
	struct ljob *j;

	TAILQ_FOREACH(j, &ljobs, link)
		if (j->sent)
			return j;
	return NULL;
}

static struct ljob *
first_unsent(void)
{
	struct ljob *j;

	TAILQ_FOREACH(j, &ljobs, link)
		if (!j->sent)
			return j;
	return NULL;
}

/*
 * Send what waits, as helpers are free; start them at the first job.  A
 * send may find the helpers gone and end jobs (deliver_lmtp_lost), so
 * the list is looked at anew after each.
 */
void
deliver_lmtp_pump(struct queue *q)
{
	struct ljob *j;

	while (nsent < LMTP_HELPERS && (j = first_unsent()) != NULL) {
		if (q->lmtp == NULL && (q->lmtp = lmtphelper_start(q)) ==
		    NULL) {
			job_done(q, j, 0);	/* retried with the entry */
			continue;
		}
		job_send(q, j);
	}
}

int
deliver_lmtp_submit(struct queue *q, struct qmsg *m)
{
	char target[MAP_VALUE_MAX];
	struct ljob *j;
	size_t i;

	for (i = 0; i < m->env.nrcpt; i++) {
		if (!m->lmtp[i])
			continue;
		m->lmtp[i] = 0;
		if (deliver_target(q, m, i, target, sizeof(target)) == -1)
			continue;		/* failed at once, logged */
		if ((j = job_for(m, target)) == NULL) {
			deliver_rcpt_fail(q, m, i, target, "out of memory", 0);
			continue;
		}
		j->idx[j->n++] = (uint32_t)i;
	}
	return (int)m->lmtp_out;
}

static void
apply(struct queue *q, struct qmsg *m, size_t i, const char *target,
    const struct lmtp_result *r)
{
	char reason[LMTP_TEXT_MAX + 64];

	if (r->code / 100 == 2) {
		deliver_rcpt_ok(q, m, i, target, 0);
		return;
	}
	if (r->code == 0)
		(void)snprintf(reason, sizeof(reason), "LMTP: %s",
		    r->text[0] ? r->text : "no reply after the message: it may "
		    "have been delivered");
	else
		(void)snprintf(reason, sizeof(reason), "LMTP %d %s", r->code,
		    r->text);
	deliver_rcpt_fail(q, m, i, target, reason, r->code / 100 == 5);
}

/* n results in `results` (fewer than the job's: the rest had none). */
static void
job_done(struct queue *q, struct ljob *j, size_t n)
{
	static const struct lmtp_result none = { 0, "" };
	struct qmsg *m = j->m;
	size_t k;

	for (k = 0; k < j->n; k++)
		apply(q, m, j->idx[k], j->target, k < n ? &results[k] : &none);
	if (j->sent)
		nsent--;
	TAILQ_REMOVE(&ljobs, j, link);
	free(j);
	if (--m->lmtp_out == 0)
		deliver_pass_finish(q, m);
}

const char *
deliver_lmtp_frame(struct queue *q, struct frame *f)
{
	const char *bad;
	struct ljob *j;
	uint64_t tag;
	size_t n;

	if (f->type != FRAME_LMTP_DONE)
		return "unexpected frame type";
	if ((bad = lmtp_done_get(f, &tag, results, &n)) != NULL)
		return bad;
	TAILQ_FOREACH(j, &ljobs, link)
		if (j->tag == tag && j->sent)
			break;
	if (j == NULL)
		return "an answer to no job";
	job_done(q, j, n < j->n ? n : j->n);
	deliver_lmtp_pump(q);
	return NULL;
}

/* The helpers are gone: what they had is retried; the loop's next pump
 * starts new ones for the rest. */
void
deliver_lmtp_lost(struct queue *q)
{
	struct ljob *j;

	q->lmtp = NULL;
	lmtphelper_kill();
	while ((j = first_sent()) != NULL)
		job_done(q, j, 0);		/* no reply: retried */
}

/*
 * Once a second while jobs are out: a helper that died, or a job past
 * its deadline (a helper stuck), gives the pool up; every job it had
 * is retried.
 */
void
deliver_lmtp_tick(struct queue *q, int64_t now)
{
	static int64_t last;
	struct ljob *j;

	if (nsent == 0 || now - last < 1000)
		return;
	last = now;
	TAILQ_FOREACH(j, &ljobs, link)
		if (j->sent && j->deadline <= now)
			break;
	if (j == NULL && !lmtphelper_died())
		return;
	log_warnx("queue: an LMTP helper %s; starting new ones", j != NULL ?
	    "did not answer in time" : "died");
	if (q->lmtp != NULL)
		chan_close(q, q->lmtp, "helpers given up");
}
