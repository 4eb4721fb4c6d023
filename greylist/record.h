/*
 * record: what greylisting keeps in the store, shared by the RCPT check
 * (greylist.c) and moatctl's view of it (admin.c).
 *
 * 'g' + SHA-256(network, sender, recipient): a triplet;
 * 'a' + SHA-256(network): a network's auto-allowlist count.
 */
#ifndef MOAT_GREY_RECORD_H
#define MOAT_GREY_RECORD_H

#include <stdint.h>

#define KIND_TRIPLET	'g'
#define KIND_AWL	'a'
#define GREY_KEY_LEN	33		/* kind + SHA-256 */
#define GREY_TEXT_MAX	200

struct grey_rec {
	int64_t		first, last;	/* seen first, last (s) */
	int64_t		passed;		/* when it passed; 0: not yet */
	uint32_t	early;		/* retries before the delay */
	uint32_t	version;
	char		triplet[GREY_TEXT_MAX];	/* "NET SENDER RCPT", cut */
};

struct awl_rec {
	int64_t		last;
	uint32_t	passes;
	uint32_t	version;
	char		net[64];
};

/* The key of a triplet (a, b, c) or a network (a, "", ""). */
void	greylist_key(unsigned char key[GREY_KEY_LEN], unsigned char kind,
	    const char *a, const char *b, const char *c);

#endif
