/*
 * DPoP keys (RFC 9449 4.2, 4.3): the proof's "jwk" header (RFC 7517) as
 * an OpenSSL public key, the signature checked with it, and its RFC 7638
 * thumbprint.  The algorithm table is here: libjwt 1.10 takes the
 * algorithm from the token and cannot verify with a JWK, so every step is
 * OpenSSL's, the algorithm pinned by this table.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "extern.h"
#include "dpop_int.h"

#define RSA_BITS_MIN	2048	/* RFC 7518 3.3 */
#define RSA_N_MAX	1024	/* bytes: 8192 bits */
#define RSA_E_MAX	8
#define JWK_MEMBER_MAX	1400	/* base64url of RSA_N_MAX, and some */

enum kty { KTY_EC, KTY_RSA, KTY_OKP, KTY__MAX };

static const char *const ktys[KTY__MAX] = {
	[KTY_EC] = "EC", [KTY_RSA] = "RSA", [KTY_OKP] = "OKP",
};

/* RFC 7518 3.1, RFC 8037 3.1: each algorithm's key type, curve and
 * digest; coord is an EC coordinate's (and Ed25519 key's) size. */
static const struct alg {
	const char	*name;
	enum kty	 kty;
	const char	*crv;		/* the JWK "crv"; NULL for RSA */
	const char	*group;		/* OpenSSL's group name */
	size_t		 coord;
	const char	*md;		/* NULL: EdDSA hashes itself */
	int		 pss;		/* RSASSA-PSS, salt = digest length */
} algs[DPOP_ALG__MAX] = {
	[DPOP_ES256] = { "ES256", KTY_EC, "P-256", "prime256v1", 32,
	    "SHA256", 0 },
	[DPOP_ES384] = { "ES384", KTY_EC, "P-384", "secp384r1", 48,
	    "SHA384", 0 },
	[DPOP_RS256] = { "RS256", KTY_RSA, NULL, NULL, 0, "SHA256", 0 },
	[DPOP_RS384] = { "RS384", KTY_RSA, NULL, NULL, 0, "SHA384", 0 },
	[DPOP_PS256] = { "PS256", KTY_RSA, NULL, NULL, 0, "SHA256", 1 },
	[DPOP_PS384] = { "PS384", KTY_RSA, NULL, NULL, 0, "SHA384", 1 },
	[DPOP_EDDSA] = { "EdDSA", KTY_OKP, "Ed25519", NULL, 32, NULL, 0 },
};

/* RFC 7518 6.2.2, 6.3.2, RFC 7517 / 7518 6.4: private JWK members. */
static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL
};

static const char *
alg_name(size_t i)
{
	return i < DPOP_ALG__MAX ? algs[i].name : NULL;
}

const struct vocab dpop_alg_vocab = { "DPoP algorithm", DPOP_ALG__MAX,
	alg_name };

/* The kty of jwk, KTY__MAX when absent or another. */
static enum kty
jwk_kty(const json_t *jwk)
{
	const char	*s = json_string_value(json_object_get(jwk, "kty"));
	size_t		 i;

	for (i = 0; s != NULL && i < KTY__MAX; i++)
		if (strcmp(s, ktys[i]) == 0)
			return (enum kty)i;
	return KTY__MAX;
}

/* A member of jwk that is base64url text of 1..JWK_MEMBER_MAX chars, or
 * NULL. */
static const char *
b64_member(const json_t *jwk, const char *name)
{
	const char	*s = json_string_value(json_object_get(jwk, name));
	size_t		 n;

	if (s == NULL || (n = strlen(s)) == 0 || n > JWK_MEMBER_MAX ||
	    b64url_decode(s, n, NULL, 0) < 0)
		return NULL;
	return s;
}

/* Decode member name of jwk into out: its length, or -1. */
static long
b64_bytes(const json_t *jwk, const char *name, unsigned char *out,
    size_t outsz)
{
	const char	*s = b64_member(jwk, name);

	return s != NULL ? b64url_decode(s, strlen(s), out, outsz) : -1;
}

/* A key from OSSL parameters (fromdata), public only. */
static EVP_PKEY *
key_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM	*params = NULL;
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*key = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return key;
}

