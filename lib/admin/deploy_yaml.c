/*
 * YAML for deploy_read.c: a Deploy CLI tenant.yaml turned into jansson
 * values with libyaml's event parser.  The Deploy CLI reads it with
 * js-yaml (src/context/yaml in github.com/auth0/auth0-deploy-cli), whose
 * default schema types plain scalars as the YAML 1.2 core schema does
 * (https://yaml.org/spec/1.2.2/#1032-tag-resolution); quoted scalars
 * stay strings.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "extern.h"

struct yrd {
	yaml_parser_t	 p;
	const char	*path;
	char		*err;
	size_t		 errsz;
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

/*
 * A plain scalar as a number (core schema ints: [-+]?[0-9]+, 0o[0-7]+,
 * 0x[0-9a-fA-F]+; floats: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?
 * [0-9]+)?), or NULL when it is none.  .inf and .nan stay strings: JSON
 * has no such numbers.
 */
static json_t *
yscalar_number(const char *s)
{
	const char	*d = s + (*s == '-' || *s == '+');
	char		*end;
	long long	 ll;
	double		 dv;
	int		 base = 10;

	if (d[0] == '0' && (d[1] == 'x' || d[1] == 'o') && d == s) {
		base = d[1] == 'x' ? 16 : 8;
		d += 2;
	}
	if (*d == '\0' || isspace((unsigned char)*d) || *d == '+' ||
	    *d == '-')
		return NULL;
	errno = 0;
	ll = strtoll(d, &end, base);
	if (*end == '\0' && errno == 0 && end != d)
		return json_integer(*s == '-' ? -ll : ll);
	if (base != 10 || strchr(s, 'x') != NULL || strchr(s, 'X') != NULL ||
	    strpbrk(s, "iInN") != NULL || *d == 'e' || *d == 'E')
		return NULL;
	if (*d == '.' && !isdigit((unsigned char)d[1]))
		return NULL;
	errno = 0;
	dv = strtod(s, &end);
	if (*end != '\0' || end == s || errno == ERANGE)
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

/*
 * The node that starts with ev (consumed) as a new JSON value, at depth
 * collections down.  Aliases are refused: an export has none, and
 * resolving them invites exponential expansion ("billion laughs").
 */
static json_t *
yvalue(struct yrd *y, yaml_event_t *ev, int depth)
{
	json_t	*j = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		j = yscalar(y, ev);
		break;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		if (depth >= DEPLOY_DEPTH_MAX) {
			yerr_at(y, &ev->start_mark, "nested too deeply");
			break;
		}
		j = ev->type == YAML_MAPPING_START_EVENT ?
		    ymapping(y, depth + 1) : ysequence(y, depth + 1);
		break;
	case YAML_ALIAS_EVENT:
		yerr_at(y, &ev->start_mark, "YAML aliases are not supported");
		break;
	default:
		yerr_at(y, &ev->start_mark, "unexpected YAML event");
		break;
	}
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

	if (!yaml_parser_initialize(&y.p)) {
		snprintf(err, errsz, "%s: out of memory", path);
		return NULL;
	}
	y.path = path;
	y.err = err;
	y.errsz = errsz;
	yaml_parser_set_input_string(&y.p, (const unsigned char *)text, len);
	j = ydocument(&y);
	yaml_parser_delete(&y.p);
	return j;
}
