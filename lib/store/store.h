/*
 * latchkey: the store, on Berkeley DB or PostgreSQL.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_STORE_H
#define LATCHKEY_STORE_H

/* ------------------------------------------------------------------ */
/* The store: one interface (store_ops.c) over two backends, Berkeley   */
/* DB 5.3 (store.c, store_txn.c: one transactional environment on this   */
/* machine, the default) and PostgreSQL (store_pg*.c: a database that   */
/* responders on several machines share); batched walks (store_walk.c), */
/* users and their indexes (store_user.c), replay tables (store_jti.c). */

/*
 * Records are JSON objects, one database per kind, keyed by a string.
 * The kinds latchkeyctl writes (SK_META "tenant", SK_CLIENT, SK_CONNECTION,
 * SK_USER, SK_API, SK_KEY) are declared field by field, with type, range
 * and default, in record.c's tables, and read through record.h's structs.
 * SK_USERIDX "<e|u|p>\x1f<connection>\x1f<lowercased email|username|phone>"
 *	-> {"user_id": "..."}; maintained by store_user_put/del.
 * SK_JTI "<client_id>\x1f<jti>": {"exp": <epoch>}	(client assertion replay)
 * SK_DPOP "<jkt>\x1f<jti>": {"exp": <epoch>}	(DPoP proof replay, RFC 9449 11.1)
 * SK_META "dpop": {"nonce_key": <64 hex>}	(DPoP nonces, grant_dpop.c)
 * SK_REFRESH, SK_ACCESS: refresh tokens and opaque access tokens, keyed by
 *	the token's hash_secret() digest (shapes in refresh.c / opaque.c).
 * SK_OTP: passwordless codes (shape in pwl_code.c).
 * SK_GUARD: attack-protection counters (guard_bucket.c), keyed
 *	"bf\x1f<lowercased identifier>\x1f<ip or *>" -> {"count", "last_failure",
 *	  "blocked_at"?, "identifier", "ip", "user_id"?}	(brute force)
 *	"ip\x1f<ip>" -> {"level", "t", "ip"}			(suspicious IP bucket)
 *	"rl\x1f<identifier>\x1f<ip>" -> {"level", "t", "identifier", "ip"} (login rate)
 *	"ep\x1f<endpoint>\x1f<ip>" -> {"level", "t", "endpoint", "ip"} (endpoint rate)
 * SK_AUDIT "<12-digit epoch>.<9-digit ns>.<8 hex>" -> {"type": Auth0 log code, "date",
 *	"description", "endpoint", "ip", "client_ip"?, "client_id"?,
 *	"user_name"?, "user_id"?, "pid"}	(audit.c; chronological keys)
 * SK_REFIDX "<user_id>\x1f<family id>" -> {}: the refresh-token families
 *	of each user (refresh_index.c), complete once SK_META
 *	"refresh_index" says {"complete": true}.
 * SK_MFA: multi-factor authentication (lib/mfa): "a\x1f<user_id>\x1f<id>"
 *	-> an authenticator (REC_AUTHENTICATOR), "t\x1f<token id>" -> {"exp"}
 *	(a spent mfa_token), "f\x1f<user_id>" -> {"level", "t"} (the failed
 *	verifications bucket); SK_META "mfa" -> {"key"}: the sealing key.
 */
enum store_kind {
	SK_META,
	SK_CLIENT,
	SK_CONNECTION,
	SK_USER,
	SK_USERIDX,
	SK_API,
	SK_KEY,
	SK_JTI,
	SK_REFRESH,
	SK_ACCESS,
	SK_OTP,
	SK_GUARD,
	SK_AUDIT,
	SK_REFIDX,
	SK_DPOP,
	SK_MFA,
	SK__MAX
};

enum store_rc {
	STORE_OK = 0,
	STORE_NOTFOUND,		/* no such key */
	STORE_EXISTS,		/* put with STORE_NOOVERWRITE; unique index clash */
	STORE_DEADLOCK,		/* DB_LOCK_DEADLOCK / NOTGRANTED, a
				 * serialization failure: caller retries */
	STORE_ERR,		/* anything else; logged */
	STORE_BUSY		/* a resource ran out (lock table, memory,
				 * disk): nothing written, retry later */
};

#define STORE_CREATE		0x01	/* store_open: create the environment */
#define STORE_WATCH		0x02	/* store_open: stall.c watches from the
					 * environment's open on (responders) */
#define STORE_MIGRATE		0x04	/* store_open_pg: create or upgrade the
					 * schema (Berkeley DB: nothing) */
#define STORE_CKP_LATER		0x08	/* store_open: checkpoints wait for
					 * store_checkpoint() (responders:
					 * after the answer) */
#define STORE_NOOVERWRITE	0x01	/* store_put: fail with STORE_EXISTS */
#define STORE_FOR_UPDATE	0x02	/* get: the transaction will write the
					 * record (store_get_update) */

struct store;
/* A transaction of the store (store_txn_run), opaque above it. */
struct txn;

