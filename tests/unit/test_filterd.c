/*
 * test_filterd: the filter process against real filter programs (small
 * shell scripts): each verdict, the reply text and added fields, the
 * block request, chains, and misbehaving filters: one that sleeps past
 * the timeout, crashes, exits 75, prints megabytes, leaves a child
 * holding its output, never reads its stdin.  Each gives the documented
 * answer in bounded time and leaves no process behind.  The envelope
 * reaches the filter verbatim and runs nothing.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "../../filters/filterd.h"
#include "../../filters/request.h"

static char dir[] = "/tmp/test_filterd.XXXXXX";
static const char message[] = "Received: from x\r\nSubject: hi\r\n\r\nbody\r\n";

static void
script(const char *name, const char *body)
{
	char path[256];
	FILE *fp;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "w")) == NULL ||
	    fprintf(fp, "#!/bin/sh\n%s\n", body) < 0 || fclose(fp) != 0 ||
	    chmod(path, 0755) == -1) {
		perror(path);
		exit(1);
	}
}

static int
message_fd(void)
{
	int fd = memfd_create("msg", MFD_CLOEXEC);

	if (fd == -1 || write(fd, message, sizeof(message) - 1) !=
	    (ssize_t)(sizeof(message) - 1)) {
		perror("memfd");
		exit(1);
	}
	return fd;
}

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Run one message through filterd with the filters "NAME SCRIPT ..." in
 * chain; the verdict in *d, the time it took in *took.  0, or -1 when no
 * verdict came within 20 s.
 */
static int
run(const char *const *chain, int failure, unsigned timeout,
    const char *sender, struct filter_done *d, double *took)
{
	static struct conf cf;
	static struct filter_request r;
	static struct frame f;
	struct pollfd p;
	int sv[2], got = -1;
	pid_t pid;
	size_t i;
	double t0;

	conf_defaults(&cf);
	for (i = 0; chain[i] != NULL; i++) {
		char spec[512], err[256];

		(void)snprintf(spec, sizeof(spec), "%s %s/%s", chain[i], dir,
		    chain[i]);
		if (conf_parse_filter(spec, &cf.filters[i], err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "%s: %s\n", spec, err);
			exit(1);
		}
	}
	cf.nfilters = i;
	cf.filter_failure = failure;
	cf.filter_timeout = timeout;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (pid = fork()) == -1) {
		perror("filterd");
		exit(1);
	}
	if (pid == 0) {
		close(sv[0]);
		filterd_main(&cf, sv[1]);
	}
	close(sv[1]);
	memset(&r, 0, sizeof(r));
	r.ticket = 42;
	(void)snprintf(r.qid, sizeof(r.qid), "0123456789ABCDEF");
	(void)snprintf(r.ip, sizeof(r.ip), "192.0.2.7");
	r.port = 40000;
	(void)snprintf(r.sender, sizeof(r.sender), "%s", sender);
	r.size = sizeof(message) - 1;
	r.nrcpt = 2;
	r.rcpt[0] = "alice@example.test";
	r.rcpt[1] = "`touch /tmp/never`@example.test";
	t0 = seconds();
	if (filter_request_put(&f, &r) == -1 ||
	    frame_send(sv[0], &f, message_fd()) == -1) {
		perror("send");
		exit(1);
	}
	p.fd = sv[0];
	p.events = POLLIN;
	if (poll(&p, 1, 20000) == 1 && frame_recv(sv[0], &f) == 1 &&
	    f.type == FRAME_FILTER_DONE && filter_done_get(&f, d) == NULL)
		got = 0;
	*took = seconds() - t0;
	close(sv[0]);			/* filterd kills what is left, exits */
	(void)waitpid(pid, NULL, 0);
	return got;
}

static int
leftovers(const char *marker)
{
	char path[300], cmd[512];
	struct dirent *de;
	DIR *d = opendir("/proc");
	int found = 0;
	FILE *fp;
	size_t n;

	while (d != NULL && (de = readdir(d)) != NULL) {
		(void)snprintf(path, sizeof(path), "/proc/%s/cmdline",
		    de->d_name);
		if ((fp = fopen(path, "r")) == NULL)
			continue;
		n = fread(cmd, 1, sizeof(cmd) - 1, fp);
		fclose(fp);
		for (size_t i = 0; i < n; i++)
			if (cmd[i] == '\0')
				cmd[i] = ' ';
		cmd[n] = '\0';
		if (strstr(cmd, marker) != NULL)
			found++;
	}
	if (d != NULL)
		closedir(d);
	return found;
}

struct verdict_case {
	const char	*name;
	const char	*chain[3];
	int		 failure;
	unsigned	 code;
	const char	*enh;
	const char	*text;		/* NULL: not checked */
	const char	*cls;
	const char	*headers;	/* NULL: not checked */
	unsigned	 block;
	double		 max_s;
};

