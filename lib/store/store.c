/*
 * store.c: the Berkeley DB 5.3 store: the environment's open (with
 * recovery and the recovery lock), its settings and lock table, panics
 * and failchk, and its close.
 *
 * One transactional environment shared by every responder process and
 * latchkeyctl; one B-tree per store_kind; values are compact JSON text,
 * keys the string bytes without the NUL.  Commits are synchronous: an
 * acknowledged write survives a crash.  Transactions and records are in
 * store_txn.c, batched walks in store_walk.c, users in store_user.c.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"
#include "store_int.h"

#define STORE_CACHE	(4 * 1024 * 1024)

/*
 * Crash safety: a responder killed inside a transaction leaves
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

/* The file of each kind, relative to the environment home. */
const char *const store_files[SK__MAX] = {
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
	[SK_DPOP] = "dpop.db",
	[SK_MFA] = "mfa.db",
};

static void
store_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct store	*s = env->app_private;

	/* BDB2055 and its kin name which table ran out before ENOMEM; the
	 * retries would repeat it, busy_again() logs it once instead. */
	if (strstr(msg, "Lock table is out of available") != NULL) {
		store_busy_hint(strstr(msg, "locker") != NULL ?
		    "lock table full (lockers)" : strstr(msg, "object") != NULL ?
		    "lock table full (lock objects)" : "lock table full (locks)");
		return;
	}
	if (strstr(msg, "nable to allocate") != NULL)
		store_busy_hint("region memory full");
	lk_err("berkeley db: %s", msg);
	/* Another process panicked the environment: DB_EVENT_PANIC comes
	 * only to the one that did, the others see this message. */
	if (s != NULL && strstr(msg, "run recovery") != NULL)
		store_mark_panicked(s);
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

	if (event == DB_EVENT_PANIC && s != NULL)
		store_mark_panicked(s);
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

void
store_mark_panicked(struct store *s)
{
	s->panicked = 1;
	store_trouble();
}

/* Release what dead processes held (see STORE_LOCK_WAIT_US). */
void
store_failchk(struct store *s)
{
	int	 ret;

	if ((ret = s->env->failchk(s->env, 0)) != 0) {
		lk_err("failchk: %s", db_strerror(ret));
		if (ret == DB_RUNRECOVERY)
			store_mark_panicked(s);
	}
}

/*
 * Recovery and writers exclude each other (`make fault`).  With
 * DB_REGISTER the process that opens the environment after a peer died
 * runs recovery while the other responders still hold it open; Berkeley
 * DB then panics their handles, but a commit already past its entry
 * check could still append to the log recovery has just read, and be
 * overwritten: acknowledged, then lost.  So every transaction holds a
 * shared lock on one byte of STORE_RECOVERY_LOCK from begin to commit,
 * and an open (which may recover) holds it exclusively: recovery waits
 * for the commits in flight, and a commit after it finds the handle
 * panicked and fails without writing.  A responder holds it through a
 * whole request (store_hold), and lets go of it while the request waits
 * for a hash slot or a remote directory (store_pause).  OFD locks
 * (fcntl F_OFD_SETLKW) belong to the open file and die with the
 * process, so a responder killed mid-commit never blocks recovery.
 */
#define STORE_RECOVERY_LOCK	"recovery.lock"

/*
 * An opener goes before the requests that come after it.  fcntl locks
 * queue no one: while requests overlap, one of them always holds the
 * shared lock, and an opener that asks for it exclusively waits for a
 * moment with no request in flight, which a storm never leaves (workers
 * a supervisor started into a storm of logins waited seconds for it,
 * docs/performance.md).  So an opener first takes STORE_TURN_BYTE
 * exclusively (openers line up there; no request holds it but for a
 * moment) and raises the flag in the lock file's first page, which every
 * process maps, and then asks for byte 0.  A request that finds the flag
 * raised waits on STORE_TURN_BYTE, shared, until the opener is done,
 * then takes byte 0 as before; with the flag down it takes byte 0 at
 * once, with no further system call.  An opener lowers the flag before
 * it lets go of its byte; one killed in between leaves it raised, and
 * the next request, which then gets the byte at once, lowers it:
 * holding the byte shared, it knows no opener is in.
 */
#define STORE_TURN_BYTE		1
#define STORE_TURN_SIZE		4096

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

/* The lock file's first page, mapped shared, or NULL (then openers
 * take their chance as requests do). */
