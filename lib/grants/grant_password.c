/*
 * The password grants at /oauth/token (docs/COMPAT.md 3.1, 3.2):
 *  - grant_type=password authenticates against the tenant's
 *    default_directory;
 *  - http://auth0.com/oauth/grant-type/password-realm against `realm`;
 *    grant_type=password with a realm (auth0-auth-js sends this) is taken
 *    as password-realm.
 * The connection must take passwords (a database connection, or Azure AD
 * or ADFS: docs/COMPAT.md 12) and be enabled for the client.
 * An unknown user costs a wrong password's verify against a hash of the
 * connection's own mix (hash.c) and gets the very answer a wrong password
 * gets (docs/COMPAT.md 9.5).  A login with an old or weak hash rehashes
 * it with the tenant policy.
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
rehash_txn(struct store *st, struct txn *txn, void *arg)
{
	const struct rehash	*rh = arg;
	struct user		 u;
	enum store_rc		 rc;

	if ((rc = record_get(st, txn, REC_USER, rh->user_id, &u)) != STORE_OK)
		return rc;
	if (u.password_hash == NULL || strcmp(u.password_hash, rh->old) != 0) {
		record_clear(REC_USER, &u);
		return STORE_OK;	/* changed meanwhile: leave it */
	}
	json_object_set_new(u.json, "password_hash", json_string(rh->new));
	rc = store_user_put(st, txn, u.json);
	record_clear(REC_USER, &u);
	return rc;
}

/*
 * The user's password hashed again under the tenant's policy, in the
 * hash slot its verify took (adm), which it then leaves.  The hash lets
 * go of the store (with the verify before it, two hash times would hold
 * it); the write comes after the slot is free, so that no login waits
 * for a slot while this one commits.
 */
static void
rehash_user(struct grant_req *g, const struct user *user,
    struct admit *adm)
{
	struct rehash	 rh;
	char		 enc[HASH_ENCODED_MAX];
	int		 ok;

	rh.user_id = user->user_id;
	rh.old = user->password_hash;
	rh.new = enc;
	store_pause(g->ctx->store);
	ok = rh.user_id != NULL && rh.old != NULL &&
	    hash_password(&g->tenant.hash_policy, g->p.v[F_PASSWORD],
	    g->p.len[F_PASSWORD], enc, sizeof(enc)) == 0;
	admit_hash_leave(adm);
	store_resume(g->ctx->store);
	/* The login succeeds even if this fails: it is retried next time. */
	if (ok && store_txn_run(g->ctx->store, rehash_txn, &rh) != STORE_OK)
		lk_warn("rehash failed; kept the old hash");
	OPENSSL_cleanse(enc, sizeof(enc));
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
	unsigned char	 r[SHA256_LEN];
	size_t		 i;

	if (++w->seen > MIX_WALK_MAX)
		return 1;
	if (id == NULL || strlen(id) >= MIX_ID_MAX ||
	    sha256(id, strlen(id), r) == -1)
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
	struct user	 user;
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
		if (record_get(st, NULL, REC_USER, w.id[i], &user) != STORE_OK)
			continue;
		(void)hash_mix_add(m, user.password_hash);
		record_clear(REC_USER, &user);
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

/* Attack protection's record of this attempt (guard.c); user NULL for
 * an unknown one.  rc, or LOGIN_ERR when a refusal could not be
 * counted: answered, its count would be lost (a 503 instead, route.c). */
static enum login_rc
attempt(struct grant_req *g, const struct user *user, enum guard_event ev,
    enum login_rc rc)
{

	if (guard_after(g->ctx, &g->tenant, &g->who, g->p.v[F_USERNAME],
	    user != NULL ? user->user_id : NULL, ev, g->req->now) == -1 &&
	    rc != LOGIN_OK)
		return LOGIN_ERR;
	return rc;
}

/*
 * Verify the password against the user's hash (enc NULL: an unknown
 * user, verified against the connection's mix), holding a hash slot
 * (admit.c).  *rehash: the stored hash is due a rehash; the slot is then
 * still held, in *adm, for the second hash.  LOGIN_OK, LOGIN_WRONG or
 * LOGIN_BUSY (the 503 written).
 */
static enum login_rc
hash_check(struct grant_req *g, const struct hash_mix *mix, const char *enc,
    int blocked, struct admit *adm, int *rehash)
{
	const struct hash_policy *pol = &g->tenant.hash_policy;
	enum hash_rc		 hrc;

	*rehash = 0;
	/* A login storm waits within a budget, then is shed (admit.c). */
	adm->peer_fd = g->req->peer_fd;
	if (admit_hash_enter(g->ctx, &g->tenant, adm) == ADMIT_BUSY) {
		admit_shed(g->resp, adm);
		return LOGIN_BUSY;
	}
	if (enc == NULL)	/* the cost of a user of the connection */
		hrc = hash_verify_unknown(pol, mix, g->p.v[F_USERNAME],
		    g->p.v[F_PASSWORD], g->p.len[F_PASSWORD]);
	else	/* with dummy work for a bad or cheap stored hash (hash.c) */
		hrc = hash_verify_login(pol, enc, g->p.v[F_PASSWORD],
		    g->p.len[F_PASSWORD], rehash);
	/* The slot is kept through a rehash (a second hash), else freed. */
	if (hrc != HASH_OK || blocked)
		*rehash = 0;
	if (!*rehash)
		admit_hash_leave(adm);
	if (hrc == HASH_ERR)
		lk_warn("stored password hash of unsupported format");
	return hrc == HASH_OK ? LOGIN_OK : LOGIN_WRONG;
}

/*
 * Find and check the user.  The same answer and the same hash work
 * whether the user is unknown or the password is wrong; a blocked user
 * or a breached password is refused only once the password verified.
 */
enum login_rc
grant_password_user(struct grant_req *g, const char *connection,
    struct user *user)
{
	struct admit		 adm;
	const struct hash_mix	*mix;
	json_t			*found = NULL;
	enum login_rc		 rc;
	int			 rehash, known;

