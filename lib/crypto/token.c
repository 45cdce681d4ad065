/*
 * token.c: JWT signing and verification through libjwt 1.10, with the
 * algorithm pinned by us rather than by the token.
 *
 * libjwt 1.10 takes the algorithm from the token header: given an RSA
 * public key PEM and a header saying HS256 it computes an HMAC keyed
 * with the PEM text (the classic algorithm confusion), and with "none"
 * it checks nothing.  So before libjwt sees a token we split the compact
 * JWS ourselves (RFC 7515 7.1), bound and decode every segment, read the
 * header with jansson, and require an asymmetric alg equal to the chosen
 * key's; after jwt_decode() we check the alg it used once more.
 * Claims are not checked here: callers check iss/sub/aud/exp/jti.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "extern.h"
#include "jwtsym.h"

#define TOKEN_MAX		8192	/* whole compact JWS */
#define TOKEN_HEADER_MAX	2048	/* encoded header segment */
#define TOKEN_KID_MAX		256
#define TOKEN_SIG_MAX		1024	/* decoded signature: RSA-8192 */
#define TOKEN_ES256_SIGSZ	64	/* R || S, RFC 7518 3.4 */
#define TOKEN_PEM_MAX		16384
#define PUBCACHE_SLOTS		4
#define SIGNCACHE_SLOTS		4
#define TOKEN_ES256_COORD	32	/* bytes of R and of S */

/* libjwt's algorithm for each of ours. */
static const jwt_alg_t token_jwt_alg[KEY__MAX] = {
	[KEY_RS256] = JWT_ALG_RS256,
	[KEY_ES256] = JWT_ALG_ES256,
	[KEY_HS256] = JWT_ALG_HS256,
};

/* One compact JWS, split: three segments pointing into the token. */
struct jws {
	const char	*seg[3];	/* header, payload, signature */
	size_t		 len[3];
	enum key_alg	 alg;		/* header "alg", RS256 or ES256 */
	char		 kid[TOKEN_KID_MAX + 1];
	int		 haskid;
};

/*
 * Public PEMs derived from private ones, keyed by the SHA-256 of the
 * private PEM text, so verifying against our own signing keys does not
 * re-parse the private key every time.  Bounded: PUBCACHE_SLOTS entries,
 * replaced round-robin.
 */
static struct {
	unsigned char	 id[32];
	char		*pem;
} pubcache[PUBCACHE_SLOTS];
static size_t pubcache_next;

/*
 * Parsed private signing keys, keyed like pubcache by the SHA-256 of the
 * PEM text (libjwt 1.10 parses the PEM on every signature, which
 * cost more than the signature itself: RS256 0.89 ms against 0.25 ms,
 * ES256 0.51 ms against 0.02 ms).  A rotated key has other PEM text and
 * so another slot; slots are replaced round-robin.  Each slot also keeps
 * a digest context set up once for signing with its key and SHA-256,
 * which every signature copies: setting one up (the provider's digest
 * and signature fetched, the key's context made) took 2.5 us a
 * signature, a copy a fraction of it.
 */
static struct {
	unsigned char	 id[32];
	EVP_MD_CTX	*tmpl;		/* EVP_DigestSignInit'ed: holds the key */
} signcache[SIGNCACHE_SLOTS];
static size_t signcache_next;

/* Base64url alphabet value of c, or -1 (RFC 4648 5, no padding). */
static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Declared in crypto.h. */
long
b64url_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	unsigned long	 acc = 0;
	size_t		 i, n = 0;
	int		 v, bits = 0;

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = b64url_val((unsigned char)in[i])) == -1)
			return -1;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		if ((bits += 6) < 8)
			continue;
		bits -= 8;
		if (out != NULL) {
			if (n >= outsz)
				return -1;
			out[n] = (unsigned char)(acc >> bits);
		}
		n++;
	}
	return (long)n;
}

long
token_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t outsz)
{
	return b64url_decode(in, len, out, outsz);
}

