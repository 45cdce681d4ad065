/*
 * latchkey: the one internal header shared by lib/, cgi-bin/, db/ and tests/.
 *
 * Conventions (see ../shared/STYLE.md):
 *  - public names carry their module prefix (buf_, oerr_, decode_, store_,
 *    hash_, key_, token_, client_, scope_, grant_, route_, log_);
 *  - _new/_free pairs allocate (free of NULL is a no-op), _init/_clear work
 *    on caller-owned structs;
 *  - functions return an enum or 0/-1, never a JSON envelope.
 */
#ifndef LATCHKEY_EXTERN_H
#define LATCHKEY_EXTERN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <db.h>
#include <jansson.h>

#define LK_VERSION		"0.1.0"

/* Hard bounds applied at the edge (SPEC.md "Requests"). */
#define LK_BODY_MAX		(64 * 1024)	/* 413 above this */
#define LK_HEADER_MAX		8192		/* any single header value */
#define LK_PATH_MAX		1024

/* Where the database environment lives, unless LATCHKEY_HOME says otherwise. */
#define LK_HOME_DEFAULT		"/var/lib/latchkey"
#define LK_HOME_ENV		"LATCHKEY_HOME"

/* ------------------------------------------------------------------ */
/* buf.c: a growable byte buffer (always NUL-terminated).              */

struct buf {
	char	*p;	/* data, NUL-terminated; NULL until first append */
	size_t	 len;	/* bytes used, excluding the NUL */
	size_t	 cap;	/* bytes allocated */
};

void	 buf_init(struct buf *);
void	 buf_clear(struct buf *);		/* frees; buf usable again */
void	 buf_reset(struct buf *);		/* len = 0, keeps memory */
int	 buf_append(struct buf *, const void *, size_t);	/* -1 on ENOMEM */
int	 buf_puts(struct buf *, const char *);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(__printf__, 2, 3)));

/* clock.c: milliseconds on the monotonic clock, for timings and waits. */
double	 lk_mono_ms(void);
time_t	 lk_now(void);	/* the wall clock's second (clock.c) */

/* ------------------------------------------------------------------ */
/* log.c: one logging function; never pass secrets to it.              */

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Where log lines go (default: stderr); the responder sends them to the
 * FastCGI error stream so a daemonized web server still logs them. */
void	 log_sink(void (*)(const char *line));
void	 log_msg(enum log_level, const char *func, const char *fmt, ...)
	    __attribute__((format(__printf__, 3, 4)));
#define lk_err(...)	log_msg(LOG_LVL_ERR, __func__, __VA_ARGS__)
#define lk_warn(...)	log_msg(LOG_LVL_WARN, __func__, __VA_ARGS__)
#define lk_info(...)	log_msg(LOG_LVL_INFO, __func__, __VA_ARGS__)
/* Copy request-derived text into dst (size dstsz), escaping control
 * characters, quotes, backslashes and non-ASCII as \xNN, truncating. */
void	 log_escape(char *dst, size_t dstsz, const char *src);

/* ------------------------------------------------------------------ */
/* http: the request as the responder saw it, and the response built.  */

enum http_method { HTTP_GET, HTTP_POST, HTTP_HEAD, HTTP_OPTIONS, HTTP_OTHER,
	HTTP__MAX };

/*
 * One request.  Every string is NUL-terminated, bounded and owned by the
 * caller (cgi-bin or a test); NULL when the header was absent.
 */
struct lk_req {
	enum http_method method;
	const char	*method_str;	/* as sent, for logs and 405 */
	const char	*path;		/* URI path without query, e.g. "/auth/oauth/token" */
	const char	*content_type;	/* CONTENT_TYPE */
	const char	*authorization;	/* HTTP_AUTHORIZATION */
	const char	*remote_addr;	/* REMOTE_ADDR */
	const char	*forwarded_for;	/* HTTP_AUTH0_FORWARDED_FOR */
	const char	*dpop;		/* HTTP_DPOP */
	const char	*body;		/* raw body (may contain NUL bytes) */
	size_t		 bodysz;
	int		 body_too_large; /* CONTENT_LENGTH > LK_BODY_MAX: body not read */
	time_t		 now;		/* request clock (tests fix it) */
	char		 id[33];	/* request id, 32 hex chars */
};

/* A response: status, extra header lines, JSON body. */
struct lk_resp {
	int		 status;	/* 200, 400, ... */
	struct buf	 headers;	/* "Name: value\r\n" lines, excluding Content-Type/Status */
	struct buf	 body;		/* the JSON (or empty) */
	const char	*content_type;	/* default "application/json" */
	/* For the access log line: */
	const char	*outcome;	/* "ok" or the wire error code */
	char		 grant[24];	/* short grant name for logs */
	char		 client_id[64];	/* escaped client_id for logs */
};

void	 resp_init(struct lk_resp *);
void	 resp_clear(struct lk_resp *);
int	 resp_header(struct lk_resp *, const char *name, const char *fmt, ...)
	    __attribute__((format(__printf__, 3, 4)));
/* Serialise json (not stolen) as the body with the given status;
 * token responses also get Cache-Control: no-store and Pragma: no-cache. */
int	 resp_json(struct lk_resp *, int status, const json_t *);
void	 resp_nostore(struct lk_resp *);

/* ------------------------------------------------------------------ */
/* oerr.c: the wire errors, one table, one writer.                     */

/*
 * Every wire error latchkey sends.  Each row of the table in oerr.c holds
 * {error code, HTTP status, error_description}; a description with "%s"
 * takes the argument given to oerr_write().  Sources in oerr.c.
 */
