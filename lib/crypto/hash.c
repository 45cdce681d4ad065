/*
 * hash.c: password hashes.
 *
 * New passwords are hashed with argon2id (RFC 9106) at the tenant's
 * policy; imported hashes in the crypt(3) formats libxcrypt knows
 * (bcrypt, yescrypt, SHA-crypt) still verify and ask for a rehash.
 * Client secrets and opaque tokens: secret.c.
 *
 * Nothing here logs a password, a hash or a secret.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "extern.h"
#include "hashsym.h"

/* Defensive bound on a password; the decoder already stops at 1024. */
#define HASH_PW_MAX	4096

#define HASH_SALT_LEN	16
#define HASH_TAG_LEN	32

/*
 * Sane bounds for a tenant policy (m in KiB) and for the costs of a
 * stored argon2 hash we agree to verify: a stored hash asking for more
 * than 1 GiB is refused rather than allowed to exhaust memory.
 */
#define HASH_T_MIN	1
#define HASH_T_MAX	10
#define HASH_M_MIN	8
#define HASH_M_MAX	1048576
#define HASH_P_MIN	1
#define HASH_P_MAX	8
#define HASH_VERIFY_T_MAX	64
#define HASH_VERIFY_P_MAX	64

/* The names of the stored hash formats, by enum hash_fmt, for
 * latchkeyctl's output. */
static const char *const hash_fmt_names[HASH_FMT__MAX] = {
	[HASH_FMT_ARGON2ID] = "argon2id",
	[HASH_FMT_ARGON2I] = "argon2i",
	[HASH_FMT_BCRYPT] = "bcrypt",
	[HASH_FMT_YESCRYPT] = "yescrypt",
	[HASH_FMT_SHA512_CRYPT] = "sha512-crypt",
	[HASH_FMT_SHA256_CRYPT] = "sha256-crypt",
};

/* The stored hash formats hash_verify() supports, by the prefix of
 * their encoding: one table for the verifier, latchkeyctl's output and
 * the importers' checks. */
static const struct {
	const char	*prefix;
	enum hash_fmt	 fmt;
} hash_prefixes[] = {
	{ "$argon2id$", HASH_FMT_ARGON2ID },
	{ "$argon2i$", HASH_FMT_ARGON2I },
	{ "$2a$", HASH_FMT_BCRYPT },
	{ "$2b$", HASH_FMT_BCRYPT },
	{ "$2y$", HASH_FMT_BCRYPT },
	{ "$y$", HASH_FMT_YESCRYPT },
	{ "$6$", HASH_FMT_SHA512_CRYPT },
	{ "$5$", HASH_FMT_SHA256_CRYPT },
};

#define NPREFIXES	(sizeof(hash_prefixes) / sizeof(hash_prefixes[0]))

/* The row of hash_prefixes encoded starts with, or NPREFIXES. */
static size_t
prefix_of(const char *encoded)
{
	size_t	 i;

	for (i = 0; encoded != NULL && i < NPREFIXES; i++)
		if (strncmp(encoded, hash_prefixes[i].prefix,
		    strlen(hash_prefixes[i].prefix)) == 0)
			return i;
	return NPREFIXES;
}

enum hash_fmt
hash_format_kind(const char *encoded)
{
	size_t	 i = prefix_of(encoded);

	return i < NPREFIXES ? hash_prefixes[i].fmt : HASH_FMT__MAX;
}

const char *
hash_format(const char *encoded)
{
	enum hash_fmt	 f = hash_format_kind(encoded);

	return f < HASH_FMT__MAX ? hash_fmt_names[f] : NULL;
}

/* Costs parsed from an argon2 encoding. */
struct argon2_params {
	uint32_t	 v, m, t, p;
};

/* The members of a tenant's "hash" policy and their ranges. */
static const struct {
	const char	*name;
	uint32_t	 lo, hi;
	size_t		 off;		/* member of struct hash_policy */
} policy_members[] = {
	{ "t", HASH_T_MIN, HASH_T_MAX, offsetof(struct hash_policy, t_cost) },
	{ "m", HASH_M_MIN, HASH_M_MAX, offsetof(struct hash_policy, m_cost) },
	{ "p", HASH_P_MIN, HASH_P_MAX,
	    offsetof(struct hash_policy, parallelism) },
};

/* An integer member clamped to [lo, hi]; def when absent or not one. */
static uint32_t
clamp_u32(const json_t *v, uint32_t def, uint32_t lo, uint32_t hi)
{
	json_int_t	 i;

	if (!json_is_integer(v))
		return def;
	i = json_integer_value(v);
	if (i < (json_int_t)lo)
		return lo;
	if (i > (json_int_t)hi)
		return hi;
	return (uint32_t)i;
}

