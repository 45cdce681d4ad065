/*
 * dynlib.c: the libraries only some requests need, loaded on their
 * first use instead of at every start.  libcurl (the upstream identity
 * providers: lib/net/upstream.c), libldap and liblber (AD/LDAP
 * directories: lib/directory/ldap*.c) and libpq (the PostgreSQL store)
 * and what they pull in (GnuTLS, Kerberos, nghttp2, ...) are some forty
 * shared objects whose relocation cost a plain CGI start about 20 ms
 * (docs/performance.md), for a request that then used none of them.
 * libargon2 and libcrypt (lib/crypto/hash.c) and libjwt with libb64
 * (lib/crypto/token.c: it verifies tokens; RS256 and ES256 ones are
 * signed with OpenSSL) are small, but mapping and relocating them still
 * cost a plain CGI request that uses none of them about 0.3 ms of its 3.
 *
 * Each library's file (curlsym.c, ldapsym.c, pqsym.c, hashsym.c,
 * jwtsym.c) declares the
 * functions it needs in a table of names and offsets; dynlib_load opens
 * the library with dlopen(3) (RTLD_NOW: every symbol bound at once, so
 * a library too old fails here and not in the middle of a call;
 * RTLD_LOCAL: its names stay out of the global scope) and fills the
 * caller's struct of function pointers.  A library that cannot be
 * loaded or lacks a function is logged once per process and tried again
 * at the next use: installing it needs no restart.
 */
#include <dlfcn.h>
#include <string.h>

#include "extern.h"

/* The SONAMEs of Debian 12's packages (tests/deps.sh names them). */
static const char *const sonames[DYNLIB__MAX] = {
	[DYNLIB_CURL] = "libcurl.so.4",		/* libcurl4 */
	[DYNLIB_LBER] = "liblber-2.5.so.0",	/* libldap-2.5-0 */
	[DYNLIB_LDAP] = "libldap-2.5.so.0",	/* libldap-2.5-0 */
	[DYNLIB_PQ] = "libpq.so.5",		/* libpq5 */
	[DYNLIB_ARGON2] = "libargon2.so.1",	/* libargon2-1 */
	[DYNLIB_CRYPT] = "libcrypt.so.1",	/* libcrypt1 */
	[DYNLIB_JWT] = "libjwt.so.0",		/* libjwt0 */
};

static struct {
	void	*handle;	/* NULL: not loaded (yet) */
	int	 loaded;	/* every symbol resolved */
	int	 logged;	/* a failure was logged */
} libs[DYNLIB__MAX];

const char *
dynlib_soname(enum dynlib lib)
{
	return lib < DYNLIB__MAX ? sonames[lib] : "?";
}

int
dynlib_is_loaded(enum dynlib lib)
{
	return lib < DYNLIB__MAX && libs[lib].loaded;
}

/* Log why lib cannot be used, once per process. */
static void
fail(enum dynlib lib, const char *why)
{
	if (libs[lib].logged)
		return;
	libs[lib].logged = 1;
	log_msg(LOG_LVL_ERR, "dynlib_load", "%s cannot be loaded: %s",
	    sonames[lib], why != NULL ? why : "unknown error");
}

int
dynlib_load(enum dynlib lib, const struct dynsym *syms, size_t n, void *tab)
{
	void	*p;
	size_t	 i;

	if (lib >= DYNLIB__MAX)
		return -1;
	if (libs[lib].loaded)
		return 0;
	if (libs[lib].handle == NULL &&
	    (libs[lib].handle = dlopen(sonames[lib],
	    RTLD_NOW | RTLD_LOCAL)) == NULL) {
		fail(lib, dlerror());
		return -1;
	}
	for (i = 0; i < n; i++) {
		(void)dlerror();
		if ((p = dlsym(libs[lib].handle, syms[i].name)) == NULL) {
			fail(lib, dlerror());
			return -1;
		}
		/* POSIX dlsym(3): a function's address as a void *. */
		memcpy((char *)tab + syms[i].off, &p, sizeof(p));
	}
	libs[lib].loaded = 1;
	return 0;
}
