/*
 * ldapsess.c: an AD/LDAP connection's directory (docs/COMPAT.md 14)
 * through OpenLDAP's libldap, no LDAP encoding of our own.  One session
 * per responder process, kept between logins and opened again when the
 * connection or its settings change or it broke (once per login, when
 * time is left).  TLS is required for ldap:// (StartTLS, RFC 4513 3)
 * unless the connection turns it off; the server certificate is always
 * checked (LDAP_OPT_X_TLS_DEMAND) against ca_file or the system's CAs.
 * Every call is bounded by the login's deadline: the network timeout
 * by upstream_connect_timeout_ms too.
 *
 * Search-then-bind: bind as the service account, search the base DN
 * with the escaped filter (at most 2 entries), then bind as the one
 * entry found, or, when there is none, against a DN that cannot exist,
 * so that an unknown user costs the directory the same bind (the answer
 * and its time do not tell existence).  Direct bind: bind as the DN
 * template or the UPN, then read the user's own entry.  Each bind asks
 * for the ppolicy response control.
 *
 * libldap is loaded by the first login (ldapsym.c): a process that
 * cannot load it answers as when no directory server answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <signal.h>
#include <time.h>

#include "extern.h"
#include "ldapsym.h"

#define SESS_KEY_MAX	(3 * REC_ID_LEN + REC_TEXT_LEN)
#define DN_MAX		1024
#define FILTER_MAX	2048
#define GUID_LEN	16
#define SESS_SIGNAL	(SIGRTMIN + 5)	/* admit.c: + 3, stall.c: + 4 */

static struct {
	LDAP		*ld;
	char		 key[SESS_KEY_MAX];	/* what ld was opened for */
} sess;

/* The socket being connected, for the handshake's watchdog. */
static volatile sig_atomic_t sess_fd = -1;

/* The profile claims in ldap_attrs order, the id's set apart. */
static const char *const claim_names[LDAP_PROFILE_N] = {
	NULL, "email", "name", "given_name", "family_name", "nickname",
	"preferred_username", "picture", "phone_number"
};

void
ldapsess_close(void)
{

	if (sess.ld != NULL)
		ldap_unbind_ext_s(sess.ld, NULL, NULL);
	sess.ld = NULL;
	sess.key[0] = '\0';
}

/* Milliseconds left before deadline, at least 1. */
static long
left_ms(double deadline)
{
	double	 d = deadline - lk_mono_ms();

	return d < 1 ? 1 : (long)d;
}

static struct timeval
ms_tv(long ms)
{
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

/* Both timeouts of ld for what is left of the login. */
static void
set_timeouts(LDAP *ld, const struct conn *c, double deadline)
{
	long		 left = left_ms(deadline), net;
	struct timeval	 op, nt;

	net = (long)c->upstream_connect_timeout_ms < left ?
	    (long)c->upstream_connect_timeout_ms : left;
	op = ms_tv(left);
	nt = ms_tv(net);
	(void)ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op);
	(void)ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &nt);
}

/* A transport failure: the session is closed, LDAPO_DOWN. */
static enum ldap_outcome
down(const struct conn *c, const char *what, int rc)
{

	lk_warn("connection %s: %s: %s (%d)", c->name, what,
	    ldap_err2string(rc), rc);
	ldapsess_close();
	return LDAPO_DOWN;
}

static int
is_transport(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ||
	    rc == LDAP_CONNECT_ERROR || rc == LDAP_UNAVAILABLE ||
	    rc == LDAP_BUSY;
}

/*
 * libldap bounds its waits for results, but not a TLS handshake (of an
 * ldaps:// URL or after StartTLS): with a network timeout set it polls
 * the socket for writing, which a server that accepts and never answers
 * leaves ready, and spins.  So the handshake has a watchdog: libldap
 * hands each new socket to sock_add, and when the login's time is up a
 * per-process POSIX timer, on its own real-time signal, shuts that
 * socket down; the handshake then fails instead of spinning.
 */
static void
sock_kill(int sig)
{
	int	 fd = (int)sess_fd;

	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);	/* async-signal-safe */
}

static int
sock_add(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
    struct ldap_conncb *ctx)
{
	ber_socket_t	 fd;

