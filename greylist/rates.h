/*
 * rates: per-client limits on new connections, messages and recipients
 * (conn_rate, msg_rate, rcpt_rate), as leaky buckets in the shared store
 * so that every worker counts against the same budget.
 *
 * A bucket holds at most N; every event adds one and it leaks N per
 * PERIOD, continuously: the client may burst N, then keeps going at the
 * average rate, never faster.  An event that would overflow the bucket
 * is refused and not counted, so a client that keeps hammering gets
 * through again at exactly the allowed rate.  The client is its address
 * (IPv6: its rate_net6 prefix).  A store that fails lets the event
 * through.
 */
#ifndef MOAT_RATES_H
#define MOAT_RATES_H

#include <sys/socket.h>

#include "../conf/conf.h"

enum rate_kind { RATE_CONN = 'c', RATE_MSG = 'm', RATE_RCPT = 'r' };

/* 1 when this event takes the client over the limit, else 0. */
int	rate_over(enum rate_kind, const struct sockaddr *,
	    const struct conf_rate *, unsigned net6);
/* Forget buckets that have leaked empty (worker timer). */
void	rate_sweep(void);
/* moatctl: how full the client's bucket is now (0 when none), and how
 * many seconds ago it last took an event (-1: never).  0, or -1 when
 * the store cannot be read. */
int	rate_level(enum rate_kind, const struct sockaddr *,
	    const struct conf_rate *, unsigned net6, double *level,
	    long long *ago);

#endif
