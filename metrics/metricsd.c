/*
 * metricsd: the metrics listener (metrics_listen), a process of its own.
 *
 * It answers GET /metrics with the live figures in the OpenMetrics text
 * format and nothing else.  It can reach no SMTP state: it holds no
 * channel to a worker or the queue, no handle on the state store or the
 * spool, and it maps the shared figures read-only from descriptors
 * opened read-only (the parent's writable maps are let go); then it
 * drops to the smtp workers' user in their empty jail.  A scrape is
 * small and rare, so the loop is simple: one request a connection, of
 * at most MD_REQUEST_MAX bytes, read within MD_REQUEST_MS, the answer
 * written within MD_TIMEOUT_MS.  At most MD_CLIENTS at once;
 * when they are all taken, a new connection pushes out the oldest one
 * still to send its request, so idle connections cannot keep a scraper
 * out.  It ends when the parent's channel closes.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../dnsbl/zonestats.h"
#include "../smtpd/log.h"
#include "render.h"
#include "stats.h"

#define MD_CLIENTS	16
#define MD_REQUEST_MAX	4096
#define MD_REQUEST_MS	2000		/* to send the request */
#define MD_TIMEOUT_MS	10000		/* to take the answer */

struct md_client {
	int		 fd;		/* -1: free */
	uint64_t	 nth;		/* accepted as the nth: older first */
	int64_t		 deadline;	/* ms, monotonic */
	size_t		 len;		/* of the request read */
	char		 req[MD_REQUEST_MAX + 1];
	char		*out;		/* the whole answer, once known */
	size_t		 outlen, sent;
};

static struct md_client clients[MD_CLIENTS];
static uint64_t accepted;
static const struct ctr_file *ctrs;
static const struct zstats *zs;
static struct ctr_view view;

static int64_t
now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
client_close(struct md_client *c)
{
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

/* The page, or NULL when there are no figures to give. */
static char *
page(size_t *len)
{
	char *buf = NULL;
	FILE *fp;

	if (ctrs == NULL || ctrs_view(ctrs, zs, time(NULL), &view) == -1)
		return NULL;
	if ((fp = open_memstream(&buf, len)) == NULL)
		return NULL;
	stats_openmetrics(fp, &view);
	if (fclose(fp) == EOF) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void
answer(struct md_client *c, const char *status, const char *type,
    const char *body, size_t blen, int head)
{
	FILE *fp = open_memstream(&c->out, &c->outlen);

	if (fp == NULL)
		return;
	fprintf(fp, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu"
	    "\r\nConnection: close\r\n%s\r\n", status, type, blen,
	    strncmp(status, "405", 3) == 0 ? "Allow: GET, HEAD\r\n" : "");
	if (!head)
		fwrite(body, 1, blen, fp);
	if (fclose(fp) == EOF) {
		free(c->out);
		c->out = NULL;
	}
}

static void
answer_text(struct md_client *c, const char *status, int head)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	answer(c, status, "text/plain; charset=utf-8", body, (size_t)n, head);
}

/* The request line; headers are read past and never looked at. */
static void
request(struct md_client *c)
{
	char *sp1, *sp2, *eol = strpbrk(c->req, "\r\n");
	int head;
	char *body;
	size_t blen;

	*eol = '\0';
	if ((sp1 = strchr(c->req, ' ')) == NULL ||
	    (sp2 = strchr(sp1 + 1, ' ')) == NULL ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
		answer_text(c, "400 Bad Request", 0);
		return;
	}
	*sp1 = *sp2 = '\0';
	head = strcmp(c->req, "HEAD") == 0;
	if (!head && strcmp(c->req, "GET") != 0)
		answer_text(c, "405 Method Not Allowed", 0);
	else if (strcmp(sp1 + 1, "/metrics") != 0 &&
	    strncmp(sp1 + 1, "/metrics?", 9) != 0)
		answer_text(c, "404 Not Found", head);
	else if ((body = page(&blen)) == NULL)
		answer_text(c, "503 Service Unavailable", head);
	else {
		answer(c, "200 OK", "application/openmetrics-text; "
		    "version=1.0.0; charset=utf-8", body, blen, head);
		free(body);
	}
}

static void
client_read(struct md_client *c)
{
	ssize_t n = recv(c->fd, c->req + c->len, MD_REQUEST_MAX - c->len, 0);

	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n == -1)
		return;
	if (memchr(c->req + c->len, '\0', (size_t)n) != NULL) {
		answer_text(c, "400 Bad Request", 0);	/* no HTTP has one */
		goto answered;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	if (strstr(c->req, "\r\n\r\n") != NULL ||
	    strstr(c->req, "\n\n") != NULL)
		request(c);
	else if (c->len == MD_REQUEST_MAX)
		answer_text(c, "431 Request Header Fields Too Large", 0);
	else
		return;
answered:
	c->deadline = now_ms() + MD_TIMEOUT_MS;
	if (c->out == NULL)
		client_close(c);
}

static void
client_write(struct md_client *c)
{
	ssize_t n = send(c->fd, c->out + c->sent, c->outlen - c->sent,
	    MSG_NOSIGNAL);

	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c);
		return;
	}
	c->sent += (size_t)n;
	if (c->sent == c->outlen) {
		(void)shutdown(c->fd, SHUT_WR);
		client_close(c);
	}
}

