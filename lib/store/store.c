/*
 * store.c: the Berkeley DB 5.3 store.
 *
 * One transactional environment shared by every responder process and
 * latchkeyctl; one B-tree per store_kind; values are compact JSON text,
 * keys the string bytes without the NUL.  Commits are synchronous: an
 * acknowledged write survives a crash.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define STORE_RETRIES	20		/* deadlock retries in store_txn_run */
#define STORE_CKP_EVERY	128		/* commits between checkpoint attempts */
#define STORE_CKP_KB	1024		/* ... which run only after this much log */
#define STORE_CACHE	(4 * 1024 * 1024)
#define STORE_KEY_MAX	2048		/* longest key we read or write */
#define JTI_PURGE_MAX	8		/* expired jti records looked at per use */
/*
 * Crash safety (issue 7): a responder killed inside a transaction leaves
 * its locks behind.  Lock waits therefore time out (STORE_LOCK_WAIT_US,
 * then DB_LOCK_NOTGRANTED, retried like a deadlock), and a retry after
 * a timeout first runs DB_ENV->failchk(), which releases the locks and
 * aborts the transactions of dead processes (is_alive below).  When a
 * dead process was inside Berkeley DB itself, failchk or the recovery a
 * respawned responder runs at open (DB_REGISTER) panics the environment;
 * the DB_EVENT_PANIC handler marks the store and the responder reopens
 * it (ctx_refresh in ctx.c).  A responder asleep on a mutex the dead
 * process held never gets that far: stall.c makes it exit.
 */
#define STORE_LOCK_WAIT_US	200000
#define STORE_THREADS		512	/* processes sharing the environment */

/*
 * The lock table (Berkeley DB Reference Guide, "Configuring locking:
 * sizing the system").  Every process holds a handle lock on each of its
 * SK__MAX open databases for as long as it runs.  A request's
 * transaction locks a few btree pages of a few databases: a rotation
 * reads and writes four records, STORE_TXN_LOCKS leaves room to spare.
 * An admin batch (store_scan, store_sweep) holds at most about
 * STORE_BATCH_LOCKS: its cursor's degree-2 read locks are dropped as it
 * moves, what remains is a write and a read lock per record of
 * STORE_BATCH in at most two databases.  So, with every responder
 * process in a transaction and STORE_ADMINS latchkeyctl batches at once:
 *	locks	512 * (14 + 64) + 8 * 2048 = 56,320
 *	objects	the same bound (pages and handles locked at once)
 *	lockers	(512 + 8) * (14 + 8) = 11,440 (a locker per open
 *		database handle, per transaction, per cursor)
 * about 9 MiB of shared region in all.  Berkeley DB sizes the lock
 * region only when it creates the regions: an environment made by an
 * older release keeps its table until recovery rebuilds them
 * (store_env_check warns).
 */
#define STORE_TXN_LOCKS		64
#define STORE_BATCH_LOCKS	(4 * STORE_BATCH)
#define STORE_ADMINS		8
#define STORE_LK_LOCKS		(STORE_THREADS * (SK__MAX + STORE_TXN_LOCKS) + \
				 STORE_ADMINS * STORE_BATCH_LOCKS)
#define STORE_LK_OBJECTS	STORE_LK_LOCKS
#define STORE_LK_LOCKERS	((STORE_THREADS + STORE_ADMINS) * (SK__MAX + 8))

/*
 * Resource errors (a full lock table, region memory, log buffer or
 * disk): the transaction was aborted and wrote nothing.  The ones that
 * clear up as other transactions end are retried STORE_BUSY_RETRIES
 * times, STORE_BUSY_WAIT_MS, then twice, four and eight times as long
 * apart (150 ms in all); then the caller gets STORE_BUSY (a request a
 * 503 with Retry-After, latchkeyctl its EXIT_TEMPFAIL).
 */
#define STORE_BUSY_RETRIES	4
#define STORE_BUSY_WAIT_MS	10

static const struct {
	int		 err;
	const char	*what;
	int		 retry;		/* may clear up by itself */
} busy_errs[] = {
	{ ENOMEM, "lock table or region memory full", 1 },
	{ DB_LOG_BUFFER_FULL, "log buffer full", 1 },
	{ ENOSPC, "disk full", 0 },
	{ EDQUOT, "disk quota exceeded", 0 },
	{ EFBIG, "file size limit reached", 0 },
};

/*
 * Set when a lock wait timed out (DB_LOCK_NOTGRANTED), the only retry
 * after which failchk can help: a deadlock is resolved by the detector,
 * and failchk asks is_alive about every registered thread (STORE_THREADS
 * kill(2)s), which under contention cost more than the transaction
 * (issue 7, perf).  One flag per process: responders are single-threaded.
 */
static int	 lock_timedout;

/*
 * Transient failures of the environment seen by this process (a panic,
 * a recovery, retries run out): route.c answers 503 and Retry-After
 * instead of 500 for a request during which this count moved.
 */
static unsigned	 troubles;

/*
 * Resource errors: how many transactions gave up on one, the resource
 * of the last (a Berkeley DB message names the lock table; store_errcall
 * keeps which), and whether it may clear up by itself.
 */
static unsigned	 busy;
static const char *busy_what = "";
static const char *busy_hint;
static int	 busy_retry;

/* store_scan_fail_after(): walks fail after this many batches. */
static long	 scan_fail_after;

struct store {
	int		 recfd;		/* STORE_RECOVERY_LOCK, see env_share() */
	int		 shared;	/* env_share() nesting */
	DB_ENV		*env;
	DB		*db[SK__MAX];
	uint64_t	 rnd;		/* backoff jitter (xorshift), not crypto */
	unsigned	 commits;	/* since the last checkpoint attempt */
	volatile int	 panicked;	/* DB_EVENT_PANIC seen: reopen */
};

/* The file of each kind, relative to the environment home. */
static const char *const store_files[SK__MAX] = {
	[SK_META] = "meta.db",
	[SK_CLIENT] = "clients.db",
	[SK_CONNECTION] = "connections.db",
	[SK_USER] = "users.db",
	[SK_USERIDX] = "useridx.db",
	[SK_API] = "apis.db",
	[SK_KEY] = "keys.db",
	[SK_JTI] = "jti.db",
	[SK_REFRESH] = "refresh.db",
	[SK_ACCESS] = "access.db",
	[SK_OTP] = "otp.db",
	[SK_GUARD] = "guard.db",
	[SK_AUDIT] = "audit.db",
	[SK_REFIDX] = "refreshidx.db",
};

/*
 * The unique user indexes (extern.h SK_USERIDX): tag letter and the user
 * field it indexes, in the order store_user_find tries them.
 */
enum idx { IDX_EMAIL, IDX_USERNAME, IDX_PHONE, IDX__MAX };

static const struct {
	char		 tag;
	const char	*field;
} idx_fields[IDX__MAX] = {
	[IDX_EMAIL] = { 'e', "email" },
	[IDX_USERNAME] = { 'u', "username" },
	[IDX_PHONE] = { 'p', "phone_number" },
};

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

