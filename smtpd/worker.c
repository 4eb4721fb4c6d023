/*
 * worker: an smtp worker process, one epoll loop for many sessions.
 *
 * Set-up happens before the privilege drop: TLS context, maps, the spool
 * folder (only for fstatvfs), our own addresses, syslog.  Then the worker
 * is jailed and unprivileged for good.  Events name their source by an
 * evsrc pointer; a session closed earlier in the same batch is marked
 * S_DEAD and freed only after the batch, so later events of the batch
 * find it dead instead of freed.  Work that must run again without a new
 * event (TLS data buffered inside OpenSSL, input left after a commit) is
 * put on the kick list.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../dnsbl/client.h"
#include "../dnsbl/resolver.h"
#include "../dnsbl/zonestats.h"
#include "../metrics/counters.h"
#include "../greylist/blocks.h"
#include "../greylist/greylist.h"
#include "../greylist/store.h"
#include "limits.h"
#include "log.h"
#include "privdrop.h"
#include "smtp.h"

#define ACCEPT_BATCH	64
#define HASH_SIZE	4096

struct worker *wk;
static struct worker	 worker_state;
static struct session	*hash[HASH_SIZE];
static struct session	*dead;
static time_t		 accept_pause_until;
static time_t		 queue_lost_at;	/* 0: we have a queue channel */

#define QUEUE_REWIRE_WAIT	3	/* seconds to wait for a new channel */
#define EXIT_FLUSH_WAIT		30	/* seconds to hand over the last frames */

static unsigned
hash_slot(uint64_t id)
{
	return (unsigned)(id ^ (id >> 17)) & (HASH_SIZE - 1);
}

struct session *
worker_session_by_id(uint64_t id)
{
	struct session *s;

	for (s = hash[hash_slot(id)]; s != NULL; s = s->hnext)
		if (s->id == id)
			return s;
	return NULL;
}

static void
worker_link(struct session *s)
{
	unsigned h = hash_slot(s->id);

	s->hnext = hash[h];
	hash[h] = s;
	s->next = wk->sessions;
	s->prev = NULL;
	if (wk->sessions)
		wk->sessions->prev = s;
	wk->sessions = s;
	wk->nsessions++;
	ctr_set(CTR_SESSIONS_OPEN, wk->nsessions);
}

