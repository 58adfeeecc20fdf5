/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule cases every backend must pass, from one table: each builds a kagent database for
 * one rule (the same rows on SQLite and PostgreSQL), prunes it with the engine and compares the
 * surviving rows with the expected set, row by row. test_prune_sqlite and test_prune_postgres
 * run them on their backends (prune_cases_tests()).
 */
#include "prune_cases.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/errbuf.h"
#include "policy/policy.h"
#include "prune/prune.h"
#include "store/store.h"
#include "testdb.h"

int prune_case_setup(void **state)
{
        const enum kdb_backend *b = *state;
        struct fx *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_non_null(b);
        f->backend = *b;
        f->k = kdb_create(f->backend, 1);
        policy_init(&f->p);
        f->p.active_window_ms = 30 * MIN_MS;
        f->p.batch_pause_ms = 0;
        *state = f;
        return 0;
}

int prune_case_teardown(void **state)
{
        struct fx *f = *state;

        kdb_free(f->k);
        free(f);
        return 0;
}

struct prune_result prune_case_run(struct fx *f, bool dry)
{
        struct store_config sc;
        struct store *s = NULL;
        struct prune_opts o = { .policy = &f->p, .dry_run = dry, .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct errbuf err;

        errbuf_clear(&err);
        kdb_store_config(f->k, &sc);
        if (store_open(&sc, &s, &err) < 0)
                fail_msg("store_open: %s", err.msg);
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        store_close(s);
        if (r.outcome == PRUNE_FAILED)
                fail_msg("prune failed: %s", r.message);
        return r;
}

#define LIST(f, ...) kdb_list((f)->k, (f)->buf, sizeof((f)->buf), __VA_ARGS__)

char *prune_case_snapshot(struct kdb *k)
{
        static const struct {
                const char *table;
                const char *key;
        } tables[] = {
                { "session", "id || '/' || user_id" },
                { "event", "id || '/' || user_id" },
                { "task", "id" },
                { "push_notification", "id" },
                { "lg_checkpoint", "thread_id || '/' || checkpoint_ns || '/' || checkpoint_id" },
                { "lg_checkpoint_write",
                  "thread_id || '/' || checkpoint_id || '/' || CAST(write_idx AS TEXT)" },
                { "crewai_agent_memory", "thread_id || '/' || user_id" },
                { "crewai_flow_state", "thread_id || '/' || user_id" },
                { "feedback", "CAST(id AS TEXT)" },
                { "agent", "id" },
        };
        size_t cap = (size_t)1 << 20;
        char *out = calloc(1, cap);
        size_t len = 0;

        assert_non_null(out);
        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
                char part[65536];

                kdb_list(k, part, sizeof(part), "SELECT %s FROM %s ORDER BY 1", tables[i].key,
                         tables[i].table);
                len += (size_t)snprintf(out + len, cap - len, "%s:%s\n", tables[i].table, part);
        }
        return out;
}

void prune_case_session(struct kdb *k, const char *sid, const char *user, int64_t ago)
{
        char id[96];

        kdb_session(k, sid, user, ago + DAY_MS, ago, -1);
        for (int i = 0; i < 3; i++) {
                (void)snprintf(id, sizeof(id), "%s-%s-e%d", sid, user, i);
                kdb_event(k, id, sid, user, ago + (3 - i) * MIN_MS, -1);
        }
        (void)snprintf(id, sizeof(id), "%s-%s-cp1", sid, user);
        kdb_checkpoint(k, user, sid, "", id, ago, -1);
        kdb_write(k, user, sid, "", id, 0, ago);
        kdb_crewai(k, "crewai_agent_memory", user, sid, ago, -1);
        kdb_crewai(k, "crewai_flow_state", user, sid, ago, -1);
}

/*
 * sessions.expireAfter: whole idle sessions go with every child; everything else stays.
 * 'prep' runs first (e.g. drops indexes, so the plan takes its other path).
 */
