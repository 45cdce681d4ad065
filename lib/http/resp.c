/*
 * Building a response: status, extra headers and a JSON body.  The
 * responder (cgi-bin) writes it out; tests inspect it directly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

void
resp_init(struct lk_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->status = 200;
	r->content_type = "application/json";
	r->outcome = "ok";
	buf_init(&r->headers);
	buf_init(&r->body);
}

/* Bodies carry tokens, headers may: cleansed before they are freed. */
void
resp_clear(struct lk_resp *r)
{
	if (r->headers.p != NULL)
		OPENSSL_cleanse(r->headers.p, r->headers.cap);
	if (r->body.p != NULL)
		OPENSSL_cleanse(r->body.p, r->body.cap);
	buf_clear(&r->headers);
	buf_clear(&r->body);
}

int
resp_header(struct lk_resp *r, const char *name, const char *fmt, ...)
{
	char	 val[1024];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	/* A header value never carries CR or LF (response splitting). */
	if (n < 0 || (size_t)n >= sizeof(val) || strpbrk(val, "\r\n") != NULL)
		return -1;
	return buf_printf(&r->headers, "%s: %s\r\n", name, val);
}

void
resp_nostore(struct lk_resp *r)
{
	/* RFC 6749 5.1: token responses must not be cached. */
	resp_header(r, "Cache-Control", "no-store");
	resp_header(r, "Pragma", "no-cache");
}

void
resp_client(struct lk_resp *r, const char *id)
{
	log_escape(r->client_id, sizeof(r->client_id), id);
	if (strlen(id) < sizeof(r->cors_client))
		memcpy(r->cors_client, id, strlen(id) + 1);
	else
		r->cors_client[0] = '\0';
}

int
resp_json(struct lk_resp *r, int status, const json_t *j)
{
	char	*s;
	int	 rc;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		return -1;
	r->status = status;
	buf_reset(&r->body);
	rc = buf_puts(&r->body, s);
	OPENSSL_cleanse(s, strlen(s));
	free(s);
	return rc;
}
