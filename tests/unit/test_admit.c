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
 *    with a Retry-After (the line's time, spread at random); one within
 *    it waits, and is served however long the line then takes;
 *  - a login placed at its arrival holds its place until it hashes or
 *    departs; the line's length counts the places given back out of
 *    turn as gone;
 *  - a slot freed wakes the first waiter at once, whichever slot;
 *  - the prediction is the hash times' 99th percentile, not their mean;
 *  - a waiter whose client went away, or that was killed, leaves the
 *    line;
 *  - the hash time one process measured sets the prediction of a
 *    process that has not hashed yet;
 *  - the limits and their defaults; a line slower than the hash time
 *    narrows the room, and so do waits that ran past their prediction.
 * The fixture is admit_fx.c's; the slots' memory, core and the store
 * while waiting are test_admit_slot's.
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
#include "security/admit_int.h"
#include "admit_fx.h"

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
	assert_true(r.retry_after >= 1 && r.retry_after <= 3);	/* 1 s, spread */
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
	assert_true(r.retry_after >= 1 && r.retry_after <= 3);
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
 * Waits that ran past their prediction narrow the budget.  With a round
 * of 50 ms: a login that waited four times its prediction, but for three
 * rounds only (mostly the rest of the hash under way), changes nothing;
 * one that waited twice its prediction over ten rounds doubles the
 * prediction: fifteen rounds (750 ms) no longer fit a budget of 1 s,
 * nine do, and the room halves.  With no sample for ten seconds the
 * overrun is forgotten, and the next sample starts afresh.
 */
static void
waits_past_their_prediction_narrow_the_budget(void **state)
{
	struct lk_ctx		 ctx = { .home = home };
	json_t			*t = limits(1, -1, 1000);
	struct admit_page	*p;
	struct admit_limits	 l;
	double			 now;

	(void)state;
	fresh_file();
	(void)admit_waiting(&ctx);	/* maps the admission page */
	assert_non_null(p = admit_page());
	shared_hash_time(50);
	admit_predict_refresh(p);
	now = lk_mono_ms();
	admit_round_sample(p, now - 150, 3, 37.5);
	admit_limits(tenant_of(t), &l);
	assert_true(l.overrun == 1);
	assert_true(l.round_ms >= 50 && l.round_ms < 55);
	assert_true(admit_within_budget(&l, 15));
	admit_round_sample(p, now - 500, 10, 250);
	admit_limits(tenant_of(t), &l);
	assert_true(l.overrun >= 2 && l.overrun < 2.1);
	assert_false(admit_within_budget(&l, 15));
	assert_true(admit_within_budget(&l, 9));
	assert_true(l.queue >= 9 && l.queue <= 10);
	atomic_store(&p->late_at, lk_mono_ms() - 20000);
	admit_limits(tenant_of(t), &l);
	assert_true(l.overrun == 1);
	now = lk_mono_ms();
	admit_round_sample(p, now - 500, 10, 500 / 1.5);
	admit_limits(tenant_of(t), &l);
	assert_true(l.overrun >= 1.5 && l.overrun < 1.6);
	admit_close();
	json_decref(t);
}

/*
 * The Retry-After is the seconds the line ahead needs, spread: a line of
 * 0.1 s asks for 1 to 3 s, every one of them among 300 refusals; one of
 * 5 s for 5 to 11 s; one of 600 s for the most, 60.
 */
static void
retry_after_is_the_line_spread(void **state)
{
	struct admit_limits	 l = { .slots = 1, .round_ms = 100 };
	int			 seen[12] = { 0 }, i, s;

	(void)state;
	for (i = 0; i < 300; i++) {
		s = admit_retry_after(&l, 1);
		assert_true(s >= 1 && s <= 3);
		seen[s]++;
	}
	assert_true(seen[1] > 0 && seen[2] > 0 && seen[3] > 0);
	for (i = 0; i < 100; i++) {
		s = admit_retry_after(&l, 50);
		assert_true(s >= 5 && s <= 11);
	}
	assert_int_equal(admit_retry_after(&l, 6000), 60);
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
		cmocka_unit_test(waits_past_their_prediction_narrow_the_budget),
		cmocka_unit_test(retry_after_is_the_line_spread),
	};

	return cmocka_run_group_tests(tests, admit_fx_setup, admit_fx_teardown);
}
