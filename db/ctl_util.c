/*
 * latchkeyctl: what every command family uses: messages, reading input,
 * printing, and the transaction steps that get, list, show and write
 * records.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "ctl.h"

void
warnmsg(const char *fmt, ...)
{
	va_list	 ap;

	fputs("latchkeyctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Record why the transaction refuses; returns rc for "return refuse()". */
enum store_rc
refuse(struct ctl *c, enum store_rc rc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return rc;
}

/* A string member of admin input (or NULL). */
const char *
sget(const json_t *o, const char *k)
{

	return json_string_value(json_object_get(o, k));
}

void
iso8601(time_t t, char out[32])
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* One line of stdin without its newline, at most max bytes. */
char *
read_line(size_t max, size_t *len)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if ((n = getline(&line, &cap, stdin)) <= 0) {
		warnmsg("nothing on standard input");
		free(line);
		return NULL;
	}
	if (line[n - 1] == '\n')
		line[--n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (n == 0 || (size_t)n > max || strlen(line) != (size_t)n) {
		warnmsg("standard input: empty, too long or NUL byte");
		OPENSSL_cleanse(line, cap);
		free(line);
		return NULL;
	}
	*len = (size_t)n;
	return line;
}

/* A whole file ("-": stdin), NUL-terminated, at most max bytes. */
char *
read_file(const char *path, size_t max, size_t *len)
{
	FILE	*f;
	char	*p;

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL) {
		warnmsg("%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((p = malloc(max + 1)) == NULL)
		warnmsg("%s", strerror(errno));
	else
		*len = fread(p, 1, max + 1, f);
	if (p != NULL && (ferror(f) || *len > max)) {
		warnmsg("%s: read error or larger than %zu bytes", path, max);
		free(p);
		p = NULL;
	} else if (p != NULL)
		p[*len] = '\0';
	if (f != stdin)
		fclose(f);
	return p;
}

void
print_json(const json_t *v)
{
	char	*s;

	if ((s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY)) == NULL)
		return;
	puts(s);
	free(s);
}

/* The spec built from the options, checked against kind's fields. */
int
spec_check(struct ctl *c, enum rec_kind k, const char *what)
{

	if (record_check(k, c->spec, what, c->err, sizeof(c->err)) == -1) {
		warnmsg("%s", c->err);
		return EXIT_USAGE;
	}
	return 0;
}

/* The vocabulary an option's values come from (NULL: none). */
const struct vocab *
choice_vocab(enum choice ch)
{

	switch (ch) {
	case CH_SIGN_ALG:
		return record_field(REC_KEY, "alg")->vocab;
	case CH_IDT_ALG:
		return record_field(REC_CLIENT, "id_token_alg")->vocab;
	case CH_APP_TYPE:
		return &app_type_vocab;
	case CH_AUTH_METHOD:
		return &client_auth_vocab;
	case CH_STRATEGY:
		return &strategy_vocab;
	case CH_ROTATION:
		return &refresh_rotation_vocab;
	case CH_MFA_USER:
		return &mfa_user_vocab;
	default:
		return NULL;
	}
}

/* A signing key algorithm (RFC 7518 3.1): RS256 or ES256. */
int
sign_alg_ok(const char *alg)
{

	return vocab_find(choice_vocab(CH_SIGN_ALG), alg) >= 0;
}

/* --alg names a signing key algorithm. */
int
alg_prep(struct ctl *c)
{
	const char	*alg = sget(c->opt, "alg");

	if (alg != NULL && !sign_alg_ok(alg)) {
		warnmsg("--alg: %s or %s", key_alg_name(KEY_RS256),
		    key_alg_name(KEY_ES256));
		return EXIT_USAGE;
	}
	return 0;
}

const struct optdef now_opts[] = {
	{ "now", CV_INT, NULL, "EPOCH", CH_NONE, 0 },
	OPT_END
};

/* --alg and --now: the clock of a planned (or scripted) key rotation,
 * prune or guard walk. */
int
now_prep(struct ctl *c)
{
	json_t		*now = json_object_get(c->opt, "now");
	int		 rc;

	if ((rc = alg_prep(c)) != 0)
		return rc;
	if (now != NULL && json_integer_value(now) <= 0) {
		warnmsg("--now: seconds since the epoch");
		return EXIT_USAGE;
	}
	if (now != NULL)
		c->now = (time_t)json_integer_value(now);
	return 0;
}

/*
 * An ES256 tenant signs ID tokens with ES256, which the ID-token
 * validators of Auth0's SDKs (node-auth0 v2-v4, auth0.js) refuse: they
 * accept RS256 and HS256 only (docs/COMPAT.md 4 and 8).  A warning, not
 * a refusal: clients that verify with a generic JOSE library are fine.
 */
