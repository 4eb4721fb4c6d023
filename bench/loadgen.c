/*
 * loadgen: drive many concurrent SMTP sessions against one server.
 *
 * One process, one epoll loop, non-blocking sockets.  Each session speaks
 * a lockstep dialogue (one command, wait for its whole reply, the next
 * command): no pipelining, so every server is measured doing the same
 * work.  Scenarios:
 *
 *   reject   EHLO, MAIL, RCPT to an unknown user; ok when RCPT gets 5xx.
 *   badhelo  HELO localhost, then MAIL and RCPT if the server defers its
 *            verdict; ok at the first 5xx, failed if RCPT is accepted.
 *   accept   EHLO, then MSGS x (MAIL, RCPT, DATA, a SIZE-byte message
 *            with a unique Message-ID and subject token); ok when every
 *            message got 250.  With -W the generator then waits until the
 *            accepted messages are files in the given maildirs and checks
 *            that each token is there exactly once.
 *   idle     open CONC sessions (banner and EHLO) and hold them for the
 *            hold time; meanwhile open a probe session every second and
 *            time connect to EHLO reply; at the end NOOP every held
 *            session and count those still served.  With -M PID the
 *            total PSS of PID and its descendants is sampled mid-hold.
 *
 * The result is one line of key=value pairs on stdout.  Traffic goes to
 * one HOST:PORT given on the command line; every phase is bounded in
 * count and in time (-x caps the whole run), and connection errors
 * (EADDRNOTAVAIL, ECONNREFUSED, ...) are counted and retried a bounded
 * number of times.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <netinet/in.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_IN	1024		/* one reply line, CRLF included */
#define HDR_MAX		1024		/* per-message header block */
#define PROBE_SLOTS	32		/* probes in flight at most */
#define MAILDIR_MAX	8
#define TICK_MS		50		/* timer scan period */
#define FINAL_CHECK_S	10.0		/* idle: wait for the final NOOPs */
#define TOKEN_SCAN	16384		/* bytes of a delivered file searched */

enum scenario { SC_REJECT, SC_BADHELO, SC_ACCEPT, SC_IDLE };

enum step {
	ST_FREE,	/* slot unused */
	ST_BACKOFF,	/* waiting to retry the connect */
	ST_CONNECTING,
	ST_BANNER,
	ST_HELO,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_BODY,
	ST_HOLD,	/* idle: greeted, silent */
	ST_NOOP,
	ST_QUIT
};

enum kind { K_LOAD, K_HELD, K_PROBE };
enum result { RES_NONE, RES_OK, RES_FAIL };

struct sess {
	int		fd;
	uint32_t	gen;		/* bumped on close: stale events */
	enum step	step;
	enum kind	kind;
	enum result	result;
	int		final;		/* idle: the NOOP is the final check */
	unsigned	retries;
	unsigned	msgs;		/* messages sent in this session */
	uint64_t	seq;		/* current message's number */
	double		t_start;
	double		deadline;	/* 0: none */
	size_t		inlen;
	char		in[LINE_MAX_IN];
	struct iovec	iov[2];
	int		iovcnt;
	char		out[HDR_MAX];	/* command or message header */
};

struct opts {
	enum scenario	sc;
	const char	*host;
	const char	*port;
	const char	*label;
	unsigned	conc;
	unsigned long	nsess;		/* 0: by time */
	double		duration;	/* seconds; load: run time, idle: hold */
	unsigned	msgs;		/* accept: messages per session */
	size_t		size;		/* accept: message size */
	const char	*helo;
	const char	*from;
	const char	*rcpt;
	unsigned	retries;
	double		timeout;	/* per reply */
	double		keepalive;	/* idle: NOOP period, 0 = silent */
	double		ramp_s;		/* idle: time allowed to greet all */
	unsigned	ramp_rate;	/* idle: new connections per second */
	double		probe_every;
	double		maxrun;
	pid_t		pss_pid;
	const char	*maildir[MAILDIR_MAX];
	unsigned	nmaildir;
	double		wait_s;		/* accept: maildir deadline */
};

struct stats {
	unsigned long	attempted, ok, failed;
	unsigned long	connect_errors, retries;
	unsigned long	e_addrnotavail, e_refused, e_other;
	unsigned long	f_connect, f_timeout, f_eof, f_reply, f_proto;
	unsigned long	cls[6];		/* replies by first digit */
	unsigned long	msgs_sent, msgs_ok;
	/* idle */
	unsigned long	established, alive, waiting, closed;
	unsigned long	probes, probe_ok, probe_failed;
};

/* A growable array of latencies in milliseconds. */
struct lat {
	float		*v;
	size_t		n, cap;
};

