/*
 * test_token: signing keys (key.c) and JWT sign/verify (token.c),
 * including the algorithm-confusion and malformed-token rejections.
 *
 * With LK_INTEROP_DIR set, also writes tokens, their claims and our
 * JWKS there for tests/unit/interop_check.py to verify with PyJWT.
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
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "extern.h"

#define NOW	1700000000

/*
 * RFC 7638 3.1: the example RSA key (as a public PEM made from its n
 * and e with python3-cryptography) and its published thumbprint.
 */
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
static const char rfc7638_kid[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* Tokens made by PyJWT 2.6 (an independent signer) and their keys. */
static const char py_es_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeK8kjvRKoZG9V5cPonsazTjIB2vO\n"
    "pZ8QqXEMJsTCXDoJSVddohwlc0xvtvpl7hAJSnvc5ZZigO9qVnxNE+xH8A==\n"
    "-----END PUBLIC KEY-----\n";
static const char py_es_jwt[] =
    "eyJhbGciOiJFUzI1NiIsImtpZCI6InB5LWVjIiwidHlwIjoiSldUIn0."
    "eyJpc3MiOiJodHRwczovL3B5and0LmV4YW1wbGUvIiwic3ViIjoiYXV0aDB8YWJjIiwi"
    "YXVkIjoibGF0Y2hrZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMH0."
    "Evylghn6H5Sk8qReoqKXeZsEcjnqILemGs4C6c0hy66bIrTTYVMdKUuqY7tdskC8LKXC"
    "NnerLnpZiltklffVRg";
static const char py_rs_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA9wEffmAy6hB+8JTyeMoo\n"
    "JBztpab0WoiLptWuF3uFz/ECt8OPB3GqSvFjBO7HfJ36qRXeT25ofrmiG+JJTmRE\n"
    "miY3ylIjQa/xbo5bnv06zl6cU14QVxYv5+S6cwFEJXxRhE6KGSxMON1VWUrIjxyd\n"
    "TIFsP+Hz+BZUS0lzJY5PlLmRMLA0WuLbgpluXxL9xzpPA5N3ssXzSt8V5ODywJSo\n"
    "xo2PvsYPdtIlOJBU2Pi22BJUL5wZlFWaB9RQKIqydADMNkzVfT3/7Yn3usmMtXCj\n"
    "gUUmA38mkxuXQYKODTXgaLCg9NkdHUUfeexrPAIAjQ73GqKD51aecK/MO+NknYrZ\n"
    "kwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";
static const char py_rs_jwt[] =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InB5LXJzYSIsInR5cCI6IkpXVCJ9."
    "eyJpc3MiOiJodHRwczovL3B5and0LmV4YW1wbGUvIiwic3ViIjoiYXV0aDB8YWJjIiwi"
    "YXVkIjoibGF0Y2hrZXkiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMH0."
    "B2eCvoj6tflVrMLXpX1knj3D1-ivG4rmViIcM3xLE24VJIXcLPDygWp4QHwAIdw_U-uO"
    "tfh9KghATmlM9FnPwNkirATDzKK-F585hZoRwjdydFlUiIxqsp7tySr2PvHme-7qqlBb"
    "h0aCuXnxTtdRXZYTn9fjYPIdsNBF-3bFHHMopj7uWw-4jqZyf1lspYDPuBw5JXYEx6ry"
    "g9DqY0mxbId7slm5Vse94qhIpATsC0oW7jGY7dscgHPnJPkFbKGJfWRNPI8cXW0tILSy"
    "ZHYE5SXKhSuDd4TB3SZWRXhY8wexbwk2d5hQ5JaoZKQh_XRkLe8Civ0C9jlkW5dvRMh_yw";

/* Generated once for the group: one key record of each algorithm. */
static json_t	*rs_key, *es_key, *rs_key2;
static json_t	*pubkeys;	/* client "public_keys" shape for both */
static char	*rs_pub, *es_pub;

/* The public PEM of a private PEM, via OpenSSL (not via token.c). */
static char *
public_pem(const json_t *rec)
{
	const char	*priv;
	BIO		*bio;
	EVP_PKEY	*pkey;
	char		*data, *pem;
	long		 len;

	priv = json_string_value(json_object_get(rec, "private_pem"));
	assert_non_null(priv);
	bio = BIO_new_mem_buf(priv, -1);
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(pkey);
	bio = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_PUBKEY(bio, pkey));
	len = BIO_get_mem_data(bio, &data);
	pem = strndup(data, (size_t)len);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return pem;
}

