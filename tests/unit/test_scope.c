/*
 * test_scope: Auth0's password-grant scope rules (lib/security/scope.c), one named
 * test per row: implied trust, the "openid" expansion, API scopes the API
 * does not define, offline_access, and when "scope" is echoed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define S(x)		((x) != NULL ? (x) : "(null)")

/* The APIs a row may name. */
enum api_row { API_NONE, API_RW, API_OFFLINE, API_EMPTY, API__MAX };

static const char *const api_json[API__MAX] = {
	[API_NONE] = NULL,
	[API_RW] = "{\"identifier\":\"https://api.example.com/\","
	    "\"scopes\":[\"read:x\",\"write:x\"],"
	    "\"allow_offline_access\":false}",
	[API_OFFLINE] = "{\"identifier\":\"https://api.example.com/\","
	    "\"scopes\":[\"read:x\",\"write:x\"],"
	    "\"allow_offline_access\":true}",
	[API_EMPTY] = "{\"identifier\":\"https://empty.example.com/\","
	    "\"scopes\":[]}",
};

/* The scope_result flags a row expects. */
#define OPENID	0x01
#define PROFILE	0x02
#define EMAIL	0x04
#define ADDRESS	0x08
#define PHONE	0x10
#define OFFLINE	0x20
#define ALLOIDC	(OPENID | PROFILE | EMAIL | ADDRESS | PHONE)

#define OIDC_ALL	"openid profile email address phone"

static const struct scase {
	const char	*name;
	const char	*requested;	/* may be NULL */
	enum api_row	 api;
	int		 allow_offline;
	const char	*granted;
	int		 differs;
	int		 flags;
} cases[] = {
	/* Implied trust: no API scope asked. */
	{ "no scope with an API grants every API scope",
	  NULL, API_RW, 0, "read:x write:x", 1, 0 },
	{ "empty scope with an API grants every API scope",
	  "", API_RW, 0, "read:x write:x", 1, 0 },
	{ "blank scope with an API grants every API scope",
	  "   ", API_RW, 0, "read:x write:x", 1, 0 },
	{ "no scope without an API grants nothing and does not differ",
	  NULL, API_NONE, 0, "", 0, 0 },
	{ "no scope with an API that defines none grants nothing",
	  NULL, API_EMPTY, 0, "", 0, 0 },
	{ "OIDC scopes only with an API also grant every API scope",
	  "openid email", API_RW, 0, "openid email read:x write:x", 1,
	  OPENID | EMAIL },

	/* The "openid" expansion. */
	{ "openid alone expands to the standard identity scopes",
	  "openid", API_NONE, 0, OIDC_ALL, 1, ALLOIDC },
	{ "openid alone with an API expands and adds the API scopes",
	  "openid", API_RW, 0, OIDC_ALL " read:x write:x", 1, ALLOIDC },
	{ "openid alone with an API scope expands",
	  "openid read:x", API_RW, 0, OIDC_ALL " read:x", 1, ALLOIDC },
	{ "openid given twice still expands",
	  "openid openid", API_NONE, 0, OIDC_ALL, 1, ALLOIDC },
	{ "openid with email is not expanded",
	  "openid email", API_NONE, 0, "openid email", 0, OPENID | EMAIL },
	{ "openid with profile is not expanded",
	  "profile openid", API_NONE, 0, "openid profile", 0,
	  OPENID | PROFILE },
	{ "openid with phone and address is not expanded",
	  "openid phone address", API_NONE, 0, "openid address phone", 0,
	  OPENID | ADDRESS | PHONE },
	{ "identity scopes without openid are granted as asked",
	  "email profile", API_NONE, 0, "profile email", 0, PROFILE | EMAIL },
	{ "scope names are case-sensitive",
	  "OpenID", API_NONE, 0, "", 1, 0 },
	{ "a prefix of openid is not openid",
	  "open", API_NONE, 0, "", 1, 0 },

	/* API scopes. */
	{ "API scopes the API does not define are dropped",
	  "read:x delete:x", API_RW, 0, "read:x", 1, 0 },
	{ "only undefined API scopes grant no API scope",
	  "delete:x", API_RW, 0, "", 1, 0 },
	{ "a prefix of an API scope is not granted",
	  "read", API_RW, 0, "", 1, 0 },
	{ "an extension of an API scope is not granted",
	  "read:xx", API_RW, 0, "", 1, 0 },
	{ "API scopes keep the requested order",
	  "write:x read:x", API_RW, 0, "write:x read:x", 0, 0 },
	{ "without an API, API scopes are dropped",
	  "openid read:x", API_NONE, 0, OIDC_ALL, 1, ALLOIDC },
	{ "without an API, an API-only request grants nothing",
	  "read:x", API_NONE, 0, "", 1, 0 },

	/* Spelling of the request. */
	{ "duplicate requested scopes are granted once and do not differ",
	  "read:x read:x email email", API_RW, 0, "email read:x", 0, EMAIL },
	{ "extra spaces are ignored",
	  "  openid   email  ", API_NONE, 0, "openid email", 0,
	  OPENID | EMAIL },
	{ "identical request does not differ",
	  "openid email read:x write:x", API_RW, 0,
	  "openid email read:x write:x", 0, OPENID | EMAIL },
	{ "identical request in another order does not differ",
	  "write:x email read:x openid", API_RW, 0,
	  "openid email write:x read:x", 0, OPENID | EMAIL },

	/* offline_access: the caller and the API must both allow it. */
	{ "offline_access is granted when the caller and the API allow it",
	  "openid email offline_access read:x", API_OFFLINE, 1,
	  "openid email offline_access read:x", 0,
	  OPENID | EMAIL | OFFLINE },
	{ "offline_access is dropped when the caller cannot issue refresh tokens",
	  "openid email offline_access read:x", API_OFFLINE, 0,
	  "openid email read:x", 1, OPENID | EMAIL },
	{ "offline_access is dropped when the API does not allow offline access",
	  "openid email offline_access read:x", API_RW, 1,
	  "openid email read:x", 1, OPENID | EMAIL },
	{ "offline_access is dropped without an API",
	  "openid email offline_access", API_NONE, 1, "openid email", 1,
	  OPENID | EMAIL },
	{ "offline_access is dropped for an API without allow_offline_access",
	  "offline_access", API_EMPTY, 1, "", 1, 0 },
	{ "offline_access alone does not stop the openid expansion",
	  "openid offline_access", API_OFFLINE, 1,
	  OIDC_ALL " offline_access read:x write:x", 1, ALLOIDC | OFFLINE },
	{ "offline_access alone with an API is implied trust",
	  "offline_access", API_OFFLINE, 1, "offline_access read:x write:x",
	  1, OFFLINE },
};

