/*
 * proc.c: what a process asks the kernel for once and keeps: its pid,
 * and random bytes for identifiers that are not secrets (request ids),
 * drawn from getrandom(2) a batch at a time.  Each was a system call on
 * every request.  A forked child starts afresh (pthread_atfork): its pid
 * is its own, and it never hands out bytes its parent still holds.
 */
#include <sys/random.h>

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

#define POOL_BYTES	256

static pid_t		 pid;		/* 0: not asked in this process */
static unsigned char	 pool[POOL_BYTES];
static size_t		 pool_left;	/* unused bytes at pool's end */
static int		 registered;

static void
forget(void)
{
	pid = 0;
	pool_left = 0;
	memset(pool, 0, sizeof(pool));
}

static void
watch_fork(void)
{
	if (!registered && pthread_atfork(NULL, NULL, forget) == 0)
		registered = 1;
}

pid_t
lk_pid(void)
{
	if (pid == 0) {
		watch_fork();
		pid = getpid();
	}
	return pid;
}

int
lk_id_bytes(void *out, size_t n)
{
	ssize_t	 got;

	if (n > sizeof(pool))
		return -1;
	if (n > pool_left) {
		watch_fork();
		got = getrandom(pool, sizeof(pool), GRND_NONBLOCK);
		if (got != (ssize_t)sizeof(pool))
			return -1;
		pool_left = sizeof(pool);
	}
	memcpy(out, pool + sizeof(pool) - pool_left, n);
	memset(pool + sizeof(pool) - pool_left, 0, n);
	pool_left -= n;
	return 0;
}
