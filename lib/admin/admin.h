/*
 * latchkey: what only latchkeyctl uses.
 * Included through extern.h, which includes the parts in order.
 */
#ifndef LATCHKEY_ADMIN_H
#define LATCHKEY_ADMIN_H

/* ------------------------------------------------------------------ */
/* auth0_export.c: Auth0 user exports for latchkeyctl import-auth0.     */

/* The users of an export file: NDJSON (one object a line) or a JSON
 * array.  A new array of objects, or NULL with err ("line N: ..."). */
json_t		*auth0_export_parse(const char *text, size_t len, char *err,
		    size_t errsz);
/* One Auth0 user as a latchkey user spec (SK_USER shape) in connection,
 * its password hash kept as it is.  0, or -1 with err saying why the
 * user cannot be imported (e.g. a hash algorithm latchkey cannot verify). */
int		 auth0_user_convert(const json_t *in, const char *connection,
		    json_t **out, char *err, size_t errsz);

/* ------------------------------------------------------------------ */
/* refresh_admin.c: latchkeyctl token list, revoke and prune.          */

/*
 * Which families refresh_revoke and refresh_list select: every member
 * that is not NULL must match.  Without a txn both run in batches
 * (store_sweep), and a selection by user reads only that user's
 * families through SK_REFIDX once the index is complete (built by
 * refresh_index_ensure the first time one is asked for); with a txn
 * they run inside it, walking every family.
 */
struct refresh_sel {
	const char	*user_id;
	const char	*client_id;
	const char	*device;
	const char	*family;
};
/* Revoke the selected active families; *count says how many. */
enum store_rc	 refresh_revoke(struct store *, struct txn *,
		    const struct refresh_sel *, time_t now, int *count);
/* Append a summary object of each selected family to out (an array). */
enum store_rc	 refresh_list(struct store *, struct txn *,
		    const struct refresh_sel *, time_t now, json_t *out);
/* Delete dead families (revoked or expired) and all their tokens.
 * txn must be NULL: the families, then the tokens whose family is gone,
 * are deleted in batches; an interrupted prune is finished by the next. */
enum store_rc	 refresh_prune(struct store *, struct txn *, time_t now,
		    int *count);

/* ------------------------------------------------------------------ */
/* guard_admin.c: latchkeyctl guard list, unblock and prune.           */

/* Which records guard_unblock deletes: brute-force records of identifier
 * (at ip, or at every IP when ip is NULL), of any identifier of user
 * (email, username, phone) or carrying its user_id; with only ip, that
 * IP's suspicious-IP bucket. */
struct guard_sel {
	const char	*identifier;
	const char	*ip;
	const json_t	*user;		/* a stored user record */
};
/* guard_unblock, guard_list and guard_prune: without a txn, in batches
 * of their own transactions (store_sweep), each record judged in the
 * transaction that deletes it. */
enum store_rc	 guard_unblock(struct store *, struct txn *,
		    const struct guard_sel *, int *count);
/* Append every live record to out as an object (kind, identifier, ip,
 * count, blocked, tokens...). */
enum store_rc	 guard_list(struct store *, struct txn *,
		    const struct tenant *tenant, time_t now, json_t *out);
/* Delete records that no longer matter (expired blocks, full buckets),
 * and audit records older than the tenant's retention. */
enum store_rc	 guard_prune(struct store *, struct txn *,
		    const struct tenant *tenant, time_t now, int *count);

/* ------------------------------------------------------------------ */
/* deploy_read.c: an Auth0 Deploy CLI export read as JSON.             */

#define DEPLOY_FILE_MAX		(8 * 1024 * 1024)	/* bytes a file */
#define DEPLOY_DEPTH_MAX	32		/* nested mappings/sequences */
#define DEPLOY_FILES_MAX	10000		/* files in one export folder */
#define DEPLOY_EXPORT_MAX	(64 * 1024 * 1024)	/* bytes a directory */

/*
 * An Auth0 Deploy CLI export read into one JSON object in the YAML
 * export's shape: a YAML file (tenant.yaml), a directory export, or a
 * JSON file of the same sections (Management API shapes).  Keyword
 * placeholders are replaced from the environment as the Deploy CLI does:
 * ##KEY## by the value of the environment variable KEY as it is, @@KEY@@
 * (or "@@KEY@@") by that value as JSON (the value itself when it parses
 * as JSON, else the value as a JSON string).  YAML aliases are resolved
 * to copies of their anchors' values, within bounds.
 * A new object, or NULL with err ("path:line:col: what") on malformed
 * input, an unset placeholder, a file over DEPLOY_FILE_MAX, nesting over
 * DEPLOY_DEPTH_MAX, or something that is not an export.
 */
json_t		*deploy_read(const char *path, char *err, size_t errsz);
/* deploy_read.c: one file of an export (JSON when its name ends in
 * ".json", YAML otherwise), placeholders replaced, as a new JSON value;
 * NULL with err as deploy_read. */
json_t		*deploy_file(const char *path, char *err, size_t errsz);
/* deploy_dir.c: a directory export as a new object in the YAML export's
 * sections; NULL with err ("path: what") as deploy_read.  Folders it
 * does not know become sections of their *.json files, named as their
 * YAML keys ("rules-configs" rulesConfigs, "emails" emailTemplates). */
json_t		*deploy_dir(const char *dir, char *err, size_t errsz);
/* deploy_yaml.c: the one document of YAML text (len bytes) as a new
 * JSON value, for deploy_read; NULL with err ("path:line:col: what") on
 * malformed YAML, a second document, nesting over DEPLOY_DEPTH_MAX or
 * aliases that expand too much. */
json_t		*deploy_yaml(const char *path, const char *text, size_t len,
		    char *err, size_t errsz);

/* ------------------------------------------------------------------ */
/* deploy_map.c: an export mapped for latchkeyctl import-auth0-tenant. */

/*
 * Map an export (deploy_read's shape) to a `latchkeyctl import`
 * document, {"tenant", "clients", "connections", "apis"}, and a report
 * {"imported": [...], "approximate": [...], "skipped": [...],
 *  "secrets_needed": [...]} (each entry {"kind", "name", "why"}).
 * issuer: --issuer, or NULL to keep the tenant's.  0, or -1 with err
 * ("clients[2] (App): field: why").
 */
int		 deploy_map(const json_t *export, const char *issuer,
		    json_t **doc, json_t **report, char *err, size_t errsz);

#endif /* !LATCHKEY_ADMIN_H */
