/*
 * filterd: the process that runs the filters (filters/README.md).
 *
 * The parent forks it as filter_user, with no chroot (filters need the
 * file system), and gives it one end of a channel whose other end goes
 * to the queue.  For each FILTER_RUN it runs the configured filters in
 * order, one at a time, each in its own session and process group, with
 * the message on stdin and its stdout on a pipe read into a bounded
 * buffer; when a filter exits or runs out of filter_timeout, its whole
 * process group is killed.  The first refusal, or a failure under
 * filter_failure = tempfail, ends the run; FILTER_DONE carries the
 * verdict, the fields to add and any block request back.  It is a
 * subreaper, so what a filter leaves behind is reaped here, never left
 * a zombie.  When the queue's channel closes, every filter is killed and
 * the process exits.
 */
#ifndef MOAT_FILTERD_H
#define MOAT_FILTERD_H

#include "../conf/conf.h"

void	filterd_main(const struct conf *, int queue_sock)
	    __attribute__((noreturn));

#endif
