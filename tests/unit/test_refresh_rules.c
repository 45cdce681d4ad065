/*
 * test_refresh_rules.c: a client's refresh-token settings
 * (lib/grants/refresh_conf.c), the scope rules of a refresh (scope_narrow,
 * scope_refresh in lib/security/scope.c), a family bound to a DPoP key
 * and an API that requires one (lib/grants/refresh.c), and signing key
 * rotation (lib/crypto/keyrot.c), against a fresh Berkeley DB environment
 * per test (refresh_fx.c), with a fixed clock.
 */
#include <sys/types.h>

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
#include "refresh_fx.h"

/* ------------------------------------------------------------------ */

static void
conf_defaults_and_settings(void **state)
{
	struct refresh_conf	 c;
	struct client_rec	 cr;
	json_t			*rec;

	refresh_conf(NULL, &c);
	assert_int_equal(c.rotating, 0);		/* Auth0's default */
	assert_int_equal(c.lifetime, 2592000);
	assert_int_equal(c.idle, 2592000);
	assert_int_equal(c.leeway, 0);
	rec = client_rec("rotating", 60, 30, 5);
	assert_int_equal(record_parse(REC_CLIENT, rec, &cr), 0);
	refresh_conf(&cr, &c);
	record_clear(REC_CLIENT, &cr);
	assert_int_equal(c.rotating, 1);
	assert_int_equal(c.lifetime, 60);
	assert_int_equal(c.idle, 30);
	assert_int_equal(c.leeway, 5);
	json_object_set_new(json_object_get(rec, "refresh_token"),
	    "expiration_type", json_string("non-expiring"));
	assert_int_equal(record_parse(REC_CLIENT, rec, &cr), 0);
	refresh_conf(&cr, &c);
	record_clear(REC_CLIENT, &cr);
	assert_int_equal(c.lifetime, 0);
	assert_int_equal(c.idle, 0);
	json_decref(rec);
}

static void
conf_problems(void **state)
{
	static const struct {
		const char	*json;
		int		 ok;
	} cases[] = {
		{ "{}", 1 },
		{ "{\"rotation_type\": \"rotating\", \"leeway\": 60}", 1 },
		{ "{\"rotation_type\": \"non-rotating\", \"token_lifetime\": 1,"
		  " \"idle_token_lifetime\": 31557600}", 1 },
		{ "{\"expiration_type\": \"non-expiring\","
		  " \"infinite_token_lifetime\": true}", 1 },
		{ "{\"rotation_type\": null}", 1 },
		{ "{\"rotation_type\": \"sometimes\"}", 0 },
		{ "{\"token_lifetime\": 0}", 0 },
		{ "{\"token_lifetime\": 31557601}", 0 },
		{ "{\"idle_token_lifetime\": \"60\"}", 0 },
		{ "{\"leeway\": 61}", 0 },
		{ "{\"infinite_token_lifetime\": 1}", 0 },
		{ "{\"lifetime\": 60}", 0 },
		{ "[]", 0 },
	};
	json_t	*v;
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		if (cases[i].ok)
			assert_null(refresh_conf_problem(v));
		else
			assert_non_null(refresh_conf_problem(v));
		json_decref(v);
	}
}

static void
scope_narrow_rules(void **state)
{
	struct scope_result	 r;

	assert_int_equal(scope_narrow("openid email read:x", NULL, &r), 0);
	assert_string_equal(r.granted.p, "openid email read:x");
	assert_true(r.openid && r.email && !r.profile && !r.offline_access);
	assert_false(r.differs);
	scope_result_clear(&r);
	/* "openid" alone does not expand here: it was granted already. */
	assert_int_equal(scope_narrow("openid profile email", "openid", &r), 0);
	assert_string_equal(r.granted.p, "openid");
	assert_true(r.openid && !r.profile && !r.email);
	assert_true(r.differs);
	scope_result_clear(&r);
	assert_int_equal(scope_narrow("openid read:x", "read:x  read:x", &r), 0);
	assert_string_equal(r.granted.p, "read:x");
	scope_result_clear(&r);
	assert_int_equal(scope_narrow("openid read:x", "read:x write:x", &r), 1);
	scope_result_clear(&r);
	assert_int_equal(scope_narrow("", "openid", &r), 1);
	scope_result_clear(&r);
}

/*
 * scope_refresh: the request resolved by the login rules, then
 * intersected with the grant (docs/COMPAT.md 5.2: requests-oauthlib
 * sends the login's scope back).
 */