/* Called by session_close: out of the lists, freed after this turn. */
void
worker_forget(struct session *s)
{
	struct session **pp;

	for (pp = &hash[hash_slot(s->id)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	if (s->prev)
		s->prev->next = s->next;
	else
		wk->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	wk->nsessions--;
	ctr_set(CTR_SESSIONS_OPEN, wk->nsessions);
	if (s->kicked) {		/* a freed session must not stay queued */
		for (pp = &wk->kick; *pp != NULL; pp = &(*pp)->kick_next)
			if (*pp == s) {
				*pp = s->kick_next;
				break;
			}
		s->kicked = 0;
	}
	s->next = dead;
	dead = s;
}

static void
epoll_add(struct evsrc *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	if (epoll_ctl(wk->epfd, EPOLL_CTL_ADD, ev->fd, &e) == -1)
		fatal("epoll_ctl add");
}

void
worker_update_events(struct session *s)
{
	struct epoll_event e;
	uint32_t want = 0;
	int readable;

	if (s->state == S_DEAD)
		return;
	readable = (s->state == S_CMD || s->state == S_DATA ||
	    s->state == S_REJECTED) && s->in.len < SMTP_IN_MAX &&
	    s->out.len <= SMTP_OUT_HIGH && !session_confirm_pending(s);
	if (s->state == S_TLS && s->ssl == NULL)
		want = EPOLLOUT;	/* the 220 first, then the handshake */
	else if (s->state == S_TLS)
		want = s->ssl_want_write ? EPOLLOUT : EPOLLIN;
	else if (readable)
		want = EPOLLIN;
	if ((s->out.len > 0 && !s->confirm_wait) ||
	    (s->ssl_want_write && s->state != S_TLS))
		want |= EPOLLOUT;
	if (readable && s->ssl != NULL && SSL_pending(s->ssl) > 0)
		worker_kick(s);
	if (want == s->epoll_events)
		return;
	e.events = want;
	e.data.ptr = &s->ev;
	if (epoll_ctl(wk->epfd, s->epoll_events == EV_UNREGISTERED ?
	    EPOLL_CTL_ADD : EPOLL_CTL_MOD, s->fd, &e) == -1) {
		log_warn("epoll_ctl mod");
		session_close(s, "internal");
		return;
	}
	s->epoll_events = want;
}

void
worker_kick(struct session *s)
{
	if (s->kicked || s->state == S_DEAD)
		return;
	s->kicked = 1;
	s->kick_next = wk->kick;
	wk->kick = s;
}

/*
 * Frames to the queue wait here when its socket is full: a unix datagram
 * socket holds only a few unread frames (net.unix.max_dgram_qlen), and
 * neither a commit nor a confirmation may be dropped for that.
 */
struct qframe {
	struct qframe	*next;
	int		 fd;
	uint32_t	 type;
	size_t		 len;
	unsigned char	 data[];
};

#define QOUT_MAX	100000

static struct qframe	*qout, **qout_tail = &qout;
static unsigned		 qout_n;

static void
queue_events(uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = &wk->queue };

	if (epoll_ctl(wk->epfd, EPOLL_CTL_MOD, wk->queue.fd, &e) == -1)
		log_warn("epoll_ctl queue channel");
}

static void
qout_free(void)
{
	struct qframe *q;

	while ((q = qout) != NULL) {
		qout = q->next;
		if (q->fd != -1)
			close(q->fd);
		free(q);
	}
	qout_tail = &qout;
	qout_n = 0;
}

static int
qout_push(struct frame *f, int fd)
{
	struct qframe *q;

	if (qout_n >= QOUT_MAX || (q = malloc(sizeof(*q) + f->len)) == NULL) {
		errno = ENOBUFS;
		return -1;
	}
	q->fd = -1;
	if (fd != -1 && (q->fd = dup(fd)) == -1) {
		free(q);
		return -1;
	}
	q->next = NULL;
	q->type = f->type;
	q->len = f->len;
	memcpy(q->data, f->data, f->len);
	*qout_tail = q;
	qout_tail = &q->next;
	if (qout_n++ == 0)
		queue_events(EPOLLIN | EPOLLOUT);
	return 0;
}

int
worker_queue_send(struct frame *f, int fd)
{
	if (f->bad) {
		errno = EMSGSIZE;
		return -1;
	}
	if (wk->queue.fd == -1) {
		errno = ENOTCONN;
		return -1;
	}
	if (qout == NULL) {
		if (frame_send(wk->queue.fd, f, fd) == 0)
			return 0;
		if (errno != EAGAIN && errno != ENOBUFS)
			return -1;
	}
	return qout_push(f, fd);
}

static void worker_queue_lost(void);
static void worker_release_confirms(void);

static void
worker_queue_flush(void)
{
	static struct frame f;
	struct qframe *q;

	while ((q = qout) != NULL) {
		frame_init(&f, q->type);
		frame_put_bytes(&f, q->data, q->len);
		if (frame_send(wk->queue.fd, &f, q->fd) == -1) {
			if (errno == EAGAIN || errno == ENOBUFS)
				return;
			worker_queue_lost();
			return;
		}
		qout = q->next;
		if (qout == NULL)
			qout_tail = &qout;
		qout_n--;
		if (q->fd != -1)
			close(q->fd);
		free(q);
	}
	queue_events(EPOLLIN);
	worker_release_confirms();
}

/* CONFIRM or ABORT: a frame that carries one queue id. */
static void
worker_send_qid(uint32_t type, const char *qid)
{
	struct frame f;

	frame_init(&f, type);
	frame_put_str(&f, qid);
	if (worker_queue_send(&f, -1) == -1)
		log_warn("queue: %s qid=%s not sent", frame_name(type), qid);
}

static int
unacked_find(const char *qid)
{
	unsigned i;

	for (i = 0; i < wk->nunacked; i++)
		if (strcmp(wk->unacked[i], qid) == 0)
			return (int)i;
	return -1;
}

static void
unacked_remove(const char *qid)
{
	int i = unacked_find(qid);

	if (i != -1)
		memcpy(wk->unacked[i], wk->unacked[--wk->nunacked],
		    QID_LEN + 1);
}

/*
 * A 250 is about to be written: the CONFIRM goes first, and is kept
 * (and resent to a new queue process) until its CONFIRM_OK.  1: it is in
 * the queue's socket; 0: it waits behind other frames or for a queue
 * process, and worker_release_confirms() flushes the session again.
 */
int
worker_confirm(const char *qid)
{
	size_t max = sizeof(wk->unacked) / sizeof(wk->unacked[0]);
	int known = unacked_find(qid) != -1;
	struct frame f;

	if (!known && wk->nunacked == max) {
		log_warnx("queue: %zu confirmations unacknowledged; the 250 "
		    "for qid=%s waits", max, qid);
		wk->confirm_waiting = 1;
		return 0;
	}
	if (!known)
		memcpy(wk->unacked[wk->nunacked++], qid, QID_LEN + 1);
	if (wk->queue.fd != -1) {
		frame_init(&f, FRAME_CONFIRM);
		frame_put_str(&f, qid);
		if (worker_queue_send(&f, -1) == 0 && qout == NULL)
			return 1;
	}
	wk->confirm_waiting = 1;
	return 0;
}

/* Sessions whose CONFIRM waited may write their 250 once it is out. */
static void
worker_release_confirms(void)
{
	struct session *s, *next;

	if (!wk->confirm_waiting || qout != NULL || wk->queue.fd == -1)
		return;
	wk->confirm_waiting = 0;
	for (s = wk->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->confirm_wait && s->confirm_qid[0] != '\0') {
			s->confirm_wait = 0;	/* confirm again, directly */
			session_io(s, EPOLLOUT);
		}
	}
}

