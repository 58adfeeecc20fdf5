/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The prune engine: plans each enabled rule, then deletes its candidates in short write
 * transactions. Batch size adapts to the measured cost per row so a transaction stays within
 * half of batch.maxLockDuration (on SQLite while kagent writes, within 15 ms: see
 * WRITER_TXN_TARGET_US); between SQLite batches it pauses while other connections are
 * committing (kagent is writing) until one of them has committed, and while nobody commits only
 * when another process touched the database during the batch (pace()).
 */
#define LOG_MODULE "prune"
#include "prune/prune.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "log/log.h"
#include "policy/policy.h"

#define BATCH_INITIAL    200
#define BUSY_RETRIES_MAX 20
#define READ_BUDGET_MS   20
#define PACE_SLICE_MS    2 /* while kagent writes: look for its commit this often */
/*
 * kagent's SQLite driver waits for a lock in SQLite's default busy handler, which tries again
 * 1, 3, 8, 18, 33, 53 ms after its first attempt. A writer that finds our transaction running
 * gets in at the first retry after it ends: transactions of at most 15 ms let it in by 18 ms,
 * 25 ms ones only by 33 ms. While kagent writes, SQLite batches aim at this.
 */
#define WRITER_TXN_TARGET_US 15000
/*
 * Its later retries come 25, 50 and at last 100 ms apart (SQLite's longest busy-handler sleep):
 * a writer that has waited that long is only let in by a pause that outlasts its sleep.
 */
#define BUSY_SLEEP_MAX_MS 100
/*
 * A kagent commit on PostgreSQL flushes the WAL that our running batch has written so far (it
 * comes first in the log): while kagent writes, PostgreSQL batches stay this small, so that WAL
 * stays short (~1 MB here). Measured side by side on a disk, with the store's write-back while
 * kagent writes (backend_flush_after, see postgres.c): 250-row batches 40-45 s, kagent's p50
 * 2.0-2.4 ms, p99 16-19 ms; 500 rows 34-38 s, p50 3.1-3.7 ms, p99 15-23 ms; 1,000 rows 34.5 s,
 * p50 5.6 ms, p99 22 ms, max 344 ms.
 */
#define PG_WRITER_BATCH_MAX 500

const char *prune_outcome_name(enum prune_outcome o)
{
        switch (o) {
        case PRUNE_SUCCEEDED:
                return "Succeeded";
        case PRUNE_FAILED:
                return "Failed";
        case PRUNE_TRUNCATED:
                return "Truncated";
        case PRUNE_DRY_RUN:
                return "DryRun";
        case PRUNE_SKIPPED:
                return "Skipped";
        }
        return "Unknown";
}

/* Fill the plan parameters of 'rule' from the policy; false when the rule is off. */
static bool rule_params(const struct policy *p, enum store_rule rule, int64_t now,
                        struct store_rule_params *out)
{
        memset(out, 0, sizeof(*out));
        out->rule = rule;
        out->now_ms = now;
        out->active_cutoff_ms = now - p->active_window_ms;
        out->read_budget_ms = READ_BUDGET_MS;
        switch (rule) {
        case STORE_RULE_SESSIONS:
                if (p->session_expire_ms == POLICY_OFF)
                        return false;
                out->age_cutoff_ms = now - p->session_expire_ms;
                out->unfinished_cutoff_ms = now - p->session_expire_ms;
                return true;
        case STORE_RULE_SOFT_DELETED:
                if (p->soft_purge_ms == POLICY_OFF)
                        return false;
                out->age_cutoff_ms = now - p->soft_purge_ms;
                return true;
        case STORE_RULE_TASKS:
                if (p->task_finished_ms == POLICY_OFF)
                        return false;
                out->age_cutoff_ms = now - p->task_finished_ms;
                return true;
        case STORE_RULE_CHECKPOINTS:
                if (p->checkpoint_keep == POLICY_OFF)
                        return false;
                out->keep = p->checkpoint_keep;
                out->age_cutoff_ms =
                        now -
                        (p->checkpoint_min_age_ms == POLICY_OFF ? 0 : p->checkpoint_min_age_ms);
                return true;
        case STORE_RULE_EVENTS:
                if (p->event_max_age_ms == POLICY_OFF)
                        return false;
                out->age_cutoff_ms = now - p->event_max_age_ms;
                out->keep = p->event_keep_last == POLICY_OFF ? 0 : p->event_keep_last;
                return true;
        case STORE_RULE_CREWAI_MEMORY:
                if (p->crewai_memory_ms == POLICY_OFF)
                        return false;
                out->age_cutoff_ms = now - p->crewai_memory_ms;
                return true;
        case STORE_RULE_CREWAI_FLOW:
                if (p->crewai_flow_ms == POLICY_OFF)
                        return false;
                out->age_cutoff_ms = now - p->crewai_flow_ms;
                return true;
        case STORE_RULE_ORPHANS:
                out->age_cutoff_ms = out->active_cutoff_ms;
                return p->orphans;
        case STORE_RULE_COUNT:
                break;
        }
        return false;
}

