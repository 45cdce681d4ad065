/*
 * Exchanging a passwordless code (docs/COMPAT.md 2): /oauth/ro with an
 * sms or email connection (ro.c) and /oauth/token's passwordless/otp
 * grant (grant_otp.c).  A right code is consumed, a wrong one costs a
 * try, and the user is created on the first successful login, verified,
 * as Auth0 does.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "extern.h"

/* What differs between the strategies' users. */
static const struct {
	const char	*prefix;	/* user_id "<prefix>|<24 hex>" */
	const char	*attr;		/* the recipient's user attribute */
	const char	*verified;	/* its "..._verified" attribute */
} users[PWL__MAX] = {
	[PWL_SMS] = { "sms", "phone_number", "phone_verified" },
	[PWL_EMAIL] = { "email", "email", "email_verified" },
};

struct verify {
	enum pwl_strategy	 s;
	const char		*connection;
	const char		*key;
	const char		*recipient;
	const char		*code;
	const char		*client_id;
	time_t			 now;
	enum pwl_result		 result;
	json_t			*user;		/* out */
};

/* ISO-8601 UTC with milliseconds, as Auth0 writes created_at. */
static void
iso8601(time_t t, char out[32])
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* The user found for the recipient: refused when blocked, marked
 * verified when it was not (the code proved the phone or mailbox). */
static enum store_rc
user_known_txn(struct store *st, struct txn *txn, struct verify *v)
{
	struct user	 u;
	char		 ts[32];
	int		 verified, blocked;

	if (record_parse(REC_USER, v->user, &u) == -1)
		return STORE_ERR;
	verified = v->s == PWL_SMS ? u.phone_verified : u.email_verified;
	blocked = u.blocked;
	record_clear(REC_USER, &u);
	if (blocked) {
		v->result = PWL_BLOCKED;
		return STORE_OK;
	}
	if (verified)
		return STORE_OK;
	iso8601(v->now, ts);
	json_object_set_new(v->user, users[v->s].verified, json_true());
	json_object_set_new(v->user, "updated_at", json_string(ts));
	return store_user_put(st, txn, v->user);
}

/* The user of the connection with this recipient, created (verified)
 * on the first login. */
static enum store_rc
user_login_txn(struct store *st, struct txn *txn, struct verify *v)
{
	char		 id[2 * 12 + 1], uid[64], ts[32];
	enum store_rc	 rc;

	rc = store_user_find(st, txn, v->connection, v->recipient, &v->user);
	if (rc == STORE_OK)
		return user_known_txn(st, txn, v);
	if (rc != STORE_NOTFOUND)
		return rc;
	if (rand_hex(id, 12) == -1)
		return STORE_ERR;
	snprintf(uid, sizeof(uid), "%s|%s", users[v->s].prefix, id);
	iso8601(v->now, ts);
	v->user = json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s}",
	    "user_id", uid, "connection", v->connection,
	    users[v->s].attr, v->recipient, users[v->s].verified, 1,
	    "blocked", 0, "created_at", ts, "updated_at", ts);
	if (v->user == NULL)
		return STORE_ERR;
	return store_user_put(st, txn, v->user);
}

/*
 * One transaction: the wrong try is counted (committed) as surely as the
 * right one consumes the code and creates the user.
 */
static enum store_rc
verify_txn(struct store *st, struct txn *txn, void *arg)
{
	struct verify	*v = arg;
	json_t		*rec = NULL;
	enum store_rc	 rc;

	json_decref(v->user);		/* a deadlock retry starts over */
	v->user = NULL;
	v->result = PWL_WRONG;
	rc = store_get(st, txn, SK_OTP, v->key, &rec);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	switch (pwl_record_check(rec, v->code, v->client_id, v->now)) {
	case PWL_CHECK_OK:
		v->result = PWL_OK;
		if ((rc = store_del(st, txn, SK_OTP, v->key)) == STORE_OK)
			rc = user_login_txn(st, txn, v);
		break;
	case PWL_CHECK_WRONG:
		if (pwl_record_tries(rec) > 0)
			rc = store_put(st, txn, SK_OTP, v->key, rec, 0);
		else
			rc = store_del(st, txn, SK_OTP, v->key);
		break;
	default:
		rc = store_del(st, txn, SK_OTP, v->key);
		break;
	}
	json_decref(rec);
	return rc;
}

enum pwl_result
pwl_verify(struct lk_ctx *ctx, const struct conn *conn, const char *recipient,
    const char *code, const char *client_id, time_t now, json_t **user)
{
	struct verify	 v;
	char		 key[PWL_KEY_LEN];

	*user = NULL;
	memset(&v, 0, sizeof(v));
	if ((v.s = pwl_strategy(conn)) == PWL__MAX)
		return PWL_WRONG;
	v.connection = conn->name;
	if (v.connection == NULL ||
	    pwl_otp_key(key, v.connection, recipient) == -1)
		return PWL_WRONG;
	v.key = key;
	v.recipient = recipient;
	v.code = code;
	v.client_id = client_id;
	v.now = now;
	if (store_txn_run(ctx->store, verify_txn, &v) != STORE_OK) {
		lk_err("passwordless code check failed");
		json_decref(v.user);
		return PWL_ERR;
	}
	if (v.result == PWL_OK)
		*user = v.user;
	else
		json_decref(v.user);
	return v.result;
}

/* The user_id of a user record (borrowed from it), or NULL. */
static const char *
user_id_of(json_t *user)
{
	struct user	 u;
	const char	*id;

	if (record_parse(REC_USER, user, &u) == -1)
		return NULL;
	id = u.user_id;
	record_clear(REC_USER, &u);	/* user keeps its own reference */
	return id;
}

/*
 * The code exchange both endpoints share: normalise the login, let
 * attack protection count the recipient as the identifier, check the
 * code.
 */
enum pwl_result
pwl_exchange(struct grant_req *g, const struct conn *conn, const char *login,
    const char *code, json_t **user)
{
	char		 recipient[PWL_RECIPIENT_MAX + 1];
	enum pwl_result	 r;
	enum guard_event ev;

	*user = NULL;
	/* A login that cannot be a phone or email matches no code. */
	if (pwl_recipient(pwl_strategy(conn), login, recipient,
	    sizeof(recipient)) == -1)
		return PWL_WRONG;
	if (guard_before(g->ctx, &g->tenant, &g->who, recipient, g->req->now,
	    g->resp) == -1)
		return PWL_THROTTLED;
	r = pwl_verify(g->ctx, conn, recipient, code, g->client.client_id,
	    g->req->now, user);
	switch (r) {
	case PWL_OK:
		ev = GUARD_EV_SUCCESS;
		break;
	case PWL_WRONG:
		ev = GUARD_EV_WRONG_CODE;
		break;
	case PWL_BLOCKED:
		ev = GUARD_EV_USER_BLOCKED;
		break;
	default:
		return r;
	}
	/* A refusal whose count could not be recorded is not answered as
	 * one (guard_after): its count would be lost. */
	if (guard_after(g->ctx, &g->tenant, &g->who, recipient,
	    r == PWL_OK ? user_id_of(*user) : NULL, ev, g->req->now) == -1 &&
	    r != PWL_OK) {
		json_decref(*user);
		*user = NULL;
		return PWL_ERR;
	}
	return r;
}
