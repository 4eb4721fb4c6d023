/*
 * spoolreuse: spent entries are kept in free/ and written over by later
 * commits, instead of being unlinked and created anew.
 *
 * Why: on ext4 without a journal, allocating an inode skips, one
 * inode-table look-up each, every inode of the group freed in the last
 * half minute or so (recently_deleted() in the kernel).  An MX that
 * creates and deletes one spool file per message pays for all its own
 * recent deletions on every creation: under load the queue spent a
 * third of its time there.  A reused file keeps its inode, so no
 * allocation happens at all.
 *
 * Safety: a file in free/ is never read; start-up only collects its
 * name.  Reuse is rename free/OLD -> tmp/QID, then open with O_TRUNC and
 * the ordinary commit (write, fsync, rename into queue/), so a crash at
 * any point leaves at worst a file in free/ or tmp/, both of which mean
 * nothing.  Retiring an entry is one rename where an unlink was; a lost
 * rename is a lost unlink, which was already harmless.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>		/* renameat2, RENAME_NOREPLACE */
#include <string.h>
#include <unistd.h>

#include "spool.h"

static void
push_free(struct spool *sp, const char *name)
{
	memcpy(sp->free_ids[sp->nfree++], name, QID_LEN + 1);
}

int
spool_remove(struct spool *sp, const char *qid)
{
	if (sp->freefd != -1 && sp->nfree < SPOOL_FREE_MAX &&
	    renameat2(sp->queuefd, qid, sp->freefd, qid, RENAME_NOREPLACE)
	    == 0) {
		push_free(sp, qid);
		return 0;
	}
	return unlinkat(sp->queuefd, qid, 0);
}

int
spool_reuse(struct spool *sp, const char *qid)
{
	const char *old;
	int fd;

	while (sp->nfree > 0) {
		old = sp->free_ids[--sp->nfree];
		if (renameat2(sp->freefd, old, sp->tmpfd, qid,
		    RENAME_NOREPLACE) == -1)
			continue;	/* gone meanwhile: try the next one */
		fd = openat(sp->tmpfd, qid, O_WRONLY | O_TRUNC | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd != -1)
			return fd;
		unlinkat(sp->tmpfd, qid, 0);
		return -1;
	}
	return -1;
}
