/*
 * grant_mfa.c: the second factor of the password grants (docs/COMPAT.md
 * 13.2, 13.4).
 *
 * The challenge: once a login grant's first factor passed (never
 * before, so a wrong password gets the same answer with MFA or
 * without), mfa_gate() asks the policy (mfa_policy.c) and, when a
 * second factor is due, answers 403 mfa_required with an mfa_token
 * (mfa_token.c) bound to the login; /oauth/ro gets Auth0's legacy
 * a0.mfa_required or a0.mfa_registration_required.
 *
 * The grants: mfa-otp and mfa-recovery-code open the token (the same
 * client must present it), refuse a blocked user and a user past the
 * failure limit, then in one transaction check the code, count a
 * failure or spend the token, update the authenticator and append the
 * audit event, and finally issue what the first grant would have: the
 * token's audience and scope under the same rules (issue.c).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "extern.h"

/* The additional data a TOTP secret is sealed with: its owner and id. */
void
mfa_secret_aad(const char *user_id, const char *id, char *out, size_t outsz)
{

	snprintf(out, outsz, "latchkey totp %s %s", user_id, id);
}

void
mfa_recovery_fold(const char *in, char *out, size_t outsz)
{
	size_t	 i;

	for (i = 0; in[i] != '\0' && i + 1 < outsz; i++)
		out[i] = in[i] >= 'a' && in[i] <= 'z' ?
		    (char)(in[i] - 'a' + 'A') : in[i];
	out[i] = '\0';
}

int
mfa_recovery_new(char *out, size_t outsz, char hash[72])
{
	unsigned char	 raw[15];	/* 120 bits: 24 base32 characters */
	int		 rc;

	if (RAND_priv_bytes(raw, sizeof(raw)) != 1 ||
	    base32_encode(raw, sizeof(raw), out, outsz) == -1)
		rc = -1;
	else
		rc = hash_secret(out, strlen(out), hash);
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* ------------------------------------------------------------------ */
/* The challenge.                                                      */

/* The second-factor step due for user: -1 (500 written) on error. */
static int
gate_of(struct grant_req *g, const struct user *u, enum mfa_gate *gate)
{
	struct mfa_set		 set;
	enum mfa_policy		 p = mfa_policy_of(&g->tenant, u);

	*gate = MFA_GATE_NONE;
	if (p == MFA_NEVER)
		return 0;
	if (mfa_set_load(g->ctx->store, u->user_id, &set) != STORE_OK) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return -1;
	}
	/* An otp enrolment still pending (one made with an MFA API access
	 * token) is challenged too: the next login's code confirms it
	 * (docs/COMPAT.md 13.4). */
	*gate = mfa_gate_decide(p, mfa_set_enrolled(&set) ||
	    mfa_set_find(&set, MFA_TYPE_OTP, 0) != NULL);
	mfa_set_clear(&set);
	return 0;
}

int
mfa_gate(struct grant_req *g, const struct user *u, const char *realm)
{
	struct mfa_tok	 t;
	enum mfa_gate	 gate;
	char		 tok[MFA_SEAL_MAX + 1];
	const char	*aud = g->p.v[F_AUDIENCE];

	if (gate_of(g, u, &gate) == -1)
		return -1;
	if (gate == MFA_GATE_NONE)
		return 0;
	/* Auth0: the client needs the MFA grant types (docs/COMPAT.md 13.1). */
	if (!mfa_client_allowed(&g->client.rec)) {
		oerr_write(g->resp, OERR_GRANT_NOT_ALLOWED,
		    grant_type_def(GT_MFA_OTP)->uri);
		return -1;
	}
	memset(&t, 0, sizeof(t));
	t.user_id = u->user_id;
	t.client_id = g->client.client_id;
	t.audience = aud != NULL && *aud != '\0' ? aud : NULL;
	t.scope = g->p.v[F_SCOPE];
	t.realm = realm;
	t.gty = g->gty;
	if (mfa_token_make(g->ctx->store, &t, g->req->now, tok,
	    sizeof(tok)) == -1) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return -1;
	}
	oerr_write_with(g->resp, OERR_MFA_REQUIRED, "mfa_token", tok);
	OPENSSL_cleanse(tok, sizeof(tok));
	if (mfa_audit(g->ctx->store, NULL, &g->who, u->user_id,
	    GUARD_EV_MFA_REQUIRED, g->req->now) != STORE_OK)
		lk_warn("cannot append to the audit log");
	return -1;
}

