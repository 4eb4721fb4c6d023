/*
 * loadgen.h: what the load generator's files share: the session slots,
 * the options, the counters, and the functions between them.
 *
 * loadgen.c runs the phases and reports; lg_session.c is the SMTP
 * session state machine; lg_check.c measures the server's memory and
 * checks the maildirs.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <stddef.h>
#include <stdint.h>

#define LINE_MAX_IN	1024		/* one reply line, CRLF included */
#define HDR_MAX		1024		/* per-message header block */
#define PROBE_SLOTS	32		/* probes in flight at most */
#define MAILDIR_MAX	8
#define TICK_MS		50		/* timer scan period */
#define FINAL_CHECK_S	10.0		/* idle: wait for the final NOOPs */
#define TOKEN_SCAN	16384		/* bytes of a delivered file searched */

enum scenario { SC_REJECT, SC_BADHELO, SC_ACCEPT, SC_IDLE, SC_CLOSED };

enum step {
	ST_FREE,	/* slot unused */
	ST_BACKOFF,	/* waiting to retry the connect */
	ST_CONNECTING,
	ST_BANNER,
	ST_HELO,
	ST_MAIL,
	ST_RCPT,
	ST_DATA,
	ST_BODY,
	ST_HOLD,	/* idle: greeted, silent */
	ST_NOOP,
	ST_QUIT
};

enum kind { K_LOAD, K_HELD, K_PROBE };
enum result { RES_NONE, RES_OK, RES_FAIL };

struct sess {
	int		fd;
	uint32_t	gen;		/* bumped on close: stale events */
	enum step	step;
	enum kind	kind;
	enum result	result;
	int		final;		/* idle: the NOOP is the final check */
	unsigned	retries;
	unsigned	msgs;		/* messages sent in this session */
	uint64_t	seq;		/* current message's number */
	double		t_start;
	double		deadline;	/* 0: none */
	size_t		inlen;
	char		in[LINE_MAX_IN];
	struct iovec	iov[2];
	int		iovcnt;
	char		out[HDR_MAX];	/* command or message header */
};

struct opts {
	enum scenario	sc;
	const char	*host;
	const char	*port;
	const char	*label;
	unsigned	conc;
	unsigned long	nsess;		/* 0: by time */
	double		duration;	/* seconds; load: run time, idle: hold */
	unsigned	msgs;		/* accept: messages per session */
	size_t		size;		/* accept: message size */
	const char	*helo;
	const char	*from;
	const char	*rcpt;
	unsigned	retries;
	double		timeout;	/* per reply */
	double		keepalive;	/* idle: NOOP period, 0 = silent */
	double		ramp_s;		/* idle: time allowed to greet all */
	unsigned	ramp_rate;	/* idle: new connections per second */
	double		probe_every;
	double		maxrun;
	pid_t		pss_pid;
	const char	*maildir[MAILDIR_MAX];
	unsigned	nmaildir;
	double		wait_s;		/* accept: maildir deadline */
	uint32_t	src_base;	/* -B: first IPv4 source, host order */
	unsigned	src_count;	/* -N: cycle over so many (0: no end) */
	unsigned	pace;		/* -P: new sessions a second (0: free) */
};

struct stats {
	unsigned long	attempted, ok, failed;
	unsigned long	connect_errors, retries;
	unsigned long	e_addrnotavail, e_refused, e_other;
	unsigned long	f_connect, f_timeout, f_eof, f_reply, f_proto;
	unsigned long	f_served;	/* closed: the server spoke */
	unsigned long	cls[6];		/* replies by first digit */
	unsigned long	msgs_sent, msgs_ok;
	/* idle */
	unsigned long	established, alive, waiting, closed;
	unsigned long	probes, probe_ok, probe_failed;
};

/* A growable array of latencies in milliseconds. */
struct lat {
	float		*v;
	size_t		n, cap;
};

struct verify {
	unsigned long	verified, missing, dup, stray;
};

/* loadgen.c */
extern struct opts	 o;
extern struct stats	 st;
extern struct lat	 lat_sess, lat_probe;
extern struct sess	*slots;
extern unsigned		 nslots;
extern unsigned		*freelist;
extern unsigned		 nfree;
extern int		 epfd;
extern struct sockaddr_storage srv;
extern socklen_t	 srvlen;
extern unsigned		 runid;
extern unsigned		 active;	/* slots not free */
extern int		 final_phase;	/* idle: the hold is over */

double	now(void);
_Noreturn void die(const char *, ...) __attribute__((format(printf, 1, 2)));
void	lat_add(struct lat *, double ms);
double	lat_pct(struct lat *, double pct);

/* lg_session.c */
extern unsigned char	*accepted;	/* accept: per seq, 1 = got 250 */
extern size_t		 naccepted;

void	body_make(void);
void	sess_start(struct sess *, enum kind);
void	sess_event(struct sess *, uint32_t events);
void	sess_tick(struct sess *, double now);
void	sess_noop(struct sess *, int final);
void	sess_done(struct sess *);

/* lg_check.c */
int	pss_tree(pid_t root, long *pss_kib, long *rss_kib, unsigned *nproc);
long	maildirs_count(void);
void	maildirs_verify(struct verify *);

#endif
