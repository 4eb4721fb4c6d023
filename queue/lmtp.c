/*
 * lmtp: one LMTP transaction (see lmtp.h).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lmtp.h"

#define QUIT_WAIT_MS	1000

struct conn {
	int	 fd;
	int	 timeout_ms;		/* each step */
	int64_t	 deadline;		/* the whole transaction, ms; 0 none */
	char	 in[LMTP_LINE_MAX];
	size_t	 inlen;
	char	 out[65536];
	size_t	 outlen;
};

int
lmtp_target_parse(const char *v, struct lmtp_target *t)
{
	const char *hp, *colon;
	size_t hlen;

	memset(t, 0, sizeof(*t));
	if (strncmp(v, LMTP_PREFIX, strlen(LMTP_PREFIX)) != 0)
		return -1;
	v += strlen(LMTP_PREFIX);
	if (strncmp(v, "unix:", 5) == 0) {
		t->is_unix = 1;
		v += 5;
		if (v[0] != '/' || strlen(v) >= sizeof(t->path))
			return -1;
		memcpy(t->path, v, strlen(v) + 1);
		return 0;
	}
	if ((colon = strrchr(v, ':')) == NULL || colon[1] == '\0' ||
	    strlen(colon + 1) >= sizeof(t->port) ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	hp = v;
	hlen = (size_t)(colon - v);
	if (hlen >= 2 && hp[0] == '[' && hp[hlen - 1] == ']') {
		hp++;
		hlen -= 2;
	}
	if (hlen == 0 || hlen >= sizeof(t->host))
		return -1;
	memcpy(t->host, hp, hlen);
	memcpy(t->port, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

/* ---- results ---- */

static void
set_result(struct lmtp_result *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_result(struct lmtp_result *r, int code, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	va_start(ap, fmt);
	(void)vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

static void
set_all(struct lmtp_result *res, size_t n, const struct lmtp_result *r)
{
	size_t i;

	for (i = 0; i < n; i++)
		res[i] = *r;
}

/* ---- the connection ---- */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ready within the step's timeout and the transaction's deadline. */
static int
wait_for(struct conn *c, short events)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int r, ms = c->timeout_ms;
	int64_t left;

	if (c->deadline != 0) {
		left = c->deadline - now_ms();
		if (left < ms)
			ms = left > 0 ? (int)left : 0;
	}
	do
		r = poll(&p, 1, ms);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		errno = ETIMEDOUT;
	return r == 1 ? 0 : -1;
}

static int
write_all(struct conn *c, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if (wait_for(c, POLLOUT) == -1)
			return -1;
		if ((w = send(c->fd, p, n, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One line into line (without CRLF); -1: closed, timed out, too long. */
static int
read_line(struct conn *c, char *line, size_t size)
{
	char *lf;
	ssize_t r;
	size_t n;

	while ((lf = memchr(c->in, '\n', c->inlen)) == NULL) {
		if (c->inlen == sizeof(c->in)) {
			errno = EMSGSIZE;	/* a line past LMTP_LINE_MAX */
			return -1;
		}
		if (wait_for(c, POLLIN) == -1)
			return -1;
		r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
		if (r == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (r == -1 && errno != EINTR && errno != EAGAIN)
			return -1;
		if (r > 0)
			c->inlen += (size_t)r;
	}
	n = (size_t)(lf - c->in);
	if (n > 0 && c->in[n - 1] == '\r')
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(line, c->in, n);
	line[n] = '\0';
	c->inlen -= (size_t)(lf - c->in) + 1;
	memmove(c->in, lf + 1, c->inlen);
	return 0;
}

/* The text of a reply line, past its code, printable ASCII only. */
static void
keep_text(struct lmtp_result *r, int code, const char *line)
{
	size_t i, n = 0;

	r->code = code;
	for (i = 4; line[i - 1] != '\0' && line[i] != '\0' &&
	    n < sizeof(r->text) - 1; i++)
		r->text[n++] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] :
		    '?';
	r->text[n] = '\0';
}

/* One whole reply; its code (the last line's text kept), or -1. */
static int
read_reply(struct conn *c, struct lmtp_result *r)
{
	char line[LMTP_LINE_MAX];
	int code, lines;

	for (lines = 0; lines < LMTP_LINES_MAX; lines++) {
		if (read_line(c, line, sizeof(line)) == -1)
			return -1;
		if (line[0] < '2' || line[0] > '5' || line[1] < '0' ||
		    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\0')) {
			errno = EPROTO;
			return -1;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0');
		if (line[3] != '-') {
			keep_text(r, code, line);
			return code;
		}
	}
	errno = EPROTO;			/* a reply that never ends */
	return -1;
}

static int
command(struct conn *c, struct lmtp_result *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Send one command line, read its reply: the code, or -1. */
static int
command(struct conn *c, struct lmtp_result *r, const char *fmt, ...)
{
	char line[LMTP_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		errno = EMSGSIZE;
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	if (write_all(c, line, (size_t)n + 2) == -1)
		return -1;
	return read_reply(c, r);
}

static int
out_flush(struct conn *c)
{
	int r = write_all(c, c->out, c->outlen);

	c->outlen = 0;
	return r;
}

static int
out_byte(struct conn *c, char b)
{
	if (c->outlen == sizeof(c->out) && out_flush(c) == -1)
		return -1;
	c->out[c->outlen++] = b;
	return 0;
}

/* The message from the spool, dot-stuffed, ending in CRLF.CRLF. */
static int
send_body(struct conn *c, const struct lmtp_msg *m)
{
	char chunk[65536], last = '\n';
	off_t done = 0;
	ssize_t r, i;
	int bol = 1;

	while (done < m->len) {
		size_t want = m->len - done < (off_t)sizeof(chunk) ?
		    (size_t)(m->len - done) : sizeof(chunk);

		if ((r = pread(m->fd, chunk, want, m->off + done)) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			if (r == 0)
				errno = EBADMSG;
			return -1;
		}
		for (i = 0; i < r; i++) {
			if ((bol && chunk[i] == '.' && out_byte(c, '.') == -1) ||
			    out_byte(c, chunk[i]) == -1)
				return -1;
			bol = chunk[i] == '\n';
		}
		last = chunk[r - 1];
		done += r;
	}
	if (last != '\n' && (out_byte(c, '\r') == -1 ||
	    out_byte(c, '\n') == -1))
		return -1;
	if (out_byte(c, '.') == -1 || out_byte(c, '\r') == -1 ||
	    out_byte(c, '\n') == -1)
		return -1;
	return out_flush(c);
}

/* A non-blocking connect, finished within the timeout; 0 or -1. */
static int
connect_one(int fd, const struct sockaddr *sa, socklen_t salen,
    int timeout_ms)
{
	struct conn probe = { .fd = fd, .timeout_ms = timeout_ms };
	socklen_t len = sizeof(int);
	int err = 0;

	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EAGAIN)
		return -1;
	if (wait_for(&probe, POLLOUT) == -1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return -1;
	errno = err;
	return err == 0 ? 0 : -1;
}

static int
connect_to(const struct lmtp_target *t, int timeout_ms)
{
	struct addrinfo hints, *res, *ai;
	struct sockaddr_un sun;
	int fd, err = ECONNREFUSED;

	if (t->is_unix) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, t->path, strlen(t->path) + 1);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0)) == -1)
			return -1;
		if (connect_one(fd, (struct sockaddr *)&sun, sizeof(sun),
		    timeout_ms) == 0)
			return fd;
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(t->host, t->port, &hints, &res) != 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	fd = -1;
	for (ai = res; ai != NULL && fd == -1; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0)) == -1) {
			err = errno;
			continue;
		}
		if (connect_one(fd, ai->ai_addr, ai->ai_addrlen,
		    timeout_ms) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		errno = err;
	return fd;
}

/* ---- the transaction ---- */

static void
broke_off(struct lmtp_result *res, size_t n, const char *when)
{
	struct lmtp_result r;

	set_result(&r, 451, "4.4.2 LMTP server: %s during %s",
	    errno == ETIMEDOUT ? "no answer" : errno == EPROTO ? "garbled "
	    "reply" : errno == EMSGSIZE ? "reply line too long" :
	    "connection lost", when);
	set_all(res, n, &r);
}

/* MAIL and the RCPTs; the number accepted, or -1 (MAIL refused) or -2
 * (the connection broke: nothing of the message was sent), res set for
 * all. */
static int
envelope(struct conn *c, const struct lmtp_msg *m, struct lmtp_result *res,
    int *accepted)
{
	struct lmtp_result r;
	size_t i;
	int code, n = 0;

	code = command(c, &r, "MAIL FROM:<%s>", m->sender);
	if (code == -1) {
		broke_off(res, m->nrcpt, "MAIL");
		return -2;
	}
	if (code / 100 != 2) {
		set_all(res, m->nrcpt, &r);
		return -1;
	}
	for (i = 0; i < m->nrcpt; i++) {
		if ((code = command(c, &res[i], "RCPT TO:<%s>",
		    m->rcpt[i])) == -1) {
			broke_off(res, m->nrcpt, "RCPT");
			return -2;
		}
		accepted[i] = code / 100 == 2;
		n += accepted[i];
	}
	return n;
}

/* DATA, the message, one reply per accepted recipient; 0 when it all
 * went through, -1 when the connection is no good any more. */
static int
data(struct conn *c, const struct lmtp_msg *m, struct lmtp_result *res,
    const int *accepted)
{
	struct lmtp_result r;
	size_t i;
	int code;

	if ((code = command(c, &r, "DATA")) != 354 || send_body(c, m) == -1) {
		if (code / 100 == 4 || code / 100 == 5)
			set_result(&r, code, "%s", r.text);
		else if (code != -1 && code != 354)
			set_result(&r, 451, "4.4.2 LMTP server: %d to DATA, "
			    "not 354", code);
		else
			set_result(&r, 451, "4.4.2 LMTP server: connection "
			    "lost before the end of the message");
		for (i = 0; i < m->nrcpt; i++)
			if (accepted[i])
				res[i] = r;
		return -1;
	}
	for (i = 0; i < m->nrcpt; i++) {
		if (!accepted[i])
			continue;
		if (read_reply(c, &res[i]) == -1) {
			for (; i < m->nrcpt; i++)
				if (accepted[i])
					set_result(&res[i], 0, "no reply after "
					    "the message: it may have been "
					    "delivered");
			return -1;
		}
	}
	return 0;
}

/*
 * The connection is kept for the next transaction to the same target,
 * as long as the last one ended cleanly; a server that closed it while
 * idle is found out at MAIL, before anything of a message was sent, and
 * connected to again.
 */
static struct conn c = { .fd = -1 };
static struct lmtp_target c_target;
static int c_clean;

/* Nothing came on the kept connection while idle (no stray line, no
 * close): it may carry the next transaction. */
static int
quiet(struct conn *k)
{
	struct pollfd p = { .fd = k->fd, .events = POLLIN };

	return poll(&p, 1, 0) == 0;
}

void
lmtp_idle_close(void)
{
	struct lmtp_result r;

	if (c.fd == -1)
		return;
	c.timeout_ms = QUIT_WAIT_MS;
	c.deadline = 0;
	if (c_clean)
		(void)command(&c, &r, "QUIT");
	close(c.fd);
	c.fd = -1;
	c_clean = 0;
}

/* Connected and greeted: 0; -1 with every result set. */
static int
conn_open(const struct lmtp_target *t, const struct lmtp_msg *m,
    struct lmtp_result *res, int timeout_ms, int64_t deadline)
{
	struct lmtp_result r;
	int code;

	c.inlen = c.outlen = 0;
	c.timeout_ms = timeout_ms;
	c.deadline = deadline;
	if ((c.fd = connect_to(t, timeout_ms)) == -1) {
		set_result(&r, 451, "4.4.1 cannot connect to the LMTP server: "
		    "%s", strerror(errno));
		set_all(res, m->nrcpt, &r);
		return -1;
	}
	c_target = *t;
	if ((code = read_reply(&c, &r)) == 220 &&
	    (code = command(&c, &r, "LHLO %s", m->helo)) / 100 == 2)
		return 0;
	if (code == -1)
		broke_off(res, m->nrcpt, "the greeting");
	else {
		set_result(&r, 451, "4.4.2 LMTP server said: %d %s", code,
		    r.text);
		set_all(res, m->nrcpt, &r);
	}
	c_clean = code != -1;
	lmtp_idle_close();
	return -1;
}

void
lmtp_deliver(const struct lmtp_target *t, const struct lmtp_msg *m,
    struct lmtp_result *res, int timeout_s)
{
	static int accepted[1000];
	int64_t deadline;
	int reused, n;

	memset(res, 0, sizeof(*res) * m->nrcpt);
	if (m->nrcpt > sizeof(accepted) / sizeof(accepted[0]))
		return;
	deadline = now_ms() + (int64_t)LMTP_STEPS_MAX * timeout_s * 1000;
	reused = c.fd != -1 && c_clean && c.inlen == 0 && quiet(&c) &&
	    memcmp(&c_target, t, sizeof(*t)) == 0;
	if (!reused) {
		lmtp_idle_close();
		if (conn_open(t, m, res, timeout_s * 1000, deadline) == -1)
			return;
	}
	c.timeout_ms = timeout_s * 1000;
	c.deadline = deadline;
	c_clean = 0;
	if ((n = envelope(&c, m, res, accepted)) == -2 && reused) {
		lmtp_idle_close();		/* it was closed while idle */
		if (conn_open(t, m, res, timeout_s * 1000, deadline) == -1)
			return;
		c.deadline = deadline;
		n = envelope(&c, m, res, accepted);
	}
	if (n > 0 && data(&c, m, res, accepted) == 0 && c.inlen == 0) {
		c_clean = 1;			/* kept for the next one */
		return;
	}
	c_clean = n == 0 || n == -1;		/* intact: QUIT politely */
	lmtp_idle_close();
}
