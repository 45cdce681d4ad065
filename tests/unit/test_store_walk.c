/*
 * test_store_walk.c: the store's batched walks (lib/store/store_walk.c)
 * and its resource errors (store_txn.c's STORE_BUSY) against a fresh
 * environment in a temporary directory per test.
 */
#include <sys/stat.h>
#include <sys/types.h>

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
#include "store_fx.h"

#define NOW		1700000000	/* the fixed clock */

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
fill_fn(struct store *s, struct txn *txn, void *arg)
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
even_fn(struct store *s, struct txn *txn, const char *key, json_t *val,
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
busy_fn(struct store *s, struct txn *txn, void *arg)
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
stop_fn(struct store *s, struct txn *txn, const char *key, json_t *val,
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
		T(lock_table_exhaustion_is_busy_and_batches_fit),
		T(busy_from_fn_is_retried_then_given_up),
		T(scan_walks_a_prefix_in_batches_and_stops_when_asked),
		T(sweep_resumes_and_stops_where_told),
		T(expire_in_batches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
