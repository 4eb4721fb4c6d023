/*
 * msg: the queue's in-memory index of its entries.
 *
 * Every entry is in the hash (by queue id) and on exactly one list:
 * unconf (committed, waiting for CONFIRM), ready (to deliver now), wait
 * (its pass waits for LMTP deliveries) or defer (waiting for its next
 * try).  The earliest due time of the defer
 * list is cached, so the loop's timeout costs nothing; the list is only
 * walked when that time has come, which is at most once per retry step.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"

void
msgtab_init(struct msgtab *t)
{
	memset(t->bucket, 0, sizeof(t->bucket));
	TAILQ_INIT(&t->unconf);
	TAILQ_INIT(&t->ready);
	TAILQ_INIT(&t->wait);
	TAILQ_INIT(&t->defer);
	t->count = 0;
	t->ndefer = 0;
	t->defer_min = INT64_MAX;
}

static unsigned
qid_hash(const char *qid)
{
	uint32_t h = 2166136261u;

	for (; *qid != '\0'; qid++)
		h = (h ^ (unsigned char)*qid) * 16777619u;
	return h % MSGTAB_BUCKETS;
}

struct qmsg *
msg_new(void)
{
	struct qmsg *m = calloc(1, sizeof(*m));

	if (m != NULL) {
		m->fd = -1;
		m->list = QL_NONE;
	}
	return m;
}

struct qmsg *
msg_find(struct msgtab *t, const char *qid)
{
	struct qmsg *m;

	for (m = t->bucket[qid_hash(qid)]; m != NULL; m = m->hnext)
		if (strcmp(m->env.qid, qid) == 0)
			return m;
	return NULL;
}

static struct qmsg_head *
list_head(struct msgtab *t, enum qlist l)
{
	switch (l) {
	case QL_UNCONF:	return &t->unconf;
	case QL_READY:	return &t->ready;
	case QL_WAIT:	return &t->wait;
	case QL_DEFER:	return &t->defer;
	case QL_NONE:	break;
	}
	return NULL;
}

void
msg_move(struct msgtab *t, struct qmsg *m, enum qlist l)
{
	struct qmsg_head *h;

	if ((h = list_head(t, m->list)) != NULL)
		TAILQ_REMOVE(h, m, link);
	t->ndefer -= m->list == QL_DEFER;
	t->ndefer += l == QL_DEFER;
	m->list = l;
	if ((h = list_head(t, l)) != NULL)
		TAILQ_INSERT_TAIL(h, m, link);
}

void
msg_add(struct msgtab *t, struct qmsg *m, enum qlist l)
{
	unsigned b = qid_hash(m->env.qid);

	m->hnext = t->bucket[b];
	t->bucket[b] = m;
	t->count++;
	m->list = QL_NONE;
	msg_move(t, m, l);
}

void
msg_defer(struct msgtab *t, struct qmsg *m, int64_t due)
{
	m->due = due;
	msg_move(t, m, QL_DEFER);
	if (due < t->defer_min)
		t->defer_min = due;
}

void
msg_free(struct msgtab *t, struct qmsg *m)
{
	struct qmsg **pp;

	for (pp = &t->bucket[qid_hash(m->env.qid)]; *pp != NULL;
	    pp = &(*pp)->hnext) {
		if (*pp == m) {
			*pp = m->hnext;
			t->count--;
			break;
		}
	}
	msg_move(t, m, QL_NONE);
	if (m->fd != -1)
		close(m->fd);
	spool_env_free(&m->env);
	free(m->lmtp);
	free(m);
}

size_t
msg_due(struct msgtab *t, int64_t now)
{
	struct qmsg *m, *next;
	size_t n = 0;

	if (now >= 0 && now < t->defer_min)
		return 0;
	t->defer_min = INT64_MAX;
	for (m = TAILQ_FIRST(&t->defer); m != NULL; m = next) {
		next = TAILQ_NEXT(m, link);
		if (now < 0 || m->due <= now) {
			msg_move(t, m, QL_READY);
			n++;
		} else if (m->due < t->defer_min)
			t->defer_min = m->due;
	}
	return n;
}
