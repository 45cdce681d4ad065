/*
 * latchkey: multi-factor authentication with the password grants
 * (docs/COMPAT.md 13): the policy, the mfa_token, TOTP, the
 * authenticators, the /mfa/ endpoints and the MFA grants.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_MFA_H
#define LATCHKEY_MFA_H

/* ------------------------------------------------------------------ */
/* totp.c: RFC 6238 TOTP over RFC 4226 HOTP, HMAC-SHA1, and RFC 4648    */
/* base32 for the secrets.                                             */

#define TOTP_PERIOD	30	/* seconds a step lasts (RFC 6238 5.2) */
#define TOTP_DIGITS	6
#define TOTP_WINDOW	1	/* steps accepted either side of now */
#define TOTP_KEY_LEN	20	/* secret bytes: RFC 4226 4 R6, 160 bits */

/* The HOTP value (RFC 4226 5.3) of key at counter, digits (6 to 8)
 * long; -1 on a library failure. */
long		 totp_hotp(const unsigned char *key, size_t keylen,
		    uint64_t counter, int digits);
/*
 * Check code (digits long, ASCII digits) against key at now, within
 * TOTP_WINDOW steps either side, accepting only a step after last (the
 * last step accepted before: a code is accepted once, RFC 6238 5.2).
 * The step that matched into *step.  1 on a match, 0 otherwise.
 */
int		 totp_check(const unsigned char *key, size_t keylen,
		    const char *code, int digits, time_t now, long long last,
		    long long *step);
/* RFC 4648 6 base32 without padding of in into out; 0, or -1 short. */
int		 base32_encode(const unsigned char *in, size_t len, char *out,
		    size_t outsz);
/* Decode base32 (upper or lower case, no padding); the length or -1. */
long		 base32_decode(const char *in, unsigned char *out, size_t outsz);

/* ------------------------------------------------------------------ */
/* mfa_seal.c: AES-256-GCM (NIST SP 800-38D) under the store's MFA key  */
/* (SK_META "mfa", made on first use): the mfa_token and the TOTP       */
/* secrets at rest.  Sealed text is base64url of iv | ciphertext | tag. */

#define MFA_SEAL_MAX	8000	/* longest sealed text accepted */
/* Seal len bytes of in with aad into out.  0 or -1. */
int		 mfa_seal(struct store *, const char *aad,
		    const unsigned char *in, size_t len, char *out,
		    size_t outsz);
/* Open sealed text sealed with the same aad into out; the length, or
 * -1 when it is malformed, forged or not ours (nothing in out). */
long		 mfa_open(struct store *, const char *aad, const char *sealed,
		    unsigned char *out, size_t outsz);

/* ------------------------------------------------------------------ */
/* mfa_token.c: the mfa_token of an mfa_required answer: sealed, bound  */
/* to the login it continues, MFA_TOKEN_LIFETIME seconds, single use    */
/* after success (its id spent in SK_MFA).                              */

#define MFA_TOKEN_LIFETIME	300

struct mfa_tok {
	json_t		*json;		/* owned: mfa_tok_clear */
	const char	*jti;		/* random id */
	const char	*user_id;
	const char	*client_id;
	const char	*audience;	/* NULL: none asked */
	const char	*scope;		/* NULL: none asked */
	const char	*realm;		/* the connection logged in at */
	const char	*gty;		/* the first factor's grant */
	long long	 exp;
};
enum mfa_tok_rc { MFA_TOK_OK, MFA_TOK_MALFORMED, MFA_TOK_EXPIRED,
	MFA_TOK_ERR };

/* A new token for t's members (jti and exp are made here) into out. */
int		 mfa_token_make(struct store *, const struct mfa_tok *t,
		    time_t now, char *out, size_t outsz);
/* Open and check a presented token (not yet spent, not expired). */
enum mfa_tok_rc	 mfa_token_open(struct store *, const char *token, time_t now,
		    struct mfa_tok *t);
void		 mfa_tok_clear(struct mfa_tok *);
/* In txn: spend t's id, STORE_EXISTS when it was spent already. */
enum store_rc	 mfa_token_spend(struct store *, struct txn *,
		    const struct mfa_tok *t, time_t now);

/* ------------------------------------------------------------------ */
/* mfa_store.c: a user's authenticators (REC_AUTHENTICATOR in SK_MFA)   */
/* and the failed verifications bucket.                                 */

#define MFA_AUTH_MAX	16	/* authenticators a user may hold */
#define MFA_FAIL_CAP	10	/* failures before the limit ... */
#define MFA_FAIL_PERIOD	360	/* ... and one more every 6 minutes */

