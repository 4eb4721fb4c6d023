/*
 * test_queue_proc: the queue process driven through its channels, the
 * way the parent and a worker drive it: FRAME_MAP, FRAME_WORKER_SOCK,
 * COMMIT with a memfd, CONFIRM, ABORT, a channel closing, FLUSH, DRAIN,
 * the operator's requests (list, hold, release, delete, flush; a hold
 * in the middle of a delivery pass), then a restart that recovers
 * confirmed and unconfirmed entries.  The queue runs in a forked child;
 * its log goes to a file we read back.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cdb.h>

#include "t.h"
#include "../../conf/conf.h"
#include "../../queue/listing.h"
#include "../../queue/queue.h"
#include "../../smtpd/control.h"
#include "../../smtpd/log.h"

static char root[64];
static struct conf cf;
static struct frame fr;

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void
msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* ---- fixtures ---- */

/* The recipients map; without_alice: the "broken map" variant. */
static int
make_map(int without_alice)
{
	static const char *kv[][2] = {
		{ "alice@example.test", "maildir:example.test/alice/" },
		{ "postmaster", "maildir:pm/" },
		{ "bob@example.test", "maildir:/nonexistent-moat/bob/" },
		{ "carol@example.test", "maildir:example.test/carol/" },
	};
	char path[128];
	struct cdb_make cm;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/recipients%d.cdb", root,
	    without_alice);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	cdb_make_start(&cm, fd);
	for (i = without_alice ? 1 : 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		cdb_make_add(&cm, kv[i][0], (unsigned)strlen(kv[i][0]),
		    kv[i][1], (unsigned)strlen(kv[i][1]));
	cdb_make_finish(&cm);
	return fd;
}

static pid_t
start_queue(int *parent, int first_start)
{
	char log[128];
	int sv[2], lfd;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if ((pid = fork()) == 0) {
		snprintf(log, sizeof(log), "%s/log", root);
		lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		dup2(lfd, 2);
		close(sv[0]);
		log_init("moatd", 1);
		log_setproc("queue");
		queue_main(&cf, sv[1], first_start);
	}
	close(sv[1]);
	*parent = sv[0];
	return pid;
}

static void
send_map(int parent, int without_alice)
{
	int fd = make_map(without_alice);

	frame_init(&fr, FRAME_MAP);
	frame_put_u32(&fr, MAP_RECIPIENTS);
	CHECK(fd != -1 && frame_send(parent, &fr, fd) == 0, "send map");
	close(fd);
}

static int
new_worker(int parent, uint32_t slot)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	frame_init(&fr, FRAME_WORKER_SOCK);
	frame_put_u32(&fr, slot);
	CHECK(frame_send(parent, &fr, sv[1]) == 0, "send worker sock");
	close(sv[1]);
	return sv[0];
}

static void
send_simple(int fd, uint32_t type)
{
	frame_init(&fr, type);
	CHECK(frame_send(fd, &fr, -1) == 0, "send %s", frame_name(type));
}

/* ---- worker side ---- */

static const char body[] = "Received: from x\r\nSubject: test\r\n\r\n"
    "hello\r\n";

/* The COMMIT's fields for the filters: port, PTR, TLS, DNSBL, greylist. */
static void
put_evidence(struct frame *f)
{
	frame_put_u32(f, 40000);
	frame_put_str(f, "");
	frame_put_u32(f, 0);
	frame_put_str(f, "");
	frame_put_str(f, "");
	frame_put_str(f, "");
}

static int
send_commit(int w, uint64_t ticket, const char *qid, const char *rcpt,
    uint64_t sizeadj)
{
	int fd = memfd_create("msg", MFD_CLOEXEC), r;

	if (fd == -1 || write(fd, body, strlen(body)) !=
	    (ssize_t)strlen(body))
		return -1;
	frame_init(&fr, FRAME_COMMIT);
	frame_put_u64(&fr, ticket);
	frame_put_str(&fr, qid);
	frame_put_str(&fr, "192.0.2.1");
	frame_put_str(&fr, "");
	frame_put_str(&fr, "client.example");
	frame_put_str(&fr, "sender@example.org");
	frame_put_u32(&fr, 1);
	frame_put_str(&fr, rcpt);
	frame_put_u64(&fr, strlen(body) + sizeadj);
	put_evidence(&fr);
	r = frame_send(w, &fr, fd);
	close(fd);
	return r;
}

