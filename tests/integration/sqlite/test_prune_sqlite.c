/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of the SQLite store and the prune engine on real database files built from
 * kagent's schema: for each rule a database made for it is pruned and the surviving rows are
 * compared with the expected set, row by row.
 */
#include <errno.h>
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

#include "base/errbuf.h"
#include "kdb.h"
#include "policy/policy.h"
#include "prune/prune.h"
#include "store/store.h"

struct fx {
        char path[64];
        sqlite3 *db;
        struct policy p;
        char buf[4096];
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->db = kdb_create(f->path, sizeof(f->path), 1);
        policy_init(&f->p);
        f->p.active_window_ms = 30 * MIN_MS;
        f->p.batch_pause_ms = 0;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        char p[96];

        sqlite3_close(f->db);
        (void)unlink(f->path);
        (void)snprintf(p, sizeof(p), "%s-journal", f->path);
        (void)unlink(p);
        free(f);
        return 0;
}

static struct prune_result run_prune(struct fx *f, bool dry)
{
        struct store_config sc = { .type = STORE_SQLITE, .sqlite_path = f->path };
        struct store *s = NULL;
        struct prune_opts o = { .policy = &f->p, .dry_run = dry, .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct errbuf err;

        errbuf_clear(&err);
        if (store_open(&sc, &s, &err) < 0)
                fail_msg("store_open: %s", err.msg);
        assert_int_equal(prune_run(s, &o, &r, &err), 0);
        store_close(s);
        if (r.outcome == PRUNE_FAILED)
                fail_msg("prune failed: %s", r.message);
        return r;
}

#define LIST(f, ...) kdb_list((f)->db, (f)->buf, sizeof((f)->buf), __VA_ARGS__)

/* Every table's rows as one string, to prove a dry run or an invalid policy changed nothing. */
static char *snapshot(sqlite3 *db)
{
        static const char *const tables[] = { "session",
                                              "event",
                                              "task",
                                              "push_notification",
                                              "lg_checkpoint",
                                              "lg_checkpoint_write",
                                              "crewai_agent_memory",
                                              "crewai_flow_state",
                                              "feedback",
                                              "agent" };
        size_t cap = 1 << 20;
        char *out = calloc(1, cap);
        size_t len = 0;

        assert_non_null(out);
        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
                char part[65536];

                kdb_list(db, part, sizeof(part),
                         "SELECT quote(rowid) || '|' || %s FROM %s "
                         "ORDER BY rowid",
                         strcmp(tables[i], "session") == 0 ? "id || user_id"
                         : strcmp(tables[i], "lg_checkpoint") == 0 ||
                                         strcmp(tables[i], "lg_checkpoint_write") == 0
                                 ? "checkpoint_id"
                         : strncmp(tables[i], "crewai", 6) == 0 ? "thread_id"
                                                                : "quote(id)",
                         tables[i]);
                len += (size_t)snprintf(out + len, cap - len, "%s:%s\n", tables[i], part);
        }
        return out;
}

static void session_with_children(sqlite3 *db, const char *sid, const char *user, int64_t ago)
{
        char id[96];

        kdb_session(db, sid, user, ago + DAY_MS, ago, -1);
        for (int i = 0; i < 3; i++) {
                (void)snprintf(id, sizeof(id), "%s-%s-e%d", sid, user, i);
                kdb_event(db, id, sid, user, ago + (3 - i) * MIN_MS, -1);
        }
        (void)snprintf(id, sizeof(id), "%s-%s-cp1", sid, user);
        kdb_checkpoint(db, user, sid, "", id, ago, -1);
        kdb_write(db, user, sid, "", id, 0, ago);
        kdb_crewai(db, "crewai_agent_memory", user, sid, ago, -1);
        kdb_crewai(db, "crewai_flow_state", user, sid, ago, -1);
}

