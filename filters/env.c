/*
 * env: a filter's environment (see env.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"

struct builder {
	struct filter_env *e;
	size_t		 n;	/* variables so far */
	size_t		 used, size;
	int		 full;	/* room() was wrong: a bug, refused */
};

static const char *
str(const char *s)
{
	return s != NULL ? s : "";
}

/* s at the end of the buffer (sized by room()), always leaving a byte. */
static void
append(struct builder *b, const char *s)
{
	size_t len = strlen(s);

	if (b->full || len >= b->size - b->used) {
		b->full = 1;
		return;
	}
	memcpy(b->e->buf + b->used, s, len);
	b->used += len;
}

/* "NAME="; where the variable starts. */
static size_t
begin(struct builder *b, const char *name)
{
	size_t at = b->used;

	append(b, name);
	append(b, "=");
	return at;
}

static void
end(struct builder *b, size_t at)
{
	if (b->full || b->n == FILTER_ENV_VARS) {
		b->full = 1;
		return;
	}
	b->e->buf[b->used++] = '\0';	/* append left room for it */
	b->e->envp[b->n++] = b->e->buf + at;
}

static void
var(struct builder *b, const char *name, const char *value)
{
	size_t at = begin(b, name);

	append(b, str(value));
	end(b, at);
}

static void
recipients(struct builder *b, const struct filter_envelope *m)
{
	size_t at = begin(b, "MOAT_RECIPIENTS"), i;

	for (i = 0; i < m->nrcpt; i++) {
		if (i > 0)
			append(b, "\n");
		append(b, str(m->rcpt[i]));
	}
	end(b, at);
}

static size_t
room(const struct filter_envelope *m)
{
	const char *v[] = { m->qid, m->ip, m->ptr, m->helo, m->tls,
	    m->sender, m->dnsbl, m->greylist };
	size_t n = 512, i;		/* names, numbers and the fixed ones */

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		n += strlen(str(v[i])) + 1;
	for (i = 0; i < m->nrcpt; i++)
		n += strlen(str(m->rcpt[i])) + 1;
	return n;
}

int
filter_env_build(struct filter_env *e, const struct filter_envelope *m)
{
	struct builder b = { e, 0, 0, room(m), 0 };
	char num[32];

	memset(e, 0, sizeof(*e));
	if ((e->buf = malloc(b.size)) == NULL)
		return -1;
	var(&b, "PATH", "/usr/bin:/bin");
	var(&b, "HOME", "/");
	var(&b, "LC_ALL", "C");
	var(&b, "MOAT_QUEUE_ID", m->qid);
	var(&b, "MOAT_CLIENT_IP", m->ip);
	(void)snprintf(num, sizeof(num), "%u", m->port);
	var(&b, "MOAT_CLIENT_PORT", num);
	var(&b, "MOAT_CLIENT_PTR", m->ptr);
	var(&b, "MOAT_CLIENT_PTR_VERIFIED", m->ptr_verified ? "yes" : "no");
	var(&b, "MOAT_HELO", m->helo);
	var(&b, "MOAT_TLS", m->tls);
	var(&b, "MOAT_SENDER", m->sender);
	recipients(&b, m);
	(void)snprintf(num, sizeof(num), "%zu", m->nrcpt);
	var(&b, "MOAT_RCPT_COUNT", num);
	(void)snprintf(num, sizeof(num), "%" PRIu64, m->size);
	var(&b, "MOAT_SIZE", num);
	var(&b, "MOAT_DNSBL", m->dnsbl);
	var(&b, "MOAT_GREYLIST", m->greylist);
	e->envp[b.n] = NULL;
	if (b.full) {
		filter_env_free(e);
		return -1;
	}
	return 0;
}

void
filter_env_free(struct filter_env *e)
{
	free(e->buf);
	memset(e, 0, sizeof(*e));
}
