/*
 * frame: framed messages over SOCK_SEQPACKET with descriptor passing.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "frame.h"

const char *
frame_name(uint32_t type)
{
	switch (type) {
	case FRAME_COMMIT:	return "commit";
	case FRAME_CONFIRM:	return "confirm";
	case FRAME_ABORT:	return "abort";
	case FRAME_COMMIT_OK:	return "commit-ok";
	case FRAME_COMMIT_FAIL:	return "commit-fail";
	case FRAME_CONFIRM_OK:	return "confirm-ok";
	case FRAME_MAP:		return "map";
	case FRAME_QUEUE_SOCK:	return "queue-sock";
	case FRAME_WORKER_SOCK:	return "worker-sock";
	case FRAME_DRAIN:	return "drain";
	case FRAME_FLUSH:	return "flush";
	case FRAME_STATUS:	return "status";
	case FRAME_SPOOL_STATE:	return "spool-state";
	case FRAME_SYNC:	return "sync";
	case FRAME_SYNC_DONE:	return "sync-done";
	case FRAME_FILTER_SOCK:	return "filter-sock";
	case FRAME_FILTER_RUN:	return "filter-run";
	case FRAME_FILTER_CANCEL: return "filter-cancel";
	case FRAME_FILTER_DONE:	return "filter-done";
	case FRAME_LMTP_JOB:	return "lmtp-job";
	case FRAME_LMTP_DONE:	return "lmtp-done";
	case FRAME_CTL_REQUEST:	return "ctl-request";
	case FRAME_CTL_REPLY:	return "ctl-reply";
	}
	return "unknown";
}

void
frame_init(struct frame *f, uint32_t type)
{
	f->type = type;
	f->len = 0;
	f->pos = 0;
	f->bad = 0;
	f->fd = -1;
}

int
frame_put_bytes(struct frame *f, const void *p, size_t n)
{
	if (n > sizeof(f->data) - f->len) {
		f->bad = 1;
		return -1;
	}
	memcpy(f->data + f->len, p, n);
	f->len += n;
	return 0;
}

int
frame_put_u32(struct frame *f, uint32_t v)
{
	return frame_put_bytes(f, &v, sizeof(v));
}

int
frame_put_u64(struct frame *f, uint64_t v)
{
	return frame_put_bytes(f, &v, sizeof(v));
}

int
frame_put_str(struct frame *f, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT32_MAX || frame_put_u32(f, (uint32_t)n) == -1)
		return -1;
	return frame_put_bytes(f, s, n);
}

static int
frame_take(struct frame *f, void *dst, size_t n)
{
	if (f->bad || n > f->len - f->pos) {
		f->bad = 1;
		memset(dst, 0, n);
		return -1;
	}
	memcpy(dst, f->data + f->pos, n);
	f->pos += n;
	return 0;
}

uint32_t
frame_get_u32(struct frame *f)
{
	uint32_t v;

	frame_take(f, &v, sizeof(v));
	return v;
}

uint64_t
frame_get_u64(struct frame *f)
{
	uint64_t v;

	frame_take(f, &v, sizeof(v));
	return v;
}

void
frame_get_str(struct frame *f, char *dst, size_t dstsize)
{
	uint32_t n = frame_get_u32(f);

	dst[0] = '\0';
	if (f->bad || n >= dstsize || n > f->len - f->pos) {
		f->bad = 1;
		return;
	}
	memcpy(dst, f->data + f->pos, n);
	dst[n] = '\0';
	f->pos += n;
	if (memchr(dst, '\0', n) != NULL)
		f->bad = 1;
}

size_t
frame_get_bytes(struct frame *f, void *dst, size_t dstsize)
{
	uint32_t n = frame_get_u32(f);

	if (f->bad || n > dstsize || n > f->len - f->pos) {
		f->bad = 1;
		return 0;
	}
	memcpy(dst, f->data + f->pos, n);
	f->pos += n;
	return n;
}

void
frame_get_strv(struct frame *f, char *arena, size_t arenasize,
    size_t each_max, char **v, uint32_t n)
{
	size_t used = 0, room;
	uint32_t i;

	for (i = 0; i < n && !f->bad; i++) {
		room = arenasize - used;
		if (room > each_max)
			room = each_max;
		frame_get_str(f, arena + used, room);
		v[i] = arena + used;
		used += strlen(v[i]) + 1;
	}
}

int
frame_end(struct frame *f)
{
	if (f->bad || f->pos != f->len)
		return -1;
	return 0;
}

int
frame_send(int sock, struct frame *f, int fd)
{
	struct msghdr msg;
	struct iovec iov[2];
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	ssize_t n;

	if (f->bad) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	iov[0].iov_base = &f->type;
	iov[0].iov_len = sizeof(f->type);
	iov[1].iov_base = f->data;
	iov[1].iov_len = f->len;
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	if (fd != -1) {
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	return 0;
}

int
frame_recv(int sock, struct frame *f)
{
	struct msghdr msg;
	struct iovec iov[2];
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct cmsghdr *c;
	ssize_t n;

	frame_init(f, 0);
	memset(&msg, 0, sizeof(msg));
	iov[0].iov_base = &f->type;
	iov[0].iov_len = sizeof(f->type);
	iov[1].iov_base = f->data;
	iov[1].iov_len = sizeof(f->data);
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n <= 0)
		return (int)n;
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int nfd = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int fds[4], i;

			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)nfd);
			for (i = 0; i < nfd; i++) {
				if (f->fd == -1)
					f->fd = fds[i];
				else
					close(fds[i]);
			}
		}
	}
	if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)n < sizeof(f->type)) {
		if (f->fd != -1)
			close(f->fd);
		f->fd = -1;
		errno = EBADMSG;
		return -1;
	}
	f->len = (size_t)n - sizeof(f->type);
	return 1;
}
