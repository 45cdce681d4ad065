/*
 * upstream.c: outgoing HTTPS calls through libcurl, for the connections
 * that check a password at another identity provider (docs/COMPAT.md
 * 12.2).  One easy handle per process, reset and reused for every call
 * (its connection cache keeps the TLS session to the upstream warm);
 * every option that matters is set again on each call:
 *  - https only (CURLOPT_PROTOCOLS_STR), peer and host verified, an
 *    optional CA file instead of the system's trust store;
 *  - no redirect followed: a 3xx is an answer like any other, which the
 *    caller refuses;
 *  - connect and total timeouts in milliseconds, no signals (the
 *    responder's own handlers stay in place);
 *  - the answer bounded by UPSTREAM_BODY_MAX as it arrives, no
 *    compressed encodings asked for (nothing to inflate).
 * libcurl is loaded by the first call (curlsym.c); when it cannot be,
 * every call fails with UP_ERR, which the logins answer as an upstream
 * that cannot be reached.
 * Nothing here logs the form: it carries a password and a secret.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"
#include "curlsym.h"

static CURL	*handle;
static int	 inited;

static const char *const rc_names[UP__MAX] = {
	[UP_OK] = "ok",
	[UP_TIMEOUT] = "timed out",
	[UP_CONNECT] = "cannot connect",
	[UP_TLS] = "TLS failure",
	[UP_TOO_BIG] = "answer too large",
	[UP_REFUSED] = "URL refused",
	[UP_ERR] = "failed",
};

static const char *
rc_name(size_t i)
{
	return i < UP__MAX ? rc_names[i] : NULL;
}

const struct vocab upstream_rc_vocab = { "upstream result", UP__MAX,
	rc_name };

void
upstream_call_init(struct upstream_call *c)
{

	memset(c, 0, sizeof(*c));
	buf_init(&c->body);
}

void
upstream_call_clear(struct upstream_call *c)
{

	if (c->body.p != NULL)
		OPENSSL_cleanse(c->body.p, c->body.cap);
	buf_clear(&c->body);
}

/* libcurl's write callback: append, refusing more than the bound (a
 * short count makes libcurl stop with CURLE_WRITE_ERROR). */
static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf	*b = arg;
	size_t		 len;

	if (size != 0 && n > UPSTREAM_BODY_MAX / size)
		return 0;
	len = size * n;
	if (b->len + len > UPSTREAM_BODY_MAX || buf_append(b, p, len) == -1)
		return 0;
	return len;
}

/* The process's handle, made on first use (libcurl loaded then). */
static CURL *
easy(void)
{

	if (curlsym_load() == -1)
		return NULL;
	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		inited = 1;
	}
	if (handle == NULL)
		handle = curl_easy_init();
	else
		curl_easy_reset(handle);
	return handle;
}

/* The options of one call on h.  0 or -1. */
static int
setup(CURL *h, struct upstream_call *c)
{
	int	 bad = 0;

	bad |= curl_easy_setopt(h, CURLOPT_URL, c->url) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    c->connect_ms) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->total_ms) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)UPSTREAM_BODY_MAX) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->body) != CURLE_OK;
	bad |= curl_easy_setopt(h, CURLOPT_USERAGENT,
	    "latchkey/" LK_VERSION) != CURLE_OK;
	if (c->ca_file != NULL)
		bad |= curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file) !=
		    CURLE_OK;
	if (c->form != NULL)
		bad |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->form) !=
		    CURLE_OK;
	return bad ? -1 : 0;
}

/* A libcurl result as ours. */
static enum upstream_rc
classify(CURLcode e)
{

	switch (e) {
	case CURLE_OK:
		return UP_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return UP_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return UP_CONNECT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		return UP_TLS;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		return UP_TOO_BIG;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return UP_REFUSED;
	default:
		return UP_ERR;
	}
}

enum upstream_rc
upstream_fetch(struct upstream_call *c)
{
	CURL		*h;
	CURLcode	 e;
	double		 t0 = lk_mono_ms();
	enum upstream_rc rc;

	c->status = 0;
	buf_reset(&c->body);
	if (c->url == NULL || strncmp(c->url, "https://", 8) != 0)
		return UP_REFUSED;
	if ((h = easy()) == NULL || setup(h, c) == -1)
		return UP_ERR;
	e = curl_easy_perform(h);
	c->ms = lk_mono_ms() - t0;
	/* Never leave the form's pointer behind in the handle. */
	(void)curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	if ((rc = classify(e)) != UP_OK)
		return rc;
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status) !=
	    CURLE_OK || buf_append(&c->body, "", 0) == -1)
		return UP_ERR;
	return UP_OK;
}

int
upstream_form_add(struct buf *form, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *s;
	char		 esc[3];

	if (form->len > 0 && buf_append(form, "&", 1) == -1)
		return -1;
	if (buf_puts(form, name) == -1 || buf_append(form, "=", 1) == -1)
		return -1;
	/* RFC 3986 2.3: unreserved characters as they are, the rest %XX. */
	for (s = (const unsigned char *)value; *s != '\0'; s++) {
		if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s) != NULL) {
			if (buf_append(form, s, 1) == -1)
				return -1;
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[*s >> 4];
		esc[2] = hex[*s & 15];
		if (buf_append(form, esc, 3) == -1)
			return -1;
	}
	return 0;
}

void
upstream_close(void)
{

	if (handle != NULL)
		curl_easy_cleanup(handle);
	handle = NULL;
	if (inited)
		curl_global_cleanup();
	inited = 0;
}
