/*
 * parse_cmd: splitting the command stream into lines and lines into a verb
 * and its argument (RFC 5321 2.3.8, 4.1.1).
 *
 * line_get enforces the line limit while the bytes arrive: a line with no
 * LF in its first `max` bytes is refused at once, so a client cannot make
 * us buffer an endless line waiting for its end.  The rest of such a line
 * is then discarded up to its LF without another reply.
 *
 * cmd_parse refuses NUL and any CR that is not the last byte of the line:
 * both are ways to make two parsers (ours and the next hop's) disagree on
 * where a command ends.  It neither allocates nor copies: arg points into
 * the caller's line.
 */
#include <string.h>

#include "parse.h"

static const char *
find_lf(const char *buf, size_t len)
{
	return memchr(buf, '\n', len);
}

/*
 * Discard the remainder of an over-long line.  Returns 1 once its LF has
 * been found (the reader is back to normal), 0 if all of buf was junk.
 */
static int
line_skip(struct linereader *lr, const char *buf, size_t len,
    size_t *consumed)
{
	const char *lf;

	lf = find_lf(buf, len);
	if (lf == NULL) {
		*consumed = len;
		return 0;
	}
	*consumed = (size_t)(lf - buf) + 1;
	lr->skipping = 0;
	return 1;
}

/*
 * Contract beyond parse.h: *consumed is set for every status.  LINE_MORE
 * with a non-zero *consumed means bytes of an over-long line were
 * discarded; the caller drops them and calls again, since a complete line
 * may follow them in the same buffer.  A line returned with LINE_OK always
 * starts at buf[0] and keeps its CR, if any (cmd_parse drops it), so that
 * "\r\r\n" is not mistaken for a clean line end.
 */
enum line_status
line_get(struct linereader *lr, const char *buf, size_t len, size_t max,
    size_t *linelen, size_t *consumed)
{
	const char *lf;
	size_t scan;

	*linelen = 0;
	*consumed = 0;
	if (lr->skipping) {
		(void)line_skip(lr, buf, len, consumed);
		return LINE_MORE;
	}
	if (len == 0)
		return LINE_MORE;

	/* Only the first max bytes may hold the LF of an acceptable line. */
	scan = len < max ? len : max;
	lf = find_lf(buf, scan);
	if (lf != NULL) {
		*linelen = (size_t)(lf - buf);
		*consumed = *linelen + 1;
		return LINE_OK;
	}
	if (len < max)
		return LINE_MORE;

	/* Over-long: report once, then drop through its LF (maybe later). */
	lr->skipping = 1;
	if (!line_skip(lr, buf + scan, len - scan, consumed))
		*consumed = len;
	else
		*consumed += scan;
	return LINE_TOOLONG;
}

struct verb_entry {
	const char	*name;
	size_t		 len;
	enum cmd_verb	 verb;
};

#define VERB(s, v)	{ s, sizeof(s) - 1, v }

static const struct verb_entry verbs[] = {
	VERB("HELO", CMD_HELO),
	VERB("EHLO", CMD_EHLO),
	VERB("MAIL", CMD_MAIL),
	VERB("RCPT", CMD_RCPT),
	VERB("DATA", CMD_DATA),
	VERB("RSET", CMD_RSET),
	VERB("NOOP", CMD_NOOP),
	VERB("QUIT", CMD_QUIT),
	VERB("VRFY", CMD_VRFY),
	VERB("EXPN", CMD_EXPN),
	VERB("HELP", CMD_HELP),
	VERB("STARTTLS", CMD_STARTTLS),
	VERB("BDAT", CMD_BDAT),
	VERB("AUTH", CMD_AUTH),
	VERB("ETRN", CMD_ETRN),
	VERB("TURN", CMD_TURN),
	/* HTTP request methods: a browser or proxy abuser on port 25. */
	VERB("GET", CMD_HTTP),
	VERB("POST", CMD_HTTP),
	VERB("HEAD", CMD_HTTP),
	VERB("PUT", CMD_HTTP),
	VERB("DELETE", CMD_HTTP),
	VERB("CONNECT", CMD_HTTP),
	VERB("OPTIONS", CMD_HTTP),
	VERB("TRACE", CMD_HTTP),
	VERB("PATCH", CMD_HTTP),
};

static int
ascii_upper(int c)
{
	return c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c;
}

static int
verb_match(const char *s, size_t len, const struct verb_entry *v)
{
	size_t i;

	if (len != v->len)
		return 0;
	for (i = 0; i < len; i++)
		if (ascii_upper((unsigned char)s[i]) != v->name[i])
			return 0;
	return 1;
}

static enum cmd_verb
verb_lookup(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verb_match(s, len, &verbs[i]))
			return verbs[i].verb;
	return CMD_UNKNOWN;
}

enum cmd_error
cmd_parse(const char *line, size_t len, struct cmd *c)
{
	size_t vlen, i;

	c->verb = CMD_UNKNOWN;
	c->arg = line;
	c->arglen = 0;

	if (len == 0)
		return CMD_ERR_EMPTY;
	if (memchr(line, '\0', len) != NULL)
		return CMD_ERR_NUL;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (memchr(line, '\r', len) != NULL)
		return CMD_ERR_BARE_CR;

	while (len > 0 && line[len - 1] == ' ')
		len--;
	if (len == 0)
		return CMD_ERR_EMPTY;

	/* The verb runs to the first space; "HELOX" is not HELO. */
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	c->verb = verb_lookup(line, vlen);
	if (c->verb == CMD_UNKNOWN)
		return CMD_ERR_UNKNOWN;

	/* One space is the syntax; more are tolerated. */
	for (i = vlen; i < len && line[i] == ' '; i++)
		;
	c->arg = line + i;
	c->arglen = len - i;
	return CMD_OK;
}

const char *
cmd_name(enum cmd_verb v)
{
	size_t i;

	if (v == CMD_HTTP)
		return "HTTP";
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "UNKNOWN";
}
