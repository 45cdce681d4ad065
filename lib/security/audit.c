/*
 * audit.c: the security event log (SK_AUDIT), read with `latchkeyctl
 * audit list`.
 *
 * Each event is a record shaped like an Auth0 tenant log entry
 * ([D2 deploy-monitor/logs/log-event-type-codes]):
 *	{"type": "<code>", "date": <epoch>, "description": "...",
 *	 "endpoint": "/oauth/token", "ip": "<end-user IP>",
 *	 "client_ip": "<proxy, when auth0-forwarded-for was honoured>",
 *	 "client_id": "...", "user_name": "<identifier as typed>",
 *	 "user_id": "...", "pid": <responder process>}
 * keyed "<12-digit epoch>.<9-digit ns>.<8 hex>" so that a key-order
 * walk is chronological and two processes never collide (the hex digits
 * count up in each process from a random start).  Never a password,
 * code or secret.  Growth is bounded: records older than the tenant's
 * "audit_retention_days" (default 30) are deleted now and then by the
 * responders (1 write in AUDIT_PRUNE_ODDS, at most AUDIT_PRUNE_MAX
 * records, the oldest first) and by `latchkeyctl guard prune`.
 */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "extern.h"

#define AUDIT_DAYS_DEFAULT	30
#define AUDIT_DAYS_MAX		3650
#define AUDIT_PRUNE_ODDS	64
#define AUDIT_PRUNE_MAX		128
#define AUDIT_KEY_LEN		48

/* The Auth0 log type code and description of each event.  Auth0 codes:
 * s, fp, fu, f, pwd_leak, limit_wc, limit_mu, api_limit, cls, fepotpft,
 * cs (code sent), fn (failed sending notification); for MFA mfar,
 * gd_auth_succeed, gd_auth_failed, gd_enrollment_complete,
 * gd_recovery_succeed, gd_recovery_failed, gd_too_many_failures,
 * gd_send_sms, gd_send_email, gd_otp_rate_limit_exceed, gd_unenroll
 * (https://auth0.com/docs/deploy-monitor/logs/log-event-type-codes). */
static const struct {
	const char	*code;
	const char	*desc;
} events[GUARD_EV__MAX] = {
	[GUARD_EV_SUCCESS] = { "s", "Successful login" },
	[GUARD_EV_WRONG_PASSWORD] = { "fp", "Wrong email or password." },
	[GUARD_EV_UNKNOWN_USER] = { "fu", "Wrong email or password." },
	[GUARD_EV_WRONG_CODE] = { "fepotpft",
	    "Wrong phone number, email or verification code." },
	[GUARD_EV_USER_BLOCKED] = { "f", "user is blocked" },
	[GUARD_EV_LEAKED] = { "pwd_leak",
	    "Login blocked: the password was found in a data breach" },
	[GUARD_EV_CODE_SENT] = { "cls", "Passwordless code sent" },
	[GUARD_EV_BRUTE_FORCE] = { "limit_wc",
	    "Blocked: too many consecutive failed logins for this account "
	    "from this IP" },
	[GUARD_EV_SUSPICIOUS_IP] = { "limit_mu",
	    "Blocked: too many failed logins from this IP" },
	[GUARD_EV_RATE_LIMIT] = { "api_limit", "Rate limit exceeded" },
	[GUARD_EV_CODE_DELIVERED] = { "cs", "Passwordless code delivered" },
	[GUARD_EV_DELIVERY_FAILED] = { "fn",
	    "Passwordless code delivery failed" },
	[GUARD_EV_MFA_REQUIRED] = { "mfar",
	    "Multifactor authentication required" },
	[GUARD_EV_MFA_SUCCESS] = { "gd_auth_succeed",
	    "Second factor verified" },
	[GUARD_EV_MFA_FAILED] = { "gd_auth_failed",
	    "Wrong second factor code" },
	[GUARD_EV_MFA_ENROLLED] = { "gd_enrollment_complete",
	    "Authenticator enrolment complete" },
	[GUARD_EV_MFA_RECOVERY_OK] = { "gd_recovery_succeed",
	    "Recovery code accepted" },
	[GUARD_EV_MFA_RECOVERY_FAILED] = { "gd_recovery_failed",
	    "Wrong recovery code" },
	[GUARD_EV_MFA_TOO_MANY] = { "gd_too_many_failures",
	    "Too many failed second factor verifications" },
	[GUARD_EV_MFA_SENT_SMS] = { "gd_send_sms",
	    "Second factor code sent by SMS" },
	[GUARD_EV_MFA_SENT_EMAIL] = { "gd_send_email",
	    "Second factor code sent by email" },
	[GUARD_EV_MFA_SEND_LIMIT] = { "gd_otp_rate_limit_exceed",
	    "Too many second factor codes sent" },
	[GUARD_EV_MFA_UNENROLLED] = { "gd_unenroll",
	    "Authenticator deleted" },
};

