/*
 * test_refresh.c: refresh tokens (lib/grants/refresh.c) against a fresh
 * Berkeley DB environment per test (refresh_fx.c), with a fixed clock:
 * issue, redemption, rotation, reuse, lifetimes, two processes racing;
 * the settings, the scope rules, DPoP binding and signing key rotation
 * are in test_refresh_rules.c; listing, revoking by selection and
 * pruning in test_refresh_admin.c.
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

#define RACES		20		/* rounds of the two-process race */

/* ------------------------------------------------------------------ */

static void
token_is_random_and_stored_only_hashed(void **state)
{
	struct fx	*fx = *state;
	char		 a[96], b[96], key[72], *dump;
	json_t		*rec;

	issue(fx, NULL, NOW, a);
	issue(fx, NULL, NOW, b);
	assert_true(strlen(a) >= 43);		/* 256 bits, base64url */
	assert_string_not_equal(a, b);
	assert_int_equal(store_get(fx->ctx.store, NULL, SK_REFRESH, a, &rec),
	    STORE_NOTFOUND);
	assert_int_equal(hash_secret(a, strlen(a), key), 0);
	assert_int_equal(store_get(fx->ctx.store, NULL, SK_REFRESH, key, &rec),
	    STORE_OK);
	assert_non_null(dump = json_dumps(rec, 0));
	assert_null(strstr(dump, a));
	free(dump);
	/* The grant is the family's: the token's record holds only what
	 * is its own. */
	assert_null(json_object_get(rec, "scope"));
	json_decref(rec);
	snprintf(key, sizeof(key), "family:%s", family_of(fx, a));
	assert_int_equal(store_get(fx->ctx.store, NULL, SK_REFRESH, key, &rec),
	    STORE_OK);
	assert_string_equal(json_string_value(json_object_get(rec, "scope")),
	    SCOPE);
	assert_string_equal(json_string_value(json_object_get(rec, "audience")),
	    AUD);
	json_decref(rec);
}

static void
non_rotating_token_is_reused_and_idle_time_restarts(void **state)
{
	struct fx	*fx = *state;
	char		 t[96], next[96];

	use_client(fx, client_rec("non-rotating", 1000, 100, 0));
	issue(fx, NULL, NOW, t);
	assert_int_equal(redeem(fx, t, NULL, NOW + 90, next, NULL), REFRESH_OK);
	assert_string_equal(next, "");
	/* 180 s after issue but 90 s after the last use: still good. */
	assert_int_equal(redeem(fx, t, NULL, NOW + 180, NULL, NULL), REFRESH_OK);
	assert_int_equal(redeem(fx, t, NULL, NOW + 280, NULL, NULL),
	    REFRESH_INVALID);
}

/* The idle restart is written only when it moves by 1 % of the idle
 * lifetime (at most 60 s); a lifetime under 100 s is always exact. */
static void
idle_restart_is_written_when_it_moves_enough(void **state)
{
	(void)state;
	/* idle 100 s: slack 1 s. */
	assert_false(refresh_touch_due(NOW + 100, 100, NOW));
	assert_true(refresh_touch_due(NOW + 100, 100, NOW + 1));
	/* idle 99 s: slack 0, always written. */
	assert_true(refresh_touch_due(NOW + 99, 99, NOW));
	/* idle 15 days: slack capped at 60 s. */
	assert_false(refresh_touch_due(NOW + 1296000, 1296000, NOW + 59));
	assert_true(refresh_touch_due(NOW + 1296000, 1296000, NOW + 60));
	/* No idle limit, or no expiry recorded yet: written. */
	assert_true(refresh_touch_due(0, 0, NOW));
	assert_true(refresh_touch_due(0, 1296000, NOW));
}

/* A refresh within the slack writes nothing: the stored idle expiry
 * stays, and the token still expires idle on time within the slack. */
