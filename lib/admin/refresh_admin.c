/*
 * refresh_admin.c: what latchkeyctl does to refresh tokens
 * (docs/COMPAT.md 5): list families, revoke them by selection, prune the
 * dead ones with their tokens.  The records are refresh.c's; without a
 * transaction each runs in batches (store_sweep), a selection by user
 * through the per-user index (refresh_index.c).
 */
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "grants/refresh_int.h"

/* ------------------------------------------------------------------ */
/* Revocation, listing, pruning.                                       */

static int
selected(const char *id, const json_t *fam, const struct refresh_sel *sel)
{

	return (sel->user_id == NULL ||
	    refresh_is(fam, RM_USER_ID, sel->user_id)) &&
	    (sel->client_id == NULL ||
	    refresh_is(fam, RM_CLIENT_ID, sel->client_id)) &&
	    (sel->device == NULL || refresh_is(fam, RM_DEVICE, sel->device)) &&
	    (sel->family == NULL || strcmp(id, sel->family) == 0);
}

struct walk {
	const struct refresh_sel *sel;
	json_t			*found;		/* family id -> record */
};

/* Collect the selected families (store_each callback). */
static int
family_cb(const char *key, json_t *val, void *arg)
{
	struct walk	*w = arg;
	const char	*id = key + strlen(FAMILY_PREFIX);

	if (strncmp(key, FAMILY_PREFIX, strlen(FAMILY_PREFIX)) != 0)
		return 0;
	if (w->sel == NULL || selected(id, val, w->sel))
		json_object_set(w->found, id, val);
	return 0;
}

static enum store_rc
families(struct store *st, struct txn *txn, const struct refresh_sel *sel,
    json_t **found)
{
	struct walk	 w = { sel, json_object() };
	enum store_rc	 rc;

	if (w.found == NULL)
		return STORE_ERR;
	if ((rc = store_each(st, txn, SK_REFRESH, family_cb, &w)) != STORE_OK) {
		json_decref(w.found);
		return rc;
	}
	*found = w.found;
	return STORE_OK;
}

/* ------------------------------------------------------------------ */
/* The same in batches (store_sweep), through the index when it can.   */

/* What a batched selection does to a selected family, in the batch's
 * transaction; what it appends to out is counted. */
struct famop {
	const struct refresh_sel *sel;
	time_t			 now;
	enum store_rc		(*fn)(struct store *, struct txn *,
    const char *id,
				    json_t *fam, const struct famop *,
				    json_t *out);
};

/* A family record met by a walk of SK_REFRESH. */
static enum store_rc
sel_family_fn(struct store *st, struct txn *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	const struct famop	*op = arg;
	const char		*id = key + strlen(FAMILY_PREFIX);

	if (!selected(id, val, op->sel))
		return STORE_OK;
	return op->fn(st, txn, id, val, op, out);
}

/* An index entry met by a walk of one user's SK_REFIDX keys: its family
 * read in the batch's transaction (one pruned meanwhile is skipped). */
