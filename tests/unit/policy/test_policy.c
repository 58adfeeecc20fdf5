/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of pkg/policy: units, YAML typing, defaults, validation with field paths, the
 * sample manifests and the invalid policies under tests/data/policies/bad.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/errbuf.h"
#include "policy/policy.h"
#include "policy_test.h"

#define SEC  1000LL
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)
#define WEEK (7 * DAY)

/* The text limit as a size, so sums with it are computed in size_t. */
#define TEXT_MAX ((size_t)POLICY_TEXT_MAX)

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char api_example[] =
        "spec:\n"
        "  suspend: false            # true: measure and report only, never delete\n"
        "  dryRun: false             # true: compute what every rule would delete\n"
        "  schedule:\n"
        "    interval: 15m           # period between prune runs; minimum 1m\n"
        "  activeWindow: 30m         # data of a session with newer activity is never touched\n"
        "  sessions:\n"
        "    expireAfter: 30d        # delete whole sessions idle longer than this\n"
        "  softDeleted:\n"
        "    purgeAfter: 7d          # hard-delete rows soft-deleted longer ago than this\n"
        "  tasks:\n"
        "    finishedAfter: 7d       # delete terminal tasks last updated longer ago\n"
        "  checkpoints:\n"
        "    keepLatestPerThread: 3  # per LangGraph thread keep the newest N checkpoints\n"
        "    minAge: 1h              # never delete a checkpoint younger than this\n"
        "  events:\n"
        "    maxAge: null            # optional: delete events older than this...\n"
        "    keepLastPerSession: 200 # ...but always keep each session's newest N events\n"
        "  crewai:\n"
        "    memoryMaxAge: null      # crewai_agent_memory rows not updated for this long\n"
        "    flowStateMaxAge: null   # crewai_flow_state rows not updated for this long\n"
        "  orphans:\n"
        "    enabled: true           # delete rows whose parent no longer exists\n"
        "  volume:\n"
        "    sizeLimit: null         # override; else discovered\n"
        "    highWatermarkPercent: 80\n"
        "    lowWatermarkPercent: 65 # must be < high\n"
        "    emergency:\n"
        "      enabled: true         # at/above high watermark run the ladder below\n"
        "      steps: [softDeleted, orphans, checkpoints, finishedTasks, idleSessions]\n"
        "  reclaim:\n"
        "    mode: Auto              # Auto | Incremental | Vacuum | None\n"
        "  batch:\n"
        "    maxRows: 1000           # upper bound on rows per write transaction\n"
        "    maxLockDuration: 50ms   # adapt the batch size\n"
        "    pause: 20ms             # sleep between batches\n"
        "  limits:\n"
        "    maxRowsPerRun: null     # blast-radius cap\n"
        "    runTimeout: 10m\n";

/* Parse and fail the test with the error message when the text is rejected. */
static void parse_ok(const char *text, struct policy *p)
{
        struct policy_errors errs;
        struct errbuf err;
        int rc;

        errbuf_clear(&err);
        rc = policy_parse(text, strlen(text), p, &errs, &err);
        if (rc != 0)
                fail_msg("policy rejected (%d): %s\n%s", rc, err.msg, text);
        assert_int_equal(errs.n, 0);
}

/* Parse text expected to be invalid; the first error's path must contain 'path'. */
static void parse_bad(const char *text, const char *path)
{
        struct policy_errors errs;
        struct policy p;
        struct policy canary;
        struct errbuf err;
        size_t i;
        bool found = false;
        int rc;

        memset(&p, 0x5a, sizeof(p));
        memcpy(&canary, &p, sizeof(p));
        errbuf_clear(&err);
        rc = policy_parse(text, strlen(text), &p, &errs, &err);
        if (rc != -EINVAL)
                fail_msg("want -EINVAL for '%s', got %d\n%s", path, rc, text);
        assert_memory_equal(&p, &canary, sizeof(p)); /* untouched */
        assert_true(errs.n >= 1);
        for (i = 0; i < errs.n; i++) {
                if (strstr(errs.e[i].path, path))
                        found = true;
        }
        if (!found)
                fail_msg("no error at '%s'; first: %s\n%s", path, err.msg, text);
        assert_int_equal(err.code, -EINVAL);
        assert_non_null(strstr(err.msg, errs.e[0].path));
        assert_non_null(strstr(err.msg, errs.e[0].msg));
}

static void assert_same_policy(const struct policy *a, const struct policy *b)
{
        json_t *ja = policy_to_json(a);
        json_t *jb = policy_to_json(b);

        assert_non_null(ja);
        assert_non_null(jb);
        if (!json_equal(ja, jb)) {
                char *sa = json_dumps(ja, JSON_SORT_KEYS);
                char *sb = json_dumps(jb, JSON_SORT_KEYS);

                fail_msg("policies differ:\n%s\n%s", sa, sb);
        }
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->generation, b->generation);
        json_decref(ja);
        json_decref(jb);
}

struct duration_case {
        const char *s;
        int64_t ms;
};

static void test_duration_valid(void **state)
{
        static const struct duration_case cases[] = {
                { "0", 0 },
                { "0s", 0 },
                { "+15m", 15 * MIN },
                { "90s", 90 * SEC },
                { "15m", 15 * MIN },
                { "36h", 36 * HOUR },
                { "30d", 30 * DAY },
                { "2w", 2 * WEEK },
                { "1h30m", 90 * MIN },
                { "1.5h", 90 * MIN },
                { "2h45m30.5s", 2 * HOUR + 45 * MIN + 30 * SEC + 500 },
                { "1w2d3h4m5s6ms", WEEK + 2 * DAY + 3 * HOUR + 4 * MIN + 5 * SEC + 6 },
                { "250ms", 250 },
                { "1000000us", SEC },
                { "1500\xc2\xb5s", 2 }, /* micro sign, rounded half up */
                { "1499\xce\xbcs", 1 }, /* Greek mu */
                { "2000000ns", 2 },
                { "499999ns", 0 },
                { "500000ns", 1 },
                { ".5s", 500 },
                { "1.s", SEC },
                { "0.1s", 100 },
                { "1.0000000000000000000001h", HOUR }, /* extra fraction digits ignored */
                { "1d1m", DAY + MIN },
                { "106751d", 106751 * DAY },
                { "2562047h", 2562047 * HOUR },
                { "15250w", 15250 * WEEK },
        };
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(cases); i++) {
                int64_t ms = -42;

                if (policy_duration_parse(cases[i].s, &ms) != 0)
                        fail_msg("duration '%s' rejected", cases[i].s);
                if (ms != cases[i].ms)
                        fail_msg("duration '%s': got %lld, want %lld", cases[i].s, (long long)ms,
                                 (long long)cases[i].ms);
        }
}

static void test_duration_invalid(void **state)
{
        static const char *const cases[] = {
                "",
                "-1s",
                "-0",
                "+",
                "s",
                "1",
                "30",
                "1x",
                "1 h",
                " 1h",
                "1h ",
                "1hh",
                "h1",
                ".s",
                "1..5s",
                "1.5.5s",
                "1e3s",
                "1H",
                "1D",
                "1y",
                "1mo",
                "1h-5m",
                "106752d",
                "15251w",
                "2562048h",
                "9223372036854775808ns",
                "99999999999999999999s",
                "\xc2\xb5s",
                "1\xc2s",
                "0x10s",
        };
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(cases); i++) {
                int64_t ms = -42;

                if (policy_duration_parse(cases[i], &ms) != -EINVAL)
                        fail_msg("duration '%s' accepted", cases[i]);
                assert_int_equal(ms, -42); /* untouched */
        }
        assert_int_equal(policy_duration_parse(NULL, NULL), -EINVAL);
}

