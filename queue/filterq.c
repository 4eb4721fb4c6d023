/*
 * filterq: messages out to the filter process (filters/filterd.h) until
 * its verdict comes back.
 *
 * With filters configured, a COMMIT is not written to the spool when it
 * arrives: its envelope is kept here, its descriptor goes to filterd in
 * FILTER_RUN, and only when every filter accepted is it stored, with
 * the header fields the filters added; a refusal goes back to the
 * worker as COMMIT_FAIL with the class filter:NAME and any block
 * request.  Nothing refused is ever stored.  At most filter_max_procs
 * messages wait at once (filterd runs one filter per message at a
 * time): the next gets 451 4.3.2 at once.  A worker whose channel
 * closes cancels its messages; if filterd's channel closes, every
 * message waiting fails as one failed filter would (filter_failure).
 */
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../filters/request.h"
#include "../smtpd/log.h"
#include "queue.h"

/* filterd answers within its timeouts; past them and this, it will not */
#define FILTERQ_MARGIN_S	30

struct fpend {
	uint64_t	 ticket;	/* ours, in FILTER_RUN */
	unsigned	 chan;		/* the worker's channel */
	int		 fd;		/* the message */
	int64_t		 expires;	/* monotonic ms */
	struct commit_req req;
	LIST_ENTRY(fpend) link;
};

LIST_HEAD(fpend_list, fpend);

struct filterq {
	struct fpend_list pending;
	size_t		 n;
	uint64_t	 next_ticket;
};

static struct frame frame;
static struct filter_request run;
static struct filter_done done;

static struct filterq *
fq_get(struct queue *q)
{
	if (q->fq == NULL && (q->fq = calloc(1, sizeof(*q->fq))) != NULL)
		LIST_INIT(&q->fq->pending);
	return q->fq;
}

/*
 * An entry is taken off the list before anything is sent for it: a send
 * may close a channel, and closing one cancels or fails what is still
 * listed (filterq_chan_closed, filterq_lost).
 */
static void
fpend_take(struct filterq *fq, struct fpend *p)
{
	LIST_REMOVE(p, link);
	fq->n--;
}

static void
fpend_free(struct fpend *p)
{
	close(p->fd);
	free(p);
}

/* The envelope copied, its recipients pointing into the copy's arena. */
static void
req_copy(struct commit_req *to, const struct commit_req *from)
{
	uint32_t i;

	memcpy(to, from, sizeof(*to));
	for (i = 0; i < from->nrcpt; i++)
		to->rcpt[i] = to->arena + (from->rcpt[i] - from->arena);
}

static void
run_fill(struct filter_request *f, const struct fpend *p)
{
	const struct commit_req *r = &p->req;
	uint32_t i;

	memset(f, 0, sizeof(*f));
	f->ticket = p->ticket;
	memcpy(f->qid, r->qid, sizeof(f->qid));
	memcpy(f->ip, r->ip, sizeof(f->ip));
	f->port = r->port;
	memcpy(f->ptr, r->ptr_any, sizeof(f->ptr));
	f->ptr_verified = r->ptr_verified;
	memcpy(f->helo, r->helo, sizeof(f->helo));
	memcpy(f->tls, r->tls, sizeof(f->tls));
	memcpy(f->sender, r->sender, sizeof(f->sender));
	memcpy(f->dnsbl, r->dnsbl, sizeof(f->dnsbl));
	memcpy(f->greylist, r->greylist, sizeof(f->greylist));
	f->size = r->size;
	f->nrcpt = r->nrcpt;
	for (i = 0; i < r->nrcpt; i++)
		f->rcpt[i] = r->rcpt[i];	/* only read, to encode */
}

/* What a message gets when the filters cannot judge it. */
static void
unjudged(struct queue *q, struct chan *c, const struct commit_req *r,
    int fd)
{
	if (q->conf->filter_failure == FILTER_FAIL_ACCEPT) {
		(void)commit_store(q, c, r, fd, NULL, 0);
		return;
	}
	commit_refuse(q, c, r->ticket, 451, "4.3.0", "Message filters "
	    "unavailable, try again later", "filter", 0);
}

