/*
 * test_hash: password hashes (argon2id, imported crypt(3) formats),
 * the dummy verify, secret digests and the random helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <argon2.h>
#include <cmocka.h>

#include "extern.h"

/* A cheap policy for round trips; the default is timed separately. */
static const struct hash_policy cheap = { 1, 64, 1 };
static const struct hash_policy deflt = HASH_POLICY_DEFAULT;

#define PW	"correct horse battery staple"

/*
 * Imported hashes from independent sources: the bcrypt vector is Solar
 * Designer's crypt_blowfish test ("U*U", cost 5, as $2b$), the SHA-crypt
 * vectors are Drepper's specification examples, the argon2i one is the
 * reference implementation's README example; the yescrypt one was made
 * with libxcrypt via Python's crypt module.
 */
static const struct {
	const char	*name;
	const char	*encoded;
	const char	*pw;
} imported[] = {
	{ "bcrypt $2b$ (crypt_blowfish vector)",
	  "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	  "U*U" },
	{ "bcrypt $2a$ (crypt_blowfish vector)",
	  "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	  "U*U" },
	{ "bcrypt $2y$",
	  "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
	  "U*U" },
	{ "bcrypt $2b$ cost 10",
	  "$2b$10$abcdefghijklmnopqrstuuGGgFFcYeueaAql8Z7U7CnCTRw4DR77W",
	  PW },
	{ "yescrypt $y$",
	  "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$"
	  "y8e1eitiNDaQsFFW6d.9KbSTlk5zV3R3coZQtfcNAO5",
	  PW },
	{ "sha512crypt $6$ (spec vector)",
	  "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQ"
	  "JuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	  "Hello world!" },
	{ "sha256crypt $5$",
	  "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
	  "Hello world!" },
	{ "argon2i (reference README vector)",
	  "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$"
	  "RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
	  "password" },
};

static void
argon2id_round_trip_verifies_without_rehash(void **state)
{
	char	 enc[HASH_ENCODED_MAX];
	int	 rehash = -1;

	assert_int_equal(hash_password(&cheap, PW, strlen(PW), enc,
	    sizeof(enc)), 0);
	assert_true(strncmp(enc, "$argon2id$v=19$m=64,t=1,p=1$", 28) == 0);
	assert_int_equal(hash_verify(&cheap, enc, PW, strlen(PW), &rehash),
	    HASH_OK);
	assert_int_equal(rehash, 0);
}

static void
argon2id_hashes_are_salted(void **state)
{
	char	 a[HASH_ENCODED_MAX], b[HASH_ENCODED_MAX];

	assert_int_equal(hash_password(&cheap, PW, strlen(PW), a,
	    sizeof(a)), 0);
	assert_int_equal(hash_password(&cheap, PW, strlen(PW), b,
	    sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

static void
argon2id_wrong_password_mismatches(void **state)
{
	char	 enc[HASH_ENCODED_MAX];
	int	 rehash;

	assert_int_equal(hash_password(&cheap, PW, strlen(PW), enc,
	    sizeof(enc)), 0);
	assert_int_equal(hash_verify(&cheap, enc, "wrong", 5, &rehash),
	    HASH_MISMATCH);
	/* A prefix of the password is not the password. */
	assert_int_equal(hash_verify(&cheap, enc, PW, strlen(PW) - 1,
	    &rehash), HASH_MISMATCH);
}

/*
 * Encodings made by libargon2's own encoder (argon2_hash), at version
 * 1.0 and 1.3, verify through hash.c's decoder; a version-1.0 encoding
 * may leave the "v=" out (the older format); other versions are errors.
 */
static void
libargon2_encodings_verify(void **state)
{
	static const argon2_type types[] = { Argon2_i, Argon2_id };
	static const uint32_t versions[] = { ARGON2_VERSION_10,
	    ARGON2_VERSION_13 };
	char		 enc[HASH_ENCODED_MAX], bad[HASH_ENCODED_MAX], *v;
	unsigned char	 raw[32];
	size_t		 i, j;
	int		 rehash;

	(void)state;
	for (i = 0; i < 2; i++)
		for (j = 0; j < 2; j++) {
			assert_int_equal(argon2_hash(2, 64, 2, PW, strlen(PW),
			    "saltsaltsalt", 12, raw, sizeof(raw), enc,
			    sizeof(enc), types[i], versions[j]), ARGON2_OK);
			assert_int_equal(hash_verify(&cheap, enc, PW,
			    strlen(PW), &rehash), HASH_OK);
			assert_int_equal(hash_verify(&cheap, enc, "wrong", 5,
			    &rehash), HASH_MISMATCH);
			if (versions[j] != ARGON2_VERSION_10)
				continue;
			/* "$argon2i$v=16$m=..." without the "v=16$". */
			assert_non_null(v = strstr(enc, "v=16$"));
			snprintf(bad, sizeof(bad), "%.*s%s", (int)(v - enc),
			    enc, v + 5);
			assert_int_equal(hash_verify(&cheap, bad, PW,
			    strlen(PW), &rehash), HASH_OK);
			/* An unknown version is not computed as another. */
			memcpy(v, "v=17$", 5);
			assert_int_equal(hash_verify(&cheap, enc, PW,
			    strlen(PW), &rehash), HASH_ERR);
		}
}

/* A verify runs in the arena when it fits (and leaves it wiped), in
 * memory of its own when it does not (the arena untouched). */
static void
verify_uses_the_arena_that_fits(void **state)
{
	static unsigned char	 arena[64 * 1024];
	char			 enc[HASH_ENCODED_MAX];
	size_t			 i;
	int			 rehash;

	(void)state;
	assert_int_equal(hash_password(&cheap, PW, strlen(PW), enc,
	    sizeof(enc)), 0);
	memset(arena, 0xAA, sizeof(arena));
	hash_arena(arena, sizeof(arena) - 1024);	/* m = 64 KiB: too small */
	assert_int_equal(hash_verify(&cheap, enc, PW, strlen(PW), &rehash),
	    HASH_OK);
	for (i = 0; i < sizeof(arena); i++)
		assert_int_equal(arena[i], 0xAA);
	hash_arena(arena, sizeof(arena));
	assert_int_equal(hash_verify(&cheap, enc, PW, strlen(PW), &rehash),
	    HASH_OK);
	assert_int_equal(hash_verify(&cheap, enc, "wrong", 5, &rehash),
	    HASH_MISMATCH);
	assert_int_equal(hash_dummy(&cheap, PW, strlen(PW)), HASH_MISMATCH);
	for (i = 0; i < sizeof(arena); i++)
		assert_int_equal(arena[i], 0);
	hash_arena(NULL, 0);
}

static void
hash_password_refuses_short_buffer(void **state)
{
	char	 enc[32];

	assert_int_equal(hash_password(&cheap, PW, strlen(PW), enc,
	    sizeof(enc)), -1);
}

static void
imported_hashes_verify_and_ask_for_rehash(void **state)
{
	size_t	 i;
	int	 rehash;

	for (i = 0; i < sizeof(imported) / sizeof(imported[0]); i++) {
		print_message("%s\n", imported[i].name);
		rehash = 0;
		assert_int_equal(hash_verify(&deflt, imported[i].encoded,
		    imported[i].pw, strlen(imported[i].pw), &rehash), HASH_OK);
		assert_int_equal(rehash, 1);
		assert_int_equal(hash_verify(&deflt, imported[i].encoded,
		    "nope", 4, &rehash), HASH_MISMATCH);
	}
}

/* crypt(3) stops at a NUL: "U*U\0x" must not match "U*U". */
static void
crypt_password_with_nul_mismatches(void **state)
{
	int	 rehash;

	assert_int_equal(hash_verify(&deflt, imported[0].encoded, "U*U\0x",
	    5, &rehash), HASH_MISMATCH);
}

static void
argon2id_weaker_params_ask_for_rehash(void **state)
{
	static const struct {
		struct hash_policy	 made;
		struct hash_policy	 policy;
		int			 rehash;
	} rows[] = {
		{ { 1, 64, 1 }, { 1, 64, 1 }, 0 },	/* equal */
		{ { 2, 128, 2 }, { 1, 64, 1 }, 0 },	/* stronger */
		{ { 1, 64, 1 }, { 2, 64, 1 }, 1 },	/* t below */
		{ { 1, 64, 1 }, { 1, 128, 1 }, 1 },	/* m below */
		{ { 1, 64, 1 }, { 1, 64, 2 }, 1 },	/* p below */
		{ { 2, 64, 1 }, { 1, 128, 1 }, 1 },	/* t above, m below */
	};
	char	 enc[HASH_ENCODED_MAX];
	size_t	 i;
	int	 rehash;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(hash_password(&rows[i].made, PW, strlen(PW),
		    enc, sizeof(enc)), 0);
		rehash = -1;
		assert_int_equal(hash_verify(&rows[i].policy, enc, PW,
		    strlen(PW), &rehash), HASH_OK);
		assert_int_equal(rehash, rows[i].rehash);
	}
}

static void
malformed_hashes_are_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"plaintext",
		"$1$saltsalt$abcdefghijklmnopqrstuv",	/* md5crypt: refused */
		"$argon2d$v=19$m=64,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$",
		"$argon2id$v=19$m=64,t=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=x,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=99999999999,t=1,p=1$c29tZXNhbHQ$AAAA",
		/* 4 GiB asked by a stored hash: refused before allocating */
		("$argon2id$v=19$m=4194304,t=1,p=1$c29tZXNhbHQ$"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
		"$argon2id$v=19$m=64,t=1,p=1$!!!$AAAAAAAAAAAAAAAAAAAAAA",
		"$2b$05$short",
		"$2b$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$y$",
	};
	char	 big[HASH_ENCODED_MAX + 16];
	size_t	 i;
	int	 rehash;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("%s\n", bad[i]);
		rehash = 0;
		assert_int_equal(hash_verify(&cheap, bad[i], PW, strlen(PW),
		    &rehash), HASH_ERR);
		assert_int_equal(rehash, 1);
	}
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "$2b$", 4);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(hash_verify(&cheap, big, PW, strlen(PW), &rehash),
	    HASH_ERR);
	assert_int_equal(hash_verify(&cheap, NULL, PW, strlen(PW), &rehash),
	    HASH_ERR);
}

static void
dummy_verify_always_mismatches(void **state)
{
	assert_int_equal(hash_dummy(&cheap, PW, strlen(PW)), HASH_MISMATCH);
	assert_int_equal(hash_dummy(&cheap, "", 0), HASH_MISMATCH);
	assert_int_equal(hash_dummy(&cheap, "latchkey dummy password", 23),
	    HASH_MISMATCH);
	/* A policy change rebuilds the cached dummy. */
	assert_int_equal(hash_dummy(&(struct hash_policy){ 2, 64, 1 }, PW,
	    strlen(PW)), HASH_MISMATCH);
}

/* A policy whose dummy verify takes tens of milliseconds. */
static const struct hash_policy dear = { 3, 32768, 1 };

/* The fastest of three dummy verifies at dear (the first builds it). */
static double
dummy_ms(void)
{
	double	 t0, best = 1e9, d;
	int	 i;

	(void)hash_dummy(&dear, PW, strlen(PW));
	for (i = 0; i < 3; i++) {
		t0 = lk_mono_ms();
		(void)hash_dummy(&dear, PW, strlen(PW));
		if ((d = lk_mono_ms() - t0) < best)
			best = d;
	}
	return best;
}

/* A stored hash that cannot be verified (unknown format, costs over the
 * limits) does no hash work in hash_verify; a login's verify must still
 * cost a dummy's, or the time says the account exists. */
static void
login_verify_of_unverifiable_hash_costs_a_dummy(void **state)
{
	static const char *const bad[] = {
		"$unknown$abc",
		"$argon2id$v=19$m=2000000,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
		"$argon2id$v=19$m=64,t=100,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
	};
	double	 d = dummy_ms(), t0, plain, login;
	size_t	 i;
	int	 rehash;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t0 = lk_mono_ms();
		assert_int_equal(hash_verify(&dear, bad[i], PW, strlen(PW),
		    &rehash), HASH_ERR);
		plain = lk_mono_ms() - t0;
		t0 = lk_mono_ms();
		assert_int_equal(hash_verify_login(&dear, bad[i], PW,
		    strlen(PW), &rehash), HASH_ERR);
		login = lk_mono_ms() - t0;
		if (plain >= d / 2 || login < d / 2)
			fail_msg("%s: verify %.2f ms, login %.2f ms, dummy "
			    "%.2f ms", bad[i], plain, login, d);
	}
}

/* A wrong password against a stored hash far cheaper than the policy
 * (until the next login rehashes it) costs a dummy's too. */
static void
login_verify_of_cheap_weak_hash_costs_a_dummy(void **state)
{
	const struct hash_policy cheap_old = { 1, 8, 1 };
	char	 enc[HASH_ENCODED_MAX];
	double	 d = dummy_ms(), t0, login;
	int	 rehash = 0;

	assert_int_equal(hash_password(&cheap_old, PW, strlen(PW), enc,
	    sizeof(enc)), 0);
	t0 = lk_mono_ms();
	assert_int_equal(hash_verify_login(&dear, enc, "wrong", 5, &rehash),
	    HASH_MISMATCH);
	login = lk_mono_ms() - t0;
	if (login < d / 2)
		fail_msg("login %.2f ms, dummy %.2f ms", login, d);
	/* The right password still verifies and asks for the rehash. */
	assert_int_equal(hash_verify_login(&dear, enc, PW, strlen(PW),
	    &rehash), HASH_OK);
	assert_int_equal(rehash, 1);
}

static void
policy_from_json_defaults_and_clamps(void **state)
{
	static const struct {
		const char		*json;
		struct hash_policy	 want;
	} rows[] = {
		{ "{}", HASH_POLICY_DEFAULT },
		{ "{\"hash\": 5}", HASH_POLICY_DEFAULT },
		{ "{\"hash\": {}}", HASH_POLICY_DEFAULT },
		{ "{\"hash\": {\"t\": 3, \"m\": 65536, \"p\": 4}}",
		  { 3, 65536, 4 } },
		{ "{\"hash\": {\"t\": 3}}", { 3, 19456, 1 } },
		{ "{\"hash\": {\"t\": \"9\", \"m\": 1.5}}", HASH_POLICY_DEFAULT },
		{ "{\"hash\": {\"t\": 0, \"m\": 1, \"p\": 0}}", { 1, 8, 1 } },
		{ "{\"hash\": {\"t\": -5, \"m\": -1, \"p\": -1}}", { 1, 8, 1 } },
		{ "{\"hash\": {\"t\": 99, \"m\": 99999999, \"p\": 99}}",
		  { 10, 1048576, 8 } },
		{ "{\"hash\": {\"m\": 8, \"p\": 4}}", { 2, 32, 4 } },
	};
	struct hash_policy	 pol;
	json_t			*tenant;
	size_t			 i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		print_message("%s\n", rows[i].json);
		tenant = json_loads(rows[i].json, 0, NULL);
		assert_non_null(tenant);
		hash_policy_parse(json_object_get(tenant, "hash"), &pol);
		assert_int_equal(pol.t_cost, rows[i].want.t_cost);
		assert_int_equal(pol.m_cost, rows[i].want.m_cost);
		assert_int_equal(pol.parallelism, rows[i].want.parallelism);
		json_decref(tenant);
	}
	hash_policy_parse(NULL, &pol);
	assert_int_equal(pol.m_cost, 19456);
}

