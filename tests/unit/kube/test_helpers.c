/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Controller helpers: metav1.Condition merge semantics, Event building, the aggregation
 * decisions and recording through the fake API server, the Lease state machine with an injected
 * clock and API, the own Pod's volume lookup, and quantities.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/errbuf.h"
#include "failalloc.h"
#include "fakeapi.h"
#include "kube/kube.h"
#include "kube_test.h"

#define T0 1767323045000LL /* 2026-01-02T03:04:05Z */

static const char *cond_str(const json_t *conds, const char *type, const char *key)
{
        return json_string_value(json_object_get(kube_condition_find(conds, type), key));
}

static void test_condition_semantics(void **state)
{
        struct kube_condition ready = { "Ready", "True", "RunSucceeded", "pruned 10 rows", 3 };
        json_t *conds = json_array();
        struct errbuf err;
        bool changed = false;
        json_t *before;

        (void)state;
        /* New: appended, lastTransitionTime now. */
        assert_int_equal(kube_condition_set(conds, &ready, T0, &changed, &err), 0);
        assert_true(changed);
        assert_int_equal(json_array_size(conds), 1);
        assert_string_equal(cond_str(conds, "Ready", "lastTransitionTime"), "2026-01-02T03:04:05Z");
        assert_string_equal(cond_str(conds, "Ready", "reason"), "RunSucceeded");
        assert_int_equal(json_integer_value(json_object_get(kube_condition_find(conds, "Ready"),
                                                            "observedGeneration")),
                         3);
        assert_true(kube_condition_is_true(conds, "Ready"));
        /* The same again later: nothing changes, not even the time. */
        assert_int_equal(kube_condition_set(conds, &ready, T0 + 60000, &changed, &err), 0);
        assert_false(changed);
        assert_string_equal(cond_str(conds, "Ready", "lastTransitionTime"), "2026-01-02T03:04:05Z");
        /* Same status, new message: changed, but no transition. */
        ready.message = "pruned 20 rows";
        assert_int_equal(kube_condition_set(conds, &ready, T0 + 120000, &changed, &err), 0);
        assert_true(changed);
        assert_string_equal(cond_str(conds, "Ready", "message"), "pruned 20 rows");
        assert_string_equal(cond_str(conds, "Ready", "lastTransitionTime"), "2026-01-02T03:04:05Z");
        /* Only observedGeneration: changed, no transition. */
        ready.observed_generation = 4;
        assert_int_equal(kube_condition_set(conds, &ready, T0 + 130000, &changed, &err), 0);
        assert_true(changed);
        assert_string_equal(cond_str(conds, "Ready", "lastTransitionTime"), "2026-01-02T03:04:05Z");
        /* A second type is independent. */
        {
                struct kube_condition degraded = { "Degraded", "False", "AsExpected", NULL, -1 };

                assert_int_equal(kube_condition_set(conds, &degraded, T0 + 1000, &changed, &err),
                                 0);
                assert_true(changed);
                assert_string_equal(cond_str(conds, "Degraded", "message"), "");
                assert_null(json_object_get(kube_condition_find(conds, "Degraded"),
                                            "observedGeneration"));
                assert_false(kube_condition_is_true(conds, "Degraded"));
        }
        /* Status change: the transition time moves. */
        ready.status = "False";
        ready.reason = "RunFailed";
        assert_int_equal(kube_condition_set(conds, &ready, T0 + 3600000, &changed, &err), 0);
        assert_true(changed);
        assert_string_equal(cond_str(conds, "Ready", "lastTransitionTime"), "2026-01-02T04:04:05Z");
        assert_string_equal(cond_str(conds, "Ready", "status"), "False");
        assert_int_equal(json_array_size(conds), 2);
        assert_false(kube_condition_is_true(conds, "Ready"));
        assert_null(kube_condition_find(conds, "VolumePressure"));
        /* A bad reason is refused and changes nothing. */
        before = json_deep_copy(conds);
        ready.reason = "not valid!";
        changed = false;
        assert_int_equal(kube_condition_set(conds, &ready, T0, &changed, &err), -EINVAL);
        assert_string_equal(err.msg, "condition 'Ready': invalid reason 'not valid!'");
        ready.reason = "Trailing:";
        assert_int_equal(kube_condition_set(conds, &ready, T0, &changed, &err), -EINVAL);
        assert_true(json_equal(before, conds));
        /* Allocation failures leave the array as it was. */
        ready.reason = "Other";
        for (long n = 1;; n++) {
                int rc;

                failalloc_arm(n);
                rc = kube_condition_set(conds, &ready, T0 + 7200000, &changed, &err);
                failalloc_disarm();
                if (rc == 0) {
                        assert_false(failalloc_injected());
                        break;
                }
                assert_int_equal(rc, -ENOMEM);
                assert_true(json_equal(before, conds));
                assert_int_equal(failalloc_live(), 0);
        }
        assert_string_equal(cond_str(conds, "Ready", "reason"), "Other");
        json_decref(before);
        json_decref(conds);
}

