/*
 * latchkey: password hashes, signing keys and their rotation, JWTs.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_CRYPTO_H
#define LATCHKEY_CRYPTO_H

/* ------------------------------------------------------------------ */
/* hash.c: password hashes (argon2id new, bcrypt/yescrypt/... verify).  */

struct hash_policy {
	uint32_t	t_cost;		/* argon2 passes */
	uint32_t	m_cost;		/* KiB */
	uint32_t	parallelism;
};

#define HASH_POLICY_DEFAULT	{ 2, 19456, 1 }	/* OWASP argon2id */
#define HASH_ENCODED_MAX	256

enum hash_rc { HASH_OK, HASH_MISMATCH, HASH_ERR };

/* The policy of a tenant's "hash" object (NULL or not an object: the
 * default), defaults for absent members, each clamped to its range. */
void		 hash_policy_parse(const json_t *hash, struct hash_policy *);
/* The stored hash formats hash_verify() supports (hash.c's table). */
enum hash_fmt { HASH_FMT_ARGON2ID, HASH_FMT_ARGON2I, HASH_FMT_BCRYPT,
	HASH_FMT_YESCRYPT, HASH_FMT_SHA512_CRYPT, HASH_FMT_SHA256_CRYPT,
	HASH_FMT__MAX };
/* Sets of formats: a bit (1u << enum hash_fmt) each. */
#define HASH_FMT_BIT(f)		(1u << (f))
#define HASH_FMTS_ARGON2	(HASH_FMT_BIT(HASH_FMT_ARGON2ID) | \
				 HASH_FMT_BIT(HASH_FMT_ARGON2I))
/* The crypt(3) formats, verified through crypt_rn. */
#define HASH_FMTS_CRYPT		(HASH_FMT_BIT(HASH_FMT_BCRYPT) | \
				 HASH_FMT_BIT(HASH_FMT_YESCRYPT) | \
				 HASH_FMT_BIT(HASH_FMT_SHA512_CRYPT) | \
				 HASH_FMT_BIT(HASH_FMT_SHA256_CRYPT))
/* The format of a stored hash, by its prefix; HASH_FMT__MAX when
 * hash_verify() does not support it. */
enum hash_fmt	 hash_format_kind(const char *encoded);
/* The name of a stored hash's format ("argon2id", "bcrypt", ...), NULL
 * when hash_verify() does not support it. */
const char	*hash_format(const char *encoded);
/* Load libargon2 and libcrypt now rather than at the first hash (a
 * responder's start-up check; hashsym.c).  0, or -1 (logged). */
int		 hash_libs_load(void);
/* New argon2id hash of pw into out (HASH_ENCODED_MAX). 0 or -1. */
int		 hash_password(const struct hash_policy *, const char *pw,
		    size_t pwlen, char *out, size_t outsz);
/* Verify pw against any supported encoding ($argon2id$, $argon2i$, $2a$,
 * $2b$, $2y$, $y$, $6$, $5$); *rehash set when the hash is not argon2id
 * with at least the policy's costs.  Time-safe compare. */
enum hash_rc	 hash_verify(const struct hash_policy *, const char *encoded,
		    const char *pw, size_t pwlen, int *rehash);
/* The same work as a verify, for unknown users; always HASH_MISMATCH. */
enum hash_rc	 hash_dummy(const struct hash_policy *, const char *pw, size_t pwlen);
/* hash_verify for a login: also the dummy work when nothing could be
 * verified (HASH_ERR: unsupported or over-limit hash) or a wrong
 * password was checked against a below-policy hash much cheaper than the
 * dummy, so no answer comes sooner than an unknown user's. */
enum hash_rc	 hash_verify_login(const struct hash_policy *, const char *encoded,
		    const char *pw, size_t pwlen, int *rehash);
/*
 * A sample of a connection's stored hashes, for unknown users (hash.c,
 * "hash mix"): hash_mix_init, hash_mix_add each (at most HASH_MIX_MAX;
 * 0 or -1 when full or too long), hash_mix_seal (0 or -1).
 */
