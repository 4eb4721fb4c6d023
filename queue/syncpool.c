/*
 * syncpool: fsync many files at once, through helper processes (see
 * syncpool.h for why).
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "../metrics/counters.h"
#include "../smtpd/frame.h"
#include "../smtpd/log.h"
#include "syncpool.h"

#define SYNCPOOL_WAIT_MS	10000	/* no answer that long: do it here */
#define HELPER_SOCK		3

static int pool_sock = -1;
static uint64_t next_tag = 1;
static struct frame pool_frame;

static void __attribute__((noreturn))
helper_main(void)
{
	struct frame *f = &pool_frame;
	uint64_t tag;
	int r, err;

	for (;;) {
		if ((r = frame_recv(HELPER_SOCK, f)) == 0)
			_exit(0);
		if (r == -1)
			_exit(1);
		tag = frame_get_u64(f);
		if (f->type != FRAME_SYNC || f->fd == -1 || frame_end(f) != 0) {
			if (f->fd != -1)
				close(f->fd);
			continue;
		}
		err = fsync(f->fd) == -1 ? errno : 0;
		close(f->fd);
		frame_init(f, FRAME_SYNC_DONE);
		frame_put_u64(f, tag);
		frame_put_u32(f, (uint32_t)err);
		if (frame_send(HELPER_SOCK, f, -1) == -1)
			_exit(1);
	}
}

/* In the new helper: keep stdio and the pool socket only. */
static void __attribute__((noreturn))
helper_start(int sock)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	if (dup2(sock, HELPER_SOCK) == -1 ||
	    close_range(HELPER_SOCK + 1, ~0U, 0) == -1)
		_exit(1);
	helper_main();
}

void
syncpool_start(unsigned n)
{
	int sv[2];
	unsigned i, started = 0;
	pid_t pid;

	if (n > 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv) == -1) {
		log_warn("queue: fsync helpers: socketpair");
		n = 0;
	}
	for (i = 0; i < n; i++) {
		if ((pid = fork()) == -1) {
			log_warn("queue: fsync helpers: fork");
			break;
		}
		if (pid == 0) {
			close(sv[0]);
			ctrs_detach();		/* the queue counts, not they */
			helper_start(sv[1]);
		}
		started++;
	}
	if (n > 0)
		close(sv[1]);
	if (started == 0) {
		if (n > 0)
			close(sv[0]);
		log_warnx("queue: no fsync helpers, files are synced one by "
		    "one");
		return;
	}
	pool_sock = sv[0];
}

void
syncpool_stop(void)
{
	if (pool_sock != -1)
		close(pool_sock);
	pool_sock = -1;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* The pool is gone (every helper dead) or stuck: stop using it. */
static void
pool_lost(const char *why)
{
	log_warnx("queue: fsync helpers %s, files are synced one by one",
	    why);
	syncpool_stop();
}

static size_t
send_chunk(const int *fds, int *errs, size_t n, uint64_t base)
{
	struct frame *f = &pool_frame;
	size_t i, sent = 0;

	for (i = 0; i < n; i++) {
		errs[i] = -1;
		frame_init(f, FRAME_SYNC);
		frame_put_u64(f, base + i);
		if (pool_sock != -1 && frame_send(pool_sock, f, fds[i]) == 0) {
			sent++;
			continue;
		}
		if (pool_sock != -1)
			pool_lost("are gone");
		errs[i] = fsync(fds[i]) == -1 ? errno : 0;
	}
	return sent;
}

/* Collect answers for tags base..base+n-1 until all are in. */
static void
wait_chunk(int *errs, size_t n, uint64_t base, size_t outstanding)
{
	struct frame *f = &pool_frame;
	struct pollfd pfd;
	uint64_t tag;
	uint32_t err;
	int r;

	while (outstanding > 0 && pool_sock != -1) {
		pfd.fd = pool_sock;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, SYNCPOOL_WAIT_MS)) == -1 &&
		    errno == EINTR)
			continue;
		if (r <= 0) {
			pool_lost("do not answer");
			return;
		}
		if ((r = frame_recv(pool_sock, f)) <= 0) {
			pool_lost("are gone");
			return;
		}
		tag = frame_get_u64(f);
		err = frame_get_u32(f);
		if (f->fd != -1)
			close(f->fd);
		if (f->type != FRAME_SYNC_DONE || frame_end(f) != 0 ||
		    tag < base || tag - base >= n || errs[tag - base] != -1)
			continue;	/* an answer from a chunk given up on */
		errs[tag - base] = (int)err;
		outstanding--;
	}
}

void
syncpool_fsync(const int *fds, int *errs, size_t n)
{
	size_t done, chunk, i, sent;

	if (n == 1) {			/* nothing to overlap */
		errs[0] = fsync(fds[0]) == -1 ? errno : 0;
		return;
	}
	for (done = 0; done < n; done += chunk) {
		chunk = n - done < SYNCPOOL_BATCH ? n - done : SYNCPOOL_BATCH;
		sent = send_chunk(fds + done, errs + done, chunk, next_tag);
		wait_chunk(errs + done, chunk, next_tag, sent);
		next_tag += chunk;
		for (i = done; i < done + chunk; i++)
			if (errs[i] == -1)
				errs[i] = fsync(fds[i]) == -1 ? errno : 0;
	}
}
