/*
 * latchkeyctl: refresh tokens and the devices holding them (refresh.c,
 * docs/COMPAT.md 5; RFC 6749 6, RFC 7009), and attack protection
 * (guard.c, audit.c, docs/COMPAT.md 6).  Every command here walks in
 * batches of its own transactions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const struct optdef token_list_opts[] = {
	{ "user", CV_STR, NULL, "USER_ID", CH_NONE, OPT_REQ },
	{ "client", CV_STR, NULL, "ID", CH_NONE, 0 },
	OPT_END
};

static const struct optdef token_revoke_opts[] = {
	{ "user", CV_STR, NULL, "USER_ID", CH_NONE, OPT_REQ },
	{ "device", CV_STR, NULL, "NAME", CH_NONE, OPT_REQ },
	{ "family", CV_STR, NULL, "ID", CH_NONE, OPT_REQ | OPT_ALT },
	{ "all", CV_TRUE, NULL, NULL, CH_NONE, OPT_REQ | OPT_ALT },
	OPT_END
};

static int
token_prep(struct ctl *c)
{
	int	 n;

	if (sget(c->opt, "user") == NULL) {
		warnmsg("%s %s: --user is required", c->cmd->noun,
		    c->cmd->verb);
		return EXIT_USAGE;
	}
	if (strcmp(c->cmd->verb, "revoke") != 0)
		return 0;
	n = (sget(c->opt, "device") != NULL) +
	    (sget(c->opt, "family") != NULL) +
	    json_is_true(json_object_get(c->opt, "all"));
	if (n != 1) {
		warnmsg("token revoke: one of --device, --family, --all");
		return EXIT_USAGE;
	}
	return 0;
}

static void
token_sel(struct ctl *c, struct refresh_sel *sel)
{

	sel->user_id = sget(c->opt, "user");
	sel->client_id = sget(c->opt, "client");
	sel->device = sget(c->opt, "device");
	sel->family = sget(c->opt, "family");
}

/*
 * The token commands read and revoke in batches (refresh.c), a user's
 * families through the per-user index, which the first of them builds
 * on a store made before it.
 */
static enum store_rc
token_list_batch(struct ctl *c)
{
	struct refresh_sel sel;

	token_sel(c, &sel);
	c->out = json_array();
	return refresh_list(c->s, NULL, &sel, c->now, c->out);
}

static enum store_rc
token_revoke_batch(struct ctl *c)
{
	struct refresh_sel sel;
	enum store_rc	 rc;
	int		 n = 0;

	token_sel(c, &sel);
	if ((rc = refresh_revoke(c->s, NULL, &sel, c->now, &n)) == STORE_OK)
		c->out = json_pack("{si}", "revoked_families", n);
	return rc;
}

/* Dead refresh-token families, and expired passwordless codes, opaque
 * access tokens and spent mfa_tokens (their readers skip them, nothing
 * else deletes them; SK_MFA's other records have no "exp" and stay), in
 * batches: a prune stopped part-way is finished by the next. */
static enum store_rc
token_prune_batch(struct ctl *c)
{
	enum store_rc	 rc;
	int		 n = 0, codes = 0, access = 0, mfa = 0;

	if ((rc = refresh_prune(c->s, NULL, c->now, &n)) == STORE_OK &&
	    (rc = store_expire(c->s, NULL, SK_OTP, c->now, &codes)) ==
	    STORE_OK &&
	    (rc = store_expire(c->s, NULL, SK_ACCESS, c->now, &access)) ==
	    STORE_OK &&
	    (rc = store_expire(c->s, NULL, SK_MFA, c->now, &mfa)) == STORE_OK)
		c->out = json_pack("{si, si, si, si}", "deleted_records",
		    n + codes + access + mfa, "deleted_codes", codes,
		    "deleted_access_tokens", access, "deleted_mfa_tokens", mfa);
	return rc;
}

/* Count one live family f into its device's entry d. */
static void
device_add(json_t *d, const json_t *f)
{
	json_t	*last = json_object_get(f, "last_used_at");

	json_array_append(json_object_get(d, "clients"),
	    json_object_get(f, "client_id"));
	json_object_set_new(d, "active_tokens", json_integer(
	    json_integer_value(json_object_get(d, "active_tokens")) + 1));
	if (json_integer_value(last) >
	    json_integer_value(json_object_get(d, "last_used_at")))
		json_object_set(d, "last_used_at", last);
}

