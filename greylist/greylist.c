/*
 * greylist: the triplet check at RCPT (see greylist.h).
 *
 * Records in the store: 'g' + SHA-256(network, sender, recipient) for a
 * triplet, 'a' + SHA-256(network) for a network's auto-allowlist count;
 * the keys are fixed-size whatever the addresses.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "../dnsbl/client.h"
#include "../dnsbl/dynptr.h"
#include "../metrics/counters.h"
#include "../smtpd/check.h"
#include "../smtpd/log.h"
#include "blocks.h"
#include "greylist.h"
#include "netkey.h"
#include "rates.h"
#include "record.h"
#include "store.h"

#define NET_MAX		64
#define SENDER_MAX	600
#define AWL_REFRESH	3600		/* seconds between two AWL writes */
#define SWEEP_EVERY	60
#define SWEEP_MAX	2000		/* records looked at per sweep */

struct decision {
	const struct conf *cf;
	int64_t		 now;
	enum grey_result result;
	struct grey_rec	 rec;		/* as written */
	int		 first_pass;
	char		 triplet[GREY_TEXT_MAX];	/* for moatctl */
	const char	*net;
};

static const char *const result_names[] = {
	[GREY_SKIP] = "skip", [GREY_NEW] = "new", [GREY_EARLY] = "early",
	[GREY_PASSED] = "passed", [GREY_AWL] = "awl", [GREY_FAIL] = "skip",
};

int
greylist_setup(const struct conf *c)
{
	return store_open(c->state_db, c->state_db_size);
}

/* ---- what the key is made of ---- */

/* BATV: prvs=TAG=user, msprvs1=TAG=user, btv1==TAG==user. */
static const char *
after_tag(const char *local, const char *prefix, const char *sep)
{
	size_t n = strlen(prefix);
	const char *end;

	if (strncmp(local, prefix, n) != 0 ||
	    (end = strstr(local + n, sep)) == NULL ||
	    end[strlen(sep)] == '\0')
		return NULL;
	return end + strlen(sep);
}

/* SRS0=HHH=TT=domain=local, SRS1=HHH=forwarder==HHH=TT=domain=local:
 * the hashes and the timestamp change with every bounce address. */
static void
srs_strip(const char *local, char *out, size_t outsize)
{
	const char *fwd, *dd, *t, *rest;

	if (strncmp(local, "srs0=", 5) == 0 &&
	    (t = strchr(local + 5, '=')) != NULL &&
	    (rest = strchr(t + 1, '=')) != NULL) {
		(void)snprintf(out, outsize, "srs0=%s", rest + 1);
		return;
	}
	if (strncmp(local, "srs1=", 5) == 0 &&
	    (fwd = strchr(local + 5, '=')) != NULL &&
	    (dd = strstr(fwd + 1, "==")) != NULL &&
	    (t = strchr(dd + 2, '=')) != NULL &&
	    (rest = strchr(t + 1, '=')) != NULL) {
		(void)snprintf(out, outsize, "srs1=%.*s==%s",
		    (int)(dd - fwd - 1), fwd + 1, rest + 1);
		return;
	}
	(void)snprintf(out, outsize, "%s", local);
}

void
greylist_sender(const char *addr, char *out, size_t outsize)
{
	static const char *const batv[][2] = { { "prvs=", "=" },
	    { "msprvs1=", "=" }, { "btv1==", "==" } };
	char buf[SENDER_MAX], local[SENDER_MAX];
	const char *l, *p;
	char *at;
	size_t i;

	for (i = 0; addr[i] != '\0' && i + 1 < sizeof(buf); i++)
		buf[i] = (char)(addr[i] >= 'A' && addr[i] <= 'Z' ?
		    addr[i] - 'A' + 'a' : addr[i]);
	buf[i] = '\0';
	if ((at = strrchr(buf, '@')) != NULL)
		*at = '\0';
	l = buf;
	for (i = 0; i < sizeof(batv) / sizeof(batv[0]); i++)
		if ((p = after_tag(l, batv[i][0], batv[i][1])) != NULL)
			l = p;
	srs_strip(l, local, sizeof(local));
	(void)snprintf(out, outsize, "%s%s%s", local, at ? "@" : "",
	    at ? at + 1 : "");
}

