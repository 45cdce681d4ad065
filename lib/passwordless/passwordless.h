/*
 * latchkey: passwordless codes and their delivery (docs/COMPAT.md 2).
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_PASSWORDLESS_H
#define LATCHKEY_PASSWORDLESS_H

/*
 * A code is PWL_CODE_LEN digits, lives the connection's otp_lifetime
 * seconds (default PWL_LIFETIME_DEFAULT), allows PWL_TRIES wrong tries,
 * and only the latest one for a recipient is valid.
 */
#define PWL_CODE_LEN		6
#define PWL_TRIES		3
#define PWL_LIFETIME_DEFAULT	180
#define PWL_RECIPIENT_MAX	IDENT_MAX
/* SK_OTP key: "<connection>\x1f<recipient>". */
#define PWL_KEY_LEN		(256 + 1 + PWL_RECIPIENT_MAX + 1)

enum pwl_strategy { PWL_SMS, PWL_EMAIL, PWL__MAX };

enum pwl_check {
	PWL_CHECK_OK,		/* right code: consume the record */
	PWL_CHECK_WRONG,	/* wrong code: tries_left decremented in rec */
	PWL_CHECK_DEAD		/* expired, exhausted or another client's */
};

/* The outcome of a code exchange; each endpoint writes its own row. */
enum pwl_result {
	PWL_OK,			/* *user set (created on first login) */
	PWL_WRONG,		/* no valid code, or not this one */
	PWL_BLOCKED,		/* the user is administratively blocked */
	PWL_THROTTLED,		/* attack protection refused: error written */
	PWL_ERR			/* store failure; logged */
};

/* passwordless.c: POST /passwordless/start. */
void		 passwordless_start(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);

/* pwl_code.c: codes, their records, the recipient. */
/* The passwordless strategy of a connection, or PWL__MAX. */
enum pwl_strategy pwl_strategy(const struct conn *);
/* The recipient of strategy s checked and normalised by ident_phone or
 * ident_email (security.h).  0 or -1. */
int		 pwl_recipient(enum pwl_strategy, const char *in, char *out,
		    size_t outsz);
/* The SK_OTP key of (connection, recipient) into key[PWL_KEY_LEN].
 * 0 or -1. */
int		 pwl_otp_key(char *key, const char *connection,
		    const char *recipient);
/* PWL_CODE_LEN uniform random digits (no modulo bias) + NUL.  0 or -1. */
int		 pwl_code_new(char out[PWL_CODE_LEN + 1]);
/*
 * A new SK_OTP record for code; NULL on ENOMEM or no randomness:
 *	{"code_hash": hash_secret(salt || code), "salt": <32 hex>,
 *	 "exp": <epoch>, "tries_left": 3, "client_id": "...",
 *	 "created_at": <epoch>}
 * The code itself is never stored.
 */
json_t		*pwl_record_new(const char *code, const char *client_id,
		    time_t now, long lifetime);
/* The salt of an SK_OTP record (borrowed), or NULL. */
const char	*pwl_record_salt(const json_t *rec);
/* The wrong tries an SK_OTP record has left (0: none, or unreadable). */
long long	 pwl_record_tries(const json_t *rec);
/* Check code against rec (time-safe), updating rec's tries_left. */
enum pwl_check	 pwl_record_check(json_t *rec, const char *code,
		    const char *client_id, time_t now);

/* The string and integer members of an object the passwordless code
 * reads (an SK_OTP record, a courier job), declared as a table. */
enum pwl_ftype { PWL_FT_STR, PWL_FT_INT };
struct pwl_field {
	const char	*name;
	enum pwl_ftype	 type;
	size_t		 off;		/* const char * or long long */
};
/* Fill out from o's members named in fields (ending with a NULL name):
 * strings NULL and integers 0 when absent.  0, or -1 when o is not an
 * object or a member has the wrong type. */
int		 pwl_fields(const json_t *o, const struct pwl_field *fields,
		    void *out);

/*
 * pwl_exchange.c: exchange a code.  In one transaction check it against
 * the latest record for (connection, recipient), count a wrong try or
 * consume the record, and find or create the user (sms|... / email|...,
 * verified).  recipient must be normalised.  *user (owned) is set on
 * PWL_OK.
 */
