/*
 * guard_bucket.c: the token buckets of attack protection (docs/COMPAT.md
 * 6) and the SK_GUARD records that hold them.
 *
 * A bucket of cap tokens refilled per tokens every period seconds is
 * kept exactly in integer units (one token is period units, each second
 * adds per units), refilled lazily when read; a record keeps {"level",
 * "t"}.  A brute-force count keeps {"count", "last_failure",
 * "blocked_at", "user_id"}.  Both keep the "identifier" (folded) and
 * "ip" they count, endpoint buckets their "endpoint".  A full bucket, an
 * expired or reset count is the same as no record: success deletes the
 * pair's count, `latchkeyctl guard prune` deletes the rest.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "extern.h"

static const struct {
	const char	*prefix;
	const char	*name;		/* "kind" in guard_list */
} kinds[GUARD_K__MAX] = {
	[GUARD_K_BF] = { "bf", "brute_force" },
	[GUARD_K_IP] = { "ip", "suspicious_ip" },
	[GUARD_K_RL] = { "rl", "login_rate" },
	[GUARD_K_EP] = { "ep", "endpoint_rate" },
	[GUARD_K_PR] = { "pr", "recipient_rate" },
};

/* The members of a record, as struct guard_rec holds them. */
static const struct {
	const char	*name;
	int		 string;	/* else an integer */
	size_t		 off;
} rec_members[] = {
	{ "identifier", 1, offsetof(struct guard_rec, identifier) },
	{ "ip", 1, offsetof(struct guard_rec, ip) },
	{ "endpoint", 1, offsetof(struct guard_rec, endpoint) },
	{ "user_id", 1, offsetof(struct guard_rec, user_id) },
	{ "count", 0, offsetof(struct guard_rec, count) },
	{ "last_failure", 0, offsetof(struct guard_rec, last_failure) },
	{ "blocked_at", 0, offsetof(struct guard_rec, blocked_at) },
	{ "level", 0, offsetof(struct guard_rec, level) },
	{ "t", 0, offsetof(struct guard_rec, t) },
};

/* ------------------------------------------------------------------ */
/* Token buckets: exact integer arithmetic, a fixed clock in tests.    */

void
guard_bucket_init(struct guard_bucket *b, const struct guard_rate *r,
    time_t now)
{

	b->level = (long long)r->cap * r->period;
	b->t = now;
}

long
guard_bucket_fill(struct guard_bucket *b, const struct guard_rate *r,
    time_t now)
{
	long long	 full = (long long)r->cap * r->period;

	if (b->level < 0)
		b->level = 0;
	if (now > b->t) {
		/* Compare before multiplying: years of idle cannot overflow. */
		if ((long long)(now - b->t) >= full / r->per + 1)
			b->level = full;
		else
			b->level += (long long)(now - b->t) * r->per;
	}
	if (b->level > full)
		b->level = full;
	b->t = now;
	return (long)(b->level / r->period);
}

int
guard_bucket_take(struct guard_bucket *b, const struct guard_rate *r,
    time_t now)
{

	if (guard_bucket_fill(b, r, now) < 1)
		return -1;
	b->level -= r->period;
	return 0;
}

time_t
guard_bucket_next(const struct guard_bucket *b, const struct guard_rate *r,
    time_t now)
{
	long long	 need = r->period - b->level;

	return need <= 0 ? now : now + (time_t)((need + r->per - 1) / r->per);
}

time_t
guard_bucket_full_at(const struct guard_bucket *b, const struct guard_rate *r,
    time_t now)
{
	long long	 need = (long long)r->cap * r->period - b->level;

	return need <= 0 ? now : now + (time_t)((need + r->per - 1) / r->per);
}

/* ------------------------------------------------------------------ */
/* Records.                                                            */

void
guard_rec_parse(const json_t *rec, struct guard_rec *out)
{
	const json_t	*v;
	char		*m;
	size_t		 i;

	memset(out, 0, sizeof(*out));
	for (i = 0; rec != NULL && i < sizeof(rec_members) /
	    sizeof(rec_members[0]); i++) {
		v = json_object_get(rec, rec_members[i].name);
		m = (char *)out + rec_members[i].off;
		if (rec_members[i].string)
			*(const char **)(void *)m = json_string_value(v);
		else
			*(long long *)(void *)m = json_integer_value(v);
	}
}

void
guard_bucket_of(const struct guard_rec *rec, const struct guard_rate *r,
    time_t now, struct guard_bucket *b)
{

	if (rec == NULL) {
		guard_bucket_init(b, r, now);
		return;
	}
	b->level = rec->level;
	b->t = (time_t)rec->t;
	guard_bucket_fill(b, r, now);
}

int
guard_bf_blocked(const struct guard_rec *rec, const struct guard_conf *gc,
    time_t now)
{

	return rec->count >= gc->bf_threshold &&
	    now - rec->last_failure < gc->bf_block;
}

/* ------------------------------------------------------------------ */
/* Keys.                                                               */

void
guard_id_fold(const char *in, char *out, size_t outsz)
{
	size_t	 i;

	for (i = 0; in != NULL && in[i] != '\0' && i + 1 < outsz &&
	    i < GUARD_ID_MAX; i++)
		out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] - 'A' + 'a') :
		    in[i] == '\x1f' ? '?' : in[i];
	out[i] = '\0';
}

void
guard_key(char *key, enum guard_kind k, const char *a, const char *b)
{

	if (b == NULL)
		snprintf(key, GUARD_KEY_MAX, "%s\x1f%s", kinds[k].prefix, a);
	else
		snprintf(key, GUARD_KEY_MAX, "%s\x1f%s\x1f%s", kinds[k].prefix,
		    a, b);
}

enum guard_kind
guard_kind_of(const char *key)
{
	size_t	 i, n;

	for (i = 0; i < GUARD_K__MAX; i++) {
		n = strlen(kinds[i].prefix);
		if (strncmp(key, kinds[i].prefix, n) == 0 && key[n] == '\x1f')
			return (enum guard_kind)i;
	}
	return GUARD_K__MAX;
}

const char *
guard_kind_name(enum guard_kind k)
{

	return kinds[k].name;
}
