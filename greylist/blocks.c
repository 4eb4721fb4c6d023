/*
 * blocks: the penalty box (see blocks.h).
 *
 * Keys: 'B', then a client's address (4 bytes) or masked IPv6 prefix
 * (16): its score and block.  'N', the prefix length, then the masked
 * network (4 or 16 bytes): a network blocked by hand.  'P' alone: which
 * prefix lengths the 'N' records use, per family, so that block_check
 * reads only those.  A block by hand sets its length there; moatctl
 * counts the lengths again when it lifts one.  So the map may name a
 * length no block uses any more (one expired or swept since): that
 * costs a read that finds nothing, never a missed block.
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
#define KIND_NETBLOCK	'N'
#define KIND_PREFIXES	'P'
#define SCORE_MEMORY	86400		/* points older than this are gone */
#define OFFENCE_MEMORY	(30 * 86400)	/* past blocks count this long */
#define SWEEP_MAX	2000		/* records looked at per sweep */
#define IPSET_TIMEOUT_MAX 2147483	/* seconds: ipset refuses more */

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

/* Bit n of bits[0] (IPv4) or bits[1] (IPv6): some network is /n. */
struct prefixes {
	uint64_t	bits[2][3];
	uint32_t	version;
	uint32_t	unused;
};

static const unsigned char prefixes_key[1] = { KIND_PREFIXES };

static const char *const event_names[BLOCK_EVENTS] = {
	[BLOCK_RATE] = "rate-limit",
	[BLOCK_GREYLIST_EARLY] = "greylist-early",
	[BLOCK_FORGED] = "forged-local-sender",
	[BLOCK_DICTIONARY] = "dictionary-attack",
	[BLOCK_PREGREET] = "pregreet",
	[BLOCK_FILTER] = "filter-refusal",
};

struct change {
	const struct conf *cf;
	int64_t		 now;
	unsigned	 points;	/* an event's weight */
	unsigned	 seconds;	/* a block by hand; 0: by score */
	const char	*reason;
	int		 blocked;	/* this change blocked the client */
	unsigned char	 key[STORE_KEY_MAX];
	size_t		 klen;
	struct block_rec rec;
};

static size_t
block_key(unsigned char *key, const struct sockaddr *sa, unsigned net6)
{
	key[0] = KIND_BLOCK;
	return 1 + netkey(sa, 32, net6, key + 1);
}

static size_t
net_key(unsigned char *key, const struct sockaddr *sa, unsigned bits)
{
	key[0] = KIND_NETBLOCK;
	key[1] = (unsigned char)bits;
	return 2 + netkey(sa, bits, bits, key + 2);
}

/* A block by hand: the client's own record at a client's length, a
 * network's at any other. */
static size_t
hand_key(unsigned char *key, const struct sockaddr *sa, unsigned bits,
    unsigned net6)
{
	if (bits == (sa->sa_family == AF_INET ? 32 : net6))
		return block_key(key, sa, net6);
	return net_key(key, sa, bits);
}

/* The address's first byte in the key, and its length (4 or 16; 0 for
 * a key of no known shape). */
static size_t
key_addr(const unsigned char *key, size_t klen, size_t *skip)
{
	*skip = key[0] == KIND_NETBLOCK ? 2 : 1;
	if (klen != *skip + 4 && klen != *skip + 16)
		return 0;
	if (*skip == 2 && (key[1] == 0 || key[1] > (klen == 6 ? 32 : 128)))
		return 0;
	return klen - *skip;
}

/* A block as people write it: ADDRESS (an IPv4 client), ADDRESS/LEN. */
static void
key_name(const unsigned char *key, size_t klen, unsigned net6, char *out,
    size_t outsize)
{
	char ip[INET6_ADDRSTRLEN];
	size_t skip, alen = key_addr(key, klen, &skip);
	unsigned bits = skip == 2 ? key[1] : alen == 4 ? 32 : net6;

	if (alen == 0 || inet_ntop(alen == 4 ? AF_INET : AF_INET6,
	    key + skip, ip, sizeof(ip)) == NULL)
		(void)snprintf(out, outsize, "?");
	else if (alen == 4 && bits == 32)
		(void)snprintf(out, outsize, "%s", ip);
	else
		(void)snprintf(out, outsize, "%s/%u", ip, bits);
}

