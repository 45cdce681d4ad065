/*
 * latchkeyctl: the tenant (init, tenant show/set/unset) and its signing
 * keys (key list/add-next/rotate/prune, keyrot.c): RFC 7517, RFC 7518
 * 3.1, docs/COMPAT.md 4.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* The tenant keys "tenant set/unset" accepts. */
static const struct optdef tenant_keys[] = {
	{ "issuer", CV_STR, "issuer", NULL, CH_NONE, 0 },
	{ "default_directory", CV_STR, "default_directory", NULL, CH_NONE, 0 },
	{ "default_audience", CV_STR, "default_audience", NULL, CH_NONE, 0 },
	{ "hash.t", CV_INT, "hash.t", NULL, CH_NONE, 0 },
	{ "hash.m", CV_INT, "hash.m", NULL, CH_NONE, 0 },
	{ "hash.p", CV_INT, "hash.p", NULL, CH_NONE, 0 },
	{ "allow_legacy_ro", CV_BOOL, "allow_legacy_ro", NULL, CH_NONE, 0 },
	{ "hash_slots", CV_INT, "hash_slots", NULL, CH_NONE, 0 },
	{ "hash_queue", CV_INT, "hash_queue", NULL, CH_NONE, 0 },
	{ "hash_wait_ms", CV_INT, "hash_wait_ms", NULL, CH_NONE, 0 },
	{ "login_queue_budget_ms", CV_INT, "login_queue_budget_ms", NULL,
	    CH_NONE, 0 },
	{ "brute_force.enabled", CV_BOOL, "brute_force.enabled", NULL,
	    CH_NONE, 0 },
	{ "brute_force.threshold", CV_INT, "brute_force.threshold", NULL,
	    CH_NONE, 0 },
	{ "brute_force.mode", CV_STR, "brute_force.mode", NULL, CH_NONE, 0 },
	{ "brute_force.allowlist", CV_LIST, "brute_force.allowlist", NULL,
	    CH_NONE, 0 },
	{ "brute_force.block_seconds", CV_INT, "brute_force.block_seconds",
	    NULL, CH_NONE, 0 },
	{ "suspicious_ip.enabled", CV_BOOL, "suspicious_ip.enabled", NULL,
	    CH_NONE, 0 },
	{ "suspicious_ip.max_attempts", CV_INT, "suspicious_ip.max_attempts",
	    NULL, CH_NONE, 0 },
	{ "suspicious_ip.rate_seconds", CV_INT, "suspicious_ip.rate_seconds",
	    NULL, CH_NONE, 0 },
	{ "suspicious_ip.allowlist", CV_LIST, "suspicious_ip.allowlist", NULL,
	    CH_NONE, 0 },
	{ "rate_limit.enabled", CV_BOOL, "rate_limit.enabled", NULL,
	    CH_NONE, 0 },
	{ "rate_limit.login_per_minute", CV_INT,
	    "rate_limit.login_per_minute", NULL, CH_NONE, 0 },
	{ "rate_limit.login_after_per_minute", CV_INT,
	    "rate_limit.login_after_per_minute", NULL, CH_NONE, 0 },
	{ "rate_limit.endpoint_per_minute", CV_JSON,
	    "rate_limit.endpoint_per_minute", NULL, CH_NONE, 0 },
	{ "rate_limit.passwordless_per_recipient_per_hour", CV_INT,
	    "rate_limit.passwordless_per_recipient_per_hour", NULL,
	    CH_NONE, 0 },
	{ "breached_password_file", CV_STR, "breached_password_file", NULL,
	    CH_NONE, 0 },
	{ "breached_password_detection", CV_BOOL,
	    "breached_password_detection", NULL, CH_NONE, 0 },
	{ "audit_retention_days", CV_INT, "audit_retention_days", NULL,
	    CH_NONE, 0 },
	{ "resource_parameter_profile", CV_STR, "resource_parameter_profile",
	    NULL, CH_NONE, 0 },
	{ "mfa", CV_STR, "mfa", NULL, CH_NONE, 0 },
	OPT_END
};

/*
 * Create or update the tenant from spec (tenant fields, "alg" ignored);
 * the issuer gets its trailing slash.  *what says "created", "updated"
 * or "unchanged".  Refuses a new tenant without issuer.
 */