static void test_condition_message_cut(void **state)
{
        struct kube_condition c = { "Ready", "True", "Ok", NULL, -1 };
        json_t *conds = json_array();
        size_t n = 40000;
        char *msg = malloc(n + 1);
        size_t i;

        (void)state;
        /* Two-byte characters: the cut must not split one. */
        for (i = 0; i + 1 < n; i += 2) {
                msg[i] = (char)0xc3;
                msg[i + 1] = (char)0xa9;
        }
        msg[n] = '\0';
        c.message = msg;
        assert_int_equal(kube_condition_set(conds, &c, T0, NULL, NULL), 0);
        assert_int_equal(strlen(cond_str(conds, "Ready", "message")), 32768);
        /* Shifted by one ASCII byte, a character straddles the limit: it is left out whole. */
        c.message = msg + 1;
        msg[0] = 'x';
        msg[1] = 'x';
        assert_int_equal(kube_condition_set(conds, &c, T0, NULL, NULL), 0);
        assert_int_equal(strlen(cond_str(conds, "Ready", "message")), 32767);
        /* Invalid UTF-8 is refused. */
        msg[2] = (char)0xa9;
        assert_int_equal(kube_condition_set(conds, &c, T0, NULL, NULL), -EINVAL);
        free(msg);
        json_decref(conds);
}

static const struct kube_object_ref policy_ref = {
        "kagent.dev/v1alpha1", "RetentionPolicy", "kagent", "default", "uid-1",
};

static void test_event_build(void **state)
{
        struct kube_event_source src = { KUBE_EVENT_API_EVENTS_V1, "kagent.dev/kagent-retention",
                                         "kagent-0_abc" };
        struct kube_event_spec spec = { "Normal", "PruneSucceeded", "Prune", "deleted 5 rows" };
        struct errbuf err;
        json_t *ev = NULL;
        json_t *p = NULL;
        char *s;

        (void)state;
        assert_int_equal(kube_event_build(&src, &policy_ref, &spec, T0 + 123, &ev, &err), 0);
        s = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(
                s, "{\"action\":\"Prune\",\"apiVersion\":\"events.k8s.io/v1\",\"eventTime\":"
                   "\"2026-01-02T03:04:05.123000Z\",\"kind\":\"Event\",\"metadata\":{\"name\":"
                   "\"default.1886caf223eb06c0\",\"namespace\":\"kagent\"},\"note\":\"deleted 5 "
                   "rows\",\"reason\":\"PruneSucceeded\",\"regarding\":{\"apiVersion\":"
                   "\"kagent.dev/v1alpha1\",\"kind\":\"RetentionPolicy\",\"name\":\"default\","
                   "\"namespace\":\"kagent\",\"uid\":\"uid-1\"},\"reportingController\":"
                   "\"kagent.dev/kagent-retention\",\"reportingInstance\":\"kagent-0_abc\","
                   "\"type\":\"Normal\"}");
        free(s);
        json_decref(ev);
        src.api = KUBE_EVENT_API_CORE_V1;
        spec.type = "Warning";
        spec.reason = "PruneFailed";
        assert_int_equal(kube_event_build(&src, &policy_ref, &spec, T0, &ev, &err), 0);
        s = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(
                s, "{\"apiVersion\":\"v1\",\"count\":1,\"firstTimestamp\":\"2026-01-02T03:04:05Z\","
                   "\"involvedObject\":{\"apiVersion\":\"kagent.dev/v1alpha1\",\"kind\":"
                   "\"RetentionPolicy\",\"name\":\"default\",\"namespace\":\"kagent\",\"uid\":"
                   "\"uid-1\"},\"kind\":\"Event\",\"lastTimestamp\":\"2026-01-02T03:04:05Z\","
                   "\"message\":\"deleted 5 rows\",\"metadata\":{\"name\":"
                   "\"default.1886caf21c963200\",\"namespace\":\"kagent\"},\"reason\":"
                   "\"PruneFailed\",\"reportingComponent\":\"kagent.dev/kagent-retention\","
                   "\"reportingInstance\":\"kagent-0_abc\",\"source\":{\"component\":"
                   "\"kagent.dev/kagent-retention\"},\"type\":\"Warning\"}");
        free(s);
        json_decref(ev);
        /* Repeats: series for events.k8s.io, count for core. */
        assert_int_equal(kube_event_patch_build(KUBE_EVENT_API_EVENTS_V1, 2, T0, &p, &err), 0);
        s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"series\":{\"count\":2,\"lastObservedTime\":"
                               "\"2026-01-02T03:04:05.000000Z\"}}");
        free(s);
        json_decref(p);
        assert_int_equal(kube_event_patch_build(KUBE_EVENT_API_CORE_V1, 7, T0, &p, &err), 0);
        s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"count\":7,\"lastTimestamp\":\"2026-01-02T03:04:05Z\"}");
        free(s);
        json_decref(p);
        /* A long note is cut to 1 KiB; a missing instance is refused. */
        {
                char note[3000];

                memset(note, 'n', sizeof(note) - 1);
                note[sizeof(note) - 1] = '\0';
                spec.message = note;
                src.api = KUBE_EVENT_API_EVENTS_V1;
                assert_int_equal(kube_event_build(&src, &policy_ref, &spec, T0, &ev, &err), 0);
                assert_int_equal(json_string_length(json_object_get(ev, "note")), 1024);
                json_decref(ev);
                src.instance = NULL;
                ev = NULL;
                assert_int_equal(kube_event_build(&src, &policy_ref, &spec, T0, &ev, &err),
                                 -EINVAL);
                assert_null(ev);
        }
}

