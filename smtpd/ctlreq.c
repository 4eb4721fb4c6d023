/*
 * ctlreq: moatctl's side of the control socket (see control.h): one
 * request, one reply, within CTLREQ_TIMEOUT seconds.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "control.h"

/* Longer than the parent's own limit, so its answer comes first. */
#define CTLREQ_TIMEOUT	(CONTROL_TIMEOUT + 10)

static struct frame ctlreq_frame;

static int
ctlreq_connect(const char *path, char *text, size_t textsize)
{
	struct timeval tv = { CTLREQ_TIMEOUT, 0 };
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy_ok(sun.sun_path, path, sizeof(sun.sun_path)) == -1) {
		(void)snprintf(text, textsize, "%s: path too long", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) == -1) {
		(void)snprintf(text, textsize, "socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		(void)snprintf(text, textsize, "%s: %s%s", path,
		    strerror(errno), errno == ENOENT || errno == ECONNREFUSED ?
		    " (is moatd running?)" : "");
		close(fd);
		return -1;
	}
	return fd;
}

static int
ctlreq_answer(struct frame *f, char *text, size_t textsize, int *fd)
{
	char t[CTL_TEXT_MAX];
	uint32_t status;

	status = frame_get_u32(f);
	frame_get_str(f, t, sizeof(t));
	if (f->type != FRAME_CTL_REPLY || frame_end(f) != 0 ||
	    status > CTL_STATUS_MAX) {
		(void)snprintf(text, textsize, "a malformed reply from moatd");
		return -1;
	}
	(void)snprintf(text, textsize, "%s", t);
	*fd = f->fd;
	f->fd = -1;
	return (int)status;
}

int
ctlreq(const char *path, uint32_t op, const char *qid, char *text,
    size_t textsize, int *fd)
{
	struct frame *f = &ctlreq_frame;
	int s, r;

	*fd = -1;
	if ((s = ctlreq_connect(path, text, textsize)) == -1)
		return -1;
	frame_init(f, FRAME_CTL_REQUEST);
	frame_put_u32(f, op);
	frame_put_str(f, qid);
	if (frame_send(s, f, -1) == -1) {
		(void)snprintf(text, textsize, "%s: send: %s", path,
		    strerror(errno));
		close(s);
		return -1;
	}
	if ((r = frame_recv(s, f)) != 1) {
		(void)snprintf(text, textsize, "%s: %s", path, r == 0 ?
		    "moatd closed the connection without an answer" :
		    errno == EAGAIN ? "no answer from moatd" :
		    strerror(errno));
		close(s);
		return -1;
	}
	close(s);
	r = ctlreq_answer(f, text, textsize, fd);
	if (r == -1 && f->fd != -1)
		close(f->fd);
	return r;
}
