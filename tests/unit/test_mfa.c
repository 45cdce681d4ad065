/*
 * test_mfa: the building blocks of multi-factor authentication (lib/mfa):
 * HOTP against RFC 4226 appendix D, TOTP against RFC 6238 appendix B (its
 * SHA-1 rows, 8 digits), the window and the accepted-once rule, RFC 4648
 * base32, sealing (the additional data binds), the mfa_token (round trip,
 * every tampered byte, truncation, another store's key, expiry, replay
 * after it was spent) and the policy tables.  A fixed clock.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "extern.h"
#include "store_fx.h"

#define NOW		1700000000
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

/* RFC 4226 appendix D and RFC 6238 appendix B: the secret of both. */
static const unsigned char rfc_key[] = "12345678901234567890";
#define RFC_KEYLEN	20

/* ------------------------------------------------------------------ */
/* HOTP, TOTP.                                                         */

static void
test_hotp_rfc4226(void **state)
{
	static const long want[] = { 755224, 287082, 359152, 969429, 338314,
	    254676, 287922, 162583, 399871, 520489 };
	size_t	 i;

	for (i = 0; i < NELEM(want); i++)
		assert_int_equal(totp_hotp(rfc_key, RFC_KEYLEN, i, 6), want[i]);
	assert_int_equal(totp_hotp(rfc_key, RFC_KEYLEN, 0, 5), -1);
	assert_int_equal(totp_hotp(rfc_key, RFC_KEYLEN, 0, 9), -1);
}

static const struct {
	time_t		 t;
	const char	*code;
} rfc6238[] = {
	{ 59, "94287082" },
	{ 1111111109, "07081804" },
	{ 1111111111, "14050471" },
	{ 1234567890, "89005924" },
	{ 2000000000, "69279037" },
	{ 20000000000LL, "65353130" },
};

static void
test_totp_rfc6238(void **state)
{
	long long	 step;
	size_t		 i;
	char		 code[16];

	for (i = 0; i < NELEM(rfc6238); i++) {
		snprintf(code, sizeof(code), "%08ld", totp_hotp(rfc_key,
		    RFC_KEYLEN, (uint64_t)(rfc6238[i].t / 30), 8));
		assert_string_equal(code, rfc6238[i].code);
		step = -1;
		assert_int_equal(totp_check(rfc_key, RFC_KEYLEN,
		    rfc6238[i].code, 8, rfc6238[i].t, 0, &step), 1);
		assert_int_equal(step, rfc6238[i].t / 30);
		/* Accepted once: not again at or before that step. */
		assert_int_equal(totp_check(rfc_key, RFC_KEYLEN,
		    rfc6238[i].code, 8, rfc6238[i].t, step, &step), 0);
	}
}

/* One step either side of now, not two; only whole digit strings. */
static void
test_totp_window(void **state)
{
	static const struct {
		int	 offset;	/* steps from now */
		int	 ok;
	} rows[] = { { -2, 0 }, { -1, 1 }, { 0, 1 }, { 1, 1 }, { 2, 0 } };
	static const char *const bad[] = { "", "12345", "1234567", "12345a",
	    " 12345", "-12345" };
	long long	 step, t = NOW / TOTP_PERIOD;
	size_t		 i;
	char		 code[16];

	for (i = 0; i < NELEM(rows); i++) {
		snprintf(code, sizeof(code), "%06ld", totp_hotp(rfc_key,
		    RFC_KEYLEN, (uint64_t)(t + rows[i].offset), 6));
		assert_int_equal(totp_check(rfc_key, RFC_KEYLEN, code, 6, NOW,
		    0, &step), rows[i].ok);
	}
	for (i = 0; i < NELEM(bad); i++)
		assert_int_equal(totp_check(rfc_key, RFC_KEYLEN, bad[i], 6,
		    NOW, 0, &step), 0);
	assert_int_equal(totp_check(rfc_key, RFC_KEYLEN, NULL, 6, NOW, 0,
	    &step), 0);
}

/* ------------------------------------------------------------------ */
/* Base32 (RFC 4648 10, without padding).                              */

