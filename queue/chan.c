/*
 * chan: the queue's channels to the parent and to the smtp workers.
 *
 * All sockets are non-blocking SOCK_SEQPACKET.  A reply that cannot be
 * sent at once waits in a per-channel list and EPOLLOUT is asked for; a
 * peer that lets QUEUE_OUTQ_MAX replies pile up is treated as broken.  A
 * closed channel is marked dead and freed only at the end of the loop
 * turn, so events for it later in the same epoll batch find it dead
 * instead of freed.  Losing the parent's channel ends the process: a new
 * parent would start another queue on the same spool.
 */
#include <sys/epoll.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../smtpd/log.h"
#include "queue.h"

static struct frame chan_flushframe;

static int
chan_poll(struct queue *q, struct chan *c, int op, int out)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(q->ep, op, c->fd, &ev) == -1)
		return -1;
	c->pollout = out;
	return 0;
}

struct chan *
chan_open(struct queue *q, int fd, enum chan_kind kind, uint32_t slot)
{
	struct chan *c;
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = fd;
	c->kind = kind;
	c->slot = slot;
	if (++q->next_id == 0)
		++q->next_id;
	c->id = q->next_id;
	STAILQ_INIT(&c->out);
	if (chan_poll(q, c, EPOLL_CTL_ADD, 0) == -1) {
		free(c);
		return NULL;
	}
	LIST_INSERT_HEAD(&q->chans, c, link);
	return c;
}

struct chan *
chan_by_id(struct queue *q, unsigned id)
{
	struct chan *c;

	LIST_FOREACH(c, &q->chans, link)
		if (c->id == id && !c->dead)
			return c;
	return NULL;
}

static void
outq_free(struct chan *c)
{
	struct outframe *o;

	while ((o = STAILQ_FIRST(&c->out)) != NULL) {
		STAILQ_REMOVE_HEAD(&c->out, link);
		if (o->fd != -1)
			close(o->fd);
		free(o);
	}
	c->nout = 0;
}

/*
 * A worker that dies may leave CONFIRM frames we have not read yet (we
 * may be closing because a send to it failed): they must count, or a
 * message whose 250 the worker went on to write would be discarded.
 * Read what is left; the channel is already dead, so nothing is
 * answered.
 */
static void
chan_drain_confirms(struct queue *q, struct chan *c)
{
	/* not q->in: we may be closing from inside the handler using it */
	static struct frame drainframe;
	struct frame *f = &drainframe;
	int i;

	for (i = 0; i < 100000 && frame_recv(c->fd, f) == 1; i++) {
		if (f->fd != -1) {
			close(f->fd);
			f->fd = -1;
		}
		if (f->type == FRAME_CONFIRM || f->type == FRAME_ABORT)
			(void)commit_frame(q, c, f);
	}
}

