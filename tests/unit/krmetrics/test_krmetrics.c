/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of pkg/krmetrics: the metrics a fresh process exports, bounded label mapping,
 * what a run, an emergency ladder and a policy change do to the series, allocation failures,
 * and `promtool check metrics` on a real scrape of a registry with every metric filled in.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/errbuf.h"
#include "failalloc.h"
#include "httpc.h"
#include "httpd/httpd.h"
#include "krmetrics/krmetrics.h"
#include "krmetrics_fill.h"
#include "metrics/metrics.h"

extern char **environ;

static char text[1 << 17];

static const char *scrape(const struct krmetrics *m)
{
        size_t len = 0;

        assert_int_equal(
                metrics_registry_write(krmetrics_registry(m), text, sizeof(text) - 1, &len, NULL),
                0);
        text[len] = '\0';
        return text;
}

static struct krmetrics *new_metrics(void)
{
        struct krmetrics *m = NULL;
        struct errbuf err;

        errbuf_clear(&err);
        if (krmetrics_new("1.2.3", 1770000000000, &m, &err) < 0)
                fail_msg("krmetrics_new: %s", err.msg);
        return m;
}

static void expect_line(const char *line)
{
        if (!strstr(text, line))
                fail_msg("missing line: %s", line);
}

static void expect_no(const char *part)
{
        if (strstr(text, part))
                fail_msg("unexpected: %s", part);
}

static void test_fresh(void **state)
{
        struct krmetrics *m = new_metrics();

        (void)state;
        (void)scrape(m);
        expect_line("\nkagent_retention_build_info{version=\"1.2.3\"} 1\n");
        expect_line("\nkagent_retention_start_time_seconds 1770000000\n");
        expect_line("\nkagent_retention_policy_valid 1\n");
        expect_line("\nkagent_retention_schedule_interval_seconds 0\n");
        expect_line("\nkagent_retention_database_file_bytes{file=\"journal\"} 0\n");
        expect_line("\nkagent_retention_volume_usage_ratio NaN\n");
        expect_line("\nkagent_retention_volume_time_to_full_seconds +Inf\n");
        expect_line("\nkagent_retention_volume_watermark_ratio{level=\"high\"} NaN\n");
        expect_line("\nkagent_retention_runs_total{result=\"Succeeded\"} 0\n");
        expect_line("\nkagent_retention_runs_total{result=\"Skipped\"} 0\n");
        expect_line("\nkagent_retention_emergency_runs_total{result=\"unrelieved\"} 0\n");
        expect_line("\nkagent_retention_run_duration_seconds_bucket{le=\"600\"} 0\n");
        expect_line("\nkagent_retention_batch_duration_seconds_bucket{le=\"0.05\"} 0\n");
        expect_line("\nkagent_retention_last_success_timestamp_seconds 0\n");
        expect_line("\nkagent_retention_consecutive_failed_runs 0\n");
        expect_no("kagent_retention_policy_info");   /* no policy yet */
        expect_no("kagent_retention_deleted_rows");  /* nothing deleted yet */
        expect_no("kagent_retention_kube_requests"); /* no request yet */
        krmetrics_free(m);
        krmetrics_free(NULL);
}

static void test_labels_bounded(void **state)
{
        struct krmetrics *m = new_metrics();
        struct store_usage u;

        (void)state;
        memset(&u, 0, sizeof(u));
        (void)snprintf(u.tables[0].name, sizeof(u.tables[0].name), "event");
        u.tables[0] = (struct store_table_usage){ .name = "event", .rows = 10, .bytes = 4096 };
        u.tables[1] =
                (struct store_table_usage){ .name = "sqlite_sequence", .rows = 3, .bytes = 4096 };
        u.tables[2] = (struct store_table_usage){ .name = "my_extra", .rows = -1, .bytes = 8192 };
        u.n_tables = 3;
        krmetrics_usage_set(m, &u);
        (void)scrape(m);
        expect_line("\nkagent_retention_table_bytes{table=\"event\"} 4096\n");
        expect_line("\nkagent_retention_table_bytes{table=\"other\"} 12288\n");
        expect_line("\nkagent_retention_table_rows{table=\"other\"} 3\n");
        expect_no("sqlite_sequence");

        /* Every verb and code: the series stay within the family's limit (else an assert). */
        for (int code = -1; code < 700; code++) {
                krmetrics_kube_request_record(m, "get", code);
                krmetrics_kube_request_record(m, "PATCH", code);
                krmetrics_kube_request_record(m, NULL, code);
        }
        krmetrics_watch_restart_record(m, "retentionpolicies");
        krmetrics_watch_restart_record(m, "a-resource-never-seen");
        krmetrics_watch_restart_record(m, NULL);
        (void)scrape(m);
        expect_line("\nkagent_retention_kube_requests_total{verb=\"get\",code=\"200\"} 1\n");
        expect_line("\nkagent_retention_kube_requests_total{verb=\"get\",code=\"<error>\"} 2\n");
        expect_line("\nkagent_retention_kube_requests_total{verb=\"get\",code=\"4xx\"} 91\n");
        expect_line("\nkagent_retention_kube_requests_total{verb=\"get\",code=\"other\"} 199\n");
        expect_line("\nkagent_retention_kube_requests_total{verb=\"other\",code=\"409\"} 2\n");
        expect_line("\nkagent_retention_kube_watch_restarts_total{resource=\"other\"} 2\n");
        krmetrics_free(m);
}

