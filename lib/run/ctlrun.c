/*
 * ctlrun.c: latchkeyctl's work in a child process, run again when the
 * death of a peer stops it (docs/operations.md).
 *
 * An admin command opens the environment, runs its transaction and
 * closes (checkpointing) like a responder, and can meet the same Berkeley
 * DB 5.3 mutex a killed responder held: asleep for good in
 * __db_pthread_mutex_lock (seen in store_close's __memp_sync_int ->
 * __log_flush_int), holding the recovery lock shared (store.c), so that
 * no responder could open the environment again.  So the work is watched
 * like a request (stall.c: exit 75 from 200 ms on, at most 100 ms after
 * a registered process died or the environment was recovered), and since
 * a command that stops is not done, the work runs in a child the caller
 * waits for and runs again, up to CTLRUN_TRIES times within
 * CTLRUN_TOTAL_MS.  A dead process's transaction is aborted by the
 * recovery the next open runs (Berkeley DB Reference Guide, "Recovery
 * procedures"), so running it again is safe.
 *
 * The child marks its progress on a pipe: 'O' when the environment is
 * open, 'C' when its transaction is about to commit, 'D' when all its
 * writes are durable (before it prints), and 'F' when the work returned
 * a status of its own (even 75: a resource ran out, say).  The work
 * returns CTLRUN_AGAIN when it failed because of a recovery.  A child
 * that stops (75 without 'F', or SIGKILL):
 *
 * - before 'C': nothing of it was committed: run again;
 * - after 'D' (in the close): the command is done: exit 0;
 * - between: the commit may or may not have reached the log.  A command
 *   that may be repeated (the caller says: reads, idempotent writes) is
 *   run again; any other stops with status 75 and says its outcome is
 *   unknown.
 *
 * The open is not watched (stall.c: the open may itself recover).  It
 * takes the recovery lock exclusively (store.c), so it waits for every
 * transaction, database open and close in flight, each of them bounded
 * by its own stall watch; under that lock no other process is inside
 * Berkeley DB, and a peer that died holding a mutex is dead by then, so
 * the open recovers (DB_REGISTER) instead of waiting on its mutex.  As a
 * last bound, an attempt still opening after CTLRUN_OPEN_MS is killed
 * and counts as a try.
 *
 * And whatever the phase, a child asleep in a futex (Linux
 * /proc/PID/wchan) for CTLRUN_ASLEEP_MS is killed and counts as a try:
 * Berkeley DB's mutexes and lock waits sleep there, a lock wait times
 * out after 200 ms (store.c), so such a child waits for a process that
 * will not let go, and the stall watch did not see one die (seen once
 * in about 40 fault runs: a token prune and two responders asleep for
 * 40 s, until the test killed the command).  Its death is one the
 * other processes' stall watches see: they leave, and the next open
 * recovers.
 *
 * The child's standard error goes to a memory file, copied out only for
 * the attempt that decides the outcome: an attempt run again leaves one
 * line saying so.  SIGINT, SIGTERM and SIGHUP to the caller are passed
 * to the child, and the caller then dies of the same signal; the child
 * dies with the caller (PR_SET_PDEATHSIG).
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define CTLRUN_TRIES		8
#define CTLRUN_TOTAL_MS		20000	/* no attempt starts after this */
#define CTLRUN_OPEN_MS		10000	/* an attempt's (unwatched) open */
#define CTLRUN_ASLEEP_MS	3000	/* in a futex: waiting for good */
#define CTLRUN_BACKOFF_MS	50	/* doubled each try, up to 1 s */
#define CTLRUN_POLL_MS		50

/* How far an attempt got, in order (the marks on the pipe). */
enum mark {
	MARK_NONE,
	MARK_OPEN,	/* 'O': the environment is open */
	MARK_COMMIT,	/* 'C': its transaction is about to commit */
	MARK_DONE,	/* 'D': every write of the command is durable */
	MARK_FINAL,	/* 'F': the work returned its status itself */
	MARK__MAX
};

static const char mark_chars[MARK__MAX] = {
	[MARK_NONE] = '-',
	[MARK_OPEN] = 'O',
	[MARK_COMMIT] = 'C',
	[MARK_DONE] = 'D',
	[MARK_FINAL] = 'F',
};

