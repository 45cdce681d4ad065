/*
 * mfa_endpoint.c: the /mfa/ endpoints (docs/COMPAT.md 13.3), called with
 * "Authorization: Bearer <token>" (RFC 6750 2.1), the token either the
 * mfa_token of a login or an MFA API access token (mfa_api.c; a JWT,
 * told apart by its dots, which base64url of a sealed mfa_token lacks):
 *	POST /mfa/associate	 enrol an authenticator: otp (its secret and
 *				 Auth0's otpauth:// barcode_uri) or oob (sms
 *				 or email: a code sent, its oob_code) and, on
 *				 the first enrolment, a recovery code; with
 *				 the mfa_token only while the user has no
 *				 active authenticator, with an access token
 *				 (scope enroll) otp at any time;
 *	GET /mfa/authenticators	 the user's authenticators (an access token
 *				 needs read:authenticators);
 *	DELETE /mfa/authenticators/{id}
 *				 one of them goes (an access token with
 *				 remove:authenticators only: an mfa_token
 *				 proves the password alone).
 * An enrolment stays pending until a first mfa-otp or mfa-oob grant
 * confirms it (grant_mfa.c); enrolling again meanwhile replaces the
 * pending one of its type.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "extern.h"

/* What every endpoint starts from: the caller's user and authenticators,
 * and the token it came with. */
struct mfa_call {
	struct tenant	 tenant;
	struct mfa_tok	 t;		/* the mfa_token; for an access token
					 * only user_id and client_id */
	int		 by_access;	/* t came from an access token */
	struct user	 user;
	struct mfa_set	 set;
};

/* Which tokens an endpoint takes. */
enum call_takes { TAKES_BOTH, TAKES_ACCESS };

static void
call_clear(struct mfa_call *c)
{
	record_clear(REC_TENANT, &c->tenant);
	mfa_tok_clear(&c->t);
	record_clear(REC_USER, &c->user);
	mfa_set_clear(&c->set);
}

/* The Bearer token of the Authorization header (RFC 6750 2.1), or NULL. */
static const char *
bearer(const struct lk_req *req)
{
	const char	*a = req->authorization;

	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return NULL;
	for (a += 7; *a == ' '; a++)
		continue;
	return *a != '\0' ? a : NULL;
}

/* The mfa_token tok into c->t; -1 with the error written. */
static int
call_mfa_token(struct lk_ctx *ctx, const struct lk_req *req, const char *tok,
    struct lk_resp *resp, struct mfa_call *c)
{
	enum mfa_tok_rc	 trc;

	trc = mfa_token_open(ctx->store, tok, req->now, &c->t);
	if (trc != MFA_TOK_OK)
		return oerr_write(resp, trc == MFA_TOK_EXPIRED ?
		    OERR_MFA_TOKEN_EXPIRED : trc == MFA_TOK_ERR ?
		    OERR_SERVER_ERROR : OERR_MFA_TOKEN_MALFORMED, NULL), -1;
	return 0;
}

/* The caller's user, not blocked when it came with an access token;
 * -1 with the error written. */
static int
call_user(struct lk_ctx *ctx, struct lk_resp *resp, struct mfa_call *c)
{
	enum store_rc	 src;

	src = record_get(ctx->store, NULL, REC_USER, c->t.user_id, &c->user);
	if (src == STORE_NOTFOUND && c->by_access)
		return mfa_api_refuse(resp, MFA_REF_USER_GONE), -1;
	if (src != STORE_OK)
		return oerr_write(resp, src == STORE_NOTFOUND ?
		    OERR_MFA_TOKEN_MALFORMED : OERR_SERVER_ERROR, NULL), -1;
	if (c->by_access && c->user.blocked)
		return mfa_api_refuse(resp, MFA_REF_BLOCKED), -1;
	return 0;
}

/* The tenant, the token (an access token granted need, or where takes
 * allows it an mfa_token), its user and authenticators; -1 with the
 * error written. */
