/*
 * test_lmtp: the LMTP client against a scripted server in a child
 * process on a unix socket: a whole transaction (the message dot-stuffed
 * on the wire), a recipient refused at RCPT, per-recipient replies after
 * the message, and peers that misbehave: fewer replies than recipients,
 * a 1 MB line, a close right after the dot, garbage, silence, nobody
 * listening.  Recipients a peer did not answer after the message are
 * left with code 0 (retried); before it, they get a 4xx.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "../../queue/lmtp.h"

static char dir[] = "/tmp/test_lmtp.XXXXXX";
static char sock_path[100], wire_path[160];

struct script {
	const char	*greeting;	/* sent first */
	const char	*rcpt[4];	/* reply to each RCPT */
	const char	*after;		/* sent after the dot (raw) */
	int		 huge_after;	/* a 1 MB line after the dot */
	int		 silent;	/* never answer */
	const char	*data_reply;	/* instead of 354 */
};

static void
say(int fd, const char *s)
{
	(void)!write(fd, s, strlen(s));
}

/* Read a line (without CRLF) into buf; 0 at EOF. */
static int
getline_fd(int fd, char *buf, size_t size)
{
	size_t n = 0;
	char ch;

	while (n < size - 1 && read(fd, &ch, 1) == 1) {
		buf[n++] = ch;
		if (ch == '\n')
			break;
	}
	buf[n] = '\0';
	return n > 0;
}

static void __attribute__((noreturn))
serve(int lfd, const struct script *s)
{
	char line[4096];
	int fd, wire, nrcpt = 0;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		_exit(1);
	if (s->silent) {
		sleep(5);
		_exit(0);
	}
	wire = open(wire_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	say(fd, s->greeting);
	while (getline_fd(fd, line, sizeof(line))) {
		if (strncmp(line, "LHLO", 4) == 0)
			say(fd, "250-test.example\r\n250 PIPELINING\r\n");
		else if (strncmp(line, "MAIL", 4) == 0)
			say(fd, "250 2.1.0 ok\r\n");
		else if (strncmp(line, "RCPT", 4) == 0)
			say(fd, s->rcpt[nrcpt++]);
		else if (strncmp(line, "DATA", 4) == 0 && s->data_reply) {
			say(fd, s->data_reply);
		} else if (strncmp(line, "DATA", 4) == 0) {
			say(fd, "354 go ahead\r\n");
			while (getline_fd(fd, line, sizeof(line)) &&
			    strcmp(line, ".\r\n") != 0)
				(void)!write(wire, line, strlen(line));
			if (s->huge_after) {
				static char big[1 << 20];

				memset(big, 'x', sizeof(big));
				memcpy(big, "250 ", 4);
				(void)!write(fd, big, sizeof(big));
			}
			say(fd, s->after);
			if (strstr(s->after, "CLOSE") != NULL)
				break;
		} else if (strncmp(line, "QUIT", 4) == 0) {
			say(fd, "221 bye\r\n");
			break;
		}
	}
	close(wire);
	close(fd);
	_exit(0);
}

/* The scripted server in a child, listening on sock_path. */
static pid_t
start_server(const struct script *s)
{
	struct sockaddr_un sun;
	pid_t pid;
	int lfd;

	unlink(sock_path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock_path);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 4) == -1 || (pid = fork()) == -1) {
		perror("server");
		exit(1);
	}
	if (pid == 0)
		serve(lfd, s);
	close(lfd);
	return pid;
}

static const char body[] = "Received: x\r\nSubject: dots\r\n\r\n.leading dot\r\n"
    "..two\r\nlast line without CRLF";

static void
run(const struct script *s, const char *const *rcpt, size_t n,
    struct lmtp_result *res, double *took)
{
	struct lmtp_target t;
	struct lmtp_msg m;
	struct timespec a, b;
	int mfd;
	pid_t pid;

