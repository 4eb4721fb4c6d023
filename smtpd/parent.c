/*
 * parent: supervision of the queue and the smtp workers (see parent.h).
 */
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../dnsbl/dynptr.h"
#include "../dnsbl/zonestats.h"
#include "../greylist/blocks.h"
#include "../greylist/greylist.h"
#include "../greylist/store.h"
#include "../conf/map.h"
#include "../filters/filterd.h"
#include "../metrics/counters.h"
#include "../metrics/stats.h"
#include "../queue/queue.h"
#include "control.h"
#include "frame.h"
#include "limits.h"
#include "mapwatch.h"
#include "log.h"
#include "parent.h"
#include "privdrop.h"
#include "smtp.h"

#define MAX_CHILDREN	LIMITS_MAX_WORKERS
#define RESPAWN_MAX	30		/* seconds of back-off at most */
#define QUICK_DEATH	10		/* a child that died this young */

enum child_kind { CHILD_NONE, CHILD_WORKER, CHILD_QUEUE, CHILD_FILTER,
	CHILD_METRICS };

struct child {
	enum child_kind	kind;
	pid_t		pid;		/* 0: not running */
	int		sock;		/* parent's end of its channel */
	unsigned	slot;
	int		current;	/* of the current generation */
	time_t		started;
	unsigned	backoff;	/* seconds before the next start */
	unsigned	quick_deaths;	/* in a row, each within QUICK_DEATH */
	time_t		respawn_at;	/* 0: none planned */
};

static struct conf	*cf;
static const char	*cf_path;
static struct priv_id	 smtp_id, queue_id, filter_id;
static int		 listen_fds[CONF_LISTEN_MAX * 2];
static size_t		 nlisten;
static int		 metrics_fd = -1;	/* metrics_listen */
/* [0] the queue, [1..MAX_CHILDREN] the workers, filterd, metricsd */
static struct child	 children[MAX_CHILDREN + 3];
static int		 sigfd, stopping;
static time_t		 stop_deadline;
static int		 queue_eof;	/* its channel closed, not reaped yet */
static int		 store_due;	/* a worker died: maintain the store */

#define QUEUE	(&children[0])
#define FILTERD	(&children[MAX_CHILDREN + 1])
#define METRICSD (&children[MAX_CHILDREN + 2])
#define NCHILDREN (MAX_CHILDREN + 3)

/* ---- set-up ---- */

static int
bind_one(const struct listen_addr *la)
{
	int fd, on = 1;

	fd = socket(la->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket for %s", la->text);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("SO_REUSEADDR");
	if (la->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		fatal("IPV6_V6ONLY");
	if (bind(fd, (const struct sockaddr *)&la->ss, la->sslen) == -1) {
		if (la->ss.ss_family == AF_INET6 && errno == EADDRNOTAVAIL) {
			log_warn("listen %s: skipped", la->text);
			close(fd);
			return -1;
		}
		fatal("bind %s", la->text);
	}
	if (listen(fd, 4096) == -1)
		fatal("listen %s", la->text);
	return fd;
}

static void
bind_all(void)
{
	size_t i;
	int fd;

	nlisten = 0;
	for (i = 0; i < cf->nlisten; i++) {
		if ((fd = bind_one(&cf->listen[i])) == -1)
			continue;
		listen_fds[nlisten++] = fd;
		log_info("listen", "listening on %s", cf->listen[i].text);
	}
	if (nlisten == 0)
		fatalx("no address to listen on");
}

/* Create a folder owned by id if it is missing; never touch an existing one's owner. */
static void
prepare_dir(const char *path, const struct priv_id *id, mode_t mode,
    int chown_existing)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			fatalx("%s is not a folder", path);
		if (!chown_existing || id == NULL || !id->can_drop)
			return;
	} else if (mkdir(path, mode) == -1) {
		fatal("mkdir %s", path);
	}
	if (id != NULL && id->can_drop && chown(path, id->uid, id->gid) == -1)
		fatal("chown %s", path);
	if (chmod(path, mode) == -1)
		fatal("chmod %s", path);
}

static void
prepare_dirs(void)
{
	prepare_dir(cf->spool, &queue_id, 0700, 1);
	prepare_dir(cf->mail_root, &queue_id, 0700, 0);
	if (smtp_id.can_drop)
		prepare_dir(cf->chroot, NULL, 0755, 0);
}

