/*
 * parse_addr: RFC 5321 paths ("<local@domain>"), domain names and address
 * literals (4.1.2, 4.1.3, 4.5.3.1), with RFC 6531 UTF-8 when SMTPUTF8 was
 * given.
 *
 * The parser is strict where leniency helps an attacker and lenient only
 * where real clients need it (spaces before '<').  Relay tricks are parsed,
 * not interpreted: a source route is recognised and dropped (route=1), a
 * '%' or '!' in the local part stays in the local part, and a quoted local
 * part is returned unquoted with quoted=1.  Routing decisions belong to
 * the caller and are made on `domain` alone, which is lower-cased, has no
 * trailing dot and is either LDH labels or a validated address literal.
 *
 * Limits are checked on the wire form: local part 64 octets (quotes
 * included), domain 255 (trailing dot excluded), whole path 256 including
 * the angle brackets and any source route.  All copies are bounded by
 * those limits, which the struct addr arrays exceed.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>
#include <strings.h>

#include "parse.h"

#define DOMAIN_LABEL_MAX	63

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
to_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* RFC 5322 atext: what a dot-atom local part is made of. */
static int
is_atext(int c)
{
	return is_alpha(c) || is_digit(c) || (c != 0 &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 5321 qtextSMTP: printable ASCII except '"' and '\'. */
static int
is_qtext(int c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/* Length of the UTF-8 sequence at s (RFC 3629 table), 0 if malformed. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 1;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		if (s[0] == 0xe0)
			lo = 0xa0;		/* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f;		/* surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		if (s[0] == 0xf0)
			lo = 0x90;		/* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f;		/* past U+10FFFF */
	} else
		return 0;
	if (n < need + 1)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need + 1;
}

static int
utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_seq(u + i, len - i)) == 0)
			return 0;
	return 1;
}

static int
has_8bit(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/* One label: 1..63 octets of letters, digits, '-' (and 8-bit if allow8),
 * not starting or ending with '-'. */
static int
label_valid(const char *s, size_t len, int allow8)
{
	size_t i;
	int c;

	if (len == 0 || len > DOMAIN_LABEL_MAX)
		return 0;
	if (s[0] == '-' || s[len - 1] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (!is_alpha(c) && !is_digit(c) && c != '-' &&
		    !(allow8 && c >= 0x80))
			return 0;
	}
	return 1;
}

static int
domain_check(const char *s, size_t len, int allow8)
{
	size_t start, i;

	if (len == 0 || len > ADDR_DOMAIN_MAX)
		return 0;
	if (allow8 && !utf8_valid(s, len))
		return 0;
	for (start = i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (!label_valid(s + start, i - start, allow8))
			return 0;
		start = i + 1;
	}
	return 1;
}

/* A trailing dot is not accepted: callers strip it first if they allow it. */
int
domain_valid(const char *s, size_t len)
{
	return domain_check(s, len, 0);
}

int
domain_fqdn(const char *s, size_t len)
{
	const char *dot;
	size_t i, tld;

	if (!domain_valid(s, len))
		return 0;
	dot = memrchr(s, '.', len);
	if (dot == NULL)
		return 0;
	tld = (size_t)(dot - s) + 1;
	for (i = tld; i < len; i++)
		if (!is_digit((unsigned char)s[i]))
			return 1;
	return 0;			/* "1.2.3.4": an IP, not a name */
}

/*
 * Returns AF_INET or AF_INET6 and writes the canonical text of the address
 * (inet_ntop form, no brackets, no tag) to ip; -1 if s is not exactly one
 * address literal or ip is too small.  ip may be NULL to only validate.
 */
int
addr_literal(const char *s, size_t len, char *ip, size_t ipsize)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	unsigned char bin[sizeof(struct in6_addr)];
	int af = AF_INET;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return -1;
	s++;
	len -= 2;
	if (len > 5 && strncasecmp(s, "IPv6:", 5) == 0) {
		af = AF_INET6;
		s += 5;
		len -= 5;
	}
	if (len >= sizeof(tmp) || memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(af, tmp, bin) != 1)
		return -1;
	if (ip == NULL)
		return af;			/* only asked whether it is one */
	if (ipsize > INT32_MAX ||
	    inet_ntop(af, bin, ip, (socklen_t)ipsize) == NULL)
		return -1;
	return af;
}

