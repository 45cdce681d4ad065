/*
 * Refresh tokens (docs/COMPAT.md 5; RFC 6749 6 and 10.4; OAuth 2.0
 * Security BCP, RFC 9700 4.14: rotation with reuse detection): the
 * records, issue, redeem, and RFC 7009 revocation of one token.  A
 * client's settings are in refresh_conf.c, the per-user index of
 * families in refresh_index.c, what only latchkeyctl does (list, revoke
 * by selection, prune) in lib/admin/refresh_admin.c.
 *
 * A token is 256 random bits, base64url; only its hash_secret() digest is
 * stored.  SK_REFRESH holds two kinds of record (members: enum rmem):
 *
 * "sha256:<hex>", one per token, written once when issued: {
 *	"family", "pwd_at" (the user's password_set_at when issued),
 *	"created_at", "idle_expires_at" (0 never), "status": "active"
 *	(older releases also copied the family's "user_id", "client_id",
 *	"audience", "scope", "device" and "expires_at" into it, and wrote
 *	"spent", "spent_at" and "next", the successor's digest, into a
 *	rotated token's record; what the family holds is read from it)
 * }
 * "family:<32 hex>", one per login: {
 *	"user_id", "client_id", "audience", "scope", "device",
 *	"created_at", "expires_at", "idle_expires_at", "last_used_at",
 *	"current" (the newest token's digest), "prev" (the one before it,
 *	absent: none) and "prev_spent_at" (when "prev" was first used),
 *	"status": "active"|"revoked", "revoked_at", "reason",
 *	"jkt" (a public client's DPoP key, RFC 9449 5; absent: unbound)
 * }
 *
 * The family is the unit of revocation: one record write ends every token
 * of a login, whichever of them an attacker holds.  A token is good only
 * while it and its family are active and unexpired, it is the family's
 * current token (or, within the leeway, the one just before it), and the
 * user exists, is not blocked and has not had a new password set since
 * (pwd_at).  Any other token presented means two holders: the family is
 * revoked.
 * Rotation writes the successor and moves the family's "current" on, in
 * one transaction: two records, the spent token's own is not rewritten
 * (the family says which token is spent).  So two concurrent refreshes
 * cannot both succeed: a rotation reads the family to write it
 * (store_get_update), the second waits for the first's commit and then
 * finds the token spent.  The commit
 * is synced before the answer, grouped with other responders' commits
 * (store_txn_run_flushed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"
#include "refresh_int.h"

/* ------------------------------------------------------------------ */
/* Records.                                                            */

static const char *const rmembers[RM__MAX] = {
	[RM_USER_ID] = "user_id",
	[RM_CLIENT_ID] = "client_id",
	[RM_AUDIENCE] = "audience",
	[RM_SCOPE] = "scope",
	[RM_DEVICE] = "device",
	[RM_FAMILY] = "family",
	[RM_PWD_AT] = "pwd_at",
	[RM_CREATED_AT] = "created_at",
	[RM_EXPIRES_AT] = "expires_at",
	[RM_IDLE_EXPIRES_AT] = "idle_expires_at",
	[RM_STATUS] = "status",
	[RM_SPENT_AT] = "spent_at",
	[RM_NEXT] = "next",
	[RM_LAST_USED_AT] = "last_used_at",
	[RM_CURRENT] = "current",
	[RM_REVOKED_AT] = "revoked_at",
	[RM_REASON] = "reason",
	[RM_JKT] = "jkt",
	[RM_PREV] = "prev",
	[RM_PREV_SPENT_AT] = "prev_spent_at",
};

const char *
refresh_member(enum rmem m)
{
	return rmembers[m];
}

const char *
refresh_str(const json_t *rec, enum rmem m)
{
	return json_string_value(json_object_get(rec, rmembers[m]));
}

json_int_t
refresh_int(const json_t *rec, enum rmem m)
{
	return json_integer_value(json_object_get(rec, rmembers[m]));
}

int
refresh_is(const json_t *rec, enum rmem m, const char *s)
{
	const char	*v = refresh_str(rec, m);

	return v != NULL && s != NULL && strcmp(v, s) == 0;
}

void
refresh_set(json_t *rec, enum rmem m, json_t *v)
{
	json_object_set_new(rec, rmembers[m], v);
}

json_int_t
refresh_expiry(time_t now, long life)
{
	return life > 0 ? (json_int_t)now + life : 0;
}

