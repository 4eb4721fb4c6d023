/*
 * env: the environment a filter runs with (filters/README.md): the
 * envelope and what moat knows of the client as MOAT_* variables, and
 * a fixed PATH, HOME and LC_ALL; nothing inherited.  The values are
 * copied byte for byte: no shell ever reads them.
 */
#ifndef MOAT_FILTER_ENV_H
#define MOAT_FILTER_ENV_H

#include <stddef.h>
#include <stdint.h>

#define FILTER_ENV_VARS	24

struct filter_envelope {
	const char	*qid, *ip, *ptr, *helo, *tls, *sender;
	const char	*dnsbl;		/* "ZONE=ANSWER ..." or "" */
	const char	*greylist;	/* "passed", "awl", "skip" or "" */
	unsigned	 port;
	int		 ptr_verified;
	const char *const *rcpt;
	size_t		 nrcpt;
	uint64_t	 size;
};

struct filter_env {
	char	*envp[FILTER_ENV_VARS + 1];	/* NULL-terminated */
	char	*buf;				/* what envp points into */
};

/* 0, or -1 (out of memory); free with filter_env_free. */
int	filter_env_build(struct filter_env *, const struct filter_envelope *);
void	filter_env_free(struct filter_env *);

#endif
