/*
 * test_stall: a responder that starts while a peer holds a Berkeley DB
 * mutex, and the peer is then killed (lib/run/stall.c: without it a
 * supervisor's new worker sleeps in a futex for good, holding the
 * recovery lock shared, so no responder can recover).
 *
 * The peer is a forked process that rewrites the tenant record; this
 * binary interposes Berkeley DB's mutex lock (libdb calls it through its
 * PLT), so the peer stops for good right after taking its k-th mutex of
 * that write.  A new responder (ctx_start, as cgi-bin/latchkey.c starts)
 * is forked and held, by an interposed fcntl(2), at the start of its
 * first start-up check: it has opened and joined the environment.  The
 * peer writes and stops, the responder goes on, the peer is SIGKILLed
 * holding its mutex, and the responder must be gone or ready within a
 * few seconds, never asleep for good: either it did not need that mutex,
 * or stall.c saw the dead peer and made it exit (EX_TEMPFAIL) so that
 * the next responder recovers.
 *
 * Every k from 1 to the write's last mutex is tried.  The test can
 * fail: with the start-up checks unwatched the responder sleeps for
 * good at every one of the write's mutexes.
 *
 * The same for an admin command (docs/operations.md): latchkeyctl's
 * path through lib/run/ctlrun.c (a child that opens, runs one write
 * transaction and closes, run again when the stall watch stops it),
 * held before its
 * transaction or before its close (the checkpoint, where latchkeyctl
 * was found asleep in __log_flush_int).  It must end within the bound,
 * with 0 (done, on a later try) or 75 (gave up), and the recovery lock
 * must be free soon after the kill: the time from the kill until this
 * process could take it exclusively, as a new responder's open does, is
 * printed.  TEST_STALL_OLD_CTL=1 runs the command as latchkeyctl did
 * before (one process, unwatched): it was asleep for good every time.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"
#include "fcntl_next.h"

#define K_MAX		200	/* more mutexes than one small write takes */
#define WAIT_MS		4000	/* a responder's start may take this long */
#define STALL_EXIT	LK_EXIT_TEMPFAIL	/* stall.c */
#define CTL_MS		25000	/* ctlrun.c: CTLRUN_TOTAL_MS and a last try */

static char		 dir[] = "/tmp/latchkey-test-stall-XXXXXX";
static char		 home[sizeof(dir) + 8];

/*
 * The interposers' plan for this process: the peer stops for good right
 * after its hold_at-th mutex from now; the responder, before its
 * gate_at-th shared lock on store.c's recovery lock (the first is its
 * databases' open, the second the first transaction of its start-up
 * checks), says so on gate_out and waits for a byte on gate_in.
 */
static volatile int	 hold_at, gate_at;
static int		 hold_fd = -1, gate_in = -1, gate_out = -1;
/* Shared by every process of a round: the gate opens once (latchkeyctl's
 * later tries are forked from a process that never reached it). */
static volatile int	*gate_spent;

typedef int (*lock_fn)(void *, uint32_t, uint32_t);

/*
 * Berkeley DB 5.3's pthread mutex lock (ENV *, db_mutex_t, db_timeout_t),
 * interposed (libdb calls it through its PLT): the real one, then maybe
 * stop holding it.
 */
int	__db_pthread_mutex_lock(void *, uint32_t, uint32_t);

int
__db_pthread_mutex_lock(void *env, uint32_t mutex, uint32_t timeout)
{
	static lock_fn	 real;
	int		 ret;

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "__db_pthread_mutex_lock");
	if (real == NULL)
		abort();
	ret = real(env, mutex, timeout);
	if (hold_at > 0 && --hold_at == 0) {
		if (write(hold_fd, "H", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	return ret;
}

/* fcntl(2), interposed for the gate. */
int
fcntl(int fd, int cmd, ...)
{
	struct flock	*fl;
	va_list		 ap;
	void		*arg;
	char		 c;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (cmd == F_OFD_SETLKW && (fl = arg) != NULL &&
	    fl->l_type == F_RDLCK && gate_at > 0 && --gate_at == 0 &&
	    !*gate_spent && (*gate_spent = 1) &&
	    (write(gate_out, "G", 1) != 1 || read(gate_in, &c, 1) != 1))
		_exit(4);
	return fcntl_next(fd, cmd, arg);
}

static void
quiet(void)
{
	int	 fd;

	if ((fd = open("/dev/null", O_WRONLY)) != -1) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
}

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)st;
	(void)type;
	(void)f;
	return remove(path);
}

