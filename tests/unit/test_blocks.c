/*
 * test_blocks: the block list on a real store: blocks by hand on clients
 * and networks, what block_check finds for addresses inside and outside
 * them, unblocking (and the lengths counted again), the sweep of
 * expired networks, and the firewall formats of the list.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "../../conf/conf.h"
#include "../../greylist/blocks.h"
#include "../../greylist/store.h"
#include "../../smtpd/smtp.h"


static int
set(const char *ip, unsigned bits, unsigned seconds, const char *why)
{
	struct sockaddr_storage ss = t_addr(ip);

	return block_set((struct sockaddr *)&ss, bits, seconds, why);
}

static int
clear(const char *ip, unsigned bits)
{
	struct sockaddr_storage ss = t_addr(ip);

	return block_clear((struct sockaddr *)&ss, bits);
}

/* The block that holds ip ("" for none), as the worker finds it. */
static const char *
check(const char *ip)
{
	static struct block_hit hit;
	struct sockaddr_storage ss = t_addr(ip);

	if (!block_check((struct sockaddr *)&ss, &hit))
		return "";
	return hit.net;
}

static const struct {
	const char	*ip, *block;
} inside[] = {
	{ "10.1.2.9", "10.1.2.0/24" },
	{ "10.1.2.200", "10.1.2.0/24" },
	{ "10.1.2.0", "10.1.2.0/24" },
	{ "10.1.2.255", "10.1.2.0/24" },
	{ "10.1.3.9", "10.0.0.0/8" },
	{ "10.255.0.1", "10.0.0.0/8" },
	{ "10.1.2.7", "10.1.2.7" },		/* its own record first */
	{ "11.0.0.1", "" },
	{ "9.255.255.255", "" },
	{ "192.0.2.8", "192.0.2.8/31" },
	{ "192.0.2.9", "192.0.2.8/31" },
	{ "192.0.2.10", "" },
	{ "2001:db8:0:ffff::1", "2001:db8::/48" },
	{ "2001:db8:1::1", "" },
	{ "2001:db8:5::7", "2001:db8:5::7/128" },
	{ "2001:db8:5::8", "" },		/* the same /64 */
	{ "2001:db8:6::1234", "2001:db8:6::/64" },	/* a client (/64) */
	{ "::ffff:10.1.2.9", "" },		/* another family */
};

static void
test_inside(void)
{
	size_t i;

	CHECK(set("10.1.2.0", 24, 7200, "spam-run") == 0, "block /24");
	CHECK(set("10.0.0.0", 8, 3600, "wide") == 0, "block /8");
	CHECK(set("10.1.2.7", 32, 0, "host") == 0, "block a host");
	CHECK(set("192.0.2.8", 31, 60, "pair") == 0, "block /31");
	CHECK(set("2001:db8::", 48, 3600, "v6") == 0, "block /48");
	CHECK(set("2001:db8:5::7", 128, 3600, "one") == 0, "block /128");
	CHECK(set("2001:db8:6::", 64, 3600, "client") == 0, "block /64");
	for (i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
		CHECK(strcmp(check(inside[i].ip), inside[i].block) == 0,
		    "%s in \"%s\", not \"%s\"", inside[i].ip,
		    check(inside[i].ip), inside[i].block);
	CHECK(set("10.0.0.0", 0, 60, "world") == -1, "/0 refused");
	CHECK(set("10.0.0.0", 33, 60, "past") == -1, "/33 refused");
	CHECK(set("2001:db8::", 129, 60, "past") == -1, "/129 refused");
}

/* The lengths the store says some IPv4 network uses. */
static uint64_t
lengths4(void)
{
	uint64_t p[7];

	if (store_get("P", 1, p, sizeof(p)) != STORE_OK)
		return UINT64_MAX;
	return p[0];
}

static void
test_unblock(void)
{
	struct block_hit hit;
	struct sockaddr_storage ss = t_addr("10.1.2.9");

	CHECK(lengths4() == ((1ULL << 8) | (1ULL << 24) | (1ULL << 31)),
	    "lengths %llx", (unsigned long long)lengths4());
	CHECK(clear("10.1.2.0", 24) == 0, "unblock /24");
	CHECK(strcmp(check("10.1.2.9"), "10.0.0.0/8") == 0, "the /8 holds");
	CHECK(block_admin_check((struct sockaddr *)&ss, &hit) == 1 &&
	    strcmp(hit.reason, "wide") == 0, "moatctl sees the /8");
	CHECK(lengths4() == ((1ULL << 8) | (1ULL << 31)), "lengths %llx",
	    (unsigned long long)lengths4());
	CHECK(clear("10.0.0.0", 8) == 0, "unblock /8");
	CHECK(strcmp(check("10.1.2.9"), "") == 0, "free");
	CHECK(strcmp(check("10.1.2.7"), "10.1.2.7") == 0, "the host holds");
	CHECK(clear("10.1.2.7", 32) == 0, "unblock the host");
	CHECK(strcmp(check("10.1.2.7"), "") == 0, "the host is free");
	CHECK(clear("192.0.2.8", 31) == 0 && lengths4() == 0, "lengths %llx",
	    (unsigned long long)lengths4());
	CHECK(clear("10.9.0.0", 16) == 0, "unblocking nothing is no error");
}

static int
count_one(const void *key, size_t klen, const void *val, size_t vlen,
    void *arg)
{
	(*(size_t *)arg)++;
	return 1;
}

static size_t
client_records(void)
{
	size_t n = 0;

	(void)store_each('B', count_one, &n);
	return n;
}

static void
test_sweep(void)
{
	time_t later = time(NULL) + 120;

	CHECK(set("10.5.0.0", 16, 60, "short") == 0, "block /16");
	CHECK(set("10.6.0.1", 32, 60, "host") == 0, "block a host");
	block_sweep(later);
	/* swept: gone even now; a client's record stays (its offences) */
	CHECK(strcmp(check("10.5.1.1"), "") == 0, "swept");
	CHECK(strcmp(check("10.6.0.1"), "10.6.0.1") == 0, "kept");
	CHECK(strcmp(check("2001:db8::1"), "2001:db8::/48") == 0,
	    "not yet expired: kept");
	CHECK(clear("10.6.0.1", 32) == 0, "unblock");
	CHECK(client_records() > 0, "the unblocked client is remembered");
}

/* Last: it sweeps everything. */
static void
test_sweep_clients(void)
{
	block_sweep(time(NULL) + 40 * 86400);
	CHECK(client_records() == 0, "a month later clients are forgotten: "
	    "%zu", client_records());
}

static char *
list(const char *format)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);

	if (f == NULL || block_list(f, format) == -1 || fclose(f) != 0)
		return strdup("");
	return text;
}

