/*
 * Opaque access tokens, as the legacy /oauth/ro endpoint issues them
 * (AUTH0-BEHAVIOUR.md 1 "Success response": opaque, valid only at
 * /userinfo).  The token is 256 random bits; only its hash_secret() digest
 * is stored, as the SK_ACCESS key, with
 *	{"user_id", "client_id", "scope", "exp"}.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define OPAQUE_BYTES	32

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
opaque_lookup(struct lk_ctx *ctx, const char *token, time_t now, json_t **rec)
{
	char		 digest[72];
	enum store_rc	 rc;

	*rec = NULL;
	if (hash_secret(token, strlen(token), digest) == -1)
		return STORE_ERR;
	if ((rc = store_get(ctx->store, NULL, SK_ACCESS, digest, rec)) != STORE_OK)
		return rc;
	if (json_integer_value(json_object_get(*rec, "exp")) > (json_int_t)now)
		return STORE_OK;
	/* Expired: forget it. */
	json_decref(*rec);
	*rec = NULL;
	store_del(ctx->store, NULL, SK_ACCESS, digest);
	return STORE_NOTFOUND;
}
