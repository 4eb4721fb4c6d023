/*
 * conf_filter: the value of a filter key.
 *
 *   filter = NAME PATH [ARG...]
 *
 * NAME (letters, digits, '-', '_'; at most 31) names the filter in logs
 * and in the refusal class filter:NAME.  PATH is the program, executed
 * directly: never through a shell, so the words are split on spaces and
 * tabs and nothing else (no quotes, no variables, no globbing).  Each
 * ARG is a printable word; at most CONF_FILTER_ARGS of them.
 */
#include <stdio.h>
#include <string.h>

#include "conf.h"

static int
valid_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= CONF_FILTER_NAME_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return 0;
	return 1;
}

/* The next word of *p (its length), *p moved past it; 0 at the end. */
static size_t
next_word(const char **p, const char **word)
{
	const char *s = *p;
	size_t n = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	*word = s;
	while (s[n] != '\0' && s[n] != ' ' && s[n] != '\t')
		n++;
	*p = s + n;
	return n;
}

static int
printable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
add_arg(struct conf_filter *f, const char *w, size_t len, char *msg,
    size_t msgsize)
{
	if (f->nargs == CONF_FILTER_ARGS) {
		(void)snprintf(msg, msgsize, "more than %d arguments",
		    CONF_FILTER_ARGS);
		return -1;
	}
	if (!printable(w, len)) {
		(void)snprintf(msg, msgsize, "an argument that is not "
		    "printable ASCII");
		return -1;
	}
	if (f->argslen + len + 1 > sizeof(f->args)) {
		(void)snprintf(msg, msgsize, "arguments longer than %zu bytes",
		    sizeof(f->args) - 1);
		return -1;
	}
	memcpy(f->args + f->argslen, w, len);
	f->args[f->argslen + len] = '\0';
	f->argslen += len + 1;
	f->nargs++;
	return 0;
}

int
conf_parse_filter(const char *val, struct conf_filter *f, char *msg,
    size_t msgsize)
{
	const char *p = val, *w;
	size_t len;

	memset(f, 0, sizeof(*f));
	len = next_word(&p, &w);
	if (!valid_name(w, len)) {
		(void)snprintf(msg, msgsize, "expected NAME PATH [ARG...], "
		    "NAME of letters, digits, '-' and '_' (at most %d)",
		    CONF_FILTER_NAME_MAX - 1);
		return -1;
	}
	memcpy(f->name, w, len);
	len = next_word(&p, &w);
	if (len == 0 || len >= sizeof(f->path) || !printable(w, len)) {
		(void)snprintf(msg, msgsize, "filter %s: no program path",
		    f->name);
		return -1;
	}
	memcpy(f->path, w, len);
	while ((len = next_word(&p, &w)) > 0)
		if (add_arg(f, w, len, msg, msgsize) == -1)
			return -1;
	return 0;
}

void
conf_fmt_filter(const struct conf_filter *f, char *out, size_t outsize)
{
	size_t used, i, off = 0;
	int n;

	n = snprintf(out, outsize, "%s %s", f->name, f->path);
	used = n < 0 ? 0 : (size_t)n;
	for (i = 0; i < f->nargs && used < outsize; i++) {
		n = snprintf(out + used, outsize - used, " %s", f->args + off);
		used += n < 0 ? 0 : (size_t)n;
		off += strlen(f->args + off) + 1;
	}
}