static void
store_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct store	*s = env->app_private;

	/* BDB2055 and its kin name which table ran out before ENOMEM; the
	 * retries would repeat it, busy_again() logs it once instead. */
	if (strstr(msg, "Lock table is out of available") != NULL) {
		busy_hint = strstr(msg, "locker") != NULL ?
		    "lock table full (lockers)" : strstr(msg, "object") != NULL ?
		    "lock table full (lock objects)" : "lock table full (locks)";
		return;
	}
	if (strstr(msg, "nable to allocate") != NULL)
		busy_hint = "region memory full";
	lk_err("berkeley db: %s", msg);
	/* Another process panicked the environment: DB_EVENT_PANIC comes
	 * only to the one that did, the others see this message. */
	if (s != NULL && strstr(msg, "run recovery") != NULL) {
		s->panicked = 1;
		troubles++;
	}
}

/* STORE_BUSY for a resource error (busy_what, busy_retry set), else -1. */
static int
store_busy_rc(int ret)
{
	size_t	 i;

	for (i = 0; i < sizeof(busy_errs) / sizeof(busy_errs[0]); i++)
		if (busy_errs[i].err == ret) {
			busy_what = ret == ENOMEM && busy_hint != NULL ?
			    busy_hint : busy_errs[i].what;
			busy_retry = busy_errs[i].retry;
			busy_hint = NULL;
			return STORE_BUSY;
		}
	return -1;
}

/*
 * Map a Berkeley DB return onto store_rc; only the unexpected is logged
 * (a missing key or a deadlock is a normal outcome for the caller, a
 * resource error is logged once by txn_run when it gives up).
 */
static enum store_rc
store_rc(int ret, const char *what, enum store_kind kind)
{

	if (store_busy_rc(ret) == STORE_BUSY)
		return STORE_BUSY;
	switch (ret) {
	case 0:
		return STORE_OK;
	case DB_NOTFOUND:
	case DB_KEYEMPTY:
		return STORE_NOTFOUND;
	case DB_KEYEXIST:
		return STORE_EXISTS;
	case DB_LOCK_NOTGRANTED:
		lock_timedout = 1;
		return STORE_DEADLOCK;
	case DB_LOCK_DEADLOCK:
		return STORE_DEADLOCK;
	case DB_RUNRECOVERY:
		troubles++;
		/* FALLTHROUGH */
	default:
		lk_err("%s %s: %s", what, store_files[kind], db_strerror(ret));
		return STORE_ERR;
	}
}

/* Point k at the key's bytes.  -1 (logged) for an empty or huge key. */
static int
key_dbt(DBT *k, const char *key)
{
	size_t	 len;

	memset(k, 0, sizeof(*k));
	if (key == NULL || (len = strlen(key)) == 0 || len > STORE_KEY_MAX) {
		lk_err("empty or oversized key");
		return -1;
	}
	k->data = (void *)key;
	k->size = (u_int32_t)len;
	return 0;
}

/* Free a record buffer; records hold hashes and private keys. */
static void
dbt_free(DBT *d)
{

	if (d->data != NULL) {
		explicit_bzero(d->data, d->size);
		free(d->data);
	}
	d->data = NULL;
	d->size = 0;
}

/* Parse a stored value.  NULL (logged, without the value) if corrupt. */
static json_t *
val_parse(const DBT *d, enum store_kind kind)
{
	json_t		*v;
	json_error_t	 e;

	v = json_loadb(d->data, d->size, JSON_DECODE_ANY, &e);
	if (v == NULL)
		lk_err("%s: unparsable record at byte %d",
		    store_files[kind], e.position);
	return v;
}

/* ------------------------------------------------------------------ */
/* Opening and closing.                                               */

/*
 * Make sure home is usable: with STORE_CREATE create it (mode 0700 by the
 * caller's umask), otherwise require an existing environment so that a
 * wrong path is an error instead of a fresh empty tenant.  0 or -1 (logged).
 */
static int
store_home(const char *home, int flags)
{
	char		 path[PATH_MAX];
	struct stat	 st;

	if (flags & STORE_CREATE) {
		if (mkdir(home, 0700) == -1 && errno != EEXIST) {
			lk_err("mkdir %s: %s", home, strerror(errno));
			return -1;
		}
		return 0;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", home,
	    store_files[SK_META]) >= sizeof(path)) {
		lk_err("%s: path too long", home);
		return -1;
	}
	if (stat(path, &st) == -1) {
		lk_err("%s: no environment (%s); run latchkeyctl init",
		    home, strerror(errno));
		return -1;
	}
	return 0;
}

/* DB_EVENT_PANIC: the environment must be closed and opened again. */
static void
store_event(DB_ENV *env, u_int32_t event, void *info)
{
	struct store	*s = env->app_private;

	if (event == DB_EVENT_PANIC && s != NULL) {
		s->panicked = 1;
		troubles++;
	}
}

/* failchk's question: is the process that owns a locker still alive? */
static int
store_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, u_int32_t flags)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

int
store_panicked(const struct store *s)
{
	return s != NULL && s->panicked;
}

unsigned
store_troubles(void)
{
	return troubles;
}

unsigned
store_busy(void)
{
	return busy;
}

const char *
store_busy_what(void)
{
	return busy_what;
}

/* Release what dead processes held (see STORE_LOCK_WAIT_US). */
static void
store_failchk(struct store *s)
{
	int	 ret;

	if ((ret = s->env->failchk(s->env, 0)) != 0) {
		lk_err("failchk: %s", db_strerror(ret));
		if (ret == DB_RUNRECOVERY) {
			s->panicked = 1;
			troubles++;
		}
	}
}

/*
 * Recovery and writers exclude each other (issue 7, fault test).  With
 * DB_REGISTER the process that opens the environment after a peer died
 * runs recovery while the other responders still hold it open; Berkeley
 * DB then panics their handles, but a commit already past its entry
 * check could still append to the log recovery has just read, and be
 * overwritten: acknowledged, then lost.  So every transaction holds a
 * shared lock on one byte of STORE_RECOVERY_LOCK from begin to commit,
 * and an open (which may recover) holds it exclusively: recovery waits
 * for the commits in flight, and a commit after it finds the handle
 * panicked and fails without writing.  OFD locks (fcntl F_OFD_SETLKW)
 * belong to the open file and die with the process, so a responder
 * killed mid-commit never blocks recovery.
 */
#define STORE_RECOVERY_LOCK	"recovery.lock"

static int
env_lockfd(const char *home)
{
	char	 path[PATH_MAX];
	int	 fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", home,
	    STORE_RECOVERY_LOCK) >= sizeof(path))
		return -1;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		lk_warn("%s: %s (recovery not fenced)", path, strerror(errno));
	return fd;
}

/* Take (F_RDLCK, F_WRLCK) or drop (F_UNLCK) the lock; waits. */
static void
env_lock(int fd, short type)
{
	struct flock	 fl;

	if (fd == -1)
		return;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	while (fcntl(fd, F_OFD_SETLKW, &fl) == -1)
		if (errno != EINTR) {
			lk_warn("recovery lock: %s", strerror(errno));
			return;
		}
}

static void
env_share(struct store *s)
{
	if (s->shared++ == 0)
		env_lock(s->recfd, F_RDLCK);
}

static void
env_unshare(struct store *s)
{
	if (--s->shared == 0)
		env_lock(s->recfd, F_UNLCK);
}

