/*
 * latchkey: passwordless codes and their delivery.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_PASSWORDLESS_H
#define LATCHKEY_PASSWORDLESS_H

/*
 * passwordless.c: POST /passwordless/start and the one-time codes
 * (AUTH0-BEHAVIOUR.md 2).  A code is 6 digits, lives otp_lifetime
 * seconds (connection option, default 180), allows 3 wrong tries, and
 * only the latest one for a recipient is valid.
 */
#define PWL_CODE_LEN		6
#define PWL_TRIES		3
#define PWL_LIFETIME_DEFAULT	180
#define PWL_RECIPIENT_MAX	320

enum pwl_strategy { PWL_SMS, PWL_EMAIL, PWL__MAX };

enum pwl_check {
	PWL_CHECK_OK,		/* right code: consume the record */
	PWL_CHECK_WRONG,	/* wrong code: tries_left decremented in rec */
	PWL_CHECK_DEAD		/* expired, exhausted or another client's */
};

enum pwl_result {
	PWL_OK,			/* *user set (created on first login) */
	PWL_WRONG,		/* no valid code, or not this one */
	PWL_BLOCKED,		/* the user is administratively blocked */
	PWL_ERR			/* store failure; logged */
};

void		 passwordless_start(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);
/* The passwordless strategy of a connection record, or PWL__MAX. */
enum pwl_strategy pwl_strategy(const json_t *conn);
/* E.164 (Auth0's ^\+[0-9]{1,15}$) after dropping ' ', '-', '.', '(' and
 * ')'.  0, or -1 when in does not normalise to a valid number. */
int		 pwl_phone_normalize(const char *in, char *out, size_t outsz);
/* A plausible address, ASCII-lowercased.  0 or -1. */
int		 pwl_email_normalize(const char *in, char *out, size_t outsz);
/* The recipient of strategy s normalised as above.  0 or -1. */
int		 pwl_recipient(enum pwl_strategy, const char *in, char *out,
		    size_t outsz);
/* PWL_CODE_LEN uniform random digits (no modulo bias) + NUL.  0 or -1. */
int		 pwl_code_new(char out[PWL_CODE_LEN + 1]);
/* A new SK_OTP record for code; NULL on ENOMEM or no randomness. */
json_t		*pwl_record_new(const char *code, const char *client_id,
		    time_t now, long lifetime);
/* Check code against rec (time-safe), updating rec's tries_left. */
enum pwl_check	 pwl_record_check(json_t *rec, const char *code,
		    const char *client_id, time_t now);
/*
 * Exchange a code: in one transaction check it against the latest record
 * for (connection, recipient), count a wrong try or consume the record,
 * and find or create the user (sms|... / email|..., verified).  recipient
 * must be normalised.  *user (owned) is set on PWL_OK.
 */
enum pwl_result	 pwl_verify(struct lk_ctx *, const json_t *conn,
		    const char *recipient, const char *code,
		    const char *client_id, time_t now, json_t **user);
/* The code exchange of /oauth/token's otp grant and /oauth/ro, attack
 * protection included: the user (owned) or NULL with the error written
 * (wrong: the endpoint's wrong-code row). */
json_t		*pwl_exchange(struct grant_req *, const json_t *conn,
		    enum pwl_strategy, const char *login, const char *code,
		    enum oerr wrong);

/* deliver.c: the connection's delivery_command, run without a shell. */
struct deliver_msg {
	const char	*connection;
	const char	*recipient;
	const char	*code;
	const char	*send;		/* "code" */
};
/* Run argv (JSON array of strings) with {recipient}/{code} substituted
 * and LATCHKEY_* in the environment, at most timeout seconds.  0, or -1
 * with the failure's code in why ("5": exit status, "signal 9",
 * "timeout", "config", "spawn"); the command's stderr is logged, the
 * code and recipient masked, and never returned. */
int		 deliver_run(const json_t *argv, const struct deliver_msg *,
		    int timeout, char *why, size_t whysz);
/* A delivery the courier runs: the command and what it sends. */
struct deliver_cmd {
	json_t			*argv;		/* owned: delivery_command */
	struct deliver_msg	 m;		/* points into the job */
	int			 timeout;	/* seconds */
};
/* Hand a job (passwordless.c's JSON object) to this process's courier,
 * which runs its delivery in the background (started on first use).
 * Returns at once: 0, or -1 (logged) when it could not be handed over. */
int		 deliver_enqueue(const char *home, const json_t *job);
/* Free a job (NULL is a no-op), wiping the code it carries. */
void		 deliver_job_free(json_t *job);
/* passwordless.c, called in the courier (st may be NULL): fill cmd and
 * return 1 to run it, or 0 when there is nothing to deliver (a blocked
 * recipient: withdrawn and audited); then the outcome of a job that ran
 * or could not run (why: deliver_run's codes, "busy"), audited. */
int		 pwl_job_begin(struct store *, const json_t *job,
		    struct deliver_cmd *);
void		 pwl_job_end(struct store *, const json_t *job, int ok,
		    const char *why);

#endif /* !LATCHKEY_PASSWORDLESS_H */
