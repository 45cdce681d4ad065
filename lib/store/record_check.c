/*
 * Typed records, the admin side (record.h): checking input against a
 * kind's field table, merging it into a stored record, printing a record
 * without its secrets.  The tables themselves are in record.c.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "extern.h"


static int
printable(const char *s, int nospace)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
		if (nospace && *s == ' ')
			return 0;
	}
	return 1;
}

static int
name_ok(const char *s)
{
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == strlen(s);
}

static int
url_ok(const char *s)
{
	if (strncmp(s, "https://", 8) == 0)
		s += 8;
	else if (strncmp(s, "http://", 7) == 0)
		s += 7;
	else
		return 0;
	return *s != '\0' && *s != '/';
}

/* What each string type checks beyond length and printability. */
static const char *
str_kind_problem(enum ftype t, const char *s)
{
	switch (t) {
	case FT_NAME:
		return name_ok(s) ? NULL :
		    "only letters, digits, '.', '_' and '-' are allowed";
	case FT_URL:
		return url_ok(s) ? NULL : "not an http:// or https:// URL";
	case FT_EMAIL:
		return ident_email_ok(s) ? NULL : "not an email address";
	case FT_PHONE:
		return ident_phone_ok(s) ? NULL : "not a +E.164 phone number";
	case FT_PWHASH:
		return hash_format(s) != NULL ? NULL :
		    "not a supported password hash";
	default:
		return NULL;
	}
}

/* NULL when s is a good value of the type, else what is wrong. */
static const char *
str_problem(enum ftype t, const char *s, long long min, long long max,
    const struct vocab *v)
{
	long long	 len = (long long)strlen(s);

	if (t == FT_ENUM)
		return vocab_find(v, s) >= 0 ? NULL : "not an allowed value";
	if (len < min || len > max)
		return "empty, too short or too long";
	if (!printable(s, t != FT_TEXT))
		return "contains control characters or spaces";
	return str_kind_problem(t, s);
}

static const char *
list_problem(const struct fdef *f, const json_t *v)
{
	const json_t	*e;
	const char	*why;
	size_t		 i;

	if (!json_is_array(v))
		return "not an array";
	if (json_array_size(v) > REC_LIST_MAX)
		return "too many entries";
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return "entries must be strings";
		why = str_problem(f->vocab != NULL ? FT_ENUM :
		    f->type == FT_REFS ? FT_TEXT : FT_ID,
		    json_string_value(e), f->min, f->max, f->vocab);
		if (why != NULL)
			return why;
	}
	return NULL;
}

/* Allowed origins: at most f->max, each one cors.c accepts, none twice. */
static const char *
origins_problem(const struct fdef *f, const json_t *v)
{
	const json_t	*e;
	size_t		 i, j;

	if (!json_is_array(v))
		return "not an array";
	if (json_array_size(v) > (size_t)f->max)
		return "more than 100 origins";
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return "entries must be strings";
		if (cors_origin_problem(json_string_value(e)) != NULL)
			return cors_origin_problem(json_string_value(e));
		for (j = 0; j < i; j++)
			if (json_equal(e, json_array_get(v, j)))
				return "an origin is given twice";
	}
	return NULL;
}

/* delivery_command: run without a shell, so argv[0] is a full path. */
static const char *
argv_problem(const struct fdef *f, const json_t *v)
{
	const json_t	*e;
	const char	*s;
	size_t		 i;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return "not a non-empty array";
	if (json_array_size(v) > 32)
		return "more than 32 arguments";
	json_array_foreach(v, i, e) {
		if ((s = json_string_value(e)) == NULL)
			return "arguments must be strings";
		if (str_problem(FT_TEXT, s, i == 0 ? f->min : 0, f->max,
		    NULL) != NULL)
			return "an argument is too long or has control characters";
	}
	if (json_string_value(json_array_get(v, 0))[0] != '/')
		return "the program must be an absolute path";
	return NULL;
}