static void
secret_digest_round_trip(void **state)
{
	char	 out[72];

	/* SHA-256("abc"), FIPS 180-2 B.1. */
	assert_int_equal(hash_secret("abc", 3, out), 0);
	assert_string_equal(out, "sha256:ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(hash_secret_check(out, "abc", 3), 1);
	assert_int_equal(hash_secret_check(out, "abd", 3), 0);
	assert_int_equal(hash_secret_check(out, "ab", 2), 0);
}

static void
secret_check_rejects_malformed_stored_values(void **state)
{
	static const char *const bad[] = {
		"",
		"sha256:",
		"sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015add",
		"sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		"sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a\n",
		"abc",
	};
	size_t	 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hash_secret_check(bad[i], "abc", 3), 0);
	assert_int_equal(hash_secret_check(NULL, "abc", 3), 0);
}

static void
rand_hex_gives_lowercase_hex(void **state)
{
	char	 a[2 * 100 + 1], b[2 * 100 + 1];
	size_t	 i;

	assert_int_equal(rand_hex(a, 100), 0);
	assert_int_equal(rand_hex(b, 100), 0);
	assert_int_equal(strlen(a), 200);
	for (i = 0; i < 200; i++)
		assert_non_null(strchr("0123456789abcdef", a[i]));
	assert_string_not_equal(a, b);
	assert_int_equal(rand_hex(a, 0), 0);
	assert_string_equal(a, "");
}