static int
starts(const char *text, const char *prefix)
{
	return strncmp(text, prefix, strlen(prefix)) == 0;
}

static void
test_list(void)
{
	char *nft, *ipset, *plain, *v4, *v6;

	CHECK(set("10.1.2.0", 24, 7200, "spam-run") == 0, "block /24");
	nft = list("nft");
	ipset = list("ipset");
	plain = list("plain");
	CHECK(starts(nft, "add table inet moat\n"
	    "add set inet moat blocked4 { type ipv4_addr; flags interval, "
	    "timeout; auto-merge; }\n"), "%s", nft);
	v4 = strstr(nft, "add element inet moat blocked4 { 10.1.2.0/24 "
	    "timeout 7");
	v6 = strstr(nft, "add element inet moat blocked6 { 2001:db8::/48 "
	    "timeout ");
	CHECK(v4 != NULL && v6 != NULL && v4 < v6, "%s", nft);
	CHECK(strstr(nft, "2001:db8:5::7/128 timeout") != NULL, "%s", nft);
	CHECK(starts(ipset, "create moat-blocked4 hash:net family inet "
	    "timeout 0 -exist\ncreate moat-blocked6 hash:net family inet6 "
	    "timeout 0 -exist\n"), "%s", ipset);
	CHECK(strstr(ipset, "add moat-blocked4 10.1.2.0/24 timeout 7") !=
	    NULL, "%s", ipset);
	CHECK(strstr(ipset, "add moat-blocked6 2001:db8:6::/64 timeout ") !=
	    NULL, "%s", ipset);
	CHECK(strstr(plain, "10.1.2.0/24 ") != NULL &&
	    strstr(plain, "spam-run") != NULL, "%s", plain);
	free(nft);
	free(ipset);
	free(plain);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	static struct worker w;
	static struct conf cf;
	char dir[] = "/tmp/test_blocks.XXXXXX";

	if (mkdtemp(dir) == NULL || store_open(dir, 16 << 20) == -1) {
		perror("store");
		return 1;
	}
	conf_defaults(&cf);
	cf.block_threshold = 10;
	cf.rate_net6 = 64;
	w.conf = &cf;
	wk = &w;
	block_admin_conf(&cf);
	test_inside();
	test_unblock();
	test_sweep();
	test_list();
	test_sweep_clients();
	store_close();
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	T_DONE();
}