static int
call_begin(struct lk_ctx *ctx, const struct lk_req *req,
    struct lk_resp *resp, struct mfa_call *c, enum call_takes takes,
    enum mfa_api_scope need)
{
	const char	*tok = bearer(req);

	if (ctx_tenant(ctx, &c->tenant) == -1)
		return oerr_write(resp, OERR_NOT_CONFIGURED, NULL), -1;
	if (tok == NULL) {
		resp_header(resp, "WWW-Authenticate", "Bearer");
		return oerr_write(resp, OERR_MFA_NO_TOKEN, NULL), -1;
	}
	c->by_access = strchr(tok, '.') != NULL;
	if (!c->by_access && takes == TAKES_ACCESS)
		return mfa_api_refuse(resp, MFA_REF_MFA_TOKEN), -1;
	if (c->by_access ? mfa_api_access(ctx->store, &c->tenant, tok, need,
	    req->now, &c->t, resp) == -1 :
	    call_mfa_token(ctx, req, tok, resp, c) == -1)
		return -1;
	if (call_user(ctx, resp, c) == -1)
		return -1;
	if (mfa_set_load(ctx->store, c->t.user_id, &c->set) != STORE_OK)
		return oerr_write(resp, OERR_SERVER_ERROR, NULL), -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* GET /mfa/authenticators                                             */

void
mfa_authenticators(struct lk_ctx *ctx, const struct lk_req *req,
    struct lk_resp *resp)
{
	struct mfa_call	 c;
	const struct authenticator *a;
	json_t		*list;
	size_t		 i;

	memset(&c, 0, sizeof(c));
	if (call_begin(ctx, req, resp, &c, TAKES_BOTH, MFA_SCOPE_READ) == -1)
		goto out;
	if ((list = json_array()) == NULL)
		goto fail;
	for (i = 0; i < c.set.n; i++) {
		a = &c.set.a[i];
		json_array_append_new(list, json_pack("{s:s, s:s, s:b}",
		    "id", a->id, "authenticator_type",
		    vocab_name(&mfa_type_vocab, a->type), "active", a->active));
	}
	resp_nostore(resp);
	resp_json(resp, 200, list);
	json_decref(list);
	goto out;
fail:
	oerr_write(resp, OERR_SERVER_ERROR, NULL);
out:
	call_clear(&c);
}

/* ------------------------------------------------------------------ */
/* POST /mfa/associate                                                 */

/* The one type asked for (Auth0 takes ["otp"] or ["oob"]); -1 with the
 * error written. */
static int
asked_type(const struct params *p, struct lk_resp *resp, enum mfa_type *t)
{
	json_t		*a;
	const char	*name;
	int		 x;

	if (p->v[F_AUTHENTICATOR_TYPES] == NULL ||
	    (a = json_loads(p->v[F_AUTHENTICATOR_TYPES], 0, NULL)) == NULL)
		return oerr_write(resp, OERR_MISSING_PARAM,
		    "authenticator_types"), -1;
	name = json_array_size(a) == 1 ?
	    json_string_value(json_array_get(a, 0)) : NULL;
	x = name != NULL ? vocab_find(&mfa_type_vocab, name) : -1;
	if (x != MFA_TYPE_OTP && x != MFA_TYPE_OOB) {
		oerr_write(resp, json_array_size(a) == 0 ?
		    OERR_MISSING_PARAM : OERR_MFA_UNSUPPORTED_TYPE,
		    json_array_size(a) == 0 ? "authenticator_types" :
		    name != NULL ? name : "(not one string)");
		json_decref(a);
		return -1;
	}
	json_decref(a);
	*t = (enum mfa_type)x;
	return 0;
}

/* An oob enrolment's channel and recipient. */
struct oob_ask {
	enum mfa_channel channel;
	char		 recipient[IDENT_MAX + 1];
};

/* oob_channels (one of "sms", "email") and its recipient, phone_number
 * or email, checked as /passwordless/start checks them; -1 with the
 * error written. */
static int
asked_oob(const struct params *p, struct lk_resp *resp, struct oob_ask *o)
{
	json_t		*a;
	const char	*name;
	int		 x;
	enum field	 f;

	if (p->v[F_OOB_CHANNELS] == NULL ||
	    (a = json_loads(p->v[F_OOB_CHANNELS], 0, NULL)) == NULL)
		return oerr_write(resp, OERR_MISSING_PARAM, "oob_channels"), -1;
	name = json_array_size(a) == 1 ?
	    json_string_value(json_array_get(a, 0)) : NULL;
	x = name != NULL ? vocab_find(&mfa_channel_vocab, name) : -1;
	if (x < 0) {
		oerr_write(resp, OERR_MFA_UNSUPPORTED_CHANNEL,
		    name != NULL ? name : "(not one string)");
		json_decref(a);
		return -1;
	}
	json_decref(a);
	o->channel = (enum mfa_channel)x;
	f = o->channel == MFA_CHAN_SMS ? F_PHONE_NUMBER : F_EMAIL;
	if (p->v[f] == NULL || *p->v[f] == '\0')
		return oerr_write(resp, OERR_MISSING_PARAM, field_name(f)), -1;
	if ((o->channel == MFA_CHAN_SMS ? ident_phone(p->v[f], o->recipient,
	    sizeof(o->recipient)) : ident_email(p->v[f], o->recipient,
	    sizeof(o->recipient))) == -1)
		return oerr_write(resp, OERR_MFA_BAD_AUTHENTICATOR,
		    o->channel == MFA_CHAN_SMS ? "phone_number must match "
		    "^\\+[0-9]{1,15}$" : "email is not an email address"), -1;
	return 0;
}

/* RFC 3986 2.3: unreserved characters as they are, the rest %XX. */
static void
pct_encode(const char *in, struct buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char	  c;

	for (; *in != '\0'; in++) {
		c = (unsigned char)*in;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c) != NULL)
			buf_append(out, in, 1);
		else
			buf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 0xf]);
	}
}

