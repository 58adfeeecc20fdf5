/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of the SQLite store and the prune engine on real database files built from
 * kagent's schema: the rule cases shared with PostgreSQL (tests/integration/common), then what
 * only SQLite has.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/clock.h"
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

/* ---- the sessions rule in whole sessions ---------------------------------------------- */

/* Open the store and plan the sessions rule (30 d) on it. */
static struct store *plan_sessions(struct fx *f, struct store_plan_result *plan)
{
        struct store_rule_params rp = { .rule = STORE_RULE_SESSIONS, .now_ms = KDB_NOW_MS };
        struct store_config sc;
        struct store *s = NULL;
        struct errbuf err;

        errbuf_clear(&err);
        kdb_store_config(f->k, &sc);
        if (store_open(&sc, &s, &err) < 0)
                fail_msg("store_open: %s", err.msg);
        rp.active_cutoff_ms = KDB_NOW_MS - f->p.active_window_ms;
        rp.age_cutoff_ms = KDB_NOW_MS - 30 * DAY_MS;
        rp.unfinished_cutoff_ms = rp.age_cutoff_ms;
        rp.read_budget_ms = 20;
        assert_int_equal(store_writer_acquire(s, &err), 1);
        assert_int_equal(store_run_begin(s, &err), 0);
        if (store_plan(s, &rp, plan, &err) < 0)
                fail_msg("plan: %s", err.msg);
        return s;
}

/* One batch of at most 'max_rows'; it never deletes more. */
static struct store_batch_result batch(struct store *s, int64_t max_rows)
{
        struct store_batch_result b;
        struct errbuf err;

        errbuf_clear(&err);
        if (store_delete_batch(s, max_rows, &b, &err) < 0)
                fail_msg("delete: %s", err.msg);
        assert_true(b.rows <= max_rows);
        return b;
}

static int64_t rows_of(struct fx *f, const char *sid, const char *uid)
{
        return kdb_int(f->k,
                       "SELECT (SELECT count(*) FROM session WHERE id = '%s' AND user_id = '%s') "
                       "+ (SELECT count(*) FROM event WHERE session_id = '%s' AND user_id = "
                       "'%s') + (SELECT count(*) FROM lg_checkpoint WHERE thread_id = '%s' AND "
                       "user_id = '%s') + (SELECT count(*) FROM lg_checkpoint_write WHERE "
                       "thread_id = '%s' AND user_id = '%s') + (SELECT count(*) FROM "
                       "crewai_agent_memory WHERE thread_id = '%s' AND user_id = '%s') + "
                       "(SELECT count(*) FROM crewai_flow_state WHERE thread_id = '%s' AND "
                       "user_id = '%s')",
                       sid, uid, sid, uid, sid, uid, sid, uid, sid, uid, sid, uid);
}

/*
 * A session larger than a batch goes in parts, each within max_rows, children first: its row
 * stays until everything else of it is gone, and goes last.
 */
static void test_session_in_parts(void **state)
{
        struct fx *f = *state;
        struct store_plan_result plan;
        struct store *s;
        int64_t total = 0;
        int batches = 0;

        prune_case_session(f->k, "big", "u", 40 * DAY_MS);
        for (int i = 0; i < 12; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "big-x%d", i);
                kdb_event(f->k, id, "big", "u", 40 * DAY_MS, -1);
        }
        kdb_task(f->k, "t-big", "big", "completed", 40 * DAY_MS, -1);
        kdb_push(f->k, "p-big", "t-big", 40 * DAY_MS, -1);
        prune_case_session(f->k, "small", "u", 35 * DAY_MS);
        s = plan_sessions(f, &plan);
        /* big: 1 + 15 events + cp + write + 2 crewai + task + push; small: 8. */
        assert_int_equal(plan.rows, 22 + 8);
        assert_int_equal(plan.units, 2);
        for (;;) {
                struct store_batch_result b = batch(s, 3);

                total += b.rows;
                batches++;
                assert_int_equal(b.skipped_units, 0);
                /* The row of 'big' is there as long as anything else of it is. */
                if (rows_of(f, "big", "u") > 0)
                        assert_int_equal(
                                kdb_int(f->k, "SELECT count(*) FROM session WHERE id = 'big'"), 1);
                if (kdb_int(f->k, "SELECT count(*) FROM task WHERE id = 't-big'") == 0)
                        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM push_notification"),
                                         0);
                if (b.done)
                        break;
                assert_true(batches < 100);
        }
        store_close(s);
        assert_int_equal(total, 30);
        assert_true(batches >= 10);
        assert_int_equal(rows_of(f, "big", "u") + rows_of(f, "small", "u"), 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM task"), 0);
        assert_true(kdb_intact(f->k));
}