static void
non_rotating_refresh_within_slack_writes_nothing(void **state)
{
	struct fx	*fx = *state;
	char		 t[96], key[72];
	json_t		*rec;
	json_int_t	 first;

	use_client(fx, client_rec("non-rotating", 100000, 10000, 0));
	issue(fx, NULL, NOW, t);
	assert_int_equal(hash_secret(t, strlen(t), key), 0);
	assert_int_equal(redeem(fx, t, NULL, NOW + 200, NULL, NULL), REFRESH_OK);
	assert_int_equal(store_get(fx->ctx.store, NULL, SK_REFRESH, key, &rec), STORE_OK);
	first = json_integer_value(json_object_get(rec, "idle_expires_at"));
	assert_int_equal(first, NOW + 200 + 10000);
	json_decref(rec);
	/* 50 s later: the restart would move it 50 s < 60 s (1 % of 10000
	 * is 100, capped at 60): not written. */
	assert_int_equal(redeem(fx, t, NULL, NOW + 250, NULL, NULL), REFRESH_OK);
	assert_int_equal(store_get(fx->ctx.store, NULL, SK_REFRESH, key, &rec), STORE_OK);
	assert_int_equal(json_integer_value(json_object_get(rec,
	    "idle_expires_at")), first);
	json_decref(rec);
	/* 60 s after the write: written again. */
	assert_int_equal(redeem(fx, t, NULL, NOW + 260, NULL, NULL), REFRESH_OK);
	assert_int_equal(store_get(fx->ctx.store, NULL, SK_REFRESH, key, &rec), STORE_OK);
	assert_int_equal(json_integer_value(json_object_get(rec,
	    "idle_expires_at")), NOW + 260 + 10000);
	json_decref(rec);
}

static void
rotation_spends_the_token_and_reuse_revokes_the_family(void **state)
{
	struct fx	*fx = *state;
	char		 t1[96], t2[96], t3[96];

	issue(fx, NULL, NOW, t1);
	assert_int_equal(redeem(fx, t1, NULL, NOW + 1, t2, NULL), REFRESH_OK);
	assert_true(strlen(t2) >= 43);
	assert_string_not_equal(t1, t2);
	assert_string_equal(family_of(fx, t2), family_of(fx, t1));
	assert_int_equal(redeem(fx, t2, NULL, NOW + 2, t3, NULL), REFRESH_OK);
	/* t1 again: reuse; the whole family dies, t3 included. */
	assert_int_equal(redeem(fx, t1, NULL, NOW + 3, NULL, NULL),
	    REFRESH_REUSED);
	assert_int_equal(redeem(fx, t3, NULL, NOW + 4, NULL, NULL),
	    REFRESH_INVALID);
	assert_int_equal(redeem(fx, t1, NULL, NOW + 5, NULL, NULL),
	    REFRESH_INVALID);
}

static void
leeway_lets_only_the_previous_token_be_reused(void **state)
{
	struct fx	*fx = *state;
	char		 t1[96], t2[96], t3[96], t4[96];

	use_client(fx, client_rec("rotating", 0, 0, 10));
	issue(fx, NULL, NOW, t1);
	assert_int_equal(redeem(fx, t1, NULL, NOW, t2, NULL), REFRESH_OK);
	/* Within the leeway t1 is still good (a lost response retried). */
	assert_int_equal(redeem(fx, t1, NULL, NOW + 5, t3, NULL), REFRESH_OK);
	assert_int_equal(redeem(fx, t3, NULL, NOW + 6, t4, NULL), REFRESH_OK);
	/* t1 is no longer the previous token: reuse. */
	assert_int_equal(redeem(fx, t1, NULL, NOW + 7, NULL, NULL),
	    REFRESH_REUSED);
	assert_int_equal(redeem(fx, t4, NULL, NOW + 8, NULL, NULL),
	    REFRESH_INVALID);
}

static void
leeway_ends(void **state)
{
	struct fx	*fx = *state;
	char		 t1[96], t2[96];

	use_client(fx, client_rec("rotating", 0, 0, 10));
	issue(fx, NULL, NOW, t1);
	assert_int_equal(redeem(fx, t1, NULL, NOW, t2, NULL), REFRESH_OK);
	assert_int_equal(redeem(fx, t1, NULL, NOW + 11, NULL, NULL),
	    REFRESH_REUSED);
}

static void
absolute_lifetime_does_not_extend_on_rotation(void **state)
{
	struct fx	*fx = *state;
	char		 t[96], n[96];

	use_client(fx, client_rec("rotating", 100, 1000, 0));
	issue(fx, NULL, NOW, t);
	assert_int_equal(redeem(fx, t, NULL, NOW + 60, n, NULL), REFRESH_OK);
	assert_int_equal(redeem(fx, n, NULL, NOW + 99, t, NULL), REFRESH_OK);
	assert_int_equal(redeem(fx, t, NULL, NOW + 100, NULL, NULL),
	    REFRESH_INVALID);
}