static void decide_commit(struct kube_event_recorder *r, const struct kube_object_ref *ref,
                          const struct kube_event_spec *spec, int64_t now,
                          enum kube_event_action action, int64_t count, const char *name)
{
        struct kube_event_decision d;
        struct errbuf err;

        kube_event_recorder_decide(r, ref, spec, now, &d);
        assert_int_equal(d.action, action);
        assert_int_equal(d.count, count);
        if (action == KUBE_EVENT_PATCH)
                assert_string_equal(d.name, name);
        else
                (void)snprintf(d.name, sizeof(d.name), "%s", name);
        assert_int_equal(kube_event_recorder_commit(r, ref, spec, now, &d, &err), 0);
}

static void test_event_aggregation(void **state)
{
        struct kube_event_source src = { KUBE_EVENT_API_EVENTS_V1, "c", "i" };
        struct kube_event_spec ok = { "Normal", "PruneSucceeded", NULL, "deleted 5 rows" };
        struct kube_event_spec ok2 = { "Normal", "PruneSucceeded", NULL, "deleted 6 rows" };
        struct kube_event_spec warn = { "Warning", "PruneSucceeded", NULL, "deleted 5 rows" };
        struct kube_object_ref other = policy_ref;
        struct kube_event_recorder *r = NULL;
        struct errbuf err;
        const int64_t w = 60000;

        (void)state;
        assert_int_equal(kube_event_recorder_new(&src, w, &r, &err), 0);
        decide_commit(r, &policy_ref, &ok, T0, KUBE_EVENT_CREATE, 1, "ev-a");
        /* Repeats within the window patch the same Event, counting up. */
        decide_commit(r, &policy_ref, &ok, T0 + 10000, KUBE_EVENT_PATCH, 2, "ev-a");
        decide_commit(r, &policy_ref, &ok, T0 + 69000, KUBE_EVENT_PATCH, 3, "ev-a");
        /* The window slides with each occurrence. */
        decide_commit(r, &policy_ref, &ok, T0 + 129000, KUBE_EVENT_PATCH, 4, "ev-a");
        /* Another message, type or object is another Event. */
        decide_commit(r, &policy_ref, &ok2, T0 + 130000, KUBE_EVENT_CREATE, 1, "ev-b");
        decide_commit(r, &policy_ref, &warn, T0 + 130000, KUBE_EVENT_CREATE, 1, "ev-c");
        other.uid = "uid-2";
        decide_commit(r, &other, &ok, T0 + 130000, KUBE_EVENT_CREATE, 1, "ev-d");
        /* The first one is still aggregated, then not after a quiet window. */
        decide_commit(r, &policy_ref, &ok, T0 + 131000, KUBE_EVENT_PATCH, 5, "ev-a");
        decide_commit(r, &policy_ref, &ok, T0 + 131000 + w + 1, KUBE_EVENT_CREATE, 1, "ev-e");
        /* A clock that went backwards never aggregates. */
        decide_commit(r, &policy_ref, &ok, T0, KUBE_EVENT_CREATE, 1, "ev-f");
        /* Bounded: after many distinct events the oldest are forgotten. */
        for (int i = 0; i < KUBE_EVENT_CACHE_ENTRIES + 5; i++) {
                char msg[32];
                struct kube_event_spec s = ok;

                (void)snprintf(msg, sizeof(msg), "m%d", i);
                s.message = msg;
                decide_commit(r, &policy_ref, &s, T0 + 1000 + i, KUBE_EVENT_CREATE, 1, "x");
        }
        {
                struct kube_event_spec s = ok;
                struct kube_event_decision d;

                s.message = "m0";
                kube_event_recorder_decide(r, &policy_ref, &s, T0 + 2000, &d);
                assert_int_equal(d.action, KUBE_EVENT_CREATE);
                s.message = "m68";
                kube_event_recorder_decide(r, &policy_ref, &s, T0 + 2000, &d);
                assert_int_equal(d.action, KUBE_EVENT_PATCH);
        }
        kube_event_recorder_free(r);
}

/* Recording through the fake API server: POST, PATCH, PATCH 404 then POST, a failure. */
static const struct fake_resp event_script[] = {
        { 201, false, NULL, { "{}" } },
        { 200, false, NULL, { "{}" } },
        { 404, false, NULL, { "{\"kind\":\"Status\",\"code\":404,\"reason\":\"NotFound\"}" } },
        { 409, false, NULL, { "{\"kind\":\"Status\",\"code\":409,\"reason\":\"AlreadyExists\"}" } },
        { 201, false, NULL, { "{}" } },
        { 500, false, NULL, { "{}" } },
};

static const char *body_name(const struct fake_req *r, char *out, size_t size)
{
        json_t *body = json_loads(r->body, 0, NULL);

        (void)snprintf(
                out, size, "%s",
                json_string_value(json_object_get(json_object_get(body, "metadata"), "name")));
        json_decref(body);
        return out;
}

