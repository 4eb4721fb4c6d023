/*
 * check_util: verdicts and the map action syntax shared by the checks.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "../smtpd/log.h"
#include "check.h"

void
verdict_pass(struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->kind = V_PASS;
}

void
verdict_set(struct verdict *v, enum vkind kind, int code, const char *enh,
    const char *cls, const char *fmt, ...)
{
	va_list ap;

	v->kind = kind;
	v->code = code;
	snprintf(v->enh, sizeof(v->enh), "%s", enh);
	snprintf(v->cls, sizeof(v->cls), "%s", cls);
	v->hits[0] = '\0';
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
}

/*
 * "OK" or "REJECT [text]".  The text is shown to clients, so anything
 * but printable ASCII makes the value invalid rather than being sent.
 */
int
check_map_action(const char *value, int *is_reject, const char **text)
{
	const char *p;

	*text = "";
	if (strcasecmp(value, "OK") == 0) {
		*is_reject = 0;
		return 0;
	}
	if (strncasecmp(value, "REJECT", 6) != 0 ||
	    (value[6] != '\0' && value[6] != ' ' && value[6] != '\t'))
		return -1;
	for (p = value + 6; *p == ' ' || *p == '\t'; p++)
		;
	for (const char *q = p; *q; q++)
		if (!isprint((unsigned char)*q) && *q != '\t')
			return -1;
	*is_reject = 1;
	*text = p;
	return 0;
}

int
check_local_domain(const char *domain)
{
	char val[MAP_VALUE_MAX];

	if (!wk->maps[MAP_DOMAINS].open)
		return -1;
	return map_get(&wk->maps[MAP_DOMAINS], domain, val, sizeof(val));
}