static void
scope_refresh_rules(void **state)
{
#define FULL	"openid profile email address phone offline_access"
	static const struct {
		const char	*granted;
		const char	*requested;
		int		 api;	/* 1: the test API, 0: none */
		int		 rc;
		const char	*out;
	} cases[] = {
		/* The login's own string: the whole grant. */
		{ FULL " read:x write:x admin:x", "openid offline_access", 1, 0,
		  FULL " read:x write:x admin:x" },
		/* An API scope the login dropped is dropped again. */
		{ FULL " read:x", "openid offline_access read:x read:nope", 1, 0,
		  FULL " read:x" },
		{ FULL, "openid offline_access read:nope", 1, 0, FULL },
		/* No API scope named: all of them, within the grant. */
		{ "openid email offline_access read:x", "openid", 1, 0,
		  "openid email read:x" },
		/* Narrowing. */
		{ FULL " read:x write:x", "read:x", 1, 0, "read:x" },
		{ FULL " read:x write:x", "email write:x", 1, 0, "email write:x" },
		/* A known scope outside the grant: widening. */
		{ "openid offline_access read:x", "read:x write:x", 1, 1, NULL },
		{ "openid email read:x", "profile", 1, 1, NULL },
		{ "openid offline_access", "openid offline_access", 0, 0,
		  "openid offline_access" },
		/* Absent or blank: the grant, less what no longer counts
		 * (legacy attribute scopes, API scopes since removed). */
		{ "openid offline_access name nickname", NULL, 0, 0,
		  "openid offline_access" },
		{ "openid offline_access read:x gone:x", NULL, 1, 0,
		  "openid offline_access read:x" },
		{ "openid read:x", " ", 1, 0, "openid read:x" },
		{ "openid read:x", "", 1, 0, "openid read:x" },
		/* Without an API an API scope is not known: dropped. */
		{ "openid offline_access", "openid read:x", 0, 0, "openid" },
	};
#undef FULL
	struct scope_result	 r;
	struct api		 api;
	size_t			 i;
	int			 rc;

	assert_int_equal(record_parse(REC_API, api_rec(), &api), 0);
	json_decref(api.json);	/* api_rec's reference */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rc = scope_refresh(cases[i].granted, cases[i].requested,
		    cases[i].api ? &api : NULL, &r);
		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d", i, rc);
		if (rc == 0 && strcmp(r.granted.p ? r.granted.p : "",
		    cases[i].out) != 0)
			fail_msg("case %zu: \"%s\"", i, r.granted.p);
		scope_result_clear(&r);
	}
	/* The flags follow what remains. */
	assert_int_equal(scope_refresh("openid profile email offline_access "
	    "read:x", "email read:x", &api, &r), 0);
	assert_true(r.email && !r.openid && !r.profile && !r.offline_access);
	assert_true(r.differs == 0);
	scope_result_clear(&r);
	record_clear(REC_API, &api);
}

/* ------------------------------------------------------------------ */

static int
status_cb(const char *key, json_t *val, void *arg)
{
	json_t	*counts = arg;
	const char *s = json_string_value(json_object_get(val, "status"));

	json_object_set_new(counts, s, json_integer(
	    json_integer_value(json_object_get(counts, s)) + 1));
	return 0;
}

/* "current=1 next=0 previous=0" */
static void
key_statuses(struct fx *fx, char *out, size_t outsz)
{
	json_t	*c = json_object();

	assert_int_equal(store_each(fx->ctx.store, NULL, SK_KEY, status_cb, c),
	    STORE_OK);
	snprintf(out, outsz, "current=%d next=%d previous=%d",
	    (int)json_integer_value(json_object_get(c, "current")),
	    (int)json_integer_value(json_object_get(c, "next")),
	    (int)json_integer_value(json_object_get(c, "previous")));
	json_decref(c);
}

