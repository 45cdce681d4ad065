/*
 * latchkeyctl: administer a latchkey environment (tenant, clients,
 * connections, users, APIs, signing keys), see latchkeyctl.8.
 *
 * Every command is a row of one table: an optional preparation step that
 * checks the arguments without the store (and reads stdin or files), and
 * one function run inside store_txn_run(), so that a refused or failed
 * command leaves nothing half-written.  What grows with the data (walks
 * of refresh tokens, users, attack-protection records, the audit log)
 * runs instead in bounded batches of their own transactions, after the
 * command's transaction (ctl_after) or as the command's batch step: each
 * such step is idempotent, so that a command stopped part-way is
 * finished by running it again.  Options that name a record field
 * are turned into a "spec" object in the record's own shape; the same
 * field tables then validate command-line specs and import files alike.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "extern.h"

#define EXIT_RUNTIME	1
#define EXIT_USAGE	2
#define EXIT_BUSY	75		/* sysexits EX_TEMPFAIL: try again */

#define SECRET_BYTES	36		/* 48 base64url characters */
#define CLIENT_ID_BYTES	24		/* 32 base64url characters */
#define USER_ID_BYTES	12		/* 24 hex characters */
#define IDT_LIFETIME	36000
#define API_LIFETIME	86400
#define IMPORT_MAX	(16 * 1024 * 1024)


/* ------------------------------------------------------------------ */
/* Commands.                                                          */

/*
 * How an option's argument becomes a value.  CV_TRUE and CV_FALSE take
 * no argument.  An empty CV_STR argument is null: "remove the field".
 */
enum conv { CV_STR, CV_INT, CV_LIST, CV_BOOL, CV_TRUE, CV_FALSE, CV_JSON };

struct optdef {
	const char	*name;		/* without the leading "--" */
	enum conv	 conv;
	const char	*field;		/* spec field ("a.b" nests); NULL: ctl->opt */
};

struct ctl;

struct cmd {
	const char		*noun;
	const char		*verb;		/* NULL for one-word commands */
	int			 npos;		/* positional arguments */
	const struct optdef	*opts;
	int			 (*prep)(struct ctl *);	/* exit code */
	enum store_rc		 (*tx)(struct ctl *, DB_TXN *);
	int			 create;	/* STORE_CREATE */
	/* Instead of tx then ctl_after: batches, and tx through ctl_tx(). */
	enum store_rc		 (*batch)(struct ctl *);
};

struct ctl {
	const struct cmd	*cmd;
	struct store		*s;
	time_t			 now;
	char			**pos;		/* positional arguments */
	int			 npos;
	json_t			*spec;		/* record fields from options */
	json_t			*opt;		/* the other options */
	json_t			*doc;		/* import: the checked file */
	char			*password;	/* from stdin, cleansed */
	size_t			 pwlen;
	char			*secret;	/* from stdin, cleansed */
	char			 client_id[64];	/* generated in prep */
	json_t			*out;		/* printed after the commit */
	char			 err[512];	/* why tx refused */
	/* After the commit (ctl_after), in batches: */
	json_t			*revoke;	/* user_ids: revoke their families */
	json_t			*unblock;	/* users: lift their guard blocks */
	enum store_rc		(*txn_run)(struct store *,
				    enum store_rc (*)(struct store *, DB_TXN *,
				    void *), void *);
};

static void
usage(FILE *f)
{

	fputs("usage: latchkeyctl [-d home] command ...\n"
	    "  init --issuer URL [--alg RS256|ES256] [--default-directory NAME]\n"
	    "       [--default-audience ID] [--hash-time N] [--hash-memory KIB]\n"
	    "       [--hash-parallelism N]\n"
	    "  tenant show | set KEY VALUE | unset KEY\n"
	    "  client add --name NAME [--client-id ID] [--type TYPE]\n"
	    "       [--auth-method METHOD] [--grants G,...] [--id-token-alg RS256|HS256]\n"
	    "       [--id-token-lifetime N] [--public-key FILE [--key-alg RS256|ES256]]\n"
	    "       [--secret-stdin] [--refresh-rotation rotating|non-rotating]\n"
	    "       [--refresh-lifetime N] [--refresh-idle-lifetime N]\n"
	    "       [--refresh-leeway N]\n"
	    "  client list | show ID | update ID [options] | remove ID |"
	    " rotate-secret ID\n"
	    "  connection add NAME [--strategy auth0|sms|email] [--clients ID,...]\n"
	    "       [--delivery-command JSON-ARRAY] [--otp-lifetime SECONDS]\n"
	    "       [--delivery-timeout SECONDS]\n"
	    "  connection list | show NAME | remove NAME\n"
	    "  connection update NAME [--clients ID,...] [--enable-client ID]\n"
	    "       [--disable-client ID] [--delivery-command JSON-ARRAY]\n"
	    "       [--otp-lifetime SECONDS] [--delivery-timeout SECONDS]\n"
	    "  user add --connection C [--email E] [--username U] [--phone P]\n"
	    "       [--password-stdin | --password-hash HASH] [--name N]\n"
	    "       [--given-name N] [--family-name N] [--nickname N] [--picture URL]\n"
	    "       [--email-verified] [--blocked]\n"
	    "  user list [--connection C] | show USER_ID | find --connection C LOGIN\n"
	    "  user update USER_ID [--email E] [--username U] [--phone P] [--name N]\n"
	    "       [--given-name N] [--family-name N] [--nickname N] [--picture URL]\n"
	    "       [--email-verified true|false]\n"
	    "  user remove | set-password | block | unblock USER_ID\n"
	    "  api add IDENTIFIER [--name N] [--scopes a,b] [--lifetime SECONDS]\n"
	    "       [--offline-access]\n"
	    "  api list | show ID | remove ID\n"
	    "  api update ID [--name N] [--scopes a,b] [--lifetime SECONDS]\n"
	    "       [--offline-access | --no-offline-access]\n"
	    "  key list | add-next [--alg RS256|ES256]\n"
	    "  key rotate [--alg RS256|ES256] [--force] [--now EPOCH]\n"
	    "  key prune [--now EPOCH]\n"
	    "  token list --user USER_ID [--client ID]\n"
	    "  token revoke --user USER_ID (--device NAME | --family ID | --all)\n"
	    "  token prune [--now EPOCH]\n"
	    "  device list --user USER_ID\n"
	    "  guard list [--now EPOCH] | prune [--now EPOCH]\n"
	    "  guard unblock (--identifier ID [--ip IP] | --user USER_ID | --ip IP)\n"
	    "  audit list [--since EPOCH] [--type CODE] [--limit N]\n"
	    "  import FILE\n"
	    "  import-auth0 --connection NAME FILE\n", f);
}

