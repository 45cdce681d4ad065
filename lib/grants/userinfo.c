/*
 * GET and POST /userinfo (OpenID Connect Core 5.3; docs/COMPAT.md 4.5).
 * The Bearer token (RFC 6750 2.1: the Authorization header) is either
 *  - a JWT access token signed by one of our published keys (the kid
 *    chooses it; token.c pins the algorithm), with iss the tenant's
 *    issuer, exp in the future and aud including <issuer>userinfo; or
 *  - an opaque /oauth/ro access token (opaque.c).
 * Its scope must include openid.  The answer is "sub" and the standard
 * claims the scope releases, read from the user record as it is now.
 *
 * Errors (RFC 6750 3, 3.1): no Bearer credentials -> 401 with
 * WWW-Authenticate: Bearer realm="<issuer>" and no error code; a bad,
 * expired or wrong-audience token -> 401 error="invalid_token"; a
 * malformed header -> 400 invalid_request; no openid -> 403
 * insufficient_scope.  Every error also has the usual JSON body.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

#define BEARER		"Bearer"
#define TOKEN_MAX	8192

/* Why a token is refused: the error_description, body and header. */
enum why {
	WHY_MALFORMED,
	WHY_SIGNATURE,
	WHY_KEY,
	WHY_EXPIRED,
	WHY_ISSUER,
	WHY_AUDIENCE,
	WHY_UNKNOWN,
	WHY_USER_GONE,
	WHY_BLOCKED,
	WHY__MAX
};

static const char *const whys[WHY__MAX] = {
	[WHY_MALFORMED] = "The access token is malformed",
	[WHY_SIGNATURE] = "The access token signature is invalid",
	[WHY_KEY] = "The access token was signed by an unknown key",
	[WHY_EXPIRED] = "The access token expired",
	[WHY_ISSUER] = "The access token was issued by another issuer",
	[WHY_AUDIENCE] = "The access token audience does not include /userinfo",
	[WHY_UNKNOWN] = "The access token is unknown or expired",
	[WHY_USER_GONE] = "The user of the access token no longer exists",
	[WHY_BLOCKED] = "user is blocked",
};

enum bearer { BEARER_NONE, BEARER_OK, BEARER_MALFORMED };

/* What the token proved: whose it is and what scope it carries. */
struct grant_of {
	char		 sub[256];
	char		 scope[4096];
};

/*
 * The token of "Bearer <b64token>" (RFC 6750 2.1; the scheme is case-
 * insensitive, RFC 7235 2.1) into *tok, pointing into authz.  Another
 * scheme counts as no credentials.
 */
