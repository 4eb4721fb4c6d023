/*
 * parent: the root process of moatd.
 *
 * It reads the config, binds the listeners, prepares the folders, forks
 * the queue process and the smtp workers, wires one channel per pair that
 * may talk (parent-worker, parent-queue, worker-queue) and supervises:
 * a dead child is respawned with back-off; SIGHUP reloads the config and
 * starts a new generation of workers while the old one finishes its open
 * sessions; SIGTERM drains and stops.  It watches the cdb maps and hands
 * a replaced one to every child as an open descriptor, so chrooted
 * workers never need a path.
 */
#ifndef MOAT_PARENT_H
#define MOAT_PARENT_H

#include "../conf/conf.h"

int	parent_run(struct conf *, const char *conf_path)
	    __attribute__((noreturn));

#endif
