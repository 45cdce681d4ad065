/*
 * mfa_seal.c: authenticated encryption for MFA (docs/COMPAT.md 13.2,
 * 13.4): AES-256-GCM (NIST SP 800-38D) with a random 96-bit IV under
 * one 256-bit key kept in the store (SK_META "mfa" {"key": hex}), made
 * by the first process that needs it (a racing second one reads the
 * winner's), read for each use (one get: no process keeps a key that
 * a re-created store no longer holds).  Every responder process opens what any other sealed.
 * The additional data binds a sealed text to its use (an mfa_token
 * cannot stand in for a TOTP secret, nor one user's secret for
 * another's).  Sealed text: base64url(iv | ciphertext | tag).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "extern.h"

#define SEAL_KEY	32
#define SEAL_IV		12
#define SEAL_TAG	16
#define SEAL_RAW_MAX	((MFA_SEAL_MAX / 4) * 3)

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The stored key record's key into key; 0 or -1 (malformed). */
static int
key_read(const json_t *rec, unsigned char *key)
{
	const char	*hex = json_string_value(json_object_get(rec, "key"));
	size_t		 i;
	int		 hi, lo;

	if (hex == NULL || strlen(hex) != 2 * SEAL_KEY)
		return -1;
	for (i = 0; i < SEAL_KEY; i++) {
		if ((hi = hexval(hex[2 * i])) < 0 ||
		    (lo = hexval(hex[2 * i + 1])) < 0)
			return -1;
		key[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Make and store a key; STORE_EXISTS when another process did first. */
static enum store_rc
key_make(struct store *s)
{
	char		 hex[2 * SEAL_KEY + 1];
	json_t		*rec;
	enum store_rc	 rc;

	if (rand_hex(hex, SEAL_KEY) == -1)
		return STORE_ERR;
	rec = json_pack("{s:s}", "key", hex);
	OPENSSL_cleanse(hex, sizeof(hex));
	if (rec == NULL)
		return STORE_ERR;
	rc = store_put(s, NULL, SK_META, "mfa", rec, STORE_NOOVERWRITE);
	OPENSSL_cleanse((char *)json_string_value(json_object_get(rec, "key")),
	    2 * SEAL_KEY);
	json_decref(rec);
	return rc;
}

/* The key into key: read, else made.  0 or -1. */
static int
key_load(struct store *s, unsigned char *key)
{
	json_t		*rec = NULL;
	enum store_rc	 rc;
	int		 tries, ok;

	for (tries = 0; tries < 2; tries++) {
		rc = store_get(s, NULL, SK_META, "mfa", &rec);
		if (rc == STORE_NOTFOUND) {
			rc = key_make(s);
			if (rc != STORE_OK && rc != STORE_EXISTS)
				return -1;
			continue;	/* read what was stored */
		}
		if (rc != STORE_OK)
			return -1;
		ok = key_read(rec, key);
		json_decref(rec);
		if (ok == -1)
			lk_err("SK_META mfa: malformed key");
		return ok;
	}
	return -1;
}

int
mfa_seal(struct store *s, const char *aad, const unsigned char *in,
    size_t len, char *out, size_t outsz)
{
	unsigned char	 raw[SEAL_RAW_MAX], key[SEAL_KEY];
	EVP_CIPHER_CTX	*c = NULL;
	int		 n, rc = -1;

	if (len > sizeof(raw) - SEAL_IV - SEAL_TAG || key_load(s, key) == -1 ||
	    RAND_bytes(raw, SEAL_IV) != 1 ||
	    (c = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, raw) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &n, (const unsigned char *)aad,
	    (int)strlen(aad)) != 1 ||
	    EVP_EncryptUpdate(c, raw + SEAL_IV, &n, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, raw + SEAL_IV + n, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG,
	    raw + SEAL_IV + len) != 1)
		goto out;
	rc = b64url_encode(raw, SEAL_IV + len + SEAL_TAG, out, outsz);
out:
	if (rc == -1)
		lk_err("cannot seal");
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* Base64url without padding (RFC 4648 5) of in; the length or -1, also
 * for a non-canonical text (RFC 4648 3.5: the unused bits are zero), so
 * that no two texts open to the same token (token.c's b64url_decode
 * takes both). */
static long
b64url_strict(const char *in, unsigned char *out, size_t outsz)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char	*p;
	unsigned	 acc = 0;
	size_t		 o = 0;
	int		 bits = 0;

	for (; *in != '\0'; in++) {
		if ((p = strchr(al, *in)) == NULL)
			return -1;
		acc = (acc << 6 | (unsigned)(p - al)) & 0xffffff;
		if ((bits += 6) < 8)
			continue;
		if (o == outsz)
			return -1;
		out[o++] = (unsigned char)(acc >> (bits - 8));
		bits -= 8;
	}
	if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (long)o;
}

long
mfa_open(struct store *s, const char *aad, const char *sealed,
    unsigned char *out, size_t outsz)
{
	unsigned char	 raw[SEAL_RAW_MAX], key[SEAL_KEY];
	EVP_CIPHER_CTX	*c = NULL;
	long		 n, rc = -1;
	size_t		 clen;
	int		 m;

	if (sealed == NULL || strlen(sealed) > MFA_SEAL_MAX ||
	    (n = b64url_strict(sealed, raw, sizeof(raw))) <
	    SEAL_IV + SEAL_TAG || (clen = (size_t)n - SEAL_IV - SEAL_TAG) >
	    outsz || key_load(s, key) == -1 ||
	    (c = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, raw) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &m, (const unsigned char *)aad,
	    (int)strlen(aad)) != 1 ||
	    EVP_DecryptUpdate(c, out, &m, raw + SEAL_IV, (int)clen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG,
	    raw + SEAL_IV + clen) != 1 ||
	    EVP_DecryptFinal_ex(c, out + m, &m) != 1) {
		OPENSSL_cleanse(out, outsz);
		goto out;
	}
	rc = (long)clen;
out:
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}
