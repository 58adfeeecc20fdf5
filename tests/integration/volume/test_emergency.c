/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The emergency ladder on real SQLite files: steps run in the policy's order, ignore the rules'
 * ages but never activeWindow, take idle sessions oldest first, and stop as soon as the goal
 * (the low watermark, here a callback) is reached.
 */
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

struct fx {
        struct kdb *k;
        struct policy p;
        char buf[4096];
        /* keep_going: stop once this query's value drops to 'goal' (checked between batches) */
        const char *probe;
        int64_t goal;
        int probes;
};

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->k = kdb_create(KDB_SQLITE, 1);
        policy_init(&f->p);
        f->p.active_window_ms = 30 * MIN_MS;
        f->p.batch_pause_ms = 0;
        /* Rules exist but their ages are long: the ladder must ignore them. */
        f->p.soft_purge_ms = 365 * DAY_MS;
        f->p.task_finished_ms = 365 * DAY_MS;
        f->p.session_expire_ms = 365 * DAY_MS;
        f->p.checkpoint_keep = 50;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        kdb_free(f->k);
        free(f);
        return 0;
}

static bool keep_going(void *userdata)
{
        struct fx *f = userdata;

        f->probes++;
        return !f->probe || kdb_int(f->k, f->probe) > f->goal;
}

static struct prune_result ladder(struct fx *f)
{
        struct store_config sc;
        struct store *s = NULL;
        struct prune_opts o = { .policy = &f->p,
                                .now_ms = KDB_NOW_MS,
                                .keep_going = keep_going,
                                .keep_going_userdata = f };
        struct prune_result r;
        struct errbuf err;

        errbuf_clear(&err);
        kdb_store_config(f->k, &sc);
        if (store_open(&sc, &s, &err) < 0)
                fail_msg("store_open: %s", err.msg);
        assert_int_equal(prune_emergency(s, &o, &r, &err), 0);
        store_close(s);
        if (r.outcome == PRUNE_FAILED)
                fail_msg("ladder failed: %s", r.message);
        return r;
}

#define LIST(f, ...) kdb_list((f)->k, (f)->buf, sizeof((f)->buf), __VA_ARGS__)

/* One row for each step, recent enough that no normal rule of this policy would touch it. */
static void fill(struct fx *f)
{
        /* Idle sessions of different ages (2 h, 1 d, 3 d), one active, each with an event. */
        const struct {
                const char *id;
                int64_t ago;
        } sessions[] = { { "idle-2h", 2 * HOUR_MS },
                         { "idle-1d", DAY_MS },
                         { "idle-3d", 3 * DAY_MS },
                         { "active", 5 * MIN_MS } };

        for (size_t i = 0; i < sizeof(sessions) / sizeof(sessions[0]); i++) {
                char eid[32];

                kdb_session(f->k, sessions[i].id, "u", sessions[i].ago + HOUR_MS, sessions[i].ago,
                            -1);
                (void)snprintf(eid, sizeof(eid), "%s-e", sessions[i].id);
                kdb_event(f->k, eid, sessions[i].id, "u", sessions[i].ago, -1);
        }
        /* softDeleted: an event soft-deleted a minute ago in an idle session. */
        kdb_event(f->k, "soft", "idle-3d", "u", 3 * DAY_MS, MIN_MS);
        /* ...and one in the active session, which must survive everything. */
        kdb_event(f->k, "soft-active", "active", "u", 3 * DAY_MS, MIN_MS);
        /* orphans: an event of a session that is gone. */
        kdb_event(f->k, "orphan", "gone", "u", 2 * HOUR_MS, -1);
        /* checkpoints: three in an idle thread (keep 1) and three in the active one. */
        for (int i = 1; i <= 3; i++) {
                char id[16];

                (void)snprintf(id, sizeof(id), "c%d", i);
                kdb_checkpoint(f->k, "u", "idle-3d", "", id, 3 * DAY_MS + (4 - i) * MIN_MS, -1);
                (void)snprintf(id, sizeof(id), "a%d", i);
                kdb_checkpoint(f->k, "u", "active", "", id, 3 * DAY_MS, -1);
        }
        /* finishedTasks: a task completed three days ago in an idle session. */
        kdb_task(f->k, "done", "idle-3d", "completed", 3 * DAY_MS, -1);
        kdb_task(f->k, "active-done", "active", "completed", 3 * DAY_MS, -1);
        /* A running task updated a day ago keeps its session even under pressure. */
        kdb_session(f->k, "running", "u", 2 * DAY_MS, DAY_MS, -1);
        kdb_task(f->k, "run", "running", "working", DAY_MS, -1);
}

