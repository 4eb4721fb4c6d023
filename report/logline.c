/*
 * logline: moatd's log lines read back (see logline.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "logline.h"

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May",
    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
two(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

/* A month, day, hour, minute and second that can be. */
static int
plausible(const char *when)
{
	return two(when + 5) >= 1 && two(when + 5) <= 12 &&
	    two(when + 8) >= 1 && two(when + 8) <= 31 && two(when + 11) <= 23 &&
	    two(when + 14) <= 59 && two(when + 17) <= 60;
}

/* "2026-11-23T11:54:09..." */
static int
iso_time(const char *s, char *when)
{
	if (!digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
	    s[7] != '-' || !digits(s + 8, 2) || (s[10] != 'T' &&
	    s[10] != ' ') || !digits(s + 11, 2) || s[13] != ':' ||
	    !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2) ||
	    !plausible(s))
		return 0;
	memcpy(when, s, 19);
	when[10] = 'T';
	when[19] = '\0';
	return 1;
}

/* "Nov 23 11:54:09" (the day may be " 3") */
static int
syslog_time(const char *s, int year, char *when)
{
	char tmp[48];
	int m, day;

	for (m = 0; m < 12; m++)
		if (strncmp(s, months[m], 3) == 0)
			break;
	if (m == 12 || s[3] != ' ' || (s[4] != ' ' &&
	    !isdigit((unsigned char)s[4])) || !isdigit((unsigned char)s[5]) ||
	    s[6] != ' ' || !digits(s + 7, 2) || s[9] != ':' ||
	    !digits(s + 10, 2) || s[12] != ':' || !digits(s + 13, 2))
		return 0;
	day = (s[4] == ' ' ? 0 : s[4] - '0') * 10 + (s[5] - '0');
	/* year is YYYYMM, now: a month later than now was last year's */
	if (m + 1 > year % 100)
		year -= 100;
	(void)snprintf(tmp, sizeof(tmp), "%04u-%02d-%02dT%.8s",
	    (unsigned)(year / 100) % 10000, m + 1, day % 100, s + 7);
	memcpy(when, tmp, 19);
	when[19] = '\0';
	return plausible(when);
}

/* Undo moatd's quoting in place; the end of the value. */
static char *
unquote(char *s, char **end)
{
	char *out = s, *p = s + 1;
	unsigned v;

	while (*p != '\0' && *p != '"') {
		if (*p != '\\' || p[1] == '\0') {
			*out++ = *p++;
			continue;
		}
		p++;
		switch (*p) {
		case 'r': *out++ = '\r'; p++; break;
		case 'n': *out++ = '\n'; p++; break;
		case 't': *out++ = '\t'; p++; break;
		case 'x':
			if (sscanf(p + 1, "%2x", &v) == 1 &&
			    isxdigit((unsigned char)p[1]) &&
			    isxdigit((unsigned char)p[2])) {
				*out++ = (char)v;
				p += 3;
				break;
			}
			/* FALLTHROUGH */
		default:
			*out++ = *p++;
		}
	}
	*end = *p == '"' ? p + 1 : p;
	return out;
}

static void
fields(char *p, struct logline *l)
{
	char *key, *eq, *end;

	while (l->nf < LOGLINE_FIELDS) {
		while (*p == ' ')
			p++;
		if (*p == '\0' || *p == '\n')
			return;
		key = p;
		while (*p != '\0' && *p != '=' && *p != ' ' && *p != '\n')
			p++;
		if (*p != '=')
			return;			/* not key=value: stop */
		eq = p;
		*eq = '\0';
		l->f[l->nf].key = key;
		l->f[l->nf].val = eq + 1;
		if (eq[1] == '"') {
			*unquote(eq + 1, &end) = '\0';
			l->f[l->nf].val = eq + 1;
			p = end;
		} else {
			for (p = eq + 1; *p != '\0' && *p != ' ' && *p != '\n';
			    p++)
				;
			if (*p != '\0')
				*p++ = '\0';
			l->nf++;
			continue;
		}
		l->nf++;
	}
}

int
logline_parse(char *line, int now, struct logline *l)
{
	char *p;

	l->nf = 0;
	if (iso_time(line, l->when))
		p = line + 19;
	else if (syslog_time(line, now, l->when))
		p = line + 15;
	else
		return 0;
	/* the tag right after the time (and a host), nowhere else: another
	 * program's line may quote "moatd[" from a client */
	p += strcspn(p, " ");		/* the rest of the time token */
	if (*p++ != ' ')
		return 0;
	if (strncmp(p, "moatd[", 6) != 0) {
		p += strcspn(p, " ");	/* a host */
		if (*p++ != ' ' || strncmp(p, "moatd[", 6) != 0)
			return 0;
	}
	p += 6;
	if (strspn(p, "0123456789") == 0)
		return 0;
	p += strspn(p, "0123456789");
	if (strncmp(p, "]: ", 3) != 0)
		return 0;
	p += 3;
	l->event = p;
	while (*p != '\0' && *p != ' ' && *p != '\n')
		p++;
	if (p == l->event)
		return 0;
	if (*p != '\0')
		*p++ = '\0';
	fields(p, l);
	return 1;
}

const char *
logline_get(const struct logline *l, const char *key)
{
	size_t i;

	for (i = 0; i < l->nf; i++)
		if (strcmp(l->f[i].key, key) == 0)
			return l->f[i].val;
	return NULL;
}
