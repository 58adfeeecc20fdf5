/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The controller loop: measure cheaply every few seconds, relieve volume pressure at once with
 * the emergency ladder, prune on schedule, reclaim space, and keep a reserve file so that a
 * volume filled by a burst can still be pruned (a rollback journal needs free space on the
 * volume; the reserve is released to make it, and recreated once there is room again).
 */
#define LOG_MODULE "controller"
#include "controller/controller.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "base/str.h"
#include "base/waker.h"
#include "controller/internal.h"
#include "httpd/httpd.h"
#include "krmetrics/krmetrics.h"
#include "log/log.h"

#define POLL_DEFAULT_MS       2000
#define TABLE_SCAN_DEFAULT_MS ((int64_t)5 * 60 * 1000)
#define LADDER_BACKOFF_MIN_MS ((int64_t)10 * 1000)
#define LADDER_BACKOFF_MAX_MS ((int64_t)5 * 60 * 1000)
#define RESERVE_DEFAULT       (8 << 20)
#define INCREMENTAL_MAX_MS    2000

struct controller {
        struct controller_config cfg;
        char *sqlite_path;
        char *postgres_url;
        char *policy_file;
        char dir[4096];
        char reserve_path[4200];
        struct store *store;
        struct policy policy;
        int64_t policy_mtime;
        bool policy_changed;
        struct volume_growth growth;
        struct controller_state st;
        int64_t next_poll_ms;
        int64_t next_scan_ms;
        int64_t next_ladder_ms;    /* monotonic: no emergency ladder before this */
        int64_t ladder_backoff_ms; /* grows while ladders find nothing to delete */
        int64_t last_foreign_write_ms;
        const volatile int *stop;
        struct kubesync *ks; /* NULL without Kubernetes */
        struct waker wake;   /* the Kubernetes thread (a new policy or leadership), signals */
};

static int64_t mtime_ns(const char *path)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return -1;
        return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

/* Export the policy state and readiness. */
static void publish_policy(struct controller *c)
{
        char detail[320];

        if (c->cfg.metrics) {
                struct krmetrics_policy mp = {
                        .name = c->policy.name[0] ? c->policy.name : "file",
                        .generation = c->policy.generation,
                        .dry_run = c->policy.dry_run,
                        .suspended = c->policy.suspend,
                        .valid = c->st.policy_valid,
                        .interval_s = c->policy.interval_ms / 1000,
                };

                (void)krmetrics_policy_set(c->cfg.metrics, c->st.have_policy ? &mp : NULL, NULL);
        }
        if (!c->cfg.health)
                return;
        if (!c->st.have_policy)
                (void)snprintf(detail, sizeof(detail), "monitor-only: no policy");
        else if (!c->st.policy_valid)
                (void)snprintf(detail, sizeof(detail), "policy invalid: %s", c->st.policy_error);
        else if (c->st.db_corrupt)
                (void)snprintf(detail, sizeof(detail), "measuring only: %s",
                               c->st.db_corrupt_reason);
        else if (!store_info(c->store)->writable)
                (void)snprintf(detail, sizeof(detail), "measuring only: %s",
                               store_info(c->store)->not_writable_reason);
        else
                detail[0] = '\0';
        httpd_health_set_ready(c->cfg.health, true, detail[0] ? detail : NULL);
}

void controller_set_policy(struct controller *c, const struct policy *p)
{
        if (!p) {
                c->st.have_policy = false;
                publish_policy(c);
                return;
        }
        c->policy = *p;
        c->st.have_policy = true;
        c->st.policy_valid = true;
        c->st.policy_error[0] = '\0';
        c->policy_changed = true;
        publish_policy(c);
}