struct engine {
        struct store *s;
        const struct prune_opts *o;
        const struct policy *p;
        struct prune_result *r;
        int64_t batch;           /* current batch size */
        int64_t deadline_ms;     /* monotonic */
        int64_t last_foreign_ms; /* monotonic time a foreign commit was last seen */
        int64_t t0_ms;           /* monotonic start */
        bool sqlite; /* writers wait in SQLite's busy handler (see WRITER_TXN_TARGET_US) */
        bool limit_hit;
        bool relieved;
        bool timed_out;
        bool stopped;
};

static bool should_stop(struct engine *e)
{
        if (e->relieved)
                return true;
        if (e->o->keep_going && !e->o->keep_going(e->o->keep_going_userdata)) {
                e->relieved = true;
                e->r->relieved = true;
                return true;
        }
        if (e->o->stop && *e->o->stop) {
                e->stopped = true;
                return true;
        }
        if (clock_mono_ms() >= e->deadline_ms) {
                e->timed_out = true;
                return true;
        }
        if (e->p->max_rows_per_run != POLICY_OFF && e->r->rows >= e->p->max_rows_per_run) {
                e->limit_hit = true;
                return true;
        }
        return false;
}

/*
 * Next batch size from the last one: aim at half the lock budget; while kagent is writing, on
 * SQLite at most WRITER_TXN_TARGET_US, on PostgreSQL at most PG_WRITER_BATCH_MAX rows.
 */
static void adapt_batch(struct engine *e, const struct store_batch_result *b)
{
        int64_t target_us = e->p->batch_max_lock_ms * 1000 / 2;
        bool writing = clock_mono_ms() - e->last_foreign_ms <= STORE_WRITERS_RECENT_MS;
        int64_t next;

        if (e->sqlite && writing && target_us > WRITER_TXN_TARGET_US)
                target_us = WRITER_TXN_TARGET_US;

        if (b->rows <= 0 || b->txn_us <= 0) {
                next = e->batch;
        } else if (b->txn_us > e->p->batch_max_lock_ms * 1000) {
                next = e->batch / 2;
        } else {
                next = b->rows * target_us / b->txn_us;
                if (next > e->batch * 2)
                        next = e->batch * 2; /* grow gently: the cost per row varies */
        }
        if (next < 1)
                next = 1;
        if (next > e->p->batch_max_rows)
                next = e->p->batch_max_rows;
        if (!e->sqlite && writing && next > PG_WRITER_BATCH_MAX)
                next = PG_WRITER_BATCH_MAX;
        e->batch = next;
}

/* Pause up to 'pause' ms, ending as soon as another connection has committed. */
static void pause_until_commit(struct engine *e, int64_t pause)
{
        for (int64_t left = pause; left > 0 && !(e->o->stop && *e->o->stop);) {
                int64_t slice = left < PACE_SLICE_MS ? left : PACE_SLICE_MS;

                clock_sleep_ms(slice, e->o->stop);
                left -= slice;
                if (store_others_wrote(e->s)) {
                        e->last_foreign_ms = clock_mono_ms();
                        break;
                }
        }
}

/*
 * Another process read the database file during the batch: a kagent writer asleep in SQLite's
 * busy handler, or a reader. The writer reads the file again at its next retry and commits at
 * once; a reader commits nothing. The lock stays free until a commit, for at least 'pause'
 * and at most a busy-handler sleep (BUSY_SLEEP_MAX_MS) and a slice, and no longer than two
 * slices after a read that no commit followed (a reader: waiting longer would not help it).
 */
