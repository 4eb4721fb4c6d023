/*
 * limits: shared per-IP and total session counters (see limits.h).
 */
#include <sys/mman.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "../greylist/netkey.h"
#include "limits.h"

struct ipslot {
	unsigned char	key[16];	/* IPv4 as v4-mapped IPv6 */
	uint32_t	used;		/* key valid */
	uint32_t	count;		/* open sessions */
};

struct wslot {
	uint32_t	total;
	uint32_t	used_keys;	/* used entries, to know when to sweep */
};

struct shared_flags {
	uint32_t	spool_low;	/* below min_free_space */
	uint32_t	store_gen;	/* the state store file now */
	uint32_t	store_broken;	/* a report: store_gen + 1, or 0 */
};

_Static_assert(sizeof(struct shared_flags) <= sizeof(struct ipslot),
    "the flags live in the first ipslot's room");

static struct shared_flags *flags;
static struct wslot	*wslots;
static struct ipslot	*tables;	/* nslots * tsize */
static unsigned		 nslots_, tsize, myslot;
static unsigned		 net6 = 128;	/* one IPv6 client: its prefix */
static size_t		 map_size;

int
limits_init(unsigned nslots, unsigned max_sessions)
{
	size_t size;

	tsize = 64;
	while (tsize < max_sessions * 2u && tsize < (1u << 22))
		tsize *= 2;
	nslots_ = nslots;
	size = sizeof(struct ipslot) + sizeof(struct wslot) *
	    LIMITS_MAX_WORKERS + sizeof(struct ipslot) * (size_t)tsize * nslots;
	flags = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (flags == MAP_FAILED) {
		flags = NULL;
		return -1;
	}
	map_size = size;
	/* one ipslot's room keeps what follows aligned */
	wslots = (struct wslot *)((struct ipslot *)flags + 1);
	tables = (struct ipslot *)(wslots + LIMITS_MAX_WORKERS);
	return 0;
}

static struct ipslot *
slot_table(unsigned slot)
{
	return tables + (size_t)slot * tsize;
}

void
limits_detach(void)
{
	if (flags != NULL)
		(void)munmap(flags, map_size);
	flags = NULL;
	wslots = NULL;
	tables = NULL;
	nslots_ = 0;
}

void
limits_clear_slot(unsigned slot)
{
	if (wslots == NULL || slot >= nslots_)
		return;
	__atomic_store_n(&wslots[slot].total, 0, __ATOMIC_RELAXED);
	wslots[slot].used_keys = 0;
	memset(slot_table(slot), 0, sizeof(struct ipslot) * tsize);
}

void
limits_set_slot(unsigned slot, unsigned net6_bits)
{
	myslot = slot;
	net6 = net6_bits;
}

static void
addr_key(const struct sockaddr *sa, unsigned char key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &in->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memcpy(key, &in6->sin6_addr, 16);
		else
			(void)netkey(sa, 32, net6, key);
	}
}

