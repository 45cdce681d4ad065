/*
 * latchkey: what the parts of the store share.  store_ops.c hands the
 * interface (store.h) to the backend a store was opened with (struct
 * store_ops): Berkeley DB, where store.c opens and closes the
 * environment and store_txn.c runs transactions and reads and writes
 * records, or PostgreSQL (store_pg*.c).  Over the backend's operations:
 * store_walk.c walks in batches and expires, store_user.c keeps the
 * users' unique indexes, store_jti.c the replay tables.  Only
 * lib/store/store*.c include this header; store.h is the store's
 * interface.
 */
#ifndef LATCHKEY_STORE_INT_H
#define LATCHKEY_STORE_INT_H

#define STORE_KEY_MAX	2048		/* longest key we read or write */

/* txn_run's flags: commit without waiting for the disk (store_jti.c). */
#define STORE_TXN_NOSYNC	0x01
/* range's flags: from is excluded (else included); reads need not stay
 * locked until the commit (Berkeley DB degree 2: a walk's cursor). */
#define STORE_RANGE_AFTER	0x01
#define STORE_RANGE_LOOSE	0x02

/* A backend's autocommit: which operations run on their own (txn NULL)
 * outside a transaction.  Berkeley DB reads one record so under a
 * locker of its own, the read lock held for that get alone. */
#define STORE_AUTO_READ		0x01	/* get */
#define STORE_AUTO_WRITE	0x02	/* put, del */

/*
 * A backend.  txn is the backend's own (NULL: get, put and del run on
 * their own when autocommit has their bit; else store_ops.c wraps them
 * in txn_run).  range calls cb for at most max records of kind in key
 * order from from (NULL: the first), val borrowed, until cb returns
 * non-zero.
 */
struct store_ops {
	const char	*name;
	int		 autocommit;
	void		 (*close)(struct store *);
	enum store_rc	 (*txn_run)(struct store *,
			    enum store_rc (*)(struct store *, struct txn *,
    void *), void *, int flags);
	/* Inside txn_run with STORE_TXN_NOSYNC: sync this commit after
	 * all (store_txn_durable). */
	void		 (*durable)(struct store *, struct txn *);
	enum store_rc	 (*get)(struct store *, struct txn *, enum store_kind,
			    const char *key, json_t **out, int flags);
	enum store_rc	 (*put)(struct store *, struct txn *, enum store_kind,
			    const char *key, const json_t *val, int flags);
	enum store_rc	 (*del)(struct store *, struct txn *, enum store_kind,
			    const char *key);
	enum store_rc	 (*range)(struct store *, struct txn *,
			    enum store_kind, const char *from, int flags,
			    long max, int (*cb)(const char *, json_t *, void *),
			    void *arg);
};

extern const struct store_ops store_bdb_ops;	/* store_txn.c */
extern const struct store_ops store_pg_ops;	/* store_pg.c */

struct pg;					/* store_pg.c */

struct store {
	const struct store_ops *ops;
	struct pg	*pg;		/* PostgreSQL: the connection */
	int		 recfd;		/* STORE_RECOVERY_LOCK (store.c) */
	_Atomic int	*turn;		/* its first page: an opener waits */
	int		 shared;	/* store_env_share() nesting */
	int		 paused;	/* store_pause() nesting */
	int		 held;		/* shared when the first pause came */
	DB_ENV		*env;
	DB		*db[SK__MAX];	/* NULL until first used (store_db) */
	int		 opened;	/* store_open finished */
	uint64_t	 rnd;		/* backoff jitter (xorshift), not crypto */
	unsigned	 commits;	/* since the last checkpoint attempt */
	int		 ckp_later;	/* STORE_CKP_LATER */
	volatile int	 panicked;	/* DB_EVENT_PANIC seen: reopen */
};

/* A store transaction (store.h's opaque struct txn) is, for Berkeley DB,
 * the DB_TXN itself: these convert between the two. */
#define BDB_TXN(t)	((DB_TXN *)(void *)(t))
#define STORE_TXN(t)	((struct txn *)(void *)(t))

/* Arguments of the operations store_txn_run wraps when txn is NULL. */
struct op {
	enum store_kind	 kind;
	const char	*key;
	const json_t	*val;
	json_t		**out;
	int		 flags;
	const char	*conn;
	time_t		 exp, now;
	json_t		*list;		/* store_each: collected [key, val] */
	int		*found;		/* store_prefix_any */
};

