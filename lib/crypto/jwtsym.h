/*
 * latchkey: the libjwt functions token.c calls, through pointers that
 * jwtsym_load fills when the first token is verified or an HS256 one
 * signed (lib/base/dynlib.c): RS256 and ES256 tokens are signed with
 * OpenSSL directly, so a plain CGI request that verifies no JWT (a
 * password or refresh grant with a client secret, the discovery
 * document, the JWKS) never maps libjwt.  Include this instead of
 * <jwt.h>: after it, jwt_decode() and the others call through the
 * table; check jwtsym_load() before the first call.
 */
#ifndef LATCHKEY_JWTSYM_H
#define LATCHKEY_JWTSYM_H

#include <jwt.h>

struct jwtsym {
	__typeof__(jwt_new)		*create;
	__typeof__(jwt_free)		*destroy;
	__typeof__(jwt_set_alg)		*set_alg;
	__typeof__(jwt_get_alg)		*get_alg;
	__typeof__(jwt_add_grants_json)	*add_grants_json;
	__typeof__(jwt_get_grants_json)	*get_grants_json;
	__typeof__(jwt_encode_str)	*encode_str;
	__typeof__(jwt_decode)		*decode;
};

extern struct jwtsym jwtsym;

/* Load libjwt and resolve the table (once).  0, or -1 (logged once). */
int		 jwtsym_load(void);

#define jwt_new			(*jwtsym.create)
#define jwt_free		(*jwtsym.destroy)
#define jwt_set_alg		(*jwtsym.set_alg)
#define jwt_get_alg		(*jwtsym.get_alg)
#define jwt_add_grants_json	(*jwtsym.add_grants_json)
#define jwt_get_grants_json	(*jwtsym.get_grants_json)
#define jwt_encode_str		(*jwtsym.encode_str)
#define jwt_decode		(*jwtsym.decode)

#endif /* !LATCHKEY_JWTSYM_H */
