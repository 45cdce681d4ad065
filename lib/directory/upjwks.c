/*
 * upjwks.c: the signing keys of upstream identity providers (their JWKS,
 * RFC 7517 5), fetched over TLS through upstream.c and kept per process
 * in a few slots keyed by URL.  A kept set is used for UPJWKS_MAX_AGE;
 * an id_token whose kid it lacks (the upstream rotated its keys) fetches
 * it again, but at most once every jwks_refresh_min seconds (default 60)
 * per process, so that tokens with made-up kids cannot make latchkey
 * hammer the upstream.  Only RS256 RSA keys meant for signatures are
 * kept, each as PEM (jwk.c), in token_verify's shape.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define UPJWKS_SLOTS	8

static struct {
	char		 url[REC_ID_LEN + 1];
	time_t		 fetched;	/* 0: free */
	json_t		*keys;		/* token_verify's shape; NULL: none */
} slots[UPJWKS_SLOTS];

/* One JWK as {"kid", "alg": "RS256", "pem"}, or NULL when it is not an
 * RSA signing key for RS256. */
static json_t *
jwk_entry(const json_t *k)
{
	const char	*kid = json_string_value(json_object_get(k, "kid"));
	const char	*alg = json_string_value(json_object_get(k, "alg"));
	const char	*use = json_string_value(json_object_get(k, "use"));
	json_t		*e;
	char		*pem;

	if (kid == NULL || strlen(kid) > REC_NAME_LEN ||
	    (alg != NULL && strcmp(alg, "RS256") != 0) ||
	    (use != NULL && strcmp(use, "sig") != 0) ||
	    jwk_rsa_pem(k, &pem) == -1)
		return NULL;
	e = json_pack("{s:s, s:s, s:s}", "kid", kid, "alg", "RS256",
	    "pem", pem);
	free(pem);
	return e;
}

json_t *
upjwks_keys(const json_t *jwks)
{
	const json_t	*k;
	json_t		*out, *e;
	size_t		 i;

	if ((out = json_array()) == NULL)
		return NULL;
	json_array_foreach(json_object_get(jwks, "keys"), i, k) {
		if (json_array_size(out) >= UPJWKS_KEYS_MAX)
			break;
		if ((e = jwk_entry(k)) != NULL)
			json_array_append_new(out, e);
	}
	if (json_array_size(out) == 0) {
		json_decref(out);
		return NULL;
	}
	return out;
}

int
upjwks_due(time_t fetched, time_t now, int unknown_kid, long min_refresh)
{

	if (fetched == 0 || now < fetched || now - fetched >= UPJWKS_MAX_AGE)
		return 1;
	return unknown_kid && now - fetched >= min_refresh;
}

/* Fetch c's JWKS within budget_ms: its keys, or NULL (logged). */
static json_t *
fetch(const struct conn *c, long budget_ms)
{
	struct upstream_call	 call;
	enum upstream_rc	 rc;
	json_t			*doc = NULL, *keys = NULL;
	char			 url[128];

	upstream_call_init(&call);
	call.url = c->jwks_url;
	call.ca_file = c->ca_file;
	call.connect_ms = (long)c->upstream_connect_timeout_ms;
	call.total_ms = (long)c->upstream_timeout_ms;
	if (call.total_ms > budget_ms)
		call.total_ms = budget_ms;
	if (call.connect_ms > call.total_ms)
		call.connect_ms = call.total_ms;
	log_escape(url, sizeof(url), c->jwks_url);
	if ((rc = upstream_fetch(&call)) != UP_OK)
		lk_warn("JWKS %s: %s", url, vocab_name(&upstream_rc_vocab, rc));
	else if (call.status != 200)
		lk_warn("JWKS %s: HTTP %ld", url, call.status);
	else if ((doc = json_loads(call.body.p, 0, NULL)) == NULL ||
	    (keys = upjwks_keys(doc)) == NULL)
		lk_warn("JWKS %s: no usable RS256 key", url);
	json_decref(doc);
	upstream_call_clear(&call);
	return keys;
}

/* The slot of url: its own, else the free or oldest one (emptied). */
static size_t
slot_for(const char *url)
{
	size_t	 i, old = 0;

	for (i = 0; i < UPJWKS_SLOTS; i++) {
		if (slots[i].fetched != 0 && strcmp(slots[i].url, url) == 0)
			return i;
		if (slots[i].fetched < slots[old].fetched)
			old = i;
	}
	json_decref(slots[old].keys);
	slots[old].keys = NULL;
	slots[old].fetched = 0;
	snprintf(slots[old].url, sizeof(slots[old].url), "%s", url);
	return old;
}

enum upjwks_rc
upjwks_get(const struct conn *c, time_t now, int unknown_kid,
    long budget_ms, const json_t **keys, long *wait)
{
	json_t	*fresh;
	size_t	 i;

	*keys = NULL;
	*wait = 0;
	if (c->jwks_url == NULL || strlen(c->jwks_url) > REC_ID_LEN)
		return UPJWKS_FAILED;
	i = slot_for(c->jwks_url);
	/* No keys (the last fetch failed): fetched again as for a kid. */
	if (!upjwks_due(slots[i].fetched, now, unknown_kid ||
	    slots[i].keys == NULL, (long)c->jwks_refresh_min)) {
		if (slots[i].keys == NULL)
			return UPJWKS_FAILED;
		if (unknown_kid) {
			*wait = (long)(slots[i].fetched + c->jwks_refresh_min -
			    now);
			return UPJWKS_WAIT;
		}
		*keys = slots[i].keys;
		return UPJWKS_OK;
	}
	/* A failed fetch is remembered too: the next try waits as a
	 * refresh would, and the keys held so far stay in use. */
	if ((fresh = fetch(c, budget_ms)) != NULL) {
		json_decref(slots[i].keys);
		slots[i].keys = fresh;
	}
	slots[i].fetched = now > 0 ? now : 1;
	*keys = slots[i].keys;
	return *keys != NULL ? UPJWKS_OK : UPJWKS_FAILED;
}
