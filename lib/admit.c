/*
 * admit.c: admission control for password hashing (issue 7).
 *
 * A password verify costs ~20 ms of one core by design (argon2id), so a
 * login storm must not queue without bound: at most `hash_slots`
 * verifies run at once across every responder process, at most
 * `hash_queue` more requests wait for a slot, each for at most
 * `hash_wait_ms`; anything beyond is answered at once with 503
 * temporarily_unavailable and Retry-After (RFC 9110 15.6.4, 10.2.3).
 * A served request therefore waits at most hash_wait_ms before its own
 * hash, which keeps its latency near a few hash times however many
 * clients pile on.
 *
 * The slots are one-byte OFD locks (fcntl F_OFD_SETLK) on one file,
 * LATCHKEY_HOME/run/admission: bytes [0, slots) are the hash slots,
 * bytes [ADMIT_QUEUE_BASE, +queue) the waiting room.  A lock belongs to
 * the open file and dies with the process, so a responder killed while
 * hashing (the fault test SIGKILLs them) frees its slot; no semaphore
 * can leak.  Waiters sleep in F_OFD_SETLKW (a slot freed wakes them at
 * once) under a timer; polling instead cost 9 ms of CPU per request at
 * c = 8 on the 2-core test machine.
 *
 * A waiter sleeps on one slot, its home: the waiting-room bytes are
 * taken lowest first and waiter k's home is slot k mod slots, so the
 * waiters spread evenly over the slots, and each one is in the kernel's
 * queue of its slot whenever that slot is freed.  (Moving from slot to
 * slot instead made a waiter miss the slot freed while it was moving,
 * and lose it to a request that had just arrived: at c = 3, twice the
 * slots' worth of requests waiting, one in 25 was shed.)  Between sleeps
 * of a quarter of a hash time it tries every slot.
 *
 * The hash time that sets the wait is a moving average of how long this
 * process held a slot, and it is shared: each process writes its average
 * at the start of the lock file, and one that has not hashed yet starts
 * from it (a freshly started responder otherwise guessed 100 ms and let
 * its first requests wait 150 ms).
 *
 * The tenant record sets the limits ("hash_slots", "hash_queue",
 * "hash_wait_ms"); the defaults are one slot per online core, a waiting
 * room of three per slot (so that with lighttpd's max-procs at 4 x cores,
 * as httpd-conf/lighttpd.conf advises, every request that reaches a
 * responder may wait, and none is turned away in a busy loop of instant
 * 503s that would steal the cores from the hashing), and 1.5 times this
 * process's measured hash time.  When
 * the lock file cannot be used, hashing is admitted without control
 * (logged once): availability before protection.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define ADMIT_QUEUE_BASE	4096	/* first waiting-room byte */
#define ADMIT_SLOTS_MAX		64
#define ADMIT_QUEUE_MAX		1024
#define ADMIT_WAIT_MAX		60000	/* ms */
#define ADMIT_SIGNAL		(SIGRTMIN + 3)	/* ends a timed slot wait */
#define ADMIT_QUEUE_FACTOR	3	/* default waiting room: 3 x slots */
#define ADMIT_HASH_GUESS	100.0	/* ms, before the first measurement */
#define ADMIT_WAIT_FACTOR	1.5	/* default wait: this x hash time */
#define ADMIT_WAIT_MIN		10	/* ms */

static int	 admit_fd = -1;
static int	 admit_broken;		/* could not open: admit everything */
static double	 hash_ms;		/* moving average of own hash times */

/* An integer tenant setting in [lo, hi], or def when absent. */
static long
setting(const json_t *tenant, const char *name, long def, long lo, long hi)
{
	const json_t	*v = json_object_get(tenant, name);
	json_int_t	 i;

	if (!json_is_integer(v))
		return def;
	i = json_integer_value(v);
	return i < lo ? lo : i > hi ? hi : (long)i;
}

void
admit_limits(const json_t *tenant, struct admit_limits *l)
{
	long	 cores = sysconf(_SC_NPROCESSORS_ONLN);
	double	 h = hash_ms > 0 ? hash_ms : ADMIT_HASH_GUESS;
	long	 wait;

	if (cores < 1)
		cores = 1;
	l->slots = (int)setting(tenant, "hash_slots", cores > ADMIT_SLOTS_MAX ?
	    ADMIT_SLOTS_MAX : cores, 1, ADMIT_SLOTS_MAX);
	l->queue = (int)setting(tenant, "hash_queue",
	    ADMIT_QUEUE_FACTOR * l->slots, 0, ADMIT_QUEUE_MAX);
	wait = (long)(h * ADMIT_WAIT_FACTOR);
	if (wait < ADMIT_WAIT_MIN)
		wait = ADMIT_WAIT_MIN;
	l->wait_ms = (int)setting(tenant, "hash_wait_ms", wait, 1,
	    ADMIT_WAIT_MAX);
}

