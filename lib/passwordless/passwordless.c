/*
 * Passwordless connections (strategies "sms" and "email"):
 * POST /passwordless/start issues a one-time code and hands it to the
 * courier (deliver.c), which runs the connection's delivery command after
 * the answer and audits the outcome; /oauth/ro (ro.c) and the
 * passwordless/otp grant (grant_otp.c) exchange it through pwl_verify().
 *
 * The rules (AUTH0-BEHAVIOUR.md 2, SPEC.md "Attack protection"):
 *  - a code is PWL_CODE_LEN uniform random digits;
 *  - it lives the connection's "otp_lifetime" seconds (default 180);
 *  - PWL_TRIES wrong tries kill it; a right one consumes it;
 *  - a new start for the same recipient replaces it (only the latest is
 *    valid);
 *  - it is bound to the client that asked for it (another client's try
 *    counts as a wrong one);
 *  - a user is created on the first successful login, verified.
 *
 * SK_OTP key "<connection>\x1f<normalised recipient>" ->
 *	{"code_hash": hash_secret(salt || code), "salt": <32 hex>,
 *	 "exp": <epoch>, "tries_left": 3, "client_id": "...",
 *	 "created_at": <epoch>}
 * The code itself is never stored or logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "extern.h"

#define PWL_GRANT	"http://auth0.com/oauth/grant-type/passwordless/otp"
#define PWL_SALT_BYTES	16
#define PWL_LIFETIME_MAX 3600
#define DELIVER_TIMEOUT_DEFAULT 10	/* seconds, then SIGKILL */
#define DELIVER_TIMEOUT_MAX	60
#define STORE_KEY_LEN	(256 + 1 + PWL_RECIPIENT_MAX + 1)

/* Every field /passwordless/start reads (AUTH0-BEHAVIOUR.md 2). */
#define START_FIELDS (FIELD_BIT(F_CLIENT_ID) | FIELD_BIT(F_CLIENT_SECRET) | \
	FIELD_BIT(F_CLIENT_ASSERTION) | FIELD_BIT(F_CLIENT_ASSERTION_TYPE) | \
	FIELD_BIT(F_CONNECTION) | FIELD_BIT(F_EMAIL) | \
	FIELD_BIT(F_PHONE_NUMBER) | FIELD_BIT(F_SEND) | FIELD_BIT(F_AUTHPARAMS))

/* What differs between the two strategies. */
struct pwl_def {
	const char	*strategy;	/* connection "strategy" */
	enum field	 field;		/* the recipient's body field */
	enum oerr	 missing, bad;	/* its errors */
	const char	*attr;		/* user attribute */
	const char	*verified;	/* user "..._verified" attribute */
};

static const struct pwl_def pwl_defs[PWL__MAX] = {
	[PWL_SMS] = { "sms", F_PHONE_NUMBER, OERR_PWL_MISSING_PHONE,
	    OERR_PWL_BAD_PHONE, "phone_number", "phone_verified" },
	[PWL_EMAIL] = { "email", F_EMAIL, OERR_PWL_MISSING_EMAIL,
	    OERR_PWL_BAD_EMAIL, "email", "email_verified" },
};

/* The values of "send" (AUTH0-BEHAVIOUR.md 2); only "code" is served. */
enum send { SEND_CODE, SEND_LINK, SEND_LINK_IOS, SEND_LINK_ANDROID, SEND__MAX };

static const char *const sends[SEND__MAX] = {
	"code", "link", "link_ios", "link_android",
};

enum pwl_strategy
pwl_strategy(const json_t *conn)
{
	const char	*s = json_string_value(json_object_get(conn, "strategy"));
	size_t		 i;

	for (i = 0; s != NULL && i < PWL__MAX; i++)
		if (strcmp(pwl_defs[i].strategy, s) == 0)
			return (enum pwl_strategy)i;
	return PWL__MAX;
}

