/*
 * guard_admin.c: latchkeyctl guard list, unblock and prune, over the
 * SK_GUARD records of attack protection (guard_bucket.c, docs/COMPAT.md
 * 6).  Each walks the records without a transaction in batches of their
 * own (store_sweep), judging each record in the transaction that
 * deletes it; with a transaction, in it.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

/* The rate of a bucket record of kind k (endpoint: from its record);
 * NULL when the limit is off. */
static const struct guard_rate *
rate_of(const struct guard_conf *gc, enum guard_kind k,
    const struct guard_rec *gr)
{
	enum guard_ep	 ep;

	if (k == GUARD_K_IP)
		return &gc->ip_rate;
	if (k == GUARD_K_RL)
		return &gc->rl_rate;
	if (k == GUARD_K_PR)
		return gc->pr_rate.cap > 0 ? &gc->pr_rate : NULL;
	if ((ep = guard_ep_find(gr->endpoint)) == GUARD_EP__MAX ||
	    gc->ep_rate[ep].cap == 0)
		return NULL;
	return &gc->ep_rate[ep];
}

/* 1 when the record no longer matters (prune may delete it); *tokens
 * gets a bucket's whole tokens. */
static int
neutral(const struct guard_conf *gc, enum guard_kind k,
    const struct guard_rec *gr, time_t now, long *tokens)
{
	const struct guard_rate	*r;
	struct guard_bucket	 b;

	*tokens = 0;
	if (k == GUARD_K_BF)
		return now - gr->last_failure >= gc->bf_block;
	if (k == GUARD_K__MAX || (r = rate_of(gc, k, gr)) == NULL)
		return 1;
	guard_bucket_of(gr, r, now, &b);
	*tokens = (long)(b.level / r->period);
	return b.level >= (long long)r->cap * r->period;
}

struct walk {
	const struct guard_conf	*gc;
	const struct guard_sel	*sel;
	struct user		 user;		/* sel->user parsed */
	char			 id[GUARD_ID_MAX + 1];
	char			 ip[GUARD_IP_MAX];
	time_t			 now;
	json_t			*out;		/* list: objects; else keys */
};

static int
list_cb(const char *key, json_t *val, void *arg)
{
	struct walk	*wk = arg;
	enum guard_kind	 k = guard_kind_of(key);
	struct guard_rec gr;
	json_t		*o;
	long		 tokens;

	guard_rec_parse(val, &gr);
	if (neutral(wk->gc, k, &gr, wk->now, &tokens))
		return 0;
	if ((o = json_deep_copy(val)) == NULL)
		return 1;
	json_object_set_new(o, "kind", json_string(guard_kind_name(k)));
	json_object_del(o, "level");
	json_object_del(o, "t");
	if (k == GUARD_K_BF) {
		json_object_set_new(o, "blocked",
		    json_boolean(guard_bf_blocked(&gr, wk->gc, wk->now)));
		json_object_set_new(o, "expires", json_integer(
		    gr.last_failure + wk->gc->bf_block));
	} else {
		json_object_set_new(o, "tokens", json_integer(tokens));
		json_object_set_new(o, "blocked", json_boolean(tokens < 1));
	}
	return json_array_append_new(wk->out, o) == -1;
}

/* list_cb in a batch (store_sweep): the objects go to the batch's out. */
static enum store_rc
list_fn(struct store *s, struct txn *t, const char *key, json_t *val, void *arg,
    enum store_act *act, json_t *out)
{
	struct walk	*wk = arg;

	wk->out = out;
	return list_cb(key, val, wk) ? STORE_ERR : STORE_OK;
}

/* Without t, in batches of their own transactions (store_sweep). */
enum store_rc
guard_list(struct store *s, struct txn *t, const struct tenant *tenant,
    time_t now, json_t *out)
{
	struct walk		 wk;
	struct store_sweep	 sw = { SK_GUARD, NULL, list_fn, &wk, out, 0, 0 };

	memset(&wk, 0, sizeof(wk));
	wk.gc = &tenant->guard;
	wk.now = now;
	wk.out = out;
	if (t == NULL)
		return store_sweep(s, &sw);
	return store_each(s, t, SK_GUARD, list_cb, &wk);
}