/* Open (once) home/run/admission.  0, or -1 (logged once). */
static int
admit_open(const char *home)
{
	char	 path[PATH_MAX];
	mode_t	 omask;

	if (admit_fd != -1)
		return 0;
	if (admit_broken)
		return -1;
	omask = umask(077);
	if ((size_t)snprintf(path, sizeof(path), "%s/run", home) >= sizeof(path) ||
	    (mkdir(path, 0700) == -1 && errno != EEXIST) ||
	    (size_t)snprintf(path, sizeof(path), "%s/run/admission", home) >=
	    sizeof(path) ||
	    (admit_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		umask(omask);
		lk_warn("%s/run/admission: %s; password hashing runs without "
		    "admission control", home, strerror(errno));
		admit_broken = 1;
		return -1;
	}
	umask(omask);
	return 0;
}

/* Lock one free byte of [base, base + n): from a per-process offset
 * (spread, so processes spread over the slots) or the lowest free one.
 * The byte, or -1. */
static int
lock_one(int base, int n, int spread)
{
	struct flock	 fl;
	unsigned	 from = spread ? (unsigned)getpid() : 0;
	int		 i, b;

	for (i = 0; i < n; i++) {
		b = base + (int)((from + (unsigned)i) % (unsigned)n);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		fl.l_start = b;
		fl.l_len = 1;
		if (fcntl(admit_fd, F_OFD_SETLK, &fl) == 0)
			return b;
		if (errno != EAGAIN && errno != EACCES)
			lk_warn("admission lock: %s", strerror(errno));
	}
	return -1;
}

static void
unlock_one(int b)
{
	struct flock	 fl;

	if (b < 0 || admit_fd == -1)
		return;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = b;
	fl.l_len = 1;
	fcntl(admit_fd, F_OFD_SETLK, &fl);
}

/* The hash time another process last wrote, or 0 (none, or nonsense). */
static double
shared_hash_ms(void)
{
	double	 v;

	if (pread(admit_fd, &v, sizeof(v), 0) != sizeof(v) ||
	    !(v >= 0.01 && v <= ADMIT_WAIT_MAX))
		return 0;
	return v;
}

/* The timer's signal only interrupts F_OFD_SETLKW (no SA_RESTART). */
static void
admit_wake(int sig)
{
}

/*
 * Block on slot byte b for at most ms: 0 with it locked, -1 on timeout
 * or error.  A per-process POSIX timer on its own real-time signal
 * interrupts the wait, so no other user of SIGALRM is disturbed.
 */
static int
lock_wait(int b, double ms)
{
	static timer_t		 tid;
	static int		 have_timer;
	struct sigevent		 sev;
	struct sigaction	 sa;
	struct itimerspec	 its;
	struct flock		 fl;
	int			 rc;

	if (!have_timer) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = admit_wake;
		sigemptyset(&sa.sa_mask);
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_SIGNAL;
		sev.sigev_signo = ADMIT_SIGNAL;
		if (sigaction(ADMIT_SIGNAL, &sa, NULL) == -1 ||
		    timer_create(CLOCK_MONOTONIC, &sev, &tid) == -1)
			return -1;
		have_timer = 1;
	}
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = (time_t)(ms / 1e3);
	its.it_value.tv_nsec = (long)((ms - (double)its.it_value.tv_sec * 1e3) * 1e6);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec < 100000)
		its.it_value.tv_nsec = 100000;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = b;
	fl.l_len = 1;
	if (timer_settime(tid, 0, &its, NULL) == -1)
		return -1;
	rc = fcntl(admit_fd, F_OFD_SETLKW, &fl);
	memset(&its, 0, sizeof(its));
	timer_settime(tid, 0, &its, NULL);
	return rc == 0 ? 0 : -1;
}

enum admit_rc
admit_hash_enter(struct lk_ctx *ctx, const json_t *tenant, struct admit *a)
{
	struct admit_limits	 l;
	double			 deadline, left, slice;
	int			 w, home;

	a->slot = -1;
	a->t0 = lk_mono_ms();
	if (admit_open(ctx->home) == -1)
		return ADMIT_OK;
	if (hash_ms <= 0)
		hash_ms = shared_hash_ms();
	admit_limits(tenant, &l);
	if ((a->slot = lock_one(0, l.slots, 1)) != -1)
		return ADMIT_OK;
	/* No slot: wait in the waiting room if there is room in it. */
	if (l.queue == 0 ||
	    (w = lock_one(ADMIT_QUEUE_BASE, l.queue, 0)) == -1)
		return ADMIT_BUSY;
	/*
	 * Sleep in the kernel on the home slot (no polling: a waiter costs
	 * no CPU), a quarter of a hash time at a time, trying every slot
	 * between sleeps.
	 */
	home = (w - ADMIT_QUEUE_BASE) % l.slots;
	deadline = a->t0 + l.wait_ms;
	slice = (hash_ms > 0 ? hash_ms : ADMIT_HASH_GUESS) / 4;
	while ((left = deadline - lk_mono_ms()) > 0) {
		if (lock_wait(home, left < slice ? left : slice) == 0) {
			a->slot = home;
			break;
		}
		if ((a->slot = lock_one(0, l.slots, 1)) != -1)
			break;
	}
	unlock_one(w);
	if (a->slot == -1)
		return ADMIT_BUSY;
	a->t0 = lk_mono_ms();
	return ADMIT_OK;
}

void
admit_hash_leave(struct admit *a)
{
	double	 ms = lk_mono_ms() - a->t0;

	/* Exponential moving average of the time a slot is held, shared. */
	hash_ms = hash_ms > 0 ? hash_ms * 0.8 + ms * 0.2 : ms;
	if (a->slot >= 0 &&
	    pwrite(admit_fd, &hash_ms, sizeof(hash_ms), 0) != sizeof(hash_ms)) {
		/* Not shared: a new process measures its own. */
	}
	unlock_one(a->slot);
	a->slot = -1;
}

int
admit_shed(struct lk_resp *resp)
{
	if (oerr_write(resp, OERR_TEMPORARILY_UNAVAILABLE, NULL) == -1)
		return -1;
	return resp_header(resp, "Retry-After", "%d", ADMIT_RETRY_AFTER);
}
