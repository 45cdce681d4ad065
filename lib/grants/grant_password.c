/*
 * The password grants at /oauth/token (AUTH0-BEHAVIOUR.md 3; seed 003):
 *  - grant_type=password authenticates against the tenant's
 *    default_directory;
 *  - http://auth0.com/oauth/grant-type/password-realm against `realm`;
 *    grant_type=password with a realm (auth0-auth-js sends this) is taken
 *    as password-realm (SPEC.md "What real clients send").
 * The connection must be a database connection enabled for the client.
 * An unknown user costs a wrong password's verify against a hash of the
 * connection's own mix (hash.c) and gets the very answer a wrong password
 * gets (SPEC.md "Responses").  A login with an old or weak
 * hash rehashes it with the tenant policy.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

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
		name = g->tenant.default_directory;
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

/*
 * The connection's hash mix (hash.c): the stored hashes of up to
 * HASH_MIX_MAX of its users, those whose user id has the smallest
 * SHA-256 among the first MIX_WALK_MAX of its email and username index
 * (so every process picks the same ones, and an import's bcrypt users
 * are as likely as anyone to be picked).  Kept per process and
 * connection for MIX_TTL seconds, and built on the first login after
 * that, whatever its outcome, so that its cost tells nothing.  One
 * batch of the walk (STORE_BATCH entries): under plain CGI, where no
 * process outlives its request, every login pays it (4096 entries took
 * 15 ms on a 2-core test machine).
 */
#define MIX_TTL		300
#define MIX_WALK_MAX	STORE_BATCH
#define MIX_CONNS	8
#define MIX_ID_MAX	128

static struct {
	char		 conn[256];
	time_t		 at;		/* 0: free */
	struct hash_mix	 m;
} mixes[MIX_CONNS];

struct mix_walk {
	long		 seen;
	size_t		 n;
	unsigned char	 rank[HASH_MIX_MAX][32];	/* SHA-256 of the id */
	char		 id[HASH_MIX_MAX][MIX_ID_MAX];
};

/* The slot whose rank is the largest, to replace. */
static size_t
mix_worst(const struct mix_walk *w)
{
	size_t	 i, worst = 0;

	for (i = 1; i < w->n; i++)
		if (memcmp(w->rank[i], w->rank[worst], 32) > 0)
			worst = i;
	return worst;
}

/* store_scan of the index: keep the ids of smallest rank. */
static int
mix_walk_cb(const char *key, json_t *val, void *arg)
{
	struct mix_walk	*w = arg;
	const char	*id = json_string_value(json_object_get(val, "user_id"));
	unsigned char	 r[EVP_MAX_MD_SIZE];
	size_t		 i;

	if (++w->seen > MIX_WALK_MAX)
		return 1;
	if (id == NULL || strlen(id) >= MIX_ID_MAX ||
	    EVP_Digest(id, strlen(id), r, NULL, EVP_sha256(), NULL) != 1)
		return 0;
	for (i = 0; i < w->n; i++)
		if (memcmp(r, w->rank[i], 32) == 0)
			return 0;	/* by email and by username */
	if (w->n < HASH_MIX_MAX)
		i = w->n++;
	else if (memcmp(r, w->rank[i = mix_worst(w)], 32) >= 0)
		return 0;
	memcpy(w->rank[i], r, 32);
	snprintf(w->id[i], MIX_ID_MAX, "%s", id);
	return 0;
}

/* Sample the connection's hashes into m.  A failure leaves a smaller
 * (or empty) sample: the policy's dummy then stands in. */
static void
mix_build(struct store *st, const char *conn, struct hash_mix *m)
{
	static const char *const idx[] = { "e", "u" };
	struct mix_walk	 w;
	json_t		*user;
	char		 prefix[300];
	size_t		 i;

	memset(&w, 0, sizeof(w));
	hash_mix_init(m);
	for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		snprintf(prefix, sizeof(prefix), "%s\x1f%s\x1f", idx[i], conn);
		if (store_scan(st, SK_USERIDX, prefix, mix_walk_cb, &w) !=
		    STORE_OK)
			lk_warn("cannot sample the connection's hashes");
	}
	for (i = 0; i < w.n; i++) {
		if (store_get(st, NULL, SK_USER, w.id[i], &user) != STORE_OK)
			continue;
		(void)hash_mix_add(m, json_string_value(json_object_get(user,
		    "password_hash")));
		json_decref(user);
	}
	if (hash_mix_seal(m) == -1)
		hash_mix_init(m);
}

/* The connection's mix, rebuilt when older than MIX_TTL. */
static const struct hash_mix *
mix_for(struct grant_req *g, const char *conn)
{
	size_t	 i, slot = 0;

	if (strlen(conn) >= sizeof(mixes[0].conn))
		return NULL;
	for (i = 0; i < MIX_CONNS; i++) {
		if (mixes[i].at != 0 && strcmp(mixes[i].conn, conn) == 0)
			break;
		if (mixes[i].at < mixes[slot].at)
			slot = i;	/* the free or oldest one */
	}
	if (i < MIX_CONNS)
		slot = i;
	if (i == MIX_CONNS || g->req->now - mixes[slot].at >= MIX_TTL ||
	    g->req->now < mixes[slot].at) {
		snprintf(mixes[slot].conn, sizeof(mixes[slot].conn), "%s", conn);
		mix_build(g->ctx->store, conn, &mixes[slot].m);
		mixes[slot].at = g->req->now > 0 ? g->req->now : 1;
	}
	return &mixes[slot].m;
}

/* Attack protection's record of this attempt (guard.c). */
static void
attempt(struct grant_req *g, const json_t *user, enum guard_event ev)
{

	guard_after(g->ctx, &g->tenant, &g->who, g->p.v[F_USERNAME],
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
	const struct hash_mix	*mix;
	json_t			*user = NULL;
	const char		*enc = NULL;
	enum hash_rc		 hrc;
	enum store_rc		 src;
	int			 rehash = 0, held;

	pol = g->tenant.hash_policy;
	/* A blocked pair or IP costs no lookup and no hash (guard.c). */
	if (guard_before(g->ctx, &g->tenant, &g->who, g->p.v[F_USERNAME],
	    g->req->now, g->resp) == -1)
		return NULL;
	/* Before the lookup: whoever comes may pay for the sample. */
	mix = mix_for(g, connection);
	src = store_user_find(g->ctx->store, NULL, connection,
	    g->p.v[F_USERNAME], &user);
	if (src != STORE_OK && src != STORE_NOTFOUND) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return NULL;
	}
	if (user != NULL)
		enc = json_string_value(json_object_get(user, "password_hash"));
	/* A login storm is shed, not queued without bound (admit.c). */
	if (admit_hash_enter(g->ctx, &g->tenant, &adm) == ADMIT_BUSY) {
		admit_shed(g->resp);
		json_decref(user);
		return NULL;
	}
	if (enc == NULL)	/* the cost of a user of the connection */
		hrc = hash_verify_unknown(&pol, mix, g->p.v[F_USERNAME],
		    g->p.v[F_PASSWORD], g->p.len[F_PASSWORD]);
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
	if (breached_password(&g->tenant, g->p.v[F_PASSWORD],
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
