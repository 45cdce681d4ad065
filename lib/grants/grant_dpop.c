/*
 * DPoP at the token endpoint and /userinfo (RFC 9449; docs/COMPAT.md
 * 10): the request's proof checked by dpop.c against the URL the
 * issuer's public address gives the endpoint (behind a prefix too: the
 * issuer names it), its jti spent in the replay store (SK_DPOP, shared
 * by every responder process), the server nonce demanded of public
 * clients, and the settings that require a proof.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define NONCE_RECORD	"dpop"		/* SK_META key */
#define NONCE_MEMBER	"nonce_key"

/* The key in SK_META "dpop" into key: STORE_NOTFOUND when absent,
 * STORE_ERR when unreadable. */
static enum store_rc
key_read(struct store *st, unsigned char *key)
{
	json_t		*rec = NULL;
	const char	*hex;
	enum store_rc	 rc;
	size_t		 i;
	unsigned int	 b;

	if ((rc = store_get(st, NULL, SK_META, NONCE_RECORD, &rec)) !=
	    STORE_OK)
		return rc;
	rc = STORE_ERR;
	hex = json_string_value(json_object_get(rec, NONCE_MEMBER));
	if (hex != NULL && strlen(hex) == 2 * DPOP_NONCE_KEY_LEN) {
		for (i = 0; i < DPOP_NONCE_KEY_LEN; i++)
			if (sscanf(hex + 2 * i, "%2x", &b) != 1)
				break;
			else
				key[i] = (unsigned char)b;
		if (i == DPOP_NONCE_KEY_LEN)
			rc = STORE_OK;
	}
	json_decref(rec);
	return rc;
}

/* A new key, unless another process wrote one first (then its). */
static enum store_rc
key_make(struct store *st, unsigned char *key)
{
	char		 hex[2 * DPOP_NONCE_KEY_LEN + 1];
	json_t		*rec;
	enum store_rc	 rc;

	if (rand_hex(hex, DPOP_NONCE_KEY_LEN) == -1 ||
	    (rec = json_pack("{s:s}", NONCE_MEMBER, hex)) == NULL)
		return STORE_ERR;
	rc = store_put(st, NULL, SK_META, NONCE_RECORD, rec,
	    STORE_NOOVERWRITE);
	json_decref(rec);
	OPENSSL_cleanse(hex, sizeof(hex));
	if (rc == STORE_OK || rc == STORE_EXISTS)
		rc = key_read(st, key);
	return rc;
}

int
grant_dpop_nonce_key(struct lk_ctx *ctx, const unsigned char **key)
{
	enum store_rc	 rc;

	if (!ctx->dpop_key_set) {
		rc = key_read(ctx->store, ctx->dpop_key);
		if (rc == STORE_NOTFOUND)
			rc = key_make(ctx->store, ctx->dpop_key);
		if (rc != STORE_OK) {
			lk_err("no DPoP nonce key");
			return -1;
		}
		ctx->dpop_key_set = 1;
	}
	*key = ctx->dpop_key;
	return 0;
}

/*
 * Check header for method at url and spend its jti (kept until the
 * proof would be too old anyway).  nonce_key NULL: none demanded.
 */
static enum dpop_err
proof_check(struct lk_ctx *ctx, const char *header, struct dpop_want *w,
    struct dpop_proof *out)
{
	enum dpop_err	 rc;

	if ((rc = dpop_verify(header, w, out)) != DPOP_OK)
		return rc;
	switch (store_dpop_use(ctx->store, out->jkt, out->jti,
	    out->iat + DPOP_IAT_PAST + 1, w->now)) {
	case STORE_OK:
		return DPOP_OK;
	case STORE_EXISTS:
		return DPOP_REPLAY;
	default:
		return DPOP_ERR;
	}
}

/* The URL of endpoint (no leading slash) under the issuer. */
static int
endpoint_url(const char *issuer, const char *endpoint, char *out,
    size_t outsz)
{
	int	 n;

	n = snprintf(out, outsz, "%s%s", issuer != NULL ? issuer : "",
	    endpoint);
	return issuer != NULL && n > 0 && (size_t)n < outsz ? 0 : -1;
}