enum oerr {
	OERR_BAD_CONTENT_TYPE,		/* 400 invalid_request */
	OERR_MALFORMED_BODY,		/* 400 invalid_request (%s: reason) */
	OERR_BODY_TOO_LARGE,		/* 413 invalid_request */
	OERR_DUPLICATE_PARAM,		/* 400 invalid_request (%s: name) */
	OERR_PARAM_TYPE,		/* 400 invalid_request (%s: name) */
	OERR_PARAM_TOO_LONG,		/* 400 invalid_request (%s: name) */
	OERR_MISSING_PARAM,		/* 400 invalid_request "Missing required parameter: %s" */
	OERR_UNSUPPORTED_GRANT,		/* 400 unsupported_grant_type (%s) */
	OERR_CLIENT_AUTH,		/* 401 access_denied "Unauthorized" */
	OERR_MULTIPLE_AUTH,		/* 400 invalid_request */
	OERR_ASSERTION_TYPE,		/* 400 invalid_request */
	OERR_GRANT_NOT_ALLOWED,		/* 403 unauthorized_client "Grant type '%s' not allowed for the client." */
	OERR_NO_DEFAULT_CONNECTION,	/* 500 server_error */
	OERR_UNKNOWN_REALM,		/* 400 invalid_request "Unknown realm %s." */
	OERR_REALM_NOT_ENABLED,		/* 403 unauthorized_client */
	OERR_REALM_STRATEGY,		/* 400 invalid_request strategy cannot do passwords */
	OERR_WRONG_CREDENTIALS,		/* 403 invalid_grant "Wrong email or password." */
	OERR_USER_BLOCKED,		/* 401 unauthorized "user is blocked" */
	OERR_SERVICE_NOT_FOUND,		/* 403 access_denied "Service not found: %s" */
	OERR_INVALID_SCOPE,		/* 400 invalid_scope (%s) */
	OERR_NOT_FOUND,			/* 404 not_found */
	OERR_METHOD_NOT_ALLOWED,	/* 405 method_not_allowed */
	OERR_SERVER_ERROR,		/* 500 server_error */
	OERR_NOT_CONFIGURED,		/* 500 server_error: no environment / tenant */
	OERR_REFRESH_INVALID,		/* 403 invalid_grant "Unknown or invalid refresh token." */
	OERR_REFRESH_USER_GONE,		/* 403 invalid_grant user deleted */
	OERR_REFRESH_USER_BLOCKED,	/* 403 invalid_grant "user is blocked" */
	OERR_SCOPE_EXCEEDS,		/* 400 invalid_scope: refresh asked for more */
	OERR_INVALID_CLIENT,		/* 401 invalid_client (/oauth/revoke) */
	OERR_USERINFO_NO_TOKEN,		/* 401 unauthorized: no Bearer token */
	OERR_USERINFO_TOKEN,		/* 401 invalid_token (%s: why) */
	OERR_USERINFO_SCOPE,		/* 403 insufficient_scope: no openid */
	OERR_USERINFO_REQUEST,		/* 400 invalid_request: malformed Authorization */
	/* Legacy /oauth/ro (AUTH0-BEHAVIOUR.md 1, lowercase texts). */
	OERR_RO_MISSING_CLIENT_ID,	/* 400 invalid_request */
	OERR_RO_MISSING_GRANT_TYPE,	/* 400 invalid_request */
	OERR_RO_GRANT_TYPE,		/* 400 unsupported_grant_type (%s) */
	OERR_RO_MISSING_USERNAME,	/* 400 invalid_request */
	OERR_RO_MISSING_PASSWORD,	/* 400 invalid_request */
	OERR_RO_MISSING_CONNECTION,	/* 400 invalid_request */
	OERR_RO_MISSING_DEVICE,		/* 400 invalid_request (jwt-bearer) */
	OERR_RO_MISSING_ID_TOKEN,	/* 400 invalid_request (jwt-bearer) */
	OERR_RO_BAD_ID_TOKEN,		/* 400 invalid_grant (jwt-bearer) */
	OERR_RO_CONNECTION_NOT_FOUND,	/* 400 invalid_request */
	OERR_RO_CONNECTION_DISABLED,	/* 400 invalid_request */
	OERR_RO_INVALID_CLIENT,		/* 403 unauthorized_client "invalid client" */
	OERR_RO_WRONG_PASSWORD,		/* 401 invalid_user_password */
	OERR_RO_WRONG_PHONE_CODE,	/* 401 invalid_user_password */
	OERR_RO_WRONG_EMAIL_CODE,	/* 401 invalid_user_password */
	/* The passwordless/otp grant at /oauth/token. */
	OERR_OTP_WRONG_PHONE_CODE,	/* 403 invalid_grant */
	OERR_OTP_WRONG_EMAIL_CODE,	/* 403 invalid_grant */
	/* POST /passwordless/start: Auth0's legacy bad.* errors. */
	OERR_PWL_MISSING_CLIENT_ID,	/* 400 bad.client_id */
	OERR_PWL_MISSING_CONNECTION,	/* 400 bad.connection */
	OERR_PWL_NO_CONNECTION,		/* 400 bad.connection */
	OERR_PWL_CONNECTION_DISABLED,	/* 400 bad.connection */
	OERR_PWL_STRATEGY,		/* 400 bad.connection */
	OERR_PWL_MISSING_PHONE,		/* 400 bad.phone_number */
	OERR_PWL_BAD_PHONE,		/* 400 bad.phone_number */
	OERR_PWL_MISSING_EMAIL,		/* 400 bad.email */
	OERR_PWL_BAD_EMAIL,		/* 400 bad.email (%s) */
	OERR_PWL_AUTHPARAMS,		/* 400 bad.authParams (%s: JSON type) */
	OERR_PWL_SEND,			/* 400 bad.send (%s) */
	OERR_PWL_SEND_LINK,		/* 400 bad.send: no magic links */
	OERR_PWL_SMS_PROVIDER,		/* 400 sms_provider_error (%s) */
	OERR_PWL_EMAIL_PROVIDER,	/* 400 email_provider_error (%s) */
	OERR_TEMPORARILY_UNAVAILABLE,	/* 503 temporarily_unavailable (admit.c) */
	OERR_STORE_RECOVERING,		/* 503 temporarily_unavailable (route.c) */
	/* Attack protection (guard.c, AUTH0-BEHAVIOUR.md 6). */
	OERR_PASSWORD_LEAKED,		/* 401 password_leaked (/oauth/token) */
	OERR_RO_PASSWORD_LEAKED,	/* 401 password_leaked (/oauth/ro text) */
	OERR_BRUTE_FORCE,		/* 429 too_many_attempts: pair blocked */
	OERR_SUSPICIOUS_IP,		/* 429 too_many_attempts: IP throttled */
	OERR_RATE_LIMIT,		/* 429 too_many_requests + X-RateLimit-* */
	OERR_BAD_FORWARDED_FOR,		/* 400 invalid_request: auth0-forwarded-for */
	OERR__MAX
};

/* Fill resp with the error's status and {"error","error_description"};
 * arg fills a "%s" in the description (NULL -> ""). Returns 0, -1 on ENOMEM. */
int	 oerr_write(struct lk_resp *, enum oerr, const char *arg);
const char *oerr_code(enum oerr);
int	 oerr_status(enum oerr);

/* ------------------------------------------------------------------ */
/* decode.c: one declared table of fields, for form and JSON bodies.    */

enum field {
	F_GRANT_TYPE,
	F_CLIENT_ID,
	F_CLIENT_SECRET,
	F_CLIENT_ASSERTION,
	F_CLIENT_ASSERTION_TYPE,
	F_USERNAME,
	F_PASSWORD,
	F_AUDIENCE,
	F_SCOPE,
	F_REALM,
	F_CONNECTION,
	F_DEVICE,
	F_ID_TOKEN,
	F_REFRESH_TOKEN,
	F_OTP,
	F_TOKEN,
	F_TOKEN_TYPE_HINT,
	F_EMAIL,
	F_PHONE_NUMBER,
	F_SEND,
	F_AUTHPARAMS,		/* a JSON object, kept as its compact text */
	F__MAX
};

/* The decoded, validated values: v[f] is NULL when absent. */
struct params {
	const char	*v[F__MAX];	/* NUL-free, NUL-terminated, <= field max */
	size_t		 len[F__MAX];
	struct buf	 store;		/* owns the decoded bytes */
	char		*owned[F__MAX];	/* per-field allocations */
};

#define FIELD_BIT(f)	(1u << (f))

void	 params_init(struct params *);
void	 params_clear(struct params *);	/* cleanses secrets, frees */
const char *field_name(enum field);

/*
 * Decode req->body by its content type into p, accepting only the fields
 * in the mask (others are ignored, as SPEC.md says).  On error returns -1
 * and fills resp with the wire error (bad content type, malformed body,
 * duplicate, wrong type, too long, NUL byte); p is left cleared.
 */
int	 decode_body(const struct lk_req *, unsigned mask, struct params *,
	    struct lk_resp *);
/* Decode application/x-www-form-urlencoded text: %XX and '+'. Returns the
 * decoded length or -1 on invalid percent-encoding or an embedded NUL. */
long	 decode_pct(const char *src, size_t srcsz, char *dst, int plus_is_space);

/* ------------------------------------------------------------------ */
/* store.c: Berkeley DB 5.3, transactional environment.                 */

