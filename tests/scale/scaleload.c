/*
 * scaleload: fill a latchkey home with a production's worth of users and
 * refresh tokens for `make scale` (tests/scale/scale.py).
 *
 *	scaleload -d HOME -c CLIENT -C CONNECTION -a AUDIENCE -p PASSWORD
 *	    [-u FIRST:COUNT] [-f FIRST:COUNT] [-r ROTATIONS] [-x FIRST:COUNT]
 *	    [-o TOKENS] [-k EVERY]
 *
 * -u adds users FIRST .. FIRST+COUNT-1 (user_id "auth0|scale<8 digits>",
 * email "u<n>@scale.example"), all with one argon2id hash of PASSWORD made
 * with the tenant's policy (a million argon2 hashes would take hours; the
 * loader measures the store, not the hash).  -f gives each of those users
 * one live refresh-token family, issued now and rotated ROTATIONS times,
 * so it holds ROTATIONS spent tokens and one current one; -x does the
 * same for users whose family was issued 40 days ago and has expired
 * (the client's 30-day absolute lifetime): what `token prune` removes.
 * -o appends "user_id token" of every EVERY-th live family's current
 * token, for the load generator.
 *
 * Everything goes through the responder's own code: store_user_put (with
 * its unique indexes), refresh_issue and refresh_redeem (with rotation),
 * so the records are exactly what a real tenant holds.  Users are written
 * 500 to a transaction; tokens one transaction each, as a responder does.
 * The caller sets DB_TXN_NOSYNC in the home's DB_CONFIG while loading.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "extern.h"

#define USERS_PER_TXN	500
#define EXPIRED_AGE	(40 * 86400)

struct load {
	struct lk_ctx	 ctx;
	struct tenant	 tenant;
	struct client_rec client;
	struct api	 api;
	const char	*client_id, *conn, *audience;
	char		 hash[HASH_ENCODED_MAX];
	long		 rotations;
	long		 every;
	FILE		*out;
};

struct range {
	long		 first, count;
};

/* Users [first, first + n) written in one transaction (txn_run's fn). */
struct ubatch {
	struct load	*l;
	long		 first, n;
};

static void
user_id(long i, char *out, size_t sz)
{

	snprintf(out, sz, "auth0|scale%08ld", i);
}

static enum store_rc
users_txn(struct store *s, struct txn *txn, void *arg)
{
	struct ubatch	*b = arg;
	char		 uid[64], email[64];
	json_t		*rec;
	enum store_rc	 rc = STORE_OK;
	long		 i;

	for (i = b->first; rc == STORE_OK && i < b->first + b->n; i++) {
		user_id(i, uid, sizeof(uid));
		snprintf(email, sizeof(email), "u%07ld@scale.example", i);
		rec = json_pack("{ss ss ss ss sb sb ss ss}", "user_id", uid,
		    "connection", b->l->conn, "email", email,
		    "password_hash", b->l->hash, "email_verified", 1,
		    "blocked", 0, "created_at", "2026-01-01T00:00:00.000Z",
		    "updated_at", "2026-01-01T00:00:00.000Z");
		if (rec == NULL)
			return STORE_ERR;
		rc = store_user_put(s, txn, rec);
		json_decref(rec);
	}
	return rc;
}

static void
load_users(struct load *l, struct range r)
{
	struct ubatch	 b = { l, 0, 0 };
	long		 done;

	for (done = 0; done < r.count; done += b.n) {
		b.first = r.first + done;
		b.n = r.count - done < USERS_PER_TXN ? r.count - done :
		    USERS_PER_TXN;
		if (store_txn_run(l->ctx.store, users_txn, &b) != STORE_OK)
			errx(1, "users %ld..%ld: store error", b.first,
			    b.first + b.n - 1);
	}
}

/* One family for user i issued at now, rotated l->rotations times; its
 * current token in tok. */