/*
 * The lock table in use is the one the regions were created with: say
 * so when it is smaller than this release asks for (a DB_CONFIG file
 * may lower it on purpose; the tests do).
 */
static void
store_env_check(DB_ENV *env, const char *home)
{
	u_int32_t	 locks = 0;

	if (env->get_lk_max_locks(env, &locks) == 0 && locks < STORE_LK_LOCKS)
		lk_warn("%s: the lock table holds %u locks, fewer than the %d "
		    "this release sizes it for: with every process stopped, "
		    "run db5.3_recover -h %s to rebuild it", home,
		    (unsigned)locks, STORE_LK_LOCKS, home);
}

/*
 * Open the environment.  DB_RECOVER requires DB_CREATE (the regions are
 * rebuilt), so DB_CREATE is always given here; store_home() already
 * refused a missing environment without STORE_CREATE.  DB_REGISTER makes
 * DB_RECOVER run only when a registered process died without closing,
 * which is what lets many responders open the same environment at once.
 * 0 or -1 (logged); s->env is then left for store_close().
 */
static int
store_env_open(struct store *s, const char *home)
{
	DB_ENV		*env;
	u_int32_t	 fl;
	int		 ret;

	if ((ret = db_env_create(&s->env, 0)) != 0) {
		lk_err("db_env_create: %s", db_strerror(ret));
		return -1;
	}
	env = s->env;
	env->app_private = s;
	env->set_errcall(env, store_errcall);
	if ((ret = env->set_event_notify(env, store_event)) != 0 ||
	    (ret = env->set_thread_count(env, STORE_THREADS)) != 0 ||
	    (ret = env->set_isalive(env, store_isalive)) != 0 ||
	    (ret = env->set_timeout(env, STORE_LOCK_WAIT_US,
	    DB_SET_LOCK_TIMEOUT)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0 ||
	    (ret = env->set_lg_filemode(env, 0600)) != 0 ||
	    (ret = env->set_cachesize(env, 0, STORE_CACHE, 1)) != 0 ||
	    (ret = env->set_lk_max_locks(env, STORE_LK_LOCKS)) != 0 ||
	    (ret = env->set_lk_max_lockers(env, STORE_LK_LOCKERS)) != 0 ||
	    (ret = env->set_lk_max_objects(env, STORE_LK_OBJECTS)) != 0) {
		lk_err("environment settings: %s", db_strerror(ret));
		return -1;
	}
	fl = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG |
	    DB_INIT_MPOOL | DB_REGISTER | DB_RECOVER;
	if ((ret = env->open(env, home, fl, 0600)) != 0) {
		lk_err("%s: %s", home, db_strerror(ret));
		return -1;
	}
	store_env_check(env, home);
	return 0;
}

/* Open one database.  0 or -1 (logged); the handle is left for close. */
static int
store_db_open(struct store *s, enum store_kind kind, int flags)
{
	u_int32_t	 fl = DB_AUTO_COMMIT;
	int		 ret;

	if ((ret = db_create(&s->db[kind], s->env, 0)) != 0) {
		lk_err("db_create: %s", db_strerror(ret));
		return -1;
	}
	/*
	 * Databases are created on demand even without STORE_CREATE (the
	 * environment itself must exist): a newer responder adds the kinds
	 * it introduced to an older environment.
	 */
	fl |= DB_CREATE;
	ret = s->db[kind]->open(s->db[kind], NULL, store_files[kind], NULL,
	    DB_BTREE, fl, 0600);
	if (ret != 0) {
		lk_err("open %s: %s", store_files[kind], db_strerror(ret));
		return -1;
	}
	return 0;
}

/*
 * The umask is tightened while opening so that the region, log and
 * database files come out 0600 whatever the caller's umask is.
 * Returns NULL (logged) on error, with everything opened closed again.
 */
struct store *
store_open(const char *home, int flags)
{
	struct store	*s;
	mode_t		 omask;
	int		 kind, rc;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		lk_err("calloc: %s", strerror(errno));
		return NULL;
	}
	s->recfd = -1;
	omask = umask(077);
	if (store_home(home, flags) == -1)
		goto err;
	s->recfd = env_lockfd(home);
	env_lock(s->recfd, F_WRLCK);
	rc = store_env_open(s, home);
	env_lock(s->recfd, F_UNLCK);
	if (rc == -1)
		goto err;
	if (flags & STORE_WATCH) {
		stall_watch(home);
		stall_arm();
	}
	env_share(s);
	for (kind = 0; kind < SK__MAX; kind++)
		if (store_db_open(s, (enum store_kind)kind, flags) == -1)
			break;
	env_unshare(s);
	if (flags & STORE_WATCH)
		stall_disarm();
	if (kind < SK__MAX)
		goto err;
	umask(omask);
	s->rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^
	    (uint64_t)(uintptr_t)s;
	s->rnd |= 1;
	return s;
err:
	umask(omask);
	store_close(s);
	return NULL;
}

/*
 * Close the databases and the environment, checkpointing first so the
 * next recovery has little log to read and old logs can be removed.
 */
void
store_close(struct store *s)
{
	int	 kind, ret;

	if (s == NULL)
		return;
	env_share(s);
	for (kind = 0; kind < SK__MAX; kind++)
		if (s->db[kind] != NULL &&
		    (ret = s->db[kind]->close(s->db[kind], 0)) != 0)
			lk_err("close %s: %s", store_files[kind],
			    db_strerror(ret));
	if (s->env != NULL) {
		if (s->db[SK__MAX - 1] != NULL &&
		    (ret = s->env->txn_checkpoint(s->env, 0, 0, 0)) != 0)
			lk_warn("checkpoint: %s", db_strerror(ret));
		if ((ret = s->env->close(s->env, 0)) != 0)
			lk_err("environment close: %s", db_strerror(ret));
	}
	env_unshare(s);
	if (s->recfd != -1)
		close(s->recfd);
	free(s);
}

/* ------------------------------------------------------------------ */
/* Transactions.                                                      */

/* Sleep a random 0.1 ms .. 2^n ms so that colliding processes part. */
static void
store_backoff(struct store *s, int attempt)
{
	struct timespec	 ts;
	uint64_t	 max_us, us;

	s->rnd ^= s->rnd << 13;
	s->rnd ^= s->rnd >> 7;
	s->rnd ^= s->rnd << 17;
	max_us = 1000u << (attempt < 5 ? attempt : 5);
	us = 100 + (s->rnd ^ (uint64_t)getpid()) % max_us;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(us * 1000);
	nanosleep(&ts, NULL);
}

/*
 * Log files are removed (DB_LOG_AUTO_REMOVE) only once a checkpoint no
 * longer needs them, and the responders are long-lived: checkpoint now
 * and then, when enough log has been written.  Failure is only logged.
 */
static void
store_checkpoint(struct store *s)
{
	int	 ret;

	if (++s->commits < STORE_CKP_EVERY)
		return;
	s->commits = 0;
	if ((ret = s->env->txn_checkpoint(s->env, STORE_CKP_KB, 0, 0)) != 0)
		lk_warn("checkpoint: %s", db_strerror(ret));
}

