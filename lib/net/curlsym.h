/*
 * latchkey: the libcurl functions upstream.c calls, through pointers
 * that curlsym_load fills on first use (lib/base/dynlib.c), so that a
 * process that makes no upstream call never maps libcurl.  Include this
 * instead of <curl/curl.h>: after it, curl_easy_init() and the others
 * call through the table; check curlsym_load() before the first call.
 */
#ifndef LATCHKEY_CURLSYM_H
#define LATCHKEY_CURLSYM_H

#include <curl/curl.h>

struct curlsym {
	__typeof__(curl_global_init)	*global_init;
	__typeof__(curl_global_cleanup)	*global_cleanup;
	__typeof__(curl_easy_init)	*easy_init;
	__typeof__(curl_easy_reset)	*easy_reset;
	__typeof__(curl_easy_setopt)	*easy_setopt;
	__typeof__(curl_easy_perform)	*easy_perform;
	__typeof__(curl_easy_getinfo)	*easy_getinfo;
	__typeof__(curl_easy_cleanup)	*easy_cleanup;
};

extern struct curlsym curlsym;

/* Load libcurl and resolve the table (once).  0, or -1 (logged once). */
int		 curlsym_load(void);

/* libcurl's type-checking wrappers (typecheck-gcc.h) would call the
 * functions by name: the calls go through the table instead. */
#undef curl_easy_setopt
#undef curl_easy_getinfo

#define curl_global_init		(*curlsym.global_init)
#define curl_global_cleanup		(*curlsym.global_cleanup)
#define curl_easy_init			(*curlsym.easy_init)
#define curl_easy_reset			(*curlsym.easy_reset)
#define curl_easy_setopt		(*curlsym.easy_setopt)
#define curl_easy_perform		(*curlsym.easy_perform)
#define curl_easy_getinfo		(*curlsym.easy_getinfo)
#define curl_easy_cleanup		(*curlsym.easy_cleanup)

#endif /* !LATCHKEY_CURLSYM_H */
