/*
 * tally: the counting behind `moatctl report` (see tally.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

void
tally_init(struct tally *t, const char *since, const char *until)
{
	memset(t, 0, sizeof(*t));
	t->since = since;
	t->until = until;
}

static int
grow(void **v, size_t *cap, size_t size)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	void *n = realloc(*v, ncap * size);

	if (n == NULL)
		return -1;
	memset((char *)n + *cap * size, 0, (ncap - *cap) * size);
	*v = n;
	*cap = ncap;
	return 0;
}

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* ---- hours: few (one a log hour); the latest is almost always hit ---- */

static struct hour_stat *
hour(struct tally *t, const char *when)
{
	struct hour_stat *h;
	size_t i;

	for (i = t->nhours; i > 0; i--) {
		h = &t->hours[i - 1];
		if (memcmp(h->key, when, 13) == 0)
			return h;
		if (t->nhours - i >= 4)
			break;		/* an out-of-order line: search all */
	}
	for (i = 0; i < t->nhours; i++)
		if (memcmp(t->hours[i].key, when, 13) == 0)
			return &t->hours[i];
	if (t->nhours == t->caphours && grow((void **)&t->hours,
	    &t->caphours, sizeof(*t->hours)) == -1)
		return NULL;
	h = &t->hours[t->nhours++];
	memcpy(h->key, when, 13);
	h->key[13] = '\0';
	return h;
}

static int
hour_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hour_stat *)a)->key,
	    ((const struct hour_stat *)b)->key);
}

void
tally_sort(struct tally *t)
{
	if (t->nhours > 0)
		qsort(t->hours, t->nhours, sizeof(*t->hours), hour_cmp);
}

/* ---- hosts: an open-addressing table of indices into an array ---- */

static int
rehash(struct tally *t)
{
	size_t ncap = t->hostidxcap ? t->hostidxcap * 2 : 1024, i, j;
	unsigned *n = calloc(ncap, sizeof(*n));

	if (n == NULL)
		return -1;
	for (i = 0; i < t->nhosts; i++) {
		for (j = hash(t->hosts[i].ip) & (ncap - 1); n[j] != 0;
		    j = (j + 1) & (ncap - 1))
			;
		n[j] = (unsigned)i + 1;
	}
	free(t->hostidx);
	t->hostidx = n;
	t->hostidxcap = ncap;
	return 0;
}

/* The host's index, added when new; -1 when memory ran out. */
static long
host(struct tally *t, const char *ip)
{
	size_t j;

	if ((t->nhosts + 1) * 2 > t->hostidxcap && rehash(t) == -1)
		return -1;
	for (j = hash(ip) & (t->hostidxcap - 1); t->hostidx[j] != 0;
	    j = (j + 1) & (t->hostidxcap - 1))
		if (strcmp(t->hosts[t->hostidx[j] - 1].ip, ip) == 0)
			return (long)t->hostidx[j] - 1;
	if (t->nhosts == t->caphosts && grow((void **)&t->hosts,
	    &t->caphosts, sizeof(*t->hosts)) == -1)
		return -1;
	(void)snprintf(t->hosts[t->nhosts].ip, sizeof(t->hosts[0].ip), "%s",
	    ip);
	t->hostidx[j] = (unsigned)t->nhosts + 1;
	return (long)t->nhosts++;
}

/* ---- classes: a few dozen; a set of host indices each ---- */

static int
idset_add(struct idset *s, unsigned id)
{
	size_t j, i;
	unsigned *old;
	size_t oldcap;

	if ((s->n + 1) * 2 > s->cap) {
		old = s->v;
		oldcap = s->cap;
		s->cap = s->cap ? s->cap * 2 : 16;
		if ((s->v = calloc(s->cap, sizeof(*s->v))) == NULL) {
			s->v = old;
			s->cap = oldcap;
			return -1;
		}
		s->n = 0;
		for (i = 0; i < oldcap; i++)
			if (old[i] != 0)
				(void)idset_add(s, old[i] - 1);
		free(old);
	}
	for (j = (id * 2654435761u) & (s->cap - 1); s->v[j] != 0;
	    j = (j + 1) & (s->cap - 1))
		if (s->v[j] == id + 1)
			return 0;
	s->v[j] = id + 1;
	s->n++;
	return 0;
}