static void
write_pidfile(void)
{
	FILE *fp;

	if (cf->pidfile[0] == '\0')
		return;
	if ((fp = fopen(cf->pidfile, "w")) == NULL) {
		log_warn("pidfile %s", cf->pidfile);
		return;
	}
	fprintf(fp, "%ld\n", (long)getpid());
	if (fclose(fp) == EOF)
		log_warn("pidfile %s", cf->pidfile);
}

/* ---- children ---- */

/* In a new child: close every descriptor that belongs to the parent. */
static void
child_close_others(const struct child *self, int keep_listeners)
{
	size_t i;

	for (i = 0; i < NCHILDREN; i++)
		if (&children[i] != self && children[i].sock != -1)
			close(children[i].sock);
	if (!keep_listeners)
		for (i = 0; i < nlisten; i++)
			close(listen_fds[i]);
	if (self != METRICSD && metrics_fd != -1)
		close(metrics_fd);
	close(sigfd);
	control_close();
}

static void
child_signals_default(void)
{
	sigset_t all;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* A dead worker's part of the shared maps, for the next one: what it
 * counted is kept in the totals. */
static void
worker_slot_free(unsigned slot)
{
	limits_clear_slot(slot);
	zstats_clear_slot(slot);
	ctrs_retire(slot);
}

/* A child that counts nothing keeps no writable map of the figures. */
static void
child_unmap_figures(void)
{
	ctrs_detach();
	zstats_detach();
	limits_detach();
}

/* Ctrl-C reaches the whole process group, and an operator may signal
 * any moatd: only the parent acts on them. */
static void
child_signals_parent_only(void)
{
	child_signals_default();
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
}

static int
child_fork(struct child *c)
{
	int sv[2];
	pid_t pid;

	c->respawn_at = time(NULL) + 1;		/* unless it starts */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		c->sock = sv[1];
		return 0;
	}
	close(sv[1]);
	c->pid = pid;
	c->sock = sv[0];
	c->started = time(NULL);
	c->respawn_at = 0;
	return 1;
}

static void
send_frame(struct child *c, struct frame *f, int fd)
{
	if (c->pid == 0 || c->sock == -1)
		return;
	if (frame_send(c->sock, f, fd) == -1)
		log_warn("send %s to pid %ld", frame_name(f->type),
		    (long)c->pid);
}

/* A fresh channel between one worker and the queue. */
static void
wire_worker_queue(struct child *w)
{
	struct frame f;
	int sv[2];

	if (QUEUE->pid == 0 || w->pid == 0)
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair worker-queue");
		return;
	}
	frame_init(&f, FRAME_WORKER_SOCK);
	frame_put_u32(&f, w->slot);
	send_frame(QUEUE, &f, sv[0]);
	frame_init(&f, FRAME_QUEUE_SOCK);
	send_frame(w, &f, sv[1]);
	close(sv[0]);
	close(sv[1]);
}

static void map_send_child(struct child *);

static unsigned queue_starts;	/* a respawned queue's workers resend */

/*
 * filterd, as filter_user, with one end of a fresh channel whose other
 * end goes to the queue.  It lives as long as that queue: when the
 * queue goes, it sees its channel close and exits, and the one started
 * after it is wired to the next queue.
 */
static void
start_filterd(void)
{
	struct child *c = FILTERD;
	struct frame f;
	int sv[2], r;

	if (cf->nfilters == 0 || QUEUE->pid == 0 || c->pid != 0)
		return;
	c->kind = CHILD_FILTER;
	c->respawn_at = time(NULL) + 1;		/* unless it starts */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair queue-filter");
		return;
	}
	if ((r = child_fork(c)) == -1) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (r == 0) {
		close(sv[0]);
		child_close_others(c, 0);
		close(c->sock);			/* it never hears the parent */
		child_unmap_figures();
		child_signals_default();
		signal(SIGINT, SIG_IGN);
		log_setproc("filter");
		priv_drop(&filter_id, NULL);
		filterd_main(cf, sv[1]);
	}
	close(sv[1]);
	frame_init(&f, FRAME_FILTER_SOCK);
	send_frame(QUEUE, &f, sv[0]);
	close(sv[0]);
	log_info("start", "filter pid=%ld", (long)c->pid);
}

