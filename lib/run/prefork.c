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

int
prefork_run(int n, int *is_worker)
{
	struct sigaction	 sa;
	sigset_t		 block, old, wait;
	pid_t			 pids[PREFORK_MAX], pid, self = getpid();
	double			 window = lk_mono_ms() / 1e3;
	int			 i, st, alive = 0, deaths = 0, killed = 0;
	static const int	 sigs[] = { SIGTERM, SIGHUP, SIGINT };

	*is_worker = 0;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	for (i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, NULL);
	sa.sa_handler = on_child;
	sigaction(SIGCHLD, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	for (i = 0; i < 3; i++)
		sigaddset(&block, sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	wait = old;
	sigdelset(&wait, SIGCHLD);
	for (i = 0; i < 3; i++)
		sigdelset(&wait, sigs[i]);

	memset(pids, 0, sizeof(pids));
	lk_info("supervisor %d: %d workers", (int)self, n);
	while (!stopping) {
		for (i = 0; i < n && !stopping; i++) {
			if (pids[i] != 0)
				continue;
			if (deaths > PREFORK_BURST)
				break;
			if ((pid = spawn(self, &old)) == 0) {
				*is_worker = 1;
				return 0;
			}
			if (pid > 0) {
				pids[i] = pid;
				alive++;
			}
		}
		if (alive == 0 && deaths <= PREFORK_BURST) {
			lk_err("supervisor: no worker could be started");
			break;
		}
		if (deaths > PREFORK_BURST) {
			struct timespec ts = { 1, 0 };

			lk_err("supervisor: workers keep dying; pausing 1 s");
			sigprocmask(SIG_SETMASK, &wait, NULL);
			nanosleep(&ts, NULL);
			sigprocmask(SIG_BLOCK, &block, NULL);
			deaths = 0;
			window = lk_mono_ms() / 1e3;
		} else
			sigsuspend(&wait);
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			for (i = 0; i < n; i++)
				if (pids[i] == pid)
					break;
			if (i == n)
				continue;
			pids[i] = 0;
			alive--;
			if (WIFSIGNALED(st))
				lk_warn("worker %d killed by signal %d: "
				    "replacing it", (int)pid, WTERMSIG(st));
			else
				lk_warn("worker %d exited %d: replacing it",
				    (int)pid, WEXITSTATUS(st));
			if (lk_mono_ms() / 1e3 - window > 1.0) {
				window = lk_mono_ms() / 1e3;
				deaths = 0;
			}
			deaths++;
		}
	}
	/* Stop: every worker finishes its request and exits; one still
	 * there after PREFORK_STOP_S (asleep for good) is killed. */
	for (i = 0; i < n; i++)
		if (pids[i] != 0)
			kill(pids[i], SIGTERM);
	window = lk_mono_ms() / 1e3;
	while (alive > 0) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };

		if ((pid = waitpid(-1, &st, WNOHANG)) == -1)
			break;
		if (pid == 0) {
			if (!killed && lk_mono_ms() / 1e3 - window > PREFORK_STOP_S) {
				lk_warn("supervisor: workers still running after "
				    "%d s: killing them", PREFORK_STOP_S);
				for (i = 0; i < n; i++)
					if (pids[i] != 0)
						kill(pids[i], SIGKILL);
				killed = 1;
			}
			nanosleep(&ts, NULL);
			continue;
		}
		for (i = 0; i < n; i++)
			if (pids[i] == pid) {
				pids[i] = 0;
				alive--;
			}
	}
	lk_info("supervisor %d: stopped", (int)self);
	return stopping ? 0 : 1;
}
