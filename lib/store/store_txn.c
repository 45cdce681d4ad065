/*
 * store_txn.c: transactions (store_txn_run: deadlock retries with
 * backoff, lock timeouts and failchk, resource errors as STORE_BUSY,
 * checkpoints), the records (get, put, del, each) and the client
 * assertion replay table (SK_JTI).
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
#define STORE_CKP_EVERY	128		/* commits between checkpoint attempts */
#define STORE_CKP_KB	1024		/* ... which run only after this much log */
#define JTI_PURGE_MAX	8		/* expired jti records looked at per use */

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
	json_t		*v;
	json_error_t	 e;

	v = json_loadb(d->data, d->size, JSON_DECODE_ANY, &e);
	if (v == NULL)
		lk_err("%s: unparsable record at byte %d",
		    store_files[kind], e.position);
	return v;
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

/* Sleep a random 0.1 ms .. 2^n ms so that colliding processes part. */
static void
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
 * Log files are removed (DB_LOG_AUTO_REMOVE) only once a checkpoint no
 * longer needs them, and the responders are long-lived: checkpoint now
 * and then, when enough log has been written.  Failure is only logged.
 */
static void
store_checkpoint(struct store *s)
{
	int	 ret;

	if (++s->commits < STORE_CKP_EVERY)
		return;
	s->commits = 0;
	if ((ret = s->env->txn_checkpoint(s->env, STORE_CKP_KB, 0, 0)) != 0)
		lk_warn("checkpoint: %s", db_strerror(ret));
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

enum store_rc
store_txn_run(struct store *s,
    enum store_rc (*fn)(struct store *, struct txn *, void *), void *arg)
{
	enum store_rc	 rc;

	store_env_share(s);
	rc = txn_run(s, fn, arg, 0);
	store_env_unshare(s);
	return rc;
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

/* commit: the commit's flags (0: a durable, synced commit). */
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
		if ((ret = txn->commit(txn, commit)) == 0) {
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

/* *out is NULL unless STORE_OK.  On error nothing is changed. */
enum store_rc
store_get_txn(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, json_t **out)
{
	DB		*db = s->db[kind];
	DBT		 k, d;
	int		 ret;

	*out = NULL;
	if (store_key_dbt(&k, key) == -1)
		return STORE_ERR;
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, BDB_TXN(txn), &k, &d, 0)) != 0)
		return store_dbret(ret, "get", kind);
	*out = store_val_parse(&d, kind);
	store_dbt_free(&d);
	return *out == NULL ? STORE_ERR : STORE_OK;
}

/* On error nothing is written (the caller aborts the transaction). */
enum store_rc
store_put_txn(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, const json_t *val, int flags)
{
	DB		*db = s->db[kind];
	DBT		 k, d;
	char		*text;
	int		 ret;

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

enum store_rc
store_del_txn(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key)
{
	DB		*db = s->db[kind];
	DBT		 k;

	if (store_key_dbt(&k, key) == -1)
		return STORE_ERR;
	return store_dbret(db->del(db, BDB_TXN(txn), &k, 0), "del", kind);
}

/* Walk the database in key order, handing cb a NUL-terminated key and
 * the parsed value (borrowed: decref'd after cb returns). */
static enum store_rc
each_txn(struct store *s, struct txn *txn, enum store_kind kind,
    int (*cb)(const char *, json_t *, void *), void *arg)
{
	DB		*db = s->db[kind];
	DBC		*c = NULL;
	DBT		 k, d;
	json_t		*v;
	char		*key = NULL, *nkey;
	enum store_rc	 rc;
	int		 ret, stop = 0;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = d.flags = DB_DBT_REALLOC;
	if ((ret = db->cursor(db, BDB_TXN(txn), &c, 0)) != 0)
		return store_dbret(ret, "cursor", kind);
	while (!stop && (ret = c->get(c, &k, &d, DB_NEXT)) == 0) {
		if ((nkey = realloc(key, k.size + 1)) == NULL) {
			lk_err("realloc: %s", strerror(errno));
			ret = ENOMEM;
			break;
		}
		key = nkey;
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		if ((v = store_val_parse(&d, kind)) == NULL) {
			ret = EINVAL;
			break;
		}
		stop = cb(key, v, arg);
		json_decref(v);
	}
	rc = (ret == DB_NOTFOUND) ? STORE_OK : store_dbret(ret, "cursor", kind);
	if ((ret = c->close(c)) != 0 && rc == STORE_OK)
		rc = store_dbret(ret, "cursor close", kind);
	free(key);
	free(k.data);
	store_dbt_free(&d);
	return rc;
}

static enum store_rc
get_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;

	return store_get_txn(s, txn, o->kind, o->key, o->out);
}

