/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of the PostgreSQL store on a real server (the pg ctest fixture): the rule
 * cases shared with SQLite on both schema eras, then what only PostgreSQL has: schema
 * detection, the advisory lock, session_share and task.user_id of the migration era, rows
 * held by another transaction (SKIP LOCKED), lock_timeout, connection options, reconnecting,
 * measurement, VACUUM and passwords kept out of messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "policy/policy.h"
#include "prune/prune.h"
#include "prune_cases.h"
#include "store/store.h"
#include "testdb.h"

static enum kdb_backend migrate = KDB_PG_MIGRATE;
static enum kdb_backend gorm = KDB_PG_GORM;

#define LIST(f, ...) kdb_list((f)->k, (f)->buf, sizeof((f)->buf), __VA_ARGS__)

static int64_t mono_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct store *open_url(const char *url)
{
        struct store_config sc = { .type = STORE_POSTGRES, .postgres_url = url };
        struct store *s = NULL;
        struct errbuf err;

        errbuf_clear(&err);
        if (store_open(&sc, &s, &err) < 0)
                fail_msg("store_open: %s", err.msg);
        return s;
}

static struct store *open_fx(struct fx *f)
{
        return open_url(kdb_url(f->k));
}

/* A second connection to the test database, as kagent would hold one. */
static PGconn *other(struct fx *f)
{
        PGconn *c = PQconnectdb(kdb_url(f->k));

        if (PQstatus(c) != CONNECTION_OK)
                fail_msg("connect: %s", PQerrorMessage(c));
        return c;
}

static void other_exec(PGconn *c, const char *sql)
{
        PGresult *r = PQexec(c, sql);

        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
                fail_msg("sql failed: %s: %s", sql, PQerrorMessage(c));
        PQclear(r);
}

static struct prune_result run_store(struct fx *f, struct store *s)
{
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct errbuf err;

        errbuf_clear(&err);
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        return r;
}

/* No event, task, checkpoint or CrewAI row left whose session row is gone. */
static int64_t dangling(struct fx *f)
{
        return kdb_int(f->k,
                       "SELECT (SELECT count(*) FROM event e WHERE NOT EXISTS (SELECT 1 FROM "
                       "session s WHERE s.id = e.session_id AND s.user_id = e.user_id)) + "
                       "(SELECT count(*) FROM lg_checkpoint c WHERE NOT EXISTS (SELECT 1 FROM "
                       "session s WHERE s.id = c.thread_id AND s.user_id = c.user_id)) + "
                       "(SELECT count(*) FROM push_notification p WHERE NOT EXISTS (SELECT 1 "
                       "FROM task t WHERE t.id = p.task_id))");
}

/* ---- schema ---------------------------------------------------------------------------- */

static void test_schema_migrate(void **state)
{
        struct fx *f = *state;
        struct store *s = open_fx(f);
        const struct store_info *info = store_info(s);

        assert_int_equal(info->type, STORE_POSTGRES);
        assert_int_equal(info->schema, STORE_SCHEMA_MIGRATE_POSTGRES);
        assert_string_equal(info->schema_version, "13");
        assert_true(info->task_has_user_id);
        assert_true(info->has_table[STORE_T_SESSION_SHARE]);
        assert_true(info->has_table[STORE_T_EVENT] && info->has_table[STORE_T_FEEDBACK]);
        assert_true(info->writable);
        assert_non_null(strstr(info->engine_version, "postgres "));
        store_close(s);
}

static void test_schema_gorm(void **state)
{
        struct fx *f = *state;
        struct store *s = open_fx(f);
        const struct store_info *info = store_info(s);

        assert_int_equal(info->schema, STORE_SCHEMA_GORM_POSTGRES);
        assert_string_equal(info->schema_version, "");
        assert_false(info->task_has_user_id);
        assert_false(info->has_table[STORE_T_SESSION_SHARE]);
        assert_true(info->has_table[STORE_T_TASK] && info->has_table[STORE_T_CHECKPOINT]);
        store_close(s);
}

/* A failed kagent migration leaves schema_migrations dirty: nothing is deleted then. */
static void test_schema_dirty(void **state)
{
        struct fx *f = *state;
        struct store *s;
        struct prune_result r;
        char *before;
        char *after;

        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        kdb_exec(f->k, "UPDATE schema_migrations SET dirty = true");
        f->p.session_expire_ms = 30 * DAY_MS;
        before = prune_case_snapshot(f->k);
        s = open_fx(f);
        r = run_store(f, s);
        assert_int_equal(r.outcome, PRUNE_SKIPPED);
        assert_non_null(strstr(r.message, "dirty"));
        store_close(s);
        after = prune_case_snapshot(f->k);
        assert_string_equal(before, after);
        free(before);
        free(after);
}

/* Tables lacking a column a rule needs, or with text timestamps, are skipped, not guessed at. */
static void test_schema_unexpected_shapes(void **state)
{
        struct fx *f = *state;
        struct store *s;
        struct store_config sc;
        struct errbuf err;

        kdb_exec(f->k, "ALTER TABLE task DROP COLUMN updated_at");
        kdb_exec(f->k, "ALTER TABLE crewai_flow_state ALTER COLUMN updated_at TYPE text");
        s = open_fx(f);
        assert_false(store_info(s)->has_table[STORE_T_TASK]);
        assert_false(store_info(s)->has_table[STORE_T_CREWAI_FLOW]);
        assert_true(store_info(s)->has_table[STORE_T_CREWAI_MEMORY]);
        store_close(s);
        /* A database without kagent's tables is refused. */
        kdb_exec(f->k, "DROP TABLE session, event");
        kdb_store_config(f->k, &sc);
        errbuf_clear(&err);
        s = NULL;
        assert_int_equal(store_open(&sc, &s, &err), -EPROTO);
        assert_null(s);
        assert_non_null(strstr(err.msg, "not a kagent database"));
}

/* kagent's tables in another schema, found through search_path from the URL's options. */
static void test_schema_search_path(void **state)
{
        struct fx *f = *state;
        static const char *const tables[] = { "session",
                                              "event",
                                              "task",
                                              "push_notification",
                                              "lg_checkpoint",
                                              "lg_checkpoint_write",
                                              "crewai_agent_memory",
                                              "crewai_flow_state",
                                              "feedback",
                                              "session_share",
                                              "session_share_access",
                                              "schema_migrations" };
        char url[1200];
        struct store *s;
        struct prune_result r;

        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        prune_case_session(f->k, "new", "u", DAY_MS);
        kdb_exec(f->k, "CREATE SCHEMA kagent");
        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
                kdb_exec(f->k, "ALTER TABLE public.%s SET SCHEMA kagent", tables[i]);
        (void)snprintf(url, sizeof(url), "%s?options=-csearch_path%%3Dkagent", kdb_url(f->k));
        f->p.session_expire_ms = 30 * DAY_MS;
        s = open_url(url);
        assert_int_equal(store_info(s)->schema, STORE_SCHEMA_MIGRATE_POSTGRES);
        r = run_store(f, s);
        store_close(s);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_SESSION].rows, 1);
        assert_string_equal(LIST(f, "SELECT id FROM kagent.session ORDER BY 1"), "new");
}

/* ---- one pruner at a time ------------------------------------------------------------ */

