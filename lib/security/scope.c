/*
 * The OIDC scopes, the standard claims each releases (OpenID Connect Core
 * 5.4), and Auth0's scope rules for the login grants (docs/COMPAT.md 3.4):
 *  - no API scope asked -> every scope the API defines ("implied trust");
 *  - API scopes the API does not define are dropped;
 *  - "openid" as the only OIDC scope -> "openid profile email address phone";
 *  - without an audience, only OIDC scopes are granted;
 *  - "scope" is echoed in the response when granted != requested (as sets).
 * offline_access is granted only when the API allows offline access and the
 * caller can issue refresh tokens (scope_resolve's allow_offline).
 * A refresh resolves its scope by the same rules, then intersects it with
 * the original grant (scope_refresh; docs/COMPAT.md 5.2).
 */
#include <stddef.h>
#include <string.h>

#include "extern.h"

/* The OIDC scopes, in the order latchkey lists them. */
static const char *const oidc_names[OIDC__MAX] = {
	[OIDC_OPENID] = "openid",
	[OIDC_PROFILE] = "profile",
	[OIDC_EMAIL] = "email",
	[OIDC_ADDRESS] = "address",
	[OIDC_PHONE] = "phone",
	[OIDC_OFFLINE] = "offline_access",
};

static const char *
oidc_name(size_t i)
{

	return i < OIDC__MAX ? oidc_names[i] : NULL;
}

const struct vocab oidc_scope_vocab = { "OIDC scope", OIDC__MAX, oidc_name };

/* The standard claims each scope releases into an ID token and at
 * /userinfo (OpenID Connect Core 5.4; docs/COMPAT.md 1.5, 4.2, 4.5). */
static const char *const profile_claims[] = {
	"name", "family_name", "given_name", "middle_name", "nickname",
	"preferred_username", "profile", "picture", "website", "gender",
	"birthdate", "zoneinfo", "locale", "updated_at",
	"groups",	/* a directory user's (docs/COMPAT.md 14.4) */
	NULL,
};
static const char *const email_claims[] = { "email", "email_verified", NULL };
static const char *const phone_claims[] = { "phone_number", "phone_verified",
	NULL };
static const char *const address_claims[] = { "address", NULL };

static const char *const *const released[OIDC__MAX] = {
	[OIDC_PROFILE] = profile_claims,
	[OIDC_EMAIL] = email_claims,
	[OIDC_ADDRESS] = address_claims,
	[OIDC_PHONE] = phone_claims,
};

/* The order the claims are copied in: the order of the members of every
 * ID token and /userinfo answer latchkey has written. */
static const enum oidc_scope release_order[] = {
	OIDC_PROFILE, OIDC_EMAIL, OIDC_PHONE, OIDC_ADDRESS,
};

/* Discovery's claims_supported (OpenID Connect Discovery 1.0 3): only
 * claims latchkey issues, so no auth_time (no max_age, no /authorize:
 * OpenID Connect Core 2 never requires it). */
static const char *const claims_supported[] = {
	"aud", "email", "email_verified", "exp", "family_name", "given_name",
	"iat", "iss", "locale", "name", "nickname", "phone_number",
	"phone_verified", "picture", "preferred_username", "sub", "updated_at",
	"address", "groups", NULL,
};

#define SCOPE_TOKENS_MAX	128	/* requested scopes considered */

struct tok {
	const char	*s;
	size_t		 n;
};

void
scope_result_clear(struct scope_result *r)
{
	buf_clear(&r->granted);
	memset(r, 0, sizeof(*r));
}

enum oidc_scope
scope_oidc_find(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < OIDC__MAX; i++)
		if (strlen(oidc_names[i]) == n && memcmp(oidc_names[i], s, n) == 0)
			return (enum oidc_scope)i;
	return OIDC__MAX;
}

const char *const *
scope_claims_supported(void)
{

	return claims_supported;
}

/* Split on spaces into toks (duplicates dropped); returns the count. */
static size_t
split(const char *s, struct tok *toks, size_t max)
{
	size_t	 count = 0, i, n;

	while (s != NULL && *s != '\0' && count < max) {
		s += strspn(s, " ");
		if ((n = strcspn(s, " ")) == 0)
			break;
		for (i = 0; i < count; i++)
			if (toks[i].n == n && memcmp(toks[i].s, s, n) == 0)
				break;
		if (i == count)
			toks[count++] = (struct tok){ s, n };
		s += n;
	}
	return count;
}

/* 1 when the API's scopes (its "scopes" list; NULL: none) hold s. */
static int
api_defines(const json_t *scopes, const char *s, size_t n)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(scopes, i, v)
		if (json_is_string(v) && json_string_length(v) == n &&
		    memcmp(json_string_value(v), s, n) == 0)
			return 1;
	return 0;
}