	if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd) == 1)
		sess_fd = fd;
	return 0;
}

static void
sock_del(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
}

/* Arm (ms > 0) or disarm (0) the watchdog: 0, or -1 without one. */
static int
watchdog(long ms)
{
	static timer_t		 tid;
	static int		 have_timer;
	struct sigevent		 sev;
	struct sigaction	 sa;
	struct itimerspec	 its;

	if (!have_timer) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = sock_kill;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		memset(&sev, 0, sizeof(sev));
		sev.sigev_notify = SIGEV_SIGNAL;
		sev.sigev_signo = SESS_SIGNAL;
		if (sigaction(SESS_SIGNAL, &sa, NULL) == -1 ||
		    timer_create(CLOCK_MONOTONIC, &sev, &tid) == -1)
			return -1;
		have_timer = 1;
	}
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (ms % 1000) * 1000000;
	if (ms == 0)
		sess_fd = -1;
	return timer_settime(tid, 0, &its, NULL) == -1 ? -1 : 0;
}

/* The options of a new handle: v3, no referrals, TLS demanded, the
 * watchdog told of each socket. */
static int
set_options(LDAP *ld, const struct conn *c)
{
	static const struct ldap_conncb cb = { sock_add, sock_del, NULL };
	int	 v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;

	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_CONNECT_CB, &cb) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != 0 ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != 0)
		return -1;
	if (c->ca_file != NULL && ldap_set_option(ld,
	    LDAP_OPT_X_TLS_CACERTFILE, c->ca_file) != 0)
		return -1;
	/* The TLS options above apply to this handle's own context. */
	return ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != 0 ? -1 : 0;
}

/* Connect (libldap tries the URLs in order) and, for ldap://, StartTLS,
 * under the watchdog.  LDAPO_OK, or the session is closed. */
static enum ldap_outcome
handshake(const struct conn *c, double deadline)
{
	int	 rc;

	if (watchdog(left_ms(deadline)) == -1) {
		lk_warn("connection %s: no timer for the TLS handshake",
		    c->name);
		ldapsess_close();
		return LDAPO_FAILED;
	}
	rc = ldap_connect(sess.ld);
	if (rc == LDAP_SUCCESS && c->ldap_starttls &&
	    !ldap_tls_inplace(sess.ld))
		rc = ldap_start_tls_s(sess.ld, NULL, NULL);
	(void)watchdog(0);
	if (rc == LDAP_SUCCESS)
		return LDAPO_OK;
	if (is_transport(rc))
		return down(c, "connect or TLS", rc);
	/* A certificate refused, or no TLS at the server. */
	lk_warn("connection %s: TLS: %s (%d)", c->name, ldap_err2string(rc),
	    rc);
	ldapsess_close();
	return LDAPO_FAILED;
}

/* The session for c: the kept one, or a new one connected (the URLs
 * tried in order by libldap) and, for ldap://, through StartTLS.
 * *fresh says which.  LDAPO_OK, LDAPO_DOWN or LDAPO_FAILED. */
static enum ldap_outcome
session(const struct conn *c, double deadline, int *fresh)
{
	char		 key[SESS_KEY_MAX];
	enum ldap_outcome o;

	snprintf(key, sizeof(key), "%s\n%s\n%s\n%d", c->name, c->ldap_url,
	    c->ca_file != NULL ? c->ca_file : "", c->ldap_starttls);
	*fresh = 0;
	if (sess.ld != NULL && strcmp(sess.key, key) == 0) {
		set_timeouts(sess.ld, c, deadline);
		return LDAPO_OK;
	}
	ldapsess_close();
	*fresh = 1;
	if (ldap_initialize(&sess.ld, c->ldap_url) != LDAP_SUCCESS ||
	    set_options(sess.ld, c) == -1) {
		lk_warn("connection %s: ldap_url or TLS settings refused by "
		    "libldap", c->name);
		ldapsess_close();
		return LDAPO_FAILED;
	}
	set_timeouts(sess.ld, c, deadline);
	if ((o = handshake(c, deadline)) != LDAPO_OK)
		return o;
	snprintf(sess.key, sizeof(sess.key), "%s", key);
	return LDAPO_OK;
}

