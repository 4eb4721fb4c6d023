/*
 * spoolread: parse a queue entry's envelope back from disk.
 *
 * The file was written by spool_commit, but it is read as if it came
 * from anywhere: a disk error, an operator's editor or an older format
 * must come out as EINVAL, never as a wrong recipient or an offset that
 * marks the wrong byte.  The layout is fixed (magic, S, T, I, P, H, F, one
 * or more R, blank line) and each field is checked with the commit's own
 * rules, so an entry that reads back is one the commit could have made.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../smtpd/buf.h"
#include "spool.h"

struct cursor {
	const char	*p;
	size_t		 len;
	size_t		 pos;
};

/* Read until the blank line that ends the envelope; *envlen covers it. */
static int
read_env(int fd, struct buf *b, size_t *envlen)
{
	char chunk[16384];
	size_t from = 0;
	ssize_t r;
	char *end;

	for (;;) {
		r = pread(fd, chunk, sizeof(chunk), (off_t)b->len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0 || buf_append(b, chunk, (size_t)r) == -1)
			break;
		end = memmem(b->data + from, b->len - from, "\n\n", 2);
		if (end != NULL) {
			*envlen = (size_t)(end - b->data) + 2;
			return 0;
		}
		from = b->len - 1;
	}
	errno = EINVAL;
	return -1;
}

/* The next line, without its LF; the envelope always ends in one. */
static int
next_line(struct cursor *c, const char **line, size_t *n)
{
	const char *nl;

	if (c->pos >= c->len)
		return -1;
	nl = memchr(c->p + c->pos, '\n', c->len - c->pos);
	if (nl == NULL)
		return -1;
	*line = c->p + c->pos;
	*n = (size_t)(nl - *line);
	c->pos += *n + 1;
	return 0;
}

/* "X value": the value as a new string, NULL if tag or length is wrong */
static char *
field(struct cursor *c, char tag, size_t max)
{
	const char *line;
	size_t n;
	char *v;

	if (next_line(c, &line, &n) == -1 || n < 2 || line[0] != tag ||
	    line[1] != ' ' || n - 2 >= max || memchr(line, '\0', n) != NULL)
		return NULL;
	if ((v = malloc(n - 1)) == NULL)
		return NULL;
	memcpy(v, line + 2, n - 2);
	v[n - 2] = '\0';
	return v;
}

static int
parse_time(const char *s, time_t *t)
{
	long long v = 0;

	if (*s == '\0' || strlen(s) > 18)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	*t = (time_t)v;
	return 0;
}

static int
parse_head(struct cursor *c, struct spool_env *e)
{
	const char *line;
	char *s, *t;
	size_t n;
	int r;

	if (next_line(c, &line, &n) == -1 || n != strlen(SPOOL_MAGIC) ||
	    memcmp(line, SPOOL_MAGIC, n) != 0)
		return -1;
	e->state_off = (off_t)c->pos + 2;
	if ((s = field(c, 'S', 2)) == NULL)
		return -1;
	e->state = s[0];
	r = strlen(s) == 1 && (s[0] == SPOOL_UNCONFIRMED ||
	    s[0] == SPOOL_CONFIRMED) ? 0 : -1;
	free(s);
	if (r == -1 || (t = field(c, 'T', 20)) == NULL)
		return -1;
	r = parse_time(t, &e->ctime);
	free(t);
	if (r == -1 || (e->ip = field(c, 'I', SPOOL_IP_MAX)) == NULL ||
	    !spool_ip_valid(e->ip) ||
	    (e->ptr = field(c, 'P', SPOOL_PTR_MAX)) == NULL ||
	    (e->helo = field(c, 'H', SPOOL_HELO_MAX)) == NULL ||
	    (e->sender = field(c, 'F', SPOOL_ADDR_MAX)) == NULL ||
	    !spool_addr_valid(e->sender, 1))
		return -1;
	spool_sanitise(e->ptr);
	spool_sanitise(e->helo);
	return 0;
}

static int
add_rcpt(struct spool_env *e, size_t *cap, const char *line, size_t n,
    off_t off)
{
	struct spool_rcpt *r;
	char st;

	if (n < 5 || n - 4 >= SPOOL_ADDR_MAX || line[0] != 'R' ||
	    line[1] != ' ' || line[3] != ' ' || e->nrcpt >= SPOOL_RCPT_MAX)
		return -1;
	st = line[2];
	if (st != RCPT_PENDING && st != RCPT_DELIVERED && st != RCPT_HELD)
		return -1;
	if (e->nrcpt == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;

		if ((r = reallocarray(e->rcpt, ncap, sizeof(*r))) == NULL)
			return -1;
		e->rcpt = r;
		*cap = ncap;
	}
	r = &e->rcpt[e->nrcpt];
	memset(r, 0, sizeof(*r));
	if ((r->addr = strndup(line + 4, n - 4)) == NULL)
		return -1;
	e->nrcpt++;
	r->status = st;
	r->off = off + 2;
	if (strlen(r->addr) != n - 4 || !spool_rcpt_valid(r->addr))
		return -1;
	return 0;
}

static int
parse_rcpts(struct cursor *c, struct spool_env *e)
{
	const char *line;
	size_t n, cap = 0;
	off_t off;

	for (;;) {
		off = (off_t)c->pos;
		if (next_line(c, &line, &n) == -1)
			return -1;
		if (n == 0)
			break;
		if (add_rcpt(e, &cap, line, n, off) == -1)
			return -1;
	}
	return e->nrcpt > 0 && c->pos == c->len ? 0 : -1;
}

int
spool_load_fd(int fd, const char *qid, struct spool_env *e)
{
	struct cursor c;
	struct stat st;
	struct buf b;
	size_t envlen = 0;
	int r;

	memset(e, 0, sizeof(*e));
	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	if (fstat(fd, &st) == -1)
		return -1;
	memcpy(e->qid, qid, QID_LEN + 1);
	buf_init(&b, SPOOL_ENV_MAX);
	if ((r = read_env(fd, &b, &envlen)) == 0) {
		c.p = b.data;
		c.len = envlen;
		c.pos = 0;
		if (parse_head(&c, e) == -1 || parse_rcpts(&c, e) == -1) {
			errno = EINVAL;
			r = -1;
		}
	}
	buf_free(&b);
	if (r == -1) {
		int saved = errno;

		spool_env_free(e);
		errno = saved;
		return -1;
	}
	e->body_off = (off_t)envlen;
	e->body_len = st.st_size - (off_t)envlen;
	return 0;
}

int
spool_load(struct spool *sp, const char *qid, int held, struct spool_env *e)
{
	int fd, r, saved;

	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	fd = openat(held ? sp->holdfd : sp->queuefd, qid, O_RDONLY |
	    O_CLOEXEC);
	if (fd == -1)
		return -1;
	r = spool_load_fd(fd, qid, e);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}
