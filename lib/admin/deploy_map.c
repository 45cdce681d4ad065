/*
 * Auth0 Deploy CLI exports (deploy_read.c's shape) mapped to a
 * `latchkeyctl import` document, with a report of what was imported,
 * mapped approximately, skipped, and which clients need a secret.
 *
 * The fields are the Management API's, as the Deploy CLI writes them
 * (github.com/auth0/auth0-deploy-cli, src/context/yaml/handlers and
 * src/context/directory/handlers):
 *  tenant: https://auth0.com/docs/api/management/v2/tenants/patch-settings
 *  clients: https://auth0.com/docs/api/management/v2/clients/post-clients
 *  resourceServers:
 *    https://auth0.com/docs/api/management/v2/resource-servers/post-resource-servers
 *  databases, connections:
 *    https://auth0.com/docs/api/management/v2/connections/post-connections
 *  attackProtection:
 *    https://auth0.com/docs/api/management/v2/attack-protection/patch-brute-force-protection
 *    https://auth0.com/docs/api/management/v2/attack-protection/patch-suspicious-ip-throttling
 *    https://auth0.com/docs/api/management/v2/attack-protection/patch-breached-password-detection
 * Each kind is one table: Auth0 field, latchkey field, converter.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define PATH_MAX_LEN	256	/* a field's place in its item */

/* The report's lists. */
enum rlist { RL_IMPORTED, RL_APPROX, RL_SKIPPED, RL_SECRETS, RL__MAX };
static const char *const rlists[RL__MAX] = {
	[RL_IMPORTED] = "imported",
	[RL_APPROX] = "approximate",
	[RL_SKIPPED] = "skipped",
	[RL_SECRETS] = "secrets_needed",
};

struct mctx {
	json_t		*report;
	json_t		*names;		/* the export's client names and ids */
	enum rec_kind	 rk;		/* the latchkey kind being built */
	const char	*kind;		/* its report name: "client" */
	const char	*item;		/* the item's name */
	char		 where[PATH_MAX_LEN];	/* "clients[0] (App)" */
	char		 path[PATH_MAX_LEN];	/* the field within the item */
	char		*err;
	size_t		 errsz;
};

struct fmap;
typedef int	(*fconv)(struct mctx *, const struct fmap *, const json_t *,
		    json_t *);

/*
 * One Auth0 field: to its latchkey field by conv (NULL: copied as it
 * is), into a nested table (sub), or, with neither to nor sub, skipped
 * (why).  An approximate converter reports why.
 */
struct fmap {
	const char		*from;
	const char		*to;	/* "a.b" nests */
	fconv			 conv;
	const struct fmap	*sub;
	const char		*why;
};

#define FMAP_END	{ NULL, NULL, NULL, NULL, NULL }

static const char *const why_default = "not used by latchkey's token "
	"endpoints";
static const char *const why_browser = "browser flows (/authorize, "
	"logout, web origins) are not served (docs/COMPAT.md)";