/* The ppolicy error of a bind's response controls, PP_noError if none. */
static int
ppolicy_error(LDAPControl **ctrls)
{
	LDAPControl		*pc;
	LDAPPasswordPolicyError	 e = PP_noError;
	ber_int_t		 expire = -1, grace = -1;

	pc = ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE, ctrls,
	    NULL);
	if (pc == NULL || ldap_parse_passwordpolicy_control(sess.ld, pc,
	    &expire, &grace, &e) != LDAP_SUCCESS)
		return PP_noError;
	return (int)e;
}

/* What the result of a simple bind means. */
static enum ldap_outcome
bind_result(const struct conn *c, LDAPMessage *res)
{
	LDAPControl	**ctrls = NULL;
	char		 *diag = NULL;
	enum ldap_outcome o;
	int		  err = LDAP_OTHER, pp;

	if (ldap_parse_result(sess.ld, res, &err, NULL, &diag, NULL, &ctrls,
	    1) != LDAP_SUCCESS)
		return down(c, "bind result", LDAP_DECODING_ERROR);
	pp = ppolicy_error(ctrls);
	if (err == LDAP_SUCCESS)
		o = ldapconn_ppolicy(1, pp);
	else if (err == LDAP_INVALID_CREDENTIALS) {
		o = ldapconn_ppolicy(0, pp);
		if (o == LDAPO_WRONG)
			o = ldapconn_ad_code(diag);
	} else if (is_transport(err))
		o = down(c, "bind", err);
	else {
		lk_warn("connection %s: bind: %s (%d)", c->name,
		    ldap_err2string(err), err);
		o = LDAPO_FAILED;
	}
	ldap_controls_free(ctrls);
	ldap_memfree(diag);
	return o;
}

/* A simple bind as dn with password pw (RFC 4513 5.1.3), asking for
 * the ppolicy response (draft-behera-ldap-password-policy 6). */
static enum ldap_outcome
bind_as(const struct conn *c, const char *dn, const char *pw,
    double deadline)
{
	LDAPControl	*req = NULL, *sctrls[2] = { NULL, NULL };
	LDAPMessage	*res = NULL;
	struct berval	 cred;
	struct timeval	 tv;
	enum ldap_outcome o;
	int		 rc, id = -1;

	if (ldap_create_passwordpolicy_control(sess.ld, &req) !=
	    LDAP_SUCCESS)
		return LDAPO_FAILED;
	sctrls[0] = req;
	cred.bv_val = (char *)pw;
	cred.bv_len = strlen(pw);
	rc = ldap_sasl_bind(sess.ld, dn, LDAP_SASL_SIMPLE, &cred, sctrls,
	    NULL, &id);
	ldap_control_free(req);
	if (rc != LDAP_SUCCESS)
		return down(c, "bind", rc);
	tv = ms_tv(left_ms(deadline));
	rc = ldap_result(sess.ld, id, LDAP_MSG_ALL, &tv, &res);
	if (rc == 0)
		return down(c, "bind", LDAP_TIMEOUT);
	if (rc != LDAP_RES_BIND) {
		ldap_msgfree(res);
		return down(c, "bind", LDAP_SERVER_DOWN);
	}
	o = bind_result(c, res);
	return o;
}

/* The 8-4-4-4-12 hex-digit text of an objectGUID, whose first
 * three fields are little-endian (MS-DTYP 2.3.4.2). */
static void
guid_text(const unsigned char *g, char *out, size_t outsz)
{
	snprintf(out, outsz, "%02x%02x%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x-%02x%02x%02x%02x%02x%02x", g[3], g[2], g[1], g[0],
	    g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13],
	    g[14], g[15]);
}

/* Attribute a's first value of e into claims[name], when it is text
 * (objectGUID: its GUID text).  Values that are not UTF-8 are left out. */
