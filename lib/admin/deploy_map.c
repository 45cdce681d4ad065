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
 *  guardianPolicies:
 *    https://auth0.com/docs/api/management/v2/guardian/put-policies
 * Each kind is one table: Auth0 field, latchkey field, converter.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"
#include "deploy_map_int.h"

static const char *const why_default = "not used by latchkey's token "
	"endpoints";

/* ------------------------------------------------------------------ */
/* The tables.                                                         */

static const char *const why_sessions = "latchkey keeps no login "
	"sessions: browser flows are not served";

static const struct fmap tenant_map[] = {
	{ "default_directory", "default_directory", NULL, NULL, NULL },
	{ "default_audience", "default_audience", NULL, NULL, NULL },
	{ "resource_parameter_profile", "resource_parameter_profile",
	    dm_cv_enum, NULL, NULL },
	{ "session_lifetime", NULL, NULL, NULL, why_sessions },
	{ "idle_session_lifetime", NULL, NULL, NULL, why_sessions },
	{ "session_cookie", NULL, NULL, NULL, why_sessions },
	FMAP_END
};

static const struct fmap jwt_map[] = {
	{ "lifetime_in_seconds", "id_token_lifetime", dm_cv_clamp, NULL, NULL },
	{ "alg", "id_token_alg", dm_cv_enum, NULL, NULL },
	{ "secret_encoded", NULL, NULL, NULL, "HS256 ID tokens are signed "
	    "with the client secret as it is" },
	FMAP_END
};

static const struct fmap client_map[] = {
	{ "client_id", "client_id", NULL, NULL, NULL },
	{ "name", "name", NULL, NULL, NULL },
	{ "app_type", "app_type", dm_cv_enum, NULL, NULL },
	{ "token_endpoint_auth_method", "token_endpoint_auth_method",
	    dm_cv_auth, NULL, NULL },
	{ "client_authentication_methods", "public_keys", dm_cv_methods, NULL,
	    NULL },
	{ "grant_types", "grant_types", dm_cv_grants, NULL, NULL },
	{ "jwt_configuration", NULL, NULL, jwt_map, NULL },
	{ "refresh_token", "refresh_token", dm_cv_refresh, NULL, NULL },
	{ "is_token_endpoint_ip_header_trusted",
	    "is_token_endpoint_ip_header_trusted", NULL, NULL, NULL },
	{ "require_proof_of_possession", "require_proof_of_possession", NULL,
	    NULL, NULL },
	{ "client_secret", NULL, NULL, NULL, "an export's secret is not "
	    "imported: see secrets_needed" },
	{ "callbacks", NULL, NULL, NULL, DM_WHY_BROWSER },
	{ "allowed_origins", "allowed_origins", dm_cv_origins, NULL, NULL },
	{ "web_origins", "web_origins", dm_cv_origins, NULL, NULL },
	{ "allowed_logout_urls", NULL, NULL, NULL, DM_WHY_BROWSER },
	{ "initiate_login_uri", NULL, NULL, NULL, DM_WHY_BROWSER },
	{ "cross_origin_auth", NULL, NULL, NULL, DM_WHY_BROWSER },
	{ "custom_login_page_on", NULL, NULL, NULL, DM_WHY_BROWSER },
	{ "sso", NULL, NULL, NULL, DM_WHY_BROWSER },
	FMAP_END
};

static const struct fmap api_map[] = {
	{ "identifier", "identifier", NULL, NULL, NULL },
	{ "name", "name", NULL, NULL, NULL },
	{ "scopes", "scopes", dm_cv_scopes, NULL, NULL },
	{ "token_lifetime", "token_lifetime", dm_cv_clamp, NULL, NULL },
	{ "allow_offline_access", "allow_offline_access", NULL, NULL, NULL },
	{ "signing_alg", "signing_alg", dm_cv_api_alg, NULL, NULL },
	{ "proof_of_possession", "proof_of_possession", dm_cv_pop, NULL,
	    NULL },
	{ "token_lifetime_for_web", NULL, NULL, NULL, DM_WHY_BROWSER },
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
	{ "time_step", "otp_lifetime", dm_cv_clamp, NULL, NULL },
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
	{ "enabled_clients", "enabled_clients", dm_cv_enabled, NULL, NULL },
	{ "options", NULL, NULL, db_options_map, NULL },
	FMAP_END
};

