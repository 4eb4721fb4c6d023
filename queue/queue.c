/*
 * queue: queue_main, the parent's frames and the event loop (queue.h).
 *
 * The loop is single-threaded and does its disk I/O inline: the queue is
 * not on any session's path (a worker waits for its COMMIT_OK, but keeps
 * serving its other sessions meanwhile), and fsync ordering is far easier
 * to reason about in one thread.  What must stay short is the time
 * between two epoll waits, hence the bounded delivery slices.
 *
 * Start-up order matters: the spool is scanned before the first frame is
 * read, so a CONFIRM resent by a worker finds its recovered entry.  No
 * delivery starts before the parent's first recipients map arrives (it is
 * sent right after the fork), or QUEUE_MAP_WAIT_MS have passed without
 * one: recovered mail would otherwise be deferred for a whole retry_min
 * just because the map was a few milliseconds late.
 */
#include <sys/epoll.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../metrics/counters.h"
#include "../smtpd/log.h"
#include "queue.h"
#include "syncpool.h"

#define QUEUE_MAP_WAIT_MS	10000
#define QUEUE_MAX_WAIT_MS	60000
#define QUEUE_EVENTS		64

static struct queue queue;
static int64_t map_wait_until;

int64_t
queue_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- frames from the parent ---- */

static const char *
parent_worker(struct queue *q, struct frame *f)
{
	uint32_t slot = frame_get_u32(f);

	if (frame_end(f) != 0)
		return "malformed";
	if (f->fd == -1)
		return "no channel descriptor";
	if (chan_open(q, f->fd, CHAN_WORKER, slot) == NULL) {
		log_warn("queue: cannot add channel of worker slot=%u", slot);
		return NULL;		/* f->fd is closed by the caller */
	}
	f->fd = -1;
	return NULL;
}

/* A (new) channel to filterd: the old one, if any, is gone. */
static const char *
parent_filter(struct queue *q, struct frame *f)
{
	if (frame_end(f) != 0)
		return "malformed";
	if (f->fd == -1)
		return "no channel descriptor";
	if (q->filter != NULL)
		chan_close(q, q->filter, "replaced");
	if ((q->filter = chan_open(q, f->fd, CHAN_FILTER, 0)) == NULL) {
		log_warn("queue: cannot add the filters' channel");
		return NULL;		/* f->fd is closed by the caller */
	}
	f->fd = -1;
	return NULL;
}

static const char *
parent_map(struct queue *q, struct frame *f)
{
	uint32_t id = frame_get_u32(f);
	struct map nm;
	int fd;

	if (frame_end(f) != 0 || id >= MAP_COUNT)
		return "malformed";
	if (f->fd == -1)
		return "no map descriptor";
	fd = f->fd;
	f->fd = -1;
	if (id != MAP_RECIPIENTS) {	/* delivery needs no other map */
		close(fd);
		return NULL;
	}
	memset(&nm, 0, sizeof(nm));
	if (map_open_fd(&nm, fd) == -1) {
		log_warn("queue: recipients map unusable, keeping the "
		    "previous one");
		return NULL;
	}
	map_close(&q->rcptmap);
	q->rcptmap = nm;
	log_debug("queue: recipients map loaded, %u records", nm.nrecords);
	return NULL;
}

static const char *
parent_drain(struct queue *q, struct frame *f)
{
	if (f->len == sizeof(uint32_t))
		(void)frame_get_u32(f);		/* the mode: same for us */
	if (frame_end(f) != 0)
		return "malformed";
	if (!q->draining) {
		q->draining = 1;
		q->drain_until = queue_now_ms() + QUEUE_DRAIN_MS;
		log_info("stop", "queue draining: %zu entries in the spool",
		    q->tab.count);
	}
	return NULL;
}

const char *
queue_parent_frame(struct queue *q, struct frame *f)
{
	size_t n;

	switch (f->type) {
	case FRAME_WORKER_SOCK:
		return parent_worker(q, f);
	case FRAME_MAP:
		return parent_map(q, f);
	case FRAME_FILTER_SOCK:
		return parent_filter(q, f);
	case FRAME_DRAIN:
		return parent_drain(q, f);
	case FRAME_FLUSH:
		if (frame_end(f) != 0)
			return "malformed";
		n = msg_due(&q->tab, -1);
		log_info("flush", "%zu deferred entries due now", n);
		return NULL;
	case FRAME_STATUS:
		return frame_end(f) != 0 ? "malformed" : NULL;
	case FRAME_CTL_REQUEST:
		return qctl_frame(q, f);
	}
	return "unexpected frame type";
}

