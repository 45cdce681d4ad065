/*
 * latchkeyctl: a user's MFA authenticators (docs/COMPAT.md 13.7):
 * authenticator list, delete and reset.  The list never shows a TOTP
 * secret or a recovery code (stored sealed and hashed); reset deletes
 * every authenticator of the user and clears the failed verifications
 * limit, so that the next login enrols again (Auth0's "reset MFA").
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* The user must exist: -1 with the refusal set. */
static int
user_known(struct ctl *c)
{
	struct user	 u;
	enum store_rc	 rc;

	rc = record_get(c->s, NULL, REC_USER, c->pos[0], &u);
	record_clear(REC_USER, &u);
	if (rc == STORE_NOTFOUND)
		refuse(c, rc, "no such user: %s", c->pos[0]);
	return rc == STORE_OK ? 0 : -1;
}

static enum store_rc
mfa_list_batch(struct ctl *c)
{
	struct mfa_set	 set;
	const struct authenticator *a;
	size_t		 i;
	enum store_rc	 rc;

	if (user_known(c) == -1)
		return c->err[0] != '\0' ? STORE_NOTFOUND : STORE_ERR;
	if ((rc = mfa_set_load(c->s, c->pos[0], &set)) != STORE_OK)
		return rc;
	c->out = json_array();
	for (i = 0; i < set.n; i++) {
		a = &set.a[i];
		json_array_append_new(c->out, json_pack("{s:s, s:s, s:b, s:I}",
		    "id", a->id, "authenticator_type",
		    vocab_name(&mfa_type_vocab, a->type), "active", a->active,
		    "created_at", (json_int_t)a->created_at));
	}
	mfa_set_clear(&set);
	return STORE_OK;
}

/* What a delete or reset removes. */
struct del {
	const char	*user_id;
	const char	*id;		/* NULL: every one, and the limit */
	const struct mfa_set *set;
	int		 n;
};

static enum store_rc
del_txn(struct store *s, struct txn *t, void *arg)
{
	struct del	*d = arg;
	char		 key[256];
	size_t		 i;
	enum store_rc	 rc = STORE_OK;

	d->n = 0;
	for (i = 0; i < d->set->n && rc == STORE_OK; i++) {
		if (d->id != NULL && strcmp(d->id, d->set->a[i].id) != 0)
			continue;
		if ((rc = mfa_auth_del(s, t, d->user_id, d->set->a[i].id)) ==
		    STORE_OK)
			d->n++;
		else if (rc == STORE_NOTFOUND)
			rc = STORE_OK;
	}
	if (rc != STORE_OK || d->id != NULL)
		return rc;
	snprintf(key, sizeof(key), "f\x1f%s", d->user_id);
	rc = store_del(s, t, SK_MFA, key);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static enum store_rc
mfa_del_batch(struct ctl *c)
{
	struct mfa_set	 set;
	struct del	 d;
	enum store_rc	 rc;

	if (user_known(c) == -1)
		return c->err[0] != '\0' ? STORE_NOTFOUND : STORE_ERR;
	if ((rc = mfa_set_load(c->s, c->pos[0], &set)) != STORE_OK)
		return rc;
	memset(&d, 0, sizeof(d));
	d.user_id = c->pos[0];
	d.id = strcmp(c->cmd->verb, "delete") == 0 ? c->pos[1] : NULL;
	d.set = &set;
	rc = c->txn_run(c->s, del_txn, &d);
	mfa_set_clear(&set);
	if (rc == STORE_OK && d.id != NULL && d.n == 0)
		return refuse(c, STORE_NOTFOUND, "no such authenticator: %s",
		    d.id);
	if (rc == STORE_OK)
		c->out = json_pack("{s:i}", "deleted", d.n);
	return rc;
}

const struct cmd ctl_mfa_cmds[] = {
	{ "authenticator", "list", "USER_ID", NULL, NULL, NULL,
	    mfa_list_batch, CMD_AGAIN },
	{ "authenticator", "delete", "USER_ID AUTHENTICATOR_ID", NULL, NULL,
	    NULL, mfa_del_batch, CMD_AGAIN },
	{ "authenticator", "reset", "USER_ID", NULL, NULL, NULL,
	    mfa_del_batch, CMD_AGAIN },
	CMD_END
};