/* sessions.expireAfter: whole idle sessions go with every child; everything else stays. */
static void test_sessions_rule(void **state)
{
        struct fx *f = *state;
        struct prune_result r;
        char rfc[64];
        char rfc2[64];

        /* Expired: idle 40 days, with children of every kind. */
        session_with_children(f->db, "old", "alice", 40 * DAY_MS);
        kdb_task(f->db, "t-old", "old", "completed", 40 * DAY_MS, -1);
        kdb_push(f->db, "p-old", "t-old", 40 * DAY_MS, -1);
        /* Idle session row, but an event one day ago: active enough, kept. */
        session_with_children(f->db, "evrecent", "alice", 40 * DAY_MS);
        kdb_event(f->db, "evrecent-new", "evrecent", "alice", DAY_MS, -1);
        /* Recently updated session: kept. */
        session_with_children(f->db, "fresh", "bob", 10 * MIN_MS);
        /* A task updated yesterday keeps its old session. */
        session_with_children(f->db, "taskrecent", "bob", 40 * DAY_MS);
        kdb_task(f->db, "t-recent", "taskrecent", "completed", DAY_MS, -1);
        /* A checkpoint from yesterday keeps its session. */
        session_with_children(f->db, "cprecent", "bob", 40 * DAY_MS);
        kdb_checkpoint(f->db, "bob", "cprecent", "", "cprecent-new", DAY_MS, -1);
        /* Unknown timestamps never expire. */
        kdb_session(f->db, "nulls", "carol", -1, -1, -1);
        kdb_event(f->db, "nulls-e", "nulls", "carol", -1, -1);
        /* A working task with no update time: unfinished, kept. */
        session_with_children(f->db, "working", "carol", 40 * DAY_MS);
        kdb_task(f->db, "t-working", "working", "working", -1, -1);
        /* Shared id: alice idle, dave active: alice's rows go, the shared tasks stay. */
        session_with_children(f->db, "shared", "alice", 40 * DAY_MS);
        session_with_children(f->db, "shared", "dave", 5 * MIN_MS);
        kdb_task(f->db, "t-shared", "shared", "completed", 40 * DAY_MS, -1);
        /* Shared id, both idle: everything goes, tasks with the last. */
        session_with_children(f->db, "both", "alice", 45 * DAY_MS);
        session_with_children(f->db, "both", "erin", 41 * DAY_MS);
        kdb_task(f->db, "t-both", "both", "failed", 41 * DAY_MS, -1);
        kdb_push(f->db, "p-both", "t-both", 41 * DAY_MS, -1);
        /* Turso-era RFC 3339 timestamps compare as instants too. */
        kdb_exec(f->db,
                 "INSERT INTO session(id, user_id, created_at, updated_at) VALUES ('rfc', "
                 "'frank', '%s', '%s')",
                 kdb_rfc(50 * DAY_MS, rfc, sizeof(rfc)), kdb_rfc(50 * DAY_MS, rfc2, sizeof(rfc2)));
        kdb_exec(f->db,
                 "INSERT INTO event(id, session_id, user_id, created_at, data) VALUES "
                 "('rfc-e', 'rfc', 'frank', '%s', '{}')",
                 kdb_rfc(49 * DAY_MS, rfc, sizeof(rfc)));
        /* Caches are never touched. */
        kdb_exec(f->db, "INSERT INTO agent(id, created_at, updated_at, type, config) VALUES "
                        "('kagent__NS__a', '2020-01-01 00:00:00+00:00', "
                        "'2020-01-01 00:00:00+00:00', 'Declarative', '{}')");
        kdb_exec(f->db, "CREATE TABLE unknown_table(id text, created_at datetime);"
                        "INSERT INTO unknown_table VALUES ('u', '2020-01-01 00:00:00+00:00')");

        f->p.session_expire_ms = 30 * DAY_MS;
        r = run_prune(f, false);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);

        assert_string_equal(LIST(f, "SELECT id || '/' || user_id FROM session ORDER BY 1"),
                            "cprecent/bob,evrecent/alice,fresh/bob,nulls/carol,shared/dave,"
                            "taskrecent/bob,working/carol");
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
                            "cprecent/bob,evrecent/alice,fresh/bob,shared/dave,taskrecent/bob,"
                            "working/carol");
        assert_string_equal(LIST(f, "SELECT thread_id || '/' || user_id FROM crewai_flow_state "
                                    "ORDER BY 1"),
                            "cprecent/bob,evrecent/alice,fresh/bob,shared/dave,taskrecent/bob,"
                            "working/carol");
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM agent"), 1);
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM unknown_table"), 1);
        /* Reported counts match what disappeared: 5 sessions (old, shared/alice, both x2, rfc). */
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_SESSION].rows, 5);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_EVENT].rows, 3 * 4 + 1);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_TASK].rows, 2);
        assert_int_equal(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_PUSH].rows, 2);
        assert_true(r.rules[STORE_RULE_SESSIONS].tables[STORE_T_EVENT].bytes > (int64_t)13 * 50);
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM pragma_integrity_check WHERE "
                                        "integrity_check <> 'ok'"),
                         0);
}