static void test_runs(void **state)
{
        struct krmetrics *m = new_metrics();
        struct prune_result r;
        struct store_batch_result b = { .txn_us = 12000 };

        (void)state;
        memset(&r, 0, sizeof(r));
        r.outcome = PRUNE_FAILED;
        r.end_wall_ms = 1770000100500;
        r.duration_ms = 1500;
        r.busy_retries = 3;
        r.rules[STORE_RULE_SESSIONS].tables[STORE_T_EVENT] = (struct store_count){ 10, 1000 };
        krmetrics_run_record(m, &r);
        krmetrics_run_record(m, &r);
        krmetrics_batch_observe(m, &b);
        (void)scrape(m);
        expect_line("\nkagent_retention_runs_total{result=\"Failed\"} 2\n");
        expect_line("\nkagent_retention_consecutive_failed_runs 2\n");
        expect_line("\nkagent_retention_last_run_timestamp_seconds 1770000100.5\n");
        expect_line("\nkagent_retention_last_success_timestamp_seconds 0\n");
        expect_line("\nkagent_retention_busy_retries_total 6\n");
        expect_line(
                "\nkagent_retention_deleted_rows_total{rule=\"sessions\",table=\"event\"} 20\n");
        expect_line(
                "\nkagent_retention_deleted_bytes_total{rule=\"sessions\",table=\"event\"} 2000\n");
        expect_line("\nkagent_retention_run_duration_seconds_bucket{le=\"2.5\"} 2\n");
        expect_line("\nkagent_retention_run_duration_seconds_sum 3\n");
        expect_line("\nkagent_retention_batch_duration_seconds_bucket{le=\"0.01\"} 0\n");
        expect_line("\nkagent_retention_batch_duration_seconds_bucket{le=\"0.025\"} 1\n");

        r.outcome = PRUNE_SKIPPED;
        krmetrics_run_record(m, &r);
        (void)scrape(m);
        expect_line("\nkagent_retention_consecutive_failed_runs 2\n"); /* Skipped: unchanged */

        /* A dry run deletes nothing; its counts become the pending rows and orphan backlog. */
        memset(&r, 0, sizeof(r));
        r.outcome = PRUNE_DRY_RUN;
        r.end_wall_ms = 1770000200000;
        r.rules[STORE_RULE_EVENTS].tables[STORE_T_EVENT] = (struct store_count){ 70, 7000 };
        r.rules[STORE_RULE_ORPHANS].tables[STORE_T_EVENT] = (struct store_count){ 5, 500 };
        krmetrics_run_record(m, &r);
        (void)scrape(m);
        expect_line("\nkagent_retention_consecutive_failed_runs 0\n");
        expect_line("\nkagent_retention_last_success_timestamp_seconds 1770000200\n");
        expect_line("\nkagent_retention_pending_rows{table=\"event\"} 75\n");
        expect_line("\nkagent_retention_pending_rows{table=\"session\"} 0\n");
        expect_line("\nkagent_retention_orphan_backlog_rows{table=\"event\"} 5\n");
        expect_no("rule=\"events\"");
        krmetrics_free(m);
}

