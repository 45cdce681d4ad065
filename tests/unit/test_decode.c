/*
 * test_decode: request bodies through the one field table (lib/http/decode.c):
 * both content types, the exact wire errors, the per-field length bounds,
 * params_clear, and decode_pct on its own.
 *
 * Every row of a table below runs as its own named test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>

#include <cmocka.h>

#include "extern.h"

#define NOW	1700000000	/* the fixed clock */
#define ALL	((1u << F__MAX) - 1)
#define S(x)	((x) != NULL ? (x) : "(null)")
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define FORM	"application/x-www-form-urlencoded"
#define JSON	"application/json"

/* The wire texts of lib/http/oerr.c that decoding can produce. */
#define E_PCT	"Malformed request body: invalid percent-encoding or NUL byte"
#define E_NUL	"Malformed request body: NUL byte"
#define E_JSON	"Malformed request body: invalid JSON"
#define E_ROOT	"Malformed request body: expected a JSON object"
#define E_DUPJ	"Malformed request body: duplicate member"
#define E_UTF8	"Malformed request body: invalid UTF-8"
#define E_CT	"Content-Type must be application/json or " \
		"application/x-www-form-urlencoded"
#define E_413	"Request body too large"

struct want {
	enum field	 f;
	const char	*v;		/* NULL ends the list */
};

struct dcase {
	const char	*name;
	const char	*ctype;
	const char	*body;
	size_t		 bodysz;	/* 0: strlen(body) */
	uint64_t	 mask;
	int		 status;	/* 0: decodes */
	const char	*desc;		/* error_description when status != 0 */
	struct want	 want[5];	/* fields expected when status == 0 */
};

