/*
 * request: the frames between the queue and the filter process, encoded
 * and decoded in this one place.
 *
 *   FILTER_RUN (queue -> filter), with the message's descriptor: u64
 *     ticket, str qid, str ip, u32 port, str ptr, u32 ptr_verified, str
 *     helo, str tls, str sender, str dnsbl, str greylist, u64 size, u32
 *     nrcpt (1..SPOOL_RCPT_MAX), nrcpt x str rcpt.
 *   FILTER_CANCEL (queue -> filter): u64 ticket.
 *   FILTER_DONE (filter -> queue): u64 ticket, u32 code (250: every
 *     filter accepted), str enh, str text, str class (filter:NAME), u32
 *     block (seconds the client should be blocked; 0), str headers (the
 *     fields to add, CRLF line ends).
 */
#ifndef MOAT_FILTER_REQUEST_H
#define MOAT_FILTER_REQUEST_H

#include <stdint.h>

#include "../queue/spool.h"
#include "../smtpd/frame.h"

#define FILTER_ADDED_MAX	32768	/* header bytes added, all filters */

struct filter_request {
	uint64_t	 ticket;
	char		 qid[QID_LEN + 1];
	char		 ip[SPOOL_IP_MAX];
	uint32_t	 port;
	char		 ptr[SPOOL_PTR_MAX];
	uint32_t	 ptr_verified;
	char		 helo[SPOOL_HELO_MAX];
	char		 tls[128];
	char		 sender[SPOOL_ADDR_MAX];
	char		 dnsbl[1024];
	char		 greylist[16];
	uint64_t	 size;
	uint32_t	 nrcpt;
	char		*rcpt[SPOOL_RCPT_MAX];
	char		 arena[FRAME_MAX];	/* the recipients' text */
};

struct filter_done {
	uint64_t	 ticket;
	uint32_t	 code;
	char		 enh[16];
	char		 text[256];
	char		 cls[64];
	uint32_t	 block;
	char		 headers[FILTER_ADDED_MAX + 1];
};

int	filter_request_put(struct frame *, const struct filter_request *);
/* NULL, or why the frame is bad. */
const char *filter_request_get(struct frame *, struct filter_request *);
int	filter_done_put(struct frame *, const struct filter_done *);
const char *filter_done_get(struct frame *, struct filter_done *);

#endif