static struct opts	 o;
static struct stats	 st;
static struct lat	 lat_sess, lat_probe;
static struct sess	*slots;
static unsigned		 nslots;
static unsigned		*freelist;
static unsigned		 nfree;
static int		 epfd;
static struct sockaddr_storage srv;
static socklen_t	 srvlen;
static unsigned long	 started;	/* load sessions started */
static double		 t_begin, t_stop_new;
static char		*body;		/* accept: shared message body */
static size_t		 bodylen;
static unsigned		 runid;
static unsigned char	*accepted;	/* accept: per seq, 1 = got 250 */
static size_t		 naccepted;
static uint64_t		 next_seq;
static unsigned		 active;	/* slots not free */
static int		 final_phase;	/* idle: the hold is over */

static double
now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
		perror("clock_gettime");
		exit(2);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static _Noreturn void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void
lat_add(struct lat *l, double ms)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4096;
		float *nv;

		if (ncap > (size_t)1 << 26)	/* 64M samples: enough */
			return;
		if ((nv = realloc(l->v, ncap * sizeof(*nv))) == NULL)
			die("out of memory");
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = (float)ms;
}

static int
fcmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile; the array is sorted in place. */
static double
lat_pct(struct lat *l, double p)
{
	size_t i;

	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), fcmp);
	i = (size_t)(p / 100.0 * (double)l->n);
	if (i >= l->n)
		i = l->n - 1;
	return l->v[i];
}

/* Mark message seq as accepted (250 after the dot). */
static void
accepted_mark(uint64_t seq)
{
	if (seq >= naccepted) {
		size_t n = naccepted ? naccepted : 65536;
		unsigned char *p;

		while (n <= seq)
			n *= 2;
		if ((p = realloc(accepted, n)) == NULL)
			die("out of memory");
		memset(p + naccepted, 0, n - naccepted);
		accepted = p;
		naccepted = n;
	}
	accepted[seq] = 1;
}

/* ---- sessions ---- */

static void
ep_set(struct sess *s, uint32_t events, int op)
{
	struct epoll_event ev;
	unsigned idx = (unsigned)(s - slots);

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = ((uint64_t)s->gen << 32) | idx;
	if (epoll_ctl(epfd, op, s->fd, &ev) == -1)
		die("epoll_ctl: %s", strerror(errno));
}

static void
sess_release(struct sess *s)
{
	if (s->fd != -1) {
		close(s->fd);	/* also leaves the epoll set */
		s->fd = -1;
	}
	s->gen++;
	s->step = ST_FREE;
	active--;
	if (s->kind == K_LOAD)
		freelist[nfree++] = (unsigned)(s - slots);
}

/* The session is over: account for it and free the slot. */
static void
sess_done(struct sess *s)
{
	double ms = (now() - s->t_start) * 1000.0;

	if (s->kind == K_PROBE) {
		if (s->result == RES_OK)
			st.probe_ok++;
		else {
			st.probe_failed++;
			lat_add(&lat_probe, ms);	/* a failure counts as slow */
		}
	} else if (s->kind == K_LOAD) {
		if (s->result == RES_OK) {
			st.ok++;
			lat_add(&lat_sess, ms);
		} else
			st.failed++;
	}
	sess_release(s);
}

/* Queue bytes for sending; a second segment is sent after the first. */
static void
sess_send(struct sess *s, const char *extra, size_t extralen)
{
	s->iov[0].iov_base = s->out;
	s->iov[0].iov_len = strlen(s->out);
	s->iovcnt = 1;
	if (extra != NULL && extralen > 0) {
		s->iov[1].iov_base = (void *)(uintptr_t)extra;
		s->iov[1].iov_len = extralen;
		s->iovcnt = 2;
	}
}

static void
sess_cmd(struct sess *s, enum step next, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sess_flush(struct sess *);

/* Send one command line and wait for its reply in state next. */
static void
sess_cmd(struct sess *s, enum step next, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(s->out, sizeof(s->out) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(s->out) - 2)
		die("command too long");
	memcpy(s->out + n, "\r\n", 3);
	sess_send(s, NULL, 0);
	s->step = next;
	s->deadline = now() + o.timeout;
	sess_flush(s);
}

static void
sess_quit(struct sess *s, enum result r)
{
	if (s->result == RES_NONE)
		s->result = r;
	sess_cmd(s, ST_QUIT, "QUIT");
}

/* Failure before any dialogue can go on: no QUIT, just close. */
static void
sess_abort(struct sess *s, unsigned long *reason)
{
	if (s->result != RES_OK) {
		s->result = RES_FAIL;
		(*reason)++;
	}
	sess_done(s);
}

static void
msg_header(struct sess *s)
{
	char date[64];
	time_t t = time(NULL);
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000",
	    &tm) == 0)
		die("cannot format date");
	n = snprintf(s->out, sizeof(s->out),
	    "Message-ID: <%08x.%llu@loadgen.bench.example>\r\n"
	    "Date: %s\r\n"
	    "From: <%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: load test lg-%08x-%llu\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n",
	    runid, (unsigned long long)s->seq, date, o.from, o.rcpt,
	    runid, (unsigned long long)s->seq);
	if (n < 0 || (size_t)n >= sizeof(s->out))
		die("message header too long");
}

