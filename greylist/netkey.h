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

#endif
