/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of pkg/metrics: exact exposition text, escaping, validation, the series limit,
 * histogram bucketing, relabelling, allocation failures and freedom, and writers racing scrapes.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/errbuf.h"
#include "failalloc.h"
#include "metrics/metrics.h"

static const double small_buckets[] = { 0.1, 1, 10 };

static struct metrics_registry *new_registry(void)
{
        struct metrics_registry *r = NULL;

        assert_int_equal(metrics_registry_new(16, &r, NULL), 0);
        return r;
}

static struct metrics_family *add(struct metrics_registry *r, const struct metrics_desc *d)
{
        struct metrics_family *f = NULL;
        struct errbuf err;

        errbuf_clear(&err);
        if (metrics_family_add(r, d, &f, &err) < 0)
                fail_msg("metrics_family_add: %s", err.msg);
        return f;
}

static struct metrics_series *series(struct metrics_family *f, const char *const *values)
{
        struct metrics_series *s = NULL;
        struct errbuf err;

        errbuf_clear(&err);
        if (metrics_series_get(f, values, &s, &err) < 0)
                fail_msg("metrics_series_get: %s", err.msg);
        return s;
}

/* Render into a static buffer; returns it NUL-terminated. */
static char scrape_buf[1 << 16];

static const char *scrape(const struct metrics_registry *r)
{
        size_t len = 0;
        struct errbuf err;

        errbuf_clear(&err);
        if (metrics_registry_write(r, scrape_buf, sizeof(scrape_buf) - 1, &len, &err) < 0)
                fail_msg("metrics_registry_write: %s", err.msg);
        scrape_buf[len] = '\0';
        return scrape_buf;
}

static void test_exposition_exact(void **state)
{
        struct metrics_registry *r = new_registry();
        struct metrics_family *deleted;
        struct metrics_family *size;
        struct metrics_family *ratio;
        struct metrics_family *lock;
        struct metrics_family *empty;
        struct metrics_series *s;

        (void)state;
        deleted = add(r, &(struct metrics_desc){ .name = "x_deleted_rows_total",
                                                 .help = "Rows deleted.",
                                                 .type = METRICS_COUNTER,
                                                 .labels = { "rule", "table" },
                                                 .max_series = 4 });
        size = add(r, &(struct metrics_desc){ .name = "x_size_bytes",
                                              .help = "Size.",
                                              .type = METRICS_GAUGE,
                                              .max_series = 1 });
        ratio = add(r, &(struct metrics_desc){ .name = "x_usage_ratio",
                                               .help = "Usage.",
                                               .type = METRICS_GAUGE_DOUBLE,
                                               .max_series = 1 });
        lock = add(r, &(struct metrics_desc){ .name = "x_lock_seconds",
                                              .help = "Lock hold.",
                                              .type = METRICS_HISTOGRAM,
                                              .labels = { "db" },
                                              .buckets = small_buckets,
                                              .n_buckets = 3,
                                              .max_series = 2 });
        empty = add(r, &(struct metrics_desc){ .name = "x_unused_total",
                                               .help = "Never used: left out.",
                                               .type = METRICS_COUNTER,
                                               .labels = { "a" },
                                               .max_series = 2 });
        assert_non_null(empty);

        metrics_counter_add(series(deleted, (const char *[]){ "sessions", "event" }), 12);
        s = series(deleted, (const char *[]){ "orphans", "task" });
        metrics_counter_add(s, 1);
        metrics_counter_add(s, 2);
        metrics_gauge_set(metrics_family_series(size), -5);
        metrics_gauge_add(metrics_family_series(size), 1029);
        metrics_gauge_set_double(metrics_family_series(ratio), 0.1);
        s = series(lock, (const char *[]){ "main" });
        metrics_histogram_observe(s, 0.05);
        metrics_histogram_observe(s, 0.1); /* on the bound: counted in le="0.1" */
        metrics_histogram_observe(s, 5);
        metrics_histogram_observe(s, 100);
        metrics_histogram_observe(s, NAN); /* ignored */

        assert_string_equal(scrape(r),
                            "# HELP x_deleted_rows_total Rows deleted.\n"
                            "# TYPE x_deleted_rows_total counter\n"
                            "x_deleted_rows_total{rule=\"sessions\",table=\"event\"} 12\n"
                            "x_deleted_rows_total{rule=\"orphans\",table=\"task\"} 3\n"
                            "# HELP x_size_bytes Size.\n"
                            "# TYPE x_size_bytes gauge\n"
                            "x_size_bytes 1024\n"
                            "# HELP x_usage_ratio Usage.\n"
                            "# TYPE x_usage_ratio gauge\n"
                            "x_usage_ratio 0.1\n"
                            "# HELP x_lock_seconds Lock hold.\n"
                            "# TYPE x_lock_seconds histogram\n"
                            "x_lock_seconds_bucket{db=\"main\",le=\"0.1\"} 2\n"
                            "x_lock_seconds_bucket{db=\"main\",le=\"1\"} 2\n"
                            "x_lock_seconds_bucket{db=\"main\",le=\"10\"} 3\n"
                            "x_lock_seconds_bucket{db=\"main\",le=\"+Inf\"} 4\n"
                            "x_lock_seconds_sum{db=\"main\"} 105.15\n"
                            "x_lock_seconds_count{db=\"main\"} 4\n");
        assert_int_equal(
                metrics_counter_value(s = series(deleted, (const char *[]){ "orphans", "task" })),
                3);
        assert_int_equal(metrics_gauge_value(metrics_family_series(size)), 1024);
        metrics_registry_free(r);
}

