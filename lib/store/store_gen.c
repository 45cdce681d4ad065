/*
 * store_gen.c: the store's generation, a value that every write of a
 * configuration record changes in the same transaction as the write:
 * the tenant (SK_META "tenant"), a client, a connection, an API or a
 * signing key, whoever writes it (latchkeyctl, the deploy import, key
 * rotation, a copy, a test).  A responder keeps the records it parsed
 * while the generation it read at a request's start is unchanged
 * (record_cache.c); so a change is seen by the next request of every
 * responder, on this machine (Berkeley DB) or on any machine sharing the
 * database (PostgreSQL).
 *
 * The value is random, not a counter: a write of SK_META "generation"
 * by anyone else (latchkeyctl copy writes every record as stored) can
 * then never bring back a value a responder holds, and two writers need
 * not read it first.  Being written in the change's transaction, it is
 * as durable as the change after a crash, on both backends.
 */
#include <string.h>

#include <openssl/rand.h>

#include "extern.h"
#include "store_int.h"

#define GEN_KEY		"generation"	/* SK_META */
#define GEN_FIELD	"generation"

/* The configuration kinds every record of which is watched. */
static const int gen_kinds[SK__MAX] = {
	[SK_CLIENT] = 1,
	[SK_CONNECTION] = 1,
	[SK_API] = 1,
	[SK_KEY] = 1,
};

int
store_gen_watched(enum store_kind kind, const char *key)
{
	if (kind == SK_META)
		return key != NULL && strcmp(key, "tenant") == 0;
	return kind < SK__MAX && gen_kinds[kind];
}

/* A new value: 63 random bits, never 0 (the value of a store that has
 * no generation record yet). */
static int
gen_new(json_int_t *out)
{
	uint64_t	 r = 0;

	while (r == 0) {
		if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1) {
			lk_err("RAND_bytes failed");
			return -1;
		}
		r &= INT64_MAX;
	}
	*out = (json_int_t)r;
	return 0;
}

enum store_rc
store_gen_bump(struct store *s, struct txn *txn)
{
	json_t		*rec;
	json_int_t	 v;
	enum store_rc	 rc;

	/* Without a transaction the bump could outlive a failed write or
	 * miss a good one: store_put and store_del open one for these. */
	if (txn == NULL) {
		lk_err("a configuration record written outside a transaction");
		return STORE_ERR;
	}
	if (gen_new(&v) == -1 ||
	    (rec = json_pack("{sI}", GEN_FIELD, v)) == NULL)
		return STORE_ERR;
	rc = s->ops->put(s, txn, SK_META, GEN_KEY, rec, 0);
	json_decref(rec);
	/* This process's copies are dropped whether or not the transaction
	 * commits (a retry writes again); none is kept until the next
	 * request reads the generation again. */
	record_cache_drop();
	return rc;
}

enum store_rc
store_gen(struct store *s, uint64_t *gen)
{
	json_t		*rec = NULL;
	json_t		*v;
	enum store_rc	 rc;

	*gen = 0;
	rc = store_get(s, NULL, SK_META, GEN_KEY, &rec);
	if (rc == STORE_NOTFOUND)
		return STORE_OK;
	if (rc != STORE_OK)
		return rc;
	v = json_object_get(rec, GEN_FIELD);
	if (json_is_integer(v) && json_integer_value(v) > 0)
		*gen = (uint64_t)json_integer_value(v);
	else {
		lk_err("the store's generation record is malformed");
		rc = STORE_ERR;
	}
	json_decref(rec);
	return rc;
}