/* store.c: the file of each kind, relative to the environment home. */
extern const char *const store_files[SK__MAX];

/* store.c: kind's database, opened on first use; 0 or a Berkeley DB
 * error (logged), *db then NULL. */
int		 store_db(struct store *, enum store_kind, DB **db);
/* store.c: a transaction holds the recovery lock shared (nesting). */
void		 store_env_share(struct store *);
void		 store_env_unshare(struct store *);
/* store.c: release what dead processes held (DB_ENV->failchk). */
void		 store_failchk(struct store *);
/* store.c: the environment needs recovery; counted as a trouble. */
void		 store_mark_panicked(struct store *);

/* store.c: the Berkeley DB backend's close. */
void		 store_bdb_close(struct store *);
/* store.c: a byte of the lock file (recovery.lock): taken or dropped,
 * waiting; or taken exclusively only if free (1, else 0). */
void		 store_lock_byte(int fd, short type, off_t b);
int		 store_trylock_byte(int fd, off_t b);
#define STORE_CKP_BYTE	2	/* store_ckp.c's; store.c's are 0 and 1 */
/* store_ckp.c: Berkeley DB's sleeps (db_env_set_func_yield), and a
 * checkpoint if kb KiB of log were written since the last one. */
int		 store_bdb_yield(u_long secs, u_long usecs);
void		 store_env_checkpoint(struct store *, u_int32_t kb);

/* store_txn.c: count a transient failure (store_troubles). */
void		 store_trouble(void);
/* store_txn.c: a request's transaction gave up on what (a resource, a
 * lost database connection): logged, counted in store_busy and
 * store_troubles (a 503 with Retry-After). */
void		 store_busy_give_up(const char *what);
/* store_txn.c: the backoff between two attempts of a transaction. */
void		 store_backoff(struct store *, int attempt);
/* store_txn.c: the resource a Berkeley DB message named, for the next
 * ENOMEM (store_busy_what). */
void		 store_busy_hint(const char *what);
/* store_txn.c: STORE_BUSY for a resource error, else -1. */
int		 store_busy_rc(int ret);
/* store_txn.c: a Berkeley DB return as a store_rc; the unexpected is
 * logged with what and the kind's file. */
enum store_rc	 store_dbret(int ret, const char *what, enum store_kind);
/* store_txn.c: point k at the key's bytes.  -1 (logged) for an empty or
 * huge key. */
int		 store_key_dbt(DBT *k, const char *key);
/* store_txn.c: free a record buffer, cleansed first. */
void		 store_dbt_free(DBT *);
/* store_txn.c: parse a stored value.  NULL (logged) if corrupt. */
json_t		*store_val_parse(const DBT *, enum store_kind);

/* store_ops.c: the record operations inside a transaction (the
 * backend's). */
enum store_rc	 store_get_txn(struct store *, struct txn *, enum store_kind,
		    const char *key, json_t **out);
enum store_rc	 store_put_txn(struct store *, struct txn *, enum store_kind,
		    const char *key, const json_t *val, int flags);
enum store_rc	 store_del_txn(struct store *, struct txn *, enum store_kind,
		    const char *key);
enum store_rc	 store_range(struct store *, struct txn *, enum store_kind,
		    const char *from, int flags, long max,
		    int (*cb)(const char *, json_t *, void *), void *arg);
/* store_ops.c: fn (reads or writes, auto_op STORE_AUTO_READ or
 * STORE_AUTO_WRITE) on its own where the backend's autocommit allows,
 * else or after a deadlock in a transaction of its own. */
enum store_rc	 store_op_run(struct store *,
		    enum store_rc (*)(struct store *, struct txn *, void *),
		    struct op *, int auto_op);
/* store_ops.c: fn in a transaction with txn_run's flags. */
enum store_rc	 store_txn_flags(struct store *,
		    enum store_rc (*)(struct store *, struct txn *, void *),
		    void *, int flags);
/* store_gen.c: a new generation, written in txn (not NULL: STORE_ERR)
 * beside a watched write; this process's record cache is dropped. */
enum store_rc	 store_gen_bump(struct store *, struct txn *);
/* store_ops.c: a record value from its stored text (NULL, logged, if
 * corrupt; the message names the kind and the byte, never the value). */
json_t		*store_text_parse(const char *, size_t, enum store_kind);

#endif /* !LATCHKEY_STORE_INT_H */