	pid = start_server(s);
	{
		char msg_path[200];

		snprintf(msg_path, sizeof(msg_path), "%s/msg", dir);
		mfd = open(msg_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		unlink(msg_path);
	}
	(void)!write(mfd, "ENVELOPE\n", 9);
	(void)!write(mfd, body, sizeof(body) - 1);
	memset(&m, 0, sizeof(m));
	m.helo = "mx.example.test";
	m.sender = "s@example.org";
	m.rcpt = rcpt;
	m.nrcpt = n;
	m.fd = mfd;
	m.off = 9;
	m.len = sizeof(body) - 1;
	{
		char spec[200];

		snprintf(spec, sizeof(spec), "lmtp:unix:%s", sock_path);
		CHECK(lmtp_target_parse(spec, &t) == 0, "target");
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	lmtp_deliver(&t, &m, res, 1);
	clock_gettime(CLOCK_MONOTONIC, &b);
	*took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec -
	    a.tv_nsec) / 1e9;
	close(mfd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static char *
wire(void)
{
	static char buf[4096];
	ssize_t n;
	int fd = open(wire_path, O_RDONLY);

	buf[0] = '\0';
	if (fd != -1 && (n = read(fd, buf, sizeof(buf) - 1)) > 0)
		buf[n] = '\0';
	if (fd != -1)
		close(fd);
	return buf;
}

static const char *two[] = { "a@example.test", "b@example.test" };

static void
test_whole(void)
{
	const struct script s = { "220 hi\r\n", { "250 ok\r\n", "250 ok\r\n" },
	    "250 2.0.0 a done\r\n452 4.2.2 Mailbox full\r\n", 0, 0, NULL };
	struct lmtp_result res[2];
	double took;

	run(&s, two, 2, res, &took);
	CHECK(res[0].code == 250 && res[1].code == 452, "codes %d %d",
	    res[0].code, res[1].code);
	CHECK(strcmp(res[1].text, "4.2.2 Mailbox full") == 0, "text %s",
	    res[1].text);
	CHECK(strcmp(wire(), "Received: x\r\nSubject: dots\r\n\r\n"
	    "..leading dot\r\n...two\r\nlast line without CRLF\r\n") == 0,
	    "dot-stuffed on the wire: %s", wire());
}

static void
test_rcpt_refused(void)
{
	const struct script s = { "220 hi\r\n", { "550 5.1.1 no such user\r\n",
	    "250 ok\r\n" }, "250 2.0.0 b done\r\n", 0, 0, NULL };
	struct lmtp_result res[2];
	double took;

	run(&s, two, 2, res, &took);
	CHECK(res[0].code == 550 && res[1].code == 250, "codes %d %d",
	    res[0].code, res[1].code);
}

static void
test_misbehaving(void)
{
	static const struct {
		const char	*name;
		struct script	 s;
		int		 want0, want1;
	} cases[] = {
		{ "fewer replies", { "220 hi\r\n", { "250 ok\r\n", "250 ok\r\n" },
		    "250 one\r\nCLOSE", 0, 0, NULL }, 250, 0 },
		{ "close after the dot", { "220 hi\r\n", { "250 ok\r\n",
		    "250 ok\r\n" }, "CLOSE", 0, 0, NULL }, 0, 0 },
		{ "a 1 MB line", { "220 hi\r\n", { "250 ok\r\n", "250 ok\r\n" },
		    "\r\n250 x\r\n", 1, 0, NULL }, 0, 0 },
		{ "garbage after the dot", { "220 hi\r\n", { "250 ok\r\n",
		    "250 ok\r\n" }, "hello there\r\n", 0, 0, NULL }, 0, 0 },
		{ "garbage greeting", { "SSH-2.0-OpenSSH\r\n", { NULL }, "", 0,
		    0, NULL }, 451, 451 },
		{ "refusing greeting", { "554 go away\r\n", { NULL }, "", 0, 0,
		    NULL }, 451, 451 },
		{ "silence", { "", { NULL }, "", 0, 1, NULL }, 451, 451 },
		{ "250 to DATA", { "220 hi\r\n", { "250 ok\r\n", "250 ok\r\n" },
		    "", 0, 0, "250 sure\r\n" }, 451, 451 },
		{ "554 to DATA", { "220 hi\r\n", { "250 ok\r\n", "250 ok\r\n" },
		    "", 0, 0, "554 5.6.0 no\r\n" }, 554, 554 },
	};
	struct lmtp_result res[2];
	double took;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run(&cases[i].s, two, 2, res, &took);
		CHECK(res[0].code == cases[i].want0 &&
		    res[1].code == cases[i].want1, "%s: codes %d %d (%s)",
		    cases[i].name, res[0].code, res[1].code, res[0].text);
		CHECK(took < 3, "%s: took %.1f s", cases[i].name, took);
	}
}

/*
 * Two transactions on one connection: the server accepts only one.  A
 * stray line after the replies must not answer the next transaction:
 * the connection is not reused then, and the second gets no 250.
 */
static void
reuse(const char *after, int want2)
{
	const struct script s = { "220 hi\r\n", { "250 ok\r\n", "250 ok\r\n",
	    "250 ok\r\n", "250 ok\r\n" }, after, 0, 0, NULL };
	struct lmtp_target t;
	struct lmtp_result res[2];
	struct lmtp_msg m;
	char spec[200], msg_path[200];
	int mfd, round;
	pid_t pid;

	pid = start_server(&s);
	snprintf(msg_path, sizeof(msg_path), "%s/msg", dir);
	mfd = open(msg_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	unlink(msg_path);
	(void)!write(mfd, body, sizeof(body) - 1);
	memset(&m, 0, sizeof(m));
	m.helo = "mx.example.test";
	m.sender = "s@example.org";
	m.rcpt = two;
	m.nrcpt = 2;
	m.fd = mfd;
	m.len = sizeof(body) - 1;
	snprintf(spec, sizeof(spec), "lmtp:unix:%s", sock_path);
	CHECK(lmtp_target_parse(spec, &t) == 0, "target");
	for (round = 0; round < 2; round++) {
		lmtp_deliver(&t, &m, res, 1);
		CHECK(res[0].code == (round ? want2 : 250) && res[1].code ==
		    (round ? want2 : 250), "round %d (%s): %d %d (%s)", round,
		    after, res[0].code, res[1].code, res[0].text);
	}
	lmtp_idle_close();
	close(mfd);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
test_reuse(void)
{
	reuse("250 a\r\n250 b\r\n", 250);
	reuse("250 a\r\n250 b\r\n250 stray\r\n", 451);
}

static void
test_nobody_listening(void)
{
	char spec[200];
	struct lmtp_target t;
	struct lmtp_result res[2];
	struct lmtp_msg m = { "mx", "", two, 2, -1, 0, 0 };

	snprintf(spec, sizeof(spec), "lmtp:unix:%s/none", dir);
	CHECK(lmtp_target_parse(spec, &t) == 0, "target");
	lmtp_deliver(&t, &m, res, 1);
	CHECK(res[0].code == 451 && res[1].code == 451 &&
	    strncmp(res[0].text, "4.4.1 cannot connect", 20) == 0, "%d %s",
	    res[0].code, res[0].text);
	CHECK(lmtp_target_parse("lmtp:127.0.0.1:1", &t) == 0, "tcp target");
	lmtp_deliver(&t, &m, res, 1);
	CHECK(res[0].code == 451, "tcp refused: %d %s", res[0].code,
	    res[0].text);
}

static void
test_targets(void)
{
	struct lmtp_target t;

	CHECK(lmtp_target_parse("lmtp:unix:/run/dovecot/lmtp", &t) == 0 &&
	    t.is_unix && strcmp(t.path, "/run/dovecot/lmtp") == 0, "unix");
	CHECK(lmtp_target_parse("lmtp:127.0.0.1:24", &t) == 0 && !t.is_unix &&
	    strcmp(t.host, "127.0.0.1") == 0 && strcmp(t.port, "24") == 0,
	    "host:port");
	CHECK(lmtp_target_parse("lmtp:[::1]:2424", &t) == 0 &&
	    strcmp(t.host, "::1") == 0 && strcmp(t.port, "2424") == 0, "v6");
	CHECK(lmtp_target_parse("lmtp:mail.example:24", &t) == 0, "name");
	CHECK(lmtp_target_parse("lmtp:unix:relative", &t) == -1, "relative");
	CHECK(lmtp_target_parse("lmtp:host", &t) == -1, "no port");
	CHECK(lmtp_target_parse("lmtp:host:2x", &t) == -1, "bad port");
	CHECK(lmtp_target_parse("lmtp::24", &t) == -1, "no host");
	CHECK(lmtp_target_parse("maildir:x/", &t) == -1, "not lmtp");
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock_path, sizeof(sock_path), "%s/lmtp.sock", dir);
	snprintf(wire_path, sizeof(wire_path), "%s/wire", dir);
	signal(SIGPIPE, SIG_IGN);
	test_targets();
	test_whole();
	test_rcpt_refused();
	test_misbehaving();
	test_reuse();
	test_nobody_listening();
	unlink(sock_path);
	unlink(wire_path);
	rmdir(dir);
	T_DONE();
}
