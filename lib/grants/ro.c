/*
 * POST /oauth/ro: Auth0's legacy Resource Owner endpoint (docs/COMPAT.md
 * 1), kept for old SDKs:
 *  - grant_type=password: username and password against the named
 *    connection (database, Azure AD, ADFS: docs/COMPAT.md 12); for an
 *    sms or email connection the password is the code from
 *    /passwordless/start (docs/COMPAT.md 1.3);
 *  - grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer: re-login
 *    with an id_token latchkey issued, plus a device name.
 * The client is identified by client_id only: this legacy public flow
 * never authenticates it with a secret (a client_secret in the body is an
 * unknown field, ignored), and a stray Authorization header is ignored too
 * (docs/COMPAT.md 1.2).  The client must hold the legacy grant (GT_RO,
 * GT_RO_JWT), and the tenant must not have turned the endpoint off
 * (allow_legacy_ro false: the same 403 as a client without the grant;
 * docs/COMPAT.md 1.1).
 *
 * Success is the legacy shape (docs/COMPAT.md 1.4): an opaque access
 * token (only /userinfo takes it), an ID token when the scope has openid,
 * token_type Bearer, and a refresh token for offline_access with a
 * device.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define RO_ACCESS_LIFETIME	86400	/* the OAS example's expires_in */
#define RO_ID_LIFETIME		36000
#define RO_SCOPE_DEFAULT	"openid"
#define RO_SCOPE_MAX		64	/* scope tokens considered */

/* The fields /oauth/ro reads (docs/COMPAT.md 1.2). */
#define RO_FIELDS (FIELD_BIT(F_CLIENT_ID) | FIELD_BIT(F_CONNECTION) | \
	FIELD_BIT(F_GRANT_TYPE) | FIELD_BIT(F_USERNAME) | \
	FIELD_BIT(F_PASSWORD) | FIELD_BIT(F_SCOPE) | FIELD_BIT(F_ID_TOKEN) | \
	FIELD_BIT(F_DEVICE))

static int	 ro_password(struct grant_req *, struct user *);
static int	 ro_jwt_bearer(struct grant_req *, struct user *);

/* The grant_type values /oauth/ro takes, and the legacy grant type each
 * is (granttype.c: the grant the client must hold, the log name).  Its
 * run function: 0 with the user, or -1 with the error written. */
static const struct {
	const char	*wire;
	enum grant_type	 gt;
	int		 (*run)(struct grant_req *, struct user *);
} ro_grants[] = {
	{ "password", GT_RO, ro_password },
	{ "urn:ietf:params:oauth:grant-type:jwt-bearer", GT_RO_JWT,
	    ro_jwt_bearer },
};
#define RO_GRANTS_N	(sizeof(ro_grants) / sizeof(ro_grants[0]))

/* /oauth/ro's wire errors for the results the login grants share
 * (docs/COMPAT.md 1.6; the wrong-code pairing is observed). */
static const struct grant_errs ro_errs = {
	.conn = {
		[CONN_OK] = OERR__MAX,
		[CONN_UNKNOWN] = OERR_RO_CONNECTION_NOT_FOUND,
		[CONN_DISABLED] = OERR_RO_CONNECTION_DISABLED,
		[CONN_STRATEGY] = OERR_REALM_STRATEGY,
		[CONN_ERR] = OERR_SERVER_ERROR,
	},
	.aud = { OERR__MAX, OERR__MAX, OERR__MAX },	/* no audience */
	.login = {
		[LOGIN_OK] = OERR__MAX,
		[LOGIN_WRONG] = OERR_RO_WRONG_PASSWORD,
		[LOGIN_BLOCKED] = OERR_USER_BLOCKED,
		[LOGIN_LEAKED] = OERR_RO_PASSWORD_LEAKED,
		[LOGIN_BUSY] = OERR__MAX,
		[LOGIN_THROTTLED] = OERR__MAX,
		[LOGIN_ERR] = OERR_SERVER_ERROR,
		[LOGIN_MFA] = OERR_UPSTREAM_MFA,
		[LOGIN_UPSTREAM] = OERR__MAX,
		[LOGIN_PW_CHANGE] = OERR_PASSWORD_CHANGE,
	},
	.code = {
		[STRATEGY_AUTH0] = OERR_RO_WRONG_PASSWORD,
		[STRATEGY_SMS] = OERR_RO_WRONG_PHONE_CODE,
		[STRATEGY_EMAIL] = OERR_RO_WRONG_EMAIL_CODE,
		[STRATEGY_WAAD] = OERR_RO_WRONG_PASSWORD,
		[STRATEGY_ADFS] = OERR_RO_WRONG_PASSWORD,
		[STRATEGY_AD] = OERR_RO_WRONG_PASSWORD,
	},
};

