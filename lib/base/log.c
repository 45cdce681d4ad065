/*
 * The one logging function.  Lines go to stderr, which every FastCGI web
 * server collects in its error log.  Callers pass request-derived text
 * through log_escape() first; passwords, secrets, tokens and Authorization
 * values are never arguments here (docs/security.md).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "extern.h"

static const char *const levels[] = {
	"error",	/* LOG_LVL_ERR */
	"warning",	/* LOG_LVL_WARN */
	"info",		/* LOG_LVL_INFO */
	"debug",	/* LOG_LVL_DEBUG */
};

static void	(*sink)(enum log_level, const char *);

void
log_sink(void (*fn)(enum log_level, const char *))
{
	sink = fn;
}

void
log_msg(enum log_level lvl, const char *func, const char *fmt, ...)
{
	char	 msg[2048], line[2200];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "latchkey: %s: %s: %s\n", levels[lvl],
	    func, msg);
	if (sink != NULL) {
		sink(lvl, line);
		return;
	}
	/* One write per line so lines from several processes do not mix. */
	fputs(line, stderr);
	fflush(stderr);
}

void
log_escape(char *dst, size_t dstsz, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t		  i = 0;
	unsigned char	  c;

	if (dstsz == 0)
		return;
	for (; src != NULL && *src != '\0'; src++) {
		c = (unsigned char)*src;
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			if (i + 1 >= dstsz)
				break;
			dst[i++] = (char)c;
			continue;
		}
		if (i + 4 >= dstsz)
			break;
		dst[i++] = '\\';
		dst[i++] = 'x';
		dst[i++] = hex[c >> 4];
		dst[i++] = hex[c & 0xf];
	}
	dst[i] = '\0';
}
