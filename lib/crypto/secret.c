/*
 * secret.c: high-entropy secrets and random strings.  Client secrets
 * and opaque tokens carry enough entropy for one SHA-256; they are
 * stored as "sha256:<64 lowercase hex>" and compared in constant time.
 *
 * Nothing here logs a secret.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "extern.h"

#define SECRET_PREFIX	"sha256:"
#define SECRET_PREFIXSZ	(sizeof(SECRET_PREFIX) - 1)
#define SECRET_HEXSZ	64
#define SECRET_LEN	(SECRET_PREFIXSZ + SECRET_HEXSZ)	/* 71 */

static const char hexdigits[] = "0123456789abcdef";

static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdigits[in[i] >> 4];
		out[2 * i + 1] = hexdigits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

int
hash_secret(const char *secret, size_t len, char out[72])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	if (secret == NULL)
		return -1;
	if (EVP_Digest(secret, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != SECRET_HEXSZ / 2) {
		lk_err("EVP_Digest failed");
		return -1;
	}
	memcpy(out, SECRET_PREFIX, SECRET_PREFIXSZ);
	hex_encode(md, mdlen, out + SECRET_PREFIXSZ);
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int
hash_secret_check(const char *stored, const char *secret, size_t len)
{
	char	 want[72];
	size_t	 i;
	int	 ok;

	if (stored == NULL || secret == NULL)
		return 0;
	if (strnlen(stored, SECRET_LEN + 1) != SECRET_LEN ||
	    strncmp(stored, SECRET_PREFIX, SECRET_PREFIXSZ) != 0)
		return 0;
	for (i = SECRET_PREFIXSZ; i < SECRET_LEN; i++)
		if (strchr(hexdigits, stored[i]) == NULL)
			return 0;
	if (hash_secret(secret, len, want) == -1)
		return 0;
	ok = CRYPTO_memcmp(want, stored, SECRET_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

int
rand_hex(char *out, size_t nbytes)
{
	unsigned char	 chunk[64];
	size_t		 n, off;

	for (off = 0; off < nbytes; off += n) {
		n = nbytes - off < sizeof(chunk) ? nbytes - off : sizeof(chunk);
		if (RAND_bytes(chunk, (int)n) != 1) {
			lk_err("RAND_bytes failed");
			OPENSSL_cleanse(chunk, sizeof(chunk));
			return -1;
		}
		hex_encode(chunk, n, out + 2 * off);
	}
	if (nbytes == 0)
		out[0] = '\0';
	OPENSSL_cleanse(chunk, sizeof(chunk));
	return 0;
}

/* nbytes random bytes, base64url without padding (RFC 4648 5). */
int
rand_b64url(char *out, size_t outsz, size_t nbytes)
{
	unsigned char	 raw[256];
	int		 rc;

	if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
		return -1;
	rc = b64url_encode(raw, nbytes, out, outsz);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}
