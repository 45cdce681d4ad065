/*
 * latchkeyctl: connections (user directories: database, sms and email
 * passwordless, Azure AD and ADFS, docs/COMPAT.md 2, 3 and 12) and APIs (audiences, docs/COMPAT.md
 * 4): add, list, show, update, remove.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Azure AD and ADFS connections (docs/COMPAT.md 12, docs/enterprise.md);
 * the upstream's client secret comes from stdin or a file, never argv. */
#define UPSTREAM_OPTS \
	{ "token-url", CV_STR, "token_url", "URL", CH_NONE, 0 }, \
	{ "jwks-url", CV_STR, "jwks_url", "URL", CH_NONE, 0 }, \
	{ "upstream-issuer", CV_STR, "upstream_issuer", "URL", CH_NONE, 0 }, \
	{ "tenant-id", CV_STR, "tenant_id", "ID", CH_NONE, 0 }, \
	{ "upstream-client-id", CV_STR, "upstream_client_id", "ID", CH_NONE, \
	    0 }, \
	{ "upstream-secret-stdin", CV_TRUE, NULL, NULL, CH_NONE, 0 }, \
	{ "upstream-secret-file", CV_STR, NULL, "FILE", CH_NONE, OPT_ALT }, \
	{ "upstream-scope", CV_STR, "upstream_scope", "SCOPE", CH_NONE, 0 }, \
	{ "upstream-resource", CV_STR, "upstream_resource", "ID", CH_NONE, \
	    0 }, \
	{ "ca-file", CV_STR, "ca_file", "FILE", CH_NONE, 0 }, \
	{ "user-id-attribute", CV_STR, "user_id_attribute", "CLAIM", \
	    CH_NONE, 0 }, \
	{ "upstream-timeout-ms", CV_INT, "upstream_timeout_ms", "MS", \
	    CH_NONE, 0 }, \
	{ "upstream-connect-timeout-ms", CV_INT, \
	    "upstream_connect_timeout_ms", "MS", CH_NONE, 0 }, \
	{ "jwks-refresh-min", CV_INT, "jwks_refresh_min", "SECONDS", \
	    CH_NONE, 0 }

/* AD/LDAP connections (docs/COMPAT.md 14, docs/enterprise.md); the
 * service account's password comes from stdin or a file, never argv. */
#define LDAP_OPTS \
	{ "ldap-url", CV_STR, "ldap_url", "URLS", CH_NONE, 0 }, \
	{ "starttls", CV_BOOL, "ldap_starttls", NULL, CH_NONE, 0 }, \
	{ "ldap-schema", CV_STR, "ldap_schema", "openldap|activedirectory", \
	    CH_NONE, 0 }, \
	{ "bind-dn", CV_STR, "ldap_bind_dn", "DN", CH_NONE, 0 }, \
	{ "bind-password-stdin", CV_TRUE, NULL, NULL, CH_NONE, 0 }, \
	{ "bind-password-file", CV_STR, NULL, "FILE", CH_NONE, OPT_ALT }, \
	{ "base-dn", CV_STR, "ldap_base_dn", "DN", CH_NONE, 0 }, \
	{ "filter", CV_STR, "ldap_filter", "FILTER", CH_NONE, 0 }, \
	{ "user-dn", CV_STR, "ldap_user_dn", "DN", CH_NONE, 0 }, \
	{ "upn-domain", CV_STR, "ldap_upn_domain", "DOMAIN", CH_NONE, 0 }, \
	{ "groups", CV_BOOL, "ldap_groups", NULL, CH_NONE, 0 }, \
	{ "group-attribute", CV_STR, "ldap_group_attribute", "ATTRIBUTE", \
	    CH_NONE, 0 }

static const struct optdef connection_add_opts[] = {
	{ "strategy", CV_STR, "strategy", NULL, CH_STRATEGY, 0 },
	{ "clients", CV_LIST, "enabled_clients", "ID,...", CH_NONE, 0 },
	{ "delivery-command", CV_JSON, "delivery_command", "JSON-ARRAY",
	    CH_NONE, 0 },
	{ "otp-lifetime", CV_INT, "otp_lifetime", "SECONDS", CH_NONE, 0 },
	{ "delivery-timeout", CV_INT, "delivery_timeout", "SECONDS",
	    CH_NONE, 0 },
	UPSTREAM_OPTS,
	LDAP_OPTS,
	OPT_END
};

