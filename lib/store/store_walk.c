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

/* One record of the batch, in its transaction (store_range's cb). */
static enum store_rc
walk_one(struct store *s, struct txn *txn, struct walk *w, const char *key,
    json_t *v)
{
	enum store_act	 act = STORE_KEEP;
	enum store_rc	 rc;

	memcpy(w->plast, key, (w->plastlen = strlen(key)) + 1);
	if (w->sw == NULL)
		return json_array_append_new(w->recs, json_pack("[sO]", key,
		    v)) == 0 ? STORE_OK : STORE_ERR;
	if ((rc = w->sw->fn(s, txn, key, v, w->sw->arg, &act, w->out))
	    != STORE_OK)
		return rc;
	if (act == STORE_STOP)
		w->pend = 1;
	if (act != STORE_DELETE)
		return STORE_OK;
	if ((rc = store_del_txn(s, txn, w->kind, key)) == STORE_OK)
		w->deleted++;
	return rc;
}

/* The batch's transaction and outcome, for walk_cb. */
struct walk_at {
	struct store	*s;
	struct txn	*txn;
	struct walk	*w;
	int		 n;		/* records of the batch so far */
	enum store_rc	 rc;
};

static int
walk_cb(const char *key, json_t *v, void *arg)
{
	struct walk_at	*a = arg;
	struct walk	*w = a->w;

	if (w->plen > 0 && strncmp(key, w->prefix, w->plen) != 0) {
		w->pend = 1;
		return 1;
	}
	a->n++;
	if ((a->rc = walk_one(a->s, a->txn, w, key, v)) != STORE_OK)
		return 1;
	return w->pend;
}

/*
 * A batch: at most w->batch records from where the walk stands, read
 * loosely (store_range STORE_RANGE_LOOSE: Berkeley DB drops a page's
 * read lock when the cursor leaves it, so a batch's locks are its
 * writes, the reads fn made, and one page).
 */
static enum store_rc
walk_batch(struct store *s, struct txn *txn, void *arg)
{
	struct walk_at	 a = { s, txn, arg, 0, STORE_OK };
	struct walk	*w = arg;
	enum store_rc	 rc;

	if (walk_reset(w) == -1)
		return STORE_ERR;
	if (w->started)
		rc = store_range(s, txn, w->kind, w->last, STORE_RANGE_AFTER |
		    STORE_RANGE_LOOSE, w->batch, walk_cb, &a);
	else
		rc = store_range(s, txn, w->kind, w->plen > 0 ? w->prefix :
		    NULL, STORE_RANGE_LOOSE, w->batch, walk_cb, &a);
	if (rc == STORE_OK)
		rc = a.rc;
	if (rc == STORE_OK && a.n < w->batch)
		w->pend = 1;
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

/* store_range's cb: the first key at or after the prefix. */
static int
prefix_cb(const char *key, json_t *v, void *arg)
{
	struct op	*o = arg;

	*o->found = strncmp(key, o->key, strlen(o->key)) == 0;
	return 1;
}

/* One seek: STORE_OK when a key starts with prefix, else STORE_NOTFOUND. */
static enum store_rc
prefix_txn(struct store *s, struct txn *txn, enum store_kind kind,
    const char *prefix)
{
	struct op	 o = { .kind = kind, .key = prefix };
	size_t		 plen = strlen(prefix);
	enum store_rc	 rc;
	int		 found = 0;

	if (plen == 0 || plen > STORE_KEY_MAX)
		return STORE_ERR;
	o.found = &found;
	if ((rc = store_range(s, txn, kind, prefix, 0, 1, prefix_cb, &o))
	    != STORE_OK)
		return rc;
	return found ? STORE_OK : STORE_NOTFOUND;
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
