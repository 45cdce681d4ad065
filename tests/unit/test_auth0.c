/*
 * test_auth0: Auth0 user exports (lib/admin/auth0_export.c).  One named test
 * per row of two tables: the file formats (NDJSON, a JSON array, and the
 * broken ones with the line they name), and the user conversion (the
 * profile fields kept, user_id kept or completed, each password hash
 * form accepted as it is, each one latchkey cannot verify refused with
 * its reason).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define BCRYPT	"$2b$10$C6UzMDM.H6dfI/f/IKxGhuO7VkA0bS0i0SgWL2jDnNNSz1dbMv1iG"
#define ARGON2	"$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$6fSnr6VtDyP6rcTu6sK5hw"
#define SHA512	"$6$rounds=5000$saltsalt$Vzx0gR6wJ2F1t8WkS5pQ0w"

static const struct pcase {
	const char	*name;
	const char	*text;
	long		 users;		/* -1: refused */
	const char	*err;		/* substring of the error */
} pcases[] = {
	{ "NDJSON: one user a line",
	  "{\"email\":\"a@x\"}\n{\"email\":\"b@x\"}\n", 2, NULL },
	{ "NDJSON: blank lines, CRLF and no final newline",
	  "\r\n{\"email\":\"a@x\"}\r\n\n  \n{\"email\":\"b@x\"}", 2, NULL },
	{ "JSON array of users",
	  "  [{\"email\":\"a@x\"},{\"email\":\"b@x\"},{}]", 3, NULL },
	{ "empty file has no users", "", 0, NULL },
	{ "empty array has no users", "[]", 0, NULL },
	{ "NDJSON: a broken line is named",
	  "{\"email\":\"a@x\"}\n{\"email\":\n", -1, "line 2:" },
	{ "NDJSON: a line that is not an object",
	  "{\"email\":\"a@x\"}\n\n[1]\n", -1, "line 3: not a JSON object" },
	{ "array: an entry that is not an object",
	  "[{\"email\":\"a@x\"},\"b@x\"]", -1, "user 2: not a JSON object" },
	{ "array: broken JSON", "[{\"email\":", -1, "line 1:" },
	{ "duplicate member refused",
	  "{\"email\":\"a@x\",\"email\":\"b@x\"}", -1, "line 1:" },
};

static void
parse_case(void **state)
{
	const struct pcase	*c = *state;
	json_t			*u;
	char			 err[256] = "";

	u = auth0_export_parse(c->text, strlen(c->text), err, sizeof(err));
	if (c->users < 0) {
		assert_null(u);
		assert_non_null(strstr(err, c->err));
		return;
	}
	assert_non_null(u);
	assert_true(json_is_array(u));
	assert_int_equal(json_array_size(u), (size_t)c->users);
	json_decref(u);
}

