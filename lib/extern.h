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

/* ------------------------------------------------------------------ */
/* log.c: one logging function; never pass secrets to it.              */

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

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
 *	"public_keys": [{"kid": "...", "alg": "RS256"|"ES256", "pem": "-----BEGIN PUBLIC KEY-----..."}]
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
 *	"app_metadata", "user_metadata": objects (optional)
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
 * SK_GUARD, SK_AUDIT: attack-protection counters and the security event
 *	log (shapes in guard.c).
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
	SK__MAX
};

enum store_rc {
	STORE_OK = 0,
	STORE_NOTFOUND,		/* no such key */
	STORE_EXISTS,		/* put with STORE_NOOVERWRITE; unique index clash */
	STORE_DEADLOCK,		/* DB_LOCK_DEADLOCK / NOTGRANTED: caller retries */
	STORE_ERR		/* anything else; logged */
};

#define STORE_CREATE		0x01	/* store_open: create the environment */
#define STORE_NOOVERWRITE	0x01	/* store_put: fail with STORE_EXISTS */

struct store;

/*
 * Open (and with STORE_CREATE create, mode 0700 directory, 0600 files) the
 * environment at home with DB_INIT_TXN|LOCK|LOG|MPOOL, DB_REGISTER|DB_RECOVER
 * (recovery runs only when a process died), a deadlock detector, and all
 * databases.  Returns NULL and logs on error.
 */
struct store	*store_open(const char *home, int flags);
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
 * Run fn inside one transaction, committing if it returns STORE_OK and
 * aborting otherwise; a STORE_DEADLOCK from fn or from the commit is
 * retried (bounded, with backoff).  Returns fn's result or STORE_ERR.
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
/* Same, against one signing key record (SK_KEY shape, private or public). */
enum token_rc	 token_verify_key(const char *jws, const json_t *keyrec,
		    json_t **claims);

/* ------------------------------------------------------------------ */
/* The per-process context and the request handlers.                   */

struct lk_ctx {
	struct store	*store;		/* NULL when the environment failed to open */
	const char	*home;
	int		 ready;		/* start-up checks passed */
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
	struct params		 p;
	struct client		 client;
	const char		*grant;		/* grant_type as the client sent it */
	const char		*gty;		/* "password", "password-realm", ... */
};

void		 token_endpoint(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);
/* The API named by audience (or the tenant default); *api NULL for none.
 * -1 with the wire error written (unknown audience). */
int		 grant_audience(struct grant_req *, json_t **api);
/* Sign and write the token response for user. -1 with the error written. */
int		 grant_issue(struct grant_req *, const json_t *user,
		    const json_t *api, const struct scope_result *);

/* grant_password.c: password and password-realm (AUTH0-BEHAVIOUR.md 3). */
void		 grant_password(struct grant_req *);

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

/* jwks.c, route.c */
void		 wellknown_jwks(struct lk_ctx *, const struct lk_req *, struct lk_resp *);
void		 wellknown_openid(struct lk_ctx *, const struct lk_req *, struct lk_resp *);

/* route.c: the endpoint table; handles one request, always fills resp. */
void		 route_handle(struct lk_ctx *, const struct lk_req *, struct lk_resp *);

/* ctx.c: open the environment from LATCHKEY_HOME and run the start-up
 * checks (tenant present, a current key that signs and verifies).  On
 * failure logs every problem and leaves ctx->ready 0; requests then get
 * 500 server_error. */
void		 ctx_init(struct lk_ctx *, const char *home);
void		 ctx_clear(struct lk_ctx *);
/* The tenant record (owned by caller) and the current signing key. */
json_t		*ctx_tenant(struct lk_ctx *);
json_t		*ctx_signing_key(struct lk_ctx *);

#endif /* !LATCHKEY_EXTERN_H */