/*
 * Records are JSON objects, one database per kind, keyed by a string.
 * The record shapes (the only fields code may rely on):
 *
 * SK_META "tenant": {
 *	"issuer": "https://auth.example.com/",		(trailing slash)
 *	"default_directory": "Username-Password-Authentication",	(optional)
 *	"default_audience": "https://api.example.com/",	(optional)
 *	"hash": {"t": 2, "m": 19456, "p": 1},		(argon2id policy; m in KiB)
 *	"allow_legacy_ro": true
 * }
 * SK_CLIENT client_id: {
 *	"client_id": "...", "name": "...",
 *	"app_type": "regular_web"|"non_interactive"|"spa"|"native",
 *	"token_endpoint_auth_method": "client_secret_post"|"client_secret_basic"
 *		|"private_key_jwt"|"none",
 *	"secret_hash": "sha256:<64 hex>",		(absent for none / private_key_jwt)
 *	"grant_types": ["password", "http://auth0.com/oauth/grant-type/password-realm", ...],
 *	"id_token_alg": "RS256"|"HS256",		(HS256 only with a secret)
 *	"id_token_lifetime": 36000,
 *	"public_keys": [{"kid": "...", "alg": "RS256"|"ES256", "pem": "-----BEGIN PUBLIC KEY-----..."}],
 *	"refresh_token": {...}				(optional; struct refresh_conf)
 * }
 * SK_CONNECTION name: {
 *	"name": "...", "strategy": "auth0"|"sms"|"email",
 *	"enabled_clients": ["client_id", ...]
 * }
 * SK_USER user_id ("auth0|<24 hex>"): {
 *	"user_id": "auth0|...", "connection": "...",
 *	"email": "...", "email_verified": false, "username": "...",
 *	"phone_number": "+...", "phone_verified": false,
 *	"password_hash": "$argon2id$..." | "$2b$..." | ...,
 *	"blocked": false,
 *	"name", "given_name", "family_name", "middle_name", "nickname",
 *	"preferred_username", "profile", "picture", "website", "gender",
 *	"birthdate", "zoneinfo", "locale": strings (optional),
 *	"address": {...} (optional),
 *	"created_at", "updated_at": ISO-8601 strings,
 *	"app_metadata", "user_metadata": objects (optional),
 *	"password_set_at": <epoch> (set by latchkeyctl when the password
 *		changes; refresh tokens from before it stop working)
 * }
 * SK_USERIDX "<e|u|p>\x1f<connection>\x1f<lowercased email|username|phone>" -> user_id
 *	(a plain string record: {"user_id": "..."}); maintained by store_user_put/del.
 * SK_API identifier: {
 *	"identifier": "...", "name": "...", "scopes": ["read:x", ...],
 *	"token_lifetime": 86400, "allow_offline_access": false
 * }
 * SK_KEY kid: {
 *	"kid": "...", "alg": "RS256"|"ES256",
 *	"status": "next"|"current"|"previous",
 *	"private_pem": "-----BEGIN PRIVATE KEY-----...",
 *	"created_at": <epoch>, "retired_at": <epoch> (previous only)
 * }
 * SK_JTI "<client_id>\x1f<jti>": {"exp": <epoch>}	(client assertion replay)
 * SK_REFRESH, SK_ACCESS: refresh tokens and opaque access tokens, keyed by
 *	the token's hash_secret() digest (shapes in refresh.c / opaque.c).
 * SK_OTP: passwordless codes (shape in passwordless.c).
 * SK_GUARD: attack-protection counters (guard.c), keyed
 *	"bf\x1f<lowercased identifier>\x1f<ip or *>" -> {"count", "last_failure",
 *	  "blocked_at"?, "identifier", "ip", "user_id"?}	(brute force)
 *	"ip\x1f<ip>" -> {"level", "t", "ip"}			(suspicious IP bucket)
 *	"rl\x1f<identifier>\x1f<ip>" -> {"level", "t", "identifier", "ip"} (login rate)
 *	"ep\x1f<endpoint>\x1f<ip>" -> {"level", "t", "endpoint", "ip"} (endpoint rate)
 * SK_AUDIT "<12-digit epoch>.<9-digit ns>.<8 hex>" -> {"type": Auth0 log code, "date",
 *	"description", "endpoint", "ip", "client_ip"?, "client_id"?,
 *	"user_name"?, "user_id"?, "pid"}	(audit.c; chronological keys)
 * SK_REFIDX "<user_id>\x1f<family id>" -> {}: the refresh-token families
 *	of each user (refresh.c), complete once SK_META "refresh_index" says
 *	{"complete": true}.
 */
enum store_kind {
	SK_META,
	SK_CLIENT,
	SK_CONNECTION,
	SK_USER,
	SK_USERIDX,
	SK_API,
	SK_KEY,
	SK_JTI,
	SK_REFRESH,
	SK_ACCESS,
	SK_OTP,
	SK_GUARD,
	SK_AUDIT,
	SK_REFIDX,
	SK__MAX
};

enum store_rc {
	STORE_OK = 0,
	STORE_NOTFOUND,		/* no such key */
	STORE_EXISTS,		/* put with STORE_NOOVERWRITE; unique index clash */
	STORE_DEADLOCK,		/* DB_LOCK_DEADLOCK / NOTGRANTED: caller retries */
	STORE_ERR,		/* anything else; logged */
	STORE_BUSY		/* a resource ran out (lock table, memory,
				 * disk): nothing written, retry later */
};

#define STORE_CREATE		0x01	/* store_open: create the environment */
#define STORE_WATCH		0x02	/* store_open: stall.c watches from the
					 * environment's open on (responders) */
#define STORE_NOOVERWRITE	0x01	/* store_put: fail with STORE_EXISTS */

struct store;

/*
 * Open (and with STORE_CREATE create, mode 0700 directory, 0600 files) the
 * environment at home with DB_INIT_TXN|LOCK|LOG|MPOOL, DB_REGISTER|DB_RECOVER
 * (recovery runs only when a process died), a deadlock detector, and all
 * databases.  Returns NULL and logs on error.
 */
struct store	*store_open(const char *home, int flags);
/* 1 when Berkeley DB panicked the environment (a crashed process needs
 * recovery): close the store and open it again. */
int		 store_panicked(const struct store *);
/* How many transient environment failures (panic, recovery, deadlock
 * retries run out) this process has seen: compare before and after. */
unsigned	 store_troubles(void);
void		 store_close(struct store *);	/* NULL is a no-op */

/* txn may be NULL: the call then runs in its own auto-committed txn. */
enum store_rc	 store_get(struct store *, DB_TXN *, enum store_kind,
		    const char *key, json_t **out);	/* *out owned by caller */
enum store_rc	 store_put(struct store *, DB_TXN *, enum store_kind,
		    const char *key, const json_t *val, int flags);
enum store_rc	 store_del(struct store *, DB_TXN *, enum store_kind,
		    const char *key);
/* Calls cb for each record in key order until cb returns non-zero. */
enum store_rc	 store_each(struct store *, DB_TXN *, enum store_kind,
		    int (*cb)(const char *key, json_t *val, void *arg), void *arg);

/*
 * Bounded walks (latchkeyctl over large stores).  The records of kind
 * whose key starts with prefix (NULL: all) are read in key order in
 * batches of STORE_BATCH, each batch in its own short transaction whose
 * cursor has degree-2 isolation (DB_READ_COMMITTED: a page's read lock
 * is dropped when the cursor leaves it); the next batch starts after the
 * last key seen (DB_SET_RANGE).  Not a snapshot: a record written or
 * deleted during the walk may or may not be seen, and none is seen twice.
 */
#define STORE_BATCH		512
/* A sweep (store_sweep) writes: smaller batches, each followed by a rest
 * as long as the batch took (store.c). */
#define STORE_SWEEP_BATCH	128
/* cb is called for each record of a batch after that batch's transaction
 * has committed (so cb may run transactions of its own), until it
 * returns non-zero.  val is borrowed.  STORE_OK when the walk ended or
 * cb stopped it, else the failed batch's store_rc (cb has seen the
 * batches before it). */
enum store_rc	 store_scan(struct store *, enum store_kind, const char *prefix,
		    int (*cb)(const char *key, json_t *val, void *arg), void *arg);