static int
setup(void **state)
{
	struct store	*s;
	json_t		*t, *k;
	const char	*kid;
	int		 rc;

	(void)state;
	gate_spent = mmap(NULL, sizeof(*gate_spent), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (gate_spent == MAP_FAILED || mkdtemp(dir) == NULL)
		return -1;
	snprintf(home, sizeof(home), "%s/env", dir);
	if ((s = store_open(home, STORE_CREATE)) == NULL)
		return -1;
	t = json_pack("{s:s, s:s}", "name", "stall",
	    "issuer", "https://stall.example.com/");
	k = key_generate(KEY_ES256, "current", time(NULL));
	kid = json_string_value(json_object_get(k, "kid"));
	rc = t == NULL || k == NULL || kid == NULL ||
	    store_put(s, NULL, SK_META, "tenant", t, 0) != STORE_OK ||
	    store_put(s, NULL, SK_KEY, kid, k, 0) != STORE_OK ? -1 : 0;
	json_decref(t);
	json_decref(k);
	store_close(s);
	return rc;
}

static int
teardown(void **state)
{
	(void)state;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* One byte from fd within WAIT_MS, or 0. */
static char
byte(int fd)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	char		 c;

	if (poll(&pfd, 1, WAIT_MS) != 1 || read(fd, &c, 1) != 1)
		return 0;
	return c;
}

/*
 * The peer: opens the environment (recovering it from the last round),
 * says 'R' on out, waits for a byte on in, then rewrites the tenant and
 * stops for good after its k-th mutex ('H'), or says 'D' when the write
 * took fewer.
 */
static pid_t
peer(int k, int in, int out)
{
	struct store	*s;
	json_t		*t = NULL;
	pid_t		 pid;
	char		 c;

	if ((pid = fork()) != 0)
		return pid;
	quiet();
	if ((s = store_open(home, 0)) == NULL ||
	    store_get(s, NULL, SK_META, "tenant", &t) != STORE_OK ||
	    write(out, "R", 1) != 1 || read(in, &c, 1) != 1)
		_exit(2);
	hold_fd = out;
	hold_at = k;
	store_put(s, NULL, SK_META, "tenant", t, 0);
	hold_at = 0;
	_exit(write(out, "D", 1) == 1 ? 0 : 3);
}

/* A new responder: the start-up of cgi-bin/latchkey.c, with a gate. */
static pid_t
responder(int gate, int in, int out)
{
	struct lk_ctx	 ctx;
	pid_t		 pid;

	if ((pid = fork()) != 0)
		return pid;
	quiet();
	gate_in = in;
	gate_out = out;
	gate_at = gate;
	memset(&ctx, 0, sizeof(ctx));
	ctx_start(&ctx, home);
	_exit(ctx.ready ? 0 : 1);
}

/* The paused writer's write (the same record as the admin command's). */
static enum store_rc	ctl_tx(struct store *, struct txn *, void *);

/*
 * A request that has let go of the store (store_pause, as a login does
 * while it hashes or asks a directory) and then writes, as a rehash or a
 * directory user's record does: gated at its transaction's shared lock.
 */
static pid_t
paused_writer(int gate, int in, int out)
{
	struct store	*s;
	pid_t		 pid;
	enum store_rc	 rc;

	if ((pid = fork()) != 0)
		return pid;
	quiet();
	gate_in = in;
	gate_out = out;
	if ((s = store_open(home, STORE_WATCH)) == NULL)
		_exit(2);
	stall_arm();
	store_hold(s);
	store_pause(s);
	gate_at = gate;
	rc = store_txn_run(s, ctl_tx, NULL);
	store_resume(s);
	store_release(s);
	_exit(rc == STORE_OK ? 0 : 1);
}

/* The admin command's write: one record of its own in SK_META. */
static enum store_rc
ctl_tx(struct store *s, struct txn *t, void *arg)
{
	json_t		*v;
	enum store_rc	 rc;

	(void)arg;
	if ((v = json_pack("{s:I}", "at", (json_int_t)time(NULL))) == NULL)
		return STORE_ERR;
	rc = store_put(s, t, SK_META, "ctl-probe", v, 0);
	json_decref(v);
	return rc;
}

/* ctlrun's work, as latchkeyctl's run() and run_job() do it. */
static int
ctl_work(void *arg)
{
	struct store	*s;
	unsigned	 troubles = store_troubles();
	int		 rc = 0;

	(void)arg;
	if ((s = ctlrun_open(home, 0)) == NULL)
		return ctlrun_transient(NULL, troubles) ? CTLRUN_AGAIN : 1;
	if (ctlrun_txn(s, ctl_tx, NULL) == STORE_OK)
		ctlrun_done();
	else
		rc = ctlrun_transient(s, troubles) ? CTLRUN_AGAIN : 1;
	ctlrun_close(s);
	return rc;
}

/* latchkeyctl of the previous release: one process, nothing watched. */
static int
ctl_old(void)
{
	struct store	*s;
	int		 rc;

	if ((s = store_open(home, 0)) == NULL)
		return 1;
	rc = store_txn_run(s, ctl_tx, NULL) == STORE_OK ? 0 : 1;
	store_close(s);
	return rc;
}

/* Whether the admin command may run again when its commit is in doubt
 * (latchkeyctl.c cmd_repeatable). */
static int		 admin_repeatable;

/* An admin command (latchkeyctl's main after its preparation), gated. */
static pid_t
admin(int gate, int in, int out)
{
	pid_t	 pid;

	if ((pid = fork()) != 0)
		return pid;
	quiet();
	gate_in = in;
	gate_out = out;
	gate_at = gate;
	if (getenv("TEST_STALL_OLD_CTL") != NULL)
		_exit(ctl_old());
	_exit(ctlrun(ctl_work, NULL, admin_repeatable));
}

/*
 * Milliseconds until the recovery lock (store.c) could be taken
 * exclusively, as an open takes it, tried every 2 ms up to ms: -1 if
 * never.
 */
static double
lock_free_ms(double ms)
{
	struct flock	 fl;
	struct timespec	 ts = { 0, 2 * 1000 * 1000 };
	char		 path[sizeof(home) + 16];
	double		 t0 = lk_mono_ms(), took = -1;
	int		 fd;

	snprintf(path, sizeof(path), "%s/recovery.lock", home);
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_whence = SEEK_SET;
	fl.l_len = 1;
	while (lk_mono_ms() - t0 < ms) {
		fl.l_type = F_WRLCK;
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0) {
			took = lk_mono_ms() - t0;
			break;
		}
		nanosleep(&ts, NULL);
	}
	close(fd);
	return took;
}

