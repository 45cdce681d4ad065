/*
 * test_store_lock.c: the store shared by processes: transactions of two
 * processes on one record, the lock file's recovery lock that fences an
 * opener that may recover from requests in flight (lib/store/store.c),
 * and the checkpoints' turn (lib/store/store_ckp.c) under writers in
 * other processes; a fresh environment in a temporary directory per test
 * (store_fx.c).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"
#include "store/store_int.h"
#include "store_fx.h"

#define INCREMENTS	200		/* per process in the counter test */

/* ------------------------------------------------------------------ */
/* Concurrency: two processes, one counter. */

static enum store_rc
incr_fn(struct store *s, struct txn *txn, void *arg)
{
	json_t		*v = NULL, *nv;
	enum store_rc	 rc;

	(*(int *)arg)++;
	if ((rc = store_get(s, txn, SK_META, "counter", &v)) != STORE_OK)
		return rc;
	nv = rec(rec_v(v) + 1);
	/* Widen the window between read and write to provoke deadlocks. */
	if (rec_v(v) % 16 == 0)
		usleep(200);
	rc = store_put(s, txn, SK_META, "counter", nv, 0);
	json_decref(v);
	json_decref(nv);
	return rc;
}

static void
incr_child(const char *home)
{
	struct store	*s;
	int		 i, runs = 0;

	if ((s = store_open(home, 0)) == NULL)
		_exit(2);
	for (i = 0; i < INCREMENTS; i++)
		if (store_txn_run(s, incr_fn, &runs) != STORE_OK)
			_exit(3);
	store_close(s);
	fprintf(stderr, "pid %d: %d increments in %d runs\n", (int)getpid(),
	    INCREMENTS, runs);
	_exit(0);
}

static void
two_processes_increment_without_lost_update(void **state)
{
	struct fx	*fx = *state;
	json_t		*v = rec(0);
	pid_t		 pid[2];
	int		 i, status;

	assert_int_equal(store_put(fx->s, NULL, SK_META, "counter", v, 0),
	    STORE_OK);
	json_decref(v);
	store_close(fx->s);
	fx->s = NULL;
	for (i = 0; i < 2; i++) {
		assert_true((pid[i] = fork()) != -1);
		if (pid[i] == 0)
			incr_child(fx->home);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_non_null(fx->s = store_open(fx->home, 0));
	assert_int_equal(store_get(fx->s, NULL, SK_META, "counter", &v),
	    STORE_OK);
	assert_int_equal(rec_v(v), 2 * INCREMENTS);
	json_decref(v);
}

/* ------------------------------------------------------------------ */
/* Checkpoints under a storm of writes. */

#define CKP_WRITERS	2
#define CKP_RUN_MS	2500	/* each writer's run */
#define CKP_SLOW_MS	900	/* Berkeley DB's own sleep there: 1 s */
#define CKP_VALUE	4000	/* bytes a record: the log grows fast */

static long
ms_since(const struct timespec *t0)
{
	struct timespec	 t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 +
	    (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Eight records on one leaf page, rewritten: the page always has a
 * writer, as a refresh storm's do. */
static enum store_rc
hot_fn(struct store *s, struct txn *txn, void *arg)
{
	char		 key[16];
	json_t		*v;
	enum store_rc	 rc = STORE_OK;
	int		 i;

	v = json_pack("{ss}", "pad", (const char *)arg);
	for (i = 0; rc == STORE_OK && i < 8; i++) {
		snprintf(key, sizeof(key), "hot%d", i);
		rc = store_put(s, txn, SK_META, key, v, 0);
	}
	json_decref(v);
	return rc;
}

/* A writer: its longest transaction (the checkpoints run inside the
 * commits that make them due) is the exit status, in tenths of a
 * second. */
static void
hot_writer(const char *home)
{
	struct timespec	 t0, t;
	struct store	*s;
	char		*pad;
	long		 ms, worst = 0;

	if ((s = store_open(home, 0)) == NULL || (pad = malloc(CKP_VALUE)) ==
	    NULL)
		_exit(99);
	memset(pad, 'x', CKP_VALUE - 1);
	pad[CKP_VALUE - 1] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < CKP_RUN_MS) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (store_txn_run_nosync(s, hot_fn, pad) != STORE_OK)
			_exit(98);
		if ((ms = ms_since(&t)) > worst)
			worst = ms;
	}
	store_close(s);
	fprintf(stderr, "pid %d: longest transaction %ld ms\n", (int)getpid(),
	    worst);
	_exit((int)(worst / 100 < 90 ? worst / 100 : 90));
}

/*
 * A checkpoint that finds a page held by a writer tries it again after
 * a short nap, not after Berkeley DB's second (store_ckp.c, store_bdb_yield):
 * two writers rewriting one page commit for 2.5 s, each checkpointing
 * every 128 commits, and no transaction takes CKP_SLOW_MS.  Without the
 * nap the checkpoints that met a held page slept a second.
 */
static void
checkpoint_never_sleeps_on_a_page_a_writer_holds(void **state)
{
	struct fx	*fx = *state;
	pid_t		 pid[CKP_WRITERS];
	int		 i, status;

	store_close(fx->s);
	fx->s = NULL;
	for (i = 0; i < CKP_WRITERS; i++) {
		assert_true((pid[i] = fork()) != -1);
		if (pid[i] == 0)
			hot_writer(fx->home);
	}
	for (i = 0; i < CKP_WRITERS; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) < CKP_SLOW_MS / 100);
	}
}

