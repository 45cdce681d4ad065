/*
 * The per-process context: the database environment and the start-up
 * checks, which fail fast: open with recovery, load the tenant, sign and
 * verify a probe token with the current key, and report every problem at
 * once.  A plain CGI process (one_request) serves one request and exits:
 * its probe would double what a token request costs in signing, and
 * would cost every other request one signature and the key's parse; the
 * request that signs finds a key that cannot sign itself (500).  A responder that failed them answers 500 JSON and tries again,
 * at most once a second, so that creating the tenant after the web
 * server started needs no restart.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

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

/* The checks themselves (ctx_check). */
static int
ctx_check_records(struct lk_ctx *ctx)
{
	struct tenant	 tenant;
	json_t		*key;
	int		 problems = 0;

	if (ctx_tenant(ctx, &tenant) == -1) {
		lk_err("%s: no tenant: run latchkeyctl init or import", ctx->home);
		problems++;
	} else if (tenant.issuer == NULL) {
		lk_err("%s: tenant has no issuer", ctx->home);
		problems++;
	}
	if ((key = ctx_signing_key(ctx)) == NULL) {
		lk_err("%s: no current signing key", ctx->home);
		problems++;
	} else if (!ctx->one_request && probe_key(key) == -1) {
		lk_err("%s: the current signing key cannot sign and verify", ctx->home);
		problems++;
	}
	json_decref(key);
	record_clear(REC_TENANT, &tenant);
	/* A responder checks that it can hash before its first login; a
	 * plain CGI request loads the libraries only if it hashes
	 * (lib/crypto/hashsym.c). */
	if (!ctx->one_request && hash_libs_load() == -1) {
		lk_err("the password hash libraries (%s, %s) cannot be loaded",
		    dynlib_soname(DYNLIB_ARGON2), dynlib_soname(DYNLIB_CRYPT));
		problems++;
	}
	return problems;
}

/*
 * All checks; logs each failure. Returns the number of problems.  They
 * run like a request (route.c): one hold of the store for their
 * transactions, and the tenant and signing key they read kept in the
 * record cache, so that the first request, and a plain CGI process's
 * only one, finds them there instead of reading and parsing them again.
 */
static int
ctx_check(struct lk_ctx *ctx)
{
	int	 problems;

	store_hold(ctx->store);
	record_cache_begin(ctx->store);
	problems = ctx_check_records(ctx);
	record_cache_end();
	store_release(ctx->store);
	return problems;
}

/* Has the environment been created (latchkeyctl init), and may this
 * process use it?  Then a failure to open it is a recovery race, not a
 * configuration problem (a missing or unreadable home is one).  A
 * PostgreSQL server that cannot be reached may be restarting or failing
 * over: transient too. */
static int
env_exists(const char *home)
{
	char	 path[PATH_MAX];

	if (store_env_pg())
		return 1;

	return (size_t)snprintf(path, sizeof(path), "%s/meta.db", home) <
	    sizeof(path) && access(path, R_OK | W_OK) == 0;
}

void
ctx_init(struct lk_ctx *ctx, const char *home)
{
	time_t		 now = time(NULL);
	unsigned	 troubles = store_troubles();

	ctx->home = home;
	/* A configuration problem is retried at most once a second; a
	 * transient one (a recovery in progress) at every request. */
	if (ctx->ready || (!ctx->transient && now == last_try))
		return;
	last_try = now;
	if (ctx->store == NULL) {
		/* Our own recovery replaces the region file (stall.c). */
		stall_watch(NULL);
		if ((ctx->store = store_open_env(home,
		    STORE_WATCH | STORE_CKP_LATER)) == NULL) {
			ctx->transient = ctx->was_ready || env_exists(home) ||
			    store_troubles() != troubles;
			if (store_env_pg())
				lk_err("cannot open the PostgreSQL database ("
				    LK_DATABASE_ENV ")");
			else
				lk_err("%s: cannot open the database "
				    "environment%s", home, ctx->transient ?
				    " (recovery in progress?)" :
				    " (set " LK_HOME_ENV ")");
			return;
		}
	}
	if (ctx_check(ctx) == 0) {
		ctx->ready = ctx->was_ready = 1;
		ctx->transient = 0;
	} else
		ctx->transient = ctx->was_ready || store_troubles() != troubles;
}

