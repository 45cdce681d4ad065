/*
 * latchkey: typed records.  Every stored record kind is declared once, in
 * record.c, as a table of its fields (type, range, default, required,
 * where it lands in the kind's struct).  From that table the admin
 * command validates input (record_check, record_missing), everyone parses
 * a stored record into its struct (record_parse, record_get) and prints it
 * (record_redact).  The stored format stays JSON inside Berkeley DB; the
 * struct keeps the JSON it was parsed from (member "json"), and its
 * string members point into it.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_RECORD_H
#define LATCHKEY_RECORD_H

#include <stddef.h>

enum rec_kind {
	REC_TENANT,		/* SK_META "tenant" */
	REC_CLIENT,		/* SK_CLIENT client_id */
	REC_CONNECTION,		/* SK_CONNECTION name */
	REC_API,		/* SK_API identifier */
	REC_USER,		/* SK_USER user_id */
	REC_KEY,		/* SK_KEY kid */
	REC_AUTHENTICATOR,	/* SK_MFA "a\x1f<user_id>\x1f<id>" */
	REC__MAX
};

/* Bounds shared by the tables and the admin command. */
#define REC_NAME_LEN		128	/* names, usernames, connection names */
#define REC_ID_LEN		512	/* identifiers, URLs, emails */
#define REC_TEXT_LEN		2048	/* free-text profile fields */
#define REC_PW_LEN		1024	/* passwords (the decoder's bound) */
#define REC_SECRET_MIN		12
#define REC_SECRET_MAX		512
#define REC_PEM_LEN		16384
#define REC_LIST_MAX		100
#define REC_GROUP_LEN		512	/* one of a directory user's groups */
#define REC_KEYS_MAX		10
#define REC_LIFETIME_MIN	60
#define REC_LIFETIME_MAX	2592000		/* 30 days */

enum ftype {
	FT_TEXT,	/* any printable text */
	FT_ID,		/* printable, no spaces */
	FT_NAME,	/* letters, digits, '.', '_', '-' */
	FT_URL,		/* http:// or https:// */
	FT_EMAIL,	/* ident.c's email check */
	FT_PHONE,	/* E.164 */
	FT_PWHASH,	/* a hash_format() encoding */
	FT_ENUM,	/* a name of vocab (stored in the struct as its value) */
	FT_INT,		/* integer in [min, max] */
	FT_BOOL,
	FT_LIST,	/* strings: names of vocab (a bit set in the struct), or
			 * FT_ID of length min..max (a JSON array) */
	FT_REFS,	/* strings: FT_TEXT of length min..max (names or ids) */
	FT_OBJ,		/* any object */
	FT_KEYS,	/* client public keys */
	FT_HASHPOL,	/* {"t", "m", "p"} */
	FT_ARGV,	/* a command: strings, the first an absolute path */
	FT_REFRESH,	/* client refresh_token settings (refresh.c) */
	FT_GUARD,	/* attack-protection settings (guard.c) */
	FT_POP,		/* an API's proof_of_possession (dpop_conf.c) */
	FT_ORIGINS	/* strings: allowed origins (cors.c), at most max */
};

/* Who may set a field. */
enum fwho {
	FW_ADMIN,	/* latchkeyctl and import set it; stored */
	FW_INPUT,	/* input only, never stored (a password, a secret) */
	FW_STORED	/* written by latchkey itself, never input */
};

#define REC_NONE	((size_t)-1)	/* a field with no struct member */

struct fdef {
	const char		*name;
	enum ftype		 type;
	long long		 min, max;	/* length or integer range */
	const struct vocab	*vocab;		/* FT_ENUM, FT_LIST of names */
	int			 required;	/* in the final record */
	enum fwho		 who;
	long long		 def;		/* FT_INT, FT_BOOL, FT_ENUM absent */
	size_t			 off;		/* member of the struct, REC_NONE */
};

