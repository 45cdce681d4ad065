/*
 * latchkey: the libargon2 and libxcrypt functions hash.c calls, through
 * pointers that hashsym_load fills when the first password is hashed or
 * checked (lib/base/dynlib.c), so that a plain CGI request that checks
 * no password (a refresh, the discovery document, the JWKS) never maps
 * either library.  Include this instead of <argon2.h> and <crypt.h>:
 * after it, argon2id_hash_encoded() and the others call through the
 * table; check hashsym_load() before the first call.
 */
#ifndef LATCHKEY_HASHSYM_H
#define LATCHKEY_HASHSYM_H

#include <argon2.h>
#include <crypt.h>

struct hashsym {
	__typeof__(argon2_encodedlen)		*encodedlen;
	__typeof__(argon2id_hash_encoded)	*id_hash_encoded;
	__typeof__(argon2_verify_ctx)		*verify_ctx;
	__typeof__(argon2_error_message)	*error_message;
	__typeof__(crypt_rn)			*rn;
};

extern struct hashsym hashsym;

/* Load libargon2 and libcrypt and resolve the table (once).  0, or -1
 * (logged once). */
int		 hashsym_load(void);

#define argon2_encodedlen		(*hashsym.encodedlen)
#define argon2id_hash_encoded		(*hashsym.id_hash_encoded)
#define argon2_verify_ctx		(*hashsym.verify_ctx)
#define argon2_error_message		(*hashsym.error_message)
#define crypt_rn			(*hashsym.rn)

#endif /* !LATCHKEY_HASHSYM_H */
