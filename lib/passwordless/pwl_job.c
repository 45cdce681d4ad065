/*
 * The courier's jobs (courier.c): /passwordless/start hands each code
 * over as a job; the courier asks here what to run for it and reports
 * the outcome, audited as an event of the request that issued the code
 * (docs/COMPAT.md 2, 6).  A code that could not be delivered is
 * withdrawn; a blocked recipient gets none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

static const struct pwl_field job_fields[] = {
	{ "connection", PWL_FT_STR, offsetof(struct pwl_job, connection) },
	{ "recipient", PWL_FT_STR, offsetof(struct pwl_job, recipient) },
	{ "code", PWL_FT_STR, offsetof(struct pwl_job, code) },
	{ "salt", PWL_FT_STR, offsetof(struct pwl_job, salt) },
	{ "client_id", PWL_FT_STR, offsetof(struct pwl_job, client_id) },
	{ "ip", PWL_FT_STR, offsetof(struct pwl_job, ip) },
	{ "peer", PWL_FT_STR, offsetof(struct pwl_job, peer) },
	{ NULL, PWL_FT_STR, 0 }
};

json_t *
pwl_job_new(const char *connection, const char *recipient, const char *code,
    const char *salt, const struct guard_who *who)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s}",
	    "connection", connection, "recipient", recipient,
	    "code", code, "salt", salt, "client_id", who->client_id,
	    "ip", who->ip, "peer", who->peer);
}

int
pwl_job_parse(json_t *json, struct pwl_job *job)
{
	memset(job, 0, sizeof(*job));
	if (pwl_fields(json, job_fields, job) == -1 ||
	    job->connection == NULL || job->recipient == NULL ||
	    job->code == NULL) {
		memset(job, 0, sizeof(*job));
		return -1;
	}
	if (job->salt == NULL)
		job->salt = "";
	if (job->ip == NULL)
		job->ip = "";
	if (job->peer == NULL)
		job->peer = "";
	job->json = json_incref(json);
	return 0;
}

void
pwl_job_clear(struct pwl_job *job)
{
	/* The code lives in the JSON string itself: wipe it there. */
	if (job->code != NULL)
		OPENSSL_cleanse((char *)(uintptr_t)job->code,
		    strlen(job->code));
	json_decref(job->json);
	memset(job, 0, sizeof(*job));
}

void
deliver_job_free(json_t *json)
{
	struct pwl_job	 job;

	if (pwl_job_parse(json, &job) == 0)
		pwl_job_clear(&job);
	json_decref(json);
}

/* Audit the job's outcome as an event of its request's endpoint and
 * client, at the time it happened. */
static void
job_audit(struct store *st, const struct pwl_job *job, const char *user_id,
    enum guard_event ev, const char *desc)
{
	struct guard_who	 w;
	char			 key[64];
	json_t			*rec;

	memset(&w, 0, sizeof(w));
	w.ep = GUARD_EP_PWL_START;
	w.client_id = job->client_id;
	snprintf(w.ip, sizeof(w.ip), "%s", job->ip);
	snprintf(w.peer, sizeof(w.peer), "%s", job->peer);
	if (st == NULL || (rec = audit_record(&w, job->recipient, user_id, ev,
	    lk_now(), key, sizeof(key))) == NULL) {
		lk_warn("passwordless delivery outcome not audited");
		return;
	}
	json_object_set_new(rec, "description", json_string(desc));
	if (store_put(st, NULL, SK_AUDIT, key, rec, 0) != STORE_OK)
		lk_warn("passwordless delivery outcome not audited");
	json_decref(rec);
}

struct withdraw {
	const char	*key;
	const char	*salt;		/* only the record with this salt */
};

/* Withdraw the code that could not be delivered, unless a newer start
 * replaced it meanwhile. */
static enum store_rc
withdraw_txn(struct store *st, struct txn *txn, void *arg)
{
	struct withdraw	*w = arg;
	json_t		*cur = NULL;
	const char	*salt;
	enum store_rc	 rc;

	if ((rc = store_get(st, txn, SK_OTP, w->key, &cur)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	salt = pwl_record_salt(cur);
	if (salt != NULL && strcmp(salt, w->salt) == 0)
		rc = store_del(st, txn, SK_OTP, w->key);
	json_decref(cur);
	return rc;
}

/* Withdraw the job's code (only the record it stored). */
static void
job_withdraw(struct store *st, const struct pwl_job *job)
{
	struct withdraw	 w;
	char		 key[PWL_KEY_LEN];

	w.salt = job->salt;
	w.key = key;
	if (st == NULL ||
	    pwl_otp_key(key, job->connection, job->recipient) == -1 ||
	    store_txn_run(st, withdraw_txn, &w) != STORE_OK)
		lk_warn("cannot withdraw the undelivered code");
}

/* 1 when the recipient is an administratively blocked user, with the
 * user's id: Auth0 sends no code to them. */
static int
job_blocked(struct store *st, const struct pwl_job *job, char *uid,
    size_t uidsz)
{
	struct user	 u;
	json_t		*json = NULL;
	int		 blocked;

	if (store_user_find(st, NULL, job->connection, job->recipient,
	    &json) != STORE_OK)
		return 0;
	if (record_parse(REC_USER, json, &u) == -1) {
		json_decref(json);
		return 0;
	}
	blocked = u.blocked;
	snprintf(uid, uidsz, "%s", u.user_id != NULL ? u.user_id : "");
	record_clear(REC_USER, &u);
	json_decref(json);
	return blocked;
}

int
pwl_job_begin(struct store *st, const struct pwl_job *job,
    struct deliver_cmd *cmd)
{
	struct conn	 conn;
	char		 uid[256];

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
	/* A connection removed meanwhile: no command ("config"), and the
	 * table's default timeout. */
	if (record_get(st, NULL, REC_CONNECTION, job->connection, &conn) !=
	    STORE_OK)
		cmd->timeout = (int)record_field(REC_CONNECTION,
		    "delivery_timeout")->def;
	else {
		cmd->argv = json_incref((json_t *)(uintptr_t)
		    conn.delivery_command);
		cmd->timeout = (int)conn.delivery_timeout;
	}
	cmd->m.connection = job->connection;
	cmd->m.recipient = job->recipient;
	cmd->m.code = job->code;
	cmd->m.send = "code";
	record_clear(REC_CONNECTION, &conn);
	return 1;
}

void
pwl_job_end(struct store *st, const struct pwl_job *job, int ok,
    const char *why)
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
	    job->connection, why);
	job_audit(st, job, NULL, GUARD_EV_DELIVERY_FAILED, desc);
}