static void sessions_rule_case(struct fx *f, const char *prep)
{
        struct prune_result r;
        char rfc[64];
        char rfc2[64];

        if (prep)
                kdb_exec(f->k, "%s", prep);
        /* Expired: idle 40 days, with children of every kind. */
        prune_case_session(f->k, "old", "alice", 40 * DAY_MS);
        kdb_task(f->k, "t-old", "old", "completed", 40 * DAY_MS, -1);
        kdb_push(f->k, "p-old", "t-old", 40 * DAY_MS, -1);
        /* Idle session row, but an event one day ago: active enough, kept. */
        prune_case_session(f->k, "evrecent", "alice", 40 * DAY_MS);
        kdb_event(f->k, "evrecent-new", "evrecent", "alice", DAY_MS, -1);
        /* Recently updated session: kept. */
        prune_case_session(f->k, "fresh", "bob", 10 * MIN_MS);
        /* A task updated yesterday keeps its old session. */
        prune_case_session(f->k, "taskrecent", "bob", 40 * DAY_MS);
        kdb_task(f->k, "t-recent", "taskrecent", "completed", DAY_MS, -1);
        /* A checkpoint from yesterday keeps its session. */
        prune_case_session(f->k, "cprecent", "bob", 40 * DAY_MS);
        kdb_checkpoint(f->k, "bob", "cprecent", "", "cprecent-new", DAY_MS, -1);
        /* Recent CrewAI memory or flow state keeps an old session row. */
        kdb_session(f->k, "memrecent", "gina", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_crewai(f->k, "crewai_agent_memory", "gina", "memrecent", DAY_MS, -1);
        kdb_session(f->k, "flowrecent", "gina", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_crewai(f->k, "crewai_flow_state", "gina", "flowrecent", DAY_MS, -1);
        /* Unknown timestamps never expire. */
        kdb_session(f->k, "nulls", "carol", -1, -1, -1);
        kdb_event(f->k, "nulls-e", "nulls", "carol", -1, -1);
        /* A working task with no update time: unfinished, kept. */
        prune_case_session(f->k, "working", "carol", 40 * DAY_MS);
        kdb_task(f->k, "t-working", "working", "working", -1, -1);
        /* Shared id: alice idle, dave active: alice's rows go, the shared tasks stay. */
        prune_case_session(f->k, "shared", "alice", 40 * DAY_MS);
        prune_case_session(f->k, "shared", "dave", 5 * MIN_MS);
        kdb_task(f->k, "t-shared", "shared", "completed", 40 * DAY_MS, -1);
        /* Shared id, both idle: everything goes, tasks with the last. */
        prune_case_session(f->k, "both", "alice", 45 * DAY_MS);
        prune_case_session(f->k, "both", "erin", 41 * DAY_MS);
        kdb_task(f->k, "t-both", "both", "failed", 41 * DAY_MS, -1);
        kdb_push(f->k, "p-both", "t-both", 41 * DAY_MS, -1);
        /* Turso-era RFC 3339 timestamps compare as instants too. */
        kdb_exec(f->k,
                 "INSERT INTO session(id, user_id, created_at, updated_at) VALUES ('rfc', "
                 "'frank', '%s', '%s')",
                 kdb_rfc(50 * DAY_MS, rfc, sizeof(rfc)), kdb_rfc(50 * DAY_MS, rfc2, sizeof(rfc2)));
        kdb_exec(f->k,
                 "INSERT INTO event(id, session_id, user_id, created_at, data) VALUES "
                 "('rfc-e', 'rfc', 'frank', '%s', '{}')",
                 kdb_rfc(49 * DAY_MS, rfc, sizeof(rfc)));
        /* Caches are never touched. */
        kdb_exec(f->k, "INSERT INTO agent(id, created_at, updated_at, type, config) VALUES "
                       "('kagent__NS__a', '2020-01-01 00:00:00+00:00', "
                       "'2020-01-01 00:00:00+00:00', 'Declarative', '{}')");
        kdb_exec(f->k, "CREATE TABLE unknown_table(id text, created_at timestamptz);"
                       "INSERT INTO unknown_table VALUES ('u', '2020-01-01 00:00:00+00:00')");

        f->p.session_expire_ms = 30 * DAY_MS;
        /* The plan alone (a dry run) already leaves out every kept session. */
        r = prune_case_run(f, true);
        assert_int_equal(r.outcome, PRUNE_DRY_RUN);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_SESSION].rows, 5);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_EVENT].rows, 3 * 4 + 1);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_CREWAI_MEMORY].rows, 4);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_CREWAI_FLOW].rows, 4);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_TASK].rows, 2);
        r = prune_case_run(f, false);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);

        assert_string_equal(LIST(f, "SELECT id || '/' || user_id FROM session ORDER BY 1"),
                            "cprecent/bob,evrecent/alice,flowrecent/gina,fresh/bob,memrecent/gina,"
                            "nulls/carol,shared/dave,taskrecent/bob,working/carol");
        assert_string_equal(LIST(f, "SELECT DISTINCT session_id || '/' || user_id FROM event "
                                    "ORDER BY 1"),
                            "cprecent/bob,evrecent/alice,fresh/bob,nulls/carol,shared/dave,"
                            "taskrecent/bob,working/carol");
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"),
                            "t-recent,t-shared,t-working");
        assert_string_equal(LIST(f, "SELECT id FROM push_notification ORDER BY 1"), "");
        assert_string_equal(LIST(f, "SELECT DISTINCT thread_id || '/' || user_id FROM "
                                    "lg_checkpoint ORDER BY 1"),
                            "cprecent/bob,evrecent/alice,fresh/bob,shared/dave,taskrecent/bob,"
                            "working/carol");
        assert_string_equal(LIST(f, "SELECT DISTINCT thread_id || '/' || user_id FROM "
                                    "lg_checkpoint_write ORDER BY 1"),
                            "cprecent/bob,evrecent/alice,fresh/bob,shared/dave,taskrecent/bob,"
                            "working/carol");
        assert_string_equal(LIST(f, "SELECT thread_id || '/' || user_id FROM crewai_agent_memory "
                                    "ORDER BY 1"),
                            "cprecent/bob,evrecent/alice,fresh/bob,memrecent/gina,shared/dave,"
                            "taskrecent/bob,working/carol");
        assert_string_equal(LIST(f, "SELECT thread_id || '/' || user_id FROM crewai_flow_state "
                                    "ORDER BY 1"),
                            "cprecent/bob,evrecent/alice,flowrecent/gina,fresh/bob,shared/dave,"
                            "taskrecent/bob,working/carol");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM agent"), 1);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM unknown_table"), 1);
        /* Reported counts match what disappeared: 5 sessions (old, shared/alice, both x2, rfc). */
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_SESSION].rows, 5);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_EVENT].rows, 3 * 4 + 1);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_TASK].rows, 2);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_PUSH].rows, 2);
        assert_true(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_EVENT].bytes > (int64_t)13 * 50);
        assert_true(kdb_intact(f->k));
}

