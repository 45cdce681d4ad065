/*
 * The password grants at /oauth/token (AUTH0-BEHAVIOUR.md 3; seed 003):
 *  - grant_type=password authenticates against the tenant's
 *    default_directory;
 *  - http://auth0.com/oauth/grant-type/password-realm against `realm`;
 *    grant_type=password with a realm (auth0-auth-js sends this) is taken
 *    as password-realm (SPEC.md "What real clients send").
 * The connection must be a database connection enabled for the client.
 * An unknown user costs one dummy hash verify and gets the very answer a
 * wrong password gets (SPEC.md "Responses").  A login with an old or weak
 * hash rehashes it with the tenant policy.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

struct rehash {
	const char	*user_id;
	const char	*old;		/* hash the login verified against */
	const char	*new;		/* replacement */
};

/* Replace the user's hash, unless it changed since we read it. */
static enum store_rc
rehash_txn(struct store *st, DB_TXN *txn, void *arg)
{
	const struct rehash	*rh = arg;
	json_t			*user;
	const char		*cur;
	enum store_rc		 rc;

	if ((rc = store_get(st, txn, SK_USER, rh->user_id, &user)) != STORE_OK)
		return rc;
	cur = json_string_value(json_object_get(user, "password_hash"));
	if (cur == NULL || strcmp(cur, rh->old) != 0) {
		json_decref(user);
		return STORE_OK;	/* changed meanwhile: leave it */
	}
	json_object_set_new(user, "password_hash", json_string(rh->new));
	rc = store_user_put(st, txn, user);
	json_decref(user);
	return rc;
}

static void
rehash_user(struct grant_req *g, const json_t *user,
    const struct hash_policy *pol)
{
	struct rehash	 rh;
	char		 enc[HASH_ENCODED_MAX];

	rh.user_id = json_string_value(json_object_get(user, "user_id"));
	rh.old = json_string_value(json_object_get(user, "password_hash"));
	if (rh.user_id == NULL || rh.old == NULL ||
	    hash_password(pol, g->p.v[F_PASSWORD], g->p.len[F_PASSWORD],
	    enc, sizeof(enc)) == -1)
		return;
	rh.new = enc;
	/* The login succeeds even if this fails: it is retried next time. */
	if (store_txn_run(g->ctx->store, rehash_txn, &rh) != STORE_OK)
		lk_warn("rehash failed; kept the old hash");
	OPENSSL_cleanse(enc, sizeof(enc));
}

/*
 * The connection for this request: realm or the default directory, which
 * must exist, be enabled for the client and hold passwords.  NULL with
 * the wire error written.
 */
static json_t *
connection_for(struct grant_req *g)
{
	const char	*name = g->p.v[F_REALM], *strategy;
	json_t		*conn;

	if (name == NULL)
		name = json_string_value(json_object_get(g->tenant, "default_directory"));
	if (name == NULL || *name == '\0') {
		oerr_write(g->resp, OERR_NO_DEFAULT_CONNECTION, NULL);
		return NULL;
	}
	/* A default directory naming no connection is a set-up error. */
	conn = grant_connection(g, name, g->p.v[F_REALM] != NULL ?
	    OERR_UNKNOWN_REALM : OERR_NO_DEFAULT_CONNECTION,
	    OERR_REALM_NOT_ENABLED);
	if (conn == NULL)
		return NULL;
	strategy = json_string_value(json_object_get(conn, "strategy"));
	if (strategy == NULL || strcmp(strategy, "auth0") != 0) {
		oerr_write(g->resp, OERR_REALM_STRATEGY, NULL);
		json_decref(conn);
		return NULL;
	}
	return conn;
}

/* Attack protection's record of this attempt (guard.c). */
static void
attempt(struct grant_req *g, const json_t *user, enum guard_event ev)
{

	guard_after(g->ctx, g->tenant, &g->who, g->p.v[F_USERNAME],
	    json_string_value(json_object_get(user, "user_id")), ev,
	    g->req->now);
}

/*
 * Find and check the user.  NULL with the wire error written (`wrong`
 * for a bad password); the same error and the same hash work whether
 * the user is unknown or the password is wrong.  /oauth/ro calls this
 * with its own legacy row.
 */
