/*
 * store_jti.c: the replay tables over any backend: client assertions'
 * jti (SK_JTI, RFC 7523 3: a jti used once) and DPoP proofs' jti
 * (SK_DPOP, RFC 9449 11.1), each record kept until its exp and the
 * expired ones pruned a few at a time by the writes.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "extern.h"
#include "store_int.h"

#define JTI_PURGE_MAX	8		/* expired jti records looked at per use */

/* A purge: the records after the one written, the expired ones' keys. */
struct purge {
	const char	*from;		/* the record just written */
	time_t		 now;
	long		 seen;
	json_t		*keys;
};

static int
purge_cb(const char *key, json_t *val, void *arg)
{
	struct purge	*p = arg;

	p->seen++;
	if (strcmp(key, p->from) == 0 ||
	    json_integer_value(json_object_get(val, "exp")) > p->now)
		return 0;
	return json_array_append_new(p->keys, json_string(key)) == -1;
}

/*
 * Delete expired records following the one just written (wrapping to
 * the start), at most JTI_PURGE_MAX looked at: the table stays small
 * without a sweeper process.  Returns a store_rc; a deadlock must abort.
 */
static enum store_rc
jti_purge(struct store *s, struct txn *txn, enum store_kind kind,
    const char *from, time_t now)
{
	struct purge	 p = { from, now, 0, json_array() };
	enum store_rc	 rc;
	size_t		 i;

	if (p.keys == NULL)
		return STORE_ERR;
	rc = store_range(s, txn, kind, from, STORE_RANGE_AFTER, JTI_PURGE_MAX,
	    purge_cb, &p);
	if (rc == STORE_OK && p.seen < JTI_PURGE_MAX)
		rc = store_range(s, txn, kind, NULL, 0, JTI_PURGE_MAX - p.seen,
		    purge_cb, &p);
	for (i = 0; rc == STORE_OK && i < json_array_size(p.keys); i++)
		rc = store_del_txn(s, txn, kind,
		    json_string_value(json_array_get(p.keys, i)));
	json_decref(p.keys);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static enum store_rc
jti_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;
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
	if (rc == STORE_OK)
		rc = jti_purge(s, txn, o->kind, o->key, o->now);
	return rc;
}

/* The key "<a>\x1f<b>" into key (STORE_KEY_MAX + 1).  -1 (logged) when
 * too long. */
static int
jti_key(char *key, const char *a, const char *b, const char *what)
{
	int	 n;

	n = snprintf(key, STORE_KEY_MAX + 1, "%s\x1f%s", a, b);
	if (n < 0 || (size_t)n > STORE_KEY_MAX) {
		lk_err("%s too long", what);
		return -1;
	}
	return 0;
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

	if (jti_key(key, client_id, jti, "client_id and jti") == -1)
		return STORE_ERR;
	return store_txn_run(s, jti_fn, &o);
}

/*
 * DPoP proofs (RFC 9449 11.1) as client assertions above, in SK_DPOP,
 * with one difference: the commit does not wait for the disk
 * (STORE_TXN_NOSYNC: Berkeley DB's DB_TXN_WRITE_NOSYNC, written to the
 * log and flushed by the next synced commit or checkpoint; PostgreSQL's
 * synchronous_commit off for the transaction).  A responder that dies
 * loses nothing, the operating system (or the database server) has the
 * write; only a host crash can lose the last records, and a proof is
 * accepted for DPOP_IAT_PAST seconds at most, so the exposure is a
 * replay within a minute of a machine restart, which RFC 9449 11.1's
 * nonces bound further.  A proof is the hot path of every DPoP
 * request; an fsync each would cost more than the signature check.
 */
enum store_rc
store_dpop_use(struct store *s, const char *jkt, const char *jti,
    time_t exp, time_t now)
{
	char		 key[STORE_KEY_MAX + 1];
	struct op	 o = { .kind = SK_DPOP, .key = key, .exp = exp,
			    .now = now };

	if (jti_key(key, jkt, jti, "jkt and jti") == -1)
		return STORE_ERR;
	return store_txn_flags(s, jti_fn, &o, STORE_TXN_NOSYNC);
}
