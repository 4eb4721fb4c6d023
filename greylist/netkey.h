/*
 * netkey: a client as the store knows it: its IPv4 address or IPv6
 * address cut to a prefix (the bits past it zero).  Greylisting keys
 * networks this way, the rate limits and the block list clients.
 */
#ifndef MOAT_NETKEY_H
#define MOAT_NETKEY_H

#include <sys/socket.h>

#include <stddef.h>

/* The address in out, masked to bits4 / bits6: 4 or 16 bytes, or 0 for
 * another family. */
size_t	netkey(const struct sockaddr *, unsigned bits4, unsigned bits6,
	    unsigned char out[16]);
/* Zero the bits of a (len bytes) past the first bits. */
void	netkey_mask(unsigned char *a, size_t len, unsigned bits);
/* An IPv4 or IPv6 address as text; 0, or -1. */
int	netkey_parse_ip(const char *, struct sockaddr_storage *);
/* "IP" or "IP/LEN" as moatctl takes a client or a network; its prefix
 * length in bits; 0, or -1 with err. */
int	netkey_parse_net(const char *, unsigned net6,
	    struct sockaddr_storage *, unsigned *bits, char *err,
	    size_t errsize);

#endif
