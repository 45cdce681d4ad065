/*
 * fuzz_userinfo: access tokens presented to /userinfo (lib/grants/
 * userinfo.c, OpenID Connect Core 5.3, RFC 6750): the Bearer header,
 * the JWT checks (token.c: alg pinned, kid, signature; then iss, exp,
 * aud, scope, the user) and opaque /oauth/ro tokens.
 *
 * Input: one byte choosing how the rest is presented, then the rest:
 *	'S'	a claims object, signed with the tenant's current key (so
 *		that the checks after the signature are reached) and sent
 *		as "Authorization: Bearer <JWT>";
 *	other	the rest as the Authorization header value, as it is.
 * Every answer is 200 with "sub", or one of the wire errors.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz_fx.h"

#define AUTHZ_MAX	(LK_HEADER_MAX + 1)

static json_t	*keyrec;	/* the tenant's signing key, at start */

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{

	fuzz_quiet();
	if ((keyrec = ctx_signing_key(fuzz_home())) == NULL)
		abort();
	return 0;
}

/* The claims in data signed with the tenant's key, as a new string;
 * NULL when they are no JSON object. */
static char *
signed_token(const uint8_t *data, size_t size)
{
	json_t	*claims;
	char	*jwt = NULL;

	claims = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES,
	    NULL);
	if (json_is_object(claims) && token_sign(keyrec, claims, &jwt) == -1)
		jwt = NULL;
	json_decref(claims);
	return jwt;
}

static void
serve(struct lk_ctx *ctx, struct lk_req *req)
{
	struct lk_resp	 resp;

	resp_init(&resp);
	userinfo_endpoint(ctx, req, &resp);
	if (resp.status != 200 && (resp.status < 400 || resp.body.len == 0))
		abort();
	resp_clear(&resp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_ctx	*ctx = fuzz_home();
	struct lk_req	 req;
	char		 authz[AUTHZ_MAX];
	char		*jwt = NULL;

	if (size < 1 || size > LK_HEADER_MAX)
		return 0;
	memset(&req, 0, sizeof(req));
	req.method = HTTP_GET;
	req.method_str = "GET";
	req.path = "/userinfo";
	req.remote_addr = "192.0.2.1";
	req.now = FUZZ_NOW;
	if (data[0] == 'S' && (jwt = signed_token(data + 1, size - 1)) != NULL &&
	    strlen(jwt) < sizeof(authz) - 8) {
		snprintf(authz, sizeof(authz), "Bearer %s", jwt);
		req.authorization = authz;
	} else {
		memcpy(authz, data + 1, size - 1);
		authz[size - 1] = '\0';
		req.authorization = authz;
	}
	free(jwt);
	serve(ctx, &req);
	return 0;
}
