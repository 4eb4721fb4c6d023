/*
 * loadgen: drive many concurrent SMTP sessions against one server.
 *
 * One process, one epoll loop, non-blocking sockets.  Each session speaks
 * a lockstep dialogue (one command, wait for its whole reply, the next
 * command): no pipelining, so every server is measured doing the same
 * work.  Scenarios:
 *
 *   reject   EHLO, MAIL, RCPT to an unknown user; ok when RCPT gets 5xx.
 *   badhelo  HELO localhost, then MAIL and RCPT if the server defers its
 *            verdict; ok at the first 5xx, failed if RCPT is accepted.
 *   accept   EHLO, then MSGS x (MAIL, RCPT, DATA, a SIZE-byte message
 *            with a unique Message-ID and subject token); ok when every
 *            message got 250.  With -W the generator then waits until the
 *            accepted messages are files in the given maildirs and checks
 *            that each token is there exactly once.
 *   idle     open CONC sessions (banner and EHLO) and hold them for the
 *            hold time; meanwhile open a probe session every second and
 *            time connect to EHLO reply; at the end NOOP every held
 *            session and count those still served.  With -M PID the
 *            total PSS of PID and its descendants is sampled mid-hold.
 *   closed   connect and wait: ok when the server closes the connection
 *            before it says anything (a client refused at accept);
 *            a banner is counted as f_served and answered with QUIT.
 *
 * The result is one line of key=value pairs on stdout.  Traffic goes to
 * one HOST:PORT given on the command line; every phase is bounded in
 * count and in time (-x caps the whole run), and connection errors
 * (EADDRNOTAVAIL, ECONNREFUSED, ...) are counted and retried a bounded
 * number of times.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loadgen.h"

struct opts		 o;
struct stats		 st;
struct lat		 lat_sess, lat_probe;
struct sess		*slots;
unsigned		 nslots;
unsigned		*freelist;
unsigned		 nfree;
int			 epfd;
struct sockaddr_storage	 srv;
socklen_t		 srvlen;
unsigned		 runid;
unsigned		 active;
int			 final_phase;

static unsigned long	 started;	/* load sessions started */
static double		 t_begin, t_stop_new;
static long		 pss_kib = -1, rss_kib = -1;
static unsigned		 pss_procs;
static double		 ramp_elapsed;

double
now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1) {
		perror("clock_gettime");
		exit(2);
	}
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

_Noreturn void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

void
lat_add(struct lat *l, double ms)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4096;
		float *nv;

		if (ncap > (size_t)1 << 26)	/* 64M samples: enough */
			return;
		if ((nv = realloc(l->v, ncap * sizeof(*nv))) == NULL)
			die("out of memory");
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = (float)ms;
}

static int
fcmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile; the array is sorted in place. */
double
lat_pct(struct lat *l, double p)
{
	size_t i;

	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), fcmp);
	i = (size_t)(p / 100.0 * (double)l->n);
	if (i >= l->n)
		i = l->n - 1;
	return l->v[i];
}

/* ---- the run ---- */

static int
may_start(double t)
{
	if (o.nsess > 0 && started >= o.nsess)
		return 0;
	if (o.duration > 0 && t >= t_stop_new)
		return 0;
	return 1;
}

/* -P: no more sessions started by t than the pace allows. */
static int
pace_allows(double t)
{
	return o.pace == 0 ||
	    started < (unsigned long)((t - t_begin) * o.pace) + 1;
}

static void
refill(double t)
{
	while (nfree > 0 && may_start(t) && pace_allows(t)) {
		started++;
		sess_start(&slots[freelist[--nfree]], K_LOAD);
	}
}

static void
loop_once(int timeout_ms)
{
	struct epoll_event evs[256];
	int n, i;

	n = epoll_wait(epfd, evs, 256, timeout_ms);
	if (n == -1) {
		if (errno == EINTR)
			return;
		die("epoll_wait: %s", strerror(errno));
	}
	for (i = 0; i < n; i++) {
		unsigned idx = (unsigned)(evs[i].data.u64 & 0xffffffffu);
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);

		if (idx >= nslots || slots[idx].gen != gen ||
		    slots[idx].step == ST_FREE)
			continue;	/* closed earlier in this batch */
		sess_event(&slots[idx], evs[i].events);
	}
}

static void
tick_all(double *next_tick)
{
	double t = now();
	unsigned i;

	if (t < *next_tick)
		return;
	*next_tick = t + TICK_MS / 1000.0;
	for (i = 0; i < nslots; i++)
		sess_tick(&slots[i], t);
}

