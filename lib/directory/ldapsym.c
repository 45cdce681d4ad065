/*
 * ldapsym.c: the libldap and liblber functions of ldapconn.c and
 * ldapsess.c, resolved when the first AD/LDAP operation needs them
 * (ldapsym.h, lib/base/dynlib.c).
 */
#include "extern.h"
#include "ldapsym.h"

struct ldapsym	 ldapsym;

static const struct dynsym lber_syms[] = {
	{ "ber_sockbuf_ctrl", offsetof(struct ldapsym, sockbuf_ctrl) },
};

static const struct dynsym ldap_syms[] = {
	{ "ldap_bv2dn", offsetof(struct ldapsym, bv2dn) },
	{ "ldap_bv2escaped_filter_value",
	    offsetof(struct ldapsym, bv2escaped) },
	{ "ldap_connect", offsetof(struct ldapsym, connect) },
	{ "ldap_control_find", offsetof(struct ldapsym, control_find) },
	{ "ldap_control_free", offsetof(struct ldapsym, control_free) },
	{ "ldap_controls_free", offsetof(struct ldapsym, controls_free) },
	{ "ldap_count_entries", offsetof(struct ldapsym, count_entries) },
	{ "ldap_create_passwordpolicy_control",
	    offsetof(struct ldapsym, create_ppolicy) },
	{ "ldap_dn2str", offsetof(struct ldapsym, dn2str) },
	{ "ldap_dnfree", offsetof(struct ldapsym, dnfree) },
	{ "ldap_err2string", offsetof(struct ldapsym, err2string) },
	{ "ldap_first_entry", offsetof(struct ldapsym, first_entry) },
	{ "ldap_free_urldesc", offsetof(struct ldapsym, free_urldesc) },
	{ "ldap_get_dn", offsetof(struct ldapsym, get_dn) },
	{ "ldap_get_values_len", offsetof(struct ldapsym, get_values_len) },
	{ "ldap_initialize", offsetof(struct ldapsym, initialize) },
	{ "ldap_memfree", offsetof(struct ldapsym, memfree) },
	{ "ldap_msgfree", offsetof(struct ldapsym, msgfree) },
	{ "ldap_parse_passwordpolicy_control",
	    offsetof(struct ldapsym, parse_ppolicy) },
	{ "ldap_parse_result", offsetof(struct ldapsym, parse_result) },
	{ "ldap_result", offsetof(struct ldapsym, result) },
	{ "ldap_sasl_bind", offsetof(struct ldapsym, sasl_bind) },
	{ "ldap_search_ext_s", offsetof(struct ldapsym, search_ext_s) },
	{ "ldap_set_option", offsetof(struct ldapsym, set_option) },
	{ "ldap_start_tls_s", offsetof(struct ldapsym, start_tls_s) },
	{ "ldap_str2dn", offsetof(struct ldapsym, str2dn) },
	{ "ldap_tls_inplace", offsetof(struct ldapsym, tls_inplace) },
	{ "ldap_unbind_ext_s", offsetof(struct ldapsym, unbind_ext_s) },
	{ "ldap_url_parse", offsetof(struct ldapsym, url_parse) },
	{ "ldap_value_free_len", offsetof(struct ldapsym, value_free_len) },
};

int
ldapsym_load(void)
{

	if (dynlib_load(DYNLIB_LBER, lber_syms,
	    sizeof(lber_syms) / sizeof(lber_syms[0]), &ldapsym) == -1)
		return -1;
	return dynlib_load(DYNLIB_LDAP, ldap_syms,
	    sizeof(ldap_syms) / sizeof(ldap_syms[0]), &ldapsym);
}
