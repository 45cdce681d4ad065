/*
 * refresh_fx.c: the fixture of the refresh-token tests (refresh_fx.h).
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

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{

	return remove(path);
}

json_t *
client_rec(const char *rotation, int lifetime, int idle, int leeway)
{
	json_t	*c = json_pack("{s:s, s:[s,s]}", "client_id", CID,
	    "grant_types", "password", "refresh_token");
	json_t	*rt = json_object();

	if (rotation != NULL)
		json_object_set_new(rt, "rotation_type", json_string(rotation));
	if (lifetime > 0)
		json_object_set_new(rt, "token_lifetime", json_integer(lifetime));
	if (idle > 0)
		json_object_set_new(rt, "idle_token_lifetime", json_integer(idle));
	if (leeway > 0)
		json_object_set_new(rt, "leeway", json_integer(leeway));
	json_object_set_new(c, "refresh_token", rt);
	return c;
}

/* The client record c (a reference stolen) as the responder reads it. */
void
client_parse(json_t *c, struct client_rec *out)
{

	assert_int_equal(record_parse(REC_CLIENT, c, out), 0);
	json_decref(c);
}

void
user_put(struct fx *fx, const char *uid, int blocked, json_int_t pwd_at)
{
	json_t	*u = json_pack("{s:s, s:s, s:s, s:b}", "user_id", uid,
	    "connection", "db", "email", "u@example.com", "blocked", blocked);

	if (pwd_at != 0)
		json_object_set_new(u, "password_set_at", json_integer(pwd_at));
	assert_int_equal(store_user_put(fx->ctx.store, NULL, u), STORE_OK);
	json_decref(u);
}

/* The API the tokens are issued for (AUD). */
json_t *
api_rec(void)
{

	return json_pack("{s:s, s:s, s:[s,s,s], s:b}", "identifier", AUD,
	    "name", "API", "scopes", "read:x", "write:x", "admin:x",
	    "allow_offline_access", 1);
}

void
api_put(struct fx *fx)
{
	json_t	*a = api_rec();

	assert_int_equal(store_put(fx->ctx.store, NULL, SK_API, AUD, a, 0),
	    STORE_OK);
	json_decref(a);
}

int
setup(void **state)
{
	struct fx	*fx;
	const char	*tmp = getenv("TMPDIR");

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/lkrefresh.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->home, sizeof(fx->home), "%s/env", fx->dir);
	if ((fx->ctx.store = store_open(fx->home, STORE_CREATE)) == NULL)
		return -1;
	client_parse(client_rec("rotating", 0, 0, 0), &fx->client);
	*state = fx;
	user_put(fx, UID, 0, 0);
	api_put(fx);
	return 0;
}

int
teardown(void **state)
{
	struct fx	*fx = *state;

	store_close(fx->ctx.store);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	record_clear(REC_CLIENT, &fx->client);
	free(fx);
	return 0;
}

void
use_client(struct fx *fx, json_t *c)
{

	record_clear(REC_CLIENT, &fx->client);
	client_parse(c, &fx->client);
}

/* A new family's first token, issued at t. */
void
issue(struct fx *fx, const char *device, time_t t, char out[96])
{
	struct refresh_new rn = { UID, CID, AUD, SCOPE, device, NULL, NULL };

	assert_int_equal(refresh_issue(&fx->ctx, NULL, &fx->client, NULL, &rn,
	    t, out, 96), 0);
}

/* Redeem token at t (scope: NULL for all); next gets the rotated token. */
enum refresh_rc
redeem(struct fx *fx, const char *token, const char *scope, time_t t,
    char next[96], char granted[512])
{
	struct refresh_use	 u;
	enum refresh_rc		 rc;

	refresh_use_init(&u);
	u.token = token;
	u.clientrec = &fx->client;
	u.scope = scope;
	u.now = t;
	rc = refresh_redeem(fx->ctx.store, &u);
	if (next != NULL)
		snprintf(next, 96, "%s", u.next);
	if (granted != NULL)
		snprintf(granted, 512, "%s", u.granted.p ? u.granted.p : "");
	if (rc == REFRESH_OK) {
		assert_non_null(u.user.json);
		assert_string_equal(u.user.user_id, UID);
	} else
		assert_null(u.user.json);
	refresh_use_clear(&u);
	return rc;
}

const char *
family_of(struct fx *fx, const char *token)
{
	static char	 fam[64];
	json_t		*rec;
	char		 key[72];

	assert_int_equal(hash_secret(token, strlen(token), key), 0);
	assert_int_equal(store_get(fx->ctx.store, NULL, SK_REFRESH, key, &rec),
	    STORE_OK);
	snprintf(fam, sizeof(fam), "%s",
	    json_string_value(json_object_get(rec, "family")));
	json_decref(rec);
	return fam;
}

int
count_cb(const char *key, json_t *val, void *arg)
{

	(*(int *)arg)++;
	return 0;
}