static const struct verdict_case cases[] = {
	{ "accept with fields", { "ok", NULL }, FILTER_FAIL_TEMPFAIL, 250,
	    "", "", "", "X-Checked: yes\r\n", 0, 5 },
	{ "reject with text and block", { "spam", NULL },
	    FILTER_FAIL_TEMPFAIL, 550, "5.7.1", "Spam detected",
	    "filter:spam", "", 3600, 5 },
	{ "tempfail, default text", { "later", NULL }, FILTER_FAIL_TEMPFAIL,
	    451, "4.7.1", "Message deferred by filter later, try again later",
	    "filter:later", "", 0, 5 },
	{ "exit 75 fails", { "ex75", NULL }, FILTER_FAIL_TEMPFAIL, 451,
	    "4.3.0", "Filter ex75 failed, try again later", "filter:ex75",
	    NULL, 0, 5 },
	{ "a crash fails", { "crash", NULL }, FILTER_FAIL_TEMPFAIL, 451,
	    "4.3.0", NULL, "filter:crash", NULL, 0, 5 },
	{ "a crash under failure=accept", { "crash", "ok", NULL },
	    FILTER_FAIL_ACCEPT, 250, "", NULL, "", "X-Checked: yes\r\n", 0, 5 },
	{ "sleeps past the timeout", { "sleeper", NULL },
	    FILTER_FAIL_TEMPFAIL, 451, "4.3.0", NULL, "filter:sleeper", NULL,
	    0, 5 },
	{ "megabytes of output, then accept", { "chatty", NULL },
	    FILTER_FAIL_TEMPFAIL, 250, "", NULL, "", "", 0, 10 },
	{ "a child keeps the output open", { "daemon", NULL },
	    FILTER_FAIL_TEMPFAIL, 250, "", NULL, "", "", 0, 5 },
	{ "never reads stdin", { "deaf", NULL }, FILTER_FAIL_TEMPFAIL, 250,
	    "", NULL, "", "", 0, 5 },
	{ "accept then reject: no fields", { "ok", "spam", NULL },
	    FILTER_FAIL_TEMPFAIL, 550, "5.7.1", "Spam detected", "filter:spam",
	    "", 3600, 5 },
	{ "a missing program fails", { "missing", NULL },
	    FILTER_FAIL_TEMPFAIL, 451, "4.3.0", NULL, "filter:missing", NULL,
	    0, 5 },
};

static void
test_verdicts(void)
{
	struct filter_done d;
	double took;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct verdict_case *c = &cases[i];

		memset(&d, 0, sizeof(d));
		if (run(c->chain, c->failure, 2, "s@example.org", &d,
		    &took) == -1) {
			CHECK(0, "%s: no verdict", c->name);
			continue;
		}
		CHECK(d.ticket == 42, "%s: ticket", c->name);
		CHECK(d.code == c->code, "%s: code %u", c->name, d.code);
		CHECK(strcmp(d.enh, c->enh) == 0 || c->code == 250,
		    "%s: enh %s", c->name, d.enh);
		CHECK(c->text == NULL || strcmp(d.text, c->text) == 0,
		    "%s: text \"%s\"", c->name, d.text);
		CHECK(strcmp(d.cls, c->cls) == 0 || c->code == 250,
		    "%s: class %s", c->name, d.cls);
		CHECK(c->headers == NULL || strcmp(d.headers, c->headers) == 0,
		    "%s: headers \"%s\"", c->name, d.headers);
		CHECK(d.block == c->block, "%s: block %u", c->name, d.block);
		CHECK(took < c->max_s, "%s: took %.1f s", c->name, took);
	}
	usleep(200000);
	CHECK(leftovers("sleep 1001") == 0, "the daemon's child is gone");
	CHECK(leftovers("sleep 1002") == 0, "the sleeper is gone");
}

/* The envelope arrives byte for byte, and nothing in it runs. */
static void
test_envelope(void)
{
	const char *chain[] = { "env", NULL };
	char path[300], got[1024];
	struct filter_done d;
	double took;
	FILE *fp;
	size_t n;

	CHECK(run(chain, FILTER_FAIL_TEMPFAIL, 5, "$(touch /tmp/pwned-moat)"
	    "@example.org", &d, &took) == 0 && d.code == 250,
	    "env filter: %u %s", d.code, d.text);
	(void)snprintf(path, sizeof(path), "%s/env.out", dir);
	if ((fp = fopen(path, "r")) == NULL) {
		CHECK(0, "no env.out");
		return;
	}
	n = fread(got, 1, sizeof(got) - 1, fp);
	got[n] = '\0';
	fclose(fp);
	CHECK(strcmp(got, "$(touch /tmp/pwned-moat)@example.org|"
	    "alice@example.test\n`touch /tmp/never`@example.test|2|"
	    "0123456789ABCDEF|192.0.2.7|40000|39|39") == 0, "env: %s", got);
	CHECK(access("/tmp/pwned-moat", F_OK) == -1 &&
	    access("/tmp/never", F_OK) == -1, "nothing ran");
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	script("ok", "cat >/dev/null\nprintf '\\nX-Checked: yes\\n'\nexit 0");
	script("spam", "printf 'Spam detected\\nMoat-Block: 1h\\n'\nexit 100");
	script("later", "exit 111");
	script("ex75", "echo 'some words'\nexit 75");
	script("crash", "kill -SEGV $$");
	script("sleeper", "exec sleep 1002");
	script("chatty", "head -c 5000000 /dev/zero | tr '\\0' A\nexit 0");
	script("daemon", "sleep 1001 &\nexit 0");
	script("deaf", "exit 0");
	script("env", "printf '%s|%s|%s|%s|%s|%s|%s|' \"$MOAT_SENDER\" "
	    "\"$MOAT_RECIPIENTS\" \"$MOAT_RCPT_COUNT\" \"$MOAT_QUEUE_ID\" "
	    "\"$MOAT_CLIENT_IP\" \"$MOAT_CLIENT_PORT\" \"$MOAT_SIZE\" "
	    "> \"$0.out\"\nwc -c | tr -d ' \\n' >> \"$0.out\"");
	test_verdicts();
	test_envelope();
	{
		char cmd[300];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		(void)!system(cmd);
	}
	T_DONE();
}
