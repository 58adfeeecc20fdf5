/* SPDX-License-Identifier: Apache-2.0 */
/* libpq, loaded on first use: see pqlib.h. */
#include "store/pqlib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The table's members, with the functions they hold. */
#define PQLIB_FUNCS(X)                                                                             \
        X(PQclear)                                                                                 \
        X(PQcmdTuples)                                                                             \
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
        X(PQgetResult)                                                                             \
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
        X(PQsendQuery)                                                                             \
        X(PQsendQueryParams)                                                                       \
        X(PQserverVersion)                                                                         \
        X(PQsetNoticeProcessor)                                                                    \
        X(PQstatus)                                                                                \
        X(PQtransactionStatus)                                                                     \
        X(PQuser)

struct pqlib pqlib;

/*
 * Each member's type is libpq-fe.h's: an assignment of the function's address, in an operand of
 * sizeof, is type-checked and never evaluated (nothing links to libpq).
 */
#define PQLIB_CHECK(f) _Static_assert(sizeof(pqlib.f = &(f)) == sizeof(void (*)(void)), #f);
PQLIB_FUNCS(PQLIB_CHECK)
#undef PQLIB_CHECK

static const struct {
        const char *name;
        size_t offset;
} symbols[] = {
#define PQLIB_SYMBOL(f) { #f, offsetof(struct pqlib, f) },
        PQLIB_FUNCS(PQLIB_SYMBOL)
#undef PQLIB_SYMBOL
};
/* Every member is in the list, so none stays NULL after a load. */
_Static_assert(sizeof(symbols) / sizeof(symbols[0]) * sizeof(void (*)(void)) ==
                       sizeof(struct pqlib),
               "PQLIB_FUNCS lists every member of struct pqlib");

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_msg[256];

static void load(void)
{
        struct pqlib t;
        void *h;

        /* Never closed: libpq and OpenSSL keep process-wide state until exit. */
        h = dlopen(PQLIB_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                load_rc = -ELIBACC;
                /* NOLINTNEXTLINE(concurrency-mt-unsafe): under pthread_once, the only caller */
                (void)snprintf(load_msg, sizeof(load_msg), "%s", dlerror());
                return;
        }
        memset(&t, 0, sizeof(t));
        for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
                void *p = dlsym(h, symbols[i].name);

                if (!p) {
                        load_rc = -ELIBACC;
                        (void)snprintf(load_msg, sizeof(load_msg), "%s: no symbol %s", PQLIB_SONAME,
                                       symbols[i].name);
                        return;
                }
                /* A data pointer to a function pointer: copied, as ISO C has no such cast. */
                memcpy((char *)&t + symbols[i].offset, &p, sizeof(p));
        }
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
