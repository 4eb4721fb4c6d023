/*
 * smtp: the smtp worker process and its sessions.
 *
 * A worker serves many sessions from one epoll loop.  Sessions never
 * block: sockets are non-blocking, TLS is driven on WANT_READ/WANT_WRITE,
 * the message goes into a memfd, and the only wait (the queue's commit)
 * is an answer that comes back by ticket on the queue channel.  A session
 * and its transaction are separate: RSET or the end of a message frees the
 * transaction only.
 */
#ifndef MOAT_SMTP_H
#define MOAT_SMTP_H

#include <sys/socket.h>
#include <netinet/in.h>

#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>

#include "../conf/conf.h"
#include "../conf/map.h"
#include "buf.h"
#include "frame.h"
#include "dataparse.h"
#include "parse.h"

#define SMTP_IN_MAX	(64 * 1024)	/* pipelined input held at once */
#define SMTP_OUT_MAX	(64 * 1024)	/* replies not yet written */
#define SMTP_OUT_HIGH	(16 * 1024)	/* stop reading above this */
#define QID_LEN		16
#define REPLY_TEXT_MAX	256
/* An envelope must fit one commit frame to the queue. */
#define TX_ENVELOPE_MAX	(FRAME_MAX - 4096)

enum ev_kind { EV_LISTEN, EV_SESSION, EV_QUEUE, EV_PARENT, EV_DNS };

#define EV_UNREGISTERED	0xffffffffu	/* session fd not in the epoll set */

struct evsrc {
	enum ev_kind	kind;
	int		fd;
};

enum sstate {
	S_CMD,		/* reading commands */
	S_DATA,		/* reading the message */
	S_COMMIT,	/* waiting for the queue's answer */
	S_TLS,		/* TLS handshake in progress */
	S_REJECTED,	/* 554 banner: only QUIT is served */
	S_CLOSING,	/* flush what is written, then close */
	S_DEAD,		/* closed; freed after this loop turn */
};

/* A policy decision; see check.h. */
enum vkind { V_PASS, V_OK, V_REJECT, V_TEMPFAIL };

struct verdict {
	enum vkind	kind;
	int		code;			/* 550 */
	char		enh[12];		/* "5.7.1" */
	char		text[REPLY_TEXT_MAX];
	char		cls[128];		/* "helo:localhost", "dnsbl:ZONE" */
	char		hits[160];		/* DNS evidence, for the log */
};

struct rcpt {
	struct rcpt	*next;
	char		 addr[ADDR_PATH_MAX * 2 + 8];
};

struct tx {
	struct addr	 sender;
	struct mail_params params;
	struct rcpt	*rcpts, **rcpt_tail;
	unsigned	 nrcpt;
	size_t		 env_bytes;		/* recipients, as framed */
	int		 memfd;
	struct dataparse dp;
	char		 qid[QID_LEN + 1];
	time_t		 data_start;
	struct verdict	 dns_held;		/* the sender's DNS verdict */
	int		 dns_held_log_only;	/* dns_action = log */
	const char	*greylist;		/* the last RCPT's result, "" */
};

struct dns_client;
struct dns_sender;

struct session {
	struct evsrc	 ev;
	struct session	*next, *prev;		/* all sessions */
	struct session	*hnext;			/* id hash chain */
	uint64_t	 id;
	enum sstate	 state;
	int		 fd;
	SSL		*ssl;
	int		 tls_done;
	int		 ssl_want_write;	/* SSL_read wants to write */

	struct sockaddr_storage peer;
	socklen_t	 peerlen;
	char		 ip[64];
	unsigned	 port;

	char		 helo[ADDR_DOMAIN_MAX + 1];
	int		 helo_seen;
	int		 esmtp;

	int		 client_ok;		/* access map OK */
	struct verdict	 delayed;		/* client reject held for RCPT */
	int		 delayed_log_only;	/* dns_action = log: just say */
	struct dns_client *dns;			/* DNS evidence, NULL: none */
	struct dns_sender *dns_sender;		/* about the MAIL FROM domain */
	int		 dns_wait;		/* a command waits for it */
	int		 mail_wait;		/* the MAIL reply waits for it */
	int		 banner_pending;	/* the banner waits for it */
	time_t		 greet_until;		/* greet_delay: banner due */
	int		 greet_dash;		/* its "220-" line is out */