static void
another_clients_token_is_invalid_and_left_alone(void **state)
{
	struct fx	*fx = *state;
	json_t		*c = client_rec("rotating", 0, 0, 0);
	struct client_rec other, mine = fx->client;
	char		 t[96];

	json_object_set_new(c, "client_id", json_string("other"));
	client_parse(c, &other);
	issue(fx, NULL, NOW, t);
	fx->client = other;
	assert_int_equal(redeem(fx, t, NULL, NOW, NULL, NULL), REFRESH_INVALID);
	fx->client = mine;
	assert_int_equal(redeem(fx, t, NULL, NOW, NULL, NULL), REFRESH_OK);
	record_clear(REC_CLIENT, &other);
}

static void
unknown_token_is_invalid(void **state)
{
	struct fx	*fx = *state;

	assert_int_equal(redeem(fx, "no-such-token", NULL, NOW, NULL, NULL),
	    REFRESH_INVALID);
	assert_int_equal(redeem(fx, "", NULL, NOW, NULL, NULL),
	    REFRESH_INVALID);
}

static void
deleted_user_ends_the_family(void **state)
{
	struct fx	*fx = *state;
	char		 t[96];

	issue(fx, NULL, NOW, t);
	assert_int_equal(store_user_del(fx->ctx.store, NULL, UID), STORE_OK);
	assert_int_equal(redeem(fx, t, NULL, NOW, NULL, NULL),
	    REFRESH_USER_GONE);
	user_put(fx, UID, 0, 0);	/* even if it comes back */
	assert_int_equal(redeem(fx, t, NULL, NOW, NULL, NULL), REFRESH_INVALID);
}

static void
blocked_user_is_refused(void **state)
{
	struct fx	*fx = *state;
	char		 t[96];

	issue(fx, NULL, NOW, t);
	user_put(fx, UID, 1, 0);
	assert_int_equal(redeem(fx, t, NULL, NOW, NULL, NULL),
	    REFRESH_USER_BLOCKED);
}

static void
new_password_ends_older_tokens_only(void **state)
{
	struct fx	*fx = *state;
	char		 old[96], new[96];

	issue(fx, NULL, NOW, old);
	user_put(fx, UID, 0, NOW + 10);
	issue(fx, NULL, NOW + 20, new);
	assert_int_equal(redeem(fx, old, NULL, NOW + 30, NULL, NULL),
	    REFRESH_INVALID);
	assert_int_equal(redeem(fx, new, NULL, NOW + 30, NULL, NULL),
	    REFRESH_OK);
}

static void
scope_narrows_but_never_widens(void **state)
{
	struct fx	*fx = *state;
	char		 t[96], n[96], granted[512];

	issue(fx, NULL, NOW, t);
	assert_int_equal(redeem(fx, t, "read:x admin:x", NOW, NULL, NULL),
	    REFRESH_SCOPE);
	/* Refused, so not spent: the token still works.  "openid" alone
	 * expands as at login, within the grant. */
	assert_int_equal(redeem(fx, t, "write:x openid", NOW, n, granted),
	    REFRESH_OK);
	assert_string_equal(granted, "openid profile write:x");
	/* The successor keeps the whole original grant (RFC 6749 6). */
	assert_int_equal(redeem(fx, n, NULL, NOW, NULL, granted), REFRESH_OK);
	assert_string_equal(granted, SCOPE);
}

static void
revoke_token_needs_the_owning_client(void **state)
{
	struct fx	*fx = *state;
	char		 t[96], n[96];
	int		 found;

	issue(fx, NULL, NOW, t);
	assert_int_equal(redeem(fx, t, NULL, NOW, n, NULL), REFRESH_OK);
	assert_int_equal(refresh_revoke_token(fx->ctx.store, NULL, n, "other",
	    NOW, &found), STORE_OK);
	assert_int_equal(found, 0);
	assert_int_equal(refresh_revoke_token(fx->ctx.store, NULL, "unknown",
	    CID, NOW, &found), STORE_OK);
	assert_int_equal(found, 0);
	/* Revoking a spent token ends its family, successor included. */
	assert_int_equal(refresh_revoke_token(fx->ctx.store, NULL, t, CID,
	    NOW, &found), STORE_OK);
	assert_int_equal(found, 1);
	assert_int_equal(redeem(fx, n, NULL, NOW, NULL, NULL), REFRESH_INVALID);
}

