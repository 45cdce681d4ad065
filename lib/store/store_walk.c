/*
 * store_walk.c: the bounded walks (store_scan, store_sweep: batches of
 * STORE_BATCH or STORE_SWEEP_BATCH records, each in its own short
 * transaction), store_prefix_any, and the expiry of SK_OTP and
 * SK_ACCESS records (store_expire).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extern.h"
#include "store_int.h"

/* store_scan_fail_after(): walks fail after this many batches. */
static long	 scan_fail_after;

/*
 * One walk: where it stands (committed: the last key of the last batch
 * that committed) and what the batch in progress has gathered (pending,
 * thrown away when the batch is retried).
 */
struct walk {
	enum store_kind		 kind;
	const char		*prefix;
	size_t			 plen;
	char			 last[STORE_KEY_MAX + 1];
	size_t			 lastlen;
	int			 started;	/* last holds a key */
	int			 end;		/* nothing left */
	/* The batch in progress. */
	char			 plast[STORE_KEY_MAX + 1];
	size_t			 plastlen;
	int			 pend;
	json_t			*recs;		/* store_scan: [key, val] pairs */
	struct store_sweep	*sw;		/* store_sweep */
	json_t			*out;
	long			 deleted;
	int			 batch;		/* records a batch */
};

/*
 * A sweep writes, so its batches hold write locks until they commit (a
 * synchronous commit): a responder whose request touches one of those
 * pages waits for it.  Sweeps therefore take smaller batches than reads
 * (store.h STORE_SWEEP_BATCH),
 * and rest after each for as long as it took (at most SWEEP_REST_MS),
 * leaving the responders at least half of the time and of a core
 * (`make scale`: token prune beside logins and refreshes).
 */
#define SWEEP_REST_MS		100

void
store_scan_fail_after(long n)
{

	scan_fail_after = n;
}

/* Forget what an aborted attempt of the batch gathered. */
static int
walk_reset(struct walk *w)
{

	w->plastlen = 0;
	w->pend = 0;
	w->deleted = 0;
	json_decref(w->recs);
	json_decref(w->out);
	w->recs = w->out = NULL;
	if (w->sw == NULL)
		w->recs = json_array();
	else
		w->out = json_array();
	return w->recs == NULL && w->out == NULL ? -1 : 0;
}

/* Put the cursor on the first record after the committed key, or on the
 * first with the prefix.  A Berkeley DB return (DB_NOTFOUND: none). */
static int
walk_first(DBC *c, const struct walk *w, DBT *k, DBT *d)
{
	int	 ret;

	if (!w->started && w->plen == 0)
		return c->get(c, k, d, DB_FIRST);
	if (!w->started) {
		memcpy(k->data, w->prefix, w->plen);
		k->size = (u_int32_t)w->plen;
		return c->get(c, k, d, DB_SET_RANGE);
	}
	memcpy(k->data, w->last, w->lastlen);
	k->size = (u_int32_t)w->lastlen;
	if ((ret = c->get(c, k, d, DB_SET_RANGE)) != 0)
		return ret;
	if (k->size == w->lastlen && memcmp(k->data, w->last, k->size) == 0)
		return c->get(c, k, d, DB_NEXT);
	return 0;
}

/* One record of the batch (key NUL-terminated, cursor c on it). */
static enum store_rc
walk_one(struct store *s, struct txn *txn, DBC *c, struct walk *w,
    const char *key, const DBT *d)
{
	enum store_act	 act = STORE_KEEP;
	json_t		*v;
	enum store_rc	 rc;
	int		 ret;

	if ((v = store_val_parse(d, w->kind)) == NULL)
		return STORE_ERR;
	memcpy(w->plast, key, (w->plastlen = strlen(key)) + 1);
	if (w->sw == NULL) {
		rc = json_array_append_new(w->recs, json_pack("[sO]", key, v))
		    == 0 ? STORE_OK : STORE_ERR;
		json_decref(v);
		return rc;
	}
	rc = w->sw->fn(s, txn, key, v, w->sw->arg, &act, w->out);
	json_decref(v);
	if (rc != STORE_OK)
		return rc;
	if (act == STORE_STOP)
		w->pend = 1;
	if (act != STORE_DELETE)
		return STORE_OK;
	if ((ret = c->del(c, 0)) != 0)
		return store_dbret(ret, "del", w->kind);
	w->deleted++;
	return STORE_OK;
}

