/*
 * POST /oauth/revoke (RFC 7009; docs/COMPAT.md 5.6): the client
 * authenticates as at /oauth/token (a public client sends only its
 * client_id), and names a token.  A refresh token of that client is
 * revoked with its whole family; an opaque /oauth/ro access token of that
 * client is deleted.  The answer is 200 with an empty body whether or not
 * the token was known or the client's (RFC 7009 2.2, Auth0's error
 * table), so the endpoint tells nobody which tokens exist.
 * token_type_hint is accepted and ignored (RFC 7009 2.1 lets the server
 * search all its token types).
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

#define REVOKE_FIELDS (FIELD_BIT(F_CLIENT_ID) | FIELD_BIT(F_CLIENT_SECRET) | \
	FIELD_BIT(F_CLIENT_ASSERTION) | FIELD_BIT(F_CLIENT_ASSERTION_TYPE) | \
	FIELD_BIT(F_TOKEN) | FIELD_BIT(F_TOKEN_TYPE_HINT))

struct revoke {
	const char	*token;
	const char	*client_id;
	time_t		 now;
};

/* Delete an opaque access token if it is the client's. */
static enum store_rc
access_revoke(struct store *st, struct txn *txn, const char *token,
    const char *client_id)
{
	struct opaque_rec	 o;
	enum store_rc		 rc;

	if ((rc = opaque_get(st, txn, token, &o)) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	if (o.client_id != NULL && strcmp(o.client_id, client_id) == 0)
		rc = opaque_del(st, txn, token);
	opaque_clear(&o);
	return rc;
}

static enum store_rc
revoke_txn(struct store *st, struct txn *txn, void *arg)
{
	const struct revoke	*r = arg;
	enum store_rc		 rc;
	int			 found;

	rc = refresh_revoke_token(st, txn, r->token, r->client_id, r->now,
	    &found);
	if (rc != STORE_OK || found)
		return rc;
	return access_revoke(st, txn, r->token, r->client_id);
}

void
revoke_endpoint(struct lk_ctx *ctx, const struct lk_req *req,
    struct lk_resp *resp)
{
	struct params	 p;
	struct client	 c;
	struct revoke	 r;
	struct tenant	 tenant;

	memset(&c, 0, sizeof(c));
	memset(&tenant, 0, sizeof(tenant));
	params_init(&p);
	snprintf(resp->grant, sizeof(resp->grant), "revoke");
	if (decode_body(req, REVOKE_FIELDS, &p, resp) == -1)
		goto out;
	if (ctx_tenant(ctx, &tenant) == -1) {
		oerr_write(resp, OERR_NOT_CONFIGURED, NULL);
		goto out;
	}
	if (client_authenticate(ctx, &tenant, req, &p, &c, resp) == -1) {
		/* RFC 7009 2.2.1 -> RFC 6749 5.2: invalid_client, keeping
		 * the WWW-Authenticate header client.c added for Basic. */
		if (resp->status == 401)
			oerr_write(resp, OERR_INVALID_CLIENT, NULL);
		goto out;
	}
	if (p.v[F_TOKEN] == NULL || *p.v[F_TOKEN] == '\0') {
		oerr_write(resp, OERR_MISSING_PARAM, "token");
		goto out;
	}
	r.token = p.v[F_TOKEN];
	r.client_id = c.client_id;
	r.now = req->now;
	if (store_txn_run(ctx->store, revoke_txn, &r) != STORE_OK) {
		oerr_write(resp, OERR_SERVER_ERROR, NULL);
		goto out;
	}
	resp_nostore(resp);
	resp->status = 200;
	buf_reset(&resp->body);
out:
	client_clear(&c);
	params_clear(&p);
	record_clear(REC_TENANT, &tenant);
}
