/*
 * stall.c: get a responder out of a Berkeley DB mutex that a killed
 * process held (service resumes within 1 s of a kill: `make fault`).
 *
 * Berkeley DB 5.3 mutexes are process-shared pthread mutexes and
 * condition variables, waited on without a timeout, and failchk() does
 * not wake their waiters (that came with 6.x's failchk broadcast).  A
 * responder killed while it held one (the log flush mutex inside a
 * commit's fsync, a lock-region mutex) leaves its peers asleep in
 * pthread_cond_wait for good; the lock timeout never fires there, and
 * a process asleep inside Berkeley DB never returns to reopen its store
 * (ctx_refresh).  Measured with gdb on the survivors of
 * tests/fault/fault.py: __log_flush_int and __lock_get_internal, both
 * in __db_pthread_mutex_lock.
 *
 * So while a request is served, and while a responder starts or stops
 * (ctx.c: its start-up checks read the tenant and the keys, its close
 * checkpoints), a timer looks every STALL_TICK_MS, from
 * STALL_FIRST_MS on, whether the environment is dead for this process,
 * and exits if it is; the web server starts a new responder, which
 * opens the environment with recovery (DB_REGISTER).  Dead means:
 *
 * - a process registered in the environment (__db.register, one
 *   "%24lu\n" slot per process, "X" when free) no longer exists: it was
 *   killed without closing, and the next process to open runs recovery,
 *   which panics every open handle; or
 * - the region file is no longer the one this process opened: that
 *   recovery has already run.
 *
 * A request in progress at that point would fail anyway, or hangs.
 * stall_watch(NULL) stops watching while this process opens (and may
 * itself recover) the environment; store_open() with STORE_WATCH
 * watches again from the moment the environment is open (recovery
 * done, this process registered), through the databases' opens, which
 * can hang on a dead peer's lock-region mutex just as requests can.  The handler calls only pread, stat,
 * kill, getpid and _exit, all async-signal-safe, and the
 * signal is installed with SA_RESTART so it interrupts no read or write.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define STALL_FIRST_MS	200
#define STALL_TICK_MS	100
#define STALL_REGISTER	"__db.register"
#define STALL_SLOT	25		/* Berkeley DB 5.3 env_register.c PID_LEN */
#define STALL_PID_MAX	(1 << 22)	/* Linux pid_max limit */
#define STALL_SIGNAL	(SIGRTMIN + 4)	/* admit.c uses SIGRTMIN + 3 */
#define STALL_REGION	"__db.001"	/* Berkeley DB's primary region */
#define STALL_EXIT	LK_EXIT_TEMPFAIL

static char		 region[PATH_MAX];
static char		 registry[PATH_MAX];
/*
 * Opened once per environment and never closed while it is open: closing
 * any descriptor of a file drops every fcntl(2) lock the process holds on
 * it, and Berkeley DB's DB_REGISTER slot is such a lock.  The next opener
 * would then take this live process for a dead one and run recovery.
 */
static int		 registry_fd = -1;
static char		 slots[512 * STALL_SLOT];	/* store.c STORE_THREADS */
static volatile dev_t	 region_dev;
static volatile ino_t	 region_ino;
static volatile sig_atomic_t watching;
static timer_t		 tid;
static int		 have_timer;
static int		 depth;		/* stall_arm nesting */
static volatile sig_atomic_t paused;	/* stall_pause nesting */

/*
 * Read the registry into slots; *n is the bytes read (0 on error).  The
 * pid of the slot at off, 0 when the slot is free or unreadable.  Both
 * signal-safe.
 */
static ssize_t
registry_read(void)
{
	ssize_t	 n;

	if (registry_fd == -1)
		return 0;
	n = pread(registry_fd, slots, sizeof(slots), 0);
	return n > 0 ? n : 0;
}

static pid_t
slot_pid(size_t off)
{
	pid_t	 pid = 0;
	size_t	 i;

	for (i = 0; i < STALL_SLOT - 1; i++)
		if (slots[off + i] >= '0' && slots[off + i] <= '9' &&
		    pid < STALL_PID_MAX)
			pid = pid * 10 + (slots[off + i] - '0');
		else if (slots[off + i] != ' ')
			return 0;
	return pid;
}