/*
 * A walk that writes: fn runs for each record inside its batch's
 * transaction, may read and write through txn, sets *act (STORE_KEEP,
 * STORE_DELETE the record, STORE_STOP the walk after it) and may append
 * results to out.  A batch that is retried (deadlock, resource) is run
 * again from the same key with a fresh out; a committed batch's out is
 * appended to sw->out and its deletions counted in sw->deleted.  On
 * error the failed batch wrote nothing and the batches before it stay
 * committed: fn must be idempotent, so that running the walk again
 * finishes the work.
 */
enum store_act { STORE_KEEP, STORE_DELETE, STORE_STOP };
struct store_sweep {
	enum store_kind	 kind;
	const char	*prefix;	/* NULL: every record */
	enum store_rc	(*fn)(struct store *, DB_TXN *, const char *key,
			    json_t *val, void *arg, enum store_act *act,
			    json_t *out);
	void		*arg;
	json_t		*out;		/* an array, or NULL: results dropped */
	long		 results;	/* what fn appended, committed */
	long		 deleted;	/* committed deletions */
};
enum store_rc	 store_sweep(struct store *, struct store_sweep *);
/* STORE_OK when some key of kind starts with prefix, else STORE_NOTFOUND
 * (one cursor seek, in txn or its own). */
enum store_rc	 store_prefix_any(struct store *, DB_TXN *, enum store_kind,
		    const char *prefix);
/* For tests: make the next walks fail (STORE_ERR) after n committed
 * batches, as a process killed between two batches would; 0: never. */
void		 store_scan_fail_after(long n);
/* How many requests' transactions gave up on a resource error
 * (STORE_BUSY), and the last resource named ("lock table full", "disk
 * full", ...). */
unsigned	 store_busy(void);
const char	*store_busy_what(void);

/* Delete every record of kind whose "exp" (epoch) is at or before now;
 * *count says how many.  For SK_OTP and SK_ACCESS (latchkeyctl token
 * prune).  Without txn, in batches (store_sweep), each record checked
 * again in the deleting transaction. */
enum store_rc	 store_expire(struct store *, DB_TXN *, enum store_kind,
		    time_t now, int *count);

/*
 * Run fn inside one transaction, committing if it returns STORE_OK and
 * aborting otherwise; a STORE_DEADLOCK from fn or from the commit is
 * retried (bounded, with backoff), and so is a STORE_BUSY that may clear
 * up (a full lock table: 4 more tries over 150 ms).  Returns fn's
 * result, STORE_BUSY (logged once, naming the resource) or STORE_ERR.
 */
enum store_rc	 store_txn_run(struct store *,
		    enum store_rc (*fn)(struct store *, DB_TXN *, void *),
		    void *arg);

/* Users: unique per connection by email, username and phone (case-
 * insensitive email and username).  store_user_find takes either an email
 * or a username as login. */
enum store_rc	 store_user_find(struct store *, DB_TXN *, const char *connection,
		    const char *login, json_t **user);
enum store_rc	 store_user_put(struct store *, DB_TXN *, const json_t *user);
enum store_rc	 store_user_del(struct store *, DB_TXN *, const char *user_id);

/* Record the use of a client assertion's jti until exp: STORE_EXISTS if
 * it was already used (and not expired). */
enum store_rc	 store_jti_use(struct store *, const char *client_id,
		    const char *jti, time_t exp, time_t now);

/* ------------------------------------------------------------------ */
/* hash.c: password hashes (argon2id new, bcrypt/yescrypt/... verify).  */

struct hash_policy {
	uint32_t	t_cost;		/* argon2 passes */
	uint32_t	m_cost;		/* KiB */
	uint32_t	parallelism;
};

#define HASH_POLICY_DEFAULT	{ 2, 19456, 1 }	/* OWASP argon2id */
#define HASH_ENCODED_MAX	256

enum hash_rc { HASH_OK, HASH_MISMATCH, HASH_ERR };

/* The policy in tenant["hash"], defaults for absent members. */
void		 hash_policy_from_json(const json_t *tenant, struct hash_policy *);
/* New argon2id hash of pw into out (HASH_ENCODED_MAX). 0 or -1. */
int		 hash_password(const struct hash_policy *, const char *pw,
		    size_t pwlen, char *out, size_t outsz);
/* Verify pw against any supported encoding ($argon2id$, $argon2i$, $2a$,
 * $2b$, $2y$, $y$, $6$, $5$); *rehash set when the hash is not argon2id
 * with at least the policy's costs.  Time-safe compare. */
enum hash_rc	 hash_verify(const struct hash_policy *, const char *encoded,
		    const char *pw, size_t pwlen, int *rehash);
/* The same work as a verify, for unknown users; always HASH_MISMATCH. */
enum hash_rc	 hash_dummy(const struct hash_policy *, const char *pw, size_t pwlen);
/* hash_verify for a login: also the dummy work when nothing could be
 * verified (HASH_ERR: unsupported or over-limit hash) or a wrong
 * password was checked against a below-policy hash much cheaper than the
 * dummy, so no answer comes sooner than an unknown user's. */
enum hash_rc	 hash_verify_login(const struct hash_policy *, const char *encoded,
		    const char *pw, size_t pwlen, int *rehash);
/*
 * A sample of a connection's stored hashes, for unknown users (hash.c,
 * "hash mix"): hash_mix_init, hash_mix_add each (at most HASH_MIX_MAX;
 * 0 or -1 when full or too long), hash_mix_seal (0 or -1).
 */
#define HASH_MIX_MAX	16
struct hash_mix {
	size_t		 n;
	char		 enc[HASH_MIX_MAX][HASH_ENCODED_MAX];
	unsigned char	 key[32];	/* SHA-256 of the hashes: keys the pick */
};
void		 hash_mix_init(struct hash_mix *);
int		 hash_mix_add(struct hash_mix *, const char *encoded);
int		 hash_mix_seal(struct hash_mix *);
/* The sampled hash assigned to login (ASCII case folded), the same for
 * the same sample; NULL when the sample is empty (or m is NULL). */
const char	*hash_mix_pick(const struct hash_mix *, const char *login);
/* An unknown login's verify: a wrong password's work against its
 * hash_mix_pick (hash_verify_login), or hash_dummy when there is none.
 * Always HASH_MISMATCH. */
enum hash_rc	 hash_verify_unknown(const struct hash_policy *,
		    const struct hash_mix *, const char *login, const char *pw,
		    size_t pwlen);
/* Memory for argon2 verifies (hash_verify, hash_dummy) while set: used
 * when a verify needs at most size bytes, else malloc; NULL unsets it.
 * admit.c gives it the held hash slot's shared memory. */
void		 hash_arena(void *mem, size_t size);
/* "sha256:<hex>" of a high-entropy secret (client secrets, opaque tokens). */
int		 hash_secret(const char *secret, size_t len, char out[72]);
/* 1 when secret matches the stored "sha256:<hex>", time-safe; 0 otherwise. */
int		 hash_secret_check(const char *stored, const char *secret, size_t len);
/* n random bytes as lowercase hex (2n chars + NUL) from the CSPRNG. */
int		 rand_hex(char *out, size_t nbytes);
/* n random bytes (n <= 256) as base64url without padding. */
int		 rand_b64url(char *out, size_t outsz, size_t nbytes);
/* Base64url without padding (RFC 7515 2) of in; 0, or -1 if out is short. */
int		 b64url_encode(const unsigned char *in, size_t len, char *out,
		    size_t outsz);

/* ------------------------------------------------------------------ */
/* key.c: signing keys (generation, JWKS) and client public keys.       */

enum key_alg { KEY_RS256, KEY_ES256, KEY_HS256, KEY__MAX };

const char	*key_alg_name(enum key_alg);		/* "RS256" ... */
int		 key_alg_parse(const char *, enum key_alg *);	/* 0 or -1 */

