/*
 * test_upstream: the pieces of Azure AD and ADFS connections
 * (docs/COMPAT.md 12) without a network: an RSA JWK as PEM (jwk.c), the
 * upstream JWKS kept and refreshed (upjwks.c), the id_token checks with a
 * fixed clock (upid.c), what the token endpoint's answer means and the
 * request sent (extconn.c), and the shadow user's profile (shadow.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

#define NOW	1700000000
#define ISS	"https://login.microsoftonline.com/tid-1/v2.0"
#define AUD	"upstream-client"
#define TID	"tid-1"

/* RFC 7638 3.1's example RSA key: its public PEM (made from n and e by
 * python3-cryptography) and its n and e. */
static const char rfc7638_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0vx7agoebGcQSuuPiLJX\n"
    "ZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS\n"
    "oc/BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ/2W+5JsGY4Hc5n9yBXArwl93lqt\n"
    "7/RN5w6Cf0h4QyQ5v+65YGjQR0/FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0\n"
    "zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt+bFTWhAI4vMQFh6WeZu0f\n"
    "M4lFd2NcRwr3XPksINHaQ+G/xBniIqbw0Ls1jF44+csFCur+kEgU8awapJzKnqDK\n"
    "gwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
static const char rfc7638_n[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1R"
    "K7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9"
    "yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZg"
    "nYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6We"
    "Zu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDK"
    "gw";

/* Made once: the upstream's signing key, another key of the same kid,
 * and the keys as upjwks_keys() keeps them. */
static json_t	*up_key, *rogue_key, *keys;

static json_t *
jwk_of(const json_t *rec)
{
	struct keyrec	 kr;
	json_t		*jwk;

	assert_int_equal(record_parse(REC_KEY, (json_t *)rec, &kr), 0);
	jwk = key_jwk(kr.private_pem, KEY_RS256, kr.kid);
	record_clear(REC_KEY, &kr);
	assert_non_null(jwk);
	return jwk;
}

static int
setup(void **state)
{
	json_t	*jwks;

	up_key = key_generate(KEY_RS256, "current", NOW);
	rogue_key = key_generate(KEY_RS256, "current", NOW);
	if (up_key == NULL || rogue_key == NULL)
		return -1;
	json_object_set(rogue_key, "kid", json_object_get(up_key, "kid"));
	jwks = json_pack("{s:[o]}", "keys", jwk_of(up_key));
	keys = upjwks_keys(jwks);
	json_decref(jwks);
	return keys != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	json_decref(up_key);
	json_decref(rogue_key);
	json_decref(keys);
	return 0;
}

static void
jwk_becomes_the_same_pem(void **state)
{
	json_t	*jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA",
		    "n", rfc7638_n, "e", "AQAB");
	char	*pem = NULL;

	assert_int_equal(jwk_rsa_pem(jwk, &pem), 0);
	assert_string_equal(pem, rfc7638_pem);
	free(pem);
	/* Not RSA, a short modulus, a bad encoding: refused. */
	json_object_set_new(jwk, "kty", json_string("EC"));
	assert_int_equal(jwk_rsa_pem(jwk, &pem), -1);
	assert_null(pem);
	json_object_set_new(jwk, "kty", json_string("RSA"));
	json_object_set_new(jwk, "n", json_string("AQAB"));
	assert_int_equal(jwk_rsa_pem(jwk, &pem), -1);
	json_object_set_new(jwk, "n", json_string("0vx7ag+ebGcQ"));
	assert_int_equal(jwk_rsa_pem(jwk, &pem), -1);
	json_decref(jwk);
}

static void
jwks_keeps_only_rs256_signing_keys(void **state)
{
	json_t	*rsa = jwk_of(up_key), *doc, *out;
	size_t	 i;

	doc = json_pack("{s:[{s:s,s:s,s:s,s:s}, {s:s,s:s,s:s,s:s,s:s},"
	    "{s:s,s:s,s:s,s:s,s:s}]}", "keys",
	    "kty", "EC", "kid", "ec", "x", "AA", "y", "AA",
	    "kty", "RSA", "kid", "enc", "use", "enc", "n", rfc7638_n, "e", "AQAB",
	    "kty", "RSA", "kid", "ps", "alg", "PS256", "n", rfc7638_n, "e",
	    "AQAB");
	assert_null(upjwks_keys(doc));
	json_array_append(json_object_get(doc, "keys"), rsa);
	out = upjwks_keys(doc);
	assert_int_equal(json_array_size(out), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(out, 0), "alg")), "RS256");
	json_decref(out);
	/* At most UPJWKS_KEYS_MAX are kept. */
	for (i = 0; i < UPJWKS_KEYS_MAX + 5; i++)
		json_array_append(json_object_get(doc, "keys"), rsa);
	out = upjwks_keys(doc);
	assert_int_equal(json_array_size(out), UPJWKS_KEYS_MAX);
	json_decref(out);
	json_decref(rsa);
	json_decref(doc);
	assert_null(upjwks_keys(NULL));
}

