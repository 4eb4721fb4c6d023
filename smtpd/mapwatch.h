/*
 * mapwatch: the parent's watch on the maps' cdb files.  Once a second it
 * compares each configured map's cdb with the one in use (inode, size,
 * modification time); a new one that opens as a valid cdb is handed on,
 * an invalid one is refused (the old map stays), and a text map newer
 * than its cdb is logged once as a reminder.
 */
#ifndef MOAT_MAPWATCH_H
#define MOAT_MAPWATCH_H

#include "../conf/conf.h"

/* The map's cdb, opened read-only; -1 when none (logged if it fails). */
int	mapwatch_open(const struct conf *, int id);
/*
 * Look at every map: send(id, fd) for each new, valid cdb (the fd is
 * closed afterwards).  force: take them all as they are, send nothing
 * (at start, before any child has them).
 */
void	mapwatch_check(const struct conf *, int force,
	    void (*send)(int id, int fd));

#endif