static void test_advisory_lock(void **state)
{
        struct fx *f = *state;
        struct store *a = open_fx(f);
        struct store *b = open_fx(f);
        struct prune_result r;
        struct errbuf err;

        errbuf_clear(&err);
        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        assert_int_equal(store_writer_acquire(a, &err), 1);
        assert_int_equal(store_writer_acquire(a, &err), 1); /* held: no second lock level */
        assert_int_equal(store_writer_acquire(b, &err), 0);
        assert_string_equal(store_info(b)->not_writable_reason,
                            "another pruner holds the advisory lock");
        r = run_store(f, b);
        assert_int_equal(r.outcome, PRUNE_SKIPPED);
        assert_string_equal(r.message, "another pruner holds the advisory lock");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 1);
        store_writer_release(a);
        r = run_store(f, b);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
        /* b released it at the end of its run. */
        assert_int_equal(store_writer_acquire(a, &err), 1);
        store_close(a);
        store_close(b);
}

/* ---- migration era: session_share and task.user_id ------------------------------------- */

static void test_session_share_cascade(void **state)
{
        struct fx *f = *state;
        struct prune_result dry;
        struct prune_result r;

        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        prune_case_session(f->k, "live", "u", 5 * MIN_MS);
        kdb_exec(f->k, "INSERT INTO session_share(token, session_id, user_id) VALUES "
                       "('t1', 'old', 'u'), ('t2', 'old', 'u'), ('t3', 'live', 'u'), "
                       "('t4', 'old', 'someone-else')");
        kdb_exec(f->k, "INSERT INTO session_share_access(user_id, share_id) SELECT v.u, s.id "
                       "FROM session_share s, (VALUES ('a'), ('b')) AS v(u)");
        f->p.session_expire_ms = 30 * DAY_MS;
        dry = prune_case_run(f, true);
        r = prune_case_run(f, false);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_SESSION_SHARE].rows, 2);
        assert_int_equal(dry.rules[STORE_RULE_SESSIONS].tables[STORE_T_SESSION_SHARE].rows, 2);
        assert_int_equal(dry.rows, r.rows);
        assert_string_equal(LIST(f, "SELECT token FROM session_share ORDER BY 1"), "t3,t4");
        /* Access rows went with their shares through the foreign key's cascade. */
        assert_string_equal(LIST(f, "SELECT s.token || ':' || a.user_id FROM "
                                    "session_share_access a JOIN session_share s ON "
                                    "s.id = a.share_id ORDER BY 1"),
                            "t3:a,t3:b,t4:a,t4:b");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session_share_access"), 4);
}

static void owned_task(struct fx *f, const char *id, const char *sid, const char *user,
                       const char *state, int64_t ago)
{
        kdb_task(f->k, id, sid, state, ago, -1);
        if (user)
                kdb_exec(f->k, "UPDATE task SET user_id = %Q WHERE id = %Q", user, id);
        kdb_push(f->k, id, id, ago, -1);
}

/* A task with user_id belongs to its owner's session only (kagent's own retention's rule). */
static void test_task_owner(void **state)
{
        struct fx *f = *state;

        /* X: alice idle, bob active. */
        prune_case_session(f->k, "X", "alice", 40 * DAY_MS);
        prune_case_session(f->k, "X", "bob", 5 * MIN_MS);
        owned_task(f, "x-alice", "X", "alice", "completed", 40 * DAY_MS);
        owned_task(f, "x-bob", "X", "bob", "completed", 40 * DAY_MS);
        owned_task(f, "x-none", "X", NULL, "completed", 40 * DAY_MS);
        /* Y: both idle; everything goes. */
        prune_case_session(f->k, "Y", "alice", 45 * DAY_MS);
        prune_case_session(f->k, "Y", "carol", 41 * DAY_MS);
        owned_task(f, "y-carol", "Y", "carol", "failed", 41 * DAY_MS);
        owned_task(f, "y-none", "Y", NULL, "failed", 41 * DAY_MS);
        /* Z: bob's task of yesterday keeps bob's session, not alice's. */
        prune_case_session(f->k, "Z", "alice", 40 * DAY_MS);
        prune_case_session(f->k, "Z", "bob", 40 * DAY_MS);
        owned_task(f, "z-bob", "Z", "bob", "working", DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        (void)prune_case_run(f, false);
        assert_string_equal(LIST(f, "SELECT id || '/' || user_id FROM session ORDER BY 1"),
                            "X/bob,Z/bob");
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"), "x-bob,x-none,z-bob");
        assert_string_equal(LIST(f, "SELECT id FROM push_notification ORDER BY 1"),
                            "x-bob,x-none,z-bob");
        /* tasks.finishedAfter: bob is active, so neither his task nor the shared one goes. */
        f->p.session_expire_ms = POLICY_OFF;
        f->p.task_finished_ms = 7 * DAY_MS;
        (void)prune_case_run(f, false);
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"), "x-bob,x-none,z-bob");
        /* An owned task whose owner has no session row with that id is an orphan. */
        owned_task(f, "x-dave", "X", "dave", "completed", 2 * HOUR_MS);
        f->p.task_finished_ms = POLICY_OFF;
        f->p.orphans = true;
        (void)prune_case_run(f, false);
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"), "x-bob,x-none,z-bob");
        assert_int_equal(dangling(f), 0);
}

/* ---- concurrency with kagent's transactions ------------------------------------------ */

/* A row another transaction holds is not waited for; its whole session stays, consistent. */
static void test_skip_locked_rows(void **state)
{
        struct fx *f = *state;
        struct prune_result r;
        PGconn *c = other(f);

        prune_case_session(f->k, "s1", "u", 40 * DAY_MS);
        prune_case_session(f->k, "s2", "u", 40 * DAY_MS);
        prune_case_session(f->k, "s3", "u", 40 * DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        other_exec(c, "BEGIN");
        other_exec(c, "SELECT 1 FROM event WHERE id = 's1-u-e1' FOR UPDATE");
        other_exec(c, "UPDATE session SET name = 'renamed' WHERE id = 's2'");
        r = prune_case_run(f, false);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_true(r.skipped_units >= 2);
        assert_string_equal(LIST(f, "SELECT id FROM session ORDER BY 1"), "s1,s2");
        /* s2's row was locked before anything of it went; s1's event was locked mid-way. */
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event WHERE session_id = 's2'"), 3);
        assert_true(kdb_int(f->k, "SELECT count(*) FROM event WHERE id = 's1-u-e1'") == 1);
        assert_int_equal(dangling(f), 0);
        other_exec(c, "COMMIT");
        PQfinish(c);
        r = prune_case_run(f, false);
        assert_int_equal(r.skipped_units, 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event"), 0);
}

/* Plan the sessions rule on 's' and stop before deleting. */
static void plan_sessions(struct fx *f, struct store *s)
{
        struct store_rule_params rp = { .rule = STORE_RULE_SESSIONS, .now_ms = KDB_NOW_MS };
        struct store_plan_result plan;
        struct errbuf err;

        errbuf_clear(&err);
        rp.active_cutoff_ms = KDB_NOW_MS - f->p.active_window_ms;
        rp.age_cutoff_ms = KDB_NOW_MS - 30 * DAY_MS;
        rp.unfinished_cutoff_ms = rp.age_cutoff_ms;
        assert_int_equal(store_writer_acquire(s, &err), 1);
        assert_int_equal(store_run_begin(s, &err), 0);
        if (store_plan(s, &rp, &plan, &err) < 0)
                fail_msg("plan: %s", err.msg);
        assert_true(plan.rows > 0);
}

/* A table lock (kagent migrating) makes a batch give up after lock_timeout with -EBUSY. */
static void test_lock_timeout(void **state)
{
        struct fx *f = *state;
        struct store_batch_result b;
        char url[1200];
        struct errbuf err;
        PGconn *c = other(f);

        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        errbuf_clear(&err);
        for (int pass = 0; pass < 2; pass++) {
                struct store *s;
                int64_t t0;
                int64_t waited;

                /* Pass 1 sets its own lock_timeout in the URL's options: it is honoured. */
                (void)snprintf(url, sizeof(url), "%s%s", kdb_url(f->k),
                               pass ? "?options=-c%20lock_timeout%3D100ms" : "");
                s = open_url(url);
                plan_sessions(f, s);
                other_exec(c, "BEGIN");
                other_exec(c, "LOCK TABLE event IN ACCESS EXCLUSIVE MODE");
                t0 = mono_ms();
                assert_int_equal(store_delete_batch(s, 100, &b, &err), -EBUSY);
                waited = mono_ms() - t0;
                assert_non_null(strstr(err.msg, "55P03"));
                if (pass)
                        assert_true(waited >= 90 && waited < 450);
                else
                        assert_true(waited >= 450 && waited < 3000);
                other_exec(c, "ROLLBACK");
                assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 1);
                if (pass) {
                        assert_int_equal(store_delete_batch(s, 100, &b, &err), 0);
                        assert_int_equal(b.tables[STORE_T_SESSION].rows, 1);
                }
                store_writer_release(s);
                store_close(s);
        }
        PQfinish(c);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
}

/* A session with more rows than a batch may goes in parts, each within the bound, its row last. */
static void test_session_in_parts(void **state)
{
        struct fx *f = *state;
        struct store_batch_result b;
        struct errbuf err;
        struct store *s;
        int64_t rows = 0;

        prune_case_session(f->k, "big", "u", 40 * DAY_MS);
        kdb_exec(f->k,
                 "INSERT INTO event(id, user_id, session_id, created_at, data) SELECT 'big-' || g, "
                 "'u', 'big', to_timestamp(%lld) - interval '41 days', 'x' FROM "
                 "generate_series(1, 10) g",
                 (long long)(KDB_NOW_MS / 1000));
        errbuf_clear(&err);
        s = open_fx(f);
        plan_sessions(f, s);
        for (int i = 0; i < 100; i++) {
                assert_int_equal(store_delete_batch(s, 4, &b, &err), 0);
                assert_true(b.rows <= 4);
                /* Children first: the session row goes with the last part. */
                if (b.tables[STORE_T_SESSION].rows > 0)
                        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event"), 0);
                rows += b.rows;
                if (b.done)
                        break;
        }
        assert_true(b.done);
        assert_true(rows >= 14);
        store_writer_release(s);
        store_close(s);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
        assert_int_equal(dangling(f), 0);
}

/*
 * Activity written between plan and delete makes a session active: it stays, whole, and the rest
 * of its batch goes in the same call. The batch finds an event, a checkpoint or a CrewAI row of
 * a session as it deletes it; then it runs again, each session checked first.
 */
static void test_active_after_plan(void **state)
{
        static const char *const kinds[] = { "event", "checkpoint", "memory", "flow" };
        struct fx *f = *state;
        long long now = (long long)(KDB_NOW_MS / 1000);

        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                struct store_batch_result b;
                struct errbuf err;
                struct store *s;
                char s1[32];
                char s2[32];
                char id[64];

                (void)snprintf(s1, sizeof(s1), "s1-%s", kinds[i]);
                (void)snprintf(s2, sizeof(s2), "s2-%s", kinds[i]);
                prune_case_session(f->k, s1, "u", 40 * DAY_MS);
                prune_case_session(f->k, s2, "u", 40 * DAY_MS);
                errbuf_clear(&err);
                s = open_fx(f);
                plan_sessions(f, s);
                (void)snprintf(id, sizeof(id), "%s-new", s1);
                if (i == 0)
                        kdb_event(f->k, id, s1, "u", 0, -1);
                else if (i == 1)
                        kdb_checkpoint(f->k, "u", s1, "", id, 0, -1);
                else
                        kdb_exec(f->k,
                                 "UPDATE %s SET updated_at = to_timestamp(%lld) WHERE "
                                 "thread_id = '%s'",
                                 i == 2 ? "crewai_agent_memory" : "crewai_flow_state", now, s1);
                assert_int_equal(store_delete_batch(s, 1000, &b, &err), 0);
                assert_int_equal(b.skipped_units, 1);
                assert_int_equal(b.tables[STORE_T_SESSION].rows, 1);
                assert_int_equal(b.tables[STORE_T_EVENT].rows, 3);
                store_writer_release(s);
                store_close(s);
                assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session WHERE id = '%s'", s1),
                                 1);
                assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session WHERE id = '%s'", s2),
                                 0);
                assert_int_equal(
                        kdb_int(f->k, "SELECT count(*) FROM event WHERE session_id = '%s'", s1),
                        i == 0 ? 4 : 3);
                assert_int_equal(
                        kdb_int(f->k, "SELECT count(*) FROM lg_checkpoint WHERE thread_id = '%s'",
                                s1),
                        i == 1 ? 2 : 1);
                assert_int_equal(kdb_int(f->k,
                                         "SELECT (SELECT count(*) FROM crewai_agent_memory WHERE "
                                         "thread_id = '%s') + (SELECT count(*) FROM "
                                         "crewai_flow_state WHERE thread_id = '%s')",
                                         s1, s1),
                                 2);
        }
        assert_int_equal(dangling(f), 0);
}