/*
 * A replay of the spent token within the leeway is answered with a new
 * successor, and the first successor stops being current: whichever
 * holder presents an abandoned successor trips reuse detection, and the
 * family dies; two holders never keep two live chains.
 */
static void
leeway_replay_leaves_one_live_chain(void **state)
{
	struct fx	*fx = *state;
	char		 r0[96], r1[96], r2[96], r3[96];
	int		 order;

	use_client(fx, client_rec("rotating", 0, 0, 10));
	for (order = 0; order < 2; order++) {
		issue(fx, NULL, NOW, r0);
		assert_int_equal(redeem(fx, r0, NULL, NOW, r1, NULL),
		    REFRESH_OK);
		assert_int_equal(redeem(fx, r0, NULL, NOW + 1, r2, NULL),
		    REFRESH_OK);
		assert_string_not_equal(r1, r2);
		if (order == 0) {
			/* The older successor first: reuse at once. */
			assert_int_equal(redeem(fx, r1, NULL, NOW + 2, NULL,
			    NULL), REFRESH_REUSED);
			assert_int_equal(redeem(fx, r2, NULL, NOW + 3, NULL,
			    NULL), REFRESH_INVALID);
			continue;
		}
		/* The replay's successor first: it works, the other holder
		 * then trips reuse, and the whole chain ends. */
		assert_int_equal(redeem(fx, r2, NULL, NOW + 2, r3, NULL),
		    REFRESH_OK);
		assert_int_equal(redeem(fx, r1, NULL, NOW + 3, NULL, NULL),
		    REFRESH_REUSED);
		assert_int_equal(redeem(fx, r3, NULL, NOW + 4, NULL, NULL),
		    REFRESH_INVALID);
	}
}

/* The leeway does not grow with each replay: it runs from the first use. */
static void
leeway_replays_do_not_extend_the_window(void **state)
{
	struct fx	*fx = *state;
	char		 r0[96], r1[96], r2[96];

	use_client(fx, client_rec("rotating", 0, 0, 10));
	issue(fx, NULL, NOW, r0);
	assert_int_equal(redeem(fx, r0, NULL, NOW, r1, NULL), REFRESH_OK);
	assert_int_equal(redeem(fx, r0, NULL, NOW + 9, r2, NULL), REFRESH_OK);
	assert_int_equal(redeem(fx, r0, NULL, NOW + 11, NULL, NULL),
	    REFRESH_REUSED);
	assert_int_equal(redeem(fx, r2, NULL, NOW + 12, NULL, NULL),
	    REFRESH_INVALID);
}

/* The SK_REFRESH record of token (a new reference). */
static json_t *
token_rec(struct fx *fx, const char *token)
{
	json_t	*rec = NULL;
	char	 key[72];

	assert_int_equal(hash_secret(token, strlen(token), key), 0);
	assert_int_equal(store_get(fx->ctx.store, NULL, SK_REFRESH, key, &rec),
	    STORE_OK);
	return rec;
}

/*
 * A rotation writes two records, the successor and the family: the
 * spent token's own record is left as it was issued (the family says it
 * is spent), and the store grows by one record a rotation.
 */
static void
rotation_writes_the_successor_and_the_family_only(void **state)
{
	struct fx	*fx = *state;
	json_t		*before, *after;
	char		 r0[96], r1[96];
	int		 records = 0;

	issue(fx, NULL, NOW, r0);
	before = token_rec(fx, r0);
	assert_int_equal(redeem(fx, r0, NULL, NOW + 5, r1, NULL), REFRESH_OK);
	after = token_rec(fx, r0);
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
	assert_int_equal(store_each(fx->ctx.store, NULL, SK_REFRESH, count_cb,
	    &records), STORE_OK);
	assert_int_equal(records, 3);
	assert_int_equal(redeem(fx, r0, NULL, NOW + 6, NULL, NULL),
	    REFRESH_REUSED);
}

/*
 * Make the rotation r0 -> r1 look as an older release wrote it: r0's
 * record "spent" at NOW with "next" r1, no "prev" in the family.
 */
