/*
 * admin: moatctl's view of greylisting (see admin.h).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
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

static int
print_one(const void *key, size_t klen, const void *val, size_t vlen,
    void *arg)
{
	const struct grey_rec *r = val;
	char first[32], last[32];

	(void)key;
	(void)klen;
	if (vlen != sizeof(*r))
		return 1;
	when(r->first, first, sizeof(first));
	when(r->last, last, sizeof(last));
	fprintf(arg, "%-8s %s %s %5u %.*s\n", r->passed ? "passed" :
	    "waiting", first, last, r->early, (int)sizeof(r->triplet),
	    r->triplet);
	return 1;
}

int
grey_admin_list(const struct conf *cf, FILE *out)
{
	(void)cf;
	fprintf(out, "%-8s %-20s %-20s %5s %s\n", "state", "first",
	    "last", "early", "network sender recipient");
	return store_each(KIND_TRIPLET, print_one, out) == STORE_OK ? 0 : 2;
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

/* "192.0.2.0/24" as it is, or an address made a network. */
static int
network_of(const struct conf *cf, const char *text, char *out,
    size_t outsize)
{
	struct sockaddr_storage ss;

	if (strchr(text, '/') != NULL) {
		(void)snprintf(out, outsize, "%s", text);
		return 0;
	}
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) ==
	    1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return -1;
	return greylist_network((struct sockaddr *)&ss, cf->greylist_net4,
	    cf->greylist_net6, out, outsize);
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