static _Atomic int *
env_turnmap(int fd)
{
	struct stat	 st;
	void		*p;

	if (fd == -1 || fstat(fd, &st) == -1 || (st.st_size < STORE_TURN_SIZE
	    && ftruncate(fd, STORE_TURN_SIZE) == -1))
		return NULL;
	p = mmap(NULL, STORE_TURN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* Take (F_RDLCK, F_WRLCK) or drop (F_UNLCK) the lock on byte b; waits. */
void
store_lock_byte(int fd, short type, off_t b)
{
	struct flock	 fl;

	if (fd == -1)
		return;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = b;
	fl.l_len = 1;
	while (fcntl(fd, F_OFD_SETLKW, &fl) == -1)
		if (errno != EINTR) {
			lk_warn("recovery lock: %s", strerror(errno));
			return;
		}
}

/* Take byte b exclusively if no other process has it: 1, else 0.  With
 * no lock file, or a lock that cannot be taken at all, 1 (logged). */
int
store_trylock_byte(int fd, off_t b)
{
	struct flock	 fl;

	if (fd == -1)
		return 1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = b;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 1;
	if (errno == EAGAIN || errno == EACCES)
		return 0;
	lk_warn("lock file byte %lld: %s", (long long)b, strerror(errno));
	return 1;
}

/* The recovery lock itself, byte 0. */
static void
env_lock(int fd, short type)
{
	store_lock_byte(fd, type, 0);
}

/* A request's shared lock, behind an opener that raised the flag. */
static void
env_lock_shared(struct store *s)
{
	if (s->turn != NULL && atomic_load(s->turn) != 0) {
		store_lock_byte(s->recfd, F_RDLCK, STORE_TURN_BYTE);
		atomic_store(s->turn, 0);
		store_lock_byte(s->recfd, F_UNLCK, STORE_TURN_BYTE);
	}
	env_lock(s->recfd, F_RDLCK);
}

/* An opener's exclusive lock, its turn announced; and its release. */
static void
env_lock_open(struct store *s)
{
	store_lock_byte(s->recfd, F_WRLCK, STORE_TURN_BYTE);
	if (s->turn != NULL)
		atomic_store(s->turn, 1);
	env_lock(s->recfd, F_WRLCK);
}

static void
env_unlock_open(struct store *s)
{
	env_lock(s->recfd, F_UNLCK);
	if (s->turn != NULL)
		atomic_store(s->turn, 0);
	store_lock_byte(s->recfd, F_UNLCK, STORE_TURN_BYTE);
}

/*
 * Every call into Berkeley DB comes through here.  One made while the
 * request has let go of the store (store_pause: a directory login writes
 * its user's record, shadow.c) is watched for its length (stall.c):
 * asleep on a mutex a killed peer held, it would otherwise never leave,
 * and it holds the recovery lock, so no responder could open the
 * environment again (fault test: a rehash written this way stopped the
 * service until the sleeper was killed).
 */
void
store_env_share(struct store *s)
{
	if (s->shared++ > 0)
		return;
	if (s->paused > 0)
		stall_unpause();
	env_lock_shared(s);
}

void
store_env_unshare(struct store *s)
{
	if (--s->shared > 0)
		return;
	env_lock(s->recfd, F_UNLCK);
	if (s->paused > 0)
		stall_pause();
}

/*
 * A request holds the lock from its start to its end (route.c), so that
 * its transactions take it without a system call; it lets go of it
 * around its waits (store.h).  PostgreSQL stores have no lock file
 * (recfd -1): only the counts move.
 */
void
store_hold(struct store *s)
{
	if (s != NULL)
		store_env_share(s);
}

void
store_release(struct store *s)
{
	if (s != NULL)
		store_env_unshare(s);
}

void
store_pause(struct store *s)
{
	if (s == NULL || s->paused++ > 0)
		return;
	stall_pause();
	s->held = s->shared;
	if (s->shared > 0) {
		s->shared = 0;
		env_lock(s->recfd, F_UNLCK);
	}
}

void
store_resume(struct store *s)
{
	if (s == NULL || --s->paused > 0)
		return;
	stall_unpause();
	if (s->held == 0)
		return;
	if (s->shared == 0)
		env_lock_shared(s);
	s->shared += s->held;
	s->held = 0;
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

	if ((ret = db_env_set_func_yield(store_bdb_yield)) != 0 ||
	    (ret = db_env_create(&s->env, 0)) != 0) {
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

/* Open one database.  0 or a Berkeley DB error (logged); the handle is
 * left for close. */
static int
store_db_open(struct store *s, enum store_kind kind)
{
	u_int32_t	 fl = DB_AUTO_COMMIT;
	int		 ret;

	if ((ret = db_create(&s->db[kind], s->env, 0)) != 0) {
		lk_err("db_create: %s", db_strerror(ret));
		return ret;
	}
	/*
	 * Databases are created on demand even without STORE_CREATE (the
	 * environment itself must exist): a newer responder adds the kinds
	 * it introduced to an older environment.
	 */
	fl |= DB_CREATE;
	ret = s->db[kind]->open(s->db[kind], NULL, store_files[kind], NULL,
	    DB_BTREE, fl, 0600);
	if (ret != 0)
		lk_err("open %s: %s", store_files[kind], db_strerror(ret));
	return ret;
}

/*
 * A process opens only the databases it uses, when it first uses them:
 * a plain CGI request that reads the tenant and the keys no longer
 * opens and closes all SK__MAX of them (docs/performance.md).  The open
 * is its own transaction (DB_AUTO_COMMIT), under the recovery lock and
 * the umask of store_open; a lock wait that times out is retried by the
 * caller's transaction like any other.
 */
int
store_db(struct store *s, enum store_kind kind, DB **db)
{
	mode_t		 omask;
	int		 ret = 0;

	if (s->db[kind] == NULL) {
		omask = umask(077);
		store_env_share(s);
		if ((ret = store_db_open(s, kind)) != 0 && s->db[kind] != NULL) {
			(void)s->db[kind]->close(s->db[kind], 0);
			s->db[kind] = NULL;
		}
		store_env_unshare(s);
		umask(omask);
	}
	*db = s->db[kind];
	return ret;
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
	s->ops = &store_bdb_ops;
	s->recfd = -1;
	omask = umask(077);
	if (store_home(home, flags) == -1)
		goto err;
	s->recfd = env_lockfd(home);
	s->turn = env_turnmap(s->recfd);
	env_lock_open(s);
	rc = store_env_open(s, home);
	env_unlock_open(s);
	if (rc == -1)
		goto err;
	if (flags & STORE_WATCH) {
		stall_watch(home);
		stall_arm();
	}
	/* Creating: every file now, with the umask above.  Otherwise on
	 * first use (store_db). */
	store_env_share(s);
	for (kind = 0; (flags & STORE_CREATE) && kind < SK__MAX; kind++)
		if (store_db_open(s, (enum store_kind)kind) != 0)
			break;
	store_env_unshare(s);
	if (flags & STORE_WATCH)
		stall_disarm();
	if ((flags & STORE_CREATE) && kind < SK__MAX)
		goto err;
	umask(omask);
	s->opened = 1;
	s->ckp_later = (flags & STORE_CKP_LATER) != 0;
	s->rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^
	    (uint64_t)(uintptr_t)s;
	s->rnd |= 1;
	return s;
err:
	umask(omask);
	store_bdb_close(s);
	return NULL;
}

/*
 * Close the databases and the environment, checkpointing first so the
 * next recovery has little log to read and old logs can be removed:
 * when at least STORE_CLOSE_CKP_KB of log were written since the last
 * checkpoint.  Without a threshold every close wrote a checkpoint
 * record, which was itself the activity that made the next close write
 * another, and flushed the log: a plain CGI request that wrote nothing
 * paid a log write and an fdatasync (0.3 to 15 ms here).  A process
 * that only reads logs about 0.5 KiB (its databases' registrations), so
 * one CGI request in about a hundred checkpoints; recovery reads at
 * most that much more log than the running checkpoints
 * (store_ckp.c) leave it.
 */
#define STORE_CLOSE_CKP_KB	64

void
store_bdb_close(struct store *s)
{
	int	 kind, ret;

	store_env_share(s);
	for (kind = 0; kind < SK__MAX; kind++)
		if (s->db[kind] != NULL &&
		    (ret = s->db[kind]->close(s->db[kind], 0)) != 0)
			lk_err("close %s: %s", store_files[kind],
			    db_strerror(ret));
	if (s->env != NULL) {
		if (s->opened)
			store_env_checkpoint(s, STORE_CLOSE_CKP_KB);
		if ((ret = s->env->close(s->env, 0)) != 0)
			lk_err("environment close: %s", db_strerror(ret));
	}
	store_env_unshare(s);
	if (s->turn != NULL)
		munmap((void *)s->turn, STORE_TURN_SIZE);
	if (s->recfd != -1)
		close(s->recfd);
	free(s);
}
