/*
 * The passwordless code exchange at /oauth/token:
 * grant_type=http://auth0.com/oauth/grant-type/passwordless/otp with
 * realm ("sms" or "email": the connection), username (the phone number
 * or email) and otp (the code from /passwordless/start)
 * (docs/COMPAT.md 3.1).  The client has already authenticated and been
 * allowed the grant (grant.c).  A wrong, expired, used or superseded code
 * is 403 invalid_grant with the text Auth0's SDKs recognise for the
 * strategy (docs/COMPAT.md 3.6).
 */
#include <string.h>

#include "extern.h"

/* The realm's connection: exists, enabled for the client, passwordless. */
static enum conn_rc
realm_connection(struct grant_req *g, struct conn *c)
{
	enum conn_rc	 rc;

	if ((rc = grant_connection(g, g->p.v[F_REALM], c)) != CONN_OK)
		return rc;
	if (pwl_strategy(c) != PWL__MAX)
		return CONN_OK;
	record_clear(REC_CONNECTION, c);
	return CONN_STRATEGY;
}

void
grant_otp(struct grant_req *g)
{
	static const enum field	 required[] = { F_REALM, F_USERNAME, F_OTP };
	struct api		 api;
	struct conn		 conn;
	struct user		 user;
	const char		*aud;
	enum aud_rc		 arc;
	enum conn_rc		 crc;
	enum login_rc		 lrc;
	size_t			 i;

	memset(&conn, 0, sizeof(conn));
	memset(&user, 0, sizeof(user));
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (g->p.v[required[i]] == NULL || *g->p.v[required[i]] == '\0') {
			oerr_write(g->resp, OERR_MISSING_PARAM,
			    field_name(required[i]));
			return;
		}
	if ((arc = grant_audience(g, &api, &aud)) != AUD_OK) {
		grant_fail(g, token_errs.aud[arc], aud);
		return;
	}
	if ((crc = realm_connection(g, &conn)) != CONN_OK) {
		grant_fail(g, token_errs.conn[crc], g->p.v[F_REALM]);
		goto out;
	}
	lrc = grant_code_user(g, &conn, g->p.v[F_USERNAME], g->p.v[F_OTP],
	    &user);
	if (lrc != LOGIN_OK) {
		grant_fail(g, lrc == LOGIN_WRONG ?
		    token_errs.code[conn.strategy] : token_errs.login[lrc], NULL);
		goto out;
	}
	/* A second factor, once the first passed (docs/COMPAT.md 13.2). */
	if (mfa_gate(g, &user, conn.name) == -1)
		goto out;
	grant_issue_login(g, &user, &api);
out:
	record_clear(REC_USER, &user);
	record_clear(REC_CONNECTION, &conn);
	record_clear(REC_API, &api);
}
