/*
 * jwk.c: an upstream identity provider's RSA signing key, published as
 * a JWK (RFC 7517 4, RFC 7518 6.3.1), turned into the PEM libjwt 1.10
 * takes (it verifies only from PEM text).  OpenSSL 3 builds the key from
 * its modulus and exponent (EVP_PKEY_fromdata) and writes it as a
 * SubjectPublicKeyInfo.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "extern.h"

#define JWK_N_MIN	256		/* bytes: RSA-2048 */
#define JWK_N_MAX	1024		/* bytes: RSA-8192 */
#define JWK_E_MAX	8

/* The big-endian integer member name of jwk, of min..max bytes, as a
 * BIGNUM.  NULL when absent or malformed. */
static BIGNUM *
jwk_bn(const json_t *jwk, const char *name, size_t min, size_t max)
{
	const char	*s = json_string_value(json_object_get(jwk, name));
	unsigned char	 raw[JWK_N_MAX];
	long		 n;

	if (s == NULL || strlen(s) > (max * 4 + 2) / 3 + 1)
		return NULL;
	n = token_b64url_decode(s, strlen(s), raw, sizeof(raw));
	if (n < 1 || (size_t)n < min || (size_t)n > max)
		return NULL;
	return BN_bin2bn(raw, (int)n, NULL);
}

/* The RSA key of modulus n and exponent e. */
static EVP_PKEY *
jwk_pkey(const BIGNUM *n, const BIGNUM *e)
{
	OSSL_PARAM_BLD	*bld;
	OSSL_PARAM	*params = NULL;
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pkey = NULL;

	if ((bld = OSSL_PARAM_BLD_new()) == NULL)
		return NULL;
	if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

/* The PEM text of pkey, malloc'd, or NULL. */
static char *
jwk_pem_text(EVP_PKEY *pkey)
{
	BIO		*bio;
	char		*data, *out = NULL;
	long		 len;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (PEM_write_bio_PUBKEY(bio, pkey) == 1 &&
	    (len = BIO_get_mem_data(bio, &data)) > 0 &&
	    (out = malloc((size_t)len + 1)) != NULL) {
		memcpy(out, data, (size_t)len);
		out[len] = '\0';
	}
	BIO_free(bio);
	return out;
}

int
jwk_rsa_pem(const json_t *jwk, char **pem)
{
	const char	*kty = json_string_value(json_object_get(jwk, "kty"));
	BIGNUM		*n = NULL, *e = NULL;
	EVP_PKEY	*pkey = NULL;

	*pem = NULL;
	if (kty == NULL || strcmp(kty, "RSA") != 0)
		return -1;
	if ((n = jwk_bn(jwk, "n", JWK_N_MIN, JWK_N_MAX)) == NULL ||
	    (e = jwk_bn(jwk, "e", 1, JWK_E_MAX)) == NULL)
		goto out;
	if ((pkey = jwk_pkey(n, e)) != NULL)
		*pem = jwk_pem_text(pkey);
out:
	EVP_PKEY_free(pkey);
	BN_free(n);
	BN_free(e);
	return *pem != NULL ? 0 : -1;
}
