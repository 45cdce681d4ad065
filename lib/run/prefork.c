/*
 * prefork.c: LATCHKEY_CHILDREN, a process manager inside the responder,
 * as PHP_FCGI_CHILDREN is in php-cgi.
 *
 * A web server that starts the responder itself (lighttpd's bin-path,
 * spawn-fcgi) gives it one listening FastCGI socket on descriptor 0.
 * With LATCHKEY_CHILDREN=N the started process becomes a supervisor: it
 * forks N workers that all accept on that socket and serve requests, and
 * replaces a worker that dies at once, not on the web server's next
 * timer (lighttpd 1.4 respawns a dead backend only once a second).  The
 * supervisor itself never opens the database, never reads a request and
 * holds no lock, so nothing a worker's crash leaves behind can stop it.
 *
 * SIGTERM, SIGHUP or SIGINT to the supervisor are passed to the workers
 * (each finishes the request it is serving, closes the store and exits)
 * and the supervisor exits once they are gone.  A worker whose
 * supervisor dies (PR_SET_PDEATHSIG) closes the socket to new requests
 * and ends the same way, so the web server starts a new supervisor.
 *
 * A worker that keeps dying at start (a broken installation) would make
 * this a fork loop: more than PREFORK_BURST deaths within one second
 * and the supervisor waits a second before it forks again.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"

#define PREFORK_ORPHAN	SIGUSR2		/* a worker's parent-death signal */
#define PREFORK_BURST	(2 * PREFORK_MAX)	/* deaths a second before a pause */
#define PREFORK_STOP_S	10		/* s a stopping worker may take */

static volatile sig_atomic_t	 stopping;

static void
on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/*
 * In a worker, when the supervisor died: refuse new connections on the
 * shared socket at once (the web server then starts a new supervisor
 * instead of taking the old socket for a live one; lighttpd 1.4 never
 * restarts a backend whose socket answered), and quit like SIGTERM: a
 * request being served is answered first.
 */
static void
on_orphan(int sig)
{
	(void)sig;
	shutdown(0, SHUT_RDWR);
	raise(SIGTERM);
}

static void
on_child(int sig)
{
	(void)sig;	/* only interrupts sigsuspend() */
}

int
prefork_children(const char *s)
{
	char	*end;
	long	 n;

	if (s == NULL || *s == '\0')
		return 0;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0 || n > PREFORK_MAX) {
		lk_warn("LATCHKEY_CHILDREN=%.16s is not 0..%d: ignored", s,
		    PREFORK_MAX);
		return 0;
	}
	return (int)n;
}

