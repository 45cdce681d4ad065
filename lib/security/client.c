/*
 * Client authentication at the token endpoint (RFC 6749 2.3, RFC 7523 3,
 * docs/COMPAT.md 3.3):
 *  - client_secret_post: client_id and client_secret in the body (an
 *    empty client_secret counts as absent, as an empty Basic secret does);
 *  - client_secret_basic: Authorization: Basic, each half form-url-encoded
 *    (RFC 6749 2.3.1); when the decoded id and secret are refused, the
 *    raw ones are tried too, because Python requests' HTTPBasicAuth (and
 *    so requests-oauthlib) base64-encodes id:secret without form-encoding
 *    and a secret holding '+' or '%' would otherwise never match;
 *  - none: a public client, no secret (Basic "id:" with an empty secret, as
 *    requests-oauthlib sends, counts as none);
 *  - private_key_jwt: a client_assertion signed by a key registered on
 *    the client.
 * A confidential client may present its secret by either transport.  Any
 * failure is 401 access_denied "Unauthorized" (docs/COMPAT.md 3.3), with
 * WWW-Authenticate: Basic when Basic was used; two methods at once is 400.
 * client_identify finds the result (enum client_rc), client_error_write
 * gives each its one wire error, so an endpoint may answer otherwise
 * (/oauth/revoke: invalid_client, RFC 7009 2.2.1).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "extern.h"

#define JWT_BEARER	"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define ASSERTION_LIFE_MAX	300	/* seconds an assertion may still live */
#define CLOCK_SKEW		30	/* seconds of clock skew tolerated */

/* One reading of a Basic header's id:secret. */
struct cred {
	char	 id[256];
	char	 secret[600];
	size_t	 secretsz;
};

/*
 * The client_id and secret of a Basic header: cred[0] form-decoded (RFC
 * 6749 2.3.1), then, when it differs or does not decode, the raw text.
 */
struct basic {
	int		 present;
	struct cred	 cred[2];
	int		 ncred;
};

static const char *const methods[CLIENT_AUTH__MAX] = {
	"none", "client_secret_post", "client_secret_basic", "private_key_jwt",
};

static const char *
method_name(size_t i)
{

	return i < CLIENT_AUTH__MAX ? methods[i] : NULL;
}

const struct vocab client_auth_vocab = { "authentication method",
	CLIENT_AUTH__MAX, method_name };

void
client_clear(struct client *c)
{
	record_clear(REC_CLIENT, &c->rec);
	if (c->secret != NULL) {
		OPENSSL_cleanse(c->secret, c->secretsz);
		free(c->secret);
	}
	memset(c, 0, sizeof(*c));
}

/*
 * Parse "Basic <base64(id:secret)>".  Returns 0 (b->present says whether
 * there was a Basic header at all) or -1 when it is malformed.
 */
static int
basic_parse(const char *authz, struct basic *b)
{
	unsigned char	 raw[1024];
	const char	*p, *sec;
	char		*colon;
	struct cred	*c;
	size_t		 n, pad = 0, idlen;
	int		 len;
	long		 idn, secn;

	memset(b, 0, sizeof(*b));
	if (authz == NULL || strncasecmp(authz, "Basic ", 6) != 0)
		return 0;
	b->present = 1;
	p = authz + 6;
	p += strspn(p, " ");
	n = strlen(p);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 >= sizeof(raw))
		return -1;
	if (p[n - 1] == '=')
		pad = p[n - 2] == '=' ? 2 : 1;
	if ((len = EVP_DecodeBlock(raw, (const unsigned char *)p, (int)n)) < 0)
		return -1;
	len -= (int)pad;
	raw[len] = '\0';
	if (memchr(raw, '\0', (size_t)len) != NULL ||
	    (colon = strchr((char *)raw, ':')) == NULL)
		goto fail;
	*colon = '\0';
	sec = colon + 1;
	idlen = (size_t)(colon - (char *)raw);
	if (idlen == 0 || idlen >= sizeof(c->id) ||
	    strlen(sec) >= sizeof(c->secret))
		goto fail;
	c = &b->cred[0];
	idn = decode_pct((char *)raw, idlen, c->id, 1);
	secn = decode_pct(sec, strlen(sec), c->secret, 1);
	if (idn > 0 && secn >= 0) {
		c->secretsz = (size_t)secn;
		b->ncred = 1;
	}
	/* The raw reading, unless it is the very same. */
	if (b->ncred == 0 || strcmp(c->id, (char *)raw) != 0 ||
	    strcmp(c->secret, sec) != 0) {
		c = &b->cred[b->ncred++];
		memcpy(c->id, raw, idlen + 1);
		c->secretsz = strlen(sec);
		memcpy(c->secret, sec, c->secretsz + 1);
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
fail:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(b->cred, sizeof(b->cred));
	b->ncred = 0;
	return -1;
}

