/*
 * guard.c: brute-force protection, suspicious IP throttling and rate
 * limits around every credential check (AUTH0-BEHAVIOUR.md 6; SPEC.md
 * "Attack protection").  The endpoints call, in this order:
 *	guard_ip()	 the end-user IP (guard_net.c), once the client is known;
 *	guard_endpoint() the per-endpoint rate limit;
 *	guard_before()	 refuse a blocked pair, an exhausted IP, a user
 *			 logging in too fast from one IP;
 *	... the credential check ...
 *	guard_after()	 count the failure or reset the pair, take from the
 *			 buckets, append the audit event (audit.c).
 * Requests refused before the credential check (malformed body, missing
 * fields, client authentication, unknown connection) never get here, so
 * they count for nothing, as Auth0's suspicious IP throttling says.
 *
 * Tenant settings (all optional; the defaults are Auth0's):
 *  "brute_force": {
 *	"enabled": true,
 *	"threshold": 10,		consecutive failures that block (1-100)
 *	"mode": "count_per_identifier_and_ip" (default; the pair is blocked)
 *	      | "count_per_identifier" (account lockout: all IPs together),
 *	"allowlist": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"],
 *	"block_seconds": 2592000	a block ends this long after the last failure
 *  }
 *  "suspicious_ip": {
 *	"enabled": true,
 *	"max_attempts": 100,		failed logins per IP (the bucket's size)
 *	"rate_seconds": 864,		one attempt given back every this many seconds
 *	"allowlist": [...]
 *  }
 *  "rate_limit": {
 *	"enabled": true,
 *	"login_per_minute": 20,		attempts of one identifier from one IP
 *					(successes too) before the limit ...
 *	"login_after_per_minute": 10,	... and the sustained rate after it
 *	"endpoint_per_minute": {"/oauth/token": 0, "/oauth/ro": 0,
 *	    "/passwordless/start": 0}	requests per IP per minute; 0: none;
 *					absent: the default, none except
 *					/passwordless/start's 50 an hour
 *	"passwordless_per_recipient_per_hour": 5  codes sent to one phone
 *					or address from all IPs together; 0: none
 *  }
 * A block is lifted by a success (there can be none while blocked), by
 * `latchkeyctl guard unblock`, by a password change (latchkeyctl), by
 * block_seconds without a failure, or by raising the threshold.
 *
 * Records (SK_GUARD, extern.h): counters are JSON objects; buckets keep
 * {"level", "t"} in exact integer units (struct guard_bucket) and are
 * refilled lazily when read.  A full bucket, an expired or reset count is
 * the same as no record: success deletes the pair's count, `latchkeyctl
 * guard prune` deletes the rest.
 *
 * Cost and concurrency: one read transaction before the credential check
 * (at most three gets) and one write transaction after it (the counter,
 * the buckets and the audit record together), so two responder processes
 * racing on one counter are serialised by Berkeley DB's locks: the loser
 * of a lock upgrade is aborted by the deadlock detector and
 * store_txn_run() runs its update again on the new value, so no increment
 * is lost.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define BF_THRESHOLD		10
#define BF_THRESHOLD_MAX	100
#define BF_BLOCK		2592000		/* 30 days */
#define BF_BLOCK_MAX		31536000
#define IP_ATTEMPTS		100
#define IP_RATE			864		/* 864000 ms: 100 a day */
#define IP_RATE_MAX		86400
#define RL_BURST		20
#define RL_PER_MINUTE		10
#define PR_PER_HOUR		5		/* codes per recipient */
#define COUNT_MAX		1000000
#define ID_KEY_MAX		512		/* identifier bytes in a key */
#define KEY_MAX			(4 + ID_KEY_MAX + 1 + GUARD_IP_MAX + 32)
#define PATH_LEN_MAX		4096

/* The record kinds of SK_GUARD, by key prefix. */
enum gk { GK_BF, GK_IP, GK_RL, GK_EP, GK_PR, GK__MAX };

static const struct {
	const char	*prefix;
	const char	*name;		/* "kind" in guard_list */
} gkinds[GK__MAX] = {
	[GK_BF] = { "bf", "brute_force" },
	[GK_IP] = { "ip", "suspicious_ip" },
	[GK_RL] = { "rl", "login_rate" },
	[GK_EP] = { "ep", "endpoint_rate" },
	[GK_PR] = { "pr", "recipient_rate" },
};

static const char *const ep_names[GUARD_EP__MAX] = {
	[GUARD_EP_TOKEN] = "/oauth/token",
	[GUARD_EP_RO] = "/oauth/ro",
	[GUARD_EP_PWL_START] = "/passwordless/start",
};

/*
 * Each endpoint's rate limit per IP when the tenant sets none (cap 0:
 * none).  /passwordless/start sends an SMS or a mail per request, so it
 * gets Auth0's published limit, 50 burst and 50 an hour per IP
 * (AUTH0-BEHAVIOUR.md 2); endpoint_per_minute replaces it.
 */
static const struct guard_rate ep_defaults[GUARD_EP__MAX] = {
	[GUARD_EP_TOKEN] = { 0, 0, 60 },
	[GUARD_EP_RO] = { 0, 0, 60 },
	[GUARD_EP_PWL_START] = { 50, 50, 3600 },
};

