/*
 * POST /oauth/token (docs/COMPAT.md 3, 5): decode the body through the
 * field table, look the grant_type up in the grant-type table
 * (granttype.c, GT_AT_TOKEN), authenticate the client, check that the
 * client may use the grant, then run the grant (grant_password.c,
 * grant_otp.c, grant_refresh.c, mfa/grant_mfa.c), which issues the
 * tokens (issue.c).
 * Before the grant runs: the resource parameter (docs/COMPAT.md 10.6)
 * and the DPoP proof (grant_dpop.c, docs/COMPAT.md 10.2).
 * The endpoint's wire errors for the results the grants share are the
 * token_errs table here.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

/* Every field any grant at /oauth/token reads. */
#define TOKEN_FIELDS (FIELD_BIT(F_GRANT_TYPE) | FIELD_BIT(F_CLIENT_ID) | \
	FIELD_BIT(F_CLIENT_SECRET) | FIELD_BIT(F_CLIENT_ASSERTION) | \
	FIELD_BIT(F_CLIENT_ASSERTION_TYPE) | FIELD_BIT(F_USERNAME) | \
	FIELD_BIT(F_PASSWORD) | FIELD_BIT(F_AUDIENCE) | FIELD_BIT(F_SCOPE) | \
	FIELD_BIT(F_REALM) | FIELD_BIT(F_OTP) | FIELD_BIT(F_REFRESH_TOKEN) | \
	FIELD_BIT(F_RESOURCE) | FIELD_BIT(F_MFA_TOKEN) | \
	FIELD_BIT(F_RECOVERY_CODE) | FIELD_BIT(F_OOB_CODE) | \
	FIELD_BIT(F_BINDING_CODE))

/* The grant each GT_AT_TOKEN grant type runs. */
static void (*const run[GT__MAX])(struct grant_req *) = {
	[GT_PASSWORD] = grant_password,
	[GT_PASSWORD_REALM] = grant_password,
	[GT_OTP] = grant_otp,		/* docs/COMPAT.md 3.1 */
	[GT_REFRESH] = grant_refresh,	/* docs/COMPAT.md 5.2 */
	[GT_MFA_OTP] = grant_mfa_otp,	/* docs/COMPAT.md 13.4 */
	[GT_MFA_OOB] = grant_mfa_oob,
	[GT_MFA_RECOVERY] = grant_mfa_recovery,
};

/* docs/COMPAT.md 3.6; 9.4 (blocked), 9.5 (unknown user), 9.7 (busy). */
const struct grant_errs token_errs = {
	.conn = {
		[CONN_OK] = OERR__MAX,
		[CONN_UNKNOWN] = OERR_UNKNOWN_REALM,
		[CONN_DISABLED] = OERR_REALM_NOT_ENABLED,
		[CONN_STRATEGY] = OERR_REALM_STRATEGY,
		[CONN_ERR] = OERR_SERVER_ERROR,
	},
	.aud = {
		[AUD_OK] = OERR__MAX,
		[AUD_UNKNOWN] = OERR_SERVICE_NOT_FOUND,
		[AUD_ERR] = OERR_SERVER_ERROR,
	},
	.login = {
		[LOGIN_OK] = OERR__MAX,
		[LOGIN_WRONG] = OERR_WRONG_CREDENTIALS,
		[LOGIN_BLOCKED] = OERR_USER_BLOCKED,
		[LOGIN_LEAKED] = OERR_PASSWORD_LEAKED,
		[LOGIN_BUSY] = OERR__MAX,
		[LOGIN_THROTTLED] = OERR__MAX,
		[LOGIN_ERR] = OERR_SERVER_ERROR,
		[LOGIN_MFA] = OERR_UPSTREAM_MFA,
		[LOGIN_UPSTREAM] = OERR__MAX,
		[LOGIN_PW_CHANGE] = OERR_PASSWORD_CHANGE,
	},
	.code = {
		[STRATEGY_AUTH0] = OERR_WRONG_CREDENTIALS,
		[STRATEGY_SMS] = OERR_OTP_WRONG_PHONE_CODE,
		[STRATEGY_EMAIL] = OERR_OTP_WRONG_EMAIL_CODE,
		[STRATEGY_WAAD] = OERR_WRONG_CREDENTIALS,
		[STRATEGY_ADFS] = OERR_WRONG_CREDENTIALS,
		[STRATEGY_AD] = OERR_WRONG_CREDENTIALS,
	},
};