static void
key_rotation_lifecycle(void **state)
{
	struct fx	*fx = *state;
	json_t		*k, *next = NULL, *cur = NULL, *removed;
	char		 buf[128], kid0[128];
	long		 max;

	k = key_generate(KEY_ES256, "current", NOW);
	assert_non_null(k);
	snprintf(kid0, sizeof(kid0), "%s",
	    json_string_value(json_object_get(k, "kid")));
	assert_int_equal(store_put(fx->ctx.store, NULL, SK_KEY, kid0, k, 0),
	    STORE_OK);
	json_decref(k);
	/* No next key: rotation refuses (force would make one). */
	assert_int_equal(keyrot_rotate(fx->ctx.store, NULL, KEY_ES256, NOW, 0,
	    &cur), STORE_NOTFOUND);
	assert_int_equal(keyrot_add_next(fx->ctx.store, NULL, KEY_ES256, NOW,
	    &next), STORE_OK);
	assert_int_equal(keyrot_add_next(fx->ctx.store, NULL, KEY_ES256, NOW,
	    &k), STORE_EXISTS);
	key_statuses(fx, buf, sizeof(buf));
	assert_string_equal(buf, "current=1 next=1 previous=0");
	/* Too young: a verifier may hold a JWKS without it. */
	assert_int_equal(keyrot_rotate(fx->ctx.store, NULL, KEY_ES256,
	    NOW + KEY_PUBLISH_MIN - 1, 0, &cur), STORE_EXISTS);
	assert_int_equal(keyrot_rotate(fx->ctx.store, NULL, KEY_ES256,
	    NOW + KEY_PUBLISH_MIN, 0, &cur), STORE_OK);
	assert_string_equal(json_string_value(json_object_get(cur, "kid")),
	    json_string_value(json_object_get(next, "kid")));
	key_statuses(fx, buf, sizeof(buf));
	assert_string_equal(buf, "current=1 next=0 previous=1");
	/* Longest lifetime: the defaults, or an API's longer one. */
	assert_int_equal(keyrot_max_lifetime(fx->ctx.store, NULL, &max),
	    STORE_OK);
	assert_int_equal(max, 86400);
	k = json_pack("{s:s, s:i}", "identifier", "a", "token_lifetime", 100000);
	assert_int_equal(store_put(fx->ctx.store, NULL, SK_API, "a", k, 0),
	    STORE_OK);
	json_decref(k);
	removed = json_array();
	assert_int_equal(keyrot_prune(fx->ctx.store, NULL,
	    NOW + KEY_PUBLISH_MIN + 99999, removed), STORE_OK);
	assert_int_equal(json_array_size(removed), 0);
	assert_int_equal(keyrot_prune(fx->ctx.store, NULL,
	    NOW + KEY_PUBLISH_MIN + 100000, removed), STORE_OK);
	assert_int_equal(json_array_size(removed), 1);
	assert_string_equal(json_string_value(json_array_get(removed, 0)), kid0);
	key_statuses(fx, buf, sizeof(buf));
	assert_string_equal(buf, "current=1 next=0 previous=0");
	json_decref(removed);
	json_decref(next);
	json_decref(cur);
}

/* ------------------------------------------------------------------ */
/* DPoP binding (RFC 9449 5). */

/* Redeem token at t with the DPoP key thumbprint jkt (NULL: no proof). */
static enum refresh_rc
redeem_jkt(struct fx *fx, const char *token, const char *jkt, time_t t)
{
	struct refresh_use	 u;
	enum refresh_rc		 rc;

	refresh_use_init(&u);
	u.token = token;
	u.clientrec = &fx->client;
	u.jkt = jkt;
	u.now = t;
	rc = refresh_redeem(fx->ctx.store, &u);
	refresh_use_clear(&u);
	return rc;
}

/* RFC 9449 5: a family bound to a key is redeemed only with a proof of
 * that key; a refusal spends nothing (the right key still works, and
 * its successor is bound too). */
static void
dpop_bound_family_needs_its_key(void **state)
{
	struct fx		*fx = *state;
	struct refresh_new	 rn = { UID, CID, AUD, SCOPE, NULL, NULL,
				    "jkt-of-the-key" };
	char			 t[96];

	assert_int_equal(refresh_issue(&fx->ctx, NULL, &fx->client, NULL, &rn,
	    NOW, t, sizeof(t)), 0);
	assert_int_equal(redeem_jkt(fx, t, NULL, NOW + 1), REFRESH_DPOP_KEY);
	assert_int_equal(redeem_jkt(fx, t, "another-jkt", NOW + 2),
	    REFRESH_DPOP_KEY);
	assert_int_equal(redeem_jkt(fx, t, "jkt-of-the-key", NOW + 3),
	    REFRESH_OK);
	/* An unbound family takes any proof, or none. */
	issue(fx, NULL, NOW, t);
	assert_int_equal(redeem_jkt(fx, t, "any-jkt", NOW + 1), REFRESH_OK);
}

/* An API whose proof_of_possession requires DPoP refuses a refresh
 * without a proof, before the token is spent. */
static void
dpop_required_by_the_api(void **state)
{
	struct fx	*fx = *state;
	json_t		*api = api_rec();
	char		 t[96];

	json_object_set_new(api, "proof_of_possession", json_pack("{s:s, s:b}",
	    "mechanism", "dpop", "required", 1));
	assert_int_equal(store_put(fx->ctx.store, NULL, SK_API, AUD, api, 0),
	    STORE_OK);
	json_decref(api);
	issue(fx, NULL, NOW, t);
	assert_int_equal(redeem_jkt(fx, t, NULL, NOW + 1),
	    REFRESH_DPOP_REQUIRED);
	assert_int_equal(redeem_jkt(fx, t, "a-jkt", NOW + 2), REFRESH_OK);
}


#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(conf_defaults_and_settings),
		T(conf_problems),
		T(scope_narrow_rules),
		T(scope_refresh_rules),
		T(dpop_bound_family_needs_its_key),
		T(dpop_required_by_the_api),
		T(key_rotation_lifecycle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