/*
 * The shared body: lines of 72 letters, sized so header plus body make
 * about o.size bytes, ending "CRLF.CRLF".  No line starts with a dot, so
 * no dot-stuffing is needed.
 */
static void
body_make(void)
{
	struct sess tmp;
	size_t hdr, want, i;
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";

	memset(&tmp, 0, sizeof(tmp));
	tmp.seq = 1000000;
	msg_header(&tmp);
	hdr = strlen(tmp.out);
	want = o.size > hdr + 80 ? o.size - hdr : 80;
	want -= want % 74;
	if ((body = malloc(want + 4)) == NULL)
		die("out of memory");
	for (i = 0; i < want; i++) {
		size_t col = i % 74;

		if (col == 72)
			body[i] = '\r';
		else if (col == 73)
			body[i] = '\n';
		else
			body[i] = alpha[(i / 74 + col) % (sizeof(alpha) - 1)];
	}
	memcpy(body + want, ".\r\n", 3);
	bodylen = want + 3;
}

static void
sess_message(struct sess *s)
{
	msg_header(s);
	sess_send(s, body, bodylen);
	s->step = ST_BODY;
	s->deadline = now() + o.timeout;
	sess_flush(s);
}

static void
sess_mail(struct sess *s)
{
	s->seq = next_seq++;
	s->msgs++;
	st.msgs_sent++;
	sess_cmd(s, ST_MAIL, "MAIL FROM:<%s>", o.from);
}

/* The session is greeted and has said EHLO/HELO successfully. */
static void
sess_greeted(struct sess *s)
{
	switch (s->kind) {
	case K_PROBE:
		lat_add(&lat_probe, (now() - s->t_start) * 1000.0);
		sess_quit(s, RES_OK);
		return;
	case K_HELD:
		if (final_phase) {	/* was queued until others left */
			sess_quit(s, RES_FAIL);
			return;
		}
		st.established++;
		s->step = ST_HOLD;
		s->deadline = o.keepalive > 0 ? now() + o.keepalive : 0;
		return;
	case K_LOAD:
		break;
	}
	if (o.sc == SC_ACCEPT)
		sess_mail(s);
	else
		sess_cmd(s, ST_MAIL, "MAIL FROM:<%s>", o.from);
}

/* One complete reply (code is its three digits) in the current step. */
static void
sess_reply(struct sess *s, int code)
{
	int cls = code / 100;

	st.cls[cls]++;
	switch (s->step) {
	case ST_BANNER:
		if (cls != 2) {
			st.f_reply++;
			sess_quit(s, RES_FAIL);
		} else if (s->kind == K_LOAD && o.sc == SC_BADHELO)
			sess_cmd(s, ST_HELO, "HELO localhost");
		else
			sess_cmd(s, ST_HELO, "EHLO %s", o.helo);
		return;
	case ST_HELO:
		if (s->kind == K_LOAD && o.sc == SC_BADHELO && cls == 5)
			sess_quit(s, RES_OK);
		else if (cls != 2) {
			st.f_reply++;
			sess_quit(s, RES_FAIL);
		} else
			sess_greeted(s);
		return;
	case ST_MAIL:
		if (o.sc == SC_BADHELO && cls == 5)
			sess_quit(s, RES_OK);
		else if (cls != 2) {
			st.f_reply++;
			sess_quit(s, RES_FAIL);
		} else
			sess_cmd(s, ST_RCPT, "RCPT TO:<%s>",
			    o.sc == SC_REJECT ? "nosuchuser@example.test" :
			    o.rcpt);
		return;
	case ST_RCPT:
		if (o.sc == SC_ACCEPT && cls == 2)
			sess_cmd(s, ST_DATA, "DATA");
		else if (o.sc != SC_ACCEPT && cls == 5)
			sess_quit(s, RES_OK);
		else {
			st.f_reply++;
			sess_quit(s, RES_FAIL);
		}
		return;
	case ST_DATA:
		if (cls == 3)
			sess_message(s);
		else {
			st.f_reply++;
			sess_quit(s, RES_FAIL);
		}
		return;
	case ST_BODY:
		if (cls != 2) {
			st.f_reply++;
			sess_quit(s, RES_FAIL);
			return;
		}
		st.msgs_ok++;
		accepted_mark(s->seq);
		if (s->msgs < o.msgs)
			sess_mail(s);
		else
			sess_quit(s, RES_OK);
		return;
	case ST_NOOP:
		if (cls != 2) {
			sess_quit(s, RES_FAIL);
			return;
		}
		if (s->final) {
			st.alive++;
			sess_quit(s, RES_OK);
			return;
		}
		s->step = ST_HOLD;
		s->deadline = now() + o.keepalive;
		return;
	case ST_HOLD:
		/* Unsolicited, e.g. 421 on an idle timeout: it is closing. */
		return;
	case ST_QUIT:
		sess_done(s);
		return;
	default:
		st.f_proto++;
		s->result = RES_FAIL;
		sess_done(s);
		return;
	}
}

