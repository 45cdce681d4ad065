/*
 * test_admit: admission control for password hashing (lib/security/admit.c).
 * The slots are OFD locks, which belong to an open file description, so
 * every actor is a forked process with its own: the parent only
 * schedules them through pipes and reads their reports; no assertion
 * depends on how fast a loaded machine runs them.
 *
 *  - waiters are served in arrival order (tickets): a login that
 *    arrives after another waits behind it;
 *  - a login whose predicted wait exceeds the budget is refused at once
 *    with a Retry-After; one within it waits, and is served however
 *    long the line then takes;
 *  - a login placed at its arrival holds its place until it hashes or
 *    departs; the line's length counts the places given back out of
 *    turn as gone;
 *  - a slot freed wakes the first waiter at once, whichever slot;
 *  - the prediction is the hash times' 99th percentile, not their mean;
 *  - a waiter whose client went away, or that was killed, leaves the
 *    line;
 *  - the hash time one process measured sets the prediction of a
 *    process that has not hashed yet;
 *  - the limits and their defaults;
 *  - a verify in a held slot runs in the slot's shared memory, which it
 *    leaves wiped; the last process to close removes it; an object not
 *    this user's alone (mode) is not used.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
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

/* Admission limits (queue, budget_ms -1: none set) and the smallest
 * hash policy. */
static json_t *
limits(int slots, int queue, int budget_ms)
{
	json_t	*t;

	t = json_pack("{s:i, s:{s:i, s:i, s:i}}", "hash_slots", slots,
	    "hash", "t", 1, "m", 8, "p", 1);
	if (queue != -1)
		json_object_set_new(t, "hash_queue", json_integer(queue));
	if (budget_ms != -1)
		json_object_set_new(t, "login_queue_budget_ms",
		    json_integer(budget_ms));
	return t;
}

/* What actor `id` reports once admitted or refused: its slot (-1:
 * refused), the Retry-After it was given, the hash time it predicts
 * with. */
struct report {
	int	 id;
	int	 slot;
	int	 retry_after;
	double	 hash_ms;
	int	 placed;	/* placer(): admit_arrive gave a place */
};

/* A descriptor the next actor closes (the parent's end of its peer). */
static int	 actor_close = -1;

/* An actor: its process, the pipe that lets it leave its slot. */
struct actor {
	pid_t	 pid;
	int	 go[2];
};

/*
 * Fork actor `id`: it asks for a slot under the tenant settings t (the
 * web server connection peer, 0 none), reports to fd and, admitted,
 * holds the slot until told to leave (release()).  No step waits for a
 * clock: the parent orders them through the pipes.
 */
static void
actor(struct actor *x, int fd, int id, const json_t *t, int peer)
{
	struct lk_ctx		 ctx = { .home = home };
	struct admit		 a;
	struct admit_limits	 l;
	struct report		 r;
	char			 c;

	assert_int_equal(pipe(x->go), 0);
	if ((x->pid = fork()) != 0) {
		close(x->go[0]);
		return;
	}
	close(x->go[1]);
	if (actor_close != -1)
		close(actor_close);
	admit_close();		/* the parent's open file is not ours */
	memset(&a, 0, sizeof(a));
	a.peer_fd = peer;
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.slot = admit_hash_enter(&ctx, tenant_of(t), &a) == ADMIT_OK ?
	    a.slot : -1;
	r.retry_after = a.retry_after;
	admit_limits(tenant_of(t), &l);
	r.hash_ms = l.hash_ms;
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	if (r.slot != -1) {
		if (read(x->go[0], &c, 1) != 1)
			_exit(2);
		admit_hash_leave(&a);
	}
	admit_close();
	_exit(0);
}

/*
 * Fork a placer `id`: a login arriving under t (admit_arrive), which
 * reports whether it was placed and, placed, keeps its place until told
 * to depart.
 */
