/*
 * refresh_fx.h: the fixture test_refresh and test_refresh_admin share:
 * a fresh Berkeley DB environment per test with a user (UID), the API
 * AUD and a client (CID), and the steps the tests repeat.
 */
#ifndef REFRESH_FX_H
#define REFRESH_FX_H

#define NOW		1700000000	/* the fixed clock */
#define UID		"auth0|0123456789abcdef01234567"
#define CID		"app"
#define SCOPE		"openid profile offline_access read:x write:x"
#define AUD		"https://api.example/"

struct fx {
	char		 dir[PATH_MAX - 64];
	char		 home[PATH_MAX];
	struct lk_ctx	 ctx;
	struct client_rec client;	/* the client record in use */
};

/* A client record (CID) with these refresh-token settings (0: unset). */
json_t		*client_rec(const char *rotation, int lifetime, int idle,
		    int leeway);
/* The client record c (a reference stolen) as the responder reads it. */
void		 client_parse(json_t *c, struct client_rec *out);
/* Write user uid (blocked; password_set_at pwd_at, 0: none). */
void		 user_put(struct fx *fx, const char *uid, int blocked,
		    json_int_t pwd_at);
/* The API the tokens are issued for (AUD), and its write. */
json_t		*api_rec(void);
void		 api_put(struct fx *fx);
/* cmocka setup and teardown: the environment, UID, AUD and a rotating
 * client. */
int		 setup(void **state);
int		 teardown(void **state);
/* Make c (a client_rec() record, stolen) the client in use. */
void		 use_client(struct fx *fx, json_t *c);
/* A new family's first token, issued at t. */
void		 issue(struct fx *fx, const char *device, time_t t,
		    char out[96]);
/* Redeem token at t (scope: NULL for all); next gets the rotated token,
 * granted the scope (either may be NULL). */
enum refresh_rc	 redeem(struct fx *fx, const char *token, const char *scope,
		    time_t t, char next[96], char granted[512]);
/* The family id of token (static storage). */
const char	*family_of(struct fx *fx, const char *token);
/* A store_each or store_scan callback counting records into *(int *)arg. */
int		 count_cb(const char *key, json_t *val, void *arg);

#endif /* !REFRESH_FX_H */
