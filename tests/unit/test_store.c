/*
 * test_store.c: the Berkeley DB store (lib/store/store.c) against a fresh
 * environment in a temporary directory per test.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <ftw.h>
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

#define NOW		1700000000	/* the fixed clock */
#define INCREMENTS	200		/* per process in the counter test */

struct fx {
	char		 dir[PATH_MAX - 64];	/* mkdtemp'd parent */
	char		 home[PATH_MAX];	/* dir/env: the environment */
	struct store	*s;
};

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{

	return remove(path);
}

static int
setup(void **state)
{
	struct fx	*fx;
	const char	*tmp = getenv("TMPDIR");

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/lkstore.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->home, sizeof(fx->home), "%s/env", fx->dir);
	if ((fx->s = store_open(fx->home, STORE_CREATE)) == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	store_close(fx->s);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* A small record {"v": n}. */
static json_t *
rec(int n)
{

	return json_pack("{si}", "v", n);
}

static int
rec_v(const json_t *r)
{

	return (int)json_integer_value(json_object_get(r, "v"));
}

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
twowrites_fn(struct store *s, DB_TXN *txn, void *arg)
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
deadlock_once_fn(struct store *s, DB_TXN *txn, void *arg)
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
each_in_txn_fn(struct store *s, DB_TXN *txn, void *arg)
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
two_users_fn(struct store *s, DB_TXN *txn, void *arg)
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
/* Concurrency: two processes, one counter. */

static enum store_rc
incr_fn(struct store *s, DB_TXN *txn, void *arg)
{
	json_t		*v = NULL, *nv;
	enum store_rc	 rc;

	(*(int *)arg)++;
	if ((rc = store_get(s, txn, SK_META, "counter", &v)) != STORE_OK)
		return rc;
	nv = rec(rec_v(v) + 1);
	/* Widen the window between read and write to provoke deadlocks. */
	if (rec_v(v) % 16 == 0)
		usleep(200);
	rc = store_put(s, txn, SK_META, "counter", nv, 0);
	json_decref(v);
	json_decref(nv);
	return rc;
}

static void
incr_child(const char *home)
{
	struct store	*s;
	int		 i, runs = 0;

	if ((s = store_open(home, 0)) == NULL)
		_exit(2);
	for (i = 0; i < INCREMENTS; i++)
		if (store_txn_run(s, incr_fn, &runs) != STORE_OK)
			_exit(3);
	store_close(s);
	fprintf(stderr, "pid %d: %d increments in %d runs\n", (int)getpid(),
	    INCREMENTS, runs);
	_exit(0);
}

static void
two_processes_increment_without_lost_update(void **state)
{
	struct fx	*fx = *state;
	json_t		*v = rec(0);
	pid_t		 pid[2];
	int		 i, status;

	assert_int_equal(store_put(fx->s, NULL, SK_META, "counter", v, 0),
	    STORE_OK);
	json_decref(v);
	store_close(fx->s);
	fx->s = NULL;
	for (i = 0; i < 2; i++) {
		assert_true((pid[i] = fork()) != -1);
		if (pid[i] == 0)
			incr_child(fx->home);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_non_null(fx->s = store_open(fx->home, 0));
	assert_int_equal(store_get(fx->s, NULL, SK_META, "counter", &v),
	    STORE_OK);
	assert_int_equal(rec_v(v), 2 * INCREMENTS);
	json_decref(v);
}


/* ------------------------------------------------------------------ */
/* Bounded walks and resource errors.                                 */

#define SMALL_LOCKS	300	/* the small lock table of the tests below */
#define PAD_RECORDS	20000	/* ~20 a page: over 900 pages */

/*
 * Reopen fx's environment as a new one whose lock table holds
 * SMALL_LOCKS locks (DB_CONFIG, read when the regions are created, takes
 * precedence over store.c's sizes).
 */
static void
small_lock_table(struct fx *fx)
{
	char	 path[PATH_MAX + 16];
	FILE	*f;

	store_close(fx->s);
	snprintf(fx->home, sizeof(fx->home), "%s/small", fx->dir);
	assert_int_equal(mkdir(fx->home, 0700), 0);
	snprintf(path, sizeof(path), "%s/DB_CONFIG", fx->home);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "set_lk_max_locks %d\nset_lk_max_objects %d\n"
	    "set_lk_max_lockers %d\n", SMALL_LOCKS, SMALL_LOCKS, SMALL_LOCKS);
	fclose(f);
	assert_non_null(fx->s = store_open(fx->home, STORE_CREATE));
}

struct fill {
	int	 from, to;
};

static enum store_rc
fill_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct fill	*f = arg;
	char		 key[32];
	json_t		*v;
	enum store_rc	 rc = STORE_OK;
	int		 i;

	for (i = f->from; rc == STORE_OK && i < f->to; i++) {
		snprintf(key, sizeof(key), "k%06d", i);
		v = json_pack("{sis s}", "v", i, "pad",
		    "................................................"
		    "................................................"
		    "................................................");
		rc = store_put(s, txn, SK_GUARD, key, v, 0);
		json_decref(v);
	}
	return rc;
}

