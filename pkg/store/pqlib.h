/* SPDX-License-Identifier: Apache-2.0 */
#ifndef STORE_PQLIB_H
#define STORE_PQLIB_H

#include <libpq-fe.h>

#include "base/errbuf.h"

/*
 * libpq, loaded when the first PostgreSQL store opens (dlopen of its soname) instead of linked:
 * a sidecar on SQLite never maps it, nor what Debian's build pulls in with it (Kerberos, LDAP,
 * SASL, GnuTLS through libldap), about 3.6 MiB of its idle RSS. The PostgreSQL store calls
 * libpq through this table, pqlib.PQexec(...): libpq's own functions, resolved once. Each
 * member has the type of libpq-fe.h's declaration (checked at compile time in pqlib.c).
 */
#define PQLIB_SONAME "libpq.so.5"

struct pqlib {
        void (*PQclear)(PGresult *res);
        char *(*PQcmdTuples)(PGresult *res);
        PGconn *(*PQconnectdbParams)(const char *const *keywords, const char *const *values,
                                     int expand_dbname);
        void (*PQconninfoFree)(PQconninfoOption *options);
        PQconninfoOption *(*PQconninfoParse)(const char *conninfo, char **errmsg);
        char *(*PQdb)(const PGconn *conn);
        char *(*PQerrorMessage)(const PGconn *conn);
        PGresult *(*PQexec)(PGconn *conn, const char *query);
        PGresult *(*PQexecParams)(PGconn *conn, const char *command, int n_params,
                                  const Oid *param_types, const char *const *param_values,
                                  const int *param_lengths, const int *param_formats,
                                  int result_format);
        PGresult *(*PQexecPrepared)(PGconn *conn, const char *stmt_name, int n_params,
                                    const char *const *param_values, const int *param_lengths,
                                    const int *param_formats, int result_format);
        void (*PQfinish)(PGconn *conn);
        void (*PQfreemem)(void *ptr);
        PGresult *(*PQgetResult)(PGconn *conn);
        int (*PQgetisnull)(const PGresult *res, int row, int field);
        char *(*PQgetvalue)(const PGresult *res, int row, int field);
        char *(*PQhost)(const PGconn *conn);
        int (*PQnfields)(const PGresult *res);
        int (*PQntuples)(const PGresult *res);
        const char *(*PQparameterStatus)(const PGconn *conn, const char *name);
        char *(*PQpass)(const PGconn *conn);
        char *(*PQport)(const PGconn *conn);
        PGresult *(*PQprepare)(PGconn *conn, const char *stmt_name, const char *query, int n_params,
                               const Oid *param_types);
        char *(*PQresultErrorField)(const PGresult *res, int field_code);
        char *(*PQresultErrorMessage)(const PGresult *res);
        ExecStatusType (*PQresultStatus)(const PGresult *res);
        int (*PQsendQuery)(PGconn *conn, const char *query);
        int (*PQsendQueryParams)(PGconn *conn, const char *command, int n_params,
                                 const Oid *param_types, const char *const *param_values,
                                 const int *param_lengths, const int *param_formats,
                                 int result_format);
        int (*PQserverVersion)(const PGconn *conn);
        PQnoticeProcessor (*PQsetNoticeProcessor)(PGconn *conn, PQnoticeProcessor proc, void *arg);
        ConnStatusType (*PQstatus)(const PGconn *conn);
        PGTransactionStatusType (*PQtransactionStatus)(const PGconn *conn);
        char *(*PQuser)(const PGconn *conn);
};

/* Filled by pqlib_load; all NULL before. */
extern struct pqlib pqlib;

/*
 * Load libpq and resolve the table, once per process (thread-safe); later calls return the
 * first one's result. -ELIBACC with dlerror's text when the library or a symbol is missing.
 */
int pqlib_load(struct errbuf *err);

#endif