void
chan_close(struct queue *q, struct chan *c, const char *why)
{
	if (c->dead)
		return;
	c->dead = 1;
	/* from here a living worker's sends fail: none can slip in unread */
	(void)shutdown(c->fd, SHUT_RDWR);
	if (c->kind == CHAN_WORKER)
		chan_drain_confirms(q, c);
	epoll_ctl(q->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	outq_free(c);
	if (c->kind == CHAN_PARENT) {
		log_warnx("queue: parent channel closed (%s), exiting", why);
		exit(1);
	}
	if (c->kind == CHAN_FILTER) {
		log_warnx("queue: filter channel closed (%s)", why);
		if (q->filter == c)
			filterq_lost(q);
		return;
	}
	if (c->kind == CHAN_LMTP) {
		log_warnx("queue: LMTP helpers' channel closed (%s)", why);
		if (q->lmtp == c)
			deliver_lmtp_lost(q);
		return;
	}
	log_debug("queue: worker channel slot=%u closed: %s", c->slot, why);
	commit_chan_closed(q, c->id);
}

static void
chan_bad(struct queue *q, struct chan *c, const char *why)
{
	if (c->kind == CHAN_PARENT)
		fatalx("queue: bad frame from parent: %s", why);
	if (c->kind == CHAN_FILTER || c->kind == CHAN_LMTP)
		log_warnx("queue: bad frame from the %s: %s; closing their "
		    "channel", c->kind == CHAN_LMTP ? "LMTP helpers" : "filters",
		    why);
	else
		log_warnx("queue: bad frame from worker slot=%u: %s; closing "
		    "its channel", c->slot, why);
	chan_close(q, c, why);
}

static int
outq_push(struct chan *c, const struct frame *f, int fd)
{
	struct outframe *o;

	if (c->nout >= QUEUE_OUTQ_MAX ||
	    (o = malloc(sizeof(*o) + f->len)) == NULL)
		return -1;
	o->fd = -1;
	if (fd != -1 && (o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		free(o);
		return -1;
	}
	o->type = f->type;
	o->len = f->len;
	memcpy(o->data, f->data, f->len);
	STAILQ_INSERT_TAIL(&c->out, o, link);
	c->nout++;
	return 0;
}

void
chan_send(struct queue *q, struct chan *c, struct frame *f)
{
	chan_send_fd(q, c, f, -1);
}

void
chan_send_fd(struct queue *q, struct chan *c, struct frame *f, int fd)
{
	if (c == NULL || c->dead)
		return;
	if (STAILQ_EMPTY(&c->out)) {
		if (frame_send(c->fd, f, fd) == 0)
			return;
		if (errno != EAGAIN && errno != ENOBUFS) {
			chan_close(q, c, "send failed");
			return;
		}
	}
	if (outq_push(c, f, fd) == -1) {
		chan_close(q, c, "peer not reading its replies");
		return;
	}
	if (!c->pollout && chan_poll(q, c, EPOLL_CTL_MOD, 1) == -1)
		chan_close(q, c, "epoll");
}

static void
chan_flush(struct queue *q, struct chan *c)
{
	struct frame *f = &chan_flushframe;
	struct outframe *o;

	while ((o = STAILQ_FIRST(&c->out)) != NULL) {
		frame_init(f, o->type);
		frame_put_bytes(f, o->data, o->len);
		if (frame_send(c->fd, f, o->fd) == -1) {
			if (errno != EAGAIN && errno != ENOBUFS)
				chan_close(q, c, "send failed");
			return;
		}
		STAILQ_REMOVE_HEAD(&c->out, link);
		if (o->fd != -1)
			close(o->fd);
		free(o);
		c->nout--;
	}
	if (chan_poll(q, c, EPOLL_CTL_MOD, 0) == -1)
		chan_close(q, c, "epoll");
}

static void
chan_dispatch(struct queue *q, struct chan *c, struct frame *f)
{
	char why[128];
	const char *bad;

	if (c->kind == CHAN_PARENT)
		bad = queue_parent_frame(q, f);
	else if (c->kind == CHAN_FILTER)
		bad = filterq_frame(q, f);
	else if (c->kind == CHAN_LMTP)
		bad = deliver_lmtp_frame(q, f);
	else
		bad = commit_frame(q, c, f);
	if (f->fd != -1) {		/* a descriptor nobody took */
		close(f->fd);
		f->fd = -1;
	}
	if (bad != NULL && !c->dead) {
		snprintf(why, sizeof(why), "%s: %s", frame_name(f->type), bad);
		chan_bad(q, c, why);
	}
}

static void
chan_read(struct queue *q, struct chan *c)
{
	struct frame *f = &q->in;
	int i, r;

	for (i = 0; i < QUEUE_READ_BURST && !c->dead; i++) {
		r = frame_recv(c->fd, f);
		if (r == 1) {
			chan_dispatch(q, c, f);
		} else if (r == 0) {
			chan_close(q, c, "closed by peer");
		} else if (errno == EAGAIN) {
			break;
		} else if (errno == EBADMSG) {
			chan_bad(q, c, "truncated or short frame");
		} else {
			chan_close(q, c, strerror(errno));
		}
	}
}

void
chan_event(struct queue *q, struct chan *c, uint32_t events)
{
	if (c->dead)
		return;
	if (events & EPOLLOUT)
		chan_flush(q, c);
	if (!c->dead && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		chan_read(q, c);
}

void
chan_reap(struct queue *q)
{
	struct chan *c, *next;

	for (c = LIST_FIRST(&q->chans); c != NULL; c = next) {
		next = LIST_NEXT(c, link);
		if (c->dead) {
			LIST_REMOVE(c, link);
			free(c);
		}
	}
}