int
pwl_phone_normalize(const char *in, char *out, size_t outsz)
{
	size_t	 o = 0, digits = 0;

	/* Separators people type; anything else must be the E.164 form. */
	for (; *in != '\0'; in++) {
		if (strchr(" -.()", *in) != NULL)
			continue;
		if (o == 0 ? *in != '+' : (*in < '0' || *in > '9'))
			return -1;
		if (o + 1 >= outsz || (o > 0 && ++digits > 15))
			return -1;
		out[o++] = *in;
	}
	out[o] = '\0';
	return digits >= 1 ? 0 : -1;
}

int
pwl_email_normalize(const char *in, char *out, size_t outsz)
{
	const char	*at = strrchr(in, '@');
	size_t		 i, n = strlen(in);

	/* local@domain, the domain dotted, no spaces or controls. */
	if (at == NULL || at == in || at[1] == '\0' ||
	    strchr(at, '.') == NULL || at[strlen(at) - 1] == '.' ||
	    n >= outsz || n > PWL_RECIPIENT_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if ((unsigned char)in[i] <= ' ' || in[i] == 0x7f)
			return -1;
		/* ASCII only: case folding must not depend on a locale. */
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ?
		    (char)(in[i] - 'A' + 'a') : in[i];
	}
	out[n] = '\0';
	return 0;
}

int
pwl_recipient(enum pwl_strategy s, const char *in, char *out, size_t outsz)
{
	return s == PWL_SMS ? pwl_phone_normalize(in, out, outsz) :
	    pwl_email_normalize(in, out, outsz);
}

int
pwl_code_new(char out[PWL_CODE_LEN + 1])
{
	/* The largest multiple of 10^6 that fits in 32 bits: values at or
	 * above it are drawn again, so every code is equally likely. */
	const uint32_t	 limit = 4294000000u;
	unsigned char	 b[4];
	uint32_t	 v;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return -1;
		v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		    (uint32_t)b[2] << 8 | b[3];
	} while (v >= limit);
	snprintf(out, PWL_CODE_LEN + 1, "%06u", (unsigned)(v % 1000000u));
	OPENSSL_cleanse(b, sizeof(b));
	v = 0;
	return 0;
}

/* hash_secret(salt || code) into digest. 0 or -1. */
static int
code_digest(const char *salt, const char *code, char digest[72])
{
	char	 in[2 * PWL_SALT_BYTES + PWL_CODE_LEN + 2];
	int	 n, rc;

	n = snprintf(in, sizeof(in), "%s%s", salt, code);
	if (n < 0 || (size_t)n >= sizeof(in))
		return -1;
	rc = hash_secret(in, (size_t)n, digest);
	OPENSSL_cleanse(in, sizeof(in));
	return rc;
}

json_t *
pwl_record_new(const char *code, const char *client_id, time_t now,
    long lifetime)
{
	char	 salt[2 * PWL_SALT_BYTES + 1], digest[72];

	if (rand_hex(salt, PWL_SALT_BYTES) == -1 ||
	    code_digest(salt, code, digest) == -1)
		return NULL;
	return json_pack("{s:s, s:s, s:I, s:i, s:s, s:I}",
	    "code_hash", digest, "salt", salt,
	    "exp", (json_int_t)now + lifetime, "tries_left", PWL_TRIES,
	    "client_id", client_id, "created_at", (json_int_t)now);
}

