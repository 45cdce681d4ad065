/*
 * mfa_challenge.c: POST /mfa/challenge (docs/COMPAT.md 13.3; Auth0
 * "Request Challenge for Multi-factor Authentication").  The client
 * authenticates as at /oauth/token and presents its mfa_token;
 * challenge_type ("otp", "oob" or both, space-separated; absent: both)
 * and authenticator_id choose among the user's active authenticators.
 * otp answers {"challenge_type": "otp"} (the app shows the code); oob
 * sends a code (mfa_oob.c) and answers its oob_code with
 * binding_method "prompt".
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define CHALLENGE_FIELDS (FIELD_BIT(F_CLIENT_ID) | \
	FIELD_BIT(F_CLIENT_SECRET) | FIELD_BIT(F_CLIENT_ASSERTION) | \
	FIELD_BIT(F_CLIENT_ASSERTION_TYPE) | FIELD_BIT(F_MFA_TOKEN) | \
	FIELD_BIT(F_CHALLENGE_TYPE) | FIELD_BIT(F_AUTHENTICATOR_ID))

struct challenge {
	struct tenant	 tenant;
	struct params	 p;
	struct client	 client;
	struct mfa_tok	 t;
	struct mfa_set	 set;
};

static void
challenge_clear(struct challenge *ch)
{
	record_clear(REC_TENANT, &ch->tenant);
	params_clear(&ch->p);
	client_clear(&ch->client);
	mfa_tok_clear(&ch->t);
	mfa_set_clear(&ch->set);
}

/* The types challenge_type asks for, a bit (1u << enum mfa_type) each;
 * 0 with the error written for a word that is not otp or oob. */
static unsigned
asked_types(const char *ct, struct lk_resp *resp)
{
	char		 word[32];
	unsigned	 mask = 0;
	size_t		 n;
	int		 x;

	if (ct == NULL || ct[strspn(ct, " ")] == '\0')
		return 1u << MFA_TYPE_OTP | 1u << MFA_TYPE_OOB;
	for (; *ct != '\0'; ct += n) {
		ct += strspn(ct, " ");
		if ((n = strcspn(ct, " ")) == 0)
			break;
		snprintf(word, sizeof(word), "%.*s", (int)n, ct);
		x = vocab_find(&mfa_type_vocab, word);
		if (x != MFA_TYPE_OTP && x != MFA_TYPE_OOB) {
			oerr_write(resp, OERR_MFA_UNSUPPORTED_TYPE, word);
			return 0;
		}
		mask |= 1u << x;
	}
	return mask;
}

/* The authenticator to challenge: authenticator_id's, else the first
 * active otp, else oob one of the types asked; NULL with the error
 * written. */
static const struct authenticator *
choose(const struct challenge *ch, unsigned mask, struct lk_resp *resp)
{
	const char	*id = ch->p.v[F_AUTHENTICATOR_ID];
	const struct authenticator *a;
	size_t		 i;

	if (!mfa_set_enrolled(&ch->set))
		return oerr_write(resp, OERR_MFA_NOT_ENROLLED, NULL), NULL;
	for (i = 0; i < ch->set.n; i++) {
		a = &ch->set.a[i];
		if (a->active && (mask & 1u << a->type) && a->type !=
		    MFA_TYPE_RECOVERY && (id == NULL || strcmp(id, a->id) == 0))
			return a;
	}
	if (id != NULL)
		oerr_write(resp, OERR_MFA_BAD_AUTHENTICATOR,
		    "authenticator_id names no active authenticator of the "
		    "challenge_type");
	else
		oerr_write(resp, OERR_MFA_UNSUPPORTED_TYPE,
		    ch->p.v[F_CHALLENGE_TYPE]);
	return NULL;
}

/* The token, the client's own; -1 with the error written. */
static int
token_of(struct lk_ctx *ctx, const struct lk_req *req, struct challenge *ch,
    struct lk_resp *resp)
{
	enum mfa_tok_rc	 trc;

	if (ch->p.v[F_MFA_TOKEN] == NULL || *ch->p.v[F_MFA_TOKEN] == '\0')
		return oerr_write(resp, OERR_MISSING_PARAM, "mfa_token"), -1;
	trc = mfa_token_open(ctx->store, ch->p.v[F_MFA_TOKEN], req->now, &ch->t);
	if (trc == MFA_TOK_OK && strcmp(ch->t.client_id, ch->client.client_id))
		trc = MFA_TOK_MALFORMED;
	if (trc != MFA_TOK_OK)
		return oerr_write(resp, trc == MFA_TOK_EXPIRED ?
		    OERR_MFA_TOKEN_EXPIRED : trc == MFA_TOK_ERR ?
		    OERR_SERVER_ERROR : OERR_MFA_TOKEN_MALFORMED, NULL), -1;
	if (mfa_set_load(ctx->store, ch->t.user_id, &ch->set) != STORE_OK)
		return oerr_write(resp, OERR_SERVER_ERROR, NULL), -1;
	return 0;
}

/* Answer a's challenge; 0 or -1 (the error written). */
static int
answer(struct lk_ctx *ctx, const struct lk_req *req, struct challenge *ch,
    const struct authenticator *a, struct lk_resp *resp)
{
	char		 code[MFA_SEAL_MAX + 1], why[128] = "";
	struct guard_who w;
	json_t		*body;
	enum mfa_oob_rc	 rc;
	int		 wrc;

	if (a->type == MFA_TYPE_OTP)
		body = json_pack("{s:s}", "challenge_type", "otp");
	else {
		mfa_who(req, &ch->t, &w);
		rc = mfa_oob_send(ctx->store, &w, &ch->t, a, req->now, code,
		    sizeof(code), why, sizeof(why));
		if (rc != MFA_OOB_OK)
			return mfa_oob_fail(resp, rc, a, why), -1;
		body = json_pack("{s:s, s:s, s:s}", "challenge_type", "oob",
		    "oob_code", code, "binding_method", "prompt");
	}
	if (body == NULL)
		return oerr_write(resp, OERR_SERVER_ERROR, NULL), -1;
	resp_nostore(resp);
	wrc = resp_json(resp, 200, body);
	json_decref(body);
	OPENSSL_cleanse(code, sizeof(code));
	return wrc;
}

void
mfa_challenge(struct lk_ctx *ctx, const struct lk_req *req,
    struct lk_resp *resp)
{
	struct challenge	 ch;
	const struct authenticator *a;
	unsigned		 mask;

	memset(&ch, 0, sizeof(ch));
	params_init(&ch.p);
	if (decode_body(req, CHALLENGE_FIELDS, &ch.p, resp) == -1)
		goto out;
	if (ctx_tenant(ctx, &ch.tenant) == -1) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	if (client_authenticate(ctx, &ch.tenant, req, &ch.p, &ch.client,
	    resp) == -1 || token_of(ctx, req, &ch, resp) == -1 ||
	    (mask = asked_types(ch.p.v[F_CHALLENGE_TYPE], resp)) == 0 ||
	    (a = choose(&ch, mask, resp)) == NULL)
		goto out;
	(void)answer(ctx, req, &ch, a, resp);
out:
	challenge_clear(&ch);
}
