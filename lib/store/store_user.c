/*
 * store_user.c: users and their unique indexes (SK_USERIDX): unique per
 * connection by email, username and phone, email and username without
 * regard to case.  The records are read as struct user (record.h).
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"
#include "store_int.h"

/*
 * The unique user indexes (store.h SK_USERIDX): tag letter and the user
 * field it indexes, in the order store_user_find tries them.
 */
enum idx { IDX_EMAIL, IDX_USERNAME, IDX_PHONE, IDX__MAX };

static const struct {
	char		 tag;
	const char	*field;		/* for messages */
} idx_fields[IDX__MAX] = {
	[IDX_EMAIL] = { 'e', "email" },
	[IDX_USERNAME] = { 'u', "username" },
	[IDX_PHONE] = { 'p', "phone_number" },
};

/*
 * Write the SK_USERIDX key "<tag>\x1f<conn>\x1f<lowercased value>" into
 * key (STORE_KEY_MAX + 1).  Returns 0, or -1 when the parts cannot form
 * an unambiguous bounded key (such a key can never have been stored).
 */
static int
idx_key(char *key, enum idx i, const char *conn, const char *value)
{
	size_t	 off;
	int	 n;

	if (strchr(conn, '\x1f') != NULL || *value == '\0')
		return -1;
	n = snprintf(key, STORE_KEY_MAX + 1, "%c\x1f%s\x1f",
	    idx_fields[i].tag, conn);
	if (n < 0 || (size_t)n >= STORE_KEY_MAX)
		return -1;
	off = (size_t)n;
	if (strlen(value) > STORE_KEY_MAX - off)
		return -1;
	/* ASCII only: the index must not depend on the process locale. */
	for (; *value != '\0'; value++)
		key[off++] = (*value >= 'A' && *value <= 'Z') ?
		    (char)(*value - 'A' + 'a') : *value;
	key[off] = '\0';
	return 0;
}

/*
 * The index keys of a user (empty string where the field is absent or
 * empty).  Returns 0, or -1 (logged) when the user lacks a connection or
 * a key cannot be formed.
 */
static int
user_keys(const struct user *u, char keys[IDX__MAX][STORE_KEY_MAX + 1])
{
	const char	*v[IDX__MAX] = {
		[IDX_EMAIL] = u->email,
		[IDX_USERNAME] = u->username,
		[IDX_PHONE] = u->phone_number,
	};
	int		 i;

	if (u->connection == NULL || *u->connection == '\0') {
		lk_err("user record without connection");
		return -1;
	}
	for (i = 0; i < IDX__MAX; i++) {
		keys[i][0] = '\0';
		if (v[i] == NULL || *v[i] == '\0')
			continue;
		if (idx_key(keys[i], (enum idx)i, u->connection, v[i]) == -1) {
			lk_err("user %s: bad length or connection",
			    idx_fields[i].field);
			return -1;
		}
	}
	return 0;
}

/* A user record to be written, as struct user (record_clear it).  -1
 * (logged) when a member has the wrong type. */
static int
user_parse(const json_t *json, struct user *u)
{

	/* record_parse only takes a reference. */
	return record_parse(REC_USER, (json_t *)json, u);
}

/* The user_id an index key points at: STORE_OK with *uid (owned by
 * *rec) set, STORE_NOTFOUND, or an error. */
static enum store_rc
idx_get(struct store *s, struct txn *txn, const char *key, json_t **rec,
    const char **uid)
{
	enum store_rc	 rc;

	*uid = NULL;
	if ((rc = store_get_txn(s, txn, SK_USERIDX, key, rec)) != STORE_OK)
		return rc;
	if ((*uid = json_string_value(json_object_get(*rec, "user_id")))
	    == NULL) {
		lk_err("index record without user_id");
		return STORE_ERR;
	}
	return STORE_OK;
}

/* Remove an index key if it still points at uid. */
static enum store_rc
idx_del_own(struct store *s, struct txn *txn, const char *key, const char *uid)
{
	json_t		*rec = NULL;
	const char	*owner;
	enum store_rc	 rc;

	rc = idx_get(s, txn, key, &rec, &owner);
	if (rc == STORE_OK)
		rc = strcmp(owner, uid) == 0 ?
		    store_del_txn(s, txn, SK_USERIDX, key) : STORE_OK;
	else if (rc == STORE_NOTFOUND)
		rc = STORE_OK;
	json_decref(rec);
	return rc;
}

/* STORE_EXISTS when key belongs to a user other than uid. */
static enum store_rc
idx_check_free(struct store *s, struct txn *txn, const char *key,
    const char *uid)
{
	json_t		*rec = NULL;
	const char	*owner;
	enum store_rc	 rc;

	rc = idx_get(s, txn, key, &rec, &owner);
	if (rc == STORE_OK && strcmp(owner, uid) != 0)
		rc = STORE_EXISTS;
	else if (rc == STORE_OK || rc == STORE_NOTFOUND)
		rc = STORE_OK;
	json_decref(rec);
	return rc;
}