/*
 * fn may run more than once (after a deadlock or a resource error), so
 * it must rebuild any state it keeps in arg each time.  Returns fn's
 * result, STORE_BUSY when a resource stayed exhausted, STORE_ERR when
 * the transaction cannot begin or commit or the retries run out; the
 * transaction is then aborted and nothing of it is written.
 */
static enum store_rc	txn_run(struct store *,
			    enum store_rc (*)(struct store *, DB_TXN *, void *),
			    void *);

enum store_rc
store_txn_run(struct store *s,
    enum store_rc (*fn)(struct store *, DB_TXN *, void *), void *arg)
{
	enum store_rc	 rc;

	env_share(s);
	rc = txn_run(s, fn, arg);
	env_unshare(s);
	return rc;
}

/*
 * After a resource error (the transaction aborted, nothing written):
 * 1 to try again after a pause, 0 to give up, logged once with the
 * resource and counted (store_busy, and store_troubles: the request is
 * answered 503, not blamed on the configuration).
 */
static int
busy_again(int *tries)
{
	struct timespec	 ts;
	long		 ms;

	if (busy_retry && *tries < STORE_BUSY_RETRIES) {
		ms = (long)STORE_BUSY_WAIT_MS << (*tries)++;
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		nanosleep(&ts, NULL);
		return 1;
	}
	lk_err("%s: transaction given up after %d attempt(s), nothing "
	    "written", busy_what, *tries + 1);
	busy++;
	troubles++;
	return 0;
}

/* A txn_begin that failed: STORE_BUSY (a full locker table) or STORE_ERR. */
static enum store_rc
txn_begin_failed(struct store *s, int ret)
{

	if (store_busy_rc(ret) == STORE_BUSY)
		return STORE_BUSY;
	if (ret == DB_RUNRECOVERY) {
		s->panicked = 1;
		troubles++;
	}
	lk_err("txn_begin: %s", db_strerror(ret));
	return STORE_ERR;
}

static enum store_rc
txn_run(struct store *s,
    enum store_rc (*fn)(struct store *, DB_TXN *, void *), void *arg)
{
	DB_TXN		*txn;
	enum store_rc	 rc;
	int		 i, ret, tries = 0;

	for (i = 0; i < STORE_RETRIES; i++) {
		if (i > 0) {
			if (lock_timedout)
				store_failchk(s);
			store_backoff(s, i);
		}
		lock_timedout = 0;
		if ((ret = s->env->txn_begin(s->env, NULL, &txn, 0)) != 0) {
			if ((rc = txn_begin_failed(s, ret)) == STORE_BUSY &&
			    busy_again(&tries))
				continue;
			return rc;
		}
		if ((rc = fn(s, txn, arg)) != STORE_OK) {
			if ((ret = txn->abort(txn)) != 0) {
				lk_err("txn abort: %s", db_strerror(ret));
				return STORE_ERR;
			}
			if (rc == STORE_DEADLOCK ||
			    (rc == STORE_BUSY && busy_again(&tries)))
				continue;
			return rc;
		}
		/* The handle is gone after commit, whatever it returns; a
		 * failed commit is aborted, nothing of it written. */
		if ((ret = txn->commit(txn, 0)) == 0) {
			store_checkpoint(s);
			return STORE_OK;
		}
		if (store_busy_rc(ret) == STORE_BUSY) {
			if (busy_again(&tries))
				continue;
			return STORE_BUSY;
		}
		if (ret != DB_LOCK_DEADLOCK && ret != DB_LOCK_NOTGRANTED) {
			lk_err("txn commit: %s", db_strerror(ret));
			return STORE_ERR;
		}
		if (ret == DB_LOCK_NOTGRANTED)
			lock_timedout = 1;
	}
	lk_err("transaction still deadlocked after %d attempts", i);
	troubles++;
	return STORE_ERR;
}

/* ------------------------------------------------------------------ */
/* Records.                                                           */

/* *out is NULL unless STORE_OK.  On error nothing is changed. */
static enum store_rc
get_txn(struct store *s, DB_TXN *txn, enum store_kind kind, const char *key,
    json_t **out)
{
	DB		*db = s->db[kind];
	DBT		 k, d;
	int		 ret;

	*out = NULL;
	if (key_dbt(&k, key) == -1)
		return STORE_ERR;
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_MALLOC;
	if ((ret = db->get(db, txn, &k, &d, 0)) != 0)
		return store_rc(ret, "get", kind);
	*out = val_parse(&d, kind);
	dbt_free(&d);
	return *out == NULL ? STORE_ERR : STORE_OK;
}

/* On error nothing is written (the caller aborts the transaction). */
static enum store_rc
put_txn(struct store *s, DB_TXN *txn, enum store_kind kind, const char *key,
    const json_t *val, int flags)
{
	DB		*db = s->db[kind];
	DBT		 k, d;
	char		*text;
	int		 ret;

	if (key_dbt(&k, key) == -1)
		return STORE_ERR;
	if ((text = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		lk_err("%s: cannot serialise record", store_files[kind]);
		return STORE_ERR;
	}
	memset(&d, 0, sizeof(d));
	d.data = text;
	d.size = (u_int32_t)strlen(text);
	ret = db->put(db, txn, &k, &d,
	    (flags & STORE_NOOVERWRITE) ? DB_NOOVERWRITE : 0);
	explicit_bzero(text, d.size);
	free(text);
	return store_rc(ret, "put", kind);
}

static enum store_rc
del_txn(struct store *s, DB_TXN *txn, enum store_kind kind, const char *key)
{
	DB		*db = s->db[kind];
	DBT		 k;

	if (key_dbt(&k, key) == -1)
		return STORE_ERR;
	return store_rc(db->del(db, txn, &k, 0), "del", kind);
}

/* Walk the database in key order, handing cb a NUL-terminated key and
 * the parsed value (borrowed: decref'd after cb returns). */
static enum store_rc
each_txn(struct store *s, DB_TXN *txn, enum store_kind kind,
    int (*cb)(const char *, json_t *, void *), void *arg)
{
	DB		*db = s->db[kind];
	DBC		*c = NULL;
	DBT		 k, d;
	json_t		*v;
	char		*key = NULL, *nkey;
	enum store_rc	 rc;
	int		 ret, stop = 0;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = d.flags = DB_DBT_REALLOC;
	if ((ret = db->cursor(db, txn, &c, 0)) != 0)
		return store_rc(ret, "cursor", kind);
	while (!stop && (ret = c->get(c, &k, &d, DB_NEXT)) == 0) {
		if ((nkey = realloc(key, k.size + 1)) == NULL) {
			lk_err("realloc: %s", strerror(errno));
			ret = ENOMEM;
			break;
		}
		key = nkey;
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		if ((v = val_parse(&d, kind)) == NULL) {
			ret = EINVAL;
			break;
		}
		stop = cb(key, v, arg);
		json_decref(v);
	}
	rc = (ret == DB_NOTFOUND) ? STORE_OK : store_rc(ret, "cursor", kind);
	if ((ret = c->close(c)) != 0 && rc == STORE_OK)
		rc = store_rc(ret, "cursor close", kind);
	free(key);
	free(k.data);
	dbt_free(&d);
	return rc;
}

static enum store_rc
get_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct op	*o = arg;

	return get_txn(s, txn, o->kind, o->key, o->out);
}