static const char *
hashpol_problem(const json_t *v)
{
	static const struct { const char *k; long long lo, hi; } r[] = {
		{ "t", 1, 10 }, { "m", 8, 1048576 }, { "p", 1, 8 },
	};
	const char	*k;
	json_t		*e;
	size_t		 i;

	if (!json_is_object(v))
		return "not an object";
	json_object_foreach((json_t *)v, k, e) {
		for (i = 0; i < 3 && strcmp(k, r[i].k) != 0; i++)
			continue;
		if (i == 3)
			return "only t, m and p are allowed";
		if (json_is_null(e))
			continue;
		if (!json_is_integer(e) || json_integer_value(e) < r[i].lo ||
		    json_integer_value(e) > r[i].hi)
			return "t must be 1-10, m 8-1048576 (KiB), p 1-8";
	}
	return NULL;
}

/*
 * The signing algorithm a PEM public key can verify: RSA of at least
 * 2048 bits is RS256, P-256 is ES256.  NULL when the PEM is not such a
 * public key.
 */
static const char *
pubkey_alg(const char *pem)
{
	BIO		*b;
	EVP_PKEY	*k = NULL;
	const char	*alg = NULL;
	char		 grp[64];

	if ((b = BIO_new_mem_buf(pem, -1)) != NULL)
		k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	if (k == NULL)
		return NULL;
	if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA &&
	    EVP_PKEY_get_bits(k) >= 2048)
		alg = key_alg_name(KEY_RS256);
	else if (EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
	    EVP_PKEY_get_group_name(k, grp, sizeof(grp), NULL) == 1 &&
	    strcmp(grp, "prime256v1") == 0)
		alg = key_alg_name(KEY_ES256);
	EVP_PKEY_free(k);
	return alg;
}

/* The members of a client public key. */
enum pk_member { PK_KID, PK_ALG, PK_PEM, PK__MAX };
static const char *const pk_members[PK__MAX] = { "kid", "alg", "pem" };

static const char *
key_problem(const json_t *k)
{
	const json_t	*m[PK__MAX];
	const char	*pem, *alg, *name;
	json_t		*v;
	size_t		 i;

	if (!json_is_object(k))
		return "keys must be objects";
	json_object_foreach((json_t *)k, name, v) {
		for (i = 0; i < PK__MAX && strcmp(name, pk_members[i]); i++)
			continue;
		if (i == PK__MAX)
			return "keys have only kid, alg and pem";
	}
	for (i = 0; i < PK__MAX; i++)
		m[i] = json_object_get(k, pk_members[i]);
	if ((pem = json_string_value(m[PK_PEM])) == NULL ||
	    strlen(pem) > REC_PEM_LEN)
		return "pem missing or too long";
	if ((alg = pubkey_alg(pem)) == NULL)
		return "pem is not an RSA (2048+ bits) or P-256 public key";
	if (m[PK_ALG] != NULL && (json_string_value(m[PK_ALG]) == NULL ||
	    strcmp(json_string_value(m[PK_ALG]), alg) != 0))
		return "alg does not match the key";
	if (m[PK_KID] != NULL && (json_string_value(m[PK_KID]) == NULL ||
	    str_problem(FT_ID, json_string_value(m[PK_KID]), 1, REC_NAME_LEN,
	    NULL) != NULL))
		return "bad kid";
	return NULL;
}

static const char *
keys_problem(const json_t *v)
{
	const json_t	*k;
	const char	*why;
	size_t		 i;

	if (!json_is_array(v) || json_array_size(v) > REC_KEYS_MAX)
		return "not an array of at most 10 keys";
	json_array_foreach(v, i, k)
		if ((why = key_problem(k)) != NULL)
			return why;
	return NULL;
}

int
record_keys_normalize(json_t *keys)
{
	json_t		*k;
	const char	*pem;
	size_t		 i;
	char		 kid[128];

	json_array_foreach(keys, i, k) {
		pem = json_string_value(json_object_get(k, pk_members[PK_PEM]));
		json_object_set_new(k, pk_members[PK_ALG],
		    json_string(pubkey_alg(pem)));
		if (json_object_get(k, pk_members[PK_KID]) != NULL)
			continue;
		if (key_thumbprint(pem, kid, sizeof(kid)) == -1 &&
		    rand_hex(kid, 16) == -1)
			return -1;
		json_object_set_new(k, pk_members[PK_KID], json_string(kid));
	}
	return 0;
}

