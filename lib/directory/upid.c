/*
 * upid.c: an upstream id_token, checked as OpenID Connect Core 3.1.3.7
 * asks before anything in it is believed, by the one JWT check
 * (userinfo_jwt_check): the signature by a key of the upstream's JWKS,
 * with RS256 only (upjwks.c keeps no other kind, and token.c requires
 * the header's alg to be the key's), then iss, aud, exp, nbf and iat
 * with UPID_LEEWAY; then for Entra ID the tenant (tid): a multi-tenant
 * application's token from another tenant is refused.
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

/* The shared check's verdict (userinfo_jwt_check) as ours. */
static const enum upid_rc of_jwt[JWT__MAX] = {
	[JWT_OK] = UPID_OK,
	[JWT_MALFORMED] = UPID_MALFORMED,
	[JWT_NO_KEY] = UPID_NO_KEY,
	[JWT_SIGNATURE] = UPID_SIGNATURE,
	[JWT_ISSUER] = UPID_ISSUER,
	[JWT_AUDIENCE] = UPID_AUDIENCE,
	[JWT_EXPIRED] = UPID_EXPIRED,
	[JWT_NOT_YET] = UPID_NOT_YET,
	[JWT_ERR] = UPID_SIGNATURE,
};

enum upid_rc
upid_verify(const char *idt, const json_t *keys, const struct upid_expect *x,
    json_t **claims)
{
	struct jwt_expect j = { x->issuer, x->audience, x->now, UPID_LEEWAY };
	const char	*tid;
	enum jwt_rc	 rc;

	if ((rc = userinfo_jwt_check(NULL, keys, idt, &j, claims)) != JWT_OK)
		return of_jwt[rc];
	/* Entra ID: a multi-tenant application's token of another tenant. */
	tid = json_string_value(json_object_get(*claims, "tid"));
	if (x->tenant_id != NULL && (tid == NULL ||
	    strcmp(tid, x->tenant_id) != 0)) {
		json_decref(*claims);
		*claims = NULL;
		return UPID_TENANT;
	}
	return UPID_OK;
}