/* A dry run reports exactly what the real run then deletes, and changes nothing. */
static void test_dry_run_matches(void **state)
{
        struct fx *f = *state;
        struct prune_result dry;
        struct prune_result real;
        char *before;
        char *after;

        session_with_children(f->db, "a", "u", 40 * DAY_MS);
        session_with_children(f->db, "b", "u", 35 * DAY_MS);
        session_with_children(f->db, "c", "u", DAY_MS);
        kdb_task(f->db, "t1", "c", "completed", 20 * DAY_MS, -1);
        kdb_push(f->db, "p1", "t1", 20 * DAY_MS, -1);
        kdb_event(f->db, "orphan", "gone", "u", 2 * DAY_MS, -1);
        kdb_event(f->db, "soft", "c", "u", 2 * DAY_MS, 10 * DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.soft_purge_ms = 7 * DAY_MS;
        f->p.task_finished_ms = 7 * DAY_MS;
        f->p.orphans = true;
        before = snapshot(f->db);
        dry = run_prune(f, true);
        after = snapshot(f->db);
        assert_string_equal(before, after);
        assert_int_equal(dry.outcome, PRUNE_DRY_RUN);
        real = run_prune(f, false);
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

        kdb_session(f->db, "s", "u", 40 * DAY_MS, 20 * DAY_MS, -1);
        kdb_event(f->db, "e-old-del", "s", "u", 20 * DAY_MS, 10 * DAY_MS);
        kdb_event(f->db, "e-new-del", "s", "u", 20 * DAY_MS, 2 * DAY_MS);
        kdb_event(f->db, "e-live", "s", "u", 20 * DAY_MS, -1);
        kdb_task(f->db, "t-del", "s", "completed", 20 * DAY_MS, 9 * DAY_MS);
        kdb_push(f->db, "p-of-t-del", "t-del", 20 * DAY_MS, -1);
        kdb_push(f->db, "p-del", "t-live", 20 * DAY_MS, 9 * DAY_MS);
        kdb_task(f->db, "t-live", "s", "working", 20 * DAY_MS, -1);
        kdb_checkpoint(f->db, "u", "s", "", "cp-del", 20 * DAY_MS, 9 * DAY_MS);
        kdb_write(f->db, "u", "s", "", "cp-del", 0, 20 * DAY_MS);
        kdb_crewai(f->db, "crewai_agent_memory", "u", "s", 20 * DAY_MS, 9 * DAY_MS);
        /* Active session: its soft-deleted event stays. */
        kdb_session(f->db, "act", "u", 40 * DAY_MS, 5 * MIN_MS, -1);
        kdb_event(f->db, "e-act-del", "act", "u", 20 * DAY_MS, 10 * DAY_MS);
        /* Soft-deleted session, idle: the whole session goes. */
        session_with_children(f->db, "gone", "u", 20 * DAY_MS);
        kdb_exec(f->db, "UPDATE session SET deleted_at = '%s' WHERE id = 'gone'",
                 kdb_go(8 * DAY_MS, f->buf, sizeof(f->buf)));
        kdb_exec(f->db, "INSERT INTO feedback(created_at, updated_at, deleted_at, user_id, "
                        "message_id, is_positive, feedback_text) VALUES ('2026-01-01 "
                        "00:00:00+00:00', '2026-01-01 00:00:00+00:00', '2026-01-02 "
                        "00:00:00+00:00', 'u', 1, 1, 'x'), ('2026-01-01 00:00:00+00:00', "
                        "'2026-01-01 00:00:00+00:00', NULL, 'u', 2, 0, 'y')");
        kdb_exec(f->db, "INSERT INTO agent(id, created_at, updated_at, deleted_at, type, config) "
                        "VALUES ('kagent__NS__old', '2020-01-01 00:00:00+00:00', "
                        "'2020-01-01 00:00:00+00:00', '2020-01-02 00:00:00+00:00', 'x', '{}')");
        f->p.soft_purge_ms = 7 * DAY_MS;
        (void)run_prune(f, false);
        assert_string_equal(LIST(f, "SELECT id FROM event ORDER BY 1"),
                            "e-act-del,e-live,e-new-del");
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"), "t-live");
        assert_string_equal(LIST(f, "SELECT id FROM push_notification ORDER BY 1"), "");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint ORDER BY 1"), "");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint_write"), "");
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM crewai_agent_memory"), 0);
        assert_string_equal(LIST(f, "SELECT id FROM session ORDER BY 1"), "act,s");
        assert_string_equal(LIST(f, "SELECT feedback_text FROM feedback"), "y");
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM agent"), 1);
}