/* RFC 7518 6.3.1: n and e, n of at least RSA_BITS_MIN bits. */
static enum dpop_err
rsa_key(const json_t *jwk, EVP_PKEY **out)
{
	OSSL_PARAM_BLD	*bld = NULL;
	BIGNUM		*n = NULL, *e = NULL;
	unsigned char	 nb[RSA_N_MAX], eb[RSA_E_MAX];
	long		 nl, el;
	enum dpop_err	 rc = DPOP_JWK;

	if ((nl = b64_bytes(jwk, "n", nb, sizeof(nb))) <= 0 ||
	    (el = b64_bytes(jwk, "e", eb, sizeof(eb))) <= 0)
		return DPOP_JWK;
	rc = DPOP_ERR;
	if ((n = BN_bin2bn(nb, (int)nl, NULL)) == NULL ||
	    (e = BN_bin2bn(eb, (int)el, NULL)) == NULL)
		goto out;
	rc = DPOP_JWK;
	if (BN_num_bits(n) < RSA_BITS_MIN || !BN_is_odd(e) || BN_is_one(e))
		goto out;
	rc = DPOP_ERR;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
		goto out;
	rc = (*out = key_fromdata("RSA", bld)) != NULL ? DPOP_OK : DPOP_JWK;
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}

/*
 * RFC 7518 6.2.1: x and y of the curve's size, a point on the curve.
 * The quick check is enough: P-256 and P-384 have cofactor 1, so a
 * point on the curve is in the group, and the full check's extra scalar
 * multiplication by the order would cost more than the verify.
 */
static enum dpop_err
ec_key(const json_t *jwk, const struct alg *a, EVP_PKEY **out)
{
	OSSL_PARAM_BLD	*bld = NULL;
	EVP_PKEY_CTX	*chk = NULL;
	unsigned char	 pt[1 + 2 * 66];
	enum dpop_err	 rc = DPOP_ERR;

	pt[0] = POINT_CONVERSION_UNCOMPRESSED;
	if (b64_bytes(jwk, "x", pt + 1, a->coord) != (long)a->coord ||
	    b64_bytes(jwk, "y", pt + 1 + a->coord, a->coord) != (long)a->coord)
		return DPOP_JWK;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    a->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
	    1 + 2 * a->coord) != 1)
		goto out;
	rc = DPOP_JWK;
	if ((*out = key_fromdata("EC", bld)) == NULL)
		goto out;
	if ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL)) == NULL ||
	    EVP_PKEY_public_check_quick(chk) != 1) {
		EVP_PKEY_free(*out);
		*out = NULL;
		goto out;
	}
	rc = DPOP_OK;
out:
	EVP_PKEY_CTX_free(chk);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

/* RFC 8037 2: an Ed25519 public key x. */
static enum dpop_err
okp_key(const json_t *jwk, const struct alg *a, EVP_PKEY **out)
{
	unsigned char	 x[32];

	if (b64_bytes(jwk, "x", x, sizeof(x)) != (long)a->coord)
		return DPOP_JWK;
	*out = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x,
	    sizeof(x));
	return *out != NULL ? DPOP_OK : DPOP_JWK;
}

enum dpop_err
dpop_jwk_key(const json_t *jwk, enum dpop_alg alg, EVP_PKEY **out)
{
	const struct alg *a = &algs[alg];
	const char	*crv;
	size_t		 i;

	*out = NULL;
	if (!json_is_object(jwk))
		return DPOP_JWK;
	/* RFC 9449 4.3 check 7: no private key in the header. */
	for (i = 0; private_members[i] != NULL; i++)
		if (json_object_get(jwk, private_members[i]) != NULL)
			return DPOP_JWK_PRIVATE;
	if (jwk_kty(jwk) != a->kty)
		return DPOP_JWK;
	crv = json_string_value(json_object_get(jwk, "crv"));
	if (a->crv != NULL && (crv == NULL || strcmp(crv, a->crv) != 0))
		return DPOP_JWK;
	switch (a->kty) {
	case KTY_RSA:
		return rsa_key(jwk, out);
	case KTY_EC:
		return ec_key(jwk, a, out);
	default:
		return okp_key(jwk, a, out);
	}
}