static const struct optdef connection_update_opts[] = {
	{ "clients", CV_LIST, "enabled_clients", "ID,...", CH_NONE, 0 },
	{ "enable-client", CV_STR, NULL, "ID", CH_NONE, 0 },
	{ "disable-client", CV_STR, NULL, "ID", CH_NONE, 0 },
	{ "delivery-command", CV_JSON, "delivery_command", "JSON-ARRAY",
	    CH_NONE, 0 },
	{ "otp-lifetime", CV_INT, "otp_lifetime", "SECONDS", CH_NONE, 0 },
	{ "delivery-timeout", CV_INT, "delivery_timeout", "SECONDS",
	    CH_NONE, 0 },
	UPSTREAM_OPTS,
	LDAP_OPTS,
	OPT_END
};

/* The client named ref (name is not a key): the only match, or
 * refused. */
static enum store_rc
client_by_name(struct ctl *c, struct txn *t, const char *ref, json_t **hold,
    const char **id)
{
	struct findarg	 a = { "name", ref, NULL, NULL, 0 };
	struct client_rec cr;
	enum store_rc	 rc;

	if ((rc = store_each(c->s, t, SK_CLIENT, find_cb, &a)) != STORE_OK)
		return rc;
	*hold = a.found;
	if (a.found != NULL && record_parse(REC_CLIENT, a.found, &cr) == 0) {
		*id = cr.client_id;
		record_clear(REC_CLIENT, &cr);
	}
	if (a.n == 1)
		return STORE_OK;
	return refuse(c, STORE_NOTFOUND, a.n == 0 ? "no such client: %s" :
	    "client name %s is ambiguous: use the client_id", ref);
}

/*
 * The client_id for a reference by client_id or by name: import's map
 * of the file's clients first (names may be NULL), then the store.
 * STORE_OK with id (owned by *hold), or refused.
 */
static enum store_rc
client_resolve(struct ctl *c, struct txn *t, const json_t *names,
    const char *ref, json_t **hold, const char **id)
{
	struct client_rec cr;
	enum store_rc	 rc;

	*id = NULL;
	*hold = json_incref(json_object_get(names, ref));
	if ((*id = json_string_value(*hold)) != NULL)
		return STORE_OK;
	rc = record_get(c->s, t, REC_CLIENT, ref, &cr);
	if (rc == STORE_NOTFOUND)
		return client_by_name(c, t, ref, hold, id);
	*hold = json_incref(cr.json);
	*id = cr.client_id;
	record_clear(REC_CLIENT, &cr);
	return rc;
}

/* Replace each enabled_clients reference by its client_id, once each. */
static enum store_rc
connection_resolve(struct ctl *c, struct txn *t, json_t *rec,
    const json_t *names)
{
	struct conn	 cn;
	json_t		*ids = json_array(), *hold, *e;
	const char	*id;
	enum store_rc	 rc = STORE_OK;
	size_t		 i, j;

	if (record_parse(REC_CONNECTION, rec, &cn) == -1) {
		json_decref(ids);
		return refuse(c, STORE_ERR, "connection: a field has the "
		    "wrong type");
	}
	json_array_foreach(cn.enabled_clients, i, e) {
		rc = client_resolve(c, t, names, json_string_value(e), &hold,
		    &id);
		for (j = 0; rc == STORE_OK && j < json_array_size(ids); j++)
			if (strcmp(json_string_value(json_array_get(ids, j)),
			    id) == 0)
				break;
		if (rc == STORE_OK && j == json_array_size(ids))
			json_array_append_new(ids, json_string(id));
		json_decref(hold);
		if (rc != STORE_OK)
			break;
	}
	record_clear(REC_CONNECTION, &cn);
	json_object_set_new(rec, "enabled_clients", ids);
	return rc;
}

/* What an Azure AD or ADFS connection needs (extconn.c). */
static enum store_rc
connection_upstream(struct ctl *c, json_t *rec)
{
	struct conn	 cn;
	const char	*why;
	enum store_rc	 rc = STORE_OK;

	if (record_parse(REC_CONNECTION, rec, &cn) == -1)
		return refuse(c, STORE_ERR, "connection: a field has the "
		    "wrong type");
	if ((why = extconn_problem(&cn)) != NULL ||
	    (why = ldapconn_problem(&cn)) != NULL)
		rc = refuse(c, STORE_ERR, "connection: %s", why);
	record_clear(REC_CONNECTION, &cn);
	return rc;
}