static uint32_t
key_hash(const unsigned char key[16])
{
	uint32_t h = 2166136261u;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

/* Find key in a table; with create, add it when missing (and count it). */
static struct ipslot *
table_find(struct ipslot *t, const unsigned char key[16], uint32_t *create)
{
	uint32_t i = key_hash(key) & (tsize - 1);
	unsigned n;

	for (n = 0; n < tsize; n++, i = (i + 1) & (tsize - 1)) {
		struct ipslot *e = &t[i];

		if (!__atomic_load_n(&e->used, __ATOMIC_ACQUIRE)) {
			if (!create)
				return NULL;
			memcpy(e->key, key, 16);
			__atomic_store_n(&e->used, 1, __ATOMIC_RELEASE);
			(*create)++;		/* the caller's count of keys */
			return e;
		}
		if (memcmp(e->key, key, 16) == 0)
			return e;
	}
	return NULL;
}

/*
 * Forget addresses with no open session once half the table is used:
 * copy the live entries aside and re-insert them.  Only the owner writes
 * its table, so a reader may miss a count during the copy; harmless.
 */
static void
table_sweep(unsigned slot)
{
	static struct ipslot *keep;
	struct ipslot *t = slot_table(slot);
	unsigned i, nkeep = 0;

	if (keep == NULL && (keep = calloc(tsize, sizeof(*keep))) == NULL)
		return;
	for (i = 0; i < tsize; i++)
		if (t[i].used && t[i].count)
			keep[nkeep++] = t[i];
	memset(t, 0, sizeof(*t) * tsize);
	wslots[slot].used_keys = 0;
	for (i = 0; i < nkeep; i++) {
		struct ipslot *e = table_find(t, keep[i].key,
		    &wslots[slot].used_keys);
		if (e != NULL)
			e->count = keep[i].count;
	}
}

unsigned
limits_total(void)
{
	unsigned i, sum = 0;

	for (i = 0; wslots && i < nslots_; i++)
		sum += __atomic_load_n(&wslots[i].total, __ATOMIC_RELAXED);
	return sum;
}

unsigned
limits_ip_count(const struct sockaddr *sa)
{
	unsigned char key[16];
	unsigned i, sum = 0;

	if (wslots == NULL)
		return 0;
	addr_key(sa, key);
	for (i = 0; i < nslots_; i++) {
		struct ipslot *e = table_find(slot_table(i), key, NULL);
		if (e != NULL)
			sum += __atomic_load_n(&e->count, __ATOMIC_RELAXED);
	}
	return sum;
}

void
limits_open(const struct sockaddr *sa)
{
	unsigned char key[16];
	struct ipslot *e;

	if (wslots == NULL)
		return;
	__atomic_add_fetch(&wslots[myslot].total, 1, __ATOMIC_RELAXED);
	addr_key(sa, key);
	if (wslots[myslot].used_keys * 2 > tsize)
		table_sweep(myslot);
	if ((e = table_find(slot_table(myslot), key,
	    &wslots[myslot].used_keys)) == NULL)
		return;
	__atomic_add_fetch(&e->count, 1, __ATOMIC_RELAXED);
}

void
limits_close(const struct sockaddr *sa)
{
	unsigned char key[16];
	struct ipslot *e;

	if (wslots == NULL)
		return;
	if (wslots[myslot].total > 0)
		__atomic_sub_fetch(&wslots[myslot].total, 1, __ATOMIC_RELAXED);
	addr_key(sa, key);
	e = table_find(slot_table(myslot), key, NULL);
	if (e != NULL && e->count > 0)
		__atomic_sub_fetch(&e->count, 1, __ATOMIC_RELAXED);
}


void
limits_set_spool_low(int low)
{
	if (flags != NULL)
		__atomic_store_n(&flags->spool_low, low ? 1u : 0u,
		    __ATOMIC_RELAXED);
}

int
limits_spool_low(void)
{
	return flags != NULL &&
	    __atomic_load_n(&flags->spool_low, __ATOMIC_RELAXED) != 0;
}

unsigned
limits_store_gen(void)
{
	return flags != NULL ?
	    __atomic_load_n(&flags->store_gen, __ATOMIC_ACQUIRE) : 0;
}

void
limits_report_store_broken(unsigned gen)
{
	if (flags != NULL)
		__atomic_store_n(&flags->store_broken, gen + 1,
		    __ATOMIC_RELEASE);
}

int
limits_store_reported_broken(void)
{
	return flags != NULL &&
	    __atomic_load_n(&flags->store_broken, __ATOMIC_ACQUIRE) ==
	    limits_store_gen() + 1;
}

void
limits_store_renewed(void)
{
	if (flags == NULL)
		return;
	__atomic_add_fetch(&flags->store_gen, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&flags->store_broken, 0, __ATOMIC_RELEASE);
}
