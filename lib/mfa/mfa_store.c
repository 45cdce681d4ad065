/*
 * mfa_store.c: a user's authenticators and the failed verifications
 * limit (docs/COMPAT.md 13.4, 13.5), in SK_MFA:
 *	"a\x1f<user_id>\x1f<id>"	an authenticator (REC_AUTHENTICATOR)
 *	"f\x1f<user_id>"		{"level", "t"}: the failures bucket
 *	"s\x1f<user_id>"		{"level", "t"}: the codes-sent bucket
 * The bucket is guard_bucket.c's: MFA_FAIL_CAP failures, one more every
 * MFA_FAIL_PERIOD seconds (Auth0: 10 failed verifications, refilled one
 * every 6 minutes), per user and shared by every process through the
 * store, whatever the IP.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

/* The failures bucket, and the codes-sent bucket: cap tokens, one token
 * per period seconds. */
static const struct guard_rate fail_rate = { MFA_FAIL_CAP, 1, MFA_FAIL_PERIOD };
static const struct guard_rate send_rate = { MFA_SEND_CAP, 1, MFA_SEND_PERIOD };

/* The id prefixes (Auth0's authenticator ids), by type. */
static const char *const id_prefix[MFA_TYPE__MAX] = {
	[MFA_TYPE_OTP] = "totp",
	[MFA_TYPE_OOB] = "oob",
	[MFA_TYPE_RECOVERY] = "recovery-code",
};

static int
auth_key(const char *user_id, const char *id, char *key, size_t keysz)
{
	int	 n;

	if (id == NULL)
		n = snprintf(key, keysz, "a\x1f%s\x1f", user_id);
	else
		n = snprintf(key, keysz, "a\x1f%s\x1f%s", user_id, id);
	return n < 0 || (size_t)n >= keysz ? -1 : 0;
}

static int
load_cb(const char *key, json_t *val, void *arg)
{
	struct mfa_set	*set = arg;

	if (set->n == MFA_AUTH_MAX)
		return 1;
	if (record_parse(REC_AUTHENTICATOR, val, &set->a[set->n]) == 0)
		set->n++;
	return 0;
}

enum store_rc
mfa_set_load(struct store *s, const char *user_id, struct mfa_set *set)
{
	char		 prefix[256];
	enum store_rc	 rc;

	memset(set, 0, sizeof(*set));
	if (auth_key(user_id, NULL, prefix, sizeof(prefix)) == -1)
		return STORE_ERR;
	if ((rc = store_scan(s, SK_MFA, prefix, load_cb, set)) != STORE_OK)
		mfa_set_clear(set);
	return rc;
}

void
mfa_set_clear(struct mfa_set *set)
{
	size_t	 i;

	for (i = 0; i < set->n; i++)
		record_clear(REC_AUTHENTICATOR, &set->a[i]);
	set->n = 0;
}

const struct authenticator *
mfa_set_find(const struct mfa_set *set, enum mfa_type t, int active)
{
	size_t	 i;

	for (i = 0; i < set->n; i++)
		if (set->a[i].type == t && (!active || set->a[i].active))
			return &set->a[i];
	return NULL;
}

int
mfa_set_enrolled(const struct mfa_set *set)
{

	return mfa_set_find(set, MFA_TYPE_OTP, 1) != NULL ||
	    mfa_set_find(set, MFA_TYPE_OOB, 1) != NULL;
}

enum store_rc
mfa_auth_put(struct store *s, struct txn *txn, const json_t *rec)
{
	char	 key[256];

	if (auth_key(json_string_value(json_object_get(rec, "user_id")),
	    json_string_value(json_object_get(rec, "id")), key,
	    sizeof(key)) == -1)
		return STORE_ERR;
	return store_put(s, txn, SK_MFA, key, rec, 0);
}

enum store_rc
mfa_auth_del(struct store *s, struct txn *txn, const char *user_id,
    const char *id)
{
	char	 key[256];

	if (auth_key(user_id, id, key, sizeof(key)) == -1)
		return STORE_ERR;
	return store_del(s, txn, SK_MFA, key);
}

