/*
 * record_cache.c: a responder's parsed configuration records.  Every
 * request reads the tenant, its client, often a connection and an API,
 * and picks the signing key; reading and parsing them again each time
 * cost more CPU than the rest of a refresh outside its signature
 * (docs/performance.md, "Where the time goes").  They change only when
 * an operator changes them, and every such write changes the store's
 * generation in its transaction (store_gen.c).
 *
 * record_cache_begin, at a request's start, reads the generation and
 * drops every copy when it moved; until record_cache_end, record_get
 * answers from the copies and keeps what it parses.  A copy is the
 * kind's struct and a reference to its JSON, so a hit costs a memcpy and
 * a reference.  Outside begin..end (latchkeyctl, tests, jobs outside a
 * request) nothing is kept or answered.  Missing records are not kept
 * (unknown client_ids cannot fill memory) and at most RECORD_CACHE_MAX
 * records are, the least recently used dropped first.
 *
 * The process is single-threaded (prefork.c); the records' JSON is
 * shared read-only with the callers, which never change it.
 */
#include <stdlib.h>
#include <string.h>

#include "extern.h"

/* One record of a watched kind (store_gen_watched). */
union rec_any {
	struct tenant		 tenant;
	struct client_rec	 client;
	struct conn		 conn;
	struct api		 api;
	struct keyrec		 key;
};

struct rc_entry {
	enum rec_kind	 kind;
	char		*key;		/* NULL: a free entry */
	unsigned long	 used;		/* the tick of its last use */
	union rec_any	 rec;
};

static struct {
	struct store	*s;		/* the store the copies came from */
	uint64_t	 gen;		/* the generation they were read at */
	int		 on;		/* inside begin..end, generation read */
	unsigned long	 tick;
	struct rc_entry	 e[RECORD_CACHE_MAX];
	json_t		*signkey;	/* the signing key picked; NULL: none */
	int		 signkey_set;
	struct record_cache_stats stats;
} cache;

static void
entry_clear(struct rc_entry *e)
{
	if (e->key == NULL)
		return;
	record_clear(e->kind, &e->rec);
	free(e->key);
	e->key = NULL;
}

void
record_cache_drop(void)
{
	size_t	 i;

	for (i = 0; i < RECORD_CACHE_MAX; i++)
		entry_clear(&cache.e[i]);
	json_decref(cache.signkey);
	cache.signkey = NULL;
	cache.signkey_set = 0;
	cache.s = NULL;
	cache.on = 0;
	cache.stats.drops++;
}

void
record_cache_begin(struct store *s)
{
	uint64_t	 gen;

	cache.on = 0;
	if (s == NULL || store_gen(s, &gen) != STORE_OK) {
		record_cache_drop();
		return;
	}
	if (s != cache.s || gen != cache.gen)
		record_cache_drop();
	cache.s = s;
	cache.gen = gen;
	cache.on = 1;
}

void
record_cache_end(void)
{
	cache.on = 0;
}

/* Whether kind's key may be answered or kept for store s now. */
static int
cache_usable(const struct store *s, enum rec_kind k, const char *key)
{
	return cache.on && s == cache.s && k < REC__MAX &&
	    store_gen_watched(record_store(k), key);
}

static struct rc_entry *
entry_find(enum rec_kind k, const char *key)
{
	size_t	 i;

	for (i = 0; i < RECORD_CACHE_MAX; i++)
		if (cache.e[i].key != NULL && cache.e[i].kind == k &&
		    strcmp(cache.e[i].key, key) == 0)
			return &cache.e[i];
	return NULL;
}

int
record_cache_get(struct store *s, enum rec_kind k, const char *key,
    void *out)
{
	struct rc_entry	*e;

	if (!cache_usable(s, k, key))
		return -1;
	if ((e = entry_find(k, key)) == NULL) {
		cache.stats.misses++;
		return -1;
	}
	e->used = ++cache.tick;
	memcpy(out, &e->rec, record_size(k));
	json_incref(*(json_t **)out);
	cache.stats.hits++;
	return 0;
}

/* A free entry, or the least recently used one emptied. */
static struct rc_entry *
entry_take(void)
{
	struct rc_entry	*old = &cache.e[0];
	size_t		 i;

	for (i = 0; i < RECORD_CACHE_MAX; i++) {
		if (cache.e[i].key == NULL)
			return &cache.e[i];
		if (cache.e[i].used < old->used)
			old = &cache.e[i];
	}
	entry_clear(old);
	cache.stats.evictions++;
	return old;
}

void
record_cache_put(struct store *s, enum rec_kind k, const char *key,
    const void *rec)
{
	struct rc_entry	*e;
	char		*dup;

	if (!cache_usable(s, k, key) || (dup = strdup(key)) == NULL)
		return;
	if ((e = entry_find(k, key)) != NULL)
		entry_clear(e);
	else
		e = entry_take();
	e->kind = k;
	e->key = dup;
	e->used = ++cache.tick;
	memcpy(&e->rec, rec, record_size(k));
	json_incref(*(json_t **)(void *)&e->rec);
}

json_t *
record_cache_signkey(struct store *s, int *found)
{
	*found = cache.on && s == cache.s && cache.signkey_set;
	return *found ? json_incref(cache.signkey) : NULL;
}

void
record_cache_signkey_set(struct store *s, json_t *key)
{
	if (!cache.on || s != cache.s)
		return;
	json_decref(cache.signkey);
	cache.signkey = json_incref(key);
	cache.signkey_set = 1;
}

void
record_cache_stats(struct record_cache_stats *st)
{
	size_t	 i;

	*st = cache.stats;
	st->entries = 0;
	for (i = 0; i < RECORD_CACHE_MAX; i++)
		st->entries += cache.e[i].key != NULL;
}
