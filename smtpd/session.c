/*
 * session: one client connection's life in a worker.
 *
 * The session reads whatever arrived, lets session_cmd handle complete
 * lines (or the DATA recogniser handle message bytes), queues replies in
 * order and flushes them before it waits for more input (RFC 2920).
 * While the queue has a message in hand it stops reading, so pipelined
 * input stays bounded.  Timeouts: a deadline per command (or per DATA
 * read) and one for the whole session, both answered with 421.
 */
#include <arpa/inet.h>
#include <sys/epoll.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../dnsbl/client.h"
#include "../dnsbl/sender.h"
#include "../greylist/blocks.h"
#include "../greylist/rates.h"
#include "../metrics/counters.h"
#include "check.h"
#include "limits.h"
#include "log.h"
#include "smtp.h"

static void
sockaddr_text(const struct sockaddr *sa, char *ip, size_t ipsize,
    unsigned *port)
{
	const struct sockaddr_in *in = (const void *)sa;
	const struct sockaddr_in6 *in6 = (const void *)sa;

	ip[0] = '\0';
	*port = 0;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)ipsize);
		*port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip,
			    (socklen_t)ipsize);
		else
			inet_ntop(AF_INET6, &in6->sin6_addr, ip,
			    (socklen_t)ipsize);
		*port = ntohs(in6->sin6_port);
	}
}

struct session *
session_new(int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->ev.kind = EV_SESSION;
	s->ev.fd = fd;
	s->fd = fd;
	s->id = wk->next_id++;
	memcpy(&s->peer, sa, salen);
	s->peerlen = salen;
	sockaddr_text(sa, s->ip, sizeof(s->ip), &s->port);
	buf_init(&s->in, SMTP_IN_MAX);
	buf_init(&s->out, SMTP_OUT_MAX);
	clock_gettime(CLOCK_REALTIME, &s->start);
	s->deadline = s->start.tv_sec + wk->conf->command_timeout;
	s->session_deadline = s->start.tv_sec + wk->conf->session_timeout;
	s->state = S_CMD;
	verdict_pass(&s->delayed);
	return s;
}

