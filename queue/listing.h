/*
 * listing: what moatctl queue shows, as the queue writes it and moatctl
 * reads it back (the memfd of a CTL_LIST reply, smtpd/control.h).
 *
 * Text, one record a line, fields separated by one space:
 *
 *   moat-queue-list 1
 *   E QID STATE CTIME NEXT SENDER        an entry
 *   R S ATTEMPTS ADDR[ ERROR]            each of its recipients
 *
 * STATE is a word of listing_state_name(); CTIME the commit time (unix
 * seconds, 0 when unknown); NEXT the seconds until the next try, or "-"
 * when none is planned; SENDER the envelope sender, "<>" for the null
 * sender.  S is the recipient's status byte from the spool (-, D, H);
 * ATTEMPTS the failed tries by the running queue process; ERROR, the
 * rest of the line, why the last of them failed (control bytes written
 * as '?').  Addresses are spool addresses: no space, no control byte.
 * The reader checks every field and refuses anything else, naming the
 * line.
 */
#ifndef MOAT_LISTING_H
#define MOAT_LISTING_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "spool.h"

#define LISTING_MAGIC		"moat-queue-list 1"
#define LISTING_ERROR_MAX	512		/* with its NUL */

enum listing_state {
	LS_UNCONFIRMED,		/* committed, its 250 not yet confirmed */
	LS_READY,		/* to be tried now */
	LS_DELIVERING,		/* a delivery pass is on it */
	LS_DEFERRED,		/* waiting for its next try */
	LS_HELD,		/* in hold/ */
	LS_UNREADABLE,		/* in hold/, its envelope unreadable */
	LS_COUNT
};

struct listing_rcpt {
	char		 status;		/* enum rcpt_status */
	unsigned	 attempts;
	char		 addr[SPOOL_ADDR_MAX];
	char		 error[LISTING_ERROR_MAX];	/* "" none */
};

struct listing_entry {
	char		 qid[QID_LEN + 1];
	int		 state;			/* enum listing_state */
	long long	 ctime;
	long long	 next;			/* -1: none */
	char		 sender[SPOOL_ADDR_MAX];	/* "" for <> */
	size_t		 nrcpt;
	struct listing_rcpt *rcpt;
};

struct listing {
	struct listing_entry *v;
	size_t		 n, cap;
	int		 started;		/* the magic line was read */
};

const char *listing_state_name(int);

/* Writing (the queue): errors show in ferror() of the stream. */
void	listing_begin(FILE *);
void	listing_put_entry(FILE *, const char *qid, int state, time_t ctime,
	    long long next, const char *sender);
void	listing_put_rcpt(FILE *, const struct spool_rcpt *);

/*
 * Reading (moatctl): one line without its LF, or a whole stream.  0, or
 * -1 with the reason in err.  Free with listing_free.
 */
int	listing_parse_line(struct listing *, const char *line, char *err,
	    size_t errsize);
int	listing_read(struct listing *, FILE *, char *err, size_t errsize);
void	listing_free(struct listing *);

/* Showing it: queued entries oldest first, then held ones. */
void	listing_sort(struct listing *);
void	listing_print(FILE *, const struct listing *, time_t now);
void	listing_print_json(FILE *, const struct listing *, time_t now);

#endif
