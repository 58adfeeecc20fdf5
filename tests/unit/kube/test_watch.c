/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Watch framing, backoff and LIST+WATCH: a recorded stream split at every byte boundary gives
 * the same events, over-long lines are -EMSGSIZE, ERROR 410 is -ESTALE with a relist, bookmarks
 * carry their resourceVersion, the backoff stays within its bounds with a fixed random source;
 * against the fake API server: 410 relists (ERROR event and HTTP status), bookmarks, 429 with
 * Retry-After, a 500, a connection dropped mid-event, the server ending a watch, an over-long
 * event, a forced relist.
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

#include "base/clock.h"
#include "base/errbuf.h"
#include "failalloc.h"
#include "fakeapi.h"
#include "kube/kube.h"
#include "kube_test.h"

/* A stream as kube-apiserver writes it, with a blank keep-alive line and a CRLF. */
static const char recorded[] =
        "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"kagent.dev/v1alpha1\",\"kind\":"
        "\"RetentionPolicy\",\"metadata\":{\"name\":\"default\",\"namespace\":\"kagent\","
        "\"resourceVersion\":\"101\",\"generation\":1},\"spec\":{\"schedule\":{\"interval\":"
        "\"15m\"}}}}\n"
        "\n"
        "{\"type\":\"MODIFIED\",\"object\":{\"apiVersion\":\"kagent.dev/v1alpha1\",\"kind\":"
        "\"RetentionPolicy\",\"metadata\":{\"name\":\"default\",\"namespace\":\"kagent\","
        "\"resourceVersion\":\"102\",\"generation\":2,\"annotations\":{\"note\":\"caf\xc3\xa9 "
        "\\n \\u00e9\"}},\"spec\":{\"schedule\":{\"interval\":\"5m\"}}}}\r\n"
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"RetentionPolicy\",\"apiVersion\":"
        "\"kagent.dev/v1alpha1\",\"metadata\":{\"resourceVersion\":\"150\",\"annotations\":"
        "{\"k8s.io/initial-events-end\":\"true\"}}}}\n"
        "{\"type\":\"DELETED\",\"object\":{\"apiVersion\":\"kagent.dev/v1alpha1\",\"kind\":"
        "\"RetentionPolicy\",\"metadata\":{\"name\":\"default\",\"namespace\":\"kagent\","
        "\"resourceVersion\":\"151\"}}}\n"
        "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":"
        "{},\"status\":\"Failure\",\"message\":\"too old resource version: 1 (151)\","
        "\"reason\":\"Expired\",\"code\":410}}\n";

static const char error_line[] = "ERROR -116 relist watch error event: too old resource version: "
                                 "1 (151) (code 410, Expired)";

static const char *const expected[] = {
        "ADDED 101 default", "MODIFIED 102 default", "BOOKMARK 150 -", "DELETED 151 default",
        error_line,
};

#define LOG_MAX 16

struct record {
        char lines[LOG_MAX][256];
        size_t n;
        int stop_after; /* return -ECANCELED after this many events; 0: never */
};

static const char *type_name(enum kube_watch_event_type t)
{
        switch (t) {
        case KUBE_WATCH_SYNC:
                return "SYNC";
        case KUBE_WATCH_ADDED:
                return "ADDED";
        case KUBE_WATCH_MODIFIED:
                return "MODIFIED";
        case KUBE_WATCH_DELETED:
                return "DELETED";
        case KUBE_WATCH_BOOKMARK:
                return "BOOKMARK";
        case KUBE_WATCH_ERROR:
                return "ERROR";
        }
        return "?";
}

static int on_event(const struct kube_watch_event *ev, void *userdata)
{
        struct record *r = userdata;

        assert_true(r->n < LOG_MAX);
        if (ev->type == KUBE_WATCH_ERROR) {
                (void)snprintf(r->lines[r->n], sizeof(r->lines[r->n]), "ERROR %d %s %s", ev->error,
                               ev->relist ? "relist" : "rewatch", ev->message);
        } else {
                const char *name = json_string_value(
                        json_object_get(json_object_get(ev->object, "metadata"), "name"));
                (void)snprintf(
                        r->lines[r->n], sizeof(r->lines[r->n]), "%s %s %s", type_name(ev->type),
                        ev->resource_version ? ev->resource_version : "-", name ? name : "-");
        }
        r->n++;
        if (r->stop_after > 0 && r->n == (size_t)r->stop_after)
                return -ECANCELED;
        return 0;
}