static void
placer(struct actor *x, int fd, int id, const json_t *t)
{
	struct lk_ctx	 ctx = { .home = home };
	struct admit	 a;
	struct report	 r;
	char		 c;

	assert_int_equal(pipe(x->go), 0);
	if ((x->pid = fork()) != 0) {
		close(x->go[0]);
		return;
	}
	close(x->go[1]);
	admit_close();
	memset(&a, 0, sizeof(a));
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.slot = -1;
	r.placed = admit_arrive(&ctx, tenant_of(t), &a) == ADMIT_OK;
	r.retry_after = a.retry_after;
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	if (r.placed && read(x->go[0], &c, 1) != 1)
		_exit(2);
	admit_depart();
	admit_close();
	_exit(0);
}

static void
release(struct actor *x)
{
	assert_int_equal(write(x->go[1], "l", 1), 1);
}

static struct report
next_report(int fd)
{
	struct pollfd	 p = { fd, POLLIN, 0 };
	struct report	 r;

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(read(fd, &r, sizeof(r)), sizeof(r));
	return r;
}

static void
reap_pid(pid_t pid)
{
	int	 status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
reap(struct actor *x)
{
	close(x->go[1]);
	reap_pid(x->pid);
}

/* Wait (10 s at most) until n logins wait in line. */
static void
waiting(int n)
{
	struct lk_ctx	 ctx = { .home = home };
	int		 i;

	for (i = 0; i < 10000 && admit_waiting(&ctx) != n; i++)
		sleep_ms(1);
	assert_int_equal(admit_waiting(&ctx), n);
	admit_close();
}

/* A fresh admission file: no hash time measured (100 ms guessed), an
 * empty line. */
static void
fresh_file(void)
{
	char	 path[128];

	admit_close();
	snprintf(path, sizeof(path), "%s/run/admission", home);
	assert_int_equal(truncate(path, 0) == 0 || errno == ENOENT, 1);
}

/*
 * One slot, held by H.  W, then N queue for it; when H leaves, the slot
 * goes to W, and to N only once W leaves: N, a ticket behind W, does
 * not even try the slot while W waits.  Repeated, so that either may
 * find the slot's kernel queue in any state.
 */
static void
waiters_are_served_in_arrival_order(void **state)
{
	json_t		*t = limits(1, -1, 10000);
	struct actor	 h, w, n;
	struct report	 r;
	int		 fds[2], round;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	for (round = 0; round < 5; round++) {
		actor(&h, fds[1], 0, t, 0);
		assert_int_equal(next_report(fds[0]).slot, 0);
		actor(&w, fds[1], 1, t, 0);
		waiting(1);
		actor(&n, fds[1], 2, t, 0);
		waiting(2);
		release(&h);
		r = next_report(fds[0]);
		assert_int_equal(r.id, 1);
		assert_int_equal(r.slot, 0);
		waiting(1);
		release(&w);
		r = next_report(fds[0]);
		assert_int_equal(r.id, 2);
		assert_int_equal(r.slot, 0);
		release(&n);
		reap(&h);
		reap(&w);
		reap(&n);
	}
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

/*
 * The prediction: with the hash time unknown (100 ms guessed) and one
 * slot held, the first waiter expects 100 ms and the second 200 ms.  A
 * budget below the prediction refuses at once, with a Retry-After of
 * the line's time (>= 1 s); one above lets it wait; a hash_queue of 0
 * or a budget of 0 lets none wait.
 */
static void
beyond_the_budget_is_refused_at_once(void **state)
{
	json_t		*wide = limits(1, -1, 10000), *b50 = limits(1, -1, 50),
			*b150 = limits(1, -1, 150), *b250 = limits(1, -1, 250),
			*q0 = limits(1, 0, 10000), *b0 = limits(1, -1, 0);
	struct actor	 h, w, x, y;
	struct report	 r;
	int		 fds[2];

	(void)state;
	fresh_file();
	assert_int_equal(pipe(fds), 0);
	actor(&h, fds[1], 0, wide, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	actor(&x, fds[1], 1, b50, 0);		/* 100 > 50 */
	r = next_report(fds[0]);
	assert_int_equal(r.slot, -1);
	assert_int_equal(r.retry_after, 1);
	reap(&x);
	actor(&x, fds[1], 1, q0, 0);
	assert_int_equal(next_report(fds[0]).slot, -1);
	reap(&x);
	actor(&x, fds[1], 1, b0, 0);
	assert_int_equal(next_report(fds[0]).slot, -1);
	reap(&x);
	actor(&w, fds[1], 2, wide, 0);
	waiting(1);
	actor(&x, fds[1], 3, b150, 0);		/* 200 > 150 */
	r = next_report(fds[0]);
	assert_int_equal(r.id, 3);
	assert_int_equal(r.slot, -1);
	reap(&x);
	waiting(1);
	actor(&y, fds[1], 4, b250, 0);		/* 200 <= 250: waits */
	waiting(2);
	release(&h);
	r = next_report(fds[0]);
	assert_int_equal(r.id, 2);
	release(&w);
	r = next_report(fds[0]);
	/* Y waited past its budget + a hash time (350 ms) only on a
	 * machine too loaded to run W's 1 ms turn: then it was refused. */
	assert_int_equal(r.id, 4);
	if (r.slot != -1)
		release(&y);
	reap(&h);
	reap(&w);
	reap(&y);
	close(fds[0]);
	close(fds[1]);
	json_decref(wide);
	json_decref(b50);
	json_decref(b150);
	json_decref(b250);
	json_decref(q0);
	json_decref(b0);
}

/*
 * A waiter whose web server connection closes (its client went away)
 * leaves the line, refused; so does a waiter killed: the line is empty
 * again, and the next login waits at its head.
 */
static void
a_waiter_gone_frees_its_place(void **state)
{
	json_t		*t = limits(1, -1, 10000);
	struct actor	 h, w, k;
	struct report	 r;
	int		 fds[2], sp[2], status;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	actor(&h, fds[1], 0, t, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	/* After H: no other process holds the pair. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	actor_close = sp[0];
	actor(&w, fds[1], 1, t, sp[1]);
	actor_close = -1;
	close(sp[1]);
	waiting(1);
	close(sp[0]);			/* the web server hangs up */
	r = next_report(fds[0]);
	assert_int_equal(r.id, 1);
	assert_int_equal(r.slot, -1);
	waiting(0);
	reap(&w);
	actor(&k, fds[1], 2, t, 0);
	waiting(1);
	assert_int_equal(kill(k.pid, SIGKILL), 0);
	assert_int_equal(waitpid(k.pid, &status, 0), k.pid);
	close(k.go[1]);
	waiting(0);
	release(&h);
	reap(&h);
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

/*
 * A login placed is served, not refused once its budget is spent: the
 * holder keeps the one slot past W's budget and a hash time (150 + 100
 * ms guessed), which used to refuse W; W gets the slot when it frees.
 */
static void
a_placed_login_is_served_past_its_budget(void **state)
{
	json_t		*t = limits(1, -1, 150);
	struct actor	 h, w;
	struct report	 r;
	int		 fds[2];

	(void)state;
	fresh_file();
	assert_int_equal(pipe(fds), 0);
	actor(&h, fds[1], 0, t, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	actor(&w, fds[1], 1, t, 0);		/* 100 <= 150: placed */
	waiting(1);
	sleep_ms(400);
	waiting(1);				/* still in line */
	release(&h);
	r = next_report(fds[0]);
	assert_int_equal(r.id, 1);
	assert_int_equal(r.slot, 0);
	release(&w);
	reap(&h);
	reap(&w);
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

/*
 * Places taken at arrival: three placers wait behind the holder of the
 * one slot (100 ms guessed each).  The middle one departs: the line is
 * two long, not three, so X, whose budget (350 ms) fits two ahead (300
 * ms) but not three, is placed; Y, three ahead, is refused without a
 * place.  Departing gives each place back.
 */
static void
arrivals_are_placed_and_depart(void **state)
{
	json_t		*t = limits(1, -1, 350);
	struct actor	 h, p[3], x, y;
	struct report	 r;
	int		 fds[2], i;

	(void)state;
	fresh_file();
	assert_int_equal(pipe(fds), 0);
	actor(&h, fds[1], 0, t, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	for (i = 0; i < 3; i++) {
		placer(&p[i], fds[1], 1 + i, t);
		r = next_report(fds[0]);
		assert_int_equal(r.id, 1 + i);
		assert_true(r.placed);
	}
	waiting(3);
	release(&p[1]);				/* departs out of turn */
	reap(&p[1]);
	waiting(2);
	placer(&x, fds[1], 4, t);
	r = next_report(fds[0]);
	assert_int_equal(r.id, 4);
	assert_true(r.placed);
	placer(&y, fds[1], 5, t);
	r = next_report(fds[0]);
	assert_int_equal(r.id, 5);
	assert_false(r.placed);
	assert_int_equal(r.retry_after, 1);
	reap(&y);
	waiting(3);
	release(&p[0]);
	release(&p[2]);
	release(&x);
	reap(&p[0]);
	reap(&p[2]);
	reap(&x);
	waiting(0);
	release(&h);
	reap(&h);
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

/*
 * The prediction's spread: after a hash of next to nothing and one of
 * at least 300 ms, the mean is about 60 ms but the variance large, so a
 * login behind the one slot's holder, whose budget (200 ms) the mean
 * alone fits, is refused: its 99th percentile does not fit.
 */
static void
a_spread_hash_time_narrows_the_budget(void **state)
{
	json_t		*t = limits(1, -1, 10000), *b200 = limits(1, -1, 200);
	struct actor	 a, h, x;
	struct report	 r;
	int		 fds[2];

	(void)state;
	fresh_file();
	assert_int_equal(pipe(fds), 0);
	actor(&a, fds[1], 0, t, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	release(&a);
	reap(&a);
	actor(&a, fds[1], 1, t, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	sleep_ms(300);
	release(&a);
	reap(&a);
	actor(&h, fds[1], 2, t, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	actor(&x, fds[1], 3, b200, 0);
	r = next_report(fds[0]);
	assert_int_equal(r.id, 3);
	assert_true(r.hash_ms < 200);		/* the mean alone fits */
	assert_int_equal(r.slot, -1);
	reap(&x);
	release(&h);
	reap(&h);
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
	json_decref(b200);
}

/* Set the hash time every process shares (the admission file's first
 * eight bytes) to ms. */
static void
shared_hash_time(double ms)
{
	char	 path[128];
	int	 fd;

	snprintf(path, sizeof(path), "%s/run/admission", home);
	assert_true((fd = open(path, O_RDWR)) != -1);
	assert_int_equal(pwrite(fd, &ms, sizeof(ms), 0), (ssize_t)sizeof(ms));
	close(fd);
}

/*
 * Two slots, both held; with a shared hash time of 50 s, a waiter that
 * slept on one slot and looked at the other every quarter of a hash
 * time would find it freed 12.5 s late.  The release wakes it at once
 * (next_report allows 10 s), whichever slot freed: slot 1 in the first
 * round (the waiter's ticket, 2, is slot 0's), slot 0 in the second.
 * Each round starts from a fresh file (the first round's 50 s holds
 * would leave a variance that refuses the second's waiter).
 */
static void
a_freed_slot_wakes_the_first_waiter(void **state)
{
	json_t		*t = limits(2, -1, 60000);
	struct actor	 h[2], w;
	struct report	 r;
	int		 fds[2], round, i, k, held[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	for (round = 0; round < 2; round++) {
		fresh_file();
		for (i = 0; i < 2; i++) {
			actor(&h[i], fds[1], i, t, 0);
			held[i] = next_report(fds[0]).slot;
			assert_true(held[i] == 0 || held[i] == 1);
		}
		shared_hash_time(50000);
		actor(&w, fds[1], 2, t, 0);
		waiting(1);
		k = held[0] == (round == 0 ? 1 : 0) ? 0 : 1;
		release(&h[k]);
		r = next_report(fds[0]);
		assert_int_equal(r.id, 2);
		assert_int_equal(r.slot, held[k]);
		release(&w);
		release(&h[1 - k]);
		reap(&h[0]);
		reap(&h[1]);
		reap(&w);
	}
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

/* A process that has not hashed yet predicts with the hash time another
 * one measured (at least the 300 ms it held its slot), not 100 ms. */
static void
fresh_process_uses_the_shared_hash_time(void **state)
{
	json_t		*t = limits(1, -1, -1);
	struct actor	 a, b;
	struct report	 r;
	int		 fds[2];

	(void)state;
	fresh_file();
	assert_int_equal(pipe(fds), 0);
	actor(&a, fds[1], 0, t, 0);
	r = next_report(fds[0]);
	assert_int_equal(r.slot, 0);
	assert_true(r.hash_ms == 100);
	sleep_ms(300);
	release(&a);
	reap(&a);		/* it has written its hold time */
	actor(&b, fds[1], 1, t, 0);
	r = next_report(fds[0]);
	release(&b);
	reap(&b);
	assert_true(r.slot >= 0);
	assert_true(r.hash_ms >= 300 && r.hash_ms < 60000);
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

/*
 * A login placed behind one waiter (two rounds of one slot) that took it
 * 600 ms to reach its slot (its process starved before the hash) while
 * the hashes took a few: the prediction then uses the round time seen,
 * 300 ms, and the line's room shrinks from budget / hash time to
 * budget / 300 ms.
 */
static void
a_slow_round_narrows_the_room(void **state)
{
	struct lk_ctx		 ctx = { .home = home };
	json_t			*t = limits(1, -1, 1000);
	struct actor		 h, w;
	struct admit		 a;
	struct admit_limits	 l;
	int			 fds[2];

	(void)state;
	fresh_file();
	assert_int_equal(pipe(fds), 0);
	actor(&h, fds[1], 0, t, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	shared_hash_time(20);
	actor(&w, fds[1], 1, t, 0);
	waiting(1);
	memset(&a, 0, sizeof(a));
	assert_int_equal(admit_arrive(&ctx, tenant_of(t), &a), ADMIT_OK);
	release(&h);
	assert_int_equal(next_report(fds[0]).slot, 0);
	release(&w);
	reap(&h);
	reap(&w);
	sleep_ms(600);
	assert_int_equal(admit_hash_enter(&ctx, tenant_of(t), &a), ADMIT_OK);
	admit_hash_leave(&a);
	admit_depart();
	admit_limits(tenant_of(t), &l);
	assert_true(l.hash_ms < 100);
	assert_true(l.round_ms >= 300 && l.round_ms < 60000);
	assert_true(l.queue <= 3);
	admit_close();
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

/*
 * While it hashes, the holder of slot k runs on the k-th of its cores
 * alone (as many slots as cores), and has them all back after; with
 * more slots than cores it is left as it is.
 */
static void
a_slot_holder_hashes_on_its_own_core(void **state)
{
	struct lk_ctx	 ctx = { .home = home };
	cpu_set_t	 all, now;
	struct admit	 a;
	json_t		*t;
	int		 n, slots;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	n = CPU_COUNT(&all);
	for (slots = 1; slots <= n + 1; slots++) {
		t = limits(slots, -1, 1000);
		fresh_file();
		memset(&a, 0, sizeof(a));
		assert_int_equal(admit_hash_enter(&ctx, tenant_of(t), &a),
		    ADMIT_OK);
		assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
		if (n >= 2 && slots <= n)
			assert_int_equal(CPU_COUNT(&now), 1);
		else
			assert_true(CPU_EQUAL(&now, &all));
		admit_hash_leave(&a);
		assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
		assert_true(CPU_EQUAL(&now, &all));
		admit_close();
		json_decref(t);
	}
}

/* Whether someone holds the recovery lock of the store at dir (an
 * opener that must recover would wait): test_store.c's fenced(). */
static int
store_fenced(const char *dir)
{
	char		 path[PATH_MAX];
	struct flock	 fl;
	int		 fd;

	snprintf(path, sizeof(path), "%s/recovery.lock", dir);
	assert_true((fd = open(path, O_RDWR)) != -1);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_len = 1;
	assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
	close(fd);
	return fl.l_type != F_UNLCK;
}

/*
 * A login holding the store as a request does (store_hold) lets go of
 * it while it waits in line for a slot, and holds it again once the
 * slot is its own: an opener that must recover does not wait on the
 * line.  One slot, held by H; W, holding its store, waits.
 */
static void
a_waiter_lets_go_of_the_store(void **state)
{
	char		 dir[sizeof(home) + 8];
	json_t		*t = limits(1, -1, 60000);
	struct store	*s;
	struct actor	 h, w;
	struct report	 r;
	int		 fds[2];
	char		 c;

	(void)state;
	fresh_file();
	snprintf(dir, sizeof(dir), "%s/store", home);
	assert_non_null(s = store_open(dir, STORE_CREATE));
	store_close(s);
	assert_int_equal(pipe(fds), 0);
	actor(&h, fds[1], 0, t, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	assert_int_equal(pipe(w.go), 0);
	if ((w.pid = fork()) == 0) {
		struct lk_ctx	 ctx = { .home = home };
		struct admit	 a;

		close(w.go[1]);
		admit_close();
		if ((ctx.store = store_open(dir, 0)) == NULL)
			_exit(1);
		store_hold(ctx.store);
		memset(&a, 0, sizeof(a));
		memset(&r, 0, sizeof(r));
		r.id = 1;
		r.slot = admit_hash_enter(&ctx, tenant_of(t), &a) == ADMIT_OK ?
		    a.slot : -1;
		if (write(fds[1], &r, sizeof(r)) != sizeof(r) ||
		    read(w.go[0], &c, 1) != 1)
			_exit(2);
		admit_hash_leave(&a);
		store_release(ctx.store);
		store_close(ctx.store);
		admit_close();
		_exit(0);
	}
	close(w.go[0]);
	waiting(1);
	assert_false(store_fenced(dir));
	release(&h);
	assert_int_equal(next_report(fds[0]).slot, 0);
	assert_true(store_fenced(dir));
	release(&w);
	reap(&h);
	reap(&w);
	assert_false(store_fenced(dir));
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
	t = json_object();		/* nothing measured: 100 ms */
	admit_limits(tenant_of(t), &l);
	assert_int_equal(l.slots, cores < 1 ? 1 : cores > 64 ? 64 : cores);
	assert_int_equal(l.budget_ms, 1000);
	assert_int_equal(l.queue, 10 * l.slots);	/* 1000 / 100 a slot */
	json_decref(t);
	t = json_pack("{s:i}", "hash_wait_ms", 400);	/* the older name */
	admit_limits(tenant_of(t), &l);
	assert_int_equal(l.budget_ms, 400);
	json_decref(t);
	t = limits(0, -5, -5);		/* clamped to the smallest */
	admit_limits(tenant_of(t), &l);
	assert_int_equal(l.slots, 1);
	assert_int_equal(l.budget_ms, 0);
	assert_int_equal(l.queue, 0);
	json_decref(t);
	t = limits(1000, 100000, 10000000);	/* and the largest */
	admit_limits(tenant_of(t), &l);
	assert_int_equal(l.slots, 64);
	assert_int_equal(l.budget_ms, 60000);
	assert_int_equal(l.queue, 1024);
	json_decref(t);
	t = limits(2, 3, 1000);		/* hash_queue caps the room */
	admit_limits(tenant_of(t), &l);
	assert_int_equal(l.queue, 3);
	json_decref(t);
}

/* A tenant of one slot and a 64 KiB argon2id policy. */
static json_t *
small_tenant(void)
{
	return json_pack("{s:i, s:i, s:i, s:{s:i, s:i, s:i}}", "hash_slots", 1,
	    "hash_queue", 0, "login_queue_budget_ms", 1000, "hash", "t", 1,
	    "m", 64,
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
	struct admit		 a = { .peer_fd = 0 };
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
	reap_pid(pid);
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
		cmocka_unit_test(waiters_are_served_in_arrival_order),
		cmocka_unit_test(beyond_the_budget_is_refused_at_once),
		cmocka_unit_test(a_waiter_gone_frees_its_place),
		cmocka_unit_test(a_placed_login_is_served_past_its_budget),
		cmocka_unit_test(arrivals_are_placed_and_depart),
		cmocka_unit_test(a_freed_slot_wakes_the_first_waiter),
		cmocka_unit_test(a_spread_hash_time_narrows_the_budget),
		cmocka_unit_test(a_slow_round_narrows_the_room),
		cmocka_unit_test(a_slot_holder_hashes_on_its_own_core),
		cmocka_unit_test(a_waiter_lets_go_of_the_store),
		cmocka_unit_test(verify_runs_in_slot_memory_removed_by_last_user),
		cmocka_unit_test(object_not_ours_alone_is_not_used),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
