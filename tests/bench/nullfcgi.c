/*
 * nullfcgi: a FastCGI responder that does nothing (issue 7).  It reads
 * the request body and answers a fixed small JSON object, through the
 * same libfcgi stdio layer latchkey.fcgi uses, so that `make bench` can
 * measure the ceiling of lighttpd + FastCGI + wrk on this machine: no
 * responder can answer faster than this one.
 */
#include "fcgi_stdio.h"

#include <stdlib.h>

static const char answer[] =
    "{\"access_token\":\"null\",\"token_type\":\"Bearer\",\"expires_in\":3600}";

int
main(void)
{
	static char	 body[65536];
	const char	*cl;
	long		 n;

	while (FCGI_Accept() >= 0) {
		if ((cl = getenv("CONTENT_LENGTH")) != NULL &&
		    (n = atol(cl)) > 0 && n <= (long)sizeof(body))
			fread(body, 1, (size_t)n, stdin);
		printf("Status: 200 OK\r\n"
		    "Content-Type: application/json\r\n"
		    "Content-Length: %lu\r\n\r\n%s",
		    (unsigned long)(sizeof(answer) - 1), answer);
	}
	return 0;
}