/* ---- the loop ---- */

static int
can_deliver(struct queue *q, int64_t now)
{
	return q->rcptmap.open || now >= map_wait_until;
}

static int
loop_timeout(struct queue *q, int64_t now)
{
	int64_t t = INT64_MAX;
	struct qmsg *m = TAILQ_FIRST(&q->tab.ready);

	if (m != NULL && (!q->draining || m->fd != -1)) {
		if (can_deliver(q, now))
			return 0;
		t = map_wait_until;
	}
	if (q->tab.defer_min < t)
		t = q->tab.defer_min;
	if (q->grace_until != 0 && q->grace_until < t)
		t = q->grace_until;
	if (q->draining && q->drain_until < t)
		t = q->drain_until;
	if ((filterq_pending(q) || deliver_waiting(q)) && now + 1000 < t)
		t = now + 1000;		/* their deadlines are looked at */
	if (t == INT64_MAX || t - now > QUEUE_MAX_WAIT_MS)
		return QUEUE_MAX_WAIT_MS;
	return t <= now ? 0 : (int)(t - now);
}

static void
queue_exit(struct queue *q)
{
	struct chan *c;

	log_info("stop", "queue stopped: %zu entries left in the spool",
	    q->tab.count);
	LIST_FOREACH(c, &q->chans, link)
		if (!c->dead)
			close(c->fd);
	map_close(&q->rcptmap);
	spool_close(&q->sp);
	syncpool_stop();
	exit(0);
}

/*
 * A draining queue exits once no pass is open and no confirmation is
 * outstanding (at most QUEUE_DRAIN_MS), and no LMTP delivery is out: a
 * server may have taken it, and only its answer can mark it (at most
 * QUEUE_DRAIN_LMTP_MS more; what is left then is retried at the next
 * start, perhaps twice).
 */
static int
drained(struct queue *q, int64_t now)
{
	if (deliver_busy(q))
		return 0;
	if (deliver_waiting(q))
		return now >= q->drain_until + QUEUE_DRAIN_LMTP_MS;
	return commit_outstanding(q) == 0 || now >= q->drain_until;
}

static void
loop_turn(struct queue *q)
{
	static struct epoll_event ev[QUEUE_EVENTS];
	int64_t now = queue_now_ms();
	int i, n;

	n = epoll_wait(q->ep, ev, QUEUE_EVENTS, loop_timeout(q, now));
	if (n == -1 && errno != EINTR)
		fatal("queue: epoll_wait");
	for (i = 0; i < n; i++)
		chan_event(q, ev[i].data.ptr, ev[i].events);
	commit_flush(q);
	chan_reap(q);
	now = queue_now_ms();
	if (q->grace_until != 0 && now >= q->grace_until)
		commit_grace_expired(q);
	msg_due(&q->tab, now);
	filterq_expire(q, now);
	deliver_lmtp_tick(q, now);
	deliver_lmtp_pump(q);
	if (can_deliver(q, now))
		deliver_slice(q);
	commit_acks(q);
	ctr_set(CTR_QUEUE, q->tab.count);
	ctr_set(CTR_QUEUE_DEFERRED, q->tab.ndefer);
	if (q->draining && drained(q, queue_now_ms()))
		queue_exit(q);
}

static void
queue_setup(struct queue *q, const struct conf *conf, int parent_sock,
    int first_start)
{
	memset(q, 0, sizeof(*q));
	q->conf = conf;
	q->first_start = first_start;
	q->rcptmap.fd = -1;
	LIST_INIT(&q->chans);
	msgtab_init(&q->tab);
	if ((q->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("queue: epoll_create1");
	if (spool_open(&q->sp, conf->spool) == -1)
		fatal("queue: spool %s", conf->spool);
	syncpool_start(SYNCPOOL_HELPERS);
	if ((q->parent = chan_open(q, parent_sock, CHAN_PARENT, 0)) == NULL)
		fatal("queue: parent channel");
	map_wait_until = queue_now_ms() + QUEUE_MAP_WAIT_MS;
	ctrs_attach(CTRS_QUEUE_SLOT);
	commit_recover(q);
}

void
queue_main(const struct conf *conf, int parent_sock, int first_start)
{
	struct queue *q = &queue;

	queue_setup(q, conf, parent_sock, first_start);
	for (;;)
		loop_turn(q);
}
