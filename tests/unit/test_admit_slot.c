/*
 * test_admit_slot: what a hash slot's holder has (lib/security/admit.c,
 * admit_mem.c), with test_admit's fixture (admit_fx.c):
 *  - a core of its own while it hashes, its cores back after;
 *  - the store let go of while it waits its turn, held again with its
 *    slot;
 *  - a verify in a held slot runs in the slot's shared memory, which it
 *    leaves wiped; the last process to close removes it; an object not
 *    this user's alone (mode) is not used.
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
#include "security/admit_int.h"
#include "admit_fx.h"
#include "fcntl_next.h"

/*
 * While it hashes, the holder of slot k runs on the k-th of its cores
 * alone (as many slots as cores), and has them all back after; with
 * more slots than cores, or hashes under a millisecond, it is left as
 * it is.
 */
static void
a_slot_holder_hashes_on_its_own_core(void **state)
{
	struct lk_ctx	 ctx = { .home = home };
	cpu_set_t	 all, now;
	struct admit	 a;
	json_t		*t;
	int		 n, slots;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	n = CPU_COUNT(&all);
	for (slots = 1; slots <= n + 2; slots++) {
		t = limits(slots <= n + 1 ? slots : 1, -1, 1000);
		fresh_file();
		memset(&a, 0, sizeof(a));
		admit_hash_enter(&ctx, tenant_of(t), &a);	/* opens */
		admit_hash_leave(&a);
		shared_hash_time(slots <= n + 1 ? 20 : 0.5);
		memset(&a, 0, sizeof(a));
		assert_int_equal(admit_hash_enter(&ctx, tenant_of(t), &a),
		    ADMIT_OK);
		assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
		if (n >= 2 && slots <= n)
			assert_int_equal(CPU_COUNT(&now), 1);
		else
			assert_true(CPU_EQUAL(&now, &all));
		admit_hash_leave(&a);
		assert_int_equal(sched_getaffinity(0, sizeof(now), &now), 0);
		assert_true(CPU_EQUAL(&now, &all));
		admit_close();
		json_decref(t);
	}
}

/* Whether someone holds the recovery lock of the store at dir (an
 * opener that must recover would wait): test_store.c's fenced(). */
static int
store_fenced(const char *dir)
{
	char		 path[PATH_MAX];
	struct flock	 fl;
	int		 fd;

	snprintf(path, sizeof(path), "%s/recovery.lock", dir);
	assert_true((fd = open(path, O_RDWR)) != -1);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_len = 1;
	assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
	close(fd);
	return fl.l_type != F_UNLCK;
}

/*
 * A login holding the store as a request does (store_hold) lets go of
 * it while it waits in line for a slot, and holds it again once the
 * slot is its own: an opener that must recover does not wait on the
 * line.  One slot, held by H; W, holding its store, waits.
 */
static void
a_waiter_lets_go_of_the_store(void **state)
{
	char		 dir[sizeof(home) + 8];
	json_t		*t = limits(1, -1, 60000);
	struct store	*s;
	struct actor	 h, w;
	struct report	 r;
	int		 fds[2];
	char		 c;

	(void)state;
	fresh_file();
	snprintf(dir, sizeof(dir), "%s/store", home);
	assert_non_null(s = store_open(dir, STORE_CREATE));
	store_close(s);
	assert_int_equal(pipe(fds), 0);
	actor(&h, fds[1], 0, t, 0);
	assert_int_equal(next_report(fds[0]).slot, 0);
	assert_int_equal(pipe(w.go), 0);
	if ((w.pid = fork()) == 0) {
		struct lk_ctx	 ctx = { .home = home };
		struct admit	 a;

		close(w.go[1]);
		admit_close();
		if ((ctx.store = store_open(dir, 0)) == NULL)
			_exit(1);
		store_hold(ctx.store);
		memset(&a, 0, sizeof(a));
		memset(&r, 0, sizeof(r));
		r.id = 1;
		r.slot = admit_hash_enter(&ctx, tenant_of(t), &a) == ADMIT_OK ?
		    a.slot : -1;
		if (write(fds[1], &r, sizeof(r)) != sizeof(r) ||
		    read(w.go[0], &c, 1) != 1)
			_exit(2);
		admit_hash_leave(&a);
		store_release(ctx.store);
		store_close(ctx.store);
		admit_close();
		_exit(0);
	}
	close(w.go[0]);
	waiting(1);
	assert_false(store_fenced(dir));
	release(&h);
	assert_int_equal(next_report(fds[0]).slot, 0);
	assert_true(store_fenced(dir));
	release(&w);
	reap(&h);
	reap(&w);
	assert_false(store_fenced(dir));
	close(fds[0]);
	close(fds[1]);
	json_decref(t);
}