json_t *
grant_password_user(struct grant_req *g, const char *connection,
    enum oerr wrong)
{
	struct hash_policy	 pol;
	struct admit		 adm;
	json_t			*user = NULL;
	const char		*enc = NULL;
	enum hash_rc		 hrc;
	enum store_rc		 src;
	int			 rehash = 0, held;

	hash_policy_from_json(g->tenant, &pol);
	/* A blocked pair or IP costs no lookup and no hash (guard.c). */
	if (guard_before(g->ctx, g->tenant, &g->who, g->p.v[F_USERNAME],
	    g->req->now, g->resp) == -1)
		return NULL;
	src = store_user_find(g->ctx->store, NULL, connection,
	    g->p.v[F_USERNAME], &user);
	if (src != STORE_OK && src != STORE_NOTFOUND) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return NULL;
	}
	if (user != NULL)
		enc = json_string_value(json_object_get(user, "password_hash"));
	/* A login storm is shed, not queued without bound (admit.c). */
	if (admit_hash_enter(g->ctx, g->tenant, &adm) == ADMIT_BUSY) {
		admit_shed(g->resp);
		json_decref(user);
		return NULL;
	}
	if (enc == NULL)
		hrc = hash_dummy(&pol, g->p.v[F_PASSWORD], g->p.len[F_PASSWORD]);
	else	/* with dummy work for a bad or cheap stored hash (hash.c) */
		hrc = hash_verify_login(&pol, enc, g->p.v[F_PASSWORD],
		    g->p.len[F_PASSWORD], &rehash);
	/* The slot is kept through a rehash (a second hash), else freed. */
	held = hrc == HASH_OK && rehash &&
	    !json_is_true(json_object_get(user, "blocked"));
	if (!held)
		admit_hash_leave(&adm);
	if (hrc == HASH_ERR)
		lk_warn("stored password hash of unsupported format");
	if (hrc != HASH_OK) {
		attempt(g, user, user == NULL ? GUARD_EV_UNKNOWN_USER :
		    GUARD_EV_WRONG_PASSWORD);
		oerr_write(g->resp, wrong, NULL);
		json_decref(user);
		return NULL;
	}
	if (json_is_true(json_object_get(user, "blocked"))) {
		attempt(g, user, GUARD_EV_USER_BLOCKED);
		oerr_write(g->resp, OERR_USER_BLOCKED, NULL);
		json_decref(user);
		return NULL;
	}
	if (rehash) {
		rehash_user(g, user, &pol);
		admit_hash_leave(&adm);
	}
	/* Only a password that verified is checked: it is the user's own
	 * that leaked (breached.c). */
	if (breached_password(g->tenant, g->p.v[F_PASSWORD],
	    g->p.len[F_PASSWORD])) {
		attempt(g, user, GUARD_EV_LEAKED);
		oerr_write(g->resp, guard_leaked_oerr(g->who.ep), NULL);
		json_decref(user);
		return NULL;
	}
	attempt(g, user, GUARD_EV_SUCCESS);
	return user;
}

void
grant_password(struct grant_req *g)
{
	json_t			*api = NULL, *conn = NULL, *user = NULL;
	const char		*connection;

	if (strcmp(g->gty, "password-realm") == 0 && g->p.v[F_REALM] == NULL) {
		oerr_write(g->resp, OERR_MISSING_PARAM, "realm");
		return;
	}
	if (g->p.v[F_REALM] != NULL) {
		g->gty = "password-realm";
		snprintf(g->resp->grant, sizeof(g->resp->grant), "%s", g->gty);
	}
	if (g->p.v[F_USERNAME] == NULL || *g->p.v[F_USERNAME] == '\0') {
		oerr_write(g->resp, OERR_MISSING_PARAM, "username");
		return;
	}
	if (g->p.v[F_PASSWORD] == NULL || *g->p.v[F_PASSWORD] == '\0') {
		oerr_write(g->resp, OERR_MISSING_PARAM, "password");
		return;
	}
	if (grant_audience(g, &api) == -1)
		return;
	if ((conn = connection_for(g)) == NULL)
		goto out;
	connection = json_string_value(json_object_get(conn, "name"));
	if ((user = grant_password_user(g, connection,
	    OERR_WRONG_CREDENTIALS)) == NULL)
		goto out;
	grant_issue_login(g, user, api);
out:
	json_decref(user);
	json_decref(conn);
	json_decref(api);
}
