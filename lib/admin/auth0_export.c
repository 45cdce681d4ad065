/*
 * Auth0 user exports, for latchkeyctl import-auth0: read the file (a bulk
 * user export job's NDJSON, or a JSON array as the bulk import schema
 * uses) and turn each Auth0 user into a latchkey user spec (the SK_USER
 * shape of extern.h, as `latchkeyctl import` takes it) with its password
 * hash kept as it is, so migrating users log in with their old passwords
 * and are rehashed to argon2id at that first login (hash_verify).
 *
 * Sources: Auth0 "Bulk Import Database Schema and Examples" (the user
 * fields, password_hash, custom_password_hash {algorithm, hash: {value,
 * encoding, salt}} and the per-algorithm rules) and "Bulk User Exports"
 * (NDJSON, one user object a line, user_id "auth0|<id>").
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

/* Auth0 root profile attributes copied as they are (same names here). */
static const char *const copied[] = {
	"email",
	"email_verified",
	"username",
	"phone_number",
	"phone_verified",
	"name",
	"given_name",
	"family_name",
	"nickname",
	"picture",
	"blocked",
	"app_metadata",
	"user_metadata",
	NULL
};


/*
 * custom_password_hash algorithms latchkey can verify.  Auth0 requires
 * hash.encoding "utf8" and no hash.salt for all three: the value carries
 * its own salt and costs.  "ldap" values are RFC 2307 userPassword
 * strings; of those only {CRYPT} (RFC 2307 5.3) with a crypt(3) hash is
 * something hash_verify() knows.  Auth0's other algorithms (hmac, md4,
 * md5, sha1, sha256, sha512, pbkdf2, scrypt) are refused by name.
 */
enum a0alg { A0_BCRYPT, A0_ARGON2, A0_LDAP, A0__MAX };

static const struct {
	const char		*name;
	const char		*scheme;	/* prefix stripped from the value */
	unsigned		 fmts;		/* what remains must be one of
						 * these hash formats (HASH_FMT_BIT) */
} algs[A0__MAX] = {
	[A0_BCRYPT] = { "bcrypt", NULL, HASH_FMT_BIT(HASH_FMT_BCRYPT) },
	[A0_ARGON2] = { "argon2", NULL, HASH_FMTS_ARGON2 },
	[A0_LDAP] = { "ldap", "{CRYPT}", HASH_FMTS_CRYPT },
};

#define SUPPORTED	"bcrypt, argon2 (argon2id/argon2i) and ldap {CRYPT} " \
			"with a bcrypt, sha512-crypt, sha256-crypt or " \
			"yescrypt value"

/* 1 when s is a stored hash of one of the formats fmts (hash.c). */
static int
hash_in(const char *s, unsigned fmts)
{
	enum hash_fmt	 f = hash_format_kind(s);

	return f < HASH_FMT__MAX && (fmts & HASH_FMT_BIT(f)) != 0;
}

static const char *
sval(const json_t *o, const char *k)
{

	return json_string_value(json_object_get(o, k));
}

/* One object of the file; -1 with err when it is not an object. */
static int
push_user(json_t *users, json_t *u, const char *where, size_t n, char *err,
    size_t errsz)
{

	if (!json_is_object(u)) {
		snprintf(err, errsz, "%s %zu: not a JSON object", where, n);
		json_decref(u);
		return -1;
	}
	return json_array_append_new(users, u);
}

/* NDJSON: one object a line; blank lines are skipped. */
static json_t *
parse_lines(const char *text, size_t len, char *err, size_t errsz)
{
	json_t		*users = json_array(), *u;
	json_error_t	 e;
	const char	*p = text, *end = text + len, *nl;
	size_t		 line = 0, n;

	for (; users != NULL && p < end; p = nl + 1) {
		line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		for (n = (size_t)(nl - p); n > 0 && isspace((unsigned char)p[n - 1]);)
			n--;
		if (n == 0)
			continue;
		if ((u = json_loadb(p, n, JSON_REJECT_DUPLICATES, &e)) == NULL) {
			snprintf(err, errsz, "line %zu: %s", line, e.text);
			break;
		}
		if (push_user(users, u, "line", line, err, errsz) == -1)
			break;
	}
	if (users != NULL && p < end) {
		json_decref(users);
		return NULL;
	}
	return users;
}

json_t *
auth0_export_parse(const char *text, size_t len, char *err, size_t errsz)
{
	json_t		*doc, *u, *users;
	json_error_t	 e;
	size_t		 i, skip;

	for (skip = 0; skip < len && isspace((unsigned char)text[skip]); skip++)
		continue;
	if (skip == len || text[skip] != '[')
		return parse_lines(text, len, err, errsz);
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
	if (doc == NULL) {
		snprintf(err, errsz, "line %d: %s", e.line, e.text);
		return NULL;
	}
	users = json_array();
	json_array_foreach(doc, i, u)
		if (push_user(users, json_incref(u), "user", i + 1, err,
		    errsz) == -1) {
			json_decref(users);
			users = NULL;
			break;
		}
	json_decref(doc);
	return users;
}

/*
 * The password hash of custom_password_hash, or NULL with err: a known
 * algorithm, utf8 encoding, no separate salt, a value of its family.
 */
