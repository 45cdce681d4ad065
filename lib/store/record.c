/*
 * Typed records (record.h): each stored kind declared once, as a table of
 * its fields, and a stored record parsed into its struct from it.
 * Checking admin input and printing are in record_check.c.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

/* ------------------------------------------------------------------ */
/* Vocabularies owned here.                                            */

static const char *const strategies[STRATEGY__MAX] = {
	[STRATEGY_AUTH0] = "auth0",
	[STRATEGY_SMS] = "sms",
	[STRATEGY_EMAIL] = "email",
	[STRATEGY_WAAD] = "waad",
	[STRATEGY_ADFS] = "adfs",
	[STRATEGY_AD] = "ad",
};
static const char *const dir_schemas[DIRSCHEMA__MAX] = {
	[DIRSCHEMA_OPENLDAP] = "openldap",
	[DIRSCHEMA_AD] = "activedirectory",
};
static const char *const app_types[APP__MAX] = {
	[APP_REGULAR_WEB] = "regular_web",
	[APP_NON_INTERACTIVE] = "non_interactive",
	[APP_SPA] = "spa",
	[APP_NATIVE] = "native",
};
static const char *const key_statuses[KEYST__MAX] = {
	[KEYST_NEXT] = "next",
	[KEYST_CURRENT] = "current",
	[KEYST_PREVIOUS] = "previous",
};

static const char *
strategy_name(size_t i)
{
	return i < STRATEGY__MAX ? strategies[i] : NULL;
}

static const char *
dir_schema_name(size_t i)
{
	return i < DIRSCHEMA__MAX ? dir_schemas[i] : NULL;
}

const struct vocab dir_schema_vocab = { "directory schema", DIRSCHEMA__MAX,
	dir_schema_name };

static const char *
app_type_name(size_t i)
{
	return i < APP__MAX ? app_types[i] : NULL;
}

static const char *
key_status_name(size_t i)
{
	return i < KEYST__MAX ? key_statuses[i] : NULL;
}

/* A client's id_token_alg: RS256 or HS256 (a key_alg_vocab subset). */
static const char *
idt_alg_name(size_t i)
{
	return i == KEY_RS256 || i == KEY_HS256 ?
	    key_alg_name((enum key_alg)i) : NULL;
}

/* Signing keys: RS256 or ES256. */
static const char *
sign_alg_name(size_t i)
{
	return i == KEY_RS256 || i == KEY_ES256 ?
	    key_alg_name((enum key_alg)i) : NULL;
}

/* The grant types a client may hold. */
static const char *
client_grant_name(size_t i)
{
	if (i >= GT__MAX ||
	    !(grant_type_def((enum grant_type)i)->where & GT_CLIENT))
		return NULL;
	return grant_type_def((enum grant_type)i)->uri;
}

const struct vocab strategy_vocab = { "strategy", STRATEGY__MAX,
	strategy_name };
const struct vocab app_type_vocab = { "application type", APP__MAX,
	app_type_name };
const struct vocab key_status_vocab = { "key status", KEYST__MAX,
	key_status_name };
static const struct vocab idt_alg_vocab = { "ID token algorithm", KEY__MAX,
	idt_alg_name };
static const struct vocab sign_alg_vocab = { "signing algorithm", KEY__MAX,
	sign_alg_name };
static const struct vocab client_grant_vocab = { "grant type", GT__MAX,
	client_grant_name };

/* ------------------------------------------------------------------ */
/* The tables.                                                         */

#define F(name, type, min, max, vocab, req, who, def, st, m) \
	{ name, type, min, max, vocab, req, who, def, offsetof(st, m) }
#define N(name, type, min, max, vocab, req, who, def) \
	{ name, type, min, max, vocab, req, who, def, REC_NONE }
#define END	{ NULL, FT_TEXT, 0, 0, NULL, 0, FW_ADMIN, 0, REC_NONE }

#define T(n, ty, mn, mx, v, r, d, m) \
	F(n, ty, mn, mx, v, r, FW_ADMIN, d, struct tenant, m)
