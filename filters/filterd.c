/*
 * filterd: runs the filters of each message (see filterd.h).
 */
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../smtpd/log.h"
#include "env.h"
#include "filterd.h"
#include "output.h"
#include "request.h"

#define SEND_WAIT_MS	5000	/* the queue reads its channel every turn */
#define READS_PER_TURN	64	/* a filter that never stops writing waits */

struct job {
	struct filter_request req;
	int		 msgfd;
	struct filter_env env;
	size_t		 next;		/* the filter running (or to run) */
	pid_t		 pid;		/* 0: none running */
	int		 outfd;		/* its stdout; -1 when closed */
	char		 out[FILTER_OUT_MAX];
	size_t		 outlen;
	int64_t		 started, deadline;	/* monotonic ms */
	int		 timed_out, exited, status, cancelled;
	struct filter_done done;
	size_t		 hlen;		/* done.headers used */
	unsigned	 dropped;	/* fields that did not fit */
	LIST_ENTRY(job)	 link;
};

static const struct conf *cf;
static int qfd, epfd, sigfd;
static LIST_HEAD(, job) jobs = LIST_HEAD_INITIALIZER(jobs);
static struct frame frame;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- one filter process ---- */

static void __attribute__((noreturn))
exec_filter(const struct conf_filter *f, int msgfd, int outfd,
    char *const envp[])
{
	char *argv[CONF_FILTER_ARGS + 2];
	const char *a = f->args;
	sigset_t none;
	unsigned i;

	argv[0] = (char *)(uintptr_t)f->path;
	for (i = 0; i < f->nargs; i++, a += strlen(a) + 1)
		argv[i + 1] = (char *)(uintptr_t)a;
	argv[f->nargs + 1] = NULL;
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	(void)signal(SIGPIPE, SIG_DFL);
	if (setsid() == -1 || prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
	    dup2(msgfd, 0) == -1 ||
	    lseek(0, 0, SEEK_SET) == -1 || dup2(outfd, 1) == -1)
		_exit(127);
	(void)close_range(3, ~0U, 0);
	if (chdir("/") == -1)
		_exit(127);
	execve(argv[0], argv, envp);
	_exit(127);
}

static int
spawn(struct job *j)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((j->pid = fork()) == -1) {
		j->pid = 0;
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (j->pid == 0)
		exec_filter(&cf->filters[j->next], j->msgfd, p[1],
		    j->env.envp);
	close(p[1]);
	j->outfd = p[0];
	j->outlen = 0;
	j->exited = j->timed_out = 0;
	j->started = now_ms();
	j->deadline = j->started + (int64_t)cf->filter_timeout * 1000;
	ev.data.ptr = j;
	if (fcntl(j->outfd, F_SETFL, O_NONBLOCK) == -1 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, j->outfd, &ev) == -1)
		log_warn("filter: watching the output of %s",
		    cf->filters[j->next].name);
	return 0;
}

/* Read what is there; past FILTER_OUT_MAX it is read and dropped. 1 at
 * the end of the output. */
static int
read_output(struct job *j)
{
	char sink[4096];
	ssize_t n;
	int i;

	for (i = 0; i < READS_PER_TURN; i++) {
		if (j->outlen < sizeof(j->out))
			n = read(j->outfd, j->out + j->outlen,
			    sizeof(j->out) - j->outlen);
		else
			n = read(j->outfd, sink, sizeof(sink));
		if (n > 0 && j->outlen < sizeof(j->out))
			j->outlen += (size_t)n;
		if (n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN))
			return 1;
		if (n == -1 && errno == EAGAIN)
			return 0;
	}
	return 0;
}

static void
close_output(struct job *j)
{
	if (j->outfd == -1)
		return;
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, j->outfd, NULL);
	close(j->outfd);
	j->outfd = -1;
}

/* ---- verdicts ---- */

static void
log_filter(const struct job *j, enum filter_verdict v,
    const struct filter_output *o, int64_t ms)
{
	struct kv k;

	kv_begin(&k, "filter");
	kv_str(&k, "qid", j->req.qid);
	kv_str(&k, "name", cf->filters[j->next].name);
	kv_str(&k, "verdict", filter_verdict_name(v));
	if (j->timed_out)
		kv_str(&k, "status", "timeout");
	else if (WIFSIGNALED(j->status))
		kv_int(&k, "signal", WTERMSIG(j->status));
	else
		kv_int(&k, "status", WEXITSTATUS(j->status));
	kv_int(&k, "ms", ms);
	kv_uint(&k, "fields", o->nfields);
	kv_uint(&k, "dropped", o->dropped);
	kv_emit(&k);
}