/*
 * Rows that appear after the plan never make a batch exceed max_rows: a child written with an
 * old timestamp (not activity) after planning is deleted within the bound.
 */
static void test_rows_after_plan_bounded(void **state)
{
        struct fx *f = *state;
        struct store_plan_result plan;
        struct store_batch_result b;
        struct store *s;

        prune_case_session(f->k, "a", "u", 40 * DAY_MS);
        prune_case_session(f->k, "b", "u", 35 * DAY_MS);
        s = plan_sessions(f, &plan);
        assert_int_equal(plan.rows, 16);
        kdb_crewai(f->k, "crewai_agent_memory", "u2", "a", 40 * DAY_MS, -1);
        kdb_write(f->k, "u", "a", "", "a-u-cp1", 1, 40 * DAY_MS);
        b = batch(s, 8);
        assert_true(b.rows <= 8);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session WHERE id = 'a'"), 1);
        do
                b = batch(s, 8);
        while (!b.done);
        store_close(s);
        assert_int_equal(rows_of(f, "a", "u") + rows_of(f, "b", "u"), 0);
        /* Another user's thread of the same id is not this session's. */
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM crewai_agent_memory"), 1);
}

/*
 * Rows written after the plan (dated in the past: not activity) to tables in which the plan
 * found none of the session's rows go with it all the same.
 */
static void test_rows_after_plan_in_empty_tables(void **state)
{
        struct fx *f = *state;
        struct store_plan_result plan;
        struct store_batch_result b;
        struct store *s;

        kdb_session(f->k, "bare", "u", 41 * DAY_MS, 40 * DAY_MS, -1);
        kdb_event(f->k, "bare-e1", "bare", "u", 40 * DAY_MS, -1);
        kdb_task(f->k, "t-bare", "bare", "completed", 40 * DAY_MS, -1);
        prune_case_session(f->k, "full", "u", 40 * DAY_MS);
        s = plan_sessions(f, &plan);
        assert_int_equal(plan.units, 2);
        assert_int_equal(plan.tables[STORE_T_PUSH].rows, 0);
        assert_int_equal(plan.tables[STORE_T_CHECKPOINT_WRITE].rows, 1);
        kdb_write(f->k, "u", "bare", "", "bare-cp1", 0, 40 * DAY_MS);
        kdb_crewai(f->k, "crewai_flow_state", "u", "bare", 40 * DAY_MS, -1);
        kdb_push(f->k, "p-bare", "t-bare", 40 * DAY_MS, -1);
        do
                b = batch(s, 1000);
        while (!b.done);
        store_close(s);
        assert_int_equal(rows_of(f, "bare", "u") + rows_of(f, "full", "u"), 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM task"), 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM push_notification"), 0);
}

/* An event written after the plan (even one dated in the past) keeps its whole session. */
static void test_event_after_plan_keeps_session(void **state)
{
        struct fx *f = *state;
        struct store_plan_result plan;
        struct store_batch_result b;
        struct store *s;
        int64_t skipped = 0;

        prune_case_session(f->k, "idle", "u", 40 * DAY_MS);
        prune_case_session(f->k, "late", "u", 35 * DAY_MS);
        kdb_task(f->k, "t-late", "late", "completed", 35 * DAY_MS, -1);
        s = plan_sessions(f, &plan);
        assert_int_equal(plan.units, 2);
        kdb_event(f->k, "late-new", "late", "u", 35 * DAY_MS, -1);
        do {
                b = batch(s, 1000);
                skipped += b.skipped_units;
        } while (!b.done);
        store_close(s);
        assert_int_equal(skipped, 1);
        assert_int_equal(rows_of(f, "idle", "u"), 0);
        assert_int_equal(rows_of(f, "late", "u"), 9);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM task WHERE id = 't-late'"), 1);
}

/*
 * Two rows of one session id (two users), both planned: the tasks go with the last one. When
 * the first becomes active after the plan, it still claims them, and they stay with it.
 */