static void test_sessions_rule(void **state)
{
        sessions_rule_case(*state, NULL);
}

/* The same without the indexes that let a plan look up a session's children directly. */
static void test_sessions_rule_unindexed(void **state)
{
        sessions_rule_case(*state, "DROP INDEX IF EXISTS idx_event_session_id; "
                                   "DROP INDEX IF EXISTS idx_task_session_id");
}

/* A dry run reports exactly what the real run then deletes, and changes nothing. */
static void test_dry_run_matches(void **state)
{
        struct fx *f = *state;
        struct prune_result dry;
        struct prune_result real;
        char *before;
        char *after;

        prune_case_session(f->k, "a", "u", 40 * DAY_MS);
        prune_case_session(f->k, "b", "u", 35 * DAY_MS);
        prune_case_session(f->k, "c", "u", DAY_MS);
        kdb_task(f->k, "t1", "c", "completed", 20 * DAY_MS, -1);
        kdb_push(f->k, "p1", "t1", 20 * DAY_MS, -1);
        kdb_event(f->k, "orphan", "gone", "u", 2 * DAY_MS, -1);
        kdb_event(f->k, "soft", "c", "u", 2 * DAY_MS, 10 * DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.soft_purge_ms = 7 * DAY_MS;
        f->p.task_finished_ms = 7 * DAY_MS;
        f->p.orphans = true;
        before = prune_case_snapshot(f->k);
        dry = prune_case_run(f, true);
        after = prune_case_snapshot(f->k);
        assert_string_equal(before, after);
        assert_int_equal(dry.outcome, PRUNE_DRY_RUN);
        real = prune_case_run(f, false);
        assert_int_equal(real.outcome, PRUNE_SUCCEEDED);
        for (int rule = 0; rule < STORE_RULE_COUNT; rule++)
                for (int t = 0; t < STORE_T_COUNT; t++)
                        if (dry.rules[rule].tables[t].rows != real.rules[rule].tables[t].rows)
                                print_message("rule %s table %s: dry %lld real %lld\n",
                                              store_rule_name(rule), store_table_name(t),
                                              (long long)dry.rules[rule].tables[t].rows,
                                              (long long)real.rules[rule].tables[t].rows);
        assert_int_equal(dry.rows, real.rows);
        assert_int_equal(dry.bytes, real.bytes);
        for (int rule = 0; rule < STORE_RULE_COUNT; rule++)
                for (int t = 0; t < STORE_T_COUNT; t++)
                        assert_int_equal(dry.rules[rule].tables[t].rows,
                                         real.rules[rule].tables[t].rows);
        /* sessions: 2x(1 session + 3 events + cp + write + 2 crewai) = 16; tasks: t1 + p1;
         * softDeleted: the soft event; orphans: the orphan event. */
        assert_int_equal(real.rows, 16 + 2 + 1 + 1);
        free(before);
        free(after);
}

/* softDeleted.purgeAfter: old soft-deleted rows go, caches and fresh or active ones stay. */
static void test_soft_deleted_rule(void **state)
{
        struct fx *f = *state;

        kdb_session(f->k, "s", "u", 40 * DAY_MS, 20 * DAY_MS, -1);
        kdb_event(f->k, "e-old-del", "s", "u", 20 * DAY_MS, 10 * DAY_MS);
        kdb_event(f->k, "e-new-del", "s", "u", 20 * DAY_MS, 2 * DAY_MS);
        kdb_event(f->k, "e-live", "s", "u", 20 * DAY_MS, -1);
        kdb_task(f->k, "t-del", "s", "completed", 20 * DAY_MS, 9 * DAY_MS);
        kdb_push(f->k, "p-of-t-del", "t-del", 20 * DAY_MS, -1);
        kdb_push(f->k, "p-del", "t-live", 20 * DAY_MS, 9 * DAY_MS);
        kdb_task(f->k, "t-live", "s", "working", 20 * DAY_MS, -1);
        kdb_checkpoint(f->k, "u", "s", "", "cp-del", 20 * DAY_MS, 9 * DAY_MS);
        kdb_write(f->k, "u", "s", "", "cp-del", 0, 20 * DAY_MS);
        kdb_crewai(f->k, "crewai_agent_memory", "u", "s", 20 * DAY_MS, 9 * DAY_MS);
        /* Active session: its soft-deleted event stays. */
        kdb_session(f->k, "act", "u", 40 * DAY_MS, 5 * MIN_MS, -1);
        kdb_event(f->k, "e-act-del", "act", "u", 20 * DAY_MS, 10 * DAY_MS);
        /* Soft-deleted session, idle: the whole session goes. */
        prune_case_session(f->k, "gone", "u", 20 * DAY_MS);
        kdb_exec(f->k, "UPDATE session SET deleted_at = '%s' WHERE id = 'gone'",
                 kdb_go(8 * DAY_MS, f->buf, sizeof(f->buf)));
        kdb_exec(f->k, "INSERT INTO feedback(created_at, updated_at, deleted_at, user_id, "
                       "message_id, is_positive, feedback_text) VALUES ('2026-01-01 "
                       "00:00:00+00:00', '2026-01-01 00:00:00+00:00', '2026-01-02 "
                       "00:00:00+00:00', 'u', 1, true, 'x'), ('2026-01-01 00:00:00+00:00', "
                       "'2026-01-01 00:00:00+00:00', NULL, 'u', 2, false, 'y')");
        kdb_exec(f->k, "INSERT INTO agent(id, created_at, updated_at, deleted_at, type, config) "
                       "VALUES ('kagent__NS__old', '2020-01-01 00:00:00+00:00', "
                       "'2020-01-01 00:00:00+00:00', '2020-01-02 00:00:00+00:00', 'x', '{}')");
        f->p.soft_purge_ms = 7 * DAY_MS;
        (void)prune_case_run(f, false);
        assert_string_equal(LIST(f, "SELECT id FROM event ORDER BY 1"),
                            "e-act-del,e-live,e-new-del");
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"), "t-live");
        assert_string_equal(LIST(f, "SELECT id FROM push_notification ORDER BY 1"), "");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint ORDER BY 1"), "");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint_write"), "");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM crewai_agent_memory"), 0);
        assert_string_equal(LIST(f, "SELECT id FROM session ORDER BY 1"), "act,s");
        assert_string_equal(LIST(f, "SELECT feedback_text FROM feedback"), "y");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM agent"), 1);
}