/* The LSN of the environment's last checkpoint, as a number. */
static unsigned long long
last_checkpoint(struct store *s)
{
	DB_TXN_STAT	*st;
	unsigned long long v;

	assert_int_equal(s->env->txn_stat(s->env, &st, 0), 0);
	v = (unsigned long long)st->st_last_ckp.file << 32 |
	    st->st_last_ckp.offset;
	free(st);
	return v;
}

/* n commits of 32 KB each: a checkpoint is due after 128. */
static void
commit_many(struct store *s, int n)
{
	char	 pad[CKP_VALUE];

	memset(pad, 'y', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	while (n-- > 0)
		assert_int_equal(store_txn_run_nosync(s, hot_fn, pad),
		    STORE_OK);
}

/* The lock file, opened as another process would. */
static int
lock_file(const char *home)
{
	char	 path[PATH_MAX];
	int	 fd;

	snprintf(path, sizeof(path), "%s/recovery.lock", home);
	assert_true((fd = open(path, O_RDWR)) != -1);
	return fd;
}

/* Byte 2 of the lock file, a checkpoint's (STORE_CKP_BYTE):
 * 0 on success. */
static int
ckp_byte(int fd, short type)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = STORE_CKP_BYTE;
	fl.l_len = 1;
	return fcntl(fd, F_OFD_SETLK, &fl);
}

/*
 * While another process checkpoints, one whose turn comes skips its
 * own rather than queue behind it with a committed answer unsent; the
 * next turn after that one has finished checkpoints.
 */
static void
checkpoint_skipped_while_another_runs(void **state)
{
	struct fx		*fx = *state;
	unsigned long long	 before;
	int			 fd = lock_file(fx->home);

	assert_int_equal(ckp_byte(fd, F_WRLCK), 0);
	before = last_checkpoint(fx->s);
	commit_many(fx->s, 130);
	assert_true(last_checkpoint(fx->s) == before);
	assert_int_equal(ckp_byte(fd, F_UNLCK), 0);
	commit_many(fx->s, 130);
	assert_true(last_checkpoint(fx->s) != before);
	close(fd);
}

/* STORE_CKP_LATER: no commit checkpoints; store_checkpoint() does, once
 * one is due. */
static void
checkpoint_later_waits_to_be_asked(void **state)
{
	struct fx		*fx = *state;
	unsigned long long	 before;

	store_close(fx->s);
	assert_non_null(fx->s = store_open(fx->home, STORE_CKP_LATER));
	before = last_checkpoint(fx->s);
	commit_many(fx->s, 60);
	store_checkpoint(fx->s);
	assert_true(last_checkpoint(fx->s) == before);
	commit_many(fx->s, 70);
	assert_true(last_checkpoint(fx->s) == before);
	store_checkpoint(fx->s);
	assert_true(last_checkpoint(fx->s) != before);
}