enum pwl_result	 pwl_verify(struct lk_ctx *, const struct conn *,
		    const char *recipient, const char *code,
		    const char *client_id, time_t now, json_t **user);
/* The code exchange of /oauth/token's otp grant and /oauth/ro, attack
 * protection included: PWL_OK with *user (owned); PWL_THROTTLED with the
 * error written; otherwise nothing written, the caller maps the result
 * to its own row. */
enum pwl_result	 pwl_exchange(struct grant_req *, const struct conn *,
		    const char *login, const char *code, json_t **user);

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

/* One delivery in flight (deliver_run's, or one of the courier's). */
#define DELIVER_OUT_MAX		1024	/* stderr bytes kept for the log */
struct delivery {
	pid_t		 pid;		/* -1: none */
	int		 fd;		/* our end of its stderr; -1 at EOF */
	long long	 deadline;	/* lk_mono_ms() */
	int		 status;	/* wait status; DSTATUS_* when none */
	size_t		 have;
	char		 out[DELIVER_OUT_MAX + 1];	/* its stderr's start */
	char		 econn[300];	/* the connection, escaped */
};
/* Start the command of m: 0 (running), or -1 with the failure's code in
 * why and nothing running. */
int		 delivery_start(struct delivery *, const json_t *argv,
		    const struct deliver_msg *, int timeout, char *why,
		    size_t whysz);
/* 1 when the delivery is over (it exited, or was killed and reaped at
 * its deadline), 0 while it runs. */
int		 delivery_done(struct delivery *);
/* The outcome of a finished delivery: 0, or -1 with the failure's code
 * in why, logged with the start of its stderr (masked).  Releases the
 * delivery's pipe and buffer. */
int		 delivery_end(struct delivery *, const struct deliver_msg *,
		    char *why, size_t whysz);

/* A delivery the courier runs: the command and what it sends. */
struct deliver_cmd {
	json_t			*argv;		/* owned: delivery_command */
	struct deliver_msg	 m;		/* points into the job */
	int			 timeout;	/* seconds */
};

/*
 * pwl_job.c: a job for the courier, what it needs to deliver a code, to
 * withdraw it and to audit the outcome as the request that issued it.
 * Its JSON form crosses the courier's socket.
 */
struct pwl_job {
	json_t		*json;		/* owned; holds the code */
	const char	*connection;
	const char	*recipient;
	const char	*code;
	const char	*salt;		/* of its record: withdraw only that */
	const char	*client_id;	/* NULL: none */
	const char	*ip;
	const char	*peer;
};
/* The JSON form of a job; NULL on ENOMEM. */
json_t		*pwl_job_new(const char *connection, const char *recipient,
		    const char *code, const char *salt,
		    const struct guard_who *);
/* Parse json (a reference is taken) into job.  0, or -1 when it is no
 * job (job cleared). */
int		 pwl_job_parse(json_t *json, struct pwl_job *);
/* Release a job, wiping the code it carries; zeroes job. */
void		 pwl_job_clear(struct pwl_job *);
/* Called in the courier (st may be NULL): fill cmd and return 1 to run
 * it, or 0 when there is nothing to deliver (a blocked recipient:
 * withdrawn and audited); then the outcome of a job that ran or could
 * not run (why: deliver_run's codes, "busy"), audited. */
int		 pwl_job_begin(struct store *, const struct pwl_job *,
		    struct deliver_cmd *);
void		 pwl_job_end(struct store *, const struct pwl_job *, int ok,
		    const char *why);

/* Free a job's JSON form (NULL is a no-op), wiping the code it carries. */
void		 deliver_job_free(json_t *job);

/* courier.c: background delivery.  Hand a job (its JSON form) to this
 * process's courier, which runs its delivery in the background (started
 * on first use).  Returns at once: 0, or -1 (logged) when it could not be
 * handed over. */
int		 deliver_enqueue(const char *home, const json_t *job);

#endif /* !LATCHKEY_PASSWORDLESS_H */
