/*
 * test_record_cache.c: the store's generation (lib/store/store_gen.c)
 * and a responder's cache of parsed configuration records
 * (lib/store/record_cache.c) on a fresh Berkeley DB environment per
 * test: which writes change the generation, that a change made by
 * another process is seen at the next request and not before, that an
 * own write stops the caching, and the cache's bounds.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"
#include "store_fx.h"

#define MANY	(RECORD_CACHE_MAX + 36)	/* more clients than are kept */

static uint64_t
gen(struct store *s)
{
	uint64_t	 g;

	assert_int_equal(store_gen(s, &g), STORE_OK);
	return g;
}

static json_t *
client(const char *id, const char *name)
{
	return json_pack("{ssss}", "client_id", id, "name", name);
}

static void
put_client(struct store *s, const char *id, const char *name)
{
	json_t	*c = client(id, name);

	assert_int_equal(store_put(s, NULL, SK_CLIENT, id, c, 0), STORE_OK);
	json_decref(c);
}

/* The client's name as record_get reads it now. */
static void
assert_name(struct store *s, const char *id, const char *name)
{
	struct client_rec	 c;

	assert_int_equal(record_get(s, NULL, REC_CLIENT, id, &c), STORE_OK);
	assert_string_equal(c.name, name);
	record_clear(REC_CLIENT, &c);
}

static struct record_cache_stats
stats(void)
{
	struct record_cache_stats st;

	record_cache_stats(&st);
	return st;
}

/* Which writes change the generation: the configuration kinds, not the
 * records requests write. */
static const struct {
	enum store_kind	 kind;
	const char	*key;
	int		 watched;
} writes[] = {
	{ SK_META, "tenant", 1 },
	{ SK_CLIENT, "app", 1 },
	{ SK_CONNECTION, "db", 1 },
	{ SK_API, "https://api/", 1 },
	{ SK_KEY, "kid1", 1 },
	{ SK_META, "dpop", 0 },
	{ SK_META, "refresh_index", 0 },
	{ SK_USER, "auth0|1", 0 },
	{ SK_REFRESH, "digest", 0 },
	{ SK_GUARD, "bf\x1f" "a\x1f" "1.2.3.4", 0 },
	{ SK_AUDIT, "000000000001.000000000.00000000", 0 },
};

static void
watched_writes_change_the_generation(void **state)
{
	struct fx	*fx = *state;
	json_t		*v = rec(1);
	uint64_t	 before;
	size_t		 i;

	assert_int_equal(gen(fx->s), 0);	/* never written */
	for (i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		before = gen(fx->s);
		assert_int_equal(store_put(fx->s, NULL, writes[i].kind,
		    writes[i].key, v, 0), STORE_OK);
		assert_int_equal(gen(fx->s) != before, writes[i].watched);
		before = gen(fx->s);
		assert_int_equal(store_del(fx->s, NULL, writes[i].kind,
		    writes[i].key), STORE_OK);
		assert_int_equal(gen(fx->s) != before, writes[i].watched);
		assert_int_equal(store_gen_watched(writes[i].kind,
		    writes[i].key), writes[i].watched);
	}
	/* Deleting nothing changes nothing. */
	before = gen(fx->s);
	assert_int_equal(store_del(fx->s, NULL, SK_CLIENT, "none"),
	    STORE_NOTFOUND);
	assert_int_equal(gen(fx->s), before);
	json_decref(v);
}

static enum store_rc
put_then_fail(struct store *s, struct txn *t, void *arg)
{
	enum store_rc	 rc;
	json_t		*c = client("app", "B");

	rc = store_put(s, t, SK_CLIENT, "app", c, 0);
	json_decref(c);
	return rc == STORE_OK ? STORE_ERR : rc;
}

static void
aborted_write_leaves_the_generation(void **state)
{
	struct fx	*fx = *state;
	uint64_t	 before;

	put_client(fx->s, "app", "A");
	before = gen(fx->s);
	assert_int_equal(store_txn_run(fx->s, put_then_fail, NULL),
	    STORE_ERR);
	assert_int_equal(gen(fx->s), before);
	assert_name(fx->s, "app", "A");
}

/* Another responder's, or latchkeyctl's, write: a process of its own
 * with its own environment handle. */
