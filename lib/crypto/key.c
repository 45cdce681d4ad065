/*
 * key.c: signing keys: generation, public JWKs, RFC 7638 thumbprints.
 *
 * RS256 keys are RSA-2048, ES256 keys P-256 (RFC 7518 3.3, 3.4).
 * Private keys are kept as PKCS#8 PEM in the SK_KEY record; the kid is
 * the key's JWK thumbprint, so it names the key material itself.
 * OpenSSL 3 EVP and OSSL_PARAM interfaces only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "extern.h"

#define KEY_RSA_BITS	2048
#define KEY_EC_CURVE	"P-256"
#define KEY_EC_COORD	32		/* bytes per P-256 coordinate */
#define KEY_PEM_MAX	16384		/* refuse larger PEM text */
#define KEY_B64_MAX	700		/* base64url of a 4096-bit modulus + slack */

/* The algorithms, indexed by enum key_alg. */
static const struct {
	const char	*name;		/* JOSE "alg" */
	const char	*kty;		/* JWK "kty", NULL: not an asymmetric key */
} key_algs[KEY__MAX] = {
	[KEY_RS256] = { "RS256", "RSA" },
	[KEY_ES256] = { "ES256", "EC" },
	[KEY_HS256] = { "HS256", NULL },
};

/* The public parts of a key, base64url, ready for a JWK. */
struct key_pub {
	enum key_alg	 alg;
	char		 a[KEY_B64_MAX];	/* RSA n, EC x */
	char		 b[KEY_B64_MAX];	/* RSA e, EC y */
};

const char *
key_alg_name(enum key_alg alg)
{
	if ((unsigned)alg >= KEY__MAX)
		return NULL;
	return key_algs[alg].name;
}

static const char *
alg_name(size_t i)
{

	return i < KEY__MAX ? key_algs[i].name : NULL;
}

const struct vocab key_alg_vocab = { "algorithm", KEY__MAX, alg_name };

int
key_alg_parse(const char *s, enum key_alg *alg)
{
	size_t	 i;

	if (s == NULL)
		return -1;
	for (i = 0; i < KEY__MAX; i++)
		if (strcmp(s, key_algs[i].name) == 0) {
			*alg = (enum key_alg)i;
			return 0;
		}
	return -1;
}

int
b64url_encode(const unsigned char *in, size_t len, char *out, size_t outsz)
{
	unsigned char	*tmp;
	size_t		 i, padded;
	int		 n;

	/* Unpadded: 4 chars per 3 bytes rounded up, plus the NUL. */
	if (len > (size_t)INT32_MAX / 2 || outsz < (len * 4 + 2) / 3 + 1)
		return -1;
	/* EVP_EncodeBlock writes the padding: room for it, or a copy. */
	padded = (len + 2) / 3 * 4 + 1;
	tmp = padded <= outsz ? (unsigned char *)out : malloc(padded);
	if (tmp == NULL)
		return -1;
	n = EVP_EncodeBlock(tmp, in, (int)len);
	for (i = 0; i < (size_t)n && tmp[i] != '='; i++)
		out[i] = tmp[i] == '+' ? '-' : tmp[i] == '/' ? '_' : (char)tmp[i];
	out[i] = '\0';
	if (tmp != (unsigned char *)out)
		free(tmp);
	return 0;
}

/* Never prompt for a passphrase: an encrypted PEM is simply refused. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/*
 * Parse PEM text as a private key (PKCS#8 or traditional) or, failing
 * that, a SubjectPublicKeyInfo public key.  NULL on error.
 */