/* Why an attempt was stopped: killed by us, or else by the watch. */
enum kill {
	KILL_NONE,
	KILL_OPEN,	/* its open took over CTLRUN_OPEN_MS */
	KILL_ASLEEP,	/* asleep in a futex for CTLRUN_ASLEEP_MS */
	KILL__MAX
};

static const char *const kill_why[KILL__MAX] = {
	[KILL_NONE] = "a process died inside the database environment",
	[KILL_OPEN] = "the database environment did not open in time",
	[KILL_ASLEEP] = "it waited for good on another process",
};

/* How an attempt ended: the decision taken on it. */
enum verdict {
	V_FINAL,	/* its status is the command's */
	V_DONE,		/* stopped after its writes: the command succeeded */
	V_AGAIN,	/* stopped before committing: run again */
	V_DOUBT,	/* stopped in its commit; not repeatable */
	V_SIGNAL	/* the caller was told to stop */
};

struct attempt {
	pid_t		 pid;
	int		 rd;		/* the child's marks */
	int		 err;		/* the child's stderr (memory file) */
	enum mark	 mark;		/* the furthest progress mark */
	int		 final;		/* MARK_FINAL seen */
	int		 status;	/* exit status, or 128 + signal */
	enum kill	 killed;	/* by us, and why */
	double		 asleep;	/* since when in a futex, or 0 */
};

/* The bounds above; shorter in tests (ctlrun_test_bounds). */
static double			 asleep_ms = CTLRUN_ASLEEP_MS;
static double			 open_ms = CTLRUN_OPEN_MS;
static double			 total_ms = CTLRUN_TOTAL_MS;

static int			 mark_fd = -1;	/* in the child */
static volatile sig_atomic_t	 stop_sig;	/* in the caller */
static const int		 stop_sigs[] = { SIGINT, SIGTERM, SIGHUP };

#define NSTOP	(sizeof(stop_sigs) / sizeof(stop_sigs[0]))

/* ------------------------------------------------------------------ */
/* In the child.                                                      */

static void
mark(enum mark m)
{
	if (mark_fd != -1 && write(mark_fd, &mark_chars[m], 1) != 1)
		mark_fd = -1;
}

/*
 * The stall timer runs from before the open to the commit: it only
 * looks once store_open() watches (STORE_WATCH), after the environment
 * is open and recovered.
 */
struct store *
ctlrun_open(const char *home, int flags)
{
	struct store	*s;

	stall_watch(NULL);
	stall_arm();
	if ((s = store_open_env(home, flags | STORE_WATCH)) == NULL) {
		stall_disarm();
		return NULL;
	}
	mark(MARK_OPEN);
	return s;
}

struct txn_wrap {
	enum store_rc	 (*fn)(struct store *, struct txn *, void *);
	void		*arg;
};

static enum store_rc
txn_marked(struct store *s, struct txn *t, void *arg)
{
	struct txn_wrap	*w = arg;
	enum store_rc	 rc;

	if ((rc = w->fn(s, t, w->arg)) == STORE_OK)
		mark(MARK_COMMIT);
	return rc;
}

enum store_rc
ctlrun_txn(struct store *s,
    enum store_rc (*fn)(struct store *, struct txn *, void *), void *arg)
{
	struct txn_wrap	 w = { fn, arg };

	return store_txn_run(s, txn_marked, &w);
}

/*
 * Every write durable: an end from now on is a success.  The watch stops
 * (the store is idle until the close), so that nothing printed next is
 * cut short.
 */
void
ctlrun_done(void)
{
	mark(MARK_DONE);
	stall_disarm();
}

int
ctlrun_transient(const struct store *s, unsigned troubles)
{
	return store_panicked(s) || store_troubles() != troubles;
}

/* The closing checkpoint can meet a killed peer's mutex too. */
void
ctlrun_close(struct store *s)
{
	if (s == NULL)
		return;
	stall_arm();
	store_close(s);
	stall_disarm();
	stall_watch(NULL);
}

/* ------------------------------------------------------------------ */
/* In the caller.                                                     */

static void
on_stop(int sig)
{
	stop_sig = sig;
}

/* Install (caught) or restore (!caught) the stop signals' actions. */
static void
stop_signals(int caught)
{
	struct sigaction	 sa;
	size_t			 i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = caught ? on_stop : SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < NSTOP; i++)
		sigaction(stop_sigs[i], &sa, NULL);
}

