/*
 * latchkey: the HTTP edge: request and response, wire errors, the body decoder, the endpoint table.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_HTTP_H
#define LATCHKEY_HTTP_H

/* ------------------------------------------------------------------ */
/* http: the request as the responder saw it, and the response built.  */

enum http_method { HTTP_GET, HTTP_POST, HTTP_HEAD, HTTP_OPTIONS, HTTP_DELETE,
	HTTP_OTHER, HTTP__MAX };

/*
 * One request.  Every string is NUL-terminated, bounded and owned by the
 * caller (cgi-bin or a test); NULL when the header was absent.
 */
struct lk_req {
	enum http_method method;
	const char	*method_str;	/* as sent, for logs and 405 */
	const char	*path;		/* URI path without query, e.g. "/auth/oauth/token" */
	const char	*path_id;	/* the {id} of a path ending in one
					 * (route.c), validated; else NULL */
	const char	*content_type;	/* CONTENT_TYPE */
	const char	*authorization;	/* HTTP_AUTHORIZATION */
	const char	*remote_addr;	/* REMOTE_ADDR */
	const char	*forwarded_for;	/* HTTP_AUTH0_FORWARDED_FOR */
	const char	*dpop;		/* HTTP_DPOP */
	const char	*origin;	/* HTTP_ORIGIN (cors.c) */
	const char	*acr_method;	/* HTTP_ACCESS_CONTROL_REQUEST_METHOD */
	const char	*body;		/* raw body (may contain NUL bytes) */
	size_t		 bodysz;
	int		 body_too_large; /* CONTENT_LENGTH > LK_BODY_MAX: body not read */
	time_t		 now;		/* request clock (tests fix it) */
	int		 peer_fd;	/* FastCGI: the web server's connection
					 * (never 0, the listening socket);
					 * 0 unknown (CGI, tests) */
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
	/* The client_id the request named, as sent (empty: none, or too
	 * long to be one): its allowed origins decide CORS (cors.c). */
	char		 cors_client[129];
};

void	 resp_init(struct lk_resp *);
void	 resp_clear(struct lk_resp *);
int	 resp_header(struct lk_resp *, const char *name, const char *fmt, ...)
	    __attribute__((format(__printf__, 3, 4)));
/* Serialise json (not stolen) as the body with the given status;
 * token responses also get Cache-Control: no-store and Pragma: no-cache. */
int	 resp_json(struct lk_resp *, int status, const json_t *);
void	 resp_nostore(struct lk_resp *);
/* The client the request names: for the log line and for CORS. */
void	 resp_client(struct lk_resp *, const char *client_id);

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
	/* Legacy /oauth/ro (docs/COMPAT.md 1.6, lowercase texts). */
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
	/* Attack protection (guard.c, docs/COMPAT.md 6). */
	OERR_PASSWORD_LEAKED,		/* 401 password_leaked (/oauth/token) */
	OERR_RO_PASSWORD_LEAKED,	/* 401 password_leaked (/oauth/ro text) */
	OERR_BRUTE_FORCE,		/* 429 too_many_attempts: pair blocked */
	OERR_SUSPICIOUS_IP,		/* 429 too_many_attempts: IP throttled */
	OERR_RATE_LIMIT,		/* 429 too_many_requests + X-RateLimit-* */
	OERR_BAD_FORWARDED_FOR,		/* 400 invalid_request: auth0-forwarded-for */
	/* DPoP (RFC 9449) and the resource parameter (docs/COMPAT.md 10). */
	OERR_DPOP_PROOF,		/* 400 invalid_dpop_proof (%s: the check) */
	OERR_DPOP_NONCE,		/* 400 use_dpop_nonce (%s) */
	OERR_REFRESH_DPOP_KEY,		/* 400 invalid_grant: another key's token */
	OERR_USERINFO_DPOP_PROOF,	/* 401 invalid_dpop_proof (%s) */
	OERR_INVALID_TARGET,		/* 400 invalid_target (%s) */
	/* Azure AD and ADFS connections (docs/COMPAT.md 12). */
	OERR_UPSTREAM_UNAVAILABLE,	/* 503 temporarily_unavailable + Retry-After */
	OERR_UPSTREAM_UNVERIFIED,	/* 503 temporarily_unavailable + Retry-After */
	OERR_UPSTREAM_MFA,		/* 403 access_denied: MFA required upstream */
	/* Multi-factor authentication (lib/mfa, docs/COMPAT.md 13). */
	OERR_MFA_REQUIRED,		/* 403 mfa_required (+ mfa_token) */
	OERR_MFA_TOKEN_MALFORMED,	/* 403 invalid_grant */
	OERR_MFA_TOKEN_EXPIRED,		/* 403 expired_token */
	OERR_MFA_INVALID_OTP,		/* 403 invalid_grant "Invalid otp_code." */
	OERR_MFA_INVALID_RECOVERY,	/* 403 invalid_grant */
	OERR_MFA_NOT_ENROLLED,		/* 401 unsupported_challenge_type */
	OERR_MFA_NO_RECOVERY,		/* 403 unsupported_challenge_type */
	OERR_MFA_ALREADY_ENROLLED,	/* 403 access_denied */
	OERR_MFA_TOO_MANY,		/* 429 too_many_attempts */
	OERR_MFA_NO_TOKEN,		/* 401 unauthorized: no Bearer mfa_token */
	OERR_MFA_TYPES,			/* 400 invalid_request (%s: JSON type) */
	OERR_MFA_UNSUPPORTED_TYPE,	/* 400 unsupported_challenge_type (%s) */
	OERR_MFA_OOB_MALFORMED,		/* 403 invalid_grant "Malformed oob_code" */
	OERR_MFA_PENDING,		/* 400 authorization_pending */
	OERR_MFA_INVALID_BINDING,	/* 403 invalid_grant */
	OERR_MFA_CHANNELS,		/* 400 invalid_request (%s: JSON type) */
	OERR_MFA_UNSUPPORTED_CHANNEL,	/* 400 unsupported_challenge_type (%s) */
	OERR_MFA_SEND_LIMIT,		/* 429 too_many_requests */
	OERR_MFA_NO_CHANNEL,		/* 400 invalid_request (%s: channel) */
	OERR_MFA_BAD_AUTHENTICATOR,	/* 400 invalid_request (%s: why) */
	OERR_MFA_ACCESS_TOKEN,		/* 401 invalid_token (%s: why) */
	OERR_MFA_SCOPE,			/* 403 insufficient_scope (%s: scope) */
	OERR_MFA_AUTH_NOT_FOUND,	/* 404 not_found: no such authenticator */
	OERR_MFA_OOB_BY_ACCESS,		/* 403 access_denied: oob needs an mfa_token */
	OERR_MFA_AUTH_FULL,		/* 403 access_denied: MFA_AUTH_MAX reached */
	OERR_RO_MFA_REQUIRED,		/* 401 a0.mfa_required (legacy) */
	OERR_RO_MFA_REGISTRATION,	/* 401 a0.mfa_registration_required */
	OERR_CORS_ORIGIN,		/* 403 access_denied: preflight from an origin no client allows */
	/* AD/LDAP connections (docs/COMPAT.md 14). */
	OERR_PASSWORD_CHANGE,		/* 401 password_change_required */
	OERR__MAX
};