/*
 * Open (and with STORE_CREATE create, mode 0700 directory, 0600 files) the
 * environment at home with DB_INIT_TXN|LOCK|LOG|MPOOL, DB_REGISTER|DB_RECOVER
 * (recovery runs only when a process died), a deadlock detector, and all
 * databases.  Returns NULL and logs on error.
 */
struct store	*store_open(const char *home, int flags);
/*
 * Open the PostgreSQL database conninfo names (a libpq connection
 * string, docs/postgresql.md): one connection, made now.  STORE_CREATE
 * or STORE_MIGRATE creates the schema, or upgrades it, as its owner
 * (latchkeyctl init, migrate); without them the schema must be there at
 * this version.
 * STORE_WATCH is ignored.  NULL (logged) on error.
 */
struct store	*store_open_pg(const char *conninfo, int flags);
/* The store the environment names: LATCHKEY_DATABASE when set and not
 * empty (store_open_pg), else Berkeley DB at home (store_open). */
struct store	*store_open_env(const char *home, int flags);
/* 1 when LATCHKEY_DATABASE selects PostgreSQL. */
int		 store_env_pg(void);
/* "bdb" or "pg". */
const char	*store_backend(const struct store *);
/* 1 when Berkeley DB panicked the environment (a crashed process needs
 * recovery): close the store and open it again. */
int		 store_panicked(const struct store *);
/* How many transient environment failures (panic, recovery, deadlock
 * retries run out) this process has seen: compare before and after. */
unsigned	 store_troubles(void);
void		 store_close(struct store *);	/* NULL is a no-op */
/*
 * Checkpoint when one is due (Berkeley DB; otherwise, and for NULL, a
 * no-op).  A transaction's commit calls it, unless the store was opened
 * with STORE_CKP_LATER: then the caller does, where no answer waits.
 */
void		 store_checkpoint(struct store *);
/*
 * A request's hold on the store (Berkeley DB: the recovery lock shared,
 * store.c; PostgreSQL: nothing): every transaction takes it, so holding
 * it from a request's start to its end spares each of them the two
 * fcntl(2) calls.  store_pause() lets go of it while the request waits
 * for something else (its turn in the hash line, a directory or identity
 * provider), as an opener that must recover waits for every holder;
 * store_resume() takes it back.  Not inside a transaction.  Each pair
 * nests; a NULL store is a no-op.
 */
void		 store_hold(struct store *);
void		 store_release(struct store *);
void		 store_pause(struct store *);
void		 store_resume(struct store *);

/* txn may be NULL: the call then runs in its own auto-committed txn. */
enum store_rc	 store_get(struct store *, struct txn *, enum store_kind,
		    const char *key, json_t **out);	/* *out owned by caller */
/*
 * store_get of a record the transaction txn (not NULL) is about to write.
 * Berkeley DB locks the record's page for writing at once (DB_RMW): two
 * transactions that each read the page and then write it would otherwise
 * both hold its read lock and deadlock on the upgrade, one of them to be
 * aborted and retried; this way the second waits for the first's commit.
 * PostgreSQL's serializable transactions need nothing more (store_pg.c).
 */
enum store_rc	 store_get_update(struct store *, struct txn *,
		    enum store_kind, const char *key, json_t **out);
enum store_rc	 store_put(struct store *, struct txn *, enum store_kind,
		    const char *key, const json_t *val, int flags);
enum store_rc	 store_del(struct store *, struct txn *, enum store_kind,
		    const char *key);
/* Calls cb for each record in key order until cb returns non-zero. */
enum store_rc	 store_each(struct store *, struct txn *, enum store_kind,
		    int (*cb)(const char *key, json_t *val, void *arg), void *arg);

/*
 * Bounded walks (latchkeyctl over large stores).  The records of kind
 * whose key starts with prefix (NULL: all) are read in key order in
 * batches of STORE_BATCH, each batch in its own short transaction whose
 * cursor has degree-2 isolation (DB_READ_COMMITTED: a page's read lock
 * is dropped when the cursor leaves it); the next batch starts after the
 * last key seen (DB_SET_RANGE).  Not a snapshot: a record written or
 * deleted during the walk may or may not be seen, and none is seen twice.
 */
#define STORE_BATCH		512
/* A sweep (store_sweep) writes: smaller batches, each followed by a rest
 * as long as the batch took (store_walk.c). */
#define STORE_SWEEP_BATCH	128
/* cb is called for each record of a batch after that batch's transaction
 * has committed (so cb may run transactions of its own), until it
 * returns non-zero.  val is borrowed.  STORE_OK when the walk ended or
 * cb stopped it, else the failed batch's store_rc (cb has seen the
 * batches before it). */
enum store_rc	 store_scan(struct store *, enum store_kind, const char *prefix,
		    int (*cb)(const char *key, json_t *val, void *arg), void *arg);
/*
 * A walk that writes: fn runs for each record inside its batch's
 * transaction, may read and write through txn, sets *act (STORE_KEEP,
 * STORE_DELETE the record, STORE_STOP the walk after it) and may append
 * results to out.  A batch that is retried (deadlock, resource) is run
 * again from the same key with a fresh out; a committed batch's out is
 * appended to sw->out and its deletions counted in sw->deleted.  On
 * error the failed batch wrote nothing and the batches before it stay
 * committed: fn must be idempotent, so that running the walk again
 * finishes the work.
 */
