/*
 * asn: prefixes to network owners (see asn.h).
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../greylist/netkey.h"
#include "asn.h"

struct prefix {
	unsigned char	 addr[16];	/* masked; IPv4 in the first 4 */
	unsigned char	 len;
	unsigned char	 v6;
	unsigned	 row;		/* its ASN's row + 1; 0 empty slot */
};

struct asn_table {
	struct prefix	*slot;		/* open addressing */
	size_t		 cap, n;
	struct asn_row	*rows;		/* one per ASN */
	size_t		 nrows, caprows;
	unsigned	*byasn;		/* open addressing: row + 1 */
	size_t		 capbyasn;
	unsigned char	 used[2][129];	/* prefix lengths in use */
};

static uint32_t
prefix_hash(const unsigned char *a, unsigned len, int v6)
{
	uint32_t h = 2166136261u ^ (len * 131u) ^ (unsigned)v6;
	size_t i;

	for (i = 0; i < (v6 ? 16u : 4u); i++)
		h = (h ^ a[i]) * 16777619u;
	return h;
}

static struct prefix *
find(const struct asn_table *t, const unsigned char *a, unsigned len, int v6,
    int for_insert)
{
	size_t j;

	if (t->cap == 0)
		return NULL;
	for (j = prefix_hash(a, len, v6) & (t->cap - 1); t->slot[j].row != 0;
	    j = (j + 1) & (t->cap - 1))
		if (t->slot[j].len == len && t->slot[j].v6 == v6 &&
		    memcmp(t->slot[j].addr, a, v6 ? 16 : 4) == 0)
			return &t->slot[j];
	return for_insert ? &t->slot[j] : NULL;
}

static int
grow(struct asn_table *t)
{
	struct prefix *old = t->slot, *p;
	size_t oldcap = t->cap, i;

	t->cap = t->cap ? t->cap * 2 : 4096;
	if ((t->slot = calloc(t->cap, sizeof(*t->slot))) == NULL) {
		t->slot = old;
		t->cap = oldcap;
		return -1;
	}
	for (i = 0; i < oldcap; i++)
		if (old[i].row != 0) {
			p = find(t, old[i].addr, old[i].len, old[i].v6, 1);
			*p = old[i];
		}
	free(old);
	return 0;
}

static size_t
asn_slot(const struct asn_table *t, unsigned long asn)
{
	size_t j;

	for (j = (asn * 2654435761u) & (t->capbyasn - 1); t->byasn[j] != 0 &&
	    t->rows[t->byasn[j] - 1].asn != asn; j = (j + 1) & (t->capbyasn - 1))
		;
	return j;
}

static int
byasn_grow(struct asn_table *t)
{
	size_t i;

	free(t->byasn);
	t->capbyasn = t->capbyasn ? t->capbyasn * 2 : 1024;
	if ((t->byasn = calloc(t->capbyasn, sizeof(*t->byasn))) == NULL)
		return -1;
	for (i = 0; i < t->nrows; i++)
		t->byasn[asn_slot(t, t->rows[i].asn)] = (unsigned)i + 1;
	return 0;
}

/* The row of an ASN, added when new; 0 when out of memory, else row+1. */
static unsigned
row(struct asn_table *t, unsigned long asn, const char *owner)
{
	struct asn_row *r;
	size_t i, j;

	if ((t->nrows + 1) * 2 > t->capbyasn && byasn_grow(t) == -1)
		return 0;
	if (t->byasn[j = asn_slot(t, asn)] != 0)
		return t->byasn[j];
	if (t->nrows == t->caprows) {
		size_t ncap = t->caprows ? t->caprows * 2 : 256;

		if ((r = realloc(t->rows, ncap * sizeof(*r))) == NULL)
			return 0;
		t->rows = r;
		t->caprows = ncap;
	}
	r = &t->rows[t->nrows++];
	memset(r, 0, sizeof(*r));
	r->asn = asn;
	for (i = 0; owner[i] != '\0' && i < sizeof(r->owner) - 1; i++)
		r->owner[i] = (unsigned char)owner[i] < 0x20 ||
		    (unsigned char)owner[i] == 0x7f ? '?' : owner[i];
	t->byasn[j] = (unsigned)t->nrows;
	return (unsigned)t->nrows;
}