static const struct fmap pwl_map[] = {
	{ "name", "name", NULL, NULL, NULL },
	{ "strategy", "strategy", NULL, NULL, NULL },
	{ "enabled_clients", "enabled_clients", dm_cv_enabled, NULL, NULL },
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
	{ "shields", NULL, dm_cv_approx, NULL, why_shields },
	FMAP_END
};

static const struct fmap ip_login_map[] = {
	{ "max_attempts", "suspicious_ip.max_attempts", NULL, NULL, NULL },
	{ "rate", "suspicious_ip.rate_seconds", dm_cv_ms, NULL, NULL },
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
	{ "shields", NULL, dm_cv_approx, NULL, why_shields },
	FMAP_END
};

static const struct fmap bpd_map[] = {
	{ "enabled", "breached_password_detection", NULL, NULL, NULL },
	{ "method", NULL, dm_cv_approx, NULL, "passwords are checked against "
	    "the tenant's breached_password_file (latchkeyctl tenant "
	    "update)" },
	{ "shields", NULL, dm_cv_approx, NULL, why_shields },
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
		if (!dm_is_empty(v))
			dm_rep_field(m, RL_SKIPPED, f != NULL ? f->why :
			    why_default);
		return 0;
	}
	if (f->sub != NULL) {
		if (!json_is_object(v))
			return json_is_null(v) ? 0 :
			    dm_err(m, "%s: not a mapping", m->path);
		return map_fields(m, f->sub, v, out);
	}
	if (f->conv != NULL)
		return f->conv(m, f, v, out);
	dm_put(out, f->to, json_deep_copy(v));
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
		return dm_err(m, "not a mapping");
	if (name == NULL || *name == '\0')
		return dm_err(m, "%s: missing", key);
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
	dm_rep(m, RL_IMPORTED, m->kind, m->item, "%s", json_object_get(out,
	    "client_id") != NULL ? "client_id kept" : "client_id assigned "
	    "on import (the one of the stored client of this name, else a "
	    "new one)");
	meth = json_string_value(json_object_get(out,
	    "token_endpoint_auth_method"));
	method = meth != NULL ? vocab_find(&client_auth_vocab, meth) :
	    CLIENT_AUTH_SECRET_POST;
	if (method == CLIENT_AUTH_SECRET_POST ||
	    method == CLIENT_AUTH_SECRET_BASIC)
		dm_rep(m, RL_SECRETS, m->kind, m->item, "%s: an export carries "
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
		dm_put(out, "name", json_string(m->item));
	if (json_object_get(out, "scopes") == NULL)
		dm_put(out, "scopes", json_array());
	dm_rep(m, RL_IMPORTED, m->kind, m->item, "as an API");
	return item_end(m, out, list);
}

static int
map_conn(struct mctx *m, const json_t *it, json_t *list, int database)
{
	const char	*st = json_string_value(json_object_get(it,
			    "strategy"));
	json_t		*out;
	int		 rc, pwl;

	if ((rc = dm_strategy_check(m, it, database)) != 0)
		return rc == 1 ? 0 : -1;
	out = json_object();
	pwl = st != NULL && vocab_find(&strategy_vocab, st) != STRATEGY_AUTH0;
	if (map_fields(m, pwl ? pwl_map : db_map, it, out) == -1) {
		json_decref(out);
		return -1;
	}
	if (json_object_get(out, "strategy") == NULL)
		dm_put(out, "strategy", json_string(vocab_name(&strategy_vocab,
		    STRATEGY_AUTH0)));
	if (json_object_get(out, "enabled_clients") == NULL)
		dm_put(out, "enabled_clients", json_array());
	dm_rep(m, RL_IMPORTED, "connection", m->item, "%s connection",
	    json_string_value(json_object_get(out, "strategy")));
	if (pwl)
		dm_rep(m, RL_APPROX, "connection", m->item, "%s", why_delivery);
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
		return dm_err(m, "not a list");
	m->rk = msects[s].rk;
	m->kind = msects[s].kind;
	json_array_foreach(v, i, it)
		if (item_begin(m, msects[s].name, i, it, msects[s].key) == -1 ||
		    map_item(m, s, it, list) == -1)
			return -1;
	return 0;
}

/*
 * guardianPolicies (Management API, "Set multi-factor authentication
 * policies": https://auth0.com/docs/api/management/v2/guardian/put-policies)
 * as the tenant's mfa (docs/COMPAT.md 13.1): "all-applications" asks
 * every login for a second factor; "confidence-score" (adaptive MFA)
 * asks only risky ones, of which "enrolled" is the nearest; none,
 * "never".
 */