enum store_rc
connection_build(struct ctl *c, struct txn *t, const json_t *old,
    const json_t *spec, const json_t *names, json_t **out)
{
	json_t		*rec;
	enum store_rc	 rc;

	rec = old != NULL ? json_deep_copy(old) : json_pack("{sss[]}",
	    "strategy", vocab_name(&strategy_vocab, (size_t)record_field(
	    REC_CONNECTION, "strategy")->def), "enabled_clients");
	record_merge(rec, spec);
	rc = connection_resolve(c, t, rec, names);
	if (rc == STORE_OK)
		rc = rec_complete(c, REC_CONNECTION, rec);
	if (rc == STORE_OK)
		rc = connection_upstream(c, rec);
	if (rc != STORE_OK) {
		json_decref(rec);
		return rc;
	}
	*out = rec;
	return STORE_OK;
}

/* The connection's strategy; a missing connection is refused. */
enum store_rc
conn_strategy(struct ctl *c, struct txn *t, const char *conn,
    enum conn_strategy *strategy)
{
	struct conn	 cn;
	enum store_rc	 rc;

	if ((rc = must_get_rec(c, t, REC_CONNECTION, conn, &cn)) == STORE_OK)
		*strategy = cn.strategy;
	record_clear(REC_CONNECTION, &cn);
	return rc;
}

/* The secrets a connection stores as given, for latchkey to send
 * (docs/security.md): from stdin or a file (its first line), never argv. */
static const struct {
	const char	*in, *file;	/* the two options */
	const char	*field;
} secrets[] = {
	{ "upstream-secret-stdin", "upstream-secret-file",
	    "upstream_client_secret" },
	{ "bind-password-stdin", "bind-password-file", "ldap_bind_password" },
};

/* Secret i from stdin or its file into c->spec; 0 or an exit status. */
static int
secret_prep(struct ctl *c, size_t i)
{
	const char	*file = sget(c->opt, secrets[i].file);
	size_t		 len = 0;

	if (json_is_true(json_object_get(c->opt, secrets[i].in))) {
		if (file != NULL || c->secret != NULL) {
			warnmsg("--%s: one secret, from one source", secrets[i].in);
			return EXIT_USAGE;
		}
		c->secret = read_line(REC_SECRET_MAX, &len);
	} else if (file != NULL) {
		if (c->secret != NULL) {
			warnmsg("--%s: one secret, from one source",
			    secrets[i].file);
			return EXIT_USAGE;
		}
		c->secret = read_file(file, REC_SECRET_MAX + 2, &len);
		if (c->secret != NULL)
			c->secret[strcspn(c->secret, "\r\n")] = '\0';
	} else
		return 0;
	if (c->secret == NULL || *c->secret == '\0' ||
	    strlen(c->secret) > REC_SECRET_MAX) {
		warnmsg("%s: empty, unreadable or too long", secrets[i].field);
		return EXIT_USAGE;
	}
	json_object_set_new(c->spec, secrets[i].field, json_string(c->secret));
	return 0;
}

static int
connection_prep(struct ctl *c)
{
	size_t	 i;
	int	 rc;

	json_object_set_new(c->spec, "name", json_string(c->pos[0]));
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if ((rc = secret_prep(c, i)) != 0)
			return rc;
	return spec_check(c, REC_CONNECTION, "connection");
}

static enum store_rc
connection_add_tx(struct ctl *c, struct txn *t)
{
	json_t		*rec = NULL;
	enum store_rc	 rc;

	rc = connection_build(c, t, NULL, c->spec, NULL, &rec);
	if (rc == STORE_OK)
		rc = store_put(c->s, t, SK_CONNECTION, c->pos[0], rec,
		    STORE_NOOVERWRITE);
	if (rc == STORE_EXISTS)
		refuse(c, rc, "connection %s exists", c->pos[0]);
	if (rc == STORE_OK)
		c->out = json_incref(rec);
	json_decref(rec);
	return rc;
}