/* A tenant of one slot and a 64 KiB argon2id policy. */
static json_t *
small_tenant(void)
{
	return json_pack("{s:i, s:i, s:i, s:{s:i, s:i, s:i}}", "hash_slots", 1,
	    "hash_queue", 0, "login_queue_budget_ms", 1000, "hash", "t", 1,
	    "m", 64,
	    "p", 1);
}

/* /dev/shm path of slot k's memory for this home (after admit_open). */
static void
slot_path(int k, char *buf, size_t sz)
{
	char		 p[PATH_MAX];
	struct stat	 st;

	snprintf(p, sizeof(p), "%s/run/admission", home);
	assert_int_equal(stat(p, &st), 0);
	snprintf(buf, sz, "/dev/shm/latchkey-%lu-%lu-%lu-%d",
	    (unsigned long)geteuid(), (unsigned long)st.st_dev,
	    (unsigned long)st.st_ino, k);
}

/* Map the object at path (64 KiB) for the test to look into. */
static unsigned char *
map_object(const char *path)
{
	unsigned char	*p;
	int		 fd;

	assert_true((fd = open(path, O_RDWR)) != -1);
	p = mmap(NULL, 64 * 1024, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(p != MAP_FAILED);
	return p;
}

static int
all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

/*
 * fcntl(2), interposed: in a slot_user told 'C', a try for the slot
 * memory's last-user lock that fails says 'p' on its reply pipe and
 * waits for a byte, so that another user closes meanwhile.
 */
static int	 pause_cmd = -1, pause_rep = -1;

int
fcntl(int fd, int cmd, ...)
{
	struct flock	*fl;
	va_list		 ap;
	void		*arg;
	int		 ret;
	char		 c;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	ret = fcntl_next(fd, cmd, arg);
	if (pause_rep != -1 && ret == -1 && cmd == F_OFD_SETLK &&
	    (fl = arg) != NULL && fl->l_type == F_WRLCK &&
	    fl->l_start == ADMIT_USERS) {
		if (write(pause_rep, "p", 1) != 1 ||
		    read(pause_cmd, &c, 1) != 1)
			_exit(5);
		pause_rep = -1;
		errno = EAGAIN;
	}
	return ret;
}

/* "pw" hashed under t's policy, into enc. */
static void
pw_encoded(const json_t *t, char *enc, size_t encsz)
{
	struct hash_policy	 pol;

	hash_policy_parse(json_object_get(t, "hash"), &pol);
	assert_int_equal(hash_password(&pol, "pw", 2, enc, encsz), 0);
}

/*
 * A child that takes slot 0 of t and then does as the parent says, one
 * byte on `cmd` per step, answering one byte on `rep` after each:
 * 'v' verify pw (must be HASH_OK) and px (HASH_MISMATCH) against enc,
 * 'l' leave the slot, 'c' admit_close and exit 0, 'C' the same, stopping
 * once after a failed try to be the slot memory's last user (fcntl
 * above).  Returned once the child holds slot 0 (its first answer).
 * Each child opens the admission file itself (an OFD lock is shared
 * with a forked copy).
 */
static pid_t
slot_user(const json_t *t, const char *enc, int cmd[2], int rep[2])
{
	struct lk_ctx		 ctx = { .home = home };
	struct hash_policy	 pol;
	struct admit		 a = { .peer_fd = 0 };
	pid_t			 pid;
	int			 rehash;
	char			 c;

	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(rep), 0);
	if ((pid = fork()) != 0) {
		close(cmd[0]);
		close(rep[1]);
		assert_int_equal(read(rep[0], &c, 1), 1);
		return pid;
	}
	close(cmd[1]);
	close(rep[0]);
	hash_policy_parse(json_object_get(t, "hash"), &pol);
	if (admit_hash_enter(&ctx, tenant_of(t), &a) != ADMIT_OK || a.slot != 0)
		_exit(1);
	for (;;) {
		if (write(rep[1], "r", 1) != 1 || read(cmd[0], &c, 1) != 1)
			_exit(2);
		if (c == 'v' &&
		    (hash_verify(&pol, enc, "pw", 2, &rehash) != HASH_OK ||
		    hash_verify(&pol, enc, "px", 2, &rehash) != HASH_MISMATCH))
			_exit(3);
		if (c == 'l')
			admit_hash_leave(&a);
		if (c == 'C') {
			pause_cmd = cmd[0];
			pause_rep = rep[1];
			c = 'c';
		}
		if (c == 'c') {
			admit_close();
			_exit(0);
		}
	}
}

