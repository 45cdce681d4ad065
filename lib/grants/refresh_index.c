/*
 * refresh_index.c: the per-user index of refresh-token families.
 *
 * SK_REFIDX holds "<user_id>\x1f<family id>" -> {} for each family,
 * written in the transaction that creates the family (refresh_issue) and
 * deleted with it by refresh_prune, so that revoking or listing a user's
 * families reads only theirs.  A store made before the index has none
 * until refresh_index_ensure() has walked every family once; SK_META
 * "refresh_index" {"complete": true, "at"} says that it has.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"
#include "refresh_int.h"

#define INDEX_META		"refresh_index"

int
refresh_index_key(const char *uid, const char *id, char key[INDEX_KEY_MAX + 1])
{
	int	 n;

	n = snprintf(key, INDEX_KEY_MAX + 1, "%s%c%s", uid, INDEX_SEP,
	    id != NULL ? id : "");
	return n < 0 || n > INDEX_KEY_MAX || *uid == '\0' ? -1 : 0;
}

enum store_rc
refresh_index_put(struct store *st, struct txn *txn, const char *id,
    const json_t *fam)
{
	char		 key[INDEX_KEY_MAX + 1];
	const char	*uid = refresh_str(fam, RM_USER_ID);
	json_t		*v;
	enum store_rc	 rc;

	if (uid == NULL || refresh_index_key(uid, id, key) == -1) {
		lk_warn("family %s: user_id missing or too long to index", id);
		return STORE_OK;
	}
	if ((v = json_object()) == NULL)
		return STORE_ERR;
	rc = store_put(st, txn, SK_REFIDX, key, v, 0);
	json_decref(v);
	return rc;
}

enum store_rc
refresh_index_del(struct store *st, struct txn *txn, const char *id,
    const json_t *fam)
{
	char		 key[INDEX_KEY_MAX + 1];
	const char	*uid = refresh_str(fam, RM_USER_ID);
	enum store_rc	 rc;

	if (uid == NULL || refresh_index_key(uid, id, key) == -1)
		return STORE_OK;
	rc = store_del(st, txn, SK_REFIDX, key);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
refresh_index_ready(struct store *st, struct txn *txn)
{
	json_t	*m = NULL;
	int	 ready;

	if (store_get(st, txn, SK_META, INDEX_META, &m) != STORE_OK)
		return 0;
	ready = json_is_true(json_object_get(m, "complete"));
	json_decref(m);
	return ready;
}

/* Write SK_META "refresh_index": the index is complete. */
static enum store_rc
index_mark(struct store *st, struct txn *txn, time_t now)
{
	json_t		*m;
	enum store_rc	 rc;

	if ((m = json_pack("{sbsI}", "complete", 1, "at", (json_int_t)now))
	    == NULL)
		return STORE_ERR;
	rc = store_put(st, txn, SK_META, INDEX_META, m, 0);
	json_decref(m);
	return rc;
}

/*
 * A store that holds no family yet (a tenant being created) needs no
 * backfill: every family it gets is indexed by refresh_issue.  Marks the
 * index complete in txn; STORE_OK also when there are families (the
 * first per-user command then walks them).
 */
enum store_rc
refresh_index_new(struct store *st, struct txn *txn, time_t now)
{
	enum store_rc	 rc;

	rc = store_prefix_any(st, txn, SK_REFRESH, FAMILY_PREFIX);
	if (rc != STORE_NOTFOUND)
		return rc;
	return index_mark(st, txn, now);
}

/*
 * The family is read by the walk's cursor and indexed while the cursor
 * still holds its page: a prune cannot delete it in between, and a prune
 * after it waits for the index entry's write lock, then deletes both.
 */
static enum store_rc
backfill_fn(struct store *st, struct txn *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	return refresh_index_put(st, txn, key + strlen(FAMILY_PREFIX), val);
}

/*
 * Families created meanwhile are indexed by refresh_issue itself, so
 * once the walk is over the index is complete, provided no responder of
 * an older release (which does not index) is still issuing tokens:
 * upgrade the responders first.  Rewriting an entry changes nothing, so
 * an interrupted backfill is simply run again.
 */
enum store_rc
refresh_index_ensure(struct store *st, time_t now)
{
	struct store_sweep	 sw;
	enum store_rc		 rc;

	if (refresh_index_ready(st, NULL))
		return STORE_OK;
	memset(&sw, 0, sizeof(sw));
	sw.kind = SK_REFRESH;
	sw.prefix = FAMILY_PREFIX;
	sw.fn = backfill_fn;
	if ((rc = store_sweep(st, &sw)) != STORE_OK)
		return rc;
	return index_mark(st, NULL, now);
}