static void
legacy_spend(struct fx *fx, const char *r0, const char *r1)
{
	json_t		*rec, *fam;
	char		 key[72], nkey[72], fkey[128];

	assert_int_equal(hash_secret(r0, strlen(r0), key), 0);
	assert_int_equal(hash_secret(r1, strlen(r1), nkey), 0);
	rec = token_rec(fx, r0);
	json_object_set_new(rec, "status", json_string("spent"));
	json_object_set_new(rec, "spent_at", json_integer(NOW));
	json_object_set_new(rec, "next", json_string(nkey));
	assert_int_equal(store_put(fx->ctx.store, NULL, SK_REFRESH, key, rec,
	    0), STORE_OK);
	snprintf(fkey, sizeof(fkey), "family:%s", family_of(fx, r0));
	assert_int_equal(store_get(fx->ctx.store, NULL, SK_REFRESH, fkey,
	    &fam), STORE_OK);
	assert_non_null(json_object_get(fam, "prev"));
	json_object_del(fam, "prev");
	json_object_del(fam, "prev_spent_at");
	assert_int_equal(store_put(fx->ctx.store, NULL, SK_REFRESH, fkey, fam,
	    0), STORE_OK);
	json_decref(rec);
	json_decref(fam);
}

/*
 * Families rotated by an older release (the spent token's record marked
 * "spent" with its successor in "next") keep their leeway and their
 * reuse detection: the window still runs from that first use.
 */
static void
older_releases_spent_tokens_keep_leeway_and_reuse(void **state)
{
	struct fx	*fx = *state;
	char		 r0[96], r1[96], r2[96], r3[96];

	use_client(fx, client_rec("rotating", 0, 0, 10));
	issue(fx, NULL, NOW, r0);
	assert_int_equal(redeem(fx, r0, NULL, NOW, r1, NULL), REFRESH_OK);
	legacy_spend(fx, r0, r1);
	assert_int_equal(redeem(fx, r0, NULL, NOW + 9, r2, NULL), REFRESH_OK);
	assert_int_equal(redeem(fx, r0, NULL, NOW + 11, NULL, NULL),
	    REFRESH_REUSED);
	assert_int_equal(redeem(fx, r2, NULL, NOW + 12, NULL, NULL),
	    REFRESH_INVALID);
	/* Outside the leeway at once: reuse; the successor still works. */
	issue(fx, NULL, NOW, r0);
	assert_int_equal(redeem(fx, r0, NULL, NOW, r1, NULL), REFRESH_OK);
	legacy_spend(fx, r0, r1);
	assert_int_equal(redeem(fx, r1, NULL, NOW + 20, r3, NULL), REFRESH_OK);
	assert_int_equal(redeem(fx, r0, NULL, NOW + 21, NULL, NULL),
	    REFRESH_REUSED);
	assert_int_equal(redeem(fx, r3, NULL, NOW + 22, NULL, NULL),
	    REFRESH_INVALID);
}

/* Redeem token at t with the flush deferred: whether it left a commit
 * to flush, then flushed. */
static int
redeem_unflushed(struct fx *fx, const char *token, time_t t,
    enum refresh_rc want)
{
	struct refresh_use	 u;
	int			 unflushed;

	refresh_use_init(&u);
	u.token = token;
	u.clientrec = &fx->client;
	u.now = t;
	u.defer_flush = 1;
	assert_int_equal(refresh_redeem(fx->ctx.store, &u), want);
	unflushed = u.unflushed;
	assert_int_equal(refresh_flush(fx->ctx.store, &u), 0);
	assert_int_equal(u.unflushed, 0);
	refresh_use_clear(&u);
	return unflushed;
}

/*
 * The home's log as db5.3_stat -l reports it: the offset written and
 * the offset synced to disk (one log file: the test writes little).
 */
static void
log_offsets(struct fx *fx, long *cur, long *disk)
{
	char	 cmd[PATH_MAX + 64], line[256];
	FILE	*p;

	*cur = *disk = -1;
	snprintf(cmd, sizeof(cmd), "db5.3_stat -l -h '%s'", fx->home);
	assert_non_null(p = popen(cmd, "r"));
	while (fgets(line, sizeof(line), p) != NULL) {
		if (strstr(line, "\tCurrent log file offset") != NULL)
			*cur = strtol(line, NULL, 10);
		else if (strstr(line, "\tOn-disk log file offset") != NULL)
			*disk = strtol(line, NULL, 10);
	}
	assert_int_equal(pclose(p), 0);
	assert_true(*cur > 0 && *disk > 0);
}

