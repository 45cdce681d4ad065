/*
 * test_passwordless: the passwordless building blocks (lib/passwordless/)
 * and the one email/phone check they share with latchkeyctl
 * (lib/security/ident.c): E.164 exactly as Auth0's pattern, no separator
 * dropped, and email normalisation (table-driven), code generation, the code record's rules (expiry, three tries, client
 * binding, time-safe match), the exchange against a real store (only the
 * latest code, single use, users created on first login, blocked users)
 * the delivery command (no shell, environment, placeholders, failure
 * message without the code, timeout) and the courier that runs it after
 * the answer (outcomes audited, undelivered codes withdrawn, nothing run
 * for a blocked user).  A fixed clock.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "extern.h"

#define NOW		1700000000
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define PHONE		"+16511234567"
#define CLIENT		"app-1"

/* ------------------------------------------------------------------ */
/* Identifiers (ident.c).                                              */

/* 1 when latchkeyctl would store s as the user field name. */
static int
user_field_ok(const char *name, const char *s)
{
	json_t	*v = json_string(s);
	int	 ok;

	ok = record_value_problem(record_field(REC_USER, name), v) == NULL;
	json_decref(v);
	return ok;
}

/* Auth0 checks ^\+[0-9]{1,15}$ (docs/COMPAT.md 2): separators people
 * type are refused, not dropped. */
static const struct {
	const char	*in;
	const char	*out;		/* NULL: refused */
} phones[] = {
	{ "+16511234567", "+16511234567" },
	{ "+1 (651) 123-4567", NULL },
	{ "+1.651.123.4567", NULL },
	{ " +44 20 7946 0958 ", NULL },
	{ "+1 555 010 4242", NULL },
	{ "+15550104242", "+15550104242" },
	{ "+1", "+1" },
	{ "+123456789012345", "+123456789012345" },	/* 15 digits */
	{ "+1234567890123456", NULL },			/* 16 digits */
	{ "16511234567", NULL },			/* no + */
	{ "+", NULL },
	{ "", NULL },
	{ "++16511234567", NULL },
	{ "+1651123456x", NULL },
	{ "+1 651 123 4567 ext 2", NULL },
	{ "+1/6511234567", NULL },
	{ "1+6511234567", NULL },
	{ "+16511234567\n", NULL },
	{ "+16511234567 ", NULL },
};

static void
phone_normalisation_table(void **state)
{
	char	 out[PWL_RECIPIENT_MAX + 1];
	size_t	 i;
	int	 rc;

	for (i = 0; i < NELEM(phones); i++) {
		rc = ident_phone(phones[i].in, out, sizeof(out));
		/* latchkeyctl's check (record.c) is the same one. */
		assert_int_equal(ident_phone_ok(phones[i].in), rc == 0);
		assert_int_equal(user_field_ok("phone_number", phones[i].in),
		    rc == 0);
		if (phones[i].out == NULL) {
			if (rc != -1)
				fail_msg("accepted %s as %s", phones[i].in, out);
			continue;
		}
		if (rc != 0)
			fail_msg("refused %s", phones[i].in);
		assert_string_equal(out, phones[i].out);
	}
}

static void
phone_normalisation_bounded(void **state)
{
	char	 out[6];

	/* "+1234" fits; one more digit does not fit out[6]. */
	assert_int_equal(ident_phone("+1234", out, sizeof(out)), 0);
	assert_int_equal(ident_phone("+12345", out, sizeof(out)), -1);
}

static const struct {
	const char	*in;
	const char	*out;
} emails[] = {
	{ "alice@example.com", "alice@example.com" },
	{ "Alice.Liddell@Example.COM", "alice.liddell@example.com" },
	{ "a+tag@sub.example.org", "a+tag@sub.example.org" },
	{ "a@b", NULL },
	{ "bob@localhost", NULL },			/* no dotted domain */
	{ "bob@example.com", "bob@example.com" },
	{ "@example.com", NULL },
	{ "alice@", NULL },
	{ "alice", NULL },
	{ "al ice@example.com", NULL },
	{ "alice@example.com.", NULL },
	{ "alice@example\x01.com", NULL },
	{ "", NULL },
};

