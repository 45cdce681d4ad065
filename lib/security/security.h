/*
 * latchkey: client authentication, scopes, attack protection, audit, admission.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_SECURITY_H
#define LATCHKEY_SECURITY_H

/*
 * ident.c: the one check and normalisation of email addresses and phone
 * numbers (docs/COMPAT.md 2), for the admin command and the endpoints.
 */
#define IDENT_MAX	320
/* E.164 as Auth0 checks it, ^\+[0-9]{1,15}$, copied.  0 or -1. */
int		 ident_phone(const char *in, char *out, size_t outsz);
/* local@dotted.domain, no spaces, ASCII-lowercased.  0 or -1. */
int		 ident_email(const char *in, char *out, size_t outsz);
/* 1 when ident_email, ident_phone accept in (latchkeyctl's check). */
int		 ident_email_ok(const char *in);
int		 ident_phone_ok(const char *in);

/* client.c: RFC 6749 2.3 client authentication (enum client_auth and its
 * vocabulary are in types.h). */
struct client {
	struct client_rec rec;		/* SK_CLIENT record (record_get), owned */
	const char	*client_id;	/* rec.client_id */
	enum client_auth method;	/* how this request authenticated */
	char		*secret;	/* the presented secret (HS256 ID tokens), cleansed on clear */
	size_t		 secretsz;
	int		 basic;		/* a Basic header was presented */
};

/* What client authentication found; each failure has one wire error
 * (client_error_write). */
enum client_rc {
	CLIENT_OK,
	CLIENT_REFUSED,		/* 401 access_denied "Unauthorized": unknown
				 * client, wrong secret or method, bad
				 * assertion, malformed Basic header */
	CLIENT_MULTIPLE,	/* 400: more than one method at once */
	CLIENT_NO_ID,		/* 400: no client_id */
	CLIENT_ASSERTION_TYPE,	/* 400: client_assertion_type not jwt-bearer */
	CLIENT_FAILED,		/* 500: the store or memory failed */
	CLIENT__MAX
};

/* Release the record and cleanse the secret; zeroes c. */
void		 client_clear(struct client *);
/* Authenticate the request's client (body fields and Basic header),
 * writing nothing but resp->client_id (the log's).  On failure c is
 * cleared but for c->basic. */
enum client_rc	 client_identify(struct lk_ctx *, const struct tenant *tenant,
		    const struct lk_req *, const struct params *,
		    struct client *, struct lk_resp *);
/* Write rc's wire error, with WWW-Authenticate: Basic on a refusal when
 * c->basic; nothing for CLIENT_OK. */
void		 client_error_write(struct lk_resp *, enum client_rc,
		    const struct client *c);
/* client_identify, then client_error_write on failure: 0, or -1 with
 * the wire error written to resp. */
int		 client_authenticate(struct lk_ctx *, const struct tenant *tenant,
		    const struct lk_req *, const struct params *,
		    struct client *, struct lk_resp *);
/* 1 when the client record (NULL: none) holds grant type gt, an enum
 * grant_type (grants.h, which comes after this header); 0 otherwise,
 * GT__MAX included. */
int		 client_grant_allowed(const struct client_rec *, int gt);

/*
 * scope.c: the OIDC scopes and the claims each releases (OpenID Connect
 * Core 5.4), and Auth0's scope rules for the login grants (docs/COMPAT.md
 * 3.4).  The order is the one latchkey lists them in (discovery).
 */
enum oidc_scope { OIDC_OPENID, OIDC_PROFILE, OIDC_EMAIL, OIDC_ADDRESS,
	OIDC_PHONE, OIDC_OFFLINE, OIDC__MAX };
/* The scope names, by enum oidc_scope. */
extern const struct vocab oidc_scope_vocab;
/* The OIDC scope named by the n bytes at s, or OIDC__MAX. */
enum oidc_scope	 scope_oidc_find(const char *s, size_t n);
/* Discovery's claims_supported: the token's own claims and the standard
 * claims latchkey issues, NULL-terminated. */
const char *const *scope_claims_supported(void);

struct scope_result {
	struct buf	 granted;	/* space-separated granted scopes */
	int		 openid;	/* openid granted */
	int		 profile, email, phone, address, offline_access;
	int		 differs;	/* granted != requested: echo "scope" */
};
void		 scope_result_clear(struct scope_result *);
/* Mark OIDC scope o (OIDC__MAX: none) granted in r. */
void		 scope_result_set(struct scope_result *, enum oidc_scope o);
/* Copy into claims the user's standard claims that r's OIDC scopes
 * release (OpenID Connect Core 5.4), those the user has. */
void		 scope_claims(json_t *claims, const struct user *,
		    const struct scope_result *);
/* requested may be NULL; api NULL when no audience; allow_offline when
 * the caller can issue a refresh token. 0 or -1 (ENOMEM). */