/* The child's exit status, or -1 when it is still running at deadline. */
static int
wait_until(pid_t pid, double deadline)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	int		 st;

	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		if (lk_mono_ms() > deadline)
			return -1;
		nanosleep(&ts, NULL);
	}
}

/*
 * One round: the peer opens; the responder starts and stops at its
 * first check (its open done, so it has joined the environment); the
 * peer writes and stops holding its k-th mutex; the responder goes on
 * and may need that mutex; the peer is killed.  Returns the responder's
 * exit status, ASLEEP when it was asleep for good, WRITTEN when the
 * peer's write took fewer than k mutexes, or BROKEN when a process did
 * not say what it should have.  Nothing of the round is left running.
 */
enum { ASLEEP = -1, WRITTEN = -2, BROKEN = -3 };

typedef pid_t (*subject_fn)(int gate, int in, int out);

/* One subject under test, and what it is allowed. */
struct subject {
	const char	*name;
	subject_fn	 start;
	int		 gate;		/* its gate_at */
	double		 wait_ms;	/* its bound after the kill */
	int		 peer_lives;	/* the peer is killed only at the end */
};

static int
round_k(int k, const struct subject *sub, double *lock_ms)
{
	struct timespec	 ts = { 0, 300 * 1000 * 1000 };
	int		 to_p[2], from_p[2], to_r[2], from_r[2], rc = BROKEN;
	pid_t		 p = -1, r = -1;
	char		 c = 0;

	if (pipe(to_p) == -1 || pipe(from_p) == -1 || pipe(to_r) == -1 ||
	    pipe(from_r) == -1)
		return BROKEN;
	if ((p = peer(k, to_p[0], from_p[1])) == -1 ||
	    (c = byte(from_p[0])) != 'R') {
		print_message("k=%d: the peer did not open (%d)\n", k, c);
		goto out;
	}
	*gate_spent = 0;
	if ((r = sub->start(sub->gate, to_r[0], from_r[1])) == -1 ||
	    (c = byte(from_r[0])) != 'G') {
		print_message("k=%d: the %s did not reach its gate (%d)\n",
		    k, sub->name, c);
		goto out;
	}
	if (write(to_p[1], "w", 1) != 1)
		goto out;
	c = byte(from_p[0]);
	if (write(to_r[1], "g", 1) != 1)
		goto out;
	if (c == 'D') {
		rc = WRITTEN;
		goto out;
	}
	if (c != 'H') {
		print_message("k=%d: the peer did not write (%d)\n", k, c);
		goto out;
	}
	nanosleep(&ts, NULL);
	if (!sub->peer_lives) {
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		p = -1;
	}
	*lock_ms = sub->peer_lives ? -1 : lock_free_ms(sub->wait_ms);
	if ((rc = wait_until(r, lk_mono_ms() + sub->wait_ms)) != -1)
		r = -1;
	else
		rc = ASLEEP;
out:
	if (p > 0) {
		kill(p, SIGKILL);
		waitpid(p, NULL, 0);
	}
	if (r > 0) {
		kill(r, SIGKILL);
		waitpid(r, NULL, 0);
	}
	close(to_p[0]), close(to_p[1]), close(from_p[0]), close(from_p[1]);
	close(to_r[0]), close(to_r[1]), close(from_r[0]), close(from_r[1]);
	return rc;
}