/* tasks.finishedAfter: terminal, old tasks of inactive sessions, with push notifications. */
static void test_tasks_rule(void **state)
{
        struct fx *f = *state;

        kdb_session(f->k, "s", "u", 40 * DAY_MS, 20 * DAY_MS, -1);
        kdb_task(f->k, "done", "s", "completed", 10 * DAY_MS, -1);
        kdb_push(f->k, "p-done", "done", 10 * DAY_MS, -1);
        kdb_task(f->k, "v1done", "s", "TASK_STATE_COMPLETED", 10 * DAY_MS, -1);
        kdb_task(f->k, "cancel", "s", "canceled", 10 * DAY_MS, -1);
        kdb_task(f->k, "reject", "s", "rejected", 10 * DAY_MS, -1);
        kdb_task(f->k, "fail", "s", "failed", 10 * DAY_MS, -1);
        kdb_task(f->k, "work", "s", "working", 10 * DAY_MS, -1);
        kdb_task(f->k, "input", "s", "input-required", 10 * DAY_MS, -1);
        kdb_task(f->k, "unknown", "s", "unknown", 10 * DAY_MS, -1);
        kdb_task(f->k, "recent", "s", "completed", 2 * DAY_MS, -1);
        kdb_task(f->k, "badjson", "s", NULL, 10 * DAY_MS, -1);
        kdb_task(f->k, "nots", "s", "completed", -1, -1);
        /* Active session: its finished tasks stay. */
        kdb_session(f->k, "act", "u", 40 * DAY_MS, MIN_MS, -1);
        kdb_task(f->k, "act-done", "act", "completed", 10 * DAY_MS, -1);
        /* No session at all: an orphan, not this rule's business. */
        kdb_task(f->k, "orph", "nosuch", "completed", 10 * DAY_MS, -1);
        f->p.task_finished_ms = 7 * DAY_MS;
        (void)prune_case_run(f, false);
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"),
                            "act-done,badjson,input,nots,orph,recent,unknown,work");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM push_notification"), 0);
}