int		 scope_resolve(const char *requested, const struct api *api,
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
		    const struct api *api, struct scope_result *);

/*
 * guard_bucket.c: token buckets, kept exactly in integer units, and the
 * SK_GUARD records (a brute-force count or a bucket each), keyed
 * "<kind prefix>\x1f<a>[\x1f<b>]".
 */
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
/* When the bucket is full again (now when it is). */
time_t		 guard_bucket_full_at(const struct guard_bucket *,
		    const struct guard_rate *, time_t now);

/* The record kinds of SK_GUARD, by key prefix. */
enum guard_kind { GUARD_K_BF, GUARD_K_IP, GUARD_K_RL, GUARD_K_EP, GUARD_K_PR,
	GUARD_K__MAX };
#define GUARD_ID_MAX	512		/* identifier bytes in a key */
#define GUARD_KEY_MAX	(4 + GUARD_ID_MAX + 1 + GUARD_IP_MAX + 32)

/* A stored SK_GUARD record.  Strings point into the JSON (NULL when
 * absent), integers are 0 when absent. */
struct guard_rec {
	const char	*identifier;	/* folded (guard_id_fold) */
	const char	*ip;		/* "*": every IP (account lockout) */
	const char	*endpoint;	/* endpoint buckets: the path */
	const char	*user_id;	/* brute-force counts, when known */
	long long	 count;		/* brute-force: consecutive failures */
	long long	 last_failure;
	long long	 blocked_at;
	long long	 level;		/* buckets: units (struct guard_bucket) */
	long long	 t;
};
/* Read rec (NULL: none, all absent) into out. */
void		 guard_rec_parse(const json_t *rec, struct guard_rec *out);
/* The bucket of rec (NULL: a new, full one), refilled to now. */
void		 guard_bucket_of(const struct guard_rec *, const struct guard_rate *,
		    time_t now, struct guard_bucket *);
/* 1 when the brute-force count blocks (docs/COMPAT.md 6: from the
 * failure that reaches the threshold until block_seconds after the last
 * failure; raising the threshold lifts it). */
int		 guard_bf_blocked(const struct guard_rec *,
		    const struct guard_conf *, time_t now);
/* The identifier as counted: ASCII-lowercased (emails and usernames
 * match case-insensitively), at most GUARD_ID_MAX bytes, without the key
 * separator.  in NULL: "". */
void		 guard_id_fold(const char *in, char *out, size_t outsz);
/* The key of a record of kind k (b NULL: none) into key, of
 * GUARD_KEY_MAX bytes. */
void		 guard_key(char *key, enum guard_kind k, const char *a,
		    const char *b);
/* The kind of a key, or GUARD_K__MAX. */
enum guard_kind	 guard_kind_of(const char *key);
/* The kind's name in guard_list ("brute_force", ...). */
const char	*guard_kind_name(enum guard_kind);

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
int		 breached_password(const struct tenant *tenant, const char *pw,
		    size_t pwlen);

/*
 * guard_conf.c: the tenant's attack-protection settings: one table of
 * their members, which both checks admin input and parses the stored
 * objects.
 */
/* NULL when v is a valid value of the tenant setting name (brute_force,
 * suspicious_ip, rate_limit, breached_password_file), else why not;
 * members may be null (removal). */
const char	*guard_setting_problem(const char *name, const json_t *v);
/* The settings in force for tenant's brute_force, suspicious_ip and
 * rate_limit objects: a member absent or of the wrong type has its
 * default, an integer out of range is clamped to the range (logged),
 * as record_parse does. */
void		 guard_conf_parse(const struct tenant *tenant,
		    struct guard_conf *out);
/* The endpoint's password_leaked wire error; its path ("/oauth/token"). */
enum oerr	 guard_leaked_oerr(enum guard_ep);
const char	*guard_ep_name(enum guard_ep);
/* The endpoint whose path is name, or GUARD_EP__MAX. */
enum guard_ep	 guard_ep_find(const char *name);

/* guard.c: the checks around every credential check, under the tenant's
 * parsed settings (tenant->guard). */
/* The per-endpoint rate limit (a token per request from the (endpoint,
 * IP) bucket); -1 with 429 too_many_requests and X-RateLimit-* written. */
int		 guard_endpoint(struct lk_ctx *, const struct tenant *tenant,
		    const struct guard_who *, time_t now, struct lk_resp *);
/* /passwordless/start: a token from the recipient's bucket (codes per
 * recipient from all IPs, rate_limit.passwordless_per_recipient_per_hour);
 * -1 with 429 too_many_requests and X-RateLimit-* written. */
int		 guard_recipient(struct lk_ctx *, const struct tenant *tenant,
		    const struct guard_who *, const char *recipient, time_t now,
		    struct lk_resp *);
