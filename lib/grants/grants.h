/*
 * latchkey: the /oauth/token grants, token issuance, refresh tokens,
 * /oauth/ro, /userinfo, /oauth/revoke.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_GRANTS_H
#define LATCHKEY_GRANTS_H

/*
 * granttype.c: every grant type latchkey knows, in one table (the order
 * is discovery's), with where each applies.
 */
enum grant_type {
	GT_PASSWORD,
	GT_PASSWORD_REALM,
	GT_OTP,
	GT_REFRESH,
	GT_MFA_OTP,
	GT_MFA_OOB,
	GT_MFA_RECOVERY,
	GT_RO,
	GT_RO_JWT,
	GT__MAX
};

#define GT_AT_TOKEN	0x01u	/* a grant_type value at /oauth/token */
#define GT_DISCOVERY	0x02u	/* in discovery's grant_types_supported */
#define GT_CLIENT	0x04u	/* a client's grant_types may hold it */

struct grant_type_def {
	const char	*uri;		/* the wire value */
	const char	*gty;		/* access token "gty" and log name */
	unsigned	 where;		/* GT_AT_TOKEN | ... */
};

extern const struct vocab grant_type_vocab;
const struct grant_type_def *grant_type_def(enum grant_type);
/* The grant type named uri that applies at least where, or GT__MAX. */
enum grant_type	 grant_type_find(const char *uri, unsigned where);

/*
 * A grant's path: the endpoint (grant.c's /oauth/token, ro.c's /oauth/ro)
 * decodes the request, authenticates the client and runs the grant
 * (grant_password.c, grant_otp.c, grant_refresh.c, ro.c); the grant looks
 * up what it needs (login.c) and checks the credentials, mapping each
 * result to its endpoint's wire error, then issues (issue.c).
 */
struct grant_req {
	struct lk_ctx		*ctx;
	const struct lk_req	*req;
	struct lk_resp		*resp;
	struct tenant		 tenant;	/* owned: record_clear */
	json_t			*key;		/* owned: grant_key(), NULL unread */
	struct params		 p;
	struct client		 client;
	enum grant_type		 gt;		/* the grant being run */
	const char		*grant;		/* its URI (grant_type_def) */
	const char		*gty;		/* "password", "password-realm", ... */
	int			 refreshing;	/* refresh grant: start no new family */
	char			 refresh[96];	/* refresh_token to return, "" none */
	char			 recovery[32];	/* mfa-recovery-code: the new
						 * recovery_code to return, "" none */
	struct guard_who	 who;		/* end-user IP (guard_ip) */
	/* DPoP (grant_dpop.c): the proof's key thumbprint ("" none), and
	 * whether the answer carries a DPoP-Nonce header. */
	char			 jkt[DPOP_JKT_LEN + 1];
	int			 dpop_nonce;
};

/* The results of the steps the login grants share; each endpoint maps
 * them to its own wire errors. */
enum conn_rc {
	CONN_OK,
	CONN_UNKNOWN,		/* no connection of that name */
	CONN_DISABLED,		/* not enabled for the client */
	CONN_STRATEGY,		/* its strategy cannot serve the grant */
	CONN_ERR,		/* store failure */
	CONN__MAX
};
enum aud_rc { AUD_OK, AUD_UNKNOWN, AUD_ERR, AUD__MAX };
enum login_rc {
	LOGIN_OK,
	LOGIN_WRONG,		/* unknown user, wrong password or code */
	LOGIN_BLOCKED,		/* the user is blocked */
	LOGIN_LEAKED,		/* the password is a breached one */
	LOGIN_BUSY,		/* admission control shed it: 503 written */
	LOGIN_THROTTLED,	/* attack protection refused: 429 written */
	LOGIN_ERR,		/* store failure */
	LOGIN_MFA,		/* the directory requires a second factor */
	LOGIN_UPSTREAM,		/* the directory failed: 503 written */
	LOGIN_PW_CHANGE,	/* the directory says: change the password */
	LOGIN__MAX
};

/* grant.c: POST /oauth/token. */
void		 token_endpoint(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);
/* /oauth/token's wire errors for the shared results (docs/COMPAT.md 3.6);
 * OERR__MAX: the response is already written. */
struct grant_errs {
	enum oerr	 conn[CONN__MAX];	/* %s: the connection name */
	enum oerr	 aud[AUD__MAX];		/* %s: the audience */
	enum oerr	 login[LOGIN__MAX];
	enum oerr	 code[STRATEGY__MAX];	/* LOGIN_WRONG of a code, by
						 * the connection's strategy */
};
extern const struct grant_errs token_errs;

/* login.c: what the login grants look up.  Write the wire error e, its
 * "%s" arg (nothing for OERR__MAX: already written). */
