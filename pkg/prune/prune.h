/* SPDX-License-Identifier: Apache-2.0 */
#ifndef PRUNE_PRUNE_H
#define PRUNE_PRUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct errbuf;
struct policy;

/*
 * The prune engine: runs a policy's rules against a store, one rule at a time (plan, then
 * bounded write batches), adapting the batch size so each write transaction stays under
 * batch.maxLockDuration, pausing between batches when kagent is writing, and stopping at
 * limits.maxRowsPerRun, limits.runTimeout or a stop request. Knows nothing of Kubernetes.
 */

enum prune_outcome {
        PRUNE_SUCCEEDED = 0,
        PRUNE_FAILED,
        PRUNE_TRUNCATED, /* stopped by maxRowsPerRun, runTimeout or a stop request */
        PRUNE_DRY_RUN,
        PRUNE_SKIPPED, /* nothing could be done: deletes not allowed (reason in message) */
};

struct prune_opts {
        const struct policy *policy; /* borrowed */
        bool dry_run;                /* force a dry run whatever the policy says */
        int64_t now_ms;              /* wall clock of the run; 0 = read the clock */
        const volatile int *stop;    /* when *stop becomes non-zero: finish the batch, return */
        /*
         * Called between batches and rules (may be NULL): returning false ends the run early
         * as a success. The emergency ladder uses it to stop at the low watermark.
         */
        bool (*keep_going)(void *userdata);
        void *keep_going_userdata;
        /* Test hook: called after every committed batch (may be NULL). */
        void (*on_batch)(const struct store_batch_result *b, void *userdata);
        void *on_batch_userdata;
};

struct prune_rule_result {
        bool ran;
        struct store_count tables[STORE_T_COUNT];
        int64_t rows;
        int64_t bytes;
};

/* One step of the emergency ladder. */
struct prune_step_result {
        bool ran;
        int64_t rows;
        int64_t bytes;
        bool relieved; /* the low watermark was reached during or after this step */
};

struct prune_result {
        enum prune_outcome outcome;
        char message[256];
        int64_t start_wall_ms;
        int64_t end_wall_ms;
        struct prune_rule_result rules[STORE_RULE_COUNT];
        int64_t rows;  /* deleted (or, in a dry run, that would be deleted) */
        int64_t bytes; /* payload bytes of those rows */
        int64_t batches;
        int64_t max_batch_us;  /* longest write transaction */
        int64_t skipped_units; /* dropped by in-transaction re-checks */
        int64_t busy_retries;  /* batches retried after the lock could not be had */
        int64_t plan_ms;       /* time spent planning */
        int64_t max_read_ms;   /* longest planning statement */
        int64_t paused_ms;     /* time spent pausing between batches */
        int64_t duration_ms;
        bool relieved;                     /* keep_going returned false: the goal was reached */
        struct prune_step_result steps[5]; /* emergency ladder, indexed by enum policy_step */
};

/* Run every enabled rule once. Returns 0 with 'out' filled (outcome says how it went, also for
 * a failed run), or a negative errno for misuse. */
int prune_run(struct store *s, const struct prune_opts *o, struct prune_result *out,
              struct errbuf *err);

/*
 * The emergency ladder (volume at or above the high watermark): runs the policy's
 * volume.emergency.steps in order, ignoring the rules' ages but never activeWindow —
 * softDeleted (any age), orphans, checkpoints (keep 1, no minAge), finishedTasks (any age),
 * idleSessions (oldest last activity first, a few sessions at a time) — until o->keep_going
 * returns false (at or below the low watermark) or the steps are exhausted. Batching, pacing,
 * limits and the stop request work as in prune_run. A dry-run policy deletes nothing here:
 * the outcome is DryRun with nothing planned.
 */
int prune_emergency(struct store *s, const struct prune_opts *o, struct prune_result *out,
                    struct errbuf *err);

const char *prune_outcome_name(enum prune_outcome o);

#endif