static void test_shared_tasks_stay_claimed(void **state)
{
        struct fx *f = *state;
        struct store_plan_result plan;
        struct store_batch_result b;
        struct store *s;

        prune_case_session(f->k, "sh", "alice", 45 * DAY_MS);
        prune_case_session(f->k, "sh", "bob", 41 * DAY_MS);
        kdb_task(f->k, "t-sh", "sh", "completed", 41 * DAY_MS, -1);
        kdb_push(f->k, "p-sh", "t-sh", 41 * DAY_MS, -1);
        s = plan_sessions(f, &plan);
        assert_int_equal(plan.tables[STORE_T_TASK].rows, 1);
        assert_int_equal(plan.tables[STORE_T_PUSH].rows, 1);
        kdb_event(f->k, "sh-new", "sh", "alice", 0, -1);
        do
                b = batch(s, 1000);
        while (!b.done);
        store_close(s);
        assert_int_equal(rows_of(f, "sh", "bob"), 0);
        assert_int_equal(rows_of(f, "sh", "alice"), 9);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM task"), 1);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM push_notification"), 1);
}

/* A dry run reports per table exactly the rows and bytes the real run deletes in parts. */
static void test_whole_sessions_dry_run_matches(void **state)
{
        struct fx *f = *state;
        struct prune_result dry;
        struct prune_result real;

        for (int i = 0; i < 6; i++) {
                char sid[16];

                (void)snprintf(sid, sizeof(sid), "s%d", i);
                prune_case_session(f->k, sid, i % 2 ? "alice" : "bob", (31 + i) * DAY_MS);
                prune_case_session(f->k, sid, "carol", (40 + i) * DAY_MS);
        }
        kdb_task(f->k, "t1", "s1", "completed", 40 * DAY_MS, -1);
        kdb_push(f->k, "p1", "t1", 40 * DAY_MS, -1);
        kdb_task(f->k, "t2", "s2", "failed", 40 * DAY_MS, -1);
        prune_case_session(f->k, "live", "dave", MIN_MS);
        kdb_task(f->k, "t-live", "live", "completed", 40 * DAY_MS, -1);
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.soft_purge_ms = 7 * DAY_MS;
        f->p.orphans = true;
        f->p.batch_max_rows = 5;
        dry = prune_case_run(f, true);
        real = prune_case_run(f, false);
        assert_int_equal(real.outcome, PRUNE_SUCCEEDED);
        for (int rule = 0; rule < STORE_RULE_COUNT; rule++)
                for (int t = 0; t < STORE_T_COUNT; t++) {
                        assert_int_equal(dry.rules[rule].tables[t].rows,
                                         real.rules[rule].tables[t].rows);
                        assert_int_equal(dry.rules[rule].tables[t].bytes,
                                         real.rules[rule].tables[t].bytes);
                }
        assert_int_equal(real.rules[STORE_RULE_SESSIONS].tables[STORE_T_SESSION].rows, 12);
        assert_int_equal(real.rules[STORE_RULE_SESSIONS].tables[STORE_T_TASK].rows, 2);
        assert_int_equal(real.rules[STORE_RULE_SESSIONS].tables[STORE_T_PUSH].rows, 1);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 1);
        assert_true(kdb_intact(f->k));
}

/* Is the database file mapped into this process? */
static bool db_mapped(struct fx *f)
{
        char line[4096];
        bool found = false;
        FILE *maps = fopen("/proc/self/maps", "re");

        assert_non_null(maps);
        while (!found && fgets(line, sizeof(line), maps))
                found = strstr(line, kdb_path(f->k)) != NULL && !strstr(line, "-journal");
        (void)fclose(maps);
        return found;
}

static bool journal_exists(struct fx *f)
{
        char path[4096];

        (void)snprintf(path, sizeof(path), "%s-journal", kdb_path(f->k));
        return access(path, F_OK) == 0;
}

/*
 * A run reads through a memory map while nobody else writes, and keeps its rollback journal
 * between batches; both end with the run (store_release() between runs, store_close()): no
 * journal file is left on the volume and no database page in our resident set. A WAL database
 * stays in WAL mode.
 */
