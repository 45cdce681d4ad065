/*
 * store_txn.c: the Berkeley DB backend's transactions (deadlock retries
 * with backoff, lock timeouts and failchk, resource errors as
 * STORE_BUSY; the checkpoints are in store.c) and records (get, put,
 * del, range), and the counters of transient failures every backend
 * keeps.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"
#include "store_int.h"

#define STORE_RETRIES	20		/* deadlock retries in store_txn_run */

/*
 * Resource errors (a full lock table, region memory, log buffer or
 * disk): the transaction was aborted and wrote nothing.  The ones that
 * clear up as other transactions end are retried STORE_BUSY_RETRIES
 * times, STORE_BUSY_WAIT_MS, then twice, four and eight times as long
 * apart (150 ms in all); then the caller gets STORE_BUSY (a request a
 * 503 with Retry-After, latchkeyctl its EXIT_TEMPFAIL).
 */
#define STORE_BUSY_RETRIES	4
#define STORE_BUSY_WAIT_MS	10

static const struct {
	int		 err;
	const char	*what;
	int		 retry;		/* may clear up by itself */
} busy_errs[] = {
	{ ENOMEM, "lock table or region memory full", 1 },
	{ DB_LOG_BUFFER_FULL, "log buffer full", 1 },
	{ ENOSPC, "disk full", 0 },
	{ EDQUOT, "disk quota exceeded", 0 },
	{ EFBIG, "file size limit reached", 0 },
};

/*
 * Set when a lock wait timed out (DB_LOCK_NOTGRANTED), the only retry
 * after which failchk can help: a deadlock is resolved by the detector,
 * and failchk asks is_alive about every registered thread (STORE_THREADS
 * kill(2)s), which under contention cost more than the transaction
 * (`make fault`).  One flag per process: responders are single-threaded.
 */
static int	 lock_timedout;

/*
 * Set by store_txn_durable() inside the running transaction: its commit
 * is synced even under store_txn_run_nosync.  Reset before each attempt
 * (fn runs again after a deadlock).  One flag per process, as above.
 */
static int	 txn_durable;

/*
 * Transient failures of the environment seen by this process (a panic,
 * a recovery, retries run out): route.c answers 503 and Retry-After
 * instead of 500 for a request during which this count moved.
 */
static unsigned	 troubles;

/*
 * Resource errors: how many transactions gave up on one, the resource
 * of the last (a Berkeley DB message names the lock table; store_errcall
 * keeps which), and whether it may clear up by itself.
 */
static unsigned	 busy;
static const char *busy_what = "";
static const char *busy_hint;
static int	 busy_retry;

void
store_trouble(void)
{
	troubles++;
}

void
store_busy_hint(const char *what)
{
	busy_hint = what;
}

/* busy_what and busy_retry are set for a resource error. */
int
store_busy_rc(int ret)
{
	size_t	 i;

	for (i = 0; i < sizeof(busy_errs) / sizeof(busy_errs[0]); i++)
		if (busy_errs[i].err == ret) {
			busy_what = ret == ENOMEM && busy_hint != NULL ?
			    busy_hint : busy_errs[i].what;
			busy_retry = busy_errs[i].retry;
			busy_hint = NULL;
			return STORE_BUSY;
		}
	return -1;
}

/*
 * Map a Berkeley DB return onto store_rc; only the unexpected is logged
 * (a missing key or a deadlock is a normal outcome for the caller, a
 * resource error is logged once by txn_run when it gives up).
 */
enum store_rc
store_dbret(int ret, const char *what, enum store_kind kind)
{

	if (store_busy_rc(ret) == STORE_BUSY)
		return STORE_BUSY;
	switch (ret) {
	case 0:
		return STORE_OK;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return STORE_NOTFOUND;
	case DB_KEYEXIST:
		return STORE_EXISTS;
	case DB_LOCK_NOTGRANTED:
		lock_timedout = 1;
		return STORE_DEADLOCK;
	case DB_LOCK_DEADLOCK:
		return STORE_DEADLOCK;
	case DB_RUNRECOVERY:
		troubles++;
		/* FALLTHROUGH */
	default:
		lk_err("%s %s: %s", what, store_files[kind], db_strerror(ret));
		return STORE_ERR;
	}
}