static void test_escaping(void **state)
{
        struct metrics_registry *r = new_registry();
        struct metrics_family *f;

        (void)state;
        f = add(r, &(struct metrics_desc){ .name = "x_info",
                                           .help = "Back\\slash and\nnewline \"kept\".",
                                           .type = METRICS_GAUGE,
                                           .labels = { "name" },
                                           .max_series = 2 });
        metrics_gauge_set(series(f, (const char *[]){ "a\\b\"c\nd" }), 1);
        metrics_gauge_set(series(f, (const char *[]){ "sch\xc3\xb6n \xe2\x82\xac" }), 1);
        assert_string_equal(scrape(r), "# HELP x_info Back\\\\slash and\\nnewline \"kept\".\n"
                                       "# TYPE x_info gauge\n"
                                       "x_info{name=\"a\\\\b\\\"c\\nd\"} 1\n"
                                       "x_info{name=\"sch\xc3\xb6n \xe2\x82\xac\"} 1\n");
        metrics_registry_free(r);
}

static void expect_desc_error(struct metrics_registry *r, const struct metrics_desc *d, int code)
{
        struct metrics_family *f = (struct metrics_family *)&f; /* must stay untouched */
        struct metrics_family *const before = f;
        struct errbuf err;

        errbuf_clear(&err);
        assert_int_equal(metrics_family_add(r, d, &f, &err), code);
        assert_int_equal(err.code, code);
        assert_true(err.msg[0] != '\0');
        assert_ptr_equal(f, before);
}

