/*
 * lmtphelper: LMTP transactions in helper processes (see lmtphelper.h).
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "../metrics/counters.h"
#include "../smtpd/log.h"
#include "lmtphelper.h"
#include "queue.h"

#define HELPER_SOCK	3
#define LMTP_IDLE_MS	10000	/* a kept connection unused this long goes */

int
lmtp_job_put(struct frame *f, const struct lmtp_job *j)
{
	size_t i;

	frame_init(f, FRAME_LMTP_JOB);
	frame_put_u64(f, j->tag);
	frame_put_str(f, j->target);
	frame_put_str(f, j->helo);
	frame_put_str(f, j->sender);
	frame_put_u64(f, (uint64_t)j->off);
	frame_put_u64(f, (uint64_t)j->len);
	frame_put_u32(f, j->timeout_s);
	frame_put_u32(f, (uint32_t)j->n);
	for (i = 0; i < j->n; i++)
		frame_put_str(f, j->rcpt[i]);
	return f->bad ? -1 : 0;
}

const char *
lmtp_done_get(struct frame *f, uint64_t *tag, struct lmtp_result *res,
    size_t *n)
{
	uint32_t i, count;

	*tag = frame_get_u64(f);
	count = frame_get_u32(f);
	if (f->bad || count > LMTP_JOB_RCPTS)
		return "bad result count";
	for (i = 0; i < count; i++) {
		res[i].code = (int)frame_get_u32(f);
		frame_get_str(f, res[i].text, sizeof(res[i].text));
	}
	if (frame_end(f) != 0)
		return "malformed results";
	*n = count;
	return NULL;
}

/* ---- in the helper ---- */

static struct frame hframe;
static char target[MAP_VALUE_MAX], helo[256], sender[SPOOL_ADDR_MAX];
static char arena[FRAME_MAX];
static char *rcpts[LMTP_JOB_RCPTS];
static struct lmtp_result results[LMTP_JOB_RCPTS];

/* One job's frame into m; 0, 1 when its target is not one, -1 when the
 * frame is bad. */
static int
job_get(struct frame *f, uint64_t *tag, struct lmtp_target *t,
    struct lmtp_msg *m, unsigned *timeout_s)
{
	uint32_t n;

	*tag = frame_get_u64(f);
	frame_get_str(f, target, sizeof(target));
	frame_get_str(f, helo, sizeof(helo));
	frame_get_str(f, sender, sizeof(sender));
	m->off = (off_t)frame_get_u64(f);
	m->len = (off_t)frame_get_u64(f);
	*timeout_s = frame_get_u32(f);
	n = frame_get_u32(f);
	if (f->bad || n == 0 || n > LMTP_JOB_RCPTS)
		return -1;
	frame_get_strv(f, arena, sizeof(arena), SPOOL_ADDR_MAX, rcpts, n);
	if (frame_end(f) != 0 || f->fd == -1)
		return -1;
	m->helo = helo;
	m->sender = sender;
	m->rcpt = (const char *const *)rcpts;
	m->nrcpt = n;
	m->fd = f->fd;
	return lmtp_target_parse(target, t) == 0 ? 0 : 1;
}

static void
answer(uint64_t tag, size_t n)
{
	struct frame *f = &hframe;
	size_t i;

	frame_init(f, FRAME_LMTP_DONE);
	frame_put_u64(f, tag);
	frame_put_u32(f, (uint32_t)n);
	for (i = 0; i < n; i++) {
		frame_put_u32(f, (uint32_t)results[i].code);
		frame_put_str(f, results[i].text);
	}
	while (frame_send(HELPER_SOCK, f, -1) == -1) {
		struct pollfd p = { .fd = HELPER_SOCK, .events = POLLOUT };

		if (errno != EAGAIN && errno != EINTR)
			_exit(1);
		(void)poll(&p, 1, 1000);	/* the queue reads every turn */
	}
}

/* 1 when a job (or the end) is there; 0 after LMTP_IDLE_MS without. */
static int
idle_wait(void)
{
	struct pollfd p = { .fd = HELPER_SOCK, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, LMTP_IDLE_MS);
	while (r == -1 && errno == EINTR);
	return r != 0;
}

static void __attribute__((noreturn))
helper_main(void)
{
	struct lmtp_target t;
	struct lmtp_msg m;
	unsigned timeout_s;
	uint64_t tag;
	size_t i;
	int r;

	for (;;) {
		if (idle_wait() == 0) {
			lmtp_idle_close();	/* the server's connection */
			continue;
		}
		/* the socket is shared, non-blocking: a job woke every idle
		 * helper and only one got it */
		if ((r = frame_recv(HELPER_SOCK, &hframe)) == -1 &&
		    (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			_exit(r == 0 ? 0 : 1);
		if (hframe.type != FRAME_LMTP_JOB || (r = job_get(&hframe,
		    &tag, &t, &m, &timeout_s)) == -1) {
			if (hframe.fd != -1)
				close(hframe.fd);
			continue;	/* nobody to answer: the queue's bug */
		}
		if (r == 1) {
			for (i = 0; i < m.nrcpt; i++) {
				results[i].code = 451;
				(void)snprintf(results[i].text,
				    sizeof(results[i].text), "4.3.5 bad LMTP "
				    "target %.200s", target);
			}
		} else
			lmtp_deliver(&t, &m, results, (int)timeout_s);
		close(m.fd);
		answer(tag, m.nrcpt);
	}
}

static pid_t helpers[LMTP_HELPERS];

int
lmtphelper_died(void)
{
	size_t i;

	for (i = 0; i < LMTP_HELPERS; i++)
		if (helpers[i] > 0 && waitpid(helpers[i], NULL, WNOHANG) ==
		    helpers[i]) {
			helpers[i] = 0;
			return 1;
		}
	return 0;
}

void
lmtphelper_kill(void)
{
	size_t i;

	for (i = 0; i < LMTP_HELPERS; i++) {
		if (helpers[i] <= 0)
			continue;
		(void)kill(helpers[i], SIGKILL);
		(void)waitpid(helpers[i], NULL, 0);
		helpers[i] = 0;
	}
}

struct chan *
lmtphelper_start(struct queue *q)
{
	struct chan *c;
	unsigned i, started = 0;
	int sv[2];
	pid_t pid;

	lmtphelper_kill();			/* what is left of a pool */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("queue: LMTP helpers: socketpair");
		return NULL;
	}
	for (i = 0; i < LMTP_HELPERS; i++) {
		if ((pid = fork()) == -1) {
			log_warn("queue: LMTP helpers: fork");
			break;
		}
		if (pid == 0) {
			ctrs_detach();		/* the queue counts, not they */
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_IGN);
			signal(SIGHUP, SIG_IGN);
			signal(SIGUSR1, SIG_IGN);
			signal(SIGPIPE, SIG_IGN);
			if (dup2(sv[1], HELPER_SOCK) == -1 ||
			    close_range(HELPER_SOCK + 1, ~0U, 0) == -1 ||
			    fcntl(HELPER_SOCK, F_SETFL, O_NONBLOCK) == -1)
				_exit(1);
			helper_main();
		}
		helpers[started++] = pid;
	}
	close(sv[1]);
	if (started == 0 || (c = chan_open(q, sv[0], CHAN_LMTP, 0)) == NULL) {
		close(sv[0]);
		return NULL;
	}
	return c;
}