enum pwl_check
pwl_record_check(json_t *rec, const char *code, const char *client_id,
    time_t now)
{
	const char	*stored, *salt, *owner;
	char		 in[2 * PWL_SALT_BYTES + PWL_CODE_LEN + 2];
	json_int_t	 tries;
	int		 n, match;

	stored = json_string_value(json_object_get(rec, "code_hash"));
	salt = json_string_value(json_object_get(rec, "salt"));
	owner = json_string_value(json_object_get(rec, "client_id"));
	tries = json_integer_value(json_object_get(rec, "tries_left"));
	if (stored == NULL || salt == NULL || owner == NULL || tries <= 0 ||
	    json_integer_value(json_object_get(rec, "exp")) <= (json_int_t)now)
		return PWL_CHECK_DEAD;
	/* A code is all digits of one length; anything else cannot match
	 * but still costs a try. */
	n = snprintf(in, sizeof(in), "%s%s", salt, code);
	match = n > 0 && (size_t)n < sizeof(in) &&
	    strlen(code) == PWL_CODE_LEN &&
	    hash_secret_check(stored, in, (size_t)n);
	OPENSSL_cleanse(in, sizeof(in));
	if (match && strcmp(owner, client_id) == 0)
		return PWL_CHECK_OK;
	json_object_set_new(rec, "tries_left", json_integer(tries - 1));
	return PWL_CHECK_WRONG;
}

/* "<connection>\x1f<recipient>" into key (STORE_KEY_LEN). 0 or -1. */
static int
otp_key(char *key, const char *connection, const char *recipient)
{
	int	 n;

	if (strchr(connection, '\x1f') != NULL)
		return -1;
	n = snprintf(key, STORE_KEY_LEN, "%s\x1f%s", connection, recipient);
	return n < 0 || n >= STORE_KEY_LEN ? -1 : 0;
}

/* ISO-8601 UTC with milliseconds, as Auth0 writes created_at. */
static void
iso8601(time_t t, char out[32])
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* ------------------------------------------------------------------ */
/* Exchanging a code.                                                  */

struct verify {
	const json_t		*conn;
	const struct pwl_def	*def;
	const char		*connection;
	const char		*key;
	const char		*recipient;
	const char		*code;
	const char		*client_id;
	time_t			 now;
	enum pwl_result		 result;
	json_t			*user;		/* out */
};

/* The user of the connection with this recipient, created (verified)
 * on the first login as Auth0 does. */
static enum store_rc
user_login_txn(struct store *st, DB_TXN *txn, struct verify *v)
{
	char		 id[2 * 12 + 1], uid[64], ts[32];
	enum store_rc	 rc;

	rc = store_user_find(st, txn, v->connection, v->recipient, &v->user);
	if (rc == STORE_OK) {
		if (json_is_true(json_object_get(v->user, "blocked"))) {
			v->result = PWL_BLOCKED;
			return STORE_OK;
		}
		if (json_is_true(json_object_get(v->user, v->def->verified)))
			return STORE_OK;
		/* The code proved the phone or mailbox. */
		iso8601(v->now, ts);
		json_object_set_new(v->user, v->def->verified, json_true());
		json_object_set_new(v->user, "updated_at", json_string(ts));
		return store_user_put(st, txn, v->user);
	}
	if (rc != STORE_NOTFOUND)
		return rc;
	if (rand_hex(id, 12) == -1)
		return STORE_ERR;
	snprintf(uid, sizeof(uid), "%s|%s", v->def->strategy, id);
	iso8601(v->now, ts);
	v->user = json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:s}",
	    "user_id", uid, "connection", v->connection,
	    v->def->attr, v->recipient, v->def->verified, 1, "blocked", 0,
	    "created_at", ts, "updated_at", ts);
	if (v->user == NULL)
		return STORE_ERR;
	return store_user_put(st, txn, v->user);
}

/*
 * One transaction: the wrong try is counted (committed) as surely as the
 * right one consumes the code and creates the user.
 */
