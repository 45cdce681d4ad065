/*
 * test_cors: the allowed origins of a client (lib/http/cors.c): which
 * patterns an operator may register (Auth0's rules for wildcards,
 * https://auth0.com/docs/get-started/applications/wildcards-for-subdomains),
 * and which request Origin headers each one lets in.  One named test per
 * row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* A pattern and whether cors_origin_problem accepts it. */
static const struct pcase {
	const char	*name;
	const char	*pattern;
	int		 good;
} pcases[] = {
	{ "an https origin is accepted", "https://app.example.com", 1 },
	{ "an http origin with a port is accepted", "http://localhost:3000", 1 },
	{ "one trailing slash is accepted", "https://app.example.com/", 1 },
	{ "an IPv4 host is accepted", "http://127.0.0.1:8080", 1 },
	{ "an IPv6 host is accepted", "http://[::1]:8080", 1 },
	{ "a wildcard leftmost label is accepted", "https://*.example.com", 1 },
	{ "a wildcard inside the leftmost label is accepted",
	  "https://pr-*-x.example.com", 1 },
	{ "a path is refused", "https://app.example.com/login", 0 },
	{ "two slashes are refused", "https://app.example.com//", 0 },
	{ "a query is refused", "https://app.example.com?x=1", 0 },
	{ "another scheme is refused", "ftp://app.example.com", 0 },
	{ "a custom scheme is refused", "com.example.app://*.example.com", 0 },
	{ "no host is refused", "https://", 0 },
	{ "userinfo is refused", "https://u@app.example.com", 0 },
	{ "a port of 0 first is refused", "https://app.example.com:080", 0 },
	{ "an empty port is refused", "https://app.example.com:", 0 },
	{ "a six-digit port is refused", "https://app.example.com:123456", 0 },
	{ "an empty label is refused", "https://app..example.com", 0 },
	{ "a leading dot is refused", "https://.example.com", 0 },
	{ "a wildcard on a top-level domain is refused", "https://*.com", 0 },
	{ "a wildcard in an inner label is refused",
	  "https://sub.*.example.com", 0 },
	{ "two wildcards are refused", "https://*.*.example.com", 0 },
	{ "two wildcards in one label are refused", "https://*a*.example.com",
	  0 },
	{ "a wildcard in an IPv6 host is refused", "http://[::*]", 0 },
	{ "a space is refused", "https://app example.com", 0 },
	{ "the null origin is refused", "null", 0 },
};

/* A pattern, a request's Origin, and whether it matches. */
static const struct mcase {
	const char	*name;
	const char	*pattern;
	const char	*origin;
	int		 match;
} mcases[] = {
	{ "the same origin matches", "https://app.example.com",
	  "https://app.example.com", 1 },
	{ "a registered trailing slash still matches",
	  "https://app.example.com/", "https://app.example.com", 1 },
	{ "scheme and host match without case", "HTTPS://App.Example.COM",
	  "https://app.example.com", 1 },
	{ "another scheme does not match", "https://app.example.com",
	  "http://app.example.com", 0 },
	{ "another host does not match", "https://app.example.com",
	  "https://evil.example.com", 0 },
	{ "a suffix of the host does not match", "https://example.com",
	  "https://evilexample.com", 0 },
	{ "a longer host does not match", "https://app.example.com",
	  "https://app.example.com.evil.net", 0 },
	{ "a port must be the same", "http://localhost:3000",
	  "http://localhost:3001", 0 },
	{ "a port given must be registered", "http://localhost",
	  "http://localhost:3000", 0 },
	{ "the registered port matches", "http://localhost:3000",
	  "http://localhost:3000", 1 },
	{ "a wildcard matches one label", "https://*.example.com",
	  "https://a.example.com", 1 },
	{ "a wildcard does not match two labels", "https://*.example.com",
	  "https://a.b.example.com", 0 },
	{ "a wildcard does not match no label", "https://*.example.com",
	  "https://example.com", 0 },
	{ "a wildcard does not match an empty label", "https://*.example.com",
	  "https://.example.com", 0 },
	{ "a wildcard keeps the domain", "https://*.example.com",
	  "https://a.example.net", 0 },
	{ "a wildcard keeps the scheme", "https://*.example.com",
	  "http://a.example.com", 0 },
	{ "a wildcard with a prefix and suffix matches",
	  "https://pr-*-x.example.com", "https://pr-42-x.example.com", 1 },
	{ "a wildcard with a prefix needs it", "https://pr-*.example.com",
	  "https://qa-42.example.com", 0 },
	{ "a wildcard stands for one character at least",
	  "https://pr-*.example.com", "https://pr-.example.com", 0 },
	{ "an origin with a path does not match", "https://app.example.com",
	  "https://app.example.com/x", 0 },
	{ "the null origin does not match", "https://app.example.com", "null",
	  0 },
	{ "an origin with a star does not match a wildcard",
	  "https://*.example.com", "https://*.example.com", 0 },
	{ "an IPv6 origin matches itself", "http://[::1]:8080",
	  "http://[::1]:8080", 1 },
};