int
store_key_dbt(DBT *k, const char *key)
{
	size_t	 len;

	memset(k, 0, sizeof(*k));
	if (key == NULL || (len = strlen(key)) == 0 || len > STORE_KEY_MAX) {
		lk_err("empty or oversized key");
		return -1;
	}
	k->data = (void *)key;
	k->size = (u_int32_t)len;
	return 0;
}

/* Records hold hashes and private keys. */
void
store_dbt_free(DBT *d)
{

	if (d->data != NULL) {
		explicit_bzero(d->data, d->size);
		free(d->data);
	}
	d->data = NULL;
	d->size = 0;
}

/* The log line names the file and the byte, never the value. */
json_t *
store_val_parse(const DBT *d, enum store_kind kind)
{
	return store_text_parse(d->data, d->size, kind);
}

unsigned
store_troubles(void)
{
	return troubles;
}

unsigned
store_busy(void)
{
	return busy;
}

const char *
store_busy_what(void)
{
	return busy_what;
}

/* ------------------------------------------------------------------ */
/* Transactions.                                                      */

void
store_busy_give_up(const char *what)
{
	lk_err("%s: transaction given up, nothing written", what);
	busy_what = what;
	busy++;
	troubles++;
}

/* Sleep a random 0.1 ms .. 2^n ms so that colliding processes part. */
void
store_backoff(struct store *s, int attempt)
{
	struct timespec	 ts;
	uint64_t	 max_us, us;

	s->rnd ^= s->rnd << 13;
	s->rnd ^= s->rnd >> 7;
	s->rnd ^= s->rnd << 17;
	max_us = 1000u << (attempt < 5 ? attempt : 5);
	us = 100 + (s->rnd ^ (uint64_t)getpid()) % max_us;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(us * 1000);
	nanosleep(&ts, NULL);
}

/*
 * fn may run more than once (after a deadlock or a resource error), so
 * it must rebuild any state it keeps in arg each time.  Returns fn's
 * result, STORE_BUSY when a resource stayed exhausted, STORE_ERR when
 * the transaction cannot begin or commit or the retries run out; the
 * transaction is then aborted and nothing of it is written.
 */
static enum store_rc	txn_run(struct store *,
			    enum store_rc (*)(struct store *, struct txn *,
    void *),
			    void *, u_int32_t);

/*
 * STORE_TXN_NOSYNC: DB_TXN_WRITE_NOSYNC, written to the log and flushed
 * by the next synced commit or checkpoint (store_jti.c says where).
 */
static enum store_rc
bdb_txn_run(struct store *s,
    enum store_rc (*fn)(struct store *, struct txn *, void *), void *arg,
    int flags)
{
	enum store_rc	 rc;

	store_env_share(s);
	rc = txn_run(s, fn, arg, (flags & STORE_TXN_NOSYNC) ?
	    DB_TXN_WRITE_NOSYNC : 0);
	store_env_unshare(s);
	return rc;
}

/* store_txn_durable: this transaction's commit is synced after all. */
static void
bdb_durable(struct store *s, struct txn *txn)
{

	(void)s;
	(void)txn;
	txn_durable = 1;
}

/*
 * After a resource error (the transaction aborted, nothing written):
 * 1 to try again after a pause, 0 to give up, logged once with the
 * resource and counted (store_busy, and store_troubles: the request is
 * answered 503, not blamed on the configuration).
 */
static int
busy_again(int *tries)
{
	struct timespec	 ts;
	long		 ms;

	if (busy_retry && *tries < STORE_BUSY_RETRIES) {
		ms = (long)STORE_BUSY_WAIT_MS << (*tries)++;
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		return 1;
	}
	lk_err("%s: transaction given up after %d attempt(s), nothing "
	    "written", busy_what, *tries + 1);
	busy++;
	troubles++;
	return 0;
}

