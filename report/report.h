/*
 * report: `moatctl report`, computed from moatd's log lines alone (so it
 * works on archived logs): read (logline.c), counted (tally.c), printed
 * (text.c).  See moatctl(8) for the sections.
 */
#ifndef MOAT_REPORT_H
#define MOAT_REPORT_H

#include <stdio.h>

#include "asn.h"
#include "tally.h"

#define REPORT_LINE_MAX	8192	/* a longer line is no moatd line */

/* One network's clients together (IPv4 /24, IPv6 /48). */
struct report_group {
	char		 net[64];
	unsigned long	 conns, hosts;
	double		 time;
};

/* Count every moatd line of fp; now (YYYYMM) dates syslog lines.  0,
 * or -1 (memory). */
int	report_read(struct tally *, FILE *, int now);
/* Sort for printing: hours in order, classes, zones and clients most
 * first (the tally is then spent: no more lines may be counted). */
void	report_prepare(struct tally *);
/* The networks, sorted by sessions; *n of them; NULL when none or out
 * of memory.  Free it. */
struct report_group *report_networks(const struct tally *, size_t *n);
/* sum += h: traffic and connections (the longest kept). */
void	report_add(struct hour_stat *sum, const struct hour_stat *h);
/* The hours summed by day (key "YYYY-MM-DD"), in order; *n of them;
 * NULL when none or out of memory.  Free it. */
struct hour_stat *report_days(const struct tally *, size_t *n);
/* How far clients got: connected, spoke, began a transaction, had a
 * message accepted. */
void	report_funnel(const struct tally *, unsigned long n[4]);
void	report_text(FILE *, struct tally *, unsigned top);
void	report_json(FILE *, struct tally *, unsigned top);
void	report_html(FILE *, struct tally *, unsigned top);
/* moatctl report ARGS...: the exit status. */
int	report_main(int argc, char **argv);

#endif