/* Connection strategies and application types (owned here). */
enum conn_strategy { STRATEGY_AUTH0, STRATEGY_SMS, STRATEGY_EMAIL,
	STRATEGY_WAAD, STRATEGY_ADFS, STRATEGY_AD, STRATEGY__MAX };
/* Which schema an ad connection's directory has: the attribute and
 * filter defaults (lib/directory/ldapconn.c, docs/COMPAT.md 14). */
enum dir_schema { DIRSCHEMA_OPENLDAP, DIRSCHEMA_AD, DIRSCHEMA__MAX };
enum app_type { APP_REGULAR_WEB, APP_NON_INTERACTIVE, APP_SPA, APP_NATIVE,
	APP__MAX };
enum key_status { KEYST_NEXT, KEYST_CURRENT, KEYST_PREVIOUS, KEYST__MAX };
extern const struct vocab strategy_vocab;
extern const struct vocab app_type_vocab;
extern const struct vocab dir_schema_vocab;
extern const struct vocab key_status_vocab;

/* Multi-factor authentication (docs/COMPAT.md 13); the vocabularies are
 * mfa_policy.c's.  The tenant's policy, a user's override of it, and
 * the authenticator types (Auth0's authenticator_type values). */
enum mfa_policy { MFA_NEVER, MFA_ALL, MFA_ENROLLED, MFA__MAX };
enum mfa_user { MFA_USER_TENANT, MFA_USER_NEVER, MFA_USER_ALWAYS,
	MFA_USER__MAX };
enum mfa_type { MFA_TYPE_OTP, MFA_TYPE_OOB, MFA_TYPE_RECOVERY,
	MFA_TYPE__MAX };
/* The out-of-band channels (Auth0's oob_channel values served). */
enum mfa_channel { MFA_CHAN_SMS, MFA_CHAN_EMAIL, MFA_CHAN__MAX };
extern const struct vocab mfa_policy_vocab;
extern const struct vocab mfa_user_vocab;
extern const struct vocab mfa_type_vocab;
extern const struct vocab mfa_channel_vocab;

/*
 * The kinds.  Strings are NULL when absent and point into json; lists,
 * objects and settings are borrowed from json (NULL when absent).
 */
struct tenant {
	json_t		*json;			/* owned */
	const char	*issuer;		/* with a trailing slash */
	const char	*default_directory;
	const char	*default_audience;
	int		 allow_legacy_ro;
	long long	 hash_slots;		/* 0: admit.c's default */
	long long	 hash_queue;		/* -1: admit.c's default */
	long long	 hash_wait_ms;		/* 0: none (the budget's old name) */
	long long	 login_queue_budget_ms;	/* -1: admit.c's default */
	const json_t	*hash;			/* {"t","m","p"} */
	const json_t	*brute_force;		/* guard.c's settings objects */
	const json_t	*suspicious_ip;
	const json_t	*rate_limit;
	const json_t	*breached_password_file;
	int		 breached_password_detection;
	long long	 audit_retention_days;
	enum dpop_resprof resource_profile;	/* resource_parameter_profile */
	enum mfa_policy	 mfa;			/* who must pass a second factor */
	/* Parsed once per load from the members above. */
	struct hash_policy hash_policy;
	struct guard_conf guard;		/* attack protection (guard_conf.c) */
};

struct client_rec {
	json_t		*json;			/* owned */
	const char	*client_id;
	const char	*name;
	enum app_type	 app_type;
	enum client_auth auth_method;		/* token_endpoint_auth_method */
	const char	*secret_hash;		/* "sha256:<hex>", NULL: none */
	unsigned	 grants;		/* bit (1u << enum grant_type) */
	enum key_alg	 id_token_alg;
	long long	 id_token_lifetime;
	const json_t	*public_keys;		/* [{"kid","alg","pem"}] */
	const json_t	*refresh_token;		/* Auth0's settings object */
	int		 ip_header_trusted;	/* is_token_endpoint_ip_header_trusted */
	int		 require_pop;		/* require_proof_of_possession */
	const json_t	*allowed_origins;	/* CORS origins (cors.c) */
	const json_t	*web_origins;
};

