/* SPDX-License-Identifier: Apache-2.0 */
/* A registry with every kagent-retention metric set, for lint checks and load tests. */
#include "krmetrics_fill.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "krmetrics/krmetrics.h"

static void fill_usage(struct krmetrics *m)
{
        static const char *const tables[] = {
                "event",   "lg_checkpoint_write", "lg_checkpoint", "task",
                "session", "push_notification",   "feedback",      "crewai_agent_memory",
                "agent",   "sqlite_sequence",     "sqlite_stat1"
        };
        struct store_usage u;

        memset(&u, 0, sizeof(u));
        u.main_bytes = 412 << 20;
        u.wal_bytes = 4 << 20;
        u.shm_bytes = 32768;
        u.db_bytes = u.main_bytes + u.wal_bytes + u.shm_bytes;
        u.page_size = 4096;
        u.freelist_count = 2048;
        u.free_bytes = u.freelist_count * u.page_size;
        for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
                (void)snprintf(u.tables[i].name, sizeof(u.tables[i].name), "%s", tables[i]);
                u.tables[i].bytes = (int64_t)(200 - 15 * i) << 16;
                u.tables[i].rows = (int64_t)(100000 / (i + 1));
        }
        u.n_tables = sizeof(tables) / sizeof(tables[0]);
        krmetrics_usage_set(m, &u);
}

static void fill_runs(struct krmetrics *m)
{
        struct prune_result r;
        struct store_batch_result b;
        struct store_reclaim_result rec = { .reclaimed_bytes = 8 << 20 };

        memset(&r, 0, sizeof(r));
        r.outcome = PRUNE_SUCCEEDED;
        r.end_wall_ms = 1770000000123;
        r.duration_ms = 2260;
        r.busy_retries = 2;
        r.rules[STORE_RULE_SESSIONS].tables[STORE_T_EVENT] =
                (struct store_count){ 60000, 150 << 20 };
        r.rules[STORE_RULE_SESSIONS].tables[STORE_T_SESSION] = (struct store_count){ 120, 24000 };
        r.rules[STORE_RULE_CHECKPOINTS].tables[STORE_T_CHECKPOINT] =
                (struct store_count){ 9000, 30 << 20 };
        r.rules[STORE_RULE_CHECKPOINTS].tables[STORE_T_CHECKPOINT_WRITE] =
                (struct store_count){ 14000, 12 << 20 };
        r.rules[STORE_RULE_ORPHANS].tables[STORE_T_PUSH] = (struct store_count){ 7, 2100 };
        krmetrics_run_record(m, &r);
        r.outcome = PRUNE_FAILED;
        krmetrics_run_record(m, &r);
        memset(&r, 0, sizeof(r));
        r.outcome = PRUNE_DRY_RUN;
        r.end_wall_ms = 1770000900456;
        r.duration_ms = 480;
        r.rules[STORE_RULE_EVENTS].tables[STORE_T_EVENT] = (struct store_count){ 3100, 0 };
        r.rules[STORE_RULE_ORPHANS].tables[STORE_T_TASK] = (struct store_count){ 12, 0 };
        krmetrics_run_record(m, &r);
        memset(&r, 0, sizeof(r));
        r.outcome = PRUNE_SUCCEEDED;
        r.relieved = true;
        r.rules[STORE_RULE_SOFT_DELETED].tables[STORE_T_EVENT] =
                (struct store_count){ 900, 1 << 20 };
        krmetrics_emergency_record(m, &r);
        r.relieved = false;
        krmetrics_emergency_record(m, &r);
        memset(&b, 0, sizeof(b));
        for (int i = 0; i < 200; i++) {
                b.txn_us = 500 + (int64_t)i * 240;
                krmetrics_batch_observe(m, &b);
        }
        krmetrics_reclaim_record(m, &rec);
}

static void fill_kube(struct krmetrics *m)
{
        static const struct {
                const char *verb;
                int code;
        } requests[] = { { "get", 200 },   { "list", 200 },   { "watch", 200 },  { "patch", 200 },
                         { "patch", 409 }, { "update", 409 }, { "create", 201 }, { "get", 404 },
                         { "list", 410 },  { "get", 0 },      { "get", 418 },    { "GET", 200 } };

        for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
                krmetrics_kube_request_record(m, requests[i].verb, requests[i].code);
        krmetrics_watch_restart_record(m, "retentionpolicies");
        krmetrics_watch_restart_record(m, "pods");
        krmetrics_watch_restart_record(m, "configmaps");
        krmetrics_leader_set(m, true);
}

void krmetrics_fill(struct krmetrics *m)
{
        struct krmetrics_volume v = {
                .used_bytes = 420 << 20,
                .limit_bytes = 500 << 20,
                .usage_ratio = (double)((420 << 20) - (8 << 20)) / (double)(500 << 20),
                .growth_bytes_per_second = 1234.5,
                .seconds_to_full = 71000,
                .high_watermark_ratio = 0.8,
                .low_watermark_ratio = 0.65,
                .pressure = true,
        };
        struct krmetrics_policy p = { .name = "default",
                                      .generation = 4,
                                      .dry_run = false,
                                      .suspended = false,
                                      .valid = true,
                                      .interval_s = 900 };

        fill_usage(m);
        krmetrics_writable_set(m, true);
        krmetrics_volume_set(m, &v);
        fill_runs(m);
        fill_kube(m);
        (void)krmetrics_policy_set(m, &p, NULL);
}