#define HASH_MIX_MAX	16
struct hash_mix {
	size_t		 n;
	char		 enc[HASH_MIX_MAX][HASH_ENCODED_MAX];
	unsigned char	 key[32];	/* SHA-256 of the hashes: keys the pick */
};
void		 hash_mix_init(struct hash_mix *);
int		 hash_mix_add(struct hash_mix *, const char *encoded);
int		 hash_mix_seal(struct hash_mix *);
/* The sampled hash assigned to login (ASCII case folded), the same for
 * the same sample; NULL when the sample is empty (or m is NULL). */
const char	*hash_mix_pick(const struct hash_mix *, const char *login);
/* An unknown login's verify: a wrong password's work against its
 * hash_mix_pick (hash_verify_login), or hash_dummy when there is none.
 * Always HASH_MISMATCH. */
enum hash_rc	 hash_verify_unknown(const struct hash_policy *,
		    const struct hash_mix *, const char *login, const char *pw,
		    size_t pwlen);
/* Memory for argon2 verifies (hash_verify, hash_dummy) while set: used
 * when a verify needs at most size bytes, else malloc; NULL unsets it.
 * admit.c gives it the held hash slot's shared memory. */
void		 hash_arena(void *mem, size_t size);

/* secret.c: high-entropy secrets and random strings. */
#define SHA256_LEN	32
/* The SHA-256 digest of len bytes at data into md.  0, or -1 (logged). */
int		 sha256(const void *data, size_t len, unsigned char md[SHA256_LEN]);
/* The process's SHA-256 (an EVP_MD fetched once) for the HMACs,
 * streamed digests and signatures that name it; NULL (logged) when it
 * cannot be fetched. */
const struct evp_md_st *sha256_md(void);
/* "sha256:<hex>" of a high-entropy secret (client secrets, opaque tokens). */
int		 hash_secret(const char *secret, size_t len, char out[72]);
/* 1 when secret matches the stored "sha256:<hex>", time-safe; 0 otherwise. */
int		 hash_secret_check(const char *stored, const char *secret, size_t len);
/* n random bytes as lowercase hex (2n chars + NUL) from the CSPRNG. */
int		 rand_hex(char *out, size_t nbytes);
/* n random characters of [A-Za-z0-9]; 0, or -1 if out is short. */
int		 rand_alnum(char *out, size_t outsz, size_t n);
/* n random bytes (n <= 256) as base64url without padding. */
int		 rand_b64url(char *out, size_t outsz, size_t nbytes);
/* Base64url without padding (RFC 7515 2) of in; 0, or -1 if out is short. */
int		 b64url_encode(const unsigned char *in, size_t len, char *out,
		    size_t outsz);
/* Decode len characters of unpadded base64url into out (outsz bytes);
 * NULL out only validates.  Returns the decoded length or -1 (token.c). */
long		 b64url_decode(const char *in, size_t len, unsigned char *out,
		    size_t outsz);

/* ------------------------------------------------------------------ */
/* key.c: signing keys (generation, JWKS) and client public keys.       */

enum key_alg { KEY_RS256, KEY_ES256, KEY_HS256, KEY__MAX };

const char	*key_alg_name(enum key_alg);		/* "RS256" ... */
extern const struct vocab key_alg_vocab;	/* names by enum key_alg */
int		 key_alg_parse(const char *, enum key_alg *);	/* 0 or -1 */

/* A client public key (a client's public_keys entry): strings point
 * into the JSON, NULL when absent. */
struct key_public {
	const char	*kid;
	enum key_alg	 alg;		/* KEY__MAX: absent or unknown */
	const char	*pem;
};
/* Read k into out.  0, or -1 when its alg is absent or unknown. */
int		 key_public_read(const json_t *k, struct key_public *out);

/* A new signing key record (SK_KEY shape above) with the given status;
 * kid is the RFC 7638 thumbprint.  NULL on error. */