static enum store_rc
sel_index_fn(struct store *st, struct txn *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	const struct famop	*op = arg;
	const char		*id = strrchr(key, INDEX_SEP) + 1;
	char			 fkey[FAMILY_KEY_MAX];
	json_t			*fam = NULL;
	enum store_rc		 rc;

	if (strlen(id) != FAMILY_ID_LEN)
		return STORE_OK;
	refresh_family_key(id, fkey);
	rc = store_get(st, txn, SK_REFRESH, fkey, &fam);
	if (rc == STORE_OK && selected(id, fam, op->sel))
		rc = op->fn(st, txn, id, fam, op, out);
	json_decref(fam);
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/*
 * Walk the selected families in batches: a user's through the index
 * (built first if the store predates it), others through every family.
 * *count: what op->fn appended in the committed batches.
 */
static enum store_rc
sel_walk(struct store *st, const struct famop *op, json_t *out, long *count)
{
	struct store_sweep	 sw;
	char			 prefix[INDEX_KEY_MAX + 1];
	enum store_rc		 rc;

	memset(&sw, 0, sizeof(sw));
	sw.kind = SK_REFRESH;
	sw.prefix = FAMILY_PREFIX;
	sw.fn = sel_family_fn;
	sw.arg = (void *)op;
	sw.out = out;
	if (op->sel->user_id != NULL &&
	    refresh_index_key(op->sel->user_id, NULL, prefix) == 0) {
		if ((rc = refresh_index_ensure(st, op->now)) != STORE_OK)
			return rc;
		sw.kind = SK_REFIDX;
		sw.prefix = prefix;
		sw.fn = sel_index_fn;
	}
	rc = store_sweep(st, &sw);
	*count = sw.results;
	return rc;
}

static enum store_rc
revoke_one(struct store *st, struct txn *txn, const char *id, json_t *fam,
    const struct famop *op, json_t *out)
{
	char		 fkey[FAMILY_KEY_MAX];
	enum store_rc	 rc;

	if (!refresh_is(fam, RM_STATUS, "active"))
		return STORE_OK;
	refresh_family_key(id, fkey);
	if ((rc = refresh_family_revoke(st, txn, fkey, fam, "revoked", op->now))
	    != STORE_OK)
		return rc;
	return json_array_append_new(out, json_true()) == 0 ? STORE_OK :
	    STORE_ERR;
}

static json_t	*family_summary(const char *, const json_t *, time_t);
static enum store_rc revoke_in(struct store *, struct txn *,
		    const struct refresh_sel *, time_t, int *);

static enum store_rc
list_one(struct store *st, struct txn *txn, const char *id, json_t *fam,
    const struct famop *op, json_t *out)
{

	return json_array_append_new(out, family_summary(id, fam, op->now))
	    == 0 ? STORE_OK : STORE_ERR;
}

enum store_rc
refresh_revoke(struct store *st, struct txn *txn, const struct refresh_sel *sel,
    time_t now, int *count)
{
	struct famop	 op = { sel, now, revoke_one };
	long		 n = 0;
	enum store_rc	 rc;

	*count = 0;
	if (txn != NULL)
		return revoke_in(st, txn, sel, now, count);
	rc = sel_walk(st, &op, NULL, &n);
	*count = (int)n;
	return rc;
}

/* refresh_revoke inside the caller's transaction. */
static enum store_rc
revoke_in(struct store *st, struct txn *txn, const struct refresh_sel *sel,
    time_t now, int *count)
{
	json_t		*found = NULL, *fam;
	const char	*id;
	char		 fkey[FAMILY_KEY_MAX];
	enum store_rc	 rc;

	*count = 0;
	if ((rc = families(st, txn, sel, &found)) != STORE_OK)
		return rc;
	json_object_foreach(found, id, fam) {
		if (!refresh_is(fam, RM_STATUS, "active"))
			continue;
		refresh_family_key(id, fkey);
		if ((rc = refresh_family_revoke(st, txn, fkey, fam, "revoked", now))
		    != STORE_OK)
			break;
		(*count)++;
	}
	json_decref(found);
	return rc;
}

/* "active", "revoked" or "expired", as the family stands at now. */
static const char *
family_status(const json_t *fam, time_t now)
{

	if (!refresh_is(fam, RM_STATUS, "active"))
		return "revoked";
	if (refresh_expired(refresh_int(fam, RM_EXPIRES_AT), now) ||
	    refresh_expired(refresh_int(fam, RM_IDLE_EXPIRES_AT), now))
		return "expired";
	return "active";
}

/* What refresh_list shows of a family; NULL on ENOMEM. */
static json_t *
family_summary(const char *id, const json_t *fam, time_t now)
{
	static const enum rmem members[] = { RM_USER_ID, RM_CLIENT_ID,
	    RM_AUDIENCE, RM_SCOPE, RM_DEVICE, RM_CREATED_AT, RM_EXPIRES_AT,
	    RM_IDLE_EXPIRES_AT, RM_LAST_USED_AT, RM_REVOKED_AT, RM_REASON };
	const char	*name;
	json_t		*o, *v;
	size_t		 i;

	if ((o = json_pack("{s:s, s:s}", "family", id, "status",
	    family_status(fam, now))) == NULL)
		return NULL;
	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		name = refresh_member(members[i]);
		if ((v = json_object_get(fam, name)) != NULL)
			json_object_set(o, name, v);
	}
	return o;
}