/* A held child row fails the batch's plain DELETE fast; the fallback keeps only its session. */
static void test_held_row_fallback(void **state)
{
        struct fx *f = *state;
        struct store_batch_result b;
        struct errbuf err;
        struct store *s;
        PGconn *c = other(f);
        int64_t t0;

        prune_case_session(f->k, "s1", "u", 40 * DAY_MS);
        prune_case_session(f->k, "s2", "u", 40 * DAY_MS);
        errbuf_clear(&err);
        s = open_fx(f);
        plan_sessions(f, s);
        other_exec(c, "BEGIN");
        other_exec(c, "SELECT 1 FROM lg_checkpoint WHERE thread_id = 's1' FOR UPDATE");
        t0 = mono_ms();
        for (int i = 0; i < 10; i++) {
                struct store_batch_result one;

                assert_int_equal(store_delete_batch(s, 1000, &one, &err), 0);
                if (i == 0)
                        b = one;
                else
                        b.skipped_units += one.skipped_units;
                if (one.done)
                        break;
        }
        /* Never a full lock_timeout (500 ms) per held row. */
        assert_true(mono_ms() - t0 < 450);
        assert_int_equal(b.skipped_units, 1);
        other_exec(c, "ROLLBACK");
        PQfinish(c);
        store_writer_release(s);
        store_close(s);
        assert_string_equal(LIST(f, "SELECT id FROM session ORDER BY 1"), "s1");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event WHERE session_id = 's1'"), 3);
        assert_int_equal(dangling(f), 0);
}

/* application_name defaults to kagent-retention; the connection string's own wins. */
static void test_application_name(void **state)
{
        struct fx *f = *state;
        char url[1200];
        struct store *a = open_fx(f);
        struct store *b;

        (void)snprintf(url, sizeof(url), "%s?application_name=custom-pruner", kdb_url(f->k));
        b = open_url(url);
        assert_string_equal(LIST(f, "SELECT application_name FROM pg_stat_activity WHERE "
                                    "datname = current_database() AND pid <> pg_backend_pid() "
                                    "AND application_name <> '' ORDER BY 1"),
                            "custom-pruner,kagent-retention");
        store_close(a);
        store_close(b);
}

static void kill_store_backends(struct fx *f)
{
        assert_true(kdb_int(f->k, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = current_database() AND "
                                  "application_name = 'kagent-retention'") >= 1);
        /* The server ends them asynchronously. */
        for (int i = 0; i < 200 && kdb_int(f->k, "SELECT count(*) FROM pg_stat_activity WHERE "
                                                 "datname = current_database() AND "
                                                 "application_name = 'kagent-retention'") > 0;
             i++) {
                struct timespec ts = { 0, 10000000L };

                (void)nanosleep(&ts, NULL);
        }
}

