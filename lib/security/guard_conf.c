/*
 * guard_conf.c: the tenant's attack-protection settings (docs/COMPAT.md
 * 6), declared once in a table that both checks what latchkeyctl is
 * given and parses what is stored, once per tenant load (record.c's
 * tenant_finish fills struct tenant's guard).
 *
 * Tenant settings (all optional; the defaults are Auth0's):
 *  "brute_force": {
 *	"enabled": true,
 *	"threshold": 10,		consecutive failures that block (1-100)
 *	"mode": "count_per_identifier_and_ip" (default; the pair is blocked)
 *	      | "count_per_identifier" (account lockout: all IPs together),
 *	"allowlist": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"],
 *	"block_seconds": 2592000	a block ends this long after the last failure
 *  }
 *  "suspicious_ip": {
 *	"enabled": true,
 *	"max_attempts": 100,		failed logins per IP (the bucket's size)
 *	"rate_seconds": 864,		one attempt given back every this many seconds
 *	"allowlist": [...]
 *  }
 *  "rate_limit": {
 *	"enabled": true,
 *	"login_per_minute": 20,		attempts of one identifier from one IP
 *					(successes too) before the limit ...
 *	"login_after_per_minute": 10,	... and the sustained rate after it
 *	"endpoint_per_minute": {"/oauth/token": 0, "/oauth/ro": 0,
 *	    "/passwordless/start": 0}	requests per IP per minute; 0: none;
 *					absent: the default, none except
 *					/passwordless/start's 50 an hour
 *	"passwordless_per_recipient_per_hour": 5  codes sent to one phone
 *					or address from all IPs together; 0: none
 *  }
 *  "breached_password_file": "/absolute/path" (breached.c)
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "extern.h"

#define BF_THRESHOLD		10
#define BF_THRESHOLD_MAX	100
#define BF_BLOCK		2592000		/* 30 days */
#define BF_BLOCK_MAX		31536000
#define IP_ATTEMPTS		100
#define IP_RATE			864		/* 864000 ms: 100 a day */
#define IP_RATE_MAX		86400
#define RL_BURST		20
#define RL_PER_MINUTE		10
#define PR_PER_HOUR		5		/* codes per recipient */
#define COUNT_MAX		1000000
#define ALLOW_MAX		100		/* allowlist entries */
#define PATH_LEN_MAX		4096

static const char *const ep_names[GUARD_EP__MAX] = {
	[GUARD_EP_TOKEN] = "/oauth/token",
	[GUARD_EP_RO] = "/oauth/ro",
	[GUARD_EP_PWL_START] = "/passwordless/start",
};

/*
 * Each endpoint's rate limit per IP when the tenant sets none (cap 0:
 * none).  /passwordless/start sends an SMS or a mail per request, so it
 * gets Auth0's published limit, 50 burst and 50 an hour per IP
 * (docs/COMPAT.md 2); endpoint_per_minute replaces it.
 */
static const struct guard_rate ep_defaults[GUARD_EP__MAX] = {
	[GUARD_EP_TOKEN] = { 0, 0, 60 },
	[GUARD_EP_RO] = { 0, 0, 60 },
	[GUARD_EP_PWL_START] = { 50, 50, 3600 },
};

/* Each endpoint's password_leaked row (docs/COMPAT.md 1 and 3). */
static const enum oerr leaked_oerr[GUARD_EP__MAX] = {
	[GUARD_EP_TOKEN] = OERR_PASSWORD_LEAKED,
	[GUARD_EP_RO] = OERR_RO_PASSWORD_LEAKED,
	[GUARD_EP_PWL_START] = OERR_PASSWORD_LEAKED,
};

static const char *const bf_modes[GUARD_BF__MAX] = {
	[GUARD_BF_PAIR] = "count_per_identifier_and_ip",
	[GUARD_BF_ACCOUNT] = "count_per_identifier",
};

static const char *
bf_mode_name(size_t i)
{

	return i < GUARD_BF__MAX ? bf_modes[i] : NULL;
}

static const struct vocab bf_mode_vocab = { "brute-force mode",
	GUARD_BF__MAX, bf_mode_name };

/* The settings objects, by the tenant field holding each. */
enum gs_obj { GSO_BF, GSO_IP, GSO_RL, GSO__MAX };
static const char *const gs_objs[GSO__MAX] = {
	[GSO_BF] = "brute_force",
	[GSO_IP] = "suspicious_ip",
	[GSO_RL] = "rate_limit",
};

