/*
 * latchkeyctl: administer a latchkey environment (tenant, clients,
 * connections, users, APIs, signing keys), see latchkeyctl.8.
 *
 * Every command is a row of one table (each family's rows in its
 * ctl_*.c): an optional preparation step that checks the arguments
 * without the store (and reads stdin or files), and one function run
 * inside store_txn_run(), so that a refused or failed command leaves
 * nothing half-written.  What grows with the data (walks of refresh
 * tokens, users, attack-protection records, the audit log) runs instead
 * in bounded batches of their own transactions, after the command's
 * transaction (ctl_after) or as the command's batch step: each such step
 * is idempotent, so that a command stopped part-way is finished by
 * running it again.  Options that name a record field are turned into a
 * "spec" object in the record's own shape; the field tables of record.c
 * then validate command-line specs and import files alike.  The usage
 * is printed from the same tables.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ctl.h"

/* The command table: the families' rows, in usage order. */
static const struct cmd *const families[] = {
	ctl_tenant_cmds,
	ctl_client_cmds,
	ctl_connection_cmds,
	ctl_user_cmds,
	ctl_mfa_cmds,
	ctl_token_cmds,
	ctl_import_cmds,
	ctl_import_tenant_cmds,
	ctl_copy_cmds,
};
#define NFAMILIES	(sizeof(families) / sizeof(families[0]))

/* ------------------------------------------------------------------ */
/* Usage, from the tables.                                            */

#define PROG		"latchkeyctl"
#define USAGE_WIDTH	79
#define USAGE_LEAD	"       "	/* under "usage: " */
#define USAGE_MORE	"           "	/* a command's next lines */

/* Append " ARG" for an option that takes an argument. */
static void
usage_optarg(struct buf *b, const struct optdef *o)
{
	const struct vocab *v = choice_vocab(o->choice);
	const char	*name;
	size_t		 i;
	int		 n = 0;

	if (o->conv == CV_TRUE || o->conv == CV_FALSE)
		return;
	buf_puts(b, " ");
	if (o->arg != NULL || o->conv == CV_BOOL) {
		buf_puts(b, o->arg != NULL ? o->arg : "true|false");
		return;
	}
	for (i = 0; v != NULL && i < v->n; i++)
		if ((name = vocab_name(v, i)) != NULL)
			buf_printf(b, "%s%s", n++ > 0 ? "|" : "", name);
}

/* One option with its alternatives: "--a ARG", "[--a | --b ARG]" or
 * "(--a | --b)".  Returns the option after them. */
static const struct optdef *
usage_opt(struct buf *b, const struct optdef *o)
{
	int	 alts = o[1].name != NULL && (o[1].flags & OPT_ALT);
	int	 req = (o->flags & OPT_REQ) != 0;

	buf_puts(b, req ? (alts ? "(" : "") : "[");
	for (;;) {
		buf_printf(b, "--%s", o->name);
		usage_optarg(b, o);
		o++;
		if (o->name == NULL || !(o->flags & OPT_ALT))
			break;
		buf_puts(b, " | ");
	}
	buf_puts(b, req ? (alts ? ")" : "") : "]");
	return o;
}

/* Print word at *col, on a new line when it would pass the width. */
static void
usage_word(FILE *f, const char *word, size_t *col)
{

	if (*col + 1 + strlen(word) > USAGE_WIDTH) {
		fprintf(f, "\n%s", USAGE_MORE);
		*col = strlen(USAGE_MORE);
	} else {
		fputc(' ', f);
		(*col)++;
	}
	fputs(word, f);
	*col += strlen(word);
}

/* "latchkeyctl noun verb ARGS options", as in the SYNOPSIS. */
static void
usage_cmd(FILE *f, const struct cmd *cmd)
{
	const struct optdef *o = cmd->opts;
	struct buf	 b;
	size_t		 col;

	buf_init(&b);
	buf_puts(&b, cmd->noun);
	if (cmd->verb != NULL)
		buf_printf(&b, " %s", cmd->verb);
	if (cmd->args != NULL)
		buf_printf(&b, " %s", cmd->args);
	fprintf(f, "%s%s", USAGE_LEAD, PROG);
	col = strlen(USAGE_LEAD) + strlen(PROG);
	usage_word(f, b.p, &col);
	while (o != NULL && o->name != NULL) {
		buf_reset(&b);
		o = usage_opt(&b, o);
		usage_word(f, b.p, &col);
	}
	fputc('\n', f);
	buf_clear(&b);
}

static void
usage(FILE *f)
{
	const struct cmd *cmd;
	size_t		 i;

	fprintf(f, "usage: %s [-d home] [-D conninfo] command ...\n", PROG);
	for (i = 0; i < NFAMILIES; i++)
		for (cmd = families[i]; cmd->noun != NULL; cmd++)
			usage_cmd(f, cmd);
}