struct mfa_set {
	size_t		 n;
	struct authenticator a[MFA_AUTH_MAX];	/* owned: mfa_set_clear */
};
/* The user's authenticators (batched reads, store_scan), at most
 * MFA_AUTH_MAX. */
enum store_rc	 mfa_set_load(struct store *, const char *user_id,
		    struct mfa_set *);
void		 mfa_set_clear(struct mfa_set *);
/* The first authenticator of type t (active only when active), or NULL. */
const struct authenticator *mfa_set_find(const struct mfa_set *,
		    enum mfa_type t, int active);
/* 1 when one otp or oob authenticator is active. */
int		 mfa_set_enrolled(const struct mfa_set *);
/* Write (create or replace) rec, an authenticator record. */
enum store_rc	 mfa_auth_put(struct store *, struct txn *, const json_t *rec);
enum store_rc	 mfa_auth_del(struct store *, struct txn *, const char *user_id,
		    const char *id);
/* A new authenticator id "<prefix>|dev_<16 hex>" into out (>= 64). */
int		 mfa_auth_id(enum mfa_type, char *out, size_t outsz);
/* The characters of an authenticator id (route.c checks a path's). */
#define MFA_AUTH_ID_CHARS	"abcdefghijklmnopqrstuvwxyz" \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789|_-"
/* The failed verifications bucket of user_id: 1 when one more
 * verification may be tried, 0 when the limit is reached, -1 on error. */
int		 mfa_fail_room(struct store *, struct txn *,
    const char *user_id, time_t now);
/* In txn: take a token from the bucket (a failed verification). */
enum store_rc	 mfa_fail_take(struct store *, struct txn *,
		    const char *user_id, time_t now);
/* Out-of-band codes sent to a user: MFA_SEND_CAP, one more every
 * MFA_SEND_PERIOD seconds (10 an hour, Auth0's SMS limit).  1 when one
 * may be sent (taken), 0 at the limit, -1 on error. */
#define MFA_SEND_CAP	10
#define MFA_SEND_PERIOD	360
int		 mfa_send_take(struct store *, const char *user_id, time_t now);
/* In txn: append an audit event for the MFA step (audit.c's shape). */
enum store_rc	 mfa_audit(struct store *, struct txn *,
		    const struct guard_who *,
		    const char *user_id, enum guard_event, time_t now);

/* ------------------------------------------------------------------ */
/* mfa_oob.c: out-of-band codes: a binding code sent through the        */
/* delivery command of the tenant's connection named as the channel     */
/* ("sms", "email"), and the sealed oob_code the client gets for it.    */

#define MFA_OOB_LIFETIME	300
enum mfa_oob_rc { MFA_OOB_OK, MFA_OOB_LIMIT, MFA_OOB_NO_CHANNEL,
	MFA_OOB_FAILED, MFA_OOB_ERR };
/* Who asks for a code with the mfa_token t: the request's address and
 * t's client, recorded as the /oauth/token login it continues. */
void		 mfa_who(const struct lk_req *, const struct mfa_tok *t,
		    struct guard_who *);
/* Send a new binding code to a's recipient and seal its oob_code (bound
 * to the mfa_token t and to a) into out; why: a failed delivery's code.
 * A code sent and the send limit reached are audited as w's. */
enum mfa_oob_rc	 mfa_oob_send(struct store *, const struct guard_who *w,
		    const struct mfa_tok *t, const struct authenticator *a,
		    time_t now, char *out, size_t outsz, char *why,
		    size_t whysz);
struct mfa_oob {
	json_t		*json;		/* owned: mfa_oob_clear */
	const char	*auth_id;	/* the authenticator it was sent for */
	const char	*binding;	/* the code sent */
};
/* Open an oob_code of the token t, not expired: 0, or -1. */
int		 mfa_oob_open(struct store *, const char *oob_code,
		    const struct mfa_tok *t, time_t now, struct mfa_oob *);
void		 mfa_oob_clear(struct mfa_oob *);
/* The wire error of a failed mfa_oob_send (why: the delivery's). */
void		 mfa_oob_fail(struct lk_resp *, enum mfa_oob_rc,
		    const struct authenticator *, const char *why);

/* ------------------------------------------------------------------ */
/* mfa_api.c: the built-in MFA API, audience https://TENANT/mfa/.       */

/* Its scopes (Auth0's page above): what each /mfa/ call needs of an
 * access token. */
enum mfa_api_scope { MFA_SCOPE_ENROLL, MFA_SCOPE_READ, MFA_SCOPE_REMOVE,
	MFA_SCOPE__MAX };
