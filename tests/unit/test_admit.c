/*
 * test_admit: admission control for password hashing (lib/security/admit.c).
 * The slots are OFD locks, which belong to an open file description, so
 * every actor is a forked process with its own: the parent only
 * schedules them and reads their reports from a pipe.
 *
 *  - a waiter is in the kernel's queue of its home slot, so the slot
 *    goes to it when freed, not to a request arriving just after;
 *  - the hash time one process measured sets the wait of a process that
 *    has not hashed yet (it used to guess 100 ms, so a fresh responder's
 *    first requests could wait 150 ms);
 *  - the limits and their defaults;
 *  - a verify in a held slot runs in the slot's shared memory, which it
 *    leaves wiped; the last process to close removes it; an object not
 *    this user's alone (mode) is not used.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

/* Admission limits, and the smallest hash policy: a slot's first holder
 * sizes its shared memory (m KiB) before it reports, which at the
 * default 19 MiB shifts these tests' schedule by milliseconds. */
/* The tenant of a JSON object, parsed as the responder parses it (the
 * last one is kept until the next call). */
static const struct tenant *
tenant_of(const json_t *j)
{
	static struct tenant	 t;

	record_clear(REC_TENANT, &t);
	if (record_parse(REC_TENANT, (json_t *)j, &t) == -1)
		abort();
	return &t;
}

static json_t *
limits(int slots, int queue, int wait_ms)
{
	return json_pack("{s:i, s:i, s:i, s:{s:i, s:i, s:i}}", "hash_slots",
	    slots, "hash_queue", queue, "hash_wait_ms", wait_ms, "hash",
	    "t", 1, "m", 8, "p", 1);
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
	r.slot = admit_hash_enter(&ctx, tenant_of(t), &a) == ADMIT_OK ? a.slot : -1;
	r.at_ms = lk_mono_ms() - t0;
	admit_limits(tenant_of(t), &l);
	r.wait_ms = l.wait_ms;
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	if (r.slot != -1) {
		sleep_ms(hold_ms);
		admit_hash_leave(&a);
	}
	admit_close();
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
	/* The default wait; the smallest hash policy (see limits()). */
	json_t		*t = json_pack("{s:{s:i, s:i, s:i}}", "hash", "t", 1,
			    "m", 8, "p", 1);
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
	admit_limits(tenant_of(t), &l);
	assert_int_equal(l.slots, cores < 1 ? 1 : cores > 64 ? 64 : cores);
	assert_int_equal(l.queue, 3 * l.slots);
	assert_int_equal(l.wait_ms, 150);	/* nothing measured: 1.5 x 100 */
	json_decref(t);
	t = limits(0, -1, 0);		/* clamped to the smallest */
	admit_limits(tenant_of(t), &l);
	assert_int_equal(l.slots, 1);
	assert_int_equal(l.queue, 0);
	assert_int_equal(l.wait_ms, 1);
	json_decref(t);
	t = limits(1000, 100000, 10000000);	/* and the largest */
	admit_limits(tenant_of(t), &l);
	assert_int_equal(l.slots, 64);
	assert_int_equal(l.queue, 1024);
	assert_int_equal(l.wait_ms, 60000);
	json_decref(t);
}

/* A tenant of one slot and a 64 KiB argon2id policy. */
static json_t *
small_tenant(void)
{
	return json_pack("{s:i, s:i, s:i, s:{s:i, s:i, s:i}}", "hash_slots", 1,
	    "hash_queue", 0, "hash_wait_ms", 1000, "hash", "t", 1, "m", 64,
	    "p", 1);
}

/* /dev/shm path of slot k's memory for this home (after admit_open). */
static void
slot_path(int k, char *buf, size_t sz)
{
	char		 p[PATH_MAX];
	struct stat	 st;

	snprintf(p, sizeof(p), "%s/run/admission", home);
	assert_int_equal(stat(p, &st), 0);
	snprintf(buf, sz, "/dev/shm/latchkey-%lu-%lu-%lu-%d",
	    (unsigned long)geteuid(), (unsigned long)st.st_dev,
	    (unsigned long)st.st_ino, k);
}

/* Map the object at path (64 KiB) for the test to look into. */
static unsigned char *
map_object(const char *path)
{
	unsigned char	*p;
	int		 fd;

	assert_true((fd = open(path, O_RDWR)) != -1);
	p = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(p != MAP_FAILED);
	return p;
}

static int
all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/*
 * A child that takes slot 0 of t and then does as the parent says, one
 * byte on `cmd` per step, answering one byte on `rep` after each:
 * 'v' verify pw (must be HASH_OK) and px (HASH_MISMATCH) against enc,
 * 'l' leave the slot, 'c' admit_close and exit 0.  Each child opens the
 * admission file itself (an OFD lock is shared with a forked copy).
 */