/* "CODE ENH text" CRLF, formatted once, straight into one line. */
static void reply_line(struct session *, int code, char sep,
    const char *enh, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

void
session_reply(struct session *s, int code, const char *enh,
    const char *fmt, ...)
{
	va_list ap;

	if (s->greet_dash) {
		/* RFC 5321 4.2.1: one code per reply, so the banner ends first */
		s->greet_dash = 0;
		session_reply(s, 220, NULL, "%s ESMTP moat",
		    wk->conf->hostname);
	}
	va_start(ap, fmt);
	reply_line(s, code, ' ', enh, fmt, ap);
	va_end(ap);
}

/* A line of a reply that goes on ("220-..."). */
void
session_reply_more(struct session *s, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply_line(s, code, '-', NULL, fmt, ap);
	va_end(ap);
}

static void
reply_line(struct session *s, int code, char sep, const char *enh,
    const char *fmt, va_list ap)
{
	char line[512 + 32];
	int h, t;

	if (enh != NULL && enh[0] != '\0')
		h = snprintf(line, sizeof(line), "%d%c%s ", code, sep, enh);
	else
		h = snprintf(line, sizeof(line), "%d%c", code, sep);
	t = vsnprintf(line + h, sizeof(line) - (size_t)h - 2, fmt, ap);
	if (t < 0)
		t = 0;
	if ((size_t)t > sizeof(line) - (size_t)h - 3)
		t = (int)(sizeof(line) - (size_t)h - 3);	/* cut, like before */
	memcpy(line + h + t, "\r\n", 2);
	if (buf_append(&s->out, line, (size_t)(h + t + 2)) == -1) {
		/* the client is not reading its replies: give up on it */
		session_closing(s, "not-reading");
		buf_reset(&s->out);
	}
}

/*
 * The banner, once what it depends on is known: a client refused at
 * connect (delay_reject off) gets 554 and only QUIT, a temporary DNS
 * failure 421; in dns_action = log mode the refusal is only logged.
 */
static void
session_greet(struct session *s)
{
	struct verdict *v = &s->delayed;

	if (!wk->conf->delay_reject && v->kind != V_PASS &&
	    s->delayed_log_only) {
		session_log_would(s, "connect", v, NULL);
		verdict_pass(v);
	} else if (!wk->conf->delay_reject && v->kind == V_TEMPFAIL) {
		session_log_reject(s, "connect", v, NULL);
		session_reply(s, 421, "4.7.0", "%s %s", wk->conf->hostname,
		    v->text);
		session_closing(s, v->cls);
		return;
	} else if (!wk->conf->delay_reject && v->kind == V_REJECT) {
		session_log_reject(s, "connect", v, NULL);
		session_reply(s, v->code, NULL, "%s %s", wk->conf->hostname,
		    v->text);
		s->state = S_REJECTED;
		return;
	}
	session_reply(s, 220, NULL, "%s ESMTP moat", wk->conf->hostname);
}

/* The DNS verdict joins the access map's (which wins when it spoke). */
static void
session_dns_verdict(struct session *s)
{
	struct verdict v;

	dns_client_verdict(s, &v);
	if (v.kind == V_PASS || s->delayed.kind != V_PASS)
		return;
	s->delayed = v;
	s->delayed_log_only = wk->conf->dns_action == DNS_LOG;
}

void
session_dns_done(struct session *s)
{
	if (s->state == S_DEAD)
		return;
	session_dns_verdict(s);
	if (s->banner_pending) {
		s->banner_pending = 0;
		if (s->greet_until == 0)
			session_greet(s);	/* else when greet_delay ends */
	}
	s->dns_wait = 0;
	worker_kick(s);		/* input may wait; the reply must go */
}

/* The sender's DNS verdict, kept in the transaction for its RCPTs. */
void
session_sender_verdict(struct session *s)
{
	if (s->tx == NULL)
		return;
	dns_sender_verdict(s, &s->tx->dns_held);
	s->tx->dns_held_log_only = wk->conf->dns_action == DNS_LOG;
}

void
session_sender_done(struct session *s)
{
	if (s->state == S_DEAD)
		return;
	session_sender_verdict(s);
	if (s->mail_wait) {
		s->mail_wait = 0;
		session_mail_reply(s);
	}
	s->dns_wait = 0;
	worker_kick(s);		/* input may wait; the reply must go */
}

static void session_flush(struct session *);

/*
 * greet_delay: the first line of the banner now ("220-"), the last one
 * after the delay, and a client that talks in between is spamware that
 * does not wait for the server (it is refused as `pregreet`).  A "220-"
 * commits to a 220, so it goes out only when no refusal at the banner
 * can follow (delay_reject on, or nothing held against the client).
 */
static int
greet_later(struct session *s)
{
	if (wk->conf->greet_delay == 0 || s->client_ok)
		return 0;
	s->greet_until = time(NULL) + wk->conf->greet_delay;
	if (wk->conf->delay_reject || (s->delayed.kind == V_PASS &&
	    !s->banner_pending)) {
		session_reply_more(s, 220, "%s ESMTP moat", wk->conf->hostname);
		s->greet_dash = 1;
	}
	return 1;
}

/* The client spoke before the end of the banner: its first command
 * gets the 554. */
static void
session_pregreet(struct session *s)
{
	struct verdict v;

	verdict_set(&v, V_REJECT, 554, "5.5.1", "pregreet", "%s Error: you "
	    "talked before my greeting", wk->conf->hostname);
	s->greet_until = 0;		/* the 554 ends the banner first */
	s->banner_pending = 0;
	session_log_reject(s, "connect", &v, NULL);
	block_event((const struct sockaddr *)&s->peer, BLOCK_PREGREET);
	session_reply(s, 554, "5.5.1", "%s", v.text);
	session_closing(s, "pregreet");
}

/* Once a second: the delayed banner, when its time has come. */
static void
session_greet_due(struct session *s, time_t now)
{
	if (s->greet_until == 0 || now < s->greet_until || s->banner_pending)
		return;
	s->greet_until = 0;
	s->greet_dash = 0;
	s->deadline = now + wk->conf->command_timeout;
	session_greet(s);
	session_flush(s);
}

/*
 * A rate limit (greylist/rates.h, and the per-session counts): 1 when
 * the client went over it, and then the session ends: 421 4.7.0, or with
 * rate_action = drop the connection closes without a word.
 */
int
session_rate_limited(struct session *s, int kind, const char *stage)
{
	const struct conf *cf = wk->conf;
	const struct conf_rate *r = kind == RATE_CONN ? &cf->conn_rate :
	    kind == RATE_MSG ? &cf->msg_rate : &cf->rcpt_rate;
	const char *cls, *what;
	struct verdict v;

	if (s->client_ok)
		return 0;
	switch (kind) {
	case LIMIT_MSGS_PER_CONN:
		if (cf->msgs_per_conn == 0 || s->nmsgs < cf->msgs_per_conn)
			return 0;
		cls = "rate:msgs-per-conn";
		what = "Too many messages in one session";
		break;
	case LIMIT_RCPT_ERRORS:
		if (cf->rcpt_errors_per_conn == 0 ||
		    s->nunknown <= cf->rcpt_errors_per_conn)
			return 0;
		cls = "rate:rcpt-errors";
		what = "Too many unknown recipients";
		break;
	default:
		if (!rate_over((enum rate_kind)kind,
		    (const struct sockaddr *)&s->peer, r, cf->rate_net6))
			return 0;
		cls = kind == RATE_CONN ? "rate:conn" : kind == RATE_MSG ?
		    "rate:msg" : "rate:rcpt";
		what = kind == RATE_CONN ? "Too many connections from your "
		    "address" : kind == RATE_MSG ? "Too many messages from "
		    "your address" : "Too many recipients from your address";
		break;
	}
	verdict_set(&v, V_TEMPFAIL, 421, "4.7.0", cls, "%s %s, try again "
	    "later", cf->hostname, what);
	session_log_reject(s, stage, &v, NULL);
	block_event((const struct sockaddr *)&s->peer, kind ==
	    LIMIT_RCPT_ERRORS ? BLOCK_DICTIONARY : BLOCK_RATE);
	if (cf->rate_action == RATE_DROP) {
		session_close(s, "rate-drop");
		return 1;
	}
	session_reply(s, 421, "4.7.0", "%s", v.text);
	session_closing(s, cls);
	return 1;
}

void
session_start(struct session *s)
{
	struct verdict v;
	struct kv k;

	kv_begin(&k, "connect");
	kv_id(&k, "session", s->id);
	kv_str(&k, "ip", s->ip);
	kv_uint(&k, "port", s->port);
	kv_emit(&k);
	ctr_add(CTR_SESSIONS, 1);

	check_client(s, &v);
	if (v.kind == V_OK)
		s->client_ok = 1;
	else if (v.kind != V_PASS)
		s->delayed = v;
	if (session_rate_limited(s, RATE_CONN, "connect"))
		return;
	if (!s->client_ok && s->delayed.kind == V_PASS &&
	    dns_client_wanted(wk->conf) && dns_client_start(s) == 0) {
		if (!dns_client_done(s) && !wk->conf->delay_reject)
			s->banner_pending = 1;
		else
			session_dns_verdict(s);
	}
	if (greet_later(s) || s->banner_pending)
		return;
	session_greet(s);
}

static void
log_decision(struct session *s, const char *event, const char *stage,
    const struct verdict *v, const char *rcpt)
{
	struct kv k;

	kv_begin(&k, event);
	kv_id(&k, "session", s->id);
	kv_str(&k, "stage", stage);
	kv_str(&k, "class", v->cls);
	kv_str(&k, "ip", s->ip);
	if (s->helo[0] != '\0')
		kv_str(&k, "helo", s->helo);
	if (s->tx != NULL)
		kv_str(&k, "from", s->tx->sender.null ? "" :
		    s->tx->sender.text);
	if (rcpt != NULL)
		kv_str(&k, "to", rcpt);
	if (v->code != 0)
		kv_int(&k, "code", v->code);
	if (v->hits[0] != '\0')
		kv_str(&k, "hits", v->hits);
	kv_str(&k, "reply", v->text);
	kv_emit(&k);
}

void
session_log_reject(struct session *s, const char *stage,
    const struct verdict *v, const char *rcpt)
{
	log_decision(s, v->kind == V_TEMPFAIL ? "defer" : "reject", stage, v,
	    rcpt);
	ctr_refusal(v->cls, stage);
}

/* dns_action = log: what would have been refused, and nothing else. */
void
session_log_would(struct session *s, const char *stage,
    const struct verdict *v, const char *rcpt)
{
	log_decision(s, "would-reject", stage, v, rcpt);
}

static void
session_log_disconnect(struct session *s, const char *reason)
{
	const char *ptr = dns_client_ptr_any(s);
	struct timespec now;
	struct kv k;
	char tls[128];
	long long ms;

	clock_gettime(CLOCK_REALTIME, &now);
	ms = (now.tv_sec - s->start.tv_sec) * 1000LL +
	    (now.tv_nsec - s->start.tv_nsec) / 1000000;
	kv_begin(&k, "disconnect");
	kv_id(&k, "session", s->id);
	kv_str(&k, "ip", s->ip);
	kv_dur(&k, "duration", ms);
	kv_uint(&k, "commands", s->ncmds);
	kv_uint(&k, "messages", s->nmsgs);
	kv_uint(&k, "rcpt_ok", s->nrcpt_ok);
	kv_uint(&k, "rcpt_bad", s->nrcpt_bad);
	kv_uint(&k, "bad", s->nbad);
	if (ptr[0] != '\0')
		kv_str(&k, "ptr", ptr);
	if (s->tls_done)
		kv_str(&k, "tls", tls_describe(s->ssl, tls, sizeof(tls)));
	kv_str(&k, "reason", reason);
	kv_emit(&k);
}

/* A command the client got wrong; too many and we hang up. */
void
session_bad(struct session *s, int code, const char *enh, const char *text)
{
	s->nbad++;
	if (s->nbad > wk->conf->max_bad_commands) {
		session_reply(s, 421, "4.7.0", "%s Error: too many errors",
		    wk->conf->hostname);
		session_closing(s, "errors");
		return;
	}
	session_reply(s, code, enh, "%s", text);
}

/* Say goodbye: close once what is written has gone out. */
void
session_closing(struct session *s, const char *reason)
{
	s->state = S_CLOSING;
	if (s->close_reason == NULL)
		s->close_reason = reason;
}

/* Close now; memory is freed after this loop turn (events may follow). */
void
session_close(struct session *s, const char *reason)
{
	if (s->state == S_DEAD)
		return;
	sio_withdraw_250(s);
	session_log_disconnect(s, reason);
	tx_free(s);
	dns_client_free(s);
	sio_shutdown(s);
	close(s->fd);		/* also leaves the epoll set: fd never dup'ed */
	s->fd = -1;
	s->ev.fd = -1;
	limits_close((struct sockaddr *)&s->peer);
	s->state = S_DEAD;
	worker_forget(s);
}

void
session_free(struct session *s)
{
	buf_free(&s->in);
	buf_free(&s->out);
	free(s);
}

/* Flush replies; close when asked to or on error. */
static void
session_flush(struct session *s)
{
	int r;

	if (s->state == S_DEAD)
		return;
	r = sio_flush(s);
	if (r == -1) {
		session_close(s, "write-error");
		return;
	}
	if (r == 0 && s->state == S_CLOSING) {
		session_close(s, s->close_reason ? s->close_reason : "closed");
		return;
	}
	if (r == 0 && s->held_input) {
		s->held_input = 0;	/* input waited for replies to go */
		worker_kick(s);
	}
	worker_update_events(s);
}

/*
 * A 250 not yet flushed: read nothing more until it is out, so that a
 * second transaction can never be answered before the first is confirmed
 * (a session holds one confirmation at a time).
 */
int
session_confirm_pending(const struct session *s)
{
	return s->confirm_qid[0] != '\0';
}

/* Handle complete lines (or message bytes) in the input buffer. */
void
session_process(struct session *s)
{
	size_t linelen, used;
	enum line_status st;

	if (s->greet_until != 0 && s->in.len > 0)
		session_pregreet(s);	/* it did not wait for the banner */
	while ((s->state == S_CMD || s->state == S_DATA ||
	    s->state == S_REJECTED) && !s->banner_pending && !s->mail_wait &&
	    s->greet_until == 0) {
		if (session_confirm_pending(s) || s->out.len > SMTP_OUT_HIGH) {
			s->held_input = 1;	/* the flush kicks us again */
			break;
		}
		if (wk->draining == 2 && s->tx == NULL && s->state != S_DATA) {
			/* shutting down: the transaction is over, so are we */
			session_reply(s, 421, "4.3.2", "%s Service shutting "
			    "down", wk->conf->hostname);
			session_closing(s, "shutdown");
			break;
		}
		if (s->state == S_DATA) {
			session_data_input(s);
			if (s->state == S_DATA)
				break;		/* needs more bytes */
			continue;
		}
		st = line_get(&s->lr, s->in.data, s->in.len,
		    wk->conf->max_line, &linelen, &used);
		if (st == LINE_MORE) {
			if (used == 0)
				break;
			buf_consume(&s->in, used);	/* rest of a long line */
			continue;
		}
		if (st == LINE_TOOLONG) {
			buf_consume(&s->in, used);
			session_bad(s, 500, "5.5.2", "Error: line too long");
			continue;
		}
		session_command(s, s->in.data, linelen, s->in.len > used);
		if (s->dns_wait)
			break;		/* the line runs again when DNS is done */
		if (s->state != S_DEAD)
			buf_consume(&s->in, used);
	}
	session_flush(s);
}

static void
session_read(struct session *s)
{
	ssize_t r;

	for (;;) {
		char tmp[16384];
		size_t room = SMTP_IN_MAX - s->in.len;

		if (room == 0)
			break;
		r = sio_read(s, tmp, room < sizeof(tmp) ? room : sizeof(tmp));
		if (r == -2)
			break;
		if (r <= 0) {
			session_close(s, r == 0 ? "eof" : "read-error");
			return;
		}
		if (buf_append(&s->in, tmp, (size_t)r) == -1) {
			session_close(s, "memory");
			return;
		}
		s->deadline = time(NULL) + (s->state == S_DATA ?
		    wk->conf->data_timeout : wk->conf->command_timeout);
		if (s->ssl == NULL)
			break;		/* level-triggered: come back */
	}
	session_process(s);
}

/*
 * STARTTLS answered: once the 220 has gone out, throw away whatever the
 * client pipelined after the command and start the handshake.
 */
static int
session_tls_begin(struct session *s)
{
	int r = sio_flush(s);

	if (r == -1) {
		session_close(s, "write-error");
		return -1;
	}
	if (r == 1) {
		worker_update_events(s);	/* wait for room to write */
		return -1;
	}
	if (sio_starttls(s) == -1) {
		log_warnx("TLS: cannot start a session");
		session_close(s, "tls-error");
		return -1;
	}
	return 0;
}

static void
session_tls_step(struct session *s)
{
	int r;

	if (s->ssl == NULL && session_tls_begin(s) == -1)
		return;
	r = sio_handshake(s);

	if (r == 0) {
		worker_update_events(s);
		return;
	}
	if (r == -1) {
		struct verdict v;

		verdict_set(&v, V_REJECT, 0, "", "tls", "handshake failed");
		session_log_reject(s, "starttls", &v, NULL);
		session_close(s, "tls-error");
		return;
	}
	s->tls_done = 1;
	s->state = S_CMD;
	s->deadline = time(NULL) + wk->conf->command_timeout;
	worker_update_events(s);
	worker_kick(s);		/* data may already sit in the SSL buffer */
}

void
session_io(struct session *s, uint32_t events)
{
	if (s->state == S_DEAD)
		return;
	if (s->state == S_TLS) {
		session_tls_step(s);
		return;
	}
	if (events & (EPOLLERR | EPOLLHUP) && !(events & EPOLLIN)) {
		session_close(s, "hangup");
		return;
	}
	if (events & EPOLLOUT) {
		session_flush(s);
		if (s->state == S_DEAD)
			return;
	}
	if ((events & EPOLLIN) || (s->ssl_want_write && (events & EPOLLOUT)))
		session_read(s);
}

void
session_timer(struct session *s, time_t now)
{
	const char *why;

	if (s->state == S_DEAD)
		return;
	session_greet_due(s, now);
	if (wk->draining == 2 && now >= wk->drain_deadline) {
		why = "shutdown";
	} else if (now >= s->session_deadline) {
		why = "session-timeout";
	} else if (now >= s->deadline) {
		why = s->state == S_TLS ? "tls-timeout" : "timeout";
	} else {
		return;
	}
	if (s->state == S_TLS || s->confirm_qid[0] != '\0') {
		/* nothing may follow a 250 that may be half out: close */
		session_close(s, why);
		return;
	}
	buf_reset(&s->out);
	if (s->state == S_COMMIT || s->tx != NULL)
		tx_free(s);
	session_reply(s, 421, "4.4.2", "%s Error: %s", wk->conf->hostname,
	    strcmp(why, "shutdown") == 0 ? "service shutting down" :
	    "timeout exceeded");
	session_closing(s, why);
	session_flush(s);
	if (s->state != S_DEAD)
		session_close(s, why);
}

/* Shutdown: idle sessions go now, a transaction may finish first. */
void
session_drain(struct session *s)
{
	if (s->state == S_DEAD || s->state == S_CLOSING)
		return;
	if (s->tx != NULL || s->state == S_DATA || s->state == S_COMMIT ||
	    s->state == S_TLS)
		return;		/* session_process ends it after the transaction */
	session_reply(s, 421, "4.3.2", "%s Service shutting down",
	    wk->conf->hostname);
	session_closing(s, "shutdown");
	session_flush(s);
}

/* The line that ends a transaction the queue answered, and the end. */
static void
commit_end(struct session *s, struct kv *k, const char *reply)
{
	kv_id(k, "session", s->id);
	kv_str(k, "qid", s->tx->qid);
	kv_str(k, "ip", s->ip);
	kv_str(k, "from", s->tx->sender.null ? "" : s->tx->sender.text);
	kv_uint(k, "nrcpt", s->tx->nrcpt);
	kv_uint(k, "size", s->tx->dp.size);
	if (reply != NULL)
		kv_str(k, "reply", reply);
	kv_emit(k);
	tx_free(s);
	s->state = S_CMD;
	s->deadline = time(NULL) + wk->conf->command_timeout;
	session_process(s);
}

void
session_commit_ok(struct session *s, const char *qid)
{
	struct kv k;

	session_reply(s, 250, "2.0.0", "Ok: queued as %s", qid);
	memcpy(s->confirm_qid, qid, QID_LEN + 1);
	s->confirm_left = s->out.len;
	s->confirm_sent = 0;
	s->confirm_wait = 0;
	s->nmsgs++;
	ctr_add(CTR_MESSAGES, 1);
	ctr_add(CTR_RECIPIENTS, s->tx->nrcpt);
	kv_begin(&k, "accept");
	commit_end(s, &k, NULL);
}

/*
 * The queue did not store it: its own trouble (class "": a deferral of
 * class queue), or a filter's refusal, which may ask for the client to
 * be blocked.
 */
void
session_commit_refused(struct session *s, int code, const char *enh,
    const char *text, const char *cls, unsigned block)
{
	const char *logged = cls[0] != '\0' ? cls : "queue";
	struct kv k;

	session_reply(s, code, enh, "%s", text);
	kv_begin(&k, code >= 500 ? "reject" : "defer");
	kv_str(&k, "stage", "data");
	kv_str(&k, "class", logged);
	ctr_refusal(logged, "data");
	kv_int(&k, "code", code);
	if (block > 0)
		block_for((struct sockaddr *)&s->peer, block, cls);
	else if (code >= 500 && strncmp(cls, "filter:", 7) == 0)
		block_event((struct sockaddr *)&s->peer, BLOCK_FILTER);
	commit_end(s, &k, text);
}