/* 1 when the assertion's aud (string or array) names this server. */
static int
aud_ok(const json_t *aud, const char *issuer)
{
	char		 tokenurl[600];
	const json_t	*v;
	const char	*s;
	size_t		 i;

	snprintf(tokenurl, sizeof(tokenurl), "%soauth/token", issuer);
	if (json_is_string(aud)) {
		s = json_string_value(aud);
		return strcmp(s, issuer) == 0 || strcmp(s, tokenurl) == 0;
	}
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && aud_ok(v, issuer))
			return 1;
	return 0;
}

/*
 * RFC 7523 3: iss and sub are the client_id, aud is this server, exp is
 * near, jti is new.  Returns 0, -1 when the assertion is refused (the
 * reason logged, not sent) or -2 when the store failed.
 */
static int
assertion_check(struct lk_ctx *ctx, const struct tenant *tenant, const char *client_id,
    const char *assertion, const json_t *keys, time_t now)
{
	json_t		*claims = NULL;
	const char	*iss, *sub, *jti, *issuer;
	json_int_t	 exp, iat;
	enum token_rc	 trc;
	int		 rc = -1;

	issuer = tenant->issuer;
	if ((trc = token_verify(assertion, keys, &claims)) != TOKEN_OK) {
		lk_info("client assertion rejected: token_rc %d", (int)trc);
		return -1;
	}
	iss = json_string_value(json_object_get(claims, "iss"));
	sub = json_string_value(json_object_get(claims, "sub"));
	jti = json_string_value(json_object_get(claims, "jti"));
	if (iss == NULL || sub == NULL || strcmp(iss, client_id) != 0 ||
	    strcmp(sub, client_id) != 0) {
		lk_info("client assertion rejected: iss/sub");
		goto out;
	}
	if (issuer == NULL || !aud_ok(json_object_get(claims, "aud"), issuer)) {
		lk_info("client assertion rejected: aud");
		goto out;
	}
	if (!json_is_integer(json_object_get(claims, "exp"))) {
		lk_info("client assertion rejected: no exp");
		goto out;
	}
	exp = json_integer_value(json_object_get(claims, "exp"));
	if (exp <= (json_int_t)now - CLOCK_SKEW ||
	    exp > (json_int_t)now + ASSERTION_LIFE_MAX + CLOCK_SKEW) {
		lk_info("client assertion rejected: exp out of range");
		goto out;
	}
	iat = json_integer_value(json_object_get(claims, "iat"));
	if (json_object_get(claims, "iat") != NULL &&
	    (!json_is_integer(json_object_get(claims, "iat")) || iat > now + CLOCK_SKEW)) {
		lk_info("client assertion rejected: iat");
		goto out;
	}
	if (jti == NULL || *jti == '\0' || strlen(jti) > 256) {
		lk_info("client assertion rejected: jti");
		goto out;
	}
	/* Remember the jti while the assertion is still accepted (the
	 * skew), or it could be replayed just after its exp. */
	switch (store_jti_use(ctx->store, client_id, jti,
	    (time_t)exp + CLOCK_SKEW, now)) {
	case STORE_OK:
		break;
	case STORE_EXISTS:
		lk_info("client assertion rejected: jti reused");
		goto out;
	default:
		rc = -2;
		goto out;
	}
	rc = 0;
out:
	json_decref(claims);
	return rc;
}

