/*
 * check_sender: MAIL FROM, once its syntax is known good.
 *
 * The senders map is looked up as the address, "@domain", then the
 * domain and its parent ".suffix" entries; REJECT refuses, OK skips the
 * forged-local check.  A sender in one of our own domains that is not a
 * known local address is forged: spamware's favourite From is the
 * recipient's own domain.  A client the access map vouches for is
 * trusted to use our domains.
 */
#include <stdio.h>
#include <string.h>

#include "../conf/rcptmap.h"
#include "log.h"
#include "check.h"

/* 1 decided (v set, or OK: *ok = 1), 0 no entry. */
static int
check_sender_map(const struct addr *a, struct verdict *v, int *ok)
{
	char key[ADDR_PATH_MAX * 2 + 8], val[MAP_VALUE_MAX];
	char matched[MAP_KEY_MAX];
	const char *text;
	int r, reject;
	struct map *m = &wk->maps[MAP_SENDERS];

	*ok = 0;
	if (!m->open)
		return 0;
	snprintf(key, sizeof(key), "%s@%s", a->local, a->domain);
	for (char *p = key; *p; p++)		/* the map's keys are lower case */
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	if ((r = map_get(m, key, val, sizeof(val))) == 0) {
		snprintf(key, sizeof(key), "@%s", a->domain);
		if ((r = map_get(m, key, val, sizeof(val))) == 0)
			r = map_get_domain(m, a->domain, val, sizeof(val),
			    matched, sizeof(matched));
	}
	if (r == -1) {
		verdict_set(v, V_TEMPFAIL, 451, "4.3.0", "sender:map",
		    "Temporary lookup failure");
		return 1;
	}
	if (r == 0)
		return 0;
	if (check_map_action(val, &reject, &text) == -1) {
		log_warnx("senders map: bad value for %s: %s", key, val);
		return 0;
	}
	if (reject)
		verdict_set(v, V_REJECT, 550, "5.7.1", "sender:map", "%s",
		    text[0] ? text : "Sender address rejected");
	else
		*ok = 1;
	return 1;
}

static void
check_sender_forged(struct session *s, const struct addr *a,
    struct verdict *v)
{
	char val[MAP_VALUE_MAX], matched[MAP_KEY_MAX];
	int r;

	if ((r = check_local_domain(a->domain)) == 0)
		return;
	if (r == 1)
		r = rcpt_lookup(&wk->maps[MAP_RECIPIENTS], a->local, a->domain,
		    wk->conf->local_part_fold, val, sizeof(val),
		    matched, sizeof(matched));
	if (r == -1)
		verdict_set(v, V_TEMPFAIL, 451, "4.3.0", "sender:map",
		    "Temporary lookup failure");
	else if (r == 0)
		verdict_set(v, V_REJECT, 550, "5.7.1", "sender:forged-local",
		    "Sender address in our domain is not one of ours");
}

void
check_sender(struct session *s, const struct addr *a, struct verdict *v)
{
	int ok;

	verdict_pass(v);
	if (a->null)
		return;
	if (check_sender_map(a, v, &ok) && (ok || v->kind != V_PASS))
		return;
	if (s->client_ok)
		return;
	check_sender_forged(s, a, v);
}