static void pause_for_waiter(struct engine *e, int64_t pause)
{
        int64_t t0 = clock_mono_ms();
        int64_t limit = pause > BUSY_SLEEP_MAX_MS + PACE_SLICE_MS
                                ? pause
                                : BUSY_SLEEP_MAX_MS + PACE_SLICE_MS;
        int64_t read_ms = -1;

        if (pause <= 0) /* the policy asks for none */
                return;
        while (!(e->o->stop && *e->o->stop)) {
                int64_t now = clock_mono_ms();

                if (now - t0 >= limit)
                        break;
                if (read_ms >= 0 && now - t0 >= pause &&
                    now - read_ms >= 2 * (int64_t)PACE_SLICE_MS)
                        break;
                clock_sleep_ms(PACE_SLICE_MS, e->o->stop);
                if (store_others_wrote(e->s)) {
                        e->last_foreign_ms = clock_mono_ms();
                        break;
                }
                if (read_ms < 0 && store_others_waiting(e->s) > 0)
                        read_ms = clock_mono_ms();
        }
}

/*
 * Give kagent's writers the SQLite database lock. While they are active (a foreign commit within
 * STORE_WRITERS_RECENT_MS) the pause ends as soon as one of them has committed (it was waiting for
 * our transaction and is through), else after batch.pause. While nobody commits, a writer may
 * still be asleep in its busy handler, waiting for our transaction: the store tells whether
 * another process touched the database file during the batch (store_others_waiting()); if so,
 * a pause that outlasts the writer's busy-handler sleep gives it the lock at its next retry
 * (pause_for_waiter()), and if nobody did, the next batch follows at once. Where the store cannot
 * tell, the lock stays free for a quarter of the time we held it. PostgreSQL writers never wait for
 * a lock of ours (only for rows, and a batch holds just those of idle sessions): no pause there,
 * and its store sees the foreign commits itself (see store_others_wrote()).
 */
static void pace(struct engine *e, const struct store_batch_result *b)
{
        int64_t t0 = clock_mono_ms();
        int64_t pause = e->p->batch_pause_ms;

        if (store_others_wrote(e->s))
                e->last_foreign_ms = t0;
        if (!e->sqlite)
                return;
        if (t0 - e->last_foreign_ms <= STORE_WRITERS_RECENT_MS) {
                pause_until_commit(e, pause);
        } else {
                int waiting = store_others_waiting(e->s);

                if (waiting > 0) {
                        pause_for_waiter(e, pause);
                } else if (waiting < 0) {
                        /*
                         * Leave the lock free for a quarter of the time we held it, so a
                         * sleeping writer's retries find it free with high probability.
                         */
                        int64_t idle = b->txn_us / 4000;

                        if (idle < 1)
                                idle = 1;
                        if (idle < pause)
                                pause = idle;
                        clock_sleep_ms(pause, e->o->stop);
                }
        }
        e->r->paused_ms += clock_mono_ms() - t0;
}

static void add_counts(struct prune_rule_result *rr, const struct store_count *tables)
{
        rr->ran = true;
        for (int t = 0; t < STORE_T_COUNT; t++) {
                rr->tables[t].rows += tables[t].rows;
                rr->tables[t].bytes += tables[t].bytes;
                rr->rows += tables[t].rows;
                rr->bytes += tables[t].bytes;
        }
}

