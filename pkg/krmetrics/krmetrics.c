/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kagent-retention's metrics: one table of descriptions (the order is the exposition order)
 * and the functions that translate store, prune and volume numbers into series, mapping every
 * label value onto a bounded set first.
 */
#include "krmetrics/krmetrics.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errbuf.h"
#include "metrics/metrics.h"

enum fam {
        F_BUILD_INFO = 0,
        F_START_TIME,
        F_LEADER,
        F_POLICY_INFO,
        F_POLICY_VALID,
        F_INTERVAL,
        F_FILE_BYTES,
        F_DB_SIZE,
        F_DB_FREE,
        F_DB_WRITABLE,
        F_TABLE_BYTES,
        F_TABLE_ROWS,
        F_VOL_USED,
        F_VOL_LIMIT,
        F_VOL_RATIO,
        F_VOL_WATERMARK,
        F_VOL_GROWTH,
        F_VOL_TTF,
        F_VOL_PRESSURE,
        F_VOL_UNRELIEVED,
        F_EMERGENCY_RUNS,
        F_RUNS,
        F_RUN_DURATION,
        F_BATCH_DURATION,
        F_LAST_RUN,
        F_LAST_SUCCESS,
        F_CONSECUTIVE_FAILED,
        F_BUSY_RETRIES,
        F_DELETED_ROWS,
        F_DELETED_BYTES,
        F_RECLAIMED,
        F_PENDING,
        F_ORPHANS,
        F_KUBE_REQUESTS,
        F_WATCH_RESTARTS,
        F_HTTP_REQUESTS,
        F_COUNT,
};

/* kagent's tables across versions and schemas (shared/kagent/), then "other". */
static const char *const known_tables[] = {
        "agent",
        "agent_instance",
        "agent_instance_share",
        "agent_instance_task",
        "agent_instance_task_event",
        "agent_template_harness_pair",
        "crewai_agent_memory",
        "crewai_flow_state",
        "event",
        "feedback",
        "lg_checkpoint",
        "lg_checkpoint_write",
        "memory",
        "push_notification",
        "runtime_revision",
        "schema_migrations",
        "session",
        "session_share",
        "session_share_access",
        "task",
        "tool",
        "toolserver",
        "vector_schema_migrations",
};
#define N_KNOWN_TABLES (sizeof(known_tables) / sizeof(known_tables[0]))
_Static_assert(N_KNOWN_TABLES + 1 <= KRMETRICS_TABLES_MAX, "table label set too large");

static const char *const kube_verbs[] = { "get",    "list",  "watch", "create",
                                          "update", "patch", "delete" };
#define N_KUBE_VERBS (sizeof(kube_verbs) / sizeof(kube_verbs[0]))
/* Status codes the API server answers with in practice; others are counted by class. */
static const int kube_codes[] = { 200, 201, 202, 204, 304, 400, 401, 403, 404,
                                  409, 410, 413, 422, 429, 500, 502, 503, 504 };
#define N_KUBE_CODES (sizeof(kube_codes) / sizeof(kube_codes[0]))
/* verbs + "other", times codes + 5 classes + "<error>" + "other" */
#define KUBE_SERIES ((N_KUBE_VERBS + 1) * (N_KUBE_CODES + 7))

static const char *const watch_resources[] = { "retentionpolicies", "pods", "leases", "events" };
#define N_WATCH_RESOURCES (sizeof(watch_resources) / sizeof(watch_resources[0]))

static const char *const run_results[] = { "Succeeded", "Failed", "Truncated", "DryRun",
                                           "Skipped" };
static const char *const emergency_results[] = { "relieved", "unrelieved", "failed" };
static const char *const file_names[] = { "main", "wal", "shm", "journal" };

/*
 * Lock holds: the default batch.maxLockDuration is 50ms and kagent's busy_timeout 5s, so the
 * buckets resolve 1ms..100ms finely and reach 10s for pathological holds.
 */
static const double batch_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
                                        0.1,   0.25,   0.5,   1,    2.5,   5,    10 };
