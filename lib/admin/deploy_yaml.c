/*
 * YAML for deploy_read.c: a Deploy CLI tenant.yaml turned into jansson
 * values with libyaml's event parser.  The Deploy CLI reads it with
 * js-yaml (src/context/yaml in github.com/auth0/auth0-deploy-cli), whose
 * default schema types plain scalars as the YAML 1.2 core schema does
 * (https://yaml.org/spec/1.2.2/#1032-tag-resolution); quoted scalars
 * stay strings.
 *
 * Aliases are resolved, each to a copy of its anchor's value: the Deploy
 * CLI writes tenant.yaml with js-yaml's dump without noRefs, which
 * writes an object met twice as &ref_0 and *ref_0.  What aliases add
 * is bounded (YAML_ALIAS_NODES_MAX, against "billion laughs"), and so
 * is the nesting they make (DEPLOY_DEPTH_MAX).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "extern.h"

#define YAML_ANCHORS_MAX	4096		/* anchors in a document */
#define YAML_ALIAS_NODES_MAX	100000		/* nodes aliases copy */

/* A complete anchored node, for the aliases after it. */
struct anchor {
	char		*name;
	json_t		*value;
	size_t		 nodes;		/* scalars and collections in it */
	int		 height;	/* collections nested in it */
};

struct yrd {
	yaml_parser_t	 p;
	const char	*path;
	char		*err;
	size_t		 errsz;
	struct anchor	*anchors;
	size_t		 nanchors;
	size_t		 nodes;		/* nodes read, aliases expanded */
	size_t		 aliased;	/* of which copied by aliases */
	int		 deepest;	/* depth reached in the current node */
};

#define YAML_STR_TAG	"tag:yaml.org,2002:str"

/* Plain scalars that are not strings (YAML 1.2 core schema 10.3.2). */
enum yword { YW_NULL, YW_TRUE, YW_FALSE };

static const struct {
	const char	*text;
	enum yword	 word;
} ywords[] = {
	{ "", YW_NULL }, { "~", YW_NULL }, { "null", YW_NULL },
	{ "Null", YW_NULL }, { "NULL", YW_NULL },
	{ "true", YW_TRUE }, { "True", YW_TRUE }, { "TRUE", YW_TRUE },
	{ "false", YW_FALSE }, { "False", YW_FALSE }, { "FALSE", YW_FALSE },
};

/* "path:line:col: what" (a 0-based mark) in y->err. */
static void
yerr(struct yrd *y, size_t line, size_t col, const char *what,
    const char *ctx)
{
	snprintf(y->err, y->errsz, "%s:%zu:%zu: %s%s%s", y->path, line + 1,
	    col + 1, ctx != NULL ? ctx : "", ctx != NULL ? ": " : "", what);
}

static void
yerr_at(struct yrd *y, const yaml_mark_t *m, const char *what)
{
	yerr(y, m->line, m->column, what, NULL);
}

/* The next event in ev; 0 with the parser's message on malformed YAML. */
static int
ynext(struct yrd *y, yaml_event_t *ev)
{
	if (yaml_parser_parse(&y->p, ev))
		return 1;
	if (y->p.error == YAML_MEMORY_ERROR)
		snprintf(y->err, y->errsz, "%s: out of memory", y->path);
	else if (y->p.error == YAML_READER_ERROR)
		snprintf(y->err, y->errsz, "%s: byte %zu: %s", y->path,
		    y->p.problem_offset,
		    y->p.problem != NULL ? y->p.problem : "unreadable");
	else
		yerr(y, y->p.problem_mark.line, y->p.problem_mark.column,
		    y->p.problem != NULL ? y->p.problem : "malformed YAML",
		    y->p.context);
	return 0;
}

#define YNUM_MAX	64	/* characters of a scalar read as a number */

