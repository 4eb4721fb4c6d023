/*
 * blocks: the penalty box.  Misbehaviour scores points against a client
 * address (an IPv6 client by its rate_net6 prefix): going over a rate
 * limit, resending too early to greylisting, a forged local sender, a
 * dictionary attack, talking before the banner.  Points older than a
 * day are forgotten.  A score that reaches block_threshold blocks the
 * client for block_time, doubled at each new offence up to
 * block_time_max; a blocked client is closed at accept before any byte
 * (block_action = drop) or gets 554 there (reject).  moatctl blocks and
 * unblocks by hand, a client or a whole network (ADDRESS/LEN, any
 * length but 0); a network is blocked by hand only, never scored, and
 * its record is swept once it has expired.  A client's record is kept
 * while it may still matter: a block, a score, or a block in the last
 * 30 days that makes the next one longer.  The check at accept is one read
 * transaction: the client's record, then one read per prefix length
 * some network block uses.  Everything lives in the shared store; a
 * store that fails blocks nobody.
 */
#ifndef MOAT_BLOCKS_H
#define MOAT_BLOCKS_H

#include <sys/socket.h>
#include <netinet/in.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "../conf/conf.h"

enum block_event {
	BLOCK_RATE, BLOCK_GREYLIST_EARLY, BLOCK_FORGED, BLOCK_DICTIONARY,
	BLOCK_PREGREET, BLOCK_FILTER, BLOCK_EVENTS
};

/* What block_check found. */
struct block_hit {
	char	reason[48];
	char	net[INET6_ADDRSTRLEN + 4];	/* ADDRESS or ADDRESS/LEN */
};

/* Score one event; the `block` log line when it blocks the client. */
void	block_event(const struct sockaddr *, enum block_event);
/* Block the client for seconds (at most block_time_max), as a filter
 * asked; the `block` log line. */
void	block_for(const struct sockaddr *, unsigned seconds, const char *why);
/* 1 when the client is blocked now, by its own record or a network's. */
int	block_check(const struct sockaddr *, struct block_hit *);
/* Forget network blocks that have expired (a bounded walk). */
void	block_sweep(time_t now);

/* The clients and networks blocked now (a walk of the block records). */
int	block_count(time_t now, uint64_t *clients, uint64_t *nets);

/*
 * moatctl: block the network sa/bits for seconds (0: block_time), lift
 * its block, list.  bits is a client's own length (32, rate_net6) for
 * the client's record; sa has no bits set past it.
 */
int	block_set(const struct sockaddr *, unsigned bits, unsigned seconds,
	    const char *why);
int	block_clear(const struct sockaddr *, unsigned bits);
/* moatctl: block_check with the configuration below. */
int	block_admin_check(const struct sockaddr *, struct block_hit *);
/*
 * format: "plain"; "nft": commands for nft -f, the table and sets first;
 * "ipset": lines for ipset restore, the sets first.
 */
int	block_list(FILE *, const char *format);
/* moatctl: the configuration the calls above use. */
void	block_admin_conf(const struct conf *);

#endif
