/*
 * admin: moatctl's view of greylisting, on the store while moatd runs
 * (LMDB lets any number of processes share it).
 *
 *	list			every triplet: state, first and last seen,
 *				early retries, "NET SENDER RCPT"
 *	stats			counts of triplets and networks
 *	allow NET SENDER RCPT	let a triplet through from now on
 *	delete NET SENDER RCPT	forget a triplet
 *
 * NET is a network as `list` prints it (192.0.2.0/24) or a client
 * address, made a network with greylist_net4 / greylist_net6; SENDER is
 * normalised as the RCPT check does ("<>" for the null sender).  Each
 * returns 0, 1 (not found) or 2 (an error, printed).
 */
#ifndef MOAT_GREY_ADMIN_H
#define MOAT_GREY_ADMIN_H

#include <stdio.h>

#include "../conf/conf.h"

int	grey_admin_open(const struct conf *);
int	grey_admin_list(const struct conf *, FILE *);
int	grey_admin_stats(const struct conf *, FILE *);
int	grey_admin_allow(const struct conf *, const char *net,
	    const char *sender, const char *rcpt);
int	grey_admin_delete(const struct conf *, const char *net,
	    const char *sender, const char *rcpt);

#endif