static const struct dcase cases[] = {
	/* application/x-www-form-urlencoded */
	{ "form decodes each named field",
	  FORM, "grant_type=password&username=alice&password=s3cret", 0, ALL,
	  0, NULL, { { F_GRANT_TYPE, "password" }, { F_USERNAME, "alice" },
	  { F_PASSWORD, "s3cret" } } },
	{ "form plus decodes to a space",
	  FORM, "username=a+b", 0, ALL, 0, NULL, { { F_USERNAME, "a b" } } },
	{ "form %20 decodes to a space",
	  FORM, "username=a%20b", 0, ALL, 0, NULL, { { F_USERNAME, "a b" } } },
	{ "form %2B decodes to a literal plus",
	  FORM, "password=a%2Bb", 0, ALL, 0, NULL, { { F_PASSWORD, "a+b" } } },
	{ "form hex escapes are case-insensitive",
	  FORM, "scope=%c3%A9%4a", 0, ALL, 0, NULL,
	  { { F_SCOPE, "\xc3\xa9J" } } },
	{ "form 4-byte UTF-8 decodes",
	  FORM, "password=%F0%9F%94%91", 0, ALL, 0, NULL,
	  { { F_PASSWORD, "\xf0\x9f\x94\x91" } } },
	{ "form %25 is decoded once only",
	  FORM, "password=%2541", 0, ALL, 0, NULL, { { F_PASSWORD, "%41" } } },
	{ "form field names are %-decoded before lookup",
	  FORM, "client%5Fid=x", 0, ALL, 0, NULL, { { F_CLIENT_ID, "x" } } },
	{ "form equals sign inside a value is kept",
	  FORM, "scope=a=b", 0, ALL, 0, NULL, { { F_SCOPE, "a=b" } } },
	{ "form semicolon is not a separator",
	  FORM, "scope=a;username=b", 0, ALL, 0, NULL,
	  { { F_SCOPE, "a;username=b" } } },
	{ "form empty value is present and empty",
	  FORM, "scope=", 0, ALL, 0, NULL, { { F_SCOPE, "" } } },
	{ "form name without equals sign is present and empty",
	  FORM, "scope", 0, ALL, 0, NULL, { { F_SCOPE, "" } } },
	{ "form empty pairs are skipped",
	  FORM, "&&scope=a&&", 0, ALL, 0, NULL, { { F_SCOPE, "a" } } },
	{ "form empty body decodes to no fields",
	  FORM, "", 0, ALL, 0, NULL, { { 0, NULL } } },
	{ "form charset parameter is accepted",
	  FORM "; charset=UTF-8", "scope=a", 0, ALL, 0, NULL,
	  { { F_SCOPE, "a" } } },
	{ "form charset parameter without a space is accepted (requests-oauthlib)",
	  FORM ";charset=UTF-8", "scope=a", 0, ALL, 0, NULL,
	  { { F_SCOPE, "a" } } },
	{ "form media type is case-insensitive",
	  "Application/X-WWW-Form-URLEncoded", "scope=a", 0, ALL, 0, NULL,
	  { { F_SCOPE, "a" } } },
	{ "form leading blanks before the media type are accepted",
	  " \t" FORM, "scope=a", 0, ALL, 0, NULL, { { F_SCOPE, "a" } } },
	{ "form unknown fields are ignored",
	  FORM, "foo=bar&scope=a&foo=baz", 0, ALL, 0, NULL,
	  { { F_SCOPE, "a" } } },
	{ "form fields outside the mask are ignored",
	  FORM, "grant_type=password&scope=a", 0, FIELD_BIT(F_SCOPE), 0, NULL,
	  { { F_SCOPE, "a" } } },
	{ "form fields outside the mask may repeat",
	  FORM, "grant_type=a&grant_type=b", 0, FIELD_BIT(F_SCOPE), 0, NULL,
	  { { 0, NULL } } },
	{ "form empty mask accepts no field",
	  FORM, "grant_type=a&scope=b", 0, 0, 0, NULL, { { 0, NULL } } },
	{ "form duplicate field is 400",
	  FORM, "scope=a&scope=b", 0, ALL, 400,
	  "Parameter scope must not be given more than once", { { 0, NULL } } },
	{ "form duplicate field with equal values is 400",
	  FORM, "client_id=x&client_id=x", 0, ALL, 400,
	  "Parameter client_id must not be given more than once",
	  { { 0, NULL } } },
	{ "form duplicate field with empty values is 400",
	  FORM, "scope=&scope=", 0, ALL, 400,
	  "Parameter scope must not be given more than once", { { 0, NULL } } },
	{ "form duplicate through a %-encoded name is 400",
	  FORM, "scope=a&sc%6Fpe=b", 0, ALL, 400,
	  "Parameter scope must not be given more than once", { { 0, NULL } } },
	{ "form %zz is 400",
	  FORM, "scope=%zz", 0, ALL, 400, E_PCT, { { 0, NULL } } },
	{ "form truncated %4 is 400",
	  FORM, "scope=%4", 0, ALL, 400, E_PCT, { { 0, NULL } } },
	{ "form trailing % is 400",
	  FORM, "scope=a%", 0, ALL, 400, E_PCT, { { 0, NULL } } },
	{ "form truncated escape before the next pair is 400",
	  FORM, "scope=%4&username=u", 0, ALL, 400, E_PCT, { { 0, NULL } } },
	{ "form %00 is 400",
	  FORM, "password=a%00b", 0, ALL, 400, E_PCT, { { 0, NULL } } },
	{ "form raw NUL byte in a value is 400",
	  FORM, "password=a\0b", 12, ALL, 400, E_PCT, { { 0, NULL } } },
	{ "form raw NUL byte in a name is 400",
	  FORM, "sc\0pe=a", 7, ALL, 400, E_PCT, { { 0, NULL } } },
	{ "form invalid escape in a name is 400",
	  FORM, "sc%zzope=a", 0, ALL, 400, E_PCT, { { 0, NULL } } },
	{ "form unknown field with invalid escape is 400",
	  FORM, "foo=%zz&scope=a", 0, ALL, 400, E_PCT, { { 0, NULL } } },
	/* Form values must be UTF-8, as JSON strings are: every value may be
	 * echoed in a JSON error ("Unsupported grant type: %s"). */
	{ "form value that is not UTF-8 is 400",
	  FORM, "grant_type=%ff", 0, ALL, 400, E_UTF8, { { 0, NULL } } },
	{ "form truncated UTF-8 sequence is 400",
	  FORM, "username=a%C3", 0, ALL, 400, E_UTF8, { { 0, NULL } } },
	{ "form overlong UTF-8 is 400",
	  FORM, "username=%C0%AF", 0, ALL, 400, E_UTF8, { { 0, NULL } } },
	{ "form UTF-8 encoded surrogate is 400",
	  FORM, "password=%ED%A0%80", 0, ALL, 400, E_UTF8, { { 0, NULL } } },
	{ "form UTF-8 above U+10FFFF is 400",
	  FORM, "password=%F4%90%80%80", 0, ALL, 400, E_UTF8, { { 0, NULL } } },
	{ "form unknown field that is not UTF-8 is ignored",
	  FORM, "foo=%ff&scope=a", 0, ALL, 0, NULL, { { F_SCOPE, "a" } } },
	{ "form field outside the mask with %00 is 400",
	  FORM, "grant_type=%00&scope=a", 0, FIELD_BIT(F_SCOPE), 400, E_PCT,
	  { { 0, NULL } } },

	/* application/json */
	{ "json decodes each named member",
	  JSON, "{\"grant_type\":\"password\",\"username\":\"alice\","
	  "\"password\":\"s3cret\"}", 0, ALL, 0, NULL,
	  { { F_GRANT_TYPE, "password" }, { F_USERNAME, "alice" },
	  { F_PASSWORD, "s3cret" } } },
	{ "json string escapes are decoded",
	  JSON, "{\"username\":\"a\\u00e9\\\"b\\/\"}", 0, ALL, 0, NULL,
	  { { F_USERNAME, "a\xc3\xa9\"b/" } } },
	{ "json values are not %-decoded",
	  JSON, "{\"scope\":\"a%20b+c\"}", 0, ALL, 0, NULL,
	  { { F_SCOPE, "a%20b+c" } } },
	{ "json empty string is present and empty",
	  JSON, "{\"scope\":\"\"}", 0, ALL, 0, NULL, { { F_SCOPE, "" } } },
	{ "json empty object decodes to no fields",
	  JSON, " { } ", 0, ALL, 0, NULL, { { 0, NULL } } },
	{ "json charset parameter is accepted",
	  JSON "; charset=utf-8", "{\"scope\":\"a\"}", 0, ALL, 0, NULL,
	  { { F_SCOPE, "a" } } },
	{ "json media type is case-insensitive",
	  "APPLICATION/Json", "{\"scope\":\"a\"}", 0, ALL, 0, NULL,
	  { { F_SCOPE, "a" } } },
	{ "json unknown members of any type are ignored",
	  JSON, "{\"foo\":{\"a\":[1,true]},\"bar\":1,\"scope\":\"a\"}", 0, ALL,
	  0, NULL, { { F_SCOPE, "a" } } },
	{ "json null member counts as absent",
	  JSON, "{\"scope\":null,\"username\":\"u\"}", 0, ALL, 0, NULL,
	  { { F_USERNAME, "u" } } },
	{ "json members outside the mask are ignored whatever their type",
	  JSON, "{\"grant_type\":1,\"scope\":\"a\"}", 0, FIELD_BIT(F_SCOPE),
	  0, NULL, { { F_SCOPE, "a" } } },
	{ "json number member is 400",
	  JSON, "{\"scope\":1}", 0, ALL, 400,
	  "scope parameter must be a string", { { 0, NULL } } },
	{ "json real number member is 400",
	  JSON, "{\"username\":1.5}", 0, ALL, 400,
	  "username parameter must be a string", { { 0, NULL } } },
	{ "json array member is 400",
	  JSON, "{\"audience\":[\"a\"]}", 0, ALL, 400,
	  "audience parameter must be a string", { { 0, NULL } } },
	{ "json object member is 400",
	  JSON, "{\"password\":{}}", 0, ALL, 400,
	  "password parameter must be a string", { { 0, NULL } } },
	{ "json true member is 400",
	  JSON, "{\"client_id\":true}", 0, ALL, 400,
	  "client_id parameter must be a string", { { 0, NULL } } },
	{ "json false member is 400",
	  JSON, "{\"grant_type\":false}", 0, ALL, 400,
	  "grant_type parameter must be a string", { { 0, NULL } } },
	{ "json duplicate member is 400",
	  JSON, "{\"scope\":\"a\",\"scope\":\"b\"}", 0, ALL, 400, E_DUPJ,
	  { { 0, NULL } } },
	{ "json duplicate member with a null is 400",
	  JSON, "{\"scope\":null,\"scope\":\"b\"}", 0, ALL, 400, E_DUPJ,
	  { { 0, NULL } } },
	{ "json truncated object is 400",
	  JSON, "{\"scope\":\"a\"", 0, ALL, 400, E_JSON, { { 0, NULL } } },
	{ "json trailing garbage is 400",
	  JSON, "{\"scope\":\"a\"}x", 0, ALL, 400, E_JSON, { { 0, NULL } } },
	{ "json form body sent as json is 400",
	  JSON, "scope=a", 0, ALL, 400, E_JSON, { { 0, NULL } } },
	{ "json empty body is 400",
	  JSON, "", 0, ALL, 400, E_JSON, { { 0, NULL } } },
	{ "json root array is 400",
	  JSON, "[\"scope\"]", 0, ALL, 400, E_ROOT, { { 0, NULL } } },
	{ "json root string is 400",
	  JSON, "\"scope\"", 0, ALL, 400, E_JSON, { { 0, NULL } } },
	{ "json root number is 400",
	  JSON, "1", 0, ALL, 400, E_JSON, { { 0, NULL } } },
	{ "json escaped NUL in a value is 400",
	  JSON, "{\"password\":\"a\\u0000b\"}", 0, ALL, 400, E_JSON,
	  { { 0, NULL } } },
	{ "json raw NUL byte after the object is 400",
	  JSON, "{\"scope\":\"a\"}\0", 14, ALL, 400, E_NUL, { { 0, NULL } } },
	{ "json raw NUL byte inside a string is 400",
	  JSON, "{\"scope\":\"a\0\"}", 14, ALL, 400, E_NUL, { { 0, NULL } } },
	{ "json invalid UTF-8 is 400",
	  JSON, "{\"scope\":\"\xff\"}", 0, ALL, 400, E_JSON, { { 0, NULL } } },

	/* The content type */
	{ "missing content type is 400",
	  NULL, "scope=a", 0, ALL, 400, E_CT, { { 0, NULL } } },
	{ "empty content type is 400",
	  "", "scope=a", 0, ALL, 400, E_CT, { { 0, NULL } } },
	{ "text/plain is 400",
	  "text/plain", "scope=a", 0, ALL, 400, E_CT, { { 0, NULL } } },
	{ "multipart/form-data is 400",
	  "multipart/form-data; boundary=x", "scope=a", 0, ALL, 400, E_CT,
	  { { 0, NULL } } },
	{ "a media type that only starts with application/json is 400",
	  "application/jsonx", "{}", 0, ALL, 400, E_CT, { { 0, NULL } } },
	{ "application/json-patch+json is 400",
	  "application/json-patch+json", "{}", 0, ALL, 400, E_CT,
	  { { 0, NULL } } },
	{ "a form media type with a suffix is 400",
	  FORM "x", "scope=a", 0, ALL, 400, E_CT, { { 0, NULL } } },
};

