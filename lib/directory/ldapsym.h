/*
 * latchkey: the libldap and liblber functions ldapconn.c and ldapsess.c
 * call, through pointers that ldapsym_load fills on first use
 * (lib/base/dynlib.c), so that a process that serves no AD/LDAP
 * connection never maps them.  Include this instead of <ldap.h>: after
 * it, ldap_initialize() and the others call through the table; check
 * ldapsym_load() before the first call.
 */
#ifndef LATCHKEY_LDAPSYM_H
#define LATCHKEY_LDAPSYM_H

#include <ldap.h>

struct ldapsym {
	__typeof__(ber_sockbuf_ctrl)	*sockbuf_ctrl;
	__typeof__(ldap_bv2dn)		*bv2dn;
	__typeof__(ldap_bv2escaped_filter_value)
					*bv2escaped;
	__typeof__(ldap_connect)	*connect;
	__typeof__(ldap_control_find)	*control_find;
	__typeof__(ldap_control_free)	*control_free;
	__typeof__(ldap_controls_free)	*controls_free;
	__typeof__(ldap_count_entries)	*count_entries;
	__typeof__(ldap_create_passwordpolicy_control)
					*create_ppolicy;
	__typeof__(ldap_dn2str)		*dn2str;
	__typeof__(ldap_dnfree)		*dnfree;
	__typeof__(ldap_err2string)	*err2string;
	__typeof__(ldap_first_entry)	*first_entry;
	__typeof__(ldap_free_urldesc)	*free_urldesc;
	__typeof__(ldap_get_dn)		*get_dn;
	__typeof__(ldap_get_values_len)	*get_values_len;
	__typeof__(ldap_initialize)	*initialize;
	__typeof__(ldap_memfree)	*memfree;
	__typeof__(ldap_msgfree)	*msgfree;
	__typeof__(ldap_parse_passwordpolicy_control)
					*parse_ppolicy;
	__typeof__(ldap_parse_result)	*parse_result;
	__typeof__(ldap_result)		*result;
	__typeof__(ldap_sasl_bind)	*sasl_bind;
	__typeof__(ldap_search_ext_s)	*search_ext_s;
	__typeof__(ldap_set_option)	*set_option;
	__typeof__(ldap_start_tls_s)	*start_tls_s;
	__typeof__(ldap_str2dn)		*str2dn;
	__typeof__(ldap_tls_inplace)	*tls_inplace;
	__typeof__(ldap_unbind_ext_s)	*unbind_ext_s;
	__typeof__(ldap_url_parse)	*url_parse;
	__typeof__(ldap_value_free_len)	*value_free_len;
};

extern struct ldapsym ldapsym;

/* Load liblber and libldap and resolve the table (once).  0, or -1
 * (logged once). */
int		 ldapsym_load(void);

#define ber_sockbuf_ctrl		(*ldapsym.sockbuf_ctrl)
#define ldap_bv2dn			(*ldapsym.bv2dn)
#define ldap_bv2escaped_filter_value	(*ldapsym.bv2escaped)
#define ldap_connect			(*ldapsym.connect)
#define ldap_control_find		(*ldapsym.control_find)
#define ldap_control_free		(*ldapsym.control_free)
#define ldap_controls_free		(*ldapsym.controls_free)
#define ldap_count_entries		(*ldapsym.count_entries)
#define ldap_create_passwordpolicy_control (*ldapsym.create_ppolicy)
#define ldap_dn2str			(*ldapsym.dn2str)
#define ldap_dnfree			(*ldapsym.dnfree)
#define ldap_err2string			(*ldapsym.err2string)
#define ldap_first_entry		(*ldapsym.first_entry)
#define ldap_free_urldesc		(*ldapsym.free_urldesc)
#define ldap_get_dn			(*ldapsym.get_dn)
#define ldap_get_values_len		(*ldapsym.get_values_len)
#define ldap_initialize			(*ldapsym.initialize)
#define ldap_memfree			(*ldapsym.memfree)
#define ldap_msgfree			(*ldapsym.msgfree)
#define ldap_parse_passwordpolicy_control (*ldapsym.parse_ppolicy)
#define ldap_parse_result		(*ldapsym.parse_result)
#define ldap_result			(*ldapsym.result)
#define ldap_sasl_bind			(*ldapsym.sasl_bind)
#define ldap_search_ext_s		(*ldapsym.search_ext_s)
#define ldap_set_option			(*ldapsym.set_option)
#define ldap_start_tls_s		(*ldapsym.start_tls_s)
#define ldap_str2dn			(*ldapsym.str2dn)
#define ldap_tls_inplace		(*ldapsym.tls_inplace)
#define ldap_unbind_ext_s		(*ldapsym.unbind_ext_s)
#define ldap_url_parse			(*ldapsym.url_parse)
#define ldap_value_free_len		(*ldapsym.value_free_len)

#endif /* !LATCHKEY_LDAPSYM_H */
