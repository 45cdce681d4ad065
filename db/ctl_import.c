/*
 * latchkeyctl: import FILE (a tenant in latchkey's own format, applied
 * as one transaction, idempotent) and import-auth0 (an Auth0 user export
 * into a database connection, docs/COMPAT.md 3; auth0_export.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ctl.h"

/* The sections of an import file, in the order they are applied. */
enum sect { SECT_CLIENTS, SECT_CONNECTIONS, SECT_APIS, SECT_USERS,
	SECT__MAX };

static const struct {
	const char		*name;
	enum rec_kind		 kind;
} sects[SECT__MAX] = {
	[SECT_CLIENTS] = { "clients", REC_CLIENT },
	[SECT_CONNECTIONS] = { "connections", REC_CONNECTION },
	[SECT_APIS] = { "apis", REC_API },
	[SECT_USERS] = { "users", REC_USER },
};

/*
 * An item's natural key, to refuse duplicates within the file: client_id
 * else name; connection name; API identifier; user connection + email,
 * username or user_id.  Empty when the item lacks one.
 */
static void
item_key(enum sect s, const json_t *it, char *key, size_t keysz)
{
	const char	*a, *b;

	*key = '\0';
	switch (s) {
	case SECT_CLIENTS:
		a = sget(it, "client_id") ? "id" : "name";
		b = sget(it, "client_id") ? sget(it, "client_id") :
		    sget(it, "name");
		break;
	case SECT_CONNECTIONS:
		a = "";
		b = sget(it, "name");
		break;
	case SECT_APIS:
		a = "";
		b = sget(it, "identifier");
		break;
	default:
		a = sget(it, "connection");
		b = sget(it, "email") ? sget(it, "email") :
		    sget(it, "username") ? sget(it, "username") :
		    sget(it, "user_id");
		break;
	}
	if (a != NULL && b != NULL)
		snprintf(key, keysz, "%s\x1f%s", a, b);
}

static int
import_item_check(enum sect s, json_t *it, json_t *seen, char *err,
    size_t errsz)
{
	const char	*what = record_name(sects[s].kind);
	char		 key[2048];

	if (record_check(sects[s].kind, it, what, err, errsz) == -1)
		return -1;
	item_key(s, it, key, sizeof(key));
	if (*key == '\0') {
		snprintf(err, errsz, "%s: missing its name, id or login", what);
		return -1;
	}
	if (json_object_get(seen, key) != NULL) {
		snprintf(err, errsz, "%s: listed twice", what);
		return -1;
	}
	json_object_set_new(seen, key, json_true());
	if (s == SECT_USERS && json_object_get(it, "password") != NULL &&
	    json_object_get(it, "password_hash") != NULL) {
		snprintf(err, errsz, "user: password and password_hash");
		return -1;
	}
	if (s == SECT_CLIENTS && json_object_get(it, "public_keys") != NULL)
		return record_keys_normalize(json_object_get(it, "public_keys"));
	return 0;
}

/* One section: an array of items of its kind. */
static int
import_sect_check(enum sect s, const char *name, json_t *v, char *err,
    size_t errsz)
{
	json_t		*it, *seen;
	size_t		 i;
	int		 rc = 0;

	if (!json_is_array(v)) {
		snprintf(err, errsz, "%s: not an array", name);
		return -1;
	}
	if ((seen = json_object()) == NULL)
		return -1;
	json_array_foreach(v, i, it)
		if ((rc = import_item_check(s, it, seen, err, errsz)) == -1)
			break;
	json_decref(seen);
	return rc;
}

/* The whole file, before anything is written.  0 or -1 with err. */
int
import_check(json_t *doc, char *err, size_t errsz)
{
	json_t		*v;
	const char	*k;
	size_t		 s;

	json_object_foreach(doc, k, v) {
		for (s = 0; s < SECT__MAX && strcmp(k, sects[s].name); s++)
			continue;
		if (s < SECT__MAX) {
			if (import_sect_check((enum sect)s, k, v, err,
			    errsz) == -1)
				return -1;
			continue;
		}
		if (strcmp(k, record_name(REC_TENANT)) != 0) {
			snprintf(err, errsz, "%s: unknown section", k);
			return -1;
		}
		if (record_check(REC_TENANT, v, k, err, errsz) == -1)
			return -1;
	}
	return 0;
}

