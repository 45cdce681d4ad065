/*
 * latchkeyctl connection test NAME LOGIN: a login at an AD/LDAP
 * connection (docs/COMPAT.md 14) as the token endpoint would make it,
 * with the password read from the terminal (echo off) or standard
 * input, printing the user id and profile latchkey would put in the
 * tokens, or why the login fails.  Nothing is written: no shadow user,
 * no attack-protection record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ctl.h"

#define TEST_UID_MAX	200

/* The password: prompted for on a terminal, without echo. */
int
conntest_prep(struct ctl *c)
{
	struct termios	 old, quiet;
	int		 tty = isatty(STDIN_FILENO) &&
			    tcgetattr(STDIN_FILENO, &old) == 0;

	if (tty) {
		fputs("Password: ", stderr);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	c->password = read_line(REC_PW_LEN, &c->pwlen);
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	return c->password == NULL ? EXIT_USAGE : 0;
}

/* The claims of a profile, as the ID token carries them. */
static json_t *
profile_json(const struct shadow_profile *p)
{
	json_t		*o = json_pack("{s:s}", "sub", p->user_id);
	const char	*names[] = { "email", "name", "given_name",
			    "family_name", "nickname", "preferred_username",
			    "picture", "phone_number" };
	const char	*vals[] = { p->email, p->name, p->given_name,
			    p->family_name, p->nickname, p->preferred_username,
			    p->picture, p->phone_number };
	size_t		 i;

	for (i = 0; o != NULL && i < sizeof(names) / sizeof(names[0]); i++)
		if (vals[i] != NULL)
			json_object_set_new(o, names[i], json_string(vals[i]));
	if (o != NULL && p->email != NULL)
		json_object_set_new(o, "email_verified",
		    json_boolean(p->email_verified));
	if (o != NULL && p->groups != NULL)
		json_object_set(o, "groups", (json_t *)(uintptr_t)p->groups);
	return o;
}

enum store_rc
conntest_tx(struct ctl *c, struct txn *t)
{
	struct conn		 cn;
	struct ldap_login	 l;
	struct shadow_profile	 p;
	json_t			*claims = NULL, *out;
	enum ldap_outcome	 o;
	enum store_rc		 rc;
	char			 uid[TEST_UID_MAX];

	if ((rc = must_get_rec(c, t, REC_CONNECTION, c->pos[0], &cn)) !=
	    STORE_OK)
		return rc;
	if (cn.strategy != STRATEGY_AD) {
		record_clear(REC_CONNECTION, &cn);
		return refuse(c, STORE_ERR, "connection test: %s is not an ad "
		    "connection", c->pos[0]);
	}
	l.c = &cn;
	l.login = c->pos[1];
	l.password = c->password;
	l.deadline = lk_mono_ms() + (double)cn.upstream_timeout_ms;
	o = ldapsess_login(&l, &claims);
	ldapsess_close();
	if (o == LDAPO_OK && ldapconn_profile(&cn, claims, uid, sizeof(uid),
	    &p) == -1)
		rc = refuse(c, STORE_ERR, "connection test: the entry has no "
		    "usable id attribute");
	else if (o != LDAPO_OK)
		rc = refuse(c, STORE_ERR, "connection test: %s",
		    vocab_name(&ldap_outcome_vocab, o));
	else if ((out = profile_json(&p)) != NULL) {
		print_json(out);
		json_decref(out);
	}
	json_decref(claims);
	record_clear(REC_CONNECTION, &cn);
	return rc;
}
