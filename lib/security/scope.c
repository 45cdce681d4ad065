/*
 * Auth0's scope rules for the password grants (AUTH0-BEHAVIOUR.md 3
 * "Scope / audience rules"; seed 003):
 *  - no API scope asked -> every scope the API defines ("implied trust");
 *  - API scopes the API does not define are dropped;
 *  - "openid" as the only OIDC scope -> "openid profile email address phone";
 *  - without an audience, only OIDC scopes are granted;
 *  - "scope" is echoed in the response when granted != requested (as sets).
 * offline_access is granted only when the API allows offline access and the
 * caller can issue refresh tokens (scope_resolve's allow_offline).
 * A refresh resolves its scope by the same rules, then intersects it with
 * the original grant (scope_refresh).
 */
#include <string.h>

#include "extern.h"

/* The OIDC scopes, in the order latchkey lists them. */
enum oidc { OIDC_OPENID, OIDC_PROFILE, OIDC_EMAIL, OIDC_ADDRESS, OIDC_PHONE,
	OIDC_OFFLINE, OIDC__MAX };

static const char *const oidc_names[OIDC__MAX] = {
	"openid", "profile", "email", "address", "phone", "offline_access",
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

static int
oidc_find(const char *s, size_t n)
{
	int	 i;

	for (i = 0; i < OIDC__MAX; i++)
		if (strlen(oidc_names[i]) == n && memcmp(oidc_names[i], s, n) == 0)
			return i;
	return -1;
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

/* 1 when the API defines the scope. */
static int
api_defines(const json_t *api, const char *s, size_t n)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(json_object_get(api, "scopes"), i, v)
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

/* Set the flag of OIDC scope o (oidc_find's result; -1: none). */
static void
oidc_flag(struct scope_result *r, int o)
{
	int	*flags[OIDC__MAX];

	flags[OIDC_OPENID] = &r->openid;
	flags[OIDC_PROFILE] = &r->profile;
	flags[OIDC_EMAIL] = &r->email;
	flags[OIDC_ADDRESS] = &r->address;
	flags[OIDC_PHONE] = &r->phone;
	flags[OIDC_OFFLINE] = &r->offline_access;
	if (o >= 0 && o < OIDC__MAX)
		*flags[o] = 1;
}

static int
add(struct scope_result *r, const char *s, size_t n)
{
	if (r->granted.len > 0 && buf_append(&r->granted, " ", 1) == -1)
		return -1;
	return buf_append(&r->granted, s, n);
}

int
scope_resolve(const char *requested, const json_t *api, int allow_offline,
    struct scope_result *r)
{
	struct tok	 toks[SCOPE_TOKENS_MAX];
	int		 want[OIDC__MAX] = { 0 };
	size_t		 ntok, i, napi_asked = 0, ngranted = 0;
	const json_t	*v;
	int		 o;

	memset(r, 0, sizeof(*r));
	buf_init(&r->granted);
	ntok = split(requested, toks, SCOPE_TOKENS_MAX);
	for (i = 0; i < ntok; i++) {
		if ((o = oidc_find(toks[i].s, toks[i].n)) >= 0)
			want[o] = 1;
		else
			napi_asked++;
	}
	/* "openid" alone among the identity scopes: all of them. */
	if (want[OIDC_OPENID] && !want[OIDC_PROFILE] && !want[OIDC_EMAIL] &&
	    !want[OIDC_ADDRESS] && !want[OIDC_PHONE])
		want[OIDC_PROFILE] = want[OIDC_EMAIL] = want[OIDC_ADDRESS] =
		    want[OIDC_PHONE] = 1;
	if (!allow_offline || api == NULL ||
	    !json_is_true(json_object_get(api, "allow_offline_access")))
		want[OIDC_OFFLINE] = 0;

	for (o = 0; o < OIDC__MAX; o++) {
		if (!want[o])
			continue;
		if (add(r, oidc_names[o], strlen(oidc_names[o])) == -1)
			goto fail;
		ngranted++;
	}
	if (api != NULL && napi_asked == 0) {
		json_array_foreach(json_object_get(api, "scopes"), i, v) {
			if (!json_is_string(v))
				continue;
			if (add(r, json_string_value(v), json_string_length(v)) == -1)
				goto fail;
			ngranted++;
		}
	} else if (api != NULL) {
		for (i = 0; i < ntok; i++) {
			if (oidc_find(toks[i].s, toks[i].n) >= 0 ||
			    !api_defines(api, toks[i].s, toks[i].n))
				continue;
			if (add(r, toks[i].s, toks[i].n) == -1)
				goto fail;
			ngranted++;
		}
	}
	r->openid = want[OIDC_OPENID];
	r->profile = want[OIDC_PROFILE];
	r->email = want[OIDC_EMAIL];
	r->address = want[OIDC_ADDRESS];
	r->phone = want[OIDC_PHONE];
	r->offline_access = want[OIDC_OFFLINE];
	r->differs = !same_set(toks, ntok, r->granted.p, ngranted);
	return 0;
fail:
	scope_result_clear(r);
	return -1;
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
		oidc_flag(r, oidc_find(have[i].s, have[i].n));
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
known(const json_t *api, const struct tok *t)
{

	return oidc_find(t->s, t->n) >= 0 || api_defines(api, t->s, t->n);
}

/*
 * A refresh resolves the scope it is sent as the login did, because
 * clients send the login's scope string back (requests-oauthlib does,
 * SPEC.md "What real clients send"): narrowing it literally would lose
 * what "openid" alone and "no API scope" expanded to, and an API scope
 * the login dropped would look like a widening.  RFC 6749 6 then allows
 * only the intersection with the original grant; a scope the request
 * names explicitly that the grant lacks is the one refusal.
 */
int
scope_refresh(const char *granted, const char *requested, const json_t *api,
    struct scope_result *r)
{
	struct tok		 have[SCOPE_TOKENS_MAX], asked[SCOPE_TOKENS_MAX];
	struct tok		 want[SCOPE_TOKENS_MAX];
	struct scope_result	 res;
	size_t			 nhave, nasked, nwant = 0, i, ngranted = 0;
	int			 rc = -1;

	memset(r, 0, sizeof(*r));
	buf_init(&r->granted);
	memset(&res, 0, sizeof(res));
	buf_init(&res.granted);
	nhave = split(granted, have, SCOPE_TOKENS_MAX);
	nasked = split(requested, asked, SCOPE_TOKENS_MAX);
	for (i = 0; i < nasked; i++)
		if (known(api, &asked[i]) && !tok_in(&asked[i], have, nhave))
			return 1;
	if (nasked > 0) {
		if (scope_resolve(requested, api, 1, &res) == -1)
			return -1;
		nwant = split(res.granted.p, want, SCOPE_TOKENS_MAX);
	}
	for (i = 0; i < nhave; i++) {
		/* A legacy attribute scope, an API scope since removed. */
		if (!known(api, &have[i]))
			continue;
		/* Named, or implied by the login rules (scope_resolve
		 * leaves out offline_access an API no longer allows). */
		if (nasked > 0 && !tok_in(&have[i], asked, nasked) &&
		    !tok_in(&have[i], want, nwant))
			continue;
		if (add(r, have[i].s, have[i].n) == -1)
			goto out;
		oidc_flag(r, oidc_find(have[i].s, have[i].n));
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