/* Tell a slot_user to do c and wait for its answer. */
static void
say(int cmd[2], int rep[2], char c)
{
	char	 r;

	assert_int_equal(write(cmd[1], &c, 1), 1);
	assert_int_equal(read(rep[0], &r, 1), 1);
}

static void
reap_ok(pid_t pid, int cmd[2], int rep[2])
{
	char	 c = 'c';

	assert_int_equal(write(cmd[1], &c, 1), 1);
	reap_pid(pid);
	close(cmd[1]);
	close(rep[0]);
}

static void
verify_runs_in_slot_memory_removed_by_last_user(void **state)
{
	struct stat		 st;
	char			 enc[HASH_ENCODED_MAX], path[PATH_MAX];
	unsigned char		*mem;
	json_t			*t = small_tenant();
	int			 acmd[2], arep[2], bcmd[2], brep[2];
	pid_t			 a, b;

	(void)state;
	pw_encoded(t, enc, sizeof(enc));
	a = slot_user(t, enc, acmd, arep);		/* A holds slot 0 */
	slot_path(0, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 64 * 1024);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	/* A's verify runs in the object: it overwrites the marker, and
	 * argon2 leaves the memory wiped. */
	mem = map_object(path);
	memset(mem, 0xAA, 64 * 1024);
	say(acmd, arep, 'v');
	assert_true(all_bytes(mem, 64 * 1024, 0));
	say(acmd, arep, 'l');

	/* B uses it too: A's close leaves it, B's (the last) removes it. */
	b = slot_user(t, enc, bcmd, brep);
	reap_ok(a, acmd, arep);
	assert_int_equal(stat(path, &st), 0);
	say(bcmd, brep, 'l');
	reap_ok(b, bcmd, brep);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	munmap(mem, 64 * 1024);
	json_decref(t);
}

/*
 * Two users close at once: A tries to be the last one while B still
 * uses the memory, and B closes before A has gone.  The later of the
 * two to look removes the objects (each lets go of its own share before
 * it looks).
 */
static void
slot_memory_removed_when_users_close_together(void **state)
{
	struct stat		 st;
	char			 enc[HASH_ENCODED_MAX], path[PATH_MAX];
	json_t			*t = small_tenant();
	int			 acmd[2], arep[2], bcmd[2], brep[2];
	pid_t			 a, b;

	(void)state;
	pw_encoded(t, enc, sizeof(enc));
	a = slot_user(t, enc, acmd, arep);
	say(acmd, arep, 'l');
	b = slot_user(t, enc, bcmd, brep);
	slot_path(0, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	say(bcmd, brep, 'l');
	/* A's try fails (B's share), and A waits before it goes on. */
	say(acmd, arep, 'C');
	reap_ok(b, bcmd, brep);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(write(acmd[1], "g", 1), 1);
	reap_pid(a);
	close(acmd[1]);
	close(arep[0]);
	json_decref(t);
}

static void
object_not_ours_alone_is_not_used(void **state)
{
	char			 enc[HASH_ENCODED_MAX], path[PATH_MAX];
	unsigned char		*mem;
	json_t			*t = small_tenant();
	int			 fd, cmd[2], rep[2];
	pid_t			 pid;

	(void)state;
	pw_encoded(t, enc, sizeof(enc));
	slot_path(0, path, sizeof(path));	/* the file exists by now */
	assert_true((fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600)) != -1);
	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(ftruncate(fd, 64 * 1024), 0);
	close(fd);
	mem = map_object(path);
	memset(mem, 0xAA, 64 * 1024);
	pid = slot_user(t, enc, cmd, rep);
	say(cmd, rep, 'v');
	/* Verified in private memory: the readable object is untouched. */
	assert_true(all_bytes(mem, 64 * 1024, 0xAA));
	say(cmd, rep, 'l');
	reap_ok(pid, cmd, rep);
	munmap(mem, 64 * 1024);
	unlink(path);
	json_decref(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_slot_holder_hashes_on_its_own_core),
		cmocka_unit_test(a_waiter_lets_go_of_the_store),
		cmocka_unit_test(verify_runs_in_slot_memory_removed_by_last_user),
		cmocka_unit_test(slot_memory_removed_when_users_close_together),
		cmocka_unit_test(object_not_ours_alone_is_not_used),
	};

	return cmocka_run_group_tests(tests, admit_fx_setup, admit_fx_teardown);
}
