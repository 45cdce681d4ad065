/*
 * test_client: client authentication at the token endpoint (lib/security/client.c)
 * against a real store in a temporary directory: client_secret_post and
 * _basic (RFC 6749 2.3.1 encoding), public clients, private_key_jwt
 * assertions built here with token_sign() (RFC 7523 3), and
 * client_grant_allowed.  One named test per table row; a fixed clock.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "extern.h"
#include "tenant_of.h"

#define NOW		1700000000	/* the fixed clock */
#define ISSUER		"https://t.example/"
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define S(x)		((x) != NULL ? (x) : "(null)")

#define JWT_BEARER_ENC	"urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type" \
			"%3Ajwt-bearer"
#define CHALLENGE	"WWW-Authenticate: Basic"
#define E_MULTI		"Only one client authentication method may be used per request"
#define E_ATYPE		"client_assertion_type must be " \
			"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* The signing keys the assertions use. */
enum kref { K_RS, K_ES, K_OTHER, K_OTHER_AS_RS, K__MAX };

static struct fx {
	char		 dir[PATH_MAX - 64];	/* mkdtemp'd parent */
	char		 home[PATH_MAX];	/* dir/env */
	struct store	*store;
	struct lk_ctx	 ctx;
	json_t		*tenant;
	json_t		*key[K__MAX];		/* SK_KEY-shaped records */
	char		*pub[K__MAX];		/* their public PEMs */
} fx;

/* ------------------------------------------------------------------ */
/* Fixture: the store, the tenant, the keys and the clients.           */

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
	return remove(path);
}

/* The SubjectPublicKeyInfo PEM of a private PEM, malloc'd. */
static char *
pub_pem(const char *priv)
{
	BIO		*in, *out;
	EVP_PKEY	*k = NULL;
	char		*data, *pem = NULL;
	long		 len;

	if ((in = BIO_new_mem_buf(priv, -1)) == NULL)
		return NULL;
	out = BIO_new(BIO_s_mem());
	if (out != NULL &&
	    (k = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL)) != NULL &&
	    PEM_write_bio_PUBKEY(out, k) == 1 &&
	    (len = BIO_get_mem_data(out, &data)) > 0 &&
	    (pem = malloc((size_t)len + 1)) != NULL) {
		memcpy(pem, data, (size_t)len);
		pem[len] = '\0';
	}
	EVP_PKEY_free(k);
	BIO_free(in);
	BIO_free(out);
	return pem;
}

/* Put a client record; secret NULL for none. */
static int
client_put(const char *id, const char *method, const char *secret,
    json_t *public_keys)
{
	char	 hash[72];
	json_t	*rec;
	int	 rc;

	rec = json_pack("{s:s, s:s, s:s, s:[s]}", "client_id", id,
	    "name", id, "token_endpoint_auth_method", method,
	    "grant_types", "password");
	if (rec == NULL)
		return -1;
	if (secret != NULL) {
		if (hash_secret(secret, strlen(secret), hash) == -1)
			return -1;
		json_object_set_new(rec, "secret_hash", json_string(hash));
	}
	if (public_keys != NULL)
		json_object_set_new(rec, "public_keys", public_keys);
	rc = store_put(fx.store, NULL, SK_CLIENT, id, rec, 0) == STORE_OK ?
	    0 : -1;
	json_decref(rec);
	return rc;
}

/* The client's public_keys entry for key k. */
static json_t *
pubkey(enum kref k)
{
	return json_pack("{s:s, s:s, s:s}",
	    "kid", json_string_value(json_object_get(fx.key[k], "kid")),
	    "alg", json_string_value(json_object_get(fx.key[k], "alg")),
	    "pem", fx.pub[k]);
}

