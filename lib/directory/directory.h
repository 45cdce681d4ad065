/*
 * latchkey: connections whose passwords another identity provider
 * checks (Azure AD / Entra ID and ADFS, docs/COMPAT.md 12), and the
 * local shadow users of such directories.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_DIRECTORY_H
#define LATCHKEY_DIRECTORY_H

/*
 * extconn.c: the strategies that check a password at an upstream token
 * endpoint (OAuth 2.0 resource owner password grant, RFC 6749 4.3), one
 * row each: the user_id prefix, the claims that identify a user, the
 * settings a connection needs.
 */
#define EXT_ID_CLAIMS	3

struct extconn_def {
	const char	*prefix;		/* user_id "<prefix>|<conn>|<id>" */
	const char	*id_claims[EXT_ID_CLAIMS];	/* tried in order */
	const char	*scope;			/* default upstream scope */
	int		 needs_tenant;		/* tenant_id required (tid) */
};
/* The row of strategy s, or NULL when s checks passwords itself. */
const struct extconn_def *extconn_def(enum conn_strategy s);
/* NULL when connection c has what its strategy needs, else why not
 * (static text, valid until the next call). */
const char	*extconn_problem(const struct conn *c);
/* The token request's form for c (Entra ID v2 /oauth2/v2.0/token, ADFS
 * /adfs/oauth2/token): grant_type=password, client id and secret, scope
 * (and resource), username, password.  0 or -1; cleanse it after use. */
int		 extconn_form(const struct conn *c, const char *username,
		    const char *password, struct buf *form);

/* What the upstream token endpoint's answer means. */
enum ext_answer {
	EXT_TOKEN,		/* 200 with an id_token */
	EXT_WRONG,		/* invalid_grant: bad credentials */
	EXT_MFA,		/* the upstream requires MFA (AADSTS50076, ...) */
	EXT_REFUSED,		/* another 4xx error: a set-up problem */
	EXT_FAILED,		/* 5xx, 3xx, not JSON, no id_token */
	EXT__MAX
};
extern const struct vocab ext_answer_vocab;
/* Classify status and body; on EXT_TOKEN *idt is the id_token (malloc'd,
 * cleanse and free it).  why (>= 128 bytes) gets the upstream's error
 * code and AADSTS number, log-escaped, for the log only. */
enum ext_answer	 extconn_answer(long status, const char *body, char **idt,
		    char *why, size_t whysz);

/*
 * upid.c: the upstream id_token, trusted only once verified: RS256
 * only, signed by a key of the upstream JWKS, iss, aud, exp, nbf (with
 * UPID_LEEWAY), and tid for Entra ID (OpenID Connect Core 3.1.3.7).
 */
#define UPID_LEEWAY	60	/* seconds of clock skew allowed */

enum upid_rc {
	UPID_OK,
	UPID_MALFORMED,
	UPID_NO_KEY,		/* no key of that kid: refresh the JWKS */
	UPID_SIGNATURE,		/* bad signature or algorithm */
	UPID_ISSUER,
	UPID_AUDIENCE,
	UPID_EXPIRED,
	UPID_NOT_YET,		/* nbf or iat in the future */
	UPID_TENANT,		/* tid is not the connection's tenant */
	UPID__MAX
};
extern const struct vocab upid_rc_vocab;

struct upid_expect {
	const char	*issuer;
	const char	*audience;	/* the upstream client id */
	const char	*tenant_id;	/* NULL: not checked */
	time_t		 now;
};
/* Verify idt against keys (token_verify's shape, from upjwks_keys).
 * UPID_OK with *claims (owned). */
enum upid_rc	 upid_verify(const char *idt, const json_t *keys,
		    const struct upid_expect *, json_t **claims);

/*
 * upjwks.c: upstream JWKS, fetched over TLS (upstream.c) and kept per
 * process for UPJWKS_MAX_AGE, fetched again on an unknown kid at most
 * once every jwks_refresh_min seconds.
 */
#define UPJWKS_MAX_AGE	3600
#define UPJWKS_KEYS_MAX	32

/* The RS256 keys of a JWKS document ({"keys": [...]}) in token_verify's
 * shape [{"kid", "alg", "pem"}]; NULL when none is usable. */
json_t		*upjwks_keys(const json_t *jwks);
/* 1 when a cache entry fetched at (0: never) must be fetched at now:
 * never fetched, older than UPJWKS_MAX_AGE, or unknown_kid and at least
 * min_refresh seconds old (a clock that went back counts as old). */
int		 upjwks_due(time_t fetched, time_t now, int unknown_kid,
		    long min_refresh);
enum upjwks_rc { UPJWKS_OK, UPJWKS_FAILED, UPJWKS_WAIT };
/* c's keys (borrowed until the next call) into *keys: UPJWKS_OK,
 * UPJWKS_FAILED (the fetch failed, logged), UPJWKS_WAIT (an unknown kid
 * but the keys are younger than jwks_refresh_min; *wait says how long).
 * A fetch takes at most budget_ms (and c's own timeouts). */
enum upjwks_rc	 upjwks_get(const struct conn *c, time_t now, int unknown_kid,
		    long budget_ms, const json_t **keys, long *wait);