int
refresh_expired(json_int_t at, time_t now)
{
	return at != 0 && (json_int_t)now >= at;
}

void
refresh_family_key(const char *id, char key[FAMILY_KEY_MAX])
{
	snprintf(key, FAMILY_KEY_MAX, "%s%s", FAMILY_PREFIX, id);
}

enum store_rc
refresh_family_revoke(struct store *st, struct txn *txn, const char *fkey,
    json_t *fam, const char *reason, time_t now)
{

	if (!refresh_is(fam, RM_STATUS, "active"))
		return STORE_OK;
	refresh_set(fam, RM_STATUS, json_string("revoked"));
	refresh_set(fam, RM_REVOKED_AT, json_integer(now));
	refresh_set(fam, RM_REASON, json_string(reason));
	return store_put(st, txn, SK_REFRESH, fkey, fam, 0);
}

/*
 * A new token of family famid into out, its record written under its
 * digest (into key); the user, client, audience, scope and expiry are the
 * family's, read from it.  STORE_ERR when out cannot hold a token or
 * there is no randomness.
 */
static enum store_rc
token_new(struct store *st, struct txn *txn, const char *famid,
    json_int_t pwd_at, long idle, time_t now, char *out, size_t outsz,
    char key[DIGEST_KEY_MAX])
{
	json_t		*rec;
	enum store_rc	 rc;

	if (rand_b64url(out, outsz, REFRESH_BYTES) == -1 ||
	    hash_secret(out, strlen(out), key) == -1)
		return STORE_ERR;
	rec = json_pack("{s:s, s:I, s:I, s:I, s:s}", "family", famid,
	    "pwd_at", pwd_at, "created_at", (json_int_t)now,
	    "idle_expires_at", refresh_expiry(now, idle), "status", "active");
	if (rec == NULL)
		return STORE_ERR;
	rc = store_put(st, txn, SK_REFRESH, key, rec, STORE_NOOVERWRITE);
	json_decref(rec);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Issue.                                                              */

struct issue {
	const struct refresh_new	*rn;
	const struct refresh_conf	*conf;
	time_t				 now;
	char				*out;
	size_t				 outsz;
};

/* The family rn->family continues, into *fam: STORE_NOTFOUND unless it
 * is the client's, active and unexpired. */
static enum store_rc
issue_family_old(struct store *st, struct txn *txn, const struct issue *is,
    const char *fkey, json_t **fam)
{
	enum store_rc	 rc;

	if ((rc = store_get(st, txn, SK_REFRESH, fkey, fam)) != STORE_OK)
		return rc;
	if (!refresh_is(*fam, RM_STATUS, "active") ||
	    !refresh_is(*fam, RM_CLIENT_ID, is->rn->client_id) ||
	    refresh_expired(refresh_int(*fam, RM_EXPIRES_AT), is->now))
		return STORE_NOTFOUND;
	return STORE_OK;
}

/* A new family (id) into *fam, indexed. */
static enum store_rc
issue_family_new(struct store *st, struct txn *txn, const struct issue *is,
    const char *id, json_t **fam)
{
	const struct refresh_new *rn = is->rn;

	*fam = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}",
	    "user_id", rn->user_id, "client_id", rn->client_id,
	    "scope", rn->scope != NULL ? rn->scope : "",
	    "created_at", (json_int_t)is->now,
	    "expires_at", refresh_expiry(is->now, is->conf->lifetime),
	    "status", "active");
	if (*fam == NULL)
		return STORE_ERR;
	if (rn->audience != NULL)
		refresh_set(*fam, RM_AUDIENCE, json_string(rn->audience));
	if (rn->device != NULL)
		refresh_set(*fam, RM_DEVICE, json_string(rn->device));
	if (rn->jkt != NULL)
		refresh_set(*fam, RM_JKT, json_string(rn->jkt));
	return refresh_index_put(st, txn, id, *fam);
}