int
greylist_network(const struct sockaddr *sa, unsigned bits4, unsigned bits6,
    char *out, size_t outsize)
{
	char txt[INET6_ADDRSTRLEN];
	unsigned char a[16];
	size_t n = netkey(sa, bits4, bits6, a);

	if (n == 0)
		return -1;
	(void)inet_ntop(n == 4 ? AF_INET : AF_INET6, a, txt, sizeof(txt));
	(void)snprintf(out, outsize, "%s/%u", txt, n == 4 ? bits4 : bits6);
	return 0;
}

/*
 * The organisational domain of a host name, without a public suffix
 * list: its last two labels, or three under a country's generic second
 * level (example.co.uk, example.com.au, example.ne.jp).
 */
const char *
greylist_org_domain(const char *name)
{
	static const char *const generic[] = { "co", "com", "net", "org",
	    "ac", "gov", "edu", "ne", "or", "go", "gv", "mil", "ltd", "plc",
	    "sch", "nhs", "gob", "gouv" };
	const char *label[3], *two, *three, *p;
	size_t i, nd = 0, sld;

	/* label[k]: where the (k+1)-th label from the end starts */
	for (p = name + strlen(name); p > name && nd < 3; p--)
		if (p[-1] == '.')
			label[nd++] = p;
	if (nd == 0)
		return name;
	two = nd >= 2 ? label[1] : name;
	three = nd >= 3 ? label[2] : name;
	sld = (size_t)(label[0] - two - 1);
	if (strlen(label[0]) == 2)
		for (i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
			if (sld == strlen(generic[i]) &&
			    strncmp(two, generic[i], sld) == 0)
				return three;
	return two;
}

void
greylist_key(unsigned char key[GREY_KEY_LEN], unsigned char kind,
    const char *a, const char *b, const char *c)
{
	unsigned char buf[NET_MAX + 2 * SENDER_MAX + 4];
	unsigned int mdlen = 32;
	size_t n;

	n = (size_t)snprintf((char *)buf, sizeof(buf), "%s%c%s%c%s", a, 0,
	    b, 0, c);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	key[0] = kind;
	if (EVP_Digest(buf, n, key + 1, &mdlen, EVP_sha256(), NULL) != 1)
		memset(key + 1, 0, GREY_KEY_LEN - 1);	/* one shared key: harmless */
}

/* ---- the decision, inside the store's write transaction ---- */

static enum store_action
decide(void *val, int found, void *arg)
{
	struct grey_rec *r = val;
	struct decision *d = arg;
	const struct conf *cf = d->cf;

	if (!found || (r->passed == 0 && d->now - r->first >
	    (int64_t)cf->greylist_window) || (r->passed != 0 &&
	    d->now - r->last > (int64_t)cf->greylist_expire)) {
		memset(r, 0, sizeof(*r));
		r->first = d->now;
		r->version = 1;
		(void)snprintf(r->triplet, sizeof(r->triplet), "%s", d->triplet);
		d->result = GREY_NEW;
	} else if (r->passed != 0) {
		d->result = GREY_PASSED;
	} else if (d->now - r->first < (int64_t)cf->greylist_delay) {
		r->early++;
		d->result = GREY_EARLY;
	} else {
		r->passed = d->now;
		d->first_pass = 1;
		d->result = GREY_PASSED;
	}
	r->last = d->now;
	d->rec = *r;
	return STORE_WRITE;
}

static enum store_action
awl_bump(void *val, int found, void *arg)
{
	struct awl_rec *a = val;
	const struct decision *d = arg;

	if (found && d->now - a->last > (int64_t)d->cf->greylist_expire)
		a->passes = 0;		/* forgotten: it counts again */
	a->passes++;
	a->last = d->now;
	a->version = 1;
	(void)snprintf(a->net, sizeof(a->net), "%s", d->net);
	return STORE_WRITE;
}

static enum store_action
awl_touch(void *val, int found, void *arg)
{
	struct awl_rec *a = val;

	if (!found)
		return STORE_KEEP;
	a->last = *(const int64_t *)arg;
	return STORE_WRITE;
}

/* The network passed often enough: every triplet of it goes through. */
static int
awl_listed(const struct conf *cf, const unsigned char key[GREY_KEY_LEN],
    int64_t now)
{
	struct awl_rec a;

	if (cf->greylist_awl == 0 ||
	    store_get(key, GREY_KEY_LEN, &a, sizeof(a)) != STORE_OK ||
	    a.passes < cf->greylist_awl ||
	    now - a.last > (int64_t)cf->greylist_expire)
		return 0;
	if (now - a.last > AWL_REFRESH)
		(void)store_update(key, GREY_KEY_LEN, &a, sizeof(a), awl_touch,
		    &now);
	return 1;
}

/* ---- the RCPT check ---- */

/*
 * The client part of a triplet: its network, or with greylist_key =
 * ptr-domain the organisational domain of its forward-confirmed PTR
 * name when that name is not a dynamic one (a big sender retries from
 * another host of its pool, often in another network).
 */
static int
client_key(const struct session *s, char *out, size_t outsize)
{
	const struct conf *cf = wk->conf;
	const char *ptr = dns_client_ptr(s), *which;

	if (cf->greylist_key == GREYLIST_KEY_PTR_DOMAIN && ptr[0] != '\0' &&
	    (cf->dynamic_ptr[0] == '\0' || !dynptr_match(ptr,
	    (const struct sockaddr *)&s->peer, &which))) {
		(void)snprintf(out, outsize, "ptr:%.*s", (int)outsize - 5,
		    greylist_org_domain(ptr));
		return 0;
	}
	return greylist_network((const struct sockaddr *)&s->peer,
	    cf->greylist_net4, cf->greylist_net6, out, outsize);
}

/*
 * The sender's domain on the allow map: "from:DOMAIN" or "from:.SUFFIX".
 * Only keys written so count: anyone can write any sender, so a client
 * name on the map never lets a forged sender through.
 */
static int
sender_allowed(struct map *m, const char *domain)
{
	char key[MAP_KEY_MAX], val[MAP_VALUE_MAX];
	const char *d = domain;

	if (snprintf(key, sizeof(key), "from:%s", d) < (int)sizeof(key) &&
	    map_get(m, key, val, sizeof(val)) == 1)
		return 1;
	while ((d = strchr(d, '.')) != NULL) {
		if (snprintf(key, sizeof(key), "from:%s", d) <
		    (int)sizeof(key) && map_get(m, key, val, sizeof(val)) == 1)
			return 1;
		d++;
	}
	return 0;
}

/* The greylist_allow map: the client's verified name (or a parent
 * ".suffix"), or the sender's domain as a "from:" key, says OK. */
static int
allow_listed(const struct session *s)
{
	struct map *m = &wk->maps[MAP_GREYLIST_ALLOW];
	char val[MAP_VALUE_MAX], matched[MAP_KEY_MAX];
	const char *ptr = dns_client_ptr(s);

	if (!m->open)
		return 0;
	if (ptr[0] != '\0' && map_get_domain(m, ptr, val, sizeof(val),
	    matched, sizeof(matched)) == 1)
		return 1;
	return !s->tx->sender.null && s->tx->sender.domain[0] != '\0' &&
	    sender_allowed(m, s->tx->sender.domain);
}

static int
exempt(const struct session *s, const char *rcpt)
{
	const char *at = strchr(rcpt, '@');
	size_t n = at ? (size_t)(at - rcpt) : strlen(rcpt);

	if (n == 10 && strncasecmp(rcpt, "postmaster", 10) == 0)
		return 1;
	return s->client_ok || dns_client_allowlisted(s) || allow_listed(s);
}

/* A new or early triplet is a refusal of class greylist as well. */
static void
count_decision(enum grey_result r)
{
	static const enum ctr ctrs[] = {
		[GREY_SKIP] = CTR_GREY_SKIP, [GREY_NEW] = CTR_GREY_NEW,
		[GREY_EARLY] = CTR_GREY_EARLY, [GREY_PASSED] = CTR_GREY_PASSED,
		[GREY_AWL] = CTR_GREY_AWL, [GREY_FAIL] = CTR_GREY_SKIP,
	};

	ctr_add(ctrs[r], 1);
	if (r == GREY_NEW || r == GREY_EARLY)
		ctr_refusal("greylist", "rcpt");
}

/* The decision's line; the transaction keeps its result for filters. */
static void
log_decision(struct session *s, const char *rcpt, const char *net,
    const struct decision *d, unsigned retry_in)
{
	struct kv k;

	s->tx->greylist = result_names[d->result];
	kv_begin(&k, "greylist");
	kv_id(&k, "session", s->id);
	kv_str(&k, "ip", s->ip);
	kv_str(&k, "from", s->tx->sender.null ? "" : s->tx->sender.text);
	kv_str(&k, "to", rcpt);
	kv_str(&k, "result", result_names[d->result]);
	if (net != NULL)
		kv_str(&k, "net", net);
	if (d->result == GREY_PASSED)
		kv_int(&k, "delay", (long long)(d->rec.passed - d->rec.first));
	if (d->result == GREY_NEW || d->result == GREY_EARLY)
		kv_uint(&k, "retry_in", retry_in);
	if (d->result == GREY_EARLY) {
		kv_uint(&k, "early", d->rec.early);
		if (d->rec.early > d->cf->greylist_early_max)
			kv_str(&k, "abuse", "resends-too-early");
	}
	if (d->result == GREY_FAIL)
		kv_str(&k, "reason", "store-failed");
	kv_emit(&k);
	count_decision(d->result);
}

void
greylist_rcpt(struct session *s, const char *rcpt, struct verdict *v)
{
	const struct conf *cf = wk->conf;
	unsigned char key[GREY_KEY_LEN], awl[GREY_KEY_LEN];
	char net[NET_MAX], sender[SENDER_MAX];
	struct decision d;
	struct awl_rec a;
	unsigned wait;

	verdict_pass(v);
	if (!cf->greylist || s->tx == NULL)
		return;
	memset(&d, 0, sizeof(d));
	d.cf = cf;
	d.now = time(NULL);
	if (exempt(s, rcpt) || client_key(s, net, sizeof(net)) == -1) {
		d.result = GREY_SKIP;
		log_decision(s, rcpt, NULL, &d, 0);
		return;
	}
	greylist_sender(s->tx->sender.null ? "" : s->tx->sender.text, sender,
	    sizeof(sender));
	d.net = net;
	greylist_key(awl, KIND_AWL, net, "", "");
	if (awl_listed(cf, awl, d.now)) {
		d.result = GREY_AWL;
		log_decision(s, rcpt, net, &d, 0);
		return;
	}
	greylist_key(key, KIND_TRIPLET, net, sender, rcpt);
	if (snprintf(d.triplet, sizeof(d.triplet), "%s %s %s", net,
	    sender[0] ? sender : "<>", rcpt) >= (int)sizeof(d.triplet))
		d.triplet[sizeof(d.triplet) - 2] = '~';	/* cut: say so */
	if (store_update(key, GREY_KEY_LEN, &d.rec, sizeof(d.rec), decide,
	    &d) != STORE_OK) {
		d.result = GREY_FAIL;
		log_decision(s, rcpt, net, &d, 0);
		return;
	}
	if (d.first_pass)
		(void)store_update(awl, GREY_KEY_LEN, &a, sizeof(a), awl_bump,
		    &d);
	wait = d.rec.first + (int64_t)cf->greylist_delay > d.now ?
	    (unsigned)(d.rec.first + (int64_t)cf->greylist_delay - d.now) :
	    0;
	log_decision(s, rcpt, net, &d, wait);
	if (d.result == GREY_EARLY && d.rec.early > cf->greylist_early_max)
		block_event((const struct sockaddr *)&s->peer,
		    BLOCK_GREYLIST_EARLY);
	if (d.result == GREY_NEW || d.result == GREY_EARLY)
		verdict_set(v, V_TEMPFAIL, 451, "4.7.1", "greylist",
		    "Greylisted: please try again in %u seconds",
		    wait > 0 ? wait : 1);
}

/* ---- forgetting ---- */

static int
triplet_done(const void *val, size_t vlen, void *arg)
{
	const struct grey_rec *r = val;
	const struct conf *cf = wk->conf;
	int64_t now = *(const int64_t *)arg;

	if (vlen != sizeof(*r))
		return 1;
	if (r->passed == 0)
		return now - r->first > (int64_t)cf->greylist_window;
	return now - r->last > (int64_t)cf->greylist_expire;
}

static int
awl_done(const void *val, size_t vlen, void *arg)
{
	const struct awl_rec *a = val;

	return vlen != sizeof(*a) || *(const int64_t *)arg - a->last >
	    (int64_t)wk->conf->greylist_expire;
}

void
greylist_tick(time_t now)
{
	static time_t last;
	int64_t t = now;

	if (!store_active() || now - last < SWEEP_EVERY)
		return;
	last = now;
	(void)store_sweep(KIND_TRIPLET, SWEEP_MAX, triplet_done, &t);
	(void)store_sweep(KIND_AWL, SWEEP_MAX, awl_done, &t);
	rate_sweep();
	block_sweep(now);
}