static void
family(struct load *l, long i, time_t now, char tok[96])
{
	struct refresh_new	 rn;
	struct refresh_use	 u;
	char			 uid[64];
	long			 r;

	user_id(i, uid, sizeof(uid));
	memset(&rn, 0, sizeof(rn));
	rn.user_id = uid;
	rn.client_id = l->client_id;
	rn.audience = l->audience;
	rn.scope = "openid offline_access read:things";
	if (refresh_issue(&l->ctx, &l->tenant, &l->client, &l->api, &rn, now,
	    tok, 96) == -1)
		errx(1, "user %ld: cannot issue", i);
	for (r = 0; r < l->rotations; r++) {
		refresh_use_init(&u);
		u.token = tok;
		u.clientrec = &l->client;
		u.now = now + r + 1;
		if (refresh_redeem(l->ctx.store, &u) != REFRESH_OK ||
		    u.next[0] == '\0')
			errx(1, "user %ld: rotation %ld failed (%d)", i, r,
			    (int)u.rc);
		memcpy(tok, u.next, 96);
		refresh_use_clear(&u);
	}
}

static void
load_families(struct load *l, struct range r, time_t at, int keep)
{
	char	 tok[96], uid[64];
	long	 i;

	for (i = r.first; i < r.first + r.count; i++) {
		family(l, i, at, tok);
		if (keep && l->out != NULL && (i - r.first) % l->every == 0) {
			user_id(i, uid, sizeof(uid));
			fprintf(l->out, "%s %s\n", uid, tok);
		}
		OPENSSL_cleanse(tok, sizeof(tok));
	}
}

static struct range
range_arg(const char *s)
{
	struct range	 r = { 0, 0 };

	if (sscanf(s, "%ld:%ld", &r.first, &r.count) != 2 || r.first < 0 ||
	    r.count < 0)
		errx(1, "%s: expected FIRST:COUNT", s);
	return r;
}

static void
record(struct load *l, enum rec_kind kind, const char *key, void *out)
{

	if (record_get(l->ctx.store, NULL, kind, key, out) != STORE_OK)
		errx(1, "%s: not in the store", key);
}

static void
load_open(struct load *l, const char *home, const char *pw)
{
	if ((l->ctx.store = store_open(home, 0)) == NULL)
		errx(1, "%s: cannot open the environment", home);
	l->ctx.home = home;
	if (ctx_tenant(&l->ctx, &l->tenant) == -1)
		errx(1, "%s: no tenant", home);
	record(l, REC_CLIENT, l->client_id, &l->client);
	record(l, REC_API, l->audience, &l->api);
	if (hash_password(&l->tenant.hash_policy, pw, strlen(pw), l->hash, sizeof(l->hash))
	    == -1)
		errx(1, "cannot hash the password");
}

int
main(int argc, char *argv[])
{
	struct load	 l;
	struct range	 users = { 0, 0 }, live = { 0, 0 }, dead = { 0, 0 };
	const char	*home = NULL, *pw = NULL, *outpath = NULL;
	time_t		 now = time(NULL);
	int		 ch;

	memset(&l, 0, sizeof(l));
	l.every = 1000;
	while ((ch = getopt(argc, argv, "a:C:c:d:f:k:o:p:r:u:x:")) != -1)
		switch (ch) {
		case 'a': l.audience = optarg; break;
		case 'C': l.conn = optarg; break;
		case 'c': l.client_id = optarg; break;
		case 'd': home = optarg; break;
		case 'f': live = range_arg(optarg); break;
		case 'k': l.every = atol(optarg) > 0 ? atol(optarg) : 1; break;
		case 'o': outpath = optarg; break;
		case 'p': pw = optarg; break;
		case 'r': l.rotations = atol(optarg); break;
		case 'u': users = range_arg(optarg); break;
		case 'x': dead = range_arg(optarg); break;
		default:
			errx(2, "usage: scaleload -d HOME -c CLIENT -C CONN "
			    "-a AUDIENCE -p PASSWORD [-u|-f|-x FIRST:COUNT] "
			    "[-r ROTATIONS] [-o FILE] [-k EVERY]");
		}
	if (home == NULL || l.client_id == NULL || l.conn == NULL ||
	    l.audience == NULL || pw == NULL)
		errx(2, "-d, -c, -C, -a and -p are required");
	if (outpath != NULL && (l.out = fopen(outpath, "a")) == NULL)
		err(1, "%s", outpath);
	load_open(&l, home, pw);
	load_users(&l, users);
	load_families(&l, live, now, 1);
	load_families(&l, dead, now - EXPIRED_AGE, 0);
	if (l.out != NULL && fclose(l.out) != 0)
		err(1, "%s", outpath);
	record_clear(REC_TENANT, &l.tenant);
	record_clear(REC_CLIENT, &l.client);
	record_clear(REC_API, &l.api);
	store_close(l.ctx.store);
	return 0;
}