static void test_emergency_and_volume(void **state)
{
        struct krmetrics *m = new_metrics();
        struct prune_result r;
        struct krmetrics_volume v = { .used_bytes = 900,
                                      .limit_bytes = 1000,
                                      .usage_ratio = 0.85,
                                      .growth_bytes_per_second = NAN,
                                      .seconds_to_full = -1,
                                      .high_watermark_ratio = 0.8,
                                      .low_watermark_ratio = 0.65,
                                      .pressure = true };

        (void)state;
        krmetrics_volume_set(m, &v);
        memset(&r, 0, sizeof(r));
        r.outcome = PRUNE_SUCCEEDED;
        r.relieved = false;
        r.rules[STORE_RULE_SOFT_DELETED].tables[STORE_T_TASK] = (struct store_count){ 4, 40 };
        krmetrics_emergency_record(m, &r);
        (void)scrape(m);
        expect_line("\nkagent_retention_volume_usage_ratio 0.85\n");
        expect_line("\nkagent_retention_volume_time_to_full_seconds +Inf\n");
        expect_line("\nkagent_retention_volume_growth_bytes_per_second NaN\n");
        expect_line("\nkagent_retention_volume_pressure 1\n");
        expect_line("\nkagent_retention_volume_pressure_unrelieved 1\n");
        expect_line("\nkagent_retention_emergency_runs_total{result=\"unrelieved\"} 1\n");
        expect_line(
                "\nkagent_retention_deleted_rows_total{rule=\"softDeleted\",table=\"task\"} 4\n");
        expect_line("\nkagent_retention_runs_total{result=\"Succeeded\"} 0\n"); /* not a run */

        r.outcome = PRUNE_FAILED;
        krmetrics_emergency_record(m, &r);
        r.outcome = PRUNE_DRY_RUN;
        krmetrics_emergency_record(m, &r); /* ignored */
        r.outcome = PRUNE_SUCCEEDED;
        r.relieved = true;
        krmetrics_emergency_record(m, &r);
        (void)scrape(m);
        expect_line("\nkagent_retention_emergency_runs_total{result=\"failed\"} 1\n");
        expect_line("\nkagent_retention_emergency_runs_total{result=\"relieved\"} 1\n");
        expect_line("\nkagent_retention_volume_pressure_unrelieved 0\n");

        krmetrics_emergency_record(m, &(struct prune_result){ .outcome = PRUNE_SKIPPED });
        (void)scrape(m);
        expect_line("\nkagent_retention_volume_pressure_unrelieved 1\n");
        v.pressure = false; /* pressure gone: nothing left unrelieved */
        v.limit_bytes = 0;  /* and a limit that is unknown: no ratio */
        krmetrics_volume_set(m, &v);
        (void)scrape(m);
        expect_line("\nkagent_retention_volume_pressure_unrelieved 0\n");
        expect_line("\nkagent_retention_volume_usage_ratio NaN\n");
        krmetrics_free(m);
}

static void test_policy(void **state)
{
        struct krmetrics *m = new_metrics();
        struct krmetrics_policy p = { .name = "default",
                                      .generation = 3,
                                      .dry_run = true,
                                      .valid = true,
                                      .interval_s = 900 };
        char long_name[300];

        (void)state;
        assert_int_equal(krmetrics_policy_set(m, &p, NULL), 0);
        (void)scrape(m);
        expect_line(
                "\nkagent_retention_policy_info{name=\"default\",generation=\"3\",dry_run=\"true\","
                "suspended=\"false\"} 1\n");
        expect_line("\nkagent_retention_schedule_interval_seconds 900\n");
        p.generation = 4;
        p.dry_run = false;
        p.suspended = true;
        assert_int_equal(krmetrics_policy_set(m, &p, NULL), 0);
        (void)scrape(m);
        expect_line(
                "\nkagent_retention_policy_info{name=\"default\",generation=\"4\",dry_run=\"false\","
                "suspended=\"true\"} 1\n");
        expect_no("generation=\"3\""); /* replaced, not added */
        expect_line("\nkagent_retention_schedule_interval_seconds 0\n");
        p.suspended = false;
        p.valid = false;
        assert_int_equal(krmetrics_policy_set(m, &p, NULL), 0);
        (void)scrape(m);
        expect_line("\nkagent_retention_policy_valid 0\n");
        expect_line("\nkagent_retention_schedule_interval_seconds 0\n");
        assert_int_equal(krmetrics_policy_set(m, NULL, NULL), 0);
        (void)scrape(m);
        expect_no("kagent_retention_policy_info");
        expect_line("\nkagent_retention_policy_valid 1\n");

        memset(long_name, 'n', sizeof(long_name) - 1);
        long_name[sizeof(long_name) - 1] = '\0';
        p.name = long_name;
        assert_int_equal(krmetrics_policy_set(m, &p, NULL), -EINVAL);
        krmetrics_free(m);
}

/* Each allocation of the constructor fails in turn (tests/unit/common/failalloc.h). */
static int new_call(void *userdata)
{
        struct krmetrics **m = userdata;
        struct errbuf err;

        *m = NULL;
        errbuf_clear(&err);
        return krmetrics_new("1", 0, m, &err);
}

static void new_check(int rc, bool injected, void *userdata)
{
        struct krmetrics **m = userdata;

        if (injected) {
                assert_int_equal(rc, -ENOMEM);
                assert_null(*m);
                return;
        }
        assert_int_equal(rc, 0);
        assert_non_null(strstr(scrape(*m), "kagent_retention_build_info{"));
        krmetrics_free(*m);
}

