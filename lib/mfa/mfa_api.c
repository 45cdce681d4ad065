/*
 * mfa_api.c: Auth0's built-in MFA API (docs/COMPAT.md 13.3).  A password
 * or password-realm login may ask for the audience https://TENANT/mfa/
 * (the issuer followed by "mfa/") and the scopes below; it gets an access
 * token for it that lives 10 minutes
 * (https://auth0.com/docs/secure/multi-factor-authentication/manage-mfa-auth0-apis/manage-authenticator-factors-mfa-api).
 * It is no stored API record: the audience is the tenant's own, made here.
 *
 * The /mfa/ endpoints take such a token as "Authorization: Bearer"
 * (RFC 6750 2.1), each asking for its scope (docs/COMPAT.md 13.3).
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

#define MFA_API_LIFETIME	600

/* The scopes of the MFA API (Auth0's page above). */
static const char *const mfa_api_scopes[MFA_SCOPE__MAX] = {
	[MFA_SCOPE_ENROLL] = "enroll",
	[MFA_SCOPE_READ] = "read:authenticators",
	[MFA_SCOPE_REMOVE] = "remove:authenticators",
};

static const char *
scope_name(size_t i)
{
	return i < MFA_SCOPE__MAX ? mfa_api_scopes[i] : NULL;
}

const struct vocab mfa_api_scope_vocab = { "MFA API scope", MFA_SCOPE__MAX,
	scope_name };

/* The error_description of each refusal. */
static const char *const refusals[MFA_REF__MAX] = {
	[MFA_REF_MALFORMED] = "The access token is malformed",
	[MFA_REF_KEY] = "The access token was signed by an unknown key",
	[MFA_REF_SIGNATURE] = "The access token signature is invalid",
	[MFA_REF_ISSUER] = "The access token was issued by another issuer",
	[MFA_REF_AUDIENCE] = "The access token is not for the MFA API",
	[MFA_REF_EXPIRED] = "The access token expired",
	[MFA_REF_NOT_YET] = "The access token is not yet valid",
	[MFA_REF_BOUND] = ("The access token is DPoP-bound: it is not "
	    "accepted as a Bearer token"),
	[MFA_REF_USER_GONE] = "The user of the access token no longer exists",
	[MFA_REF_BLOCKED] = "user is blocked",
	[MFA_REF_MFA_TOKEN] = ("An mfa_token cannot remove an authenticator: "
	    "use an MFA API access token"),
};

/* The JWT check's verdict as a refusal. */
static const enum mfa_refusal of_jwt[JWT__MAX] = {
	[JWT_OK] = MFA_REF__MAX,
	[JWT_MALFORMED] = MFA_REF_MALFORMED,
	[JWT_NO_KEY] = MFA_REF_KEY,
	[JWT_SIGNATURE] = MFA_REF_SIGNATURE,
	[JWT_ISSUER] = MFA_REF_ISSUER,
	[JWT_AUDIENCE] = MFA_REF_AUDIENCE,
	[JWT_EXPIRED] = MFA_REF_EXPIRED,
	[JWT_NOT_YET] = MFA_REF_NOT_YET,
	[JWT_ERR] = MFA_REF__MAX,
};

void
mfa_api_refuse(struct lk_resp *resp, enum mfa_refusal r)
{
	const char	*why = refusals[r];

	oerr_write(resp, OERR_MFA_ACCESS_TOKEN, why);
	resp_header(resp, "WWW-Authenticate", "Bearer error=\"%s\", "
	    "error_description=\"%s\"", oerr_code(OERR_MFA_ACCESS_TOKEN), why);
	resp_nostore(resp);
}

/* 1 when the space-separated scope holds name (RFC 6749 3.3). */
static int
scope_holds(const char *scope, const char *name)
{
	size_t	 n = strlen(name), w;

	while (scope != NULL && *scope != '\0') {
		scope += strspn(scope, " ");
		w = strcspn(scope, " ");
		if (w == n && strncmp(scope, name, n) == 0)
			return 1;
		scope += w;
	}
	return 0;
}

/* RFC 6750 3.1: 403 insufficient_scope naming the scope needed. */
static void
insufficient(struct lk_resp *resp, const char *scope)
{

	oerr_write(resp, OERR_MFA_SCOPE, scope);
	resp_header(resp, "WWW-Authenticate", "Bearer error=\"%s\", "
	    "scope=\"%s\"", oerr_code(OERR_MFA_SCOPE), scope);
	resp_nostore(resp);
}

int
mfa_api_access(struct store *s, const struct tenant *t, const char *token,
    enum mfa_api_scope need, time_t now, struct mfa_tok *who,
    struct lk_resp *resp)
{
	struct jwt_expect x = { t->issuer, NULL, now, 0 };
	json_t		*claims;
	const char	*sub, *azp;
	char		 aud[REC_ID_LEN + 8];
	enum jwt_rc	 rc;
	enum mfa_refusal r = MFA_REF__MAX;

	snprintf(aud, sizeof(aud), "%smfa/", t->issuer != NULL ? t->issuer : "");
	x.audience = aud;
	if ((rc = userinfo_jwt_check(s, NULL, token, &x, &claims)) == JWT_ERR)
		return oerr_write(resp, OERR_SERVER_ERROR, NULL), -1;
	if (rc != JWT_OK)
		return mfa_api_refuse(resp, of_jwt[rc]), -1;
	sub = json_string_value(json_object_get(claims, "sub"));
	azp = json_string_value(json_object_get(claims, "azp"));
	if (sub == NULL || *sub == '\0' || strlen(sub) > REC_ID_LEN ||
	    (azp != NULL && strlen(azp) > REC_ID_LEN))
		r = MFA_REF_MALFORMED;
	/* RFC 9449 7.2: a bound token is no bearer token. */
	else if (json_object_get(claims, "cnf") != NULL)
		r = MFA_REF_BOUND;
	if (r != MFA_REF__MAX) {
		mfa_api_refuse(resp, r);
		goto fail;
	}
	if (!scope_holds(json_string_value(json_object_get(claims, "scope")),
	    mfa_api_scopes[need])) {
		insufficient(resp, mfa_api_scopes[need]);
		goto fail;
	}
	memset(who, 0, sizeof(*who));
	who->json = claims;
	who->user_id = sub;
	who->client_id = azp;
	return 0;
fail:
	json_decref(claims);
	return -1;
}

int
mfa_api_is(const struct tenant *t, const char *aud)
{
	size_t	 n;

	if (t->issuer == NULL || aud == NULL)
		return 0;
	n = strlen(t->issuer);
	return strncmp(aud, t->issuer, n) == 0 && strcmp(aud + n, "mfa/") == 0;
}

int
mfa_api_get(const struct tenant *t, const char *aud, struct api *api)
{
	json_t	*j, *scopes;
	size_t	 i;
	int	 rc;

	if (!mfa_api_is(t, aud))
		return 0;
	if ((scopes = json_array()) == NULL)
		return -1;
	for (i = 0; i < MFA_SCOPE__MAX; i++)
		if (json_array_append_new(scopes,
		    json_string(mfa_api_scopes[i])) == -1) {
			json_decref(scopes);
			return -1;
		}
	j = json_pack("{s:s, s:s, s:o, s:I, s:b}", "identifier", aud,
	    "name", "MFA API", "scopes", scopes, "token_lifetime",
	    (json_int_t)MFA_API_LIFETIME, "allow_offline_access", 0);
	if (j == NULL)
		return -1;
	rc = record_parse(REC_API, j, api);
	json_decref(j);
	return rc == 0 ? 1 : -1;
}