static int
setup(void **state)
{
	const char	*tmp = getenv("TMPDIR");
	size_t		 i;

	snprintf(fx.dir, sizeof(fx.dir), "%s/lkclient.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.home, sizeof(fx.home), "%s/env", fx.dir);
	if ((fx.store = store_open(fx.home, STORE_CREATE)) == NULL)
		return -1;
	fx.ctx.store = fx.store;
	fx.ctx.home = fx.home;
	fx.ctx.ready = 1;
	fx.tenant = json_pack("{s:s}", "issuer", ISSUER);
	if (fx.tenant == NULL || store_put(fx.store, NULL, SK_META, "tenant",
	    fx.tenant, 0) != STORE_OK)
		return -1;

	fx.key[K_RS] = key_generate(KEY_RS256, "current", NOW);
	fx.key[K_ES] = key_generate(KEY_ES256, "current", NOW);
	fx.key[K_OTHER] = key_generate(KEY_RS256, "current", NOW);
	/* Another key that claims the registered RS256 key's kid. */
	fx.key[K_OTHER_AS_RS] = json_deep_copy(fx.key[K_OTHER]);
	for (i = 0; i < K__MAX; i++)
		if (fx.key[i] == NULL)
			return -1;
	json_object_set(fx.key[K_OTHER_AS_RS], "kid",
	    json_object_get(fx.key[K_RS], "kid"));
	for (i = 0; i < K__MAX; i++)
		if ((fx.pub[i] = pub_pem(json_string_value(json_object_get(
		    fx.key[i], "private_pem")))) == NULL)
			return -1;

	if (client_put("conf-post", "client_secret_post", "post-secret",
	    NULL) == -1 ||
	    client_put("a b:c", "client_secret_basic", "p@ss:w/rd+",
	    NULL) == -1 ||
	    client_put("spacey", "client_secret_basic", "open sesame",
	    NULL) == -1 ||
	    client_put("pub", "none", NULL, NULL) == -1 ||
	    client_put("raw-app", "client_secret_basic", "s3cr+t%41x",
	    NULL) == -1 ||
	    client_put("pct-app", "client_secret_basic", "50%off", NULL) == -1 ||
	    client_put("py+app", "none", NULL, NULL) == -1 ||
	    client_put("jwt-rs", "private_key_jwt", NULL,
	    json_pack("[o]", pubkey(K_RS))) == -1 ||
	    client_put("jwt-es", "private_key_jwt", NULL,
	    json_pack("[o]", pubkey(K_ES))) == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	size_t	 i;

	for (i = 0; i < K__MAX; i++) {
		json_decref(fx.key[i]);
		free(fx.pub[i]);
	}
	json_decref(fx.tenant);
	store_close(fx.store);
	nftw(fx.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Running one authentication.                                         */

struct run {
	struct lk_req	 req;
	struct params	 p;
	struct lk_resp	 resp;
	struct client	 c;
	char		 authz[1024];
	int		 rc;
};

/* "Basic " + base64(cred) into out. */
static void
basic_header(char *out, size_t outsz, const char *scheme, const char *cred)
{
	size_t	 n = strlen(scheme);

	assert_true(n + 4 * ((strlen(cred) + 2) / 3) + 1 <= outsz);
	memcpy(out, scheme, n);
	EVP_EncodeBlock((unsigned char *)out + n, (const unsigned char *)cred,
	    (int)strlen(cred));
}

/* Decode body as a form, with the given header. */
static void
run_prepare(struct run *r, const char *authz, const char *body)
{
	memset(r, 0, sizeof(*r));
	r->req.method = HTTP_POST;
	r->req.method_str = "POST";
	r->req.path = "/oauth/token";
	r->req.content_type = "application/x-www-form-urlencoded";
	r->req.authorization = authz;
	r->req.body = body;
	r->req.bodysz = strlen(body);
	r->req.remote_addr = "192.0.2.1";
	r->req.now = NOW;
	params_init(&r->p);
	resp_init(&r->resp);
	assert_int_equal(decode_body(&r->req, UINT64_MAX, &r->p, &r->resp), 0);
}

/* Decode body as a form and authenticate with the given header. */
static void
run_auth(struct run *r, const char *authz, const char *body)
{
	run_prepare(r, authz, body);
	r->rc = client_authenticate(&fx.ctx, tenant_of(fx.tenant), &r->req, &r->p,
	    &r->c, &r->resp);
}

/* client_identify alone: the result, nothing written. */
static enum client_rc
run_identify(struct run *r, const char *authz, const char *body)
{
	enum client_rc	 rc;

	run_prepare(r, authz, body);
	rc = client_identify(&fx.ctx, tenant_of(fx.tenant), &r->req, &r->p,
	    &r->c, &r->resp);
	assert_int_equal(r->resp.body.len, 0);
	assert_int_equal(r->resp.headers.len, 0);
	return rc;
}

static void
run_clear(struct run *r)
{
	client_clear(&r->c);
	params_clear(&r->p);
	resp_clear(&r->resp);
}

static int
has_challenge(const struct lk_resp *resp)
{
	return resp->headers.p != NULL &&
	    strstr(resp->headers.p, CHALLENGE) != NULL;
}

static void
assert_wire_error(const struct lk_resp *resp, int status, const char *code,
    const char *desc)
{
	json_t	*j;

	assert_int_equal(resp->status, status);
	assert_non_null(resp->body.p);
	j = json_loadb(resp->body.p, resp->body.len, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 2);
	assert_string_equal(S(json_string_value(json_object_get(j, "error"))),
	    code);
	assert_string_equal(S(json_string_value(json_object_get(j,
	    "error_description"))), desc);
	json_decref(j);
}

/* Authenticated as id by method, nothing written to resp. */
static void
assert_ok(const struct run *r, const char *id, enum client_auth method)
{
	assert_int_equal(r->rc, 0);
	assert_int_equal(r->resp.body.len, 0);
	assert_non_null(r->c.rec.json);
	assert_string_equal(S(r->c.client_id), id);
	assert_int_equal(r->c.method, method);
}

/* The client authentication failure (docs/COMPAT.md 3.3): 401
 * access_denied. */
static void
assert_unauthorized(const struct run *r, int challenge)
{
	assert_int_equal(r->rc, -1);
	assert_wire_error(&r->resp, 401, "access_denied", "Unauthorized");
	assert_int_equal(has_challenge(&r->resp), challenge);
	assert_null(r->c.rec.json);
	assert_null(r->c.secret);
}

/* ------------------------------------------------------------------ */
/* Secrets, Basic and public clients.                                  */

#define OK	0

static const struct ccase {
	const char	*name;
	const char	*basic;		/* "id:secret" before base64, or NULL */
	const char	*authz;		/* a raw Authorization header, or NULL */
	const char	*body;		/* form body */
	int		 status;	/* OK, 400 or 401 */
	/* OK: */
	const char	*id;
	enum client_auth method;
	const char	*secret;	/* kept for HS256 ID tokens, or NULL */
	/* errors: */
	const char	*desc;		/* 400's error_description */
	int		 challenge;	/* WWW-Authenticate: Basic expected */
} ccases[] = {
	{ "client_secret_post with the right secret authenticates",
	  NULL, NULL, "client_id=conf-post&client_secret=post-secret",
	  OK, "conf-post", CLIENT_AUTH_SECRET_POST, "post-secret", NULL, 0 },
	{ "client_secret_basic with a %-encoded id and secret authenticates "
	  "(RFC 6749 2.3.1)",
	  "a+b%3Ac:p%40ss%3Aw%2Frd%2B", NULL, "",
	  OK, "a b:c", CLIENT_AUTH_SECRET_BASIC, "p@ss:w/rd+", NULL, 0 },
	{ "Basic plus in the secret decodes to a space",
	  "spacey:open+sesame", NULL, "",
	  OK, "spacey", CLIENT_AUTH_SECRET_BASIC, "open sesame", NULL, 0 },
	{ "Basic %20 in the secret decodes to a space",
	  "spacey:open%20sesame", NULL, "",
	  OK, "spacey", CLIENT_AUTH_SECRET_BASIC, "open sesame", NULL, 0 },
	{ "Basic secret may hold a raw colon: the first colon splits",
	  "a+b%3Ac:p%40ss:w%2Frd%2B", NULL, "",
	  OK, "a b:c", CLIENT_AUTH_SECRET_BASIC, "p@ss:w/rd+", NULL, 0 },
	{ "Basic scheme name is case-insensitive",
	  NULL, "bASIC c3BhY2V5Om9wZW4rc2VzYW1l", "",
	  OK, "spacey", CLIENT_AUTH_SECRET_BASIC, "open sesame", NULL, 0 },
	{ "Basic with the same client_id in the body authenticates",
	  "spacey:open+sesame", NULL, "client_id=spacey",
	  OK, "spacey", CLIENT_AUTH_SECRET_BASIC, "open sesame", NULL, 0 },
	{ "a client_secret_basic client may send its secret in the body",
	  NULL, NULL, "client_id=a+b%3Ac&client_secret=p%40ss%3Aw%2Frd%2B",
	  OK, "a b:c", CLIENT_AUTH_SECRET_POST, "p@ss:w/rd+", NULL, 0 },
	{ "an unencoded plus in a Basic secret is a space, so it is wrong",
	  "a+b%3Ac:p%40ss%3Aw%2Frd+", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "wrong secret in the body is 401 without a challenge",
	  NULL, NULL, "client_id=conf-post&client_secret=wrong",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "a secret differing only in length is 401",
	  NULL, NULL, "client_id=conf-post&client_secret=post-secre",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "wrong secret by Basic is 401 with a Basic challenge",
	  "conf-post:wrong", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "unknown client is 401",
	  NULL, NULL, "client_id=nobody&client_secret=x",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "unknown public client is 401",
	  NULL, NULL, "client_id=nobody",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "an empty client_id is an unknown client, 401 (not a store error)",
	  NULL, NULL, "client_id=",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "an empty client_id with a secret is 401",
	  NULL, NULL, "client_id=&client_secret=x",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "unknown client by Basic is 401 with a challenge",
	  "nobody:x", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "public client without a secret authenticates",
	  NULL, NULL, "client_id=pub",
	  OK, "pub", CLIENT_AUTH_NONE, NULL, NULL, 0 },
	{ "public client with Basic id and an empty secret authenticates "
	  "(requests-oauthlib)",
	  "pub:", NULL, "",
	  OK, "pub", CLIENT_AUTH_NONE, NULL, NULL, 0 },
	{ "public client with Basic id: and client_id in the body "
	  "authenticates",
	  "pub:", NULL, "client_id=pub",
	  OK, "pub", CLIENT_AUTH_NONE, NULL, NULL, 0 },
	{ "public client presenting a body secret is 401",
	  NULL, NULL, "client_id=pub&client_secret=x",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "public client presenting a Basic secret is 401 with a challenge",
	  "pub:x", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "confidential client without a secret is 401",
	  NULL, NULL, "client_id=conf-post",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "confidential client with an empty body secret is 401",
	  NULL, NULL, "client_id=conf-post&client_secret=",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "confidential client with Basic id: and no secret is 401 with a "
	  "challenge",
	  "conf-post:", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "a private_key_jwt client presenting a secret is 401",
	  NULL, NULL, "client_id=jwt-rs&client_secret=x",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "a private_key_jwt client presenting nothing is 401",
	  NULL, NULL, "client_id=jwt-rs",
	  401, NULL, 0, NULL, NULL, 0 },
	{ "a secret in both Basic and the body is 400",
	  "conf-post:post-secret", NULL, "client_secret=post-secret",
	  400, NULL, 0, NULL, E_MULTI, 0 },
	{ "a secret and a client_assertion together are 400",
	  NULL, NULL, "client_id=jwt-rs&client_secret=x&client_assertion=a.b.c"
	  "&client_assertion_type=" JWT_BEARER_ENC,
	  400, NULL, 0, NULL, E_MULTI, 0 },
	{ "a Basic secret and a client_assertion together are 400",
	  "jwt-rs:x", NULL, "client_assertion=a.b.c"
	  "&client_assertion_type=" JWT_BEARER_ENC,
	  400, NULL, 0, NULL, E_MULTI, 0 },
	{ "a body client_id differing from the Basic id is 401",
	  "conf-post:post-secret", NULL, "client_id=pub",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "malformed Basic base64 is 401 with a challenge",
	  NULL, "Basic !!!!", "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "Basic base64 of the wrong length is 401",
	  NULL, "Basic cHViOng", "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "an empty Basic credential is 401",
	  NULL, "Basic ", "client_id=pub",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "Basic without a colon is 401",
	  "conf-post", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "Basic with an empty client id is 401",
	  ":post-secret", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "Basic with an invalid %-escape is 401",
	  "conf-post:%zz", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "Basic with %00 in the id is 401",
	  "pub%00:", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	/* Python requests' HTTPBasicAuth (requests-oauthlib) sends id:secret
	 * without form-encoding: the raw reading is tried after the decoded. */
	{ "Basic raw secret with '+' and '%41' authenticates (requests)",
	  "raw-app:s3cr+t%41x", NULL, "",
	  OK, "raw-app", CLIENT_AUTH_SECRET_BASIC, "s3cr+t%41x", NULL, 0 },
	{ "Basic form-encoded secret with '+' and '%' still authenticates",
	  "raw-app:s3cr%2Bt%2541x", NULL, "",
	  OK, "raw-app", CLIENT_AUTH_SECRET_BASIC, "s3cr+t%41x", NULL, 0 },
	{ "Basic raw secret that is invalid %-encoding authenticates",
	  "pct-app:50%off", NULL, "",
	  OK, "pct-app", CLIENT_AUTH_SECRET_BASIC, "50%off", NULL, 0 },
	{ "Basic raw public client id with '+' authenticates",
	  "py+app:", NULL, "",
	  OK, "py+app", CLIENT_AUTH_NONE, NULL, NULL, 0 },
	{ "Basic raw id with a body client_id naming it authenticates",
	  "py+app:", NULL, "client_id=py%2Bapp",
	  OK, "py+app", CLIENT_AUTH_NONE, NULL, NULL, 0 },
	{ "Basic raw secret that is wrong either way is 401",
	  "raw-app:s3cr+t%41y", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "Basic raw secret of another client is 401",
	  "pct-app:s3cr+t%41x", NULL, "",
	  401, NULL, 0, NULL, NULL, 1 },
	{ "public client with an empty body client_secret authenticates",
	  NULL, NULL, "client_id=pub&client_secret=",
	  OK, "pub", CLIENT_AUTH_NONE, NULL, NULL, 0 },
	{ "an empty body client_secret with a Basic secret is no second "
	  "method",
	  "conf-post:post-secret", NULL, "client_secret=",
	  OK, "conf-post", CLIENT_AUTH_SECRET_BASIC, "post-secret", NULL, 0 },
	{ "a stray Bearer Authorization header is ignored",
	  NULL, "Bearer abc.def.ghi", "client_id=pub",
	  OK, "pub", CLIENT_AUTH_NONE, NULL, NULL, 0 },
	{ "missing client_id is 400",
	  NULL, NULL, "", 400, NULL, 0, NULL,
	  "Missing required parameter: client_id", 0 },
	{ "a secret without a client_id is 400 missing client_id",
	  NULL, NULL, "client_secret=post-secret", 400, NULL, 0, NULL,
	  "Missing required parameter: client_id", 0 },
	{ "a wrong client_assertion_type is 400",
	  NULL, NULL, "client_id=jwt-rs&client_assertion=a.b.c"
	  "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-"
	  "assertion-type%3Asaml2-bearer",
	  400, NULL, 0, NULL, E_ATYPE, 0 },
	{ "a client_assertion without client_assertion_type is 400",
	  NULL, NULL, "client_id=jwt-rs&client_assertion=a.b.c",
	  400, NULL, 0, NULL, E_ATYPE, 0 },
	{ "a malformed client_assertion is 401",
	  NULL, NULL, "client_id=jwt-rs&client_assertion=a.b.c"
	  "&client_assertion_type=" JWT_BEARER_ENC,
	  401, NULL, 0, NULL, NULL, 0 },
	{ "a client_assertion for a secret client is 401",
	  NULL, NULL, "client_id=conf-post&client_assertion=a.b.c"
	  "&client_assertion_type=" JWT_BEARER_ENC,
	  401, NULL, 0, NULL, NULL, 0 },
};

static void
client_case(void **state)
{
	const struct ccase	*c = *state;
	struct run		 r;
	char			 hdr[1024];
	const char		*authz = c->authz;

	if (c->basic != NULL) {
		basic_header(hdr, sizeof(hdr), "Basic ", c->basic);
		authz = hdr;
	}
	run_auth(&r, authz, c->body);
	switch (c->status) {
	case OK:
		assert_ok(&r, c->id, c->method);
		if (c->secret == NULL)
			assert_null(r.c.secret);
		else {
			assert_non_null(r.c.secret);
			assert_int_equal(r.c.secretsz, strlen(c->secret));
			assert_memory_equal(r.c.secret, c->secret,
			    strlen(c->secret));
		}
		assert_false(has_challenge(&r.resp));
		break;
	case 401:
		assert_unauthorized(&r, c->challenge);
		break;
	default:
		assert_int_equal(r.rc, -1);
		assert_wire_error(&r.resp, c->status, "invalid_request",
		    c->desc);
		assert_false(has_challenge(&r.resp));
		assert_null(r.c.rec.json);
		break;
	}
	run_clear(&r);
}

/* ------------------------------------------------------------------ */
/* private_key_jwt (RFC 7523 3).                                       */

#define OMIT		INT64_MIN	/* exp/iat: leave the claim out */
#define SAME		NULL		/* iss/sub: the client_id */

static const struct jcase {
	const char	*name;
	const char	*client;
	enum kref	 key;
	const char	*iss;		/* SAME, "-" to omit, or a value */
	const char	*sub;
	const char	*aud;		/* JSON text, NULL to omit */
	int64_t		 exp;		/* offset from NOW, or OMIT; */
	int		 exp_abs;	/* 1: exp is absolute */
	int64_t		 iat;		/* offset from NOW, or OMIT */
	const char	*jti;		/* NULL to omit */
	int		 ok;
} jcases[] = {
	{ "RS256 assertion with aud = issuer authenticates",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", 60, 0, 0, "j-rs", 1 },
	{ "ES256 assertion authenticates",
	  "jwt-es", K_ES, SAME, SAME, "\"" ISSUER "\"", 60, 0, 0, "j-es", 1 },
	{ "aud = issuer + oauth/token authenticates",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "oauth/token\"", 60, 0,
	  OMIT, "j-tokenurl", 1 },
	{ "aud as an array naming the issuer authenticates",
	  "jwt-rs", K_RS, SAME, SAME, "[\"https://other/\",\"" ISSUER "\"]",
	  60, 0, 0, "j-array", 1 },
	{ "aud as an array naming the token URL authenticates",
	  "jwt-es", K_ES, SAME, SAME, "[\"" ISSUER "oauth/token\"]",
	  60, 0, 0, "j-array2", 1 },
	{ "exp 180 s ahead authenticates (auth0-auth-js)",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", 180, 0, 0, "j-180", 1 },
	{ "exp 10 s ago is accepted within the clock skew",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", -10, 0, -70,
	  "j-skew", 1 },
	{ "wrong aud is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"https://evil.example/\"", 60, 0, 0,
	  "j-badaud", 0 },
	{ "aud without the trailing slash is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"https://t.example\"", 60, 0, 0,
	  "j-noslash", 0 },
	{ "aud array not naming this server is 401",
	  "jwt-rs", K_RS, SAME, SAME, "[\"https://evil.example/\"]", 60, 0, 0,
	  "j-badarr", 0 },
	{ "aud array holding an array is 401 (RFC 7519 4.1.3: strings only)",
	  "jwt-rs", K_RS, SAME, SAME, "[[\"" ISSUER "\"]]", 60, 0, 0,
	  "j-nested", 0 },
	{ "empty aud array is 401",
	  "jwt-rs", K_RS, SAME, SAME, "[]", 60, 0, 0, "j-emptyarr", 0 },
	{ "missing aud is 401",
	  "jwt-rs", K_RS, SAME, SAME, NULL, 60, 0, 0, "j-noaud", 0 },
	{ "aud that is not a string is 401",
	  "jwt-rs", K_RS, SAME, SAME, "1", 60, 0, 0, "j-numaud", 0 },
	{ "exp in the past is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", -60, 0, -120,
	  "j-expired", 0 },
	{ "exp too far ahead (now + 3600) is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", 3600, 0, 0, "j-far", 0 },
	{ "missing exp is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", OMIT, 0, 0, "j-noexp",
	  0 },
	{ "exp at the largest integer is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", INT64_MAX, 1, 0,
	  "j-maxexp", 0 },
	{ "exp at the smallest integer is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", INT64_MIN + 1, 1, 0,
	  "j-minexp", 0 },
	{ "iat in the future is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", 60, 0, 3600,
	  "j-futureiat", 0 },
	{ "iss other than the client_id is 401",
	  "jwt-rs", K_RS, "jwt-es", SAME, "\"" ISSUER "\"", 60, 0, 0,
	  "j-iss", 0 },
	{ "missing iss is 401",
	  "jwt-rs", K_RS, "-", SAME, "\"" ISSUER "\"", 60, 0, 0, "j-noiss", 0 },
	{ "sub other than the client_id is 401",
	  "jwt-rs", K_RS, SAME, "jwt-es", "\"" ISSUER "\"", 60, 0, 0,
	  "j-sub", 0 },
	{ "missing sub is 401",
	  "jwt-rs", K_RS, SAME, "-", "\"" ISSUER "\"", 60, 0, 0, "j-nosub", 0 },
	{ "missing jti is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", 60, 0, 0, NULL, 0 },
	{ "empty jti is 401",
	  "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", 60, 0, 0, "", 0 },
	{ "an assertion signed by an unregistered key is 401",
	  "jwt-rs", K_OTHER, SAME, SAME, "\"" ISSUER "\"", 60, 0, 0,
	  "j-otherkey", 0 },
	{ "an assertion signed by another key under the registered kid is 401",
	  "jwt-rs", K_OTHER_AS_RS, SAME, SAME, "\"" ISSUER "\"", 60, 0, 0,
	  "j-forgedkid", 0 },
	{ "an ES256 assertion to a client with an RS256 key is 401",
	  "jwt-rs", K_ES, SAME, SAME, "\"" ISSUER "\"", 60, 0, 0,
	  "j-wrongalg", 0 },
	{ "another private_key_jwt client's assertion is 401",
	  "jwt-rs", K_ES, "jwt-es", "jwt-es", "\"" ISSUER "\"", 60, 0, 0,
	  "j-otherclient", 0 },
};

/* The claims of row c for client id, with jti j (NULL: none). */
static json_t *
claims_make(const struct jcase *c, const char *id, const char *j)
{
	json_t	*cl;

	cl = json_object();
	assert_non_null(cl);
	if (c->iss == NULL || strcmp(c->iss, "-") != 0)
		json_object_set_new(cl, "iss", json_string(c->iss ? c->iss : id));
	if (c->sub == NULL || strcmp(c->sub, "-") != 0)
		json_object_set_new(cl, "sub", json_string(c->sub ? c->sub : id));
	if (c->aud != NULL)
		json_object_set_new(cl, "aud", json_loads(c->aud,
		    JSON_DECODE_ANY, NULL));
	if (c->exp != OMIT)
		json_object_set_new(cl, "exp", json_integer(c->exp_abs ?
		    (json_int_t)c->exp : (json_int_t)(NOW + c->exp)));
	if (c->iat != OMIT)
		json_object_set_new(cl, "iat",
		    json_integer((json_int_t)(NOW + c->iat)));
	if (j != NULL)
		json_object_set_new(cl, "jti", json_string(j));
	return cl;
}

/* A form body carrying the assertion. */
static char *
assertion_body(const char *id, const char *jws)
{
	char	*body;

	assert_int_not_equal(asprintf(&body, "client_id=%s"
	    "&client_assertion_type=%s&client_assertion=%s",
	    id, JWT_BEARER_ENC, jws), -1);
	return body;
}

/* Sign the claims with key k, authenticate as id, return the run's rc. */
static void
run_assertion(struct run *r, const char *id, enum kref k, const json_t *cl,
    char **bodyp)
{
	char	*jws;

	assert_int_equal(token_sign(fx.key[k], cl, &jws), 0);
	*bodyp = assertion_body(id, jws);
	free(jws);
	run_auth(r, NULL, *bodyp);
}

static void
assertion_case(void **state)
{
	const struct jcase	*c = *state;
	struct run		 r;
	json_t			*cl;
	char			*body;

	cl = claims_make(c, c->client, c->jti);
	run_assertion(&r, c->client, c->key, cl, &body);
	if (c->ok)
		assert_ok(&r, c->client, CLIENT_AUTH_PRIVATE_KEY_JWT);
	else
		assert_unauthorized(&r, 0);
	run_clear(&r);
	free(body);
	json_decref(cl);
}

/* The row every replay test starts from: a good RS256 assertion. */
static const struct jcase good = {
	"good", "jwt-rs", K_RS, SAME, SAME, "\"" ISSUER "\"", 60, 0, 0, NULL, 1
};

static void
assertion_jti_replay_is_401(void **state)
{
	struct run	 r;
	json_t		*cl;
	char		*body;

	cl = claims_make(&good, "jwt-rs", "j-replay");
	run_assertion(&r, "jwt-rs", K_RS, cl, &body);
	assert_ok(&r, "jwt-rs", CLIENT_AUTH_PRIVATE_KEY_JWT);
	run_clear(&r);
	/* The very same request again. */
	run_auth(&r, NULL, body);
	assert_unauthorized(&r, 0);
	run_clear(&r);
	free(body);
	json_decref(cl);
}

/* A new assertion (new signature, new exp) reusing a jti is a replay too. */
static void
assertion_reused_jti_in_a_new_assertion_is_401(void **state)
{
	struct run	 r;
	struct jcase	 c = good;
	json_t		*cl;
	char		*body;

	cl = claims_make(&c, "jwt-es", "j-reuse");
	run_assertion(&r, "jwt-es", K_ES, cl, &body);
	assert_ok(&r, "jwt-es", CLIENT_AUTH_PRIVATE_KEY_JWT);
	run_clear(&r);
	free(body);
	json_decref(cl);

	c.exp = 120;
	cl = claims_make(&c, "jwt-es", "j-reuse");
	run_assertion(&r, "jwt-es", K_ES, cl, &body);
	assert_unauthorized(&r, 0);
	run_clear(&r);
	free(body);
	json_decref(cl);
}

/* jtis are per client (the SK_JTI key is client_id + jti). */
static void
assertion_jti_of_another_client_is_not_a_replay(void **state)
{
	struct run	 r;
	json_t		*cl;
	char		*body;

	cl = claims_make(&good, "jwt-rs", "j-shared");
	run_assertion(&r, "jwt-rs", K_RS, cl, &body);
	assert_ok(&r, "jwt-rs", CLIENT_AUTH_PRIVATE_KEY_JWT);
	run_clear(&r);
	free(body);
	json_decref(cl);

	cl = claims_make(&good, "jwt-es", "j-shared");
	run_assertion(&r, "jwt-es", K_ES, cl, &body);
	assert_ok(&r, "jwt-es", CLIENT_AUTH_PRIVATE_KEY_JWT);
	run_clear(&r);
	free(body);
	json_decref(cl);
}

/*
 * An assertion accepted within the clock skew (exp a little in the past)
 * must not be replayable: its jti has to be remembered until the last
 * moment the assertion is still accepted, not merely until its exp.
 */
static void
assertion_replay_within_the_clock_skew_is_401(void **state)
{
	struct run	 r;
	struct jcase	 c = good;
	json_t		*cl;
	char		*body;

	c.exp = -10;
	c.iat = -70;
	cl = claims_make(&c, "jwt-rs", "j-skew-replay");
	run_assertion(&r, "jwt-rs", K_RS, cl, &body);
	assert_ok(&r, "jwt-rs", CLIENT_AUTH_PRIVATE_KEY_JWT);
	run_clear(&r);
	run_auth(&r, NULL, body);
	assert_unauthorized(&r, 0);
	run_clear(&r);
	free(body);
	json_decref(cl);
}

/* base64url without padding of n bytes. */
static char *
b64url(const void *in, size_t n)
{
	char	*out, *p;

	out = calloc(1, 4 * ((n + 2) / 3) + 1);
	assert_non_null(out);
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	for (p = out; *p != '\0'; p++)
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0';
	return out;
}

/* Hand-built unsigned tokens: "alg":"none" with an empty or a bogus
 * signature, and HS256 keyed with the client's public PEM (the libjwt
 * algorithm confusion). */
static void
assertion_alg_none_and_hmac_are_401(void **state)
{
	static const char	 hdr_none[] = "eyJhbGciOiJub25lIn0";
	struct run		 r;
	json_t			*cl;
	char			*payload, *pl64, *jws, *body;
	size_t			 i;

	cl = claims_make(&good, "jwt-rs", "j-none");
	payload = json_dumps(cl, JSON_COMPACT);
	assert_non_null(payload);
	pl64 = b64url(payload, strlen(payload));
	for (i = 0; i < 3; i++) {
		switch (i) {
		case 0:
			assert_int_not_equal(asprintf(&jws, "%s.%s.",
			    hdr_none, pl64), -1);
			break;
		case 1:
			assert_int_not_equal(asprintf(&jws, "%s.%s.c2ln",
			    hdr_none, pl64), -1);
			break;
		default:
			assert_int_equal(token_sign_hs256(fx.pub[K_RS],
			    strlen(fx.pub[K_RS]), cl, &jws), 0);
			break;
		}
		body = assertion_body("jwt-rs", jws);
		run_auth(&r, NULL, body);
		assert_unauthorized(&r, 0);
		run_clear(&r);
		free(body);
		free(jws);
	}
	free(pl64);
	free(payload);
	json_decref(cl);
}

/* ------------------------------------------------------------------ */
/* client_identify and client_error_write.                             */

/* The result comes back without a response; client_error_write gives a
 * refusal its 401, with the Basic challenge when Basic was tried. */
static void
identify_returns_a_result_and_writes_nothing(void **state)
{
	struct run	 r;
	char		 authz[256];
	enum client_rc	 rc;

	rc = run_identify(&r, NULL, "client_id=conf-post&client_secret=wrong");
	assert_int_equal(rc, CLIENT_REFUSED);
	assert_false(r.c.basic);
	assert_null(r.c.rec.json);
	client_error_write(&r.resp, rc, &r.c);
	assert_wire_error(&r.resp, 401, "access_denied", "Unauthorized");
	assert_false(has_challenge(&r.resp));
	run_clear(&r);

	basic_header(authz, sizeof(authz), "Basic ", "conf-post:wrong");
	rc = run_identify(&r, authz, "grant_type=password");
	assert_int_equal(rc, CLIENT_REFUSED);
	assert_true(r.c.basic);
	client_error_write(&r.resp, rc, &r.c);
	assert_wire_error(&r.resp, 401, "access_denied", "Unauthorized");
	assert_true(has_challenge(&r.resp));
	run_clear(&r);

	assert_int_equal(run_identify(&r, NULL, "client_secret=x"),
	    CLIENT_NO_ID);
	run_clear(&r);

	rc = run_identify(&r, NULL,
	    "client_id=conf-post&client_secret=post-secret");
	assert_int_equal(rc, CLIENT_OK);
	assert_string_equal(S(r.c.client_id), "conf-post");
	assert_non_null(r.c.rec.json);
	run_clear(&r);
}

/* ------------------------------------------------------------------ */
/* client_grant_allowed.                                               */

#define REALM_URI	"http://auth0.com/oauth/grant-type/password-realm"

static const struct gcase {
	const char	*name;
	const char	*rec;		/* client record JSON, NULL: none */
	const char	*grant;
	int		 allowed;
} gcases[] = {
	{ "grant_allowed: a listed grant is allowed",
	  "{\"grant_types\":[\"password\",\"" REALM_URI "\"]}", "password", 1 },
	{ "grant_allowed: a listed URI grant is allowed",
	  "{\"grant_types\":[\"password\",\"" REALM_URI "\"]}", REALM_URI, 1 },
	{ "grant_allowed: an unlisted grant is refused",
	  "{\"grant_types\":[\"password\"]}", "refresh_token", 0 },
	{ "grant_allowed: grant names are case-sensitive",
	  "{\"grant_types\":[\"password\"]}", "Password", 0 },
	{ "grant_allowed: a prefix of a listed grant is refused",
	  "{\"grant_types\":[\"password\"]}", "passwor", 0 },
	{ "grant_allowed: an empty grant is refused",
	  "{\"grant_types\":[\"password\"]}", "", 0 },
	{ "grant_allowed: no grant_types allows nothing",
	  "{}", "password", 0 },
	{ "grant_allowed: an empty grant_types allows nothing",
	  "{\"grant_types\":[]}", "password", 0 },
	{ "grant_allowed: grant_types that is not an array allows nothing",
	  "{\"grant_types\":\"password\"}", "password", 0 },
	{ "grant_allowed: non-string entries are skipped",
	  "{\"grant_types\":[1,null,{},\"password\"]}", "password", 1 },
	{ "grant_allowed: no client record allows nothing",
	  NULL, "password", 0 },
};

static void
grant_case(void **state)
{
	const struct gcase	*c = *state;
	struct client_rec	 cr;
	json_t			*rec = NULL;

	/* A record that does not parse (grant_types not an array) leaves
	 * cr cleared: no grants. */
	if (c->rec != NULL) {
		assert_non_null(rec = json_loads(c->rec, 0, NULL));
		(void)record_parse(REC_CLIENT, rec, &cr);
	}
	assert_int_equal(client_grant_allowed(c->rec != NULL ? &cr : NULL,
	    (int)grant_type_find(c->grant, GT_CLIENT)), c->allowed);
	if (c->rec != NULL)
		record_clear(REC_CLIENT, &cr);
	json_decref(rec);
}

/* ------------------------------------------------------------------ */

static const struct CMUnitTest fixed[] = {
	cmocka_unit_test(identify_returns_a_result_and_writes_nothing),
	cmocka_unit_test(assertion_jti_replay_is_401),
	cmocka_unit_test(assertion_reused_jti_in_a_new_assertion_is_401),
	cmocka_unit_test(assertion_jti_of_another_client_is_not_a_replay),
	cmocka_unit_test(assertion_replay_within_the_clock_skew_is_401),
	cmocka_unit_test(assertion_alg_none_and_hmac_are_401),
};

int
main(void)
{
	struct CMUnitTest	 t[NELEM(ccases) + NELEM(jcases) +
				    NELEM(gcases) + NELEM(fixed)];
	size_t			 i, n = 0;

	for (i = 0; i < NELEM(ccases); i++)
		t[n++] = (struct CMUnitTest){ ccases[i].name, client_case,
		    NULL, NULL, (void *)&ccases[i] };
	for (i = 0; i < NELEM(jcases); i++)
		t[n++] = (struct CMUnitTest){ jcases[i].name, assertion_case,
		    NULL, NULL, (void *)&jcases[i] };
	for (i = 0; i < NELEM(gcases); i++)
		t[n++] = (struct CMUnitTest){ gcases[i].name, grant_case,
		    NULL, NULL, (void *)&gcases[i] };
	for (i = 0; i < NELEM(fixed); i++)
		t[n++] = fixed[i];
	return _cmocka_run_group_tests("client", t, n, setup, teardown);
}