static const struct {
	const char	*policy;
	enum mfa_policy	 mfa;
	enum rlist	 l;
	const char	*why;
} guardian_policies[] = {
	{ "all-applications", MFA_ALL, RL_IMPORTED,
	    "the tenant's mfa all (docs/COMPAT.md 13.1)" },
	{ "confidence-score", MFA_ENROLLED, RL_APPROX,
	    "adaptive MFA is not served: the tenant's mfa enrolled asks every "
	    "user who has an authenticator (docs/COMPAT.md 13.1)" },
};
#define GUARDIAN_POLICIES_N \
	(sizeof(guardian_policies) / sizeof(guardian_policies[0]))

static int
map_guardian(struct mctx *m, const json_t *export, json_t *tenant)
{
	const json_t	*g = json_object_get(export, "guardianPolicies");
	const json_t	*p, *v;
	size_t		 i, k, best = GUARDIAN_POLICIES_N;

	if (g == NULL || json_is_null(g))
		return 0;
	p = json_object_get(g, "policies");
	if (!json_is_object(g) || (p != NULL && !json_is_array(p)))
		return dm_err(m, "guardianPolicies: not a mapping with a "
		    "policies list");
	json_array_foreach(p, i, v) {
		for (k = 0; k < GUARDIAN_POLICIES_N; k++)
			if (json_is_string(v) && strcmp(json_string_value(v),
			    guardian_policies[k].policy) == 0)
				break;
		if (k == GUARDIAN_POLICIES_N)
			return dm_err(m, "guardianPolicies: unknown policy");
		if (k < best)
			best = k;	/* the table's first is the strictest */
	}
	if (best == GUARDIAN_POLICIES_N) {
		dm_put(tenant, "mfa", json_string(vocab_name(&mfa_policy_vocab,
		    MFA_NEVER)));
		dm_rep(m, RL_IMPORTED, "guardianPolicies", "none",
		    "the tenant's mfa never (docs/COMPAT.md 13.1)");
		return 0;
	}
	dm_put(tenant, "mfa", json_string(vocab_name(&mfa_policy_vocab,
	    guardian_policies[best].mfa)));
	dm_rep(m, guardian_policies[best].l, "guardianPolicies",
	    guardian_policies[best].policy, "%s", guardian_policies[best].why);
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
		return json_is_object(t) ? -1 : dm_err(m, "not a mapping");
	m->kind = m->item = "attackProtection";
	snprintf(m->where, sizeof(m->where), "attackProtection");
	if (ap != NULL && !json_is_null(ap) && (!json_is_object(ap) ||
	    map_fields(m, attack_map, ap, tenant) == -1))
		return json_is_object(ap) ? -1 : dm_err(m, "not a mapping");
	for (i = 0; i < 2; i++)
		if (json_object_get(tenant, parts[i]) != NULL)
			dm_rep(m, RL_IMPORTED, "tenant", parts[i], "attack "
			    "protection (docs/COMPAT.md 6)");
	m->kind = m->item = "guardianPolicies";
	snprintf(m->where, sizeof(m->where), "guardianPolicies");
	if (map_guardian(m, export, tenant) == -1)
		return -1;
	if (issuer != NULL)
		dm_put(tenant, "issuer", json_string(issuer));
	snprintf(m->where, sizeof(m->where), "tenant");
	return record_check(REC_TENANT, tenant, m->where, m->err, m->errsz);
}


/* Whether sect is mapped (not reported as skipped). */
static int
is_mapped(const char *sect)
{
	size_t	 s;

	if (strcmp(sect, "tenant") == 0 ||
	    strcmp(sect, "attackProtection") == 0 ||
	    strcmp(sect, "guardianPolicies") == 0)
		return 1;
	for (s = 0; s < MS__MAX; s++)
		if (strcmp(msects[s].name, sect) == 0)
			return 1;
	return 0;
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
	m.report = json_pack("{s[]s[]s[]s[]}", dm_rlists[RL_IMPORTED],
	    dm_rlists[RL_APPROX], dm_rlists[RL_SKIPPED], dm_rlists[RL_SECRETS]);
	m.names = json_object();
	if (!json_is_object(export)) {
		snprintf(err, errsz, "not an Auth0 export");
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
				dm_skipped(&m, k, v);
	json_decref(m.names);
	if (rc == -1) {
		json_decref(*doc);
		json_decref(m.report);
		*doc = *report = NULL;
		return -1;
	}
	dm_report_sort(m.report);
	*report = m.report;
	return 0;
}
