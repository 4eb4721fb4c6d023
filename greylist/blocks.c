/*
 * blocks: the penalty box (see blocks.h).
 *
 * Key: 'B', then the address (4 bytes) or the masked IPv6 prefix (16).
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../smtpd/log.h"
#include "../smtpd/smtp.h"
#include "blocks.h"
#include "netkey.h"
#include "store.h"

#define KIND_BLOCK	'B'
#define SCORE_MEMORY	86400		/* points older than this are gone */

struct block_rec {
	int64_t		score_at;	/* the first point of the score */
	int64_t		until;		/* blocked until (s); 0: not */
	uint32_t	score;
	uint32_t	offences;	/* blocks so far: the next is longer */
	uint32_t	version;
	uint32_t	family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];	/* for moatctl's list */
	char		reason[48];
};

static const char *const event_names[BLOCK_EVENTS] = {
	[BLOCK_RATE] = "rate-limit",
	[BLOCK_GREYLIST_EARLY] = "greylist-early",
	[BLOCK_FORGED] = "forged-local-sender",
	[BLOCK_DICTIONARY] = "dictionary-attack",
	[BLOCK_PREGREET] = "pregreet",
};

struct change {
	const struct conf *cf;
	const struct sockaddr *sa;
	int64_t		 now;
	unsigned	 points;	/* an event's weight */
	unsigned	 seconds;	/* a block by hand; 0: by score */
	const char	*reason;
	int		 blocked;	/* this change blocked the client */
	const unsigned char *key;
	size_t		 klen;
	struct block_rec rec;
};

static size_t
block_key(unsigned char *key, const struct sockaddr *sa, unsigned net6)
{
	key[0] = KIND_BLOCK;
	return 1 + netkey(sa, 32, net6, key + 1);
}

static void
keep_address(struct block_rec *r, const unsigned char *key, size_t klen)
{
	r->family = klen == 5 ? AF_INET : AF_INET6;
	memset(r->addr, 0, sizeof(r->addr));
	memcpy(r->addr, key + 1, klen - 1);
}

/* The next block's length: block_time, doubled per earlier offence. */
static int64_t
block_length(const struct conf *cf, unsigned offences)
{
	int64_t t = cf->block_time;

	while (offences-- > 0 && t < (int64_t)cf->block_time_max)
		t *= 2;
	return t < (int64_t)cf->block_time_max ? t : cf->block_time_max;
}

static enum store_action
apply(void *val, int found, void *arg)
{
	struct block_rec *r = val;
	struct change *c = arg;

	if (!found || c->now - r->score_at > SCORE_MEMORY) {
		r->score = 0;
		r->score_at = c->now;
	}
	r->version = 1;
	keep_address(r, c->key, c->klen);
	if (c->seconds == 0 && r->until > c->now)
		return STORE_KEEP;	/* blocked already */
	r->score += c->points;
	if (c->seconds != 0 || (c->cf->block_threshold != 0 &&
	    r->score >= c->cf->block_threshold)) {
		r->until = c->now + (c->seconds ? (int64_t)c->seconds :
		    block_length(c->cf, r->offences));
		r->offences++;
		r->score = 0;
		(void)snprintf(r->reason, sizeof(r->reason), "%s", c->reason);
		c->blocked = 1;
	}
	c->rec = *r;
	return STORE_WRITE;
}

static int
change(struct change *c)
{
	unsigned char key[STORE_KEY_MAX];

	if ((c->klen = block_key(key, c->sa, c->cf->rate_net6)) == 1)
		return -1;		/* not an IP client */
	c->key = key;
	if (store_update(key, c->klen, &c->rec, sizeof(c->rec), apply, c) !=
	    STORE_OK)
		return -1;
	return 0;
}

static void
log_block(const struct change *c)
{
	char ip[INET6_ADDRSTRLEN];
	struct kv k;

	(void)inet_ntop((int)c->rec.family, c->rec.addr, ip, sizeof(ip));
	kv_begin(&k, "block");
	kv_str(&k, "ip", ip);
	kv_str(&k, "reason", c->rec.reason);
	kv_int(&k, "duration", (long long)(c->rec.until - c->now));
	kv_uint(&k, "offences", c->rec.offences);
	kv_emit(&k);
}

