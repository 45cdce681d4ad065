/*
 * Token issuance for /oauth/token (docs/COMPAT.md 3.5, 4.1, 4.2): the
 * scope under the login rules, the access token, the ID token, a refresh
 * token for offline_access, and the 200 body.  The grants call it last.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define ACCESS_LIFETIME_DEFAULT	86400	/* an identity-only token (docs/COMPAT.md 4.1) */

json_t *
grant_key(struct grant_req *g)
{
	if (g->key == NULL)
		g->key = ctx_signing_key(g->ctx);
	return g->key;
}

/* The ID token (OpenID Connect Core 2), signed as the client chose. */
static char *
id_token_make(struct grant_req *g, const json_t *key, const char *issuer,
    const struct user *user, const struct scope_result *sr)
{
	json_t		*claims;
	char		*out = NULL;
	json_int_t	 life;
	int		 rc;

	life = g->client.rec.id_token_lifetime;
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I}",
	    "iss", issuer, "sub", user->user_id,
	    "aud", g->client.client_id,
	    "iat", (json_int_t)g->req->now, "exp", (json_int_t)g->req->now + life);
	if (claims == NULL)
		return NULL;
	scope_claims(claims, user, sr);
	/* HS256 is keyed with the raw secret the client just proved; a
	 * client without a secret always gets RS256 (Auth0 does the same,
	 * docs/COMPAT.md 4.2). */
	if (g->client.rec.id_token_alg == KEY_HS256 && g->client.secret != NULL)
		rc = token_sign_hs256(g->client.secret, g->client.secretsz,
		    claims, &out);
	else
		rc = token_sign(key, claims, &out);
	json_decref(claims);
	return rc == 0 ? out : NULL;
}

/*
 * A new refresh token family for an offline_access grant into g->refresh
 * (scope_resolve() granted offline_access only when the API allows it and
 * the client holds the refresh_token grant; docs/COMPAT.md 5.1).
 */
static int
refresh_start(struct grant_req *g, const struct user *user,
    const char *api_id, const struct scope_result *sr)
{
	struct refresh_new	 rn;

	memset(&rn, 0, sizeof(rn));
	rn.user_id = user->user_id;
	rn.client_id = g->client.client_id;
	rn.audience = api_id;
	rn.scope = sr->granted.p != NULL ? sr->granted.p : "";
	/* RFC 9449 5: a public client's refresh token is bound to its DPoP
	 * key; a confidential client's is bound by client authentication. */
	if (g->jkt[0] != '\0' && g->client.rec.auth_method == CLIENT_AUTH_NONE)
		rn.jkt = g->jkt;
	return refresh_issue(g->ctx, &g->tenant, &g->client.rec, NULL, &rn,
	    g->req->now, g->refresh, sizeof(g->refresh));
}

void
grant_issue_login(struct grant_req *g, const struct user *user,
    const struct api *api)
{
	struct scope_result	 sr;

	/* offline_access (a refresh token) needs the refresh_token grant
	 * too (docs/COMPAT.md 3.4). */
	if (scope_resolve(g->p.v[F_SCOPE], api != NULL && api->json != NULL ?
	    api : NULL, client_grant_allowed(&g->client.rec, GT_REFRESH),
	    &sr) == -1) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return;
	}
	grant_issue(g, user, api, &sr);
	scope_result_clear(&sr);
}

/* The 200 body (RFC 6749 5.1); NULL on ENOMEM. */
static json_t *
token_body(const char *at, const char *token_type, long long expires_in,
    const char *idt, const char *rt, const char *scope)
{
	json_t	*body;

	body = json_pack("{s:s, s:s, s:I}", "access_token", at,
	    "token_type", token_type, "expires_in", (json_int_t)expires_in);
	if (body == NULL)
		return NULL;
	if (idt != NULL)
		json_object_set_new(body, "id_token", json_string(idt));
	if (rt != NULL)
		json_object_set_new(body, "refresh_token", json_string(rt));
	if (scope != NULL)
		json_object_set_new(body, "scope", json_string(scope));
	return body;
}