/* Re-read the policy file when it changed; an invalid file keeps the last valid policy. */
static void reload_policy(struct controller *c)
{
        struct policy_errors errs;
        struct policy p;
        struct errbuf err;
        int64_t m;
        int rc;

        if (!c->policy_file)
                return;
        m = mtime_ns(c->policy_file);
        if (m == c->policy_mtime)
                return;
        c->policy_mtime = m;
        errbuf_clear(&err);
        memset(&errs, 0, sizeof(errs));
        rc = policy_load_file(c->policy_file, &p, &errs, &err);
        if (rc == 0) {
                controller_set_policy(c, &p);
                log_info("policy loaded", LOG_STR("file", c->policy_file), LOG_STR("name", p.name));
                return;
        }
        if (rc == -ENOMEM) {
                /* Not the file's fault: keep what we had and read it again at the next poll. */
                c->policy_mtime = -2;
                log_warn("policy file not read: out of memory; retrying",
                         LOG_STR("file", c->policy_file));
                return;
        }
        c->st.policy_valid = false;
        (void)snprintf(c->st.policy_error, sizeof(c->st.policy_error), "%s", errbuf_msg(&err));
        publish_policy(c);
        log_error("policy invalid: nothing is deleted until it is fixed",
                  LOG_STR("file", c->policy_file), LOG_STR("error", errbuf_msg(&err)),
                  LOG_BOOL("keeping_last_valid", c->st.have_policy));
}

static bool policy_active(const struct controller *c)
{
        return c->st.have_policy && c->st.policy_valid && !c->policy.suspend && c->st.is_leader &&
               !c->st.db_corrupt;
}

/*
 * A corrupt database is never written: quick_check once at start (it reads every page under a
 * shared lock, so it runs only here, not before every run).
 */
static void check_database(struct controller *c)
{
        struct errbuf err;
        int rc;

        errbuf_clear(&err);
        rc = store_check(c->store, &err);
        if (rc == 0)
                return;
        if (rc != -EIO) {
                /* Not corruption (e.g. PostgreSQL unreachable): runs fail and retry instead. */
                log_warn("database check not possible", LOG_STR("error", errbuf_msg(&err)));
                return;
        }
        c->st.db_corrupt = true;
        (void)str_copy(c->st.db_corrupt_reason, errbuf_msg(&err), sizeof(c->st.db_corrupt_reason));
        log_error("database failed its integrity check: nothing will be deleted",
                  LOG_STR("error", c->st.db_corrupt_reason));
}

/* Take what the Kubernetes thread learned: a new policy (valid, invalid or gone), leadership. */
static void sync_from_kube(struct controller *c)
{
        enum kubesync_policy state;
        struct policy p;
        char error[1024];

        if (!c->ks)
                return;
        c->st.is_leader = kubesync_is_leader(c->ks);
        c->st.api_reachable = kubesync_api_reachable(c->ks);
        if (!kubesync_take_policy(c->ks, &state, &p, error, sizeof(error)))
                return;
        switch (state) {
        case KUBESYNC_VALID:
                controller_set_policy(c, &p);
                break;
        case KUBESYNC_INVALID:
                c->st.have_policy = true;
                c->st.policy_valid = false;
                (void)str_copy(c->st.policy_error, error, sizeof(c->st.policy_error));
                publish_policy(c);
                kubesync_event(c->ks, "Warning", "InvalidSpec", error);
                break;
        case KUBESYNC_NO_POLICY:
                controller_set_policy(c, NULL);
                log_info("monitor-only: no policy, nothing is deleted");
                break;
        }
}

/* Hand the Kubernetes thread the status to write. */
static void sync_to_kube(struct controller *c)
{
        const struct store_info *info = store_info(c->store);

        (void)str_copy(c->st.db_type, store_type_name(info->type), sizeof(c->st.db_type));
        (void)str_copy(c->st.db_schema, store_schema_name(info->schema), sizeof(c->st.db_schema));
        c->st.db_writable = info->writable && !c->st.db_corrupt;
        (void)str_copy(c->st.not_writable_reason,
                       c->st.db_corrupt ? c->st.db_corrupt_reason : info->not_writable_reason,
                       sizeof(c->st.not_writable_reason));
        if (c->ks && c->st.have_policy)
                kubesync_publish(c->ks, &c->st, &c->policy);
}

/* ---- the reserve file ------------------------------------------------------------------ */

