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

/*
 * The client authentication methods (enum client_auth) in the order
 * discovery lists them, for token_endpoint_auth_methods_supported and
 * revocation_endpoint_auth_methods_supported (docs/COMPAT.md 3.3, 5.6).
 */
static const int auth_order[] = {
	CLIENT_AUTH_SECRET_BASIC, CLIENT_AUTH_SECRET_POST,
	CLIENT_AUTH_PRIVATE_KEY_JWT, CLIENT_AUTH_NONE,
};
#define AUTH_ORDER_N	(sizeof(auth_order) / sizeof(auth_order[0]))

/* What may sign a private_key_jwt client assertion (enum key_alg;
 * docs/COMPAT.md 3.3). */
static const int assertion_algs[] = { KEY_RS256, KEY_ES256 };
#define ASSERTION_ALGS_N (sizeof(assertion_algs) / sizeof(assertion_algs[0]))

/* The names of the n values vals of vocabulary v (vals NULL: all of v's
 * values, in order), as a new array; NULL on ENOMEM. */
static json_t *
vocab_array(const struct vocab *v, const int *vals, size_t n)
{
	json_t	*a = json_array();
	size_t	 i;

	if (vals == NULL)
		n = v->n;
	for (i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_string(vocab_name(v,
		    vals != NULL ? (size_t)vals[i] : i))) == -1) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

/* The grant types discovery lists: granttype.c's, those GT_DISCOVERY. */
static json_t *
grant_types(void)
{
	int	 v[GT__MAX];
	size_t	 i, n = 0;

	for (i = 0; i < GT__MAX; i++)
		if (grant_type_def((enum grant_type)i)->where & GT_DISCOVERY)
			v[n++] = (int)i;
	return vocab_array(&grant_type_vocab, v, n);
}

/* The ID token algorithms: the tenant key's (RS256 without one), and
 * HS256 for clients with a secret (docs/COMPAT.md 4.2). */
static json_t *
id_token_algs(struct lk_ctx *ctx)
{
	struct keyrec	 k;
	json_t		*key;
	int		 v[2] = { KEY_RS256, KEY_HS256 };

	if ((key = ctx_signing_key(ctx)) != NULL &&
	    record_parse(REC_KEY, key, &k) == 0) {
		v[0] = (int)k.alg;
		record_clear(REC_KEY, &k);
	}
	json_decref(key);
	return vocab_array(&key_alg_vocab, v, 2);
}

/* Strings of a NULL-terminated list, as a new array; NULL on ENOMEM. */
static json_t *
list_array(const char *const *list)
{
	json_t	*a = json_array();

	for (; a != NULL && *list != NULL; list++)
		if (json_array_append_new(a, json_string(*list)) == -1) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

/*
 * The discovery document: each member from the vocabulary that owns it,
 * in the order latchkey has always written them (docs/COMPAT.md 4.4).  No
 * authorization_endpoint and no response type (docs/COMPAT.md 9.8).
 */
static json_t *
discovery(struct lk_ctx *ctx, const char *iss)
{
	json_t	*doc;
	int	 bad;

	if ((doc = json_object()) == NULL)
		return NULL;
	bad = json_object_set_new(doc, "issuer", json_string(iss)) |
	    json_object_set_new(doc, "token_endpoint",
	    json_sprintf("%soauth/token", iss)) |
	    json_object_set_new(doc, "jwks_uri",
	    json_sprintf("%s.well-known/jwks.json", iss)) |
	    json_object_set_new(doc, "response_types_supported", json_array()) |
	    json_object_set_new(doc, "subject_types_supported",
	    json_pack("[s]", "public")) |
	    json_object_set_new(doc, "id_token_signing_alg_values_supported",
	    id_token_algs(ctx)) |
	    json_object_set_new(doc, "grant_types_supported", grant_types()) |
	    json_object_set_new(doc, "token_endpoint_auth_methods_supported",
	    vocab_array(&client_auth_vocab, auth_order, AUTH_ORDER_N)) |
	    json_object_set_new(doc, "claims_supported",
	    list_array(scope_claims_supported())) |
	    json_object_set_new(doc,
	    "token_endpoint_auth_signing_alg_values_supported",
	    vocab_array(&key_alg_vocab, assertion_algs, ASSERTION_ALGS_N)) |
	    json_object_set_new(doc, "scopes_supported",
	    vocab_array(&oidc_scope_vocab, NULL, 0)) |
	    json_object_set_new(doc, "userinfo_endpoint",
	    json_sprintf("%suserinfo", iss)) |
	    json_object_set_new(doc, "revocation_endpoint",
	    json_sprintf("%soauth/revoke", iss)) |
	    /* Auth0's discovery names it (docs/COMPAT.md 13.3). */
	    json_object_set_new(doc, "mfa_challenge_endpoint",
	    json_sprintf("%smfa/challenge", iss)) |
	    json_object_set_new(doc,
	    "revocation_endpoint_auth_methods_supported",
	    vocab_array(&client_auth_vocab, auth_order, AUTH_ORDER_N)) |
	    /* RFC 9449 5.1 (docs/COMPAT.md 10.1). */
	    json_object_set_new(doc, "dpop_signing_alg_values_supported",
	    vocab_array(&dpop_alg_vocab, NULL, 0));
	if (bad) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

void
wellknown_openid(struct lk_ctx *ctx, const struct lk_req *req, struct lk_resp *resp)
{
	struct tenant	 tenant;
	json_t		*doc = NULL;
	const char	*iss;

	if (ctx_tenant(ctx, &tenant) == -1 || (iss = tenant.issuer) == NULL) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	if ((doc = discovery(ctx, iss)) == NULL) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	resp_header(resp, "Cache-Control", "public, max-age=300");
	resp_json(resp, 200, doc);
out:
	json_decref(doc);
	record_clear(REC_TENANT, &tenant);
}
