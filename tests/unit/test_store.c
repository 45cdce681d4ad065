/*
 * test_store.c: the Berkeley DB store (lib/store/: opening,
 * transactions, records, users, the jti table; the batched walks are in
 * test_store_walk.c; processes sharing the store, the recovery lock and
 * the checkpoints in test_store_lock.c) against a fresh environment in a temporary
 * directory per test.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"
#include "store/store_int.h"
#include "store_fx.h"

#define NOW		1700000000	/* the fixed clock */

static json_t *
user(const char *uid, const char *conn, const char *email,
    const char *username, const char *phone)
{
	json_t	*u;

	u = json_pack("{ssss}", "user_id", uid, "connection", conn);
	if (email != NULL)
		json_object_set_new(u, "email", json_string(email));
	if (username != NULL)
		json_object_set_new(u, "username", json_string(username));
	if (phone != NULL)
		json_object_set_new(u, "phone_number", json_string(phone));
	return u;
}

/* Assert login finds uid (or nothing when uid is NULL) in conn. */
static void
assert_find(struct store *s, const char *conn, const char *login,
    const char *uid)
{
	json_t		*u = NULL;
	enum store_rc	 rc;

	rc = store_user_find(s, NULL, conn, login, &u);
	if (uid == NULL) {
		assert_int_equal(rc, STORE_NOTFOUND);
		assert_null(u);
		return;
	}
	assert_int_equal(rc, STORE_OK);
	assert_string_equal(json_string_value(json_object_get(u, "user_id")),
	    uid);
	json_decref(u);
}

static int
count_cb(const char *key, json_t *val, void *arg)
{

	(*(int *)arg)++;
	return 0;
}

static int
count(struct store *s, enum store_kind kind)
{
	int	 n = 0;

	assert_int_equal(store_each(s, NULL, kind, count_cb, &n), STORE_OK);
	return n;
}

/* ------------------------------------------------------------------ */

static void
open_without_create_refuses_missing_environment(void **state)
{
	struct fx	*fx = *state;
	char		 path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/nothing", fx->dir);
	assert_null(store_open(path, 0));
	assert_int_equal(access(path, F_OK), -1);
}

static void
reopen_without_create_sees_committed_records(void **state)
{
	struct fx	*fx = *state;
	json_t		*v = rec(7), *got = NULL;

	assert_int_equal(store_put(fx->s, NULL, SK_META, "tenant", v, 0),
	    STORE_OK);
	store_close(fx->s);
	fx->s = store_open(fx->home, 0);
	assert_non_null(fx->s);
	assert_int_equal(store_get(fx->s, NULL, SK_META, "tenant", &got),
	    STORE_OK);
	assert_int_equal(rec_v(got), 7);
	json_decref(v);
	json_decref(got);
}