/*
 * Letters and digits only, so a generated client id never starts with '-'
 * (latchkeyctl would take it for an option); all 62 occur, none far more
 * often than the others.
 */
static void
rand_alnum_gives_letters_and_digits(void **state)
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789";
	char	 out[4097];
	size_t	 seen[62] = { 0 }, i;

	(void)state;
	assert_int_equal(rand_alnum(out, sizeof(out), 4096), 0);
	assert_int_equal(strlen(out), 4096);
	for (i = 0; i < 4096; i++) {
		assert_non_null(strchr(alnum, out[i]));
		seen[strchr(alnum, out[i]) - alnum]++;
	}
	for (i = 0; i < 62; i++) {
		assert_true(seen[i] > 20);	/* 66 expected */
		assert_true(seen[i] < 130);
	}
	assert_int_equal(rand_alnum(out, 33, 32), 0);
	assert_int_equal(strlen(out), 32);
	assert_int_equal(rand_alnum(out, 32, 32), -1);
	assert_int_equal(rand_alnum(out, 1, 0), 0);
	assert_string_equal(out, "");
}

static void
rand_b64url_gives_unpadded_base64url(void **state)
{
	static const struct {
		size_t	 nbytes, len;
	} rows[] = {
		{ 0, 0 }, { 1, 2 }, { 2, 3 }, { 3, 4 }, { 16, 22 },
		{ 32, 43 }, { 48, 64 }, { 49, 66 }, { 100, 134 },
	};
	char	 out[200];
	size_t	 i, k;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(rand_b64url(out, sizeof(out),
		    rows[i].nbytes), 0);
		assert_int_equal(strlen(out), rows[i].len);
		for (k = 0; k < rows[i].len; k++)
			assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz0123456789-_", out[k]));
		/* Exactly enough room, and one byte short. */
		assert_int_equal(rand_b64url(out, rows[i].len + 1,
		    rows[i].nbytes), 0);
		assert_int_equal(rand_b64url(out, rows[i].len,
		    rows[i].nbytes), -1);
	}
}

