/*
 * The grant types: one table, and where each applies.  /oauth/token
 * dispatches on it (grant.c), /oauth/ro checks a client's legacy grants
 * against it (ro.c), discovery lists it (jwks.c) and latchkeyctl accepts
 * a client's grant_types from it (record.c).  Sources: docs/COMPAT.md 1,
 * 3 and 5; RFC 6749 4.3 and 6.
 */
#include <string.h>

#include "extern.h"

static const struct grant_type_def defs[GT__MAX] = {
	[GT_PASSWORD] = { "password", "password",
	    GT_AT_TOKEN | GT_DISCOVERY | GT_CLIENT },
	[GT_PASSWORD_REALM] = {
	    "http://auth0.com/oauth/grant-type/password-realm",
	    "password-realm", GT_AT_TOKEN | GT_DISCOVERY | GT_CLIENT },
	[GT_OTP] = { "http://auth0.com/oauth/grant-type/passwordless/otp",
	    "passwordless/otp", GT_AT_TOKEN | GT_DISCOVERY | GT_CLIENT },
	[GT_REFRESH] = { "refresh_token", "refresh_token",
	    GT_AT_TOKEN | GT_DISCOVERY | GT_CLIENT },
	/* The second factor (docs/COMPAT.md 13.4). */
	[GT_MFA_OTP] = { "http://auth0.com/oauth/grant-type/mfa-otp",
	    "mfa-otp", GT_AT_TOKEN | GT_DISCOVERY | GT_CLIENT },
	[GT_MFA_OOB] = { "http://auth0.com/oauth/grant-type/mfa-oob",
	    "mfa-oob", GT_AT_TOKEN | GT_DISCOVERY | GT_CLIENT },
	[GT_MFA_RECOVERY] = {
	    "http://auth0.com/oauth/grant-type/mfa-recovery-code",
	    "mfa-recovery-code", GT_AT_TOKEN | GT_DISCOVERY | GT_CLIENT },
	/* The legacy /oauth/ro grants a client must hold (ro.c). */
	[GT_RO] = { "http://auth0.com/oauth/legacy/grant-type/ro", "ro",
	    GT_CLIENT },
	[GT_RO_JWT] = {
	    "http://auth0.com/oauth/legacy/grant-type/ro/jwt-bearer",
	    "ro/jwt-bearer", GT_CLIENT },
};

static const char *
gt_name(size_t i)
{

	return i < GT__MAX ? defs[i].uri : NULL;
}

const struct vocab grant_type_vocab = { "grant type", GT__MAX, gt_name };

const struct grant_type_def *
grant_type_def(enum grant_type gt)
{

	return &defs[gt];
}

enum grant_type
grant_type_find(const char *uri, unsigned where)
{
	int	 i = vocab_find(&grant_type_vocab, uri);

	if (i < 0 || (defs[i].where & where) != where)
		return GT__MAX;
	return (enum grant_type)i;
}