/* Each endpoint's password_leaked row (AUTH0-BEHAVIOUR.md 1 and 3). */
static const enum oerr leaked_oerr[GUARD_EP__MAX] = {
	[GUARD_EP_TOKEN] = OERR_PASSWORD_LEAKED,
	[GUARD_EP_RO] = OERR_RO_PASSWORD_LEAKED,
	[GUARD_EP_PWL_START] = OERR_PASSWORD_LEAKED,
};

/* Brute-force modes (node-auth0's BruteForce mode enum). */
enum bf_mode { BF_PAIR, BF_ACCOUNT, BF__MAX };
static const char *const bf_modes[BF__MAX] = {
	"count_per_identifier_and_ip", "count_per_identifier",
};

/* The settings in force. */
struct guard_conf {
	int			 bf_on;
	enum bf_mode		 bf_mode;
	long			 bf_threshold;
	long			 bf_block;
	const json_t		*bf_allow;
	int			 ip_on;
	struct guard_rate	 ip_rate;
	const json_t		*ip_allow;
	int			 rl_on;
	struct guard_rate	 rl_rate;
	struct guard_rate	 ep_rate[GUARD_EP__MAX];	/* cap 0: none */
	struct guard_rate	 pr_rate;	/* codes per recipient; cap 0: none */
};

/* The members of each settings object and their checks. */
enum gs_type { GS_BOOL, GS_INT, GS_MODE, GS_CIDRS, GS_ENDPOINTS };

static const struct gs_def {
	const char	*obj;
	const char	*name;
	enum gs_type	 type;
	long		 lo, hi;
} gsettings[] = {
	{ "brute_force", "enabled", GS_BOOL, 0, 0 },
	{ "brute_force", "threshold", GS_INT, 1, BF_THRESHOLD_MAX },
	{ "brute_force", "mode", GS_MODE, 0, 0 },
	{ "brute_force", "allowlist", GS_CIDRS, 0, 100 },
	{ "brute_force", "block_seconds", GS_INT, 1, BF_BLOCK_MAX },
	{ "suspicious_ip", "enabled", GS_BOOL, 0, 0 },
	{ "suspicious_ip", "max_attempts", GS_INT, 1, COUNT_MAX },
	{ "suspicious_ip", "rate_seconds", GS_INT, 1, IP_RATE_MAX },
	{ "suspicious_ip", "allowlist", GS_CIDRS, 0, 100 },
	{ "rate_limit", "enabled", GS_BOOL, 0, 0 },
	{ "rate_limit", "login_per_minute", GS_INT, 1, COUNT_MAX },
	{ "rate_limit", "login_after_per_minute", GS_INT, 1, COUNT_MAX },
	{ "rate_limit", "endpoint_per_minute", GS_ENDPOINTS, 0, COUNT_MAX },
	{ "rate_limit", "passwordless_per_recipient_per_hour", GS_INT, 0,
	    COUNT_MAX },
	{ NULL, NULL, 0, 0, 0 }
};

const char *
guard_ep_name(enum guard_ep ep)
{

	return ep_names[ep];
}

enum oerr
guard_leaked_oerr(enum guard_ep ep)
{

	return leaked_oerr[ep];
}

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

/* When the bucket is full again. */
static time_t
bucket_full_at(const struct guard_bucket *b, const struct guard_rate *r,
    time_t now)
{
	long long	 need = (long long)r->cap * r->period - b->level;

	return need <= 0 ? now : now + (time_t)((need + r->per - 1) / r->per);
}

/* The bucket of rec (NULL: a new, full one), refilled to now. */
static void
bucket_of(const json_t *rec, const struct guard_rate *r, time_t now,
    struct guard_bucket *b)
{

	if (rec == NULL) {
		guard_bucket_init(b, r, now);
		return;
	}
	b->level = json_integer_value(json_object_get(rec, "level"));
	b->t = (time_t)json_integer_value(json_object_get(rec, "t"));
	guard_bucket_fill(b, r, now);
}

/* ------------------------------------------------------------------ */
/* Settings.                                                          */

static long
member_int(const json_t *o, const char *name, long def, long lo, long hi)
{
	const json_t	*v = json_object_get(o, name);

	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return def;
	return (long)json_integer_value(v);
}

