/*
 * latchkeyctl: clients (applications): add, list, show, update, remove,
 * rotate-secret.  Client authentication is RFC 6749 2.3 and RFC 7523
 * (private_key_jwt); refresh-token settings are docs/COMPAT.md 5.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ctl.h"

/* The options client add and client update share. */
#define CLIENT_OPTS \
	{ "type", CV_STR, "app_type", NULL, CH_APP_TYPE, 0 }, \
	{ "auth-method", CV_STR, "token_endpoint_auth_method", NULL, \
	    CH_AUTH_METHOD, 0 }, \
	{ "grants", CV_LIST, "grant_types", "G,...", CH_NONE, 0 }, \
	{ "id-token-alg", CV_STR, "id_token_alg", NULL, CH_IDT_ALG, 0 }, \
	{ "id-token-lifetime", CV_INT, "id_token_lifetime", "N", CH_NONE, \
	    0 }, \
	{ "public-key", CV_STR, NULL, "FILE", CH_NONE, 0 }, \
	{ "key-alg", CV_STR, NULL, NULL, CH_SIGN_ALG, 0 }, \
	{ "secret-stdin", CV_TRUE, NULL, NULL, CH_NONE, 0 }, \
	{ "refresh-rotation", CV_STR, "refresh_token.rotation_type", \
	    NULL, CH_ROTATION, 0 }, \
	{ "refresh-lifetime", CV_INT, "refresh_token.token_lifetime", "N", \
	    CH_NONE, 0 }, \
	{ "refresh-idle-lifetime", CV_INT, \
	    "refresh_token.idle_token_lifetime", "N", CH_NONE, 0 }, \
	{ "refresh-leeway", CV_INT, "refresh_token.leeway", "N", CH_NONE, \
	    0 }, \
	{ "ip-header-trusted", CV_BOOL, \
	    "is_token_endpoint_ip_header_trusted", NULL, CH_NONE, 0 }, \
	{ "require-dpop", CV_BOOL, "require_proof_of_possession", NULL, \
	    CH_NONE, 0 }, \
	{ "allowed-origins", CV_LIST, "allowed_origins", "URL,...", \
	    CH_NONE, 0 }, \
	{ "web-origins", CV_LIST, "web_origins", "URL,...", CH_NONE, 0 }

static const struct optdef client_opts[] = {
	{ "name", CV_STR, "name", "NAME", CH_NONE, OPT_REQ },
	{ "client-id", CV_STR, "client_id", "ID", CH_NONE, 0 },
	CLIENT_OPTS,
	OPT_END
};

/* The same, without --client-id (client update). */
static const struct optdef client_update_opts[] = {
	{ "name", CV_STR, "name", "NAME", CH_NONE, 0 },
	CLIENT_OPTS,
	OPT_END
};

/* A method that authenticates with a shared secret (RFC 6749 2.3.1). */
static int
secret_method(enum client_auth m)
{

	return m == CLIENT_AUTH_SECRET_POST || m == CLIENT_AUTH_SECRET_BASIC;
}

/* A new client's defaults, which depend on its app_type: public
 * applications (spa, native) authenticate with none. */
static json_t *
client_defaults(const char *client_id, const json_t *spec)
{
	const struct fdef *f = record_field(REC_CLIENT, "app_type");
	int		 type = vocab_find(f->vocab, sget(spec, f->name));
	enum client_auth method;

	if (type < 0)
		type = (int)f->def;
	method = type == APP_SPA || type == APP_NATIVE ? CLIENT_AUTH_NONE :
	    CLIENT_AUTH_SECRET_POST;
	return json_pack("{sssssss[ss]sssIsss[]}",
	    "client_id", client_id,
	    "app_type", vocab_name(f->vocab, (size_t)type),
	    "token_endpoint_auth_method",
	    vocab_name(&client_auth_vocab, method),
	    "grant_types", grant_type_def(GT_PASSWORD)->uri,
	    grant_type_def(GT_PASSWORD_REALM)->uri,
	    "id_token_alg", key_alg_name(KEY_RS256),
	    "id_token_lifetime",
	    (json_int_t)record_field(REC_CLIENT, "id_token_lifetime")->def,
	    "name", client_id, "public_keys");
}