/* A new signing key record (SK_KEY shape above) with the given status;
 * kid is the RFC 7638 thumbprint.  NULL on error. */
json_t		*key_generate(enum key_alg, const char *status, time_t now);
/* Public JWK {kty,use,alg,kid,n,e | crv,x,y} for a private or public PEM. */
json_t		*key_jwk(const char *pem, enum key_alg, const char *kid);
/* {"keys":[...]} for all SK_KEY records in the array. */
json_t		*key_jwks(const json_t *key_records);
/* RFC 7638 thumbprint of a PEM's public key, base64url. 0 or -1. */
int		 key_thumbprint(const char *pem, char *out, size_t outsz);

/* ------------------------------------------------------------------ */
/* token.c: JWT encode/verify through libjwt, algorithm pinned.         */

/* Sign claims with the key record (SK_KEY shape): header alg, typ JWT,
 * kid.  *out is malloc'd.  0 or -1. */
int		 token_sign(const json_t *keyrec, const json_t *claims, char **out);
/* Sign with HS256 and the given raw secret (ID tokens for HS256 clients). */
int		 token_sign_hs256(const char *secret, size_t len,
		    const json_t *claims, char **out);

enum token_rc { TOKEN_OK, TOKEN_MALFORMED, TOKEN_BAD_ALG, TOKEN_BAD_SIG,
	TOKEN_NO_KEY, TOKEN_ERR };

/*
 * Verify a compact JWS against the public keys array (client "public_keys"
 * shape): the header alg must be RS256 or ES256 and equal the chosen key's
 * alg (kid chooses a key when present, else each key of that alg is tried);
 * never "none" or HMAC.  On TOKEN_OK *claims (owned) holds the payload.
 * Checks no claims: callers check iss/sub/aud/exp/jti.
 */
enum token_rc	 token_verify(const char *jws, const json_t *public_keys,
		    json_t **claims);
/* The unverified payload of a well-formed JWS, only to choose the keys
 * that verify it; NULL when malformed.  Owned by the caller. */
json_t		*token_peek(const char *jws);
/* Same, against one signing key record (SK_KEY shape, private or public). */
enum token_rc	 token_verify_key(const char *jws, const json_t *keyrec,
		    json_t **claims);

/* ------------------------------------------------------------------ */
/* auth0_export.c: Auth0 user exports for latchkeyctl import-auth0.     */

/* The users of an export file: NDJSON (one object a line) or a JSON
 * array.  A new array of objects, or NULL with err ("line N: ..."). */
json_t		*auth0_export_parse(const char *text, size_t len, char *err,
		    size_t errsz);
/* One Auth0 user as a latchkey user spec (SK_USER shape) in connection,
 * its password hash kept as it is.  0, or -1 with err saying why the
 * user cannot be imported (e.g. a hash algorithm latchkey cannot verify). */
int		 auth0_user_convert(const json_t *in, const char *connection,
		    json_t **out, char *err, size_t errsz);

/* ------------------------------------------------------------------ */
/* The per-process context and the request handlers.                   */

struct lk_ctx {
	struct store	*store;		/* NULL when the environment failed to open */
	const char	*home;
	int		 ready;		/* start-up checks passed */
	int		 was_ready;	/* passed once: a later failure is transient */
	int		 transient;	/* the last failure: a recovery race */
};

/* client.c: RFC 6749 2.3 client authentication. */
enum client_auth { CLIENT_AUTH_NONE, CLIENT_AUTH_SECRET_POST,
	CLIENT_AUTH_SECRET_BASIC, CLIENT_AUTH_PRIVATE_KEY_JWT, CLIENT_AUTH__MAX };

struct client {
	json_t		*rec;		/* SK_CLIENT record, owned */
	const char	*client_id;	/* points into rec */
	enum client_auth method;	/* how this request authenticated */
	char		*secret;	/* the presented secret (HS256 ID tokens), cleansed on clear */
	size_t		 secretsz;
};

void		 client_clear(struct client *);
/* Authenticate the request's client (body fields and Basic header).  On
 * failure returns -1 with the wire error written to resp. */
int		 client_authenticate(struct lk_ctx *, const json_t *tenant,
		    const struct lk_req *, const struct params *,
		    struct client *, struct lk_resp *);
/* 1 when the client record allows the grant type string. */
int		 client_grant_allowed(const json_t *clientrec, const char *grant);

/* scope.c: Auth0's password-grant scope rules. */
struct scope_result {
	struct buf	 granted;	/* space-separated granted scopes */
	int		 openid;	/* openid granted */
	int		 profile, email, phone, address, offline_access;
	int		 differs;	/* granted != requested: echo "scope" */
};
void		 scope_result_clear(struct scope_result *);
/* requested may be NULL; api NULL when no audience; allow_offline when
 * the caller can issue a refresh token. 0 or -1 (ENOMEM). */
int		 scope_resolve(const char *requested, const json_t *api,
		    int allow_offline, struct scope_result *);
/* The scope already granted (a refresh token's, an access token's),
 * narrowed to requested when that is not NULL: r->granted keeps granted's
 * order, the flags say which OIDC scopes remain.  0; 1 when requested
 * names a scope not in granted (RFC 6749 6); -1 (ENOMEM). */
int		 scope_narrow(const char *granted, const char *requested,
		    struct scope_result *);
/* A refresh's scope (RFC 6749 6): requested (NULL or blank: all) resolved
 * as scope_resolve() does at login against the token's api, intersected
 * with granted (in its order); only OIDC scopes and scopes api defines
 * survive.  0; 1 when requested names an OIDC scope or one api defines
 * that granted lacks; -1 (ENOMEM). */
int		 scope_refresh(const char *granted, const char *requested,
		    const json_t *api, struct scope_result *);

/*
 * Attack protection (issue 6; AUTH0-BEHAVIOUR.md 6, SPEC.md "Attack
 * protection"): guard.c counts and decides, guard_net.c resolves the
 * end-user IP, breached.c finds leaked passwords, audit.c keeps the
 * security event log.  Tenant settings and record shapes in guard.c.
 */
#define GUARD_IP_MAX		46	/* INET6_ADDRSTRLEN */

/* The credential-checking endpoints (their per-endpoint rate limits,
 * their audit "endpoint" and their password_leaked row). */
enum guard_ep { GUARD_EP_TOKEN, GUARD_EP_RO, GUARD_EP_PWL_START,
	GUARD_EP__MAX };

/* Security events; each is an Auth0 log type code (audit.c's table). */
enum guard_event {
	GUARD_EV_SUCCESS,		/* s: credentials accepted */
	GUARD_EV_WRONG_PASSWORD,	/* fp */
	GUARD_EV_UNKNOWN_USER,		/* fu */
	GUARD_EV_WRONG_CODE,		/* fepotpft: wrong passwordless code */
	GUARD_EV_USER_BLOCKED,		/* f: admin-blocked user */
	GUARD_EV_LEAKED,		/* pwd_leak */
	GUARD_EV_CODE_SENT,		/* cls: /passwordless/start */
	GUARD_EV_BRUTE_FORCE,		/* limit_wc: pair blocked / refused */
	GUARD_EV_SUSPICIOUS_IP,		/* limit_mu */
	GUARD_EV_RATE_LIMIT,		/* api_limit */
	GUARD_EV_CODE_DELIVERED,	/* cs: the delivery command succeeded */
	GUARD_EV_DELIVERY_FAILED,	/* fn: it failed; no code was sent */
	GUARD_EV__MAX
};

/* Who is trying: filled by guard_ip() once the client is known. */
struct guard_who {
	enum guard_ep	 ep;
	const char	*client_id;	/* NULL: none */
	char		 ip[GUARD_IP_MAX];	/* the end-user IP, canonical */
	char		 peer[GUARD_IP_MAX];	/* REMOTE_ADDR when auth0-forwarded-for replaced it, else "" */
};

