/*
 * Cross-origin requests from browser apps (docs/COMPAT.md 11; the Fetch
 * standard's CORS protocol, https://fetch.spec.whatwg.org/#http-cors-protocol).
 *
 * A client registers the origins its pages run at, as Auth0's
 * application settings do: "Allowed Origins (CORS)" (allowed_origins)
 * and "Allowed Web Origins" (web_origins), each scheme://host[:port],
 * with a wildcard in the leftmost label as Auth0 allows it
 * (https://auth0.com/docs/get-started/applications/wildcards-for-subdomains).
 *
 * An actual request's answer carries Access-Control-Allow-Origin (the
 * request's own origin, never "*") only when the client the request
 * names allows that origin; a request that names no client is judged as
 * a preflight is.  A preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) carries no body and so no client: it
 * is answered 204 when any client of the tenant allows the origin, and
 * 403 without CORS headers otherwise.  The discovery documents allow any
 * origin.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "extern.h"

/* The request headers a preflight may ask for: what the SDKs send
 * (docs/COMPAT.md 8), Authorization for Basic client authentication and
 * /userinfo, DPoP (RFC 9449 4.1). */
#define CORS_ALLOW_HEADERS	"Content-Type, Auth0-Client, Authorization, DPoP"
/* The response headers a page may read beyond the safelisted ones. */
#define CORS_EXPOSE_HEADERS	"DPoP-Nonce, Retry-After, WWW-Authenticate, " \
	"X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, " \
	"X-Request-Id"
/* How long a browser may keep a preflight's answer (Chromium keeps it at
 * most 2 h, Firefox 24 h).  The actual answers are judged each time, so
 * a removed origin stops working at once. */
#define CORS_MAX_AGE		86400

/* An origin or an origin pattern, split (RFC 6454 6.1 serialisation). */
struct origin {
	const char	*scheme;	/* "http" or "https" */
	size_t		 schemelen;
	const char	*host;		/* a name, IPv4 or [IPv6] */
	size_t		 hostlen;
	const char	*port;		/* digits, or empty */
	size_t		 portlen;
};

/*
 * Split s into o: scheme "://" host [":" port] [ "/" ].  A trailing
 * slash is taken as none (Auth0's dashboard accepts one).  -1 when s is
 * not of that form.
 */
static int
origin_split(const char *s, struct origin *o)
{
	size_t	 n;

	memset(o, 0, sizeof(*o));
	o->port = "";
	if (strncasecmp(s, "https://", 8) == 0)
		o->schemelen = 5;
	else if (strncasecmp(s, "http://", 7) == 0)
		o->schemelen = 4;
	else
		return -1;
	o->scheme = s;
	o->host = s += o->schemelen + 3;
	if (*s == '[')
		n = strspn(s + 1, "0123456789abcdefABCDEF:.") + 1;
	else
		n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-*");
	if (*s == '[' && s[n++] != ']')
		return -1;
	o->hostlen = n;
	s += n;
	if (*s == ':') {
		o->port = ++s;
		o->portlen = strspn(s, "0123456789");
		if (o->portlen == 0 || o->portlen > 5 || *s == '0')
			return -1;
		s += o->portlen;
	}
	if (*s == '/')
		s++;
	return o->hostlen > 0 && *s == '\0' ? 0 : -1;
}

/* The length of the host's first label. */
static size_t
label_len(const char *host, size_t hostlen)
{
	const char	*dot = memchr(host, '.', hostlen);

	return dot != NULL ? (size_t)(dot - host) : hostlen;
}

/* What is wrong with the host of a pattern, or NULL. */
static const char *
host_problem(const struct origin *o)
{
	const char	*h = o->host, *star;
	size_t		 first, i;

	if (*h == '[')
		return memchr(h, '*', o->hostlen) == NULL ? NULL :
		    "a wildcard is only allowed in a host name";
	for (i = 0; i < o->hostlen; i++)
		if (h[i] == '.' && (i == 0 || i + 1 == o->hostlen ||
		    h[i + 1] == '.'))
			return "the host has an empty label";
	if ((star = memchr(h, '*', o->hostlen)) == NULL)
		return NULL;
	first = label_len(h, o->hostlen);
	if ((size_t)(star - h) >= first ||
	    memchr(star + 1, '*', o->hostlen - (size_t)(star - h) - 1) != NULL)
		return "one wildcard only, in the leftmost label";
	/* Auth0 refuses a wildcard domain of one label ("*" then ".com"). */
	if (memchr(h + first + 1, '.', o->hostlen - first - 1) == NULL)
		return "a wildcard needs a domain of two labels after it";
	return NULL;
}

const char *
cors_origin_problem(const char *s)
{
	struct origin	 o;

	if (strlen(s) > CORS_ORIGIN_LEN)
		return "longer than 256 characters";
	if (origin_split(s, &o) == -1)
		return "not scheme://host[:port] with http or https, "
		    "without a path";
	return host_problem(&o);
}

/* 1 when the first label of host matches the pattern label p ("prefix*
 * suffix": the star stands for one character or more). */
