/*
 * store_ops.c: the store's interface (store.h) over its backends
 * (store_int.h struct store_ops): Berkeley DB (store.c, store_txn.c) or
 * PostgreSQL (store_pg.c), chosen when the store is opened.  The
 * records' operations without a transaction run in one of their own.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "store_int.h"

int
store_env_pg(void)
{
	const char	*db = getenv(LK_DATABASE_ENV);

	return db != NULL && *db != '\0';
}

/*
 * With PostgreSQL the home stays this machine's directory of run/ files
 * (admit.c, courier.c): STORE_CREATE makes it as Berkeley DB's would be.
 */
struct store *
store_open_env(const char *home, int flags)
{
	if (!store_env_pg())
		return store_open(home, flags);
	if ((flags & STORE_CREATE) && mkdir(home, 0700) == -1 &&
	    errno != EEXIST)
		lk_warn("mkdir %s: %s", home, strerror(errno));
	return store_open_pg(getenv(LK_DATABASE_ENV), flags);
}

const char *
store_backend(const struct store *s)
{
	return s->ops->name;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	record_cache_drop();
	s->ops->close(s);
}

enum store_rc
store_txn_run(struct store *s,
    enum store_rc (*fn)(struct store *, struct txn *, void *), void *arg)
{
	return s->ops->txn_run(s, fn, arg, 0);
}

/*
 * Committed without waiting for the disk (docs/security.md,
 * "Durability"): a killed process loses nothing of it, only a machine
 * crash the last moment's; fn calls store_txn_durable() when what it
 * wrote must survive that too.
 */
enum store_rc
store_txn_run_nosync(struct store *s,
    enum store_rc (*fn)(struct store *, struct txn *, void *), void *arg)
{
	return s->ops->txn_run(s, fn, arg, STORE_TXN_NOSYNC);
}

void
store_txn_durable(struct store *s, struct txn *txn)
{
	s->ops->durable(s, txn);
}

enum store_rc
store_txn_flags(struct store *s,
    enum store_rc (*fn)(struct store *, struct txn *, void *), void *arg,
    int flags)
{
	return s->ops->txn_run(s, fn, arg, flags);
}

json_t *
store_text_parse(const char *text, size_t len, enum store_kind kind)
{
	json_t		*v;
	json_error_t	 e;

	v = json_loadb(text, len, JSON_DECODE_ANY, &e);
	if (v == NULL)
		lk_err("%s: unparsable record at byte %d",
		    store_files[kind], e.position);
	return v;
}

/* ------------------------------------------------------------------ */
/* Inside a transaction.                                              */

enum store_rc
store_get_txn(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, json_t **out)
{
	return s->ops->get(s, txn, kind, key, out, 0);
}

/* A configuration record's write changes the generation in its
 * transaction (store_gen.c). */
enum store_rc
store_put_txn(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, const json_t *val, int flags)
{
	enum store_rc	 rc;

	if ((rc = s->ops->put(s, txn, kind, key, val, flags)) != STORE_OK ||
	    !store_gen_watched(kind, key))
		return rc;
	return store_gen_bump(s, txn);
}

enum store_rc
store_del_txn(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key)
{
	enum store_rc	 rc;

	if ((rc = s->ops->del(s, txn, kind, key)) != STORE_OK ||
	    !store_gen_watched(kind, key))
		return rc;
	return store_gen_bump(s, txn);
}

enum store_rc
store_range(struct store *s, struct txn *txn, enum store_kind kind,
    const char *from, int flags, long max,
    int (*cb)(const char *, json_t *, void *), void *arg)
{
	return s->ops->range(s, txn, kind, from, flags, max, cb, arg);
}

/* ------------------------------------------------------------------ */
/* In a transaction of their own.                                     */

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
	return store_range(s, txn, o->kind, NULL, 0, LONG_MAX, collect_cb,
	    o->list);
}

/*
 * A single operation without a transaction: on its own where the
 * backend can (one statement is atomic; auto: STORE_AUTO_READ or
 * STORE_AUTO_WRITE), else, or when that met a deadlock or a
 * serialization failure, in a transaction of its own.  On its own it
 * holds the store as a transaction does (store.c's recovery lock: no
 * system call inside a request, which holds it already).
 */
enum store_rc
store_op_run(struct store *s, enum store_rc (*fn)(struct store *, struct txn *,
    void *), struct op *o, int auto_op)
{
	enum store_rc	 rc;

	if (s->ops->autocommit & auto_op) {
		store_env_share(s);
		rc = fn(s, NULL, o);
		store_env_unshare(s);
		if (rc != STORE_DEADLOCK)
			return rc;
	}
	return store_txn_run(s, fn, o);
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
	return store_op_run(s, get_fn, &o, STORE_AUTO_READ);
}

enum store_rc
store_get_update(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, json_t **out)
{
	*out = NULL;
	return s->ops->get(s, txn, kind, key, out, STORE_FOR_UPDATE);
}

/* A write that changes the generation (store_gen.c) is never on its
 * own: the two go in one transaction. */
static int
auto_write(enum store_kind kind, const char *key)
{
	return store_gen_watched(kind, key) ? 0 : STORE_AUTO_WRITE;
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
	return store_op_run(s, put_fn, &o, auto_write(kind, key));
}

/* STORE_NOTFOUND when there was no such key; nothing is then changed. */
enum store_rc
store_del(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key)
{
	struct op	 o = { .kind = kind, .key = key };

	if (txn != NULL)
		return store_del_txn(s, txn, kind, key);
	return store_op_run(s, del_fn, &o, auto_write(kind, key));
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
		return store_range(s, txn, kind, NULL, 0, LONG_MAX, cb, arg);
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
