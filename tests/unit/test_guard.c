/*
 * test_guard: attack protection's building blocks (lib/security/guard.c,
 * lib/security/guard_net.c, lib/security/breached.c, lib/security/audit.c): token-bucket arithmetic
 * with a fixed clock, IP canonicalisation and the auth0-forwarded-for
 * rule, CIDR matching for IPv4 and IPv6 (table-driven), the breached
 * list's binary search over a generated sorted file of 100,000 hashes
 * (first, last, middle, absent, counts, CRLF, no final newline, empty
 * file), the tenant settings validator, and the counters against a
 * real store: the threshold, success reset, account lockout, the IP
 * bucket, unblock by identifier, by user and by IP, and the audit log.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "extern.h"
#include "tenant_of.h"

#define NOW		1700000000
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define NHASHES		100000

/* ------------------------------------------------------------------ */
/* Token buckets.                                                      */

static void
bucket_ip_defaults(void **state)
{
	/* Suspicious IP: 100 attempts, one back every 864 s. */
	struct guard_rate	 r = { 100, 1, 864 };
	struct guard_bucket	 b;
	int			 i;

	guard_bucket_init(&b, &r, NOW);
	assert_int_equal(guard_bucket_fill(&b, &r, NOW), 100);
	for (i = 0; i < 100; i++)
		assert_int_equal(guard_bucket_take(&b, &r, NOW), 0);
	assert_int_equal(guard_bucket_take(&b, &r, NOW), -1);
	assert_int_equal(guard_bucket_next(&b, &r, NOW), NOW + 864);
	assert_int_equal(guard_bucket_fill(&b, &r, NOW + 863), 0);
	assert_int_equal(guard_bucket_fill(&b, &r, NOW + 864), 1);
	assert_int_equal(guard_bucket_take(&b, &r, NOW + 864), 0);
	assert_int_equal(guard_bucket_take(&b, &r, NOW + 864), -1);
	/* A day later it is full again, and never more than full. */
	assert_int_equal(guard_bucket_fill(&b, &r, NOW + 864 + 86400), 100);
	assert_int_equal(guard_bucket_fill(&b, &r, NOW + 10 * 86400), 100);
}

static void
bucket_login_rate(void **state)
{
	/* 20 in a minute, then 10 a minute (one every 6 s). */
	struct guard_rate	 r = { 20, 10, 60 };
	struct guard_bucket	 b;
	int			 i;

	guard_bucket_init(&b, &r, NOW);
	for (i = 0; i < 20; i++)
		assert_int_equal(guard_bucket_take(&b, &r, NOW), 0);
	assert_int_equal(guard_bucket_take(&b, &r, NOW), -1);
	assert_int_equal(guard_bucket_next(&b, &r, NOW), NOW + 6);
	assert_int_equal(guard_bucket_take(&b, &r, NOW + 5), -1);
	assert_int_equal(guard_bucket_take(&b, &r, NOW + 6), 0);
	/* Over the next minute: exactly ten more. */
	for (i = 0; i < 10; i++)
		assert_int_equal(guard_bucket_take(&b, &r, NOW + 12 + 6 * i), 0);
	assert_int_equal(guard_bucket_take(&b, &r, NOW + 66), -1);
}

static void
bucket_clock_back_and_overflow(void **state)
{
	struct guard_rate	 r = { 3, 1, 10 };
	struct guard_bucket	 b;

	guard_bucket_init(&b, &r, NOW);
	assert_int_equal(guard_bucket_take(&b, &r, NOW), 0);
	/* A clock that goes back adds nothing. */
	assert_int_equal(guard_bucket_fill(&b, &r, NOW - 1000), 2);
	/* Centuries idle: full, no overflow. */
	b.t = 0;
	assert_int_equal(guard_bucket_fill(&b, &r, (time_t)INT64_MAX / 2), 3);
	/* A corrupt negative level counts as empty. */
	b.level = -50;
	b.t = NOW;
	assert_int_equal(guard_bucket_fill(&b, &r, NOW), 0);
}

/* ------------------------------------------------------------------ */
/* Addresses.                                                          */

static const struct {
	const char	*in;
	const char	*out;		/* NULL: refused */
} canons[] = {
	{ "192.0.2.7", "192.0.2.7" },
	{ "  192.0.2.7\t", "192.0.2.7" },
	{ "2001:DB8:0:0:0:0:0:1", "2001:db8::1" },
	{ "::ffff:192.0.2.7", "192.0.2.7" },
	{ "::1", "::1" },
	{ "192.0.2.7, 198.51.100.1", NULL },	/* a list */
	{ "192.0.2.7:8080", NULL },
	{ "[2001:db8::1]", NULL },
	{ "fe80::1%eth0", NULL },
	{ "192.0.2", NULL },
	{ "256.1.1.1", NULL },
	{ "example.com", NULL },
	{ "", NULL },
	{ "   ", NULL },
};