/* Each declared field, its wire name and its maximum length in bytes. */
static const struct frow {
	enum field	 f;
	const char	*name;
	size_t		 max;
} frows[] = {
	{ F_GRANT_TYPE,			"grant_type",			128 },
	{ F_CLIENT_ID,			"client_id",			128 },
	{ F_CLIENT_SECRET,		"client_secret",		512 },
	{ F_CLIENT_ASSERTION,		"client_assertion",		8192 },
	{ F_CLIENT_ASSERTION_TYPE,	"client_assertion_type",	128 },
	{ F_USERNAME,			"username",			512 },
	{ F_PASSWORD,			"password",			1024 },
	{ F_AUDIENCE,			"audience",			512 },
	{ F_SCOPE,			"scope",			4096 },
	{ F_REALM,			"realm",			256 },
	{ F_CONNECTION,			"connection",			256 },
	{ F_DEVICE,			"device",			256 },
	{ F_ID_TOKEN,			"id_token",			8192 },
	{ F_REFRESH_TOKEN,		"refresh_token",		512 },
	{ F_OTP,			"otp",				64 },
	{ F_TOKEN,			"token",			8192 },
	{ F_TOKEN_TYPE_HINT,		"token_type_hint",		64 },
	{ F_EMAIL,			"email",			320 },
	{ F_PHONE_NUMBER,		"phone_number",			32 },
	{ F_SEND,			"send",				16 },
	{ F_RESOURCE,			"resource",			512 },
	{ F_MFA_TOKEN,			"mfa_token",			8000 },
	{ F_RECOVERY_CODE,		"recovery_code",		64 },
	{ F_OOB_CODE,			"oob_code",			8000 },
	{ F_BINDING_CODE,		"binding_code",			64 },
	{ F_CHALLENGE_TYPE,		"challenge_type",		64 },
	{ F_AUTHENTICATOR_ID,		"authenticator_id",		128 },
};

