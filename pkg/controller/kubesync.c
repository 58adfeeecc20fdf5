/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Kubernetes side of the controller, on its own thread and API client: LIST+WATCH of the one
 * RetentionPolicy (field selector on its name), the Lease when leader election is on, status
 * written through the /status subresource with metav1.Condition semantics, and aggregated
 * Events. The controller loop never waits for the API: it exchanges copies with this thread
 * under a mutex (internal.h), so an unreachable API server only delays status.
 */
#define LOG_MODULE "kube"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "base/str.h"
#include "controller/internal.h"
#include "krmetrics/krmetrics.h"
#include "kube/kube.h"
#include "log/log.h"

#define EVENTS_MAX        16
#define STATUS_REFRESH_MS 15000 /* measurements in status: at most this often */
#define STATUS_RETRY_MS   2000
#define TABLES_IN_STATUS  16
#define WAIT_MAX_MS       5000 /* the thread's longest sleep; events, status and stop wake it */
#define API_VERSION       "kagent.dev/v1alpha1"

static const struct kube_resource policies = { "kagent.dev", "v1alpha1", "retentionpolicies" };

struct queued_event {
        char type[16];
        char reason[64];
        char message[512];
};

struct kubesync {
        char ns[KUBE_NAME_MAX + 1];
        char policy_name[KUBE_NAME_MAX + 1];
        char pod_name[KUBE_NAME_MAX + 1];
        char identity[KUBE_NAME_MAX + 1];
        char path[KUBE_PATH_MAX]; /* the policy object's path */
        struct kube_client *client;
        struct kube_watch *watch;
        struct kube_event_recorder *events;
        struct kube_leader *leader;
        struct krmetrics *metrics;
        struct waker *wake;
        pthread_t thread;
        bool started;
        volatile int stop;

        /* Thread-private: the object as last seen and the conditions we maintain. */
        char uid[128];
        int64_t generation;
        bool have_object;
        json_t *conditions;
        json_t *last_status; /* what was last written */
        int64_t last_write_ms;
        int64_t next_leader_ms;

        pthread_mutex_t mu; /* guards everything below */
        bool policy_changed;
        enum kubesync_policy policy_state;
        struct policy policy;
        char policy_error[1024];
        bool have_snapshot;
        bool snapshot_urgent;
        struct controller_state snap;
        struct policy snap_policy;
        struct queued_event queue[EVENTS_MAX];
        int n_queue;
        bool is_leader;
        int64_t leader_deadline_ms; /* monotonic: leading only while the clock is below it */
        bool api_ok;
};

/* ---- the mailbox ------------------------------------------------------------------------ */

bool kubesync_take_policy(struct kubesync *ks, enum kubesync_policy *state, struct policy *out,
                          char *error, size_t size)
{
        bool changed;

        (void)pthread_mutex_lock(&ks->mu);
        changed = ks->policy_changed;
        if (changed) {
                *state = ks->policy_state;
                if (ks->policy_state == KUBESYNC_VALID)
                        *out = ks->policy;
                (void)str_copy(error, ks->policy_error, size);
                ks->policy_changed = false;
        }
        (void)pthread_mutex_unlock(&ks->mu);
        return changed;
}

bool kubesync_is_leader(struct kubesync *ks)
{
        bool v;

        (void)pthread_mutex_lock(&ks->mu);
        /* The elector's thread may be stuck in a slow request: the deadline decides. */
        v = ks->is_leader && (!ks->leader || clock_mono_ms() < ks->leader_deadline_ms);
        (void)pthread_mutex_unlock(&ks->mu);
        return v;
}

bool kubesync_api_reachable(struct kubesync *ks)
{
        bool v;

        (void)pthread_mutex_lock(&ks->mu);
        v = ks->api_ok;
        (void)pthread_mutex_unlock(&ks->mu);
        return v;
}

void kubesync_publish(struct kubesync *ks, const struct controller_state *st,
                      const struct policy *p)
{
        bool urgent;

        (void)pthread_mutex_lock(&ks->mu);
        if (!ks->have_snapshot || st->runs != ks->snap.runs || st->ladders != ks->snap.ladders ||
            st->policy_valid != ks->snap.policy_valid ||
            st->volume_pressure != ks->snap.volume_pressure ||
            st->run_failed != ks->snap.run_failed)
                ks->snapshot_urgent = true;
        ks->snap = *st;
        ks->snap_policy = *p;
        ks->have_snapshot = true;
        urgent = ks->snapshot_urgent;
        (void)pthread_mutex_unlock(&ks->mu);
        if (urgent && ks->watch)
                kube_watch_wakeup(ks->watch);
}