static void test_duration_format(void **state)
{
        static const struct duration_case cases[] = {
                { "0s", 0 },
                { "1ms", 1 },
                { "50ms", 50 },
                { "1s500ms", 1500 },
                { "1m30s", 90 * SEC },
                { "15m", 15 * MIN },
                { "1h30m", 90 * MIN },
                { "36h", 36 * HOUR },
                { "1d", DAY },
                { "30d", 30 * DAY },
                { "1w", WEEK },
                { "2w", 2 * WEEK },
                { "24h1m", DAY + MIN },
                { "1h1s", HOUR + SEC },
                { "2h45m30s500ms", 2 * HOUR + 45 * MIN + 30 * SEC + 500 },
                { "-15m", -15 * MIN },
        };
        char out[32];
        char tiny[4];
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(cases); i++) {
                int64_t back = -42;

                assert_string_equal(policy_duration_format(cases[i].ms, out, sizeof(out)),
                                    cases[i].s);
                if (cases[i].ms < 0)
                        continue;
                /* Every formatted duration parses back to the same value. */
                assert_int_equal(policy_duration_parse(out, &back), 0);
                assert_int_equal(back, cases[i].ms);
        }
        assert_string_equal(policy_duration_format(INT64_MIN, out, sizeof(out)),
                            "-2562047788015h12m55s808ms");
        /* The longest duration rounds down to a millisecond that still prints and parses back
         * (rounding up past the nanosecond range made it unparseable: found by fuzz_units). */
        {
                int64_t ms = 0;
                int64_t back = -42;

                assert_int_equal(policy_duration_parse("9223372036854775807ns", &ms), 0);
                assert_true(ms == INT64_MAX / 1000000);
                assert_int_equal(
                        policy_duration_parse(policy_duration_format(ms, out, sizeof(out)), &back),
                        0);
                assert_true(back == ms);
        }
        /* Truncated, always terminated. */
        assert_string_equal(policy_duration_format(2 * HOUR + 45 * MIN, tiny, sizeof(tiny)), "2h4");
        assert_string_equal(policy_duration_format(2 * HOUR + 45 * MIN, tiny, 1), "");
}

struct quantity_case {
        const char *s;
        int64_t bytes;
};

static void test_quantity_valid(void **state)
{
        static const struct quantity_case cases[] = {
                { "0", 0 },
                { "123456", 123456 },
                { "+5", 5 },
                { "500Mi", 500LL << 20 },
                { "1Gi", 1LL << 30 },
                { "1Ki", 1024 },
                { "2Ti", 2LL << 40 },
                { "3Pi", 3LL << 50 },
                { "7Ei", 7LL << 60 },
                { "10G", 10000000000LL },
                { "1k", 1000 },
                { "1M", 1000000 },
                { "1T", 1000000000000LL },
                { "1P", 1000000000000000LL },
                { "9E", 9000000000000000000LL },
                { "1e3", 1000 },
                { "1E3", 1000 },
                { "1e+3", 1000 },
                { "1.5Gi", 3LL << 29 },
                { "0.5Ki", 512 },
                { ".5Ki", 512 },
                { "1.Ki", 1024 },
                { "0.0009765625Ki", 1 },
                { "1000m", 1 },
                { "2.5k", 2500 },
                { "100.000", 100 },
                { "00012", 12 },
                { "0e999999", 0 },
                { "0.0", 0 },
                { "1200e-2", 12 },
                { "9223372036854775807", INT64_MAX },
        };
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(cases); i++) {
                int64_t v = -42;

                if (policy_quantity_parse(cases[i].s, &v) != 0)
                        fail_msg("quantity '%s' rejected", cases[i].s);
                if (v != cases[i].bytes)
                        fail_msg("quantity '%s': got %lld, want %lld", cases[i].s, (long long)v,
                                 (long long)cases[i].bytes);
        }
}

static void test_quantity_invalid(void **state)
{
        static const char *const cases[] = {
                "",
                "-1",
                "-1Gi",
                "-0",
                "+",
                ".",
                "Gi",
                "500MB",
                "500mi",
                "1 Gi",
                " 1Gi",
                "1Gi ",
                "1gi",
                "1K",
                "1e",
                "1e3Gi",
                "1Gie3",
                "1.5",
                "0.5",
                "1500m",
                "1m",
                "0.1Ki",
                "1e-1",
                "1e-999999",
                "8Ei",
                "9223372036854775808",
                "10E",
                "1e19",
                "1e999999",
                "99999999999999999999",
                "0.00000000000000000000000001Ki",
                "1..5",
                "1.5.5",
                "0x10",
                "1_000",
        };
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(cases); i++) {
                int64_t v = -42;

                if (policy_quantity_parse(cases[i], &v) != -EINVAL)
                        fail_msg("quantity '%s' accepted (%lld)", cases[i], (long long)v);
                assert_int_equal(v, -42);
        }
        assert_int_equal(policy_quantity_parse(NULL, NULL), -EINVAL);
}

static void test_names(void **state)
{
        (void)state;
        assert_string_equal(policy_step_name(POLICY_STEP_SOFT_DELETED), "softDeleted");
        assert_string_equal(policy_step_name(POLICY_STEP_ORPHANS), "orphans");
        assert_string_equal(policy_step_name(POLICY_STEP_CHECKPOINTS), "checkpoints");
        assert_string_equal(policy_step_name(POLICY_STEP_FINISHED_TASKS), "finishedTasks");
        assert_string_equal(policy_step_name(POLICY_STEP_IDLE_SESSIONS), "idleSessions");
        assert_string_equal(policy_reclaim_name(POLICY_RECLAIM_AUTO), "Auto");
        assert_string_equal(policy_reclaim_name(POLICY_RECLAIM_INCREMENTAL), "Incremental");
        assert_string_equal(policy_reclaim_name(POLICY_RECLAIM_VACUUM), "Vacuum");
        assert_string_equal(policy_reclaim_name(POLICY_RECLAIM_NONE), "None");
}

/* The non-rule defaults every policy starts from; rules stay as the caller checks them. */
static void assert_base_defaults(const struct policy *p)
{
        size_t i;

        assert_false(p->suspend);
        assert_false(p->dry_run);
        assert_int_equal(p->interval_ms, 15 * MIN);
        assert_int_equal(p->active_window_ms, 30 * MIN);
        assert_int_equal(p->size_limit_bytes, POLICY_OFF);
        assert_int_equal(p->high_watermark_pct, 80);
        assert_int_equal(p->low_watermark_pct, 65);
        assert_true(p->emergency);
        assert_int_equal(p->n_steps, POLICY_MAX_STEPS);
        for (i = 0; i < POLICY_MAX_STEPS; i++)
                assert_int_equal(p->steps[i], i);
        assert_int_equal(p->reclaim, POLICY_RECLAIM_AUTO);
        assert_int_equal(p->batch_max_rows, 1000);
        assert_int_equal(p->batch_max_lock_ms, 50);
        assert_int_equal(p->batch_pause_ms, 20);
        assert_int_equal(p->max_rows_per_run, POLICY_OFF);
        assert_int_equal(p->run_timeout_ms, 10 * MIN);
}

static void assert_rules_off(const struct policy *p)
{
        assert_int_equal(p->session_expire_ms, POLICY_OFF);
        assert_int_equal(p->soft_purge_ms, POLICY_OFF);
        assert_int_equal(p->task_finished_ms, POLICY_OFF);
        assert_int_equal(p->checkpoint_keep, POLICY_OFF);
        assert_int_equal(p->checkpoint_min_age_ms, POLICY_OFF);
        assert_int_equal(p->event_max_age_ms, POLICY_OFF);
        assert_int_equal(p->event_keep_last, POLICY_OFF);
        assert_int_equal(p->crewai_memory_ms, POLICY_OFF);
        assert_int_equal(p->crewai_flow_ms, POLICY_OFF);
        assert_false(p->orphans);
        assert_false(policy_has_rules(p));
}

