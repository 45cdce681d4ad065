/*
 * test_dpop: DPoP proofs (lib/dpop/, RFC 9449 4.3) checked by
 * dpop_verify() alone: proofs signed here with OpenSSL for every
 * algorithm of the table, then one row per refusal (alg, typ, private
 * key material, signature, htm, htu, iat window, jti, ath, nonce); the
 * RFC 7638 3.1 thumbprint example; server nonces; a replayed jti refused
 * through the replay store (grant_dpop_request on a real environment);
 * the proof_of_possession setting.  A fixed clock.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "extern.h"

#define NOW		1700000000	/* the fixed clock */
#define URL		"https://t.example/auth/oauth/token"
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* The test keys, made once. */
enum kref { K_P256, K_P384, K_RSA, K_ED, K__MAX };
static EVP_PKEY		*keys[K__MAX];
static unsigned char	 nkey[DPOP_NONCE_KEY_LEN] = "0123456789abcdef0123456789abcde";

/* A proof to make: NULL strings and 0 take the defaults of mk(). */
struct pf {
	enum kref	 k;		/* signs (and its jwk is in the header) */
	const char	*alg;		/* default: the key's */
	const char	*typ;		/* default dpop+jwt; "-": none */
	const char	*htm, *htu, *jti, *nonce, *ath;
	long long	 iat;		/* 0: NOW */
	int		 priv;		/* the jwk carries the private part */
	int		 jwk_of_other;	/* the jwk is another key's */
	enum kref	 jwk_k;		/* which, with jwk_of_other */
};

static const char *const kalg[K__MAX] = { "ES256", "ES384", "RS256",
	"EdDSA" };

static void
b64(const unsigned char *p, size_t n, char *out, size_t outsz)
{
	assert_int_equal(b64url_encode(p, n, out, outsz), 0);
}

static void
bn_member(json_t *j, const char *name, EVP_PKEY *k, const char *param,
    int pad)
{
	BIGNUM		*bn = NULL;
	unsigned char	 buf[1024];
	char		 out[1400];
	int		 n;

	assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
	n = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	assert_true(n > 0);
	b64(buf, (size_t)n, out, sizeof(out));
	json_object_set_new(j, name, json_string(out));
	BN_free(bn);
}

/* The JWK of key k, public (or with the private part). */
static json_t *
jwk_of(enum kref k, int priv)
{
	json_t		*j = json_object();
	unsigned char	 raw[64];
	char		 out[128];
	size_t		 n = sizeof(raw);
	int		 coord = k == K_P256 ? 32 : 48;

	switch (k) {
	case K_P256:
	case K_P384:
		json_object_set_new(j, "kty", json_string("EC"));
		json_object_set_new(j, "crv", json_string(k == K_P256 ?
		    "P-256" : "P-384"));
		bn_member(j, "x", keys[k], OSSL_PKEY_PARAM_EC_PUB_X, coord);
		bn_member(j, "y", keys[k], OSSL_PKEY_PARAM_EC_PUB_Y, coord);
		if (priv)
			bn_member(j, "d", keys[k], OSSL_PKEY_PARAM_PRIV_KEY,
			    coord);
		break;
	case K_RSA:
		json_object_set_new(j, "kty", json_string("RSA"));
		bn_member(j, "n", keys[k], OSSL_PKEY_PARAM_RSA_N, 0);
		bn_member(j, "e", keys[k], OSSL_PKEY_PARAM_RSA_E, 0);
		if (priv)
			bn_member(j, "d", keys[k], OSSL_PKEY_PARAM_RSA_D, 0);
		break;
	default:
		json_object_set_new(j, "kty", json_string("OKP"));
		json_object_set_new(j, "crv", json_string("Ed25519"));
		assert_int_equal(EVP_PKEY_get_raw_public_key(keys[k], raw, &n),
		    1);
		b64(raw, n, out, sizeof(out));
		json_object_set_new(j, "x", json_string(out));
		if (priv) {
			n = sizeof(raw);
			assert_int_equal(EVP_PKEY_get_raw_private_key(keys[k],
			    raw, &n), 1);
			b64(raw, n, out, sizeof(out));
			json_object_set_new(j, "d", json_string(out));
		}
		break;
	}
	return j;
}