enum store_rc
refresh_list(struct store *st, struct txn *txn, const struct refresh_sel *sel,
    time_t now, json_t *out)
{
	struct famop	 op = { sel, now, list_one };
	json_t		*found = NULL, *fam, *o;
	const char	*id;
	enum store_rc	 rc;
	long		 n;

	if (txn == NULL)
		return sel_walk(st, &op, out, &n);
	if ((rc = families(st, txn, sel, &found)) != STORE_OK)
		return rc;
	json_object_foreach(found, id, fam) {
		if ((o = family_summary(id, fam, now)) == NULL) {
			rc = STORE_ERR;
			break;
		}
		json_array_append_new(out, o);
	}
	json_decref(found);
	return rc;
}

/* Token keys whose family is not in live (store_each callback). */
struct prune {
	json_t	*live;		/* family ids that stay */
	json_t	*doomed;	/* keys to delete */
};

static int
prune_cb(const char *key, json_t *val, void *arg)
{
	struct prune	*p = arg;
	const char	*fam = refresh_str(val, RM_FAMILY);

	if (strncmp(key, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) != 0)
		return 0;
	if (fam == NULL || json_object_get(p->live, fam) == NULL)
		json_array_append_new(p->doomed, json_string(key));
	return 0;
}

/* refresh_prune inside one transaction (a caller's). */
static enum store_rc
prune_in(struct store *st, struct txn *txn, time_t now, int *count)
{
	struct prune	 p = { json_object(), json_array() };
	json_t		*found = NULL, *fam, *k;
	const char	*id;
	char		 fkey[FAMILY_KEY_MAX];
	enum store_rc	 rc;
	size_t		 i;

	*count = 0;
	if (p.live == NULL || p.doomed == NULL) {
		rc = STORE_ERR;
		goto out;
	}
	if ((rc = families(st, txn, NULL, &found)) != STORE_OK)
		goto out;
	json_object_foreach(found, id, fam) {
		if (strcmp(family_status(fam, now), "active") == 0) {
			json_object_set_new(p.live, id, json_true());
			continue;
		}
		refresh_family_key(id, fkey);
		json_array_append_new(p.doomed, json_string(fkey));
	}
	if ((rc = store_each(st, txn, SK_REFRESH, prune_cb, &p)) != STORE_OK)
		goto out;
	json_array_foreach(p.doomed, i, k) {
		if ((rc = store_del(st, txn, SK_REFRESH, json_string_value(k)))
		    != STORE_OK)
			goto out;
		(*count)++;
	}
out:
	json_decref(found);
	json_decref(p.live);
	json_decref(p.doomed);
	return rc;
}

/*
 * The families a batched prune deleted, so that its second walk can tell
 * their tokens without reading a family record per token (5,000,000
 * random reads in a store far larger than its cache: `make scale`).  Kept
 * as sorted 32-hex ids; past PRUNE_SET_MAX (64 MiB) the walk falls back
 * to reading the family of every token the set does not name.
 */
#define PRUNE_SET_MAX		(2 * 1024 * 1024)
#define PRUNE_META		"refresh_prune"

struct prune_set {
	char		(*ids)[FAMILY_ID_LEN + 1];
	size_t		 n, cap;
	int		 overflow;	/* ids were dropped: read the family */
	int		 orphans;	/* an earlier prune stopped half-way */
	time_t		 now;
};

static int
id_cmp(const void *a, const void *b)
{

	return memcmp(a, b, FAMILY_ID_LEN);
}

/* Remember a family deleted (if its batch commits; a retried batch adds
 * it again: prune_set_seal drops the duplicates). */
static void
prune_set_add(struct prune_set *ps, const char *id)
{
	void	*p;
	size_t	 cap;

	if (strlen(id) != FAMILY_ID_LEN || ps->overflow)
		return;
	if (ps->n == ps->cap) {
		cap = ps->cap ? 2 * ps->cap : 4096;
		if (cap > PRUNE_SET_MAX ||
		    (p = reallocarray(ps->ids, cap, sizeof(*ps->ids))) == NULL) {
			ps->overflow = 1;
			return;
		}
		ps->ids = p;
		ps->cap = cap;
	}
	memcpy(ps->ids[ps->n++], id, FAMILY_ID_LEN + 1);
}

/* Sort and drop duplicates once the first walk is over. */
static void
prune_set_seal(struct prune_set *ps)
{
	size_t	 i, j;

	if (ps->n == 0)
		return;
	qsort(ps->ids, ps->n, sizeof(*ps->ids), id_cmp);
	for (i = 1, j = 1; i < ps->n; i++)
		if (id_cmp(ps->ids[i], ps->ids[j - 1]) != 0)
			memmove(ps->ids[j++], ps->ids[i], sizeof(*ps->ids));
	ps->n = j;
}

