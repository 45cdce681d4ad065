/*
 * ldaplogin.c: a password login at an AD/LDAP connection (strategy
 * "ad", docs/COMPAT.md 14), in the place grant_password_user has for
 * database connections (login.c's table):
 *  1. attack protection first (guard_before): a blocked pair or IP costs
 *     the directory nothing;
 *  2. an empty password is a wrong one, before any bind (RFC 4513
 *     5.1.2: an empty simple bind is an unauthenticated one, which
 *     servers answer with success);
 *  3. the directory checks the password (ldapsess.c) within the
 *     connection's upstream_timeout_ms;
 *  4. its outcome: bad credentials and an unknown user are LOGIN_WRONG
 *     alike; a locked, disabled or expired account is LOGIN_BLOCKED; an
 *     expired password or one to change is LOGIN_PW_CHANGE; a directory
 *     that fails or does not answer is a 503 with Retry-After, here;
 *  5. the shadow user written (shadow.c) and, when blocked, refused.
 * The audit and brute-force records are those of a database login.
 * The password and the service account's password are never logged.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

#define LDAP_UID_MAX		200

/* A bound user: the shadow user, refused when blocked here. */
static enum login_rc
admit_user(struct grant_req *g, const struct conn *c, const json_t *claims,
    struct user *user)
{
	struct shadow_profile	 p;
	char			 uid[LDAP_UID_MAX];

	if (ldapconn_profile(c, claims, uid, sizeof(uid), &p) == -1) {
		lk_warn("connection %s: the user's entry has no usable id "
		    "attribute", c->name);
		return login_unavailable(g, OERR_UPSTREAM_UNAVAILABLE, 0);
	}
	return login_shadow_admit(g, &p, user);
}

enum login_rc
grant_ldap_user(struct grant_req *g, const struct conn *c,
    struct user *user)
{
	struct ldap_login	 l;
	json_t			*claims = NULL;
	enum ldap_outcome	 o;
	enum login_rc		 rc;

	memset(user, 0, sizeof(*user));
	if (guard_before(g->ctx, &g->tenant, &g->who, g->p.v[F_USERNAME],
	    g->req->now, g->resp) == -1)
		return LOGIN_THROTTLED;
	l.c = c;
	l.login = g->p.v[F_USERNAME];
	l.password = g->p.v[F_PASSWORD];
	l.deadline = lk_mono_ms() + (double)c->upstream_timeout_ms;
	if (l.login == NULL || *l.login == '\0' || l.password == NULL ||
	    *l.password == '\0') {
		return login_attempt(g, NULL, GUARD_EV_WRONG_PASSWORD,
		    LOGIN_WRONG);
	}
	switch ((o = ldapsess_login(&l, &claims))) {
	case LDAPO_OK:
		rc = admit_user(g, c, claims, user);
		break;
	case LDAPO_WRONG:
		rc = login_attempt(g, NULL, GUARD_EV_WRONG_PASSWORD,
		    LOGIN_WRONG);
		break;
	case LDAPO_LOCKED:
		lk_info("connection %s: %s", c->name,
		    vocab_name(&ldap_outcome_vocab, o));
		rc = LOGIN_BLOCKED;
		break;
	case LDAPO_PW_CHANGE:
		lk_info("connection %s: %s", c->name,
		    vocab_name(&ldap_outcome_vocab, o));
		rc = LOGIN_PW_CHANGE;
		break;
	default:
		rc = login_unavailable(g, OERR_UPSTREAM_UNAVAILABLE, 0);
		break;
	}
	json_decref(claims);
	return rc;
}