static void
run_load(void)
{
	double next_tick = 0, hard = t_begin + o.maxrun;

	refill(now());
	while (active > 0 || may_start(now())) {
		if (now() >= hard) {
			fprintf(stderr, "loadgen: run time cap reached\n");
			break;
		}
		loop_once(o.pace > 0 ? 1 : TICK_MS);	/* paced: start on time */
		tick_all(&next_tick);
		refill(now());
	}
}


static struct sess *
probe_slot(void)
{
	unsigned i;

	for (i = o.conc; i < nslots; i++)
		if (slots[i].step == ST_FREE)
			return &slots[i];
	return NULL;
}

static unsigned
held_in(enum step a, enum step b)
{
	unsigned i, c = 0;

	for (i = 0; i < o.conc; i++)
		if (slots[i].step >= a && slots[i].step <= b)
			c++;
	return c;
}

static void
run_idle(void)
{
	double t, next_tick = 0, next_probe, ramp_end, hold_end, pss_at;
	double hard = t_begin + o.maxrun;
	unsigned opened = 0, i;
	int pss_done = 0;

	/* Ramp: open at most ramp_rate connections a second. */
	ramp_end = now() + o.ramp_s;
	while ((t = now()) < ramp_end && t < hard) {
		unsigned want = (unsigned)((t - t_begin) * o.ramp_rate) + 1;

		while (opened < o.conc && opened < want)
			sess_start(&slots[opened++], K_HELD);
		if (opened == o.conc && held_in(ST_BACKOFF, ST_HELO) == 0)
			break;
		loop_once(10);
		tick_all(&next_tick);
	}
	while (opened < o.conc)		/* too slow a ramp: open the rest */
		sess_start(&slots[opened++], K_HELD);
	ramp_elapsed = now() - t_begin;
	fprintf(stderr, "loadgen: holding established=%lu of %u after %.1fs\n",
	    st.established, o.conc, ramp_elapsed);

	/* Hold, with a probe every probe_every seconds. */
	t = now();
	hold_end = t + o.duration;
	pss_at = t + o.duration / 2;
	next_probe = t;
	while ((t = now()) < hold_end && t < hard) {
		if (t >= next_probe) {
			struct sess *p = probe_slot();

			if (p != NULL)
				sess_start(p, K_PROBE);
			next_probe += o.probe_every;
		}
		if (!pss_done && t >= pss_at && o.pss_pid > 0) {
			if (pss_tree(o.pss_pid, &pss_kib, &rss_kib,
			    &pss_procs) == -1) {
				fprintf(stderr, "loadgen: no process %ld\n",
				    (long)o.pss_pid);
				pss_kib = rss_kib = -1;
			}
			pss_done = 1;
		}
		loop_once(TICK_MS);
		tick_all(&next_tick);
	}

	final_phase = 1;
	/*
	 * A probe still unanswered when the hold ends has failed; it was
	 * that slow at least.  (Answered later, it would only show that the
	 * held sessions had left.)
	 */
	for (i = o.conc; i < nslots; i++)
		if (slots[i].step != ST_FREE) {
			slots[i].result = RES_FAIL;
			sess_done(&slots[i]);
		}
	/*
	 * Final check: every held session must still answer a NOOP.  Those
	 * never greeted are still queued at the server; the rest were closed.
	 */
	st.waiting = held_in(ST_BACKOFF, ST_HELO);
	st.closed = o.conc - st.waiting - held_in(ST_HOLD, ST_NOOP);
	for (i = 0; i < o.conc; i++) {
		struct sess *s = &slots[i];

		if (s->step == ST_HOLD)
			sess_noop(s, 1);
		else if (s->step == ST_NOOP)
			s->final = 1;
	}
	t = now() + FINAL_CHECK_S;
	while (active > 0 && now() < t && now() < hard) {
		loop_once(TICK_MS);
		tick_all(&next_tick);
	}
}

/* ---- set-up and report ---- */

static void
usage(void)
{
	fprintf(stderr,
"usage: loadgen -s reject|badhelo|accept|idle|closed [-h host] [-p port]\n"
"        [-c conc] [-n sessions] [-t seconds] [-m msgs] [-S size]\n"
"        [-H helo] [-f from] [-r rcpt] [-R retries] [-T reply_timeout]\n"
"        [-k keepalive] [-u ramp_s] [-a ramp_rate] [-i probe_every]\n"
"        [-M pid] [-W maildir]... [-w wait_s] [-x max_run_s] [-l label]\n"
"        [-B first_source_ip [-N source_count]] [-P sessions_per_s]\n");
	exit(2);
}

static unsigned long
num(const char *s, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		die("bad number: %s", s);
	return v;
}

static double
secs(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 86400)
		die("bad duration: %s", s);
	return v;
}