static void assert_expected(const struct record *r)
{
        size_t i;

        assert_int_equal(r->n, sizeof(expected) / sizeof(expected[0]));
        for (i = 0; i < r->n; i++)
                assert_string_equal(r->lines[i], expected[i]);
}

static void test_decoder_whole(void **state)
{
        struct kube_watch_decoder d;
        struct record r = { 0 };
        struct errbuf err;

        (void)state;
        kube_watch_decoder_init(&d, 0);
        assert_int_equal(d.line_max, KUBE_WATCH_LINE_MAX);
        assert_int_equal(
                kube_watch_decoder_feed(&d, recorded, strlen(recorded), on_event, &r, &err), 0);
        assert_expected(&r);
        assert_int_equal(kube_watch_decoder_pending(&d), 0);
        kube_watch_decoder_cleanup(&d);
}

/* Split in two at every byte boundary: the same events, in the same order, every time. */
static void test_decoder_every_split(void **state)
{
        size_t len = strlen(recorded);
        size_t i;

        (void)state;
        for (i = 0; i <= len; i++) {
                struct kube_watch_decoder d;
                struct record r = { 0 };
                struct errbuf err;

                kube_watch_decoder_init(&d, 0);
                assert_int_equal(kube_watch_decoder_feed(&d, recorded, i, on_event, &r, &err), 0);
                assert_int_equal(
                        kube_watch_decoder_feed(&d, recorded + i, len - i, on_event, &r, &err), 0);
                assert_expected(&r);
                assert_int_equal(kube_watch_decoder_pending(&d), 0);
                kube_watch_decoder_cleanup(&d);
        }
}

/* Three pieces at every pair of boundaries, and one byte at a time. */
static void test_decoder_every_pair_and_bytes(void **state)
{
        size_t len = strlen(recorded);
        struct kube_watch_decoder d;
        struct record r = { 0 };
        struct errbuf err;
        size_t i;
        size_t j;

        (void)state;
        for (i = 0; i <= len; i += 7) {
                for (j = i; j <= len; j += 5) {
                        struct record rr = { 0 };

                        kube_watch_decoder_init(&d, 0);
                        assert_int_equal(
                                kube_watch_decoder_feed(&d, recorded, i, on_event, &rr, &err), 0);
                        assert_int_equal(kube_watch_decoder_feed(&d, recorded + i, j - i, on_event,
                                                                 &rr, &err),
                                         0);
                        assert_int_equal(kube_watch_decoder_feed(&d, recorded + j, len - j,
                                                                 on_event, &rr, &err),
                                         0);
                        assert_expected(&rr);
                        kube_watch_decoder_cleanup(&d);
                }
        }
        kube_watch_decoder_init(&d, 0);
        for (i = 0; i < len; i++) {
                assert_int_equal(kube_watch_decoder_feed(&d, recorded + i, 1, on_event, &r, &err),
                                 0);
                /* An incomplete event is held, never a complete one. */
                assert_true(kube_watch_decoder_pending(&d) <= i + 1);
        }
        assert_expected(&r);
        kube_watch_decoder_cleanup(&d);
}

/*
 * A 2 MiB event fed in 3-byte pieces: each byte is scanned once, so this is linear. A decoder
 * that re-scanned its buffer for the newline on every piece would do ~7e11 comparisons here.
 */