static void
start_queue(void)
{
	struct child *c = QUEUE;
	size_t i;
	int r;

	c->kind = CHILD_QUEUE;
	ctrs_retire(CTRS_QUEUE_SLOT);
	if ((r = child_fork(c)) == -1)
		return;
	if (r == 0) {
		child_close_others(c, 0);
		child_signals_parent_only();
		zstats_detach();		/* it counts in moat.stats only */
		limits_detach();
		log_setproc("queue");
		priv_drop(&queue_id, NULL);
		queue_main(cf, c->sock, queue_starts == 0);
	}
	queue_starts++;
	queue_eof = 0;
	control_set_queue(c->sock);
	log_info("start", "queue pid=%ld", (long)c->pid);
	map_send_child(c);
	for (i = 1; i <= MAX_CHILDREN; i++)
		if (children[i].kind == CHILD_WORKER && children[i].pid != 0)
			wire_worker_queue(&children[i]);
	start_filterd();
}

/* The metrics listener: read-only figures, nothing else (metricsd.c). */
static void
start_metricsd(void)
{
	struct child *c = METRICSD;
	int r;

	if (metrics_fd == -1 || c->pid != 0)
		return;
	c->kind = CHILD_METRICS;
	if ((r = child_fork(c)) == -1)
		return;
	if (r == 0) {
		child_close_others(c, 0);
		child_signals_parent_only();
		child_unmap_figures();
		metricsd_main(cf, metrics_fd, c->sock, &smtp_id);
	}
	log_info("start", "metrics pid=%ld on %s", (long)c->pid,
	    cf->metrics_listen.text);
}

static struct child *
free_worker_slot(void)
{
	size_t i;

	for (i = 1; i <= MAX_CHILDREN; i++)
		if (children[i].kind == CHILD_NONE)
			return &children[i];
	return NULL;
}

static void
start_worker(struct child *c)
{
	int r;

	c->kind = CHILD_WORKER;
	c->current = 1;
	c->slot = (unsigned)(c - &children[1]);
	worker_slot_free(c->slot);
	if ((r = child_fork(c)) == -1)
		return;
	if (r == 0) {
		child_close_others(c, 1);
		child_signals_default();
		worker_main(cf, c->slot, c->sock, listen_fds, nlisten,
		    &smtp_id);
	}
	log_info("start", "smtp worker slot=%u pid=%ld", c->slot,
	    (long)c->pid);
	wire_worker_queue(c);
}

static void
start_workers(void)
{
	unsigned i, n = cf->workers;
	struct child *c;

	if (n == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (unsigned)cpus : 1;
	}
	if (n > MAX_CHILDREN / 2)
		n = MAX_CHILDREN / 2;
	for (i = 0; i < n; i++) {
		if ((c = free_worker_slot()) == NULL) {
			log_warnx("no free worker slot: %u of %u workers "
			    "started (old ones are still finishing)", i, n);
			break;
		}
		start_worker(c);
	}
	log_info("start", "%u smtp workers", n);
}

static void respawn_due(time_t);
static void store_tick(time_t, int);

static void
child_reaped(struct child *c, int status)
{
	struct kv k;
	time_t now = time(NULL);

	kv_begin(&k, "child-exit");
	kv_str(&k, "proc", c->kind == CHILD_QUEUE ? "queue" :
	    c->kind == CHILD_FILTER ? "filter" :
	    c->kind == CHILD_METRICS ? "metrics" : "smtp");
	kv_int(&k, "pid", c->pid);
	if (WIFSIGNALED(status))
		kv_int(&k, "signal", WTERMSIG(status));
	else
		kv_int(&k, "status", WEXITSTATUS(status));
	kv_emit(&k);
	close(c->sock);
	c->sock = -1;
	c->pid = 0;
	if (c->kind == CHILD_QUEUE) {
		control_set_queue(-1);
		ctrs_retire(CTRS_QUEUE_SLOT);
	}
	if (c->kind == CHILD_WORKER) {
		worker_slot_free(c->slot);
		store_due = 1;		/* its reader slot, after the reaping */
	}
	if (stopping || (c->kind == CHILD_WORKER && !c->current)) {
		if (c->kind == CHILD_WORKER)
			c->kind = CHILD_NONE;
		return;
	}
	/* the first death is answered at once, repeated quick ones slower */
	if (now - c->started >= QUICK_DEATH)
		c->quick_deaths = 0;
	c->backoff = c->quick_deaths == 0 ? 0 :
	    1u << (c->quick_deaths > 5 ? 5 : c->quick_deaths - 1);
	if (c->backoff > RESPAWN_MAX)
		c->backoff = RESPAWN_MAX;
	c->quick_deaths++;
	c->respawn_at = now + c->backoff;
	respawn_due(now);
}