static void
email_normalisation_bounded(void **state)
{
	char	 in[IDENT_MAX + 2], out[IDENT_MAX + 2];

	/* IDENT_MAX bytes in all is the longest address. */
	memset(in, 'a', sizeof(in));
	memcpy(in + IDENT_MAX - 12, "@example.com", 12);
	in[IDENT_MAX] = '\0';
	assert_int_equal(ident_email(in, out, sizeof(out)), 0);
	assert_true(ident_email_ok(in));
	memmove(in + 1, in, IDENT_MAX + 1);
	assert_int_equal(ident_email(in, out, sizeof(out)), -1);
	assert_false(ident_email_ok(in));
	/* And it must fit out. */
	assert_int_equal(ident_email("bob@example.com", out, 15), -1);
	assert_int_equal(ident_email("bob@example.com", out, 16), 0);
}

static void
email_normalisation_table(void **state)
{
	char	 out[PWL_RECIPIENT_MAX + 1];
	size_t	 i;
	int	 rc;

	for (i = 0; i < NELEM(emails); i++) {
		rc = ident_email(emails[i].in, out, sizeof(out));
		assert_int_equal(ident_email_ok(emails[i].in), rc == 0);
		assert_int_equal(user_field_ok("email", emails[i].in), rc == 0);
		if (emails[i].out == NULL) {
			if (rc != -1)
				fail_msg("accepted %s", emails[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("refused %s", emails[i].in);
		assert_string_equal(out, emails[i].out);
	}
}

/* ------------------------------------------------------------------ */
/* Codes and records.                                                  */

static void
code_is_six_uniform_digits(void **state)
{
	char		 code[PWL_CODE_LEN + 1];
	unsigned	 counts[PWL_CODE_LEN][10];
	size_t		 i, d, n = 20000;

	memset(counts, 0, sizeof(counts));
	for (i = 0; i < n; i++) {
		assert_int_equal(pwl_code_new(code), 0);
		assert_int_equal(strlen(code), PWL_CODE_LEN);
		for (d = 0; d < PWL_CODE_LEN; d++) {
			assert_true(code[d] >= '0' && code[d] <= '9');
			counts[d][code[d] - '0']++;
		}
	}
	/* Every digit at every position about n/10 times (leading zeros
	 * included: the code is zero-padded, not a shorter number). */
	for (d = 0; d < PWL_CODE_LEN; d++)
		for (i = 0; i < 10; i++)
			if (counts[d][i] < n / 10 * 8 / 10 ||
			    counts[d][i] > n / 10 * 12 / 10)
				fail_msg("digit %zu at %zu: %u of %zu", i, d,
				    counts[d][i], n);
}

static void
record_keeps_no_code(void **state)
{
	json_t	*rec = pwl_record_new("042917", CLIENT, NOW, 180);
	char	*text;

	assert_non_null(rec);
	text = json_dumps(rec, JSON_COMPACT);
	assert_null(strstr(text, "042917"));
	assert_non_null(strstr(text, "\"code_hash\":\"sha256:"));
	assert_int_equal(json_integer_value(json_object_get(rec, "exp")), NOW + 180);
	assert_int_equal(json_integer_value(json_object_get(rec, "tries_left")), 3);
	free(text);
	json_decref(rec);
}

static void
record_right_code(void **state)
{
	json_t	*rec = pwl_record_new("123456", CLIENT, NOW, 180);

	assert_int_equal(pwl_record_check(rec, "123456", CLIENT, NOW + 179),
	    PWL_CHECK_OK);
	json_decref(rec);
}

static void
record_expires(void **state)
{
	json_t	*rec = pwl_record_new("123456", CLIENT, NOW, 180);

	assert_int_equal(pwl_record_check(rec, "123456", CLIENT, NOW + 180),
	    PWL_CHECK_DEAD);
	json_decref(rec);
}

static void
record_three_wrong_tries_kill_it(void **state)
{
	json_t	*rec = pwl_record_new("123456", CLIENT, NOW, 180);

	assert_int_equal(pwl_record_check(rec, "654321", CLIENT, NOW),
	    PWL_CHECK_WRONG);
	assert_int_equal(json_integer_value(json_object_get(rec, "tries_left")), 2);
	assert_int_equal(pwl_record_check(rec, "12345", CLIENT, NOW),
	    PWL_CHECK_WRONG);
	assert_int_equal(pwl_record_check(rec, "1234567", CLIENT, NOW),
	    PWL_CHECK_WRONG);
	assert_int_equal(json_integer_value(json_object_get(rec, "tries_left")), 0);
	assert_int_equal(pwl_record_check(rec, "123456", CLIENT, NOW),
	    PWL_CHECK_DEAD);
	json_decref(rec);
}

static void
record_bound_to_client(void **state)
{
	json_t	*rec = pwl_record_new("123456", CLIENT, NOW, 180);

	assert_int_equal(pwl_record_check(rec, "123456", "other", NOW),
	    PWL_CHECK_WRONG);
	assert_int_equal(pwl_record_check(rec, "123456", CLIENT, NOW),
	    PWL_CHECK_OK);
	json_decref(rec);
}

/* ------------------------------------------------------------------ */
/* The exchange against a real store.                                  */

struct fx {
	char		 dir[PATH_MAX - 64];
	char		 home[PATH_MAX];
	struct lk_ctx	 ctx;
	struct conn	 conn;
};

static int
rm_entry(const char *path, const struct stat *st, int type, struct FTW *f)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fx	*fx;
	const char	*tmp = getenv("TMPDIR");
	json_t		*conn;
	int		 rc;

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/lkpwl.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->home, sizeof(fx->home), "%s/env", fx->dir);
	if ((fx->ctx.store = store_open(fx->home, STORE_CREATE)) == NULL)
		return -1;
	conn = json_pack("{s:s, s:s, s:[s]}", "name", "sms",
	    "strategy", "sms", "enabled_clients", CLIENT);
	rc = record_parse(REC_CONNECTION, conn, &fx->conn);
	json_decref(conn);
	if (rc == -1)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	store_close(fx->ctx.store);
	nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	record_clear(REC_CONNECTION, &fx->conn);
	free(fx);
	return 0;
}

/* What /passwordless/start stores: the latest record replaces any. */
static void
start(struct fx *fx, const char *code, time_t now)
{
	json_t	*rec = pwl_record_new(code, CLIENT, now, 180);

	assert_int_equal(store_put(fx->ctx.store, NULL, SK_OTP,
	    "sms\x1f" PHONE, rec, 0), STORE_OK);
	json_decref(rec);
}

static enum pwl_result
verify(struct fx *fx, const char *code, json_t **user)
{
	return pwl_verify(&fx->ctx, &fx->conn, PHONE, code, CLIENT, NOW, user);
}

static void
exchange_creates_user_once(void **state)
{
	struct fx	*fx = *state;
	json_t		*user = NULL, *again = NULL;
	const char	*uid;

	start(fx, "111111", NOW);
	assert_int_equal(verify(fx, "111111", &user), PWL_OK);
	uid = json_string_value(json_object_get(user, "user_id"));
	assert_int_equal(strlen(uid), 4 + 24);
	assert_memory_equal(uid, "sms|", 4);
	assert_string_equal(json_string_value(json_object_get(user,
	    "phone_number")), PHONE);
	assert_true(json_is_true(json_object_get(user, "phone_verified")));
	assert_string_equal(json_string_value(json_object_get(user,
	    "connection")), "sms");
	/* Single use. */
	assert_int_equal(verify(fx, "111111", &again), PWL_WRONG);
	assert_null(again);
	/* The next login finds the same user. */
	start(fx, "222222", NOW);
	assert_int_equal(verify(fx, "222222", &again), PWL_OK);
	assert_string_equal(json_string_value(json_object_get(again,
	    "user_id")), uid);
	json_decref(again);
	json_decref(user);
}

static void
exchange_only_latest_code(void **state)
{
	struct fx	*fx = *state;
	json_t		*user = NULL;

	start(fx, "111111", NOW);
	start(fx, "222222", NOW);
	assert_int_equal(verify(fx, "111111", &user), PWL_WRONG);
	assert_int_equal(verify(fx, "222222", &user), PWL_OK);
	json_decref(user);
}

static void
exchange_wrong_tries_persist(void **state)
{
	struct fx	*fx = *state;
	json_t		*user = NULL;

	start(fx, "333333", NOW);
	assert_int_equal(verify(fx, "000000", &user), PWL_WRONG);
	assert_int_equal(verify(fx, "000001", &user), PWL_WRONG);
	assert_int_equal(verify(fx, "000002", &user), PWL_WRONG);
	/* The record is gone: the right code no longer works. */
	assert_int_equal(verify(fx, "333333", &user), PWL_WRONG);
	assert_null(user);
}

static void
exchange_expired(void **state)
{
	struct fx	*fx = *state;
	json_t		*user = NULL;

	start(fx, "444444", NOW - 181);
	assert_int_equal(verify(fx, "444444", &user), PWL_WRONG);
}

static void
exchange_blocked_user(void **state)
{
	struct fx	*fx = *state;
	json_t		*user = NULL, *u;

	u = json_pack("{s:s, s:s, s:s, s:b}", "user_id", "sms|blocked",
	    "connection", "sms", "phone_number", PHONE, "blocked", 1);
	assert_int_equal(store_user_put(fx->ctx.store, NULL, u), STORE_OK);
	json_decref(u);
	start(fx, "555555", NOW);
	assert_int_equal(verify(fx, "555555", &user), PWL_BLOCKED);
	assert_null(user);
}

/* ------------------------------------------------------------------ */
/* The delivery command.                                               */

static const struct deliver_msg msg = { "sms", PHONE, "987654", "code" };

static int
run(const char *const *argv, int timeout, char *why, size_t whysz)
{
	json_t	*a = json_array();
	int	 rc;

	for (; *argv != NULL; argv++)
		json_array_append_new(a, json_string(*argv));
	rc = deliver_run(a, &msg, timeout, why, whysz);
	json_decref(a);
	return rc;
}

static void
deliver_environment_and_placeholders(void **state)
{
	char	 script[512], why[256] = "";
	int	 fd;

	/* An inherited descriptor (as the database's are) must not reach
	 * the command. */
	assert_true((fd = open("/dev/null", O_RDONLY)) > 2);
	snprintf(script, sizeof(script),
	    "test \"$1\" = '+16511234567 987654' && "
	    "test \"$LATCHKEY_CODE\" = 987654 && "
	    "test \"$LATCHKEY_RECIPIENT\" = +16511234567 && "
	    "test \"$LATCHKEY_CONNECTION\" = sms && "
	    "test \"$LATCHKEY_SEND\" = code && test -n \"$PATH\" && "
	    "test -z \"$HOME\" && test ! -e /proc/self/fd/%d", fd);
	{
		const char *const argv[] = { "/bin/sh", "-c", script, "sh",
		    "{recipient} {code}", NULL };

		if (run(argv, 5, why, sizeof(why)) != 0)
			fail_msg("delivery failed: %s", why);
	}
	close(fd);
}

static void
deliver_no_shell(void **state)
{
	/* A recipient with shell syntax is one argument, never code. */
	static const struct deliver_msg evil = { "sms", "$(touch /tmp/x);x",
	    "987654", "code" };
	json_t	*a = json_pack("[s,s,s,s,s]", "/bin/sh", "-c",
	    "test \"$1\" = '$(touch /tmp/x);x'", "sh", "{recipient}");
	char	 why[256] = "";

	assert_int_equal(deliver_run(a, &evil, 5, why, sizeof(why)), 0);
	json_decref(a);
}

/* The log lines written while a delivery runs. */
static struct buf logged;

static void
log_capture(enum log_level lvl, const char *line)
{
	buf_puts(&logged, line);
}

/* Run the shell script as the delivery command: its result, why and
 * the log lines it caused. */
static int
run_logged(const char *script, char *why, size_t whysz)
{
	const char *const argv[] = { "/bin/sh", "-c", script, NULL };
	int	 rc;

	buf_clear(&logged);
	buf_puts(&logged, "");
	log_sink(log_capture);
	rc = run(argv, 5, why, whysz);
	log_sink(NULL);
	return rc;
}

/* why is only the exit status; the output goes to the log, the code
 * masked over the whole text, however it is spaced, and the recipient
 * masked too. */
static void
deliver_failure_output_only_logged_masked(void **state)
{
	char	 why[256];

	assert_int_equal(run_logged(
	    "echo \"gateway said no to $LATCHKEY_CODE for $1\" >&2; "
	    "echo \"spaced 987 654, dashed 98-76-54, to $LATCHKEY_RECIPIENT\" >&2; "
	    "exit 3", why, sizeof(why)), -1);
	assert_string_equal(why, "3");
	assert_non_null(strstr(logged.p, "connection sms: delivery failed "
	    "(Code: 3): gateway said no to ****** for"));
	assert_non_null(strstr(logged.p, "\\x0aspaced *** ***, dashed "
	    "**-**-**, to ************"));
	assert_null(strstr(logged.p, "987"));
	assert_null(strstr(logged.p, PHONE));
	buf_clear(&logged);
}

/* A code cut off by the DELIVER_OUT_MAX bound leaks no leading digits. */
static void
deliver_failure_output_cut_inside_the_code(void **state)
{
	char	 why[256];

	/* 1021 bytes, then the code: the kept 1024 end in "987". */
	assert_int_equal(run_logged("printf '%01021d' 0 >&2; "
	    "printf %s \"$LATCHKEY_CODE\" >&2; exit 4", why, sizeof(why)), -1);
	assert_string_equal(why, "4");
	assert_non_null(strstr(logged.p, "0000***\n"));
	assert_null(strstr(logged.p, "0987"));
	buf_clear(&logged);
}

static void
deliver_failure_without_output(void **state)
{
	char	 why[256];

	assert_int_equal(run_logged("kill -9 $$", why, sizeof(why)), -1);
	assert_string_equal(why, "signal 9");
	assert_non_null(strstr(logged.p, "(Code: signal 9): (no output)"));
	buf_clear(&logged);
}

static void
deliver_timeout_kills(void **state)
{
	const char *const argv[] = { "/bin/sleep", "30", NULL };
	char	 why[256];
	time_t	 t0 = time(NULL);

	assert_int_equal(run(argv, 1, why, sizeof(why)), -1);
	assert_string_equal(why, "timeout");
	assert_true(time(NULL) - t0 < 5);
}

static void
deliver_refuses_relative_or_missing(void **state)
{
	const char *const rel[] = { "sh", "-c", "exit 0", NULL };
	const char *const none[] = { "/nonexistent/latchkey-deliver", NULL };
	char	 why[256];

	assert_int_equal(run(rel, 5, why, sizeof(why)), -1);
	assert_string_equal(why, "config");
	assert_int_equal(deliver_run(NULL, &msg, 5, why, sizeof(why)), -1);
	assert_int_equal(run(none, 5, why, sizeof(why)), -1);
	assert_string_equal(why, "spawn");
}

/* ------------------------------------------------------------------ */
/* The courier: background delivery, outcome audited.                  */

/* Store a code for recipient and hand its job to the courier. */
static void
enqueue(struct fx *fx, const char *recipient, const char *code)
{
	char	 key[512];
	json_t	*rec = pwl_record_new(code, CLIENT, NOW, 180), *job;

	snprintf(key, sizeof(key), "sms\x1f%s", recipient);
	assert_int_equal(store_put(fx->ctx.store, NULL, SK_OTP, key, rec, 0),
	    STORE_OK);
	job = json_pack("{s:s, s:s, s:s, s:O, s:s, s:s, s:s}",
	    "connection", "sms", "recipient", recipient, "code", code,
	    "salt", json_object_get(rec, "salt"), "client_id", CLIENT,
	    "ip", "192.0.2.7", "peer", "");
	assert_int_equal(deliver_enqueue(fx->home, job), 0);
	deliver_job_free(job);
	json_decref(rec);
}

struct find {
	const char	*user_name;
	json_t		*found;
};

static int
find_cb(const char *key, json_t *val, void *arg)
{
	struct find	*f = arg;

	if (strcmp(json_string_value(json_object_get(val, "user_name")),
	    f->user_name) != 0)
		return 0;
	json_decref(f->found);
	f->found = json_incref(val);
	return 0;
}

/* The courier's audit record for recipient (waits up to 10 s). */
static json_t *
outcome(struct fx *fx, const char *recipient)
{
	struct find	 f = { recipient, NULL };
	int		 i;

	for (i = 0; i < 1000 && f.found == NULL; i++) {
		usleep(10000);
		assert_int_equal(store_each(fx->ctx.store, NULL, SK_AUDIT,
		    find_cb, &f), STORE_OK);
	}
	assert_non_null(f.found);
	return f.found;
}

static int
otp_exists(struct fx *fx, const char *recipient)
{
	char	 key[512];
	json_t	*rec = NULL;
	int	 rc;

	snprintf(key, sizeof(key), "sms\x1f%s", recipient);
	rc = store_get(fx->ctx.store, NULL, SK_OTP, key, &rec) == STORE_OK;
	json_decref(rec);
	return rc;
}

/* One home for all: a process has one courier, bound to its home. */
static void
courier_delivers_audits_and_withdraws(void **state)
{
	struct fx	*fx = *state;
	char		 out[PATH_MAX], got[64];
	json_t		*conn, *u, *ev;
	FILE		*f;

	snprintf(out, sizeof(out), "%s/out", fx->dir);
	conn = json_pack("{s:s, s:s, s:[s], s:[s, s, s, s, s], s:i}",
	    "name", "sms", "strategy", "sms", "enabled_clients", CLIENT,
	    "delivery_command",
	    "/bin/sh", "-c", "test \"$1\" != +15550000005 || exit 5; "
	    "echo \"$1 $LATCHKEY_CODE\" >>\"$0\"", out, "{recipient}",
	    "delivery_timeout", 5);
	assert_int_equal(store_put(fx->ctx.store, NULL, SK_CONNECTION, "sms",
	    conn, 0), STORE_OK);
	u = json_pack("{s:s, s:s, s:s, s:b}", "user_id", "sms|b10c",
	    "connection", "sms", "phone_number", "+15550000001", "blocked", 1);
	assert_int_equal(store_user_put(fx->ctx.store, NULL, u), STORE_OK);

	/* Delivered: the code reaches the command, "cs" is audited. */
	enqueue(fx, PHONE, "424242");
	ev = outcome(fx, PHONE);
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "cs");
	assert_string_equal(json_string_value(json_object_get(ev, "ip")),
	    "192.0.2.7");
	assert_string_equal(json_string_value(json_object_get(ev, "endpoint")),
	    "/passwordless/start");
	json_decref(ev);
	assert_non_null(f = fopen(out, "r"));
	assert_non_null(fgets(got, sizeof(got), f));
	fclose(f);
	assert_string_equal(got, PHONE " 424242\n");
	assert_true(otp_exists(fx, PHONE));

	/* Failed: "fn" with the exit status, the code withdrawn. */
	enqueue(fx, "+15550000005", "515151");
	ev = outcome(fx, "+15550000005");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "fn");
	assert_string_equal(json_string_value(json_object_get(ev,
	    "description")), "sms delivery failed (Code: 5)");
	json_decref(ev);
	assert_false(otp_exists(fx, "+15550000005"));

	/* A blocked user: nothing run, "f", the code withdrawn. */
	enqueue(fx, "+15550000001", "616161");
	ev = outcome(fx, "+15550000001");
	assert_string_equal(json_string_value(json_object_get(ev, "type")), "f");
	assert_string_equal(json_string_value(json_object_get(ev, "user_id")),
	    "sms|b10c");
	json_decref(ev);
	assert_false(otp_exists(fx, "+15550000001"));
	assert_non_null(f = fopen(out, "r"));
	while (fgets(got, sizeof(got), f) != NULL)
		assert_null(strstr(got, "+15550000001"));
	fclose(f);
	json_decref(u);
	json_decref(conn);
}

#define T(f)	cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(phone_normalisation_table),
		cmocka_unit_test(phone_normalisation_bounded),
		cmocka_unit_test(email_normalisation_table),
		cmocka_unit_test(email_normalisation_bounded),
		cmocka_unit_test(code_is_six_uniform_digits),
		cmocka_unit_test(record_keeps_no_code),
		cmocka_unit_test(record_right_code),
		cmocka_unit_test(record_expires),
		cmocka_unit_test(record_three_wrong_tries_kill_it),
		cmocka_unit_test(record_bound_to_client),
		T(exchange_creates_user_once),
		T(exchange_only_latest_code),
		T(exchange_wrong_tries_persist),
		T(exchange_expired),
		T(exchange_blocked_user),
		cmocka_unit_test(deliver_environment_and_placeholders),
		cmocka_unit_test(deliver_no_shell),
		cmocka_unit_test(deliver_failure_output_only_logged_masked),
		cmocka_unit_test(deliver_failure_output_cut_inside_the_code),
		cmocka_unit_test(deliver_failure_without_output),
		cmocka_unit_test(deliver_timeout_kills),
		cmocka_unit_test(deliver_refuses_relative_or_missing),
		T(courier_delivers_audits_and_withdraws),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