static enum store_rc
verify_txn(struct store *st, DB_TXN *txn, void *arg)
{
	struct verify	*v = arg;
	json_t		*rec = NULL;
	enum store_rc	 rc;

	json_decref(v->user);		/* a deadlock retry starts over */
	v->user = NULL;
	v->result = PWL_WRONG;
	rc = store_get(st, txn, SK_OTP, v->key, &rec);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	switch (pwl_record_check(rec, v->code, v->client_id, v->now)) {
	case PWL_CHECK_OK:
		v->result = PWL_OK;
		if ((rc = store_del(st, txn, SK_OTP, v->key)) == STORE_OK)
			rc = user_login_txn(st, txn, v);
		break;
	case PWL_CHECK_WRONG:
		if (json_integer_value(json_object_get(rec, "tries_left")) > 0)
			rc = store_put(st, txn, SK_OTP, v->key, rec, 0);
		else
			rc = store_del(st, txn, SK_OTP, v->key);
		break;
	default:
		rc = store_del(st, txn, SK_OTP, v->key);
		break;
	}
	json_decref(rec);
	return rc;
}

enum pwl_result
pwl_verify(struct lk_ctx *ctx, const json_t *conn, const char *recipient,
    const char *code, const char *client_id, time_t now, json_t **user)
{
	struct verify	 v;
	enum pwl_strategy s;
	char		 key[STORE_KEY_LEN];

	*user = NULL;
	memset(&v, 0, sizeof(v));
	if ((s = pwl_strategy(conn)) == PWL__MAX)
		return PWL_WRONG;
	v.conn = conn;
	v.def = &pwl_defs[s];
	v.connection = json_string_value(json_object_get(conn, "name"));
	if (v.connection == NULL || otp_key(key, v.connection, recipient) == -1)
		return PWL_WRONG;
	v.key = key;
	v.recipient = recipient;
	v.code = code;
	v.client_id = client_id;
	v.now = now;
	if (store_txn_run(ctx->store, verify_txn, &v) != STORE_OK) {
		lk_err("passwordless code check failed");
		json_decref(v.user);
		return PWL_ERR;
	}
	if (v.result == PWL_OK)
		*user = v.user;
	else
		json_decref(v.user);
	return v.result;
}

/* ------------------------------------------------------------------ */
/* POST /passwordless/start.                                           */

struct start {
	struct lk_ctx		*ctx;
	const struct lk_req	*req;
	struct lk_resp		*resp;
	struct params		 p;
	struct client		 client;
	struct tenant		 tenant;		/* record_clear */
	json_t			*conn;
	enum pwl_strategy	 strategy;
	char			 recipient[PWL_RECIPIENT_MAX + 1];
	struct guard_who	 who;		/* end-user IP (guard.c) */
};

/* Positive integer member of o within [1, max], or def. */
static long
conn_int(const json_t *o, const char *name, long def, long max)
{
	json_t	*v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > max)
		return def;
	return (long)json_integer_value(v);
}

static int
client_enabled(const json_t *conn, const char *client_id)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(json_object_get(conn, "enabled_clients"), i, v)
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
	switch (store_get(s->ctx->store, NULL, SK_CONNECTION,
	    s->p.v[F_CONNECTION], &s->conn)) {
	case STORE_OK:
		break;
	case STORE_NOTFOUND:
		return oerr_write(s->resp, OERR_PWL_NO_CONNECTION, NULL), -1;
	default:
		return oerr_write(s->resp, OERR_SERVER_ERROR, NULL), -1;
	}
	if ((s->strategy = pwl_strategy(s->conn)) == PWL__MAX)
		return oerr_write(s->resp, OERR_PWL_STRATEGY, NULL), -1;
	if (!client_enabled(s->conn, s->client.client_id))
		return oerr_write(s->resp, OERR_PWL_CONNECTION_DISABLED, NULL), -1;
	return 0;
}

/* send (absent: "code" for sms, Auth0's "link" for email) and the
 * recipient.  -1 with the error written. */