/* The devices holding live refresh tokens: one entry per name. */
static enum store_rc
device_list_batch(struct ctl *c)
{
	struct refresh_sel sel = { sget(c->opt, "user"), NULL, NULL, NULL };
	json_t		*fams = json_array(), *f, *d, *byname = json_object();
	const char	*name, *k;
	enum store_rc	 rc;
	size_t		 i;

	rc = refresh_list(c->s, NULL, &sel, c->now, fams);
	json_array_foreach(fams, i, f) {
		if ((name = sget(f, "device")) == NULL ||
		    strcmp(sget(f, "status"), "active") != 0)
			continue;
		if ((d = json_object_get(byname, name)) == NULL) {
			d = json_pack("{sss[]si}", "device", name, "clients",
			    "active_tokens", 0);
			json_object_set_new(byname, name, d);
		}
		device_add(d, f);
	}
	c->out = json_array();
	json_object_foreach(byname, k, d)
		json_array_append(c->out, d);
	json_decref(byname);
	json_decref(fams);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Attack protection.                                                 */

static const struct optdef guard_unblock_opts[] = {
	{ "identifier", CV_STR, NULL, "ID", CH_NONE, 0 },
	{ "ip", CV_STR, NULL, "IP", CH_NONE, 0 },
	{ "user", CV_STR, NULL, "USER_ID", CH_NONE, 0 },
	OPT_END
};

static const struct optdef audit_list_opts[] = {
	{ "since", CV_INT, NULL, "EPOCH", CH_NONE, 0 },
	{ "type", CV_STR, NULL, "CODE", CH_NONE, 0 },
	{ "limit", CV_INT, NULL, "N", CH_NONE, 0 },
	OPT_END
};

static enum store_rc
guard_list_batch(struct ctl *c)
{
	struct tenant	 tn;
	enum store_rc	 rc;

	if ((rc = tenant_or_defaults(c, NULL, &tn)) != STORE_OK)
		return rc;
	c->out = json_array();
	rc = guard_list(c->s, NULL, &tn, c->now, c->out);
	record_clear(REC_TENANT, &tn);
	return rc;
}

/* --identifier [--ip], --user, or --ip alone. */
static int
guard_unblock_prep(struct ctl *c)
{
	const char	*id = sget(c->opt, "identifier");
	const char	*ip = sget(c->opt, "ip");
	const char	*user = sget(c->opt, "user");

	if ((id != NULL) + (user != NULL) > 1 ||
	    (id == NULL && user == NULL && ip == NULL) ||
	    (user != NULL && ip != NULL)) {
		warnmsg("guard unblock: --identifier ID [--ip IP], "
		    "--user USER_ID or --ip IP");
		return EXIT_USAGE;
	}
	return 0;
}

static enum store_rc
guard_unblock_batch(struct ctl *c)
{
	struct guard_sel sel = { sget(c->opt, "identifier"),
	    sget(c->opt, "ip"), NULL };
	struct user	 u;
	enum store_rc	 rc;
	int		 n = 0;

	memset(&u, 0, sizeof(u));
	if (sget(c->opt, "user") != NULL) {
		if ((rc = must_get_rec(c, NULL, REC_USER, sget(c->opt, "user"),
		    &u)) != STORE_OK)
			return rc;
		sel.user = u.json;
	}
	if ((rc = guard_unblock(c->s, NULL, &sel, &n)) == STORE_OK)
		c->out = json_pack("{si}", "deleted_records", n);
	record_clear(REC_USER, &u);
	return rc;
}

static enum store_rc
guard_prune_batch(struct ctl *c)
{
	struct tenant	 tn;
	enum store_rc	 rc;
	int		 n = 0;

	if ((rc = tenant_or_defaults(c, NULL, &tn)) != STORE_OK)
		return rc;
	if ((rc = guard_prune(c->s, NULL, &tn, c->now, &n)) == STORE_OK)
		c->out = json_pack("{si}", "deleted_records", n);
	record_clear(REC_TENANT, &tn);
	return rc;
}

static int
audit_list_prep(struct ctl *c)
{
	json_t		*since = json_object_get(c->opt, "since");
	json_t		*limit = json_object_get(c->opt, "limit");

	if ((since != NULL && json_integer_value(since) < 0) ||
	    (limit != NULL && json_integer_value(limit) < 1)) {
		warnmsg("audit list: --since EPOCH (>= 0), --limit N (>= 1)");
		return EXIT_USAGE;
	}
	return 0;
}

static enum store_rc
audit_list_batch(struct ctl *c)
{
	struct audit_sel sel;

	sel.since = (time_t)json_integer_value(json_object_get(c->opt,
	    "since"));
	sel.type = sget(c->opt, "type");
	sel.limit = (long)json_integer_value(json_object_get(c->opt, "limit"));
	c->out = json_array();
	return audit_list(c->s, NULL, &sel, c->out);
}

const struct cmd ctl_token_cmds[] = {
	{ "token", "list", NULL, token_list_opts, token_prep, NULL,
	    token_list_batch, CMD_AGAIN },
	{ "token", "revoke", NULL, token_revoke_opts, token_prep, NULL,
	    token_revoke_batch, 0 },
	{ "token", "prune", NULL, now_opts, now_prep, NULL, token_prune_batch,
	    CMD_AGAIN },
	{ "device", "list", NULL, token_list_opts, token_prep, NULL,
	    device_list_batch, CMD_AGAIN },
	{ "guard", "list", NULL, now_opts, now_prep, NULL, guard_list_batch,
	    CMD_AGAIN },
	{ "guard", "unblock", NULL, guard_unblock_opts, guard_unblock_prep,
	    NULL, guard_unblock_batch, CMD_AGAIN },
	{ "guard", "prune", NULL, now_opts, now_prep, NULL, guard_prune_batch,
	    CMD_AGAIN },
	{ "audit", "list", NULL, audit_list_opts, audit_list_prep, NULL,
	    audit_list_batch, CMD_AGAIN },
	CMD_END
};