static int
import_prep(struct ctl *c)
{
	json_error_t	 e;
	char		*text;
	size_t		 len;

	if ((text = read_file(c->pos[0], IMPORT_MAX, &len)) == NULL)
		return EXIT_RUNTIME;
	c->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
	OPENSSL_cleanse(text, len);
	free(text);
	if (c->doc == NULL) {
		warnmsg("%s:%d:%d: %s", c->pos[0], e.line, e.column, e.text);
		return EXIT_USAGE;
	}
	if (!json_is_object(c->doc) ||
	    import_check(c->doc, c->err, sizeof(c->err)) == -1) {
		warnmsg("%s: %s", c->pos[0], json_is_object(c->doc) ? c->err :
		    "not a JSON object");
		return EXIT_USAGE;
	}
	es256_warn(sget(json_object_get(c->doc, record_name(REC_TENANT)),
	    "alg"));
	return 0;
}

/* Summary: out[section][what] lists the keys. */
static void
note(struct ctl *c, const char *section, const char *what, const char *key)
{
	json_t	*sec, *list;

	if ((sec = json_object_get(c->out, section)) == NULL) {
		sec = json_pack("{s[]s[]s[]}", "created", "updated",
		    "unchanged");
		json_object_set_new(c->out, section, sec);
	}
	if ((list = json_object_get(sec, what)) != NULL)
		json_array_append_new(list, json_string(key));
}

/* The stored client an import item names (by client_id, else name);
 * old->json is NULL when there is none. */
static enum store_rc
import_client_old(struct ctl *c, struct txn *t, const json_t *it,
    struct client_rec *old)
{
	struct findarg	 a = { "name", sget(it, "name"), NULL, NULL, 0 };
	enum store_rc	 rc;

	memset(old, 0, sizeof(*old));
	if (sget(it, "client_id") != NULL) {
		rc = record_get(c->s, t, REC_CLIENT, sget(it, "client_id"),
		    old);
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	}
	if ((rc = store_each(c->s, t, SK_CLIENT, find_cb, &a)) != STORE_OK)
		return rc;
	if (a.found != NULL && record_parse(REC_CLIENT, a.found, old) == -1)
		rc = STORE_ERR;
	json_decref(a.found);
	if (rc == STORE_OK && a.n > 1)
		return refuse(c, STORE_EXISTS, "client name %s is ambiguous: "
		    "give its client_id", a.value);
	return rc;
}

/* Summary and the map of the file's clients for its connections. */
static void
import_client_note(struct ctl *c, json_t *names, const char *id,
    const json_t *rec, const char *status, const char *gen, int show)
{

	note(c, "clients", status, id);
	json_object_set_new(names, sget(rec, "name"), json_string(id));
	json_object_set_new(names, id, json_string(id));
	if (*gen || show)
		json_array_append_new(json_object_get(c->out, "generated"),
		    json_pack("{ssssss*}", "name", sget(rec, "name"),
		    "client_id", id, "client_secret", *gen ? gen : NULL));
}

static enum store_rc
import_client(struct ctl *c, struct txn *t, const json_t *it, json_t *names)
{
	struct client_rec old;
	json_t		*rec = NULL;
	char		 id[64], gen[128];
	enum store_rc	 rc;
	int		 changed;

	if ((rc = import_client_old(c, t, it, &old)) != STORE_OK) {
		record_clear(REC_CLIENT, &old);
		return rc;
	}
	if (old.json != NULL)
		snprintf(id, sizeof(id), "%s", old.client_id);
	else if (sget(it, "client_id") != NULL)
		snprintf(id, sizeof(id), "%s", sget(it, "client_id"));
	else if (rand_alnum(id, sizeof(id), CLIENT_ID_LEN) == -1)
		return refuse(c, STORE_ERR, "no randomness");
	rc = client_build(c, old.json, id, it, sget(it, "client_secret"), 0,
	    &rec, gen, sizeof(gen));
	if (rc == STORE_OK)
		rc = put_changed(c, t, SK_CLIENT, id, old.json, rec, &changed);
	if (rc == STORE_OK)
		import_client_note(c, names, id, rec, old.json == NULL ? "created" :
		    changed ? "updated" : "unchanged", gen,
		    old.json == NULL && sget(it, "client_id") == NULL);
	OPENSSL_cleanse(gen, sizeof(gen));
	record_clear(REC_CLIENT, &old);
	json_decref(rec);
	return rc;
}

static enum store_rc
import_connection(struct ctl *c, struct txn *t, const json_t *it,
    const json_t *names)
{
	const char	*name = sget(it, "name");
	json_t		*old = NULL, *rec = NULL;
	enum store_rc	 rc;
	int		 changed;

	rc = store_get(c->s, t, SK_CONNECTION, name, &old);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	rc = connection_build(c, t, old, it, names, &rec);
	if (rc == STORE_OK)
		rc = put_changed(c, t, SK_CONNECTION, name, old, rec, &changed);
	if (rc == STORE_OK)
		note(c, "connections", old == NULL ? "created" : changed ?
		    "updated" : "unchanged", name);
	json_decref(old);
	json_decref(rec);
	return rc;
}