/* ------------------------------------------------------------------ */
/* Arguments.                                                         */

static const struct cmd *
cmd_find(int argc, char *argv[])
{
	const struct cmd *cmd;
	size_t		 i;

	for (i = 0; i < NFAMILIES; i++)
		for (cmd = families[i]; cmd->noun != NULL; cmd++) {
			if (strcmp(cmd->noun, argv[0]) != 0)
				continue;
			if (cmd->verb == NULL ||
			    (argc > 1 && strcmp(cmd->verb, argv[1]) == 0))
				return cmd;
		}
	return NULL;
}

/* How many positional arguments the command takes: its args' words. */
static int
cmd_npos(const struct cmd *cmd)
{
	const char	*p;
	int		 n = 0;

	for (p = cmd->args; p != NULL && *p != '\0'; p++)
		if (*p != ' ' && (p == cmd->args || p[-1] == ' '))
			n++;
	return n;
}

/* Put v at field ("a.b" nests one level) of o.  -1 if already set. */
int
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

int
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

/* The command's option called name, or NULL. */
static const struct optdef *
opt_find(const struct cmd *cmd, const char *name)
{
	const struct optdef *o;

	for (o = cmd->opts; o != NULL && o->name != NULL; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

/*
 * Split argv into options (by the command's table) and positionals.  A
 * "--" ends the options: what follows it is positional even if it starts
 * with "--", as an id made by an older release may.
 */
static int
parse_args(struct ctl *c, int argc, char *argv[])
{
	const struct optdef *o;
	const char	*arg;
	int		 i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			while (++i < argc)
				c->pos[c->npos++] = argv[i];
			break;
		}
		if (strncmp(argv[i], "--", 2) != 0) {
			c->pos[c->npos++] = argv[i];
			continue;
		}
		if ((o = opt_find(c->cmd, argv[i] + 2)) == NULL) {
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
	if (c->npos != cmd_npos(c->cmd)) {
		warnmsg("%s %s: expected %d argument(s)", c->cmd->noun,
		    c->cmd->verb != NULL ? c->cmd->verb : "",
		    cmd_npos(c->cmd));
		return EXIT_USAGE;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Running the command.                                               */

/* store_txn_run's fn: every attempt starts from a clean slate. */
static enum store_rc
run_tx(struct store *s, struct txn *t, void *arg)
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
enum store_rc
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
    enum store_rc (*)(struct store *, struct txn *, void *), void *))
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
 * The command in ctlrun's child (ctlrun.c): after a failure caused by a
 * recovery (another process died) ctlrun runs the command again.
 * ctlrun_done() comes after the last write of the command, before
 * anything is printed.
 */
static int
run(struct ctl *c, const char *home)
{
	enum store_rc	 rc;
	unsigned	 troubles = store_troubles();

	c->s = ctlrun_open(home, ((c->cmd->flags & CMD_CREATE) ?
	    STORE_CREATE : 0) | ((c->cmd->flags & CMD_MIGRATE) ?
	    STORE_MIGRATE : 0));
	if (c->s == NULL) {
		if (ctlrun_transient(NULL, troubles))
			return CTLRUN_AGAIN;
		if (store_env_pg())
			warnmsg("cannot open the PostgreSQL database ("
			    LK_DATABASE_ENV ")");
		else
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

/*
 * The command's arguments, then its preparation (stdin and files are
 * read there, so every try sees them), then the command in a child
 * (ctlrun.c), which may run it again when the commit is in doubt only
 * when the command is CMD_AGAIN.
 */
static int
ctl_main(struct ctl *c, const char *home, int argc, char *argv[])
{
	struct job	 j = { c, home };
	int		 rc;

	c->now = lk_now();
	c->spec = json_object();
	c->opt = json_object();
	c->revoke = json_array();
	c->unblock = json_array();
	c->pos = calloc((size_t)argc + 1, sizeof(char *));
	if (c->spec == NULL || c->opt == NULL || c->pos == NULL ||
	    c->revoke == NULL || c->unblock == NULL)
		return EXIT_RUNTIME;
	if ((rc = parse_args(c, argc, argv)) != 0)
		return rc;
	if (c->cmd->prep != NULL && (rc = c->cmd->prep(c)) != 0)
		return rc == PREP_DONE ? 0 : rc;
	return ctlrun(run_job, &j, (c->cmd->flags & CMD_AGAIN) != 0);
}

int
main(int argc, char *argv[])
{
	struct ctl	 c;
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
	while ((ch = getopt(argc, argv, "+d:D:h")) != -1) {
		if (ch == 'd') {
			home = optarg;
			continue;
		}
		/* The store (store_open_env) and any child see it. */
		if (ch == 'D' && setenv(LK_DATABASE_ENV, optarg, 1) == 0)
			continue;
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
	rc = ctl_main(&c, home, argc - i, argv + i);
	ctl_clear(&c);
	return rc;
}