/* The signature of in by k under alg, JWS form, base64url into out. */
static void
sign(enum kref k, const char *alg, const char *in, char *out, size_t outsz)
{
	EVP_MD_CTX	*m = EVP_MD_CTX_new();
	EVP_PKEY_CTX	*pc = NULL;
	const char	*md = NULL;
	unsigned char	 sig[1024], raw[132];
	const unsigned char *p = sig;
	size_t		 n = sizeof(sig), c;
	ECDSA_SIG	*es;

	if (strcmp(alg + 2, "256") == 0)
		md = "SHA256";
	else if (strcmp(alg + 2, "384") == 0)
		md = "SHA384";
	assert_int_equal(EVP_DigestSignInit_ex(m, &pc, md, NULL, NULL,
	    keys[k], NULL), 1);
	if (alg[0] == 'P') {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc,
		    RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc,
		    RSA_PSS_SALTLEN_DIGEST), 1);
	}
	assert_int_equal(EVP_DigestSign(m, sig, &n, (const unsigned char *)in,
	    strlen(in)), 1);
	EVP_MD_CTX_free(m);
	if (alg[0] == 'E' && alg[1] == 'S') {
		/* RFC 7518 3.4: r || s of the coordinate size. */
		c = k == K_P256 ? 32 : 48;
		assert_non_null(es = d2i_ECDSA_SIG(NULL, &p, (long)n));
		BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)c);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + c, (int)c);
		ECDSA_SIG_free(es);
		b64(raw, 2 * c, out, outsz);
		return;
	}
	b64(sig, n, out, outsz);
}

/* A compact JWS of the two JSON objects (stolen), signed by k under
 * alg (whatever alg the header names). */
static char *
jws(enum kref k, const char *alg, json_t *hdr, json_t *claims)
{
	char	*h = json_dumps(hdr, JSON_COMPACT);
	char	*c = json_dumps(claims, JSON_COMPACT);
	char	 in[8192], s[2048];
	char	 hb[4096], cb[4096];
	char	*out = malloc(16384);

	b64((unsigned char *)h, strlen(h), hb, sizeof(hb));
	b64((unsigned char *)c, strlen(c), cb, sizeof(cb));
	snprintf(in, sizeof(in), "%s.%s", hb, cb);
	if (strcmp(alg, "none") == 0 || strcmp(alg, "HS256") == 0)
		snprintf(s, sizeof(s), "c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl");
	else
		sign(k, alg, in, s, sizeof(s));
	snprintf(out, 16384, "%s.%s", in, s);
	free(h);
	free(c);
	json_decref(hdr);
	json_decref(claims);
	return out;
}

static int	 jti_n;

/* The proof p describes (malloc'd). */
static char *
mk(const struct pf *p)
{
	const char	*alg = p->alg != NULL ? p->alg : kalg[p->k];
	json_t		*hdr, *c;
	char		 jti[32];

	hdr = json_pack("{s:s, s:o}", "alg", alg, "jwk",
	    jwk_of(p->jwk_of_other ? p->jwk_k : p->k, p->priv));
	if (p->typ == NULL || strcmp(p->typ, "-") != 0)
		json_object_set_new(hdr, "typ", json_string(p->typ != NULL ?
		    p->typ : "dpop+jwt"));
	snprintf(jti, sizeof(jti), "jti-%d", ++jti_n);
	c = json_pack("{s:s, s:s, s:I}", "htm", p->htm ? p->htm : "POST",
	    "htu", p->htu ? p->htu : URL,
	    "iat", (json_int_t)(p->iat != 0 ? p->iat : NOW));
	if (p->jti == NULL || strcmp(p->jti, "-") != 0)
		json_object_set_new(c, "jti", json_string(p->jti ? p->jti : jti));
	if (p->nonce != NULL)
		json_object_set_new(c, "nonce", json_string(p->nonce));
	if (p->ath != NULL)
		json_object_set_new(c, "ath", json_string(p->ath));
	return jws(p->k, alg, hdr, c);
}