static void
test_base32(void **state)
{
	static const struct {
		const char	*in, *out;
	} rows[] = {
		{ "", "" }, { "f", "MY" }, { "fo", "MZXQ" }, { "foo", "MZXW6" },
		{ "foob", "MZXW6YQ" }, { "fooba", "MZXW6YTB" },
		{ "foobar", "MZXW6YTBOI" },
	};
	unsigned char	 raw[16];
	char		 enc[32], lower[32];
	size_t		 i, j;

	for (i = 0; i < NELEM(rows); i++) {
		assert_int_equal(base32_encode((const unsigned char *)rows[i].in,
		    strlen(rows[i].in), enc, sizeof(enc)), 0);
		assert_string_equal(enc, rows[i].out);
		for (j = 0; enc[j] != '\0'; j++)
			lower[j] = (char)(enc[j] >= 'A' && enc[j] <= 'Z' ?
			    enc[j] - 'A' + 'a' : enc[j]);
		lower[j] = '\0';
		assert_int_equal(base32_decode(lower, raw, sizeof(raw)),
		    (long)strlen(rows[i].in));
		assert_memory_equal(raw, rows[i].in, strlen(rows[i].in));
	}
	assert_int_equal(base32_decode("MZ1W", raw, sizeof(raw)), -1);
	assert_int_equal(base32_decode("MZXW6YTBOI", raw, 3), -1);
	assert_int_equal(base32_encode((const unsigned char *)"foo", 3, enc,
	    5), -1);
}

/* ------------------------------------------------------------------ */
/* Sealing and the mfa_token.                                          */

static void
test_seal_binds_its_aad(void **state)
{
	struct fx	*fx = *state;
	unsigned char	 out[64];
	char		 sealed[256];

	assert_int_equal(mfa_seal(fx->s, "a", (const unsigned char *)"secret",
	    6, sealed, sizeof(sealed)), 0);
	assert_int_equal(mfa_open(fx->s, "a", sealed, out, sizeof(out)), 6);
	assert_memory_equal(out, "secret", 6);
	assert_int_equal(mfa_open(fx->s, "b", sealed, out, sizeof(out)), -1);
	assert_int_equal(mfa_open(fx->s, "a", sealed, out, 5), -1);
}

static void
tok_fill(struct mfa_tok *t)
{

	memset(t, 0, sizeof(*t));
	t->user_id = "auth0|0123456789abcdef01234567";
	t->client_id = "app-1";
	t->audience = "https://api.example/";
	t->scope = "openid read:things";
	t->realm = "Username-Password-Authentication";
	t->gty = "password";
}

static void
test_token_round_trip(void **state)
{
	struct fx	*fx = *state;
	struct mfa_tok	 in, out;
	char		 tok[MFA_SEAL_MAX + 1];

	tok_fill(&in);
	assert_int_equal(mfa_token_make(fx->s, &in, NOW, tok, sizeof(tok)), 0);
	assert_int_equal(mfa_token_open(fx->s, tok, NOW, &out), MFA_TOK_OK);
	assert_string_equal(out.user_id, in.user_id);
	assert_string_equal(out.client_id, in.client_id);
	assert_string_equal(out.audience, in.audience);
	assert_string_equal(out.scope, in.scope);
	assert_string_equal(out.realm, in.realm);
	assert_string_equal(out.gty, in.gty);
	assert_int_equal(strlen(out.jti), 32);
	assert_int_equal(out.exp, NOW + MFA_TOKEN_LIFETIME);
	mfa_tok_clear(&out);
	/* Absent audience and scope stay absent. */
	in.audience = in.scope = NULL;
	assert_int_equal(mfa_token_make(fx->s, &in, NOW, tok, sizeof(tok)), 0);
	assert_int_equal(mfa_token_open(fx->s, tok, NOW, &out), MFA_TOK_OK);
	assert_null(out.audience);
	assert_null(out.scope);
	mfa_tok_clear(&out);
}

