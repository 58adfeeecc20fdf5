/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of the PostgreSQL store on a real server (the pg ctest fixture): the rule
 * cases shared with SQLite on both schema eras, then what only PostgreSQL has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testdb.h"
#include "prune_cases.h"

int main(void)
{
        struct CMUnitTest tests[64];
        size_t n = 0;

        n += prune_cases_tests(KDB_PG_MIGRATE, tests + n, sizeof(tests) / sizeof(tests[0]) - n);
        n += prune_cases_tests(KDB_PG_GORM, tests + n, sizeof(tests) / sizeof(tests[0]) - n);
        return _cmocka_run_group_tests("postgres", tests, n, NULL, NULL);
}
