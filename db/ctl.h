/*
 * latchkeyctl: what the command families (ctl_*.c) share with the
 * dispatcher (latchkeyctl.c): the command and option tables, the state
 * of one run, and the helpers of ctl_util.c.
 */
#ifndef LATCHKEYCTL_CTL_H
#define LATCHKEYCTL_CTL_H

#include <stdio.h>
#include <time.h>

#include "extern.h"

#define EXIT_RUNTIME	1
#define EXIT_USAGE	2
#define EXIT_BUSY	75		/* sysexits EX_TEMPFAIL: try again */
/* A preparation step that did the whole command (e.g. a dry run). */
#define PREP_DONE	(-1)

#define SECRET_BYTES	36		/* 48 base64url characters */
#define CLIENT_ID_LEN	32		/* [A-Za-z0-9], as Auth0's */
#define USER_ID_BYTES	12		/* 24 hex characters */
#define IMPORT_MAX	(16 * 1024 * 1024)

/*
 * How an option's argument becomes a value.  CV_TRUE and CV_FALSE take
 * no argument.  An empty CV_STR argument is null: "remove the field".
 */
enum conv { CV_STR, CV_INT, CV_LIST, CV_BOOL, CV_TRUE, CV_FALSE, CV_JSON };

/* Where the values an option accepts are listed (usage), each the
 * vocabulary that also checks them. */
enum choice {
	CH_NONE,
	CH_SIGN_ALG,		/* signing keys: RS256, ES256 */
	CH_IDT_ALG,		/* a client's ID tokens: RS256, HS256 */
	CH_APP_TYPE,		/* app_type_vocab */
	CH_AUTH_METHOD,		/* client_auth_vocab */
	CH_STRATEGY,		/* strategy_vocab */
	CH_ROTATION,		/* refresh_rotation_vocab */
	CH_MFA_USER		/* mfa_user_vocab */
};

/* How usage shows an option. */
#define OPT_REQ		0x01u	/* shown as required (prep checks it) */
#define OPT_ALT		0x02u	/* an alternative to the option before */

struct optdef {
	const char	*name;		/* without the leading "--" */
	enum conv	 conv;
	const char	*field;		/* spec field ("a.b" nests); NULL: ctl->opt */
	const char	*arg;		/* usage: the argument's name */
	enum choice	 choice;	/* usage: else its values */
	unsigned	 flags;		/* OPT_REQ, OPT_ALT */
};

#define OPT_END		{ NULL, CV_STR, NULL, NULL, CH_NONE, 0 }

struct ctl;

/* What the runner does around the command. */
#define CMD_CREATE	0x01u	/* open with STORE_CREATE */
#define CMD_AGAIN	0x02u	/* may run again when its commit is in
				 * doubt: a read, or idempotent */
#define CMD_MIGRATE	0x04u	/* open with STORE_MIGRATE */

struct cmd {
	const char		*noun;
	const char		*verb;		/* NULL for one-word commands */
	const char		*args;		/* positional arguments, by name */
	const struct optdef	*opts;
	int			 (*prep)(struct ctl *);	/* exit code, PREP_DONE */
	enum store_rc		 (*tx)(struct ctl *, struct txn *);
	/* Instead of tx then ctl_after: batches, and tx through ctl_tx(). */
	enum store_rc		 (*batch)(struct ctl *);
	unsigned		 flags;		/* CMD_CREATE, CMD_AGAIN */
};

#define CMD_END		{ NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0 }

/* The command families, each ending with CMD_END. */
extern const struct cmd ctl_tenant_cmds[];
extern const struct cmd ctl_client_cmds[];
extern const struct cmd ctl_connection_cmds[];
extern const struct cmd ctl_user_cmds[];
extern const struct cmd ctl_mfa_cmds[];
extern const struct cmd ctl_token_cmds[];
extern const struct cmd ctl_import_cmds[];
extern const struct cmd ctl_import_tenant_cmds[];
extern const struct cmd ctl_copy_cmds[];

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
				    enum store_rc (*)(struct store *,
    struct txn *,
				    void *), void *);
};