enum store_rc
tenant_upsert(struct ctl *c, struct txn *t, const json_t *spec,
    const char **what)
{
	json_t		*old = NULL, *rec, *sp;
	const char	*iss;
	enum store_rc	 rc;
	int		 changed;

	rc = store_get(c->s, t, SK_META, "tenant", &old);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	rec = old != NULL ? json_deep_copy(old) :
	    json_pack("{s{sisisi}sb}", "hash", "t", 2, "m", 19456, "p", 1,
	    "allow_legacy_ro", 1);
	sp = json_deep_copy(spec);
	json_object_del(sp, "alg");
	record_merge(rec, sp);
	iss = sget(rec, "issuer");
	if (iss != NULL && iss[strlen(iss) - 1] != '/')
		json_object_set_new(rec, "issuer",
		    json_sprintf("%s/", iss));
	if ((rc = rec_complete(c, REC_TENANT, rec)) == STORE_OK)
		rc = put_changed(c, t, SK_META, "tenant", old, rec, &changed);
	if (rc == STORE_OK && old == NULL)
		rc = refresh_index_new(c->s, t, c->now);
	if (rc == STORE_OK)
		*what = old == NULL ? "created" : changed ? "updated" :
		    "unchanged";
	json_decref(old);
	json_decref(rec);
	json_decref(sp);
	return rc;
}

static int
current_cb(const char *key, json_t *val, void *arg)
{
	struct keyrec	*cur = arg, k;

	if (cur->json != NULL || record_parse(REC_KEY, val, &k) == -1)
		return 0;
	if (k.status == KEYST_CURRENT)
		*cur = k;
	else
		record_clear(REC_KEY, &k);
	return 0;
}

/* The current signing key; cur->json is NULL when there is none. */
static enum store_rc
key_current(struct ctl *c, struct txn *t, struct keyrec *cur)
{

	memset(cur, 0, sizeof(*cur));
	return store_each(c->s, t, SK_KEY, current_cb, cur);
}

/* Create a current signing key of alg (NULL: the default) unless one
 * exists; *kid is the new key's id ("" when one existed). */
enum store_rc
key_ensure(struct ctl *c, struct txn *t, const char *alg, char *kid,
    size_t kidsz)
{
	struct keyrec	 k;
	enum key_alg	 ka = (enum key_alg)record_field(REC_TENANT, "alg")->def;
	json_t		*j;
	enum store_rc	 rc;

	*kid = '\0';
	if ((rc = key_current(c, t, &k)) != STORE_OK || k.json != NULL) {
		record_clear(REC_KEY, &k);
		return rc;
	}
	if (alg != NULL && key_alg_parse(alg, &ka) == -1)
		return refuse(c, STORE_ERR, "cannot generate a %s key", alg);
	j = key_generate(ka, vocab_name(&key_status_vocab, KEYST_CURRENT),
	    c->now);
	if (j == NULL || record_parse(REC_KEY, j, &k) == -1) {
		json_decref(j);
		return refuse(c, STORE_ERR, "cannot generate a %s key",
		    key_alg_name(ka));
	}
	snprintf(kid, kidsz, "%s", k.kid);
	rc = store_put(c->s, t, SK_KEY, kid, j, STORE_NOOVERWRITE);
	record_clear(REC_KEY, &k);
	json_decref(j);
	return rc;
}

static int
init_prep(struct ctl *c)
{
	int	 rc;

	if ((rc = spec_check(c, REC_TENANT, "init")) != 0 ||
	    (rc = alg_prep(c)) != 0)
		return rc;
	es256_warn(sget(c->opt, "alg"));
	return 0;
}

static enum store_rc
init_tx(struct ctl *c, struct txn *t)
{
	const char	*what;
	char		 kid[128];
	json_t		*tenant = NULL;
	enum store_rc	 rc;

	if ((rc = tenant_upsert(c, t, c->spec, &what)) != STORE_OK)
		return rc;
	rc = key_ensure(c, t, sget(c->opt, "alg"), kid, sizeof(kid));
	if (rc == STORE_OK)
		rc = store_get(c->s, t, SK_META, "tenant", &tenant);
	if (rc == STORE_OK)
		c->out = json_pack("{sssoss*}", "tenant_status", what,
		    "tenant", tenant, "key_created", *kid ? kid : NULL);
	return rc;
}