/* Every byte changed, and every truncation, is malformed. */
static void
test_token_tampered(void **state)
{
	struct fx	*fx = *state;
	struct mfa_tok	 in, out;
	char		 tok[MFA_SEAL_MAX + 1], bad[MFA_SEAL_MAX + 1];
	size_t		 i, n;

	tok_fill(&in);
	assert_int_equal(mfa_token_make(fx->s, &in, NOW, tok, sizeof(tok)), 0);
	n = strlen(tok);
	for (i = 0; i < n; i++) {
		memcpy(bad, tok, n + 1);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		assert_int_equal(mfa_token_open(fx->s, bad, NOW, &out),
		    MFA_TOK_MALFORMED);
		mfa_tok_clear(&out);
		memcpy(bad, tok, n + 1);
		bad[i] = '\0';
		assert_int_equal(mfa_token_open(fx->s, bad, NOW, &out),
		    MFA_TOK_MALFORMED);
		mfa_tok_clear(&out);
	}
	assert_int_equal(mfa_token_open(fx->s, "", NOW, &out),
	    MFA_TOK_MALFORMED);
	assert_int_equal(mfa_token_open(fx->s, "not base64url!", NOW, &out),
	    MFA_TOK_MALFORMED);
	assert_int_equal(mfa_token_open(fx->s, NULL, NOW, &out),
	    MFA_TOK_MALFORMED);
}

/* Another store has another key: its tokens are not ours. */
static void
test_token_other_store(void **state)
{
	struct fx	*fx = *state;
	void		*other = NULL;
	struct mfa_tok	 in, out;
	char		 tok[MFA_SEAL_MAX + 1];

	assert_int_equal(setup(&other), 0);
	tok_fill(&in);
	assert_int_equal(mfa_token_make(((struct fx *)other)->s, &in, NOW, tok,
	    sizeof(tok)), 0);
	assert_int_equal(mfa_token_open(fx->s, tok, NOW, &out),
	    MFA_TOK_MALFORMED);
	mfa_tok_clear(&out);
	teardown(&other);
}

static void
test_token_expiry(void **state)
{
	struct fx	*fx = *state;
	struct mfa_tok	 in, out;
	char		 tok[MFA_SEAL_MAX + 1];

	tok_fill(&in);
	assert_int_equal(mfa_token_make(fx->s, &in, NOW, tok, sizeof(tok)), 0);
	assert_int_equal(mfa_token_open(fx->s, tok, NOW + MFA_TOKEN_LIFETIME - 1,
	    &out), MFA_TOK_OK);
	mfa_tok_clear(&out);
	assert_int_equal(mfa_token_open(fx->s, tok, NOW + MFA_TOKEN_LIFETIME,
	    &out), MFA_TOK_EXPIRED);
	mfa_tok_clear(&out);
}

struct spend {
	const struct mfa_tok	*t;
};

static enum store_rc
spend_txn(struct store *s, struct txn *txn, void *arg)
{
	struct spend	*sp = arg;

	return mfa_token_spend(s, txn, sp->t, NOW);
}

/* Spent once: a second spend and any later open refuse it. */
static void
test_token_replay(void **state)
{
	struct fx	*fx = *state;
	struct mfa_tok	 in, out, other;
	struct spend	 sp;
	char		 tok[MFA_SEAL_MAX + 1], tok2[MFA_SEAL_MAX + 1];

	tok_fill(&in);
	assert_int_equal(mfa_token_make(fx->s, &in, NOW, tok, sizeof(tok)), 0);
	assert_int_equal(mfa_token_make(fx->s, &in, NOW, tok2, sizeof(tok2)), 0);
	assert_int_equal(mfa_token_open(fx->s, tok, NOW, &out), MFA_TOK_OK);
	sp.t = &out;
	assert_int_equal(store_txn_run(fx->s, spend_txn, &sp), STORE_OK);
	assert_int_equal(store_txn_run(fx->s, spend_txn, &sp), STORE_EXISTS);
	mfa_tok_clear(&out);
	assert_int_equal(mfa_token_open(fx->s, tok, NOW + 1, &out),
	    MFA_TOK_MALFORMED);
	mfa_tok_clear(&out);
	/* Another token of the same login is not spent with it. */
	assert_int_equal(mfa_token_open(fx->s, tok2, NOW, &other), MFA_TOK_OK);
	mfa_tok_clear(&other);
}

