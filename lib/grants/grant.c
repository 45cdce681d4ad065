/*
 * POST /oauth/token: decode the body through the field table, look the
 * grant_type up in the grant table, authenticate the client, check that
 * the client may use the grant, then hand over to the grant.  Token
 * issuance (access token, ID token, response body) is shared by every
 * grant and lives here too.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define GRANT_PASSWORD_REALM_URI "http://auth0.com/oauth/grant-type/password-realm"
#define GRANT_OTP_URI	"http://auth0.com/oauth/grant-type/passwordless/otp"
#define ACCESS_LIFETIME_DEFAULT	86400	/* SPEC.md "Tokens" */
#define ID_LIFETIME_DEFAULT	36000

enum grant {
	GRANT_PASSWORD,
	GRANT_PASSWORD_REALM,
	GRANT_OTP,
	GRANT_REFRESH,
	GRANT__MAX
};

struct grant_def {
	const char	*wire;		/* grant_type value */
	const char	*gty;		/* access token "gty" and log name */
	void		 (*run)(struct grant_req *);
};

static const struct grant_def grants[GRANT__MAX] = {
	[GRANT_PASSWORD] = { "password", "password", grant_password },
	[GRANT_PASSWORD_REALM] = { GRANT_PASSWORD_REALM_URI, "password-realm",
	    grant_password },
	/* AUTH0-BEHAVIOUR.md 3 "Passwordless OTP grant". */
	[GRANT_OTP] = { GRANT_OTP_URI, "passwordless/otp", grant_otp },
	/* AUTH0-BEHAVIOUR.md 5. */
	[GRANT_REFRESH] = { "refresh_token", "refresh_token", grant_refresh },
};

/* Every field any grant at /oauth/token reads. */
#define TOKEN_FIELDS (FIELD_BIT(F_GRANT_TYPE) | FIELD_BIT(F_CLIENT_ID) | \
	FIELD_BIT(F_CLIENT_SECRET) | FIELD_BIT(F_CLIENT_ASSERTION) | \
	FIELD_BIT(F_CLIENT_ASSERTION_TYPE) | FIELD_BIT(F_USERNAME) | \
	FIELD_BIT(F_PASSWORD) | FIELD_BIT(F_AUDIENCE) | FIELD_BIT(F_SCOPE) | \
	FIELD_BIT(F_REALM) | FIELD_BIT(F_OTP) | FIELD_BIT(F_REFRESH_TOKEN))

/* Standard claims released into the ID token by each OIDC scope
 * (OpenID Connect Core 5.4; AUTH0-BEHAVIOUR.md 1 and 4). */
static const char *const profile_claims[] = {
	"name", "family_name", "given_name", "middle_name", "nickname",
	"preferred_username", "profile", "picture", "website", "gender",
	"birthdate", "zoneinfo", "locale", "updated_at", NULL,
};
static const char *const email_claims[] = { "email", "email_verified", NULL };
static const char *const phone_claims[] = { "phone_number", "phone_verified", NULL };
static const char *const address_claims[] = { "address", NULL };

static enum grant
grant_find(const char *s)
{
	size_t	 i;

	for (i = 0; i < GRANT__MAX; i++)
		if (strcmp(grants[i].wire, s) == 0)
			return (enum grant)i;
	return GRANT__MAX;
}

