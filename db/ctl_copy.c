/*
 * latchkeyctl: copy (--to-home DIR | --to-database CONNINFO) [--force],
 * the whole tenant of the store the command runs on (-d home or the
 * database) into another store, of either backend: Berkeley DB to
 * PostgreSQL when a site grows to several web servers, and back
 * (docs/deployment-postgresql.md).
 *
 * Every kind of record is copied as it is stored, key for key: the
 * tenant, signing keys, clients, connections, APIs, users with their
 * hashes and unique indexes, refresh tokens and their per-user index,
 * opaque access tokens, passwordless codes, MFA authenticators and
 * limits, attack-protection counters, the audit log, and the spent
 * client-assertion and DPoP jtis (so that a proof seen before the copy
 * is still refused after it).  Nothing is skipped: the records are
 * opaque here, so the copy cannot get a shape wrong.
 *
 * The source is read in batches (store_scan), each batch written to the
 * target in one transaction of its own.  The target must hold no record
 * unless --force (then records with the same key are replaced, others
 * are kept).  The source is not a snapshot: stop the responders first.
 * A copy stopped part-way is finished by running it again with --force.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Records written to the target per transaction. */
#define COPY_BATCH	STORE_BATCH

/* Where the copy goes: the option that names the target's backend. */
enum copy_to {
	COPY_TO_HOME,		/* a Berkeley DB environment, created */
	COPY_TO_DATABASE,	/* a PostgreSQL database, schema made */
	COPY_TO__MAX
};

static const char *const copy_to_opt[COPY_TO__MAX] = {
	[COPY_TO_HOME] = "to-home",
	[COPY_TO_DATABASE] = "to-database",
};

/* The kinds' names in the command's report. */
static const char *const copy_kind_names[SK__MAX] = {
	[SK_META] = "meta",
	[SK_CLIENT] = "clients",
	[SK_CONNECTION] = "connections",
	[SK_USER] = "users",
	[SK_USERIDX] = "user_indexes",
	[SK_API] = "apis",
	[SK_KEY] = "keys",
	[SK_JTI] = "spent_jtis",
	[SK_REFRESH] = "refresh_tokens",
	[SK_ACCESS] = "access_tokens",
	[SK_OTP] = "passwordless_codes",
	[SK_GUARD] = "attack_protection",
	[SK_AUDIT] = "audit",
	[SK_REFIDX] = "refresh_indexes",
	[SK_DPOP] = "spent_dpop_jtis",
	[SK_MFA] = "mfa",
};

static const struct optdef copy_opts[] = {
	{ "to-home", CV_STR, NULL, "DIR", CH_NONE, OPT_REQ },
	{ "to-database", CV_STR, NULL, "CONNINFO", CH_NONE, OPT_ALT },
	{ "force", CV_TRUE, NULL, NULL, CH_NONE, 0 },
	OPT_END
};

/* One run of the copy: the target and the batch in hand. */
struct copy {
	struct store	*dst;
	enum store_kind	 kind;
	json_t		*batch;		/* [[key, val], ...] to write */
	long		 n;		/* written, of this kind */
	enum store_rc	 rc;		/* of the last write */
};

/* Exactly one target. */
static int
copy_prep(struct ctl *c)
{
	int	 n = 0, i;

	for (i = 0; i < COPY_TO__MAX; i++)
		n += sget(c->opt, copy_to_opt[i]) != NULL;
	if (n != 1) {
		warnmsg("copy: give one of --to-home DIR and --to-database "
		    "CONNINFO");
		return EXIT_USAGE;
	}
	return 0;
}

/* The target, created if need be.  NULL (logged) on error. */
static struct store *
copy_open(struct ctl *c)
{
	const char	*to;

	if ((to = sget(c->opt, copy_to_opt[COPY_TO_HOME])) != NULL)
		return store_open(to, STORE_CREATE);
	to = sget(c->opt, copy_to_opt[COPY_TO_DATABASE]);
	return store_open_pg(to, STORE_CREATE);
}

