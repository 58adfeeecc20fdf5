/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CONTROLLER_CONTROLLER_H
#define CONTROLLER_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/policy.h"
#include "prune/prune.h"
#include "store/store.h"
#include "volume/volume.h"

struct errbuf;
struct httpd_health;
struct krmetrics;

/*
 * The controller loop: one thread that measures the database and its volume every few seconds,
 * runs the emergency ladder at once when usage crosses the high watermark, prunes on the
 * policy's schedule, reclaims space afterwards, and keeps a small reserve file on the volume so
 * a full volume can still be pruned. The policy comes from a file here (re-read when it
 * changes); the Kubernetes source plugs in through controller_set_policy().
 */

#define CONTROLLER_RESERVE_NAME ".kagent-retention-reserve"

/* Where the policy comes from in a cluster, and how status is reported (see kubesync.c). */
struct controller_kube_config {
        const char *kubeconfig;  /* NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
        const char *context;     /* NULL: the kubeconfig's current context */
        const char *ns;          /* NULL: $POD_NAMESPACE, else the configuration's namespace */
        const char *policy_name; /* the one RetentionPolicy this sidecar reconciles */
        const char *pod_name;    /* NULL: $POD_NAME (the Event reporter and Lease identity) */
        bool leader_elect;       /* only the Lease holder prunes and writes status */
        const char *lease_name;  /* NULL: "kagent-retention-<policy>" */
        bool required;           /* false: no configuration found means monitor-only */
};

struct controller_config {
        struct store_config store;
        const char *policy_file;     /* NULL: monitor-only until a policy is set */
        int64_t volume_poll_ms;      /* cheap measurement period (default 2000) */
        int64_t table_scan_ms;       /* per-table (dbstat) scan period (default 300000) */
        int64_t pod_limit_bytes;     /* the pod's emptyDir sizeLimit when known, else 0 */
        int64_t reserve_bytes;       /* reserve file size; 0: none (default 8 MiB for SQLite) */
        bool once;                   /* run one cycle (measure, ladder if needed, prune), return */
        struct krmetrics *metrics;   /* optional, borrowed: updated as the loop learns */
        struct httpd_health *health; /* optional, borrowed: heartbeat and readiness */
        const struct controller_kube_config *kube; /* NULL: no Kubernetes (policy file) */
};

/* What the loop knows, for logs, metrics and status. Plain values: copied out under no lock
 * by the loop thread itself (other threads get their view through metrics). */
struct controller_state {
        bool have_policy;
        bool policy_valid;
        char policy_error[256];
        struct store_usage db;
        struct volume_usage vol;
        bool growth_known;
        double growth_bytes_per_hour;
        int64_t seconds_to_full; /* -1 unknown or not growing */
        bool volume_pressure;
        char pressure_reason[384];
        bool reserve_present;
        int64_t writers_idle_ms;
        struct prune_result last_run;    /* scheduled run (valid when runs > 0) */
        struct prune_result last_ladder; /* emergency ladder (valid when ladders > 0) */
        struct store_reclaim_result last_reclaim;
        int64_t runs, ladders, failures;
        int64_t last_success_wall_ms;
        int64_t next_run_mono_ms;
        char db_type[16];   /* sqlite | postgres */
        char db_schema[48]; /* gorm-sqlite, turso-sqlite, ... */
        bool db_writable;   /* deletes allowed now */
        char not_writable_reason[160];
        bool db_corrupt; /* quick_check failed at start: nothing is ever deleted */
        char db_corrupt_reason[256];
        bool is_leader;     /* true without leader election */
        bool api_reachable; /* the last Kubernetes request succeeded (true without one) */
        bool run_failed;    /* the last scheduled run failed */
};

struct controller;

int controller_new(const struct controller_config *cfg, struct controller **out,
                   struct errbuf *err);
void controller_free(struct controller *c);

/* Replace the policy (borrowed values are copied). NULL: no policy, monitor-only. */
void controller_set_policy(struct controller *c, const struct policy *p);

/*
 * Run until *stop becomes non-zero (or one cycle with cfg.once). Returns 0 or negative errno.
 * Between cycles the loop sleeps without waking; whoever sets *stop calls controller_wake().
 */
int controller_run(struct controller *c, const volatile int *stop, struct errbuf *err);

/* End controller_run's current sleep now. Async-signal-safe: a SIGTERM handler calls it. */
void controller_wake(struct controller *c);

/* One iteration of the loop at monotonic time 'now_ms' (tests drive the loop with this). */
int controller_tick(struct controller *c, int64_t now_ms, const volatile int *stop);

/* Borrowed view of the state; valid until the next tick. */
const struct controller_state *controller_state(const struct controller *c);

#endif