/* Before checking identifier's credentials: a brute-force block of
 * (identifier, IP) or account lockout, an empty suspicious-IP bucket, an
 * exhausted per-user-per-IP login rate.  -1 with the 429 written (and
 * audited), or 500 on a store error.  Notes in the who whether the pair
 * had a failure count, for guard_after. */
int		 guard_before(struct lk_ctx *, const struct tenant *tenant,
		    struct guard_who *, const char *identifier, time_t now,
		    struct lk_resp *);
/* After the check, in one transaction: count or reset, take from the
 * buckets, append the audit event.  0, or -1 (logged) when the attempt
 * could not be recorded: a failure must then not be answered as one
 * (its count would be lost: the caller answers 5xx, which route.c turns
 * into 503 with Retry-After). */
int		 guard_after(struct lk_ctx *, const struct tenant *tenant,
		    struct guard_who *, const char *identifier,
		    const char *user_id, enum guard_event, time_t now);

/* audit.c: the security event log (SK_AUDIT). */
const char	*audit_code(enum guard_event);
/* A new record for the event; NULL on ENOMEM.  key (>= 48) gets its key. */
json_t		*audit_record(const struct guard_who *, const char *identifier,
		    const char *user_id, enum guard_event, time_t now, char *key,
		    size_t keysz);
/* The tenant's audit_retention_days (default 30) in seconds. */
time_t		 audit_retention(const struct tenant *tenant);
/* Now and then, delete records older than the tenant's retention. */
void		 audit_prune_maybe(struct store *, const struct tenant *tenant, time_t now);
/* Delete records older than before, at most max (0: all); without a
 * txn and max, in batches of their own transactions. */
enum store_rc	 audit_prune(struct store *, struct txn *, time_t before,
		    long max, int *count);
struct audit_sel {
	time_t		 since;		/* 0: all */
	const char	*type;		/* NULL: all */
	long		 limit;		/* the latest N, 0: all */
};
/* Without a txn, read in batches (store_scan), holding only the last
 * sel->limit records selected. */
enum store_rc	 audit_list(struct store *, struct txn *,
		    const struct audit_sel *, json_t *out);

/*
 * admit.c: admission control for password hashing (docs/COMPAT.md 9.7): at most
 * hash_slots verifies at once across all responders; a login waits in
 * line for one while its predicted wait is within login_queue_budget_ms,
 * served in arrival order; the rest get 503 at once.
 */
#define ADMIT_RETRY_AFTER	1	/* seconds, a store 503's Retry-After */

struct admit_limits {
	int		 slots;		/* concurrent hashes (default: cores) */
	int		 budget_ms;	/* longest predicted wait (default 1000) */
	int		 queue;		/* waiters: budget x slots / hash time */
	double		 hash_ms;	/* measured hash time (shared) */
	double		 hash_var;	/* its variance, ms^2 (shared) */
	double		 round_ms;	/* a round of the line: hash_ms, or
					 * longer as the waiters saw it */
	double		 overrun;	/* >= 1: how far waits ran past their
					 * prediction (99th percentile) */
};
struct admit {
	int		 slot;		/* locked byte, -1 none */
	double		 t0;		/* ms, when the slot was taken */
	int		 peer_fd;	/* in: the web server's connection,
					 * polled while waiting; 0 unknown */
	int		 retry_after;	/* out, ADMIT_BUSY: seconds */
};
enum admit_rc { ADMIT_OK, ADMIT_BUSY };

/* The limits in force for tenant (its hash_slots, login_queue_budget_ms
 * and hash_queue, else the defaults) and the hash time measured. */
void		 admit_limits(const struct tenant *tenant, struct admit_limits *);
/* A password login's place in line, taken at its arrival before
 * anything is read: ADMIT_OK (the place is used by admit_hash_enter or
 * given back by admit_depart) or ADMIT_BUSY (a->retry_after set). */
enum admit_rc	 admit_arrive(struct lk_ctx *, const struct tenant *tenant,
		    struct admit *);
/* Give back this request's place in line if it holds one still. */
void		 admit_depart(void);
/* Take a hash slot, waiting in line (in the place taken at arrival, else
 * one taken now as the budget allows): ADMIT_OK (then call
 * admit_hash_leave) or ADMIT_BUSY (nothing held, a->retry_after set).
 * a->peer_fd must be set. */
enum admit_rc	 admit_hash_enter(struct lk_ctx *, const struct tenant *tenant,
		    struct admit *);
void		 admit_hash_leave(struct admit *);
/* The logins waiting in line now (0 when the admission file is not
 * open). */
int		 admit_waiting(struct lk_ctx *);
/* At exit: unmap the slots' hash memory, close the admission file; the
 * last process using the shared memory removes it. */
void		 admit_close(void);
/* Write the 503 temporarily_unavailable with a's Retry-After.  0 or -1. */
int		 admit_shed(struct lk_resp *, const struct admit *);

#endif /* !LATCHKEY_SECURITY_H */
