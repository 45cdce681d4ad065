/*
 * admit_fx.c: the fixture test_admit and test_admit_slot share: a home
 * with its admission file, tenants of given limits, and actors (forked
 * processes, each with its own open file description, ordered through
 * pipes) that ask for a slot or a place and report.
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
#include "admit_fx.h"

char		 home[sizeof(ADMIT_FX_HOME)] = ADMIT_FX_HOME;

void
sleep_ms(double ms)
{
	struct timespec	 ts;

	ts.tv_sec = (time_t)(ms / 1e3);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1e3) * 1e6);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Admission limits, and the smallest hash policy: a slot's first holder
 * sizes its shared memory (m KiB) before it reports, which at the
 * default 19 MiB shifts these tests' schedule by milliseconds. */
/* Admission limits (queue, budget_ms -1: none set) and the smallest
 * hash policy. */
json_t *
limits(int slots, int queue, int budget_ms)
{
	json_t	*t;

	t = json_pack("{s:i, s:{s:i, s:i, s:i}}", "hash_slots", slots,
	    "hash", "t", 1, "m", 8, "p", 1);
	if (queue != -1)
		json_object_set_new(t, "hash_queue", json_integer(queue));
	if (budget_ms != -1)
		json_object_set_new(t, "login_queue_budget_ms",
		    json_integer(budget_ms));
	return t;
}


int		 actor_close = -1;


/* Fork x's process, with the pipe that tells it to go on: 1 in the
 * parent, 0 in the child. */
static int
actor_fork(struct actor *x)
{
	assert_int_equal(pipe(x->go), 0);
	if ((x->pid = fork()) != 0) {
		close(x->go[0]);
		return 1;
	}
	close(x->go[1]);
	return 0;
}

/*
 * Fork actor `id`: it asks for a slot under the tenant settings t (the
 * web server connection peer, 0 none), reports to fd and, admitted,
 * holds the slot until told to leave (release()).  No step waits for a
 * clock: the parent orders them through the pipes.
 */
void
actor(struct actor *x, int fd, int id, const json_t *t, int peer)
{
	struct lk_ctx		 ctx = { .home = home };
	struct admit		 a;
	struct admit_limits	 l;
	struct report		 r;
	char			 c;

	if (actor_fork(x))
		return;
	if (actor_close != -1)
		close(actor_close);
	admit_close();		/* the parent's open file is not ours */
	memset(&a, 0, sizeof(a));
	a.peer_fd = peer;
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.slot = admit_hash_enter(&ctx, tenant_of(t), &a) == ADMIT_OK ?
	    a.slot : -1;
	r.retry_after = a.retry_after;
	admit_limits(tenant_of(t), &l);
	r.hash_ms = l.hash_ms;
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	if (r.slot != -1) {
		if (read(x->go[0], &c, 1) != 1)
			_exit(2);
		admit_hash_leave(&a);
	}
	admit_close();
	_exit(0);
}

/*
 * Fork a placer `id`: a login arriving under t (admit_arrive), which
 * reports whether it was placed and, placed, keeps its place until told
 * to depart.
 */
void
placer(struct actor *x, int fd, int id, const json_t *t)
{
	struct lk_ctx	 ctx = { .home = home };
	struct admit	 a;
	struct report	 r;
	char		 c;

	if (actor_fork(x))
		return;
	admit_close();
	memset(&a, 0, sizeof(a));
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.slot = -1;
	r.placed = admit_arrive(&ctx, tenant_of(t), &a) == ADMIT_OK;
	r.retry_after = a.retry_after;
	if (write(fd, &r, sizeof(r)) != sizeof(r))
		_exit(1);
	if (r.placed && read(x->go[0], &c, 1) != 1)
		_exit(2);
	admit_depart();
	admit_close();
	_exit(0);
}

void
release(struct actor *x)
{
	assert_int_equal(write(x->go[1], "l", 1), 1);
}

struct report
next_report(int fd)
{
	struct pollfd	 p = { fd, POLLIN, 0 };
	struct report	 r;

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(read(fd, &r, sizeof(r)), sizeof(r));
	return r;
}

void
reap_pid(pid_t pid)
{
	int	 status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

void
reap(struct actor *x)
{
	close(x->go[1]);
	reap_pid(x->pid);
}

/* Wait (10 s at most) until n logins wait in line. */
void
waiting(int n)
{
	struct lk_ctx	 ctx = { .home = home };
	int		 i;

	for (i = 0; i < 10000 && admit_waiting(&ctx) != n; i++)
		sleep_ms(1);
	assert_int_equal(admit_waiting(&ctx), n);
	admit_close();
}

/* A fresh admission file: no hash time measured (100 ms guessed), an
 * empty line. */
void
fresh_file(void)
{
	char	 path[128];

	admit_close();
	snprintf(path, sizeof(path), "%s/run/admission", home);
	assert_int_equal(truncate(path, 0) == 0 || errno == ENOENT, 1);
}


/* Set the hash time every process shares (the admission file's first
 * eight bytes) to ms. */
void
shared_hash_time(double ms)
{
	char	 path[128];
	int	 fd;

	snprintf(path, sizeof(path), "%s/run/admission", home);
	assert_true((fd = open(path, O_RDWR)) != -1);
	assert_int_equal(pwrite(fd, &ms, sizeof(ms), 0), (ssize_t)sizeof(ms));
	close(fd);
}

int
admit_fx_setup(void **state)
{
	(void)state;
	return mkdtemp(home) == NULL ? -1 : 0;
}

int
admit_fx_teardown(void **state)
{
	char	 cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", home);
	return system(cmd) == 0 ? 0 : -1;
}
