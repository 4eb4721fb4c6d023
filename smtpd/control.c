/*
 * control: the parent's side of moatctl's socket (see control.h).
 *
 * The parent only checks and relays.  A request is tagged with a number
 * of the parent's own and forwarded to the queue, which owns the spool
 * and the entries it holds in memory: an operator's hold or delete is
 * one more frame in the queue's loop, handled between two delivery
 * slices, so it never races a delivery.  The answer comes back by its
 * tag; a client gone by then is not answered.
 *
 * The parent never waits on a client.  Client sockets are non-blocking;
 * a request is one datagram no longer than FRAME_MAX; the reply is one
 * datagram to a socket that has sent nothing else; at most
 * CONTROL_CLIENTS_MAX connections are served at once (the listener is
 * not polled meanwhile); and a connection is closed CONTROL_TIMEOUT
 * seconds after it was accepted, whatever it is doing.  A listing of
 * any size travels as a memfd, so the parent never holds it.
 *
 * Who may ask: the socket is mode 0600, owned by the user moatd starts
 * as (root), and each connection's peer (SO_PEERCRED) must be root or
 * that same user; anyone else is logged and closed.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../queue/spool.h"
#include "buf.h"
#include "control.h"
#include "log.h"

struct ctl_client {
	int		 fd;		/* -1: a free slot */
	uid_t		 uid;
	uint64_t	 tag;		/* 0: no request forwarded yet */
	time_t		 deadline;
};

static struct ctl_client clients[CONTROL_CLIENTS_MAX];
static size_t	 nclients;
static int	 listen_fd = -1;
static int	 queue_sock = -1;
static uint64_t	 last_tag;
static char	 sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct frame ctl_frame;

const char *
ctl_op_name(uint32_t op)
{
	switch (op) {
	case CTL_LIST:		return "list";
	case CTL_FLUSH:		return "flush";
	case CTL_HOLD:		return "hold";
	case CTL_RELEASE:	return "release";
	case CTL_DELETE:	return "delete";
	}
	return "unknown";
}

/* ---- the socket ---- */

/* A socket left by a moatd that died is removed; a live one is fatal. */
static void
control_clear(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd;

	if (lstat(sun->sun_path, &st) == -1) {
		if (errno == ENOENT)
			return;
		fatal("control_socket %s", sun->sun_path);
	}
	if (!S_ISSOCK(st.st_mode))
		fatalx("control_socket %s exists and is not a socket",
		    sun->sun_path);
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1)
		fatal("control socket");
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
	    errno == EAGAIN)
		fatalx("control_socket %s: another moatd answers on it",
		    sun->sun_path);
	close(fd);
	if (unlink(sun->sun_path) == -1)
		fatal("control_socket: unlink %s", sun->sun_path);
}

void
control_listen(const struct conf *cf)
{
	struct sockaddr_un sun;
	mode_t old;
	size_t i;
	int r;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		clients[i].fd = -1;
	if (cf->control_socket[0] == '\0')
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy_ok(sun.sun_path, cf->control_socket,
	    sizeof(sun.sun_path)) == -1)
		fatalx("control_socket %s: path too long", cf->control_socket);
	control_clear(&sun);
	listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (listen_fd == -1)
		fatal("control socket");
	old = umask(0177);
	r = bind(listen_fd, (const struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == -1)
		fatal("control_socket: bind %s", sun.sun_path);
	memcpy(sock_path, sun.sun_path, sizeof(sock_path));
	if (chmod(sock_path, 0600) == -1)
		fatal("control_socket: chmod %s", sock_path);
	if (listen(listen_fd, CONTROL_CLIENTS_MAX) == -1)
		fatal("control_socket: listen %s", sock_path);
}

void
control_close(void)
{
	size_t i;

	if (listen_fd != -1)
		close(listen_fd);
	listen_fd = -1;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		if (clients[i].fd != -1)
			close(clients[i].fd);
		clients[i].fd = -1;
	}
	nclients = 0;
}

void
control_unlink(void)
{
	if (sock_path[0] != '\0' && unlink(sock_path) == -1)
		log_warn("control_socket: unlink %s", sock_path);
	sock_path[0] = '\0';
}

/* ---- clients ---- */

static void
client_close(struct ctl_client *c)
{
	close(c->fd);
	c->fd = -1;
	c->tag = 0;
	nclients--;
}

/* The one reply, then the end of the connection. */
static void
client_answer(struct ctl_client *c, uint32_t status, const char *text,
    int fd)
{
	struct frame *f = &ctl_frame;

	frame_init(f, FRAME_CTL_REPLY);
	frame_put_u32(f, status);
	frame_put_str(f, text);
	if (frame_send(c->fd, f, fd) == -1)
		log_warn("control: reply to uid=%lu", (unsigned long)c->uid);
	client_close(c);
}

static int
client_peer_ok(int fd, uid_t *uid)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		return 0;
	}
	*uid = cr.uid;
	if (cr.uid == 0 || cr.uid == geteuid())
		return 1;
	log_warnx("control: connection from uid=%lu pid=%ld refused: only "
	    "root may ask", (unsigned long)cr.uid, (long)cr.pid);
	return 0;
}

static void
client_accept(void)
{
	struct ctl_client *c = NULL;
	size_t i;
	uid_t uid;
	int fd;

	fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != ECONNABORTED)
			log_warn("control: accept");
		return;
	}
	if (!client_peer_ok(fd, &uid)) {
		close(fd);
		return;
	}
	for (i = 0; i < CONTROL_CLIENTS_MAX && c == NULL; i++)
		if (clients[i].fd == -1)
			c = &clients[i];
	if (c == NULL) {		/* cannot be: not polled when full */
		close(fd);
		return;
	}
	c->fd = fd;
	c->uid = uid;
	c->tag = 0;
	c->deadline = time(NULL) + CONTROL_TIMEOUT;
	nclients++;
}

