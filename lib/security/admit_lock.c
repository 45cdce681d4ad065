/*
 * admit_lock.c: the admission file's byte locks and the sleeps of the
 * line (admit.c): OFD byte locks (fcntl F_OFD_SETLK and kin: a lock
 * belongs to the open file and dies with the process), a lock wait
 * bounded by a timer, the futex word every slot release bumps, and a
 * look at whether the web server closed the request's connection.
 */
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/futex.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"
#include "admit_int.h"

/* A one-byte lock of type on byte b. */
static struct flock
byte_flock(short type, int b)
{
	struct flock	 fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = b;
	fl.l_len = 1;
	return fl;
}

/* fcntl(cmd) of lock type on byte b of the admission file fd: 0 or -1. */
int
admit_lock(int fd, int b, short type, int cmd)
{
	struct flock	 fl = byte_flock(type, b);

	while (fcntl(fd, cmd, &fl) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Lock one free byte of [base, base + n): from a per-process offset
 * (spread, so processes spread over the slots) or the lowest free one.
 * The byte, or -1. */
int
admit_lock_one(int fd, int base, int n, int spread)
{
	unsigned	 from = spread ? (unsigned)lk_pid() : 0;
	int		 i, b;

	for (i = 0; i < n; i++) {
		b = base + (int)((from + (unsigned)i) % (unsigned)n);
		if (admit_lock(fd, b, F_WRLCK, F_OFD_SETLK) == 0)
			return b;
		if (errno != EAGAIN && errno != EACCES)
			lk_warn("admission lock: %s", strerror(errno));
	}
	return -1;
}

/* 1 when byte b of fd is locked by another open file (a waiter, a
 * holder). */
int
admit_held(int fd, int b)
{
	struct flock	 fl = byte_flock(F_WRLCK, b);

	if (fcntl(fd, F_OFD_GETLK, &fl) == -1)
		return 1;	/* unknown: leave the line as it is */
	return fl.l_type != F_UNLCK;
}

/* The timer's signal only interrupts F_OFD_SETLKW (no SA_RESTART). */
static void
admit_wake(int sig)
{
}

/*
 * Block on byte b for a lock of type for at most ms: 0 with it locked,
 * -1 on timeout or error.  A per-process POSIX timer on its own
 * real-time signal interrupts the wait, so no other user of SIGALRM is
 * disturbed.
 */
int
admit_lock_wait(int fd, int b, short type, double ms)
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
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = b;
	fl.l_len = 1;
	if (timer_settime(tid, 0, &its, NULL) == -1)
		return -1;
	rc = fcntl(fd, F_OFD_SETLKW, &fl);
	memset(&its, 0, sizeof(its));
	timer_settime(tid, 0, &its, NULL);
	return rc == 0 ? 0 : -1;
}

/* 1 when the web server closed the connection of this request (its
 * client went away); fd 0: not known (plain CGI, tests). */
int
admit_peer_gone(int fd)
{
	struct pollfd	 p = { .fd = fd, .events = POLLRDHUP };

	if (fd <= 0 || poll(&p, 1, 0) != 1)
		return 0;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* Sleep until a slot's release bumps the futex word from seen, or ms
 * pass (a holder killed releases without a wake).  FUTEX_WAIT without
 * FUTEX_PRIVATE_FLAG: the word is in a shared file mapping, so the
 * processes that map it meet on it (futex(2)). */
void
admit_futex_wait(_Atomic uint32_t *word, uint32_t seen, double ms)
{
	struct timespec	 ts;

	ts.tv_sec = (time_t)(ms / 1e3);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1e3) * 1e6);
	(void)syscall(SYS_futex, (void *)word, FUTEX_WAIT, seen, &ts,
	    NULL, 0);
}

/* A release: bump the word, and wake its sleepers when there are any
 * (a waiter counts itself before its last try at the slots, so one
 * that found none free either sees the bump or is counted here). */
void
admit_futex_wake(_Atomic uint32_t *word, _Atomic uint32_t *sleepers)
{
	atomic_fetch_add(word, 1);
	if (atomic_load(sleepers) == 0)
		return;
	(void)syscall(SYS_futex, (void *)word, FUTEX_WAKE, INT_MAX,
	    NULL, NULL, 0);
}
