/*
 * spool: write, read back and mark queue entries (see spool.h).
 *
 * Commit discipline (qmail-queue, Postfix cleanup): create the file
 * exclusively in tmp/, write it whole, fsync it, then rename it into
 * queue/ without replacing anything; the caller fsyncs queue/ before it
 * tells anyone the message is safe.  A file in queue/ is therefore always
 * complete; a file in tmp/ never counts.  Reading an entry back trusts
 * nothing (spoolread.c).
 */
#include <sys/sendfile.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../smtpd/buf.h"
#include "spool.h"

/* ---- fields ---- */

int
spool_qid_valid(const char *s)
{
	size_t i;

	for (i = 0; i < QID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' &&
		    s[i] <= 'F')))
			return 0;
	return s[QID_LEN] == '\0';
}

/*
 * No control bytes, bounded; spaces only where allowed.  Envelope values
 * run to the end of their line, so a space is safe in an address: RFC
 * 5321 allows one in a quoted local part ("john smith"@example.org).
 */
static int
token_valid(const char *s, size_t max, int allow_empty, int allow_space)
{
	size_t n = strlen(s), i;

	if (n >= max || (n == 0 && !allow_empty))
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < ' ' || c == 0x7f || (c == ' ' && !allow_space))
			return 0;
	}
	return 1;
}

int
spool_addr_valid(const char *s, int allow_empty)
{
	return token_valid(s, SPOOL_ADDR_MAX, allow_empty, 1);
}

int
spool_ip_valid(const char *s)
{
	return token_valid(s, SPOOL_IP_MAX, 0, 0);
}

/* "local@domain" with both parts, or "postmaster" alone. */
int
spool_rcpt_valid(const char *s)
{
	const char *at;

	if (!spool_addr_valid(s, 0))
		return 0;
	if ((at = strrchr(s, '@')) == NULL)
		return strcasecmp(s, "postmaster") == 0;
	return at != s && at[1] != '\0';
}

void
spool_sanitise(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			*s = '?';
}

void
spool_env_free(struct spool_env *e)
{
	size_t i;

	free(e->ip);
	free(e->ptr);
	free(e->helo);
	free(e->sender);
	for (i = 0; e->rcpt != NULL && i < e->nrcpt; i++) {
		free(e->rcpt[i].addr);
		free(e->rcpt[i].error);
	}
	free(e->rcpt);
	memset(e, 0, sizeof(*e));
}

static int
env_strings(struct spool_env *e, const char *ip, const char *ptr,
    const char *helo, const char *sender)
{
	if ((e->ip = strdup(ip)) == NULL || (e->ptr = strdup(ptr)) == NULL ||
	    (e->helo = strdup(helo)) == NULL ||
	    (e->sender = strdup(sender)) == NULL)
		return -1;
	spool_sanitise(e->ptr);
	spool_sanitise(e->helo);
	return 0;
}

int
spool_env_init(struct spool_env *e, const char *qid, time_t ctime,
    const char *ip, const char *ptr, const char *helo, const char *sender,
    char *const rcpts[], size_t nrcpt, const char **why)
{
	size_t i;

	memset(e, 0, sizeof(*e));
	*why = NULL;
	if (!spool_qid_valid(qid))
		*why = "bad queue id";
	else if (!spool_ip_valid(ip))
		*why = "bad client address";
	else if (strlen(ptr) >= SPOOL_PTR_MAX || strlen(helo) >= SPOOL_HELO_MAX)
		*why = "ptr or helo too long";
	else if (!spool_addr_valid(sender, 1))
		*why = "bad sender";
	else if (nrcpt < 1 || nrcpt > SPOOL_RCPT_MAX)
		*why = "bad recipient count";
	for (i = 0; *why == NULL && i < nrcpt; i++)
		if (!spool_rcpt_valid(rcpts[i]))
			*why = "bad recipient";
	if (*why != NULL)
		return -1;
	memcpy(e->qid, qid, QID_LEN + 1);
	e->state = SPOOL_UNCONFIRMED;
	e->ctime = ctime;
	if (env_strings(e, ip, ptr, helo, sender) == -1 ||
	    (e->rcpt = calloc(nrcpt, sizeof(*e->rcpt))) == NULL)
		goto nomem;
	e->nrcpt = nrcpt;
	for (i = 0; i < nrcpt; i++) {
		e->rcpt[i].status = RCPT_PENDING;
		if ((e->rcpt[i].addr = strdup(rcpts[i])) == NULL)
			goto nomem;
	}
	return 0;
nomem:
	spool_env_free(e);
	*why = "out of memory";
	return -1;
}