static void test_alloc_failures(void **state)
{
        struct krmetrics *m;

        (void)state;
        assert_true(failalloc_each(new_call, new_check, &m) > 10);
}

/* Run 'argv' with 'input' on stdin; its stdout and stderr go to out[size]. Returns the status. */
static int run_tool(char *const argv[], const char *input, size_t len, char *out, size_t size)
{
        char in_path[] = "/tmp/kr-promtool-in-XXXXXX";
        char out_path[] = "/tmp/kr-promtool-out-XXXXXX";
        posix_spawn_file_actions_t fa;
        int in_fd = mkstemp(in_path);
        int out_fd = mkstemp(out_path);
        int status = -1;
        ssize_t n;
        pid_t pid;
        int rc;

        assert_true(in_fd >= 0 && out_fd >= 0);
        assert_int_equal(write(in_fd, input, len), (ssize_t)len);
        assert_int_equal(lseek(in_fd, 0, SEEK_SET), 0);
        assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
        assert_int_equal(posix_spawn_file_actions_adddup2(&fa, in_fd, 0), 0);
        assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out_fd, 1), 0);
        assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out_fd, 2), 0);
        rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        (void)posix_spawn_file_actions_destroy(&fa);
        if (rc != 0)
                fail_msg("cannot run %s (%s): install the Debian package 'prometheus' "
                         "(scripts/install-deps test)",
                         argv[0], strerror_r(rc, out, size));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        n = pread(out_fd, out, size - 1, 0);
        out[n > 0 ? n : 0] = '\0';
        (void)close(in_fd);
        (void)close(out_fd);
        (void)unlink(in_path);
        (void)unlink(out_path);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* `promtool check metrics` (format and lint) accepts a real scrape without a single remark. */
static void test_promtool_check_metrics(void **state)
{
        char tool[] = "promtool";
        char check[] = "check";
        char what[] = "metrics";
        char *argv[] = { tool, check, what, NULL };
        struct krmetrics *m = new_metrics();
        struct httpd_config cfg = { .registry = krmetrics_registry(m),
                                    .requests = krmetrics_http_family(m) };
        struct httpd *server = NULL;
        char out[8192];
        size_t len = 0;
        const char *body;
        int rc;

        (void)state;
        krmetrics_fill(m);
        assert_int_equal(httpd_addr_parse("127.0.0.1:0", &cfg.addr, NULL), 0);
        assert_int_equal(httpd_start(&cfg, &server, NULL), 0);
        assert_int_equal(httpc_request(httpd_port(server), "GET", "/metrics", text, sizeof(text),
                                       &len, 5000),
                         200);
        httpd_stop(server);
        body = httpc_body(text);
        assert_non_null(body);
        /* Every family is in the scrape. */
        assert_non_null(strstr(body, "kagent_retention_policy_info{"));
        assert_non_null(strstr(body, "kagent_retention_kube_watch_restarts_total{"));
        assert_non_null(strstr(body, "kagent_retention_http_requests_total{"));
        assert_non_null(strstr(body, "kagent_retention_table_rows{table=\"other\"}"));
        rc = run_tool(argv, body, strlen(body), out, sizeof(out));
        if (rc != 0 || out[0] != '\0')
                fail_msg("promtool check metrics: exit %d:\n%s", rc, out);
        krmetrics_free(m);
}

/* Every exported metric has its row in docs/metrics.md. */
static void test_documented(void **state)
{
        const char *dir = getenv("KR_SOURCE_DIR"); /* NOLINT(concurrency-mt-unsafe): one thread */
        struct krmetrics *m = new_metrics();
        static char doc[1 << 16];
        char path[512];
        char row[160];
        const char *p;
        FILE *f;
        size_t n;

        (void)state;
        assert_non_null(dir);
        (void)snprintf(path, sizeof(path), "%s/docs/metrics.md", dir);
        f = fopen(path, "re");
        assert_non_null(f);
        n = fread(doc, 1, sizeof(doc) - 1, f);
        doc[n] = '\0';
        (void)fclose(f);
        krmetrics_fill(m);
        for (p = strstr(scrape(m), "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
                const char *name = p + 7;
                size_t len = strcspn(name, " ");

                (void)snprintf(row, sizeof(row), "| `%.*s` |", (int)len, name);
                if (!strstr(doc, row))
                        fail_msg("docs/metrics.md has no row for %.*s", (int)len, name);
        }
        krmetrics_free(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fresh),
                cmocka_unit_test(test_labels_bounded),
                cmocka_unit_test(test_runs),
                cmocka_unit_test(test_emergency_and_volume),
                cmocka_unit_test(test_policy),
                cmocka_unit_test(test_alloc_failures),
                cmocka_unit_test(test_promtool_check_metrics),
                cmocka_unit_test(test_documented),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
