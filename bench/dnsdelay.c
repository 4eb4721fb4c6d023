/*
 * dnsdelay: a DNS responder for the DNS benchmark that answers every
 * query a fixed delay after it came, without serialising the delays.
 *
 *	dnsdelay -p PORT [-d DELAY_MS] [-s SYNTH_DOMAIN] [-z ZONE]...
 *
 * UDP on 127.0.0.1 only.  What it knows:
 *   - PTR of a.b.c.127.in-addr.arpa: h-127-c-b-a.SYNTH (every loopback
 *     address has reverse DNS), and A of h-127-c-b-a.SYNTH: 127.c.b.a
 *     (forward-confirmed); AAAA of such a name: no data;
 *   - under each ZONE: 2.0.0.127.ZONE (the RFC 5782 test entry) is
 *     listed as 127.0.0.2; every other name is NXDOMAIN (not listed);
 *   - anything else: NXDOMAIN.
 * Replies carry a TTL of 1 s.  The delay is the same for every reply, so
 * the pending replies are a FIFO: one ring, drained as they come due.
 * It runs until SIGTERM or SIGINT; a query that does not parse is dropped.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RING		65536
#define PKT_MAX		512
#define ZONES_MAX	16
#define T_A		1
#define T_PTR		12
#define T_AAAA		28

struct reply {
	int64_t			due;		/* ms */
	struct sockaddr_in	to;
	uint16_t		len;
	unsigned char		pkt[PKT_MAX];
};

static struct reply *ring;
static size_t head, count;
static const char *zones[ZONES_MAX];
static size_t nzones;
static const char *synth = "bench.example";
static volatile sig_atomic_t stop;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The question's name, dotted and lower-cased; its end offset or -1. */
static int
read_qname(const unsigned char *p, size_t n, char *out, size_t outsize)
{
	size_t off = 12, o = 0, len;

	while (off < n && (len = p[off]) != 0) {
		if (len > 63 || off + 1 + len > n || o + len + 2 > outsize)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, p + off + 1, len);
		o += len;
		off += 1 + len;
	}
	if (off + 5 > n)
		return -1;
	out[o] = '\0';
	for (len = 0; len < o; len++)
		if (out[len] >= 'A' && out[len] <= 'Z')
			out[len] = (char)(out[len] - 'A' + 'a');
	return (int)off + 1;
}

static int
under(const char *name, const char *zone, size_t *prefix)
{
	size_t n = strlen(name), z = strlen(zone);

	if (n <= z + 1 || name[n - z - 1] != '.' ||
	    strcmp(name + n - z, zone) != 0)
		return 0;
	*prefix = n - z - 1;
	return 1;
}

/* "d.c.b.a" (prefix of length n) as four octets, reversed. */
static int
rev_octets(const char *name, size_t n, unsigned o[4])
{
	char buf[64];

	if (n >= sizeof(buf))
		return 0;
	memcpy(buf, name, n);
	buf[n] = '\0';
	return sscanf(buf, "%u.%u.%u.%u", &o[3], &o[2], &o[1], &o[0]) == 4 &&
	    o[0] < 256 && o[1] < 256 && o[2] < 256 && o[3] < 256;
}

static size_t
put_name(unsigned char *p, const char *name)
{
	size_t o = 0, len;
	const char *dot;

	while (*name != '\0') {
		dot = strchr(name, '.');
		len = dot ? (size_t)(dot - name) : strlen(name);
		p[o++] = (unsigned char)len;
		memcpy(p + o, name, len);
		o += len;
		name += len + (dot != NULL);
	}
	p[o++] = 0;
	return o;
}

/* Answer record after the question: name pointer, type, class IN, TTL 1. */
static size_t
put_rr(unsigned char *p, unsigned type, const unsigned char *rdata,
    size_t rdlen)
{
	unsigned char h[12] = { 0xc0, 12, 0, (unsigned char)type, 0, 1,
	    0, 0, 0, 1, 0, (unsigned char)rdlen };

	memcpy(p, h, sizeof(h));
	memcpy(p + sizeof(h), rdata, rdlen);
	return sizeof(h) + rdlen;
}

