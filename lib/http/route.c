/*
 * The endpoint table.  Endpoints match by the end of the request path, so
 * latchkey works at the site root and under any prefix the web server
 * maps to it (docs/COMPAT.md 7.3).  Unknown path: 404 JSON; known path,
 * wrong method: 405 JSON with Allow (docs/COMPAT.md 7.4).  A row with
 * an id alphabet matches its suffix followed by "/{id}": the id,
 * percent-decoded, at most ROUTE_ID_MAX characters of that alphabet,
 * reaches the endpoint as req->path_id; any other id is an unknown path
 * (404).  A CORS
 * preflight (OPTIONS with Origin and Access-Control-Request-Method) is
 * answered by cors.c for the endpoint's methods; a plain OPTIONS is a
 * wrong method like any other (docs/COMPAT.md 11).
 */
#include <string.h>

#include "extern.h"

enum endpoint {
	EP_TOKEN,
	EP_JWKS,
	EP_OPENID,
	EP_RO,
	EP_PWL_START,
	EP_USERINFO,
	EP_REVOKE,
	EP_MFA_ASSOCIATE,
	EP_MFA_AUTHENTICATORS,
	EP_MFA_AUTHENTICATOR,
	EP_MFA_CHALLENGE,
	EP__MAX
};

#define M(m)	(1u << (m))

#define ROUTE_ID_MAX	64	/* an {id}'s characters, decoded */

struct endpoint_def {
	const char	*suffix;
	const char	*id_chars;	/* non-NULL: suffix "/" {id} of these */
	unsigned	 methods;	/* M(HTTP_...) bits */
	const char	*allow;		/* the Allow header for a 405, and a
					 * preflight's allowed methods */
	enum cors_policy cors;		/* who may read it cross-origin */
	void		 (*fn)(struct lk_ctx *, const struct lk_req *,
			    struct lk_resp *);
};

static const struct endpoint_def endpoints[EP__MAX] = {
	[EP_TOKEN] = { "/oauth/token", NULL, M(HTTP_POST), "POST", CORS_CLIENT,
	    token_endpoint },
	[EP_JWKS] = { "/.well-known/jwks.json", NULL, M(HTTP_GET) | M(HTTP_HEAD),
	    "GET, HEAD", CORS_PUBLIC, wellknown_jwks },
	[EP_OPENID] = { "/.well-known/openid-configuration", NULL,
	    M(HTTP_GET) | M(HTTP_HEAD), "GET, HEAD", CORS_PUBLIC,
	    wellknown_openid },
	[EP_RO] = { "/oauth/ro", NULL, M(HTTP_POST), "POST", CORS_CLIENT,
	    ro_endpoint },
	[EP_PWL_START] = { "/passwordless/start", NULL, M(HTTP_POST), "POST",
	    CORS_CLIENT, passwordless_start },
	/* OpenID Connect Core 5.3.1: GET and POST. */
	[EP_USERINFO] = { "/userinfo", NULL, M(HTTP_GET) | M(HTTP_POST),
	    "GET, POST", CORS_CLIENT, userinfo_endpoint },
	[EP_REVOKE] = { "/oauth/revoke", NULL, M(HTTP_POST), "POST", CORS_CLIENT,
	    revoke_endpoint },
	/* Auth0's MFA API (docs/COMPAT.md 13.3). */
	[EP_MFA_ASSOCIATE] = { "/mfa/associate", NULL, M(HTTP_POST), "POST",
	    CORS_CLIENT, mfa_associate },
	[EP_MFA_AUTHENTICATORS] = { "/mfa/authenticators", NULL, M(HTTP_GET),
	    "GET", CORS_CLIENT, mfa_authenticators },
	[EP_MFA_AUTHENTICATOR] = { "/mfa/authenticators", MFA_AUTH_ID_CHARS,
	    M(HTTP_DELETE), "DELETE", CORS_CLIENT, mfa_authenticator_delete },
	[EP_MFA_CHALLENGE] = { "/mfa/challenge", NULL, M(HTTP_POST), "POST",
	    CORS_CLIENT, mfa_challenge },
};

/* 1 when path is e's suffix followed by "/{id}", with the id decoded
 * into id (ROUTE_ID_MAX + 1 bytes). */
