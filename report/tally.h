/*
 * tally: what `moatctl report` counts, line by line, in memory bounded
 * by what the log is about (hours, client addresses, refusal classes),
 * never by its length: no line is kept.
 *
 * Per hour: received (accept), delivered (deliver, per recipient),
 * deferred (defer of a delivery), held (hold of a recipient), rejected
 * (reject and defer lines of a session, greylisting's 451s);
 * connections (connect, and refusals at accept, which have no session)
 * with their time (disconnect's duration).  Per refusal class
 * and stage: a count and the distinct addresses.  Per client address:
 * sessions, their time, and how far it got.
 */
#ifndef MOAT_TALLY_H
#define MOAT_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "logline.h"

struct asn_row;

/* An hour's refusals of one class (the class's id). */
struct hour_class {
	unsigned	 id;
	unsigned long	 n;
};

struct hour_stat {
	char		 key[14];	/* "YYYY-MM-DDTHH" */
	unsigned long	 received, delivered, deferred, held, rejected;
	unsigned long	 conns;
	double		 conn_time, conn_max;	/* seconds */
	struct hour_class *bycls;	/* the hour's refusals by class */
	size_t		 nbycls, capbycls;
};

/* How far a client got. */
#define HOST_CONNECTED	0x1	/* opened a connection */
#define HOST_TALKED	0x2	/* had the banner and said something */
#define HOST_MAIL	0x4	/* began a transaction */
#define HOST_ACCEPTED	0x8	/* had a message accepted */
#define HOST_REFUSED	0x10	/* was refused at least once */

#define HOST_PTR_MAX	255	/* a DNS name's bytes, kept at most */

struct host_stat {
	char		 ip[48];
	char		*ptr;		/* its last reverse DNS name, or NULL */
	unsigned long	 conns;
	double		 time;
	unsigned	 flags;
};

struct idset {
	unsigned	*v;	/* host index + 1; 0 empty */
	size_t		 cap, n;
};

struct class_stat {
	unsigned	 id;		/* stays when the classes are sorted */
	char		 stage[16];
	char		 name[160];	/* moatd's classes are at most 127 */
	unsigned long	 count;
	struct idset	 ips;
};

/* One DNS list: what refusals named it (hits=), and its own figures
 * (the periodic dnsbl-stats lines). */
struct zone_stat {
	char		 name[256];
	unsigned long	 refusals;	/* refusals whose hits name it */
	unsigned long	 overlap;	/* ... that name another zone too */
	unsigned long	 queries, listed, errors;
};

#define GREY_DELAY_MAX	(3 * 86400)	/* seconds counted one by one */

/* Greylisting: results, the delays of passes, and the triplets first
 * seen in range (a 64-bit hash each) and whether they came back. */
struct grey_stat {
	unsigned long	 new, early, passed, awl, skip;
	uint32_t	*delays;	/* [GREY_DELAY_MAX + 1], lazily */
	unsigned long	 ndelays;	/* passes with a delay moatd wrote */
	uint64_t	*trip;		/* open addressing; 0 empty */
	unsigned char	*back;		/* came back: early or passed */
	size_t		 ntrip, captrip;
};

struct tally {
	const char	*since, *until;	/* "YYYY-MM-DDTHH:MM:SS" prefixes */
	struct hour_stat *hours;
	size_t		 nhours, caphours;
	struct host_stat *hosts;
	size_t		 nhosts, caphosts;
	unsigned	*hostidx;	/* open addressing: index + 1 */
	size_t		 hostidxcap;
	struct class_stat *classes;
	size_t		 nclasses, capclasses;
	struct zone_stat *zones;
	size_t		 nzones, capzones;
	struct grey_stat grey;
	struct asn_row	*asn;		/* --asn: refused clients per ASN */
	size_t		 nasn;
	unsigned long	 lines, used;
};

void	tally_init(struct tally *, const char *since, const char *until);
/* 0, or -1 when memory ran out. */
int	tally_line(struct tally *, const struct logline *);
/* The hours in order (sorts them). */
void	tally_sort(struct tally *);
void	tally_free(struct tally *);

/* tally_extra.c: the DNS lists and greylisting */
int	tally_hits(struct tally *, const char *hits);
int	tally_zone_stats(struct tally *, const struct logline *);
int	tally_greylist(struct tally *, const struct logline *);
unsigned long tally_grey_never_back(const struct tally *);
long	tally_grey_median(const struct tally *);	/* -1: no pass */
void	tally_extra_free(struct tally *);

#endif