/* Runs: tens of milliseconds (nothing to do) up to limits.runTimeout's default of 10 minutes. */
static const double run_buckets[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,  2.5,
                                      5,    10,    30,   60,  120,  300, 600 };

#define NBUCKETS(a) (sizeof(a) / sizeof((a)[0]))

static const struct metrics_desc descs[F_COUNT] = {
        [F_BUILD_INFO] = { .name = "kagent_retention_build_info",
                           .help = "Build information; the value is always 1.",
                           .type = METRICS_GAUGE,
                           .labels = { "version" },
                           .max_series = 1 },
        [F_START_TIME] = { .name = "kagent_retention_start_time_seconds",
                           .help = "Start time of the process since the Unix epoch in seconds.",
                           .type = METRICS_GAUGE_DOUBLE,
                           .max_series = 1 },
        [F_LEADER] = { .name = "kagent_retention_is_leader",
                       .help = "1 when this replica holds the leader lease (or runs without "
                               "leader election), else 0.",
                       .type = METRICS_GAUGE,
                       .max_series = 1 },
        [F_POLICY_INFO] = { .name = "kagent_retention_policy_info",
                            .help = "The RetentionPolicy in force; the value is always 1. Absent "
                                    "in monitor-only mode.",
                            .type = METRICS_GAUGE,
                            .labels = { "name", "generation", "dry_run", "suspended" },
                            .max_series = 1 },
        [F_POLICY_VALID] = { .name = "kagent_retention_policy_valid",
                             .help = "0 when the RetentionPolicy is invalid and nothing is "
                                     "deleted, else 1 (also without a policy).",
                             .type = METRICS_GAUGE,
                             .max_series = 1 },
        [F_INTERVAL] = { .name = "kagent_retention_schedule_interval_seconds",
                         .help = "Period between scheduled prune runs; 0 while no runs are "
                                 "scheduled (no policy, suspended or invalid).",
                         .type = METRICS_GAUGE,
                         .max_series = 1 },
        [F_FILE_BYTES] = { .name = "kagent_retention_database_file_bytes",
                           .help = "Size of each SQLite database file.",
                           .type = METRICS_GAUGE,
                           .labels = { "file" },
                           .max_series = 4 },
        [F_DB_SIZE] = { .name = "kagent_retention_database_size_bytes",
                        .help = "Database size: the SQLite files together, or pg_database_size.",
                        .type = METRICS_GAUGE,
                        .max_series = 1 },
        [F_DB_FREE] = { .name = "kagent_retention_database_free_bytes",
                        .help = "Free pages inside the database file, reusable without growing it.",
                        .type = METRICS_GAUGE,
                        .max_series = 1 },
        [F_DB_WRITABLE] = { .name = "kagent_retention_database_writable",
                            .help = "1 when deletes are allowed now, 0 when not (a Turso-written "
                                    "file held by kagent, a read-only database).",
                            .type = METRICS_GAUGE,
                            .max_series = 1 },
        [F_TABLE_BYTES] = { .name = "kagent_retention_table_bytes",
                            .help = "Bytes used by each table with its indexes (other: tables "
                                    "kagent does not define).",
                            .type = METRICS_GAUGE,
                            .labels = { "table" },
                            .max_series = KRMETRICS_TABLES_MAX },
        [F_TABLE_ROWS] = { .name = "kagent_retention_table_rows",
                           .help = "Rows in each table.",
                           .type = METRICS_GAUGE,
                           .labels = { "table" },
                           .max_series = KRMETRICS_TABLES_MAX },
        [F_VOL_USED] = { .name = "kagent_retention_volume_used_bytes",
                         .help = "Bytes used on the volume holding the database.",
                         .type = METRICS_GAUGE,
                         .max_series = 1 },
        [F_VOL_LIMIT] = { .name = "kagent_retention_volume_limit_bytes",
                          .help = "Effective size limit of the volume (spec.volume.sizeLimit, the "
                                  "emptyDir sizeLimit or the filesystem size); 0 when unknown.",
                          .type = METRICS_GAUGE,
                          .max_series = 1 },
        [F_VOL_RATIO] = { .name = "kagent_retention_volume_usage_ratio",
                          .help = "Effective usage: (volume used - database free bytes) / limit; "
                                  "NaN when the limit is unknown.",
                          .type = METRICS_GAUGE_DOUBLE,
                          .max_series = 1 },
        [F_VOL_WATERMARK] = { .name = "kagent_retention_volume_watermark_ratio",
                              .help = "The policy's volume watermarks as ratios; NaN without a "
                                      "policy.",
                              .type = METRICS_GAUGE_DOUBLE,
                              .labels = { "level" },
                              .max_series = 2 },
        [F_VOL_GROWTH] = { .name = "kagent_retention_volume_growth_bytes_per_second",
                           .help = "Growth of the effective usage over the recent window; NaN "
                                   "until known.",
                           .type = METRICS_GAUGE_DOUBLE,
                           .max_series = 1 },
        [F_VOL_TTF] = { .name = "kagent_retention_volume_time_to_full_seconds",
                        .help = "Predicted time until the volume reaches its limit at the current "
                                "growth; +Inf when not growing.",
                        .type = METRICS_GAUGE_DOUBLE,
                        .max_series = 1 },
        [F_VOL_PRESSURE] = { .name = "kagent_retention_volume_pressure",
                             .help = "1 while usage is at or above the high watermark, else 0.",
                             .type = METRICS_GAUGE,
                             .max_series = 1 },
        [F_VOL_UNRELIEVED] = { .name = "kagent_retention_volume_pressure_unrelieved",
                               .help = "1 when the last emergency ladder ended above the low "
                                       "watermark and the pressure persists, else 0.",
                               .type = METRICS_GAUGE,
                               .max_series = 1 },
        [F_EMERGENCY_RUNS] = { .name = "kagent_retention_emergency_runs_total",
                               .help = "Emergency ladder runs by result.",
                               .type = METRICS_COUNTER,
                               .labels = { "result" },
                               .max_series = 3 },
        [F_RUNS] = { .name = "kagent_retention_runs_total",
                     .help = "Scheduled prune runs by result.",
                     .type = METRICS_COUNTER,
                     .labels = { "result" },
                     .max_series = 5 },
        [F_RUN_DURATION] = { .name = "kagent_retention_run_duration_seconds",
                             .help = "Duration of scheduled prune runs.",
                             .type = METRICS_HISTOGRAM,
                             .buckets = run_buckets,
                             .n_buckets = NBUCKETS(run_buckets),
                             .max_series = 1 },
        [F_BATCH_DURATION] = { .name = "kagent_retention_batch_duration_seconds",
                               .help = "Duration of write transactions (how long the database "
                                       "write lock was held).",
                               .type = METRICS_HISTOGRAM,
                               .buckets = batch_buckets,
                               .n_buckets = NBUCKETS(batch_buckets),
                               .max_series = 1 },
        [F_LAST_RUN] = { .name = "kagent_retention_last_run_timestamp_seconds",
                         .help = "End of the last scheduled run since the Unix epoch; 0 before "
                                 "the first.",
                         .type = METRICS_GAUGE_DOUBLE,
                         .max_series = 1 },
        [F_LAST_SUCCESS] = { .name = "kagent_retention_last_success_timestamp_seconds",
                             .help = "End of the last scheduled run that did not fail (Succeeded, "
                                     "Truncated, DryRun); 0 before the first.",
                             .type = METRICS_GAUGE_DOUBLE,
                             .max_series = 1 },
        [F_CONSECUTIVE_FAILED] = { .name = "kagent_retention_consecutive_failed_runs",
                                   .help = "Scheduled runs that failed in a row; 0 after a run "
                                           "that did not fail.",
                                   .type = METRICS_GAUGE,
                                   .max_series = 1 },
        [F_BUSY_RETRIES] = { .name = "kagent_retention_busy_retries_total",
                             .help = "Write transactions retried because the database was locked.",
                             .type = METRICS_COUNTER,
                             .max_series = 1 },
        [F_DELETED_ROWS] = { .name = "kagent_retention_deleted_rows_total",
                             .help = "Rows deleted by rule and table.",
                             .type = METRICS_COUNTER,
                             .labels = { "rule", "table" },
                             .max_series = STORE_RULE_COUNT * STORE_T_COUNT },
        [F_DELETED_BYTES] = { .name = "kagent_retention_deleted_bytes_total",
                              .help = "Payload bytes of the rows deleted, by rule and table.",
                              .type = METRICS_COUNTER,
                              .labels = { "rule", "table" },
                              .max_series = STORE_RULE_COUNT * STORE_T_COUNT },
        [F_RECLAIMED] = { .name = "kagent_retention_reclaimed_bytes_total",
                          .help = "Bytes the database files shrank by after runs (VACUUM, "
                                  "incremental_vacuum).",
                          .type = METRICS_COUNTER,
                          .max_series = 1 },
        [F_PENDING] = { .name = "kagent_retention_pending_rows",
                        .help = "Rows the next run would delete, by table (from the last dry run "
                                "or plan).",
                        .type = METRICS_GAUGE,
                        .labels = { "table" },
                        .max_series = STORE_T_COUNT },
        [F_ORPHANS] = { .name = "kagent_retention_orphan_backlog_rows",
                        .help = "Rows whose parent row is gone, by table (from the last dry run "
                                "or plan).",
                        .type = METRICS_GAUGE,
                        .labels = { "table" },
                        .max_series = STORE_T_COUNT },
        [F_KUBE_REQUESTS] = { .name = "kagent_retention_kube_requests_total",
                              .help = "Kubernetes API requests by verb and HTTP status code.",
                              .type = METRICS_COUNTER,
                              .labels = { "verb", "code" },
                              .max_series = KUBE_SERIES },
        [F_WATCH_RESTARTS] = { .name = "kagent_retention_kube_watch_restarts_total",
                               .help = "Kubernetes watches restarted, by resource.",
                               .type = METRICS_COUNTER,
                               .labels = { "resource" },
                               .max_series = N_WATCH_RESOURCES + 1 },
        [F_HTTP_REQUESTS] = { .name = "kagent_retention_http_requests_total",
                              .help = "Requests to the metrics and health endpoints by handler "
                                      "and status code.",
                              .type = METRICS_COUNTER,
                              .labels = { "handler", "code" },
                              .max_series = 32 },
};

