/*
 * POST /oauth/ro: Auth0's legacy Resource Owner endpoint
 * (AUTH0-BEHAVIOUR.md 1; seeds 000-002), kept for old SDKs:
 *  - grant_type=password: username and password against the named
 *    connection; for an sms or email connection the password is the
 *    code from /passwordless/start;
 *  - grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer: re-login
 *    with an id_token latchkey issued, plus a device name.
 * The client is identified by client_id only: this legacy public flow
 * never authenticates it with a secret (a client_secret in the body is an
 * unknown field, ignored), and a stray Authorization header is ignored too
 * (SPEC.md "What real clients send").  The client must hold the legacy
 * grant, and the tenant must not have turned the endpoint off
 * (allow_legacy_ro false: the same 403 as a client without the grant).
 *
 * Success is the legacy shape: an opaque access token (only /userinfo
 * takes it), an ID token when the scope has openid, token_type Bearer,
 * and a refresh token for offline_access with a device.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define RO_GRANT	"http://auth0.com/oauth/legacy/grant-type/ro"
#define RO_JWT_GRANT	"http://auth0.com/oauth/legacy/grant-type/ro/jwt-bearer"
#define RO_ACCESS_LIFETIME	86400	/* the OAS example's expires_in */
#define RO_ID_LIFETIME		36000
#define RO_SCOPE_DEFAULT	"openid"
#define RO_SCOPE_MAX		64	/* scope tokens considered */

/* The fields /oauth/ro reads: the seed's eight. */
#define RO_FIELDS (FIELD_BIT(F_CLIENT_ID) | FIELD_BIT(F_CONNECTION) | \
	FIELD_BIT(F_GRANT_TYPE) | FIELD_BIT(F_USERNAME) | \
	FIELD_BIT(F_PASSWORD) | FIELD_BIT(F_SCOPE) | FIELD_BIT(F_ID_TOKEN) | \
	FIELD_BIT(F_DEVICE))

enum ro_grant { RO_PASSWORD, RO_JWT_BEARER, RO__MAX };

static json_t	*ro_password(struct grant_req *);
static json_t	*ro_jwt_bearer(struct grant_req *);

static const struct {
	const char	*wire;		/* grant_type */
	const char	*client_grant;	/* what the client must hold */
	const char	*log;		/* short name for the access log */
	json_t		*(*run)(struct grant_req *);	/* the user, or NULL */
} ro_grants[RO__MAX] = {
	[RO_PASSWORD] = { "password", RO_GRANT, "ro", ro_password },
	[RO_JWT_BEARER] = { "urn:ietf:params:oauth:grant-type:jwt-bearer",
	    RO_JWT_GRANT, "ro/jwt-bearer", ro_jwt_bearer },
};

/* The wrong-code rows of each passwordless strategy (observed pairing). */
static const enum oerr wrong_code[PWL__MAX] = {
	[PWL_SMS] = OERR_RO_WRONG_PHONE_CODE,
	[PWL_EMAIL] = OERR_RO_WRONG_EMAIL_CODE,
};

/* Claims a scope may never set (they are the token's own). */
static const char *const reserved[] = {
	"iss", "sub", "aud", "iat", "exp", "nbf", "azp", "jti", "nonce",
	"password_hash", NULL,
};

/*
 * The named connection: exists and is enabled for the client.  NULL with
 * the legacy error written.
 */
static json_t *
ro_connection(struct grant_req *g, const char *name)
{
	return grant_connection(g, name, OERR_RO_CONNECTION_NOT_FOUND,
	    OERR_RO_CONNECTION_DISABLED);
}

/* A passwordless connection: the password is the code.  The user, or
 * NULL with the result's legacy row written. */
static json_t *
ro_code(struct grant_req *g, const struct conn *conn, enum pwl_strategy s)
{
	json_t	*user = NULL;

	switch (pwl_exchange(g, conn, g->p.v[F_USERNAME], g->p.v[F_PASSWORD],
	    &user)) {
	case PWL_OK:
		return user;
	case PWL_WRONG:
		oerr_write(g->resp, wrong_code[s], NULL);
		break;
	case PWL_BLOCKED:
		oerr_write(g->resp, OERR_USER_BLOCKED, NULL);
		break;
	case PWL_THROTTLED:
		break;
	default:
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		break;
	}
	return NULL;
}