static const char *
str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static json_t *
claims_new(void)
{
	return json_pack("{s:s, s:s, s:[s,s], s:I, s:I, s:s, s:s}",
	    "iss", "https://auth.example.com/",
	    "sub", "auth0|0123456789abcdef01234567",
	    "aud", "https://api.example.com/",
	    "https://auth.example.com/userinfo",
	    "iat", (json_int_t)NOW, "exp", (json_int_t)NOW + 86400,
	    "scope", "openid profile", "gty", "password");
}

static int
group_setup(void **state)
{
	if ((rs_key = key_generate(KEY_RS256, "current", NOW)) == NULL ||
	    (rs_key2 = key_generate(KEY_RS256, "next", NOW)) == NULL ||
	    (es_key = key_generate(KEY_ES256, "current", NOW)) == NULL)
		return -1;
	rs_pub = public_pem(rs_key);
	es_pub = public_pem(es_key);
	pubkeys = json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]",
	    "kid", str(rs_key, "kid"), "alg", "RS256", "pem", rs_pub,
	    "kid", str(es_key, "kid"), "alg", "ES256", "pem", es_pub);
	return pubkeys == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
	json_decref(rs_key);
	json_decref(rs_key2);
	json_decref(es_key);
	json_decref(pubkeys);
	free(rs_pub);
	free(es_pub);
	return 0;
}

/* Base64url without padding, for crafting tokens by hand. */
static char *
b64url(const void *in, size_t len)
{
	char	*out;
	size_t	 i;
	int	 n;

	out = malloc(len * 4 / 3 + 5);
	assert_non_null(out);
	n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	for (i = 0; i < (size_t)n && out[i] != '='; i++)
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	out[i] = '\0';
	return out;
}

/* header.payload.sig from raw header and payload JSON text. */
static char *
craft(const char *header, const char *payload, const char *sig)
{
	char	*h, *p, *t;

	h = b64url(header, strlen(header));
	p = b64url(payload, strlen(payload));
	assert_true(asprintf(&t, "%s.%s.%s", h, p, sig) > 0);
	free(h);
	free(p);
	return t;
}

/* The decoded JOSE header of a token. */
static json_t *
header_of(const char *tok)
{
	unsigned char	 buf[1024];
	char		 seg[1400];
	size_t		 n, i;
	int		 len;

	n = (size_t)(strchr(tok, '.') - tok);
	assert_true(n < sizeof(seg) - 4);
	memcpy(seg, tok, n);
	for (i = 0; i < n; i++)
		if (seg[i] == '-')
			seg[i] = '+';
		else if (seg[i] == '_')
			seg[i] = '/';
	while (n % 4)
		seg[n++] = '=';
	seg[n] = '\0';
	len = EVP_DecodeBlock(buf, (unsigned char *)seg, (int)n);
	assert_true(len > 0);
	while (len > 0 && buf[len - 1] == '\0')
		len--;
	return json_loadb((char *)buf, (size_t)len, 0, NULL);
}

