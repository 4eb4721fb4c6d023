/*
 * maildir: deliver one spooled message to one recipient's maildir.
 *
 * The file name is not random: it is derived from the queue entry,
 * "TIME.QQID_RINDEX.HOST" (commit time, queue id, recipient index, our
 * host name), so the same (message, recipient) always gets the same name.
 * That is what makes delivery idempotent: a retry after a crash that
 * happened between link() into new/ and the spool's "delivered" mark
 * finds the name already taken (EEXIST) and counts it as done, instead
 * of delivering a second copy.  Steps (Postfix local/maildir.c, qmail):
 * create exclusively in tmp/, write, fsync, link into new/, unlink from
 * tmp/, fsync new/.  Only after that may the caller mark the recipient.
 *
 * The stored copy starts with Return-Path and Delivered-To and has LF
 * line ends (the maildir convention); a CR not followed by LF is kept.
 */
#ifndef MOAT_MAILDIR_H
#define MOAT_MAILDIR_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define MAILDIR_PREFIX	"maildir:"
#define MAILDIR_NAME_MAX 512

/* The message to copy: a region of the spool file. */
struct maildir_src {
	int		 fd;
	off_t		 off;
	off_t		 len;
	const char	*sender;	/* "" for <> */
};

/*
 * Resolve a recipient map value "maildir:PATH/" into a folder path: PATH
 * relative to mail_root or absolute; ".." components, an empty PATH and
 * a relative PATH without a mail_root are refused.  Trailing slashes are
 * removed.  0, or -1 with a reason in err.
 */
int	maildir_path(const char *mail_root, const char *target, char *path,
	    size_t pathsize, char *err, size_t errsize);

/* "TIME.QQID_RINDEX.HOST", with '/' and ':' in HOST escaped.  0 or -1. */
int	maildir_name(char *name, size_t namesize, time_t ctime,
	    const char *qid, unsigned idx, const char *hostname);

/*
 * One delivery in phases, so a batch of deliveries shares its syncs:
 * maildir_start() for every message of the batch (create tmp/NAME,
 * write it, start its write-back), then one maildir_sync() over the
 * batch (every file fsynced at once, see syncpool.h), maildir_link() for
 * each, one maildir_sync_new() per distinct new/
 * folder, and maildir_end() for each.  A delivery counts only once its
 * new/ has been synced.  Every step is a no-op for a job already done or
 * failed, so the caller runs all steps over the whole batch.
 */
enum maildir_state { MJ_FAILED = -1, MJ_NONE, MJ_WRITTEN, MJ_SYNCED,
	MJ_LINKED, MJ_EXISTING, MJ_DONE };

struct maildir_job {
	enum maildir_state state;
	int		 existed;	/* the name was there before us */
	int		 tfd, nfd, fd;	/* tmp/, new/, tmp/NAME */
	dev_t		 ndev;		/* new/, to find a batch's folders */
	ino_t		 nino;
	char		 name[MAILDIR_NAME_MAX];
	char		 err[256];
};

/*
 * Open path (folders below mail_root and path/{tmp,new,cur} are created
 * 0700 when missing; mail_root never is) and write src to tmp/name with
 * Return-Path and Delivered-To for rcpt.  check_cur: also look in cur/
 * for the name (with any ":2,flags" suffix), for an entry recovered after
 * a crash, in case a reader already moved our earlier copy out of new/.
 * Sets j->state: MJ_WRITTEN, MJ_EXISTING (delivered before: nothing
 * written; still needs maildir_sync_new) or MJ_FAILED (reason in j->err).
 */
void	maildir_start(struct maildir_job *j, const char *mail_root,
	    const char *path, const char *name, const struct maildir_src *,
	    const char *rcpt, int check_cur);
/* fsync the tmp/NAME of every job of the batch, all at once. */
void	maildir_sync(struct maildir_job *jobs, size_t n);
void	maildir_link(struct maildir_job *);	/* tmp/NAME -> new/NAME */
/* fsync j's new/; every job of the batch in the same folder (the same
 * new/ device and inode) is settled by it.  Call it for each job. */
void	maildir_sync_new(struct maildir_job *jobs, size_t n, size_t j);
/* Close the job's descriptors: 0 delivered now, 1 already there, -1
 * failed (reason in j->err). */
int	maildir_end(struct maildir_job *);

/*
 * Deliver src to path/new/name for rcpt: all the steps above for one
 * message.  0 delivered now, 1 already there, -1 failed (reason in err;
 * errno).
 */
int	maildir_deliver(const char *mail_root, const char *path,
	    const char *name, const struct maildir_src *, const char *rcpt,
	    int check_cur, char *err, size_t errsize);

/*
 * Copy len bytes of in from off to out, turning CRLF into LF.  Exposed
 * for the tests.  0 or -1.
 */
int	maildir_copy_lf(int in, off_t off, off_t len, int out);

#endif