static void test_run_settings_end_with_run(void **state)
{
        struct fx *f = *state;
        struct store_plan_result plan;
        struct store_batch_result b;
        struct store *s;

        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        prune_case_session(f->k, "older", "u", 50 * DAY_MS);
        prune_case_session(f->k, "oldest", "u", 60 * DAY_MS);
        s = plan_sessions(f, &plan);
        assert_int_equal(plan.units, 3);
        assert_true(db_mapped(f));
        (void)store_others_wrote(s); /* the commits before the run, as the engine does */
        b = batch(s, 8);
        assert_int_equal(b.rows, 8);
        assert_false(b.done);
        /* Kept between the run's transactions, with nothing in it (not a hot journal). */
        assert_true(journal_exists(f));
        assert_true(db_mapped(f));
        /* The watch saw our commit write the file: that was not another connection. */
        assert_false(store_others_wrote(s));
        assert_true(db_mapped(f));
        /* kagent commits: the next batch reads without the map. */
        prune_case_session(f->k, "new", "u", DAY_MS);
        b = batch(s, 8);
        assert_int_equal(b.rows, 8);
        assert_false(db_mapped(f));
        assert_true(journal_exists(f));
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 2);
        store_release(s);
        assert_false(journal_exists(f));
        assert_false(db_mapped(f));

        /* The next run, ended by closing the store. */
        store_close(s);
        s = plan_sessions(f, &plan);
        assert_int_equal(plan.units, 1);
        b = batch(s, 100);
        assert_int_equal(b.rows, 8);
        store_close(s);
        assert_false(journal_exists(f));
        assert_false(db_mapped(f));
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 1);

        /* WAL is the database's own mode: a run never changes it. */
        kdb_exec(f->k, "PRAGMA journal_mode=WAL");
        prune_case_session(f->k, "wal", "u", 40 * DAY_MS);
        s = plan_sessions(f, &plan);
        b = batch(s, 100);
        assert_int_equal(b.rows, 8);
        store_release(s);
        store_close(s);
        assert_false(journal_exists(f));
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM pragma_journal_mode WHERE "
                                       "journal_mode = 'wal'"),
                         1);
        assert_true(kdb_intact(f->k));
}

/* Sessions s0, s1, ... of user u (8 rows each), idle 40, 41, ... days. */
static void idle_sessions(struct fx *f, int n)
{
        for (int i = 0; i < n; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "s%d", i);
                prune_case_session(f->k, id, "u", (40 + i) * DAY_MS);
        }
}

/*
 * While the run's map covers the file, none of our reads is a read(2) of it: any is another
 * process's, and store_others_waiting() reports it once (a kagent writer retrying in its busy
 * handler reads the change counter). Our own batches read nothing that way. A foreign commit
 * ends the map and with it the certainty (-1), until nobody has committed for
 * STORE_WRITERS_RECENT_MS and the map comes back. In WAL mode it cannot tell.
 */
static void test_others_waiting(void **state)
{
        struct fx *f = *state;
        struct store_plan_result plan;
        struct store *s;
        int64_t t0;
        int seen;

        idle_sessions(f, 6);
        s = plan_sessions(f, &plan);
        assert_int_equal(plan.units, 6);
        assert_int_equal(store_others_waiting(s), 0);
        assert_int_equal(batch(s, 8).rows, 8);
        assert_int_equal(store_others_waiting(s), 0);
        /* kagent reads (its own connection, no map): seen once. */
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 5);
        assert_int_equal(store_others_waiting(s), 1);
        assert_int_equal(store_others_waiting(s), 0);
        /* kagent commits: the map goes, and the store cannot tell any more. */
        prune_case_session(f->k, "new", "u", DAY_MS);
        t0 = clock_mono_ms(); /* not after the store saw the commit (below) */
        assert_true(store_others_wrote(s));
        assert_false(db_mapped(f));
        assert_int_equal(store_others_waiting(s), -1);
        assert_int_equal(batch(s, 8).rows, 8);
        assert_int_equal(store_others_waiting(s), -1);
        /* Nobody commits for STORE_WRITERS_RECENT_MS: the map comes back, then it tells. */
        while ((seen = store_others_waiting(s)) != 0) {
                assert_int_equal(seen, -1);
                assert_true(clock_mono_ms() - t0 < 5 * (int64_t)STORE_WRITERS_RECENT_MS);
                clock_sleep_ms(50, NULL);
        }
        assert_true(clock_mono_ms() - t0 >= STORE_WRITERS_RECENT_MS);
        assert_true(db_mapped(f));
        assert_int_equal(batch(s, 8).rows, 8);
        assert_int_equal(store_others_waiting(s), 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 4);
        assert_int_equal(store_others_waiting(s), 1);
        store_close(s);

        /* WAL: a waiting writer reads nothing of the database file. */
        kdb_exec(f->k, "PRAGMA journal_mode=WAL");
        s = plan_sessions(f, &plan);
        assert_int_equal(plan.units, 3);
        assert_int_equal(store_others_waiting(s), -1);
        assert_int_equal(batch(s, 8).rows, 8);
        assert_int_equal(store_others_waiting(s), -1);
        store_close(s);
}