static void
key_alg_table_round_trips(void **state)
{
	static const char *const names[KEY__MAX] = { "RS256", "ES256", "HS256" };
	enum key_alg	 a;
	size_t		 i;

	for (i = 0; i < KEY__MAX; i++) {
		assert_string_equal(key_alg_name((enum key_alg)i), names[i]);
		assert_int_equal(key_alg_parse(names[i], &a), 0);
		assert_int_equal(a, i);
	}
	assert_null(key_alg_name(KEY__MAX));
	assert_int_equal(key_alg_parse("none", &a), -1);
	assert_int_equal(key_alg_parse("rs256", &a), -1);
	assert_int_equal(key_alg_parse("RS2560", &a), -1);
	assert_int_equal(key_alg_parse(NULL, &a), -1);
}

static void
key_generate_makes_complete_records(void **state)
{
	const json_t	*recs[] = { rs_key, es_key };
	const char	*algs[] = { "RS256", "ES256" };
	char		 tp[64];
	size_t		 i;

	for (i = 0; i < 2; i++) {
		assert_string_equal(str(recs[i], "alg"), algs[i]);
		assert_string_equal(str(recs[i], "status"), "current");
		assert_int_equal(json_integer_value(json_object_get(recs[i],
		    "created_at")), NOW);
		assert_true(strncmp(str(recs[i], "private_pem"),
		    "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
		/* kid is the thumbprint of both the private and public PEM */
		assert_int_equal(strlen(str(recs[i], "kid")), 43);
		assert_int_equal(key_thumbprint(str(recs[i], "private_pem"),
		    tp, sizeof(tp)), 0);
		assert_string_equal(tp, str(recs[i], "kid"));
		assert_int_equal(key_thumbprint(i ? es_pub : rs_pub, tp,
		    sizeof(tp)), 0);
		assert_string_equal(tp, str(recs[i], "kid"));
	}
	assert_string_not_equal(str(rs_key, "kid"), str(rs_key2, "kid"));
	assert_null(key_generate(KEY_HS256, "current", NOW));
}

static void
thumbprint_matches_rfc7638_example(void **state)
{
	char	 tp[64];
	json_t	*jwk;

	assert_int_equal(key_thumbprint(rfc7638_pem, tp, sizeof(tp)), 0);
	assert_string_equal(tp, rfc7638_kid);
	assert_int_equal(key_thumbprint(rfc7638_pem, tp, 43), -1);
	/* key_jwk with no kid uses the thumbprint */
	jwk = key_jwk(rfc7638_pem, KEY_RS256, NULL);
	assert_non_null(jwk);
	assert_string_equal(str(jwk, "kid"), rfc7638_kid);
	assert_string_equal(str(jwk, "e"), "AQAB");
	assert_true(strncmp(str(jwk, "n"), "0vx7agoebGcQSuuPiLJXZptN9nndrQmb",
	    32) == 0);
	json_decref(jwk);
}

static void
jwk_has_public_fields_only(void **state)
{
	static const char *const rsa_keys[] = { "kty", "use", "alg", "kid",
	    "n", "e" };
	static const char *const ec_keys[] = { "kty", "use", "alg", "kid",
	    "crv", "x", "y" };
	json_t		*a, *b;
	const char	*k;
	json_t		*v;
	size_t		 i;

	a = key_jwk(str(rs_key, "private_pem"), KEY_RS256, str(rs_key, "kid"));
	b = key_jwk(rs_pub, KEY_RS256, str(rs_key, "kid"));
	assert_non_null(a);
	assert_true(json_equal(a, b));
	assert_int_equal(json_object_size(a), 6);
	for (i = 0; i < 6; i++)
		assert_non_null(json_object_get(a, rsa_keys[i]));
	assert_string_equal(str(a, "kty"), "RSA");
	assert_string_equal(str(a, "use"), "sig");
	assert_string_equal(str(a, "e"), "AQAB");
	assert_int_equal(strlen(str(a, "n")), 342);	/* 256 bytes */
	json_object_foreach(a, k, v)
		assert_null(strchr(json_string_value(v), '='));
	json_decref(a);
	json_decref(b);

	a = key_jwk(str(es_key, "private_pem"), KEY_ES256, str(es_key, "kid"));
	b = key_jwk(es_pub, KEY_ES256, str(es_key, "kid"));
	assert_non_null(a);
	assert_true(json_equal(a, b));
	assert_int_equal(json_object_size(a), 7);
	for (i = 0; i < 7; i++)
		assert_non_null(json_object_get(a, ec_keys[i]));
	assert_string_equal(str(a, "kty"), "EC");
	assert_string_equal(str(a, "crv"), "P-256");
	assert_int_equal(strlen(str(a, "x")), 43);	/* 32 bytes */
	assert_int_equal(strlen(str(a, "y")), 43);
	json_decref(a);
	json_decref(b);
}

static void
jwk_refuses_wrong_alg_and_garbage(void **state)
{
	assert_null(key_jwk(rs_pub, KEY_ES256, "k"));
	assert_null(key_jwk(es_pub, KEY_RS256, "k"));
	assert_null(key_jwk(rs_pub, KEY_HS256, "k"));
	assert_null(key_jwk("-----BEGIN PUBLIC KEY-----\nAAAA\n"
	    "-----END PUBLIC KEY-----\n", KEY_RS256, "k"));
	assert_null(key_jwk("", KEY_RS256, "k"));
	assert_null(key_jwk(NULL, KEY_RS256, "k"));
}

static void
jwks_skips_broken_records(void **state)
{
	json_t		*recs, *jwks, *keys;

	recs = json_pack("[O, O, {s:s, s:s, s:s}, {s:s}]", rs_key, es_key,
	    "kid", "broken", "alg", "RS256", "private_pem", "nope",
	    "kid", "nothing");
	assert_non_null(recs);
	jwks = key_jwks(recs);
	assert_non_null(jwks);
	keys = json_object_get(jwks, "keys");
	assert_int_equal(json_array_size(keys), 2);
	assert_string_equal(str(json_array_get(keys, 0), "kid"),
	    str(rs_key, "kid"));
	assert_string_equal(str(json_array_get(keys, 1), "kid"),
	    str(es_key, "kid"));
	assert_null(json_object_get(json_array_get(keys, 0), "d"));
	json_decref(jwks);
	json_decref(recs);
}

static void
sign_then_verify_round_trips(void **state)
{
	const json_t	*recs[] = { rs_key, es_key };
	json_t		*claims, *got, *hdr;
	char		*tok;
	size_t		 i;

	claims = claims_new();
	for (i = 0; i < 2; i++) {
		assert_int_equal(token_sign(recs[i], claims, &tok), 0);
		hdr = header_of(tok);
		assert_non_null(hdr);
		assert_string_equal(str(hdr, "alg"), str(recs[i], "alg"));
		assert_string_equal(str(hdr, "typ"), "JWT");
		assert_string_equal(str(hdr, "kid"), str(recs[i], "kid"));
		json_decref(hdr);

		assert_int_equal(token_verify_key(tok, recs[i], &got),
		    TOKEN_OK);
		assert_true(json_equal(got, claims));
		json_decref(got);
		/* again: the derived public key now comes from the cache */
		assert_int_equal(token_verify_key(tok, recs[i], &got),
		    TOKEN_OK);
		json_decref(got);
		assert_int_equal(token_verify(tok, pubkeys, &got), TOKEN_OK);
		assert_true(json_equal(got, claims));
		json_decref(got);
		free(tok);
	}
	json_decref(claims);
}

static void
verify_without_kid_tries_keys_of_that_alg(void **state)
{
	jwt_t		*jwt;
	json_t		*keys, *got;
	char		*tok;
	const char	*pem = str(rs_key, "private_pem");

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_set_alg(jwt, JWT_ALG_RS256,
	    (const unsigned char *)pem, (int)strlen(pem)), 0);
	assert_int_equal(jwt_add_grant(jwt, "sub", "x"), 0);
	tok = jwt_encode_str(jwt);
	jwt_free(jwt);
	assert_non_null(tok);

	/* the matching key is second among the RS256 keys */
	keys = json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s}]",
	    "kid", "es", "alg", "ES256", "pem", es_pub,
	    "kid", "other", "alg", "RS256", "pem", py_rs_pem,
	    "kid", "ours", "alg", "RS256", "pem", rs_pub);
	assert_int_equal(token_verify(tok, keys, &got), TOKEN_OK);
	assert_string_equal(str(got, "sub"), "x");
	json_decref(got);
	json_array_remove(keys, 2);
	assert_int_equal(token_verify(tok, keys, &got), TOKEN_BAD_SIG);
	assert_null(got);
	json_array_remove(keys, 1);
	assert_int_equal(token_verify(tok, keys, &got), TOKEN_NO_KEY);
	json_decref(keys);
	free(tok);
}

