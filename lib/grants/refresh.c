/*
 * Refresh tokens (AUTH0-BEHAVIOUR.md 5; RFC 6749 6 and 10.4; OAuth 2.0
 * Security BCP, RFC 9700 4.14: rotation with reuse detection).
 *
 * A token is 256 random bits, base64url; only its hash_secret() digest is
 * stored.  SK_REFRESH holds two kinds of record:
 *
 * "sha256:<hex>", one per token: {
 *	"user_id", "client_id", "audience" (absent: none), "scope",
 *	"device" (absent: none), "family", "pwd_at" (the user's
 *	password_set_at when issued), "created_at", "expires_at" (absolute,
 *	the family's; 0 never), "idle_expires_at" (0 never),
 *	"status": "active"|"spent", "spent_at", "next" (successor's digest)
 * }
 * "family:<32 hex>", one per login: {
 *	"user_id", "client_id", "audience", "scope", "device",
 *	"created_at", "expires_at", "idle_expires_at", "last_used_at",
 *	"current" (the newest token's digest),
 *	"status": "active"|"revoked", "revoked_at", "reason"
 * }
 *
 * SK_REFIDX holds "<user_id>\x1f<family id>" -> {} for each family,
 * written in the transaction that creates the family and deleted with it
 * by refresh_prune, so that revoking or listing a user's families reads
 * only theirs.  A store made before the index has none until
 * refresh_index_ensure() has walked every family once; SK_META
 * "refresh_index" {"complete": true, "at"} says that it has.
 *
 * The family is the unit of revocation: one record write ends every token
 * of a login, whichever of them an attacker holds.  A token is good only
 * while it and its family are active and unexpired, it is the family's
 * current token (or, within the leeway, the one just before it), and the
 * user exists, is not blocked and has not had a new password set since
 * (pwd_at).  Any other token presented means two holders: the family is
 * revoked.
 * Rotation spends the presented token and writes its successor in one
 * transaction, so two concurrent refreshes cannot both succeed: Berkeley
 * DB's deadlock detector aborts one, and its retry finds the token spent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define REFRESH_BYTES		32	/* 256 bits */
#define FAMILY_BYTES		16
#define FAMILY_PREFIX		"family:"
#define DIGEST_PREFIX		"sha256:"
#define FAMILY_KEY_MAX		(sizeof(FAMILY_PREFIX) + 2 * FAMILY_BYTES + 1)
#define INDEX_META		"refresh_index"
#define INDEX_SEP		'\x1f'
#define INDEX_KEY_MAX		2048	/* store.c's key bound */

/* AUTH0-BEHAVIOUR.md 5: 30 days absolute and idle, at most a year. */
#define LIFETIME_DEFAULT	2592000
#define IDLE_DEFAULT		2592000
#define LIFETIME_MAX		31557600
#define LEEWAY_MAX		60

/* The "refresh_token" settings of a client (Auth0's shape). */
enum rset { RS_ROTATION, RS_EXPIRATION, RS_LIFETIME, RS_IDLE,
	RS_INF_LIFETIME, RS_INF_IDLE, RS_LEEWAY, RS__MAX };
enum rtype { RT_ENUM, RT_INT, RT_BOOL };

static const char *const rotation_types[] = { "rotating", "non-rotating", NULL };
static const char *const expiration_types[] = { "expiring", "non-expiring", NULL };

static const struct {
	const char		*name;
	enum rtype		 type;
	long			 min, max;
	const char *const	*allowed;
} rsets[RS__MAX] = {
	[RS_ROTATION] = { "rotation_type", RT_ENUM, 0, 0, rotation_types },
	[RS_EXPIRATION] = { "expiration_type", RT_ENUM, 0, 0, expiration_types },
	[RS_LIFETIME] = { "token_lifetime", RT_INT, 1, LIFETIME_MAX, NULL },
	[RS_IDLE] = { "idle_token_lifetime", RT_INT, 1, LIFETIME_MAX, NULL },
	[RS_INF_LIFETIME] = { "infinite_token_lifetime", RT_BOOL, 0, 0, NULL },
	[RS_INF_IDLE] = { "infinite_idle_token_lifetime", RT_BOOL, 0, 0, NULL },
	[RS_LEEWAY] = { "leeway", RT_INT, 0, LEEWAY_MAX, NULL },
};

static const char *
sget(const json_t *o, const char *k)
{

	return json_string_value(json_object_get(o, k));
}

static json_int_t
iget(const json_t *o, const char *k)
{

	return json_integer_value(json_object_get(o, k));
}

