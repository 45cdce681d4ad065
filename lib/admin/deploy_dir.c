/*
 * Directory exports for deploy_read.c: a Deploy CLI export written with
 * --format=directory read into the shape of its YAML export.  The layout
 * is the Deploy CLI's (src/context/directory/handlers and
 * src/tools/constants.ts in github.com/auth0/auth0-deploy-cli): one JSON
 * file a resource, in folders named for the resource type.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extern.h"

struct out {
	char		*err;
	size_t		 errsz;
	off_t		 total;		/* bytes of the files read so far */
};

static void
direrr(struct out *o, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write "path: what" to o->err. */
static void
direrr(struct out *o, const char *path, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (o->errsz == 0)
		return;
	n = snprintf(o->err, o->errsz, "%s: ", path);
	if (n < 0 || (size_t)n >= o->errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(o->err + n, o->errsz - (size_t)n, fmt, ap);
	va_end(ap);
}

/* What a path of a directory export holds. */
enum dkind {
	DK_FILE,	/* one JSON object */
	DK_DIR,		/* *.json files, one object each, into an array */
	DK_DATABASES,	/* <name>/database.json folders, into an array */
};

static const struct dsect {
	const char	*rel;		/* below the export's directory */
	const char	*key;		/* its section (the YAML key) */
	const char	*member;	/* its member of key, or NULL */
	enum dkind	 kind;
} dsects[] = {
	{ "tenant.json", "tenant", NULL, DK_FILE },
	{ "clients", "clients", NULL, DK_DIR },
	{ "resource-servers", "resourceServers", NULL, DK_DIR },
	{ "connections", "connections", NULL, DK_DIR },
	{ "database-connections", "databases", NULL, DK_DATABASES },
	{ "attack-protection/brute-force-protection.json",
	  "attackProtection", "bruteForceProtection", DK_FILE },
	{ "attack-protection/suspicious-ip-throttling.json",
	  "attackProtection", "suspiciousIpThrottling", DK_FILE },
	{ "attack-protection/breached-password-detection.json",
	  "attackProtection", "breachedPasswordDetection", DK_FILE },
	{ "attack-protection/bot-detection.json",
	  "attackProtection", "botDetection", DK_FILE },
	{ "attack-protection/captcha.json",
	  "attackProtection", "captcha", DK_FILE },
	{ "guardian/factors", "guardianFactors", NULL, DK_DIR },
	{ "guardian/providers", "guardianFactorProviders", NULL, DK_DIR },
	{ "guardian/templates", "guardianFactorTemplates", NULL, DK_DIR },
	{ "guardian/policies.json", "guardianPolicies", NULL, DK_FILE },
	{ "guardian/phoneFactorSelectedProvider.json",
	  "guardianPhoneFactorSelectedProvider", NULL, DK_FILE },
	{ "guardian/phoneFactorMessageTypes.json",
	  "guardianPhoneFactorMessageTypes", NULL, DK_FILE },
	{ "emails/provider.json", "emailProvider", NULL, DK_FILE },
};

/* Top-level folders read by dsects; any other is kept by its name. */
static const char *const dknown[] = {
	"clients", "resource-servers", "connections", "database-connections",
	"attack-protection", "guardian", NULL
};

/*
 * Folders whose YAML key is not their name in camelCase, with the file
 * of theirs that dsects reads as another section (src/tools/constants.ts:
 * EMAIL_TEMPLATES_DIRECTORY, CLIENTS_GRANTS_DIRECTORY).
 */
static const struct {
	const char	*dir;
	const char	*key;
	const char	*other;		/* not part of key, or NULL */
} drenamed[] = {
	{ "emails", "emailTemplates", "provider.json" },
	{ "grants", "clientGrants", NULL },
};

/* dir/name in out (PATH_MAX); 0 with o->err when too long. */
static int
path_join(char *out, const char *dir, const char *name, struct out *o)
{
	int		 n;

	n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	if (n < 0 || n >= PATH_MAX) {
		direrr(o, dir, "path too long");
		return 0;
	}
	return 1;
}

static int
dent_visible(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/*
 * The visible entries of dir, sorted, in *list (free with dents_free);
 * their count, 0 when dir does not exist, -1 with o->err on failure.
 */
static int
dents(const char *dir, struct dirent ***list, struct out *o)
{
	int		 n, i;

	*list = NULL;
	if ((n = scandir(dir, list, dent_visible, alphasort)) == -1) {
		if (errno == ENOENT)
			return 0;
		direrr(o, dir, "%s", strerror(errno));
		return -1;
	}
	if (n > DEPLOY_FILES_MAX) {
		direrr(o, dir, "more than %d files", DEPLOY_FILES_MAX);
		for (i = 0; i < n; i++)
			free((*list)[i]);
		free(*list);
		*list = NULL;
		return -1;
	}
	return n;
}

static void
dents_free(struct dirent **list, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int
is_json_name(const char *name)
{
	size_t	 len = strlen(name);

	return len > 5 && strcmp(name + len - 5, ".json") == 0;
}

/* A file that must hold a JSON object, as a new object. */
static json_t *
object_load(const char *path, struct out *o)
{
	struct stat	 st;
	json_t		*j;

	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    (o->total += st.st_size) > DEPLOY_EXPORT_MAX) {
		direrr(o, path, "the export is larger than %d bytes",
		    DEPLOY_EXPORT_MAX);
		return NULL;
	}
	if ((j = deploy_file(path, o->err, o->errsz)) == NULL)
		return NULL;
	if (!json_is_object(j)) {
		direrr(o, path, "not a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

/*
 * A database connection's folder: database.json, with a top-level
 * customScripts moved into options as the Deploy CLI does.  The script
 * files are not read: customScripts names them, for the mapper to
 * report.  NULL without error (*skip) when there is no database.json
 * (or dir is a file).
 */
static json_t *
database_load(const char *dir, int *skip, struct out *o)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	json_t		*db, *opts, *cs;

	*skip = 0;
	if (!path_join(path, dir, "database.json", o))
		return NULL;
	if (stat(path, &st) == -1 && (errno == ENOENT || errno == ENOTDIR)) {
		*skip = 1;
		return NULL;
	}
	if ((db = object_load(path, o)) == NULL)
		return NULL;
	if ((cs = json_object_get(db, "customScripts")) == NULL)
		return db;
	if ((opts = json_object_get(db, "options")) == NULL) {
		opts = json_object();
		if (json_object_set_new(db, "options", opts) == -1)
			goto fail;
	}
	if (!json_is_object(opts)) {
		direrr(o, path, "options: not a JSON object");
		goto fail;
	}
	if (json_object_set(opts, "customScripts", cs) == -1 ||
	    json_object_del(db, "customScripts") == -1)
		goto fail;
	return db;
fail:
	json_decref(db);
	return NULL;
}

/*
 * The *.json files of dir but other (kind DK_DIR), or its database
 * folders (DK_DATABASES), appended to arr in name order.  0 with o->err.
 */
static int
dir_load(const char *dir, enum dkind kind, const char *other, json_t *arr,
    struct out *o)
{
	struct dirent	**list;
	char		  path[PATH_MAX];
	json_t		 *j;
	int		  i, n, skip = 0, ok = 0;

	if ((n = dents(dir, &list, o)) == -1)
		return 0;
	for (i = 0; i < n; i++) {
		if (kind == DK_DIR && (!is_json_name(list[i]->d_name) ||
		    (other != NULL && strcmp(list[i]->d_name, other) == 0)))
			continue;
		if (!path_join(path, dir, list[i]->d_name, o))
			goto out;
		if (kind == DK_DIR)
			j = object_load(path, o);
		else
			j = database_load(path, &skip, o);
		if (j == NULL && !skip)
			goto out;
		if (j != NULL && json_array_append_new(arr, j) == -1)
			goto out;
	}
	ok = 1;
out:
	dents_free(list, n);
	return ok;
}

/*
 * Where a section's value goes: the object root[key] (created) when
 * member is set, else root itself.
 */
static json_t *
section_parent(json_t *root, const char *key, const char *member)
{
	json_t	*p;

	if (member == NULL)
		return root;
	if ((p = json_object_get(root, key)) != NULL)
		return p;
	p = json_object();
	if (json_object_set_new(root, key, p) == -1)
		return NULL;
	return p;
}

/* One row of dsects into root; 0 with o->err. */
static int
dsect_load(const char *top, const struct dsect *d, json_t *root,
    struct out *o)
{
	char		 path[PATH_MAX];
	struct stat	 st;
	json_t		*v, *parent;

	if (!path_join(path, top, d->rel, o))
		return 0;
	if (stat(path, &st) == -1)
		return errno == ENOENT;
	if (d->kind == DK_FILE)
		v = object_load(path, o);
	else if ((v = json_array()) != NULL &&
	    !dir_load(path, d->kind, NULL, v, o)) {
		json_decref(v);
		return 0;
	}
	if (v == NULL)
		return 0;
	if ((parent = section_parent(root, d->key, d->member)) == NULL ||
	    json_object_set_new(parent,
	    d->member != NULL ? d->member : d->key, v) == -1)
		return 0;
	return 1;
}

/*
 * The YAML key of a folder not in dknown ("rules-configs" rulesConfigs),
 * and in *other the file of it that is not part of that section.
 */
static void
dir_key(const char *dir, char *key, size_t keysz, const char **other)
{
	size_t	 i, k = 0;
	int	 up = 0;

	*other = NULL;
	for (i = 0; i < sizeof(drenamed) / sizeof(drenamed[0]); i++)
		if (strcmp(dir, drenamed[i].dir) == 0) {
			snprintf(key, keysz, "%s", drenamed[i].key);
			*other = drenamed[i].other;
			return;
		}
	for (i = 0; dir[i] != '\0' && k + 1 < keysz; i++) {
		if (dir[i] == '-' || dir[i] == '_') {
			up = 1;
			continue;
		}
		key[k++] = up ? (char)toupper((unsigned char)dir[i]) : dir[i];
		up = 0;
	}
	key[k] = '\0';
}

/*
 * Folders the reader does not know (rules, actions, pages, emails...):
 * each a section of its *.json files, kept for the mapper to report as
 * skipped.  0 with o->err.
 */
static int
dir_others(const char *top, json_t *root, struct out *o)
{
	struct dirent	**list;
	char		  path[PATH_MAX], key[NAME_MAX + 1];
	const char	 *other;
	struct stat	  st;
	json_t		 *arr;
	int		  i, k, n, ok = 0;

	if ((n = dents(top, &list, o)) == -1)
		return 0;
	for (i = 0; i < n; i++) {
		for (k = 0; dknown[k] != NULL; k++)
			if (strcmp(list[i]->d_name, dknown[k]) == 0)
				break;
		if (dknown[k] != NULL)
			continue;
		if (!path_join(path, top, list[i]->d_name, o))
			goto out;
		if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode))
			continue;
		dir_key(list[i]->d_name, key, sizeof(key), &other);
		if (json_object_get(root, key) != NULL)
			continue;	/* a section dsects has read */
		if ((arr = json_array()) == NULL)
			goto out;
		if (json_object_set_new(root, key, arr) == -1) {
			direrr(o, path, "a folder name that is not UTF-8");
			goto out;
		}
		if (!dir_load(path, DK_DIR, other, arr, o))
			goto out;
	}
	ok = 1;
out:
	dents_free(list, n);
	return ok;
}

json_t *
deploy_dir(const char *top, char *err, size_t errsz)
{
	struct out	 ob = { err, errsz, 0 }, *o = &ob;
	json_t		*root;
	size_t		 i;

	if ((root = json_object()) == NULL)
		return NULL;
	for (i = 0; i < sizeof(dsects) / sizeof(dsects[0]); i++)
		if (!dsect_load(top, &dsects[i], root, o))
			goto fail;
	if (!dir_others(top, root, o))
		goto fail;
	return root;
fail:
	json_decref(root);
	return NULL;
}