static enum dpop_err
check(const char *proof, const unsigned char *nk, const char *ath,
    struct dpop_proof *out)
{
	struct dpop_want w = { "POST", URL, NOW, ath, nk };

	return dpop_verify(proof, &w, out);
}

static int
group_setup(void **state)
{
	keys[K_P256] = EVP_EC_gen("P-256");
	keys[K_P384] = EVP_EC_gen("P-384");
	keys[K_RSA] = EVP_RSA_gen(2048);
	keys[K_ED] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	for (size_t i = 0; i < K__MAX; i++)
		if (keys[i] == NULL)
			return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	for (size_t i = 0; i < K__MAX; i++)
		EVP_PKEY_free(keys[i]);
	return 0;
}

/* ------------------------------------------------------------------ */

static void
rfc7638_thumbprint_example(void **state)
{
	/* RFC 7638 3.1. */
	json_t	*k = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA",
	    "n", "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT"
	    "86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5J"
	    "sGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMic"
	    "AtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bF"
	    "TWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-"
	    "kEgU8awapJzKnqDKgw", "e", "AQAB", "alg", "RS256",
	    "kid", "2011-04-29");
	char	 out[DPOP_JKT_LEN + 1];

	assert_int_equal(dpop_jkt(k, out, sizeof(out)), 0);
	assert_string_equal(out, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	json_decref(k);
	/* A key of no supported type has none. */
	k = json_pack("{s:s, s:s}", "kty", "oct", "k", "AAAA");
	assert_int_equal(dpop_jkt(k, out, sizeof(out)), -1);
	json_decref(k);
}

/* Each algorithm of the table verifies, and jkt is its jwk's. */
static void
every_alg_verifies(void **state)
{
	static const struct { enum kref k; const char *alg; } rows[] = {
		{ K_P256, "ES256" }, { K_P384, "ES384" }, { K_RSA, "RS256" },
		{ K_RSA, "RS384" }, { K_RSA, "PS256" }, { K_RSA, "PS384" },
		{ K_ED, "EdDSA" },
	};
	struct dpop_proof out;
	json_t		*j;
	char		*p, jkt[DPOP_JKT_LEN + 1];
	size_t		 i;

	for (i = 0; i < NELEM(rows); i++) {
		p = mk(&(struct pf){ .k = rows[i].k, .alg = rows[i].alg });
		if (check(p, NULL, NULL, &out) != DPOP_OK)
			fail_msg("%s: refused", rows[i].alg);
		j = jwk_of(rows[i].k, 0);
		assert_int_equal(dpop_jkt(j, jkt, sizeof(jkt)), 0);
		assert_string_equal(out.jkt, jkt);
		assert_int_equal(out.iat, NOW);
		json_decref(j);
		free(p);
	}
}