static void test_event_record(void **state)
{
        static const struct kube_object_ref ref = { "kagent.dev/v1alpha1", "RetentionPolicy",
                                                    "kagent", "default", "u1" };
        struct kube_event_source src = { KUBE_EVENT_API_EVENTS_V1, "kagent.dev/kagent-retention",
                                         "kagent-0" };
        struct kube_event_spec spec = { "Normal", "PruneSucceeded", "Prune", "deleted 3 rows" };
        struct kube_event_recorder *r = NULL;
        struct kube_event_decision d;
        struct fake_server s;
        struct kube_client *c;
        struct errbuf err;
        const int64_t t0 = 1767323045000LL;
        json_t *body;
        char name[300];

        (void)state;
        fake_server_start(&s, event_script, sizeof(event_script) / sizeof(event_script[0]), false);
        c = fake_client_new(&s, "tok", NULL);
        assert_int_equal(kube_event_recorder_new(&src, 0, &r, &err), 0);
        assert_int_equal(kube_event_record(r, c, &ref, &spec, t0, &err), 0);
        assert_int_equal(kube_event_record(r, c, &ref, &spec, t0 + 1000, &err), 0);
        /* The Event expired on the server: PATCH 404, then a new one (its name taken once). */
        assert_int_equal(kube_event_record(r, c, &ref, &spec, t0 + 2000, &err), 0);
        /* Failure: the recorder does not change. */
        kube_event_recorder_decide(r, &ref, &spec, t0 + 3000, &d);
        assert_int_equal(d.action, KUBE_EVENT_PATCH);
        assert_int_equal(d.count, 2);
        assert_int_equal(kube_event_record(r, c, &ref, &spec, t0 + 3000, &err), -EAGAIN);
        kube_event_recorder_decide(r, &ref, &spec, t0 + 3000, &d);
        assert_int_equal(d.count, 2);
        pthread_mutex_lock(&s.mu);
        assert_int_equal(s.nreq, 6);
        assert_string_equal(s.reqs[0].method, "POST");
        assert_string_equal(s.reqs[0].path, "/apis/events.k8s.io/v1/namespaces/kagent/events");
        body = json_loads(s.reqs[0].body, 0, NULL);
        (void)snprintf(
                name, sizeof(name), "/apis/events.k8s.io/v1/namespaces/kagent/events/%s",
                json_string_value(json_object_get(json_object_get(body, "metadata"), "name")));
        json_decref(body);
        assert_string_equal(s.reqs[1].method, "PATCH");
        assert_string_equal(s.reqs[1].path, name);
        assert_string_equal(s.reqs[1].ctype, "application/merge-patch+json");
        assert_string_equal(s.reqs[1].body, "{\"series\":{\"count\":2,\"lastObservedTime\":"
                                            "\"2026-01-02T03:04:06.000000Z\"}}");
        assert_string_equal(s.reqs[2].method, "PATCH");
        assert_non_null(strstr(s.reqs[2].body, "\"count\":3"));
        /* The new Event's name was taken: once more with other sub-millisecond digits. */
        assert_string_equal(s.reqs[3].method, "POST");
        assert_string_equal(s.reqs[4].method, "POST");
        {
                char a[300];
                char b[300];

                assert_string_not_equal(body_name(&s.reqs[3], a, sizeof(a)),
                                        body_name(&s.reqs[4], b, sizeof(b)));
                assert_memory_equal(a, "default.", 8);
                assert_int_equal(strlen(a), strlen("default.") + 16);
        }
        assert_string_equal(s.reqs[5].method, "PATCH");
        pthread_mutex_unlock(&s.mu);
        kube_event_recorder_free(r);
        kube_client_free(c);
        fake_server_stop(&s);
}

/* ------------------------------------------------------------------------------------------ */
/* Lease                                                                                      */

struct fake_lease_api {
        json_t *lease; /* the stored object, NULL when absent */
        int64_t rv;
        int fail; /* next calls fail with this while fail_n > 0 */
        int fail_n;
        int conflicts; /* the next writes that lose a race (409) */
        int calls;
        int gets;
        int64_t stall_ms; /* each call takes this long on the fake clock */
};

static int64_t fake_mono_now;

static int fake_fail(struct fake_lease_api *api, struct errbuf *err)
{
        api->calls++;
        fake_mono_now += api->stall_ms;
        if (api->fail_n > 0) {
                api->fail_n--;
                return errbuf_set(err, api->fail, "fake api failure");
        }
        return 0;
}

static int fake_get(void *userdata, json_t **out, struct errbuf *err)
{
        struct fake_lease_api *api = userdata;
        int rc = fake_fail(api, err);

        api->gets++;
        if (rc < 0)
                return rc;
        if (!api->lease)
                return errbuf_set(err, -ENOENT, "not found");
        *out = json_deep_copy(api->lease);
        return 0;
}

static void store(struct fake_lease_api *api, const json_t *lease)
{
        char rv[32];
        json_t *copy = json_deep_copy(lease);

        api->rv++;
        (void)snprintf(rv, sizeof(rv), "%lld", (long long)api->rv);
        assert_int_equal(json_object_set_new(json_object_get(copy, "metadata"), "resourceVersion",
                                             json_string(rv)),
                         0);
        json_decref(api->lease);
        api->lease = copy;
}

static int fake_create(void *userdata, const json_t *lease, json_t **out, struct errbuf *err)
{
        struct fake_lease_api *api = userdata;
        int rc = fake_fail(api, err);

        if (rc < 0)
                return rc;
        if (api->lease || api->conflicts > 0) {
                api->conflicts -= api->conflicts > 0;
                return errbuf_set(err, -EEXIST, "already exists");
        }
        store(api, lease);
        if (out) /* the API answers with the object as stored */
                *out = json_deep_copy(api->lease);
        return 0;
}

