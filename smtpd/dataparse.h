/*
 * dataparse: the DATA recogniser, a pure resumable byte machine.
 *
 * It is fed whatever bytes arrived after the 354 and emits the message as
 * it will be stored: dot-stuffing removed, lines ending in CRLF.  It stops
 * exactly after the end of data, which is CRLF "." CRLF on the raw bytes
 * and nothing else (the CRLF ending the DATA command counts as the first
 * CRLF, so ".\r\n" as the first line ends an empty message).  Bytes after
 * the end are left unconsumed: they are the next pipelined command.
 *
 * Bare LF and bare CR: with BARE_LF_REJECT the message is marked
 * DATA_ERR_BARE_LF and the rest is discarded up to the real end; with
 * BARE_LF_NORMALIZE each bare LF or CR is written as CRLF, but the end of
 * data is still decided on the raw bytes first: "\n.\n", "\r.\r",
 * "\n.\r\n", "\r\n.\n", "\r\n.\r" and the like never end the message.
 *
 * It also counts Received: header lines in the header section (hops), and
 * the stored size; past max_size it marks DATA_ERR_SIZE and discards the
 * rest up to the end.  Once an error is set, no more output is produced.
 * A max_size or max_hops of 0 means no limit.
 */
#ifndef MOAT_DATAPARSE_H
#define MOAT_DATAPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "../conf/conf.h"

enum data_error {
	DATA_OK = 0,
	DATA_ERR_BARE_LF,	/* 550 5.5.2 */
	DATA_ERR_SIZE,		/* 552 5.3.4 */
	DATA_ERR_HOPS,		/* 554 5.4.6 */
	DATA_ERR_NUL,		/* NUL byte: 554 5.6.0? kept as-is, see .c */
};

struct dataparse {
	/* settings */
	enum bare_lf_policy policy;
	uint64_t	max_size;	/* stored bytes */
	unsigned	max_hops;
	/* state */
	int		state;		/* private */
	int		in_headers;
	char		hdrname[16];	/* first bytes of the current header line */
	size_t		hdrlen;
	int		line_start_hdr;	/* current header line started at BOL */
	uint64_t	size;		/* bytes emitted so far */
	unsigned	hops;
	int		done;		/* end of data seen */
	enum data_error	error;
};

void	data_init(struct dataparse *, enum bare_lf_policy, uint64_t max_size,
	    unsigned max_hops);
/*
 * Feed in[0..n).  Emitted bytes go to out (up to outsize; the caller must
 * give outsize >= 2 * n + 8 so output never overflows).  Returns the
 * number of input bytes consumed; *outlen the number written.  When
 * p->done is set, the rest of the input was not consumed.
 */
size_t	data_feed(struct dataparse *, const char *in, size_t n,
	    char *out, size_t outsize, size_t *outlen);

#endif