/* One row per refusal. */
static void
refusals(void **state)
{
	static const struct {
		const char	*name;
		struct pf	 p;
		enum dpop_err	 want;
	} rows[] = {
		{ "alg none", { .k = K_P256, .alg = "none" }, DPOP_ALG },
		{ "alg HS256", { .k = K_P256, .alg = "HS256" }, DPOP_ALG },
		{ "alg RS512", { .k = K_RSA, .alg = "RS512" }, DPOP_ALG },
		{ "alg ES256K", { .k = K_P256, .alg = "ES256K" }, DPOP_ALG },
		{ "typ missing", { .k = K_P256, .typ = "-" }, DPOP_TYP },
		{ "typ JWT", { .k = K_P256, .typ = "JWT" }, DPOP_TYP },
		{ "EC private d", { .k = K_P256, .priv = 1 },
		    DPOP_JWK_PRIVATE },
		{ "RSA private d", { .k = K_RSA, .priv = 1 },
		    DPOP_JWK_PRIVATE },
		{ "OKP private d", { .k = K_ED, .priv = 1 },
		    DPOP_JWK_PRIVATE },
		{ "ES256 with a P-384 jwk", { .k = K_P256, .jwk_of_other = 1,
		    .jwk_k = K_P384 }, DPOP_JWK },
		{ "ES256 with an RSA jwk", { .k = K_P256, .jwk_of_other = 1,
		    .jwk_k = K_RSA }, DPOP_JWK },
		{ "htm GET", { .k = K_P256, .htm = "GET" }, DPOP_HTM },
		{ "htm post", { .k = K_P256, .htm = "post" }, DPOP_HTM },
		{ "htu other path", { .k = K_P256,
		    .htu = "https://t.example/oauth/token" }, DPOP_HTU },
		{ "htu other host", { .k = K_P256,
		    .htu = "https://u.example/auth/oauth/token" }, DPOP_HTU },
		{ "htu http", { .k = K_P256,
		    .htu = "http://t.example/auth/oauth/token" }, DPOP_HTU },
		{ "htu no scheme", { .k = K_P256,
		    .htu = "t.example/auth/oauth/token" }, DPOP_HTU },
		{ "htu path case", { .k = K_P256,
		    .htu = "https://t.example/auth/OAuth/token" }, DPOP_HTU },
		{ "htu query ignored", { .k = K_P256, .htu = URL "?a=b#c" },
		    DPOP_OK },
		{ "htu scheme, host case and port 443", { .k = K_P256,
		    .htu = "HTTPS://T.Example:443/auth/oauth/token" }, DPOP_OK },
		{ "iat 61 s old", { .k = K_P256, .iat = NOW - 61 },
		    DPOP_IAT_OLD },
		{ "iat 60 s old", { .k = K_P256, .iat = NOW - 60 }, DPOP_OK },
		{ "iat 6 s ahead", { .k = K_P256, .iat = NOW + 6 },
		    DPOP_IAT_AHEAD },
		{ "iat 5 s ahead", { .k = K_P256, .iat = NOW + 5 }, DPOP_OK },
		{ "jti missing", { .k = K_P256, .jti = "-" }, DPOP_JTI },
		{ "jti empty", { .k = K_P256, .jti = "" }, DPOP_JTI },
	};
	struct dpop_proof out;
	char		*p;
	size_t		 i;
	enum dpop_err	 got;

	for (i = 0; i < NELEM(rows); i++) {
		p = mk(&rows[i].p);
		got = check(p, NULL, NULL, &out);
		free(p);
		if (got != rows[i].want)
			fail_msg("%s: got %d (%s), want %d", rows[i].name, got,
			    dpop_err_text(got), rows[i].want);
	}
}

/* The standard claims, with jti. */
static json_t *
claims(const char *jti)
{
	return json_pack("{s:s, s:s, s:s, s:I}", "jti", jti, "htm", "POST",
	    "htu", URL, "iat", (json_int_t)NOW);
}

