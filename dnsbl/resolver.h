/*
 * resolver: the worker's c-ares channel, driven by the worker's epoll
 * loop (ARES_OPT_SOCK_STATE_CB tells which sockets to watch,
 * ares_process_fd() serves them and the timeouts, ares_timeout() bounds
 * the loop's wait).  There is no thread and nothing blocks.
 *
 * resolver_init() runs before the chroot: c-ares reads resolv.conf
 * then, unless `resolver =` names the servers.
 */
#ifndef MOAT_RESOLVER_H
#define MOAT_RESOLVER_H

#include <stdint.h>

#include <ares.h>

#include "../conf/conf.h"

/* 0, or -1 with a message in err. */
int	resolver_init(const struct conf *, char *err, size_t errsize);
/* After the epoll set exists: sockets opened from now on are watched. */
void	resolver_attach(int epfd);
/* The descriptor of an EV_DNS event is ready. */
void	resolver_ready(int fd, uint32_t events);
/* Serve the timeouts that are due (every loop turn). */
void	resolver_tick(void);
/* How long the loop may wait at most, in ms, capped at max_ms. */
int	resolver_wait_ms(int max_ms);
int	resolver_active(void);
/* Monotonic milliseconds, for the DNS budgets. */
int64_t	dns_now_ms(void);
ares_channel resolver_channel(void);

#endif
