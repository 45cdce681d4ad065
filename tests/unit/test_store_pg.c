/*
 * test_store_pg.c: the PostgreSQL store (lib/store/store_pg.c) through
 * the store's interface: records, key order, walks, the replay tables,
 * users' unique indexes, rolled-back transactions, and counters that
 * several processes increment at once.  Needs LATCHKEY_TEST_DATABASE (a
 * libpq connection string of a database it may empty; `make unit-pg`
 * starts a throw-away cluster, tests/pg/with_cluster.py); skipped
 * without it.
 */
#include <sys/types.h>
#include <sys/wait.h>

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

#define NOW		1700000000
#define WORKERS		4	/* processes incrementing one counter */
#define INCREMENTS	40	/* ... each */

static const char *db;

static enum store_rc
wipe_fn(struct store *s, struct txn *t, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	*act = STORE_DELETE;
	return STORE_OK;
}

static int
setup(void **state)
{
	struct store		*s;
	struct store_sweep	 sw;
	int			 k;

	if (db == NULL)
		return 0;
	if ((s = store_open_pg(db, STORE_MIGRATE)) == NULL)
		return -1;
	for (k = 0; k < SK__MAX; k++) {
		memset(&sw, 0, sizeof(sw));
		sw.kind = (enum store_kind)k;
		sw.fn = wipe_fn;
		if (store_sweep(s, &sw) != STORE_OK)
			return -1;
	}
	*state = s;
	return 0;
}

static int
teardown(void **state)
{

	store_close(*state);
	return 0;
}

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

#define NEED_DB()	do { if (db == NULL) skip(); } while (0)

/* ------------------------------------------------------------------ */

static void
records_round_trip(void **state)
{
	struct store	*s = *state;
	json_t		*v, *out = NULL;

	NEED_DB();
	assert_string_equal(store_backend(s), "pg");
	assert_int_equal(store_get(s, NULL, SK_CLIENT, "c1", &out),
	    STORE_NOTFOUND);
	assert_null(out);
	assert_int_equal(store_put(s, NULL, SK_CLIENT, "c1", v = rec(1), 0),
	    STORE_OK);
	json_decref(v);
	assert_int_equal(store_put(s, NULL, SK_CLIENT, "c1", v = rec(2),
	    STORE_NOOVERWRITE), STORE_EXISTS);
	json_decref(v);
	assert_int_equal(store_put(s, NULL, SK_CLIENT, "c1", v = rec(3), 0),
	    STORE_OK);
	json_decref(v);
	assert_int_equal(store_get(s, NULL, SK_CLIENT, "c1", &out), STORE_OK);
	assert_int_equal(rec_v(out), 3);
	json_decref(out);
	/* Kinds are apart. */
	assert_int_equal(store_get(s, NULL, SK_USER, "c1", &out),
	    STORE_NOTFOUND);
	assert_int_equal(store_del(s, NULL, SK_CLIENT, "c1"), STORE_OK);
	assert_int_equal(store_del(s, NULL, SK_CLIENT, "c1"), STORE_NOTFOUND);
	assert_int_equal(store_put(s, NULL, SK_CLIENT, "", v = rec(1), 0),
	    STORE_ERR);
	json_decref(v);
}

/* Keys in the order of their bytes, as Berkeley DB's B-trees keep them. */
static const char *const ordered[] = {
	"A", "a", "a\x1f" "b", "a\x1f" "c", "a b", "ab", "b", "z",
	"\xc3\xa9", "\xe2\x82\xac",
};
#define NORDERED	(sizeof(ordered) / sizeof(ordered[0]))

struct seen {
	const char	*keys[NORDERED + 1];
	char		 buf[NORDERED + 1][16];
	size_t		 n;
};

static int
seen_cb(const char *key, json_t *val, void *arg)
{
	struct seen	*w = arg;

	if (w->n <= NORDERED)
		snprintf(w->buf[w->n++], sizeof(w->buf[0]), "%s", key);
	return 0;
}

static void
keys_in_byte_order(void **state)
{
	struct store	*s = *state;
	struct seen	 w;
	json_t		*v;
	size_t		 i;

	NEED_DB();
	for (i = NORDERED; i-- > 0;) {
		assert_int_equal(store_put(s, NULL, SK_GUARD, ordered[i],
		    v = rec((int)i), 0), STORE_OK);
		json_decref(v);
	}
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_each(s, NULL, SK_GUARD, seen_cb, &w), STORE_OK);
	assert_int_equal(w.n, NORDERED);
	for (i = 0; i < NORDERED; i++)
		assert_string_equal(w.buf[i], ordered[i]);
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_scan(s, SK_GUARD, "a\x1f", seen_cb, &w),
	    STORE_OK);
	assert_int_equal(w.n, 2);
	assert_string_equal(w.buf[1], "a\x1f" "c");
	assert_int_equal(store_prefix_any(s, NULL, SK_GUARD, "a\x1f"),
	    STORE_OK);
	assert_int_equal(store_prefix_any(s, NULL, SK_GUARD, "a\x1f" "d"),
	    STORE_NOTFOUND);
}

