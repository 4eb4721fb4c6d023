/*
 * netkey: a client address cut to its prefix (see netkey.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netkey.h"

void
netkey_mask(unsigned char *a, size_t len, unsigned bits)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (i * 8 >= bits)
			a[i] = 0;
		else if (i * 8 + 8 > bits)
			a[i] &= (unsigned char)(0xff << (8 - bits % 8));
}

size_t
netkey(const struct sockaddr *sa, unsigned bits4, unsigned bits6,
    unsigned char out[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		netkey_mask(out, 4, bits4);
		return 4;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	memcpy(out, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
	netkey_mask(out, 16, bits6);
	return 16;
}

int
netkey_parse_ip(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text,
	    &((struct sockaddr_in *)ss)->sin_addr) == 1)
		ss->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1)
		ss->ss_family = AF_INET6;
	else
		return -1;
	return 0;
}

/*
 * A bare IP is a client as moatd keys it (IPv4 /32, IPv6 its net6
 * prefix).  LEN is 1 to 32 (IPv4) or 128 (IPv6): /0 would block the
 * world.  An address with bits set past LEN is refused rather than
 * masked: 10.1.2.3/24 may be a typo for /32 as well as for 10.1.2.0/24,
 * and the two block very different numbers of clients.
 */
int
netkey_parse_net(const char *text, unsigned net6, struct sockaddr_storage *ss,
    unsigned *bits, char *err, size_t errsize)
{
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text), n;
	char addr[INET6_ADDRSTRLEN], *end;
	unsigned char a[16], net[16];
	unsigned long len, max;

	if (alen < sizeof(addr)) {
		memcpy(addr, text, alen);
		addr[alen] = '\0';
	}
	if (alen >= sizeof(addr) || netkey_parse_ip(addr, ss) == -1) {
		(void)snprintf(err, errsize, "%s: not an IP address", text);
		return -1;
	}
	max = ss->ss_family == AF_INET ? 32 : 128;
	*bits = ss->ss_family == AF_INET ? 32 : net6;
	if (slash == NULL)
		return 0;
	len = strtoul(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || len == 0 ||
	    len > max) {
		(void)snprintf(err, errsize, "%s: the prefix length must be 1 "
		    "to %lu", text, max);
		return -1;
	}
	n = netkey((struct sockaddr *)ss, (unsigned)max, (unsigned)max, a);
	(void)netkey((struct sockaddr *)ss, (unsigned)len, (unsigned)len, net);
	if (memcmp(a, net, n) != 0) {
		(void)inet_ntop(ss->ss_family, net, addr, sizeof(addr));
		(void)snprintf(err, errsize, "%s: bits set past /%lu (the "
		    "network is %s/%lu)", text, len, addr, len);
		return -1;
	}
	*bits = (unsigned)len;
	return 0;
}