/* Build the reply in r->pkt from the query q; 0 or -1 (drop). */
static int
answer(const unsigned char *q, size_t n, struct reply *r)
{
	char name[300], host[300];
	unsigned char rdata[300];
	unsigned o[4], type;
	size_t pre, off, i;
	int end, rcode = 3, found = 0;

	if (n < 17 || (q[2] & 0x80) || q[4] != 0 || q[5] != 1 ||
	    (end = read_qname(q, n, name, sizeof(name))) == -1)
		return -1;
	type = (unsigned)q[end] << 8 | q[end + 1];
	memcpy(r->pkt, q, (size_t)end + 4);	/* header and question */
	off = (size_t)end + 4;
	if (under(name, "in-addr.arpa", &pre) && rev_octets(name, pre, o) &&
	    o[0] == 127) {
		rcode = 0;
		if (type == T_PTR) {
			snprintf(host, sizeof(host), "h-127-%u-%u-%u.%s", o[1],
			    o[2], o[3], synth);
			off += put_rr(r->pkt + off, T_PTR, rdata,
			    put_name(rdata, host));
			found = 1;
		}
	} else if (under(name, synth, &pre) && sscanf(name,
	    "h-127-%u-%u-%u.", &o[1], &o[2], &o[3]) == 3) {
		rcode = 0;
		if (type == T_A) {
			rdata[0] = 127;
			rdata[1] = (unsigned char)o[1];
			rdata[2] = (unsigned char)o[2];
			rdata[3] = (unsigned char)o[3];
			off += put_rr(r->pkt + off, T_A, rdata, 4);
			found = 1;
		}
	} else {
		for (i = 0; i < nzones; i++)
			if (under(name, zones[i], &pre) &&
			    rev_octets(name, pre, o) && o[0] == 127 &&
			    o[1] == 0 && o[2] == 0 && o[3] == 2) {
				rcode = 0;
				if (type == T_A) {
					memcpy(rdata, "\x7f\0\0\x02", 4);
					off += put_rr(r->pkt + off, T_A, rdata,
					    4);
					found = 1;
				}
			}
	}
	r->pkt[2] = (unsigned char)(0x84 | (q[2] & 0x01));  /* QR AA RD */
	r->pkt[3] = (unsigned char)rcode;
	r->pkt[6] = 0;
	r->pkt[7] = (unsigned char)found;
	memset(r->pkt + 8, 0, 4);
	r->len = (uint16_t)off;
	return 0;
}

static void
send_due(int fd)
{
	struct reply *r;
	int64_t now = now_ms();

	while (count > 0 && (r = &ring[head])->due <= now) {
		(void)sendto(fd, r->pkt, r->len, 0, (struct sockaddr *)&r->to,
		    sizeof(r->to));
		head = (head + 1) % RING;
		count--;
	}
}

static void
receive(int fd, int64_t delay)
{
	unsigned char q[PKT_MAX];
	struct reply *r;
	socklen_t tolen;
	ssize_t n;
	int i;

	for (i = 0; i < 256 && count < RING; i++) {
		r = &ring[(head + count) % RING];
		tolen = sizeof(r->to);
		n = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT,
		    (struct sockaddr *)&r->to, &tolen);
		if (n < 0)
			return;
		if (answer(q, (size_t)n, r) == -1)
			continue;
		r->due = now_ms() + delay;
		count++;
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct pollfd pfd;
	int64_t delay = 100, wait;
	int ch, fd, port = 0, size = 1 << 22;

	while ((ch = getopt(argc, argv, "d:p:s:z:")) != -1) {
		switch (ch) {
		case 'd': delay = atoi(optarg); break;
		case 'p': port = atoi(optarg); break;
		case 's': synth = optarg; break;
		case 'z':
			if (nzones < ZONES_MAX)
				zones[nzones++] = optarg;
			break;
		default:
			fprintf(stderr, "usage: dnsdelay -p PORT [-d MS] "
			    "[-s DOMAIN] [-z ZONE]...\n");
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || delay < 0 ||
	    (ring = calloc(RING, sizeof(*ring))) == NULL)
		return 2;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		perror("dnsdelay: bind");
		return 1;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (!stop) {
		wait = count > 0 ? ring[head].due - now_ms() : 1000;
		if (poll(&pfd, 1, wait < 0 ? 0 : (int)wait) == -1 &&
		    errno != EINTR)
			return 1;
		if (pfd.revents & POLLIN)
			receive(fd, delay);
		send_due(fd);
	}
	return 0;
}