static enum store_rc
put_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct op	*o = arg;

	return put_txn(s, txn, o->kind, o->key, o->val, o->flags);
}

static enum store_rc
del_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct op	*o = arg;

	return del_txn(s, txn, o->kind, o->key);
}

static int
collect_cb(const char *key, json_t *val, void *arg)
{

	return json_array_append_new(arg, json_pack("[sO]", key, val)) == -1;
}

/* Collect first, call back after the commit: a retried transaction
 * must not show the caller the same record twice. */
static enum store_rc
collect_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct op	*o = arg;

	json_array_clear(o->list);
	return each_txn(s, txn, o->kind, collect_cb, o->list);
}

/* *out is NULL unless STORE_OK.  Nothing changes. */
enum store_rc
store_get(struct store *s, DB_TXN *txn, enum store_kind kind,
    const char *key, json_t **out)
{
	struct op	 o = { .kind = kind, .key = key, .out = out };

	*out = NULL;
	if (txn != NULL)
		return get_txn(s, txn, kind, key, out);
	return store_txn_run(s, get_fn, &o);
}

/* STORE_EXISTS with STORE_NOOVERWRITE and the key taken; on any error
 * nothing is written (an own transaction is aborted; a caller's
 * transaction must be aborted by the caller). */
enum store_rc
store_put(struct store *s, DB_TXN *txn, enum store_kind kind,
    const char *key, const json_t *val, int flags)
{
	struct op	 o = { .kind = kind, .key = key, .val = val,
			       .flags = flags };

	if (txn != NULL)
		return put_txn(s, txn, kind, key, val, flags);
	return store_txn_run(s, put_fn, &o);
}

/* STORE_NOTFOUND when there was no such key; nothing is then changed. */
enum store_rc
store_del(struct store *s, DB_TXN *txn, enum store_kind kind,
    const char *key)
{
	struct op	 o = { .kind = kind, .key = key };

	if (txn != NULL)
		return del_txn(s, txn, kind, key);
	return store_txn_run(s, del_fn, &o);
}

/*
 * val is borrowed: cb must json_incref() what it keeps.  Without a txn
 * the records are read in one transaction and cb is called after it
 * commits.  Returns STORE_OK when the walk ended (or cb stopped it),
 * STORE_DEADLOCK (with a txn) or STORE_ERR; cb may have been called for
 * some records by then.
 */