void		 grant_fail(struct grant_req *, enum oerr, const char *arg);
/* The connection name, which must exist and be enabled for the client,
 * into *c (record_clear it on CONN_OK; cleared otherwise). */
enum conn_rc	 grant_connection(struct grant_req *, const char *name,
		    struct conn *c);
/* The API named by audience (or the tenant default) into *api, its
 * json NULL for none (an identity-only token); *aud says which
 * audience was looked up.  record_clear *api. */
enum aud_rc	 grant_audience(struct grant_req *, struct api *api,
		    const char **aud);
/* A passwordless code for the login name at connection c (docs/COMPAT.md
 * 1.3, 3.1): LOGIN_OK with *user (record_clear it). */
enum login_rc	 grant_code_user(struct grant_req *, const struct conn *c,
		    const char *login, const char *code, struct user *user);

/*
 * login.c: how each connection strategy checks a username and password:
 * a table of login functions, one per strategy that takes passwords
 * (database: grant_password_user; Azure AD, ADFS: grant_external_user).
 * 1 when strategy s takes passwords at the password grants.
 */
int		 grant_login_takes_password(enum conn_strategy s);
/* Check g->p's username and password at connection c: LOGIN_OK with
 * *user (record_clear it); nothing written except for LOGIN_BUSY,
 * LOGIN_THROTTLED and LOGIN_UPSTREAM. */
enum login_rc	 grant_login(struct grant_req *, const struct conn *c,
		    struct user *user);

/* extlogin.c: a login at a connection whose passwords an upstream
 * identity provider checks (docs/COMPAT.md 12), as grant_login. */
enum login_rc	 grant_external_user(struct grant_req *, const struct conn *c,
		    struct user *user);

/* ldaplogin.c: a login at an AD/LDAP connection (docs/COMPAT.md 14),
 * as grant_login. */
enum login_rc	 grant_ldap_user(struct grant_req *, const struct conn *c,
		    struct user *user);

/*
 * login.c: what the directory logins (extlogin.c, ldaplogin.c) share.
 * login_attempt records the attempt for attack protection and the audit
 * (guard_after), as a database login does, and returns rc, or LOGIN_ERR
 * when a refusal could not be counted (answered, its count would be
 * lost).  login_unavailable writes the
 * 503 e with Retry-After (at least LOGIN_RETRY_AFTER seconds) and returns
 * LOGIN_UPSTREAM.  login_shadow_admit writes the shadow user of a
 * directory-verified profile p into *user and refuses it when blocked
 * (LOGIN_BLOCKED, the attempt recorded either way).
 */
#define LOGIN_RETRY_AFTER	5
enum login_rc	 login_attempt(struct grant_req *, const char *user_id,
		    enum guard_event ev, enum login_rc rc);
enum login_rc	 login_unavailable(struct grant_req *, enum oerr e,
		    long after);
enum login_rc	 login_shadow_admit(struct grant_req *,
		    const struct shadow_profile *p, struct user *user);

/* grant_password.c: password and password-realm (docs/COMPAT.md 3). */
void		 grant_password(struct grant_req *);
/* Its user check, shared with /oauth/ro: find the user of connection by
 * g->p's username, verify the password (dummy work when unknown), refuse
 * a blocked user, a breached password.  LOGIN_OK with *user (record_clear
 * it); nothing written except for LOGIN_BUSY and LOGIN_THROTTLED. */
enum login_rc	 grant_password_user(struct grant_req *,
		    const char *connection, struct user *user);

/* issue.c: token issuance.  The tenant's current signing key, read once
 * a request (kept in the grant_req); NULL when there is none. */
json_t		*grant_key(struct grant_req *);
/* A login grant's tokens: the requested scope under the login rules
 * (scope_resolve), then grant_issue.  Errors are written to the response. */
void		 grant_issue_login(struct grant_req *, const struct user *,
		    const struct api *);
/* Write the 200 token response (RFC 6749 5.1, no-store): token_type
 * "Bearer" or "DPoP" (RFC 9449 5); idt, rt and scope are left out when
 * NULL.  0 or -1 (nothing written). */
int		 grant_respond(struct lk_resp *, const char *at,
		    const char *token_type, long long expires_in,
		    const char *idt, const char *rt, const char *scope);
/* Sign and write the token response for user; api NULL (or its json
 * NULL) for none.  -1 with the error written. */
int		 grant_issue(struct grant_req *, const struct user *,
		    const struct api *, const struct scope_result *);

/* opaque.c: /oauth/ro's opaque access tokens (valid only at /userinfo).
 * opaque_issue writes a new token (43 chars + NUL) to out. 0 or -1. */
int		 opaque_issue(struct lk_ctx *, const char *user_id,
		    const char *client_id, const char *scope, time_t now,
		    long lifetime, char *out, size_t outsz);
