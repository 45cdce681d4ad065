/*
 * test_stall: a responder that starts while a peer holds a Berkeley DB
 * mutex, and the peer is then killed (lib/stall.c, issue 7; the CI
 * failure of stop 10: a supervisor's new worker asleep 20 s in a futex,
 * holding the recovery lock shared, so no responder could recover).
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
 * Every k from 1 to the write's last mutex is tried.  Checked that it
 * can fail: with the start-up checks unwatched (before stop 11) the
 * responder was asleep for good for all 14 mutexes, in 3 of 3 runs.
 */
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

#define K_MAX		200	/* more mutexes than one small write takes */
#define WAIT_MS		4000	/* a responder's start may take this long */
#define STALL_EXIT	75	/* stall.c */

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

typedef int (*lock_fn)(void *, uint32_t, uint32_t);
typedef int (*fcntl_fn)(int, int, ...);

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

/* fcntl(2), interposed for the gate; every command here takes a pointer
 * or an int, both passed as one register-sized argument. */
int
fcntl(int fd, int cmd, ...)
{
	static fcntl_fn	 real;
	struct flock	*fl;
	va_list		 ap;
	void		*arg;
	char		 c;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "fcntl");
	if (real == NULL)
		abort();
	if (cmd == F_OFD_SETLKW && (fl = arg) != NULL &&
	    fl->l_type == F_RDLCK && gate_at > 0 && --gate_at == 0 &&
	    (write(gate_out, "G", 1) != 1 || read(gate_in, &c, 1) != 1))
		_exit(4);
	return real(fd, cmd, arg);
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
	if (mkdtemp(dir) == NULL)
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

static int
round_k(int k, int gate)
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
	if ((r = responder(gate, to_r[0], from_r[1])) == -1 ||
	    (c = byte(from_r[0])) != 'G') {
		print_message("k=%d: the responder did not reach its first "
		    "check (%d)\n", k, c);
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
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	p = -1;
	if ((rc = wait_until(r, lk_mono_ms() + WAIT_MS)) != -1)
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

static void
new_responder_never_sleeps_on_a_dead_peers_mutex(void **state)
{
	int	 k, st, asleep = 0, exited = 0, tried = 0;

	(void)state;
	for (k = 1; k <= K_MAX; k++) {
		if ((st = round_k(k, 2)) == WRITTEN)
			break;
		tried++;
		if (getenv("TEST_STALL_DEBUG") != NULL)
			print_message("k=%d: responder %d\n", k, st);
		assert_int_not_equal(st, BROKEN);
		if (st == ASLEEP) {
			print_message("k=%d: new responder asleep for good\n", k);
			asleep++;
		} else if (st == STALL_EXIT)
			exited++;
		else
			assert_true(st == 0 || st == 1);
	}
	print_message("%d mutexes of one write tried: the new responder "
	    "left by stall.c after %d, asleep for good after %d\n",
	    tried, exited, asleep);
	assert_true(tried > 5);
	/* The test reached the case it is about. */
	assert_true(exited > 0);
	assert_int_equal(asleep, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_responder_never_sleeps_on_a_dead_peers_mutex),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