static const struct fdef tenant_fields[] = {
	T("issuer", FT_URL, 1, REC_ID_LEN, NULL, 1, 0, issuer),
	T("default_directory", FT_NAME, 1, REC_NAME_LEN, NULL, 0, 0,
	    default_directory),
	T("default_audience", FT_ID, 1, REC_ID_LEN, NULL, 0, 0,
	    default_audience),
	/* Import only: the signing key's algorithm. */
	N("alg", FT_ENUM, 0, 0, &sign_alg_vocab, 0, FW_INPUT, KEY_RS256),
	T("hash", FT_HASHPOL, 0, 0, NULL, 0, 0, hash),
	T("allow_legacy_ro", FT_BOOL, 0, 0, NULL, 0, 1, allow_legacy_ro),
	/* Admission control for password hashing (admit.c). */
	T("hash_slots", FT_INT, 1, 64, NULL, 0, 0, hash_slots),
	T("hash_queue", FT_INT, 0, 1024, NULL, 0, -1, hash_queue),
	T("hash_wait_ms", FT_INT, 1, 60000, NULL, 0, 0, hash_wait_ms),
	T("login_queue_budget_ms", FT_INT, 0, 60000, NULL, 0, -1,
	    login_queue_budget_ms),
	/* Attack protection (guard.c, breached.c, audit.c). */
	T("brute_force", FT_GUARD, 0, 0, NULL, 0, 0, brute_force),
	T("suspicious_ip", FT_GUARD, 0, 0, NULL, 0, 0, suspicious_ip),
	T("rate_limit", FT_GUARD, 0, 0, NULL, 0, 0, rate_limit),
	T("breached_password_file", FT_GUARD, 0, 0, NULL, 0, 0,
	    breached_password_file),
	T("breached_password_detection", FT_BOOL, 0, 0, NULL, 0, 1,
	    breached_password_detection),
	T("audit_retention_days", FT_INT, 1, 3650, NULL, 0, 30,
	    audit_retention_days),
	/* Auth0's Resource Parameter Compatibility Profile (dpop_conf.c). */
	T("resource_parameter_profile", FT_ENUM, 0, 0, &dpop_resprof_vocab,
	    0, DPOP_RESPROF_AUDIENCE, resource_profile),
	/* Multi-factor authentication (docs/COMPAT.md 13.1). */
	T("mfa", FT_ENUM, 0, 0, &mfa_policy_vocab, 0, MFA_NEVER, mfa),
	END
};

#define C(n, ty, mn, mx, v, r, d, m) \
	F(n, ty, mn, mx, v, r, FW_ADMIN, d, struct client_rec, m)
static const struct fdef client_fields[] = {
	C("client_id", FT_ID, 1, REC_NAME_LEN, NULL, 1, 0, client_id),
	C("name", FT_TEXT, 1, REC_NAME_LEN, NULL, 1, 0, name),
	N("client_secret", FT_TEXT, REC_SECRET_MIN, REC_SECRET_MAX, NULL, 0,
	    FW_INPUT, 0),
	F("secret_hash", FT_ID, 1, 128, NULL, 0, FW_STORED, 0,
	    struct client_rec, secret_hash),
	C("app_type", FT_ENUM, 0, 0, &app_type_vocab, 1, APP_REGULAR_WEB,
	    app_type),
	C("token_endpoint_auth_method", FT_ENUM, 0, 0, &client_auth_vocab, 1,
	    CLIENT_AUTH_SECRET_POST, auth_method),
	C("grant_types", FT_LIST, 0, 0, &client_grant_vocab, 1, 0, grants),
	C("id_token_alg", FT_ENUM, 0, 0, &idt_alg_vocab, 1, KEY_RS256,
	    id_token_alg),
	C("id_token_lifetime", FT_INT, REC_LIFETIME_MIN, REC_LIFETIME_MAX,
	    NULL, 1, 36000, id_token_lifetime),
	C("public_keys", FT_KEYS, 0, 0, NULL, 0, 0, public_keys),
	C("refresh_token", FT_REFRESH, 0, 0, NULL, 0, 0, refresh_token),
	/* Auth0's "Trust Token Endpoint IP Header" (guard_net.c). */
	C("is_token_endpoint_ip_header_trusted", FT_BOOL, 0, 0, NULL, 0, 0,
	    ip_header_trusted),
	/* RFC 9449: DPoP required of the client (grant_dpop.c). */
	C("require_proof_of_possession", FT_BOOL, 0, 0, NULL, 0, 0,
	    require_pop),
	/* Auth0's "Allowed Origins (CORS)" and "Allowed Web Origins", up to
	 * 100 each (docs/COMPAT.md 11.1). */
	C("allowed_origins", FT_ORIGINS, 0, REC_LIST_MAX, NULL, 0, 0,
	    allowed_origins),
	C("web_origins", FT_ORIGINS, 0, REC_LIST_MAX, NULL, 0, 0,
	    web_origins),
	END
};