const char *
record_value_problem(const struct fdef *f, const json_t *v)
{
	switch (f->type) {
	case FT_INT:
		if (!json_is_integer(v) || json_integer_value(v) < f->min ||
		    json_integer_value(v) > f->max)
			return "not an integer in range";
		return NULL;
	case FT_BOOL:
		return json_is_boolean(v) ? NULL : "not true or false";
	case FT_OBJ:
		return json_is_object(v) ? NULL : "not an object";
	case FT_LIST:
	case FT_REFS:
		return list_problem(f, v);
	case FT_KEYS:
		return keys_problem(v);
	case FT_ORIGINS:
		return origins_problem(f, v);
	case FT_HASHPOL:
		return hashpol_problem(v);
	case FT_ARGV:
		return argv_problem(f, v);
	case FT_REFRESH:
		return refresh_conf_problem(v);
	case FT_GUARD:
		return guard_setting_problem(f->name, v);
	case FT_POP:
		return dpop_pop_problem(v);
	default:
		if (!json_is_string(v))
			return "not a string";
		return str_problem(f->type, json_string_value(v), f->min,
		    f->max, f->vocab);
	}
}

int
record_check(enum rec_kind k, const json_t *spec, const char *what,
    char *err, size_t errsz)
{
	const struct fdef *f;
	const char	*name, *why;
	json_t		*v;

	if (!json_is_object(spec)) {
		snprintf(err, errsz, "%s: not an object", what);
		return -1;
	}
	json_object_foreach((json_t *)spec, name, v) {
		f = record_field(k, name);
		if (f == NULL || f->who == FW_STORED)
			why = "unknown field";
		else if (json_is_null(v))
			why = f->required ? "cannot be removed" : NULL;
		else
			why = record_value_problem(f, v);
		if (why != NULL) {
			snprintf(err, errsz, "%s: %s: %s", what, name, why);
			return -1;
		}
	}
	return 0;
}

const char *
record_missing(enum rec_kind k, const json_t *rec)
{
	const struct fdef *f;

	for (f = record_fields(k); f->name != NULL; f++)
		if (f->required && json_object_get(rec, f->name) == NULL)
			return f->name;
	return NULL;
}

/* Settings objects merge member by member; other values are replaced. */
static int
merges(const char *name)
{
	const struct fdef *f;
	size_t		 k;

	for (k = 0; k < REC__MAX; k++)
		if ((f = record_field((enum rec_kind)k, name)) != NULL &&
		    (f->type == FT_HASHPOL || f->type == FT_REFRESH ||
		    (f->type == FT_GUARD && strcmp(name,
		    "breached_password_file") != 0)))
			return 1;
	return 0;
}

void
record_merge(json_t *rec, const json_t *spec)
{
	const char	*k;
	json_t		*v, *sub;

	json_object_foreach((json_t *)spec, k, v) {
		sub = json_object_get(rec, k);
		if (json_is_null(v))
			json_object_del(rec, k);
		else if (merges(k) && json_is_object(sub) && json_is_object(v))
			record_merge(sub, v);
		else
			json_object_set_new(rec, k, json_deep_copy(v));
	}
}

/* Fields never printed. */
static const char *const redacted[] = {
	"secret_hash", "password_hash", "private_pem",
	"upstream_client_secret", "ldap_bind_password", NULL
};

json_t *
record_redact(const json_t *rec)
{
	json_t		*r;
	const char	*h;
	size_t		 i;

	if ((r = json_deep_copy(rec)) == NULL)
		return NULL;
	h = json_string_value(json_object_get(rec, "password_hash"));
	for (i = 0; redacted[i] != NULL; i++)
		json_object_del(r, redacted[i]);
	if (h != NULL)
		json_object_set_new(r, "password_hash_alg",
		    json_string(hash_format(h) != NULL ? hash_format(h) :
		    "unknown"));
	return r;
}