/* Parse the reply lines in s->in; stop when the session is gone. */
static int
sess_parse(struct sess *s)
{
	uint32_t gen = s->gen;
	char *p = s->in, *nl;
	size_t left = s->inlen;

	while ((nl = memchr(p, '\n', left)) != NULL) {
		size_t n = (size_t)(nl - p) + 1;
		int last;

		if (n < 4 || !isdigit((unsigned char)p[0]) ||
		    !isdigit((unsigned char)p[1]) ||
		    !isdigit((unsigned char)p[2]) ||
		    (p[3] != ' ' && p[3] != '-' && p[3] != '\r' &&
		    p[3] != '\n')) {
			st.f_proto++;
			s->result = RES_FAIL;
			sess_done(s);
			return -1;
		}
		last = p[3] != '-';
		if (last) {
			sess_reply(s, (p[0] - '0') * 100 + (p[1] - '0') * 10 +
			    (p[2] - '0'));
			if (s->gen != gen || s->step == ST_FREE)
				return -1;
		}
		p += n;
		left -= n;
	}
	if (left == sizeof(s->in)) {	/* a line longer than we allow */
		st.f_proto++;
		s->result = RES_FAIL;
		sess_done(s);
		return -1;
	}
	memmove(s->in, p, left);
	s->inlen = left;
	return 0;
}

/* The server closed the connection or it broke. */
static void
sess_eof(struct sess *s)
{
	if (s->step == ST_QUIT) {
		sess_done(s);
		return;
	}
	sess_abort(s, &st.f_eof);
}

static void
sess_read(struct sess *s)
{
	for (;;) {
		ssize_t n = read(s->fd, s->in + s->inlen,
		    sizeof(s->in) - s->inlen);

		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			sess_eof(s);
			return;
		}
		if (n == 0) {
			sess_eof(s);
			return;
		}
		s->inlen += (size_t)n;
		if (sess_parse(s) == -1)
			return;
	}
}