/* checkpoints: keep the newest N per thread and namespace; older ones past minAge go. */
static void test_checkpoints_rule(void **state)
{
        struct fx *f = *state;

        kdb_session(f->k, "s", "u", 40 * DAY_MS, 3 * HOUR_MS, -1);
        for (int i = 1; i <= 5; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "c%d", i);
                kdb_checkpoint(f->k, "u", "s", "", id, (10 - i) * HOUR_MS, -1);
                kdb_write(f->k, "u", "s", "", id, 0, (10 - i) * HOUR_MS);
                kdb_write(f->k, "u", "s", "", id, 1, (10 - i) * HOUR_MS);
                (void)snprintf(id, sizeof(id), "n%d", i);
                kdb_checkpoint(f->k, "u", "s", "sub", id, (10 - i) * HOUR_MS, -1);
        }
        /* Too young to go although not among the newest two (yet outside the active window). */
        kdb_exec(f->k, "UPDATE lg_checkpoint SET created_at = '%s' WHERE checkpoint_id = 'n1'",
                 kdb_go(45 * MIN_MS, f->buf, sizeof(f->buf)));
        /* Active session: untouched. */
        kdb_session(f->k, "act", "u", 40 * DAY_MS, MIN_MS, -1);
        for (int i = 1; i <= 4; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "a%d", i);
                kdb_checkpoint(f->k, "u", "act", "", id, 10 * HOUR_MS, -1);
        }
        /* A second idle thread: every session's threads are planned, not just the first. */
        kdb_session(f->k, "s2", "v", 40 * DAY_MS, 3 * HOUR_MS, -1);
        kdb_checkpoint(f->k, "v", "s2", "", "x1", 9 * HOUR_MS, -1);
        kdb_checkpoint(f->k, "v", "s2", "", "x2", 8 * HOUR_MS, -1);
        kdb_checkpoint(f->k, "v", "s2", "", "x3", 7 * HOUR_MS, -1);
        f->p.checkpoint_keep = 2;
        f->p.checkpoint_min_age_ms = HOUR_MS;
        (void)prune_case_run(f, false);
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint WHERE thread_id = "
                                    "'s2' ORDER BY 1"),
                            "x2,x3");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint WHERE thread_id = "
                                    "'s' ORDER BY 1"),
                            "c4,c5,n1,n4,n5");
        assert_string_equal(LIST(f, "SELECT DISTINCT checkpoint_id FROM lg_checkpoint_write ORDER "
                                    "BY 1"),
                            "c4,c5");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM lg_checkpoint WHERE thread_id = "
                                       "'act'"),
                         4);
}