/*
 * A batch of whole sessions ends early, after the session it is on, when another process has
 * read the file since the engine last looked: a writer is waiting for the lock. The engine
 * still learns of it (store_others_waiting()), to pause for it.
 */
static void test_commits_early_for_waiting(void **state)
{
        struct fx *f = *state;
        struct store_plan_result plan;
        struct store_batch_result b;
        struct store *s;

        idle_sessions(f, 4);
        s = plan_sessions(f, &plan);
        assert_int_equal(plan.rows, 32);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 4);
        b = batch(s, 100);
        assert_int_equal(b.rows, 8);
        assert_false(b.done);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 3);
        assert_int_equal(store_others_waiting(s), 1);
        /* Nobody else since: the rest in one batch. */
        b = batch(s, 100);
        assert_int_equal(b.rows, 24);
        assert_true(b.done);
        store_close(s);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
}

/* Reads the database through the fixture's connection after the batch numbered 'at'. */
struct toucher {
        struct kdb *k;
        int at;
        int batches;
};

static void touch_after_batch(const struct store_batch_result *b, void *userdata)
{
        struct toucher *t = userdata;

        (void)b;
        if (++t->batches == t->at)
                (void)kdb_int(t->k, "SELECT count(*) FROM session");
}

/* Prune n idle sessions (8 rows each) with on_batch called after every batch. */
static struct prune_result
run_observed(struct fx *f, int n,
             void (*on_batch)(const struct store_batch_result *b, void *userdata), void *userdata)
{
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS };
        struct store_config sc;
        struct store *s = NULL;
        struct prune_result r;
        struct errbuf err;

        idle_sessions(f, n);
        o.on_batch = on_batch;
        o.on_batch_userdata = userdata;
        errbuf_clear(&err);
        kdb_store_config(f->k, &sc);
        assert_int_equal(store_open(&sc, &s, &err), 0);
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        store_close(s);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(r.rows, n * 8);
        return r;
}

static struct prune_result run_touched(struct fx *f, int at)
{
        struct toucher t = { .k = f->k, .at = at };
        struct prune_result r = run_observed(f, 12, touch_after_batch, &t);

        assert_int_equal(r.batches, 12);
        return r;
}

/*
 * While nobody commits, the engine pauses between batches only when another process touched
 * the database during the batch: then for batch.pause (nobody commits to end it sooner).
 * Where the store cannot tell (WAL), it leaves the lock free after every batch.
 */
static void test_pauses_only_for_others(void **state)
{
        struct fx *f = *state;
        struct prune_result r;

        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.batch_max_rows = 8;
        /*
         * One session a batch however slow the machine: at the default lock budget (50 ms) a
         * batch that took over 25 ms (a loaded machine, the sanitizers) shrank the next one
         * below a session, and a session in two batches made 13 of them.
         */
        f->p.batch_max_lock_ms = 10000; /* the largest allowed: 10 s */
        f->p.batch_pause_ms = 300;
        r = run_touched(f, 0);
        /* No pause at all (the clock's milliseconds may tick over while looking). */
        assert_true(r.paused_ms < r.batches / 2);
        r = run_touched(f, 3);
        assert_true(r.paused_ms >= f->p.batch_pause_ms);
        assert_true(r.paused_ms < 2 * f->p.batch_pause_ms);

        kdb_exec(f->k, "PRAGMA journal_mode=WAL");
        r = run_touched(f, 0);
        /* At least a millisecond after each batch but the last. */
        assert_true(r.paused_ms >= r.batches - 1);
        assert_true(kdb_intact(f->k));
}