static int
sum_cb(const char *key, json_t *val, void *arg)
{

	*(long *)arg += rec_v(val);
	return 0;
}

static enum store_rc
odd_fn(struct store *s, struct txn *t, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	if (rec_v(val) % 2)
		*act = STORE_DELETE;
	return STORE_OK;
}

static void
walks_in_batches(void **state)
{
	struct store		*s = *state;
	struct store_sweep	 sw;
	char			 key[32];
	json_t			*v;
	long			 sum = 0;
	int			 i, n;

	NEED_DB();
	for (i = 0; i < 3 * STORE_BATCH + 7; i++) {
		snprintf(key, sizeof(key), "p\x1f%05d", i);
		assert_int_equal(store_put(s, NULL, SK_AUDIT, key, v = rec(i),
		    0), STORE_OK);
		json_decref(v);
	}
	assert_int_equal(store_put(s, NULL, SK_AUDIT, "q", v = rec(1000000),
	    0), STORE_OK);
	json_decref(v);
	assert_int_equal(store_scan(s, SK_AUDIT, "p\x1f", sum_cb, &sum),
	    STORE_OK);
	n = 3 * STORE_BATCH + 7;
	assert_int_equal(sum, (long)n * (n - 1) / 2);
	memset(&sw, 0, sizeof(sw));
	sw.kind = SK_AUDIT;
	sw.prefix = "p\x1f";
	sw.fn = odd_fn;
	assert_int_equal(store_sweep(s, &sw), STORE_OK);
	assert_int_equal(sw.deleted, n / 2);
	for (i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "otp%d", i);
		v = json_pack("{sI}", "exp", (json_int_t)(NOW - 1 + i));
		assert_int_equal(store_put(s, NULL, SK_OTP, key, v, 0),
		    STORE_OK);
		json_decref(v);
	}
	assert_int_equal(store_expire(s, NULL, SK_OTP, NOW, &n), STORE_OK);
	assert_int_equal(n, 2);
}

static void
replay_tables(void **state)
{
	struct store	*s = *state;

	NEED_DB();
	assert_int_equal(store_jti_use(s, "c", "j1", NOW + 60, NOW), STORE_OK);
	assert_int_equal(store_jti_use(s, "c", "j1", NOW + 60, NOW),
	    STORE_EXISTS);
	/* Expired: free again. */
	assert_int_equal(store_jti_use(s, "c", "j1", NOW + 200, NOW + 61),
	    STORE_OK);
	assert_int_equal(store_dpop_use(s, "k", "j1", NOW + 60, NOW), STORE_OK);
	assert_int_equal(store_dpop_use(s, "k", "j1", NOW + 60, NOW),
	    STORE_EXISTS);
}

static enum store_rc
two_then_refuse(struct store *s, struct txn *t, void *arg)
{
	json_t		*v = rec(1);
	enum store_rc	 rc;

	rc = store_put(s, t, SK_META, "x", v, 0);
	if (rc == STORE_OK)
		rc = store_put(s, t, SK_META, "y", v, 0);
	json_decref(v);
	return rc == STORE_OK ? STORE_EXISTS : rc;
}

static void
refused_transaction_writes_nothing(void **state)
{
	struct store	*s = *state;
	json_t		*out = NULL;

	NEED_DB();
	assert_int_equal(store_txn_run(s, two_then_refuse, NULL),
	    STORE_EXISTS);
	assert_int_equal(store_get(s, NULL, SK_META, "x", &out),
	    STORE_NOTFOUND);
	assert_int_equal(store_get(s, NULL, SK_META, "y", &out),
	    STORE_NOTFOUND);
}

static void
users_unique_per_connection(void **state)
{
	struct store	*s = *state;
	json_t		*u1, *u2, *out = NULL;

	NEED_DB();
	u1 = json_pack("{ssssss}", "user_id", "auth0|1", "connection", "db",
	    "email", "Ann@Example.com");
	u2 = json_pack("{ssssss}", "user_id", "auth0|2", "connection", "db",
	    "email", "ann@example.com");
	assert_int_equal(store_user_put(s, NULL, u1), STORE_OK);
	assert_int_equal(store_user_put(s, NULL, u2), STORE_EXISTS);
	assert_int_equal(store_user_find(s, NULL, "db", "ANN@example.com",
	    &out), STORE_OK);
	assert_string_equal(json_string_value(json_object_get(out,
	    "user_id")), "auth0|1");
	json_decref(out);
	assert_int_equal(store_user_del(s, NULL, "auth0|1"), STORE_OK);
	assert_int_equal(store_user_put(s, NULL, u2), STORE_OK);
	json_decref(u1);
	json_decref(u2);
}