void
hash_policy_parse(const json_t *hash, struct hash_policy *pol)
{
	const struct hash_policy def = HASH_POLICY_DEFAULT;
	uint32_t	*m;
	size_t		 i;

	*pol = def;
	if (!json_is_object(hash))
		return;
	for (i = 0; i < sizeof(policy_members) / sizeof(policy_members[0]);
	    i++) {
		m = (uint32_t *)(void *)((char *)pol + policy_members[i].off);
		*m = clamp_u32(json_object_get(hash, policy_members[i].name),
		    *m, policy_members[i].lo, policy_members[i].hi);
	}
	/* argon2 needs at least 8 KiB per lane. */
	if (pol->m_cost < 8 * pol->parallelism)
		pol->m_cost = 8 * pol->parallelism;
}

int
hash_libs_load(void)
{
	return hashsym_load();
}

int
hash_password(const struct hash_policy *pol, const char *pw, size_t pwlen,
    char *out, size_t outsz)
{
	unsigned char	 salt[HASH_SALT_LEN];
	int		 rc;

	if (pw == NULL || pwlen > HASH_PW_MAX || out == NULL ||
	    hashsym_load() == -1)
		return -1;
	if (argon2_encodedlen(pol->t_cost, pol->m_cost, pol->parallelism,
	    HASH_SALT_LEN, HASH_TAG_LEN, Argon2_id) > outsz)
		return -1;
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		lk_err("RAND_bytes failed");
		return -1;
	}
	rc = argon2id_hash_encoded(pol->t_cost, pol->m_cost,
	    pol->parallelism, pw, pwlen, salt, sizeof(salt), HASH_TAG_LEN,
	    out, outsz);
	if (rc != ARGON2_OK) {
		lk_err("argon2id: %s", argon2_error_message(rc));
		return -1;
	}
	return 0;
}

/* Parse a decimal uint32 at *pp, advancing it; -1 if none or too big. */
static int
parse_u32(const char **pp, uint32_t *out)
{
	const char	*p = *pp;
	uint64_t	 v = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	*pp = p;
	return 0;
}

/*
 * Parse "v=19$m=M,t=T,p=P$" after the "$argon2id$" or "$argon2i$"
 * prefix (the version is optional in old encodings, meaning 0x10).
 * Returns 0, *rest (when not NULL) at the salt after the '$', or -1
 * when malformed.
 */
static int
argon2_parse(const char *s, struct argon2_params *ap, const char **rest)
{
	ap->v = ARGON2_VERSION_10;
	if (strncmp(s, "v=", 2) == 0) {
		s += 2;
		if (parse_u32(&s, &ap->v) == -1 || *s++ != '$')
			return -1;
	}
	if (strncmp(s, "m=", 2) != 0)
		return -1;
	s += 2;
	if (parse_u32(&s, &ap->m) == -1 || strncmp(s, ",t=", 3) != 0)
		return -1;
	s += 3;
	if (parse_u32(&s, &ap->t) == -1 || strncmp(s, ",p=", 3) != 0)
		return -1;
	s += 3;
	if (parse_u32(&s, &ap->p) == -1 || *s != '$')
		return -1;
	if (rest != NULL)
		*rest = s + 1;
	return 0;
}

/*
 * The memory argon2 verifies in (hash_arena), else malloc.  argon2 wipes
 * its memory before handing it back (libargon2's clear_internal_memory,
 * on by default), so no password-derived block stays in the arena.
 */
static struct {
	uint8_t		*mem;
	size_t		 size;
} arena;

void
hash_arena(void *mem, size_t size)
{
	arena.mem = mem;
	arena.size = mem != NULL ? size : 0;
}

static int
arena_alloc(uint8_t **memory, size_t n)
{
	*memory = arena.mem != NULL && n <= arena.size ? arena.mem : malloc(n);
	return *memory != NULL ? ARGON2_OK : ARGON2_MEMORY_ALLOCATION_ERROR;
}

static void
arena_free(uint8_t *memory, size_t n)
{
	if (memory != arena.mem)
		free(memory);
}

/*
 * argon2's base64: the standard alphabet without padding.  n chars into
 * out (room for n bytes); 0 with *outlen set, or -1.
 */