/*
 * Whether the digits (underscores gone) of a plain scalar are a float
 * as js-yaml 4 reads one: [0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?, or
 * without a sign \.[0-9]+([eE][-+]?[0-9]+)?.  Its .inf and .nan stay
 * strings here: JSON has no such numbers.
 */
static int
yfloat_form(const char *d, int signed_)
{
	if (*d == '.' && (signed_ || !isdigit((unsigned char)d[1])))
		return 0;
	if (*d != '.' && !isdigit((unsigned char)*d))
		return 0;
	while (isdigit((unsigned char)*d))
		d++;
	if (*d == '.')
		for (d++; isdigit((unsigned char)*d); d++)
			continue;
	if (*d == 'e' || *d == 'E') {
		d += (d[1] == '-' || d[1] == '+') ? 2 : 1;
		if (!isdigit((unsigned char)*d))
			return 0;
		while (isdigit((unsigned char)*d))
			d++;
	}
	return *d == '\0';
}

/*
 * A plain scalar as a number the way the Deploy CLI's YAML loader reads
 * it (js-yaml 4, package.json of auth0/auth0-deploy-cli; its
 * lib/type/int.js and float.js: the YAML 1.2 core schema, with a sign
 * on any base, 0b binaries and underscores between digits), or NULL.
 */
static json_t *
yscalar_number(const char *s)
{
	char		 num[YNUM_MAX + 2], *end;
	const char	*d = s + (*s == '-' || *s == '+');
	size_t		 i, n = 0, len = strlen(s);
	long long	 ll;
	double		 dv;
	int		 base = 10;

	if (len == 0 || len > YNUM_MAX || s[len - 1] == '_' || *d == '_')
		return NULL;
	if (d[0] == '0' && (d[1] == 'x' || d[1] == 'o' || d[1] == 'b')) {
		base = d[1] == 'x' ? 16 : d[1] == 'o' ? 8 : 2;
		d += 2;
	}
	num[n++] = *s == '-' ? '-' : '+';
	for (i = 0; d[i] != '\0'; i++)
		if (d[i] != '_')
			num[n++] = d[i];
	num[n] = '\0';
	if (n == 1 || (!isxdigit((unsigned char)num[1]) && num[1] != '.'))
		return NULL;
	errno = 0;
	ll = strtoll(num, &end, base);
	if (*end == '\0' && errno == 0)
		return json_integer(ll);
	if (base != 10 || !yfloat_form(num + 1, d != s))
		return NULL;
	errno = 0;
	dv = strtod(num, &end);
	if (*end != '\0' || errno == ERANGE)
		return NULL;
	return json_real(dv);
}

/* A scalar event as a JSON value; NULL (with err) when not UTF-8. */
static json_t *
yscalar(struct yrd *y, const yaml_event_t *ev)
{
	const char	*s = (const char *)ev->data.scalar.value;
	const char	*tag = (const char *)ev->data.scalar.tag;
	size_t		 i, len = ev->data.scalar.length;
	json_t		*j;

	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (tag == NULL || strcmp(tag, YAML_STR_TAG) != 0) &&
	    strlen(s) == len) {
		for (i = 0; i < sizeof(ywords) / sizeof(ywords[0]); i++) {
			if (strcmp(s, ywords[i].text) != 0)
				continue;
			if (ywords[i].word == YW_NULL)
				return json_null();
			return json_boolean(ywords[i].word == YW_TRUE);
		}
		if ((j = yscalar_number(s)) != NULL)
			return j;
	}
	if ((j = json_stringn(s, len)) == NULL)
		yerr_at(y, &ev->start_mark, "not a UTF-8 string");
	return j;
}

static json_t	*yvalue(struct yrd *, yaml_event_t *, int);

