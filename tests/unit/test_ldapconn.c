/*
 * test_ldapconn: the parts of AD/LDAP connections (docs/COMPAT.md 14)
 * that need no directory (ldapconn.c): the search filter with the login
 * escaped (RFC 4515 3), the direct bind's DN with the login escaped
 * (RFC 4514 2.4) or the UPN, Active Directory's error 49 data codes and
 * ppolicy's errors mapped, the settings a connection must have, and a
 * group attribute value's group name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <ldap.h>

#include "extern.h"

#define BASE	"ou=people,dc=example,dc=test"

static void
search_conn(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->name = "corp";
	c->strategy = STRATEGY_AD;
	c->ldap_url = "ldap://127.0.0.1:389";
	c->ldap_bind_dn = "cn=svc,dc=example,dc=test";
	c->ldap_bind_password = "pw";
	c->ldap_base_dn = BASE;
	c->ldap_starttls = 1;
}

static void
filter_escapes_the_login(void **state)
{
	static const struct {
		const char	*login, *want;
	} t[] = {
		{ "alice", "(&(objectClass=inetOrgPerson)(|(uid=alice)"
		    "(mail=alice)))" },
		{ "*", "(&(objectClass=inetOrgPerson)(|(uid=\\2A)"
		    "(mail=\\2A)))" },
		{ "a*)(uid=*", "(&(objectClass=inetOrgPerson)"
		    "(|(uid=a\\2A\\29\\28uid=\\2A)(mail=a\\2A\\29\\28uid=\\2A)))" },
		{ "\\2a", "(&(objectClass=inetOrgPerson)(|(uid=\\5C2a)"
		    "(mail=\\5C2a)))" },
	};
	struct conn	 c;
	char		 out[1024];
	size_t		 i;

	search_conn(&c);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(ldapconn_filter(&c, t[i].login, out,
		    sizeof(out)), 0);
		assert_string_equal(out, t[i].want);
	}
	c.ldap_schema = DIRSCHEMA_AD;
	assert_int_equal(ldapconn_filter(&c, "j*", out, sizeof(out)), 0);
	assert_string_equal(out, "(&(objectCategory=person)(objectClass=user)"
	    "(|(sAMAccountName=j\\2A)(userPrincipalName=j\\2A)))");
	c.ldap_filter = "(cn={login})";
	assert_int_equal(ldapconn_filter(&c, "(x)", out, sizeof(out)), 0);
	assert_string_equal(out, "(cn=\\28x\\29)");
	/* Too long for the buffer: refused, not cut. */
	assert_int_equal(ldapconn_filter(&c, "alice", out, 8), -1);
}

static void
bind_name_escapes_the_login(void **state)
{
	static const struct {
		const char	*login, *want;
	} t[] = {
		{ "alice", "uid=alice," BASE },
		{ "alice,ou=admins", "uid=alice\\2Cou\\3Dadmins," BASE },
		{ "a+cn=x", "uid=a\\2Bcn\\3Dx," BASE },
		{ " lead", "uid=\\20lead," BASE },
		{ "#x", "uid=\\23x," BASE },
	};
	struct conn	 c;
	char		 out[1024];
	size_t		 i;

	search_conn(&c);
	c.ldap_user_dn = "uid={login}," BASE;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(ldapconn_bind_name(&c, t[i].login, out,
		    sizeof(out)), 0);
		assert_string_equal(out, t[i].want);
	}
	c.ldap_user_dn = NULL;
	c.ldap_upn_domain = "corp.example";
	assert_int_equal(ldapconn_bind_name(&c, "jdoe", out, sizeof(out)), 0);
	assert_string_equal(out, "jdoe@corp.example");
	assert_int_equal(ldapconn_bind_name(&c, "jd@other.example", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "jd@other.example");
}

static void
ad_data_codes_mapped(void **state)
{
	static const struct {
		const char		*diag;
		enum ldap_outcome	 want;
	} t[] = {
		{ "80090308: LdapErr: DSID-0C09042A, comment: "
		    "AcceptSecurityContext error, data 52e, v3839", LDAPO_WRONG },
		{ "... data 525, v4563", LDAPO_WRONG },
		{ "... data 530, v4563", LDAPO_LOCKED },
		{ "... data 531, v4563", LDAPO_LOCKED },
		{ "... data 532, v4563", LDAPO_PW_CHANGE },
		{ "... data 533, v4563", LDAPO_LOCKED },
		{ "... data 701, v4563", LDAPO_LOCKED },
		{ "... data 773, v4563", LDAPO_PW_CHANGE },
		{ "... data 775, v4563", LDAPO_LOCKED },
		{ "... data 999, v4563", LDAPO_WRONG },
		{ "no data code", LDAPO_WRONG },
		{ NULL, LDAPO_WRONG },
	};
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(ldapconn_ad_code(t[i].diag), t[i].want);
}

