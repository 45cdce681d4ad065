/*
 * latchkey: what the PostgreSQL backend's parts share (store_pg.c: the
 * connection, transactions and records; store_pg_schema.c: the schema
 * and its versions).  Only lib/store/store_pg*.c include this header.
 */
#ifndef LATCHKEY_STORE_PG_H
#define LATCHKEY_STORE_PG_H

/* The role the schema grants the responders' rights to (docs/postgresql.md). */
#define STORE_PG_ROLE		"latchkey_responder"

/* store_pg.c: run a command without parameters; *res (res not NULL) is
 * the result when STORE_OK (PQclear it). */
enum store_rc	 store_pg_exec(struct store *, const char *sql, PGresult **res);

/* store_pg_schema.c: with create, create or upgrade the schema to this
 * release's version (and grant the responder role its rights); without,
 * check it is at that version.  0 or -1 (logged). */
int		 store_pg_schema(struct store *, int create);

#endif /* !LATCHKEY_STORE_PG_H */
