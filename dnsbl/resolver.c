/*
 * resolver: the worker's c-ares channel on the worker's epoll loop (see
 * resolver.h).
 */
#include <sys/epoll.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../smtpd/log.h"
#include "../smtpd/smtp.h"
#include "resolver.h"

#define DNS_SOCKS	16
#define TRY_MS		1500	/* per try; a session's budget caps the rest */
#define TRIES		3

static ares_channel channel;
static int have_channel;
static int epfd = -1;
static struct evsrc socks[DNS_SOCKS];
static uint32_t sock_events[DNS_SOCKS];

static struct evsrc *
sock_slot(int fd, int make)
{
	size_t i;

	for (i = 0; i < DNS_SOCKS; i++)
		if (socks[i].fd == fd)
			return &socks[i];
	for (i = 0; make && i < DNS_SOCKS; i++)
		if (socks[i].fd == -1) {
			socks[i].fd = fd;
			sock_events[i] = 0;
			return &socks[i];
		}
	return NULL;
}

/* c-ares opens, watches or closes a socket: mirror it in epoll. */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct epoll_event ev;
	struct evsrc *s = sock_slot(fd, readable || writable);
	uint32_t want = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
	size_t i;

	if (s == NULL) {
		if (readable || writable)
			log_warnx("dns: more than %d resolver sockets",
			    DNS_SOCKS);
		return;
	}
	i = (size_t)(s - socks);
	if (epfd == -1)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = s;
	if (want == 0) {
		if (sock_events[i] != 0)
			(void)epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
		s->fd = -1;		/* the slot is free */
		sock_events[i] = 0;
		return;
	}
	if (epoll_ctl(epfd, sock_events[i] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
	    fd, &ev) == -1)
		log_warn("dns: epoll_ctl");
	sock_events[i] = want;
}

int
resolver_init(const struct conf *cf, char *err, size_t errsize)
{
	struct ares_options o;
	char csv[CONF_RESOLVER_MAX * 72];
	size_t i, n = 0;
	int r;

	if ((r = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS)
		goto fail;
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state;
	o.timeout = TRY_MS;
	o.tries = TRIES;
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	r = ares_init_options(&channel, &o, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
	if (r != ARES_SUCCESS)
		goto fail;
	have_channel = 1;
	csv[0] = '\0';
	for (i = 0; i < cf->nresolver; i++)
		n += (size_t)snprintf(csv + n, sizeof(csv) - n, "%s%s",
		    i ? "," : "", cf->resolver[i].text);
	if (cf->nresolver > 0 &&
	    (r = ares_set_servers_ports_csv(channel, csv)) != ARES_SUCCESS)
		goto fail;
	for (i = 0; i < DNS_SOCKS; i++) {
		socks[i].kind = EV_DNS;
		socks[i].fd = -1;
	}
	return 0;
fail:
	(void)snprintf(err, errsize, "dns: cannot set up the resolver: %s",
	    ares_strerror(r));
	return -1;
}

void
resolver_attach(int fd)
{
	epfd = fd;
}

void
resolver_ready(int fd, uint32_t events)
{
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rfd = fd;
	if (events & EPOLLOUT)
		wfd = fd;
	ares_process_fd(channel, rfd, wfd);
}

void
resolver_tick(void)
{
	if (have_channel)
		ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

int
resolver_wait_ms(int max_ms)
{
	struct timeval maxtv, tv, *t;
	long ms;

	if (!have_channel)
		return max_ms;
	maxtv.tv_sec = max_ms / 1000;
	maxtv.tv_usec = (max_ms % 1000) * 1000;
	t = ares_timeout(channel, &maxtv, &tv);
	ms = t->tv_sec * 1000L + (t->tv_usec + 999) / 1000;
	return ms < max_ms ? (int)ms : max_ms;
}

int
resolver_active(void)
{
	return have_channel;
}

ares_channel
resolver_channel(void)
{
	return channel;
}

int64_t
dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