static void
keep_address(struct block_rec *r, const unsigned char *key, size_t klen)
{
	size_t skip, alen = key_addr(key, klen, &skip);

	r->family = alen == 4 ? AF_INET : AF_INET6;
	memset(r->addr, 0, sizeof(r->addr));
	memcpy(r->addr, key + skip, alen);
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
	return store_update(c->key, c->klen, &c->rec, sizeof(c->rec), apply,
	    c) == STORE_OK ? 0 : -1;
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
	struct change c = { .cf = wk->conf, .now = time(NULL),
	    .reason = event_names[e] };

	if (c.cf->block_threshold == 0 || e >= BLOCK_EVENTS ||
	    (c.points = c.cf->block_weight[e]) == 0 ||
	    (c.klen = block_key(c.key, sa, c.cf->rate_net6)) == 1)
		return;
	if (change(&c) == 0 && c.blocked)
		log_block(&c);
}

/* ---- the check at accept ---- */

static int
prefix_used(const struct prefixes *p, int v6, unsigned n)
{
	return p->bits[v6][n / 64] >> (n % 64) & 1;
}

static void
prefix_mark(struct prefixes *p, int v6, unsigned n)
{
	p->bits[v6][n / 64] |= (uint64_t)1 << (n % 64);
}

struct lookup {
	const struct sockaddr *sa;
	unsigned	 net6;
	int64_t		 now;
	struct block_hit *hit;
	int		 found;
};

/* 1 when the record under key blocks now. */
static int
blocks_now(struct store_view *v, struct lookup *l, const unsigned char *key,
    size_t klen)
{
	struct block_rec r;

	if (store_view_get(v, key, klen, &r, sizeof(r)) != STORE_OK ||
	    r.until <= l->now)
		return 0;
	(void)snprintf(l->hit->reason, sizeof(l->hit->reason), "%.*s",
	    (int)sizeof(r.reason), r.reason);
	key_name(key, klen, l->net6, l->hit->net, sizeof(l->hit->net));
	return l->found = 1;
}

/* The client's record, then each network length in use, longest first. */
static void
look(struct store_view *v, void *arg)
{
	struct lookup *l = arg;
	unsigned char key[STORE_KEY_MAX];
	struct prefixes p;
	size_t klen;
	int v6 = l->sa->sa_family == AF_INET6;
	unsigned n;

	if ((klen = block_key(key, l->sa, l->net6)) == 1 ||
	    blocks_now(v, l, key, klen) ||
	    store_view_get(v, prefixes_key, sizeof(prefixes_key), &p,
	    sizeof(p)) != STORE_OK)
		return;
	for (n = v6 ? 128 : 32; n > 0; n--)
		if (prefix_used(&p, v6, n) &&
		    blocks_now(v, l, key, net_key(key, l->sa, n)))
			return;
}

static int
find(const struct sockaddr *sa, unsigned net6, struct block_hit *hit)
{
	struct lookup l = { sa, net6, time(NULL), hit, 0 };

	if (!store_active() || store_view(look, &l) != STORE_OK)
		return 0;
	return l.found;
}

int
block_check(const struct sockaddr *sa, struct block_hit *hit)
{
	return find(sa, wk->conf->rate_net6, hit);
}

static int
net_expired(const void *val, size_t vlen, void *arg)
{
	const struct block_rec *r = val;

	return vlen != sizeof(*r) || r->until <= *(const int64_t *)arg;
}

/* A client record with nothing left to remember: no block, no fresh
 * score, no block in the last OFFENCE_MEMORY to make the next longer. */