/* Claims a scope may never set (they are the token's own). */
static const char *const reserved[] = {
	"iss", "sub", "aud", "iat", "exp", "nbf", "azp", "jti", "nonce",
	"password_hash", NULL,
};

/* 1 when the named field is absent or empty. */
static int
missing(const struct grant_req *g, enum field f)
{

	return g->p.v[f] == NULL || *g->p.v[f] == '\0';
}

/* grant_type=password (database, Azure AD, ADFS, sms and email
 * connections). */
static int
ro_password(struct grant_req *g, struct user *user)
{
	struct conn	 c;
	enum conn_rc	 crc;
	enum login_rc	 lrc;

	if (missing(g, F_USERNAME))
		return oerr_write(g->resp, OERR_RO_MISSING_USERNAME, NULL), -1;
	if (missing(g, F_PASSWORD))
		return oerr_write(g->resp, OERR_RO_MISSING_PASSWORD, NULL), -1;
	if (missing(g, F_CONNECTION))
		return oerr_write(g->resp, OERR_RO_MISSING_CONNECTION, NULL), -1;
	crc = grant_connection(g, g->p.v[F_CONNECTION], &c);
	if (crc != CONN_OK)
		return grant_fail(g, ro_errs.conn[crc], NULL), -1;
	if (pwl_strategy(&c) != PWL__MAX)
		lrc = grant_code_user(g, &c, g->p.v[F_USERNAME],
		    g->p.v[F_PASSWORD], user);
	else if (c.name != NULL && grant_login_takes_password(c.strategy))
		lrc = grant_login(g, &c, user);
	else {
		record_clear(REC_CONNECTION, &c);
		return grant_fail(g, ro_errs.conn[CONN_STRATEGY], NULL), -1;
	}
	if (lrc != LOGIN_OK)
		grant_fail(g, lrc == LOGIN_WRONG ? ro_errs.code[c.strategy] :
		    ro_errs.login[lrc], NULL);
	record_clear(REC_CONNECTION, &c);
	if (lrc != LOGIN_OK)
		return -1;
	/* A second factor is due: Auth0's legacy answer (docs/COMPAT.md
	 * 13.2), once the first passed. */
	return mfa_gate_ro(g, user);
}

static int
key_collect(const char *kid, json_t *rec, void *arg)
{
	json_array_append(arg, rec);
	return 0;
}

/* 1 when aud (a string or an array) names client_id. */
static int
aud_has(const json_t *aud, const char *client_id)
{
	const json_t	*v;
	size_t		 i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), client_id) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), client_id) == 0)
			return 1;
	return 0;
}

/*
 * The claims of an ID token latchkey signed (any published key: the
 * header's kid picks it) for this client, unexpired, with an iat.  NULL
 * otherwise.  An access token latchkey signed is not an ID token, even
 * when its aud names the client (an API whose identifier is a client_id):
 * one that carries "scope" is refused.
 */
static json_t *
id_token_claims(struct grant_req *g)
{
	json_t		*keys, *k, *claims = NULL;
	const char	*iss, *issuer;
	json_t		*exp;
	size_t		 i;

	if ((keys = json_array()) == NULL ||
	    store_each(g->ctx->store, NULL, SK_KEY, key_collect, keys) != STORE_OK) {
		json_decref(keys);
		return NULL;
	}
	json_array_foreach(keys, i, k)
		if (token_verify_key(g->p.v[F_ID_TOKEN], k, &claims) == TOKEN_OK)
			break;
	json_decref(keys);
	if (claims == NULL)
		return NULL;
	issuer = g->tenant.issuer;
	iss = json_string_value(json_object_get(claims, "iss"));
	exp = json_object_get(claims, "exp");
	if (issuer == NULL || iss == NULL || strcmp(iss, issuer) != 0 ||
	    !aud_has(json_object_get(claims, "aud"), g->client.client_id) ||
	    !json_is_integer(exp) ||
	    json_integer_value(exp) <= (json_int_t)g->req->now ||
	    !json_is_integer(json_object_get(claims, "iat")) ||
	    json_object_get(claims, "scope") != NULL ||
	    json_string_value(json_object_get(claims, "sub")) == NULL) {
		json_decref(claims);
		return NULL;
	}
	return claims;
}