#define K(n, ty, mn, mx, v, r, d, m) \
	F(n, ty, mn, mx, v, r, FW_ADMIN, d, struct conn, m)
static const struct fdef connection_fields[] = {
	K("name", FT_NAME, 1, REC_NAME_LEN, NULL, 1, 0, name),
	K("strategy", FT_ENUM, 0, 0, &strategy_vocab, 1, STRATEGY_AUTH0,
	    strategy),
	K("enabled_clients", FT_REFS, 1, REC_ID_LEN, NULL, 1, 0,
	    enabled_clients),
	/* Passwordless connections (pwl_code.c, courier.c, deliver.c). */
	K("delivery_command", FT_ARGV, 1, REC_TEXT_LEN, NULL, 0, 0,
	    delivery_command),
	K("otp_lifetime", FT_INT, 1, 3600, NULL, 0, PWL_LIFETIME_DEFAULT,
	    otp_lifetime),
	K("delivery_timeout", FT_INT, 1, 60, NULL, 0, 10, delivery_timeout),
	/* Azure AD and ADFS connections (lib/directory/extconn.c says which
	 * a strategy requires; docs/COMPAT.md 12). */
	K("token_url", FT_URL, 1, REC_ID_LEN, NULL, 0, 0, token_url),
	K("jwks_url", FT_URL, 1, REC_ID_LEN, NULL, 0, 0, jwks_url),
	K("upstream_issuer", FT_URL, 1, REC_ID_LEN, NULL, 0, 0,
	    upstream_issuer),
	K("tenant_id", FT_ID, 1, REC_NAME_LEN, NULL, 0, 0, tenant_id),
	K("upstream_client_id", FT_ID, 1, REC_NAME_LEN, NULL, 0, 0,
	    upstream_client_id),
	K("upstream_client_secret", FT_TEXT, 1, REC_SECRET_MAX, NULL, 0, 0,
	    upstream_client_secret),
	K("upstream_scope", FT_TEXT, 1, REC_ID_LEN, NULL, 0, 0,
	    upstream_scope),
	K("upstream_resource", FT_ID, 1, REC_ID_LEN, NULL, 0, 0,
	    upstream_resource),
	K("ca_file", FT_TEXT, 2, REC_ID_LEN, NULL, 0, 0, ca_file),
	K("user_id_attribute", FT_NAME, 1, 64, NULL, 0, 0, user_id_attribute),
	K("upstream_timeout_ms", FT_INT, 100, 60000, NULL, 0, 10000,
	    upstream_timeout_ms),
	K("upstream_connect_timeout_ms", FT_INT, 100, 30000, NULL, 0, 3000,
	    upstream_connect_timeout_ms),
	K("jwks_refresh_min", FT_INT, 0, 3600, NULL, 0, 60, jwks_refresh_min),
	/* AD/LDAP connections (lib/directory/ldapconn.c says which a
	 * connection requires; docs/COMPAT.md 14). */
	K("ldap_url", FT_TEXT, 8, REC_TEXT_LEN, NULL, 0, 0, ldap_url),
	K("ldap_starttls", FT_BOOL, 0, 0, NULL, 0, 1, ldap_starttls),
	K("ldap_schema", FT_ENUM, 0, 0, &dir_schema_vocab, 0,
	    DIRSCHEMA_OPENLDAP, ldap_schema),
	K("ldap_bind_dn", FT_TEXT, 1, REC_ID_LEN, NULL, 0, 0, ldap_bind_dn),
	K("ldap_bind_password", FT_TEXT, 1, REC_SECRET_MAX, NULL, 0, 0,
	    ldap_bind_password),
	K("ldap_base_dn", FT_TEXT, 1, REC_ID_LEN, NULL, 0, 0, ldap_base_dn),
	K("ldap_filter", FT_TEXT, 8, REC_ID_LEN, NULL, 0, 0, ldap_filter),
	K("ldap_user_dn", FT_TEXT, 8, REC_ID_LEN, NULL, 0, 0, ldap_user_dn),
	K("ldap_upn_domain", FT_TEXT, 1, REC_NAME_LEN, NULL, 0, 0,
	    ldap_upn_domain),
	K("ldap_groups", FT_BOOL, 0, 0, NULL, 0, 0, ldap_groups),
	K("ldap_group_attribute", FT_NAME, 1, 64, NULL, 0, 0,
	    ldap_group_attribute),
	END
};

