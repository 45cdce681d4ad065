/*
 * admit_predict.c: admission control's prediction (admit.c).
 *
 * How long a login arriving now would wait: the logins ahead of it that
 * will find no free slot, a slot's worth at a time, each round a hash
 * time, at the 99th percentile (mean plus ADMIT_Z standard deviations).
 * The hash time is a moving average of how long a slot is held (for a
 * login that waited for it, from the slot's release to the next one's:
 * the hand-off is the line's time too), with a
 * moving variance beside it, shared by the processes through the
 * admission page: each folds its own hold time into the average last
 * written (admit_hash_fold()) and predicts with the average as it finds
 * it (a freshly started responder otherwise guessed 100 ms, and one that
 * only refused for a while predicted with the time of its own last
 * hash).  When the line lately moved slower than a hash time a round
 * (the hashes starved of CPU), the round time the waiting logins saw
 * takes its place (admit_round_sample()).
 *
 * The waits themselves tell how far off the prediction runs when what
 * slows the hashes comes in bursts (a storm of refusals on two cores:
 * every round of a wait slows at once, which the hash time's variance,
 * sample by sample, does not show).  A login that waited
 * ADMIT_OVERRUN_ROUNDS rounds or more writes the ratio of its wait to
 * the mean predicted when it was placed into a ring of the latest
 * ADMIT_LATE_N in the admission page.  The ring's largest is the
 * overrun: the largest of 128 is on average their 99.2nd percentile,
 * and the ring holds two or three seconds of a storm, so it remembers
 * the last burst.  It is forgotten when no sample came for
 * ADMIT_ROUND_FRESH.  The prediction is the larger of the mean times
 * the overrun and the mean plus the hash time's spread.  With the
 * spread alone, one in a hundred logins placed at the back of the line
 * waited 300 ms past its prediction, and past the budget
 * (docs/performance.md).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "extern.h"
#include "admit_int.h"

#define ADMIT_HASH_GUESS	100.0	/* ms, before the first measurement */
#define ADMIT_BUDGET		1000	/* ms, login_queue_budget_ms default */
#define ADMIT_Z			2.33	/* one-sided 99 % normal quantile */
#define ADMIT_ROUND_FRESH	10000	/* ms a round's sample is believed */
#define ADMIT_OVERRUN_ROUNDS	4	/* a shorter wait is mostly the rest
					 * of the hashes under way */
#define ADMIT_OVERRUN_MAX	10.0

static double	 hash_ms;		/* moving average of own hash times */
static long	 cores;			/* online CPUs, read once */

/* The variance of the hash time last written, or 0 (none, or nonsense). */
static double
shared_hash_var(const struct admit_page *page)
{
	double	 v = atomic_load(&page->hash_var);

	return v > 0 && v <= (double)ADMIT_WAIT_MAX * ADMIT_WAIT_MAX ? v : 0;
}

/* The round time the logins that waited saw lately (in the last
 * ADMIT_ROUND_FRESH ms), or 0. */
static double
shared_round_ms(const struct admit_page *page)
{
	double	 v = atomic_load(&page->round_ms);
	double	 at = atomic_load(&page->round_at), now = lk_mono_ms();

	if (at > now || now - at > ADMIT_ROUND_FRESH)
		return 0;
	return v >= 0.01 && v <= ADMIT_WAIT_MAX ? v : 0;
}

/* Whether the latest overrun sample is fresh. */
static int
late_fresh(const struct admit_page *page, double now)
{
	double	 at = atomic_load(&page->late_at);

	return at <= now && now - at <= ADMIT_ROUND_FRESH;
}

/* The overrun while its samples are fresh, else 1 (none). */
static double
shared_overrun(const struct admit_page *page)
{
	double	 v = atomic_load(&page->overrun);

	if (!late_fresh(page, lk_mono_ms()))
		return 1;
	return v >= 1 && v <= ADMIT_OVERRUN_MAX ? v : 1;
}

/*
 * A wait's ratio to its prediction into the ring (emptied first when its
 * samples are stale), and the ring's largest, at least 1, is the
 * overrun.  Two writers at once may each miss the other's sample; the
 * next one counts it.
 */
static void
late_sample(struct admit_page *page, double ratio, double now)
{
	double	 v, top = 1;
	uint32_t i;

	if (!late_fresh(page, now))
		for (i = 0; i < ADMIT_LATE_N; i++)
			atomic_store(&page->late[i], 0);
	i = atomic_fetch_add(&page->late_next, 1) % ADMIT_LATE_N;
	atomic_store(&page->late[i], (float)ratio);
	atomic_store(&page->late_at, now);
	for (i = 0; i < ADMIT_LATE_N; i++)
		if ((v = atomic_load(&page->late[i])) > top)
			top = v;
	atomic_store(&page->overrun, top > ADMIT_OVERRUN_MAX ?
	    ADMIT_OVERRUN_MAX : top);
}

/* The hash time another process last wrote, or 0 (none, or nonsense). */
static double
shared_hash_ms(const struct admit_page *page)
{
	double	 v = atomic_load(&page->hash_ms);

	return v >= 0.01 && v <= ADMIT_WAIT_MAX ? v : 0;
}

