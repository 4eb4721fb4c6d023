/*
 * output: a filter's verdict and what its stdout asks for (see output.h).
 */
#include <sys/wait.h>

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "../conf/conf.h"
#include "output.h"

/* Fields a filter may not add: the trace is moat's. */
static const char *const reserved[] = {
	"Received", "Return-Path", "Delivered-To", NULL
};

struct field {
	char	 text[FILTER_HEADERS_MAX];	/* its lines, CRLF ends */
	size_t	 len;
	size_t	 namelen;
	int	 open;		/* a field is being gathered */
	int	 bad;		/* it broke a rule: dropped at its end */
};

const char *
filter_verdict_name(enum filter_verdict v)
{
	static const char *const names[] = { "accept", "reject", "tempfail",
	    "failed" };

	return v <= FV_FAILED ? names[v] : "?";
}

enum filter_verdict
filter_verdict(int status, int timed_out)
{
	if (timed_out || !WIFEXITED(status))
		return FV_FAILED;
	switch (WEXITSTATUS(status)) {
	case 0:
		return FV_ACCEPT;
	case 100:
		return FV_REJECT;
	case 111:
		return FV_TEMPFAIL;
	default:
		return FV_FAILED;
	}
}

/* The next line of buf from *pos, without its LF or CRLF; 0 at the end. */
static int
next_line(const char *buf, size_t len, size_t *pos, const char **s,
    size_t *n)
{
	const char *lf;

	if (*pos >= len)
		return 0;
	*s = buf + *pos;
	lf = memchr(*s, '\n', len - *pos);
	*n = lf != NULL ? (size_t)(lf - *s) : len - *pos;
	*pos += *n + (lf != NULL);
	if (*n > 0 && (*s)[*n - 1] == '\r')
		(*n)--;
	return 1;
}

/* "550 5.7.1 text" -> "text": a filter that writes a code gets ours. */
static size_t
skip_codes(const char *s, size_t n)
{
	size_t i = 0, j;

	if (n >= 4 && isdigit((unsigned char)s[0]) &&
	    isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
	    (s[3] == ' ' || s[3] == '-'))
		i = 4;
	for (j = i; j < n && (isdigit((unsigned char)s[j]) || s[j] == '.');
	    j++)
		;
	if (j > i + 4 && j < n && s[j] == ' ' && memchr(s + i, '.', j - i))
		i = j + 1;
	return i;
}

static void
set_reply(struct filter_output *o, const char *s, size_t n)
{
	size_t i, len = 0;

	while (n > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	i = skip_codes(s, n);
	for (; i < n && len < FILTER_REPLY_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		o->reply[len++] = c == '\t' ? ' ' :
		    c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	while (len > 0 && o->reply[len - 1] == ' ')
		len--;
	o->reply[len] = '\0';
}

static int
value_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != '\t' && ((unsigned char)s[i] < 0x20 ||
		    (unsigned char)s[i] > 0x7e))
			return 0;
	return 1;
}

/* RFC 5322 field name: printable ASCII but ':'; the length of it. */
static size_t
name_len(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && s[i] != ':'; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
			return 0;
	return i < n && i > 0 && i <= 76 ? i : 0;
}

static void
field_add_line(struct field *f, const char *s, size_t n)
{
	if (n > FILTER_LINE_MAX || !value_ok(s, n) ||
	    f->len + n + 2 > sizeof(f->text)) {
		f->bad = 1;
		return;
	}
	memcpy(f->text + f->len, s, n);
	memcpy(f->text + f->len + n, "\r\n", 2);
	f->len += n + 2;
}

static int
is_named(const struct field *f, const char *name)
{
	return strlen(name) == f->namelen &&
	    strncasecmp(f->text, name, f->namelen) == 0;
}

/* "Moat-Block: 1d": the rest of the field is a duration. */
static int
block_request(struct filter_output *o, const struct field *f)
{
	char value[64];
	size_t i = f->namelen + 1, n = 0;
	unsigned secs;

	while (i < f->len && (f->text[i] == ' ' || f->text[i] == '\t'))
		i++;
	while (i < f->len && f->text[i] != '\r' && n < sizeof(value) - 1)
		value[n++] = f->text[i++];
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	value[n] = '\0';
	if (conf_parse_duration(value, &secs) == -1 || secs == 0)
		return -1;
	o->block = secs;
	return 0;
}

static void
field_end(struct filter_output *o, struct field *f)
{
	size_t i;

	if (!f->open)
		return;
	f->open = 0;
	for (i = 0; reserved[i] != NULL && !f->bad; i++)
		if (is_named(f, reserved[i]))
			f->bad = 1;
	if (!f->bad && is_named(f, "Moat-Block")) {
		if (block_request(o, f) == -1)
			o->dropped++;
		return;
	}
	if (f->bad || o->nfields == FILTER_FIELDS_MAX ||
	    o->hlen + f->len > sizeof(o->headers)) {
		o->dropped++;
		return;
	}
	memcpy(o->headers + o->hlen, f->text, f->len);
	o->hlen += f->len;
	o->nfields++;
}

static void
header_line(struct filter_output *o, struct field *f, const char *s,
    size_t n)
{
	if (n == 0) {
		field_end(o, f);
		return;
	}
	if (s[0] == ' ' || s[0] == '\t') {
		if (f->open)
			field_add_line(f, s, n);
		else
			o->dropped++;	/* a continuation of nothing */
		return;
	}
	field_end(o, f);
	f->open = 1;
	f->len = 0;
	f->bad = 0;
	if ((f->namelen = name_len(s, n)) == 0)
		f->bad = 1;
	else
		field_add_line(f, s, n);
}

void
filter_output_parse(const char *out, size_t len, struct filter_output *o)
{
	static struct field f;
	size_t pos = 0, n;
	const char *s;

	memset(o, 0, sizeof(*o));
	memset(&f, 0, sizeof(f));
	if (len > FILTER_OUT_MAX)
		len = FILTER_OUT_MAX;
	if (next_line(out, len, &pos, &s, &n))
		set_reply(o, s, n);
	while (next_line(out, len, &pos, &s, &n))
		header_line(o, &f, s, n);
	field_end(o, &f);
}
