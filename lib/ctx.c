/*
 * The per-process context: the database environment and the start-up
 * checks (STYLE.md "Fail fast at start-up": open with recovery, load the
 * tenant, sign and verify a probe token with the current key, report
 * every problem at once).  A responder that failed them answers 500 JSON
 * and tries again, at most once a second, so that creating the tenant
 * after the web server started needs no restart.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extern.h"

static time_t	 last_try;

/* Sign and verify a probe token with the key. 0 or -1. */
static int
probe_key(const json_t *key)
{
	json_t		*claims, *back = NULL;
	char		*jws = NULL;
	int		 rc = -1;

	if ((claims = json_pack("{s:s}", "probe", "latchkey")) == NULL)
		return -1;
	if (token_sign(key, claims, &jws) == 0 &&
	    token_verify_key(jws, key, &back) == TOKEN_OK &&
	    json_equal(claims, back))
		rc = 0;
	json_decref(back);
	json_decref(claims);
	free(jws);
	return rc;
}

/* All checks; logs each failure. Returns the number of problems. */
static int
ctx_check(struct lk_ctx *ctx)
{
	json_t		*tenant, *key;
	int		 problems = 0;

	if ((tenant = ctx_tenant(ctx)) == NULL) {
		lk_err("%s: no tenant: run latchkeyctl init or import", ctx->home);
		problems++;
	} else if (json_string_value(json_object_get(tenant, "issuer")) == NULL) {
		lk_err("%s: tenant has no issuer", ctx->home);
		problems++;
	}
	if ((key = ctx_signing_key(ctx)) == NULL) {
		lk_err("%s: no current signing key", ctx->home);
		problems++;
	} else if (probe_key(key) == -1) {
		lk_err("%s: the current signing key cannot sign and verify", ctx->home);
		problems++;
	}
	json_decref(key);
	json_decref(tenant);
	return problems;
}

void
ctx_init(struct lk_ctx *ctx, const char *home)
{
	time_t	 now = time(NULL);

	ctx->home = home;
	if (ctx->ready || now == last_try)
		return;
	last_try = now;
	if (ctx->store == NULL) {
		/* Our own recovery replaces the region file (stall.c). */
		stall_watch(NULL);
		if ((ctx->store = store_open(home, 0)) == NULL) {
			lk_err("%s: cannot open the database environment "
			    "(set " LK_HOME_ENV ")", home);
			return;
		}
		stall_watch(home);
	}
	if (ctx_check(ctx) == 0)
		ctx->ready = 1;
}

void
ctx_refresh(struct lk_ctx *ctx)
{
	if (ctx->store != NULL && store_panicked(ctx->store)) {
		lk_warn("%s: environment panicked (a process died inside "
		    "Berkeley DB); reopening with recovery", ctx->home);
		store_close(ctx->store);
		ctx->store = NULL;
		ctx->ready = 0;
		last_try = 0;
	}
	if (!ctx->ready)
		ctx_init(ctx, ctx->home);
}

void
ctx_clear(struct lk_ctx *ctx)
{
	store_close(ctx->store);
	memset(ctx, 0, sizeof(*ctx));
}

json_t *
ctx_tenant(struct lk_ctx *ctx)
{
	json_t	*t = NULL;

	if (ctx->store == NULL ||
	    store_get(ctx->store, NULL, SK_META, "tenant", &t) != STORE_OK)
		return NULL;
	return t;
}

struct keypick {
	json_t		*best;
	json_int_t	 created;
};

static int
key_pick(const char *kid, json_t *rec, void *arg)
{
	struct keypick	*kp = arg;
	const char	*status;
	json_int_t	 created;

	status = json_string_value(json_object_get(rec, "status"));
	if (status == NULL || strcmp(status, "current") != 0)
		return 0;
	created = json_integer_value(json_object_get(rec, "created_at"));
	if (kp->best == NULL || created > kp->created) {
		json_decref(kp->best);
		kp->best = json_incref(rec);
		kp->created = created;
	}
	return 0;
}

json_t *
ctx_signing_key(struct lk_ctx *ctx)
{
	struct keypick	 kp = { NULL, 0 };

	if (ctx->store == NULL ||
	    store_each(ctx->store, NULL, SK_KEY, key_pick, &kp) != STORE_OK) {
		json_decref(kp.best);
		return NULL;
	}
	return kp.best;
}