static uint32_t
src_addr(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		die("bad source address: %s", s);
	return ntohl(a.s_addr);
}

static void
opts_parse(int argc, char **argv)
{
	int ch;

	o.host = "127.0.0.1";
	o.port = "25";
	o.label = "server";
	o.conc = 50;
	o.msgs = 1;
	o.size = 4096;
	o.helo = "loadgen.bench.example";
	o.from = "someone@sender.example";
	o.rcpt = "alice@example.test";
	o.retries = 3;
	o.timeout = 30;
	o.ramp_s = 60;
	o.ramp_rate = 2000;
	o.probe_every = 1;
	o.maxrun = 900;
	o.wait_s = 120;
	o.sc = (enum scenario)-1;
	while ((ch = getopt(argc, argv,
	    "a:B:c:f:H:h:i:k:l:M:m:N:n:P:p:R:r:S:s:T:t:u:W:w:x:")) != -1) {
		switch (ch) {
		case 'B': o.src_base = src_addr(optarg); break;
		case 'a': o.ramp_rate = (unsigned)num(optarg, 1000000); break;
		case 'c': o.conc = (unsigned)num(optarg, 1000000); break;
		case 'f': o.from = optarg; break;
		case 'H': o.helo = optarg; break;
		case 'h': o.host = optarg; break;
		case 'i': o.probe_every = secs(optarg); break;
		case 'k': o.keepalive = secs(optarg); break;
		case 'l': o.label = optarg; break;
		case 'M': o.pss_pid = (pid_t)num(optarg, INT_MAX); break;
		case 'm': o.msgs = (unsigned)num(optarg, 100000); break;
		case 'N': o.src_count = (unsigned)num(optarg, 1 << 24); break;
		case 'n': o.nsess = num(optarg, 1000000000); break;
		case 'P': o.pace = (unsigned)num(optarg, 10000000); break;
		case 'p': o.port = optarg; break;
		case 'R': o.retries = (unsigned)num(optarg, 20); break;
		case 'r': o.rcpt = optarg; break;
		case 'S': o.size = num(optarg, 64 << 20); break;
		case 'T': o.timeout = secs(optarg); break;
		case 't': o.duration = secs(optarg); break;
		case 'u': o.ramp_s = secs(optarg); break;
		case 'w': o.wait_s = secs(optarg); break;
		case 'x': o.maxrun = secs(optarg); break;
		case 'W':
			if (o.nmaildir == MAILDIR_MAX)
				die("at most %d maildirs", MAILDIR_MAX);
			o.maildir[o.nmaildir++] = optarg;
			break;
		case 's':
			if (strcmp(optarg, "reject") == 0)
				o.sc = SC_REJECT;
			else if (strcmp(optarg, "badhelo") == 0)
				o.sc = SC_BADHELO;
			else if (strcmp(optarg, "accept") == 0)
				o.sc = SC_ACCEPT;
			else if (strcmp(optarg, "idle") == 0)
				o.sc = SC_IDLE;
			else if (strcmp(optarg, "closed") == 0)
				o.sc = SC_CLOSED;
			else
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || (int)o.sc == -1 || o.conc == 0 ||
	    o.msgs == 0 || o.timeout <= 0 || o.probe_every <= 0 ||
	    o.ramp_rate == 0)
		usage();
	if (o.sc == SC_IDLE && o.duration <= 0)
		die("idle needs -t hold seconds");
	if (o.sc != SC_IDLE && o.nsess == 0 && o.duration <= 0)
		die("give -n sessions or -t seconds");
	if (o.nsess > 0 && o.conc > o.nsess)
		o.conc = (unsigned)o.nsess;
}

static void
resolve(void)
{
	struct addrinfo hints, *res;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((e = getaddrinfo(o.host, o.port, &hints, &res)) != 0)
		die("%s:%s: %s", o.host, o.port, gai_strerror(e));
	memcpy(&srv, res->ai_addr, res->ai_addrlen);
	srvlen = res->ai_addrlen;
	freeaddrinfo(res);
}

/*
 * Enough descriptors for every slot, raising the hard limit when allowed
 * (root with CAP_SYS_RESOURCE).  Short of that, run with what there is:
 * the sessions past the limit fail with EMFILE and are counted.
 */
static void
fd_limit(void)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)nslots + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit: %s", strerror(errno));
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need) {
		struct rlimit want = { need, need };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			return;
		fprintf(stderr, "loadgen: open files limited to %llu, %llu "
		    "wanted\n", (unsigned long long)rl.rlim_max,
		    (unsigned long long)need);
	}
	rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("setrlimit: %s", strerror(errno));
}

