/*
 * moatctl: the administrator's tool.  Compiles maps, shows what a lookup
 * returns, and signals the running daemon.
 *
 *	moatctl [-f CONF] makemap [-f] FILE|NAME ...	compile maps
 *	moatctl [-f CONF] makemap [-f] -a		every configured map
 *	moatctl [-f CONF] query MAP KEY			look a key up
 *	moatctl [-f CONF] reload | stop			SIGHUP / SIGTERM
 *	moatctl [-f CONF] flush				retry deferred mail now
 *	moatctl [-f CONF] queue [list] [plain | json]	the queue, held too
 *	moatctl [-f CONF] queue hold|release|delete ID...
 *	moatctl [-f CONF] dnsbl				DNS list figures
 *	moatctl [-f CONF] greylist [list | stats | allow|delete NET SENDER RCPT]
 *	moatctl [-f CONF] rates IP			a client's rate buckets
 *	moatctl [-f CONF] block IP[/LEN] [DURATION [REASON]]	block by hand
 *	moatctl [-f CONF] unblock IP[/LEN]		lift a block
 *	moatctl [-f CONF] blocks [[--format] plain|nft|ipset]	the block list
 *
 * Each command is one row of ctl_cmds[]; a new command is a new row and
 * a function.  The config is read for every command: it says which file
 * is which map, and a map is compiled the way the daemon reads it (the
 * access map with normalised networks, the recipients map keeping the
 * case of local parts when local_part_case = sensitive).
 *
 * Values are vetted per map (access, helo, senders: OK or REJECT [text];
 * recipients: a target the queue can deliver to), so a typo is a
 * file:line error now rather than a logged surprise under load.
 *
 * makemap refuses to install a recipients map with fewer than half the
 * records of the installed one unless forced: a truncated export would
 * otherwise make every recipient unknown and bounce real mail with 550.
 *
 * flush and queue ask the running daemon over its control socket
 * (ctlqueue.c); reload and stop signal it.
 *
 * Exit codes: 0 success; 1 failure or refusal (query: not found; queue:
 * no such entry); 2 usage or error (query: lookup error; flush, queue:
 * moatd could not be asked).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "../conf/map.h"
#include "../conf/rcptmap.h"
#include "../dnsbl/zonestats.h"
#include "../greylist/admin.h"
#include "../greylist/blocks.h"
#include "../greylist/netkey.h"
#include "../greylist/rates.h"
#include "../metrics/stats.h"
#include "../queue/lmtp.h"
#include "../report/report.h"
#include "../queue/maildir.h"
#include "../queue/spool.h"
#include "buf.h"
#include "control.h"
#include "ctlqueue.h"

#ifndef MOAT_CONF_DEFAULT
#define MOAT_CONF_DEFAULT	"/etc/moat/moat.conf"
#endif

#define EXIT_REFUSED	1
#define EXIT_USAGE	2

struct ctl {
	const char	*conffile;
	struct conf	 conf;
};

struct ctl_cmd {
	const char	*name;
	const char	*args;
	const char	*help;
	int		(*run)(struct ctl *, int, char **);
};

static int	cmd_makemap(struct ctl *, int, char **);
static int	cmd_query(struct ctl *, int, char **);
static int	cmd_reload(struct ctl *, int, char **);
static int	cmd_stop(struct ctl *, int, char **);
static int	cmd_flush(struct ctl *, int, char **);
static int	cmd_queue(struct ctl *, int, char **);
static int	cmd_dnsbl(struct ctl *, int, char **);
static int	cmd_stats(struct ctl *, int, char **);
static int	cmd_greylist(struct ctl *, int, char **);
static int	cmd_rates(struct ctl *, int, char **);
static int	cmd_block(struct ctl *, int, char **);
static int	cmd_unblock(struct ctl *, int, char **);
static int	cmd_blocks(struct ctl *, int, char **);

static const struct ctl_cmd ctl_cmds[] = {
	{ "makemap", "[-f] FILE|NAME... | [-f] -a",
	    "compile text maps into FILE.cdb (-f: install even a recipients "
	    "map that lost over half its entries)", cmd_makemap },
	{ "query", "MAP KEY",
	    "print what moatd's lookup of KEY in MAP returns", cmd_query },
	{ "reload", "", "reload config and maps (SIGHUP)", cmd_reload },
	{ "stop", "", "drain sessions and stop (SIGTERM)", cmd_stop },
	{ "flush", "", "retry deferred deliveries now", cmd_flush },
	{ "queue", "[list] [plain | json] | hold|release|delete ID...",
	    "list the queue (held entries too), hold an entry, release a "
	    "held one, delete one", cmd_queue },
	{ "dnsbl", "", "per DNS list: state, queries, listed, errors, "
	    "latency", cmd_dnsbl },
	{ "stats", "[--format text|json|openmetrics]", "the running daemon's "
	    "counters, since its start and over the last hour", cmd_stats },
	{ "greylist", "[list | stats | allow NET SENDER RCPT | delete NET "
	    "SENDER RCPT]", "greylisting triplets: show, count, let one "
	    "through, forget one", cmd_greylist },
	{ "rates", "IP", "what the rate limits count for a client",
	    cmd_rates },
	{ "block", "IP[/LEN] [DURATION [REASON]]", "block a client, or "
	    "every client in a network (default block_time)", cmd_block },
	{ "unblock", "IP[/LEN]", "lift a client's or a network's block",
	    cmd_unblock },
	{ "blocks", "[[--format] plain | nft | ipset]", "the blocked clients "
	    "and networks, or commands loading them into firewall sets",
	    cmd_blocks },
	{ "report", "[--since T] [--until T] [--top N] [--format text|json|html] "
	    "[--asn FILE] "
	    "[LOGFILE...]",
	    "traffic, connections, rejections and clients from moatd's log",
	    NULL },
};

#define NCMDS	(sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

static void
warnx_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
warnx_(const char *fmt, ...)
{
	va_list ap;

	fputs("moatctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static _Noreturn void
usage(void)
{
	size_t i;

	fprintf(stderr, "usage: moatctl [-f CONF] COMMAND [ARGS]\n"
	    "  CONF defaults to %s\n", MOAT_CONF_DEFAULT);
	for (i = 0; i < NCMDS; i++)
		fprintf(stderr, "  %s%s%s\n      %s\n", ctl_cmds[i].name,
		    ctl_cmds[i].args[0] ? " " : "", ctl_cmds[i].args,
		    ctl_cmds[i].help);
	exit(EXIT_USAGE);
}

/* ---- which map is which ---- */

