/*
 * store_pg.c: the PostgreSQL backend (docs/postgresql.md): one libpq
 * connection per process, the records in one table (store_pg_schema.c)
 * through prepared statements, every transaction SERIALIZABLE.
 *
 * A serialization failure, a deadlock or a lock timeout is retried like
 * a Berkeley DB deadlock (backoff, bounded), then the request is told
 * STORE_BUSY (a 503 with Retry-After).  A lost connection, a server
 * shutting down or a read-only server (a standby) is STORE_BUSY for the
 * transaction in flight, and the connection is reset before the next
 * one: libpq then tries the hosts of the connection string again
 * (target_session_attrs=read-write finds a promoted standby).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "extern.h"
#include "pqsym.h"
#include "store_int.h"
#include "store_pg.h"

#define PG_RETRIES	20		/* serialization failures retried */

/* The statements, prepared on each connection (pg_ready). */
enum pg_stmt {
	PS_GET,
	PS_PUT,
	PS_PUTNEW,
	PS_DEL,
	PS_FIRST,
	PS_FROM,
	PS_AFTER,
	PS__MAX
};

static const struct {
	const char	*name;
	const char	*sql;
} pg_stmts[PS__MAX] = {
	[PS_GET] = { "lk_get",
	    "SELECT v FROM record WHERE kind = $1 AND k = $2" },
	[PS_PUT] = { "lk_put",
	    "INSERT INTO record (kind, k, v) VALUES ($1, $2, $3) "
	    "ON CONFLICT (kind, k) DO UPDATE SET v = EXCLUDED.v" },
	[PS_PUTNEW] = { "lk_putnew",
	    "INSERT INTO record (kind, k, v) VALUES ($1, $2, $3) "
	    "ON CONFLICT (kind, k) DO NOTHING" },
	[PS_DEL] = { "lk_del",
	    "DELETE FROM record WHERE kind = $1 AND k = $2" },
	[PS_FIRST] = { "lk_first",
	    "SELECT k, v FROM record WHERE kind = $1 ORDER BY k LIMIT $2" },
	[PS_FROM] = { "lk_from",
	    "SELECT k, v FROM record WHERE kind = $1 AND k >= $3 "
	    "ORDER BY k LIMIT $2" },
	[PS_AFTER] = { "lk_after",
	    "SELECT k, v FROM record WHERE kind = $1 AND k > $3 "
	    "ORDER BY k LIMIT $2" },
};

/*
 * What an SQLSTATE (PostgreSQL documentation, Appendix A) means here:
 * matched by its first len characters (2: the class).  reset: the
 * connection is of no further use as it is.
 */
static const struct {
	const char	*state;
	size_t		 len;
	enum store_rc	 rc;
	const char	*what;
	int		 reset;
} pg_states[] = {
	{ "40001", 5, STORE_DEADLOCK, "serialization failure", 0 },
	{ "40P01", 5, STORE_DEADLOCK, "deadlock", 0 },
	{ "55P03", 5, STORE_DEADLOCK, "lock timeout", 0 },
	{ "57014", 5, STORE_BUSY, "statement timeout", 0 },
	{ "25006", 5, STORE_BUSY, "read-only database server (a standby?)",
	    1 },
	{ "57P", 3, STORE_BUSY, "database server shutting down", 1 },
	{ "08", 2, STORE_BUSY, "database connection lost", 1 },
	{ "53", 2, STORE_BUSY, "database server out of resources", 0 },
};

struct pg {
	PGconn		*conn;
	int		 prepared;	/* pg_stmts prepared on conn */
	int		 reset;		/* reset conn before the next use */
	int		 intxn;		/* in pg_txn_run's transaction */
	enum store_rc	 first;		/* the transaction's first failure */
	const char	*why;		/* the last STORE_BUSY's cause */
};

/* ------------------------------------------------------------------ */
/* Results and errors.                                                */

/*
 * A failed result (res may be NULL) as a store_rc; the unexpected is
 * logged with what.  A STORE_BUSY outside a transaction is counted here
 * (inside one, pg_txn_run counts it once).
 */