void
admit_limits(const struct tenant *tenant, struct admit_limits *l)
{
	struct admit_page *page = admit_page();
	double	 h = hash_ms > 0 ? hash_ms : ADMIT_HASH_GUESS;
	double	 room, round;

	/* Read once: it was an open, a read and a close every login. */
	if (cores == 0 && (cores = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		cores = 1;
	/* The tenant's settings (record.c: absent or out of range, 0 or -1)
	 * else the defaults; hash_wait_ms is the budget's older name. */
	l->slots = tenant->hash_slots > 0 ? (int)tenant->hash_slots :
	    (int)(cores > ADMIT_SLOTS_MAX ? ADMIT_SLOTS_MAX : cores);
	l->budget_ms = tenant->login_queue_budget_ms >= 0 ?
	    (int)tenant->login_queue_budget_ms : tenant->hash_wait_ms > 0 ?
	    (int)tenant->hash_wait_ms : ADMIT_BUDGET;
	l->hash_ms = h;
	l->hash_var = page != NULL ? shared_hash_var(page) : 0;
	/* A round of the line is a hash time, or longer when the logins
	 * that waited lately found it so (round_sample()). */
	round = page != NULL ? shared_round_ms(page) : 0;
	l->round_ms = round > h ? round : h;
	l->overrun = page != NULL ? shared_overrun(page) : 1;
	/* The waiters whose predicted wait fits the budget. */
	room = (double)l->budget_ms * l->slots / (l->round_ms * l->overrun);
	l->queue = room >= ADMIT_QUEUE_MAX ? ADMIT_QUEUE_MAX : (int)room;
	if (tenant->hash_queue >= 0 && tenant->hash_queue < l->queue)
		l->queue = (int)tenant->hash_queue;
}

/* The average all the processes share, the latest writer's: a process
 * that has not hashed for a while (its refusals) must not predict with
 * the time of its own last hash. */
void
admit_predict_refresh(struct admit_page *page)
{
	double	 h;

	if (page != NULL && (h = shared_hash_ms(page)) > 0)
		hash_ms = h;
}

/*
 * The Retry-After for a login refused with n waiters ahead: the seconds
 * they need to be served (at least 1), spread at random up to twice
 * that and one more (at most 60), so that the clients refused together
 * do not come back together: a wave of returning clients is refused in
 * a burst that slows every hash under way.
 */
int
admit_retry_after(const struct admit_limits *l, uint64_t n)
{
	double		 s = (double)n * l->round_ms / l->slots / 1e3;
	int		 base;
	unsigned char	 r = 0;

	base = s <= 1 ? 1 : s >= 60 ? 60 : (int)s + ((double)(int)s < s);
	(void)lk_id_bytes(&r, 1);
	base += r % (base + 2);
	return base > 60 ? 60 : base;
}

/*
 * Whether `rounds` hash times (a slot's worth of the line each) fit the
 * budget at the 99th percentile, the larger of two: rounds x mean plus
 * ADMIT_Z standard deviations of their sum (rounds x the hash time's
 * variance), and rounds x mean x the overrun the waits showed.  On an
 * idle machine both are close to the mean; when other work starves the
 * hashes by bursts, they are what keeps the logins placed within the
 * budget (the mean alone placed some that waited twice the budget).
 */
int
admit_within_budget(const struct admit_limits *l, uint64_t rounds)
{
	double	 mean = (double)rounds * l->round_ms;
	double	 room = (double)l->budget_ms - mean;

	return room >= 0 && mean * l->overrun <= (double)l->budget_ms &&
	    ADMIT_Z * ADMIT_Z * l->hash_var * (double)rounds <= room * room;
}

/*
 * A login placed at `at` to wait `rounds` rounds, `predicted` ms, has
 * its slot: fold the time a round took it into the shared moving
 * average, and its wait's ratio to the prediction into the overrun's
 * ring (late_sample()).  When the hashes are starved (a storm of
 * refusals, other work on the cores), a round takes longer than a hash
 * time, and a prediction from the hash time alone placed logins that
 * then waited past the budget; the round time seen, when longer, is what
 * the prediction uses (admit_limits()).  Samples older than
 * ADMIT_ROUND_FRESH are forgotten: a quiet line predicts from the hash
 * time again.
 */
void
admit_round_sample(struct admit_page *page, double at, uint64_t rounds,
    double predicted)
{
	double	 now = lk_mono_ms(), ms, old;

	if (rounds == 0 || page == NULL || now < at)
		return;
	ms = (now - at) / (double)rounds;
	if (rounds >= ADMIT_OVERRUN_ROUNDS && predicted > 0)
		late_sample(page, (now - at) / predicted, now);
	old = shared_round_ms(page);
	atomic_store(&page->round_ms, old > 0 ? old * 0.8 + ms * 0.2 : ms);
	atomic_store(&page->round_at, now);
}


/* Fold a slot's hold time, ms, into the moving averages of the time a
 * slot is held and of its squared deviation (the variance), from the
 * latest any process wrote; written back when `shared` (a slot was
 * held). */
void
admit_hash_fold(struct admit_page *page, double ms, int shared)
{
	double	 d, var;

	admit_predict_refresh(page);
	d = hash_ms > 0 ? ms - hash_ms : 0;
	var = page != NULL ? shared_hash_var(page) * 0.8 + d * d * 0.2 : 0;
	hash_ms = hash_ms > 0 ? hash_ms * 0.8 + ms * 0.2 : ms;
	if (shared && page != NULL) {
		atomic_store(&page->hash_ms, hash_ms);
		atomic_store(&page->hash_var, var);
	}
}