void kubesync_event(struct kubesync *ks, const char *type, const char *reason, const char *message)
{
        (void)pthread_mutex_lock(&ks->mu);
        if (ks->n_queue < EVENTS_MAX) {
                struct queued_event *e = &ks->queue[ks->n_queue++];

                (void)str_copy(e->type, type, sizeof(e->type));
                (void)str_copy(e->reason, reason, sizeof(e->reason));
                (void)str_copy(e->message, message, sizeof(e->message));
        }
        (void)pthread_mutex_unlock(&ks->mu);
        if (ks->watch)
                kube_watch_wakeup(ks->watch);
}

static void set_api_ok(struct kubesync *ks, bool ok)
{
        (void)pthread_mutex_lock(&ks->mu);
        if (ks->api_ok != ok)
                log_warn(ok ? "kubernetes API reachable again" : "kubernetes API unreachable");
        ks->api_ok = ok;
        (void)pthread_mutex_unlock(&ks->mu);
}

/* ---- the policy ------------------------------------------------------------------------ */

static void deliver_policy(struct kubesync *ks, enum kubesync_policy state, const struct policy *p,
                           const char *error)
{
        (void)pthread_mutex_lock(&ks->mu);
        ks->policy_state = state;
        if (p)
                ks->policy = *p;
        (void)str_copy(ks->policy_error, error ? error : "", sizeof(ks->policy_error));
        ks->policy_changed = true;
        (void)pthread_mutex_unlock(&ks->mu);
        if (ks->wake)
                waker_signal(ks->wake);
}

/* Remember the object's identity and conditions; parse and hand over its spec. */
static void policy_seen(struct kubesync *ks, json_t *obj)
{
        struct policy_errors errs;
        struct policy p;
        struct errbuf err;
        json_t *meta = json_object_get(obj, "metadata");
        json_t *conds = json_object_get(json_object_get(obj, "status"), "conditions");
        const char *uid = json_string_value(json_object_get(meta, "uid"));
        int64_t gen = (int64_t)json_integer_value(json_object_get(meta, "generation"));
        char text[1024];
        size_t len = 0;
        int rc;

        if (!ks->have_object || gen != ks->generation || strcmp(ks->uid, uid ? uid : "") != 0) {
                (void)str_copy(ks->uid, uid ? uid : "", sizeof(ks->uid));
                if (!ks->have_object || !ks->conditions) {
                        json_decref(ks->conditions);
                        ks->conditions =
                                json_is_array(conds) ? json_deep_copy(conds) : json_array();
                }
        } else {
                return; /* a status-only change (ours): nothing new in the spec */
        }
        ks->have_object = true;
        ks->generation = gen;
        errbuf_clear(&err);
        memset(&errs, 0, sizeof(errs));
        rc = policy_from_json(obj, &p, &errs, &err);
        if (rc == 0) {
                log_info("policy received", LOG_STR("name", p.name),
                         LOG_INT("generation", p.generation));
                deliver_policy(ks, KUBESYNC_VALID, &p, NULL);
                return;
        }
        if (rc == -ENOMEM) {
                /*
                 * Not the spec's fault: keep the policy we had and parse this generation again
                 * with the next event of the object (our own status write brings one) or relist.
                 */
                ks->generation = -1;
                log_warn("policy not parsed: out of memory; retrying", LOG_INT("generation", gen));
                return;
        }
        text[0] = '\0';
        for (size_t i = 0; i < errs.n && len < sizeof(text) - 1; i++) {
                int n = snprintf(text + len, sizeof(text) - len, "%s%s: %s", i ? "; " : "",
                                 errs.e[i].path, errs.e[i].msg);

                if (n < 0)
                        break;
                len += (size_t)n;
        }
        if (!text[0])
                (void)str_copy(text, errbuf_msg(&err), sizeof(text));
        log_error("policy invalid: nothing is deleted until it is fixed",
                  LOG_INT("generation", gen), LOG_STR("error", text));
        deliver_policy(ks, KUBESYNC_INVALID, NULL, text);
}