#define A(n, ty, mn, mx, v, r, d, m) \
	F(n, ty, mn, mx, v, r, FW_ADMIN, d, struct api, m)
static const struct fdef api_fields[] = {
	A("identifier", FT_ID, 1, REC_ID_LEN, NULL, 1, 0, identifier),
	A("name", FT_TEXT, 1, REC_NAME_LEN, NULL, 1, 0, name),
	A("scopes", FT_LIST, 1, 280, NULL, 1, 0, scopes),
	/* From 1 s: short-lived tokens are what expiry tests need. */
	A("token_lifetime", FT_INT, 1, REC_LIFETIME_MAX, NULL, 1, 86400,
	    token_lifetime),
	A("allow_offline_access", FT_BOOL, 0, 0, NULL, 1, 0,
	    allow_offline_access),
	A("proof_of_possession", FT_POP, 0, 0, NULL, 0, 0,
	    proof_of_possession),
	END
};

#define U(n, ty, mn, mx, r, m) \
	F(n, ty, mn, mx, NULL, r, FW_ADMIN, 0, struct user, m)
#define UP(n)	N(n, FT_TEXT, 1, REC_TEXT_LEN, NULL, 0, FW_ADMIN, 0)
static const struct fdef user_fields[] = {
	U("user_id", FT_ID, 3, 192, 1, user_id),
	U("connection", FT_NAME, 1, REC_NAME_LEN, 1, connection),
	U("email", FT_EMAIL, 3, REC_ID_LEN, 0, email),
	U("username", FT_ID, 1, REC_NAME_LEN, 0, username),
	U("phone_number", FT_PHONE, 2, 16, 0, phone_number),
	N("password", FT_TEXT, 1, REC_PW_LEN, NULL, 0, FW_INPUT, 0),
	U("password_hash", FT_PWHASH, 4, HASH_ENCODED_MAX, 0, password_hash),
	U("email_verified", FT_BOOL, 0, 0, 0, email_verified),
	U("phone_verified", FT_BOOL, 0, 0, 0, phone_verified),
	U("blocked", FT_BOOL, 0, 0, 0, blocked),
	F("password_set_at", FT_INT, 0, INT64_MAX, NULL, 0, FW_STORED, 0,
	    struct user, password_set_at),
	/* The user's override of the tenant's mfa (docs/COMPAT.md 13.1). */
	F("mfa", FT_ENUM, 0, 0, &mfa_user_vocab, 0, FW_ADMIN, MFA_USER_TENANT,
	    struct user, mfa),
	/* OpenID Connect Core 5.1 standard claims (scope.c releases them). */
	UP("name"), UP("given_name"), UP("family_name"), UP("middle_name"),
	UP("nickname"), UP("preferred_username"), UP("profile"),
	UP("picture"), UP("website"), UP("gender"), UP("birthdate"),
	UP("zoneinfo"), UP("locale"),
	N("address", FT_OBJ, 0, 0, NULL, 0, FW_ADMIN, 0),
	/* A directory user's groups (shadow.c; docs/COMPAT.md 14.4): at
	 * most REC_LIST_MAX, each at most REC_GROUP_LEN bytes. */
	N("groups", FT_REFS, 1, REC_GROUP_LEN, NULL, 0, FW_STORED, 0),
	U("app_metadata", FT_OBJ, 0, 0, 0, app_metadata),
	U("user_metadata", FT_OBJ, 0, 0, 0, user_metadata),
	END
};

#define Y(n, ty, mn, mx, v, r, d, m) \
	F(n, ty, mn, mx, v, r, FW_STORED, d, struct keyrec, m)
static const struct fdef key_fields[] = {
	Y("kid", FT_ID, 1, REC_NAME_LEN, NULL, 1, 0, kid),
	Y("alg", FT_ENUM, 0, 0, &sign_alg_vocab, 1, KEY_RS256, alg),
	Y("status", FT_ENUM, 0, 0, &key_status_vocab, 1, KEYST_NEXT, status),
	Y("private_pem", FT_TEXT, 1, REC_PEM_LEN, NULL, 1, 0, private_pem),
	Y("created_at", FT_INT, 0, INT64_MAX, NULL, 1, 0, created_at),
	Y("retired_at", FT_INT, 0, INT64_MAX, NULL, 0, 0, retired_at),
	END
};

