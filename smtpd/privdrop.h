/*
 * privdrop: the one audited privilege drop.
 *
 * Users are looked up while /etc/passwd is still reachable (priv_lookup,
 * in the parent); a child then calls priv_drop, which chroots (when a jail
 * is given), changes to "/", sets the supplementary groups to the user's
 * one group, then the real, effective and saved gid and uid, and checks
 * that none of it can be undone.  Every step is fatal on failure: a child
 * that cannot drop must not run.  Not root: nothing to drop, the caller
 * was told once by priv_lookup's result (can_drop == 0).
 */
#ifndef MOAT_PRIVDROP_H
#define MOAT_PRIVDROP_H

#include <sys/types.h>

struct priv_id {
	char	name[64];
	uid_t	uid;
	gid_t	gid;
	int	can_drop;	/* we are root and the user exists */
};

/* 0, or -1 with a message in err when root and the user is unknown. */
int	priv_lookup(const char *user, struct priv_id *, char *err, size_t);
void	priv_drop(const struct priv_id *, const char *jail);

#endif