int
mfa_gate_ro(struct grant_req *g, const struct user *u)
{
	enum mfa_gate	 gate;

	if (gate_of(g, u, &gate) == -1)
		return -1;
	if (gate == MFA_GATE_NONE)
		return 0;
	oerr_write(g->resp, gate == MFA_GATE_ENROL ?
	    OERR_RO_MFA_REGISTRATION : OERR_RO_MFA_REQUIRED, NULL);
	return -1;
}

/* ------------------------------------------------------------------ */
/* The grants.                                                         */

/* What an MFA grant works on. */
struct mfa_run {
	struct grant_req	*g;
	struct mfa_tok		 t;
	struct user		 user;
	struct mfa_set		 set;
	const struct authenticator *auth;	/* the one checked */
	/* mfa-otp: the otp authenticators to try, active ones first. */
	const struct authenticator *cand[MFA_AUTH_MAX];
	size_t			 ncand;
	const char		*code;		/* as presented */
	const char		*binding;	/* mfa-oob: the code sent */
	/* The transaction's outcome. */
	int			 ok;		/* the code matched */
	int			 spent;		/* the token was spent already */
	int			 enrolled;	/* the check confirmed an enrolment */
	char			 next[MFA_RECOVERY_LEN + 1];	/* new recovery code */
};

static void
run_clear(struct mfa_run *r)
{
	mfa_tok_clear(&r->t);
	record_clear(REC_USER, &r->user);
	mfa_set_clear(&r->set);
	OPENSSL_cleanse(r->next, sizeof(r->next));
}

/* The token's map to the wire. */
static const enum oerr tok_errs[] = {
	[MFA_TOK_OK] = OERR__MAX,
	[MFA_TOK_MALFORMED] = OERR_MFA_TOKEN_MALFORMED,
	[MFA_TOK_EXPIRED] = OERR_MFA_TOKEN_EXPIRED,
	[MFA_TOK_ERR] = OERR_SERVER_ERROR,
};

/*
 * The steps every MFA grant shares: the fields, the token (of this
 * client), its user (not blocked) and the failure limit, then the
 * user's authenticators.  0, or -1 with the error written.
 */
static int
run_begin(struct mfa_run *r, enum field code)
{
	struct grant_req	*g = r->g;
	enum mfa_tok_rc		 trc;
	enum store_rc		 src;
	int			 room;

	if (g->p.v[F_MFA_TOKEN] == NULL || *g->p.v[F_MFA_TOKEN] == '\0')
		return oerr_write(g->resp, OERR_MISSING_PARAM, "mfa_token"), -1;
	if ((r->code = g->p.v[code]) == NULL || *r->code == '\0')
		return oerr_write(g->resp, OERR_MISSING_PARAM,
		    field_name(code)), -1;
	trc = mfa_token_open(g->ctx->store, g->p.v[F_MFA_TOKEN], g->req->now,
	    &r->t);
	if (trc == MFA_TOK_OK && strcmp(r->t.client_id, g->client.client_id))
		trc = MFA_TOK_MALFORMED;	/* another client's */
	if (trc != MFA_TOK_OK)
		return oerr_write(g->resp, tok_errs[trc], NULL), -1;
	src = record_get(g->ctx->store, NULL, REC_USER, r->t.user_id, &r->user);
	if (src != STORE_OK)
		return oerr_write(g->resp, src == STORE_NOTFOUND ?
		    OERR_MFA_TOKEN_MALFORMED : OERR_SERVER_ERROR, NULL), -1;
	if (r->user.blocked)
		return oerr_write(g->resp, OERR_USER_BLOCKED, NULL), -1;
	room = mfa_fail_room(g->ctx->store, NULL, r->t.user_id, g->req->now);
	if (room == 0) {
		oerr_write(g->resp, OERR_MFA_TOO_MANY, NULL);
		(void)mfa_audit(g->ctx->store, NULL, &g->who, r->t.user_id,
		    GUARD_EV_MFA_TOO_MANY, g->req->now);
		return -1;
	}
	if (room < 0 || mfa_set_load(g->ctx->store, r->t.user_id, &r->set) !=
	    STORE_OK)
		return oerr_write(g->resp, OERR_SERVER_ERROR, NULL), -1;
	return 0;
}