static void
put_attr(LDAPMessage *e, const char *a, const char *name, json_t *claims)
{
	struct berval	**v;
	char		  guid[40];
	json_t		 *j = NULL;

	if ((v = ldap_get_values_len(sess.ld, e, a)) == NULL)
		return;
	if (v[0] != NULL && strcasecmp(a, "objectGUID") == 0 &&
	    v[0]->bv_len == GUID_LEN) {
		guid_text((const unsigned char *)v[0]->bv_val, guid,
		    sizeof(guid));
		j = json_string(guid);
	} else if (v[0] != NULL && v[0]->bv_len > 0 &&
	    v[0]->bv_len <= REC_TEXT_LEN)
		j = json_stringn(v[0]->bv_val, v[0]->bv_len);
	if (j != NULL)
		json_object_set_new(claims, name, j);
	ldap_value_free_len(v);
}

/* 1 when the array a holds the string s. */
static int
holds(const json_t *a, const char *s)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(a, i, v)
		if (strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* The groups of entry e (attribute a) into claims["groups"]: each
 * value's group name (ldapconn_group_name) once, at most REC_LIST_MAX;
 * the rest is left out (logged), as are values that are not UTF-8. */
static void
put_groups(LDAPMessage *e, const char *a, json_t *claims)
{
	struct berval	**v = ldap_get_values_len(sess.ld, e, a);
	char		  name[REC_GROUP_LEN + 1];
	json_t		 *g = json_array(), *j;
	size_t		  i;

	for (i = 0; g != NULL && v != NULL && v[i] != NULL; i++) {
		if (json_array_size(g) == REC_LIST_MAX) {
			lk_warn("%s: more than %d groups: the rest left out",
			    a, REC_LIST_MAX);
			break;
		}
		if (ldapconn_group_name(v[i]->bv_val, v[i]->bv_len, name,
		    sizeof(name)) == -1 || holds(g, name) ||
		    (j = json_string(name)) == NULL)
			continue;
		json_array_append_new(g, j);
	}
	ldap_value_free_len(v);
	if (g != NULL)
		json_object_set_new(claims, "groups", g);
}

/* The claims of entry e (shadow_from_claims' input). */
static json_t *
entry_claims(const struct conn *c, LDAPMessage *e)
{
	const struct ldap_attrs *m = ldapconn_attrs(c->ldap_schema);
	const char	*id = c->user_id_attribute != NULL ?
			    c->user_id_attribute : m->a[0];
	json_t		*claims = json_object();
	size_t		 i;

	if (claims == NULL)
		return NULL;
	put_attr(e, id, id, claims);
	for (i = 1; i < LDAP_PROFILE_N; i++)
		if (m->a[i] != NULL)
			put_attr(e, m->a[i], claim_names[i], claims);
	if (c->ldap_groups)
		put_groups(e, ldapconn_group_attribute(c), claims);
	return claims;
}

/* Search base (scope) with filter for at most 2 entries: the only one's
 * DN (dnsz) and claims, or *claims NULL when none or several. */
static enum ldap_outcome
find(const struct conn *c, const char *base, int scope, const char *filter,
    double deadline, char *dn, size_t dnsz, json_t **claims)
{
	const struct ldap_attrs *m = ldapconn_attrs(c->ldap_schema);
	char		*attrs[LDAP_PROFILE_N + 2], *d;
	LDAPMessage	*res = NULL, *e;
	struct timeval	 tv = ms_tv(left_ms(deadline));
	size_t		 i, n = 0;
	int		 rc;

	*claims = NULL;
	attrs[n++] = (char *)(c->user_id_attribute != NULL ?
	    c->user_id_attribute : m->a[0]);
	for (i = 1; i < LDAP_PROFILE_N; i++)
		if (m->a[i] != NULL)
			attrs[n++] = (char *)m->a[i];
	if (c->ldap_groups)
		attrs[n++] = (char *)ldapconn_group_attribute(c);
	attrs[n] = NULL;
	rc = ldap_search_ext_s(sess.ld, base, scope, filter, attrs, 0, NULL,
	    NULL, &tv, 2, &res);
	if (is_transport(rc)) {
		ldap_msgfree(res);
		return down(c, "search", rc);
	}
	if (rc == LDAP_SUCCESS && ldap_count_entries(sess.ld, res) == 1 &&
	    (e = ldap_first_entry(sess.ld, res)) != NULL &&
	    (d = ldap_get_dn(sess.ld, e)) != NULL) {
		snprintf(dn, dnsz, "%s", d);
		ldap_memfree(d);
		*claims = entry_claims(c, e);
	} else if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED &&
	    rc != LDAP_NO_SUCH_OBJECT)
		lk_warn("connection %s: search: %s (%d)", c->name,
		    ldap_err2string(rc), rc);
	ldap_msgfree(res);
	return LDAPO_OK;
}

