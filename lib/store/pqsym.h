/*
 * latchkey: the libpq functions store_pg.c and store_pg_schema.c call,
 * through pointers that pqsym_load fills when a PostgreSQL store is
 * opened (lib/base/dynlib.c), so that a process on Berkeley DB never
 * maps libpq.  Include this instead of <libpq-fe.h>: after it,
 * PQexec() and the others call through the table; check pqsym_load()
 * before the first call.
 */
#ifndef LATCHKEY_PQSYM_H
#define LATCHKEY_PQSYM_H

#include <libpq-fe.h>

struct pqsym {
	__typeof__(PQclear)		*clear;
	__typeof__(PQcmdStatus)		*cmdStatus;
	__typeof__(PQcmdTuples)		*cmdTuples;
	__typeof__(PQconnectdbParams)	*connectdbParams;
	__typeof__(PQerrorMessage)	*errorMessage;
	__typeof__(PQexec)		*exec;
	__typeof__(PQexecPrepared)	*execPrepared;
	__typeof__(PQfinish)		*finish;
	__typeof__(PQgetlength)		*getlength;
	__typeof__(PQgetvalue)		*getvalue;
	__typeof__(PQnfields)		*nfields;
	__typeof__(PQntuples)		*ntuples;
	__typeof__(PQprepare)		*prepare;
	__typeof__(PQreset)		*reset;
	__typeof__(PQresultErrorField)	*resultErrorField;
	__typeof__(PQresultStatus)	*resultStatus;
	__typeof__(PQstatus)		*status;
	__typeof__(PQtransactionStatus)	*transactionStatus;
};

extern struct pqsym pqsym;

/* Load libpq and resolve the table (once).  0, or -1 (logged once). */
int		 pqsym_load(void);

#define PQclear				(*pqsym.clear)
#define PQcmdStatus			(*pqsym.cmdStatus)
#define PQcmdTuples			(*pqsym.cmdTuples)
#define PQconnectdbParams		(*pqsym.connectdbParams)
#define PQerrorMessage			(*pqsym.errorMessage)
#define PQexec				(*pqsym.exec)
#define PQexecPrepared			(*pqsym.execPrepared)
#define PQfinish			(*pqsym.finish)
#define PQgetlength			(*pqsym.getlength)
#define PQgetvalue			(*pqsym.getvalue)
#define PQnfields			(*pqsym.nfields)
#define PQntuples			(*pqsym.ntuples)
#define PQprepare			(*pqsym.prepare)
#define PQreset				(*pqsym.reset)
#define PQresultErrorField		(*pqsym.resultErrorField)
#define PQresultStatus			(*pqsym.resultStatus)
#define PQstatus			(*pqsym.status)
#define PQtransactionStatus		(*pqsym.transactionStatus)

#endif /* !LATCHKEY_PQSYM_H */