/* A token's SK_ACCESS record: strings NULL and exp 0 when absent. */
struct opaque_rec {
	json_t		*json;		/* owned: opaque_clear */
	const char	*user_id;
	const char	*client_id;
	const char	*scope;
	long long	 exp;
};
void		 opaque_clear(struct opaque_rec *);
/* The record of token, expired or not, into *o (opaque_clear it). */
enum store_rc	 opaque_get(struct store *, struct txn *, const char *token,
		    struct opaque_rec *o);
enum store_rc	 opaque_del(struct store *, struct txn *, const char *token);
/* STORE_NOTFOUND for an unknown or expired token (an expired one is
 * deleted); STORE_OK with *o (opaque_clear it). */
enum store_rc	 opaque_lookup(struct lk_ctx *, const char *token, time_t now,
		    struct opaque_rec *o);

/*
 * refresh.c: refresh tokens (docs/COMPAT.md 5).  A new token (random,
 * >= 256 bits, stored only as its hash) for user and client, carrying the
 * granted scope, audience (NULL: api's identifier, or none) and device
 * (NULL: none); family NULL starts a new family.  out >= 96 bytes.  0 or
 * -1.
 */
struct refresh_new {
	const char	*user_id;
	const char	*client_id;
	const char	*audience;
	const char	*scope;
	const char	*device;
	const char	*family;
	const char	*jkt;		/* RFC 9449 5: bound to this key, NULL: not */
};
int		 refresh_issue(struct lk_ctx *, const struct tenant *,
		    const struct client_rec *client, const struct api *api,
		    const struct refresh_new *, time_t now, char *out, size_t outsz);

/*
 * refresh_conf.c: a client's refresh-token settings: its "refresh_token"
 * member, Auth0's shape {"rotation_type": "rotating"|"non-rotating",
 * "expiration_type": "expiring"|"non-expiring", "token_lifetime",
 * "idle_token_lifetime", "infinite_token_lifetime",
 * "infinite_idle_token_lifetime", "leeway"} (docs/COMPAT.md 5.3).
 * Lifetimes 0 mean "never".
 */
struct refresh_conf {
	int		 rotating;
	long		 lifetime;	/* absolute, from the family's start */
	long		 idle;		/* since the token was issued or last used */
	long		 leeway;	/* seconds a spent token stays usable */
};
/* client NULL: Auth0's defaults. */
void		 refresh_conf(const struct client_rec *client,
		    struct refresh_conf *);
/* 1 when a non-rotating refresh at now must write the token's new idle
 * expiry (it moves by at least 1 % of idle, at most 60 s, or idle < 100 s). */
int		 refresh_touch_due(json_int_t idle_expires_at, long idle, time_t now);
/* NULL when settings is a valid "refresh_token" object, else why not
 * (static text, valid until the next call). */
const char	*refresh_conf_problem(const json_t *settings);
/* Auth0's rotation_type values ("rotating", "non-rotating"). */
extern const struct vocab refresh_rotation_vocab;

enum refresh_rc {
	REFRESH_OK,
	REFRESH_INVALID,	/* unknown, expired, revoked, another client's */
	REFRESH_REUSED,		/* a spent token: its family is now revoked */
	REFRESH_USER_GONE,	/* the user was deleted: family revoked */
	REFRESH_USER_BLOCKED,
	REFRESH_SCOPE,		/* the scope asked for exceeds the grant */
	REFRESH_NO_API,		/* the token's API was removed; u->rec kept */
	REFRESH_DPOP_KEY,	/* bound to a key the request did not prove */
	REFRESH_DPOP_REQUIRED,	/* its API requires DPoP, no proof came */
	REFRESH_ERR
};