static const char *
custom_hash(const json_t *c, char *err, size_t errsz)
{
	const json_t	*h = json_object_get(c, "hash");
	const char	*alg = sval(c, "algorithm"), *v = sval(h, "value");
	const char	*enc = sval(h, "encoding");
	size_t		 i;

	if (alg == NULL || !json_is_object(h) || v == NULL) {
		snprintf(err, errsz, "custom_password_hash needs algorithm "
		    "and hash.value strings");
		return NULL;
	}
	for (i = 0; i < A0__MAX && strcmp(alg, algs[i].name) != 0; i++)
		continue;
	if (i == A0__MAX) {
		snprintf(err, errsz, "custom_password_hash algorithm \"%.32s\" "
		    "cannot be verified by latchkey (it verifies " SUPPORTED
		    "); the user would have to reset the password", alg);
		return NULL;
	}
	if ((enc != NULL && strcmp(enc, "utf8") != 0) ||
	    json_object_get(h, "salt") != NULL) {
		snprintf(err, errsz, "custom_password_hash %s: hash.encoding "
		    "must be utf8 and hash.salt absent (the value carries "
		    "its salt)", alg);
		return NULL;
	}
	if (algs[i].scheme != NULL &&
	    strncasecmp(v, algs[i].scheme, strlen(algs[i].scheme)) == 0)
		v += strlen(algs[i].scheme);
	else if (algs[i].scheme != NULL)
		v = "";
	if (!hash_in(v, algs[i].fmts)) {
		snprintf(err, errsz, "custom_password_hash %s: hash.value is "
		    "not in a form latchkey verifies (%s)", alg,
		    i == A0_LDAP ? "{CRYPT}$2b$, {CRYPT}$6$, {CRYPT}$5$ or "
		    "{CRYPT}$y$" : i == A0_BCRYPT ? "$2a$, $2b$ or $2y$" :
		    "$argon2id$ or $argon2i$");
		return NULL;
	}
	return v;
}

/*
 * The user's password hash into out: password_hash (Auth0: bcrypt; the
 * other crypt(3) forms hash_verify() knows are accepted as well) or
 * custom_password_hash, never both.  0 (also when there is none), -1.
 */
static int
user_hash(const json_t *in, json_t *out, char *err, size_t errsz)
{
	const json_t	*ph = json_object_get(in, "password_hash");
	const json_t	*ch = json_object_get(in, "custom_password_hash");
	const char	*v;

	if (ph != NULL && ch != NULL) {
		snprintf(err, errsz, "password_hash and custom_password_hash "
		    "are mutually exclusive");
		return -1;
	}
	if (ph != NULL) {
		if ((v = json_string_value(ph)) == NULL ||
		    !hash_in(v, HASH_FMTS_CRYPT)) {
			snprintf(err, errsz, "password_hash is not a bcrypt "
			    "($2a$, $2b$, $2y$), sha-crypt ($6$, $5$) or "
			    "yescrypt ($y$) hash");
			return -1;
		}
	} else if (ch != NULL) {
		if (!json_is_object(ch)) {
			snprintf(err, errsz, "custom_password_hash: not an "
			    "object");
			return -1;
		}
		if ((v = custom_hash(ch, err, errsz)) == NULL)
			return -1;
	} else
		return 0;
	return json_object_set_new(out, "password_hash", json_string(v));
}

/*
 * user_id: Auth0's "auth0|<id>" is kept; a bare "<id>" (the bulk import
 * schema's form) becomes "auth0|<id>"; another provider's id is not a
 * database user.  Absent: latchkeyctl generates one.
 */
static int
user_id(const json_t *in, json_t *out, char *err, size_t errsz)
{
	const json_t	*v = json_object_get(in, "user_id");
	const char	*id = json_string_value(v), *bar;

	if (v == NULL)
		return 0;
	if (id == NULL || *id == '\0') {
		snprintf(err, errsz, "user_id: not a non-empty string");
		return -1;
	}
	if ((bar = strchr(id, '|')) == NULL)
		return json_object_set_new(out, "user_id",
		    json_sprintf("auth0|%s", id));
	if ((size_t)(bar - id) != strlen("auth0") ||
	    strncmp(id, "auth0", 5) != 0 || bar[1] == '\0') {
		snprintf(err, errsz, "user_id %.64s: not an auth0| (database) "
		    "user", id);
		return -1;
	}
	return json_object_set_new(out, "user_id", json_string(id));
}

int
auth0_user_convert(const json_t *in, const char *connection, json_t **out,
    char *err, size_t errsz)
{
	json_t		*u;
	const json_t	*v;
	size_t		 i;

	*out = NULL;
	if ((u = json_pack("{ss}", "connection", connection)) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	for (i = 0; copied[i] != NULL; i++)
		if ((v = json_object_get(in, copied[i])) != NULL &&
		    !json_is_null(v))
			json_object_set_new(u, copied[i], json_deep_copy(v));
	if (user_id(in, u, err, errsz) == -1 ||
	    user_hash(in, u, err, errsz) == -1) {
		json_decref(u);
		return -1;
	}
	*out = u;
	return 0;
}