/* grant_type=password (the seed's database and SMS forms). */
static json_t *
ro_password(struct grant_req *g)
{
	json_t			*conn, *user = NULL;
	struct conn		 c;
	enum pwl_strategy	 s;
	int			 rc;

	if (g->p.v[F_USERNAME] == NULL || *g->p.v[F_USERNAME] == '\0')
		return oerr_write(g->resp, OERR_RO_MISSING_USERNAME, NULL), NULL;
	if (g->p.v[F_PASSWORD] == NULL || *g->p.v[F_PASSWORD] == '\0')
		return oerr_write(g->resp, OERR_RO_MISSING_PASSWORD, NULL), NULL;
	if (g->p.v[F_CONNECTION] == NULL || *g->p.v[F_CONNECTION] == '\0')
		return oerr_write(g->resp, OERR_RO_MISSING_CONNECTION, NULL), NULL;
	if ((conn = ro_connection(g, g->p.v[F_CONNECTION])) == NULL)
		return NULL;
	rc = record_parse(REC_CONNECTION, conn, &c);
	json_decref(conn);
	if (rc == -1)
		return oerr_write(g->resp, OERR_SERVER_ERROR, NULL), NULL;
	if ((s = pwl_strategy(&c)) != PWL__MAX)
		user = ro_code(g, &c, s);
	else if (c.name != NULL && c.strategy == STRATEGY_AUTH0)
		user = grant_password_user(g, c.name, OERR_RO_WRONG_PASSWORD);
	else
		oerr_write(g->resp, OERR_REALM_STRATEGY, NULL);
	record_clear(REC_CONNECTION, &c);
	return user;
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
static json_t *
ro_jwt_bearer(struct grant_req *g)
{
	json_t		*claims, *conn = NULL, *user = NULL;
	const char	*uconn, *name = g->p.v[F_CONNECTION];

	if (g->p.v[F_DEVICE] == NULL || *g->p.v[F_DEVICE] == '\0')
		return oerr_write(g->resp, OERR_RO_MISSING_DEVICE, NULL), NULL;
	if (g->p.v[F_ID_TOKEN] == NULL || *g->p.v[F_ID_TOKEN] == '\0')
		return oerr_write(g->resp, OERR_RO_MISSING_ID_TOKEN, NULL), NULL;
	if (name != NULL && (conn = ro_connection(g, name)) == NULL)
		return NULL;
	if ((claims = id_token_claims(g)) == NULL) {
		oerr_write(g->resp, OERR_RO_BAD_ID_TOKEN, NULL);
		goto out;
	}
	if (store_get(g->ctx->store, NULL, SK_USER, json_string_value(
	    json_object_get(claims, "sub")), &user) != STORE_OK) {
		oerr_write(g->resp, OERR_RO_BAD_ID_TOKEN, NULL);
		goto out;
	}
	uconn = json_string_value(json_object_get(user, "connection"));
	if ((name != NULL && (uconn == NULL || strcmp(uconn, name) != 0)) ||
	    json_integer_value(json_object_get(claims, "iat")) <=
	    json_integer_value(json_object_get(user, "password_set_at"))) {
		oerr_write(g->resp, OERR_RO_BAD_ID_TOKEN, NULL);
		json_decref(user);
		user = NULL;
	} else if (json_is_true(json_object_get(user, "blocked"))) {
		oerr_write(g->resp, OERR_USER_BLOCKED, NULL);
		json_decref(user);
		user = NULL;
	}
out:
	json_decref(claims);
	json_decref(conn);
	return user;
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

/* OIDC scope names and the flag each sets. */
enum rs { RS_OPENID, RS_PROFILE, RS_EMAIL, RS_PHONE, RS_ADDRESS, RS_OFFLINE,
	RS__MAX };
static const char *const rs_names[RS__MAX] = {
	"openid", "profile", "email", "phone", "address", "offline_access",
};

static int
rs_find(const char *s, size_t n)
{
	int	 i;

	for (i = 0; i < RS__MAX; i++)
		if (strlen(rs_names[i]) == n && memcmp(rs_names[i], s, n) == 0)
			return i;
	return -1;
}

/*
 * Unlike /oauth/token, "openid" alone releases only the base claims;
 * profile, email, phone and address release their standard claims; any
 * other token is an attribute name (AUTH0-BEHAVIOUR.md 1 "Request
 * parameters": the legacy pipeline made requested attributes claims).
 */
static int
ro_scope_parse(const char *scope, struct ro_scope *rs)
{
	int	*flags[RS__MAX];
	size_t	 n, i;
	int	 f;

	memset(rs, 0, sizeof(*rs));
	buf_init(&rs->norm);
	flags[RS_OPENID] = &rs->sr.openid;
	flags[RS_PROFILE] = &rs->sr.profile;
	flags[RS_EMAIL] = &rs->sr.email;
	flags[RS_PHONE] = &rs->sr.phone;
	flags[RS_ADDRESS] = &rs->sr.address;
	flags[RS_OFFLINE] = &rs->sr.offline_access;
	while (*scope != '\0' && rs->ntok < RO_SCOPE_MAX) {
		scope += strspn(scope, " ");
		if ((n = strcspn(scope, " ")) == 0)
			break;
		for (i = 0; i < rs->ntok; i++)
			if (rs->tlen[i] == n && memcmp(rs->tok[i], scope, n) == 0)
				break;
		if (i == rs->ntok) {
			if ((f = rs_find(scope, n)) >= 0)
				*flags[f] = 1;
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
attribute_claim(json_t *claims, const json_t *user, const char *s, size_t n)
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
	if ((v = json_object_get(user, name)) == NULL &&
	    (v = json_object_get(json_object_get(user, "app_metadata"), name)) == NULL)
		v = json_object_get(json_object_get(user, "user_metadata"), name);
	if (v != NULL && !json_is_null(v))
		json_object_set(claims, name, (json_t *)v);
}

/* The legacy ID token: always RS256 (or the tenant key's algorithm): no
 * secret was presented to key an HS256 one. */
static char *
ro_id_token(struct grant_req *g, const json_t *key, const json_t *user,
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
	claims = json_pack("{s:s, s:O, s:s, s:I, s:I}", "iss", issuer,
	    "sub", json_object_get(user, "user_id"),
	    "aud", g->client.client_id, "iat", (json_int_t)g->req->now,
	    "exp", (json_int_t)g->req->now + lifetime);
	if (claims == NULL)
		return NULL;
	for (i = 0; i < rs->ntok; i++)
		if (rs_find(rs->tok[i], rs->tlen[i]) < 0)
			attribute_claim(claims, user, rs->tok[i], rs->tlen[i]);
	/* Standard claims last: an attribute scope cannot fake them. */
	grant_scope_claims(claims, user, &rs->sr);
	if (token_sign(key, claims, &out) == -1)
		out = NULL;
	json_decref(claims);
	return out;
}

/* Write the legacy 200.  -1 with the error written. */
static int
ro_issue(struct grant_req *g, const json_t *user)
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
	uid = json_string_value(json_object_get(user, "user_id"));
	if (uid == NULL || ro_scope_parse(scope, &rs) == -1)
		goto fail;
	if (opaque_issue(g->ctx, uid, g->client.client_id, rs.norm.p,
	    g->req->now, RO_ACCESS_LIFETIME, at, sizeof(at)) == -1)
		goto fail;
	if (rs.sr.openid && ((key = grant_key(g)) == NULL ||
	    (idt = ro_id_token(g, key, user, &rs)) == NULL))
		goto fail;
	/* Legacy refresh tokens: offline_access and a device (SPEC.md), and
	 * the client's refresh_token grant (AUTH0-BEHAVIOUR.md 5). */
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
	/* The legacy shape has no "scope" member. */
	if (grant_respond(g->resp, at, RO_ACCESS_LIFETIME, idt,
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

static enum ro_grant
ro_grant_find(const char *s)
{
	size_t	 i;

	for (i = 0; i < RO__MAX; i++)
		if (strcmp(ro_grants[i].wire, s) == 0)
			return (enum ro_grant)i;
	return RO__MAX;
}

/* The client named by client_id, unauthenticated.  -1 with the error. */
static int
ro_client(struct grant_req *g)
{
	const char	*id = g->p.v[F_CLIENT_ID];

	if (id == NULL || *id == '\0')
		return oerr_write(g->resp, OERR_RO_MISSING_CLIENT_ID, NULL), -1;
	log_escape(g->resp->client_id, sizeof(g->resp->client_id), id);
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

void
ro_endpoint(struct lk_ctx *ctx, const struct lk_req *req, struct lk_resp *resp)
{
	struct grant_req	 g;
	json_t			*user = NULL;
	enum ro_grant		 gt = RO__MAX;

	memset(&g, 0, sizeof(g));
	g.ctx = ctx;
	g.req = req;
	g.resp = resp;
	params_init(&g.p);
	snprintf(resp->grant, sizeof(resp->grant), "ro");
	if (decode_body(req, RO_FIELDS, &g.p, resp) == -1)
		goto out;
	if (ctx_tenant(ctx, &g.tenant) == -1) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	if (ro_client(&g) == -1)
		goto out;
	if (g.p.v[F_GRANT_TYPE] == NULL) {
		oerr_write(resp, OERR_RO_MISSING_GRANT_TYPE, NULL);
		goto out;
	}
	if ((gt = ro_grant_find(g.p.v[F_GRANT_TYPE])) == RO__MAX) {
		oerr_write(resp, OERR_RO_GRANT_TYPE, g.p.v[F_GRANT_TYPE]);
		goto out;
	}
	snprintf(resp->grant, sizeof(resp->grant), "%s", ro_grants[gt].log);
	g.grant = ro_grants[gt].client_grant;
	g.gty = ro_grants[gt].log;
	/* The tenant's "Legacy /oauth/ro Endpoint" switch: off looks to
	 * clients like a client without the legacy grant. */
	if (!g.tenant.allow_legacy_ro) {
		lk_info("/oauth/ro refused: tenant allow_legacy_ro is false");
		oerr_write(resp, OERR_GRANT_NOT_ALLOWED, RO_GRANT);
		goto out;
	}
	if (!client_grant_allowed(&g.client.rec,
	    grant_type_find(g.grant, GT_CLIENT))) {
		oerr_write(resp, OERR_GRANT_NOT_ALLOWED, g.grant);
		goto out;
	}
	/* No secret here, so auth0-forwarded-for is never honoured. */
	if (guard_ip(req, &g.client, GUARD_EP_RO, &g.who, resp) == -1 ||
	    guard_endpoint(ctx, &g.tenant, &g.who, req->now, resp) == -1)
		goto out;
	if ((user = ro_grants[gt].run(&g)) == NULL)
		goto out;
	ro_issue(&g, user);
out:
	json_decref(user);
	client_clear(&g.client);
	params_clear(&g.p);
	json_decref(g.key);
	record_clear(REC_TENANT, &g.tenant);
}