/* The object- and array-valued fields (decode.c object_fields): their
 * type error, a value and its compact text, and how a value too long
 * is built (open, x..., close: syntax bytes around the x's). */
static const struct orow {
	enum field	 f;
	const char	*name;
	size_t		 max;
	const char	*code;		/* the wrong-type error */
	const char	*fmt;		/* its description; %s: the JSON type */
	const char	*type;		/* its own JSON type */
	const char	*sample, *text;
	const char	*open, *close;
	size_t		 syntax;
} orows[] = {
	{ F_AUTHPARAMS, "authParams", 4096, "bad.authParams",
	  "error in authParams - invalid type: %s (expected object)",
	  "object", "{\"b\": 1, \"a\": \"x\"}", "{\"a\":\"x\",\"b\":1}",
	  "{\"k\": \"", "\"}", 8 },
	{ F_AUTHENTICATOR_TYPES, "authenticator_types", 256, "invalid_request",
	  "authenticator_types must be an array, not %s",
	  "array", "[\"otp\", \"oob\"]", "[\"otp\",\"oob\"]",
	  "[\"", "\"]", 4 },
	{ F_OOB_CHANNELS, "oob_channels", 256, "invalid_request",
	  "oob_channels must be an array, not %s",
	  "array", "[\"sms\"]", "[\"sms\"]", "[\"", "\"]", 4 },
};

_Static_assert(NELEM(frows) + NELEM(orows) == F__MAX,
    "a row for every declared field");