/*
 * grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer: the id_token's
 * user, still present, not blocked, of the connection if one is named.
 * An id_token issued before the user's password was last set (iat <=
 * password_set_at, the stamp latchkeyctl writes) is refused like a bad
 * one: a new password ends the sessions begun with the old, as it does
 * for refresh tokens, and a stolen id_token would otherwise mint new
 * sessions until it expires.
 */
static int
ro_jwt_bearer(struct grant_req *g, struct user *user)
{
	struct conn	 c;
	json_t		*claims = NULL;
	const char	*name = g->p.v[F_CONNECTION];
	enum oerr	 e = OERR_RO_BAD_ID_TOKEN;
	enum conn_rc	 crc;

	memset(&c, 0, sizeof(c));
	if (missing(g, F_DEVICE))
		return oerr_write(g->resp, OERR_RO_MISSING_DEVICE, NULL), -1;
	if (missing(g, F_ID_TOKEN))
		return oerr_write(g->resp, OERR_RO_MISSING_ID_TOKEN, NULL), -1;
	if (name != NULL && (crc = grant_connection(g, name, &c)) != CONN_OK)
		return grant_fail(g, ro_errs.conn[crc], NULL), -1;
	if ((claims = id_token_claims(g)) == NULL ||
	    record_get(g->ctx->store, NULL, REC_USER, json_string_value(
	    json_object_get(claims, "sub")), user) != STORE_OK)
		goto fail;
	if ((name != NULL && (user->connection == NULL ||
	    strcmp(user->connection, name) != 0)) ||
	    json_integer_value(json_object_get(claims, "iat")) <=
	    user->password_set_at)
		goto fail;
	if (user->blocked) {
		e = OERR_USER_BLOCKED;
		goto fail;
	}
	json_decref(claims);
	record_clear(REC_CONNECTION, &c);
	return 0;
fail:
	oerr_write(g->resp, e, NULL);
	record_clear(REC_USER, user);
	json_decref(claims);
	record_clear(REC_CONNECTION, &c);
	return -1;
}

/* ------------------------------------------------------------------ */
/* The legacy success response.                                        */

/* The requested scope, parsed the legacy way. */
struct ro_scope {
	struct scope_result	 sr;	/* OIDC flags only; sr.granted unused */
	struct buf		 norm;	/* the tokens, deduplicated */
	const char		*tok[RO_SCOPE_MAX];
	size_t			 tlen[RO_SCOPE_MAX];
	size_t			 ntok;
};

/*
 * Unlike /oauth/token, "openid" alone releases only the base claims;
 * profile, email, phone and address release their standard claims; any
 * other token is an attribute name (docs/COMPAT.md 1.5: the legacy
 * pipeline made requested attributes claims).
 */
static int
ro_scope_parse(const char *scope, struct ro_scope *rs)
{
	size_t	 n, i;

	memset(rs, 0, sizeof(*rs));
	buf_init(&rs->norm);
	while (*scope != '\0' && rs->ntok < RO_SCOPE_MAX) {
		scope += strspn(scope, " ");
		if ((n = strcspn(scope, " ")) == 0)
			break;
		for (i = 0; i < rs->ntok; i++)
			if (rs->tlen[i] == n && memcmp(rs->tok[i], scope, n) == 0)
				break;
		if (i == rs->ntok) {
			scope_result_set(&rs->sr, scope_oidc_find(scope, n));
			rs->tok[rs->ntok] = scope;
			rs->tlen[rs->ntok++] = n;
			if ((rs->norm.len > 0 && buf_append(&rs->norm, " ", 1) == -1) ||
			    buf_append(&rs->norm, scope, n) == -1)
				return -1;
		}
		scope += n;
	}
	return 0;
}

/* An attribute scope: the user's top-level attribute, else a key of
 * app_metadata, else of user_metadata (metadata cannot shadow the
 * profile's own attributes). */