/* A txn_begin that failed: STORE_BUSY (a full locker table) or STORE_ERR. */
static enum store_rc
txn_begin_failed(struct store *s, int ret)
{

	if (store_busy_rc(ret) == STORE_BUSY)
		return STORE_BUSY;
	if (ret == DB_RUNRECOVERY)
		store_mark_panicked(s);
	lk_err("txn_begin: %s", db_strerror(ret));
	return STORE_ERR;
}

/* commit: the commit's flags (0: a durable, synced commit), unless fn
 * called store_txn_durable(). */
static enum store_rc
txn_run(struct store *s,
    enum store_rc (*fn)(struct store *, struct txn *, void *), void *arg,
    u_int32_t commit)
{
	DB_TXN		*txn;
	enum store_rc	 rc;
	int		 i, ret, tries = 0;

	for (i = 0; i < STORE_RETRIES; i++) {
		if (i > 0) {
			if (lock_timedout)
				store_failchk(s);
			store_backoff(s, i);
		}
		lock_timedout = 0;
		txn_durable = 0;
		if ((ret = s->env->txn_begin(s->env, NULL, &txn, 0)) != 0) {
			if ((rc = txn_begin_failed(s, ret)) == STORE_BUSY &&
			    busy_again(&tries))
				continue;
			return rc;
		}
		if ((rc = fn(s, STORE_TXN(txn), arg)) != STORE_OK) {
			if ((ret = txn->abort(txn)) != 0) {
				lk_err("txn abort: %s", db_strerror(ret));
				return STORE_ERR;
			}
			if (rc == STORE_DEADLOCK ||
			    (rc == STORE_BUSY && busy_again(&tries)))
				continue;
			return rc;
		}
		/* The handle is gone after commit, whatever it returns; a
		 * failed commit is aborted, nothing of it written. */
		if ((ret = txn->commit(txn, txn_durable ? 0 : commit)) == 0) {
			s->commits++;
			if (!s->ckp_later)
				store_checkpoint(s);
			return STORE_OK;
		}
		if (store_busy_rc(ret) == STORE_BUSY) {
			if (busy_again(&tries))
				continue;
			return STORE_BUSY;
		}
		if (ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED) {
			lk_err("txn commit: %s", db_strerror(ret));
			return STORE_ERR;
		}
		if (ret == DB_LOCK_NOTGRANTED)
			lock_timedout = 1;
	}
	lk_err("transaction still deadlocked after %d attempts", i);
	troubles++;
	return STORE_ERR;
}

/* ------------------------------------------------------------------ */
/* Records.                                                           */

/* *out is NULL unless STORE_OK.  On error nothing is changed.
 * STORE_FOR_UPDATE: DB_RMW (store_get_update). */
static enum store_rc
bdb_get(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, json_t **out, int flags)
{
	DB		*db;
	DBT		 k, d;
	int		 ret;

	*out = NULL;
	if ((ret = store_db(s, kind, &db)) != 0)
		return store_dbret(ret, "open", kind);
	if (store_key_dbt(&k, key) == -1)
		return STORE_ERR;
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, BDB_TXN(txn), &k, &d,
	    (flags & STORE_FOR_UPDATE) ? DB_RMW : 0)) != 0)
		return store_dbret(ret, "get", kind);
	*out = store_val_parse(&d, kind);
	store_dbt_free(&d);
	return *out == NULL ? STORE_ERR : STORE_OK;
}

