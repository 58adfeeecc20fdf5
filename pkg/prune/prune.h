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
};

/* Run every enabled rule once. Returns 0 with 'out' filled (outcome says how it went, also for
 * a failed run), or a negative errno for misuse. */
int prune_run(struct store *s, const struct prune_opts *o, struct prune_result *out,
              struct errbuf *err);

const char *prune_outcome_name(enum prune_outcome o);

#endif
