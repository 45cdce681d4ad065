/*
 * Request bodies: one declared table of fields serves both
 * application/x-www-form-urlencoded and application/json, and fills one
 * struct params of bounded, NUL-free strings.  Nothing after this file
 * reads the raw body.
 *
 * Rules (docs/COMPAT.md 7.1, 7.2): unknown fields are ignored; a field given
 * twice is 400; a JSON field that is not a string is 400 (null counts as
 * absent); NUL bytes and invalid %-encoding are 400.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "extern.h"

struct field_def {
	const char	*name;
	size_t		 max;	/* longest accepted value, bytes */
};

static const struct field_def fields[F__MAX] = {
	[F_GRANT_TYPE] =		{ "grant_type", 128 },
	[F_CLIENT_ID] =			{ "client_id", 128 },
	[F_CLIENT_SECRET] =		{ "client_secret", 512 },
	[F_CLIENT_ASSERTION] =		{ "client_assertion", 8192 },
	[F_CLIENT_ASSERTION_TYPE] =	{ "client_assertion_type", 128 },
	[F_USERNAME] =			{ "username", 512 },
	[F_PASSWORD] =			{ "password", 1024 },
	[F_AUDIENCE] =			{ "audience", 512 },
	[F_SCOPE] =			{ "scope", 4096 },
	[F_REALM] =			{ "realm", 256 },
	[F_CONNECTION] =		{ "connection", 256 },
	[F_DEVICE] =			{ "device", 256 },
	[F_ID_TOKEN] =			{ "id_token", 8192 },
	[F_REFRESH_TOKEN] =		{ "refresh_token", 512 },
	[F_OTP] =			{ "otp", 64 },
	[F_TOKEN] =			{ "token", 8192 },
	[F_TOKEN_TYPE_HINT] =		{ "token_type_hint", 64 },
	[F_EMAIL] =			{ "email", 320 },
	[F_PHONE_NUMBER] =		{ "phone_number", 32 },
	[F_SEND] =			{ "send", 16 },
	[F_AUTHPARAMS] =		{ "authParams", 4096 },
	[F_RESOURCE] =			{ "resource", 512 },
	[F_MFA_TOKEN] =			{ "mfa_token", MFA_SEAL_MAX },
	[F_RECOVERY_CODE] =		{ "recovery_code", 64 },
	[F_AUTHENTICATOR_TYPES] =	{ "authenticator_types", 256 },
	[F_OOB_CHANNELS] =		{ "oob_channels", 256 },
	[F_OOB_CODE] =			{ "oob_code", MFA_SEAL_MAX },
	[F_BINDING_CODE] =		{ "binding_code", 64 },
	[F_CHALLENGE_TYPE] =		{ "challenge_type", 64 },
	[F_AUTHENTICATOR_ID] =		{ "authenticator_id", 128 },
};

/*
 * The fields whose value is a JSON object or array, kept as its compact
 * text (a form body cannot carry one), with the error for any other type
 * ("%s": the JSON type).  Every other field is a string.
 */
struct object_field_def {
	enum field	 f;
	json_type	 type;		/* JSON_OBJECT or JSON_ARRAY */
	enum oerr	 typerr;
};
static const struct object_field_def object_fields[] = {
	/* /passwordless/start (docs/COMPAT.md 2.1, 2.5). */
	{ F_AUTHPARAMS, JSON_OBJECT, OERR_PWL_AUTHPARAMS },
	/* /mfa/associate (docs/COMPAT.md 13.3). */
	{ F_AUTHENTICATOR_TYPES, JSON_ARRAY, OERR_MFA_TYPES },
	{ F_OOB_CHANNELS, JSON_ARRAY, OERR_MFA_CHANNELS },
};

/* The object_fields row of f, or NULL when f is a string field. */
static const struct object_field_def *
object_field(enum field f)
{
	size_t	 i;

	for (i = 0; i < sizeof(object_fields) / sizeof(object_fields[0]); i++)
		if (object_fields[i].f == f)
			return &object_fields[i];
	return NULL;
}

enum ctype { CT_FORM, CT_JSON, CT_OTHER };

const char *
field_name(enum field f)
{
	return fields[f].name;
}

void
params_init(struct params *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->store);
}

void
params_clear(struct params *p)
{
	size_t	 i;

	for (i = 0; i < F__MAX; i++) {
		if (p->owned[i] != NULL) {
			OPENSSL_cleanse(p->owned[i], p->len[i]);
			free(p->owned[i]);
		}
	}
	buf_clear(&p->store);
	params_init(p);
}