static void
ppolicy_errors_mapped(void **state)
{

	assert_int_equal(ldapconn_ppolicy(1, PP_noError), LDAPO_OK);
	assert_int_equal(ldapconn_ppolicy(0, PP_noError), LDAPO_WRONG);
	assert_int_equal(ldapconn_ppolicy(0, PP_accountLocked), LDAPO_LOCKED);
	assert_int_equal(ldapconn_ppolicy(0, PP_passwordExpired),
	    LDAPO_PW_CHANGE);
	/* A bind that succeeded on a password an administrator reset. */
	assert_int_equal(ldapconn_ppolicy(1, PP_changeAfterReset),
	    LDAPO_PW_CHANGE);
	assert_int_equal(ldapconn_ppolicy(1, PP_passwordTooShort), LDAPO_OK);
}

static void
connection_settings_checked(void **state)
{
	struct conn	 c;

	search_conn(&c);
	assert_null(ldapconn_problem(&c));
	c.ldap_url = "ldaps://a.example ldap://b.example:3389";
	assert_null(ldapconn_problem(&c));
	c.ldap_url = "https://a.example";
	assert_non_null(ldapconn_problem(&c));
	c.ldap_url = "ldap://a.example ldapi:///";
	assert_non_null(ldapconn_problem(&c));
	c.ldap_url = NULL;
	assert_non_null(ldapconn_problem(&c));
	search_conn(&c);
	c.ldap_bind_password = NULL;
	assert_non_null(ldapconn_problem(&c));
	c.ldap_bind_dn = NULL;
	c.ldap_user_dn = "uid=x," BASE;
	assert_non_null(ldapconn_problem(&c));	/* no {login} */
	c.ldap_user_dn = "uid={login}," BASE;
	assert_null(ldapconn_problem(&c));
	assert_int_equal(ldapconn_mode(&c), LDAPM_DIRECT);
	c.ldap_user_dn = NULL;
	c.ldap_upn_domain = "corp.example";
	c.ldap_base_dn = NULL;
	assert_non_null(ldapconn_problem(&c));	/* UPN: entry searched */
	c.ca_file = "relative.pem";
	c.ldap_base_dn = BASE;
	assert_non_null(ldapconn_problem(&c));
	c.strategy = STRATEGY_AUTH0;
	assert_null(ldapconn_problem(&c));	/* not an ad connection */
}

#define LONG16	"cn=0123456789abcdef,dc=x"
#define LONG15	"cn=0123456789abcde,dc=x"

static void
group_names_from_values(void **state)
{
	static const struct {
		const char	*v, *want;	/* want NULL: refused */
	} t[] = {
		{ "cn=Staff,ou=groups,dc=example,dc=test", "Staff" },
		{ "CN=Domain Users,CN=Users,DC=corp,DC=example", "Domain Users" },
		{ "cn=Research\\, Dev,ou=groups,dc=x", "Research, Dev" },
		{ "cn=Research\\2C Dev,ou=groups,dc=x", "Research, Dev" },
		{ "cn=a+ou=b,dc=x", "a" },	/* multi-valued RDN: the first */
		{ "Staff", "Staff" },		/* not a DN: as given */
		{ "cn=#04024869,dc=x", "cn=#04024869,dc=x" },	/* BER */
		{ "", NULL },
	};
	char	 out[16], big[64];
	size_t	 i;
	int	 rc;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		rc = ldapconn_group_name(t[i].v, strlen(t[i].v), big,
		    sizeof(big));
		if (t[i].want == NULL) {
			assert_int_equal(rc, -1);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(big, t[i].want);
	}
	/* A name longer than out is refused, not cut. */
	assert_int_equal(ldapconn_group_name(LONG16, strlen(LONG16), out,
	    sizeof(out)), -1);
	assert_int_equal(ldapconn_group_name(LONG15, strlen(LONG15), out,
	    sizeof(out)), 0);
	assert_string_equal(out, "0123456789abcde");
	/* The value's length is what counts, not a NUL. */
	assert_int_equal(ldapconn_group_name("cn=Staff,dc=x", 8, big,
	    sizeof(big)), 0);
	assert_string_equal(big, "Staff");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filter_escapes_the_login),
		cmocka_unit_test(bind_name_escapes_the_login),
		cmocka_unit_test(ad_data_codes_mapped),
		cmocka_unit_test(ppolicy_errors_mapped),
		cmocka_unit_test(connection_settings_checked),
		cmocka_unit_test(group_names_from_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
