/*
 * POST /passwordless/start (docs/COMPAT.md 2): a passwordless connection
 * (strategy "sms" or "email") issues a one-time code (pwl_code.c) and
 * hands it to the courier (courier.c), which runs the connection's
 * delivery command after the answer and audits the outcome.  /oauth/ro
 * and the passwordless/otp grant exchange it (pwl_exchange.c).  Attack
 * protection counts the recipient (docs/COMPAT.md 6).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "extern.h"

/* Every field /passwordless/start reads. */
#define START_FIELDS (FIELD_BIT(F_CLIENT_ID) | FIELD_BIT(F_CLIENT_SECRET) | \
	FIELD_BIT(F_CLIENT_ASSERTION) | FIELD_BIT(F_CLIENT_ASSERTION_TYPE) | \
	FIELD_BIT(F_CONNECTION) | FIELD_BIT(F_EMAIL) | \
	FIELD_BIT(F_PHONE_NUMBER) | FIELD_BIT(F_SEND) | FIELD_BIT(F_AUTHPARAMS))

/* The recipient's body field and its errors, by strategy. */
static const struct {
	enum field	 field;
	enum oerr	 missing, bad;
} recipients[PWL__MAX] = {
	[PWL_SMS] = { F_PHONE_NUMBER, OERR_PWL_MISSING_PHONE,
	    OERR_PWL_BAD_PHONE },
	[PWL_EMAIL] = { F_EMAIL, OERR_PWL_MISSING_EMAIL, OERR_PWL_BAD_EMAIL },
};

/* The values of "send"; only "code" is served. */
enum send { SEND_CODE, SEND_LINK, SEND_LINK_IOS, SEND_LINK_ANDROID, SEND__MAX };

static const char *const sends[SEND__MAX] = {
	"code", "link", "link_ios", "link_android",
};

struct start {
	struct lk_ctx		*ctx;
	const struct lk_req	*req;
	struct lk_resp		*resp;
	struct params		 p;
	struct client		 client;
	struct tenant		 tenant;	/* record_clear */
	struct conn		 conn;		/* record_clear */
	enum pwl_strategy	 strategy;
	char			 recipient[PWL_RECIPIENT_MAX + 1];
	struct guard_who	 who;		/* end-user IP (guard.c) */
};

static int
client_enabled(const struct conn *conn, const char *client_id)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(conn->enabled_clients, i, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), client_id) == 0)
			return 1;
	return 0;
}

/* The connection: exists, passwordless, enabled for the client.  -1
 * with the bad.connection error written. */
static int
start_connection(struct start *s)
{
	switch (record_get(s->ctx->store, NULL, REC_CONNECTION,
	    s->p.v[F_CONNECTION], &s->conn)) {
	case STORE_OK:
		break;
	case STORE_NOTFOUND:
		return oerr_write(s->resp, OERR_PWL_NO_CONNECTION, NULL), -1;
	default:
		return oerr_write(s->resp, OERR_SERVER_ERROR, NULL), -1;
	}
	if ((s->strategy = pwl_strategy(&s->conn)) == PWL__MAX)
		return oerr_write(s->resp, OERR_PWL_STRATEGY, NULL), -1;
	if (!client_enabled(&s->conn, s->client.client_id))
		return oerr_write(s->resp, OERR_PWL_CONNECTION_DISABLED, NULL), -1;
	return 0;
}

/* send (absent: "code" for sms, Auth0's "link" for email) and the
 * recipient, checked as latchkeyctl checks it (ident.c).  -1 with the
 * error written. */
static int
start_params(struct start *s)
{
	const char	*send = s->p.v[F_SEND], *in;
	enum field	 field = recipients[s->strategy].field;
	size_t		 i;

	if (send == NULL)
		send = s->strategy == PWL_SMS ? sends[SEND_CODE] : sends[SEND_LINK];
	for (i = 0; i < SEND__MAX; i++)
		if (strcmp(sends[i], send) == 0)
			break;
	if (i == SEND__MAX)
		return oerr_write(s->resp, OERR_PWL_SEND, send), -1;
	if (i != SEND_CODE)
		return oerr_write(s->resp, OERR_PWL_SEND_LINK, NULL), -1;
	if ((in = s->p.v[field]) == NULL || *in == '\0')
		return oerr_write(s->resp, recipients[s->strategy].missing,
		    NULL), -1;
	if (pwl_recipient(s->strategy, in, s->recipient,
	    sizeof(s->recipient)) == -1)
		return oerr_write(s->resp, recipients[s->strategy].bad, in), -1;
	return 0;
}

struct replace {
	const char	*key;
	json_t		*rec;
};

/* Only the latest code is valid: the new record replaces any other. */
static enum store_rc
put_txn(struct store *st, struct txn *txn, void *arg)
{
	struct replace	*r = arg;

	return store_put(st, txn, SK_OTP, r->key, r->rec, 0);
}

/*
 * Issue and store the code; the job for the courier, which delivers it
 * after the answer.  The work here is the same for every recipient: a
 * known user, an unknown one, an administratively blocked one (Auth0
 * sends no code to them; the courier finds them and withdraws the code),
 * and whatever the delivery will do, so neither the time nor the answer
 * tells them apart.  The job (owned), or NULL with the error written.
 */