/* The hour's count of a class, for the charts. */
static int
hour_refusal(struct hour_stat *h, unsigned id)
{
	size_t i;

	for (i = 0; i < h->nbycls; i++)
		if (h->bycls[i].id == id) {
			h->bycls[i].n++;
			return 0;
		}
	if (h->nbycls == h->capbycls && grow((void **)&h->bycls,
	    &h->capbycls, sizeof(*h->bycls)) == -1)
		return -1;
	h->bycls[h->nbycls].id = id;
	h->bycls[h->nbycls++].n = 1;
	return 0;
}

static int
refusal(struct tally *t, struct hour_stat *hs, const char *stage,
    const char *name, long h)
{
	struct class_stat *c;
	size_t i;

	/* compared as kept, so a longer name is one class, not many */
	for (i = 0; i < t->nclasses; i++) {
		c = &t->classes[i];
		if (strncmp(c->stage, stage, sizeof(c->stage) - 1) == 0 &&
		    strncmp(c->name, name, sizeof(c->name) - 1) == 0)
			break;
	}
	if (i == t->nclasses) {
		if (t->nclasses == t->capclasses && grow((void **)&t->classes,
		    &t->capclasses, sizeof(*t->classes)) == -1)
			return -1;
		c = &t->classes[t->nclasses];
		c->id = (unsigned)t->nclasses++;
		(void)snprintf(c->stage, sizeof(c->stage), "%s", stage);
		(void)snprintf(c->name, sizeof(c->name), "%s", name);
	}
	c = &t->classes[i];
	c->count++;
	if (hour_refusal(hs, c->id) == -1)
		return -1;
	if (h < 0)
		return 0;
	t->hosts[h].flags |= HOST_REFUSED;
	return idset_add(&c->ips, (unsigned)h);
}

/* ---- the events ---- */

/* A duration as moatd writes it ("12.345"); anything else (a number
 * that is not one, negative, past a year) counts nothing. */
static double
seconds(const char *s)
{
	double d;

	if (s == NULL || strspn(s, "0123456789.") != strlen(s))
		return 0;
	d = strtod(s, NULL);
	return d >= 0 && d <= 366.0 * 86400 ? d : 0;
}

static int
in_range(const struct tally *t, const char *when)
{
	if (t->since != NULL && strncmp(when, t->since, strlen(t->since)) < 0)
		return 0;
	if (t->until != NULL && strncmp(when, t->until, strlen(t->until)) >= 0)
		return 0;
	return 1;
}

/* A client's reverse DNS name, the last one its sessions were told. */
static int
host_ptr(struct host_stat *s, const char *ptr)
{
	if (ptr == NULL || ptr[0] == '\0' ||
	    (s->ptr != NULL && strcmp(s->ptr, ptr) == 0))
		return 0;
	free(s->ptr);
	if ((s->ptr = strndup(ptr, HOST_PTR_MAX)) == NULL)
		return -1;
	return 0;
}

