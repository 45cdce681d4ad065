/*
 * store_ckp.c: the Berkeley DB environment's checkpoints (the closing
 * one is store.c's).  Log files are removed (DB_LOG_AUTO_REMOVE) only
 * once a checkpoint no longer needs them, and the responders are
 * long-lived: every STORE_CKP_EVERY commits a process checkpoints, when
 * at least STORE_CKP_KB of log were written since the last checkpoint.
 *
 * A checkpoint writes the cache's dirty pages.  A page a writer holds
 * at that moment is tried again after the others, and when some are
 * still held after a whole pass Berkeley DB sleeps a second before the
 * next (mp/mp_sync.c, __memp_sync_int: __os_yield(env, 1, 0)); the stall
 * watch's tick cut that to 100-200 ms.  Under a storm of writes the hot
 * pages nearly always have a writer, so the checkpoint slept, holding
 * the environment's checkpoint mutex, and every process whose turn to
 * checkpoint came queued behind it, each with a committed answer not
 * yet sent: the whole service stopped for 200 ms a few times a second
 * (docs/performance.md, rotating refresh).  So:
 * - within a checkpoint, Berkeley DB's sleeps last STORE_CKP_NAP_US
 *   (store_bdb_yield, its documented db_env_set_func_yield hook): a writer
 *   holds a page for microseconds;
 * - at most one process checkpoints at a time (STORE_CKP_BYTE of the
 *   lock file, taken without waiting); the others skip theirs, which that
 *   one's covers;
 * - a responder checkpoints after its answer is sent (STORE_CKP_LATER,
 *   ctx_idle), not before.
 */
#include <fcntl.h>
#include <sched.h>
#include <time.h>

#include "extern.h"
#include "store_int.h"

#define STORE_CKP_EVERY		128	/* commits between checkpoint attempts */
#define STORE_CKP_KB		1024	/* ... which run only after this much log */
#define STORE_CKP_NAP_US	1000	/* a checkpoint's sleeps */

static int	 in_checkpoint;

/* Berkeley DB's __os_yield (os/os_yield.c) with the checkpoint's sleeps
 * shortened: a sleep a signal ends early, as its own select(2) is. */
int
store_bdb_yield(u_long secs, u_long usecs)
{
	struct timespec	 ts;

	if (secs == 0 && usecs == 0)
		return sched_yield();
	if (in_checkpoint && (secs > 0 || usecs > STORE_CKP_NAP_US)) {
		secs = 0;
		usecs = STORE_CKP_NAP_US;
	}
	ts.tv_sec = (time_t)(secs + usecs / 1000000);
	ts.tv_nsec = (long)(usecs % 1000000) * 1000;
	(void)nanosleep(&ts, NULL);
	return 0;
}

void
store_env_checkpoint(struct store *s, u_int32_t kb)
{
	int	 ret;

	in_checkpoint = 1;
	ret = s->env->txn_checkpoint(s->env, kb, 0, 0);
	in_checkpoint = 0;
	if (ret != 0)
		lk_warn("checkpoint: %s", db_strerror(ret));
}

void
store_checkpoint(struct store *s)
{
	if (s == NULL || s->ops != &store_bdb_ops ||
	    s->commits < STORE_CKP_EVERY)
		return;
	s->commits = 0;
	if (!store_trylock_byte(s->recfd, STORE_CKP_BYTE))
		return;
	/* It can meet a killed peer's mutex as a request can (stall.c);
	 * armed only now, so a request with none due pays no timer call. */
	stall_arm();
	store_env_share(s);
	store_env_checkpoint(s, STORE_CKP_KB);
	store_env_unshare(s);
	stall_disarm();
	store_lock_byte(s->recfd, F_UNLCK, STORE_CKP_BYTE);
}