static void test_decoder_large_event_linear(void **state)
{
        size_t pad = 2u << 20;
        const char head[] = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"big\","
                            "\"resourceVersion\":\"7\"},\"data\":\"";
        const char tail[] = "\"}}\n";
        size_t len = sizeof(head) - 1 + pad + sizeof(tail) - 1;
        struct kube_watch_decoder d;
        struct record r = { 0 };
        struct errbuf err;
        char *s = malloc(len);
        size_t i;

        (void)state;
        assert_non_null(s);
        memcpy(s, head, sizeof(head) - 1);
        memset(s + sizeof(head) - 1, 'x', pad);
        memcpy(s + sizeof(head) - 1 + pad, tail, sizeof(tail) - 1);
        kube_watch_decoder_init(&d, 0);
        for (i = 0; i < len; i += 3) {
                size_t n = len - i < 3 ? len - i : 3;

                assert_int_equal(kube_watch_decoder_feed(&d, s + i, n, on_event, &r, &err), 0);
        }
        assert_int_equal(r.n, 1);
        assert_string_equal(r.lines[0], "ADDED 7 big");
        kube_watch_decoder_cleanup(&d);
        free(s);
}

static void test_decoder_line_limit(void **state)
{
        static const char small[] = "{\"type\":\"ADDED\",\"object\":{}}\n";
        struct kube_watch_decoder d;
        struct record r = { 0 };
        struct errbuf err;
        char line[256];
        int n;

        (void)state;
        n = snprintf(line, sizeof(line),
                     "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\","
                     "\"name\":\"a\"}}}");
        /* Exactly at the limit (newline not counted) is fine. */
        kube_watch_decoder_init(&d, (size_t)n);
        assert_int_equal(kube_watch_decoder_feed(&d, line, (size_t)n, on_event, &r, &err), 0);
        assert_int_equal(kube_watch_decoder_feed(&d, "\n", 1, on_event, &r, &err), 0);
        assert_int_equal(r.n, 1);
        kube_watch_decoder_cleanup(&d);
        /* One byte over: -EMSGSIZE as soon as the tail outgrows the limit, before the newline. */
        kube_watch_decoder_init(&d, (size_t)n - 1);
        assert_int_equal(kube_watch_decoder_feed(&d, line, 10, on_event, &r, &err), 0);
        assert_int_equal(kube_watch_decoder_feed(&d, line + 10, (size_t)n - 10, on_event, &r, &err),
                         -EMSGSIZE);
        assert_int_equal(err.code, -EMSGSIZE);
        assert_non_null(strstr(err.msg, "longer than"));
        /* Sticky until reset. */
        assert_int_equal(kube_watch_decoder_feed(&d, "\n", 1, on_event, &r, &err), -EMSGSIZE);
        kube_watch_decoder_reset(&d);
        assert_int_equal(kube_watch_decoder_feed(&d, small, strlen(small), on_event, &r, &err), 0);
        assert_int_equal(r.n, 2);
        /* A whole over-long line inside one chunk too. */
        kube_watch_decoder_reset(&d);
        assert_int_equal(
                kube_watch_decoder_feed(&d, recorded, strlen(recorded), on_event, &r, &err),
                -EMSGSIZE);
        kube_watch_decoder_cleanup(&d);
}

static void test_decoder_malformed(void **state)
{
        static const char *const bad[] = {
                "not json\n",
                "{\"type\":\"ADDED\"}\n",
                "{\"type\":\"RENAMED\",\"object\":{}}\n",
                "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}\n",
                "{\"type\":\"ADDED\",\"object\":[]}\n",
                "{\"type\":\"ADDED\",\"type\":\"DELETED\",\"object\":{}}\n",
        };
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct kube_watch_decoder d;
                struct record r = { 0 };
                struct errbuf err;

                kube_watch_decoder_init(&d, 0);
                assert_int_equal(
                        kube_watch_decoder_feed(&d, bad[i], strlen(bad[i]), on_event, &r, &err),
                        -EPROTO);
                assert_int_equal(r.n, 0);
                kube_watch_decoder_cleanup(&d);
        }
}

/* The callback's error stops the decoder at that event. */
static void test_decoder_callback_stop(void **state)
{
        struct kube_watch_decoder d;
        struct record r = { .stop_after = 2 };
        struct errbuf err;

        (void)state;
        kube_watch_decoder_init(&d, 0);
        assert_int_equal(
                kube_watch_decoder_feed(&d, recorded, strlen(recorded), on_event, &r, &err),
                -ECANCELED);
        assert_int_equal(r.n, 2);
        kube_watch_decoder_cleanup(&d);
}

