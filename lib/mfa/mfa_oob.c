/*
 * mfa_oob.c: out-of-band authenticators (docs/COMPAT.md 13.3, 13.4).
 * With Auth0's prompt binding the user is sent a code and types it into
 * the application, which sends it as binding_code with the oob_code it
 * was given.  The code goes out through the delivery command of the
 * tenant's connection named as the channel ("sms" or "email", as
 * Auth0's passwordless connections are named), run as
 * /passwordless/start runs it (deliver.c), at most MFA_SEND_CAP codes
 * per user an hour.  The oob_code is sealed (mfa_seal.c): the
 * authenticator, the mfa_token it belongs to, the code and its expiry
 * (MFA_OOB_LIFETIME, Auth0's 5 minutes for one-time codes), so that
 * nothing is stored per code and every process checks it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define OOB_AAD		"latchkey oob_code"
#define OOB_RAW_MAX	1024

/* The channel's connection and its delivery of code to a. */
static enum mfa_oob_rc
deliver(struct store *s, const struct authenticator *a, const char *code,
    char *why, size_t whysz)
{
	struct conn		 c;
	struct deliver_msg	 m;
	const char		*name = vocab_name(&mfa_channel_vocab, a->channel);
	enum mfa_oob_rc		 rc = MFA_OOB_NO_CHANNEL;

	if (a->recipient == NULL || name == NULL ||
	    record_get(s, NULL, REC_CONNECTION, name, &c) != STORE_OK)
		return MFA_OOB_NO_CHANNEL;
	if (c.delivery_command != NULL) {
		memset(&m, 0, sizeof(m));
		m.connection = name;
		m.recipient = a->recipient;
		m.code = code;
		m.send = "code";
		rc = deliver_run(c.delivery_command, &m,
		    (int)c.delivery_timeout, why, whysz) == 0 ?
		    MFA_OOB_OK : MFA_OOB_FAILED;
	}
	record_clear(REC_CONNECTION, &c);
	return rc;
}

/* Auth0's log code of a code sent on each channel (docs/COMPAT.md 13.5). */
static const enum guard_event sent_event[MFA_CHAN__MAX] = {
	[MFA_CHAN_SMS] = GUARD_EV_MFA_SENT_SMS,
	[MFA_CHAN_EMAIL] = GUARD_EV_MFA_SENT_EMAIL,
};

void
mfa_who(const struct lk_req *req, const struct mfa_tok *t,
    struct guard_who *w)
{

	memset(w, 0, sizeof(*w));
	w->ep = GUARD_EP_TOKEN;
	w->client_id = t->client_id;
	if (req->remote_addr != NULL)
		snprintf(w->ip, sizeof(w->ip), "%s", req->remote_addr);
}

/* Record the event of a send; the answer does not depend on it. */
static void
sent_audit(struct store *s, const struct guard_who *w, const char *user_id,
    enum guard_event ev, time_t now)
{

	if (mfa_audit(s, NULL, w, user_id, ev, now) != STORE_OK)
		lk_warn("cannot append to the audit log");
}

enum mfa_oob_rc
mfa_oob_send(struct store *s, const struct guard_who *w,
    const struct mfa_tok *t, const struct authenticator *a, time_t now,
    char *out, size_t outsz, char *why, size_t whysz)
{
	char		 code[PWL_CODE_LEN + 1], *text = NULL;
	json_t		*j = NULL;
	enum mfa_oob_rc	 rc = MFA_OOB_ERR;
	int		 room;

	if ((room = mfa_send_take(s, a->user_id, now)) <= 0) {
		if (room == 0)
			sent_audit(s, w, a->user_id, GUARD_EV_MFA_SEND_LIMIT,
			    now);
		return room == 0 ? MFA_OOB_LIMIT : MFA_OOB_ERR;
	}
	if (pwl_code_new(code) == -1)
		goto out;
	j = json_pack("{s:s, s:s, s:s, s:I}", "a", a->id, "t", t->jti,
	    "b", code, "e", (json_int_t)now + MFA_OOB_LIFETIME);
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL ||
	    mfa_seal(s, OOB_AAD, (unsigned char *)text, strlen(text), out,
	    outsz) == -1)
		goto out;
	rc = deliver(s, a, code, why, whysz);
	if (rc == MFA_OOB_OK)
		sent_audit(s, w, a->user_id, sent_event[a->channel], now);
out:
	if (text != NULL) {
		OPENSSL_cleanse(text, strlen(text));
		free(text);
	}
	json_decref(j);
	OPENSSL_cleanse(code, sizeof(code));
	return rc;
}

int
mfa_oob_open(struct store *s, const char *oob_code, const struct mfa_tok *t,
    time_t now, struct mfa_oob *o)
{
	unsigned char	 raw[OOB_RAW_MAX];
	json_t		*j;
	long		 n;

	memset(o, 0, sizeof(*o));
	if ((n = mfa_open(s, OOB_AAD, oob_code, raw, sizeof(raw))) < 0)
		return -1;
	j = json_loadb((const char *)raw, (size_t)n, 0, NULL);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (j == NULL)
		return -1;
	o->json = j;
	o->auth_id = json_string_value(json_object_get(j, "a"));
	o->binding = json_string_value(json_object_get(j, "b"));
	/* Another token's code, or one past its time, is no code. */
	if (o->auth_id == NULL || o->binding == NULL ||
	    json_string_value(json_object_get(j, "t")) == NULL ||
	    strcmp(json_string_value(json_object_get(j, "t")), t->jti) != 0 ||
	    json_integer_value(json_object_get(j, "e")) <= (json_int_t)now) {
		mfa_oob_clear(o);
		return -1;
	}
	return 0;
}

void
mfa_oob_clear(struct mfa_oob *o)
{
	json_t	*b;

	if (o->json != NULL && (b = json_object_get(o->json, "b")) != NULL)
		OPENSSL_cleanse((char *)json_string_value(b),
		    json_string_length(b));
	json_decref(o->json);
	memset(o, 0, sizeof(*o));
}

void
mfa_oob_fail(struct lk_resp *resp, enum mfa_oob_rc rc,
    const struct authenticator *a, const char *why)
{
	const char	*name = vocab_name(&mfa_channel_vocab, a->channel);

	switch (rc) {
	case MFA_OOB_LIMIT:
		oerr_write(resp, OERR_MFA_SEND_LIMIT, NULL);
		break;
	case MFA_OOB_NO_CHANNEL:
		oerr_write(resp, OERR_MFA_NO_CHANNEL, name);
		break;
	case MFA_OOB_FAILED:
		/* /passwordless/start's provider errors (docs/COMPAT.md 2.5). */
		oerr_write(resp, a->channel == MFA_CHAN_SMS ?
		    OERR_PWL_SMS_PROVIDER : OERR_PWL_EMAIL_PROVIDER, why);
		break;
	default:
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		break;
	}
}