/* A free slot, or the one of the oldest client still to send its
 * request (closed); NULL when every one is being answered. */
static struct md_client *
slot_for_new(void)
{
	struct md_client *c, *oldest = NULL;
	size_t i;

	for (i = 0; i < MD_CLIENTS; i++) {
		c = &clients[i];
		if (c->fd == -1)
			return c;
		if (c->out == NULL && (oldest == NULL || c->nth < oldest->nth))
			oldest = c;
	}
	if (oldest != NULL)
		client_close(oldest);
	return oldest;
}

static void
accept_one(int lfd, int64_t now)
{
	struct md_client *c;
	int fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1)
		return;
	if ((c = slot_for_new()) == NULL) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->nth = ++accepted;
	c->deadline = now + MD_REQUEST_MS;
}

/* The parent never writes here: its channel readable means it closed. */
static int
parent_gone(int sock)
{
	char byte;
	ssize_t n = recv(sock, &byte, 1, MSG_DONTWAIT);

	return n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR);
}

static void
serve(int lfd, int parent_sock)
{
	struct pollfd pfd[2 + MD_CLIENTS];
	struct md_client *map[MD_CLIENTS];
	size_t n, i, k, busy;
	int64_t now;

	for (;;) {
		n = 0;
		pfd[n++] = (struct pollfd){ .fd = parent_sock, .events = POLLIN };
		for (i = busy = 0; i < MD_CLIENTS; i++) {
			if (clients[i].fd == -1)
				continue;
			map[busy++] = &clients[i];
			pfd[n++] = (struct pollfd){ .fd = clients[i].fd,
			    .events = clients[i].out ? POLLOUT : POLLIN };
		}
		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		if (poll(pfd, n, 250) == -1 && errno != EINTR)
			fatal("metrics: poll");
		now = now_ms();
		if (pfd[0].revents != 0 && parent_gone(parent_sock))
			exit(0);
		for (k = 0; k < busy; k++) {
			if (pfd[1 + k].revents & POLLOUT)
				client_write(map[k]);
			else if (pfd[1 + k].revents != 0)
				client_read(map[k]);
			if (map[k]->fd != -1 && now >= map[k]->deadline)
				client_close(map[k]);
		}
		if (pfd[n - 1].revents != 0)
			accept_one(lfd, now);
	}
}

void
metricsd_main(const struct conf *conf, int fd, int parent_sock,
    const struct priv_id *id)
{
	size_t i;

	log_setproc("metrics");
	for (i = 0; i < MD_CLIENTS; i++)
		clients[i].fd = -1;
	/* read-only views of the figures (the parent's maps are gone) */
	if ((ctrs = ctrs_open(conf->spool)) == NULL)
		log_warn("metrics: %s/%s", conf->spool, CTRS_FILE);
	zs = zstats_open(conf->spool);
	priv_drop(id, conf->chroot);
	serve(fd, parent_sock);
}
