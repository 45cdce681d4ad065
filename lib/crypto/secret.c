/*
 * secret.c: high-entropy secrets and random strings.  Client secrets
 * and opaque tokens carry enough entropy for one SHA-256; they are
 * stored as "sha256:<64 lowercase hex>" and compared in constant time.
 *
 * Nothing here logs a secret.
 */
#include <pthread.h>
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

/*
 * SHA-256, the digest fetched from its provider once per process.  With
 * EVP_sha256() OpenSSL 3 fetches the implementation again at every
 * EVP_Digest call, which costs more than hashing a client secret or a
 * key's PEM (crypto(7), "PERFORMANCE": fetch explicitly what is used
 * many times; docs/performance.md).
 */
static EVP_MD		*md_sha256;
static pthread_once_t	 md_sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *
sha256_md(void)
{
	if (pthread_once(&md_sha256_once, sha256_fetch) != 0 ||
	    md_sha256 == NULL) {
		lk_err("SHA-256 cannot be fetched");
		return NULL;
	}
	return md_sha256;
}

int
sha256(const void *data, size_t len, unsigned char md[SHA256_LEN])
{
	const EVP_MD	*d;
	unsigned int	 mdlen = 0;

	if ((d = sha256_md()) == NULL)
		return -1;
	if (EVP_Digest(data, len, md, &mdlen, d, NULL) != 1 ||
	    mdlen != SHA256_LEN) {
		lk_err("SHA-256 failed");
		return -1;
	}
	return 0;
}

int
hash_secret(const char *secret, size_t len, char out[72])
{
	unsigned char	 md[SHA256_LEN];

	if (secret == NULL || sha256(secret, len, md) == -1)
		return -1;
	memcpy(out, SECRET_PREFIX, SECRET_PREFIXSZ);
	hex_encode(md, sizeof(md), out + SECRET_PREFIXSZ);
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

/*
 * n random characters of [A-Za-z0-9] and a NUL, uniformly: a byte of 248
 * or more (248 = 4 * 62) is drawn again.  Auth0's client ids have this
 * form, and an id that cannot start with '-' is never taken for an option
 * on a command line.
 */
int
rand_alnum(char *out, size_t outsz, size_t n)
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char	 raw[64];
	size_t		 have = 0, i;

	if (n >= outsz)
		return -1;
	while (have < n) {
		if (RAND_bytes(raw, (int)sizeof(raw)) != 1) {
			lk_err("RAND_bytes failed");
			return -1;
		}
		for (i = 0; i < sizeof(raw) && have < n; i++)
			if (raw[i] < 4 * (sizeof(alnum) - 1))
				out[have++] = alnum[raw[i] % (sizeof(alnum) - 1)];
	}
	out[n] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
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