static pid_t
slot_user(const json_t *t, const char *enc, int cmd[2], int rep[2])
{
	struct lk_ctx		 ctx = { .home = home };
	struct hash_policy	 pol;
	struct admit		 a;
	pid_t			 pid;
	int			 rehash;
	char			 c;

	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(rep), 0);
	if ((pid = fork()) != 0) {
		close(cmd[0]);
		close(rep[1]);
		return pid;
	}
	close(cmd[1]);
	close(rep[0]);
	hash_policy_parse(json_object_get(t, "hash"), &pol);
	if (admit_hash_enter(&ctx, tenant_of(t), &a) != ADMIT_OK || a.slot != 0)
		_exit(1);
	for (;;) {
		if (write(rep[1], "r", 1) != 1 || read(cmd[0], &c, 1) != 1)
			_exit(2);
		if (c == 'v' &&
		    (hash_verify(&pol, enc, "pw", 2, &rehash) != HASH_OK ||
		    hash_verify(&pol, enc, "px", 2, &rehash) != HASH_MISMATCH))
			_exit(3);
		if (c == 'l')
			admit_hash_leave(&a);
		if (c == 'c') {
			admit_close();
			_exit(0);
		}
	}
}

/* Tell a slot_user to do c and wait for its answer. */
static void
say(int cmd[2], int rep[2], char c)
{
	char	 r;

	assert_int_equal(write(cmd[1], &c, 1), 1);
	assert_int_equal(read(rep[0], &r, 1), 1);
}

static void
reap_ok(pid_t pid, int cmd[2], int rep[2])
{
	char	 c = 'c';

	assert_int_equal(write(cmd[1], &c, 1), 1);
	reap(pid);
	close(cmd[1]);
	close(rep[0]);
}

static void
verify_runs_in_slot_memory_removed_by_last_user(void **state)
{
	struct hash_policy	 pol;
	struct stat		 st;
	char			 enc[HASH_ENCODED_MAX], path[PATH_MAX], r;
	unsigned char		*mem;
	json_t			*t = small_tenant();
	int			 acmd[2], arep[2], bcmd[2], brep[2];
	pid_t			 a, b;

	(void)state;
	hash_policy_parse(json_object_get(t, "hash"), &pol);
	assert_int_equal(hash_password(&pol, "pw", 2, enc, sizeof(enc)), 0);
	a = slot_user(t, enc, acmd, arep);
	assert_int_equal(read(arep[0], &r, 1), 1);	/* A holds slot 0 */
	slot_path(0, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 64 * 1024);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	/* A's verify runs in the object: it overwrites the marker, and
	 * argon2 leaves the memory wiped. */
	mem = map_object(path);
	memset(mem, 0xAA, 64 * 1024);
	say(acmd, arep, 'v');
	assert_true(all_bytes(mem, 64 * 1024, 0));
	say(acmd, arep, 'l');

	/* B uses it too: A's close leaves it, B's (the last) removes it. */
	b = slot_user(t, enc, bcmd, brep);
	assert_int_equal(read(brep[0], &r, 1), 1);
	reap_ok(a, acmd, arep);
	assert_int_equal(stat(path, &st), 0);
	say(bcmd, brep, 'l');
	reap_ok(b, bcmd, brep);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	munmap(mem, 64 * 1024);
	json_decref(t);
}

static void
object_not_ours_alone_is_not_used(void **state)
{
	struct hash_policy	 pol;
	char			 enc[HASH_ENCODED_MAX], path[PATH_MAX];
	unsigned char		*mem;
	json_t			*t = small_tenant();
	int			 fd, cmd[2], rep[2];
	pid_t			 pid;

	(void)state;
	hash_policy_parse(json_object_get(t, "hash"), &pol);
	assert_int_equal(hash_password(&pol, "pw", 2, enc, sizeof(enc)), 0);
	slot_path(0, path, sizeof(path));	/* the file exists by now */
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600)) != -1);
	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(ftruncate(fd, 64 * 1024), 0);
	close(fd);
	mem = map_object(path);
	memset(mem, 0xAA, 64 * 1024);
	pid = slot_user(t, enc, cmd, rep);
	assert_int_equal(read(rep[0], &fd, 1), 1);
	say(cmd, rep, 'v');
	/* Verified in private memory: the readable object is untouched. */
	assert_true(all_bytes(mem, 64 * 1024, 0xAA));
	say(cmd, rep, 'l');
	reap_ok(pid, cmd, rep);
	munmap(mem, 64 * 1024);
	unlink(path);
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
		cmocka_unit_test(verify_runs_in_slot_memory_removed_by_last_user),
		cmocka_unit_test(object_not_ours_alone_is_not_used),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
