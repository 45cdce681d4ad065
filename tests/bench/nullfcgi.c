/*
 * nullfcgi: a FastCGI responder that does nothing.  It reads
 * the request body and answers a fixed small JSON object through libfcgi
 * as latchkey.fcgi does (the FCGX calls, the body read to its end record,
 * then a close without libfcgi's lingering shutdown), so that `make bench`
 * can measure the ceiling of lighttpd + FastCGI + wrk on this machine: no
 * responder can answer faster than this one.
 */
#include <stdio.h>
#include <stdlib.h>

#include <fcgiapp.h>

static const char answer[] =
    "{\"access_token\":\"null\",\"token_type\":\"Bearer\",\"expires_in\":3600}";

int
main(void)
{
	static char	 body[65536];
	FCGX_Request	 r;
	const char	*cl;
	long		 n;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&r) == 0) {
		if ((cl = FCGX_GetParam("CONTENT_LENGTH", r.envp)) != NULL &&
		    (n = atol(cl)) > 0 && n <= (long)sizeof(body))
			FCGX_GetStr(body, (int)n, r.in);
		FCGX_FPrintF(r.out, "Status: 200 OK\r\n"
		    "Content-Type: application/json\r\n"
		    "Content-Length: %lu\r\n\r\n%s",
		    (unsigned long)(sizeof(answer) - 1), answer);
		if (FCGX_GetChar(r.in) == EOF)
			FCGX_Detach(&r);
		FCGX_Finish_r(&r);
	}
	return 0;
}