/* "PREFIX ASN OWNER..." into the table; 0, or -1 for a bad line. */
static int
add_line(struct asn_table *t, char *line)
{
	unsigned char a[16];
	char *net, *slash, *asn, *owner, *end;
	unsigned long len, as;
	struct prefix *p;
	int v6;

	if ((net = strtok_r(line, " \t\r\n", &end)) == NULL || *net == '#')
		return 0;		/* blank or a comment */
	if ((asn = strtok_r(NULL, " \t\r\n", &end)) == NULL ||
	    (slash = strchr(net, '/')) == NULL)
		return -1;
	*slash = '\0';
	owner = end + strspn(end, " \t");
	owner[strcspn(owner, "\r\n")] = '\0';
	if (strncasecmp(asn, "AS", 2) == 0)
		asn += 2;
	v6 = inet_pton(AF_INET, net, a) != 1;
	if ((v6 && inet_pton(AF_INET6, net, a) != 1) || !isdigit(
	    (unsigned char)slash[1]) || (len = strtoul(slash + 1, NULL, 10)) >
	    (v6 ? 128u : 32u) || !isdigit((unsigned char)*asn))
		return -1;
	as = strtoul(asn, NULL, 10);
	netkey_mask(a, v6 ? 16 : 4, (unsigned)len);
	if ((t->n + 1) * 2 > t->cap && grow(t) == -1)
		return -1;
	p = find(t, a, (unsigned)len, v6, 1);
	if (p->row == 0) {
		memcpy(p->addr, a, v6 ? 16 : 4);
		p->len = (unsigned char)len;
		p->v6 = (unsigned char)v6;
		t->n++;
	}
	if ((p->row = row(t, as, owner)) == 0)
		return -1;
	t->used[v6][len] = 1;
	return 0;
}

struct asn_table *
asn_load(const char *path, char *err, size_t errsize)
{
	struct asn_table *t = calloc(1, sizeof(*t));
	char *line = NULL;
	size_t cap = 0;
	unsigned long n = 0;
	FILE *fp;

	if (t == NULL || (fp = fopen(path, "r")) == NULL) {
		(void)snprintf(err, errsize, "%s: %s", path, strerror(errno));
		free(t);
		return NULL;
	}
	while (getline(&line, &cap, fp) != -1) {
		n++;
		if (add_line(t, line) == -1) {
			(void)snprintf(err, errsize, "%s:%lu: expected PREFIX "
			    "ASN [OWNER]", path, n);
			fclose(fp);
			free(line);
			asn_free(t);
			return NULL;
		}
	}
	fclose(fp);
	free(line);
	return t;
}

/* The row (+1) of the longest prefix holding ip; 0 when none. */
static unsigned
lookup(const struct asn_table *t, const char *ip)
{
	unsigned char a[16], m[16];
	const struct prefix *p;
	int v6 = 0, len;

	if (inet_pton(AF_INET, ip, a) != 1) {
		if (inet_pton(AF_INET6, ip, a) != 1)
			return 0;
		v6 = 1;
	}
	for (len = v6 ? 128 : 32; len >= 0; len--) {
		if (!t->used[v6][len])
			continue;
		memcpy(m, a, 16);
		netkey_mask(m, v6 ? 16 : 4, (unsigned)len);
		if ((p = find(t, m, (unsigned)len, v6, 0)) != NULL)
			return p->row;
	}
	return 0;
}

static int
row_cmp(const void *a, const void *b)
{
	const struct asn_row *x = a, *y = b;

	if (x->clients != y->clients)
		return x->clients < y->clients ? 1 : -1;
	return x->asn < y->asn ? -1 : x->asn > y->asn;
}

struct asn_row *
asn_count(const struct asn_table *t, const struct tally *ta, size_t *n)
{
	struct asn_row *out;
	size_t i, k = 0;
	unsigned r;

	*n = 0;
	if ((out = calloc(t->nrows + 1, sizeof(*out))) == NULL)
		return NULL;
	memcpy(out, t->rows, t->nrows * sizeof(*out));
	(void)snprintf(out[t->nrows].owner, sizeof(out[0].owner),
	    "(in no prefix of the file)");
	for (i = 0; i < ta->nhosts; i++) {
		if (!(ta->hosts[i].flags & HOST_REFUSED))
			continue;
		r = lookup(t, ta->hosts[i].ip);
		out[r != 0 ? r - 1 : t->nrows].clients++;
	}
	for (i = 0; i <= t->nrows; i++)
		if (out[i].clients > 0)
			out[k++] = out[i];
	if (k > 0)
		qsort(out, k, sizeof(*out), row_cmp);
	*n = k;
	return out;
}

void
asn_free(struct asn_table *t)
{
	if (t == NULL)
		return;
	free(t->slot);
	free(t->rows);
	free(t->byasn);
	free(t);
}