/* The signature must be the jwk's key's, under the alg named. */
static void
bad_signature(void **state)
{
	struct dpop_proof out;
	EVP_PKEY	*mine = keys[K_RSA], *other;
	json_t		*hdr;
	char		*p, *sig;

	/* Signed by a second RSA key, the first's jwk in the header. */
	hdr = json_pack("{s:s, s:s, s:o}", "typ", "dpop+jwt", "alg", "RS256",
	    "jwk", jwk_of(K_RSA, 0));
	assert_non_null(other = EVP_RSA_gen(2048));
	keys[K_RSA] = other;
	p = jws(K_RSA, "RS256", hdr, claims("s1"));
	keys[K_RSA] = mine;
	EVP_PKEY_free(other);
	assert_int_equal(check(p, NULL, NULL, &out), DPOP_SIGNATURE);
	free(p);
	/* An RS256 signature presented as PS256. */
	hdr = json_pack("{s:s, s:s, s:o}", "typ", "dpop+jwt", "alg", "PS256",
	    "jwk", jwk_of(K_RSA, 0));
	p = jws(K_RSA, "RS256", hdr, claims("s2"));
	assert_int_equal(check(p, NULL, NULL, &out), DPOP_SIGNATURE);
	free(p);
	/* A signature with one character changed, for each key type. */
	for (size_t k = 0; k < K__MAX; k++) {
		p = mk(&(struct pf){ .k = (enum kref)k });
		sig = strrchr(p, '.') + 6;
		*sig = *sig == 'A' ? 'B' : 'A';
		if (check(p, NULL, NULL, &out) != DPOP_SIGNATURE)
			fail_msg("%s: a changed signature passed", kalg[k]);
		free(p);
	}
	/* An ES256 signature of the wrong length. */
	p = mk(&(struct pf){ .k = K_P256 });
	p[strlen(p) - 4] = '\0';
	assert_int_equal(check(p, NULL, NULL, &out), DPOP_SIGNATURE);
	free(p);
}

/* An EC jwk whose point is not on its curve, and an RSA modulus under
 * 2048 bits, are no keys (RFC 7518 3.3, 6.2.1). */
static void
weak_or_invalid_keys(void **state)
{
	struct dpop_proof out;
	json_t		*jwk, *hdr;
	EVP_PKEY	*mine = keys[K_RSA];
	char		*p, y[128];
	const char	*s;

	jwk = jwk_of(K_P256, 0);
	s = json_string_value(json_object_get(jwk, "y"));
	snprintf(y, sizeof(y), "%s", s);
	y[10] = y[10] == 'A' ? 'B' : 'A';
	json_object_set_new(jwk, "y", json_string(y));
	hdr = json_pack("{s:s, s:s, s:o}", "typ", "dpop+jwt", "alg", "ES256",
	    "jwk", jwk);
	p = jws(K_P256, "ES256", hdr, claims("c1"));
	assert_int_equal(check(p, NULL, NULL, &out), DPOP_JWK);
	free(p);
	assert_non_null(keys[K_RSA] = EVP_RSA_gen(1024));
	p = mk(&(struct pf){ .k = K_RSA });
	EVP_PKEY_free(keys[K_RSA]);
	keys[K_RSA] = mine;
	assert_int_equal(check(p, NULL, NULL, &out), DPOP_JWK);
	free(p);
}

static void
malformed_and_multiple(void **state)
{
	struct dpop_proof out;
	char		*p, two[20000];

	assert_int_equal(check(NULL, NULL, NULL, &out), DPOP_MISSING);
	assert_int_equal(check("", NULL, NULL, &out), DPOP_MALFORMED);
	assert_int_equal(check("a.b", NULL, NULL, &out), DPOP_MALFORMED);
	assert_int_equal(check("a.b.c.d", NULL, NULL, &out), DPOP_MALFORMED);
	assert_int_equal(check("e30.e30.", NULL, NULL, &out), DPOP_MALFORMED);
	assert_int_equal(check("W10.e30.AAAA", NULL, NULL, &out),
	    DPOP_MALFORMED);	/* a header that is no object */
	p = mk(&(struct pf){ .k = K_P256 });
	snprintf(two, sizeof(two), "%s, %s", p, p);
	assert_int_equal(check(two, NULL, NULL, &out), DPOP_MULTIPLE);
	free(p);
}