static int
prune_set_has(const struct prune_set *ps, const char *id)
{

	return ps->n > 0 && bsearch(id, ps->ids, ps->n, sizeof(*ps->ids),
	    id_cmp) != NULL;
}

/*
 * A batched prune marks itself in SK_META while it runs: a prune stopped
 * between its two walks leaves tokens whose family is gone, and only the
 * next prune's second walk, reading every token's family, finds them.
 */
static enum store_rc
prune_mark(struct store *st, int running)
{
	json_t		*m;
	enum store_rc	 rc;

	if ((m = json_pack("{sb}", "running", running)) == NULL)
		return STORE_ERR;
	rc = store_put(st, NULL, SK_META, PRUNE_META, m, 0);
	json_decref(m);
	return rc;
}

static int
prune_was_stopped(struct store *st)
{
	json_t	*m = NULL;
	int	 stopped;

	if (store_get(st, NULL, SK_META, PRUNE_META, &m) != STORE_OK)
		return 0;
	stopped = json_is_true(json_object_get(m, "running"));
	json_decref(m);
	return stopped;
}

/* A dead family goes, with its index entry (batched prune, first walk). */
static enum store_rc
prune_family_fn(struct store *st, struct txn *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	struct prune_set *ps = arg;
	const char	*id = key + strlen(FAMILY_PREFIX);
	enum store_rc	 rc;

	if (strcmp(family_status(val, ps->now), "active") == 0)
		return STORE_OK;
	if ((rc = refresh_index_del(st, txn, id, val)) == STORE_OK) {
		*act = STORE_DELETE;
		prune_set_add(ps, id);
	}
	return rc;
}

/* A token whose family is gone goes too (second walk): one this prune
 * deleted, or, when the set cannot tell, one not in the store. */
static enum store_rc
prune_token_fn(struct store *st, struct txn *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	const struct prune_set *ps = arg;
	char		 fkey[FAMILY_KEY_MAX];
	const char	*fam = refresh_str(val, RM_FAMILY);
	json_t		*rec = NULL;
	enum store_rc	 rc;

	if (fam == NULL || strlen(fam) != FAMILY_ID_LEN ||
	    prune_set_has(ps, fam)) {
		*act = STORE_DELETE;
		return STORE_OK;
	}
	if (!ps->overflow && !ps->orphans)
		return STORE_OK;
	refresh_family_key(fam, fkey);
	rc = store_get(st, txn, SK_REFRESH, fkey, &rec);
	json_decref(rec);
	if (rc == STORE_NOTFOUND) {
		*act = STORE_DELETE;
		rc = STORE_OK;
	}
	return rc;
}

/*
 * Without a transaction: dead families first, then the tokens whose
 * family is gone, each batch in its own transaction.  A prune stopped
 * between two batches leaves dead families or orphaned tokens that no
 * refresh accepts (a token without its family is unknown), and the next
 * prune deletes them (PRUNE_META).  A family that dies during the walk
 * is left for the next prune.  Only a prune deletes families.
 */
enum store_rc
refresh_prune(struct store *st, struct txn *txn, time_t now, int *count)
{
	struct store_sweep	 fams, toks;
	struct prune_set	 ps;
	enum store_rc		 rc;

	*count = 0;
	if (txn != NULL)
		return prune_in(st, txn, now, count);
	memset(&ps, 0, sizeof(ps));
	ps.now = now;
	ps.orphans = prune_was_stopped(st);
	memset(&fams, 0, sizeof(fams));
	fams.kind = SK_REFRESH;
	fams.prefix = FAMILY_PREFIX;
	fams.fn = prune_family_fn;
	fams.arg = &ps;
	toks = fams;
	toks.prefix = DIGEST_PREFIX;
	toks.fn = prune_token_fn;
	if ((rc = prune_mark(st, 1)) == STORE_OK &&
	    (rc = store_sweep(st, &fams)) == STORE_OK) {
		prune_set_seal(&ps);
		rc = store_sweep(st, &toks);
	}
	if (rc == STORE_OK)
		rc = prune_mark(st, 0);
	*count = (int)(fams.deleted + toks.deleted);
	free(ps.ids);
	return rc;
}
