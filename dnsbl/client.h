/*
 * client: a session's DNS evidence about its client, gathered at connect.
 *
 * At connect every lookup starts at once: the PTR of the client's
 * address and a query per configured DNSBL and DNSWL zone; the forward
 * lookups of the PTR names follow the PTR answer.  The session waits
 * only where a decision needs an answer (the banner when delay_reject is
 * off, the first RCPT otherwise), and never past dnsbl_timeout from the
 * connect: whatever has not answered by then counts as an error for a
 * zone (not listed) and as a temporary failure for the PTR.
 *
 * Nothing is looked up unless the configuration asks for a DNS check.
 */
#ifndef MOAT_DNS_CLIENT_H
#define MOAT_DNS_CLIENT_H

#include <stdint.h>

#include "../smtpd/smtp.h"
#include "dnscache.h"

struct dns_client;

/* Worker start, before the chroot: resolver, patterns, cache. */
int	dns_setup(const struct conf *, char *err, size_t errsize);
/* Does this configuration look anything up for a client? */
int	dns_client_wanted(const struct conf *);
/* Start the lookups; 0, or -1 when they cannot start (no memory: the
 * session goes on as if nothing was configured). */
int	dns_client_start(struct session *);
/* All the answers the verdict needs are in, or the budget is spent. */
int	dns_client_done(const struct session *);
/* The client's verdict, once done. */
void	dns_client_verdict(struct session *, struct verdict *);
/* A DNSWL lists the client (so far). */
int	dns_client_allowlisted(const struct session *);
/* The forward-confirmed PTR name, "" when none (yet). */
const char *dns_client_ptr(const struct session *);
/* That name, or else the first PTR name unconfirmed, "" when none. */
const char *dns_client_ptr_any(const struct session *);
/* The DNSBL zones that list the client: "ZONE=ANSWER ...", "" none. */
void	dns_client_listings(const struct session *, char *out, size_t);
void	dns_client_free(struct session *);
/* Loop turn: hand out answers, end sessions' budgets; returns the ms
 * the loop may sleep at most. */
int	dns_turn(int max_ms);

#endif