/* A token bucket of cap tokens refilled per tokens every period seconds,
 * kept exactly in integer units (one token = period units, each second
 * adds per units). */
struct guard_rate {
	long		 cap;
	long		 per;
	long		 period;
};
struct guard_bucket {
	long long	 level;		/* units; a token is rate.period units */
	time_t		 t;		/* when level was last brought up to date */
};
/* Start a full bucket at now. */
void		 guard_bucket_init(struct guard_bucket *, const struct guard_rate *,
		    time_t now);
/* Refill up to now (a clock that went back adds nothing); whole tokens. */
long		 guard_bucket_fill(struct guard_bucket *, const struct guard_rate *,
		    time_t now);
/* Take one token after refilling: 0, or -1 when there is none. */
int		 guard_bucket_take(struct guard_bucket *, const struct guard_rate *,
		    time_t now);
/* When the next whole token will be there (now when there is one). */
time_t		 guard_bucket_next(const struct guard_bucket *,
		    const struct guard_rate *, time_t now);

/* guard_net.c: IP addresses.  The canonical text (inet_ntop) of one IPv4
 * or IPv6 address, blanks around it allowed, an IPv4-mapped IPv6
 * address written as IPv4.  0, or -1 when in is not exactly one address. */
int		 guard_ip_canon(const char *in, char *out, size_t outsz);
/* 1 when ip (canonical) is inside cidr ("addr" or "addr/bits"), 0 when
 * not, -1 when cidr is malformed. */
int		 guard_cidr_match(const char *cidr, const char *ip);
/* 1 when ip matches an entry of list (an array of CIDR strings). */
int		 guard_allowed(const json_t *list, const char *ip);
/*
 * The end-user IP of the request into w: REMOTE_ADDR, or the
 * auth0-forwarded-for header when client authenticated with its secret
 * and is marked is_token_endpoint_ip_header_trusted (a header from anyone
 * else is ignored and logged).  -1 with 400 invalid_request written when
 * a trusted client's header is not one valid IP.
 */
int		 guard_ip(const struct lk_req *, const struct client *,
		    enum guard_ep, struct guard_who *, struct lk_resp *);

/* breached.c: leaked passwords.  1 when the sorted SHA-1 list at path
 * (uppercase hex lines, optionally ":count", HIBP's format) holds sha1hex
 * (40 hex digits), 0 when not, -1 when the file cannot be read. */
int		 breached_find(const char *path, const char *sha1hex);
/* 1 when the password counts as leaked for the tenant: AUTH0-TEST-
 * prefix, or in its breached_password_file; 0 otherwise. */
int		 breached_password(const json_t *tenant, const char *pw,
		    size_t pwlen);

/* guard.c: the checks around every credential check. */
/* NULL when v is a valid value of the tenant setting name (brute_force,
 * suspicious_ip, rate_limit, breached_password_file), else why not;
 * members may be null (removal). */
const char	*guard_setting_problem(const char *name, const json_t *v);
/* The per-endpoint rate limit (a token per request from the (endpoint,
 * IP) bucket); -1 with 429 too_many_requests and X-RateLimit-* written. */
int		 guard_endpoint(struct lk_ctx *, const json_t *tenant,
		    const struct guard_who *, time_t now, struct lk_resp *);
/* /passwordless/start: a token from the recipient's bucket (codes per
 * recipient from all IPs, rate_limit.passwordless_per_recipient_per_hour);
 * -1 with 429 too_many_requests and X-RateLimit-* written. */
int		 guard_recipient(struct lk_ctx *, const json_t *tenant,
		    const struct guard_who *, const char *recipient, time_t now,
		    struct lk_resp *);
/* Before checking identifier's credentials: a brute-force block of
 * (identifier, IP) or account lockout, an empty suspicious-IP bucket, an
 * exhausted per-user-per-IP login rate.  -1 with the 429 written (and
 * audited), or 500 on a store error. */
int		 guard_before(struct lk_ctx *, const json_t *tenant,
		    const struct guard_who *, const char *identifier, time_t now,
		    struct lk_resp *);
/* After the check, in one transaction: count or reset, take from the
 * buckets, append the audit event.  Failures are logged, not returned. */
void		 guard_after(struct lk_ctx *, const json_t *tenant,
		    const struct guard_who *, const char *identifier,
		    const char *user_id, enum guard_event, time_t now);
/* The endpoint's password_leaked wire error; its path ("/oauth/token"). */
enum oerr	 guard_leaked_oerr(enum guard_ep);
const char	*guard_ep_name(enum guard_ep);

/* Which records guard_unblock deletes: brute-force records of identifier
 * (at ip, or at every IP when ip is NULL), of any identifier of user
 * (email, username, phone) or carrying its user_id; with only ip, that
 * IP's suspicious-IP bucket. */
struct guard_sel {
	const char	*identifier;
	const char	*ip;
	const json_t	*user;
};
/* guard_unblock, guard_list and guard_prune: without a txn, in batches
 * of their own transactions (store_sweep), each record judged in the
 * transaction that deletes it. */
enum store_rc	 guard_unblock(struct store *, DB_TXN *, const struct guard_sel *,
		    int *count);
/* Append every live record to out as an object (kind, identifier, ip,
 * count, blocked, tokens...). */
enum store_rc	 guard_list(struct store *, DB_TXN *, const json_t *tenant,
		    time_t now, json_t *out);
/* Delete records that no longer matter (expired blocks, full buckets). */
enum store_rc	 guard_prune(struct store *, DB_TXN *, const json_t *tenant,
		    time_t now, int *count);

/* audit.c: the security event log (SK_AUDIT). */
const char	*audit_code(enum guard_event);
/* A new record for the event; NULL on ENOMEM.  key (>= 48) gets its key. */
json_t		*audit_record(const struct guard_who *, const char *identifier,
		    const char *user_id, enum guard_event, time_t now, char *key,
		    size_t keysz);
/* The tenant's audit_retention_days (default 30) in seconds. */
time_t		 audit_retention(const json_t *tenant);
/* Now and then, delete records older than the tenant's retention. */
void		 audit_prune_maybe(struct store *, const json_t *tenant, time_t now);
/* Delete records older than before, at most max (0: all); without a
 * txn and max, in batches of their own transactions. */
enum store_rc	 audit_prune(struct store *, DB_TXN *, time_t before, long max,
		    int *count);
struct audit_sel {
	time_t		 since;		/* 0: all */
	const char	*type;		/* NULL: all */
	long		 limit;		/* the latest N, 0: all */
};
/* Without a txn, read in batches (store_scan), holding only the last
 * sel->limit records selected. */
enum store_rc	 audit_list(struct store *, DB_TXN *, const struct audit_sel *,
		    json_t *out);

/*
 * grant.c: the /oauth/token endpoint (decode, the grant_type table, client
 * authentication and grant permission), then the grant's own function;
 * and what every grant shares: audience resolution and token issuance.
 */
struct grant_req {
	struct lk_ctx		*ctx;
	const struct lk_req	*req;
	struct lk_resp		*resp;
	json_t			*tenant;	/* owned */
	json_t			*key;		/* owned: grant_key(), NULL unread */
	struct params		 p;
	struct client		 client;
	const char		*grant;		/* grant_type as the client sent it */
	const char		*gty;		/* "password", "password-realm", ... */
	int			 refreshing;	/* refresh grant: start no new family */
	char			 refresh[96];	/* refresh_token to return, "" none */
	struct guard_who	 who;		/* end-user IP (guard_ip) */
};

void		 token_endpoint(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);
/* The tenant's current signing key, read once a request (kept in the
 * grant_req); NULL when there is none. */
