/*
 * jwtsym.c: the libjwt functions token.c calls, resolved when the first
 * token needs them (jwtsym.h, lib/base/dynlib.c).
 */
#include "extern.h"
#include "jwtsym.h"

struct jwtsym	 jwtsym;

static const struct dynsym jwt_syms[] = {
	{ "jwt_new", offsetof(struct jwtsym, create) },
	{ "jwt_free", offsetof(struct jwtsym, destroy) },
	{ "jwt_set_alg", offsetof(struct jwtsym, set_alg) },
	{ "jwt_get_alg", offsetof(struct jwtsym, get_alg) },
	{ "jwt_add_grants_json", offsetof(struct jwtsym, add_grants_json) },
	{ "jwt_get_grants_json", offsetof(struct jwtsym, get_grants_json) },
	{ "jwt_encode_str", offsetof(struct jwtsym, encode_str) },
	{ "jwt_decode", offsetof(struct jwtsym, decode) },
};

int
jwtsym_load(void)
{
	return dynlib_load(DYNLIB_JWT, jwt_syms,
	    sizeof(jwt_syms) / sizeof(jwt_syms[0]), &jwtsym);
}