/*
 * shadow.c: the local record of a user whom a directory authenticates
 * (no password): created on the first login, its profile refreshed on
 * each, so that refresh tokens, /userinfo, blocks and audit find it.
 * What an administrator set (blocked, metadata) is kept.
 */
struct shadow_profile {
	const char	*user_id;
	const char	*connection;
	const char	*email;		/* NULL: none */
	int		 email_verified;
	const char	*name, *given_name, *family_name, *nickname,
			*preferred_username, *picture;
	const char	*phone_number;	/* NULL: none; kept only as +E.164 */
	const json_t	*groups;	/* strings; NULL: not read */
};
/* Upsert p, then read the stored user into *user (record_clear it).
 * An email another user of the connection holds is left out (logged). */
enum store_rc	 shadow_upsert(struct store *, const struct shadow_profile *p,
		    struct user *user);
/* The profile of verified upstream claims for connection c of strategy
 * row d: user_id into uid (uidsz), strings borrowed from claims.  0, or
 * -1 when no identifying claim fits a user_id. */
int		 shadow_from_claims(const struct conn *c,
		    const struct extconn_def *d, const json_t *claims,
		    char *uid, size_t uidsz, struct shadow_profile *p);

/*
 * ldapconn.c: AD/LDAP connections (strategy "ad", docs/COMPAT.md 14)
 * without the directory: settings, schema defaults, the filter and the
 * bind name built from a login, what a bind's result means.
 */
#define LDAP_PROFILE_N	9

struct ldap_attrs {
	/* id, email, name, given_name, family_name, nickname,
	 * preferred_username, picture, phone_number; NULL: not mapped */
	const char	*a[LDAP_PROFILE_N];
	const char	*filter;	/* default search filter, {login} */
};
enum ldap_mode { LDAPM_SEARCH, LDAPM_DIRECT };
enum ldap_outcome {
	LDAPO_OK,		/* bound as the user */
	LDAPO_WRONG,		/* bad credentials or no such user */
	LDAPO_LOCKED,		/* locked, disabled, expired account */
	LDAPO_PW_CHANGE,	/* password expired or must be changed */
	LDAPO_DOWN,		/* no server answered within the timeout */
	LDAPO_FAILED,		/* any other directory error (logged) */
	LDAPO__MAX
};
extern const struct vocab ldap_outcome_vocab;

/* The attribute names and default filter of schema s. */
const struct ldap_attrs *ldapconn_attrs(enum dir_schema s);
/* The attribute c reads the user's groups from (ldap_groups set). */
const char	*ldapconn_group_attribute(const struct conn *c);
/* The group named by the attribute value v (n bytes): a DN's first RDN
 * value ("cn=Staff,ou=groups,..." -> "Staff"), else v as given, into out
 * (outsz).  0, or -1 when empty or too long. */
int		 ldapconn_group_name(const char *v, size_t n, char *out,
		    size_t outsz);
/* Direct bind (ldap_user_dn or ldap_upn_domain set) or search. */
enum ldap_mode	 ldapconn_mode(const struct conn *c);
/* NULL when c (of any strategy) has what an ad connection needs, else
 * why not (static text). */
const char	*ldapconn_problem(const struct conn *c);
/* c's filter with {login} the login escaped (RFC 4515 3).  0 or -1. */
int		 ldapconn_filter(const struct conn *c, const char *login,
		    char *out, size_t outsz);
/* The direct bind's name: ldap_user_dn with {login} as an escaped
 * attribute value (RFC 4514 2.4), else login@ldap_upn_domain.  0 or -1. */
int		 ldapconn_bind_name(const struct conn *c, const char *login,
		    char *out, size_t outsz);
/* The shadow user's profile from ldapsess_login's claims: user_id
 * "ad|<connection>|<id>" into uid (uidsz), strings borrowed from
 * claims.  0, or -1 when the entry has no usable id. */
int		 ldapconn_profile(const struct conn *c, const json_t *claims,
		    char *uid, size_t uidsz, struct shadow_profile *p);
/* Active Directory's error 49 "data" code in diag: the outcome. */
enum ldap_outcome ldapconn_ad_code(const char *diag);
/* A bind's outcome from its ppolicy response error (PP_noError: none);
 * bound: the bind itself succeeded. */
enum ldap_outcome ldapconn_ppolicy(int bound, int pperr);

/*
 * ldapsess.c: the directory itself, through libldap: one session per
 * responder process, opened again when the connection or its settings
 * change or it broke; every call within the login's deadline.
 */
struct ldap_login {
	const struct conn *c;
	const char	*login;
	const char	*password;		/* never empty */
	double		 deadline;		/* lk_mono_ms() bound */
};
/* Check l's password; on LDAPO_OK *claims ({<id attribute>, "email",
 * "name", ...}: shadow_from_claims' input, owned).  Errors other than
 * bad credentials are logged with libldap's code, never returned. */
enum ldap_outcome ldapsess_login(const struct ldap_login *l,
		    json_t **claims);
/* Drop the process's session (tests, a connection's removal). */
void		 ldapsess_close(void);

#endif /* !LATCHKEY_DIRECTORY_H */