static void reserve_release(struct controller *c, const char *why)
{
        if (!c->st.reserve_present)
                return;
        if (unlink(c->reserve_path) < 0 && errno != ENOENT) {
                log_warn("reserve file could not be removed", LOG_STR("path", c->reserve_path),
                         LOG_ERRNO(-errno));
                return;
        }
        c->st.reserve_present = false;
        log_warn("reserve released", LOG_STR("reason", why),
                 LOG_INT("bytes", c->cfg.reserve_bytes));
}

/* Create the reserve when the volume has room for it twice over. */
static void reserve_ensure(struct controller *c)
{
        int fd;
        int rc;

        if (c->cfg.reserve_bytes <= 0 || c->cfg.store.type != STORE_SQLITE)
                return;
        if (c->st.reserve_present) {
                struct stat st;

                if (stat(c->reserve_path, &st) == 0)
                        return;
                c->st.reserve_present = false;
        }
        if (c->st.vol.fs_avail_bytes < 2 * c->cfg.reserve_bytes + (1 << 20))
                return;
        fd = open(c->reserve_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
                if (errno == EEXIST) {
                        c->st.reserve_present = true;
                        return;
                }
                log_warn("reserve file could not be created", LOG_STR("path", c->reserve_path),
                         LOG_ERRNO(-errno));
                return;
        }
        rc = posix_fallocate(fd, 0, (off_t)c->cfg.reserve_bytes);
        close(fd);
        if (rc != 0) {
                (void)unlink(c->reserve_path);
                log_warn("reserve file could not be allocated", LOG_ERRNO(-rc));
                return;
        }
        c->st.reserve_present = true;
        log_info("reserve created", LOG_STR("path", c->reserve_path),
                 LOG_INT("bytes", c->cfg.reserve_bytes));
}

/* ---- measuring ------------------------------------------------------------------------- */

static void publish_measurements(struct controller *c)
{
        struct krmetrics_volume v;
        bool have = c->st.have_policy && c->st.policy_valid;

        if (!c->cfg.metrics)
                return;
        krmetrics_usage_set(c->cfg.metrics, &c->st.db);
        krmetrics_writable_set(c->cfg.metrics, store_info(c->store)->writable && !c->st.db_corrupt);
        if (c->cfg.store.type != STORE_SQLITE)
                return;
        memset(&v, 0, sizeof(v));
        v.used_bytes = c->st.vol.used_bytes;
        v.limit_bytes = c->st.vol.limit_bytes;
        v.usage_ratio = c->st.vol.usage_ratio;
        v.growth_bytes_per_second = c->st.growth_known ? c->st.growth_bytes_per_hour / 3600.0 : NAN;
        v.seconds_to_full = !c->st.growth_known ? NAN : (double)c->st.seconds_to_full;
        v.high_watermark_ratio = have ? c->policy.high_watermark_pct / 100.0 : NAN;
        v.low_watermark_ratio = have ? c->policy.low_watermark_pct / 100.0 : NAN;
        v.pressure = c->st.volume_pressure;
        krmetrics_volume_set(c->cfg.metrics, &v);
}

static int measure(struct controller *c, int64_t now_ms, bool per_table)
{
        struct errbuf err;
        int64_t spec_limit = c->st.have_policy && c->policy.size_limit_bytes != POLICY_OFF
                                     ? c->policy.size_limit_bytes
                                     : 0;
        int64_t reclaimable;
        int rc;

        errbuf_clear(&err);
        rc = store_measure(c->store, per_table, &c->st.db, &err);
        if (rc < 0) {
                log_warn("database measurement failed", LOG_STR("error", errbuf_msg(&err)));
                return rc;
        }
        if (store_others_wrote(c->store))
                c->last_foreign_write_ms = now_ms;
        c->st.writers_idle_ms = now_ms - c->last_foreign_write_ms;
        if (c->cfg.store.type != STORE_SQLITE) {
                publish_measurements(c);
                return 0;
        }
        /* Free pages inside the file and the reserve file are both room kagent can have. */
        reclaimable = c->st.db.free_bytes + (c->st.reserve_present ? c->cfg.reserve_bytes : 0);
        rc = volume_measure(c->dir, spec_limit, c->cfg.pod_limit_bytes, reclaimable, &c->st.vol,
                            &err);
        if (rc < 0) {
                log_warn("volume measurement failed", LOG_STR("error", errbuf_msg(&err)));
                return rc;
        }
        volume_growth_add(&c->growth, now_ms, c->st.vol.used_bytes - reclaimable);
        c->st.growth_known = volume_growth_rate(&c->growth, &c->st.growth_bytes_per_hour);
        c->st.seconds_to_full = volume_growth_seconds_to(&c->growth, c->st.vol.limit_bytes);
        publish_measurements(c);
        return 0;
}