static json_t *
start_issue(struct start *s)
{
	struct replace		 r;
	const char		*connection = s->conn.name;
	char			 code[PWL_CODE_LEN + 1], key[PWL_KEY_LEN];
	json_t			*job = NULL;

	memset(&r, 0, sizeof(r));
	if (connection == NULL ||
	    pwl_otp_key(key, connection, s->recipient) == -1) {
		oerr_write(s->resp, OERR_SERVER_ERROR, NULL);
		return NULL;
	}
	if (pwl_code_new(code) == -1 || (r.rec = pwl_record_new(code,
	    s->client.client_id, s->req->now, (long)s->conn.otp_lifetime)) ==
	    NULL) {
		oerr_write(s->resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	r.key = key;
	if (store_txn_run(s->ctx->store, put_txn, &r) != STORE_OK ||
	    (job = pwl_job_new(connection, s->recipient, code,
	    pwl_record_salt(r.rec), &s->who)) == NULL)
		oerr_write(s->resp, OERR_SERVER_ERROR, NULL);
out:
	OPENSSL_cleanse(code, sizeof(code));
	json_decref(r.rec);
	return job;
}

/* The 200 body of the auth0-java fixtures (docs/COMPAT.md 2). */
static void
start_reply(struct start *s)
{
	char	 id[2 * 12 + 1];
	json_t	*body;

	if (rand_hex(id, 12) == -1) {
		oerr_write(s->resp, OERR_SERVER_ERROR, NULL);
		return;
	}
	if (s->strategy == PWL_SMS)
		body = json_pack("{s:s, s:s, s:b, s:n}", "_id", id,
		    "phone_number", s->recipient, "phone_verified", 0,
		    "request_language");
	else
		body = json_pack("{s:s, s:s, s:b}", "_id", id,
		    "email", s->recipient, "email_verified", 0);
	if (body == NULL || resp_json(s->resp, 200, body) == -1)
		oerr_write(s->resp, OERR_SERVER_ERROR, NULL);
	json_decref(body);
}

/* The body's shape first, as Auth0's schema check does; then the
 * tenant, the client and its grant.  -1 with the error written. */
static int
start_client(struct start *s)
{
	const struct lk_req	*req = s->req;

	if (s->p.v[F_CLIENT_ID] == NULL && (req->authorization == NULL ||
	    strncasecmp(req->authorization, "Basic ", 6) != 0))
		return oerr_write(s->resp, OERR_PWL_MISSING_CLIENT_ID, NULL), -1;
	if (s->p.v[F_CONNECTION] == NULL || *s->p.v[F_CONNECTION] == '\0')
		return oerr_write(s->resp, OERR_PWL_MISSING_CONNECTION,
		    NULL), -1;
	if (ctx_tenant(s->ctx, &s->tenant) == -1)
		return oerr_write(s->resp, OERR_NOT_CONFIGURED, NULL), -1;
	/* Confidential clients prove their secret; public ones send only
	 * client_id (docs/COMPAT.md 2). */
	if (client_authenticate(s->ctx, &s->tenant, req, &s->p, &s->client,
	    s->resp) == -1)
		return -1;
	if (!client_grant_allowed(&s->client.rec, GT_OTP))
		return oerr_write(s->resp, OERR_GRANT_NOT_ALLOWED,
		    grant_type_def(GT_OTP)->uri), -1;
	return 0;
}

void
passwordless_start(struct lk_ctx *ctx, const struct lk_req *req,
    struct lk_resp *resp)
{
	struct start	 s;
	json_t		*job = NULL;

	memset(&s, 0, sizeof(s));
	s.ctx = ctx;
	s.req = req;
	s.resp = resp;
	s.strategy = PWL__MAX;
	params_init(&s.p);
	snprintf(resp->grant, sizeof(resp->grant), "passwordless/start");
	if (decode_body(req, START_FIELDS, &s.p, resp) == -1 ||
	    start_client(&s) == -1)
		goto out;
	if (guard_ip(req, &s.client, GUARD_EP_PWL_START, &s.who, resp) == -1 ||
	    guard_endpoint(ctx, &s.tenant, &s.who, req->now, resp) == -1)
		goto out;
	if (start_connection(&s) == -1 || start_params(&s) == -1)
		goto out;
	/* A blocked recipient, a throttled IP, a recipient asked for too
	 * often from one IP or from all IPs together gets no code (guard.c). */
	if (guard_before(ctx, &s.tenant, &s.who, s.recipient, req->now,
	    resp) == -1 || guard_recipient(ctx, &s.tenant, &s.who, s.recipient,
	    req->now, resp) == -1 || (job = start_issue(&s)) == NULL)
		goto out;
	(void)guard_after(ctx, &s.tenant, &s.who, s.recipient, NULL,
	    GUARD_EV_CODE_SENT, req->now);
	/* After the "cls" record, so that the outcome's record follows it.
	 * The outcome is not the caller's business: it goes to the logs. */
	if (deliver_enqueue(ctx->home, job) == -1)
		lk_warn("passwordless code not handed to the delivery");
	start_reply(&s);
out:
	deliver_job_free(job);
	OPENSSL_cleanse(s.recipient, sizeof(s.recipient));
	client_clear(&s.client);
	params_clear(&s.p);
	record_clear(REC_CONNECTION, &s.conn);
	record_clear(REC_TENANT, &s.tenant);
}