static void
send_qid(int w, uint32_t type, const char *qid)
{
	frame_init(&fr, type);
	frame_put_str(&fr, qid);
	CHECK(frame_send(w, &fr, -1) == 0, "send %s", frame_name(type));
}

/* Next frame within ms: 1 got one, 0 closed, -1 timeout/error. */
static int
recv_within(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return frame_recv(fd, &fr);
}

static void
expect_commit_ok(int w, uint64_t ticket, const char *qid, const char *name)
{
	char got[64];
	uint64_t t;

	if (recv_within(w, 5000) != 1 || fr.type != FRAME_COMMIT_OK) {
		CHECK(0, "%s: no commit-ok (type %u)", name, fr.type);
		return;
	}
	t = frame_get_u64(&fr);
	frame_get_str(&fr, got, sizeof(got));
	CHECK(frame_end(&fr) == 0 && t == ticket && strcmp(got, qid) == 0,
	    "%s: commit-ok fields", name);
}

static void
expect_fail(int w, uint64_t ticket, unsigned code, const char *name)
{
	char enh[16], text[256], cls[64];
	uint32_t c, block;

	if (recv_within(w, 5000) != 1 || fr.type != FRAME_COMMIT_FAIL) {
		CHECK(0, "%s: no commit-fail (type %u)", name, fr.type);
		return;
	}
	CHECK(frame_get_u64(&fr) == ticket, "%s: ticket", name);
	c = frame_get_u32(&fr);
	frame_get_str(&fr, enh, sizeof(enh));
	frame_get_str(&fr, text, sizeof(text));
	frame_get_str(&fr, cls, sizeof(cls));
	block = frame_get_u32(&fr);
	CHECK(frame_end(&fr) == 0 && c == code && cls[0] == '\0' &&
	    block == 0, "%s: code %u class %s block %u", name, c, cls, block);
}

static void
expect_confirm_ok(int w, const char *qid, const char *name)
{
	char got[64];

	if (recv_within(w, 5000) != 1 || fr.type != FRAME_CONFIRM_OK) {
		CHECK(0, "%s: no confirm-ok", name);
		return;
	}
	frame_get_str(&fr, got, sizeof(got));
	CHECK(frame_end(&fr) == 0 && strcmp(got, qid) == 0,
	    "%s: confirm-ok qid", name);
}

/* ---- looking at the disk ---- */

static int
spool_has(const char *sub, const char *qid)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/spool/%s/%s", root, sub, qid);
	return access(p, F_OK) == 0;
}