static void
reap_children(void)
{
	pid_t pid;
	int status;
	size_t i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < NCHILDREN; i++)
			if (children[i].pid == pid) {
				child_reaped(&children[i], status);
				break;
			}
	}
}

static void
respawn_due(time_t now)
{
	size_t i;

	if (stopping)
		return;
	if (QUEUE->pid == 0 && QUEUE->respawn_at && now >= QUEUE->respawn_at)
		start_queue();
	if (FILTERD->pid == 0 && FILTERD->respawn_at &&
	    now >= FILTERD->respawn_at)
		start_filterd();
	if (METRICSD->pid == 0 && METRICSD->respawn_at &&
	    now >= METRICSD->respawn_at)
		start_metricsd();
	for (i = 1; i <= MAX_CHILDREN; i++) {
		struct child *c = &children[i];

		if (c->kind == CHILD_WORKER && c->current && c->pid == 0 &&
		    c->respawn_at && now >= c->respawn_at)
			start_worker(c);
	}
}

/* ---- maps ---- */

static void
map_send_all(int id, int fd)
{
	struct frame f;
	size_t i;

	for (i = 0; i <= MAX_CHILDREN; i++) {
		struct child *c = &children[i];

		if (c->pid == 0)
			continue;
		frame_init(&f, FRAME_MAP);
		frame_put_u32(&f, (uint32_t)id);
		send_frame(c, &f, fd);
	}
}

/* Every map as it is now, to a child that opened none itself. */
static void
map_send_child(struct child *c)
{
	struct frame f;
	int id, fd;

	for (id = 0; id < MAP_COUNT; id++) {
		if ((fd = mapwatch_open(cf, id)) == -1)
			continue;
		frame_init(&f, FRAME_MAP);
		frame_put_u32(&f, (uint32_t)id);
		send_frame(c, &f, fd);
		close(fd);
	}
}

/* A new cdb of a map, to every child that has them. */
static void
maps_check(int force)
{
	mapwatch_check(cf, force, map_send_all);
}

/* ---- spool space ---- */

static void
spool_check(void)
{
	static int was_low;
	struct statvfs sv;
	int low;

	if (cf->min_free_space == 0 || statvfs(cf->spool, &sv) == -1)
		low = 0;
	else
		low = (uint64_t)sv.f_bavail * sv.f_frsize < cf->min_free_space;
	if (low != was_low)
		log_info("spool", "spool free space %s min_free_space: MAIL "
		    "gets %s", low ? "below" : "back above",
		    low ? "452 4.3.1" : "through again");
	was_low = low;
	limits_set_spool_low(low);
}

/* ---- the state store: synced here, never on a session's path ---- */

#define STORE_SYNC_EVERY	10	/* seconds */

static unsigned	drain_workers(void);

/* For moatctl stats and the metrics listener, with each sync. */
static void
count_blocks(void)
{
	uint64_t clients, nets;

	if (block_count(time(NULL), &clients, &nets) == 0)
		ctrs_set_blocked(clients, nets);
}

/* A new store file leaves the workers on the old one: they are replaced. */
static void
store_tick(time_t now, int force)
{
	static time_t last;
	int broken = limits_store_reported_broken();

	if (!broken && !force && now - last < STORE_SYNC_EVERY)
		return;
	last = now;
	if (!store_maintain(cf->state_db, cf->state_db_size, broken,
	    count_blocks))
		return;
	limits_store_renewed();
	if (!stopping && drain_workers() > 0) {
		start_workers();
		log_info("store", "smtp workers replaced: the state store was "
		    "started anew");
	}
}

/* ---- reload and stop ---- */

/* The queue and filterd keep the filters they started with. */
static void
keep_filter_settings(struct conf *fresh)
{
	if (fresh->nfilters != cf->nfilters ||
	    memcmp(fresh->filters, cf->filters, sizeof(cf->filters)) != 0 ||
	    strcmp(fresh->filter_user, cf->filter_user) != 0 ||
	    fresh->filter_timeout != cf->filter_timeout ||
	    fresh->filter_failure != cf->filter_failure ||
	    fresh->filter_max_procs != cf->filter_max_procs)
		log_warnx("reload: filter settings changed; they take effect "
		    "at the next restart");
	fresh->nfilters = cf->nfilters;
	memcpy(fresh->filters, cf->filters, sizeof(fresh->filters));
	memcpy(fresh->filter_user, cf->filter_user, sizeof(fresh->filter_user));
	fresh->filter_timeout = cf->filter_timeout;
	fresh->filter_failure = cf->filter_failure;
	fresh->filter_max_procs = cf->filter_max_procs;
}

