/*
 * mfa_api.c: Auth0's built-in MFA API (docs/COMPAT.md 13.3).  A password
 * or password-realm login may ask for the audience https://TENANT/mfa/
 * (the issuer followed by "mfa/") and the scopes below; it gets an access
 * token for it that lives 10 minutes
 * (https://auth0.com/docs/secure/multi-factor-authentication/manage-mfa-auth0-apis/manage-authenticator-factors-mfa-api).
 * It is no stored API record: the audience is the tenant's own, made here.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

#define MFA_API_LIFETIME	600

/* The scopes of the MFA API (Auth0's page above). */
static const char *const mfa_api_scopes[] = {
	"enroll",
	"read:authenticators",
	"remove:authenticators",
};

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
	for (i = 0; i < sizeof(mfa_api_scopes) / sizeof(mfa_api_scopes[0]); i++)
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
