/* SPDX-License-Identifier: Apache-2.0 */
#ifndef POLICY_POLICY_H
#define POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct errbuf;

/*
 * The RetentionPolicy spec (../shared/API.md): parsing from YAML or JSON, defaults, and
 * validation that reports every error with its field path. The struct holds plain values;
 * "off" (null or absent) is POLICY_OFF for durations, quantities and counts.
 *
 * Defaulting follows the CRD's structural defaulting: a rule section that is absent or null
 * switches that rule off; a rule section that is present takes the documented default for each
 * omitted field, and an explicit null field switches the field off. Non-rule sections (schedule,
 * volume, reclaim, batch, limits) always take their defaults.
 */

#define POLICY_OFF        (-1)
#define POLICY_MAX_ERRORS 32
#define POLICY_MAX_STEPS  5
#define POLICY_NAME_MAX   254
#define POLICY_TEXT_MAX   (1024 * 1024) /* largest policy file accepted */
#define POLICY_MIN_MS     60000         /* minimum of interval and activeWindow: 1m */

enum policy_step {
        POLICY_STEP_SOFT_DELETED = 0, /* "softDeleted" */
        POLICY_STEP_ORPHANS,          /* "orphans" */
        POLICY_STEP_CHECKPOINTS,      /* "checkpoints" */
        POLICY_STEP_FINISHED_TASKS,   /* "finishedTasks" */
        POLICY_STEP_IDLE_SESSIONS,    /* "idleSessions" */
};

enum policy_reclaim {
        POLICY_RECLAIM_AUTO = 0,
        POLICY_RECLAIM_INCREMENTAL,
        POLICY_RECLAIM_VACUUM,
        POLICY_RECLAIM_NONE,
};

/* All durations are in milliseconds; POLICY_OFF where the API allows null. */
struct policy {
        char name[POLICY_NAME_MAX];    /* metadata.name when the input had one, else "" */
        int64_t generation;            /* metadata.generation when present, else 0 */
        bool suspend;                  /* default false */
        bool dry_run;                  /* default false */
        int64_t interval_ms;           /* schedule.interval, default 15m, min 1m */
        int64_t active_window_ms;      /* activeWindow, default 30m, min 1m */
        int64_t session_expire_ms;     /* sessions.expireAfter, default 30d */
        int64_t soft_purge_ms;         /* softDeleted.purgeAfter, default 7d */
        int64_t task_finished_ms;      /* tasks.finishedAfter, default 7d */
        int64_t checkpoint_keep;       /* checkpoints.keepLatestPerThread, default 3, min 1 */
        int64_t checkpoint_min_age_ms; /* checkpoints.minAge, default 1h (0 allowed) */
        int64_t event_max_age_ms;      /* events.maxAge, default null */
        int64_t event_keep_last;       /* events.keepLastPerSession, default 200, min 0 */
        int64_t crewai_memory_ms;      /* crewai.memoryMaxAge, default null */
        int64_t crewai_flow_ms;        /* crewai.flowStateMaxAge, default null */
        bool orphans;                  /* orphans.enabled, default true when the section exists */
        int64_t size_limit_bytes;      /* volume.sizeLimit, default null (discovered) */
        int high_watermark_pct;        /* volume.highWatermarkPercent, default 80, 1..100 */
        int low_watermark_pct;         /* volume.lowWatermarkPercent, default 65, 0..99, < high */
        bool emergency;                /* volume.emergency.enabled, default true */
        enum policy_step steps[POLICY_MAX_STEPS]; /* volume.emergency.steps, in order */
        size_t n_steps;              /* default: all five in the order of enum policy_step */
        enum policy_reclaim reclaim; /* reclaim.mode, default Auto */
        int64_t batch_max_rows;      /* batch.maxRows, default 1000, 1..100000 */
        int64_t batch_max_lock_ms;   /* batch.maxLockDuration, default 50ms, 1ms..10s */
        int64_t batch_pause_ms;      /* batch.pause, default 20ms, 0..10s */
        int64_t max_rows_per_run;    /* limits.maxRowsPerRun, default null, min 1 */
        int64_t run_timeout_ms;      /* limits.runTimeout, default 10m, min 1s */
};

struct policy_error {
        char path[128]; /* "spec.volume.lowWatermarkPercent" */
        char msg[192];  /* "must be less than highWatermarkPercent (80)" */
};

struct policy_errors {
        struct policy_error e[POLICY_MAX_ERRORS];
        size_t n;         /* recorded errors (at most POLICY_MAX_ERRORS) */
        size_t n_dropped; /* errors past the limit, counted but not recorded */
};

/* Fill 'p' with the defaults of an empty spec ("spec: {}"): every rule off. */
void policy_init(struct policy *p);

/*
 * Build a policy from a JSON value that is either a whole RetentionPolicy object (with "spec",
 * optionally "metadata") or a bare spec object. 'root' is borrowed. On success returns 0 and
 * writes '*out'. When the spec is invalid returns -EINVAL, records every problem in 'errs'
 * (may be NULL) and leaves '*out' untouched; 'err' then holds the first error.
 */
int policy_from_json(const json_t *root, struct policy *out, struct policy_errors *errs,
                     struct errbuf *err);

/*
 * Parse YAML or JSON text (JSON is YAML, but JSON input is parsed with jansson for exact number
 * handling when it starts with '{'). Same contract as policy_from_json; malformed text is
 * -EINVAL with the line and column in 'err' (and as one entry in 'errs').
 */
int policy_parse(const char *text, size_t len, struct policy *out, struct policy_errors *errs,
                 struct errbuf *err);

/* Read and parse a file (at most POLICY_TEXT_MAX bytes). I/O errors are negative errno. */
int policy_load_file(const char *path, struct policy *out, struct policy_errors *errs,
                     struct errbuf *err);

/*
 * Convert YAML text to a jansson value (borrowing nothing). Plain scalars follow the YAML 1.2
 * core schema (null, booleans, integers, floats); quoted scalars are strings. Anchors and
 * aliases are rejected. Returns 0 and a new reference in '*out', or -EINVAL / -ENOMEM.
 */
int policy_yaml_to_json(const char *text, size_t len, json_t **out, struct errbuf *err);

/*
 * Durations: Go syntax ("90s", "1h30m", "1.5h", "250ms") plus "d" (24h) and "w" (7d). Rounded
 * to whole milliseconds; negative or empty input and overflow are -EINVAL.
 */
int policy_duration_parse(const char *s, int64_t *out_ms);
/* Format milliseconds the way a person writes them ("30d", "36h", "15m", "1h30m", "50ms"). */
const char *policy_duration_format(int64_t ms, char *out, size_t size);
/*
 * Kubernetes quantities ("500Mi", "1Gi", "10G", "123456", "1e3") as whole bytes; fractional
 * byte counts, negatives and overflow are -EINVAL.
 */
int policy_quantity_parse(const char *s, int64_t *out_bytes);

/* Names of steps and reclaim modes as they appear in the spec. */
const char *policy_step_name(enum policy_step s);
const char *policy_reclaim_name(enum policy_reclaim r);

/* True when at least one pruning rule is on (emergency steps not counted). */
bool policy_has_rules(const struct policy *p);

/* The spec as JSON (all fields, nulls for off), for printing the effective policy. New ref. */
json_t *policy_to_json(const struct policy *p);

#endif
