/*
 * fuzz_dpop: DPoP proofs (lib/dpop/dpop.c, RFC 9449 4.3) checked alone
 * by dpop_verify: the JWS, typ, alg, the embedded jwk of every kind
 * (dpop_jwk.c), the signature, then jti, htm, htu, the iat window, ath
 * and server nonces (dpop_nonce.c).
 *
 * Input: one byte of options, then the rest:
 *	bit 0	an ath is wanted (of a fixed access token);
 *	bit 1	a nonce is demanded (a fixed nonce key);
 *	bit 2	the request is a GET (else a POST);
 *	bit 3	the rest is a claims object, made into a proof signed
 *		with an ES256 key of the harness's (typ dpop+jwt, its
 *		public jwk), so that the checks after the signature are
 *		reached; else the rest is the DPoP header as it is.
 * Every proof is DPOP_OK with its thumbprint, or refused with one of
 * the errors, whose text is never empty.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>

#include "extern.h"

#define NOW		1700000000	/* fuzz_fx.h FUZZ_NOW */
#define HTU		"https://fuzz.latchkey.test/oauth/token"
#define TOKEN		"an-access-token"
#define HEADER_MAX	LK_HEADER_MAX

static unsigned char nonce_key[DPOP_NONCE_KEY_LEN];	/* fixed: 'k's */
static json_t	*keyrec;	/* the harness's ES256 key */
static char	*hdr;		/* {"typ","alg","jwk"}, compact */
static char	 ath[DPOP_ATH_LEN + 1];

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	json_t	*jwk, *h;

	memset(nonce_key, 'k', sizeof(nonce_key));
	if ((keyrec = key_generate(KEY_ES256, "current", NOW)) == NULL ||
	    (jwk = key_jwk(json_string_value(json_object_get(keyrec,
	    "private_pem")), KEY_ES256, NULL)) == NULL)
		abort();
	h = json_pack("{s:s, s:s, s:o}", "typ", "dpop+jwt", "alg", "ES256",
	    "jwk", jwk);
	if (h == NULL || (hdr = json_dumps(h, JSON_COMPACT)) == NULL ||
	    dpop_ath(TOKEN, ath, sizeof(ath)) == -1)
		abort();
	json_decref(h);
	return 0;
}

/* The claims in data as a proof signed with the harness's key, a new
 * string; NULL when they are no JSON object. */
static char *
proof(const uint8_t *data, size_t size)
{
	const char	*pem;
	jwt_t		*jwt = NULL;
	json_t		*claims;
	char		*text = NULL, *out = NULL;

	claims = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL);
	if (!json_is_object(claims) ||
	    (text = json_dumps(claims, JSON_COMPACT)) == NULL)
		goto out;
	pem = json_string_value(json_object_get(keyrec, "private_pem"));
	if (jwt_new(&jwt) == 0 &&
	    jwt_set_alg(jwt, JWT_ALG_ES256, (const unsigned char *)pem,
	    (int)strlen(pem)) == 0 &&
	    jwt_add_headers_json(jwt, hdr) == 0 &&
	    jwt_add_grants_json(jwt, text) == 0)
		out = jwt_encode_str(jwt);
out:
	jwt_free(jwt);
	free(text);
	json_decref(claims);
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dpop_want	 w;
	struct dpop_proof	 p;
	enum dpop_err		 e;
	char			 header[HEADER_MAX + 1];
	char			*signed_proof = NULL;

	if (size < 1 || size > HEADER_MAX)
		return 0;
	memset(&w, 0, sizeof(w));
	w.htm = (data[0] & 4) ? "GET" : "POST";
	w.htu = HTU;
	w.now = NOW;
	w.ath = (data[0] & 1) ? ath : NULL;
	w.nonce_key = (data[0] & 2) ? nonce_key : NULL;
	if ((data[0] & 8) && (signed_proof = proof(data + 1, size - 1)) != NULL)
		snprintf(header, sizeof(header), "%s", signed_proof);
	else {
		memcpy(header, data + 1, size - 1);
		header[size - 1] = '\0';
	}
	free(signed_proof);
	e = dpop_verify(header, &w, &p);
	if (e >= DPOP_ERR__MAX || (e != DPOP_OK && *dpop_err_text(e) == '\0'))
		abort();
	if (e == DPOP_OK && strlen(p.jkt) != DPOP_JKT_LEN)
		abort();
	return 0;
}
