/*
 * curlsym.c: the libcurl functions upstream.c calls, resolved when the
 * first upstream call needs them (curlsym.h, lib/base/dynlib.c).
 */
#include "extern.h"
#include "curlsym.h"

struct curlsym	 curlsym;

static const struct dynsym curl_syms[] = {
	{ "curl_global_init", offsetof(struct curlsym, global_init) },
	{ "curl_global_cleanup", offsetof(struct curlsym, global_cleanup) },
	{ "curl_easy_init", offsetof(struct curlsym, easy_init) },
	{ "curl_easy_reset", offsetof(struct curlsym, easy_reset) },
	{ "curl_easy_setopt", offsetof(struct curlsym, easy_setopt) },
	{ "curl_easy_perform", offsetof(struct curlsym, easy_perform) },
	{ "curl_easy_getinfo", offsetof(struct curlsym, easy_getinfo) },
	{ "curl_easy_cleanup", offsetof(struct curlsym, easy_cleanup) },
};

int
curlsym_load(void)
{
	return dynlib_load(DYNLIB_CURL, curl_syms,
	    sizeof(curl_syms) / sizeof(curl_syms[0]), &curlsym);
}
