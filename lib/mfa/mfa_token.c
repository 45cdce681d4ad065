/*
 * mfa_token.c: the mfa_token of a 403 mfa_required (docs/COMPAT.md
 * 13.2).  Stateless: the login it continues (user, client, audience,
 * scope, realm, first grant), a random id and the expiry, as compact
 * JSON sealed with AES-256-GCM (mfa_seal.c), so that any responder
 * process opens it, nobody can read or forge one, and a changed byte
 * makes it malformed.  It lives MFA_TOKEN_LIFETIME seconds: Auth0's
 * one-time codes live 5 minutes and its /mfa/ access token 10
 * (AUTH0-documented); 5 minutes lets a user open an authenticator app
 * and type a code, and bounds what a stolen token is worth.  A success
 * spends its id (an SK_MFA "t" record until it would have expired), so
 * it is single use after success; failures do not spend it (a mistyped
 * code is retried with the same token, under the failure limit).
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "extern.h"

#define TOKEN_AAD	"latchkey mfa_token"
#define TOKEN_RAW_MAX	((MFA_SEAL_MAX / 4) * 3)

/* The members, by their short names in the sealed JSON. */
static const struct {
	const char	*name;
	size_t		 off;
	int		 required;
} members[] = {
	{ "j", offsetof(struct mfa_tok, jti), 1 },
	{ "u", offsetof(struct mfa_tok, user_id), 1 },
	{ "c", offsetof(struct mfa_tok, client_id), 1 },
	{ "a", offsetof(struct mfa_tok, audience), 0 },
	{ "s", offsetof(struct mfa_tok, scope), 0 },
	{ "r", offsetof(struct mfa_tok, realm), 1 },
	{ "g", offsetof(struct mfa_tok, gty), 1 },
};
#define NMEMBERS	(sizeof(members) / sizeof(members[0]))

static const char **
member(struct mfa_tok *t, size_t i)
{
	return (const char **)(void *)((char *)t + members[i].off);
}

int
mfa_token_make(struct store *s, const struct mfa_tok *in, time_t now,
    char *out, size_t outsz)
{
	struct mfa_tok	 t = *in;
	char		 jti[33], *text = NULL;
	json_t		*j;
	size_t		 i;
	int		 rc = -1;

	if (rand_hex(jti, 16) == -1 || (j = json_object()) == NULL)
		return -1;
	t.jti = jti;
	for (i = 0; i < NMEMBERS; i++)
		if (*member(&t, i) != NULL)
			json_object_set_new(j, members[i].name,
			    json_string(*member(&t, i)));
	json_object_set_new(j, "e", json_integer((json_int_t)now +
	    MFA_TOKEN_LIFETIME));
	if ((text = json_dumps(j, JSON_COMPACT)) != NULL)
		rc = mfa_seal(s, TOKEN_AAD, (unsigned char *)text,
		    strlen(text), out, outsz);
	json_decref(j);
	free(text);
	return rc;
}

/* The JSON of an opened token into t; 0 or -1 (not ours). */
static int
token_parse(json_t *j, struct mfa_tok *t)
{
	const json_t	*v;
	size_t		 i;

	for (i = 0; i < NMEMBERS; i++) {
		v = json_object_get(j, members[i].name);
		*member(t, i) = json_string_value(v);
		if (members[i].required && (*member(t, i) == NULL ||
		    **member(t, i) == '\0'))
			return -1;
	}
	if (!json_is_integer(v = json_object_get(j, "e")))
		return -1;
	t->exp = json_integer_value(v);
	t->json = j;
	return 0;
}

/* The SK_MFA key of a spent token's id. */
static int
spent_key(const char *jti, char *key, size_t keysz)
{
	int	 n = snprintf(key, keysz, "t\x1f%s", jti);

	return n < 0 || (size_t)n >= keysz ? -1 : 0;
}

enum mfa_tok_rc
mfa_token_open(struct store *s, const char *token, time_t now,
    struct mfa_tok *t)
{
	unsigned char	 raw[TOKEN_RAW_MAX];
	char		 key[64];
	json_t		*j, *spent = NULL;
	long		 n;
	enum store_rc	 src;

	memset(t, 0, sizeof(*t));
	if (token == NULL || (n = mfa_open(s, TOKEN_AAD, token, raw,
	    sizeof(raw))) < 0)
		return MFA_TOK_MALFORMED;
	j = json_loadb((const char *)raw, (size_t)n, 0, NULL);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (j == NULL || !json_is_object(j) || token_parse(j, t) == -1) {
		json_decref(j);
		memset(t, 0, sizeof(*t));
		return MFA_TOK_MALFORMED;
	}
	if (t->exp <= (long long)now)
		return MFA_TOK_EXPIRED;
	if (spent_key(t->jti, key, sizeof(key)) == -1)
		return MFA_TOK_MALFORMED;
	/* A spent token is no token any more. */
	src = store_get(s, NULL, SK_MFA, key, &spent);
	json_decref(spent);
	if (src == STORE_OK)
		return MFA_TOK_MALFORMED;
	return src == STORE_NOTFOUND ? MFA_TOK_OK : MFA_TOK_ERR;
}

void
mfa_tok_clear(struct mfa_tok *t)
{
	json_decref(t->json);
	memset(t, 0, sizeof(*t));
}

enum store_rc
mfa_token_spend(struct store *s, struct txn *txn, const struct mfa_tok *t,
    time_t now)
{
	char		 key[64];
	json_t		*rec;
	enum store_rc	 rc;

	if (spent_key(t->jti, key, sizeof(key)) == -1 ||
	    (rec = json_pack("{s:I}", "exp", (json_int_t)t->exp)) == NULL)
		return STORE_ERR;
	rc = store_put(s, txn, SK_MFA, key, rec, STORE_NOOVERWRITE);
	json_decref(rec);
	(void)now;
	return rc;
}