static void policy_gone(struct kubesync *ks)
{
        if (!ks->have_object)
                return;
        ks->have_object = false;
        ks->uid[0] = '\0';
        json_decref(ks->conditions);
        ks->conditions = NULL;
        json_decref(ks->last_status);
        ks->last_status = NULL;
        log_info("policy deleted: monitor-only");
        deliver_policy(ks, KUBESYNC_NO_POLICY, NULL, NULL);
}

static int on_watch(const struct kube_watch_event *ev, void *userdata)
{
        struct kubesync *ks = userdata;

        switch (ev->type) {
        case KUBE_WATCH_SYNC:
                set_api_ok(ks, true);
                if (ks->metrics)
                        krmetrics_kube_request_record(ks->metrics, "list", 200);
                if (json_array_size(ev->object) > 0)
                        policy_seen(ks, json_array_get(ev->object, 0));
                else
                        policy_gone(ks);
                break;
        case KUBE_WATCH_ADDED:
        case KUBE_WATCH_MODIFIED:
                set_api_ok(ks, true);
                policy_seen(ks, ev->object);
                break;
        case KUBE_WATCH_DELETED:
                policy_gone(ks);
                break;
        case KUBE_WATCH_BOOKMARK:
                set_api_ok(ks, true);
                break;
        case KUBE_WATCH_ERROR:
                if (ev->error == -EAGAIN || ev->error == -ETIMEDOUT)
                        set_api_ok(ks, false);
                if (ks->metrics) {
                        krmetrics_watch_restart_record(ks->metrics, "retentionpolicies");
                        krmetrics_kube_request_record(ks->metrics, ev->relist ? "list" : "watch",
                                                      (int)kube_client_last_status(ks->client));
                }
                log_warn("policy watch interrupted", LOG_STR("error", ev->message),
                         LOG_INT("retry_in_ms", ev->retry_in_ms), LOG_BOOL("relist", ev->relist));
                break;
        }
        return 0;
}

/* ---- status ---------------------------------------------------------------------------- */

static json_t *rfc3339(int64_t wall_ms)
{
        char buf[40];

        if (wall_ms <= 0)
                return json_null();
        return json_string(clock_format_rfc3339(wall_ms, buf, sizeof(buf)));
}

static json_t *database_json(const struct controller_state *st)
{
        json_t *tables = json_array();
        int64_t eta_ms = -1;

        for (size_t i = 0; i < st->db.n_tables && i < TABLES_IN_STATUS; i++)
                (void)json_array_append_new(
                        tables, json_pack("{s:s, s:I, s:I}", "name", st->db.tables[i].name, "rows",
                                          (json_int_t)st->db.tables[i].rows, "bytes",
                                          (json_int_t)st->db.tables[i].bytes));
        if (st->growth_known && st->seconds_to_full >= 0)
                eta_ms = clock_wall_ms() + st->seconds_to_full * 1000;
        return json_pack(
                "{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:I, s:o, s:o}", "type", st->db_type, "schema",
                st->db_schema, "sizeBytes", (json_int_t)st->db.db_bytes, "freeBytes",
                (json_int_t)st->db.free_bytes, "volumeUsedBytes", (json_int_t)st->vol.used_bytes,
                "volumeLimitBytes", (json_int_t)st->vol.limit_bytes, "usagePercent",
                (double)(int64_t)(st->vol.usage_ratio * 10000.0) / 100.0, "growthBytesPerHour",
                (json_int_t)(st->growth_known ? st->growth_bytes_per_hour : 0), "predictedFullTime",
                rfc3339(eta_ms), "tables", tables);
}

