/*
 * The converters of deploy_map.c's field tables: each takes an Auth0
 * field's value and sets the latchkey field its table row names (or
 * reports why it cannot), with the field's place for messages.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"
#include "deploy_map_int.h"

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
int
dm_cv_clamp(struct mctx *m, const struct fmap *f, const json_t *v, json_t *out)
{
	const struct fdef *fd = target(m, f);
	json_int_t	 i;
	char		 why[128];

	if (!json_is_integer(v))
		return dm_err(m, "%s: not an integer", m->path);
	i = json_integer_value(v);
	if (fd != NULL && (i < fd->min || i > fd->max)) {
		i = i < fd->min ? fd->min : fd->max;
		snprintf(why, sizeof(why), "%lld is outside latchkey's "
		    "%lld-%lld: set to %lld", json_integer_value(v), fd->min,
		    fd->max, (long long)i);
		dm_rep_field(m, RL_APPROX, why);
	}
	dm_put(out, f->to, json_integer(i));
	return 0;
}

/* A name of the latchkey field's vocabulary, else its default
 * (approximate). */
int
dm_cv_enum(struct mctx *m, const struct fmap *f, const json_t *v, json_t *out)
{
	const struct fdef *fd = target(m, f);
	char		 why[256];

	if (!json_is_string(v))
		return dm_err(m, "%s: not a string", m->path);
	if (fd != NULL && record_value_problem(fd, v) == NULL) {
		dm_put(out, f->to, json_deep_copy(v));
		return 0;
	}
	snprintf(why, sizeof(why), "%s is not served: latchkey's default "
	    "(%s) is kept", json_string_value(v), fd != NULL ?
	    vocab_name(fd->vocab, (size_t)fd->def) : "none");
	dm_rep_field(m, RL_APPROX, why);
	return 0;
}

/* An API's proof_of_possession: DPoP as it is; mtls, which latchkey
 * does not serve, is left out and reported (docs/COMPAT.md 10.1). */
int
dm_cv_pop(struct mctx *m, const struct fmap *f, const json_t *v, json_t *out)
{
	const char	*why;
	char		 msg[256];

	if (json_is_null(v))
		return 0;
	if ((why = dpop_pop_problem(v)) == NULL) {
		dm_put(out, f->to, json_deep_copy(v));
		return 0;
	}
	snprintf(msg, sizeof(msg), "not imported: %s", why);
	dm_rep_field(m, RL_APPROX, msg);
	return 0;
}

/* Grant types: those a latchkey client holds; the others skipped. */
int
dm_cv_grants(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	json_t		*keep = json_array();
	const json_t	*g;
	size_t		 i;
	char		 name[REC_NAME_LEN + 128];

	if (!json_is_array(v)) {
		json_decref(keep);
		return dm_err(m, "%s: not a list", m->path);
	}
	json_array_foreach(v, i, g) {
		if (!json_is_string(g)) {
			json_decref(keep);
			return dm_err(m, "%s[%zu]: not a string", m->path, i);
		}
		if (grant_type_find(json_string_value(g), GT_CLIENT) !=
		    GT__MAX) {
			json_array_append(keep, (json_t *)g);
			continue;
		}
		snprintf(name, sizeof(name), "%s: %s", m->item,
		    json_string_value(g));
		dm_rep(m, RL_SKIPPED, "grant type", name, "latchkey serves the "
		    "password, password-realm, passwordless OTP, refresh "
		    "token, MFA and /oauth/ro grants only (docs/COMPAT.md)");
	}
	dm_put(out, f->to, keep);
	return 0;
}

/* token_endpoint_auth_method: none, client_secret_post or
 * client_secret_basic (null when private_key_jwt is configured). */
int
dm_cv_auth(struct mctx *m, const struct fmap *f, const json_t *v, json_t *out)
{

	if (json_is_null(v))
		return 0;
	return dm_cv_enum(m, f, v, out);
}

