/*
 * The wire errors: one table of {error, status, error_description}, one
 * writer.  Texts and statuses follow ../shared/AUTH0-BEHAVIOUR.md, with the
 * decisions of ../shared/SPEC.md "Responses" where Auth0's record is open.
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
	/* SPEC.md "Requests": other content types are 400 invalid_request. */
	[OERR_BAD_CONTENT_TYPE] = { "invalid_request", 400,
	    "Content-Type must be application/json or application/x-www-form-urlencoded" },
	[OERR_MALFORMED_BODY] = { "invalid_request", 400,
	    "Malformed request body: %s" },
	/* SPEC.md: bodies over 64 KiB are 413 with a JSON body. */
	[OERR_BODY_TOO_LARGE] = { "invalid_request", 413,
	    "Request body too large" },
	[OERR_DUPLICATE_PARAM] = { "invalid_request", 400,
	    "Parameter %s must not be given more than once" },
	/* Auth0 /oauth/ro: "scope parameter must be a string". */
	[OERR_PARAM_TYPE] = { "invalid_request", 400,
	    "%s parameter must be a string" },
	[OERR_PARAM_TOO_LONG] = { "invalid_request", 400,
	    "%s parameter is too long" },
	/* SPEC.md "Responses": missing parameters at /oauth/token. */
	[OERR_MISSING_PARAM] = { "invalid_request", 400,
	    "Missing required parameter: %s" },
	/* RFC 6749 5.2; the text is the OAS example's. */
	[OERR_UNSUPPORTED_GRANT] = { "unsupported_grant_type", 400,
	    "Unsupported grant type: %s" },
	/* AUTH0-BEHAVIOUR.md 3, "Client authentication" (observed). */
	[OERR_CLIENT_AUTH] = { "access_denied", 401,
	    "Unauthorized" },
	/* RFC 6749 2.3: a client MUST NOT use more than one method. */
	[OERR_MULTIPLE_AUTH] = { "invalid_request", 400,
	    "Only one client authentication method may be used per request" },
	/* RFC 7523 2.2 / RFC 7521 4.2. */
	[OERR_ASSERTION_TYPE] = { "invalid_request", 400,
	    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer" },
	/* AUTH0-BEHAVIOUR.md 3: 403, auth0-java#165. */
	[OERR_GRANT_NOT_ALLOWED] = { "unauthorized_client", 403,
	    "Grant type '%s' not allowed for the client." },
	/* SPEC.md "Responses" (observed third-party). */
	[OERR_NO_DEFAULT_CONNECTION] = { "server_error", 500,
	    "Authorization server not configured with default connection." },
	/* /co/authenticate's wording (AUTH0-BEHAVIOUR.md 10). */
	[OERR_UNKNOWN_REALM] = { "invalid_request", 400,
	    "Unknown realm %s." },
	[OERR_REALM_NOT_ENABLED] = { "unauthorized_client", 403,
	    "The connection %s is not enabled for this client." },
	/* Auth0 /oauth/ro error table. */
	[OERR_REALM_STRATEGY] = { "invalid_request", 400,
	    "specified strategy does not support requested operation" },
	/* AUTH0-BEHAVIOUR.md 3: same for an unknown user (SPEC.md). */
	[OERR_WRONG_CREDENTIALS] = { "invalid_grant", 403,
	    "Wrong email or password." },
	/* SPEC.md: as /oauth/ro's admin-blocked user. */
	[OERR_USER_BLOCKED] = { "unauthorized", 401,
	    "user is blocked" },
	/* AUTH0-BEHAVIOUR.md 3 "Unknown audience". */
	[OERR_SERVICE_NOT_FOUND] = { "access_denied", 403,
	    "Service not found: %s" },
	[OERR_INVALID_SCOPE] = { "invalid_scope", 400,
	    "%s" },
	[OERR_NOT_FOUND] = { "not_found", 404,
	    "Not found" },
	/* Auth0 generic error table: 405 method_not_allowed. */
	[OERR_METHOD_NOT_ALLOWED] = { "method_not_allowed", 405,
	    "Method not allowed" },
	[OERR_SERVER_ERROR] = { "server_error", 500,
	    "Internal server error" },
	[OERR_NOT_CONFIGURED] = { "server_error", 500,
	    "The authorization server is not configured" },
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
	rc = resp_json(r, row->status, j);
	json_decref(j);
	r->outcome = row->code;
	return rc;
}
