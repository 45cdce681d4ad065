/*
 * tenant_of.h: the tenant of a JSON object, parsed as the responder
 * parses it (record_parse), for the unit tests that hand a tenant to
 * the code under test.  The last one is kept until the next call, in
 * each file that includes this.
 */
#ifndef TENANT_OF_H
#define TENANT_OF_H

#include <stdlib.h>

static inline const struct tenant *
tenant_of(const json_t *j)
{
	static struct tenant	 t;

	record_clear(REC_TENANT, &t);
	if (record_parse(REC_TENANT, (json_t *)j, &t) == -1)
		abort();
	return &t;
}

#endif /* !TENANT_OF_H */
