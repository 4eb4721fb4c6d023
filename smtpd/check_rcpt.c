/*
 * check_rcpt: RCPT TO, once its syntax is known good.
 *
 * Never relay: anything that is not plainly "user@one-of-our-domains" is
 * refused with 554 5.7.1 before any lookup, including the old tricks that
 * turned MTAs into relays: the %-hack, bang paths, source routes, quoted
 * local parts hiding an '@', trailing dots and address literals.  Then the
 * recipient map decides: unknown is 550 5.1.1, a map that cannot be read
 * is 451 4.3.0 (never 550: a broken map must not bounce real mail), and
 * postmaster is always accepted (RFC 5321 4.5.1).  A client or sender
 * refusal held by delay_reject is applied first, so its log line has the
 * envelope.
 */
#include <string.h>
#include <strings.h>

#include "../conf/rcptmap.h"
#include "check.h"

static int
is_relay_trick(const struct addr *a)
{
	if (a->route || a->literal || a->trailing_dot)
		return 1;
	if (strpbrk(a->local, "%!@") != NULL)
		return 1;
	return 0;
}

/*
 * A refusal held for RCPT by delay_reject: the client's first, then the
 * sender's DNS verdict.  1 and v set, or 0.
 */
int
check_held(const struct session *s, struct verdict *v)
{
	if (s->delayed.kind == V_REJECT || s->delayed.kind == V_TEMPFAIL)
		*v = s->delayed;
	else if (s->tx != NULL && (s->tx->dns_held.kind == V_REJECT ||
	    s->tx->dns_held.kind == V_TEMPFAIL))
		*v = s->tx->dns_held;
	else
		return 0;
	return 1;
}

void
check_rcpt(struct session *s, const struct addr *a, struct verdict *v)
{
	char val[MAP_VALUE_MAX], matched[MAP_KEY_MAX];
	int r;

	verdict_pass(v);
	if (check_held(s, v))
		return;
	if (is_relay_trick(a)) {
		verdict_set(v, V_REJECT, 554, "5.7.1", "relay",
		    "Relay access denied");
		return;
	}
	if ((r = check_local_domain(a->domain)) != 1) {
		if (r == -1)
			verdict_set(v, V_TEMPFAIL, 451, "4.3.0", "map-error",
			    "Temporary lookup failure");
		else
			verdict_set(v, V_REJECT, 554, "5.7.1", "relay",
			    "Relay access denied");
		return;
	}
	r = rcpt_lookup(&wk->maps[MAP_RECIPIENTS], a->local, a->domain,
	    wk->conf->local_part_fold, val, sizeof(val), matched,
	    sizeof(matched));
	if (r == 1 || (r == 0 && strcasecmp(a->local, "postmaster") == 0))
		return;
	if (r == -1)
		verdict_set(v, V_TEMPFAIL, 451, "4.3.0", "map-error",
		    "Temporary lookup failure");
	else
		verdict_set(v, V_REJECT, 550, "5.1.1", "unknown-recipient",
		    "User unknown");
}