/* The hash mix: a login always gets the same sampled hash, whatever its
 * case; logins spread over the sample; the pick depends on the sampled
 * hashes (its key); an empty sample picks nothing. */
static void
mix_pick_is_stable_and_spreads(void **state)
{
	struct hash_mix	 m, other;
	const char	*a, *seen[HASH_MIX_MAX];
	char		 login[32];
	size_t		 i, j, nseen = 0, moved = 0;

	hash_mix_init(&m);
	assert_null(hash_mix_pick(&m, "ghost@example.com"));
	assert_null(hash_mix_pick(NULL, "ghost@example.com"));
	for (i = 0; i < 4; i++)
		assert_int_equal(hash_mix_add(&m, imported[i + 3].encoded), 0);
	assert_int_equal(hash_mix_seal(&m), 0);
	a = hash_mix_pick(&m, "Ghost@Example.COM");
	assert_non_null(a);
	assert_ptr_equal(a, hash_mix_pick(&m, "ghost@example.com"));
	other = m;
	for (i = 0; i < 64; i++) {
		snprintf(login, sizeof(login), "ghost%zu@example.com", i);
		a = hash_mix_pick(&m, login);
		for (j = 0; j < nseen && seen[j] != a; j++)
			continue;
		if (j == nseen)
			seen[nseen++] = a;
	}
	assert_int_equal(nseen, 4);
	/* Another sample (one hash replaced) keys other picks. */
	memcpy(other.enc[0], imported[0].encoded,
	    strlen(imported[0].encoded) + 1);
	assert_int_equal(hash_mix_seal(&other), 0);
	for (i = 0; i < 64; i++) {
		snprintf(login, sizeof(login), "ghost%zu@example.com", i);
		moved += hash_mix_pick(&m, login) - m.enc[0] !=
		    hash_mix_pick(&other, login) - other.enc[0];
	}
	assert_true(moved > 0);
}