void
token_endpoint(struct lk_ctx *ctx, const struct lk_req *req, struct lk_resp *resp)
{
	struct grant_req	 g;
	enum grant		 gt;

	memset(&g, 0, sizeof(g));
	g.ctx = ctx;
	g.req = req;
	g.resp = resp;
	params_init(&g.p);
	if (decode_body(req, TOKEN_FIELDS, &g.p, resp) == -1)
		goto out;
	if (g.p.v[F_GRANT_TYPE] == NULL) {
		oerr_write(resp, OERR_MISSING_PARAM, "grant_type");
		goto out;
	}
	if ((gt = grant_find(g.p.v[F_GRANT_TYPE])) == GRANT__MAX) {
		log_escape(resp->grant, sizeof(resp->grant), g.p.v[F_GRANT_TYPE]);
		oerr_write(resp, OERR_UNSUPPORTED_GRANT, g.p.v[F_GRANT_TYPE]);
		goto out;
	}
	snprintf(resp->grant, sizeof(resp->grant), "%s", grants[gt].gty);
	g.grant = grants[gt].wire;
	g.gty = grants[gt].gty;
	if (ctx_tenant(ctx, &g.tenant) == -1) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	if (client_authenticate(ctx, &g.tenant, req, &g.p, &g.client, resp) == -1)
		goto out;
	/* grant_type=password with a realm is password-realm (auth0-auth-js
	 * sends it so, grant_password.c): either grant on the client will do. */
	if (!client_grant_allowed(&g.client.rec,
	    grant_type_find(g.grant, GT_CLIENT)) &&
	    !(gt == GRANT_PASSWORD && g.p.v[F_REALM] != NULL &&
	    client_grant_allowed(&g.client.rec, GT_PASSWORD_REALM))) {
		oerr_write(resp, OERR_GRANT_NOT_ALLOWED, g.grant);
		goto out;
	}
	/* The end-user IP and the endpoint's rate limit (guard.c). */
	if (guard_ip(req, &g.client, GUARD_EP_TOKEN, &g.who, resp) == -1 ||
	    guard_endpoint(ctx, &g.tenant, &g.who, req->now, resp) == -1)
		goto out;
	grants[gt].run(&g);
out:
	OPENSSL_cleanse(g.refresh, sizeof(g.refresh));
	client_clear(&g.client);
	params_clear(&g.p);
	json_decref(g.key);
	record_clear(REC_TENANT, &g.tenant);
}

json_t *
grant_key(struct grant_req *g)
{
	if (g->key == NULL)
		g->key = ctx_signing_key(g->ctx);
	return g->key;
}

json_t *
grant_connection(struct grant_req *g, const char *name, enum oerr notfound,
    enum oerr disabled)
{
	json_t	*conn = NULL, *v;
	size_t	 i;

	switch (store_get(g->ctx->store, NULL, SK_CONNECTION, name, &conn)) {
	case STORE_OK:
		break;
	case STORE_NOTFOUND:
		oerr_write(g->resp, notfound, name);
		return NULL;
	default:
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return NULL;
	}
	json_array_foreach(json_object_get(conn, "enabled_clients"), i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), g->client.client_id) == 0)
			return conn;
	json_decref(conn);
	oerr_write(g->resp, disabled, name);
	return NULL;
}

int
grant_audience(struct grant_req *g, json_t **api)
{
	const char	*aud, *issuer;
	char		 userinfo[600];

	*api = NULL;
	aud = g->p.v[F_AUDIENCE];
	if (aud == NULL || *aud == '\0')
		aud = g->tenant.default_audience;
	if (aud == NULL || *aud == '\0')
		return 0;
	/* The issuer's own /userinfo is no API: an identity-only token. */
	issuer = g->tenant.issuer;
	snprintf(userinfo, sizeof(userinfo), "%suserinfo", issuer ? issuer : "");
	if (strcmp(aud, userinfo) == 0)
		return 0;
	switch (store_get(g->ctx->store, NULL, SK_API, aud, api)) {
	case STORE_OK:
		return 0;
	case STORE_NOTFOUND:
		oerr_write(g->resp, OERR_SERVICE_NOT_FOUND, aud);
		return -1;
	default:
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return -1;
	}
}

/* Copy the user's claims named in list into claims. */
static void
copy_claims(json_t *claims, const json_t *user, const char *const *list)
{
	json_t	*v;

	for (; *list != NULL; list++)
		if ((v = json_object_get(user, *list)) != NULL && !json_is_null(v))
			json_object_set(claims, *list, v);
}

/* Positive integer member of o, or def. */
static json_int_t
int_member(const json_t *o, const char *name, json_int_t def)
{
	json_t	*v = json_object_get(o, name);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    json_integer_value(v) : def;
}

void
grant_scope_claims(json_t *claims, const json_t *user,
    const struct scope_result *sr)
{
	if (sr->profile)
		copy_claims(claims, user, profile_claims);
	if (sr->email)
		copy_claims(claims, user, email_claims);
	if (sr->phone)
		copy_claims(claims, user, phone_claims);
	if (sr->address)
		copy_claims(claims, user, address_claims);
}

/* The ID token (OpenID Connect Core 2), signed as the client chose. */
static char *
id_token_make(struct grant_req *g, const json_t *key, const char *issuer,
    const json_t *user, const struct scope_result *sr)
{
	json_t		*claims;
	char		*out = NULL;
	json_int_t	 life;
	int		 rc;

	life = g->client.rec.id_token_lifetime;
	claims = json_pack("{s:s, s:O, s:s, s:I, s:I}",
	    "iss", issuer, "sub", json_object_get(user, "user_id"),
	    "aud", g->client.client_id,
	    "iat", (json_int_t)g->req->now, "exp", (json_int_t)g->req->now + life);
	if (claims == NULL)
		return NULL;
	grant_scope_claims(claims, user, sr);
	/* HS256 is keyed with the raw secret the client just proved; a
	 * client without a secret always gets RS256 (Auth0 does the same). */
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
 * the client holds the refresh_token grant; AUTH0-BEHAVIOUR.md 5).
 */
