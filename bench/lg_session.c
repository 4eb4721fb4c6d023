/*
 * lg_session.c: one SMTP client session as a state machine.
 *
 * A session sends one command, waits for the whole reply (multi-line
 * replies included) and moves on: lockstep, no pipelining.  What it sends
 * next depends on the scenario and on the reply class; the first 5xx is
 * what reject and badhelo wait for, a 250 after the dot what accept
 * waits for; closed waits for the server to close the connection
 * before it says a word (a client refused at accept).  Slots are reused: every close bumps the slot's generation,
 * which the epoll data carries, so an event for a closed session is
 * dropped.  Connect errors are retried with a short doubling back-off, a
 * bounded number of times.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

static char		*body;		/* accept: shared message body */
static size_t		 bodylen;
static uint64_t		 next_seq;
unsigned char		*accepted;
size_t			 naccepted;

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
void
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
void
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
		if (o.sc == SC_CLOSED) {
			st.f_served++;
			sess_quit(s, RES_FAIL);
		} else if (cls != 2) {
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
	if (o.sc == SC_CLOSED && s->step == ST_BANNER && s->inlen == 0) {
		s->result = RES_OK;	/* closed before a byte */
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

/*
 * -B: every connection from the next IPv4 address (skipping .0 and
 * .255), so that a server's per-address caches never help; with -N,
 * from the first N of them in turn.
 */
static int
bind_next_source(int fd)
{
	static uint32_t next;
	static unsigned used;
	struct sockaddr_in sin;

	if (next == 0 || (o.src_count != 0 && used == o.src_count)) {
		next = o.src_base;
		used = 0;
	}
	used++;
	while ((next & 0xff) == 0 || (next & 0xff) == 0xff)
		next++;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(next++);
	return bind(fd, (struct sockaddr *)&sin, sizeof(sin));
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
	if (o.src_base != 0 && bind_next_source(fd) == -1) {
		connect_failed(s, errno);
		return;
	}
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

void
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

void
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

/* Idle: a keepalive NOOP, or the final check that the session is served. */
void
sess_noop(struct sess *s, int final)
{
	s->final = final;
	sess_cmd(s, ST_NOOP, "NOOP");
}

/* Timeouts, retries and idle keepalives; called every TICK_MS. */
void
sess_tick(struct sess *s, double t)
{
	if (s->step == ST_FREE || s->deadline == 0 || t < s->deadline)
		return;
	switch (s->step) {
	case ST_BACKOFF:
		sess_connect(s);
		return;
	case ST_HOLD:
		sess_noop(s, 0);
		return;
	case ST_QUIT:
		sess_done(s);	/* the verdict is in; the 221 is late */
		return;
	default:
		sess_abort(s, &st.f_timeout);
		return;
	}
}

