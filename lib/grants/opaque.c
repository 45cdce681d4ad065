/*
 * Opaque access tokens, as the legacy /oauth/ro endpoint issues them
 * (docs/COMPAT.md 1.4: opaque, valid only at /userinfo).  The token is
 * 256 random bits; only its hash_secret() digest is stored, as the
 * SK_ACCESS key, with {"user_id", "client_id", "scope", "exp"}, read
 * through the table below into struct opaque_rec.
 */
#include <stddef.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define OPAQUE_BYTES	32

/* The members of an SK_ACCESS record and where each lands. */
static const struct {
	const char	*name;
	int		 is_int;	/* else a string */
	size_t		 off;
} members[] = {
	{ "user_id", 0, offsetof(struct opaque_rec, user_id) },
	{ "client_id", 0, offsetof(struct opaque_rec, client_id) },
	{ "scope", 0, offsetof(struct opaque_rec, scope) },
	{ "exp", 1, offsetof(struct opaque_rec, exp) },
};

/* Parse json (a reference is taken) into *o: absent or mistyped members
 * are NULL or 0. */
static void
opaque_parse(json_t *json, struct opaque_rec *o)
{
	const json_t	*v;
	char		*m;
	size_t		 i;

	memset(o, 0, sizeof(*o));
	o->json = json_incref(json);
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		v = json_object_get(json, members[i].name);
		m = (char *)o + members[i].off;
		if (members[i].is_int)
			*(long long *)(void *)m = json_integer_value(v);
		else
			*(const char **)(void *)m = json_string_value(v);
	}
}

void
opaque_clear(struct opaque_rec *o)
{

	json_decref(o->json);
	memset(o, 0, sizeof(*o));
}

int
opaque_issue(struct lk_ctx *ctx, const char *user_id, const char *client_id,
    const char *scope, time_t now, long lifetime, char *out, size_t outsz)
{
	char		 digest[72];
	json_t		*rec;
	enum store_rc	 rc;

	if (rand_b64url(out, outsz, OPAQUE_BYTES) == -1 ||
	    hash_secret(out, strlen(out), digest) == -1)
		return -1;
	rec = json_pack("{s:s, s:s, s:s, s:I}", "user_id", user_id,
	    "client_id", client_id, "scope", scope ? scope : "",
	    "exp", (json_int_t)now + lifetime);
	if (rec == NULL)
		return -1;
	rc = store_put(ctx->store, NULL, SK_ACCESS, digest, rec, STORE_NOOVERWRITE);
	json_decref(rec);
	if (rc != STORE_OK) {
		OPENSSL_cleanse(out, outsz);
		return -1;
	}
	return 0;
}

enum store_rc
opaque_get(struct store *st, struct txn *txn, const char *token,
    struct opaque_rec *o)
{
	char		 digest[72];
	json_t		*rec = NULL;
	enum store_rc	 rc;

	memset(o, 0, sizeof(*o));
	if (hash_secret(token, strlen(token), digest) == -1)
		return STORE_ERR;
	if ((rc = store_get(st, txn, SK_ACCESS, digest, &rec)) != STORE_OK)
		return rc;
	opaque_parse(rec, o);
	json_decref(rec);
	return STORE_OK;
}

enum store_rc
opaque_del(struct store *st, struct txn *txn, const char *token)
{
	char		 digest[72];

	if (hash_secret(token, strlen(token), digest) == -1)
		return STORE_ERR;
	return store_del(st, txn, SK_ACCESS, digest);
}

enum store_rc
opaque_lookup(struct lk_ctx *ctx, const char *token, time_t now,
    struct opaque_rec *o)
{
	enum store_rc	 rc;

	if ((rc = opaque_get(ctx->store, NULL, token, o)) != STORE_OK)
		return rc;
	if (o->exp > (long long)now)
		return STORE_OK;
	/* Expired: forget it. */
	opaque_clear(o);
	opaque_del(ctx->store, NULL, token);
	return STORE_NOTFOUND;
}