static json_t *last_run_json(const struct prune_result *r, const struct store_reclaim_result *rc)
{
        json_t *deleted = json_array();

        for (int rule = 0; rule < STORE_RULE_COUNT; rule++)
                for (int t = 0; t < STORE_T_COUNT; t++) {
                        const struct store_count *c = &r->rules[rule].tables[t];

                        if (c->rows == 0)
                                continue;
                        (void)json_array_append_new(
                                deleted,
                                json_pack("{s:s, s:s, s:I, s:I}", "table",
                                          store_table_name((enum store_table)t), "rule",
                                          store_rule_name((enum store_rule)rule), "rows",
                                          (json_int_t)c->rows, "bytes", (json_int_t)c->bytes));
                }
        return json_pack("{s:o, s:o, s:s, s:s, s:o, s:I, s:I}", "startTime",
                         rfc3339(r->start_wall_ms), "completionTime", rfc3339(r->end_wall_ms),
                         "result", prune_outcome_name(r->outcome), "message", r->message, "deleted",
                         deleted, "reclaimedBytes", (json_int_t)rc->reclaimed_bytes,
                         "maxBatchMillis", (json_int_t)(r->max_batch_us / 1000));
}

static void set_condition(struct kubesync *ks, const char *type, bool status, const char *reason,
                          const char *message)
{
        struct kube_condition c = { .type = type,
                                    .status = status ? "True" : "False",
                                    .reason = reason,
                                    .message = message,
                                    .observed_generation = ks->generation };
        struct errbuf err;

        errbuf_clear(&err);
        if (kube_condition_set(ks->conditions, &c, clock_wall_ms(), NULL, &err) < 0)
                log_warn("condition not set", LOG_STR("type", type), LOG_STR("error", err.msg));
}

static void update_conditions(struct kubesync *ks, const struct controller_state *st)
{
        bool writable = st->db_writable;

        if (!st->policy_valid)
                set_condition(ks, "Ready", false, "InvalidSpec", st->policy_error);
        else if (st->run_failed)
                set_condition(ks, "Ready", false, "RunFailed", st->last_run.message);
        else
                set_condition(ks, "Ready", true, "Reconciled",
                              st->runs > 0 ? st->last_run.message : "waiting for the first run");
        if (st->volume_pressure)
                set_condition(ks, "VolumePressure", true,
                              st->pressure_reason[0] ? "LadderCouldNotRelieve"
                                                     : "AboveHighWatermark",
                              st->pressure_reason[0] ? st->pressure_reason
                                                     : "usage at or above the high watermark");
        else
                set_condition(ks, "VolumePressure", false, "BelowHighWatermark",
                              "usage below the high watermark");
        if (st->run_failed)
                set_condition(ks, "Degraded", true, "RunFailed", st->last_run.message);
        else if (!writable)
                set_condition(ks, "Degraded", true, "DatabaseNotWritable", st->not_writable_reason);
        else
                set_condition(ks, "Degraded", false, "AsExpected", "");
}

static json_t *status_patch(struct kubesync *ks, const struct controller_state *st)
{
        json_t *status = json_object();
        int64_t next_wall = 0;

        update_conditions(ks, st);
        (void)json_object_set_new(status, "observedGeneration", json_integer(ks->generation));
        (void)json_object_set(status, "conditions", ks->conditions);
        (void)json_object_set_new(status, "database", database_json(st));
        if (st->runs > 0)
                (void)json_object_set_new(status, "lastRun",
                                          last_run_json(&st->last_run, &st->last_reclaim));
        (void)json_object_set_new(status, "lastSuccessfulRunTime",
                                  rfc3339(st->last_success_wall_ms));
        if (st->next_run_mono_ms > 0)
                next_wall = clock_wall_ms() + (st->next_run_mono_ms - clock_mono_ms());
        (void)json_object_set_new(status, "nextRunTime", rfc3339(next_wall));
        return json_pack("{s:o}", "status", status);
}

/* When the measurements may be written again: STATUS_REFRESH_MS after a write, or
 * STATUS_RETRY_MS after an attempt while none is written yet. */
static int64_t refresh_due_ms(const struct kubesync *ks)
{
        return ks->last_write_ms + (ks->last_status ? STATUS_REFRESH_MS : STATUS_RETRY_MS);
}

/* Write status when it changed: at once after a run, ladder or condition change, else at most
 * every STATUS_REFRESH_MS for the measurements. */