struct krmetrics {
        struct metrics_registry *registry;
        struct metrics_family *f[F_COUNT];
        struct metrics_series *policy_info;
};

static struct metrics_series *one(struct krmetrics *m, enum fam f)
{
        return metrics_family_series(m->f[f]);
}

/* A labelled series; every value passed here comes from a bounded set, so it cannot fail. */
static struct metrics_series *labelled(struct krmetrics *m, enum fam f, const char *const *values)
{
        struct metrics_series *s = NULL;
        int rc = metrics_series_get(m->f[f], values, &s, NULL);

        assert(rc == 0);
        (void)rc;
        return s;
}

static struct metrics_series *labelled1(struct krmetrics *m, enum fam f, const char *v)
{
        return labelled(m, f, (const char *[]){ v });
}

static struct metrics_series *labelled2(struct krmetrics *m, enum fam f, const char *a,
                                        const char *b)
{
        return labelled(m, f, (const char *[]){ a, b });
}

/* Series that exist from the start: known label sets and values that are never unset. */
static int precreate(struct krmetrics *m, const char *version, int64_t start_wall_ms,
                     struct errbuf *err)
{
        struct metrics_series *build = NULL;
        int rc;

        rc = metrics_series_get(m->f[F_BUILD_INFO], (const char *[]){ version }, &build, err);
        if (rc < 0)
                return rc;
        metrics_gauge_set(build, 1);
        m->policy_info = labelled(m, F_POLICY_INFO, (const char *[]){ "", "0", "false", "false" });
        metrics_gauge_set(m->policy_info, 1);
        metrics_series_set_hidden(m->policy_info, true);
        metrics_gauge_set(one(m, F_POLICY_VALID), 1);
        metrics_gauge_set_double(one(m, F_START_TIME), (double)start_wall_ms / 1000.0);
        for (size_t i = 0; i < sizeof(file_names) / sizeof(file_names[0]); i++)
                (void)labelled1(m, F_FILE_BYTES, file_names[i]);
        metrics_gauge_set_double(labelled1(m, F_VOL_WATERMARK, "high"), NAN);
        metrics_gauge_set_double(labelled1(m, F_VOL_WATERMARK, "low"), NAN);
        metrics_gauge_set_double(one(m, F_VOL_RATIO), NAN);
        metrics_gauge_set_double(one(m, F_VOL_GROWTH), NAN);
        metrics_gauge_set_double(one(m, F_VOL_TTF), INFINITY);
        metrics_gauge_set(one(m, F_DB_WRITABLE), 1);
        /* Every result from zero, so rate() and increase() see the first one. */
        for (size_t i = 0; i < sizeof(run_results) / sizeof(run_results[0]); i++)
                (void)labelled1(m, F_RUNS, run_results[i]);
        for (size_t i = 0; i < sizeof(emergency_results) / sizeof(emergency_results[0]); i++)
                (void)labelled1(m, F_EMERGENCY_RUNS, emergency_results[i]);
        return 0;
}