/* tasks.finishedAfter: terminal, old tasks of inactive sessions, with push notifications. */
static void test_tasks_rule(void **state)
{
        struct fx *f = *state;

        kdb_session(f->db, "s", "u", 40 * DAY_MS, 20 * DAY_MS, -1);
        kdb_task(f->db, "done", "s", "completed", 10 * DAY_MS, -1);
        kdb_push(f->db, "p-done", "done", 10 * DAY_MS, -1);
        kdb_task(f->db, "v1done", "s", "TASK_STATE_COMPLETED", 10 * DAY_MS, -1);
        kdb_task(f->db, "cancel", "s", "canceled", 10 * DAY_MS, -1);
        kdb_task(f->db, "reject", "s", "rejected", 10 * DAY_MS, -1);
        kdb_task(f->db, "fail", "s", "failed", 10 * DAY_MS, -1);
        kdb_task(f->db, "work", "s", "working", 10 * DAY_MS, -1);
        kdb_task(f->db, "input", "s", "input-required", 10 * DAY_MS, -1);
        kdb_task(f->db, "unknown", "s", "unknown", 10 * DAY_MS, -1);
        kdb_task(f->db, "recent", "s", "completed", 2 * DAY_MS, -1);
        kdb_task(f->db, "badjson", "s", NULL, 10 * DAY_MS, -1);
        kdb_task(f->db, "nots", "s", "completed", -1, -1);
        /* Active session: its finished tasks stay. */
        kdb_session(f->db, "act", "u", 40 * DAY_MS, MIN_MS, -1);
        kdb_task(f->db, "act-done", "act", "completed", 10 * DAY_MS, -1);
        /* No session at all: an orphan, not this rule's business. */
        kdb_task(f->db, "orph", "nosuch", "completed", 10 * DAY_MS, -1);
        f->p.task_finished_ms = 7 * DAY_MS;
        (void)run_prune(f, false);
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"),
                            "act-done,badjson,input,nots,orph,recent,unknown,work");
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM push_notification"), 0);
}