static void test_validation(void **state)
{
        struct metrics_registry *r = NULL;
        const double bad_order[] = { 1, 1 };
        const double inf[] = { 1, INFINITY };

        (void)state;
        assert_int_equal(metrics_registry_new(0, &r, NULL), -EINVAL);
        assert_null(r);
        assert_int_equal(metrics_registry_new(2, &r, NULL), 0);
        expect_desc_error(r, &(struct metrics_desc){ .name = "1x", .help = "h", .max_series = 1 },
                          -EINVAL);
        expect_desc_error(r, &(struct metrics_desc){ .name = "a-b", .help = "h", .max_series = 1 },
                          -EINVAL);
        expect_desc_error(r, &(struct metrics_desc){ .name = "x", .help = NULL, .max_series = 1 },
                          -EINVAL);
        expect_desc_error(
                r, &(struct metrics_desc){ .name = "x", .help = "bad \xff", .max_series = 1 },
                -EINVAL);
        expect_desc_error(r,
                          &(struct metrics_desc){
                                  .name = "x", .help = "h", .labels = { "__x" }, .max_series = 1 },
                          -EINVAL);
        expect_desc_error(
                r,
                &(struct metrics_desc){
                        .name = "x", .help = "h", .labels = { "a", "a" }, .max_series = 2 },
                -EINVAL);
        expect_desc_error(
                r,
                &(struct metrics_desc){
                        .name = "x", .help = "h", .labels = { "a", NULL, "b" }, .max_series = 2 },
                -EINVAL);
        expect_desc_error(r,
                          &(struct metrics_desc){ .name = "x",
                                                  .help = "h",
                                                  .type = METRICS_HISTOGRAM,
                                                  .labels = { "le" },
                                                  .buckets = small_buckets,
                                                  .n_buckets = 3,
                                                  .max_series = 2 },
                          -EINVAL);
        expect_desc_error(r,
                          &(struct metrics_desc){ .name = "x",
                                                  .help = "h",
                                                  .type = METRICS_HISTOGRAM,
                                                  .buckets = bad_order,
                                                  .n_buckets = 2,
                                                  .max_series = 1 },
                          -EINVAL);
        expect_desc_error(r,
                          &(struct metrics_desc){ .name = "x",
                                                  .help = "h",
                                                  .type = METRICS_HISTOGRAM,
                                                  .buckets = inf,
                                                  .n_buckets = 2,
                                                  .max_series = 1 },
                          -EINVAL);
        expect_desc_error(
                r,
                &(struct metrics_desc){
                        .name = "x", .help = "h", .type = METRICS_HISTOGRAM, .max_series = 1 },
                -EINVAL);
        expect_desc_error(r, &(struct metrics_desc){ .name = "x", .help = "h", .max_series = 2 },
                          -EINVAL);
        expect_desc_error(r,
                          &(struct metrics_desc){ .name = "x",
                                                  .help = "h",
                                                  .labels = { "a" },
                                                  .max_series = METRICS_SERIES_MAX + 1 },
                          -EINVAL);
        assert_non_null(
                add(r, &(struct metrics_desc){ .name = "x", .help = "h", .max_series = 1 }));
        expect_desc_error(r, &(struct metrics_desc){ .name = "x", .help = "h", .max_series = 1 },
                          -EEXIST);
        assert_non_null(
                add(r, &(struct metrics_desc){ .name = "y:z", .help = "h", .max_series = 1 }));
        expect_desc_error(r, &(struct metrics_desc){ .name = "w", .help = "h", .max_series = 1 },
                          -EMSGSIZE);
        metrics_registry_free(r);
        metrics_registry_free(NULL);
}

static void test_series_limit(void **state)
{
        struct metrics_registry *r = new_registry();
        struct metrics_family *f;
        struct metrics_series *a;
        struct metrics_series *s;
        struct metrics_series *const sentinel = (struct metrics_series *)&s;
        char long_value[METRICS_LABEL_VALUE_MAX + 2];
        struct errbuf err;

        (void)state;
        f = add(r, &(struct metrics_desc){ .name = "x_requests_total",
                                           .help = "h",
                                           .type = METRICS_COUNTER,
                                           .labels = { "code" },
                                           .max_series = 2 });
        a = series(f, (const char *[]){ "200" });
        assert_non_null(series(f, (const char *[]){ "404" }));
        s = sentinel;
        errbuf_clear(&err);
        assert_int_equal(metrics_series_get(f, (const char *[]){ "500" }, &s, &err), -EMSGSIZE);
        assert_string_equal(err.msg, "metric 'x_requests_total': series limit 2 reached");
        assert_ptr_equal(s, sentinel);
        /* Existing series are still found at the limit. */
        assert_ptr_equal(series(f, (const char *[]){ "200" }), a);

        memset(long_value, 'v', sizeof(long_value) - 1);
        long_value[sizeof(long_value) - 1] = '\0';
        assert_int_equal(metrics_series_get(f, (const char *[]){ long_value }, &s, NULL), -EINVAL);
        assert_int_equal(metrics_series_get(f, (const char *[]){ "\xc0\xaf" }, &s, NULL), -EINVAL);
        assert_int_equal(metrics_series_get(f, (const char *[]){ "\xed\xa0\x80" }, &s, NULL),
                         -EINVAL);
        assert_ptr_equal(s, sentinel);

        /* Four values that each fit but together exceed METRICS_LABELS_BYTES. */
        f = add(r, &(struct metrics_desc){ .name = "x_wide",
                                           .help = "h",
                                           .type = METRICS_GAUGE,
                                           .labels = { "a", "b", "c", "d" },
                                           .max_series = 1 });
        long_value[200] = '\0';
        assert_int_equal(
                metrics_series_get(f, (const char *[]){ long_value, long_value, long_value, "x" },
                                   &s, &err),
                -EINVAL);
        assert_non_null(strstr(err.msg, "together"));
        assert_ptr_equal(s, sentinel);
        metrics_registry_free(r);
}