static void test_defaults_empty(void **state)
{
        static const char *const empty_specs[] = {
                "spec: {}\n",
                "{}",
                "{\"spec\": {}}",
                "spec:\n",
                "spec: null\n",
                "apiVersion: kagent.dev/v1alpha1\nkind: RetentionPolicy\n",
                "metadata:\n  name: x\n",
                "# only a comment\n{}\n",
                "{spec: {}}",
        };
        struct policy init;
        struct policy p;
        size_t i;

        (void)state;
        policy_init(&init);
        assert_base_defaults(&init);
        assert_rules_off(&init);
        assert_string_equal(init.name, "");
        assert_int_equal(init.generation, 0);
        for (i = 0; i < N_ELEMS(empty_specs); i++) {
                parse_ok(empty_specs[i], &p);
                assert_base_defaults(&p);
                assert_rules_off(&p);
        }
}

static void test_defaults_sections_present(void **state)
{
        struct policy p;

        (void)state;
        parse_ok("spec:\n  sessions: {}\n  softDeleted: {}\n  tasks: {}\n  checkpoints: {}\n"
                 "  events: {}\n  crewai: {}\n  orphans: {}\n  volume: {}\n  reclaim: {}\n"
                 "  batch: {}\n  limits: {}\n  schedule: {}\n",
                 &p);
        assert_base_defaults(&p);
        assert_int_equal(p.session_expire_ms, 30 * DAY);
        assert_int_equal(p.soft_purge_ms, 7 * DAY);
        assert_int_equal(p.task_finished_ms, 7 * DAY);
        assert_int_equal(p.checkpoint_keep, 3);
        assert_int_equal(p.checkpoint_min_age_ms, HOUR);
        assert_int_equal(p.event_max_age_ms, POLICY_OFF); /* default null: rule stays off */
        assert_int_equal(p.event_keep_last, 200);
        assert_int_equal(p.crewai_memory_ms, POLICY_OFF);
        assert_int_equal(p.crewai_flow_ms, POLICY_OFF);
        assert_true(p.orphans);
        assert_true(policy_has_rules(&p));

        /* One section alone switches on that rule only. */
        parse_ok("spec:\n  checkpoints:\n    minAge: 0s\n", &p);
        assert_int_equal(p.checkpoint_keep, 3);
        assert_int_equal(p.checkpoint_min_age_ms, 0);
        assert_int_equal(p.session_expire_ms, POLICY_OFF);
        assert_false(p.orphans);
        assert_true(policy_has_rules(&p));

        parse_ok("spec:\n  events:\n    maxAge: 3d\n", &p);
        assert_int_equal(p.event_max_age_ms, 3 * DAY);
        assert_int_equal(p.event_keep_last, 200);
        assert_true(policy_has_rules(&p));

        parse_ok("spec:\n  crewai:\n    flowStateMaxAge: 12h\n", &p);
        assert_int_equal(p.crewai_memory_ms, POLICY_OFF);
        assert_int_equal(p.crewai_flow_ms, 12 * HOUR);
        assert_true(policy_has_rules(&p));

        parse_ok("spec:\n  orphans:\n    enabled: false\n", &p);
        assert_false(policy_has_rules(&p));

        /* A partial non-rule section keeps the defaults of its other fields. */
        parse_ok(
                "spec:\n  volume:\n    emergency:\n      enabled: false\n  batch:\n    pause: 0s\n",
                &p);
        assert_false(p.emergency);
        assert_int_equal(p.n_steps, POLICY_MAX_STEPS);
        assert_int_equal(p.high_watermark_pct, 80);
        assert_int_equal(p.batch_pause_ms, 0);
        assert_int_equal(p.batch_max_rows, 1000);
}

static void test_explicit_nulls(void **state)
{
        struct policy p;

        (void)state;
        /* Null rule fields are off; null rule sections are off. */
        parse_ok("spec:\n  sessions:\n    expireAfter: null\n  checkpoints:\n    minAge: ~\n"
                 "  events:\n    maxAge: 1d\n    keepLastPerSession: null\n"
                 "  orphans:\n    enabled: null\n  softDeleted: null\n  tasks: ~\n",
                 &p);
        assert_int_equal(p.session_expire_ms, POLICY_OFF);
        assert_int_equal(p.checkpoint_keep, 3);
        assert_int_equal(p.checkpoint_min_age_ms, POLICY_OFF);
        assert_int_equal(p.event_max_age_ms, DAY);
        assert_int_equal(p.event_keep_last, POLICY_OFF);
        assert_false(p.orphans);
        assert_int_equal(p.soft_purge_ms, POLICY_OFF);
        assert_int_equal(p.task_finished_ms, POLICY_OFF);

        /* Null fields of other sections take their defaults; null sections too. */
        parse_ok("spec:\n  suspend: null\n  activeWindow: null\n  schedule: null\n"
                 "  volume:\n    highWatermarkPercent: null\n    sizeLimit: null\n"
                 "    emergency:\n      steps: null\n      enabled: ~\n"
                 "  reclaim:\n    mode: null\n  batch: null\n"
                 "  limits:\n    runTimeout: null\n    maxRowsPerRun: null\n",
                 &p);
        assert_base_defaults(&p);
        assert_rules_off(&p);

        /* A nullable non-rule field switches off with null. */
        parse_ok("spec:\n  limits:\n    maxRowsPerRun: 5000\n", &p);
        assert_int_equal(p.max_rows_per_run, 5000);
        parse_ok("{\"spec\": {\"limits\": {\"maxRowsPerRun\": null}}}", &p);
        assert_int_equal(p.max_rows_per_run, POLICY_OFF);
}

static void assert_api_example(const struct policy *p)
{
        size_t i;

        assert_base_defaults(p);
        assert_int_equal(p->session_expire_ms, 30 * DAY);
        assert_int_equal(p->soft_purge_ms, 7 * DAY);
        assert_int_equal(p->task_finished_ms, 7 * DAY);
        assert_int_equal(p->checkpoint_keep, 3);
        assert_int_equal(p->checkpoint_min_age_ms, HOUR);
        assert_int_equal(p->event_max_age_ms, POLICY_OFF);
        assert_int_equal(p->event_keep_last, 200);
        assert_int_equal(p->crewai_memory_ms, POLICY_OFF);
        assert_int_equal(p->crewai_flow_ms, POLICY_OFF);
        assert_true(p->orphans);
        for (i = 0; i < POLICY_MAX_STEPS; i++)
                assert_int_equal(p->steps[i], i);
        assert_true(policy_has_rules(p));
}

static void test_api_example(void **state)
{
        struct policy p;
        struct policy q;
        json_t *j;

        (void)state;
        parse_ok(api_example, &p);
        assert_api_example(&p);

        /* The effective policy round-trips through policy_to_json. */
        j = policy_to_json(&p);
        assert_non_null(j);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "sessions"), "expireAfter")),
                "30d");
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(j, "softDeleted"), "purgeAfter")),
                "1w");
        assert_true(json_is_null(json_object_get(json_object_get(j, "events"), "maxAge")));
        assert_true(json_is_null(json_object_get(json_object_get(j, "volume"), "sizeLimit")));
        assert_int_equal(
                json_array_size(json_object_get(
                        json_object_get(json_object_get(j, "volume"), "emergency"), "steps")),
                POLICY_MAX_STEPS);
        assert_int_equal(policy_from_json(j, &q, NULL, NULL), 0);
        assert_same_policy(&p, &q);
        json_decref(j);
}

