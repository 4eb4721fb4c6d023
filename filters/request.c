/*
 * request: the queue <-> filter frames (see request.h).
 */
#include <string.h>

#include "request.h"

int
filter_request_put(struct frame *f, const struct filter_request *r)
{
	uint32_t i;

	frame_init(f, FRAME_FILTER_RUN);
	frame_put_u64(f, r->ticket);
	frame_put_str(f, r->qid);
	frame_put_str(f, r->ip);
	frame_put_u32(f, r->port);
	frame_put_str(f, r->ptr);
	frame_put_u32(f, r->ptr_verified);
	frame_put_str(f, r->helo);
	frame_put_str(f, r->tls);
	frame_put_str(f, r->sender);
	frame_put_str(f, r->dnsbl);
	frame_put_str(f, r->greylist);
	frame_put_u64(f, r->size);
	frame_put_u32(f, r->nrcpt);
	for (i = 0; i < r->nrcpt; i++)
		frame_put_str(f, r->rcpt[i]);
	return f->bad ? -1 : 0;
}

const char *
filter_request_get(struct frame *f, struct filter_request *r)
{
	r->ticket = frame_get_u64(f);
	frame_get_str(f, r->qid, sizeof(r->qid));
	frame_get_str(f, r->ip, sizeof(r->ip));
	r->port = frame_get_u32(f);
	frame_get_str(f, r->ptr, sizeof(r->ptr));
	r->ptr_verified = frame_get_u32(f);
	frame_get_str(f, r->helo, sizeof(r->helo));
	frame_get_str(f, r->tls, sizeof(r->tls));
	frame_get_str(f, r->sender, sizeof(r->sender));
	frame_get_str(f, r->dnsbl, sizeof(r->dnsbl));
	frame_get_str(f, r->greylist, sizeof(r->greylist));
	r->size = frame_get_u64(f);
	r->nrcpt = frame_get_u32(f);
	if (f->bad)
		return "malformed envelope";
	if (r->nrcpt < 1 || r->nrcpt > SPOOL_RCPT_MAX)
		return "bad recipient count";
	frame_get_strv(f, r->arena, sizeof(r->arena), SPOOL_ADDR_MAX, r->rcpt,
	    r->nrcpt);
	if (f->bad)
		return "malformed recipient";
	return frame_end(f) == 0 ? NULL : "malformed or trailing bytes";
}

int
filter_done_put(struct frame *f, const struct filter_done *d)
{
	frame_init(f, FRAME_FILTER_DONE);
	frame_put_u64(f, d->ticket);
	frame_put_u32(f, d->code);
	frame_put_str(f, d->enh);
	frame_put_str(f, d->text);
	frame_put_str(f, d->cls);
	frame_put_u32(f, d->block);
	frame_put_str(f, d->headers);
	return f->bad ? -1 : 0;
}

const char *
filter_done_get(struct frame *f, struct filter_done *d)
{
	d->ticket = frame_get_u64(f);
	d->code = frame_get_u32(f);
	frame_get_str(f, d->enh, sizeof(d->enh));
	frame_get_str(f, d->text, sizeof(d->text));
	frame_get_str(f, d->cls, sizeof(d->cls));
	d->block = frame_get_u32(f);
	frame_get_str(f, d->headers, sizeof(d->headers));
	if (frame_end(f) != 0)
		return "malformed verdict";
	if (d->code != 250 && (d->code < 400 || d->code > 599))
		return "bad reply code";
	return NULL;
}