/*
 * A batch: at most STORE_BATCH records from where the walk stands.  The
 * cursor reads with degree 2 (DB_READ_COMMITTED): a page's read lock is
 * held while the cursor is on it and dropped when it moves on, so a
 * batch's locks are its writes, the reads fn made, and one page.
 */
static enum store_rc
walk_batch(struct store *s, struct txn *txn, void *arg)
{
	struct walk	*w = arg;
	DB		*db = s->db[w->kind];
	DBC		*c = NULL;
	DBT		 k, d;
	char		 kbuf[STORE_KEY_MAX + 1];
	enum store_rc	 rc = STORE_OK;
	int		 ret, n = 0;

	if (walk_reset(w) == -1)
		return STORE_ERR;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = kbuf;
	k.ulen = STORE_KEY_MAX;
	k.flags = DB_DBT_USERMEM;
	d.flags = DB_DBT_REALLOC;
	if ((ret = db->cursor(db, BDB_TXN(txn), &c, DB_READ_COMMITTED)) != 0)
		return store_dbret(ret, "cursor", w->kind);
	for (ret = walk_first(c, w, &k, &d); ret == 0;
	    ret = c->get(c, &k, &d, DB_NEXT)) {
		if (w->plen > 0 && (k.size < w->plen ||
		    memcmp(kbuf, w->prefix, w->plen) != 0)) {
			ret = DB_NOTFOUND;
			break;
		}
		kbuf[k.size] = '\0';
		if ((rc = walk_one(s, txn, c, w, kbuf, &d)) != STORE_OK ||
		    w->pend || ++n == w->batch)
			break;
	}
	if (ret == DB_NOTFOUND)
		w->pend = 1;
	else if (ret != 0)
		rc = store_dbret(ret, "cursor", w->kind);
	if ((ret = c->close(c)) != 0 && rc == STORE_OK)
		rc = store_dbret(ret, "cursor close", w->kind);
	store_dbt_free(&d);
	return rc;
}

/* The batch committed: move on, hand its records or results over.
 * -1 when the caller's callback stopped the walk. */
static void
walk_commit(struct walk *w, int (*cb)(const char *, json_t *, void *),
    void *arg)
{
	json_t	*p;
	size_t	 i;

	memcpy(w->last, w->plast, w->plastlen + 1);
	w->lastlen = w->plastlen;
	w->started = w->started || w->plastlen > 0;
	w->end = w->pend;
	if (w->sw != NULL) {
		w->sw->deleted += w->deleted;
		w->sw->results += (long)json_array_size(w->out);
		if (w->sw->out != NULL)
			json_array_extend(w->sw->out, w->out);
		return;
	}
	json_array_foreach(w->recs, i, p)
		if (cb(json_string_value(json_array_get(p, 0)),
		    json_array_get(p, 1), arg)) {
			w->end = 1;
			break;
		}
}

/* A sweep's rest after a batch that took ms (SWEEP_REST_MS). */
static void
walk_rest(double ms)
{
	struct timespec	 ts;

	if (ms > SWEEP_REST_MS)
		ms = SWEEP_REST_MS;
	if (ms <= 0)
		return;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(ms * 1e6);
	nanosleep(&ts, NULL);
}

static enum store_rc
walk_run(struct store *s, struct walk *w,
    int (*cb)(const char *, json_t *, void *), void *arg)
{
	enum store_rc	 rc = STORE_OK;
	double		 t0;
	long		 n;

	w->plen = w->prefix != NULL ? strlen(w->prefix) : 0;
	if (w->plen > STORE_KEY_MAX) {
		lk_err("oversized prefix");
		return STORE_ERR;
	}
	for (n = 0; !w->end; n++) {
		if (scan_fail_after > 0 && n >= scan_fail_after) {
			lk_err("walk of %s stopped after %ld batches (test)",
			    store_files[w->kind], n);
			rc = STORE_ERR;
			break;
		}
		t0 = lk_mono_ms();
		if ((rc = store_txn_run(s, walk_batch, w)) != STORE_OK)
			break;
		walk_commit(w, cb, arg);
		if (w->sw != NULL && !w->end)
			walk_rest(lk_mono_ms() - t0);
	}
	json_decref(w->recs);
	json_decref(w->out);
	return rc;
}

enum store_rc
store_scan(struct store *s, enum store_kind kind, const char *prefix,
    int (*cb)(const char *key, json_t *val, void *arg), void *arg)
{
	struct walk	 w;

	memset(&w, 0, sizeof(w));
	w.kind = kind;
	w.prefix = prefix;
	w.batch = STORE_BATCH;
	return walk_run(s, &w, cb, arg);
}