static void
pyjwt_tokens_verify(void **state)
{
	json_t	*keys, *got;

	keys = json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]",
	    "kid", "py-ec", "alg", "ES256", "pem", py_es_pem,
	    "kid", "py-rsa", "alg", "RS256", "pem", py_rs_pem);
	assert_int_equal(token_verify(py_es_jwt, keys, &got), TOKEN_OK);
	assert_string_equal(str(got, "sub"), "auth0|abc");
	json_decref(got);
	assert_int_equal(token_verify(py_rs_jwt, keys, &got), TOKEN_OK);
	assert_string_equal(str(got, "aud"), "latchkey");
	json_decref(got);
	json_decref(keys);
}

/*
 * The classic confusion: HS256 keyed with the RSA public key PEM text,
 * with our kid.  libjwt alone accepts it given that PEM; we must not.
 */
static void
hs256_keyed_with_public_pem_is_rejected(void **state)
{
	jwt_t	*jwt;
	json_t	*got, *keyrec;
	char	*tok;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_set_alg(jwt, JWT_ALG_HS256,
	    (const unsigned char *)rs_pub, (int)strlen(rs_pub)), 0);
	assert_int_equal(jwt_add_header(jwt, "kid", str(rs_key, "kid")), 0);
	assert_int_equal(jwt_add_grant(jwt, "sub", "attacker"), 0);
	tok = jwt_encode_str(jwt);
	jwt_free(jwt);
	assert_non_null(tok);

	/* the hazard this module exists for */
	assert_int_equal(jwt_decode(&jwt, tok, (const unsigned char *)rs_pub,
	    (int)strlen(rs_pub)), 0);
	jwt_free(jwt);

	assert_int_equal(token_verify(tok, pubkeys, &got), TOKEN_BAD_ALG);
	assert_null(got);
	assert_int_equal(token_verify_key(tok, rs_key, &got), TOKEN_BAD_ALG);
	keyrec = json_pack("{s:s,s:s,s:s}", "kid", str(rs_key, "kid"),
	    "alg", "RS256", "pem", rs_pub);
	assert_int_equal(token_verify_key(tok, keyrec, &got), TOKEN_BAD_ALG);
	json_decref(keyrec);
	free(tok);

	/* and the same through token_sign_hs256, no kid */
	got = claims_new();
	assert_int_equal(token_sign_hs256(rs_pub, strlen(rs_pub), got, &tok), 0);
	json_decref(got);
	assert_int_equal(token_verify(tok, pubkeys, &got), TOKEN_BAD_ALG);
	free(tok);
}

