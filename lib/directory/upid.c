/*
 * upid.c: an upstream id_token, checked as OpenID Connect Core 3.1.3.7
 * asks before anything in it is believed: the signature by a key of the
 * upstream's JWKS, with RS256 only (upjwks.c keeps no other kind, and
 * token.c requires the header's alg to be the key's), then iss, aud,
 * exp and nbf with UPID_LEEWAY, and for Entra ID the tenant (tid): a
 * multi-tenant application's token from another tenant is refused.
 */
#include <string.h>

#include "extern.h"

static const char *const rcs[UPID__MAX] = {
	[UPID_OK] = "ok",
	[UPID_MALFORMED] = "malformed",
	[UPID_NO_KEY] = "no key of its kid",
	[UPID_SIGNATURE] = "bad signature or algorithm",
	[UPID_ISSUER] = "wrong issuer",
	[UPID_AUDIENCE] = "wrong audience",
	[UPID_EXPIRED] = "expired",
	[UPID_NOT_YET] = "not yet valid",
	[UPID_TENANT] = "wrong tenant",
};

static const char *
rc_name(size_t i)
{
	return i < UPID__MAX ? rcs[i] : NULL;
}

const struct vocab upid_rc_vocab = { "id_token check", UPID__MAX,
	rc_name };

/* 1 when aud (a string, or an array of strings) is or holds want. */
static int
aud_has(const json_t *aud, const char *want)
{
	const json_t	*v;
	size_t		 i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return 1;
	return 0;
}

/* The time claims: exp required, nbf and iat optional. */
static enum upid_rc
check_times(const json_t *claims, time_t now)
{
	const json_t	*exp = json_object_get(claims, "exp");
	const json_t	*nbf = json_object_get(claims, "nbf");
	const json_t	*iat = json_object_get(claims, "iat");

	if (!json_is_integer(exp))
		return UPID_MALFORMED;
	if (json_integer_value(exp) + UPID_LEEWAY <= (json_int_t)now)
		return UPID_EXPIRED;
	if (nbf != NULL && (!json_is_integer(nbf) ||
	    json_integer_value(nbf) - UPID_LEEWAY > (json_int_t)now))
		return UPID_NOT_YET;
	if (iat != NULL && (!json_is_integer(iat) ||
	    json_integer_value(iat) - UPID_LEEWAY > (json_int_t)now))
		return UPID_NOT_YET;
	return UPID_OK;
}

/* The claims of a token whose signature verified. */
static enum upid_rc
check_claims(const json_t *claims, const struct upid_expect *x)
{
	const char	*iss = json_string_value(json_object_get(claims, "iss"));
	const char	*tid = json_string_value(json_object_get(claims, "tid"));

	if (x->issuer == NULL || iss == NULL || strcmp(iss, x->issuer) != 0)
		return UPID_ISSUER;
	if (x->audience == NULL ||
	    !aud_has(json_object_get(claims, "aud"), x->audience))
		return UPID_AUDIENCE;
	if (x->tenant_id != NULL && (tid == NULL ||
	    strcmp(tid, x->tenant_id) != 0))
		return UPID_TENANT;
	return check_times(claims, x->now);
}

enum upid_rc
upid_verify(const char *idt, const json_t *keys, const struct upid_expect *x,
    json_t **claims)
{
	enum upid_rc	 rc;

	*claims = NULL;
	switch (token_verify(idt, keys, claims)) {
	case TOKEN_OK:
		break;
	case TOKEN_NO_KEY:
		return UPID_NO_KEY;
	case TOKEN_MALFORMED:
		return UPID_MALFORMED;
	default:
		return UPID_SIGNATURE;
	}
	if ((rc = check_claims(*claims, x)) != UPID_OK) {
		json_decref(*claims);
		*claims = NULL;
	}
	return rc;
}