static void
refuse(struct job *j, unsigned code, const char *enh, const char *text,
    unsigned block)
{
	struct filter_done *d = &j->done;

	d->code = code;
	(void)snprintf(d->enh, sizeof(d->enh), "%s", enh);
	(void)snprintf(d->text, sizeof(d->text), "%s", text);
	(void)snprintf(d->cls, sizeof(d->cls), "filter:%s",
	    cf->filters[j->next].name);
	d->block = block;
	d->headers[0] = '\0';
}

static void
keep_fields(struct job *j, const struct filter_output *o)
{
	if (j->hlen + o->hlen >= sizeof(j->done.headers)) {
		j->dropped += o->nfields;
		return;
	}
	memcpy(j->done.headers + j->hlen, o->headers, o->hlen);
	j->hlen += o->hlen;
	j->done.headers[j->hlen] = '\0';
}

/* The filter is done: 1 when the run goes on with the next one. */
static int
judge(struct job *j)
{
	static struct filter_output o;
	enum filter_verdict v = filter_verdict(j->status, j->timed_out);
	const char *name = cf->filters[j->next].name;
	char text[sizeof(j->done.text)];

	filter_output_parse(j->out, j->outlen, &o);
	log_filter(j, v, &o, now_ms() - j->started);
	switch (v) {
	case FV_ACCEPT:
		keep_fields(j, &o);
		return 1;
	case FV_REJECT:
		(void)snprintf(text, sizeof(text), "Message refused by filter "
		    "%s", name);
		refuse(j, 550, "5.7.1", o.reply[0] ? o.reply : text, o.block);
		return 0;
	case FV_TEMPFAIL:
		(void)snprintf(text, sizeof(text), "Message deferred by filter "
		    "%s, try again later", name);
		refuse(j, 451, "4.7.1", o.reply[0] ? o.reply : text, o.block);
		return 0;
	case FV_FAILED:
		if (cf->filter_failure == FILTER_FAIL_ACCEPT)
			return 1;
		(void)snprintf(text, sizeof(text), "Filter %s failed, try "
		    "again later", name);
		refuse(j, 451, "4.3.0", text, 0);
		return 0;
	}
	return 0;
}

/* ---- runs ---- */

static void
send_frame(struct frame *f, const char *qid)
{
	struct pollfd p = { .fd = qfd, .events = POLLOUT };

	while (frame_send(qfd, f, -1) == -1) {
		if (errno != EAGAIN && errno != EINTR) {
			log_warn("filter: queue channel");
			return;
		}
		if (poll(&p, 1, SEND_WAIT_MS) == 0) {
			log_warnx("filter: the queue does not read; verdict "
			    "for qid=%s dropped", qid);
			return;
		}
	}
}

/* The run cannot even start: a failure of the filters as a whole. */
static void
run_failed(struct job *j)
{
	j->done.code = 451;
	(void)snprintf(j->done.enh, sizeof(j->done.enh), "4.3.0");
	(void)snprintf(j->done.text, sizeof(j->done.text), "Message filters "
	    "failed, try again later");
	(void)snprintf(j->done.cls, sizeof(j->done.cls), "filter");
}

static void
job_free(struct job *j)
{
	LIST_REMOVE(j, link);
	close_output(j);
	if (j->msgfd != -1)
		close(j->msgfd);
	filter_env_free(&j->env);
	free(j);
}

static void
job_end(struct job *j)
{
	j->done.ticket = j->req.ticket;
	if (!j->cancelled && filter_done_put(&frame, &j->done) == 0)
		send_frame(&frame, j->req.qid);
	job_free(j);
}

/* Start the next filter, or end the run: every filter accepted. */
static void
job_step(struct job *j)
{
	while (j->next < cf->nfilters) {
		if (spawn(j) == 0)
			return;
		log_warn("filter: starting %s", cf->filters[j->next].name);
		j->status = 127 << 8;
		j->exited = 1;
		j->outlen = 0;
		j->started = now_ms();
		if (!judge(j)) {
			job_end(j);
			return;
		}
		j->next++;
	}
	j->done.code = 250;
	job_end(j);
}

/* The filter exited (or was killed): when its output is read too. */
static void
filter_over(struct job *j)
{
	if (j->outfd != -1)
		(void)read_output(j);
	close_output(j);
	(void)kill(-j->pid, SIGKILL);	/* what it left behind */
	j->pid = 0;
	if (j->cancelled) {
		job_free(j);
		return;
	}
	if (!judge(j)) {
		job_end(j);
		return;
	}
	j->next++;
	job_step(j);
}