static void
attribute_claim(json_t *claims, const struct user *user, const char *s,
    size_t n)
{
	char		 name[256];
	const json_t	*v;
	size_t		 i;

	if (n >= sizeof(name))
		return;
	memcpy(name, s, n);
	name[n] = '\0';
	for (i = 0; reserved[i] != NULL; i++)
		if (strcmp(reserved[i], name) == 0)
			return;
	if ((v = json_object_get(user->json, name)) == NULL &&
	    (v = json_object_get(user->app_metadata, name)) == NULL)
		v = json_object_get(user->user_metadata, name);
	if (v != NULL && !json_is_null(v))
		json_object_set(claims, name, (json_t *)v);
}

/* The legacy ID token: always RS256 (or the tenant key's algorithm): no
 * secret was presented to key an HS256 one. */
static char *
ro_id_token(struct grant_req *g, const json_t *key, const struct user *user,
    const struct ro_scope *rs)
{
	json_t		*claims;
	const char	*issuer;
	char		*out = NULL;
	json_int_t	 lifetime = RO_ID_LIFETIME;
	size_t		 i;

	issuer = g->tenant.issuer;
	if (g->client.rec.id_token_lifetime > 0)
		lifetime = g->client.rec.id_token_lifetime;
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", issuer,
	    "sub", user->user_id,
	    "aud", g->client.client_id, "iat", (json_int_t)g->req->now,
	    "exp", (json_int_t)g->req->now + lifetime);
	if (claims == NULL)
		return NULL;
	for (i = 0; i < rs->ntok; i++)
		if (scope_oidc_find(rs->tok[i], rs->tlen[i]) == OIDC__MAX)
			attribute_claim(claims, user, rs->tok[i], rs->tlen[i]);
	/* Standard claims last: an attribute scope cannot fake them. */
	scope_claims(claims, user, &rs->sr);
	if (token_sign(key, claims, &out) == -1)
		out = NULL;
	json_decref(claims);
	return out;
}