static void
jwks_fetched_again_only_when_due(void **state)
{
	static const struct {
		time_t	 fetched;
		int	 unknown_kid;
		long	 min;
		int	 due;
	} t[] = {
		{ 0, 0, 60, 1 },			/* never fetched */
		{ NOW - 10, 0, 60, 0 },			/* fresh */
		{ NOW - 10, 1, 60, 0 },			/* kid, too soon */
		{ NOW - 60, 1, 60, 1 },			/* kid, a minute on */
		{ NOW - 59, 1, 60, 0 },
		{ NOW - 1, 1, 0, 1 },			/* no minimum */
		{ NOW - UPJWKS_MAX_AGE, 0, 60, 1 },	/* too old */
		{ NOW + 5, 0, 60, 1 },			/* the clock went back */
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(upjwks_due(t[i].fetched, NOW, t[i].unknown_kid,
		    t[i].min), t[i].due);
}

/* A token signed by key with claims base + change (a JSON object text;
 * null members removed). */
static char *
signed_token(const json_t *key, const char *change)
{
	json_t	*c, *d, *v;
	const char *k;
	void	*tmp;
	char	*out = NULL;

	c = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "iss", ISS,
	    "aud", AUD, "tid", TID, "oid", "o-1", "iat", (json_int_t)NOW,
	    "nbf", (json_int_t)NOW, "exp", (json_int_t)NOW + 3600);
	d = json_loads(change, 0, NULL);
	assert_non_null(d);
	json_object_foreach_safe(d, tmp, k, v) {
		if (json_is_null(v))
			json_object_del(c, k);
		else
			json_object_set(c, k, v);
	}
	assert_int_equal(token_sign(key, c, &out), 0);
	json_decref(c);
	json_decref(d);
	return out;
}

static void
id_token_checks(void **state)
{
	static const struct {
		const char	*change;
		int		 rogue;		/* signed by another key */
		enum upid_rc	 rc;
	} t[] = {
		{ "{}", 0, UPID_OK },
		{ "{}", 1, UPID_SIGNATURE },
		{ "{\"iss\": \"https://login.microsoftonline.com/x/v2.0\"}", 0,
		    UPID_ISSUER },
		{ "{\"iss\": null}", 0, UPID_ISSUER },
		{ "{\"aud\": \"other\"}", 0, UPID_AUDIENCE },
		{ "{\"aud\": [\"other\", \"upstream-client\"]}", 0, UPID_OK },
		{ "{\"aud\": null}", 0, UPID_AUDIENCE },
		{ "{\"tid\": \"tid-2\"}", 0, UPID_TENANT },
		{ "{\"tid\": null}", 0, UPID_TENANT },
		{ "{\"exp\": 1699999000}", 0, UPID_EXPIRED },
		/* within the leeway */
		{ "{\"exp\": 1699999950}", 0, UPID_OK },
		{ "{\"exp\": null}", 0, UPID_MALFORMED },
		{ "{\"exp\": \"1700003600\"}", 0, UPID_MALFORMED },
		{ "{\"nbf\": 1700000100}", 0, UPID_NOT_YET },
		{ "{\"nbf\": 1700000050}", 0, UPID_OK },
		{ "{\"iat\": 1700000500}", 0, UPID_NOT_YET },
		{ "{\"nbf\": null, \"iat\": null}", 0, UPID_OK },
	};
	struct upid_expect	 x = { ISS, AUD, TID, NOW };
	json_t			*claims;
	char			*tok;
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		tok = signed_token(t[i].rogue ? rogue_key : up_key,
		    t[i].change);
		if (upid_verify(tok, keys, &x, &claims) != t[i].rc)
			fail_msg("row %zu: %s", i, t[i].change);
		if (t[i].rc == UPID_OK)
			assert_string_equal(json_string_value(json_object_get(
			    claims, "oid")), "o-1");
		else
			assert_null(claims);
		json_decref(claims);
		free(tok);
	}
	/* ADFS: no tenant to check. */
	x.tenant_id = NULL;
	tok = signed_token(up_key, "{\"tid\": null}");
	assert_int_equal(upid_verify(tok, keys, &x, &claims), UPID_OK);
	json_decref(claims);
	free(tok);
}