static void
run_request(struct frame *f)
{
	struct filter_envelope e;
	const char *bad;
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		log_warn("filter");
		if (f->fd != -1)
			close(f->fd);
		return;
	}
	j->outfd = -1;
	j->msgfd = f->fd;
	f->fd = -1;
	LIST_INSERT_HEAD(&jobs, j, link);
	if ((bad = filter_request_get(f, &j->req)) != NULL ||
	    j->msgfd == -1) {
		log_warnx("filter: bad request from the queue: %s",
		    bad != NULL ? bad : "no message");
		run_failed(j);
		job_end(j);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.qid = j->req.qid;
	e.ip = j->req.ip;
	e.port = j->req.port;
	e.ptr = j->req.ptr;
	e.ptr_verified = j->req.ptr_verified != 0;
	e.helo = j->req.helo;
	e.tls = j->req.tls;
	e.sender = j->req.sender;
	e.dnsbl = j->req.dnsbl;
	e.greylist = j->req.greylist;
	e.size = j->req.size;
	e.rcpt = (const char *const *)j->req.rcpt;
	e.nrcpt = j->req.nrcpt;
	if (filter_env_build(&j->env, &e) == -1) {
		log_warn("filter: qid=%s", j->req.qid);
		run_failed(j);
		job_end(j);
		return;
	}
	job_step(j);
}

static void
cancel_request(struct frame *f)
{
	uint64_t ticket = frame_get_u64(f);
	struct job *j;

	if (frame_end(f) != 0)
		return;
	LIST_FOREACH(j, &jobs, link)
		if (j->req.ticket == ticket) {
			j->cancelled = 1;
			if (j->pid > 0)
				(void)kill(-j->pid, SIGKILL);
		}
}

static void __attribute__((noreturn))
queue_gone(void)
{
	struct job *j;

	LIST_FOREACH(j, &jobs, link)
		if (j->pid > 0)
			(void)kill(-j->pid, SIGKILL);
	log_info("filter", "queue channel closed: filters stopped");
	_exit(0);
}

static void
queue_readable(void)
{
	int n, i;

	for (i = 0; i < 64; i++) {
		if ((n = frame_recv(qfd, &frame)) == 0)
			queue_gone();
		if (n == -1) {
			if (errno != EAGAIN && errno != EINTR)
				queue_gone();
			return;
		}
		if (frame.type == FRAME_FILTER_RUN)
			run_request(&frame);
		else if (frame.type == FRAME_FILTER_CANCEL)
			cancel_request(&frame);
		else
			log_warnx("filter: unexpected %s frame from the "
			    "queue", frame_name(frame.type));
		if (frame.fd != -1)
			close(frame.fd);
	}
}

/* ---- children and time ---- */

static void
reap(void)
{
	struct signalfd_siginfo si;
	struct job *j;
	pid_t pid;
	int status;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		LIST_FOREACH(j, &jobs, link)	/* left at once: j may go */
			if (j->pid == pid) {
				j->status = status;
				j->exited = 1;
				filter_over(j);
				break;
			}
}

static int
next_timeout(void)
{
	int64_t t = now_ms(), soonest = -1;
	struct job *j;

	LIST_FOREACH(j, &jobs, link)
		if (j->pid > 0 && !j->timed_out &&
		    (soonest == -1 || j->deadline < soonest))
			soonest = j->deadline;
	if (soonest == -1)
		return -1;
	return soonest <= t ? 0 : (int)(soonest - t);
}

static void
expire(void)
{
	int64_t t = now_ms();
	struct job *j;

	LIST_FOREACH(j, &jobs, link)
		if (j->pid > 0 && !j->timed_out && j->deadline <= t) {
			j->timed_out = 1;
			(void)kill(-j->pid, SIGKILL);
		}
}

static void
setup(int queue_sock)
{
	struct epoll_event ev = { .events = EPOLLIN };
	sigset_t set;

	qfd = queue_sock;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("filter: subreaper");
	(void)prctl(PR_SET_DUMPABLE, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("filter: signalfd");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	if (fcntl(qfd, F_SETFL, O_NONBLOCK) == -1 ||
	    (epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("filter: setup");
	ev.data.ptr = &qfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, qfd, &ev) == -1)
		fatal("filter: epoll");
	ev.data.ptr = &sigfd;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, sigfd, &ev) == -1)
		fatal("filter: epoll");
}

void
filterd_main(const struct conf *conf, int queue_sock)
{
	struct epoll_event evs[64];
	int n, i;

	cf = conf;
	log_setproc("filter");
	setup(queue_sock);
	for (;;) {
		n = epoll_wait(epfd, evs, 64, next_timeout());
		if (n == -1 && errno != EINTR)
			fatal("filter: epoll_wait");
		/* output first: reaping and the queue may free jobs */
		for (i = 0; i < n; i++)
			if (evs[i].data.ptr != &qfd && evs[i].data.ptr != &sigfd &&
			    read_output(evs[i].data.ptr))
				close_output(evs[i].data.ptr);
		for (i = 0; i < n; i++)
			if (evs[i].data.ptr == &sigfd)
				reap();
			else if (evs[i].data.ptr == &qfd)
				queue_readable();
		expire();
	}
}
