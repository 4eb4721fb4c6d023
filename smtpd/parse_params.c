/*
 * parse_params: ESMTP parameters after the MAIL FROM and RCPT TO paths
 * (RFC 5321 4.1.2 esmtp-param, RFC 1870 SIZE, RFC 6152 BODY, RFC 6531
 * SMTPUTF8).
 *
 * Only what we advertise is understood; anything else is PARAM_UNKNOWN
 * with its name copied (truncated, NUL-terminated) into badkey for the
 * 555 reply and the log.  A parameter given twice is a syntax error, so a
 * client cannot declare one SIZE to the policy check and another to the
 * next hop.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

struct param {
	const char	*key;
	size_t		 klen;
	const char	*val;		/* NULL when no "=value" was given */
	size_t		 vlen;
};

static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* esmtp-value: printable ASCII except '=' (RFC 5321 4.1.2). */
static int
is_valchar(int c)
{
	return c >= 33 && c <= 126 && c != '=';
}

static void
badkey_set(char *badkey, size_t size, const char *key, size_t klen)
{
	if (badkey == NULL || size == 0)
		return;
	if (klen >= size)
		klen = size - 1;
	memcpy(badkey, key, klen);
	badkey[klen] = '\0';
}

/*
 * Next "KEY[=VALUE]" from s[*pos..len).  Returns PARAM_OK with p filled,
 * PARAM_OK with p->klen == 0 at the end, or PARAM_SYNTAX.
 */
static enum param_error
param_next(const char *s, size_t len, size_t *pos, struct param *p)
{
	size_t i = *pos;

	memset(p, 0, sizeof(*p));
	while (i < len && s[i] == ' ')
		i++;
	if (i == len) {
		*pos = i;
		return PARAM_OK;
	}
	/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
	p->key = s + i;
	if (!is_alnum((unsigned char)s[i]))
		return PARAM_SYNTAX;
	while (i < len && (is_alnum((unsigned char)s[i]) || s[i] == '-'))
		i++;
	p->klen = (size_t)(s + i - p->key);
	if (i < len && s[i] == '=') {
		p->val = s + ++i;
		while (i < len && is_valchar((unsigned char)s[i]))
			i++;
		p->vlen = (size_t)(s + i - p->val);
		if (p->vlen == 0)
			return PARAM_SYNTAX;
	}
	if (i < len && s[i] != ' ')
		return PARAM_SYNTAX;
	*pos = i;
	return PARAM_OK;
}

static int
key_is(const struct param *p, const char *name)
{
	return p->klen == strlen(name) && strncasecmp(p->key, name,
	    p->klen) == 0;
}

static int
val_is(const struct param *p, const char *name)
{
	return p->vlen == strlen(name) && strncasecmp(p->val, name,
	    p->vlen) == 0;
}

/* RFC 1870: size-value = 1*20DIGIT; a value past 2^64-1 is refused. */
static enum param_error
param_size(const struct param *p, struct mail_params *mp)
{
	uint64_t v = 0;
	size_t i;
	int d;

	if (mp->size_set)
		return PARAM_SYNTAX;
	if (p->val == NULL)
		return PARAM_BAD_VALUE;
	for (i = 0; i < p->vlen; i++) {
		d = (unsigned char)p->val[i];
		if (d < '0' || d > '9')
			return PARAM_BAD_VALUE;
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(d - '0'), &v))
			return PARAM_BAD_VALUE;
	}
	mp->size_set = 1;
	mp->size = v;
	return PARAM_OK;
}

/* RFC 6152: BODY=7BIT / BODY=8BITMIME (BINARYMIME needs CHUNKING). */
static enum param_error
param_body(const struct param *p, struct mail_params *mp)
{
	if (mp->body != 0)
		return PARAM_SYNTAX;
	if (p->val == NULL)
		return PARAM_BAD_VALUE;
	if (val_is(p, "7BIT"))
		mp->body = 7;
	else if (val_is(p, "8BITMIME"))
		mp->body = 8;
	else
		return PARAM_BAD_VALUE;
	return PARAM_OK;
}

/* RFC 6531: SMTPUTF8 takes no value. */
static enum param_error
param_smtputf8(const struct param *p, struct mail_params *mp)
{
	if (mp->smtputf8)
		return PARAM_SYNTAX;
	if (p->val != NULL)
		return PARAM_BAD_VALUE;
	mp->smtputf8 = 1;
	return PARAM_OK;
}

static enum param_error
mail_param(const struct param *p, struct mail_params *mp)
{
	if (key_is(p, "SIZE"))
		return param_size(p, mp);
	if (key_is(p, "BODY"))
		return param_body(p, mp);
	if (key_is(p, "SMTPUTF8"))
		return param_smtputf8(p, mp);
	return PARAM_UNKNOWN;
}

/* The list is empty or starts with a space: "<a@b>SIZE=1" is refused. */
static int
params_start_ok(const char *s, size_t len)
{
	return len == 0 || s[0] == ' ';
}

enum param_error
mail_params_parse(const char *s, size_t len, struct mail_params *mp,
    char *badkey, size_t badkeysize)
{
	struct param p;
	enum param_error e;
	size_t pos = 0;

	memset(mp, 0, sizeof(*mp));
	badkey_set(badkey, badkeysize, "", 0);
	if (!params_start_ok(s, len))
		return PARAM_SYNTAX;
	for (;;) {
		if ((e = param_next(s, len, &pos, &p)) != PARAM_OK)
			return e;
		if (p.klen == 0)
			return PARAM_OK;
		if ((e = mail_param(&p, mp)) != PARAM_OK) {
			badkey_set(badkey, badkeysize, p.key, p.klen);
			return e;
		}
	}
}

enum param_error
rcpt_params_parse(const char *s, size_t len, char *badkey,
    size_t badkeysize)
{
	struct param p;
	enum param_error e;
	size_t pos = 0;

	badkey_set(badkey, badkeysize, "", 0);
	if (!params_start_ok(s, len))
		return PARAM_SYNTAX;
	if ((e = param_next(s, len, &pos, &p)) != PARAM_OK)
		return e;
	if (p.klen == 0)
		return PARAM_OK;
	badkey_set(badkey, badkeysize, p.key, p.klen);
	return PARAM_UNKNOWN;
}
