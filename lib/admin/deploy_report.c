/*
 * The report of an export's mapping (deploy_map.c): its lists, the
 * messages with their place, the connection strategies and export
 * sections latchkey skips and why, and the report's order.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "deploy_map_int.h"

const char *const dm_rlists[RL__MAX] = {
	[RL_IMPORTED] = "imported",
	[RL_APPROX] = "approximate",
	[RL_SKIPPED] = "skipped",
	[RL_SECRETS] = "secrets_needed",
};

/* Append {"kind", "name", "why"} to the report's list l. */
void
dm_rep(struct mctx *m, enum rlist l, const char *kind, const char *name,
    const char *fmt, ...)
{
	va_list	 ap;
	char	 why[512];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	json_array_append_new(json_object_get(m->report, dm_rlists[l]),
	    json_pack("{ssssss}", "kind", kind, "name", name, "why", why));
}

/* A field of the current item, for the report: "App.jwt_configuration.alg". */
void
dm_rep_field(struct mctx *m, enum rlist l, const char *why)
{
	char	 kind[64], name[PATH_MAX_LEN + REC_NAME_LEN];

	snprintf(kind, sizeof(kind), "%s field", m->kind);
	snprintf(name, sizeof(name), "%s.%s", m->item, m->path);
	dm_rep(m, l, kind, name, "%s", why);
}

/* err: "clients[0] (App): jwt_configuration: why".  Returns -1. */
int
dm_err(struct mctx *m, const char *fmt, ...)
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
void
dm_put(json_t *out, const char *to, json_t *v)
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
int
dm_is_empty(const json_t *v)
{
	return json_is_null(v) || json_is_false(v) ||
	    (json_is_string(v) && json_string_length(v) == 0) ||
	    (json_is_array(v) && json_array_size(v) == 0) ||
	    (json_is_object(v) && json_object_size(v) == 0);
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
	{ "okta", "enterprise" }, { "ad", "enterprise" },
	{ "google-apps", "enterprise" }, { "pingfederate", "enterprise" },
	{ "ip", "enterprise" }, { "auth0-adldap", "enterprise" },
};

/* 1 when s is a non-empty host name or identifier of at most max
 * characters, safe to show inside a command line. */
static int
plain_word(const char *s, size_t max)
{

	return s != NULL && *s != '\0' && strlen(s) <= max &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-_") == strlen(s);
}

/*
 * An Azure AD or ADFS connection: skipped, because the export holds
 * neither the directory's tenant id (its GUID, in every ID token's
 * issuer) nor the client secret, and an Auth0 ADFS connection is a
 * WS-Federation one without a client.  For Azure AD the report gives
 * what the export does hold (options.tenant_domain, options.client_id)
 * as the start of the command that adds it (docs/enterprise.md).
 */
static int
ext_skip(struct mctx *m, const json_t *it, const char *st)
{
	const json_t	*o = json_object_get(it, "options");
	const char	*dom, *cid;

	dom = json_string_value(json_object_get(o, "tenant_domain"));
	cid = json_string_value(json_object_get(o, "client_id"));
	if (strcmp(st, "waad") == 0 && plain_word(dom, 253) &&
	    plain_word(cid, 128)) {
		dm_rep(m, RL_SKIPPED, "connection", m->item, "waad connection: "
		    "add it with latchkeyctl connection add %s --strategy "
		    "waad --token-url https://login.microsoftonline.com/%s/"
		    "oauth2/v2.0/token --jwks-url https://login.microsoftonline"
		    ".com/%s/discovery/v2.0/keys --upstream-client-id %s "
		    "--tenant-id GUID --upstream-issuer https://login."
		    "microsoftonline.com/GUID/v2.0 --upstream-secret-stdin: "
		    "the export has neither the tenant's GUID nor the secret "
		    "(docs/enterprise.md)", m->item, dom, dom, cid);
		return 1;
	}
	dm_rep(m, RL_SKIPPED, "connection", m->item, "%s connection: add it "
	    "with latchkeyctl connection add NAME --strategy %s and the "
	    "settings of the directory's password grant, which the export "
	    "does not hold (docs/enterprise.md)", st, st);
	return 1;
}

