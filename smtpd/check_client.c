/*
 * check_client: what the access map says about the client at connect.
 *
 * Longest prefix wins (map_get_addr).  OK vouches for the client: later
 * client checks (HELO, forged sender) are skipped.  REJECT is answered at
 * the banner, or held until RCPT when delay_reject is on so that the log
 * line carries the envelope.  A map that cannot be read is a temporary
 * failure, never a rejection.
 */
#include <string.h>

#include "log.h"
#include "check.h"

void
check_client(struct session *s, struct verdict *v)
{
	char val[MAP_VALUE_MAX], matched[MAP_KEY_MAX];
	const char *text;
	int r, reject;

	verdict_pass(v);
	if (!wk->maps[MAP_ACCESS].open)
		return;
	r = map_get_addr(&wk->maps[MAP_ACCESS], (struct sockaddr *)&s->peer,
	    val, sizeof(val), matched, sizeof(matched));
	if (r == -1) {
		verdict_set(v, V_TEMPFAIL, 451, "4.3.0", "access",
		    "Temporary lookup failure");
		return;
	}
	if (r == 0)
		return;
	if (check_map_action(val, &reject, &text) == -1) {
		log_warnx("access map: bad value for %s: %s", matched, val);
		return;
	}
	if (!reject) {
		v->kind = V_OK;
		snprintf(v->cls, sizeof(v->cls), "access");
		return;
	}
	verdict_set(v, V_REJECT, 554, "5.7.1", "access", "%s",
	    text[0] ? text : "Access denied");
}
