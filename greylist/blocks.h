/*
 * blocks: the penalty box.  Misbehaviour scores points against a client
 * address (an IPv6 client by its rate_net6 prefix): going over a rate
 * limit, resending too early to greylisting, a forged local sender, a
 * dictionary attack, talking before the banner.  Points older than a
 * day are forgotten.  A score that reaches block_threshold blocks the
 * client for block_time, doubled at each new offence up to
 * block_time_max; a blocked client is closed at accept before any byte
 * (block_action = drop) or gets 554 there (reject).  moatctl blocks and
 * unblocks by hand.  Everything lives in the shared store; a store that
 * fails blocks nobody.
 */
#ifndef MOAT_BLOCKS_H
#define MOAT_BLOCKS_H

#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../conf/conf.h"

enum block_event {
	BLOCK_RATE, BLOCK_GREYLIST_EARLY, BLOCK_FORGED, BLOCK_DICTIONARY,
	BLOCK_PREGREET, BLOCK_EVENTS
};

/* Score one event; the `block` log line when it blocks the client. */
void	block_event(const struct sockaddr *, enum block_event);
/* 1 when the client is blocked now (why: the reason recorded). */
int	block_check(const struct sockaddr *, char *why, size_t whysize);

/* moatctl: block for seconds (0: block_time), unblock, list. */
int	block_set(const struct sockaddr *, unsigned seconds, const char *why);
int	block_clear(const struct sockaddr *);
/* format: "plain", "nft" (add element commands) or "ipset". */
int	block_list(FILE *, const char *format);
/* moatctl: the configuration the calls above use. */
void	block_admin_conf(const struct conf *);

#endif