static enum store_rc
pg_fail(struct pg *p, PGresult *res, const char *what)
{
	const char	*st = res != NULL ?
			    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	size_t		 i;

	if (PQstatus(p->conn) != CONNECTION_OK || st == NULL)
		st = "08000";
	/* In a transaction that failed already: that failure. */
	if (p->intxn && p->first != STORE_OK && strcmp(st, "25P02") == 0)
		return p->first;
	for (i = 0; i < sizeof(pg_states) / sizeof(pg_states[0]); i++) {
		if (strncmp(st, pg_states[i].state, pg_states[i].len) != 0)
			continue;
		p->reset |= pg_states[i].reset;
		p->why = pg_states[i].what;
		if (p->intxn && p->first == STORE_OK)
			p->first = pg_states[i].rc;
		if (pg_states[i].rc == STORE_BUSY && !p->intxn)
			store_busy_give_up(p->why);
		return pg_states[i].rc;
	}
	lk_err("postgresql %s: %s (SQLSTATE %s)", what, res != NULL ?
	    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
	    PQerrorMessage(p->conn), st);
	return STORE_ERR;
}

/* Records hold hashes and private keys: cleanse a result's values. */
static void
pg_clear(PGresult *res)
{
	int	 i, j;

	if (res == NULL)
		return;
	for (i = 0; i < PQntuples(res); i++)
		for (j = 0; j < PQnfields(res); j++)
			explicit_bzero(PQgetvalue(res, i, j),
			    (size_t)PQgetlength(res, i, j));
	PQclear(res);
}

/* Run a command without parameters (BEGIN, COMMIT, DDL).  *res is the
 * result when wanted and STORE_OK. */
enum store_rc
store_pg_exec(struct store *s, const char *sql, PGresult **res)
{
	struct pg	*p = s->pg;
	PGresult	*r;
	ExecStatusType	 t;
	enum store_rc	 rc;

	r = PQexec(p->conn, sql);
	t = PQresultStatus(r);
	if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK) {
		if (res != NULL)
			*res = r;
		else
			pg_clear(r);
		return STORE_OK;
	}
	rc = pg_fail(p, r, "command");
	pg_clear(r);
	return rc;
}

/*
 * The connection ready for a statement: reset when it was found broken
 * (libpq connects again, to the first host of the list that qualifies),
 * the statements prepared.  STORE_OK or STORE_BUSY.
 */
static enum store_rc
pg_ready(struct store *s)
{
	struct pg	*p = s->pg;
	PGresult	*r;
	size_t		 i;

	if (p->reset || PQstatus(p->conn) != CONNECTION_OK) {
		PQreset(p->conn);
		p->prepared = p->reset = 0;
		if (PQstatus(p->conn) != CONNECTION_OK) {
			lk_err("postgresql: %s", PQerrorMessage(p->conn));
			p->reset = 1;
			p->why = "cannot reach the database server";
			return STORE_BUSY;
		}
	}
	for (i = 0; !p->prepared && i < PS__MAX; i++) {
		r = PQprepare(p->conn, pg_stmts[i].name, pg_stmts[i].sql, 0,
		    NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			pg_clear(r);
			p->reset = 1;
			p->why = "cannot prepare the statements";
			lk_err("postgresql prepare %s: %s", pg_stmts[i].name,
			    PQerrorMessage(p->conn));
			return STORE_BUSY;
		}
		pg_clear(r);
	}
	p->prepared = 1;
	return STORE_OK;
}

/*
 * Run statement st with n parameters.  STORE_OK with *res (pg_clear
 * it), or the failure's store_rc.  Outside a transaction a read whose
 * connection turns out lost is sent once more on a new one.
 */
