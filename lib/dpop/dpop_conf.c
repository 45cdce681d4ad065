/*
 * The settings that ask for DPoP or the resource parameter
 * (docs/COMPAT.md 10.1, 10.6): an API's "proof_of_possession", as
 * Auth0's Management API names it (ResourceServerProofOfPossession:
 * mechanism "dpop"|"mtls", required, required_for
 * "public_clients"|"all_clients"), and the tenant's
 * resource_parameter_profile vocabulary.  A client's
 * require_proof_of_possession is a plain boolean of record.c.
 */
#include <string.h>

#include "extern.h"

enum pop_member { POP_MECHANISM, POP_REQUIRED, POP_REQUIRED_FOR,
	POP__MAX };
static const char *const pop_members[POP__MAX] = {
	[POP_MECHANISM] = "mechanism",
	[POP_REQUIRED] = "required",
	[POP_REQUIRED_FOR] = "required_for",
};

/* latchkey serves DPoP only: mtls is refused rather than ignored. */
#define MECHANISM	"dpop"

enum required_for { RF_PUBLIC, RF_ALL, RF__MAX };
static const char *const required_fors[RF__MAX] = {
	[RF_PUBLIC] = "public_clients",
	[RF_ALL] = "all_clients",
};

static const char *const resprofs[DPOP_RESPROF__MAX] = {
	[DPOP_RESPROF_AUDIENCE] = "audience",
	[DPOP_RESPROF_COMPAT] = "compatibility",
};

static const char *
required_for_name(size_t i)
{
	return i < RF__MAX ? required_fors[i] : NULL;
}

static const char *
resprof_name(size_t i)
{
	return i < DPOP_RESPROF__MAX ? resprofs[i] : NULL;
}

static const struct vocab required_for_vocab = { "required_for", RF__MAX,
	required_for_name };
const struct vocab dpop_resprof_vocab = { "resource parameter profile",
	DPOP_RESPROF__MAX, resprof_name };

const char *
dpop_pop_problem(const json_t *v)
{
	const char	*k, *mech;
	json_t		*e;
	size_t		 i;

	if (!json_is_object(v))
		return "not an object";
	json_object_foreach((json_t *)v, k, e) {
		for (i = 0; i < POP__MAX && strcmp(k, pop_members[i]) != 0; i++)
			continue;
		if (i == POP__MAX)
			return "only mechanism, required and required_for are "
			    "allowed";
	}
	mech = json_string_value(json_object_get(v, pop_members[POP_MECHANISM]));
	if (mech == NULL || strcmp(mech, MECHANISM) != 0)
		return "mechanism must be \"dpop\" (mtls is not served)";
	if (!json_is_boolean(json_object_get(v, pop_members[POP_REQUIRED])))
		return "required must be true or false";
	e = json_object_get(v, pop_members[POP_REQUIRED_FOR]);
	if (e != NULL && vocab_find(&required_for_vocab,
	    json_string_value(e)) < 0)
		return "required_for must be public_clients or all_clients";
	return NULL;
}

int
dpop_api_requires(const json_t *pop, int public_client)
{
	int	 rf;

	if (pop == NULL ||
	    !json_is_true(json_object_get(pop, pop_members[POP_REQUIRED])))
		return 0;
	rf = vocab_find(&required_for_vocab, json_string_value(
	    json_object_get(pop, pop_members[POP_REQUIRED_FOR])));
	/* Without required_for, required means every client. */
	return rf != RF_PUBLIC || public_client;
}
