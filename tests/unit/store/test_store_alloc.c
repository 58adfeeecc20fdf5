/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation failures in store_open() and the first measurement of a SQLite kagent database
 * (tests/unit/common/failalloc.h): every allocation, SQLite's own included, fails in turn. A
 * failed open returns a negative errno with a message, hands back no store and leaks nothing;
 * an open that absorbed a failure is a complete, working store.
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

#include "base/errbuf.h"
#include "failalloc.h"
#include "store/store.h"

/* A few of kagent's tables, exactly as GORM creates them (tests/data/kagent/schema-sqlite.sql). */
static const char schema[] =
        "CREATE TABLE `session` (`id` text NOT NULL,`user_id` text NOT NULL,`name` text,"
        "`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`agent_id` text,"
        "PRIMARY KEY (`id`,`user_id`));"
        "CREATE INDEX `idx_session_deleted_at` ON `session`(`deleted_at`);"
        "CREATE TABLE `event` (`id` text NOT NULL,`session_id` text,`user_id` text NOT NULL,"
        "`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`data` text NOT NULL,"
        "PRIMARY KEY (`id`,`user_id`));"
        "CREATE INDEX `idx_event_session_id` ON `event`(`session_id`);"
        "INSERT INTO session VALUES ('s1', 'u', 'chat', '2026-01-01 00:00:00+00:00', "
        "'2026-01-02 00:00:00+00:00', NULL, 'a');"
        "INSERT INTO event VALUES ('e1', 's1', 'u', '2026-01-01 00:00:00+00:00', "
        "'2026-01-01 00:00:00+00:00', NULL, '{}');";

struct open_case {
        struct store_config sc;
        struct store *s;
        struct store_usage u;
        struct errbuf err;
        int open_rc;
        int64_t want_pages;
};

static int open_call(void *userdata)
{
        struct open_case *c = userdata;
        int rc;

        c->s = (struct store *)&c->u; /* a canary: a failed open leaves '*out' alone */
        errbuf_clear(&c->err);
        rc = store_open(&c->sc, &c->s, &c->err);
        c->open_rc = rc;
        if (rc < 0)
                return rc;
        return store_measure(c->s, true, &c->u, &c->err);
}

static void open_check(int rc, bool injected, void *userdata)
{
        struct open_case *c = userdata;

        if (!injected || rc == 0) { /* complete, or SQLite absorbed the failure */
                assert_int_equal(rc, 0);
                assert_non_null(c->s);
                assert_true(store_info(c->s)->writable);
                assert_true(store_info(c->s)->has_table[STORE_T_EVENT]);
                assert_int_equal(c->u.page_count, c->want_pages);
                store_close(c->s);
                return;
        }
        assert_true(rc < 0);
        assert_true(c->err.msg[0] != '\0');
        if (c->open_rc < 0) {
                assert_ptr_equal(c->s, (struct store *)&c->u);
                return;
        }
        /* The open succeeded and the measurement failed: the store is still closed cleanly. */
        store_close(c->s);
}

static void test_open_and_measure_alloc(void **state)
{
        char path[] = "/tmp/kr-store-alloc-XXXXXX";
        char db[64];
        struct open_case c;
        sqlite3 *h = NULL;
        long n;
        int fd;

        (void)state;
        fd = mkstemp(path);
        assert_true(fd >= 0);
        (void)close(fd);
        (void)unlink(path);
        (void)snprintf(db, sizeof(db), "%s.db", path);
        assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h, schema, NULL, NULL, NULL), SQLITE_OK);
        (void)sqlite3_close(h);
        memset(&c, 0, sizeof(c));
        c.sc.type = STORE_SQLITE;
        c.sc.sqlite_path = db;
        assert_int_equal(open_call(&c), 0);
        c.want_pages = c.u.page_count;
        assert_true(c.want_pages > 0);
        store_close(c.s);
        n = failalloc_each(open_call, open_check, &c);
        assert_true(n > 20);
        (void)unlink(db);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_open_and_measure_alloc),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