static enum store_rc
issue_txn(struct store *st, struct txn *txn, void *arg)
{
	struct issue		*is = arg;
	struct user		 user;
	json_t			*fam = NULL;
	char			 id[FAMILY_ID_LEN + 1], fkey[FAMILY_KEY_MAX];
	char			 key[DIGEST_KEY_MAX];
	enum store_rc		 rc;

	rc = record_get(st, txn, REC_USER, is->rn->user_id, &user);
	if (rc != STORE_OK)
		goto out;
	if (is->rn->family != NULL) {
		snprintf(id, sizeof(id), "%s", is->rn->family);
		refresh_family_key(id, fkey);
		rc = issue_family_old(st, txn, is, fkey, &fam);
	} else if (rand_hex(id, FAMILY_BYTES) == -1)
		rc = STORE_ERR;
	else {
		refresh_family_key(id, fkey);
		rc = issue_family_new(st, txn, is, id, &fam);
	}
	if (rc != STORE_OK)
		goto out;
	rc = token_new(st, txn, id, user.password_set_at, is->conf->idle,
	    is->now, is->out, is->outsz, key);
	if (rc != STORE_OK)
		goto out;
	refresh_set(fam, RM_CURRENT, json_string(key));
	refresh_set(fam, RM_LAST_USED_AT, json_integer(is->now));
	refresh_set(fam, RM_IDLE_EXPIRES_AT,
	    json_integer(refresh_expiry(is->now, is->conf->idle)));
	rc = store_put(st, txn, SK_REFRESH, fkey, fam, 0);
out:
	record_clear(REC_USER, &user);
	json_decref(fam);
	return rc;
}

