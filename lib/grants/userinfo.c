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
 *
 * DPoP (RFC 9449 7; docs/COMPAT.md 10.5): "Authorization: DPoP <token>"
 * with a DPoP proof for this request carrying the token's ath; the
 * token's cnf.jkt must be the proof's key.  A bound token sent as Bearer
 * is refused (7.1).  Those errors carry a WWW-Authenticate: DPoP
 * challenge naming the algorithms.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

#define BEARER		"Bearer"
#define DPOP		"DPoP"
#define TOKEN_MAX	8192

/* Why a token is refused: the error_description, body and header. */
enum why {
	WHY_MALFORMED,
	WHY_SIGNATURE,
	WHY_KEY,
	WHY_EXPIRED,
	WHY_NOT_YET,
	WHY_ISSUER,
	WHY_AUDIENCE,
	WHY_UNKNOWN,
	WHY_USER_GONE,
	WHY_BLOCKED,
	WHY_BOUND,
	WHY_UNBOUND,
	WHY__MAX
};

static const char *const whys[WHY__MAX] = {
	[WHY_MALFORMED] = "The access token is malformed",
	[WHY_SIGNATURE] = "The access token signature is invalid",
	[WHY_KEY] = "The access token was signed by an unknown key",
	[WHY_EXPIRED] = "The access token expired",
	[WHY_NOT_YET] = "The access token is not yet valid",
	[WHY_ISSUER] = "The access token was issued by another issuer",
	[WHY_AUDIENCE] = "The access token audience does not include /userinfo",
	[WHY_UNKNOWN] = "The access token is unknown or expired",
	[WHY_USER_GONE] = "The user of the access token no longer exists",
	[WHY_BLOCKED] = "user is blocked",
	[WHY_BOUND] = "The access token is DPoP-bound: use the DPoP scheme",
	[WHY_UNBOUND] = "The access token is not bound to the DPoP proof's key",
};

enum bearer { BEARER_NONE, BEARER_OK, BEARER_MALFORMED };

/* What the token proved: whose it is, what scope it carries, the DPoP
 * key it is bound to ("": none). */
struct grant_of {
	char		 sub[256];
	char		 scope[4096];
	char		 jkt[DPOP_JKT_LEN + 1];
	char		 client[129];	/* azp / the opaque token's client_id */
};

/*
 * The token of "Bearer <b64token>" (RFC 6750 2.1) or "DPoP <b64token>"
 * (RFC 9449 7.1; *dpop set) into *tok, pointing into authz; schemes are
 * case-insensitive (RFC 7235 2.1).  Another scheme counts as no
 * credentials.
 */