static double usage_pct(const struct controller *c)
{
        return c->st.vol.usage_ratio * 100.0;
}

/* ---- emergency ladder ------------------------------------------------------------------ */

static void on_batch(const struct store_batch_result *b, void *userdata)
{
        struct controller *c = userdata;

        if (c->cfg.metrics)
                krmetrics_batch_observe(c->cfg.metrics, b);
        if (c->cfg.health)
                httpd_health_beat(c->cfg.health);
}

/* Between batches of a run: beat the liveness heartbeat, and stop at once when the Lease
 * was lost (another replica may already be pruning). */
static bool beat(void *userdata)
{
        struct controller *c = userdata;

        if (c->cfg.health)
                httpd_health_beat(c->cfg.health);
        if (c->ks && !kubesync_is_leader(c->ks)) {
                log_warn("leadership lost: stopping the run");
                c->st.is_leader = false;
                return false;
        }
        return true;
}

static bool above_low(void *userdata)
{
        struct controller *c = userdata;

        if (!beat(c))
                return false;
        if (measure(c, clock_mono_ms(), false) < 0)
                return true;
        return usage_pct(c) > (double)c->policy.low_watermark_pct;
}

/*
 * After a run: the store drops its planning tables and caches, and the allocator returns the
 * freed heap to the system, so an idle sidecar holds only what idling needs.
 */
static void release_memory(struct controller *c)
{
        store_release(c->store);
#ifdef __GLIBC__
        (void)malloc_trim(0);
#endif
}

static void reclaim(struct controller *c, const struct prune_result *r)
{
        struct store_reclaim_params p;
        struct errbuf err;

        memset(&p, 0, sizeof(p));
        p.mode = (enum store_reclaim_mode)c->policy.reclaim;
        p.volume_free_bytes = c->cfg.store.type == STORE_SQLITE ? c->st.vol.fs_avail_bytes : -1;
        p.writers_idle_ms = c->st.writers_idle_ms;
        p.max_ms = INCREMENTAL_MAX_MS;
        p.step_pause_ms = c->policy.batch_pause_ms;
        p.stop = c->stop;
        for (int t = 0; t < STORE_T_COUNT; t++)
                for (int rule = 0; rule < STORE_RULE_COUNT; rule++)
                        p.deleted_rows[t] += r->rules[rule].tables[t].rows;
        errbuf_clear(&err);
        if (store_writer_acquire(c->store, &err) <= 0)
                return;
        if (store_reclaim(c->store, &p, &c->st.last_reclaim, &err) < 0)
                log_warn("reclaim failed", LOG_STR("error", errbuf_msg(&err)));
        else if (c->cfg.metrics)
                krmetrics_reclaim_record(c->cfg.metrics, &c->st.last_reclaim);
        else if (c->st.last_reclaim.reclaimed_bytes > 0 ||
                 strncmp(c->st.last_reclaim.action, "none", 4) != 0)
                log_info("reclaimed", LOG_STR("action", c->st.last_reclaim.action),
                         LOG_INT("bytes", c->st.last_reclaim.reclaimed_bytes));
        store_writer_release(c->store);
}