/* Add keys to rec's public_keys, replacing those with the same kid. */
static void
keys_append(json_t *rec, const json_t *keys)
{
	struct client_rec cr;
	json_t		*have = NULL, *k, *h;
	size_t		 i, j;

	if (record_parse(REC_CLIENT, rec, &cr) == 0 &&
	    json_is_array(cr.public_keys))
		have = json_deep_copy(cr.public_keys);
	record_clear(REC_CLIENT, &cr);
	if (have == NULL)
		have = json_array();
	json_object_set_new(rec, "public_keys", have);
	json_array_foreach(keys, i, k) {
		json_array_foreach(have, j, h)
			if (json_equal(json_object_get(h, "kid"),
			    json_object_get(k, "kid")))
				break;
		if (j < json_array_size(have))
			json_array_set_new(have, j, json_deep_copy(k));
		else
			json_array_append_new(have, json_deep_copy(k));
	}
}

/* A client whose method takes no secret: what else that rules out. */
static enum store_rc
client_secretless(struct ctl *c, const struct client_rec *cr,
    const char *secret)
{
	const char	*m = vocab_name(&client_auth_vocab, cr->auth_method);

	if (secret != NULL)
		return refuse(c, STORE_ERR, "client: %s takes no secret", m);
	if (cr->id_token_alg == KEY_HS256)
		return refuse(c, STORE_ERR, "client: %s ID tokens need a "
		    "client_secret_* auth method", key_alg_name(KEY_HS256));
	/* Auth0 offers the toggle only to secret-authenticated
	 * (confidential) applications. */
	if (cr->ip_header_trusted)
		return refuse(c, STORE_ERR, "client: "
		    "is_token_endpoint_ip_header_trusted needs a "
		    "client_secret_* auth method");
	if (cr->auth_method == CLIENT_AUTH_PRIVATE_KEY_JWT &&
	    json_array_size(cr->public_keys) == 0)
		return refuse(c, STORE_ERR, "client: %s needs a public key",
		    m);
	return STORE_OK;
}

/*
 * The secret of a client whose method takes one: the one given, else
 * the one it has, else a new one copied to gen (to be printed once).
 */
static enum store_rc
client_secretful(struct ctl *c, json_t *rec, const struct client_rec *cr,
    const char *secret, char *gen, size_t gensz)
{
	char		 h[72];

	if (secret == NULL && cr->secret_hash != NULL)
		return STORE_OK;
	if (secret == NULL) {
		if (rand_b64url(gen, gensz, SECRET_BYTES) == -1)
			return refuse(c, STORE_ERR, "no randomness");
		secret = gen;
	}
	if (cr->secret_hash != NULL &&
	    hash_secret_check(cr->secret_hash, secret, strlen(secret)))
		return STORE_OK;
	if (hash_secret(secret, strlen(secret), h) == -1)
		return refuse(c, STORE_ERR, "cannot hash the secret");
	json_object_set_new(rec, "secret_hash", json_string(h));
	return STORE_OK;
}

/*
 * Give rec the secret its method needs, or drop it for methods without
 * one; then check the combination.  STORE_OK or refused.
 */
static enum store_rc
client_secret(struct ctl *c, json_t *rec, const char *secret, char *gen,
    size_t gensz)
{
	struct client_rec cr;
	enum store_rc	 rc;

	*gen = '\0';
	if (record_parse(REC_CLIENT, rec, &cr) == -1)
		return refuse(c, STORE_ERR, "client: a field has the wrong "
		    "type");
	if (secret_method(cr.auth_method))
		rc = client_secretful(c, rec, &cr, secret, gen, gensz);
	else if ((rc = client_secretless(c, &cr, secret)) == STORE_OK)
		json_object_del(rec, "secret_hash");
	record_clear(REC_CLIENT, &cr);
	return rc;
}

/*
 * The client record old (NULL: new client_id) becomes with spec applied
 * (public keys appended or replaced).  *out owned by caller; gen gets a
 * generated secret.  STORE_OK or refused.
 */