/* n padded records k000000... in SK_GUARD, 100 a transaction. */
static void
fill(struct store *s, int n)
{
	struct fill	 f;

	for (f.from = 0; f.from < n; f.from += 100) {
		f.to = f.from + 100 < n ? f.from + 100 : n;
		assert_int_equal(store_txn_run(s, fill_fn, &f), STORE_OK);
	}
}

struct order {
	int	 n;
	int	 next;		/* the v expected next */
	int	 stop_at;	/* stop after this many (0: never) */
};

static int
order_cb(const char *key, json_t *val, void *arg)
{
	struct order	*o = arg;

	assert_int_equal(rec_v(val), o->next);
	o->next++;
	return ++o->n == o->stop_at;
}

static enum store_rc
even_fn(struct store *s, DB_TXN *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	if (rec_v(val) % 2 == 0)
		*act = STORE_DELETE;
	json_array_append_new(out, json_integer(rec_v(val)));
	return STORE_OK;
}

/*
 * One transaction reading every page runs the lock table out
 * (docs/operations.md: BDB2055 "Lock table is out of available lock
 * entries", ENOMEM): that is STORE_BUSY, counted and named, and the
 * request that met it is answered 503 with Retry-After, not 500 "not
 * configured".  The batched walks read the same records in transactions
 * that each hold a few locks.
 */
static void
lock_table_exhaustion_is_busy_and_batches_fit(void **state)
{
	struct fx		*fx = *state;
	struct order		 o = { 0, 0, 0 };
	struct store_sweep	 sw = { SK_GUARD, NULL, even_fn, NULL, NULL,
				    0, 0 };
	struct route_mark	 mark;
	struct lk_resp		 resp;
	unsigned		 busy = store_busy(), troubles;

	small_lock_table(fx);
	fill(fx->s, PAD_RECORDS);
	route_mark(&mark);
	troubles = store_troubles();
	assert_int_equal(store_each(fx->s, NULL, SK_GUARD, count_cb, &o.n),
	    STORE_BUSY);
	assert_int_equal(store_busy(), busy + 1);
	assert_true(store_troubles() != troubles);
	assert_non_null(strstr(store_busy_what(), "lock table full"));

	/* What the endpoint wrote when its read failed becomes a 503. */
	resp_init(&resp);
	assert_int_equal(oerr_write(&resp, OERR_NOT_CONFIGURED, NULL), 0);
	assert_int_equal(route_transient(&mark, &resp), 1);
	assert_int_equal(resp.status, 503);
	assert_non_null(strstr(resp.headers.p, "Retry-After: 1\r\n"));
	assert_non_null(strstr(resp.body.p, "temporarily_unavailable"));
	resp_clear(&resp);
	/* Without a new failure, a 500 stays a 500. */
	route_mark(&mark);
	resp_init(&resp);
	oerr_write(&resp, OERR_NOT_CONFIGURED, NULL);
	assert_int_equal(route_transient(&mark, &resp), 0);
	assert_int_equal(resp.status, 500);
	resp_clear(&resp);

	o.n = 0;
	assert_int_equal(store_scan(fx->s, SK_GUARD, NULL, order_cb, &o),
	    STORE_OK);
	assert_int_equal(o.n, PAD_RECORDS);
	sw.out = json_array();
	assert_int_equal(store_sweep(fx->s, &sw), STORE_OK);
	assert_int_equal(sw.deleted, PAD_RECORDS / 2);
	assert_int_equal(sw.results, PAD_RECORDS);
	assert_int_equal(json_array_size(sw.out), PAD_RECORDS);
	json_decref(sw.out);
	o.n = 0;
	assert_int_equal(store_scan(fx->s, SK_GUARD, NULL, count_cb, &o.n),
	    STORE_OK);
	assert_int_equal(o.n, PAD_RECORDS / 2);
	assert_int_equal(store_busy(), busy + 1);
}

/* A fn's STORE_BUSY is retried a bounded number of times, then given
 * up, counted. */
static enum store_rc
busy_fn(struct store *s, DB_TXN *txn, void *arg)
{

	(*(int *)arg)++;
	return STORE_BUSY;
}

