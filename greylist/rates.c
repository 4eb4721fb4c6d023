/*
 * rates: leaky buckets in the store (see rates.h).
 *
 * Key: 'R', the kind, then the address (4 bytes) or the masked IPv6
 * prefix (16 bytes).
 */
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "netkey.h"
#include "rates.h"
#include "store.h"

#define KIND_RATE	'R'
#define SWEEP_MAX	2000

struct bucket {
	double		level;
	int64_t		last_ms;	/* wall clock: buckets outlive a boot */
	uint32_t	period;		/* seconds: empty after that long */
	uint32_t	version;
};

struct take {
	const struct conf_rate *r;
	int64_t		 now;
	int		 over;
};

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t
rate_key(unsigned char *key, enum rate_kind kind, const struct sockaddr *sa,
    unsigned net6)
{
	key[0] = KIND_RATE;
	key[1] = (unsigned char)kind;
	return 2 + netkey(sa, 32, net6, key + 2);
}

static enum store_action
take_one(void *val, int found, void *arg)
{
	struct bucket *b = val;
	struct take *t = arg;
	double level = 0;

	if (found && t->now > b->last_ms)
		level = b->level - (double)(t->now - b->last_ms) / 1000.0 *
		    t->r->n / t->r->period;
	else if (found)
		level = b->level;
	if (level < 0)
		level = 0;
	t->over = level + 1 > t->r->n;
	b->level = t->over ? level : level + 1;
	b->last_ms = t->now;
	b->period = t->r->period;
	b->version = 1;
	return STORE_WRITE;
}

int
rate_over(enum rate_kind kind, const struct sockaddr *sa,
    const struct conf_rate *r, unsigned net6)
{
	unsigned char key[STORE_KEY_MAX];
	struct bucket b;
	struct take t = { r, wall_ms(), 0 };
	size_t klen;

	if (r->n == 0 || (klen = rate_key(key, kind, sa, net6)) == 2)
		return 0;		/* not an IP client */
	if (store_update(key, klen, &b, sizeof(b), take_one, &t) != STORE_OK)
		return 0;		/* fails open; logged by the store */
	return t.over;
}

static int
leaked_empty(const void *val, size_t vlen, void *arg)
{
	const struct bucket *b = val;
	int64_t now = *(const int64_t *)arg;

	return vlen != sizeof(*b) || now - b->last_ms >
	    (int64_t)b->period * 1000;
}

void
rate_sweep(void)
{
	int64_t now = wall_ms();

	(void)store_sweep(KIND_RATE, SWEEP_MAX, leaked_empty, &now);
}

int
rate_level(enum rate_kind kind, const struct sockaddr *sa,
    const struct conf_rate *r, unsigned net6, double *level, long long *ago)
{
	unsigned char key[STORE_KEY_MAX];
	struct bucket b;
	int64_t now = wall_ms();
	size_t klen = rate_key(key, kind, sa, net6);

	*level = 0;
	*ago = -1;
	switch (store_get(key, klen, &b, sizeof(b))) {
	case STORE_NOTFOUND:
		return 0;
	case STORE_FAIL:
		return -1;
	default:
		break;
	}
	*ago = (now - b.last_ms) / 1000;
	*level = b.level;
	if (r->n > 0 && now > b.last_ms)
		*level -= (double)(now - b.last_ms) / 1000.0 * r->n / r->period;
	if (*level < 0)
		*level = 0;
	return 0;
}