enum store_rc
store_each(struct store *s, DB_TXN *txn, enum store_kind kind,
    int (*cb)(const char *key, json_t *val, void *arg), void *arg)
{
	struct op	 o = { .kind = kind };
	enum store_rc	 rc;
	size_t		 i;

	if (txn != NULL)
		return each_txn(s, txn, kind, cb, arg);
	if ((o.list = json_array()) == NULL)
		return STORE_ERR;
	if ((rc = store_txn_run(s, collect_fn, &o)) == STORE_OK)
		for (i = 0; i < json_array_size(o.list); i++) {
			json_t *p = json_array_get(o.list, i);

			if (cb(json_string_value(json_array_get(p, 0)),
			    json_array_get(p, 1), arg))
				break;
		}
	json_decref(o.list);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Bounded walks (extern.h STORE_BATCH).                              */

/*
 * One walk: where it stands (committed: the last key of the last batch
 * that committed) and what the batch in progress has gathered (pending,
 * thrown away when the batch is retried).
 */
struct walk {
	enum store_kind		 kind;
	const char		*prefix;
	size_t			 plen;
	char			 last[STORE_KEY_MAX + 1];
	size_t			 lastlen;
	int			 started;	/* last holds a key */
	int			 end;		/* nothing left */
	/* The batch in progress. */
	char			 plast[STORE_KEY_MAX + 1];
	size_t			 plastlen;
	int			 pend;
	json_t			*recs;		/* store_scan: [key, val] pairs */
	struct store_sweep	*sw;		/* store_sweep */
	json_t			*out;
	long			 deleted;
	int			 batch;		/* records a batch */
};

/*
 * A sweep writes, so its batches hold write locks until they commit (a
 * synchronous commit): a responder whose request touches one of those
 * pages waits for it.  Sweeps therefore take smaller batches than reads
 * (extern.h STORE_SWEEP_BATCH),
 * and rest after each for as long as it took (at most SWEEP_REST_MS),
 * leaving the responders at least half of the time and of a core
 * (`make scale`: token prune beside logins and refreshes).
 */
#define SWEEP_REST_MS		100

void
store_scan_fail_after(long n)
{

	scan_fail_after = n;
}

/* Forget what an aborted attempt of the batch gathered. */
static int
walk_reset(struct walk *w)
{

	w->plastlen = 0;
	w->pend = 0;
	w->deleted = 0;
	json_decref(w->recs);
	json_decref(w->out);
	w->recs = w->out = NULL;
	if (w->sw == NULL)
		w->recs = json_array();
	else
		w->out = json_array();
	return w->recs == NULL && w->out == NULL ? -1 : 0;
}

/* Put the cursor on the first record after the committed key, or on the
 * first with the prefix.  A Berkeley DB return (DB_NOTFOUND: none). */
static int
walk_first(DBC *c, const struct walk *w, DBT *k, DBT *d)
{
	int	 ret;

	if (!w->started && w->plen == 0)
		return c->get(c, k, d, DB_FIRST);
	if (!w->started) {
		memcpy(k->data, w->prefix, w->plen);
		k->size = (u_int32_t)w->plen;
		return c->get(c, k, d, DB_SET_RANGE);
	}
	memcpy(k->data, w->last, w->lastlen);
	k->size = (u_int32_t)w->lastlen;
	if ((ret = c->get(c, k, d, DB_SET_RANGE)) != 0)
		return ret;
	if (k->size == w->lastlen && memcmp(k->data, w->last, k->size) == 0)
		return c->get(c, k, d, DB_NEXT);
	return 0;
}

/* One record of the batch (key NUL-terminated, cursor c on it). */
static enum store_rc
walk_one(struct store *s, DB_TXN *txn, DBC *c, struct walk *w,
    const char *key, const DBT *d)
{
	enum store_act	 act = STORE_KEEP;
	json_t		*v;
	enum store_rc	 rc;
	int		 ret;

	if ((v = val_parse(d, w->kind)) == NULL)
		return STORE_ERR;
	memcpy(w->plast, key, (w->plastlen = strlen(key)) + 1);
	if (w->sw == NULL) {
		rc = json_array_append_new(w->recs, json_pack("[sO]", key, v))
		    == 0 ? STORE_OK : STORE_ERR;
		json_decref(v);
		return rc;
	}
	rc = w->sw->fn(s, txn, key, v, w->sw->arg, &act, w->out);
	json_decref(v);
	if (rc != STORE_OK)
		return rc;
	if (act == STORE_STOP)
		w->pend = 1;
	if (act != STORE_DELETE)
		return STORE_OK;
	if ((ret = c->del(c, 0)) != 0)
		return store_rc(ret, "del", w->kind);
	w->deleted++;
	return STORE_OK;
}

/*
 * A batch: at most STORE_BATCH records from where the walk stands.  The
 * cursor reads with degree 2 (DB_READ_COMMITTED): a page's read lock is
 * held while the cursor is on it and dropped when it moves on, so a
 * batch's locks are its writes, the reads fn made, and one page.
 */
static enum store_rc
walk_batch(struct store *s, DB_TXN *txn, void *arg)
{
	struct walk	*w = arg;
	DB		*db = s->db[w->kind];
	DBC		*c = NULL;
	DBT		 k, d;
	char		 kbuf[STORE_KEY_MAX + 1];
	enum store_rc	 rc = STORE_OK;
	int		 ret, n = 0;

	if (walk_reset(w) == -1)
		return STORE_ERR;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = kbuf;
	k.ulen = STORE_KEY_MAX;
	k.flags = DB_DBT_USERMEM;
	d.flags = DB_DBT_REALLOC;
	if ((ret = db->cursor(db, txn, &c, DB_READ_COMMITTED)) != 0)
		return store_rc(ret, "cursor", w->kind);
	for (ret = walk_first(c, w, &k, &d); ret == 0;
	    ret = c->get(c, &k, &d, DB_NEXT)) {
		if (w->plen > 0 && (k.size < w->plen ||
		    memcmp(kbuf, w->prefix, w->plen) != 0)) {
			ret = DB_NOTFOUND;
			break;
		}
		kbuf[k.size] = '\0';
		if ((rc = walk_one(s, txn, c, w, kbuf, &d)) != STORE_OK ||
		    w->pend || ++n == w->batch)
			break;
	}
	if (ret == DB_NOTFOUND)
		w->pend = 1;
	else if (ret != 0)
		rc = store_rc(ret, "cursor", w->kind);
	if ((ret = c->close(c)) != 0 && rc == STORE_OK)
		rc = store_rc(ret, "cursor close", w->kind);
	dbt_free(&d);
	return rc;
}

/* The batch committed: move on, hand its records or results over.
 * -1 when the caller's callback stopped the walk. */
static void
walk_commit(struct walk *w, int (*cb)(const char *, json_t *, void *),
    void *arg)
{
	json_t	*p;
	size_t	 i;

	memcpy(w->last, w->plast, w->plastlen + 1);
	w->lastlen = w->plastlen;
	w->started = w->started || w->plastlen > 0;
	w->end = w->pend;
	if (w->sw != NULL) {
		w->sw->deleted += w->deleted;
		w->sw->results += (long)json_array_size(w->out);
		if (w->sw->out != NULL)
			json_array_extend(w->sw->out, w->out);
		return;
	}
	json_array_foreach(w->recs, i, p)
		if (cb(json_string_value(json_array_get(p, 0)),
		    json_array_get(p, 1), arg)) {
			w->end = 1;
			break;
		}
}

/* A sweep's rest after a batch that took ms (SWEEP_REST_MS). */
static void
walk_rest(double ms)
{
	struct timespec	 ts;

	if (ms > SWEEP_REST_MS)
		ms = SWEEP_REST_MS;
	if (ms <= 0)
		return;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(ms * 1e6);
	nanosleep(&ts, NULL);
}

static enum store_rc
walk_run(struct store *s, struct walk *w,
    int (*cb)(const char *, json_t *, void *), void *arg)
{
	enum store_rc	 rc = STORE_OK;
	double		 t0;
	long		 n;

	w->plen = w->prefix != NULL ? strlen(w->prefix) : 0;
	if (w->plen > STORE_KEY_MAX) {
		lk_err("oversized prefix");
		return STORE_ERR;
	}
	for (n = 0; !w->end; n++) {
		if (scan_fail_after > 0 && n >= scan_fail_after) {
			lk_err("walk of %s stopped after %ld batches (test)",
			    store_files[w->kind], n);
			rc = STORE_ERR;
			break;
		}
		t0 = lk_mono_ms();
		if ((rc = store_txn_run(s, walk_batch, w)) != STORE_OK)
			break;
		walk_commit(w, cb, arg);
		if (w->sw != NULL && !w->end)
			walk_rest(lk_mono_ms() - t0);
	}
	json_decref(w->recs);
	json_decref(w->out);
	return rc;
}

enum store_rc
store_scan(struct store *s, enum store_kind kind, const char *prefix,
    int (*cb)(const char *key, json_t *val, void *arg), void *arg)
{
	struct walk	 w;

	memset(&w, 0, sizeof(w));
	w.kind = kind;
	w.prefix = prefix;
	w.batch = STORE_BATCH;
	return walk_run(s, &w, cb, arg);
}

enum store_rc
store_sweep(struct store *s, struct store_sweep *sw)
{
	struct walk	 w;

	memset(&w, 0, sizeof(w));
	w.kind = sw->kind;
	w.prefix = sw->prefix;
	w.sw = sw;
	w.batch = STORE_SWEEP_BATCH;
	return walk_run(s, &w, NULL, NULL);
}

static enum store_rc
prefix_txn(struct store *s, DB_TXN *txn, enum store_kind kind,
    const char *prefix)
{
	DB		*db = s->db[kind];
	DBC		*c = NULL;
	DBT		 k, d;
	char		 kbuf[STORE_KEY_MAX + 1];
	size_t		 plen = strlen(prefix);
	enum store_rc	 rc;
	int		 ret;

	if (plen == 0 || plen > STORE_KEY_MAX)
		return STORE_ERR;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	memcpy(kbuf, prefix, plen);
	k.data = kbuf;
	k.size = (u_int32_t)plen;
	k.ulen = STORE_KEY_MAX;
	k.flags = DB_DBT_USERMEM;
	/* Only the key matters: read no data. */
	d.flags = DB_DBT_PARTIAL | DB_DBT_USERMEM;
	if ((ret = db->cursor(db, txn, &c, 0)) != 0)
		return store_rc(ret, "cursor", kind);
	ret = c->get(c, &k, &d, DB_SET_RANGE);
	if (ret == 0)
		rc = k.size >= plen && memcmp(kbuf, prefix, plen) == 0 ?
		    STORE_OK : STORE_NOTFOUND;
	else
		rc = store_rc(ret, "cursor", kind);
	if ((ret = c->close(c)) != 0 && (rc == STORE_OK ||
	    rc == STORE_NOTFOUND))
		rc = store_rc(ret, "cursor close", kind);
	return rc;
}

static enum store_rc
prefix_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct op	*o = arg;
	enum store_rc	 rc;

	rc = prefix_txn(s, txn, o->kind, o->key);
	/* Not found is an answer: commit the read-only transaction. */
	*o->found = rc == STORE_OK;
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

enum store_rc
store_prefix_any(struct store *s, DB_TXN *txn, enum store_kind kind,
    const char *prefix)
{
	struct op	 o = { .kind = kind, .key = prefix };
	enum store_rc	 rc;
	int		 found = 0;

	if (txn != NULL)
		return prefix_txn(s, txn, kind, prefix);
	o.found = &found;
	if ((rc = store_txn_run(s, prefix_fn, &o)) != STORE_OK)
		return rc;
	return found ? STORE_OK : STORE_NOTFOUND;
}

/* ------------------------------------------------------------------ */
/* Expiry.                                                            */

struct expire {
	time_t		 now;
	json_t		*keys;		/* of expired records */
};

/* A record without a valid exp is kept: it is not ours to judge. */
static int
is_expired(const json_t *val, time_t now)
{
	const json_t	*exp = json_object_get(val, "exp");

	return json_is_integer(exp) && json_integer_value(exp) <= (json_int_t)now;
}

static int
expire_cb(const char *key, json_t *val, void *arg)
{
	struct expire	*e = arg;

	if (!is_expired(val, e->now))
		return 0;
	return json_array_append_new(e->keys, json_string(key)) == -1;
}

/* In the batch's transaction: the value judged is the one deleted. */
static enum store_rc
expire_fn(struct store *s, DB_TXN *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	if (is_expired(val, *(const time_t *)arg))
		*act = STORE_DELETE;
	return STORE_OK;
}

/* Delete the records of kind whose "exp" is at or before now (SK_OTP,
 * SK_ACCESS: readers skip them already, nothing else removes them). */
enum store_rc
store_expire(struct store *s, DB_TXN *txn, enum store_kind kind, time_t now,
    int *count)
{
	struct expire	 e = { now, NULL };
	struct store_sweep sw = { kind, NULL, expire_fn, &now, NULL, 0, 0 };
	enum store_rc	 rc;
	size_t		 i;

	*count = 0;
	if (txn == NULL) {
		rc = store_sweep(s, &sw);
		*count = (int)sw.deleted;
		return rc;
	}
	if ((e.keys = json_array()) == NULL)
		return STORE_ERR;
	rc = store_each(s, txn, kind, expire_cb, &e);
	for (i = 0; rc == STORE_OK && i < json_array_size(e.keys); i++)
		rc = store_del(s, txn, kind,
		    json_string_value(json_array_get(e.keys, i)));
	if (rc == STORE_OK)
		*count = (int)json_array_size(e.keys);
	json_decref(e.keys);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Users and their unique indexes.                                    */

/*
 * Write the SK_USERIDX key "<tag>\x1f<conn>\x1f<lowercased value>" into
 * key (STORE_KEY_MAX + 1).  Returns 0, or -1 when the parts cannot form
 * an unambiguous bounded key (such a key can never have been stored).
 */
static int
idx_key(char *key, enum idx i, const char *conn, const char *value)
{
	size_t	 off;
	int	 n;

	if (strchr(conn, '\x1f') != NULL || *value == '\0')
		return -1;
	n = snprintf(key, STORE_KEY_MAX + 1, "%c\x1f%s\x1f",
	    idx_fields[i].tag, conn);
	if (n < 0 || (size_t)n >= STORE_KEY_MAX)
		return -1;
	off = (size_t)n;
	if (strlen(value) > STORE_KEY_MAX - off)
		return -1;
	/* ASCII only: the index must not depend on the process locale. */
	for (; *value != '\0'; value++)
		key[off++] = (*value >= 'A' && *value <= 'Z') ?
		    (char)(*value - 'A' + 'a') : *value;
	key[off] = '\0';
	return 0;
}

/*
 * The index keys of a user record (empty string where the field is
 * absent or null).  Returns 0, or -1 (logged) when a field has the wrong
 * type or the record lacks a connection.
 */
static int
user_keys(const json_t *user, char keys[IDX__MAX][STORE_KEY_MAX + 1])
{
	const char	*conn;
	const json_t	*v;
	int		 i;

	if ((conn = json_string_value(json_object_get(user, "connection")))
	    == NULL || *conn == '\0') {
		lk_err("user record without connection");
		return -1;
	}
	for (i = 0; i < IDX__MAX; i++) {
		keys[i][0] = '\0';
		v = json_object_get(user, idx_fields[i].field);
		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_string(v) ||
		    (json_string_length(v) > 0 &&
		     idx_key(keys[i], (enum idx)i, conn, json_string_value(v)) == -1)) {
			lk_err("user %s: bad type, length or connection",
			    idx_fields[i].field);
			return -1;
		}
	}
	return 0;
}

/* The user_id an index key points at: STORE_OK with *uid (owned by
 * *rec) set, STORE_NOTFOUND, or an error. */
static enum store_rc
idx_get(struct store *s, DB_TXN *txn, const char *key, json_t **rec,
    const char **uid)
{
	enum store_rc	 rc;

	*uid = NULL;
	if ((rc = get_txn(s, txn, SK_USERIDX, key, rec)) != STORE_OK)
		return rc;
	if ((*uid = json_string_value(json_object_get(*rec, "user_id")))
	    == NULL) {
		lk_err("index record without user_id");
		return STORE_ERR;
	}
	return STORE_OK;
}

/* Remove an index key if it still points at uid. */
static enum store_rc
idx_del_own(struct store *s, DB_TXN *txn, const char *key, const char *uid)
{
	json_t		*rec = NULL;
	const char	*owner;
	enum store_rc	 rc;

	rc = idx_get(s, txn, key, &rec, &owner);
	if (rc == STORE_OK)
		rc = strcmp(owner, uid) == 0 ?
		    del_txn(s, txn, SK_USERIDX, key) : STORE_OK;
	else if (rc == STORE_NOTFOUND)
		rc = STORE_OK;
	json_decref(rec);
	return rc;
}

/* STORE_EXISTS when key belongs to a user other than uid. */
static enum store_rc
idx_check_free(struct store *s, DB_TXN *txn, const char *key,
    const char *uid)
{
	json_t		*rec = NULL;
	const char	*owner;
	enum store_rc	 rc;

	rc = idx_get(s, txn, key, &rec, &owner);
	if (rc == STORE_OK && strcmp(owner, uid) != 0)
		rc = STORE_EXISTS;
	else if (rc == STORE_OK || rc == STORE_NOTFOUND)
		rc = STORE_OK;
	json_decref(rec);
	return rc;
}

/* Find by each index in turn; a dangling index entry counts as absent. */
static enum store_rc
user_find_txn(struct store *s, DB_TXN *txn, const char *conn,
    const char *login, json_t **user)
{
	char		 key[STORE_KEY_MAX + 1];
	json_t		*rec;
	const char	*uid;
	enum store_rc	 rc;
	int		 i;

	for (i = 0; i < IDX__MAX; i++) {
		if (idx_key(key, (enum idx)i, conn, login) == -1)
			return STORE_NOTFOUND;
		rec = NULL;
		if ((rc = idx_get(s, txn, key, &rec, &uid)) == STORE_OK)
			rc = get_txn(s, txn, SK_USER, uid, user);
		json_decref(rec);
		if (rc == STORE_OK)
			return STORE_OK;
		if (rc != STORE_NOTFOUND)
			return rc;
	}
	return STORE_NOTFOUND;
}

static enum store_rc
user_find_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct op	*o = arg;

	return user_find_txn(s, txn, o->conn, o->key, o->out);
}