static void
busy_from_fn_is_retried_then_given_up(void **state)
{
	struct fx	*fx = *state;
	unsigned	 busy = store_busy();
	int		 tries = 0;

	assert_int_equal(store_txn_run(fx->s, busy_fn, &tries), STORE_BUSY);
	assert_int_equal(store_busy(), busy + 1);
	/* busy_retry belongs to the last Berkeley DB error seen: the lock
	 * table's in the test above may or may not have run first. */
	assert_true(tries >= 1 && tries <= 5);
}

static void
scan_walks_a_prefix_in_batches_and_stops_when_asked(void **state)
{
	struct fx	*fx = *state;
	struct order	 o = { 0, 0, 0 };
	json_t		*v;
	char		 key[32];
	int		 i;

	fill(fx->s, 3 * STORE_BATCH + 7);
	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "a%d", i);
		assert_int_equal(store_put(fx->s, NULL, SK_GUARD, key,
		    v = rec(-1), 0), STORE_OK);
		json_decref(v);
	}
	assert_int_equal(store_scan(fx->s, SK_GUARD, "k", order_cb, &o),
	    STORE_OK);
	assert_int_equal(o.n, 3 * STORE_BATCH + 7);
	o = (struct order){ 0, 0, STORE_BATCH + 3 };
	assert_int_equal(store_scan(fx->s, SK_GUARD, "k", order_cb, &o),
	    STORE_OK);
	assert_int_equal(o.n, STORE_BATCH + 3);
	o = (struct order){ 0, 0, 0 };
	assert_int_equal(store_scan(fx->s, SK_GUARD, "nothing", order_cb, &o),
	    STORE_OK);
	assert_int_equal(o.n, 0);
	assert_int_equal(store_prefix_any(fx->s, NULL, SK_GUARD, "k0005"),
	    STORE_OK);
	assert_int_equal(store_prefix_any(fx->s, NULL, SK_GUARD, "b"),
	    STORE_NOTFOUND);
	/* A walk stopped between batches has seen whole batches only. */
	store_scan_fail_after(2);
	o = (struct order){ 0, 0, 0 };
	assert_int_equal(store_scan(fx->s, SK_GUARD, "k", order_cb, &o),
	    STORE_ERR);
	store_scan_fail_after(0);
	assert_int_equal(o.n, 2 * STORE_BATCH);
}

static enum store_rc
stop_fn(struct store *s, DB_TXN *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	*act = rec_v(val) >= *(int *)arg ? STORE_STOP : STORE_DELETE;
	return STORE_OK;
}

/* A sweep stopped part-way keeps what committed; the next finishes. */
static void
sweep_resumes_and_stops_where_told(void **state)
{
	struct fx		*fx = *state;
	int			 upto = 2 * STORE_SWEEP_BATCH + 10;
	struct store_sweep	 sw = { SK_GUARD, "k", stop_fn, &upto, NULL,
				    0, 0 };

	fill(fx->s, 3 * STORE_SWEEP_BATCH);
	store_scan_fail_after(1);
	assert_int_equal(store_sweep(fx->s, &sw), STORE_ERR);
	store_scan_fail_after(0);
	assert_int_equal(sw.deleted, STORE_SWEEP_BATCH);
	assert_int_equal(count(fx->s, SK_GUARD), 2 * STORE_SWEEP_BATCH);
	sw.deleted = 0;
	assert_int_equal(store_sweep(fx->s, &sw), STORE_OK);
	assert_int_equal(sw.deleted, STORE_SWEEP_BATCH + 10);
	assert_int_equal(count(fx->s, SK_GUARD), STORE_SWEEP_BATCH - 10);
}

/* Expiry in batches re-reads each record in the deleting transaction. */
static void
expire_in_batches(void **state)
{
	struct fx	*fx = *state;
	char		 key[32];
	json_t		*v;
	int		 i, n;

	for (i = 0; i < 1200; i++) {
		snprintf(key, sizeof(key), "otp%04d", i);
		v = json_pack("{sI}", "exp", (json_int_t)(NOW + i % 3 - 1));
		assert_int_equal(store_put(fx->s, NULL, SK_OTP, key, v, 0),
		    STORE_OK);
		json_decref(v);
	}
	assert_int_equal(store_put(fx->s, NULL, SK_OTP, "noexp", v = rec(1),
	    0), STORE_OK);
	json_decref(v);
	assert_int_equal(store_expire(fx->s, NULL, SK_OTP, NOW, &n), STORE_OK);
	assert_int_equal(n, 800);
	assert_int_equal(count(fx->s, SK_OTP), 401);
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
		T(two_processes_increment_without_lost_update),
		T(lock_table_exhaustion_is_busy_and_batches_fit),
		T(busy_from_fn_is_retried_then_given_up),
		T(scan_walks_a_prefix_in_batches_and_stops_when_asked),
		T(sweep_resumes_and_stops_where_told),
		T(expire_in_batches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