/* Each failure's wire error (RFC 6749 5.2 as Auth0 answers it). */
static const struct {
	enum oerr	 err;
	const char	*arg;
} client_errs[CLIENT__MAX] = {
	[CLIENT_OK] = { OERR__MAX, NULL },
	[CLIENT_REFUSED] = { OERR_CLIENT_AUTH, NULL },
	[CLIENT_MULTIPLE] = { OERR_MULTIPLE_AUTH, NULL },
	[CLIENT_NO_ID] = { OERR_MISSING_PARAM, "client_id" },
	[CLIENT_ASSERTION_TYPE] = { OERR_ASSERTION_TYPE, NULL },
	[CLIENT_FAILED] = { OERR_SERVER_ERROR, NULL },
};

void
client_error_write(struct lk_resp *resp, enum client_rc rc,
    const struct client *c)
{

	if (rc == CLIENT_OK || rc >= CLIENT__MAX)
		return;
	/* The Basic challenge when Basic was tried (RFC 7617 2). */
	if (rc == CLIENT_REFUSED && c->basic)
		resp_header(resp, "WWW-Authenticate", "Basic realm=\"latchkey\"");
	oerr_write(resp, client_errs[rc].err, client_errs[rc].arg);
}

static int
keep_secret(struct client *c, const char *s, size_t n)
{
	if ((c->secret = malloc(n + 1)) == NULL)
		return -1;
	memcpy(c->secret, s, n);
	c->secret[n] = '\0';
	c->secretsz = n;
	return 0;
}

/* A secret presented (client_secret_post or _basic) against the record. */
static enum client_rc
secret_check(struct client *c, const char *secret, size_t secretsz)
{
	const struct client_rec *cr = &c->rec;

	if ((cr->auth_method != CLIENT_AUTH_SECRET_POST &&
	    cr->auth_method != CLIENT_AUTH_SECRET_BASIC) ||
	    cr->secret_hash == NULL || secretsz == 0 ||
	    !hash_secret_check(cr->secret_hash, secret, secretsz))
		return CLIENT_REFUSED;
	return keep_secret(c, secret, secretsz) == 0 ? CLIENT_OK :
	    CLIENT_FAILED;
}

/*
 * The client id, its method (c->method) checked against its record with
 * the credential presented.  CLIENT_OK with c->rec filled; CLIENT_REFUSED
 * (unknown client, wrong secret or method, bad assertion) or
 * CLIENT_FAILED (the store, memory).  c->rec is left for client_clear.
 */
static enum client_rc
client_check(struct lk_ctx *ctx, const struct tenant *tenant,
    const struct lk_req *req, const struct params *p, const char *id,
    const char *secret, size_t secretsz, struct client *c)
{
	const struct client_rec *cr = &c->rec;

	/* An empty client_id names no client: the store has no empty key
	 * (asking it would be a store error, a 500). */
	if (*id == '\0')
		return CLIENT_REFUSED;
	switch (record_get(ctx->store, NULL, REC_CLIENT, id, &c->rec)) {
	case STORE_OK:
		break;
	case STORE_NOTFOUND:
		return CLIENT_REFUSED;
	default:
		return CLIENT_FAILED;
	}
	if ((c->client_id = cr->client_id) == NULL)
		return CLIENT_REFUSED;
	switch (c->method) {
	case CLIENT_AUTH_NONE:
		/* Only a public client may send no credential. */
		return cr->auth_method == CLIENT_AUTH_NONE ? CLIENT_OK :
		    CLIENT_REFUSED;
	case CLIENT_AUTH_SECRET_POST:
	case CLIENT_AUTH_SECRET_BASIC:
		return secret_check(c, secret, secretsz);
	default:
		break;
	}
	if (cr->auth_method != CLIENT_AUTH_PRIVATE_KEY_JWT)
		return CLIENT_REFUSED;
	switch (assertion_check(ctx, tenant, c->client_id,
	    p->v[F_CLIENT_ASSERTION], cr->public_keys, req->now)) {
	case 0:
		return CLIENT_OK;
	case -1:
		return CLIENT_REFUSED;
	default:
		return CLIENT_FAILED;
	}
}

/*
 * The method the request uses (c->method) and the id it names, with
 * the secret it presents in the body.  CLIENT_OK, or the failure.
 */
