/*
 * test_admit: admission control for password hashing (lib/admit.c).
 * The slots are OFD locks, which belong to an open file description, so
 * every actor is a forked process with its own: the parent only
 * schedules them and reads their reports from a pipe.
 *
 *  - a waiter is in the kernel's queue of its home slot, so the slot
 *    goes to it when freed, not to a request arriving just after;
 *  - the hash time one process measured sets the wait of a process that
 *    has not hashed yet (it used to guess 100 ms, so a fresh responder's
 *    first requests could wait 150 ms);
 *  - the limits and their defaults.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
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

static char	 home[] = "/tmp/latchkey-test-admit-XXXXXX";

static void
sleep_ms(double ms)
{
	struct timespec	 ts;

	ts.tv_sec = (time_t)(ms / 1e3);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1e3) * 1e6);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static json_t *
limits(int slots, int queue, int wait_ms)
{
	return json_pack("{s:i, s:i, s:i}", "hash_slots", slots,
	    "hash_queue", queue, "hash_wait_ms", wait_ms);
}

/* What actor `id` reports: which slot it got (-1: shed), when (ms from
 * the common start t0), and the wait admit_limits gave it. */
struct report {
	int	 id;
	int	 slot;
	double	 at_ms;
	int	 wait_ms;
};

/*
 * Fork actor `id`: at t0 + delay_ms it asks for a slot under the tenant
 * settings t, reports to fd, holds the slot hold_ms and leaves.
 */
static pid_t
actor(int fd, int id, double t0, double delay_ms, double hold_ms,
    const json_t *t)
{
	struct lk_ctx		 ctx = { .home = home };
	struct admit		 a;
	struct admit_limits	 l;
	struct report		 r;
	pid_t			 pid;

	if ((pid = fork()) != 0)
		return pid;
	sleep_ms(t0 + delay_ms - lk_mono_ms());
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.slot = admit_hash_enter(&ctx, t, &a) == ADMIT_OK ? a.slot : -1;
	r.at_ms = lk_mono_ms() - t0;
	admit_limits(t, &l);
	r.wait_ms = l.wait_ms;
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	if (r.slot != -1) {
		sleep_ms(hold_ms);
		admit_hash_leave(&a);
	}
	_exit(0);
}

static struct report
next_report(int fd)
{
	struct pollfd	 p = { fd, POLLIN, 0 };
	struct report	 r;

	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(read(fd, &r, sizeof(r)), sizeof(r));
	return r;
}

static void
reap(pid_t pid)
{
	int	 status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

enum { H0, H1, F, W, N, ACTORS };

/*
 * Two slots, both held: H0's is freed at 150 ms, H1's at 500 ms.  W has
 * waited since `w_at` ms with H0's slot as its home (waiters take the
 * lowest free waiting-room byte, home = byte mod slots; when H0 holds
 * slot 1 a filler F takes byte 0 first).  N arrives 10 ms after H0
 * leaves (a client's next request comes sooner; the 10 ms allow for
 * a loaded machine scheduling W late) and would hold a slot past
 * 500 ms: the freed slot must go to W, which then does not wait for H1.
 */
static void
waiter_gets_the_freed_slot(int w_at)
{
	json_t		*t = limits(2, 2, 3000);
	struct report	 r[ACTORS], x;
	pid_t		 p[ACTORS];
	double		 t0;
	int		 fds[2], i, n = 0;

	memset(p, 0, sizeof(p));
	assert_int_equal(pipe(fds), 0);
	t0 = lk_mono_ms() + 50;
	p[H0] = actor(fds[1], H0, t0, 0, 150, t);
	p[H1] = actor(fds[1], H1, t0, 10, 490, t);
	for (; n < 2; n++) {
		x = next_report(fds[0]);
		r[x.id] = x;
	}
	assert_true(r[H0].slot >= 0 && r[H1].slot >= 0 &&
	    r[H0].slot != r[H1].slot);
	if (r[H0].slot == 1)
		p[F] = actor(fds[1], F, t0, 20, 0, t);
	p[W] = actor(fds[1], W, t0, w_at, 0, t);
	p[N] = actor(fds[1], N, t0, 160, 500, t);
	for (; n < ACTORS - (p[F] == 0); n++) {
		x = next_report(fds[0]);
		r[x.id] = x;
	}
	for (i = 0; i < ACTORS; i++)
		if (p[i] != 0)
			reap(p[i]);
	if (r[W].slot != r[H0].slot || r[W].at_ms < 140 || r[W].at_ms > 300)
		print_error("W from %d ms: H0 slot %d, H1 slot %d; W got %d at "
		    "%.1f ms, N %d at %.1f ms\n", w_at, r[H0].slot, r[H1].slot,
		    r[W].slot, r[W].at_ms, r[N].slot, r[N].at_ms);
	assert_int_equal(r[W].slot, r[H0].slot);
	assert_in_range((int)r[W].at_ms, 140, 300);
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

/* Whatever the phase of W's periodic look at every slot. */
static void
freed_slot_goes_to_the_waiter(void **state)
{
	int	 w_at;

	(void)state;
	for (w_at = 40; w_at < 80; w_at += 6)
		waiter_gets_the_freed_slot(w_at);
}

/* A process that has not hashed yet waits as long as the hash time
 * another one measured allows: 1.5 x about 120 ms, not 1.5 x 100. */
static void
fresh_process_uses_the_shared_hash_time(void **state)
{
	json_t		*t = json_object();	/* the default wait */
	struct report	 r;
	char		 path[128];
	int		 fds[2];
	pid_t		 p;

	snprintf(path, sizeof(path), "%s/run/admission", home);
	(void)state;
	assert_int_equal(truncate(path, 0) == 0 || errno == ENOENT, 1);
	assert_int_equal(pipe(fds), 0);
	p = actor(fds[1], 0, lk_mono_ms(), 0, 120, t);
	r = next_report(fds[0]);
	assert_true(r.slot >= 0);
	reap(p);		/* it has written its 120 ms */
	p = actor(fds[1], 1, lk_mono_ms(), 0, 0, t);
	r = next_report(fds[0]);
	reap(p);
	assert_true(r.slot >= 0);
	assert_in_range(r.wait_ms, 170, 200);
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

static void
limits_and_defaults(void **state)
{
	struct admit_limits	 l;
	json_t			*t;
	long			 cores = sysconf(_SC_NPROCESSORS_ONLN);

	(void)state;
	t = json_object();
	admit_limits(t, &l);
	assert_int_equal(l.slots, cores < 1 ? 1 : cores > 64 ? 64 : cores);
	assert_int_equal(l.queue, 3 * l.slots);
	assert_int_equal(l.wait_ms, 150);	/* nothing measured: 1.5 x 100 */
	json_decref(t);
	t = limits(0, -1, 0);		/* clamped to the smallest */
	admit_limits(t, &l);
	assert_int_equal(l.slots, 1);
	assert_int_equal(l.queue, 0);
	assert_int_equal(l.wait_ms, 1);
	json_decref(t);
	t = limits(1000, 100000, 10000000);	/* and the largest */
	admit_limits(t, &l);
	assert_int_equal(l.slots, 64);
	assert_int_equal(l.queue, 1024);
	assert_int_equal(l.wait_ms, 60000);
	json_decref(t);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(home) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char	 cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(limits_and_defaults),
		cmocka_unit_test(fresh_process_uses_the_shared_hash_time),
		cmocka_unit_test(freed_slot_goes_to_the_waiter),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