static void run_ladder(struct controller *c)
{
        struct prune_opts o;
        struct errbuf err;
        struct prune_result *r = &c->st.last_ladder;

        log_warn("volume pressure: running the emergency ladder",
                 LOG_DBL("usage_percent", usage_pct(c)),
                 LOG_INT("high_watermark", c->policy.high_watermark_pct),
                 LOG_INT("low_watermark", c->policy.low_watermark_pct),
                 LOG_INT("fs_avail_bytes", c->st.vol.fs_avail_bytes));
        /* Deleting needs room for a rollback journal: give back the reserve when short. */
        if (c->st.vol.fs_avail_bytes < c->cfg.reserve_bytes + (1 << 20))
                reserve_release(c, "volume nearly full: room for the delete journal");
        memset(&o, 0, sizeof(o));
        o.policy = &c->policy;
        o.stop = c->stop;
        o.keep_going = above_low;
        o.keep_going_userdata = c;
        o.on_batch = on_batch;
        o.on_batch_userdata = c;
        errbuf_clear(&err);
        (void)prune_emergency(c->store, &o, r, &err);
        c->st.ladders++;
        /*
         * A ladder that found nothing to delete will find nothing at the next poll either: back
         * off (doubling up to LADDER_BACKOFF_MAX_MS) until usage drops or data becomes eligible.
         * One that deleted rows goes on at the next poll.
         */
        if (r->rows > 0 || r->relieved) {
                c->ladder_backoff_ms = 0;
        } else {
                c->ladder_backoff_ms =
                        c->ladder_backoff_ms ? c->ladder_backoff_ms * 2 : LADDER_BACKOFF_MIN_MS;
                if (c->ladder_backoff_ms > LADDER_BACKOFF_MAX_MS)
                        c->ladder_backoff_ms = LADDER_BACKOFF_MAX_MS;
        }
        c->next_ladder_ms = clock_mono_ms() + c->ladder_backoff_ms;
        reclaim(c, r);
        release_memory(c);
        (void)measure(c, clock_mono_ms(), false);
        c->st.volume_pressure = usage_pct(c) >= (double)c->policy.high_watermark_pct ||
                                (!r->relieved && usage_pct(c) > c->policy.low_watermark_pct);
        if (!r->relieved && usage_pct(c) > c->policy.low_watermark_pct)
                (void)snprintf(c->st.pressure_reason, sizeof(c->st.pressure_reason),
                               "the emergency ladder could not get below the low watermark "
                               "(%.1f%% > %d%%): %s",
                               usage_pct(c), c->policy.low_watermark_pct, r->message);
        else
                c->st.pressure_reason[0] = '\0';
        if (c->cfg.metrics)
                krmetrics_emergency_record(c->cfg.metrics, r);
        if (c->ks) {
                char msg[512];

                (void)snprintf(msg, sizeof(msg),
                               "volume at %.1f%% of its limit: emergency ladder %s: %s",
                               usage_pct(c), r->relieved ? "relieved it" : "did not relieve it",
                               r->message);
                kubesync_event(c->ks, "Warning", "VolumePressure", msg);
        }
        publish_measurements(c);
        log_info("emergency ladder finished", LOG_STR("result", prune_outcome_name(r->outcome)),
                 LOG_STR("message", r->message), LOG_INT("rows", r->rows),
                 LOG_BOOL("relieved", r->relieved), LOG_DBL("usage_percent", usage_pct(c)),
                 LOG_INT("duration_ms", r->duration_ms));
}

/* ---- scheduled runs -------------------------------------------------------------------- */

static void log_run(const struct prune_result *r)
{
        log_info("prune run finished", LOG_STR("result", prune_outcome_name(r->outcome)),
                 LOG_STR("message", r->message), LOG_INT("rows", r->rows),
                 LOG_INT("bytes", r->bytes), LOG_INT("batches", r->batches),
                 LOG_DBL("max_batch_ms", (double)r->max_batch_us / 1000.0),
                 LOG_INT("busy_retries", r->busy_retries), LOG_INT("duration_ms", r->duration_ms));
}

