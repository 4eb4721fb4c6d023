/*
 * lmtp: one LMTP transaction (RFC 2033), blocking, every read and write
 * bounded by a deadline; run by the queue's LMTP helpers (lmtppool.c).
 *
 * LHLO, MAIL, one RCPT per recipient, DATA with the message dot-stuffed,
 * then one reply per accepted recipient, in order.  Replies are read
 * with a bounded line length and a bounded number of lines; a peer that
 * sends garbage, a line too long, too few replies or closes early leaves
 * the recipients it did not answer with code 0 (no reply): the queue
 * retries them, which may deliver a copy twice, never loses one.
 */
#ifndef MOAT_LMTP_H
#define MOAT_LMTP_H

#include <sys/types.h>

#include <stddef.h>

#define LMTP_PREFIX	"lmtp:"
#define LMTP_TEXT_MAX	256	/* reply text kept per recipient */
#define LMTP_LINE_MAX	2048	/* a reply line, CRLF included */
#define LMTP_LINES_MAX	100	/* lines of one multi-line reply */
#define LMTP_STEPS_MAX	4	/* a transaction: at most 4 timeouts */

struct lmtp_target {
	int	 is_unix;
	char	 path[108];		/* unix: the socket */
	char	 host[256];		/* else: address or name */
	char	 port[8];
};

/* "lmtp:unix:/PATH", "lmtp:HOST:PORT" or "lmtp:[ADDR6]:PORT"; 0 or -1. */
int	lmtp_target_parse(const char *, struct lmtp_target *);

struct lmtp_result {
	int	 code;			/* 0: no reply */
	char	 text[LMTP_TEXT_MAX];	/* "4.2.2 Mailbox full", safe bytes */
};

struct lmtp_msg {
	const char	*helo;		/* our name for LHLO */
	const char	*sender;	/* "" for <> */
	const char *const *rcpt;
	size_t		 nrcpt;
	int		 fd;		/* the spool entry */
	off_t		 off, len;	/* the message in it */
};

/*
 * Connect and deliver: res[i] for each recipient.  A failure that
 * concerns them all (cannot connect, a refused MAIL, DATA or greeting)
 * gives each the same code and text; a peer that breaks off leaves
 * code 0.  timeout_s bounds each step.
 */
void	lmtp_deliver(const struct lmtp_target *, const struct lmtp_msg *,
	    struct lmtp_result *res, int timeout_s);
/* The connection lmtp_deliver keeps between transactions to the same
 * target: closed (QUIT) when the caller has been idle long enough. */
void	lmtp_idle_close(void);

#endif
