/*
 * guard.c: brute-force protection, suspicious IP throttling and rate
 * limits around every credential check (docs/COMPAT.md 6), under the
 * tenant's settings as guard_conf.c parsed them (tenant->guard).  The
 * endpoints call, in this order:
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
 * A block is lifted by a success (there can be none while blocked), by
 * `latchkeyctl guard unblock`, by a password change (latchkeyctl), by
 * block_seconds without a failure, or by raising the threshold.  The
 * records are guard_bucket.c's.
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

#define COUNT_MAX		1000000		/* a failure count stops here */

/* ------------------------------------------------------------------ */
/* Audit appends of refusals.                                         */

struct put {
	const char	*key;
	json_t		*rec;
};

static enum store_rc
put_txn(struct store *s, struct txn *t, void *arg)
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
	/* An audit record may follow the answer (docs/security.md,
	 * "Durability"). */
	if (store_txn_run_nosync(ctx->store, put_txn, &p) != STORE_OK)
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
	    (long long)guard_bucket_full_at(b, r, now));
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
take_txn(struct store *s, struct txn *t, void *arg)
{
	struct take	*tk = arg;
	struct guard_rec gr;
	json_t		*rec = NULL;
	enum store_rc	 rc;

	rc = store_get(s, t, SK_GUARD, tk->key, &rec);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	guard_rec_parse(rec, &gr);
	guard_bucket_of(rec != NULL ? &gr : NULL, tk->rate, tk->now, &tk->b);
	json_decref(rec);
	tk->ok = guard_bucket_take(&tk->b, tk->rate, tk->now) == 0;
	if (!tk->ok)
		return STORE_OK;	/* empty stays empty: nothing to write */
	/* Emptied (the limit reached): durable; with room left, the take
	 * may follow the answer (docs/security.md, "Durability"). */
	if (guard_bucket_fill(&tk->b, tk->rate, tk->now) < 1)
		store_txn_durable(s, t);
	if (tk->id != NULL)
		rec = json_pack("{s:I, s:I, s:s, s:s}", "level",
		    (json_int_t)tk->b.level, "t", (json_int_t)tk->now,
		    "identifier", tk->id, "ip", tk->w->ip);
	else
		rec = json_pack("{s:I, s:I, s:s, s:s}", "level",
		    (json_int_t)tk->b.level, "t", (json_int_t)tk->now,
		    "endpoint", guard_ep_name(tk->w->ep), "ip", tk->w->ip);
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
	const struct guard_conf	*gc = &tenant->guard;
	struct take		 tk;
	char			 key[GUARD_KEY_MAX];

	if (!gc->rl_on || gc->ep_rate[w->ep].cap == 0)
		return 0;
	guard_key(key, GUARD_K_EP, guard_ep_name(w->ep), w->ip);
	memset(&tk, 0, sizeof(tk));
	tk.key = key;
	tk.rate = &gc->ep_rate[w->ep];
	tk.w = w;
	tk.now = now;
	if (store_txn_run_nosync(ctx->store, take_txn, &tk) != STORE_OK) {
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
	const struct guard_conf	*gc = &tenant->guard;
	struct take		 tk;
	char			 key[GUARD_KEY_MAX], id[GUARD_ID_MAX + 1];

	if (!gc->rl_on || gc->pr_rate.cap == 0)
		return 0;
	guard_id_fold(recipient, id, sizeof(id));
	guard_key(key, GUARD_K_PR, id, NULL);
	memset(&tk, 0, sizeof(tk));
	tk.key = key;
	tk.id = id;
	tk.rate = &gc->pr_rate;
	tk.w = w;
	tk.now = now;
	if (store_txn_run_nosync(ctx->store, take_txn, &tk) != STORE_OK) {
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
	char		 id[GUARD_ID_MAX + 1];	/* folded identifier */
	char		 k[GUARD_K__MAX][GUARD_KEY_MAX];
	int		 on[GUARD_K__MAX];		/* the check applies */
};

static void
keys_make(const struct guard_conf *gc, const struct guard_who *w,
    const char *identifier, struct keys *ks)
{

	memset(ks->on, 0, sizeof(ks->on));
	guard_id_fold(identifier, ks->id, sizeof(ks->id));
	/* An allowlisted end-user IP is neither counted nor blocked. */
	if (gc->bf_on && !guard_allowed(gc->bf_allow, w->ip)) {
		guard_key(ks->k[GUARD_K_BF], GUARD_K_BF, ks->id,
		    gc->bf_mode == GUARD_BF_ACCOUNT ? "*" : w->ip);
		ks->on[GUARD_K_BF] = 1;
	}
	if (gc->ip_on && !guard_allowed(gc->ip_allow, w->ip)) {
		guard_key(ks->k[GUARD_K_IP], GUARD_K_IP, w->ip, NULL);
		ks->on[GUARD_K_IP] = 1;
	}
	if (gc->rl_on) {
		guard_key(ks->k[GUARD_K_RL], GUARD_K_RL, ks->id, w->ip);
		ks->on[GUARD_K_RL] = 1;
	}
}

struct pre {
	const struct keys	*ks;
	json_t			*rec[GUARD_K__MAX];
};

/* The counters, each read on its own (store_get without a transaction):
 * they are independent, and a login changes them after the check. */
static enum store_rc
pre_read(struct store *s, struct txn *t, void *arg)
{
	struct pre	*p = arg;
	enum store_rc	 rc;
	int		 k;

	for (k = 0; k < GUARD_K__MAX; k++) {
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
    struct guard_who *w, const char *identifier, time_t now,
    struct lk_resp *resp)
{
	const struct guard_conf	*gc = &tenant->guard;
	struct guard_rec	 gr[GUARD_K__MAX];
	struct guard_bucket	 b;
	struct keys		 ks;
	struct pre		 p;
	enum guard_event	 ev = GUARD_EV__MAX;
	int			 k, rc = -1;

	w->bf_none = 0;
	keys_make(gc, w, identifier, &ks);
	memset(&p, 0, sizeof(p));
	p.ks = &ks;
	if (pre_read(ctx->store, NULL, &p) != STORE_OK) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	w->bf_none = ks.on[GUARD_K_BF] && p.rec[GUARD_K_BF] == NULL;
	for (k = 0; k < GUARD_K__MAX; k++)
		guard_rec_parse(p.rec[k], &gr[k]);
	if (p.rec[GUARD_K_BF] != NULL &&
	    guard_bf_blocked(&gr[GUARD_K_BF], gc, now)) {
		oerr_write(resp, OERR_BRUTE_FORCE, NULL);
		ev = GUARD_EV_BRUTE_FORCE;
		goto refused;
	}
	guard_bucket_of(p.rec[GUARD_K_IP] != NULL ? &gr[GUARD_K_IP] : NULL,
	    &gc->ip_rate, now, &b);
	if (p.rec[GUARD_K_IP] != NULL && b.level < gc->ip_rate.period) {
		oerr_write(resp, OERR_SUSPICIOUS_IP, NULL);
		ev = GUARD_EV_SUSPICIOUS_IP;
		goto refused;
	}
	guard_bucket_of(p.rec[GUARD_K_RL] != NULL ? &gr[GUARD_K_RL] : NULL,
	    &gc->rl_rate, now, &b);
	if (p.rec[GUARD_K_RL] != NULL && b.level < gc->rl_rate.period) {
		rate_refuse(resp, &gc->rl_rate, &b, now);
		ev = GUARD_EV_RATE_LIMIT;
		goto refused;
	}
	rc = 0;
	goto out;
refused:
	audit_refusal(ctx, w, identifier, ev, now);
out:
	for (k = 0; k < GUARD_K__MAX; k++)
		json_decref(p.rec[k]);
	return rc;
}

/* ------------------------------------------------------------------ */
/* After the credential check.                                         */

struct post {
	const struct guard_conf	*gc;
	const struct guard_who	*w;
	const struct keys	*ks;
	int			 bf_none;	/* a success has no count to clear */
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
bf_update(struct store *s, struct txn *t, struct post *p)
{
	const char	*key = p->ks->k[GUARD_K_BF], *uid;
	struct guard_rec gr;
	json_t		*rec = NULL, *nrec;
	json_int_t	 count = 0;
	enum store_rc	 rc;

	/* A count cleared is durable (a machine crash must not bring
	 * back a count the user has since wiped); none, no write at all.
	 * None read just before the credential check: not even the
	 * delete's write lock on the page, which every successful login
	 * would take in turn.  A failure of the pair committed since
	 * counts as one after this success. */
	if (p->ev == GUARD_EV_SUCCESS && p->bf_none)
		return STORE_OK;
	if (p->ev == GUARD_EV_SUCCESS) {
		if ((rc = store_del(s, t, SK_GUARD, key)) == STORE_OK)
			store_txn_durable(s, t);
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	}
	if (!is_failure(p->ev))
		return STORE_OK;
	rc = store_get(s, t, SK_GUARD, key, &rec);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	guard_rec_parse(rec, &gr);
	if (rec != NULL && p->now - gr.last_failure < p->gc->bf_block)
		count = gr.count;
	if (count < COUNT_MAX)
		count++;
	nrec = json_pack("{s:I, s:I, s:s, s:s}", "count", count,
	    "last_failure", (json_int_t)p->now, "identifier", p->ks->id,
	    "ip", p->gc->bf_mode == GUARD_BF_ACCOUNT ? "*" : p->w->ip);
	if (nrec == NULL) {
		json_decref(rec);
		return STORE_ERR;
	}
	/* The user, once known, stays with the count. */
	uid = p->user_id != NULL ? p->user_id : gr.user_id;
	if (uid != NULL)
		json_object_set_new(nrec, "user_id", json_string(uid));
	if (count == p->gc->bf_threshold)
		p->blocked_now = 1;
	/* Blocked since the failure that reached the threshold: a block
	 * is durable before the answer, a count below it may follow. */
	if (count >= p->gc->bf_threshold) {
		json_object_set_new(nrec, "blocked_at", json_integer(
		    p->blocked_now || gr.blocked_at == 0 ?
		    (json_int_t)p->now : gr.blocked_at));
		store_txn_durable(s, t);
	}
	rc = store_put(s, t, SK_GUARD, key, nrec, 0);
	json_decref(nrec);
	json_decref(rec);
	return rc;
}

/* Take one token from the bucket at key (an empty one stays empty). */
static enum store_rc
bucket_update(struct store *s, struct txn *t, struct post *p, enum guard_kind k,
    const struct guard_rate *r)
{
	struct guard_bucket	 b;
	struct guard_rec	 gr;
	json_t			*rec = NULL;
	enum store_rc		 rc;

	rc = store_get(s, t, SK_GUARD, p->ks->k[k], &rec);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	guard_rec_parse(rec, &gr);
	guard_bucket_of(rec != NULL ? &gr : NULL, r, p->now, &b);
	json_decref(rec);
	/* A bucket emptied (the limit reached) is durable, a take that
	 * leaves tokens may follow the answer. */
	if (guard_bucket_take(&b, r, p->now) == -1 ||
	    guard_bucket_fill(&b, r, p->now) < 1)
		store_txn_durable(s, t);
	rec = json_pack("{s:I, s:I, s:s}", "level", (json_int_t)b.level,
	    "t", (json_int_t)p->now, "ip", p->w->ip);
	if (rec == NULL)
		return STORE_ERR;
	if (k == GUARD_K_RL)
		json_object_set_new(rec, "identifier", json_string(p->ks->id));
	rc = store_put(s, t, SK_GUARD, p->ks->k[k], rec, 0);
	json_decref(rec);
	return rc;
}

/*
 * Everything after one credential check, in one transaction, committed
 * without a sync unless it blocks, empties a bucket or clears a count
 * (docs/security.md, "Durability"): the audit record of a success and a
 * failure count below the threshold may follow the answer.
 */
static enum store_rc
post_txn(struct store *s, struct txn *t, void *arg)
{
	struct post	*p = arg;
	enum store_rc	 rc = STORE_OK;

	p->blocked_now = 0;
	if (p->ks->on[GUARD_K_BF])
		rc = bf_update(s, t, p);
	if (rc == STORE_OK && p->ks->on[GUARD_K_IP] && is_failure(p->ev))
		rc = bucket_update(s, t, p, GUARD_K_IP, &p->gc->ip_rate);
	if (rc == STORE_OK && p->ks->on[GUARD_K_RL])
		rc = bucket_update(s, t, p, GUARD_K_RL, &p->gc->rl_rate);
	if (rc == STORE_OK)
		rc = store_put(s, t, SK_AUDIT, p->audit.key, p->audit.rec, 0);
	if (rc == STORE_OK && p->blocked_now && p->block.rec != NULL)
		rc = store_put(s, t, SK_AUDIT, p->block.key, p->block.rec, 0);
	return rc;
}

int
guard_after(struct lk_ctx *ctx, const struct tenant *tenant,
    struct guard_who *w, const char *identifier, const char *user_id,
    enum guard_event ev, time_t now)
{
	struct keys		 ks;
	struct post		 p;
	char			 akey[48], bkey[48];
	int			 rc = 0;

	keys_make(&tenant->guard, w, identifier, &ks);
	memset(&p, 0, sizeof(p));
	p.gc = &tenant->guard;
	p.w = w;
	p.ks = &ks;
	p.bf_none = w->bf_none;
	/* Good for this attempt alone: the next reads again. */
	w->bf_none = 0;
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
	    store_txn_run_nosync(ctx->store, post_txn, &p) != STORE_OK) {
		lk_err("cannot record the login attempt");
		rc = -1;
	}
	json_decref(p.audit.rec);
	json_decref(p.block.rec);
	audit_prune_maybe(ctx->store, tenant, now);
	return rc;
}

