/*
 * Passwordless codes and their records (docs/COMPAT.md 2):
 *  - a code is PWL_CODE_LEN uniform random digits;
 *  - it lives the connection's otp_lifetime seconds;
 *  - PWL_TRIES wrong tries kill it; a right one consumes it;
 *  - it is bound to the client that asked for it (another client's try
 *    counts as a wrong one);
 *  - the record keeps a salted hash of it, never the code.
 * Stored under SK_OTP "<connection>\x1f<normalised recipient>", so a new
 * start for the same recipient replaces the record: only the latest code
 * is valid.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "extern.h"

#define PWL_SALT_BYTES	16
#define PWL_DIGEST_LEN	72	/* hash_secret()'s output */

/* The members of an SK_OTP record. */
struct otp {
	const char	*code_hash;
	const char	*salt;
	const char	*client_id;
	long long	 exp;
	long long	 tries_left;
};

static const struct pwl_field otp_fields[] = {
	{ "code_hash", PWL_FT_STR, offsetof(struct otp, code_hash) },
	{ "salt", PWL_FT_STR, offsetof(struct otp, salt) },
	{ "client_id", PWL_FT_STR, offsetof(struct otp, client_id) },
	{ "exp", PWL_FT_INT, offsetof(struct otp, exp) },
	{ "tries_left", PWL_FT_INT, offsetof(struct otp, tries_left) },
	{ NULL, PWL_FT_STR, 0 }
};

int
pwl_fields(const json_t *o, const struct pwl_field *fields, void *out)
{
	const struct pwl_field	*f;
	const json_t		*v;
	char			*m;

	if (!json_is_object(o))
		return -1;
	for (f = fields; f->name != NULL; f++) {
		m = (char *)out + f->off;
		v = json_object_get(o, f->name);
		if (v != NULL && json_is_null(v))
			v = NULL;
		if (f->type == PWL_FT_STR) {
			if (v != NULL && !json_is_string(v))
				return -1;
			*(const char **)(void *)m = json_string_value(v);
		} else {
			if (v != NULL && !json_is_integer(v))
				return -1;
			*(long long *)(void *)m = v != NULL ?
			    (long long)json_integer_value(v) : 0;
		}
	}
	return 0;
}

enum pwl_strategy
pwl_strategy(const struct conn *conn)
{
	switch (conn->strategy) {
	case STRATEGY_SMS:
		return PWL_SMS;
	case STRATEGY_EMAIL:
		return PWL_EMAIL;
	default:
		return PWL__MAX;
	}
}

int
pwl_recipient(enum pwl_strategy s, const char *in, char *out, size_t outsz)
{
	return s == PWL_SMS ? ident_phone(in, out, outsz) :
	    ident_email(in, out, outsz);
}

int
pwl_otp_key(char *key, const char *connection, const char *recipient)
{
	int	 n;

	if (strchr(connection, '\x1f') != NULL)
		return -1;
	n = snprintf(key, PWL_KEY_LEN, "%s\x1f%s", connection, recipient);
	return n < 0 || n >= PWL_KEY_LEN ? -1 : 0;
}

int
pwl_code_new(char out[PWL_CODE_LEN + 1])
{
	/* The largest multiple of 10^6 that fits in 32 bits: values at or
	 * above it are drawn again, so every code is equally likely. */
	const uint32_t	 limit = 4294000000u;
	unsigned char	 b[4];
	uint32_t	 v;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return -1;
		v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		    (uint32_t)b[2] << 8 | b[3];
	} while (v >= limit);
	snprintf(out, PWL_CODE_LEN + 1, "%06u", (unsigned)(v % 1000000u));
	OPENSSL_cleanse(b, sizeof(b));
	v = 0;
	return 0;
}

/* hash_secret(salt || code) into digest. 0 or -1. */
static int
code_digest(const char *salt, const char *code, char digest[PWL_DIGEST_LEN])
{
	char	 in[2 * PWL_SALT_BYTES + PWL_CODE_LEN + 2];
	int	 n, rc;

	n = snprintf(in, sizeof(in), "%s%s", salt, code);
	if (n < 0 || (size_t)n >= sizeof(in))
		return -1;
	rc = hash_secret(in, (size_t)n, digest);
	OPENSSL_cleanse(in, sizeof(in));
	return rc;
}

json_t *
pwl_record_new(const char *code, const char *client_id, time_t now,
    long lifetime)
{
	char	 salt[2 * PWL_SALT_BYTES + 1], digest[PWL_DIGEST_LEN];

	if (rand_hex(salt, PWL_SALT_BYTES) == -1 ||
	    code_digest(salt, code, digest) == -1)
		return NULL;
	return json_pack("{s:s, s:s, s:I, s:i, s:s, s:I}",
	    "code_hash", digest, "salt", salt,
	    "exp", (json_int_t)now + lifetime, "tries_left", PWL_TRIES,
	    "client_id", client_id, "created_at", (json_int_t)now);
}

const char *
pwl_record_salt(const json_t *rec)
{
	struct otp	 o;

	return pwl_fields(rec, otp_fields, &o) == 0 ? o.salt : NULL;
}

long long
pwl_record_tries(const json_t *rec)
{
	struct otp	 o;

	return pwl_fields(rec, otp_fields, &o) == 0 ? o.tries_left : 0;
}

enum pwl_check
pwl_record_check(json_t *rec, const char *code, const char *client_id,
    time_t now)
{
	struct otp	 o;
	char		 in[2 * PWL_SALT_BYTES + PWL_CODE_LEN + 2];
	int		 n, match;

	if (pwl_fields(rec, otp_fields, &o) == -1 || o.code_hash == NULL ||
	    o.salt == NULL || o.client_id == NULL || o.tries_left <= 0 ||
	    o.exp <= (long long)now)
		return PWL_CHECK_DEAD;
	/* A code is all digits of one length; anything else cannot match
	 * but still costs a try. */
	n = snprintf(in, sizeof(in), "%s%s", o.salt, code);
	match = n > 0 && (size_t)n < sizeof(in) &&
	    strlen(code) == PWL_CODE_LEN &&
	    hash_secret_check(o.code_hash, in, (size_t)n);
	OPENSSL_cleanse(in, sizeof(in));
	if (match && strcmp(o.client_id, client_id) == 0)
		return PWL_CHECK_OK;
	json_object_set_new(rec, "tries_left",
	    json_integer((json_int_t)(o.tries_left - 1)));
	return PWL_CHECK_WRONG;
}