static int
member_bool(const json_t *o, const char *name, int def)
{
	const json_t	*v = json_object_get(o, name);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

static void
guard_conf(const struct tenant *tenant, struct guard_conf *gc)
{
	const json_t	*bf, *ip, *rl, *eps;
	const char	*mode;
	long		 n;
	size_t		 i;

	memset(gc, 0, sizeof(*gc));
	bf = tenant->brute_force;
	ip = tenant->suspicious_ip;
	rl = tenant->rate_limit;
	gc->bf_on = member_bool(bf, "enabled", 1);
	gc->bf_threshold = member_int(bf, "threshold", BF_THRESHOLD, 1,
	    BF_THRESHOLD_MAX);
	gc->bf_block = member_int(bf, "block_seconds", BF_BLOCK, 1,
	    BF_BLOCK_MAX);
	mode = json_string_value(json_object_get(bf, "mode"));
	gc->bf_mode = mode != NULL && strcmp(mode, bf_modes[BF_ACCOUNT]) == 0 ?
	    BF_ACCOUNT : BF_PAIR;
	gc->bf_allow = json_object_get(bf, "allowlist");
	gc->ip_on = member_bool(ip, "enabled", 1);
	gc->ip_rate.cap = member_int(ip, "max_attempts", IP_ATTEMPTS, 1,
	    COUNT_MAX);
	gc->ip_rate.per = 1;
	gc->ip_rate.period = member_int(ip, "rate_seconds", IP_RATE, 1,
	    IP_RATE_MAX);
	gc->ip_allow = json_object_get(ip, "allowlist");
	gc->rl_on = member_bool(rl, "enabled", 1);
	gc->rl_rate.cap = member_int(rl, "login_per_minute", RL_BURST, 1,
	    COUNT_MAX);
	gc->rl_rate.per = member_int(rl, "login_after_per_minute",
	    RL_PER_MINUTE, 1, COUNT_MAX);
	gc->rl_rate.period = 60;
	eps = json_object_get(rl, "endpoint_per_minute");
	for (i = 0; i < GUARD_EP__MAX; i++) {
		gc->ep_rate[i] = ep_defaults[i];
		if ((n = member_int(eps, ep_names[i], -1, 0, COUNT_MAX)) == -1)
			continue;
		gc->ep_rate[i].cap = gc->ep_rate[i].per = n;
		gc->ep_rate[i].period = 60;
	}
	n = member_int(rl, "passwordless_per_recipient_per_hour", PR_PER_HOUR,
	    0, COUNT_MAX);
	gc->pr_rate.cap = gc->pr_rate.per = n;
	gc->pr_rate.period = 3600;
}

/* Why v is no good for def, or NULL. */
static const char *
member_problem(const struct gs_def *d, const json_t *v)
{
	const json_t	*e;
	const char	*k;
	size_t		 i;

	switch (d->type) {
	case GS_BOOL:
		return json_is_boolean(v) ? NULL : "not true or false";
	case GS_INT:
		return json_is_integer(v) && json_integer_value(v) >= d->lo &&
		    json_integer_value(v) <= d->hi ? NULL :
		    "not an integer in range";
	case GS_MODE:
		for (i = 0; i < BF__MAX; i++)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), bf_modes[i]) == 0)
				return NULL;
		return "not count_per_identifier_and_ip or count_per_identifier";
	case GS_CIDRS:
		if (!json_is_array(v) || (long)json_array_size(v) > d->hi)
			return "not an array of at most 100 IPs or CIDRs";
		json_array_foreach(v, i, e)
			if (!json_is_string(e) ||
			    guard_cidr_match(json_string_value(e), NULL) == -1)
				return "entries must be IPv4 or IPv6 addresses or CIDRs";
		return NULL;
	case GS_ENDPOINTS:
		if (!json_is_object(v))
			return "not an object";
		json_object_foreach((json_t *)v, k, e) {
			for (i = 0; i < GUARD_EP__MAX; i++)
				if (strcmp(k, ep_names[i]) == 0)
					break;
			if (i == GUARD_EP__MAX)
				return "keys must be /oauth/token, /oauth/ro or "
				    "/passwordless/start";
			if (!json_is_null(e) && (!json_is_integer(e) ||
			    json_integer_value(e) < d->lo ||
			    json_integer_value(e) > d->hi))
				return "values must be integers in range";
		}
		return NULL;
	}
	return "unknown type";
}