static void
id_token_alg_and_kid_pinned(void **state)
{
	struct upid_expect	 x = { ISS, AUD, TID, NOW };
	json_t			*claims, *other;
	char			*tok, *hs = NULL;

	/* A kid the JWKS lacks: fetch again. */
	other = key_generate(KEY_RS256, "current", NOW);
	tok = signed_token(other, "{}");
	assert_int_equal(upid_verify(tok, keys, &x, &claims), UPID_NO_KEY);
	free(tok);
	json_decref(other);
	/* An ES256 key of the same kid is not in the kept keys. */
	other = key_generate(KEY_ES256, "current", NOW);
	json_object_set(other, "kid", json_object_get(up_key, "kid"));
	tok = signed_token(other, "{}");
	assert_int_equal(upid_verify(tok, keys, &x, &claims), UPID_SIGNATURE);
	free(tok);
	json_decref(other);
	/* HS256 keyed with anything: refused before any key is tried. */
	other = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "iss", ISS,
	    "aud", AUD, "tid", TID, "oid", "o", "iat", (json_int_t)NOW,
	    "exp", (json_int_t)NOW + 60);
	assert_int_equal(token_sign_hs256("0123456789abcdef", 16, other, &hs),
	    0);
	assert_int_equal(upid_verify(hs, keys, &x, &claims), UPID_SIGNATURE);
	assert_int_equal(upid_verify("not.a.token", keys, &x, &claims),
	    UPID_MALFORMED);
	free(hs);
	json_decref(other);
}

static void
token_endpoint_answers_classified(void **state)
{
	static const struct {
		long		 status;
		const char	*body;
		enum ext_answer	 a;
	} t[] = {
		{ 200, "{\"id_token\": \"a.b.c\", \"access_token\": \"x\"}",
		    EXT_TOKEN },
		{ 200, "{\"access_token\": \"x\"}", EXT_FAILED },
		{ 200, "<html>", EXT_FAILED },
		{ 200, "[1]", EXT_FAILED },
		{ 400, "{\"error\": \"invalid_grant\", \"error_codes\": [50126]}",
		    EXT_WRONG },
		{ 400, "{\"error\": \"invalid_grant\", \"error_codes\": [50034]}",
		    EXT_WRONG },
		{ 400, "{\"error\": \"invalid_grant\", \"error_description\": "
		    "\"MSIS9659: Invalid 'username' or 'password'.\"}", EXT_WRONG },
		{ 400, "{\"error\": \"invalid_grant\", \"error_codes\": [50076]}",
		    EXT_MFA },
		{ 400, "{\"error\": \"invalid_grant\", \"error_description\": "
		    "\"AADSTS50079: enrol\"}", EXT_MFA },
		{ 400, "{\"error\": \"interaction_required\"}", EXT_MFA },
		{ 401, "{\"error\": \"invalid_client\", \"error_codes\": "
		    "[7000215]}", EXT_REFUSED },
		{ 400, "{\"error\": \"invalid_scope\"}", EXT_REFUSED },
		{ 400, "{}", EXT_REFUSED },
		{ 500, "{\"error\": \"invalid_grant\"}", EXT_FAILED },
		{ 302, "", EXT_FAILED },
	};
	char	*idt, why[160];
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (extconn_answer(t[i].status, t[i].body, &idt, why,
		    sizeof(why)) != t[i].a)
			fail_msg("row %zu: %s", i, t[i].body);
		if (t[i].a == EXT_TOKEN)
			assert_string_equal(idt, "a.b.c");
		else
			assert_null(idt);
		free(idt);
	}
	/* What is logged is escaped. */
	extconn_answer(400, "{\"error\": \"x\\n\\\"y\"}", &idt, why,
	    sizeof(why));
	assert_null(strchr(why, '\n'));
	assert_null(strchr(why, '"'));
}

static void
token_request_form(void **state)
{
	struct conn	 c;
	struct buf	 f;

	memset(&c, 0, sizeof(c));
	buf_init(&f);
	c.strategy = STRATEGY_WAAD;
	c.upstream_client_id = "cid";
	c.upstream_client_secret = "s&=+ %";
	assert_int_equal(extconn_form(&c, "a@b.example", "p w&=+%\xc3\xa9",
	    &f), 0);
	assert_string_equal(f.p, "grant_type=password&client_id=cid&"
	    "scope=openid%20profile%20email&username=a%40b.example&"
	    "password=p%20w%26%3D%2B%25%C3%A9&client_secret=s%26%3D%2B%20%25");
	buf_reset(&f);
	c.strategy = STRATEGY_ADFS;
	c.upstream_client_secret = NULL;
	c.upstream_resource = "urn:x";
	c.upstream_scope = "openid allatclaims";
	assert_int_equal(extconn_form(&c, "u", "p", &f), 0);
	assert_string_equal(f.p, "grant_type=password&client_id=cid&"
	    "scope=openid%20allatclaims&username=u&password=p&"
	    "resource=urn%3Ax");
	c.strategy = STRATEGY_AUTH0;
	buf_reset(&f);
	assert_int_equal(extconn_form(&c, "u", "p", &f), -1);
	buf_clear(&f);
}