/* decode_pct on its own. */
static const struct pcase {
	const char	*name;
	const char	*src;
	size_t		 srcsz;		/* 0: strlen(src) */
	int		 plus;
	long		 rc;
	const char	*out;		/* when rc >= 0 */
} pcases[] = {
	{ "pct empty input decodes to an empty string", "", 0, 1, 0, "" },
	{ "pct plain text is copied", "abc", 0, 1, 3, "abc" },
	{ "pct plus is a space in form mode", "a+b", 0, 1, 3, "a b" },
	{ "pct plus is kept when not in form mode", "a+b", 0, 0, 3, "a+b" },
	{ "pct escapes decode", "%41%42", 0, 1, 2, "AB" },
	{ "pct lowercase and uppercase hex decode alike", "%4a%4A", 0, 1, 2,
	  "JJ" },
	{ "pct %2B is a plus in form mode", "%2B", 0, 1, 1, "+" },
	{ "pct high bytes decode", "%ff%C3%a9", 0, 1, 3, "\xff\xc3\xa9" },
	{ "pct control characters other than NUL decode", "%0A%09", 0, 1, 2,
	  "\n\t" },
	{ "pct %25 decodes once", "%2541", 0, 1, 3, "%41" },
	{ "pct %zz is refused", "%zz", 0, 1, -1, NULL },
	{ "pct bad low nibble is refused", "%4g", 0, 1, -1, NULL },
	{ "pct bad high nibble is refused", "%g4", 0, 1, -1, NULL },
	{ "pct truncated %4 is refused", "%4", 0, 1, -1, NULL },
	{ "pct lone % is refused", "%", 0, 1, -1, NULL },
	{ "pct trailing % is refused", "abc%", 0, 1, -1, NULL },
	{ "pct %% is refused", "%%41", 0, 1, -1, NULL },
	{ "pct %00 is refused", "a%00", 0, 1, -1, NULL },
	{ "pct raw NUL is refused", "a\0b", 3, 1, -1, NULL },
	{ "pct stops at srcsz", "abcdef", 3, 1, 3, "abc" },
	{ "pct escape cut by srcsz is refused", "%41", 2, 1, -1, NULL },
};

/* ------------------------------------------------------------------ */

static void
req_make(struct lk_req *req, const char *ctype, const char *body,
    size_t bodysz)
{
	memset(req, 0, sizeof(*req));
	req->method = HTTP_POST;
	req->method_str = "POST";
	req->path = "/oauth/token";
	req->content_type = ctype;
	req->body = body;
	req->bodysz = bodysz;
	req->now = NOW;
}

/* Decode a copy of the body in a buffer of exactly bodysz bytes, so the
 * sanitizers see any read past the end. */
static int
decode(const char *ctype, const char *body, size_t bodysz, uint64_t mask,
    struct params *p, struct lk_resp *resp)
{
	struct lk_req	 req;
	char		*copy;
	int		 rc;

	copy = malloc(bodysz > 0 ? bodysz : 1);
	assert_non_null(copy);
	memcpy(copy, body, bodysz);
	req_make(&req, ctype, copy, bodysz);
	rc = decode_body(&req, mask, p, resp);
	free(copy);
	return rc;
}

/* resp holds exactly {"error": code, "error_description": desc}. */
static void
assert_wire_error(const struct lk_resp *resp, int status, const char *code,
    const char *desc)
{
	json_error_t	 err;
	json_t		*j;

	assert_int_equal(resp->status, status);
	assert_non_null(resp->body.p);
	j = json_loadb(resp->body.p, resp->body.len, 0, &err);
	assert_non_null(j);
	assert_true(json_is_object(j));
	assert_int_equal(json_object_size(j), 2);
	assert_string_equal(S(json_string_value(json_object_get(j, "error"))),
	    code);
	assert_string_equal(S(json_string_value(json_object_get(j,
	    "error_description"))), desc);
	json_decref(j);
	assert_string_equal(resp->outcome, code);
}

/* No field set, nothing owned. */
static void
assert_params_empty(const struct params *p)
{
	size_t	 i;

	for (i = 0; i < F__MAX; i++) {
		assert_null(p->v[i]);
		assert_null(p->owned[i]);
		assert_int_equal(p->len[i], 0);
	}
	assert_null(p->store.p);
	assert_int_equal(p->store.len, 0);
}

/* ------------------------------------------------------------------ */