/* *user is NULL unless STORE_OK.  Nothing changes. */
enum store_rc
store_user_find(struct store *s, DB_TXN *txn, const char *connection,
    const char *login, json_t **user)
{
	struct op	 o = { .conn = connection, .key = login, .out = user };

	*user = NULL;
	if (txn != NULL)
		return user_find_txn(s, txn, connection, login, user);
	return store_txn_run(s, user_find_fn, &o);
}

/*
 * Check the new keys are free, drop the previous version's stale keys,
 * then write the new keys and the record.
 */
static enum store_rc
user_put_txn(struct store *s, DB_TXN *txn, const json_t *user)
{
	char		 nk[IDX__MAX][STORE_KEY_MAX + 1];
	char		 ok[IDX__MAX][STORE_KEY_MAX + 1];
	json_t		*old = NULL, *ref = NULL;
	const char	*uid;
	enum store_rc	 rc;
	int		 i;

	uid = json_string_value(json_object_get(user, "user_id"));
	if (uid == NULL || *uid == '\0' || user_keys(user, nk) == -1) {
		lk_err("user record without user_id or with bad fields");
		return STORE_ERR;
	}
	rc = get_txn(s, txn, SK_USER, uid, &old);
	if (rc == STORE_NOTFOUND) {
		memset(ok, 0, sizeof(ok));
		rc = STORE_OK;
	} else if (rc == STORE_OK && user_keys(old, ok) == -1)
		rc = STORE_ERR;
	for (i = 0; rc == STORE_OK && i < IDX__MAX; i++)
		if (nk[i][0] != '\0')
			rc = idx_check_free(s, txn, nk[i], uid);
	for (i = 0; rc == STORE_OK && i < IDX__MAX; i++)
		if (ok[i][0] != '\0' && strcmp(ok[i], nk[i]) != 0)
			rc = idx_del_own(s, txn, ok[i], uid);
	if (rc == STORE_OK && (ref = json_pack("{ss}", "user_id", uid)) == NULL)
		rc = STORE_ERR;
	for (i = 0; rc == STORE_OK && i < IDX__MAX; i++)
		if (nk[i][0] != '\0')
			rc = put_txn(s, txn, SK_USERIDX, nk[i], ref, 0);
	if (rc == STORE_OK)
		rc = put_txn(s, txn, SK_USER, uid, user, 0);
	json_decref(old);
	json_decref(ref);
	return rc;
}

