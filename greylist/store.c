/*
 * store: the shared LMDB state (see store.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "../smtpd/log.h"
#include "store.h"

#define COMPLAIN_EVERY	60	/* seconds between two loud lines */

#define VAL_MAX		1024	/* walked values are copied this far */

/* LMDB's values need not be aligned: walks hand out aligned copies. */
union aligned {
	max_align_t	 align;
	unsigned char	 b[VAL_MAX];
};

static MDB_env *env;
static MDB_dbi dbi;
static MDB_txn *reader;	/* reset between reads: renewing it is cheap */
static int reader_busy;
static int active;
static int may_recover;	/* only the parent sets a broken file aside */
static int renewed;	/* ... and says when it did */
static void (*on_broken)(void);

int
store_active(void)
{
	return active;
}

void
store_on_broken(void (*fn)(void))
{
	on_broken = fn;
}

static int
corrupt(int rc)
{
	return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
	    rc == MDB_INVALID;
}

/* One loud line a minute while the store fails; the session goes on. */
static enum store_result
failed(const char *what, int rc)
{
	static time_t last;
	time_t now = time(NULL);

	if (corrupt(rc) && on_broken != NULL)
		on_broken();
	if (now - last >= COMPLAIN_EVERY) {
		last = now;
		log_warnx("state store: %s: %s; greylisting goes on without "
		    "it (fails open)", what, mdb_strerror(rc));
	}
	return STORE_FAIL;
}

static int
env_open(const char *dir, uint64_t mapsize)
{
	int rc, dead;

	if ((rc = mdb_env_create(&env)) != 0)
		return rc;
	if ((rc = mdb_env_set_mapsize(env, (size_t)mapsize)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_NOSYNC | MDB_NOTLS, 0600)) != 0) {
		mdb_env_close(env);
		env = NULL;
		return rc;
	}
	(void)mdb_reader_check(env, &dead);
	return 0;
}

static int
dbi_open(void)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		return rc;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

/*
 * A file LMDB will not read is moved aside and its lock file removed:
 * the next open starts anew, while processes that still have the old
 * pair open keep working on it, apart from the new one.
 */
static void
set_aside(const char *dir, const char *why)
{
	char from[4096], to[4096 + 32], lock[4096];

	(void)snprintf(from, sizeof(from), "%s/data.mdb", dir);
	(void)snprintf(to, sizeof(to), "%s/data.mdb.corrupt-%lld", dir,
	    (long long)time(NULL));
	(void)snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
	if (rename(from, to) == -1) {
		log_warn("state store: %s %s, but moving it aside failed",
		    from, why);
		return;
	}
	if (unlink(lock) == -1 && errno != ENOENT)
		log_warn("state store: %s", lock);
	renewed = 1;
	log_warnx("state store: %s %s; moved to %s, starting a new one",
	    from, why, to);
}

int
store_open(const char *dir, uint64_t mapsize)
{
	int rc;

	store_close();
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_warn("state store: %s", dir);
		return -1;
	}
	rc = env_open(dir, mapsize);
	if (may_recover && (corrupt(rc) || rc == MDB_VERSION_MISMATCH)) {
		set_aside(dir, "was unreadable");
		rc = env_open(dir, mapsize);
	}
	if (rc == 0 && (rc = dbi_open()) != 0) {
		mdb_env_close(env);
		env = NULL;
		if (may_recover && corrupt(rc)) {
			set_aside(dir, "was unreadable");
			if ((rc = env_open(dir, mapsize)) == 0)
				rc = dbi_open();
		}
	}
	if (rc != 0) {
		(void)failed(dir, rc);
		return -1;
	}
	active = 1;
	return 0;
}

void
store_close(void)
{
	if (reader != NULL)
		mdb_txn_abort(reader);
	reader = NULL;
	reader_busy = 0;
	if (env != NULL)
		mdb_env_close(env);
	env = NULL;
	active = 0;
}

/*
 * A read transaction: the kept one renewed, or a new one kept; one of
 * its own while the kept one is in use (a read inside a read).
 */
static int
read_begin(MDB_txn **txn)
{
	int rc;

	if (reader_busy)
		return mdb_txn_begin(env, NULL, MDB_RDONLY, txn);
	if (reader != NULL && mdb_txn_renew(reader) != 0) {
		mdb_txn_abort(reader);
		reader = NULL;
	}
	if (reader == NULL &&
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &reader)) != 0) {
		reader = NULL;
		return rc;
	}
	reader_busy = 1;
	*txn = reader;
	return 0;
}

static void
read_end(MDB_txn *txn)
{
	if (txn != reader) {
		mdb_txn_abort(txn);
		return;
	}
	mdb_txn_reset(reader);
	reader_busy = 0;
}

static int
key_ok(size_t klen)
{
	return klen > 0 && klen <= STORE_KEY_MAX;
}

struct store_view {
	MDB_txn		*txn;
};

enum store_result
store_view(void (*fn)(struct store_view *, void *), void *arg)
{
	struct store_view v;
	int rc;

	if (!active)
		return STORE_FAIL;
	if ((rc = read_begin(&v.txn)) != 0)
		return failed("read", rc);
	fn(&v, arg);
	read_end(v.txn);
	return STORE_OK;
}

enum store_result
store_view_get(struct store_view *view, const void *key, size_t klen,
    void *val, size_t vlen)
{
	MDB_val k = { klen, (void *)key }, v;
	int rc;

	if (!key_ok(klen))
		return STORE_FAIL;
	rc = mdb_get(view->txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size != vlen))
		return STORE_NOTFOUND;	/* a record of another shape: gone */
	if (rc != 0)
		return failed("read", rc);
	memcpy(val, v.mv_data, vlen);
	return STORE_OK;
}

