/*
 * grant_type=refresh_token at /oauth/token (docs/COMPAT.md 5.2; RFC 6749
 * 6).  The client has authenticated as for the password grant and holds
 * the refresh_token grant (grant.c).  The token, its user, its API and
 * the scope asked for are checked, and the token spent or touched, in one
 * transaction (refresh.c); then a new access token, an ID token when
 * openid remains in the scope, and with rotation the successor refresh
 * token.  Whatever can refuse the request deterministically is checked
 * before the rotation commits; only a failure to sign (ENOMEM, a broken
 * key) can still lose a rotating client its session.  The response
 * always echoes "scope" (Auth0 does).
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
	[REFRESH_NO_API] = OERR_SERVICE_NOT_FOUND,	/* %s: the audience */
	[REFRESH_DPOP_KEY] = OERR_REFRESH_DPOP_KEY,
	[REFRESH_DPOP_REQUIRED] = OERR_DPOP_PROOF,	/* %s: the text */
	[REFRESH_ERR] = OERR_SERVER_ERROR,
};

/*
 * What grant_issue() needs that a request cannot change: the issuer and a
 * signing key.  Checked before the token is spent, so that a tenant
 * without them does not cost the client its session (the rotation
 * commits before signing).  -1 with 500 written.
 */
static int
issue_ready(struct grant_req *g)
{
	if (g->tenant.issuer == NULL ||
	    grant_key(g) == NULL) {
		lk_err("no issuer or signing key: refresh refused unspent");
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return -1;
	}
	return 0;
}

void
grant_refresh(struct grant_req *g)
{
	struct refresh_use	 u;
	struct scope_result	 sr;
	enum refresh_rc		 rc;

	memset(&sr, 0, sizeof(sr));
	refresh_use_init(&u);
	if (g->p.v[F_REFRESH_TOKEN] == NULL || *g->p.v[F_REFRESH_TOKEN] == '\0') {
		oerr_write(g->resp, OERR_MISSING_PARAM, "refresh_token");
		goto out;
	}
	if (issue_ready(g) == -1)
		goto out;
	u.token = g->p.v[F_REFRESH_TOKEN];
	u.clientrec = &g->client.rec;
	u.scope = g->p.v[F_SCOPE];
	u.jkt = g->jkt[0] != '\0' ? g->jkt : NULL;
	u.now = g->req->now;
	/* The rotation's commit is synced after the tokens are signed,
	 * together with the commits other responders made meanwhile. */
	u.defer_flush = 1;
	/* The token's API and the scope are checked inside the redeeming
	 * transaction: a refusal leaves the token unspent. */
	if ((rc = refresh_redeem(g->ctx->store, &u)) != REFRESH_OK) {
		oerr_write(g->resp, refresh_errs[rc],
		    rc == REFRESH_DPOP_REQUIRED ? dpop_err_text(DPOP_MISSING) :
		    rc != REFRESH_NO_API ? NULL :
		    json_string_value(json_object_get(u.rec, "audience")));
		goto out;
	}
	/* The flags of the scope refresh_redeem() granted (scope.c). */
	if (scope_narrow(u.granted.p, NULL, &sr) == -1) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	sr.differs = 1;
	g->refreshing = 1;
	if (u.next[0] != '\0')
		memcpy(g->refresh, u.next, sizeof(g->refresh));
	grant_issue(g, &u.user, &u.api, &sr);
out:
	/* docs/security.md "Durability": nothing of the redeeming
	 * transaction is answered before it is on disk. */
	if (refresh_flush(g->ctx->store, &u) == -1)
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
	scope_result_clear(&sr);
	refresh_use_clear(&u);
}
