/*
 * test_route: the endpoint table's paths (lib/http/route.c,
 * docs/COMPAT.md 7.4): which paths name an endpoint, and for a row
 * ending in "/{id}" which ids are taken.  Each row is a request whose
 * answer needs no store: 404 for an unknown path, 405 with the Allow of
 * the row matched for a known one asked with another method.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define ID64	"totp|dev_0123456789abcdef0123456789abcdef0123456789abcdef0123456"

static const struct rcase {
	const char	*name;
	enum http_method method;
	const char	*path;
	int		 status;
	const char	*allow;		/* NULL: 404 */
} rcases[] = {
	{ "an authenticator id names the DELETE row", HTTP_GET,
	  "/mfa/authenticators/totp%7Cdev_0123456789abcdef", 405, "DELETE" },
	{ "a raw | in the id is taken as well", HTTP_GET,
	  "/mfa/authenticators/totp|dev_0123456789abcdef", 405, "DELETE" },
	{ "the id row works under a prefix", HTTP_POST,
	  "/auth/mfa/authenticators/recovery-code%7cdev_0a", 405, "DELETE" },
	{ "the list without an id is the GET row", HTTP_DELETE,
	  "/mfa/authenticators", 405, "GET" },
	{ "64 characters is the longest id", HTTP_GET,
	  "/mfa/authenticators/" ID64, 405, "DELETE" },
	{ "65 characters is no id", HTTP_GET,
	  "/mfa/authenticators/" ID64 "6", 404, NULL },
	{ "an empty id is no id", HTTP_DELETE, "/mfa/authenticators/", 404,
	  NULL },
	{ "a space is outside the id alphabet", HTTP_DELETE,
	  "/mfa/authenticators/totp%20dev", 404, NULL },
	{ "an encoded slash is outside the id alphabet", HTTP_DELETE,
	  "/mfa/authenticators/..%2Fx", 404, NULL },
	{ "an encoded NUL is refused", HTTP_DELETE,
	  "/mfa/authenticators/a%00b", 404, NULL },
	{ "a truncated escape is refused", HTTP_DELETE,
	  "/mfa/authenticators/a%7", 404, NULL },
	{ "two segments after the suffix are no id", HTTP_DELETE,
	  "/mfa/authenticators/a/b", 404, NULL },
	{ "a row without an id column takes none", HTTP_GET,
	  "/mfa/associate/x", 404, NULL },
	{ "a suffix row still matches its end only", HTTP_GET,
	  "/oauth/token/x", 404, NULL },
	{ "DELETE is a wrong method at the token endpoint", HTTP_DELETE,
	  "/oauth/token", 405, "POST" },
};

static void
route_case(void **state)
{
	const struct rcase	*c = *state;
	struct lk_ctx		 ctx;
	struct lk_req		 req;
	struct lk_resp		 resp;
	char			 want[64];

	memset(&ctx, 0, sizeof(ctx));
	memset(&req, 0, sizeof(req));
	req.method = c->method;
	req.method_str = "X";
	req.path = c->path;
	resp_init(&resp);
	route_handle(&ctx, &req, &resp);
	assert_int_equal(resp.status, c->status);
	if (c->allow != NULL) {
		snprintf(want, sizeof(want), "Allow: %s\r\n", c->allow);
		assert_non_null(resp.headers.p);
		assert_non_null(strstr(resp.headers.p, want));
		assert_string_equal(resp.outcome, "method_not_allowed");
	} else
		assert_string_equal(resp.outcome, "not_found");
	resp_clear(&resp);
}

int
main(void)
{
	struct CMUnitTest	 t[NELEM(rcases)];
	size_t			 i;

	for (i = 0; i < NELEM(rcases); i++)
		t[i] = (struct CMUnitTest){ rcases[i].name, route_case,
		    NULL, NULL, (void *)&rcases[i] };
	return _cmocka_run_group_tests("route", t, NELEM(rcases), NULL, NULL);
}
