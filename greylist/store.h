/*
 * store: the LMDB file that greylisting (and the rates and blocks to
 * come) keep their state in, shared by every worker.
 *
 * Each process opens its own environment after it is forked (LMDB's
 * rule), with MDB_NOSYNC: a commit is a write into the page cache, never
 * an fsync on the session path.  The parent syncs it every few seconds
 * (store_sync) and checks for readers left by dead workers
 * (mdb_reader_check, at every open and after a child dies).
 *
 * The store is never worth a refused message: every call that fails
 * (MDB_MAP_FULL, a corrupt file, an I/O error) returns STORE_FAIL, the
 * caller goes on as if there were no store, and one loud log line a
 * minute says so.  A file found corrupt (by the parent when it opens it,
 * at start and every few seconds, or by a worker, which reports it
 * through store_on_broken) is moved aside and recreated, and the parent
 * then replaces the workers, which have the old file open: a worker
 * opens the store once, before its chroot.  Keys are at most
 * STORE_KEY_MAX bytes: callers hash longer ones.
 */
#ifndef MOAT_STORE_H
#define MOAT_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_KEY_MAX	64

enum store_result { STORE_OK, STORE_NOTFOUND, STORE_FAIL };

/* What an update does with the record (see store_update). */
enum store_action { STORE_KEEP, STORE_WRITE, STORE_DELETE };

/* 0, or -1 (logged; every later call then fails open). */
int	store_open(const char *dir, uint64_t mapsize);
void	store_close(void);
int	store_active(void);

enum store_result store_get(const void *key, size_t klen, void *val,
	    size_t vlen);
/*
 * Several reads that see one state of the store, for the price of one
 * read transaction: fn calls store_view_get as often as it needs.
 */
struct store_view;
enum store_result store_view(void (*fn)(struct store_view *, void *),
	    void *arg);
enum store_result store_view_get(struct store_view *, const void *key,
	    size_t klen, void *val, size_t vlen);
/*
 * Read, change and write one record in one write transaction, so two
 * workers never undo each other: fn gets the record (found 1, val
 * filled; found 0, val zeroed) and says what to do with it.
 */
enum store_result store_update(const void *key, size_t klen, void *val,
	    size_t vlen, enum store_action (*fn)(void *val, int found,
	    void *arg), void *arg);
enum store_result store_delete(const void *key, size_t klen);

/* Walk the records of one kind (the first key byte), at most max of
 * them, deleting those fn says are done with; the number deleted. */
size_t	store_sweep(unsigned char kind, size_t max,
	    int (*expired)(const void *val, size_t vlen, void *arg), void *arg);
/* Call fn for every record of a kind (moatctl); stops when fn says 0. */
enum store_result store_each(unsigned char kind, int (*fn)(const void *key,
	    size_t klen, const void *val, size_t vlen, void *arg), void *arg);

/* fn is called whenever a call finds the file corrupt. */
void	store_on_broken(void (*fn)(void));

/*
 * Parent, every few seconds and after a worker died: open the store,
 * forget the readers of dead processes, flush it to disk, close it.  It
 * is never open across a fork.  broken: a worker found the file corrupt.
 * while_open, unless NULL, reads what it wants before the close.
 * 1 when it started a new file (the workers' handles are on the old one).
 */
int	store_maintain(const char *dir, uint64_t mapsize, int broken,
	    void (*while_open)(void));

#endif