json_t		*key_generate(enum key_alg, const char *status, time_t now);
/* Public JWK {kty,use,alg,kid,n,e | crv,x,y} for a private or public PEM. */
json_t		*key_jwk(const char *pem, enum key_alg, const char *kid);
/* {"keys":[...]} for all SK_KEY records in the array. */
json_t		*key_jwks(const json_t *key_records);
/* RFC 7638 thumbprint of a PEM's public key, base64url. 0 or -1. */
int		 key_thumbprint(const char *pem, char *out, size_t outsz);

/* jwk.c: an RSA public JWK (RFC 7517, RFC 7518 6.3.1: "n", "e") as a
 * SubjectPublicKeyInfo PEM for libjwt; *pem is malloc'd.  0, or -1 when
 * the key is not RSA, its members are malformed or out of bounds
 * (2048 to 8192 bits). */
int		 jwk_rsa_pem(const json_t *jwk, char **pem);

/* ------------------------------------------------------------------ */
/* token.c: JWT encode/verify through libjwt, algorithm pinned.         */

/* Sign claims with the key record (SK_KEY shape): header alg, typ JWT,
 * kid.  *out is malloc'd.  0 or -1. */
int		 token_sign(const json_t *keyrec, const json_t *claims, char **out);
/* Sign with HS256 and the given raw secret (ID tokens for HS256 clients). */
int		 token_sign_hs256(const char *secret, size_t len,
		    const json_t *claims, char **out);

enum token_rc { TOKEN_OK, TOKEN_MALFORMED, TOKEN_BAD_ALG, TOKEN_BAD_SIG,
	TOKEN_NO_KEY, TOKEN_ERR };

/*
 * Verify a compact JWS against the public keys array (client "public_keys"
 * shape): the header alg must be RS256 or ES256 and equal the chosen key's
 * alg (kid chooses a key when present, else each key of that alg is tried);
 * never "none" or HMAC.  On TOKEN_OK *claims (owned) holds the payload.
 * Checks no claims: callers check iss/sub/aud/exp/jti.
 */
enum token_rc	 token_verify(const char *jws, const json_t *public_keys,
		    json_t **claims);
/* Decode len characters of unpadded base64url (RFC 7515 2) into out
 * (outsz bytes; NULL only validates): the decoded length, or -1. */
long		 token_b64url_decode(const char *in, size_t len,
		    unsigned char *out, size_t outsz);
/* The unverified payload of a well-formed JWS, only to choose the keys
 * that verify it; NULL when malformed.  Owned by the caller. */
json_t		*token_peek(const char *jws);
/* Same, against one signing key record (SK_KEY shape, private or public). */
enum token_rc	 token_verify_key(const char *jws, const json_t *keyrec,
		    json_t **claims);

/*
 * keyrot.c: signing key rotation.  A "next" key is published in the JWKS
 * but does not sign; rotation makes it "current" and the old current
 * "previous" (retired_at set), still published until every token it
 * signed has expired.  All run inside the caller's transaction.
 */
#define KEY_PUBLISH_MIN		300	/* JWKS max-age: next must be this old */
/* STORE_EXISTS when a next key exists already. */
enum store_rc	 keyrot_add_next(struct store *, struct txn *, enum key_alg,
		    time_t now, json_t **rec);
/* STORE_NOTFOUND without a next key (force: one is made), STORE_EXISTS
 * when the next key was published less than KEY_PUBLISH_MIN ago (force:
 * rotate anyway).  *current is the new signing key's record. */
enum store_rc	 keyrot_rotate(struct store *, struct txn *, enum key_alg,
		    time_t now, int force, json_t **current);
/* The longest lifetime of any token latchkey signs, in seconds. */
enum store_rc	 keyrot_max_lifetime(struct store *, struct txn *, long *);
/* Remove previous keys retired longer ago than the longest token
 * lifetime; their kids are appended to removed (an array). */
enum store_rc	 keyrot_prune(struct store *, struct txn *, time_t now,
		    json_t *removed);

#endif /* !LATCHKEY_CRYPTO_H */