/*
 * A map argument: a map name ("recipients") names the file the config
 * gives; anything else is a path, recognised as one of the config's maps
 * by its real path.  *id is -1 for a file the config does not name.
 */
static int
ctl_map_arg(const struct ctl *ctl, const char *arg, char *path,
    size_t pathsize, int *id)
{
	char want[PATH_MAX], have[PATH_MAX];
	int i;

	*id = -1;
	if (strchr(arg, '/') == NULL && (i = map_byname(arg)) != -1) {
		if (ctl->conf.maps[i][0] == '\0') {
			warnx_("%s: no %s map is set", ctl->conffile, arg);
			return -1;
		}
		*id = i;
		return strlcpy_ok(path, ctl->conf.maps[i], pathsize);
	}
	if (strlcpy_ok(path, arg, pathsize) == -1) {
		warnx_("%s: path too long", arg);
		return -1;
	}
	if (realpath(arg, want) == NULL) {
		warnx_("%s: %s", arg, strerror(errno));
		return -1;
	}
	for (i = 0; i < MAP_COUNT; i++) {
		if (ctl->conf.maps[i][0] != '\0' &&
		    realpath(ctl->conf.maps[i], have) != NULL &&
		    strcmp(want, have) == 0) {
			*id = i;
			break;
		}
	}
	return 0;
}

/* ---- makemap ---- */