/*
 * Per process: the numbers that separate equal keys and the pid the
 * records carry.  The numbers need to differ, not to be secret: a
 * count from a start drawn from RAND_bytes once, where RAND_bytes on
 * every record cost a login 1.8 us and a getpid(2), and the record's
 * getpid(2) another.  Counting up, two records of one process with the
 * same second and nanoseconds (a request past the end of its second:
 * the failure that blocks and its limit_wc) sort in the order they were
 * made.  A forked child (fork(2) copies both) draws again on its first
 * record (pthread_atfork), so parent and child never share a count.
 */
static uint32_t		 seq_state;
static pid_t		 seq_pid;		/* 0: not seeded in this process */

static void
seq_forget(void)
{
	seq_pid = 0;
}

/* The next number of this process's sequence; -1 if it cannot be
 * seeded. */
static int
seq_next(uint32_t *out)
{
	static int	 registered;

	if (seq_pid == 0) {
		if (!registered && pthread_atfork(NULL, NULL, seq_forget) != 0)
			return -1;
		registered = 1;
		if (RAND_bytes((unsigned char *)&seq_state,
		    sizeof(seq_state)) != 1)
			return -1;
		seq_pid = getpid();
	}
	*out = seq_state++;
	return 0;
}

const char *
audit_code(enum guard_event e)
{

	return events[e].code;
}

json_t *
audit_record(const struct guard_who *w, const char *identifier,
    const char *user_id, enum guard_event e, time_t now, char *key,
    size_t keysz)
{
	struct timespec	 ts;
	uint32_t	 rnd;
	json_t		*rec;

	/* The request clock's second (`now`, the second the request began,
	 * which pruning compares) and the real clock's nanoseconds order
	 * the events; a request that ran past the end of its second records
	 * at that second's end, after every event recorded in it before.
	 * The last part separates equal keys. */
	if (seq_next(&rnd) == -1 || clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return NULL;
	snprintf(key, keysz, "%012lld.%09ld.%08x", (long long)now,
	    ts.tv_sec > now ? 999999999L : ts.tv_nsec, (unsigned)rnd);
	rec = json_pack("{s:s, s:I, s:s, s:s, s:s, s:I}",
	    "type", events[e].code, "date", (json_int_t)now,
	    "description", events[e].desc, "endpoint", guard_ep_name(w->ep),
	    "ip", w->ip, "pid", (json_int_t)seq_pid);
	if (rec == NULL)
		return NULL;
	if (w->peer[0] != '\0')
		json_object_set_new(rec, "client_ip", json_string(w->peer));
	if (w->client_id != NULL)
		json_object_set_new(rec, "client_id", json_string(w->client_id));
	/* jansson refuses text that is not UTF-8: such a name is dropped. */
	if (identifier != NULL)
		json_object_set_new(rec, "user_name", json_string(identifier));
	if (user_id != NULL)
		json_object_set_new(rec, "user_id", json_string(user_id));
	return rec;
}

/* ------------------------------------------------------------------ */
/* Pruning.                                                           */

struct prune {
	char		 cutoff[AUDIT_KEY_LEN];	/* keys below it go */
	long		 max;
	json_t		*keys;
};

static int
prune_cb(const char *key, json_t *val, void *arg)
{
	struct prune	*p = arg;

	if (strcmp(key, p->cutoff) >= 0 ||
	    (long)json_array_size(p->keys) >= p->max)
		return 1;	/* chronological: nothing older follows */
	return json_array_append_new(p->keys, json_string(key)) == -1;
}

/* In a batch: keys are chronological, the first at the cutoff ends it. */
static enum store_rc
prune_fn(struct store *s, struct txn *txn, const char *key, json_t *val,
    void *arg, enum store_act *act, json_t *out)
{
	const struct prune	*p = arg;

	*act = strcmp(key, p->cutoff) >= 0 ? STORE_STOP : STORE_DELETE;
	return STORE_OK;
}

struct prune_arg {
	time_t		 before;
	long		 max;
	int		 count;
};

static enum store_rc	prune_txn(struct store *, struct txn *, void *);

/*
 * Without txn and max: in batches of their own transactions
 * (store_sweep); without txn, with max: one transaction (max bounds it).
 */
enum store_rc
audit_prune(struct store *s, struct txn *txn, time_t before, long max,
    int *count)
{
	struct prune		 p;
	struct store_sweep	 sw = { SK_AUDIT, NULL, prune_fn, &p, NULL, 0,
				    0 };
	struct prune_arg	 a = { before, max, 0 };
	enum store_rc		 rc;
	size_t			 i;

	*count = 0;
	snprintf(p.cutoff, sizeof(p.cutoff), "%012lld", (long long)before);
	if (txn == NULL && max > 0) {
		rc = store_txn_run(s, prune_txn, &a);
		*count = a.count;
		return rc;
	}
	if (txn == NULL) {
		rc = store_sweep(s, &sw);
		*count = (int)sw.deleted;
		return rc;
	}
	p.max = max > 0 ? max : LONG_MAX;
	if ((p.keys = json_array()) == NULL)
		return STORE_ERR;
	rc = store_each(s, txn, SK_AUDIT, prune_cb, &p);
	for (i = 0; rc == STORE_OK && i < json_array_size(p.keys); i++)
		rc = store_del(s, txn, SK_AUDIT,
		    json_string_value(json_array_get(p.keys, i)));
	if (rc == STORE_OK)
		*count = (int)json_array_size(p.keys);
	json_decref(p.keys);
	return rc;
}

time_t
audit_retention(const struct tenant *tenant)
{
	/* record.c checks the range (1 to 3650, default 30). */
	return (time_t)tenant->audit_retention_days * 86400;
}

static enum store_rc
prune_txn(struct store *s, struct txn *txn, void *arg)
{
	struct prune_arg	*a = arg;

	return audit_prune(s, txn, a->before, a->max, &a->count);
}

void
audit_prune_maybe(struct store *s, const struct tenant *tenant, time_t now)
{
	struct prune_arg	 a;
	struct timespec		 ts;

	/* A cheap coin: one call in AUDIT_PRUNE_ODDS does the work.  The
	 * monotonic clock's microseconds serve (no system call, nothing to
	 * guess: the prune only spreads its work over the writers), where
	 * RAND_bytes cost a login 1.8 us and a getpid(2). */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1 ||
	    ts.tv_nsec / 1000 % AUDIT_PRUNE_ODDS != 0)
		return;
	a.before = now - audit_retention(tenant);
	a.max = AUDIT_PRUNE_MAX;
	if (store_txn_run(s, prune_txn, &a) != STORE_OK)
		lk_warn("audit log pruning failed");
}