static void test_to_json_roundtrip(void **state)
{
        static const char *const specs[] = {
                "spec: {}",
                "spec:\n  sessions: {}\n  checkpoints:\n    minAge: null\n  events:\n"
                "    keepLastPerSession: null\n    maxAge: 90m\n  volume:\n    sizeLimit: 1Gi\n"
                "    emergency:\n      steps: [idleSessions, orphans]\n  reclaim:\n    mode: None\n"
                "  limits:\n    maxRowsPerRun: 77\n    runTimeout: 1s\n  batch:\n"
                "    maxLockDuration: 1500ms\n",
                "spec:\n  volume:\n    emergency:\n      steps: []\n",
        };
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(specs); i++) {
                struct policy p;
                struct policy q;
                json_t *j;

                parse_ok(specs[i], &p);
                j = policy_to_json(&p);
                assert_non_null(j);
                assert_int_equal(policy_from_json(j, &q, NULL, NULL), 0);
                assert_same_policy(&p, &q);
                json_decref(j);
        }
}

struct bad_case {
        const char *yaml;
        const char *path;
};

static void test_bad_fields(void **state)
{
        static const struct bad_case cases[] = {
                { "spec:\n  suspend: 1\n", "spec.suspend" },
                { "spec:\n  suspend: \"true\"\n", "spec.suspend" },
                { "spec:\n  dryRun: yes\n", "spec.dryRun" },
                { "spec:\n  schedule:\n    interval: 59s\n", "spec.schedule.interval" },
                { "spec:\n  schedule:\n    interval: 15\n", "spec.schedule.interval" },
                { "spec:\n  schedule: 15m\n", "spec.schedule" },
                { "spec:\n  activeWindow: 30\n", "spec.activeWindow" },
                { "spec:\n  activeWindow: 10s\n", "spec.activeWindow" },
                { "spec:\n  activeWindow: -30m\n", "spec.activeWindow" },
                { "spec:\n  sessions:\n    expireAfter: 30days\n", "spec.sessions.expireAfter" },
                { "spec:\n  sessions:\n    expireAfter: [30d]\n", "spec.sessions.expireAfter" },
                { "spec:\n  sessions: 30d\n", "spec.sessions" },
                { "spec:\n  softDeleted:\n    purgeAfter: 1y\n", "spec.softDeleted.purgeAfter" },
                { "spec:\n  tasks:\n    finishedAfter: true\n", "spec.tasks.finishedAfter" },
                { "spec:\n  checkpoints:\n    keepLatestPerThread: 0\n",
                  "spec.checkpoints.keepLatestPerThread" },
                { "spec:\n  checkpoints:\n    keepLatestPerThread: 2.5\n",
                  "spec.checkpoints.keepLatestPerThread" },
                { "spec:\n  checkpoints:\n    keepLatestPerThread: \"3\"\n",
                  "spec.checkpoints.keepLatestPerThread" },
                { "spec:\n  checkpoints:\n    minAge: -1h\n", "spec.checkpoints.minAge" },
                { "spec:\n  events:\n    maxAge: 3\n", "spec.events.maxAge" },
                { "spec:\n  events:\n    keepLastPerSession: -1\n",
                  "spec.events.keepLastPerSession" },
                { "spec:\n  crewai:\n    memoryMaxAge: forever\n", "spec.crewai.memoryMaxAge" },
                { "spec:\n  crewai:\n    flowStateMaxAge: {}\n", "spec.crewai.flowStateMaxAge" },
                { "spec:\n  orphans:\n    enabled: on\n", "spec.orphans.enabled" },
                { "spec:\n  orphans: []\n", "spec.orphans" },
                { "spec:\n  volume:\n    sizeLimit: 500MB\n", "spec.volume.sizeLimit" },
                { "spec:\n  volume:\n    sizeLimit: -1Gi\n", "spec.volume.sizeLimit" },
                { "spec:\n  volume:\n    sizeLimit: -5\n", "spec.volume.sizeLimit" },
                { "spec:\n  volume:\n    sizeLimit: 0\n", "spec.volume.sizeLimit" },
                { "spec:\n  volume:\n    sizeLimit: 1.5\n", "spec.volume.sizeLimit" },
                { "spec:\n  volume:\n    sizeLimit: 16Ei\n", "spec.volume.sizeLimit" },
                { "spec:\n  volume:\n    sizeLimit: true\n", "spec.volume.sizeLimit" },
                { "spec:\n  volume:\n    highWatermarkPercent: 0\n",
                  "spec.volume.highWatermarkPercent" },
                { "spec:\n  volume:\n    highWatermarkPercent: 101\n",
                  "spec.volume.highWatermarkPercent" },
                { "spec:\n  volume:\n    highWatermarkPercent: 80%\n",
                  "spec.volume.highWatermarkPercent" },
                { "spec:\n  volume:\n    lowWatermarkPercent: 100\n",
                  "spec.volume.lowWatermarkPercent" },
                { "spec:\n  volume:\n    lowWatermarkPercent: -1\n",
                  "spec.volume.lowWatermarkPercent" },
                { "spec:\n  volume:\n    lowWatermarkPercent: 80\n",
                  "spec.volume.lowWatermarkPercent" },
                { "spec:\n  volume:\n    highWatermarkPercent: 50\n",
                  "spec.volume.lowWatermarkPercent" },
                { "spec:\n  volume:\n    emergency:\n      enabled: 1\n",
                  "spec.volume.emergency.enabled" },
                { "spec:\n  volume:\n    emergency:\n      steps: softDeleted\n",
                  "spec.volume.emergency.steps" },
                { "spec:\n  volume:\n    emergency:\n      steps: [orphans, vacuum]\n",
                  "spec.volume.emergency.steps[1]" },
                { "spec:\n  volume:\n    emergency:\n      steps: [orphans, 3]\n",
                  "spec.volume.emergency.steps[1]" },
                { "spec:\n  volume:\n    emergency:\n      steps: [orphans, orphans]\n",
                  "spec.volume.emergency.steps[1]" },
                { "spec:\n  volume:\n    emergency:\n      steps: [Orphans]\n",
                  "spec.volume.emergency.steps[0]" },
                { "spec:\n  volume:\n    emergency: true\n", "spec.volume.emergency" },
                { "spec:\n  reclaim:\n    mode: auto\n", "spec.reclaim.mode" },
                { "spec:\n  reclaim:\n    mode: 1\n", "spec.reclaim.mode" },
                { "spec:\n  reclaim: Auto\n", "spec.reclaim" },
                { "spec:\n  batch:\n    maxRows: 0\n", "spec.batch.maxRows" },
                { "spec:\n  batch:\n    maxRows: 100001\n", "spec.batch.maxRows" },
                { "spec:\n  batch:\n    maxLockDuration: 0s\n", "spec.batch.maxLockDuration" },
                { "spec:\n  batch:\n    maxLockDuration: 11s\n", "spec.batch.maxLockDuration" },
                { "spec:\n  batch:\n    pause: 10001ms\n", "spec.batch.pause" },
                { "spec:\n  batch:\n    pause: -1ms\n", "spec.batch.pause" },
                { "spec:\n  limits:\n    maxRowsPerRun: 0\n", "spec.limits.maxRowsPerRun" },
                { "spec:\n  limits:\n    maxRowsPerRun: -10\n", "spec.limits.maxRowsPerRun" },
                { "spec:\n  limits:\n    runTimeout: 999ms\n", "spec.limits.runTimeout" },
                { "spec:\n  limits:\n    runTimeout: 0\n", "spec.limits.runTimeout" },
                { "spec:\n  foo: 1\n", "spec.foo" },
                { "spec:\n  Sessions: {}\n", "spec.Sessions" },
                { "spec:\n  sessions:\n    expireAfter: 30d\n    maxAge: 1d\n",
                  "spec.sessions.maxAge" },
                { "spec:\n  volume:\n    emergency:\n      step: []\n",
                  "spec.volume.emergency.step" },
                { "spec:\n  batch:\n    max_rows: 10\n", "spec.batch.max_rows" },
                { "spec: []\n", "spec" },
                { "spec: 5\n", "spec" },
                { "- a\n- b\n", "spec" },
                { "just a string\n", "spec" },
                { "apiVersion: v1\nspec: {}\n", "apiVersion" },
                { "apiVersion: 1\nspec: {}\n", "apiVersion" },
                { "kind: ConfigMap\nspec: {}\n", "kind" },
                { "metadata: []\nspec: {}\n", "metadata" },
                { "metadata:\n  name: 5\n", "metadata.name" },
                { "metadata:\n  name: \"\"\n", "metadata.name" },
                { "metadata:\n  generation: -1\n", "metadata.generation" },
                { "metadata:\n  generation: \"4\"\n", "metadata.generation" },
                { "spec: {}\nfoo: bar\n", "foo" },
                { "spec: {}\nspecs: {}\n", "specs" },
        };
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(cases); i++)
                parse_bad(cases[i].yaml, cases[i].path);
}