/* The current workers finish their sessions and exit; how many there were. */
static unsigned
drain_workers(void)
{
	unsigned n = 0;
	size_t i;

	for (i = 1; i <= MAX_CHILDREN; i++) {
		struct child *c = &children[i];
		struct frame f;

		if (c->kind != CHILD_WORKER || !c->current)
			continue;
		c->current = 0;
		n++;
		if (c->pid == 0) {
			c->kind = CHILD_NONE;
			continue;
		}
		frame_init(&f, FRAME_DRAIN);
		frame_put_u32(&f, 1);
		send_frame(c, &f, -1);
	}
	return n;
}

static void
reload(void)
{
	static struct conf fresh;
	char err[512];
	SSL_CTX *tls;

	if (conf_load(&fresh, cf_path, err, sizeof(err)) == -1) {
		log_warnx("reload refused, keeping the running config: %s",
		    err);
		return;
	}
	/* new workers that cannot load the key would leave nobody listening */
	tls = tls_server_ctx(&fresh, err, sizeof(err));
	if (tls == NULL && err[0] != '\0') {
		log_warnx("reload refused, keeping the running config: %s",
		    err);
		return;
	}
	if (tls != NULL)
		SSL_CTX_free(tls);
	if (fresh.dynamic_ptr[0] != '\0' &&
	    dynptr_load(fresh.dynamic_ptr, err, sizeof(err)) == -1) {
		log_warnx("reload refused, keeping the running config: "
		    "dynamic_ptr: %s", err);
		return;
	}
	if (fresh.dynamic_ptr[0] == '\0')
		dynptr_free();
	if (fresh.nlisten != cf->nlisten ||
	    memcmp(fresh.listen, cf->listen, sizeof(fresh.listen)) != 0)
		log_warnx("reload: listen addresses changed; they take "
		    "effect at the next restart");
	fresh.nlisten = cf->nlisten;
	memcpy(fresh.listen, cf->listen, sizeof(fresh.listen));
	if (strcmp(fresh.metrics_listen.text, cf->metrics_listen.text) != 0)
		log_warnx("reload: metrics_listen changed; it takes effect at "
		    "the next restart");
	fresh.metrics_listen = cf->metrics_listen;
	keep_filter_settings(&fresh);
	/* the old generation finishes its sessions with the old settings */
	cf = malloc(sizeof(*cf));
	if (cf == NULL)
		fatal("reload");
	*cf = fresh;
	(void)drain_workers();
	maps_check(0);
	start_workers();
	log_info("reload", "configuration reloaded from %s", cf_path);
}

static void
stop_begin(void)
{
	struct frame f;
	size_t i;

	if (stopping)
		return;
	stopping = 1;
	stop_deadline = time(NULL) + cf->shutdown_timeout + 5;
	log_info("stop", "shutting down: draining sessions for up to %us",
	    cf->shutdown_timeout);
	for (i = 1; i <= MAX_CHILDREN; i++) {
		frame_init(&f, FRAME_DRAIN);
		frame_put_u32(&f, 2);
		send_frame(&children[i], &f, -1);
	}
}

static int
workers_alive(void)
{
	size_t i;

	for (i = 1; i <= MAX_CHILDREN; i++)
		if (children[i].pid != 0)
			return 1;
	return 0;
}

static void
stop_step(time_t now)
{
	struct frame f;
	size_t i;

	if (now >= stop_deadline)
		for (i = 0; i < NCHILDREN; i++)
			if (children[i].pid != 0)
				kill(children[i].pid, SIGKILL);
	if (workers_alive())
		return;
	if (QUEUE->pid != 0 && QUEUE->respawn_at != -1) {
		frame_init(&f, FRAME_DRAIN);
		frame_put_u32(&f, 2);
		send_frame(QUEUE, &f, -1);
		QUEUE->respawn_at = -1;		/* asked once */
		return;
	}
	if (QUEUE->pid != 0 || FILTERD->pid != 0)	/* it ends with the queue */
		return;
	if (METRICSD->pid != 0)
		kill(METRICSD->pid, SIGTERM);
	if (cf->pidfile[0] != '\0')
		unlink(cf->pidfile);
	control_unlink();
	zstats_log(now, 1);		/* the last period's figures */
	log_info("stop", "stopped");
	exit(0);
}