static enum client_rc
client_method(const struct params *p, const struct basic *b,
    struct client *c, const char **id, const char **secret,
    size_t *secretsz, json_t **peek)
{
	const char	*bodysecret;
	int		 nmethods;

	/* An empty client_secret is no secret (a public client's SDK may
	 * send "client_secret=" as it sends an empty Basic secret). */
	bodysecret = p->v[F_CLIENT_SECRET] != NULL &&
	    p->len[F_CLIENT_SECRET] > 0 ? p->v[F_CLIENT_SECRET] : NULL;
	nmethods = (b->present && b->cred[0].secretsz > 0) +
	    (bodysecret != NULL) + (p->v[F_CLIENT_ASSERTION] != NULL);
	if (nmethods > 1)
		return CLIENT_MULTIPLE;
	*id = b->present ? b->cred[0].id : p->v[F_CLIENT_ID];
	if (*id == NULL && p->v[F_CLIENT_ASSERTION] != NULL &&
	    (*peek = token_peek(p->v[F_CLIENT_ASSERTION])) != NULL)
		*id = json_string_value(json_object_get(*peek, "sub"));
	if (*id == NULL)
		return CLIENT_NO_ID;
	c->method = CLIENT_AUTH_NONE;
	if (b->present && b->cred[0].secretsz > 0)
		c->method = CLIENT_AUTH_SECRET_BASIC;
	else if (bodysecret != NULL) {
		*secret = bodysecret;
		*secretsz = p->len[F_CLIENT_SECRET];
		c->method = CLIENT_AUTH_SECRET_POST;
	} else if (p->v[F_CLIENT_ASSERTION] != NULL) {
		c->method = CLIENT_AUTH_PRIVATE_KEY_JWT;
		if (p->v[F_CLIENT_ASSERTION_TYPE] == NULL ||
		    strcmp(p->v[F_CLIENT_ASSERTION_TYPE], JWT_BEARER) != 0)
			return CLIENT_ASSERTION_TYPE;
	}
	return CLIENT_OK;
}

enum client_rc
client_identify(struct lk_ctx *ctx, const struct tenant *tenant,
    const struct lk_req *req, const struct params *p, struct client *c,
    struct lk_resp *resp)
{
	struct basic	 b;
	const char	*id = NULL, *secret = NULL, *bodyid = p->v[F_CLIENT_ID];
	json_t		*peek = NULL;	/* unverified assertion claims */
	size_t		 secretsz = 0;
	enum client_rc	 rc;
	int		 i;

	memset(c, 0, sizeof(*c));
	if (basic_parse(req->authorization, &b) == -1) {
		rc = CLIENT_REFUSED;
		goto out;
	}
	rc = client_method(p, &b, c, &id, &secret, &secretsz, &peek);
	if (id != NULL)
		resp_client(resp, id);
	if (rc != CLIENT_OK)
		goto out;
	rc = CLIENT_REFUSED;
	if (!b.present)
		rc = client_check(ctx, tenant, req, p, id, secret, secretsz, c);
	/* Each reading of the Basic header in turn, the decoded first; a
	 * client_id in the body as well must name the same client. */
	for (i = 0; b.present && rc == CLIENT_REFUSED && i < b.ncred; i++) {
		if (bodyid != NULL && strcmp(b.cred[i].id, bodyid) != 0)
			continue;
		record_clear(REC_CLIENT, &c->rec);
		c->client_id = NULL;
		if (c->method == CLIENT_AUTH_SECRET_BASIC) {
			secret = b.cred[i].secret;
			secretsz = b.cred[i].secretsz;
		}
		rc = client_check(ctx, tenant, req, p, b.cred[i].id, secret,
		    secretsz, c);
	}
out:
	OPENSSL_cleanse(b.cred, sizeof(b.cred));
	json_decref(peek);
	if (rc != CLIENT_OK) {
		client_clear(c);
		c->basic = b.present;
	}
	return rc;
}

int
client_authenticate(struct lk_ctx *ctx, const struct tenant *tenant,
    const struct lk_req *req, const struct params *p, struct client *c,
    struct lk_resp *resp)
{
	enum client_rc	 rc;

	if ((rc = client_identify(ctx, tenant, req, p, c, resp)) == CLIENT_OK)
		return 0;
	client_error_write(resp, rc, c);
	return -1;
}

int
client_grant_allowed(const struct client_rec *rec, int gt)
{
	if (rec == NULL || gt < 0 || gt >= GT__MAX)
		return 0;
	return (rec->grants & (1u << gt)) != 0;
}
