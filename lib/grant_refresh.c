/*
 * grant_type=refresh_token at /oauth/token (AUTH0-BEHAVIOUR.md 5; RFC 6749
 * 6).  The client has authenticated as for the password grant and holds
 * the refresh_token grant (grant.c).  The token is checked, and spent or
 * touched, in one transaction (refresh.c); then a new access token, an ID
 * token when openid remains in the scope, and with rotation the successor
 * refresh token.  The response always echoes "scope" (Auth0 does).
 */
#include <string.h>

#include "extern.h"

/* The wire error for each refusal of refresh_redeem(). */
static const enum oerr refresh_errs[] = {
	[REFRESH_OK] = OERR_SERVER_ERROR,	/* not used */
	[REFRESH_INVALID] = OERR_REFRESH_INVALID,
	[REFRESH_REUSED] = OERR_REFRESH_INVALID,
	[REFRESH_USER_GONE] = OERR_REFRESH_USER_GONE,
	[REFRESH_USER_BLOCKED] = OERR_REFRESH_USER_BLOCKED,
	[REFRESH_SCOPE] = OERR_SCOPE_EXCEEDS,
	[REFRESH_ERR] = OERR_SERVER_ERROR,
};

/* The API the token was issued for; *api NULL for none.  -1 with the
 * wire error written when it has since been removed. */
static int
token_api(struct grant_req *g, const json_t *rec, json_t **api)
{
	const char	*aud = json_string_value(json_object_get(rec, "audience"));

	*api = NULL;
	if (aud == NULL)
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

void
grant_refresh(struct grant_req *g)
{
	struct refresh_use	 u;
	struct scope_result	 sr;
	json_t			*api = NULL;
	enum refresh_rc		 rc;

	memset(&sr, 0, sizeof(sr));
	refresh_use_init(&u);
	if (g->p.v[F_REFRESH_TOKEN] == NULL || *g->p.v[F_REFRESH_TOKEN] == '\0') {
		oerr_write(g->resp, OERR_MISSING_PARAM, "refresh_token");
		goto out;
	}
	u.token = g->p.v[F_REFRESH_TOKEN];
	u.clientrec = g->client.rec;
	u.scope = g->p.v[F_SCOPE];
	u.now = g->req->now;
	if ((rc = refresh_redeem(g->ctx->store, &u)) != REFRESH_OK) {
		oerr_write(g->resp, refresh_errs[rc], NULL);
		goto out;
	}
	if (token_api(g, u.rec, &api) == -1)
		goto out;
	/* The stored scope was granted already: narrowing only (scope.c). */
	if (scope_narrow(u.granted.p, NULL, &sr) == -1) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	sr.differs = 1;
	g->refreshing = 1;
	if (u.next[0] != '\0')
		memcpy(g->refresh, u.next, sizeof(g->refresh));
	grant_issue(g, u.user, api, &sr);
out:
	scope_result_clear(&sr);
	refresh_use_clear(&u);
	json_decref(api);
}
