/*
 * Signing key rotation (SPEC.md "Tokens": rotation publishes the next key
 * before it signs, and keeps the old one until its tokens expire).
 *
 * A key's life: "next" (in the JWKS, signs nothing) -> "current" (signs;
 * ctx_signing_key() picks it) -> "previous" (in the JWKS with retired_at,
 * signs nothing) -> removed once retired_at plus the longest lifetime of
 * any token latchkey signs has passed.  Verifiers that cache the JWKS for
 * its max-age (jwks.c: 300 s) therefore know a key before they meet a
 * token it signed, and can verify every token until it expires.
 * Each function runs inside the caller's transaction (latchkeyctl).
 */
#include <string.h>

#include "extern.h"

/* grant.c's defaults: access tokens 86400 s, ID tokens 36000 s. */
#define ACCESS_LIFETIME_DEFAULT	86400
#define ID_LIFETIME_DEFAULT	36000

static int
collect(const char *key, json_t *rec, void *arg)
{

	json_array_append(arg, rec);
	return 0;
}

/* Every record of kind k into *out (an array, owned). */
static enum store_rc
all(struct store *st, DB_TXN *txn, enum store_kind k, json_t **out)
{
	enum store_rc	 rc;

	if ((*out = json_array()) == NULL)
		return STORE_ERR;
	if ((rc = store_each(st, txn, k, collect, *out)) != STORE_OK) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

static int
status_is(const json_t *rec, const char *status)
{
	const char	*s = json_string_value(json_object_get(rec, "status"));

	return s != NULL && strcmp(s, status) == 0;
}

/* The newest key of the status in keys (borrowed), or NULL. */
static json_t *
newest(const json_t *keys, const char *status)
{
	json_t		*k, *best = NULL;
	size_t		 i;

	json_array_foreach(keys, i, k)
		if (status_is(k, status) && (best == NULL ||
		    json_integer_value(json_object_get(k, "created_at")) >
		    json_integer_value(json_object_get(best, "created_at"))))
			best = k;
	return best;
}

static enum store_rc
key_put(struct store *st, DB_TXN *txn, const json_t *rec, int flags)
{

	return store_put(st, txn, SK_KEY,
	    json_string_value(json_object_get(rec, "kid")), rec, flags);
}

enum store_rc
keyrot_add_next(struct store *st, DB_TXN *txn, enum key_alg alg, time_t now,
    json_t **rec)
{
	json_t		*keys = NULL;
	enum store_rc	 rc;

	*rec = NULL;
	if ((rc = all(st, txn, SK_KEY, &keys)) != STORE_OK)
		return rc;
	/* One key waits at a time: rotation would leave the other behind. */
	if (newest(keys, "next") != NULL)
		rc = STORE_EXISTS;
	else if ((*rec = key_generate(alg, "next", now)) == NULL)
		rc = STORE_ERR;
	else
		rc = key_put(st, txn, *rec, STORE_NOOVERWRITE);
	json_decref(keys);
	if (rc != STORE_OK) {
		json_decref(*rec);
		*rec = NULL;
	}
	return rc;
}

enum store_rc
keyrot_rotate(struct store *st, DB_TXN *txn, enum key_alg alg, time_t now,
    int force, json_t **current)
{
	json_t		*keys = NULL, *next, *made = NULL, *k;
	enum store_rc	 rc;
	size_t		 i;

	*current = NULL;
	if ((rc = all(st, txn, SK_KEY, &keys)) != STORE_OK)
		return rc;
	if ((next = newest(keys, "next")) == NULL && force)
		next = made = key_generate(alg, "next", now);
	if (next == NULL) {
		rc = force ? STORE_ERR : STORE_NOTFOUND;
		goto out;
	}
	/* Verifiers may hold a JWKS fetched just before the key appeared. */
	if (!force && json_integer_value(json_object_get(next, "created_at")) +
	    KEY_PUBLISH_MIN > (json_int_t)now) {
		rc = STORE_EXISTS;
		goto out;
	}
	json_array_foreach(keys, i, k) {
		if (!status_is(k, "current"))
			continue;
		json_object_set_new(k, "status", json_string("previous"));
		json_object_set_new(k, "retired_at", json_integer(now));
		if ((rc = key_put(st, txn, k, 0)) != STORE_OK)
			goto out;
	}
	json_object_set_new(next, "status", json_string("current"));
	json_object_set_new(next, "activated_at", json_integer(now));
	if ((rc = key_put(st, txn, next, 0)) == STORE_OK)
		*current = json_incref(next);
out:
	json_decref(made);
	json_decref(keys);
	return rc;
}

/* The largest positive integer member name of the records, or def. */
static long
largest(const json_t *recs, const char *name, long def)
{
	const json_t	*r, *v;
	size_t		 i;
	long		 max = def;

	json_array_foreach(recs, i, r)
		if (json_is_integer(v = json_object_get(r, name)) &&
		    json_integer_value(v) > max)
			max = (long)json_integer_value(v);
	return max;
}

enum store_rc
keyrot_max_lifetime(struct store *st, DB_TXN *txn, long *max)
{
	json_t		*apis = NULL, *clients = NULL;
	enum store_rc	 rc;
	long		 a, c;

	if ((rc = all(st, txn, SK_API, &apis)) == STORE_OK &&
	    (rc = all(st, txn, SK_CLIENT, &clients)) == STORE_OK) {
		a = largest(apis, "token_lifetime", ACCESS_LIFETIME_DEFAULT);
		c = largest(clients, "id_token_lifetime", ID_LIFETIME_DEFAULT);
		*max = a > c ? a : c;
	}
	json_decref(apis);
	json_decref(clients);
	return rc;
}

enum store_rc
keyrot_prune(struct store *st, DB_TXN *txn, time_t now, json_t *removed)
{
	json_t		*keys = NULL, *k;
	const char	*kid;
	enum store_rc	 rc;
	long		 max;
	size_t		 i;

	if ((rc = keyrot_max_lifetime(st, txn, &max)) != STORE_OK ||
	    (rc = all(st, txn, SK_KEY, &keys)) != STORE_OK)
		return rc;
	json_array_foreach(keys, i, k) {
		if (!status_is(k, "previous") ||
		    json_integer_value(json_object_get(k, "retired_at")) + max >
		    (json_int_t)now)
			continue;
		kid = json_string_value(json_object_get(k, "kid"));
		if ((rc = store_del(st, txn, SK_KEY, kid)) != STORE_OK)
			break;
		json_array_append_new(removed, json_string(kid));
	}
	json_decref(keys);
	return rc;
}
