/*
 * Identifiers people type: email addresses and phone numbers, checked
 * and normalised in one place for every path that takes them (the admin
 * command, imports, /passwordless/start, /oauth/ro, the otp grant), so
 * that what latchkeyctl accepts is what the endpoints accept.
 *
 * Phone numbers are E.164 exactly as Auth0 checks them at
 * /passwordless/start: ^\+[0-9]{1,15}$ (docs/COMPAT.md 2); no
 * separators are dropped.  Email addresses are local@domain with a dotted
 * domain, no spaces or control characters, at most IDENT_MAX bytes,
 * ASCII-lowercased (case folding must not depend on a locale).
 */
#include <string.h>

#include "extern.h"

int
ident_phone(const char *in, char *out, size_t outsz)
{
	size_t	 n;

	if (in == NULL || in[0] != '+')
		return -1;
	n = strlen(in);
	if (n < 2 || n > 16 || n >= outsz ||
	    strspn(in + 1, "0123456789") != n - 1)
		return -1;
	memcpy(out, in, n + 1);
	return 0;
}

int
ident_email(const char *in, char *out, size_t outsz)
{
	const char	*at;
	size_t		 i, n;

	if (in == NULL || (at = strrchr(in, '@')) == NULL)
		return -1;
	n = strlen(in);
	if (at == in || at[1] == '\0' || strchr(at, '.') == NULL ||
	    at[strlen(at) - 1] == '.' || n >= outsz || n > IDENT_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		if ((unsigned char)in[i] <= ' ' || in[i] == 0x7f)
			return -1;
		out[i] = (in[i] >= 'A' && in[i] <= 'Z') ?
		    (char)(in[i] - 'A' + 'a') : in[i];
	}
	out[n] = '\0';
	return 0;
}

int
ident_email_ok(const char *in)
{
	char	 buf[IDENT_MAX + 1];

	return ident_email(in, buf, sizeof(buf)) == 0;
}

int
ident_phone_ok(const char *in)
{
	char	 buf[IDENT_MAX + 1];

	return ident_phone(in, buf, sizeof(buf)) == 0;
}