static void	 warnmsg(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static enum store_rc ctl_tx(struct ctl *);

static void
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
static enum store_rc
refuse(struct ctl *c, enum store_rc rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum store_rc
refuse(struct ctl *c, enum store_rc rc, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return rc;
}

static const char *
sget(const json_t *o, const char *k)
{

	return json_string_value(json_object_get(o, k));
}

static void
iso8601(time_t t, char out[32])
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* The final record has every required field.  STORE_OK or refused. */
static enum store_rc
rec_complete(struct ctl *c, enum rec_kind k, const json_t *rec)
{
	const char	*missing = record_missing(k, rec);

	if (missing == NULL)
		return STORE_OK;
	return refuse(c, STORE_ERR, "%s: %s is required", record_name(k),
	    missing);
}

/* A method that authenticates with a shared secret (RFC 6749 2.3.1). */
static int
secret_method(const char *m)
{
	int	 i = vocab_find(&client_auth_vocab, m);

	return i == CLIENT_AUTH_SECRET_POST || i == CLIENT_AUTH_SECRET_BASIC;
}

/* A signing key algorithm: RS256 or ES256. */
static int
sign_alg_ok(const char *alg)
{
	enum key_alg	 a;

	return key_alg_parse(alg, &a) == 0 && a != KEY_HS256;
}

/* ------------------------------------------------------------------ */
/* Arguments and input.                                               */

/* Put v at field ("a.b" nests one level) of o.  -1 if already set. */
static int
set_field(json_t *o, const char *field, json_t *v)
{
	const char	*dot;
	char		 head[64];
	json_t		*sub;

	if ((dot = strchr(field, '.')) == NULL) {
		if (json_object_get(o, field) != NULL) {
			json_decref(v);
			return -1;
		}
		return json_object_set_new(o, field, v);
	}
	snprintf(head, sizeof(head), "%.*s", (int)(dot - field), field);
	if ((sub = json_object_get(o, head)) == NULL) {
		sub = json_object();
		json_object_set_new(o, head, sub);
	}
	return set_field(sub, dot + 1, v);
}

static json_t *
split_list(const char *s)
{
	json_t		*a = json_array();
	const char	*end;

	while (a != NULL && *s != '\0') {
		end = strchr(s, ',');
		if (end == NULL)
			end = s + strlen(s);
		if (end == s || json_array_append_new(a,
		    json_stringn(s, (size_t)(end - s))) == -1) {
			json_decref(a);
			return NULL;
		}
		s = *end == ',' ? end + 1 : end;
		if (*end == ',' && *s == '\0') {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The value of one option argument, or NULL (usage error). */
static json_t *
conv_arg(enum conv cv, const char *arg)
{
	char		*end;
	long long	 n;

	switch (cv) {
	case CV_TRUE:
		return json_true();
	case CV_FALSE:
		return json_false();
	case CV_BOOL:
		if (strcmp(arg, "true") == 0 || strcmp(arg, "false") == 0)
			return json_boolean(*arg == 't');
		return NULL;
	case CV_INT:
		errno = 0;
		n = strtoll(arg, &end, 10);
		if (*arg == '\0' || *end != '\0' || errno != 0)
			return NULL;
		return json_integer(n);
	case CV_LIST:
		return split_list(arg);
	case CV_JSON:
		/* A JSON value; empty is null ("remove the field"). */
		return *arg == '\0' ? json_null() :
		    json_loads(arg, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	default:
		return *arg == '\0' ? json_null() : json_string(arg);
	}
}

static int
opt_set(struct ctl *c, const struct optdef *o, const char *arg)
{
	json_t	*v;

	if ((v = conv_arg(o->conv, arg)) == NULL) {
		warnmsg("--%s: bad value (not %s)", o->name,
		    o->conv == CV_INT ? "an integer" : o->conv == CV_BOOL ?
		    "true or false" : o->conv == CV_JSON ? "valid JSON" :
		    "valid UTF-8 or a comma list");
		return -1;
	}
	if (set_field(o->field != NULL ? c->spec : c->opt,
	    o->field != NULL ? o->field : o->name, v) == -1) {
		warnmsg("--%s: given twice or with a conflicting option",
		    o->name);
		return -1;
	}
	return 0;
}

/* Split argv into options (by the command's table) and positionals. */
static int
parse_args(struct ctl *c, int argc, char *argv[])
{
	const struct optdef *o;
	const char	*arg;
	int		 i;

	for (i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == '\0') {
			c->pos[c->npos++] = argv[i];
			continue;
		}
		for (o = c->cmd->opts; o != NULL && o->name != NULL; o++)
			if (strcmp(o->name, argv[i] + 2) == 0)
				break;
		if (o == NULL || o->name == NULL) {
			warnmsg("%s: unknown option", argv[i]);
			return EXIT_USAGE;
		}
		arg = NULL;
		if (o->conv != CV_TRUE && o->conv != CV_FALSE &&
		    (arg = argv[++i]) == NULL) {
			warnmsg("%s needs a value", argv[i - 1]);
			return EXIT_USAGE;
		}
		if (opt_set(c, o, arg) == -1)
			return EXIT_USAGE;
	}
	if (c->npos != c->cmd->npos) {
		warnmsg("%s %s: expected %d argument(s)", c->cmd->noun,
		    c->cmd->verb != NULL ? c->cmd->verb : "", c->cmd->npos);
		return EXIT_USAGE;
	}
	return 0;
}

/* One line of stdin without its newline, at most max bytes. */
static char *
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
static char *
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
	if (p == NULL)
		;
	else if (ferror(f) || *len > max) {
		warnmsg("%s: read error or larger than %zu bytes", path, max);
		free(p);
		p = NULL;
	} else
		p[*len] = '\0';
	if (f != stdin)
		fclose(f);
	return p;
}

static void
print_json(const json_t *v)
{
	char	*s;

	if ((s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY)) == NULL)
		return;
	puts(s);
	free(s);
}

/* ------------------------------------------------------------------ */
/* Shared transaction steps.                                          */

/* Get a record that must exist: STORE_NOTFOUND is refused by name. */
static enum store_rc
must_get(struct ctl *c, DB_TXN *t, enum store_kind k, const char *key,
    const char *what, json_t **out)
{
	enum store_rc	 rc;

	rc = store_get(c->s, t, k, key, out);
	if (rc == STORE_NOTFOUND)
		return refuse(c, rc, "no such %s: %s", what, key);
	return rc;
}

/* Put rec under key unless it equals old; *changed tells which. */
static enum store_rc
put_changed(struct ctl *c, DB_TXN *t, enum store_kind k, const char *key,
    const json_t *old, const json_t *rec, int *changed)
{

	*changed = old == NULL || !json_equal(old, rec);
	if (!*changed)
		return STORE_OK;
	return store_put(c->s, t, k, key, rec, 0);
}

struct findarg {
	const char	*field, *value;	/* match rec[field] == value */
	json_t		*found;		/* first match, owned */
	json_t		*list;		/* all matches, redacted (NULL: skip) */
	int		 n;
};

static int
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
static enum store_rc
list_tx(struct ctl *c, DB_TXN *t, enum store_kind k, const char *field,
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

static enum store_rc
show_tx(struct ctl *c, DB_TXN *t, enum store_kind k, const char *what)
{
	json_t		*rec = NULL;
	enum store_rc	 rc;

	if ((rc = must_get(c, t, k, c->pos[0], what, &rec)) == STORE_OK)
		c->out = record_redact(rec);
	json_decref(rec);
	return rc;
}

/* The password policy of the tenant (defaults without a tenant). */
static enum store_rc
tenant_policy(struct ctl *c, DB_TXN *t, struct hash_policy *pol)
{
	json_t		*tenant = NULL;
	enum store_rc	 rc;

	rc = store_get(c->s, t, SK_META, "tenant", &tenant);
	hash_policy_from_json(tenant, pol);
	json_decref(tenant);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* ------------------------------------------------------------------ */
/* Tenant and keys.                                                   */

/* The tenant keys "tenant set/unset" accepts. */
static const struct optdef tenant_keys[] = {
	{ "issuer", CV_STR, "issuer" },
	{ "default_directory", CV_STR, "default_directory" },
	{ "default_audience", CV_STR, "default_audience" },
	{ "hash.t", CV_INT, "hash.t" },
	{ "hash.m", CV_INT, "hash.m" },
	{ "hash.p", CV_INT, "hash.p" },
	{ "allow_legacy_ro", CV_BOOL, "allow_legacy_ro" },
	{ "hash_slots", CV_INT, "hash_slots" },
	{ "hash_queue", CV_INT, "hash_queue" },
	{ "hash_wait_ms", CV_INT, "hash_wait_ms" },
	{ "brute_force.enabled", CV_BOOL, "brute_force.enabled" },
	{ "brute_force.threshold", CV_INT, "brute_force.threshold" },
	{ "brute_force.mode", CV_STR, "brute_force.mode" },
	{ "brute_force.allowlist", CV_LIST, "brute_force.allowlist" },
	{ "brute_force.block_seconds", CV_INT, "brute_force.block_seconds" },
	{ "suspicious_ip.enabled", CV_BOOL, "suspicious_ip.enabled" },
	{ "suspicious_ip.max_attempts", CV_INT, "suspicious_ip.max_attempts" },
	{ "suspicious_ip.rate_seconds", CV_INT, "suspicious_ip.rate_seconds" },
	{ "suspicious_ip.allowlist", CV_LIST, "suspicious_ip.allowlist" },
	{ "rate_limit.enabled", CV_BOOL, "rate_limit.enabled" },
	{ "rate_limit.login_per_minute", CV_INT, "rate_limit.login_per_minute" },
	{ "rate_limit.login_after_per_minute", CV_INT,
	    "rate_limit.login_after_per_minute" },
	{ "rate_limit.endpoint_per_minute", CV_JSON,
	    "rate_limit.endpoint_per_minute" },
	{ "rate_limit.passwordless_per_recipient_per_hour", CV_INT,
	    "rate_limit.passwordless_per_recipient_per_hour" },
	{ "breached_password_file", CV_STR, "breached_password_file" },
	{ "breached_password_detection", CV_BOOL,
	    "breached_password_detection" },
	{ "audit_retention_days", CV_INT, "audit_retention_days" },
	{ NULL, 0, NULL }
};

/*
 * Create or update the tenant from spec (tenant_fields shape, "alg"
 * ignored); the issuer gets its trailing slash.  *what says "created",
 * "updated" or "unchanged".  Refuses a new tenant without issuer.
 */
static enum store_rc
tenant_upsert(struct ctl *c, DB_TXN *t, const json_t *spec, const char **what)
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

/* Create a current signing key of alg unless one exists; *kid is the
 * new key's id ("" when one existed). */
static enum store_rc
key_ensure(struct ctl *c, DB_TXN *t, const char *alg, char *kid,
    size_t kidsz)
{
	struct findarg	 a = { "status", "current", NULL, NULL, 0 };
	enum key_alg	 ka;
	json_t		*k;
	enum store_rc	 rc;

	*kid = '\0';
	if ((rc = store_each(c->s, t, SK_KEY, find_cb, &a)) != STORE_OK)
		return rc;
	json_decref(a.found);
	if (a.n > 0)
		return STORE_OK;
	if (key_alg_parse(alg, &ka) == -1 ||
	    (k = key_generate(ka, "current", c->now)) == NULL)
		return refuse(c, STORE_ERR, "cannot generate a %s key", alg);
	snprintf(kid, kidsz, "%s", sget(k, "kid"));
	rc = store_put(c->s, t, SK_KEY, kid, k, STORE_NOOVERWRITE);
	json_decref(k);
	return rc;
}

/*
 * An ES256 tenant signs ID tokens with ES256, which the ID-token
 * validators of Auth0's SDKs (node-auth0 v2-v4, auth0.js) refuse: they
 * accept RS256 and HS256 only (AUTH0-BEHAVIOUR.md 4).  A warning, not a
 * refusal: clients that verify with a generic JOSE library are fine.
 */
static void
es256_warn(const char *alg)
{
	if (alg == NULL || strcmp(alg, "ES256") != 0)
		return;
	warnmsg("warning: ES256 ID tokens are refused by Auth0 SDKs' ID "
	    "token validators (node-auth0 v2-v4 and auth0.js accept RS256 and "
	    "HS256 only); use RS256 unless every client verifies ES256");
}

static int
init_prep(struct ctl *c)
{
	const char	*alg = sget(c->opt, "alg");

	if (record_check(REC_TENANT, c->spec, "init", c->err,
	    sizeof(c->err)) == -1) {
		warnmsg("%s", c->err);
		return EXIT_USAGE;
	}
	if (alg != NULL && !sign_alg_ok(alg)) {
		warnmsg("--alg: RS256 or ES256");
		return EXIT_USAGE;
	}
	es256_warn(alg);
	return 0;
}

static enum store_rc
init_tx(struct ctl *c, DB_TXN *t)
{
	const char	*alg = sget(c->opt, "alg"), *what;
	char		 kid[128];
	json_t		*tenant = NULL;
	enum store_rc	 rc;

	if ((rc = tenant_upsert(c, t, c->spec, &what)) != STORE_OK)
		return rc;
	rc = key_ensure(c, t, alg != NULL ? alg : "RS256", kid, sizeof(kid));
	if (rc == STORE_OK)
		rc = store_get(c->s, t, SK_META, "tenant", &tenant);
	if (rc == STORE_OK)
		c->out = json_pack("{sssoss*}", "tenant_status", what,
		    "tenant", tenant, "key_created", *kid ? kid : NULL);
	return rc;
}

static enum store_rc
tenant_show_tx(struct ctl *c, DB_TXN *t)
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
	if (record_check(REC_TENANT, c->spec, "tenant", c->err,
	    sizeof(c->err)) == -1) {
		warnmsg("%s", c->err);
		return EXIT_USAGE;
	}
	return 0;
}

static enum store_rc
tenant_set_tx(struct ctl *c, DB_TXN *t)
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

static int
key_cb(const char *key, json_t *val, void *arg)
{
	json_t	*k = json_deep_copy(val);

	json_object_del(k, "private_pem");
	json_array_append_new(arg, k);
	return 0;
}

static enum store_rc
key_list_tx(struct ctl *c, DB_TXN *t)
{

	c->out = json_array();
	return store_each(c->s, t, SK_KEY, key_cb, c->out);
}

/* ------------------------------------------------------------------ */
/* Clients.                                                           */

static const struct optdef client_opts[] = {
	{ "name", CV_STR, "name" },
	{ "client-id", CV_STR, "client_id" },
	{ "type", CV_STR, "app_type" },
	{ "auth-method", CV_STR, "token_endpoint_auth_method" },
	{ "grants", CV_LIST, "grant_types" },
	{ "id-token-alg", CV_STR, "id_token_alg" },
	{ "id-token-lifetime", CV_INT, "id_token_lifetime" },
	{ "public-key", CV_STR, NULL },
	{ "key-alg", CV_STR, NULL },
	{ "secret-stdin", CV_TRUE, NULL },
	{ "refresh-rotation", CV_STR, "refresh_token.rotation_type" },
	{ "refresh-lifetime", CV_INT, "refresh_token.token_lifetime" },
	{ "refresh-idle-lifetime", CV_INT, "refresh_token.idle_token_lifetime" },
	{ "refresh-leeway", CV_INT, "refresh_token.leeway" },
	{ "ip-header-trusted", CV_BOOL, "is_token_endpoint_ip_header_trusted" },
	{ NULL, 0, NULL }
};

/* The same, without --client-id (client update). */
static const struct optdef client_update_opts[] = {
	{ "name", CV_STR, "name" },
	{ "type", CV_STR, "app_type" },
	{ "auth-method", CV_STR, "token_endpoint_auth_method" },
	{ "grants", CV_LIST, "grant_types" },
	{ "id-token-alg", CV_STR, "id_token_alg" },
	{ "id-token-lifetime", CV_INT, "id_token_lifetime" },
	{ "public-key", CV_STR, NULL },
	{ "key-alg", CV_STR, NULL },
	{ "secret-stdin", CV_TRUE, NULL },
	{ "refresh-rotation", CV_STR, "refresh_token.rotation_type" },
	{ "refresh-lifetime", CV_INT, "refresh_token.token_lifetime" },
	{ "refresh-idle-lifetime", CV_INT, "refresh_token.idle_token_lifetime" },
	{ "refresh-leeway", CV_INT, "refresh_token.leeway" },
	{ "ip-header-trusted", CV_BOOL, "is_token_endpoint_ip_header_trusted" },
	{ NULL, 0, NULL }
};

/* A new client's defaults, which depend on its app_type. */
static json_t *
client_defaults(const char *client_id, const json_t *spec)
{
	const char	*type = sget(spec, "app_type");
	const char	*method;

	if (type == NULL)
		type = "regular_web";
	method = strcmp(type, "spa") == 0 || strcmp(type, "native") == 0 ?
	    "none" : "client_secret_post";
	return json_pack("{sssssss[ss]sssisss[]}",
	    "client_id", client_id, "app_type", type,
	    "token_endpoint_auth_method", method,
	    "grant_types", grant_type_def(GT_PASSWORD)->uri,
	    grant_type_def(GT_PASSWORD_REALM)->uri,
	    "id_token_alg", "RS256", "id_token_lifetime", IDT_LIFETIME,
	    "name", client_id, "public_keys");
}

/* Add keys to rec's public_keys, replacing those with the same kid. */
static void
keys_append(json_t *rec, const json_t *keys)
{
	json_t		*have = json_object_get(rec, "public_keys"), *k, *h;
	size_t		 i, j;

	if (!json_is_array(have)) {
		have = json_array();
		json_object_set_new(rec, "public_keys", have);
	}
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

/*
 * Give rec the secret its method needs: the one given, else the one it
 * has, else a new one copied to gen (to be printed once); drop it for
 * methods without one.  Then check the combination.  STORE_OK or refused.
 */
static enum store_rc
client_secret(struct ctl *c, json_t *rec, const char *secret, char *gen,
    size_t gensz)
{
	const char	*m = sget(rec, "token_endpoint_auth_method");
	char		 h[72];

	*gen = '\0';
	if (!secret_method(m)) {
		json_object_del(rec, "secret_hash");
		if (secret != NULL)
			return refuse(c, STORE_ERR,
			    "client: %s takes no secret", m);
		if (strcmp(sget(rec, "id_token_alg"), "HS256") == 0)
			return refuse(c, STORE_ERR, "client: HS256 ID "
			    "tokens need a client_secret_* auth method");
		/* Auth0 offers the toggle only to secret-authenticated
		 * (confidential) applications. */
		if (json_is_true(json_object_get(rec,
		    "is_token_endpoint_ip_header_trusted")))
			return refuse(c, STORE_ERR, "client: "
			    "is_token_endpoint_ip_header_trusted needs a "
			    "client_secret_* auth method");
		if (strcmp(m, "private_key_jwt") == 0 &&
		    json_array_size(json_object_get(rec, "public_keys")) == 0)
			return refuse(c, STORE_ERR,
			    "client: private_key_jwt needs a public key");
		return STORE_OK;
	}
	if (secret == NULL && sget(rec, "secret_hash") != NULL)
		return STORE_OK;
	if (secret == NULL) {
		if (rand_b64url(gen, gensz, SECRET_BYTES) == -1)
			return refuse(c, STORE_ERR, "no randomness");
		secret = gen;
	}
	if (sget(rec, "secret_hash") != NULL &&
	    hash_secret_check(sget(rec, "secret_hash"), secret,
	    strlen(secret)))
		return STORE_OK;
	if (hash_secret(secret, strlen(secret), h) == -1)
		return refuse(c, STORE_ERR, "cannot hash the secret");
	json_object_set_new(rec, "secret_hash", json_string(h));
	return STORE_OK;
}

/*
 * The client record old (NULL: new client_id) becomes with spec applied
 * (public keys appended or replaced).  *out owned by caller; gen gets a
 * generated secret.  STORE_OK or refused.
 */
static enum store_rc
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

/* Options to spec: the public key file and the stdin secret. */
static int
client_prep(struct ctl *c)
{
	const char	*file = sget(c->opt, "public-key");
	const char	*alg = sget(c->opt, "key-alg");
	char		*pem;
	size_t		 len;

	if (alg != NULL && file == NULL) {
		warnmsg("--key-alg needs --public-key");
		return EXIT_USAGE;
	}
	if (file != NULL) {
		if ((pem = read_file(file, REC_PEM_LEN, &len)) == NULL)
			return EXIT_RUNTIME;
		json_object_set_new(c->spec, "public_keys",
		    json_pack("[{ss*ss}]", "alg", alg, "pem", pem));
		free(pem);
	}
	if (record_check(REC_CLIENT, c->spec, "client", c->err,
	    sizeof(c->err)) == -1) {
		warnmsg("%s", c->err);
		return EXIT_USAGE;
	}
	if (json_object_get(c->spec, "public_keys") != NULL &&
	    record_keys_normalize(json_object_get(c->spec, "public_keys")) == -1)
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
	else if (rand_b64url(c->client_id, sizeof(c->client_id),
	    CLIENT_ID_BYTES) == -1)
		return EXIT_RUNTIME;
	return 0;
}

static enum store_rc
client_add_tx(struct ctl *c, DB_TXN *t)
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
client_update_tx(struct ctl *c, DB_TXN *t)
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
client_rotate_tx(struct ctl *c, DB_TXN *t)
{
	json_t		*rec = NULL;
	char		 gen[128];
	enum store_rc	 rc;

	if ((rc = must_get(c, t, SK_CLIENT, c->pos[0], "client", &rec))
	    != STORE_OK)
		return rc;
	if (!secret_method(sget(rec, "token_endpoint_auth_method")))
		rc = refuse(c, STORE_ERR, "client %s has no secret",
		    c->pos[0]);
	else
		json_object_del(rec, "secret_hash");
	if (rc == STORE_OK)
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

/* Take client_id out of every connection's enabled_clients. */
static int
unlink_cb(const char *key, json_t *val, void *arg)
{
	json_t		*list = json_object_get(val, "enabled_clients");
	const char	*id = ((struct findarg *)arg)->value;
	size_t		 i;

	for (i = 0; i < json_array_size(list); i++)
		if (strcmp(json_string_value(json_array_get(list, i)), id) == 0)
			break;
	if (i == json_array_size(list))
		return 0;
	json_array_remove(list, i);
	json_array_append(((struct findarg *)arg)->list, val);
	return 0;
}

static enum store_rc
client_remove_tx(struct ctl *c, DB_TXN *t)
{
	enum store_rc	 rc;

	rc = store_del(c->s, t, SK_CLIENT, c->pos[0]);
	if (rc == STORE_NOTFOUND)
		refuse(c, rc, "no such client: %s", c->pos[0]);
	return rc;
}

/* In a batch of connections: drop the client from enabled_clients. */
static enum store_rc
unlink_fn(struct store *s, DB_TXN *t, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	struct findarg	 a = { NULL, arg, NULL, json_array(), 0 };
	enum store_rc	 rc = STORE_OK;

	if (a.list == NULL)
		return STORE_ERR;
	unlink_cb(key, val, &a);
	if (json_array_size(a.list) > 0)
		rc = store_put(s, t, SK_CONNECTION, key, val, 0);
	json_decref(a.list);
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

static enum store_rc
client_list_tx(struct ctl *c, DB_TXN *t)
{

	return list_tx(c, t, SK_CLIENT, NULL, NULL);
}

static enum store_rc
client_show_tx(struct ctl *c, DB_TXN *t)
{

	return show_tx(c, t, SK_CLIENT, "client");
}

/* ------------------------------------------------------------------ */
/* Connections.                                                       */

static const struct optdef connection_add_opts[] = {
	{ "strategy", CV_STR, "strategy" },
	{ "clients", CV_LIST, "enabled_clients" },
	{ "delivery-command", CV_JSON, "delivery_command" },
	{ "otp-lifetime", CV_INT, "otp_lifetime" },
	{ "delivery-timeout", CV_INT, "delivery_timeout" },
	{ NULL, 0, NULL }
};

static const struct optdef connection_update_opts[] = {
	{ "clients", CV_LIST, "enabled_clients" },
	{ "delivery-command", CV_JSON, "delivery_command" },
	{ "otp-lifetime", CV_INT, "otp_lifetime" },
	{ "delivery-timeout", CV_INT, "delivery_timeout" },
	{ "enable-client", CV_STR, NULL },
	{ "disable-client", CV_STR, NULL },
	{ NULL, 0, NULL }
};

/*
 * The client_id for a reference by client_id or by name: import's map
 * of the file's clients first (names may be NULL), then the store.
 * STORE_OK with id (owned by *hold), or refused.
 */
static enum store_rc
client_resolve(struct ctl *c, DB_TXN *t, const json_t *names,
    const char *ref, json_t **hold, const char **id)
{
	struct findarg	 a = { "name", ref, NULL, NULL, 0 };
	enum store_rc	 rc;

	*hold = json_incref(json_object_get(names, ref));
	if ((*id = json_string_value(*hold)) != NULL)
		return STORE_OK;
	rc = store_get(c->s, t, SK_CLIENT, ref, hold);
	if (rc != STORE_NOTFOUND) {
		*id = sget(*hold, "client_id");
		return rc;
	}
	if ((rc = store_each(c->s, t, SK_CLIENT, find_cb, &a)) != STORE_OK)
		return rc;
	*hold = a.found;
	*id = sget(a.found, "client_id");
	if (a.n == 1)
		return STORE_OK;
	return refuse(c, STORE_NOTFOUND, a.n == 0 ? "no such client: %s" :
	    "client name %s is ambiguous: use the client_id", ref);
}

/* Replace each enabled_clients reference by its client_id, once each. */
static enum store_rc
connection_resolve(struct ctl *c, DB_TXN *t, json_t *rec,
    const json_t *names)
{
	json_t		*in = json_object_get(rec, "enabled_clients");
	json_t		*ids = json_array(), *hold, *e;
	const char	*id;
	enum store_rc	 rc = STORE_OK;
	size_t		 i, j;

	json_array_foreach(in, i, e) {
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
	json_object_set_new(rec, "enabled_clients", ids);
	return rc;
}

static enum store_rc
connection_build(struct ctl *c, DB_TXN *t, const json_t *old,
    const json_t *spec, const json_t *names, json_t **out)
{
	json_t		*rec;
	enum store_rc	 rc;

	rec = old != NULL ? json_deep_copy(old) :
	    json_pack("{sss[]}", "strategy", "auth0", "enabled_clients");
	record_merge(rec, spec);
	rc = connection_resolve(c, t, rec, names);
	if (rc == STORE_OK)
		rc = rec_complete(c, REC_CONNECTION, rec);
	if (rc != STORE_OK) {
		json_decref(rec);
		return rc;
	}
	*out = rec;
	return STORE_OK;
}

static int
connection_prep(struct ctl *c)
{

	json_object_set_new(c->spec, "name", json_string(c->pos[0]));
	if (record_check(REC_CONNECTION, c->spec, "connection", c->err,
	    sizeof(c->err)) == -1) {
		warnmsg("%s", c->err);
		return EXIT_USAGE;
	}
	return 0;
}

static enum store_rc
connection_add_tx(struct ctl *c, DB_TXN *t)
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

static enum store_rc
connection_update_tx(struct ctl *c, DB_TXN *t)
{
	const char	*en = sget(c->opt, "enable-client");
	const char	*dis = sget(c->opt, "disable-client");
	json_t		*old = NULL, *rec = NULL, *list;
	enum store_rc	 rc;
	size_t		 i;

	if ((rc = must_get(c, t, SK_CONNECTION, c->pos[0], "connection",
	    &old)) != STORE_OK)
		return rc;
	rc = connection_build(c, t, old, c->spec, NULL, &rec);
	list = json_object_get(rec, "enabled_clients");
	for (i = 0; rc == STORE_OK && dis != NULL && i < json_array_size(list);
	    i++)
		if (strcmp(json_string_value(json_array_get(list, i)), dis) == 0)
			json_array_remove(list, i--);
	if (rc == STORE_OK && en != NULL) {
		json_array_append_new(list, json_string(en));
		rc = connection_resolve(c, t, rec, NULL);
	}
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
 * The transaction checks again through the user indexes (lib/store/store.c
 * SK_USERIDX "<tag>\x1f<connection>\x1f..."), a seek each: a user with
 * an email, username or phone created in the connection since the
 * batched count (a passwordless first login) stops the removal.
 */
static enum store_rc
connection_remove_tx(struct ctl *c, DB_TXN *t)
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

static enum store_rc
connection_list_tx(struct ctl *c, DB_TXN *t)
{

	return list_tx(c, t, SK_CONNECTION, NULL, NULL);
}

static enum store_rc
connection_show_tx(struct ctl *c, DB_TXN *t)
{

	return show_tx(c, t, SK_CONNECTION, "connection");
}

/* ------------------------------------------------------------------ */
/* Users.                                                             */

static const struct optdef user_add_opts[] = {
	{ "connection", CV_STR, "connection" },
	{ "email", CV_STR, "email" },
	{ "username", CV_STR, "username" },
	{ "phone", CV_STR, "phone_number" },
	{ "password-stdin", CV_TRUE, NULL },
	{ "password-hash", CV_STR, "password_hash" },
	{ "name", CV_STR, "name" },
	{ "given-name", CV_STR, "given_name" },
	{ "family-name", CV_STR, "family_name" },
	{ "nickname", CV_STR, "nickname" },
	{ "picture", CV_STR, "picture" },
	{ "email-verified", CV_TRUE, "email_verified" },
	{ "blocked", CV_TRUE, "blocked" },
	{ NULL, 0, NULL }
};

static const struct optdef user_update_opts[] = {
	{ "email", CV_STR, "email" },
	{ "username", CV_STR, "username" },
	{ "phone", CV_STR, "phone_number" },
	{ "name", CV_STR, "name" },
	{ "given-name", CV_STR, "given_name" },
	{ "family-name", CV_STR, "family_name" },
	{ "nickname", CV_STR, "nickname" },
	{ "picture", CV_STR, "picture" },
	{ "email-verified", CV_BOOL, "email_verified" },
	{ NULL, 0, NULL }
};

static const struct optdef connection_opt[] = {
	{ "connection", CV_STR, NULL },
	{ NULL, 0, NULL }
};

/*
 * Set rec's password_hash for pw unless the current hash already
 * verifies it (re-imports and repeated set-password change nothing).
 */
static enum store_rc
user_password(struct ctl *c, DB_TXN *t, json_t *rec, const char *pw,
    size_t pwlen)
{
	struct hash_policy pol;
	const char	*have = sget(rec, "password_hash");
	char		 h[HASH_ENCODED_MAX];
	enum store_rc	 rc;
	int		 rehash;

	if ((rc = tenant_policy(c, t, &pol)) != STORE_OK)
		return rc;
	if (have != NULL &&
	    hash_verify(&pol, have, pw, pwlen, &rehash) == HASH_OK)
		return STORE_OK;
	if (hash_password(&pol, pw, pwlen, h, sizeof(h)) == -1)
		return refuse(c, STORE_ERR, "cannot hash the password");
	json_object_set_new(rec, "password_hash", json_string(h));
	OPENSSL_cleanse(h, sizeof(h));
	return STORE_OK;
}

/* A strategy's users: sms needs a phone, email an email, and neither
 * takes a password; every user needs some login. */
static enum store_rc
user_check(struct ctl *c, const json_t *rec, const char *strategy)
{

	if (!sget(rec, "email") && !sget(rec, "username") &&
	    !sget(rec, "phone_number"))
		return refuse(c, STORE_ERR,
		    "user: one of email, username, phone is required");
	if (strcmp(strategy, "sms") == 0 && !sget(rec, "phone_number"))
		return refuse(c, STORE_ERR, "user: sms users need a phone");
	if (strcmp(strategy, "email") == 0 && !sget(rec, "email"))
		return refuse(c, STORE_ERR, "user: email users need an email");
	if (strcmp(strategy, "auth0") != 0 && sget(rec, "password_hash"))
		return refuse(c, STORE_ERR,
		    "user: %s connections take no password", strategy);
	return STORE_OK;
}

/* The connection's strategy into strategy (32). */
static enum store_rc
conn_strategy(struct ctl *c, DB_TXN *t, const char *conn, char *strategy)
{
	json_t		*rec = NULL;
	enum store_rc	 rc;

	if ((rc = must_get(c, t, SK_CONNECTION, conn, "connection", &rec))
	    == STORE_OK)
		snprintf(strategy, 32, "%s", sget(rec, "strategy"));
	json_decref(rec);
	return rc;
}

/*
 * A password set here (never a login's rehash) or a block ends the user's
 * refresh tokens (lib/grants/refresh.c): the token endpoint refuses them from
 * this commit on (it reads blocked and password_set_at in the user
 * record), and their families are revoked after it, in batches
 * (ctl_after).
 */
static enum store_rc
user_sessions(struct ctl *c, DB_TXN *t, const json_t *old, json_t *rec)
{
	const char	*was = sget(old, "password_hash");
	const char	*now = sget(rec, "password_hash");
	int		 pw, blocked;

	pw = now != NULL && (was == NULL || strcmp(was, now) != 0);
	blocked = json_is_true(json_object_get(rec, "blocked")) &&
	    !json_is_true(json_object_get(old, "blocked"));
	if (pw)
		json_object_set_new(rec, "password_set_at",
		    json_integer(c->now));
	/* A password change lifts the user's brute-force blocks
	 * (AUTH0-BEHAVIOUR.md 6; lib/security/guard.c). */
	if (pw && json_array_append_new(c->unblock, json_deep_copy(rec)) == -1)
		return STORE_ERR;
	if (!pw && !blocked)
		return STORE_OK;
	return json_array_append_new(c->revoke,
	    json_string(sget(rec, "user_id"))) == 0 ? STORE_OK : STORE_ERR;
}

/*
 * Apply spec (and pw) to old (NULL: a new user, user_id from spec or
 * generated) and write it if it changed, with updated_at.  *what says
 * "created", "updated" or "unchanged".  STORE_EXISTS when another user
 * holds the email, username or phone.
 */
static enum store_rc
user_upsert(struct ctl *c, DB_TXN *t, const json_t *old, const json_t *spec,
    const char *pw, size_t pwlen, json_t **out, const char **what)
{
	json_t		*rec, *sp = json_deep_copy(spec);
	char		 strategy[32], hex[2 * USER_ID_BYTES + 1], ts[32];
	enum store_rc	 rc;

	rec = old != NULL ? json_deep_copy(old) : json_pack("{sbsb}",
	    "email_verified", 0, "blocked", 0);
	json_object_del(sp, "password");
	record_merge(rec, sp);
	json_decref(sp);
	rc = sget(rec, "connection") == NULL ?
	    refuse(c, STORE_ERR, "user: connection is required") :
	    conn_strategy(c, t, sget(rec, "connection"), strategy);
	if (rc == STORE_OK && sget(rec, "user_id") == NULL &&
	    rand_hex(hex, USER_ID_BYTES) == -1)
		rc = refuse(c, STORE_ERR, "no randomness");
	if (rc == STORE_OK && sget(rec, "user_id") == NULL)
		json_object_set_new(rec, "user_id",
		    json_sprintf("%s|%s", strategy, hex));
	if (rc == STORE_OK && pw != NULL)
		rc = user_password(c, t, rec, pw, pwlen);
	if (rc == STORE_OK)
		rc = user_check(c, rec, strategy);
	if (rc == STORE_OK && old != NULL)
		rc = user_sessions(c, t, old, rec);
	*what = old == NULL ? "created" : !json_equal(old, rec) ? "updated" :
	    "unchanged";
	iso8601(c->now, ts);
	if (old == NULL)
		json_object_set_new(rec, "created_at", json_string(ts));
	if (strcmp(*what, "unchanged") != 0)
		json_object_set_new(rec, "updated_at", json_string(ts));
	if (rc == STORE_OK && strcmp(*what, "unchanged") != 0 &&
	    (rc = store_user_put(c->s, t, rec)) == STORE_EXISTS)
		refuse(c, rc, "user: another user of %s has that email, "
		    "username or phone", sget(rec, "connection"));
	if (rc == STORE_OK)
		*out = rec;
	else
		json_decref(rec);
	return rc;
}

static int
user_spec_prep(struct ctl *c)
{

	if (record_check(REC_USER, c->spec, "user", c->err,
	    sizeof(c->err)) == -1) {
		warnmsg("%s", c->err);
		return EXIT_USAGE;
	}
	return 0;
}

static int
user_add_prep(struct ctl *c)
{
	int	 rc;

	if ((rc = user_spec_prep(c)) != 0)
		return rc;
	if (json_object_get(c->spec, "connection") == NULL) {
		warnmsg("user add: --connection is required");
		return EXIT_USAGE;
	}
	if (json_object_get(c->opt, "password-stdin") == NULL)
		return 0;
	if (json_object_get(c->spec, "password_hash") != NULL) {
		warnmsg("--password-stdin and --password-hash: choose one");
		return EXIT_USAGE;
	}
	c->password = read_line(REC_PW_LEN, &c->pwlen);
	return c->password == NULL ? EXIT_RUNTIME : 0;
}

static enum store_rc
user_add_tx(struct ctl *c, DB_TXN *t)
{
	json_t		*rec = NULL;
	const char	*what;
	enum store_rc	 rc;

	rc = user_upsert(c, t, NULL, c->spec, c->password, c->pwlen, &rec,
	    &what);
	if (rc == STORE_OK)
		c->out = json_pack("{ss}", "user_id", sget(rec, "user_id"));
	json_decref(rec);
	return rc;
}

static enum store_rc
user_update_tx(struct ctl *c, DB_TXN *t)
{
	json_t		*old = NULL, *rec = NULL;
	const char	*what;
	enum store_rc	 rc;

	if ((rc = must_get(c, t, SK_USER, c->pos[0], "user", &old))
	    != STORE_OK)
		return rc;
	rc = user_upsert(c, t, old, c->spec, c->password, c->pwlen, &rec,
	    &what);
	if (rc == STORE_OK)
		c->out = record_redact(rec);
	json_decref(old);
	json_decref(rec);
	return rc;
}

static int
user_password_prep(struct ctl *c)
{

	c->password = read_line(REC_PW_LEN, &c->pwlen);
	return c->password == NULL ? EXIT_RUNTIME : 0;
}

/* block/unblock: the verb says which. */
static enum store_rc
user_block_tx(struct ctl *c, DB_TXN *t)
{

	json_object_set_new(c->spec, "blocked",
	    json_boolean(strcmp(c->cmd->verb, "block") == 0));
	return user_update_tx(c, t);
}

static enum store_rc
user_remove_tx(struct ctl *c, DB_TXN *t)
{
	enum store_rc	 rc;

	rc = store_user_del(c->s, t, c->pos[0]);
	if (rc == STORE_NOTFOUND)
		refuse(c, rc, "no such user: %s", c->pos[0]);
	/* The user's refresh tokens die with it (lib/grants/refresh.c): refused
	 * from this commit on, their families revoked after it. */
	if (rc == STORE_OK && json_array_append_new(c->revoke,
	    json_string(c->pos[0])) == -1)
		rc = STORE_ERR;
	return rc;
}

/* Every user (of --connection), read in batches. */
static enum store_rc
user_list_batch(struct ctl *c)
{
	const char	*conn = sget(c->opt, "connection");

	return list_tx(c, NULL, SK_USER, conn != NULL ? "connection" : NULL,
	    conn);
}

static enum store_rc
user_show_tx(struct ctl *c, DB_TXN *t)
{

	return show_tx(c, t, SK_USER, "user");
}

static int
user_find_prep(struct ctl *c)
{

	if (sget(c->opt, "connection") == NULL) {
		warnmsg("user find: --connection is required");
		return EXIT_USAGE;
	}
	return 0;
}

static enum store_rc
user_find_tx(struct ctl *c, DB_TXN *t)
{
	json_t		*rec = NULL;
	enum store_rc	 rc;

	rc = store_user_find(c->s, t, sget(c->opt, "connection"), c->pos[0],
	    &rec);
	if (rc == STORE_NOTFOUND)
		return refuse(c, rc, "no such user in %s: %s",
		    sget(c->opt, "connection"), c->pos[0]);
	if (rc == STORE_OK)
		c->out = record_redact(rec);
	json_decref(rec);
	return rc;
}

/* ------------------------------------------------------------------ */
/* APIs.                                                              */

static const struct optdef api_opts[] = {
	{ "name", CV_STR, "name" },
	{ "scopes", CV_LIST, "scopes" },
	{ "lifetime", CV_INT, "token_lifetime" },
	{ "offline-access", CV_TRUE, "allow_offline_access" },
	{ "no-offline-access", CV_FALSE, "allow_offline_access" },
	{ NULL, 0, NULL }
};

static const struct optdef api_add_opts[] = {
	{ "name", CV_STR, "name" },
	{ "scopes", CV_LIST, "scopes" },
	{ "lifetime", CV_INT, "token_lifetime" },
	{ "offline-access", CV_TRUE, "allow_offline_access" },
	{ NULL, 0, NULL }
};

static json_t *
api_build(const json_t *old, const char *identifier, const json_t *spec)
{
	json_t	*rec;

	rec = old != NULL ? json_deep_copy(old) :
	    json_pack("{sssss[]sisb}", "identifier", identifier,
	    "name", identifier, "scopes", "token_lifetime", API_LIFETIME,
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
	if (record_check(REC_API, c->spec, "api", c->err,
	    sizeof(c->err)) == -1) {
		warnmsg("%s", c->err);
		return EXIT_USAGE;
	}
	return 0;
}

static enum store_rc
api_put_tx(struct ctl *c, DB_TXN *t, int create)
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
api_add_tx(struct ctl *c, DB_TXN *t)
{

	return api_put_tx(c, t, 1);
}

static enum store_rc
api_update_tx(struct ctl *c, DB_TXN *t)
{

	return api_put_tx(c, t, 0);
}

static enum store_rc
api_remove_tx(struct ctl *c, DB_TXN *t)
{
	enum store_rc	 rc;

	rc = store_del(c->s, t, SK_API, c->pos[0]);
	if (rc == STORE_NOTFOUND)
		refuse(c, rc, "no such api: %s", c->pos[0]);
	return rc;
}

static enum store_rc
api_list_tx(struct ctl *c, DB_TXN *t)
{

	return list_tx(c, t, SK_API, NULL, NULL);
}

static enum store_rc
api_show_tx(struct ctl *c, DB_TXN *t)
{

	return show_tx(c, t, SK_API, "api");
}

/* ------------------------------------------------------------------ */
/* Signing key rotation (lib/crypto/keyrot.c).                               */

static const struct optdef key_add_opts[] = {
	{ "alg", CV_STR, NULL },
	{ NULL, 0, NULL }
};

static const struct optdef key_rotate_opts[] = {
	{ "alg", CV_STR, NULL },
	{ "force", CV_TRUE, NULL },
	{ "now", CV_INT, NULL },
	{ NULL, 0, NULL }
};

static const struct optdef now_opt[] = {
	{ "now", CV_INT, NULL },
	{ NULL, 0, NULL }
};

/* --alg and --now: the clock of a planned (or scripted) rotation. */
static int
key_prep(struct ctl *c)
{
	const char	*alg = sget(c->opt, "alg");
	json_t		*now = json_object_get(c->opt, "now");

	if (alg != NULL && !sign_alg_ok(alg)) {
		warnmsg("--alg: RS256 or ES256");
		return EXIT_USAGE;
	}
	if (now != NULL && json_integer_value(now) <= 0) {
		warnmsg("--now: seconds since the epoch");
		return EXIT_USAGE;
	}
	if (now != NULL)
		c->now = (time_t)json_integer_value(now);
	return 0;
}

/* The algorithm asked for, else the current key's, else RS256. */
static enum store_rc
key_alg_for(struct ctl *c, DB_TXN *t, enum key_alg *alg)
{
	struct findarg	 a = { "status", "current", NULL, NULL, 0 };
	const char	*name = sget(c->opt, "alg");
	enum store_rc	 rc;

	if ((rc = store_each(c->s, t, SK_KEY, find_cb, &a)) != STORE_OK)
		return rc;
	if (name == NULL)
		name = a.found != NULL ? sget(a.found, "alg") : "RS256";
	if (key_alg_parse(name, alg) == -1)
		rc = refuse(c, STORE_ERR, "%s: not a signing algorithm", name);
	json_decref(a.found);
	return rc;
}

static enum store_rc
key_add_next_tx(struct ctl *c, DB_TXN *t)
{
	json_t		*rec = NULL;
	enum key_alg	 alg;
	enum store_rc	 rc;

	if ((rc = key_alg_for(c, t, &alg)) != STORE_OK)
		return rc;
	rc = keyrot_add_next(c->s, t, alg, c->now, &rec);
	if (rc == STORE_EXISTS)
		return refuse(c, rc, "a next key is waiting already: "
		    "rotate to it first");
	if (rc == STORE_OK)
		c->out = json_pack("{sssssssI}", "kid", sget(rec, "kid"),
		    "alg", sget(rec, "alg"), "status", "next",
		    "rotate_after", (json_int_t)c->now + KEY_PUBLISH_MIN);
	json_decref(rec);
	return rc;
}

static enum store_rc
key_rotate_tx(struct ctl *c, DB_TXN *t)
{
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
	if (rc == STORE_OK)
		c->out = json_pack("{ssss}", "current", sget(cur, "kid"),
		    "alg", sget(cur, "alg"));
	json_decref(cur);
	return rc;
}

static enum store_rc
key_prune_tx(struct ctl *c, DB_TXN *t)
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

/* ------------------------------------------------------------------ */
/* Refresh tokens and devices (lib/grants/refresh.c).                        */

static const struct optdef token_list_opts[] = {
	{ "user", CV_STR, NULL },
	{ "client", CV_STR, NULL },
	{ NULL, 0, NULL }
};

static const struct optdef token_revoke_opts[] = {
	{ "user", CV_STR, NULL },
	{ "device", CV_STR, NULL },
	{ "family", CV_STR, NULL },
	{ "all", CV_TRUE, NULL },
	{ NULL, 0, NULL }
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
 * The token commands read and revoke in batches (lib/grants/refresh.c), a
 * user's families through the per-user index, which the first of them
 * builds on a store made before it.
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

/* Dead refresh-token families, and expired passwordless codes and
 * opaque access tokens (their readers skip them, nothing else deletes
 * them), in batches: a prune stopped part-way is finished by the next. */
static enum store_rc
token_prune_batch(struct ctl *c)
{
	enum store_rc	 rc;
	int		 n = 0, codes = 0, access = 0;

	if ((rc = refresh_prune(c->s, NULL, c->now, &n)) == STORE_OK &&
	    (rc = store_expire(c->s, NULL, SK_OTP, c->now, &codes)) ==
	    STORE_OK &&
	    (rc = store_expire(c->s, NULL, SK_ACCESS, c->now, &access)) ==
	    STORE_OK)
		c->out = json_pack("{si, si, si}", "deleted_records",
		    n + codes + access, "deleted_codes", codes,
		    "deleted_access_tokens", access);
	return rc;
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
		json_array_append(json_object_get(d, "clients"),
		    json_object_get(f, "client_id"));
		json_object_set_new(d, "active_tokens", json_integer(
		    json_integer_value(json_object_get(d, "active_tokens")) + 1));
		if (json_integer_value(json_object_get(f, "last_used_at")) >
		    json_integer_value(json_object_get(d, "last_used_at")))
			json_object_set(d, "last_used_at",
			    json_object_get(f, "last_used_at"));
	}
	c->out = json_array();
	json_object_foreach(byname, k, d)
		json_array_append(c->out, d);
	json_decref(byname);
	json_decref(fams);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Attack protection (lib/security/guard.c, lib/security/audit.c).                      */

static const struct optdef guard_unblock_opts[] = {
	{ "identifier", CV_STR, NULL },
	{ "ip", CV_STR, NULL },
	{ "user", CV_STR, NULL },
	{ NULL, 0, NULL }
};

static const struct optdef audit_list_opts[] = {
	{ "since", CV_INT, NULL },
	{ "type", CV_STR, NULL },
	{ "limit", CV_INT, NULL },
	{ NULL, 0, NULL }
};

/* The tenant, or the defaults when there is none yet (record_clear). */
static enum store_rc
tenant_get(struct ctl *c, DB_TXN *t, struct tenant *tenant)
{
	enum store_rc	 rc;
	json_t		*none;

	if ((rc = tenant_load(c->s, t, tenant)) != STORE_NOTFOUND)
		return rc;
	if ((none = json_object()) == NULL)
		return STORE_ERR;
	rc = record_parse(REC_TENANT, none, tenant) == 0 ? STORE_OK : STORE_ERR;
	json_decref(none);
	return rc;
}

/* The guard and audit commands walk in batches (lib/security/guard.c, audit.c). */
static enum store_rc
guard_list_batch(struct ctl *c)
{
	struct tenant	 tenant;
	enum store_rc	 rc;

	if ((rc = tenant_get(c, NULL, &tenant)) != STORE_OK)
		return rc;
	c->out = json_array();
	rc = guard_list(c->s, NULL, &tenant, c->now, c->out);
	record_clear(REC_TENANT, &tenant);
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
	json_t		*user = NULL;
	enum store_rc	 rc;
	int		 n = 0;

	if (sget(c->opt, "user") != NULL) {
		if ((rc = must_get(c, NULL, SK_USER, sget(c->opt, "user"),
		    "user", &user)) != STORE_OK)
			return rc;
		sel.user = user;
	}
	if ((rc = guard_unblock(c->s, NULL, &sel, &n)) == STORE_OK)
		c->out = json_pack("{si}", "deleted_records", n);
	json_decref(user);
	return rc;
}

static enum store_rc
guard_prune_batch(struct ctl *c)
{
	struct tenant	 tenant;
	enum store_rc	 rc;
	int		 n = 0;

	if ((rc = tenant_get(c, NULL, &tenant)) != STORE_OK)
		return rc;
	if ((rc = guard_prune(c->s, NULL, &tenant, c->now, &n)) == STORE_OK)
		c->out = json_pack("{si}", "deleted_records", n);
	record_clear(REC_TENANT, &tenant);
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

	sel.since = (time_t)json_integer_value(json_object_get(c->opt, "since"));
	sel.type = sget(c->opt, "type");
	sel.limit = (long)json_integer_value(json_object_get(c->opt, "limit"));
	c->out = json_array();
	return audit_list(c->s, NULL, &sel, c->out);
}

/* ------------------------------------------------------------------ */
/* import FILE                                                        */

/* The sections of an import file, in the order they are applied. */
enum sect { SECT_CLIENTS, SECT_CONNECTIONS, SECT_APIS, SECT_USERS,
	SECT__MAX };

static const struct {
	const char		*name;
	enum rec_kind		 kind;
	const char		*what;
} sects[SECT__MAX] = {
	[SECT_CLIENTS] = { "clients", REC_CLIENT, "client" },
	[SECT_CONNECTIONS] = { "connections", REC_CONNECTION,
	    "connection" },
	[SECT_APIS] = { "apis", REC_API, "api" },
	[SECT_USERS] = { "users", REC_USER, "user" },
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
	char		 key[2048];

	if (record_check(sects[s].kind, it, sects[s].what, err, errsz) == -1)
		return -1;
	item_key(s, it, key, sizeof(key));
	if (*key == '\0') {
		snprintf(err, errsz, "%s: missing its name, id or login",
		    sects[s].what);
		return -1;
	}
	if (json_object_get(seen, key) != NULL) {
		snprintf(err, errsz, "%s: listed twice", sects[s].what);
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

/* The whole file, before anything is written.  0 or -1 with err. */
static int
import_check(json_t *doc, char *err, size_t errsz)
{
	json_t		*v, *it, *seen;
	const char	*k;
	size_t		 i, s;
	int		 rc = 0;

	json_object_foreach(doc, k, v) {
		for (s = 0; s < SECT__MAX && strcmp(k, sects[s].name); s++)
			continue;
		if (s == SECT__MAX && strcmp(k, "tenant") != 0) {
			snprintf(err, errsz, "%s: unknown section", k);
			return -1;
		}
		if (s == SECT__MAX) {
			if (record_check(REC_TENANT, v, "tenant", err,
			    errsz) == -1)
				return -1;
			continue;
		}
		if (!json_is_array(v)) {
			snprintf(err, errsz, "%s: not an array", k);
			return -1;
		}
		seen = json_object();
		json_array_foreach(v, i, it)
			if (rc == 0)
				rc = import_item_check((enum sect)s, it, seen, err, errsz);
		json_decref(seen);
		if (rc == -1)
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
	es256_warn(sget(json_object_get(c->doc, "tenant"), "alg"));
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

/* The stored client an import item names (by client_id, else name). */
static enum store_rc
import_client_old(struct ctl *c, DB_TXN *t, const json_t *it, json_t **old)
{
	struct findarg	 a = { "name", sget(it, "name"), NULL, NULL, 0 };
	enum store_rc	 rc;

	*old = NULL;
	if (sget(it, "client_id") != NULL) {
		rc = store_get(c->s, t, SK_CLIENT, sget(it, "client_id"), old);
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	}
	if ((rc = store_each(c->s, t, SK_CLIENT, find_cb, &a)) != STORE_OK)
		return rc;
	*old = a.found;
	if (a.n > 1)
		return refuse(c, STORE_EXISTS, "client name %s is ambiguous: "
		    "give its client_id", a.value);
	return STORE_OK;
}

static enum store_rc
import_client(struct ctl *c, DB_TXN *t, const json_t *it, json_t *names)
{
	json_t		*old = NULL, *rec = NULL;
	char		 id[64], gen[128];
	enum store_rc	 rc;
	int		 changed;

	if ((rc = import_client_old(c, t, it, &old)) != STORE_OK)
		return rc;
	if (old != NULL)
		snprintf(id, sizeof(id), "%s", sget(old, "client_id"));
	else if (sget(it, "client_id") != NULL)
		snprintf(id, sizeof(id), "%s", sget(it, "client_id"));
	else if (rand_b64url(id, sizeof(id), CLIENT_ID_BYTES) == -1)
		return refuse(c, STORE_ERR, "no randomness");
	rc = client_build(c, old, id, it, sget(it, "client_secret"), 0, &rec,
	    gen, sizeof(gen));
	if (rc == STORE_OK)
		rc = put_changed(c, t, SK_CLIENT, id, old, rec, &changed);
	if (rc == STORE_OK) {
		note(c, "clients", old == NULL ? "created" : changed ?
		    "updated" : "unchanged", id);
		json_object_set_new(names, sget(rec, "name"), json_string(id));
		json_object_set_new(names, id, json_string(id));
	}
	if (rc == STORE_OK && (*gen || (old == NULL && !sget(it, "client_id"))))
		json_array_append_new(json_object_get(c->out, "generated"),
		    json_pack("{ssssss*}", "name", sget(rec, "name"),
		    "client_id", id, "client_secret", *gen ? gen : NULL));
	OPENSSL_cleanse(gen, sizeof(gen));
	json_decref(old);
	json_decref(rec);
	return rc;
}

static enum store_rc
import_connection(struct ctl *c, DB_TXN *t, const json_t *it,
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
import_api(struct ctl *c, DB_TXN *t, const json_t *it)
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
 * username, else by user_id; a user_id given must then agree. */
static enum store_rc
import_user_old(struct ctl *c, DB_TXN *t, const json_t *it, json_t **old)
{
	const char	*conn = sget(it, "connection"), *uid;
	enum store_rc	 rc = STORE_NOTFOUND;

	*old = NULL;
	if (sget(it, "email") != NULL)
		rc = store_user_find(c->s, t, conn, sget(it, "email"), old);
	if (rc == STORE_NOTFOUND && sget(it, "username") != NULL)
		rc = store_user_find(c->s, t, conn, sget(it, "username"), old);
	if (rc == STORE_NOTFOUND && (uid = sget(it, "user_id")) != NULL)
		rc = store_get(c->s, t, SK_USER, uid, old);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	uid = sget(it, "user_id");
	if (rc == STORE_OK && uid != NULL &&
	    strcmp(uid, sget(*old, "user_id")) != 0)
		return refuse(c, STORE_EXISTS, "user %s: that login belongs "
		    "to %s", uid, sget(*old, "user_id"));
	return rc;
}

static enum store_rc
import_user(struct ctl *c, DB_TXN *t, const json_t *it)
{
	json_t		*old = NULL, *rec = NULL;
	const char	*pw = sget(it, "password"), *what;
	enum store_rc	 rc;

	if ((rc = import_user_old(c, t, it, &old)) != STORE_OK) {
		json_decref(old);
		return rc;
	}
	rc = user_upsert(c, t, old, it, pw, pw != NULL ? strlen(pw) : 0,
	    &rec, &what);
	if (rc == STORE_OK)
		note(c, "users", what, sget(rec, "user_id"));
	json_decref(old);
	json_decref(rec);
	return rc;
}

static enum store_rc
import_item(struct ctl *c, DB_TXN *t, enum sect s, const json_t *it,
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
static enum store_rc
import_tx(struct ctl *c, DB_TXN *t)
{
	json_t		*tenant = json_object_get(c->doc, "tenant");
	json_t		*names = json_object(), *it;
	const char	*what = "unchanged", *alg = sget(tenant, "alg");
	char		 kid[128];
	enum store_rc	 rc;
	size_t		 i;
	int		 s;

	c->out = json_pack("{s[]}", "generated");
	rc = tenant_upsert(c, t, tenant != NULL ? tenant : c->spec, &what);
	if (rc == STORE_OK)
		rc = key_ensure(c, t, alg != NULL ? alg : "RS256", kid,
		    sizeof(kid));
	if (rc == STORE_OK)
		json_object_set_new(c->out, "tenant", json_pack("{ssss*}",
		    "status", what, "key_created", *kid ? kid : NULL));
	for (s = 0; rc == STORE_OK && s < SECT__MAX; s++)
		json_array_foreach(json_object_get(c->doc, sects[s].name), i,
		    it)
			if (rc == STORE_OK)
				rc = import_item(c, t, (enum sect)s, it, names);
	json_decref(names);
	return rc;
}

/* ------------------------------------------------------------------ */
/* import-auth0 --connection NAME FILE                                */

static const struct optdef import_auth0_opts[] = {
	{ "connection", CV_STR, NULL },
	{ NULL, 0, NULL }
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
	c->doc = json_pack("{so}", "users", users);
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
import_auth0_user(struct ctl *c, DB_TXN *t, const json_t *it)
{
	json_t		*old = NULL, *spec;
	enum store_rc	 rc;

	if ((rc = import_user_old(c, t, it, &old)) != STORE_OK) {
		json_decref(old);
		return rc;
	}
	spec = json_deep_copy(it);
	if (sget(old, "password_hash") != NULL)
		json_object_del(spec, "password_hash");
	json_decref(old);
	rc = import_user(c, t, spec);
	json_decref(spec);
	return rc;
}

/* Into a database connection, all users or none, idempotent. */
static enum store_rc
import_auth0_tx(struct ctl *c, DB_TXN *t)
{
	const char	*conn = sget(c->opt, "connection");
	char		 strategy[32];
	json_t		*it;
	enum store_rc	 rc;
	size_t		 i;

	if ((rc = conn_strategy(c, t, conn, strategy)) != STORE_OK)
		return rc;
	if (strcmp(strategy, "auth0") != 0)
		return refuse(c, STORE_ERR, "connection %s is an %s "
		    "connection: Auth0 database users go to an auth0 one",
		    conn, strategy);
	c->out = json_object();
	json_array_foreach(json_object_get(c->doc, "users"), i, it)
		if ((rc = import_auth0_user(c, t, it)) != STORE_OK)
			return rc;
	return STORE_OK;
}

/* ------------------------------------------------------------------ */
/* The command table and main.                                        */

static const struct optdef init_opts[] = {
	{ "issuer", CV_STR, "issuer" },
	{ "alg", CV_STR, NULL },
	{ "default-directory", CV_STR, "default_directory" },
	{ "default-audience", CV_STR, "default_audience" },
	{ "hash-time", CV_INT, "hash.t" },
	{ "hash-memory", CV_INT, "hash.m" },
	{ "hash-parallelism", CV_INT, "hash.p" },
	{ NULL, 0, NULL }
};

static const struct cmd cmds[] = {
	{ "init", NULL, 0, init_opts, init_prep, init_tx, 1, NULL },
	{ "tenant", "show", 0, NULL, NULL, tenant_show_tx, 0, NULL },
	{ "tenant", "set", 2, NULL, tenant_set_prep, tenant_set_tx, 0, NULL },
	{ "tenant", "unset", 1, NULL, tenant_set_prep, tenant_set_tx, 0, NULL },
	{ "client", "add", 0, client_opts, client_add_prep, client_add_tx, 0,
	    NULL },
	{ "client", "list", 0, NULL, NULL, client_list_tx, 0, NULL },
	{ "client", "show", 1, NULL, NULL, client_show_tx, 0, NULL },
	{ "client", "update", 1, client_update_opts, client_prep,
	    client_update_tx, 0, NULL },
	{ "client", "remove", 1, NULL, NULL, client_remove_tx, 0,
	    client_remove_batch },
	{ "client", "rotate-secret", 1, NULL, NULL, client_rotate_tx, 0, NULL },
	{ "connection", "add", 1, connection_add_opts, connection_prep,
	    connection_add_tx, 0, NULL },
	{ "connection", "list", 0, NULL, NULL, connection_list_tx, 0, NULL },
	{ "connection", "show", 1, NULL, NULL, connection_show_tx, 0, NULL },
	{ "connection", "update", 1, connection_update_opts, connection_prep,
	    connection_update_tx, 0, NULL },
	{ "connection", "remove", 1, NULL, NULL, connection_remove_tx, 0,
	    connection_remove_batch },
	{ "user", "add", 0, user_add_opts, user_add_prep, user_add_tx, 0,
	    NULL },
	{ "user", "list", 0, connection_opt, NULL, NULL, 0, user_list_batch },
	{ "user", "show", 1, NULL, NULL, user_show_tx, 0, NULL },
	{ "user", "find", 1, connection_opt, user_find_prep, user_find_tx, 0,
	    NULL },
	{ "user", "update", 1, user_update_opts, user_spec_prep, user_update_tx,
	    0, NULL },
	{ "user", "remove", 1, NULL, NULL, user_remove_tx, 0, NULL },
	{ "user", "set-password", 1, NULL, user_password_prep, user_update_tx,
	    0, NULL },
	{ "user", "block", 1, NULL, NULL, user_block_tx, 0, NULL },
	{ "user", "unblock", 1, NULL, NULL, user_block_tx, 0, NULL },
	{ "api", "add", 1, api_add_opts, api_prep, api_add_tx, 0, NULL },
	{ "api", "list", 0, NULL, NULL, api_list_tx, 0, NULL },
	{ "api", "show", 1, NULL, NULL, api_show_tx, 0, NULL },
	{ "api", "update", 1, api_opts, api_prep, api_update_tx, 0, NULL },
	{ "api", "remove", 1, NULL, NULL, api_remove_tx, 0, NULL },
	{ "key", "list", 0, NULL, NULL, key_list_tx, 0, NULL },
	{ "key", "add-next", 0, key_add_opts, key_prep, key_add_next_tx, 0,
	    NULL },
	{ "key", "rotate", 0, key_rotate_opts, key_prep, key_rotate_tx, 0,
	    NULL },
	{ "key", "prune", 0, now_opt, key_prep, key_prune_tx, 0, NULL },
	{ "token", "list", 0, token_list_opts, token_prep, NULL, 0,
	    token_list_batch },
	{ "token", "revoke", 0, token_revoke_opts, token_prep, NULL, 0,
	    token_revoke_batch },
	{ "token", "prune", 0, now_opt, key_prep, NULL, 0, token_prune_batch },
	{ "device", "list", 0, token_list_opts, token_prep, NULL, 0,
	    device_list_batch },
	{ "guard", "list", 0, now_opt, key_prep, NULL, 0, guard_list_batch },
	{ "guard", "unblock", 0, guard_unblock_opts, guard_unblock_prep, NULL,
	    0, guard_unblock_batch },
	{ "guard", "prune", 0, now_opt, key_prep, NULL, 0, guard_prune_batch },
	{ "audit", "list", 0, audit_list_opts, audit_list_prep, NULL, 0,
	    audit_list_batch },
	{ "import", NULL, 1, NULL, import_prep, import_tx, 1, NULL },
	{ "import-auth0", NULL, 1, import_auth0_opts, import_auth0_prep,
	    import_auth0_tx, 0, NULL },
};

static const struct cmd *
cmd_find(int argc, char *argv[])
{
	size_t	 i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].noun, argv[0]) != 0)
			continue;
		if (cmds[i].verb == NULL ||
		    (argc > 1 && strcmp(cmds[i].verb, argv[1]) == 0))
			return &cmds[i];
	}
	return NULL;
}

/* store_txn_run's fn: every attempt starts from a clean slate. */
static enum store_rc
run_tx(struct store *s, DB_TXN *t, void *arg)
{
	struct ctl	*c = arg;
	json_t		*spec = json_deep_copy(c->spec), *keep = c->spec;
	enum store_rc	 rc;

	json_decref(c->out);
	c->out = NULL;
	c->err[0] = '\0';
	json_array_clear(c->revoke);
	json_array_clear(c->unblock);
	c->spec = spec;
	rc = c->cmd->tx(c, t);
	c->spec = keep;
	json_decref(spec);
	return rc;
}

/* The command's transaction (cmd->tx), through the runner run() chose. */
static enum store_rc
ctl_tx(struct ctl *c)
{

	return c->txn_run(c->s, run_tx, c);
}

/*
 * What a committed transaction left to do, in batches: revoke the
 * refresh-token families of users blocked, removed or given a new
 * password, lift the guard blocks of users given a new password.  The
 * transaction already made the token endpoint refuse those tokens; this
 * is idempotent, so a command stopped here is finished by running it
 * again (or, for a removed user, by `token revoke --user ID --all`).
 */
static enum store_rc
ctl_after(struct ctl *c)
{
	struct refresh_sel sel = { NULL, NULL, NULL, NULL };
	struct guard_sel gsel = { NULL, NULL, NULL };
	json_t		*v;
	enum store_rc	 rc = STORE_OK;
	size_t		 i;
	int		 n;

	json_array_foreach(c->unblock, i, v) {
		gsel.user = v;
		if ((rc = guard_unblock(c->s, NULL, &gsel, &n)) != STORE_OK)
			return rc;
	}
	json_array_foreach(c->revoke, i, v) {
		sel.user_id = json_string_value(v);
		if ((rc = refresh_revoke(c->s, NULL, &sel, c->now, &n))
		    != STORE_OK)
			return rc;
	}
	return rc;
}

/*
 * Run the command: its batch step, or its transaction and then
 * ctl_after.  A resource error (STORE_BUSY) is told here: the step that
 * met it wrote nothing, the steps before it stay done.
 */
static enum store_rc
run_steps(struct ctl *c, enum store_rc (*txn_run)(struct store *,
    enum store_rc (*)(struct store *, DB_TXN *, void *), void *))
{
	enum store_rc	 rc;

	c->txn_run = txn_run;
	if (c->cmd->batch != NULL)
		rc = c->cmd->batch(c);
	else if ((rc = ctl_tx(c)) == STORE_OK)
		rc = ctl_after(c);
	if (rc == STORE_BUSY)
		warnmsg("the store ran out of a resource (%s): the step that "
		    "met it wrote nothing, what the command did before it is "
		    "kept; run it again later", store_busy_what());
	return rc;
}

/*
 * The command in ctlrun's child (lib/run/ctlrun.c): after a failure caused
 * by a recovery (another process died) ctlrun runs the command again.
 * ctlrun_done() comes after the last write of the command, before
 * anything is printed.
 */
static int
run(struct ctl *c, const char *home)
{
	enum store_rc	 rc;
	unsigned	 troubles = store_troubles();

	if ((c->s = ctlrun_open(home, c->cmd->create ? STORE_CREATE : 0))
	    == NULL) {
		if (ctlrun_transient(NULL, troubles))
			return CTLRUN_AGAIN;
		warnmsg("%s: cannot open the environment", home);
		return EXIT_RUNTIME;
	}
	if ((rc = run_steps(c, ctlrun_txn)) != STORE_OK) {
		if (rc != STORE_BUSY && c->err[0] == '\0' &&
		    ctlrun_transient(c->s, troubles))
			return CTLRUN_AGAIN;
		warnmsg("%s", c->err[0] != '\0' ? c->err :
		    "store error (see the messages above)");
		return rc == STORE_BUSY ? EXIT_BUSY : EXIT_RUNTIME;
	}
	ctlrun_done();
	if (c->out != NULL)
		print_json(c->out);
	return fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
}

/* ------------------------------------------------------------------ */
/* Running a command in a child (lib/run/ctlrun.c).                       */

/*
 * The commands that may run again when their commit is in doubt (a peer
 * died while they committed): reads, and writes that a second run leaves
 * as the first did.  Any other command then stops with status 75 and
 * says its outcome is unknown.  A NULL verb: every verb of the noun.
 */
static const struct {
	const char	*noun;
	const char	*verb;
} repeatable[] = {
	{ "tenant", NULL },
	{ "client", "list" },
	{ "client", "show" },
	{ "client", "update" },
	{ "connection", "list" },
	{ "connection", "show" },
	{ "connection", "update" },
	{ "user", "list" },
	{ "user", "show" },
	{ "user", "find" },
	{ "user", "update" },
	{ "user", "set-password" },
	{ "user", "block" },
	{ "user", "unblock" },
	{ "api", "list" },
	{ "api", "show" },
	{ "api", "update" },
	{ "key", "list" },
	{ "key", "prune" },
	{ "token", "list" },
	{ "token", "prune" },
	{ "device", NULL },
	{ "guard", NULL },
	{ "audit", NULL },
	{ "import", NULL },
	{ "import-auth0", NULL },
};

static int
cmd_repeatable(const struct cmd *cmd)
{
	size_t	 i;

	for (i = 0; i < sizeof(repeatable) / sizeof(repeatable[0]); i++) {
		if (strcmp(repeatable[i].noun, cmd->noun) != 0)
			continue;
		if (repeatable[i].verb == NULL || (cmd->verb != NULL &&
		    strcmp(repeatable[i].verb, cmd->verb) == 0))
			return 1;
	}
	return 0;
}

struct job {
	struct ctl	*c;
	const char	*home;
};

/* Closes the store (ctlrun.c: watched) and frees; secrets cleansed. */
static void
ctl_clear(struct ctl *c)
{

	ctlrun_close(c->s);
	c->s = NULL;
	json_decref(c->spec);
	json_decref(c->opt);
	json_decref(c->doc);
	json_decref(c->out);
	json_decref(c->revoke);
	json_decref(c->unblock);
	if (c->password != NULL) {
		OPENSSL_cleanse(c->password, c->pwlen);
		free(c->password);
	}
	if (c->secret != NULL) {
		OPENSSL_cleanse(c->secret, strlen(c->secret));
		free(c->secret);
	}
	free(c->pos);
}

/* ctlrun's work, in the child: the command, then the close. */
static int
run_job(void *arg)
{
	struct job	*j = arg;
	int		 rc;

	rc = run(j->c, j->home);
	ctl_clear(j->c);
	return rc;
}

int
main(int argc, char *argv[])
{
	struct ctl	 c;
	struct job	 j = { &c, NULL };
	const char	*home;
	int		 ch, i, rc;

	memset(&c, 0, sizeof(c));
	if ((home = getenv(LK_HOME_ENV)) == NULL || *home == '\0')
		home = LK_HOME_DEFAULT;
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
	while ((ch = getopt(argc, argv, "+d:h")) != -1) {
		if (ch == 'd') {
			home = optarg;
			continue;
		}
		usage(ch == 'h' ? stdout : stderr);
		return ch == 'h' ? 0 : EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || (c.cmd = cmd_find(argc, argv)) == NULL) {
		usage(stderr);
		return EXIT_USAGE;
	}
	i = c.cmd->verb != NULL ? 2 : 1;
	c.now = lk_now();
	c.spec = json_object();
	c.opt = json_object();
	c.revoke = json_array();
	c.unblock = json_array();
	c.pos = calloc((size_t)argc + 1, sizeof(char *));
	if (c.spec == NULL || c.opt == NULL || c.pos == NULL ||
	    c.revoke == NULL || c.unblock == NULL)
		rc = EXIT_RUNTIME;
	else if ((rc = parse_args(&c, argc - i, argv + i)) == 0 &&
	    (c.cmd->prep == NULL || (rc = c.cmd->prep(&c)) == 0)) {
		/* stdin and files were read by prep: every try sees them. */
		j.home = home;
		rc = ctlrun(run_job, &j, cmd_repeatable(c.cmd));
	}
	ctl_clear(&c);
	return rc;
}