#define M(n, ty, mn, mx, v, r, d, m) \
	F(n, ty, mn, mx, v, r, FW_STORED, d, struct authenticator, m)
static const struct fdef authenticator_fields[] = {
	M("id", FT_ID, 1, REC_NAME_LEN, NULL, 1, 0, id),
	M("user_id", FT_ID, 3, 192, NULL, 1, 0, user_id),
	M("type", FT_ENUM, 0, 0, &mfa_type_vocab, 1, MFA_TYPE_OTP, type),
	M("active", FT_BOOL, 0, 0, NULL, 1, 0, active),
	M("secret", FT_ID, 1, 512, NULL, 0, 0, secret),
	M("code_hash", FT_ID, 1, 128, NULL, 0, 0, code_hash),
	M("oob_channel", FT_ENUM, 0, 0, &mfa_channel_vocab, 0, MFA_CHAN_SMS,
	    channel),
	M("recipient", FT_ID, 1, REC_ID_LEN, NULL, 0, 0, recipient),
	M("last_step", FT_INT, 0, INT64_MAX, NULL, 0, 0, last_step),
	M("created_at", FT_INT, 0, INT64_MAX, NULL, 1, 0, created_at),
	END
};

static void	 tenant_finish(void *);

static const struct kind {
	const char		*name;
	enum store_kind		 sk;
	const struct fdef	*fields;
	size_t			 size;
	void			 (*finish)(void *);	/* derived members */
} kinds[REC__MAX] = {
	[REC_TENANT] = { "tenant", SK_META, tenant_fields,
	    sizeof(struct tenant), tenant_finish },
	[REC_CLIENT] = { "client", SK_CLIENT, client_fields,
	    sizeof(struct client_rec), NULL },
	[REC_CONNECTION] = { "connection", SK_CONNECTION, connection_fields,
	    sizeof(struct conn), NULL },
	[REC_API] = { "api", SK_API, api_fields, sizeof(struct api), NULL },
	[REC_USER] = { "user", SK_USER, user_fields, sizeof(struct user),
	    NULL },
	[REC_KEY] = { "key", SK_KEY, key_fields, sizeof(struct keyrec),
	    NULL },
	[REC_AUTHENTICATOR] = { "authenticator", SK_MFA, authenticator_fields,
	    sizeof(struct authenticator), NULL },
};

/* Every kind's struct starts with its json. */
_Static_assert(offsetof(struct tenant, json) == 0, "json first");
_Static_assert(offsetof(struct client_rec, json) == 0, "json first");
_Static_assert(offsetof(struct conn, json) == 0, "json first");
_Static_assert(offsetof(struct api, json) == 0, "json first");
_Static_assert(offsetof(struct user, json) == 0, "json first");
_Static_assert(offsetof(struct keyrec, json) == 0, "json first");
_Static_assert(offsetof(struct authenticator, json) == 0, "json first");
/* Enum members are stored as int. */
_Static_assert(sizeof(enum key_alg) == sizeof(int), "enum size");
_Static_assert(sizeof(enum dpop_resprof) == sizeof(int), "enum size");

static void
tenant_finish(void *p)
{
	struct tenant	*t = p;

	hash_policy_parse(t->hash, &t->hash_policy);
	guard_conf_parse(t, &t->guard);
}

const struct fdef *
record_fields(enum rec_kind k)
{
	return kinds[k].fields;
}

const char *
record_name(enum rec_kind k)
{
	return kinds[k].name;
}

enum rec_kind
record_kind(const char *name)
{
	size_t	 k;

	for (k = 0; k < REC__MAX; k++)
		if (strcmp(kinds[k].name, name) == 0)
			break;
	return (enum rec_kind)k;
}

enum store_kind
record_store(enum rec_kind k)
{
	return kinds[k].sk;
}