static void test_histogram_buckets(void **state)
{
        static const double b[] = { 0.001, 0.0025, 0.005, 0.01 };
        struct metrics_registry *r = new_registry();
        struct metrics_family *f;
        struct metrics_series *s;
        const char *text;

        (void)state;
        f = add(r, &(struct metrics_desc){ .name = "x_batch_duration_seconds",
                                           .help = "h",
                                           .type = METRICS_HISTOGRAM,
                                           .buckets = b,
                                           .n_buckets = 4,
                                           .max_series = 1 });
        s = metrics_family_series(f);
        for (int i = 0; i < 10; i++)
                metrics_histogram_observe(s, 0.0005); /* le 0.001 */
        metrics_histogram_observe(s, 0.001);          /* le 0.001, on the bound */
        metrics_histogram_observe(s, 0.0011);         /* le 0.0025 */
        metrics_histogram_observe(s, 0.01);           /* le 0.01 */
        metrics_histogram_observe(s, INFINITY);       /* +Inf only */
        metrics_histogram_observe(s, -1);             /* first bucket */
        text = scrape(r);
        assert_non_null(strstr(text, "x_batch_duration_seconds_bucket{le=\"0.001\"} 12\n"
                                     "x_batch_duration_seconds_bucket{le=\"0.0025\"} 13\n"
                                     "x_batch_duration_seconds_bucket{le=\"0.005\"} 13\n"
                                     "x_batch_duration_seconds_bucket{le=\"0.01\"} 14\n"
                                     "x_batch_duration_seconds_bucket{le=\"+Inf\"} 15\n"
                                     "x_batch_duration_seconds_sum +Inf\n"
                                     "x_batch_duration_seconds_count 15\n"));
        metrics_registry_free(r);
}

static void test_relabel_hide(void **state)
{
        struct metrics_registry *r = new_registry();
        struct metrics_family *f;
        struct metrics_series *s;
        struct metrics_series *t;

        (void)state;
        f = add(r, &(struct metrics_desc){ .name = "x_policy_info",
                                           .help = "h",
                                           .type = METRICS_GAUGE,
                                           .labels = { "name", "generation" },
                                           .max_series = 2 });
        s = series(f, (const char *[]){ "default", "1" });
        metrics_gauge_set(s, 1);
        assert_int_equal(metrics_series_relabel(s, (const char *[]){ "default", "2" }, NULL), 0);
        assert_non_null(strstr(scrape(r), "x_policy_info{name=\"default\",generation=\"2\"} 1\n"));
        assert_null(strstr(scrape_buf, "generation=\"1\""));
        assert_ptr_equal(series(f, (const char *[]){ "default", "2" }), s);
        t = series(f, (const char *[]){ "other", "1" });
        assert_int_equal(metrics_series_relabel(t, (const char *[]){ "default", "2" }, NULL),
                         -EEXIST);
        metrics_series_set_hidden(t, true);
        metrics_series_set_hidden(s, true);
        assert_string_equal(scrape(r), ""); /* no visible series: no HELP/TYPE either */
        metrics_series_set_hidden(s, false);
        assert_string_equal(scrape(r), "# HELP x_policy_info h\n"
                                       "# TYPE x_policy_info gauge\n"
                                       "x_policy_info{name=\"default\",generation=\"2\"} 1\n");
        metrics_registry_free(r);
}

