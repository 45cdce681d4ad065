/*
 * extconn.c: the connection strategies whose passwords an upstream
 * identity provider checks at its token endpoint with the resource
 * owner password grant (RFC 6749 4.3; docs/COMPAT.md 12):
 *  - waad: Microsoft Entra ID (Azure AD), v2.0 endpoint
 *    https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token
 *    (learn.microsoft.com/entra/identity-platform/v2-oauth-ropc);
 *  - adfs: AD FS 2016 and later, https://<host>/adfs/oauth2/token
 *    (learn.microsoft.com/windows-server/identity/ad-fs/overview/
 *    ad-fs-openid-connect-oauth-flows-scenarios).
 * This file builds the request and reads the answer; upid.c verifies
 * the id_token, shadow.c keeps the user, grants/extlogin.c runs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

/*
 * The user_id claims: Auth0's waad connections take "oid" (the
 * directory object id, the same for every application of the tenant;
 * its userid_attribute default) and ADFS's the user principal name.
 */
static const struct extconn_def defs[STRATEGY__MAX] = {
	[STRATEGY_WAAD] = { "waad", { "oid", NULL, NULL },
	    "openid profile email", 1 },
	[STRATEGY_ADFS] = { "adfs", { "upn", "unique_name", "sub" },
	    "openid", 0 },
};

const struct extconn_def *
extconn_def(enum conn_strategy s)
{
	return (size_t)s < STRATEGY__MAX && defs[s].prefix != NULL ?
	    &defs[s] : NULL;
}

const char *
extconn_problem(const struct conn *c)
{
	const struct extconn_def *d = extconn_def(c->strategy);
	const struct {
		const char	*name;
		const char	*value;
	} need[] = {
		{ "token_url", c->token_url },
		{ "jwks_url", c->jwks_url },
		{ "upstream_issuer", c->upstream_issuer },
		{ "upstream_client_id", c->upstream_client_id },
		/* "": not needed by the strategy */
		{ "tenant_id", d != NULL && d->needs_tenant ? c->tenant_id : "" },
	};
	static char	 why[96];
	size_t		 i;

	if (d == NULL)
		return NULL;
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (need[i].value == NULL) {
			snprintf(why, sizeof(why), "a %s connection needs %s",
			    d->prefix, need[i].name);
			return why;
		}
	if (strncmp(c->token_url, "https://", 8) != 0 ||
	    strncmp(c->jwks_url, "https://", 8) != 0)
		return "token_url and jwks_url must be https:// URLs";
	if (c->ca_file != NULL && *c->ca_file != '/')
		return "ca_file must be an absolute path";
	return NULL;
}

int
extconn_form(const struct conn *c, const char *username,
    const char *password, struct buf *form)
{
	const struct extconn_def *d = extconn_def(c->strategy);
	const char		*scope;

	if (d == NULL || c->upstream_client_id == NULL)
		return -1;
	scope = c->upstream_scope != NULL ? c->upstream_scope : d->scope;
	if (upstream_form_add(form, "grant_type", "password") == -1 ||
	    upstream_form_add(form, "client_id", c->upstream_client_id) == -1 ||
	    upstream_form_add(form, "scope", scope) == -1 ||
	    upstream_form_add(form, "username", username) == -1 ||
	    upstream_form_add(form, "password", password) == -1)
		return -1;
	if (c->upstream_client_secret != NULL &&
	    upstream_form_add(form, "client_secret",
	    c->upstream_client_secret) == -1)
		return -1;
	/* ADFS: the relying party's identifier (its older "resource"). */
	if (c->upstream_resource != NULL &&
	    upstream_form_add(form, "resource", c->upstream_resource) == -1)
		return -1;
	return 0;
}

static const char *const answers[EXT__MAX] = {
	[EXT_TOKEN] = "token",
	[EXT_WRONG] = "wrong credentials",
	[EXT_MFA] = "multi-factor authentication required",
	[EXT_REFUSED] = "request refused",
	[EXT_FAILED] = "unusable answer",
};

static const char *
answer_name(size_t i)
{
	return i < EXT__MAX ? answers[i] : NULL;
}

const struct vocab ext_answer_vocab = { "upstream answer", EXT__MAX,
	answer_name };

/*
 * Entra ID's error numbers (AADSTS) that mean "the password was right
 * but a second factor is needed", which the password grant cannot give
 * (learn.microsoft.com/entra/identity-platform/reference-error-codes).
 */
static const long mfa_codes[] = {
	50072,		/* UserStrongAuthEnrollmentRequiredInterrupt */
	50074,		/* UserStrongAuthClientAuthNRequiredInterrupt */
	50076,		/* UserStrongAuthClientAuthNRequired */
	50079,		/* UserStrongAuthEnrollmentRequired */
	50158,		/* ExternalSecurityChallenge */
};

/* The first AADSTS number of the answer: error_codes[0], else the
 * "AADSTSnnnnn:" that starts error_description; 0 for none. */
static long
aadsts(const json_t *err)
{
	const json_t	*codes = json_object_get(err, "error_codes");
	const char	*d;
	long		 n = 0;

	if (json_is_integer(json_array_get(codes, 0)))
		return (long)json_integer_value(json_array_get(codes, 0));
	d = json_string_value(json_object_get(err, "error_description"));
	if (d != NULL && strncmp(d, "AADSTS", 6) == 0)
		n = strtol(d + 6, NULL, 10);
	return n > 0 && n < 1000000 ? n : 0;
}

/* An error answer (RFC 6749 5.2). */
static enum ext_answer
answer_error(const json_t *err, char *why, size_t whysz)
{
	const char	*code = json_string_value(json_object_get(err, "error"));
	char		 esc[64];
	long		 n = aadsts(err);
	size_t		 i;

	log_escape(esc, sizeof(esc), code != NULL ? code : "(none)");
	snprintf(why, whysz, "error=%s AADSTS=%ld", esc, n);
	for (i = 0; i < sizeof(mfa_codes) / sizeof(mfa_codes[0]); i++)
		if (n == mfa_codes[i])
			return EXT_MFA;
	if (code != NULL && strcmp(code, "interaction_required") == 0)
		return EXT_MFA;
	if (code != NULL && strcmp(code, "invalid_grant") == 0)
		return EXT_WRONG;
	return EXT_REFUSED;
}

enum ext_answer
extconn_answer(long status, const char *body, char **idt, char *why,
    size_t whysz)
{
	json_t		*j;
	const char	*t;
	enum ext_answer	 a = EXT_FAILED;

	*idt = NULL;
	snprintf(why, whysz, "HTTP %ld", status);
	j = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(j)) {
		snprintf(why, whysz, "HTTP %ld, not a JSON object", status);
		goto out;
	}
	if (status == 200) {
		t = json_string_value(json_object_get(j, "id_token"));
		if (t == NULL)
			snprintf(why, whysz, "no id_token (scope lacks openid?)");
		else if ((*idt = strdup(t)) != NULL)
			a = EXT_TOKEN;
	} else if (status == 400 || status == 401)
		a = answer_error(j, why, whysz);
out:
	json_decref(j);
	return a;
}