enum store_act { STORE_KEEP, STORE_DELETE, STORE_STOP };
struct store_sweep {
	enum store_kind	 kind;
	const char	*prefix;	/* NULL: every record */
	enum store_rc	(*fn)(struct store *, struct txn *, const char *key,
			    json_t *val, void *arg, enum store_act *act,
			    json_t *out);
	void		*arg;
	json_t		*out;		/* an array, or NULL: results dropped */
	long		 results;	/* what fn appended, committed */
	long		 deleted;	/* committed deletions */
};
enum store_rc	 store_sweep(struct store *, struct store_sweep *);
/* STORE_OK when some key of kind starts with prefix, else STORE_NOTFOUND
 * (one cursor seek, in txn or its own). */
enum store_rc	 store_prefix_any(struct store *, struct txn *, enum store_kind,
		    const char *prefix);
/* For tests: make the next walks fail (STORE_ERR) after n committed
 * batches, as a process killed between two batches would; 0: never. */
void		 store_scan_fail_after(long n);
/* How many requests' transactions gave up on a resource error
 * (STORE_BUSY), and the last resource named ("lock table full", "disk
 * full", ...). */
unsigned	 store_busy(void);
const char	*store_busy_what(void);

/* Delete every record of kind whose "exp" (epoch) is at or before now
 * (one without an integer "exp" is kept); *count says how many.  For
 * SK_OTP, SK_ACCESS and SK_MFA's spent mfa_tokens (latchkeyctl token
 * prune).  Without txn, in batches (store_sweep), each record checked
 * again in the deleting transaction. */
enum store_rc	 store_expire(struct store *, struct txn *, enum store_kind,
		    time_t now, int *count);

/*
 * Run fn inside one transaction, committing if it returns STORE_OK and
 * aborting otherwise; a STORE_DEADLOCK from fn or from the commit is
 * retried (bounded, with backoff), and so is a STORE_BUSY that may clear
 * up (a full lock table: 4 more tries over 150 ms).  Returns fn's
 * result, STORE_BUSY (logged once, naming the resource) or STORE_ERR.
 */
enum store_rc	 store_txn_run(struct store *,
		    enum store_rc (*fn)(struct store *, struct txn *, void *),
		    void *arg);
/*
 * store_txn_run committed without waiting for the disk (a killed process
 * loses nothing of it, a machine crash may lose the last moment's), for
 * writes that may follow the answer (docs/security.md, "Durability");
 * store_txn_durable(s, txn), called by fn, makes this transaction's commit
 * a synced one after all.
 */
enum store_rc	 store_txn_run_nosync(struct store *,
		    enum store_rc (*fn)(struct store *, struct txn *, void *),
		    void *arg);
void		 store_txn_durable(struct store *, struct txn *);
/*
 * store_flush.c: store_txn_run whose commit is durable only once
 * store_flush() has returned STORE_OK, which the caller calls before it
 * answers; meanwhile the commit's locks are free and other commits join
 * the same log sync (group commit).  store_flush: STORE_ERR when the log
 * cannot be synced (the environment panicked: the commit may be lost,
 * answer an error).  On PostgreSQL the commit is synchronous and the
 * flush does nothing.
 */
enum store_rc	 store_txn_run_flushed(struct store *,
		    enum store_rc (*fn)(struct store *, struct txn *, void *),
		    void *arg);
enum store_rc	 store_flush(struct store *);

/*
 * store_gen.c: the store's generation, which every write of a
 * configuration record (the tenant, a client, connection, API or signing
 * key: store_gen_watched) changes in the write's transaction, whoever
 * writes it; record_cache.c keeps parsed records while it holds.
 * store_gen: the value now (one read without a transaction), 0 in a
 * store never so written; STORE_ERR (logged) when unreadable.
 */
enum store_rc	 store_gen(struct store *, uint64_t *gen);
/* 1 when a write of kind's key changes the generation. */
int		 store_gen_watched(enum store_kind, const char *key);

/* Users: unique per connection by email, username and phone (case-
 * insensitive email and username).  store_user_find takes either an email
 * or a username as login. */
enum store_rc	 store_user_find(struct store *, struct txn *,
		    const char *connection, const char *login, json_t **user);
enum store_rc	 store_user_put(struct store *, struct txn *,
		    const json_t *user);
enum store_rc	 store_user_del(struct store *, struct txn *,
		    const char *user_id);

/* Record the use of a client assertion's jti until exp: STORE_EXISTS if
 * it was already used (and not expired). */
enum store_rc	 store_jti_use(struct store *, const char *client_id,
		    const char *jti, time_t exp, time_t now);
/* The same for a DPoP proof's jti under its key's thumbprint, committed
 * without a sync (store_txn.c says why). */
enum store_rc	 store_dpop_use(struct store *, const char *jkt,
		    const char *jti, time_t exp, time_t now);

#endif /* !LATCHKEY_STORE_H */