void
filterq_submit(struct queue *q, struct chan *c, const struct commit_req *r,
    int fd)
{
	struct filterq *fq = fq_get(q);
	struct fpend *p;

	if (q->filter == NULL || fq == NULL) {
		log_warnx("queue: qid=%s: no filter process", r->qid);
		unjudged(q, c, r, fd);
		return;
	}
	if (fq->n >= q->conf->filter_max_procs) {
		log_warnx("queue: qid=%s: filter_max_procs (%u) busy",
		    r->qid, q->conf->filter_max_procs);
		commit_refuse(q, c, r->ticket, 451, "4.3.2", "Too busy to "
		    "filter the message, try again later", "filter-busy", 0);
		return;
	}
	if ((p = malloc(sizeof(*p))) == NULL ||
	    (p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("queue: qid=%s", r->qid);
		free(p);
		commit_refuse(q, c, r->ticket, 451, "4.3.0", "Error: out of "
		    "memory", "", 0);
		return;
	}
	req_copy(&p->req, r);
	p->chan = c->id;
	p->ticket = ++fq->next_ticket;
	p->expires = queue_now_ms() + ((int64_t)q->conf->nfilters *
	    q->conf->filter_timeout + FILTERQ_MARGIN_S) * 1000;
	run_fill(&run, p);
	if (filter_request_put(&frame, &run) == -1) {
		log_warnx("queue: qid=%s: envelope too big for the filters",
		    r->qid);
		unjudged(q, c, &p->req, p->fd);
		fpend_free(p);
		return;
	}
	LIST_INSERT_HEAD(&fq->pending, p, link);
	fq->n++;
	chan_send_fd(q, q->filter, &frame, p->fd);	/* may fail them all */
}

static struct fpend *
find(struct filterq *fq, uint64_t ticket)
{
	struct fpend *p;

	LIST_FOREACH(p, &fq->pending, link)
		if (p->ticket == ticket)
			return p;
	return NULL;
}

const char *
filterq_frame(struct queue *q, struct frame *f)
{
	const char *bad;
	struct fpend *p;
	struct chan *c;

	if (f->type != FRAME_FILTER_DONE)
		return "unexpected frame type";
	if ((bad = filter_done_get(f, &done)) != NULL)
		return bad;
	if (q->fq == NULL || (p = find(q->fq, done.ticket)) == NULL)
		return NULL;		/* cancelled meanwhile */
	fpend_take(q->fq, p);
	if ((c = chan_by_id(q, p->chan)) != NULL) {
		if (done.code == 250)
			(void)commit_store(q, c, &p->req, p->fd, done.headers,
			    strlen(done.headers));
		else
			commit_refuse(q, c, p->req.ticket, done.code, done.enh,
			    done.text, done.cls, done.block);
	}
	fpend_free(p);
	return NULL;
}

/* Take the listed entries of a channel (every one: chan_id 0). */
static void
take_all(struct filterq *fq, unsigned chan_id, struct fpend_list *out)
{
	struct fpend *p, *next;

	LIST_INIT(out);
	for (p = LIST_FIRST(&fq->pending); p != NULL; p = next) {
		next = LIST_NEXT(p, link);
		if (chan_id != 0 && p->chan != chan_id)
			continue;
		fpend_take(fq, p);
		LIST_INSERT_HEAD(out, p, link);
	}
}

static void
cancel(struct queue *q, struct fpend *p)
{
	frame_init(&frame, FRAME_FILTER_CANCEL);
	frame_put_u64(&frame, p->ticket);
	chan_send(q, q->filter, &frame);
}

void
filterq_chan_closed(struct queue *q, unsigned chan_id)
{
	struct fpend_list mine;
	struct fpend *p;

	if (q->fq == NULL)
		return;
	take_all(q->fq, chan_id, &mine);
	while ((p = LIST_FIRST(&mine)) != NULL) {
		LIST_REMOVE(p, link);
		cancel(q, p);
		fpend_free(p);
	}
}

void
filterq_lost(struct queue *q)
{
	struct fpend_list all;
	struct fpend *p;
	struct chan *c;

	q->filter = NULL;
	if (q->fq == NULL)
		return;
	take_all(q->fq, 0, &all);
	while ((p = LIST_FIRST(&all)) != NULL) {
		LIST_REMOVE(p, link);
		if ((c = chan_by_id(q, p->chan)) != NULL)
			unjudged(q, c, &p->req, p->fd);
		fpend_free(p);
	}
}

/* Entries filterd has not answered in time: as a failed filter. */
void
filterq_expire(struct queue *q, int64_t now)
{
	struct fpend_list late;
	struct fpend *p, *next;
	struct chan *c;

	if (q->fq == NULL)
		return;
	LIST_INIT(&late);
	for (p = LIST_FIRST(&q->fq->pending); p != NULL; p = next) {
		next = LIST_NEXT(p, link);
		if (p->expires > now)
			continue;
		fpend_take(q->fq, p);
		LIST_INSERT_HEAD(&late, p, link);
	}
	while ((p = LIST_FIRST(&late)) != NULL) {
		LIST_REMOVE(p, link);
		log_warnx("queue: qid=%s: no verdict from the filters in time",
		    p->req.qid);
		cancel(q, p);
		if ((c = chan_by_id(q, p->chan)) != NULL)
			unjudged(q, c, &p->req, p->fd);
		fpend_free(p);
	}
}

int
filterq_pending(struct queue *q)
{
	return q->fq != NULL && q->fq->n > 0;
}