/* store_each and store_scan callback arguments: match rec[field] ==
 * value. */
struct findarg {
	const char	*field, *value;	/* NULL field: every record */
	json_t		*found;		/* first match, owned */
	json_t		*list;		/* all matches, redacted (NULL: skip) */
	int		 n;
};

/* latchkeyctl.c */
enum store_rc	 ctl_tx(struct ctl *);
int		 opt_set(struct ctl *, const struct optdef *, const char *);
int		 set_field(json_t *, const char *field, json_t *);

/* ctl_util.c: messages, input and output. */
void		 warnmsg(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
enum store_rc	 refuse(struct ctl *, enum store_rc, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
const char	*sget(const json_t *, const char *);
void		 iso8601(time_t, char out[32]);
char		*read_line(size_t max, size_t *len);
char		*read_file(const char *path, size_t max, size_t *len);
void		 print_json(const json_t *);
int		 spec_check(struct ctl *, enum rec_kind, const char *what);
const struct vocab *choice_vocab(enum choice);
int		 sign_alg_ok(const char *);
int		 alg_prep(struct ctl *);
int		 now_prep(struct ctl *);
extern const struct optdef now_opts[];	/* --now EPOCH */
void		 es256_warn(const char *alg);

/* ctl_util.c: transaction steps shared by the families. */
enum store_rc	 rec_complete(struct ctl *, enum rec_kind, const json_t *);
enum store_rc	 must_get(struct ctl *, struct txn *, enum store_kind,
		    const char *key, const char *what, json_t **);
enum store_rc	 must_get_rec(struct ctl *, struct txn *, enum rec_kind,
		    const char *key, void *out);
enum store_rc	 put_changed(struct ctl *, struct txn *, enum store_kind,
		    const char *key, const json_t *old, const json_t *rec,
		    int *changed);
int		 find_cb(const char *, json_t *, void *);
enum store_rc	 list_tx(struct ctl *, struct txn *, enum store_kind,
		    const char *field, const char *value);
enum store_rc	 show_tx(struct ctl *, struct txn *, enum store_kind,
		    const char *what);
/* list and show of the record kind the command's noun names. */
enum store_rc	 rec_list_tx(struct ctl *, struct txn *);
enum store_rc	 rec_show_tx(struct ctl *, struct txn *);
enum store_rc	 tenant_or_defaults(struct ctl *, struct txn *,
		    struct tenant *);

/* Shared between the families. */
enum store_rc	 tenant_upsert(struct ctl *, struct txn *, const json_t *spec,
		    const char **what);
enum store_rc	 key_ensure(struct ctl *, struct txn *, const char *alg,
		    char *kid, size_t kidsz);
enum store_rc	 client_build(struct ctl *, const json_t *old,
		    const char *client_id, const json_t *spec,
		    const char *secret, int append, json_t **out, char *gen,
		    size_t gensz);
/* ctl_conntest.c: connection test NAME LOGIN (an ad connection). */
int		 conntest_prep(struct ctl *);
enum store_rc	 conntest_tx(struct ctl *, struct txn *);
enum store_rc	 connection_build(struct ctl *, struct txn *, const json_t *old,
		    const json_t *spec, const json_t *names, json_t **out);
enum store_rc	 conn_strategy(struct ctl *, struct txn *, const char *conn,
		    enum conn_strategy *);
json_t		*api_build(const json_t *old, const char *identifier,
		    const json_t *spec);
enum store_rc	 user_upsert(struct ctl *, struct txn *, json_t *old,
		    const json_t *spec, const char *pw, size_t pwlen,
		    json_t **out, const char **what);

/* ctl_import.c, shared with ctl_import_tenant.c: the checks of an
 * import document (0, or -1 with err) and its transaction (c->doc). */
int		 import_check(json_t *doc, char *err, size_t errsz);
enum store_rc	 import_tx(struct ctl *, struct txn *);

#endif /* !LATCHKEYCTL_CTL_H */