static void test_long_name(void **state)
{
        char text[POLICY_NAME_MAX + 64];
        struct policy p;
        size_t n;

        (void)state;
        /* Kubernetes names have at most 253 characters: POLICY_NAME_MAX with the terminator. */
        n = (size_t)snprintf(text, sizeof(text), "metadata:\n  name: ");
        memset(text + n, 'n', POLICY_NAME_MAX);
        text[n + POLICY_NAME_MAX] = '\0';
        parse_bad(text, "metadata.name");
        text[n + POLICY_NAME_MAX - 1] = '\0';
        parse_ok(text, &p);
        assert_int_equal(strlen(p.name), POLICY_NAME_MAX - 1);
}

static void test_multiple_errors(void **state)
{
        static const char text[] = "spec:\n"
                                   "  schedule:\n"
                                   "    interval: 10s\n"
                                   "  sessions:\n"
                                   "    expireAfer: 30d\n"
                                   "  volume:\n"
                                   "    highWatermarkPercent: 200\n"
                                   "    lowWatermarkPercent: -3\n"
                                   "    emergency:\n"
                                   "      steps: [orphans, nope, orphans]\n"
                                   "  reclaim:\n"
                                   "    mode: Full\n"
                                   "  batch:\n"
                                   "    maxRows: -1\n";
        static const char two[] = "spec:\n  suspend: 1\n  volume:\n    lowWatermarkPercent: 90\n";
        static const char high_bad[] =
                "{spec: {volume: {highWatermarkPercent: 0, lowWatermarkPercent: 90}}}";
        static const char *const want[] = {
                "spec.schedule.interval",
                "spec.sessions.expireAfer",
                "spec.volume.highWatermarkPercent",
                "spec.volume.lowWatermarkPercent",
                "spec.volume.emergency.steps[1]",
                "spec.volume.emergency.steps[2]",
                "spec.reclaim.mode",
                "spec.batch.maxRows",
        };
        struct policy_errors errs;
        struct policy p;
        struct errbuf err;
        size_t i;

        (void)state;
        memset(&errs, 0x77, sizeof(errs));
        assert_int_equal(policy_parse(text, strlen(text), &p, &errs, &err), -EINVAL);
        assert_int_equal(errs.n, N_ELEMS(want));
        assert_int_equal(errs.n_dropped, 0);
        for (i = 0; i < N_ELEMS(want); i++) {
                assert_string_equal(errs.e[i].path, want[i]);
                assert_true(strlen(errs.e[i].msg) > 0);
        }
        assert_string_equal(err.msg, "spec.schedule.interval: must be at least 1m, got '10s'");
        assert_string_equal(errs.e[1].msg, "unknown field (did you mean 'expireAfter'?)");
        assert_non_null(strstr(errs.e[4].msg, "unknown step 'nope'"));
        assert_string_equal(errs.e[5].msg, "duplicate step 'orphans'");
        assert_non_null(strstr(errs.e[6].msg, "'Full'"));

        /* The watermark order is checked beside other errors, not when a watermark is bad. */
        assert_int_equal(policy_parse(two, strlen(two), &p, &errs, &err), -EINVAL);
        assert_int_equal(errs.n, 2);
        assert_string_equal(errs.e[0].path, "spec.suspend");
        assert_string_equal(errs.e[1].path, "spec.volume.lowWatermarkPercent");
        assert_int_equal(policy_parse(high_bad, strlen(high_bad), &p, &errs, &err), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.e[0].path, "spec.volume.highWatermarkPercent");

        /* errs may be NULL; err still gets the first error. */
        errbuf_clear(&err);
        assert_int_equal(policy_parse(text, strlen(text), &p, NULL, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "spec.schedule.interval"));
        assert_int_equal(policy_parse(text, strlen(text), &p, NULL, NULL), -EINVAL);
}

static void test_error_limit(void **state)
{
        char text[4096];
        struct policy_errors errs;
        struct policy p;
        size_t len;
        int i;

        (void)state;
        len = (size_t)snprintf(text, sizeof(text), "spec:\n");
        for (i = 0; i < POLICY_MAX_ERRORS + 8; i++)
                len += (size_t)snprintf(text + len, sizeof(text) - len, "  field%d: 1\n", i);
        assert_true(len < sizeof(text));
        assert_int_equal(policy_parse(text, len, &p, &errs, NULL), -EINVAL);
        assert_int_equal(errs.n, POLICY_MAX_ERRORS);
        assert_int_equal(errs.n_dropped, 8);
        assert_string_equal(errs.e[0].path, "spec.field0");
        assert_string_equal(errs.e[POLICY_MAX_ERRORS - 1].path, "spec.field31");
}

static void test_out_untouched(void **state)
{
        static const char *const bad[] = {
                "spec:\n  sessions:\n    expireAfter: soon\n",         "spec: {\n", "", "a: *x\n",
                "{\"spec\": {\"suspend\": true, \"suspend\": false}}",
        };
        struct policy_errors errs;
        struct policy p;
        struct policy canary;
        struct errbuf err;
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(bad); i++) {
                memset(&p, 0xa5, sizeof(p));
                memcpy(&canary, &p, sizeof(p));
                errbuf_clear(&err);
                assert_int_equal(policy_parse(bad[i], strlen(bad[i]), &p, &errs, &err), -EINVAL);
                assert_memory_equal(&p, &canary, sizeof(p));
                assert_true(errs.n >= 1);
                assert_int_equal(err.code, -EINVAL);
                assert_true(strlen(err.msg) > 0);
        }
}