/* Write body as the 200 token response (no-store).  0 or -1. */
static int
token_write(struct lk_resp *resp, json_t *body)
{
	int	 rc;

	if (body == NULL)
		return -1;
	resp_nostore(resp);
	rc = resp_json(resp, 200, body);
	json_decref(body);
	return rc;
}

int
grant_respond(struct lk_resp *resp, const char *at, const char *token_type,
    long long expires_in, const char *idt, const char *rt, const char *scope)
{

	return token_write(resp, token_body(at, token_type, expires_in, idt,
	    rt, scope));
}

/* The access token's claims (docs/COMPAT.md 4.1): aud is the API, plus
 * <iss>userinfo when openid; only <iss>userinfo without an API. */
static json_t *
access_claims(struct grant_req *g, const char *issuer, const char *sub,
    const char *api_id, json_int_t life, const struct scope_result *sr)
{
	json_t	*aud, *claims;
	char	 userinfo[600];

	snprintf(userinfo, sizeof(userinfo), "%suserinfo", issuer);
	if (api_id == NULL)
		aud = json_string(userinfo);
	else if (sr->openid)
		aud = json_pack("[s,s]", api_id, userinfo);
	else
		aud = json_string(api_id);
	claims = json_pack("{s:s, s:s, s:o, s:I, s:I, s:s, s:s, s:s}",
	    "iss", issuer, "sub", sub, "aud", aud,
	    "iat", (json_int_t)g->req->now, "exp", (json_int_t)g->req->now + life,
	    "azp", g->client.client_id,
	    "scope", sr->granted.p ? sr->granted.p : "", "gty", g->gty);
	/* RFC 9449 6.1: the key the token is bound to. */
	if (claims != NULL && g->jkt[0] != '\0' &&
	    json_object_set_new(claims, "cnf", json_pack("{s:s}", "jkt",
	    g->jkt)) == -1) {
		json_decref(claims);
		claims = NULL;
	}
	return claims;
}

int
grant_issue(struct grant_req *g, const struct user *user,
    const struct api *api, const struct scope_result *sr)
{
	json_t		*key, *claims = NULL, *body;
	const char	*issuer = g->tenant.issuer, *api_id = NULL;
	char		*at = NULL, *idt = NULL;
	json_int_t	 life = ACCESS_LIFETIME_DEFAULT;
	int		 rc = -1;

	if (grant_dpop_api_refused(g, api))
		return -1;
	if (issuer == NULL || (key = grant_key(g)) == NULL)
		goto fail;
	if (api != NULL && api->json != NULL) {
		api_id = api->identifier;
		life = api->token_lifetime;
	}
	claims = access_claims(g, issuer, user->user_id, api_id, life, sr);
	if (claims == NULL || token_sign(key, claims, &at) == -1)
		goto fail;
	if (sr->openid && (idt = id_token_make(g, key, issuer, user, sr)) == NULL)
		goto fail;
	if (sr->offline_access && !g->refreshing &&
	    refresh_start(g, user, api_id, sr) == -1)
		goto fail;
	/* RFC 9449 5: token_type DPoP for a bound token. */
	body = token_body(at, g->jkt[0] != '\0' ? "DPoP" : "Bearer", life,
	    idt, g->refresh[0] != '\0' ? g->refresh : NULL,
	    sr->differs ? (sr->granted.p ? sr->granted.p : "") : NULL);
	/* mfa-recovery-code: the code that replaces the one just used
	 * (docs/COMPAT.md 13.4). */
	if (body != NULL && g->recovery[0] != '\0')
		json_object_set_new(body, "recovery_code",
		    json_string(g->recovery));
	if (token_write(g->resp, body) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	lk_err("cannot issue tokens");
	oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
out:
	free(at);
	free(idt);
	json_decref(claims);
	return rc;
}