static void
connection_settings_checked(void **state)
{
	static const struct {
		const char	*rec;
		const char	*why;	/* NULL: fine */
	} t[] = {
		{ "{\"strategy\": \"auth0\"}", NULL },
		{ "{\"strategy\": \"waad\"}", "needs token_url" },
		{ "{\"strategy\": \"waad\", \"token_url\": \"https://a/t\", "
		    "\"jwks_url\": \"https://a/k\", \"upstream_issuer\": "
		    "\"https://a/\", \"upstream_client_id\": \"c\"}",
		    "needs tenant_id" },
		{ "{\"strategy\": \"adfs\", \"token_url\": \"https://a/t\", "
		    "\"jwks_url\": \"https://a/k\", \"upstream_issuer\": "
		    "\"https://a/\", \"upstream_client_id\": \"c\"}", NULL },
		{ "{\"strategy\": \"adfs\", \"token_url\": \"http://a/t\", "
		    "\"jwks_url\": \"https://a/k\", \"upstream_issuer\": "
		    "\"https://a/\", \"upstream_client_id\": \"c\"}", "https://" },
		{ "{\"strategy\": \"adfs\", \"token_url\": \"https://a/t\", "
		    "\"jwks_url\": \"https://a/k\", \"upstream_issuer\": "
		    "\"https://a/\", \"upstream_client_id\": \"c\", "
		    "\"ca_file\": \"ca.pem\"}", "absolute" },
	};
	struct conn	 c;
	json_t		*rec;
	const char	*why;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		rec = json_loads(t[i].rec, 0, NULL);
		assert_int_equal(record_parse(REC_CONNECTION, rec, &c), 0);
		why = extconn_problem(&c);
		if (t[i].why == NULL)
			assert_null(why);
		else if (why == NULL || strstr(why, t[i].why) == NULL)
			fail_msg("row %zu: %s", i, why ? why : "(accepted)");
		record_clear(REC_CONNECTION, &c);
		json_decref(rec);
	}
}

static void
shadow_profile_from_claims(void **state)
{
	struct shadow_profile	 p;
	struct conn		 c;
	json_t			*cl;
	char			 uid[200];

	memset(&c, 0, sizeof(c));
	c.name = "corp";
	c.strategy = STRATEGY_WAAD;
	cl = json_pack("{s:s, s:s, s:s, s:s, s:b}", "oid", "o-1", "sub", "s-1",
	    "upn", "Maya@Corp.example", "name", "Maya", "email_verified", 1);
	assert_int_equal(shadow_from_claims(&c, extconn_def(c.strategy), cl,
	    uid, sizeof(uid), &p), 0);
	assert_string_equal(p.user_id, "waad|corp|o-1");
	assert_string_equal(p.email, "Maya@Corp.example");	/* from upn */
	assert_true(p.email_verified);
	assert_string_equal(p.name, "Maya");
	/* Auth0's userid_attribute: sub instead of oid. */
	c.user_id_attribute = "sub";
	assert_int_equal(shadow_from_claims(&c, extconn_def(c.strategy), cl,
	    uid, sizeof(uid), &p), 0);
	assert_string_equal(p.user_id, "waad|corp|s-1");
	/* No identifying claim, or one unfit for a user_id. */
	c.user_id_attribute = "missing";
	assert_int_equal(shadow_from_claims(&c, extconn_def(c.strategy), cl,
	    uid, sizeof(uid), &p), -1);
	c.user_id_attribute = "name";
	json_object_set_new(cl, "name", json_string("has space"));
	assert_int_equal(shadow_from_claims(&c, extconn_def(c.strategy), cl,
	    uid, sizeof(uid), &p), -1);
	json_decref(cl);
	/* ADFS: upn, else unique_name, else sub. */
	c.user_id_attribute = NULL;
	c.strategy = STRATEGY_ADFS;
	cl = json_pack("{s:s, s:s}", "unique_name", "DOM\\ivan", "sub", "s");
	assert_int_equal(shadow_from_claims(&c, extconn_def(c.strategy), cl,
	    uid, sizeof(uid), &p), 0);
	assert_string_equal(p.user_id, "adfs|corp|DOM\\ivan");
	assert_null(p.email);
	assert_false(p.email_verified);
	json_decref(cl);
	assert_null(extconn_def(STRATEGY_AUTH0));
	assert_null(extconn_def(STRATEGY_SMS));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(jwk_becomes_the_same_pem),
		cmocka_unit_test(jwks_keeps_only_rs256_signing_keys),
		cmocka_unit_test(jwks_fetched_again_only_when_due),
		cmocka_unit_test(id_token_checks),
		cmocka_unit_test(id_token_alg_and_kid_pinned),
		cmocka_unit_test(token_endpoint_answers_classified),
		cmocka_unit_test(token_request_form),
		cmocka_unit_test(connection_settings_checked),
		cmocka_unit_test(shadow_profile_from_claims),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