static void write_status(struct kubesync *ks)
{
        struct controller_state *st = NULL;
        json_t *patch = NULL;
        struct errbuf err;
        bool urgent;
        bool have;
        int64_t now = clock_mono_ms();
        int rc;

        if (!ks->have_object || (ks->leader && !kube_leader_is_leader(ks->leader)))
                return;
        (void)pthread_mutex_lock(&ks->mu);
        urgent = ks->snapshot_urgent;
        have = ks->have_snapshot;
        (void)pthread_mutex_unlock(&ks->mu);
        if (!have || (!urgent && now < refresh_due_ms(ks)))
                return;
        ks->last_write_ms = now; /* an attempt, whatever becomes of it: wait_ms counts on it */
        st = malloc(sizeof(*st));
        if (!st)
                return;
        (void)pthread_mutex_lock(&ks->mu);
        urgent = ks->snapshot_urgent;
        *st = ks->snap; /* a snapshot, once there, is only ever replaced */
        (void)pthread_mutex_unlock(&ks->mu);
        patch = status_patch(ks, st);
        if (!patch)
                goto out;
        if (ks->last_status && json_equal(patch, ks->last_status) && !urgent)
                goto out;
        errbuf_clear(&err);
        rc = kube_patch_status(ks->client, ks->path, patch, NULL, &err);
        if (ks->metrics)
                krmetrics_kube_request_record(ks->metrics, "patch",
                                              (int)kube_client_last_status(ks->client));
        if (rc < 0) {
                set_api_ok(ks, rc != -EAGAIN && rc != -ETIMEDOUT);
                log_warn("status not written, retrying", LOG_STR("error", err.msg),
                         LOG_INT("retry_in_ms", STATUS_RETRY_MS));
                goto out;
        }
        set_api_ok(ks, true);
        json_decref(ks->last_status);
        ks->last_status = json_incref(patch);
        (void)pthread_mutex_lock(&ks->mu);
        ks->snapshot_urgent = false;
        (void)pthread_mutex_unlock(&ks->mu);
out:
        json_decref(patch);
        free(st);
}

static void flush_events(struct kubesync *ks)
{
        struct queued_event q[EVENTS_MAX];
        int n;

        if (!ks->have_object || (ks->leader && !kube_leader_is_leader(ks->leader)))
                return;
        (void)pthread_mutex_lock(&ks->mu);
        n = ks->n_queue;
        memcpy(q, ks->queue, sizeof(q[0]) * (size_t)n);
        ks->n_queue = 0;
        (void)pthread_mutex_unlock(&ks->mu);
        for (int i = 0; i < n; i++) {
                struct kube_object_ref ref = { API_VERSION, "RetentionPolicy", ks->ns,
                                               ks->policy_name, ks->uid[0] ? ks->uid : NULL };
                struct kube_event_spec spec = { q[i].type, q[i].reason, NULL, q[i].message };
                struct errbuf err;

                errbuf_clear(&err);
                if (kube_event_record(ks->events, ks->client, &ref, &spec, clock_wall_ms(), &err) <
                    0)
                        log_warn("event not recorded", LOG_STR("reason", q[i].reason),
                                 LOG_STR("error", err.msg));
        }
}

static void leader_tick(struct kubesync *ks)
{
        struct errbuf err;
        int64_t next = KUBE_RETRY_PERIOD_MS;
        bool was;
        int rc;

        if (!ks->leader || clock_mono_ms() < ks->next_leader_ms)
                return;
        errbuf_clear(&err);
        rc = kube_leader_tick(ks->leader, &next, &err);
        ks->next_leader_ms = clock_mono_ms() + next;
        if (rc < 0)
                log_warn("lease not renewed", LOG_STR("error", err.msg));
        (void)pthread_mutex_lock(&ks->mu);
        was = ks->is_leader;
        ks->is_leader = kube_leader_is_leader(ks->leader);
        ks->leader_deadline_ms = kube_leader_deadline_ms(ks->leader);
        (void)pthread_mutex_unlock(&ks->mu);
        if (was != kube_leader_is_leader(ks->leader)) {
                log_info(was ? "leadership lost" : "leadership acquired",
                         LOG_STR("identity", ks->identity));
                if (ks->metrics)
                        krmetrics_leader_set(ks->metrics, !was);
                if (ks->wake)
                        waker_signal(ks->wake);
        }
}

/*
 * How long the thread may sleep in the watch: until the Lease or the status is due. Queued
 * Events, an urgent status and stop wake it at once (kube_watch_wakeup), so an idle sidecar
 * wakes only for its own timers.
 */
