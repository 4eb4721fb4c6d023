/*
 * session_io: bytes in and out of a session, plain or TLS.
 *
 * Reads and writes never block.  With TLS, SSL_read may need to write and
 * SSL_write may need to read (renegotiation is refused, but TLS 1.3 key
 * updates exist); the wanted direction is remembered so the event mask
 * asks for it.  STARTTLS purges any plaintext the client pipelined after
 * the command (RFC 3207 5; the classic command-injection attack).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "frame.h"
#include "log.h"
#include "smtp.h"

/* >0 bytes, 0 EOF, -1 error, -2 would block. */
ssize_t
sio_read(struct session *s, void *p, size_t n)
{
	ssize_t r;
	int ret, err;

	if (s->ssl == NULL) {
		r = read(s->fd, p, n);
		if (r == -1)
			return (errno == EAGAIN || errno == EINTR) ? -2 : -1;
		return r;
	}
	ERR_clear_error();
	ret = SSL_read(s->ssl, p, (int)(n > 65536 ? 65536 : n));
	if (ret > 0) {
		s->ssl_want_write = 0;
		return ret;
	}
	err = SSL_get_error(s->ssl, ret);
	if (err == SSL_ERROR_WANT_READ) {
		s->ssl_want_write = 0;
		return -2;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		s->ssl_want_write = 1;
		return -2;
	}
	if (err == SSL_ERROR_ZERO_RETURN)
		return 0;
	return -1;
}

static ssize_t
sio_write(struct session *s, const void *p, size_t n)
{
	ssize_t r;
	int ret, err;

	if (s->ssl == NULL) {
		r = send(s->fd, p, n, MSG_NOSIGNAL);
		if (r == -1)
			return (errno == EAGAIN || errno == EINTR) ? -2 : -1;
		return r;
	}
	ERR_clear_error();
	ret = SSL_write(s->ssl, p, (int)(n > 65536 ? 65536 : n));
	if (ret > 0)
		return ret;
	err = SSL_get_error(s->ssl, ret);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
		return -2;
	return -1;
}

/*
 * The queue hears of a 250 before the client can: a worker killed between
 * the two leaves a message delivered whose client may send it again,
 * never one the client was told is ours and the queue drops.  0 while
 * the CONFIRM waits in the worker (the worker flushes us again).
 */
static int
sio_confirmed(struct session *s)
{
	if (s->confirm_qid[0] == '\0' || s->confirm_sent)
		return 1;
	if (s->confirm_wait)
		return 0;
	if (worker_confirm(s->confirm_qid))
		s->confirm_sent = 1;
	else
		s->confirm_wait = 1;
	return s->confirm_sent;
}

/* Once the last byte of the 250 is out, there is nothing to withdraw. */
static void
sio_written(struct session *s, size_t n)
{
	buf_consume(&s->out, n);
	if (s->confirm_qid[0] == '\0')
		return;
	if (n < s->confirm_left) {
		s->confirm_left -= n;
		return;
	}
	s->confirm_qid[0] = '\0';
	s->confirm_left = 0;
}

/* The 250 will never go out in full: the client will send again. */
void
sio_withdraw_250(struct session *s)
{
	if (s->confirm_qid[0] == '\0')
		return;
	worker_abort(s->confirm_qid);
	s->confirm_qid[0] = '\0';
	if (s->ssl != NULL)	/* no close_notify: it would flush the 250 */
		SSL_set_quiet_shutdown(s->ssl, 1);
}

/* Write what is buffered.  0 all written, 1 some left, -1 error. */
int
sio_flush(struct session *s)
{
	ssize_t r;

	if (s->out.len > 0 && !sio_confirmed(s))
		return 1;
	while (s->out.len > 0) {
		r = sio_write(s, s->out.data, s->out.len);
		if (r == -2)
			return 1;
		if (r <= 0)
			return -1;
		sio_written(s, (size_t)r);
	}
	return 0;
}

int
sio_starttls(struct session *s)
{
	buf_reset(&s->in);		/* RFC 3207: no pipelined plaintext */
	s->lr.skipping = 0;
	if ((s->ssl = SSL_new(wk->tls)) == NULL)
		return -1;
	if (SSL_set_fd(s->ssl, s->fd) != 1)
		return -1;
	SSL_set_accept_state(s->ssl);
	return 0;
}

/* 1 done, 0 in progress, -1 failed. */
int
sio_handshake(struct session *s)
{
	int ret, err;

	ERR_clear_error();
	ret = SSL_accept(s->ssl);
	if (ret == 1) {
		s->ssl_want_write = 0;
		return 1;
	}
	err = SSL_get_error(s->ssl, ret);
	if (err == SSL_ERROR_WANT_READ) {
		s->ssl_want_write = 0;
		return 0;
	}
	if (err == SSL_ERROR_WANT_WRITE) {
		s->ssl_want_write = 1;
		return 0;
	}
	return -1;
}

void
sio_shutdown(struct session *s)
{
	if (s->ssl != NULL) {
		if (s->tls_done)
			(void)SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
}