/*
 * Auth0's barcode_uri (Google Authenticator's Key Uri Format):
 * otpauth://totp/<tenant>:<user>?secret=...&issuer=<tenant>
 * &algorithm=SHA1&digits=6&period=30, the tenant named by the issuer's
 * host, the user by email, else username, phone or id.
 */
static int
barcode_uri(const struct tenant *t, const struct user *u, const char *secret,
    struct buf *out)
{
	const char	*host = t->issuer, *who;
	char		 name[256];
	size_t		 n;

	if ((host = strstr(host, "://")) == NULL)
		return -1;
	host += 3;
	n = strcspn(host, "/:");
	snprintf(name, sizeof(name), "%.*s", (int)n, host);
	who = u->email ? u->email : u->username ? u->username :
	    u->phone_number ? u->phone_number : u->user_id;
	buf_puts(out, "otpauth://totp/");
	pct_encode(name, out);
	buf_puts(out, ":");
	pct_encode(who, out);
	buf_printf(out, "?secret=%s&issuer=", secret);
	pct_encode(name, out);
	return buf_printf(out, "&algorithm=SHA1&digits=%d&period=%d",
	    TOTP_DIGITS, TOTP_PERIOD);
}

/* One enrolment's new records, made before the transaction. */
struct enrol {
	const struct mfa_set	*set;
	json_t			*auth;		/* the new authenticator */
	enum mfa_type		 type;
	char			 oob_code[MFA_SEAL_MAX + 1];
	json_t			*recovery;	/* NULL: none given */
	char			 secret[64];	/* base32 */
	char			 code[MFA_RECOVERY_LEN + 1];
};

/* A new authenticator record of type t for user_id. */
static json_t *
auth_new(enum mfa_type t, const char *user_id, time_t now)
{
	char	 id[64];

	if (mfa_auth_id(t, id, sizeof(id)) == -1)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:b, s:I}", "id", id, "user_id",
	    user_id, "type", vocab_name(&mfa_type_vocab, t), "active", 0,
	    "created_at", (json_int_t)now);
}