static void test_buffer_too_small(void **state)
{
        struct metrics_registry *r = new_registry();
        char buf[128];
        size_t len = 7;
        size_t full;
        struct errbuf err;

        (void)state;
        metrics_gauge_set(
                metrics_family_series(add(r, &(struct metrics_desc){ .name = "x_a",
                                                                     .help = "h",
                                                                     .type = METRICS_GAUGE,
                                                                     .max_series = 1 })),
                3);
        full = strlen(scrape(r));
        errbuf_clear(&err);
        assert_int_equal(metrics_registry_write(r, buf, full - 1, &len, &err), -EMSGSIZE);
        assert_int_equal(len, 7);
        assert_int_equal(metrics_registry_write(r, buf, full, &len, &err), 0);
        assert_int_equal(len, full);
        metrics_registry_free(r);
}

static void test_double_format(void **state)
{
        char out[METRICS_DOUBLE_MAX];

        (void)state;
        assert_string_equal(metrics_double_format(0.1, out), "0.1");
        assert_string_equal(metrics_double_format(0, out), "0");
        assert_string_equal(metrics_double_format(-2.5, out), "-2.5");
        assert_string_equal(metrics_double_format(1.0 / 3.0, out), "0.3333333333333333");
        assert_string_equal(metrics_double_format(1e21, out), "1e+21");
        assert_string_equal(metrics_double_format(1e-05, out), "1e-05");
        assert_string_equal(metrics_double_format(1754000000.123, out), "1754000000.123");
        assert_string_equal(metrics_double_format(NAN, out), "NaN");
        assert_string_equal(metrics_double_format(INFINITY, out), "+Inf");
        assert_string_equal(metrics_double_format(-INFINITY, out), "-Inf");
        assert_string_equal(metrics_double_format(1.7976931348623157e308, out),
                            "1.7976931348623157e+308");
}

/*
 * Allocation failures (tests/unit/common/failalloc.h): each allocation of a constructor fails in
 * turn: -ENOMEM, no object handed out, nothing leaked.
 */
struct alloc_case {
        struct metrics_registry *r;
        struct metrics_family *f;
};

static const double alloc_buckets[] = { 1, 2 };
static const struct metrics_desc alloc_desc = { .name = "x_h",
                                                .help = "h",
                                                .type = METRICS_HISTOGRAM,
                                                .labels = { "a" },
                                                .buckets = alloc_buckets,
                                                .n_buckets = 2,
                                                .max_series = 8 };

static int registry_call(void *userdata)
{
        struct alloc_case *c = userdata;

        c->r = NULL;
        return metrics_registry_new(4, &c->r, NULL);
}

static void registry_check(int rc, bool injected, void *userdata)
{
        struct alloc_case *c = userdata;

        if (injected) {
                assert_int_equal(rc, -ENOMEM);
                assert_null(c->r);
                return;
        }
        assert_int_equal(rc, 0);
        metrics_registry_free(c->r);
}

/* A family in a registry made beforehand. */
static int family_call(void *userdata)
{
        struct alloc_case *c = userdata;
        c->f = NULL;
        return metrics_family_add(c->r, &alloc_desc, &c->f, NULL);
}

static void family_check(int rc, bool injected, void *userdata)
{
        struct alloc_case *c = userdata;

        if (injected) {
                assert_int_equal(rc, -ENOMEM);
                assert_null(c->f);
        } else {
                assert_int_equal(rc, 0);
                assert_non_null(c->f);
        }
        /* The family belongs to the registry: free both, start the next call afresh. */
        metrics_registry_free(c->r);
        assert_int_equal(metrics_registry_new(4, &c->r, NULL), 0);
}

static void test_alloc_failures(void **state)
{
        struct alloc_case c = { 0 };
        struct metrics_series *s = NULL;
        char buf[4096];
        size_t len = 0;

        (void)state;
        assert_true(failalloc_each(registry_call, registry_check, &c) > 1);
        assert_int_equal(metrics_registry_new(4, &c.r, NULL), 0);
        assert_true(failalloc_each(family_call, family_check, &c) > 1);
        /* Creating series, updating and scraping never allocate. */
        assert_int_equal(metrics_family_add(c.r, &alloc_desc, &c.f, NULL), 0);
        failalloc_arm(0);
        assert_int_equal(metrics_series_get(c.f, (const char *[]){ "v" }, &s, NULL), 0);
        metrics_histogram_observe(s, 1.5);
        assert_int_equal(metrics_registry_write(c.r, buf, sizeof(buf), &len, NULL), 0);
        failalloc_disarm();
        assert_int_equal(failalloc_count(), 0);
        metrics_registry_free(c.r);
}