/* A lost connection fails the op with -EAGAIN; the next one reconnects. */
static void test_reconnect(void **state)
{
        struct fx *f = *state;
        struct store *s = open_fx(f);
        struct store_usage u;
        struct prune_result r;
        struct errbuf err;

        errbuf_clear(&err);
        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        kill_store_backends(f);
        assert_int_equal(store_measure(s, false, &u, &err), -EAGAIN);
        assert_non_null(strstr(err.msg, "connection lost"));
        assert_int_equal(store_measure(s, false, &u, &err), 0);
        assert_true(u.db_bytes > 0);
        /* Between runs: the run's first step notices and reconnects at once. */
        kill_store_backends(f);
        r = run_store(f, s);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
        store_close(s);
}

/* In the middle of a run: the run fails cleanly, nothing half-deleted, the next run finishes. */
static void kill_after_first_batch(const struct store_batch_result *b, void *userdata)
{
        struct fx *f = userdata;

        (void)b;
        if (kdb_int(f->k, "SELECT count(*) FROM session") == 5 - 1)
                kill_store_backends(f);
}

static void test_connection_lost_mid_run(void **state)
{
        struct fx *f = *state;
        struct store *s = open_fx(f);
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct errbuf err;

        for (int i = 0; i < 5; i++) {
                char sid[16];

                (void)snprintf(sid, sizeof(sid), "s%d", i);
                prune_case_session(f->k, sid, "u", (40 + i) * DAY_MS);
        }
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.batch_max_rows = 3;
        o.on_batch = kill_after_first_batch;
        o.on_batch_userdata = f;
        errbuf_clear(&err);
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        assert_int_equal(r.outcome, PRUNE_FAILED);
        if (!strstr(r.message, "connection lost"))
                fail_msg("message: %s", r.message);
        assert_int_equal(dangling(f), 0);
        r = run_store(f, s);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
        assert_int_equal(dangling(f), 0);
        store_close(s);
}

/* A measurement reconnecting during a run (the ladder measures between batches) ends the run. */
static void test_reconnect_mid_run(void **state)
{
        struct fx *f = *state;
        struct store *s = open_fx(f);
        struct store_batch_result b;
        struct store_usage u;
        struct errbuf err;

        errbuf_clear(&err);
        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        plan_sessions(f, s);
        kill_store_backends(f);
        assert_int_equal(store_measure(s, false, &u, &err), -EAGAIN);
        assert_int_equal(store_measure(s, false, &u, &err), 0);
        assert_int_equal(store_delete_batch(s, 100, &b, &err), -EAGAIN);
        assert_non_null(strstr(err.msg, "advisory lock went with it"));
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 1);
        store_close(s);
}

/* Pacing's signal: another connection's write shows; our own batches do not. */
static void test_others_wrote(void **state)
{
        struct fx *f = *state;
        struct store *s = open_fx(f);
        struct store_batch_result b;
        struct errbuf err;
        bool quiet = false;

        errbuf_clear(&err);
        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        plan_sessions(f, s);
        kdb_exec(f->k, "INSERT INTO feedback(user_id, feedback_text) VALUES ('u', 'x')");
        assert_true(store_others_wrote(s));
        /* Transaction ids are cluster-wide and other tests may be writing: wait for a quiet
         * moment, then our own batch alone must not count. */
        for (int i = 0; i < 100 && !quiet; i++) {
                struct timespec ts = { 0, 20000000L };

                (void)nanosleep(&ts, NULL);
                quiet = !store_others_wrote(s);
        }
        assert_true(quiet);
        for (int i = 0; i < 100; i++) {
                assert_int_equal(store_delete_batch(s, 2, &b, &err), 0);
                if (!store_others_wrote(s))
                        break;
                assert_true(i < 99);
        }
        store_close(s);
}

/* kagent writes from the third batch on; the largest batch from the fifth on is recorded. */
struct writes_during {
        struct fx *f;
        int batches;
        int64_t max_late;
};

static void write_from_third_batch(const struct store_batch_result *b, void *userdata)
{
        struct writes_during *w = userdata;

        if (w->batches >= 4 && b->rows > w->max_late)
                w->max_late = b->rows;
        if (++w->batches >= 3)
                kdb_exec(w->f->k, "INSERT INTO feedback(user_id, feedback_text) VALUES ('u', 'x')");
}

static void add_idle_sessions(struct fx *f, int n, int events);

/*
 * While kagent writes, PostgreSQL batches stay at 500 rows or fewer (a kagent commit flushes
 * the WAL our running batch wrote), though the lock budget would let them grow to maxRows.
 */
static void test_small_batches_while_kagent_writes(void **state)
{
        struct fx *f = *state;
        struct store *s = open_fx(f);
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS };
        struct writes_during w = { .f = f };
        struct prune_result r;
        struct errbuf err;

        add_idle_sessions(f, 600, 15);
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.batch_max_rows = 1000;
        f->p.batch_max_lock_ms = 10000;
        o.on_batch = write_from_third_batch;
        o.on_batch_userdata = &w;
        errbuf_clear(&err);
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(r.rows, 600 * 16);
        assert_true(w.batches > 10);
        assert_true(w.max_late > 0);
        assert_true(w.max_late <= 500);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
        store_close(s);
}

/* Wait until nobody else has committed for longer than kagent counts as writing. */
static void wait_writers_idle(struct store *s)
{
        int64_t t0 = mono_ms();
        int64_t seen = t0;

        while (mono_ms() - seen <= STORE_WRITERS_RECENT_MS + 100) {
                struct timespec ts = { 0, 50000000L };

                if (store_others_wrote(s))
                        seen = mono_ms();
                assert_true(mono_ms() - t0 < 30000);
                (void)nanosleep(&ts, NULL);
        }
}

static bool server_at_least(struct fx *f, int version_num)
{
        return kdb_int(f->k, "SELECT current_setting('server_version_num')::int") >= version_num;
}

/*
 * A table kr_seen with a text column per setting in 'names', and a statement trigger on event
 * that adds a row of those settings as the deleting transaction sees them.
 */
static void install_seen(struct fx *f, const char *const *names, size_t n)
{
        char cols[256] = "";
        char vals[512] = "";
        size_t cl = 0;
        size_t vl = 0;

        for (size_t i = 0; i < n; i++) {
                const char *sep = i ? ", " : "";

                cl += (size_t)snprintf(cols + cl, sizeof(cols) - cl, "%s%s text", sep, names[i]);
                vl += (size_t)snprintf(vals + vl, sizeof(vals) - vl, "%scurrent_setting('%s')", sep,
                                       names[i]);
                assert_true(cl < sizeof(cols) && vl < sizeof(vals));
        }
        kdb_exec(f->k, "CREATE TABLE kr_seen(%s)", cols);
        kdb_exec(f->k,
                 "CREATE FUNCTION kr_seen() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN "
                 "INSERT INTO public.kr_seen VALUES (%s); RETURN NULL; END$$",
                 vals);
        kdb_exec(f->k, "CREATE TRIGGER kr_seen AFTER DELETE ON event FOR EACH STATEMENT EXECUTE "
                       "FUNCTION kr_seen()");
}

/* What the trigger of install_seen() saw of the deleting transaction's settings. */
static void assert_seen(struct fx *f, const char *flush, const char *sync, const char *walc)
{
        assert_true(kdb_int(f->k, "SELECT count(*) FROM kr_seen") > 0);
        assert_int_equal(kdb_int(f->k,
                                 "SELECT count(*) FROM kr_seen WHERE backend_flush_after <> %Q OR "
                                 "synchronous_commit <> %Q OR wal_compression <> %Q",
                                 flush, sync, walc),
                         0);
}