static int
client_done(const void *val, size_t vlen, void *arg)
{
	const struct block_rec *r = val;
	int64_t now = *(const int64_t *)arg;

	if (vlen != sizeof(*r))
		return 1;
	return r->until <= now && now - r->score_at > SCORE_MEMORY &&
	    (r->offences == 0 || now - r->until > OFFENCE_MEMORY);
}

struct blocked {
	int64_t		 now;
	uint64_t	 n;
};

static int
count_blocked(const void *key, size_t klen, const void *val, size_t vlen,
    void *arg)
{
	const struct block_rec *r = val;
	struct blocked *b = arg;

	(void)key;
	(void)klen;
	if (vlen == sizeof(*r) && r->until > b->now)
		b->n++;
	return 1;
}

int
block_count(time_t now, uint64_t *clients, uint64_t *nets)
{
	struct blocked c = { .now = now }, n = { .now = now };

	if (store_each(KIND_BLOCK, count_blocked, &c) != STORE_OK ||
	    store_each(KIND_NETBLOCK, count_blocked, &n) != STORE_OK)
		return -1;
	*clients = c.n;
	*nets = n.n;
	return 0;
}

void
block_sweep(time_t now)
{
	int64_t t = now;

	(void)store_sweep(KIND_NETBLOCK, SWEEP_MAX, net_expired, &t);
	(void)store_sweep(KIND_BLOCK, SWEEP_MAX, client_done, &t);
}

void
block_for(const struct sockaddr *sa, unsigned seconds, const char *why)
{
	struct change c = { .cf = wk->conf, .now = time(NULL),
	    .reason = why };

	c.seconds = seconds < c.cf->block_time_max ? seconds :
	    c.cf->block_time_max;
	if (c.seconds == 0 ||
	    (c.klen = block_key(c.key, sa, c.cf->rate_net6)) == 1)
		return;
	if (change(&c) == 0 && c.blocked)
		log_block(&c);
}

/* ---- by hand (moatctl) ---- */

static const struct conf *ctl_conf;

static enum store_action
mark_length(void *val, int found, void *arg)
{
	struct prefixes *p = val;
	const struct change *c = arg;

	(void)found;
	p->version = 1;
	prefix_mark(p, c->klen == 18, c->key[1]);
	return STORE_WRITE;
}

int
block_set(const struct sockaddr *sa, unsigned bits, unsigned seconds,
    const char *why)
{
	struct change c = { .cf = ctl_conf, .now = time(NULL),
	    .reason = why };
	struct prefixes p;
	size_t skip;

	c.seconds = seconds ? seconds : ctl_conf->block_time;
	c.klen = hand_key(c.key, sa, bits, ctl_conf->rate_net6);
	if (key_addr(c.key, c.klen, &skip) == 0 || change(&c) == -1)
		return -1;
	if (c.key[0] != KIND_NETBLOCK)
		return 0;
	return store_update(prefixes_key, sizeof(prefixes_key), &p, sizeof(p),
	    mark_length, &c) == STORE_OK ? 0 : -1;
}

struct count {
	int64_t		 now;
	struct prefixes	 p;
};

static int
count_length(const void *key, size_t klen, const void *val, size_t vlen,
    void *arg)
{
	const struct block_rec *r = val;
	const unsigned char *k = key;
	struct count *c = arg;
	size_t skip;

	if (vlen == sizeof(*r) && r->until > c->now &&
	    key_addr(k, klen, &skip) != 0)
		prefix_mark(&c->p, klen == 18, k[1]);
	return 1;
}

/*
 * The lengths the network blocks use, counted again.  The walk is a read
 * transaction inside this write transaction (MDB_NOTLS allows it), so no
 * block by hand is written meanwhile: one written before is counted, one
 * written after marks its own length.
 */
