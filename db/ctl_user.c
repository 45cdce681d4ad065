/*
 * latchkeyctl: users: add, list, show, find, update, remove,
 * set-password, block, unblock.  Logins are an email, a username or a
 * phone (docs/COMPAT.md 2 and 3); a new password, a block or a removal
 * ends the user's refresh tokens (docs/COMPAT.md 5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ctl.h"

static const struct optdef user_add_opts[] = {
	{ "connection", CV_STR, "connection", "C", CH_NONE, OPT_REQ },
	{ "email", CV_STR, "email", "E", CH_NONE, 0 },
	{ "username", CV_STR, "username", "U", CH_NONE, 0 },
	{ "phone", CV_STR, "phone_number", "P", CH_NONE, 0 },
	{ "password-stdin", CV_TRUE, NULL, NULL, CH_NONE, 0 },
	{ "password-hash", CV_STR, "password_hash", "HASH", CH_NONE,
	    OPT_ALT },
	{ "name", CV_STR, "name", "N", CH_NONE, 0 },
	{ "given-name", CV_STR, "given_name", "N", CH_NONE, 0 },
	{ "family-name", CV_STR, "family_name", "N", CH_NONE, 0 },
	{ "nickname", CV_STR, "nickname", "N", CH_NONE, 0 },
	{ "picture", CV_STR, "picture", "URL", CH_NONE, 0 },
	{ "email-verified", CV_TRUE, "email_verified", NULL, CH_NONE, 0 },
	{ "blocked", CV_TRUE, "blocked", NULL, CH_NONE, 0 },
	{ "mfa", CV_STR, "mfa", NULL, CH_MFA_USER, 0 },
	OPT_END
};

static const struct optdef user_update_opts[] = {
	{ "email", CV_STR, "email", "E", CH_NONE, 0 },
	{ "username", CV_STR, "username", "U", CH_NONE, 0 },
	{ "phone", CV_STR, "phone_number", "P", CH_NONE, 0 },
	{ "name", CV_STR, "name", "N", CH_NONE, 0 },
	{ "given-name", CV_STR, "given_name", "N", CH_NONE, 0 },
	{ "family-name", CV_STR, "family_name", "N", CH_NONE, 0 },
	{ "nickname", CV_STR, "nickname", "N", CH_NONE, 0 },
	{ "picture", CV_STR, "picture", "URL", CH_NONE, 0 },
	{ "email-verified", CV_BOOL, "email_verified", NULL, CH_NONE, 0 },
	{ "mfa", CV_STR, "mfa", NULL, CH_MFA_USER, 0 },
	OPT_END
};

static const struct optdef user_list_opts[] = {
	{ "connection", CV_STR, NULL, "C", CH_NONE, 0 },
	OPT_END
};

static const struct optdef user_find_opts[] = {
	{ "connection", CV_STR, NULL, "C", CH_NONE, OPT_REQ },
	OPT_END
};

/*
 * Set rec's password_hash for pw unless the current hash already
 * verifies it (re-imports and repeated set-password change nothing).
 */
static enum store_rc
user_password(struct ctl *c, struct txn *t, json_t *rec, const char *pw,
    size_t pwlen)
{
	struct tenant	 tn;
	const char	*have = sget(rec, "password_hash");
	char		 h[HASH_ENCODED_MAX];
	enum store_rc	 rc;
	int		 rehash;

	if ((rc = tenant_or_defaults(c, t, &tn)) != STORE_OK)
		return rc;
	if (have != NULL &&
	    hash_verify(&tn.hash_policy, have, pw, pwlen, &rehash) == HASH_OK)
		rc = STORE_OK;
	else if (hash_password(&tn.hash_policy, pw, pwlen, h, sizeof(h)) == -1)
		rc = refuse(c, STORE_ERR, "cannot hash the password");
	else
		json_object_set_new(rec, "password_hash", json_string(h));
	OPENSSL_cleanse(h, sizeof(h));
	record_clear(REC_TENANT, &tn);
	return rc;
}

/* A strategy's users: sms needs a phone, email an email, and neither
 * takes a password; every user needs some login. */
static enum store_rc
user_check(struct ctl *c, json_t *rec, enum conn_strategy st)
{
	const char	*name = vocab_name(&strategy_vocab, st);
	struct user	 u;
	enum store_rc	 rc = STORE_OK;

	if (record_parse(REC_USER, rec, &u) == -1)
		return refuse(c, STORE_ERR, "user: a field has the wrong type");
	if (!u.email && !u.username && !u.phone_number)
		rc = refuse(c, STORE_ERR,
		    "user: one of email, username, phone is required");
	else if (st == STRATEGY_SMS && !u.phone_number)
		rc = refuse(c, STORE_ERR, "user: %s users need a phone", name);
	else if (st == STRATEGY_EMAIL && !u.email)
		rc = refuse(c, STORE_ERR, "user: %s users need an email",
		    name);
	else if (st != STRATEGY_AUTH0 && u.password_hash)
		rc = refuse(c, STORE_ERR,
		    "user: %s connections take no password", name);
	record_clear(REC_USER, &u);
	return rc;
}

