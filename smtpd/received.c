/*
 * received: our Received: header (RFC 5321 4.4) and queue ids.
 *
 * The header is the first line of the stored message.  Everything in it
 * that came from the client (the HELO name) is reduced to a safe alphabet,
 * so no client can inject a header or a line break through it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../dnsbl/client.h"
#include "smtp.h"

static void
sanitize(char *dst, size_t dstsize, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < dstsize; i++) {
		char c = src[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr(".-_:[]", c) != NULL)
			dst[i] = c;
		else
			dst[i] = '?';
	}
	dst[i] = '\0';
}

int
received_header(struct session *s, struct buf *b)
{
	char helo[ADDR_DOMAIN_MAX + 1], date[64], tls[128];
	const char *proto;
	struct tm tm;
	time_t now = time(NULL);

	sanitize(helo, sizeof(helo), s->helo);
	localtime_r(&now, &tm);
	if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	if (s->tls_done)
		proto = s->esmtp ? "ESMTPS" : "SMTPS";
	else
		proto = s->esmtp ? "ESMTP" : "SMTP";
	if (buf_appendf(b, "Received: from %s (%s%s[%s])\r\n\tby %s (moat) "
	    "with %s", helo, dns_client_ptr(s), dns_client_ptr(s)[0] ? " " :
	    "", s->ip, wk->conf->hostname, proto) == -1)
		return -1;
	if (s->tls_done && buf_appendf(b, " (%s)",
	    tls_describe(s->ssl, tls, sizeof(tls))) == -1)
		return -1;
	if (buf_appendf(b, "\r\n\tid %s", s->tx->qid) == -1)
		return -1;
	if (s->tx->nrcpt == 1 &&
	    buf_appendf(b, "\r\n\tfor <%s>", s->tx->rcpts->addr) == -1)
		return -1;
	return buf_appendf(b, "; %s\r\n", date);
}

/*
 * 16 upper-case hex digits: seconds, microseconds, worker pid.  Strictly
 * increasing within a worker; the queue refuses a duplicate anyway.
 */
void
qid_make(char qid[QID_LEN + 1])
{
	struct timeval tv;
	uint64_t t;

	gettimeofday(&tv, NULL);
	t = ((uint64_t)tv.tv_sec << 20) | (uint64_t)tv.tv_usec;
	if (t <= wk->qid_last)
		t = wk->qid_last + 1;
	wk->qid_last = t;
	snprintf(qid, QID_LEN + 1, "%08llX%05llX%03X",
	    (unsigned long long)(t >> 20) & 0xffffffffULL,
	    (unsigned long long)(t & 0xfffff), (unsigned)getpid() & 0xfff);
}
