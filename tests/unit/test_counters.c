/*
 * test_counters: the live figures' file, with the parent and a writer in
 * one process: totals, the last hour from the minute ring, a dead
 * child's counts kept, a full table of refusals, names a worker could
 * have scribbled.
 */
#include <sys/mman.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "../../metrics/counters.h"

static struct ctr_view v;

static const struct ctr_view_ref *
ref(const char *cls, const char *stage)
{
	size_t i;

	for (i = 0; i < v.nref; i++)
		if (strcmp(v.ref[i].p.cls, cls) == 0 &&
		    strcmp(v.ref[i].p.stage, stage) == 0)
			return &v.ref[i];
	return NULL;
}

static void
test_hour_and_retire(const struct ctr_file *f)
{
	time_t t0 = f->started;
	const struct ctr_view_ref *r;

	ctrs_attach(0);
	ctr_add(CTR_MESSAGES, 5);
	ctr_refusal("relay", "rcpt");
	ctr_set(CTR_SESSIONS_OPEN, 4);
	CHECK(ctrs_view(f, NULL, t0 + 10, &v) == 0 && v.v[CTR_MESSAGES] == 5 &&
	    v.hour[CTR_MESSAGES] == 5 && v.hour_from == t0 &&
	    v.v[CTR_SESSIONS_OPEN] == 4, "young: the hour is all of it");
	ctrs_tick(t0 + 60);			/* a point: 5 messages */
	ctr_add(CTR_MESSAGES, 2);
	ctr_refusal("relay", "rcpt");
	CHECK(ctrs_view(f, NULL, t0 + 3660, &v) == 0 &&
	    v.v[CTR_MESSAGES] == 7 && v.hour[CTR_MESSAGES] == 2 &&
	    v.hour_from == t0 + 60, "an hour on: from the point an hour old "
	    "(%llu, from %lld)", (unsigned long long)v.hour[CTR_MESSAGES],
	    (long long)(v.hour_from - t0));
	r = ref("relay", "rcpt");
	CHECK(r != NULL && r->total == 2 && r->hour == 1, "a pair's hour");
	CHECK(ctrs_view(f, NULL, t0 + 3659, &v) == 0 &&
	    v.hour[CTR_MESSAGES] == 7 && v.hour_from == t0,
	    "a second short of it: from the start");

	ctrs_retire(0);				/* the writer died */
	CHECK(ctrs_view(f, NULL, t0 + 3660, &v) == 0 &&
	    v.v[CTR_MESSAGES] == 7 && v.v[CTR_SESSIONS_OPEN] == 0 &&
	    (r = ref("relay", "rcpt")) != NULL && r->total == 2,
	    "a dead child's counts stay, its gauges go");
	ctrs_retire(0);
	ctrs_attach(0);				/* its successor */
	ctr_add(CTR_MESSAGES, 1);
	ctr_refusal("relay", "rcpt");
	CHECK(ctrs_view(f, NULL, t0 + 3660, &v) == 0 &&
	    v.v[CTR_MESSAGES] == 8 && (r = ref("relay", "rcpt")) != NULL &&
	    r->total == 3, "retired twice counts once; the successor adds");
}

static void
test_full_table_and_names(const struct ctr_file *f)
{
	const struct ctr_view_ref *r;
	char cls[32];
	uint64_t sum = 0;
	size_t i;

	ctrs_retire(1);
	ctrs_attach(1);
	for (i = 0; i < CTRS_SLOT_REFUSALS + 10; i++) {
		(void)snprintf(cls, sizeof(cls), "class%zu", i);
		ctr_refusal(cls, "connect");
	}
	CHECK(ctrs_view(f, NULL, time(NULL), &v) == 0, "view");
	r = ref("other", "");
	CHECK(r != NULL && r->total == 11, "the overflow is one pair: %llu",
	    r ? (unsigned long long)r->total : 0ULL);
	CHECK(ref("class62", "connect") != NULL &&
	    ref("class63", "connect") == NULL, "the named ones");
	for (i = 0; i < v.nref; i++)
		sum += v.ref[i].total;
	CHECK(sum == v.v[CTR_REFUSED], "every refusal counted once: %llu %llu",
	    (unsigned long long)sum, (unsigned long long)v.v[CTR_REFUSED]);
	/* a name cut to the field is still one class */
	ctrs_retire(2);
	ctrs_attach(2);
	{
		char longcls[300];

		memset(longcls, 'z', sizeof(longcls) - 1);
		longcls[sizeof(longcls) - 1] = '\0';
		ctr_refusal(longcls, "rcpt");
		ctr_refusal(longcls, "rcpt");
		CHECK(f->slot[2].nref == 1 && f->slot[2].ref[0].n == 2,
		    "a long class: one pair");
	}
}