json_t		*grant_key(struct grant_req *);
/* The connection name, which must exist (else the notfound row, its %s
 * the name) and be enabled for the client (else the disabled row).  The
 * record (owned) or NULL with the error written. */
json_t		*grant_connection(struct grant_req *, const char *name,
		    enum oerr notfound, enum oerr disabled);
/* The API named by audience (or the tenant default); *api NULL for none.
 * -1 with the wire error written (unknown audience). */
int		 grant_audience(struct grant_req *, json_t **api);
/* A login grant's tokens: the requested scope under the login rules
 * (scope_resolve), then grant_issue.  Errors are written to the response. */
void		 grant_issue_login(struct grant_req *, const json_t *user,
		    const json_t *api);
/* Write the 200 token response (RFC 6749 5.1, no-store): idt, rt and
 * scope are left out when NULL.  0 or -1 (nothing written). */
int		 grant_respond(struct lk_resp *, const char *at,
		    long long expires_in, const char *idt, const char *rt,
		    const char *scope);
/* Sign and write the token response for user. -1 with the error written. */
int		 grant_issue(struct grant_req *, const json_t *user,
		    const json_t *api, const struct scope_result *);

/*
 * admit.c: admission control for password hashing (issue 7): at most
 * hash_slots verifies at once across all responders, at most hash_queue
 * more waiting, each at most hash_wait_ms; the rest get 503 at once.
 */
#define ADMIT_RETRY_AFTER	1	/* seconds, the 503's Retry-After */

struct admit_limits {
	int		 slots;		/* concurrent hashes (default: cores) */
	int		 queue;		/* waiting requests (default: slots) */
	int		 wait_ms;	/* longest wait (default 1.5 x hash time) */
};
struct admit {
	int		 slot;		/* locked byte, -1 none */
	double		 t0;		/* ms, when the slot was taken */
};
enum admit_rc { ADMIT_OK, ADMIT_BUSY };

/* The limits in force for tenant (its hash_slots, hash_queue and
 * hash_wait_ms, else the defaults). */
void		 admit_limits(const json_t *tenant, struct admit_limits *);
/* Take a hash slot, waiting as the limits allow: ADMIT_OK (then call
 * admit_hash_leave) or ADMIT_BUSY (nothing held). */
enum admit_rc	 admit_hash_enter(struct lk_ctx *, const json_t *tenant,
		    struct admit *);
void		 admit_hash_leave(struct admit *);
/* At exit: unmap the slots' hash memory, close the admission file; the
 * last process using the shared memory removes it. */
void		 admit_close(void);
/* Write the 503 temporarily_unavailable with Retry-After.  0 or -1. */
int		 admit_shed(struct lk_resp *);

/* grant_password.c: password and password-realm (AUTH0-BEHAVIOUR.md 3). */
void		 grant_password(struct grant_req *);
/* Its user check, shared with /oauth/ro: find the user of connection by
 * g->p's username, verify the password (dummy work when unknown), refuse
 * a blocked user.  NULL with `wrong` (or user is blocked) written. */
json_t		*grant_password_user(struct grant_req *, const char *connection,
		    enum oerr wrong);
/* The ID token claims each granted OIDC scope releases (OpenID Connect
 * Core 5.4), copied from user into claims. */
void		 grant_scope_claims(json_t *claims, const json_t *user,
		    const struct scope_result *);

/* opaque.c: /oauth/ro's opaque access tokens (valid only at /userinfo).
 * opaque_issue writes a new token (43 chars + NUL) to out. 0 or -1. */
int		 opaque_issue(struct lk_ctx *, const char *user_id,
		    const char *client_id, const char *scope, time_t now,
		    long lifetime, char *out, size_t outsz);
/* STORE_NOTFOUND for an unknown or expired token; *rec owned by caller. */
enum store_rc	 opaque_lookup(struct lk_ctx *, const char *token, time_t now,
		    json_t **rec);

/*
 * refresh.c: refresh tokens (issue 4).  A new token (random, >= 256 bits,
 * stored only as its hash) for user and client, carrying the granted
 * scope, audience (NULL: none) and device (NULL: none); family NULL starts
 * a new family.  out >= 96 bytes.  0 or -1.
 */
struct refresh_new {
	const char	*user_id;
	const char	*client_id;
	const char	*audience;
	const char	*scope;
	const char	*device;
	const char	*family;
};
int		 refresh_issue(struct lk_ctx *, const json_t *tenant,
		    const json_t *clientrec, const json_t *api,
		    const struct refresh_new *, time_t now, char *out, size_t outsz);

/*
 * A client's refresh-token settings: its "refresh_token" member, Auth0's
 * shape {"rotation_type": "rotating"|"non-rotating", "expiration_type":
 * "expiring"|"non-expiring", "token_lifetime", "idle_token_lifetime",
 * "infinite_token_lifetime", "infinite_idle_token_lifetime", "leeway"}.
 * Lifetimes 0 mean "never".
 */
struct refresh_conf {
	int		 rotating;
	long		 lifetime;	/* absolute, from the family's start */
	long		 idle;		/* since the token was issued or last used */
	long		 leeway;	/* seconds a spent token stays usable */
};
void		 refresh_conf(const json_t *clientrec, struct refresh_conf *);
/* 1 when a non-rotating refresh at now must write the token's new idle
 * expiry (it moves by at least 1 % of idle, at most 60 s, or idle < 100 s). */
int		 refresh_touch_due(json_int_t idle_expires_at, long idle, time_t now);
/* NULL when settings is a valid "refresh_token" object, else why not
 * (static text, valid until the next call). */
const char	*refresh_conf_problem(const json_t *settings);

enum refresh_rc {
	REFRESH_OK,
	REFRESH_INVALID,	/* unknown, expired, revoked, another client's */
	REFRESH_REUSED,		/* a spent token: its family is now revoked */
	REFRESH_USER_GONE,	/* the user was deleted: family revoked */
	REFRESH_USER_BLOCKED,
	REFRESH_SCOPE,		/* the scope asked for exceeds the grant */
	REFRESH_NO_API,		/* the token's API was removed; u->rec kept */
	REFRESH_ERR
};

/* One redemption (grant_type=refresh_token): inputs, then results. */
struct refresh_use {
	const char	*token;		/* as presented */
	const json_t	*clientrec;	/* the authenticated client */
	const char	*scope;		/* scope asked for (scope_refresh), NULL: all */
	time_t		 now;
	enum refresh_rc	 rc;
	json_t		*user;		/* REFRESH_OK: the user record, owned */
	json_t		*rec;		/* REFRESH_OK, _NO_API: the token's record, owned */
	json_t		*api;		/* REFRESH_OK: its audience's API, owned; NULL none */
	struct buf	 granted;	/* REFRESH_OK: the (narrowed) scope */
	char		 next[96];	/* REFRESH_OK, rotating: the new token */
};
void		 refresh_use_init(struct refresh_use *);
void		 refresh_use_clear(struct refresh_use *);	/* cleanses next */
/* Check the token, its user, its API and the scope asked for, then spend
 * (rotating) or touch (non-rotating) it, in one transaction: a refusal
 * spends nothing.  The outcome is in u->rc.  REFRESH_ERR on a store error
 * (nothing written). */
enum refresh_rc	 refresh_redeem(struct store *, struct refresh_use *);

/*
 * Which families refresh_revoke and refresh_list select: every member
 * that is not NULL must match.  Without a txn both run in batches
 * (store_sweep), and a selection by user reads only that user's
 * families through SK_REFIDX once the index is complete (built by
 * refresh_index_ensure the first time one is asked for); with a txn
 * they run inside it, walking every family.
 */
struct refresh_sel {
	const char	*user_id;
	const char	*client_id;
	const char	*device;
	const char	*family;
};
/* Revoke the selected active families; *count says how many. */
enum store_rc	 refresh_revoke(struct store *, DB_TXN *,
		    const struct refresh_sel *, time_t now, int *count);