/* What map_value_check needs to know beyond the value. */
static const struct conf *vet_conf;

/*
 * access, helo, senders: "OK" or "REJECT [text]", any case; the text is
 * shown to clients, so printable ASCII only.  The daemon ignores (and
 * logs) any other value; refusing it here is kinder.
 */
static int
vet_action(const char *value, char *why, size_t whysize)
{
	const char *p;

	if (strcasecmp(value, "OK") == 0)
		return 0;
	if (strncasecmp(value, "REJECT", 6) != 0 ||
	    (value[6] != '\0' && value[6] != ' ' && value[6] != '\t')) {
		(void)snprintf(why, whysize, "expected OK or REJECT [text]");
		return -1;
	}
	for (p = value + 6; *p != '\0'; p++) {
		if ((*p < 0x20 || *p > 0x7e) && *p != '\t') {
			(void)snprintf(why, whysize, "the text must be "
			    "printable ASCII");
			return -1;
		}
	}
	return 0;
}

/*
 * recipients: a delivery target the queue can resolve: maildir:PATH,
 * lmtp:unix:/PATH or lmtp:HOST:PORT; or, with a `delivery` default, OK.
 */
static int
vet_target(const char *value, char *why, size_t whysize)
{
	char path[PATH_MAX], err[256];
	struct lmtp_target t;

	if (strncmp(value, LMTP_PREFIX, strlen(LMTP_PREFIX)) == 0) {
		if (lmtp_target_parse(value, &t) == 0)
			return 0;
		(void)snprintf(why, whysize, "bad LMTP target (expected "
		    "lmtp:unix:/PATH or lmtp:HOST:PORT)");
		return -1;
	}
	if (strcasecmp(value, "OK") == 0 && vet_conf->delivery[0] != '\0')
		return 0;
	if (maildir_path(vet_conf->mail_root, value, path, sizeof(path), err,
	    sizeof(err)) == -1) {
		(void)snprintf(why, whysize, "%s (expected maildir:PATH/, "
		    "lmtp:..., or OK with a delivery default)", err);
		return -1;
	}
	return 0;
}

static int
vet_ok(const char *value, char *why, size_t whysize)
{
	if (strcasecmp(value, "OK") == 0)
		return 0;
	(void)snprintf(why, whysize, "expected OK");
	return -1;
}

static map_value_check
makemap_check(int id)
{
	switch (id) {
	case MAP_ACCESS:
	case MAP_HELO:
	case MAP_SENDERS:
		return vet_action;
	case MAP_RECIPIENTS:
		return vet_target;
	case MAP_GREYLIST_ALLOW:
		return vet_ok;
	default:
		return NULL;
	}
}

/*
 * The outage guard: 1 if the new recipients map may replace the
 * installed one, 0 if it lost more than half the records.
 */
static int
makemap_guard(const char *path, unsigned records)
{
	char cdb[PATH_MAX];
	long old;

	if (map_cdb_path(path, cdb, sizeof(cdb)) == -1 ||
	    (old = map_count_path(cdb)) <= 0)
		return 1;	/* nothing (readable) to protect */
	if ((unsigned long)records * 2 >= (unsigned long)old)
		return 1;
	warnx_("%s: the new map has %u record%s, the installed %s has %ld: "
	    "more than half would become unknown recipients; not installed "
	    "(use makemap -f to install it anyway)", path, records,
	    records == 1 ? "" : "s", cdb, old);
	return 0;
}

static int
makemap_one(struct ctl *ctl, const char *arg, int force)
{
	char path[CONF_PATH_MAX], err[1024];
	unsigned records;
	int id, keep_case, cidr;

	if (ctl_map_arg(ctl, arg, path, sizeof(path), &id) == -1)
		return -1;
	keep_case = id == MAP_RECIPIENTS && !ctl->conf.local_part_fold;
	cidr = id == MAP_ACCESS;
	vet_conf = &ctl->conf;
	if (map_compile_tmp(path, keep_case, cidr, makemap_check(id),
	    &records, err, sizeof(err)) == -1) {
		warnx_("%s", err);
		return -1;
	}
	if (id == MAP_RECIPIENTS && !force && !makemap_guard(path, records)) {
		map_discard(path);
		return -1;
	}
	if (map_install(path, err, sizeof(err)) == -1) {
		map_discard(path);
		warnx_("%s", err);
		return -1;
	}
	printf("%s.cdb: %u record%s\n", path, records, records == 1 ? "" : "s");
	return 0;
}