/*
 * With the flush deferred the rotation is committed but its log is not
 * yet on disk; refresh_flush syncs it (docs/security.md "Durability":
 * grant_refresh answers only after that).
 */
static void
deferred_rotation_is_synced_by_refresh_flush(void **state)
{
	struct fx		*fx = *state;
	struct refresh_use	 u;
	char			 r0[96];
	long			 cur, disk;

	issue(fx, NULL, NOW, r0);
	log_offsets(fx, &cur, &disk);
	assert_int_equal(disk, cur);		/* the issue was synced */
	refresh_use_init(&u);
	u.token = r0;
	u.clientrec = &fx->client;
	u.now = NOW;
	u.defer_flush = 1;
	assert_int_equal(refresh_redeem(fx->ctx.store, &u), REFRESH_OK);
	log_offsets(fx, &cur, &disk);
	assert_true(disk < cur);
	assert_int_equal(refresh_flush(fx->ctx.store, &u), 0);
	log_offsets(fx, &cur, &disk);
	assert_int_equal(disk, cur);
	refresh_use_clear(&u);
}

/*
 * grant_refresh syncs the redeeming commit after signing, with
 * refresh_flush: only a redemption that wrote leaves one to sync (a
 * rotation, a restarted idle time, a revocation), a refusal that wrote
 * nothing and a non-rotating refresh within the slack leave none.
 */
static void
deferred_flush_only_after_a_write(void **state)
{
	struct fx	*fx = *state;
	char		 r0[96];

	issue(fx, NULL, NOW, r0);
	assert_int_equal(redeem_unflushed(fx, "no such token", NOW,
	    REFRESH_INVALID), 0);
	assert_int_equal(redeem_unflushed(fx, r0, NOW, REFRESH_OK), 1);
	/* Reuse revokes the family: written. */
	assert_int_equal(redeem_unflushed(fx, r0, NOW + 1, REFRESH_REUSED), 1);
	assert_int_equal(redeem_unflushed(fx, r0, NOW + 2, REFRESH_INVALID), 0);
	use_client(fx, client_rec("non-rotating", 0, 0, 0));
	issue(fx, NULL, NOW, r0);
	assert_int_equal(redeem_unflushed(fx, r0, NOW + 1, REFRESH_OK), 0);
	assert_int_equal(redeem_unflushed(fx, r0, NOW + 3600, REFRESH_OK), 1);
}

/* A non-rotating family's one token is always its current one. */
static void
non_rotating_token_is_never_reuse(void **state)
{
	struct fx	*fx = *state;
	char		 t[96];
	int		 i;

	use_client(fx, client_rec("non-rotating", 0, 0, 0));
	issue(fx, NULL, NOW, t);
	for (i = 0; i < 3; i++)
		assert_int_equal(redeem(fx, t, NULL, NOW + i, NULL, NULL),
		    REFRESH_OK);
}

/*
 * The token's API is read in the redeeming transaction: once it has been
 * removed the refresh is refused (naming the audience) and the token is
 * not spent, so it works again when the API is back.
 */
static void
removed_api_refuses_before_spending(void **state)
{
	struct fx		*fx = *state;
	struct refresh_use	 u;
	char			 t[96], n[96];

	issue(fx, NULL, NOW, t);
	assert_int_equal(store_del(fx->ctx.store, NULL, SK_API, AUD), STORE_OK);
	refresh_use_init(&u);
	u.token = t;
	u.clientrec = &fx->client;
	u.now = NOW;
	assert_int_equal(refresh_redeem(fx->ctx.store, &u), REFRESH_NO_API);
	assert_string_equal(json_string_value(json_object_get(u.rec,
	    "audience")), AUD);
	assert_null(u.user.json);
	assert_string_equal(u.next, "");
	refresh_use_clear(&u);
	api_put(fx);
	assert_int_equal(redeem(fx, t, NULL, NOW + 1, n, NULL), REFRESH_OK);
	assert_true(strlen(n) >= 43);
}