static void
mix_is_bounded(void **state)
{
	struct hash_mix	 m;
	char		 big[HASH_ENCODED_MAX + 8];
	size_t		 i;

	hash_mix_init(&m);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(hash_mix_add(&m, big), -1);
	assert_int_equal(hash_mix_add(&m, NULL), -1);
	for (i = 0; i < HASH_MIX_MAX; i++)
		assert_int_equal(hash_mix_add(&m, imported[0].encoded), 0);
	assert_int_equal(hash_mix_add(&m, imported[0].encoded), -1);
	assert_int_equal(m.n, HASH_MIX_MAX);
}

static double
least(double a, double b)
{
	return a < b ? a : b;
}

/* An unknown login never verifies, not even with the password of the
 * sampled user it is assigned to, and costs that user's verify: here a
 * bcrypt cost-10 hash against a policy whose dummy is far cheaper. */
static void
unknown_login_costs_its_sampled_hash(void **state)
{
	const char	*bc10 = imported[3].encoded;	/* cost 10, PW */
	struct hash_mix	 m;
	double		 t0, wrong, unknown, dummy;
	int		 rehash, i;

	hash_mix_init(&m);
	assert_int_equal(hash_mix_add(&m, bc10), 0);
	assert_int_equal(hash_mix_seal(&m), 0);
	assert_int_equal(hash_verify_unknown(&cheap, &m, "ghost", PW,
	    strlen(PW)), HASH_MISMATCH);
	wrong = unknown = dummy = 1e9;
	for (i = 0; i < 3; i++) {	/* the fastest of three: a busy machine */
		t0 = lk_mono_ms();
		assert_int_equal(hash_verify_login(&cheap, bc10, "wrong", 5,
		    &rehash), HASH_MISMATCH);
		wrong = least(wrong, lk_mono_ms() - t0);
		t0 = lk_mono_ms();
		assert_int_equal(hash_verify_unknown(&cheap, &m, "ghost",
		    "wrong", 5), HASH_MISMATCH);
		unknown = least(unknown, lk_mono_ms() - t0);
		t0 = lk_mono_ms();
		assert_int_equal(hash_verify_unknown(&cheap, NULL, "ghost",
		    "wrong", 5), HASH_MISMATCH);
		dummy = least(dummy, lk_mono_ms() - t0);
	}
	assert_true(unknown > wrong / 2 && unknown < wrong * 2);
	assert_true(dummy < wrong / 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(argon2id_round_trip_verifies_without_rehash),
		cmocka_unit_test(argon2id_hashes_are_salted),
		cmocka_unit_test(argon2id_wrong_password_mismatches),
		cmocka_unit_test(hash_password_refuses_short_buffer),
		cmocka_unit_test(libargon2_encodings_verify),
		cmocka_unit_test(verify_uses_the_arena_that_fits),
		cmocka_unit_test(imported_hashes_verify_and_ask_for_rehash),
		cmocka_unit_test(crypt_password_with_nul_mismatches),
		cmocka_unit_test(argon2id_weaker_params_ask_for_rehash),
		cmocka_unit_test(malformed_hashes_are_errors),
		cmocka_unit_test(dummy_verify_always_mismatches),
		cmocka_unit_test(login_verify_of_unverifiable_hash_costs_a_dummy),
		cmocka_unit_test(login_verify_of_cheap_weak_hash_costs_a_dummy),
		cmocka_unit_test(mix_pick_is_stable_and_spreads),
		cmocka_unit_test(mix_is_bounded),
		cmocka_unit_test(unknown_login_costs_its_sampled_hash),
		cmocka_unit_test(policy_from_json_defaults_and_clamps),
		cmocka_unit_test(secret_digest_round_trip),
		cmocka_unit_test(secret_check_rejects_malformed_stored_values),
		cmocka_unit_test(rand_hex_gives_lowercase_hex),
		cmocka_unit_test(rand_alnum_gives_letters_and_digits),
		cmocka_unit_test(rand_b64url_gives_unpadded_base64url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