/*
 * A responder out of the store (store_pause: waiting for a hash slot,
 * hashing) does not look: a peer dies registered, and the responder
 * paused lives on past several ticks; once it resumes, the next tick
 * sees the dead peer and stops it with STALL_EXIT.  (Each tick signals
 * every registered process: a hundred responders waiting in the login
 * line ticked a hundred thousand kill(2)s a second.)
 */
static void
a_paused_responder_does_not_look(void **state)
{
	int	 up[2], down[2], status;
	pid_t	 w, p;
	char	 c;

	(void)state;
	assert_int_equal(pipe(up), 0);
	assert_int_equal(pipe(down), 0);
	if ((w = fork()) == 0) {
		struct store	*s;

		quiet();
		if ((s = store_open(home, STORE_WATCH)) == NULL ||
		    write(up[1], "R", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(2);
		stall_arm();
		store_hold(s);
		store_pause(s);
		usleep(600 * 1000);		/* six ticks' worth */
		if (write(up[1], "A", 1) != 1)
			_exit(3);
		store_resume(s);
		usleep(3000 * 1000);
		_exit(0);
	}
	assert_int_equal(byte(up[0]), 'R');
	if ((p = fork()) == 0) {
		quiet();
		if (store_open(home, 0) == NULL || write(up[1], "P", 1) != 1)
			_exit(2);
		for (;;)
			pause();
	}
	assert_int_equal(byte(up[0]), 'P');
	kill(p, SIGKILL);
	assert_int_equal(waitpid(p, &status, 0), p);
	assert_int_equal(write(down[1], "g", 1), 1);
	assert_int_equal(byte(up[0]), 'A');
	assert_int_equal(waitpid(w, &status, 0), w);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), STALL_EXIT);
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}

/*
 * Every mutex of the peer's write in turn: the subject must each time
 * be gone (STALL_EXIT: stall.c saw the dead peer) or done, never asleep
 * for good, and must have needed the mutex at least once.
 */
static void
subject_rounds(const struct subject *sub)
{
	double	 lock_ms;
	int	 k, st, asleep = 0, exited = 0, tried = 0;

	for (k = 1; k <= K_MAX; k++) {
		if ((st = round_k(k, sub, &lock_ms)) == WRITTEN)
			break;
		tried++;
		if (getenv("TEST_STALL_DEBUG") != NULL)
			print_message("k=%d: %s %d\n", k, sub->name, st);
		assert_int_not_equal(st, BROKEN);
		if (st == ASLEEP) {
			print_message("k=%d: %s asleep for good\n", k, sub->name);
			asleep++;
		} else if (st == STALL_EXIT)
			exited++;
		else
			assert_true(st == 0 || st == 1);
	}
	print_message("%d mutexes of one write tried: the %s left by stall.c "
	    "after %d, asleep for good after %d\n", tried, sub->name, exited,
	    asleep);
	assert_true(tried > 5);
	/* The test reached the case it is about. */
	assert_true(exited > 0);
	assert_int_equal(asleep, 0);
}

static void
new_responder_never_sleeps_on_a_dead_peers_mutex(void **state)
{
	static const struct subject sub = { "new responder", responder, 2,
	    WAIT_MS, 0 };

	(void)state;
	subject_rounds(&sub);
}

/*
 * A write made while the store is paused is watched: the writer that
 * needs the dead peer's mutex leaves (STALL_EXIT) and none sleeps for
 * good.  Without it, a login's rehash slept in __log_flush_int holding
 * the recovery lock, and the service stopped (fault test).
 */
static void
paused_writer_never_sleeps_on_a_dead_peers_mutex(void **state)
{
	static const struct subject sub = { "paused writer", paused_writer,
	    1, WAIT_MS, 0 };

	(void)state;
	subject_rounds(&sub);
}