/* RFC 7009: revoke the family of token if client_id holds it; *found
 * says whether it was one of client_id's refresh tokens. */
enum store_rc	 refresh_revoke_token(struct store *, DB_TXN *,
		    const char *token, const char *client_id, time_t now,
		    int *found);
/* Append a summary object of each selected family to out (an array). */
enum store_rc	 refresh_list(struct store *, DB_TXN *,
		    const struct refresh_sel *, time_t now, json_t *out);
/* Delete dead families (revoked or expired) and all their tokens.
 * txn must be NULL: the families, then the tokens whose family is gone,
 * are deleted in batches; an interrupted prune is finished by the next. */
enum store_rc	 refresh_prune(struct store *, DB_TXN *, time_t now,
		    int *count);
/* Build the per-user index of families (SK_REFIDX) for a store made by
 * a release without it, in batches (idempotent, resumable), then mark it
 * complete in SK_META "refresh_index".  At once when already complete. */
enum store_rc	 refresh_index_ensure(struct store *, time_t now);
/* 1 when the index is complete (SK_META says so). */
int		 refresh_index_ready(struct store *, DB_TXN *);
/* In a new tenant's transaction: mark the index complete when there is
 * no family to walk. */
enum store_rc	 refresh_index_new(struct store *, DB_TXN *, time_t now);

/* grant_refresh.c: grant_type=refresh_token (AUTH0-BEHAVIOUR.md 5). */
void		 grant_refresh(struct grant_req *);

/* revoke.c: POST /oauth/revoke (RFC 7009). */
void		 revoke_endpoint(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);

/* userinfo.c: GET/POST /userinfo (OpenID Connect Core 5.3, RFC 6750). */
void		 userinfo_endpoint(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);

/*
 * keyrot.c: signing key rotation.  A "next" key is published in the JWKS
 * but does not sign; rotation makes it "current" and the old current
 * "previous" (retired_at set), still published until every token it
 * signed has expired.  All run inside the caller's transaction.
 */
#define KEY_PUBLISH_MIN		300	/* JWKS max-age: next must be this old */
/* STORE_EXISTS when a next key exists already. */
enum store_rc	 keyrot_add_next(struct store *, DB_TXN *, enum key_alg,
		    time_t now, json_t **rec);
/* STORE_NOTFOUND without a next key (force: one is made), STORE_EXISTS
 * when the next key was published less than KEY_PUBLISH_MIN ago (force:
 * rotate anyway).  *current is the new signing key's record. */
enum store_rc	 keyrot_rotate(struct store *, DB_TXN *, enum key_alg,
		    time_t now, int force, json_t **current);
/* The longest lifetime of any token latchkey signs, in seconds. */
enum store_rc	 keyrot_max_lifetime(struct store *, DB_TXN *, long *);
/* Remove previous keys retired longer ago than the longest token
 * lifetime; their kids are appended to removed (an array). */
enum store_rc	 keyrot_prune(struct store *, DB_TXN *, time_t now,
		    json_t *removed);

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

/* ro.c: the legacy POST /oauth/ro (AUTH0-BEHAVIOUR.md 1). */
void		 ro_endpoint(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);

/* grant_otp.c: http://auth0.com/oauth/grant-type/passwordless/otp. */
void		 grant_otp(struct grant_req *);

/* jwks.c, route.c */
void		 wellknown_jwks(struct lk_ctx *, const struct lk_req *, struct lk_resp *);
void		 wellknown_openid(struct lk_ctx *, const struct lk_req *, struct lk_resp *);

/* route.c: the endpoint table; handles one request, always fills resp. */
void		 route_handle(struct lk_ctx *, const struct lk_req *, struct lk_resp *);
/* The store's trouble counters before a request (route_mark); after it,
 * route_transient turns a 5xx into 503 temporarily_unavailable with
 * Retry-After when the store had a transient failure meanwhile (panic,
 * retries run out, STORE_BUSY), logging the resource.  1 when it did. */
struct route_mark {
	unsigned	 troubles;
	unsigned	 busy;
};
void		 route_mark(struct route_mark *);
int		 route_transient(const struct route_mark *, struct lk_resp *);

/* ctx.c: open the environment from LATCHKEY_HOME and run the start-up
 * checks (tenant present, a current key that signs and verifies).  On
 * failure logs every problem and leaves ctx->ready 0; requests then get
 * 500 server_error, or 503 with Retry-After when the store worked before
 * (it is being recovered after a responder died). */
void		 ctx_init(struct lk_ctx *, const char *home);
/* ctx_init at process start: a transient failure (another process is
 * recovering the environment) is retried for up to a second. */
void		 ctx_start(struct lk_ctx *, const char *home);
void		 ctx_clear(struct lk_ctx *);
/* Before each request: reopen a panicked store, retry a failed start. */
void		 ctx_refresh(struct lk_ctx *);
/* The tenant record (owned by caller) and the current signing key. */
json_t		*ctx_tenant(struct lk_ctx *);
json_t		*ctx_signing_key(struct lk_ctx *);

/* prefork.c: LATCHKEY_CHILDREN workers under a supervisor that
 * replaces a dead one at once. */
#define PREFORK_MAX	256
#define LK_CHILDREN_ENV	"LATCHKEY_CHILDREN"
/* The worker count from the variable's value: 0 (no supervisor) when
 * absent, empty or not in 0..PREFORK_MAX (warned). */
int		 prefork_children(const char *);
/*
 * Supervise n workers.  Returns in each worker with *is_worker set (0:
 * go on and serve), and in the supervisor when it has stopped (0 after
 * a quit signal, 1 when no worker could be started).
 */
int		 prefork_run(int n, int *is_worker);

/* stall.c: while a request is served, the databases are opened or a
 * responder starts or stops, exit if the environment was recovered under
 * this process (a peer died holding a Berkeley DB mutex this one may be
 * asleep on).  stall_watch after each open; arm and disarm nest. */
void		 stall_watch(const char *home);
void		 stall_arm(void);
void		 stall_disarm(void);
/* In a forked child: drop the parent's watch state without closing. */
void		 stall_forget(void);
/* The exit status of a process stopped by it, and of latchkeyctl giving
 * up on a recovery (sysexits.h EX_TEMPFAIL). */
#define LK_EXIT_TEMPFAIL	75

/*
 * ctlrun.c: latchkeyctl's work in a child, watched by stall.c and run
 * again when a peer's death stops it before it committed.  ctlrun()
 * returns the command's exit status (LK_EXIT_TEMPFAIL when it gave up,
 * with a message); repeatable says a command whose commit is in doubt
 * may run again.  The work returns its exit status, or CTLRUN_AGAIN to
 * be run again.  In the child: ctlrun_open, ctlrun_txn (the command's
 * atomic step), ctlrun_done once every write is durable, ctlrun_close;
 * ctlrun_transient says whether a failure came from a recovery (since
 * store_troubles() was troubles): the work then returns CTLRUN_AGAIN.
 */
#define CTLRUN_AGAIN		(-1)
int		 ctlrun(int (*work)(void *), void *arg, int repeatable);
struct store	*ctlrun_open(const char *home, int flags);
enum store_rc	 ctlrun_txn(struct store *,
		    enum store_rc (*)(struct store *, DB_TXN *, void *), void *);
void		 ctlrun_done(void);
int		 ctlrun_transient(const struct store *, unsigned troubles);
void		 ctlrun_close(struct store *);
/* For tests: shorter bounds (ms) on a try asleep in a futex, on a try's
 * open, and on the tries in all. */
void		 ctlrun_test_bounds(double asleep, double open, double total);

#endif /* !LATCHKEY_EXTERN_H */