void
worker_abort(const char *qid)
{
	unacked_remove(qid);	/* never resent to a new queue process */
	worker_send_qid(FRAME_ABORT, qid);
}

static void
refuse_begin(struct kv *k, const char *ip, const char *cls)
{
	kv_begin(k, "reject");
	kv_str(k, "stage", "connect");
	kv_str(k, "class", cls);
	kv_str(k, "ip", ip);
	ctr_refusal(cls, "connect");
}

static void
refuse_end(int fd, struct kv *k, const char *reply)
{
	kv_str(k, "reply", reply);
	kv_emit(k);
	if (reply[0] != '\0') {
		(void)!send(fd, reply, strlen(reply), MSG_NOSIGNAL |
		    MSG_DONTWAIT);
		(void)!send(fd, "\r\n", 2, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	close(fd);
}

static void
refuse_connection(int fd, const char *ip, const char *cls,
    const char *reply)
{
	struct kv k;

	refuse_begin(&k, ip, cls);
	refuse_end(fd, &k, reply);
}

/*
 * The block list's check, first of all and cheap (one read transaction
 * of the store): a blocked client is closed before any byte
 * (block_action = drop) or told 554.  The line names the block (the
 * client, or the network it is in) and its reason.  1 when it was.
 */
static int
refuse_blocked(int fd, const struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN], reply[400];
	struct block_hit hit;
	const void *a;
	struct kv k;

	if (!block_check((const struct sockaddr *)ss, &hit))
		return 0;
	a = ss->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (inet_ntop(ss->ss_family, a, ip, sizeof(ip)) == NULL)
		(void)snprintf(ip, sizeof(ip), "?");
	reply[0] = '\0';
	if (wk->conf->block_action == RATE_REJECT)
		(void)snprintf(reply, sizeof(reply), "554 5.7.1 %s Your "
		    "address is blocked for abuse (%s)", wk->conf->hostname,
		    hit.reason);
	refuse_begin(&k, ip, "blocked");
	kv_str(&k, "block", hit.net);
	kv_str(&k, "reason", hit.reason);
	refuse_end(fd, &k, reply);
	return 1;
}

static void
worker_accept_one(int fd, struct sockaddr_storage *ss, socklen_t sslen)
{
	struct session *s;
	char ip[64];

	ctr_add(CTR_CONNECTIONS, 1);
	if (refuse_blocked(fd, ss))
		return;
	if (limits_total() >= wk->conf->max_sessions) {
		snprintf(ip, sizeof(ip), "?");
		if ((s = session_new(fd, (struct sockaddr *)ss, sslen)) != NULL) {
			snprintf(ip, sizeof(ip), "%s", s->ip);
			session_free(s);
		}
		refuse_connection(fd, ip, "busy",
		    "421 4.3.2 Too many connections, try again later");
		return;
	}
	if ((s = session_new(fd, (struct sockaddr *)ss, sslen)) == NULL) {
		log_warn("session");
		close(fd);
		return;
	}
	if (limits_ip_count((struct sockaddr *)ss) >=
	    wk->conf->max_sessions_per_ip) {
		snprintf(ip, sizeof(ip), "%s", s->ip);
		session_free(s);
		refuse_connection(fd, ip, "conn-limit",
		    wk->conf->rate_action == RATE_DROP ? "" : "421 4.7.0 Too "
		    "many connections from your address, try again later");
		block_event((struct sockaddr *)ss, BLOCK_RATE);
		return;
	}
	limits_open((struct sockaddr *)ss);
	worker_link(s);
	s->epoll_events = EV_UNREGISTERED;	/* added once the banner is out */
	session_start(s);
	if (s->state == S_DEAD)
		return;
	session_process(s);
}

static void
worker_accept(struct evsrc *ev)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd, n;

	for (n = 0; n < ACCEPT_BATCH; n++) {
		sslen = sizeof(ss);
		fd = accept4(ev->fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept: pausing for a second");
				accept_pause_until = time(NULL) + 1;
			}
			return;
		}
		worker_accept_one(fd, &ss, sslen);
	}
}