/*
 * Concurrency: writers update, create and relabel while scrapers check every invariant.
 * cmocka's assertions may only run on the main thread: the threads record the first broken
 * invariant in 'failure' and the main thread asserts on it.
 */
#define RACE_SCRAPES 2000

struct race {
        struct metrics_registry *r;
        struct metrics_series *counter;
        struct metrics_series *gauge;
        struct metrics_series *hist;
        struct metrics_series *info;
        struct metrics_family *dyn;
        atomic_bool stop;
        atomic_long checks;
        _Atomic(const char *) failure;
};

static const double race_a = 1.0000000000000002;
static const double race_b = -3.5e300;

static void race_fail(struct race *x, const char *what)
{
        const char *none = NULL;

        (void)atomic_compare_exchange_strong(&x->failure, &none, what);
        atomic_store(&x->stop, true);
}

static void *race_counter(void *arg)
{
        struct race *x = arg;

        while (!atomic_load(&x->stop)) {
                metrics_counter_add(x->counter, 1);
                metrics_histogram_observe(x->hist, 0.003);
                metrics_histogram_observe(x->hist, 7);
        }
        return NULL;
}

static void *race_relabel(void *arg)
{
        struct race *x = arg;
        unsigned i = 0;
        char name[32];
        struct metrics_series *s;

        while (!atomic_load(&x->stop)) {
                const char *v = (i & 1U) ? "short" : "a-much-longer-label-value-for-the-info";

                metrics_gauge_set_double(x->gauge, (i & 1U) ? race_a : race_b);
                if (metrics_series_relabel(x->info, (const char *[]){ v, v }, NULL) != 0)
                        race_fail(x, "relabel failed");
                (void)snprintf(name, sizeof(name), "series-%u", i % 100);
                if (metrics_series_get(x->dyn, (const char *[]){ name }, &s, NULL) != 0)
                        race_fail(x, "series_get failed");
                else
                        metrics_counter_add(s, 1);
                i++;
        }
        return NULL;
}

/* Value of the first line starting with 'prefix', or -1. */
static double sample(const char *text, const char *prefix)
{
        const char *p = strstr(text, prefix);

        return p ? strtod(p + strlen(prefix), NULL) : -1;
}

static bool check_dyn(const char *text)
{
        static const char prefix[] = "x_dyn_total{name=\"series-";
        const char *p;

        for (p = strstr(text, prefix); p; p = strstr(p + 1, prefix)) {
                char *end;
                unsigned long n = strtoul(p + sizeof(prefix) - 1, &end, 10);

                if (end == p + sizeof(prefix) - 1 || n >= 100 || *end != '"')
                        return false;
        }
        return true;
}

/* NULL when the scrape is consistent, else what is wrong. */
static const char *check_scrape(const char *text, double *last_counter, double *last_count)
{
        double c = sample(text, "\nx_ops_total ");
        double g = sample(text, "\nx_value ");
        double b1 = sample(text, "x_op_seconds_bucket{le=\"0.005\"} ");
        double b2 = sample(text, "x_op_seconds_bucket{le=\"10\"} ");
        double inf = sample(text, "x_op_seconds_bucket{le=\"+Inf\"} ");
        double count = sample(text, "x_op_seconds_count ");
        const char *info = strstr(text, "x_info{a=\"");
        char a[64];
        char b[64];

        if (c < *last_counter)
                return "counter went backwards";
        *last_counter = c;
        if (g != 0 && g != race_a && g != race_b)
                return "torn double gauge";
        if (!(b1 <= b2 && b2 <= inf) || inf != count)
                return "histogram buckets inconsistent";
        if (count < *last_count)
                return "histogram count went backwards";
        *last_count = count;
        if (!info || sscanf(info, "x_info{a=\"%63[^\"]\",b=\"%63[^\"]\"}", a, b) != 2 ||
            strcmp(a, b) != 0)
                return "torn info labels";
        if (!check_dyn(text))
                return "incomplete series label";
        return NULL;
}

