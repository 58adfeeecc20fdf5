/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite space reclaim on real files: incremental_vacuum shrinks an auto_vacuum=INCREMENTAL file
 * by the freed pages; a full VACUUM runs only with room on the volume and kagent idle; otherwise
 * the free pages stay for reuse and are reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "base/errbuf.h"
#include "policy/policy.h"
#include "prune/prune.h"
#include "store/store.h"
#include "testdb.h"

struct fx {
        struct kdb *k;
        struct store *s;
};

static int64_t file_size(const char *path)
{
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        return (int64_t)st.st_size;
}

/* 60 old sessions of 20 events of ~2 KiB, 10 active ones; prune the old ones. */
static void fill_and_prune(struct fx *f, bool incremental)
{
        struct store_config sc;
        struct prune_opts o = { .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct policy p;
        struct errbuf err;

        f->k = kdb_create(KDB_SQLITE, 1);
        kdb_store_config(f->k, &sc);
        if (incremental)
                kdb_exec(f->k, "PRAGMA auto_vacuum=INCREMENTAL; VACUUM;");
        kdb_exec(f->k, "BEGIN");
        for (int s = 0; s < 70; s++) {
                char sid[16];

                (void)snprintf(sid, sizeof(sid), "s%d", s);
                kdb_session(f->k, sid, "u", 50 * DAY_MS, s < 60 ? 40 * DAY_MS : MIN_MS, -1);
                kdb_exec(f->k,
                         "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE "
                         "i < 19) INSERT INTO event(id, session_id, user_id, created_at, data) "
                         "SELECT '%q-' || i, '%q', 'u', '2026-01-01 00:00:00+00:00', "
                         "hex(randomblob(1024)) FROM n",
                         sid, sid);
        }
        kdb_exec(f->k, "COMMIT");
        policy_init(&p);
        p.session_expire_ms = 30 * DAY_MS;
        p.batch_pause_ms = 0;
        o.policy = &p;
        errbuf_clear(&err);
        assert_int_equal(store_open(&sc, &f->s, &err), 0);
        assert_int_equal(prune_run(f->s, &o, &r, &err), 0);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_EVENT].rows, 60 * 20);
}

static int teardown(void **state)
{
        struct fx *f = *state;

        store_close(f->s);
        kdb_free(f->k);
        free(f);
        return 0;
}

static int setup(void **state)
{
        *state = calloc(1, sizeof(struct fx));
        return *state ? 0 : -1;
}

static struct store_reclaim_result reclaim(struct fx *f, enum store_reclaim_mode mode,
                                           int64_t volume_free, int64_t idle_ms)
{
        struct store_reclaim_params p = { .mode = mode,
                                          .volume_free_bytes = volume_free,
                                          .writers_idle_ms = idle_ms };
        struct store_reclaim_result r;
        struct errbuf err;

        errbuf_clear(&err);
        assert_int_equal(store_writer_acquire(f->s, &err), 1);
        if (store_reclaim(f->s, &p, &r, &err) < 0)
                fail_msg("reclaim: %s", err.msg);
        store_writer_release(f->s);
        return r;
}

static void test_incremental_file_shrinks(void **state)
{
        struct fx *f = *state;
        struct store_usage u;
        struct store_reclaim_result r;
        struct errbuf err;
        int64_t before;
        int64_t free_bytes;

        fill_and_prune(f, true);
        assert_int_equal(store_measure(f->s, false, &u, &err), 0);
        assert_string_equal(u.auto_vacuum, "incremental");
        free_bytes = u.free_bytes;
        assert_true(free_bytes > (int64_t)60 * 20 * 2048); /* hex(1 KiB) = 2 KiB per event */
        before = file_size(kdb_path(f->k));
        /* Even with no room on the volume: incremental steps need no extra space. */
        r = reclaim(f, STORE_RECLAIM_AUTO, 0, -1);
        assert_string_equal(r.action, "incremental_vacuum");
        assert_int_equal(r.reclaimed_bytes, before - file_size(kdb_path(f->k)));
        /* The freed pages, plus the pointer-map pages that tracked them. */
        assert_true(r.reclaimed_bytes >= free_bytes);
        assert_true(r.reclaimed_bytes <= free_bytes + 16 * u.page_size);
        assert_int_equal(store_measure(f->s, false, &u, &err), 0);
        assert_int_equal(u.freelist_count, 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event"), 10 * 20);
}

static void test_auto_without_room_keeps_free_pages(void **state)
{
        struct fx *f = *state;
        struct store_usage u;
        struct store_reclaim_result r;
        struct errbuf err;
        int64_t before;

        fill_and_prune(f, false);
        before = file_size(kdb_path(f->k));
        r = reclaim(f, STORE_RECLAIM_AUTO, 1 << 20, (int64_t)10 * 60 * 1000);
        assert_non_null(strstr(r.action, "none: volume has"));
        assert_int_equal(r.reclaimed_bytes, 0);
        assert_int_equal(file_size(kdb_path(f->k)), before);
        assert_int_equal(store_measure(f->s, false, &u, &err), 0);
        assert_true(u.free_bytes > (int64_t)60 * 20 * 2048); /* reported as reusable */
        /* Room, but kagent wrote a second ago: still no VACUUM. */
        r = reclaim(f, STORE_RECLAIM_AUTO, 1LL << 40, 1000);
        assert_string_equal(r.action, "none: kagent wrote within the last minute");
        /* None never touches the file. */
        r = reclaim(f, STORE_RECLAIM_NONE, 1LL << 40, (int64_t)10 * 60 * 1000);
        assert_string_equal(r.action, "none: reclaim.mode is None");
        assert_int_equal(file_size(kdb_path(f->k)), before);
}

static void test_auto_with_room_and_idle_vacuums(void **state)
{
        struct fx *f = *state;
        struct store_reclaim_result r;
        int64_t before;

        fill_and_prune(f, false);
        before = file_size(kdb_path(f->k));
        r = reclaim(f, STORE_RECLAIM_AUTO, 1LL << 40, (int64_t)10 * 60 * 1000);
        assert_string_equal(r.action, "VACUUM");
        assert_true(r.reclaimed_bytes > (int64_t)60 * 20 * 2048);
        assert_int_equal(r.reclaimed_bytes, before - file_size(kdb_path(f->k)));
        assert_int_equal(kdb_int(f->k, "PRAGMA auto_vacuum"), 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event"), 10 * 20);
        assert_string_equal(kdb_list(f->k, (char[8]){ 0 }, 8, "PRAGMA integrity_check"), "ok");
}

static void test_incremental_mode_converts_once(void **state)
{
        struct fx *f = *state;
        struct store_reclaim_result r;
        struct store_usage u;
        struct errbuf err;

        fill_and_prune(f, false);
        r = reclaim(f, STORE_RECLAIM_INCREMENTAL, 1LL << 40, (int64_t)10 * 60 * 1000);
        assert_string_equal(r.action, "VACUUM to auto_vacuum=INCREMENTAL");
        assert_true(r.reclaimed_bytes > (int64_t)60 * 20 * 2048);
        assert_int_equal(store_measure(f->s, false, &u, &err), 0);
        assert_string_equal(u.auto_vacuum, "incremental");
        /* From now on the cheap path is used. */
        r = reclaim(f, STORE_RECLAIM_INCREMENTAL, 0, 0);
        assert_string_equal(r.action, "incremental_vacuum");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_incremental_file_shrinks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_auto_without_room_keeps_free_pages, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_auto_with_room_and_idle_vacuums, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_incremental_mode_converts_once, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
