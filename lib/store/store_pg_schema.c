/*
 * store_pg_schema.c: the PostgreSQL backend's schema, versioned
 * (docs/postgresql.md): meta_schema holds the version, each step of
 * pg_steps brings it from the version before.  latchkeyctl init and
 * migrate run the missing steps as the schema's owner, in one
 * transaction under an advisory lock; a responder (STORE_PG_ROLE, no
 * right to change the schema) only checks the version.
 */
#include <stdlib.h>
#include <string.h>

#include "extern.h"
#include "pqsym.h"
#include "store_int.h"
#include "store_pg.h"

/*
 * One row per (kind, key): kind is enum store_kind's number (store.h;
 * a kind's number never changes), k the key, compared by its bytes as
 * Berkeley DB's B-trees do (COLLATE "C": walks and prefix scans rely on
 * the order), v the record's JSON text as the Berkeley DB backend
 * stores it.
 */
static const char *const pg_steps[] = {
	/* 1 */
	"CREATE TABLE meta_schema (version integer NOT NULL);"
	"INSERT INTO meta_schema (version) VALUES (0);"
	"CREATE TABLE record ("
	" kind smallint NOT NULL,"
	" k text COLLATE \"C\" NOT NULL,"
	" v text NOT NULL,"
	" PRIMARY KEY (kind, k))",
};

#define PG_VERSION	((int)(sizeof(pg_steps) / sizeof(pg_steps[0])))

/* Every migrate grants the responder role (when it exists) its rights:
 * a role made after the schema is granted by the next migrate. */
static const char pg_grant[] =
	"DO $$ BEGIN"
	" IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '"
	STORE_PG_ROLE "') THEN"
	" GRANT SELECT, INSERT, UPDATE, DELETE ON record TO " STORE_PG_ROLE ";"
	" GRANT SELECT ON meta_schema TO " STORE_PG_ROLE ";"
	" END IF; END $$";

/* The version of the schema in place: 0 when there is none, -1 on
 * error (logged). */
static int
pg_version(struct store *s)
{
	PGresult	*res = NULL;
	int		 v = -1;

	if (store_pg_exec(s, "SELECT to_regclass('meta_schema') IS NULL",
	    &res) != STORE_OK)
		return -1;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		v = 0;
	PQclear(res);
	if (v == 0)
		return 0;
	if (store_pg_exec(s, "SELECT max(version) FROM meta_schema", &res)
	    != STORE_OK)
		return -1;
	v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* The missing steps, in the caller's transaction. */
static int
pg_upgrade(struct store *s)
{
	char	 sql[64];
	int	 v, i;

	/* Two migrates at once: the second waits, then finds it done. */
	if (store_pg_exec(s, "SELECT pg_advisory_xact_lock(4242180001)",
	    NULL) != STORE_OK || (v = pg_version(s)) == -1)
		return -1;
	if (v > PG_VERSION) {
		lk_err("postgresql: schema version %d is newer than this "
		    "release's %d", v, PG_VERSION);
		return -1;
	}
	for (i = v; i < PG_VERSION; i++)
		if (store_pg_exec(s, pg_steps[i], NULL) != STORE_OK)
			return -1;
	snprintf(sql, sizeof(sql), "UPDATE meta_schema SET version = %d",
	    PG_VERSION);
	if (store_pg_exec(s, sql, NULL) != STORE_OK ||
	    store_pg_exec(s, pg_grant, NULL) != STORE_OK)
		return -1;
	if (v < PG_VERSION)
		lk_info("postgresql: schema version %d -> %d", v, PG_VERSION);
	return 0;
}

int
store_pg_schema(struct store *s, int create)
{
	int	 v;

	if (create) {
		if (store_pg_exec(s, "BEGIN", NULL) != STORE_OK)
			return -1;
		if (pg_upgrade(s) == -1) {
			(void)store_pg_exec(s, "ROLLBACK", NULL);
			return -1;
		}
		return store_pg_exec(s, "COMMIT", NULL) == STORE_OK ? 0 : -1;
	}
	if ((v = pg_version(s)) == -1)
		return -1;
	if (v == PG_VERSION)
		return 0;
	if (v == 0)
		lk_err("postgresql: no latchkey schema: run latchkeyctl init");
	else if (v < PG_VERSION)
		lk_err("postgresql: schema version %d, this release needs %d: "
		    "run latchkeyctl migrate", v, PG_VERSION);
	else
		lk_err("postgresql: schema version %d is newer than this "
		    "release's %d", v, PG_VERSION);
	return -1;
}