const struct fdef *
record_field(enum rec_kind k, const char *name)
{
	const struct fdef *f;

	for (f = kinds[k].fields; f->name != NULL; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Parsing a stored record.                                            */

static int
is_string_type(enum ftype t)
{
	return t <= FT_PWHASH;
}

/* The bit set of a list of vocabulary names; unknown names are left out
 * (a grant type a later release dropped). */
static unsigned
list_bits(const struct vocab *v, const json_t *a)
{
	const json_t	*e;
	unsigned	 bits = 0;
	size_t		 i;
	int		 x;

	json_array_foreach(a, i, e)
		if ((x = vocab_find(v, json_string_value(e))) >= 0 && x < 32)
			bits |= 1u << x;
	return bits;
}

/* An integer member: the default when absent, clamped to the field's
 * range (logged) when a record written by other means holds more. */
static int
parse_int(const struct fdef *f, const json_t *v, long long *out,
    const char *kind)
{
	long long	 i;

	*out = f->def;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return -1;
	i = json_integer_value(v);
	if (i < f->min || i > f->max) {
		lk_warn("%s %s: %lld out of range %lld-%lld: clamped",
		    kind, f->name, i, f->min, f->max);
		i = i < f->min ? f->min : f->max;
	}
	*out = i;
	return 0;
}

/* One member into the struct at base.  0 or -1 (wrong type). */
static int
parse_field(const struct fdef *f, const json_t *v, char *base,
    const char *kind)
{
	char	*m = base + f->off;
	int	 x;

	if (v != NULL && json_is_null(v))
		v = NULL;
	if (is_string_type(f->type)) {
		if (v != NULL && !json_is_string(v))
			return -1;
		*(const char **)(void *)m = json_string_value(v);
		return 0;
	}
	switch (f->type) {
	case FT_INT:
		return parse_int(f, v, (long long *)(void *)m, kind);
	case FT_BOOL:
		if (v != NULL && !json_is_boolean(v))
			return -1;
		*(int *)(void *)m = v != NULL ? json_is_true(v) : (int)f->def;
		return 0;
	case FT_ENUM:
		x = v != NULL ? vocab_find(f->vocab, json_string_value(v)) :
		    (int)f->def;
		if (x < 0)
			return -1;
		*(int *)(void *)m = x;
		return 0;
	case FT_LIST:
	case FT_ORIGINS:
		if (v != NULL && !json_is_array(v))
			return -1;
		if (f->vocab != NULL)
			*(unsigned *)(void *)m = v != NULL ?
			    list_bits(f->vocab, v) : 0;
		else
			*(const json_t **)(void *)m = v;
		return 0;
	default:
		*(const json_t **)(void *)m = v;
		return 0;
	}
}

int
record_parse(enum rec_kind k, json_t *json, void *out)
{
	const struct kind *kd = &kinds[k];
	const struct fdef *f;

	memset(out, 0, kd->size);
	if (!json_is_object(json)) {
		lk_err("%s record: not an object", kd->name);
		return -1;
	}
	for (f = kd->fields; f->name != NULL; f++) {
		if (f->off == REC_NONE)
			continue;
		if (parse_field(f, json_object_get(json, f->name), out,
		    kd->name) == -1) {
			lk_err("%s record: %s: wrong type", kd->name, f->name);
			memset(out, 0, kd->size);
			return -1;
		}
	}
	*(json_t **)out = json_incref(json);
	if (kd->finish != NULL)
		kd->finish(out);
	return 0;
}

void
record_clear(enum rec_kind k, void *rec)
{
	if (rec == NULL)
		return;
	json_decref(*(json_t **)rec);
	memset(rec, 0, kinds[k].size);
}

size_t
record_size(enum rec_kind k)
{
	return kinds[k].size;
}

/* A responder's request answers configuration records from its cache
 * (record_cache.c), in a transaction or not: a write of such a record
 * in the request itself stops the caching until the next request. */
enum store_rc
record_get(struct store *s, struct txn *t, enum rec_kind k, const char *key,
    void *out)
{
	json_t		*json = NULL;
	enum store_rc	 rc;

	memset(out, 0, kinds[k].size);
	if (record_cache_get(s, k, key, out) == 0)
		return STORE_OK;
	if ((rc = store_get(s, t, kinds[k].sk, key, &json)) != STORE_OK)
		return rc;
	rc = record_parse(k, json, out) == 0 ? STORE_OK : STORE_ERR;
	json_decref(json);
	if (rc == STORE_OK)
		record_cache_put(s, k, key, out);
	return rc;
}

enum store_rc
tenant_load(struct store *s, struct txn *t, struct tenant *out)
{
	return record_get(s, t, REC_TENANT, "tenant", out);
}