static enum store_rc
put_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;

	return store_put_txn(s, txn, o->kind, o->key, o->val, o->flags);
}

static enum store_rc
del_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;

	return store_del_txn(s, txn, o->kind, o->key);
}

static int
collect_cb(const char *key, json_t *val, void *arg)
{

	return json_array_append_new(arg, json_pack("[sO]", key, val)) == -1;
}

/* Collect first, call back after the commit: a retried transaction
 * must not show the caller the same record twice. */
static enum store_rc
collect_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;

	json_array_clear(o->list);
	return each_txn(s, txn, o->kind, collect_cb, o->list);
}

/* *out is NULL unless STORE_OK.  Nothing changes. */
enum store_rc
store_get(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, json_t **out)
{
	struct op	 o = { .kind = kind, .key = key, .out = out };

	*out = NULL;
	if (txn != NULL)
		return store_get_txn(s, txn, kind, key, out);
	return store_txn_run(s, get_fn, &o);
}

/* STORE_EXISTS with STORE_NOOVERWRITE and the key taken; on any error
 * nothing is written (an own transaction is aborted; a caller's
 * transaction must be aborted by the caller). */
enum store_rc
store_put(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, const json_t *val, int flags)
{
	struct op	 o = { .kind = kind, .key = key, .val = val,
			       .flags = flags };

	if (txn != NULL)
		return store_put_txn(s, txn, kind, key, val, flags);
	return store_txn_run(s, put_fn, &o);
}

/* STORE_NOTFOUND when there was no such key; nothing is then changed. */
enum store_rc
store_del(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key)
{
	struct op	 o = { .kind = kind, .key = key };

	if (txn != NULL)
		return store_del_txn(s, txn, kind, key);
	return store_txn_run(s, del_fn, &o);
}

/*
 * val is borrowed: cb must json_incref() what it keeps.  Without a txn
 * the records are read in one transaction and cb is called after it
 * commits.  Returns STORE_OK when the walk ended (or cb stopped it),
 * STORE_DEADLOCK (with a txn) or STORE_ERR; cb may have been called for
 * some records by then.
 */