static void
worker_listen(int on)
{
	size_t i;

	if (on == wk->listening)
		return;
	for (i = 0; i < wk->nlisteners; i++) {
		if (on)
			epoll_add(&wk->listeners[i],
			    EPOLLIN | EPOLLEXCLUSIVE);
		else
			epoll_ctl(wk->epfd, EPOLL_CTL_DEL,
			    wk->listeners[i].fd, NULL);
	}
	wk->listening = on;
}

static void
worker_queue_lost(void)
{
	struct session *s, *next;

	log_warnx("queue channel closed");
	qout_free();
	epoll_ctl(wk->epfd, EPOLL_CTL_DEL, wk->queue.fd, NULL);
	close(wk->queue.fd);
	wk->queue.fd = -1;
	queue_lost_at = time(NULL);
	for (s = wk->sessions; s != NULL; s = next) {
		next = s->next;
		if (s->state == S_COMMIT)
			session_commit_refused(s, 451, "4.3.0", "Error: queue "
			    "unavailable, try again later", "", 0);
	}
}

static void
worker_queue_frame(struct frame *f)
{
	char qid[QID_LEN + 1], enh[16], text[REPLY_TEXT_MAX], cls[64];
	struct session *s;
	uint64_t ticket;
	uint32_t code = 0, block = 0;

	if (f->type == FRAME_CONFIRM_OK) {
		frame_get_str(f, qid, sizeof(qid));
		if (frame_end(f) == -1)
			fatalx("queue sent a bad confirm-ok frame");
		unacked_remove(qid);
		worker_release_confirms();
		return;
	}
	if (f->type != FRAME_COMMIT_OK && f->type != FRAME_COMMIT_FAIL)
		fatalx("queue sent an unexpected %s frame",
		    frame_name(f->type));
	ticket = frame_get_u64(f);
	if (f->type == FRAME_COMMIT_OK) {
		frame_get_str(f, qid, sizeof(qid));
	} else {
		code = frame_get_u32(f);
		frame_get_str(f, enh, sizeof(enh));
		frame_get_str(f, text, sizeof(text));
		frame_get_str(f, cls, sizeof(cls));
		block = frame_get_u32(f);
	}
	if (frame_end(f) == -1)
		fatalx("queue sent a bad %s frame", frame_name(f->type));
	s = worker_session_by_id(ticket);
	if (s == NULL || s->state != S_COMMIT) {
		if (f->type == FRAME_COMMIT_OK)
			worker_abort(qid);	/* the client is gone */
		return;
	}
	if (f->type == FRAME_COMMIT_OK)
		session_commit_ok(s, qid);
	else
		session_commit_refused(s, (int)code, enh, text, cls, block);
}

static void
worker_queue_input(void)
{
	static struct frame f;
	int n, r;

	for (n = 0; n < 256; n++) {
		r = frame_recv(wk->queue.fd, &f);
		if (r == -1 && errno == EAGAIN)
			return;
		if (r <= 0) {
			worker_queue_lost();
			return;
		}
		if (f.fd != -1)
			close(f.fd);
		worker_queue_frame(&f);
	}
}

