/*
 * latchkey: outgoing HTTPS calls (upstream.c), for the connections that
 * check a password at another identity provider (lib/directory/).
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_NET_H
#define LATCHKEY_NET_H

/* The most an upstream answer may hold; a longer one is refused. */
#define UPSTREAM_BODY_MAX	(256 * 1024)

/* How a call ended.  Only UP_OK has a status and a body. */
enum upstream_rc {
	UP_OK,			/* an HTTP answer, any status */
	UP_TIMEOUT,		/* the connect or total timeout ran out */
	UP_CONNECT,		/* no connection (DNS, refused, unreachable) */
	UP_TLS,			/* the certificate or handshake failed */
	UP_TOO_BIG,		/* the answer exceeded UPSTREAM_BODY_MAX */
	UP_REFUSED,		/* not an https:// URL, or a redirect */
	UP_ERR,			/* anything else (memory, libcurl) */
	UP__MAX
};
extern const struct vocab upstream_rc_vocab;

struct upstream_call {
	const char	*url;		/* https:// only */
	const char	*form;		/* x-www-form-urlencoded body; NULL: GET */
	const char	*ca_file;	/* NULL: the system's trust store */
	long		 connect_ms;
	long		 total_ms;
	/* Results. */
	long		 status;	/* HTTP status (UP_OK) */
	struct buf	 body;		/* the answer (UP_OK), NUL-terminated */
	double		 ms;		/* how long the call took */
};

/* Zero c; upstream_call_clear cleanses and frees the body. */
void		 upstream_call_init(struct upstream_call *);
void		 upstream_call_clear(struct upstream_call *);
/*
 * Make the call on the process's one reused libcurl handle: TLS peer
 * and host verified, https only, no redirect followed, the timeouts,
 * the body bounded.  Never blocks longer than total_ms (plus DNS's own
 * bound: libcurl's threaded resolver is interrupted at the timeout).
 */
enum upstream_rc upstream_fetch(struct upstream_call *);
/* Append name=value (RFC 3986 percent-encoded, '&' between pairs) to a
 * form.  0 or -1 (ENOMEM); cleanse the form after use when it holds a
 * secret. */
int		 upstream_form_add(struct buf *form, const char *name,
		    const char *value);
/* At exit: release the handle. */
void		 upstream_close(void);

#endif /* !LATCHKEY_NET_H */
