/*
 * Vocabularies: lookups over an enum's names (base.h).
 */
#include <string.h>

#include "extern.h"

int
vocab_find(const struct vocab *v, const char *s)
{
	const char	*name;
	size_t		 i;

	if (s == NULL)
		return -1;
	for (i = 0; i < v->n; i++)
		if ((name = v->name(i)) != NULL && strcmp(name, s) == 0)
			return (int)i;
	return -1;
}

const char *
vocab_name(const struct vocab *v, size_t i)
{

	return i < v->n ? v->name(i) : NULL;
}