static enum bearer
bearer_parse(const char *authz, const char **tok)
{
	static const char b64token[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-._~+/";
	const char	*p;
	size_t		 n;

	if (authz == NULL || strncasecmp(authz, BEARER, strlen(BEARER)) != 0)
		return BEARER_NONE;
	p = authz + strlen(BEARER);
	if (*p == '\0')
		return BEARER_MALFORMED;
	if (*p != ' ')
		return BEARER_NONE;	/* e.g. "BearerX": another scheme */
	p += strspn(p, " ");
	n = strspn(p, b64token);
	n += strspn(p + n, "=");
	if (n == 0 || p[n] != '\0' || n > TOKEN_MAX)
		return BEARER_MALFORMED;
	*tok = p;
	return BEARER_OK;
}

static int
key_collect(const char *kid, json_t *rec, void *arg)
{

	json_array_append(arg, rec);
	return 0;
}

/* 1 when aud (a string or an array of strings) holds want. */
static int
aud_has(const json_t *aud, const char *want)
{
	const json_t	*v;
	size_t		 i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return 1;
	return 0;
}

/*
 * A JWT access token: verified against each of our keys (a token names
 * its key by kid; a token signed by a key since removed verifies with
 * none), then its claims.  WHY__MAX when good, with g filled; -1 on a
 * store error.
 */
static int
jwt_check(struct lk_ctx *ctx, const char *issuer, const char *token,
    time_t now, struct grant_of *g)
{
	json_t		*keys, *k, *claims = NULL;
	const json_t	*exp;
	const char	*sub, *scope, *iss;
	char		 userinfo[600];
	enum token_rc	 trc = TOKEN_NO_KEY;
	size_t		 i;
	int		 why;

	if ((keys = json_array()) == NULL ||
	    store_each(ctx->store, NULL, SK_KEY, key_collect, keys) != STORE_OK) {
		json_decref(keys);
		return -1;
	}
	json_array_foreach(keys, i, k)
		if ((trc = token_verify_key(token, k, &claims)) != TOKEN_NO_KEY)
			break;
	json_decref(keys);
	if (trc != TOKEN_OK) {
		json_decref(claims);
		return trc == TOKEN_MALFORMED ? WHY_MALFORMED :
		    trc == TOKEN_NO_KEY ? WHY_KEY : WHY_SIGNATURE;
	}
	snprintf(userinfo, sizeof(userinfo), "%suserinfo", issuer);
	iss = json_string_value(json_object_get(claims, "iss"));
	exp = json_object_get(claims, "exp");
	sub = json_string_value(json_object_get(claims, "sub"));
	scope = json_string_value(json_object_get(claims, "scope"));
	/* libjwt checks no claims: all of them here (RFC 7519 4.1). */
	if (iss == NULL || strcmp(iss, issuer) != 0)
		why = WHY_ISSUER;
	else if (!json_is_integer(exp) || json_integer_value(exp) <= (json_int_t)now)
		why = WHY_EXPIRED;
	else if (!aud_has(json_object_get(claims, "aud"), userinfo))
		why = WHY_AUDIENCE;
	else if (sub == NULL || strlen(sub) >= sizeof(g->sub) ||
	    (scope != NULL && strlen(scope) >= sizeof(g->scope)))
		why = WHY_MALFORMED;
	else {
		snprintf(g->sub, sizeof(g->sub), "%s", sub);
		snprintf(g->scope, sizeof(g->scope), "%s", scope ? scope : "");
		why = WHY__MAX;
	}
	json_decref(claims);
	return why;
}

/* An opaque /oauth/ro access token.  As jwt_check. */
static int
opaque_check(struct lk_ctx *ctx, const char *token, time_t now,
    struct grant_of *g)
{
	struct opaque_rec o;
	const char	*sub, *scope;
	enum store_rc	 rc;
	int		 why = WHY_UNKNOWN;

	if ((rc = opaque_lookup(ctx, token, now, &o)) == STORE_NOTFOUND)
		return WHY_UNKNOWN;
	if (rc != STORE_OK)
		return -1;
	sub = o.user_id;
	scope = o.scope;
	if (sub != NULL && strlen(sub) < sizeof(g->sub) &&
	    (scope == NULL || strlen(scope) < sizeof(g->scope))) {
		snprintf(g->sub, sizeof(g->sub), "%s", sub);
		snprintf(g->scope, sizeof(g->scope), "%s", scope ? scope : "");
		why = WHY__MAX;
	}
	opaque_clear(&o);
	return why;
}

/* The RFC 6750 3 challenge and the JSON body for error e. */
static void
challenge(struct lk_resp *resp, const char *issuer, enum oerr e,
    const char *desc)
{

	oerr_write(resp, e, desc);
	if (e == OERR_USERINFO_NO_TOKEN)
		resp_header(resp, "WWW-Authenticate", "Bearer realm=\"%s\"",
		    issuer);
	else if (e == OERR_USERINFO_SCOPE)
		resp_header(resp, "WWW-Authenticate", "Bearer realm=\"%s\", "
		    "error=\"%s\", scope=\"openid\"", issuer, oerr_code(e));
	else
		resp_header(resp, "WWW-Authenticate", "Bearer realm=\"%s\", "
		    "error=\"%s\", error_description=\"%s\"", issuer,
		    oerr_code(e), desc != NULL ? desc :
		    "Malformed Authorization header");
	resp_nostore(resp);
}

/* The claims of the user g names, as its scope releases them. */
static int
claims_reply(struct lk_ctx *ctx, const char *issuer, const struct grant_of *g,
    struct lk_resp *resp)
{
	struct scope_result	 sr;
	struct user		 user;
	json_t			*claims = NULL;
	enum store_rc		 rc;
	int			 ret = -1;

	memset(&sr, 0, sizeof(sr));
	if ((rc = record_get(ctx->store, NULL, REC_USER, g->sub, &user)) ==
	    STORE_NOTFOUND) {
		challenge(resp, issuer, OERR_USERINFO_TOKEN, whys[WHY_USER_GONE]);
		return 0;
	}
	if (rc != STORE_OK)
		return -1;
	if (user.blocked) {
		challenge(resp, issuer, OERR_USERINFO_TOKEN, whys[WHY_BLOCKED]);
		ret = 0;
		goto out;
	}
	if (scope_narrow(g->scope, NULL, &sr) == -1 ||
	    (claims = json_pack("{s:s}", "sub", g->sub)) == NULL)
		goto out;
	scope_claims(claims, &user, &sr);
	resp_nostore(resp);
	ret = resp_json(resp, 200, claims);
out:
	scope_result_clear(&sr);
	json_decref(claims);
	record_clear(REC_USER, &user);
	return ret;
}

void
userinfo_endpoint(struct lk_ctx *ctx, const struct lk_req *req,
    struct lk_resp *resp)
{
	struct grant_of	 g;
	struct scope_result sr;
	struct tenant	 tenant;
	const char	*issuer, *tok = NULL;
	int		 why;

	memset(&sr, 0, sizeof(sr));
	snprintf(resp->grant, sizeof(resp->grant), "userinfo");
	if (ctx_tenant(ctx, &tenant) == -1 ||
	    (issuer = tenant.issuer) == NULL) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	switch (bearer_parse(req->authorization, &tok)) {
	case BEARER_NONE:
		challenge(resp, issuer, OERR_USERINFO_NO_TOKEN, NULL);
		goto out;
	case BEARER_MALFORMED:
		challenge(resp, issuer, OERR_USERINFO_REQUEST, NULL);
		goto out;
	default:
		break;
	}
	memset(&g, 0, sizeof(g));
	why = strchr(tok, '.') != NULL ?
	    jwt_check(ctx, issuer, tok, req->now, &g) :
	    opaque_check(ctx, tok, req->now, &g);
	if (why == -1) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	if (why != WHY__MAX) {
		challenge(resp, issuer, OERR_USERINFO_TOKEN, whys[why]);
		goto out;
	}
	/* Auth0: /userinfo answers only tokens granted openid. */
	if (scope_narrow(g.scope, NULL, &sr) == -1) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	if (!sr.openid) {
		challenge(resp, issuer, OERR_USERINFO_SCOPE, NULL);
		goto out;
	}
	if (claims_reply(ctx, issuer, &g, resp) == -1)
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
out:
	scope_result_clear(&sr);
	record_clear(REC_TENANT, &tenant);
}