static int execute(struct engine *e, enum store_rule rule, struct errbuf *err)
{
        struct prune_rule_result *rr = &e->r->rules[rule];
        int busy = 0;

        for (;;) {
                struct store_batch_result b;
                int64_t n = e->batch;
                int rc;

                if (should_stop(e))
                        return 0;
                if (e->p->max_rows_per_run != POLICY_OFF && n > e->p->max_rows_per_run - e->r->rows)
                        n = e->p->max_rows_per_run - e->r->rows;
                rc = store_delete_batch(e->s, n, &b, err);
                if (rc == -EBUSY && busy < BUSY_RETRIES_MAX) {
                        busy++;
                        e->r->busy_retries++;
                        log_debug("database busy, retrying", LOG_INT("attempt", busy));
                        clock_sleep_ms(e->p->batch_pause_ms + 50 * (int64_t)busy, e->o->stop);
                        continue;
                }
                if (rc < 0)
                        return rc;
                busy = 0;
                if (b.rows > 0 || b.skipped_units > 0) {
                        struct store_count counted[STORE_T_COUNT];

                        e->r->batches++;
                        if (b.txn_us > e->r->max_batch_us)
                                e->r->max_batch_us = b.txn_us;
                        e->r->skipped_units += b.skipped_units;
                        memcpy(counted, b.tables, sizeof(counted));
                        add_counts(rr, counted);
                        e->r->rows += b.rows;
                        for (int t = 0; t < STORE_T_COUNT; t++)
                                e->r->bytes += b.tables[t].bytes;
                        if (e->o->on_batch)
                                e->o->on_batch(&b, e->o->on_batch_userdata);
                        log_debug("batch", LOG_STR("rule", store_rule_name(rule)),
                                  LOG_INT("rows", b.rows), LOG_INT("txn_us", b.txn_us),
                                  LOG_INT("next", e->batch));
                }
                if (b.done)
                        return 0;
                adapt_batch(e, &b);
                pace(e, &b);
        }
}

static void finish(struct engine *e, int rc, const struct errbuf *err)
{
        struct prune_result *r = e->r;
        bool dry = e->o->dry_run || e->p->dry_run;

        if (rc < 0) {
                r->outcome = PRUNE_FAILED;
                (void)snprintf(r->message, sizeof(r->message), "%s", errbuf_msg(err));
        } else if (e->limit_hit || e->timed_out || e->stopped) {
                r->outcome = PRUNE_TRUNCATED;
                (void)snprintf(r->message, sizeof(r->message), "%s after %lld rows",
                               e->limit_hit   ? "stopped at limits.maxRowsPerRun"
                               : e->timed_out ? "stopped at limits.runTimeout"
                                              : "stopped on request",
                               (long long)r->rows);
        } else if (dry) {
                r->outcome = PRUNE_DRY_RUN;
                (void)snprintf(r->message, sizeof(r->message),
                               "dry run: %lld rows would be deleted", (long long)r->rows);
        } else {
                r->outcome = PRUNE_SUCCEEDED;
                (void)snprintf(r->message, sizeof(r->message), "deleted %lld rows",
                               (long long)r->rows);
        }
}

/*
 * Plan one rule and, unless this is a dry run, execute it. Returns 0 to go on with the next
 * rule, 1 to end the run early without an error, or a negative errno.
 */
static int run_planned(struct engine *e, struct store_rule_params rp, bool dry, struct errbuf *err)
{
        struct prune_result *out = e->r;
        enum store_rule rule = rp.rule;
        struct store_plan_result plan;
        int64_t p0;
        int rc;

        if (should_stop(e))
                return 1;
        rp.deadline_mono_ms = e->deadline_ms;
        rp.stop = e->o->stop;
        rp.dry_run = dry;
        p0 = clock_mono_ms();
        rc = store_plan(e->s, &rp, &plan, err);
        out->plan_ms += clock_mono_ms() - p0;
        if (rc == -ETIMEDOUT) {
                e->timed_out = true;
                return 1;
        }
        if (rc == -ECANCELED) {
                e->stopped = true;
                return 1;
        }
        if (rc < 0)
                return rc;
        if (plan.max_read_ms > out->max_read_ms)
                out->max_read_ms = plan.max_read_ms;
        log_debug("planned", LOG_STR("rule", store_rule_name(rule)), LOG_INT("rows", plan.rows),
                  LOG_INT("statements", plan.statements), LOG_INT("max_read_ms", plan.max_read_ms));
        if (dry) {
                add_counts(&out->rules[rule], plan.tables);
                out->rows += plan.rows;
                for (int t = 0; t < STORE_T_COUNT; t++)
                        out->bytes += plan.tables[t].bytes;
                return 0;
        }
        out->rules[rule].ran = true;
        if (plan.rows == 0)
                return 0;
        rc = execute(e, rule, err);
        if (rc < 0)
                return rc;
        if (e->stopped || e->timed_out || e->limit_hit || e->relieved)
                return 1;
        return 0;
}