struct conn {
	json_t		*json;			/* owned */
	const char	*name;
	enum conn_strategy strategy;
	const json_t	*enabled_clients;	/* client_ids */
	const json_t	*delivery_command;	/* argv */
	long long	 otp_lifetime;		/* seconds */
	long long	 delivery_timeout;	/* seconds */
	/* Azure AD and ADFS connections (lib/directory/, docs/COMPAT.md 12). */
	const char	*token_url;		/* upstream token endpoint */
	const char	*jwks_url;		/* upstream JWKS */
	const char	*upstream_issuer;	/* the id_token's iss */
	const char	*tenant_id;		/* Entra ID: the id_token's tid */
	const char	*upstream_client_id;	/* the id_token's aud */
	const char	*upstream_client_secret; /* stored as is (security.md) */
	const char	*upstream_scope;	/* NULL: the strategy's */
	const char	*upstream_resource;	/* ADFS: resource */
	const char	*ca_file;		/* NULL: the system's CAs */
	const char	*user_id_attribute;	/* NULL: the strategy's claim */
	long long	 upstream_timeout_ms;	/* the whole call */
	long long	 upstream_connect_timeout_ms;
	long long	 jwks_refresh_min;	/* seconds between JWKS fetches */
	/* AD/LDAP connections (lib/directory/ldapconn.c, docs/COMPAT.md
	 * 14); ca_file, user_id_attribute and the two timeouts above too. */
	const char	*ldap_url;		/* URLs, space-separated, in order */
	int		 ldap_starttls;		/* ldap:// URLs: StartTLS first */
	enum dir_schema	 ldap_schema;		/* defaults: OpenLDAP or AD */
	const char	*ldap_bind_dn;		/* search-then-bind: the service */
	const char	*ldap_bind_password;	/* stored as is (security.md) */
	const char	*ldap_base_dn;		/* where users are searched */
	const char	*ldap_filter;		/* "{login}" is the escaped login */
	const char	*ldap_user_dn;		/* direct bind: "{login}" template */
	const char	*ldap_upn_domain;	/* direct bind: login@domain (AD) */
	int		 ldap_groups;		/* read the user's groups */
	const char	*ldap_group_attribute;	/* NULL: memberOf */
};

struct api {
	json_t		*json;			/* owned */
	const char	*identifier;
	const char	*name;
	const json_t	*scopes;		/* strings */
	long long	 token_lifetime;
	int		 allow_offline_access;
	const json_t	*proof_of_possession;	/* Auth0's object, NULL: none */
};

struct user {
	json_t		*json;			/* owned */
	const char	*user_id;		/* "auth0|<24 hex>", "sms|..." */
	const char	*connection;
	const char	*email;
	const char	*username;
	const char	*phone_number;
	const char	*password_hash;
	int		 email_verified;
	int		 phone_verified;
	int		 blocked;
	long long	 password_set_at;	/* epoch, 0: never changed */
	enum mfa_user	 mfa;			/* override of the tenant's mfa */
	const json_t	*app_metadata;
	const json_t	*user_metadata;
};

struct keyrec {
	json_t		*json;			/* owned */
	const char	*kid;
	enum key_alg	 alg;
	enum key_status	 status;
	const char	*private_pem;
	long long	 created_at;
	long long	 retired_at;		/* previous keys */
};

/* A user's authenticator (lib/mfa/mfa_store.c); written by latchkey. */
struct authenticator {
	json_t		*json;			/* owned */
	const char	*id;			/* "totp|dev_<hex>", ... */
	const char	*user_id;
	enum mfa_type	 type;
	int		 active;		/* confirmed by a verification */
	const char	*secret;		/* TOTP secret, sealed (mfa_seal) */
	const char	*code_hash;		/* recovery code: hash_secret() */
	enum mfa_channel channel;		/* oob: sms or email */
	const char	*recipient;		/* oob: the phone or email */
	long long	 last_step;		/* the last TOTP step accepted */
	long long	 created_at;
};

