/*
 * latchkeyctl: import-auth0-tenant [--issuer URL] [--dry-run] PATH, an
 * Auth0 tenant as the Deploy CLI exports it (a YAML file, a directory,
 * or a JSON file of the same sections; deploy_read.c), mapped
 * (deploy_map.c) to an import document and applied as `import` applies
 * one: checked first, then one transaction, idempotent
 * (docs/migration.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Where the report rides in c->doc: import_tx reads only the sections. */
#define REPORT_KEY	"report"

static const struct optdef import_tenant_opts[] = {
	{ "issuer", CV_STR, NULL, "URL", CH_NONE, 0 },
	{ "dry-run", CV_TRUE, NULL, NULL, CH_NONE, 0 },
	OPT_END
};

/*
 * Read, map and check the export before the store is opened.  With
 * --dry-run, print the report and stop: nothing is opened or written.
 */
static int
import_tenant_prep(struct ctl *c)
{
	json_t		*export, *report = NULL;
	char		 err[1024];
	int		 rc;

	if ((export = deploy_read(c->pos[0], err, sizeof(err))) == NULL) {
		warnmsg("%s", err);
		return EXIT_USAGE;
	}
	rc = deploy_map(export, sget(c->opt, "issuer"), &c->doc, &report,
	    err, sizeof(err));
	json_decref(export);
	if (rc == 0 && (rc = import_check(c->doc, err, sizeof(err))) == -1)
		json_decref(report);
	if (rc == -1) {
		warnmsg("%s: %s", c->pos[0], err);
		return EXIT_USAGE;
	}
	if (json_is_true(json_object_get(c->opt, "dry-run"))) {
		print_json(report);
		json_decref(report);
		return fflush(stdout) == 0 ? PREP_DONE : EXIT_RUNTIME;
	}
	json_object_set_new(c->doc, REPORT_KEY, report);
	return 0;
}

/* Whether import_tx's summary shows a write. */
static int
changed(const json_t *changes)
{
	const json_t	*sec;
	const char	*k;

	json_object_foreach((json_t *)changes, k, sec) {
		if (strcmp(k, "tenant") == 0) {
			if (strcmp(sget(sec, "status"), "unchanged") != 0 ||
			    json_object_get(sec, "key_created") != NULL)
				return 1;
			continue;
		}
		if (json_array_size(json_object_get(sec, "created")) > 0 ||
		    json_array_size(json_object_get(sec, "updated")) > 0)
			return 1;
	}
	return 0;
}

/*
 * An export carries no issuer: a directory without a tenant needs
 * --issuer.  Then import's transaction; the report, with what changed,
 * is printed after the commit.
 */
static enum store_rc
import_tenant_tx(struct ctl *c, struct txn *t)
{
	json_t		*old = NULL, *out;
	enum store_rc	 rc;

	rc = store_get(c->s, t, SK_META, record_name(REC_TENANT), &old);
	json_decref(old);
	if (rc == STORE_NOTFOUND && sget(c->opt, "issuer") == NULL)
		return refuse(c, STORE_ERR, "this directory holds no tenant "
		    "yet and an export names no issuer: give --issuer URL");
	if (rc != STORE_OK && rc != STORE_NOTFOUND)
		return rc;
	if ((rc = import_tx(c, t)) != STORE_OK)
		return rc;
	out = json_deep_copy(json_object_get(c->doc, REPORT_KEY));
	json_object_set_new(out, "changed", json_boolean(changed(c->out)));
	json_object_set_new(out, "changes", c->out);
	c->out = out;
	return STORE_OK;
}

const struct cmd ctl_import_tenant_cmds[] = {
	{ "import-auth0-tenant", NULL, "PATH", import_tenant_opts,
	    import_tenant_prep, import_tenant_tx, NULL,
	    CMD_CREATE | CMD_AGAIN },
	CMD_END
};