static enum store_rc
import_api(struct ctl *c, struct txn *t, const json_t *it)
{
	const char	*id = sget(it, "identifier");
	json_t		*old = NULL, *rec;
	enum store_rc	 rc;
	int		 changed;

	rc = store_get(c->s, t, SK_API, id, &old);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	rec = api_build(old, id, it);
	rc = put_changed(c, t, SK_API, id, old, rec, &changed);
	if (rc == STORE_OK)
		note(c, "apis", old == NULL ? "created" : changed ?
		    "updated" : "unchanged", id);
	json_decref(old);
	json_decref(rec);
	return rc;
}

/* The stored user an import item names: by connection + email, else
 * username, else by user_id; a user_id given must then agree.
 * old->json is NULL when there is none. */
static enum store_rc
import_user_old(struct ctl *c, struct txn *t, const json_t *it,
    struct user *old)
{
	const char	*conn = sget(it, "connection");
	const char	*uid = sget(it, "user_id");
	json_t		*j = NULL;
	enum store_rc	 rc = STORE_NOTFOUND;

	memset(old, 0, sizeof(*old));
	if (sget(it, "email") != NULL)
		rc = store_user_find(c->s, t, conn, sget(it, "email"), &j);
	if (rc == STORE_NOTFOUND && sget(it, "username") != NULL)
		rc = store_user_find(c->s, t, conn, sget(it, "username"), &j);
	if (rc == STORE_NOTFOUND && uid != NULL)
		rc = store_get(c->s, t, SK_USER, uid, &j);
	if (rc == STORE_OK && record_parse(REC_USER, j, old) == -1)
		rc = STORE_ERR;
	json_decref(j);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc == STORE_OK && uid != NULL && strcmp(uid, old->user_id) != 0)
		return refuse(c, STORE_EXISTS, "user %s: that login belongs "
		    "to %s", uid, old->user_id);
	return rc;
}

static enum store_rc
import_user(struct ctl *c, struct txn *t, const json_t *it)
{
	struct user	 old;
	json_t		*rec = NULL;
	const char	*pw = sget(it, "password"), *what;
	enum store_rc	 rc;

	if ((rc = import_user_old(c, t, it, &old)) == STORE_OK)
		rc = user_upsert(c, t, old.json, it, pw,
		    pw != NULL ? strlen(pw) : 0, &rec, &what);
	if (rc == STORE_OK)
		note(c, "users", what, sget(rec, "user_id"));
	record_clear(REC_USER, &old);
	json_decref(rec);
	return rc;
}

static enum store_rc
import_item(struct ctl *c, struct txn *t, enum sect s, const json_t *it,
    json_t *names)
{

	switch (s) {
	case SECT_CLIENTS:
		return import_client(c, t, it, names);
	case SECT_CONNECTIONS:
		return import_connection(c, t, it, names);
	case SECT_APIS:
		return import_api(c, t, it);
	default:
		return import_user(c, t, it);
	}
}

/*
 * Tenant, key, then the sections in dependency order: connections name
 * clients, users name connections.  Everything or nothing.
 */
enum store_rc
import_tx(struct ctl *c, struct txn *t)
{
	json_t		*tenant = json_object_get(c->doc,
			    record_name(REC_TENANT));
	json_t		*names = json_object(), *it;
	const char	*what = "unchanged";
	char		 kid[128];
	enum store_rc	 rc;
	size_t		 i;
	int		 s;

	c->out = json_pack("{s[]}", "generated");
	rc = tenant_upsert(c, t, tenant != NULL ? tenant : c->spec, &what);
	if (rc == STORE_OK)
		rc = key_ensure(c, t, sget(tenant, "alg"), kid, sizeof(kid));
	if (rc == STORE_OK)
		json_object_set_new(c->out, "tenant", json_pack("{ssss*}",
		    "status", what, "key_created", *kid ? kid : NULL));
	for (s = 0; rc == STORE_OK && s < SECT__MAX; s++)
		json_array_foreach(json_object_get(c->doc, sects[s].name), i,
		    it)
			if (rc == STORE_OK)
				rc = import_item(c, t, (enum sect)s, it,
				    names);
	json_decref(names);
	return rc;
}

/* ------------------------------------------------------------------ */
/* import-auth0 --connection NAME FILE                                */