/* RFC 7518 3.4: an ECDSA signature is r || s, each coord bytes; OpenSSL
 * verifies DER.  The DER into *der (OPENSSL_free it), its length. */
static int
ecdsa_der(const unsigned char *sig, size_t siglen, size_t coord,
    unsigned char **der)
{
	ECDSA_SIG	*es;
	BIGNUM		*r, *s;
	int		 n = -1;

	*der = NULL;
	if (siglen != 2 * coord || (es = ECDSA_SIG_new()) == NULL)
		return -1;
	r = BN_bin2bn(sig, (int)coord, NULL);
	s = BN_bin2bn(sig + coord, (int)coord, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
	} else
		n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	return n;
}

enum dpop_err
dpop_sig_verify(EVP_PKEY *key, enum dpop_alg alg, const char *msg,
    size_t msglen, const unsigned char *sig, size_t siglen)
{
	const struct alg *a = &algs[alg];
	EVP_MD_CTX	*mctx;
	EVP_PKEY_CTX	*pctx = NULL;
	unsigned char	*der = NULL;
	int		 n, ok = 0;

	if (a->kty == KTY_EC) {
		if ((n = ecdsa_der(sig, siglen, a->coord, &der)) <= 0)
			return DPOP_SIGNATURE;
		sig = der;
		siglen = (size_t)n;
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		OPENSSL_free(der);
		return DPOP_ERR;
	}
	if (EVP_DigestVerifyInit_ex(mctx, &pctx, a->md, NULL, NULL, key,
	    NULL) == 1 && (!a->pss ||
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
	    RSA_PSS_SALTLEN_DIGEST) == 1)))
		ok = EVP_DigestVerify(mctx, sig, siglen,
		    (const unsigned char *)msg, msglen) == 1;
	EVP_MD_CTX_free(mctx);
	OPENSSL_free(der);
	return ok ? DPOP_OK : DPOP_SIGNATURE;
}

/* A crv value safe to print into JSON unescaped. */
static const char *
crv_member(const json_t *jwk)
{
	const char	*s = json_string_value(json_object_get(jwk, "crv"));

	if (s == NULL || *s == '\0' || strlen(s) > 16 ||
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-") != strlen(s))
		return NULL;
	return s;
}

/*
 * RFC 7638 3.2, 3.3: the required members in lexicographic order, no
 * whitespace, hashed with SHA-256.  Every value printed is base64url or
 * a checked crv, so none needs escaping.
 */
int
dpop_jkt(const json_t *jwk, char *out, size_t outsz)
{
	char		 json[2 * JWK_MEMBER_MAX + 64];
	unsigned char	 md[32];
	const char	*a, *b, *crv;
	int		 n = -1;

	switch (jwk_kty(jwk)) {
	case KTY_EC:
		if ((crv = crv_member(jwk)) != NULL &&
		    (a = b64_member(jwk, "x")) != NULL &&
		    (b = b64_member(jwk, "y")) != NULL)
			n = snprintf(json, sizeof(json), "{\"crv\":\"%s\","
			    "\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", crv,
			    a, b);
		break;
	case KTY_RSA:
		if ((a = b64_member(jwk, "e")) != NULL &&
		    (b = b64_member(jwk, "n")) != NULL)
			n = snprintf(json, sizeof(json), "{\"e\":\"%s\","
			    "\"kty\":\"RSA\",\"n\":\"%s\"}", a, b);
		break;
	case KTY_OKP:
		if ((crv = crv_member(jwk)) != NULL &&
		    (a = b64_member(jwk, "x")) != NULL)
			n = snprintf(json, sizeof(json), "{\"crv\":\"%s\","
			    "\"kty\":\"OKP\",\"x\":\"%s\"}", crv, a);
		break;
	default:
		break;
	}
	if (n < 0 || (size_t)n >= sizeof(json) ||
	    sha256(json, (size_t)n, md) == -1)
		return -1;
	return b64url_encode(md, sizeof(md), out, outsz);
}

int
dpop_ath(const char *token, char *out, size_t outsz)
{
	unsigned char	 md[32];

	if (sha256(token, strlen(token), md) == -1)
		return -1;
	return b64url_encode(md, sizeof(md), out, outsz);
}