/* ---- writing ---- */

static int
put_line(struct buf *b, char tag, const char *val)
{
	char pre[2] = { tag, ' ' };

	if (buf_append(b, pre, 2) == -1 || buf_append(b, val, strlen(val))
	    == -1 || buf_append(b, "\n", 1) == -1)
		return -1;
	return 0;
}

/* Compose the envelope text, recording where the mark bytes fall. */
static int
env_compose(struct spool_env *e, struct buf *b)
{
	char tmp[32];
	size_t i;

	snprintf(tmp, sizeof(tmp), "%lld", (long long)e->ctime);
	if (buf_append(b, SPOOL_MAGIC "\n", sizeof(SPOOL_MAGIC)) == -1)
		return -1;
	e->state_off = (off_t)b->len + 2;
	if (put_line(b, 'S', (char[]){ e->state, '\0' }) == -1 ||
	    put_line(b, 'T', tmp) == -1 || put_line(b, 'I', e->ip) == -1 ||
	    put_line(b, 'P', e->ptr) == -1 ||
	    put_line(b, 'H', e->helo) == -1 ||
	    put_line(b, 'F', e->sender) == -1)
		return -1;
	for (i = 0; i < e->nrcpt; i++) {
		char pre[4] = { 'R', ' ', e->rcpt[i].status, ' ' };

		e->rcpt[i].off = (off_t)b->len + 2;
		if (buf_append(b, pre, 4) == -1 ||
		    buf_append(b, e->rcpt[i].addr, strlen(e->rcpt[i].addr))
		    == -1 || buf_append(b, "\n", 1) == -1)
			return -1;
	}
	if (buf_append(b, "\n", 1) == -1)
		return -1;
	e->body_off = (off_t)b->len;
	return 0;
}