static int
b64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen)
{
	unsigned char	 in[HASH_ENCODED_MAX + 4];
	size_t		 i, pad;
	int		 len;

	if (n == 0 || n > HASH_ENCODED_MAX || n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789+/", s[i]) == NULL || s[i] == '\0')
			return -1;
	memcpy(in, s, n);
	for (pad = 0; (n + pad) % 4 != 0; pad++)
		in[n + pad] = '=';
	if ((len = EVP_DecodeBlock(out, in, (int)(n + pad))) < 0 ||
	    (size_t)len < pad)
		return -1;
	*outlen = (size_t)len - pad;
	return 0;
}

/*
 * libargon2's argon2_verify(), with its memory from the arena: rest is
 * "<salt>$<tag>" after the parameters.  An argon2 result code; the tag
 * is compared in constant time (argon2_verify_ctx).
 */
static int
argon2_check(argon2_type type, const struct argon2_params *ap,
    const char *rest, const char *pw, size_t pwlen)
{
	argon2_context	 c;
	uint8_t		 salt[HASH_ENCODED_MAX], tag[HASH_ENCODED_MAX];
	uint8_t		 out[HASH_ENCODED_MAX];
	const char	*dollar;
	size_t		 saltlen, taglen;
	int		 rc;

	if (ap->v != ARGON2_VERSION_10 && ap->v != ARGON2_VERSION_13)
		return ARGON2_INCORRECT_TYPE;
	if ((dollar = strchr(rest, '$')) == NULL ||
	    b64_decode(rest, (size_t)(dollar - rest), salt, &saltlen) == -1 ||
	    b64_decode(dollar + 1, strlen(dollar + 1), tag, &taglen) == -1)
		return ARGON2_DECODING_FAIL;
	memset(&c, 0, sizeof(c));
	c.out = out;
	c.outlen = (uint32_t)taglen;
	/* Not written: ARGON2_FLAG_CLEAR_PASSWORD is not set. */
	c.pwd = (uint8_t *)(uintptr_t)pw;
	c.pwdlen = (uint32_t)pwlen;
	c.salt = salt;
	c.saltlen = (uint32_t)saltlen;
	c.t_cost = ap->t;
	c.m_cost = ap->m;
	c.lanes = c.threads = ap->p;
	c.version = ap->v;
	c.allocate_cbk = arena_alloc;
	c.free_cbk = arena_free;
	c.flags = ARGON2_DEFAULT_FLAGS;
	rc = argon2_verify_ctx(&c, (const char *)tag, type);
	OPENSSL_cleanse(out, sizeof(out));
	return rc;
}

static enum hash_rc
verify_argon2(const char *encoded, size_t prefixsz, argon2_type type,
    const char *pw, size_t pwlen, const struct hash_policy *pol,
    int *rehash)
{
	struct argon2_params	 ap;
	const char		*rest;
	int			 rc;

	if (argon2_parse(encoded + prefixsz, &ap, &rest) == -1)
		return HASH_ERR;
	if (ap.m > HASH_M_MAX || ap.t > HASH_VERIFY_T_MAX ||
	    ap.p > HASH_VERIFY_P_MAX)
		return HASH_ERR;

	rc = argon2_check(type, &ap, rest, pw, pwlen);
	if (rc == ARGON2_VERIFY_MISMATCH)
		return HASH_MISMATCH;
	if (rc != ARGON2_OK)
		return HASH_ERR;
	*rehash = type != Argon2_id || ap.v != ARGON2_VERSION_13 ||
	    ap.t < pol->t_cost || ap.m < pol->m_cost ||
	    ap.p < pol->parallelism;
	return HASH_OK;
}

/*
 * crypt(3) family.  crypt_rn never returns the "*0" failure token, only
 * NULL.  The password must not contain a NUL byte: crypt would stop
 * there and "secret\0anything" would match "secret".
 */
static enum hash_rc
verify_crypt(const char *encoded, const char *pw, size_t pwlen)
{
	struct crypt_data	*cd = NULL;
	char			*phrase = NULL;
	const char		*res;
	size_t			 enclen, reslen;
	enum hash_rc		 rc = HASH_ERR;

	if (memchr(pw, '\0', pwlen) != NULL)
		return HASH_MISMATCH;
	if ((cd = calloc(1, sizeof(*cd))) == NULL ||
	    (phrase = malloc(pwlen + 1)) == NULL)
		goto out;
	memcpy(phrase, pw, pwlen);
	phrase[pwlen] = '\0';

	if ((res = crypt_rn(phrase, encoded, cd, (int)sizeof(*cd))) == NULL)
		goto out;
	enclen = strlen(encoded);
	reslen = strnlen(res, CRYPT_OUTPUT_SIZE);
	if (reslen != enclen)
		rc = HASH_MISMATCH;
	else
		rc = CRYPTO_memcmp(res, encoded, enclen) == 0 ?
		    HASH_OK : HASH_MISMATCH;
out:
	if (phrase != NULL) {
		OPENSSL_cleanse(phrase, pwlen + 1);
		free(phrase);
	}
	if (cd != NULL) {
		OPENSSL_cleanse(cd, sizeof(*cd));
		free(cd);
	}
	return rc;
}

enum hash_rc
hash_verify(const struct hash_policy *pol, const char *encoded,
    const char *pw, size_t pwlen, int *rehash)
{
	size_t	 i, plen;

	*rehash = 1;
	if (encoded == NULL || pw == NULL || pwlen > HASH_PW_MAX ||
	    hashsym_load() == -1)
		return HASH_ERR;
	if (strnlen(encoded, HASH_ENCODED_MAX + 1) > HASH_ENCODED_MAX)
		return HASH_ERR;
	if ((i = prefix_of(encoded)) == NPREFIXES)
		return HASH_ERR;
	plen = strlen(hash_prefixes[i].prefix);
	switch (hash_prefixes[i].fmt) {
	case HASH_FMT_ARGON2ID:
		return verify_argon2(encoded, plen, Argon2_id, pw, pwlen,
		    pol, rehash);
	case HASH_FMT_ARGON2I:
		return verify_argon2(encoded, plen, Argon2_i, pw, pwlen,
		    pol, rehash);
	default:
		/* bcrypt, yescrypt, SHA-crypt: crypt_rn(3). */
		return verify_crypt(encoded, pw, pwlen);
	}
}

/* The dummy hash of one policy, and how long its last verify took. */
static struct {
	struct hash_policy	 pol;
	char			 enc[HASH_ENCODED_MAX];
	int			 have;
	double			 ms;		/* 0: not measured yet */
} dummy;

/*
 * The dummy hash: the policy's costs over a fixed salt and password,
 * computed once per policy and cached, so an unknown user costs one
 * argon2id verify, the same as a wrong password.
 */
enum hash_rc
hash_dummy(const struct hash_policy *pol, const char *pw, size_t pwlen)
{
	static const unsigned char salt[HASH_SALT_LEN] =
	    "latchkey-dummy!!";
	static const char	 dummypw[] = "latchkey dummy password";
	struct argon2_params	 ap;
	const char		*rest;
	double			 t0;
	int			 rc;

	if (pw == NULL || pwlen > HASH_PW_MAX || hashsym_load() == -1)
		return HASH_MISMATCH;
	if (!dummy.have || dummy.pol.t_cost != pol->t_cost ||
	    dummy.pol.m_cost != pol->m_cost ||
	    dummy.pol.parallelism != pol->parallelism) {
		dummy.have = 0;
		dummy.ms = 0;
		rc = argon2id_hash_encoded(pol->t_cost, pol->m_cost,
		    pol->parallelism, dummypw, sizeof(dummypw) - 1,
		    salt, sizeof(salt), HASH_TAG_LEN, dummy.enc,
		    sizeof(dummy.enc));
		if (rc != ARGON2_OK) {
			lk_err("argon2id: %s", argon2_error_message(rc));
			return HASH_MISMATCH;
		}
		dummy.pol = *pol;
		dummy.have = 1;
	}
	t0 = lk_mono_ms();
	if (argon2_parse(dummy.enc + sizeof("$argon2id$") - 1, &ap, &rest) == 0)
		(void)argon2_check(Argon2_id, &ap, rest, pw, pwlen);
	dummy.ms = lk_mono_ms() - t0;
	return HASH_MISMATCH;
}

/* 1 when encoded is not argon2id (v1.3) with at least pol's costs: the
 * next successful login rehashes it. */
static int
hash_weak(const struct hash_policy *pol, const char *encoded)
{
	struct argon2_params	 ap;
	size_t			 n = sizeof("$argon2id$") - 1;

	if (strncmp(encoded, "$argon2id$", n) != 0 ||
	    argon2_parse(encoded + n, &ap, NULL) == -1)
		return 1;
	return ap.v != ARGON2_VERSION_13 || ap.t < pol->t_cost ||
	    ap.m < pol->m_cost || ap.p < pol->parallelism;
}

/*
 * A login's verify must not answer sooner than an unknown user's dummy
 * verify, or the time tells that the account exists (docs/COMPAT.md
 * 9.5).  So the dummy work is done too
 *  - when the stored hash was not verified at all (an unsupported
 *    format, costs over the limits: no hash work was done), and
 *  - when a wrong password was checked against a hash below the policy
 *    (imported bcrypt, older argon2 costs; until the user's next
 *    successful login rehashes it) and that took less than half the
 *    policy's dummy verify.  A legacy hash dearer than that (Auth0's
 *    bcrypt cost 10 costs more than the default argon2id policy) gets no
 *    extra work, which would only widen the gap; when no dummy has been
 *    timed yet in this process, the work is done.
 */
enum hash_rc
hash_verify_login(const struct hash_policy *pol, const char *encoded,
    const char *pw, size_t pwlen, int *rehash)
{
	enum hash_rc	 rc;
	double		 t0 = lk_mono_ms(), took;
	int		 known;

	rc = hash_verify(pol, encoded, pw, pwlen, rehash);
	took = lk_mono_ms() - t0;
	known = dummy.have && dummy.ms > 0 &&
	    dummy.pol.t_cost == pol->t_cost && dummy.pol.m_cost == pol->m_cost &&
	    dummy.pol.parallelism == pol->parallelism;
	if (rc == HASH_ERR || (rc == HASH_MISMATCH && encoded != NULL &&
	    hash_weak(pol, encoded) && (!known || took < dummy.ms / 2)))
		(void)hash_dummy(pol, pw, pwlen);
	return rc;
}

/*
 * The connection's hash mix: an unknown user costs what a wrong password
 * costs for a user of the connection, not what the policy's dummy costs.
 * After an import from Auth0 most users may still have bcrypt hashes
 * (cost 10: twice the default argon2id policy's time) until their first
 * login rehashes them; against a policy-priced dummy a wrong password
 * told such a user from an unknown one.  So the caller samples the
 * connection's stored hashes (grant_password.c), and an unknown login
 * is verified against one of them, chosen by a digest of the login keyed
 * with the sample itself: the same login gets the same hash every time
 * and in every process (a user's cost is constant too), which one cannot
 * be told without knowing the stored hashes, and over many logins the
 * costs follow the sample's mix.
 */
void
hash_mix_init(struct hash_mix *m)
{
	OPENSSL_cleanse(m, sizeof(*m));
}

int
hash_mix_add(struct hash_mix *m, const char *encoded)
{
	if (m->n == HASH_MIX_MAX || encoded == NULL ||
	    strnlen(encoded, HASH_ENCODED_MAX) >= HASH_ENCODED_MAX)
		return -1;
	memcpy(m->enc[m->n++], encoded, strlen(encoded) + 1);
	return 0;
}

int
hash_mix_seal(struct hash_mix *m)
{
	EVP_MD_CTX	*c;
	size_t		 i;
	int		 ok;

	if ((c = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(c, sha256_md(), NULL) == 1;
	for (i = 0; ok && i < m->n; i++)
		ok = EVP_DigestUpdate(c, m->enc[i], strlen(m->enc[i]) + 1) == 1;
	ok = ok && EVP_DigestFinal_ex(c, m->key, NULL) == 1;
	EVP_MD_CTX_free(c);
	return ok ? 0 : -1;
}

const char *
hash_mix_pick(const struct hash_mix *m, const char *login)
{
	unsigned char	 md[EVP_MAX_MD_SIZE], low;
	EVP_MD_CTX	*c;
	const char	*p;
	uint32_t	 v;
	int		 ok;

	if (m == NULL || m->n == 0 || login == NULL ||
	    (c = EVP_MD_CTX_new()) == NULL)
		return NULL;
	ok = EVP_DigestInit_ex(c, sha256_md(), NULL) == 1 &&
	    EVP_DigestUpdate(c, m->key, sizeof(m->key)) == 1;
	/* Logins match ASCII-case-insensitively (store_user_find). */
	for (p = login; ok && *p != '\0'; p++) {
		low = (unsigned char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		ok = EVP_DigestUpdate(c, &low, 1) == 1;
	}
	ok = ok && EVP_DigestFinal_ex(c, md, NULL) == 1;
	EVP_MD_CTX_free(c);
	if (!ok)
		return NULL;
	v = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 |
	    (uint32_t)md[2] << 8 | md[3];
	return m->enc[v % m->n];
}

enum hash_rc
hash_verify_unknown(const struct hash_policy *pol, const struct hash_mix *m,
    const char *login, const char *pw, size_t pwlen)
{
	const char	*enc = hash_mix_pick(m, login);
	int		 rehash;

	if (enc == NULL)
		return hash_dummy(pol, pw, pwlen);
	/* The very work of a wrong password for that user, padding included;
	 * the result does not matter: the login names no user. */
	(void)hash_verify_login(pol, enc, pw, pwlen, &rehash);
	return HASH_MISMATCH;
}