int krmetrics_new(const char *version, int64_t start_wall_ms, struct krmetrics **out,
                  struct errbuf *err)
{
        struct krmetrics *m = NULL;
        int rc;

        m = calloc(1, sizeof(*m));
        if (!m) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        rc = metrics_registry_new(F_COUNT, &m->registry, err);
        if (rc < 0)
                goto out;
        for (int i = 0; i < F_COUNT; i++) {
                rc = metrics_family_add(m->registry, &descs[i], &m->f[i], err);
                if (rc < 0)
                        goto out;
        }
        rc = precreate(m, version, start_wall_ms, err);
        if (rc < 0)
                goto out;

        *out = m;
        m = NULL;
        rc = 0;
out:
        krmetrics_free(m);
        return rc;
}

void krmetrics_free(struct krmetrics *m)
{
        if (!m)
                return;
        metrics_registry_free(m->registry);
        free(m);
}

const struct metrics_registry *krmetrics_registry(const struct krmetrics *m)
{
        return m->registry;
}

struct metrics_family *krmetrics_http_family(struct krmetrics *m)
{
        return m->f[F_HTTP_REQUESTS];
}

static const char *table_label(const char *name)
{
        for (size_t i = 0; i < N_KNOWN_TABLES; i++) {
                if (strcmp(known_tables[i], name) == 0)
                        return known_tables[i];
        }
        return "other";
}