static void scheduled_run(struct controller *c)
{
        struct prune_opts o;
        struct errbuf err;
        struct prune_result *r = &c->st.last_run;

        memset(&o, 0, sizeof(o));
        o.policy = &c->policy;
        o.stop = c->stop;
        o.keep_going = beat;
        o.keep_going_userdata = c;
        o.on_batch = on_batch;
        o.on_batch_userdata = c;
        errbuf_clear(&err);
        (void)prune_run(c->store, &o, r, &err);
        c->st.runs++;
        log_run(r);
        if (c->cfg.metrics)
                krmetrics_run_record(c->cfg.metrics, r);
        c->st.run_failed = r->outcome == PRUNE_FAILED;
        if (c->ks) {
                static const char *const reasons[] = {
                        [PRUNE_SUCCEEDED] = "PruneSucceeded", [PRUNE_FAILED] = "PruneFailed",
                        [PRUNE_TRUNCATED] = "PruneSucceeded", [PRUNE_DRY_RUN] = "PruneDryRun",
                        [PRUNE_SKIPPED] = "PruneSkipped",
                };
                bool warn = r->outcome == PRUNE_FAILED || r->outcome == PRUNE_SKIPPED;

                kubesync_event(c->ks, warn ? "Warning" : "Normal", reasons[r->outcome], r->message);
        }
        if (r->outcome == PRUNE_FAILED)
                c->st.failures++;
        if (r->outcome == PRUNE_SUCCEEDED || r->outcome == PRUNE_TRUNCATED ||
            r->outcome == PRUNE_DRY_RUN)
                c->st.last_success_wall_ms = clock_wall_ms();
        if (r->outcome == PRUNE_SUCCEEDED || r->outcome == PRUNE_TRUNCATED)
                reclaim(c, r);
        release_memory(c);
}

int controller_tick(struct controller *c, int64_t now_ms, const volatile int *stop)
{
        bool scan;

        c->stop = stop;
        if (c->cfg.health)
                httpd_health_beat(c->cfg.health);
        (void)waker_take(&c->wake);
        sync_from_kube(c);
        reload_policy(c);
        scan = now_ms >= c->next_scan_ms;
        if (measure(c, now_ms, scan) == 0 && scan) {
                c->next_scan_ms = now_ms + c->cfg.table_scan_ms;
                release_memory(c); /* the scan read every table through the page cache */
                log_info("measured", LOG_INT("size_bytes", c->st.db.db_bytes),
                         LOG_INT("free_bytes", c->st.db.free_bytes),
                         LOG_INT("volume_used_bytes", c->st.vol.used_bytes),
                         LOG_INT("volume_limit_bytes", c->st.vol.limit_bytes),
                         LOG_DBL("usage_percent", usage_pct(c)));
        }
        c->next_poll_ms = now_ms + c->cfg.volume_poll_ms;
        if (policy_active(c) && c->policy.emergency && c->cfg.store.type == STORE_SQLITE &&
            usage_pct(c) >= (double)c->policy.high_watermark_pct && !(stop && *stop) &&
            now_ms >= c->next_ladder_ms)
                run_ladder(c);
        else if (policy_active(c) && usage_pct(c) <= (double)c->policy.low_watermark_pct)
                c->st.volume_pressure = false;
        if (usage_pct(c) < (double)c->policy.high_watermark_pct) {
                c->ladder_backoff_ms = 0;
                c->next_ladder_ms = 0;
        }
        if (c->st.have_policy &&
            (c->policy_changed || now_ms >= c->st.next_run_mono_ms || c->cfg.once) &&
            !(stop && *stop)) {
                c->policy_changed = false;
                c->st.next_run_mono_ms = now_ms + c->policy.interval_ms;
                if (!c->st.policy_valid)
                        log_warn("policy invalid: skipping the run");
                else if (c->policy.suspend)
                        log_info("suspended: measuring only");
                else if (!c->st.is_leader)
                        log_info("not the leader: measuring only");
                else if (c->st.db_corrupt)
                        log_error("database corrupt: measuring only",
                                  LOG_STR("error", c->st.db_corrupt_reason));
                else
                        scheduled_run(c);
        }
        reserve_ensure(c);
        sync_to_kube(c);
        return 0;
}