/* 'n' sessions s0.. idle for 40+ days (prune_case_session), opened and planned. */
static struct store *idle_sessions_planned(struct fx *f, int n)
{
        struct store *s;

        for (int i = 0; i < n; i++) {
                char sid[16];

                (void)snprintf(sid, sizeof(sid), "s%d", i);
                prune_case_session(f->k, sid, "u", (40 + i) * DAY_MS);
        }
        s = open_fx(f);
        plan_sessions(f, s);
        return s;
}

/*
 * While kagent writes, a batch commits synchronously, its backend hands what it writes out to
 * the kernel's write-back at once (backend_flush_after) and compresses the full-page images in
 * its WAL (wal_compression, PostgreSQL 15+, as the superuser); otherwise none of them.
 * synchronous_commit is the batch's own (SET LOCAL), the others session settings that
 * store_others_wrote() switches as kagent starts and stops writing. Seen from inside the
 * batches by a statement trigger on event.
 */
static void test_settings_while_kagent_writes(void **state)
{
        struct fx *f = *state;
        struct store_batch_result b;
        struct errbuf err;
        struct store *s;

        static const char *const names[] = { "backend_flush_after", "synchronous_commit",
                                             "wal_compression" };
        bool lz4 = server_at_least(f, 150000);

        install_seen(f, names, sizeof(names) / sizeof(names[0]));
        s = idle_sessions_planned(f, 3);
        errbuf_clear(&err);
        wait_writers_idle(s);
        assert_int_equal(store_delete_batch(s, 8, &b, &err), 0);
        assert_int_equal(b.rows, 8);
        assert_seen(f, "0", "off", "off");

        kdb_exec(f->k, "DELETE FROM kr_seen"); /* kagent writes */
        assert_true(store_others_wrote(s));
        assert_int_equal(store_delete_batch(s, 8, &b, &err), 0);
        assert_int_equal(b.rows, 8);
        assert_seen(f, "512kB", "on", lz4 ? "lz4" : "off");

        /* Nobody writes any more: both are off again. */
        kdb_exec(f->k, "DELETE FROM kr_seen");
        wait_writers_idle(s);
        assert_int_equal(store_delete_batch(s, 8, &b, &err), 0);
        assert_int_equal(b.rows, 8);
        assert_seen(f, "0", "off", "off");
        store_writer_release(s);
        store_close(s);
}

/*
 * Of the deleted rows of 'table' (pageinspect: every tuple of its pages whose deleting
 * transaction id is after 'after'), how many still lack the hint bit "deleted, and committed"
 * (HEAP_XMAX_COMMITTED, 0x0400); '*dead' is how many there are, '*last' the newest such id.
 */
#define DEAD_ROWS                                                                                  \
        "FROM generate_series(0, pg_relation_size('%s') / 8192 - 1) AS b, "                        \
        "heap_page_items(get_raw_page('%s', b::int)) AS h WHERE h.t_xmax::text::bigint > %lld"

static int64_t unhinted(struct fx *f, const char *table, int64_t after, int64_t *dead,
                        int64_t *last)
{
        *dead = kdb_int(f->k, "SELECT count(*) " DEAD_ROWS, table, table, (long long)after);
        *last = kdb_int(f->k, "SELECT coalesce(max(h.t_xmax::text::bigint), 0) " DEAD_ROWS, table,
                        table, (long long)after);
        return kdb_int(f->k, "SELECT count(*) " DEAD_ROWS " AND (h.t_infomask & 1024) = 0", table,
                       table, (long long)after);
}

/*
 * While kagent writes, a batch of whole sessions reads the rows it deleted once more after its
 * commit, so that their hint bits are set while the pages are still in shared_buffers, not by
 * autovacuum's ANALYZE later (which would dirty its sample pages again). While nobody writes, it
 * does not (its commits are asynchronous: a hint bit waits for the commit's flush). Nothing else
 * reads the deleted rows here: autovacuum is off for those tables.
 */
static void test_hint_bits_while_kagent_writes(void **state)
{
        static const struct {
                const char *table;
                int64_t rows; /* of a session of prune_case_session() */
        } t[] = { { "event", 3 }, { "lg_checkpoint", 1 }, { "session", 1 } };
        struct fx *f = *state;
        struct store_batch_result b;
        struct errbuf err;
        struct store *s;
        int64_t after[3] = { 0 };

        if (kdb_int(f->k, "SELECT count(*) FROM pg_available_extensions WHERE name = "
                          "'pageinspect'") == 0)
                skip(); /* the server's contrib modules are not installed */
        kdb_exec(f->k, "CREATE EXTENSION pageinspect");
        for (size_t i = 0; i < 3; i++)
                kdb_exec(f->k, "ALTER TABLE %s SET (autovacuum_enabled = false)", t[i].table);
        kdb_exec(f->k, "CREATE TABLE kr_w(i int)");
        s = idle_sessions_planned(f, 2);
        errbuf_clear(&err);

        /* Nobody writes: the hint bits of the batch's deleted rows stay unset. */
        wait_writers_idle(s);
        assert_int_equal(store_delete_batch(s, 8, &b, &err), 0);
        assert_int_equal(b.rows, 8);
        for (size_t i = 0; i < 3; i++) {
                int64_t dead = 0;

                assert_int_equal(unhinted(f, t[i].table, 0, &dead, &after[i]), t[i].rows);
                assert_int_equal(dead, t[i].rows);
        }

        /* kagent writes: the next batch's are set. */
        kdb_exec(f->k, "INSERT INTO kr_w VALUES (1)");
        assert_true(store_others_wrote(s));
        assert_int_equal(store_delete_batch(s, 8, &b, &err), 0);
        assert_int_equal(b.rows, 8);
        for (size_t i = 0; i < 3; i++) {
                int64_t dead = 0;
                int64_t last = 0;

                assert_int_equal(unhinted(f, t[i].table, after[i], &dead, &last), 0);
                assert_int_equal(dead, t[i].rows);
        }
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
        store_writer_release(s);
        store_close(s);
}

/*
 * While kagent writes, the WAL of our batches has its full-page images compressed with lz4 where
 * the server leaves wal_compression off, the connection string does not set it and the role may
 * set it: the superuser, a role granted SET on the parameter; not a role without the privilege
 * (which still prunes), not where the connection string or the database chose otherwise. Seen
 * from inside the batches by a statement trigger on event (test_settings_while_kagent_writes:
 * not while kagent is idle).
 */