static void
sess_flush(struct sess *s)
{
	while (s->iovcnt > 0) {
		struct iovec *v = &s->iov[0];
		ssize_t n = writev(s->fd, v, s->iovcnt);

		if (n == -1) {
			if (errno == EAGAIN) {
				ep_set(s, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
				return;
			}
			if (errno == EINTR)
				continue;
			sess_eof(s);
			return;
		}
		while (n > 0 && s->iovcnt > 0) {
			if ((size_t)n >= v[0].iov_len) {
				n -= (ssize_t)v[0].iov_len;
				v[0] = v[1];
				s->iovcnt--;
			} else {
				v[0].iov_base = (char *)v[0].iov_base + n;
				v[0].iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
}

static void sess_connect(struct sess *);

static void
connect_failed(struct sess *s, int err)
{
	st.connect_errors++;
	if (err == EADDRNOTAVAIL)
		st.e_addrnotavail++;
	else if (err == ECONNREFUSED)
		st.e_refused++;
	else
		st.e_other++;
	if (s->fd != -1) {
		close(s->fd);
		s->fd = -1;
		s->gen++;
	}
	if (s->retries < o.retries) {
		/* Back off 20 ms, 40 ms, 80 ms...: ports or a listener to free. */
		s->deadline = now() + 0.02 * (double)(1u << s->retries);
		s->retries++;
		st.retries++;
		s->step = ST_BACKOFF;
		return;
	}
	s->result = RES_FAIL;
	st.f_connect++;
	sess_done(s);
}

static void
sess_connect(struct sess *s)
{
	int fd;

	fd = socket(srv.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		connect_failed(s, errno);
		return;
	}
	s->fd = fd;
	s->inlen = 0;
	s->iovcnt = 0;
	if (connect(fd, (struct sockaddr *)&srv, srvlen) == 0) {
		s->step = ST_BANNER;
		ep_set(s, EPOLLIN, EPOLL_CTL_ADD);
	} else if (errno == EINPROGRESS) {
		s->step = ST_CONNECTING;
		ep_set(s, EPOLLOUT, EPOLL_CTL_ADD);
	} else {
		connect_failed(s, errno);
		return;
	}
	/* Held sessions may wait for their banner until the end. */
	s->deadline = s->kind == K_HELD ? 0 : now() + o.timeout;
}

static void
sess_start(struct sess *s, enum kind k)
{
	s->kind = k;
	s->result = RES_NONE;
	s->final = 0;
	s->retries = 0;
	s->msgs = 0;
	s->fd = -1;
	s->t_start = now();
	active++;
	if (k == K_LOAD)
		st.attempted++;
	else if (k == K_PROBE)
		st.probes++;
	sess_connect(s);
}

static void
sess_event(struct sess *s, uint32_t ev)
{
	if (s->step == ST_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			connect_failed(s, err);
			return;
		}
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		s->step = ST_BANNER;
		ep_set(s, EPOLLIN, EPOLL_CTL_MOD);
		return;
	}
	if ((ev & EPOLLOUT) && s->iovcnt > 0) {
		uint32_t gen = s->gen;

		sess_flush(s);
		if (s->gen != gen)
			return;
		if (s->iovcnt == 0)
			ep_set(s, EPOLLIN, EPOLL_CTL_MOD);
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
		sess_read(s);
}

/* Timeouts, retries and idle keepalives; called every TICK_MS. */
static void
sess_tick(struct sess *s, double t)
{
	if (s->step == ST_FREE || s->deadline == 0 || t < s->deadline)
		return;
	switch (s->step) {
	case ST_BACKOFF:
		sess_connect(s);
		return;
	case ST_HOLD:
		s->final = 0;
		sess_cmd(s, ST_NOOP, "NOOP");
		return;
	case ST_QUIT:
		sess_done(s);	/* the verdict is in; the 221 is late */
		return;
	default:
		sess_abort(s, &st.f_timeout);
		return;
	}
}

/* ---- the run ---- */

static int
may_start(double t)
{
	if (o.nsess > 0 && started >= o.nsess)
		return 0;
	if (o.duration > 0 && t >= t_stop_new)
		return 0;
	return 1;
}

static void
refill(double t)
{
	while (nfree > 0 && may_start(t)) {
		started++;
		sess_start(&slots[freelist[--nfree]], K_LOAD);
	}
}

static void
loop_once(int timeout_ms)
{
	struct epoll_event evs[256];
	int n, i;

	n = epoll_wait(epfd, evs, 256, timeout_ms);
	if (n == -1) {
		if (errno == EINTR)
			return;
		die("epoll_wait: %s", strerror(errno));
	}
	for (i = 0; i < n; i++) {
		unsigned idx = (unsigned)(evs[i].data.u64 & 0xffffffffu);
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);

		if (idx >= nslots || slots[idx].gen != gen ||
		    slots[idx].step == ST_FREE)
			continue;	/* closed earlier in this batch */
		sess_event(&slots[idx], evs[i].events);
	}
}

static void
tick_all(double *next_tick)
{
	double t = now();
	unsigned i;

	if (t < *next_tick)
		return;
	*next_tick = t + TICK_MS / 1000.0;
	for (i = 0; i < nslots; i++)
		sess_tick(&slots[i], t);
}

static void
run_load(void)
{
	double next_tick = 0, hard = t_begin + o.maxrun;

	refill(now());
	while (active > 0 || may_start(now())) {
		if (now() >= hard) {
			fprintf(stderr, "loadgen: run time cap reached\n");
			break;
		}
		loop_once(TICK_MS);
		tick_all(&next_tick);
		refill(now());
	}
}

/* ---- idle: held sessions, probes, PSS ---- */

static pid_t
proc_ppid(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;
	long pp;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and parens. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %ld",
	    &pp) != 1)
		return -1;
	return (pid_t)pp;
}

/* Add the Pss: and Rss: of one process, in KiB. */
static int
proc_mem(pid_t pid, long *pss, long *rss)
{
	char path[64], line[256];
	FILE *f;
	long v;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Pss: %ld kB", &v) == 1)
			*pss += v;
		else if (sscanf(line, "Rss: %ld kB", &v) == 1)
			*rss += v;
	}
	fclose(f);
	return 0;
}

/* Total PSS and RSS of root and all its descendants. */
static int
pss_tree(pid_t root, long *pss, long *rss, unsigned *nproc)
{
	pid_t *pid = NULL, *ppid = NULL, *tree = NULL;
	size_t n = 0, cap = 0, nt = 0, i, j;
	struct dirent *de;
	DIR *d;

	*pss = *rss = 0;
	*nproc = 0;
	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long v = strtol(de->d_name, &end, 10);

		if (*end != '\0' || v <= 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			pid = realloc(pid, cap * sizeof(*pid));
			ppid = realloc(ppid, cap * sizeof(*ppid));
			if (pid == NULL || ppid == NULL)
				die("out of memory");
		}
		pid[n] = (pid_t)v;
		ppid[n] = proc_ppid((pid_t)v);
		n++;
	}
	closedir(d);
	if ((tree = malloc((n + 1) * sizeof(*tree))) == NULL)
		die("out of memory");
	tree[nt++] = root;
	for (i = 0; i < nt; i++)	/* breadth first over the tree */
		for (j = 0; j < n; j++)
			if (ppid[j] == tree[i] && pid[j] != root)
				tree[nt++] = pid[j];
	for (i = 0; i < nt; i++)
		if (proc_mem(tree[i], pss, rss) == 0)
			(*nproc)++;
	free(pid);
	free(ppid);
	free(tree);
	return *nproc > 0 ? 0 : -1;
}

static struct sess *
probe_slot(void)
{
	unsigned i;

	for (i = o.conc; i < nslots; i++)
		if (slots[i].step == ST_FREE)
			return &slots[i];
	return NULL;
}

static unsigned
held_in(enum step a, enum step b)
{
	unsigned i, c = 0;

	for (i = 0; i < o.conc; i++)
		if (slots[i].step >= a && slots[i].step <= b)
			c++;
	return c;
}

