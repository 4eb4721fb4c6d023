/*
 * dnsparse: a DNS reply, as c-ares hands it over, made into what the
 * sessions may use (struct dns_answer, dnscache.h).  This is where
 * untrusted bytes from the network are judged: c-ares' parsers decode
 * the records (refusing compression loops and overruns), and names are
 * kept only when they are host names as the SMTP side understands them,
 * lower-cased; anything else is dropped and flagged.  No I/O, no
 * allocation of its own: tests/fuzz/fuzz_dns drives it.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>

#include <string.h>

#include <ares.h>

#include "../smtpd/parse.h"
#include "dnscache.h"

/* The smallest TTL of the answer section, walked with c-ares' own name
 * decoder (which refuses loops and overruns). */
static unsigned
answer_ttl(const unsigned char *abuf, int alen)
{
	const unsigned char *p = abuf + NS_HFIXEDSZ, *end = abuf + alen;
	unsigned qd, an, i, ttl = ~0u, t;
	char *name;
	long enc;

	if (alen < NS_HFIXEDSZ)
		return 0;
	qd = (unsigned)abuf[4] << 8 | abuf[5];
	an = (unsigned)abuf[6] << 8 | abuf[7];
	for (i = 0; i < qd + an; i++) {
		if (ares_expand_name(p, abuf, alen, &name, &enc) != ARES_SUCCESS)
			return 0;
		ares_free_string(name);
		p += enc;
		if (i < qd) {
			p += NS_QFIXEDSZ;
			continue;
		}
		if (end - p < NS_RRFIXEDSZ)
			return 0;
		t = (unsigned)p[4] << 24 | (unsigned)p[5] << 16 |
		    (unsigned)p[6] << 8 | p[7];
		if (t < ttl)
			ttl = t;
		p += NS_RRFIXEDSZ + ((unsigned)p[8] << 8 | p[9]);
		if (p > end)
			return 0;
	}
	return ttl == ~0u ? 0 : ttl;
}

static void
keep_name(struct dns_answer *a, const char *name)
{
	size_t len = strlen(name), i;

	if (a->n == DNS_NAMES_MAX)
		return;
	if (len == 0 || len > DNS_NAME_MAX || !domain_valid(name, len)) {
		a->dropped = 1;
		return;
	}
	for (i = 0; i <= len; i++)
		a->u.name[a->n][i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
		    name[i] - 'A' + 'a' : name[i]);
	a->n++;
}

static int
parse_ptr(const unsigned char *abuf, int alen, struct dns_answer *a)
{
	struct in_addr dummy = { 0 };
	struct hostent *h = NULL;
	size_t i;
	int r;

	r = ares_parse_ptr_reply(abuf, alen, &dummy, sizeof(dummy), AF_INET,
	    &h);
	if (r != ARES_SUCCESS)
		return r;
	keep_name(a, h->h_name);
	for (i = 0; h->h_aliases != NULL && h->h_aliases[i] != NULL; i++)
		keep_name(a, h->h_aliases[i]);
	ares_free_hostent(h);
	return ARES_SUCCESS;
}

static int
parse_mx(const unsigned char *abuf, int alen, struct dns_answer *a)
{
	struct ares_mx_reply *mx = NULL, *m;
	int r;

	if ((r = ares_parse_mx_reply(abuf, alen, &mx)) != ARES_SUCCESS)
		return r;
	for (m = mx; m != NULL; m = m->next)
		a->n++;
	a->null_mx = a->n == 1 && mx->priority == 0 && mx->host[0] == '\0';
	ares_free_data(mx);
	return ARES_SUCCESS;
}

static int
parse_answer(enum dns_type t, const unsigned char *abuf, int alen,
    struct dns_answer *a)
{
	struct ares_addrttl v4[DNS_ANSWERS_MAX];
	struct ares_addr6ttl v6[DNS_ANSWERS_MAX];
	int n = DNS_ANSWERS_MAX, i, r;

	switch (t) {
	case DNS_A:
		if ((r = ares_parse_a_reply(abuf, alen, NULL, v4, &n)) ==
		    ARES_SUCCESS)
			for (i = 0; i < n; i++)
				a->u.a[a->n++] = v4[i].ipaddr;
		return r;
	case DNS_AAAA:
		if ((r = ares_parse_aaaa_reply(abuf, alen, NULL, v6, &n)) ==
		    ARES_SUCCESS)
			for (i = 0; i < n; i++)
				memcpy(&a->u.aaaa[a->n++], &v6[i].ip6addr,
				    sizeof(struct in6_addr));
		return r;
	case DNS_PTR:
		return parse_ptr(abuf, alen, a);
	case DNS_MX:
		return parse_mx(abuf, alen, a);
	}
	return ARES_EBADRESP;
}

static enum dns_status
status_of(int r)
{
	switch (r) {
	case ARES_SUCCESS:	return DNS_FOUND;
	case ARES_ENOTFOUND:	return DNS_NXDOMAIN;
	case ARES_ENODATA:	return DNS_NODATA;
	case ARES_EBADNAME:	return DNS_BADANSWER;
	default:		return DNS_TEMPFAIL;	/* a malformed reply too:
						 * the server's fault, not a
						 * verdict on the client */
	}
}

unsigned
dns_parse_reply(enum dns_type t, int status, const unsigned char *abuf,
    int alen, struct dns_answer *a)
{
	unsigned ttl = 0;

	memset(a, 0, sizeof(*a));
	if (status == ARES_SUCCESS) {
		status = parse_answer(t, abuf, alen, a);
		ttl = answer_ttl(abuf, alen);
	}
	a->status = status_of(status);
	if (a->status == DNS_FOUND && a->n == 0)
		a->status = a->dropped ? DNS_BADANSWER : DNS_NODATA;
	if (a->status != DNS_FOUND)
		a->n = 0;
	a->error = a->status == DNS_FOUND ? NULL : ares_strerror(status);
	return ttl;
}