static void tables_set(struct krmetrics *m, const struct store_usage *u)
{
        int64_t other_bytes = 0;
        int64_t other_rows = 0;
        bool other_rows_known = false;

        for (size_t i = 0; i < u->n_tables; i++) {
                const struct store_table_usage *t = &u->tables[i];
                const char *label = table_label(t->name);

                if (strcmp(label, "other") == 0) {
                        other_bytes += t->bytes > 0 ? t->bytes : 0;
                        if (t->rows >= 0) {
                                other_rows += t->rows;
                                other_rows_known = true;
                        }
                        continue;
                }
                if (t->bytes >= 0)
                        metrics_gauge_set(labelled1(m, F_TABLE_BYTES, label), t->bytes);
                if (t->rows >= 0)
                        metrics_gauge_set(labelled1(m, F_TABLE_ROWS, label), t->rows);
        }
        metrics_gauge_set(labelled1(m, F_TABLE_BYTES, "other"), other_bytes);
        if (other_rows_known)
                metrics_gauge_set(labelled1(m, F_TABLE_ROWS, "other"), other_rows);
}

void krmetrics_usage_set(struct krmetrics *m, const struct store_usage *u)
{
        const int64_t files[] = { u->main_bytes, u->wal_bytes, u->shm_bytes, u->journal_bytes };

        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
                metrics_gauge_set(labelled1(m, F_FILE_BYTES, file_names[i]), files[i]);
        metrics_gauge_set(one(m, F_DB_SIZE), u->db_bytes);
        metrics_gauge_set(one(m, F_DB_FREE), u->free_bytes);
        if (u->n_tables > 0)
                tables_set(m, u);
}