static int
refresh_start(struct grant_req *g, const json_t *user, const char *api_id,
    const struct scope_result *sr)
{
	struct refresh_new	 rn;

	memset(&rn, 0, sizeof(rn));
	rn.user_id = json_string_value(json_object_get(user, "user_id"));
	rn.client_id = g->client.client_id;
	rn.audience = api_id;
	rn.scope = sr->granted.p != NULL ? sr->granted.p : "";
	return refresh_issue(g->ctx, &g->tenant, &g->client.rec, NULL, &rn,
	    g->req->now, g->refresh, sizeof(g->refresh));
}

void
grant_issue_login(struct grant_req *g, const json_t *user, const json_t *api)
{
	struct scope_result	 sr;

	/* offline_access (a refresh token) needs the refresh_token grant
	 * too (AUTH0-BEHAVIOUR.md 5). */
	if (scope_resolve(g->p.v[F_SCOPE], api,
	    client_grant_allowed(&g->client.rec, GT_REFRESH), &sr) == -1) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return;
	}
	grant_issue(g, user, api, &sr);
	scope_result_clear(&sr);
}

int
grant_respond(struct lk_resp *resp, const char *at, long long expires_in,
    const char *idt, const char *rt, const char *scope)
{
	json_t	*body;
	int	 rc;

	body = json_pack("{s:s, s:s, s:I}", "access_token", at,
	    "token_type", "Bearer", "expires_in", (json_int_t)expires_in);
	if (body == NULL)
		return -1;
	if (idt != NULL)
		json_object_set_new(body, "id_token", json_string(idt));
	if (rt != NULL)
		json_object_set_new(body, "refresh_token", json_string(rt));
	if (scope != NULL)
		json_object_set_new(body, "scope", json_string(scope));
	resp_nostore(resp);
	rc = resp_json(resp, 200, body);
	json_decref(body);
	return rc;
}

int
grant_issue(struct grant_req *g, const json_t *user, const json_t *api,
    const struct scope_result *sr)
{
	json_t		*key = NULL, *claims = NULL, *aud;
	const char	*issuer, *api_id = NULL;
	char		*at = NULL, *idt = NULL, userinfo[600];
	json_int_t	 life = ACCESS_LIFETIME_DEFAULT;
	int		 rc = -1;

	issuer = g->tenant.issuer;
	if (issuer == NULL || (key = grant_key(g)) == NULL)
		goto fail;
	snprintf(userinfo, sizeof(userinfo), "%suserinfo", issuer);
	if (api != NULL) {
		api_id = json_string_value(json_object_get(api, "identifier"));
		life = int_member(api, "token_lifetime", ACCESS_LIFETIME_DEFAULT);
	}
	/* aud: the API, plus <iss>userinfo when openid (Auth0 access
	 * token profile); only <iss>userinfo without an API. */
	if (api_id == NULL)
		aud = json_string(userinfo);
	else if (sr->openid)
		aud = json_pack("[s,s]", api_id, userinfo);
	else
		aud = json_string(api_id);
	claims = json_pack("{s:s, s:O, s:o, s:I, s:I, s:s, s:s, s:s}",
	    "iss", issuer, "sub", json_object_get(user, "user_id"), "aud", aud,
	    "iat", (json_int_t)g->req->now, "exp", (json_int_t)g->req->now + life,
	    "azp", g->client.client_id,
	    "scope", sr->granted.p ? sr->granted.p : "", "gty", g->gty);
	if (claims == NULL || token_sign(key, claims, &at) == -1)
		goto fail;
	if (sr->openid && (idt = id_token_make(g, key, issuer, user, sr)) == NULL)
		goto fail;
	if (sr->offline_access && !g->refreshing &&
	    refresh_start(g, user, api_id, sr) == -1)
		goto fail;
	if (grant_respond(g->resp, at, life, idt,
	    g->refresh[0] != '\0' ? g->refresh : NULL,
	    sr->differs ? (sr->granted.p ? sr->granted.p : "") : NULL) == -1)
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
