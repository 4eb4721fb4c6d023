/*
 * logline: one line of moatd's log, read back (the shape is moatd(8),
 * LOGGING): its time, its event and its key=value fields.
 *
 * Two prefixes are known: moatd's own in the foreground
 * ("2026-11-23T11:54:09.108 moatd[25454]: ") and syslog's, classic
 * ("Nov 23 11:54:09 host moatd[25454]: ", the year supplied by the
 * caller) or ISO ("2026-11-23T11:54:09.108+01:00 host moatd[25454]: ").
 * Times are kept as written, local wall-clock time, "YYYY-MM-DDTHH:MM:SS":
 * reports group by the hour the admin reads in the log.  Lines of other
 * programs are skipped.  Values are unquoted in place (\" \\ \r \n \t
 * \xNN), so the line is changed.
 */
#ifndef MOAT_LOGLINE_H
#define MOAT_LOGLINE_H

#include <stddef.h>

#define LOGLINE_FIELDS	48

struct logfield {
	const char	*key;
	const char	*val;
};

struct logline {
	char		 when[20];	/* "YYYY-MM-DDTHH:MM:SS" */
	const char	*event;
	struct logfield	 f[LOGLINE_FIELDS];
	size_t		 nf;
};

/* 1: a moatd line, parsed; 0: something else.  line must end in NUL
 * (its LF removed or not).  now: the year and month of today, YYYYMM,
 * for syslog lines: a month later than today's was last year's. */
int	logline_parse(char *line, int now, struct logline *);
/* A field's value, NULL when the line has none. */
const char *logline_get(const struct logline *, const char *key);

#endif
