/*
 * rcptmap: the one recipient lookup chain.
 *
 * The smtp worker asks it at RCPT (known user or not) and the queue asks
 * it again at delivery (where does the mail go), so both sides always
 * agree on what a recipient means.  The chain, first hit wins:
 *
 *   1. "local@domain"            exact address
 *   2. "base@domain"             local part with "+detail" removed
 *   3. "postmaster"              only when the (base) local part is
 *                                postmaster, in any case, at any domain
 *                                or bare (domain "")
 *   4. "@domain"                 catch-all for the domain
 *
 * postmaster comes before the catch-all on purpose: RFC 5321 4.5.1 mail
 * for the postmaster should reach the administrator, not whoever owns a
 * domain's catch-all.  Domains are always compared lower-case; the local
 * part is lower-cased too when fold is set (the map was then compiled
 * with lower-case keys), and kept as given otherwise.
 */
#ifndef MOAT_RCPTMAP_H
#define MOAT_RCPTMAP_H

#include <stddef.h>

#include "map.h"

/* The character that separates a local part from its detail. */
#define RCPT_DETAIL_SEP	'+'

/*
 * 1: found (val gets the map value, matched the key that hit); 0: no
 * entry anywhere in the chain; -1: the map cannot be read (closed,
 * absent, or a read error): the caller tempfails (451 4.3.0), never
 * refuses.  val and matched may be NULL.
 */
int	rcpt_lookup(struct map *, const char *local, const char *domain,
	    int fold, char *val, size_t valsize, char *matched,
	    size_t matchedsize);

/*
 * Split "local@domain" at its last '@' into the two parts the chain
 * wants ("postmaster" alone gives domain "").  0, or -1 when a part does
 * not fit.
 */
int	rcpt_split(const char *addr, char *local, size_t localsize,
	    char *domain, size_t domainsize);

#endif