/*
 * The recovery lock (store.c) as an opener that may recover sees it:
 * 1 when it could not take it exclusively now, from another open file
 * description (OFD locks of two descriptions conflict even in one
 * process).
 */
static int
fenced(const char *home)
{
	char		 path[PATH_MAX];
	struct flock	 fl;
	int		 fd;

	snprintf(path, sizeof(path), "%s/recovery.lock", home);
	if ((fd = open(path, O_RDWR)) == -1)
		fail_msg("open %s", path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_GETLK, &fl) == -1)
		fail_msg("F_OFD_GETLK");
	close(fd);
	return fl.l_type != F_UNLCK;
}

struct fence_seen {
	const char	*home;
	int		 inside;	/* fenced() while fn ran */
};

static enum store_rc
fence_fn(struct store *s, struct txn *txn, void *arg)
{
	struct fence_seen *f = arg;
	json_t		*v = rec(1);
	enum store_rc	 rc;

	f->inside = fenced(f->home);
	rc = store_put(s, txn, SK_META, "fence", v, 0);
	json_decref(v);
	return rc;
}

enum fence_step { F_HOLD, F_RELEASE, F_PAUSE, F_RESUME, F_TXN };

/* After each step, whether recovery is fenced off (and inside F_TXN's
 * transaction: always). */
static const struct {
	enum fence_step	 step;
	int		 fenced;
} fence_steps[] = {
	{ F_TXN, 0 },		/* a transaction alone takes it and drops it */
	{ F_HOLD, 1 },		/* a request holds it ... */
	{ F_TXN, 1 },		/* ... through its transactions */
	{ F_PAUSE, 0 },		/* not while it waits (a hash slot, LDAP) */
	{ F_TXN, 0 },		/* a transaction in the wait: for itself */
	{ F_PAUSE, 0 },		/* pauses nest */
	{ F_RESUME, 0 },
	{ F_RESUME, 1 },	/* the last resume takes it back */
	{ F_HOLD, 1 },		/* holds nest */
	{ F_RELEASE, 1 },
	{ F_TXN, 1 },
	{ F_RELEASE, 0 },	/* the request's end */
};

static void
request_hold_fences_recovery_except_in_its_waits(void **state)
{
	struct fx	*fx = *state;
	struct fence_seen f = { .home = fx->home };
	size_t		 i;

	assert_false(fenced(fx->home));
	for (i = 0; i < sizeof(fence_steps) / sizeof(fence_steps[0]); i++) {
		switch (fence_steps[i].step) {
		case F_HOLD:
			store_hold(fx->s);
			break;
		case F_RELEASE:
			store_release(fx->s);
			break;
		case F_PAUSE:
			store_pause(fx->s);
			break;
		case F_RESUME:
			store_resume(fx->s);
			break;
		case F_TXN:
			f.inside = 0;
			assert_int_equal(store_txn_run(fx->s, fence_fn, &f),
			    STORE_OK);
			assert_true(f.inside);
			break;
		}
		if (fenced(fx->home) != fence_steps[i].fenced)
			fail_msg("step %zu: fenced %d, want %d", i,
			    fenced(fx->home), fence_steps[i].fenced);
	}
}

/*
 * A relay of two processes that never leaves the recovery lock free:
 * each takes it (store_hold) while its partner holds it, says so, and
 * lets go only once the partner has said it holds it again.  A process
 * whose partner says nothing for 100 ms (it waits behind an opener)
 * lets go anyway.  `first` starts; stop (closed by the parent) ends it.
 * Exits 0 after two hand-overs or more, 1 after fewer, 2 when it could
 * not open the store, 3 when it could not start the relay.
 */