/* In txn: the fresh record of r->auth into *a (record_clear it). */
static enum store_rc
auth_reread(struct store *s, struct txn *txn, const struct mfa_run *r,
    struct authenticator *a)
{
	char	 key[256];

	snprintf(key, sizeof(key), "a\x1f%s\x1f%s", r->t.user_id, r->auth->id);
	return record_get(s, txn, REC_AUTHENTICATOR, key, a);
}

/* In txn: a failed check counts against the limit and is audited. */
static enum store_rc
run_failed(struct store *s, struct txn *txn, struct mfa_run *r,
    enum guard_event ev)
{
	enum store_rc	 rc;

	if ((rc = mfa_fail_take(s, txn, r->t.user_id, r->g->req->now)) !=
	    STORE_OK)
		return rc;
	return mfa_audit(s, txn, &r->g->who, r->t.user_id, ev,
	    r->g->req->now);
}

/* In txn: activate the user's pending recovery code (the one given at
 * the first enrolment) once an enrolment is confirmed. */
static enum store_rc
activate_pending(struct store *s, struct txn *txn, const struct mfa_run *r)
{
	json_t		*rec;
	size_t		 i;
	enum store_rc	 rc = STORE_OK;

	for (i = 0; i < r->set.n && rc == STORE_OK; i++) {
		if (r->set.a[i].active || r->set.a[i].type != MFA_TYPE_RECOVERY)
			continue;
		if ((rec = json_deep_copy(r->set.a[i].json)) == NULL)
			return STORE_ERR;
		json_object_set_new(rec, "active", json_true());
		rc = mfa_auth_put(s, txn, rec);
		json_decref(rec);
	}
	return rc;
}

/*
 * In txn: a code verified for a: spend the token, mark a active (with
 * the user's pending authenticators when this confirms an enrolment)
 * and audit.  A token spent already (a replay) writes nothing.
 */
static enum store_rc
run_confirm(struct store *s, struct txn *txn, struct mfa_run *r,
    struct authenticator *a)
{
	enum store_rc	 rc;

	if ((rc = mfa_token_spend(s, txn, &r->t, r->g->req->now)) ==
	    STORE_EXISTS) {
		r->spent = 1;
		return STORE_OK;
	}
	if (rc != STORE_OK)
		return rc;
	r->enrolled = !a->active;
	json_object_set_new(a->json, "active", json_true());
	if ((rc = mfa_auth_put(s, txn, a->json)) == STORE_OK && r->enrolled)
		rc = activate_pending(s, txn, r);
	if (rc == STORE_OK)
		rc = mfa_audit(s, txn, &r->g->who, r->t.user_id, r->enrolled ?
		    GUARD_EV_MFA_ENROLLED : GUARD_EV_MFA_SUCCESS, r->g->req->now);
	return rc;
}

/* In txn: a's secret against the code (RFC 6238, a step accepted
 * once); *step the step that matched.  1 on a match, 0 on none, -1 when
 * the secret cannot be opened. */