/* ---- the path parser ---- */

struct cursor {
	const char	*s;
	size_t		 len;
	size_t		 i;
};

static int
cur_peek(const struct cursor *c)
{
	return c->i < c->len ? (unsigned char)c->s[c->i] : -1;
}

/*
 * A-d-l ":" (RFC 5321 4.1.2): "@one,@two:".  Obsolete and ignored (RFC
 * 5321 C), but legal, so it is accepted and dropped.  The hosts must
 * still be valid names: a route is not a place to hide junk.
 */
static enum addr_error
parse_route(struct cursor *c, struct addr *a)
{
	size_t start;
	int ch;

	for (;;) {
		if (cur_peek(c) != '@')
			return ADDR_SYNTAX;
		start = ++c->i;
		while ((ch = cur_peek(c)) != -1 && ch != ',' && ch != ':' &&
		    ch != '>')
			c->i++;
		if (!domain_valid(c->s + start, c->i - start))
			return ADDR_SYNTAX;
		if (ch == ':')
			break;
		if (ch != ',')
			return ADDR_SYNTAX;
		c->i++;
	}
	c->i++;
	a->route = 1;
	return ADDR_OK;
}

/* Append one byte of the unquoted local part; the caller bounds the count. */
static void
local_put(struct addr *a, size_t *n, int ch)
{
	a->local[(*n)++] = (char)ch;
	a->local[*n] = '\0';
}

/* Classify a byte that cannot be part of a local part. */
static enum addr_error
local_bad_byte(int ch, int utf8)
{
	if (ch == -1)
		return ADDR_SYNTAX;		/* no closing '>' */
	if (ch >= 0x80 && !utf8)
		return ADDR_NON_ASCII;
	return ADDR_BAD_LOCAL;
}

static enum addr_error
parse_quoted(struct cursor *c, struct addr *a, int utf8, size_t start)
{
	size_t n = 0;
	int ch;

	c->i++;					/* opening quote */
	for (;;) {
		if (c->i - start >= ADDR_LOCAL_MAX)
			return ADDR_TOO_LONG;	/* closing quote is one more */
		ch = cur_peek(c);
		if (ch == '"')
			break;
		if (ch == '\\') {
			c->i++;
			ch = cur_peek(c);
			if (ch < 32 || ch > 126)
				return local_bad_byte(ch, utf8);
		} else if (!is_qtext(ch) && !(ch >= 0x80 && utf8))
			return local_bad_byte(ch, utf8);
		local_put(a, &n, ch);
		c->i++;
	}
	c->i++;					/* closing quote */
	a->quoted = 1;
	return ADDR_OK;
}

static enum addr_error
parse_dotatom(struct cursor *c, struct addr *a, int utf8, size_t start)
{
	size_t n = 0;
	int ch, prev = '.';

	for (;;) {
		ch = cur_peek(c);
		if (ch == '@' || ch == '>')
			break;
		if (ch != '.' && !is_atext(ch) && !(ch >= 0x80 && utf8))
			return local_bad_byte(ch, utf8);
		if (c->i - start >= ADDR_LOCAL_MAX)
			return ADDR_TOO_LONG;
		if (ch == '.' && prev == '.')
			return ADDR_BAD_LOCAL;	/* leading or double dot */
		local_put(a, &n, ch);
		prev = ch;
		c->i++;
	}
	if (n == 0)
		return ADDR_SYNTAX;
	if (prev == '.')
		return ADDR_BAD_LOCAL;		/* trailing dot */
	return ADDR_OK;
}

static enum addr_error
parse_local(struct cursor *c, struct addr *a, int utf8)
{
	size_t start = c->i;
	enum addr_error e;

	if (cur_peek(c) == '"')
		e = parse_quoted(c, a, utf8, start);
	else
		e = parse_dotatom(c, a, utf8, start);
	if (e != ADDR_OK)
		return e;
	if (utf8 && !utf8_valid(c->s + start, c->i - start))
		return ADDR_BAD_LOCAL;
	return ADDR_OK;
}

