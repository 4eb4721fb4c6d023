/*
 * ctlqueue: moatctl queue and moatctl flush, asked of the running
 * daemon over its control socket (control.h).
 *
 * Each returns moatctl's exit status: 0 done; 1 moatd said no (no such
 * entry, not in a state the command applies to, the spool failed);
 * 2 moatd could not be asked (no control_socket, not running, no
 * answer).  On 1 or 2, err says why.
 */
#ifndef MOAT_CTLQUEUE_H
#define MOAT_CTLQUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../conf/conf.h"

int	ctlqueue_list(const struct conf *, int json, FILE *out, char *err,
	    size_t errsize);
/* CTL_FLUSH (qid ""), CTL_HOLD, CTL_RELEASE or CTL_DELETE. */
int	ctlqueue_op(const struct conf *, uint32_t op, const char *qid,
	    FILE *out, char *err, size_t errsize);

#endif