/* The entries of a mapping, up to its end event, into a new object. */
static json_t *
ymapping(struct yrd *y, int depth)
{
	yaml_event_t	 ev;
	json_t		*obj, *v;
	char		*key = NULL;

	if ((obj = json_object()) == NULL)
		return NULL;
	for (;;) {
		if (!ynext(y, &ev))
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT)
			break;
		if (ev.type != YAML_SCALAR_EVENT) {
			yerr_at(y, &ev.start_mark, "a key must be a string");
			goto fail_ev;
		}
		if (strlen((char *)ev.data.scalar.value) !=
		    ev.data.scalar.length) {
			yerr_at(y, &ev.start_mark, "a key holds a NUL byte");
			goto fail_ev;
		}
		if (json_object_get(obj, (char *)ev.data.scalar.value)) {
			yerr_at(y, &ev.start_mark, "duplicate key");
			goto fail_ev;
		}
		key = strdup((char *)ev.data.scalar.value);
		yaml_event_delete(&ev);
		if (key == NULL || !ynext(y, &ev))
			goto fail;
		if ((v = yvalue(y, &ev, depth)) == NULL ||
		    json_object_set_new(obj, key, v) == -1)
			goto fail;
		free(key);
		key = NULL;
	}
	yaml_event_delete(&ev);
	return obj;
fail_ev:
	yaml_event_delete(&ev);
fail:
	free(key);
	json_decref(obj);
	return NULL;
}

/* The items of a sequence, up to its end event, into a new array. */
static json_t *
ysequence(struct yrd *y, int depth)
{
	yaml_event_t	 ev;
	json_t		*arr, *v;

	if ((arr = json_array()) == NULL)
		return NULL;
	for (;;) {
		if (!ynext(y, &ev)) {
			json_decref(arr);
			return NULL;
		}
		if (ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		if ((v = yvalue(y, &ev, depth)) == NULL ||
		    json_array_append_new(arr, v) == -1) {
			json_decref(arr);
			return NULL;
		}
	}
	yaml_event_delete(&ev);
	return arr;
}

/* The anchor of the node that ev starts, or NULL. */
static const char *
yanchor_of(const yaml_event_t *ev)
{
	const yaml_char_t	*a = NULL;

	if (ev->type == YAML_SCALAR_EVENT)
		a = ev->data.scalar.anchor;
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		a = ev->data.sequence_start.anchor;
	else if (ev->type == YAML_MAPPING_START_EVENT)
		a = ev->data.mapping_start.anchor;
	return (const char *)a;
}

/* Keep the complete node v as anchor name; 0 with err. */
static int
yanchor_add(struct yrd *y, const yaml_event_t *ev, const char *name,
    json_t *v, size_t nodes, int height)
{
	struct anchor	*a;

	if (y->nanchors >= YAML_ANCHORS_MAX) {
		yerr_at(y, &ev->start_mark, "too many YAML anchors");
		return 0;
	}
	a = reallocarray(y->anchors, y->nanchors + 1, sizeof(*a));
	if (a == NULL)
		return 0;
	y->anchors = a;
	a += y->nanchors;
	if ((a->name = strdup(name)) == NULL)
		return 0;
	a->value = json_incref(v);
	a->nodes = nodes;
	a->height = height;
	y->nanchors++;
	return 1;
}

/* A copy of the value of the alias ev at depth; NULL with err. */
static json_t *
yalias(struct yrd *y, const yaml_event_t *ev, int depth)
{
	const char		*name = (const char *)ev->data.alias.anchor;
	const struct anchor	*a = NULL;
	size_t			 i;

	for (i = y->nanchors; i > 0 && a == NULL; i--)
		if (strcmp(y->anchors[i - 1].name, name) == 0)
			a = &y->anchors[i - 1];
	if (a == NULL) {
		yerr_at(y, &ev->start_mark, "alias of no complete anchor");
		return NULL;
	}
	if (depth + a->height > DEPLOY_DEPTH_MAX) {
		yerr_at(y, &ev->start_mark, "nested too deeply");
		return NULL;
	}
	if ((y->aliased += a->nodes) > YAML_ALIAS_NODES_MAX) {
		yerr_at(y, &ev->start_mark, "aliases expand too much");
		return NULL;
	}
	y->nodes += a->nodes;
	if (depth + a->height > y->deepest)
		y->deepest = depth + a->height;
	return json_deep_copy(a->value);
}

/* The node that starts with ev, by its kind, as a new JSON value. */
static json_t *
ynode(struct yrd *y, const yaml_event_t *ev, int depth)
{
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		y->nodes++;
		return yscalar(y, ev);
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (depth >= DEPLOY_DEPTH_MAX) {
			yerr_at(y, &ev->start_mark, "nested too deeply");
			return NULL;
		}
		y->nodes++;
		if (depth + 1 > y->deepest)
			y->deepest = depth + 1;
		return ev->type == YAML_MAPPING_START_EVENT ?
		    ymapping(y, depth + 1) : ysequence(y, depth + 1);
	case YAML_ALIAS_EVENT:
		return yalias(y, ev, depth);
	default:
		yerr_at(y, &ev->start_mark, "unexpected YAML event");
		return NULL;
	}
}

