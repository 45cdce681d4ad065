/*
 * The wire errors: one table of {error, status, error_description}, one
 * writer.  Texts and statuses are Auth0's as docs/COMPAT.md records them
 * (each endpoint's section lists its errors), with latchkey's decisions
 * of docs/COMPAT.md 7 and 9 where Auth0's record is open.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

struct oerr_row {
	const char	*code;		/* "error" member */
	int		 status;	/* HTTP status */
	const char	*desc;		/* "error_description"; may hold one %s */
};

static const struct oerr_row oerrs[OERR__MAX] = {
	/* docs/COMPAT.md 7.1: other content types are 400 invalid_request. */
	[OERR_BAD_CONTENT_TYPE] = { "invalid_request", 400,
	    "Content-Type must be application/json or application/x-www-form-urlencoded" },
	[OERR_MALFORMED_BODY] = { "invalid_request", 400,
	    "Malformed request body: %s" },
	/* docs/COMPAT.md 7.1: bodies over 64 KiB are 413 with a JSON body. */
	[OERR_BODY_TOO_LARGE] = { "invalid_request", 413,
	    "Request body too large" },
	[OERR_DUPLICATE_PARAM] = { "invalid_request", 400,
	    "Parameter %s must not be given more than once" },
	/* docs/COMPAT.md 7.2; Auth0 /oauth/ro: "scope parameter must be a
	 * string". */
	[OERR_PARAM_TYPE] = { "invalid_request", 400,
	    "%s parameter must be a string" },
	[OERR_PARAM_TOO_LONG] = { "invalid_request", 400,
	    "%s parameter is too long" },
	/* docs/COMPAT.md 3.6: missing parameters at /oauth/token. */
	[OERR_MISSING_PARAM] = { "invalid_request", 400,
	    "Missing required parameter: %s" },
	/* RFC 6749 5.2; the text is Auth0's own (Auth0.swift#82 quotes
	 * "Unsupported grant type: refresh_token"). */
	[OERR_UNSUPPORTED_GRANT] = { "unsupported_grant_type", 400,
	    "Unsupported grant type: %s" },
	/* docs/COMPAT.md 3.3: client authentication (observed). */
	[OERR_CLIENT_AUTH] = { "access_denied", 401,
	    "Unauthorized" },
	/* RFC 6749 2.3: a client MUST NOT use more than one method. */
	[OERR_MULTIPLE_AUTH] = { "invalid_request", 400,
	    "Only one client authentication method may be used per request" },
	/* RFC 7523 2.2 / RFC 7521 4.2. */
	[OERR_ASSERTION_TYPE] = { "invalid_request", 400,
	    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer" },
	/* docs/COMPAT.md 3.3: 403, auth0-java#165. */
	[OERR_GRANT_NOT_ALLOWED] = { "unauthorized_client", 403,
	    "Grant type '%s' not allowed for the client." },
	/* docs/COMPAT.md 3.2 (observed third-party). */
	[OERR_NO_DEFAULT_CONNECTION] = { "server_error", 500,
	    "Authorization server not configured with default connection." },
	/* /co/authenticate's wording (docs/COMPAT.md 3.6). */
	[OERR_UNKNOWN_REALM] = { "invalid_request", 400,
	    "Unknown realm %s." },
	[OERR_REALM_NOT_ENABLED] = { "unauthorized_client", 403,
	    "The connection %s is not enabled for this client." },
	/* Auth0 /oauth/ro error table (docs/COMPAT.md 1.6, 3.6). */
	[OERR_REALM_STRATEGY] = { "invalid_request", 400,
	    "specified strategy does not support requested operation" },
	/* docs/COMPAT.md 3.6: the same for an unknown user (9.5). */
	[OERR_WRONG_CREDENTIALS] = { "invalid_grant", 403,
	    "Wrong email or password." },
	/* docs/COMPAT.md 9.4: as /oauth/ro's admin-blocked user. */
	[OERR_USER_BLOCKED] = { "unauthorized", 401,
	    "user is blocked" },
	/* docs/COMPAT.md 3.4: an unknown audience. */
	[OERR_SERVICE_NOT_FOUND] = { "access_denied", 403,
	    "Service not found: %s" },
	[OERR_INVALID_SCOPE] = { "invalid_scope", 400,
	    "%s" },
	[OERR_NOT_FOUND] = { "not_found", 404,
	    "Not found" },
	/* Auth0 generic error table: 405 method_not_allowed (docs/COMPAT.md
	 * 7.4). */
	[OERR_METHOD_NOT_ALLOWED] = { "method_not_allowed", 405,
	    "Method not allowed" },
	[OERR_SERVER_ERROR] = { "server_error", 500,
	    "Internal server error" },
	[OERR_NOT_CONFIGURED] = { "server_error", 500,
	    "The authorization server is not configured" },
	/* docs/COMPAT.md 5.5: the 403 most clients observe. */
	[OERR_REFRESH_INVALID] = { "invalid_grant", 403,
	    "Unknown or invalid refresh token." },
	/* docs/COMPAT.md 5.5 (Auth0.Android isRefreshTokenDeleted). */
	[OERR_REFRESH_USER_GONE] = { "invalid_grant", 403,
	    "The refresh_token was generated for a user who doesn't exist anymore." },
	/* docs/COMPAT.md 5.5: refresh for a blocked user. */
	[OERR_REFRESH_USER_BLOCKED] = { "invalid_grant", 403,
	    "user is blocked" },
	/* RFC 6749 6 and 5.2: a refresh may narrow the scope, never widen
	 * it (Auth0's answer is not recorded). */
	[OERR_SCOPE_EXCEEDS] = { "invalid_scope", 400,
	    "The requested scope exceeds the scope granted by the resource owner" },
	/* RFC 7009 2.2.1 -> RFC 6749 5.2; Auth0's /oauth/revoke error table. */
	[OERR_INVALID_CLIENT] = { "invalid_client", 401,
	    "Client authentication failed" },
	/* RFC 6750 3.1: no credentials, no error code in WWW-Authenticate;
	 * the body says what Auth0's plain-text 401 says. */
	[OERR_USERINFO_NO_TOKEN] = { "unauthorized", 401,
	    "Unauthorized" },
	[OERR_USERINFO_TOKEN] = { "invalid_token", 401,
	    "%s" },
	[OERR_USERINFO_SCOPE] = { "insufficient_scope", 403,
	    "The access token was not granted the openid scope" },
	[OERR_USERINFO_REQUEST] = { "invalid_request", 400,
	    "Malformed Authorization header" },

	/*
	 * Legacy /oauth/ro: Auth0's /oauth/ro error table (docs/COMPAT.md
	 * 1.6), lowercase texts as Auth0 wrote them.  Where the table
	 * has no row (grant_type, id_token), latchkey's text keeps its style.
	 */
	[OERR_RO_MISSING_CLIENT_ID] = { "invalid_request", 400,
	    "missing client_id parameter" },
	[OERR_RO_MISSING_GRANT_TYPE] = { "invalid_request", 400,
	    "missing grant_type parameter" },
	[OERR_RO_GRANT_TYPE] = { "unsupported_grant_type", 400,
	    "grant_type must be password or "
	    "urn:ietf:params:oauth:grant-type:jwt-bearer, not %s" },
	[OERR_RO_MISSING_USERNAME] = { "invalid_request", 400,
	    "missing username parameter" },
	[OERR_RO_MISSING_PASSWORD] = { "invalid_request", 400,
	    "missing password parameter" },
	[OERR_RO_MISSING_CONNECTION] = { "invalid_request", 400,
	    "missing connection parameter" },
	[OERR_RO_MISSING_DEVICE] = { "invalid_request", 400,
	    "missing device parameter" },
	[OERR_RO_MISSING_ID_TOKEN] = { "invalid_request", 400,
	    "missing id_token parameter" },
	[OERR_RO_BAD_ID_TOKEN] = { "invalid_grant", 400,
	    "invalid id_token" },
	[OERR_RO_CONNECTION_NOT_FOUND] = { "invalid_request", 400,
	    "the connection was not found" },
	[OERR_RO_CONNECTION_DISABLED] = { "invalid_request", 400,
	    "the connection was disabled" },
	[OERR_RO_INVALID_CLIENT] = { "unauthorized_client", 403,
	    "invalid client" },
	[OERR_RO_WRONG_PASSWORD] = { "invalid_user_password", 401,
	    "Wrong email or password." },
	/* The pairing with invalid_user_password is observed (third-party). */
	[OERR_RO_WRONG_PHONE_CODE] = { "invalid_user_password", 401,
	    "Wrong phone number or verification code." },
	[OERR_RO_WRONG_EMAIL_CODE] = { "invalid_user_password", 401,
	    "Wrong email or verification code." },
	/* docs/COMPAT.md 3.6: the passwordless/otp grant's texts. */
	[OERR_OTP_WRONG_PHONE_CODE] = { "invalid_grant", 403,
	    "Wrong phone number or verification code." },
	[OERR_OTP_WRONG_EMAIL_CODE] = { "invalid_grant", 403,
	    "Wrong email or verification code." },

	/*
	 * POST /passwordless/start: Auth0's legacy bad.* errors
	 * (docs/COMPAT.md 2.5, old docs api/authentication/errors/
	 * _passwordless-start.md).  bad.email and bad.send have no row
	 * there: their texts follow the same schema validator's wording.
	 */
	[OERR_PWL_MISSING_CLIENT_ID] = { "bad.client_id", 400,
	    "Missing required property: client_id" },
	[OERR_PWL_MISSING_CONNECTION] = { "bad.connection", 400,
	    "Missing required property: connection" },
	[OERR_PWL_NO_CONNECTION] = { "bad.connection", 400,
	    "Connection does not exist" },
	[OERR_PWL_CONNECTION_DISABLED] = { "bad.connection", 400,
	    "Connection is disabled" },
	[OERR_PWL_STRATEGY] = { "bad.connection", 400,
	    "Invalid connection strategy. It must either be a passwordless connection" },
	[OERR_PWL_MISSING_PHONE] = { "bad.phone_number", 400,
	    "Missing required property: phone_number" },
	[OERR_PWL_BAD_PHONE] = { "bad.phone_number", 400,
	    "String does not match pattern: ^\\+[0-9]{1,15}$" },
	[OERR_PWL_MISSING_EMAIL] = { "bad.email", 400,
	    "Missing required property: email" },
	[OERR_PWL_BAD_EMAIL] = { "bad.email", 400,
	    "Object didn't pass validation for format email: %s" },
	[OERR_PWL_AUTHPARAMS] = { "bad.authParams", 400,
	    "error in authParams - invalid type: %s (expected object)" },
	[OERR_PWL_SEND] = { "bad.send", 400,
	    "No enum match for: %s" },
	/* latchkey has no /authorize, so no magic link can complete. */
	[OERR_PWL_SEND_LINK] = { "bad.send", 400,
	    "send must be \"code\": latchkey does not send magic links" },
	/* "<provider message> (Code: <code>)" */
	[OERR_PWL_SMS_PROVIDER] = { "sms_provider_error", 400,
	    "%s" },
	[OERR_PWL_EMAIL_PROVIDER] = { "email_provider_error", 400,
	    "%s" },
	/* Admission control for password hashing (admit.c, docs/COMPAT.md
	 * 9.7): RFC 6749 4.1.2.1's code for an overloaded server, with
	 * Retry-After. */
	[OERR_TEMPORARILY_UNAVAILABLE] = { "temporarily_unavailable", 503,
	    "Too many logins at once; retry after the Retry-After delay." },
	/* The database environment is being recovered after a responder
	 * died inside it (route.c, docs/COMPAT.md 7.5): nothing of the
	 * request was written. */
	[OERR_STORE_RECOVERING] = { "temporarily_unavailable", 503,
	    "The authorization server is recovering; retry after the Retry-After delay." },

	/*
	 * Attack protection (docs/COMPAT.md 6; guard.c).  The texts are
	 * Auth0's: password_leaked of /oauth/token (section 3) and of
	 * /oauth/ro (section 1, with its typographic apostrophe U+2019),
	 * brute force and suspicious IP (auth0.js, CTE attack protection),
	 * the generic rate limit (Authentication API, 429 too_many_requests).
	 */
	[OERR_PASSWORD_LEAKED] = { "password_leaked", 401,
	    "This login attempt has been blocked because the password you're "
	    "using was previously disclosed through a data breach (not in this "
	    "application). Please check your email for more information." },
	[OERR_RO_PASSWORD_LEAKED] = { "password_leaked", 401,
	    "This login has been blocked because your password has been leaked "
	    "in another website. We\xe2\x80\x99" /* U+2019 */ "ve sent you an "
	    "email with instructions "
	    "on how to unblock it." },
	[OERR_BRUTE_FORCE] = { "too_many_attempts", 429,
	    "Your account has been blocked after multiple consecutive login "
	    "attempts. We've sent you a notification via your preferred contact "
	    "method with instructions on how to unblock it." },
	[OERR_SUSPICIOUS_IP] = { "too_many_attempts", 429,
	    "We have detected suspicious login behavior and further attempts "
	    "will be blocked. Please contact the administrator." },
	[OERR_RATE_LIMIT] = { "too_many_requests", 429,
	    "Too many requests. Check the X-RateLimit-Limit, "
	    "X-RateLimit-Remaining and X-RateLimit-Reset headers." },
	/* Auth0's answer to a bad value is not on record (guard_net.c,
	 * docs/COMPAT.md 6.4). */
	[OERR_BAD_FORWARDED_FOR] = { "invalid_request", 400,
	    "auth0-forwarded-for must be one IPv4 or IPv6 address" },
	/* RFC 9449 5, 7.1, 8 and 12.2's codes; the descriptions name the
	 * failed check (dpop.c), Auth0's nonce text is its own
	 * (docs/COMPAT.md 10.2, 10.4). */
	[OERR_DPOP_PROOF] = { "invalid_dpop_proof", 400,
	    "%s" },
	[OERR_DPOP_NONCE] = { "use_dpop_nonce", 400,
	    "%s" },
	/* RFC 9449 5: a public client's bound refresh token needs a proof
	 * with its key; RFC 6749 5.2 invalid_grant (docs/COMPAT.md 10.5). */
	[OERR_REFRESH_DPOP_KEY] = { "invalid_grant", 400,
	    "The refresh token is bound to another DPoP key" },
	/* RFC 9449 7.1: a resource server's 401. */
	[OERR_USERINFO_DPOP_PROOF] = { "invalid_dpop_proof", 401,
	    "%s" },
	/* RFC 8707 2 (docs/COMPAT.md 10.6). */
	[OERR_INVALID_TARGET] = { "invalid_target", 400,
	    "%s" },
	/*
	 * Azure AD and ADFS connections (docs/COMPAT.md 12.5).  The
	 * upstream's own words are never sent on: they are logged.  An
	 * upstream that does not answer, answers with an error that is not
	 * about the credentials, or sends an id_token that does not verify
	 * is RFC 6749 4.1.2.1's temporarily_unavailable with Retry-After.
	 * MFA required upstream is 403 access_denied, not Auth0's
	 * mfa_required: that one promises an mfa_token for latchkey's own
	 * /mfa/challenge, and no SDK can finish the upstream's second
	 * factor through the password grant.
	 */
	[OERR_UPSTREAM_UNAVAILABLE] = { "temporarily_unavailable", 503,
	    "The connection's identity provider is unavailable; retry after "
	    "the Retry-After delay." },
	[OERR_UPSTREAM_UNVERIFIED] = { "temporarily_unavailable", 503,
	    "The connection's identity provider sent an answer that could "
	    "not be verified; retry after the Retry-After delay." },
	[OERR_UPSTREAM_MFA] = { "access_denied", 403,
	    "The connection's identity provider requires multi-factor "
	    "authentication, which the password grant cannot complete." },

	/*
	 * Multi-factor authentication (docs/COMPAT.md 13.6).  mfa_required
	 * is 403 (Auth0's MFA guide and SDKs); the mfa_token, otp and
	 * enrolment texts are those Auth0's SDKs recognise (Auth0.Android
	 * AuthenticationException, react-native-auth0's tests); the limit's
	 * is Auth0's "Too many failed codes" (Auth0 community, "MFA limits
	 * for OTP"); where Auth0's status or code is not on record the
	 * choice is docs/COMPAT.md 13.6's.
	 */
	[OERR_MFA_REQUIRED] = { "mfa_required", 403,
	    "Multifactor authentication required" },
	[OERR_MFA_TOKEN_MALFORMED] = { "invalid_grant", 403,
	    "Malformed mfa_token" },
	[OERR_MFA_TOKEN_EXPIRED] = { "expired_token", 403,
	    "mfa_token is expired" },
	[OERR_MFA_INVALID_OTP] = { "invalid_grant", 403,
	    "Invalid otp_code." },
	[OERR_MFA_INVALID_RECOVERY] = { "invalid_grant", 403,
	    "Invalid recovery_code." },
	[OERR_MFA_NOT_ENROLLED] = { "unsupported_challenge_type", 401,
	    "User is not enrolled. You can use /mfa/associate endpoint to "
	    "enroll the first authenticator." },
	[OERR_MFA_NO_RECOVERY] = { "unsupported_challenge_type", 403,
	    "User does not have a recovery-code." },
	[OERR_MFA_ALREADY_ENROLLED] = { "access_denied", 403,
	    "User is already enrolled" },
	[OERR_MFA_TOO_MANY] = { "too_many_attempts", 429,
	    "Too many failed codes. Wait for some minutes before retrying." },
	[OERR_MFA_NO_TOKEN] = { "unauthorized", 401,
	    "Unauthorized" },
	[OERR_MFA_TYPES] = { "invalid_request", 400,
	    "authenticator_types must be an array, not %s" },
	[OERR_MFA_UNSUPPORTED_TYPE] = { "unsupported_challenge_type", 400,
	    "Unsupported authenticator type: %s" },
	[OERR_MFA_OOB_MALFORMED] = { "invalid_grant", 403,
	    "Malformed oob_code" },
	/* Auth0's pending text (verify-with-out-of-band); the status is
	 * RFC 8628 3.5's. */
	[OERR_MFA_PENDING] = { "authorization_pending", 400,
	    "Authorization pending: please repeat the request in a few "
	    "seconds." },
	[OERR_MFA_INVALID_BINDING] = { "invalid_grant", 403,
	    "Invalid binding_code." },
	[OERR_MFA_CHANNELS] = { "invalid_request", 400,
	    "oob_channels must be an array, not %s" },
	[OERR_MFA_UNSUPPORTED_CHANNEL] = { "unsupported_challenge_type", 400,
	    "Unsupported oob channel: %s" },
	[OERR_MFA_SEND_LIMIT] = { "too_many_requests", 429,
	    "Too many codes sent. Wait before asking for another." },
	[OERR_MFA_NO_CHANNEL] = { "invalid_request", 400,
	    "The %s channel is not configured" },
	[OERR_MFA_BAD_AUTHENTICATOR] = { "invalid_request", 400,
	    "%s" },
	/* The MFA API access token (docs/COMPAT.md 13.3): RFC 6750 3.1's
	 * codes; Auth0 documents 401 and 404 for DELETE
	 * /mfa/authenticators/{id} without their bodies. */
	[OERR_MFA_ACCESS_TOKEN] = { "invalid_token", 401,
	    "%s" },
	[OERR_MFA_SCOPE] = { "insufficient_scope", 403,
	    "The access token was not granted the %s scope" },
	[OERR_MFA_AUTH_NOT_FOUND] = { "not_found", 404,
	    "Authenticator not found" },
	[OERR_MFA_OOB_BY_ACCESS] = { "access_denied", 403,
	    "An oob authenticator is enrolled with the mfa_token of a login" },
	[OERR_MFA_AUTH_FULL] = { "access_denied", 403,
	    "The user has too many authenticators" },
	/* Legacy /oauth/ro: Auth0's a0.* codes (Auth0.Android, docs/COMPAT.md
	 * 13.2). */
	[OERR_RO_MFA_REQUIRED] = { "a0.mfa_required", 401,
	    "Multifactor authentication required" },
	[OERR_RO_MFA_REGISTRATION] = { "a0.mfa_registration_required", 401,
	    "Multifactor registration required" },
	/* docs/COMPAT.md 11.3: a preflight from an origin no client of the
	 * tenant allows (the browser then blocks the request). */
	[OERR_CORS_ORIGIN] = { "access_denied", 403,
	    "Origin not allowed" },
	/*
	 * docs/COMPAT.md 14.5: a directory account whose password expired
	 * or must be changed; the code is the one Auth0's Lock names
	 * (github.com/auth0/lock, src/i18n/en.js, password_change_required).
	 */
	[OERR_PASSWORD_CHANGE] = { "password_change_required", 401,
	    "You need to update your password because this is the first time "
	    "you are logging in, or because your password has expired." },
};

const char *
oerr_code(enum oerr e)
{
	return oerrs[e].code;
}

int
oerr_status(enum oerr e)
{
	return oerrs[e].status;
}

int
oerr_write(struct lk_resp *r, enum oerr e, const char *arg)
{
	return oerr_write_with(r, e, NULL, arg);
}

/* name NULL: plain oerr_write, value being the "%s" argument. */
int
oerr_write_with(struct lk_resp *r, enum oerr e, const char *name,
    const char *value)
{
	const char		*arg = name == NULL ? value : NULL;
	const struct oerr_row	*row = &oerrs[e];
	const char		*pct;
	char			 desc[768];
	json_t			*j;
	int			 rc;

	/* Substitute the one "%s" by hand: the table is not a format. */
	if ((pct = strstr(row->desc, "%s")) != NULL)
		snprintf(desc, sizeof(desc), "%.*s%s%s", (int)(pct - row->desc),
		    row->desc, arg ? arg : "", pct + 2);
	else
		snprintf(desc, sizeof(desc), "%s", row->desc);
	j = json_pack("{s:s, s:s}", "error", row->code,
	    "error_description", desc);
	/* An argument jansson refuses (not UTF-8): send the error without it
	 * rather than leave resp a 200 with no body. */
	if (j == NULL && arg != NULL)
		return oerr_write(r, e, NULL);
	if (j == NULL)
		return -1;
	if (name != NULL && value != NULL)
		json_object_set_new(j, name, json_string(value));
	rc = resp_json(r, row->status, j);
	json_decref(j);
	r->outcome = row->code;
	return rc;
}