static int
count_new(const char *maildir)
{
	char p[256];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "%s/mail/%s/new", root, maildir);
	if ((d = opendir(p)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Wait up to ms for the spool entry to come and go (want 0) or stay. */
static int
wait_gone(const char *qid, int ms)
{
	for (; ms > 0; ms -= 50) {
		if (!spool_has("queue", qid))
			return 1;
		msleep(50);
	}
	return 0;
}

static const char *
log_text(void)
{
	static char buf[1 << 20];
	char p[128];
	ssize_t n;
	size_t len = 0;
	int fd;

	snprintf(p, sizeof(p), "%s/log", root);
	if ((fd = open(p, O_RDONLY)) == -1)
		return "";
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len,
	    sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return buf;
}

static int
log_count(const char *needle)
{
	const char *p = log_text();
	int n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

static int
log_has(const char *needle)
{
	return log_count(needle) > 0;
}

/* The log line may follow the change we saw on disk by a moment. */
static int
wait_log(const char *needle)
{
	int ms;

	for (ms = 0; ms < 3000; ms += 50) {
		if (log_has(needle))
			return 1;
		msleep(50);
	}
	return 0;
}

static int
exit_status(pid_t pid, int ms)
{
	int st;

	for (; ms > 0; ms -= 50) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		msleep(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* ---- scenarios ---- */

#define QA	"A000000000000001"
#define QB	"B000000000000001"
#define QC	"C000000000000001"
#define QD	"D000000000000001"
#define QE	"E000000000000001"
#define QF	"F000000000000001"
#define QP	"A000000000000002"
#define QU	"A000000000000003"
#define QR	"A000000000000004"
#define QX	"A000000000000005"
#define QM	"A000000000000006"
#define QG	"A000000000000007"
#define QV	"A000000000000008"
#define QH	"A000000000000009"
#define QK	"A00000000000000A"
#define QL	"A00000000000000B"

#define ALICE	"example.test/alice"

static void
deliver_confirmed(int w)
{
	CHECK(send_commit(w, 1, QA, "alice@example.test", 0) == 0, "send A");
	expect_commit_ok(w, 1, QA, "commit A");
	CHECK(spool_has("queue", QA), "A is in queue/ after commit-ok");
	msleep(200);
	CHECK(count_new(ALICE) == 0, "A not delivered before its confirm");
	send_qid(w, FRAME_CONFIRM, QA);
	expect_confirm_ok(w, QA, "confirm A");
	CHECK(wait_gone(QA, 5000), "A delivered and removed");
	CHECK(count_new(ALICE) == 1, "A in alice's maildir");
	CHECK(wait_log("deliver qid=" QA " rcpt=alice@example.test "
	    "to=maildir:example.test/alice/ result=ok"), "deliver line for A");
	send_qid(w, FRAME_CONFIRM, QA);
	expect_confirm_ok(w, QA, "confirm resent after delivery");

	CHECK(send_commit(w, 2, QP, "postmaster", 0) == 0, "send P");
	expect_commit_ok(w, 2, QP, "commit bare postmaster");
	send_qid(w, FRAME_CONFIRM, QP);
	expect_confirm_ok(w, QP, "confirm P");
	CHECK(wait_gone(QP, 5000) && count_new("pm") == 1,
	    "bare postmaster delivered");
}

static void
refusals(int w)
{
	CHECK(send_commit(w, 3, QB, "alice@example.test", 0) == 0, "send B");
	expect_commit_ok(w, 3, QB, "commit B");
	CHECK(send_commit(w, 4, QB, "alice@example.test", 0) == 0, "send B2");
	expect_fail(w, 4, 451, "duplicate queue id");
	send_qid(w, FRAME_ABORT, QB);
	CHECK(wait_gone(QB, 5000), "aborted B removed");
	CHECK(wait_log("discard qid=" QB " reason=abort"), "abort logged");
	CHECK(send_commit(w, 5, QX, "a\tb@example.test", 0) == 0, "send X");
	expect_fail(w, 5, 451, "control byte in a recipient");
	CHECK(!spool_has("queue", QX) && !spool_has("tmp", QX),
	    "refused commit left nothing");
}

/*
 * The worker confirms before it writes the 250; when that write then
 * fails, its ABORT still wins over a delivery that has not begun.
 */
static void
abort_after_confirm(int w, pid_t pid)
{
	CHECK(send_commit(w, 13, QH, "alice@example.test", 0) == 0, "send H");
	expect_commit_ok(w, 13, QH, "commit H");
	CHECK(kill(pid, SIGSTOP) == 0, "stop the queue");
	send_qid(w, FRAME_CONFIRM, QH);
	send_qid(w, FRAME_ABORT, QH);
	CHECK(kill(pid, SIGCONT) == 0, "resume the queue");
	expect_confirm_ok(w, QH, "confirm H answered");
	CHECK(wait_log("discard qid=" QH " reason=abort"),
	    "abort of an undelivered confirmed entry honoured");
	CHECK(!spool_has("queue", QH) && count_new(ALICE) == 1,
	    "H never delivered");
}

static void
deferred(int w)
{
	CHECK(send_commit(w, 6, QD, "bob@example.test", 0) == 0, "send D");
	expect_commit_ok(w, 6, QD, "commit D");
	send_qid(w, FRAME_CONFIRM, QD);
	expect_confirm_ok(w, QD, "confirm D");
	msleep(500);
	CHECK(spool_has("queue", QD), "undeliverable D stays queued");
	CHECK(wait_log("defer qid=" QD " rcpt=bob@example.test"),
	    "defer line for D");
	CHECK(wait_log("attempts=1 retry_in=30"), "first defer: attempts=1");
}

/* ---- the operator's requests, as the parent relays them ---- */

#define CAROL	"example.test/carol"
#define NMANY	300

static uint64_t ctl_tag;
static char ctl_text[CTL_TEXT_MAX];

/* One request; the reply's status (-1: none), its text in ctl_text. */
static int
ctl_ask(int parent, uint32_t op, const char *qid, int *fd)
{
	uint64_t tag = ++ctl_tag, got;
	uint32_t status;

	ctl_text[0] = '\0';
	frame_init(&fr, FRAME_CTL_REQUEST);
	frame_put_u64(&fr, tag);
	frame_put_u32(&fr, op);
	frame_put_str(&fr, qid);
	if (frame_send(parent, &fr, -1) == -1 ||
	    recv_within(parent, 5000) != 1 || fr.type != FRAME_CTL_REPLY)
		return -1;
	got = frame_get_u64(&fr);
	status = frame_get_u32(&fr);
	frame_get_str(&fr, ctl_text, sizeof(ctl_text));
	if (fd != NULL)
		*fd = fr.fd;
	else if (fr.fd != -1)
		close(fr.fd);
	return frame_end(&fr) == 0 && got == tag ? (int)status : -1;
}

static int
ctl_list(int parent, struct listing *l)
{
	char err[128];
	FILE *fp;
	int fd, r;

	memset(l, 0, sizeof(*l));
	if (ctl_ask(parent, CTL_LIST, "", &fd) != CTL_OK || fd == -1 ||
	    lseek(fd, 0, SEEK_SET) == -1 || (fp = fdopen(fd, "r")) == NULL)
		return -1;
	r = listing_read(l, fp, err, sizeof(err));
	CHECK(r == 0, "listing: %s", err);
	fclose(fp);
	return r;
}

static const struct listing_entry *
listed(const struct listing *l, const char *qid)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].qid, qid) == 0)
			return &l->v[i];
	return NULL;
}

/* K, which bob's maildir defers, listed, held, released and deleted. */
static void
operator_hold(int parent, int w)
{
	const struct listing_entry *e;
	struct listing l;

	CHECK(send_commit(w, 20, QK, "bob@example.test", 0) == 0, "send K");
	expect_commit_ok(w, 20, QK, "commit K");
	CHECK(ctl_ask(parent, CTL_HOLD, QK, NULL) == CTL_REFUSED &&
	    strstr(ctl_text, "not confirmed") != NULL,
	    "unconfirmed K not held: %s", ctl_text);
	CHECK(ctl_ask(parent, CTL_DELETE, QK, NULL) == CTL_REFUSED,
	    "unconfirmed K not deleted: %s", ctl_text);
	send_qid(w, FRAME_CONFIRM, QK);
	expect_confirm_ok(w, QK, "confirm K");
	CHECK(wait_log("defer qid=" QK " rcpt=bob@example.test"), "K defers");
	CHECK(ctl_list(parent, &l) == 0, "list");
	e = listed(&l, QK);
	CHECK(e != NULL && e->state == LS_DEFERRED && e->next > 0 &&
	    e->nrcpt == 1 && e->rcpt[0].status == RCPT_PENDING &&
	    e->rcpt[0].attempts == 1 &&
	    strstr(e->rcpt[0].error, "nonexistent-moat") != NULL &&
	    strcmp(e->sender, "sender@example.org") == 0,
	    "K listed deferred, with its last error");
	CHECK(listed(&l, QD) != NULL, "D listed too");
	listing_free(&l);
	CHECK(ctl_ask(parent, CTL_HOLD, QK, NULL) == CTL_OK &&
	    spool_has("hold", QK) && !spool_has("queue", QK), "K held");
	CHECK(wait_log("hold qid=" QK " by=moatctl pending=1 delivered=0"),
	    "hold logged");
	CHECK(ctl_ask(parent, CTL_HOLD, QK, NULL) == CTL_REFUSED &&
	    strstr(ctl_text, "held already") != NULL, "K held twice");
	CHECK(ctl_ask(parent, CTL_RELEASE, QD, NULL) == CTL_REFUSED,
	    "queued D released: %s", ctl_text);
	CHECK(ctl_list(parent, &l) == 0 && (e = listed(&l, QK)) != NULL &&
	    e->state == LS_HELD && e->next == -1, "K listed held");
	listing_free(&l);
	CHECK(ctl_ask(parent, CTL_FLUSH, "", NULL) == CTL_OK &&
	    strstr(ctl_text, "due now") != NULL, "flush: %s", ctl_text);
	msleep(300);
	CHECK(log_count("defer qid=" QK) == 1, "held K not tried by flush");
	CHECK(ctl_ask(parent, CTL_RELEASE, QK, NULL) == CTL_OK &&
	    spool_has("queue", QK) && !spool_has("hold", QK), "K released");
	CHECK(wait_log("release qid=" QK " by=moatctl pending=1"),
	    "release logged");
	msleep(300);
	CHECK(log_count("defer qid=" QK) == 2, "released K tried at once");
	CHECK(ctl_ask(parent, CTL_HOLD, QK, NULL) == CTL_OK, "K held again");
	CHECK(ctl_ask(parent, CTL_DELETE, QK, NULL) == CTL_OK &&
	    !spool_has("hold", QK) && !spool_has("queue", QK),
	    "K deleted from hold/");
	CHECK(wait_log("delete qid=" QK " by=moatctl folder=hold "
	    "from=sender@example.org nrcpt=1 undelivered=1 "
	    "rcpt=bob@example.test"), "delete logged with its recipient");
	CHECK(ctl_ask(parent, CTL_DELETE, QK, NULL) == CTL_UNKNOWN &&
	    ctl_ask(parent, CTL_RELEASE, QK, NULL) == CTL_UNKNOWN &&
	    ctl_ask(parent, CTL_HOLD, QK, NULL) == CTL_UNKNOWN,
	    "a deleted K is unknown");
}

static int
send_commit_many(int w, uint64_t ticket, const char *qid)
{
	char rcpt[64];
	int fd = memfd_create("msg", MFD_CLOEXEC), r, i;

	if (fd == -1 || write(fd, body, strlen(body)) !=
	    (ssize_t)strlen(body))
		return -1;
	frame_init(&fr, FRAME_COMMIT);
	frame_put_u64(&fr, ticket);
	frame_put_str(&fr, qid);
	frame_put_str(&fr, "192.0.2.1");
	frame_put_str(&fr, "");
	frame_put_str(&fr, "client.example");
	frame_put_str(&fr, "sender@example.org");
	frame_put_u32(&fr, NMANY);
	for (i = 0; i < NMANY; i++) {
		snprintf(rcpt, sizeof(rcpt), "carol+%d@example.test", i);
		frame_put_str(&fr, rcpt);
	}
	frame_put_u64(&fr, strlen(body));
	put_evidence(&fr);
	r = frame_send(w, &fr, fd);
	close(fd);
	return r;
}

static int
held_delivered(const char *qid)
{
	char dir[128];
	struct spool_env e;
	struct spool sp;
	size_t i;
	int n = -1;

	snprintf(dir, sizeof(dir), "%s/spool", root);
	if (spool_open(&sp, dir) == -1)
		return -1;
	if (spool_load(&sp, qid, 1, &e) == 0) {
		for (n = 0, i = 0; i < e.nrcpt; i++)
			n += e.rcpt[i].status == RCPT_DELIVERED;
		if (e.state != SPOOL_CONFIRMED)
			n = -2;
		spool_env_free(&e);
	}
	spool_close(&sp);
	return n;
}

/*
 * A hold that lands between two slices of one pass: what was delivered
 * is marked D in the held file, the rest is pending, and the release
 * delivers exactly the rest.
 */
static void
hold_mid_pass(int parent, int w, pid_t pid)
{
	char line[128];
	int ms, n, status;

	CHECK(send_commit_many(w, 21, QL) == 0, "send L");
	expect_commit_ok(w, 21, QL, "commit L");
	send_qid(w, FRAME_CONFIRM, QL);
	for (ms = 0; ms < 5000 && count_new(CAROL) == 0; ms++)
		msleep(1);
	CHECK(kill(pid, SIGSTOP) == 0, "stop the queue mid-pass");
	frame_init(&fr, FRAME_CTL_REQUEST);
	frame_put_u64(&fr, ++ctl_tag);
	frame_put_u32(&fr, CTL_HOLD);
	frame_put_str(&fr, QL);
	CHECK(frame_send(parent, &fr, -1) == 0, "send hold L");
	CHECK(kill(pid, SIGCONT) == 0, "resume the queue");
	expect_confirm_ok(w, QL, "confirm L");
	status = recv_within(parent, 5000) == 1 &&
	    fr.type == FRAME_CTL_REPLY && frame_get_u64(&fr) == ctl_tag ?
	    (int)frame_get_u32(&fr) : -1;
	n = count_new(CAROL);
	CHECK(status == CTL_OK && n > 0 && n < NMANY,
	    "L held mid-pass (status %d, %d delivered)", status, n);
	CHECK(held_delivered(QL) == n, "the held file marks the %d "
	    "delivered recipients D, and is confirmed", n);
	snprintf(line, sizeof(line), "hold qid=" QL " by=moatctl pending=%d "
	    "delivered=%d", NMANY - n, n);
	CHECK(wait_log(line), "%s", line);
	msleep(300);
	CHECK(count_new(CAROL) == n, "nothing delivered while held");
	CHECK(ctl_ask(parent, CTL_RELEASE, QL, NULL) == CTL_OK, "release L");
	CHECK(wait_gone(QL, 10000), "released L delivered");
	CHECK(count_new(CAROL) == NMANY, "every recipient of L once: %d",
	    count_new(CAROL));
}

/* A map that lost a recipient defers it; the map coming back cures it. */
static void
map_swap(int parent, int w)
{
	send_map(parent, 1);
	CHECK(send_commit(w, 11, QM, "alice@example.test", 0) == 0, "send M");
	expect_commit_ok(w, 11, QM, "commit M");
	send_qid(w, FRAME_CONFIRM, QM);
	expect_confirm_ok(w, QM, "confirm M");
	CHECK(wait_log("defer qid=" QM " rcpt=alice@example.test "
	    "reason=\"no recipient map entry\""), "unknown at delivery: defer");
	CHECK(spool_has("queue", QM), "M kept while the map lacks alice");
	send_map(parent, 0);
	send_simple(parent, FRAME_FLUSH);
	CHECK(wait_gone(QM, 5000), "M delivered once the map is back");
	CHECK(count_new(ALICE) == 2, "M in alice's maildir");
}

/*
 * A worker sends its CONFIRM before the 250, so an entry still
 * unconfirmed when its worker dies has no 250 anywhere: discarded, after
 * COMMIT_OK or before it (the queue stopped meanwhile, so it reads the
 * COMMIT and the close in one go).
 */
static void
worker_gone(int parent, pid_t pid)
{
	int w2 = new_worker(parent, 1), w3 = new_worker(parent, 2);
	int w4 = new_worker(parent, 3);

	CHECK(send_commit(w2, 7, QC, "alice@example.test", 0) == 0, "send C");
	expect_commit_ok(w2, 7, QC, "commit C");
	close(w2);
	CHECK(wait_gone(QC, 5000), "unconfirmed C discarded with its worker");
	CHECK(wait_log("discard qid=" QC " reason=unconfirmed"),
	    "unconfirmed discard logged");
	CHECK(count_new(ALICE) == 2, "C never delivered");
	msleep(200);		/* w4's channel is in place */
	CHECK(kill(pid, SIGSTOP) == 0, "stop the queue");
	CHECK(send_commit(w4, 12, QG, "alice@example.test", 0) == 0, "send G");
	close(w4);
	CHECK(kill(pid, SIGCONT) == 0, "resume the queue");
	CHECK(wait_log("discard qid=" QG " reason=unconfirmed"),
	    "G, never answered, discarded");
	CHECK(!spool_has("queue", QG) && !spool_has("tmp", QG), "G left nothing");
	CHECK(count_new(ALICE) == 2, "G never delivered");
	CHECK(send_commit(w3, 8, QX, "alice@example.test", 5) == 0, "send X");
	CHECK(recv_within(w3, 5000) == 0, "size mismatch closes the channel");
	CHECK(wait_log("bad frame from worker slot=2"), "bad frame logged");
	close(w3);
}

static void
flush_and_drain(int parent, int w, pid_t pid)
{
	send_simple(parent, FRAME_FLUSH);
	msleep(500);
	CHECK(wait_log("attempts=3 retry_in=120"), "flush retried D at once");
	CHECK(send_commit(w, 9, QE, "alice@example.test", 0) == 0, "send E");
	expect_commit_ok(w, 9, QE, "commit E");
	frame_init(&fr, FRAME_DRAIN);
	frame_put_u32(&fr, 2);
	CHECK(frame_send(parent, &fr, -1) == 0, "send drain");
	msleep(200);
	CHECK(send_commit(w, 10, QF, "alice@example.test", 0) == 0, "send F");
	expect_fail(w, 10, 421, "commit while draining");
	send_qid(w, FRAME_CONFIRM, QE);
	expect_confirm_ok(w, QE, "confirm E while draining");
	CHECK(exit_status(pid, 5000) == 0, "drained queue exits 0");
	CHECK(spool_has("queue", QE), "E waits in the spool for the restart");
}

/* Entries the next queue process finds on disk. */
static void
plant(const char *qid)
{
	char dir[128], *rcpts[] = { "alice@example.test" };
	struct spool_env e;
	struct spool sp;
	const char *why;
	int fd = memfd_create("m", MFD_CLOEXEC);

	snprintf(dir, sizeof(dir), "%s/spool", root);
	CHECK(fd != -1 && write(fd, body, strlen(body)) > 0, "plant memfd");
	CHECK(spool_open(&sp, dir) == 0, "plant spool_open");
	CHECK(spool_env_init(&e, qid, time(NULL), "192.0.2.9", "", "h", "",
	    rcpts, 1, &why) == 0, "plant env");
	CHECK(spool_commit(&sp, &e, fd, strlen(body)) == 0 &&
	    spool_sync_queue(&sp) == 0, "plant commit");
	spool_env_free(&e);
	spool_close(&sp);
	close(fd);
}

/*
 * D, held after queue_lifetime, released: its next failure defers it,
 * since the lifetime counts from the release; then deleted from queue/.
 */
static void
release_after_lifetime(int parent)
{
	int held = log_count("hold qid=" QD " rcpt="), tries;

	tries = log_count("defer qid=" QD " rcpt=");
	CHECK(ctl_ask(parent, CTL_RELEASE, QD, NULL) == CTL_OK,
	    "release D: %s", ctl_text);
	CHECK(wait_log("release qid=" QD " by=moatctl pending=1"),
	    "release of D logged");
	msleep(300);
	CHECK(log_count("defer qid=" QD " rcpt=") == tries + 1 &&
	    log_count("hold qid=" QD " rcpt=") == held,
	    "released D deferred, not held again at once");
	CHECK(spool_has("queue", QD) && !spool_has("hold", QD), "D queued");
	CHECK(ctl_ask(parent, CTL_DELETE, QD, NULL) == CTL_OK &&
	    !spool_has("queue", QD), "D deleted from queue/");
	CHECK(wait_log("delete qid=" QD " by=moatctl folder=queue "
	    "from=sender@example.org nrcpt=1 undelivered=1 "
	    "rcpt=bob@example.test"), "delete of D logged");
}

static void
restart(void)
{
	char p[256];
	int parent, w;
	pid_t pid;

	plant(QU);
	plant(QR);
	snprintf(p, sizeof(p), "%s/spool/tmp/%s", root, QX);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	cf.queue_lifetime = 1;		/* D is older than that by now */
	pid = start_queue(&parent, 0);
	send_map(parent, 0);
	w = new_worker(parent, 0);
	CHECK(wait_gone(QD, 5000) && spool_has("hold", QD),
	    "D past queue_lifetime moved to hold/");
	CHECK(wait_log("hold qid=" QD " rcpt=bob@example.test"), "hold line");
	release_after_lifetime(parent);
	CHECK(wait_gone(QE, 5000), "recovered confirmed E delivered");
	CHECK(count_new(ALICE) == 3, "E in alice's maildir");
	CHECK(!spool_has("tmp", QX), "tmp/ leftover removed");
	send_qid(w, FRAME_CONFIRM, QR);
	expect_confirm_ok(w, QR, "resent confirm for recovered R");
	CHECK(wait_gone(QR, 5000) && count_new(ALICE) == 4, "R delivered");
	CHECK(spool_has("queue", QU), "unconfirmed U waits for its grace");
	CHECK(wait_gone(QU, QUEUE_GRACE_MS + 5000), "U discarded after grace");
	CHECK(wait_log("discard qid=" QU " reason=unconfirmed"), "U logged");
	CHECK(count_new(ALICE) == 4, "U never delivered");
	close(parent);
	CHECK(exit_status(pid, 5000) == 1, "queue exits when the parent goes");
	close(w);
}

/*
 * The daemon's first start after the machine stopped: an unconfirmed
 * entry may be one whose C mark never reached the disk, and no worker
 * is left to resend its CONFIRM: delivered at once.
 */
static void
first_start(void)
{
	int parent;
	pid_t pid;

	plant(QV);
	pid = start_queue(&parent, 1);
	send_map(parent, 0);
	CHECK(wait_gone(QV, 5000), "U found at first start delivered");
	CHECK(wait_log("orphan qid=" QV " reason=unconfirmed-at-start"),
	    "orphan logged");
	CHECK(count_new(ALICE) == 5, "V in alice's maildir");
	close(parent);
	CHECK(exit_status(pid, 5000) == 1, "queue exits when the parent goes");
}

static void
setup_conf(void)
{
	memset(&cf, 0, sizeof(cf));
	snprintf(cf.spool, sizeof(cf.spool), "%s/spool", root);
	snprintf(cf.mail_root, sizeof(cf.mail_root), "%s/mail", root);
	snprintf(cf.hostname, sizeof(cf.hostname), "mx.example.test");
	cf.local_part_fold = 1;
	cf.retry_min = 30;
	cf.retry_max = 120;
	cf.queue_lifetime = 3600;
	mkdir(cf.spool, 0700);
	mkdir(cf.mail_root, 0700);
}

int
main(void)
{
	int parent, w;
	pid_t pid;

	snprintf(root, sizeof(root), "/tmp/test_queue_proc.XXXXXX");
	if (mkdtemp(root) == NULL) {
		CHECK(0, "mkdtemp");
		T_DONE();
	}
	setup_conf();
	pid = start_queue(&parent, 1);
	CHECK(pid > 0, "fork");
	send_map(parent, 0);
	w = new_worker(parent, 0);
	deliver_confirmed(w);
	refusals(w);
	abort_after_confirm(w, pid);
	deferred(w);
	operator_hold(parent, w);
	hold_mid_pass(parent, w, pid);
	map_swap(parent, w);
	worker_gone(parent, pid);
	flush_and_drain(parent, w, pid);
	close(w);
	close(parent);
	restart();
	first_start();
	if (t_fail)
		fprintf(stderr, "queue log kept in %s/log\n", root);
	else
		nftw(root, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	T_DONE();
}