/* pread/write fallback for descriptors sendfile cannot read. */
static int
copy_read(int in, int out, off_t off, uint64_t size)
{
	char chunk[65536];
	ssize_t r;

	while ((uint64_t)off < size) {
		size_t want = sizeof(chunk);

		if (size - (uint64_t)off < want)
			want = (size_t)(size - (uint64_t)off);
		if ((r = pread(in, chunk, want, off)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EBADMSG;	/* shorter than announced */
			return -1;
		}
		if (fd_write_all(out, chunk, (size_t)r) == -1)
			return -1;
		off += r;
	}
	return 0;
}

/* Copy in's bytes from offset from up to offset to, to out's position. */
static int
copy_range(int in, int out, off_t from, uint64_t to)
{
	off_t off = from;
	ssize_t r;

	while ((uint64_t)off < to) {
		size_t want = to - (uint64_t)off > 0x40000000 ? 0x40000000 :
		    (size_t)(to - (uint64_t)off);

		if ((r = sendfile(out, in, &off, want)) == -1) {
			if (errno == EINTR)
				continue;
			if ((errno == EINVAL || errno == ENOSYS) && off == from)
				return copy_read(in, out, from, to);
			return -1;
		}
		if (r == 0) {
			errno = EBADMSG;
			return -1;
		}
	}
	return 0;
}

/* Where the message's first header field (moat's Received:) ends, so
 * that fields added by filters follow it; 0 when it is not found. */
static off_t
first_field_end(int msgfd, uint64_t size)
{
	char head[16384];
	ssize_t n, i;

	n = pread(msgfd, head, size < sizeof(head) ? (size_t)size :
	    sizeof(head), 0);
	for (i = 0; i + 2 < n; i++)
		if (head[i] == '\r' && head[i + 1] == '\n' &&
		    head[i + 2] != ' ' && head[i + 2] != '\t')
			return i + 2;
	return 0;
}

/* The message, with the added fields after its first header field. */
static int
copy_message(int msgfd, int out, uint64_t size, const char *added,
    size_t addlen)
{
	off_t at;

	if (addlen == 0)
		return copy_range(msgfd, out, 0, size);
	at = first_field_end(msgfd, size);
	if (copy_range(msgfd, out, 0, (uint64_t)at) == -1 ||
	    fd_write_all(out, added, addlen) == -1)
		return -1;
	return copy_range(msgfd, out, at, size);
}

static int
write_entry(int fd, struct spool_env *e, int msgfd, uint64_t size,
    const char *added, size_t addlen)
{
	struct buf b;
	int r;

	buf_init(&b, SPOOL_ENV_MAX);
	r = env_compose(e, &b);
	if (r == 0)
		r = fd_write_all(fd, b.data, b.len);
	buf_free(&b);
	if (r == -1)
		return -1;
	e->body_len = (off_t)(size + addlen);
	if (copy_message(msgfd, fd, size, added, addlen) == -1)
		return -1;
	/* a hint: the fsync in spool_commit_end() is what counts */
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	return 0;
}

/* rename without replacing: a duplicate id must never clobber an entry */
int
spool_rename(int fromfd, int tofd, const char *name)
{
	if (renameat2(fromfd, name, tofd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(fromfd, name, tofd, name, 0) == -1)
		return -1;
	return unlinkat(fromfd, name, 0);
}

int
spool_commit_start(struct spool *sp, struct spool_env *e, int msgfd,
    uint64_t size, const char *added, size_t addlen)
{
	int fd, saved;

	if ((fd = spool_reuse(sp, e->qid)) == -1)
		fd = openat(sp->tmpfd, e->qid, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write_entry(fd, e, msgfd, size, added, addlen) == -1) {
		saved = errno;
		spool_commit_cancel(sp, e->qid, fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
spool_commit_end(struct spool *sp, const char *qid, int fd)
{
	int saved;

	if (close(fd) == -1 ||
	    spool_rename(sp->tmpfd, sp->queuefd, qid) == -1) {
		saved = errno;
		unlinkat(sp->tmpfd, qid, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

void
spool_commit_cancel(struct spool *sp, const char *qid, int fd)
{
	close(fd);
	unlinkat(sp->tmpfd, qid, 0);
}

int
spool_commit(struct spool *sp, struct spool_env *e, int msgfd,
    uint64_t size)
{
	int fd, saved;

	if ((fd = spool_commit_start(sp, e, msgfd, size, NULL, 0)) == -1)
		return -1;
	if (fsync(fd) == -1) {
		saved = errno;
		spool_commit_cancel(sp, e->qid, fd);
		errno = saved;
		return -1;
	}
	return spool_commit_end(sp, e->qid, fd);
}

int
spool_sync_queue(struct spool *sp)
{
	return fsync(sp->queuefd);
}

/* ---- marks ---- */

int
spool_open_entry(struct spool *sp, const char *qid)
{
	return openat(sp->queuefd, qid, O_RDWR | O_CLOEXEC);
}

int
spool_mark(int fd, off_t off, char byte)
{
	ssize_t n;

	do {
		n = pwrite(fd, &byte, 1, off);
	} while (n == -1 && errno == EINTR);
	if (n == 1)
		return 0;
	if (n == 0)
		errno = EIO;
	return -1;
}

int
spool_confirm(struct spool *sp, struct spool_env *e)
{
	int fd, saved;

	if ((fd = openat(sp->queuefd, e->qid, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	if (spool_mark(fd, e->state_off, SPOOL_CONFIRMED) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1)
		return -1;
	e->state = SPOOL_CONFIRMED;
	return 0;
}

int
spool_sync_entry(struct spool *sp, const char *qid)
{
	int fd, saved;

	if ((fd = openat(sp->queuefd, qid, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fdatasync(fd) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}
