/*
 * fuzz_route: the whole request handler (route_handle, lib/http/route.c)
 * over the fuzz tenant's home: every endpoint, method, content type and
 * header, through decoding, client authentication, the grants with
 * password hashing (the tenant's hash policy is argon2id's smallest, so
 * a login costs well under a millisecond), attack protection,
 * passwordless codes, refresh tokens, revocation and /userinfo.
 *
 * Passwordless codes are issued and stored but not delivered (below).
 *
 * Input: a request in fuzz_fx.h's text form.  Every answer has a status
 * the responder may send and, for an error, its JSON body: never a
 * crash, and never the 500s of a failure (the store, memory, the
 * configuration), which cannot happen here.  A 500 of the wire table
 * that Auth0 itself sends (no default connection) is an answer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "fuzz_fx.h"

/* The wire errors that say something failed. */
static const enum oerr failures[] = { OERR_SERVER_ERROR, OERR_NOT_CONFIGURED };
#define NFAILURES	(sizeof(failures) / sizeof(failures[0]))
static struct lk_resp	 failed[NFAILURES];

/*
 * The courier's end of deliver_enqueue, in place of courier.c's (the
 * linker then leaves courier.o out of the archive): the courier is a
 * process of its own, forked on the first code, and a fuzzer must stay
 * one process, with no other in the home it restores.  Each job is read
 * as the courier reads it, then dropped.
 */
int
deliver_enqueue(const char *home, const json_t *job)
{
	struct pwl_job	 j;

	if (pwl_job_parse((json_t *)(uintptr_t)job, &j) == -1)
		abort();
	pwl_job_clear(&j);
	return 0;
}

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t	 i;

	fuzz_quiet();
	fuzz_home();
	for (i = 0; i < NFAILURES; i++) {
		resp_init(&failed[i]);
		if (oerr_write(&failed[i], failures[i], NULL) == -1)
			abort();
	}
	return 0;
}

/* 1 when resp is a status latchkey may send, an error with a body and
 * not a failure's. */
static int
answer_ok(const struct lk_resp *resp)
{
	size_t	 i;

	if (resp->status < 200 || resp->status >= 600 ||
	    (resp->status >= 400 && resp->body.len == 0))
		return 0;
	for (i = 0; i < NFAILURES; i++)
		if (resp->body.len == failed[i].body.len &&
		    memcmp(resp->body.p, failed[i].body.p, resp->body.len) == 0)
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lk_ctx	*ctx = fuzz_home();
	struct fuzz_req	 r;
	struct lk_resp	 resp;

	if (fuzz_req_parse(&r, data, size) == -1)
		return 0;
	resp_init(&resp);
	route_handle(ctx, &r.req, &resp);
	if (!answer_ok(&resp)) {
		fprintf(stderr, "fuzz_route: status %d: %.*s\n", resp.status,
		    (int)resp.body.len, resp.body.p != NULL ? resp.body.p : "");
		abort();
	}
	resp_clear(&resp);
	fuzz_req_clear(&r);
	return 0;
}