static int
streq(const char *a, const char *b)
{

	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* An expiry time for a lifetime (0: never), and whether it has passed. */
static json_int_t
expiry(time_t now, long life)
{

	return life > 0 ? (json_int_t)now + life : 0;
}

static int
expired(json_int_t at, time_t now)
{

	return at != 0 && (json_int_t)now >= at;
}

static long
setting(const json_t *rt, enum rset s, long def)
{
	const json_t	*v = json_object_get(rt, rsets[s].name);

	return json_is_integer(v) ? (long)json_integer_value(v) : def;
}

void
refresh_conf(const json_t *clientrec, struct refresh_conf *c)
{
	const json_t	*rt = json_object_get(clientrec, "refresh_token");

	/* Auth0's default is non-rotating: a client that keeps its first
	 * refresh token must not trip reuse detection after a drop-in. */
	c->rotating = streq(sget(rt, rsets[RS_ROTATION].name), "rotating");
	c->lifetime = setting(rt, RS_LIFETIME, LIFETIME_DEFAULT);
	c->idle = setting(rt, RS_IDLE, IDLE_DEFAULT);
	c->leeway = c->rotating ? setting(rt, RS_LEEWAY, 0) : 0;
	if (streq(sget(rt, rsets[RS_EXPIRATION].name), "non-expiring"))
		c->lifetime = c->idle = 0;
	if (json_is_true(json_object_get(rt, rsets[RS_INF_LIFETIME].name)))
		c->lifetime = 0;
	if (json_is_true(json_object_get(rt, rsets[RS_INF_IDLE].name)))
		c->idle = 0;
}

static const char *
rset_problem(enum rset s, const json_t *v)
{
	size_t	 i;

	switch (rsets[s].type) {
	case RT_BOOL:
		return json_is_boolean(v) ? NULL : "not true or false";
	case RT_INT:
		if (!json_is_integer(v) ||
		    json_integer_value(v) < rsets[s].min ||
		    json_integer_value(v) > rsets[s].max)
			return "not an integer in range (lifetimes 1-31557600, "
			    "leeway 0-60)";
		return NULL;
	default:
		for (i = 0; json_is_string(v) && rsets[s].allowed[i] != NULL; i++)
			if (strcmp(json_string_value(v), rsets[s].allowed[i]) == 0)
				return NULL;
		return "not an allowed value";
	}
}

const char *
refresh_conf_problem(const json_t *settings)
{
	static char	 msg[128];
	const char	*k, *why;
	json_t		*v;
	int		 s;

	if (!json_is_object(settings))
		return "not an object";
	json_object_foreach((json_t *)settings, k, v) {
		for (s = 0; s < RS__MAX && strcmp(k, rsets[s].name) != 0; s++)
			continue;
		if (s == RS__MAX)
			return "unknown member (rotation_type, expiration_type, "
			    "token_lifetime, idle_token_lifetime, leeway, "
			    "infinite_token_lifetime, infinite_idle_token_lifetime)";
		if (!json_is_null(v) && (why = rset_problem((enum rset)s, v)) != NULL) {
			snprintf(msg, sizeof(msg), "%s: %s", rsets[s].name, why);
			return msg;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Records.                                                            */

static void
family_key(const char *id, char key[FAMILY_KEY_MAX])
{

	snprintf(key, FAMILY_KEY_MAX, "%s%s", FAMILY_PREFIX, id);
}

/* The index key of a user's family (id NULL: the prefix of all of the
 * user's).  0, or -1 when it would not fit (never stored, then). */
static int
index_key(const char *uid, const char *id, char key[INDEX_KEY_MAX + 1])
{
	int	 n;

	n = snprintf(key, INDEX_KEY_MAX + 1, "%s%c%s", uid, INDEX_SEP,
	    id != NULL ? id : "");
	return n < 0 || n > INDEX_KEY_MAX || *uid == '\0' ? -1 : 0;
}

/* Index a family (fam its record) in txn; a user_id too long to index
 * is logged and left out: selection by user then misses it. */
static enum store_rc
index_put(struct store *st, DB_TXN *txn, const char *id, const json_t *fam)
{
	char		 key[INDEX_KEY_MAX + 1];
	const char	*uid = sget(fam, "user_id");
	json_t		*v;
	enum store_rc	 rc;

	if (uid == NULL || index_key(uid, id, key) == -1) {
		lk_warn("family %s: user_id missing or too long to index", id);
		return STORE_OK;
	}
	if ((v = json_object()) == NULL)
		return STORE_ERR;
	rc = store_put(st, txn, SK_REFIDX, key, v, 0);
	json_decref(v);
	return rc;
}

/* Drop a family's index entry (absent: nothing to do). */
static enum store_rc
index_del(struct store *st, DB_TXN *txn, const char *id, const json_t *fam)
{
	char		 key[INDEX_KEY_MAX + 1];
	const char	*uid = sget(fam, "user_id");
	enum store_rc	 rc;

	if (uid == NULL || index_key(uid, id, key) == -1)
		return STORE_OK;
	rc = store_del(st, txn, SK_REFIDX, key);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* Copy the members a token inherits from its family. */
static void
inherit(json_t *dst, const json_t *src)
{
	static const char *const members[] = { "user_id", "client_id",
	    "audience", "scope", "device", "expires_at", NULL };
	json_t		*v;
	size_t		 i;

	for (i = 0; members[i] != NULL; i++)
		if ((v = json_object_get(src, members[i])) != NULL)
			json_object_set(dst, members[i], v);
}

/*
 * A new token of family famid (fam holds its fields) into out, its record
 * written under its digest (into key).  STORE_ERR when out cannot hold a
 * token or there is no randomness.
 */
static enum store_rc
token_new(struct store *st, DB_TXN *txn, const json_t *fam, const char *famid,
    json_int_t pwd_at, long idle, time_t now, char *out, size_t outsz,
    char key[72])
{
	json_t		*rec;
	enum store_rc	 rc;

	if (rand_b64url(out, outsz, REFRESH_BYTES) == -1 ||
	    hash_secret(out, strlen(out), key) == -1)
		return STORE_ERR;
	rec = json_pack("{s:s, s:I, s:I, s:I, s:s}", "family", famid,
	    "pwd_at", pwd_at, "created_at", (json_int_t)now,
	    "idle_expires_at", expiry(now, idle), "status", "active");
	if (rec == NULL)
		return STORE_ERR;
	inherit(rec, fam);
	rc = store_put(st, txn, SK_REFRESH, key, rec, STORE_NOOVERWRITE);
	json_decref(rec);
	return rc;
}

static enum store_rc
family_revoke(struct store *st, DB_TXN *txn, const char *fkey, json_t *fam,
    const char *reason, time_t now)
{

	if (!streq(sget(fam, "status"), "active"))
		return STORE_OK;
	json_object_set_new(fam, "status", json_string("revoked"));
	json_object_set_new(fam, "revoked_at", json_integer(now));
	json_object_set_new(fam, "reason", json_string(reason));
	return store_put(st, txn, SK_REFRESH, fkey, fam, 0);
}

/* The user's password epoch: refresh tokens remember it (pwd_at). */
static json_int_t
password_epoch(const json_t *user)
{

	return iget(user, "password_set_at");
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

static enum store_rc
issue_txn(struct store *st, DB_TXN *txn, void *arg)
{
	struct issue		*is = arg;
	const struct refresh_new *rn = is->rn;
	json_t			*user = NULL, *fam = NULL;
	char			 id[2 * FAMILY_BYTES + 1], fkey[FAMILY_KEY_MAX];
	char			 key[72];
	enum store_rc		 rc;

	if ((rc = store_get(st, txn, SK_USER, rn->user_id, &user)) != STORE_OK)
		goto out;
	if (rn->family != NULL) {
		snprintf(id, sizeof(id), "%s", rn->family);
		family_key(id, fkey);
		if ((rc = store_get(st, txn, SK_REFRESH, fkey, &fam)) != STORE_OK)
			goto out;
		if (!streq(sget(fam, "status"), "active") ||
		    !streq(sget(fam, "client_id"), rn->client_id) ||
		    expired(iget(fam, "expires_at"), is->now)) {
			rc = STORE_NOTFOUND;
			goto out;
		}
	} else {
		if (rand_hex(id, FAMILY_BYTES) == -1) {
			rc = STORE_ERR;
			goto out;
		}
		family_key(id, fkey);
		fam = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}",
		    "user_id", rn->user_id, "client_id", rn->client_id,
		    "scope", rn->scope != NULL ? rn->scope : "",
		    "created_at", (json_int_t)is->now,
		    "expires_at", expiry(is->now, is->conf->lifetime),
		    "status", "active");
		if (fam == NULL) {
			rc = STORE_ERR;
			goto out;
		}
		if (rn->audience != NULL)
			json_object_set_new(fam, "audience", json_string(rn->audience));
		if (rn->device != NULL)
			json_object_set_new(fam, "device", json_string(rn->device));
		if ((rc = index_put(st, txn, id, fam)) != STORE_OK)
			goto out;
	}
	rc = token_new(st, txn, fam, id, password_epoch(user), is->conf->idle,
	    is->now, is->out, is->outsz, key);
	if (rc != STORE_OK)
		goto out;
	json_object_set_new(fam, "current", json_string(key));
	json_object_set_new(fam, "last_used_at", json_integer(is->now));
	json_object_set_new(fam, "idle_expires_at",
	    json_integer(expiry(is->now, is->conf->idle)));
	rc = store_put(st, txn, SK_REFRESH, fkey, fam, 0);
out:
	json_decref(user);
	json_decref(fam);
	return rc;
}

int
refresh_issue(struct lk_ctx *ctx, const struct tenant *tenant,
    const json_t *clientrec, const json_t *api, const struct refresh_new *rn,
    time_t now, char *out, size_t outsz)
{
	struct refresh_conf	 conf;
	struct refresh_new	 n = *rn;
	struct issue		 is = { &n, &conf, now, out, outsz };

	if (outsz < 96 || rn->user_id == NULL || rn->client_id == NULL)
		return -1;
	if (n.audience == NULL && api != NULL)
		n.audience = sget(api, "identifier");
	refresh_conf(clientrec, &conf);
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

	json_decref(u->user);
	json_decref(u->rec);
	json_decref(u->api);
	u->user = u->rec = u->api = NULL;
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
 * Whether the token (rec under key, of family fam) may be redeemed now by
 * the client: REFRESH_OK, REFRESH_INVALID, or REFRESH_REUSED for a spent
 * token outside the leeway (which only the immediately previous token
 * gets, AUTH0-BEHAVIOUR.md 5 "Rotation").
 *
 * A family has one live chain (RFC 9700 4.14.2): an active token that is
 * not the family's current one was superseded by a leeway replay of its
 * predecessor, so two holders are refreshing from one login and one of
 * them is not the client: reuse, like a spent token.  (A non-rotating
 * family's current token is always its only one.)
 */
static enum refresh_rc
token_state(const char *key, const json_t *rec, const json_t *fam,
    const char *client_id, const struct refresh_conf *conf, time_t now)
{
	const char	*status = sget(rec, "status");

	if (!streq(sget(rec, "client_id"), client_id) ||
	    !streq(sget(fam, "status"), "active") ||
	    expired(iget(fam, "expires_at"), now))
		return REFRESH_INVALID;
	if (streq(status, "active")) {
		if (!streq(key, sget(fam, "current")))
			return REFRESH_REUSED;
		return expired(iget(rec, "idle_expires_at"), now) ?
		    REFRESH_INVALID : REFRESH_OK;
	}
	if (!streq(status, "spent"))
		return REFRESH_INVALID;
	if (conf->rotating && conf->leeway > 0 &&
	    (json_int_t)now <= iget(rec, "spent_at") + conf->leeway &&
	    streq(sget(rec, "next"), sget(fam, "current")))
		return REFRESH_OK;
	return REFRESH_REUSED;
}

/*
 * Rotation: spend rec, write its successor into u->next.  A replay within
 * the leeway (rec spent already) keeps its spent_at, so the window does
 * not grow, and points it and the family at the new successor: the one
 * the first use wrote is no longer current, and token_state() calls its
 * use reuse.  latchkey cannot answer the replay with that first successor
 * again (only its digest is stored), and two live successors would be
 * two independent sessions from one stolen token.
 */
static enum store_rc
rotate(struct store *st, DB_TXN *txn, const char *key, json_t *rec,
    const char *fkey, json_t *fam, const struct refresh_conf *conf,
    struct refresh_use *u)
{
	char		 nkey[72];
	enum store_rc	 rc;

	rc = token_new(st, txn, rec, sget(rec, "family"), iget(rec, "pwd_at"),
	    conf->idle, u->now, u->next, sizeof(u->next), nkey);
	if (rc != STORE_OK)
		return rc;
	if (!streq(sget(rec, "status"), "spent")) {
		json_object_set_new(rec, "status", json_string("spent"));
		json_object_set_new(rec, "spent_at", json_integer(u->now));
	}
	json_object_set_new(rec, "next", json_string(nkey));
	if ((rc = store_put(st, txn, SK_REFRESH, key, rec, 0)) != STORE_OK)
		return rc;
	json_object_set_new(fam, "current", json_string(nkey));
	json_object_set_new(fam, "last_used_at", json_integer(u->now));
	json_object_set_new(fam, "idle_expires_at",
	    json_integer(expiry(u->now, conf->idle)));
	return store_put(st, txn, SK_REFRESH, fkey, fam, 0);
}

/*
 * Non-rotating: the same token again, its idle time restarted.  The
 * restart is written (a durable commit) only when it moves the idle
 * expiry by at least TOUCH_SLACK_DIV-th of the idle lifetime, at most
 * TOUCH_SLACK_MAX s: a token an app refreshes every few seconds then
 * costs a read, not a write each time, and may expire idle that much
 * early (at most 1 % of its idle lifetime, at most a minute; a lifetime
 * under TOUCH_SLACK_DIV s is always written exactly).
 */
#define TOUCH_SLACK_DIV	100
#define TOUCH_SLACK_MAX	60

int
refresh_touch_due(json_int_t idle_expires_at, long idle, time_t now)
{
	long	 slack = idle / TOUCH_SLACK_DIV;

	if (idle <= 0)
		return 1;
	if (slack > TOUCH_SLACK_MAX)
		slack = TOUCH_SLACK_MAX;
	return idle_expires_at == 0 ||
	    expiry(now, idle) - idle_expires_at >= (json_int_t)slack;
}

static enum store_rc
touch(struct store *st, DB_TXN *txn, const char *key, json_t *rec,
    const char *fkey, json_t *fam, const struct refresh_conf *conf,
    time_t now)
{
	enum store_rc	 rc;

	if (!refresh_touch_due(iget(rec, "idle_expires_at"), conf->idle, now))
		return STORE_OK;
	json_object_set_new(rec, "idle_expires_at",
	    json_integer(expiry(now, conf->idle)));
	if ((rc = store_put(st, txn, SK_REFRESH, key, rec, 0)) != STORE_OK)
		return rc;
	json_object_set_new(fam, "last_used_at", json_integer(now));
	json_object_set_new(fam, "idle_expires_at",
	    json_integer(expiry(now, conf->idle)));
	return store_put(st, txn, SK_REFRESH, fkey, fam, 0);
}

/*
 * The user behind the token: REFRESH_OK, or why not (*revoke says the
 * family dies with it).  *user owned by the caller.
 */
static enum store_rc
user_state(struct store *st, DB_TXN *txn, const json_t *rec,
    struct refresh_use *u, json_t **user, int *revoke)
{
	enum store_rc	 rc;

	*revoke = 0;
	rc = store_get(st, txn, SK_USER, sget(rec, "user_id"), user);
	if (rc == STORE_NOTFOUND) {
		u->rc = REFRESH_USER_GONE;
		*revoke = 1;
		return STORE_OK;
	}
	if (rc != STORE_OK)
		return rc;
	if (json_is_true(json_object_get(*user, "blocked")))
		u->rc = REFRESH_USER_BLOCKED;
	else if (password_epoch(*user) != iget(rec, "pwd_at")) {
		/* A new password ends the sessions begun with the old. */
		u->rc = REFRESH_INVALID;
		*revoke = 1;
	} else
		u->rc = REFRESH_OK;
	return STORE_OK;
}

/*
 * The API of the token's audience into *api (NULL: none), read in the
 * redeeming transaction so that a removed API refuses the refresh before
 * anything is spent (REFRESH_NO_API).
 */
static enum store_rc
token_api(struct store *st, DB_TXN *txn, const json_t *rec,
    struct refresh_use *u, json_t **api)
{
	const char	*aud = sget(rec, "audience");
	enum store_rc	 rc;

	*api = NULL;
	if (aud == NULL)
		return STORE_OK;
	rc = store_get(st, txn, SK_API, aud, api);
	if (rc == STORE_NOTFOUND) {
		u->rc = REFRESH_NO_API;
		return STORE_OK;
	}
	return rc;
}

static enum store_rc
redeem_txn(struct store *st, DB_TXN *txn, void *arg)
{
	struct refresh_use	*u = arg;
	struct refresh_conf	 conf;
	struct scope_result	 sr;
	json_t			*rec = NULL, *fam = NULL, *user = NULL, *api = NULL;
	char			 key[72], fkey[FAMILY_KEY_MAX];
	enum store_rc		 rc;
	int			 revoke, n;

	use_reset(u);
	memset(&sr, 0, sizeof(sr));
	refresh_conf(u->clientrec, &conf);
	if (hash_secret(u->token, strlen(u->token), key) == -1)
		return STORE_ERR;
	rc = store_get(st, txn, SK_REFRESH, key, &rec);
	if (rc == STORE_OK && sget(rec, "family") != NULL) {
		family_key(sget(rec, "family"), fkey);
		rc = store_get(st, txn, SK_REFRESH, fkey, &fam);
	}
	if (rc != STORE_OK || fam == NULL ||
	    !streq(sget(rec, "client_id"), sget(u->clientrec, "client_id")))
		goto out;
	/* The user first: a deleted or blocked user gets Auth0's own
	 * answer even when latchkeyctl has revoked the family already. */
	if ((rc = user_state(st, txn, rec, u, &user, &revoke)) != STORE_OK)
		goto out;
	if (revoke)
		rc = family_revoke(st, txn, fkey, fam, u->rc == REFRESH_USER_GONE ?
		    "user deleted" : "password changed", u->now);
	if (u->rc != REFRESH_OK)
		goto out;
	u->rc = token_state(key, rec, fam, sget(u->clientrec, "client_id"),
	    &conf, u->now);
	if (u->rc == REFRESH_REUSED) {
		lk_warn("refresh token reused: family %s revoked",
		    sget(rec, "family"));
		rc = family_revoke(st, txn, fkey, fam, "reuse", u->now);
		goto out;
	}
	if (u->rc != REFRESH_OK)
		goto out;
	if ((rc = token_api(st, txn, rec, u, &api)) != STORE_OK)
		goto out;
	if (u->rc == REFRESH_NO_API) {
		u->rec = json_incref(rec);
		goto out;
	}
	if ((n = scope_refresh(sget(rec, "scope"), u->scope, api, &sr)) != 0) {
		u->rc = REFRESH_SCOPE;
		rc = n == -1 ? STORE_ERR : STORE_OK;
		goto out;
	}
	if (buf_puts(&u->granted, sr.granted.p != NULL ? sr.granted.p : "") == -1) {
		rc = STORE_ERR;
		goto out;
	}
	rc = conf.rotating ? rotate(st, txn, key, rec, fkey, fam, &conf, u) :
	    touch(st, txn, key, rec, fkey, fam, &conf, u->now);
	if (rc == STORE_OK) {
		u->user = json_incref(user);
		u->rec = json_incref(rec);
		u->api = json_incref(api);
	}
out:
	/* An unknown token is an answer, not a store failure. */
	if (rc == STORE_NOTFOUND) {
		u->rc = REFRESH_INVALID;
		rc = STORE_OK;
	}
	scope_result_clear(&sr);
	json_decref(api);
	json_decref(user);
	json_decref(fam);
	json_decref(rec);
	return rc;
}

enum refresh_rc
refresh_redeem(struct store *st, struct refresh_use *u)
{
	enum refresh_rc	 rc;

	if (u->token == NULL || u->clientrec == NULL)
		return u->rc = REFRESH_INVALID;
	if (store_txn_run(st, redeem_txn, u) != STORE_OK) {
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
/* Revocation, listing, pruning.                                       */

static int
selected(const char *id, const json_t *fam, const struct refresh_sel *sel)
{

	return (sel->user_id == NULL || streq(sget(fam, "user_id"), sel->user_id)) &&
	    (sel->client_id == NULL || streq(sget(fam, "client_id"), sel->client_id)) &&
	    (sel->device == NULL || streq(sget(fam, "device"), sel->device)) &&
	    (sel->family == NULL || streq(id, sel->family));
}

struct walk {
	const struct refresh_sel *sel;
	json_t			*found;		/* family id -> record */
};

/* Collect the selected families (store_each callback). */
static int
family_cb(const char *key, json_t *val, void *arg)
{
	struct walk	*w = arg;
	const char	*id = key + strlen(FAMILY_PREFIX);

	if (strncmp(key, FAMILY_PREFIX, strlen(FAMILY_PREFIX)) != 0)
		return 0;
	if (w->sel == NULL || selected(id, val, w->sel))
		json_object_set(w->found, id, val);
	return 0;
}

static enum store_rc
families(struct store *st, DB_TXN *txn, const struct refresh_sel *sel,
    json_t **found)
{
	struct walk	 w = { sel, json_object() };
	enum store_rc	 rc;

	if (w.found == NULL)
		return STORE_ERR;
	if ((rc = store_each(st, txn, SK_REFRESH, family_cb, &w)) != STORE_OK) {
		json_decref(w.found);
		return rc;
	}
	*found = w.found;
	return STORE_OK;
}

/* ------------------------------------------------------------------ */
/* The same in batches (store_sweep), through the index when it can.   */

/* What a batched selection does to a selected family, in the batch's
 * transaction; what it appends to out is counted. */
struct famop {
	const struct refresh_sel *sel;
	time_t			 now;
	enum store_rc		(*fn)(struct store *, DB_TXN *, const char *id,
				    json_t *fam, const struct famop *,
				    json_t *out);
};

/* A family record met by a walk of SK_REFRESH. */
static enum store_rc
sel_family_fn(struct store *st, DB_TXN *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	const struct famop	*op = arg;
	const char		*id = key + strlen(FAMILY_PREFIX);

	if (!selected(id, val, op->sel))
		return STORE_OK;
	return op->fn(st, txn, id, val, op, out);
}

/* An index entry met by a walk of one user's SK_REFIDX keys: its family
 * read in the batch's transaction (one pruned meanwhile is skipped). */
static enum store_rc
sel_index_fn(struct store *st, DB_TXN *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	const struct famop	*op = arg;
	const char		*id = strrchr(key, INDEX_SEP) + 1;
	char			 fkey[FAMILY_KEY_MAX];
	json_t			*fam = NULL;
	enum store_rc		 rc;

	if (strlen(id) != 2 * FAMILY_BYTES)
		return STORE_OK;
	family_key(id, fkey);
	rc = store_get(st, txn, SK_REFRESH, fkey, &fam);
	if (rc == STORE_OK && selected(id, fam, op->sel))
		rc = op->fn(st, txn, id, fam, op, out);
	json_decref(fam);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/*
 * Walk the selected families in batches: a user's through the index
 * (built first if the store predates it), others through every family.
 * *count: what op->fn appended in the committed batches.
 */
static enum store_rc
sel_walk(struct store *st, const struct famop *op, json_t *out, long *count)
{
	struct store_sweep	 sw;
	char			 prefix[INDEX_KEY_MAX + 1];
	enum store_rc		 rc;

	memset(&sw, 0, sizeof(sw));
	sw.kind = SK_REFRESH;
	sw.prefix = FAMILY_PREFIX;
	sw.fn = sel_family_fn;
	sw.arg = (void *)op;
	sw.out = out;
	if (op->sel->user_id != NULL &&
	    index_key(op->sel->user_id, NULL, prefix) == 0) {
		if ((rc = refresh_index_ensure(st, op->now)) != STORE_OK)
			return rc;
		sw.kind = SK_REFIDX;
		sw.prefix = prefix;
		sw.fn = sel_index_fn;
	}
	rc = store_sweep(st, &sw);
	*count = sw.results;
	return rc;
}

static enum store_rc
revoke_one(struct store *st, DB_TXN *txn, const char *id, json_t *fam,
    const struct famop *op, json_t *out)
{
	char		 fkey[FAMILY_KEY_MAX];
	enum store_rc	 rc;

	if (!streq(sget(fam, "status"), "active"))
		return STORE_OK;
	family_key(id, fkey);
	if ((rc = family_revoke(st, txn, fkey, fam, "revoked", op->now))
	    != STORE_OK)
		return rc;
	return json_array_append_new(out, json_true()) == 0 ? STORE_OK :
	    STORE_ERR;
}

static json_t	*family_summary(const char *, const json_t *, time_t);
static enum store_rc revoke_in(struct store *, DB_TXN *,
		    const struct refresh_sel *, time_t, int *);

static enum store_rc
list_one(struct store *st, DB_TXN *txn, const char *id, json_t *fam,
    const struct famop *op, json_t *out)
{

	return json_array_append_new(out, family_summary(id, fam, op->now))
	    == 0 ? STORE_OK : STORE_ERR;
}

enum store_rc
refresh_revoke(struct store *st, DB_TXN *txn, const struct refresh_sel *sel,
    time_t now, int *count)
{
	struct famop	 op = { sel, now, revoke_one };
	long		 n = 0;
	enum store_rc	 rc;

	*count = 0;
	if (txn != NULL)
		return revoke_in(st, txn, sel, now, count);
	rc = sel_walk(st, &op, NULL, &n);
	*count = (int)n;
	return rc;
}

/* refresh_revoke inside the caller's transaction. */
static enum store_rc
revoke_in(struct store *st, DB_TXN *txn, const struct refresh_sel *sel,
    time_t now, int *count)
{
	json_t		*found = NULL, *fam;
	const char	*id;
	char		 fkey[FAMILY_KEY_MAX];
	enum store_rc	 rc;

	*count = 0;
	if ((rc = families(st, txn, sel, &found)) != STORE_OK)
		return rc;
	json_object_foreach(found, id, fam) {
		if (!streq(sget(fam, "status"), "active"))
			continue;
		family_key(id, fkey);
		if ((rc = family_revoke(st, txn, fkey, fam, "revoked", now))
		    != STORE_OK)
			break;
		(*count)++;
	}
	json_decref(found);
	return rc;
}

enum store_rc
refresh_revoke_token(struct store *st, DB_TXN *txn, const char *token,
    const char *client_id, time_t now, int *found)
{
	json_t		*rec = NULL, *fam = NULL;
	char		 key[72], fkey[FAMILY_KEY_MAX];
	enum store_rc	 rc;

	*found = 0;
	if (hash_secret(token, strlen(token), key) == -1)
		return STORE_ERR;
	rc = store_get(st, txn, SK_REFRESH, key, &rec);
	/* Another client's token is left alone, and the answer is the
	 * same as for an unknown one (RFC 7009 2.1; Auth0 answers 200). */
	if (rc == STORE_OK && sget(rec, "family") != NULL &&
	    streq(sget(rec, "client_id"), client_id)) {
		*found = 1;
		family_key(sget(rec, "family"), fkey);
		rc = store_get(st, txn, SK_REFRESH, fkey, &fam);
		if (rc == STORE_OK)
			rc = family_revoke(st, txn, fkey, fam, "revoked", now);
	}
	json_decref(rec);
	json_decref(fam);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* "active", "revoked" or "expired", as the family stands at now. */
static const char *
family_status(const json_t *fam, time_t now)
{

	if (!streq(sget(fam, "status"), "active"))
		return "revoked";
	if (expired(iget(fam, "expires_at"), now) ||
	    expired(iget(fam, "idle_expires_at"), now))
		return "expired";
	return "active";
}

/* What refresh_list shows of a family; NULL on ENOMEM. */
static json_t *
family_summary(const char *id, const json_t *fam, time_t now)
{
	static const char *const members[] = { "user_id", "client_id",
	    "audience", "scope", "device", "created_at", "expires_at",
	    "idle_expires_at", "last_used_at", "revoked_at", "reason", NULL };
	json_t		*o, *v;
	size_t		 i;

	if ((o = json_pack("{s:s, s:s}", "family", id, "status",
	    family_status(fam, now))) == NULL)
		return NULL;
	for (i = 0; members[i] != NULL; i++)
		if ((v = json_object_get(fam, members[i])) != NULL)
			json_object_set(o, members[i], v);
	return o;
}

enum store_rc
refresh_list(struct store *st, DB_TXN *txn, const struct refresh_sel *sel,
    time_t now, json_t *out)
{
	struct famop	 op = { sel, now, list_one };
	json_t		*found = NULL, *fam, *o;
	const char	*id;
	enum store_rc	 rc;
	long		 n;

	if (txn == NULL)
		return sel_walk(st, &op, out, &n);
	if ((rc = families(st, txn, sel, &found)) != STORE_OK)
		return rc;
	json_object_foreach(found, id, fam) {
		if ((o = family_summary(id, fam, now)) == NULL) {
			rc = STORE_ERR;
			break;
		}
		json_array_append_new(out, o);
	}
	json_decref(found);
	return rc;
}

/* Token keys whose family is not in live (store_each callback). */
struct prune {
	json_t	*live;		/* family ids that stay */
	json_t	*doomed;	/* keys to delete */
};

static int
prune_cb(const char *key, json_t *val, void *arg)
{
	struct prune	*p = arg;
	const char	*fam = sget(val, "family");

	if (strncmp(key, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0)
		return 0;
	if (fam == NULL || json_object_get(p->live, fam) == NULL)
		json_array_append_new(p->doomed, json_string(key));
	return 0;
}

/* refresh_prune inside one transaction (a caller's). */
static enum store_rc
prune_in(struct store *st, DB_TXN *txn, time_t now, int *count)
{
	struct prune	 p = { json_object(), json_array() };
	json_t		*found = NULL, *fam, *k;
	const char	*id;
	char		 fkey[FAMILY_KEY_MAX];
	enum store_rc	 rc;
	size_t		 i;

	*count = 0;
	if (p.live == NULL || p.doomed == NULL) {
		rc = STORE_ERR;
		goto out;
	}
	if ((rc = families(st, txn, NULL, &found)) != STORE_OK)
		goto out;
	json_object_foreach(found, id, fam) {
		if (strcmp(family_status(fam, now), "active") == 0) {
			json_object_set_new(p.live, id, json_true());
			continue;
		}
		family_key(id, fkey);
		json_array_append_new(p.doomed, json_string(fkey));
	}
	if ((rc = store_each(st, txn, SK_REFRESH, prune_cb, &p)) != STORE_OK)
		goto out;
	json_array_foreach(p.doomed, i, k) {
		if ((rc = store_del(st, txn, SK_REFRESH, json_string_value(k)))
		    != STORE_OK)
			goto out;
		(*count)++;
	}
out:
	json_decref(found);
	json_decref(p.live);
	json_decref(p.doomed);
	return rc;
}

/*
 * The families a batched prune deleted, so that its second walk can tell
 * their tokens without reading a family record per token (5,000,000
 * random reads in a store far larger than its cache: `make scale`).  Kept
 * as sorted 32-hex ids; past PRUNE_SET_MAX (64 MiB) the walk falls back
 * to reading the family of every token the set does not name.
 */
#define PRUNE_SET_MAX		(2 * 1024 * 1024)
#define PRUNE_META		"refresh_prune"

struct prune_set {
	char		(*ids)[2 * FAMILY_BYTES + 1];
	size_t		 n, cap;
	int		 overflow;	/* ids were dropped: read the family */
	int		 orphans;	/* an earlier prune stopped half-way */
	time_t		 now;
};

static int
id_cmp(const void *a, const void *b)
{

	return memcmp(a, b, 2 * FAMILY_BYTES);
}

/* Remember a family deleted (if its batch commits; a retried batch adds
 * it again: prune_set_seal drops the duplicates). */
static void
prune_set_add(struct prune_set *ps, const char *id)
{
	void	*p;
	size_t	 cap;

	if (strlen(id) != 2 * FAMILY_BYTES || ps->overflow)
		return;
	if (ps->n == ps->cap) {
		cap = ps->cap ? 2 * ps->cap : 4096;
		if (cap > PRUNE_SET_MAX ||
		    (p = reallocarray(ps->ids, cap, sizeof(*ps->ids))) == NULL) {
			ps->overflow = 1;
			return;
		}
		ps->ids = p;
		ps->cap = cap;
	}
	memcpy(ps->ids[ps->n++], id, 2 * FAMILY_BYTES + 1);
}

/* Sort and drop duplicates once the first walk is over. */
static void
prune_set_seal(struct prune_set *ps)
{
	size_t	 i, j;

	if (ps->n == 0)
		return;
	qsort(ps->ids, ps->n, sizeof(*ps->ids), id_cmp);
	for (i = 1, j = 1; i < ps->n; i++)
		if (id_cmp(ps->ids[i], ps->ids[j - 1]) != 0)
			memmove(ps->ids[j++], ps->ids[i], sizeof(*ps->ids));
	ps->n = j;
}

static int
prune_set_has(const struct prune_set *ps, const char *id)
{

	return ps->n > 0 && bsearch(id, ps->ids, ps->n, sizeof(*ps->ids),
	    id_cmp) != NULL;
}

/*
 * A batched prune marks itself in SK_META while it runs: a prune stopped
 * between its two walks leaves tokens whose family is gone, and only the
 * next prune's second walk, reading every token's family, finds them.
 */
static enum store_rc
prune_mark(struct store *st, int running)
{
	json_t		*m;
	enum store_rc	 rc;

	if ((m = json_pack("{sb}", "running", running)) == NULL)
		return STORE_ERR;
	rc = store_put(st, NULL, SK_META, PRUNE_META, m, 0);
	json_decref(m);
	return rc;
}

static int
prune_was_stopped(struct store *st)
{
	json_t	*m = NULL;
	int	 stopped;

	if (store_get(st, NULL, SK_META, PRUNE_META, &m) != STORE_OK)
		return 0;
	stopped = json_is_true(json_object_get(m, "running"));
	json_decref(m);
	return stopped;
}

/* A dead family goes, with its index entry (batched prune, first walk). */
static enum store_rc
prune_family_fn(struct store *st, DB_TXN *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	struct prune_set *ps = arg;
	const char	*id = key + strlen(FAMILY_PREFIX);
	enum store_rc	 rc;

	if (strcmp(family_status(val, ps->now), "active") == 0)
		return STORE_OK;
	if ((rc = index_del(st, txn, id, val)) == STORE_OK) {
		*act = STORE_DELETE;
		prune_set_add(ps, id);
	}
	return rc;
}

/* A token whose family is gone goes too (second walk): one this prune
 * deleted, or, when the set cannot tell, one not in the store. */
static enum store_rc
prune_token_fn(struct store *st, DB_TXN *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	const struct prune_set *ps = arg;
	char		 fkey[FAMILY_KEY_MAX];
	const char	*fam = sget(val, "family");
	json_t		*rec = NULL;
	enum store_rc	 rc;

	if (fam == NULL || strlen(fam) != 2 * FAMILY_BYTES ||
	    prune_set_has(ps, fam)) {
		*act = STORE_DELETE;
		return STORE_OK;
	}
	if (!ps->overflow && !ps->orphans)
		return STORE_OK;
	family_key(fam, fkey);
	rc = store_get(st, txn, SK_REFRESH, fkey, &rec);
	json_decref(rec);
	if (rc == STORE_NOTFOUND) {
		*act = STORE_DELETE;
		rc = STORE_OK;
	}
	return rc;
}

/*
 * Without a transaction: dead families first, then the tokens whose
 * family is gone, each batch in its own transaction.  A prune stopped
 * between two batches leaves dead families or orphaned tokens that no
 * refresh accepts (a token without its family is unknown), and the next
 * prune deletes them (PRUNE_META).  A family that dies during the walk
 * is left for the next prune.  Only a prune deletes families.
 */
enum store_rc
refresh_prune(struct store *st, DB_TXN *txn, time_t now, int *count)
{
	struct store_sweep	 fams, toks;
	struct prune_set	 ps;
	enum store_rc		 rc;

	*count = 0;
	if (txn != NULL)
		return prune_in(st, txn, now, count);
	memset(&ps, 0, sizeof(ps));
	ps.now = now;
	ps.orphans = prune_was_stopped(st);
	memset(&fams, 0, sizeof(fams));
	fams.kind = SK_REFRESH;
	fams.prefix = FAMILY_PREFIX;
	fams.fn = prune_family_fn;
	fams.arg = &ps;
	toks = fams;
	toks.prefix = DIGEST_PREFIX;
	toks.fn = prune_token_fn;
	if ((rc = prune_mark(st, 1)) == STORE_OK &&
	    (rc = store_sweep(st, &fams)) == STORE_OK) {
		prune_set_seal(&ps);
		rc = store_sweep(st, &toks);
	}
	if (rc == STORE_OK)
		rc = prune_mark(st, 0);
	*count = (int)(fams.deleted + toks.deleted);
	free(ps.ids);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The per-user index of a store made without it.                      */

int
refresh_index_ready(struct store *st, DB_TXN *txn)
{
	json_t	*m = NULL;
	int	 ready;

	if (store_get(st, txn, SK_META, INDEX_META, &m) != STORE_OK)
		return 0;
	ready = json_is_true(json_object_get(m, "complete"));
	json_decref(m);
	return ready;
}

/*
 * A store that holds no family yet (a tenant being created) needs no
 * backfill: every family it gets is indexed by refresh_issue.  Marks the
 * index complete in txn; STORE_OK also when there are families (the
 * first per-user command then walks them).
 */
enum store_rc
refresh_index_new(struct store *st, DB_TXN *txn, time_t now)
{
	json_t		*m;
	enum store_rc	 rc;

	rc = store_prefix_any(st, txn, SK_REFRESH, FAMILY_PREFIX);
	if (rc != STORE_NOTFOUND)
		return rc == STORE_OK ? STORE_OK : rc;
	if ((m = json_pack("{sbsI}", "complete", 1, "at", (json_int_t)now))
	    == NULL)
		return STORE_ERR;
	rc = store_put(st, txn, SK_META, INDEX_META, m, 0);
	json_decref(m);
	return rc;
}

/*
 * The family is read by the walk's cursor and indexed while the cursor
 * still holds its page: a prune cannot delete it in between, and a prune
 * after it waits for the index entry's write lock, then deletes both.
 */
static enum store_rc
backfill_fn(struct store *st, DB_TXN *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	return index_put(st, txn, key + strlen(FAMILY_PREFIX), val);
}

/*
 * Families created meanwhile are indexed by refresh_issue itself, so
 * once the walk is over the index is complete, provided no responder of
 * an older release (which does not index) is still issuing tokens:
 * upgrade the responders first.  Rewriting an entry changes nothing, so
 * an interrupted backfill is simply run again.
 */
enum store_rc
refresh_index_ensure(struct store *st, time_t now)
{
	struct store_sweep	 sw;
	json_t			*m;
	enum store_rc		 rc;

	if (refresh_index_ready(st, NULL))
		return STORE_OK;
	memset(&sw, 0, sizeof(sw));
	sw.kind = SK_REFRESH;
	sw.prefix = FAMILY_PREFIX;
	sw.fn = backfill_fn;
	if ((rc = store_sweep(st, &sw)) != STORE_OK)
		return rc;
	if ((m = json_pack("{sbsI}", "complete", 1, "at", (json_int_t)now))
	    == NULL)
		return STORE_ERR;
	rc = store_put(st, NULL, SK_META, INDEX_META, m, 0);
	json_decref(m);
	return rc;
}