	memset(user, 0, sizeof(*user));
	/* A blocked pair or IP costs no lookup and no hash (guard.c). */
	if (guard_before(g->ctx, &g->tenant, &g->who, g->p.v[F_USERNAME],
	    g->req->now, g->resp) == -1)
		return LOGIN_THROTTLED;
	/* Before the lookup: whoever comes may pay for the sample. */
	mix = mix_for(g, connection);
	switch (store_user_find(g->ctx->store, NULL, connection,
	    g->p.v[F_USERNAME], &found)) {
	case STORE_OK:
		known = record_parse(REC_USER, found, user) == 0;
		json_decref(found);
		if (!known)
			return LOGIN_ERR;
		break;
	case STORE_NOTFOUND:
		known = 0;
		break;
	default:
		return LOGIN_ERR;
	}
	rc = hash_check(g, mix, user->password_hash, user->blocked, &adm,
	    &rehash);
	if (rc == LOGIN_WRONG)
		rc = attempt(g, known ? user : NULL, known ?
		    GUARD_EV_WRONG_PASSWORD : GUARD_EV_UNKNOWN_USER, rc);
	if (rc != LOGIN_OK)
		goto fail;
	if (user->blocked) {
		rc = attempt(g, user, GUARD_EV_USER_BLOCKED, LOGIN_BLOCKED);
		goto fail;
	}
	if (rehash)
		rehash_user(g, user, &adm);
	/* Only a password that verified is checked: it is the user's own
	 * that leaked (breached.c). */
	if (breached_password(&g->tenant, g->p.v[F_PASSWORD],
	    g->p.len[F_PASSWORD])) {
		rc = attempt(g, user, GUARD_EV_LEAKED, LOGIN_LEAKED);
		goto fail;
	}
	return attempt(g, user, GUARD_EV_SUCCESS, LOGIN_OK);
fail:
	record_clear(REC_USER, user);
	return rc;
}

/* The connection of this request: realm or the default directory, a
 * connection that takes passwords (database, Azure AD, ADFS). */
static enum conn_rc
connection_for(struct grant_req *g, const char *name, struct conn *c)
{
	enum conn_rc	 rc;

	if ((rc = grant_connection(g, name, c)) != CONN_OK)
		return rc;
	if (grant_login_takes_password(c->strategy) && c->name != NULL)
		return CONN_OK;
	record_clear(REC_CONNECTION, c);
	return CONN_STRATEGY;
}

/* The required fields; -1 with the error written. */
static int
password_params(struct grant_req *g)
{

	if (g->gt == GT_PASSWORD_REALM && g->p.v[F_REALM] == NULL)
		return oerr_write(g->resp, OERR_MISSING_PARAM, "realm"), -1;
	if (g->p.v[F_REALM] != NULL) {
		g->gt = GT_PASSWORD_REALM;
		g->gty = grant_type_def(g->gt)->gty;
		snprintf(g->resp->grant, sizeof(g->resp->grant), "%s", g->gty);
	}
	if (g->p.v[F_USERNAME] == NULL || *g->p.v[F_USERNAME] == '\0')
		return oerr_write(g->resp, OERR_MISSING_PARAM, "username"), -1;
	if (g->p.v[F_PASSWORD] == NULL || *g->p.v[F_PASSWORD] == '\0')
		return oerr_write(g->resp, OERR_MISSING_PARAM, "password"), -1;
	return 0;
}

void
grant_password(struct grant_req *g)
{
	struct api	 api;
	struct conn	 conn;
	struct user	 user;
	const char	*aud, *name = g->p.v[F_REALM];
	enum aud_rc	 arc;
	enum conn_rc	 crc;
	enum login_rc	 lrc;

	memset(&conn, 0, sizeof(conn));
	memset(&user, 0, sizeof(user));
	if (password_params(g) == -1)
		return;
	if ((arc = grant_audience(g, &api, &aud)) != AUD_OK) {
		grant_fail(g, token_errs.aud[arc], aud);
		return;
	}
	if (name == NULL)
		name = g->tenant.default_directory;
	/* No default directory, or one naming no connection: a set-up
	 * error (docs/COMPAT.md 3.2). */
	if (name == NULL || *name == '\0') {
		oerr_write(g->resp, OERR_NO_DEFAULT_CONNECTION, NULL);
		goto out;
	}
	if ((crc = connection_for(g, name, &conn)) != CONN_OK) {
		grant_fail(g, crc == CONN_UNKNOWN && g->p.v[F_REALM] == NULL ?
		    OERR_NO_DEFAULT_CONNECTION : token_errs.conn[crc], name);
		goto out;
	}
	if ((lrc = grant_login(g, &conn, &user)) != LOGIN_OK) {
		grant_fail(g, token_errs.login[lrc], NULL);
		goto out;
	}
	/* A second factor, once the first passed (docs/COMPAT.md 13.2). */
	if (mfa_gate(g, &user, conn.name) == -1)
		goto out;
	grant_issue_login(g, &user, &api);
out:
	record_clear(REC_USER, &user);
	record_clear(REC_CONNECTION, &conn);
	record_clear(REC_API, &api);
}