/* Read, add one, write: what a counter's update is. */
static enum store_rc
incr_fn(struct store *s, struct txn *t, void *arg)
{
	json_t		*v = NULL, *nv;
	enum store_rc	 rc;
	int		 n = 0;

	rc = store_get(s, t, SK_GUARD, "counter", &v);
	if (rc == STORE_OK)
		n = rec_v(v);
	else if (rc != STORE_NOTFOUND)
		return rc;
	json_decref(v);
	nv = rec(n + 1);
	rc = store_put(s, t, SK_GUARD, "counter", nv, 0);
	json_decref(nv);
	return rc;
}

static enum store_rc
incr_durable_fn(struct store *s, struct txn *t, void *arg)
{

	store_txn_durable(s, t);
	return incr_fn(s, t, arg);
}

/* Commits without waiting for the flush, and one that asks for it after
 * all, are committed alike (the flush is the server's to prove). */
static void
nosync_commits(void **state)
{
	struct store	*s = *state;
	json_t		*out = NULL;

	NEED_DB();
	assert_int_equal(store_txn_run_nosync(s, incr_fn, NULL), STORE_OK);
	assert_int_equal(store_txn_run_nosync(s, incr_durable_fn, NULL),
	    STORE_OK);
	assert_int_equal(store_txn_run(s, incr_fn, NULL), STORE_OK);
	assert_int_equal(store_get(s, NULL, SK_GUARD, "counter", &out),
	    STORE_OK);
	assert_int_equal(rec_v(out), 3);
	json_decref(out);
}

static void
counters_exact_across_processes(void **state)
{
	struct store	*s = *state;
	json_t		*out = NULL;
	pid_t		 pid[WORKERS];
	int		 i, j, st, bad;

	NEED_DB();
	for (i = 0; i < WORKERS; i++) {
		if ((pid[i] = fork()) != 0)
			continue;
		if ((s = store_open_pg(db, 0)) == NULL)
			_exit(2);
		for (bad = j = 0; j < INCREMENTS; j++)
			bad += store_txn_run(s, incr_fn, NULL) != STORE_OK;
		store_close(s);
		_exit(bad != 0);
	}
	for (i = 0; i < WORKERS; i++) {
		assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	assert_int_equal(store_get(s, NULL, SK_GUARD, "counter", &out),
	    STORE_OK);
	assert_int_equal(rec_v(out), WORKERS * INCREMENTS);
	json_decref(out);
}

/* The generation (store_gen.c) on PostgreSQL: a client's put and
 * delete change it (each in one transaction with the write, where a
 * lone put would be one autocommitted statement); a user's does not;
 * another machine's responder sees the change (a process of its own
 * with its own connection). */
static void
generation_follows_configuration_writes(void **state)
{
	struct store	*s = *state;
	json_t		*c;
	uint64_t	 g0, g1, g2;
	pid_t		 pid;
	int		 st;

	NEED_DB();
	c = json_pack("{ssss}", "client_id", "app", "name", "A");
	assert_int_equal(store_gen(s, &g0), STORE_OK);
	assert_int_equal(store_put(s, NULL, SK_CLIENT, "app", c, 0), STORE_OK);
	assert_int_equal(store_gen(s, &g1), STORE_OK);
	assert_true(g1 != g0 && g1 != 0);
	assert_int_equal(store_put(s, NULL, SK_USER, "auth0|1", c, 0),
	    STORE_OK);
	assert_int_equal(store_gen(s, &g2), STORE_OK);
	assert_true(g2 == g1);
	if ((pid = fork()) == 0) {
		if ((s = store_open_pg(db, 0)) == NULL)
			_exit(2);
		st = store_del(s, NULL, SK_CLIENT, "app") != STORE_OK;
		store_close(s);
		_exit(st);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(store_gen(s, &g2), STORE_OK);
	assert_true(g2 != g1 && g2 != 0);
	json_decref(c);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(records_round_trip),
		T(keys_in_byte_order),
		T(walks_in_batches),
		T(replay_tables),
		T(refused_transaction_writes_nothing),
		T(users_unique_per_connection),
		T(nosync_commits),
		T(counters_exact_across_processes),
		T(generation_follows_configuration_writes),
	};

	if ((db = getenv("LATCHKEY_TEST_DATABASE")) != NULL && *db == '\0')
		db = NULL;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