static void
ip_canonical_table(void **state)
{
	char	 out[GUARD_IP_MAX];
	size_t	 i;

	for (i = 0; i < NELEM(canons); i++) {
		if (canons[i].out == NULL) {
			assert_int_equal(guard_ip_canon(canons[i].in, out,
			    sizeof(out)), -1);
			continue;
		}
		assert_int_equal(guard_ip_canon(canons[i].in, out,
		    sizeof(out)), 0);
		assert_string_equal(out, canons[i].out);
	}
	assert_int_equal(guard_ip_canon(NULL, out, sizeof(out)), -1);
}

static const struct {
	const char	*cidr;
	const char	*ip;
	int		 want;
} cidrs[] = {
	{ "10.0.0.0/8", "10.255.1.2", 1 },
	{ "10.0.0.0/8", "11.0.0.1", 0 },
	{ "192.0.2.0/25", "192.0.2.127", 1 },
	{ "192.0.2.0/25", "192.0.2.128", 0 },
	{ "192.0.2.7", "192.0.2.7", 1 },
	{ "192.0.2.7", "192.0.2.8", 0 },
	{ "0.0.0.0/0", "203.0.113.9", 1 },
	{ "0.0.0.0/0", "::1", 0 },		/* families differ */
	{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
	{ "2001:db8::/32", "2001:db9::1", 0 },
	{ "2001:db8::/33", "2001:db8:7fff::1", 1 },
	{ "2001:db8::/33", "2001:db8:8000::1", 0 },
	{ "::/0", "::1", 1 },
	{ "::ffff:10.0.0.0/104", "10.9.9.9", 1 },	/* mapped */
	{ "::ffff:10.0.0.0/104", "11.9.9.9", 0 },
	{ "10.0.0.0/33", "10.0.0.1", -1 },
	{ "2001:db8::/129", "2001:db8::1", -1 },
	{ "10.0.0.0/", "10.0.0.1", -1 },
	{ "10.0.0.0/-1", "10.0.0.1", -1 },
	{ "10.0.0.0/8x", "10.0.0.1", -1 },
	{ "::ffff:10.0.0.0/95", "10.0.0.1", -1 },
	{ "not-an-ip/8", "10.0.0.1", -1 },
};

static void
cidr_match_table(void **state)
{
	size_t	 i;

	for (i = 0; i < NELEM(cidrs); i++) {
		if (guard_cidr_match(cidrs[i].cidr, cidrs[i].ip) != cidrs[i].want)
			fail_msg("%s ~ %s: want %d", cidrs[i].cidr, cidrs[i].ip,
			    cidrs[i].want);
	}
}

/* The auth0-forwarded-for rule: only a secret-authenticated, trusted
 * client sets the IP; a trusted client's bad header is a 400. */
static void
ip_header_rule(void **state)
{
	struct lk_req		 req;
	struct lk_resp		 resp;
	struct client		 c;
	struct client_rec	 trusted, plain;
	struct guard_who	 w;
	json_t			*j;

	memset(&req, 0, sizeof(req));
	req.remote_addr = "127.0.0.1";
	req.forwarded_for = " 2001:DB8::7 ";
	j = json_pack("{s:s, s:b}", "client_id", "t",
	    "is_token_endpoint_ip_header_trusted", 1);
	assert_int_equal(record_parse(REC_CLIENT, j, &trusted), 0);
	json_decref(j);
	j = json_pack("{s:s}", "client_id", "p");
	assert_int_equal(record_parse(REC_CLIENT, j, &plain), 0);
	json_decref(j);
	memset(&c, 0, sizeof(c));
	resp_init(&resp);

	c.rec = trusted;
	c.client_id = "t";
	c.method = CLIENT_AUTH_SECRET_POST;
	assert_int_equal(guard_ip(&req, &c, GUARD_EP_TOKEN, &w, &resp), 0);
	assert_string_equal(w.ip, "2001:db8::7");
	assert_string_equal(w.peer, "127.0.0.1");
	c.method = CLIENT_AUTH_SECRET_BASIC;
	assert_int_equal(guard_ip(&req, &c, GUARD_EP_TOKEN, &w, &resp), 0);
	assert_string_equal(w.ip, "2001:db8::7");

	/* The same client without its secret: ignored. */
	c.method = CLIENT_AUTH_PRIVATE_KEY_JWT;
	assert_int_equal(guard_ip(&req, &c, GUARD_EP_TOKEN, &w, &resp), 0);
	assert_string_equal(w.ip, "127.0.0.1");
	assert_string_equal(w.peer, "");
	c.method = CLIENT_AUTH_NONE;
	assert_int_equal(guard_ip(&req, &c, GUARD_EP_RO, &w, &resp), 0);
	assert_string_equal(w.ip, "127.0.0.1");

	/* An untrusted client, with its secret: ignored, even if invalid. */
	c.rec = plain;
	c.method = CLIENT_AUTH_SECRET_POST;
	req.forwarded_for = "not an ip";
	assert_int_equal(guard_ip(&req, &c, GUARD_EP_TOKEN, &w, &resp), 0);
	assert_string_equal(w.ip, "127.0.0.1");
	assert_int_equal(resp.status, 200);

	/* The trusted client's invalid header: 400 invalid_request. */
	c.rec = trusted;
	req.forwarded_for = "192.0.2.1, 192.0.2.2";
	assert_int_equal(guard_ip(&req, &c, GUARD_EP_TOKEN, &w, &resp), -1);
	assert_int_equal(resp.status, 400);
	assert_non_null(strstr(resp.body.p, "\"invalid_request\""));

	/* No REMOTE_ADDR: one shared key, no crash. */
	req.remote_addr = NULL;
	req.forwarded_for = NULL;
	assert_int_equal(guard_ip(&req, NULL, GUARD_EP_TOKEN, &w, &resp), 0);
	assert_string_equal(w.ip, "unknown");

	resp_clear(&resp);
	record_clear(REC_CLIENT, &trusted);
	record_clear(REC_CLIENT, &plain);
}

/* ------------------------------------------------------------------ */
/* The breached list.                                                  */

static char	 dir[PATH_MAX];

static int
rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{

	return remove(p);
}

static int
tmp_setup(void **state)
{

	snprintf(dir, sizeof(dir), "/tmp/test_guard.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
tmp_teardown(void **state)
{

	return nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void
sha1_upper(const char *s, char out[41])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0, i;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[40] = '\0';
}

static int
cmp40(const void *a, const void *b)
{

	return memcmp(a, b, 41);
}

/* NHASHES sorted hashes of "pw<i>" (even i only: odd ones are absent),
 * HIBP style "HASH:count\r\n" when counts, into path; the sorted array
 * into *sorted (caller frees). */
static void
make_list(const char *path, int counts, int crlf, int final_nl,
    char (**sorted)[41])
{
	char	 (*h)[41], pw[32];
	FILE	*f;
	int	 i;

	h = calloc(NHASHES, sizeof(*h));
	assert_non_null(h);
	for (i = 0; i < NHASHES; i++) {
		snprintf(pw, sizeof(pw), "pw%d", 2 * i);
		sha1_upper(pw, h[i]);
	}
	qsort(h, NHASHES, sizeof(*h), cmp40);
	assert_non_null(f = fopen(path, "w"));
	for (i = 0; i < NHASHES; i++) {
		fputs(h[i], f);
		if (counts)
			fprintf(f, ":%d", i % 977 + 1);
		if (i + 1 < NHASHES || final_nl)
			fputs(crlf ? "\r\n" : "\n", f);
	}
	fclose(f);
	*sorted = h;
}

static void
breached_search(void **state)
{
	static const struct {
		int	 counts, crlf, final_nl;
	} forms[] = { { 0, 0, 1 }, { 1, 0, 1 }, { 1, 1, 1 }, { 1, 0, 0 },
	    { 0, 1, 0 } };
	char	 (*h)[41], path[PATH_MAX + 32], pw[32], x[41], lower[41];
	size_t	 f, i;

	snprintf(path, sizeof(path), "%s/pwned.txt", dir);
	for (f = 0; f < NELEM(forms); f++) {
		make_list(path, forms[f].counts, forms[f].crlf,
		    forms[f].final_nl, &h);
		/* First, last, and a spread of the middle. */
		assert_int_equal(breached_find(path, h[0]), 1);
		assert_int_equal(breached_find(path, h[NHASHES - 1]), 1);
		for (i = 1; i < NHASHES - 1; i += 997)
			assert_int_equal(breached_find(path, h[i]), 1);
		/* Absent: odd passwords, and before the first / after the last. */
		for (i = 1; i < 200; i += 2) {
			snprintf(pw, sizeof(pw), "pw%zu", i);
			sha1_upper(pw, x);
			assert_int_equal(breached_find(path, x), 0);
		}
		assert_int_equal(breached_find(path,
		    "0000000000000000000000000000000000000000"), 0);
		assert_int_equal(breached_find(path,
		    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"), 0);
		/* A lower-case query finds the upper-case line. */
		for (i = 0; i < 41; i++)
			lower[i] = (char)(h[7][i] >= 'A' && h[7][i] <= 'F' ?
			    h[7][i] + 32 : h[7][i]);
		assert_int_equal(breached_find(path, lower), 1);
		free(h);
	}
	/* Not 40 hex digits, no file, an empty file, one line. */
	assert_int_equal(breached_find(path, "ABC"), -1);
	assert_int_equal(breached_find("/nonexistent/pwned.txt",
	    "0000000000000000000000000000000000000000"), -1);
	fclose(fopen(path, "w"));
	assert_int_equal(breached_find(path,
	    "0000000000000000000000000000000000000000"), 0);
	sha1_upper("only", x);
	{
		FILE	*fp = fopen(path, "w");

		fprintf(fp, "%s:3\n", x);
		fclose(fp);
	}
	assert_int_equal(breached_find(path, x), 1);
}


static void
breached_tenant_rules(void **state)
{
	char	 path[PATH_MAX + 32], x[41];
	json_t	*tenant;
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/list.txt", dir);
	sha1_upper("password1", x);
	fp = fopen(path, "w");
	fprintf(fp, "%s:2427801\n", x);
	fclose(fp);
	tenant = json_pack("{s:s}", "breached_password_file", path);
	assert_int_equal(breached_password(tenant_of(tenant), "password1", 9), 1);
	assert_int_equal(breached_password(tenant_of(tenant), "password2", 9), 0);
	/* Auth0's test prefix, with or without a list. */
	assert_int_equal(breached_password(NULL, "AUTH0-TEST-x", 12), 1);
	assert_int_equal(breached_password(NULL, "AUTH0-TEST", 10), 0);
	assert_int_equal(breached_password(NULL, "auth0-test-x", 12), 0);
	/* Turned off. */
	json_object_set_new(tenant, "breached_password_detection", json_false());
	assert_int_equal(breached_password(tenant_of(tenant), "password1", 9), 0);
	assert_int_equal(breached_password(tenant_of(tenant), "AUTH0-TEST-x", 12), 0);
	/* An unreadable list lets logins through. */
	json_object_set_new(tenant, "breached_password_detection", json_true());
	json_object_set_new(tenant, "breached_password_file",
	    json_string("/nonexistent/list.txt"));
	assert_int_equal(breached_password(tenant_of(tenant), "password1", 9), 0);
	json_decref(tenant);
}

/* ------------------------------------------------------------------ */
/* Settings.                                                          */

static void
settings_validation(void **state)
{
	static const struct {
		const char	*name;
		const char	*json;
		int		 ok;
	} t[] = {
		{ "brute_force", "{\"threshold\": 10, \"mode\": "
		    "\"count_per_identifier\", \"allowlist\": [\"10.0.0.0/8\", "
		    "\"::1\"], \"enabled\": false, \"block_seconds\": 60}", 1 },
		{ "brute_force", "{\"threshold\": 0}", 0 },
		{ "brute_force", "{\"threshold\": 101}", 0 },
		{ "brute_force", "{\"threshold\": null}", 1 },
		{ "brute_force", "{\"mode\": \"per_ip\"}", 0 },
		{ "brute_force", "{\"allowlist\": [\"10.0.0.0/40\"]}", 0 },
		{ "brute_force", "{\"allowlist\": \"10.0.0.0/8\"}", 0 },
		{ "brute_force", "{\"shields\": []}", 0 },
		{ "brute_force", "[]", 0 },
		{ "suspicious_ip", "{\"max_attempts\": 5, \"rate_seconds\": 2}", 1 },
		{ "suspicious_ip", "{\"rate_seconds\": 0}", 0 },
		{ "rate_limit", "{\"login_per_minute\": 20, "
		    "\"login_after_per_minute\": 10, \"endpoint_per_minute\": "
		    "{\"/oauth/token\": 30, \"/oauth/ro\": 0}}", 1 },
		{ "rate_limit", "{\"endpoint_per_minute\": {\"/token\": 3}}", 0 },
		{ "rate_limit", "{\"endpoint_per_minute\": {\"/oauth/ro\": -1}}", 0 },
		{ "rate_limit", "{\"passwordless_per_recipient_per_hour\": 5}", 1 },
		{ "rate_limit", "{\"passwordless_per_recipient_per_hour\": 0}", 1 },
		{ "rate_limit", "{\"passwordless_per_recipient_per_hour\": -1}", 0 },
		{ "rate_limit", "{\"passwordless_per_recipient_per_hour\": \"5\"}",
		    0 },
		{ "breached_password_file", "\"/var/lib/pwned.txt\"", 1 },
		{ "breached_password_file", "\"pwned.txt\"", 0 },
		{ "hash", "{}", 0 },
	};
	json_t	*v;
	size_t	 i;

	for (i = 0; i < NELEM(t); i++) {
		v = json_loads(t[i].json, JSON_DECODE_ANY, NULL);
		assert_non_null(v);
		if ((guard_setting_problem(t[i].name, v) == NULL) != t[i].ok)
			fail_msg("%s %s: want %s", t[i].name, t[i].json,
			    t[i].ok ? "ok" : "refused");
		json_decref(v);
	}
}

/* The settings as a tenant load parses them (tenant->guard): Auth0's
 * defaults, and a stored integer out of range clamped to the range, the
 * rule record_parse applies to every stored record. */
static void
settings_parsed_once_clamped(void **state)
{
	struct tenant		 t;
	const struct guard_conf	*gc = &t.guard;
	json_t			*j;

	j = json_object();
	assert_int_equal(record_parse(REC_TENANT, j, &t), 0);
	assert_true(gc->bf_on && gc->ip_on && gc->rl_on);
	assert_int_equal(gc->bf_mode, GUARD_BF_PAIR);
	assert_int_equal(gc->bf_threshold, 10);
	assert_int_equal(gc->bf_block, 2592000);
	assert_int_equal(gc->ip_rate.cap, 100);
	assert_int_equal(gc->ip_rate.period, 864);
	assert_int_equal(gc->rl_rate.cap, 20);
	assert_int_equal(gc->rl_rate.per, 10);
	assert_int_equal(gc->ep_rate[GUARD_EP_TOKEN].cap, 0);
	assert_int_equal(gc->ep_rate[GUARD_EP_PWL_START].cap, 50);
	assert_int_equal(gc->ep_rate[GUARD_EP_PWL_START].period, 3600);
	assert_int_equal(gc->pr_rate.cap, 5);
	record_clear(REC_TENANT, &t);
	json_decref(j);

	j = json_pack("{s:{s:i, s:i, s:s, s:b}, s:{s:i, s:s}, s:{s:i, s:{s:i, s:i}}}",
	    "brute_force", "threshold", 1000, "block_seconds", 0,
	    "mode", "count_per_identifier", "enabled", 0,
	    "suspicious_ip", "rate_seconds", 100000, "max_attempts", "many",
	    "rate_limit", "passwordless_per_recipient_per_hour", -3,
	    "endpoint_per_minute", "/oauth/token", -5, "/oauth/ro", 7);
	assert_non_null(j);
	assert_int_equal(record_parse(REC_TENANT, j, &t), 0);
	assert_false(gc->bf_on);
	assert_int_equal(gc->bf_mode, GUARD_BF_ACCOUNT);
	assert_int_equal(gc->bf_threshold, 100);
	assert_int_equal(gc->bf_block, 1);
	assert_int_equal(gc->ip_rate.period, 86400);
	assert_int_equal(gc->ip_rate.cap, 100);		/* not an integer */
	assert_int_equal(gc->pr_rate.cap, 0);
	assert_int_equal(gc->ep_rate[GUARD_EP_TOKEN].cap, 0);
	assert_int_equal(gc->ep_rate[GUARD_EP_RO].cap, 7);
	assert_int_equal(gc->ep_rate[GUARD_EP_RO].period, 60);
	record_clear(REC_TENANT, &t);
	json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Against a real store.                                              */

struct db {
	struct lk_ctx	 ctx;
	json_t		*tenant;
};

static int
db_setup(void **state)
{
	struct db	*d;
	char		 home[PATH_MAX + 16];

	if (tmp_setup(state) == -1 || (d = calloc(1, sizeof(*d))) == NULL)
		return -1;
	snprintf(home, sizeof(home), "%s/home", dir);
	if ((d->ctx.store = store_open(home, STORE_CREATE)) == NULL)
		return -1;
	d->tenant = json_pack("{s:{s:i, s:i}, s:{s:i, s:i, s:b}, s:{s:b}}",
	    "brute_force", "threshold", 3, "block_seconds", 100,
	    "suspicious_ip", "max_attempts", 5, "rate_seconds", 10,
	    "enabled", 0, "rate_limit", "enabled", 0);
	*state = d;
	return d->tenant == NULL ? -1 : 0;
}

static int
db_teardown(void **state)
{
	struct db	*d = *state;

	store_close(d->ctx.store);
	json_decref(d->tenant);
	free(d);
	return tmp_teardown(state);
}

static void
who(struct guard_who *w, const char *ip)
{

	memset(w, 0, sizeof(*w));
	w->ep = GUARD_EP_TOKEN;
	w->client_id = "app";
	snprintf(w->ip, sizeof(w->ip), "%s", ip);
}

/* guard_before's answer: 0 or the 429's status and error code. */

static int
before(struct db *d, struct guard_who *w, const char *id, time_t now,
    const char *code)
{
	struct lk_resp	 resp;
	int		 rc;

	resp_init(&resp);
	rc = guard_before(&d->ctx, tenant_of(d->tenant), w, id, now, &resp);
	if (rc == -1 && code == NULL)
		fail_msg("%s from %s refused: %s", id, w->ip, resp.body.p);
	if (rc == -1) {
		assert_int_equal(resp.status, 429);
		assert_string_equal(resp.outcome, code);
	}
	resp_clear(&resp);
	return rc;
}

static void
brute_force_counts(void **state)
{
	struct db		*d = *state;
	struct guard_who	 a, b;
	struct guard_sel	 sel;
	json_t			*list, *user;
	int			 i, n;

	who(&a, "192.0.2.1");
	who(&b, "192.0.2.2");
	/* Two failures, a success resets, then three block. */
	for (i = 0; i < 2; i++) {
		assert_int_equal(before(d, &a, "Alice@Example.com", NOW, NULL), 0);
		guard_after(&d->ctx, tenant_of(d->tenant), &a, "Alice@Example.com", NULL,
		    GUARD_EV_WRONG_PASSWORD, NOW);
	}
	guard_after(&d->ctx, tenant_of(d->tenant), &a, "alice@example.com", "auth0|a",
	    GUARD_EV_SUCCESS, NOW);
	for (i = 0; i < 2; i++)
		guard_after(&d->ctx, tenant_of(d->tenant), &a, "ALICE@example.com", NULL,
		    GUARD_EV_WRONG_PASSWORD, NOW);
	assert_int_equal(before(d, &a, "alice@example.com", NOW, NULL), 0);
	guard_after(&d->ctx, tenant_of(d->tenant), &a, "alice@example.com", NULL,
	    GUARD_EV_UNKNOWN_USER, NOW);
	assert_int_equal(before(d, &a, "alice@example.com", NOW,
	    "too_many_attempts"), -1);
	/* Another IP, another identifier: unaffected. */
	assert_int_equal(before(d, &b, "alice@example.com", NOW, NULL), 0);
	assert_int_equal(before(d, &a, "bob@example.com", NOW, NULL), 0);
	/* block_seconds after the last failure the block is gone. */
	assert_int_equal(before(d, &a, "alice@example.com", NOW + 99,
	    "too_many_attempts"), -1);
	assert_int_equal(before(d, &a, "alice@example.com", NOW + 100, NULL), 0);

	/* Listed (as of NOW), then unblocked by identifier and IP. */
	list = json_array();
	assert_int_equal(guard_list(d->ctx.store, NULL, tenant_of(d->tenant), NOW, list),
	    STORE_OK);
	assert_true(json_array_size(list) >= 1);
	json_decref(list);
	memset(&sel, 0, sizeof(sel));
	sel.identifier = "ALICE@example.com";
	sel.ip = "192.0.2.1";
	assert_int_equal(guard_unblock(d->ctx.store, NULL, &sel, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(before(d, &a, "alice@example.com", NOW, NULL), 0);

	/* Unblock by user: every login of the user, at every IP. */
	for (i = 0; i < 3; i++) {
		guard_after(&d->ctx, tenant_of(d->tenant), &a, "alice", "auth0|a",
		    GUARD_EV_WRONG_PASSWORD, NOW);
		guard_after(&d->ctx, tenant_of(d->tenant), &b, "alice@example.com", NULL,
		    GUARD_EV_WRONG_PASSWORD, NOW);
	}
	assert_int_equal(before(d, &a, "alice", NOW, "too_many_attempts"), -1);
	assert_int_equal(before(d, &b, "alice@example.com", NOW,
	    "too_many_attempts"), -1);
	user = json_pack("{s:s, s:s, s:s}", "user_id", "auth0|a",
	    "email", "alice@example.com", "username", "Alice");
	memset(&sel, 0, sizeof(sel));
	sel.user = user;
	assert_int_equal(guard_unblock(d->ctx.store, NULL, &sel, &n), STORE_OK);
	assert_int_equal(n, 2);
	json_decref(user);
	assert_int_equal(before(d, &a, "alice", NOW, NULL), 0);
	assert_int_equal(before(d, &b, "alice@example.com", NOW, NULL), 0);
}

/*
 * A success clears the pair's count only when guard_before read one: a
 * pair with none gets no write (not even the delete's write lock), so
 * a failure committed between the read and the success counts as one
 * after it.  guard_after takes the note once: a second success of the
 * same who, without a read in between, clears again.
 */
static void
success_clears_only_a_count_it_read(void **state)
{
	struct db		*d = *state;
	const struct tenant	*t = tenant_of(d->tenant);
	struct guard_who	 a, other;
	int			 i;

	who(&a, "192.0.2.7");
	who(&other, "192.0.2.7");
	assert_int_equal(before(d, &a, "carol@example.com", NOW, NULL), 0);
	assert_int_equal(a.bf_none, 1);
	/* Another request of the pair fails meanwhile. */
	assert_int_equal(guard_after(&d->ctx, t, &other, "carol@example.com",
	    NULL, GUARD_EV_WRONG_PASSWORD, NOW), 0);
	assert_int_equal(guard_after(&d->ctx, t, &a, "carol@example.com",
	    "auth0|c", GUARD_EV_SUCCESS, NOW), 0);
	assert_int_equal(a.bf_none, 0);
	/* 1 + 2 failures reach the threshold of 3. */
	for (i = 0; i < 2; i++)
		assert_int_equal(guard_after(&d->ctx, t, &other,
		    "carol@example.com", NULL, GUARD_EV_WRONG_PASSWORD, NOW), 0);
	assert_int_equal(before(d, &a, "carol@example.com", NOW,
	    "too_many_attempts"), -1);
	assert_int_equal(a.bf_none, 0);

	/* Read with a count: the success clears it, and 2 failures then
	 * block nothing. */
	who(&a, "192.0.2.8");
	who(&other, "192.0.2.8");
	assert_int_equal(guard_after(&d->ctx, t, &other, "dave@example.com",
	    NULL, GUARD_EV_WRONG_PASSWORD, NOW), 0);
	assert_int_equal(before(d, &a, "dave@example.com", NOW, NULL), 0);
	assert_int_equal(a.bf_none, 0);
	assert_int_equal(guard_after(&d->ctx, t, &a, "dave@example.com",
	    "auth0|d", GUARD_EV_SUCCESS, NOW), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(guard_after(&d->ctx, t, &other,
		    "dave@example.com", NULL, GUARD_EV_WRONG_PASSWORD, NOW), 0);
	assert_int_equal(before(d, &a, "dave@example.com", NOW, NULL), 0);
}

/* The last part of an audit key (after the second dot) and the
 * record's pid. */
static void
audit_tail(const struct guard_who *w, char *tail, size_t tailsz, pid_t *pid)
{
	char	 key[48];
	json_t	*rec;

	rec = audit_record(w, "x", NULL, GUARD_EV_SUCCESS, NOW, key,
	    sizeof(key));
	assert_non_null(rec);
	assert_int_equal(strlen(key), 12 + 1 + 9 + 1 + 8);
	assert_true(tailsz > 8);
	memcpy(tail, key + 12 + 1 + 9 + 1, 9);
	*pid = (pid_t)json_integer_value(json_object_get(rec, "pid"));
	json_decref(rec);
}

/*
 * Audit keys end in 8 hex digits counting up in each process from a
 * random start: successive records differ and sort in the order they
 * were made (unless the count wraps between them: once in 2^32), and a
 * forked child, which copies the count, draws its own start: its next
 * key is not the parent's next key, and its records carry its own pid.
 */
static void
audit_keys_differ_across_fork(void **state)
{
	struct guard_who	 w;
	char			 a[16], b[16], c[16], p[16];
	pid_t			 pa, pb, pc, child;
	int			 fds[2], st;
	ssize_t			 n;

	who(&w, "192.0.2.9");
	audit_tail(&w, a, sizeof(a), &pa);
	audit_tail(&w, b, sizeof(b), &pb);
	assert_true(strcmp(a, b) < 0 || strcmp(b, "00000000") == 0);
	assert_int_equal(pa, getpid());
	assert_int_equal(pipe(fds), 0);
	if ((child = fork()) == 0) {
		audit_tail(&w, c, sizeof(c), &pc);
		if (pc != getpid())
			_exit(2);
		n = write(fds[1], c, strlen(c) + 1);
		_exit(n == (ssize_t)strlen(c) + 1 ? 0 : 1);
	}
	assert_true(child > 0);
	close(fds[1]);
	memset(c, 0, sizeof(c));
	n = read(fds[0], c, sizeof(c) - 1);
	close(fds[0]);
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(n, 9);
	audit_tail(&w, p, sizeof(p), &pc);
	assert_string_not_equal(c, p);
	assert_string_not_equal(c, b);
}

static void
account_lockout_and_allowlist(void **state)
{
	struct db		*d = *state;
	struct guard_who	 a, b, ok;
	int			 i;

	json_object_set_new(json_object_get(d->tenant, "brute_force"), "mode",
	    json_string("count_per_identifier"));
	json_object_set_new(json_object_get(d->tenant, "brute_force"),
	    "allowlist", json_pack("[s]", "198.51.100.0/24"));
	who(&a, "192.0.2.1");
	who(&b, "192.0.2.2");
	who(&ok, "198.51.100.9");
	/* Failures from two IPs add up; the block holds at every IP. */
	guard_after(&d->ctx, tenant_of(d->tenant), &a, "carol", NULL,
	    GUARD_EV_WRONG_PASSWORD, NOW);
	guard_after(&d->ctx, tenant_of(d->tenant), &b, "carol", NULL,
	    GUARD_EV_WRONG_PASSWORD, NOW);
	assert_int_equal(before(d, &b, "carol", NOW, NULL), 0);
	guard_after(&d->ctx, tenant_of(d->tenant), &a, "carol", NULL,
	    GUARD_EV_WRONG_CODE, NOW);
	assert_int_equal(before(d, &b, "carol", NOW, "too_many_attempts"), -1);
	/* The allowlisted IP neither counts nor is blocked. */
	assert_int_equal(before(d, &ok, "carol", NOW, NULL), 0);
	for (i = 0; i < 3; i++)
		guard_after(&d->ctx, tenant_of(d->tenant), &ok, "dave", NULL,
		    GUARD_EV_WRONG_PASSWORD, NOW);
	assert_int_equal(before(d, &ok, "dave", NOW, NULL), 0);
	json_object_del(json_object_get(d->tenant, "brute_force"), "mode");
	json_object_del(json_object_get(d->tenant, "brute_force"), "allowlist");
}

static void
suspicious_ip_bucket(void **state)
{
	struct db		*d = *state;
	struct guard_who	 a;
	struct guard_sel	 sel;
	char			 id[32];
	int			 i, n;

	json_object_set_new(json_object_get(d->tenant, "suspicious_ip"),
	    "enabled", json_true());
	who(&a, "203.0.113.5");
	/* Five failures against five accounts empty the IP's bucket. */
	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "user%d", i);
		assert_int_equal(before(d, &a, id, NOW, NULL), 0);
		guard_after(&d->ctx, tenant_of(d->tenant), &a, id, NULL,
		    GUARD_EV_UNKNOWN_USER, NOW);
	}
	assert_int_equal(before(d, &a, "someone-else", NOW,
	    "too_many_attempts"), -1);
	/* Successes take nothing from it; one attempt back every 10 s. */
	assert_int_equal(before(d, &a, "someone-else", NOW + 9,
	    "too_many_attempts"), -1);
	assert_int_equal(before(d, &a, "someone-else", NOW + 10, NULL), 0);
	guard_after(&d->ctx, tenant_of(d->tenant), &a, "someone-else", NULL,
	    GUARD_EV_SUCCESS, NOW + 10);
	assert_int_equal(before(d, &a, "x", NOW + 10, NULL), 0);
	guard_after(&d->ctx, tenant_of(d->tenant), &a, "x", NULL,
	    GUARD_EV_WRONG_PASSWORD, NOW + 10);
	assert_int_equal(before(d, &a, "x", NOW + 10, "too_many_attempts"), -1);
	/* The admin lifts it. */
	memset(&sel, 0, sizeof(sel));
	sel.ip = "203.0.113.5";
	assert_int_equal(guard_unblock(d->ctx.store, NULL, &sel, &n), STORE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(before(d, &a, "x", NOW + 10, NULL), 0);
	json_object_set_new(json_object_get(d->tenant, "suspicious_ip"),
	    "enabled", json_false());
}

static void
login_rate_and_audit(void **state)
{
	struct db		*d = *state;
	struct guard_who	 a;
	struct audit_sel	 sel;
	json_t			*out, *e;
	size_t			 j;
	int			 i, n;

	json_object_set_new(d->tenant, "rate_limit", json_pack("{s:i, s:i}",
	    "login_per_minute", 4, "login_after_per_minute", 2));
	who(&a, "192.0.2.77");
	/* Successes count too. */
	for (i = 0; i < 4; i++) {
		assert_int_equal(before(d, &a, "erin", NOW, NULL), 0);
		guard_after(&d->ctx, tenant_of(d->tenant), &a, "erin", "auth0|e",
		    GUARD_EV_SUCCESS, NOW);
	}
	assert_int_equal(before(d, &a, "erin", NOW, "too_many_requests"), -1);
	assert_int_equal(before(d, &a, "erin", NOW + 30, NULL), 0);
	json_object_set_new(d->tenant, "rate_limit", json_pack("{s:b}",
	    "enabled", 0));

	/* The audit log: chronological, filtered, limited. */
	out = json_array();
	memset(&sel, 0, sizeof(sel));
	sel.type = "s";
	assert_int_equal(audit_list(d->ctx.store, NULL, &sel, out), STORE_OK);
	assert_true(json_array_size(out) >= 4);
	json_array_foreach(out, j, e) {
		assert_string_equal(json_string_value(json_object_get(e,
		    "type")), "s");
		assert_null(json_object_get(e, "password"));
	}
	json_array_clear(out);
	sel.type = "api_limit";
	sel.limit = 1;
	assert_int_equal(audit_list(d->ctx.store, NULL, &sel, out), STORE_OK);
	assert_int_equal(json_array_size(out), 1);
	e = json_array_get(out, 0);
	assert_string_equal(json_string_value(json_object_get(e, "user_name")),
	    "erin");
	assert_string_equal(json_string_value(json_object_get(e, "ip")),
	    "192.0.2.77");
	assert_string_equal(json_string_value(json_object_get(e, "endpoint")),
	    "/oauth/token");
	json_decref(out);
	/* Pruning removes records older than the cutoff, oldest first. */
	assert_int_equal(audit_prune(d->ctx.store, NULL, NOW + 1, 0, &n),
	    STORE_OK);
	assert_true(n > 0);
	out = json_array();
	memset(&sel, 0, sizeof(sel));
	assert_int_equal(audit_list(d->ctx.store, NULL, &sel, out), STORE_OK);
	json_array_foreach(out, j, e)
		assert_true(json_integer_value(json_object_get(e, "date")) > NOW);
	json_decref(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bucket_ip_defaults),
		cmocka_unit_test(bucket_login_rate),
		cmocka_unit_test(bucket_clock_back_and_overflow),
		cmocka_unit_test(ip_canonical_table),
		cmocka_unit_test(cidr_match_table),
		cmocka_unit_test(ip_header_rule),
		cmocka_unit_test(settings_validation),
		cmocka_unit_test(settings_parsed_once_clamped),
		cmocka_unit_test_setup_teardown(breached_search, tmp_setup,
		    tmp_teardown),
		cmocka_unit_test_setup_teardown(breached_tenant_rules,
		    tmp_setup, tmp_teardown),
	};
	const struct CMUnitTest dbtests[] = {
		cmocka_unit_test(brute_force_counts),
		cmocka_unit_test(success_clears_only_a_count_it_read),
		cmocka_unit_test(audit_keys_differ_across_fork),
		cmocka_unit_test(account_lockout_and_allowlist),
		cmocka_unit_test(suspicious_ip_bucket),
		cmocka_unit_test(login_rate_and_audit),
	};
	int	 rc;

	rc = cmocka_run_group_tests_name("guard", tests, NULL, NULL);
	return rc + cmocka_run_group_tests_name("guard store", dbtests,
	    db_setup, db_teardown);
}
