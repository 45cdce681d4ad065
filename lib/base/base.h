/*
 * latchkey: buf, clock and log: what every file uses.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_BASE_H
#define LATCHKEY_BASE_H

/* ------------------------------------------------------------------ */
/* buf.c: a growable byte buffer (always NUL-terminated).              */

struct buf {
	char	*p;	/* data, NUL-terminated; NULL until first append */
	size_t	 len;	/* bytes used, excluding the NUL */
	size_t	 cap;	/* bytes allocated */
};

void	 buf_init(struct buf *);
void	 buf_clear(struct buf *);		/* frees; buf usable again */
void	 buf_reset(struct buf *);		/* len = 0, keeps memory */
int	 buf_append(struct buf *, const void *, size_t);	/* -1 on ENOMEM */
int	 buf_puts(struct buf *, const char *);
int	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(__printf__, 2, 3)));

/* clock.c: milliseconds on the monotonic clock, for timings and waits. */
double	 lk_mono_ms(void);
time_t	 lk_now(void);	/* the wall clock's second (clock.c) */

/* proc.c: this process's pid, asked once (and again in a forked child);
 * n <= 256 random bytes for identifiers that are not secrets, from a
 * batch of getrandom(2).  0 or -1. */
pid_t	 lk_pid(void);
int	 lk_id_bytes(void *out, size_t n);

/* ------------------------------------------------------------------ */
/* log.c: one logging function; never pass secrets to it.              */

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Where log lines go (default: stderr); the responder sends them to the
 * FastCGI error stream so a daemonized web server still logs them. */
void	 log_sink(void (*)(enum log_level, const char *line));
void	 log_msg(enum log_level, const char *func, const char *fmt, ...)
	    __attribute__((format(__printf__, 3, 4)));
#define lk_err(...)	log_msg(LOG_LVL_ERR, __func__, __VA_ARGS__)
#define lk_warn(...)	log_msg(LOG_LVL_WARN, __func__, __VA_ARGS__)
#define lk_info(...)	log_msg(LOG_LVL_INFO, __func__, __VA_ARGS__)
/* Copy request-derived text into dst (size dstsz), escaping control
 * characters, quotes, backslashes and non-ASCII as \xNN, truncating. */
void	 log_escape(char *dst, size_t dstsz, const char *src);

/* ------------------------------------------------------------------ */
/* vocab.c: a vocabulary, the names of an enum's values.  Each one is  */
/* owned by one file (grant types: granttype.c, client authentication  */
/* methods: client.c, algorithms: key.c, strategies and application    */
/* types: record.c, OIDC scopes: scope.c, hash formats: hash.c); the   */
/* records, the admin command, discovery and the request path iterate  */
/* it instead of spelling its words again.                             */

struct vocab {
	const char	*what;			/* for messages: "grant type" */
	size_t		 n;			/* values 0 .. n - 1 */
	const char	*(*name)(size_t);	/* NULL: the value has no name */
};

/* The value named s, or -1. */
int		 vocab_find(const struct vocab *, const char *s);
/* The name of value i, or NULL. */
const char	*vocab_name(const struct vocab *, size_t i);

/* ------------------------------------------------------------------ */
/* dynlib.c: the libraries only some requests need (libcurl, libldap,  */
/* liblber, libpq, libargon2, libcrypt, libjwt), opened with dlopen(3) */
/* on first use; curlsym.c, ldapsym.c, pqsym.c, hashsym.c and          */
/* jwtsym.c hold the functions each file calls.                        */

enum dynlib {
	DYNLIB_CURL,
	DYNLIB_LBER,
	DYNLIB_LDAP,
	DYNLIB_PQ,
	DYNLIB_ARGON2,
	DYNLIB_CRYPT,
	DYNLIB_JWT,
	DYNLIB__MAX
};

/* A function to resolve: its name and where its pointer goes in the
 * caller's table. */
struct dynsym {
	const char	*name;
	size_t		 off;
};

/* Load lib (once) and store each of the n functions' addresses in tab.
 * 0, or -1 when the library or a function is missing (logged once per
 * process; the next call tries again). */
int		 dynlib_load(enum dynlib lib, const struct dynsym *syms,
		    size_t n, void *tab);
/* Has dynlib_load succeeded for lib? */
int		 dynlib_is_loaded(enum dynlib lib);
/* The file name dlopen looks for. */
const char	*dynlib_soname(enum dynlib lib);

#endif /* !LATCHKEY_BASE_H */