static int
start_params(struct start *s)
{
	const struct pwl_def	*d = &pwl_defs[s->strategy];
	const char		*send = s->p.v[F_SEND], *in;
	size_t			 i;

	if (send == NULL)
		send = s->strategy == PWL_SMS ? sends[SEND_CODE] : sends[SEND_LINK];
	for (i = 0; i < SEND__MAX; i++)
		if (strcmp(sends[i], send) == 0)
			break;
	if (i == SEND__MAX)
		return oerr_write(s->resp, OERR_PWL_SEND, send), -1;
	if (i != SEND_CODE)
		return oerr_write(s->resp, OERR_PWL_SEND_LINK, NULL), -1;
	if ((in = s->p.v[d->field]) == NULL || *in == '\0')
		return oerr_write(s->resp, d->missing, NULL), -1;
	if (pwl_recipient(s->strategy, in, s->recipient,
	    sizeof(s->recipient)) == -1)
		return oerr_write(s->resp, d->bad, in), -1;
	return 0;
}

struct replace {
	const char	*key;
	json_t		*rec;
	const char	*salt;		/* withdraw: only this record */
};

/* Only the latest code is valid: the new record replaces any other. */
static enum store_rc
put_txn(struct store *st, DB_TXN *txn, void *arg)
{
	struct replace	*r = arg;

	return store_put(st, txn, SK_OTP, r->key, r->rec, 0);
}

/* Withdraw the code that could not be delivered, unless a newer start
 * replaced it meanwhile. */
static enum store_rc
withdraw_txn(struct store *st, DB_TXN *txn, void *arg)
{
	struct replace	*r = arg;
	json_t		*cur = NULL;
	const char	*salt;
	enum store_rc	 rc;

	if ((rc = store_get(st, txn, SK_OTP, r->key, &cur)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	salt = json_string_value(json_object_get(cur, "salt"));
	if (salt != NULL && strcmp(salt, r->salt) == 0)
		rc = store_del(st, txn, SK_OTP, r->key);
	json_decref(cur);
	return rc;
}

/*
 * A job for the courier: what it needs to deliver the code, to withdraw
 * it and to audit the outcome as this request.  NULL on ENOMEM.
 */
static json_t *
job_new(const struct start *s, const char *connection, const char *code,
    const char *salt)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s}",
	    "connection", connection, "recipient", s->recipient,
	    "code", code, "salt", salt, "client_id", s->who.client_id,
	    "ip", s->who.ip, "peer", s->who.peer);
}

static const char *
job_str(const json_t *job, const char *name)
{
	const char	*v = json_string_value(json_object_get(job, name));

	return v != NULL ? v : "";
}

/* Audit the job's outcome as an event of its request's endpoint and
 * client, at the time it happened. */
static void
job_audit(struct store *st, const json_t *job, const char *user_id,
    enum guard_event ev, const char *desc)
{
	struct guard_who	 w;
	char			 key[64];
	json_t			*rec;

	memset(&w, 0, sizeof(w));
	w.ep = GUARD_EP_PWL_START;
	w.client_id = json_string_value(json_object_get(job, "client_id"));
	snprintf(w.ip, sizeof(w.ip), "%s", job_str(job, "ip"));
	snprintf(w.peer, sizeof(w.peer), "%s", job_str(job, "peer"));
	if (st == NULL || (rec = audit_record(&w, job_str(job, "recipient"),
	    user_id, ev, lk_now(), key, sizeof(key))) == NULL) {
		lk_warn("passwordless delivery outcome not audited");
		return;
	}
	json_object_set_new(rec, "description", json_string(desc));
	if (store_put(st, NULL, SK_AUDIT, key, rec, 0) != STORE_OK)
		lk_warn("passwordless delivery outcome not audited");
	json_decref(rec);
}

/* Withdraw the job's code (only the record it stored). */
static void
job_withdraw(struct store *st, const json_t *job)
{
	struct replace	 r;
	char		 key[STORE_KEY_LEN];

	memset(&r, 0, sizeof(r));
	r.salt = job_str(job, "salt");
	r.key = key;
	if (st == NULL || otp_key(key, job_str(job, "connection"),
	    job_str(job, "recipient")) == -1 ||
	    store_txn_run(st, withdraw_txn, &r) != STORE_OK)
		lk_warn("cannot withdraw the undelivered code");
}