/* Names every format may print as they are: two that clean alike are
 * one row. */
static void
test_hostile_names(const struct ctr_file *f)
{
	const struct ctr_view_ref *r;

	ctrs_retire(3);
	ctrs_attach(3);
	ctr_refusal("dnsbl:a\"b\nc\\d", "rcpt");
	ctr_refusal("dnsbl:a\xff" "b c\x01" "d", "rcpt");
	CHECK(ctrs_view(f, NULL, time(NULL), &v) == 0, "view");
	r = ref("dnsbl:a?b?c?d", "rcpt");
	CHECK(r != NULL && r->total == 2, "cleaned and merged");
}

/*
 * A worker scribbles on the file: the parent, a writer and a reader
 * keep to their bounds, and the parent's next write puts the lock
 * right.
 */
static void
test_scribbled_file(const char *dir, const struct ctr_file *f)
{
	char path[128];
	struct ctr_file *w;
	const struct ctr_view_ref *r;
	uint64_t before;
	int fd;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, CTRS_FILE);
	if ((fd = open(path, O_RDWR)) == -1 || (w = mmap(NULL, sizeof(*w),
	    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		CHECK(0, "map for scribbling");
		return;
	}
	close(fd);
	CHECK(ctrs_view(f, NULL, time(NULL), &v) == 0, "view");
	before = v.v[CTR_MESSAGES];
	w->nnames = 100000;
	w->nzones = 100000;
	w->seq = 12345;				/* odd: "being written" */
	w->slot[3].nref = 100000;		/* the writer's own slot */
	memset(w->slot[3].ref[0].p.cls, 'x', sizeof(w->slot[3].ref[0].p.cls));
	ctr_refusal("relay", "rcpt");		/* writer: slot 3 */
	ctr_add(CTR_MESSAGES, 1);
	CHECK(ctrs_view(f, NULL, time(NULL), &v) == -1,
	    "a lock left odd: the reader gives up, in bounds");
	ctrs_tick(time(NULL) + 3 * CTRS_POINT_EVERY);	/* parent writes */
	CHECK(ctrs_view(f, NULL, time(NULL), &v) == 0 &&
	    v.v[CTR_MESSAGES] == before + 1, "the parent's write mends it");
	r = ref("relay", "rcpt");
	CHECK(r != NULL, "the writer's own pair found by its own count");
	ctrs_retire(3);
	CHECK(ctrs_view(f, NULL, time(NULL), &v) == 0 &&
	    v.v[CTR_MESSAGES] == before + 1, "retired in bounds");
	munmap(w, sizeof(*w));
}

int
main(void)
{
	char dir[] = "/tmp/moat-ctrs-XXXXXX";
	const struct ctr_file *f;
	char path[128];

	if (mkdtemp(dir) == NULL || ctrs_create(dir) == -1)
		return 2;
	CHECK((f = ctrs_open(dir)) != NULL, "open read-only");
	if (f == NULL)
		T_DONE();
	test_hour_and_retire(f);
	test_full_table_and_names(f);
	test_hostile_names(f);
	test_scribbled_file(dir, f);
	(void)snprintf(path, sizeof(path), "%s/%s", dir, CTRS_FILE);
	(void)unlink(path);
	(void)rmdir(dir);
	T_DONE();
}