static int
id_match(const struct endpoint_def *e, const char *path, size_t plen,
    char *id)
{
	const char	*slash = strrchr(path, '/');
	char		 dec[3 * ROUTE_ID_MAX + 1];
	size_t		 slen = strlen(e->suffix), n;
	long		 got;

	if (slash == NULL || (size_t)(slash - path) < slen ||
	    strncmp(slash - slen, e->suffix, slen) != 0)
		return 0;
	n = plen - (size_t)(slash + 1 - path);
	/* Each decoded character is at most three encoded ones. */
	if (n == 0 || n > 3 * ROUTE_ID_MAX ||
	    (got = decode_pct(slash + 1, n, dec, 0)) <= 0 ||
	    got > ROUTE_ID_MAX || strspn(dec, e->id_chars) != (size_t)got)
		return 0;
	memcpy(id, dec, (size_t)got + 1);
	return 1;
}

/* The endpoint of path, an {id} it ends in decoded into id. */
static enum endpoint
endpoint_find(const char *path, char *id)
{
	const struct endpoint_def *e;
	size_t	 i, plen, slen;

	plen = path != NULL ? strlen(path) : 0;
	for (i = 0; plen > 0 && i < EP__MAX; i++) {
		e = &endpoints[i];
		slen = strlen(e->suffix);
		if (e->id_chars != NULL) {
			if (id_match(e, path, plen, id))
				return (enum endpoint)i;
		} else if (plen >= slen &&
		    strcmp(path + plen - slen, e->suffix) == 0)
			return (enum endpoint)i;
	}
	return EP__MAX;
}

/* 503 temporarily_unavailable with Retry-After, replacing any answer. */
static void
recovering(struct lk_resp *resp)
{
	buf_reset(&resp->headers);
	oerr_write(resp, OERR_STORE_RECOVERING, NULL);
	resp_header(resp, "Retry-After", "%d", ADMIT_RETRY_AFTER);
}

/*
 * A 5xx from a request during which the environment panicked (a
 * responder died inside Berkeley DB), a transaction ran out of retries,
 * or a resource ran out (a full lock table, region memory, disk: the
 * caller saw STORE_BUSY, or a NULL tenant it called "not configured")
 * is transient: nothing of it was committed, so the client is told to
 * retry (RFC 6749 5.2 has no such code; temporarily_unavailable is
 * 4.1.2.1's, with RFC 9110 15.6.4 Retry-After).
 */
int
route_transient(const struct route_mark *m, struct lk_resp *resp)
{

	if (resp->status < 500 || (store_troubles() == m->troubles &&
	    store_busy() == m->busy))
		return 0;
	if (store_busy() != m->busy)
		lk_warn("answered 503: %s", store_busy_what());
	recovering(resp);
	return 1;
}

/* The endpoint's answer, before its CORS headers. */
static void
dispatch(struct lk_ctx *ctx, enum endpoint ep, const struct lk_req *req,
    struct lk_resp *resp)
{
	const struct endpoint_def *e = &endpoints[ep];
	struct route_mark	 mark;
	int			 preflight = cors_is_preflight(req);

	if (!preflight && !(e->methods & M(req->method))) {
		resp_header(resp, "Allow", "%s", e->allow);
		oerr_write(resp, OERR_METHOD_NOT_ALLOWED, NULL);
		return;
	}
	if (preflight && e->cors == CORS_PUBLIC) {
		cors_preflight(ctx, req, e->cors, e->allow, resp);
		return;
	}
	ctx_refresh(ctx);
	if (!ctx->ready) {
		if (ctx->transient)
			recovering(resp);
		else
			oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		return;
	}
	if (preflight) {
		cors_preflight(ctx, req, e->cors, e->allow, resp);
		return;
	}
	route_mark(&mark);
	/* The request's transactions share one hold of the store (store.h);
	 * its configuration records are those of the generation it starts
	 * at (record.h, record_cache.c). */
	store_hold(ctx->store);
	record_cache_begin(ctx->store);
	e->fn(ctx, req, resp);
	record_cache_end();
	store_release(ctx->store);
	/* A panicked store is reopened now rather than at the next request. */
	if (route_transient(&mark, resp))
		ctx_refresh(ctx);
}

void
route_handle(struct lk_ctx *ctx, const struct lk_req *req, struct lk_resp *resp)
{
	struct lk_req		 r = *req;
	enum endpoint		 ep;
	char			 id[ROUTE_ID_MAX + 1];

	if ((ep = endpoint_find(req->path, id)) == EP__MAX) {
		oerr_write(resp, OERR_NOT_FOUND, NULL);
		return;
	}
	r.path_id = endpoints[ep].id_chars != NULL ? id : NULL;
	dispatch(ctx, ep, &r, resp);
	if (!cors_is_preflight(&r))
		cors_actual(ctx, &r, endpoints[ep].cors, resp);
}

void
route_mark(struct route_mark *m)
{

	m->troubles = store_troubles();
	m->busy = store_busy();
}