static long	pss_kib = -1, rss_kib = -1;
static unsigned	pss_procs;
static double	ramp_elapsed;

static void
run_idle(void)
{
	double t, next_tick = 0, next_probe, ramp_end, hold_end, pss_at;
	double hard = t_begin + o.maxrun;
	unsigned opened = 0, i;
	int pss_done = 0;

	/* Ramp: open at most ramp_rate connections a second. */
	ramp_end = now() + o.ramp_s;
	while ((t = now()) < ramp_end && t < hard) {
		unsigned want = (unsigned)((t - t_begin) * o.ramp_rate) + 1;

		while (opened < o.conc && opened < want)
			sess_start(&slots[opened++], K_HELD);
		if (opened == o.conc && held_in(ST_BACKOFF, ST_HELO) == 0)
			break;
		loop_once(10);
		tick_all(&next_tick);
	}
	while (opened < o.conc)		/* too slow a ramp: open the rest */
		sess_start(&slots[opened++], K_HELD);
	ramp_elapsed = now() - t_begin;
	fprintf(stderr, "loadgen: holding established=%lu of %u after %.1fs\n",
	    st.established, o.conc, ramp_elapsed);

	/* Hold, with a probe every probe_every seconds. */
	t = now();
	hold_end = t + o.duration;
	pss_at = t + o.duration / 2;
	next_probe = t;
	while ((t = now()) < hold_end && t < hard) {
		if (t >= next_probe) {
			struct sess *p = probe_slot();

			if (p != NULL)
				sess_start(p, K_PROBE);
			next_probe += o.probe_every;
		}
		if (!pss_done && t >= pss_at && o.pss_pid > 0) {
			if (pss_tree(o.pss_pid, &pss_kib, &rss_kib,
			    &pss_procs) == -1)
				fprintf(stderr, "loadgen: no process %ld\n",
				    (long)o.pss_pid);
			pss_done = 1;
		}
		loop_once(TICK_MS);
		tick_all(&next_tick);
	}

	/*
	 * Final check: every held session must still answer a NOOP.  Those
	 * never greeted are still queued at the server; the rest were closed.
	 */
	final_phase = 1;
	st.waiting = held_in(ST_BACKOFF, ST_HELO);
	st.closed = o.conc - st.waiting - held_in(ST_HOLD, ST_NOOP);
	for (i = 0; i < o.conc; i++) {
		struct sess *s = &slots[i];

		if (s->step == ST_HOLD) {
			s->final = 1;
			sess_cmd(s, ST_NOOP, "NOOP");
		} else if (s->step == ST_NOOP)
			s->final = 1;
	}
	t = now() + FINAL_CHECK_S;
	while (active > 0 && now() < t && now() < hard) {
		loop_once(TICK_MS);
		tick_all(&next_tick);
	}
	/* A probe still unanswered has failed; it was that slow at least. */
	for (i = o.conc; i < nslots; i++)
		if (slots[i].step != ST_FREE) {
			slots[i].result = RES_FAIL;
			sess_done(&slots[i]);
		}
}

/* ---- accept: wait for the maildirs, check every token ---- */

static long
maildir_count(const char *dir)
{
	static const char *sub[] = { "new", "cur" };
	char path[PATH_MAX];
	struct dirent *de;
	long c = 0;
	size_t i;
	DIR *d;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, sub[i]);
		if ((d = opendir(path)) == NULL)
			return -1;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				c++;
		closedir(d);
	}
	return c;
}

static long
maildirs_count(void)
{
	long total = 0, c;
	unsigned i;

	for (i = 0; i < o.nmaildir; i++) {
		if ((c = maildir_count(o.maildir[i])) == -1)
			die("cannot read maildir %s: %s", o.maildir[i],
			    strerror(errno));
		total += c;
	}
	return total;
}

struct verify {
	unsigned long	verified, missing, dup, stray;
};

/* Find "lg-RUNID-SEQ" in the head of one file; mark seen[seq]. */
static void
token_scan(const char *path, unsigned char *seen, size_t nseen,
    struct verify *v)
{
	char buf[TOKEN_SCAN + 1], tok[32], *p;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, buf, TOKEN_SCAN);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	snprintf(tok, sizeof(tok), "lg-%08x-", runid);
	if ((p = strstr(buf, tok)) == NULL)
		return;		/* some other run's message */
	{
		unsigned long long seq = strtoull(p + strlen(tok), NULL, 10);

		if (seq >= nseen || !accepted[seq])
			v->stray++;	/* delivered though never 250 */
		else if (seen[seq] < 255)
			seen[seq]++;
	}
}