static int run_rule(struct engine *e, enum store_rule rule, int64_t now, bool dry,
                    struct errbuf *err)
{
        struct store_rule_params rp;

        if (!rule_params(e->p, rule, now, &rp))
                return 0;
        return run_planned(e, rp, dry, err);
}

/* Prepare the engine and take the store for writing. Returns 1 to go on, 0 when the store
 * cannot be written now (outcome Skipped is set), or a negative errno. */
static int engine_begin(struct engine *e, struct store *s, const struct prune_opts *o,
                        struct prune_result *out, struct errbuf *rerr)
{
        int64_t t0 = clock_mono_ms();
        int rc;

        memset(out, 0, sizeof(*out));
        memset(e, 0, sizeof(*e));
        e->s = s;
        e->o = o;
        e->p = o->policy;
        e->r = out;
        e->batch = e->p->batch_max_rows < BATCH_INITIAL ? e->p->batch_max_rows : BATCH_INITIAL;
        e->deadline_ms = t0 + e->p->run_timeout_ms;
        e->last_foreign_ms = t0 - 10 * (int64_t)STORE_WRITERS_RECENT_MS;
        e->sqlite = store_info(s)->type == STORE_SQLITE;
        e->t0_ms = t0;
        out->start_wall_ms = clock_wall_ms();
        rc = store_writer_acquire(s, rerr);
        if (rc == 0) {
                out->outcome = PRUNE_SKIPPED;
                (void)snprintf(out->message, sizeof(out->message), "%s",
                               store_info(s)->not_writable_reason);
                return 0;
        }
        if (rc < 0)
                return rc;
        rc = store_run_begin(s, rerr);
        if (rc < 0)
                return rc;
        (void)store_others_wrote(s); /* prime data_version */
        return 1;
}

static void engine_end(struct engine *e, int rc, const struct errbuf *rerr)
{
        if (rc == 0 || rc == -ETIMEDOUT)
                (void)store_plan_discard(e->s, NULL);
        store_writer_release(e->s);
        finish(e, rc, rerr);
}

static void engine_times(struct engine *e)
{
        e->r->end_wall_ms = clock_wall_ms();
        e->r->duration_ms = clock_mono_ms() - e->t0_ms;
}

int prune_run(struct store *s, const struct prune_opts *o, struct prune_result *out,
              struct errbuf *err)
{
        static const enum store_rule order[] = {
                STORE_RULE_SESSIONS,    STORE_RULE_SOFT_DELETED, STORE_RULE_TASKS,
                STORE_RULE_CHECKPOINTS, STORE_RULE_EVENTS,       STORE_RULE_CREWAI_MEMORY,
                STORE_RULE_CREWAI_FLOW, STORE_RULE_ORPHANS,
        };
        struct engine e;
        struct errbuf rerr;
        int64_t now;
        bool dry;
        int rc;

        if (!s || !o || !o->policy || !out)
                return errbuf_set(err, -EINVAL, "prune_run: missing argument");
        errbuf_clear(&rerr);
        dry = o->dry_run || o->policy->dry_run;
        now = o->now_ms ? o->now_ms : clock_wall_ms();
        rc = engine_begin(&e, s, o, out, &rerr);
        if (rc == 0) {
                engine_times(&e);
                return 0;
        }
        if (rc > 0)
                rc = 0;
        for (size_t i = 0; rc == 0 && i < sizeof(order) / sizeof(order[0]); i++) {
                int step = run_rule(&e, order[i], now, dry, &rerr);

                if (step < 0)
                        rc = step;
                if (step != 0)
                        break;
        }
        engine_end(&e, rc, &rerr);
        engine_times(&e);
        return 0;
}

#define IDLE_SESSIONS_PER_ROUND 20
#define UNFINISHED_DEFAULT_MS   (30LL * 24 * 3600 * 1000)