static void test_yaml_json_equivalence(void **state)
{
        static const char yaml[] = "apiVersion: kagent.dev/v1alpha1\n"
                                   "kind: RetentionPolicy\n"
                                   "metadata: {name: prod, namespace: kagent, generation: 4}\n"
                                   "spec:\n"
                                   "  dryRun: true\n"
                                   "  activeWindow: 45m\n"
                                   "  sessions: {expireAfter: 14d}\n"
                                   "  checkpoints: {keepLatestPerThread: 2, minAge: 30m}\n"
                                   "  events: {maxAge: 36h, keepLastPerSession: 50}\n"
                                   "  crewai: {memoryMaxAge: 1w}\n"
                                   "  volume:\n"
                                   "    sizeLimit: 2Gi\n"
                                   "    highWatermarkPercent: 90\n"
                                   "    lowWatermarkPercent: 70\n"
                                   "    emergency: {steps: [checkpoints, softDeleted]}\n"
                                   "  reclaim: {mode: Vacuum}\n"
                                   "  limits: {maxRowsPerRun: 100000}\n"
                                   "status: {observedGeneration: 3}\n";
        static const char json[] =
                "{\"apiVersion\": \"kagent.dev/v1alpha1\", \"kind\": \"RetentionPolicy\",\n"
                " \"metadata\": {\"name\": \"prod\", \"namespace\": \"kagent\", \"generation\": 4},\n"
                " \"spec\": {\"dryRun\": true, \"activeWindow\": \"45m\",\n"
                "  \"sessions\": {\"expireAfter\": \"14d\"},\n"
                "  \"checkpoints\": {\"keepLatestPerThread\": 2, \"minAge\": \"30m\"},\n"
                "  \"events\": {\"maxAge\": \"36h\", \"keepLastPerSession\": 50},\n"
                "  \"crewai\": {\"memoryMaxAge\": \"1w\"},\n"
                "  \"volume\": {\"sizeLimit\": 2147483648, \"highWatermarkPercent\": 90,\n"
                "   \"lowWatermarkPercent\": 70,\n"
                "   \"emergency\": {\"steps\": [\"checkpoints\", \"softDeleted\"]}},\n"
                "  \"reclaim\": {\"mode\": \"Vacuum\"}, \"limits\": {\"maxRowsPerRun\": 100000}},\n"
                " \"status\": {\"observedGeneration\": 3}}\n";
        struct policy a;
        struct policy b;

        (void)state;
        parse_ok(yaml, &a);
        parse_ok(json, &b);
        assert_same_policy(&a, &b);
        assert_string_equal(a.name, "prod");
        assert_int_equal(a.generation, 4);
        assert_true(a.dry_run);
        assert_int_equal(a.active_window_ms, 45 * MIN);
        assert_int_equal(a.session_expire_ms, 14 * DAY);
        assert_int_equal(a.soft_purge_ms, POLICY_OFF);
        assert_int_equal(a.checkpoint_keep, 2);
        assert_int_equal(a.checkpoint_min_age_ms, 30 * MIN);
        assert_int_equal(a.event_max_age_ms, 36 * HOUR);
        assert_int_equal(a.event_keep_last, 50);
        assert_int_equal(a.crewai_memory_ms, WEEK);
        assert_int_equal(a.crewai_flow_ms, POLICY_OFF);
        assert_false(a.orphans);
        assert_int_equal(a.size_limit_bytes, 2LL << 30);
        assert_int_equal(a.high_watermark_pct, 90);
        assert_int_equal(a.low_watermark_pct, 70);
        assert_int_equal(a.n_steps, 2);
        assert_int_equal(a.steps[0], POLICY_STEP_CHECKPOINTS);
        assert_int_equal(a.steps[1], POLICY_STEP_SOFT_DELETED);
        assert_int_equal(a.reclaim, POLICY_RECLAIM_VACUUM);
        assert_int_equal(a.max_rows_per_run, 100000);
}

static void test_whole_vs_bare(void **state)
{
        static const char bare[] = "sessions:\n  expireAfter: 10d\nreclaim:\n  mode: None\n";
        static const char whole[] = "apiVersion: kagent.dev/v1alpha1\nkind: RetentionPolicy\n"
                                    "metadata:\n  name: default\n  generation: 9\n"
                                    "  labels: {app: kagent}\n"
                                    "spec:\n  sessions:\n    expireAfter: 10d\n"
                                    "  reclaim:\n    mode: None\n"
                                    "status:\n  conditions: [{type: Ready}]\n  anything: 1\n";
        struct policy a;
        struct policy b;

        (void)state;
        parse_ok(bare, &a);
        parse_ok(whole, &b);
        assert_string_equal(a.name, "");
        assert_int_equal(a.generation, 0);
        assert_string_equal(b.name, "default");
        assert_int_equal(b.generation, 9);
        assert_int_equal(a.session_expire_ms, 10 * DAY);
        assert_int_equal(a.reclaim, POLICY_RECLAIM_NONE);
        b.generation = 0;
        b.name[0] = '\0';
        assert_same_policy(&a, &b);

        /* Errors in a bare spec carry the same "spec." paths. */
        parse_bad("reclaim:\n  mode: Always\n", "spec.reclaim.mode");
        parse_bad("sessionz: {}\n", "spec.sessionz");
}

static void test_from_json(void **state)
{
        struct policy_errors errs;
        struct policy p;
        struct errbuf err;
        json_t *j;

        (void)state;
        j = json_pack("{s:{s:{s:s}, s:{s:f}}}", "spec", "sessions", "expireAfter", "2w", "volume",
                      "sizeLimit", 1048576.0);
        assert_non_null(j);
        assert_int_equal(policy_from_json(j, &p, &errs, &err), 0);
        assert_int_equal(p.session_expire_ms, 2 * WEEK);
        assert_int_equal(p.size_limit_bytes, 1048576); /* an integral real is a byte count */
        json_decref(j);

        j = json_pack("{s:{s:{s:i, s:i}}}", "spec", "volume", "highWatermarkPercent", 60,
                      "lowWatermarkPercent", 60);
        assert_non_null(j);
        assert_int_equal(policy_from_json(j, &p, &errs, &err), -EINVAL);
        assert_int_equal(errs.n, 1);
        assert_string_equal(
                err.msg,
                "spec.volume.lowWatermarkPercent: must be less than highWatermarkPercent (60), got 60");
        json_decref(j);

        /* Strings with NUL characters never pass as durations. */
        j = json_pack("{s:{s:s%}}", "spec", "activeWindow", "30m\0x", (size_t)5);
        assert_non_null(j);
        assert_int_equal(policy_from_json(j, &p, &errs, &err), -EINVAL);
        assert_string_equal(errs.e[0].path, "spec.activeWindow");
        json_decref(j);

        j = json_integer(5);
        assert_int_equal(policy_from_json(j, &p, &errs, &err), -EINVAL);
        assert_string_equal(errs.e[0].path, "spec");
        json_decref(j);
}

static void test_unknown_field(void **state)
{
        static const struct {
                const char *yaml;
                const char *msg;
        } cases[] = {
                { "spec:\n  dryrun: true\n", "unknown field (did you mean 'dryRun'?)" },
                { "spec:\n  sesions: {}\n", "unknown field (did you mean 'sessions'?)" },
                { "spec:\n  volume:\n    lowWatermark: 10\n", "unknown field" },
                { "spec:\n  volume:\n    emergency:\n      enable: true\n",
                  "unknown field (did you mean 'enabled'?)" },
                { "spec:\n  retention: {}\n", "unknown field" },
                { "spec:\n  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: 1\n",
                  "unknown field" },
        };
        struct policy_errors errs;
        struct policy p;
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(cases); i++) {
                assert_int_equal(
                        policy_parse(cases[i].yaml, strlen(cases[i].yaml), &p, &errs, NULL),
                        -EINVAL);
                assert_int_equal(errs.n, 1);
                assert_string_equal(errs.e[0].msg, cases[i].msg);
        }
}

static void test_duplicate_keys(void **state)
{
        static const char yaml[] = "spec:\n  suspend: true\n  suspend: false\n";
        static const char yaml_nested[] = "spec:\n  volume:\n    highWatermarkPercent: 80\n"
                                          "    highWatermarkPercent: 90\n";
        static const char json[] = "{\"spec\": {\"suspend\": true, \"suspend\": false}}";
        struct policy_errors errs;
        struct policy p;
        struct errbuf err;

        (void)state;
        assert_int_equal(policy_parse(yaml, strlen(yaml), &p, &errs, &err), -EINVAL);
        assert_string_equal(err.msg, "yaml: line 3, column 3: duplicate key 'suspend'");
        assert_int_equal(errs.n, 1);
        assert_string_equal(errs.e[0].path, "");
        assert_string_equal(errs.e[0].msg, err.msg);
        assert_int_equal(policy_parse(yaml_nested, strlen(yaml_nested), &p, &errs, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "line 4"));
        assert_int_equal(policy_parse(json, strlen(json), &p, &errs, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "json: line 1"));
        assert_non_null(strstr(err.msg, "duplicate"));
}