/*
 * latchkeyctl held at gate (2: before its transaction, 3: before its
 * close) while the peer stops holding each mutex of a write in turn: it
 * must end, with 0 or 75, and leave the recovery lock free within
 * LOCK_MS of the kill.  A command that may not run twice ends 75 when
 * it was stopped inside its commit.
 */
#define LOCK_MS		1000	/* fault.py's service-gap bound */

static void
admin_rounds(int gate, int repeatable, const char *where)
{
	const struct subject sub = { "admin command", admin, gate,
	    getenv("TEST_STALL_OLD_CTL") != NULL ? WAIT_MS : CTL_MS, 0 };
	double	 lock_ms, worst = 0;
	int	 k, st, asleep = 0, done = 0, gaveup = 0, tried = 0, held = 0;
	int	 stuck = 0;

	admin_repeatable = repeatable;
	for (k = 1; k <= K_MAX; k++) {
		if ((st = round_k(k, &sub, &lock_ms)) == WRITTEN)
			break;
		tried++;
		if (getenv("TEST_STALL_DEBUG") != NULL)
			print_message("k=%d: admin %d, lock free after %.0f ms\n",
			    k, st, lock_ms);
		assert_int_not_equal(st, BROKEN);
		if (lock_ms < 0 || lock_ms > LOCK_MS)
			held++;
		/* Still holding the lock at the kill: it needed the mutex. */
		if (lock_ms < 0 || lock_ms > 20)
			stuck++;
		if (lock_ms < 0 || lock_ms > worst)
			worst = lock_ms < 0 ? sub.wait_ms : lock_ms;
		if (st == ASLEEP) {
			print_message("k=%d: admin command asleep for good\n", k);
			asleep++;
		} else if (st == LK_EXIT_TEMPFAIL)
			gaveup++;
		else {
			assert_int_equal(st, 0);
			done++;
		}
	}
	print_message("admin command (%s) held %s, %d mutexes of one write "
	    "tried (%d of them stopped it): done %d, 75 %d, asleep for good "
	    "%d; recovery lock free after the kill within %.0f ms at most, "
	    "held over %d ms in %d rounds\n", repeatable ? "repeatable" :
	    "not repeatable", where, tried, stuck, done, gaveup, asleep, worst,
	    LOCK_MS, held);
	assert_true(tried > 5);
	/* The test reached the case it is about. */
	assert_true(stuck > 0);
	assert_int_equal(asleep, 0);
	assert_int_equal(held, 0);
}

static void
admin_command_never_sleeps_in_its_transaction(void **state)
{
	(void)state;
	admin_rounds(2, 0, "before its transaction");
}

static void
admin_command_never_sleeps_in_its_close(void **state)
{
	(void)state;
	admin_rounds(3, 1, "before its close");
}

/*
 * The peer stops holding its k-th mutex and lives on (stuck for a reason
 * the stall watch cannot see): latchkeyctl, asleep on that mutex, must
 * not wait without a bound.  With the bounds shortened (asleep 1 s, an
 * open 2 s, tries 4 s; ctlrun.c has 3, 10 and 20 s) its first try is
 * killed asleep, the next ones cannot open (the peer holds the recovery
 * lock shared, store.c), and it gives up: 75, well within 10 s.  The
 * first k that stops the command is enough.
 */
static void
admin_command_does_not_wait_for_a_live_peer(void **state)
{
	const struct subject sub = { "admin command", admin, 2, 10000, 1 };
	double	 lock_ms, t0 = 0, took;
	int	 k, st = BROKEN;

	(void)state;
	admin_repeatable = 1;
	ctlrun_test_bounds(1000, 2000, 4000);
	/* A command that did not need the mutex is done (0) at once. */
	for (k = 1; k <= K_MAX; k++) {
		t0 = lk_mono_ms();
		if ((st = round_k(k, &sub, &lock_ms)) != 0)
			break;
	}
	took = lk_mono_ms() - t0;
	ctlrun_test_bounds(3000, 10000, 20000);
	print_message("admin command asleep on mutex %d of a live peer: "
	    "ended %d after %.1f s\n", k, st, took / 1000);
	assert_int_equal(st, LK_EXIT_TEMPFAIL);
	assert_true(took < 8000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_paused_responder_does_not_look),
		cmocka_unit_test(new_responder_never_sleeps_on_a_dead_peers_mutex),
		cmocka_unit_test(paused_writer_never_sleeps_on_a_dead_peers_mutex),
		cmocka_unit_test(admin_command_never_sleeps_in_its_transaction),
		cmocka_unit_test(admin_command_never_sleeps_in_its_close),
		cmocka_unit_test(admin_command_does_not_wait_for_a_live_peer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