/* 1 when the recipient is an administratively blocked user, with the
 * user's id: Auth0 sends no code to them. */
static int
job_blocked(struct store *st, const json_t *job, char *uid, size_t uidsz)
{
	json_t	*user = NULL;
	int	 blocked;

	if (store_user_find(st, NULL, job_str(job, "connection"),
	    job_str(job, "recipient"), &user) != STORE_OK)
		return 0;
	blocked = json_is_true(json_object_get(user, "blocked"));
	snprintf(uid, uidsz, "%s",
	    json_string_value(json_object_get(user, "user_id")) ?
	    json_string_value(json_object_get(user, "user_id")) : "");
	json_decref(user);
	return blocked;
}

int
pwl_job_begin(struct store *st, const json_t *job, struct deliver_cmd *cmd)
{
	json_t	*conn = NULL;
	char	 uid[256];

	memset(cmd, 0, sizeof(*cmd));
	if (st == NULL) {
		lk_err("passwordless delivery: no database; code not sent");
		return 0;
	}
	if (job_blocked(st, job, uid, sizeof(uid))) {
		lk_info("passwordless start for a blocked user: no code sent");
		job_withdraw(st, job);
		job_audit(st, job, uid, GUARD_EV_USER_BLOCKED,
		    "Passwordless code not sent: the user is blocked");
		return 0;
	}
	/* A connection removed meanwhile: no command ("config"). */
	if (store_get(st, NULL, SK_CONNECTION, job_str(job, "connection"),
	    &conn) == STORE_OK)
		cmd->argv = json_incref(json_object_get(conn,
		    "delivery_command"));
	cmd->timeout = (int)conn_int(conn, "delivery_timeout",
	    DELIVER_TIMEOUT_DEFAULT, DELIVER_TIMEOUT_MAX);
	cmd->m.connection = job_str(job, "connection");
	cmd->m.recipient = job_str(job, "recipient");
	cmd->m.code = job_str(job, "code");
	cmd->m.send = sends[SEND_CODE];
	json_decref(conn);
	return 1;
}

void
pwl_job_end(struct store *st, const json_t *job, int ok, const char *why)
{
	char	 desc[400];

	if (ok) {
		job_audit(st, job, NULL, GUARD_EV_CODE_DELIVERED,
		    "Passwordless code delivered");
		return;
	}
	job_withdraw(st, job);
	/* Auth0's "<provider message> (Code: <code>)" shape with a fixed
	 * text: what the command printed is only logged (deliver.c). */
	snprintf(desc, sizeof(desc), "%s delivery failed (Code: %s)",
	    job_str(job, "connection"), why);
	job_audit(st, job, NULL, GUARD_EV_DELIVERY_FAILED, desc);
}

/*
 * Issue and store the code; the job for the courier (deliver.c), which
 * delivers it after the answer.  The work here is the same for every
 * recipient: a known user, an unknown one, an administratively blocked
 * one (Auth0 sends no code to them; the courier finds them and withdraws
 * the code), and whatever the delivery will do, so neither the time nor
 * the answer tells them apart.  The job (owned), or NULL with the error
 * written.
 */