static void
ath_checked(void **state)
{
	struct dpop_proof out;
	char		 ath[DPOP_ATH_LEN + 1], *p;

	assert_int_equal(dpop_ath("the.access.token", ath, sizeof(ath)), 0);
	p = mk(&(struct pf){ .k = K_P256, .ath = ath });
	assert_int_equal(check(p, NULL, ath, &out), DPOP_OK);
	free(p);
	p = mk(&(struct pf){ .k = K_P256 });
	assert_int_equal(check(p, NULL, ath, &out), DPOP_ATH);
	free(p);
	p = mk(&(struct pf){ .k = K_P256, .ath = "xyz" });
	assert_int_equal(check(p, NULL, ath, &out), DPOP_ATH);
	free(p);
}

/* RFC 9449 8: missing, current, previous, stale and foreign nonces. */
static void
nonces(void **state)
{
	struct dpop_proof out;
	unsigned char	 other[DPOP_NONCE_KEY_LEN] = "another key, 32 bytes long....";
	char		 cur[DPOP_NONCE_LEN + 1], prev[DPOP_NONCE_LEN + 1];
	char		 old[DPOP_NONCE_LEN + 1], foreign[DPOP_NONCE_LEN + 1];
	char		*p;

	assert_int_equal(dpop_nonce(nkey, NOW, cur, sizeof(cur)), 0);
	assert_int_equal(strlen(cur), DPOP_NONCE_LEN);
	assert_int_equal(dpop_nonce(nkey, NOW - DPOP_NONCE_WINDOW, prev,
	    sizeof(prev)), 0);
	assert_int_equal(dpop_nonce(nkey, NOW - 2 * DPOP_NONCE_WINDOW, old,
	    sizeof(old)), 0);
	assert_int_equal(dpop_nonce(other, NOW, foreign, sizeof(foreign)), 0);
	assert_string_not_equal(cur, prev);
	assert_string_not_equal(cur, foreign);

	p = mk(&(struct pf){ .k = K_P256 });
	assert_int_equal(check(p, nkey, NULL, &out), DPOP_NONCE_MISSING);
	assert_true(dpop_err_nonce(DPOP_NONCE_MISSING));
	assert_string_equal(dpop_err_text(DPOP_NONCE_MISSING),
	    "Authorization server requires nonce in DPoP proof");
	/* Not demanded: a nonce-less proof is fine. */
	assert_int_equal(check(p, NULL, NULL, &out), DPOP_OK);
	free(p);
	p = mk(&(struct pf){ .k = K_P256, .nonce = cur });
	assert_int_equal(check(p, nkey, NULL, &out), DPOP_OK);
	free(p);
	p = mk(&(struct pf){ .k = K_P256, .nonce = prev });
	assert_int_equal(check(p, nkey, NULL, &out), DPOP_OK);
	free(p);
	p = mk(&(struct pf){ .k = K_P256, .nonce = old });
	assert_int_equal(check(p, nkey, NULL, &out), DPOP_NONCE_BAD);
	free(p);
	p = mk(&(struct pf){ .k = K_P256, .nonce = foreign });
	assert_int_equal(check(p, nkey, NULL, &out), DPOP_NONCE_BAD);
	free(p);
	p = mk(&(struct pf){ .k = K_P256, .nonce = "short" });
	assert_int_equal(check(p, nkey, NULL, &out), DPOP_NONCE_BAD);
	free(p);
}