static void
other_process_renames(const char *home, const char *id, const char *name)
{
	struct store	*s;
	pid_t		 pid;
	int		 status;
	json_t		*c;

	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		c = client(id, name);
		if ((s = store_open(home, 0)) == NULL ||
		    store_put(s, NULL, SK_CLIENT, id, c, 0) != STORE_OK)
			_exit(2);
		store_close(s);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
other_process_change_is_seen_at_the_next_request(void **state)
{
	struct fx	*fx = *state;

	put_client(fx->s, "app", "A");
	record_cache_begin(fx->s);
	assert_name(fx->s, "app", "A");
	assert_int_equal(stats().entries, 1);
	other_process_renames(fx->home, "app", "B");
	/* The request keeps what it began with. */
	assert_name(fx->s, "app", "A");
	record_cache_end();
	/* The next one reads the new generation and the new record. */
	record_cache_begin(fx->s);
	assert_name(fx->s, "app", "B");
	assert_name(fx->s, "app", "B");
	record_cache_end();
}

static void
unchanged_generation_answers_from_the_cache(void **state)
{
	struct fx			*fx = *state;
	struct record_cache_stats	 a, b;
	int				 i;

	put_client(fx->s, "app", "A");
	a = stats();
	for (i = 0; i < 3; i++) {
		record_cache_begin(fx->s);
		assert_name(fx->s, "app", "A");
		record_cache_end();
	}
	b = stats();
	assert_int_equal(b.misses - a.misses, 1);
	assert_int_equal(b.hits - a.hits, 2);
}

static void
outside_a_request_nothing_is_kept(void **state)
{
	struct fx			*fx = *state;
	struct record_cache_stats	 a, b;

	put_client(fx->s, "app", "A");
	a = stats();
	assert_name(fx->s, "app", "A");
	assert_name(fx->s, "app", "A");
	b = stats();
	assert_int_equal(b.hits, a.hits);
	assert_int_equal(b.entries, 0);
	/* Nor after a request ended. */
	record_cache_begin(fx->s);
	assert_name(fx->s, "app", "A");
	record_cache_end();
	other_process_renames(fx->home, "app", "B");
	assert_name(fx->s, "app", "B");
}

static void
own_write_stops_caching_until_the_next_request(void **state)
{
	struct fx	*fx = *state;

	put_client(fx->s, "app", "A");
	record_cache_begin(fx->s);
	assert_name(fx->s, "app", "A");
	put_client(fx->s, "app", "B");
	assert_int_equal(stats().entries, 0);
	assert_name(fx->s, "app", "B");
	assert_int_equal(stats().entries, 0);
	record_cache_end();
	record_cache_begin(fx->s);
	assert_name(fx->s, "app", "B");
	assert_int_equal(stats().entries, 1);
	record_cache_end();
}

static void
cache_is_bounded_and_keeps_no_misses(void **state)
{
	struct fx			*fx = *state;
	struct client_rec		 c;
	struct record_cache_stats	 a, b;
	char				 id[32], name[32];
	int				 i;

	for (i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "app%d", i);
		put_client(fx->s, id, id);
	}
	record_cache_begin(fx->s);
	for (i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "app%d", i);
		assert_name(fx->s, id, id);
	}
	assert_int_equal(stats().entries, RECORD_CACHE_MAX);
	/* The newest are kept, the oldest went first. */
	a = stats();
	snprintf(id, sizeof(id), "app%d", MANY - 1);
	assert_name(fx->s, id, id);
	assert_name(fx->s, "app0", "app0");
	b = stats();
	assert_int_equal(b.hits - a.hits, 1);
	assert_int_equal(b.misses - a.misses, 1);
	/* Unknown clients take nothing. */
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "nobody%d", i);
		assert_int_equal(record_get(fx->s, NULL, REC_CLIENT, name, &c),
		    STORE_NOTFOUND);
	}
	assert_int_equal(stats().entries, RECORD_CACHE_MAX);
	record_cache_end();
}

static void
signing_key_pick_lasts_a_generation(void **state)
{
	struct fx	*fx = *state;
	json_t		*k = rec(7), *got;
	int		 found;

	record_cache_begin(fx->s);
	assert_null(record_cache_signkey(fx->s, &found));
	assert_false(found);
	record_cache_signkey_set(fx->s, k);
	record_cache_end();
	record_cache_begin(fx->s);
	got = record_cache_signkey(fx->s, &found);
	assert_true(found);
	assert_ptr_equal(got, k);
	json_decref(got);
	/* None picked (no current key) is kept as well. */
	record_cache_signkey_set(fx->s, NULL);
	assert_null(record_cache_signkey(fx->s, &found));
	assert_true(found);
	record_cache_end();
	other_process_renames(fx->home, "app", "B");
	record_cache_begin(fx->s);
	assert_null(record_cache_signkey(fx->s, &found));
	assert_false(found);
	record_cache_end();
	json_decref(k);
}

/*
 * A responder's start-up check (lib/run/ctx.c) reads the tenant and
 * picks the signing key as a request does: its first request, and a
 * plain CGI process's only one, finds both in the cache.
 */
static void
start_up_check_leaves_the_tenant_and_key_for_the_first_request(
    void **state)
{
	struct fx		*fx = *state;
	struct lk_ctx		 ctx;
	struct tenant		 t;
	json_t			*tenant, *key, *got;
	unsigned long		 hits;
	int			 found;

	tenant = json_pack("{ss}", "issuer", "https://t.example/");
	key = key_generate(KEY_ES256, "current", time(NULL));
	assert_non_null(key);
	assert_int_equal(store_put(fx->s, NULL, SK_META, "tenant", tenant, 0),
	    STORE_OK);
	assert_int_equal(store_put(fx->s, NULL, SK_KEY,
	    json_string_value(json_object_get(key, "kid")), key, 0), STORE_OK);
	/* One environment handle per process (DB_REGISTER): the check's. */
	store_close(fx->s);
	fx->s = NULL;
	memset(&ctx, 0, sizeof(ctx));
	ctx.one_request = 1;
	ctx_start(&ctx, fx->home);
	assert_true(ctx.ready);
	record_cache_begin(ctx.store);
	hits = stats().hits;
	assert_int_equal(record_get(ctx.store, NULL, REC_TENANT, "tenant", &t),
	    STORE_OK);
	assert_string_equal(t.issuer, "https://t.example/");
	assert_int_equal(stats().hits, hits + 1);
	record_clear(REC_TENANT, &t);
	got = record_cache_signkey(ctx.store, &found);
	assert_true(found);
	assert_true(json_equal(got, key));
	json_decref(got);
	record_cache_end();
	ctx_clear(&ctx);
	json_decref(tenant);
	json_decref(key);
}

int
main(void)
{
#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(watched_writes_change_the_generation),
		T(aborted_write_leaves_the_generation),
		T(other_process_change_is_seen_at_the_next_request),
		T(unchanged_generation_answers_from_the_cache),
		T(outside_a_request_nothing_is_kept),
		T(own_write_stops_caching_until_the_next_request),
		T(cache_is_bounded_and_keeps_no_misses),
		T(signing_key_pick_lasts_a_generation),
		T(start_up_check_leaves_the_tenant_and_key_for_the_first_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
