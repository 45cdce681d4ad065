/*
 * The passwordless code exchange at /oauth/token:
 * grant_type=http://auth0.com/oauth/grant-type/passwordless/otp with
 * realm ("sms" or "email": the connection), username (the phone number
 * or email) and otp (the code from /passwordless/start).
 * (AUTH0-BEHAVIOUR.md 3 "Passwordless OTP grant".)  The client has
 * already authenticated and been allowed the grant (grant.c).  A wrong,
 * expired, used or superseded code is 403 invalid_grant with the text
 * Auth0's SDKs recognise for the strategy.
 */
#include <string.h>

#include "extern.h"

/* The wrong-code error of each strategy. */
static const enum oerr wrong[PWL__MAX] = {
	[PWL_SMS] = OERR_OTP_WRONG_PHONE_CODE,
	[PWL_EMAIL] = OERR_OTP_WRONG_EMAIL_CODE,
};

/* The realm's connection: exists, enabled for the client, passwordless.
 * NULL with the error written (the rows password-realm uses). */
static json_t *
realm_connection(struct grant_req *g, enum pwl_strategy *s)
{
	const char	*name = g->p.v[F_REALM];
	json_t		*conn = NULL, *v;
	size_t		 i;
	int		 enabled = 0;

	switch (store_get(g->ctx->store, NULL, SK_CONNECTION, name, &conn)) {
	case STORE_OK:
		break;
	case STORE_NOTFOUND:
		oerr_write(g->resp, OERR_UNKNOWN_REALM, name);
		return NULL;
	default:
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return NULL;
	}
	json_array_foreach(json_object_get(conn, "enabled_clients"), i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), g->client.client_id) == 0)
			enabled = 1;
	if (!enabled) {
		oerr_write(g->resp, OERR_REALM_NOT_ENABLED, name);
		json_decref(conn);
		return NULL;
	}
	if ((*s = pwl_strategy(conn)) == PWL__MAX) {
		oerr_write(g->resp, OERR_REALM_STRATEGY, NULL);
		json_decref(conn);
		return NULL;
	}
	return conn;
}

void
grant_otp(struct grant_req *g)
{
	struct scope_result	 sr;
	json_t			*api = NULL, *conn = NULL, *user = NULL;
	enum pwl_strategy	 s;
	char			 recipient[PWL_RECIPIENT_MAX + 1];
	static const enum field	 required[] = { F_REALM, F_USERNAME, F_OTP };
	size_t			 i;

	memset(&sr, 0, sizeof(sr));
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (g->p.v[required[i]] == NULL || *g->p.v[required[i]] == '\0') {
			oerr_write(g->resp, OERR_MISSING_PARAM,
			    field_name(required[i]));
			return;
		}
	if (grant_audience(g, &api) == -1)
		return;
	if ((conn = realm_connection(g, &s)) == NULL)
		goto out;
	/* A username that cannot be a phone or email matches no code. */
	if (pwl_recipient(s, g->p.v[F_USERNAME], recipient,
	    sizeof(recipient)) == -1) {
		oerr_write(g->resp, wrong[s], NULL);
		goto out;
	}
	/* Attack protection counts the recipient as the identifier. */
	if (guard_before(g->ctx, g->tenant, &g->who, recipient, g->req->now,
	    g->resp) == -1)
		goto out;
	switch (pwl_verify(g->ctx, conn, recipient, g->p.v[F_OTP],
	    g->client.client_id, g->req->now, &user)) {
	case PWL_OK:
		guard_after(g->ctx, g->tenant, &g->who, recipient,
		    json_string_value(json_object_get(user, "user_id")),
		    GUARD_EV_SUCCESS, g->req->now);
		break;
	case PWL_WRONG:
		guard_after(g->ctx, g->tenant, &g->who, recipient, NULL,
		    GUARD_EV_WRONG_CODE, g->req->now);
		oerr_write(g->resp, wrong[s], NULL);
		goto out;
	case PWL_BLOCKED:
		guard_after(g->ctx, g->tenant, &g->who, recipient, NULL,
		    GUARD_EV_USER_BLOCKED, g->req->now);
		oerr_write(g->resp, OERR_USER_BLOCKED, NULL);
		goto out;
	default:
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	/* As the password grants: offline_access needs the refresh_token
	 * grant too (AUTH0-BEHAVIOUR.md 5). */
	if (scope_resolve(g->p.v[F_SCOPE], api,
	    client_grant_allowed(g->client.rec, "refresh_token"), &sr) == -1) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	grant_issue(g, user, api, &sr);
out:
	scope_result_clear(&sr);
	json_decref(user);
	json_decref(conn);
	json_decref(api);
}
