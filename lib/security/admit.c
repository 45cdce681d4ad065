/*
 * admit.c: admission control for password hashing (docs/COMPAT.md 9.7).
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
 * Each slot also has its hash memory, shared by every responder (one
 * POSIX shared memory object per home and slot, /dev/shm/latchkey-<uid>-
 * <dev>-<ino>-<slot>, the admission file's identity): whoever holds slot
 * k verifies in object k.  With a buffer per process, every responder
 * kept its own m KiB in its heap for life (lighttpd's max-procs 4 x
 * cores processes: 8 x 19 MiB on two cores); now a machine holds slots
 * x m KiB of hash memory, however many processes.  (It is no faster: on
 * the 2-core test VM a pinned argon2id loop at m = 19 MiB took 18.9-20.9
 * ms over one buffer and over eight alike.)  Only the slot's holder
 * touches an object (the slot lock); argon2 wipes it after every hash;
 * an object not ours alone (owner, mode 0600: another user could have
 * made the name first) is not used, nor is one that cannot be sized
 * (posix_fallocate, so a full /dev/shm is an error here, not a SIGBUS
 * mid-hash): the verify then mallocs, as before.  Each user of the
 * objects holds a shared lock on byte ADMIT_USERS of the admission file
 * for life; admit_close() of the last one (its exclusive lock granted)
 * removes them.  A responder SIGKILLed leaves them to the next last one.
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
#include <sys/mman.h>
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

#define ADMIT_USERS		2048	/* held shared by slot memory users */
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
static long	 cores;			/* online CPUs, read once */
static int	 users_held;		/* shared lock on ADMIT_USERS */
static int	 slotmem_off;		/* shared memory unusable: malloc */
static struct {
	void	*mem;
	size_t	 size;
} slotmem[ADMIT_SLOTS_MAX];

