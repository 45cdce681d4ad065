/*
 * What the login grants (password, password-realm, passwordless/otp and
 * /oauth/ro) look up before they check credentials: the connection, the
 * audience's API, and the passwordless code's user; and the table of
 * how each connection strategy checks a password.  Each returns a
 * result; the grant maps it to its endpoint's wire error (token_errs in
 * grant.c, ro.c's own table).
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

/* The login function of each strategy that takes a username and a
 * password (docs/COMPAT.md 3, 12); NULL: it does not (passwordless).
 * remote: it waits for a directory or an identity provider, without
 * holding the store (store_pause). */
static enum login_rc	 db_login(struct grant_req *, const struct conn *,
			    struct user *);

static const struct {
	enum login_rc	 (*fn)(struct grant_req *, const struct conn *,
			    struct user *);
	int		 remote;
} logins[STRATEGY__MAX] = {
	[STRATEGY_AUTH0] = { db_login, 0 },
	[STRATEGY_WAAD] = { grant_external_user, 1 },
	[STRATEGY_ADFS] = { grant_external_user, 1 },
	[STRATEGY_AD] = { grant_ldap_user, 1 },
};

static enum login_rc
db_login(struct grant_req *g, const struct conn *c, struct user *user)
{
	return grant_password_user(g, c->name, user);
}

int
grant_login_takes_password(enum conn_strategy s)
{
	return (size_t)s < STRATEGY__MAX && logins[s].fn != NULL;
}

enum login_rc
grant_login(struct grant_req *g, const struct conn *c, struct user *user)
{
	enum login_rc	 rc;

	memset(user, 0, sizeof(*user));
	if (c->name == NULL || !grant_login_takes_password(c->strategy))
		return LOGIN_ERR;
	if (!logins[c->strategy].remote)
		return logins[c->strategy].fn(g, c, user);
	/* Only a database connection hashes the password here: another
	 * gives back its place in the hash line (admit.c) before it asks
	 * its directory, so that the line does not wait on that. */
	admit_depart();
	store_pause(g->ctx->store);
	rc = logins[c->strategy].fn(g, c, user);
	store_resume(g->ctx->store);
	return rc;
}

void
grant_fail(struct grant_req *g, enum oerr e, const char *arg)
{

	if (e != OERR__MAX)
		oerr_write(g->resp, e, arg);
}

/* 1 when the connection is enabled for client_id. */
static int
enabled_for(const struct conn *c, const char *client_id)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(c->enabled_clients, i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), client_id) == 0)
			return 1;
	return 0;
}

enum conn_rc
grant_connection(struct grant_req *g, const char *name, struct conn *c)
{

	switch (record_get(g->ctx->store, NULL, REC_CONNECTION, name, c)) {
	case STORE_OK:
		break;
	case STORE_NOTFOUND:
		return CONN_UNKNOWN;
	default:
		return CONN_ERR;
	}
	if (enabled_for(c, g->client.client_id))
		return CONN_OK;
	record_clear(REC_CONNECTION, c);
	return CONN_DISABLED;
}

enum aud_rc
grant_audience(struct grant_req *g, struct api *api, const char **audp)
{
	const char	*aud, *issuer;
	char		 userinfo[600];

	memset(api, 0, sizeof(*api));
	aud = g->p.v[F_AUDIENCE];
	/* docs/COMPAT.md 10.6: resource, an alternative to audience. */
	if ((aud == NULL || *aud == '\0') &&
	    g->tenant.resource_profile == DPOP_RESPROF_COMPAT)
		aud = g->p.v[F_RESOURCE];
	if (aud == NULL || *aud == '\0')
		aud = g->tenant.default_audience;
	*audp = aud;
	if (aud == NULL || *aud == '\0')
		return AUD_OK;
	/* The issuer's own /userinfo is no API: an identity-only token. */
	issuer = g->tenant.issuer;
	snprintf(userinfo, sizeof(userinfo), "%suserinfo", issuer ? issuer : "");
	if (strcmp(aud, userinfo) == 0)
		return AUD_OK;
	/* The issuer's MFA API, built in (docs/COMPAT.md 13.3). */
	switch (mfa_api_get(&g->tenant, aud, api)) {
	case 1:
		return AUD_OK;
	case -1:
		return AUD_ERR;
	default:
		break;
	}
	switch (record_get(g->ctx->store, NULL, REC_API, aud, api)) {
	case STORE_OK:
		return AUD_OK;
	case STORE_NOTFOUND:
		return AUD_UNKNOWN;
	default:
		return AUD_ERR;
	}
}

enum login_rc
grant_code_user(struct grant_req *g, const struct conn *c, const char *login,
    const char *code, struct user *user)
{
	json_t		*u = NULL;
	enum login_rc	 rc;
	int		 parsed;

	memset(user, 0, sizeof(*user));
	switch (pwl_exchange(g, c, login, code, &u)) {
	case PWL_OK:
		parsed = record_parse(REC_USER, u, user);
		json_decref(u);
		return parsed == 0 ? LOGIN_OK : LOGIN_ERR;
	case PWL_WRONG:
		rc = LOGIN_WRONG;
		break;
	case PWL_BLOCKED:
		rc = LOGIN_BLOCKED;
		break;
	case PWL_THROTTLED:
		rc = LOGIN_THROTTLED;
		break;
	default:
		rc = LOGIN_ERR;
		break;
	}
	json_decref(u);
	return rc;
}

enum login_rc
login_attempt(struct grant_req *g, const char *user_id, enum guard_event ev,
    enum login_rc rc)
{

	if (guard_after(g->ctx, &g->tenant, &g->who, g->p.v[F_USERNAME],
	    user_id, ev, g->req->now) == -1 && rc != LOGIN_OK)
		return LOGIN_ERR;
	return rc;
}

enum login_rc
login_unavailable(struct grant_req *g, enum oerr e, long after)
{

	if (after < LOGIN_RETRY_AFTER)
		after = LOGIN_RETRY_AFTER;
	if (oerr_write(g->resp, e, NULL) == 0)
		(void)resp_header(g->resp, "Retry-After", "%ld", after);
	return LOGIN_UPSTREAM;
}

enum login_rc
login_shadow_admit(struct grant_req *g, const struct shadow_profile *p,
    struct user *user)
{

	if (shadow_upsert(g->ctx->store, p, user) != STORE_OK)
		return LOGIN_ERR;
	if (user->blocked) {
		record_clear(REC_USER, user);
		return login_attempt(g, user->user_id, GUARD_EV_USER_BLOCKED,
		    LOGIN_BLOCKED);
	}
	return login_attempt(g, user->user_id, GUARD_EV_SUCCESS, LOGIN_OK);
}