/* Split jws into three non-empty, well-formed segments. */
static enum token_rc
jws_split(const char *token, struct jws *j)
{
	const char	*p, *dot;
	size_t		 i;

	if (token == NULL || strnlen(token, TOKEN_MAX + 1) > TOKEN_MAX)
		return TOKEN_MALFORMED;
	p = token;
	for (i = 0; i < 3; i++) {
		dot = strchr(p, '.');
		if ((i < 2) != (dot != NULL))
			return TOKEN_MALFORMED;
		j->seg[i] = p;
		j->len[i] = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (j->len[i] == 0 ||
		    b64url_decode(p, j->len[i], NULL, 0) == -1)
			return TOKEN_MALFORMED;
		if (dot != NULL)
			p = dot + 1;
	}
	if (j->len[0] > TOKEN_HEADER_MAX)
		return TOKEN_MALFORMED;
	return TOKEN_OK;
}

/*
 * Read the JOSE header: "alg" must be RS256 or ES256 (anything else,
 * "none" and HMAC included, is TOKEN_BAD_ALG), "kid" a bounded string
 * when present, and no "crit" (we understand no extensions, RFC 7515
 * 4.1.11).  The signature length is checked for ES256.
 */
static enum token_rc
jws_header(struct jws *j)
{
	unsigned char	 buf[TOKEN_HEADER_MAX];
	json_t		*h = NULL;
	const json_t	*alg, *kid;
	long		 n;
	enum token_rc	 rc = TOKEN_MALFORMED;

	if ((n = b64url_decode(j->seg[0], j->len[0], buf, sizeof(buf))) <= 0)
		return TOKEN_MALFORMED;
	h = json_loadb((const char *)buf, (size_t)n,
	    JSON_REJECT_DUPLICATES, NULL);
	if (h == NULL || !json_is_object(h) ||
	    json_object_get(h, "crit") != NULL)
		goto out;
	if ((alg = json_object_get(h, "alg")) == NULL || !json_is_string(alg))
		goto out;
	kid = json_object_get(h, "kid");
	if (kid != NULL && (!json_is_string(kid) ||
	    json_string_length(kid) > TOKEN_KID_MAX ||
	    strlen(json_string_value(kid)) != json_string_length(kid)))
		goto out;

	rc = TOKEN_BAD_ALG;
	if (key_alg_parse(json_string_value(alg), &j->alg) == -1 ||
	    (j->alg != KEY_RS256 && j->alg != KEY_ES256))
		goto out;
	rc = TOKEN_BAD_SIG;
	n = b64url_decode(j->seg[2], j->len[2], NULL, 0);
	if (n > TOKEN_SIG_MAX ||
	    (j->alg == KEY_ES256 && n != TOKEN_ES256_SIGSZ))
		goto out;

	j->haskid = kid != NULL;
	if (kid != NULL)
		memcpy(j->kid, json_string_value(kid),
		    json_string_length(kid) + 1);
	rc = TOKEN_OK;
out:
	json_decref(h);
	return rc;
}

/* Never prompt for a passphrase: an encrypted PEM is refused. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/*
 * The public PEM for a private PEM (libjwt 1.10 verifies only with a
 * SubjectPublicKeyInfo PEM), from the cache or derived and cached.
 * The result belongs to the cache.  NULL on error.
 */
static const char *
pubpem_derive(const char *privpem)
{
	unsigned char	 id[SHA256_LEN];
	BIO		*bio = NULL;
	EVP_PKEY	*pkey = NULL;
	char		*data, *pem = NULL;
	long		 len;
	size_t		 i, plen;

	if ((plen = strnlen(privpem, TOKEN_PEM_MAX + 1)) > TOKEN_PEM_MAX)
		return NULL;
	if (sha256(privpem, plen, id) == -1)
		return NULL;
	for (i = 0; i < PUBCACHE_SLOTS; i++)
		if (pubcache[i].pem != NULL &&
		    memcmp(pubcache[i].id, id, sizeof(id)) == 0)
			return pubcache[i].pem;

	if ((bio = BIO_new_mem_buf(privpem, (int)plen)) == NULL)
		goto out;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	bio = NULL;
	if (pkey == NULL || (bio = BIO_new(BIO_s_mem())) == NULL)
		goto out;
	if (!PEM_write_bio_PUBKEY(bio, pkey) ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0 ||
	    (pem = malloc((size_t)len + 1)) == NULL)
		goto out;
	memcpy(pem, data, (size_t)len);
	pem[len] = '\0';

	i = pubcache_next++ % PUBCACHE_SLOTS;
	free(pubcache[i].pem);
	memcpy(pubcache[i].id, id, sizeof(id));
	pubcache[i].pem = pem;
out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return pem;
}

