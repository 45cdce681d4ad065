/*
 * store_flush.c: group commit for writes the answer must wait for.
 *
 * A synced Berkeley DB commit holds its transaction's page locks while
 * it writes and syncs the log, and every concurrent commit queues behind
 * that flush.  store_txn_run_flushed() instead commits into the shared
 * log buffer (DB_TXN_WRITE_NOSYNC), which releases the locks at once,
 * and store_flush() later writes and syncs the log up to its end: one
 * fdatasync then covers every commit appended meanwhile, by this process
 * or any other, and a flush another process has already done costs no
 * system call.  The caller flushes before it answers, so what it answers
 * is as durable as after a synced commit (docs/security.md,
 * "Durability"): the log is sequential, and a commit that read this one's
 * writes comes later in it.
 *
 * The flush holds the recovery lock (store.c) like a commit: a recovery
 * run in between (a peer died) has panicked the environment, and the
 * flush fails at Berkeley DB's entry check instead of writing a log
 * recovery has rebuilt; the caller then answers an error, and the
 * unflushed commit is lost with the crashed state, never acknowledged.
 *
 * PostgreSQL groups concurrent commits itself (its commit_delay and
 * commit_siblings settings): there the commit is a synchronous one and
 * the flush does nothing.
 */
#include "extern.h"
#include "store_int.h"

enum store_rc
store_txn_run_flushed(struct store *s,
    enum store_rc (*fn)(struct store *, struct txn *, void *), void *arg)
{
	return s->ops->txn_run(s, fn, arg,
	    s->ops == &store_bdb_ops ? STORE_TXN_NOSYNC : 0);
}

enum store_rc
store_flush(struct store *s)
{
	int	 ret;

	if (s->ops != &store_bdb_ops)
		return STORE_OK;
	store_env_share(s);
	ret = s->env->log_flush(s->env, NULL);
	store_env_unshare(s);
	if (ret == 0)
		return STORE_OK;
	if (ret == DB_RUNRECOVERY)
		store_mark_panicked(s);
	lk_err("log flush: %s", db_strerror(ret));
	return STORE_ERR;
}