static void *race_scrape(void *arg)
{
        struct race *x = arg;
        char *buf = malloc(1 << 16);
        double last_counter = 0;
        double last_count = 0;

        if (!buf) {
                race_fail(x, "out of memory");
                return NULL;
        }
        for (int i = 0; i < RACE_SCRAPES && !atomic_load(&x->failure); i++) {
                size_t len = 0;
                const char *bad;

                if (metrics_registry_write(x->r, buf, (1 << 16) - 1, &len, NULL) != 0) {
                        race_fail(x, "scrape failed");
                        break;
                }
                buf[len] = '\0';
                bad = check_scrape(buf, &last_counter, &last_count);
                if (bad) {
                        race_fail(x, bad);
                        break;
                }
                atomic_fetch_add(&x->checks, 1);
        }
        free(buf);
        return NULL;
}

static void race_setup(struct race *x)
{
        static const double b[] = { 0.005, 10 };

        x->r = new_registry();
        x->counter =
                metrics_family_series(add(x->r, &(struct metrics_desc){ .name = "x_ops_total",
                                                                        .help = "h",
                                                                        .type = METRICS_COUNTER,
                                                                        .max_series = 1 }));
        x->gauge = metrics_family_series(
                add(x->r, &(struct metrics_desc){ .name = "x_value",
                                                  .help = "h",
                                                  .type = METRICS_GAUGE_DOUBLE,
                                                  .max_series = 1 }));
        x->hist = metrics_family_series(add(x->r, &(struct metrics_desc){ .name = "x_op_seconds",
                                                                          .help = "h",
                                                                          .type = METRICS_HISTOGRAM,
                                                                          .buckets = b,
                                                                          .n_buckets = 2,
                                                                          .max_series = 1 }));
        x->info = series(add(x->r, &(struct metrics_desc){ .name = "x_info",
                                                           .help = "h",
                                                           .type = METRICS_GAUGE,
                                                           .labels = { "a", "b" },
                                                           .max_series = 1 }),
                         (const char *[]){ "short", "short" });
        x->dyn = add(x->r, &(struct metrics_desc){ .name = "x_dyn_total",
                                                   .help = "h",
                                                   .type = METRICS_COUNTER,
                                                   .labels = { "name" },
                                                   .max_series = 100 });
        atomic_init(&x->stop, false);
        atomic_init(&x->checks, 0);
        atomic_init(&x->failure, NULL);
}

static void test_concurrent_writers_and_scrapes(void **state)
{
        struct race x;
        pthread_t writers[2];
        pthread_t scrapers[2];
        const char *failure;

        (void)state;
        race_setup(&x);
        assert_int_equal(pthread_create(&writers[0], NULL, race_counter, &x), 0);
        assert_int_equal(pthread_create(&writers[1], NULL, race_relabel, &x), 0);
        assert_int_equal(pthread_create(&scrapers[0], NULL, race_scrape, &x), 0);
        assert_int_equal(pthread_create(&scrapers[1], NULL, race_scrape, &x), 0);
        assert_int_equal(pthread_join(scrapers[0], NULL), 0);
        assert_int_equal(pthread_join(scrapers[1], NULL), 0);
        atomic_store(&x.stop, true);
        assert_int_equal(pthread_join(writers[0], NULL), 0);
        assert_int_equal(pthread_join(writers[1], NULL), 0);
        failure = atomic_load(&x.failure);
        if (failure)
                fail_msg("%s", failure);
        assert_int_equal(atomic_load(&x.checks), 2 * RACE_SCRAPES);
        /* Quiescent: the histogram's count is exactly two observations per counter increment. */
        assert_true(sample(scrape(x.r), "x_op_seconds_count ") ==
                    2 * (double)metrics_counter_value(x.counter));
        metrics_registry_free(x.r);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exposition_exact),
                cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_validation),
                cmocka_unit_test(test_series_limit),
                cmocka_unit_test(test_histogram_buckets),
                cmocka_unit_test(test_relabel_hide),
                cmocka_unit_test(test_buffer_too_small),
                cmocka_unit_test(test_double_format),
                cmocka_unit_test(test_alloc_failures),
                cmocka_unit_test(test_concurrent_writers_and_scrapes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