/* 1 when id (folded) is one of the user's logins. */
static int
user_login(const struct user *u, const char *id)
{
	const char	*logins[3];
	char		 f[GUARD_ID_MAX + 1];
	size_t		 i;

	logins[0] = u->email;
	logins[1] = u->username;
	logins[2] = u->phone_number;
	for (i = 0; i < 3; i++) {
		guard_id_fold(logins[i], f, sizeof(f));
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
	const char		*id, *ip, *uid;
	struct guard_rec	 gr;
	int			 hit = 0;

	guard_rec_parse(val, &gr);
	id = gr.identifier;
	ip = gr.ip;
	switch (guard_kind_of(key)) {
	case GUARD_K_BF:
		if (id == NULL || ip == NULL)
			break;
		if (sel->identifier != NULL)
			hit = strcmp(id, wk->id) == 0 &&
			    (sel->ip == NULL || strcmp(ip, wk->ip) == 0);
		if (sel->user != NULL) {
			uid = wk->user.user_id;
			hit = user_login(&wk->user, id) || (uid != NULL &&
			    gr.user_id != NULL && strcmp(uid, gr.user_id) == 0);
		}
		break;
	case GUARD_K_PR:
		/* A recipient's code quota goes with its identifier. */
		if (id == NULL)
			break;
		hit = (sel->identifier != NULL && sel->ip == NULL &&
		    strcmp(id, wk->id) == 0) ||
		    (sel->user != NULL && user_login(&wk->user, id));
		break;
	case GUARD_K_IP:
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
unblock_fn(struct store *s, struct txn *t, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{

	if (unblock_hit(key, val, arg))
		*act = STORE_DELETE;
	return STORE_OK;
}

/* Delete the keys in wk->out. */
static enum store_rc
delete_keys(struct store *s, struct txn *t, const json_t *keys, int *count)
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
guard_unblock(struct store *s, struct txn *t, const struct guard_sel *sel,
    int *count)
{
	struct walk		 wk;
	struct store_sweep	 sw = { SK_GUARD, NULL, unblock_fn, &wk, NULL,
				    0, 0 };
	enum store_rc		 rc;

	*count = 0;
	memset(&wk, 0, sizeof(wk));
	wk.sel = sel;
	/* A user record that does not parse has no logins to match. */
	if (sel->user != NULL)
		(void)record_parse(REC_USER, (json_t *)sel->user, &wk.user);
	guard_id_fold(sel->identifier, wk.id, sizeof(wk.id));
	if (sel->ip != NULL &&
	    guard_ip_canon(sel->ip, wk.ip, sizeof(wk.ip)) == -1)
		snprintf(wk.ip, sizeof(wk.ip), "%s", sel->ip);
	if (t == NULL) {
		rc = store_sweep(s, &sw);
		*count = (int)sw.deleted;
		goto out;
	}
	rc = STORE_ERR;
	if ((wk.out = json_array()) == NULL)
		goto out;
	rc = store_each(s, t, SK_GUARD, unblock_cb, &wk);
	if (rc == STORE_OK)
		rc = delete_keys(s, t, wk.out, count);
	json_decref(wk.out);
out:
	record_clear(REC_USER, &wk.user);
	return rc;
}

static int
prune_cb(const char *key, json_t *val, void *arg)
{
	struct walk	*wk = arg;
	struct guard_rec gr;
	long		 tokens;

	guard_rec_parse(val, &gr);
	if (!neutral(wk->gc, guard_kind_of(key), &gr, wk->now, &tokens))
		return 0;
	return json_array_append_new(wk->out, json_string(key)) == -1;
}

/* In a batch: the record judged is the one deleted, so a bucket a
 * responder drained meanwhile is judged as it now stands. */
static enum store_rc
prune_fn(struct store *s, struct txn *t, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	struct walk	*wk = arg;
	struct guard_rec gr;
	long		 tokens;

	guard_rec_parse(val, &gr);
	if (neutral(wk->gc, guard_kind_of(key), &gr, wk->now, &tokens))
		*act = STORE_DELETE;
	return STORE_OK;
}

static enum store_rc
prune_in(struct store *s, struct txn *t, struct walk *wk, int *count)
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
guard_prune(struct store *s, struct txn *t, const struct tenant *tenant,
    time_t now, int *count)
{
	struct walk		 wk;
	enum store_rc		 rc;
	int			 n = 0;

	*count = 0;
	memset(&wk, 0, sizeof(wk));
	wk.gc = &tenant->guard;
	wk.now = now;
	rc = t == NULL ? prune_batched(s, &wk, count) :
	    prune_in(s, t, &wk, count);
	if (rc == STORE_OK)
		rc = audit_prune(s, t, now - audit_retention(tenant), 0, &n);
	*count += n;
	return rc;
}