static json_t *
start_issue(struct start *s)
{
	struct replace		 r;
	const char		*connection;
	char			 code[PWL_CODE_LEN + 1], key[STORE_KEY_LEN];
	json_t			*job = NULL;
	long			 life;

	memset(&r, 0, sizeof(r));
	connection = json_string_value(json_object_get(s->conn, "name"));
	if (connection == NULL ||
	    otp_key(key, connection, s->recipient) == -1) {
		oerr_write(s->resp, OERR_SERVER_ERROR, NULL);
		return NULL;
	}
	life = conn_int(s->conn, "otp_lifetime", PWL_LIFETIME_DEFAULT,
	    PWL_LIFETIME_MAX);
	if (pwl_code_new(code) == -1 || (r.rec = pwl_record_new(code,
	    s->client.client_id, s->req->now, life)) == NULL) {
		oerr_write(s->resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	r.key = key;
	r.salt = json_string_value(json_object_get(r.rec, "salt"));
	if (store_txn_run(s->ctx->store, put_txn, &r) != STORE_OK ||
	    (job = job_new(s, connection, code, r.salt)) == NULL)
		oerr_write(s->resp, OERR_SERVER_ERROR, NULL);
out:
	OPENSSL_cleanse(code, sizeof(code));
	json_decref(r.rec);
	return job;
}

/* The 200 body of the auth0-java fixtures (AUTH0-BEHAVIOUR.md 2). */
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
	if (decode_body(req, START_FIELDS, &s.p, resp) == -1)
		goto out;
	/* The body's shape first, as Auth0's schema check does. */
	if (s.p.v[F_CLIENT_ID] == NULL && (req->authorization == NULL ||
	    strncasecmp(req->authorization, "Basic ", 6) != 0)) {
		oerr_write(resp, OERR_PWL_MISSING_CLIENT_ID, NULL);
		goto out;
	}
	if (s.p.v[F_CONNECTION] == NULL || *s.p.v[F_CONNECTION] == '\0') {
		oerr_write(resp, OERR_PWL_MISSING_CONNECTION, NULL);
		goto out;
	}
	if (ctx_tenant(ctx, &s.tenant) == -1) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	/* Confidential clients prove their secret; public ones send only
	 * client_id (AUTH0-BEHAVIOUR.md 2). */
	if (client_authenticate(ctx, &s.tenant, req, &s.p, &s.client, resp) == -1)
		goto out;
	if (!client_grant_allowed(s.client.rec, PWL_GRANT)) {
		oerr_write(resp, OERR_GRANT_NOT_ALLOWED, PWL_GRANT);
		goto out;
	}
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
	guard_after(ctx, &s.tenant, &s.who, s.recipient, NULL,
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
	json_decref(s.conn);
	record_clear(REC_TENANT, &s.tenant);
}

/*
 * The code exchange both endpoints share (/oauth/token's otp grant and
 * /oauth/ro with an sms or email connection): normalise the login, let
 * attack protection count the recipient as the identifier, check the
 * code.  The user (owned) or NULL with the error written; wrong is the
 * endpoint's own wrong-code row.
 */
json_t *
pwl_exchange(struct grant_req *g, const json_t *conn, enum pwl_strategy s,
    const char *login, const char *code, enum oerr wrong)
{
	json_t	*user = NULL;
	char	 recipient[PWL_RECIPIENT_MAX + 1];

	/* A login that cannot be a phone or email matches no code. */
	if (pwl_recipient(s, login, recipient, sizeof(recipient)) == -1) {
		oerr_write(g->resp, wrong, NULL);
		return NULL;
	}
	if (guard_before(g->ctx, &g->tenant, &g->who, recipient, g->req->now,
	    g->resp) == -1)
		return NULL;
	switch (pwl_verify(g->ctx, conn, recipient, code, g->client.client_id,
	    g->req->now, &user)) {
	case PWL_OK:
		guard_after(g->ctx, &g->tenant, &g->who, recipient,
		    json_string_value(json_object_get(user, "user_id")),
		    GUARD_EV_SUCCESS, g->req->now);
		return user;
	case PWL_WRONG:
		guard_after(g->ctx, &g->tenant, &g->who, recipient, NULL,
		    GUARD_EV_WRONG_CODE, g->req->now);
		oerr_write(g->resp, wrong, NULL);
		return NULL;
	case PWL_BLOCKED:
		guard_after(g->ctx, &g->tenant, &g->who, recipient, NULL,
		    GUARD_EV_USER_BLOCKED, g->req->now);
		oerr_write(g->resp, OERR_USER_BLOCKED, NULL);
		return NULL;
	default:
		oerr_write(g->resp, OERR_SERVER_ERROR, NULL);
		return NULL;
	}
}