	struct buf	 in, out;
	struct linereader lr;
	struct tx	*tx;
	char		 confirm_qid[QID_LEN + 1];	/* 250 not yet flushed */
	size_t		 confirm_left;	/* bytes of out up to its end */
	int		 confirm_sent;	/* the queue has its CONFIRM */
	int		 confirm_wait;	/* it waits in the worker */

	struct timespec	 start;
	time_t		 deadline;		/* next timeout */
	time_t		 session_deadline;

	const char	*close_reason;		/* for the disconnect line */
	int		 held_input;		/* input waits for replies */
	unsigned	 ncmds, nbad, nmsgs, nrcpt_ok, nrcpt_bad;
	unsigned	 nunknown;		/* unknown recipients */
	unsigned	 epoll_events;		/* what is registered */
	int		 kicked;		/* in the kick list */
	struct session	*kick_next;
};

struct worker {
	const struct conf *conf;
	unsigned	 slot;
	int		 epfd;
	struct evsrc	 listeners[CONF_LISTEN_MAX * 2];
	size_t		 nlisteners;
	int		 listening;
	struct evsrc	 parent;
	struct evsrc	 queue;			/* fd -1 when none */
	struct map	 maps[MAP_COUNT];
	SSL_CTX		*tls;
	struct session	*sessions;
	unsigned	 nsessions;
	struct session	*kick;			/* to process again this turn */
	int		 draining;		/* 1 reload, 2 shutdown */
	time_t		 drain_deadline;
	uint64_t	 next_id;
	uint64_t	 qid_last;
	char		 our_ips[16][64];	/* local addresses (HELO check) */
	unsigned	 nour_ips;
	/* confirmations the queue has not yet acknowledged */
	char		 unacked[4096][QID_LEN + 1];
	unsigned	 nunacked;
	int		 confirm_waiting;	/* a session waits to write */
};

extern struct worker *wk;

/* worker.c */
struct priv_id;
void	worker_main(const struct conf *, unsigned slot, int parent_sock,
	    int *listen_fds, size_t nlisten, const struct priv_id *)
	    __attribute__((noreturn));
void	worker_forget(struct session *);
void	worker_update_events(struct session *);
void	worker_kick(struct session *);
int	worker_queue_send(struct frame *, int fd);
int	worker_confirm(const char *qid);
void	worker_abort(const char *qid);
struct session *worker_session_by_id(uint64_t);

/* session.c */
struct session *session_new(int fd, const struct sockaddr *, socklen_t);
void	session_start(struct session *);
void	session_io(struct session *, uint32_t events);
void	session_process(struct session *);
void	session_timer(struct session *, time_t now);
void	session_commit_ok(struct session *, const char *qid);
void	session_commit_refused(struct session *, int code, const char *enh,
	    const char *text, const char *cls, unsigned block);
void	session_drain(struct session *);
void	session_close(struct session *, const char *reason);
void	session_free(struct session *);
void	session_closing(struct session *, const char *reason);
void	session_bad(struct session *, int code, const char *enh,
	    const char *text);
int	session_confirm_pending(const struct session *);
void	session_reply(struct session *, int code, const char *enh,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	session_reply_more(struct session *, int code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	session_log_reject(struct session *, const char *stage,
	    const struct verdict *, const char *rcpt);
void	session_log_would(struct session *, const char *stage,
	    const struct verdict *, const char *rcpt);
void	session_dns_done(struct session *);
void	session_sender_done(struct session *);
void	session_sender_verdict(struct session *);
/* kind: a rate_kind (greylist/rates.h) or one of these session counts */
#define LIMIT_MSGS_PER_CONN	'M'
#define LIMIT_RCPT_ERRORS	'U'
int	session_rate_limited(struct session *, int kind, const char *stage);
void	session_mail_reply(struct session *);

/* session_io.c */
ssize_t	sio_read(struct session *, void *, size_t);
int	sio_flush(struct session *);
void	sio_withdraw_250(struct session *);
int	sio_starttls(struct session *);
int	sio_handshake(struct session *);
void	sio_shutdown(struct session *);

/* session_cmd.c */
void	session_command(struct session *, const char *line, size_t len,
	    int more_input);
void	session_data_input(struct session *);
void	tx_free(struct session *);

/* received.c */
int	received_header(struct session *, struct buf *);
void	qid_make(char qid[QID_LEN + 1]);

/* tls.c */
SSL_CTX *tls_server_ctx(const struct conf *, char *err, size_t errsize);
const char *tls_describe(SSL *, char *buf, size_t size);

#endif
