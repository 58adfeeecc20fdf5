/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KRMETRICS_KRMETRICS_H
#define KRMETRICS_KRMETRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "prune/prune.h"
#include "store/store.h"

struct errbuf;
struct metrics_family;
struct metrics_registry;

/*
 * Every metric kagent-retention exports (docs/metrics.md lists them), in one registry, behind
 * functions that take the numbers the other modules already produce (store_usage,
 * prune_result, store_batch_result, ...). Every label has a bounded set of values: table names
 * outside kagent's known tables become "other", unknown verbs and resources "other", uncommon
 * HTTP codes their class ("4xx"), so no input can grow the series count.
 *
 * Threads: every function may be called from any thread; the updates are atomic stores and
 * adds (see metrics/metrics.h). The controller loop is the intended caller; the scrape reads
 * the registry concurrently without ever blocking it.
 */

/* Sizes of the bounded label sets (the series limits of the families that use them). */
#define KRMETRICS_TABLES_MAX 32 /* kagent's known tables plus "other" */

/* What the volume module measured; see krmetrics_volume_set(). */
struct krmetrics_volume {
        int64_t used_bytes;             /* everything on the volume */
        int64_t limit_bytes;            /* the effective limit; <= 0 when unknown */
        double usage_ratio;             /* (used - free pages in the database) / limit */
        double growth_bytes_per_second; /* NAN when not known yet */
        double seconds_to_full;         /* < 0 when not growing (exported as +Inf); NAN unknown */
        double high_watermark_ratio;    /* the policy's watermarks / 100; NAN without a policy */
        double low_watermark_ratio;
        bool pressure; /* usage at or above the high watermark */
};

/* The policy in force; see krmetrics_policy_set(). */
struct krmetrics_policy {
        const char *name;   /* metadata.name (a file policy: its name or "file") */
        int64_t generation; /* metadata.generation; 0 for a policy file */
        bool dry_run;
        bool suspended;
        bool valid;         /* false: the spec is invalid and nothing is deleted */
        int64_t interval_s; /* spec.schedule.interval */
};

struct krmetrics;

/*
 * Create the registry and register every metric. 'version' (borrowed) labels the build info;
 * 'start_wall_ms' is the process start time. Returns 0 and the new object in '*out' (free it
 * with krmetrics_free()), or -ENOMEM.
 */
int krmetrics_new(const char *version, int64_t start_wall_ms, struct krmetrics **out,
                  struct errbuf *err);
/* Free everything, the registry included. Accepts NULL. Not concurrent with anything. */
void krmetrics_free(struct krmetrics *m);

/* The registry to serve (borrowed, valid until krmetrics_free()). */
const struct metrics_registry *krmetrics_registry(const struct krmetrics *m);
/* The family httpd counts its requests in (labels handler, code); borrowed. */
struct metrics_family *krmetrics_http_family(struct krmetrics *m);

/* Database files, size, free pages and, when u->n_tables > 0, per-table rows and bytes. */
void krmetrics_usage_set(struct krmetrics *m, const struct store_usage *u);
/* Whether deletes are allowed now (store_writer_acquire(); Turso: kagent holds the file). */
void krmetrics_writable_set(struct krmetrics *m, bool writable);
/* Volume usage, limit, ratio, growth, time to full, watermarks and pressure. */
void krmetrics_volume_set(struct krmetrics *m, const struct krmetrics_volume *v);

/*
 * A scheduled run finished (any outcome): runs by result, run duration, last run and last
 * success times (success: Succeeded, Truncated or DryRun), consecutive failures, busy retries,
 * and rows and bytes deleted by rule and table (not for a dry run: a dry run's counts become
 * the pending rows instead, as krmetrics_pending_set()).
 */
void krmetrics_run_record(struct krmetrics *m, const struct prune_result *r);
/*
 * An emergency ladder run finished: emergency runs by result (relieved, unrelieved, failed),
 * the unrelieved-pressure gauge (cleared again by krmetrics_volume_set() without pressure),
 * and the rows and bytes it deleted.
 */
void krmetrics_emergency_record(struct krmetrics *m, const struct prune_result *r);
/* One write transaction committed (prune_opts.on_batch): the batch (lock hold) histogram. */
void krmetrics_batch_observe(struct krmetrics *m, const struct store_batch_result *b);
/*
 * What the next run would delete, from a dry run or plan: pending rows per table, and the
 * orphan backlog per table (the orphans rule's share).
 */
void krmetrics_pending_set(struct krmetrics *m, const struct prune_result *plan);
/* Space given back after a run. */
void krmetrics_reclaim_record(struct krmetrics *m, const struct store_reclaim_result *r);

/*
 * One Kubernetes API request finished: 'verb' is get, list, watch, create, update, patch or
 * delete (anything else counts as "other"), 'code' the HTTP status, <= 0 for a transport
 * error (code "<error>").
 */
void krmetrics_kube_request_record(struct krmetrics *m, const char *verb, int code);
/* A watch of 'resource' (retentionpolicies, pods, leases, events; else "other") restarted. */
void krmetrics_watch_restart_record(struct krmetrics *m, const char *resource);
void krmetrics_leader_set(struct krmetrics *m, bool is_leader);

/*
 * The policy in force, or NULL for none (monitor-only: the info series is hidden, the policy
 * counts as valid and no runs are scheduled). The schedule interval is exported only while
 * runs are expected (valid and not suspended), else 0. Returns 0 or -EINVAL for a name that
 * is not a label value (not UTF-8, too long).
 */
int krmetrics_policy_set(struct krmetrics *m, const struct krmetrics_policy *p, struct errbuf *err);

#endif