/* Search-then-bind. */
static enum ldap_outcome
search_login(const struct ldap_login *l, json_t **claims)
{
	const struct conn *c = l->c;
	char		 filter[FILTER_MAX], dn[DN_MAX];
	enum ldap_outcome o;

	if (ldapconn_filter(c, l->login, filter, sizeof(filter)) == -1)
		return LDAPO_WRONG;
	if ((o = bind_as(c, c->ldap_bind_dn, c->ldap_bind_password,
	    l->deadline)) != LDAPO_OK) {
		if (o != LDAPO_DOWN)
			lk_warn("connection %s: the service account's bind: "
			    "%s", c->name, vocab_name(&ldap_outcome_vocab, o));
		return o == LDAPO_DOWN ? o : LDAPO_FAILED;
	}
	if ((o = find(c, c->ldap_base_dn, LDAP_SCOPE_SUBTREE, filter,
	    l->deadline, dn, sizeof(dn), claims)) != LDAPO_OK)
		return o;
	if (*claims == NULL) {
		/* The same bind's cost for an unknown user. */
		snprintf(dn, sizeof(dn), "cn=latchkey-no-such-user,%s",
		    c->ldap_base_dn);
		o = bind_as(c, dn, l->password, l->deadline);
		return o == LDAPO_DOWN || o == LDAPO_FAILED ? o : LDAPO_WRONG;
	}
	return bind_as(c, dn, l->password, l->deadline);
}

/* Direct bind, then the user's own entry. */
static enum ldap_outcome
direct_login(const struct ldap_login *l, json_t **claims)
{
	const struct conn *c = l->c;
	char		 name[DN_MAX], filter[FILTER_MAX], dn[DN_MAX];
	enum ldap_outcome o;

	if (ldapconn_bind_name(c, l->login, name, sizeof(name)) == -1)
		return LDAPO_WRONG;
	if ((o = bind_as(c, name, l->password, l->deadline)) != LDAPO_OK)
		return o;
	if (c->ldap_user_dn != NULL)
		o = find(c, name, LDAP_SCOPE_BASE, "(objectClass=*)",
		    l->deadline, dn, sizeof(dn), claims);
	else if (ldapconn_filter(c, l->login, filter, sizeof(filter)) == 0)
		o = find(c, c->ldap_base_dn, LDAP_SCOPE_SUBTREE, filter,
		    l->deadline, dn, sizeof(dn), claims);
	if (o == LDAPO_OK && *claims == NULL) {
		lk_warn("connection %s: bound, but the user's entry cannot "
		    "be read", c->name);
		return LDAPO_FAILED;
	}
	return o;
}

enum ldap_outcome
ldapsess_login(const struct ldap_login *l, json_t **claims)
{
	enum ldap_outcome o;
	int		 fresh, tries;

	*claims = NULL;
	if (l->password == NULL || *l->password == '\0')
		return LDAPO_WRONG;	/* RFC 4513 5.1.2: no unauthenticated bind */
	/* Without libldap (logged once) no directory can be reached. */
	if (ldapsym_load() == -1)
		return LDAPO_DOWN;
	for (tries = 0; tries < 2; tries++) {
		if ((o = session(l->c, l->deadline, &fresh)) != LDAPO_OK)
			return o;
		o = ldapconn_mode(l->c) == LDAPM_SEARCH ?
		    search_login(l, claims) : direct_login(l, claims);
		/* A kept session the server dropped: once more, anew. */
		if (o != LDAPO_DOWN || fresh || lk_mono_ms() >= l->deadline)
			break;
	}
	if (o != LDAPO_OK) {
		json_decref(*claims);
		*claims = NULL;
	}
	return o;
}