static enum store_action
recount(void *val, int found, void *arg)
{
	struct prefixes *p = val;
	struct count c = { .now = time(NULL) };

	(void)found;
	(void)arg;
	if (store_each(KIND_NETBLOCK, count_length, &c) != STORE_OK)
		return STORE_KEEP;
	*p = c.p;
	p->version = 1;
	return STORE_WRITE;
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
block_clear(const struct sockaddr *sa, unsigned bits)
{
	unsigned char key[STORE_KEY_MAX];
	struct block_rec r;
	struct prefixes p;
	size_t klen = hand_key(key, sa, bits, ctl_conf->rate_net6), skip;

	if (key_addr(key, klen, &skip) == 0)
		return -1;
	if (key[0] != KIND_NETBLOCK)
		return store_update(key, klen, &r, sizeof(r), lift, NULL) ==
		    STORE_OK ? 0 : -1;
	if (store_delete(key, klen) == STORE_FAIL)
		return -1;
	return store_update(prefixes_key, sizeof(prefixes_key), &p, sizeof(p),
	    recount, NULL) == STORE_OK ? 0 : -1;
}

int
block_admin_check(const struct sockaddr *sa, struct block_hit *hit)
{
	return find(sa, ctl_conf->rate_net6, hit);
}

struct listing {
	FILE		*out;
	const char	*format;
	int64_t		 now;
	size_t		 alen;		/* this walk's family: 4 or 16 */
};

static int
print_block(const void *key, size_t klen, const void *val, size_t vlen,
    void *arg)
{
	const struct block_rec *r = val;
	struct listing *l = arg;
	char net[INET6_ADDRSTRLEN + 8];
	long long left;
	size_t skip;
	int v4 = l->alen == 4;

	if (vlen != sizeof(*r) || r->until <= l->now ||
	    key_addr(key, klen, &skip) != l->alen)
		return 1;
	key_name(key, klen, ctl_conf->rate_net6, net, sizeof(net));
	left = (long long)(r->until - l->now);
	if (strcmp(l->format, "nft") == 0)
		fprintf(l->out, "add element inet moat %s { %s timeout "
		    "%llds }\n", v4 ? "blocked4" : "blocked6", net, left);
	else if (strcmp(l->format, "ipset") == 0)
		fprintf(l->out, "add %s %s timeout %lld -exist\n", v4 ?
		    "moat-blocked4" : "moat-blocked6", net,
		    left < IPSET_TIMEOUT_MAX ? left : IPSET_TIMEOUT_MAX);
	else
		fprintf(l->out, "%-24s %8llds  %u  %.*s\n", net, left,
		    r->offences, (int)sizeof(r->reason), r->reason);
	return 1;
}

/* The sets, made if missing, so the output loads on a fresh machine;
 * auto-merge lets a set hold a block inside another. */
static void
print_sets(FILE *out, const char *format)
{
	if (strcmp(format, "nft") == 0)
		fputs("add table inet moat\n"
		    "add set inet moat blocked4 { type ipv4_addr; "
		    "flags interval, timeout; auto-merge; }\n"
		    "add set inet moat blocked6 { type ipv6_addr; "
		    "flags interval, timeout; auto-merge; }\n", out);
	else if (strcmp(format, "ipset") == 0)
		fputs("create moat-blocked4 hash:net family inet timeout 0 "
		    "-exist\n"
		    "create moat-blocked6 hash:net family inet6 timeout 0 "
		    "-exist\n", out);
	else
		fprintf(out, "%-24s %9s  %s  %s\n", "address", "left",
		    "offences", "reason");
}

/*
 * The IPv4 blocks first, then the IPv6: nft 1.0.6 refuses a batch that
 * goes back to a set with auto-merge after adding to another one.
 */
int
block_list(FILE *out, const char *format)
{
	static const unsigned char kinds[] = { KIND_BLOCK, KIND_NETBLOCK };
	struct listing l = { out, format, time(NULL), 4 };
	size_t i;

	print_sets(out, format);
	for (l.alen = 4; l.alen <= 16; l.alen += 12)
		for (i = 0; i < sizeof(kinds); i++)
			if (store_each(kinds[i], print_block, &l) != STORE_OK)
				return -1;
	return 0;
}

void
block_admin_conf(const struct conf *cf)
{
	ctl_conf = cf;
}