const char *
guard_setting_problem(const char *name, const json_t *v)
{
	static char		 why[160];
	const struct gs_def	*d;
	const char		*k, *p;
	const json_t		*e;
	int			 known = 0;

	if (strcmp(name, "breached_password_file") == 0) {
		p = json_string_value(v);
		return p != NULL && p[0] == '/' && strlen(p) < PATH_LEN_MAX ?
		    NULL : "not an absolute path";
	}
	for (d = gsettings; d->obj != NULL; d++)
		known |= strcmp(d->obj, name) == 0;
	if (!known)
		return "not an attack-protection setting";
	if (!json_is_object(v))
		return "not an object";
	json_object_foreach((json_t *)v, k, e) {
		for (d = gsettings; d->obj != NULL; d++)
			if (strcmp(d->obj, name) == 0 && strcmp(d->name, k) == 0)
				break;
		p = d->obj == NULL ? "unknown member" :
		    json_is_null(e) ? NULL : member_problem(d, e);
		if (p != NULL) {
			snprintf(why, sizeof(why), "%s: %s", k, p);
			return why;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Keys.                                                              */

/* The identifier as counted: ASCII-lowercased (emails and usernames
 * match case-insensitively), bounded, without the key separator. */
static void
id_fold(const char *in, char *out, size_t outsz)
{
	size_t	 i;

	for (i = 0; in != NULL && in[i] != '\0' && i + 1 < outsz &&
	    i < ID_KEY_MAX; i++)
		out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] - 'A' + 'a') :
		    in[i] == '\x1f' ? '?' : in[i];
	out[i] = '\0';
}

static void
gkey(char *key, enum gk k, const char *a, const char *b)
{

	if (b == NULL)
		snprintf(key, KEY_MAX, "%s\x1f%s", gkinds[k].prefix, a);
	else
		snprintf(key, KEY_MAX, "%s\x1f%s\x1f%s", gkinds[k].prefix, a, b);
}

/* ------------------------------------------------------------------ */
/* Audit appends of refusals.                                         */

struct put {
	const char	*key;
	json_t		*rec;
};

static enum store_rc
put_txn(struct store *s, DB_TXN *t, void *arg)
{
	struct put	*p = arg;

	return store_put(s, t, SK_AUDIT, p->key, p->rec, 0);
}

static void
audit_refusal(struct lk_ctx *ctx, const struct guard_who *w,
    const char *identifier, enum guard_event ev, time_t now)
{
	struct put	 p;
	char		 key[48];

	if ((p.rec = audit_record(w, identifier, NULL, ev, now, key,
	    sizeof(key))) == NULL)
		return;
	p.key = key;
	if (store_txn_run(ctx->store, put_txn, &p) != STORE_OK)
		lk_warn("cannot append to the audit log");
	json_decref(p.rec);
}

/* The rate-limit headers (Auth0: per-minute limit, remaining, and the
 * epoch the limit resets at: here when the bucket is full again). */
static void
rate_headers(struct lk_resp *resp, const struct guard_rate *r,
    const struct guard_bucket *b, time_t now)
{

	resp_header(resp, "X-RateLimit-Limit", "%ld", r->per);
	resp_header(resp, "X-RateLimit-Remaining", "%lld",
	    b->level / r->period);
	resp_header(resp, "X-RateLimit-Reset", "%lld",
	    (long long)bucket_full_at(b, r, now));
}

/* A 429 for rate r: the error, the headers and Retry-After (RFC 6585 4). */
static void
rate_refuse(struct lk_resp *resp, const struct guard_rate *r,
    const struct guard_bucket *b, time_t now)
{
	time_t	 next = guard_bucket_next(b, r, now);

	oerr_write(resp, OERR_RATE_LIMIT, NULL);
	rate_headers(resp, r, b, now);
	resp_header(resp, "Retry-After", "%lld",
	    (long long)(next > now ? next - now : 1));
}

/* ------------------------------------------------------------------ */
/* The per-endpoint rate limit.                                        */

struct take {
	const char		*key;
	const char		*id;		/* per recipient: folded, else NULL */
	const struct guard_rate	*rate;
	const struct guard_who	*w;
	time_t			 now;
	struct guard_bucket	 b;
	int			 ok;
};

static enum store_rc
take_txn(struct store *s, DB_TXN *t, void *arg)
{
	struct take	*tk = arg;
	json_t		*rec = NULL;
	enum store_rc	 rc;

	rc = store_get(s, t, SK_GUARD, tk->key, &rec);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	bucket_of(rec, tk->rate, tk->now, &tk->b);
	json_decref(rec);
	tk->ok = guard_bucket_take(&tk->b, tk->rate, tk->now) == 0;
	if (!tk->ok)
		return STORE_OK;	/* empty stays empty: nothing to write */
	if (tk->id != NULL)
		rec = json_pack("{s:I, s:I, s:s, s:s}", "level",
		    (json_int_t)tk->b.level, "t", (json_int_t)tk->now,
		    "identifier", tk->id, "ip", tk->w->ip);
	else
		rec = json_pack("{s:I, s:I, s:s, s:s}", "level",
		    (json_int_t)tk->b.level, "t", (json_int_t)tk->now,
		    "endpoint", ep_names[tk->w->ep], "ip", tk->w->ip);
	if (rec == NULL)
		return STORE_ERR;
	rc = store_put(s, t, SK_GUARD, tk->key, rec, 0);
	json_decref(rec);
	return rc;
}

int
guard_endpoint(struct lk_ctx *ctx, const struct tenant *tenant,
    const struct guard_who *w, time_t now, struct lk_resp *resp)
{
	struct guard_conf	 gc;
	struct take		 tk;
	char			 key[KEY_MAX];

	guard_conf(tenant, &gc);
	if (!gc.rl_on || gc.ep_rate[w->ep].cap == 0)
		return 0;
	gkey(key, GK_EP, ep_names[w->ep], w->ip);
	memset(&tk, 0, sizeof(tk));
	tk.key = key;
	tk.rate = &gc.ep_rate[w->ep];
	tk.w = w;
	tk.now = now;
	if (store_txn_run(ctx->store, take_txn, &tk) != STORE_OK) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		return -1;
	}
	if (tk.ok) {
		rate_headers(resp, tk.rate, &tk.b, now);
		return 0;
	}
	rate_refuse(resp, tk.rate, &tk.b, now);
	audit_refusal(ctx, w, NULL, GUARD_EV_RATE_LIMIT, now);
	return -1;
}

/*
 * Codes sent to one recipient, from every IP together: the per-IP limit
 * alone lets many IPs flood one phone or mailbox.  The bucket's "ip" is
 * the last sender's, for the admin's eyes only.
 */
int
guard_recipient(struct lk_ctx *ctx, const struct tenant *tenant,
    const struct guard_who *w, const char *recipient, time_t now,
    struct lk_resp *resp)
{
	struct guard_conf	 gc;
	struct take		 tk;
	char			 key[KEY_MAX], id[ID_KEY_MAX + 1];

