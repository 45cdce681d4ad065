/*
 * hashsym.c: the libargon2 and libxcrypt functions hash.c calls,
 * resolved when the first password needs them (hashsym.h,
 * lib/base/dynlib.c).  The two libraries are loaded together: a login
 * checks an argon2id hash or, for an unknown user, the dummy one, and an
 * imported crypt(3) hash then asks for an argon2id rehash.
 */
#include "extern.h"
#include "hashsym.h"

struct hashsym	 hashsym;

static const struct dynsym argon2_syms[] = {
	{ "argon2_encodedlen", offsetof(struct hashsym, encodedlen) },
	{ "argon2id_hash_encoded", offsetof(struct hashsym, id_hash_encoded) },
	{ "argon2_verify_ctx", offsetof(struct hashsym, verify_ctx) },
	{ "argon2_error_message", offsetof(struct hashsym, error_message) },
};

static const struct dynsym crypt_syms[] = {
	{ "crypt_rn", offsetof(struct hashsym, rn) },
};

int
hashsym_load(void)
{
	if (dynlib_load(DYNLIB_ARGON2, argon2_syms,
	    sizeof(argon2_syms) / sizeof(argon2_syms[0]), &hashsym) == -1)
		return -1;
	return dynlib_load(DYNLIB_CRYPT, crypt_syms,
	    sizeof(crypt_syms) / sizeof(crypt_syms[0]), &hashsym);
}
