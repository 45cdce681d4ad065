/*
 * test_proc.c: lib/base/proc.c, the pid and the identifier bytes a
 * process keeps: asked once, and afresh in a forked child.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"

static void
pid_is_the_processes_own(void **state)
{
	(void)state;
	assert_int_equal(lk_pid(), getpid());
	assert_int_equal(lk_pid(), getpid());
}

/* Each call hands out bytes no other call has: across a batch's end
 * too (16 ids of 16 bytes make a batch). */
static void
id_bytes_never_repeat(void **state)
{
	unsigned char	 ids[40][16];
	int		 i, j;

	(void)state;
	for (i = 0; i < 40; i++)
		assert_int_equal(lk_id_bytes(ids[i], sizeof(ids[i])), 0);
	for (i = 0; i < 40; i++)
		for (j = i + 1; j < 40; j++)
			assert_memory_not_equal(ids[i], ids[j], sizeof(ids[i]));
}

static void
id_bytes_beyond_a_batch_refused(void **state)
{
	unsigned char	 big[257];

	(void)state;
	assert_int_equal(lk_id_bytes(big, sizeof(big)), -1);
	assert_int_equal(lk_id_bytes(big, 256), 0);
}

/*
 * A child forked while the parent holds unused bytes and its pid: the
 * child's pid is its own, and its next bytes are not the parent's next
 * ones (the child reports both through a pipe).
 */
static void
forked_child_starts_afresh(void **state)
{
	unsigned char	 mine[16], theirs[16];
	pid_t		 child, seen;
	int		 fds[2], status;

	(void)state;
	assert_int_equal(lk_id_bytes(mine, sizeof(mine)), 0);
	(void)lk_pid();
	assert_int_equal(pipe(fds), 0);
	if ((child = fork()) == 0) {
		seen = lk_pid();
		if (lk_id_bytes(theirs, sizeof(theirs)) == -1 ||
		    write(fds[1], &seen, sizeof(seen)) != sizeof(seen) ||
		    write(fds[1], theirs, sizeof(theirs)) != sizeof(theirs))
			_exit(1);
		_exit(0);
	}
	assert_true(child > 0);
	close(fds[1]);
	assert_int_equal(read(fds[0], &seen, sizeof(seen)), sizeof(seen));
	assert_int_equal(read(fds[0], theirs, sizeof(theirs)),
	    sizeof(theirs));
	close(fds[0]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(seen, child);
	assert_int_equal(lk_pid(), getpid());
	assert_int_equal(lk_id_bytes(mine, sizeof(mine)), 0);
	assert_memory_not_equal(mine, theirs, sizeof(mine));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pid_is_the_processes_own),
		cmocka_unit_test(id_bytes_never_repeat),
		cmocka_unit_test(id_bytes_beyond_a_batch_refused),
		cmocka_unit_test(forked_child_starts_afresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