	guard_conf(tenant, &gc);
	if (!gc.rl_on || gc.pr_rate.cap == 0)
		return 0;
	id_fold(recipient, id, sizeof(id));
	gkey(key, GK_PR, id, NULL);
	memset(&tk, 0, sizeof(tk));
	tk.key = key;
	tk.id = id;
	tk.rate = &gc.pr_rate;
	tk.w = w;
	tk.now = now;
	if (store_txn_run(ctx->store, take_txn, &tk) != STORE_OK) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		return -1;
	}
	if (tk.ok)
		return 0;
	/* The 429's X-RateLimit-* describe this limit, not the endpoint's
	 * (guard_endpoint set those). */
	buf_reset(&resp->headers);
	rate_refuse(resp, tk.rate, &tk.b, now);
	audit_refusal(ctx, w, recipient, GUARD_EV_RATE_LIMIT, now);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Before the credential check.                                        */

/* The records guard_before reads, guard_after writes. */
struct keys {
	char		 id[ID_KEY_MAX + 1];	/* folded identifier */
	char		 k[GK__MAX][KEY_MAX];
	int		 on[GK__MAX];		/* the check applies */
};

static void
keys_make(const struct guard_conf *gc, const struct guard_who *w,
    const char *identifier, struct keys *ks)
{

	memset(ks->on, 0, sizeof(ks->on));
	id_fold(identifier, ks->id, sizeof(ks->id));
	/* An allowlisted end-user IP is neither counted nor blocked. */
	if (gc->bf_on && !guard_allowed(gc->bf_allow, w->ip)) {
		gkey(ks->k[GK_BF], GK_BF, ks->id,
		    gc->bf_mode == BF_ACCOUNT ? "*" : w->ip);
		ks->on[GK_BF] = 1;
	}
	if (gc->ip_on && !guard_allowed(gc->ip_allow, w->ip)) {
		gkey(ks->k[GK_IP], GK_IP, w->ip, NULL);
		ks->on[GK_IP] = 1;
	}
	if (gc->rl_on) {
		gkey(ks->k[GK_RL], GK_RL, ks->id, w->ip);
		ks->on[GK_RL] = 1;
	}
}

/* 1 when the brute-force record blocks (AUTH0-BEHAVIOUR.md 6: from the
 * failure that reaches the threshold until block_seconds after the last
 * failure; raising the threshold lifts it). */
static int
bf_blocked(const json_t *rec, const struct guard_conf *gc, time_t now)
{
	json_int_t	 count, last;

	count = json_integer_value(json_object_get(rec, "count"));
	last = json_integer_value(json_object_get(rec, "last_failure"));
	return count >= gc->bf_threshold && now - last < gc->bf_block;
}

struct pre {
	const struct keys	*ks;
	json_t			*rec[GK__MAX];
};

static enum store_rc
pre_txn(struct store *s, DB_TXN *t, void *arg)
{
	struct pre	*p = arg;
	enum store_rc	 rc;
	int		 k;

	for (k = 0; k < GK__MAX; k++) {
		json_decref(p->rec[k]);
		p->rec[k] = NULL;
		if (!p->ks->on[k])
			continue;
		rc = store_get(s, t, SK_GUARD, p->ks->k[k], &p->rec[k]);
		if (rc != STORE_OK && rc != STORE_NOTFOUND)
			return rc;
	}
	return STORE_OK;
}

int
guard_before(struct lk_ctx *ctx, const struct tenant *tenant,
    const struct guard_who *w, const char *identifier, time_t now,
    struct lk_resp *resp)
{
	struct guard_conf	 gc;
	struct guard_bucket	 b;
	struct keys		 ks;
	struct pre		 p;
	enum guard_event	 ev = GUARD_EV__MAX;
	int			 k, rc = -1;

	guard_conf(tenant, &gc);
	keys_make(&gc, w, identifier, &ks);
	memset(&p, 0, sizeof(p));
	p.ks = &ks;
	if (store_txn_run(ctx->store, pre_txn, &p) != STORE_OK) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	if (p.rec[GK_BF] != NULL && bf_blocked(p.rec[GK_BF], &gc, now)) {
		oerr_write(resp, OERR_BRUTE_FORCE, NULL);
		ev = GUARD_EV_BRUTE_FORCE;
		goto refused;
	}
	bucket_of(p.rec[GK_IP], &gc.ip_rate, now, &b);
	if (p.rec[GK_IP] != NULL && b.level < gc.ip_rate.period) {
		oerr_write(resp, OERR_SUSPICIOUS_IP, NULL);
		ev = GUARD_EV_SUSPICIOUS_IP;
		goto refused;
	}
	bucket_of(p.rec[GK_RL], &gc.rl_rate, now, &b);
	if (p.rec[GK_RL] != NULL && b.level < gc.rl_rate.period) {
		rate_refuse(resp, &gc.rl_rate, &b, now);
		ev = GUARD_EV_RATE_LIMIT;
		goto refused;
	}
	rc = 0;
	goto out;
refused:
	audit_refusal(ctx, w, identifier, ev, now);
out:
	for (k = 0; k < GK__MAX; k++)
		json_decref(p.rec[k]);
	return rc;
}

/* ------------------------------------------------------------------ */
/* After the credential check.                                         */

struct post {
	const struct guard_conf	*gc;
	const struct guard_who	*w;
	const struct keys	*ks;
	const char		*user_id;
	enum guard_event	 ev;
	time_t			 now;
	struct put		 audit, block;	/* the event, the limit_wc */
	int			 blocked_now;
};

static int
is_failure(enum guard_event ev)
{

	return ev == GUARD_EV_WRONG_PASSWORD || ev == GUARD_EV_UNKNOWN_USER ||
	    ev == GUARD_EV_WRONG_CODE;
}

