/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation failures in pkg/policy (tests/unit/common/failalloc.h): every allocation of a
 * parse, the ones inside libyaml, jansson and libc included, fails in turn; each failure is
 * reported, leaves the output untouched and leaks nothing. The unit parsers never allocate.
 */
#include <errno.h>
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
#include "base/memguard.h"
#include "failalloc.h"
#include "policy/policy.h"
#include "policy_test.h"

static const char yaml_text[] = "apiVersion: kagent.dev/v1alpha1\n"
                                "kind: RetentionPolicy\n"
                                "metadata: {name: prod, namespace: kagent, generation: 4}\n"
                                "spec:\n"
                                "  dryRun: true\n"
                                "  schedule: {interval: 10m}\n"
                                "  activeWindow: 45m\n"
                                "  sessions: {expireAfter: 14d}\n"
                                "  softDeleted: {purgeAfter: 3d}\n"
                                "  tasks: {finishedAfter: 2d}\n"
                                "  checkpoints: {keepLatestPerThread: 2, minAge: 30m}\n"
                                "  events: {maxAge: 36h, keepLastPerSession: 50}\n"
                                "  crewai: {memoryMaxAge: 1w, flowStateMaxAge: null}\n"
                                "  orphans: {enabled: true}\n"
                                "  volume:\n"
                                "    sizeLimit: 2Gi\n"
                                "    highWatermarkPercent: 90\n"
                                "    lowWatermarkPercent: 70\n"
                                "    emergency:\n"
                                "      enabled: true\n"
                                "      steps: [orphans, softDeleted, idleSessions]\n"
                                "  reclaim: {mode: Incremental}\n"
                                "  batch: {maxRows: 500, maxLockDuration: 40ms, pause: 10ms}\n"
                                "  limits: {maxRowsPerRun: 100000, runTimeout: 5m}\n";

static const char json_text[] =
        "{\"apiVersion\": \"kagent.dev/v1alpha1\", \"kind\": \"RetentionPolicy\",\n"
        " \"metadata\": {\"name\": \"prod\", \"namespace\": \"kagent\", \"generation\": 4},\n"
        " \"spec\": {\"dryRun\": true, \"schedule\": {\"interval\": \"10m\"},\n"
        "  \"activeWindow\": \"45m\", \"sessions\": {\"expireAfter\": \"14d\"},\n"
        "  \"softDeleted\": {\"purgeAfter\": \"3d\"}, \"tasks\": {\"finishedAfter\": \"2d\"},\n"
        "  \"checkpoints\": {\"keepLatestPerThread\": 2, \"minAge\": \"30m\"},\n"
        "  \"events\": {\"maxAge\": \"36h\", \"keepLastPerSession\": 50},\n"
        "  \"crewai\": {\"memoryMaxAge\": \"1w\", \"flowStateMaxAge\": null},\n"
        "  \"orphans\": {\"enabled\": true},\n"
        "  \"volume\": {\"sizeLimit\": \"2Gi\", \"highWatermarkPercent\": 90,\n"
        "   \"lowWatermarkPercent\": 70, \"emergency\": {\"enabled\": true,\n"
        "   \"steps\": [\"orphans\", \"softDeleted\", \"idleSessions\"]}},\n"
        "  \"reclaim\": {\"mode\": \"Incremental\"},\n"
        "  \"batch\": {\"maxRows\": 500, \"maxLockDuration\": \"40ms\", \"pause\": \"10ms\"},\n"
        "  \"limits\": {\"maxRowsPerRun\": 100000, \"runTimeout\": \"5m\"}}}\n";

/* A parse: the text, its result, and what an untouched output looks like. */
struct parse_case {
        const char *text;
        const char *path; /* policy_load_file() when set */
        struct policy want;
        struct policy out;
        struct policy canary;
        struct policy_errors errs;
        struct errbuf err;
};

static int parse_call(void *userdata)
{
        struct parse_case *c = userdata;

        memset(&c->out, 0x5a, sizeof(c->out));
        memcpy(&c->canary, &c->out, sizeof(c->out));
        errbuf_clear(&c->err);
        if (c->path)
                return policy_load_file(c->path, &c->out, &c->errs, &c->err);
        return policy_parse(c->text, strlen(c->text), &c->out, &c->errs, &c->err);
}

static void parse_check(int rc, bool injected, void *userdata)
{
        struct parse_case *c = userdata;

        if (!injected || rc == 0) { /* complete, or the failure was absorbed (failalloc.h) */
                assert_int_equal(rc, 0);
                assert_memory_equal(&c->out, &c->want, sizeof(c->want));
                return;
        }
        if (rc != -ENOMEM)
                fail_msg("allocation %ld failed: got %d (%s), want -ENOMEM", failalloc_count(), rc,
                         c->err.msg);
        assert_int_equal(c->err.code, -ENOMEM);
        assert_non_null(strstr(c->err.msg, "out of memory"));
        assert_int_equal(c->errs.n, 1);
        assert_non_null(strstr(c->errs.e[0].msg, "out of memory"));
        assert_memory_equal(&c->out, &c->canary, sizeof(c->out));
}

static void expect_policy(struct parse_case *c)
{
        struct errbuf err;

        errbuf_clear(&err);
        assert_int_equal(policy_parse(c->text, strlen(c->text), &c->want, NULL, &err), 0);
        assert_true(c->want.dry_run);
        assert_int_equal(c->want.n_steps, 3);
}

