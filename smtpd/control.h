/*
 * control: moatctl's requests to the running daemon, over the parent's
 * unix socket (control_socket), relayed to the queue process.
 *
 * One request per connection, each one frame (SOCK_SEQPACKET):
 *
 *   moatctl -> parent	FRAME_CTL_REQUEST	u32 op, str qid
 *   parent -> queue	FRAME_CTL_REQUEST	u64 tag, u32 op, str qid
 *   queue -> parent	FRAME_CTL_REPLY		u64 tag, u32 status, str text
 *   parent -> moatctl	FRAME_CTL_REPLY		u32 status, str text
 *
 * qid is "" for CTL_LIST and CTL_FLUSH, a queue id for the others.  The
 * reply to CTL_LIST with status CTL_OK carries a descriptor: a memfd
 * holding the listing (queue/listing.h), so that neither the queue nor
 * the parent ever waits for a slow reader.  The parent closes the
 * connection after the reply.
 */
#ifndef MOAT_CONTROL_H
#define MOAT_CONTROL_H

#include <poll.h>
#include <stddef.h>
#include <time.h>

#include "../conf/conf.h"
#include "frame.h"

enum ctl_op {
	CTL_LIST = 1,		/* every entry, queued and held */
	CTL_FLUSH,		/* every deferred entry due now */
	CTL_HOLD,		/* queue/QID -> hold/QID */
	CTL_RELEASE,		/* hold/QID -> queue/QID, tried at once */
	CTL_DELETE,		/* queue/QID or hold/QID removed, undelivered */
	CTL_OP_MAX = CTL_DELETE
};

enum ctl_status {
	CTL_OK = 0,
	CTL_UNKNOWN,		/* no entry of that id */
	CTL_REFUSED,		/* not in a state the op applies to */
	CTL_FAILED,		/* the spool said no (logged by the queue) */
	CTL_UNAVAILABLE,	/* no queue process, or it did not answer */
	CTL_STATUS_MAX = CTL_UNAVAILABLE
};

#define CTL_TEXT_MAX		512	/* a reply's text, NUL included */
#define CONTROL_CLIENTS_MAX	8	/* connections served at once */
#define CONTROL_TIMEOUT		30	/* seconds a connection may last */
#define CONTROL_POLLFDS		(1 + CONTROL_CLIENTS_MAX)

const char *ctl_op_name(uint32_t);

/* The parent's side (control.c). */
void	control_listen(const struct conf *);	/* fatal on failure */
void	control_close(void);	/* in a new child: drop every descriptor */
void	control_unlink(void);	/* at a clean stop */
void	control_set_queue(int sock);	/* -1: no queue process now */
size_t	control_pollfds(struct pollfd *, size_t room);
void	control_events(const struct pollfd *, size_t n);
void	control_reply(struct frame *);	/* a FRAME_CTL_REPLY from the queue */
void	control_tick(time_t now);

/*
 * moatctl's side (ctlreq.c): one request to the daemon behind path.
 * Returns the status, or -1 when moatd could not be asked (message in
 * text); *fd gets the listing's descriptor, or -1.
 */
int	ctlreq(const char *path, uint32_t op, const char *qid, char *text,
	    size_t textsize, int *fd);

#endif