/*
 * The decoder's allocations fail one by one, jansson's included: -ENOMEM every time (a parse
 * that lost an allocation is never taken for a malformed line, see base/memguard.h).
 */
static void test_decoder_alloc_failures(void **state)
{
        size_t len = strlen(recorded);
        long n;

        (void)state;
        for (n = 1;; n++) {
                struct kube_watch_decoder d;
                struct record r = { 0 };
                struct errbuf err;
                int rc;

                kube_watch_decoder_init(&d, 0);
                failalloc_arm(n);
                rc = kube_watch_decoder_feed(&d, recorded, len / 2, on_event, &r, &err);
                if (rc == 0)
                        rc = kube_watch_decoder_feed(&d, recorded + len / 2, len - len / 2,
                                                     on_event, &r, &err);
                failalloc_disarm();
                kube_watch_decoder_cleanup(&d);
                assert_int_equal(failalloc_live(), 0);
                if (rc == 0) {
                        assert_false(failalloc_injected());
                        assert_expected(&r);
                        break;
                }
                assert_int_equal(rc, -ENOMEM);
                assert_true(n < 100000);
        }
        assert_true(n > 1);
}

static uint64_t fixed_rng(void *userdata)
{
        return *(const uint64_t *)userdata;
}

static void test_backoff_fixed_rng(void **state)
{
        static const int64_t low[] = { 400, 800, 1600, 3200, 6400, 12800, 15000, 15000 };
        struct kube_backoff b;
        uint64_t draw = 0;
        uint64_t *r = &draw; /* what the fixed generator returns next */
        size_t i;

        (void)state;
        kube_backoff_init(&b, 800, 30000, fixed_rng, r);
        for (i = 0; i < sizeof(low) / sizeof(low[0]); i++)
                assert_int_equal(kube_backoff_next(&b), low[i]);
        /* The largest draw reaches the step itself: d/2 + d/2. */
        kube_backoff_reset(&b);
        *r = 400; /* 400 % 401 */
        assert_int_equal(kube_backoff_next(&b), 800);
        *r = 800; /* 800 % 801 */
        assert_int_equal(kube_backoff_next(&b), 1600);
        kube_backoff_reset(&b);
        *r = 401; /* 401 % 401 == 0 */
        assert_int_equal(kube_backoff_next(&b), 400);
        /* Thousands of failures stay at the cap without overflow. */
        *r = UINT64_MAX;
        for (i = 0; i < 5000; i++) {
                int64_t d = kube_backoff_next(&b);

                assert_true(d >= 200 && d <= 30000);
        }
        assert_true(kube_backoff_next(&b) >= 15000);
}

static void test_backoff_bounds_builtin_rng(void **state)
{
        struct kube_backoff b;
        int64_t step = 100;
        int64_t seen_min = INT64_MAX;
        int64_t seen_max = 0;
        int i;

        (void)state;
        kube_backoff_init(&b, 100, 1000, NULL, NULL);
        for (i = 0; i < 10; i++) {
                int64_t d = kube_backoff_next(&b);

                assert_true(d >= step / 2 && d <= step);
                step = step * 2 > 1000 ? 1000 : step * 2;
        }
        for (i = 0; i < 2000; i++) {
                int64_t d = kube_backoff_next(&b);

                assert_true(d >= 500 && d <= 1000);
                seen_min = d < seen_min ? d : seen_min;
                seen_max = d > seen_max ? d : seen_max;
        }
        /* Jitter really spreads the delays over the interval. */
        assert_true(seen_min < 550 && seen_max > 950);
}

/* ------------------------------------------------------------------------------------------ */
/* LIST+WATCH against the fake API server                                                     */

#define RP_PATH "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies"

struct watch_log {
        char lines[32][160];
        size_t n;
        int64_t offset; /* the fake clock runs ahead of the real one by this much */
        const char *stop_at;
};

static int64_t fake_clock(void *userdata)
{
        const struct watch_log *l = userdata;

        return clock_mono_ms() + l->offset;
}