int
refresh_issue(struct lk_ctx *ctx, const struct tenant *tenant,
    const struct client_rec *client, const struct api *api,
    const struct refresh_new *rn, time_t now, char *out, size_t outsz)
{
	struct refresh_conf	 conf;
	struct refresh_new	 n = *rn;
	struct issue		 is = { &n, &conf, now, out, outsz };

	if (outsz < 96 || rn->user_id == NULL || rn->client_id == NULL)
		return -1;
	if (n.audience == NULL && api != NULL)
		n.audience = api->identifier;
	refresh_conf(client, &conf);
	if (store_txn_run(ctx->store, issue_txn, &is) != STORE_OK) {
		lk_err("cannot issue a refresh token");
		OPENSSL_cleanse(out, outsz);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Redeem.                                                             */

void
refresh_use_init(struct refresh_use *u)
{

	memset(u, 0, sizeof(*u));
	buf_init(&u->granted);
}

/* Forget what an earlier (aborted) attempt found. */
static void
use_reset(struct refresh_use *u)
{

	record_clear(REC_USER, &u->user);
	record_clear(REC_API, &u->api);
	json_decref(u->rec);
	u->rec = NULL;
	buf_reset(&u->granted);
	OPENSSL_cleanse(u->next, sizeof(u->next));
	u->rc = REFRESH_INVALID;
}

void
refresh_use_clear(struct refresh_use *u)
{

	use_reset(u);
	buf_clear(&u->granted);
}

/*
 * When the token (rec under key) was first used if it is the one just
 * before its family's current one, else 0: the family's "prev", or a
 * record an older release marked spent with "next" the current one.
 */
static json_int_t
prev_spent_at(const char *key, const json_t *rec, const json_t *fam)
{

	if (refresh_is(fam, RM_PREV, key))
		return refresh_int(fam, RM_PREV_SPENT_AT);
	if (refresh_is(rec, RM_STATUS, "spent") &&
	    refresh_is(fam, RM_CURRENT, refresh_str(rec, RM_NEXT)))
		return refresh_int(rec, RM_SPENT_AT);
	return 0;
}

/*
 * Whether the token (rec under key, of family fam) may be redeemed now by
 * the client: REFRESH_OK, REFRESH_INVALID, or REFRESH_REUSED for a token
 * that is not its family's current one, outside the leeway (which only
 * the immediately previous token gets, docs/COMPAT.md 5.4).
 *
 * A family has one live chain (RFC 9700 4.14.2): any other token of it
 * was spent, or superseded by a leeway replay of its predecessor, so two
 * holders are refreshing from one login and one of them is not the
 * client: reuse.  (A non-rotating family's current token is always its
 * only one.)
 */
static enum refresh_rc
token_state(const char *key, const json_t *rec, const json_t *fam,
    const char *client_id, const struct refresh_conf *conf, time_t now)
{
	json_int_t	 spent;

	if (!refresh_is(fam, RM_CLIENT_ID, client_id) ||
	    !refresh_is(fam, RM_STATUS, "active") ||
	    refresh_expired(refresh_int(fam, RM_EXPIRES_AT), now) ||
	    (!refresh_is(rec, RM_STATUS, "active") &&
	    !refresh_is(rec, RM_STATUS, "spent")))
		return REFRESH_INVALID;
	if (refresh_is(fam, RM_CURRENT, key))
		return refresh_expired(refresh_int(rec, RM_IDLE_EXPIRES_AT),
		    now) ? REFRESH_INVALID : REFRESH_OK;
	spent = prev_spent_at(key, rec, fam);
	if (conf->rotating && conf->leeway > 0 && spent != 0 &&
	    (json_int_t)now <= spent + conf->leeway)
		return REFRESH_OK;
	return REFRESH_REUSED;
}

/* The family's last use and idle expiry (rotate, touch). */
static void
family_used(json_t *fam, const struct refresh_conf *conf, time_t now)
{

	refresh_set(fam, RM_LAST_USED_AT, json_integer(now));
	refresh_set(fam, RM_IDLE_EXPIRES_AT,
	    json_integer(refresh_expiry(now, conf->idle)));
}

/*
 * Rotation: write the successor of rec (the family's current token, or
 * within the leeway the one before it) into u->next and make it the
 * family's current one; rec becomes the family's "prev".  A replay within
 * the leeway keeps "prev_spent_at", so the window does not grow: the
 * successor the first use wrote is no longer current, and token_state()
 * calls its use reuse.  latchkey cannot answer the replay with that first
 * successor again (only its digest is stored), and two live successors
 * would be two independent sessions from one stolen token.
 */
static enum store_rc
rotate(struct store *st, struct txn *txn, const char *key, json_t *rec,
    const char *fkey, json_t *fam, const struct refresh_conf *conf,
    struct refresh_use *u)
{
	char		 nkey[DIGEST_KEY_MAX];
	enum store_rc	 rc;

	rc = token_new(st, txn, refresh_str(rec, RM_FAMILY),
	    refresh_int(rec, RM_PWD_AT), conf->idle, u->now, u->next,
	    sizeof(u->next), nkey);
	if (rc != STORE_OK)
		return rc;
	if (!refresh_is(fam, RM_PREV, key)) {
		refresh_set(fam, RM_PREV_SPENT_AT, json_integer(
		    refresh_is(fam, RM_CURRENT, key) ? (json_int_t)u->now :
		    prev_spent_at(key, rec, fam)));
		refresh_set(fam, RM_PREV, json_string(key));
	}
	refresh_set(fam, RM_CURRENT, json_string(nkey));
	family_used(fam, conf, u->now);
	u->unflushed = 1;
	return store_put(st, txn, SK_REFRESH, fkey, fam, 0);
}

/* Non-rotating: restart the idle time when refresh_touch_due says so. */
static enum store_rc
touch(struct store *st, struct txn *txn, const char *key, json_t *rec,
    const char *fkey, json_t *fam, const struct refresh_conf *conf,
    struct refresh_use *u)
{
	enum store_rc	 rc;

	if (!refresh_touch_due(refresh_int(rec, RM_IDLE_EXPIRES_AT),
	    conf->idle, u->now))
		return STORE_OK;
	refresh_set(rec, RM_IDLE_EXPIRES_AT,
	    json_integer(refresh_expiry(u->now, conf->idle)));
	u->unflushed = 1;
	if ((rc = store_put(st, txn, SK_REFRESH, key, rec, 0)) != STORE_OK)
		return rc;
	family_used(fam, conf, u->now);
	return store_put(st, txn, SK_REFRESH, fkey, fam, 0);
}

/*
 * The user behind the token (rec, of family fam) into *user: REFRESH_OK
 * in u->rc, or why not (*revoke says the family dies with it).
 */
static enum store_rc
user_state(struct store *st, struct txn *txn, const json_t *rec,
    const json_t *fam, struct refresh_use *u, struct user *user, int *revoke)
{
	enum store_rc	 rc;

	*revoke = 0;
	rc = record_get(st, txn, REC_USER, refresh_str(fam, RM_USER_ID), user);
	if (rc == STORE_NOTFOUND) {
		u->rc = REFRESH_USER_GONE;
		*revoke = 1;
		return STORE_OK;
	}
	if (rc != STORE_OK)
		return rc;
	if (user->blocked)
		u->rc = REFRESH_USER_BLOCKED;
	else if (user->password_set_at != refresh_int(rec, RM_PWD_AT)) {
		/* A new password ends the sessions begun with the old. */
		u->rc = REFRESH_INVALID;
		*revoke = 1;
	} else
		u->rc = REFRESH_OK;
	return STORE_OK;
}

/*
 * The API of the family's audience into *api (json NULL: none), read in
 * the redeeming transaction so that a removed API refuses the refresh
 * before anything is spent (REFRESH_NO_API).
 */
static enum store_rc
token_api(struct store *st, struct txn *txn, const json_t *fam,
    struct refresh_use *u, struct api *api)
{
	const char	*aud = refresh_str(fam, RM_AUDIENCE);
	enum store_rc	 rc;

	memset(api, 0, sizeof(*api));
	if (aud == NULL)
		return STORE_OK;
	rc = record_get(st, txn, REC_API, aud, api);
	if (rc == STORE_NOTFOUND) {
		u->rc = REFRESH_NO_API;
		return STORE_OK;
	}
	return rc;
}

/* RFC 9449 5: a family bound to a key is redeemed only with a proof of
 * that key (a thumbprint is public: no time-safe compare needed). */
static int
key_ok(const json_t *fam, const char *jkt)
{
	const char	*bound = refresh_str(fam, RM_JKT);

	return bound == NULL || (jkt != NULL && strcmp(bound, jkt) == 0);
}

/* One redemption's records, read in its transaction. */
struct redeem {
	char		 key[DIGEST_KEY_MAX], fkey[FAMILY_KEY_MAX];
	json_t		*rec, *fam;
	struct user	 user;
	struct api	 api;
	struct refresh_conf conf;
};

/* The token and its family; STORE_NOTFOUND for an unknown token or one
 * of another client. */
static enum store_rc
redeem_find(struct store *st, struct txn *txn, struct refresh_use *u,
    struct redeem *r)
{
	enum store_rc	 rc;

	if (hash_secret(u->token, strlen(u->token), r->key) == -1)
		return STORE_ERR;
	if ((rc = store_get(st, txn, SK_REFRESH, r->key, &r->rec)) != STORE_OK)
		return rc;
	if (refresh_str(r->rec, RM_FAMILY) == NULL)
		return STORE_NOTFOUND;
	refresh_family_key(refresh_str(r->rec, RM_FAMILY), r->fkey);
	/* A rotating family is written by nearly every redemption. */
	rc = r->conf.rotating ?
	    store_get_update(st, txn, SK_REFRESH, r->fkey, &r->fam) :
	    store_get(st, txn, SK_REFRESH, r->fkey, &r->fam);
	if (rc != STORE_OK)
		return rc;
	return refresh_is(r->fam, RM_CLIENT_ID, u->clientrec->client_id) ?
	    STORE_OK : STORE_NOTFOUND;
}

/* The checks after the token's own: its user, then its state.  u->rc
 * says the outcome; a reused or orphaned family is revoked. */
static enum store_rc
redeem_check(struct store *st, struct txn *txn, struct refresh_use *u,
    struct redeem *r)
{
	enum store_rc	 rc;
	int		 revoke;

	/* The user first: a deleted or blocked user gets Auth0's own
	 * answer even when latchkeyctl has revoked the family already. */
	if ((rc = user_state(st, txn, r->rec, r->fam, u, &r->user, &revoke))
	    != STORE_OK)
		return rc;
	if (revoke) {
		u->unflushed = 1;
		rc = refresh_family_revoke(st, txn, r->fkey, r->fam,
		    u->rc == REFRESH_USER_GONE ? "user deleted" :
		    "password changed", u->now);
	}
	if (u->rc != REFRESH_OK)
		return rc;
	u->rc = token_state(r->key, r->rec, r->fam, u->clientrec->client_id,
	    &r->conf, u->now);
	if (u->rc == REFRESH_OK && !key_ok(r->fam, u->jkt))
		u->rc = REFRESH_DPOP_KEY;
	if (u->rc == REFRESH_REUSED) {
		lk_warn("refresh token reused: family %s revoked",
		    refresh_str(r->rec, RM_FAMILY));
		u->unflushed = 1;
		return refresh_family_revoke(st, txn, r->fkey, r->fam, "reuse",
		    u->now);
	}
	return STORE_OK;
}

/* A checked token: its API and the scope asked for, then spend (rotate)
 * or touch it. */
static enum store_rc
redeem_spend(struct store *st, struct txn *txn, struct refresh_use *u,
    struct redeem *r)
{
	struct scope_result	 sr;
	enum store_rc		 rc;
	int			 n;

	if ((rc = token_api(st, txn, r->fam, u, &r->api)) != STORE_OK)
		return rc;
	if (u->rc == REFRESH_NO_API) {
		u->rec = json_incref(r->fam);
		return STORE_OK;
	}
	if (u->jkt == NULL && r->api.json != NULL &&
	    dpop_api_requires(r->api.proof_of_possession,
	    u->clientrec->auth_method == CLIENT_AUTH_NONE)) {
		u->rc = REFRESH_DPOP_REQUIRED;
		return STORE_OK;
	}
	memset(&sr, 0, sizeof(sr));
	n = scope_refresh(refresh_str(r->fam, RM_SCOPE), u->scope,
	    r->api.json != NULL ? &r->api : NULL, &sr);
	if (n != 0) {
		u->rc = REFRESH_SCOPE;
		rc = n == -1 ? STORE_ERR : STORE_OK;
	} else if (buf_puts(&u->granted, sr.granted.p != NULL ?
	    sr.granted.p : "") == -1)
		rc = STORE_ERR;
	else
		rc = r->conf.rotating ?
		    rotate(st, txn, r->key, r->rec, r->fkey, r->fam, &r->conf,
		    u) :
		    touch(st, txn, r->key, r->rec, r->fkey, r->fam, &r->conf, u);
	scope_result_clear(&sr);
	return rc;
}

static enum store_rc
redeem_txn(struct store *st, struct txn *txn, void *arg)
{
	struct refresh_use	*u = arg;
	struct redeem		 r;
	enum store_rc		 rc;

	use_reset(u);
	u->unflushed = 0;
	memset(&r, 0, sizeof(r));
	refresh_conf(u->clientrec, &r.conf);
	rc = redeem_find(st, txn, u, &r);
	if (rc == STORE_OK)
		rc = redeem_check(st, txn, u, &r);
	if (rc == STORE_OK && u->rc == REFRESH_OK)
		rc = redeem_spend(st, txn, u, &r);
	if (rc == STORE_OK && u->rc == REFRESH_OK) {
		u->user = r.user;
		u->api = r.api;
		memset(&r.user, 0, sizeof(r.user));
		memset(&r.api, 0, sizeof(r.api));
		u->rec = json_incref(r.fam);
	}
	/* An unknown token is an answer, not a store failure. */
	if (rc == STORE_NOTFOUND) {
		u->rc = REFRESH_INVALID;
		rc = STORE_OK;
	}
	record_clear(REC_USER, &r.user);
	record_clear(REC_API, &r.api);
	json_decref(r.fam);
	json_decref(r.rec);
	return rc;
}

int
refresh_flush(struct store *st, struct refresh_use *u)
{

	if (!u->unflushed)
		return 0;
	u->unflushed = 0;
	return store_flush(st) == STORE_OK ? 0 : -1;
}

enum refresh_rc
refresh_redeem(struct store *st, struct refresh_use *u)
{
	enum refresh_rc	 rc;

	if (u->token == NULL || u->clientrec == NULL)
		return u->rc = REFRESH_INVALID;
	if (store_txn_run_flushed(st, redeem_txn, u) != STORE_OK ||
	    (!u->defer_flush && refresh_flush(st, u) == -1)) {
		use_reset(u);
		return u->rc = REFRESH_ERR;
	}
	if ((rc = u->rc) != REFRESH_OK && rc != REFRESH_NO_API) {
		use_reset(u);
		u->rc = rc;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* RFC 7009: one token.                                                */

enum store_rc
refresh_revoke_token(struct store *st, struct txn *txn, const char *token,
    const char *client_id, time_t now, int *found)
{
	json_t		*rec = NULL, *fam = NULL;
	char		 key[DIGEST_KEY_MAX], fkey[FAMILY_KEY_MAX];
	enum store_rc	 rc;

	*found = 0;
	if (hash_secret(token, strlen(token), key) == -1)
		return STORE_ERR;
	rc = store_get(st, txn, SK_REFRESH, key, &rec);
	/* Another client's token is left alone, and the answer is the
	 * same as for an unknown one (RFC 7009 2.1; Auth0 answers 200,
	 * docs/COMPAT.md 5.6). */
	if (rc == STORE_OK && refresh_str(rec, RM_FAMILY) != NULL) {
		refresh_family_key(refresh_str(rec, RM_FAMILY), fkey);
		rc = store_get(st, txn, SK_REFRESH, fkey, &fam);
	}
	if (rc == STORE_OK && refresh_is(fam, RM_CLIENT_ID, client_id)) {
		*found = 1;
		rc = refresh_family_revoke(st, txn, fkey, fam, "revoked", now);
	}
	json_decref(rec);
	json_decref(fam);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}
