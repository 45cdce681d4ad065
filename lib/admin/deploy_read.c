/*
 * Auth0 Deploy CLI exports, for latchkeyctl import-auth0-tenant: read
 * one (a YAML file, a directory export, or a JSON file of the same
 * sections) into one JSON object in the YAML export's shape, leaving the
 * meaning of each section to the mapper.
 *
 * Sources: the Deploy CLI's documentation and code (github.com/auth0/
 * auth0-deploy-cli): docs/keyword-replacement.md and keywordReplace in
 * src/tools/utils.ts (replacement on the file's text before parsing),
 * src/context/yaml (one tenant.yaml read with js-yaml, whose default
 * schema types plain scalars as the YAML 1.2 core schema does), and
 * src/context/directory/handlers (the directory layout); and
 * https://auth0.com/docs/deploy-monitor/deploy-cli-tool.
 *
 * Placeholders are replaced on the text, as the Deploy CLI does, so one
 * inside a YAML comment counts too.  The Deploy CLI leaves a keyword
 * without a mapping as it is; here an unset ##KEY##, and an unset
 * @@KEY@@ that stands as a whole value, are errors, so that no
 * placeholder reaches the store.  An unset @@KEY@@ inside a longer text
 * is left as it is: that is Auth0's own macro syntax in SMS templates
 * ("Your code is @@password@@").  YAML is read by deploy_yaml.c,
 * directory exports by deploy_dir.c.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extern.h"

#define KEYWORD_MAX	128	/* characters in a placeholder's name */

/* Where a message is about: a file, and a 1-based line:col or none. */
struct place {
	const char	*path;
	size_t		 line;		/* 0: the whole file */
	size_t		 col;
};

struct out {
	char		*err;
	size_t		 errsz;
};

/*
 * The sections of a Deploy CLI export (the YAML keys of
 * src/context/yaml/handlers); a file with none of them is not one.
 */
static const char *const sections[] = {
	"tenant", "clients", "resourceServers", "databases", "connections",
	"attackProtection", "guardianFactors", "guardianFactorProviders",
	"guardianFactorTemplates", "guardianPolicies",
	"guardianPhoneFactorSelectedProvider",
	"guardianPhoneFactorMessageTypes", "rules", "rulesConfigs", "hooks",
	"actions", "triggers", "pages", "emailTemplates", "emailProvider",
	"clientGrants", "roles", "organizations", "prompts", "branding",
	"migrations", "logStreams", "customDomains", "themes",
	NULL
};