static int
label_match(const char *p, size_t plen, const char *host, size_t hlen)
{
	const char	*star = memchr(p, '*', plen);
	size_t		 pre, suf;

	if (star == NULL)
		return plen == hlen && strncasecmp(p, host, plen) == 0;
	pre = (size_t)(star - p);
	suf = plen - pre - 1;
	return hlen > pre + suf && strncasecmp(p, host, pre) == 0 &&
	    strncasecmp(star + 1, host + hlen - suf, suf) == 0;
}

int
cors_origin_match(const char *pattern, const char *origin)
{
	struct origin	 p, o;
	size_t		 pl, ol;

	if (origin_split(pattern, &p) == -1 || origin_split(origin, &o) == -1 ||
	    memchr(o.host, '*', o.hostlen) != NULL)
		return 0;
	if (p.schemelen != o.schemelen ||
	    strncasecmp(p.scheme, o.scheme, p.schemelen) != 0 ||
	    p.portlen != o.portlen || strncmp(p.port, o.port, p.portlen) != 0)
		return 0;
	pl = label_len(p.host, p.hostlen);
	ol = label_len(o.host, o.hostlen);
	/* The rest after the first label: equal, and the wildcard stands
	 * for one label only. */
	return p.hostlen - pl == o.hostlen - ol &&
	    strncasecmp(p.host + pl, o.host + ol, p.hostlen - pl) == 0 &&
	    label_match(p.host, pl, o.host, ol);
}

int
cors_list_allows(const json_t *list, const char *origin)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(list, i, v)
		if (json_is_string(v) &&
		    cors_origin_match(json_string_value(v), origin))
			return 1;
	return 0;
}

/* A client's two lists. */
static int
client_allows(const struct client_rec *c, const char *origin)
{
	return cors_list_allows(c->allowed_origins, origin) ||
	    cors_list_allows(c->web_origins, origin);
}

/* store_each over the clients: stop at the first that allows the
 * origin. */
struct any_client {
	const char	*origin;
	int		 found;
};

static int
any_client_cb(const char *id, json_t *rec, void *arg)
{
	struct any_client	*a = arg;
	struct client_rec	 c;

	if (record_parse(REC_CLIENT, rec, &c) == -1)
		return 0;
	a->found = client_allows(&c, a->origin);
	record_clear(REC_CLIENT, &c);
	return a->found;
}

/* 1 when some client of the tenant allows origin; 0 also on a store
 * error (the answer then simply carries no CORS headers). */
static int
tenant_allows(struct lk_ctx *ctx, const char *origin)
{
	struct any_client	 a = { origin, 0 };

	if (store_each(ctx->store, NULL, SK_CLIENT, any_client_cb, &a) !=
	    STORE_OK)
		return 0;
	return a.found;
}

/* 1 when the client the request named (resp->cors_client), or without
 * one any client of the tenant, allows origin. */
static int
request_allows(struct lk_ctx *ctx, const struct lk_resp *resp,
    const char *origin)
{
	struct client_rec	 c;
	int			 yes;

	if (!ctx->ready || ctx->store == NULL)
		return 0;
	if (resp->cors_client[0] == '\0')
		return tenant_allows(ctx, origin);
	if (record_get(ctx->store, NULL, REC_CLIENT, resp->cors_client, &c) !=
	    STORE_OK)
		return 0;
	yes = client_allows(&c, origin);
	record_clear(REC_CLIENT, &c);
	return yes;
}

int
cors_is_preflight(const struct lk_req *req)
{
	return req->method == HTTP_OPTIONS && req->origin != NULL &&
	    req->acr_method != NULL;
}

void
cors_preflight(struct lk_ctx *ctx, const struct lk_req *req,
    enum cors_policy policy, const char *methods, struct lk_resp *resp)
{

	snprintf(resp->grant, sizeof(resp->grant), "preflight");
	if (policy == CORS_PUBLIC)
		resp_header(resp, "Access-Control-Allow-Origin", "*");
	else {
		resp_header(resp, "Vary", "Origin");
		if (!tenant_allows(ctx, req->origin)) {
			oerr_write(resp, OERR_CORS_ORIGIN, NULL);
			return;
		}
		resp_header(resp, "Access-Control-Allow-Origin", "%s",
		    req->origin);
	}
	resp_header(resp, "Access-Control-Allow-Methods", "%s", methods);
	resp_header(resp, "Access-Control-Allow-Headers", "%s",
	    CORS_ALLOW_HEADERS);
	resp_header(resp, "Access-Control-Max-Age", "%d", CORS_MAX_AGE);
	resp->status = 204;
	buf_reset(&resp->body);
}

void
cors_actual(struct lk_ctx *ctx, const struct lk_req *req,
    enum cors_policy policy, struct lk_resp *resp)
{

	if (policy == CORS_PUBLIC) {
		resp_header(resp, "Access-Control-Allow-Origin", "*");
		return;
	}
	/* The answer depends on Origin: caches must key on it. */
	resp_header(resp, "Vary", "Origin");
	if (req->origin == NULL || !request_allows(ctx, resp, req->origin))
		return;
	resp_header(resp, "Access-Control-Allow-Origin", "%s", req->origin);
	resp_header(resp, "Access-Control-Expose-Headers", "%s",
	    CORS_EXPOSE_HEADERS);
}