static enum bearer
bearer_parse(const char *authz, const char **tok, int *dpop)
{
	static const char b64token[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-._~+/";
	const char	*p;
	size_t		 n;

	*dpop = authz != NULL && strncasecmp(authz, DPOP, strlen(DPOP)) == 0;
	if (authz == NULL || (!*dpop &&
	    strncasecmp(authz, BEARER, strlen(BEARER)) != 0))
		return BEARER_NONE;
	p = authz + (*dpop ? strlen(DPOP) : strlen(BEARER));
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

/* The client a verified token was issued to, when it has one that fits. */
static void
client_of(struct grant_of *g, const char *client_id)
{
	if (client_id != NULL && strlen(client_id) < sizeof(g->client))
		memcpy(g->client, client_id, strlen(client_id) + 1);
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

/* token.c's verdict as ours. */
static const enum jwt_rc of_token[] = {
	[TOKEN_OK] = JWT_OK,
	[TOKEN_MALFORMED] = JWT_MALFORMED,
	[TOKEN_BAD_ALG] = JWT_SIGNATURE,
	[TOKEN_BAD_SIG] = JWT_SIGNATURE,
	[TOKEN_NO_KEY] = JWT_NO_KEY,
	[TOKEN_ERR] = JWT_SIGNATURE,
};

/* The signature, against keys or each of our signing keys. */
static enum jwt_rc
jwt_signature(struct store *s, const json_t *keys, const char *token,
    json_t **claims)
{
	json_t		*ours, *k;
	enum token_rc	 trc = TOKEN_NO_KEY;
	size_t		 i;

	if (keys != NULL)
		return of_token[token_verify(token, keys, claims)];
	if ((ours = json_array()) == NULL ||
	    store_each(s, NULL, SK_KEY, key_collect, ours) != STORE_OK) {
		json_decref(ours);
		return JWT_ERR;
	}
	json_array_foreach(ours, i, k) {
		json_decref(*claims);
		*claims = NULL;
		if ((trc = token_verify_key(token, k, claims)) != TOKEN_NO_KEY)
			break;
	}
	json_decref(ours);
	return of_token[trc];
}

/* The time claims (RFC 7519 4.1.4, 4.1.5, 4.1.6): exp required, nbf
 * and iat when present; libjwt checks none of them. */
static enum jwt_rc
jwt_times(const json_t *claims, time_t now, int leeway)
{
	const json_t	*exp = json_object_get(claims, "exp");
	const json_t	*nbf = json_object_get(claims, "nbf");
	const json_t	*iat = json_object_get(claims, "iat");

	if (!json_is_integer(exp))
		return JWT_MALFORMED;
	if (json_integer_value(exp) + leeway <= (json_int_t)now)
		return JWT_EXPIRED;
	if (nbf != NULL && (!json_is_integer(nbf) ||
	    json_integer_value(nbf) - leeway > (json_int_t)now))
		return JWT_NOT_YET;
	if (iat != NULL && (!json_is_integer(iat) ||
	    json_integer_value(iat) - leeway > (json_int_t)now))
		return JWT_NOT_YET;
	return JWT_OK;
}

enum jwt_rc
userinfo_jwt_check(struct store *s, const json_t *keys, const char *token,
    const struct jwt_expect *x, json_t **claims)
{
	const char	*iss;
	enum jwt_rc	 rc;

	*claims = NULL;
	if ((rc = jwt_signature(s, keys, token, claims)) != JWT_OK)
		goto out;
	iss = json_string_value(json_object_get(*claims, "iss"));
	if (x->issuer == NULL || iss == NULL || strcmp(iss, x->issuer) != 0)
		rc = JWT_ISSUER;
	else if (x->audience == NULL ||
	    !aud_has(json_object_get(*claims, "aud"), x->audience))
		rc = JWT_AUDIENCE;
	else
		rc = jwt_times(*claims, x->now, x->leeway);
out:
	if (rc != JWT_OK) {
		json_decref(*claims);
		*claims = NULL;
	}
	return rc;
}

/* Our check's verdict as /userinfo words it. */
static const int whys_of[JWT__MAX] = {
	[JWT_OK] = WHY__MAX,
	[JWT_MALFORMED] = WHY_MALFORMED,
	[JWT_NO_KEY] = WHY_KEY,
	[JWT_SIGNATURE] = WHY_SIGNATURE,
	[JWT_ISSUER] = WHY_ISSUER,
	[JWT_AUDIENCE] = WHY_AUDIENCE,
	[JWT_EXPIRED] = WHY_EXPIRED,
	[JWT_NOT_YET] = WHY_NOT_YET,
	[JWT_ERR] = -1,
};

/*
 * A JWT access token for /userinfo (userinfo_jwt_check), then the
 * members we keep.  WHY__MAX when good, with g filled; -1 on a store
 * error.
 */
static int
jwt_check(struct lk_ctx *ctx, const char *issuer, const char *token,
    time_t now, struct grant_of *g)
{
	struct jwt_expect x = { issuer, NULL, now, 0 };
	json_t		*claims;
	const char	*sub, *scope, *jkt;
	char		 userinfo[600];
	enum jwt_rc	 rc;
	int		 why;

	snprintf(userinfo, sizeof(userinfo), "%suserinfo", issuer);
	x.audience = userinfo;
	if ((rc = userinfo_jwt_check(ctx->store, NULL, token, &x, &claims)) !=
	    JWT_OK)
		return whys_of[rc];
	sub = json_string_value(json_object_get(claims, "sub"));
	scope = json_string_value(json_object_get(claims, "scope"));
	jkt = json_string_value(json_object_get(json_object_get(claims, "cnf"),
	    "jkt"));
	if (sub == NULL || strlen(sub) >= sizeof(g->sub) ||
	    (scope != NULL && strlen(scope) >= sizeof(g->scope)) ||
	    (jkt != NULL && strlen(jkt) != DPOP_JKT_LEN))
		why = WHY_MALFORMED;
	else {
		snprintf(g->sub, sizeof(g->sub), "%s", sub);
		snprintf(g->scope, sizeof(g->scope), "%s", scope ? scope : "");
		snprintf(g->jkt, sizeof(g->jkt), "%s", jkt ? jkt : "");
		client_of(g, json_string_value(json_object_get(claims, "azp")));
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
		client_of(g, o.client_id);
		why = WHY__MAX;
	}
	opaque_clear(&o);
	return why;
}

/*
 * RFC 9449 7.1: the proof of a "DPoP" request (its jti spent) and the
 * token's binding to its key.  WHY__MAX when both are good, WHY_UNBOUND,
 * -2 with a refused proof's 401 written, -1 on a store error.
 */
static int
dpop_proven(struct lk_ctx *ctx, const struct lk_req *req,
    const char *issuer, const char *tok, const struct grant_of *g,
    struct dpop_proof *proof, struct lk_resp *resp)
{
	char		 url[REC_ID_LEN + 16];
	enum dpop_err	 rc;

	snprintf(url, sizeof(url), "%suserinfo", issuer);
	rc = grant_dpop_request(ctx, req->dpop, req->method_str, url, tok,
	    req->now, proof);
	if (rc == DPOP_ERR)
		return -1;
	if (rc != DPOP_OK) {
		oerr_write(resp, OERR_USERINFO_DPOP_PROOF, dpop_err_text(rc));
		grant_dpop_challenge(resp, oerr_code(OERR_USERINFO_DPOP_PROOF),
		    dpop_err_text(rc));
		resp_nostore(resp);
		return -2;
	}
	if (g->jkt[0] == '\0' || strcmp(g->jkt, proof->jkt) != 0)
		return WHY_UNBOUND;
	return WHY__MAX;
}

/* The RFC 6750 3 challenge and the JSON body for error e; dpop adds
 * RFC 9449 7.1's DPoP challenge with the error. */
static void
challenge(struct lk_resp *resp, const char *issuer, enum oerr e,
    const char *desc, int dpop)
{

	oerr_write(resp, e, desc);
	if (e == OERR_USERINFO_NO_TOKEN) {
		resp_header(resp, "WWW-Authenticate", "Bearer realm=\"%s\"",
		    issuer);
		grant_dpop_challenge(resp, NULL, NULL);
	} else if (dpop)
		grant_dpop_challenge(resp, oerr_code(e), desc);
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
		challenge(resp, issuer, OERR_USERINFO_TOKEN,
		    whys[WHY_USER_GONE], 0);
		return 0;
	}
	if (rc != STORE_OK)
		return -1;
	if (user.blocked) {
		challenge(resp, issuer, OERR_USERINFO_TOKEN,
		    whys[WHY_BLOCKED], 0);
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
	struct dpop_proof proof;
	const char	*issuer, *tok = NULL;
	int		 why, dpop;

	memset(&sr, 0, sizeof(sr));
	snprintf(resp->grant, sizeof(resp->grant), "userinfo");
	if (ctx_tenant(ctx, &tenant) == -1 ||
	    (issuer = tenant.issuer) == NULL) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	switch (bearer_parse(req->authorization, &tok, &dpop)) {
	case BEARER_NONE:
		challenge(resp, issuer, OERR_USERINFO_NO_TOKEN, NULL, 0);
		goto out;
	case BEARER_MALFORMED:
		challenge(resp, issuer, OERR_USERINFO_REQUEST, NULL, 0);
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
	if (why == WHY__MAX && dpop)
		why = dpop_proven(ctx, req, issuer, tok, &g, &proof, resp);
	else if (why == WHY__MAX && g.jkt[0] != '\0')
		why = WHY_BOUND;
	if (why == -2)
		goto out;
	if (why == -1) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	if (why != WHY__MAX) {
		challenge(resp, issuer, OERR_USERINFO_TOKEN, whys[why],
		    why == WHY_BOUND || why == WHY_UNBOUND);
		goto out;
	}
	/* Its client's allowed origins decide CORS (cors.c). */
	if (g.client[0] != '\0')
		resp_client(resp, g.client);
	/* Auth0: /userinfo answers only tokens granted openid. */
	if (scope_narrow(g.scope, NULL, &sr) == -1) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	if (!sr.openid) {
		challenge(resp, issuer, OERR_USERINFO_SCOPE, NULL, 0);
		goto out;
	}
	if (claims_reply(ctx, issuer, &g, resp) == -1)
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
out:
	scope_result_clear(&sr);
	record_clear(REC_TENANT, &tenant);
}