static int
session_event(struct tally *t, const struct logline *l, struct hour_stat *h,
    long hi)
{
	struct host_stat *s = hi >= 0 ? &t->hosts[hi] : NULL;
	const char *ev = l->event, *stage, *v;
	double d;

	if (strcmp(ev, "connect") == 0) {
		h->conns++;
		if (s != NULL) {
			s->conns++;
			s->flags |= HOST_CONNECTED;
		}
	} else if (strcmp(ev, "disconnect") == 0) {
		d = seconds(logline_get(l, "duration"));
		h->conn_time += d;
		if (d > h->conn_max)
			h->conn_max = d;
		if (s != NULL) {
			s->time += d;
			if (host_ptr(s, logline_get(l, "ptr")) == -1)
				return -1;
			if ((v = logline_get(l, "commands")) != NULL &&
			    v[0] >= '1' && v[0] <= '9')
				s->flags |= HOST_TALKED;
		}
	} else if (strcmp(ev, "accept") == 0) {
		h->received++;
		if (s != NULL)
			s->flags |= HOST_TALKED | HOST_MAIL | HOST_ACCEPTED;
	} else if (strcmp(ev, "greylist") == 0) {
		v = logline_get(l, "result");
		if (s != NULL)
			s->flags |= HOST_TALKED | HOST_MAIL;
		if (tally_greylist(t, l) == -1)
			return -1;
		if (v != NULL && (strcmp(v, "new") == 0 ||
		    strcmp(v, "early") == 0)) {
			h->rejected++;
			return refusal(t, h, "rcpt", "greylist", hi);
		}
	} else if (strcmp(ev, "reject") == 0 || strcmp(ev, "defer") == 0) {
		if ((stage = logline_get(l, "stage")) == NULL)
			stage = "?";
		h->rejected++;
		/* refused at accept, before a session: a connection still */
		if (logline_get(l, "session") == NULL &&
		    strcmp(stage, "connect") == 0) {
			h->conns++;
			if (s != NULL)
				s->conns++;
		}
		if (s != NULL) {
			s->flags |= HOST_CONNECTED;
			if (strcmp(stage, "connect") != 0)
				s->flags |= HOST_TALKED;
			if (strcmp(stage, "mail") == 0 ||
			    strcmp(stage, "rcpt") == 0 ||
			    strcmp(stage, "data") == 0)
				s->flags |= HOST_MAIL;
		}
		v = logline_get(l, "class");
		/* hits name zones for the lists' classes; for dynamic, a
		 * pattern */
		if (v != NULL && (strncmp(v, "dnsbl:", 6) == 0 ||
		    strncmp(v, "rhsbl:", 6) == 0) &&
		    (stage = logline_get(l, "hits")) != NULL &&
		    tally_hits(t, stage) == -1)
			return -1;
		stage = logline_get(l, "stage");
		if (stage == NULL)
			stage = "?";
		return refusal(t, h, stage, v != NULL ? v : "?", hi);
	} else if (strcmp(ev, "helo") == 0 && s != NULL)
		s->flags |= HOST_TALKED;
	return 0;
}

int
tally_line(struct tally *t, const struct logline *l)
{
	const char *ev = l->event, *ip;
	struct hour_stat *h;
	long hi = -1;

	t->lines++;
	if (!in_range(t, l->when))
		return 0;
	if ((h = hour(t, l->when)) == NULL)
		return -1;
	t->used++;
	if (strcmp(ev, "dnsbl-stats") == 0)
		return tally_zone_stats(t, l);
	/* the queue's events: delivery */
	if (strcmp(ev, "deliver") == 0) {
		h->delivered++;
		return 0;
	}
	if (strcmp(ev, "hold") == 0) {
		if (logline_get(l, "rcpt") != NULL)
			h->held++;
		return 0;
	}
	if (strcmp(ev, "defer") == 0 && logline_get(l, "stage") == NULL) {
		if (logline_get(l, "rcpt") != NULL)
			h->deferred++;
		return 0;
	}
	/* a session's; an address no client has is no client */
	if ((ip = logline_get(l, "ip")) != NULL &&
	    strlen(ip) < sizeof(t->hosts[0].ip) && (hi = host(t, ip)) == -1)
		return -1;
	return session_event(t, l, h, hi);
}

void
tally_free(struct tally *t)
{
	size_t i;

	for (i = 0; i < t->nclasses; i++)
		free(t->classes[i].ips.v);
	free(t->classes);
	for (i = 0; i < t->nhours; i++)
		free(t->hours[i].bycls);
	free(t->hours);
	for (i = 0; i < t->nhosts; i++)
		free(t->hosts[i].ptr);
	free(t->hosts);
	free(t->hostidx);
	free(t->asn);
	tally_extra_free(t);
	memset(t, 0, sizeof(*t));
}
