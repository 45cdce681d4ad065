/*
 * mfa_policy.c: who must pass a second factor (docs/COMPAT.md 13.1),
 * and the vocabularies of MFA: the tenant's "mfa" policy (never, all,
 * enrolled), a user's override of it (tenant, never, always), the
 * authenticator types (Auth0's authenticator_type values) and the
 * out-of-band channels served (Auth0's oob_channel values sms, email).
 */
#include <string.h>

#include "extern.h"

static const char *const policies[MFA__MAX] = {
	[MFA_NEVER] = "never",
	[MFA_ALL] = "all",
	[MFA_ENROLLED] = "enrolled",
};
static const char *const overrides[MFA_USER__MAX] = {
	[MFA_USER_TENANT] = "tenant",
	[MFA_USER_NEVER] = "never",
	[MFA_USER_ALWAYS] = "always",
};
static const char *const types[MFA_TYPE__MAX] = {
	[MFA_TYPE_OTP] = "otp",
	[MFA_TYPE_OOB] = "oob",
	[MFA_TYPE_RECOVERY] = "recovery-code",
};

static const char *const channels[MFA_CHAN__MAX] = {
	[MFA_CHAN_SMS] = "sms",
	[MFA_CHAN_EMAIL] = "email",
};

static const char *
channel_name(size_t i)
{
	return i < MFA_CHAN__MAX ? channels[i] : NULL;
}

static const char *
policy_name(size_t i)
{
	return i < MFA__MAX ? policies[i] : NULL;
}

static const char *
override_name(size_t i)
{
	return i < MFA_USER__MAX ? overrides[i] : NULL;
}

static const char *
type_name(size_t i)
{
	return i < MFA_TYPE__MAX ? types[i] : NULL;
}

const struct vocab mfa_policy_vocab = { "MFA policy", MFA__MAX, policy_name };
const struct vocab mfa_user_vocab = { "user MFA setting", MFA_USER__MAX,
	override_name };
const struct vocab mfa_type_vocab = { "authenticator type", MFA_TYPE__MAX,
	type_name };
const struct vocab mfa_channel_vocab = { "oob channel", MFA_CHAN__MAX,
	channel_name };

/* A user's override, as the policy it stands for. */
static const enum mfa_policy override_policy[MFA_USER__MAX] = {
	[MFA_USER_TENANT] = MFA__MAX,		/* the tenant's */
	[MFA_USER_NEVER] = MFA_NEVER,
	[MFA_USER_ALWAYS] = MFA_ALL,
};

enum mfa_policy
mfa_policy_of(const struct tenant *t, const struct user *u)
{
	enum mfa_policy	 p = override_policy[u->mfa];

	return p == MFA__MAX ? t->mfa : p;
}

/* By policy, then by whether the user holds an active authenticator. */
static const enum mfa_gate gates[MFA__MAX][2] = {
	[MFA_NEVER] = { MFA_GATE_NONE, MFA_GATE_NONE },
	[MFA_ALL] = { MFA_GATE_ENROL, MFA_GATE_CHALLENGE },
	[MFA_ENROLLED] = { MFA_GATE_NONE, MFA_GATE_CHALLENGE },
};

enum mfa_gate
mfa_gate_decide(enum mfa_policy p, int enrolled)
{

	return gates[p][enrolled != 0];
}

int
mfa_client_allowed(const struct client_rec *c)
{

	return client_grant_allowed(c, GT_MFA_OTP) ||
	    client_grant_allowed(c, GT_MFA_OOB) ||
	    client_grant_allowed(c, GT_MFA_RECOVERY);
}