/* The store was opened with STORE_MIGRATE: its schema is current. */
static enum store_rc
migrate_tx(struct ctl *c, struct txn *t)
{
	c->out = json_pack("{ss}", "backend", store_backend(c->s));
	return c->out == NULL ? STORE_ERR : STORE_OK;
}

static enum store_rc
tenant_show_tx(struct ctl *c, struct txn *t)
{
	json_t		*tenant = NULL;
	enum store_rc	 rc;

	rc = store_get(c->s, t, SK_META, "tenant", &tenant);
	if (rc == STORE_NOTFOUND)
		return refuse(c, rc, "no tenant: run latchkeyctl init");
	c->out = tenant;
	return rc;
}

/* tenant set KEY VALUE / unset KEY: a spec of one field. */
static int
tenant_set_prep(struct ctl *c)
{
	const struct optdef *o;
	const char	*val = c->npos > 1 ? c->pos[1] : "";

	for (o = tenant_keys; o->name != NULL; o++)
		if (strcmp(o->name, c->pos[0]) == 0)
			break;
	if (o->name == NULL) {
		warnmsg("%s: unknown tenant key", c->pos[0]);
		return EXIT_USAGE;
	}
	if (c->npos > 1 && *val == '\0') {
		warnmsg("%s: empty value (use tenant unset)", c->pos[0]);
		return EXIT_USAGE;
	}
	if (c->npos == 1)
		set_field(c->spec, o->field, json_null());
	else if (opt_set(c, o, val) == -1)
		return EXIT_USAGE;
	return spec_check(c, REC_TENANT, "tenant");
}

static enum store_rc
tenant_set_tx(struct ctl *c, struct txn *t)
{
	json_t		*tenant = NULL;
	const char	*what;
	enum store_rc	 rc;

	rc = store_get(c->s, t, SK_META, "tenant", &tenant);
	json_decref(tenant);
	if (rc == STORE_NOTFOUND)
		return refuse(c, rc, "no tenant: run latchkeyctl init");
	if (rc == STORE_OK)
		rc = tenant_upsert(c, t, c->spec, &what);
	return rc == STORE_OK ? tenant_show_tx(c, t) : rc;
}

/* ------------------------------------------------------------------ */
/* Signing key rotation (keyrot.c).                                   */

static const struct optdef key_add_opts[] = {
	{ "alg", CV_STR, NULL, NULL, CH_SIGN_ALG, 0 },
	OPT_END
};

static const struct optdef key_rotate_opts[] = {
	{ "alg", CV_STR, NULL, NULL, CH_SIGN_ALG, 0 },
	{ "force", CV_TRUE, NULL, NULL, CH_NONE, 0 },
	{ "now", CV_INT, NULL, "EPOCH", CH_NONE, 0 },
	OPT_END
};

static int
key_cb(const char *key, json_t *val, void *arg)
{

	json_array_append_new(arg, record_redact(val));
	return 0;
}

static enum store_rc
key_list_tx(struct ctl *c, struct txn *t)
{

	c->out = json_array();
	return store_each(c->s, t, SK_KEY, key_cb, c->out);
}

/* The algorithm asked for, else the current key's, else RS256. */
static enum store_rc
key_alg_for(struct ctl *c, struct txn *t, enum key_alg *alg)
{
	struct keyrec	 cur;
	const char	*name = sget(c->opt, "alg");
	enum store_rc	 rc;

	if ((rc = key_current(c, t, &cur)) != STORE_OK)
		return rc;
	*alg = cur.json != NULL ? cur.alg :
	    (enum key_alg)record_field(REC_KEY, "alg")->def;
	record_clear(REC_KEY, &cur);
	if (name != NULL && key_alg_parse(name, alg) == -1)
		rc = refuse(c, STORE_ERR, "%s: not a signing algorithm", name);
	return rc;
}

static enum store_rc
key_add_next_tx(struct ctl *c, struct txn *t)
{
	struct keyrec	 k;
	json_t		*rec = NULL;
	enum key_alg	 alg;
	enum store_rc	 rc;

	if ((rc = key_alg_for(c, t, &alg)) != STORE_OK)
		return rc;
	rc = keyrot_add_next(c->s, t, alg, c->now, &rec);
	if (rc == STORE_EXISTS)
		return refuse(c, rc, "a next key is waiting already: "
		    "rotate to it first");
	if (rc == STORE_OK && record_parse(REC_KEY, rec, &k) == -1)
		rc = STORE_ERR;
	if (rc == STORE_OK) {
		c->out = json_pack("{sssssssI}", "kid", k.kid,
		    "alg", key_alg_name(k.alg), "status",
		    vocab_name(&key_status_vocab, k.status),
		    "rotate_after", (json_int_t)c->now + KEY_PUBLISH_MIN);
		record_clear(REC_KEY, &k);
	}
	json_decref(rec);
	return rc;
}