/* The plan parameters of a ladder step: the rule's ages ignored, activeWindow kept. */
static struct store_rule_params step_params(const struct policy *p, enum policy_step step,
                                            int64_t now)
{
        struct store_rule_params rp;

        memset(&rp, 0, sizeof(rp));
        rp.now_ms = now;
        rp.active_cutoff_ms = now - p->active_window_ms;
        rp.age_cutoff_ms = now;
        rp.read_budget_ms = READ_BUDGET_MS;
        switch (step) {
        case POLICY_STEP_SOFT_DELETED:
                rp.rule = STORE_RULE_SOFT_DELETED;
                break;
        case POLICY_STEP_ORPHANS:
                rp.rule = STORE_RULE_ORPHANS;
                rp.age_cutoff_ms = rp.active_cutoff_ms;
                break;
        case POLICY_STEP_CHECKPOINTS:
                rp.rule = STORE_RULE_CHECKPOINTS;
                rp.keep = 1;
                break;
        case POLICY_STEP_FINISHED_TASKS:
                rp.rule = STORE_RULE_TASKS;
                break;
        case POLICY_STEP_IDLE_SESSIONS:
                rp.rule = STORE_RULE_SESSIONS;
                rp.age_cutoff_ms = rp.active_cutoff_ms;
                /* A session with a task still running is kept even under pressure. */
                rp.unfinished_cutoff_ms =
                        now - (p->session_expire_ms != POLICY_OFF ? p->session_expire_ms
                                                                  : UNFINISHED_DEFAULT_MS);
                rp.max_sessions = IDLE_SESSIONS_PER_ROUND;
                break;
        }
        return rp;
}

/* Run one ladder step; idle sessions go a few at a time, oldest first, re-checking the goal. */
static int run_step(struct engine *e, enum policy_step step, int64_t now, struct errbuf *err)
{
        struct store_rule_params rp = step_params(e->p, step, now);
        struct prune_step_result *sr = &e->r->steps[step];
        int64_t rows0 = e->r->rows;
        int64_t bytes0 = e->r->bytes;
        int rc;

        sr->ran = true;
        for (;;) {
                int64_t before = e->r->rows;

                rc = run_planned(e, rp, false, err);
                if (rc != 0 || step != POLICY_STEP_IDLE_SESSIONS || e->r->rows == before)
                        break;
        }
        sr->rows = e->r->rows - rows0;
        sr->bytes = e->r->bytes - bytes0;
        (void)should_stop(e); /* measure once more: did this step reach the goal? */
        sr->relieved = e->relieved;
        log_info("emergency step finished", LOG_STR("step", policy_step_name(step)),
                 LOG_INT("rows", sr->rows), LOG_INT("bytes", sr->bytes),
                 LOG_BOOL("relieved", sr->relieved));
        return rc;
}

int prune_emergency(struct store *s, const struct prune_opts *o, struct prune_result *out,
                    struct errbuf *err)
{
        struct engine e;
        struct errbuf rerr;
        int64_t now;
        int rc;

        if (!s || !o || !o->policy || !out)
                return errbuf_set(err, -EINVAL, "prune_emergency: missing argument");
        errbuf_clear(&rerr);
        now = o->now_ms ? o->now_ms : clock_wall_ms();
        if (o->dry_run || o->policy->dry_run) {
                memset(out, 0, sizeof(*out));
                out->outcome = PRUNE_DRY_RUN;
                (void)snprintf(out->message, sizeof(out->message),
                               "dry run: the emergency ladder deletes nothing");
                return 0;
        }
        rc = engine_begin(&e, s, o, out, &rerr);
        if (rc == 0) {
                engine_times(&e);
                return 0;
        }
        if (rc > 0)
                rc = 0;
        for (size_t i = 0; rc == 0 && i < o->policy->n_steps && !should_stop(&e); i++) {
                int step = run_step(&e, o->policy->steps[i], now, &rerr);

                if (step < 0)
                        rc = step;
                if (e.stopped || e.timed_out || e.limit_hit || e.relieved)
                        break;
        }
        engine_end(&e, rc, &rerr);
        if (out->outcome == PRUNE_SUCCEEDED && !out->relieved)
                (void)snprintf(out->message, sizeof(out->message),
                               "deleted %lld rows; every step ran and the low watermark was not "
                               "reached",
                               (long long)out->rows);
        else if (out->outcome == PRUNE_SUCCEEDED)
                (void)snprintf(out->message, sizeof(out->message),
                               "deleted %lld rows; below the low watermark", (long long)out->rows);
        engine_times(&e);
        return 0;
}