/* 1 when the n granted scopes in the string g are exactly the asked toks. */
static int
same_set(const struct tok *toks, size_t ntok, const char *g, size_t n)
{
	struct tok	 gt[SCOPE_TOKENS_MAX];
	size_t		 i, j, ng;

	if (n != ntok)
		return 0;
	ng = split(g, gt, SCOPE_TOKENS_MAX);
	for (i = 0; i < ng; i++) {
		for (j = 0; j < ntok; j++)
			if (toks[j].n == gt[i].n &&
			    memcmp(toks[j].s, gt[i].s, gt[i].n) == 0)
				break;
		if (j == ntok)
			return 0;
	}
	return 1;
}

/* Where each OIDC scope's flag is in struct scope_result. */
static const size_t flag_off[OIDC__MAX] = {
	[OIDC_OPENID] = offsetof(struct scope_result, openid),
	[OIDC_PROFILE] = offsetof(struct scope_result, profile),
	[OIDC_EMAIL] = offsetof(struct scope_result, email),
	[OIDC_ADDRESS] = offsetof(struct scope_result, address),
	[OIDC_PHONE] = offsetof(struct scope_result, phone),
	[OIDC_OFFLINE] = offsetof(struct scope_result, offline_access),
};

void
scope_result_set(struct scope_result *r, enum oidc_scope o)
{

	if (o < OIDC__MAX)
		*(int *)(void *)((char *)r + flag_off[o]) = 1;
}

/* 1 when r grants OIDC scope o. */
static int
granted(const struct scope_result *r, enum oidc_scope o)
{

	return *(const int *)(const void *)((const char *)r + flag_off[o]);
}

/* Copy the user's claims named in list into claims. */
static void
copy_claims(json_t *claims, const json_t *user, const char *const *list)
{
	json_t	*v;

	for (; *list != NULL; list++)
		if ((v = json_object_get(user, *list)) != NULL &&
		    !json_is_null(v))
			json_object_set(claims, *list, v);
}

void
scope_claims(json_t *claims, const struct user *user,
    const struct scope_result *sr)
{
	enum oidc_scope	 o;
	size_t		 i;

	for (i = 0; i < sizeof(release_order) / sizeof(release_order[0]); i++)
		if (granted(sr, o = release_order[i]))
			copy_claims(claims, user->json, released[o]);
}

static int
add(struct scope_result *r, const char *s, size_t n)
{
	if (r->granted.len > 0 && buf_append(&r->granted, " ", 1) == -1)
		return -1;
	return buf_append(&r->granted, s, n);
}

/* The OIDC scopes asked for into want, "openid" alone expanded to every
 * identity scope; the count of the other (API) scopes asked for. */
static size_t
oidc_wanted(const struct tok *toks, size_t ntok, int want[OIDC__MAX])
{
	enum oidc_scope	 o;
	size_t		 i, napi = 0;

	for (i = 0; i < ntok; i++)
		if ((o = scope_oidc_find(toks[i].s, toks[i].n)) != OIDC__MAX)
			want[o] = 1;
		else
			napi++;
	if (want[OIDC_OPENID] && !want[OIDC_PROFILE] && !want[OIDC_EMAIL] &&
	    !want[OIDC_ADDRESS] && !want[OIDC_PHONE])
		want[OIDC_PROFILE] = want[OIDC_EMAIL] = want[OIDC_ADDRESS] =
		    want[OIDC_PHONE] = 1;
	return napi;
}

/* The API scopes granted: all of scopes when none was asked for (implied
 * trust), else those asked for that scopes holds.  The count, or -1. */
static long
api_granted(const struct tok *toks, size_t ntok, size_t napi,
    const json_t *scopes, struct scope_result *r)
{
	const json_t	*v;
	size_t		 i;
	long		 n = 0;

	if (napi == 0) {
		json_array_foreach(scopes, i, v) {
			if (!json_is_string(v))
				continue;
			if (add(r, json_string_value(v), json_string_length(v)) == -1)
				return -1;
			n++;
		}
		return n;
	}
	for (i = 0; i < ntok; i++) {
		if (scope_oidc_find(toks[i].s, toks[i].n) != OIDC__MAX ||
		    !api_defines(scopes, toks[i].s, toks[i].n))
			continue;
		if (add(r, toks[i].s, toks[i].n) == -1)
			return -1;
		n++;
	}
	return n;
}

/*
 * The login rules against an API's scopes (has_api 0: no audience);
 * offline: offline_access may be granted.  0 or -1 (ENOMEM).
 */
static int
resolve(const char *requested, int has_api, const json_t *scopes,
    int offline, struct scope_result *r)
{
	struct tok	 toks[SCOPE_TOKENS_MAX];
	int		 want[OIDC__MAX] = { 0 };
	size_t		 ntok, napi, ngranted = 0;
	enum oidc_scope	 o;
	long		 n = 0;

	memset(r, 0, sizeof(*r));
	buf_init(&r->granted);
	ntok = split(requested, toks, SCOPE_TOKENS_MAX);
	napi = oidc_wanted(toks, ntok, want);
	if (!offline)
		want[OIDC_OFFLINE] = 0;
	for (o = 0; o < OIDC__MAX; o++) {
		if (!want[o])
			continue;
		if (add(r, oidc_names[o], strlen(oidc_names[o])) == -1)
			goto fail;
		scope_result_set(r, o);
		ngranted++;
	}
	if (has_api && (n = api_granted(toks, ntok, napi, scopes, r)) == -1)
		goto fail;
	ngranted += (size_t)n;
	r->differs = !same_set(toks, ntok, r->granted.p, ngranted);
	return 0;
fail:
	scope_result_clear(r);
	return -1;
}