/* checkpoints: keep the newest N per thread and namespace; older ones past minAge go. */
static void test_checkpoints_rule(void **state)
{
        struct fx *f = *state;

        kdb_session(f->db, "s", "u", 40 * DAY_MS, 3 * HOUR_MS, -1);
        for (int i = 1; i <= 5; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "c%d", i);
                kdb_checkpoint(f->db, "u", "s", "", id, (10 - i) * HOUR_MS, -1);
                kdb_write(f->db, "u", "s", "", id, 0, (10 - i) * HOUR_MS);
                kdb_write(f->db, "u", "s", "", id, 1, (10 - i) * HOUR_MS);
                (void)snprintf(id, sizeof(id), "n%d", i);
                kdb_checkpoint(f->db, "u", "s", "sub", id, (10 - i) * HOUR_MS, -1);
        }
        /* Too young to go although not among the newest two (yet outside the active window). */
        kdb_exec(f->db, "UPDATE lg_checkpoint SET created_at = '%s' WHERE checkpoint_id = 'n1'",
                 kdb_go(45 * MIN_MS, f->buf, sizeof(f->buf)));
        /* Active session: untouched. */
        kdb_session(f->db, "act", "u", 40 * DAY_MS, MIN_MS, -1);
        for (int i = 1; i <= 4; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "a%d", i);
                kdb_checkpoint(f->db, "u", "act", "", id, 10 * HOUR_MS, -1);
        }
        /* A second idle thread: every session's threads are planned, not just the first. */
        kdb_session(f->db, "s2", "v", 40 * DAY_MS, 3 * HOUR_MS, -1);
        kdb_checkpoint(f->db, "v", "s2", "", "x1", 9 * HOUR_MS, -1);
        kdb_checkpoint(f->db, "v", "s2", "", "x2", 8 * HOUR_MS, -1);
        kdb_checkpoint(f->db, "v", "s2", "", "x3", 7 * HOUR_MS, -1);
        f->p.checkpoint_keep = 2;
        f->p.checkpoint_min_age_ms = HOUR_MS;
        (void)run_prune(f, false);
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint WHERE thread_id = "
                                    "'s2' ORDER BY 1"),
                            "x2,x3");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint WHERE thread_id = "
                                    "'s' ORDER BY 1"),
                            "c4,c5,n1,n4,n5");
        assert_string_equal(LIST(f, "SELECT DISTINCT checkpoint_id FROM lg_checkpoint_write ORDER "
                                    "BY 1"),
                            "c4,c5");
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM lg_checkpoint WHERE thread_id = "
                                        "'act'"),
                         4);
}