static void
create_makes_home_0700_and_files_0600(void **state)
{
	struct fx	*fx = *state;
	char		 home[PATH_MAX + 16], path[2 * PATH_MAX];
	struct store	*s;
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	json_t		*v = rec(1);
	mode_t		 omask;
	int		 files = 0;

	snprintf(home, sizeof(home), "%s/modes", fx->dir);
	omask = umask(0);	/* the store must not rely on the caller's */
	s = store_open(home, STORE_CREATE);
	umask(omask);
	assert_non_null(s);
	assert_int_equal(store_put(s, NULL, SK_USER, "x", v, 0), STORE_OK);
	store_close(s);
	json_decref(v);

	assert_int_equal(stat(home, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_non_null(d = opendir(home));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", home, de->d_name);
		assert_int_equal(stat(path, &st), 0);
		if ((st.st_mode & 07777) != 0600)
			fail_msg("%s has mode %o", de->d_name,
			    (unsigned)(st.st_mode & 07777));
		files++;
	}
	closedir(d);
	assert_true(files >= SK__MAX);
}

static void
put_then_get_returns_the_record(void **state)
{
	struct fx	*fx = *state;
	json_t		*v, *got = NULL;

	v = json_pack("{sss[ss]sb}", "name", "Ünïcode \"q\"", "list", "a", "b",
	    "flag", 1);
	assert_int_equal(store_put(fx->s, NULL, SK_CLIENT, "c1", v, 0),
	    STORE_OK);
	assert_int_equal(store_get(fx->s, NULL, SK_CLIENT, "c1", &got),
	    STORE_OK);
	assert_true(json_equal(v, got));
	json_decref(got);
	/* Kinds are separate databases. */
	assert_int_equal(store_get(fx->s, NULL, SK_API, "c1", &got),
	    STORE_NOTFOUND);
	assert_null(got);
	json_decref(v);
}

static void
get_of_missing_key_is_notfound(void **state)
{
	struct fx	*fx = *state;
	json_t		*got = (json_t *)1;

	assert_int_equal(store_get(fx->s, NULL, SK_KEY, "nope", &got),
	    STORE_NOTFOUND);
	assert_null(got);
}

static void
put_overwrites_unless_nooverwrite(void **state)
{
	struct fx	*fx = *state;
	json_t		*a = rec(1), *b = rec(2), *got = NULL;

	assert_int_equal(store_put(fx->s, NULL, SK_API, "k", a, 0), STORE_OK);
	assert_int_equal(store_put(fx->s, NULL, SK_API, "k", b,
	    STORE_NOOVERWRITE), STORE_EXISTS);
	assert_int_equal(store_get(fx->s, NULL, SK_API, "k", &got), STORE_OK);
	assert_int_equal(rec_v(got), 1);
	json_decref(got);
	assert_int_equal(store_put(fx->s, NULL, SK_API, "k", b, 0), STORE_OK);
	assert_int_equal(store_get(fx->s, NULL, SK_API, "k", &got), STORE_OK);
	assert_int_equal(rec_v(got), 2);
	json_decref(got);
	assert_int_equal(store_put(fx->s, NULL, SK_API, "new", b,
	    STORE_NOOVERWRITE), STORE_OK);
	json_decref(a);
	json_decref(b);
}

static void
del_removes_and_reports_missing(void **state)
{
	struct fx	*fx = *state;
	json_t		*v = rec(1), *got = NULL;

	assert_int_equal(store_put(fx->s, NULL, SK_CONNECTION, "c", v, 0),
	    STORE_OK);
	assert_int_equal(store_del(fx->s, NULL, SK_CONNECTION, "c"), STORE_OK);
	assert_int_equal(store_get(fx->s, NULL, SK_CONNECTION, "c", &got),
	    STORE_NOTFOUND);
	assert_int_equal(store_del(fx->s, NULL, SK_CONNECTION, "c"),
	    STORE_NOTFOUND);
	json_decref(v);
}

struct walk {
	char	 keys[8][8];
	int	 n, stop_at;
};

static int
walk_cb(const char *key, json_t *val, void *arg)
{
	struct walk	*w = arg;

	snprintf(w->keys[w->n], sizeof(w->keys[0]), "%s", key);
	assert_int_equal(rec_v(val), key[0]);
	return ++w->n == w->stop_at;
}

static void
each_walks_in_key_order_and_stops_when_asked(void **state)
{
	struct fx	*fx = *state;
	const char	*keys[] = { "c", "a", "d", "b" };
	struct walk	 w = { .stop_at = 0 };
	json_t		*v;
	size_t		 i;

	for (i = 0; i < 4; i++) {
		v = rec(keys[i][0]);
		assert_int_equal(store_put(fx->s, NULL, SK_KEY, keys[i], v, 0),
		    STORE_OK);
		json_decref(v);
	}
	assert_int_equal(store_each(fx->s, NULL, SK_KEY, walk_cb, &w),
	    STORE_OK);
	assert_int_equal(w.n, 4);
	assert_string_equal(w.keys[0], "a");
	assert_string_equal(w.keys[3], "d");

	memset(&w, 0, sizeof(w));
	w.stop_at = 2;
	assert_int_equal(store_each(fx->s, NULL, SK_KEY, walk_cb, &w),
	    STORE_OK);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.keys[1], "b");
	assert_int_equal(count(fx->s, SK_USER), 0);
}