static enum store_rc
pg_run(struct store *s, enum pg_stmt st, int n, const char *const *vals,
    PGresult **res)
{
	struct pg	*p = s->pg;
	ExecStatusType	 t;
	enum store_rc	 rc;
	int		 again = !p->intxn && (st == PS_GET || st >= PS_FIRST);

	*res = NULL;
	for (;;) {
		if (!p->intxn && (rc = pg_ready(s)) != STORE_OK) {
			store_busy_give_up(p->why);
			return rc;
		}
		*res = PQexecPrepared(p->conn, pg_stmts[st].name, n, vals,
		    NULL, NULL, 0);
		t = PQresultStatus(*res);
		if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK)
			return STORE_OK;
		if (again-- > 0 && PQstatus(p->conn) != CONNECTION_OK) {
			pg_clear(*res);
			p->reset = 1;
			continue;
		}
		rc = pg_fail(p, *res, pg_stmts[st].name);
		pg_clear(*res);
		*res = NULL;
		return rc;
	}
}

/* The kind as the text of a parameter. */
static void
pg_kind(char *buf, size_t len, enum store_kind kind)
{
	snprintf(buf, len, "%d", (int)kind);
}

static int
pg_key_ok(const char *key)
{
	size_t	 len;

	if (key == NULL || (len = strlen(key)) == 0 || len > STORE_KEY_MAX) {
		lk_err("empty or oversized key");
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ */
/* Records.                                                           */

/* STORE_FOR_UPDATE changes nothing: a serializable transaction that
 * wrote a row another changed meanwhile fails to commit whether or not it
 * locked the row first, and is retried (pg_txn_run). */
static enum store_rc
pg_get(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, json_t **out, int flags)
{
	char		 k[8];
	const char	*v[2] = { k, key };
	PGresult	*res;
	enum store_rc	 rc;

	*out = NULL;
	if (!pg_key_ok(key))
		return STORE_ERR;
	pg_kind(k, sizeof(k), kind);
	if ((rc = pg_run(s, PS_GET, 2, v, &res)) != STORE_OK)
		return rc;
	if (PQntuples(res) == 0)
		rc = STORE_NOTFOUND;
	else if ((*out = store_text_parse(PQgetvalue(res, 0, 0),
	    (size_t)PQgetlength(res, 0, 0), kind)) == NULL)
		rc = STORE_ERR;
	pg_clear(res);
	return rc;
}

/* STORE_NOOVERWRITE: INSERT ... ON CONFLICT DO NOTHING, no row written
 * is STORE_EXISTS. */
static enum store_rc
pg_put(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key, const json_t *val, int flags)
{
	char		 k[8], *text;
	const char	*v[3] = { k, key, NULL };
	PGresult	*res;
	enum store_rc	 rc;

	if (!pg_key_ok(key))
		return STORE_ERR;
	if ((text = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		lk_err("%s: cannot serialise record", store_files[kind]);
		return STORE_ERR;
	}
	pg_kind(k, sizeof(k), kind);
	v[2] = text;
	rc = pg_run(s, (flags & STORE_NOOVERWRITE) ? PS_PUTNEW : PS_PUT, 3, v,
	    &res);
	explicit_bzero(text, strlen(text));
	free(text);
	if (rc != STORE_OK)
		return rc;
	if (strcmp(PQcmdTuples(res), "0") == 0)
		rc = STORE_EXISTS;
	pg_clear(res);
	return rc;
}

static enum store_rc
pg_del(struct store *s, struct txn *txn, enum store_kind kind,
    const char *key)
{
	char		 k[8];
	const char	*v[2] = { k, key };
	PGresult	*res;
	enum store_rc	 rc;

	if (!pg_key_ok(key))
		return STORE_ERR;
	pg_kind(k, sizeof(k), kind);
	if ((rc = pg_run(s, PS_DEL, 2, v, &res)) != STORE_OK)
		return rc;
	if (strcmp(PQcmdTuples(res), "0") == 0)
		rc = STORE_NOTFOUND;
	pg_clear(res);
	return rc;
}

/*
 * The rows are all read before cb is called, so cb may run statements
 * of its own.  Keys compare by their bytes (COLLATE "C"), the order of
 * Berkeley DB's B-trees.  SERIALIZABLE: STORE_RANGE_LOOSE changes
 * nothing, the server tracks what was read.
 */
static enum store_rc
pg_range(struct store *s, struct txn *txn, enum store_kind kind,
    const char *from, int flags, long max,
    int (*cb)(const char *, json_t *, void *), void *arg)
{
	char		 k[8], lim[24];
	const char	*v[3] = { k, max == LONG_MAX ? NULL : lim, from };
	PGresult	*res;
	json_t		*val;
	enum store_rc	 rc;
	int		 i;

	if (from != NULL && !pg_key_ok(from))
		return STORE_ERR;
	pg_kind(k, sizeof(k), kind);
	snprintf(lim, sizeof(lim), "%ld", max);
	rc = pg_run(s, from == NULL ? PS_FIRST : (flags & STORE_RANGE_AFTER) ?
	    PS_AFTER : PS_FROM, from == NULL ? 2 : 3, v, &res);
	if (rc != STORE_OK)
		return rc;
	for (i = 0; i < PQntuples(res); i++) {
		if ((val = store_text_parse(PQgetvalue(res, i, 1),
		    (size_t)PQgetlength(res, i, 1), kind)) == NULL) {
			rc = STORE_ERR;
			break;
		}
		if (cb(PQgetvalue(res, i, 0), val, arg)) {
			json_decref(val);
			break;
		}
		json_decref(val);
	}
	pg_clear(res);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Transactions.                                                      */

/*
 * BEGIN, once more on a new connection when the old one turns out lost
 * (nothing was sent in the transaction yet).  STORE_NOSYNC: the commit
 * does not wait for the WAL flush (synchronous_commit off, store_jti.c
 * says where).
 */
static enum store_rc
pg_begin(struct store *s, int flags)
{
	const char	*sql = (flags & STORE_TXN_NOSYNC) ?
			    "BEGIN ISOLATION LEVEL SERIALIZABLE; "
			    "SET LOCAL synchronous_commit = off" :
			    "BEGIN ISOLATION LEVEL SERIALIZABLE";
	enum store_rc	 rc;
	int		 i;

	for (i = 0; i < 2; i++) {
		if ((rc = pg_ready(s)) != STORE_OK)
			return rc;
		s->pg->first = STORE_OK;
		if ((rc = store_pg_exec(s, sql, NULL)) != STORE_BUSY ||
		    !s->pg->reset)
			break;
	}
	s->pg->first = STORE_OK;
	return rc;
}

/* COMMIT; a transaction that failed underway answers ROLLBACK. */
static enum store_rc
pg_commit(struct store *s)
{
	PGresult	*res = NULL;
	enum store_rc	 rc;

	if ((rc = store_pg_exec(s, "COMMIT", &res)) != STORE_OK)
		return rc;
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
		rc = s->pg->first;
		if (rc == STORE_OK) {
			lk_err("postgresql: the transaction was rolled back");
			rc = STORE_ERR;
		}
	}
	pg_clear(res);
	return rc;
}

static void
pg_rollback(struct store *s)
{
	if (PQstatus(s->pg->conn) == CONNECTION_OK &&
	    PQtransactionStatus(s->pg->conn) != PQTRANS_IDLE)
		(void)store_pg_exec(s, "ROLLBACK", NULL);
}

/* store_txn_durable: the commit waits as the role, database or server
 * configure it after all (DEFAULT is the value without this session's
 * SET: on, remote_write, remote_apply ...; a SET LOCAL holds until the
 * transaction ends; a failure fails it). */
static void
pg_durable(struct store *s, struct txn *txn)
{

	(void)txn;
	(void)store_pg_exec(s, "SET LOCAL synchronous_commit TO DEFAULT", NULL);
}

/*
 * fn may run more than once (after a serialization failure), so it must
 * rebuild any state it keeps in arg each time.  Returns fn's result,
 * STORE_BUSY when the database cannot be reached or the retries ran
 * out, STORE_ERR; the transaction is then rolled back.
 */
static enum store_rc
pg_txn_run(struct store *s,
    enum store_rc (*fn)(struct store *, struct txn *, void *), void *arg,
    int flags)
{
	struct pg	*p = s->pg;
	enum store_rc	 rc = STORE_OK;
	int		 i;

	for (i = 0; i < PG_RETRIES; i++) {
		if (i > 0)
			store_backoff(s, i);
		p->intxn = 1;
		p->first = STORE_OK;
		if ((rc = pg_begin(s, flags)) == STORE_OK &&
		    (rc = fn(s, (struct txn *)(void *)p, arg)) == STORE_OK)
			rc = pg_commit(s);
		if (rc != STORE_OK)
			pg_rollback(s);
		/* fn may have answered for a failure the server saw first. */
		if (rc != STORE_OK && (p->first == STORE_DEADLOCK ||
		    p->first == STORE_BUSY))
			rc = p->first;
		p->intxn = 0;
		if (rc != STORE_DEADLOCK)
			break;
	}
	if (rc == STORE_DEADLOCK)
		p->why = "serialization failures, retries ran out";
	if (rc == STORE_DEADLOCK || rc == STORE_BUSY) {
		store_busy_give_up(p->why);
		return STORE_BUSY;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* Opening and closing.                                               */

static void
pg_close(struct store *s)
{
	if (s->pg != NULL) {
		PQfinish(s->pg->conn);
		free(s->pg);
	}
	free(s);
}

/*
 * Bounded waits unless the connection string says otherwise (it is
 * read after these, docs/postgresql.md): the connect, a silent peer
 * (TCP keepalives, unacknowledged data), a statement, a lock, an idle
 * transaction of a process that stopped.
 */
static const char *const pg_keys[] = {
	"connect_timeout", "keepalives", "keepalives_idle",
	"keepalives_interval", "keepalives_count", "tcp_user_timeout",
	"options", "application_name", "dbname", NULL
};
static const char *const pg_vals[] = {
	"5", "1", "10", "3", "3", "10000",
	"-c statement_timeout=10000 -c lock_timeout=2000 "
	"-c idle_in_transaction_session_timeout=60000",
	"latchkey", NULL, NULL
};

struct store *
store_open_pg(const char *conninfo, int flags)
{
	const char	*vals[sizeof(pg_vals) / sizeof(pg_vals[0])];
	struct store	*s;

	/* libpq is loaded with the first PostgreSQL store (pqsym.c):
	 * without it no server can be reached (logged once). */
	if (pqsym_load() == -1)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->pg = calloc(1, sizeof(*s->pg))) == NULL) {
		lk_err("calloc: %s", strerror(errno));
		free(s);
		return NULL;
	}
	s->ops = &store_pg_ops;
	s->recfd = -1;
	s->rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^
	    (uint64_t)(uintptr_t)s;
	s->rnd |= 1;
	memcpy(vals, pg_vals, sizeof(vals));
	vals[8] = conninfo;
	s->pg->conn = PQconnectdbParams(pg_keys, vals, 1);
	if (s->pg->conn == NULL || PQstatus(s->pg->conn) != CONNECTION_OK) {
		lk_err("postgresql: %s", s->pg->conn != NULL ?
		    PQerrorMessage(s->pg->conn) : "out of memory");
		goto err;
	}
	if (store_pg_schema(s, (flags & (STORE_CREATE | STORE_MIGRATE)) != 0) == -1)
		goto err;
	if (pg_ready(s) != STORE_OK)
		goto err;
	return s;
err:
	pg_close(s);
	return NULL;
}

const struct store_ops store_pg_ops = {
	.name = "pg",
	.autocommit = STORE_AUTO_READ | STORE_AUTO_WRITE,
	.close = pg_close,
	.txn_run = pg_txn_run,
	.durable = pg_durable,
	.get = pg_get,
	.put = pg_put,
	.del = pg_del,
	.range = pg_range,
};