/*
 * A kagent writer long asleep in SQLite's busy handler: it read the file during a batch (its
 * last failed attempt) and tries again only after a sleep longer than batch.pause, with no
 * read in between. Its attempt finds the lock free: the engine pauses until it commits.
 */
struct late_writer {
        const char *path;
        int sleep_ms;
        int rc;
        pthread_t thread;
        bool started;
        struct kdb *k;
        int at;
        int batches;
};

static void *late_write(void *arg)
{
        struct late_writer *w = arg;
        sqlite3 *db = NULL;

        clock_sleep_ms(w->sleep_ms, NULL);
        w->rc = sqlite3_open_v2(w->path, &db, SQLITE_OPEN_READWRITE, NULL);
        if (w->rc == SQLITE_OK) /* one attempt, no busy handler: is the lock free now? */
                w->rc = sqlite3_exec(db,
                                     "BEGIN IMMEDIATE; INSERT INTO feedback(user_id, "
                                     "feedback_text) VALUES ('u', 'late'); COMMIT;",
                                     NULL, NULL, NULL);
        (void)sqlite3_close(db);
        return NULL;
}

static void late_writer_after_batch(const struct store_batch_result *b, void *userdata)
{
        struct late_writer *w = userdata;

        (void)b;
        if (++w->batches != w->at)
                return;
        (void)kdb_int(w->k, "SELECT count(*) FROM session"); /* its failed attempt's read */
        w->started = pthread_create(&w->thread, NULL, late_write, w) == 0;
}

static void test_pause_outlasts_busy_sleep(void **state)
{
        struct fx *f = *state;
        struct late_writer w = {
                .path = kdb_path(f->k), .sleep_ms = 45, .rc = -1, .k = f->k, .at = 3
        };
        struct prune_result r;

        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.batch_max_rows = 8;
        f->p.batch_pause_ms = 20; /* the API's default; the writer sleeps longer */
        r = run_observed(f, 200, late_writer_after_batch, &w);
        assert_true(w.started);
        assert_int_equal(pthread_join(w.thread, NULL), 0);
        assert_int_equal(w.rc, SQLITE_OK);
        assert_true(r.paused_ms >= w.sleep_ms);
        assert_int_equal(
                kdb_int(f->k, "SELECT count(*) FROM feedback WHERE feedback_text = 'late'"), 1);
}

int main(void)
{
        static enum kdb_backend sqlite = KDB_SQLITE;
        struct CMUnitTest tests[40];
        size_t n = prune_cases_tests(KDB_SQLITE, tests, sizeof(tests) / sizeof(tests[0]) - 10);

        static const struct {
                const char *name;
                CMUnitTestFunction fn;
        } own[] = {
                { "flock_held_measures_only/sqlite", test_flock_held_measures_only },
                { "session_in_parts/sqlite", test_session_in_parts },
                { "rows_after_plan_bounded/sqlite", test_rows_after_plan_bounded },
                { "rows_after_plan_in_empty_tables/sqlite", test_rows_after_plan_in_empty_tables },
                { "event_after_plan_keeps_session/sqlite", test_event_after_plan_keeps_session },
                { "shared_tasks_stay_claimed/sqlite", test_shared_tasks_stay_claimed },
                { "whole_sessions_dry_run_matches/sqlite", test_whole_sessions_dry_run_matches },
                { "run_settings_end_with_run/sqlite", test_run_settings_end_with_run },
                { "others_waiting/sqlite", test_others_waiting },
                { "commits_early_for_waiting/sqlite", test_commits_early_for_waiting },
                { "pauses_only_for_others/sqlite", test_pauses_only_for_others },
                { "pause_outlasts_busy_sleep/sqlite", test_pause_outlasts_busy_sleep },
        };

        for (size_t i = 0; i < sizeof(own) / sizeof(own[0]) && n < sizeof(tests) / sizeof(tests[0]);
             i++) {
                tests[n].name = own[i].name;
                tests[n].test_func = own[i].fn;
                tests[n].setup_func = prune_case_setup;
                tests[n].teardown_func = prune_case_teardown;
                tests[n].initial_state = &sqlite;
                n++;
        }
        return _cmocka_run_group_tests("sqlite", tests, n, NULL, NULL);
}