/* ------------------------------------------------------------------ */
/* Listing.                                                           */

/* The members of a stored record the listing selects on. */
enum audit_member { AM_TYPE, AM_DATE, AM__MAX };
static const char *const audit_members[AM__MAX] = {
	[AM_TYPE] = "type",
	[AM_DATE] = "date",
};

struct listarg {
	const struct audit_sel	*sel;
	json_t			*out;
	long			 limit;	/* keep only the last limit (0: all) */
};

static int
list_cb(const char *key, json_t *val, void *arg)
{
	struct listarg		*a = arg;
	const struct audit_sel	*sel = a->sel;
	const char		*type;

	if (json_integer_value(json_object_get(val, audit_members[AM_DATE])) <
	    sel->since)
		return 0;
	type = json_string_value(json_object_get(val, audit_members[AM_TYPE]));
	if (sel->type != NULL && (type == NULL || strcmp(type, sel->type) != 0))
		return 0;
	if (json_array_append(a->out, val) == -1)
		return 1;
	/* A batched walk keeps no more than it will print. */
	if (a->limit > 0 && (long)json_array_size(a->out) > a->limit)
		json_array_remove(a->out, 0);
	return 0;
}

enum store_rc
audit_list(struct store *s, struct txn *txn, const struct audit_sel *sel,
    json_t *out)
{
	struct listarg	 a = { sel, NULL, 0 };
	enum store_rc	 rc;
	size_t		 i, n, from = 0;

	if ((a.out = json_array()) == NULL)
		return STORE_ERR;
	if (txn == NULL)
		a.limit = sel->limit;
	rc = txn == NULL ? store_scan(s, SK_AUDIT, NULL, list_cb, &a) :
	    store_each(s, txn, SK_AUDIT, list_cb, &a);
	/* Only the latest limit records, still oldest first. */
	n = json_array_size(a.out);
	if (sel->limit > 0 && n > (size_t)sel->limit)
		from = n - (size_t)sel->limit;
	for (i = from; rc == STORE_OK && i < n; i++)
		json_array_append(out, json_array_get(a.out, i));
	json_decref(a.out);
	return rc;
}