static const struct ccase {
	const char	*name;
	const char	*in;		/* the Auth0 user */
	const char	*out;		/* the expected spec, NULL: refused */
	const char	*err;		/* substring of the refusal */
} ccases[] = {
	{ "profile fields kept, Auth0-only fields dropped",
	  "{\"user_id\":\"auth0|5f7c8ec7c33c6c004bbafe82\",\"email\":\"a@x.io\","
	  "\"email_verified\":true,\"username\":\"al\",\"name\":\"Al\","
	  "\"given_name\":\"A\",\"family_name\":\"L\",\"nickname\":\"al\","
	  "\"picture\":\"https://p/a.png\",\"phone_number\":\"+15551234567\","
	  "\"phone_verified\":false,\"blocked\":true,"
	  "\"app_metadata\":{\"plan\":\"gold\"},\"user_metadata\":{\"t\":1},"
	  "\"identities\":[{\"provider\":\"auth0\"}],\"logins_count\":3,"
	  "\"last_login\":\"2020-01-01T00:00:00.000Z\",\"nickname2\":\"x\","
	  "\"password_hash\":\"" BCRYPT "\"}",
	  "{\"connection\":\"db\",\"user_id\":\"auth0|5f7c8ec7c33c6c004bbafe82\","
	  "\"email\":\"a@x.io\",\"email_verified\":true,\"username\":\"al\","
	  "\"name\":\"Al\",\"given_name\":\"A\",\"family_name\":\"L\","
	  "\"nickname\":\"al\",\"picture\":\"https://p/a.png\","
	  "\"phone_number\":\"+15551234567\",\"phone_verified\":false,"
	  "\"blocked\":true,\"app_metadata\":{\"plan\":\"gold\"},"
	  "\"user_metadata\":{\"t\":1},\"password_hash\":\"" BCRYPT "\"}",
	  NULL },
	{ "no user_id: none (latchkeyctl generates one), null fields dropped",
	  "{\"email\":\"a@x.io\",\"name\":null}",
	  "{\"connection\":\"db\",\"email\":\"a@x.io\"}", NULL },
	{ "bare user_id (import schema form) gets auth0|",
	  "{\"user_id\":\"abc\",\"email\":\"a@x.io\"}",
	  "{\"connection\":\"db\",\"user_id\":\"auth0|abc\",\"email\":\"a@x.io\"}",
	  NULL },
	{ "another provider's user_id is refused",
	  "{\"user_id\":\"google-oauth2|123\",\"email\":\"a@x.io\"}", NULL,
	  "not an auth0| (database) user" },
	{ "auth0| with an empty id is refused",
	  "{\"user_id\":\"auth0|\",\"email\":\"a@x.io\"}", NULL,
	  "not an auth0| (database) user" },
	{ "auth0x| is not auth0|",
	  "{\"user_id\":\"auth0x|1\",\"email\":\"a@x.io\"}", NULL,
	  "not an auth0| (database) user" },
	{ "a non-string user_id is refused",
	  "{\"user_id\":12,\"email\":\"a@x.io\"}", NULL, "user_id: not" },
	{ "password_hash sha512-crypt kept as it is",
	  "{\"email\":\"a@x.io\",\"password_hash\":\"" SHA512 "\"}",
	  "{\"connection\":\"db\",\"email\":\"a@x.io\","
	  "\"password_hash\":\"" SHA512 "\"}", NULL },
	{ "password_hash in another form is refused",
	  "{\"email\":\"a@x.io\",\"password_hash\":\"5f4dcc3b5aa765d61d8327deb882cf99\"}",
	  NULL, "password_hash is not a bcrypt" },
	{ "custom bcrypt kept as it is",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":"
	  "\"bcrypt\",\"hash\":{\"value\":\"" BCRYPT "\",\"encoding\":\"utf8\"}}}",
	  "{\"connection\":\"db\",\"email\":\"a@x.io\","
	  "\"password_hash\":\"" BCRYPT "\"}", NULL },
	{ "custom argon2 kept as it is (encoding may be omitted)",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":"
	  "\"argon2\",\"hash\":{\"value\":\"" ARGON2 "\"}}}",
	  "{\"connection\":\"db\",\"email\":\"a@x.io\","
	  "\"password_hash\":\"" ARGON2 "\"}", NULL },
	{ "custom ldap {CRYPT} sha512-crypt: the scheme is stripped",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":"
	  "\"ldap\",\"hash\":{\"value\":\"{crypt}" SHA512 "\",\"encoding\":\"utf8\"}}}",
	  "{\"connection\":\"db\",\"email\":\"a@x.io\","
	  "\"password_hash\":\"" SHA512 "\"}", NULL },
	{ "custom ldap {SSHA} is refused",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":"
	  "\"ldap\",\"hash\":{\"value\":\"{SSHA}abcd\",\"encoding\":\"utf8\"}}}",
	  NULL, "custom_password_hash ldap: hash.value is not in a form" },
	{ "custom bcrypt with an argon2 value is refused",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":"
	  "\"bcrypt\",\"hash\":{\"value\":\"" ARGON2 "\",\"encoding\":\"utf8\"}}}",
	  NULL, "custom_password_hash bcrypt: hash.value is not in a form" },
	{ "custom md5 is refused by name",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":"
	  "\"md5\",\"hash\":{\"value\":\"abcd\",\"encoding\":\"hex\"}}}",
	  NULL, "algorithm \"md5\" cannot be verified by latchkey" },
	{ "custom pbkdf2 is refused by name",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":"
	  "\"pbkdf2\",\"hash\":{\"value\":\"$pbkdf2-sha512$i=1$s$h\"}}}",
	  NULL, "algorithm \"pbkdf2\" cannot be verified by latchkey" },
	{ "custom bcrypt with a base64 encoding is refused",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":"
	  "\"bcrypt\",\"hash\":{\"value\":\"" BCRYPT "\",\"encoding\":\"base64\"}}}",
	  NULL, "hash.encoding must be utf8" },
	{ "custom bcrypt with a separate salt is refused",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":"
	  "\"bcrypt\",\"hash\":{\"value\":\"" BCRYPT "\",\"salt\":{\"value\":\"s\"}}}}",
	  NULL, "hash.salt absent" },
	{ "custom_password_hash without a value is refused",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":{\"algorithm\":\"bcrypt\"}}",
	  NULL, "needs algorithm and hash.value" },
	{ "custom_password_hash not an object is refused",
	  "{\"email\":\"a@x.io\",\"custom_password_hash\":\"" BCRYPT "\"}",
	  NULL, "custom_password_hash: not an object" },
	{ "both hash fields are refused",
	  "{\"email\":\"a@x.io\",\"password_hash\":\"" BCRYPT "\","
	  "\"custom_password_hash\":{\"algorithm\":\"bcrypt\",\"hash\":"
	  "{\"value\":\"" BCRYPT "\"}}}",
	  NULL, "mutually exclusive" },
};

static void
convert_case(void **state)
{
	const struct ccase	*c = *state;
	json_t			*in, *out = NULL, *want;
	char			 err[512] = "";
	int			 rc;

	in = json_loads(c->in, 0, NULL);
	assert_non_null(in);
	rc = auth0_user_convert(in, "db", &out, err, sizeof(err));
	json_decref(in);
	if (c->out == NULL) {
		assert_int_equal(rc, -1);
		assert_null(out);
		if (strstr(err, c->err) == NULL)
			fail_msg("error \"%s\" lacks \"%s\"", err, c->err);
		return;
	}
	assert_int_equal(rc, 0);
	want = json_loads(c->out, 0, NULL);
	assert_non_null(want);
	if (!json_equal(out, want)) {
		char *got = json_dumps(out, JSON_SORT_KEYS);
		fail_msg("got %s", got);
	}
	json_decref(want);
	json_decref(out);
}

int
main(void)
{
	struct CMUnitTest	 t[NELEM(pcases) + NELEM(ccases)];
	size_t			 i, n = 0;

	for (i = 0; i < NELEM(pcases); i++)
		t[n++] = (struct CMUnitTest){ pcases[i].name, parse_case,
		    NULL, NULL, (void *)&pcases[i] };
	for (i = 0; i < NELEM(ccases); i++)
		t[n++] = (struct CMUnitTest){ ccases[i].name, convert_case,
		    NULL, NULL, (void *)&ccases[i] };
	return _cmocka_run_group_tests("auth0", t, n, NULL, NULL);
}