/* Fill resp with the error's status and {"error","error_description"};
 * arg fills a "%s" in the description (NULL -> ""). Returns 0, -1 on ENOMEM. */
int	 oerr_write(struct lk_resp *, enum oerr, const char *arg);
/* oerr_write with one more string member name: value in the body (the
 * mfa_required error's mfa_token, docs/COMPAT.md 13.2). 0 or -1. */
int	 oerr_write_with(struct lk_resp *, enum oerr, const char *name,
	    const char *value);
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
	F_RESOURCE,		/* RFC 8707 2 (docs/COMPAT.md 10.6) */
	F_MFA_TOKEN,
	F_RECOVERY_CODE,
	F_AUTHENTICATOR_TYPES,	/* a JSON array, kept as its compact text */
	F_OOB_CHANNELS,		/* a JSON array, kept as its compact text */
	F_OOB_CODE,
	F_BINDING_CODE,
	F_CHALLENGE_TYPE,
	F_AUTHENTICATOR_ID,
	F__MAX
};

/* The decoded, validated values: v[f] is NULL when absent. */
struct params {
	const char	*v[F__MAX];	/* NUL-free, NUL-terminated, <= field max */
	size_t		 len[F__MAX];
	struct buf	 store;		/* owns the decoded bytes */
	char		*owned[F__MAX];	/* per-field allocations */
};

#define FIELD_BIT(f)	((uint64_t)1 << (f))
_Static_assert(F__MAX <= 64, "a field mask is 64 bits");

void	 params_init(struct params *);
void	 params_clear(struct params *);	/* cleanses secrets, frees */
const char *field_name(enum field);

/*
 * Decode req->body by its content type into p, accepting only the fields
 * in the mask (others are ignored, docs/COMPAT.md 7.2).  On error returns -1
 * and fills resp with the wire error (bad content type, malformed body,
 * duplicate, wrong type, too long, NUL byte); p is left cleared.
 */
int	 decode_body(const struct lk_req *, uint64_t mask, struct params *,
	    struct lk_resp *);
/* Decode application/x-www-form-urlencoded text: %XX and '+'. Returns the
 * decoded length or -1 on invalid percent-encoding or an embedded NUL. */
long	 decode_pct(const char *src, size_t srcsz, char *dst, int plus_is_space);

/* jwks.c, route.c */
void		 wellknown_jwks(struct lk_ctx *, const struct lk_req *, struct lk_resp *);
void		 wellknown_openid(struct lk_ctx *, const struct lk_req *, struct lk_resp *);

/* ------------------------------------------------------------------ */
/* cors.c: cross-origin requests (docs/COMPAT.md 11).                  */

#define CORS_ORIGIN_LEN	256	/* an allowed origin's length */

/* Who may read an endpoint's answers from another origin. */
enum cors_policy {
	CORS_CLIENT,	/* the origins the request's client allows */
	CORS_PUBLIC	/* any origin ("*"): the discovery documents */
};

/* NULL when s is a good allowed origin (scheme://host[:port], a
 * wildcard in the leftmost label), else why not. */
const char	*cors_origin_problem(const char *s);
/* 1 when origin (a request's Origin) matches the allowed origin pattern. */
int		 cors_origin_match(const char *pattern, const char *origin);
/* 1 when a JSON array of allowed origins holds one origin matches. */
int		 cors_list_allows(const json_t *list, const char *origin);
/* 1 when req is a preflight: OPTIONS with Origin and
 * Access-Control-Request-Method. */
int		 cors_is_preflight(const struct lk_req *);
/* Answer a preflight for an endpoint allowing methods ("GET, POST"):
 * 204 with the CORS headers, or 403 access_denied without them. */
void		 cors_preflight(struct lk_ctx *, const struct lk_req *,
		    enum cors_policy, const char *methods, struct lk_resp *);
/* Add the CORS headers to an endpoint's answer (an error's too). */
void		 cors_actual(struct lk_ctx *, const struct lk_req *,
		    enum cors_policy, struct lk_resp *);

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

#endif /* !LATCHKEY_HTTP_H */