/* ------------------------------------------------------------------ */
/* The failure limit (Auth0: 10, then one every 6 minutes).            */

struct take {
	time_t	 now;
};

static enum store_rc
take_txn(struct store *s, struct txn *txn, void *arg)
{
	struct take	*tk = arg;

	return mfa_fail_take(s, txn, "auth0|u", tk->now);
}

static void
test_fail_limit(void **state)
{
	struct fx	*fx = *state;
	struct take	 tk = { NOW };
	int		 i;

	for (i = 0; i < MFA_FAIL_CAP; i++) {
		assert_int_equal(mfa_fail_room(fx->s, NULL, "auth0|u", NOW), 1);
		assert_int_equal(store_txn_run(fx->s, take_txn, &tk), STORE_OK);
	}
	assert_int_equal(mfa_fail_room(fx->s, NULL, "auth0|u", NOW), 0);
	assert_int_equal(mfa_fail_room(fx->s, NULL, "auth0|other", NOW), 1);
	assert_int_equal(mfa_fail_room(fx->s, NULL, "auth0|u",
	    NOW + MFA_FAIL_PERIOD - 1), 0);
	assert_int_equal(mfa_fail_room(fx->s, NULL, "auth0|u",
	    NOW + MFA_FAIL_PERIOD), 1);
	tk.now = NOW + MFA_FAIL_PERIOD;
	assert_int_equal(store_txn_run(fx->s, take_txn, &tk), STORE_OK);
	assert_int_equal(mfa_fail_room(fx->s, NULL, "auth0|u", tk.now), 0);
}

/* ------------------------------------------------------------------ */
/* The policy.                                                         */

static void
test_policy(void **state)
{
	static const struct {
		enum mfa_policy	 tenant;
		enum mfa_user	 user;
		int		 enrolled;
		enum mfa_gate	 want;
	} rows[] = {
		{ MFA_NEVER, MFA_USER_TENANT, 0, MFA_GATE_NONE },
		{ MFA_NEVER, MFA_USER_TENANT, 1, MFA_GATE_NONE },
		{ MFA_ALL, MFA_USER_TENANT, 0, MFA_GATE_ENROL },
		{ MFA_ALL, MFA_USER_TENANT, 1, MFA_GATE_CHALLENGE },
		{ MFA_ENROLLED, MFA_USER_TENANT, 0, MFA_GATE_NONE },
		{ MFA_ENROLLED, MFA_USER_TENANT, 1, MFA_GATE_CHALLENGE },
		{ MFA_ALL, MFA_USER_NEVER, 1, MFA_GATE_NONE },
		{ MFA_NEVER, MFA_USER_ALWAYS, 0, MFA_GATE_ENROL },
		{ MFA_ENROLLED, MFA_USER_ALWAYS, 0, MFA_GATE_ENROL },
		{ MFA_NEVER, MFA_USER_ALWAYS, 1, MFA_GATE_CHALLENGE },
	};
	struct tenant	 t;
	struct user	 u;
	size_t		 i;

	for (i = 0; i < NELEM(rows); i++) {
		memset(&t, 0, sizeof(t));
		memset(&u, 0, sizeof(u));
		t.mfa = rows[i].tenant;
		u.mfa = rows[i].user;
		assert_int_equal(mfa_gate_decide(mfa_policy_of(&t, &u),
		    rows[i].enrolled), rows[i].want);
	}
	assert_int_equal(vocab_find(&mfa_policy_vocab, "enrolled"),
	    MFA_ENROLLED);
	assert_int_equal(vocab_find(&mfa_user_vocab, "always"),
	    MFA_USER_ALWAYS);
	assert_int_equal(vocab_find(&mfa_policy_vocab, "sometimes"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hotp_rfc4226),
		cmocka_unit_test(test_totp_rfc6238),
		cmocka_unit_test(test_totp_window),
		cmocka_unit_test(test_base32),
		cmocka_unit_test_setup_teardown(test_seal_binds_its_aad, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_token_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_token_tampered, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_token_other_store, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_token_expiry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_token_replay, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fail_limit, setup,
		    teardown),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