/*
 * A password set here (never a login's rehash) or a block ends the user's
 * refresh tokens (refresh.c): the token endpoint refuses them from this
 * commit on (it reads blocked and password_set_at in the user record),
 * and their families are revoked after it, in batches (ctl_after).  A
 * password change also lifts the user's brute-force blocks
 * (docs/COMPAT.md 6; guard.c).
 */
static enum store_rc
user_sessions(struct ctl *c, json_t *old, json_t *rec)
{
	struct user	 was, now;
	enum store_rc	 rc = STORE_OK;
	int		 pw, blocked;

	if (record_parse(REC_USER, old, &was) == -1 ||
	    record_parse(REC_USER, rec, &now) == -1) {
		record_clear(REC_USER, &was);
		return refuse(c, STORE_ERR, "user: a field has the wrong type");
	}
	pw = now.password_hash != NULL && (was.password_hash == NULL ||
	    strcmp(was.password_hash, now.password_hash) != 0);
	blocked = now.blocked && !was.blocked;
	if (pw)
		json_object_set_new(rec, "password_set_at",
		    json_integer(c->now));
	if (pw && json_array_append_new(c->unblock, json_deep_copy(rec)) == -1)
		rc = STORE_ERR;
	else if ((pw || blocked) && json_array_append_new(c->revoke,
	    json_string(now.user_id)) == -1)
		rc = STORE_ERR;
	record_clear(REC_USER, &was);
	record_clear(REC_USER, &now);
	return rc;
}

/* The connection's strategy; a new user's user_id ("<strategy>|<hex>");
 * the password; the logins the strategy needs; the sessions ended. */
static enum store_rc
user_fill(struct ctl *c, struct txn *t, json_t *old, json_t *rec,
    const char *pw, size_t pwlen)
{
	const char	*conn = sget(rec, "connection");
	char		 hex[2 * USER_ID_BYTES + 1];
	enum conn_strategy st;
	enum store_rc	 rc;

	if (conn == NULL)
		return refuse(c, STORE_ERR, "user: connection is required");
	if ((rc = conn_strategy(c, t, conn, &st)) != STORE_OK)
		return rc;
	if (sget(rec, "user_id") == NULL) {
		if (rand_hex(hex, USER_ID_BYTES) == -1)
			return refuse(c, STORE_ERR, "no randomness");
		json_object_set_new(rec, "user_id", json_sprintf("%s|%s",
		    vocab_name(&strategy_vocab, st), hex));
	}
	if (pw != NULL && (rc = user_password(c, t, rec, pw, pwlen)) !=
	    STORE_OK)
		return rc;
	if ((rc = user_check(c, rec, st)) != STORE_OK)
		return rc;
	return old != NULL ? user_sessions(c, old, rec) : STORE_OK;
}

/*
 * Apply spec (and pw) to old (NULL: a new user, user_id from spec or
 * generated) and write it if it changed, with updated_at.  *what says
 * "created", "updated" or "unchanged".  STORE_EXISTS when another user
 * holds the email, username or phone.
 */
enum store_rc
user_upsert(struct ctl *c, struct txn *t, json_t *old, const json_t *spec,
    const char *pw, size_t pwlen, json_t **out, const char **what)
{
	json_t		*rec, *sp = json_deep_copy(spec);
	char		 ts[32];
	enum store_rc	 rc;

	rec = old != NULL ? json_deep_copy(old) : json_pack("{sbsb}",
	    "email_verified", 0, "blocked", 0);
	json_object_del(sp, "password");
	record_merge(rec, sp);
	json_decref(sp);
	rc = user_fill(c, t, old, rec, pw, pwlen);
	*what = old == NULL ? "created" : !json_equal(old, rec) ? "updated" :
	    "unchanged";
	iso8601(c->now, ts);
	if (old == NULL)
		json_object_set_new(rec, "created_at", json_string(ts));
	if (strcmp(*what, "unchanged") != 0)
		json_object_set_new(rec, "updated_at", json_string(ts));
	if (rc == STORE_OK && strcmp(*what, "unchanged") != 0 &&
	    (rc = store_user_put(c->s, t, rec)) == STORE_EXISTS)
		refuse(c, rc, "user: another user of %s has that email, "
		    "username or phone", sget(rec, "connection"));
	if (rc == STORE_OK)
		*out = rec;
	else
		json_decref(rec);
	return rc;
}

static int
user_spec_prep(struct ctl *c)
{

	return spec_check(c, REC_USER, "user");
}