static void
maildirs_verify(struct verify *v)
{
	static const char *sub[] = { "new", "cur" };
	unsigned char *seen;
	char path[PATH_MAX];
	struct dirent *de;
	unsigned i, k;
	size_t s;
	DIR *d;

	memset(v, 0, sizeof(*v));
	if ((seen = calloc(naccepted + 1, 1)) == NULL)
		die("out of memory");
	for (i = 0; i < o.nmaildir; i++)
		for (k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%s/%s", o.maildir[i],
			    sub[k]);
			if ((d = opendir(path)) == NULL)
				continue;
			while ((de = readdir(d)) != NULL) {
				char f[PATH_MAX];

				if (de->d_name[0] == '.')
					continue;
				if (snprintf(f, sizeof(f), "%s/%s", path,
				    de->d_name) >= (int)sizeof(f))
					continue;
				token_scan(f, seen, naccepted, v);
			}
			closedir(d);
		}
	for (s = 0; s < naccepted; s++) {
		if (!accepted[s])
			continue;
		if (seen[s] == 0)
			v->missing++;
		else if (seen[s] == 1)
			v->verified++;
		else
			v->dup++;
	}
	free(seen);
}

/* ---- set-up and report ---- */

static void
usage(void)
{
	fprintf(stderr,
"usage: loadgen -s reject|badhelo|accept|idle [-h host] [-p port]\n"
"        [-c conc] [-n sessions] [-t seconds] [-m msgs] [-S size]\n"
"        [-H helo] [-f from] [-r rcpt] [-R retries] [-T reply_timeout]\n"
"        [-k keepalive] [-u ramp_s] [-a ramp_rate] [-i probe_every]\n"
"        [-M pid] [-W maildir]... [-w wait_s] [-x max_run_s] [-l label]\n");
	exit(2);
}

static unsigned long
num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		die("bad number: %s", s);
	return v;
}

static double
secs(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 86400)
		die("bad duration: %s", s);
	return v;
}

static void
opts_parse(int argc, char **argv)
{
	int ch;

	o.host = "127.0.0.1";
	o.port = "25";
	o.label = "server";
	o.conc = 50;
	o.msgs = 1;
	o.size = 4096;
	o.helo = "loadgen.bench.example";
	o.from = "someone@sender.example";
	o.rcpt = "alice@example.test";
	o.retries = 3;
	o.timeout = 30;
	o.ramp_s = 60;
	o.ramp_rate = 2000;
	o.probe_every = 1;
	o.maxrun = 900;
	o.wait_s = 120;
	o.sc = (enum scenario)-1;
	while ((ch = getopt(argc, argv,
	    "a:c:f:H:h:i:k:l:M:m:n:p:R:r:S:s:T:t:u:W:w:x:")) != -1) {
		switch (ch) {
		case 'a': o.ramp_rate = (unsigned)num(optarg, 1000000); break;
		case 'c': o.conc = (unsigned)num(optarg, 1000000); break;
		case 'f': o.from = optarg; break;
		case 'H': o.helo = optarg; break;
		case 'h': o.host = optarg; break;
		case 'i': o.probe_every = secs(optarg); break;
		case 'k': o.keepalive = secs(optarg); break;
		case 'l': o.label = optarg; break;
		case 'M': o.pss_pid = (pid_t)num(optarg, INT_MAX); break;
		case 'm': o.msgs = (unsigned)num(optarg, 100000); break;
		case 'n': o.nsess = num(optarg, 1000000000); break;
		case 'p': o.port = optarg; break;
		case 'R': o.retries = (unsigned)num(optarg, 20); break;
		case 'r': o.rcpt = optarg; break;
		case 'S': o.size = num(optarg, 64 << 20); break;
		case 'T': o.timeout = secs(optarg); break;
		case 't': o.duration = secs(optarg); break;
		case 'u': o.ramp_s = secs(optarg); break;
		case 'w': o.wait_s = secs(optarg); break;
		case 'x': o.maxrun = secs(optarg); break;
		case 'W':
			if (o.nmaildir == MAILDIR_MAX)
				die("at most %d maildirs", MAILDIR_MAX);
			o.maildir[o.nmaildir++] = optarg;
			break;
		case 's':
			if (strcmp(optarg, "reject") == 0)
				o.sc = SC_REJECT;
			else if (strcmp(optarg, "badhelo") == 0)
				o.sc = SC_BADHELO;
			else if (strcmp(optarg, "accept") == 0)
				o.sc = SC_ACCEPT;
			else if (strcmp(optarg, "idle") == 0)
				o.sc = SC_IDLE;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (int)o.sc == -1 || o.conc == 0 ||
	    o.msgs == 0 || o.timeout <= 0 || o.probe_every <= 0 ||
	    o.ramp_rate == 0)
		usage();
	if (o.sc == SC_IDLE && o.duration <= 0)
		die("idle needs -t hold seconds");
	if (o.sc != SC_IDLE && o.nsess == 0 && o.duration <= 0)
		die("give -n sessions or -t seconds");
	if (o.nsess > 0 && o.conc > o.nsess)
		o.conc = (unsigned)o.nsess;
}

static void
resolve(void)
{
	struct addrinfo hints, *res;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((e = getaddrinfo(o.host, o.port, &hints, &res)) != 0)
		die("%s:%s: %s", o.host, o.port, gai_strerror(e));
	memcpy(&srv, res->ai_addr, res->ai_addrlen);
	srvlen = res->ai_addrlen;
	freeaddrinfo(res);
}

/* Enough descriptors for every slot, raising the hard limit as root. */
static void
fd_limit(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)nslots + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need)
		rl.rlim_max = need;
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("cannot raise open files to %llu: %s",
		    (unsigned long long)need, strerror(errno));
}