/* On error nothing is written (the caller aborts the transaction). */
static enum store_rc
bdb_put(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, const json_t *val, int flags)
{
	DB		*db;
	DBT		 k, d;
	char		*text;
	int		 ret;

	if ((ret = store_db(s, kind, &db)) != 0)
		return store_dbret(ret, "open", kind);
	if (store_key_dbt(&k, key) == -1)
		return STORE_ERR;
	if ((text = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		lk_err("%s: cannot serialise record", store_files[kind]);
		return STORE_ERR;
	}
	memset(&d, 0, sizeof(d));
	d.data = text;
	d.size = (u_int32_t)strlen(text);
	ret = db->put(db, BDB_TXN(txn), &k, &d,
	    (flags & STORE_NOOVERWRITE) ? DB_NOOVERWRITE : 0);
	explicit_bzero(text, d.size);
	free(text);
	return store_dbret(ret, "put", kind);
}

static enum store_rc
bdb_del(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key)
{
	DB		*db;
	DBT		 k;
	int		 ret;

	if ((ret = store_db(s, kind, &db)) != 0)
		return store_dbret(ret, "open", kind);
	if (store_key_dbt(&k, key) == -1)
		return STORE_ERR;
	return store_dbret(db->del(db, BDB_TXN(txn), &k, 0), "del", kind);
}


/* Put the cursor on the first record at or after from (NULL: the first
 * record).  A Berkeley DB return (DB_NOTFOUND: none). */
static int
range_first(DBC *c, const char *from, int flags, DBT *k, DBT *d)
{
	size_t	 len;
	int	 ret;

	if (from == NULL)
		return c->get(c, k, d, DB_FIRST);
	len = strlen(from);
	memcpy(k->data, from, len);
	k->size = (u_int32_t)len;
	if ((ret = c->get(c, k, d, DB_SET_RANGE)) != 0 ||
	    !(flags & STORE_RANGE_AFTER))
		return ret;
	if (k->size == len && memcmp(k->data, from, len) == 0)
		return c->get(c, k, d, DB_NEXT);
	return 0;
}

/*
 * A cursor in key order, handing cb a NUL-terminated key and the parsed
 * value (borrowed).  STORE_RANGE_LOOSE reads with degree 2
 * (DB_READ_COMMITTED): a page's read lock is held while the cursor is on
 * it and dropped when it moves on, so a walk's batch holds its writes,
 * the reads cb made, and one page.  cb may write through txn: a record
 * deleted under the cursor is passed over by DB_NEXT.
 */
static enum store_rc
bdb_range(struct store *s, struct txn *txn, enum store_kind kind,
    const char *from, int flags, long max,
    int (*cb)(const char *, json_t *, void *), void *arg)
{
	DB		*db;
	DBC		*c = NULL;
	DBT		 k, d;
	char		 kbuf[STORE_KEY_MAX + 1];
	json_t		*v;
	enum store_rc	 rc;
	long		 n = 0;
	int		 ret, stop;

	if (from != NULL && (*from == '\0' || strlen(from) > STORE_KEY_MAX)) {
		lk_err("empty or oversized key");
		return STORE_ERR;
	}
	if ((ret = store_db(s, kind, &db)) != 0)
		return store_dbret(ret, "open", kind);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = kbuf;
	k.ulen = STORE_KEY_MAX;
	k.flags = DB_DBT_USERMEM;
	d.flags = DB_DBT_REALLOC;
	if ((ret = db->cursor(db, BDB_TXN(txn), &c, (flags & STORE_RANGE_LOOSE)
	    ? DB_READ_COMMITTED : 0)) != 0)
		return store_dbret(ret, "cursor", kind);
	for (ret = range_first(c, from, flags, &k, &d); ret == 0 && n < max;
	    ret = c->get(c, &k, &d, DB_NEXT)) {
		kbuf[k.size] = '\0';
		if ((v = store_val_parse(&d, kind)) == NULL) {
			ret = EINVAL;
			break;
		}
		stop = cb(kbuf, v, arg);
		json_decref(v);
		if (stop || ++n == max)
			break;
	}
	rc = (ret == 0 || ret == DB_NOTFOUND) ? STORE_OK :
	    store_dbret(ret, "cursor", kind);
	if ((ret = c->close(c)) != 0 && rc == STORE_OK)
		rc = store_dbret(ret, "cursor close", kind);
	store_dbt_free(&d);
	return rc;
}

const struct store_ops store_bdb_ops = {
	.name = "bdb",
	.autocommit = STORE_AUTO_READ,
	.close = store_bdb_close,
	.txn_run = bdb_txn_run,
	.durable = bdb_durable,
	.get = bdb_get,
	.put = bdb_put,
	.del = bdb_del,
	.range = bdb_range,
};