/* events.maxAge with keepLastPerSession. */
static void test_events_rule(void **state)
{
        struct fx *f = *state;

        kdb_session(f->k, "s", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        for (int i = 0; i < 10; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "e%d", i);
                kdb_event(f->k, id, "s", "u", (20 - i) * DAY_MS, -1); /* e9 newest: 11 days */
        }
        kdb_session(f->k, "few", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_event(f->k, "f0", "few", "u", 30 * DAY_MS, -1);
        kdb_event(f->k, "f1", "few", "u", 29 * DAY_MS, -1);
        /* Another idle session with old events: every session is planned. */
        kdb_session(f->k, "more", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        for (int i = 0; i < 5; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "m%d", i);
                kdb_event(f->k, id, "more", "u", (30 - i) * DAY_MS, -1);
        }
        kdb_session(f->k, "act", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        for (int i = 0; i < 6; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "a%d", i);
                kdb_event(f->k, id, "act", "u", i == 5 ? MIN_MS : 30 * DAY_MS, -1);
        }
        f->p.event_max_age_ms = 14 * DAY_MS - HOUR_MS;
        f->p.event_keep_last = 3;
        (void)prune_case_run(f, false);
        /* e0..e6 are older than the age; e7..e9 are the newest three (and younger anyway). */
        assert_string_equal(LIST(f, "SELECT id FROM event WHERE session_id = 's' ORDER BY 1"),
                            "e7,e8,e9");
        assert_string_equal(LIST(f, "SELECT id FROM event WHERE session_id = 'few' ORDER BY 1"),
                            "f0,f1");
        assert_string_equal(LIST(f, "SELECT id FROM event WHERE session_id = 'more' ORDER BY 1"),
                            "m2,m3,m4");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event WHERE session_id = 'act'"), 6);
}

/* crewai ages: rows of inactive sessions not updated within the age. */
static void test_crewai_rules(void **state)
{
        struct fx *f = *state;

        kdb_session(f->k, "s", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_crewai(f->k, "crewai_agent_memory", "u", "s", 20 * DAY_MS, -1);
        kdb_crewai(f->k, "crewai_flow_state", "u", "s", 20 * DAY_MS, -1);
        kdb_session(f->k, "t", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_crewai(f->k, "crewai_agent_memory", "u", "t", 2 * DAY_MS, -1);
        kdb_crewai(f->k, "crewai_flow_state", "u", "t", 2 * DAY_MS, -1);
        f->p.crewai_memory_ms = 7 * DAY_MS;
        (void)prune_case_run(f, false);
        assert_string_equal(LIST(f, "SELECT thread_id FROM crewai_agent_memory"), "t");
        assert_string_equal(LIST(f, "SELECT thread_id FROM crewai_flow_state ORDER BY 1"), "s,t");
        f->p.crewai_flow_ms = 7 * DAY_MS;
        (void)prune_case_run(f, false);
        assert_string_equal(LIST(f, "SELECT thread_id FROM crewai_flow_state"), "t");
}

/* orphans: children whose parent is gone, older than the active window. */
static void test_orphans_rule(void **state)
{
        struct fx *f = *state;

        kdb_session(f->k, "s", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_event(f->k, "kept", "s", "u", 40 * DAY_MS, -1);
        kdb_event(f->k, "wronguser", "s", "other", 2 * HOUR_MS, -1);
        kdb_event(f->k, "orph-old", "gone", "u", 2 * HOUR_MS, -1);
        kdb_event(f->k, "orph-new", "gone", "u", 5 * MIN_MS, -1);
        kdb_event(f->k, "orph-null", "gone", "u", -1, -1);
        kdb_task(f->k, "t-orph", "gone", "working", 2 * HOUR_MS, -1);
        kdb_push(f->k, "p-of-orph", "t-orph", 2 * HOUR_MS, -1);
        kdb_task(f->k, "t-kept", "s", "working", 2 * HOUR_MS, -1);
        kdb_push(f->k, "p-kept", "t-kept", 2 * HOUR_MS, -1);
        kdb_push(f->k, "p-notask", "nosuchtask", 2 * HOUR_MS, -1);
        kdb_checkpoint(f->k, "u", "gone", "", "cp-orph", 2 * HOUR_MS, -1);
        kdb_write(f->k, "u", "gone", "", "cp-orph", 0, 2 * HOUR_MS);
        kdb_checkpoint(f->k, "u", "s", "", "cp-kept", 2 * HOUR_MS, -1);
        kdb_write(f->k, "u", "s", "", "cp-kept", 0, 2 * HOUR_MS);
        kdb_write(f->k, "u", "s", "", "cp-missing", 0, 2 * HOUR_MS);
        kdb_crewai(f->k, "crewai_agent_memory", "u", "gone", 2 * HOUR_MS, -1);
        kdb_crewai(f->k, "crewai_flow_state", "u", "s", 2 * HOUR_MS, -1);
        f->p.orphans = true;
        (void)prune_case_run(f, false);
        assert_string_equal(LIST(f, "SELECT id FROM event ORDER BY 1"), "kept,orph-new,orph-null");
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"), "t-kept");
        assert_string_equal(LIST(f, "SELECT id FROM push_notification ORDER BY 1"), "p-kept");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint"), "cp-kept");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint_write"), "cp-kept");
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM crewai_agent_memory"), 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM crewai_flow_state"), 1);
}