static struct api	 apis[API__MAX];

static int
setup(void **state)
{
	json_t	*j;
	size_t	 i;
	int	 rc;

	for (i = 0; i < API__MAX; i++) {
		if (api_json[i] == NULL)
			continue;
		if ((j = json_loads(api_json[i], 0, NULL)) == NULL)
			return -1;
		rc = record_parse(REC_API, j, &apis[i]);
		json_decref(j);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	size_t	 i;

	for (i = 0; i < API__MAX; i++)
		record_clear(REC_API, &apis[i]);
	return 0;
}

static void
scope_case(void **state)
{
	const struct scase	*c = *state;
	struct scope_result	 r;

	assert_int_equal(scope_resolve(c->requested, c->api == API_NONE ? NULL :
	    &apis[c->api], c->allow_offline, &r), 0);
	assert_string_equal(r.granted.p != NULL ? r.granted.p : "",
	    c->granted);
	assert_int_equal(r.granted.len, strlen(c->granted));
	assert_int_equal(r.differs, c->differs);
	assert_int_equal(r.openid, !!(c->flags & OPENID));
	assert_int_equal(r.profile, !!(c->flags & PROFILE));
	assert_int_equal(r.email, !!(c->flags & EMAIL));
	assert_int_equal(r.address, !!(c->flags & ADDRESS));
	assert_int_equal(r.phone, !!(c->flags & PHONE));
	assert_int_equal(r.offline_access, !!(c->flags & OFFLINE));
	scope_result_clear(&r);
	assert_null(r.granted.p);
}

/* The granted scopes are usable again: clearing twice is harmless. */
static void
scope_result_clear_is_idempotent(void **state)
{
	struct scope_result	 r;

	assert_int_equal(scope_resolve("openid", NULL, 0, &r), 0);
	scope_result_clear(&r);
	scope_result_clear(&r);
	assert_null(r.granted.p);
	assert_int_equal(r.granted.len, 0);
	assert_int_equal(r.openid, 0);
	assert_int_equal(r.differs, 0);
}

/* An API whose "scopes" member is missing or not an array (an API built
 * by hand: record_parse refuses the second) grants no API scope rather
 * than failing. */
static void
api_without_a_scopes_array_grants_no_api_scope(void **state)
{
	static const char *const recs[] = {
		"{\"identifier\":\"a\"}",
		"{\"identifier\":\"a\",\"scopes\":\"read:x\"}",
		"{\"identifier\":\"a\",\"scopes\":[1,null,{}]}",
	};
	struct scope_result	 r;
	struct api		 api;
	size_t			 i;

	for (i = 0; i < NELEM(recs); i++) {
		memset(&api, 0, sizeof(api));
		api.json = json_loads(recs[i], 0, NULL);
		assert_non_null(api.json);
		api.identifier = "a";
		api.scopes = json_object_get(api.json, "scopes");
		assert_int_equal(scope_resolve("openid email", &api, 1, &r), 0);
		assert_string_equal(S(r.granted.p), "openid email");
		assert_int_equal(r.differs, 0);
		scope_result_clear(&r);
		json_decref(api.json);
	}
}

static const struct CMUnitTest fixed[] = {
	cmocka_unit_test(scope_result_clear_is_idempotent),
	cmocka_unit_test(api_without_a_scopes_array_grants_no_api_scope),
};

int
main(void)
{
	struct CMUnitTest	 t[NELEM(cases) + NELEM(fixed)];
	size_t			 i, n = 0;

	for (i = 0; i < NELEM(cases); i++)
		t[n++] = (struct CMUnitTest){ cases[i].name, scope_case,
		    NULL, NULL, (void *)&cases[i] };
	for (i = 0; i < NELEM(fixed); i++)
		t[n++] = fixed[i];
	return _cmocka_run_group_tests("scope", t, n, setup, teardown);
}