/* The field named by the n bytes at name that the mask accepts, or F__MAX. */
static enum field
field_find(const char *name, size_t n, uint64_t mask)
{
	size_t	 i;

	for (i = 0; i < F__MAX; i++)
		if ((mask & FIELD_BIT(i)) && strlen(fields[i].name) == n &&
		    memcmp(fields[i].name, name, n) == 0)
			return (enum field)i;
	return F__MAX;
}

/* Media type of a Content-Type value, parameters (charset) ignored. */
static enum ctype
ctype_parse(const char *ct)
{
	size_t	 n;

	if (ct == NULL)
		return CT_OTHER;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	if (n == 16 && strncasecmp(ct, "application/json", n) == 0)
		return CT_JSON;
	if (n == 33 && strncasecmp(ct, "application/x-www-form-urlencoded", n) == 0)
		return CT_FORM;
	return CT_OTHER;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

long
decode_pct(const char *src, size_t srcsz, char *dst, int plus_is_space)
{
	size_t	 i, o = 0;
	int	 hi, lo;

	for (i = 0; i < srcsz; i++) {
		if (src[i] == '\0')
			return -1;
		if (src[i] == '+' && plus_is_space) {
			dst[o++] = ' ';
			continue;
		}
		if (src[i] != '%') {
			dst[o++] = src[i];
			continue;
		}
		if (i + 2 >= srcsz)
			return -1;	/* truncated escape */
		if ((hi = hexval((unsigned char)src[i + 1])) < 0 ||
		    (lo = hexval((unsigned char)src[i + 2])) < 0)
			return -1;
		if (hi == 0 && lo == 0)
			return -1;	/* %00: no NUL bytes in values */
		dst[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	dst[o] = '\0';
	return (long)o;
}

/*
 * 1 when the n bytes at s are well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF).  JSON bodies get this
 * from jansson; form values are checked here, because every value may be
 * echoed in a JSON error or token, which jansson refuses to build from
 * anything else.
 */
static int
utf8_valid(const unsigned char *s, size_t n)
{
	size_t		 i = 0, k, len;
	uint32_t	 cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			len = 2, cp = s[i] & 0x1f;
		else if ((s[i] & 0xf0) == 0xe0)
			len = 3, cp = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			len = 4, cp = s[i] & 0x07;
		else
			return 0;
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/* Store value v (n bytes) for field f; checks duplicates and length. */
static int
params_set(struct params *p, enum field f, const char *v, size_t n,
    struct lk_resp *resp)
{
	if (p->v[f] != NULL)
		return oerr_write(resp, OERR_DUPLICATE_PARAM, fields[f].name), -1;
	if (n > fields[f].max)
		return oerr_write(resp, OERR_PARAM_TOO_LONG, fields[f].name), -1;
	if ((p->owned[f] = malloc(n + 1)) == NULL)
		return oerr_write(resp, OERR_SERVER_ERROR, NULL), -1;
	memcpy(p->owned[f], v, n);
	p->owned[f][n] = '\0';
	p->v[f] = p->owned[f];
	p->len[f] = n;
	return 0;
}

/*
 * application/x-www-form-urlencoded (WHATWG URL "application/x-www-form-
 * urlencoded parsing", strict: bad %-escapes are errors, not literals).
 */
static int
decode_form(const struct lk_req *req, uint64_t mask, struct params *p,
    struct lk_resp *resp)
{
	const char	*s = req->body, *end = req->body + req->bodysz;
	const char	*amp, *eq;
	char		*tmp;
	long		 nlen, vlen;
	enum field	 f;
	const struct object_field_def *of;
	int		 rc = -1;

	if ((tmp = malloc(req->bodysz + 1)) == NULL)
		return oerr_write(resp, OERR_SERVER_ERROR, NULL), -1;
	for (; s < end; s = amp + 1) {
		if ((amp = memchr(s, '&', (size_t)(end - s))) == NULL)
			amp = end;
		if (amp == s)
			continue;
		if ((eq = memchr(s, '=', (size_t)(amp - s))) == NULL)
			eq = amp;
		if ((nlen = decode_pct(s, (size_t)(eq - s), tmp, 1)) < 0) {
			oerr_write(resp, OERR_MALFORMED_BODY,
			    "invalid percent-encoding or NUL byte");
			goto out;
		}
		f = field_find(tmp, (size_t)nlen, mask);
		vlen = eq < amp ? decode_pct(eq + 1, (size_t)(amp - eq - 1), tmp, 1) : 0;
		if (vlen < 0) {
			oerr_write(resp, OERR_MALFORMED_BODY,
			    "invalid percent-encoding or NUL byte");
			goto out;
		}
		if (f != F__MAX && (of = object_field(f)) != NULL) {
			oerr_write(resp, of->typerr, "string");
			goto out;
		}
		if (f != F__MAX && !utf8_valid((unsigned char *)tmp, (size_t)vlen)) {
			oerr_write(resp, OERR_MALFORMED_BODY, "invalid UTF-8");
			goto out;
		}
		if (f != F__MAX && params_set(p, f, tmp, (size_t)vlen, resp) == -1)
			goto out;
		if (amp == end)
			break;
	}
	rc = 0;
out:
	OPENSSL_cleanse(tmp, req->bodysz + 1);
	free(tmp);
	return rc;
}

/* The JSON type name of v, as a schema validator says it. */
static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	default:
		return "boolean";
	}
}

/* An object or array field: v must be of its type; its compact text is
 * kept. */
static int
object_set(struct params *p, const struct object_field_def *of,
    const json_t *v, struct lk_resp *resp)
{
	char	*text;
	int	 rc;

	if (json_typeof(v) != of->type)
		return oerr_write(resp, of->typerr, json_type_name(v)), -1;
	if ((text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return oerr_write(resp, OERR_SERVER_ERROR, NULL), -1;
	rc = params_set(p, of->f, text, strlen(text), resp);
	free(text);
	return rc;
}

/* The members whose values are secrets: cleansed before they are freed. */
static const enum field secret_fields[] = {
	F_PASSWORD, F_CLIENT_SECRET, F_CLIENT_ASSERTION, F_REFRESH_TOKEN,
	F_OTP, F_TOKEN, F_ID_TOKEN, F_MFA_TOKEN, F_RECOVERY_CODE, F_OOB_CODE,
	F_BINDING_CODE,
};

/*
 * Wipe the secret members' string values in the parsed tree before it is
 * freed: json_decref() frees them without clearing.  json_string_value()
 * returns const, but the buffer belongs to the tree, which is ours and
 * about to go: writing to it through a cast is sound.
 */
static void
json_wipe_secrets(json_t *root)
{
	json_t	*v;
	size_t	 i;

	for (i = 0; i < sizeof(secret_fields) / sizeof(secret_fields[0]); i++)
		if ((v = json_object_get(root, fields[secret_fields[i]].name))
		    != NULL && json_is_string(v))
			OPENSSL_cleanse((char *)json_string_value(v),
			    json_string_length(v));
}

/* application/json: one object; known members must be strings (or null),
 * FK_OBJECT members objects. */
static int
decode_json(const struct lk_req *req, uint64_t mask, struct params *p,
    struct lk_resp *resp)
{
	json_error_t	 err;
	json_t		*root, *v;
	size_t		 i;
	const struct object_field_def *of;
	int		 rc = -1;

	if (memchr(req->body, '\0', req->bodysz) != NULL)
		return oerr_write(resp, OERR_MALFORMED_BODY, "NUL byte"), -1;
	root = json_loadb(req->body, req->bodysz, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL) {
		if (strstr(err.text, "duplicate") != NULL)
			oerr_write(resp, OERR_MALFORMED_BODY, "duplicate member");
		else
			oerr_write(resp, OERR_MALFORMED_BODY, "invalid JSON");
		return -1;
	}
	if (!json_is_object(root)) {
		oerr_write(resp, OERR_MALFORMED_BODY, "expected a JSON object");
		goto out;
	}
	for (i = 0; i < F__MAX; i++) {
		if (!(mask & FIELD_BIT(i)) ||
		    (v = json_object_get(root, fields[i].name)) == NULL ||
		    json_is_null(v))
			continue;
		if ((of = object_field((enum field)i)) != NULL) {
			if (object_set(p, of, v, resp) == -1)
				goto out;
			continue;
		}
		if (!json_is_string(v)) {
			oerr_write(resp, OERR_PARAM_TYPE, fields[i].name);
			goto out;
		}
		/* jansson rejects \u0000 unless asked; check anyway. */
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			oerr_write(resp, OERR_MALFORMED_BODY, "NUL byte");
			goto out;
		}
		if (params_set(p, (enum field)i, json_string_value(v),
		    json_string_length(v), resp) == -1)
			goto out;
	}
	rc = 0;
out:
	if (json_is_object(root))
		json_wipe_secrets(root);
	json_decref(root);
	return rc;
}

int
decode_body(const struct lk_req *req, uint64_t mask, struct params *p,
    struct lk_resp *resp)
{
	int	 rc;

	if (req->body_too_large)
		return oerr_write(resp, OERR_BODY_TOO_LARGE, NULL), -1;
	switch (ctype_parse(req->content_type)) {
	case CT_FORM:
		rc = decode_form(req, mask, p, resp);
		break;
	case CT_JSON:
		rc = decode_json(req, mask, p, resp);
		break;
	default:
		return oerr_write(resp, OERR_BAD_CONTENT_TYPE, NULL), -1;
	}
	if (rc == -1)
		params_clear(p);
	return rc;
}
