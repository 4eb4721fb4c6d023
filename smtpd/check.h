/*
 * check: the policy checks of the SMTP dialogue.
 *
 * Each check takes the session's facts and returns a verdict: V_PASS (go
 * on), V_OK (the access map vouches for the client: skip later client
 * checks), V_REJECT or V_TEMPFAIL with a reply and a stable class for the
 * log.  Checks never write to the client and never log: the session
 * sequences them, replies and logs one line per decision.
 */
#ifndef MOAT_CHECK_H
#define MOAT_CHECK_H

#include "smtp.h"

void	verdict_pass(struct verdict *);
void	verdict_set(struct verdict *, enum vkind, int code, const char *enh,
	    const char *cls, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));

/* check_client.c: the access map at connect. */
void	check_client(struct session *, struct verdict *);
/* check_helo.c */
void	check_helo(struct session *, const char *name, size_t len,
	    struct verdict *);
/* check_sender.c: MAIL FROM after its syntax is known good. */
void	check_sender(struct session *, const struct addr *, struct verdict *);
/* check_rcpt.c: RCPT TO after its syntax is known good. */
void	check_rcpt(struct session *, const struct addr *, struct verdict *);
int	check_held(const struct session *, struct verdict *);

/* Map action values: "OK", "REJECT [text]"; -1 if neither. */
int	check_map_action(const char *value, int *is_reject, const char **text);
/* Is domain one of ours (the domains map)?  1, 0, -1 map error. */
int	check_local_domain(const char *domain);

#endif