static void
flush_queue(void)
{
	struct frame f;

	frame_init(&f, FRAME_FLUSH);
	send_frame(QUEUE, &f, -1);
	log_info("flush", "deferred deliveries retried now");
}

/* One frame from the queue: the answer to an operator's request. */
static void
queue_read(void)
{
	static struct frame f;
	int r;

	if ((r = frame_recv(QUEUE->sock, &f)) == 0) {
		queue_eof = 1;		/* SIGCHLD follows */
		return;
	}
	if (r == -1) {
		if (errno != EAGAIN)
			log_warn("read from the queue");
		return;
	}
	if (f.type == FRAME_CTL_REPLY)
		control_reply(&f);
	else
		log_warnx("unexpected %s frame from the queue",
		    frame_name(f.type));
	if (f.fd != -1)
		close(f.fd);
}

static void
handle_signals(void)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap_children();
			break;
		case SIGHUP:
			if (!stopping)
				reload();
			break;
		case SIGTERM:
		case SIGINT:
			stop_begin();
			break;
		case SIGUSR1:
			flush_queue();
			break;
		}
	}
}

static void
setup_signals(void)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	if ((sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
}

static void
lookup_users(void)
{
	char err[256];

	if (priv_lookup(cf->user, &smtp_id, err, sizeof(err)) == -1 ||
	    priv_lookup(cf->queue_user, &queue_id, err, sizeof(err)) == -1 ||
	    (cf->nfilters > 0 && priv_lookup(cf->filter_user, &filter_id,
	    err, sizeof(err)) == -1))
		fatalx("%s", err);
	if (!smtp_id.can_drop)
		log_info("start", "running as uid %ld, not root: no privilege "
		    "separation, no chroot", (long)getuid());
}

/*
 * Wait for a signal, a frame from the queue or moatctl.  Descriptors
 * first, signals last: a reaped queue closes its channel, and a new one
 * may get the same number before this poll's events are read.
 */
static void
parent_poll(void)
{
	struct pollfd pfd[2 + CONTROL_POLLFDS];
	size_t n = 0, nctl;
	int qi = -1;

	pfd[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
	if (QUEUE->sock != -1 && !queue_eof) {
		qi = (int)n;
		pfd[n++] = (struct pollfd){ .fd = QUEUE->sock,
		    .events = POLLIN };
	}
	nctl = control_pollfds(pfd + n, CONTROL_POLLFDS);
	if (poll(pfd, n + nctl, 1000) == -1) {
		if (errno != EINTR)
			fatal("poll");
		return;
	}
	control_events(pfd + n, nctl);
	if (qi != -1 && pfd[qi].revents != 0)
		queue_read();
	handle_signals();
	if (store_due) {
		store_due = 0;
		store_tick(time(NULL), 1);
	}
}

int
parent_run(struct conf *conf, const char *conf_path)
{
	char err[512];
	time_t now, last = 0;
	size_t i;

	cf = conf;
	cf_path = conf_path;
	log_setproc("parent");
	if (cf->dynamic_ptr[0] != '\0' &&
	    dynptr_load(cf->dynamic_ptr, err, sizeof(err)) == -1)
		fatalx("dynamic_ptr: %s", err);	/* the workers inherit them */
	for (i = 0; i < NCHILDREN; i++)
		children[i].sock = -1;
	lookup_users();
	setup_signals();
	prepare_dirs();
	bind_all();
	if (cf->metrics_listen.sslen != 0 &&
	    (metrics_fd = bind_one(&cf->metrics_listen)) != -1)
		log_info("listen", "metrics on %s", cf->metrics_listen.text);
	control_listen(cf);
	if (limits_init(MAX_CHILDREN, cf->max_sessions) == -1)
		fatal("shared session counters");
	(void)zstats_create(cf->spool);	/* without it: no figures, logged */
	(void)ctrs_create(cf->spool);
	maps_check(1);
	spool_check();
	write_pidfile();
	store_tick(time(NULL), 1);	/* a broken store is mended first */
	start_queue();
	start_workers();
	start_metricsd();
	log_info("start", "moatd ready: %s", cf->hostname);
	for (;;) {
		parent_poll();
		now = time(NULL);
		control_tick(now);
		if (stopping) {
			stop_step(now);
			continue;
		}
		respawn_due(now);
		if (now != last) {
			last = now;
			maps_check(0);
			spool_check();
			zstats_log(now, 0);
			ctrs_tick(now);
			store_tick(now, 0);
		}
	}
}