int
mfa_auth_id(enum mfa_type t, char *out, size_t outsz)
{
	char	 hex[17];
	int	 n;

	if (rand_hex(hex, 8) == -1)
		return -1;
	n = snprintf(out, outsz, "%s|dev_%s", id_prefix[t], hex);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/* The bucket at key, refilled to now (a new one is full). */
static enum store_rc
bucket_read(struct store *s, struct txn *txn, const char *key,
    const struct guard_rate *rate, time_t now, struct guard_bucket *b)
{
	struct guard_rec gr;
	json_t		*rec = NULL;
	enum store_rc	 rc;

	rc = store_get(s, txn, SK_MFA, key, &rec);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	guard_rec_parse(rec, &gr);
	guard_bucket_of(rec != NULL ? &gr : NULL, rate, now, b);
	json_decref(rec);
	return STORE_OK;
}

static int
fail_key(const char *user_id, char *key, size_t keysz)
{
	int	 n = snprintf(key, keysz, "f\x1f%s", user_id);

	return n < 0 || (size_t)n >= keysz ? -1 : 0;
}

/* In txn: take a token from the bucket at key; *ok says if there was
 * one (an empty bucket is left as it is). */
static enum store_rc
bucket_take(struct store *s, struct txn *txn, const char *key,
    const struct guard_rate *rate, time_t now, int *ok)
{
	struct guard_bucket	 b;
	json_t			*rec;
	enum store_rc		 rc;

	if ((rc = bucket_read(s, txn, key, rate, now, &b)) != STORE_OK)
		return rc;
	if (!(*ok = guard_bucket_take(&b, rate, now) == 0))
		return STORE_OK;
	if ((rec = json_pack("{s:I, s:I}", "level", (json_int_t)b.level, "t",
	    (json_int_t)now)) == NULL)
		return STORE_ERR;
	rc = store_put(s, txn, SK_MFA, key, rec, 0);
	json_decref(rec);
	return rc;
}

struct send_take {
	char	 key[256];
	time_t	 now;
	int	 ok;
};

static enum store_rc
send_txn(struct store *s, struct txn *txn, void *arg)
{
	struct send_take	*st = arg;

	return bucket_take(s, txn, st->key, &send_rate, st->now, &st->ok);
}

int
mfa_send_take(struct store *s, const char *user_id, time_t now)
{
	struct send_take	 st;
	int			 n;

	n = snprintf(st.key, sizeof(st.key), "s\x1f%s", user_id);
	if (n < 0 || (size_t)n >= sizeof(st.key))
		return -1;
	st.now = now;
	st.ok = 0;
	if (store_txn_run(s, send_txn, &st) != STORE_OK)
		return -1;
	return st.ok;
}

int
mfa_fail_room(struct store *s, struct txn *txn, const char *user_id, time_t now)
{
	struct guard_bucket	 b;
	char			 key[256];

	if (fail_key(user_id, key, sizeof(key)) == -1 ||
	    bucket_read(s, txn, key, &fail_rate, now, &b) != STORE_OK)
		return -1;
	return b.level >= fail_rate.period;
}

enum store_rc
mfa_fail_take(struct store *s, struct txn *txn, const char *user_id, time_t now)
{
	char	 key[256];
	int	 ok;

	if (fail_key(user_id, key, sizeof(key)) == -1)
		return STORE_ERR;
	/* An empty bucket stays empty: the failure is refused anyway. */
	return bucket_take(s, txn, key, &fail_rate, now, &ok);
}

enum store_rc
mfa_audit(struct store *s, struct txn *txn, const struct guard_who *w,
    const char *user_id, enum guard_event ev, time_t now)
{
	char		 key[48];
	json_t		*rec;
	enum store_rc	 rc;

	if ((rec = audit_record(w, NULL, user_id, ev, now, key,
	    sizeof(key))) == NULL)
		return STORE_ERR;
	rc = store_put(s, txn, SK_AUDIT, key, rec, 0);
	json_decref(rec);
	return rc;
}
