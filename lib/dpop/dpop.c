/*
 * DPoP proofs (RFC 9449 4.3): one header value checked against the
 * request it came with.  The checks in the RFC's order: one header, a
 * well-formed JWS, typ dpop+jwt, an asymmetric alg of the table in
 * dpop_jwk.c, a public jwk, the signature, then the claims (jti, htm,
 * htu, iat, ath, nonce).  The jti's single use needs the store and is
 * grant_dpop.c's.  Each refusal names the check (docs/COMPAT.md 10.2).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "extern.h"
#include "dpop_int.h"

#define PART_MAX	4096	/* decoded header or payload */
#define TYP		"dpop+jwt"
#define HTU_MAX		4096

static const char *const errs[DPOP_ERR__MAX] = {
	[DPOP_OK] = "",
	[DPOP_MISSING] = "DPoP proof is required",
	[DPOP_MULTIPLE] = "Only one DPoP header is allowed",
	[DPOP_MALFORMED] = "DPoP proof is not a well-formed JWT",
	[DPOP_TYP] = "DPoP proof typ must be dpop+jwt",
	[DPOP_ALG] = "DPoP proof alg is not supported",
	[DPOP_JWK] = "DPoP proof jwk is missing, malformed or does not "
	    "match alg",
	[DPOP_JWK_PRIVATE] = "DPoP proof jwk must not contain a private key",
	[DPOP_SIGNATURE] = "DPoP proof signature is invalid",
	[DPOP_JTI] = "DPoP proof jti is missing or too long",
	[DPOP_HTM] = "DPoP proof htm does not match the request method",
	[DPOP_HTU] = "DPoP proof htu does not match the request URL",
	[DPOP_IAT] = "DPoP proof iat is missing or not a number",
	[DPOP_IAT_OLD] = "DPoP proof is too old",
	[DPOP_IAT_AHEAD] = "DPoP proof iat is in the future",
	[DPOP_ATH] = "DPoP proof ath does not match the access token",
	/* Auth0's text (Auth0 OpenAPI, /oauth/token; docs/COMPAT.md 10.4). */
	[DPOP_NONCE_MISSING] = "Authorization server requires nonce in DPoP "
	    "proof",
	[DPOP_NONCE_BAD] = "DPoP proof nonce is invalid or expired",
	[DPOP_REPLAY] = "DPoP proof jti has already been used",
	[DPOP_ERR] = "Internal error",
};

const char *
dpop_err_text(enum dpop_err e)
{
	return e < DPOP_ERR__MAX ? errs[e] : errs[DPOP_ERR];
}

int
dpop_err_nonce(enum dpop_err e)
{
	return e == DPOP_NONCE_MISSING || e == DPOP_NONCE_BAD;
}

/* The parts of a compact JWS (RFC 7515 7.1). */
struct jws {
	const char	*seg[3];
	size_t		 len[3];
	json_t		*hdr;		/* owned */
	json_t		*claims;	/* owned */
	unsigned char	 sig[DPOP_SIG_MAX];
	size_t		 siglen;
};

