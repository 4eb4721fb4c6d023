/*
 * spool: the on-disk queue entry, its commit discipline and its marks.
 *
 * One file per message, named by its queue id, in one of three folders
 * of the spool directory:
 *
 *   tmp/QID    being written; never trusted, removed at start-up
 *   queue/QID  committed (fsynced, renamed, folder fsynced)
 *   hold/QID   given up on after queue_lifetime; kept for the operator
 *   free/QID   spent entries, kept to be written over (spoolreuse.c)
 *
 * The file is a short text envelope, a blank line, then the message
 * exactly as received (CRLF line ends):
 *
 *   moat-spool 1
 *   S U                      state: U unconfirmed, C confirmed
 *   T 1700000000             commit time (unix seconds)
 *   I 192.0.2.1              client address
 *   P mail.example.org       verified PTR ("" unknown)
 *   H helo.example.org       HELO/EHLO argument
 *   F sender@example.org     envelope sender ("" for <>)
 *   R - alice@example.test   one per recipient: - pending, D delivered,
 *   R - bob@example.test                        H held
 *   (blank line)
 *   message...
 *
 * The state byte and each recipient's status byte sit at offsets known
 * from the envelope text alone, so marking progress is one pwrite() of
 * one byte in place (Postfix's record marking, qmail's todo/ and info/
 * split folded into one file): nothing is ever rewritten or appended, a
 * torn write cannot damage another field, and the entry stays a single
 * file for one rename.  Envelope fields cannot hold CR or LF (addresses
 * are refused, HELO and PTR are sanitised), so a line is a field.
 */
#ifndef MOAT_SPOOL_H
#define MOAT_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define QID_LEN		16		/* upper-case hex */
#define SPOOL_MAGIC	"moat-spool 1"
#define SPOOL_RCPT_MAX	1000
#define SPOOL_ADDR_MAX	520		/* buffer: worst unquoted path + NUL */
#define SPOOL_HELO_MAX	1024
#define SPOOL_IP_MAX	64
#define SPOOL_PTR_MAX	256
/* The envelope can never be larger than this (1000 maximal recipients). */
#define SPOOL_ENV_MAX	(SPOOL_RCPT_MAX * (SPOOL_ADDR_MAX + 8) + 4096)

enum spool_state {
	SPOOL_UNCONFIRMED = 'U',
	SPOOL_CONFIRMED = 'C',
};

enum rcpt_status {
	RCPT_PENDING = '-',
	RCPT_DELIVERED = 'D',
	RCPT_HELD = 'H',
};

#define SPOOL_FREE_MAX	1024		/* spent files kept for reuse */

/* The spool directory and its four folders, opened once. */
struct spool {
	int	dirfd;
	int	tmpfd;
	int	queuefd;
	int	holdfd;
	int	freefd;
	size_t	nfree;			/* names in free/ known to us */
	char	free_ids[SPOOL_FREE_MAX][QID_LEN + 1];
};

struct spool_rcpt {
	char	*addr;
	char	 status;	/* enum rcpt_status */
	off_t	 off;		/* of the status byte in the file */
	unsigned attempts;	/* failed tries by this process (not on disk) */
	char	*error;		/* why the last try failed (not on disk) */
};

struct spool_env {
	char	 qid[QID_LEN + 1];
	char	 state;		/* enum spool_state */
	off_t	 state_off;
	time_t	 ctime;
	char	*ip;
	char	*ptr;
	char	*helo;
	char	*sender;
	size_t	 nrcpt;
	struct spool_rcpt *rcpt;
	off_t	 body_off;	/* where the message starts */
	off_t	 body_len;
};

/* Open (and create, 0700) tmp/, queue/, hold/, free/ under path.  0 or
 * -1.  free/ is not read until spool_collect_free(). */
int	spool_open(struct spool *, const char *path);
void	spool_close(struct spool *);

/* Field checks, shared with the commit handler and the tests. */
int	spool_qid_valid(const char *);
int	spool_addr_valid(const char *, int allow_empty);
int	spool_rcpt_valid(const char *);	/* local@domain, or postmaster */
int	spool_ip_valid(const char *);
void	spool_sanitise(char *);		/* control bytes become '?' */

/*
 * Fill env from the commit's fields: copies the strings (sanitising
 * HELO and PTR), checks qid, addresses and the recipient count.  -1 with
 * a reason in *why when a field is bad.  Free with spool_env_free.
 */
int	spool_env_init(struct spool_env *, const char *qid, time_t ctime,
	    const char *ip, const char *ptr, const char *helo,
	    const char *sender, char *const rcpts[], size_t nrcpt,
	    const char **why);