/*
 * Verify the split token j with one key of j->alg: libjwt checks the
 * signature, then we check it used the algorithm we pinned, then parse
 * the payload.  TOKEN_OK with *claims set, TOKEN_BAD_SIG, TOKEN_ERR.
 */
static enum token_rc
jws_verify_pem(const char *token, const struct jws *j, const char *pem,
    json_t **claims)
{
	jwt_t		*jwt = NULL;
	char		*grants = NULL;
	size_t		 plen;
	enum token_rc	 rc = TOKEN_BAD_SIG;

	if ((plen = strnlen(pem, TOKEN_PEM_MAX + 1)) > TOKEN_PEM_MAX)
		return TOKEN_NO_KEY;
	if (jwtsym_load() == -1)
		return TOKEN_ERR;
	if (jwt_decode(&jwt, token, (const unsigned char *)pem, (int)plen) != 0)
		goto out;
	if (jwt_get_alg(jwt) != token_jwt_alg[j->alg]) {
		rc = TOKEN_BAD_ALG;
		goto out;
	}
	rc = TOKEN_MALFORMED;
	if ((grants = jwt_get_grants_json(jwt, NULL)) == NULL)
		goto out;
	*claims = json_loads(grants, JSON_REJECT_DUPLICATES, NULL);
	if (*claims == NULL)
		goto out;
	if (!json_is_object(*claims)) {
		json_decref(*claims);
		*claims = NULL;
		goto out;
	}
	rc = TOKEN_OK;
out:
	free(grants);
	jwt_free(jwt);
	return rc;
}

enum token_rc
token_verify(const char *token, const json_t *keys, json_t **claims)
{
	struct jws		 j;
	struct key_public	 kp;
	const json_t		*k;
	enum token_rc		 rc, best = TOKEN_NO_KEY;
	size_t			 i;
	int			 known;

	*claims = NULL;
	if ((rc = jws_split(token, &j)) != TOKEN_OK ||
	    (rc = jws_header(&j)) != TOKEN_OK)
		return rc;

	json_array_foreach(keys, i, k) {
		known = key_public_read(k, &kp) == 0;
		if (j.haskid && (kp.kid == NULL || strcmp(kp.kid, j.kid) != 0))
			continue;
		if (!known || kp.alg != j.alg) {
			/* The kid names a key of another algorithm. */
			if (j.haskid)
				return TOKEN_BAD_ALG;
			continue;
		}
		if (kp.pem == NULL)
			continue;
		if ((rc = jws_verify_pem(token, &j, kp.pem, claims)) == TOKEN_OK)
			return TOKEN_OK;
		if (best == TOKEN_NO_KEY || rc == TOKEN_BAD_ALG)
			best = rc;
	}
	return best;
}

enum token_rc
token_verify_key(const char *token, const json_t *keyrec, json_t **claims)
{
	struct jws		 j;
	struct key_public	 kp;
	struct keyrec		 kr;
	const char		*pem;
	enum token_rc		 rc;
	int			 known;

	*claims = NULL;
	if ((rc = jws_split(token, &j)) != TOKEN_OK ||
	    (rc = jws_header(&j)) != TOKEN_OK)
		return rc;
	/* A public key record, or a signing key record read as one. */
	known = key_public_read(keyrec, &kp) == 0;
	if (j.haskid && (kp.kid == NULL || strcmp(kp.kid, j.kid) != 0))
		return TOKEN_NO_KEY;
	if (!known)
		return TOKEN_NO_KEY;
	if (kp.alg != j.alg)
		return TOKEN_BAD_ALG;
	if (kp.pem != NULL)
		return jws_verify_pem(token, &j, kp.pem, claims);
	if (record_parse(REC_KEY, (json_t *)keyrec, &kr) == -1 ||
	    kr.private_pem == NULL) {
		record_clear(REC_KEY, &kr);
		return TOKEN_NO_KEY;
	}
	pem = pubpem_derive(kr.private_pem);
	record_clear(REC_KEY, &kr);
	if (pem == NULL) {
		lk_err("cannot derive a public key");
		return TOKEN_ERR;
	}
	return jws_verify_pem(token, &j, pem, claims);
}