static int
rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* A proof's jti is single use through the replay store. */
static void
replay_refused(void **state)
{
	struct lk_ctx	 ctx;
	struct dpop_proof out;
	char		 dir[] = "/tmp/test_dpop.XXXXXX", home[PATH_MAX];
	char		 ath[DPOP_ATH_LEN + 1], *p, *q;

	assert_non_null(mkdtemp(dir));
	snprintf(home, sizeof(home), "%s/env", dir);
	memset(&ctx, 0, sizeof(ctx));
	assert_non_null(ctx.store = store_open(home, STORE_CREATE));
	assert_int_equal(dpop_ath("tok", ath, sizeof(ath)), 0);
	p = mk(&(struct pf){ .k = K_P256, .htm = "GET", .ath = ath });
	assert_int_equal(grant_dpop_request(&ctx, p, "GET", URL, "tok", NOW,
	    &out), DPOP_OK);
	assert_int_equal(grant_dpop_request(&ctx, p, "GET", URL, "tok", NOW,
	    &out), DPOP_REPLAY);
	/* The same jti under another key is another proof. */
	q = mk(&(struct pf){ .k = K_ED, .htm = "GET", .ath = ath,
	    .jti = "jti-shared" });
	assert_int_equal(grant_dpop_request(&ctx, q, "GET", URL, "tok", NOW,
	    &out), DPOP_OK);
	free(q);
	q = mk(&(struct pf){ .k = K_P384, .htm = "GET", .ath = ath,
	    .jti = "jti-shared" });
	assert_int_equal(grant_dpop_request(&ctx, q, "GET", URL, "tok", NOW,
	    &out), DPOP_OK);
	free(q);
	/* Once the proof is too old its record may go: refused as old. */
	assert_int_equal(grant_dpop_request(&ctx, p, "GET", URL, "tok",
	    NOW + DPOP_IAT_PAST + 1, &out), DPOP_IAT_OLD);
	free(p);
	/* The nonce key is made once and kept. */
	{
		const unsigned char *k1, *k2;
		unsigned char	 copy[DPOP_NONCE_KEY_LEN];

		assert_int_equal(grant_dpop_nonce_key(&ctx, &k1), 0);
		memcpy(copy, k1, sizeof(copy));
		ctx.dpop_key_set = 0;
		assert_int_equal(grant_dpop_nonce_key(&ctx, &k2), 0);
		assert_memory_equal(copy, k2, sizeof(copy));
	}
	store_close(ctx.store);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void
pop_settings(void **state)
{
	static const struct { const char *json; int good, pub, conf; } rows[] = {
		{ "{\"mechanism\":\"dpop\",\"required\":true}", 1, 1, 1 },
		{ "{\"mechanism\":\"dpop\",\"required\":false}", 1, 0, 0 },
		{ "{\"mechanism\":\"dpop\",\"required\":true,"
		    "\"required_for\":\"public_clients\"}", 1, 1, 0 },
		{ "{\"mechanism\":\"dpop\",\"required\":true,"
		    "\"required_for\":\"all_clients\"}", 1, 1, 1 },
		{ "{\"mechanism\":\"mtls\",\"required\":true}", 0, 0, 0 },
		{ "{\"mechanism\":\"dpop\"}", 0, 0, 0 },
		{ "{\"mechanism\":\"dpop\",\"required\":true,"
		    "\"required_for\":\"some\"}", 0, 0, 0 },
		{ "{\"mechanism\":\"dpop\",\"required\":true,\"x\":1}", 0, 0,
		    0 },
		{ "[]", 0, 0, 0 },
	};
	json_t	*j;
	size_t	 i;

	for (i = 0; i < NELEM(rows); i++) {
		assert_non_null(j = json_loads(rows[i].json, 0, NULL));
		if ((dpop_pop_problem(j) == NULL) != rows[i].good)
			fail_msg("%s: problem %s", rows[i].json,
			    dpop_pop_problem(j));
		if (rows[i].good) {
			assert_int_equal(dpop_api_requires(j, 1), rows[i].pub);
			assert_int_equal(dpop_api_requires(j, 0), rows[i].conf);
		}
		json_decref(j);
	}
	assert_int_equal(dpop_api_requires(NULL, 1), 0);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(rfc7638_thumbprint_example),
	cmocka_unit_test(every_alg_verifies),
	cmocka_unit_test(refusals),
	cmocka_unit_test(bad_signature),
	cmocka_unit_test(weak_or_invalid_keys),
	cmocka_unit_test(malformed_and_multiple),
	cmocka_unit_test(ath_checked),
	cmocka_unit_test(nonces),
	cmocka_unit_test(replay_refused),
	cmocka_unit_test(pop_settings),
};

int
main(void)
{
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