/* events.maxAge with keepLastPerSession. */
static void test_events_rule(void **state)
{
        struct fx *f = *state;

        kdb_session(f->db, "s", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        for (int i = 0; i < 10; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "e%d", i);
                kdb_event(f->db, id, "s", "u", (20 - i) * DAY_MS, -1); /* e9 newest: 11 days */
        }
        kdb_session(f->db, "few", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_event(f->db, "f0", "few", "u", 30 * DAY_MS, -1);
        kdb_event(f->db, "f1", "few", "u", 29 * DAY_MS, -1);
        /* Another idle session with old events: every session is planned. */
        kdb_session(f->db, "more", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        for (int i = 0; i < 5; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "m%d", i);
                kdb_event(f->db, id, "more", "u", (30 - i) * DAY_MS, -1);
        }
        kdb_session(f->db, "act", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        for (int i = 0; i < 6; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "a%d", i);
                kdb_event(f->db, id, "act", "u", i == 5 ? MIN_MS : 30 * DAY_MS, -1);
        }
        f->p.event_max_age_ms = 14 * DAY_MS - HOUR_MS;
        f->p.event_keep_last = 3;
        (void)run_prune(f, false);
        /* e0..e6 are older than the age; e7..e9 are the newest three (and younger anyway). */
        assert_string_equal(LIST(f, "SELECT id FROM event WHERE session_id = 's' ORDER BY 1"),
                            "e7,e8,e9");
        assert_string_equal(LIST(f, "SELECT id FROM event WHERE session_id = 'few' ORDER BY 1"),
                            "f0,f1");
        assert_string_equal(LIST(f, "SELECT id FROM event WHERE session_id = 'more' ORDER BY 1"),
                            "m2,m3,m4");
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM event WHERE session_id = 'act'"), 6);
}

/* crewai ages: rows of inactive sessions not updated within the age. */
static void test_crewai_rules(void **state)
{
        struct fx *f = *state;

        kdb_session(f->db, "s", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_crewai(f->db, "crewai_agent_memory", "u", "s", 20 * DAY_MS, -1);
        kdb_crewai(f->db, "crewai_flow_state", "u", "s", 20 * DAY_MS, -1);
        kdb_session(f->db, "t", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_crewai(f->db, "crewai_agent_memory", "u", "t", 2 * DAY_MS, -1);
        kdb_crewai(f->db, "crewai_flow_state", "u", "t", 2 * DAY_MS, -1);
        f->p.crewai_memory_ms = 7 * DAY_MS;
        (void)run_prune(f, false);
        assert_string_equal(LIST(f, "SELECT thread_id FROM crewai_agent_memory"), "t");
        assert_string_equal(LIST(f, "SELECT thread_id FROM crewai_flow_state ORDER BY 1"), "s,t");
        f->p.crewai_flow_ms = 7 * DAY_MS;
        (void)run_prune(f, false);
        assert_string_equal(LIST(f, "SELECT thread_id FROM crewai_flow_state"), "t");
}

/* orphans: children whose parent is gone, older than the active window. */
static void test_orphans_rule(void **state)
{
        struct fx *f = *state;

        kdb_session(f->db, "s", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_event(f->db, "kept", "s", "u", 40 * DAY_MS, -1);
        kdb_event(f->db, "wronguser", "s", "other", 2 * HOUR_MS, -1);
        kdb_event(f->db, "orph-old", "gone", "u", 2 * HOUR_MS, -1);
        kdb_event(f->db, "orph-new", "gone", "u", 5 * MIN_MS, -1);
        kdb_event(f->db, "orph-null", "gone", "u", -1, -1);
        kdb_task(f->db, "t-orph", "gone", "working", 2 * HOUR_MS, -1);
        kdb_push(f->db, "p-of-orph", "t-orph", 2 * HOUR_MS, -1);
        kdb_task(f->db, "t-kept", "s", "working", 2 * HOUR_MS, -1);
        kdb_push(f->db, "p-kept", "t-kept", 2 * HOUR_MS, -1);
        kdb_push(f->db, "p-notask", "nosuchtask", 2 * HOUR_MS, -1);
        kdb_checkpoint(f->db, "u", "gone", "", "cp-orph", 2 * HOUR_MS, -1);
        kdb_write(f->db, "u", "gone", "", "cp-orph", 0, 2 * HOUR_MS);
        kdb_checkpoint(f->db, "u", "s", "", "cp-kept", 2 * HOUR_MS, -1);
        kdb_write(f->db, "u", "s", "", "cp-kept", 0, 2 * HOUR_MS);
        kdb_write(f->db, "u", "s", "", "cp-missing", 0, 2 * HOUR_MS);
        kdb_crewai(f->db, "crewai_agent_memory", "u", "gone", 2 * HOUR_MS, -1);
        kdb_crewai(f->db, "crewai_flow_state", "u", "s", 2 * HOUR_MS, -1);
        f->p.orphans = true;
        (void)run_prune(f, false);
        assert_string_equal(LIST(f, "SELECT id FROM event ORDER BY 1"), "kept,orph-new,orph-null");
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"), "t-kept");
        assert_string_equal(LIST(f, "SELECT id FROM push_notification ORDER BY 1"), "p-kept");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint"), "cp-kept");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint_write"), "cp-kept");
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM crewai_agent_memory"), 0);
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM crewai_flow_state"), 1);
}

/* limits.maxRowsPerRun stops the run exactly there; the next run finishes the job. */
static void test_max_rows_per_run(void **state)
{
        struct fx *f = *state;
        struct prune_result r;

        for (int s = 0; s < 5; s++) {
                char sid[16];

                (void)snprintf(sid, sizeof(sid), "s%d", s);
                session_with_children(f->db, sid, "u", 40 * DAY_MS);
        }
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.max_rows_per_run = 11;
        f->p.batch_max_rows = 4;
        r = run_prune(f, false);
        assert_int_equal(r.outcome, PRUNE_TRUNCATED);
        assert_int_equal(r.rows, 11);
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM event") +
                                 kdb_int(f->db, "SELECT count(*) FROM session") +
                                 kdb_int(f->db, "SELECT count(*) FROM lg_checkpoint") +
                                 kdb_int(f->db, "SELECT count(*) FROM lg_checkpoint_write") +
                                 kdb_int(f->db, "SELECT count(*) FROM crewai_agent_memory") +
                                 kdb_int(f->db, "SELECT count(*) FROM crewai_flow_state"),
                         5 * 8 - 11);
        /* Children go first: no session row is gone while its events remain. */
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM event e WHERE NOT EXISTS (SELECT 1 "
                                        "FROM session s WHERE s.id = e.session_id)"),
                         0);
        f->p.max_rows_per_run = POLICY_OFF;
        r = run_prune(f, false);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(r.rows, 5 * 8 - 11);
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM session"), 0);
}