static void test_anchors_aliases(void **state)
{
        static const char *const cases[] = {
                "spec:\n  sessions: &s {expireAfter: 1d}\n  softDeleted: *s\n",
                "spec:\n  sessions:\n    expireAfter: &d 1d\n",
                "spec: &x {}\n",
                "spec:\n  volume:\n    emergency:\n      steps: &l [orphans]\n",
                "a: &a [1]\nb: &b [*a, *a]\nc: [*b, *b]\n",
        };
        struct errbuf err;
        json_t *j = NULL;
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(cases); i++) {
                parse_bad(cases[i], "");
                assert_int_equal(policy_yaml_to_json(cases[i], strlen(cases[i]), &j, &err),
                                 -EINVAL);
                assert_null(j);
                assert_true(strstr(err.msg, "anchors") || strstr(err.msg, "aliases"));
        }
}

static void test_yaml_scalars(void **state)
{
        static const struct {
                const char *yaml;
                const char *json;
        } cases[] = {
                { "a: ~", "null" },
                { "a: null", "null" },
                { "a: Null", "null" },
                { "a: NULL", "null" },
                { "a:", "null" },
                { "a: true", "true" },
                { "a: True", "true" },
                { "a: TRUE", "true" },
                { "a: false", "false" },
                { "a: False", "false" },
                { "a: FALSE", "false" },
                { "a: yes", "\"yes\"" },
                { "a: on", "\"on\"" },
                { "a: tRue", "\"tRue\"" },
                { "a: 80", "80" },
                { "a: -3", "-3" },
                { "a: +7", "7" },
                { "a: 007", "7" },
                { "a: 0o17", "15" },
                { "a: 0x1F", "31" },
                { "a: 9223372036854775807", "9223372036854775807" },
                { "a: 1.5", "1.5" },
                { "a: -.5", "-0.5" },
                { "a: 1e3", "1000.0" },
                { "a: 2.5E-1", "0.25" },
                { "a: 15m", "\"15m\"" },
                { "a: 1.5h", "\"1.5h\"" },
                { "a: 500Mi", "\"500Mi\"" },
                { "a: 0x", "\"0x\"" },
                { "a: 1_000", "\"1_000\"" },
                { "a: '80'", "\"80\"" },
                { "a: \"true\"", "\"true\"" },
                { "a: 'null'", "\"null\"" },
                { "a: ''", "\"\"" },
                { "a: !!str 80", "\"80\"" },
                { "a: ! 80", "\"80\"" },
                { "a: !!int 80", "80" },
                { "a: !!float 1.5", "1.5" },
                { "a: !!bool true", "true" },
                { "a: !!null ~", "null" },
                { "a: |\n  line\n", "\"line\\n\"" },
                { "a: [1, b, {c: d}]", "[1, \"b\", {\"c\": \"d\"}]" },
                { "a: !!map {b: 1}", "{\"b\": 1}" },
                { "a: !!seq [1]", "[1]" },
                { "\"1\": 2", "2" },
        };
        static const char *const bad[] = {
                "a: .inf",
                "a: -.Inf",
                "a: .nan",
                "a: 9223372036854775808",
                "a: -9999999999999999999999",
                "a: 0x8000000000000000",
                "a: 1e999",
                "a: !!int abc",
                "a: !!bool yes",
                "a: !custom x",
                "a: !!binary aGk=",
                "a: !!set {b}",
                "a: \"x\\0y\"",
                "\"x\\0y\": 1",
                "? [a]\n: 1\n",
                "? {a: 1}\n: 1\n",
                "a: [1, 2",
                "a: b: c",
                "a:\n\tb: 1",
        };
        size_t i;

        (void)state;
        for (i = 0; i < N_ELEMS(cases); i++) {
                struct errbuf err;
                json_t *doc = NULL;
                json_t *want;
                const json_t *got;
                json_error_t jerr;

                if (policy_yaml_to_json(cases[i].yaml, strlen(cases[i].yaml), &doc, &err) != 0)
                        fail_msg("yaml '%s' rejected: %s", cases[i].yaml, err.msg);
                want = json_loads(cases[i].json, JSON_DECODE_ANY, &jerr);
                assert_non_null(want);
                got = json_object_get(doc, "a");
                if (!got)
                        got = json_object_get(doc, "1");
                if (!json_equal(got, want)) {
                        char *s = json_dumps(doc, JSON_ENCODE_ANY);

                        fail_msg("yaml '%s' gave %s, want a: %s", cases[i].yaml, s, cases[i].json);
                }
                json_decref(want);
                json_decref(doc);
        }
        for (i = 0; i < N_ELEMS(bad); i++) {
                struct errbuf err;
                json_t *doc = NULL;
                int rc;

                errbuf_clear(&err);
                rc = policy_yaml_to_json(bad[i], strlen(bad[i]), &doc, &err);
                if (rc != -EINVAL)
                        fail_msg("yaml '%s' accepted (%d)", bad[i], rc);
                assert_null(doc);
                assert_non_null(strstr(err.msg, "yaml: line "));
        }
}

static void test_yaml_documents(void **state)
{
        static const char multi[] = "spec:\n  dryRun: true\n---\nspec:\n  dryRun: false\n"
                                    "---\nnot: [valid\n";
        static const char *const empty[] = { "",      "   \n\n", "# comment only\n",
                                             "---\n", "--- ~\n", "null\n" };
        struct policy_errors errs;
        struct policy p;
        struct errbuf err;
        json_t *j = NULL;
        size_t i;

        (void)state;
        parse_ok(multi, &p);
        assert_true(p.dry_run);
        parse_ok("--- # first\nspec: {suspend: true}\n...\n", &p);
        assert_true(p.suspend);
        for (i = 0; i < N_ELEMS(empty); i++) {
                errbuf_clear(&err);
                assert_int_equal(policy_parse(empty[i], strlen(empty[i]), &p, &errs, &err),
                                 -EINVAL);
                assert_int_equal(errs.n, 1);
                if (!strstr(err.msg, "empty document"))
                        fail_msg("'%s': %s", empty[i], err.msg);
        }
        assert_int_equal(policy_yaml_to_json("", 0, &j, &err), -EINVAL);
        assert_null(j);
        assert_int_equal(policy_yaml_to_json(NULL, 0, &j, &err), -EINVAL);
}

static void test_text_errors(void **state)
{
        static const char nul[] = "spec: {}\0\n";
        struct policy_errors errs;
        struct policy p;
        struct errbuf err;
        json_t *j = NULL;
        char deep[128];
        char *big;
        size_t n = 0;
        int i;

        (void)state;
        n += (size_t)snprintf(deep, sizeof(deep), "a: ");
        for (i = 0; i < 40; i++)
                deep[n++] = '[';
        for (i = 0; i < 40; i++)
                deep[n++] = ']';
        deep[n] = '\0';
        assert_int_equal(policy_parse("spec:\n  a: b\n c: d\n", 19, &p, &errs, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "yaml: line 3"));
        assert_int_equal(errs.n, 1);

        assert_int_equal(policy_parse("{\"spec\": {]", 11, &p, &errs, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "json: line 1"));

        assert_int_equal(policy_parse(deep, strlen(deep), &p, &errs, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "nesting too deep"));

        assert_int_equal(policy_parse(nul, sizeof(nul) - 1, &p, &errs, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "NUL"));

        big = malloc(TEXT_MAX + 2);
        assert_non_null(big);
        memset(big, '#', TEXT_MAX + 1);
        big[TEXT_MAX + 1] = '\0';
        assert_int_equal(policy_parse(big, TEXT_MAX + 1, &p, &errs, &err), -EMSGSIZE);
        assert_int_equal(errs.n, 1);
        assert_int_equal(policy_yaml_to_json(big, TEXT_MAX + 1, &j, &err), -EMSGSIZE);
        assert_null(j);
        /* Exactly the limit is fine (a comment-only text: empty document). */
        assert_int_equal(policy_parse(big, TEXT_MAX, &p, &errs, &err), -EINVAL);
        free(big);

        /* JSON text with a UTF-8 BOM or flow-style YAML still parses. */
        parse_ok("\xef\xbb\xbf{\"spec\": {}}", &p);
        parse_ok("  \n{spec: {dryRun: true}}", &p);
        assert_true(p.dry_run);
}

