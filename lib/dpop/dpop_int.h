/*
 * latchkey: what the DPoP files share: dpop.c checks a proof, dpop_jwk.c
 * turns its jwk into a key and verifies the signature with OpenSSL (the
 * algorithm table is there).  Only lib/dpop/ includes this header;
 * dpop.h declares what others use.
 */
#ifndef LATCHKEY_DPOP_INT_H
#define LATCHKEY_DPOP_INT_H

#include <openssl/evp.h>

#define DPOP_SIG_MAX	1024	/* an RSA-8192 signature */

/* The proof's jwk as a public key for alg: DPOP_OK with *out (the
 * caller frees it), DPOP_JWK_PRIVATE, DPOP_JWK or DPOP_ERR. */
enum dpop_err	 dpop_jwk_key(const json_t *jwk, enum dpop_alg,
		    EVP_PKEY **out);
/* Verify sig over msg (the JWS signing input) with key under alg:
 * DPOP_OK, DPOP_SIGNATURE or DPOP_ERR. */
enum dpop_err	 dpop_sig_verify(EVP_PKEY *key, enum dpop_alg,
		    const char *msg, size_t msglen, const unsigned char *sig,
		    size_t siglen);

#endif /* !LATCHKEY_DPOP_INT_H */