/* An otp authenticator's secret, sealed into its record.  0 or -1. */
static int
otp_secret(struct store *s, struct enrol *e, const char *user_id)
{
	unsigned char	 key[TOTP_KEY_LEN];
	char		 aad[512], sealed[256];
	int		 rc = -1;

	if (RAND_priv_bytes(key, sizeof(key)) != 1 ||
	    base32_encode(key, sizeof(key), e->secret, sizeof(e->secret)) == -1)
		goto out;
	mfa_secret_aad(user_id, json_string_value(json_object_get(e->auth,
	    "id")), aad, sizeof(aad));
	if (mfa_seal(s, aad, key, sizeof(key), sealed, sizeof(sealed)) == -1)
		goto out;
	json_object_set_new(e->auth, "secret", json_string(sealed));
	rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* The new authenticator (an otp one's secret sealed, an oob one's channel
 * and recipient), and a recovery code when the user has none active.
 * 0 or -1. */
static int
enrol_make(struct store *s, struct enrol *e, const char *user_id, time_t now,
    const struct oob_ask *oob)
{
	char	 hash[72];

	if ((e->auth = auth_new(e->type, user_id, now)) == NULL)
		return -1;
	if (e->type == MFA_TYPE_OTP && otp_secret(s, e, user_id) == -1)
		return -1;
	if (e->type == MFA_TYPE_OOB) {
		json_object_set_new(e->auth, "oob_channel", json_string(
		    vocab_name(&mfa_channel_vocab, oob->channel)));
		json_object_set_new(e->auth, "recipient",
		    json_string(oob->recipient));
	}
	if (mfa_set_find(e->set, MFA_TYPE_RECOVERY, 1) == NULL) {
		if ((e->recovery = auth_new(MFA_TYPE_RECOVERY, user_id,
		    now)) == NULL ||
		    mfa_recovery_new(e->code, sizeof(e->code), hash) == -1)
			return -1;
		json_object_set_new(e->recovery, "code_hash", json_string(hash));
	}
	return 0;
}

/* In txn: pending authenticators go, the new ones are written. */
static enum store_rc
enrol_txn(struct store *s, struct txn *txn, void *arg)
{
	struct enrol	*e = arg;
	const struct authenticator *a;
	enum store_rc	 rc = STORE_OK;
	size_t		 i;

	for (i = 0; i < e->set->n && rc == STORE_OK; i++) {
		a = &e->set->a[i];
		if (!a->active && (a->type == e->type ||
		    (a->type == MFA_TYPE_RECOVERY && e->recovery != NULL)))
			if ((rc = mfa_auth_del(s, txn, a->user_id, a->id)) ==
			    STORE_NOTFOUND)
				rc = STORE_OK;
	}
	if (rc == STORE_OK)
		rc = mfa_auth_put(s, txn, e->auth);
	if (rc == STORE_OK && e->recovery != NULL)
		rc = mfa_auth_put(s, txn, e->recovery);
	return rc;
}

/* The 200: {authenticator_type, secret, barcode_uri} for otp,
 * {authenticator_type, oob_channel, oob_code, binding_method} for oob,
 * recovery_codes the first time. */
static int
enrol_respond(const struct mfa_call *c, const struct enrol *e,
    struct lk_resp *resp)
{
	struct buf	 uri;
	json_t		*body;
	int		 rc = -1;

	buf_init(&uri);
	if (e->type == MFA_TYPE_OOB)
		body = json_pack("{s:s, s:s, s:s, s:s}", "authenticator_type",
		    "oob", "binding_method", "prompt", "oob_channel",
		    json_string_value(json_object_get(e->auth, "oob_channel")),
		    "oob_code", e->oob_code);
	else if (barcode_uri(&c->tenant, &c->user, e->secret, &uri) == -1 ||
	    buf_append(&uri, "", 1) == -1)
		goto out;
	else
		body = json_pack("{s:s, s:s, s:s}", "authenticator_type", "otp",
		    "secret", e->secret, "barcode_uri", uri.p);
	if (body == NULL)
		goto out;
	if (e->recovery != NULL)
		json_object_set_new(body, "recovery_codes",
		    json_pack("[s]", e->code));
	resp_nostore(resp);
	rc = resp_json(resp, 200, body);
	json_decref(body);
out:
	buf_clear(&uri);
	return rc;
}

/* An oob enrolment's first code, sent once the authenticator is stored;
 * -1 with the error written. */
static int
enrol_send(struct lk_ctx *ctx, const struct lk_req *req,
    const struct mfa_call *c, struct enrol *e, struct lk_resp *resp)
{
	struct authenticator	 a;
	struct guard_who	 w;
	enum mfa_oob_rc		 rc;
	char			 why[128] = "";

	if (record_parse(REC_AUTHENTICATOR, e->auth, &a) == -1)
		return oerr_write(resp, OERR_SERVER_ERROR, NULL), -1;
	mfa_who(req, &c->t, &w);
	rc = mfa_oob_send(ctx->store, &w, &c->t, &a, req->now, e->oob_code,
	    sizeof(e->oob_code), why, sizeof(why));
	if (rc != MFA_OOB_OK)
		mfa_oob_fail(resp, rc, &a, why);
	record_clear(REC_AUTHENTICATOR, &a);
	return rc == MFA_OOB_OK ? 0 : -1;
}

/*
 * Whether this caller may enrol type now; -1 with the error written.
 * With an mfa_token only a first enrolment (Auth0: "Before associating
 * another factor with the user, you must challenge the user with the
 * existing factor").  With an access token (the user passed that
 * challenge, or needed none) otp at any time; not oob, whose oob_code
 * is bound to the mfa_token of a login and confirmed by its mfa-oob
 * grant (docs/COMPAT.md 13.3).  At most MFA_AUTH_MAX authenticators,
 * one slot kept for the pending one.
 */
static int
enrol_allowed(const struct mfa_call *c, enum mfa_type type,
    struct lk_resp *resp)
{

	if (!c->by_access && mfa_set_enrolled(&c->set))
		return oerr_write(resp, OERR_MFA_ALREADY_ENROLLED, NULL), -1;
	if (c->by_access && type == MFA_TYPE_OOB)
		return oerr_write(resp, OERR_MFA_OOB_BY_ACCESS, NULL), -1;
	if (c->set.n + 2 > MFA_AUTH_MAX)
		return oerr_write(resp, OERR_MFA_AUTH_FULL, NULL), -1;
	return 0;
}

#define ASSOCIATE_FIELDS (FIELD_BIT(F_AUTHENTICATOR_TYPES) | \
	FIELD_BIT(F_OOB_CHANNELS) | FIELD_BIT(F_PHONE_NUMBER) | \
	FIELD_BIT(F_EMAIL))