/* --disable-client then --enable-client on the built record. */
static enum store_rc
connection_toggle(struct ctl *c, struct txn *t, json_t *rec)
{
	const char	*en = sget(c->opt, "enable-client");
	const char	*dis = sget(c->opt, "disable-client");
	struct conn	 cn;
	json_t		*list;
	size_t		 i;

	if (record_parse(REC_CONNECTION, rec, &cn) == -1)
		return refuse(c, STORE_ERR, "connection: a field has the "
		    "wrong type");
	list = json_deep_copy(cn.enabled_clients);
	record_clear(REC_CONNECTION, &cn);
	for (i = 0; dis != NULL && i < json_array_size(list); i++)
		if (strcmp(json_string_value(json_array_get(list, i)), dis) == 0)
			json_array_remove(list, i--);
	if (en != NULL)
		json_array_append_new(list, json_string(en));
	json_object_set_new(rec, "enabled_clients", list);
	return en != NULL ? connection_resolve(c, t, rec, NULL) : STORE_OK;
}

static enum store_rc
connection_update_tx(struct ctl *c, struct txn *t)
{
	json_t		*old = NULL, *rec = NULL;
	enum store_rc	 rc;

	if ((rc = must_get(c, t, SK_CONNECTION, c->pos[0], "connection",
	    &old)) != STORE_OK)
		return rc;
	rc = connection_build(c, t, old, c->spec, NULL, &rec);
	if (rc == STORE_OK)
		rc = connection_toggle(c, t, rec);
	if (rc == STORE_OK)
		rc = store_put(c->s, t, SK_CONNECTION, c->pos[0], rec, 0);
	if (rc == STORE_OK)
		c->out = json_incref(rec);
	json_decref(old);
	json_decref(rec);
	return rc;
}

/* Users would be left without a connection: refuse while any exist. */
static enum store_rc
connection_users(struct ctl *c, int n)
{

	return refuse(c, STORE_EXISTS, "connection %s has %d user(s): "
	    "remove them first", c->pos[0], n);
}

/*
 * The transaction checks again through the user indexes (store.c
 * SK_USERIDX "<tag>\x1f<connection>\x1f..."), a seek each: a user with
 * an email, username or phone created in the connection since the
 * batched count (a passwordless first login) stops the removal.
 */
static enum store_rc
connection_remove_tx(struct ctl *c, struct txn *t)
{
	static const char	 tags[] = "eup";
	char			 prefix[REC_ID_LEN + 8];
	enum store_rc		 rc;
	size_t			 i;

	for (i = 0; i < sizeof(tags) - 1; i++) {
		snprintf(prefix, sizeof(prefix), "%c\x1f%s\x1f", tags[i],
		    c->pos[0]);
		rc = store_prefix_any(c->s, t, SK_USERIDX, prefix);
		if (rc == STORE_OK)
			return connection_users(c, 1);
		if (rc != STORE_NOTFOUND)
			return rc;
	}
	rc = store_del(c->s, t, SK_CONNECTION, c->pos[0]);
	if (rc == STORE_NOTFOUND)
		refuse(c, rc, "no such connection: %s", c->pos[0]);
	return rc;
}

/* Count the connection's users in batches, then remove it if none. */
static enum store_rc
connection_remove_batch(struct ctl *c)
{
	struct findarg	 a = { "connection", c->pos[0], NULL, NULL, 0 };
	enum store_rc	 rc;

	if ((rc = store_scan(c->s, SK_USER, NULL, find_cb, &a)) != STORE_OK)
		return rc;
	json_decref(a.found);
	if (a.n > 0)
		return connection_users(c, a.n);
	return ctl_tx(c);
}

/* ------------------------------------------------------------------ */
/* APIs.                                                              */

static const struct optdef api_opts[] = {
	{ "name", CV_STR, "name", "N", CH_NONE, 0 },
	{ "scopes", CV_LIST, "scopes", "a,b", CH_NONE, 0 },
	{ "lifetime", CV_INT, "token_lifetime", "SECONDS", CH_NONE, 0 },
	{ "offline-access", CV_TRUE, "allow_offline_access", NULL, CH_NONE,
	    0 },
	{ "no-offline-access", CV_FALSE, "allow_offline_access", NULL,
	    CH_NONE, OPT_ALT },
	{ "proof-of-possession", CV_JSON, "proof_of_possession", "JSON",
	    CH_NONE, 0 },
	OPT_END
};

