/*
 * latchkey: the process: context, workers, stall watch, latchkeyctl runs.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_RUN_H
#define LATCHKEY_RUN_H

/* ------------------------------------------------------------------ */
/* The per-process context and the request handlers.                   */

struct lk_ctx {
	struct store	*store;		/* NULL when the environment failed to open */
	const char	*home;
	int		 ready;		/* start-up checks passed */
	int		 was_ready;	/* passed once: a later failure is transient */
	int		 transient;	/* the last failure: a recovery race */
	int		 one_request;	/* plain CGI: no probe signature */
	unsigned char	 dpop_key[32];	/* DPoP nonce key (grant_dpop.c) */
	int		 dpop_key_set;
};

/* ctx.c: open the environment from LATCHKEY_HOME and run the start-up
 * checks (tenant present, a current key that signs and verifies).  On
 * failure logs every problem and leaves ctx->ready 0; requests then get
 * 500 server_error, or 503 with Retry-After when the store worked before
 * (it is being recovered after a responder died). */
void		 ctx_init(struct lk_ctx *, const char *home);
/* ctx_init at process start: a transient failure (another process is
 * recovering the environment) is retried for up to a second. */
void		 ctx_start(struct lk_ctx *, const char *home);
void		 ctx_clear(struct lk_ctx *);
/* Before each request: reopen a panicked store, retry a failed start. */
void		 ctx_refresh(struct lk_ctx *);
/* After a request's answer is sent: the store's checkpoint, when due
 * (store_checkpoint). */
void		 ctx_idle(struct lk_ctx *);
/* The tenant, parsed (record_clear it); 0, or -1 when there is none or
 * it cannot be read.  And the current signing key (owned by caller). */
int		 ctx_tenant(struct lk_ctx *, struct tenant *);
json_t		*ctx_signing_key(struct lk_ctx *);

/* prefork.c: LATCHKEY_CHILDREN workers under a supervisor that
 * replaces a dead one at once. */
#define PREFORK_MAX	256
#define LK_CHILDREN_ENV	"LATCHKEY_CHILDREN"
/* The worker count from the variable's value: 0 (no supervisor) when
 * absent, empty or not in 0..PREFORK_MAX (warned). */
int		 prefork_children(const char *);
/*
 * Supervise n workers.  Returns in each worker with *is_worker set (0:
 * go on and serve), and in the supervisor when it has stopped (0 after
 * a quit signal, 1 when no worker could be started).
 */
int		 prefork_run(int n, int *is_worker);

/*
 * priv.c: least privilege after start-up (docs/security.md).  priv_load
 * resolves the run user and group from the variables' values (a name or
 * a number; the group defaults to the user's) and closes the passwd and
 * group files; -1 (logged) when one does not exist, or when the process
 * is root and no user is named (it must not serve as root).  priv_drop
 * then, when root, checks that home belongs to that user and becomes it
 * for good (setgroups, setresgid, setresuid, root not to be had back;
 * a user of uid 0 keeps root, with a warning), and sets
 * PR_SET_NO_NEW_PRIVS, root or not.  -1 (logged) on any failure: the
 * process must then exit with LK_EXIT_CONFIG.
 */
#define LK_USER_ENV	"LATCHKEY_USER"
#define LK_GROUP_ENV	"LATCHKEY_GROUP"
#define LK_EXIT_CONFIG	78	/* sysexits.h EX_CONFIG */
struct priv {
	int		 root;		/* started as root */
	int		 set;		/* a run user was named */
	uid_t		 uid;
	gid_t		 gid;
};
int		 priv_load(struct priv *, const char *user, const char *group);
int		 priv_drop(const struct priv *, const char *home);

/* stall.c: while a request is served, the databases are opened or a
 * responder starts or stops, exit if the environment was recovered under
 * this process (a peer died holding a Berkeley DB mutex this one may be
 * asleep on).  stall_watch after each open; arm and disarm nest. */
void		 stall_watch(const char *home);
void		 stall_arm(void);
void		 stall_disarm(void);
/* Ticks look at nothing between these (nest): out of the store. */
void		 stall_pause(void);
void		 stall_unpause(void);
/* In a forked child: drop the parent's watch state without closing. */
void		 stall_forget(void);
/* The exit status of a process stopped by it, and of latchkeyctl giving
 * up on a recovery (sysexits.h EX_TEMPFAIL). */
#define LK_EXIT_TEMPFAIL	75

/*
 * ctlrun.c: latchkeyctl's work in a child, watched by stall.c and run
 * again when a peer's death stops it before it committed.  ctlrun()
 * returns the command's exit status (LK_EXIT_TEMPFAIL when it gave up,
 * with a message); repeatable says a command whose commit is in doubt
 * may run again.  The work returns its exit status, or CTLRUN_AGAIN to
 * be run again.  In the child: ctlrun_open, ctlrun_txn (the command's
 * atomic step), ctlrun_done once every write is durable, ctlrun_close;
 * ctlrun_transient says whether a failure came from a recovery (since
 * store_troubles() was troubles): the work then returns CTLRUN_AGAIN.
 */
#define CTLRUN_AGAIN		(-1)
int		 ctlrun(int (*work)(void *), void *arg, int repeatable);
struct store	*ctlrun_open(const char *home, int flags);
enum store_rc	 ctlrun_txn(struct store *,
		    enum store_rc (*)(struct store *, struct txn *, void *),
    void *);
void		 ctlrun_done(void);
int		 ctlrun_transient(const struct store *, unsigned troubles);
void		 ctlrun_close(struct store *);
/* For tests: shorter bounds (ms) on a try asleep in a futex, on a try's
 * open, and on the tries in all. */
void		 ctlrun_test_bounds(double asleep, double open, double total);

#endif /* !LATCHKEY_RUN_H */