static void
relay_child(const char *home, int first, int in, int out, int stop)
{
	struct store	*s;
	struct pollfd	 pf[2] = { { .fd = in, .events = POLLIN },
			    { .fd = stop, .events = POLLIN } };
	char		 c = 'h';
	int		 n = 0;

	if ((s = store_open(home, 0)) == NULL)
		_exit(2);
	store_hold(s);
	if (first && write(out, &c, 1) != 1)
		_exit(3);
	for (;;) {
		if (poll(pf, 2, 100) > 0 && (pf[1].revents != 0 ||
		    read(in, &c, 1) != 1))
			break;
		store_release(s);
		store_hold(s);
		n++;
		if (write(out, &c, 1) != 1)
			break;
	}
	store_release(s);
	store_close(s);
	_exit(n < 2);
}

/*
 * An opener goes before requests that keep the recovery lock held
 * between them (store.c: the turn): with the relay above running, a
 * third process opens the environment within 10 s.  An opener that
 * waited for a moment with no holder would wait for ever.  The relay
 * has handed the lock over before and after.
 */
static void
an_opener_goes_before_overlapping_requests(void **state)
{
	struct fx	*fx = *state;
	pid_t		 relay[2], opener;
	int		 ab[2], ba[2], stop[2], i, status = 0;
	double		 t0;

	store_close(fx->s);
	fx->s = NULL;
	assert_int_equal(pipe(ab), 0);
	assert_int_equal(pipe(ba), 0);
	assert_int_equal(pipe(stop), 0);
	for (i = 0; i < 2; i++) {
		assert_true((relay[i] = fork()) != -1);
		if (relay[i] == 0) {
			close(stop[1]);
			relay_child(fx->home, i == 0, i == 0 ? ba[0] : ab[0],
			    i == 0 ? ab[1] : ba[1], stop[0]);
		}
	}
	close(stop[0]);
	usleep(300 * 1000);		/* the relay runs */
	t0 = lk_mono_ms();
	assert_true((opener = fork()) != -1);
	if (opener == 0) {
		struct store *s = store_open(fx->home, 0);

		if (s != NULL)
			store_close(s);
		_exit(s == NULL);
	}
	while (waitpid(opener, &status, WNOHANG) == 0 &&
	    lk_mono_ms() - t0 < 10000)
		usleep(10 * 1000);
	if (lk_mono_ms() - t0 >= 10000) {
		kill(opener, SIGKILL);
		waitpid(opener, &status, 0);
	}
	usleep(200 * 1000);		/* the relay goes on */
	close(stop[1]);
	for (i = 0; i < 2; i++) {
		int	 rs;

		assert_int_equal(waitpid(relay[i], &rs, 0), relay[i]);
		assert_true(WIFEXITED(rs));
		assert_int_equal(WEXITSTATUS(rs), 0);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("the opener did not open within 10 s");
	fprintf(stderr, "opened in %.0f ms\n", lk_mono_ms() - t0);
	assert_non_null(fx->s = store_open(fx->home, 0));
}

/* An opener killed while its turn was announced leaves the flag raised
 * (the lock file's first int); the next request lowers it, and takes
 * the lock. */
static void
a_turn_left_by_a_killed_opener_is_lowered(void **state)
{
	struct fx	*fx = *state;
	char		 path[PATH_MAX];
	int		 fd, v = 1;

	assert_true((size_t)snprintf(path, sizeof(path), "%s/recovery.lock",
	    fx->home) < sizeof(path));
	assert_true((fd = open(path, O_RDWR)) != -1);
	assert_int_equal(pwrite(fd, &v, sizeof(v), 0), (ssize_t)sizeof(v));
	store_hold(fx->s);
	assert_true(fenced(fx->home));
	store_release(fx->s);
	assert_int_equal(pread(fd, &v, sizeof(v), 0), (ssize_t)sizeof(v));
	assert_int_equal(v, 0);
	close(fd);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(two_processes_increment_without_lost_update),
		T(checkpoint_never_sleeps_on_a_page_a_writer_holds),
		T(checkpoint_skipped_while_another_runs),
		T(checkpoint_later_waits_to_be_asked),
		T(request_hold_fences_recovery_except_in_its_waits),
		T(an_opener_goes_before_overlapping_requests),
		T(a_turn_left_by_a_killed_opener_is_lowered),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