static const struct optdef import_auth0_opts[] = {
	{ "connection", CV_STR, NULL, "NAME", CH_NONE, OPT_REQ },
	OPT_END
};

/*
 * Convert the n-th user of the export (auth0_export.c) and check it as
 * import does (fields, duplicates within the file); append it to users.
 * -1 after printing why this user cannot be imported.
 */
static int
import_auth0_check(struct ctl *c, const json_t *in, size_t n, json_t *seen,
    json_t *users)
{
	const char	*who = sget(in, "email");
	json_t		*u = NULL;
	char		 err[512];

	if (who == NULL && (who = sget(in, "username")) == NULL)
		who = sget(in, "user_id");
	if (auth0_user_convert(in, sget(c->opt, "connection"), &u, err,
	    sizeof(err)) == 0 &&
	    import_item_check(SECT_USERS, u, seen, err, sizeof(err)) == 0)
		return json_array_append_new(users, u);
	json_decref(u);
	warnmsg("%s: user %zu%s%.128s%s: %s", c->pos[0], n,
	    who != NULL ? " (" : "", who != NULL ? who : "",
	    who != NULL ? ")" : "", err);
	return -1;
}

/*
 * Read the export and check every user before the store is opened.
 * Every user that cannot be imported is reported, and then nothing is
 * written: drop or fix those users and run it again.
 */
static int
import_auth0_prep(struct ctl *c)
{
	json_t		*in, *it, *users, *seen;
	char		*text, err[512];
	size_t		 len, i, bad = 0;

	if (sget(c->opt, "connection") == NULL) {
		warnmsg("import-auth0: --connection is required");
		return EXIT_USAGE;
	}
	if ((text = read_file(c->pos[0], IMPORT_MAX, &len)) == NULL)
		return EXIT_RUNTIME;
	in = auth0_export_parse(text, len, err, sizeof(err));
	OPENSSL_cleanse(text, len);
	free(text);
	if (in == NULL) {
		warnmsg("%s: %s", c->pos[0], err);
		return EXIT_USAGE;
	}
	users = json_array();
	seen = json_object();
	json_array_foreach(in, i, it)
		if (import_auth0_check(c, it, i + 1, seen, users) == -1)
			bad++;
	json_decref(seen);
	json_decref(in);
	c->doc = json_pack("{so}", sects[SECT_USERS].name, users);
	if (bad > 0)
		warnmsg("%s: %zu user(s) cannot be imported; nothing was "
		    "written", c->pos[0], bad);
	return bad > 0 ? EXIT_USAGE : 0;
}

/*
 * import_user, except that a stored password hash is never replaced:
 * once a migrated user has logged in here (and been rehashed) or had the
 * password set with latchkeyctl, that hash is the current one, and
 * importing the same export again must not bring the old one back.
 */
static enum store_rc
import_auth0_user(struct ctl *c, struct txn *t, const json_t *it)
{
	struct user	 old;
	json_t		*spec;
	enum store_rc	 rc;

	if ((rc = import_user_old(c, t, it, &old)) != STORE_OK) {
		record_clear(REC_USER, &old);
		return rc;
	}
	spec = json_deep_copy(it);
	if (old.password_hash != NULL)
		json_object_del(spec, "password_hash");
	record_clear(REC_USER, &old);
	rc = import_user(c, t, spec);
	json_decref(spec);
	return rc;
}

/* Into a database connection, all users or none, idempotent. */
static enum store_rc
import_auth0_tx(struct ctl *c, struct txn *t)
{
	const char	*conn = sget(c->opt, "connection");
	enum conn_strategy st;
	json_t		*it;
	enum store_rc	 rc;
	size_t		 i;

	if ((rc = conn_strategy(c, t, conn, &st)) != STORE_OK)
		return rc;
	if (st != STRATEGY_AUTH0)
		return refuse(c, STORE_ERR, "connection %s is an %s "
		    "connection: Auth0 database users go to an %s one",
		    conn, vocab_name(&strategy_vocab, st),
		    vocab_name(&strategy_vocab, STRATEGY_AUTH0));
	c->out = json_object();
	json_array_foreach(json_object_get(c->doc, sects[SECT_USERS].name), i,
	    it)
		if ((rc = import_auth0_user(c, t, it)) != STORE_OK)
			return rc;
	return STORE_OK;
}

const struct cmd ctl_import_cmds[] = {
	{ "import", NULL, "FILE", NULL, import_prep, import_tx, NULL,
	    CMD_CREATE | CMD_AGAIN },
	{ "import-auth0", NULL, "FILE", import_auth0_opts, import_auth0_prep,
	    import_auth0_tx, NULL, CMD_AGAIN },
	CMD_END
};