void
mfa_associate(struct lk_ctx *ctx, const struct lk_req *req,
    struct lk_resp *resp)
{
	struct mfa_call	 c;
	struct params	 p;
	struct enrol	 e;
	struct oob_ask	 oob;

	memset(&c, 0, sizeof(c));
	memset(&e, 0, sizeof(e));
	memset(&oob, 0, sizeof(oob));
	params_init(&p);
	if (decode_body(req, ASSOCIATE_FIELDS, &p, resp) == -1 ||
	    call_begin(ctx, req, resp, &c, TAKES_BOTH,
	    MFA_SCOPE_ENROLL) == -1 ||
	    asked_type(&p, resp, &e.type) == -1 ||
	    (e.type == MFA_TYPE_OOB && asked_oob(&p, resp, &oob) == -1) ||
	    enrol_allowed(&c, e.type, resp) == -1)
		goto out;
	e.set = &c.set;
	if (enrol_make(ctx->store, &e, c.t.user_id, req->now, &oob) == -1 ||
	    store_txn_run(ctx->store, enrol_txn, &e) != STORE_OK) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	if (e.type == MFA_TYPE_OOB && enrol_send(ctx, req, &c, &e,
	    resp) == -1)
		goto out;
	if (enrol_respond(&c, &e, resp) == -1)
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
out:
	OPENSSL_cleanse(e.secret, sizeof(e.secret));
	OPENSSL_cleanse(e.code, sizeof(e.code));
	json_decref(e.auth);
	json_decref(e.recovery);
	params_clear(&p);
	call_clear(&c);
}