static void test_all_steps_in_order(void **state)
{
        struct fx *f = *state;
        struct prune_result r;

        fill(f);
        r = ladder(f);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_false(r.relieved);
        assert_non_null(strstr(r.message, "low watermark was not reached"));
        assert_int_equal(r.steps[POLICY_STEP_SOFT_DELETED].rows, 1);
        assert_int_equal(r.steps[POLICY_STEP_ORPHANS].rows, 1);
        assert_int_equal(r.steps[POLICY_STEP_CHECKPOINTS].rows, 2);
        assert_int_equal(r.steps[POLICY_STEP_FINISHED_TASKS].rows, 1);
        /* idle sessions: 3 sessions, their 3 events, the last checkpoint of idle-3d. */
        assert_int_equal(r.steps[POLICY_STEP_IDLE_SESSIONS].rows, 7);
        assert_string_equal(LIST(f, "SELECT id FROM session ORDER BY 1"), "active,running");
        assert_string_equal(LIST(f, "SELECT id FROM event ORDER BY 1"), "active-e,soft-active");
        assert_string_equal(LIST(f, "SELECT checkpoint_id FROM lg_checkpoint ORDER BY 1"),
                            "a1,a2,a3");
        assert_string_equal(LIST(f, "SELECT id FROM task ORDER BY 1"), "active-done,run");
}

/* The goal is reached after the first step: nothing else is touched. */
static void test_stops_at_goal(void **state)
{
        struct fx *f = *state;
        struct prune_result r;

        fill(f);
        f->probe = "SELECT count(*) FROM event WHERE deleted_at IS NOT NULL";
        f->goal = 1; /* the one soft-deleted event of the active session stays */
        r = ladder(f);
        assert_int_equal(r.outcome, PRUNE_SUCCEEDED);
        assert_true(r.relieved);
        assert_true(r.steps[POLICY_STEP_SOFT_DELETED].relieved);
        assert_int_equal(r.rows, 1);
        assert_false(r.steps[POLICY_STEP_ORPHANS].ran);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event WHERE id = 'orphan'"), 1);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM session"), 5);
}

/* Idle sessions go oldest first; the ladder stops when enough are gone. */
static void test_idle_sessions_oldest_first(void **state)
{
        struct fx *f = *state;
        struct prune_result r;

        fill(f);
        f->p.steps[0] = POLICY_STEP_IDLE_SESSIONS;
        f->p.n_steps = 1;
        f->p.batch_max_rows = 2; /* check the goal often */
        f->probe = "SELECT count(*) FROM session";
        f->goal = 4; /* one session must go */
        r = ladder(f);
        assert_true(r.relieved);
        assert_string_equal(LIST(f, "SELECT id FROM session ORDER BY 1"),
                            "active,idle-1d,idle-2h,running");
        assert_true(f->probes > 1);
}

/* The order of the steps is the policy's, not a fixed one. */
static void test_policy_order(void **state)
{
        struct fx *f = *state;
        struct prune_result r;

        fill(f);
        f->p.steps[0] = POLICY_STEP_FINISHED_TASKS;
        f->p.steps[1] = POLICY_STEP_SOFT_DELETED;
        f->p.n_steps = 2;
        f->probe = "SELECT count(*) FROM task";
        f->goal = 2;
        r = ladder(f);
        assert_true(r.relieved);
        assert_int_equal(r.steps[POLICY_STEP_FINISHED_TASKS].rows, 1);
        assert_false(r.steps[POLICY_STEP_SOFT_DELETED].ran);
        assert_int_equal(kdb_int(f->k, "SELECT count(*) FROM event WHERE id = 'soft'"), 1);
}

/* A dry-run policy never deletes in an emergency either. */
static void test_dry_run_deletes_nothing(void **state)
{
        struct fx *f = *state;
        struct prune_result r;
        int64_t before;

        fill(f);
        before = kdb_int(f->k, "SELECT (SELECT count(*) FROM event) + (SELECT count(*) FROM "
                               "session) + (SELECT count(*) FROM lg_checkpoint)");
        f->p.dry_run = true;
        r = ladder(f);
        assert_int_equal(r.outcome, PRUNE_DRY_RUN);
        assert_int_equal(kdb_int(f->k, "SELECT (SELECT count(*) FROM event) + (SELECT count(*) "
                                       "FROM session) + (SELECT count(*) FROM lg_checkpoint)"),
                         before);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_all_steps_in_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stops_at_goal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_idle_sessions_oldest_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_policy_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_dry_run_deletes_nothing, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