static void
worker_set_queue(int fd)
{
	unsigned i;

	if (wk->queue.fd != -1)
		worker_queue_lost();	/* its commits are answered 451 */
	queue_lost_at = 0;
	wk->queue.fd = fd;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl queue channel");
	epoll_add(&wk->queue, EPOLLIN);
	for (i = 0; i < wk->nunacked; i++)
		worker_send_qid(FRAME_CONFIRM, wk->unacked[i]);
	worker_release_confirms();
}

static void
worker_drain(uint32_t mode)
{
	struct session *s, *next;

	worker_listen(0);
	if (mode == 2 || wk->draining == 0) {
		wk->draining = (int)mode;
		wk->drain_deadline = time(NULL) + wk->conf->shutdown_timeout;
	}
	if (mode != 2)
		return;
	for (s = wk->sessions; s != NULL; s = next) {
		next = s->next;
		session_drain(s);
	}
}

static void
worker_parent_input(void)
{
	static struct frame f;
	uint32_t id;
	int r;

	r = frame_recv(wk->parent.fd, &f);
	if (r == -1 && errno == EAGAIN)
		return;
	if (r <= 0)
		exit(0);		/* parent gone: nobody to serve for */
	switch (f.type) {
	case FRAME_MAP:
		id = frame_get_u32(&f);
		if (frame_end(&f) == -1 || id >= MAP_COUNT || f.fd == -1)
			fatalx("parent sent a bad map frame");
		map_close(&wk->maps[id]);
		if (map_open_fd(&wk->maps[id], f.fd) == -1)
			log_warnx("map %s: new file is not a valid cdb",
			    map_name(id));
		return;
	case FRAME_QUEUE_SOCK:
		if (frame_end(&f) == -1 || f.fd == -1)
			fatalx("parent sent a bad queue-sock frame");
		worker_set_queue(f.fd);
		return;
	case FRAME_DRAIN:
		id = frame_get_u32(&f);
		if (frame_end(&f) == -1)
			fatalx("parent sent a bad drain frame");
		worker_drain(id);
		return;
	default:
		if (f.fd != -1)
			close(f.fd);
		log_warnx("parent sent an unexpected %s frame",
		    frame_name(f.type));
	}
}

static void
worker_our_addresses(void)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) == -1) {
		log_warn("getifaddrs");
		return;
	}
	for (i = ifa; i != NULL && wk->nour_ips < 16; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		if (getnameinfo(i->ifa_addr, i->ifa_addr->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
		    wk->our_ips[wk->nour_ips], sizeof(wk->our_ips[0]), NULL, 0,
		    NI_NUMERICHOST) == 0) {
			char *pct = strchr(wk->our_ips[wk->nour_ips], '%');
			if (pct != NULL)
				*pct = '\0';
			wk->nour_ips++;
		}
	}
	freeifaddrs(ifa);
}

static void
worker_open_maps(void)
{
	char path[CONF_PATH_MAX + 8];
	int i;

	for (i = 0; i < MAP_COUNT; i++) {
		if (wk->conf->maps[i][0] == '\0')
			continue;
		if (map_cdb_path(wk->conf->maps[i], path, sizeof(path)) == -1)
			continue;
		if (map_open_path(&wk->maps[i], path) == -1)
			log_warn("map %s: cannot open %s", map_name(i), path);
	}
}

static unsigned store_gen;	/* of the state store file opened */

static void
report_store_broken(void)
{
	limits_report_store_broken(store_gen);
}