/* Count a failure of the pair (a count older than block_seconds starts
 * again), or forget it on success. */
static enum store_rc
bf_update(struct store *s, DB_TXN *t, struct post *p)
{
	const char	*key = p->ks->k[GK_BF];
	json_t		*rec = NULL, *nrec, *v;
	json_int_t	 count = 0;
	enum store_rc	 rc;

	if (p->ev == GUARD_EV_SUCCESS) {
		rc = store_del(s, t, SK_GUARD, key);
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	}
	if (!is_failure(p->ev))
		return STORE_OK;
	rc = store_get(s, t, SK_GUARD, key, &rec);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	if (rec != NULL && p->now - json_integer_value(json_object_get(rec,
	    "last_failure")) < p->gc->bf_block)
		count = json_integer_value(json_object_get(rec, "count"));
	if (count < COUNT_MAX)
		count++;
	nrec = json_pack("{s:I, s:I, s:s, s:s}", "count", count,
	    "last_failure", (json_int_t)p->now, "identifier", p->ks->id,
	    "ip", p->gc->bf_mode == BF_ACCOUNT ? "*" : p->w->ip);
	if (nrec == NULL) {
		json_decref(rec);
		return STORE_ERR;
	}
	if (p->user_id != NULL)
		json_object_set_new(nrec, "user_id", json_string(p->user_id));
	else if ((v = json_object_get(rec, "user_id")) != NULL)
		json_object_set(nrec, "user_id", v);
	if (count == p->gc->bf_threshold)
		p->blocked_now = 1;
	v = json_object_get(rec, "blocked_at");
	if (count >= p->gc->bf_threshold)
		json_object_set_new(nrec, "blocked_at", p->blocked_now ||
		    v == NULL ? json_integer((json_int_t)p->now) : json_incref(v));
	rc = store_put(s, t, SK_GUARD, key, nrec, 0);
	json_decref(nrec);
	json_decref(rec);
	return rc;
}

/* Take one token from the bucket at key (an empty one stays empty). */
static enum store_rc
bucket_update(struct store *s, DB_TXN *t, struct post *p, enum gk k,
    const struct guard_rate *r)
{
	struct guard_bucket	 b;
	json_t			*rec = NULL;
	enum store_rc		 rc;

	rc = store_get(s, t, SK_GUARD, p->ks->k[k], &rec);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	bucket_of(rec, r, p->now, &b);
	json_decref(rec);
	(void)guard_bucket_take(&b, r, p->now);
	rec = json_pack("{s:I, s:I, s:s}", "level", (json_int_t)b.level,
	    "t", (json_int_t)p->now, "ip", p->w->ip);
	if (rec == NULL)
		return STORE_ERR;
	if (k == GK_RL)
		json_object_set_new(rec, "identifier", json_string(p->ks->id));
	rc = store_put(s, t, SK_GUARD, p->ks->k[k], rec, 0);
	json_decref(rec);
	return rc;
}

/* Everything after one credential check, in one transaction. */
static enum store_rc
post_txn(struct store *s, DB_TXN *t, void *arg)
{
	struct post	*p = arg;
	enum store_rc	 rc = STORE_OK;

	p->blocked_now = 0;
	if (p->ks->on[GK_BF])
		rc = bf_update(s, t, p);
	if (rc == STORE_OK && p->ks->on[GK_IP] && is_failure(p->ev))
		rc = bucket_update(s, t, p, GK_IP, &p->gc->ip_rate);
	if (rc == STORE_OK && p->ks->on[GK_RL])
		rc = bucket_update(s, t, p, GK_RL, &p->gc->rl_rate);
	if (rc == STORE_OK)
		rc = store_put(s, t, SK_AUDIT, p->audit.key, p->audit.rec, 0);
	if (rc == STORE_OK && p->blocked_now && p->block.rec != NULL)
		rc = store_put(s, t, SK_AUDIT, p->block.key, p->block.rec, 0);
	return rc;
}

void
guard_after(struct lk_ctx *ctx, const struct tenant *tenant,
    const struct guard_who *w, const char *identifier, const char *user_id,
    enum guard_event ev, time_t now)
{
	struct guard_conf	 gc;
	struct keys		 ks;
	struct post		 p;
	char			 akey[48], bkey[48];

	guard_conf(tenant, &gc);
	keys_make(&gc, w, identifier, &ks);
	memset(&p, 0, sizeof(p));
	p.gc = &gc;
	p.w = w;
	p.ks = &ks;
	p.user_id = user_id;
	p.ev = ev;
	p.now = now;
	p.audit.key = akey;
	p.block.key = bkey;
	p.audit.rec = audit_record(w, identifier, user_id, ev, now, akey,
	    sizeof(akey));
	if (is_failure(ev))
		p.block.rec = audit_record(w, identifier, user_id,
		    GUARD_EV_BRUTE_FORCE, now, bkey, sizeof(bkey));
	if (p.audit.rec == NULL ||
	    store_txn_run(ctx->store, post_txn, &p) != STORE_OK)
		lk_err("cannot record the login attempt");
	json_decref(p.audit.rec);
	json_decref(p.block.rec);
	audit_prune_maybe(ctx->store, tenant, now);
}

/* ------------------------------------------------------------------ */
/* Administration (latchkeyctl guard ...).                             */