static void
stop_block(int how)
{
	sigset_t	 set;
	size_t		 i;

	sigemptyset(&set);
	for (i = 0; i < NSTOP; i++)
		sigaddset(&set, stop_sigs[i]);
	sigprocmask(how, &set, NULL);
}

/* The child: do the work, tell the caller on fd; never returns. */
static void
child(int (*work)(void *), void *arg, int fds[2], int err, pid_t parent)
{
	int	 rc;

	stop_signals(0);
	stop_block(SIG_UNBLOCK);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(LK_EXIT_TEMPFAIL);
	close(fds[0]);
	mark_fd = fds[1];
	if (dup2(err, STDERR_FILENO) == -1)
		_exit(LK_EXIT_TEMPFAIL);
	close(err);
	if ((rc = work(arg)) == CTLRUN_AGAIN)
		exit(LK_EXIT_TEMPFAIL);
	mark(MARK_FINAL);
	exit(rc);
}

/* Fork one attempt.  0, or -1 (a message written). */
static int
attempt_start(struct attempt *a, int (*work)(void *), void *arg)
{
	int	 fds[2];
	pid_t	 parent = getpid();

	memset(a, 0, sizeof(*a));
	a->rd = a->err = -1;
	fflush(stdout);
	fflush(stderr);
	if ((a->err = memfd_create("latchkeyctl-stderr", MFD_CLOEXEC)) == -1 ||
	    pipe2(fds, O_CLOEXEC) == -1) {
		lk_err("attempt: %s", strerror(errno));
		return -1;
	}
	stop_block(SIG_BLOCK);
	if ((a->pid = fork()) == 0)
		child(work, arg, fds, a->err, parent);
	stop_block(SIG_UNBLOCK);
	close(fds[1]);
	a->rd = fds[0];
	if (a->pid == -1) {
		lk_err("fork: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Read the marks there are; 0 at the end of the pipe (the child gone). */
static int
attempt_read(struct attempt *a)
{
	char	 buf[32];
	ssize_t	 n, i;
	int	 m;

	if ((n = read(a->rd, buf, sizeof(buf))) == -1)
		return errno == EINTR || errno == EAGAIN;
	for (i = 0; i < n; i++)
		for (m = MARK_NONE; m < MARK_FINAL; m++)
			if (buf[i] == mark_chars[m] && m > (int)a->mark)
				a->mark = (enum mark)m;
	a->final |= memchr(buf, mark_chars[MARK_FINAL], (size_t)n) != NULL;
	return n > 0;
}

static void
attempt_reap(struct attempt *a)
{
	int	 st;

	while (waitpid(a->pid, &st, 0) == -1)
		if (errno != EINTR) {
			a->status = LK_EXIT_TEMPFAIL;
			return;
		}
	a->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Is the process asleep in a futex?  Linux /proc/PID/wchan; 0 when it
 * cannot tell. */
static int
in_futex(pid_t pid)
{
	char	 path[64], w[64];
	ssize_t	 n;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, w, sizeof(w) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	w[n] = '\0';
	return strstr(w, "futex") != NULL;
}

/* Kill the attempt when its open is too long or it sleeps for good. */
static void
attempt_check(struct attempt *a, double open_by)
{
	double	 now = lk_mono_ms();

	if (a->killed != KILL_NONE)
		return;
	if (!in_futex(a->pid))
		a->asleep = 0;
	else if (a->asleep == 0)
		a->asleep = now;
	if (a->asleep != 0 && now - a->asleep > asleep_ms)
		a->killed = KILL_ASLEEP;
	else if (a->mark == MARK_NONE && now > open_by)
		a->killed = KILL_OPEN;
	if (a->killed != KILL_NONE)
		kill(a->pid, SIGKILL);
}

/*
 * Wait for the attempt to end, passing a stop signal on and killing it
 * when attempt_check says so.
 */
static void
attempt_wait(struct attempt *a)
{
	struct pollfd	 pfd;
	double		 open_by = lk_mono_ms() + open_ms;
	int		 passed = 0;

	for (;;) {
		if (stop_sig != 0 && !passed) {
			kill(a->pid, stop_sig);
			passed = 1;
		}
		attempt_check(a, open_by);
		pfd.fd = a->rd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, CTLRUN_POLL_MS) > 0 && !attempt_read(a))
			break;
	}
	attempt_reap(a);
}

static enum verdict
attempt_verdict(const struct attempt *a, int repeatable)
{
	if (stop_sig != 0)
		return V_SIGNAL;
	/* Only the stall exit and SIGKILL (ours, or the OOM killer's) are
	 * a stop from outside; any other signal is the command's end. */
	if (a->final || (a->status != LK_EXIT_TEMPFAIL &&
	    a->status != 128 + SIGKILL && a->killed == KILL_NONE))
		return V_FINAL;
	if (a->mark == MARK_DONE)
		return V_DONE;
	if (a->mark == MARK_COMMIT && !repeatable)
		return V_DOUBT;
	return V_AGAIN;
}

/* Copy the attempt's standard error out, then forget it. */
static void
attempt_end(struct attempt *a, int relay)
{
	char	 buf[4096];
	ssize_t	 n;

	if (relay && lseek(a->err, 0, SEEK_SET) == 0)
		while ((n = read(a->err, buf, sizeof(buf))) > 0)
			if (write(STDERR_FILENO, buf, (size_t)n) != n)
				break;
	if (a->err != -1)
		close(a->err);
	if (a->rd != -1)
		close(a->rd);
	a->err = a->rd = -1;
}

static void
backoff(int try)
{
	struct timespec	 ts;
	long		 ms = CTLRUN_BACKOFF_MS << (try < 5 ? try : 5);

	if (ms > 1000)
		ms = 1000;
	ms += (long)(getpid() % 16) * (ms / 16);	/* colliding callers part */
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

/* The command's status from the last attempt's verdict. */
static int
verdict_status(const struct attempt *a, enum verdict v, int tries)
{
	switch (v) {
	case V_FINAL:
		if (a->status > 128)
			fprintf(stderr, "latchkeyctl: %s\n",
			    strsignal(a->status - 128));
		return a->status;
	case V_DONE:
		return 0;
	case V_DOUBT:
		fputs("latchkeyctl: the database environment is being "
		    "recovered after a process died, and this command stopped "
		    "while committing: it may or may not have taken effect; "
		    "check before running it again\n", stderr);
		return LK_EXIT_TEMPFAIL;
	case V_SIGNAL:
		stop_signals(0);
		raise(stop_sig);
		return 128 + stop_sig;
	default:
		break;
	}
	if (a->killed == KILL_OPEN)
		fprintf(stderr, "latchkeyctl: the database environment did not "
		    "open within %d s (another process holds it?); gave up "
		    "after %d tr%s\n", (int)(open_ms / 1000), tries,
		    tries == 1 ? "y" : "ies");
	else
		fprintf(stderr, "latchkeyctl: the database environment is "
		    "being recovered after a process died; gave up after %d "
		    "tr%s\n", tries, tries == 1 ? "y" : "ies");
	return LK_EXIT_TEMPFAIL;
}

int
ctlrun(int (*work)(void *), void *arg, int repeatable)
{
	struct attempt	 a;
	enum verdict	 v = V_AGAIN;
	double		 give_up = lk_mono_ms() + total_ms;
	int		 try;

	memset(&a, 0, sizeof(a));
	a.rd = a.err = -1;
	stop_signals(1);
	for (try = 0; try < CTLRUN_TRIES; try++) {
		if (try > 0)
			backoff(try - 1);
		if (stop_sig != 0) {
			v = V_SIGNAL;
			break;
		}
		if (attempt_start(&a, work, arg) == -1) {
			attempt_end(&a, 0);
			stop_signals(0);
			return LK_EXIT_TEMPFAIL;
		}
		attempt_wait(&a);
		v = attempt_verdict(&a, repeatable);
		if (v != V_AGAIN || try + 1 == CTLRUN_TRIES ||
		    lk_mono_ms() > give_up)
			break;
		attempt_end(&a, 0);
		fprintf(stderr, "latchkeyctl: %s; trying again (%d of %d)\n",
		    kill_why[a.killed], try + 2, CTLRUN_TRIES);
	}
	attempt_end(&a, v != V_DONE);
	stop_signals(0);
	return verdict_status(&a, v, try + 1);
}

void
ctlrun_test_bounds(double asleep, double open, double total)
{
	asleep_ms = asleep;
	open_ms = open;
	total_ms = total;
}