/* A base64url segment holding a JSON object, or NULL. */
static json_t *
seg_json(const char *s, size_t n)
{
	unsigned char	 buf[PART_MAX];
	long		 len;
	json_t		*v;

	if (n == 0 || (len = b64url_decode(s, n, buf, sizeof(buf))) <= 0)
		return NULL;
	v = json_loadb((const char *)buf, (size_t)len,
	    JSON_REJECT_DUPLICATES, NULL);
	if (v != NULL && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

/* Split and decode proof into j.  DPOP_OK or DPOP_MALFORMED. */
static enum dpop_err
jws_parse(const char *proof, struct jws *j)
{
	const char	*p = proof, *dot;
	long		 n;
	size_t		 i;

	if (strnlen(proof, LK_HEADER_MAX + 1) > LK_HEADER_MAX)
		return DPOP_MALFORMED;
	for (i = 0; i < 3; i++) {
		dot = strchr(p, '.');
		if ((i < 2) != (dot != NULL))
			return DPOP_MALFORMED;
		j->seg[i] = p;
		j->len[i] = dot != NULL ? (size_t)(dot - p) : strlen(p);
		p += j->len[i] + 1;
	}
	if ((j->hdr = seg_json(j->seg[0], j->len[0])) == NULL ||
	    (j->claims = seg_json(j->seg[1], j->len[1])) == NULL ||
	    j->len[2] == 0 ||
	    (n = b64url_decode(j->seg[2], j->len[2], j->sig,
	    sizeof(j->sig))) <= 0)
		return DPOP_MALFORMED;
	j->siglen = (size_t)n;
	return DPOP_OK;
}

/* RFC 9449 4.3 checks 4-8: typ, alg, jwk, the signature. */
static enum dpop_err
jws_check(struct jws *j, struct dpop_proof *out)
{
	const char	*typ, *alg;
	EVP_PKEY	*key = NULL;
	enum dpop_err	 rc;
	int		 a;

	typ = json_string_value(json_object_get(j->hdr, "typ"));
	if (typ == NULL || strcmp(typ, TYP) != 0)
		return DPOP_TYP;
	alg = json_string_value(json_object_get(j->hdr, "alg"));
	if ((a = vocab_find(&dpop_alg_vocab, alg)) < 0)
		return DPOP_ALG;
	out->alg = (enum dpop_alg)a;
	if ((rc = dpop_jwk_key(json_object_get(j->hdr, "jwk"), out->alg,
	    &key)) != DPOP_OK)
		return rc;
	/* The signing input: header "." payload, as sent. */
	rc = dpop_sig_verify(key, out->alg, j->seg[0],
	    j->len[0] + 1 + j->len[1], j->sig, j->siglen);
	EVP_PKEY_free(key);
	if (rc == DPOP_OK && dpop_jkt(json_object_get(j->hdr, "jwk"),
	    out->jkt, sizeof(out->jkt)) == -1)
		rc = DPOP_JWK;
	return rc;
}

/* The parts of an http(s) URL that RFC 9449 4.3 check 9 compares. */
struct url {
	const char	*scheme, *host, *path;
	size_t		 schemelen, hostlen, pathlen;
};

/*
 * Split u (n bytes) at "://", the authority and the path, without query
 * and fragment; a default port (:443 for https, :80 for http) is dropped
 * (RFC 3986 6.2.3).  0 or -1.
 */
static int
url_split(const char *u, struct url *out)
{
	const char	*p;
	size_t		 n = strcspn(u, "?#");

	if ((p = strstr(u, "://")) == NULL || p >= u + n || p == u)
		return -1;
	out->scheme = u;
	out->schemelen = (size_t)(p - u);
	out->host = p + 3;
	out->hostlen = strcspn(out->host, "/?#");
	out->path = out->host + out->hostlen;
	out->pathlen = (size_t)(u + n - out->path);
	if (out->hostlen == 0)
		return -1;
	if (out->schemelen == 5 && strncasecmp(u, "https", 5) == 0 &&
	    out->hostlen > 4 &&
	    strncmp(out->host + out->hostlen - 4, ":443", 4) == 0)
		out->hostlen -= 4;
	else if (out->schemelen == 4 && strncasecmp(u, "http", 4) == 0 &&
	    out->hostlen > 3 &&
	    strncmp(out->host + out->hostlen - 3, ":80", 3) == 0)
		out->hostlen -= 3;
	if (out->pathlen == 0) {
		out->path = "/";
		out->pathlen = 1;
	}
	return 0;
}

/* RFC 9449 4.3 check 9: scheme and host case-insensitively (RFC 3986
 * 6.2.2.1), the path exactly, query and fragment ignored. */
static int
htu_match(const char *htu, const char *want)
{
	struct url	 a, b;

	if (url_split(htu, &a) == -1 || url_split(want, &b) == -1)
		return 0;
	return a.schemelen == b.schemelen &&
	    strncasecmp(a.scheme, b.scheme, a.schemelen) == 0 &&
	    a.hostlen == b.hostlen &&
	    strncasecmp(a.host, b.host, a.hostlen) == 0 &&
	    a.pathlen == b.pathlen && memcmp(a.path, b.path, a.pathlen) == 0;
}

/* iat: a NumericDate (RFC 7519 2), in the window of dpop.h. */
static enum dpop_err
iat_check(const json_t *v, time_t now, time_t *iat)
{
	double	 d;

	if (!json_is_number(v))
		return DPOP_IAT;
	d = json_number_value(v);
	if (d < 0 || d > 1e12)
		return DPOP_IAT;
	*iat = (time_t)d;
	if (*iat < now - DPOP_IAT_PAST)
		return DPOP_IAT_OLD;
	if (*iat > now + DPOP_IAT_FUTURE)
		return DPOP_IAT_AHEAD;
	return DPOP_OK;
}

/* 1 when the claim name of c is the string want, time-safe. */
static int
claim_is(const json_t *c, const char *name, const char *want)
{
	const char	*s = json_string_value(json_object_get(c, name));

	return s != NULL && strlen(s) == strlen(want) &&
	    CRYPTO_memcmp(s, want, strlen(want)) == 0;
}

/* RFC 9449 4.3 checks 3, 9-12, and 8's nonce. */
static enum dpop_err
claims_check(const json_t *c, const struct dpop_want *w,
    struct dpop_proof *out)
{
	const char	*jti, *htm, *htu, *nonce;
	enum dpop_err	 rc;

	jti = json_string_value(json_object_get(c, "jti"));
	if (jti == NULL || *jti == '\0' || strlen(jti) > DPOP_JTI_MAX)
		return DPOP_JTI;
	htm = json_string_value(json_object_get(c, "htm"));
	if (htm == NULL || strcmp(htm, w->htm) != 0)
		return DPOP_HTM;
	htu = json_string_value(json_object_get(c, "htu"));
	if (htu == NULL || strlen(htu) > HTU_MAX ||
	    !htu_match(htu, w->htu))
		return DPOP_HTU;
	if ((rc = iat_check(json_object_get(c, "iat"), w->now, &out->iat)) !=
	    DPOP_OK)
		return rc;
	if (w->ath != NULL && !claim_is(c, "ath", w->ath))
		return DPOP_ATH;
	if (w->nonce_key != NULL) {
		nonce = json_string_value(json_object_get(c, "nonce"));
		if (nonce == NULL)
			return DPOP_NONCE_MISSING;
		if (!dpop_nonce_ok(w->nonce_key, nonce, w->now))
			return DPOP_NONCE_BAD;
	}
	memcpy(out->jti, jti, strlen(jti) + 1);
	return DPOP_OK;
}

enum dpop_err
dpop_verify(const char *header, const struct dpop_want *w,
    struct dpop_proof *out)
{
	struct jws	 j;
	enum dpop_err	 rc;

	memset(out, 0, sizeof(*out));
	memset(&j, 0, sizeof(j));
	if (header == NULL)
		return DPOP_MISSING;
	/* A web server joins repeated headers with ", " (RFC 9110 5.3); a
	 * JWS holds no comma (RFC 9449 4.3 check 1). */
	if (strchr(header, ',') != NULL)
		return DPOP_MULTIPLE;
	if ((rc = jws_parse(header, &j)) == DPOP_OK &&
	    (rc = jws_check(&j, out)) == DPOP_OK)
		rc = claims_check(j.claims, w, out);
	json_decref(j.hdr);
	json_decref(j.claims);
	if (rc != DPOP_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}