extern const struct vocab mfa_api_scope_vocab;
/*
 * An access token presented as "Bearer" at a /mfa/ endpoint: one of
 * ours (userinfo_jwt_check: pinned algorithm, our keys, iss, exp), for
 * the MFA API audience, not DPoP-bound (RFC 9449 7.2), granted need.
 * 0 with who's user_id and client_id (and who->json) filled, or -1 with
 * RFC 6750 3.1's error written: 401 invalid_token, 403
 * insufficient_scope, each with its WWW-Authenticate challenge.
 */
int		 mfa_api_access(struct store *, const struct tenant *,
		    const char *token, enum mfa_api_scope need, time_t now,
		    struct mfa_tok *who, struct lk_resp *);
/* Why a bearer token is refused at a /mfa/ endpoint. */
enum mfa_refusal {
	MFA_REF_MALFORMED,
	MFA_REF_KEY,		/* signed by no key of ours */
	MFA_REF_SIGNATURE,
	MFA_REF_ISSUER,
	MFA_REF_AUDIENCE,	/* not the MFA API's */
	MFA_REF_EXPIRED,
	MFA_REF_NOT_YET,
	MFA_REF_BOUND,		/* DPoP-bound (cnf) */
	MFA_REF_USER_GONE,
	MFA_REF_BLOCKED,
	MFA_REF_MFA_TOKEN,	/* an mfa_token where only an access token does */
	MFA_REF__MAX
};
/* The 401 invalid_token of a bearer token refused for r, with its
 * WWW-Authenticate challenge. */
void		 mfa_api_refuse(struct lk_resp *, enum mfa_refusal r);

/* 1 when aud is t's MFA API audience (its issuer followed by "mfa/"). */
int		 mfa_api_is(const struct tenant *t, const char *aud);
/* 1 with api filled (record_clear) when aud is t's MFA API, 0 when it
 * is not, -1 on error. */
int		 mfa_api_get(const struct tenant *t, const char *aud,
		    struct api *api);

/* ------------------------------------------------------------------ */
/* mfa_policy.c: who must pass a second factor.                         */

/* The policy in force for user under tenant. */
enum mfa_policy	 mfa_policy_of(const struct tenant *, const struct user *);
/* What a login whose first factor passed must do next. */
enum mfa_gate { MFA_GATE_NONE, MFA_GATE_CHALLENGE, MFA_GATE_ENROL,
	MFA_GATE__MAX };
enum mfa_gate	 mfa_gate_decide(enum mfa_policy, int enrolled);
/* 1 when the client holds one of the MFA grant types. */
int		 mfa_client_allowed(const struct client_rec *);

/* ------------------------------------------------------------------ */
/* grant_mfa.c: the challenge at the login grants and the MFA grants.   */

#define MFA_RECOVERY_LEN	24	/* base32 characters: 120 bits */
/* The additional data a TOTP secret is sealed with (its owner, its id). */
void		 mfa_secret_aad(const char *user_id, const char *id,
		    char *out, size_t outsz);
/* A new recovery code into out (> MFA_RECOVERY_LEN) and its hash
 * (hash_secret).  0 or -1. */
int		 mfa_recovery_new(char *out, size_t outsz, char hash[72]);
/* A recovery code as typed, uppercased (the base32 alphabet). */
void		 mfa_recovery_fold(const char *in, char *out, size_t outsz);

/*
 * After the first factor of a login grant (password, password-realm,
 * passwordless/otp) passed for user at connection realm: 0 when no
 * second factor is due (go on and issue), -1 with the answer written
 * (403 mfa_required with an mfa_token, or an error).
 */
int		 mfa_gate(struct grant_req *, const struct user *,
		    const char *realm);
/* /oauth/ro's legacy answer (docs/COMPAT.md 13.2): 0 or -1 written. */
int		 mfa_gate_ro(struct grant_req *, const struct user *);
/* http://auth0.com/oauth/grant-type/mfa-otp, mfa-oob, mfa-recovery-code. */
void		 grant_mfa_otp(struct grant_req *);
void		 grant_mfa_oob(struct grant_req *);
void		 grant_mfa_recovery(struct grant_req *);

/* mfa_endpoint.c: POST /mfa/associate, GET /mfa/authenticators,
 * DELETE /mfa/authenticators/{id} (req->path_id). */
void		 mfa_associate(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);
void		 mfa_authenticators(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);
void		 mfa_authenticator_delete(struct lk_ctx *,
		    const struct lk_req *, struct lk_resp *);
/* mfa_challenge.c: POST /mfa/challenge. */
void		 mfa_challenge(struct lk_ctx *, const struct lk_req *,
		    struct lk_resp *);

#endif /* !LATCHKEY_MFA_H */