static void test_wal_compression(void **state)
{
        enum { PLAIN, GRANTED, DATABASE_PGLZ };
        static const char *const walc[] = { "wal_compression" };
        struct fx *f = *state;
        const char *url = kdb_url(f->k);
        const char *at = strchr(url, '@');
        const char *db = strrchr(url, '/');
        char role[32];
        char role_url[1200];
        char opt_url[1200];
        struct {
                const char *url;
                int before; /* what changes first: one of the enum, or -1 */
                const char *want;
        } cases[] = {
                { url, -1, "lz4" },
                { opt_url, -1, "off" },
                { role_url, PLAIN, "off" },
                { role_url, GRANTED, "lz4" },
                { url, DATABASE_PGLZ, "pglz" },
        };

        if (!server_at_least(f, 150000))
                skip(); /* lz4 and GRANT SET ON PARAMETER: PostgreSQL 15+ */
        assert_non_null(at);
        assert_non_null(db);
        db++;
        (void)snprintf(role, sizeof(role), "kr_plain_%d", (int)getpid());
        (void)snprintf(role_url, sizeof(role_url), "postgresql://%s:kr-pw%s", role, at);
        (void)snprintf(opt_url, sizeof(opt_url), "%s?options=-c%%20wal_compression%%3Doff", url);
        kdb_exec(f->k, "CREATE ROLE %s LOGIN PASSWORD 'kr-pw'", role);
        kdb_exec(f->k, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %s",
                 role);
        install_seen(f, walc, 1);
        kdb_exec(f->k, "GRANT INSERT ON kr_seen TO %s", role);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct store_batch_result b;
                struct errbuf err;
                struct store *s;
                char sid[16];

                (void)snprintf(sid, sizeof(sid), "s%zu", i);
                prune_case_session(f->k, sid, "u", 40 * DAY_MS);
                if (cases[i].before == GRANTED)
                        kdb_exec(f->k, "GRANT SET ON PARAMETER wal_compression TO %s", role);
                else if (cases[i].before == DATABASE_PGLZ)
                        kdb_exec(f->k, "ALTER DATABASE %s SET wal_compression = pglz", db);
                kdb_exec(f->k, "DELETE FROM kr_seen");
                errbuf_clear(&err);
                s = open_url(cases[i].url);
                plan_sessions(f, s);
                kdb_exec(f->k, "INSERT INTO kr_seen VALUES ('kagent')"); /* kagent writes */
                assert_true(store_others_wrote(s));
                assert_int_equal(store_delete_batch(s, 100, &b, &err), 0);
                assert_int_equal(b.tables[STORE_T_SESSION].rows, 1);
                store_writer_release(s);
                store_close(s);
                assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM kr_seen"), 2);
                assert_int_equal(kdb_int(f->k,
                                         "SELECT count(*) FROM kr_seen WHERE wal_compression = %Q",
                                         cases[i].want),
                                 1);
        }
        kdb_exec(f->k, "ALTER DATABASE %s RESET wal_compression", db);
        kdb_exec(f->k, "REVOKE SET ON PARAMETER wal_compression FROM %s", role);
        kdb_exec(f->k, "DROP OWNED BY %s", role);
        kdb_exec(f->k, "DROP ROLE %s", role);
}

/* ---- the sessions plan in parts, and its planning helper ------------------------------ */

/*
 * Sessions enough for the session table to span several block ranges, so a real run plans them
 * in parts: 'n' ids of user u, every 13th also of user u2, two old events each (u's rows), a
 * recent event for every 7th (active), one task without owner per id with a push notification,
 * unfinished and recent for every 11th.
 */
#define MIXED 12000

static void add_mixed_sessions(struct fx *f)
{
        long long now_s = KDB_NOW_MS / 1000;

        kdb_exec(f->k,
                 "INSERT INTO session(id, user_id, created_at, updated_at) SELECT 'm' || g, u, "
                 "to_timestamp(%lld) - interval '50 days', to_timestamp(%lld) - interval '40 days' "
                 "FROM generate_series(1, %d) g, unnest(ARRAY['u', 'u2']) u WHERE u = 'u' OR "
                 "g %% 13 = 0",
                 now_s, now_s, MIXED);
        kdb_exec(f->k,
                 "INSERT INTO event(id, user_id, session_id, created_at, data) SELECT 'me' || g || "
                 "'-' || h, 'u', 'm' || g, to_timestamp(%lld) - interval '41 days', 'x' FROM "
                 "generate_series(1, %d) g, generate_series(1, 2) h",
                 now_s, MIXED);
        kdb_exec(f->k,
                 "INSERT INTO event(id, user_id, session_id, created_at, data) SELECT 'mr' || g, "
                 "'u', 'm' || g, to_timestamp(%lld) - interval '1 hour', 'x' FROM "
                 "generate_series(1, %d) g WHERE g %% 7 = 0",
                 now_s, MIXED);
        kdb_exec(f->k,
                 "INSERT INTO task(id, created_at, updated_at, data, session_id) SELECT 'mt' || g, "
                 "to_timestamp(%lld) - interval '41 days', to_timestamp(%lld) - CASE WHEN g %% 11 "
                 "= 0 THEN interval '1 day' ELSE interval '41 days' END, CASE WHEN g %% 11 = 0 "
                 "THEN '{\"status\":{\"state\":\"working\"}}' ELSE "
                 "'{\"status\":{\"state\":\"completed\"}}' END, 'm' || g FROM "
                 "generate_series(1, %d) g",
                 now_s, now_s, MIXED);
        kdb_exec(f->k,
                 "INSERT INTO push_notification(id, task_id, created_at, data) SELECT 'mp' || g, "
                 "'mt' || g, to_timestamp(%lld) - interval '41 days', '{}' FROM "
                 "generate_series(1, %d) g",
                 now_s, MIXED);
        f->p.session_expire_ms = 30 * DAY_MS;
}

/* What add_mixed_sessions leaves after the sessions rule, counted here. */
static void mixed_expected(int64_t *sessions, int64_t *tasks)
{
        *sessions = 0;
        *tasks = 0;
        for (int g = 1; g <= MIXED; g++) {
                bool u_kept = g % 7 == 0 || g % 11 == 0;   /* an event, or the task */
                bool u2_kept = g % 13 == 0 && g % 11 == 0; /* only the task counts for u2 */

                *sessions += u_kept + u2_kept;
                *tasks += u_kept || u2_kept; /* an ownerless task goes with its id's last row */
        }
}

/* Observed from kagent's side between batches: the helper's statements, and writes. */
struct helper_watch {
        struct fx *f;
        int batches;
        int write_from;     /* kagent writes from this batch on (0: never) */
        int kill_at;        /* terminate the helper's backend from this batch on (0: never) */
        int64_t killed;     /* backends terminated */
        int64_t seen;       /* batches that saw the helper's connection */
        int64_t seen_after; /* ... after the kill */
};

/* The helper is the connection whose statements stage parts as JSON. */
#define HELPER_SQL                                                                                 \
        "FROM pg_stat_activity WHERE application_name = 'kagent-retention' AND "                   \
        "query LIKE '%%json_agg%%' AND pid <> pg_backend_pid()"

static void watch_helper(const struct store_batch_result *b, void *userdata)
{
        struct helper_watch *w = userdata;

        (void)b;
        w->batches++;
        if (kdb_int(w->f->k, "SELECT count(*) " HELPER_SQL) > 0)
                w->seen++;
        if (w->killed && kdb_int(w->f->k, "SELECT count(*) " HELPER_SQL) > 0)
                w->seen_after++;
        /*
         * From batch kill_at on, once it is there: a transaction id of another database's
         * (autovacuum's) would keep it away for a while, as kagent's writes do.
         */
        if (w->kill_at && w->batches >= w->kill_at && !w->killed)
                w->killed = kdb_int(w->f->k, "SELECT count(*) FROM (SELECT "
                                             "pg_terminate_backend(pid) " HELPER_SQL ") x");
        if (w->write_from && w->batches >= w->write_from)
                kdb_exec(w->f->k, "INSERT INTO feedback(user_id, feedback_text) VALUES ('u', 'x')");
}

/* A dry run (one whole plan), then the real run in parts; both must count the same rows. */
static void run_mixed(struct fx *f, struct helper_watch *w)
{
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS, .dry_run = true };
        struct prune_result dry;
        struct prune_result r;
        struct errbuf err;
        struct store *s = open_fx(f);
        int64_t sessions;
        int64_t tasks;

        errbuf_clear(&err);
        f->p.batch_max_rows = 100; /* many batches per part */
        assert_int_equal(prune_run(s, &o, &dry, &err), 0);
        assert_int_equal(dry.outcome, PRUNE_DRY_RUN);
        o.dry_run = false;
        o.on_batch = watch_helper;
        o.on_batch_userdata = w;
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_true(r.rows > 0);
        assert_int_equal(r.rows, dry.rows);
        for (int t = 0; t < STORE_T_COUNT; t++)
                assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[t].rows,
                                 dry.rules[STORE_RULE_SESSIONS].tables[t].rows);
        store_close(s);
        mixed_expected(&sessions, &tasks);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), sessions);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM task"), tasks);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM push_notification"), tasks);
        assert_int_equal(kdb_int(f->k,
                                 "SELECT count(*) FROM event WHERE session_id IN (SELECT "
                                 "'m' || g FROM generate_series(7, %d, 7) g)",
                                 MIXED),
                         3 * (MIXED / 7));
        assert_int_equal(dangling(f), 0);
        /* The helper's connection ends with the plan: none is left open. */
        assert_int_equal(kdb_int(f->k, "SELECT count(*) " HELPER_SQL), 0);
}