/* Is a process registered in the environment gone?  Signal-safe. */
static int
stall_orphan(void)
{
	size_t	 off, n = (size_t)registry_read();
	pid_t	 pid, self = getpid();

	for (off = 0; off + STALL_SLOT <= n; off += STALL_SLOT) {
		if ((pid = slot_pid(off)) <= 0 || pid == self)
			continue;
		if (kill(pid, 0) == -1 && errno == ESRCH)
			return 1;
	}
	return 0;
}

static void
stall_tick(int sig)
{
	struct stat	 st;
	int		 save = errno;

	(void)sig;
	if (watching && !paused && (stall_orphan() || stat(region, &st) == -1 ||
	    st.st_dev != region_dev || st.st_ino != region_ino))
		_exit(STALL_EXIT);
	errno = save;
}

void
stall_watch(const char *home)
{
	struct stat	 st;

	watching = 0;
	/* The store this descriptor went with is closed: no lock to lose. */
	if (registry_fd != -1)
		close(registry_fd);
	registry_fd = -1;
	if (home == NULL)
		return;
	if ((size_t)snprintf(region, sizeof(region), "%s/%s", home,
	    STALL_REGION) >= sizeof(region) ||
	    (size_t)snprintf(registry, sizeof(registry), "%s/%s", home,
	    STALL_REGISTER) >= sizeof(registry) || stat(region, &st) == -1)
		return;
	registry_fd = open(registry, O_RDONLY | O_CLOEXEC);
	region_dev = st.st_dev;
	region_ino = st.st_ino;
	watching = 1;
}

/*
 * In a child forked from a watched process (the passwordless courier,
 * courier.c): the parent's timer is not the child's (fork(2) does not
 * inherit POSIX timers) and its registry descriptor may be closed, or
 * its number reused, by then.  Forget both without closing anything.
 */
void
stall_forget(void)
{
	watching = 0;
	registry_fd = -1;
	have_timer = 0;
	depth = 0;
	paused = 0;
}

static int
stall_timer(void)
{
	struct sigaction	 sa;
	struct sigevent		 sev;

	if (have_timer)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stall_tick;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = STALL_SIGNAL;
	if (sigaction(STALL_SIGNAL, &sa, NULL) == -1 ||
	    timer_create(CLOCK_MONOTONIC, &sev, &tid) == -1) {
		lk_warn("stall timer: cannot create");
		return -1;
	}
	have_timer = 1;
	return 0;
}

/* Start the timer: its first tick STALL_FIRST_MS from now. */
static void
stall_start(void)
{
	struct itimerspec	 its;

	if (stall_timer() == -1)
		return;
	memset(&its, 0, sizeof(its));
	its.it_value.tv_nsec = STALL_FIRST_MS * 1000000L;
	its.it_interval.tv_nsec = STALL_TICK_MS * 1000000L;
	timer_settime(tid, 0, &its, NULL);
}

static void
stall_stop(void)
{
	struct itimerspec	 its;

	if (!have_timer)
		return;
	memset(&its, 0, sizeof(its));
	timer_settime(tid, 0, &its, NULL);
}

/* The timer runs while depth > 0; each tick looks only when watching
 * and not paused. */
void
stall_arm(void)
{
	if (depth++ == 0)
		stall_start();
}

void
stall_disarm(void)
{
	if (depth > 0 && --depth == 0)
		stall_stop();
}

/*
 * A request that lets go of the store (store_pause: it waits for its turn
 * at a hash slot, hashes, or asks a directory) is not inside Berkeley DB
 * meanwhile: its ticks look at nothing until stall_unpause().  A call
 * into Berkeley DB in that time is watched for its length (store.c,
 * store_env_share).
 * Each look reads the registry and signals every registered process
 * (kill 0), so a hundred responders waiting in the login line, looking
 * ten times a second, cost the machine a hundred thousand system calls
 * a second.  The timer itself runs on (stopping and restarting it cost
 * every login two more system calls; most logins never see a tick).
 */
void
stall_pause(void)
{
	paused = paused + 1;
}

void
stall_unpause(void)
{
	if (paused > 0)
		paused = paused - 1;
}
