/*
 * admin: moatctl's view of greylisting (see admin.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "greylist.h"
#include "record.h"
#include "store.h"

int
grey_admin_open(const struct conf *cf)
{
	struct stat st;

	if (stat(cf->state_db, &st) == -1 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "moatctl: no greylisting state in %s\n",
		    cf->state_db);
		return 2;
	}
	if (store_open(cf->state_db, cf->state_db_size) == -1) {
		fprintf(stderr, "moatctl: cannot open %s\n", cf->state_db);
		return 2;
	}
	return 0;
}

static void
when(int64_t t, char *out, size_t outsize)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL)
		(void)snprintf(out, outsize, "-");
	else
		(void)strftime(out, outsize, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct copies {
	struct grey_rec	*v;
	size_t		 n, cap;
};

/* Copied out first: a reader paused by a pager must not hold the
 * store's transaction open (LMDB could not reuse its pages meanwhile). */
static int
copy_one(const void *key, size_t klen, const void *val, size_t vlen,
    void *arg)
{
	struct copies *c = arg;
	struct grey_rec *nv;

	(void)key;
	(void)klen;
	if (vlen != sizeof(struct grey_rec))
		return 1;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		if ((nv = realloc(c->v, c->cap * sizeof(*nv))) == NULL)
			return 0;
		c->v = nv;
	}
	memcpy(&c->v[c->n++], val, sizeof(struct grey_rec));
	return 1;
}

int
grey_admin_list(const struct conf *cf, FILE *out)
{
	struct copies c = { NULL, 0, 0 };
	const struct grey_rec *r;
	char first[32], last[32];
	size_t i;
	int rc;

	(void)cf;
	rc = store_each(KIND_TRIPLET, copy_one, &c) == STORE_OK ? 0 : 2;
	fprintf(out, "%-8s %-20s %-20s %5s %s\n", "state", "first",
	    "last", "early", "network sender recipient");
	for (i = 0; i < c.n; i++) {
		r = &c.v[i];
		when(r->first, first, sizeof(first));
		when(r->last, last, sizeof(last));
		fprintf(out, "%-8s %s %s %5u %.*s\n", r->passed ? "passed" :
		    "waiting", first, last, r->early,
		    (int)sizeof(r->triplet), r->triplet);
	}
	free(c.v);
	return rc;
}

struct counts {
	const struct conf *cf;
	unsigned long	 waiting, passed, nets, allowlisted;
};

static int
count_triplet(const void *key, size_t klen, const void *val, size_t vlen,
    void *arg)
{
	const struct grey_rec *r = val;
	struct counts *c = arg;

	(void)key;
	(void)klen;
	if (vlen == sizeof(*r)) {
		if (r->passed)
			c->passed++;
		else
			c->waiting++;
	}
	return 1;
}

static int
count_net(const void *key, size_t klen, const void *val, size_t vlen,
    void *arg)
{
	const struct awl_rec *a = val;
	struct counts *c = arg;

	(void)key;
	(void)klen;
	if (vlen == sizeof(*a)) {
		c->nets++;
		if (c->cf->greylist_awl > 0 && a->passes >=
		    c->cf->greylist_awl)
			c->allowlisted++;
	}
	return 1;
}

int
grey_admin_stats(const struct conf *cf, FILE *out)
{
	struct counts c = { .cf = cf };

	if (store_each(KIND_TRIPLET, count_triplet, &c) != STORE_OK ||
	    store_each(KIND_AWL, count_net, &c) != STORE_OK)
		return 2;
	fprintf(out, "triplets %lu (waiting %lu, passed %lu)\n",
	    c.waiting + c.passed, c.waiting, c.passed);
	fprintf(out, "networks %lu that passed, %lu of them allowlisted "
	    "(greylist_awl = %u)\n", c.nets, c.allowlisted, cf->greylist_awl);
	return 0;
}

/*
 * A client part as `list` prints it: "ptr:DOMAIN" as it is; an address,
 * or an address with a prefix length, made the network it keys.
 */
static int
network_of(const struct conf *cf, const char *text, char *out,
    size_t outsize)
{
	struct sockaddr_storage ss;
	unsigned bits4 = cf->greylist_net4, bits6 = cf->greylist_net6;
	char addr[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long len;

	if (strncmp(text, "ptr:", 4) == 0) {
		(void)snprintf(out, outsize, "%s", text);
		return 0;
	}
	if (snprintf(addr, sizeof(addr), "%s", text) >= (int)sizeof(addr))
		return -1;
	if ((slash = strchr(addr, '/')) != NULL) {
		*slash = '\0';
		len = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || end == slash + 1 || len > 128)
			return -1;
		bits4 = bits6 = (unsigned)len;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) ==
	    1 && bits4 <= 32)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, addr,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return -1;
	return greylist_network((struct sockaddr *)&ss, bits4, bits6, out,
	    outsize);
}

static int
triplet_key(const struct conf *cf, const char *net, const char *sender,
    const char *rcpt, unsigned char key[GREY_KEY_LEN], char *text,
    size_t textsize)
{
	char n[64], s[600];

	if (network_of(cf, net, n, sizeof(n)) == -1) {
		fprintf(stderr, "moatctl: %s: not an address or network\n",
		    net);
		return -1;
	}
	greylist_sender(strcmp(sender, "<>") == 0 ? "" : sender, s,
	    sizeof(s));
	greylist_key(key, KIND_TRIPLET, n, s, rcpt);
	if (snprintf(text, textsize, "%s %s %s", n, s[0] ? s : "<>", rcpt) >=
	    (int)textsize)
		text[textsize - 2] = '~';	/* cut: say so */
	return 0;
}

static enum store_action
mark_passed(void *val, int found, void *arg)
{
	struct grey_rec *r = val;
	int64_t now = time(NULL);

	if (!found) {
		r->first = now;
		r->version = 1;
		(void)snprintf(r->triplet, sizeof(r->triplet), "%.*s",
		    (int)sizeof(r->triplet) - 1, (const char *)arg);
	}
	if (r->passed == 0)
		r->passed = now;
	r->last = now;
	return STORE_WRITE;
}

int
grey_admin_allow(const struct conf *cf, const char *net, const char *sender,
    const char *rcpt)
{
	unsigned char key[GREY_KEY_LEN];
	char text[GREY_TEXT_MAX + 64];
	struct grey_rec r;

	if (triplet_key(cf, net, sender, rcpt, key, text, sizeof(text)) == -1)
		return 2;
	if (store_update(key, GREY_KEY_LEN, &r, sizeof(r), mark_passed,
	    text) != STORE_OK)
		return 2;
	printf("allowed: %s\n", text);
	return 0;
}

int
grey_admin_delete(const struct conf *cf, const char *net, const char *sender,
    const char *rcpt)
{
	unsigned char key[GREY_KEY_LEN];
	char text[GREY_TEXT_MAX + 64];

	if (triplet_key(cf, net, sender, rcpt, key, text, sizeof(text)) == -1)
		return 2;
	switch (store_delete(key, GREY_KEY_LEN)) {
	case STORE_OK:
		printf("deleted: %s\n", text);
		return 0;
	case STORE_NOTFOUND:
		printf("not found: %s\n", text);
		return 1;
	default:
		return 2;
	}
}