static enum store_rc
key_rotate_tx(struct ctl *c, struct txn *t)
{
	struct keyrec	 k;
	json_t		*cur = NULL;
	enum key_alg	 alg;
	enum store_rc	 rc;

	if ((rc = key_alg_for(c, t, &alg)) != STORE_OK)
		return rc;
	rc = keyrot_rotate(c->s, t, alg, c->now,
	    json_is_true(json_object_get(c->opt, "force")), &cur);
	if (rc == STORE_NOTFOUND)
		return refuse(c, rc, "no next key: run key add-next, wait "
		    "%d s for verifiers to fetch the JWKS, then rotate "
		    "(or --force)", KEY_PUBLISH_MIN);
	if (rc == STORE_EXISTS)
		return refuse(c, rc, "the next key was published less than "
		    "%d s ago: verifiers may not know it yet (wait, or "
		    "--force)", KEY_PUBLISH_MIN);
	if (rc == STORE_OK && record_parse(REC_KEY, cur, &k) == -1)
		rc = STORE_ERR;
	if (rc == STORE_OK) {
		c->out = json_pack("{ssss}", "current", k.kid,
		    "alg", key_alg_name(k.alg));
		record_clear(REC_KEY, &k);
	}
	json_decref(cur);
	return rc;
}

static enum store_rc
key_prune_tx(struct ctl *c, struct txn *t)
{
	json_t		*removed = json_array();
	enum store_rc	 rc;
	long		 max = 0;

	if ((rc = keyrot_max_lifetime(c->s, t, &max)) == STORE_OK)
		rc = keyrot_prune(c->s, t, c->now, removed);
	if (rc == STORE_OK)
		c->out = json_pack("{sOsI}", "removed", removed,
		    "max_token_lifetime", (json_int_t)max);
	json_decref(removed);
	return rc;
}

static const struct optdef init_opts[] = {
	{ "issuer", CV_STR, "issuer", "URL", CH_NONE, OPT_REQ },
	{ "alg", CV_STR, NULL, NULL, CH_SIGN_ALG, 0 },
	{ "default-directory", CV_STR, "default_directory", "NAME",
	    CH_NONE, 0 },
	{ "default-audience", CV_STR, "default_audience", "ID", CH_NONE, 0 },
	{ "hash-time", CV_INT, "hash.t", "N", CH_NONE, 0 },
	{ "hash-memory", CV_INT, "hash.m", "KIB", CH_NONE, 0 },
	{ "hash-parallelism", CV_INT, "hash.p", "N", CH_NONE, 0 },
	OPT_END
};

const struct cmd ctl_tenant_cmds[] = {
	{ "init", NULL, NULL, init_opts, init_prep, init_tx, NULL,
	    CMD_CREATE },
	{ "migrate", NULL, NULL, NULL, NULL, migrate_tx, NULL,
	    CMD_MIGRATE | CMD_AGAIN },
	{ "tenant", "show", NULL, NULL, NULL, tenant_show_tx, NULL,
	    CMD_AGAIN },
	{ "tenant", "set", "KEY VALUE", NULL, tenant_set_prep, tenant_set_tx,
	    NULL, CMD_AGAIN },
	{ "tenant", "unset", "KEY", NULL, tenant_set_prep, tenant_set_tx,
	    NULL, CMD_AGAIN },
	{ "key", "list", NULL, NULL, NULL, key_list_tx, NULL, CMD_AGAIN },
	{ "key", "add-next", NULL, key_add_opts, now_prep, key_add_next_tx,
	    NULL, 0 },
	{ "key", "rotate", NULL, key_rotate_opts, now_prep, key_rotate_tx,
	    NULL, 0 },
	{ "key", "prune", NULL, now_opts, now_prep, key_prune_tx, NULL,
	    CMD_AGAIN },
	CMD_END
};
