/*
 * dataparse: the DATA recogniser (see dataparse.h for the contract).
 *
 * One byte at a time, with all state in struct dataparse, so a message cut
 * anywhere between two reads (even between CR and LF, or after the final
 * ".") parses exactly as if it had come in one piece.
 *
 * The end of data is decided on the raw bytes before any normalisation:
 * only CR LF "." CR LF ends the message, where the first CR LF may be the
 * one that ended the DATA command.  States:
 *
 *   BOL	start of a line that followed a real CR LF (the only place
 *		where a "." is dot-stuffing or the start of the end marker)
 *   MID	inside a line, or at the start of one that followed a bare
 *		LF or bare CR
 *   CR		a CR was seen; the next byte decides whether it was bare
 *   DOT	BOL then "."; the dot is never part of the message
 *   DOT_CR	BOL "." CR; LF now ends the message
 *
 * A bare LF or CR is either an error (BARE_LF_REJECT) or written as CR LF
 * (BARE_LF_NORMALIZE).  Either way the line it starts is MID, not BOL, so
 * "\n.\r\n", "\r.\r\n", "\r\n.\n" and the rest never end the message and
 * a "." after a bare line end is kept as data rather than taken as
 * stuffing.  The stored message may therefore contain lines that start
 * with "." (even a lone "."): whoever sends it on must dot-stuff it, as
 * RFC 5321 4.5.2 requires of any sender.
 *
 * After an error no byte is written, but the machine keeps running on the
 * raw bytes so that it still stops exactly at the real end of data, and
 * whatever the client sends after the error cannot be read as commands.
 *
 * NUL bytes are kept.  RFC 5321 does not forbid them in the body (RFC
 * 5322 calls them obsolete), refusing them loses real mail from broken
 * but harmless senders, and storing them is safe: the message is
 * handled as length-counted bytes from here to the mailbox.  So
 * DATA_ERR_NUL is never set by this recogniser; it stays in the enum for
 * a policy that may want it.
 *
 * Hops: while in the header section (up to the first empty line), each
 * line whose field name is "Received" (any case, optional spaces or tabs
 * before the colon, RFC 5322 4.5.3 obs-optional) counts one hop;
 * continuation lines start with a space or tab and do not count.
 *
 * A max_size or max_hops of 0 means no limit.
 */
#include <string.h>

#include "dataparse.h"

enum {
	D_BOL = 0,
	D_MID,
	D_CR,
	D_DOT,
	D_DOT_CR,
	D_DONE,
};

/* The most one input byte can write: a bare CR's CR LF, then a bare LF's. */
#define DATA_STEP_MAX	4

struct sink {
	char	*out;
	size_t	 size;
	size_t	 len;
};

void
data_init(struct dataparse *p, enum bare_lf_policy policy,
    uint64_t max_size, unsigned max_hops)
{
	memset(p, 0, sizeof(*p));
	p->policy = policy;
	p->max_size = max_size;
	p->max_hops = max_hops;
	p->state = D_BOL;
	p->in_headers = 1;
	p->line_start_hdr = 1;
	p->error = DATA_OK;
}

static void
data_error_set(struct dataparse *p, enum data_error e)
{
	if (p->error == DATA_OK)
		p->error = e;
}

static void
emit(struct dataparse *p, struct sink *k, char c)
{
	if (p->error != DATA_OK)
		return;
	if (p->max_size != 0 && p->size >= p->max_size) {
		data_error_set(p, DATA_ERR_SIZE);
		return;
	}
	k->out[k->len++] = c;
	p->size++;
}

static int
ascii_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Is hdrname[0..hdrlen) "Received" followed only by spaces or tabs? */
static int
hdr_is_received(const struct dataparse *p)
{
	static const char name[] = "received";
	size_t i, n = sizeof(name) - 1;

	if (p->hdrlen < n)
		return 0;
	for (i = 0; i < n; i++)
		if (ascii_lower((unsigned char)p->hdrname[i]) != name[i])
			return 0;
	for (; i < p->hdrlen; i++)
		if (p->hdrname[i] != ' ' && p->hdrname[i] != '\t')
			return 0;
	return 1;
}