/* Sign claims with libjwt: alg and key set, optional kid header. */
static int
sign(enum key_alg alg, const unsigned char *key, size_t keylen,
    const char *kid, const json_t *claims, char **out)
{
	jwt_t	*jwt = NULL;
	char	*json = NULL;
	int	 rc = -1;

	*out = NULL;
	if (keylen == 0 || keylen > TOKEN_PEM_MAX || !json_is_object(claims) ||
	    jwtsym_load() == -1)
		return -1;
	if ((json = json_dumps(claims, JSON_COMPACT)) == NULL)
		return -1;
	if (jwt_new(&jwt) != 0 ||
	    jwt_set_alg(jwt, token_jwt_alg[alg], key, (int)keylen) != 0 ||
	    (kid != NULL && jwt_add_header(jwt, "kid", kid) != 0) ||
	    jwt_add_grants_json(jwt, json) != 0) {
		lk_err("%s: cannot build the token", key_alg_name(alg));
		goto out;
	}
	if ((*out = jwt_encode_str(jwt)) == NULL) {
		lk_err("%s: signing failed", key_alg_name(alg));
		goto out;
	}
	rc = 0;
out:
	free(json);
	jwt_free(jwt);
	return rc;
}

/* The signing context of pem's key, from signcache or parsed and set
 * up and cached; it belongs to the cache.  NULL on error. */
static const EVP_MD_CTX *
signkey_get(const char *pem)
{
	unsigned char	 id[SHA256_LEN];
	BIO		*bio;
	EVP_PKEY	*pkey;
	EVP_MD_CTX	*tmpl;
	size_t		 i, plen;

	if ((plen = strnlen(pem, TOKEN_PEM_MAX + 1)) > TOKEN_PEM_MAX ||
	    sha256(pem, plen, id) == -1)
		return NULL;
	for (i = 0; i < SIGNCACHE_SLOTS; i++)
		if (signcache[i].tmpl != NULL &&
		    memcmp(signcache[i].id, id, sizeof(id)) == 0)
			return signcache[i].tmpl;
	if ((bio = BIO_new_mem_buf(pem, (int)plen)) == NULL)
		return NULL;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (pkey == NULL)
		return NULL;
	/* The context takes its own reference to the key. */
	if ((tmpl = EVP_MD_CTX_new()) != NULL && (sha256_md() == NULL ||
	    EVP_DigestSignInit(tmpl, NULL, sha256_md(), NULL, pkey) != 1)) {
		EVP_MD_CTX_free(tmpl);
		tmpl = NULL;
	}
	EVP_PKEY_free(pkey);
	if (tmpl == NULL)
		return NULL;
	i = signcache_next++ % SIGNCACHE_SLOTS;
	EVP_MD_CTX_free(signcache[i].tmpl);
	memcpy(signcache[i].id, id, sizeof(id));
	signcache[i].tmpl = tmpl;
	return tmpl;
}

/*
 * ES256 signatures are R || S, each left-padded to 32 bytes (RFC 7518
 * 3.4); OpenSSL gives DER.  sig holds the DER in and the JOSE form out.
 */
static int
es256_jose(unsigned char *sig, size_t *siglen)
{
	const unsigned char	*p = sig;
	const BIGNUM		*r, *s;
	ECDSA_SIG		*es;
	int			 rc = -1;

	if ((es = d2i_ECDSA_SIG(NULL, &p, (long)*siglen)) == NULL)
		return -1;
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, TOKEN_ES256_COORD) == TOKEN_ES256_COORD &&
	    BN_bn2binpad(s, sig + TOKEN_ES256_COORD, TOKEN_ES256_COORD) ==
	    TOKEN_ES256_COORD) {
		*siglen = TOKEN_ES256_SIGSZ;
		rc = 0;
	}
	ECDSA_SIG_free(es);
	return rc;
}

