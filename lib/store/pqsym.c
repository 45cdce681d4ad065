/*
 * pqsym.c: the libpq functions of store_pg*.c, resolved when the first
 * PostgreSQL store is opened (pqsym.h, lib/base/dynlib.c).
 */
#include "extern.h"
#include "pqsym.h"

struct pqsym	 pqsym;

static const struct dynsym pq_syms[] = {
	{ "PQclear", offsetof(struct pqsym, clear) },
	{ "PQcmdStatus", offsetof(struct pqsym, cmdStatus) },
	{ "PQcmdTuples", offsetof(struct pqsym, cmdTuples) },
	{ "PQconnectdbParams", offsetof(struct pqsym, connectdbParams) },
	{ "PQerrorMessage", offsetof(struct pqsym, errorMessage) },
	{ "PQexec", offsetof(struct pqsym, exec) },
	{ "PQexecPrepared", offsetof(struct pqsym, execPrepared) },
	{ "PQfinish", offsetof(struct pqsym, finish) },
	{ "PQgetlength", offsetof(struct pqsym, getlength) },
	{ "PQgetvalue", offsetof(struct pqsym, getvalue) },
	{ "PQnfields", offsetof(struct pqsym, nfields) },
	{ "PQntuples", offsetof(struct pqsym, ntuples) },
	{ "PQprepare", offsetof(struct pqsym, prepare) },
	{ "PQreset", offsetof(struct pqsym, reset) },
	{ "PQresultErrorField", offsetof(struct pqsym, resultErrorField) },
	{ "PQresultStatus", offsetof(struct pqsym, resultStatus) },
	{ "PQstatus", offsetof(struct pqsym, status) },
	{ "PQtransactionStatus", offsetof(struct pqsym, transactionStatus) },
};

int
pqsym_load(void)
{
	return dynlib_load(DYNLIB_PQ, pq_syms,
	    sizeof(pq_syms) / sizeof(pq_syms[0]), &pqsym);
}
