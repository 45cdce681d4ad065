/*
 * guard_net.c: the end-user IP address and allowlists (docs/COMPAT.md
 * 6.4, auth0-forwarded-for and Trust Token Endpoint IP Header).
 *
 * The end-user IP is the web server's REMOTE_ADDR, unless the request
 * carries auth0-forwarded-for and its client (a) authenticated with its
 * client secret (client_secret_post or client_secret_basic: a
 * confidential application proving itself) and (b) is marked
 * "is_token_endpoint_ip_header_trusted" (Auth0's application setting).
 * Then the header's address is used and REMOTE_ADDR (the proxy) is kept
 * only for the audit log ("client_ip").  Anyone else's header is ignored
 * and logged: an untrusted caller cannot choose the IP its failures are
 * counted against.
 *
 * Auth0's behaviour for an invalid value or a comma list is not on
 * record; latchkey accepts exactly one IPv4 or IPv6 literal (blanks
 * around it allowed) and answers anything else from a trusted client
 * with 400 invalid_request, so a proxy bug cannot silently pool every
 * user under one key.  Addresses are canonicalised (inet_ntop, an
 * IPv4-mapped IPv6 address as IPv4) so one host has one counter.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

#define ADDR_TEXT_MAX	64	/* longer input is no address */

/* A parsed address: family and network-order bytes (4 or 16). */
struct addr {
	int		 af;
	unsigned char	 b[16];
};

static const unsigned char v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Parse one literal (no blanks); an IPv4-mapped IPv6 address becomes
 * IPv4.  0 or -1. */
static int
addr_parse(const char *s, struct addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->b) == 1) {
		a->af = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->b) != 1)
		return -1;
	a->af = AF_INET6;
	if (memcmp(a->b, v4mapped, sizeof(v4mapped)) == 0) {
		memmove(a->b, a->b + 12, 4);
		memset(a->b + 4, 0, 12);
		a->af = AF_INET;
	}
	return 0;
}

/* in without surrounding blanks into out (ADDR_TEXT_MAX).  0 or -1. */
static int
trim(const char *in, char *out)
{
	size_t	 n;

	if (in == NULL)
		return -1;
	in += strspn(in, " \t");
	n = strlen(in);
	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= ADDR_TEXT_MAX)
		return -1;
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
}

int
guard_ip_canon(const char *in, char *out, size_t outsz)
{
	char		 t[ADDR_TEXT_MAX];
	struct addr	 a;

	if (trim(in, t) == -1 || addr_parse(t, &a) == -1)
		return -1;
	return inet_ntop(a.af, a.b, out, (socklen_t)outsz) == NULL ? -1 : 0;
}

int
guard_cidr_match(const char *cidr, const char *ip)
{
	char		 t[ADDR_TEXT_MAX], *slash, *end;
	struct addr	 net, a;
	long		 bits, max;
	unsigned char	 mask;
	size_t		 whole;

	if (trim(cidr, t) == -1)
		return -1;
	if ((slash = strchr(t, '/')) != NULL)
		*slash = '\0';
	if (addr_parse(t, &net) == -1)
		return -1;
	/* The prefix counts bits of the address as written. */
	max = strchr(t, ':') != NULL ? 128 : 32;
	bits = max;
	if (slash != NULL) {
		bits = strtol(slash + 1, &end, 10);
		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' ||
		    bits < 0 || bits > max)
			return -1;
	}
	/* "::ffff:10.0.0.0/104" is 10.0.0.0/8 once mapped. */
	if (max == 128 && net.af == AF_INET && (bits -= 96) < 0)
		return -1;
	if (ip == NULL || addr_parse(ip, &a) == -1 || a.af != net.af)
		return 0;
	whole = (size_t)bits / 8;
	if (memcmp(a.b, net.b, whole) != 0)
		return 0;
	if (bits % 8 == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - bits % 8));
	return (a.b[whole] & mask) == (net.b[whole] & mask);
}

int
guard_allowed(const json_t *list, const char *ip)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(list, i, v)
		if (json_is_string(v) &&
		    guard_cidr_match(json_string_value(v), ip) == 1)
			return 1;
	return 0;
}

/* The client may set the end-user IP (the rule above). */
static int
header_trusted(const struct client *c)
{

	if (c == NULL || c->rec.json == NULL)
		return 0;
	if (c->method != CLIENT_AUTH_SECRET_POST &&
	    c->method != CLIENT_AUTH_SECRET_BASIC)
		return 0;
	return c->rec.ip_header_trusted;
}

int
guard_ip(const struct lk_req *req, const struct client *c,
    enum guard_ep ep, struct guard_who *w, struct lk_resp *resp)
{
	char	 ip[GUARD_IP_MAX], eid[96];

	memset(w, 0, sizeof(*w));
	w->ep = ep;
	w->client_id = c != NULL ? c->client_id : NULL;
	/* No usable REMOTE_ADDR (a misconfigured server): one shared key. */
	if (guard_ip_canon(req->remote_addr, w->ip, sizeof(w->ip)) == -1)
		snprintf(w->ip, sizeof(w->ip), "unknown");
	if (req->forwarded_for == NULL)
		return 0;
	if (!header_trusted(c)) {
		log_escape(eid, sizeof(eid), w->client_id);
		lk_info("auth0-forwarded-for ignored: client %s is not trusted "
		    "for it or did not authenticate with its secret", eid);
		return 0;
	}
	if (guard_ip_canon(req->forwarded_for, ip, sizeof(ip)) == -1) {
		oerr_write(resp, OERR_BAD_FORWARDED_FOR, NULL);
		return -1;
	}
	memcpy(w->peer, w->ip, sizeof(w->peer));
	memcpy(w->ip, ip, sizeof(w->ip));
	return 0;
}