static void
deperr(struct out *o, const struct place *pl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Write "path:line:col: what" (or "path: what") to o->err. */
static void
deperr(struct out *o, const struct place *pl, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (o->errsz == 0)
		return;
	if (pl->line > 0)
		n = snprintf(o->err, o->errsz, "%s:%zu:%zu: ",
		    pl->path, pl->line, pl->col);
	else
		n = snprintf(o->err, o->errsz, "%s: ", pl->path);
	if (n < 0 || (size_t)n >= o->errsz)
		return;
	va_start(ap, fmt);
	vsnprintf(o->err + n, o->errsz - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * The whole of a regular file of at most DEPLOY_FILE_MAX bytes, NUL
 * terminated, its length in *len (opened without blocking, so that a
 * FIFO is refused rather than waited on).  NULL with o->err on failure.
 */
static char *
file_slurp(const char *path, size_t *len, struct out *o)
{
	struct place	 pl = { path, 0, 0 };
	struct stat	 st;
	char		*buf = NULL;
	ssize_t		 n;
	size_t		 cap, off = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		deperr(o, &pl, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		deperr(o, &pl, "not a regular file");
		goto out;
	}
	if (st.st_size > DEPLOY_FILE_MAX) {
		deperr(o, &pl, "larger than %d bytes", DEPLOY_FILE_MAX);
		goto out;
	}
	cap = (size_t)st.st_size;
	if ((buf = malloc(cap + 1)) == NULL) {
		deperr(o, &pl, "out of memory");
		goto out;
	}
	while (off < cap && (n = read(fd, buf + off, cap - off)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			deperr(o, &pl, "%s", strerror(errno));
			free(buf);
			buf = NULL;
			goto out;
		}
		off += (size_t)n;
	}
	buf[off] = '\0';
	*len = off;
out:
	close(fd);
	return buf;
}

/*
 * The text an @@KEY@@ placeholder becomes: the value itself when it
 * parses as JSON, else the value as a JSON string (the Deploy CLI's
 * JSON.stringify of its mapping's value).  NULL if not UTF-8.
 */
static char *
keyword_json(const char *value)
{
	json_t	*j;
	char	*s;

	if ((j = json_loads(value, JSON_DECODE_ANY, NULL)) == NULL)
		j = json_string(value);
	if (j == NULL)
		return NULL;
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(j);
	return s;
}

/*
 * Length of the placeholder name at in (after its opening ## or @@), if
 * closed by two of c, or 0 when what follows is not a placeholder.
 */
static size_t
keyword_len(const char *in, size_t avail, char c)
{
	size_t	 i;

	for (i = 0; i < avail && i <= KEYWORD_MAX; i++)
		if (!isalnum((unsigned char)in[i]) && in[i] != '_')
			break;
	if (i == 0 || i > KEYWORD_MAX || i + 2 > avail ||
	    in[i] != c || in[i + 1] != c)
		return 0;
	return i;
}

/*
 * Append the value of placeholder name (of kind c) to b; with quoted
 * (an @@KEY@@ between double quotes), the opening quote already in b is
 * taken back: the Deploy CLI replaces "@@KEY@@" and @@KEY@@ alike.
 * An unset @@KEY@@ that is not a whole value (whole: 0) is copied as it
 * is.  Returns 0 with o->err when unset.
 */
static int
keyword_put(struct buf *b, char c, const char *name, int quoted, int whole,
    const struct place *pl, struct out *o)
{
	const char	*v;
	char		*js = NULL;
	int		 rc;

	if ((v = getenv(name)) == NULL && c == '@' && !whole) {
		if (buf_printf(b, "@@%s@@", name) == 0)
			return 1;
		deperr(o, pl, "out of memory");
		return 0;
	}
	if (v == NULL) {
		deperr(o, pl, "%c%c%s%c%c: not set in the environment",
		    c, c, name, c, c);
		return 0;
	}
	if (c == '@' && (js = keyword_json(v)) == NULL) {
		deperr(o, pl, "@@%s@@: value is not UTF-8", name);
		return 0;
	}
	if (quoted)
		b->p[--b->len] = '\0';
	if ((rc = buf_puts(b, js != NULL ? js : v) == 0) == 0)
		deperr(o, pl, "out of memory");
	free(js);
	return rc;
}

/*
 * Whether the @@KEY@@ of n name characters at in[i] stands as a whole
 * value: between double quotes, or with only blanks between it and the
 * YAML or JSON punctuation around it (what precedes it is already in b).
 */
static int
keyword_whole(const struct buf *b, const char *in, size_t len, size_t i,
    size_t n, int quoted)
{
	size_t	 at = b->len, end = i + n + 4;

	if (quoted)
		return 1;
	while (at > 0 && (b->p[at - 1] == ' ' || b->p[at - 1] == '\t'))
		at--;
	if (at > 0 && strchr("\n:[,-{", b->p[at - 1]) == NULL)
		return 0;
	while (end < len && (in[end] == ' ' || in[end] == '\t'))
		end++;
	return end >= len || strchr("\r\n,]}#", in[end]) != NULL;
}

/*
 * The text with every ##KEY## and @@KEY@@ replaced (keywordReplace in
 * the Deploy CLI's src/tools/utils.ts), in b.  Returns 0 with o->err on
 * an unset placeholder or a result over DEPLOY_FILE_MAX.
 */
static int
keyword_replace(const char *path, const char *in, size_t len,
    struct buf *b, struct out *o)
{
	struct place	 pl = { path, 1, 1 };
	char		 name[KEYWORD_MAX + 1];
	size_t		 i = 0, n;
	int		 quoted;

	while (i < len) {
		n = 0;
		if ((in[i] == '#' || in[i] == '@') && i + 1 < len &&
		    in[i + 1] == in[i])
			n = keyword_len(in + i + 2, len - i - 2, in[i]);
		if (n == 0) {
			if (buf_append(b, in + i, 1) != 0)
				goto nomem;
			if (in[i++] == '\n') {
				pl.line++;
				pl.col = 0;
			}
			pl.col++;
			continue;
		}
		memcpy(name, in + i + 2, n);
		name[n] = '\0';
		quoted = in[i] == '@' && b->len > 0 &&
		    b->p[b->len - 1] == '"' && i + n + 4 < len &&
		    in[i + n + 4] == '"';
		if (!keyword_put(b, in[i], name, quoted,
		    keyword_whole(b, in, len, i, n, quoted), &pl, o))
			return 0;
		i += n + 4 + (quoted ? 1 : 0);
		pl.col += n + 4;
		if (b->len > DEPLOY_FILE_MAX) {
			deperr(o, &pl, "larger than %d bytes once "
			    "placeholders are replaced", DEPLOY_FILE_MAX);
			return 0;
		}
	}
	return 1;
nomem:
	deperr(o, &pl, "out of memory");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Files: placeholders replaced, then YAML or JSON.                    */

/* Whether j nests deeper than DEPLOY_DEPTH_MAX - depth collections. */
static int
too_deep(const json_t *j, int depth)
{
	const char	*k;
	json_t		*v;
	size_t		 i;

	if (!json_is_object(j) && !json_is_array(j))
		return 0;
	if (depth >= DEPLOY_DEPTH_MAX)
		return 1;
	if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			if (too_deep(v, depth + 1))
				return 1;
		return 0;
	}
	json_object_foreach((json_t *)j, k, v)
		if (too_deep(v, depth + 1))
			return 1;
	return 0;
}

/*
 * A JSON file's text as a new value: duplicate keys refused, nesting
 * bounded as for YAML.  NULL with o->err ("path:line:col: what").
 */
static json_t *
json_parse(const char *path, const struct buf *b, struct out *o)
{
	struct place	 pl = { path, 0, 0 };
	json_error_t	 je;
	json_t		*j;

	j = json_loadb(b->p != NULL ? b->p : "", b->len,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (j == NULL) {
		pl.line = je.line > 0 ? (size_t)je.line : 1;
		pl.col = je.column > 0 ? (size_t)je.column : 1;
		deperr(o, &pl, "%s", je.text);
		return NULL;
	}
	if (too_deep(j, 0)) {
		deperr(o, &pl, "nested deeper than %d", DEPLOY_DEPTH_MAX);
		json_decref(j);
		return NULL;
	}
	return j;
}

/*
 * One file of an export as a new JSON value: its placeholders replaced,
 * then read as JSON when its name ends in ".json", as YAML otherwise.
 * NULL with o->err on failure.
 */
static json_t *
file_load(const char *path, struct out *o)
{
	struct buf	 b;
	char		*text;
	size_t		 len, plen = strlen(path);
	json_t		*j = NULL;

	if ((text = file_slurp(path, &len, o)) == NULL)
		return NULL;
	buf_init(&b);
	if (keyword_replace(path, text, len, &b, o))
		j = plen >= 5 && strcmp(path + plen - 5, ".json") == 0 ?
		    json_parse(path, &b, o) :
		    deploy_yaml(path, b.p != NULL ? b.p : "", b.len, o->err,
		    o->errsz);
	buf_clear(&b);
	free(text);
	return j;
}

json_t *
deploy_file(const char *path, char *err, size_t errsz)
{
	struct out	 o = { err, errsz };

	return file_load(path, &o);
}

/* Whether root is an object with at least one export section. */
static int
is_export(const json_t *root)
{
	size_t	 i;

	if (!json_is_object(root))
		return 0;
	for (i = 0; sections[i] != NULL; i++)
		if (json_object_get(root, sections[i]) != NULL)
			return 1;
	return 0;
}

json_t *
deploy_read(const char *path, char *err, size_t errsz)
{
	struct out	 o = { err, errsz };
	struct place	 pl = { path, 0, 0 };
	struct stat	 st;
	json_t		*root;

	if (errsz > 0)
		err[0] = '\0';
	if (stat(path, &st) == -1) {
		deperr(&o, &pl, "%s", strerror(errno));
		return NULL;
	}
	if (S_ISDIR(st.st_mode))
		root = deploy_dir(path, err, errsz);
	else
		root = file_load(path, &o);
	if (root == NULL) {
		if (errsz > 0 && err[0] == '\0')
			deperr(&o, &pl, "out of memory");
		return NULL;
	}
	if (!is_export(root)) {
		deperr(&o, &pl, "not an Auth0 export");
		json_decref(root);
		return NULL;
	}
	return root;
}