/* NULL, or why the request is not one moatctl sends. */
static const char *
request_decode(struct frame *f, uint32_t *op, char *qid)
{
	if (f->type != FRAME_CTL_REQUEST)
		return "not a request";
	if (f->fd != -1)
		return "a descriptor";
	*op = frame_get_u32(f);
	frame_get_str(f, qid, QID_LEN + 1);
	if (frame_end(f) != 0)
		return "malformed";
	if (*op < CTL_LIST || *op > CTL_OP_MAX)
		return "unknown operation";
	if (*op == CTL_LIST || *op == CTL_FLUSH)
		return qid[0] == '\0' ? NULL : "a queue id where none goes";
	return spool_qid_valid(qid) ? NULL : "not a queue id";
}

static void
request_forward(struct ctl_client *c, uint32_t op, const char *qid)
{
	struct frame *f = &ctl_frame;

	if (queue_sock == -1) {
		client_answer(c, CTL_UNAVAILABLE, "the queue process is not "
		    "running; try again", -1);
		return;
	}
	if (++last_tag == 0)
		++last_tag;
	frame_init(f, FRAME_CTL_REQUEST);
	frame_put_u64(f, last_tag);
	frame_put_u32(f, op);
	frame_put_str(f, qid);
	if (frame_send(queue_sock, f, -1) == -1) {
		log_warn("control: %s request to the queue", ctl_op_name(op));
		client_answer(c, CTL_UNAVAILABLE, "the queue process did not "
		    "take the request; try again", -1);
		return;
	}
	c->tag = last_tag;
}

static void
client_read(struct ctl_client *c)
{
	struct frame *f = &ctl_frame;
	char qid[QID_LEN + 1];
	const char *bad;
	uint32_t op;
	int r;

	if ((r = frame_recv(c->fd, f)) == -1 && errno == EAGAIN)
		return;
	if (r == -1)
		log_warn("control: read from uid=%lu", (unsigned long)c->uid);
	if (r != 1) {
		client_close(c);	/* moatctl went away */
		return;
	}
	bad = c->tag != 0 ? "a second request" : request_decode(f, &op, qid);
	if (f->fd != -1)
		close(f->fd);
	if (bad != NULL) {
		log_warnx("control: bad request from uid=%lu: %s",
		    (unsigned long)c->uid, bad);
		client_close(c);
		return;
	}
	request_forward(c, op, qid);
}

/* ---- the parent's loop ---- */

size_t
control_pollfds(struct pollfd *pfd, size_t room)
{
	size_t i, n = 0;

	for (i = 0; i < CONTROL_CLIENTS_MAX && n < room; i++) {
		if (clients[i].fd == -1)
			continue;
		pfd[n].fd = clients[i].fd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	if (listen_fd != -1 && nclients < CONTROL_CLIENTS_MAX && n < room) {
		pfd[n].fd = listen_fd;
		pfd[n].events = POLLIN;
		pfd[n++].revents = 0;
	}
	return n;
}

static struct ctl_client *
client_by_fd(int fd)
{
	size_t i;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (clients[i].fd == fd)
			return &clients[i];
	return NULL;
}

/*
 * Clients first, the listener last: a descriptor a client closes here
 * may be reused by accept, and no later entry of this poll may name it.
 */
void
control_events(const struct pollfd *pfd, size_t n)
{
	struct ctl_client *c;
	size_t i;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents == 0 || pfd[i].fd == listen_fd)
			continue;
		if ((c = client_by_fd(pfd[i].fd)) != NULL)
			client_read(c);
	}
	for (i = 0; i < n; i++)
		if (pfd[i].revents != 0 && pfd[i].fd == listen_fd)
			client_accept();
}

static struct ctl_client *
client_by_tag(uint64_t tag)
{
	size_t i;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (clients[i].fd != -1 && clients[i].tag == tag)
			return &clients[i];
	return NULL;
}

void
control_reply(struct frame *f)
{
	char text[CTL_TEXT_MAX];
	struct ctl_client *c;
	uint64_t tag;
	uint32_t status;

	tag = frame_get_u64(f);
	status = frame_get_u32(f);
	frame_get_str(f, text, sizeof(text));
	if (frame_end(f) != 0 || tag == 0 || status > CTL_STATUS_MAX)
		log_warnx("control: malformed reply from the queue");
	else if ((c = client_by_tag(tag)) != NULL)
		client_answer(c, status, text, f->fd);
	if (f->fd != -1)
		close(f->fd);
	f->fd = -1;
}

/* The requests the queue will never answer: it is gone. */
void
control_set_queue(int sock)
{
	size_t i;

	queue_sock = sock;
	if (sock != -1)
		return;
	for (i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (clients[i].fd != -1 && clients[i].tag != 0)
			client_answer(&clients[i], CTL_UNAVAILABLE, "the queue "
			    "process ended before it answered; try again", -1);
}

void
control_tick(time_t now)
{
	struct ctl_client *c;
	size_t i;

	for (i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		c = &clients[i];
		if (c->fd == -1 || now < c->deadline)
			continue;
		if (c->tag == 0) {
			client_close(c);	/* it never asked */
			continue;
		}
		log_warnx("control: no answer from the queue within %ds",
		    CONTROL_TIMEOUT);
		client_answer(c, CTL_UNAVAILABLE, "the queue process did not "
		    "answer in time", -1);
	}
}
