/*
 * latchkey: DPoP, RFC 9449: proofs (dpop.c), their public keys and
 * thumbprints (dpop_jwk.c), server nonces (dpop_nonce.c), and the
 * settings that require DPoP (dpop_conf.c).  Nothing here touches the
 * store or a request: dpop_verify() takes the header's text and what the
 * request must look like, so a fuzzer or a unit test calls it alone.
 * The token endpoint's and /userinfo's use of it (the replay store,
 * binding) is grants/grant_dpop.c.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_DPOP_H
#define LATCHKEY_DPOP_H

/*
 * The iat window (RFC 9449 4.3 check 11, 11.1): a proof is accepted up to
 * DPOP_IAT_PAST seconds after it was made and up to DPOP_IAT_FUTURE
 * seconds before (a client clock slightly ahead).  Its jti is kept that
 * long, so a replay is refused by one check or the other.
 */
#define DPOP_IAT_PAST		60
#define DPOP_IAT_FUTURE		5
#define DPOP_JTI_MAX		256	/* bytes of jti accepted */
#define DPOP_JKT_LEN		43	/* base64url of a SHA-256 */
#define DPOP_ATH_LEN		43
/* Server nonces (RFC 9449 8): an HMAC of a time window; the current
 * and the previous window's nonce are accepted (300 to 600 s). */
#define DPOP_NONCE_WINDOW	300
#define DPOP_NONCE_LEN		22	/* base64url of 128 bits */
#define DPOP_NONCE_KEY_LEN	32

/* The signature algorithms a proof may use (RFC 7518 3, RFC 8037 3.1):
 * asymmetric only; "none" and HMAC are not among them. */
enum dpop_alg {
	DPOP_ES256,
	DPOP_ES384,
	DPOP_RS256,
	DPOP_RS384,
	DPOP_PS256,
	DPOP_PS384,
	DPOP_EDDSA,		/* Ed25519 only */
	DPOP_ALG__MAX
};
extern const struct vocab dpop_alg_vocab;

/* Why a proof is refused: each has its error_description (dpop.c). */
enum dpop_err {
	DPOP_OK,
	DPOP_MISSING,		/* no DPoP header where one is required */
	DPOP_MULTIPLE,		/* more than one DPoP header */
	DPOP_MALFORMED,		/* not a JWS of JSON header and payload */
	DPOP_TYP,
	DPOP_ALG,
	DPOP_JWK,		/* missing, not a supported key, or not alg's */
	DPOP_JWK_PRIVATE,	/* a private member (d, p, q, ..., k) */
	DPOP_SIGNATURE,
	DPOP_JTI,
	DPOP_HTM,
	DPOP_HTU,
	DPOP_IAT,		/* missing or not a number */
	DPOP_IAT_OLD,
	DPOP_IAT_AHEAD,
	DPOP_ATH,
	DPOP_NONCE_MISSING,	/* use_dpop_nonce */
	DPOP_NONCE_BAD,		/* use_dpop_nonce */
	DPOP_REPLAY,		/* the jti was seen (grant_dpop.c) */
	DPOP_ERR,		/* no memory, a library failure */
	DPOP_ERR__MAX
};
const char	*dpop_err_text(enum dpop_err);
/* 1 for the two nonce errors (answered use_dpop_nonce). */
int		 dpop_err_nonce(enum dpop_err);

/* What the request the proof came with looks like. */
struct dpop_want {
	const char	*htm;		/* the request method */
	const char	*htu;		/* its URL as the issuer's public URL
					 * names it, without query */
	time_t		 now;
	const char	*ath;		/* the access token's hash; NULL: not
					 * checked (token endpoint) */
	const unsigned char *nonce_key;	/* NULL: no nonce demanded */
};

/* What a good proof says. */
struct dpop_proof {
	enum dpop_alg	 alg;
	time_t		 iat;
	char		 jkt[DPOP_JKT_LEN + 1];	/* RFC 7638 of its jwk */
	char		 jti[DPOP_JTI_MAX + 1];
};

/*
 * Check one DPoP header value against the request (RFC 9449 4.3, every
 * check but the jti's single use, which needs the store).  DPOP_OK with
 * *out filled, else the first check that failed (*out zeroed).
 */
enum dpop_err	 dpop_verify(const char *header, const struct dpop_want *,
		    struct dpop_proof *out);

/* dpop_jwk.c: the RFC 7638 thumbprint of a public JWK (EC, RSA, OKP)
 * into out (DPOP_JKT_LEN + 1).  0, or -1 for a JWK of another kind or
 * with a missing member. */
int		 dpop_jkt(const json_t *jwk, char *out, size_t outsz);
/* The ath of an access token (RFC 9449 4.2): base64url SHA-256 of it. */
int		 dpop_ath(const char *token, char *out, size_t outsz);

/* dpop_nonce.c: the nonce for now under key (DPOP_NONCE_KEY_LEN bytes)
 * into out (DPOP_NONCE_LEN + 1).  0 or -1. */
int		 dpop_nonce(const unsigned char *key, time_t now, char *out,
		    size_t outsz);
/* 1 when nonce is now's or the previous window's, time-safe. */
int		 dpop_nonce_ok(const unsigned char *key, const char *nonce,
		    time_t now);

/*
 * dpop_conf.c: the settings.  An API's "proof_of_possession" is Auth0's
 * Management API object {"mechanism": "dpop", "required": bool,
 * "required_for": "public_clients"|"all_clients"}.  NULL when v is a
 * good one, else why not.
 */
const char	*dpop_pop_problem(const json_t *v);
/* 1 when the API's setting requires DPoP of a client (public or not). */
int		 dpop_api_requires(const json_t *pop, int public_client);
/* The tenant's resource_parameter_profile (Auth0's tenant setting). */
enum dpop_resprof { DPOP_RESPROF_AUDIENCE, DPOP_RESPROF_COMPAT,
	DPOP_RESPROF__MAX };
extern const struct vocab dpop_resprof_vocab;

#endif /* !LATCHKEY_DPOP_H */