int
scope_resolve(const char *requested, const struct api *api, int allow_offline,
    struct scope_result *r)
{

	return resolve(requested, api != NULL, api != NULL ? api->scopes : NULL,
	    allow_offline && api != NULL && api->allow_offline_access, r);
}

int
scope_narrow(const char *granted, const char *requested,
    struct scope_result *r)
{
	struct tok	 have[SCOPE_TOKENS_MAX], want[SCOPE_TOKENS_MAX];
	size_t		 nhave, nwant, i, j;

	memset(r, 0, sizeof(*r));
	buf_init(&r->granted);
	nhave = split(granted, have, SCOPE_TOKENS_MAX);
	nwant = requested != NULL ? split(requested, want, SCOPE_TOKENS_MAX) : 0;
	/* RFC 6749 6: nothing outside the original grant. */
	for (j = 0; j < nwant; j++) {
		for (i = 0; i < nhave; i++)
			if (have[i].n == want[j].n &&
			    memcmp(have[i].s, want[j].s, want[j].n) == 0)
				break;
		if (i == nhave)
			return 1;
	}
	for (i = 0; i < nhave; i++) {
		for (j = 0; j < nwant; j++)
			if (have[i].n == want[j].n &&
			    memcmp(have[i].s, want[j].s, want[j].n) == 0)
				break;
		if (requested != NULL && j == nwant)
			continue;
		if (add(r, have[i].s, have[i].n) == -1)
			goto fail;
		scope_result_set(r, scope_oidc_find(have[i].s, have[i].n));
	}
	r->differs = requested != NULL && nwant != nhave;
	return 0;
fail:
	scope_result_clear(r);
	return -1;
}

/* 1 when t is one of the n toks. */
static int
tok_in(const struct tok *t, const struct tok *toks, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (toks[i].n == t->n && memcmp(toks[i].s, t->s, t->n) == 0)
			return 1;
	return 0;
}

/* An OIDC scope, or one the API defines: the scopes a token may carry. */
static int
known(const json_t *scopes, const struct tok *t)
{

	return scope_oidc_find(t->s, t->n) != OIDC__MAX ||
	    api_defines(scopes, t->s, t->n);
}

/*
 * A refresh resolves the scope it is sent as the login did, because
 * clients send the login's scope string back (requests-oauthlib does,
 * docs/COMPAT.md 5.2): narrowing it literally would lose
 * what "openid" alone and "no API scope" expanded to, and an API scope
 * the login dropped would look like a widening.  RFC 6749 6 then allows
 * only the intersection with the original grant; a scope the request
 * names explicitly that the grant lacks is the one refusal.
 */
int
scope_refresh(const char *granted, const char *requested,
    const struct api *api, struct scope_result *r)
{
	struct tok		 have[SCOPE_TOKENS_MAX], asked[SCOPE_TOKENS_MAX];
	struct tok		 want[SCOPE_TOKENS_MAX];
	struct scope_result	 res;
	const json_t		*scopes = api != NULL ? api->scopes : NULL;
	size_t			 nhave, nasked, nwant = 0, i, ngranted = 0;
	int			 rc = -1;

	memset(r, 0, sizeof(*r));
	buf_init(&r->granted);
	memset(&res, 0, sizeof(res));
	buf_init(&res.granted);
	nhave = split(granted, have, SCOPE_TOKENS_MAX);
	nasked = split(requested, asked, SCOPE_TOKENS_MAX);
	for (i = 0; i < nasked; i++)
		if (known(scopes, &asked[i]) && !tok_in(&asked[i], have, nhave))
			return 1;
	if (nasked > 0) {
		if (scope_resolve(requested, api, 1, &res) == -1)
			return -1;
		nwant = split(res.granted.p, want, SCOPE_TOKENS_MAX);
	}
	for (i = 0; i < nhave; i++) {
		/* A legacy attribute scope, an API scope since removed. */
		if (!known(scopes, &have[i]))
			continue;
		/* Named, or implied by the login rules (scope_resolve
		 * leaves out offline_access an API no longer allows). */
		if (nasked > 0 && !tok_in(&have[i], asked, nasked) &&
		    !tok_in(&have[i], want, nwant))
			continue;
		if (add(r, have[i].s, have[i].n) == -1)
			goto out;
		scope_result_set(r, scope_oidc_find(have[i].s, have[i].n));
		ngranted++;
	}
	r->differs = nasked > 0 && !same_set(asked, nasked, r->granted.p,
	    ngranted);
	rc = 0;
out:
	scope_result_clear(&res);
	if (rc == -1)
		scope_result_clear(r);
	return rc;
}
