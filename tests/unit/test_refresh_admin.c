/*
 * test_refresh_admin.c: what latchkeyctl does to refresh tokens
 * (lib/admin/refresh_admin.c: list, revoke by selection, prune) and the
 * per-user index of families (lib/grants/refresh_index.c), against a
 * fresh Berkeley DB environment per test, with a fixed clock.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"
#include "refresh_fx.h"

/* ------------------------------------------------------------------ */
/* Revocation and listing by selection, pruning.                       */

static void
revoke_by_device_family_and_user(void **state)
{
	struct fx		*fx = *state;
	struct refresh_sel	 sel;
	char			 a[96], b[96], c[96];
	int			 n;

	issue(fx, "phone", NOW, a);
	issue(fx, "laptop", NOW, b);
	issue(fx, NULL, NOW, c);
	sel = (struct refresh_sel){ UID, NULL, "phone", NULL };
	assert_int_equal(refresh_revoke(fx->ctx.store, NULL, &sel, NOW, &n),
	    STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(redeem(fx, a, NULL, NOW, NULL, NULL), REFRESH_INVALID);
	assert_int_equal(redeem(fx, b, NULL, NOW, b, NULL), REFRESH_OK);
	sel = (struct refresh_sel){ UID, NULL, NULL, family_of(fx, b) };
	assert_int_equal(refresh_revoke(fx->ctx.store, NULL, &sel, NOW, &n),
	    STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(redeem(fx, b, NULL, NOW, NULL, NULL), REFRESH_INVALID);
	sel = (struct refresh_sel){ "auth0|someone-else", NULL, NULL, NULL };
	assert_int_equal(refresh_revoke(fx->ctx.store, NULL, &sel, NOW, &n),
	    STORE_OK);
	assert_int_equal(n, 0);
	sel = (struct refresh_sel){ UID, NULL, NULL, NULL };
	assert_int_equal(refresh_revoke(fx->ctx.store, NULL, &sel, NOW, &n),
	    STORE_OK);
	assert_int_equal(n, 1);		/* only c was still active */
	assert_int_equal(redeem(fx, c, NULL, NOW, NULL, NULL), REFRESH_INVALID);
}

/* The status of each family listed, in a string like "active revoked". */
static void
list_statuses(struct fx *fx, time_t t, char *out, size_t outsz)
{
	struct refresh_sel	 sel = { UID, NULL, NULL, NULL };
	json_t			*list = json_array(), *f;
	size_t			 i;
	int			 counts[3] = { 0, 0, 0 };
	const char		*s;

	assert_int_equal(refresh_list(fx->ctx.store, NULL, &sel, t, list),
	    STORE_OK);
	json_array_foreach(list, i, f) {
		s = json_string_value(json_object_get(f, "status"));
		counts[strcmp(s, "active") == 0 ? 0 :
		    strcmp(s, "revoked") == 0 ? 1 : 2]++;
	}
	snprintf(out, outsz, "active=%d revoked=%d expired=%d", counts[0],
	    counts[1], counts[2]);
	json_decref(list);
}

static void
list_and_prune(void **state)
{
	struct fx	*fx = *state;
	struct refresh_sel sel = { UID, NULL, NULL, NULL };
	char		 live[96], dead[96], spent[96], n[96], buf[128];
	int		 count = 0, records = 0;

	use_client(fx, client_rec("rotating", 100, 0, 0));
	issue(fx, NULL, NOW, dead);			/* expires at NOW+100 */
	issue(fx, NULL, NOW + 50, spent);
	assert_int_equal(redeem(fx, spent, NULL, NOW + 60, live, NULL),
	    REFRESH_OK);
	issue(fx, "tv", NOW + 60, n);
	sel.device = "tv";
	assert_int_equal(refresh_revoke(fx->ctx.store, NULL, &sel, NOW + 60,
	    &count), STORE_OK);
	list_statuses(fx, NOW + 120, buf, sizeof(buf));
	assert_string_equal(buf, "active=1 revoked=1 expired=1");
	/* Before: 3 families + 4 tokens. */
	assert_int_equal(store_each(fx->ctx.store, NULL, SK_REFRESH, count_cb,
	    &records), STORE_OK);
	assert_int_equal(records, 7);
	assert_int_equal(refresh_prune(fx->ctx.store, NULL, NOW + 120, &count),
	    STORE_OK);
	assert_int_equal(count, 4);	/* 2 dead families, 2 tokens */
	records = 0;
	assert_int_equal(store_each(fx->ctx.store, NULL, SK_REFRESH, count_cb,
	    &records), STORE_OK);
	assert_int_equal(records, 3);	/* the live family, spent + live */
	/* The spent token still trips reuse detection after pruning. */
	assert_int_equal(redeem(fx, spent, NULL, NOW + 121, NULL, NULL),
	    REFRESH_REUSED);
}

/* ------------------------------------------------------------------ */
/* Large stores: batches, the per-user index, interrupted prunes.      */

#define SCALE_LOCKS	2000	/* a lock table far smaller than a walk */

static const char *ctlpath;	/* the latchkeyctl beside this test, or NULL */

/* Families written as a release without the per-user index wrote them. */
struct bulk {
	const char	*uid;
	int		 tag;		/* makes the family ids unique */
	int		 from, to;
	int		 dead_every;	/* every n-th revoked (0: none) */
};

static enum store_rc
bulk_fn(struct store *st, struct txn *txn, void *arg)
{
	struct bulk	*b = arg;
	char		 id[33], fkey[64], tkey[128];
	json_t		*fam, *tok;
	enum store_rc	 rc = STORE_OK;
	int		 i;

	for (i = b->from; rc == STORE_OK && i < b->to; i++) {
		snprintf(id, sizeof(id), "%016x%016x", b->tag, i);
		snprintf(fkey, sizeof(fkey), "family:%s", id);
		snprintf(tkey, sizeof(tkey), "sha256:%s%s", id, id);
		fam = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}",
		    "user_id", b->uid, "client_id", CID, "scope", SCOPE,
		    "created_at", (json_int_t)NOW, "expires_at",
		    (json_int_t)NOW + 86400, "last_used_at", (json_int_t)NOW,
		    "current", tkey, "status", b->dead_every > 0 &&
		    i % b->dead_every == 0 ? "revoked" : "active");
		tok = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}",
		    "family", id, "user_id", b->uid, "client_id", CID,
		    "scope", SCOPE, "pwd_at", (json_int_t)0, "expires_at",
		    (json_int_t)NOW + 86400, "status", "active");
		rc = store_put(st, txn, SK_REFRESH, fkey, fam, 0);
		if (rc == STORE_OK)
			rc = store_put(st, txn, SK_REFRESH, tkey, tok, 0);
		json_decref(fam);
		json_decref(tok);
	}
	return rc;
}