/* Find by each index in turn; a dangling index entry counts as absent. */
static enum store_rc
user_find_txn(struct store *s, struct txn *txn, const char *conn,
    const char *login, json_t **user)
{
	char		 key[STORE_KEY_MAX + 1];
	json_t		*rec;
	const char	*uid;
	enum store_rc	 rc;
	int		 i;

	for (i = 0; i < IDX__MAX; i++) {
		if (idx_key(key, (enum idx)i, conn, login) == -1)
			return STORE_NOTFOUND;
		rec = NULL;
		if ((rc = idx_get(s, txn, key, &rec, &uid)) == STORE_OK)
			rc = store_get_txn(s, txn, SK_USER, uid, user);
		json_decref(rec);
		if (rc == STORE_OK)
			return STORE_OK;
		if (rc != STORE_NOTFOUND)
			return rc;
	}
	return STORE_NOTFOUND;
}

static enum store_rc
user_find_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;

	return user_find_txn(s, txn, o->conn, o->key, o->out);
}

/*
 * *user is NULL unless STORE_OK.  Nothing changes.  Without txn the
 * index entry and the record are two reads on their own where the
 * backend reads so (store_op_run): a user changed in between is found
 * as it is now, or, deleted, not found.
 */
enum store_rc
store_user_find(struct store *s, struct txn *txn, const char *connection,
    const char *login, json_t **user)
{
	struct op	 o = { .conn = connection, .key = login, .out = user };

	*user = NULL;
	if (txn != NULL)
		return user_find_txn(s, txn, connection, login, user);
	return store_op_run(s, user_find_fn, &o, STORE_AUTO_READ);
}

/*
 * Check the new keys are free, drop the previous version's stale keys,
 * then write the new keys and the record.
 */
static enum store_rc
user_put_txn(struct store *s, struct txn *txn, const json_t *user)
{
	char		 nk[IDX__MAX][STORE_KEY_MAX + 1];
	char		 ok[IDX__MAX][STORE_KEY_MAX + 1];
	struct user	 u, old;
	json_t		*ref = NULL;
	enum store_rc	 rc = STORE_ERR;
	int		 i;

	memset(&old, 0, sizeof(old));
	if (user_parse(user, &u) == -1 || u.user_id == NULL ||
	    *u.user_id == '\0' || user_keys(&u, nk) == -1) {
		lk_err("user record without user_id or with bad fields");
		goto out;
	}
	rc = record_get(s, txn, REC_USER, u.user_id, &old);
	if (rc == STORE_NOTFOUND) {
		memset(ok, 0, sizeof(ok));
		rc = STORE_OK;
	} else if (rc == STORE_OK && user_keys(&old, ok) == -1)
		rc = STORE_ERR;
	for (i = 0; rc == STORE_OK && i < IDX__MAX; i++)
		if (nk[i][0] != '\0')
			rc = idx_check_free(s, txn, nk[i], u.user_id);
	for (i = 0; rc == STORE_OK && i < IDX__MAX; i++)
		if (ok[i][0] != '\0' && strcmp(ok[i], nk[i]) != 0)
			rc = idx_del_own(s, txn, ok[i], u.user_id);
	if (rc == STORE_OK &&
	    (ref = json_pack("{ss}", "user_id", u.user_id)) == NULL)
		rc = STORE_ERR;
	for (i = 0; rc == STORE_OK && i < IDX__MAX; i++)
		if (nk[i][0] != '\0')
			rc = store_put_txn(s, txn, SK_USERIDX, nk[i], ref, 0);
	if (rc == STORE_OK)
		rc = store_put_txn(s, txn, SK_USER, u.user_id, user, 0);
out:
	record_clear(REC_USER, &u);
	record_clear(REC_USER, &old);
	json_decref(ref);
	return rc;
}

static enum store_rc
user_put_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;

	return user_put_txn(s, txn, o->val);
}

/*
 * STORE_EXISTS when another user of the connection holds the email,
 * username or phone; STORE_ERR for a record without user_id/connection.
 * On error nothing is written (the caller aborts its transaction).
 */
enum store_rc
store_user_put(struct store *s, struct txn *txn, const json_t *user)
{
	struct op	 o = { .val = user };

	if (txn != NULL)
		return user_put_txn(s, txn, user);
	return store_txn_run(s, user_put_fn, &o);
}

static enum store_rc
user_del_txn(struct store *s, struct txn *txn, const char *uid)
{
	char		 keys[IDX__MAX][STORE_KEY_MAX + 1];
	struct user	 old;
	enum store_rc	 rc;
	int		 i;

	if ((rc = record_get(s, txn, REC_USER, uid, &old)) != STORE_OK)
		return rc;
	if (user_keys(&old, keys) == -1)
		rc = STORE_ERR;
	for (i = 0; rc == STORE_OK && i < IDX__MAX; i++)
		if (keys[i][0] != '\0')
			rc = idx_del_own(s, txn, keys[i], uid);
	if (rc == STORE_OK)
		rc = store_del_txn(s, txn, SK_USER, uid);
	record_clear(REC_USER, &old);
	return rc;
}

static enum store_rc
user_del_fn(struct store *s, struct txn *txn, void *arg)
{
	struct op	*o = arg;

	return user_del_txn(s, txn, o->key);
}

/* STORE_NOTFOUND when there is no such user; on error nothing changes. */
enum store_rc
store_user_del(struct store *s, struct txn *txn, const char *user_id)
{
	struct op	 o = { .key = user_id };

	if (txn != NULL)
		return user_del_txn(s, txn, user_id);
	return store_txn_run(s, user_del_fn, &o);
}
