/*
 * output: what a filter says, read from its exit status and its stdout
 * (the contract is filters/README.md).
 *
 * Exit 0 accepts, 100 refuses for good (5xx), 111 for now (4xx);
 * anything else, a signal or the timeout is a failure, which
 * filter_failure turns into a 4xx or an accept.  On stdout, the first
 * line is the reply text for a refusal; the lines after it are header
 * fields to add to an accepted message, checked as RFC 5322 header
 * syntax, and one pseudo-field, Moat-Block: DURATION, with which a
 * refusal asks for the client to be blocked.  Nothing a filter writes
 * reaches a reply, a header or a log unchecked.
 */
#ifndef MOAT_FILTER_OUTPUT_H
#define MOAT_FILTER_OUTPUT_H

#include <stddef.h>

#define FILTER_OUT_MAX		65536	/* stdout read; the rest is dropped */
#define FILTER_REPLY_MAX	200
#define FILTER_HEADERS_MAX	8192	/* fields added, per filter */
#define FILTER_FIELDS_MAX	64
#define FILTER_LINE_MAX		998	/* RFC 5322 2.1.1 */

enum filter_verdict { FV_ACCEPT, FV_REJECT, FV_TEMPFAIL, FV_FAILED };

struct filter_output {
	char		reply[FILTER_REPLY_MAX + 1];	/* "" when none */
	char		headers[FILTER_HEADERS_MAX];	/* CRLF line ends */
	size_t		hlen;
	unsigned	nfields;
	unsigned	dropped;	/* fields refused, for the log */
	unsigned	block;		/* Moat-Block, seconds; 0 none */
};

/* The verdict of a wait(2) status, or FV_FAILED when it timed out. */
enum filter_verdict filter_verdict(int wait_status, int timed_out);
/* Parse len bytes of stdout (at most FILTER_OUT_MAX of them). */
void	filter_output_parse(const char *out, size_t len,
	    struct filter_output *);
const char *filter_verdict_name(enum filter_verdict);

#endif