static char *source_path(const char *rel)
{
        const char *dir = getenv("KR_SOURCE_DIR"); /* NOLINT(concurrency-mt-unsafe): one thread */
        char *path;

        if (!dir)
                dir = ".";
        path = malloc(strlen(dir) + strlen(rel) + 2);
        assert_non_null(path);
        (void)snprintf(path, strlen(dir) + strlen(rel) + 2, "%s/%s", dir, rel);
        return path;
}

static void load_sample(const char *file, struct policy *p)
{
        char rel[256];
        struct errbuf err;
        char *path;

        (void)snprintf(rel, sizeof(rel), "manifests/samples/%s", file);
        path = source_path(rel);
        errbuf_clear(&err);
        if (policy_load_file(path, p, NULL, &err) != 0)
                fail_msg("%s: %s", path, err.msg);
        free(path);
}

static void test_samples(void **state)
{
        struct policy p;

        (void)state;
        assert_non_null(getenv("KR_SOURCE_DIR")); /* NOLINT(concurrency-mt-unsafe): one thread */

        load_sample("retentionpolicy-default.yaml", &p);
        assert_string_equal(p.name, "default");
        assert_api_example(&p);

        load_sample("retentionpolicy-small-volume.yaml", &p);
        assert_string_equal(p.name, "small-volume");
        assert_int_equal(p.session_expire_ms, 7 * DAY);
        assert_int_equal(p.event_max_age_ms, 3 * DAY);
        assert_int_equal(p.event_keep_last, 100);
        assert_int_equal(p.checkpoint_keep, 1);
        assert_int_equal(p.high_watermark_pct, 70);
        assert_int_equal(p.low_watermark_pct, 50);
        assert_int_equal(p.size_limit_bytes, 500LL << 20);
        assert_false(p.dry_run);

        load_sample("retentionpolicy-dry-run.yaml", &p);
        assert_string_equal(p.name, "dry-run");
        assert_true(p.dry_run);
        assert_true(policy_has_rules(&p));
        assert_int_equal(p.checkpoint_keep, 3);

        load_sample("retentionpolicy-postgres.yaml", &p);
        assert_string_equal(p.name, "postgres");
        assert_int_equal(p.reclaim, POLICY_RECLAIM_AUTO);
        assert_int_equal(p.size_limit_bytes, POLICY_OFF);
        assert_true(policy_has_rules(&p));
}

/* Every .yaml file in tests/data/policies/bad names the field it breaks on its first line. */
static void test_bad_files(void **state)
{
        char *dir_path = source_path("tests/data/policies/bad");
        size_t n_files = 0;
        DIR *dir;

        (void)state;
        dir = opendir(dir_path);
        assert_non_null(dir);
        for (;;) {
                const struct dirent *de;
                struct policy_errors errs;
                struct policy p;
                struct policy canary;
                struct errbuf err;
                char path[1024];
                char first[256];
                const char *want;
                bool found = false;
                size_t i;
                FILE *f;

                de = readdir(dir); /* NOLINT(concurrency-mt-unsafe): one thread, one stream */
                if (!de)
                        break;
                if (strlen(de->d_name) < 6 ||
                    strcmp(de->d_name + strlen(de->d_name) - 5, ".yaml") != 0)
                        continue;
                (void)snprintf(path, sizeof(path), "%s/%s", dir_path, de->d_name);
                f = fopen(path, "r");
                assert_non_null(f);
                assert_non_null(fgets(first, sizeof(first), f));
                (void)fclose(f);
                first[strcspn(first, "\n")] = '\0';
                if (strncmp(first, "# expect: ", 10) != 0)
                        fail_msg("%s: first line must be '# expect: <path>'", path);
                want = first + 10;

                memset(&p, 0x3c, sizeof(p));
                memcpy(&canary, &p, sizeof(p));
                errbuf_clear(&err);
                if (policy_load_file(path, &p, &errs, &err) != -EINVAL)
                        fail_msg("%s: not rejected", path);
                assert_memory_equal(&p, &canary, sizeof(p));
                for (i = 0; i < errs.n; i++) {
                        if (strstr(errs.e[i].path, want))
                                found = true;
                }
                if (!found)
                        fail_msg("%s: no error at '%s'; got: %s", path, want, err.msg);
                assert_non_null(strstr(err.msg, de->d_name));
                n_files++;
        }
        (void)closedir(dir);
        free(dir_path);
        assert_true(n_files >= 12);
}

static void test_load_file_errors(void **state)
{
        char tmpl[] = "/tmp/test_policy_XXXXXX";
        struct policy_errors errs;
        struct policy p;
        struct errbuf err;
        char *big;
        int fd;

        (void)state;
        assert_int_equal(policy_load_file("/nonexistent/policy.yaml", &p, &errs, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "'/nonexistent/policy.yaml'"));
        assert_int_equal(errs.n, 1);
        assert_int_equal(policy_load_file("/", &p, &errs, &err), -EISDIR);

        fd = mkstemp(tmpl);
        assert_true(fd >= 0);
        big = malloc(TEXT_MAX + 1);
        assert_non_null(big);
        memset(big, '#', TEXT_MAX + 1);
        assert_int_equal(write(fd, big, TEXT_MAX + 1), TEXT_MAX + 1);
        free(big);
        assert_int_equal(policy_load_file(tmpl, &p, &errs, &err), -EMSGSIZE);
        assert_non_null(strstr(err.msg, "larger than"));

        assert_int_equal(ftruncate(fd, 0), 0);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        assert_int_equal(write(fd, "{\"spec\": {\"suspend\": true}}", 27), 27);
        assert_int_equal(policy_load_file(tmpl, &p, &errs, &err), 0);
        assert_true(p.suspend);
        (void)close(fd);
        (void)unlink(tmpl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_duration_valid),
                cmocka_unit_test(test_duration_invalid),
                cmocka_unit_test(test_duration_format),
                cmocka_unit_test(test_quantity_valid),
                cmocka_unit_test(test_quantity_invalid),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_defaults_empty),
                cmocka_unit_test(test_defaults_sections_present),
                cmocka_unit_test(test_explicit_nulls),
                cmocka_unit_test(test_api_example),
                cmocka_unit_test(test_to_json_roundtrip),
                cmocka_unit_test(test_bad_fields),
                cmocka_unit_test(test_long_name),
                cmocka_unit_test(test_multiple_errors),
                cmocka_unit_test(test_error_limit),
                cmocka_unit_test(test_out_untouched),
                cmocka_unit_test(test_yaml_json_equivalence),
                cmocka_unit_test(test_whole_vs_bare),
                cmocka_unit_test(test_from_json),
                cmocka_unit_test(test_unknown_field),
                cmocka_unit_test(test_duplicate_keys),
                cmocka_unit_test(test_anchors_aliases),
                cmocka_unit_test(test_yaml_scalars),
                cmocka_unit_test(test_yaml_documents),
                cmocka_unit_test(test_text_errors),
                cmocka_unit_test(test_samples),
                cmocka_unit_test(test_bad_files),
                cmocka_unit_test(test_load_file_errors),
        };
        int failed = cmocka_run_group_tests(tests, NULL, NULL);

        failed += run_alloc_tests();
        return failed == 0 ? 0 : 1;
}