/* Planned in parts with the helper one part ahead, the run deletes what a whole plan finds. */
static void test_parts_match_whole_plan(void **state)
{
        struct fx *f = *state;
        struct helper_watch w = { .f = f };

        add_mixed_sessions(f);
        run_mixed(f, &w);
        assert_true(w.batches > 20);
        assert_true(w.seen > 0);
}

/* The helper's backend terminated mid-run: the parts are planned here, the result the same. */
static void test_parts_helper_lost(void **state)
{
        struct fx *f = *state;
        struct helper_watch w = { .f = f, .kill_at = 2 };

        add_mixed_sessions(f);
        run_mixed(f, &w);
        assert_int_equal(w.killed, 1);
        assert_int_equal(w.seen_after, 0); /* no new helper in this run */
}

/*
 * While kagent writes, no part goes to the helper (its backend would compete with kagent's):
 * kagent writing from the first batch on, the helper never connects.
 */
static void test_parts_while_kagent_writes(void **state)
{
        struct fx *f = *state;
        struct helper_watch w = { .f = f, .write_from = 1 };

        add_mixed_sessions(f);
        run_mixed(f, &w);
        assert_true(w.batches > 20);
        assert_int_equal(w.seen, 0);
}

/*
 * A planned run on a cluster where nobody else writes any more: polled until the cluster's
 * transaction ids stand still (the fixture's own writes, autovacuum's after them).
 */
static void planned_quiet(struct fx *f, struct store *s)
{
        bool quiet = false;

        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        plan_sessions(f, s);
        for (int i = 0; i < 100 && !quiet; i++) {
                struct timespec ts = { 0, 20000000L };

                (void)nanosleep(&ts, NULL);
                quiet = !store_others_wrote(s);
        }
        assert_true(quiet);
}

/* An ANALYZE of kagent's tables (autovacuum's after our deletes) takes a transaction id: not a
 * write. */
static void test_analyze_is_not_a_write(void **state)
{
        struct fx *f = *state;
        struct store *s = open_fx(f);
        PGconn *c = other(f);

        planned_quiet(f, s);
        other_exec(c, "ANALYZE event");
        other_exec(c, "ANALYZE session");
        assert_false(store_others_wrote(s));
        /* autovacuum analyzes the catalogs that DDL filled, in kagent's database too. */
        other_exec(c, "ANALYZE pg_catalog.pg_attribute");
        other_exec(c, "ANALYZE pg_catalog.pg_class");
        assert_false(store_others_wrote(s));
        other_exec(c, "ANALYZE event");
        other_exec(c, "INSERT INTO feedback(user_id, feedback_text) VALUES ('u', 'x')");
        assert_true(store_others_wrote(s));
        PQfinish(c);
        store_close(s);
}

/*
 * An ANALYZE counts itself before it commits, and its transaction id shows only at the commit:
 * a poll between the two must not take that id for kagent's. The count of an ANALYZE that takes
 * no transaction id (an empty table's) does not hide a write for long.
 */
static void test_analyze_counted_before_commit(void **state)
{
        struct fx *f = *state;
        struct store *s = open_fx(f);
        PGconn *c = other(f);
        int64_t t0;

        planned_quiet(f, s);
        other_exec(c, "BEGIN");
        other_exec(c, "ANALYZE event");
        assert_false(store_others_wrote(s));
        other_exec(c, "COMMIT");
        assert_false(store_others_wrote(s));
        /* An empty table's ANALYZE writes no statistics: counted, without a transaction id. */
        other_exec(c, "DELETE FROM feedback");
        (void)store_others_wrote(s);
        other_exec(c, "ANALYZE feedback");
        assert_false(store_others_wrote(s));
        t0 = clock_mono_ms();
        while (clock_mono_ms() - t0 <= STORE_ANALYZE_CREDIT_MS) {
                struct timespec ts = { 0, 20000000L };

                (void)nanosleep(&ts, NULL);
        }
        other_exec(c, "INSERT INTO feedback(user_id, feedback_text) VALUES ('u', 'x')");
        assert_true(store_others_wrote(s));
        PQfinish(c);
        store_close(s);
}

/*
 * A batch that found a session active again only as it deleted it (then ran again, checked) was
 * rolled back with a transaction id taken: ours, not kagent's.
 */
static void test_rolled_back_batch_is_ours(void **state)
{
        struct fx *f = *state;
        struct store_batch_result b;
        struct errbuf err;
        struct store *s = open_fx(f);

        planned_quiet(f, s);
        kdb_event(f->k, "old-new", "old", "u", 0, -1);
        assert_true(store_others_wrote(s));
        errbuf_clear(&err);
        assert_int_equal(store_delete_batch(s, 1000, &b, &err), 0);
        assert_int_equal(b.skipped_units, 1);
        assert_int_equal(b.rows, 0);
        assert_false(store_others_wrote(s));
        store_writer_release(s);
        store_close(s);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event WHERE session_id = 'old'"), 4);
}

/* ---- read-only, measure, check, reclaim, messages ------------------------------------ */

static void test_read_only(void **state)
{
        struct fx *f = *state;
        struct store_config sc;
        struct store *s = NULL;
        struct prune_result r;
        struct errbuf err;

        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        kdb_store_config(f->k, &sc);
        sc.read_only = true;
        errbuf_clear(&err);
        assert_int_equal(store_open(&sc, &s, &err), 0);
        assert_false(store_info(s)->writable);
        r = run_store(f, s);
        assert_int_equal(r.outcome, PRUNE_SKIPPED);
        assert_string_equal(r.message, "opened read-only");
        assert_int_equal(store_check(s, &err), 0);
        store_close(s);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 1);
}

static const struct store_table_usage *find_table(const struct store_usage *u, const char *name)
{
        for (size_t i = 0; i < u->n_tables; i++)
                if (strcmp(u->tables[i].name, name) == 0)
                        return &u->tables[i];
        return NULL;
}

static void add_idle_sessions(struct fx *f, int n, int events)
{
        long long now_s = KDB_NOW_MS / 1000;

        kdb_exec(f->k,
                 "INSERT INTO session(id, user_id, created_at, updated_at) SELECT 's' || g, 'u', "
                 "to_timestamp(%lld) - interval '50 days', to_timestamp(%lld) - "
                 "interval '40 days' FROM generate_series(1, %d) g",
                 now_s, now_s, n);
        kdb_exec(f->k,
                 "INSERT INTO event(id, user_id, session_id, created_at, data) SELECT "
                 "'e' || g || '-' || h, 'u', 's' || g, to_timestamp(%lld) - interval '41 days', "
                 "repeat('x', 500) FROM generate_series(1, %d) g, generate_series(1, %d) h",
                 now_s, n, events);
}