struct get_one {
	const void	*key;
	size_t		 klen;
	void		*val;
	size_t		 vlen;
	enum store_result r;
};

static void
get_one(struct store_view *view, void *arg)
{
	struct get_one *g = arg;

	g->r = store_view_get(view, g->key, g->klen, g->val, g->vlen);
}

enum store_result
store_get(const void *key, size_t klen, void *val, size_t vlen)
{
	struct get_one g = { key, klen, val, vlen, STORE_FAIL };

	if (store_view(get_one, &g) != STORE_OK)
		return STORE_FAIL;
	return g.r;
}

enum store_result
store_update(const void *key, size_t klen, void *val, size_t vlen,
    enum store_action (*fn)(void *, int, void *), void *arg)
{
	MDB_val k = { klen, (void *)key }, v;
	MDB_txn *txn;
	enum store_action act;
	int rc, found;

	if (!active || !key_ok(klen))
		return STORE_FAIL;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		return failed("write", rc);
	rc = mdb_get(txn, dbi, &k, &v);
	found = rc == 0 && v.mv_size == vlen;
	if (found)
		memcpy(val, v.mv_data, vlen);
	else
		memset(val, 0, vlen);
	if (rc != 0 && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return failed("read", rc);
	}
	act = fn(val, found, arg);
	rc = 0;
	if (act == STORE_WRITE) {
		v.mv_size = vlen;
		v.mv_data = val;
		rc = mdb_put(txn, dbi, &k, &v, 0);
	} else if (act == STORE_DELETE && found) {
		rc = mdb_del(txn, dbi, &k, NULL);
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return failed("write", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return failed("commit", rc);
	return STORE_OK;
}

enum store_result
store_delete(const void *key, size_t klen)
{
	MDB_val k = { klen, (void *)key };
	MDB_txn *txn;
	int rc;

	if (!active || !key_ok(klen))
		return STORE_FAIL;
	if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
		return failed("write", rc);
	rc = mdb_del(txn, dbi, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return STORE_NOTFOUND;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return failed("delete", rc);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return failed("commit", rc);
	return STORE_OK;
}

/* An aligned copy of a value (its size is v->mv_size; past VAL_MAX the
 * copy is cut, and callers refuse the size anyway). */
static const void *
copy(union aligned *buf, const MDB_val *v)
{
	memcpy(buf->b, v->mv_data, v->mv_size < VAL_MAX ? v->mv_size :
	    VAL_MAX);
	return buf->b;
}

/* Where the last sweep of a kind stopped: the next goes on from there. */
static unsigned char resume[256][STORE_KEY_MAX];
static size_t resume_len[256];

size_t
store_sweep(unsigned char kind, size_t max,
    int (*expired)(const void *, size_t, void *), void *arg)
{
	MDB_val k, v;
	MDB_cursor *cur;
	MDB_txn *txn;
	union aligned buf;
	size_t seen = 0, gone = 0;
	int rc;

	if (!active || mdb_txn_begin(env, NULL, 0, &txn) != 0)
		return 0;
	if (mdb_cursor_open(txn, dbi, &cur) != 0) {
		mdb_txn_abort(txn);
		return 0;
	}
	if (resume_len[kind] == 0) {
		resume[kind][0] = kind;
		resume_len[kind] = 1;
	}
	k.mv_size = resume_len[kind];
	k.mv_data = resume[kind];
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	resume_len[kind] = 0;		/* the end of the kind: start over */
	while (rc == 0 && ((unsigned char *)k.mv_data)[0] == kind) {
		if (seen++ == max) {
			if (k.mv_size <= STORE_KEY_MAX) {
				memcpy(resume[kind], k.mv_data, k.mv_size);
				resume_len[kind] = k.mv_size;
			}
			break;
		}
		if (expired(copy(&buf, &v), v.mv_size, arg) &&
		    mdb_cursor_del(cur, 0) == 0) {
			gone++;
			rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
			if (rc == MDB_NOTFOUND)
				break;
			continue;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (mdb_txn_commit(txn) != 0)
		return 0;
	return gone;
}

enum store_result
store_each(unsigned char kind, int (*fn)(const void *, size_t, const void *,
    size_t, void *), void *arg)
{
	MDB_val k = { 1, &kind }, v;
	MDB_cursor *cur;
	MDB_txn *txn;
	union aligned buf;
	int rc;

	if (!active)
		return STORE_FAIL;
	if ((rc = read_begin(&txn)) != 0)
		return failed("read", rc);
	if ((rc = mdb_cursor_open(txn, dbi, &cur)) != 0) {
		read_end(txn);
		return failed("read", rc);
	}
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && ((unsigned char *)k.mv_data)[0] == kind &&
	    fn(k.mv_data, k.mv_size, copy(&buf, &v), v.mv_size, arg))
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	mdb_cursor_close(cur);
	read_end(txn);
	return STORE_OK;
}

int
store_maintain(const char *dir, uint64_t mapsize, int broken,
    void (*while_open)(void))
{
	int rc;

	may_recover = 1;
	renewed = 0;
	if (broken)
		set_aside(dir, "was found corrupt by a worker");
	if (store_open(dir, mapsize) == 0) {
		if ((rc = mdb_env_sync(env, 1)) != 0)
			(void)failed("sync", rc);
		if (while_open != NULL)
			while_open();
		store_close();
	}
	return renewed;
}
