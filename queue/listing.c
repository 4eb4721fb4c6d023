/*
 * listing: the queue listing's text form (see listing.h): written by
 * the queue, read back and shown by moatctl.
 *
 * The writer never lets a record span lines: addresses cannot hold a
 * space or a control byte (the commit refuses them), and the error text,
 * last on its line, has its control bytes written as '?'.  The reader
 * trusts none of that: every field is checked the way the spool checks
 * its own, and a line that does not fit is an error naming it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "listing.h"

static const char *const state_names[LS_COUNT] = {
	[LS_UNCONFIRMED] = "unconfirmed",
	[LS_READY] = "ready",
	[LS_DELIVERING] = "delivering",
	[LS_DEFERRED] = "deferred",
	[LS_HELD] = "held",
	[LS_UNREADABLE] = "unreadable",
};

const char *
listing_state_name(int state)
{
	if (state < 0 || state >= LS_COUNT)
		return "?";
	return state_names[state];
}

/* ---- writing ---- */

void
listing_begin(FILE *fp)
{
	fputs(LISTING_MAGIC "\n", fp);
}

void
listing_put_entry(FILE *fp, const char *qid, int state, time_t ctime,
    long long next, const char *sender)
{
	fprintf(fp, "E %s %s %lld ", qid, listing_state_name(state),
	    (long long)ctime);
	if (next < 0)
		fputc('-', fp);
	else
		fprintf(fp, "%lld", next);
	fprintf(fp, " %s\n", sender[0] != '\0' ? sender : "<>");
}

void
listing_put_rcpt(FILE *fp, const struct spool_rcpt *r)
{
	const char *p;
	size_t n = 0;

	fprintf(fp, "R %c %u %s", r->status, r->attempts, r->addr);
	if (r->error != NULL && r->error[0] != '\0') {
		fputc(' ', fp);
		for (p = r->error; *p != '\0' && ++n < LISTING_ERROR_MAX; p++)
			fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p,
			    fp);
	}
	fputc('\n', fp);
}

/* ---- reading ---- */

/* The next field up to a space (or the end); NULL when it is empty. */
static const char *
next_field(const char **p, char *dst, size_t dstsize)
{
	const char *s = *p, *e = strchr(s, ' ');
	size_t n = e != NULL ? (size_t)(e - s) : strlen(s);

	if (n == 0 || n >= dstsize)
		return NULL;
	memcpy(dst, s, n);
	dst[n] = '\0';
	*p = e != NULL ? e + 1 : s + n;
	return dst;
}

static int
parse_number(const char *s, long long max, long long *v)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno != 0 || *end != '\0' || *v > max ? -1 : 0;
}

