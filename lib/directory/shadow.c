/*
 * shadow.c: the local record of a user whom a directory (Azure AD, ADFS,
 * and later LDAP) authenticates.  It has no password: the login goes to
 * the directory every time, and each successful one writes the profile
 * the directory sent (docs/COMPAT.md 12.4).  The record is what makes
 * the rest work as for database users: refresh tokens and /userinfo
 * look the user up, latchkeyctl blocks it, the audit log names it.
 * Fields an administrator set (blocked, app_metadata, user_metadata)
 * are kept; every profile value is checked against the user table
 * (record.c) and left out when it does not fit.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"

/* The profile's strings, by user field name. */
#define PROFILE_N	6

struct upsert {
	const struct shadow_profile *p;
	json_t		*out;		/* the record written */
};

/* Set rec[name] to the string v when it fits the user table, else
 * remove it (the directory no longer sends it). */
static void
put_text(json_t *rec, const char *name, const char *v)
{
	const struct fdef	*f = record_field(REC_USER, name);
	json_t			*j = v != NULL ? json_string(v) : NULL;

	if (j == NULL || f == NULL || record_value_problem(f, j) != NULL) {
		json_object_del(rec, name);
		json_decref(j);
		return;
	}
	json_object_set_new(rec, name, j);
}

/* Set rec["groups"] to the groups of g that fit the user table (a group
 * that does not is left out), or remove it when g is NULL (the
 * connection does not read groups). */
static void
put_groups(json_t *rec, const json_t *g)
{
	const struct fdef	*f = record_field(REC_USER, "groups");
	json_t			*out = json_array(), *one, *v;
	size_t			 i;

	json_array_foreach(g, i, v) {
		if (out == NULL || f == NULL ||
		    json_array_size(out) == REC_LIST_MAX)
			break;
		if ((one = json_pack("[O]", v)) == NULL)
			continue;
		if (record_value_problem(f, one) == NULL)
			json_array_append(out, v);
		json_decref(one);
	}
	if (g == NULL || out == NULL || f == NULL) {
		json_decref(out);
		json_object_del(rec, "groups");
		return;
	}
	json_object_set_new(rec, "groups", out);
}

/* The profile written into rec. */
static void
put_profile(json_t *rec, const struct shadow_profile *p)
{
	const char	*names[PROFILE_N] = { "name", "given_name",
			    "family_name", "nickname", "preferred_username",
			    "picture" };
	const char	*vals[PROFILE_N] = { p->name, p->given_name,
			    p->family_name, p->nickname, p->preferred_username,
			    p->picture };
	char		 email[IDENT_MAX + 1];
	size_t		 i;

	for (i = 0; i < PROFILE_N; i++)
		put_text(rec, names[i], vals[i]);
	if (p->email != NULL && ident_email(p->email, email,
	    sizeof(email)) == 0) {
		put_text(rec, "email", email);
		json_object_set_new(rec, "email_verified",
		    json_boolean(p->email_verified));
	} else {
		json_object_del(rec, "email");
		json_object_del(rec, "email_verified");
	}
	/* A directory's phone is what an administrator typed: kept only
	 * when it is +E.164 (record.c), never verified. */
	put_text(rec, "phone_number", p->phone_number);
	if (json_object_get(rec, "phone_number") != NULL)
		json_object_set_new(rec, "phone_verified", json_false());
	else
		json_object_del(rec, "phone_verified");
	put_groups(rec, p->groups);
}

/* The identifiers left out, in turn, when another user of the connection
 * holds one (an account the directory renamed or renumbered). */
static const char *const unique_fields[][2] = {
	{ "email", "email_verified" },
	{ "phone_number", "phone_verified" },
};

/* 0 when the stored record old (NULL: none) may become p's user: it
 * is a user of p's connection. */
static int
same_connection(json_t *old, const struct shadow_profile *p)
{
	struct user	 ou;
	int		 same;

	if (old == NULL)
		return 0;
	if (record_parse(REC_USER, old, &ou) == -1)
		return -1;
	same = strcmp(ou.connection, p->connection) == 0;
	record_clear(REC_USER, &ou);
	if (!same)
		lk_err("user %s belongs to another connection", p->user_id);
	return same ? 0 : -1;
}