static void
hop_count(struct dataparse *p)
{
	p->hops++;
	if (p->max_hops != 0 && p->hops > p->max_hops)
		data_error_set(p, DATA_ERR_HOPS);
}

/*
 * Track the header section on one byte of line content.  hdrlen counts
 * the line's bytes (saturating just past the hdrname array) and also
 * tells, at the end of the line, whether the line was empty.
 */
static void
header_byte(struct dataparse *p, char c)
{
	if (p->in_headers && p->line_start_hdr) {
		if (p->hdrlen == 0 && (c == ' ' || c == '\t'))
			p->line_start_hdr = 0;		/* continuation */
		else if (c == ':') {
			if (hdr_is_received(p))
				hop_count(p);
			p->line_start_hdr = 0;
		} else if (p->hdrlen >= sizeof(p->hdrname))
			p->line_start_hdr = 0;		/* not "Received" */
		else
			p->hdrname[p->hdrlen] = c;
	}
	if (p->hdrlen <= sizeof(p->hdrname))
		p->hdrlen++;
}

static void
content(struct dataparse *p, struct sink *k, char c)
{
	if (p->error != DATA_OK)
		return;
	header_byte(p, c);
	emit(p, k, c);
}

/* A line has ended (its CR LF written, or due). */
static void
line_end(struct dataparse *p)
{
	if (p->in_headers && p->hdrlen == 0)
		p->in_headers = 0;
	p->hdrlen = 0;
	p->line_start_hdr = 1;
}

static void
crlf(struct dataparse *p, struct sink *k)
{
	emit(p, k, '\r');
	emit(p, k, '\n');
	line_end(p);
}

static void
bare(struct dataparse *p, struct sink *k)
{
	if (p->policy == BARE_LF_NORMALIZE)
		crlf(p, k);
	else {
		data_error_set(p, DATA_ERR_BARE_LF);
		line_end(p);
	}
}

/* MID, also where BOL, CR and DOT_CR hand over a byte they do not own. */
static void
step_mid(struct dataparse *p, struct sink *k, char c)
{
	if (c == '\r')
		p->state = D_CR;
	else if (c == '\n') {
		bare(p, k);
		p->state = D_MID;
	} else {
		content(p, k, c);
		p->state = D_MID;
	}
}

static void
step(struct dataparse *p, struct sink *k, char c)
{
	switch (p->state) {
	case D_BOL:
		if (c == '.')
			p->state = D_DOT;
		else
			step_mid(p, k, c);
		break;
	case D_MID:
		step_mid(p, k, c);
		break;
	case D_CR:
		if (c == '\n') {
			crlf(p, k);
			p->state = D_BOL;
		} else {
			bare(p, k);		/* the CR was bare */
			step_mid(p, k, c);
		}
		break;
	case D_DOT:
		if (c == '\r')
			p->state = D_DOT_CR;
		else
			step_mid(p, k, c);	/* the dot was stuffing */
		break;
	case D_DOT_CR:
		if (c == '\n') {
			p->state = D_DONE;
			p->done = 1;
		} else {
			bare(p, k);		/* ".\r" then not LF */
			step_mid(p, k, c);
		}
		break;
	default:
		break;
	}
}

size_t
data_feed(struct dataparse *p, const char *in, size_t n, char *out,
    size_t outsize, size_t *outlen)
{
	struct sink k = { out, outsize, 0 };
	size_t i;

	*outlen = 0;
	if (p->done)
		return 0;
	for (i = 0; i < n && !p->done; i++) {
		/* Callers give 2n+8; stop short rather than overflow if not. */
		if (k.size - k.len < DATA_STEP_MAX)
			break;
		step(p, &k, in[i]);
	}
	*outlen = k.len;
	return i;
}