static EVP_PKEY *
pem_load(const char *pem)
{
	BIO		*bio;
	EVP_PKEY	*pkey = NULL;
	size_t		 len;

	if (pem == NULL || (len = strnlen(pem, KEY_PEM_MAX + 1)) > KEY_PEM_MAX)
		return NULL;
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return NULL;
	if (strstr(pem, "PRIVATE KEY-----") != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	else
		pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	return pkey;
}

/* A BIGNUM parameter as unsigned big-endian base64url. */
static int
bn_b64url(const EVP_PKEY *pkey, const char *param, char *out, size_t outsz)
{
	BIGNUM		*bn = NULL;
	unsigned char	 buf[1024];
	int		 n, rc = -1;

	if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
		goto out;
	if ((n = BN_num_bytes(bn)) <= 0 || (size_t)n > sizeof(buf))
		goto out;
	if (BN_bn2bin(bn, buf) != n)
		goto out;
	rc = b64url_encode(buf, (size_t)n, out, outsz);
out:
	BN_free(bn);
	return rc;
}

/*
 * Extract the public parts of pkey, which must suit alg: RSA of at
 * least 2048 bits for RS256, a P-256 point for ES256.  0 or -1.
 */
static int
key_pub_get(const EVP_PKEY *pkey, enum key_alg alg, struct key_pub *kp)
{
	unsigned char	 pt[1 + 2 * KEY_EC_COORD];
	char		 group[32];
	size_t		 ptlen = 0, glen = 0;

	kp->alg = alg;
	switch (alg) {
	case KEY_RS256:
		if (!EVP_PKEY_is_a(pkey, "RSA") ||
		    EVP_PKEY_get_bits(pkey) < KEY_RSA_BITS)
			return -1;
		if (bn_b64url(pkey, OSSL_PKEY_PARAM_RSA_N, kp->a,
		    sizeof(kp->a)) == -1)
			return -1;
		return bn_b64url(pkey, OSSL_PKEY_PARAM_RSA_E, kp->b,
		    sizeof(kp->b));
	case KEY_ES256:
		if (!EVP_PKEY_is_a(pkey, "EC") ||
		    !EVP_PKEY_get_utf8_string_param(pkey,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen))
			return -1;
		if (strcmp(group, "prime256v1") != 0 &&
		    strcmp(group, KEY_EC_CURVE) != 0)
			return -1;
		/* Uncompressed point: 0x04 || x || y (SEC 1 2.3.3). */
		if (!EVP_PKEY_get_octet_string_param(pkey,
		    OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptlen) ||
		    ptlen != sizeof(pt) || pt[0] != 0x04)
			return -1;
		if (b64url_encode(pt + 1, KEY_EC_COORD, kp->a, sizeof(kp->a)) == -1)
			return -1;
		return b64url_encode(pt + 1 + KEY_EC_COORD, KEY_EC_COORD, kp->b,
		    sizeof(kp->b));
	default:
		return -1;
	}
}

/*
 * RFC 7638 3: SHA-256 over the required members in lexicographic order
 * with no whitespace, base64url.  0 or -1.
 */
static int
key_pub_thumbprint(const struct key_pub *kp, char *out, size_t outsz)
{
	char		 json[2 * KEY_B64_MAX + 64];
	unsigned char	 md[SHA256_LEN];
	int		 n;

	if (kp->alg == KEY_RS256)
		n = snprintf(json, sizeof(json),
		    "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", kp->b, kp->a);
	else
		n = snprintf(json, sizeof(json),
		    "{\"crv\":\"" KEY_EC_CURVE "\",\"kty\":\"EC\","
		    "\"x\":\"%s\",\"y\":\"%s\"}", kp->a, kp->b);
	if (n < 0 || (size_t)n >= sizeof(json))
		return -1;
	if (sha256(json, (size_t)n, md) == -1)
		return -1;
	return b64url_encode(md, SHA256_LEN, out, outsz);
}

/* The key_alg that suits pkey's type (RS256 for RSA, ES256 for EC). */
static int
pkey_alg(const EVP_PKEY *pkey, enum key_alg *alg)
{
	if (EVP_PKEY_is_a(pkey, "RSA"))
		*alg = KEY_RS256;
	else if (EVP_PKEY_is_a(pkey, "EC"))
		*alg = KEY_ES256;
	else
		return -1;
	return 0;
}

int
key_thumbprint(const char *pem, char *out, size_t outsz)
{
	EVP_PKEY	*pkey;
	struct key_pub	 kp;
	enum key_alg	 alg;
	int		 rc = -1;

	if ((pkey = pem_load(pem)) == NULL)
		return -1;
	if (pkey_alg(pkey, &alg) == 0 && key_pub_get(pkey, alg, &kp) == 0)
		rc = key_pub_thumbprint(&kp, out, outsz);
	EVP_PKEY_free(pkey);
	return rc;
}

/* The private key as PKCS#8 PEM in a secure-heap BIO, copied out. */
static char *
pkey_private_pem(EVP_PKEY *pkey)
{
	BIO	*bio;
	char	*data, *pem = NULL;
	long	 len;

	if ((bio = BIO_new(BIO_s_secmem())) == NULL)
		return NULL;
	if (!PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL))
		goto out;
	if ((len = BIO_get_mem_data(bio, &data)) <= 0)
		goto out;
	if ((pem = malloc((size_t)len + 1)) == NULL)
		goto out;
	memcpy(pem, data, (size_t)len);
	pem[len] = '\0';
out:
	BIO_free(bio);
	return pem;
}