static int
parse_state(const char *s)
{
	int i;

	for (i = 0; i < LS_COUNT; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

static int
add_entry(struct listing *l, const struct listing_entry *e)
{
	struct listing_entry *v;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;

		if ((v = reallocarray(l->v, ncap, sizeof(*v))) == NULL)
			return -1;
		l->v = v;
		l->cap = ncap;
	}
	l->v[l->n++] = *e;
	return 0;
}

/* "E QID STATE CTIME NEXT SENDER" */
static const char *
parse_entry(struct listing *l, const char *p)
{
	struct listing_entry e;
	char state[16], num[24];

	memset(&e, 0, sizeof(e));
	if (next_field(&p, e.qid, sizeof(e.qid)) == NULL ||
	    !spool_qid_valid(e.qid))
		return "bad queue id";
	if (next_field(&p, state, sizeof(state)) == NULL ||
	    (e.state = parse_state(state)) == -1)
		return "bad state";
	if (next_field(&p, num, sizeof(num)) == NULL ||
	    parse_number(num, INT64_MAX, &e.ctime) == -1)
		return "bad time";
	if (next_field(&p, num, sizeof(num)) == NULL)
		return "bad next try";
	e.next = -1;
	if (strcmp(num, "-") != 0 && parse_number(num, INT64_MAX, &e.next)
	    == -1)
		return "bad next try";
	if (next_field(&p, e.sender, sizeof(e.sender)) == NULL || *p != '\0')
		return "bad sender";
	if (strcmp(e.sender, "<>") == 0)
		e.sender[0] = '\0';
	else if (!spool_addr_valid(e.sender, 0))
		return "bad sender";
	return add_entry(l, &e) == -1 ? strerror(errno) : NULL;
}

static int
add_rcpt(struct listing_entry *e, const struct listing_rcpt *r)
{
	struct listing_rcpt *v;

	if (e->nrcpt >= SPOOL_RCPT_MAX ||
	    (v = reallocarray(e->rcpt, e->nrcpt + 1, sizeof(*v))) == NULL)
		return -1;
	e->rcpt = v;
	e->rcpt[e->nrcpt++] = *r;
	return 0;
}

/* "R S ATTEMPTS ADDR[ ERROR]" */
static const char *
parse_rcpt(struct listing *l, const char *p)
{
	static struct listing_rcpt r;
	char st[2], num[16];
	long long attempts;
	const char *q;

	memset(&r, 0, sizeof(r));
	if (l->n == 0)
		return "a recipient before any entry";
	if (next_field(&p, st, sizeof(st)) == NULL || (st[0] != RCPT_PENDING
	    && st[0] != RCPT_DELIVERED && st[0] != RCPT_HELD))
		return "bad recipient status";
	r.status = st[0];
	if (next_field(&p, num, sizeof(num)) == NULL ||
	    parse_number(num, UINT32_MAX, &attempts) == -1)
		return "bad attempt count";
	r.attempts = (unsigned)attempts;
	if (next_field(&p, r.addr, sizeof(r.addr)) == NULL ||
	    !spool_rcpt_valid(r.addr))
		return "bad recipient";
	if (strlen(p) >= sizeof(r.error))
		return "error text too long";
	for (q = p; *q != '\0'; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			return "control byte in the error text";
	memcpy(r.error, p, strlen(p) + 1);
	return add_rcpt(&l->v[l->n - 1], &r) == -1 ? "too many recipients" :
	    NULL;
}

int
listing_parse_line(struct listing *l, const char *line, char *err,
    size_t errsize)
{
	const char *bad;

	if (!l->started) {
		bad = strcmp(line, LISTING_MAGIC) == 0 ? NULL :
		    "not a queue listing";
		l->started = bad == NULL;
	} else if (strncmp(line, "E ", 2) == 0)
		bad = parse_entry(l, line + 2);
	else if (strncmp(line, "R ", 2) == 0)
		bad = parse_rcpt(l, line + 2);
	else
		bad = "unknown record";
	if (bad == NULL)
		return 0;
	(void)snprintf(err, errsize, "%s", bad);
	return -1;
}

int
listing_read(struct listing *l, FILE *fp, char *err, size_t errsize)
{
	char *line = NULL, why[128];
	size_t cap = 0, lineno = 0;
	ssize_t n;
	int rc = 0;

	while (rc == 0 && (n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (n == 0 || line[n - 1] != '\n' ||
		    memchr(line, '\0', (size_t)n) != NULL) {
			(void)snprintf(why, sizeof(why), "a broken line");
			rc = -1;
		} else {
			line[n - 1] = '\0';
			rc = listing_parse_line(l, line, why, sizeof(why));
		}
		if (rc == -1)
			(void)snprintf(err, errsize, "line %zu: %s", lineno,
			    why);
	}
	free(line);
	if (rc == 0 && ferror(fp)) {
		(void)snprintf(err, errsize, "%s", strerror(errno));
		rc = -1;
	} else if (rc == 0 && !l->started) {
		(void)snprintf(err, errsize, "an empty listing");
		rc = -1;
	}
	return rc;
}

void
listing_free(struct listing *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].rcpt);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- showing ---- */

static int
is_held(const struct listing_entry *e)
{
	return e->state == LS_HELD || e->state == LS_UNREADABLE;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct listing_entry *x = a, *y = b;

	if (is_held(x) != is_held(y))
		return is_held(x) - is_held(y);
	if (x->ctime != y->ctime)
		return x->ctime < y->ctime ? -1 : 1;
	return strcmp(x->qid, y->qid);
}

void
listing_sort(struct listing *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(l->v[0]), entry_cmp);
}

/* "45s", "12m05s", "3h05m", "2d04h": two units at most. */
static const char *
fmt_dur(long long s, char *buf, size_t size)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		(void)snprintf(buf, size, "%llds", s);
	else if (s < 3600)
		(void)snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		(void)snprintf(buf, size, "%lldh%02lldm", s / 3600,
		    s % 3600 / 60);
	else
		(void)snprintf(buf, size, "%lldd%02lldh", s / 86400,
		    s % 86400 / 3600);
	return buf;
}