static int64_t wait_ms(struct kubesync *ks)
{
        int64_t now = clock_mono_ms();
        int64_t wait = WAIT_MAX_MS;
        bool urgent;
        bool have;

        if (ks->leader && ks->next_leader_ms - now < wait)
                wait = ks->next_leader_ms - now;
        (void)pthread_mutex_lock(&ks->mu);
        urgent = ks->snapshot_urgent;
        have = ks->have_snapshot;
        (void)pthread_mutex_unlock(&ks->mu);
        /*
         * When write_status would act, as it gates it (each attempt moves last_write_ms on); an
         * urgent write that failed is retried in STATUS_RETRY_MS.
         */
        if (have && ks->have_object && (!ks->leader || kube_leader_is_leader(ks->leader))) {
                int64_t due = urgent ? ks->last_write_ms + STATUS_RETRY_MS : refresh_due_ms(ks);

                if (due - now < wait)
                        wait = due - now;
        }
        return wait > 0 ? wait : 0;
}

static void *thread_main(void *arg)
{
        struct kubesync *ks = arg;

        while (!ks->stop) {
                struct errbuf err;

                leader_tick(ks);
                errbuf_clear(&err);
                (void)kube_watch_poll(ks->watch, wait_ms(ks), on_watch, ks, &err);
                flush_events(ks);
                write_status(ks);
        }
        if (ks->leader && kube_leader_is_leader(ks->leader)) {
                struct errbuf err;

                errbuf_clear(&err);
                if (kube_leader_release(ks->leader, &err) < 0)
                        log_warn("lease not released", LOG_STR("error", err.msg));
                else
                        log_info("lease released");
        }
        return NULL;
}

/* ---- start and stop -------------------------------------------------------------------- */

/* The emptyDir sizeLimit of the volume holding the database, from the own Pod. */
static int64_t discover_limit(struct kubesync *ks, const char *db_path)
{
        struct kube_pod_volume v;
        struct errbuf err;
        json_t *pod = NULL;
        char abs[KUBE_PATH_MAX];
        int64_t limit = 0;

        if (!ks->pod_name[0] || !db_path)
                return 0;
        if (db_path[0] != '/') {
                log_warn("database path is relative: volume limit not discovered",
                         LOG_STR("path", db_path));
                return 0;
        }
        (void)str_copy(abs, db_path, sizeof(abs));
        errbuf_clear(&err);
        if (kube_pod_get_self(ks->client, ks->pod_name, ks->ns, &pod, &err) < 0) {
                log_warn("own pod not readable: volume limit not discovered",
                         LOG_STR("error", err.msg));
                return 0;
        }
        if (kube_pod_volume_find(pod, NULL, abs, &v, &err) < 0) {
                log_warn("volume of the database not found in the pod", LOG_STR("error", err.msg));
        } else {
                limit = v.size_limit_bytes > 0 ? v.size_limit_bytes : 0;
                log_info("volume discovered", LOG_STR("volume", v.name),
                         LOG_STR("medium", v.medium[0] ? v.medium : "disk"),
                         LOG_INT("size_limit_bytes", v.size_limit_bytes),
                         LOG_BOOL("empty_dir", v.empty_dir));
        }
        json_decref(pod);
        return limit;
}

static int start_helpers(struct kubesync *ks, const struct controller_kube_config *cfg,
                         struct errbuf *err)
{
        struct kube_event_source src = { KUBE_EVENT_API_EVENTS_V1, "kagent.dev/kagent-retention",
                                         ks->identity };
        struct kube_watch_options wo;
        char coll[KUBE_PATH_MAX];
        char sel[KUBE_NAME_MAX + 32];
        int rc;

