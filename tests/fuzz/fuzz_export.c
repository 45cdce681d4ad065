/*
 * fuzz_export: the reader of Auth0 user exports (lib/admin/
 * auth0_export.c, `latchkeyctl import-auth0`): NDJSON or a JSON array,
 * then each user converted with its password hash.
 *
 * Input: the export file's text.  Every file is either users, each
 * converted or refused with a reason, or refused with a line number.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	*users, *out;
	size_t	 i;
	char	 err[512];

	err[0] = '\0';
	users = auth0_export_parse((const char *)data, size, err, sizeof(err));
	if (users == NULL) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	if (!json_is_array(users))
		abort();
	for (i = 0; i < json_array_size(users); i++) {
		out = NULL;
		err[0] = '\0';
		if (auth0_user_convert(json_array_get(users, i),
		    "Username-Password-Authentication", &out, err,
		    sizeof(err)) == 0) {
			if (!json_is_object(out))
				abort();
		} else if (err[0] == '\0')
			abort();
		json_decref(out);
	}
	json_decref(users);
	return 0;
}
