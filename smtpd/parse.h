/*
 * parse: pure parsers for the SMTP command stream (RFC 5321).
 *
 * Nothing here does I/O or allocates: each function reads the bytes it is
 * given and fills a result.  These are what the unit tests and fuzzers
 * drive.  Lengths follow RFC 5321 4.5.3.1: local part 64, domain 255,
 * path 256 octets.
 */
#ifndef MOAT_PARSE_H
#define MOAT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	255
#define ADDR_PATH_MAX	256

/* ---- command lines ---- */

enum line_status {
	LINE_MORE,	/* no complete line yet */
	LINE_OK,	/* a line of *linelen bytes, terminator excluded */
	LINE_TOOLONG,	/* max bytes seen without LF: caller replies 500 */
};

struct linereader {
	int	skipping;	/* discarding the rest of an over-long line */
};

/*
 * Find the next line in buf[0..len).  A line ends at LF (CRLF or a bare
 * LF); *consumed is how many bytes to drop from buf, including the
 * terminator.  A line longer than max bytes, terminator included, yields
 * LINE_TOOLONG once (with *consumed covering what was seen) and the rest
 * of it, up to its LF, is discarded silently.
 *
 * *consumed is set for every status: always drop that many bytes.  While
 * the rest of an over-long line is being discarded, LINE_MORE comes with
 * *consumed > 0; call again on what remains (a whole line may follow).
 * LINE_MORE with *consumed == 0 means: wait for more input.  A LINE_OK
 * line starts at buf[0] and *linelen excludes only the LF: a CR before it
 * is left for cmd_parse to judge ("\r\r\n" is not a clean end).
 */
enum line_status line_get(struct linereader *, const char *buf, size_t len,
	    size_t max, size_t *linelen, size_t *consumed);

enum cmd_verb {
	CMD_UNKNOWN = 0,
	CMD_HELO, CMD_EHLO, CMD_MAIL, CMD_RCPT, CMD_DATA, CMD_RSET,
	CMD_NOOP, CMD_QUIT, CMD_VRFY, CMD_EXPN, CMD_HELP, CMD_STARTTLS,
	CMD_BDAT, CMD_AUTH, CMD_ETRN, CMD_TURN,
	/* things that are not SMTP but arrive on port 25 */
	CMD_HTTP,	/* GET / POST / CONNECT / HEAD / PUT...: close */
};

enum cmd_error {
	CMD_OK = 0,
	CMD_ERR_NUL,		/* NUL byte in the line */
	CMD_ERR_BARE_CR,	/* CR not just before the end of the line */
	CMD_ERR_EMPTY,
	CMD_ERR_UNKNOWN,
};

struct cmd {
	enum cmd_verb	verb;
	const char	*arg;	/* after the verb and one space; not NUL-terminated */
	size_t		 arglen;
};

/*
 * Split a line (terminator removed; a trailing CR is dropped here) into
 * verb and argument.  Verbs are case-insensitive.  MAIL and RCPT keep
 * "FROM:" / "TO:" in arg.  Trailing spaces are removed from arg.
 */
enum cmd_error cmd_parse(const char *line, size_t len, struct cmd *);
const char *cmd_name(enum cmd_verb);

/* ---- addresses ---- */

enum addr_error {
	ADDR_OK = 0,
	ADDR_SYNTAX,		/* not a path at all: 501 5.1.7 / 5.1.3 */
	ADDR_NO_DOMAIN,		/* "user" or "user@": 553 */
	ADDR_BAD_DOMAIN,	/* not a valid domain or literal */
	ADDR_TOO_LONG,		/* a part over its RFC limit */
	ADDR_NON_ASCII,		/* 8-bit bytes without SMTPUTF8: 553 5.6.7 */
	ADDR_BAD_LOCAL,		/* local part syntax */
};

struct addr {
	int	null;			/* <> */
	int	quoted;			/* local part was a quoted-string */
	int	route;			/* had a source route (@a,@b:) */
	int	literal;		/* domain is an address literal [...] */
	int	trailing_dot;		/* domain ended in '.' (kept off) */
	char	local[ADDR_LOCAL_MAX * 2 + 3];	/* unquoted form */
	char	domain[ADDR_DOMAIN_MAX + 1];	/* lower-cased */
	char	text[ADDR_PATH_MAX * 2 + 8];	/* "local@domain" as logged */
};

/*
 * Parse "<path>" (with optional spaces before '<' tolerated) from
 * s[0..len); *rest points after '>' (the parameters).  A bare address
 * without angle brackets is a syntax error.  allow_null: MAIL FROM.
 * utf8: SMTPUTF8 was given (8-bit allowed in the local part and domain).
 * ADDR_NO_DOMAIN ("<postmaster>", "<user@>") still fills local, text and
 * *rest so the caller can accept a bare postmaster.  For "<>" text is
 * empty.  On other errors *rest is s and the struct is partly filled.
 */
enum addr_error addr_parse(const char *s, size_t len, int allow_null,
	    int utf8, struct addr *, const char **rest);

/*
 * Is this a syntactically valid domain name (LDH labels, dots)?  ASCII
 * only; a trailing dot is refused (strip it first where it is allowed).
 */
int	domain_valid(const char *s, size_t len);
/* A fully-qualified domain: valid, at least two labels, TLD not numeric. */
int	domain_fqdn(const char *s, size_t len);
/*
 * "[1.2.3.4]" or "[IPv6:...]" → the address text (no brackets), or -1.
 * On success returns AF_INET or AF_INET6 and writes the canonical
 * inet_ntop form to ip (so it compares equal to the client's address).
 */
int	addr_literal(const char *s, size_t len, char *ip, size_t ipsize);

/* ---- MAIL/RCPT parameters (RFC 1870 SIZE, 6152 8BITMIME, 6531) ---- */

enum param_error {
	PARAM_OK = 0,
	PARAM_SYNTAX,		/* 501 5.5.4 */
	PARAM_UNKNOWN,		/* 555 5.5.4 */
	PARAM_BAD_VALUE,	/* 501 5.5.4 */
};

struct mail_params {
	int		size_set;
	uint64_t	size;
	int		body;		/* 0 none, 7 = 7BIT, 8 = 8BITMIME */
	int		smtputf8;
};

/* Parse " KEY[=VALUE] ..." after the MAIL FROM path. */
enum param_error mail_params_parse(const char *s, size_t len,
	    struct mail_params *, char *badkey, size_t badkeysize);
/* RCPT TO takes no parameters we advertise: any is PARAM_UNKNOWN. */
enum param_error rcpt_params_parse(const char *s, size_t len,
	    char *badkey, size_t badkeysize);

#endif