/* store_txn_run callbacks. */
struct twowrites {
	int	 fail;		/* return STORE_ERR after writing */
	int	 runs;
};

static enum store_rc
twowrites_fn(struct store *s, struct txn *txn, void *arg)
{
	struct twowrites *t = arg;
	json_t		*v = rec(5);
	enum store_rc	 rc;

	t->runs++;
	rc = store_put(s, txn, SK_CLIENT, "one", v, 0);
	if (rc == STORE_OK)
		rc = store_put(s, txn, SK_API, "two", v, 0);
	json_decref(v);
	if (rc == STORE_OK && t->fail)
		rc = STORE_ERR;
	return rc;
}

static void
txn_run_commits_every_write(void **state)
{
	struct fx	*fx = *state;
	struct twowrites t = { .fail = 0 };

	assert_int_equal(store_txn_run(fx->s, twowrites_fn, &t), STORE_OK);
	assert_int_equal(t.runs, 1);
	assert_int_equal(count(fx->s, SK_CLIENT), 1);
	assert_int_equal(count(fx->s, SK_API), 1);
}

static void
txn_run_error_leaves_nothing_written(void **state)
{
	struct fx	*fx = *state;
	struct twowrites t = { .fail = 1 };

	assert_int_equal(store_txn_run(fx->s, twowrites_fn, &t), STORE_ERR);
	assert_int_equal(t.runs, 1);	/* only deadlocks are retried */
	assert_int_equal(count(fx->s, SK_CLIENT), 0);
	assert_int_equal(count(fx->s, SK_API), 0);
}

static enum store_rc
deadlock_once_fn(struct store *s, struct txn *txn, void *arg)
{
	struct twowrites *t = arg;

	if (t->runs == 0) {
		twowrites_fn(s, txn, t);
		return STORE_DEADLOCK;
	}
	return twowrites_fn(s, txn, t);
}

static void
txn_run_retries_a_deadlocked_fn(void **state)
{
	struct fx	*fx = *state;
	struct twowrites t = { .fail = 0 };

	assert_int_equal(store_txn_run(fx->s, deadlock_once_fn, &t), STORE_OK);
	assert_int_equal(t.runs, 2);
	assert_int_equal(count(fx->s, SK_CLIENT), 1);
}

static enum store_rc
each_in_txn_fn(struct store *s, struct txn *txn, void *arg)
{
	json_t		*v = rec(9);
	enum store_rc	 rc;

	rc = store_put(s, txn, SK_KEY, "k", v, 0);
	json_decref(v);
	if (rc != STORE_OK)
		return rc;
	*(int *)arg = 0;
	return store_each(s, txn, SK_KEY, count_cb, arg);
}

static void
each_inside_txn_sees_its_own_writes(void **state)
{
	struct fx	*fx = *state;
	int		 n = 0;

	assert_int_equal(store_txn_run(fx->s, each_in_txn_fn, &n), STORE_OK);
	assert_int_equal(n, 1);
}

/* ------------------------------------------------------------------ */
/* Users. */

static void
user_found_by_email_case_insensitively(void **state)
{
	struct fx	*fx = *state;
	json_t		*u = user("auth0|1", "db", "Alice@Example.COM", NULL,
			    NULL);

	assert_int_equal(store_user_put(fx->s, NULL, u), STORE_OK);
	assert_find(fx->s, "db", "alice@example.com", "auth0|1");
	assert_find(fx->s, "db", "ALICE@EXAMPLE.COM", "auth0|1");
	assert_find(fx->s, "other", "alice@example.com", NULL);
	assert_find(fx->s, "db", "bob@example.com", NULL);
	json_decref(u);
}