static void
pattern_case(void **state)
{
	const struct pcase	*c = *state;

	if (c->good)
		assert_null(cors_origin_problem(c->pattern));
	else
		assert_non_null(cors_origin_problem(c->pattern));
}

static void
match_case(void **state)
{
	const struct mcase	*c = *state;

	assert_int_equal(cors_origin_match(c->pattern, c->origin), c->match);
}

/* Over 256 characters is refused, 256 accepted. */
static void
pattern_length_is_bounded(void **state)
{
	char	 s[CORS_ORIGIN_LEN + 2];
	size_t	 pre = strlen("https://");

	memcpy(s, "https://", pre);
	memset(s + pre, 'a', sizeof(s) - pre - 1);
	s[sizeof(s) - 1] = '\0';
	assert_non_null(cors_origin_problem(s));
	s[sizeof(s) - 2] = '\0';
	assert_null(cors_origin_problem(s));
}

/* A list allows an origin when one of its entries matches; entries
 * that are not strings are skipped. */
static void
list_allows_any_entry(void **state)
{
	json_t	*l = json_loads("[1, \"https://a.example.com\","
	    " \"https://*.b.example.com\"]", 0, NULL);

	assert_non_null(l);
	assert_int_equal(cors_list_allows(l, "https://a.example.com"), 1);
	assert_int_equal(cors_list_allows(l, "https://x.b.example.com"), 1);
	assert_int_equal(cors_list_allows(l, "https://c.example.com"), 0);
	assert_int_equal(cors_list_allows(NULL, "https://a.example.com"), 0);
	json_decref(l);
}

/* A client's origins go through the record table: checked on input. */
static void
client_record_checks_origins(void **state)
{
	static const struct { const char *spec; int good; } rows[] = {
		{ "{\"allowed_origins\":[\"https://a.example.com\"]}", 1 },
		{ "{\"web_origins\":[\"https://*.example.com\"]}", 1 },
		{ "{\"web_origins\":[]}", 1 },
		{ "{\"web_origins\":null}", 1 },
		{ "{\"allowed_origins\":\"https://a.example.com\"}", 0 },
		{ "{\"allowed_origins\":[\"https://a.example.com/x\"]}", 0 },
		{ "{\"allowed_origins\":[\"https://a.example.com\","
		  "\"https://a.example.com\"]}", 0 },
		{ "{\"web_origins\":[7]}", 0 },
	};
	char		 err[256];
	json_t		*spec, *many;
	size_t		 i;

	for (i = 0; i < NELEM(rows); i++) {
		spec = json_loads(rows[i].spec, 0, NULL);
		assert_non_null(spec);
		assert_int_equal(record_check(REC_CLIENT, spec, "client", err,
		    sizeof(err)), rows[i].good ? 0 : -1);
		json_decref(spec);
	}
	/* 101 origins are refused. */
	many = json_array();
	for (i = 0; i <= REC_LIST_MAX; i++)
		json_array_append_new(many, json_sprintf("https://h%zu.example.com",
		    i));
	spec = json_pack("{so}", "web_origins", many);
	assert_int_equal(record_check(REC_CLIENT, spec, "client", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "more than 100"));
	json_decref(spec);
}

static const struct CMUnitTest fixed[] = {
	cmocka_unit_test(pattern_length_is_bounded),
	cmocka_unit_test(list_allows_any_entry),
	cmocka_unit_test(client_record_checks_origins),
};

int
main(void)
{
	struct CMUnitTest	 t[NELEM(pcases) + NELEM(mcases) + NELEM(fixed)];
	size_t			 i, n = 0;

	for (i = 0; i < NELEM(pcases); i++)
		t[n++] = (struct CMUnitTest){ pcases[i].name, pattern_case,
		    NULL, NULL, (void *)&pcases[i] };
	for (i = 0; i < NELEM(mcases); i++)
		t[n++] = (struct CMUnitTest){ mcases[i].name, match_case,
		    NULL, NULL, (void *)&mcases[i] };
	for (i = 0; i < NELEM(fixed); i++)
		t[n++] = fixed[i];
	return _cmocka_run_group_tests("cors", t, n, NULL, NULL);
}