enum store_rc
client_build(struct ctl *c, const json_t *old, const char *client_id,
    const json_t *spec, const char *secret, int append, json_t **out,
    char *gen, size_t gensz)
{
	json_t		*rec, *sp = json_deep_copy(spec);
	enum store_rc	 rc;

	rec = old != NULL ? json_deep_copy(old) :
	    client_defaults(client_id, spec);
	json_object_del(sp, "client_secret");
	json_object_del(sp, "client_id");
	if (append && json_object_get(sp, "public_keys") != NULL) {
		keys_append(rec, json_object_get(sp, "public_keys"));
		json_object_del(sp, "public_keys");
	}
	record_merge(rec, sp);
	json_decref(sp);
	rc = rec_complete(c, REC_CLIENT, rec);
	if (rc == STORE_OK)
		rc = client_secret(c, rec, secret, gen, gensz);
	if (rc != STORE_OK) {
		json_decref(rec);
		return rc;
	}
	*out = rec;
	return STORE_OK;
}

/* The public key file of --public-key (and --key-alg) into spec. */
static int
client_key_prep(struct ctl *c)
{
	const char	*file = sget(c->opt, "public-key");
	const char	*alg = sget(c->opt, "key-alg");
	char		*pem;
	size_t		 len;

	if (alg != NULL && file == NULL) {
		warnmsg("--key-alg needs --public-key");
		return EXIT_USAGE;
	}
	if (file == NULL)
		return 0;
	if ((pem = read_file(file, REC_PEM_LEN, &len)) == NULL)
		return EXIT_RUNTIME;
	json_object_set_new(c->spec, "public_keys",
	    json_pack("[{ss*ss}]", "alg", alg, "pem", pem));
	free(pem);
	return 0;
}

/* Options to spec: the public key file and the stdin secret. */
static int
client_prep(struct ctl *c)
{
	json_t		*keys;
	size_t		 len;
	int		 rc;

	if ((rc = client_key_prep(c)) != 0 ||
	    (rc = spec_check(c, REC_CLIENT, "client")) != 0)
		return rc;
	keys = json_object_get(c->spec, "public_keys");
	if (keys != NULL && record_keys_normalize(keys) == -1)
		return EXIT_RUNTIME;
	if (json_is_true(json_object_get(c->opt, "secret-stdin")) &&
	    (c->secret = read_line(REC_SECRET_MAX, &len)) == NULL)
		return EXIT_RUNTIME;
	if (c->secret != NULL && len < REC_SECRET_MIN) {
		warnmsg("secret shorter than %d characters", REC_SECRET_MIN);
		return EXIT_USAGE;
	}
	return 0;
}

static int
client_add_prep(struct ctl *c)
{
	const char	*id = sget(c->spec, "client_id");
	int		 rc;

	if ((rc = client_prep(c)) != 0)
		return rc;
	if (json_object_get(c->spec, "name") == NULL) {
		warnmsg("client add: --name is required");
		return EXIT_USAGE;
	}
	if (id != NULL)
		snprintf(c->client_id, sizeof(c->client_id), "%s", id);
	else if (rand_alnum(c->client_id, sizeof(c->client_id),
	    CLIENT_ID_LEN) == -1)
		return EXIT_RUNTIME;
	return 0;
}

static enum store_rc
client_add_tx(struct ctl *c, struct txn *t)
{
	json_t		*rec = NULL;
	char		 gen[128];
	enum store_rc	 rc;

	rc = client_build(c, NULL, c->client_id, c->spec, c->secret, 1, &rec,
	    gen, sizeof(gen));
	if (rc == STORE_OK)
		rc = store_put(c->s, t, SK_CLIENT, c->client_id, rec,
		    STORE_NOOVERWRITE);
	if (rc == STORE_EXISTS)
		refuse(c, rc, "client %s exists", c->client_id);
	if (rc == STORE_OK)
		c->out = json_pack("{ssss*}", "client_id", c->client_id,
		    "client_secret", *gen ? gen : NULL);
	json_decref(rec);
	OPENSSL_cleanse(gen, sizeof(gen));
	return rc;
}

static enum store_rc
client_update_tx(struct ctl *c, struct txn *t)
{
	json_t		*old = NULL, *rec = NULL;
	char		 gen[128];
	enum store_rc	 rc;

	if ((rc = must_get(c, t, SK_CLIENT, c->pos[0], "client", &old))
	    != STORE_OK)
		return rc;
	rc = client_build(c, old, c->pos[0], c->spec, c->secret, 1, &rec,
	    gen, sizeof(gen));
	if (rc == STORE_OK)
		rc = store_put(c->s, t, SK_CLIENT, c->pos[0], rec, 0);
	if (rc == STORE_OK) {
		c->out = record_redact(rec);
		if (*gen)
			json_object_set_new(c->out, "client_secret",
			    json_string(gen));
	}
	json_decref(old);
	json_decref(rec);
	OPENSSL_cleanse(gen, sizeof(gen));
	return rc;
}