static void
decode_case(void **state)
{
	const struct dcase	*c = *state;
	const struct want	*w;
	struct params		 p;
	struct lk_resp		 resp;
	size_t			 i, sz;
	int			 rc, expected;

	sz = c->bodysz != 0 ? c->bodysz : strlen(c->body);
	params_init(&p);
	resp_init(&resp);
	rc = decode(c->ctype, c->body, sz, c->mask, &p, &resp);
	if (c->status != 0) {
		assert_int_equal(rc, -1);
		assert_wire_error(&resp, c->status, "invalid_request", c->desc);
		assert_params_empty(&p);
		resp_clear(&resp);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(resp.body.len, 0);
	for (i = 0; i < F__MAX; i++) {
		expected = 0;
		for (w = c->want; w->v != NULL; w++) {
			if (w->f != (enum field)i)
				continue;
			expected = 1;
			assert_non_null(p.v[i]);
			assert_string_equal(p.v[i], w->v);
			assert_int_equal(p.len[i], strlen(w->v));
		}
		if (!expected)
			assert_null(p.v[i]);
	}
	params_clear(&p);
	resp_clear(&resp);
}

/* A body giving field name the value of n bytes "a", in ctype's encoding. */
static void
body_sized(struct buf *b, int json, const char *name, size_t n)
{
	size_t	 i;

	buf_reset(b);
	assert_int_equal(buf_printf(b, json ? "{\"%s\":\"" : "%s=", name), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(buf_append(b, "a", 1), 0);
	if (json)
		assert_int_equal(buf_puts(b, "\"}"), 0);
}

static void
field_bound(void **state)
{
	const struct frow	*r = *state;
	struct params		 p;
	struct lk_resp		 resp;
	struct buf		 b;
	char			 desc[128];
	int			 json;

	assert_string_equal(field_name(r->f), r->name);
	snprintf(desc, sizeof(desc), "%s parameter is too long", r->name);
	buf_init(&b);
	for (json = 0; json <= 1; json++) {
		params_init(&p);
		resp_init(&resp);
		body_sized(&b, json, r->name, r->max);
		assert_int_equal(decode(json ? JSON : FORM, b.p, b.len, ALL,
		    &p, &resp), 0);
		assert_non_null(p.v[r->f]);
		assert_int_equal(p.len[r->f], r->max);
		assert_int_equal(strlen(p.v[r->f]), r->max);
		params_clear(&p);
		resp_clear(&resp);

		params_init(&p);
		resp_init(&resp);
		body_sized(&b, json, r->name, r->max + 1);
		assert_int_equal(decode(json ? JSON : FORM, b.p, b.len, ALL,
		    &p, &resp), -1);
		assert_wire_error(&resp, 400, "invalid_request", desc);
		assert_params_empty(&p);
		resp_clear(&resp);
	}
	buf_clear(&b);
}

static void
pct_case(void **state)
{
	const struct pcase	*c = *state;
	size_t			 sz;
	char			*src, *dst;
	long			 rc;

	sz = c->srcsz != 0 ? c->srcsz : strlen(c->src);
	/* Exactly sized buffers: no NUL after src, dst of srcsz + 1. */
	src = malloc(sz > 0 ? sz : 1);
	dst = malloc(sz + 1);
	assert_non_null(src);
	assert_non_null(dst);
	memcpy(src, c->src, sz);
	memset(dst, 'X', sz + 1);
	rc = decode_pct(src, sz, dst, c->plus);
	assert_int_equal(rc, c->rc);
	if (c->rc >= 0) {
		assert_memory_equal(dst, c->out, (size_t)c->rc);
		assert_int_equal(dst[c->rc], '\0');
	}
	free(src);
	free(dst);
}

/* ------------------------------------------------------------------ */

static void
body_too_large_is_413_before_anything_else(void **state)
{
	struct lk_req	 req;
	struct params	 p;
	struct lk_resp	 resp;
	const char	*cts[] = { JSON, FORM, "text/plain", NULL };
	size_t		 i;

	for (i = 0; i < sizeof(cts) / sizeof(cts[0]); i++) {
		params_init(&p);
		resp_init(&resp);
		req_make(&req, cts[i], "", 0);
		req.body_too_large = 1;
		assert_int_equal(decode_body(&req, ALL, &p, &resp), -1);
		assert_wire_error(&resp, 413, "invalid_request", E_413);
		assert_params_empty(&p);
		resp_clear(&resp);
	}
}

/* Unknown fields are ignored, so no field maximum applies to them. */
static void
unknown_fields_are_not_length_limited(void **state)
{
	struct params	 p;
	struct lk_resp	 resp;
	struct buf	 b;
	int		 json;

	buf_init(&b);
	for (json = 0; json <= 1; json++) {
		params_init(&p);
		resp_init(&resp);
		/* {"x_unknown":"aaa...","scope":"s"} or x_unknown=aaa...&scope=s */
		body_sized(&b, json, "x_unknown", 20000);
		if (json) {
			b.len -= 1;
			b.p[b.len] = '\0';
			assert_int_equal(buf_puts(&b, ",\"scope\":\"s\"}"), 0);
		} else
			assert_int_equal(buf_puts(&b, "&scope=s"), 0);
		assert_int_equal(decode(json ? JSON : FORM, b.p, b.len, ALL,
		    &p, &resp), 0);
		assert_string_equal(S(p.v[F_SCOPE]), "s");
		params_clear(&p);
		resp_clear(&resp);
	}
	buf_clear(&b);
}

/* The bound is on the decoded value: 4096 "%41" escapes (12288 bytes on
 * the wire) are a 4096-byte scope. */
static void
form_length_is_measured_after_decoding(void **state)
{
	struct params	 p;
	struct lk_resp	 resp;
	struct buf	 b;
	size_t		 i;

	buf_init(&b);
	params_init(&p);
	resp_init(&resp);
	assert_int_equal(buf_puts(&b, "scope="), 0);
	for (i = 0; i < 4096; i++)
		assert_int_equal(buf_puts(&b, "%41"), 0);
	assert_int_equal(decode(FORM, b.p, b.len, ALL, &p, &resp), 0);
	assert_int_equal(p.len[F_SCOPE], 4096);
	assert_int_equal(p.v[F_SCOPE][4095], 'A');
	params_clear(&p);

	assert_int_equal(buf_puts(&b, "+"), 0);
	assert_int_equal(decode(FORM, b.p, b.len, ALL, &p, &resp), -1);
	assert_wire_error(&resp, 400, "invalid_request",
	    "scope parameter is too long");
	resp_clear(&resp);
	buf_clear(&b);
}

static void
params_clear_leaves_nothing(void **state)
{
	static const char body[] = "grant_type=password&username=alice&"
	    "password=s3cret&client_secret=shh&scope=openid";
	struct params	 p;
	struct lk_resp	 resp;

	params_init(&p);
	assert_params_empty(&p);
	params_clear(&p);			/* clear of an empty set */
	assert_params_empty(&p);

	resp_init(&resp);
	assert_int_equal(decode(FORM, body, sizeof(body) - 1, ALL, &p,
	    &resp), 0);
	assert_string_equal(S(p.v[F_PASSWORD]), "s3cret");
	params_clear(&p);
	assert_params_empty(&p);
	params_clear(&p);			/* and twice */
	assert_params_empty(&p);

	/* The cleared struct is reusable. */
	assert_int_equal(decode(JSON, "{\"scope\":\"a\"}", 13, ALL, &p,
	    &resp), 0);
	assert_string_equal(S(p.v[F_SCOPE]), "a");
	params_clear(&p);
	assert_params_empty(&p);
	resp_clear(&resp);
}

/*
 * jansson's free, watched: a block that still holds one of the watched
 * values (the whole NUL-terminated string) when jansson frees it is
 * counted.  The value block of a string in a parsed tree is exactly that.
 */
static const char *const watched[] = {
	"pw-SECRET-1", "cs-SECRET-2", "ca-SECRET-3", "rt-SECRET-4",
	"otp-SECRET-5", "tok-SECRET-6", "idt-SECRET-7", "user-PLAIN-8",
};
static int	 freed_with[sizeof(watched) / sizeof(watched[0])];

static void
watch_free(void *ptr)
{
	size_t	 i, n, have;

	have = ptr != NULL ? malloc_usable_size(ptr) : 0;
	for (i = 0; i < sizeof(watched) / sizeof(watched[0]); i++) {
		n = strlen(watched[i]) + 1;
		if (have >= n && memcmp(ptr, watched[i], n) == 0)
			freed_with[i]++;
	}
	free(ptr);
}

/* The secret members of a JSON body are wiped before the tree is freed;
 * a plain member (the control) is freed as it was. */
static void
json_secrets_wiped_before_free(void **state)
{
	static const char body[] = "{\"grant_type\":\"password\","
	    "\"password\":\"pw-SECRET-1\",\"client_secret\":\"cs-SECRET-2\","
	    "\"client_assertion\":\"ca-SECRET-3\","
	    "\"refresh_token\":\"rt-SECRET-4\",\"otp\":\"otp-SECRET-5\","
	    "\"token\":\"tok-SECRET-6\",\"id_token\":\"idt-SECRET-7\","
	    "\"username\":\"user-PLAIN-8\"}";
	struct params	 p;
	struct lk_resp	 resp;
	size_t		 i, last = sizeof(watched) / sizeof(watched[0]) - 1;

	memset(freed_with, 0, sizeof(freed_with));
	json_set_alloc_funcs(malloc, watch_free);
	params_init(&p);
	resp_init(&resp);
	assert_int_equal(decode(JSON, body, sizeof(body) - 1, ALL, &p,
	    &resp), 0);
	json_set_alloc_funcs(malloc, free);
	assert_string_equal(S(p.v[F_PASSWORD]), "pw-SECRET-1");
	assert_string_equal(S(p.v[F_ID_TOKEN]), "idt-SECRET-7");
	for (i = 0; i < last; i++)
		if (freed_with[i] != 0)
			fail_msg("%s freed unwiped", watched[i]);
	assert_int_equal(freed_with[last], 1);
	params_clear(&p);
	resp_clear(&resp);
}

/* ------------------------------------------------------------------ */

/* fmt with its one "%s" replaced by arg (fmt is data, not a format). */
static void
fill(char *desc, size_t sz, const char *fmt, const char *arg)
{
	const char	*pct = strstr(fmt, "%s");

	snprintf(desc, sz, "%.*s%s%s", (int)(pct - fmt), fmt, arg, pct + 2);
}

/* An object field: its compact text (keys sorted); any other JSON type,
 * and any form value, is its own error; the bound applies to the text. */
static void
object_fields_decode(void **state)
{
	static const struct { const char *json, *type; } wrong[] = {
		{ "\"openid\"", "string" }, { "7", "integer" },
		{ "1.5", "number" }, { "[1]", "array" }, { "true", "boolean" },
		{ "{\"a\": 1}", "object" },
	};
	const struct orow	*r;
	struct params		 p;
	struct lk_resp		 resp;
	struct buf		 b;
	char			 desc[256];
	size_t			 i, k;

	for (r = orows; r < orows + NELEM(orows); r++) {
		assert_string_equal(field_name(r->f), r->name);
		buf_init(&b);
		buf_printf(&b, "{\"%s\": %s}", r->name, r->sample);
		params_init(&p);
		resp_init(&resp);
		assert_int_equal(decode(JSON, b.p, b.len, ALL, &p, &resp), 0);
		assert_string_equal(S(p.v[r->f]), r->text);
		params_clear(&p);
		resp_clear(&resp);
		for (i = 0; i < NELEM(wrong); i++) {
			if (strcmp(wrong[i].type, r->type) == 0)
				continue;
			buf_reset(&b);
			buf_printf(&b, "{\"%s\": %s}", r->name, wrong[i].json);
			fill(desc, sizeof(desc), r->fmt, wrong[i].type);
			params_init(&p);
			resp_init(&resp);
			assert_int_equal(decode(JSON, b.p, b.len, ALL, &p, &resp), -1);
			assert_wire_error(&resp, 400, r->code, desc);
			resp_clear(&resp);
		}
		buf_reset(&b);
		buf_printf(&b, "%s=x", r->name);
		fill(desc, sizeof(desc), r->fmt, "string");
		params_init(&p);
		resp_init(&resp);
		assert_int_equal(decode(FORM, b.p, b.len, ALL, &p, &resp), -1);
		assert_wire_error(&resp, 400, r->code, desc);
		resp_clear(&resp);
		/* One byte over the bound, syntax and all. */
		buf_reset(&b);
		buf_printf(&b, "{\"%s\": %s", r->name, r->open);
		for (k = 0; k < r->max + 1 - r->syntax; k++)
			buf_append(&b, "x", 1);
		buf_printf(&b, "%s}", r->close);
		snprintf(desc, sizeof(desc), "%s parameter is too long", r->name);
		params_init(&p);
		resp_init(&resp);
		assert_int_equal(decode(JSON, b.p, b.len, ALL, &p, &resp), -1);
		assert_wire_error(&resp, 400, "invalid_request", desc);
		resp_clear(&resp);
		buf_clear(&b);
	}
}

static const struct CMUnitTest fixed[] = {
	cmocka_unit_test(object_fields_decode),
	cmocka_unit_test(body_too_large_is_413_before_anything_else),
	cmocka_unit_test(unknown_fields_are_not_length_limited),
	cmocka_unit_test(form_length_is_measured_after_decoding),
	cmocka_unit_test(params_clear_leaves_nothing),
	cmocka_unit_test(json_secrets_wiped_before_free),
};

int
main(void)
{
	struct CMUnitTest	 t[NELEM(cases) + NELEM(frows) + NELEM(pcases) +
				    NELEM(fixed)];
	char			*names[NELEM(frows)];
	size_t			 i, n = 0;
	int			 rc;

	for (i = 0; i < NELEM(cases); i++)
		t[n++] = (struct CMUnitTest){ cases[i].name, decode_case,
		    NULL, NULL, (void *)&cases[i] };
	for (i = 0; i < NELEM(frows); i++) {
		if (asprintf(&names[i], "%s accepts %zu bytes and refuses %zu"
		    " in both encodings", frows[i].name, frows[i].max,
		    frows[i].max + 1) == -1)
			return 1;
		t[n++] = (struct CMUnitTest){ names[i], field_bound,
		    NULL, NULL, (void *)&frows[i] };
	}
	for (i = 0; i < NELEM(pcases); i++)
		t[n++] = (struct CMUnitTest){ pcases[i].name, pct_case,
		    NULL, NULL, (void *)&pcases[i] };
	for (i = 0; i < NELEM(fixed); i++)
		t[n++] = fixed[i];

	rc = _cmocka_run_group_tests("decode", t, n, NULL, NULL);
	for (i = 0; i < NELEM(frows); i++)
		free(names[i]);
	return rc;
}