void krmetrics_writable_set(struct krmetrics *m, bool writable)
{
        metrics_gauge_set(one(m, F_DB_WRITABLE), writable ? 1 : 0);
}

void krmetrics_volume_set(struct krmetrics *m, const struct krmetrics_volume *v)
{
        metrics_gauge_set(one(m, F_VOL_USED), v->used_bytes);
        metrics_gauge_set(one(m, F_VOL_LIMIT), v->limit_bytes > 0 ? v->limit_bytes : 0);
        metrics_gauge_set_double(one(m, F_VOL_RATIO), v->limit_bytes > 0 ? v->usage_ratio : NAN);
        metrics_gauge_set_double(one(m, F_VOL_GROWTH), v->growth_bytes_per_second);
        metrics_gauge_set_double(one(m, F_VOL_TTF),
                                 v->seconds_to_full < 0 ? INFINITY : v->seconds_to_full);
        metrics_gauge_set_double(labelled1(m, F_VOL_WATERMARK, "high"), v->high_watermark_ratio);
        metrics_gauge_set_double(labelled1(m, F_VOL_WATERMARK, "low"), v->low_watermark_ratio);
        metrics_gauge_set(one(m, F_VOL_PRESSURE), v->pressure ? 1 : 0);
        if (!v->pressure)
                metrics_gauge_set(one(m, F_VOL_UNRELIEVED), 0);
}

static void deleted_add(struct krmetrics *m, const struct prune_result *r)
{
        for (int rule = 0; rule < STORE_RULE_COUNT; rule++) {
                const struct prune_rule_result *rr = &r->rules[rule];

                for (int t = 0; t < STORE_T_COUNT; t++) {
                        const struct store_count *c = &rr->tables[t];
                        const char *rn = store_rule_name((enum store_rule)rule);
                        const char *tn = store_table_name((enum store_table)t);

                        if (c->rows <= 0 && c->bytes <= 0)
                                continue;
                        metrics_counter_add(labelled2(m, F_DELETED_ROWS, rn, tn),
                                            c->rows > 0 ? (uint64_t)c->rows : 0);
                        metrics_counter_add(labelled2(m, F_DELETED_BYTES, rn, tn),
                                            c->bytes > 0 ? (uint64_t)c->bytes : 0);
                }
        }
}

void krmetrics_run_record(struct krmetrics *m, const struct prune_result *r)
{
        double end_s = (double)r->end_wall_ms / 1000.0;
        struct metrics_series *failed = one(m, F_CONSECUTIVE_FAILED);

        metrics_counter_add(labelled1(m, F_RUNS, prune_outcome_name(r->outcome)), 1);
        metrics_histogram_observe(one(m, F_RUN_DURATION), (double)r->duration_ms / 1000.0);
        metrics_gauge_set_double(one(m, F_LAST_RUN), end_s);
        if (r->busy_retries > 0)
                metrics_counter_add(one(m, F_BUSY_RETRIES), (uint64_t)r->busy_retries);
        switch (r->outcome) {
        case PRUNE_FAILED:
                metrics_gauge_add(failed, 1);
                break;
        case PRUNE_SUCCEEDED:
        case PRUNE_TRUNCATED:
        case PRUNE_DRY_RUN:
                metrics_gauge_set(failed, 0);
                metrics_gauge_set_double(one(m, F_LAST_SUCCESS), end_s);
                break;
        case PRUNE_SKIPPED:
                break;
        }
        if (r->outcome == PRUNE_DRY_RUN)
                krmetrics_pending_set(m, r);
        else
                deleted_add(m, r);
}

void krmetrics_emergency_record(struct krmetrics *m, const struct prune_result *r)
{
        const char *result;

        if (r->outcome == PRUNE_DRY_RUN)
                return; /* a dry-run policy deletes nothing, and nothing was expected to */
        if (r->outcome == PRUNE_FAILED)
                result = "failed";
        else
                result = r->relieved ? "relieved" : "unrelieved";
        metrics_counter_add(labelled1(m, F_EMERGENCY_RUNS, result), 1);
        metrics_gauge_set(one(m, F_VOL_UNRELIEVED), r->relieved ? 0 : 1);
        if (r->busy_retries > 0)
                metrics_counter_add(one(m, F_BUSY_RETRIES), (uint64_t)r->busy_retries);
        deleted_add(m, r);
}