static uint64_t zero_rng(void *userdata)
{
        (void)userdata;
        return 0;
}

static int log_event(const struct kube_watch_event *ev, void *userdata)
{
        static const char *const names[] = { "?",       "SYNC",     "ADDED", "MODIFIED",
                                             "DELETED", "BOOKMARK", "ERROR" };
        struct watch_log *l = userdata;
        char *line = l->lines[l->n];
        size_t size = sizeof(l->lines[0]);

        if (ev->type == KUBE_WATCH_SYNC) {
                (void)snprintf(line, size, "SYNC %s items=%zu", ev->resource_version,
                               json_array_size(ev->object));
        } else if (ev->type == KUBE_WATCH_ERROR) {
                (void)snprintf(line, size, "ERROR %d %s retry=%lld", ev->error,
                               ev->relist ? "relist" : "rewatch", (long long)ev->retry_in_ms);
                print_message("  error: %s\n", ev->message);
                /* Skip the wait: the watch's clock jumps past the delay. */
                l->offset += ev->retry_in_ms;
        } else {
                const char *name = json_string_value(
                        json_object_get(json_object_get(ev->object, "metadata"), "name"));

                (void)snprintf(line, size, "%s %s %s", names[ev->type], ev->resource_version,
                               name ? name : "-");
        }
        print_message("event: %s\n", line);
        l->n++;
        if ((l->stop_at && strcmp(line, l->stop_at) == 0) || l->n == 32)
                return -ECANCELED;
        return 0;
}

static struct kube_watch *watch_for(struct kube_client *c, struct watch_log *log)
{
        struct kube_watch_options opt = { 0 };
        struct kube_watch *w = NULL;
        struct errbuf err;

        opt.path = RP_PATH;
        opt.field_selector = "metadata.name=default";
        opt.backoff_initial_ms = 100;
        opt.backoff_max_ms = 1000;
        opt.rng = zero_rng;
        opt.clock = fake_clock;
        opt.clock_userdata = log;
        assert_int_equal(kube_watch_new(c, &opt, &w, &err), 0);
        return w;
}

static void assert_log(const struct watch_log *l, const char *const *want, size_t n)
{
        size_t i;

        assert_int_equal(l->n, n);
        for (i = 0; i < n; i++)
                assert_string_equal(l->lines[i], want[i]);
}

static const struct fake_resp relist_script[] = {
        { 200,
          false,
          NULL,
          { "{\"kind\":\"RetentionPolicyList\",\"apiVersion\":\"kagent.dev/v1alpha1\",\"metadata\":"
            "{\"resourceVersion\":\"10\"},\"items\":[{\"metadata\":{\"name\":\"default\","
            "\"namespace\":\"kagent\",\"resourceVersion\":\"9\"}}]}" } },
        { 200,
          false,
          NULL,
          { "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"default\",\"resourceV",
            "ersion\":\"11\"}}}\n{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{"
            "\"resourceVersion\":\"15\"}}}\n",
            "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
            "\"status\":\"Failure\",\"message\":\"too old resource version: 10 (12)\","
            "\"reason\":\"Expired\",\"code\":410}}\n" } },
        { 200,
          false,
          NULL,
          { "{\"metadata\":{\"resourceVersion\":\"20\"},\"items\":[{\"metadata\":{\"name\":"
            "\"default\",\"resourceVersion\":\"18\"}}]}" } },
        { 410,
          false,
          NULL,
          { "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
            "\"too old resource version: 20 (25)\",\"reason\":\"Expired\",\"code\":410}" } },
        { 200, false, NULL, { "{\"metadata\":{\"resourceVersion\":\"30\"},\"items\":null}" } },
        { 200,
          false,
          NULL,
          { "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"default\","
            "\"resourceVersion\":\"31\"}}}\n",
            "" } },
        { 200,
          false,
          NULL,
          { "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"name\":\"default\","
            "\"resourceVersion\":\"32\"}}}\n",
            "" } },
};