static const char *
sc_name(void)
{
	static const char *n[] = { "reject", "badhelo", "accept", "idle" };

	return n[o.sc];
}

static void
report(double elapsed)
{
	double rate = elapsed > 0 ? (double)st.ok / elapsed : 0;

	printf("scenario=%s server=%s host=%s port=%s conc=%u attempted=%lu "
	    "ok=%lu failed=%lu", sc_name(), o.label, o.host, o.port, o.conc,
	    st.attempted, st.ok, st.failed);
	printf(" connect_errors=%lu eaddrnotavail=%lu econnrefused=%lu "
	    "retries=%lu", st.connect_errors, st.e_addrnotavail,
	    st.e_refused, st.retries);
	printf(" f_connect=%lu f_timeout=%lu f_eof=%lu f_reply=%lu "
	    "f_proto=%lu", st.f_connect, st.f_timeout, st.f_eof, st.f_reply,
	    st.f_proto);
	printf(" r2xx=%lu r3xx=%lu r4xx=%lu r5xx=%lu elapsed_s=%.3f",
	    st.cls[2], st.cls[3], st.cls[4], st.cls[5], elapsed);
	if (o.sc != SC_IDLE) {
		printf(" sessions_per_s=%.1f lat_p50_ms=%.2f lat_p99_ms=%.2f",
		    rate, lat_pct(&lat_sess, 50), lat_pct(&lat_sess, 99));
	}
	if (o.sc == SC_ACCEPT)
		printf(" msgs_ok=%lu msgs_per_s=%.1f", st.msgs_ok,
		    elapsed > 0 ? (double)st.msgs_ok / elapsed : 0);
}

static void
report_idle(void)
{
	printf(" held_target=%u established=%lu alive=%lu waiting=%lu "
	    "closed=%lu ramp_s=%.1f", o.conc, st.established, st.alive,
	    st.waiting, st.closed, ramp_elapsed);
	printf(" probes=%lu probe_ok=%lu probe_failed=%lu "
	    "probe_p50_ms=%.2f probe_max_ms=%.2f", st.probes, st.probe_ok,
	    st.probe_failed, lat_pct(&lat_probe, 50),
	    lat_probe.n ? lat_pct(&lat_probe, 100) : 0);
	if (o.pss_pid > 0)
		printf(" pss_kib=%ld rss_kib=%ld procs=%u", pss_kib, rss_kib,
		    pss_procs);
}

/* accept with -W: wait until every accepted message is a file. */
static void
report_maildirs(long base, double t0)
{
	double deadline = now() + o.wait_s, t_e2e;
	long want = base + (long)st.msgs_ok, have;
	struct verify v;
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	while ((have = maildirs_count()) < want && now() < deadline)
		nanosleep(&pause, NULL);
	t_e2e = now() - t0;
	maildirs_verify(&v);
	printf(" delivered=%ld e2e_s=%.3f e2e_msgs_per_s=%.1f verified=%lu "
	    "missing=%lu dup=%lu stray=%lu", have - base, t_e2e,
	    t_e2e > 0 ? (double)(have - base) / t_e2e : 0, v.verified,
	    v.missing, v.dup, v.stray);
}

int
main(int argc, char **argv)
{
	double elapsed;
	long base = 0;
	unsigned i;

	opts_parse(argc, argv);
	resolve();
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die("signal: %s", strerror(errno));
	nslots = o.conc + (o.sc == SC_IDLE ? PROBE_SLOTS : 0);
	fd_limit();
	if ((slots = calloc(nslots, sizeof(*slots))) == NULL ||
	    (freelist = calloc(nslots, sizeof(*freelist))) == NULL)
		die("out of memory");
	for (i = 0; i < nslots; i++) {
		slots[i].fd = -1;
		slots[i].step = ST_FREE;
	}
	if (o.sc != SC_IDLE)
		for (i = o.conc; i > 0; i--)
			freelist[nfree++] = i - 1;
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	runid = (unsigned)getpid() ^ (unsigned)time(NULL);
	if (o.sc == SC_ACCEPT) {
		body_make();
		if (o.nmaildir > 0)
			base = maildirs_count();
	}

	t_begin = now();
	t_stop_new = t_begin + o.duration;
	if (o.sc == SC_IDLE)
		run_idle();
	else
		run_load();
	elapsed = now() - t_begin;

	report(elapsed);
	if (o.sc == SC_IDLE)
		report_idle();
	if (o.sc == SC_ACCEPT && o.nmaildir > 0)
		report_maildirs(base, t_begin);
	printf("\n");
	if (fflush(stdout) == EOF)
		return 2;
	return 0;
}