static void
bulk(struct fx *fx, const char *uid, int tag, int n, int dead_every)
{
	struct bulk	 b = { uid, tag, 0, 0, dead_every };

	for (b.from = 0; b.from < n; b.from += 200) {
		b.to = b.from + 200 < n ? b.from + 200 : n;
		assert_int_equal(store_txn_run(fx->ctx.store, bulk_fn, &b),
		    STORE_OK);
	}
}

/* Records of kind (with the prefix), counted in batches. */
static int
scan_count(struct fx *fx, enum store_kind kind, const char *prefix)
{
	int	 n = 0;

	assert_int_equal(store_scan(fx->ctx.store, kind, prefix, count_cb,
	    &n), STORE_OK);
	return n;
}

static int
collect_key_cb(const char *key, json_t *val, void *arg)
{

	return json_array_append_new(arg, json_string(key)) == -1;
}

/* Make the store look as the release before the index left it. */
static void
drop_index(struct fx *fx)
{
	json_t	*keys = json_array(), *k;
	size_t	 i;

	assert_int_equal(store_scan(fx->ctx.store, SK_REFIDX, NULL,
	    collect_key_cb, keys), STORE_OK);
	json_array_foreach(keys, i, k)
		assert_int_equal(store_del(fx->ctx.store, NULL, SK_REFIDX,
		    json_string_value(k)), STORE_OK);
	json_decref(keys);
	store_del(fx->ctx.store, NULL, SK_META, "refresh_index");
	assert_false(refresh_index_ready(fx->ctx.store, NULL));
}