static int fake_update(void *userdata, const json_t *lease, json_t **out, struct errbuf *err)
{
        struct fake_lease_api *api = userdata;
        const char *rv = json_string_value(
                json_object_get(json_object_get(lease, "metadata"), "resourceVersion"));
        const char *cur = json_string_value(
                json_object_get(json_object_get(api->lease, "metadata"), "resourceVersion"));
        int rc = fake_fail(api, err);

        if (rc < 0)
                return rc;
        if (api->conflicts > 0 || !rv || !cur || strcmp(rv, cur) != 0) {
                api->conflicts -= api->conflicts > 0;
                return errbuf_set(err, -ESTALE, "conflict");
        }
        store(api, lease);
        if (out)
                *out = json_deep_copy(api->lease);
        return 0;
}

static const struct kube_lease_ops fake_ops = { fake_get, fake_create, fake_update };

static int64_t fake_mono(void *userdata)
{
        (void)userdata;
        return fake_mono_now;
}

static int64_t fake_wall(void *userdata)
{
        (void)userdata;
        return T0 + fake_mono_now;
}

static const char *holder(const struct fake_lease_api *api)
{
        return json_string_value(
                json_object_get(json_object_get(api->lease, "spec"), "holderIdentity"));
}

static json_int_t spec_int(const struct fake_lease_api *api, const char *key)
{
        return json_integer_value(json_object_get(json_object_get(api->lease, "spec"), key));
}

static struct kube_leader *new_leader(struct fake_lease_api *api, const char *identity)
{
        static const struct kube_lease_clock clock = { fake_mono, fake_wall, NULL };
        struct kube_lease_config cfg = { "kagent", "kagent-retention", identity, 0, 0, 0 };
        struct kube_leader *le = NULL;
        struct errbuf err;

        assert_int_equal(kube_leader_new(NULL, &cfg, &fake_ops, api, &clock, &le, &err), 0);
        return le;
}

static int tick(struct kube_leader *le)
{
        struct errbuf err;

        return kube_leader_tick(le, NULL, &err);
}

static void test_lease_state_machine(void **state)
{
        struct fake_lease_api storage = { 0 };
        struct fake_lease_api *api = &storage; /* shared with the electors */
        struct kube_leader *a;
        struct kube_leader *b;
        struct errbuf err;
        int64_t next = 0;
        int calls;

        (void)state;
        fake_mono_now = 1000000;
        a = new_leader(api, "pod-a_1");
        b = new_leader(api, "pod-b_2");
        /* Absent: A creates it and leads; B sees a valid holder. */
        assert_int_equal(tick(a), 1);
        assert_string_equal(holder(api), "pod-a_1");
        assert_int_equal(spec_int(api, "leaseDurationSeconds"), 15);
        assert_int_equal(spec_int(api, "leaseTransitions"), 0);
        assert_int_equal(tick(b), 0);
        assert_false(kube_leader_is_leader(b));
        /* Not due yet: no API call, the state and the delay come back. */
        calls = api->calls;
        fake_mono_now += 500;
        assert_int_equal(kube_leader_tick(a, &next, &err), 1);
        assert_int_equal(next, 1500);
        assert_int_equal(api->calls, calls);
        /* Renewals every retry period move renewTime, keep acquireTime. */
        {
                char acquired[64];

                (void)snprintf(acquired, sizeof(acquired), "%s",
                               json_string_value(json_object_get(
                                       json_object_get(api->lease, "spec"), "acquireTime")));
                fake_mono_now += 1500;
                assert_int_equal(kube_leader_tick(a, &next, &err), 1);
                assert_int_equal(next, 2000);
                assert_string_equal(json_string_value(json_object_get(
                                            json_object_get(api->lease, "spec"), "acquireTime")),
                                    acquired);
                assert_string_equal(json_string_value(json_object_get(
                                            json_object_get(api->lease, "spec"), "renewTime")),
                                    "2026-01-02T03:20:47.000000Z");
        }
        /* B observes the renewal at t; A then dies. Held until t + 15 s by B's own clock. */
        assert_int_equal(tick(b), 0);
        fake_mono_now += 14000;
        assert_int_equal(tick(b), 0);
        assert_string_equal(holder(api), "pod-a_1");
        fake_mono_now += 2000;
        assert_int_equal(tick(b), 1);
        assert_string_equal(holder(api), "pod-b_2");
        assert_int_equal(spec_int(api, "leaseTransitions"), 1);
        /* A, stuck for 16 s, stopped counting itself leader at its deadline; B holds it now. */
        assert_false(kube_leader_is_leader(a));
        assert_int_equal(tick(a), 0);
        assert_false(kube_leader_is_leader(a));
        assert_string_equal(holder(api), "pod-b_2");
        /* The API fails: B stays leader until the renew deadline (10 s), then gives up. */
        api->fail = -EAGAIN;
        api->fail_n = 100;
        fake_mono_now += 2000;
        assert_int_equal(tick(b), -EAGAIN);
        assert_true(kube_leader_is_leader(b));
        fake_mono_now += 6000;
        assert_int_equal(tick(b), -EAGAIN);
        assert_true(kube_leader_is_leader(b));
        fake_mono_now += 2000; /* 10 s since the last renewal */
        assert_int_equal(tick(b), -EAGAIN);
        assert_false(kube_leader_is_leader(b));
        api->fail_n = 0;
        /* Back: B still holds the record, renews and leads again. */
        fake_mono_now += 2000;
        assert_int_equal(tick(b), 1);
        /* Leadership is bounded by time, not by ticks: a thread that stops ticking loses it. */
        {
                int64_t renewed = fake_mono_now;

                assert_int_equal(kube_leader_deadline_ms(b), renewed + 10000);
                fake_mono_now += 9999;
                assert_true(kube_leader_is_leader(b));
                fake_mono_now += 1;
                assert_false(kube_leader_is_leader(b));
                assert_int_equal(kube_leader_deadline_ms(a), 0);
                /* A late tick renews. A renewal stalled past the deadline then fails: lost. */
                assert_int_equal(tick(b), 1);
                api->stall_ms = 6000;
                api->fail = -ETIMEDOUT;
                api->fail_n = 1;
                fake_mono_now += 2000;
                assert_int_equal(tick(b), -ETIMEDOUT); /* 8 s after the renewal: still leader */
                assert_true(kube_leader_is_leader(b));
                api->fail_n = 1;
                assert_int_equal(tick(b), -ETIMEDOUT); /* due at once; 14 s: lost */
                assert_false(kube_leader_is_leader(b));
                api->stall_ms = 0;
                fake_mono_now += 2000;
                assert_int_equal(tick(b), 1);
        }
        /* Release on shutdown: the holder cleared, the next candidate takes over at once. */
        assert_int_equal(kube_leader_release(b, &err), 0);
        assert_false(kube_leader_is_leader(b));
        assert_string_equal(holder(api), "");
        assert_int_equal(spec_int(api, "leaseDurationSeconds"), 1);
        assert_int_equal(kube_leader_release(b, &err), 0); /* not leading: nothing to do */
        fake_mono_now += 2000;
        assert_int_equal(tick(a), 1);
        assert_string_equal(holder(api), "pod-a_1");
        assert_int_equal(spec_int(api, "leaseTransitions"), 2);
        kube_leader_free(a);
        kube_leader_free(b);
        json_decref(api->lease);
}