static void
copy_lower(char *dst, const char *src, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] = (char)to_lower((unsigned char)src[i]);
	dst[len] = '\0';
}

/* The domain is s[0..len), the bytes between '@' and '>'. */
static enum addr_error
parse_domain(const char *s, size_t len, int utf8, struct addr *a)
{
	char ip[INET6_ADDRSTRLEN];
	size_t i;
	int ch;

	if (len == 0)
		return ADDR_NO_DOMAIN;
	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if (ch >= 0x80 && !utf8)
			return ADDR_NON_ASCII;
		if (ch <= ' ' || ch == 127)
			return ADDR_SYNTAX;
	}
	if (s[0] == '[') {
		if (len > ADDR_DOMAIN_MAX)
			return ADDR_TOO_LONG;
		if (addr_literal(s, len, ip, sizeof(ip)) == -1)
			return ADDR_BAD_DOMAIN;
		a->literal = 1;
	} else {
		if (s[len - 1] == '.') {
			a->trailing_dot = 1;
			len--;
		}
		if (len > ADDR_DOMAIN_MAX)
			return ADDR_TOO_LONG;
		if (!domain_check(s, len, utf8 && has_8bit(s, len)))
			return ADDR_BAD_DOMAIN;
	}
	copy_lower(a->domain, s, len);
	return ADDR_OK;
}

/* text = raw local part (quoted form kept) [ "@" domain ]. */
static void
addr_text(struct addr *a, const char *local, size_t llen)
{
	size_t dlen = strlen(a->domain);

	/* llen <= 64 and dlen <= 255: always fits the 520-byte text. */
	memcpy(a->text, local, llen);
	a->text[llen] = '\0';
	if (dlen > 0) {
		a->text[llen] = '@';
		memcpy(a->text + llen + 1, a->domain, dlen + 1);
	}
}

static int
path_too_long(size_t open, size_t close)
{
	return close - open + 1 > ADDR_PATH_MAX;
}

enum addr_error
addr_parse(const char *s, size_t len, int allow_null, int utf8,
    struct addr *a, const char **rest)
{
	struct cursor c = { s, len, 0 };
	const char *close;
	size_t open, lstart, lend;
	enum addr_error e;

	memset(a, 0, sizeof(*a));
	if (rest != NULL)
		*rest = s;
	while (cur_peek(&c) == ' ')
		c.i++;
	if (cur_peek(&c) != '<')
		return ADDR_SYNTAX;
	open = c.i++;

	if (cur_peek(&c) == '>') {
		if (!allow_null)
			return ADDR_SYNTAX;
		a->null = 1;
		if (rest != NULL)
			*rest = s + c.i + 1;
		return ADDR_OK;
	}
	if (cur_peek(&c) == '@' && (e = parse_route(&c, a)) != ADDR_OK)
		return e;

	lstart = c.i;
	if ((e = parse_local(&c, a, utf8)) != ADDR_OK)
		return e;
	lend = c.i;

	if (cur_peek(&c) == '>') {
		/* "<postmaster>": the caller may accept it for RCPT. */
		addr_text(a, s + lstart, lend - lstart);
		if (rest != NULL)
			*rest = s + c.i + 1;
		return path_too_long(open, c.i) ? ADDR_TOO_LONG :
		    ADDR_NO_DOMAIN;
	}
	if (cur_peek(&c) != '@')
		return local_bad_byte(cur_peek(&c), utf8);	/* "a"b@ */
	c.i++;
	close = memchr(s + c.i, '>', len - c.i);
	if (close == NULL)
		return ADDR_SYNTAX;
	if (path_too_long(open, (size_t)(close - s)))
		return ADDR_TOO_LONG;
	e = parse_domain(s + c.i, (size_t)(close - s) - c.i, utf8, a);
	if (e != ADDR_OK && e != ADDR_NO_DOMAIN)
		return e;
	/* "<user@>" is reported like "<user>", local part filled. */
	addr_text(a, s + lstart, lend - lstart);
	if (rest != NULL)
		*rest = close + 1;
	return e;
}