/* An event written between the plan and the delete makes the session active again. */
struct writer_ctx {
        sqlite3 *db;
        int batches;
};

static void write_event_after_first_batch(const struct store_batch_result *b, void *userdata)
{
        struct writer_ctx *w = userdata;

        (void)b;
        if (++w->batches == 1) {
                char ts[64];

                kdb_exec(w->db,
                         "INSERT INTO event(id, session_id, user_id, created_at, data) VALUES "
                         "('late', 'busy', 'u', '%s', '{}')",
                         kdb_go(0, ts, sizeof(ts)));
        }
}

static void test_recheck_inside_transaction(void **state)
{
        struct fx *f = *state;
        struct store_config sc = { .type = STORE_SQLITE, .sqlite_path = f->path };
        struct writer_ctx w = { .db = f->db };
        struct store *s = NULL;
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct errbuf err;

        session_with_children(f->db, "first", "u", 50 * DAY_MS);
        for (int i = 0; i < 20; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "b%d", i);
                kdb_event(f->db, id, "busy", "u", 40 * DAY_MS, -1);
        }
        kdb_session(f->db, "busy", "u", 45 * DAY_MS, 40 * DAY_MS, -1);
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
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM session WHERE id = 'first'"), 0);
        /* The busy session and its new event survive; at most the first batch went. */
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM session WHERE id = 'busy'"), 1);
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM event WHERE id = 'late'"), 1);
        assert_true(kdb_int(f->db, "SELECT count(*) FROM event WHERE session_id = 'busy'") >= 16);
}

/* A database of kagent v0.5 has no LangGraph or CrewAI tables: rules skip them. */
static void test_v05_schema(void **state)
{
        struct fx *f = *state;
        struct prune_result r;

        sqlite3_close(f->db);
        (void)unlink(f->path);
        f->db = kdb_create(f->path, sizeof(f->path), 0);
        kdb_session(f->db, "old", "u", 40 * DAY_MS, 40 * DAY_MS, -1);
        kdb_event(f->db, "e", "old", "u", 40 * DAY_MS, -1);
        kdb_event(f->db, "o", "gone", "u", 40 * DAY_MS, -1);
        f->p.session_expire_ms = 30 * DAY_MS;
        f->p.checkpoint_keep = 1;
        f->p.crewai_memory_ms = DAY_MS;
        f->p.orphans = true;
        r = run_prune(f, false);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_int_equal(r.rows, 3);
        assert_int_equal(kdb_int(f->db, "SELECT count(*) FROM event"), 0);
}

/* A file held under an exclusive flock (kagent's Turso engine running) is only measured. */
static void test_flock_held_measures_only(void **state)
{
        struct fx *f = *state;
        struct store_config sc = { .type = STORE_SQLITE, .sqlite_path = f->path };
        struct store *s = NULL;
        struct store_usage u;
        struct prune_opts o = { .policy = &f->p, .now_ms = KDB_NOW_MS };
        struct prune_result r;
        struct errbuf err;
        char *before;
        char *after;
        FILE *lock;

        session_with_children(f->db, "old", "u", 40 * DAY_MS);
        f->p.session_expire_ms = 30 * DAY_MS;
        before = snapshot(f->db);
        lock = fopen(f->path, "re");
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
        after = snapshot(f->db);
        assert_string_equal(before, after);
        free(before);
        free(after);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sessions_rule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dry_run_matches, setup, teardown),
                cmocka_unit_test_setup_teardown(test_soft_deleted_rule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tasks_rule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_checkpoints_rule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events_rule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_crewai_rules, setup, teardown),
                cmocka_unit_test_setup_teardown(test_orphans_rule, setup, teardown),
                cmocka_unit_test_setup_teardown(test_max_rows_per_run, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recheck_inside_transaction, setup, teardown),
                cmocka_unit_test_setup_teardown(test_v05_schema, setup, teardown),
                cmocka_unit_test_setup_teardown(test_flock_held_measures_only, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
