/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation failures in controller_new() with a SQLite kagent database and a policy file
 * (tests/unit/common/failalloc.h): every allocation fails in turn. A failed construction
 * returns a negative errno, leaves its output alone and leaks nothing. A construction that
 * absorbed a failure (reading the policy, the integrity check) must not have turned it into a
 * lasting verdict: after the next tick the policy is loaded and valid, the database not corrupt.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "controller/controller.h"
#include "failalloc.h"

static const char policy_yaml[] = "spec:\n"
                                  "  activeWindow: 30m\n"
                                  "  sessions: {expireAfter: 30d}\n"
                                  "  orphans: {enabled: true}\n";

struct ctl_case {
        struct controller_config cfg;
        struct controller *ctl;
        struct errbuf err;
};

static int ctl_call(void *userdata)
{
        struct ctl_case *c = userdata;

        c->ctl = (struct controller *)&c->cfg; /* a canary: a failure leaves '*out' alone */
        errbuf_clear(&c->err);
        return controller_new(&c->cfg, &c->ctl, &c->err);
}

static void ctl_check(int rc, bool injected, void *userdata)
{
        struct ctl_case *c = userdata;
        volatile int stop = 1; /* a tick that measures and reloads, but never prunes */

        if (!injected || rc == 0) {
                const struct controller_state *st;

                assert_int_equal(rc, 0);
                (void)controller_tick(c->ctl, clock_mono_ms(), &stop);
                st = controller_state(c->ctl);
                if (!st->have_policy || !st->policy_valid)
                        fail_msg("allocation %ld failed: the policy stayed %s after a tick (%s)",
                                 failalloc_count(), st->have_policy ? "invalid" : "unloaded",
                                 st->policy_error);
                assert_false(st->db_corrupt);
                controller_free(c->ctl);
                return;
        }
        if (rc != -ENOMEM)
                fail_msg("allocation %ld failed: got %d (%s), want -ENOMEM", failalloc_count(), rc,
                         c->err.msg);
        assert_ptr_equal(c->ctl, (struct controller *)&c->cfg);
}

/* Create the database from kagent's GORM schema (tests/data/kagent/schema-sqlite.sql). */
static void make_db(const char *path)
{
        const char *src = getenv("KR_SOURCE_DIR"); /* NOLINT(concurrency-mt-unsafe): one thread */
        char file[512];
        char *sql;
        sqlite3 *h = NULL;
        FILE *f;
        long n;

        assert_non_null(src);
        (void)snprintf(file, sizeof(file), "%s/tests/data/kagent/schema-sqlite.sql", src);
        f = fopen(file, "re");
        assert_non_null(f);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n > 0);
        rewind(f);
        sql = calloc(1, (size_t)n + 1);
        assert_non_null(sql);
        assert_int_equal(fread(sql, 1, (size_t)n, f), (size_t)n);
        (void)fclose(f);
        assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
        (void)sqlite3_close(h);
        free(sql);
}

static void test_controller_new_alloc(void **state)
{
        char dir[] = "/tmp/kr-ctl-alloc-XXXXXX";
        char db[96];
        char pol[96];
        struct ctl_case c;
        FILE *f;

        (void)state;
        assert_non_null(mkdtemp(dir));
        (void)snprintf(db, sizeof(db), "%s/kagent.db", dir);
        (void)snprintf(pol, sizeof(pol), "%s/policy.yaml", dir);
        make_db(db);
        f = fopen(pol, "we");
        assert_non_null(f);
        assert_int_equal(fputs(policy_yaml, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        memset(&c, 0, sizeof(c));
        c.cfg.store.type = STORE_SQLITE;
        c.cfg.store.sqlite_path = db;
        c.cfg.policy_file = pol;
        c.cfg.reserve_bytes = 0;
        assert_true(failalloc_each(ctl_call, ctl_check, &c) > 50);
        (void)unlink(db);
        (void)unlink(pol);
        (void)rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_controller_new_alloc),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