/* A connection the export names: mapped, skipped (1), or refused. */
int
dm_strategy_check(struct mctx *m, const json_t *it, int database)
{
	const char	*st = json_string_value(json_object_get(it,
			    "strategy"));
	size_t		 i;

	if (st == NULL && database)
		return 0;
	if (st == NULL)
		return dm_err(m, "strategy: missing or not a string");
	if (database && vocab_find(&strategy_vocab, st) != STRATEGY_AUTH0)
		return dm_err(m, "strategy: %.64s is not a database strategy",
		    st);
	if (vocab_find(&strategy_vocab, st) >= 0 &&
	    extconn_def((enum conn_strategy)vocab_find(&strategy_vocab,
	    st)) != NULL)
		return ext_skip(m, it, st);
	if (vocab_find(&strategy_vocab, st) >= 0)
		return 0;
	for (i = 0; i < sizeof(skipped_strategies) /
	    sizeof(skipped_strategies[0]); i++)
		if (strcmp(skipped_strategies[i].strategy, st) == 0) {
			dm_rep(m, RL_SKIPPED, "connection", m->item, "%s "
			    "connection (%s): these log in through the "
			    "browser, which latchkey does not serve",
			    skipped_strategies[i].why, st);
			return 1;
		}
	return dm_err(m, "strategy: unknown strategy %.64s", st);
}

/*
 * The export's other sections, item by item, and why latchkey skips
 * them (https://auth0.com/docs/deploy-monitor/deploy-cli-tool).
 */
static const struct {
	const char	*name;
	const char	*why;
} skipped_sects[] = {
	{ "rules", "Rules are not run" },
	{ "rulesConfigs", "Rules are not run" },
	{ "hooks", "Hooks are not run" },
	{ "actions", "Actions are not run" },
	{ "triggers", "Actions are not run" },
	{ "pages", DM_WHY_BROWSER },
	{ "prompts", DM_WHY_BROWSER },
	{ "branding", DM_WHY_BROWSER },
	{ "themes", DM_WHY_BROWSER },
	{ "customDomains", "point the domain at latchkey's web server" },
	{ "emailTemplates", "latchkey sends no mail of its own" },
	{ "emailProvider", "latchkey sends no mail of its own" },
	{ "clientGrants", "the client_credentials grant is not served" },
	{ "roles", "role-based access control is not served" },
	{ "organizations", "Organizations are not served" },
	{ "logStreams", "log streams are not served" },
	{ "guardianFactors", "latchkey's factors are otp, recovery codes, "
	    "and sms and email codes through the connections named sms and "
	    "email (docs/COMPAT.md 13)" },
	{ "migrations", "Deploy CLI bookkeeping" },
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

void
dm_skipped(struct mctx *m, const char *sect, const json_t *v)
{
	const json_t	*it;
	const char	*why = "not served by latchkey";
	char		 name[REC_NAME_LEN];
	size_t		 i;

	if (dm_is_empty(v))
		return;
	for (i = 0; i < sizeof(skipped_sects) / sizeof(skipped_sects[0]); i++)
		if (strcmp(skipped_sects[i].name, sect) == 0)
			why = skipped_sects[i].why;
	if (!json_is_array(v)) {
		dm_rep(m, RL_SKIPPED, sect, sect, "%s", why);
		return;
	}
	json_array_foreach(v, i, it) {
		skipped_name(sect, i, it, name, sizeof(name));
		dm_rep(m, RL_SKIPPED, sect, name, "%s", why);
	}
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
void
dm_report_sort(json_t *report)
{
	json_t		*list, **v;
	size_t		 i, n, l;

	for (l = 0; l < RL__MAX; l++) {
		list = json_object_get(report, dm_rlists[l]);
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