/*
 * The client may use the grant: grant_type=password with a realm is
 * password-realm (auth0-auth-js sends it so, docs/COMPAT.md 3.1), and
 * either grant on the client will do.
 */
static int
grant_allowed(const struct grant_req *g)
{

	if (client_grant_allowed(&g->client.rec, (int)g->gt))
		return 1;
	return g->gt == GT_PASSWORD && g->p.v[F_REALM] != NULL &&
	    client_grant_allowed(&g->client.rec, GT_PASSWORD_REALM);
}

/* RFC 3986 4.3: an absolute URI; RFC 8707 2: no fragment. */
static int
absolute_uri(const char *s)
{
	size_t	 n;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return 0;
	n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789+-.");
	return s[n] == ':' && s[n + 1] != '\0' && strchr(s, '#') == NULL;
}

/*
 * The resource parameter (RFC 8707 2), read only under Auth0's Resource
 * Parameter Compatibility Profile, where it names the API as audience
 * does (grant_audience).  Both given and different: RFC 8707 2's
 * invalid_target, rather than Auth0's documented choice of audience
 * (docs/COMPAT.md 10.6).  -1 with the error written.
 */
static int
resource_check(struct grant_req *g)
{
	const char	*res = g->p.v[F_RESOURCE], *aud = g->p.v[F_AUDIENCE];

	if (res == NULL ||
	    g->tenant.resource_profile != DPOP_RESPROF_COMPAT)
		return 0;
	if (!absolute_uri(res)) {
		oerr_write(g->resp, OERR_INVALID_TARGET, "The resource "
		    "parameter must be an absolute URI without a fragment");
		return -1;
	}
	if (aud != NULL && *aud != '\0' && strcmp(aud, res) != 0) {
		oerr_write(g->resp, OERR_INVALID_TARGET, "The resource and "
		    "audience parameters name different APIs");
		return -1;
	}
	return 0;
}

void
token_endpoint(struct lk_ctx *ctx, const struct lk_req *req, struct lk_resp *resp)
{
	struct grant_req	 g;
	struct admit		 adm;
	const char		*type;

	memset(&g, 0, sizeof(g));
	g.ctx = ctx;
	g.req = req;
	g.resp = resp;
	params_init(&g.p);
	if (decode_body(req, TOKEN_FIELDS, &g.p, resp) == -1)
		goto out;
	if ((type = g.p.v[F_GRANT_TYPE]) == NULL) {
		oerr_write(resp, OERR_MISSING_PARAM, "grant_type");
		goto out;
	}
	if ((g.gt = grant_type_find(type, GT_AT_TOKEN)) == GT__MAX ||
	    run[g.gt] == NULL) {
		log_escape(resp->grant, sizeof(resp->grant), type);
		oerr_write(resp, OERR_UNSUPPORTED_GRANT, type);
		goto out;
	}
	g.grant = grant_type_def(g.gt)->uri;
	g.gty = grant_type_def(g.gt)->gty;
	snprintf(resp->grant, sizeof(resp->grant), "%s", g.gty);
	if (ctx_tenant(ctx, &g.tenant) == -1) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	/* A login storm is refused on arrival, before anything is read: the
	 * same answer for any client and user (admit.c). */
	if (run[g.gt] == grant_password &&
	    admit_arrive(ctx, &g.tenant, &adm) == ADMIT_BUSY) {
		admit_shed(resp, &adm);
		goto out;
	}
	if (client_authenticate(ctx, &g.tenant, req, &g.p, &g.client, resp) == -1)
		goto out;
	if (!grant_allowed(&g)) {
		oerr_write(resp, OERR_GRANT_NOT_ALLOWED, g.grant);
		goto out;
	}
	/* The end-user IP and the endpoint's rate limit (guard.c). */
	if (guard_ip(req, &g.client, GUARD_EP_TOKEN, &g.who, resp) == -1 ||
	    guard_endpoint(ctx, &g.tenant, &g.who, req->now, resp) == -1)
		goto out;
	if (resource_check(&g) == -1 || grant_dpop(&g) == -1)
		goto out;
	run[g.gt](&g);
out:
	admit_depart();
	grant_dpop_nonce_header(&g);
	OPENSSL_cleanse(g.refresh, sizeof(g.refresh));
	client_clear(&g.client);
	params_clear(&g.p);
	json_decref(g.key);
	record_clear(REC_TENANT, &g.tenant);
}