/* Two candidates racing: a 409 on create or update means the other one won. */
static void test_lease_conflicts(void **state)
{
        struct fake_lease_api storage = { 0 };
        struct fake_lease_api *api = &storage; /* shared with the electors */
        struct kube_leader *a;
        struct kube_leader *b;

        (void)state;
        fake_mono_now = 5000000;
        a = new_leader(api, "pod-a_1");
        b = new_leader(api, "pod-b_2");
        api->conflicts = 1; /* B's create lands first */
        assert_int_equal(tick(a), 0);
        assert_false(kube_leader_is_leader(a));
        assert_int_equal(tick(b), 1);
        /* B expires; A and B race for it, A's write conflicts. */
        fake_mono_now += 2000;
        assert_int_equal(tick(a), 0);
        fake_mono_now += 16000;
        api->conflicts = 1;
        assert_int_equal(tick(a), 0);
        assert_false(kube_leader_is_leader(a));
        /* B, late but still the holder, renews. */
        assert_int_equal(tick(b), 1);
        assert_string_equal(holder(api), "pod-b_2");
        /* A leader whose renewal conflicts re-reads at once and renews (client-go's slow path). */
        api->conflicts = 1;
        fake_mono_now += 2000;
        assert_int_equal(tick(b), 1);
        assert_true(kube_leader_is_leader(b));
        assert_int_equal(api->conflicts, 0);
        /* Both writes of an attempt conflict: still leader within the renew deadline. */
        api->conflicts = 2;
        fake_mono_now += 2000;
        assert_int_equal(tick(b), 1);
        assert_true(kube_leader_is_leader(b));
        fake_mono_now += 2000;
        assert_int_equal(tick(b), 1);
        /* Until the deadline: every write conflicting for 10 s loses it. */
        for (int i = 0; i < 5; i++) {
                api->conflicts = 2;
                fake_mono_now += 2000;
                assert_int_equal(tick(b), i < 4 ? 1 : 0);
        }
        assert_false(kube_leader_is_leader(b));
        kube_leader_free(a);
        kube_leader_free(b);
        json_decref(api->lease);
}

/*
 * A leader renews with one PUT, from what its last write returned (client-go's fast path); it
 * reads the Lease again only after a conflict or a failure.
 */
