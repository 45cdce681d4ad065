/*
 * refresh_conf.c: a client's refresh-token settings, Auth0's
 * "refresh_token" object (docs/COMPAT.md 5.3), read through one table of
 * its members; and when a non-rotating refresh writes its new idle
 * expiry.
 */
#include <stdio.h>
#include <string.h>

#include "extern.h"
#include "refresh_int.h"

/* docs/COMPAT.md 5.3: 30 days absolute and idle, at most a year. */
#define LIFETIME_DEFAULT	2592000
#define IDLE_DEFAULT		2592000
#define LIFETIME_MAX		31557600
#define LEEWAY_MAX		60

/* The "refresh_token" settings of a client (Auth0's shape). */
enum rset { RS_ROTATION, RS_EXPIRATION, RS_LIFETIME, RS_IDLE,
	RS_INF_LIFETIME, RS_INF_IDLE, RS_LEEWAY, RS__MAX };
enum rtype { RT_ENUM, RT_INT, RT_BOOL };

static const char *const rotation_types[] = { "rotating", "non-rotating", NULL };

static const char *
rotation_name(size_t i)
{

	return i < 2 ? rotation_types[i] : NULL;
}

/* The rotation_type values, for latchkeyctl's options. */
const struct vocab refresh_rotation_vocab = { "rotation type", 2,
	rotation_name };
static const char *const expiration_types[] = { "expiring", "non-expiring", NULL };

static const struct {
	const char		*name;
	enum rtype		 type;
	long			 min, max;
	const char *const	*allowed;
} rsets[RS__MAX] = {
	[RS_ROTATION] = { "rotation_type", RT_ENUM, 0, 0, rotation_types },
	[RS_EXPIRATION] = { "expiration_type", RT_ENUM, 0, 0, expiration_types },
	[RS_LIFETIME] = { "token_lifetime", RT_INT, 1, LIFETIME_MAX, NULL },
	[RS_IDLE] = { "idle_token_lifetime", RT_INT, 1, LIFETIME_MAX, NULL },
	[RS_INF_LIFETIME] = { "infinite_token_lifetime", RT_BOOL, 0, 0, NULL },
	[RS_INF_IDLE] = { "infinite_idle_token_lifetime", RT_BOOL, 0, 0, NULL },
	[RS_LEEWAY] = { "leeway", RT_INT, 0, LEEWAY_MAX, NULL },
};

static const json_t *
rget(const json_t *rt, enum rset s)
{

	return json_object_get(rt, rsets[s].name);
}

static long
setting(const json_t *rt, enum rset s, long def)
{
	const json_t	*v = rget(rt, s);

	return json_is_integer(v) ? (long)json_integer_value(v) : def;
}

/* 1 when setting s is the string value. */
static int
setting_is(const json_t *rt, enum rset s, const char *value)
{
	const char	*v = json_string_value(rget(rt, s));

	return v != NULL && strcmp(v, value) == 0;
}

void
refresh_conf(const struct client_rec *client, struct refresh_conf *c)
{
	const json_t	*rt = client != NULL ? client->refresh_token : NULL;

	/* Auth0's default is non-rotating: a client that keeps its first
	 * refresh token must not trip reuse detection after a drop-in. */
	c->rotating = setting_is(rt, RS_ROTATION, "rotating");
	c->lifetime = setting(rt, RS_LIFETIME, LIFETIME_DEFAULT);
	c->idle = setting(rt, RS_IDLE, IDLE_DEFAULT);
	c->leeway = c->rotating ? setting(rt, RS_LEEWAY, 0) : 0;
	if (setting_is(rt, RS_EXPIRATION, "non-expiring"))
		c->lifetime = c->idle = 0;
	if (json_is_true(rget(rt, RS_INF_LIFETIME)))
		c->lifetime = 0;
	if (json_is_true(rget(rt, RS_INF_IDLE)))
		c->idle = 0;
}

static const char *
rset_problem(enum rset s, const json_t *v)
{
	size_t	 i;

	switch (rsets[s].type) {
	case RT_BOOL:
		return json_is_boolean(v) ? NULL : "not true or false";
	case RT_INT:
		if (!json_is_integer(v) ||
		    json_integer_value(v) < rsets[s].min ||
		    json_integer_value(v) > rsets[s].max)
			return "not an integer in range (lifetimes 1-31557600, "
			    "leeway 0-60)";
		return NULL;
	default:
		for (i = 0; json_is_string(v) && rsets[s].allowed[i] != NULL; i++)
			if (strcmp(json_string_value(v), rsets[s].allowed[i]) == 0)
				return NULL;
		return "not an allowed value";
	}
}

const char *
refresh_conf_problem(const json_t *settings)
{
	static char	 msg[128];
	const char	*k, *why;
	json_t		*v;
	int		 s;

	if (!json_is_object(settings))
		return "not an object";
	json_object_foreach((json_t *)settings, k, v) {
		for (s = 0; s < RS__MAX && strcmp(k, rsets[s].name) != 0; s++)
			continue;
		if (s == RS__MAX)
			return "unknown member (rotation_type, expiration_type, "
			    "token_lifetime, idle_token_lifetime, leeway, "
			    "infinite_token_lifetime, infinite_idle_token_lifetime)";
		if (!json_is_null(v) && (why = rset_problem((enum rset)s, v)) != NULL) {
			snprintf(msg, sizeof(msg), "%s: %s", rsets[s].name, why);
			return msg;
		}
	}
	return NULL;
}

/*
 * Non-rotating: the same token again, its idle time restarted.  The
 * restart is written (a durable commit) only when it moves the idle
 * expiry by at least TOUCH_SLACK_DIV-th of the idle lifetime, at most
 * TOUCH_SLACK_MAX s: a token an app refreshes every few seconds then
 * costs a read, not a write each time, and may expire idle that much
 * early (at most 1 % of its idle lifetime, at most a minute; a lifetime
 * under TOUCH_SLACK_DIV s is always written exactly).
 */
#define TOUCH_SLACK_DIV	100
#define TOUCH_SLACK_MAX	60

int
refresh_touch_due(json_int_t idle_expires_at, long idle, time_t now)
{
	long	 slack = idle / TOUCH_SLACK_DIV;

	if (idle <= 0)
		return 1;
	if (slack > TOUCH_SLACK_MAX)
		slack = TOUCH_SLACK_MAX;
	return idle_expires_at == 0 ||
	    refresh_expiry(now, idle) - idle_expires_at >= (json_int_t)slack;
}
