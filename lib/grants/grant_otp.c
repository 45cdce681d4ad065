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
	json_t	*conn;

	conn = grant_connection(g, g->p.v[F_REALM], OERR_UNKNOWN_REALM,
	    OERR_REALM_NOT_ENABLED);
	if (conn == NULL)
		return NULL;
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
	json_t			*api = NULL, *conn = NULL, *user = NULL;
	enum pwl_strategy	 s;
	static const enum field	 required[] = { F_REALM, F_USERNAME, F_OTP };
	size_t			 i;

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
	if ((user = pwl_exchange(g, conn, s, g->p.v[F_USERNAME], g->p.v[F_OTP],
	    wrong[s])) == NULL)
		goto out;
	grant_issue_login(g, user, api);
out:
	json_decref(user);
	json_decref(conn);
	json_decref(api);
}