static void
hs256_sign_uses_the_secret(void **state)
{
	static const char secret[] = "a client secret of some length....";
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	size_t		 maclen = 0;
	json_t		*claims, *hdr;
	char		*tok, *sig, *dot;

	claims = claims_new();
	assert_int_equal(token_sign_hs256(secret, sizeof(secret) - 1, claims,
	    &tok), 0);
	hdr = header_of(tok);
	assert_string_equal(str(hdr, "alg"), "HS256");
	assert_string_equal(str(hdr, "typ"), "JWT");
	assert_null(json_object_get(hdr, "kid"));
	json_decref(hdr);

	dot = strrchr(tok, '.');
	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL,
	    secret, sizeof(secret) - 1, (unsigned char *)tok,
	    (size_t)(dot - tok), mac, sizeof(mac), &maclen));
	sig = b64url(mac, maclen);
	assert_string_equal(dot + 1, sig);
	free(sig);
	free(tok);
	assert_int_equal(token_sign_hs256(secret, 0, claims, &tok), -1);
	assert_null(tok);
	json_decref(claims);
}

/* Rejections of crafted tokens, each with the code it must give. */
static void
bad_tokens_are_rejected_with_the_right_code(void **state)
{
	json_t		*claims, *got, *hdr;
	char		*good, *es, *t, *p, *s, *kid;
	const char	*d1, *d2;
	char		 buf[10000];
	size_t		 i;
	struct {
		const char	*name;
		char		*tok;
		enum token_rc	 want;
	} rows[32];
	size_t		 n = 0;

	claims = claims_new();
	assert_int_equal(token_sign(rs_key, claims, &good), 0);
	assert_int_equal(token_sign(es_key, claims, &es), 0);
	d1 = strchr(good, '.');
	d2 = strrchr(good, '.');
	hdr = header_of(good);
	kid = strdup(str(hdr, "kid"));
	json_decref(hdr);

#define ROW(nm, tk, rc) do {						\
	rows[n].name = (nm); rows[n].tok = (tk); rows[n].want = (rc); n++; \
} while (0)

	snprintf(buf, sizeof(buf), "{\"alg\":\"none\",\"kid\":\"%s\"}", kid);
	ROW("alg none, empty signature", craft(buf, "{\"sub\":\"x\"}", ""),
	    TOKEN_MALFORMED);
	ROW("alg none, some signature", craft(buf, "{\"sub\":\"x\"}", "AAAA"),
	    TOKEN_BAD_ALG);
	ROW("alg None", craft("{\"alg\":\"None\"}", "{}", "AAAA"),
	    TOKEN_BAD_ALG);
	ROW("alg RS512", craft("{\"alg\":\"RS512\"}", "{}", "AAAA"),
	    TOKEN_BAD_ALG);
	ROW("alg missing", craft("{\"typ\":\"JWT\"}", "{}", "AAAA"),
	    TOKEN_MALFORMED);
	ROW("alg not a string", craft("{\"alg\":1}", "{}", "AAAA"),
	    TOKEN_MALFORMED);
	ROW("header not JSON", craft("{\"alg\":", "{}", "AAAA"),
	    TOKEN_MALFORMED);
	ROW("header an array", craft("[\"RS256\"]", "{}", "AAAA"),
	    TOKEN_MALFORMED);
	ROW("duplicate alg", craft("{\"alg\":\"RS256\",\"alg\":\"none\"}",
	    "{}", "AAAA"), TOKEN_MALFORMED);
	ROW("crit header", craft("{\"alg\":\"RS256\",\"crit\":[\"x\"],"
	    "\"x\":1}", "{}", "AAAA"), TOKEN_MALFORMED);
	ROW("kid not a string", craft("{\"alg\":\"RS256\",\"kid\":5}", "{}",
	    "AAAA"), TOKEN_MALFORMED);

	/* tampered payload, original header and signature */
	p = b64url("{\"sub\":\"admin\"}", 15);
	assert_true(asprintf(&t, "%.*s.%s%s", (int)(d1 - good), good, p, d2) > 0);
	free(p);
	ROW("tampered payload", t, TOKEN_BAD_SIG);
	/* flipped signature character */
	t = strdup(good);
	t[strlen(t) - 2] = t[strlen(t) - 2] == 'A' ? 'B' : 'A';
	ROW("tampered signature", t, TOKEN_BAD_SIG);
	/* signed by another RS256 key under our kid */
	hdr = json_pack("{s:s,s:s,s:s,s:s,s:I}", "kid", kid, "alg", "RS256",
	    "status", "current", "private_pem",
	    str(rs_key2, "private_pem"), "created_at", (json_int_t)NOW);
	assert_int_equal(token_sign(hdr, claims, &t), 0);
	json_decref(hdr);
	ROW("other key, our kid", t, TOKEN_BAD_SIG);
	/* ES256 signature of the wrong length */
	assert_true(asprintf(&t, "%sAA", es) > 0);
	ROW("ES256 signature 66 bytes", t, TOKEN_BAD_SIG);
	/* ES256 header, but the kid names our RS256 key */
	snprintf(buf, sizeof(buf), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
	s = b64url(buf, strlen(buf));
	assert_true(asprintf(&t, "%s%s", s, strchr(es, '.')) > 0);
	free(s);
	ROW("ES256 token, RS256 kid", t, TOKEN_BAD_ALG);
	ROW("unknown kid", craft("{\"alg\":\"RS256\",\"kid\":\"nope\"}",
	    "{}", "AAAA"), TOKEN_NO_KEY);

	ROW("two segments", strndup(good, (size_t)(d2 - good)),
	    TOKEN_MALFORMED);
	assert_true(asprintf(&t, "%s.AAAA", good) > 0);
	ROW("four segments", t, TOKEN_MALFORMED);
	assert_true(asprintf(&t, "%.*s..%s", (int)(d1 - good), good,
	    d2 + 1) > 0);
	ROW("empty payload", t, TOKEN_MALFORMED);
	t = strdup(good);
	t[5] = '+';
	ROW("'+' in header", t, TOKEN_MALFORMED);
	t = strdup(good);
	t[d1 - good + 3] = '=';
	ROW("'=' in payload", t, TOKEN_MALFORMED);
	/* pad the payload segment to 4n+1 characters */
	i = (size_t)(d2 - d1 - 1) % 4;
	i = i == 1 ? 4 : (5 - i) % 4;
	assert_true(asprintf(&t, "%.*s%.*s%s", (int)(d2 - good), good,
	    (int)i, "AAAA", d2) > 0);
	ROW("payload length 4n+1", t, TOKEN_MALFORMED);
	ROW("empty string", strdup(""), TOKEN_MALFORMED);
	ROW("dots only", strdup(".."), TOKEN_MALFORMED);

	memset(buf, ' ', 2100);
	memcpy(buf, "{\"alg\":\"RS256\"", 14);
	memcpy(buf + 2098, "}", 2);
	ROW("header over 2048", craft(buf, "{}", "AAAA"), TOKEN_MALFORMED);
	memset(buf, 'A', 8200);
	buf[8200] = '\0';
	assert_true(asprintf(&t, "%s%s", good, buf) > 0);
	ROW("token over 8192", t, TOKEN_MALFORMED);
#undef ROW

	assert_true(n <= sizeof(rows) / sizeof(rows[0]));
	for (i = 0; i < n; i++) {
		print_message("%s\n", rows[i].name);
		got = (json_t *)1;
		assert_int_equal(token_verify(rows[i].tok, pubkeys, &got),
		    rows[i].want);
		assert_null(got);
		free(rows[i].tok);
	}
	assert_int_equal(token_verify(NULL, pubkeys, &got), TOKEN_MALFORMED);
	/* the untouched tokens still verify */
	assert_int_equal(token_verify(good, pubkeys, &got), TOKEN_OK);
	json_decref(got);
	assert_int_equal(token_verify(es, pubkeys, &got), TOKEN_OK);
	json_decref(got);
	free(kid);
	free(good);
	free(es);
	json_decref(claims);
}