enum store_rc
store_sweep(struct store *s, struct store_sweep *sw)
{
	struct walk	 w;

	memset(&w, 0, sizeof(w));
	w.kind = sw->kind;
	w.prefix = sw->prefix;
	w.sw = sw;
	w.batch = STORE_SWEEP_BATCH;
	return walk_run(s, &w, NULL, NULL);
}

static enum store_rc
prefix_txn(struct store *s, struct txn *txn, enum store_kind kind,
    const char *prefix)
{
	DB		*db = s->db[kind];
	DBC		*c = NULL;
	DBT		 k, d;
	char		 kbuf[STORE_KEY_MAX + 1];
	size_t		 plen = strlen(prefix);
	enum store_rc	 rc;
	int		 ret;

	if (plen == 0 || plen > STORE_KEY_MAX)
		return STORE_ERR;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	memcpy(kbuf, prefix, plen);
	k.data = kbuf;
	k.size = (u_int32_t)plen;
	k.ulen = STORE_KEY_MAX;
	k.flags = DB_DBT_USERMEM;
	/* Only the key matters: read no data. */
	d.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	if ((ret = db->cursor(db, BDB_TXN(txn), &c, 0)) != 0)
		return store_dbret(ret, "cursor", kind);
	ret = c->get(c, &k, &d, DB_SET_RANGE);
	if (ret == 0)
		rc = k.size >= plen && memcmp(kbuf, prefix, plen) == 0 ?
		    STORE_OK : STORE_NOTFOUND;
	else
		rc = store_dbret(ret, "cursor", kind);
	if ((ret = c->close(c)) != 0 && (rc == STORE_OK ||
	    rc == STORE_NOTFOUND))
		rc = store_dbret(ret, "cursor close", kind);
	return rc;
}

static enum store_rc
prefix_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;
	enum store_rc	 rc;

	rc = prefix_txn(s, txn, o->kind, o->key);
	/* Not found is an answer: commit the read-only transaction. */
	*o->found = rc == STORE_OK;
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

enum store_rc
store_prefix_any(struct store *s, struct txn *txn, enum store_kind kind,
    const char *prefix)
{
	struct op	 o = { .kind = kind, .key = prefix };
	enum store_rc	 rc;
	int		 found = 0;

	if (txn != NULL)
		return prefix_txn(s, txn, kind, prefix);
	o.found = &found;
	if ((rc = store_txn_run(s, prefix_fn, &o)) != STORE_OK)
		return rc;
	return found ? STORE_OK : STORE_NOTFOUND;
}

/* ------------------------------------------------------------------ */
/* Expiry.                                                            */

struct expire {
	time_t		 now;
	json_t		*keys;		/* of expired records */
};

/* A record without a valid exp is kept: it is not ours to judge. */
static int
is_expired(const json_t *val, time_t now)
{
	const json_t	*exp = json_object_get(val, "exp");

	return json_is_integer(exp) && json_integer_value(exp) <= (json_int_t)now;
}

static int
expire_cb(const char *key, json_t *val, void *arg)
{
	struct expire	*e = arg;

	if (!is_expired(val, e->now))
		return 0;
	return json_array_append_new(e->keys, json_string(key)) == -1;
}

/* In the batch's transaction: the value judged is the one deleted. */
static enum store_rc
expire_fn(struct store *s, struct txn *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	if (is_expired(val, *(const time_t *)arg))
		*act = STORE_DELETE;
	return STORE_OK;
}

/* Delete the records of kind whose "exp" is at or before now (SK_OTP,
 * SK_ACCESS: readers skip them already, nothing else removes them). */
enum store_rc
store_expire(struct store *s, struct txn *txn, enum store_kind kind, time_t now,
    int *count)
{
	struct expire	 e = { now, NULL };
	struct store_sweep sw = { kind, NULL, expire_fn, &now, NULL, 0, 0 };
	enum store_rc	 rc;
	size_t		 i;

	*count = 0;
	if (txn == NULL) {
		rc = store_sweep(s, &sw);
		*count = (int)sw.deleted;
		return rc;
	}
	if ((e.keys = json_array()) == NULL)
		return STORE_ERR;
	rc = store_each(s, txn, kind, expire_cb, &e);
	for (i = 0; rc == STORE_OK && i < json_array_size(e.keys); i++)
		rc = store_del(s, txn, kind,
		    json_string_value(json_array_get(e.keys, i)));
	if (rc == STORE_OK)
		*count = (int)json_array_size(e.keys);
	json_decref(e.keys);
	return rc;
}