static enum gk
gk_of(const char *key)
{
	size_t	 i, n;

	for (i = 0; i < GK__MAX; i++) {
		n = strlen(gkinds[i].prefix);
		if (strncmp(key, gkinds[i].prefix, n) == 0 && key[n] == '\x1f')
			return (enum gk)i;
	}
	return GK__MAX;
}

/* The rate of a bucket record of kind k (endpoint: from its record). */
static const struct guard_rate *
rate_of(const struct guard_conf *gc, enum gk k, const json_t *rec)
{
	const char	*ep;
	size_t		 i;

	if (k == GK_IP)
		return &gc->ip_rate;
	if (k == GK_RL)
		return &gc->rl_rate;
	if (k == GK_PR)
		return gc->pr_rate.cap > 0 ? &gc->pr_rate : NULL;
	ep = json_string_value(json_object_get(rec, "endpoint"));
	for (i = 0; ep != NULL && i < GUARD_EP__MAX; i++)
		if (strcmp(ep, ep_names[i]) == 0 && gc->ep_rate[i].cap > 0)
			return &gc->ep_rate[i];
	return NULL;
}

/* 1 when the record no longer matters (prune may delete it). */
static int
neutral(const struct guard_conf *gc, enum gk k, const json_t *rec,
    time_t now, long *tokens)
{
	const struct guard_rate	*r;
	struct guard_bucket	 b;

	*tokens = 0;
	if (k == GK_BF)
		return now - json_integer_value(json_object_get(rec,
		    "last_failure")) >= gc->bf_block;
	if (k == GK__MAX || (r = rate_of(gc, k, rec)) == NULL)
		return 1;
	bucket_of(rec, r, now, &b);
	*tokens = (long)(b.level / r->period);
	return b.level >= (long long)r->cap * r->period;
}

struct walk {
	const struct guard_conf	*gc;
	const struct guard_sel	*sel;
	char			 id[ID_KEY_MAX + 1];
	char			 ip[GUARD_IP_MAX];
	time_t			 now;
	json_t			*out;		/* list: objects; else keys */
};

static int
list_cb(const char *key, json_t *val, void *arg)
{
	struct walk	*wk = arg;
	enum gk		 k = gk_of(key);
	json_t		*o;
	long		 tokens;

	if (neutral(wk->gc, k, val, wk->now, &tokens))
		return 0;
	if ((o = json_deep_copy(val)) == NULL)
		return 1;
	json_object_set_new(o, "kind", json_string(gkinds[k].name));
	json_object_del(o, "level");
	json_object_del(o, "t");
	if (k == GK_BF) {
		json_object_set_new(o, "blocked",
		    json_boolean(bf_blocked(val, wk->gc, wk->now)));
		json_object_set_new(o, "expires", json_integer(
		    json_integer_value(json_object_get(val, "last_failure")) +
		    wk->gc->bf_block));
	} else {
		json_object_set_new(o, "tokens", json_integer(tokens));
		json_object_set_new(o, "blocked", json_boolean(tokens < 1));
	}
	return json_array_append_new(wk->out, o) == -1;
}

/* list_cb in a batch (store_sweep): the objects go to the batch's out. */
static enum store_rc
list_fn(struct store *s, DB_TXN *t, const char *key, json_t *val, void *arg,
    enum store_act *act, json_t *out)
{
	struct walk	*wk = arg;

	wk->out = out;
	return list_cb(key, val, wk) ? STORE_ERR : STORE_OK;
}

/* Without t, in batches of their own transactions (store_sweep). */
enum store_rc
guard_list(struct store *s, DB_TXN *t, const struct tenant *tenant,
    time_t now,
    json_t *out)
{
	struct guard_conf	 gc;
	struct walk		 wk;
	struct store_sweep	 sw = { SK_GUARD, NULL, list_fn, &wk, out, 0, 0 };

	guard_conf(tenant, &gc);
	memset(&wk, 0, sizeof(wk));
	wk.gc = &gc;
	wk.now = now;
	wk.out = out;
	if (t == NULL)
		return store_sweep(s, &sw);
	return store_each(s, t, SK_GUARD, list_cb, &wk);
}

/* 1 when a's identifier is one of user's logins (folded). */
static int
user_login(const json_t *user, const char *id)
{
	static const char *const logins[] = { "email", "username",
	    "phone_number", NULL };
	char		 f[ID_KEY_MAX + 1];
	size_t		 i;

	for (i = 0; logins[i] != NULL; i++) {
		id_fold(json_string_value(json_object_get(user, logins[i])), f,
		    sizeof(f));
		if (f[0] != '\0' && strcmp(f, id) == 0)
			return 1;
	}
	return 0;
}

