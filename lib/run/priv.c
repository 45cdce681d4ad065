/*
 * Least privilege after start-up (docs/security.md), in a fixed order as
 * OpenBSD's slowcgi does it:
 *
 *  1. the run user and group are resolved from LATCHKEY_USER and
 *     LATCHKEY_GROUP while the passwd and group files can still be read,
 *     and those files are closed again;
 *  2. a process started as root becomes that user for good: the
 *     supplementary groups, then the real, effective and saved group,
 *     then the three user ids (setgroups, setresgid, setresuid), and it
 *     checks that root cannot be had back; started as root without a
 *     run user it refuses to serve;
 *  3. PR_SET_NO_NEW_PRIVS, root or not: no exec of this process or its
 *     children gains privileges (set-user-ID files, file capabilities).
 *
 * This happens before the database environment is opened, in the
 * process that then serves or forks the workers: nothing latchkey opens
 * needs root, the FastCGI socket is inherited, and every file Berkeley
 * DB creates (region files at a recovery, log files as the log grows)
 * must belong to the run user, or the run user's later processes and
 * latchkeyctl could not open the environment.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

/* A user or group named by name or number: the number, or -1. */
static long long
id_number(const char *s)
{
	char		*end;
	long long	 n;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	return errno == 0 && *end == '\0' && n >= 0 && n < 0xffffffffLL ? n :
	    -1;
}

static int
user_find(struct priv *p, const char *user)
{
	struct passwd	*pw;
	long long	 n;

	if ((pw = getpwnam(user)) == NULL && (n = id_number(user)) >= 0)
		pw = getpwuid((uid_t)n);
	if (pw == NULL) {
		lk_err("%s=%.64s: no such user", LK_USER_ENV, user);
		return -1;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	return 0;
}

static int
group_find(struct priv *p, const char *group)
{
	struct group	*gr;
	long long	 n;

	if ((gr = getgrnam(group)) == NULL && (n = id_number(group)) >= 0)
		gr = getgrgid((gid_t)n);
	if (gr == NULL) {
		lk_err("%s=%.64s: no such group", LK_GROUP_ENV, group);
		return -1;
	}
	p->gid = gr->gr_gid;
	return 0;
}

int
priv_load(struct priv *p, const char *user, const char *group)
{
	int	 rc = 0;

	memset(p, 0, sizeof(*p));
	p->root = geteuid() == 0;
	if (user != NULL && *user != '\0') {
		p->set = 1;
		rc = user_find(p, user);
		if (rc == 0 && group != NULL && *group != '\0')
			rc = group_find(p, group);
	} else if (p->root)
		lk_err("started as root without %s: refusing to serve as "
		    "root; set %s (and %s) to the user that owns %s",
		    LK_USER_ENV, LK_USER_ENV, LK_GROUP_ENV, LK_HOME_ENV);
	/* What getpwnam and getgrnam opened is not needed again. */
	endpwent();
	endgrent();
	if (p->root && !p->set)
		return -1;
	return rc;
}

/* The home must belong to the run user: Berkeley DB creates files in it
 * for as long as the responder runs. */
static int
home_owned(const struct priv *p, const char *home)
{
	struct stat	 st;

	if (stat(home, &st) == -1 || st.st_uid == p->uid)
		return 0;	/* a missing home is reported by ctx.c */
	lk_err("%s is owned by uid %lu, not by the run user (uid %lu): "
	    "chown -R it to %s", home, (unsigned long)st.st_uid,
	    (unsigned long)p->uid, LK_USER_ENV);
	return -1;
}

/* Become uid:gid for good; -1 (logged) when any step fails or root can
 * be had back. */
static int
become(const struct priv *p)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg;

	if (setgroups(1, &p->gid) == -1 ||
	    setresgid(p->gid, p->gid, p->gid) == -1 ||
	    setresuid(p->uid, p->uid, p->uid) == -1) {
		lk_err("dropping privileges to uid %lu gid %lu: %s",
		    (unsigned long)p->uid, (unsigned long)p->gid,
		    strerror(errno));
		return -1;
	}
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != p->uid || eu != p->uid || su != p->uid ||
	    rg != p->gid || eg != p->gid || sg != p->gid ||
	    setuid(0) != -1 || seteuid(0) != -1) {
		lk_err("dropping privileges to uid %lu: root is still held",
		    (unsigned long)p->uid);
		return -1;
	}
	return 0;
}

int
priv_drop(const struct priv *p, const char *home)
{

	if (p->root && p->uid == 0)
		lk_warn("%s names root: serving as root", LK_USER_ENV);
	else if (p->root && (home_owned(p, home) == -1 || become(p) == -1))
		return -1;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		lk_err("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return -1;
	}
	return 0;
}