static const char *
sc_name(void)
{
	static const char *n[] = { "reject", "badhelo", "accept", "idle",
	    "closed" };

	return n[o.sc];
}

static void
report(double elapsed)
{
	double rate = elapsed > 0 ? (double)st.ok / elapsed : 0;

	printf("scenario=%s server=%s host=%s port=%s conc=%u attempted=%lu "
	    "ok=%lu failed=%lu", sc_name(), o.label, o.host, o.port, o.conc,
	    st.attempted, st.ok, st.failed);
	printf(" connect_errors=%lu eaddrnotavail=%lu econnrefused=%lu "
	    "retries=%lu", st.connect_errors, st.e_addrnotavail,
	    st.e_refused, st.retries);
	printf(" f_connect=%lu f_timeout=%lu f_eof=%lu f_reply=%lu "
	    "f_proto=%lu f_served=%lu", st.f_connect, st.f_timeout, st.f_eof,
	    st.f_reply, st.f_proto, st.f_served);
	printf(" r2xx=%lu r3xx=%lu r4xx=%lu r5xx=%lu elapsed_s=%.3f",
	    st.cls[2], st.cls[3], st.cls[4], st.cls[5], elapsed);
	if (o.sc != SC_IDLE) {
		printf(" sessions_per_s=%.1f lat_p50_ms=%.2f lat_p99_ms=%.2f",
		    rate, lat_pct(&lat_sess, 50), lat_pct(&lat_sess, 99));
	}
	if (o.sc == SC_ACCEPT)
		printf(" msgs_ok=%lu msgs_per_s=%.1f", st.msgs_ok,
		    elapsed > 0 ? (double)st.msgs_ok / elapsed : 0);
}

static void
report_idle(void)
{
	printf(" held_target=%u established=%lu alive=%lu waiting=%lu "
	    "closed=%lu ramp_s=%.1f", o.conc, st.established, st.alive,
	    st.waiting, st.closed, ramp_elapsed);
	printf(" probes=%lu probe_ok=%lu probe_failed=%lu "
	    "probe_p50_ms=%.2f probe_max_ms=%.2f", st.probes, st.probe_ok,
	    st.probe_failed, lat_pct(&lat_probe, 50),
	    lat_probe.n ? lat_pct(&lat_probe, 100) : 0);
	if (o.pss_pid > 0)
		printf(" pss_kib=%ld rss_kib=%ld procs=%u", pss_kib, rss_kib,
		    pss_procs);
}

/* accept with -W: wait until every accepted message is a file. */
static void
report_maildirs(long base, double t0)
{
	double deadline = now() + o.wait_s, t_e2e;
	long want = base + (long)st.msgs_ok, have;
	struct verify v;
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	while ((have = maildirs_count()) < want && now() < deadline)
		nanosleep(&pause, NULL);
	t_e2e = now() - t0;
	maildirs_verify(&v);
	printf(" delivered=%ld e2e_s=%.3f e2e_msgs_per_s=%.1f verified=%lu "
	    "missing=%lu dup=%lu stray=%lu", have - base, t_e2e,
	    t_e2e > 0 ? (double)(have - base) / t_e2e : 0, v.verified,
	    v.missing, v.dup, v.stray);
}

int
main(int argc, char **argv)
{
	double elapsed;
	long base = 0;
	unsigned i;

	opts_parse(argc, argv);
	resolve();
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die("signal: %s", strerror(errno));
	nslots = o.conc + (o.sc == SC_IDLE ? PROBE_SLOTS : 0);
	fd_limit();
	if ((slots = calloc(nslots, sizeof(*slots))) == NULL ||
	    (freelist = calloc(nslots, sizeof(*freelist))) == NULL)
		die("out of memory");
	for (i = 0; i < nslots; i++) {
		slots[i].fd = -1;
		slots[i].step = ST_FREE;
	}
	if (o.sc != SC_IDLE)
		for (i = o.conc; i > 0; i--)
			freelist[nfree++] = i - 1;
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));
	runid = (unsigned)getpid() ^ (unsigned)time(NULL);
	if (o.sc == SC_ACCEPT) {
		body_make();
		if (o.nmaildir > 0)
			base = maildirs_count();
	}

	t_begin = now();
	t_stop_new = t_begin + o.duration;
	if (o.sc == SC_IDLE)
		run_idle();
	else
		run_load();
	elapsed = now() - t_begin;

	report(elapsed);
	if (o.sc == SC_IDLE)
		report_idle();
	if (o.sc == SC_ACCEPT && o.nmaildir > 0)
		report_maildirs(base, t_begin);
	printf("\n");
	if (fflush(stdout) == EOF)
		return 2;
	return 0;
}