/* Fork one worker. The worker returns 0; the supervisor its pid, or -1. */
static pid_t
spawn(pid_t self, const sigset_t *old)
{
	pid_t	 pid;

	if ((pid = fork()) == -1) {
		lk_err("fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0)
		return pid;
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(PREFORK_ORPHAN, on_orphan);
	sigprocmask(SIG_SETMASK, old, NULL);
	if (prctl(PR_SET_PDEATHSIG, PREFORK_ORPHAN, 0, 0, 0) == -1 ||
	    getppid() != self)
		_exit(0);	/* the supervisor is already gone */
	return 0;
}

/* The supervisor. */
struct sup {
	pid_t		 pids[PREFORK_MAX];	/* 0: no worker in the slot */
	pid_t		 self;
	int		 n, alive;
	int		 deaths;	/* within the second from window */
	double		 window;	/* s, monotonic */
	sigset_t	 block;		/* blocked but while waiting */
	sigset_t	 old;		/* the workers' mask */
	sigset_t	 wait;		/* the mask while waiting */
};

static const int	 stop_sigs[] = { SIGTERM, SIGHUP, SIGINT };
#define NSTOP_SIGS	 (sizeof(stop_sigs) / sizeof(stop_sigs[0]))

/* The handlers; SIGCHLD and the stop signals are blocked but while the
 * supervisor waits (no wake-up is lost between a check and the wait). */
static void
sup_signals(struct sup *s)
{
	struct sigaction	 sa;
	size_t			 i;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	for (i = 0; i < NSTOP_SIGS; i++)
		sigaction(stop_sigs[i], &sa, NULL);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&s->block);
	sigaddset(&s->block, SIGCHLD);
	for (i = 0; i < NSTOP_SIGS; i++)
		sigaddset(&s->block, stop_sigs[i]);
	sigprocmask(SIG_BLOCK, &s->block, &s->old);
	s->wait = s->old;
	sigdelset(&s->wait, SIGCHLD);
	for (i = 0; i < NSTOP_SIGS; i++)
		sigdelset(&s->wait, stop_sigs[i]);
}

/* Fork a worker into each empty slot (none after a burst of deaths).
 * 1 in a new worker, 0 in the supervisor. */
static int
sup_fill(struct sup *s)
{
	pid_t	 pid;
	int	 i;

	for (i = 0; i < s->n && !stopping; i++) {
		if (s->pids[i] != 0)
			continue;
		if (s->deaths > PREFORK_BURST)
			break;
		if ((pid = spawn(s->self, &s->old)) == 0)
			return 1;
		if (pid > 0) {
			s->pids[i] = pid;
			s->alive++;
		}
	}
	return 0;
}

/* Until a worker dies or a stop signal comes; after a burst of deaths,
 * a second's pause. */
static void
sup_wait(struct sup *s)
{
	struct timespec	 ts = { 1, 0 };

	if (s->deaths <= PREFORK_BURST) {
		sigsuspend(&s->wait);
		return;
	}
	lk_err("supervisor: workers keep dying; pausing 1 s");
	sigprocmask(SIG_SETMASK, &s->wait, NULL);
	nanosleep(&ts, NULL);
	sigprocmask(SIG_BLOCK, &s->block, NULL);
	s->deaths = 0;
	s->window = lk_mono_ms() / 1e3;
}

/* Empty the slot of worker pid: 1, or 0 when pid is not a worker. */
static int
sup_forget(struct sup *s, pid_t pid)
{
	int	 i;

	for (i = 0; i < s->n; i++)
		if (s->pids[i] == pid) {
			s->pids[i] = 0;
			s->alive--;
			return 1;
		}
	return 0;
}

/* Collect the workers that died, counting the deaths of this second. */
static void
sup_reap(struct sup *s)
{
	pid_t	 pid;
	int	 st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (!sup_forget(s, pid))
			continue;
		if (WIFSIGNALED(st))
			lk_warn("worker %d killed by signal %d: replacing it",
			    (int)pid, WTERMSIG(st));
		else
			lk_warn("worker %d exited %d: replacing it",
			    (int)pid, WEXITSTATUS(st));
		if (lk_mono_ms() / 1e3 - s->window > 1.0) {
			s->window = lk_mono_ms() / 1e3;
			s->deaths = 0;
		}
		s->deaths++;
	}
}

static void
sup_kill(const struct sup *s, int sig)
{
	int	 i;

	for (i = 0; i < s->n; i++)
		if (s->pids[i] != 0)
			kill(s->pids[i], sig);
}

/* Stop: every worker finishes its request and exits; one still there
 * after PREFORK_STOP_S (asleep for good) is killed. */
static void
sup_stop(struct sup *s)
{
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };
	double		 t0;
	pid_t		 pid;
	int		 st, killed = 0;

	sup_kill(s, SIGTERM);
	t0 = lk_mono_ms() / 1e3;
	while (s->alive > 0) {
		if ((pid = waitpid(-1, &st, WNOHANG)) == -1)
			break;
		if (pid > 0) {
			sup_forget(s, pid);
			continue;
		}
		if (!killed && lk_mono_ms() / 1e3 - t0 > PREFORK_STOP_S) {
			lk_warn("supervisor: workers still running after "
			    "%d s: killing them", PREFORK_STOP_S);
			sup_kill(s, SIGKILL);
			killed = 1;
		}
		nanosleep(&ts, NULL);
	}
}

int
prefork_run(int n, int *is_worker)
{
	struct sup	 s;

	*is_worker = 0;
	memset(&s, 0, sizeof(s));
	s.self = getpid();
	s.n = n;
	s.window = lk_mono_ms() / 1e3;
	sup_signals(&s);
	lk_info("supervisor %d: %d workers", (int)s.self, n);
	while (!stopping) {
		if (sup_fill(&s)) {
			*is_worker = 1;
			return 0;
		}
		if (s.alive == 0 && s.deaths <= PREFORK_BURST) {
			lk_err("supervisor: no worker could be started");
			break;
		}
		sup_wait(&s);
		sup_reap(&s);
	}
	sup_stop(&s);
	lk_info("supervisor %d: stopped", (int)s.self);
	return stopping ? 0 : 1;
}