static void
verify_key_checks_kid_and_alg(void **state)
{
	json_t	*claims, *got;
	char	*tok;

	claims = claims_new();
	assert_int_equal(token_sign(rs_key, claims, &tok), 0);
	assert_int_equal(token_verify_key(tok, rs_key2, &got), TOKEN_NO_KEY);
	assert_int_equal(token_verify_key(tok, es_key, &got), TOKEN_NO_KEY);
	free(tok);
	assert_int_equal(token_sign(es_key, claims, &tok), 0);
	assert_int_equal(token_verify_key(tok, es_key, &got), TOKEN_OK);
	json_decref(got);
	free(tok);
	json_decref(claims);
}

static void
sign_refuses_bad_key_records(void **state)
{
	json_t	*claims, *rec;
	char	*tok;

	claims = claims_new();
	rec = json_pack("{s:s,s:s,s:s}", "kid", "k", "alg", "HS256",
	    "private_pem", str(rs_key, "private_pem"));
	assert_int_equal(token_sign(rec, claims, &tok), -1);
	assert_null(tok);
	json_decref(rec);
	rec = json_pack("{s:s,s:s,s:s}", "kid", "k", "alg", "RS256",
	    "private_pem", "not a pem");
	assert_int_equal(token_sign(rec, claims, &tok), -1);
	json_decref(rec);
	rec = json_pack("{s:s,s:s}", "kid", "k", "alg", "RS256");
	assert_int_equal(token_sign(rec, claims, &tok), -1);
	json_decref(rec);
	json_decref(claims);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char	 path[4096];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

/* For interop_check.py: tokens of each alg, the claims, and our JWKS. */
static void
interop_files_written_when_requested(void **state)
{
	static const char secret[] = "interop hs256 secret 0123456789abcdef";
	const char	*dir;
	json_t		*claims, *recs, *jwks;
	char		*tok, *s;

	if ((dir = getenv("LK_INTEROP_DIR")) == NULL || *dir == '\0')
		skip();
	claims = claims_new();
	assert_int_equal(token_sign(rs_key, claims, &tok), 0);
	write_file(dir, "rs256.jwt", tok);
	free(tok);
	assert_int_equal(token_sign(es_key, claims, &tok), 0);
	write_file(dir, "es256.jwt", tok);
	free(tok);
	assert_int_equal(token_sign_hs256(secret, sizeof(secret) - 1, claims,
	    &tok), 0);
	write_file(dir, "hs256.jwt", tok);
	write_file(dir, "hs256.secret", secret);
	free(tok);
	s = json_dumps(claims, 0);
	write_file(dir, "claims.json", s);
	free(s);
	recs = json_pack("[O,O]", rs_key, es_key);
	jwks = key_jwks(recs);
	s = json_dumps(jwks, 0);
	write_file(dir, "jwks.json", s);
	free(s);
	json_decref(jwks);
	json_decref(recs);
	json_decref(claims);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_alg_table_round_trips),
		cmocka_unit_test(key_generate_makes_complete_records),
		cmocka_unit_test(thumbprint_matches_rfc7638_example),
		cmocka_unit_test(jwk_has_public_fields_only),
		cmocka_unit_test(jwk_refuses_wrong_alg_and_garbage),
		cmocka_unit_test(jwks_skips_broken_records),
		cmocka_unit_test(sign_then_verify_round_trips),
		cmocka_unit_test(verify_without_kid_tries_keys_of_that_alg),
		cmocka_unit_test(pyjwt_tokens_verify),
		cmocka_unit_test(hs256_keyed_with_public_pem_is_rejected),
		cmocka_unit_test(hs256_sign_uses_the_secret),
		cmocka_unit_test(bad_tokens_are_rejected_with_the_right_code),
		cmocka_unit_test(verify_key_checks_kid_and_alg),
		cmocka_unit_test(sign_refuses_bad_key_records),
		cmocka_unit_test(interop_files_written_when_requested),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
