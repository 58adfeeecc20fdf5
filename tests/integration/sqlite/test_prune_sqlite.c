/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of the SQLite store and the prune engine on real database files built from
 * kagent's schema: the rule cases shared with PostgreSQL (tests/integration/common), then what
 * only SQLite has.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include <cmocka.h>

#include "base/errbuf.h"
#include "policy/policy.h"
#include "prune/prune.h"
#include "prune_cases.h"
#include "store/store.h"
#include "testdb.h"

/* A file held under an exclusive flock (kagent's Turso engine running) is only measured. */
static void test_flock_held_measures_only(void **state)
{
        struct fx *f = *state;
        struct store_config sc;
        struct store *s = NULL;
        struct store_usage u;
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct errbuf err;
        char *before;
        char *after;
        FILE *lock;

        kdb_store_config(f->k, &sc);
        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        before = prune_case_snapshot(f->k);
        lock = fopen(kdb_path(f->k), "re");
        assert_non_null(lock);
        assert_int_equal(flock(fileno(lock), LOCK_EX | LOCK_NB), 0);
        errbuf_clear(&err);
        assert_int_equal(store_open(&sc, &s, &err), 0);
        assert_false(store_info(s)->writable);
        assert_int_equal(store_info(s)->schema, STORE_SCHEMA_TURSO_SQLITE);
        assert_int_equal(store_measure(s, false, &u, &err), 0);
        assert_true(u.page_count > 0);
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        assert_int_equal(r.outcome, PRUNE_SKIPPED);
        assert_non_null(strstr(r.message, "flock"));
        store_close(s);
        (void)fclose(lock);
        after = prune_case_snapshot(f->k);
        assert_string_equal(before, after);
        free(before);
        free(after);
}

int main(void)
{
        static enum kdb_backend sqlite = KDB_SQLITE;
        struct CMUnitTest tests[32];
        size_t n = prune_cases_tests(KDB_SQLITE, tests, sizeof(tests) / sizeof(tests[0]) - 1);

        tests[n].name = "flock_held_measures_only/sqlite";
        tests[n].test_func = test_flock_held_measures_only;
        tests[n].setup_func = prune_case_setup;
        tests[n].teardown_func = prune_case_teardown;
        tests[n].initial_state = &sqlite;
        n++;
        return _cmocka_run_group_tests("sqlite", tests, n, NULL, NULL);
}