/* The field table of a kind, ending with a NULL name. */
const struct fdef *record_fields(enum rec_kind);
/* The kind's name ("tenant", "client", ...), and the one it has. */
const char	*record_name(enum rec_kind);
enum rec_kind	 record_kind(const char *name);	/* REC__MAX: none */
/* The database the kind is stored in. */
enum store_kind	 record_store(enum rec_kind);
/* The field of kind called name, or NULL. */
const struct fdef *record_field(enum rec_kind, const char *name);

/*
 * Parse json (a reference is taken) into out, the kind's struct: type
 * checks, defaults for absent members, out-of-range integers clamped to
 * the range (logged).  0, or -1 when json is not an object or a member
 * has the wrong type (logged; out is cleared).
 */
int		 record_parse(enum rec_kind, json_t *json, void *out);
/* Release what record_parse filled (the json reference); zeroes out. */
void		 record_clear(enum rec_kind, void *rec);
/* store_get then record_parse.  STORE_ERR on a record that does not
 * parse. */
enum store_rc	 record_get(struct store *, struct txn *, enum rec_kind,
		    const char *key, void *out);
/* The tenant (SK_META "tenant"), as record_get. */
enum store_rc	 tenant_load(struct store *, struct txn *, struct tenant *);

/* The size of the kind's struct. */
size_t		 record_size(enum rec_kind);

/*
 * record_cache.c: a responder's parsed configuration records (the kinds
 * store_gen_watched names, and the signing key picked), valid while the
 * store's generation is unchanged.  record_cache_begin at a request's
 * start reads the generation (dropping every copy when it moved, or
 * caching nothing this request when it cannot be read); until
 * record_cache_end, record_get answers from the copies and keeps what
 * it parses.  record_cache_drop forgets everything and caches nothing
 * until the next begin (a watched write of this process does it).
 */
#define RECORD_CACHE_MAX	64	/* records kept, least recently used out */
void		 record_cache_begin(struct store *);
void		 record_cache_end(void);
void		 record_cache_drop(void);
/* 0 with out filled as record_get would (a reference taken), or -1:
 * not kept, or not now. */
int		 record_cache_get(struct store *, enum rec_kind,
		    const char *key, void *out);
/* Keep a copy of rec (as record_get filled it) when caching now. */
void		 record_cache_put(struct store *, enum rec_kind,
		    const char *key, const void *rec);
/* The signing key picked this generation (*found: picked already; the
 * key, a new reference, may be NULL: no current key), and keeping it. */
json_t		*record_cache_signkey(struct store *, int *found);
void		 record_cache_signkey_set(struct store *, json_t *key);
/* What the cache did in this process (tests, measurements). */
struct record_cache_stats {
	unsigned long	 hits, misses, evictions, drops;
	size_t		 entries;
};
void		 record_cache_stats(struct record_cache_stats *);

/*
 * Admin input: check every member of spec (null means "remove", allowed
 * for optional fields; FW_STORED fields are unknown).  0, or -1 with err
 * ("what: field: why").
 */
int		 record_check(enum rec_kind, const json_t *spec,
		    const char *what, char *err, size_t errsz);
/* The first required field rec lacks, or NULL. */
const char	*record_missing(enum rec_kind, const json_t *rec);
/* NULL when v is a good value of field f, else why not. */
const char	*record_value_problem(const struct fdef *f, const json_t *v);
/* Copy spec into rec: null removes, settings objects (FT_HASHPOL,
 * FT_REFRESH, FT_GUARD objects) merge member by member. */
void		 record_merge(json_t *rec, const json_t *spec);
/* A copy of rec without its secrets; a password hash is replaced by its
 * format ("password_hash_alg").  NULL on ENOMEM. */
json_t		*record_redact(const json_t *rec);
/* Client public keys: fill in each key's alg and kid (RFC 7638
 * thumbprint, else random).  0 or -1. */
int		 record_keys_normalize(json_t *keys);

#endif /* !LATCHKEY_RECORD_H */