static void
user_found_by_username_and_phone(void **state)
{
	struct fx	*fx = *state;
	json_t		*u = user("auth0|2", "db", "a@x.io", "Alice",
			    "+15550001");

	assert_int_equal(store_user_put(fx->s, NULL, u), STORE_OK);
	assert_find(fx->s, "db", "alice", "auth0|2");
	assert_find(fx->s, "db", "ALICE", "auth0|2");
	assert_find(fx->s, "db", "+15550001", "auth0|2");
	json_decref(u);
}

static void
user_duplicate_email_or_username_in_connection_refused(void **state)
{
	struct fx	*fx = *state;
	json_t		*a = user("auth0|a", "db", "same@x.io", "alice", NULL);
	json_t		*b = user("auth0|b", "db", "SAME@x.io", "bob", NULL);
	json_t		*c = user("auth0|c", "db", "c@x.io", "Alice", NULL);
	json_t		*got = NULL;

	assert_int_equal(store_user_put(fx->s, NULL, a), STORE_OK);
	assert_int_equal(store_user_put(fx->s, NULL, b), STORE_EXISTS);
	assert_int_equal(store_user_put(fx->s, NULL, c), STORE_EXISTS);
	/* The refused users left no record and no index entry. */
	assert_int_equal(store_get(fx->s, NULL, SK_USER, "auth0|b", &got),
	    STORE_NOTFOUND);
	assert_find(fx->s, "db", "bob", NULL);
	assert_find(fx->s, "db", "c@x.io", NULL);
	assert_int_equal(count(fx->s, SK_USERIDX), 2);
	/* Re-putting the same user is an update, not a clash. */
	assert_int_equal(store_user_put(fx->s, NULL, a), STORE_OK);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void
user_same_email_in_two_connections_allowed(void **state)
{
	struct fx	*fx = *state;
	json_t		*a = user("auth0|a", "db1", "same@x.io", NULL, NULL);
	json_t		*b = user("auth0|b", "db2", "same@x.io", NULL, NULL);

	assert_int_equal(store_user_put(fx->s, NULL, a), STORE_OK);
	assert_int_equal(store_user_put(fx->s, NULL, b), STORE_OK);
	assert_find(fx->s, "db1", "same@x.io", "auth0|a");
	assert_find(fx->s, "db2", "same@x.io", "auth0|b");
	json_decref(a);
	json_decref(b);
}

static void
user_update_drops_stale_index_entries(void **state)
{
	struct fx	*fx = *state;
	json_t		*v1 = user("auth0|a", "db", "old@x.io", "old", NULL);
	json_t		*v2 = user("auth0|a", "db", "new@x.io", NULL, NULL);
	json_t		*other = user("auth0|b", "db", "old@x.io", "old", NULL);

	assert_int_equal(store_user_put(fx->s, NULL, v1), STORE_OK);
	assert_int_equal(store_user_put(fx->s, NULL, v2), STORE_OK);
	assert_find(fx->s, "db", "new@x.io", "auth0|a");
	assert_find(fx->s, "db", "old@x.io", NULL);
	assert_find(fx->s, "db", "old", NULL);
	assert_int_equal(count(fx->s, SK_USERIDX), 1);
	/* The freed email and username are available to another user. */
	assert_int_equal(store_user_put(fx->s, NULL, other), STORE_OK);
	assert_find(fx->s, "db", "old@x.io", "auth0|b");
	json_decref(v1);
	json_decref(v2);
	json_decref(other);
}

static void
user_moved_to_other_connection_is_reindexed(void **state)
{
	struct fx	*fx = *state;
	json_t		*v1 = user("auth0|a", "db1", "a@x.io", NULL, NULL);
	json_t		*v2 = user("auth0|a", "db2", "a@x.io", NULL, NULL);

	assert_int_equal(store_user_put(fx->s, NULL, v1), STORE_OK);
	assert_int_equal(store_user_put(fx->s, NULL, v2), STORE_OK);
	assert_find(fx->s, "db1", "a@x.io", NULL);
	assert_find(fx->s, "db2", "a@x.io", "auth0|a");
	json_decref(v1);
	json_decref(v2);
}

static void
user_delete_drops_record_and_index(void **state)
{
	struct fx	*fx = *state;
	json_t		*u = user("auth0|a", "db", "a@x.io", "a", "+1555");

	assert_int_equal(store_user_put(fx->s, NULL, u), STORE_OK);
	assert_int_equal(count(fx->s, SK_USERIDX), 3);
	assert_int_equal(store_user_del(fx->s, NULL, "auth0|a"), STORE_OK);
	assert_int_equal(count(fx->s, SK_USERIDX), 0);
	assert_int_equal(count(fx->s, SK_USER), 0);
	assert_find(fx->s, "db", "a@x.io", NULL);
	assert_int_equal(store_user_del(fx->s, NULL, "auth0|a"),
	    STORE_NOTFOUND);
	json_decref(u);
}

static void
user_without_connection_or_id_refused(void **state)
{
	struct fx	*fx = *state;
	json_t		*u = json_pack("{ss}", "user_id", "auth0|x");
	json_t		*v = json_pack("{ss}", "connection", "db");
	json_t		*w = json_pack("{sssssi}", "user_id", "auth0|y",
			    "connection", "db", "email", 5);

	assert_int_equal(store_user_put(fx->s, NULL, u), STORE_ERR);
	assert_int_equal(store_user_put(fx->s, NULL, v), STORE_ERR);
	assert_int_equal(store_user_put(fx->s, NULL, w), STORE_ERR);
	assert_int_equal(count(fx->s, SK_USER), 0);
	json_decref(u);
	json_decref(v);
	json_decref(w);
}

/* Inside a caller's transaction: a clash after other writes aborts all. */
static enum store_rc
two_users_fn(struct store *s, struct txn *txn, void *arg)
{
	json_t		*a = user("auth0|a", "db", "a@x.io", NULL, NULL);
	json_t		*b = user("auth0|b", "db", "A@x.io", NULL, NULL);
	enum store_rc	 rc;

	rc = store_user_put(s, txn, a);
	if (rc == STORE_OK)
		rc = store_user_put(s, txn, b);
	json_decref(a);
	json_decref(b);
	return rc;
}

static void
user_clash_in_txn_rolls_back_earlier_puts(void **state)
{
	struct fx	*fx = *state;

	assert_int_equal(store_txn_run(fx->s, two_users_fn, NULL),
	    STORE_EXISTS);
	assert_int_equal(count(fx->s, SK_USER), 0);
	assert_int_equal(count(fx->s, SK_USERIDX), 0);
}

/* ------------------------------------------------------------------ */
/* jti replay. */

static void
jti_second_use_refused_until_expired(void **state)
{
	struct fx	*fx = *state;

	assert_int_equal(store_jti_use(fx->s, "c1", "j1", NOW + 60, NOW),
	    STORE_OK);
	assert_int_equal(store_jti_use(fx->s, "c1", "j1", NOW + 60, NOW + 1),
	    STORE_EXISTS);
	/* Same jti, other client: independent. */
	assert_int_equal(store_jti_use(fx->s, "c2", "j1", NOW + 60, NOW),
	    STORE_OK);
	/* Once expired, the record is free again. */
	assert_int_equal(store_jti_use(fx->s, "c1", "j1", NOW + 200,
	    NOW + 60), STORE_OK);
	assert_int_equal(store_jti_use(fx->s, "c1", "j1", NOW + 200,
	    NOW + 100), STORE_EXISTS);
}

static void
jti_use_purges_expired_records(void **state)
{
	struct fx	*fx = *state;
	char		 jti[16];
	int		 i;

	for (i = 0; i < 4; i++) {
		snprintf(jti, sizeof(jti), "old%d", i);
		assert_int_equal(store_jti_use(fx->s, "c", jti, NOW + 10, NOW),
		    STORE_OK);
	}
	assert_int_equal(count(fx->s, SK_JTI), 4);
	assert_int_equal(store_jti_use(fx->s, "c", "fresh", NOW + 1000,
	    NOW + 100), STORE_OK);
	assert_int_equal(count(fx->s, SK_JTI), 1);
	assert_int_equal(store_jti_use(fx->s, "c", "fresh", NOW + 1000,
	    NOW + 101), STORE_EXISTS);
}

/* ------------------------------------------------------------------ */
/* Write locks taken at the read. */

/* Inside the first transaction: whether a second one that may not wait
 * (DB_TXN_NOWAIT) can read the key the first has read. */
struct peek {
	const char	*key;
	int		 update;	/* read with store_get_update */
	int		 readable;	/* the second read was granted */
};

static enum store_rc
peek_fn(struct store *s, struct txn *txn, void *arg)
{
	struct peek	*p = arg;
	DB_TXN		*other;
	DB		*db;
	DBT		 k, d;
	json_t		*v = NULL;
	enum store_rc	 rc;
	int		 ret;

	rc = p->update ? store_get_update(s, txn, SK_META, p->key, &v) :
	    store_get(s, txn, SK_META, p->key, &v);
	json_decref(v);
	if (rc != STORE_OK)
		return rc;
	assert_int_equal(store_db(s, SK_META, &db), 0);
	assert_int_equal(s->env->txn_begin(s->env, NULL, &other,
	    DB_TXN_NOWAIT), 0);
	assert_int_equal(store_key_dbt(&k, p->key), 0);
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_MALLOC;
	ret = db->get(db, other, &k, &d, 0);
	free(d.data);
	assert_true(ret == 0 || ret == DB_LOCK_NOTGRANTED ||
	    ret == DB_LOCK_DEADLOCK);
	p->readable = ret == 0;
	assert_int_equal(other->abort(other), 0);
	return STORE_OK;
}

/* A record read to be written is locked for writing at the read: a
 * second reader is refused until the commit, where a plain read lets it
 * share the page (and both would deadlock on writing it). */
static void
get_update_locks_the_record_for_writing(void **state)
{
	struct fx	*fx = *state;
	struct peek	 p = { .key = "row" };
	json_t		*v = rec(1);

	assert_int_equal(store_put(fx->s, NULL, SK_META, p.key, v, 0),
	    STORE_OK);
	json_decref(v);
	assert_int_equal(store_txn_run(fx->s, peek_fn, &p), STORE_OK);
	assert_true(p.readable);
	p.update = 1;
	assert_int_equal(store_txn_run(fx->s, peek_fn, &p), STORE_OK);
	assert_false(p.readable);
	/* Committed: the record reads again, unchanged. */
	assert_int_equal(store_get(fx->s, NULL, SK_META, p.key, &v),
	    STORE_OK);
	assert_int_equal(rec_v(v), 1);
	json_decref(v);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(open_without_create_refuses_missing_environment),
		T(reopen_without_create_sees_committed_records),
		T(create_makes_home_0700_and_files_0600),
		T(put_then_get_returns_the_record),
		T(get_of_missing_key_is_notfound),
		T(put_overwrites_unless_nooverwrite),
		T(del_removes_and_reports_missing),
		T(each_walks_in_key_order_and_stops_when_asked),
		T(txn_run_commits_every_write),
		T(txn_run_error_leaves_nothing_written),
		T(txn_run_retries_a_deadlocked_fn),
		T(get_update_locks_the_record_for_writing),
		T(each_inside_txn_sees_its_own_writes),
		T(user_found_by_email_case_insensitively),
		T(user_found_by_username_and_phone),
		T(user_duplicate_email_or_username_in_connection_refused),
		T(user_same_email_in_two_connections_allowed),
		T(user_update_drops_stale_index_entries),
		T(user_moved_to_other_connection_is_reindexed),
		T(user_delete_drops_record_and_index),
		T(user_without_connection_or_id_refused),
		T(user_clash_in_txn_rolls_back_earlier_puts),
		T(jti_second_use_refused_until_expired),
		T(jti_use_purges_expired_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