/*
 * Sign claims as libjwt 1.10 would, byte for byte (tests/unit/test_sign.c
 * compares): header {"alg","kid","typ":"JWT"} and payload serialised by
 * jansson with sorted keys, compact; base64url without padding (RFC 7515
 * 7.1); RSASSA-PKCS1-v1_5 or ECDSA P-256 with SHA-256 (RFC 7518 3.3,
 * 3.4) with the key parsed, and its signing context set up, once per
 * process.  0 or -1.
 */
static int
sign_evp(enum key_alg alg, const EVP_MD_CTX *tmpl, const char *kid,
    const json_t *claims, char **out)
{
	json_t		*hdr;
	EVP_MD_CTX	*md = NULL;
	unsigned char	 sig[TOKEN_SIG_MAX];
	char		*h = NULL, *p = NULL, *buf = NULL;
	size_t		 hl, pl, n, siglen = sizeof(sig);
	int		 rc = -1;

	hdr = json_pack("{s:s, s:s, s:s}", "alg", key_alg_name(alg),
	    "kid", kid, "typ", "JWT");
	if (hdr == NULL ||
	    (h = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS)) == NULL ||
	    (p = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto out;
	hl = strlen(h);
	pl = strlen(p);
	/* Two segments and the signature in base64url, two dots, a NUL. */
	n = (hl + pl + 2) / 3 * 4 + 8 + (TOKEN_SIG_MAX + 2) / 3 * 4 + 4;
	if ((buf = malloc(n)) == NULL ||
	    b64url_encode((unsigned char *)h, hl, buf, n) == -1)
		goto out;
	hl = strlen(buf);
	buf[hl++] = '.';
	if (b64url_encode((unsigned char *)p, pl, buf + hl, n - hl) == -1)
		goto out;
	pl = strlen(buf);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_MD_CTX_copy_ex(md, tmpl) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (unsigned char *)buf, pl) != 1 ||
	    (alg == KEY_ES256 && es256_jose(sig, &siglen) == -1)) {
		lk_err("%s: signing failed", key_alg_name(alg));
		goto out;
	}
	buf[pl++] = '.';
	if (b64url_encode(sig, siglen, buf + pl, n - pl) == -1)
		goto out;
	*out = buf;
	buf = NULL;
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	free(p);
	free(h);
	json_decref(hdr);
	return rc;
}

int
token_sign(const json_t *keyrec, const json_t *claims, char **out)
{
	struct keyrec		 kr;
	const EVP_MD_CTX	*tmpl;
	int			 rc = -1;

	*out = NULL;
	/* record_parse admits only the signing algorithms, RS256 and ES256. */
	if (record_parse(REC_KEY, (json_t *)keyrec, &kr) == -1 ||
	    kr.kid == NULL || kr.private_pem == NULL) {
		lk_err("not a signing key record");
		goto out;
	}
	if (!json_is_object(claims))
		goto out;
	if ((tmpl = signkey_get(kr.private_pem)) == NULL) {
		lk_err("%s: cannot load the signing key", key_alg_name(kr.alg));
		goto out;
	}
	rc = sign_evp(kr.alg, tmpl, kr.kid, claims, out);
out:
	record_clear(REC_KEY, &kr);
	return rc;
}

int
token_sign_hs256(const char *secret, size_t len, const json_t *claims,
    char **out)
{
	*out = NULL;
	if (secret == NULL)
		return -1;
	return sign(KEY_HS256, (const unsigned char *)secret, len, NULL,
	    claims, out);
}

/*
 * The payload of a well-formed compact JWS, NOT verified: only for
 * choosing which keys to verify it with (RFC 7521 4.2: an assertion may
 * identify its client by "sub" alone).  NULL when malformed.
 */
json_t *
token_peek(const char *token)
{
	struct jws	 j;
	unsigned char	*raw;
	json_t		*claims = NULL;
	long		 n;

	if (jws_split(token, &j) != TOKEN_OK ||
	    (raw = malloc(j.len[1] + 1)) == NULL)
		return NULL;
	n = b64url_decode(j.seg[1], j.len[1], raw, j.len[1] + 1);
	if (n >= 0)
		claims = json_loadb((const char *)raw, (size_t)n,
		    JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (claims != NULL && !json_is_object(claims)) {
		json_decref(claims);
		claims = NULL;
	}
	return claims;
}