int
grant_dpop(struct grant_req *g)
{
	struct dpop_want	 w;
	struct dpop_proof	 proof;
	const unsigned char	*key = NULL;
	char			 url[REC_ID_LEN + 32];
	enum dpop_err		 rc;
	int			 public = g->client.rec.auth_method ==
				    CLIENT_AUTH_NONE;

	if (g->req->dpop == NULL) {
		if (!g->client.rec.require_pop)
			return 0;
		oerr_write(g->resp, OERR_DPOP_PROOF,
		    dpop_err_text(DPOP_MISSING));
		return -1;
	}
	/* RFC 9449 8: a nonce of public clients, as Auth0 demands
	 * (docs/COMPAT.md 10.4). */
	if (public && grant_dpop_nonce_key(g->ctx, &key) == -1)
		rc = DPOP_ERR;
	else if (endpoint_url(g->tenant.issuer, "oauth/token", url,
	    sizeof(url)) == -1)
		rc = DPOP_ERR;
	else {
		g->dpop_nonce = public;
		memset(&w, 0, sizeof(w));
		w.htm = "POST";
		w.htu = url;
		w.now = g->req->now;
		w.nonce_key = key;
		rc = proof_check(g->ctx, g->req->dpop, &w, &proof);
	}
	if (rc == DPOP_OK) {
		memcpy(g->jkt, proof.jkt, sizeof(g->jkt));
		return 0;
	}
	if (rc == DPOP_ERR)
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
	else
		oerr_write(g->resp, dpop_err_nonce(rc) ? OERR_DPOP_NONCE :
		    OERR_DPOP_PROOF, dpop_err_text(rc));
	return -1;
}

void
grant_dpop_nonce_header(struct grant_req *g)
{
	const unsigned char	*key;
	char			 nonce[DPOP_NONCE_LEN + 1];

	if (!g->dpop_nonce ||
	    (g->resp->status != 200 && g->resp->status != 400))
		return;
	if (grant_dpop_nonce_key(g->ctx, &key) == 0 &&
	    dpop_nonce(key, g->req->now, nonce, sizeof(nonce)) == 0)
		resp_header(g->resp, "DPoP-Nonce", "%s", nonce);
}

int
grant_dpop_api_refused(struct grant_req *g, const struct api *api)
{

	if (g->jkt[0] != '\0' || api == NULL || api->json == NULL ||
	    !dpop_api_requires(api->proof_of_possession,
	    g->client.rec.auth_method == CLIENT_AUTH_NONE))
		return 0;
	oerr_write(g->resp, OERR_DPOP_PROOF, dpop_err_text(DPOP_MISSING));
	return 1;
}

enum dpop_err
grant_dpop_request(struct lk_ctx *ctx, const char *header,
    const char *method, const char *url, const char *token, time_t now,
    struct dpop_proof *out)
{
	struct dpop_want	 w;
	char			 ath[DPOP_ATH_LEN + 1];

	memset(out, 0, sizeof(*out));
	if (dpop_ath(token, ath, sizeof(ath)) == -1)
		return DPOP_ERR;
	memset(&w, 0, sizeof(w));
	w.htm = method;
	w.htu = url;
	w.now = now;
	w.ath = ath;
	return proof_check(ctx, header, &w, out);
}

void
grant_dpop_challenge(struct lk_resp *resp, const char *error, const char *desc)
{
	struct buf	 algs;
	size_t		 i;

	buf_init(&algs);
	for (i = 0; i < DPOP_ALG__MAX; i++)
		buf_printf(&algs, "%s%s", i > 0 ? " " : "",
		    vocab_name(&dpop_alg_vocab, i));
	if (algs.p == NULL)
		return;
	if (error != NULL)
		resp_header(resp, "WWW-Authenticate", "DPoP algs=\"%s\", "
		    "error=\"%s\", error_description=\"%s\"", algs.p, error,
		    desc != NULL ? desc : "");
	else
		resp_header(resp, "WWW-Authenticate", "DPoP algs=\"%s\"",
		    algs.p);
	buf_clear(&algs);
}