static int
otp_match(struct store *s, const struct authenticator *a, const char *code,
    time_t now, long long *step)
{
	unsigned char	 key[64];
	char		 aad[512];
	long		 n;
	int		 ok;

	mfa_secret_aad(a->user_id, a->id, aad, sizeof(aad));
	if ((n = mfa_open(s, aad, a->secret, key, sizeof(key))) < 0)
		return -1;
	ok = totp_check(key, (size_t)n, code, TOTP_DIGITS, now, a->last_step,
	    step);
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

/*
 * In txn: the otp check.  The code is tried against each candidate
 * (the active authenticators, then the pending ones: docs/COMPAT.md
 * 13.4), each re-read here; the first that matches is confirmed, and
 * when none does one failure is counted, however many were tried.
 */
static enum store_rc
otp_txn(struct store *s, struct txn *txn, void *arg)
{
	struct mfa_run		*r = arg;
	struct authenticator	 a;
	long long		 step = 0;
	enum store_rc		 rc;
	size_t			 i;
	int			 m;

	r->ok = r->spent = r->enrolled = 0;
	for (i = 0; i < r->ncand && !r->ok; i++) {
		r->auth = r->cand[i];
		if ((rc = auth_reread(s, txn, r, &a)) != STORE_OK)
			return rc;
		if ((m = otp_match(s, &a, r->code, r->g->req->now, &step)) ==
		    -1) {
			record_clear(REC_AUTHENTICATOR, &a);
			return STORE_ERR;
		}
		if ((r->ok = m) == 1) {
			json_object_set_new(a.json, "last_step",
			    json_integer(step));
			rc = run_confirm(s, txn, r, &a);
		}
		record_clear(REC_AUTHENTICATOR, &a);
		if (r->ok)
			return rc;
	}
	return run_failed(s, txn, r, GUARD_EV_MFA_FAILED);
}

/* In txn: the binding code the user typed against the one sent. */
static enum store_rc
oob_txn(struct store *s, struct txn *txn, void *arg)
{
	struct mfa_run		*r = arg;
	struct authenticator	 a;
	enum store_rc		 rc;
	size_t			 n = strlen(r->binding);

	r->ok = r->spent = r->enrolled = 0;
	if ((rc = auth_reread(s, txn, r, &a)) != STORE_OK)
		return rc;
	r->ok = strlen(r->code) == n &&
	    CRYPTO_memcmp(r->code, r->binding, n) == 0;
	rc = r->ok ? run_confirm(s, txn, r, &a) :
	    run_failed(s, txn, r, GUARD_EV_MFA_FAILED);
	record_clear(REC_AUTHENTICATOR, &a);
	return rc;
}

/* In txn: the recovery code check; a success replaces it (r->next). */
static enum store_rc
recovery_txn(struct store *s, struct txn *txn, void *arg)
{
	struct mfa_run		*r = arg;
	struct authenticator	 a;
	char			 hash[72], code[MFA_RECOVERY_LEN + 1];
	enum store_rc		 rc;

	r->ok = r->spent = 0;
	if ((rc = auth_reread(s, txn, r, &a)) != STORE_OK)
		return rc;
	/* Typed in either case, as the base32 alphabet allows. */
	mfa_recovery_fold(r->code, code, sizeof(code));
	r->ok = hash_secret_check(a.code_hash, code, strlen(code));
	OPENSSL_cleanse(code, sizeof(code));
	if (!r->ok)
		rc = run_failed(s, txn, r, GUARD_EV_MFA_RECOVERY_FAILED);
	else if ((rc = mfa_token_spend(s, txn, &r->t, r->g->req->now)) ==
	    STORE_EXISTS) {
		r->spent = 1;	/* nothing written: a replay */
		rc = STORE_OK;
	} else if (rc == STORE_OK) {
		if (mfa_recovery_new(r->next, sizeof(r->next), hash) == -1)
			rc = STORE_ERR;
		else {
			json_object_set_new(a.json, "code_hash",
			    json_string(hash));
			rc = mfa_auth_put(s, txn, a.json);
		}
		if (rc == STORE_OK)
			rc = mfa_audit(s, txn, &r->g->who, r->t.user_id,
			    GUARD_EV_MFA_RECOVERY_OK, r->g->req->now);
	}
	record_clear(REC_AUTHENTICATOR, &a);
	return rc;
}

/* The tokens of the login the mfa_token continues (docs/COMPAT.md 13.4):
 * its audience and scope, under the login rules. */
static void
run_issue(struct mfa_run *r)
{
	struct grant_req	*g = r->g;
	struct api		 api;
	const char		*aud;
	enum aud_rc		 arc;

	g->p.v[F_AUDIENCE] = r->t.audience;
	g->p.v[F_SCOPE] = r->t.scope;
	if ((arc = grant_audience(g, &api, &aud)) != AUD_OK) {
		grant_fail(g, token_errs.aud[arc], aud);
		return;
	}
	grant_issue_login(g, &r->user, &api);
	record_clear(REC_API, &api);
}

/* Check r->auth's code in fn, then answer: wrong code e, else issue. */
static void
run_check(struct mfa_run *r, enum store_rc (*fn)(struct store *, struct txn *,
    void *), enum oerr wrong)
{
	struct grant_req	*g = r->g;

	if (store_txn_run(g->ctx->store, fn, r) != STORE_OK) {
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return;
	}
	if (!r->ok) {
		oerr_write(g->resp, wrong, NULL);
		return;
	}
	if (r->spent) {
		oerr_write(g->resp, OERR_MFA_TOKEN_MALFORMED, NULL);
		return;
	}
	if (r->next[0] != '\0')
		snprintf(g->recovery, sizeof(g->recovery), "%s", r->next);
	run_issue(r);
}

/* The user's otp authenticators, the active ones first: a code that
 * matches none of them may confirm one being enrolled. */
static void
otp_candidates(struct mfa_run *r)
{
	size_t	 i;
	int	 active;

	r->ncand = 0;
	for (active = 1; active >= 0; active--)
		for (i = 0; i < r->set.n; i++)
			if (r->set.a[i].type == MFA_TYPE_OTP &&
			    (r->set.a[i].active != 0) == active)
				r->cand[r->ncand++] = &r->set.a[i];
}

void
grant_mfa_otp(struct grant_req *g)
{
	struct mfa_run	 r;

	memset(&r, 0, sizeof(r));
	r.g = g;
	if (run_begin(&r, F_OTP) == -1)
		goto out;
	otp_candidates(&r);
	if (r.ncand == 0) {
		oerr_write(g->resp, OERR_MFA_NOT_ENROLLED, NULL);
		goto out;
	}
	run_check(&r, otp_txn, OERR_MFA_INVALID_OTP);
out:
	run_clear(&r);
}

void
grant_mfa_recovery(struct grant_req *g)
{
	struct mfa_run	 r;

	memset(&r, 0, sizeof(r));
	r.g = g;
	if (run_begin(&r, F_RECOVERY_CODE) == -1)
		goto out;
	if ((r.auth = mfa_set_find(&r.set, MFA_TYPE_RECOVERY, 1)) == NULL) {
		oerr_write(g->resp, OERR_MFA_NO_RECOVERY, NULL);
		goto out;
	}
	run_check(&r, recovery_txn, OERR_MFA_INVALID_RECOVERY);
out:
	run_clear(&r);
}

/* The oob authenticator with id, or NULL. */
static const struct authenticator *
oob_of(const struct mfa_set *set, const char *id)
{
	size_t	 i;

	for (i = 0; id != NULL && i < set->n; i++)
		if (set->a[i].type == MFA_TYPE_OOB &&
		    strcmp(set->a[i].id, id) == 0)
			return &set->a[i];
	return NULL;
}

void
grant_mfa_oob(struct grant_req *g)
{
	struct mfa_run	 r;
	struct mfa_oob	 o;

	memset(&r, 0, sizeof(r));
	memset(&o, 0, sizeof(o));
	r.g = g;
	if (run_begin(&r, F_OOB_CODE) == -1)
		goto out;
	if (mfa_oob_open(g->ctx->store, r.code, &r.t, g->req->now, &o) == -1 ||
	    (r.auth = oob_of(&r.set, o.auth_id)) == NULL) {
		oerr_write(g->resp, OERR_MFA_OOB_MALFORMED, NULL);
		goto out;
	}
	/* Prompt binding: nothing was entered until a binding_code comes
	 * (docs/COMPAT.md 13.4). */
	if ((r.code = g->p.v[F_BINDING_CODE]) == NULL || *r.code == '\0') {
		oerr_write(g->resp, OERR_MFA_PENDING, NULL);
		goto out;
	}
	r.binding = o.binding;
	run_check(&r, oob_txn, OERR_MFA_INVALID_BINDING);
out:
	mfa_oob_clear(&o);
	run_clear(&r);
}