static void
rep(struct mctx *m, enum rlist l, const char *kind, const char *name,
    const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Append {"kind", "name", "why"} to the report's list l. */
static void
rep(struct mctx *m, enum rlist l, const char *kind, const char *name,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 why[512];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	json_array_append_new(json_object_get(m->report, rlists[l]),
	    json_pack("{ssssss}", "kind", kind, "name", name, "why", why));
}

/* A field of the current item, for the report: "App.jwt_configuration.alg". */
static void
rep_field(struct mctx *m, enum rlist l, const char *why)
{
	char	 kind[64], name[PATH_MAX_LEN + REC_NAME_LEN];

	snprintf(kind, sizeof(kind), "%s field", m->kind);
	snprintf(name, sizeof(name), "%s.%s", m->item, m->path);
	rep(m, l, kind, name, "%s", why);
}

static int
merr(struct mctx *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* err: "clients[0] (App): jwt_configuration: why".  Returns -1. */
static int
merr(struct mctx *m, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	n = snprintf(m->err, m->errsz, "%s: ", m->where);
	if (n < 0 || (size_t)n >= m->errsz)
		return -1;
	va_start(ap, fmt);
	vsnprintf(m->err + n, m->errsz - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* out[to] = v (owned), to "a" or "a.b". */
static void
put(json_t *out, const char *to, json_t *v)
{
	const char	*dot = strchr(to, '.');
	char		 head[64];
	json_t		*sub;

	if (dot == NULL) {
		json_object_set_new(out, to, v);
		return;
	}
	snprintf(head, sizeof(head), "%.*s", (int)(dot - to), to);
	if ((sub = json_object_get(out, head)) == NULL) {
		sub = json_object();
		json_object_set_new(out, head, sub);
	}
	json_object_set_new(sub, dot + 1, v);
}

/* Nothing that a skipped field would lose: null, false, "", [], {}. */
static int
is_empty(const json_t *v)
{
	return json_is_null(v) || json_is_false(v) ||
	    (json_is_string(v) && json_string_length(v) == 0) ||
	    (json_is_array(v) && json_array_size(v) == 0) ||
	    (json_is_object(v) && json_object_size(v) == 0);
}

/* ------------------------------------------------------------------ */
/* Converters.                                                         */

/* The latchkey field a converter fills (its last component). */
static const struct fdef *
target(const struct mctx *m, const struct fmap *f)
{
	const char	*dot = strchr(f->to, '.');

	return record_field(m->rk, dot != NULL ? dot + 1 : f->to);
}

/* An integer clamped to the latchkey field's range (approximate). */
static int
cv_clamp(struct mctx *m, const struct fmap *f, const json_t *v, json_t *out)
{
	const struct fdef *fd = target(m, f);
	json_int_t	 i;
	char		 why[128];

	if (!json_is_integer(v))
		return merr(m, "%s: not an integer", m->path);
	i = json_integer_value(v);
	if (fd != NULL && (i < fd->min || i > fd->max)) {
		i = i < fd->min ? fd->min : fd->max;
		snprintf(why, sizeof(why), "%lld is outside latchkey's "
		    "%lld-%lld: set to %lld", json_integer_value(v), fd->min,
		    fd->max, (long long)i);
		rep_field(m, RL_APPROX, why);
	}
	put(out, f->to, json_integer(i));
	return 0;
}

/* A name of the latchkey field's vocabulary, else its default
 * (approximate). */
static int
cv_enum(struct mctx *m, const struct fmap *f, const json_t *v, json_t *out)
{
	const struct fdef *fd = target(m, f);
	char		 why[256];

	if (!json_is_string(v))
		return merr(m, "%s: not a string", m->path);
	if (fd != NULL && record_value_problem(fd, v) == NULL) {
		put(out, f->to, json_deep_copy(v));
		return 0;
	}
	snprintf(why, sizeof(why), "%s is not served: latchkey's default "
	    "(%s) is kept", json_string_value(v), fd != NULL ?
	    vocab_name(fd->vocab, (size_t)fd->def) : "none");
	rep_field(m, RL_APPROX, why);
	return 0;
}

/* Grant types: those a latchkey client holds; the others skipped. */
static int
cv_grants(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	json_t		*keep = json_array();
	const json_t	*g;
	size_t		 i;
	char		 name[REC_NAME_LEN + 128];

	if (!json_is_array(v)) {
		json_decref(keep);
		return merr(m, "%s: not an array", m->path);
	}
	json_array_foreach(v, i, g) {
		if (!json_is_string(g)) {
			json_decref(keep);
			return merr(m, "%s[%zu]: not a string", m->path, i);
		}
		if (grant_type_find(json_string_value(g), GT_CLIENT) !=
		    GT__MAX) {
			json_array_append(keep, (json_t *)g);
			continue;
		}
		snprintf(name, sizeof(name), "%s: %s", m->item,
		    json_string_value(g));
		rep(m, RL_SKIPPED, "grant type", name, "latchkey serves the "
		    "password, password-realm, passwordless OTP, refresh "
		    "token, MFA and /oauth/ro grants only (docs/COMPAT.md)");
	}
	put(out, f->to, keep);
	return 0;
}

/* token_endpoint_auth_method: none, client_secret_post or
 * client_secret_basic (null when private_key_jwt is configured). */
static int
cv_auth(struct mctx *m, const struct fmap *f, const json_t *v, json_t *out)
{

	if (json_is_null(v))
		return 0;
	return cv_enum(m, f, v, out);
}

/* One private_key_jwt credential: {credential_type, name, pem, alg}. */
static int
cv_credential(struct mctx *m, const json_t *cr, size_t i, json_t *keys)
{
	const json_t	*pem = json_object_get(cr, "pem");
	const json_t	*alg = json_object_get(cr, "alg");
	char		 why[256];

	if (!json_is_object(cr))
		return merr(m, "%s[%zu]: not an object", m->path, i);
	if (!json_is_string(pem)) {
		snprintf(why, sizeof(why), "credential %zu has no pem "
		    "(export it with its public key)", i);
		rep_field(m, RL_SKIPPED, why);
		return 0;
	}
	if (alg != NULL && (!json_is_string(alg) ||
	    vocab_find(&key_alg_vocab, json_string_value(alg)) < 0)) {
		snprintf(why, sizeof(why), "credential %zu: algorithm not "
		    "served (RS256, ES256)", i);
		rep_field(m, RL_SKIPPED, why);
		return 0;
	}
	json_array_append_new(keys, json_pack("{sO*sO}", "alg", alg, "pem",
	    pem));
	return 0;
}

/*
 * client_authentication_methods.private_key_jwt.credentials: the
 * client's public keys, and private_key_jwt as its method
 * (https://auth0.com/docs/get-started/authentication-and-authorization-flow/authenticate-with-private-key-jwt).
 */
static int
cv_methods(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	const json_t	*creds, *cr;
	json_t		*keys;
	const char	*k;
	size_t		 i, len = strlen(m->path);
	int		 rc = 0;

	if (!json_is_object(v))
		return merr(m, "%s: not an object", m->path);
	json_object_foreach((json_t *)v, k, cr)
		if (strcmp(k, "private_key_jwt") != 0 && !is_empty(cr)) {
			snprintf(m->path + len, sizeof(m->path) - len, ".%s", k);
			rep_field(m, RL_SKIPPED, "mutual-TLS client "
			    "authentication is not served");
			m->path[len] = '\0';
		}
	creds = json_object_get(json_object_get(v, "private_key_jwt"),
	    "credentials");
	if (creds == NULL)
		return 0;
	if (!json_is_array(creds))
		return merr(m, "%s.private_key_jwt.credentials: not an array",
		    m->path);
	keys = json_array();
	json_array_foreach(creds, i, cr)
		if ((rc = cv_credential(m, cr, i, keys)) == -1)
			break;
	if (rc == 0 && json_array_size(keys) > 0) {
		put(out, "token_endpoint_auth_method",
		    json_string(vocab_name(&client_auth_vocab,
		    CLIENT_AUTH_PRIVATE_KEY_JWT)));
		put(out, f->to, json_incref(keys));
	}
	json_decref(keys);
	return rc;
}

/* refresh_token: each member refresh_conf.c accepts, the others
 * skipped (https://auth0.com/docs/secure/tokens/refresh-tokens/configure-refresh-token-rotation). */
static int
cv_refresh(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	json_t		*rt = json_object(), *one;
	const json_t	*x;
	const char	*k, *why;
	size_t		 len = strlen(m->path);

	if (!json_is_object(v)) {
		json_decref(rt);
		return merr(m, "%s: not an object", m->path);
	}
	json_object_foreach((json_t *)v, k, x) {
		one = json_pack("{sO}", k, x);
		if ((why = refresh_conf_problem(one)) == NULL)
			json_object_set(rt, k, (json_t *)x);
		else if (!is_empty(x)) {
			snprintf(m->path + len, sizeof(m->path) - len, ".%s", k);
			rep_field(m, RL_SKIPPED, why);
			m->path[len] = '\0';
		}
		json_decref(one);
	}
	if ((why = refresh_conf_problem(rt)) != NULL) {
		json_decref(rt);
		return merr(m, "%s: %s", m->path, why);
	}
	put(out, f->to, rt);
	return 0;
}

/* Resource-server scopes [{value, description}] to their values. */
static int
cv_scopes(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	json_t		*list = json_array();
	const json_t	*s, *val;
	size_t		 i;

	if (!json_is_array(v)) {
		json_decref(list);
		return merr(m, "%s: not an array", m->path);
	}
	json_array_foreach(v, i, s) {
		val = json_is_object(s) ? json_object_get(s, "value") : s;
		if (!json_is_string(val)) {
			json_decref(list);
			return merr(m, "%s[%zu]: no value", m->path, i);
		}
		json_array_append(list, (json_t *)val);
	}
	put(out, f->to, list);
	return 0;
}

/* An API's signing_alg: tokens are signed with the tenant's key. */
static int
cv_api_alg(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{

	(void)f;
	(void)out;
	if (!json_is_string(v))
		return merr(m, "%s: not a string", m->path);
	if (strcmp(json_string_value(v), key_alg_name(KEY_RS256)) != 0)
		rep_field(m, RL_APPROX, "access tokens are signed with the "
		    "tenant's signing key (RS256 unless the tenant's alg says "
		    "ES256)");
	return 0;
}

/* enabled_clients: names or client_ids of clients of the export. */
static int
cv_enabled(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	const json_t	*e;
	size_t		 i;

	if (!json_is_array(v))
		return merr(m, "%s: not an array", m->path);
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return merr(m, "%s[%zu]: not a string", m->path, i);
		if (json_object_get(m->names, json_string_value(e)) == NULL)
			return merr(m, "%s: no client named %.128s in the "
			    "export", m->path, json_string_value(e));
	}
	put(out, f->to, json_deep_copy(v));
	return 0;
}

/* Milliseconds to seconds (suspicious-IP throttling's rate). */
static int
cv_ms(struct mctx *m, const struct fmap *f, const json_t *v, json_t *out)
{
	json_int_t	 ms;

	if (!json_is_integer(v) || (ms = json_integer_value(v)) < 0)
		return merr(m, "%s: not a count of milliseconds", m->path);
	if (ms % 1000 != 0)
		rep_field(m, RL_APPROX, "rounded up to whole seconds");
	put(out, f->to, json_integer((ms + 999) / 1000));
	return 0;
}

/* An Auth0 setting that latchkey's differs from: mapped by the table's
 * sibling entries, reported with why. */
static int
cv_approx(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{

	(void)out;
	if (!is_empty(v))
		rep_field(m, RL_APPROX, f->why);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The tables.                                                         */

static const char *const why_sessions = "latchkey keeps no login "
	"sessions: browser flows are not served";

static const struct fmap tenant_map[] = {
	{ "default_directory", "default_directory", NULL, NULL, NULL },
	{ "default_audience", "default_audience", NULL, NULL, NULL },
	{ "session_lifetime", NULL, NULL, NULL, why_sessions },
	{ "idle_session_lifetime", NULL, NULL, NULL, why_sessions },
	{ "session_cookie", NULL, NULL, NULL, why_sessions },
	FMAP_END
};

static const struct fmap jwt_map[] = {
	{ "lifetime_in_seconds", "id_token_lifetime", cv_clamp, NULL, NULL },
	{ "alg", "id_token_alg", cv_enum, NULL, NULL },
	{ "secret_encoded", NULL, NULL, NULL, "HS256 ID tokens are signed "
	    "with the client secret as it is" },
	FMAP_END
};

static const struct fmap client_map[] = {
	{ "client_id", "client_id", NULL, NULL, NULL },
	{ "name", "name", NULL, NULL, NULL },
	{ "app_type", "app_type", cv_enum, NULL, NULL },
	{ "token_endpoint_auth_method", "token_endpoint_auth_method",
	    cv_auth, NULL, NULL },
	{ "client_authentication_methods", "public_keys", cv_methods, NULL,
	    NULL },
	{ "grant_types", "grant_types", cv_grants, NULL, NULL },
	{ "jwt_configuration", NULL, NULL, jwt_map, NULL },
	{ "refresh_token", "refresh_token", cv_refresh, NULL, NULL },
	{ "is_token_endpoint_ip_header_trusted",
	    "is_token_endpoint_ip_header_trusted", NULL, NULL, NULL },
	{ "client_secret", NULL, NULL, NULL, "an export's secret is not "
	    "imported: see secrets_needed" },
	{ "callbacks", NULL, NULL, NULL, why_browser },
	{ "allowed_origins", NULL, NULL, NULL, why_browser },
	{ "web_origins", NULL, NULL, NULL, why_browser },
	{ "allowed_logout_urls", NULL, NULL, NULL, why_browser },
	{ "initiate_login_uri", NULL, NULL, NULL, why_browser },
	{ "cross_origin_auth", NULL, NULL, NULL, why_browser },
	{ "custom_login_page_on", NULL, NULL, NULL, why_browser },
	{ "sso", NULL, NULL, NULL, why_browser },
	FMAP_END
};

static const struct fmap api_map[] = {
	{ "identifier", "identifier", NULL, NULL, NULL },
	{ "name", "name", NULL, NULL, NULL },
	{ "scopes", "scopes", cv_scopes, NULL, NULL },
	{ "token_lifetime", "token_lifetime", cv_clamp, NULL, NULL },
	{ "allow_offline_access", "allow_offline_access", NULL, NULL, NULL },
	{ "signing_alg", "signing_alg", cv_api_alg, NULL, NULL },
	{ "token_lifetime_for_web", NULL, NULL, NULL, why_browser },
	{ "skip_consent_for_verifiable_first_party_clients", NULL, NULL,
	    NULL, "no consent screen: browser flows are not served" },
	{ "enforce_policies", NULL, NULL, NULL, "role-based access control "
	    "is not served" },
	{ "token_dialect", NULL, NULL, NULL, "access tokens carry "
	    "latchkey's claims (docs/COMPAT.md)" },
	FMAP_END
};

static const char *const why_scripts = "custom database scripts are not "
	"run: import the users with latchkeyctl import-auth0";
static const char *const why_delivery = "latchkey delivers codes through "
	"the connection's delivery_command (latchkeyctl connection update "
	"NAME --delivery-command ...)";

static const struct fmap totp_map[] = {
	{ "time_step", "otp_lifetime", cv_clamp, NULL, NULL },
	FMAP_END
};

static const struct fmap db_options_map[] = {
	{ "customScripts", NULL, NULL, NULL, why_scripts },
	{ "enabledDatabaseCustomization", NULL, NULL, NULL, why_scripts },
	{ "import_mode", NULL, NULL, NULL, why_scripts },
	{ "brute_force_protection", NULL, NULL, NULL, "the tenant's "
	    "brute_force settings apply to every connection" },
	{ "disable_signup", NULL, NULL, NULL, "there is no signup endpoint" },
	FMAP_END
};

static const struct fmap pwl_options_map[] = {
	{ "totp", NULL, NULL, totp_map, NULL },
	{ "provider", NULL, NULL, NULL, why_delivery },
	{ "from", NULL, NULL, NULL, why_delivery },
	{ "syntax", NULL, NULL, NULL, why_delivery },
	{ "template", NULL, NULL, NULL, why_delivery },
	{ "email", NULL, NULL, NULL, why_delivery },
	{ "brute_force_protection", NULL, NULL, NULL, "the tenant's "
	    "brute_force settings apply to every connection" },
	{ "twilio_sid", NULL, NULL, NULL, why_delivery },
	{ "twilio_token", NULL, NULL, NULL, why_delivery },
	{ "messaging_service_sid", NULL, NULL, NULL, why_delivery },
	FMAP_END
};

static const struct fmap db_map[] = {
	{ "name", "name", NULL, NULL, NULL },
	{ "strategy", "strategy", NULL, NULL, NULL },
	{ "enabled_clients", "enabled_clients", cv_enabled, NULL, NULL },
	{ "options", NULL, NULL, db_options_map, NULL },
	FMAP_END
};

static const struct fmap pwl_map[] = {
	{ "name", "name", NULL, NULL, NULL },
	{ "strategy", "strategy", NULL, NULL, NULL },
	{ "enabled_clients", "enabled_clients", cv_enabled, NULL, NULL },
	{ "options", NULL, NULL, pwl_options_map, NULL },
	FMAP_END
};

static const char *const why_shields = "latchkey blocks and throttles; it "
	"sends no notification mail (docs/COMPAT.md 6)";

static const struct fmap bf_map[] = {
	{ "enabled", "brute_force.enabled", NULL, NULL, NULL },
	{ "max_attempts", "brute_force.threshold", NULL, NULL, NULL },
	{ "mode", "brute_force.mode", NULL, NULL, NULL },
	{ "allowlist", "brute_force.allowlist", NULL, NULL, NULL },
	{ "shields", NULL, cv_approx, NULL, why_shields },
	FMAP_END
};

static const struct fmap ip_login_map[] = {
	{ "max_attempts", "suspicious_ip.max_attempts", NULL, NULL, NULL },
	{ "rate", "suspicious_ip.rate_seconds", cv_ms, NULL, NULL },
	FMAP_END
};

static const struct fmap ip_stage_map[] = {
	{ "pre-login", NULL, NULL, ip_login_map, NULL },
	{ "pre-user-registration", NULL, NULL, NULL, "there is no signup "
	    "endpoint" },
	FMAP_END
};

static const struct fmap ip_map[] = {
	{ "enabled", "suspicious_ip.enabled", NULL, NULL, NULL },
	{ "allowlist", "suspicious_ip.allowlist", NULL, NULL, NULL },
	{ "stage", NULL, NULL, ip_stage_map, NULL },
	{ "shields", NULL, cv_approx, NULL, why_shields },
	FMAP_END
};

static const struct fmap bpd_map[] = {
	{ "enabled", "breached_password_detection", NULL, NULL, NULL },
	{ "method", NULL, cv_approx, NULL, "passwords are checked against "
	    "the tenant's breached_password_file (latchkeyctl tenant "
	    "update)" },
	{ "shields", NULL, cv_approx, NULL, why_shields },
	{ "admin_notification_frequency", NULL, NULL, NULL, why_shields },
	{ "stage", NULL, NULL, NULL, "only logins are checked: there is no "
	    "signup endpoint" },
	FMAP_END
};

static const struct fmap attack_map[] = {
	{ "bruteForceProtection", NULL, NULL, bf_map, NULL },
	{ "suspiciousIpThrottling", NULL, NULL, ip_map, NULL },
	{ "breachedPasswordDetection", NULL, NULL, bpd_map, NULL },
	FMAP_END
};

/* ------------------------------------------------------------------ */
/* Items.                                                              */

static int	 map_fields(struct mctx *, const struct fmap *,
		    const json_t *, json_t *);

/* One field of an item by its table row f (NULL: not in the table). */
static int
map_field(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{

	if (f == NULL || (f->to == NULL && f->conv == NULL && f->sub == NULL)) {
		if (!is_empty(v))
			rep_field(m, RL_SKIPPED, f != NULL ? f->why :
			    why_default);
		return 0;
	}
	if (f->sub != NULL) {
		if (!json_is_object(v))
			return json_is_null(v) ? 0 :
			    merr(m, "%s: not an object", m->path);
		return map_fields(m, f->sub, v, out);
	}
	if (f->conv != NULL)
		return f->conv(m, f, v, out);
	put(out, f->to, json_deep_copy(v));
	return 0;
}

/* Every member of in through the table t into out. */
static int
map_fields(struct mctx *m, const struct fmap *t, const json_t *in,
    json_t *out)
{
	const struct fmap *f;
	const json_t	*v;
	const char	*k;
	size_t		 len = strlen(m->path);
	int		 rc = 0;

	json_object_foreach((json_t *)in, k, v) {
		for (f = t; f->from != NULL && strcmp(f->from, k); f++)
			continue;
		snprintf(m->path + len, sizeof(m->path) - len, "%s%s",
		    len > 0 ? "." : "", k);
		rc = map_field(m, f->from != NULL ? f : NULL, v, out);
		m->path[len] = '\0';
		if (rc == -1)
			break;
	}
	return rc;
}

/* Start item i of section sect, named by its member key. */
static int
item_begin(struct mctx *m, const char *sect, size_t i, const json_t *it,
    const char *key)
{
	const char	*name = json_string_value(json_object_get(it, key));

	snprintf(m->where, sizeof(m->where), "%s[%zu]", sect, i);
	m->path[0] = '\0';
	if (!json_is_object(it))
		return merr(m, "not an object");
	if (name == NULL || *name == '\0')
		return merr(m, "%s: missing", key);
	snprintf(m->where, sizeof(m->where), "%s[%zu] (%.128s)", sect, i,
	    name);
	m->item = name;
	return 0;
}

/* The mapped item checked as import checks it, with its place. */
static int
item_end(struct mctx *m, json_t *out, json_t *list)
{

	if (record_check(m->rk, out, m->where, m->err, m->errsz) == -1) {
		json_decref(out);
		return -1;
	}
	json_array_append_new(list, out);
	return 0;
}

static int
map_client(struct mctx *m, const json_t *it, json_t *list)
{
	json_t		*out = json_object();
	const char	*meth;
	int		 method;

	if (map_fields(m, client_map, it, out) == -1) {
		json_decref(out);
		return -1;
	}
	rep(m, RL_IMPORTED, m->kind, m->item, "%s", json_object_get(out,
	    "client_id") != NULL ? "client_id kept" : "client_id assigned "
	    "on import (the one of the stored client of this name, else a "
	    "new one)");
	meth = json_string_value(json_object_get(out,
	    "token_endpoint_auth_method"));
	method = meth != NULL ? vocab_find(&client_auth_vocab, meth) :
	    CLIENT_AUTH_SECRET_POST;
	if (method == CLIENT_AUTH_SECRET_POST ||
	    method == CLIENT_AUTH_SECRET_BASIC)
		rep(m, RL_SECRETS, m->kind, m->item, "%s: an export carries "
		    "no secret; the first import generates one (shown under "
		    "generated), or run latchkeyctl client rotate-secret "
		    "CLIENT_ID", vocab_name(&client_auth_vocab,
		    (size_t)method));
	return item_end(m, out, list);
}

static int
map_api(struct mctx *m, const json_t *it, json_t *list)
{
	json_t		*out = json_object();

	if (map_fields(m, api_map, it, out) == -1) {
		json_decref(out);
		return -1;
	}
	if (json_object_get(out, "name") == NULL)
		put(out, "name", json_string(m->item));
	if (json_object_get(out, "scopes") == NULL)
		put(out, "scopes", json_array());
	rep(m, RL_IMPORTED, m->kind, m->item, "as an API");
	return item_end(m, out, list);
}

/*
 * Auth0 connection strategies latchkey does not serve, and why
 * (https://auth0.com/docs/authenticate/identity-providers).  A strategy
 * in neither this table nor strategy_vocab is refused.
 */
static const struct {
	const char	*strategy;
	const char	*why;
} skipped_strategies[] = {
	{ "google-oauth2", "social" }, { "facebook", "social" },
	{ "apple", "social" }, { "github", "social" },
	{ "twitter", "social" }, { "linkedin", "social" },
	{ "windowslive", "social" }, { "amazon", "social" },
	{ "bitbucket", "social" }, { "dropbox", "social" },
	{ "paypal", "social" }, { "salesforce", "social" },
	{ "shopify", "social" }, { "yahoo", "social" },
	{ "line", "social" }, { "oauth2", "social" },
	{ "samlp", "enterprise" }, { "oidc", "enterprise" },
	{ "okta", "enterprise" }, { "waad", "enterprise" },
	{ "ad", "enterprise" }, { "adfs", "enterprise" },
	{ "google-apps", "enterprise" }, { "pingfederate", "enterprise" },
	{ "ip", "enterprise" }, { "auth0-adldap", "enterprise" },
};

/* A connection the export names: mapped, skipped (1), or refused. */
static int
conn_strategy_check(struct mctx *m, const json_t *it, int database)
{
	const char	*st = json_string_value(json_object_get(it,
			    "strategy"));
	size_t		 i;

	if (st == NULL && database)
		return 0;
	if (st == NULL)
		return merr(m, "strategy: missing");
	if (database && vocab_find(&strategy_vocab, st) != STRATEGY_AUTH0)
		return merr(m, "strategy: %.64s is not a database strategy",
		    st);
	if (vocab_find(&strategy_vocab, st) >= 0)
		return 0;
	for (i = 0; i < sizeof(skipped_strategies) /
	    sizeof(skipped_strategies[0]); i++)
		if (strcmp(skipped_strategies[i].strategy, st) == 0) {
			rep(m, RL_SKIPPED, "connection", m->item, "%s "
			    "connection (%s): these log in through the "
			    "browser, which latchkey does not serve",
			    skipped_strategies[i].why, st);
			return 1;
		}
	return merr(m, "strategy: unknown strategy %.64s", st);
}

static int
map_conn(struct mctx *m, const json_t *it, json_t *list, int database)
{
	const char	*st = json_string_value(json_object_get(it,
			    "strategy"));
	json_t		*out;
	int		 rc, pwl;

	if ((rc = conn_strategy_check(m, it, database)) != 0)
		return rc == 1 ? 0 : -1;
	out = json_object();
	pwl = st != NULL && vocab_find(&strategy_vocab, st) != STRATEGY_AUTH0;
	if (map_fields(m, pwl ? pwl_map : db_map, it, out) == -1) {
		json_decref(out);
		return -1;
	}
	if (json_object_get(out, "strategy") == NULL)
		put(out, "strategy", json_string(vocab_name(&strategy_vocab,
		    STRATEGY_AUTH0)));
	if (json_object_get(out, "enabled_clients") == NULL)
		put(out, "enabled_clients", json_array());
	rep(m, RL_IMPORTED, "connection", m->item, "%s connection",
	    json_string_value(json_object_get(out, "strategy")));
	if (pwl)
		rep(m, RL_APPROX, "connection", m->item, "%s", why_delivery);
	return item_end(m, out, list);
}

/* ------------------------------------------------------------------ */
/* Sections.                                                           */

enum msect { MS_CLIENTS, MS_APIS, MS_DATABASES, MS_CONNECTIONS, MS__MAX };

static const struct {
	const char	*name;		/* the export's */
	const char	*key;		/* names its items */
	enum rec_kind	 rk;
	const char	*kind;		/* the report's */
	const char	*to;		/* the import document's */
} msects[MS__MAX] = {
	[MS_CLIENTS] = { "clients", "name", REC_CLIENT, "client", "clients" },
	[MS_APIS] = { "resourceServers", "identifier", REC_API, "api",
	    "apis" },
	[MS_DATABASES] = { "databases", "name", REC_CONNECTION,
	    "connection", "connections" },
	[MS_CONNECTIONS] = { "connections", "name", REC_CONNECTION,
	    "connection", "connections" },
};

/* The export's client names and ids, for enabled_clients. */
static void
client_names(const json_t *clients, json_t *names)
{
	const json_t	*c;
	const char	*k[] = { "name", "client_id" };
	size_t		 i, j;

	json_array_foreach(clients, i, c)
		for (j = 0; j < 2; j++)
			if (json_is_string(json_object_get(c, k[j])))
				json_object_set_new(names, json_string_value(
				    json_object_get(c, k[j])), json_true());
}

static int
map_item(struct mctx *m, enum msect s, const json_t *it, json_t *list)
{

	switch (s) {
	case MS_CLIENTS:
		return map_client(m, it, list);
	case MS_APIS:
		return map_api(m, it, list);
	default:
		return map_conn(m, it, list, s == MS_DATABASES);
	}
}

static int
map_sect(struct mctx *m, enum msect s, const json_t *v, json_t *doc)
{
	json_t		*list = json_object_get(doc, msects[s].to);
	const json_t	*it;
	size_t		 i;

	if (v == NULL || json_is_null(v))
		return 0;
	snprintf(m->where, sizeof(m->where), "%s", msects[s].name);
	if (!json_is_array(v))
		return merr(m, "not a list");
	m->rk = msects[s].rk;
	m->kind = msects[s].kind;
	json_array_foreach(v, i, it)
		if (item_begin(m, msects[s].name, i, it, msects[s].key) == -1 ||
		    map_item(m, s, it, list) == -1)
			return -1;
	return 0;
}

/* tenant and attackProtection into the document's tenant. */
static int
map_tenant(struct mctx *m, const json_t *export, const char *issuer,
    json_t *tenant)
{
	const json_t	*t = json_object_get(export, "tenant");
	const json_t	*ap = json_object_get(export, "attackProtection");
	const char	*parts[] = { "brute_force", "suspicious_ip" };
	size_t		 i;

	m->rk = REC_TENANT;
	m->kind = m->item = "tenant";
	m->path[0] = '\0';
	snprintf(m->where, sizeof(m->where), "tenant");
	if (t != NULL && !json_is_null(t) && (!json_is_object(t) ||
	    map_fields(m, tenant_map, t, tenant) == -1))
		return json_is_object(t) ? -1 : merr(m, "not a mapping");
	m->kind = m->item = "attackProtection";
	snprintf(m->where, sizeof(m->where), "attackProtection");
	if (ap != NULL && !json_is_null(ap) && (!json_is_object(ap) ||
	    map_fields(m, attack_map, ap, tenant) == -1))
		return json_is_object(ap) ? -1 : merr(m, "not a mapping");
	for (i = 0; i < 2; i++)
		if (json_object_get(tenant, parts[i]) != NULL)
			rep(m, RL_IMPORTED, "tenant", parts[i], "attack "
			    "protection (docs/COMPAT.md 6)");
	if (issuer != NULL)
		put(tenant, "issuer", json_string(issuer));
	snprintf(m->where, sizeof(m->where), "tenant");
	return record_check(REC_TENANT, tenant, m->where, m->err, m->errsz);
}

/*
 * The export's other sections, item by item, and why latchkey skips
 * them (https://auth0.com/docs/deploy-monitor/deploy-cli-tool).  A
 * directory export keeps client grants in grants/
 * (examples/directory/README.md in github.com/auth0/auth0-deploy-cli):
 * reported under the YAML name.
 */
static const struct {
	const char	*name;
	const char	*kind;		/* the report's, NULL: name */
	const char	*why;
} skipped_sects[] = {
	{ "rules", NULL, "Rules are not run" },
	{ "rulesConfigs", NULL, "Rules are not run" },
	{ "hooks", NULL, "Hooks are not run" },
	{ "actions", NULL, "Actions are not run" },
	{ "triggers", NULL, "Actions are not run" },
	{ "pages", NULL, why_browser },
	{ "prompts", NULL, why_browser },
	{ "branding", NULL, why_browser },
	{ "themes", NULL, why_browser },
	{ "customDomains", NULL, "point the domain at latchkey's web server" },
	{ "emailTemplates", NULL, "latchkey sends no mail of its own" },
	{ "emailProvider", NULL, "latchkey sends no mail of its own" },
	{ "clientGrants", NULL, "the client_credentials grant is not served" },
	{ "grants", "clientGrants", "the client_credentials grant is not "
	    "served" },
	{ "roles", NULL, "role-based access control is not served" },
	{ "organizations", NULL, "Organizations are not served" },
	{ "logStreams", NULL, "log streams are not served" },
	{ "guardianFactors", NULL, "multi-factor policies are not imported" },
	{ "guardianPolicies", NULL, "multi-factor policies are not imported" },
	{ "migrations", NULL, "Deploy CLI bookkeeping" },
};

/* The name of a skipped item: its name, template, else its place. */
static void
skipped_name(const char *sect, size_t i, const json_t *it, char *name,
    size_t namesz)
{
	const char	*keys[] = { "name", "template", "identifier",
			    "audience" };
	size_t		 k;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (json_is_string(json_object_get(it, keys[k]))) {
			snprintf(name, namesz, "%s", json_string_value(
			    json_object_get(it, keys[k])));
			return;
		}
	snprintf(name, namesz, "%s[%zu]", sect, i);
}

static void
map_skipped(struct mctx *m, const char *sect, const json_t *v)
{
	const json_t	*it;
	const char	*why = "not served by latchkey", *kind = sect;
	char		 name[REC_NAME_LEN];
	size_t		 i;

	if (is_empty(v))
		return;
	for (i = 0; i < sizeof(skipped_sects) / sizeof(skipped_sects[0]); i++)
		if (strcmp(skipped_sects[i].name, sect) == 0) {
			why = skipped_sects[i].why;
			if (skipped_sects[i].kind != NULL)
				kind = skipped_sects[i].kind;
		}
	if (!json_is_array(v)) {
		rep(m, RL_SKIPPED, kind, sect, "%s", why);
		return;
	}
	json_array_foreach(v, i, it) {
		skipped_name(sect, i, it, name, sizeof(name));
		rep(m, RL_SKIPPED, kind, name, "%s", why);
	}
}

/* Whether sect is mapped (not reported as skipped). */
static int
is_mapped(const char *sect)
{
	size_t	 s;

	if (strcmp(sect, "tenant") == 0 ||
	    strcmp(sect, "attackProtection") == 0)
		return 1;
	for (s = 0; s < MS__MAX; s++)
		if (strcmp(msects[s].name, sect) == 0)
			return 1;
	return 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	const json_t	*x = *(const json_t *const *)a;
	const json_t	*y = *(const json_t *const *)b;
	const char	*k[] = { "kind", "name", "why" };
	size_t		 i;
	int		 d;

	for (i = 0; i < 3; i++)
		if ((d = strcmp(json_string_value(json_object_get(x, k[i])),
		    json_string_value(json_object_get(y, k[i])))) != 0)
			return d;
	return 0;
}

/* Each list by kind, then name: the same export in either format (the
 * order of a directory's files is its own) gives the same report. */
static void
report_sort(json_t *report)
{
	json_t		*list, **v;
	size_t		 i, n, l;

	for (l = 0; l < RL__MAX; l++) {
		list = json_object_get(report, rlists[l]);
		if ((n = json_array_size(list)) < 2 ||
		    (v = calloc(n, sizeof(*v))) == NULL)
			continue;
		for (i = 0; i < n; i++)
			v[i] = json_incref(json_array_get(list, i));
		qsort(v, n, sizeof(*v), entry_cmp);
		json_array_clear(list);
		for (i = 0; i < n; i++)
			json_array_append_new(list, v[i]);
		free(v);
	}
}

int
deploy_map(const json_t *export, const char *issuer, json_t **doc,
    json_t **report, char *err, size_t errsz)
{
	struct mctx	 m;
	const json_t	*v;
	const char	*k;
	size_t		 s;
	int		 rc = 0;

	memset(&m, 0, sizeof(m));
	m.err = err;
	m.errsz = errsz;
	*doc = json_pack("{s{}s[]s[]s[]}", "tenant", "clients",
	    "connections", "apis");
	m.report = json_pack("{s[]s[]s[]s[]}", rlists[RL_IMPORTED],
	    rlists[RL_APPROX], rlists[RL_SKIPPED], rlists[RL_SECRETS]);
	m.names = json_object();
	if (!json_is_object(export)) {
		snprintf(err, errsz, "not an export");
		rc = -1;
	}
	if (rc == 0) {
		client_names(json_object_get(export, "clients"), m.names);
		rc = map_tenant(&m, export, issuer,
		    json_object_get(*doc, "tenant"));
	}
	for (s = 0; rc == 0 && s < MS__MAX; s++)
		rc = map_sect(&m, (enum msect)s, json_object_get(export,
		    msects[s].name), *doc);
	if (rc == 0)
		json_object_foreach((json_t *)export, k, v)
			if (!is_mapped(k))
				map_skipped(&m, k, v);
	json_decref(m.names);
	if (rc == -1) {
		json_decref(*doc);
		json_decref(m.report);
		*doc = *report = NULL;
		return -1;
	}
	report_sort(m.report);
	*report = m.report;
	return 0;
}