static int
listed(struct fx *fx, const char *uid)
{
	struct refresh_sel	 sel = { uid, NULL, NULL, NULL };
	json_t			*list = json_array();
	int			 n;

	assert_int_equal(refresh_list(fx->ctx.store, NULL, &sel, NOW, list),
	    STORE_OK);
	n = (int)json_array_size(list);
	json_decref(list);
	return n;
}

/*
 * A store made without the index (by the previous release): the first
 * selection by user builds it, and listing and revoking by user (what
 * `user block` does after its commit) work on it.
 */
static void
index_is_built_on_a_store_made_without_it(void **state)
{
	struct fx		*fx = *state;
	struct refresh_sel	 sel = { UID, NULL, NULL, NULL };
	char			 a[96], b[96], c[96];
	int			 n;

	issue(fx, "phone", NOW, a);
	issue(fx, "laptop", NOW, b);
	issue(fx, NULL, NOW, c);
	bulk(fx, "auth0|other", 1, 5, 0);
	assert_int_equal(scan_count(fx, SK_REFIDX, NULL), 3);
	drop_index(fx);
	assert_int_equal(scan_count(fx, SK_REFIDX, NULL), 0);
	assert_int_equal(listed(fx, UID), 3);
	assert_true(refresh_index_ready(fx->ctx.store, NULL));
	assert_int_equal(scan_count(fx, SK_REFIDX, NULL), 8);
	assert_int_equal(refresh_revoke(fx->ctx.store, NULL, &sel, NOW, &n),
	    STORE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(redeem(fx, b, NULL, NOW, NULL, NULL), REFRESH_INVALID);
	assert_int_equal(listed(fx, "auth0|other"), 5);
	/* A family issued now is indexed by its issue. */
	issue(fx, "tv", NOW, a);
	assert_int_equal(listed(fx, UID), 4);
}

/*
 * A new tenant's store has no family to walk: its index is complete at
 * once (latchkeyctl init/import), so the first per-user command does not
 * walk every family issued since.  A store with families is left for
 * the backfill.
 */
static void
new_store_index_complete_at_once(void **state)
{
	struct fx	*fx = *state;
	char		 a[96];

	store_del(fx->ctx.store, NULL, SK_META, "refresh_index");
	assert_false(refresh_index_ready(fx->ctx.store, NULL));
	assert_int_equal(refresh_index_new(fx->ctx.store, NULL, NOW), STORE_OK);
	assert_true(refresh_index_ready(fx->ctx.store, NULL));
	issue(fx, "phone", NOW, a);
	drop_index(fx);
	assert_int_equal(refresh_index_new(fx->ctx.store, NULL, NOW), STORE_OK);
	assert_false(refresh_index_ready(fx->ctx.store, NULL));
}

/* Prune stopped after its first batch, as if killed, then run again. */
static void
prune_interrupted_then_resumed(void **state)
{
	struct fx	*fx = *state;
	int		 n = 0, m = 0;

	bulk(fx, UID, 2, 1500, 2);		/* 750 revoked */
	assert_int_equal(refresh_index_ensure(fx->ctx.store, NOW), STORE_OK);
	assert_int_equal(scan_count(fx, SK_REFIDX, NULL), 1500);
	store_scan_fail_after(1);
	assert_int_equal(refresh_prune(fx->ctx.store, NULL, NOW, &n),
	    STORE_ERR);
	store_scan_fail_after(0);
	assert_true(n > 0 && n < 750);
	/* Half done: some families gone, their tokens orphaned. */
	assert_int_equal(scan_count(fx, SK_REFRESH, "family:"), 1500 - n);
	assert_int_equal(scan_count(fx, SK_REFRESH, "sha256:"), 1500);
	assert_int_equal(listed(fx, UID), 1500 - n);
	assert_int_equal(refresh_prune(fx->ctx.store, NULL, NOW, &m),
	    STORE_OK);
	assert_int_equal(n + m, 2 * 750);
	assert_int_equal(scan_count(fx, SK_REFRESH, "family:"), 750);
	assert_int_equal(scan_count(fx, SK_REFRESH, "sha256:"), 750);
	assert_int_equal(scan_count(fx, SK_REFIDX, NULL), 750);
	assert_int_equal(refresh_prune(fx->ctx.store, NULL, NOW, &m),
	    STORE_OK);
	assert_int_equal(m, 0);
}

/*
 * A responder's work beside the admin batches: logins issuing refresh
 * tokens for UID in a process of their own until a byte arrives on
 * stop; the count issued goes to done.  Exits 1 if any failed (before
 * the batches, a walk holding the lock table made them fail).
 */
static void
issuer_child(struct fx *fx, int stop, int done)
{
	struct refresh_new	 rn = { UID, CID, AUD, SCOPE, "busy", NULL,
	    NULL };
	struct lk_ctx		 c;
	char			 out[96], b = 'r';
	int			 n = 0, failed = 0;

	memset(&c, 0, sizeof(c));
	if ((c.store = store_open(fx->home, 0)) == NULL)
		_exit(2);
	do {
		if (refresh_issue(&c, NULL, &fx->client, NULL, &rn, NOW, out,
		    sizeof(out)) == 0)
			n++;
		else
			failed++;
		/* The first login done: the parent starts its walk. */
		if (n + failed == 1 && write(done, &b, 1) != 1)
			failed++;
	} while (read(stop, &b, 1) != 1);
	if (write(done, &n, sizeof(n)) != sizeof(n))
		failed++;
	store_close(c.store);
	_exit(failed > 0);
}

/* Start issuer_child, return once it has logged in once; *stop and
 * *done are the parent's pipe ends. */
static pid_t
issuer_start(struct fx *fx, int *stop, int *done)
{
	int	 a[2], b[2];
	pid_t	 pid;
	char	 c;

	assert_int_equal(pipe2(a, O_NONBLOCK), 0);
	assert_int_equal(pipe(b), 0);
	if ((pid = fork()) == 0) {
		close(a[1]);
		close(b[0]);
		issuer_child(fx, a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	*stop = a[1];
	*done = b[0];
	assert_int_equal(read(*done, &c, 1), 1);
	return pid;
}

/* Stop issuer_child: how many it issued (it must have failed none). */
static int
issuer_stop(pid_t pid, int stop, int done)
{
	int	 st, n = -1;

	assert_int_equal(write(stop, "x", 1), 1);
	assert_int_equal(read(done, &n, sizeof(n)), sizeof(n));
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(stop);
	close(done);
	return n;
}

/* Run latchkeyctl on fx's home; its exit status, *out its JSON. */
static int
ctl(struct fx *fx, const char *args, json_t **out)
{
	char		 cmd[3 * PATH_MAX];
	json_error_t	 e;
	FILE		*p;
	int		 st;

	snprintf(cmd, sizeof(cmd), "%s -d %s %s", ctlpath, fx->home, args);
	assert_non_null(p = popen(cmd, "r"));
	*out = json_loadf(p, JSON_DISABLE_EOF_CHECK, &e);
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * 60,000 families (and their tokens) in a store made without the index,
 * under a lock table of SCALE_LOCKS: one transaction cannot read them
 * (STORE_BUSY, docs/operations.md), the batched listing, revocation and
 * prune can, and so can `latchkeyctl token list --user`, `user block` and `token
 * prune`.
 */
static void
sixty_thousand_families_under_a_small_lock_table(void **state)
{
	struct fx		*fx = *state;
	struct refresh_sel	 sel = { UID, NULL, NULL, NULL };
	char			 path[PATH_MAX + 16];
	json_t			*out, *conn;
	FILE			*f;
	pid_t			 pid;
	int			 n = 0, stop, done, issued;

	store_close(fx->ctx.store);
	snprintf(fx->home, sizeof(fx->home), "%s/scale", fx->dir);
	assert_int_equal(mkdir(fx->home, 0700), 0);
	snprintf(path, sizeof(path), "%s/DB_CONFIG", fx->home);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "set_lk_max_locks %d\nset_lk_max_objects %d\n",
	    SCALE_LOCKS, SCALE_LOCKS);
	fclose(f);
	assert_non_null(fx->ctx.store = store_open(fx->home, STORE_CREATE));
	user_put(fx, UID, 0, 0);
	conn = json_pack("{s:s, s:s, s:s}", "user_id", "auth0|other",
	    "connection", "db", "email", "other@example.com");
	assert_int_equal(store_user_put(fx->ctx.store, NULL, conn), STORE_OK);
	json_decref(conn);
	conn = json_pack("{s:s, s:s, s:[]}", "name", "db", "strategy",
	    "auth0", "enabled_clients");
	assert_int_equal(store_put(fx->ctx.store, NULL, SK_CONNECTION, "db",
	    conn, 0), STORE_OK);
	json_decref(conn);
	bulk(fx, UID, 3, 20000, 0);
	bulk(fx, "auth0|other", 4, 39000, 0);
	bulk(fx, "auth0|third", 5, 1000, 0);

	assert_int_equal(store_each(fx->ctx.store, NULL, SK_REFRESH, count_cb,
	    &n), STORE_BUSY);
	assert_false(refresh_index_ready(fx->ctx.store, NULL));
	assert_int_equal(listed(fx, UID), 20000);
	assert_int_equal(refresh_revoke(fx->ctx.store, NULL, &sel, NOW, &n),
	    STORE_OK);
	assert_int_equal(n, 20000);
	/* Logins go on while prune walks the 120,000 records. */
	pid = issuer_start(fx, &stop, &done);
	assert_int_equal(refresh_prune(fx->ctx.store, NULL, NOW, &n),
	    STORE_OK);
	issued = issuer_stop(pid, stop, done);
	assert_true(issued > 0);
	assert_int_equal(n, 40000);
	assert_int_equal(listed(fx, UID), issued);
	if (ctlpath == NULL)
		skip();
	/* The commands, each its own process on the same environment. */
	store_close(fx->ctx.store);
	fx->ctx.store = NULL;
	assert_int_equal(ctl(fx, "token list --user auth0\\|third", &out), 0);
	assert_int_equal(json_array_size(out), 1000);
	json_decref(out);
	assert_int_equal(ctl(fx, "user block auth0\\|other", &out), 0);
	assert_true(json_is_true(json_object_get(out, "blocked")));
	json_decref(out);
	assert_int_equal(ctl(fx, "token prune --now 1700000000", &out), 0);
	assert_int_equal(json_integer_value(json_object_get(out,
	    "deleted_records")), 2 * 39000);
	json_decref(out);
	assert_int_equal(ctl(fx, "device list --user auth0\\|third", &out), 0);
	json_decref(out);
	assert_non_null(fx->ctx.store = store_open(fx->home, 0));
	assert_int_equal(scan_count(fx, SK_REFRESH, NULL),
	    2 * 1000 + 2 * issued);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

/* The latchkeyctl of this build (B/db/ beside B/tests/unit/), if built. */
static const char *
ctl_beside(const char *self)
{
	static char	 path[PATH_MAX + 32];
	char		 dir[PATH_MAX];
	char		*p;
	int		 i;

	if (realpath(self, dir) == NULL)
		return NULL;
	for (i = 0; i < 3; i++)
		if ((p = strrchr(dir, '/')) != NULL)
			*p = '\0';
	snprintf(path, sizeof(path), "%s/db/latchkeyctl", dir);
	return access(path, X_OK) == 0 ? path : NULL;
}

int
main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		T(revoke_by_device_family_and_user),
		T(list_and_prune),
		T(index_is_built_on_a_store_made_without_it),
		T(new_store_index_complete_at_once),
		T(prune_interrupted_then_resumed),
		T(sixty_thousand_families_under_a_small_lock_table),
	};

	ctlpath = ctl_beside(argv[0]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
