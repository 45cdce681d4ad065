/*
 * extlogin.c: a password login at a connection whose passwords an
 * upstream identity provider checks (Azure AD / Entra ID, ADFS;
 * docs/COMPAT.md 12), in the place grant_password_user has for database
 * connections (login.c's table):
 *  1. attack protection first (guard_before): a blocked pair or IP costs
 *     no upstream call;
 *  2. the resource owner password grant at the upstream token endpoint
 *     (extconn.c builds it, upstream.c sends it);
 *  3. its answer classified: bad credentials are LOGIN_WRONG, whatever
 *     the upstream said, so an unknown user and a wrong password get
 *     the same answer; MFA required is LOGIN_MFA; anything else the
 *     upstream did wrong is a 503 with Retry-After, written here;
 *  4. the id_token verified (upid.c) against the upstream JWKS
 *     (upjwks.c, fetched again once on an unknown kid), all the calls
 *     of one login within the connection's upstream_timeout_ms;
 *  5. the shadow user written (shadow.c) and, when blocked, refused.
 * The audit and brute-force records are those of a database login.
 * Neither the password nor the upstream's secret or tokens are logged;
 * what the upstream said is logged escaped, and never sent on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define EXT_UID_MAX	200

/* The token request: the answer into *a, the id_token into *idt. */
static enum upstream_rc
ask(struct grant_req *g, const struct conn *c, enum ext_answer *a,
    char **idt, char *why, size_t whysz)
{
	struct upstream_call	 call;
	struct buf		 form;
	enum upstream_rc	 rc = UP_ERR;

	*idt = NULL;
	buf_init(&form);
	upstream_call_init(&call);
	if (extconn_form(c, g->p.v[F_USERNAME], g->p.v[F_PASSWORD],
	    &form) == -1)
		goto out;
	call.url = c->token_url;
	call.form = form.p;
	call.ca_file = c->ca_file;
	call.connect_ms = (long)c->upstream_connect_timeout_ms;
	call.total_ms = (long)c->upstream_timeout_ms;
	if ((rc = upstream_fetch(&call)) == UP_OK)
		*a = extconn_answer(call.status, call.body.p, idt, why, whysz);
out:
	if (form.p != NULL)
		OPENSSL_cleanse(form.p, form.cap);
	buf_clear(&form);
	upstream_call_clear(&call);
	return rc;
}

/* What is left of the connection's timeout for the whole login, which
 * began at t0 (ms): every call after the token request shares it. */
static long
budget(const struct conn *c, double t0)
{

	return (long)((double)c->upstream_timeout_ms - (lk_mono_ms() - t0));
}

/*
 * Verify idt, fetching the JWKS again once for an unknown kid.
 * UPID_OK with *claims; UPID__MAX when no keys could be had (the JWKS
 * fetch failed or the time ran out); *wait > 0 when a fetch for an
 * unknown kid is allowed only that many seconds later.
 */
static enum upid_rc
verify(struct grant_req *g, const struct conn *c, const char *idt,
    double t0, json_t **claims, long *wait)
{
	struct upid_expect	 x;
	const json_t		*keys;
	enum upjwks_rc		 jrc;
	enum upid_rc		 rc;

	*claims = NULL;
	x.issuer = c->upstream_issuer;
	x.audience = c->upstream_client_id;
	x.tenant_id = c->tenant_id;
	x.now = g->req->now;
	if (budget(c, t0) <= 0 ||
	    upjwks_get(c, g->req->now, 0, budget(c, t0), &keys, wait) !=
	    UPJWKS_OK)
		return UPID__MAX;
	if ((rc = upid_verify(idt, keys, &x, claims)) != UPID_NO_KEY)
		return rc;
	if (budget(c, t0) <= 0)
		return UPID__MAX;
	jrc = upjwks_get(c, g->req->now, 1, budget(c, t0), &keys, wait);
	if (jrc == UPJWKS_WAIT)
		return UPID_NO_KEY;
	if (jrc != UPJWKS_OK)
		return UPID__MAX;
	return upid_verify(idt, keys, &x, claims);
}

/* A verified login: the shadow user, refused when blocked. */
static enum login_rc
admit_user(struct grant_req *g, const struct conn *c, const json_t *claims,
    struct user *user)
{
	struct shadow_profile	 p;
	char			 uid[EXT_UID_MAX];

	if (shadow_from_claims(c, extconn_def(c->strategy), claims, uid,
	    sizeof(uid), &p) == -1) {
		lk_warn("connection %s: the id_token has no usable user id "
		    "claim", c->name);
		return login_unavailable(g, OERR_UPSTREAM_UNVERIFIED, 0);
	}
	return login_shadow_admit(g, &p, user);
}

/* The id_token of a 200: verified, then the user. */
static enum login_rc
token_login(struct grant_req *g, const struct conn *c, const char *idt,
    double t0, struct user *user)
{
	json_t		*claims = NULL;
	enum upid_rc	 vrc;
	enum login_rc	 rc;
	long		 wait = 0;

	if ((vrc = verify(g, c, idt, t0, &claims, &wait)) == UPID__MAX) {
		lk_warn("connection %s: no upstream signing keys within the "
		    "timeout", c->name);
		return login_unavailable(g, OERR_UPSTREAM_UNAVAILABLE, 0);
	}
	if (vrc != UPID_OK) {
		lk_warn("connection %s: upstream id_token refused: %s%s",
		    c->name, vocab_name(&upid_rc_vocab, vrc), wait > 0 ?
		    " (JWKS fetched too recently to fetch again)" : "");
		return login_unavailable(g, OERR_UPSTREAM_UNVERIFIED, wait);
	}
	rc = admit_user(g, c, claims, user);
	json_decref(claims);
	return rc;
}

enum login_rc
grant_external_user(struct grant_req *g, const struct conn *c,
    struct user *user)
{
	enum upstream_rc	 urc;
	enum ext_answer		 a = EXT_FAILED;
	enum login_rc		 rc;
	char			*idt = NULL, why[160];
	double			 t0 = lk_mono_ms();

	memset(user, 0, sizeof(*user));
	why[0] = '\0';
	if (guard_before(g->ctx, &g->tenant, &g->who, g->p.v[F_USERNAME],
	    g->req->now, g->resp) == -1)
		return LOGIN_THROTTLED;
	if ((urc = ask(g, c, &a, &idt, why, sizeof(why))) != UP_OK) {
		lk_warn("connection %s: token endpoint: %s", c->name,
		    vocab_name(&upstream_rc_vocab, urc));
		return login_unavailable(g, OERR_UPSTREAM_UNAVAILABLE, 0);
	}
	switch (a) {
	case EXT_TOKEN:
		rc = token_login(g, c, idt, t0, user);
		break;
	case EXT_WRONG:
		rc = login_attempt(g, NULL, GUARD_EV_WRONG_PASSWORD,
		    LOGIN_WRONG);
		break;
	case EXT_MFA:
		lk_info("connection %s: the upstream requires MFA (%s)",
		    c->name, why);
		rc = LOGIN_MFA;
		break;
	default:
		lk_warn("connection %s: token endpoint: %s: %s", c->name,
		    vocab_name(&ext_answer_vocab, a), why);
		rc = login_unavailable(g, OERR_UPSTREAM_UNAVAILABLE, 0);
		break;
	}
	if (idt != NULL)
		OPENSSL_cleanse(idt, strlen(idt));
	free(idt);
	return rc;
}
