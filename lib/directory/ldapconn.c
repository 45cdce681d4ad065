/*
 * ldapconn.c: what an AD/LDAP connection (strategy "ad", docs/COMPAT.md
 * 14) needs and means, without talking to the directory: the settings
 * a connection must have, the defaults of each directory schema, the
 * search filter and bind DN built from a login with libldap's own
 * escaping (RFC 4515 3 for filters, RFC 4514 2.4 for DNs), and what a
 * bind's result says (ppolicy controls, Active Directory's data codes).
 * ldapsess.c talks to the directory; grants/ldaplogin.c runs a login.
 * The functions that call libldap load it first (ldapsym.c) and fail
 * when it cannot be loaded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "ldapsym.h"

#define LOGIN_TOKEN	"{login}"

/*
 * Attribute names and the default filter of each schema: OpenLDAP's
 * inetOrgPerson (RFC 2798) with entryUUID (RFC 4530), and Active
 * Directory's user class with objectGUID
 * (learn.microsoft.com/windows/win32/adschema/a-objectguid).
 */
static const struct ldap_attrs schemas[DIRSCHEMA__MAX] = {
	[DIRSCHEMA_OPENLDAP] = {
		{ "entryUUID", "mail", "cn", "givenName", "sn", "uid", "uid",
		    "labeledURI", "telephoneNumber" },
		"(&(objectClass=inetOrgPerson)(|(uid={login})(mail={login})))",
	},
	[DIRSCHEMA_AD] = {
		{ "objectGUID", "mail", "displayName", "givenName", "sn",
		    "sAMAccountName", "userPrincipalName", NULL,
		    "telephoneNumber" },
		"(&(objectCategory=person)(objectClass=user)"
		    "(|(sAMAccountName={login})(userPrincipalName={login})))",
	},
};

const struct ldap_attrs *
ldapconn_attrs(enum dir_schema s)
{
	return &schemas[(size_t)s < DIRSCHEMA__MAX ? s : DIRSCHEMA_OPENLDAP];
}

/* memberOf: the groups of an AD user (learn.microsoft.com/windows/win32/
 * adschema/a-memberof), and of an OpenLDAP user with the memberof overlay
 * (slapo-memberof(5)). */
const char *
ldapconn_group_attribute(const struct conn *c)
{
	return c->ldap_group_attribute != NULL ? c->ldap_group_attribute :
	    "memberOf";
}

