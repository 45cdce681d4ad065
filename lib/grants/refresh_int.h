/*
 * latchkey: what the refresh-token files share: refresh.c (the records,
 * issue, redeem, RFC 7009 revocation of one token), refresh_conf.c (a
 * client's settings), refresh_index.c (the per-user index of families)
 * and lib/admin/refresh_admin.c (listing, revocation by selection,
 * pruning).  Only those files include this header; grants.h and
 * admin.h declare what others use.
 */
#ifndef LATCHKEY_REFRESH_INT_H
#define LATCHKEY_REFRESH_INT_H

#define REFRESH_BYTES		32	/* 256 bits */
#define FAMILY_BYTES		16
#define FAMILY_ID_LEN		(2 * FAMILY_BYTES)	/* hex */
#define FAMILY_PREFIX		"family:"
#define DIGEST_PREFIX		"sha256:"
#define FAMILY_KEY_MAX		(sizeof(FAMILY_PREFIX) + FAMILY_ID_LEN + 1)
#define DIGEST_KEY_MAX		72	/* hash_secret()'s "sha256:<hex>" */
#define INDEX_SEP		'\x1f'
#define INDEX_KEY_MAX		2048	/* the store's key bound */

/*
 * The members of the two SK_REFRESH records (refresh.c shows which
 * record has which), named once in refresh.c's table.
 */
enum rmem {
	RM_USER_ID,
	RM_CLIENT_ID,
	RM_AUDIENCE,
	RM_SCOPE,
	RM_DEVICE,
	RM_FAMILY,		/* a token's family id */
	RM_PWD_AT,		/* a token's user password_set_at */
	RM_CREATED_AT,
	RM_EXPIRES_AT,		/* absolute, the family's; 0 never */
	RM_IDLE_EXPIRES_AT,	/* 0 never */
	RM_STATUS,		/* "active", "spent" (token), "revoked" (family) */
	RM_SPENT_AT,		/* (older releases' spent tokens) */
	RM_NEXT,		/* ... a spent token's successor's digest */
	RM_LAST_USED_AT,
	RM_CURRENT,		/* a family's newest token's digest */
	RM_REVOKED_AT,
	RM_REASON,
	RM_JKT,			/* a family's DPoP key thumbprint (RFC 9449 5) */
	RM_PREV,		/* a family's token before current (digest) */
	RM_PREV_SPENT_AT,	/* ... and when it was first used */
	RM__MAX
};

/* The member's name. */
const char	*refresh_member(enum rmem);
/* The member of rec as a string (NULL: absent or not one) or an
 * integer (0: absent or not one). */
const char	*refresh_str(const json_t *rec, enum rmem);
json_int_t	 refresh_int(const json_t *rec, enum rmem);
/* 1 when the member of rec is the string s. */
int		 refresh_is(const json_t *rec, enum rmem, const char *s);
/* Set the member of rec to v (a new reference, stolen). */
void		 refresh_set(json_t *rec, enum rmem, json_t *v);

/* The expiry for a lifetime (0: never), and whether it has passed. */
json_int_t	 refresh_expiry(time_t now, long life);
int		 refresh_expired(json_int_t at, time_t now);
/* The SK_REFRESH key of family id. */
void		 refresh_family_key(const char *id, char key[FAMILY_KEY_MAX]);
/* Revoke an active family (fam its record, under fkey) for reason;
 * STORE_OK at once for one that is not active. */
enum store_rc	 refresh_family_revoke(struct store *, struct txn *,
		    const char *fkey, json_t *fam, const char *reason,
		    time_t now);

/* refresh_index.c: the index key of a user's family (id NULL: the prefix
 * of all the user's).  0, or -1 when it would not fit (never stored). */
int		 refresh_index_key(const char *uid, const char *id,
		    char key[INDEX_KEY_MAX + 1]);
/* Index family id (fam its record) in txn; a user_id too long to index
 * is logged and left out: selection by user then misses it. */
enum store_rc	 refresh_index_put(struct store *, struct txn *, const char *id,
		    const json_t *fam);
/* Drop a family's index entry (absent: nothing to do). */
enum store_rc	 refresh_index_del(struct store *, struct txn *, const char *id,
		    const json_t *fam);

#endif /* !LATCHKEY_REFRESH_INT_H */
