/*
 * Signing key rotation (docs/COMPAT.md 4: rotation publishes the next key
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

static int
collect(const char *key, json_t *rec, void *arg)
{

	json_array_append(arg, rec);
	return 0;
}

/* Every record of kind k into *out (an array, owned). */
static enum store_rc
all(struct store *st, struct txn *txn, enum store_kind k, json_t **out)
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

/* The key record rec parsed into kr (record_clear it); a record that
 * does not parse has no status: KEYST__MAX. */
static void
key_read(const json_t *rec, struct keyrec *kr)
{

	if (record_parse(REC_KEY, (json_t *)rec, kr) == -1)
		kr->status = KEYST__MAX;
}

static int
status_is(const json_t *rec, enum key_status status)
{
	struct keyrec	 kr;
	int		 is;

	key_read(rec, &kr);
	is = kr.status == status;
	record_clear(REC_KEY, &kr);
	return is;
}

static long long
created_at(const json_t *rec)
{
	struct keyrec	 kr;
	long long	 t;

	key_read(rec, &kr);
	t = kr.created_at;
	record_clear(REC_KEY, &kr);
	return t;
}

/* The newest key of the status in keys (borrowed), or NULL. */
static json_t *
newest(const json_t *keys, enum key_status status)
{
	json_t		*k, *best = NULL;
	size_t		 i;

	json_array_foreach(keys, i, k)
		if (status_is(k, status) && (best == NULL ||
		    created_at(k) > created_at(best)))
			best = k;
	return best;
}

/* Write the record under its kid. */
static enum store_rc
key_put(struct store *st, struct txn *txn, json_t *rec, int flags)
{
	struct keyrec	 kr;
	enum store_rc	 rc = STORE_ERR;

	key_read(rec, &kr);
	if (kr.kid != NULL)
		rc = store_put(st, txn, SK_KEY, kr.kid, rec, flags);
	record_clear(REC_KEY, &kr);
	return rc;
}

/* Set rec's status (and when it changed, as member name). */
static void
status_set(json_t *rec, enum key_status status, const char *when,
    time_t now)
{

	json_object_set_new(rec, "status",
	    json_string(vocab_name(&key_status_vocab, status)));
	json_object_set_new(rec, when, json_integer(now));
}

enum store_rc
keyrot_add_next(struct store *st, struct txn *txn, enum key_alg alg, time_t now,
    json_t **rec)
{
	json_t		*keys = NULL;
	enum store_rc	 rc;

	*rec = NULL;
	if ((rc = all(st, txn, SK_KEY, &keys)) != STORE_OK)
		return rc;
	/* One key waits at a time: rotation would leave the other behind. */
	if (newest(keys, KEYST_NEXT) != NULL)
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
keyrot_rotate(struct store *st, struct txn *txn, enum key_alg alg, time_t now,
    int force, json_t **current)
{
	json_t		*keys = NULL, *next, *made = NULL, *k;
	enum store_rc	 rc;
	size_t		 i;

	*current = NULL;
	if ((rc = all(st, txn, SK_KEY, &keys)) != STORE_OK)
		return rc;
	if ((next = newest(keys, KEYST_NEXT)) == NULL && force)
		next = made = key_generate(alg, "next", now);
	if (next == NULL) {
		rc = force ? STORE_ERR : STORE_NOTFOUND;
		goto out;
	}
	/* Verifiers may hold a JWKS fetched just before the key appeared. */
	if (!force && created_at(next) + KEY_PUBLISH_MIN > (long long)now) {
		rc = STORE_EXISTS;
		goto out;
	}
	json_array_foreach(keys, i, k) {
		if (!status_is(k, KEYST_CURRENT))
			continue;
		status_set(k, KEYST_PREVIOUS, "retired_at", now);
		if ((rc = key_put(st, txn, k, 0)) != STORE_OK)
			goto out;
	}
	status_set(next, KEYST_CURRENT, "activated_at", now);
	if ((rc = key_put(st, txn, next, 0)) == STORE_OK)
		*current = json_incref(next);
out:
	json_decref(made);
	json_decref(keys);
	return rc;
}

/* The longest token lifetime the records of kind k give (the API's
 * access tokens, the client's ID tokens), at least max. */
static long
largest(const json_t *recs, enum rec_kind k, long max)
{
	struct api	 api;
	struct client_rec cr;
	const json_t	*r;
	long long	 v;
	size_t		 i;

	json_array_foreach(recs, i, r) {
		if (k == REC_API && record_parse(k, (json_t *)r, &api) == 0) {
			v = api.token_lifetime;
			record_clear(k, &api);
		} else if (k == REC_CLIENT &&
		    record_parse(k, (json_t *)r, &cr) == 0) {
			v = cr.id_token_lifetime;
			record_clear(k, &cr);
		} else
			continue;
		if (v > max)
			max = (long)v;
	}
	return max;
}

enum store_rc
keyrot_max_lifetime(struct store *st, struct txn *txn, long *max)
{
	json_t		*apis = NULL, *clients = NULL;
	enum store_rc	 rc;
	long		 a, c;

	/* With no API or client, the tables' defaults: access tokens
	 * 86400 s, ID tokens 36000 s. */
	if ((rc = all(st, txn, SK_API, &apis)) == STORE_OK &&
	    (rc = all(st, txn, SK_CLIENT, &clients)) == STORE_OK) {
		a = largest(apis, REC_API,
		    (long)record_field(REC_API, "token_lifetime")->def);
		c = largest(clients, REC_CLIENT,
		    (long)record_field(REC_CLIENT, "id_token_lifetime")->def);
		*max = a > c ? a : c;
	}
	json_decref(apis);
	json_decref(clients);
	return rc;
}

enum store_rc
keyrot_prune(struct store *st, struct txn *txn, time_t now, json_t *removed)
{
	json_t		*keys = NULL, *k;
	struct keyrec	 kr;
	enum store_rc	 rc;
	long		 max;
	size_t		 i;

	if ((rc = keyrot_max_lifetime(st, txn, &max)) != STORE_OK ||
	    (rc = all(st, txn, SK_KEY, &keys)) != STORE_OK)
		return rc;
	json_array_foreach(keys, i, k) {
		key_read(k, &kr);
		if (kr.status == KEYST_PREVIOUS && kr.kid != NULL &&
		    kr.retired_at + max <= (long long)now) {
			if ((rc = store_del(st, txn, SK_KEY, kr.kid)) ==
			    STORE_OK)
				json_array_append_new(removed,
				    json_string(kr.kid));
		}
		record_clear(REC_KEY, &kr);
		if (rc != STORE_OK)
			break;
	}
	json_decref(keys);
	return rc;
}