static enum store_rc
user_put_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct op	*o = arg;

	return user_put_txn(s, txn, o->val);
}

/*
 * STORE_EXISTS when another user of the connection holds the email,
 * username or phone; STORE_ERR for a record without user_id/connection.
 * On error nothing is written (the caller aborts its transaction).
 */
enum store_rc
store_user_put(struct store *s, DB_TXN *txn, const json_t *user)
{
	struct op	 o = { .val = user };

	if (txn != NULL)
		return user_put_txn(s, txn, user);
	return store_txn_run(s, user_put_fn, &o);
}

static enum store_rc
user_del_txn(struct store *s, DB_TXN *txn, const char *uid)
{
	char		 keys[IDX__MAX][STORE_KEY_MAX + 1];
	json_t		*old = NULL;
	enum store_rc	 rc;
	int		 i;

	if ((rc = get_txn(s, txn, SK_USER, uid, &old)) != STORE_OK)
		return rc;
	if (user_keys(old, keys) == -1)
		rc = STORE_ERR;
	for (i = 0; rc == STORE_OK && i < IDX__MAX; i++)
		if (keys[i][0] != '\0')
			rc = idx_del_own(s, txn, keys[i], uid);
	if (rc == STORE_OK)
		rc = del_txn(s, txn, SK_USER, uid);
	json_decref(old);
	return rc;
}

static enum store_rc
user_del_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct op	*o = arg;

	return user_del_txn(s, txn, o->key);
}

/* STORE_NOTFOUND when there is no such user; on error nothing changes. */
enum store_rc
store_user_del(struct store *s, DB_TXN *txn, const char *user_id)
{
	struct op	 o = { .key = user_id };

	if (txn != NULL)
		return user_del_txn(s, txn, user_id);
	return store_txn_run(s, user_del_fn, &o);
}

/* ------------------------------------------------------------------ */
/* Client assertion replay (RFC 7523 3: jti used once).               */

/* exp of a jti record; 0 (expired) when unreadable. */
static time_t
jti_exp(const DBT *d)
{
	json_t	*v;
	time_t	 exp;

	if ((v = val_parse(d, SK_JTI)) == NULL)
		return 0;
	exp = (time_t)json_integer_value(json_object_get(v, "exp"));
	json_decref(v);
	return exp;
}

/*
 * Delete expired records following the one just written (wrapping to
 * the start), at most JTI_PURGE_MAX looked at: the table stays small
 * without a sweeper process.  Returns a store_rc; a deadlock must abort.
 */
static enum store_rc
jti_purge(struct store *s, DB_TXN *txn, const DBT *from, time_t now)
{
	DB		*db = s->db[SK_JTI];
	DBC		*c = NULL;
	DBT		 k, d;
	enum store_rc	 rc;
	int		 ret, n, wrapped = 0;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = d.flags = DB_DBT_REALLOC;
	if ((ret = db->cursor(db, txn, &c, 0)) != 0)
		return store_rc(ret, "cursor", SK_JTI);
	for (n = 0; n < JTI_PURGE_MAX; n++) {
		ret = c->get(c, &k, &d, DB_NEXT);
		if (ret == DB_NOTFOUND && !wrapped++)
			ret = c->get(c, &k, &d, DB_FIRST);
		if (ret != 0)
			break;
		if (k.size == from->size &&
		    memcmp(k.data, from->data, k.size) == 0)
			continue;
		if (jti_exp(&d) <= now && (ret = c->del(c, 0)) != 0)
			break;
	}
	rc = (ret == DB_NOTFOUND) ? STORE_OK : store_rc(ret, "purge", SK_JTI);
	if ((ret = c->close(c)) != 0 && rc == STORE_OK)
		rc = store_rc(ret, "cursor close", SK_JTI);
	free(k.data);
	free(d.data);
	return rc;
}

static enum store_rc
jti_fn(struct store *s, DB_TXN *txn, void *arg)
{
	struct op	*o = arg;
	DBT		 k;
	json_t		*old = NULL, *rec;
	enum store_rc	 rc;

	rc = get_txn(s, txn, SK_JTI, o->key, &old);
	if (rc == STORE_OK &&
	    json_integer_value(json_object_get(old, "exp")) > o->now)
		rc = STORE_EXISTS;
	else if (rc == STORE_OK || rc == STORE_NOTFOUND)
		rc = STORE_OK;
	json_decref(old);
	if (rc != STORE_OK)
		return rc;
	if ((rec = json_pack("{sI}", "exp", (json_int_t)o->exp)) == NULL)
		return STORE_ERR;
	rc = put_txn(s, txn, SK_JTI, o->key, rec, 0);
	json_decref(rec);
	if (rc == STORE_OK && key_dbt(&k, o->key) == 0)
		rc = jti_purge(s, txn, &k, o->now);
	return rc;
}

/*
 * An expired record is free to reuse.  Returns STORE_EXISTS when the jti
 * is still recorded, STORE_ERR for an oversized key or a store failure;
 * nothing is then written.
 */
enum store_rc
store_jti_use(struct store *s, const char *client_id, const char *jti,
    time_t exp, time_t now)
{
	char		 key[STORE_KEY_MAX + 1];
	struct op	 o = { .key = key, .exp = exp, .now = now };
	int		 n;

	n = snprintf(key, sizeof(key), "%s\x1f%s", client_id, jti);
	if (n < 0 || (size_t)n > STORE_KEY_MAX) {
		lk_err("client_id and jti too long");
		return STORE_ERR;
	}
	return store_txn_run(s, jti_fn, &o);
}