static int
user_add_prep(struct ctl *c)
{
	int	 rc;

	if ((rc = user_spec_prep(c)) != 0)
		return rc;
	if (json_object_get(c->spec, "connection") == NULL) {
		warnmsg("user add: --connection is required");
		return EXIT_USAGE;
	}
	if (json_object_get(c->opt, "password-stdin") == NULL)
		return 0;
	if (json_object_get(c->spec, "password_hash") != NULL) {
		warnmsg("--password-stdin and --password-hash: choose one");
		return EXIT_USAGE;
	}
	c->password = read_line(REC_PW_LEN, &c->pwlen);
	return c->password == NULL ? EXIT_RUNTIME : 0;
}

static enum store_rc
user_add_tx(struct ctl *c, struct txn *t)
{
	json_t		*rec = NULL;
	const char	*what;
	enum store_rc	 rc;

	rc = user_upsert(c, t, NULL, c->spec, c->password, c->pwlen, &rec,
	    &what);
	if (rc == STORE_OK)
		c->out = json_pack("{ss}", "user_id", sget(rec, "user_id"));
	json_decref(rec);
	return rc;
}

static enum store_rc
user_update_tx(struct ctl *c, struct txn *t)
{
	json_t		*old = NULL, *rec = NULL;
	const char	*what;
	enum store_rc	 rc;

	if ((rc = must_get(c, t, SK_USER, c->pos[0], "user", &old))
	    != STORE_OK)
		return rc;
	rc = user_upsert(c, t, old, c->spec, c->password, c->pwlen, &rec,
	    &what);
	if (rc == STORE_OK)
		c->out = record_redact(rec);
	json_decref(old);
	json_decref(rec);
	return rc;
}

static int
user_password_prep(struct ctl *c)
{

	c->password = read_line(REC_PW_LEN, &c->pwlen);
	return c->password == NULL ? EXIT_RUNTIME : 0;
}

/* block/unblock: the verb says which. */
static enum store_rc
user_block_tx(struct ctl *c, struct txn *t)
{

	json_object_set_new(c->spec, "blocked",
	    json_boolean(strcmp(c->cmd->verb, "block") == 0));
	return user_update_tx(c, t);
}

static enum store_rc
user_remove_tx(struct ctl *c, struct txn *t)
{
	enum store_rc	 rc;

	rc = store_user_del(c->s, t, c->pos[0]);
	if (rc == STORE_NOTFOUND)
		refuse(c, rc, "no such user: %s", c->pos[0]);
	/* The user's refresh tokens die with it (refresh.c): refused from
	 * this commit on, their families revoked after it. */
	if (rc == STORE_OK && json_array_append_new(c->revoke,
	    json_string(c->pos[0])) == -1)
		rc = STORE_ERR;
	return rc;
}

/* Every user (of --connection), read in batches. */
static enum store_rc
user_list_batch(struct ctl *c)
{
	const char	*conn = sget(c->opt, "connection");

	return list_tx(c, NULL, SK_USER, conn != NULL ? "connection" : NULL,
	    conn);
}

static int
user_find_prep(struct ctl *c)
{

	if (sget(c->opt, "connection") == NULL) {
		warnmsg("user find: --connection is required");
		return EXIT_USAGE;
	}
	return 0;
}

static enum store_rc
user_find_tx(struct ctl *c, struct txn *t)
{
	json_t		*rec = NULL;
	enum store_rc	 rc;

	rc = store_user_find(c->s, t, sget(c->opt, "connection"), c->pos[0],
	    &rec);
	if (rc == STORE_NOTFOUND)
		return refuse(c, rc, "no such user in %s: %s",
		    sget(c->opt, "connection"), c->pos[0]);
	if (rc == STORE_OK)
		c->out = record_redact(rec);
	json_decref(rec);
	return rc;
}

const struct cmd ctl_user_cmds[] = {
	{ "user", "add", NULL, user_add_opts, user_add_prep, user_add_tx,
	    NULL, 0 },
	{ "user", "list", NULL, user_list_opts, NULL, NULL, user_list_batch,
	    CMD_AGAIN },
	{ "user", "show", "USER_ID", NULL, NULL, rec_show_tx, NULL,
	    CMD_AGAIN },
	{ "user", "find", "LOGIN", user_find_opts, user_find_prep,
	    user_find_tx, NULL, CMD_AGAIN },
	{ "user", "update", "USER_ID", user_update_opts, user_spec_prep,
	    user_update_tx, NULL, CMD_AGAIN },
	{ "user", "remove", "USER_ID", NULL, NULL, user_remove_tx, NULL, 0 },
	{ "user", "set-password", "USER_ID", NULL, user_password_prep,
	    user_update_tx, NULL, CMD_AGAIN },
	{ "user", "block", "USER_ID", NULL, NULL, user_block_tx, NULL,
	    CMD_AGAIN },
	{ "user", "unblock", "USER_ID", NULL, NULL, user_block_tx, NULL,
	    CMD_AGAIN },
	CMD_END
};