static void test_watch_relist(void **state)
{
        static const char *const want[] = {
                "SYNC 10 items=1",           "MODIFIED 11 default", "BOOKMARK 15 -",
                "ERROR -116 relist retry=0", "SYNC 20 items=1",     "ERROR -116 relist retry=100",
                "SYNC 30 items=0",           "ADDED 31 default",    "MODIFIED 32 default",
        };
        struct watch_log log = { .stop_at = "MODIFIED 32 default" };
        struct kube_watch_stats st;
        struct fake_server s;
        struct kube_client *c;
        struct kube_watch *w;
        struct errbuf err;
        volatile int stop = 0;
        size_t i;

        (void)state;
        fake_server_start(&s, relist_script, sizeof(relist_script) / sizeof(relist_script[0]),
                          false);
        c = fake_client_new(&s, "tok-A", NULL);
        w = watch_for(c, &log);
        assert_string_equal(kube_watch_resource_version(w), "");
        assert_int_equal(kube_watch_run(w, log_event, &log, &stop, &err), -ECANCELED);
        assert_log(&log, want, sizeof(want) / sizeof(want[0]));
        assert_string_equal(kube_watch_resource_version(w), "32");
        kube_watch_stats(w, &st);
        assert_int_equal(st.lists, 3);
        assert_int_equal(st.watches, 4);
        assert_int_equal(st.errors, 2);
        pthread_mutex_lock(&s.mu);
        assert_int_equal(s.nreq, 7);
        for (i = 0; i < s.nreq; i++) {
                const struct fake_req *r = &s.reqs[i];
                bool watch = i == 1 || i == 3 || i >= 5;

                assert_string_equal(r->method, "GET");
                assert_string_equal(r->path, RP_PATH);
                assert_string_equal(r->auth, "Bearer tok-A");
                assert_string_equal(r->ua, "kagent-retention/" KR_VERSION);
                assert_true(fake_req_has(r, "fieldSelector=metadata.name=default"));
                assert_int_equal(fake_req_has(r, "watch=1"), watch);
                assert_int_equal(fake_req_has(r, "allowWatchBookmarks=true"), watch);
                if (watch) {
                        const char *t = strstr(r->query, "timeoutSeconds=");

                        assert_non_null(t);
                        assert_int_equal(strtol(t + 15, NULL, 10), 300); /* zero_rng: the min */
                } else {
                        assert_false(fake_req_has(r, "resourceVersion=10"));
                }
        }
        assert_true(fake_req_has(&s.reqs[1], "resourceVersion=10"));
        assert_true(fake_req_has(&s.reqs[3], "resourceVersion=20"));
        assert_true(fake_req_has(&s.reqs[5], "resourceVersion=30"));
        assert_true(fake_req_has(&s.reqs[6], "resourceVersion=31")); /* resumed, no relist */
        pthread_mutex_unlock(&s.mu);
        kube_watch_free(w);
        kube_client_free(c);
        fake_server_stop(&s);
}