/* 1 when guard_unblock's selection takes the record. */
static int
unblock_hit(const char *key, const json_t *val, const struct walk *wk)
{
	const struct guard_sel	*sel = wk->sel;
	const char		*id, *ip, *uid, *have;
	int			 hit = 0;

	id = json_string_value(json_object_get(val, "identifier"));
	ip = json_string_value(json_object_get(val, "ip"));
	switch (gk_of(key)) {
	case GK_BF:
		if (id == NULL || ip == NULL)
			break;
		if (sel->identifier != NULL)
			hit = strcmp(id, wk->id) == 0 &&
			    (sel->ip == NULL || strcmp(ip, wk->ip) == 0);
		if (sel->user != NULL) {
			uid = json_string_value(json_object_get(sel->user,
			    "user_id"));
			have = json_string_value(json_object_get(val, "user_id"));
			hit = user_login(sel->user, id) || (uid != NULL &&
			    have != NULL && strcmp(uid, have) == 0);
		}
		break;
	case GK_PR:
		/* A recipient's code quota goes with its identifier. */
		if (id == NULL)
			break;
		hit = (sel->identifier != NULL && sel->ip == NULL &&
		    strcmp(id, wk->id) == 0) ||
		    (sel->user != NULL && user_login(sel->user, id));
		break;
	case GK_IP:
		hit = sel->identifier == NULL && sel->user == NULL &&
		    sel->ip != NULL && ip != NULL && strcmp(ip, wk->ip) == 0;
		break;
	default:
		break;
	}
	return hit;
}

static int
unblock_cb(const char *key, json_t *val, void *arg)
{
	struct walk	*wk = arg;

	return unblock_hit(key, val, wk) &&
	    json_array_append_new(wk->out, json_string(key)) == -1;
}

/* In a batch: the record judged is the one deleted. */
static enum store_rc
unblock_fn(struct store *s, DB_TXN *t, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	if (unblock_hit(key, val, arg))
		*act = STORE_DELETE;
	return STORE_OK;
}

/* Delete the keys in wk->out. */
static enum store_rc
delete_keys(struct store *s, DB_TXN *t, const json_t *keys, int *count)
{
	enum store_rc	 rc = STORE_OK;
	size_t		 i;

	for (i = 0; rc == STORE_OK && i < json_array_size(keys); i++)
		rc = store_del(s, t, SK_GUARD,
		    json_string_value(json_array_get(keys, i)));
	if (rc == STORE_OK)
		*count += (int)json_array_size(keys);
	return rc;
}

/* Without t, in batches of their own transactions (store_sweep). */
enum store_rc
guard_unblock(struct store *s, DB_TXN *t, const struct guard_sel *sel,
    int *count)
{
	struct walk		 wk;
	struct store_sweep	 sw = { SK_GUARD, NULL, unblock_fn, &wk, NULL,
				    0, 0 };
	enum store_rc		 rc;

	*count = 0;
	memset(&wk, 0, sizeof(wk));
	wk.sel = sel;
	id_fold(sel->identifier, wk.id, sizeof(wk.id));
	if (sel->ip != NULL &&
	    guard_ip_canon(sel->ip, wk.ip, sizeof(wk.ip)) == -1)
		snprintf(wk.ip, sizeof(wk.ip), "%s", sel->ip);
	if (t == NULL) {
		rc = store_sweep(s, &sw);
		*count = (int)sw.deleted;
		return rc;
	}
	if ((wk.out = json_array()) == NULL)
		return STORE_ERR;
	rc = store_each(s, t, SK_GUARD, unblock_cb, &wk);
	if (rc == STORE_OK)
		rc = delete_keys(s, t, wk.out, count);
	json_decref(wk.out);
	return rc;
}

static int
prune_cb(const char *key, json_t *val, void *arg)
{
	struct walk	*wk = arg;
	long		 tokens;

	if (!neutral(wk->gc, gk_of(key), val, wk->now, &tokens))
		return 0;
	return json_array_append_new(wk->out, json_string(key)) == -1;
}

/* In a batch: the record judged is the one deleted, so a bucket a
 * responder drained meanwhile is judged as it now stands. */
static enum store_rc
prune_fn(struct store *s, DB_TXN *t, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	struct walk	*wk = arg;
	long		 tokens;

	if (neutral(wk->gc, gk_of(key), val, wk->now, &tokens))
		*act = STORE_DELETE;
	return STORE_OK;
}

static enum store_rc
prune_in(struct store *s, DB_TXN *t, struct walk *wk, int *count)
{
	enum store_rc	 rc;

	if ((wk->out = json_array()) == NULL)
		return STORE_ERR;
	rc = store_each(s, t, SK_GUARD, prune_cb, wk);
	if (rc == STORE_OK)
		rc = delete_keys(s, t, wk->out, count);
	json_decref(wk->out);
	return rc;
}

static enum store_rc
prune_batched(struct store *s, struct walk *wk, int *count)
{
	struct store_sweep	 sw = { SK_GUARD, NULL, prune_fn, wk, NULL, 0, 0 };
	enum store_rc		 rc;

	rc = store_sweep(s, &sw);
	*count = (int)sw.deleted;
	return rc;
}

/* Without t, in batches of their own transactions (store_sweep), the
 * audit log's old records too. */
enum store_rc
guard_prune(struct store *s, DB_TXN *t, const struct tenant *tenant,
    time_t now,
    int *count)
{
	struct guard_conf	 gc;
	struct walk		 wk;
	enum store_rc		 rc;
	int			 n = 0;

	*count = 0;
	guard_conf(tenant, &gc);
	memset(&wk, 0, sizeof(wk));
	wk.gc = &gc;
	wk.now = now;
	rc = t == NULL ? prune_batched(s, &wk, count) :
	    prune_in(s, t, &wk, count);
	if (rc == STORE_OK)
		rc = audit_prune(s, t, now - audit_retention(tenant), 0, &n);
	*count += n;
	return rc;
}
