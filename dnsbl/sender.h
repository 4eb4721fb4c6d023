/*
 * sender: DNS evidence about the envelope sender's domain, asked at MAIL
 * FROM: every rhsbl_sender zone and, with sender_domain =
 * require-resolvable, the domain's MX, A and AAAA records, all at once.
 * As for the client, answers arrive as events and the session waits only
 * where a decision needs them (the MAIL reply when delay_reject is off,
 * the first RCPT otherwise), never past dnsbl_timeout from the MAIL.
 * Each MAIL starts afresh: an answer meant for an earlier sender is
 * ignored.
 */
#ifndef MOAT_DNS_SENDER_H
#define MOAT_DNS_SENDER_H

#include <stdint.h>

#include "../smtpd/smtp.h"
#include "dnscache.h"

/* Tags from here up are the sender's (client.c routes them). */
#define DNS_TAG_SENDER	64

int	dns_sender_wanted(const struct conf *);
/* Start the lookups for a MAIL FROM domain; 0, or -1 (no memory: the
 * transaction goes on unchecked). */
int	dns_sender_start(struct session *, const char *domain);
int	dns_sender_done(const struct session *);
/* The sender's verdict, once done. */
void	dns_sender_verdict(const struct session *, struct verdict *);
void	dns_sender_free(struct session *);

/* For client.c: an answer with a sender tag; the budgets that ran out
 * (returns the ms until the next one ends, at most max_ms). */
void	dns_sender_answer(struct session *, unsigned tag,
	    const struct dns_answer *);
int64_t	dns_sender_expire(int64_t now, int64_t max_ms);

#endif