static void
worker_setup(const struct conf *conf, unsigned slot, int parent_sock,
    int *listen_fds, size_t nlisten, const struct priv_id *id)
{
	char err[256];
	uint64_t seed;
	size_t i;

	wk = &worker_state;
	memset(wk, 0, sizeof(*wk));
	wk->conf = conf;
	wk->slot = slot;
	wk->queue.kind = EV_QUEUE;
	wk->queue.fd = -1;
	wk->parent.kind = EV_PARENT;
	wk->parent.fd = parent_sock;
	log_setproc("smtp");
	limits_set_slot(slot, conf->rate_net6);
	zstats_worker(slot, conf);
	ctrs_attach(slot);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	wk->tls = tls_server_ctx(conf, err, sizeof(err));
	if (wk->tls == NULL && err[0] != '\0')
		fatalx("%s", err);
	worker_open_maps();
	store_gen = limits_store_gen();
	store_on_broken(report_store_broken);
	(void)greylist_setup(conf);	/* failing, it logs and fails open */
	worker_our_addresses();
	if (dns_setup(conf, err, sizeof(err)) == -1)
		fatalx("%s", err);
	seed = ((uint64_t)getpid() << 40) ^ ((uint64_t)time(NULL) << 12);
	wk->next_id = seed;
	for (i = 0; i < nlisten; i++) {
		wk->listeners[i].kind = EV_LISTEN;
		wk->listeners[i].fd = listen_fds[i];
	}
	wk->nlisteners = nlisten;
	priv_drop(id, conf->chroot);
	if ((wk->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	resolver_attach(wk->epfd);
	if (fcntl(parent_sock, F_SETFL, O_NONBLOCK) == -1)
		fatal("fcntl parent channel");
	epoll_add(&wk->parent, EPOLLIN);
	worker_listen(1);
}

static void
worker_run_kicks(void)
{
	struct session *s;
	int rounds;

	for (rounds = 0; wk->kick != NULL && rounds < 64; rounds++) {
		struct session *list = wk->kick;

		wk->kick = NULL;
		while ((s = list) != NULL) {
			list = s->kick_next;
			s->kicked = 0;
			session_io(s, EPOLLIN);
		}
	}
}

static void
worker_timers(time_t now)
{
	struct session *s, *next;

	greylist_tick(now);
	for (s = wk->sessions; s != NULL; s = next) {
		next = s->next;
		session_timer(s, now);
	}
	if (queue_lost_at && now - queue_lost_at >= QUEUE_REWIRE_WAIT &&
	    !wk->draining) {
		/* the queue lives but our channel died: be replaced */
		log_warnx("no queue channel for %ds: finishing sessions and "
		    "exiting to be restarted", QUEUE_REWIRE_WAIT);
		worker_drain(1);
	}
	if (accept_pause_until && now >= accept_pause_until &&
	    !wk->draining) {
		accept_pause_until = 0;
		worker_listen(1);
	}
}

static void
worker_free_dead(void)
{
	struct session *s;

	while ((s = dead) != NULL) {
		dead = s->next;
		session_free(s);
	}
}

/*
 * Frames still waiting in qout should reach the queue before we go, and
 * our confirmations should be acknowledged: a queue process killed
 * before it read them would otherwise wait for a resend that never
 * comes, and discard messages whose clients have their 250.
 */
static void
worker_exit_when_flushed(time_t now)
{
	static time_t since;

	if (since == 0)
		since = now;
	if ((qout == NULL && wk->nunacked == 0) ||
	    now - since >= EXIT_FLUSH_WAIT)
		exit(0);
}

void
worker_main(const struct conf *conf, unsigned slot, int parent_sock,
    int *listen_fds, size_t nlisten, const struct priv_id *id)
{
	struct epoll_event ev[256];
	time_t last_timer = 0, now;
	int i, n, wait = 1000;

	worker_setup(conf, slot, parent_sock, listen_fds, nlisten, id);
	for (;;) {
		n = epoll_wait(wk->epfd, ev, 256, wk->kick ? 0 : wait);
		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		for (i = 0; i < n; i++) {
			struct evsrc *src = ev[i].data.ptr;

			switch (src->kind) {
			case EV_LISTEN:
				if (!accept_pause_until)
					worker_accept(src);
				if (accept_pause_until)
					worker_listen(0);
				break;
			case EV_SESSION:
				session_io((struct session *)src,
				    ev[i].events);
				break;
			case EV_QUEUE:
				if ((ev[i].events & EPOLLOUT) && qout != NULL)
					worker_queue_flush();
				if (wk->queue.fd != -1 && (ev[i].events &
				    (EPOLLIN | EPOLLHUP | EPOLLERR)))
					worker_queue_input();
				break;
			case EV_PARENT:
				worker_parent_input();
				break;
			case EV_DNS:
				resolver_ready(src->fd, ev[i].events);
				break;
			}
		}
		wait = dns_turn(1000);
		worker_run_kicks();
		now = time(NULL);
		if (now != last_timer) {
			last_timer = now;
			worker_timers(now);
		}
		worker_free_dead();
		if (wk->draining && wk->nsessions == 0)
			worker_exit_when_flushed(now);
	}
}