void
block_event(const struct sockaddr *sa, enum block_event e)
{
	struct change c = { .cf = wk->conf, .sa = sa, .now = time(NULL),
	    .reason = event_names[e] };

	if (c.cf->block_threshold == 0 || e >= BLOCK_EVENTS ||
	    (c.points = c.cf->block_weight[e]) == 0)
		return;
	if (change(&c) == 0 && c.blocked)
		log_block(&c);
}

int
block_check(const struct sockaddr *sa, char *why, size_t whysize)
{
	unsigned char key[STORE_KEY_MAX];
	struct block_rec r;
	size_t klen;

	if (!store_active() ||
	    (klen = block_key(key, sa, wk->conf->rate_net6)) == 1)
		return 0;
	if (store_get(key, klen, &r, sizeof(r)) != STORE_OK ||
	    r.until <= (int64_t)time(NULL))
		return 0;
	(void)snprintf(why, whysize, "%.*s", (int)sizeof(r.reason),
	    r.reason);
	return 1;
}

/* ---- by hand (moatctl) ---- */

static const struct conf *ctl_conf;

int
block_set(const struct sockaddr *sa, unsigned seconds, const char *why)
{
	struct change c = { .cf = ctl_conf, .sa = sa, .now = time(NULL),
	    .reason = why };

	c.seconds = seconds ? seconds : ctl_conf->block_time;
	return change(&c);
}

static enum store_action
lift(void *val, int found, void *arg)
{
	struct block_rec *r = val;

	(void)arg;
	if (!found)
		return STORE_KEEP;
	r->until = 0;
	r->score = 0;
	return STORE_WRITE;
}

int
block_clear(const struct sockaddr *sa)
{
	unsigned char key[STORE_KEY_MAX];
	struct block_rec r;

	return store_update(key, block_key(key, sa, ctl_conf->rate_net6), &r,
	    sizeof(r), lift, NULL) == STORE_OK ? 0 : -1;
}

struct listing {
	FILE		*out;
	const char	*format;
	int64_t		 now;
};

static int
print_block(const void *key, size_t klen, const void *val, size_t vlen,
    void *arg)
{
	const struct block_rec *r = val;
	struct listing *l = arg;
	char ip[INET6_ADDRSTRLEN], net[INET6_ADDRSTRLEN + 8];

	(void)key;
	(void)klen;
	if (vlen != sizeof(*r) || r->until <= l->now)
		return 1;
	(void)inet_ntop((int)r->family, r->addr, ip, sizeof(ip));
	if (r->family == AF_INET6)
		(void)snprintf(net, sizeof(net), "%s/%u", ip,
		    ctl_conf->rate_net6);
	else
		(void)snprintf(net, sizeof(net), "%s", ip);
	if (strcmp(l->format, "nft") == 0)
		fprintf(l->out, "add element inet moat %s { %s timeout "
		    "%llds }\n", r->family == AF_INET ? "blocked4" :
		    "blocked6", net, (long long)(r->until - l->now));
	else if (strcmp(l->format, "ipset") == 0)
		fprintf(l->out, "add %s %s timeout %lld\n", r->family ==
		    AF_INET ? "moat-blocked4" : "moat-blocked6", net,
		    (long long)(r->until - l->now));
	else
		fprintf(l->out, "%-24s %8llds  %u  %.*s\n", net,
		    (long long)(r->until - l->now), r->offences,
		    (int)sizeof(r->reason), r->reason);
	return 1;
}

int
block_list(FILE *out, const char *format)
{
	struct listing l = { out, format, time(NULL) };

	if (strcmp(format, "plain") == 0)
		fprintf(out, "%-24s %9s  %s  %s\n", "address", "left",
		    "offences", "reason");
	return store_each(KIND_BLOCK, print_block, &l) == STORE_OK ? 0 : -1;
}

void
block_admin_conf(const struct conf *cf)
{
	ctl_conf = cf;
}