void	spool_env_free(struct spool_env *);

/* Is a file of this id in tmp/, queue/ or hold/?  1, 0, or -1 error. */
int	spool_exists(struct spool *, const char *qid);

/*
 * Write tmp/QID (a file of free/, else created exclusive, 0600): envelope then size bytes copied from
 * msgfd (read from offset 0), fsync, rename to queue/QID.  The folder
 * queue/ is NOT fsynced here: the caller batches that (group commit) and
 * answers only after spool_sync_queue().  Fills the offsets in env.  On
 * error returns -1 with errno set and nothing left in tmp/ or queue/.
 */
int	spool_commit(struct spool *, struct spool_env *, int msgfd,
	    uint64_t size);
/*
 * The same in two steps, so the commits of one loop turn are written
 * (and their write-back started) before the first is fsynced:
 * spool_commit_start() writes tmp/QID and returns it open (-1 on error,
 * nothing left), with addlen bytes of header fields (CRLF line ends)
 * added after the message's first field, moat's Received:; the caller fsyncs it (the turn's files together, see
 * syncpool.h); spool_commit_end() closes and renames it (-1 on error,
 * nothing left); spool_commit_cancel() closes and removes it.
 */
int	spool_commit_start(struct spool *, struct spool_env *, int msgfd,
	    uint64_t size, const char *added, size_t addlen);
int	spool_commit_end(struct spool *, const char *qid, int fd);
void	spool_commit_cancel(struct spool *, const char *qid, int fd);
int	spool_sync_queue(struct spool *);

/* Read queue/QID (or hold/QID when held) back.  -1 and errno on error,
 * EINVAL for a malformed envelope. */
int	spool_load(struct spool *, const char *qid, int held,
	    struct spool_env *);
/* Parse an envelope from an open file: the same, for the tests. */
int	spool_load_fd(int fd, const char *qid, struct spool_env *);

/* Open queue/QID read-write for delivery marks.  fd or -1. */
int	spool_open_entry(struct spool *, const char *qid);
/* One byte in place: pwrite at off.  0 or -1. */
int	spool_mark(int fd, off_t off, char byte);
/*
 * Mark confirmed in place, without a sync: the caller either delivers
 * the entry (after which the mark no longer matters) or makes the mark
 * durable with spool_sync_entry() before it acknowledges.  0 or -1.
 */
int	spool_confirm(struct spool *, struct spool_env *);
/* fdatasync queue/QID (its marks).  0 or -1. */
int	spool_sync_entry(struct spool *, const char *qid);

/* Retire queue/QID: moved to free/ for reuse while there is room, else
 * unlinked.  0 or -1. */
int	spool_remove(struct spool *, const char *qid);
/* tmp/QID made from a file of free/, opened for writing and truncated;
 * -1 when none is left or it fails (then nothing is left in tmp/). */
int	spool_reuse(struct spool *, const char *qid);
/* Learn the names in free/ (start-up); anything else there is removed.
 * Returns how many, or -1. */
int	spool_collect_free(struct spool *);
/* rename queue/QID to hold/QID, fsync both folders. */
int	spool_hold(struct spool *, const char *qid);
/*
 * The operator's release of hold/QID: read it into env, turn its H
 * recipients back to pending and its state to confirmed, fdatasync,
 * rename it to queue/QID and fsync both folders.  -1 with errno
 * (ENOENT: no such entry, EINVAL: unreadable) when it was not moved; a
 * folder sync that fails after the rename is logged, and the entry is
 * queued all the same.
 */
int	spool_release(struct spool *, const char *qid, struct spool_env *);
/* Unlink queue/QID (held: hold/QID) and fsync the folder: an operator's
 * delete must not come back after a crash.  -1 when it was not removed. */
int	spool_delete(struct spool *, const char *qid, int held);
/* Call fn for each queue id in hold/; 0 or -1. */
int	spool_scan_hold(struct spool *, void (*fn)(const char *qid, void *),
	    void *arg);
/* rename from one spool folder to another, never over an entry. */
int	spool_rename(int fromfd, int tofd, const char *qid);
/* Remove every file in tmp/ (start-up); returns how many. */
int	spool_clean_tmp(struct spool *);
/*
 * Call fn for each queue id found in queue/ (names that are not queue
 * ids are logged and skipped).  0 or -1.
 */
int	spool_scan(struct spool *, void (*fn)(const char *qid, void *),
	    void *arg);
/* Free bytes for an unprivileged user on the spool's file system. */
int	spool_free_space(struct spool *, uint64_t *bytes);

#endif