void krmetrics_batch_observe(struct krmetrics *m, const struct store_batch_result *b)
{
        metrics_histogram_observe(one(m, F_BATCH_DURATION), (double)b->txn_us / 1e6);
}

void krmetrics_pending_set(struct krmetrics *m, const struct prune_result *plan)
{
        for (int t = 0; t < STORE_T_COUNT; t++) {
                const char *tn = store_table_name((enum store_table)t);
                int64_t rows = 0;

                for (int rule = 0; rule < STORE_RULE_COUNT; rule++)
                        rows += plan->rules[rule].tables[t].rows;
                metrics_gauge_set(labelled1(m, F_PENDING, tn), rows);
                metrics_gauge_set(labelled1(m, F_ORPHANS, tn),
                                  plan->rules[STORE_RULE_ORPHANS].tables[t].rows);
        }
}

void krmetrics_reclaim_record(struct krmetrics *m, const struct store_reclaim_result *r)
{
        if (r->reclaimed_bytes > 0)
                metrics_counter_add(one(m, F_RECLAIMED), (uint64_t)r->reclaimed_bytes);
}

static const char *kube_verb_label(const char *verb)
{
        for (size_t i = 0; verb && i < N_KUBE_VERBS; i++) {
                if (strcmp(kube_verbs[i], verb) == 0)
                        return kube_verbs[i];
        }
        return "other";
}

/* The code's label: itself when common, else its class; 'buf' holds at least 8 bytes. */
static const char *kube_code_label(int code, char *buf, size_t size)
{
        if (code <= 0)
                return "<error>";
        for (size_t i = 0; i < N_KUBE_CODES; i++) {
                if (kube_codes[i] == code) {
                        (void)snprintf(buf, size, "%d", code);
                        return buf;
                }
        }
        if (code >= 100 && code <= 599) {
                (void)snprintf(buf, size, "%dxx", code / 100);
                return buf;
        }
        return "other";
}

void krmetrics_kube_request_record(struct krmetrics *m, const char *verb, int code)
{
        char buf[16];

        metrics_counter_add(labelled2(m, F_KUBE_REQUESTS, kube_verb_label(verb),
                                      kube_code_label(code, buf, sizeof(buf))),
                            1);
}

void krmetrics_watch_restart_record(struct krmetrics *m, const char *resource)
{
        const char *label = "other";

        for (size_t i = 0; resource && i < N_WATCH_RESOURCES; i++) {
                if (strcmp(watch_resources[i], resource) == 0)
                        label = watch_resources[i];
        }
        metrics_counter_add(labelled1(m, F_WATCH_RESTARTS, label), 1);
}

void krmetrics_leader_set(struct krmetrics *m, bool is_leader)
{
        metrics_gauge_set(one(m, F_LEADER), is_leader ? 1 : 0);
}

int krmetrics_policy_set(struct krmetrics *m, const struct krmetrics_policy *p, struct errbuf *err)
{
        char generation[24];
        int rc;

        if (!p) {
                metrics_series_set_hidden(m->policy_info, true);
                metrics_gauge_set(one(m, F_POLICY_VALID), 1);
                metrics_gauge_set(one(m, F_INTERVAL), 0);
                return 0;
        }
        (void)snprintf(generation, sizeof(generation), "%" PRId64, p->generation);
        rc = metrics_series_relabel(m->policy_info,
                                    (const char *[]){ p->name ? p->name : "", generation,
                                                      p->dry_run ? "true" : "false",
                                                      p->suspended ? "true" : "false" },
                                    err);
        if (rc < 0)
                return rc;
        metrics_series_set_hidden(m->policy_info, false);
        metrics_gauge_set(one(m, F_POLICY_VALID), p->valid ? 1 : 0);
        metrics_gauge_set(one(m, F_INTERVAL), p->valid && !p->suspended ? p->interval_s : 0);
        return 0;
}