int
ldapconn_group_name(const char *v, size_t n, char *out, size_t outsz)
{
	struct berval	 bv = { (ber_len_t)n, (char *)(uintptr_t)v };
	LDAPDN		 dn = NULL;
	const struct berval *src = &bv;
	int		 rc = -1;

	if (ldapsym_load() == -1)
		return -1;
	/* RFC 4514 3: a DN's first RDN; its first value when a string. */
	if (ldap_bv2dn(&bv, &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
	    dn != NULL && dn[0] != NULL && dn[0][0] != NULL &&
	    (dn[0][0]->la_flags & LDAP_AVA_BINARY) == 0)
		src = &dn[0][0]->la_value;
	if (src->bv_len > 0 && src->bv_len < outsz &&
	    memchr(src->bv_val, '\0', src->bv_len) == NULL) {
		memcpy(out, src->bv_val, src->bv_len);
		out[src->bv_len] = '\0';
		rc = 0;
	}
	ldap_dnfree(dn);
	return rc;
}

enum ldap_mode
ldapconn_mode(const struct conn *c)
{
	return c->ldap_user_dn != NULL || c->ldap_upn_domain != NULL ?
	    LDAPM_DIRECT : LDAPM_SEARCH;
}

/* 0 when every space-separated URL of list is ldap:// or ldaps:// (as
 * libldap reads the list: ldap_initialize(3)). */
static int
urls_ok(const char *list)
{
	LDAPURLDesc	*d;
	char		 copy[REC_TEXT_LEN + 1], *u, *save = NULL;
	int		 n = 0, ok;

	if (strlen(list) > REC_TEXT_LEN)
		return -1;
	memcpy(copy, list, strlen(list) + 1);
	for (u = strtok_r(copy, " ", &save); u != NULL;
	    u = strtok_r(NULL, " ", &save), n++) {
		if (ldap_url_parse(u, &d) != LDAP_URL_SUCCESS)
			return -1;
		ok = strcmp(d->lud_scheme, "ldap") == 0 ||
		    strcmp(d->lud_scheme, "ldaps") == 0;
		ldap_free_urldesc(d);
		if (!ok)
			return -1;
	}
	return n > 0 ? 0 : -1;
}

const char *
ldapconn_problem(const struct conn *c)
{

	if (c->strategy != STRATEGY_AD)
		return NULL;
	if (c->ldap_url == NULL)
		return "an ad connection needs ldap_url";
	if (ldapsym_load() == -1)
		return "libldap cannot be loaded (package libldap-2.5-0)";
	if (urls_ok(c->ldap_url) == -1)
		return "ldap_url must list ldap:// or ldaps:// URLs";
	if (c->ca_file != NULL && *c->ca_file != '/')
		return "ca_file must be an absolute path";
	if (c->ldap_user_dn != NULL && strstr(c->ldap_user_dn,
	    LOGIN_TOKEN) == NULL)
		return "ldap_user_dn must hold {login}";
	if (c->ldap_filter != NULL && strstr(c->ldap_filter,
	    LOGIN_TOKEN) == NULL)
		return "ldap_filter must hold {login}";
	if (ldapconn_mode(c) == LDAPM_DIRECT)
		return c->ldap_user_dn == NULL && c->ldap_base_dn == NULL ?
		    "a UPN bind needs ldap_base_dn" : NULL;
	if (c->ldap_bind_dn == NULL || c->ldap_bind_password == NULL ||
	    c->ldap_base_dn == NULL)
		return "search-then-bind needs ldap_bind_dn, its password "
		    "and ldap_base_dn (or ldap_user_dn / ldap_upn_domain "
		    "for a direct bind)";
	return NULL;
}

/* tmpl with every {login} replaced by v into out (outsz). */
static int
substitute(const char *tmpl, const char *v, char *out, size_t outsz)
{
	const char	*p;
	size_t		 o = 0, n, vl = strlen(v);

	while ((p = strstr(tmpl, LOGIN_TOKEN)) != NULL) {
		n = (size_t)(p - tmpl);
		if (o + n + vl >= outsz)
			return -1;
		memcpy(out + o, tmpl, n);
		memcpy(out + o + n, v, vl);
		o += n + vl;
		tmpl = p + strlen(LOGIN_TOKEN);
	}
	if (o + strlen(tmpl) >= outsz)
		return -1;
	memcpy(out + o, tmpl, strlen(tmpl) + 1);
	return 0;
}

int
ldapconn_filter(const struct conn *c, const char *login, char *out,
    size_t outsz)
{
	struct berval	 in, esc = { 0, NULL };
	const char	*tmpl = c->ldap_filter != NULL ? c->ldap_filter :
			    ldapconn_attrs(c->ldap_schema)->filter;
	int		 rc;

	in.bv_val = (char *)login;
	in.bv_len = strlen(login);
	/* RFC 4515 3: '*', '(', ')', '\' and NUL as \XX. */
	if (ldapsym_load() == -1 ||
	    ldap_bv2escaped_filter_value(&in, &esc) != 0)
		return -1;
	rc = substitute(tmpl, esc.bv_val, out, outsz);
	ldap_memfree(esc.bv_val);
	return rc;
}

/* The AVA of dn whose value is mark, or NULL. */
static LDAPAVA *
find_ava(LDAPDN dn, const char *mark)
{
	size_t		 i, j;

	for (i = 0; dn != NULL && dn[i] != NULL; i++)
		for (j = 0; dn[i][j] != NULL; j++)
			if (dn[i][j]->la_value.bv_len == strlen(mark) &&
			    memcmp(dn[i][j]->la_value.bv_val, mark,
			    strlen(mark)) == 0)
				return dn[i][j];
	return NULL;
}

/*
 * The DN template with {login} as one attribute value: the template is
 * parsed with a marker in its place, the login set as that value, and
 * the DN printed by libldap, which escapes it (RFC 4514 2.4).
 */
static int
dn_from_template(const char *tmpl, const char *login, char *out,
    size_t outsz)
{
	static const char mark[] = "latchkeyLoginMarker0";
	char		 with[REC_ID_LEN + sizeof(mark)], *s = NULL;
	LDAPDN		 dn = NULL;
	LDAPAVA		*ava;
	struct berval	 keep;
	unsigned	 flags;
	int		 rc = -1;

	if (ldapsym_load() == -1 ||
	    substitute(tmpl, mark, with, sizeof(with)) == -1 ||
	    ldap_str2dn(with, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return -1;
	if ((ava = find_ava(dn, mark)) == NULL)
		goto out;
	keep = ava->la_value;
	flags = ava->la_flags;
	ava->la_value.bv_val = (char *)login;
	ava->la_value.bv_len = strlen(login);
	ava->la_flags = LDAP_AVA_STRING;
	if (ldap_dn2str(dn, &s, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
	    s != NULL && strlen(s) < outsz) {
		memcpy(out, s, strlen(s) + 1);
		rc = 0;
	}
	ava->la_value = keep;
	ava->la_flags = flags;
	ldap_memfree(s);
out:
	ldap_dnfree(dn);
	return rc;
}

int
ldapconn_bind_name(const struct conn *c, const char *login, char *out,
    size_t outsz)
{
	int		 n;

	if (c->ldap_user_dn != NULL)
		return dn_from_template(c->ldap_user_dn, login, out, outsz);
	if (c->ldap_upn_domain == NULL)
		return -1;
	/* Active Directory's user principal name, user@domain (RFC 4513
	 * 5.1.3 leaves the simple bind's name to the server). */
	n = strchr(login, '@') != NULL ?
	    snprintf(out, outsz, "%s", login) :
	    snprintf(out, outsz, "%s@%s", login, c->ldap_upn_domain);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/*
 * Active Directory's reason for error 49, the hex "data" code of its
 * diagnostic message (learn.microsoft.com/troubleshoot/windows-server/
 * active-directory/ldap-bind-error-49-subcodes).
 */
static const struct {
	unsigned	 code;
	enum ldap_outcome o;
} ad_codes[] = {
	{ 0x525, LDAPO_WRONG },		/* user not found */
	{ 0x52e, LDAPO_WRONG },		/* invalid credentials */
	{ 0x530, LDAPO_LOCKED },	/* not permitted to log on now */
	{ 0x531, LDAPO_LOCKED },	/* not permitted from this workstation */
	{ 0x532, LDAPO_PW_CHANGE },	/* password expired */
	{ 0x533, LDAPO_LOCKED },	/* account disabled */
	{ 0x701, LDAPO_LOCKED },	/* account expired */
	{ 0x773, LDAPO_PW_CHANGE },	/* user must reset password */
	{ 0x775, LDAPO_LOCKED },	/* account locked out */
};

enum ldap_outcome
ldapconn_ad_code(const char *diag)
{
	const char	*p;
	unsigned long	 n;
	size_t		 i;

	if (diag == NULL || (p = strstr(diag, "data ")) == NULL)
		return LDAPO_WRONG;
	n = strtoul(p + 5, NULL, 16);
	for (i = 0; i < sizeof(ad_codes) / sizeof(ad_codes[0]); i++)
		if (ad_codes[i].code == n)
			return ad_codes[i].o;
	return LDAPO_WRONG;
}

enum ldap_outcome
ldapconn_ppolicy(int bound, int pperr)
{

	/* draft-behera-ldap-password-policy 7.1: the bind's response. */
	switch (pperr) {
	case PP_accountLocked:
		return LDAPO_LOCKED;
	case PP_passwordExpired:
	case PP_changeAfterReset:
		return LDAPO_PW_CHANGE;
	default:
		return bound ? LDAPO_OK : LDAPO_WRONG;
	}
}

/* The user_id prefix and id attributes (the schemas' above): Auth0's
 * "ad|<connection>|<id>". */
static const struct extconn_def ad_def = { "ad",
	{ "entryUUID", "objectGUID", NULL }, NULL, 0 };

int
ldapconn_profile(const struct conn *c, const json_t *claims, char *uid,
    size_t uidsz, struct shadow_profile *p)
{

	if (shadow_from_claims(c, &ad_def, claims, uid, uidsz, p) == -1)
		return -1;
	p->nickname = json_string_value(json_object_get(claims, "nickname"));
	p->phone_number = json_string_value(json_object_get(claims,
	    "phone_number"));
	p->groups = c->ldap_groups ? json_object_get(claims, "groups") : NULL;
	return 0;
}

static const char *const outcomes[LDAPO__MAX] = {
	[LDAPO_OK] = "bound",
	[LDAPO_WRONG] = "wrong credentials",
	[LDAPO_LOCKED] = "account locked, disabled or expired",
	[LDAPO_PW_CHANGE] = "password expired or must be changed",
	[LDAPO_DOWN] = "directory unreachable",
	[LDAPO_FAILED] = "directory error",
};

static const char *
outcome_name(size_t i)
{
	return i < LDAPO__MAX ? outcomes[i] : NULL;
}

const struct vocab ldap_outcome_vocab = { "directory outcome", LDAPO__MAX,
	outcome_name };