/* The redeemed token hands back its API for the new access token. */
static void
redeem_returns_the_tokens_api(void **state)
{
	struct fx		*fx = *state;
	struct refresh_use	 u;
	char			 t[96];

	issue(fx, NULL, NOW, t);
	refresh_use_init(&u);
	u.token = t;
	u.clientrec = &fx->client;
	u.now = NOW;
	assert_int_equal(refresh_redeem(fx->ctx.store, &u), REFRESH_OK);
	assert_non_null(u.api.json);
	assert_string_equal(u.api.identifier, AUD);
	refresh_use_clear(&u);
	assert_null(u.api.json);
}

/* ------------------------------------------------------------------ */

/* Child: open the environment, wait for the go file, redeem once;
 * exit 0 on success, 1 on a refusal, 2 on an error. */
static void
race_child(const char *home, const char *token, const char *go)
{
	struct lk_ctx		 ctx;
	struct refresh_use	 u;
	struct client_rec	 c;
	enum refresh_rc		 rc;

	client_parse(client_rec("rotating", 0, 0, 0), &c);
	memset(&ctx, 0, sizeof(ctx));
	if ((ctx.store = store_open(home, 0)) == NULL)
		_exit(2);
	while (access(go, F_OK) == -1)
		usleep(100);
	refresh_use_init(&u);
	u.token = token;
	u.clientrec = &c;
	u.now = NOW;
	rc = refresh_redeem(ctx.store, &u);
	refresh_use_clear(&u);
	store_close(ctx.store);
	_exit(rc == REFRESH_OK ? 0 : rc == REFRESH_ERR ? 2 : 1);
}

static void
two_processes_racing_one_token_succeed_once(void **state)
{
	struct fx	*fx = *state;
	char		 t[96], go[PATH_MAX], n[96];
	pid_t		 pid[2];
	int		 i, round, status, ok, tokens;
	FILE		*f;

	for (round = 0; round < RACES; round++) {
		issue(fx, NULL, NOW, t);
		snprintf(go, sizeof(go), "%s/go%d", fx->dir, round);
		for (i = 0; i < 2; i++) {
			assert_true((pid[i] = fork()) != -1);
			if (pid[i] == 0)
				race_child(fx->home, t, go);
		}
		usleep(20000);
		assert_non_null(f = fopen(go, "w"));
		fclose(f);
		ok = 0;
		for (i = 0; i < 2; i++) {
			assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
			assert_true(WIFEXITED(status));
			assert_int_not_equal(WEXITSTATUS(status), 2);
			ok += WEXITSTATUS(status) == 0;
		}
		assert_int_equal(ok, 1);
		/* Nothing half-written: the token is spent, and the loser's
		 * reuse revoked the family, so no token of it works now. */
		assert_int_equal(redeem(fx, t, NULL, NOW, n, NULL),
		    REFRESH_INVALID);
	}
	/* Each round wrote exactly one successor: 2 tokens + 1 family. */
	tokens = 0;
	assert_int_equal(store_each(fx->ctx.store, NULL, SK_REFRESH, count_cb,
	    &tokens), STORE_OK);
	assert_int_equal(tokens, 3 * RACES);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(token_is_random_and_stored_only_hashed),
		T(non_rotating_token_is_reused_and_idle_time_restarts),
		T(idle_restart_is_written_when_it_moves_enough),
		T(non_rotating_refresh_within_slack_writes_nothing),
		T(rotation_spends_the_token_and_reuse_revokes_the_family),
		T(leeway_lets_only_the_previous_token_be_reused),
		T(leeway_ends),
		T(absolute_lifetime_does_not_extend_on_rotation),
		T(another_clients_token_is_invalid_and_left_alone),
		T(unknown_token_is_invalid),
		T(deleted_user_ends_the_family),
		T(blocked_user_is_refused),
		T(new_password_ends_older_tokens_only),
		T(scope_narrows_but_never_widens),
		T(revoke_token_needs_the_owning_client),
		T(leeway_replay_leaves_one_live_chain),
		T(leeway_replays_do_not_extend_the_window),
		T(rotation_writes_the_successor_and_the_family_only),
		T(older_releases_spent_tokens_keep_leeway_and_reuse),
		T(deferred_flush_only_after_a_write),
		T(deferred_rotation_is_synced_by_refresh_flush),
		T(non_rotating_token_is_never_reuse),
		T(removed_api_refuses_before_spending),
		T(redeem_returns_the_tokens_api),
		T(two_processes_racing_one_token_succeed_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