json_t *
key_generate(enum key_alg alg, const char *status, time_t now)
{
	EVP_PKEY	*pkey = NULL;
	struct key_pub	 kp;
	char		 kid[64], *pem = NULL;
	json_t		*rec = NULL;

	switch (alg) {
	case KEY_RS256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)KEY_RSA_BITS);
		break;
	case KEY_ES256:
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", KEY_EC_CURVE);
		break;
	default:
		lk_err("not a signing algorithm: %d", (int)alg);
		return NULL;
	}
	if (pkey == NULL) {
		lk_err("%s: key generation failed", key_algs[alg].name);
		return NULL;
	}
	if (key_pub_get(pkey, alg, &kp) == -1 ||
	    key_pub_thumbprint(&kp, kid, sizeof(kid)) == -1 ||
	    (pem = pkey_private_pem(pkey)) == NULL) {
		lk_err("%s: key export failed", key_algs[alg].name);
		goto out;
	}
	rec = json_pack("{s:s, s:s, s:s, s:s, s:I}",
	    "kid", kid,
	    "alg", key_algs[alg].name,
	    "status", status == NULL ? "next" : status,
	    "private_pem", pem,
	    "created_at", (json_int_t)now);
	if (rec == NULL)
		lk_err("json_pack failed");
out:
	if (pem != NULL) {
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
	}
	EVP_PKEY_free(pkey);
	return rec;
}

json_t *
key_jwk(const char *pem, enum key_alg alg, const char *kid)
{
	EVP_PKEY	*pkey;
	struct key_pub	 kp;
	char		 tp[64];
	json_t		*jwk = NULL;

	if ((unsigned)alg >= KEY__MAX || key_algs[alg].kty == NULL)
		return NULL;
	if ((pkey = pem_load(pem)) == NULL)
		return NULL;
	if (key_pub_get(pkey, alg, &kp) == -1)
		goto out;
	if (kid == NULL) {
		if (key_pub_thumbprint(&kp, tp, sizeof(tp)) == -1)
			goto out;
		kid = tp;
	}
	if (alg == KEY_RS256)
		jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
		    "kty", "RSA", "use", "sig", "alg", key_algs[alg].name,
		    "kid", kid, "n", kp.a, "e", kp.b);
	else
		jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		    "kty", "EC", "use", "sig", "alg", key_algs[alg].name,
		    "kid", kid, "crv", KEY_EC_CURVE, "x", kp.a, "y", kp.b);
out:
	EVP_PKEY_free(pkey);
	return jwk;
}

/* The members of a client public key (record.c checks them). */
enum pk_member { PK_KID, PK_ALG, PK_PEM, PK__MAX };
static const char *const pk_members[PK__MAX] = {
	[PK_KID] = "kid",
	[PK_ALG] = "alg",
	[PK_PEM] = "pem",
};

int
key_public_read(const json_t *k, struct key_public *out)
{
	const char	*m[PK__MAX];
	size_t		 i;

	for (i = 0; i < PK__MAX; i++)
		m[i] = json_string_value(json_object_get(k, pk_members[i]));
	out->kid = m[PK_KID];
	out->pem = m[PK_PEM];
	out->alg = KEY__MAX;
	return key_alg_parse(m[PK_ALG], &out->alg);
}

/* The JWK of one key record (a signing key, or a public key as
 * key_public_read reads it), or NULL when it has none. */
static json_t *
rec_jwk(const json_t *rec, char *kid, size_t kidsz)
{
	struct keyrec		 kr;
	struct key_public	 kp;
	json_t			*jwk = NULL;

	kid[0] = '\0';
	if (record_parse(REC_KEY, (json_t *)rec, &kr) == -1)
		return NULL;
	if (kr.kid != NULL)
		snprintf(kid, kidsz, "%s", kr.kid);
	if (kr.private_pem != NULL) {
		if (kr.kid != NULL)
			jwk = key_jwk(kr.private_pem, kr.alg, kr.kid);
	} else if (kr.kid != NULL && key_public_read(rec, &kp) == 0)
		jwk = key_jwk(kp.pem, kp.alg, kr.kid);
	record_clear(REC_KEY, &kr);
	return jwk;
}

json_t *
key_jwks(const json_t *recs)
{
	json_t		*jwks, *keys, *jwk;
	const json_t	*rec;
	char		 kid[REC_NAME_LEN + 1], esc[96];
	size_t		 i;

	if ((keys = json_array()) == NULL)
		return NULL;
	json_array_foreach(recs, i, rec) {
		if ((jwk = rec_jwk(rec, kid, sizeof(kid))) == NULL) {
			log_escape(esc, sizeof(esc), kid);
			lk_err("key record %zu (kid \"%s\") skipped", i, esc);
			continue;
		}
		if (json_array_append_new(keys, jwk) == -1) {
			json_decref(keys);
			return NULL;
		}
	}
	if ((jwks = json_pack("{s:o}", "keys", keys)) == NULL)
		return NULL;
	return jwks;
}
