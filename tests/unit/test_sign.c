/*
 * test_sign: token_sign() signs RS256 and ES256 itself with OpenSSL and
 * a per-process cache of parsed keys, instead of libjwt, which
 * parses the PEM on every call.  The tokens must stay exactly what
 * libjwt 1.10 made: RS256 (deterministic) byte for byte, ES256 the same
 * header and payload with a signature libjwt verifies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jwt.h>

#include "extern.h"

/* Claims that exercise jansson's serialisation: unsorted keys, a slash,
 * non-ASCII, escapes, an array, nested objects, big integers. */
static json_t *
claims_list(size_t i)
{
	static const char *const texts[] = {
		"{\"sub\":\"auth0|65f0a9b2c3d4e5f60718293a\",\"iss\":\"https://a.example/\","
		    "\"aud\":[\"https://api.example/\",\"https://a.example/userinfo\"],"
		    "\"iat\":1700000000,\"exp\":1700086400,\"azp\":\"app\","
		    "\"scope\":\"openid profile\",\"gty\":\"password\"}",
		"{\"name\":\"J\\u00f6rg \\\"Q\\\" O'Brien \\u2603\",\"nickname\":\"a\\\\b/c\","
		    "\"address\":{\"street_address\":\"1 Main\\nSt\",\"country\":\"DE\"},"
		    "\"email_verified\":true,\"updated_at\":\"2024-01-01T00:00:00.000Z\","
		    "\"n\":9007199254740993,\"z\":null,\"e\":[]}",
		"{}",
	};

	if (i >= sizeof(texts) / sizeof(texts[0]))
		return NULL;
	return json_loads(texts[i], 0, NULL);
}

/* What libjwt 1.10 makes of the same key record and claims. */
static char *
libjwt_sign(const json_t *rec, const json_t *claims)
{
	jwt_t		*jwt = NULL;
	const char	*pem = json_string_value(json_object_get(rec, "private_pem"));
	const char	*alg = json_string_value(json_object_get(rec, "alg"));
	char		*json, *out;

	json = json_dumps(claims, JSON_COMPACT);
	assert_non_null(json);
	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_set_alg(jwt, strcmp(alg, "ES256") == 0 ?
	    JWT_ALG_ES256 : JWT_ALG_RS256, (const unsigned char *)pem,
	    (int)strlen(pem)), 0);
	assert_int_equal(jwt_add_header(jwt, "kid",
	    json_string_value(json_object_get(rec, "kid"))), 0);
	assert_int_equal(jwt_add_grants_json(jwt, json), 0);
	out = jwt_encode_str(jwt);
	assert_non_null(out);
	free(json);
	jwt_free(jwt);
	return out;
}

static void
rs256_is_byte_identical_to_libjwt(void **state)
{
	json_t	*rec, *claims;
	char	*ours, *theirs;
	size_t	 i;

	rec = key_generate(KEY_RS256, "current", 1700000000);
	assert_non_null(rec);
	for (i = 0; (claims = claims_list(i)) != NULL; i++) {
		/* Twice: the second signature comes from the cached key. */
		assert_int_equal(token_sign(rec, claims, &ours), 0);
		theirs = libjwt_sign(rec, claims);
		assert_string_equal(ours, theirs);
		free(ours);
		assert_int_equal(token_sign(rec, claims, &ours), 0);
		assert_string_equal(ours, theirs);
		free(ours);
		free(theirs);
		json_decref(claims);
	}
	json_decref(rec);
}

static void
es256_matches_libjwt_and_verifies(void **state)
{
	json_t		*rec, *claims, *back;
	char		*ours, *theirs, *dot;
	size_t		 i;

	rec = key_generate(KEY_ES256, "current", 1700000000);
	assert_non_null(rec);
	for (i = 0; (claims = claims_list(i)) != NULL; i++) {
		assert_int_equal(token_sign(rec, claims, &ours), 0);
		theirs = libjwt_sign(rec, claims);
		/* ECDSA is randomised: compare header.payload only. */
		dot = strrchr(ours, '.');
		assert_non_null(dot);
		assert_int_equal(strncmp(ours, theirs, (size_t)(dot - ours) + 1), 0);
		/* R || S, 64 bytes: 86 base64url characters. */
		assert_int_equal(strlen(dot + 1), 86);
		/* libjwt (the verifier latchkey uses) accepts it. */
		assert_int_equal(token_verify_key(ours, rec, &back), TOKEN_OK);
		assert_true(json_equal(back, claims));
		json_decref(back);
		free(ours);
		free(theirs);
		json_decref(claims);
	}
	json_decref(rec);
}

/*
 * More keys than the cache's slots (4), signed with in turn, twice
 * round: each slot's signing context is replaced as its key is, so
 * every token verifies with its own key and with no other.
 */
static void
each_key_signs_with_its_own_context(void **state)
{
	enum { NKEYS = 6 };
	json_t	*rec[NKEYS], *claims, *back;
	char	*tok;
	size_t	 i, round;

	for (i = 0; i < NKEYS; i++) {
		rec[i] = key_generate(KEY_ES256, "current", 1700000000);
		assert_non_null(rec[i]);
	}
	claims = claims_list(0);
	for (round = 0; round < 2; round++)
		for (i = 0; i < NKEYS; i++) {
			assert_int_equal(token_sign(rec[i], claims, &tok), 0);
			assert_int_equal(token_verify_key(tok, rec[i], &back),
			    TOKEN_OK);
			json_decref(back);
			back = NULL;
			assert_int_not_equal(token_verify_key(tok,
			    rec[(i + 1) % NKEYS], &back), TOKEN_OK);
			assert_null(back);
			free(tok);
		}
	json_decref(claims);
	for (i = 0; i < NKEYS; i++)
		json_decref(rec[i]);
}

static void
a_tampered_signature_fails(void **state)
{
	json_t	*rec, *claims, *back = NULL;
	char	*tok;
	size_t	 n;

	rec = key_generate(KEY_ES256, "current", 1700000000);
	claims = claims_list(0);
	assert_int_equal(token_sign(rec, claims, &tok), 0);
	n = strlen(tok);
	tok[n - 3] = tok[n - 3] == 'A' ? 'B' : 'A';
	assert_int_not_equal(token_verify_key(tok, rec, &back), TOKEN_OK);
	assert_null(back);
	free(tok);
	json_decref(claims);
	json_decref(rec);
}

static void
a_non_signing_record_is_refused(void **state)
{
	json_t	*rec, *claims = claims_list(0);
	char	*tok = NULL;

	rec = json_pack("{s:s, s:s, s:s}", "kid", "k", "alg", "RS256",
	    "private_pem", "-----BEGIN PRIVATE KEY-----\nnot a key\n"
	    "-----END PRIVATE KEY-----\n");
	assert_int_equal(token_sign(rec, claims, &tok), -1);
	assert_null(tok);
	json_decref(rec);
	json_decref(claims);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rs256_is_byte_identical_to_libjwt),
		cmocka_unit_test(es256_matches_libjwt_and_verifies),
		cmocka_unit_test(each_key_signs_with_its_own_context),
		cmocka_unit_test(a_tampered_signature_fails),
		cmocka_unit_test(a_non_signing_record_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