int controller_run(struct controller *c, const volatile int *stop, struct errbuf *err)
{
        (void)err;
        if (!c->st.have_policy)
                log_info("monitor-only: no policy, nothing is deleted");
        for (;;) {
                int64_t now = clock_mono_ms();
                int64_t wake;

                (void)controller_tick(c, now, stop);
                if (c->cfg.once || (stop && *stop))
                        break;
                wake = c->next_poll_ms;
                if (c->st.have_policy && c->st.next_run_mono_ms < wake)
                        wake = c->st.next_run_mono_ms;
                /* Sleep until then: a stop signal or the Kubernetes thread wakes us earlier. */
                while ((now = clock_mono_ms()) < wake && !(stop && *stop) &&
                       !waker_pending(&c->wake))
                        waker_wait_ms(&c->wake, wake - now);
        }
        return 0;
}

const struct controller_state *controller_state(const struct controller *c)
{
        return &c->st;
}

int controller_new(const struct controller_config *cfg, struct controller **out, struct errbuf *err)
{
        struct controller *c = calloc(1, sizeof(*c));
        int rc;

        if (!c)
                return errbuf_set(err, -ENOMEM, "out of memory");
        rc = waker_init(&c->wake);
        if (rc < 0) {
                controller_free(c);
                return errbuf_set(err, rc, "eventfd failed (errno %d)", -rc);
        }
        c->cfg = *cfg;
        if (c->cfg.volume_poll_ms <= 0)
                c->cfg.volume_poll_ms = POLL_DEFAULT_MS;
        if (c->cfg.table_scan_ms <= 0)
                c->cfg.table_scan_ms = TABLE_SCAN_DEFAULT_MS;
        if (c->cfg.reserve_bytes < 0)
                c->cfg.reserve_bytes = RESERVE_DEFAULT;
        if ((cfg->store.sqlite_path && !(c->sqlite_path = strdup(cfg->store.sqlite_path))) ||
            (cfg->store.postgres_url && !(c->postgres_url = strdup(cfg->store.postgres_url))) ||
            (cfg->policy_file && !(c->policy_file = strdup(cfg->policy_file)))) {
                controller_free(c);
                return errbuf_set(err, -ENOMEM, "out of memory");
        }
        c->cfg.store.sqlite_path = c->sqlite_path;
        c->cfg.store.postgres_url = c->postgres_url;
        c->cfg.policy_file = c->policy_file;
        c->policy_mtime = -2;
        c->last_foreign_write_ms = clock_mono_ms();
        c->st.seconds_to_full = -1;
        volume_growth_init(&c->growth, (int64_t)3600 * 1000);
        if (c->sqlite_path) {
                volume_dir_of(c->sqlite_path, c->dir, sizeof(c->dir));
                (void)snprintf(c->reserve_path, sizeof(c->reserve_path), "%s/%s", c->dir,
                               CONTROLLER_RESERVE_NAME);
                c->st.reserve_present = access(c->reserve_path, F_OK) == 0;
        }
        rc = store_open(&c->cfg.store, &c->store, err);
        if (rc < 0) {
                controller_free(c);
                return rc;
        }
        c->st.is_leader = true;
        c->st.api_reachable = true;
        if (cfg->kube) {
                int64_t pod_limit = 0;

                rc = kubesync_start(cfg->kube, c->sqlite_path, cfg->metrics, &c->wake, &pod_limit,
                                    &c->ks, err);
                if (rc == -ENOENT && !cfg->kube->required) {
                        log_warn("no Kubernetes configuration and no policy file: monitor-only",
                                 LOG_STR("error", errbuf_msg(err)));
                        errbuf_clear(err);
                        c->ks = NULL;
                } else if (rc < 0) {
                        controller_free(c);
                        return rc;
                }
                if (c->cfg.pod_limit_bytes <= 0)
                        c->cfg.pod_limit_bytes = pod_limit;
                if (c->ks)
                        c->st.is_leader = kubesync_is_leader(c->ks);
        }
        check_database(c);
        reload_policy(c);
        publish_policy(c);
        *out = c;
        return 0;
}

void controller_free(struct controller *c)
{
        if (!c)
                return;
        kubesync_stop(c->ks);
        store_close(c->store);
        waker_cleanup(&c->wake);
        free(c->sqlite_path);
        free(c->postgres_url);
        free(c->policy_file);
        free(c);
}

void controller_wake(struct controller *c)
{
        waker_signal(&c->wake);
}