/* One private_key_jwt credential: {credential_type, name, pem, alg}. */
static int
dm_cv_credential(struct mctx *m, const json_t *cr, size_t i, json_t *keys)
{
	const json_t	*pem = json_object_get(cr, "pem");
	const json_t	*alg = json_object_get(cr, "alg");
	char		 why[256];

	if (!json_is_object(cr))
		return dm_err(m, "%s[%zu]: not a mapping", m->path, i);
	if (!json_is_string(pem)) {
		snprintf(why, sizeof(why), "credential %zu has no pem "
		    "(export it with its public key)", i);
		dm_rep_field(m, RL_SKIPPED, why);
		return 0;
	}
	if (alg != NULL && (!json_is_string(alg) ||
	    vocab_find(&key_alg_vocab, json_string_value(alg)) < 0)) {
		snprintf(why, sizeof(why), "credential %zu: algorithm not "
		    "served (RS256, ES256)", i);
		dm_rep_field(m, RL_SKIPPED, why);
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
int
dm_cv_methods(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	const json_t	*creds, *cr;
	json_t		*keys;
	const char	*k;
	size_t		 i, len = strlen(m->path);
	int		 rc = 0;

	if (!json_is_object(v))
		return dm_err(m, "%s: not a mapping", m->path);
	json_object_foreach((json_t *)v, k, cr)
		if (strcmp(k, "private_key_jwt") != 0 && !dm_is_empty(cr)) {
			snprintf(m->path + len, sizeof(m->path) - len,
			    ".%s", k);
			dm_rep_field(m, RL_SKIPPED, "mutual-TLS client "
			    "authentication is not served");
			m->path[len] = '\0';
		}
	creds = json_object_get(json_object_get(v, "private_key_jwt"),
	    "credentials");
	if (creds == NULL)
		return 0;
	if (!json_is_array(creds))
		return dm_err(m, "%s.private_key_jwt.credentials: not a list",
		    m->path);
	keys = json_array();
	json_array_foreach(creds, i, cr)
		if ((rc = dm_cv_credential(m, cr, i, keys)) == -1)
			break;
	if (rc == 0 && json_array_size(keys) > 0) {
		dm_put(out, "token_endpoint_auth_method",
		    json_string(vocab_name(&client_auth_vocab,
		    CLIENT_AUTH_PRIVATE_KEY_JWT)));
		dm_put(out, f->to, json_incref(keys));
	} else if (rc == 0 && json_array_size(creds) > 0)
		dm_rep_field(m, RL_APPROX, "no credential with a usable "
		    "public key: the client authenticates with a secret until "
		    "one is added (latchkeyctl client update --public-key)");
	json_decref(keys);
	return rc;
}

/* refresh_token: each member refresh_conf.c accepts, the others
 * skipped (https://auth0.com/docs/secure/tokens/refresh-tokens/configure-refresh-token-rotation). */
int
dm_cv_refresh(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	json_t		*rt = json_object(), *one;
	const json_t	*x;
	const char	*k, *why;
	size_t		 len = strlen(m->path);

	if (!json_is_object(v)) {
		json_decref(rt);
		return dm_err(m, "%s: not a mapping", m->path);
	}
	json_object_foreach((json_t *)v, k, x) {
		one = json_pack("{sO}", k, x);
		if ((why = refresh_conf_problem(one)) == NULL)
			json_object_set(rt, k, (json_t *)x);
		else if (!dm_is_empty(x)) {
			snprintf(m->path + len, sizeof(m->path) - len,
			    ".%s", k);
			dm_rep_field(m, RL_SKIPPED, why);
			m->path[len] = '\0';
		}
		json_decref(one);
	}
	if ((why = refresh_conf_problem(rt)) != NULL) {
		json_decref(rt);
		return dm_err(m, "%s: %s", m->path, why);
	}
	dm_put(out, f->to, rt);
	return 0;
}

/* Resource-server scopes [{value, description}] to their values. */
int
dm_cv_scopes(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	json_t		*list = json_array();
	const json_t	*s, *val;
	size_t		 i;

	if (!json_is_array(v)) {
		json_decref(list);
		return dm_err(m, "%s: not a list", m->path);
	}
	json_array_foreach(v, i, s) {
		val = json_is_object(s) ? json_object_get(s, "value") : s;
		if (!json_is_string(val)) {
			json_decref(list);
			return dm_err(m, "%s[%zu]: no value", m->path, i);
		}
		json_array_append(list, (json_t *)val);
	}
	dm_put(out, f->to, list);
	return 0;
}

/* An API's signing_alg: tokens are signed with the tenant's key. */
int
dm_cv_api_alg(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{

	(void)f;
	(void)out;
	if (!json_is_string(v))
		return dm_err(m, "%s: not a string", m->path);
	if (strcmp(json_string_value(v), key_alg_name(KEY_RS256)) != 0)
		dm_rep_field(m, RL_APPROX, "access tokens are signed with the "
		    "tenant's signing key (RS256 unless the tenant's alg says "
		    "ES256)");
	return 0;
}

/* enabled_clients: names or client_ids of clients of the export. */
int
dm_cv_enabled(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	const json_t	*e;
	size_t		 i;

	if (!json_is_array(v))
		return dm_err(m, "%s: not a list", m->path);
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return dm_err(m, "%s[%zu]: not a string", m->path, i);
		if (json_object_get(m->names, json_string_value(e)) == NULL)
			return dm_err(m, "%s: no client named %.128s in the "
			    "export", m->path, json_string_value(e));
	}
	dm_put(out, f->to, json_deep_copy(v));
	return 0;
}

/*
 * allowed_origins, web_origins (docs/COMPAT.md 11.1): the origins cors.c
 * accepts, each once, up to 100.  Others (a path, an {organization_name}
 * placeholder, a custom scheme) are left out and reported approximate.
 */
int
dm_cv_origins(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{
	json_t		*list = json_array();
	const json_t	*e;
	const char	*why = NULL;
	size_t		 i, j, dropped = 0;
	char		 msg[256];

	if (!json_is_array(v)) {
		json_decref(list);
		return dm_err(m, "%s: not a list", m->path);
	}
	json_array_foreach(v, i, e) {
		if (!json_is_string(e)) {
			json_decref(list);
			return dm_err(m, "%s[%zu]: not a string", m->path, i);
		}
		for (j = 0; j < json_array_size(list); j++)
			if (json_equal(e, json_array_get(list, j)))
				break;
		if (j < json_array_size(list))
			continue;
		if (json_array_size(list) == REC_LIST_MAX)
			why = "more than 100 origins";
		else if ((why = cors_origin_problem(json_string_value(e))) ==
		    NULL) {
			json_array_append(list, (json_t *)e);
			continue;
		}
		dropped++;
	}
	if (dropped > 0) {
		snprintf(msg, sizeof(msg), "%zu origin(s) left out, the first "
		    "because: %s", dropped, why);
		dm_rep_field(m, RL_APPROX, msg);
	}
	dm_put(out, f->to, list);
	return 0;
}

/* Milliseconds to seconds (suspicious-IP throttling's rate). */
int
dm_cv_ms(struct mctx *m, const struct fmap *f, const json_t *v, json_t *out)
{
	json_int_t	 ms;

	if (!json_is_integer(v) || (ms = json_integer_value(v)) < 0)
		return dm_err(m, "%s: not a count of milliseconds", m->path);
	if (ms % 1000 != 0)
		dm_rep_field(m, RL_APPROX, "rounded up to whole seconds");
	dm_put(out, f->to, json_integer((ms + 999) / 1000));
	return 0;
}

/* An Auth0 setting that latchkey's differs from: mapped by the table's
 * sibling entries, reported with why. */
int
dm_cv_approx(struct mctx *m, const struct fmap *f, const json_t *v,
    json_t *out)
{

	(void)out;
	if (!dm_is_empty(v))
		dm_rep_field(m, RL_APPROX, f->why);
	return 0;
}