static void test_lease_fast_renewal(void **state)
{
        struct fake_lease_api storage = { 0 };
        struct fake_lease_api *api = &storage;
        struct kube_leader *a;
        int calls;

        (void)state;
        fake_mono_now = 9000000;
        a = new_leader(api, "pod-a_1");
        assert_int_equal(tick(a), 1); /* GET (absent), POST */
        assert_int_equal(api->calls, 2);
        assert_int_equal(api->gets, 1);
        for (int i = 1; i <= 5; i++) {
                fake_mono_now += 2000;
                assert_int_equal(tick(a), 1);
                assert_int_equal(api->calls, 2 + i); /* a PUT each, no GET */
                assert_int_equal(api->gets, 1);
                assert_int_equal(api->rv, 1 + i);
        }
        assert_string_equal(json_string_value(json_object_get(json_object_get(api->lease, "spec"),
                                                              "renewTime")),
                            "2026-01-02T05:34:15.000000Z");
        assert_int_equal(spec_int(api, "leaseTransitions"), 0);
        /* Someone else writes the Lease (a label, say): the PUT conflicts, a GET, a PUT. */
        store(api, api->lease);
        calls = api->calls;
        fake_mono_now += 2000;
        assert_int_equal(tick(a), 1);
        assert_int_equal(api->calls, calls + 3);
        assert_int_equal(api->gets, 2);
        assert_string_equal(holder(api), "pod-a_1");
        /* The next renewal is one PUT again. */
        fake_mono_now += 2000;
        assert_int_equal(tick(a), 1);
        assert_int_equal(api->calls, calls + 4);
        /* A failed PUT is the attempt's failure; the next attempt reads first. */
        api->fail = -EAGAIN;
        api->fail_n = 1;
        fake_mono_now += 2000;
        assert_int_equal(tick(a), -EAGAIN);
        assert_true(kube_leader_is_leader(a));
        assert_int_equal(api->calls, calls + 5);
        fake_mono_now += 2000;
        assert_int_equal(tick(a), 1);
        assert_int_equal(api->calls, calls + 7);
        assert_int_equal(api->gets, 3);
        /* Another holder took it over meanwhile: the PUT conflicts, the GET shows it, lost. */
        fake_mono_now += 2000;
        assert_int_equal(tick(a), 1);
        json_object_set_new(json_object_get(api->lease, "spec"), "holderIdentity",
                            json_string("pod-b_2"));
        store(api, api->lease);
        fake_mono_now += 2000;
        assert_int_equal(tick(a), 0);
        assert_false(kube_leader_is_leader(a));
        assert_string_equal(holder(api), "pod-b_2");
        kube_leader_free(a);
        json_decref(api->lease);
}

static void test_lease_config_and_identity(void **state)
{
        struct kube_lease_config cfg = { "ns", "name", "id", 15000, 15000, 2000 };
        struct kube_leader *le = NULL;
        struct errbuf err;
        char id[64];
        uint64_t r = 0xabcdef;

        (void)state;
        assert_int_equal(kube_leader_new(NULL, &cfg, &fake_ops, NULL, NULL, &le, &err), -EINVAL);
        assert_null(le);
        cfg.identity = NULL;
        assert_int_equal(kube_leader_new(NULL, &cfg, &fake_ops, NULL, NULL, &le, &err), -EINVAL);
        assert_int_equal(kube_leader_identity("kagent-0", NULL, NULL, id, sizeof(id)), 0);
        assert_int_equal(strlen(id), strlen("kagent-0_") + 16);
        assert_memory_equal(id, "kagent-0_", 9);
        assert_int_equal(kube_leader_identity("kagent-0", NULL, NULL, id, 10), -EMSGSIZE);
        assert_int_equal(kube_leader_identity(NULL, NULL, NULL, id, sizeof(id)), 0);
        assert_non_null(strchr(id, '_'));
        {
                char id2[64];

                assert_int_equal(kube_leader_identity("p", NULL, NULL, id2, sizeof(id2)), 0);
                assert_int_equal(kube_leader_identity("p", NULL, NULL, id, sizeof(id)), 0);
                assert_string_not_equal(id, id2); /* random suffix */
        }
        (void)r;
}

/* ------------------------------------------------------------------------------------------ */
/* Pod volumes and quantities                                                                 */

static const char pod_json[] =
        "{\"metadata\":{\"name\":\"kagent-0\"},\"spec\":{"
        "\"containers\":["
        "{\"name\":\"kagent\",\"volumeMounts\":[{\"name\":\"sqlite-volume\",\"mountPath\":"
        "\"/sqlite-volume\"}]},"
        "{\"name\":\"kagent-retention\",\"volumeMounts\":["
        "{\"name\":\"root-ish\",\"mountPath\":\"/\"},"
        "{\"name\":\"data\",\"mountPath\":\"/data\"},"
        "{\"name\":\"db\",\"mountPath\":\"/data/db/\"},"
        "{\"name\":\"cfg\",\"mountPath\":\"/etc/cfg\",\"readOnly\":true}]}],"
        "\"initContainers\":[{\"name\":\"native-sidecar\",\"volumeMounts\":["
        "{\"name\":\"scratch\",\"mountPath\":\"/scratch\"}]}],"
        "\"volumes\":["
        "{\"name\":\"sqlite-volume\",\"emptyDir\":{\"medium\":\"Memory\",\"sizeLimit\":\"500Mi\"}},"
        "{\"name\":\"root-ish\",\"emptyDir\":{}},"
        "{\"name\":\"data\",\"emptyDir\":{\"sizeLimit\":\"1Gi\"}},"
        "{\"name\":\"db\",\"emptyDir\":{\"sizeLimit\":\"2G\"}},"
        "{\"name\":\"cfg\",\"configMap\":{\"name\":\"x\"}},"
        "{\"name\":\"scratch\",\"emptyDir\":{\"sizeLimit\":\"lots\"}}]}}";

