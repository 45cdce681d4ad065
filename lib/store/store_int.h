/*
 * latchkey: what the parts of the store share.  store.c opens and closes
 * the environment, store_txn.c runs transactions and reads and writes
 * records, store_walk.c walks in batches and expires, store_user.c keeps
 * the users' unique indexes.  Only lib/store/store*.c include this
 * header; store.h is the store's interface.
 */
#ifndef LATCHKEY_STORE_INT_H
#define LATCHKEY_STORE_INT_H

#define STORE_KEY_MAX	2048		/* longest key we read or write */

struct store {
	int		 recfd;		/* STORE_RECOVERY_LOCK (store.c) */
	int		 shared;	/* store_env_share() nesting */
	DB_ENV		*env;
	DB		*db[SK__MAX];
	uint64_t	 rnd;		/* backoff jitter (xorshift), not crypto */
	unsigned	 commits;	/* since the last checkpoint attempt */
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

/* store.c: a transaction holds the recovery lock shared (nesting). */
void		 store_env_share(struct store *);
void		 store_env_unshare(struct store *);
/* store.c: release what dead processes held (DB_ENV->failchk). */
void		 store_failchk(struct store *);
/* store.c: the environment needs recovery; counted as a trouble. */
void		 store_mark_panicked(struct store *);

/* store_txn.c: count a transient failure (store_troubles). */
void		 store_trouble(void);
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

/* store_txn.c: the record operations inside a transaction. */
enum store_rc	 store_get_txn(struct store *, struct txn *, enum store_kind,
		    const char *key, json_t **out);
enum store_rc	 store_put_txn(struct store *, struct txn *, enum store_kind,
		    const char *key, const json_t *val, int flags);
enum store_rc	 store_del_txn(struct store *, struct txn *, enum store_kind,
		    const char *key);

#endif /* !LATCHKEY_STORE_INT_H */
