/*
 * netkey: a client address cut to its prefix (see netkey.h).
 */
#include <netinet/in.h>

#include <string.h>

#include "netkey.h"

static void
mask(unsigned char *a, size_t len, unsigned bits)
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
		mask(out, 4, bits4);
		return 4;
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	memcpy(out, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
	mask(out, 16, bits6);
	return 16;
}