static const struct fake_resp failure_script[] = {
        { 429,
          false,
          "7",
          { "{\"kind\":\"Status\",\"code\":429,\"reason\":\"TooManyRequests\"}" } },
        { 500, false, NULL, { "oops" } },
        { 200, false, NULL, { "{\"metadata\":{\"resourceVersion\":\"5\"},\"items\":[]}" } },
        { 200,
          true,
          NULL,
          { "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"6\"}}}\n",
            "{\"type\":\"MODIFIED\",\"obj" } },
        { 200,
          false,
          NULL,
          { "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":{\"resourceVersion\":\"7\"}}}\n",
            "" } },
};

static void test_watch_failures(void **state)
{
        static const char *const want[] = {
                "ERROR -11 relist retry=7000",
                "ERROR -11 relist retry=100",
                "SYNC 5 items=0",
                "ADDED 6 -",
                "ERROR -11 rewatch retry=50",
                "MODIFIED 7 -",
        };
        struct watch_log log = { .stop_at = "MODIFIED 7 -" };
        struct fake_server s;
        struct kube_client *c;
        struct kube_watch *w;
        struct errbuf err;

        (void)state;
        fake_server_start(&s, failure_script, sizeof(failure_script) / sizeof(failure_script[0]),
                          false);
        c = fake_client_new(&s, "tok-B", NULL);
        w = watch_for(c, &log);
        /* Polled with no waiting, as from a controller loop's tick. */
        for (int i = 0; i < 100000; i++) {
                int rc = kube_watch_poll(w, i % 2 ? 0 : 20, log_event, &log, &err);

                if (rc == -ECANCELED)
                        break;
                assert_int_equal(rc, 0);
        }
        assert_log(&log, want, sizeof(want) / sizeof(want[0]));
        pthread_mutex_lock(&s.mu);
        assert_int_equal(s.nreq, 5);
        assert_true(fake_req_has(&s.reqs[3], "resourceVersion=5"));
        assert_true(fake_req_has(&s.reqs[4], "resourceVersion=6"));
        pthread_mutex_unlock(&s.mu);
        kube_watch_free(w);
        kube_client_free(c);
        fake_server_stop(&s);
}

/* An over-long event relists; relist on request; the callback's stop does not lose the watch. */
static const struct fake_resp oversize_script[] = {
        { 200, false, NULL, { "{\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}" } },
        { 200,
          false,
          NULL,
          { "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"2\",\"name\":"
            "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}}\n",
            "" } },
        { 200, false, NULL, { "{\"metadata\":{\"resourceVersion\":\"3\"},\"items\":[]}" } },
        { 200,
          false,
          NULL,
          { "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"4\"}}}\n", "" } },
};

static void test_watch_oversize(void **state)
{
        static const char *const want[] = {
                "SYNC 1 items=0",
                "ERROR -90 relist retry=50",
                "SYNC 3 items=0",
                "ADDED 4 -",
        };
        struct kube_watch_options opt = { 0 };
        struct watch_log log = { .stop_at = "ADDED 4 -" };
        struct fake_server s;
        struct kube_client *c;
        struct kube_watch *w = NULL;
        struct errbuf err;
        volatile int stop = 0;

        (void)state;
        fake_server_start(&s, oversize_script, sizeof(oversize_script) / sizeof(oversize_script[0]),
                          false);
        c = fake_client_new(&s, "tok", NULL);
        opt.path = RP_PATH;
        opt.line_max = 100;
        opt.backoff_initial_ms = 100;
        opt.rng = zero_rng;
        opt.clock = fake_clock;
        opt.clock_userdata = &log;
        assert_int_equal(kube_watch_new(c, &opt, &w, &err), 0);
        assert_int_equal(kube_watch_run(w, log_event, &log, &stop, &err), -ECANCELED);
        assert_log(&log, want, sizeof(want) / sizeof(want[0]));
        /* Stopped: run returns at once, and a forced relist lists again. */
        stop = 1;
        assert_int_equal(kube_watch_run(w, log_event, &log, &stop, &err), 0);
        kube_watch_relist(w);
        log.stop_at = "ERROR -11 relist retry=50";
        assert_int_equal(kube_watch_poll(w, 5000, log_event, &log, &err), -ECANCELED);
        pthread_mutex_lock(&s.mu);
        assert_int_equal(s.nreq, 5);
        assert_null(strstr(s.reqs[4].query, "watch"));
        pthread_mutex_unlock(&s.mu);
        kube_watch_free(w);
        kube_client_free(c);
        fake_server_stop(&s);
}

int run_watch_tests(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_decoder_whole),
                cmocka_unit_test(test_decoder_every_split),
                cmocka_unit_test(test_decoder_every_pair_and_bytes),
                cmocka_unit_test(test_decoder_large_event_linear),
                cmocka_unit_test(test_decoder_line_limit),
                cmocka_unit_test(test_decoder_malformed),
                cmocka_unit_test(test_decoder_callback_stop),
                cmocka_unit_test(test_decoder_alloc_failures),
                cmocka_unit_test(test_backoff_fixed_rng),
                cmocka_unit_test(test_backoff_bounds_builtin_rng),
                cmocka_unit_test(test_watch_relist),
                cmocka_unit_test(test_watch_failures),
                cmocka_unit_test(test_watch_oversize),
        };
        return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
