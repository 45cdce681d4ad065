/*
 * fuzz_client: client authentication (lib/security/client.c, RFC 6749
 * 2.3, RFC 7523) against the fuzz tenant's clients: the Basic header
 * parser and its readings, client_secret_post, and client assertions
 * (signature, alg, kid, iss/sub/aud/exp, jti replay in the store).
 *
 * Input: a request in fuzz_fx.h's text form; its Authorization header
 * and its body (decoded with every client field) are what the client
 * presents.  Every outcome is CLIENT_OK with the record of the client
 * named, or one of the failures with its wire error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz_fx.h"

#define CLIENT_FIELDS (FIELD_BIT(F_CLIENT_ID) | FIELD_BIT(F_CLIENT_SECRET) | \
	FIELD_BIT(F_CLIENT_ASSERTION) | FIELD_BIT(F_CLIENT_ASSERTION_TYPE) | \
	FIELD_BIT(F_GRANT_TYPE))

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{

	fuzz_quiet();
	fuzz_home();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_ctx	*ctx = fuzz_home();
	struct fuzz_req	 r;
	struct tenant	 t;
	struct params	 p;
	struct lk_resp	 resp;
	struct client	 c;
	enum client_rc	 rc;

	if (fuzz_req_parse(&r, data, size) == -1)
		return 0;
	if (r.req.content_type == NULL)
		r.req.content_type = "application/x-www-form-urlencoded";
	if (ctx_tenant(ctx, &t) == -1)
		abort();
	params_init(&p);
	resp_init(&resp);
	if (decode_body(&r.req, CLIENT_FIELDS, &p, &resp) == 0) {
		rc = client_identify(ctx, &t, &r.req, &p, &c, &resp);
		if (rc >= CLIENT__MAX || (rc == CLIENT_OK) !=
		    (c.client_id != NULL && c.rec.json != NULL))
			abort();
		client_error_write(&resp, rc, &c);
		client_clear(&c);
	}
	params_clear(&p);
	resp_clear(&resp);
	record_clear(REC_TENANT, &t);
	fuzz_req_clear(&r);
	return 0;
}