/* The members of each settings object. */
enum gs_type {
	GS_BOOL,	/* int */
	GS_INT,		/* long in [lo, hi] */
	GS_MODE,	/* enum guard_bf_mode */
	GS_CIDRS,	/* const json_t *: at most hi CIDR strings */
	GS_ENDPOINTS	/* {path: long in [lo, hi]} into ep_rate */
};

#define OFF(m)	offsetof(struct guard_conf, m)

static const struct gs_def {
	enum gs_obj	 obj;
	const char	*name;
	enum gs_type	 type;
	long		 lo, hi;
	long		 def;
	size_t		 off;		/* member of struct guard_conf */
} gsettings[] = {
	{ GSO_BF, "enabled", GS_BOOL, 0, 0, 1, OFF(bf_on) },
	{ GSO_BF, "threshold", GS_INT, 1, BF_THRESHOLD_MAX, BF_THRESHOLD,
	    OFF(bf_threshold) },
	{ GSO_BF, "mode", GS_MODE, 0, 0, GUARD_BF_PAIR, OFF(bf_mode) },
	{ GSO_BF, "allowlist", GS_CIDRS, 0, ALLOW_MAX, 0, OFF(bf_allow) },
	{ GSO_BF, "block_seconds", GS_INT, 1, BF_BLOCK_MAX, BF_BLOCK,
	    OFF(bf_block) },
	{ GSO_IP, "enabled", GS_BOOL, 0, 0, 1, OFF(ip_on) },
	{ GSO_IP, "max_attempts", GS_INT, 1, COUNT_MAX, IP_ATTEMPTS,
	    OFF(ip_rate.cap) },
	{ GSO_IP, "rate_seconds", GS_INT, 1, IP_RATE_MAX, IP_RATE,
	    OFF(ip_rate.period) },
	{ GSO_IP, "allowlist", GS_CIDRS, 0, ALLOW_MAX, 0, OFF(ip_allow) },
	{ GSO_RL, "enabled", GS_BOOL, 0, 0, 1, OFF(rl_on) },
	{ GSO_RL, "login_per_minute", GS_INT, 1, COUNT_MAX, RL_BURST,
	    OFF(rl_rate.cap) },
	{ GSO_RL, "login_after_per_minute", GS_INT, 1, COUNT_MAX,
	    RL_PER_MINUTE, OFF(rl_rate.per) },
	{ GSO_RL, "endpoint_per_minute", GS_ENDPOINTS, 0, COUNT_MAX, 0,
	    OFF(ep_rate) },
	{ GSO_RL, "passwordless_per_recipient_per_hour", GS_INT, 0,
	    COUNT_MAX, PR_PER_HOUR, OFF(pr_rate.cap) },
	{ GSO__MAX, NULL, GS_BOOL, 0, 0, 0, 0 }
};

const char *
guard_ep_name(enum guard_ep ep)
{

	return ep_names[ep];
}

enum guard_ep
guard_ep_find(const char *name)
{
	size_t	 i;

	for (i = 0; name != NULL && i < GUARD_EP__MAX; i++)
		if (strcmp(name, ep_names[i]) == 0)
			return (enum guard_ep)i;
	return GUARD_EP__MAX;
}

enum oerr
guard_leaked_oerr(enum guard_ep ep)
{

	return leaked_oerr[ep];
}

/* ------------------------------------------------------------------ */
/* Parsing what is stored.                                             */

/* An integer member: def when absent or not an integer, clamped to
 * [lo, hi] (logged) when a record written by other means holds more. */
static long
int_value(const char *obj, const char *name, const json_t *v, long def,
    long lo, long hi)
{
	json_int_t	 i;

	if (!json_is_integer(v))
		return def;
	i = json_integer_value(v);
	if (i >= lo && i <= hi)
		return (long)i;
	lk_warn("tenant %s.%s: %lld out of range %ld-%ld: clamped", obj, name,
	    (long long)i, lo, hi);
	return i < lo ? lo : hi;
}

/* endpoint_per_minute: each endpoint's default unless the object sets it. */
static void
endpoints_parse(const struct gs_def *d, const json_t *eps,
    struct guard_conf *gc)
{
	long	 n;
	size_t	 i;

	for (i = 0; i < GUARD_EP__MAX; i++) {
		gc->ep_rate[i] = ep_defaults[i];
		if (!json_is_integer(json_object_get(eps, ep_names[i])))
			continue;
		n = int_value("rate_limit.endpoint_per_minute", ep_names[i],
		    json_object_get(eps, ep_names[i]), 0, d->lo, d->hi);
		gc->ep_rate[i].cap = gc->ep_rate[i].per = n;
		gc->ep_rate[i].period = 60;
	}
}