static void test_measure(void **state)
{
        struct fx *f = *state;
        struct store *s;
        struct store_usage u;
        const struct store_table_usage *ev;
        struct errbuf err;

        add_idle_sessions(f, 50, 20);
        kdb_exec(f->k, "ANALYZE event");
        s = open_fx(f);
        errbuf_clear(&err);
        assert_int_equal(store_measure(s, true, &u, &err), 0);
        assert_true(u.db_bytes > 1000000);
        assert_int_equal(u.page_size, 8192);
        assert_string_equal(u.auto_vacuum, "on");
        assert_true(u.n_tables >= 12);
        ev = find_table(&u, "event");
        assert_non_null(ev);
        assert_true(ev->bytes > 500000);
        assert_int_equal(ev->rows, 1000);
        assert_true(u.tables[0].bytes >= u.tables[1].bytes);
        assert_int_equal(store_check(s, &err), 0);
        store_close(s);
}

static void test_reclaim(void **state)
{
        struct fx *f = *state;
        struct store_reclaim_params rp;
        struct store_reclaim_result rr;
        struct prune_result r;
        struct store *s;
        struct errbuf err;

        add_idle_sessions(f, 100, 20);
        kdb_exec(f->k, "ANALYZE");
        f->p.session_expire_ms = 30 * DAY_MS;
        s = open_fx(f);
        r = run_store(f, s);
        assert_int_equal(r.rows, 100 + 100 * 20);
        memset(&rp, 0, sizeof(rp));
        for (int t = 0; t < STORE_T_COUNT; t++)
                rp.deleted_rows[t] = r.rules[STORE_RULE_SESSIONS].tables[t].rows;
        errbuf_clear(&err);
        rp.mode = STORE_RECLAIM_NONE;
        assert_int_equal(store_reclaim(s, &rp, &rr, &err), 0);
        assert_string_equal(rr.action, "none: reclaim.mode is None");
        rp.mode = STORE_RECLAIM_AUTO;
        assert_int_equal(store_reclaim(s, &rp, &rr, &err), 0);
        assert_string_equal(rr.action, "VACUUM (ANALYZE) event session");
        assert_int_equal(kdb_int(f->k, "SELECT vacuum_count + autovacuum_count FROM "
                                       "pg_stat_user_tables WHERE relname = 'event'") >= 1,
                         1);
        /* Deleting a few rows of a big table is autovacuum's business. */
        rp.deleted_rows[STORE_T_EVENT] = 1;
        rp.deleted_rows[STORE_T_SESSION] = 0;
        kdb_exec(f->k, "INSERT INTO event(id, user_id, session_id, data) SELECT 'n' || g, 'u', "
                       "'live', 'x' FROM generate_series(1, 100) g");
        kdb_exec(f->k, "ANALYZE event");
        assert_int_equal(store_reclaim(s, &rp, &rr, &err), 0);
        assert_string_equal(rr.action, "none: no table lost 10% of its rows");
        store_close(s);
}

/* A wrong password: the message says so, and quotes no password. */
static void test_connect_error_redacted(void **state)
{
        struct fx *f = *state;
        struct store_config sc = { .type = STORE_POSTGRES };
        struct store *s = NULL;
        char url[1200];
        char real[128];
        const char *at;
        const char *colon;
        struct errbuf err;

        /* postgresql://postgres:<password>@127.0.0.1:<port>/<db> */
        colon = strchr(kdb_url(f->k) + strlen("postgresql://"), ':');
        at = strchr(kdb_url(f->k), '@');
        assert_non_null(colon);
        assert_non_null(at);
        (void)snprintf(real, sizeof(real), "%.*s", (int)(at - colon - 1), colon + 1);
        (void)snprintf(url, sizeof(url), "%.*s:Wr0ngPassw0rd%s", (int)(colon - kdb_url(f->k)),
                       kdb_url(f->k), at);
        sc.postgres_url = url;
        errbuf_clear(&err);
        assert_int_equal(store_open(&sc, &s, &err), -EACCES);
        assert_null(s);
        assert_non_null(strstr(err.msg, "password authentication failed"));
        assert_null(strstr(err.msg, "Wr0ngPassw0rd"));
        assert_null(strstr(err.msg, real));
        /* The keyword form with the password in it, pointed at a closed port. */
        (void)snprintf(url, sizeof(url),
                       "host=127.0.0.1 port=1 password=Wr0ngPassw0rd "
                       "connect_timeout=2");
        errbuf_clear(&err);
        assert_int_equal(store_open(&sc, &s, &err), -EAGAIN);
        assert_null(strstr(err.msg, "Wr0ngPassw0rd"));
        assert_non_null(strstr(err.msg, "host=127.0.0.1 port=1"));
}

#define PG_TEST(fn, era)                                                                           \
        {                                                                                          \
#fn "/" #era, fn, prune_case_setup, prune_case_teardown, &(era)                    \
        }

int main(void)
{
        static const struct CMUnitTest only_pg[] = {
                PG_TEST(test_schema_migrate, migrate),
                PG_TEST(test_schema_gorm, gorm),
                PG_TEST(test_schema_dirty, migrate),
                PG_TEST(test_schema_unexpected_shapes, migrate),
                PG_TEST(test_schema_search_path, migrate),
                PG_TEST(test_advisory_lock, gorm),
                PG_TEST(test_session_share_cascade, migrate),
                PG_TEST(test_task_owner, migrate),
                PG_TEST(test_skip_locked_rows, migrate),
                PG_TEST(test_skip_locked_rows, gorm),
                PG_TEST(test_lock_timeout, migrate),
                PG_TEST(test_session_in_parts, migrate),
                PG_TEST(test_active_after_plan, migrate),
                PG_TEST(test_held_row_fallback, gorm),
                PG_TEST(test_application_name, migrate),
                PG_TEST(test_reconnect, migrate),
                PG_TEST(test_connection_lost_mid_run, gorm),
                PG_TEST(test_reconnect_mid_run, migrate),
                PG_TEST(test_others_wrote, migrate),
                PG_TEST(test_small_batches_while_kagent_writes, migrate),
                PG_TEST(test_read_only, migrate),
                PG_TEST(test_measure, migrate),
                PG_TEST(test_reclaim, migrate),
                PG_TEST(test_wal_compression, migrate),
                PG_TEST(test_connect_error_redacted, migrate),
        };
        static const struct CMUnitTest alone[] = {
                PG_TEST(test_parts_match_whole_plan, migrate),
                PG_TEST(test_parts_helper_lost, migrate),
                PG_TEST(test_parts_while_kagent_writes, migrate),
                PG_TEST(test_analyze_is_not_a_write, migrate),
                PG_TEST(test_analyze_counted_before_commit, migrate),
                PG_TEST(test_rolled_back_batch_is_ours, migrate),
                PG_TEST(test_settings_while_kagent_writes, migrate),
                PG_TEST(test_hint_bits_while_kagent_writes, migrate),
        };
        struct CMUnitTest tests[64];
        size_t cap = sizeof(tests) / sizeof(tests[0]);
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded */
        const char *url_file = getenv("KR_PG_URL_FILE");
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded */
        const char *serial = getenv("KR_PG_SERIAL");
        size_t n = 0;

        if (!url_file || access(url_file, R_OK) != 0) {
                printf("skipped: no PostgreSQL test server (pg_server.sh start did not run)\n");
                return 77;
        }
        /* The serial tests look at the cluster's transaction ids: run alone (ctest RUN_SERIAL). */
        if (serial && strcmp(serial, "1") == 0)
                return cmocka_run_group_tests_name("postgres_serial", alone, NULL, NULL);
        n += prune_cases_tests(KDB_PG_MIGRATE, tests + n, cap - n);
        n += prune_cases_tests(KDB_PG_GORM, tests + n, cap - n);
        for (size_t i = 0; i < sizeof(only_pg) / sizeof(only_pg[0]) && n < cap; i++)
                tests[n++] = only_pg[i];
        return _cmocka_run_group_tests("postgres", tests, n, NULL, NULL);
}