/*
 * The node that starts with ev (consumed) as a new JSON value, at depth
 * collections down, kept for later aliases when it has an anchor.
 */
static json_t *
yvalue(struct yrd *y, yaml_event_t *ev, int depth)
{
	const char	*anchor = yanchor_of(ev);
	size_t		 before = y->nodes;
	int		 saved = y->deepest;
	json_t		*j;

	y->deepest = depth;
	j = ynode(y, ev, depth);
	if (j != NULL && anchor != NULL && !yanchor_add(y, ev, anchor, j,
	    y->nodes - before, y->deepest - depth)) {
		if (y->errsz > 0 && y->err[0] == '\0')
			yerr_at(y, &ev->start_mark, "out of memory");
		json_decref(j);
		j = NULL;
	}
	if (saved > y->deepest)
		y->deepest = saved;
	yaml_event_delete(ev);
	return j;
}

/* The one document of a YAML stream; a second one is refused. */
static json_t *
ydocument(struct yrd *y)
{
	yaml_event_t	 ev;
	json_t		*root = NULL;
	int		 i;

	/* Stream start, then document start (or the end: empty). */
	for (i = 0; i < 2; i++) {
		if (!ynext(y, &ev))
			return NULL;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yerr_at(y, &ev.start_mark, "not an Auth0 export");
			yaml_event_delete(&ev);
			return NULL;
		}
		yaml_event_delete(&ev);
	}
	if (!ynext(y, &ev) || (root = yvalue(y, &ev, 0)) == NULL)
		return NULL;
	if (!ynext(y, &ev))			/* document end */
		goto fail;
	yaml_event_delete(&ev);
	if (!ynext(y, &ev))
		goto fail;
	if (ev.type != YAML_STREAM_END_EVENT) {
		yerr_at(y, &ev.start_mark, "more than one YAML document");
		yaml_event_delete(&ev);
		goto fail;
	}
	yaml_event_delete(&ev);
	return root;
fail:
	json_decref(root);
	return NULL;
}

json_t *
deploy_yaml(const char *path, const char *text, size_t len, char *err,
    size_t errsz)
{
	struct yrd	 y;
	json_t		*j;

	if (errsz > 0)
		err[0] = '\0';
	if (!yaml_parser_initialize(&y.p)) {
		snprintf(err, errsz, "%s: out of memory", path);
		return NULL;
	}
	y.path = path;
	y.err = err;
	y.errsz = errsz;
	y.anchors = NULL;
	y.nanchors = y.nodes = y.aliased = 0;
	y.deepest = 0;
	yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
	j = ydocument(&y);
	while (y.nanchors-- > 0) {
		free(y.anchors[y.nanchors].name);
		json_decref(y.anchors[y.nanchors].value);
	}
	free(y.anchors);
	yaml_parser_delete(&y.p);
	return j;
}
