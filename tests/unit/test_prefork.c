/*
 * test_prefork: LATCHKEY_CHILDREN (lib/run/prefork.c).  The variable's
 * parsing, and a real supervisor in a child process: its workers report
 * their pids through a pipe, a killed worker is replaced at once, and
 * SIGTERM ends the workers and then the supervisor with status 0.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
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

#define WORKERS	3

static void
children_variable(void **state)
{
	(void)state;
	assert_int_equal(prefork_children(NULL), 0);
	assert_int_equal(prefork_children(""), 0);
	assert_int_equal(prefork_children("0"), 0);
	assert_int_equal(prefork_children("8"), 8);
	assert_int_equal(prefork_children("256"), 256);
	assert_int_equal(prefork_children("257"), 0);
	assert_int_equal(prefork_children("-1"), 0);
	assert_int_equal(prefork_children("8x"), 0);
	assert_int_equal(prefork_children("99999999999999999999"), 0);
}

/* Read one worker pid from the pipe within ms, or -1. */
static pid_t
next_pid(int fd, int ms)
{
	struct pollfd	 p = { fd, POLLIN, 0 };
	pid_t		 pid;

	if (poll(&p, 1, ms) != 1 || read(fd, &pid, sizeof(pid)) != sizeof(pid))
		return -1;
	return pid;
}

/* Running: exists and is not a zombie (an orphan's new parent may not
 * reap it at once, or at all in a container). */
static int
alive(pid_t pid)
{
	char	 path[64], buf[256], *p;
	FILE	*f;
	int	 run;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	run = fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] != 'Z';
	fclose(f);
	return run;
}

static void
supervisor_replaces_and_stops(void **state)
{
	pid_t	 sup, pids[WORKERS], again;
	int	 fds[2], i, st, worker, rc;
	double	 t0;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	if ((sup = fork()) == 0) {
		close(fds[0]);
		rc = prefork_run(WORKERS, &worker);
		if (worker) {
			pid_t me = getpid();

			if (write(fds[1], &me, sizeof(me)) != sizeof(me))
				_exit(2);
			for (;;)
				pause();	/* SIGTERM (default) ends it */
		}
		_exit(rc);
	}
	assert_true(sup > 0);
	close(fds[1]);
	for (i = 0; i < WORKERS; i++) {
		pids[i] = next_pid(fds[0], 5000);
		assert_true(pids[i] > 0);
	}
	/* A killed worker is replaced at once. */
	t0 = lk_mono_ms();
	assert_int_equal(kill(pids[0], SIGKILL), 0);
	again = next_pid(fds[0], 2000);
	assert_true(again > 0);
	assert_true(lk_mono_ms() - t0 < 500);
	for (i = 0; i < WORKERS; i++)
		assert_true(again != pids[i]);
	/* SIGTERM: the workers go, then the supervisor, status 0. */
	assert_int_equal(kill(sup, SIGTERM), 0);
	assert_int_equal(waitpid(sup, &st, 0), sup);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_false(alive(again));
	for (i = 1; i < WORKERS; i++)
		assert_false(alive(pids[i]));
	close(fds[0]);
}

/* A worker whose supervisor is killed exits too (PR_SET_PDEATHSIG). */
static void
orphaned_worker_exits(void **state)
{
	pid_t	 sup, pid;
	int	 fds[2], worker, i;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	if ((sup = fork()) == 0) {
		close(fds[0]);
		(void)prefork_run(1, &worker);
		if (worker) {
			pid_t me = getpid();

			if (write(fds[1], &me, sizeof(me)) != sizeof(me))
				_exit(2);
			for (;;)
				pause();
		}
		_exit(0);
	}
	close(fds[1]);
	pid = next_pid(fds[0], 5000);
	assert_true(pid > 0);
	assert_int_equal(kill(sup, SIGKILL), 0);
	assert_int_equal(waitpid(sup, NULL, 0), sup);
	/* Reparented to init (or a subreaper), which reaps it. */
	for (i = 0; i < 200 && alive(pid); i++)
		usleep(10000);
	assert_false(alive(pid));
	close(fds[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(children_variable),
		cmocka_unit_test(supervisor_replaces_and_stops),
		cmocka_unit_test(orphaned_worker_exits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