static void
member_parse(const struct gs_def *d, const json_t *v, struct guard_conf *gc)
{
	char	*m = (char *)gc + d->off;
	int	 x;

	switch (d->type) {
	case GS_BOOL:
		*(int *)(void *)m = json_is_boolean(v) ? json_is_true(v) :
		    (int)d->def;
		break;
	case GS_INT:
		*(long *)(void *)m = int_value(gs_objs[d->obj], d->name, v,
		    d->def, d->lo, d->hi);
		break;
	case GS_MODE:
		x = vocab_find(&bf_mode_vocab, json_string_value(v));
		*(enum guard_bf_mode *)(void *)m = x >= 0 ?
		    (enum guard_bf_mode)x : (enum guard_bf_mode)d->def;
		break;
	case GS_CIDRS:
		*(const json_t **)(void *)m = v;
		break;
	case GS_ENDPOINTS:
		endpoints_parse(d, v, gc);
		break;
	}
}

void
guard_conf_parse(const struct tenant *tenant, struct guard_conf *gc)
{
	const json_t		*objs[GSO__MAX];
	const struct gs_def	*d;

	memset(gc, 0, sizeof(*gc));
	objs[GSO_BF] = tenant->brute_force;
	objs[GSO_IP] = tenant->suspicious_ip;
	objs[GSO_RL] = tenant->rate_limit;
	for (d = gsettings; d->name != NULL; d++)
		member_parse(d, json_object_get(objs[d->obj], d->name), gc);
	/* The rates' fixed parts. */
	gc->ip_rate.per = 1;
	gc->rl_rate.period = 60;
	gc->pr_rate.per = gc->pr_rate.cap;
	gc->pr_rate.period = 3600;
}

/* ------------------------------------------------------------------ */
/* Checking admin input.                                               */

/* Why v is no good for def, or NULL. */
static const char *
member_problem(const struct gs_def *d, const json_t *v)
{
	const json_t	*e;
	const char	*k;
	size_t		 i;

	switch (d->type) {
	case GS_BOOL:
		return json_is_boolean(v) ? NULL : "not true or false";
	case GS_INT:
		return json_is_integer(v) && json_integer_value(v) >= d->lo &&
		    json_integer_value(v) <= d->hi ? NULL :
		    "not an integer in range";
	case GS_MODE:
		return vocab_find(&bf_mode_vocab, json_string_value(v)) >= 0 ?
		    NULL :
		    "not count_per_identifier_and_ip or count_per_identifier";
	case GS_CIDRS:
		if (!json_is_array(v) || (long)json_array_size(v) > d->hi)
			return "not an array of at most 100 IPs or CIDRs";
		json_array_foreach(v, i, e)
			if (!json_is_string(e) ||
			    guard_cidr_match(json_string_value(e), NULL) == -1)
				return "entries must be IPv4 or IPv6 addresses or CIDRs";
		return NULL;
	case GS_ENDPOINTS:
		if (!json_is_object(v))
			return "not an object";
		json_object_foreach((json_t *)v, k, e) {
			if (guard_ep_find(k) == GUARD_EP__MAX)
				return "keys must be /oauth/token, /oauth/ro or "
				    "/passwordless/start";
			if (!json_is_null(e) && (!json_is_integer(e) ||
			    json_integer_value(e) < d->lo ||
			    json_integer_value(e) > d->hi))
				return "values must be integers in range";
		}
		return NULL;
	}
	return "unknown type";
}

/* The settings object called name, or GSO__MAX. */
static enum gs_obj
obj_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < GSO__MAX; i++)
		if (strcmp(name, gs_objs[i]) == 0)
			return (enum gs_obj)i;
	return GSO__MAX;
}

const char *
guard_setting_problem(const char *name, const json_t *v)
{
	static char		 why[160];
	const struct gs_def	*d;
	const char		*k, *p;
	const json_t		*e;
	enum gs_obj		 o;

	if (strcmp(name, "breached_password_file") == 0) {
		p = json_string_value(v);
		return p != NULL && p[0] == '/' && strlen(p) < PATH_LEN_MAX ?
		    NULL : "not an absolute path";
	}
	if ((o = obj_find(name)) == GSO__MAX)
		return "not an attack-protection setting";
	if (!json_is_object(v))
		return "not an object";
	json_object_foreach((json_t *)v, k, e) {
		for (d = gsettings; d->name != NULL; d++)
			if (d->obj == o && strcmp(d->name, k) == 0)
				break;
		p = d->name == NULL ? "unknown member" :
		    json_is_null(e) ? NULL : member_problem(d, e);
		if (p != NULL) {
			snprintf(why, sizeof(why), "%s: %s", k, p);
			return why;
		}
	}
	return NULL;
}