static void test_parse_yaml_alloc(void **state)
{
        struct parse_case c = { .text = yaml_text };
        long n;

        (void)state;
        expect_policy(&c);
        n = failalloc_each(parse_call, parse_check, &c);
        assert_true(n > 50);
}

static void test_parse_json_alloc(void **state)
{
        struct parse_case c = { .text = json_text };
        struct policy from_yaml;
        struct errbuf err;
        long n;

        (void)state;
        expect_policy(&c);
        errbuf_clear(&err);
        assert_int_equal(policy_parse(yaml_text, strlen(yaml_text), &from_yaml, NULL, &err), 0);
        assert_memory_equal(&from_yaml, &c.want, sizeof(from_yaml));
        n = failalloc_each(parse_call, parse_check, &c);
        assert_true(n > 50);
}

static void test_load_file_alloc(void **state)
{
        char path[] = "/tmp/test_policy_alloc_XXXXXX";
        struct parse_case c = { .text = yaml_text, .path = path };
        size_t len = strlen(yaml_text);
        int fd;

        (void)state;
        expect_policy(&c);
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, yaml_text, len), (ssize_t)len);
        assert_int_equal(close(fd), 0);
        assert_true(failalloc_each(parse_call, parse_check, &c) > 50);
        assert_int_equal(unlink(path), 0);
}

/* YAML to JSON alone: the value or -ENOMEM, and '*out' untouched. */
struct yaml_case {
        json_t *out;
        struct errbuf err;
};

static int yaml_call(void *userdata)
{
        struct yaml_case *c = userdata;

        c->out = NULL;
        errbuf_clear(&c->err);
        return policy_yaml_to_json(yaml_text, strlen(yaml_text), &c->out, &c->err);
}

static void yaml_check(int rc, bool injected, void *userdata)
{
        struct yaml_case *c = userdata;

        if (!injected || rc == 0) {
                assert_int_equal(rc, 0);
                assert_string_equal(json_string_value(json_object_get(
                                            json_object_get(c->out, "metadata"), "name")),
                                    "prod");
                json_decref(c->out);
                return;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(c->err.code, -ENOMEM);
        assert_null(c->out);
}

static void test_yaml_to_json_alloc(void **state)
{
        struct yaml_case c;

        (void)state;
        assert_true(failalloc_each(yaml_call, yaml_check, &c) > 50);
}

/* The effective policy as JSON: a new value, or NULL when out of memory. */
struct to_json_case {
        struct policy p;
        json_t *out;
};

static int to_json_call(void *userdata)
{
        struct to_json_case *c = userdata;

        c->out = policy_to_json(&c->p);
        return c->out ? 0 : -ENOMEM;
}

static void to_json_check(int rc, bool injected, void *userdata)
{
        struct to_json_case *c = userdata;
        struct policy back;
        struct errbuf err;

        if (injected && rc != 0) {
                assert_int_equal(rc, -ENOMEM);
                return;
        }
        assert_int_equal(rc, 0);
        errbuf_clear(&err);
        assert_int_equal(policy_from_json(c->out, &back, NULL, &err), 0);
        assert_memory_equal(&back, &c->p, sizeof(back));
        json_decref(c->out);
}

static void test_to_json_alloc(void **state)
{
        struct to_json_case c;
        struct errbuf err;

        (void)state;
        errbuf_clear(&err);
        assert_int_equal(policy_parse(yaml_text, strlen(yaml_text), &c.p, NULL, &err), 0);
        /* The spec alone: policy_to_json() leaves metadata out. */
        memset(c.p.name, 0, sizeof(c.p.name));
        c.p.generation = 0;
        assert_true(failalloc_each(to_json_call, to_json_check, &c) > 20);
}

/* Durations and quantities are pure: they cannot fail for want of memory. */
static int units_call(void *userdata)
{
        int64_t *v = userdata;
        int rc;

        rc = policy_duration_parse("1h30m15.5s", &v[0]);
        if (rc == 0)
                rc = policy_quantity_parse("1.5Gi", &v[1]);
        if (rc == 0)
                rc = policy_quantity_parse("1e3", &v[2]);
        return rc;
}

static void units_check(int rc, bool injected, void *userdata)
{
        const int64_t *v = userdata;

        assert_false(injected);
        assert_int_equal(rc, 0);
        assert_int_equal(v[0], 5415500);
        assert_int_equal(v[1], 1610612736);
        assert_int_equal(v[2], 1000);
}

static void test_units_no_alloc(void **state)
{
        int64_t v[3];

        (void)state;
        assert_int_equal(failalloc_each(units_call, units_check, v), 0);
}

int run_alloc_tests(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_yaml_alloc), cmocka_unit_test(test_parse_json_alloc),
                cmocka_unit_test(test_load_file_alloc),  cmocka_unit_test(test_yaml_to_json_alloc),
                cmocka_unit_test(test_to_json_alloc),    cmocka_unit_test(test_units_no_alloc),
        };

        /* As main() does: a JSON parse that lost an allocation is then -ENOMEM. */
        json_set_alloc_funcs(memguard_malloc, free);
        return cmocka_run_group_tests_name("policy allocation failures", tests, NULL, NULL);
}