void
admit_limits(const struct tenant *tenant, struct admit_limits *l)
{
	double	 h = hash_ms > 0 ? hash_ms : ADMIT_HASH_GUESS;
	long	 wait;

	/* Read once: it was an open, a read and a close every login. */
	if (cores == 0 && (cores = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		cores = 1;
	/* The tenant's settings (record.c: absent or out of range, 0 or -1
	 * for the queue) else the defaults. */
	l->slots = tenant->hash_slots > 0 ? (int)tenant->hash_slots :
	    (int)(cores > ADMIT_SLOTS_MAX ? ADMIT_SLOTS_MAX : cores);
	l->queue = tenant->hash_queue >= 0 ? (int)tenant->hash_queue :
	    ADMIT_QUEUE_FACTOR * l->slots;
	wait = (long)(h * ADMIT_WAIT_FACTOR);
	if (wait < ADMIT_WAIT_MIN)
		wait = ADMIT_WAIT_MIN;
	l->wait_ms = tenant->hash_wait_ms > 0 ? (int)tenant->hash_wait_ms :
	    (int)wait;
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

/* fcntl(cmd) of lock type on byte b of the admission file: 0 or -1. */
static int
byte_lock(int b, short type, int cmd)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = b;
	fl.l_len = 1;
	while (fcntl(admit_fd, cmd, &fl) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Lock one free byte of [base, base + n): from a per-process offset
 * (spread, so processes spread over the slots) or the lowest free one.
 * The byte, or -1. */
static int
lock_one(int base, int n, int spread)
{
	unsigned	 from = spread ? (unsigned)getpid() : 0;
	int		 i, b;

	for (i = 0; i < n; i++) {
		b = base + (int)((from + (unsigned)i) % (unsigned)n);
		if (byte_lock(b, F_WRLCK, F_OFD_SETLK) == 0)
			return b;
		if (errno != EAGAIN && errno != EACCES)
			lk_warn("admission lock: %s", strerror(errno));
	}
	return -1;
}

static void
unlock_one(int b)
{
	if (b >= 0 && admit_fd != -1)
		(void)byte_lock(b, F_UNLCK, F_OFD_SETLK);
}

/* The shared memory object's name of slot k ("/latchkey-..."), or -1. */
static int
slot_name(int k, char *buf, size_t sz)
{
	struct stat	 st;

	if (fstat(admit_fd, &st) == -1)
		return -1;
	return (size_t)snprintf(buf, sz, "/latchkey-%lu-%lu-%lu-%d",
	    (unsigned long)geteuid(), (unsigned long)st.st_dev,
	    (unsigned long)st.st_ino, k) >= sz ? -1 : 0;
}

/* Stop using shared slot memory for this process's life (logged). */
static void *
slotmem_give_up(const char *name, const char *why, int fd)
{
	lk_warn("/dev/shm%s: %s; password hashing uses private memory",
	    name, why);
	if (fd != -1)
		close(fd);
	slotmem_off = 1;
	return NULL;
}

/*
 * Slot k's shared hash memory, at least size bytes, mapped (kept for
 * the next verify), or NULL: then argon2 mallocs.  Called holding slot k.
 */
static void *
slot_memory(int k, size_t size)
{
	char		 name[96];
	struct stat	 st;
	void		*p;
	int		 fd, e;

	if (k < 0 || k >= ADMIT_SLOTS_MAX)
		return NULL;
	if (slotmem[k].mem != NULL && slotmem[k].size >= size)
		return slotmem[k].mem;
	if (slotmem_off || slot_name(k, name, sizeof(name)) == -1)
		return NULL;
	/* Before the object is opened: the last user's exit removes it. */
	if (!users_held) {
		if (byte_lock(ADMIT_USERS, F_RDLCK, F_OFD_SETLKW) == -1)
			return slotmem_give_up(name, strerror(errno), -1);
		users_held = 1;
	}
	if ((fd = shm_open(name, O_RDWR | O_CREAT, 0600)) == -1)
		return slotmem_give_up(name, strerror(errno), -1);
	if (fstat(fd, &st) == -1)
		return slotmem_give_up(name, strerror(errno), fd);
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return slotmem_give_up(name, "not this user's alone", fd);
	/* Reserved now: touching a page tmpfs has no room for is SIGBUS. */
	if ((size_t)st.st_size < size &&
	    (e = posix_fallocate(fd, 0, (off_t)size)) != 0)
		return slotmem_give_up(name, strerror(e), fd);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
	    fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return slotmem_give_up(name, strerror(errno), -1);
	if (slotmem[k].mem != NULL)
		munmap(slotmem[k].mem, slotmem[k].size);
	slotmem[k].mem = p;
	slotmem[k].size = size;
	return p;
}

void
admit_close(void)
{
	char	 name[96];
	int	 k;

	for (k = 0; k < ADMIT_SLOTS_MAX; k++)
		if (slotmem[k].mem != NULL) {
			munmap(slotmem[k].mem, slotmem[k].size);
			slotmem[k].mem = NULL;
		}
	/* The last user (no other shared lock left) removes the objects. */
	if (users_held && byte_lock(ADMIT_USERS, F_WRLCK, F_OFD_SETLK) == 0)
		for (k = 0; k < ADMIT_SLOTS_MAX; k++)
			if (slot_name(k, name, sizeof(name)) == 0)
				(void)shm_unlink(name);
	users_held = 0;
	if (admit_fd != -1)
		close(admit_fd);
	admit_fd = -1;
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

/* Verifies in slot k's memory, sized for the tenant's policy. */
static void
arena_set(const struct tenant *tenant, int k)
{
	struct hash_policy	 pol = tenant->hash_policy;
	size_t			 size;

	size = (size_t)pol.m_cost * 1024;
	hash_arena(slot_memory(k, size), size);
}

enum admit_rc
admit_hash_enter(struct lk_ctx *ctx, const struct tenant *tenant,
    struct admit *a)
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
	if ((a->slot = lock_one(0, l.slots, 1)) != -1) {
		arena_set(tenant, a->slot);
		return ADMIT_OK;
	}
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
	arena_set(tenant, a->slot);
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
	hash_arena(NULL, 0);
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