/* ------------------------------------------------------------------ */
/* DELETE /mfa/authenticators/{id}                                     */

/* One deletion: the authenticator, and the recovery codes with the last
 * active factor. */
struct unenrol {
	const struct mfa_set	*set;
	const struct authenticator *a;
	struct guard_who	 w;
	time_t			 now;
	int			 gone;		/* a was there in the txn */
};

/* 1 when another otp or oob authenticator than a is active. */
static int
other_factor(const struct mfa_set *set, const struct authenticator *a)
{
	size_t	 i;

	for (i = 0; i < set->n; i++)
		if (&set->a[i] != a && set->a[i].active &&
		    set->a[i].type != MFA_TYPE_RECOVERY)
			return 1;
	return 0;
}

/*
 * In txn: a goes.  When it was the user's last active otp or oob
 * authenticator, the recovery codes go with it (docs/COMPAT.md 13.3: a
 * recovery code stands in for a factor the user has lost, and the next
 * first enrolment gives a new one).  Audited as gd_unenroll.
 */
static enum store_rc
unenrol_txn(struct store *s, struct txn *txn, void *arg)
{
	struct unenrol	*u = arg;
	const struct authenticator *r;
	enum store_rc	 rc;
	size_t		 i;

	u->gone = 0;
	if ((rc = mfa_auth_del(s, txn, u->a->user_id, u->a->id)) ==
	    STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	u->gone = 1;
	for (i = 0; u->a->type != MFA_TYPE_RECOVERY && u->a->active &&
	    !other_factor(u->set, u->a) && i < u->set->n && rc == STORE_OK;
	    i++) {
		r = &u->set->a[i];
		if (r->type == MFA_TYPE_RECOVERY &&
		    (rc = mfa_auth_del(s, txn, r->user_id, r->id)) ==
		    STORE_NOTFOUND)
			rc = STORE_OK;
	}
	if (rc == STORE_OK)
		rc = mfa_audit(s, txn, &u->w, u->a->user_id,
		    GUARD_EV_MFA_UNENROLLED, u->now);
	return rc;
}

void
mfa_authenticator_delete(struct lk_ctx *ctx, const struct lk_req *req,
    struct lk_resp *resp)
{
	struct mfa_call	 c;
	struct unenrol	 u;
	size_t		 i;

	memset(&c, 0, sizeof(c));
	memset(&u, 0, sizeof(u));
	if (call_begin(ctx, req, resp, &c, TAKES_ACCESS,
	    MFA_SCOPE_REMOVE) == -1)
		goto out;
	for (i = 0; req->path_id != NULL && i < c.set.n; i++)
		if (strcmp(c.set.a[i].id, req->path_id) == 0)
			u.a = &c.set.a[i];
	u.set = &c.set;
	u.now = req->now;
	mfa_who(req, &c.t, &u.w);
	if (u.a != NULL && store_txn_run(ctx->store, unenrol_txn, &u) !=
	    STORE_OK) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	if (!u.gone) {
		oerr_write(resp, OERR_MFA_AUTH_NOT_FOUND, NULL);
		goto out;
	}
	/* Auth0: 204 without a body. */
	resp->status = 204;
	buf_reset(&resp->body);
	resp_nostore(resp);
out:
	call_clear(&c);
}
