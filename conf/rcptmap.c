/*
 * rcptmap: exact, +detail, postmaster, @domain (see rcptmap.h).
 *
 * Keys are built into a fixed array; a key that does not fit cannot be
 * in the map (the compiler refuses keys over MAP_KEY_MAX), so that step
 * is simply a miss.  Any map read error stops the chain at once with -1:
 * carrying on could turn a broken map into a wrong catch-all answer.
 */
#include <string.h>
#include <strings.h>

#include "rcptmap.h"

#define POSTMASTER	"postmaster"

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* local[0..llen) "@" domain, or just the local part when domain is "". */
static int
make_key(char *key, size_t keysize, const char *local, size_t llen,
    const char *domain)
{
	size_t dlen = strlen(domain);
	size_t need = llen + (dlen ? 1 + dlen : 0) + 1;

	if (need > keysize)
		return -1;
	memcpy(key, local, llen);
	if (dlen) {
		key[llen] = '@';
		memcpy(key + llen + 1, domain, dlen);
	}
	key[need - 1] = '\0';
	return 0;
}

/* One step of the chain: 1 hit, 0 miss, -1 error. */
static int
try_key(struct map *m, const char *key, char *val, size_t valsize,
    char *matched, size_t matchedsize)
{
	char tmp[MAP_VALUE_MAX];
	int r;

	if (val == NULL) {
		val = tmp;
		valsize = sizeof(tmp);
	}
	r = map_get(m, key, val, valsize);
	if (r == 1 && matched != NULL && matchedsize > 0) {
		strncpy(matched, key, matchedsize - 1);
		matched[matchedsize - 1] = '\0';
	}
	return r;
}

static int
try_part(struct map *m, const char *local, size_t llen, const char *domain,
    char *val, size_t valsize, char *matched, size_t matchedsize)
{
	char key[MAP_KEY_MAX + 1];

	if (make_key(key, sizeof(key), local, llen, domain) == -1)
		return 0;
	return try_key(m, key, val, valsize, matched, matchedsize);
}

int
rcpt_lookup(struct map *m, const char *local, const char *domain, int fold,
    char *val, size_t valsize, char *matched, size_t matchedsize)
{
	char lp[MAP_KEY_MAX + 1], dom[MAP_KEY_MAX + 1];
	const char *sep;
	size_t llen, blen;
	int r;

	if (m == NULL || !m->open)
		return -1;
	if (strlen(local) >= sizeof(lp) || strlen(domain) >= sizeof(dom))
		return 0;
	strcpy(lp, local);
	strcpy(dom, domain);
	lower(dom);
	if (fold)
		lower(lp);
	llen = strlen(lp);
	sep = strchr(lp, RCPT_DETAIL_SEP);
	blen = sep ? (size_t)(sep - lp) : llen;

	if ((r = try_part(m, lp, llen, dom, val, valsize, matched,
	    matchedsize)) != 0)
		return r;
	if (sep != NULL && blen > 0 && (r = try_part(m, lp, blen, dom, val,
	    valsize, matched, matchedsize)) != 0)
		return r;
	if (blen == strlen(POSTMASTER) &&
	    strncasecmp(lp, POSTMASTER, blen) == 0 && (r = try_key(m,
	    POSTMASTER, val, valsize, matched, matchedsize)) != 0)
		return r;
	if (dom[0] != '\0')
		return try_part(m, "", 0, dom, val, valsize, matched,
		    matchedsize);
	return 0;
}

int
rcpt_split(const char *addr, char *local, size_t localsize, char *domain,
    size_t domainsize)
{
	const char *at = strrchr(addr, '@');
	size_t llen = at ? (size_t)(at - addr) : strlen(addr);
	const char *dom = at ? at + 1 : "";

	if (llen >= localsize || strlen(dom) >= domainsize)
		return -1;
	memcpy(local, addr, llen);
	local[llen] = '\0';
	strcpy(domain, dom);
	return 0;
}