/*
 * ctx_init until ready, at most tries times 20 ms apart, closing a
 * panicked store first: another responder may be running recovery at
 * this moment (DB_REGISTER lets one process do it).  Stops early on a
 * configuration problem (not transient).
 *
 * The stall timer runs throughout (stall.c): the start-up checks read
 * the tenant and the keys in transactions, and a worker started in place
 * of a killed one does so while its peers are being killed too.  Before,
 * only requests were watched, and a new worker asleep for good on a
 * mutex a killed peer held kept the recovery lock shared (store.c), so
 * no responder could recover the environment (fault test, CI).
 */
static void
ctx_retry(struct lk_ctx *ctx, int tries)
{
	struct timespec	 ts = { 0, 20 * 1000 * 1000 };
	int		 i;

	stall_arm();
	for (i = 0; i < tries; i++) {
		if (store_panicked(ctx->store)) {
			/* Closing waits for a recovery in progress (store.c):
			 * the environment it replaces is not a stall. */
			stall_watch(NULL);
			store_close(ctx->store);
			ctx->store = NULL;
			ctx->ready = 0;
		}
		ctx_init(ctx, ctx->home);
		if (ctx->ready || !ctx->transient)
			break;
		nanosleep(&ts, NULL);
	}
	stall_disarm();
}

void
ctx_start(struct lk_ctx *ctx, const char *home)
{
	ctx->home = home;
	ctx_retry(ctx, 50);
}

void
ctx_refresh(struct lk_ctx *ctx)
{
	if (store_panicked(ctx->store)) {
		lk_warn("%s: environment panicked (a process died inside "
		    "Berkeley DB); reopening with recovery", ctx->home);
		ctx->transient = 1;	/* not throttled by ctx_init */
		ctx_retry(ctx, 10);
	} else if (!ctx->ready)
		ctx_init(ctx, ctx->home);
}

void
ctx_idle(struct lk_ctx *ctx)
{
	store_checkpoint(ctx->store);	/* watched by stall.c when it runs */
}

void
ctx_clear(struct lk_ctx *ctx)
{
	/* The closing checkpoint can meet a killed peer's mutex too. */
	stall_arm();
	store_close(ctx->store);
	stall_disarm();
	OPENSSL_cleanse(ctx->dpop_key, sizeof(ctx->dpop_key));
	memset(ctx, 0, sizeof(*ctx));
}

int
ctx_tenant(struct lk_ctx *ctx, struct tenant *t)
{
	memset(t, 0, sizeof(*t));
	if (ctx->store == NULL ||
	    tenant_load(ctx->store, NULL, t) != STORE_OK)
		return -1;
	return 0;
}

struct keypick {
	json_t		*best;
	long long	 created;
};

/* The newest current key (store_each callback); a key record that does
 * not parse is passed over (record_parse logs it). */
static int
key_pick(const char *kid, json_t *rec, void *arg)
{
	struct keypick	*kp = arg;
	struct keyrec	 k;

	if (record_parse(REC_KEY, rec, &k) == -1)
		return 0;
	if (k.status == KEYST_CURRENT &&
	    (kp->best == NULL || k.created_at > kp->created)) {
		json_decref(kp->best);
		kp->best = json_incref(rec);
		kp->created = k.created_at;
	}
	record_clear(REC_KEY, &k);
	return 0;
}

/* Picked once a generation in a responder's requests (record_cache.c). */
json_t *
ctx_signing_key(struct lk_ctx *ctx)
{
	struct keypick	 kp = { NULL, 0 };
	int		 found;

	if (ctx->store == NULL)
		return NULL;
	if ((kp.best = record_cache_signkey(ctx->store, &found)) != NULL ||
	    found)
		return kp.best;
	if (store_each(ctx->store, NULL, SK_KEY, key_pick, &kp) != STORE_OK) {
		json_decref(kp.best);
		return NULL;
	}
	record_cache_signkey_set(ctx->store, kp.best);
	return kp.best;
}