static int
cmd_makemap(struct ctl *ctl, int argc, char **argv)
{
	int ch, force = 0, all = 0, failed = 0, i;

	optind = 0;	/* restart getopt for the command's own options */
	while ((ch = getopt(argc, argv, "+af")) != -1) {
		switch (ch) {
		case 'a':
			all = 1;
			break;
		case 'f':
			force = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if ((all && argc != 0) || (!all && argc == 0))
		usage();
	if (all) {
		for (i = 0; i < MAP_COUNT; i++)
			if (ctl->conf.maps[i][0] != '\0' &&
			    makemap_one(ctl, map_name(i), force) == -1)
				failed = 1;
	} else {
		for (i = 0; i < argc; i++)
			if (makemap_one(ctl, argv[i], force) == -1)
				failed = 1;
	}
	return failed ? EXIT_REFUSED : 0;
}

/* ---- query ---- */

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static int
query_access(struct map *m, const char *key, char *val, size_t valsize,
    char *matched, size_t matchedsize)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, key, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		return map_get_addr(m, (struct sockaddr *)&sin, val, valsize,
		    matched, matchedsize);
	}
	if (inet_pton(AF_INET6, key, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		return map_get_addr(m, (struct sockaddr *)&sin6, val, valsize,
		    matched, matchedsize);
	}
	warnx_("%s is not an IP address", key);
	errno = EINVAL;
	return -2;
}

/* The daemon's sender chain: address, "@domain", domain and parents. */
static int
query_sender(struct map *m, const char *key, char *val, size_t valsize,
    char *matched, size_t matchedsize)
{
	char addr[MAP_KEY_MAX];
	const char *at;
	int r;

	if (strlcpy_ok(addr, key, sizeof(addr)) == -1)
		return 0;
	lower(addr);
	if ((at = strrchr(addr, '@')) == NULL)
		return map_get_domain(m, addr, val, valsize, matched,
		    matchedsize);
	if ((r = map_get(m, addr, val, valsize)) != 0) {
		(void)strlcpy_ok(matched, addr, matchedsize);
		return r;
	}
	if ((r = map_get(m, at, val, valsize)) != 0) {	/* "@domain" */
		(void)strlcpy_ok(matched, at, matchedsize);
		return r;
	}
	return map_get_domain(m, at + 1, val, valsize, matched, matchedsize);
}

static int
query_recipient(const struct ctl *ctl, struct map *m, const char *key,
    char *val, size_t valsize, char *matched, size_t matchedsize)
{
	char local[MAP_KEY_MAX], domain[MAP_KEY_MAX];

	if (rcpt_split(key, local, sizeof(local), domain,
	    sizeof(domain)) == -1)
		return 0;
	return rcpt_lookup(m, local, domain, ctl->conf.local_part_fold, val,
	    valsize, matched, matchedsize);
}

static int
query_lookup(const struct ctl *ctl, int id, struct map *m, const char *key,
    char *val, size_t valsize, char *matched, size_t matchedsize)
{
	char k[MAP_KEY_MAX];

	switch (id) {
	case MAP_ACCESS:
		return query_access(m, key, val, valsize, matched,
		    matchedsize);
	case MAP_HELO:
	case MAP_GREYLIST_ALLOW:
		return map_get_domain(m, key, val, valsize, matched,
		    matchedsize);
	case MAP_SENDERS:
		return query_sender(m, key, val, valsize, matched,
		    matchedsize);
	case MAP_RECIPIENTS:
		return query_recipient(ctl, m, key, val, valsize, matched,
		    matchedsize);
	default:
		if (strlcpy_ok(k, key, sizeof(k)) == -1)
			return 0;
		lower(k);
		(void)strlcpy_ok(matched, k, matchedsize);
		return map_get(m, k, val, valsize);
	}
}

static int
cmd_query(struct ctl *ctl, int argc, char **argv)
{
	char path[CONF_PATH_MAX], cdb[PATH_MAX];
	char val[MAP_VALUE_MAX], matched[MAP_KEY_MAX];
	struct map m;
	int id, r;

	if (argc != 3)
		usage();
	if (ctl_map_arg(ctl, argv[1], path, sizeof(path), &id) == -1 ||
	    map_cdb_path(path, cdb, sizeof(cdb)) == -1)
		return EXIT_USAGE;
	if (map_open_path(&m, cdb) == -1) {
		warnx_("%s: %s", cdb, strerror(errno));
		return EXIT_USAGE;
	}
	matched[0] = '\0';
	r = query_lookup(ctl, id, &m, argv[2], val, sizeof(val), matched,
	    sizeof(matched));
	map_close(&m);
	if (r < 0) {
		if (r == -1)
			warnx_("%s: lookup of %s failed: %s", cdb, argv[2],
			    strerror(errno));
		return EXIT_USAGE;
	}
	if (r == 0) {
		printf("%s: not found\n", argv[2]);
		return EXIT_REFUSED;
	}
	printf("%s -> %s", argv[2], val[0] != '\0' ? val : "\"\"");
	if (strcmp(matched, argv[2]) != 0)
		printf(" (matched %s)", matched);
	putchar('\n');
	return 0;
}

/* ---- signals ---- */

/* The pid in the config's pidfile, or -1 with a message. */
static pid_t
ctl_pid(const struct ctl *ctl)
{
	const char *pf = ctl->conf.pidfile;
	char buf[32], *end;
	ssize_t n;
	long pid;
	int fd;

	if (pf[0] == '\0') {
		warnx_("%s: pidfile is not set: cannot find moatd",
		    ctl->conffile);
		return -1;
	}
	if ((fd = open(pf, O_RDONLY | O_CLOEXEC)) == -1) {
		warnx_("%s: %s%s", pf, strerror(errno),
		    errno == ENOENT ? " (is moatd running?)" : "");
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0) {
		warnx_("%s: %s", pf, n == 0 ? "empty" : strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	errno = 0;
	pid = strtol(buf, &end, 10);
	if (buf[0] < '0' || buf[0] > '9' || errno != 0 || pid <= 1 ||
	    pid > INT_MAX || (*end != '\0' && *end != '\n')) {
		warnx_("%s: no process id in it", pf);
		return -1;
	}
	return (pid_t)pid;
}

/*
 * Refuse to signal a process that is not moatd: a stale pidfile whose
 * number was reused must not get a SIGTERM.  Without /proc, trust it.
 */
static int
ctl_is_moatd(pid_t pid)
{
	char path[64], comm[64];
	ssize_t n;
	int fd;

	(void)snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT && access("/proc/self", F_OK) == 0 ?
		    0 : 1;
	n = read(fd, comm, sizeof(comm) - 1);
	(void)close(fd);
	if (n <= 0)
		return 1;
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	if (strncmp(comm, "moat", 4) == 0)
		return 1;
	warnx_("process %ld is \"%s\", not moatd: stale pidfile?", (long)pid,
	    comm);
	return 0;
}

static int
ctl_signal(struct ctl *ctl, int argc, int sig, const char *what)
{
	pid_t pid;

	if (argc != 1)
		usage();
	if ((pid = ctl_pid(ctl)) == -1)
		return EXIT_REFUSED;
	if (kill(pid, 0) == -1 && errno == ESRCH) {
		warnx_("no process %ld: moatd is not running (stale %s)",
		    (long)pid, ctl->conf.pidfile);
		return EXIT_REFUSED;
	}
	if (!ctl_is_moatd(pid))
		return EXIT_REFUSED;
	if (kill(pid, sig) == -1) {
		warnx_("%s: kill %ld: %s", what, (long)pid, strerror(errno));
		return EXIT_REFUSED;
	}
	printf("moatd (pid %ld): %s\n", (long)pid, what);
	return 0;
}

static int
cmd_reload(struct ctl *ctl, int argc, char **argv)
{
	return ctl_signal(ctl, argc, SIGHUP, "reload requested");
}

static int
cmd_stop(struct ctl *ctl, int argc, char **argv)
{
	return ctl_signal(ctl, argc, SIGTERM, "stop requested");
}

/* ---- the queue, over the control socket ---- */

static int
cmd_flush(struct ctl *ctl, int argc, char **argv)
{
	char err[CTL_TEXT_MAX + CONF_PATH_MAX];
	int rc;

	if (argc != 1)
		usage();
	if ((rc = ctlqueue_op(&ctl->conf, CTL_FLUSH, "", stdout, err,
	    sizeof(err))) != 0)
		warnx_("%s", err);
	return rc;
}

/* A queue id as typed: any case, made the spool's upper case. */
static int
queue_id_arg(const char *arg, char *qid)
{
	size_t i;

	if (strlen(arg) != QID_LEN)
		return -1;
	for (i = 0; i <= QID_LEN; i++)
		qid[i] = (char)(arg[i] >= 'a' && arg[i] <= 'f' ?
		    arg[i] - 'a' + 'A' : arg[i]);
	return spool_qid_valid(qid) ? 0 : -1;
}

static int
queue_ops(struct ctl *ctl, uint32_t op, int argc, char **argv)
{
	char qid[QID_LEN + 1], err[CTL_TEXT_MAX + CONF_PATH_MAX];
	int i, rc, worst = 0;

	for (i = 0; i < argc; i++) {
		if (queue_id_arg(argv[i], qid) == -1) {
			warnx_("%s: not a queue id (16 hexadecimal digits)",
			    argv[i]);
			return EXIT_USAGE;
		}
	}
	for (i = 0; i < argc; i++) {
		(void)queue_id_arg(argv[i], qid);
		if ((rc = ctlqueue_op(&ctl->conf, op, qid, stdout, err,
		    sizeof(err))) != 0)
			warnx_("%s", err);
		if (rc > worst)
			worst = rc;
	}
	return worst;
}

static int
cmd_queue(struct ctl *ctl, int argc, char **argv)
{
	static const struct {
		const char	*name;
		uint32_t	 op;
	} ops[] = {
		{ "hold", CTL_HOLD }, { "release", CTL_RELEASE },
		{ "delete", CTL_DELETE },
	};
	char err[CTL_TEXT_MAX + CONF_PATH_MAX];
	const char *format;
	size_t i;
	int rc;

	for (i = 0; argc > 1 && i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (strcmp(argv[1], ops[i].name) != 0)
			continue;
		if (argc < 3)
			usage();
		return queue_ops(ctl, ops[i].op, argc - 2, argv + 2);
	}
	if (argc > 1 && strcmp(argv[1], "list") == 0) {
		argc--;
		argv++;
	}
	format = argc == 2 ? argv[1] : "plain";
	if (argc > 2 || (strcmp(format, "plain") != 0 &&
	    strcmp(format, "json") != 0))
		usage();
	if ((rc = ctlqueue_list(&ctl->conf, strcmp(format, "json") == 0,
	    stdout, err, sizeof(err))) != 0)
		warnx_("%s", err);
	return rc;
}

int
main(int argc, char *argv[])
{
	static struct ctl ctl;
	char err[1024];
	size_t i;
	int ch;

	ctl.conffile = MOAT_CONF_DEFAULT;
	while ((ch = getopt(argc, argv, "+f:h")) != -1) {
		switch (ch) {
		case 'f':
			ctl.conffile = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	for (i = 0; i < NCMDS; i++)
		if (strcmp(argv[0], ctl_cmds[i].name) == 0)
			break;
	if (i == NCMDS) {
		warnx_("unknown command \"%s\"", argv[0]);
		usage();
	}
	if (ctl_cmds[i].run == NULL)		/* needs no configuration */
		return report_main(argc, argv);
	if (conf_load(&ctl.conf, ctl.conffile, err, sizeof(err)) == -1) {
		warnx_("%s", err);
		return EXIT_USAGE;
	}
	return ctl_cmds[i].run(&ctl, argc, argv);
}

/* ---- DNS list figures ---- */

static const char *
zone_state(const struct zsum *z, char *buf, size_t size)
{
	if (z->workers == 0)
		return "removed";
	if (z->disabled_in == 0)
		return "enabled";
	if (z->disabled_in == z->workers)
		return "disabled";
	(void)snprintf(buf, size, "disabled:%u/%u", z->disabled_in,
	    z->workers);
	return buf;
}

static int
cmd_dnsbl(struct ctl *ctl, int argc, char **argv)
{
	struct zsum sums[CONF_ZONE_MAX * 2];
	const struct zstats *zs;
	char state[32];
	size_t n, i;

	(void)argv;
	if (argc != 1)
		usage();
	if ((zs = zstats_open(ctl->conf.spool)) == NULL) {
		warnx_("%s/%s: %s (is moatd running?)", ctl->conf.spool,
		    ZSTATS_FILE, strerror(errno));
		return EXIT_USAGE;
	}
	if (kill(zs->parent_pid, 0) == -1 && errno == ESRCH)
		printf("# moatd (pid %ld) is not running: the figures are "
		    "those it left\n", (long)zs->parent_pid);
	n = zstats_sum(zs, sums, sizeof(sums) / sizeof(sums[0]));
	printf("%-32s %-14s %10s %10s %10s %8s %7s\n", "zone", "state",
	    "queries", "listed", "not-listed", "errors", "avg-ms");
	for (i = 0; i < n; i++)
		printf("%-32s %-14s %10llu %10llu %10llu %8llu %7llu\n",
		    sums[i].name, zone_state(&sums[i], state, sizeof(state)),
		    (unsigned long long)sums[i].t.queries,
		    (unsigned long long)sums[i].t.listed,
		    (unsigned long long)sums[i].t.not_listed,
		    (unsigned long long)sums[i].t.errors,
		    (unsigned long long)(sums[i].t.queries ?
		    sums[i].t.latency_ms / sums[i].t.queries : 0));
	return 0;
}

static int
cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	return stats_main(ctl->conf.spool, argc, argv);
}

/* ---- greylisting ---- */

static int
cmd_greylist(struct ctl *ctl, int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "list";
	int r;

	if (!((strcmp(what, "list") == 0 || strcmp(what, "stats") == 0) &&
	    argc <= 2) && !((strcmp(what, "allow") == 0 ||
	    strcmp(what, "delete") == 0) && argc == 5))
		usage();
	if ((r = grey_admin_open(&ctl->conf)) != 0)
		return r;
	if (strcmp(what, "list") == 0)
		return grey_admin_list(&ctl->conf, stdout);
	if (strcmp(what, "stats") == 0)
		return grey_admin_stats(&ctl->conf, stdout);
	if (strcmp(what, "allow") == 0)
		return grey_admin_allow(&ctl->conf, argv[2], argv[3], argv[4]);
	return grey_admin_delete(&ctl->conf, argv[2], argv[3], argv[4]);
}

/* ---- the block list ---- */

/* IP or IP/LEN (netkey_parse_net); warned about when bad. */
static int
parse_net(const char *text, unsigned net6, struct sockaddr_storage *ss,
    unsigned *bits)
{
	char err[256];

	if (netkey_parse_net(text, net6, ss, bits, err, sizeof(err)) == 0)
		return 0;
	warnx_("%s", err);
	return -1;
}

static int
cmd_block(struct ctl *ctl, int argc, char **argv)
{
	struct sockaddr_storage ss;
	unsigned seconds = 0, bits;
	int rc;

	if (argc < 2 || argc > 4)
		usage();
	if (parse_net(argv[1], ctl->conf.rate_net6, &ss, &bits) == -1)
		return EXIT_USAGE;
	if (argc >= 3 && (conf_parse_duration(argv[2], &seconds) == -1 ||
	    seconds == 0)) {
		warnx_("%s: not a duration", argv[2]);
		return EXIT_USAGE;
	}
	if ((rc = grey_admin_open(&ctl->conf)) != 0)
		return rc;
	block_admin_conf(&ctl->conf);
	if (block_set((struct sockaddr *)&ss, bits, seconds, argc == 4 ?
	    argv[3] : "by hand") == -1)
		return EXIT_USAGE;
	printf("blocked: %s\n", argv[1]);
	return 0;
}

static int
cmd_unblock(struct ctl *ctl, int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct block_hit hit;
	unsigned bits;
	int rc;

	if (argc != 2)
		usage();
	if (parse_net(argv[1], ctl->conf.rate_net6, &ss, &bits) == -1)
		return EXIT_USAGE;
	if ((rc = grey_admin_open(&ctl->conf)) != 0)
		return rc;
	block_admin_conf(&ctl->conf);
	if (block_clear((struct sockaddr *)&ss, bits) == -1)
		return EXIT_USAGE;
	printf("unblocked: %s\n", argv[1]);
	if (block_admin_check((struct sockaddr *)&ss, &hit))
		printf("note: %.*s is still blocked by %s (%s)\n",
		    (int)strcspn(argv[1], "/"), argv[1], hit.net, hit.reason);
	return 0;
}

static int
cmd_blocks(struct ctl *ctl, int argc, char **argv)
{
	const char *format = "plain";
	int rc;

	if (argc == 3 && strcmp(argv[1], "--format") == 0)
		format = argv[2];
	else if (argc == 2)
		format = argv[1];
	else if (argc != 1)
		usage();
	if (strcmp(format, "plain") != 0 && strcmp(format, "nft") != 0 &&
	    strcmp(format, "ipset") != 0)
		usage();
	if ((rc = grey_admin_open(&ctl->conf)) != 0)
		return rc;
	block_admin_conf(&ctl->conf);
	return block_list(stdout, format) == 0 ? 0 : EXIT_USAGE;
}

/* ---- rate limits ---- */

static int
cmd_rates(struct ctl *ctl, int argc, char **argv)
{
	static const struct {
		enum rate_kind	 kind;
		const char	*name;
		size_t		 off;
	} kinds[] = {
		{ RATE_CONN, "conn_rate", offsetof(struct conf, conn_rate) },
		{ RATE_MSG, "msg_rate", offsetof(struct conf, msg_rate) },
		{ RATE_RCPT, "rcpt_rate", offsetof(struct conf, rcpt_rate) },
	};
	const struct conf_rate *r;
	struct sockaddr_storage ss;
	long long ago;
	double level;
	size_t i;
	int rc;

	if (argc != 2)
		usage();
	if (netkey_parse_ip(argv[1], &ss) == -1) {
		warnx_("%s: not an IP address", argv[1]);
		return EXIT_USAGE;
	}
	if ((rc = grey_admin_open(&ctl->conf)) != 0)
		return rc;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		r = (const void *)((const char *)&ctl->conf + kinds[i].off);
		if (rate_level(kinds[i].kind, (struct sockaddr *)&ss, r,
		    ctl->conf.rate_net6, &level, &ago) == -1)
			return EXIT_USAGE;
		if (r->n == 0)
			printf("%-10s off\n", kinds[i].name);
		else if (ago < 0)
			printf("%-10s 0 of %u per %us: never seen\n",
			    kinds[i].name, r->n, r->period);
		else
			printf("%-10s %.1f of %u per %us, last %llds ago%s\n",
			    kinds[i].name, level, r->n, r->period, ago,
			    level + 1 > r->n ? ": over, refused now" : "");
	}
	return 0;
}
