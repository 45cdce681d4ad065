/*
 * The published documents: the JWKS (RFC 7517) with every signing key that
 * may have signed a live token, and OpenID Connect Discovery 1.0 /
 * RFC 8414 metadata advertising only what latchkey really serves.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

static int
key_collect(const char *kid, json_t *rec, void *arg)
{
	json_array_append(arg, rec);
	return 0;
}

void
wellknown_jwks(struct lk_ctx *ctx, const struct lk_req *req, struct lk_resp *resp)
{
	json_t	*recs, *jwks = NULL;

	if ((recs = json_array()) == NULL ||
	    store_each(ctx->store, NULL, SK_KEY, key_collect, recs) != STORE_OK ||
	    (jwks = key_jwks(recs)) == NULL) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	/* Short caching: rotation publishes a key well before it signs. */
	resp_header(resp, "Cache-Control", "public, max-age=300");
	resp_json(resp, 200, jwks);
out:
	json_decref(jwks);
	json_decref(recs);
}

void
wellknown_openid(struct lk_ctx *ctx, const struct lk_req *req, struct lk_resp *resp)
{
	struct tenant	 tenant;
	json_t		*doc = NULL, *key;
	const char	*iss;
	char		 token[600], jwks[600];

	if (ctx_tenant(ctx, &tenant) == -1 || (iss = tenant.issuer) == NULL) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	snprintf(token, sizeof(token), "%soauth/token", iss);
	snprintf(jwks, sizeof(jwks), "%s.well-known/jwks.json", iss);
	key = ctx_signing_key(ctx);
	doc = json_pack("{s:s, s:s, s:s, s:[], s:[s], s:[s,s], s:[s,s], "
	    "s:[s,s,s,s], s:[s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s], s:[s,s], "
	    "s:[s,s,s,s,s]}",
	    "issuer", iss,
	    "token_endpoint", token,
	    "jwks_uri", jwks,
	    "response_types_supported",
	    "subject_types_supported", "public",
	    "id_token_signing_alg_values_supported",
	    key != NULL ? json_string_value(json_object_get(key, "alg")) : "RS256",
	    "HS256",
	    "grant_types_supported", "password",
	    "http://auth0.com/oauth/grant-type/password-realm",
	    "token_endpoint_auth_methods_supported", "client_secret_basic",
	    "client_secret_post", "private_key_jwt", "none",
	    /* Only claims latchkey issues: no auth_time (no max_age, no
	     * /authorize, so OIDC Core 2 never requires it). */
	    "claims_supported", "aud", "email", "email_verified",
	    "exp", "family_name", "given_name", "iat", "iss", "locale", "name",
	    "nickname", "phone_number", "phone_verified", "picture",
	    "preferred_username", "sub", "updated_at", "address",
	    "token_endpoint_auth_signing_alg_values_supported", "RS256", "ES256",
	    "scopes_supported", "openid", "profile", "email", "address", "phone");
	json_decref(key);
	if (doc == NULL) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	/* The passwordless code exchange (passwordless.c, grant_otp.c). */
	json_array_append_new(json_object_get(doc, "grant_types_supported"),
	    json_string("http://auth0.com/oauth/grant-type/passwordless/otp"));
	/* Refresh tokens, /userinfo and RFC 7009 revocation (refresh.c,
	 * userinfo.c, revoke.c). */
	json_array_append_new(json_object_get(doc, "grant_types_supported"),
	    json_string("refresh_token"));
	json_array_append_new(json_object_get(doc, "scopes_supported"),
	    json_string("offline_access"));
	json_object_set_new(doc, "userinfo_endpoint",
	    json_sprintf("%suserinfo", iss));
	json_object_set_new(doc, "revocation_endpoint",
	    json_sprintf("%soauth/revoke", iss));
	json_object_set_new(doc, "revocation_endpoint_auth_methods_supported",
	    json_pack("[s,s,s,s]", "client_secret_basic", "client_secret_post",
	    "private_key_jwt", "none"));
	resp_header(resp, "Cache-Control", "public, max-age=300");
	resp_json(resp, 200, doc);
out:
	json_decref(doc);
	record_clear(REC_TENANT, &tenant);
}