enum store_rc
store_each(struct store *s, struct txn *txn, enum store_kind kind,
    int (*cb)(const char *key, json_t *val, void *arg), void *arg)
{
	struct op	 o = { .kind = kind };
	enum store_rc	 rc;
	size_t		 i;

	if (txn != NULL)
		return each_txn(s, txn, kind, cb, arg);
	if ((o.list = json_array()) == NULL)
		return STORE_ERR;
	if ((rc = store_txn_run(s, collect_fn, &o)) == STORE_OK)
		for (i = 0; i < json_array_size(o.list); i++) {
			json_t *p = json_array_get(o.list, i);

			if (cb(json_string_value(json_array_get(p, 0)),
			    json_array_get(p, 1), arg))
				break;
		}
	json_decref(o.list);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Client assertion replay (RFC 7523 3: jti used once).               */

/* exp of a jti record; 0 (expired) when unreadable. */
static time_t
jti_exp(const DBT *d, enum store_kind kind)
{
	json_t	*v;
	time_t	 exp;

	if ((v = store_val_parse(d, kind)) == NULL)
		return 0;
	exp = (time_t)json_integer_value(json_object_get(v, "exp"));
	json_decref(v);
	return exp;
}

/*
 * Delete expired records following the one just written (wrapping to
 * the start), at most JTI_PURGE_MAX looked at: the table stays small
 * without a sweeper process.  Returns a store_rc; a deadlock must abort.
 */
static enum store_rc
jti_purge(struct store *s, struct txn *txn, enum store_kind kind,
    const DBT *from, time_t now)
{
	DB		*db = s->db[kind];
	DBC		*c = NULL;
	DBT		 k, d;
	enum store_rc	 rc;
	int		 ret, n, wrapped = 0;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = d.flags = DB_DBT_REALLOC;
	if ((ret = db->cursor(db, BDB_TXN(txn), &c, 0)) != 0)
		return store_dbret(ret, "cursor", kind);
	for (n = 0; n < JTI_PURGE_MAX; n++) {
		ret = c->get(c, &k, &d, DB_NEXT);
		if (ret == DB_NOTFOUND && !wrapped++)
			ret = c->get(c, &k, &d, DB_FIRST);
		if (ret != 0)
			break;
		if (k.size == from->size &&
		    memcmp(k.data, from->data, k.size) == 0)
			continue;
		if (jti_exp(&d, kind) <= now && (ret = c->del(c, 0)) != 0)
			break;
	}
	rc = (ret == DB_NOTFOUND) ? STORE_OK : store_dbret(ret, "purge", kind);
	if ((ret = c->close(c)) != 0 && rc == STORE_OK)
		rc = store_dbret(ret, "cursor close", kind);
	free(k.data);
	free(d.data);
	return rc;
}

static enum store_rc
jti_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;
	DBT		 k;
	json_t		*old = NULL, *rec;
	enum store_rc	 rc;

	rc = store_get_txn(s, txn, o->kind, o->key, &old);
	if (rc == STORE_OK &&
	    json_integer_value(json_object_get(old, "exp")) > o->now)
		rc = STORE_EXISTS;
	else if (rc == STORE_OK || rc == STORE_NOTFOUND)
		rc = STORE_OK;
	json_decref(old);
	if (rc != STORE_OK)
		return rc;
	if ((rec = json_pack("{sI}", "exp", (json_int_t)o->exp)) == NULL)
		return STORE_ERR;
	rc = store_put_txn(s, txn, o->kind, o->key, rec, 0);
	json_decref(rec);
	if (rc == STORE_OK && store_key_dbt(&k, o->key) == 0)
		rc = jti_purge(s, txn, o->kind, &k, o->now);
	return rc;
}

/*
 * An expired record is free to reuse.  Returns STORE_EXISTS when the jti
 * is still recorded, STORE_ERR for an oversized key or a store failure;
 * nothing is then written.
 */
enum store_rc
store_jti_use(struct store *s, const char *client_id, const char *jti,
    time_t exp, time_t now)
{
	char		 key[STORE_KEY_MAX + 1];
	struct op	 o = { .kind = SK_JTI, .key = key, .exp = exp,
			    .now = now };
	int		 n;

	n = snprintf(key, sizeof(key), "%s\x1f%s", client_id, jti);
	if (n < 0 || (size_t)n > STORE_KEY_MAX) {
		lk_err("client_id and jti too long");
		return STORE_ERR;
	}
	return store_txn_run(s, jti_fn, &o);
}

/*
 * DPoP proofs (RFC 9449 11.1) as client assertions above, in SK_DPOP,
 * with one difference: the commit is not synced to disk
 * (DB_TXN_WRITE_NOSYNC: written to the log, flushed by the next synced
 * commit or checkpoint).  A responder that dies loses nothing, the
 * operating system has the write; only a host crash can lose the last
 * records, and a proof is accepted for DPOP_IAT_PAST seconds at most,
 * so the exposure is a replay within a minute of a machine restart,
 * which RFC 9449 11.1's nonces bound further.  A proof is the hot path
 * of every DPoP request; an fsync each would cost more than the
 * signature check.
 */
enum store_rc
store_dpop_use(struct store *s, const char *jkt, const char *jti,
    time_t exp, time_t now)
{
	char		 key[STORE_KEY_MAX + 1];
	struct op	 o = { .kind = SK_DPOP, .key = key, .exp = exp,
			    .now = now };
	enum store_rc	 rc;
	int		 n;

	n = snprintf(key, sizeof(key), "%s\x1f%s", jkt, jti);
	if (n < 0 || (size_t)n > STORE_KEY_MAX) {
		lk_err("jkt and jti too long");
		return STORE_ERR;
	}
	store_env_share(s);
	rc = txn_run(s, jti_fn, &o, DB_TXN_WRITE_NOSYNC);
	store_env_unshare(s);
	return rc;
}
