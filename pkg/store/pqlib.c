/* SPDX-License-Identifier: Apache-2.0 */
/* libpq, loaded on first use: see pqlib.h. */
#include "store/pqlib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* The table's members, with the functions they hold. */
#define PQLIB_FUNCS(X)                                                                             \
        X(PQclear)                                                                                 \
        X(PQconnectdbParams)                                                                       \
        X(PQconninfoFree)                                                                          \
        X(PQconninfoParse)                                                                         \
        X(PQdb)                                                                                    \
        X(PQerrorMessage)                                                                          \
        X(PQexec)                                                                                  \
        X(PQexecParams)                                                                            \
        X(PQexecPrepared)                                                                          \
        X(PQfinish)                                                                                \
        X(PQfreemem)                                                                               \
        X(PQgetisnull)                                                                             \
        X(PQgetvalue)                                                                              \
        X(PQhost)                                                                                  \
        X(PQnfields)                                                                               \
        X(PQntuples)                                                                               \
        X(PQparameterStatus)                                                                       \
        X(PQpass)                                                                                  \
        X(PQport)                                                                                  \
        X(PQprepare)                                                                               \
        X(PQresultErrorField)                                                                      \
        X(PQresultErrorMessage)                                                                    \
        X(PQresultStatus)                                                                          \
        X(PQserverVersion)                                                                         \
        X(PQsetNoticeProcessor)                                                                    \
        X(PQstatus)                                                                                \
        X(PQtransactionStatus)                                                                     \
        X(PQuser)

struct pqlib pqlib;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_msg[256];

static void load(void)
{
        struct pqlib t;
        void *h;

        /*
         * Each member's type is libpq-fe.h's: an assignment of the function's address, in an
         * operand of sizeof, is type-checked and never evaluated (nothing links to libpq).
         */
#define PQLIB_CHECK(f) (void)sizeof(t.f = &f);
        PQLIB_FUNCS(PQLIB_CHECK)
#undef PQLIB_CHECK
        /* Never closed: libpq and OpenSSL keep process-wide state until exit. */
        h = dlopen(PQLIB_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                load_rc = -ELIBACC;
                (void)snprintf(load_msg, sizeof(load_msg), "%s", dlerror());
                return;
        }
        memset(&t, 0, sizeof(t));
#define PQLIB_RESOLVE(f)                                                                           \
        if (load_rc == 0) {                                                                        \
                void *p = dlsym(h, #f);                                                            \
                if (p)                                                                             \
                        memcpy(&t.f, &p, sizeof(p));                                               \
                else {                                                                             \
                        load_rc = -ELIBACC;                                                        \
                        (void)snprintf(load_msg, sizeof(load_msg), "%s: no symbol %s",             \
                                       PQLIB_SONAME, #f);                                          \
                }                                                                                  \
        }
        PQLIB_FUNCS(PQLIB_RESOLVE)
#undef PQLIB_RESOLVE
        if (load_rc == 0)
                pqlib = t;
}

int pqlib_load(struct errbuf *err)
{
        (void)pthread_once(&once, load);
        if (load_rc < 0)
                return errbuf_set(err, load_rc,
                                  "PostgreSQL needs libpq, which cannot be loaded: %s", load_msg);
        return 0;
}