static enum store_rc
upsert_txn(struct store *st, struct txn *txn, void *arg)
{
	struct upsert	*u = arg;
	json_t		*old = NULL, *rec;
	enum store_rc	 rc;
	size_t		 i;

	json_decref(u->out);
	u->out = NULL;
	rc = store_get(st, txn, SK_USER, u->p->user_id, &old);
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	if (same_connection(old, u->p) == -1) {
		json_decref(old);
		return STORE_ERR;
	}
	rec = old != NULL ? old : json_pack("{s:s, s:s}", "user_id",
	    u->p->user_id, "connection", u->p->connection);
	if (rec == NULL)
		return STORE_ERR;
	put_profile(rec, u->p);
	rc = store_user_put(st, txn, rec);
	for (i = 0; rc == STORE_EXISTS && i < sizeof(unique_fields) /
	    sizeof(unique_fields[0]); i++) {
		if (json_object_get(rec, unique_fields[i][0]) == NULL)
			continue;
		lk_warn("user %s: %s held by another user: left out",
		    u->p->user_id, unique_fields[i][0]);
		json_object_del(rec, unique_fields[i][0]);
		json_object_del(rec, unique_fields[i][1]);
		rc = store_user_put(st, txn, rec);
	}
	if (rc == STORE_OK)
		u->out = rec;
	else
		json_decref(rec);
	return rc;
}

enum store_rc
shadow_upsert(struct store *st, const struct shadow_profile *p,
    struct user *user)
{
	struct upsert	 u = { p, NULL };
	enum store_rc	 rc;

	memset(user, 0, sizeof(*user));
	rc = store_txn_run(st, upsert_txn, &u);
	if (rc == STORE_OK && record_parse(REC_USER, u.out, user) == -1)
		rc = STORE_ERR;
	json_decref(u.out);
	return rc;
}

/* The first of claims' names that is a non-empty string. */
static const char *
first_claim(const json_t *claims, const char *const *names, size_t n)
{
	const char	*v;
	size_t		 i;

	for (i = 0; i < n && names[i] != NULL; i++)
		if ((v = json_string_value(json_object_get(claims,
		    names[i]))) != NULL && *v != '\0')
			return v;
	return NULL;
}

/* An email the directory vouches for: "email", else a UPN or preferred
 * username that is an address (Entra ID's usual sign-in name). */
static const char *
claims_email(const json_t *claims)
{
	static const char *const names[] = { "email", "upn",
	    "preferred_username" };
	const char	*v;
	size_t		 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((v = json_string_value(json_object_get(claims,
		    names[i]))) != NULL && ident_email_ok(v))
			return v;
	return NULL;
}

int
shadow_from_claims(const struct conn *c, const struct extconn_def *d,
    const json_t *claims, char *uid, size_t uidsz, struct shadow_profile *p)
{
	const char	*id, *one[1];
	json_t		*j;
	int		 n, bad;

	memset(p, 0, sizeof(*p));
	one[0] = c->user_id_attribute;
	id = c->user_id_attribute != NULL ? first_claim(claims, one, 1) :
	    first_claim(claims, d->id_claims, EXT_ID_CLAIMS);
	if (id == NULL || c->name == NULL)
		return -1;
	/* Auth0's enterprise form: strategy|connection|directory id. */
	n = snprintf(uid, uidsz, "%s|%s|%s", d->prefix, c->name, id);
	if (n < 0 || (size_t)n >= uidsz)
		return -1;
	j = json_string(uid);
	bad = j == NULL || record_value_problem(record_field(REC_USER,
	    "user_id"), j) != NULL;
	json_decref(j);
	if (bad)
		return -1;
	p->user_id = uid;
	p->connection = c->name;
	p->email = claims_email(claims);
	p->email_verified = json_is_true(json_object_get(claims,
	    "email_verified"));
	p->name = json_string_value(json_object_get(claims, "name"));
	if (p->name == NULL)
		p->name = json_string_value(json_object_get(claims,
		    "unique_name"));
	p->given_name = json_string_value(json_object_get(claims,
	    "given_name"));
	p->family_name = json_string_value(json_object_get(claims,
	    "family_name"));
	p->preferred_username = json_string_value(json_object_get(claims,
	    "preferred_username"));
	p->picture = json_string_value(json_object_get(claims, "picture"));
	return 0;
}
