/*
 * stats: moatctl stats (cmd.c) and the metrics listener (metricsd.c).
 */
#ifndef MOAT_STATS_H
#define MOAT_STATS_H

#include "../conf/conf.h"
#include "../smtpd/privdrop.h"

/* moatctl stats ARGS...: the exit status. */
int	stats_main(const char *spool, int argc, char **argv);

/*
 * The metrics listener's process: serves GET /metrics on fd (bound by
 * the parent) until parent_sock closes.  Never returns.
 */
void	metricsd_main(const struct conf *, int fd, int parent_sock,
	    const struct priv_id *);

#endif