void
es256_warn(const char *alg)
{
	enum key_alg	 a;

	if (key_alg_parse(alg, &a) == -1 || a != KEY_ES256)
		return;
	warnmsg("warning: %s ID tokens are refused by Auth0 SDKs' ID "
	    "token validators (node-auth0 v2-v4 and auth0.js accept %s and "
	    "%s only); use %s unless every client verifies %s",
	    key_alg_name(KEY_ES256), key_alg_name(KEY_RS256),
	    key_alg_name(KEY_HS256), key_alg_name(KEY_RS256),
	    key_alg_name(KEY_ES256));
}

/* ------------------------------------------------------------------ */
/* Transaction steps.                                                 */

/* The final record has every required field.  STORE_OK or refused. */
enum store_rc
rec_complete(struct ctl *c, enum rec_kind k, const json_t *rec)
{
	const char	*missing = record_missing(k, rec);

	if (missing == NULL)
		return STORE_OK;
	return refuse(c, STORE_ERR, "%s: %s is required", record_name(k),
	    missing);
}

/* Get a record that must exist: STORE_NOTFOUND is refused by name. */
enum store_rc
must_get(struct ctl *c, struct txn *t, enum store_kind k, const char *key,
    const char *what, json_t **out)
{
	enum store_rc	 rc;

	rc = store_get(c->s, t, k, key, out);
	if (rc == STORE_NOTFOUND)
		return refuse(c, rc, "no such %s: %s", what, key);
	return rc;
}

/* The same, parsed into kind's struct (record_clear it). */
enum store_rc
must_get_rec(struct ctl *c, struct txn *t, enum rec_kind k, const char *key,
    void *out)
{
	enum store_rc	 rc;

	rc = record_get(c->s, t, k, key, out);
	if (rc == STORE_NOTFOUND)
		return refuse(c, rc, "no such %s: %s", record_name(k), key);
	return rc;
}

/* Put rec under key unless it equals old; *changed tells which. */
enum store_rc
put_changed(struct ctl *c, struct txn *t, enum store_kind k, const char *key,
    const json_t *old, const json_t *rec, int *changed)
{

	*changed = old == NULL || !json_equal(old, rec);
	if (!*changed)
		return STORE_OK;
	return store_put(c->s, t, k, key, rec, 0);
}

int
find_cb(const char *key, json_t *val, void *arg)
{
	struct findarg	*a = arg;
	const char	*v;

	if (a->field != NULL && ((v = sget(val, a->field)) == NULL ||
	    strcmp(v, a->value) != 0))
		return 0;
	if (a->n++ == 0)
		a->found = json_incref(val);
	if (a->list != NULL)
		json_array_append_new(a->list, record_redact(val));
	return 0;
}

/* Every record of a kind (optionally where field == value), redacted;
 * without t, in batches (store_scan). */
enum store_rc
list_tx(struct ctl *c, struct txn *t, enum store_kind k, const char *field,
    const char *value)
{
	struct findarg	 a = { field, value, NULL, json_array(), 0 };
	enum store_rc	 rc;

	rc = t != NULL ? store_each(c->s, t, k, find_cb, &a) :
	    store_scan(c->s, k, NULL, find_cb, &a);
	json_decref(a.found);
	if (rc == STORE_OK)
		c->out = a.list;
	else
		json_decref(a.list);
	return rc;
}

enum store_rc
show_tx(struct ctl *c, struct txn *t, enum store_kind k, const char *what)
{
	json_t		*rec = NULL;
	enum store_rc	 rc;

	if ((rc = must_get(c, t, k, c->pos[0], what, &rec)) == STORE_OK)
		c->out = record_redact(rec);
	json_decref(rec);
	return rc;
}

/* "NOUN list" and "NOUN show KEY" for a record kind named by its noun
 * (client, connection, api, user). */
enum store_rc
rec_list_tx(struct ctl *c, struct txn *t)
{

	return list_tx(c, t, record_store(record_kind(c->cmd->noun)), NULL,
	    NULL);
}

enum store_rc
rec_show_tx(struct ctl *c, struct txn *t)
{

	return show_tx(c, t, record_store(record_kind(c->cmd->noun)),
	    c->cmd->noun);
}

/* The tenant, or its defaults when there is none yet (record_clear). */
enum store_rc
tenant_or_defaults(struct ctl *c, struct txn *t, struct tenant *tn)
{
	json_t		*empty;
	enum store_rc	 rc;

	if ((rc = tenant_load(c->s, t, tn)) != STORE_NOTFOUND)
		return rc;
	if ((empty = json_object()) == NULL)
		return STORE_ERR;
	rc = record_parse(REC_TENANT, empty, tn) == 0 ? STORE_OK : STORE_ERR;
	json_decref(empty);
	return rc;
}
