/*
 * The endpoint table.  Endpoints match by the end of the request path, so
 * latchkey works at the site root and under any prefix the web server
 * maps to it (docs/COMPAT.md 7.3).  Unknown path: 404 JSON; known path,
 * wrong method: 405 JSON with Allow (docs/COMPAT.md 7.4).  A CORS
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
	EP_MFA_CHALLENGE,
	EP__MAX
};

#define M(m)	(1u << (m))

struct endpoint_def {
	const char	*suffix;
	unsigned	 methods;	/* M(HTTP_...) bits */
	const char	*allow;		/* the Allow header for a 405, and a
					 * preflight's allowed methods */
	enum cors_policy cors;		/* who may read it cross-origin */
	void		 (*fn)(struct lk_ctx *, const struct lk_req *,
			    struct lk_resp *);
};

static const struct endpoint_def endpoints[EP__MAX] = {
	[EP_TOKEN] = { "/oauth/token", M(HTTP_POST), "POST", CORS_CLIENT,
	    token_endpoint },
	[EP_JWKS] = { "/.well-known/jwks.json", M(HTTP_GET) | M(HTTP_HEAD),
	    "GET, HEAD", CORS_PUBLIC, wellknown_jwks },
	[EP_OPENID] = { "/.well-known/openid-configuration",
	    M(HTTP_GET) | M(HTTP_HEAD), "GET, HEAD", CORS_PUBLIC,
	    wellknown_openid },
	[EP_RO] = { "/oauth/ro", M(HTTP_POST), "POST", CORS_CLIENT,
	    ro_endpoint },
	[EP_PWL_START] = { "/passwordless/start", M(HTTP_POST), "POST",
	    CORS_CLIENT, passwordless_start },
	/* OpenID Connect Core 5.3.1: GET and POST. */
	[EP_USERINFO] = { "/userinfo", M(HTTP_GET) | M(HTTP_POST),
	    "GET, POST", CORS_CLIENT, userinfo_endpoint },
	[EP_REVOKE] = { "/oauth/revoke", M(HTTP_POST), "POST", CORS_CLIENT,
	    revoke_endpoint },
	/* Auth0's MFA API (docs/COMPAT.md 13.3). */
	[EP_MFA_ASSOCIATE] = { "/mfa/associate", M(HTTP_POST), "POST",
	    CORS_CLIENT, mfa_associate },
	[EP_MFA_AUTHENTICATORS] = { "/mfa/authenticators", M(HTTP_GET),
	    "GET", CORS_CLIENT, mfa_authenticators },
	[EP_MFA_CHALLENGE] = { "/mfa/challenge", M(HTTP_POST), "POST",
	    CORS_CLIENT, mfa_challenge },
};

static enum endpoint
endpoint_find(const char *path)
{
	size_t	 i, plen, slen;

	plen = path != NULL ? strlen(path) : 0;
	for (i = 0; i < EP__MAX; i++) {
		slen = strlen(endpoints[i].suffix);
		if (plen >= slen &&
		    strcmp(path + plen - slen, endpoints[i].suffix) == 0)
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
	e->fn(ctx, req, resp);
	/* A panicked store is reopened now rather than at the next request. */
	if (route_transient(&mark, resp))
		ctx_refresh(ctx);
}

void
route_handle(struct lk_ctx *ctx, const struct lk_req *req, struct lk_resp *resp)
{
	enum endpoint		 ep;

	if ((ep = endpoint_find(req->path)) == EP__MAX) {
		oerr_write(resp, OERR_NOT_FOUND, NULL);
		return;
	}
	dispatch(ctx, ep, req, resp);
	if (!cors_is_preflight(req))
		cors_actual(ctx, req, endpoints[ep].cors, resp);
}

void
route_mark(struct route_mark *m)
{

	m->troubles = store_troubles();
	m->busy = store_busy();
}