static const char *
rcpt_word(char status)
{
	switch (status) {
	case RCPT_DELIVERED:	return "delivered";
	case RCPT_HELD:		return "held";
	default:		return "pending";
	}
}

static void
print_entry(FILE *fp, const struct listing_entry *e, time_t now)
{
	char age[32], next[40], d[32];
	const struct listing_rcpt *r;
	size_t i;

	if (e->ctime > 0)
		fmt_dur((long long)now - e->ctime, age, sizeof(age));
	else
		(void)snprintf(age, sizeof(age), "-");
	if (e->next < 0)
		(void)snprintf(next, sizeof(next), "-");
	else if (e->next == 0)
		(void)snprintf(next, sizeof(next), "now");
	else
		(void)snprintf(next, sizeof(next), "in %s",
		    fmt_dur(e->next, d, sizeof(d)));
	fprintf(fp, "%-16s  %-11s  %7s  %-9s  %s\n", e->qid,
	    listing_state_name(e->state), age, next,
	    e->sender[0] != '\0' ? e->sender : "<>");
	for (i = 0; i < e->nrcpt; i++) {
		r = &e->rcpt[i];
		fprintf(fp, "    %-9s  %s", rcpt_word(r->status), r->addr);
		if (r->attempts > 0)
			fprintf(fp, "  (%u failed %s)", r->attempts,
			    r->attempts == 1 ? "try" : "tries");
		if (r->error[0] != '\0')
			fprintf(fp, "  %s", r->error);
		fputc('\n', fp);
	}
}

static void
print_summary(FILE *fp, const struct listing *l)
{
	size_t count[LS_COUNT] = { 0 }, i;
	const char *sep = ": ";
	int s;

	for (i = 0; i < l->n; i++)
		count[l->v[i].state]++;
	fprintf(fp, "%zu %s", l->n, l->n == 1 ? "entry" : "entries");
	for (s = 0; s < LS_COUNT; s++) {
		if (count[s] == 0)
			continue;
		fprintf(fp, "%s%zu %s", sep, count[s], listing_state_name(s));
		sep = ", ";
	}
	fputc('\n', fp);
}

void
listing_print(FILE *fp, const struct listing *l, time_t now)
{
	size_t i;

	if (l->n > 0)
		fprintf(fp, "%-16s  %-11s  %7s  %-9s  %s\n", "QUEUE ID",
		    "STATE", "AGE", "NEXT TRY", "SENDER");
	for (i = 0; i < l->n; i++)
		print_entry(fp, &l->v[i], now);
	print_summary(fp, l);
}

static void
json_str(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(fp, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			fprintf(fp, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, fp);
	}
	fputc('"', fp);
}

static void
json_rcpt(FILE *fp, const struct listing_rcpt *r)
{
	fputs("{\"address\": ", fp);
	json_str(fp, r->addr);
	fprintf(fp, ", \"status\": \"%s\", \"attempts\": %u, \"error\": ",
	    rcpt_word(r->status), r->attempts);
	if (r->error[0] != '\0')
		json_str(fp, r->error);
	else
		fputs("null", fp);
	fputc('}', fp);
}

static void
json_entry(FILE *fp, const struct listing_entry *e, time_t now)
{
	size_t i;

	fprintf(fp, "{\"id\": \"%s\", \"state\": \"%s\", ", e->qid,
	    listing_state_name(e->state));
	if (e->ctime > 0)
		fprintf(fp, "\"time\": %lld, \"age\": %lld, ", e->ctime,
		    (long long)now - e->ctime);
	else
		fputs("\"time\": null, \"age\": null, ", fp);
	if (e->next >= 0)
		fprintf(fp, "\"next_try\": %lld, ", e->next);
	else
		fputs("\"next_try\": null, ", fp);
	fputs("\"sender\": ", fp);
	json_str(fp, e->sender);
	fputs(", \"recipients\": [", fp);
	for (i = 0; i < e->nrcpt; i++) {
		if (i > 0)
			fputs(", ", fp);
		json_rcpt(fp, &e->rcpt[i]);
	}
	fputs("]}", fp);
}

void
listing_print_json(FILE *fp, const struct listing *l, time_t now)
{
	size_t i;

	fputc('[', fp);
	for (i = 0; i < l->n; i++) {
		fputs(i > 0 ? ",\n " : "", fp);
		json_entry(fp, &l->v[i], now);
	}
	fputs("]\n", fp);
}
