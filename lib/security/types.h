/*
 * latchkey: the security types the records hold (struct client_rec's
 * authentication method, struct tenant's parsed attack-protection
 * settings), so that they come before store/record.h; the functions are
 * in security.h, after it.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_SECURITY_TYPES_H
#define LATCHKEY_SECURITY_TYPES_H

/* client.c: RFC 6749 2.3 client authentication. */
enum client_auth { CLIENT_AUTH_NONE, CLIENT_AUTH_SECRET_POST,
	CLIENT_AUTH_SECRET_BASIC, CLIENT_AUTH_PRIVATE_KEY_JWT, CLIENT_AUTH__MAX };
/* The token_endpoint_auth_method names, by enum client_auth. */
extern const struct vocab client_auth_vocab;

/*
 * Attack protection (docs/COMPAT.md 6): guard.c counts and decides at
 * request time, guard_conf.c parses and checks the tenant's settings,
 * guard_bucket.c keeps the token buckets and the SK_GUARD records,
 * guard_net.c resolves the end-user IP, breached.c finds leaked
 * passwords, audit.c keeps the security event log; latchkeyctl's guard
 * commands are in admin/guard_admin.c.  Their functions are declared in
 * security.h.
 */
#define GUARD_IP_MAX		46	/* INET6_ADDRSTRLEN */

/* The credential-checking endpoints (their per-endpoint rate limits,
 * their audit "endpoint" and their password_leaked row). */
enum guard_ep { GUARD_EP_TOKEN, GUARD_EP_RO, GUARD_EP_PWL_START,
	GUARD_EP__MAX };

/* Security events; each is an Auth0 log type code (audit.c's table). */
enum guard_event {
	GUARD_EV_SUCCESS,		/* s: credentials accepted */
	GUARD_EV_WRONG_PASSWORD,	/* fp */
	GUARD_EV_UNKNOWN_USER,		/* fu */
	GUARD_EV_WRONG_CODE,		/* fepotpft: wrong passwordless code */
	GUARD_EV_USER_BLOCKED,		/* f: admin-blocked user */
	GUARD_EV_LEAKED,		/* pwd_leak */
	GUARD_EV_CODE_SENT,		/* cls: /passwordless/start */
	GUARD_EV_BRUTE_FORCE,		/* limit_wc: pair blocked / refused */
	GUARD_EV_SUSPICIOUS_IP,		/* limit_mu */
	GUARD_EV_RATE_LIMIT,		/* api_limit */
	GUARD_EV_CODE_DELIVERED,	/* cs: the delivery command succeeded */
	GUARD_EV_DELIVERY_FAILED,	/* fn: it failed; no code was sent */
	/* Multi-factor authentication (lib/mfa, docs/COMPAT.md 13.5). */
	GUARD_EV_MFA_REQUIRED,		/* mfar: mfa_required answered */
	GUARD_EV_MFA_SUCCESS,		/* gd_auth_succeed */
	GUARD_EV_MFA_FAILED,		/* gd_auth_failed: wrong otp */
	GUARD_EV_MFA_ENROLLED,		/* gd_enrollment_complete */
	GUARD_EV_MFA_RECOVERY_OK,	/* gd_recovery_succeed */
	GUARD_EV_MFA_RECOVERY_FAILED,	/* gd_recovery_failed */
	GUARD_EV_MFA_TOO_MANY,		/* gd_too_many_failures */
	GUARD_EV_MFA_SENT_SMS,		/* gd_send_sms: oob code sent */
	GUARD_EV_MFA_SENT_EMAIL,	/* gd_send_email: oob code sent */
	GUARD_EV_MFA_SEND_LIMIT,	/* gd_otp_rate_limit_exceed */
	GUARD_EV_MFA_UNENROLLED,	/* gd_unenroll: authenticator deleted */
	GUARD_EV__MAX
};

/* Who is trying: filled by guard_ip() once the client is known. */
struct guard_who {
	enum guard_ep	 ep;
	const char	*client_id;	/* NULL: none */
	char		 ip[GUARD_IP_MAX];	/* the end-user IP, canonical */
	char		 peer[GUARD_IP_MAX];	/* REMOTE_ADDR when auth0-forwarded-for replaced it, else "" */
	int		 bf_none;	/* guard_before read no failure count of the pair */
};

/* A token bucket of cap tokens refilled per tokens every period seconds,
 * kept exactly in integer units (one token = period units, each second
 * adds per units). */
struct guard_rate {
	long		 cap;
	long		 per;
	long		 period;
};
struct guard_bucket {
	long long	 level;		/* units; a token is rate.period units */
	time_t		 t;		/* when level was last brought up to date */
};

/* Brute-force modes (node-auth0's BruteForce mode enum). */
enum guard_bf_mode { GUARD_BF_PAIR, GUARD_BF_ACCOUNT, GUARD_BF__MAX };

/*
 * The attack-protection settings in force: the tenant's brute_force,
 * suspicious_ip and rate_limit objects (their members and defaults in
 * guard_conf.c), parsed once per tenant load.  The allowlists are
 * borrowed from the tenant's JSON.
 */
struct guard_conf {
	int			 bf_on;
	enum guard_bf_mode	 bf_mode;
	long			 bf_threshold;	/* failures that block */
	long			 bf_block;	/* seconds after the last failure */
	const json_t		*bf_allow;	/* CIDRs never counted */
	int			 ip_on;
	struct guard_rate	 ip_rate;	/* failed logins per IP */
	const json_t		*ip_allow;
	int			 rl_on;
	struct guard_rate	 rl_rate;	/* logins per identifier and IP */
	struct guard_rate	 ep_rate[GUARD_EP__MAX];	/* cap 0: none */
	struct guard_rate	 pr_rate;	/* codes per recipient; cap 0: none */
};

#endif /* !LATCHKEY_SECURITY_TYPES_H */