/* Write the legacy 200.  -1 with the error written. */
static int
ro_issue(struct grant_req *g, const struct user *user)
{
	struct ro_scope		 rs;
	struct refresh_new	 rn;
	json_t			*key;
	const char		*uid, *scope = g->p.v[F_SCOPE];
	char			 at[64], rt[128], *idt = NULL;
	int			 rc = -1;

	at[0] = rt[0] = '\0';
	memset(&rs, 0, sizeof(rs));
	buf_init(&rs.norm);
	if (scope == NULL || *scope == '\0')
		scope = RO_SCOPE_DEFAULT;
	uid = user->user_id;
	if (uid == NULL || ro_scope_parse(scope, &rs) == -1)
		goto fail;
	if (opaque_issue(g->ctx, uid, g->client.client_id, rs.norm.p,
	    g->req->now, RO_ACCESS_LIFETIME, at, sizeof(at)) == -1)
		goto fail;
	if (rs.sr.openid && ((key = grant_key(g)) == NULL ||
	    (idt = ro_id_token(g, key, user, &rs)) == NULL))
		goto fail;
	/* Legacy refresh tokens: offline_access and a device, and the
	 * client's refresh_token grant (docs/COMPAT.md 1.4, 5.1). */
	if (rs.sr.offline_access && g->p.v[F_DEVICE] != NULL &&
	    *g->p.v[F_DEVICE] != '\0' &&
	    client_grant_allowed(&g->client.rec, GT_REFRESH)) {
		memset(&rn, 0, sizeof(rn));
		rn.user_id = uid;
		rn.client_id = g->client.client_id;
		rn.scope = rs.norm.p;
		rn.device = g->p.v[F_DEVICE];
		if (refresh_issue(g->ctx, &g->tenant, &g->client.rec, NULL, &rn,
		    g->req->now, rt, sizeof(rt)) == -1)
			goto fail;
	}
	/* The legacy shape has no "scope" member; /oauth/ro stays Bearer
	 * (docs/COMPAT.md 10.5). */
	if (grant_respond(g->resp, at, "Bearer", RO_ACCESS_LIFETIME, idt,
	    rt[0] != '\0' ? rt : NULL, NULL) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	lk_err("cannot issue legacy tokens");
	oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
out:
	OPENSSL_cleanse(at, sizeof(at));
	OPENSSL_cleanse(rt, sizeof(rt));
	free(idt);
	buf_clear(&rs.norm);
	return rc;
}

/* ------------------------------------------------------------------ */

/* The ro_grants row of grant_type s, or RO_GRANTS_N. */
static size_t
ro_grant_find(const char *s)
{
	size_t	 i;

	for (i = 0; i < RO_GRANTS_N; i++)
		if (strcmp(ro_grants[i].wire, s) == 0)
			break;
	return i;
}

/* The client named by client_id, unauthenticated.  -1 with the error. */
static int
ro_client(struct grant_req *g)
{
	const char	*id = g->p.v[F_CLIENT_ID];

	if (id == NULL || *id == '\0')
		return oerr_write(g->resp, OERR_RO_MISSING_CLIENT_ID, NULL), -1;
	resp_client(g->resp, id);
	switch (record_get(g->ctx->store, NULL, REC_CLIENT, id, &g->client.rec)) {
	case STORE_OK:
		break;
	case STORE_NOTFOUND:
		return oerr_write(g->resp, OERR_RO_INVALID_CLIENT, NULL), -1;
	default:
		return oerr_write(g->resp, OERR_SERVER_ERROR, NULL), -1;
	}
	g->client.client_id = g->client.rec.client_id;
	g->client.method = CLIENT_AUTH_NONE;
	if (g->client.client_id == NULL)
		return oerr_write(g->resp, OERR_RO_INVALID_CLIENT, NULL), -1;
	return 0;
}

/* The grant type of the request, the client's right to it, the tenant's
 * switch.  The ro_grants row, or RO_GRANTS_N with the error written. */
static size_t
ro_grant(struct grant_req *g)
{
	const char	*type = g->p.v[F_GRANT_TYPE];
	size_t		 i;

	if (type == NULL)
		return oerr_write(g->resp, OERR_RO_MISSING_GRANT_TYPE, NULL),
		    RO_GRANTS_N;
	if ((i = ro_grant_find(type)) == RO_GRANTS_N)
		return oerr_write(g->resp, OERR_RO_GRANT_TYPE, type), i;
	g->gt = ro_grants[i].gt;
	g->grant = grant_type_def(g->gt)->uri;
	g->gty = grant_type_def(g->gt)->gty;
	snprintf(g->resp->grant, sizeof(g->resp->grant), "%s", g->gty);
	/* The tenant's "Legacy /oauth/ro Endpoint" switch: off looks to
	 * clients like a client without the legacy grant. */
	if (!g->tenant.allow_legacy_ro) {
		lk_info("/oauth/ro refused: tenant allow_legacy_ro is false");
		return oerr_write(g->resp, OERR_GRANT_NOT_ALLOWED,
		    grant_type_def(GT_RO)->uri), RO_GRANTS_N;
	}
	if (!client_grant_allowed(&g->client.rec, (int)g->gt))
		return oerr_write(g->resp, OERR_GRANT_NOT_ALLOWED, g->grant),
		    RO_GRANTS_N;
	return i;
}

void
ro_endpoint(struct lk_ctx *ctx, const struct lk_req *req, struct lk_resp *resp)
{
	struct grant_req	 g;
	struct user		 user;
	size_t			 i;

	memset(&g, 0, sizeof(g));
	memset(&user, 0, sizeof(user));
	g.ctx = ctx;
	g.req = req;
	g.resp = resp;
	params_init(&g.p);
	snprintf(resp->grant, sizeof(resp->grant), "%s",
	    grant_type_def(GT_RO)->gty);
	if (decode_body(req, RO_FIELDS, &g.p, resp) == -1)
		goto out;
	if (ctx_tenant(ctx, &g.tenant) == -1) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	if (ro_client(&g) == -1 || (i = ro_grant(&g)) == RO_GRANTS_N)
		goto out;
	/* No secret here, so auth0-forwarded-for is never honoured. */
	if (guard_ip(req, &g.client, GUARD_EP_RO, &g.who, resp) == -1 ||
	    guard_endpoint(ctx, &g.tenant, &g.who, req->now, resp) == -1)
		goto out;
	if (ro_grants[i].run(&g, &user) == -1)
		goto out;
	ro_issue(&g, &user);
out:
	record_clear(REC_USER, &user);
	client_clear(&g.client);
	params_clear(&g.p);
	json_decref(g.key);
	record_clear(REC_TENANT, &g.tenant);
}