        rc = kube_path(&policies, ks->ns, NULL, NULL, coll, sizeof(coll), err);
        if (rc < 0)
                return rc;
        rc = kube_path(&policies, ks->ns, ks->policy_name, NULL, ks->path, sizeof(ks->path), err);
        if (rc < 0)
                return rc;
        (void)snprintf(sel, sizeof(sel), "metadata.name=%s", ks->policy_name);
        memset(&wo, 0, sizeof(wo));
        wo.path = coll;
        wo.field_selector = sel;
        rc = kube_watch_new(ks->client, &wo, &ks->watch, err);
        if (rc < 0)
                return rc;
        rc = kube_event_recorder_new(&src, 0, &ks->events, err);
        if (rc < 0)
                return rc;
        if (cfg->leader_elect) {
                struct kube_lease_config lc;
                char lease[KUBE_NAME_MAX + 32];

                (void)snprintf(lease, sizeof(lease), "kagent-retention-%s", ks->policy_name);
                memset(&lc, 0, sizeof(lc));
                lc.ns = ks->ns;
                lc.name = cfg->lease_name ? cfg->lease_name : lease;
                lc.identity = ks->identity;
                rc = kube_leader_new(ks->client, &lc, NULL, NULL, NULL, &ks->leader, err);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

int kubesync_start(const struct controller_kube_config *cfg, const char *db_path,
                   struct krmetrics *metrics, struct waker *wake, int64_t *out_pod_limit,
                   struct kubesync **out, struct errbuf *err)
{
        struct kube_config_options opt = { cfg->kubeconfig, cfg->context };
        struct kube_config kc;
        struct kubesync *ks = calloc(1, sizeof(*ks));
        const char *pod = cfg->pod_name ? cfg->pod_name
                                        : getenv("POD_NAME"); /* NOLINT(concurrency-mt-unsafe):
                                                                 start-up, one thread */
        const char *ns =
                cfg->ns ? cfg->ns : getenv("POD_NAMESPACE"); /* NOLINT(concurrency-mt-unsafe):
                                                                start-up, one thread */
        int rc;

        memset(&kc, 0, sizeof(kc));
        if (!ks)
                return errbuf_set(err, -ENOMEM, "out of memory");
        (void)pthread_mutex_init(&ks->mu, NULL);
        ks->metrics = metrics;
        ks->wake = wake;
        ks->api_ok = true;
        ks->is_leader = !cfg->leader_elect;
        rc = kube_config_load(&opt, &kc, err);
        if (rc < 0)
                goto fail;
        rc = kube_client_new(&kc, &ks->client, err);
        if (rc < 0)
                goto fail;
        (void)str_copy(ks->ns, ns && ns[0] ? ns : kube_client_namespace(ks->client),
                       sizeof(ks->ns));
        (void)str_copy(ks->policy_name, cfg->policy_name ? cfg->policy_name : "default",
                       sizeof(ks->policy_name));
        (void)str_copy(ks->pod_name, pod ? pod : "", sizeof(ks->pod_name));
        if (kube_leader_identity(ks->pod_name[0] ? ks->pod_name : NULL, NULL, NULL, ks->identity,
                                 sizeof(ks->identity)) < 0)
                (void)str_copy(ks->identity, "kagent-retention", sizeof(ks->identity));
        rc = start_helpers(ks, cfg, err);
        if (rc < 0)
                goto fail;
        *out_pod_limit = discover_limit(ks, db_path);
        if (metrics)
                krmetrics_leader_set(metrics, ks->is_leader);
        rc = pthread_create(&ks->thread, NULL, thread_main, ks);
        if (rc != 0) {
                rc = errbuf_set(err, -rc, "kubernetes thread not started");
                goto fail;
        }
        ks->started = true;
        log_info("kubernetes source started", LOG_STR("api", kc.source),
                 LOG_STR("namespace", ks->ns), LOG_STR("policy", ks->policy_name),
                 LOG_BOOL("leader_elect", cfg->leader_elect), LOG_STR("identity", ks->identity));
        kube_config_cleanup(&kc);
        *out = ks;
        return 0;
fail:
        kube_config_cleanup(&kc);
        kubesync_stop(ks);
        return rc;
}

void kubesync_stop(struct kubesync *ks)
{
        if (!ks)
                return;
        if (ks->started) {
                ks->stop = 1;
                kube_watch_wakeup(ks->watch);
                (void)pthread_join(ks->thread, NULL);
        }
        kube_leader_free(ks->leader);
        kube_event_recorder_free(ks->events);
        kube_watch_free(ks->watch);
        kube_client_free(ks->client);
        json_decref(ks->conditions);
        json_decref(ks->last_status);
        (void)pthread_mutex_destroy(&ks->mu);
        free(ks);
}