static const struct optdef api_add_opts[] = {
	{ "name", CV_STR, "name", "N", CH_NONE, 0 },
	{ "scopes", CV_LIST, "scopes", "a,b", CH_NONE, 0 },
	{ "lifetime", CV_INT, "token_lifetime", "SECONDS", CH_NONE, 0 },
	{ "offline-access", CV_TRUE, "allow_offline_access", NULL, CH_NONE,
	    0 },
	{ "proof-of-possession", CV_JSON, "proof_of_possession", "JSON",
	    CH_NONE, 0 },
	OPT_END
};

json_t *
api_build(const json_t *old, const char *identifier, const json_t *spec)
{
	json_t	*rec;

	rec = old != NULL ? json_deep_copy(old) :
	    json_pack("{sssss[]sIsb}", "identifier", identifier,
	    "name", identifier, "scopes", "token_lifetime",
	    (json_int_t)record_field(REC_API, "token_lifetime")->def,
	    "allow_offline_access", 0);
	record_merge(rec, spec);
	return rec;
}

static int
api_prep(struct ctl *c)
{

	if (json_object_get(c->spec, "identifier") == NULL)
		json_object_set_new(c->spec, "identifier",
		    json_string(c->pos[0]));
	return spec_check(c, REC_API, "api");
}

static enum store_rc
api_put_tx(struct ctl *c, struct txn *t, int create)
{
	json_t		*old = NULL, *rec;
	enum store_rc	 rc = STORE_OK;

	if (!create)
		rc = must_get(c, t, SK_API, c->pos[0], "api", &old);
	if (rc != STORE_OK)
		return rc;
	rec = api_build(old, c->pos[0], c->spec);
	rc = store_put(c->s, t, SK_API, c->pos[0], rec,
	    create ? STORE_NOOVERWRITE : 0);
	if (rc == STORE_EXISTS)
		refuse(c, rc, "api %s exists", c->pos[0]);
	if (rc == STORE_OK)
		c->out = json_incref(rec);
	json_decref(old);
	json_decref(rec);
	return rc;
}

static enum store_rc
api_add_tx(struct ctl *c, struct txn *t)
{

	return api_put_tx(c, t, 1);
}

static enum store_rc
api_update_tx(struct ctl *c, struct txn *t)
{

	return api_put_tx(c, t, 0);
}

static enum store_rc
api_remove_tx(struct ctl *c, struct txn *t)
{
	enum store_rc	 rc;

	rc = store_del(c->s, t, SK_API, c->pos[0]);
	if (rc == STORE_NOTFOUND)
		refuse(c, rc, "no such api: %s", c->pos[0]);
	return rc;
}

const struct cmd ctl_connection_cmds[] = {
	{ "connection", "add", "NAME", connection_add_opts, connection_prep,
	    connection_add_tx, NULL, 0 },
	{ "connection", "list", NULL, NULL, NULL, rec_list_tx, NULL,
	    CMD_AGAIN },
	{ "connection", "show", "NAME", NULL, NULL, rec_show_tx, NULL,
	    CMD_AGAIN },
	{ "connection", "update", "NAME", connection_update_opts,
	    connection_prep, connection_update_tx, NULL, CMD_AGAIN },
	{ "connection", "remove", "NAME", NULL, NULL, connection_remove_tx,
	    connection_remove_batch, 0 },
	{ "connection", "test", "NAME LOGIN", NULL, conntest_prep,
	    conntest_tx, NULL, CMD_AGAIN },
	{ "api", "add", "IDENTIFIER", api_add_opts, api_prep, api_add_tx,
	    NULL, 0 },
	{ "api", "list", NULL, NULL, NULL, rec_list_tx, NULL, CMD_AGAIN },
	{ "api", "show", "ID", NULL, NULL, rec_show_tx, NULL, CMD_AGAIN },
	{ "api", "update", "ID", api_opts, api_prep, api_update_tx, NULL,
	    CMD_AGAIN },
	{ "api", "remove", "ID", NULL, NULL, api_remove_tx, NULL, 0 },
	CMD_END
};