/* limits.maxRowsPerRun stops the run exactly there; the next run finishes the job. */
static void test_max_rows_per_run(void **state)
{
        struct fx *f = *state;
        struct prune_result r;

        for (int s = 0; s < 5; s++) {
                char sid[16];

                (void)snprintf(sid, sizeof(sid), "s%d", s);
                prune_case_session(f->k, sid, "u", 40 * DAY_MS);
        }
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.max_rows_per_run = 11;
        f->p.batch_max_rows = 4;
        r = prune_case_run(f, false);
        assert_int_equal(r.outcome, PRUNE_TRUNCATED);
        assert_int_equal(r.rows, 11);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event") +
                                 kdb_int(f->k, "SELECT count(*) FROM session") +
                                 kdb_int(f->k, "SELECT count(*) FROM lg_checkpoint") +
                                 kdb_int(f->k, "SELECT count(*) FROM lg_checkpoint_write") +
                                 kdb_int(f->k, "SELECT count(*) FROM crewai_agent_memory") +
                                 kdb_int(f->k, "SELECT count(*) FROM crewai_flow_state"),
                         5 * 8 - 11);
        /* Children go first: no session row is gone while its events remain. */
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event e WHERE NOT EXISTS (SELECT 1 "
                                       "FROM session s WHERE s.id = e.session_id)"),
                         0);
        f->p.max_rows_per_run = POLICY_OFF;
        r = prune_case_run(f, false);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(r.rows, 5 * 8 - 11);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 0);
}

/* An event written between the plan and the delete makes the session active again. */
struct writer_ctx {
        struct kdb *k;
        int batches;
};

static void write_event_after_first_batch(const struct store_batch_result *b, void *userdata)
{
        struct writer_ctx *w = userdata;

        (void)b;
        if (++w->batches == 1) {
                char ts[64];

                kdb_exec(w->k,
                         "INSERT INTO event(id, session_id, user_id, created_at, data) VALUES "
                         "('late', 'busy', 'u', '%s', '{}')",
                         kdb_go(0, ts, sizeof(ts)));
        }
}

static void test_recheck_inside_transaction(void **state)
{
        struct fx *f = *state;
        struct store_config sc;
        struct writer_ctx w = { .k = f->k };
        struct store *s = NULL;
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct errbuf err;

        kdb_store_config(f->k, &sc);
        prune_case_session(f->k, "first", "u", 50 * DAY_MS);
        for (int i = 0; i < 20; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "b%d", i);
                kdb_event(f->k, id, "busy", "u", 40 * DAY_MS, -1);
        }
        kdb_session(f->k, "busy", "u", 45 * DAY_MS, 40 * DAY_MS, -1);
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.batch_max_rows = 5;
        o.on_batch = write_event_after_first_batch;
        o.on_batch_userdata = &w;
        errbuf_clear(&err);
        assert_int_equal(store_open(&sc, &s, &err), 0);
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        store_close(s);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_true(r.skipped_units >= 1);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session WHERE id = 'first'"), 0);
        /* The busy session and its new event survive; at most the first batch went. */
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session WHERE id = 'busy'"), 1);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event WHERE id = 'late'"), 1);
        assert_true(kdb_int(f->k, "SELECT count(*) FROM event WHERE session_id = 'busy'") >= 16);
}