/* store_scan's callback: there is a record. */
static int
any_cb(const char *key, json_t *val, void *arg)
{
	int	*found = arg;

	(void)key;
	(void)val;
	*found = 1;
	return 1;
}

/* Refused (with the kind named) when the target holds a record. */
static enum store_rc
copy_empty(struct ctl *c, struct store *dst)
{
	enum store_rc	 rc;
	int		 k, found = 0;

	for (k = 0; k < SK__MAX; k++) {
		rc = store_scan(dst, (enum store_kind)k, NULL, any_cb, &found);
		if (rc != STORE_OK)
			return rc;
		if (found)
			return refuse(c, STORE_EXISTS, "the target holds %s "
			    "records: give --force to write over them",
			    copy_kind_names[k]);
	}
	return STORE_OK;
}

/* store_txn_run's fn on the target: the batch in one transaction. */
static enum store_rc
put_batch(struct store *s, struct txn *t, void *arg)
{
	struct copy	*cp = arg;
	json_t		*kv;
	size_t		 i;
	enum store_rc	 rc;

	json_array_foreach(cp->batch, i, kv) {
		rc = store_put(s, t, cp->kind,
		    json_string_value(json_array_get(kv, 0)),
		    json_array_get(kv, 1), 0);
		if (rc != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

/* Write the batch in hand, if any.  On error cp->rc says why. */
static int
flush(struct copy *cp)
{
	size_t	 n = json_array_size(cp->batch);

	if (n == 0)
		return 0;
	if ((cp->rc = store_txn_run(cp->dst, put_batch, cp)) != STORE_OK)
		return -1;
	cp->n += (long)n;
	json_array_clear(cp->batch);
	return 0;
}

/* store_scan's callback on the source: after the source's batch has
 * committed, so the target's transaction may run here. */
static int
copy_cb(const char *key, json_t *val, void *arg)
{
	struct copy	*cp = arg;

	if (json_array_append_new(cp->batch, json_pack("[sO]", key, val))
	    == -1) {
		cp->rc = STORE_ERR;
		return 1;
	}
	if (json_array_size(cp->batch) < COPY_BATCH)
		return 0;
	return flush(cp) == -1;
}

/* Every record of one kind.  STORE_OK, or the failed step's store_rc. */
static enum store_rc
copy_kind(struct ctl *c, struct copy *cp, enum store_kind k)
{
	enum store_rc	 rc;

	cp->kind = k;
	cp->n = 0;
	cp->rc = STORE_OK;
	rc = store_scan(c->s, k, NULL, copy_cb, cp);
	if (rc == STORE_OK)
		rc = cp->rc;
	if (rc == STORE_OK && flush(cp) == -1)
		rc = cp->rc;
	json_array_clear(cp->batch);
	return rc;
}

/* The whole store, kind by kind; the report counts each kind. */
static enum store_rc
copy_batch(struct ctl *c)
{
	struct copy	 cp;
	json_t		*counts;
	enum store_rc	 rc = STORE_OK;
	long		 total = 0;
	int		 k;

	memset(&cp, 0, sizeof(cp));
	if ((cp.dst = copy_open(c)) == NULL)
		return refuse(c, STORE_ERR, "cannot open the target store");
	if (!json_is_true(json_object_get(c->opt, "force")))
		rc = copy_empty(c, cp.dst);
	cp.batch = json_array();
	counts = json_object();
	for (k = 0; rc == STORE_OK && k < SK__MAX; k++) {
		if ((rc = copy_kind(c, &cp, (enum store_kind)k)) != STORE_OK)
			break;
		json_object_set_new(counts, copy_kind_names[k],
		    json_integer(cp.n));
		total += cp.n;
	}
	json_decref(cp.batch);
	store_close(cp.dst);
	if (rc == STORE_OK)
		c->out = json_pack("{sIso}", "records", (json_int_t)total,
		    "copied", counts);
	else
		json_decref(counts);
	return rc;
}

const struct cmd ctl_copy_cmds[] = {
	{ "copy", NULL, NULL, copy_opts, copy_prep, NULL, copy_batch, 0 },
	CMD_END
};
