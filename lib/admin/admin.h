/*
 * latchkey: what only latchkeyctl uses.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_ADMIN_H
#define LATCHKEY_ADMIN_H

/* ------------------------------------------------------------------ */
/* auth0_export.c: Auth0 user exports for latchkeyctl import-auth0.     */

/* The users of an export file: NDJSON (one object a line) or a JSON
 * array.  A new array of objects, or NULL with err ("line N: ..."). */
json_t		*auth0_export_parse(const char *text, size_t len, char *err,
		    size_t errsz);
/* One Auth0 user as a latchkey user spec (SK_USER shape) in connection,
 * its password hash kept as it is.  0, or -1 with err saying why the
 * user cannot be imported (e.g. a hash algorithm latchkey cannot verify). */
int		 auth0_user_convert(const json_t *in, const char *connection,
		    json_t **out, char *err, size_t errsz);

#endif /* !LATCHKEY_ADMIN_H */