/* A database of kagent v0.5 has no LangGraph or CrewAI tables: rules skip them. */
static void test_v05_schema(void **state)
{
        struct fx *f = *state;
        struct prune_result r;

        kdb_free(f->k);
        f->k = kdb_create(f->backend, 0);
        kdb_session(f->k, "old", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_event(f->k, "e", "old", "u", 40 * DAY_MS, -1);
        kdb_event(f->k, "o", "gone", "u", 40 * DAY_MS, -1);
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.checkpoint_keep = 1;
        f->p.crewai_memory_ms = DAY_MS;
        f->p.orphans = true;
        r = prune_case_run(f, false);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(r.rows, 3);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event"), 0);
}

/*
 * Between runs the controller releases the store's memory (SQLite: a fresh connection). The same
 * store then measures, plans and deletes as before: a second run finds what became old since,
 * and a dry run after a release still reports without deleting.
 */
static void test_runs_after_release(void **state)
{
        struct fx *f = *state;
        struct store_config sc;
        struct store *s = NULL;
        struct store_usage u;
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct errbuf err;

        kdb_store_config(f->k, &sc);
        prune_case_session(f->k, "first", "u", 40 * DAY_MS);
        prune_case_session(f->k, "kept", "u", DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        errbuf_clear(&err);
        assert_int_equal(store_open(&sc, &s, &err), 0);
        store_release(s); /* before any run: harmless */
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session WHERE id = 'first'"), 0);
        store_release(s);
        store_release(s); /* twice in a row: harmless */
        assert_int_equal(store_measure(s, true, &u, &err), 0);
        assert_true(u.n_tables > 0);
        prune_case_session(f->k, "second", "u", 40 * DAY_MS);
        o.dry_run = true;
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        assert_int_equal(r.outcome, PRUNE_DRY_RUN);
        assert_true(r.rows > 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session WHERE id = 'second'"), 1);
        store_release(s);
        o.dry_run = false;
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        store_close(s);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session WHERE id = 'second'"), 0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event WHERE session_id = 'second'"),
                         0);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session WHERE id = 'kept'"), 1);
        assert_true(kdb_intact(f->k));
}

/* A stop request reaches planning too: store_plan() gives up with -ECANCELED, deleting nothing. */
static void test_stop_while_planning(void **state)
{
        struct fx *f = *state;
        struct store_config sc;
        struct store *s = NULL;
        struct store_rule_params rp;
        struct store_plan_result plan;
        struct errbuf err;
        volatile int stop = 1;
        char *before;
        char *after;

        kdb_store_config(f->k, &sc);
        prune_case_session(f->k, "old", "u", 40 * DAY_MS);
        before = prune_case_snapshot(f->k);
        errbuf_clear(&err);
        assert_int_equal(store_open(&sc, &s, &err), 0);
        assert_int_equal(store_run_begin(s, &err), 0);
        memset(&rp, 0, sizeof(rp));
        rp.rule = STORE_RULE_SESSIONS;
        rp.now_ms = KDB_NOW_MS;
        rp.active_cutoff_ms = KDB_NOW_MS - (int64_t)30 * 60 * 1000;
        rp.age_cutoff_ms = KDB_NOW_MS - 30 * DAY_MS;
        rp.unfinished_cutoff_ms = rp.age_cutoff_ms;
        rp.stop = &stop;
        assert_int_equal(store_plan(s, &rp, &plan, &err), -ECANCELED);
        assert_non_null(strstr(err.msg, "stopped"));
        assert_int_equal(store_plan_discard(s, &err), 0);
        store_close(s);
        after = prune_case_snapshot(f->k);
        assert_string_equal(before, after);
        free(before);
        free(after);
}

/* The table of cases: every backend runs each one on the same rows. */
static const struct {
        const char *name;
        CMUnitTestFunction fn;
} cases[] = {
        { "sessions_rule", test_sessions_rule },
        { "sessions_rule_unindexed", test_sessions_rule_unindexed },
        { "dry_run_matches", test_dry_run_matches },
        { "soft_deleted_rule", test_soft_deleted_rule },
        { "tasks_rule", test_tasks_rule },
        { "checkpoints_rule", test_checkpoints_rule },
        { "events_rule", test_events_rule },
        { "crewai_rules", test_crewai_rules },
        { "orphans_rule", test_orphans_rule },
        { "max_rows_per_run", test_max_rows_per_run },
        { "recheck_inside_transaction", test_recheck_inside_transaction },
        { "v05_schema", test_v05_schema },
        { "runs_after_release", test_runs_after_release },
        { "stop_while_planning", test_stop_while_planning },
};

size_t prune_cases_tests(enum kdb_backend b, struct CMUnitTest *out, size_t cap)
{
        static enum kdb_backend backends[KDB_BACKENDS] = { KDB_SQLITE, KDB_PG_MIGRATE,
                                                           KDB_PG_GORM };
        static char names[KDB_BACKENDS][sizeof(cases) / sizeof(cases[0])][64];
        size_t n = 0;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && n < cap; i++) {
                (void)snprintf(names[b][i], sizeof(names[b][i]), "%s/%s", cases[i].name,
                               kdb_backend_name(b));
                out[n].name = names[b][i];
                out[n].test_func = cases[i].fn;
                out[n].setup_func = prune_case_setup;
                out[n].teardown_func = prune_case_teardown;
                out[n].initial_state = &backends[b];
                n++;
        }
        return n;
}