/* One redemption (grant_type=refresh_token): inputs, then results. */
struct refresh_use {
	const char	*token;		/* as presented */
	const struct client_rec *clientrec;	/* the authenticated client */
	const char	*scope;		/* scope asked for (scope_refresh), NULL: all */
	const char	*jkt;		/* the request's DPoP key, NULL: none */
	time_t		 now;
	int		 defer_flush;	/* the caller calls refresh_flush()
					 * before it answers */
	int		 unflushed;	/* the redeeming commit wrote, unsynced */
	enum refresh_rc	 rc;
	struct user	 user;		/* REFRESH_OK: the user, owned */
	json_t		*rec;		/* REFRESH_OK, _NO_API: the token's family
					 * record, owned */
	struct api	 api;		/* REFRESH_OK: its audience's API, owned;
					 * api.json NULL: none */
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
/* With u->defer_flush, refresh_redeem's commit is synced only by this
 * (store_flush), with the commits other processes made meanwhile; call
 * it before answering.  0, or -1 when the log cannot be synced: what
 * the redemption wrote may be lost, answer an error. */
int		 refresh_flush(struct store *, struct refresh_use *);

/* RFC 7009: revoke the family of token if client_id holds it; *found
 * says whether it was one of client_id's refresh tokens. */
enum store_rc	 refresh_revoke_token(struct store *, struct txn *,
		    const char *token, const char *client_id, time_t now,
		    int *found);

/*
 * refresh_index.c: the per-user index of families (SK_REFIDX).  Build it
 * for a store made by a release without it, in batches (idempotent,
 * resumable), then mark it complete in SK_META "refresh_index".  At once
 * when already complete.
 */
enum store_rc	 refresh_index_ensure(struct store *, time_t now);
/* 1 when the index is complete (SK_META says so). */
int		 refresh_index_ready(struct store *, struct txn *);
/* In a new tenant's transaction: mark the index complete when there is
 * no family to walk. */
enum store_rc	 refresh_index_new(struct store *, struct txn *, time_t now);

/* grant_refresh.c: grant_type=refresh_token (docs/COMPAT.md 5.2). */
void		 grant_refresh(struct grant_req *);

/* revoke.c: POST /oauth/revoke (RFC 7009). */
void		 revoke_endpoint(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);

/* userinfo.c: GET/POST /userinfo (OpenID Connect Core 5.3, RFC 6750). */
void		 userinfo_endpoint(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);

/*
 * userinfo.c: the one check of a JWT before anything in it is believed
 * (RFC 7519 7.2; OpenID Connect Core 3.1.3.7): the signature with the
 * algorithm pinned to the key's (token.c: never "none" or HMAC), then
 * iss, aud, exp (required) and nbf / iat (when present), each time with
 * leeway seconds of clock skew.  Our own access tokens (/userinfo, the
 * /mfa/ endpoints) and the upstream id_tokens (upid.c) go through it.
 */
enum jwt_rc {
	JWT_OK,
	JWT_MALFORMED,		/* not a JWS, or a claim of the wrong type */
	JWT_NO_KEY,		/* no key of its kid */
	JWT_SIGNATURE,		/* bad signature or algorithm */
	JWT_ISSUER,
	JWT_AUDIENCE,
	JWT_EXPIRED,
	JWT_NOT_YET,		/* nbf or iat in the future */
	JWT_ERR,		/* the store or the library failed */
	JWT__MAX
};
struct jwt_expect {
	const char	*issuer;
	const char	*audience;	/* aud is it or an array holding it */
	time_t		 now;
	int		 leeway;	/* seconds */
};
/* Verify token against keys (token_verify's shape), or with keys NULL
 * against our own signing keys in s (a token names its key by kid; one
 * signed by a key since removed verifies with none).  JWT_OK with
 * *claims (owned), else *claims is NULL. */
enum jwt_rc	 userinfo_jwt_check(struct store *s, const json_t *keys,
		    const char *token, const struct jwt_expect *,
		    json_t **claims);

/* ro.c: the legacy POST /oauth/ro (docs/COMPAT.md 1). */
void		 ro_endpoint(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);

/* grant_otp.c: http://auth0.com/oauth/grant-type/passwordless/otp. */
void		 grant_otp(struct grant_req *);

/*
 * grant_dpop.c: DPoP at the token endpoint and /userinfo (docs/COMPAT.md
 * 10).  grant_dpop checks the request's proof (the client may require
 * one; public clients need a server nonce), spends its jti and sets
 * g->jkt.  0, or -1 with the error written.
 */
int		 grant_dpop(struct grant_req *);
/* The DPoP-Nonce header for a public client's DPoP request (RFC 9449
 * 8.2: on 200 and 400 answers). */
void		 grant_dpop_nonce_header(struct grant_req *);
/* 1 when the API requires DPoP of g's client and g holds no proof: the
 * invalid_dpop_proof error is then written. */
int		 grant_dpop_api_refused(struct grant_req *, const struct api *);
/* /userinfo: a proof for method at url with ath of token, its jti spent.
 * DPOP_OK with *out, else why not (DPOP_ERR: the store failed). */
enum dpop_err	 grant_dpop_request(struct lk_ctx *, const char *header,
		    const char *method, const char *url, const char *token,
		    time_t now, struct dpop_proof *out);
/* The process's nonce key (SK_META "dpop", made on first use). 0 or -1. */
int		 grant_dpop_nonce_key(struct lk_ctx *, const unsigned char **key);
/* A WWW-Authenticate: DPoP challenge value with the algs into resp's
 * headers (RFC 9449 7.1), with error and description when not NULL. */
void		 grant_dpop_challenge(struct lk_resp *, const char *error,
		    const char *desc);

#endif /* !LATCHKEY_GRANTS_H */
