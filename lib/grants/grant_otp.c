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
 * -1 with the error written (the rows password-realm uses). */
static int
realm_connection(struct grant_req *g, struct conn *c)
{
	json_t	*conn;
	int	 rc;

	conn = grant_connection(g, g->p.v[F_REALM], OERR_UNKNOWN_REALM,
	    OERR_REALM_NOT_ENABLED);
	if (conn == NULL)
		return -1;
	rc = record_parse(REC_CONNECTION, conn, c);
	json_decref(conn);
	if (rc == -1)
		return oerr_write(g->resp, OERR_SERVER_ERROR, NULL), -1;
	if (pwl_strategy(c) == PWL__MAX)
		return oerr_write(g->resp, OERR_REALM_STRATEGY, NULL), -1;
	return 0;
}

void
grant_otp(struct grant_req *g)
{
	json_t			*api = NULL, *user = NULL;
	struct conn		 conn;
	static const enum field	 required[] = { F_REALM, F_USERNAME, F_OTP };
	size_t			 i;

	memset(&conn, 0, sizeof(conn));

	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (g->p.v[required[i]] == NULL || *g->p.v[required[i]] == '\0') {
			oerr_write(g->resp, OERR_MISSING_PARAM,
			    field_name(required[i]));
			return;
		}
	if (grant_audience(g, &api) == -1)
		return;
	if (realm_connection(g, &conn) == -1)
		goto out;
	switch (pwl_exchange(g, &conn, g->p.v[F_USERNAME], g->p.v[F_OTP],
	    &user)) {
	case PWL_OK:
		grant_issue_login(g, user, api);
		break;
	case PWL_WRONG:
		oerr_write(g->resp, wrong[pwl_strategy(&conn)], NULL);
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
out:
	json_decref(user);
	record_clear(REC_CONNECTION, &conn);
	json_decref(api);
}