static enum store_rc
client_rotate_tx(struct ctl *c, struct txn *t)
{
	struct client_rec cr;
	json_t		*rec;
	char		 gen[128];
	enum store_rc	 rc;

	if ((rc = must_get_rec(c, t, REC_CLIENT, c->pos[0], &cr)) != STORE_OK)
		return rc;
	if (!secret_method(cr.auth_method)) {
		record_clear(REC_CLIENT, &cr);
		return refuse(c, STORE_ERR, "client %s has no secret",
		    c->pos[0]);
	}
	rec = json_deep_copy(cr.json);
	record_clear(REC_CLIENT, &cr);
	json_object_del(rec, "secret_hash");
	rc = client_secret(c, rec, NULL, gen, sizeof(gen));
	if (rc == STORE_OK)
		rc = store_put(c->s, t, SK_CLIENT, c->pos[0], rec, 0);
	if (rc == STORE_OK)
		c->out = json_pack("{ssss}", "client_id", c->pos[0],
		    "client_secret", gen);
	json_decref(rec);
	OPENSSL_cleanse(gen, sizeof(gen));
	return rc;
}

static enum store_rc
client_remove_tx(struct ctl *c, struct txn *t)
{
	enum store_rc	 rc;

	rc = store_del(c->s, t, SK_CLIENT, c->pos[0]);
	if (rc == STORE_NOTFOUND)
		refuse(c, rc, "no such client: %s", c->pos[0]);
	return rc;
}

/* In a batch of connections: drop the client from enabled_clients. */
static enum store_rc
unlink_fn(struct store *s, struct txn *t, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	struct conn	 cn;
	const char	*id = arg, *e;
	json_t		*list;
	enum store_rc	 rc = STORE_OK;
	size_t		 i, n;

	if (record_parse(REC_CONNECTION, val, &cn) == -1)
		return STORE_OK;
	n = json_array_size(cn.enabled_clients);
	for (i = 0; i < n; i++)
		if ((e = json_string_value(json_array_get(cn.enabled_clients,
		    i))) != NULL && strcmp(e, id) == 0)
			break;
	if (i < n) {
		list = json_deep_copy(cn.enabled_clients);
		json_array_remove(list, i);
		json_object_set_new(val, "enabled_clients", list);
		rc = store_put(s, t, SK_CONNECTION, key, val, 0);
	}
	record_clear(REC_CONNECTION, &cn);
	return rc;
}

/*
 * The connections let go of the client first, in batches, then the
 * client goes: a removal stopped part-way leaves the client in place,
 * and running it again finishes it.
 */
static enum store_rc
client_remove_batch(struct ctl *c)
{
	struct store_sweep	 sw = { SK_CONNECTION, NULL, unlink_fn,
				    c->pos[0], NULL, 0, 0 };
	json_t			*rec = NULL;
	enum store_rc		 rc;

	if ((rc = must_get(c, NULL, SK_CLIENT, c->pos[0], "client", &rec))
	    != STORE_OK)
		return rc;
	json_decref(rec);
	if ((rc = store_sweep(c->s, &sw)) != STORE_OK)
		return rc;
	return ctl_tx(c);
}

const struct cmd ctl_client_cmds[] = {
	{ "client", "add", NULL, client_opts, client_add_prep, client_add_tx,
	    NULL, 0 },
	{ "client", "list", NULL, NULL, NULL, rec_list_tx, NULL,
	    CMD_AGAIN },
	{ "client", "show", "ID", NULL, NULL, rec_show_tx, NULL,
	    CMD_AGAIN },
	{ "client", "update", "ID", client_update_opts, client_prep,
	    client_update_tx, NULL, CMD_AGAIN },
	{ "client", "remove", "ID", NULL, NULL, client_remove_tx,
	    client_remove_batch, 0 },
	{ "client", "rotate-secret", "ID", NULL, NULL, client_rotate_tx, NULL,
	    0 },
	CMD_END
};