static void test_pod_volume(void **state)
{
        struct kube_pod_volume v;
        struct errbuf err;
        json_t *pod = json_loads(pod_json, 0, NULL);

        (void)state;
        assert_non_null(pod);
        assert_int_equal(kube_pod_volume_find(pod, "kagent", "/sqlite-volume/kagent.db", &v, &err),
                         0);
        assert_string_equal(v.name, "sqlite-volume");
        assert_string_equal(v.container, "kagent");
        assert_string_equal(v.mount_path, "/sqlite-volume");
        assert_true(v.empty_dir);
        assert_string_equal(v.medium, "Memory");
        assert_int_equal(v.size_limit_bytes, 524288000);
        /* Any container; the longest whole-component prefix wins. */
        assert_int_equal(kube_pod_volume_find(pod, NULL, "/data/db/kagent.db", &v, &err), 0);
        assert_string_equal(v.name, "db");
        assert_string_equal(v.mount_path, "/data/db");
        assert_int_equal(v.size_limit_bytes, 2000000000);
        assert_string_equal(v.medium, "");
        assert_int_equal(kube_pod_volume_find(pod, NULL, "/data/dbx/kagent.db", &v, &err), 0);
        assert_string_equal(v.name, "data");
        assert_int_equal(v.size_limit_bytes, 1073741824);
        assert_int_equal(kube_pod_volume_find(pod, NULL, "/data/db", &v, &err), 0);
        assert_string_equal(v.name, "db");
        assert_int_equal(kube_pod_volume_find(pod, "kagent-retention", "/var/x.db", &v, &err), 0);
        assert_string_equal(v.name, "root-ish");
        assert_int_equal(v.size_limit_bytes, -1);
        /* Not an emptyDir. */
        assert_int_equal(kube_pod_volume_find(pod, NULL, "/etc/cfg/a", &v, &err), 0);
        assert_false(v.empty_dir);
        assert_int_equal(v.size_limit_bytes, -1);
        /* Errors, with the out-param untouched. */
        memset(&v, 0x5a, sizeof(v));
        assert_int_equal(kube_pod_volume_find(pod, "kagent", "/var/x.db", &v, &err), -ENOENT);
        assert_string_equal(err.msg, "pod: no volume mount holds '/var/x.db' in container "
                                     "'kagent'");
        assert_int_equal(kube_pod_volume_find(pod, NULL, "/scratch/x", &v, &err), -EPROTO);
        assert_string_equal(err.msg, "pod: volume 'scratch': invalid sizeLimit 'lots'");
        assert_int_equal(kube_pod_volume_find(pod, NULL, "x.db", &v, &err), -EINVAL);
        assert_int_equal(*(unsigned char *)v.name, 0x5a);
        json_decref(pod);
}

static void test_quantity(void **state)
{
        static const struct {
                const char *s;
                int rc;
                int64_t v;
        } table[] = {
                { "500Mi", 0, 524288000 },
                { "1Gi", 0, 1073741824 },
                { "10G", 0, 10000000000 },
                { "123456", 0, 123456 },
                { "1.5Gi", 0, 1610612736 },
                { "0.5Ki", 0, 512 },
                { "1k", 0, 1000 },
                { "1e3", 0, 1000 },
                { "1E3", 0, 1000 },
                { "1.5e3", 0, 1500 },
                { "1e-3", 0, 1 },
                { "500m", 0, 1 },
                { "1000m", 0, 1 },
                { "1500m", 0, 2 },
                { ".5", 0, 1 },
                { "5.", 0, 5 },
                { "0", 0, 0 },
                { "0.000", 0, 0 },
                { "+1Ki", 0, 1024 },
                { "100", 0, 100 },
                { "1.000001k", 0, 1001 },
                { "7Ei", 0, 8070450532247928832 },
                { "9223372036854775807", 0, INT64_MAX },
                { "8Ei", -ERANGE, 0 },
                { "9223372036854775808", -ERANGE, 0 },
                { "10E", -ERANGE, 0 },
                { "1e400", -ERANGE, 0 },
                { "123456789012345678901", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "Mi", -EINVAL, 0 },
                { "1 Mi", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "1.2.3", -EINVAL, 0 },
                { "1KiB", -EINVAL, 0 },
                { "1ki", -EINVAL, 0 },
                { "1e", -EINVAL, 0 },
                { ".", -EINVAL, 0 },
        };
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
                int64_t v = -42;

                print_message("quantity '%s'\n", table[i].s);
                assert_int_equal(kube_quantity_parse(table[i].s, &v), table[i].rc);
                assert_int_equal(v, table[i].rc == 0 ? table[i].v : -42);
        }
}

int run_helper_tests(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_condition_semantics),
                cmocka_unit_test(test_condition_message_cut),
                cmocka_unit_test(test_event_build),
                cmocka_unit_test(test_event_aggregation),
                cmocka_unit_test(test_event_record),
                cmocka_unit_test(test_lease_state_machine),
                cmocka_unit_test(test_lease_conflicts),
                cmocka_unit_test(test_lease_fast_renewal),
                cmocka_unit_test(test_lease_config_and_identity),
                cmocka_unit_test(test_pod_volume),
                cmocka_unit_test(test_quantity),
        };
        return cmocka_run_group_tests_name("helpers", tests, NULL, NULL);
}
