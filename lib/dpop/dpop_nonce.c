/*
 * DPoP server nonces (RFC 9449 8, 9): stateless, so that every responder
 * process accepts every other's without a write per request.  A nonce is
 * the HMAC-SHA-256 (truncated to 128 bits, base64url) of the number of
 * the DPOP_NONCE_WINDOW-second window it was made in, keyed with a
 * server secret (the SK_META "dpop" record, grant_dpop.c).  The current
 * window's and the previous one's are accepted, so a nonce lives 300 to
 * 600 seconds; a client gets a fresh one with every answer.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "extern.h"

#define NONCE_LABEL	"latchkey DPoP nonce "

/* The nonce of window win. */
static int
nonce_of(const unsigned char *key, long long win, char *out, size_t outsz)
{
	const EVP_MD	*d;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	char		 msg[64];
	int		 n;

	n = snprintf(msg, sizeof(msg), NONCE_LABEL "%lld", win);
	if (n < 0 || (size_t)n >= sizeof(msg) ||
	    (d = sha256_md()) == NULL ||
	    HMAC(d, key, DPOP_NONCE_KEY_LEN,
	    (const unsigned char *)msg, (size_t)n, md, &mdlen) == NULL ||
	    mdlen < 16)
		return -1;
	return b64url_encode(md, 16, out, outsz);
}

int
dpop_nonce(const unsigned char *key, time_t now, char *out, size_t outsz)
{
	return nonce_of(key, (long long)now / DPOP_NONCE_WINDOW, out, outsz);
}

int
dpop_nonce_ok(const unsigned char *key, const char *nonce, time_t now)
{
	char		 want[DPOP_NONCE_LEN + 1];
	long long	 win = (long long)now / DPOP_NONCE_WINDOW;
	int		 i, ok = 0;

	if (strlen(nonce) != DPOP_NONCE_LEN)
		return 0;
	for (i = 0; i < 2; i++)
		if (nonce_of(key, win - i, want, sizeof(want)) == 0 &&
		    CRYPTO_memcmp(want, nonce, DPOP_NONCE_LEN) == 0)
			ok = 1;
	return ok;
}
