/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of pkg/httpd: bind address parsing, the health state, and a real server on an
 * ephemeral loopback port driven by a raw socket client (status codes, content types, 404/405,
 * HEAD, oversize requests, connection and per-address limits, idle timeout, bind errors).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/errbuf.h"
#include "failalloc.h"
#include "httpc.h"
#include "httpd/httpd.h"
#include "metrics/metrics.h"

#define TIMEOUT_MS 5000

static void expect_addr(const char *in, const char *formatted)
{
        struct httpd_addr a;
        char text[HTTPD_ADDRESS_TEXT_MAX];
        struct errbuf err;

        errbuf_clear(&err);
        if (httpd_addr_parse(in, &a, &err) < 0)
                fail_msg("'%s': %s", in, err.msg);
        assert_string_equal(httpd_addr_format(&a, text, sizeof(text)), formatted);
}

static void expect_bad_addr(const char *in)
{
        struct httpd_addr a = { .enabled = true, .port = 7 };
        struct errbuf err;

        errbuf_clear(&err);
        assert_int_equal(httpd_addr_parse(in, &a, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "bind address"));
        assert_true(a.enabled && a.port == 7); /* untouched */
}

static void test_addr_parse(void **state)
{
        struct httpd_addr a;
        struct httpd_addr b;

        (void)state;
        expect_addr(":9464", ":9464");
        expect_addr("0", "off");
        expect_addr(":0", ":0");
        expect_addr("127.0.0.1:9464", "127.0.0.1:9464");
        expect_addr("0.0.0.0:8080", "0.0.0.0:8080");
        expect_addr("localhost:9465", "127.0.0.1:9465");
        expect_addr("[::1]:9464", "[::1]:9464");
        expect_addr("[::]:65535", "[::]:65535");
        expect_bad_addr("");
        expect_bad_addr("9464");
        expect_bad_addr(":");
        expect_bad_addr(":65536");
        expect_bad_addr(":-1");
        expect_bad_addr(":94a");
        expect_bad_addr("::1:9464");
        expect_bad_addr("[::1]9464");
        expect_bad_addr("[127.0.0.1]:9464");
        expect_bad_addr("[]:9464");
        expect_bad_addr("example.com:9464");
        expect_bad_addr("256.0.0.1:9464");
        assert_int_equal(httpd_addr_parse(NULL, &a, NULL), -EINVAL);

        assert_int_equal(httpd_addr_parse(":9464", &a, NULL), 0);
        assert_int_equal(httpd_addr_parse(":9464", &b, NULL), 0);
        assert_true(httpd_addr_equal(&a, &b));
        assert_int_equal(httpd_addr_parse(":9465", &b, NULL), 0);
        assert_false(httpd_addr_equal(&a, &b));
        assert_int_equal(httpd_addr_parse("127.0.0.1:9464", &b, NULL), 0);
        assert_false(httpd_addr_equal(&a, &b));
        assert_int_equal(httpd_addr_parse("0", &a, NULL), 0);
        assert_int_equal(httpd_addr_parse("0", &b, NULL), 0);
        assert_true(httpd_addr_equal(&a, &b));
}

/* The injected clock. */
static _Atomic int64_t fake_now_ms;

static int64_t fake_clock(void *userdata)
{
        (void)userdata;
        return atomic_load(&fake_now_ms);
}

/* The health state's constructor under allocation failure (tests/unit/common/failalloc.h). */
static int health_new_call(void *userdata)
{
        struct httpd_health **h = userdata;
        struct errbuf err;

        *h = NULL;
        errbuf_clear(&err);
        return httpd_health_new(5000, fake_clock, NULL, h, &err);
}

static void health_new_check(int rc, bool injected, void *userdata)
{
        struct httpd_health **h = userdata;

        if (injected) {
                assert_int_equal(rc, -ENOMEM);
                assert_null(*h);
                return;
        }
        assert_int_equal(rc, 0);
        assert_false(httpd_health_is_ready(*h, NULL, 0));
        httpd_health_free(*h);
}

static void test_health_alloc_failures(void **state)
{
        struct httpd_health *h;

        (void)state;
        assert_true(failalloc_each(health_new_call, health_new_check, &h) >= 1);
}

static void test_health_state(void **state)
{
        struct httpd_health *h = NULL;
        char reason[HTTPD_REASON_MAX];
        char long_reason[2 * HTTPD_REASON_MAX];
        int64_t age = -1;

        (void)state;
        assert_int_equal(httpd_health_new(0, fake_clock, NULL, &h, NULL), -EINVAL);
        assert_null(h);
        atomic_store(&fake_now_ms, 1000);
        assert_int_equal(httpd_health_new(30000, fake_clock, NULL, &h, NULL), 0);
        assert_true(httpd_health_is_live(h, &age));
        assert_int_equal(age, 0);
        atomic_store(&fake_now_ms, 31000);
        assert_true(httpd_health_is_live(h, &age)); /* exactly at the bound: still live */
        atomic_store(&fake_now_ms, 31001);
        assert_false(httpd_health_is_live(h, &age));
        assert_int_equal(age, 30001);
        httpd_health_beat(h);
        assert_true(httpd_health_is_live(h, NULL));

        assert_false(httpd_health_is_ready(h, reason, sizeof(reason)));
        assert_string_equal(reason, "starting");
        httpd_health_set_ready(h, true, NULL);
        assert_true(httpd_health_is_ready(h, reason, sizeof(reason)));
        assert_string_equal(reason, "");
        httpd_health_set_ready(h, false, "database not open");
        assert_false(httpd_health_is_ready(h, reason, sizeof(reason)));
        assert_string_equal(reason, "database not open");
        memset(long_reason, 'r', sizeof(long_reason) - 1);
        long_reason[sizeof(long_reason) - 1] = '\0';
        httpd_health_set_ready(h, true, long_reason);
        assert_true(httpd_health_is_ready(h, reason, sizeof(reason)));
        assert_int_equal(strlen(reason), HTTPD_REASON_MAX - 2);
        httpd_health_free(h);
        httpd_health_free(NULL);
}

/* A server on an ephemeral loopback port with a small registry and the fake clock. */
struct fixture {
        struct metrics_registry *registry;
        struct metrics_family *requests;
        struct httpd_health *health;
        struct httpd *server;
        uint16_t port;
        char resp[1 << 17];
        size_t len;
};

static void start(struct fixture *f, const struct httpd_config *base)
{
        struct httpd_config cfg = *base;
        struct errbuf err;

        errbuf_clear(&err);
        assert_int_equal(httpd_addr_parse("127.0.0.1:0", &cfg.addr, NULL), 0);
        if (httpd_start(&cfg, &f->server, &err) < 0)
                fail_msg("httpd_start: %s", err.msg);
        f->port = httpd_port(f->server);
        assert_true(f->port != 0);
}

static int fixture_setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(metrics_registry_new(4, &f->registry, NULL), 0);
        assert_int_equal(metrics_family_add(f->registry,
                                            &(struct metrics_desc){ .name = "x_up",
                                                                    .help = "Up.",
                                                                    .type = METRICS_GAUGE,
                                                                    .max_series = 1 },
                                            NULL, NULL),
                         0);
        assert_int_equal(metrics_family_add(f->registry,
                                            &(struct metrics_desc){ .name = "x_http_requests_total",
                                                                    .help = "Requests.",
                                                                    .type = METRICS_COUNTER,
                                                                    .labels = { "handler", "code" },
                                                                    .max_series = 9 },
                                            &f->requests, NULL),
                         0);
        atomic_store(&fake_now_ms, 1000);
        assert_int_equal(httpd_health_new(60000, fake_clock, NULL, &f->health, NULL), 0);
        *state = f;
        return 0;
}

static int fixture_teardown(void **state)
{
        struct fixture *f = *state;

        httpd_stop(f->server);
        httpd_health_free(f->health);
        metrics_registry_free(f->registry);
        free(f);
        return 0;
}

static int get(struct fixture *f, const char *method, const char *path)
{
        return httpc_request(f->port, method, path, f->resp, sizeof(f->resp), &f->len, TIMEOUT_MS);
}

static const char *header(struct fixture *f, const char *name)
{
        static char value[256];

        return httpc_header(f->resp, name, value, sizeof(value));
}

/* A GET that carries a body is refused rather than read. */
static int send_with_body(struct fixture *f)
{
        static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                  "Connection: close\r\n\r\nhello";
        int fd = httpc_connect(f->port, TIMEOUT_MS);
        int rc;

        assert_true(fd >= 0);
        rc = httpc_send(fd, req, sizeof(req) - 1);
        if (rc == 0)
                rc = httpc_read(fd, f->resp, sizeof(f->resp), &f->len, TIMEOUT_MS);
        (void)close(fd);
        return rc;
}

static void test_endpoints(void **state)
{
        struct fixture *f = *state;

        start(f, &(struct httpd_config){
                         .registry = f->registry, .health = f->health, .requests = f->requests });

        assert_int_equal(get(f, "GET", "/metrics"), 200);
        assert_string_equal(header(f, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
        assert_non_null(
                strstr(httpc_body(f->resp), "# HELP x_up Up.\n# TYPE x_up gauge\nx_up 0\n"));
        /* The request counter's series exist from the start; this request is counted after. */
        assert_non_null(strstr(httpc_body(f->resp),
                               "x_http_requests_total{handler=\"metrics\",code=\"200\"} 0\n"));

        assert_int_equal(get(f, "HEAD", "/metrics"), 200);
        assert_string_equal(httpc_body(f->resp), "");
        assert_non_null(header(f, "Content-Length"));

        assert_int_equal(get(f, "GET", "/healthz"), 200);
        assert_string_equal(httpc_body(f->resp), "ok\n");
        assert_string_equal(header(f, "Content-Type"), "text/plain; charset=utf-8");
        atomic_store(&fake_now_ms, 1000 + 93200);
        assert_int_equal(get(f, "GET", "/healthz"), 503);
        assert_string_equal(httpc_body(f->resp),
                            "main loop stalled: last heartbeat 93.2s ago (limit 60.0s)\n");
        httpd_health_beat(f->health);
        assert_int_equal(get(f, "GET", "/healthz"), 200);

        assert_int_equal(get(f, "GET", "/readyz"), 503);
        assert_string_equal(httpc_body(f->resp), "not ready: starting\n");
        httpd_health_set_ready(f->health, true, "monitor-only: no policy");
        assert_int_equal(get(f, "GET", "/readyz"), 200);
        assert_string_equal(httpc_body(f->resp), "ok: monitor-only: no policy\n");
        httpd_health_set_ready(f->health, true, "");
        assert_int_equal(get(f, "GET", "/readyz"), 200);
        assert_string_equal(httpc_body(f->resp), "ok\n");

        assert_int_equal(get(f, "GET", "/"), 404);
        assert_int_equal(get(f, "GET", "/metrics/"), 404);
        assert_int_equal(get(f, "GET", "/metrics?x=1"), 200); /* the query is not the path */
        assert_int_equal(get(f, "POST", "/metrics"), 405);
        assert_string_equal(header(f, "Allow"), "GET, HEAD");
        assert_int_equal(get(f, "DELETE", "/healthz"), 405);
        assert_int_equal(send_with_body(f), 413);

        assert_int_equal(get(f, "GET", "/metrics"), 200);
        assert_non_null(strstr(httpc_body(f->resp),
                               "x_http_requests_total{handler=\"metrics\",code=\"200\"} 3\n"
                               "x_http_requests_total{handler=\"metrics\",code=\"500\"} 0\n"
                               "x_http_requests_total{handler=\"healthz\",code=\"200\"} 2\n"
                               "x_http_requests_total{handler=\"healthz\",code=\"503\"} 1\n"
                               "x_http_requests_total{handler=\"readyz\",code=\"200\"} 2\n"
                               "x_http_requests_total{handler=\"readyz\",code=\"503\"} 1\n"
                               "x_http_requests_total{handler=\"other\",code=\"404\"} 2\n"
                               "x_http_requests_total{handler=\"other\",code=\"405\"} 2\n"
                               "x_http_requests_total{handler=\"other\",code=\"413\"} 1\n"));
}

/* A server with only one role answers 404 for the other's paths. */
static void test_roles(void **state)
{
        struct fixture *f = *state;

        start(f, &(struct httpd_config){ .health = f->health });
        assert_int_equal(get(f, "GET", "/metrics"), 404);
        assert_int_equal(get(f, "GET", "/healthz"), 200);
        httpd_stop(f->server);
        f->server = NULL;
        start(f, &(struct httpd_config){ .registry = f->registry });
        assert_int_equal(get(f, "GET", "/metrics"), 200);
        assert_int_equal(get(f, "GET", "/readyz"), 404);
}

/* Request headers beyond the per-connection memory limit are refused, never served. */
static void test_oversize_request(void **state)
{
        struct fixture *f = *state;
        size_t big = 16384;
        char *req = malloc(big + 256);
        int fd;
        int n;
        int status;

        assert_non_null(req);
        start(f, &(struct httpd_config){ .registry = f->registry, .request_max_bytes = 4096 });
        n = snprintf(req, big + 256, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ");
        memset(req + n, 'a', big);
        memcpy(req + n + big, "\r\n\r\n", 5);
        fd = httpc_connect(f->port, TIMEOUT_MS);
        assert_true(fd >= 0);
        (void)httpc_send(fd, req, strlen(req)); /* the server may close before reading it all */
        status = httpc_read(fd, f->resp, sizeof(f->resp), &f->len, TIMEOUT_MS);
        (void)close(fd);
        free(req);
        assert_int_equal(status, 431);
        /* A long URI is refused as well. */
        req = malloc(8192);
        assert_non_null(req);
        memcpy(req, "/", 2);
        memset(req + 1, 'm', 8000);
        req[8001] = '\0';
        status = get(f, "GET", req);
        free(req);
        assert_int_equal(status, 414);
        /* The server still answers normal requests. */
        assert_int_equal(get(f, "GET", "/metrics"), 200);
}

static int keepalive_get(int fd, struct fixture *f)
{
        static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        int rc = httpc_send(fd, req, sizeof(req) - 1);

        return rc < 0 ? rc : httpc_read(fd, f->resp, sizeof(f->resp), &f->len, TIMEOUT_MS);
}

/* At the connection limit further connections wait in the backlog until a slot frees. */
static void test_connection_limit(void **state)
{
        static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        struct fixture *f = *state;
        int fds[2];
        int extra;

        start(f, &(struct httpd_config){
                         .registry = f->registry, .connection_limit = 2, .per_ip_limit = 8 });
        for (int i = 0; i < 2; i++) {
                fds[i] = httpc_connect(f->port, TIMEOUT_MS);
                assert_true(fds[i] >= 0);
                assert_int_equal(keepalive_get(fds[i], f), 200); /* accepted and kept alive */
        }
        extra = httpc_connect(f->port, TIMEOUT_MS); /* the kernel's backlog takes it */
        assert_true(extra >= 0);
        assert_int_equal(httpc_send(extra, req, sizeof(req) - 1), 0);
        assert_int_equal(httpc_read(extra, f->resp, sizeof(f->resp), &f->len, 300), -ETIMEDOUT);
        (void)close(fds[0]);
        assert_int_equal(httpc_read(extra, f->resp, sizeof(f->resp), &f->len, TIMEOUT_MS), 200);
        (void)close(extra);
        (void)close(fds[1]);
}

/* Past the per-address limit a connection is closed at once, without an answer. */
static void test_per_ip_limit(void **state)
{
        struct fixture *f = *state;
        int first;
        int second;
        int status;

        start(f, &(struct httpd_config){
                         .registry = f->registry, .connection_limit = 8, .per_ip_limit = 1 });
        first = httpc_connect(f->port, TIMEOUT_MS);
        assert_true(first >= 0);
        assert_int_equal(keepalive_get(first, f), 200);
        second = httpc_connect(f->port, TIMEOUT_MS);
        assert_true(second >= 0);
        status = keepalive_get(second, f);
        assert_true(status == 0 || status == -ECONNRESET || status == -EPIPE);
        (void)close(second);
        (void)close(first);
}

/* An idle connection is closed after the timeout (1 s here: the one real wait of the suite). */
static void test_idle_timeout(void **state)
{
        struct fixture *f = *state;
        int fd;

        start(f, &(struct httpd_config){ .registry = f->registry, .timeout_s = 1 });
        fd = httpc_connect(f->port, TIMEOUT_MS);
        assert_true(fd >= 0);
        assert_int_equal(httpc_read(fd, f->resp, sizeof(f->resp), &f->len, 4000), 0);
        (void)close(fd);
}

static void test_start_errors(void **state)
{
        struct fixture *f = *state;
        struct httpd_config cfg = { .registry = f->registry };
        struct httpd *h = (struct httpd *)&h;
        struct httpd *const before = h;
        char text[32];
        struct errbuf err;

        errbuf_clear(&err);
        assert_int_equal(httpd_addr_parse("0", &cfg.addr, NULL), 0);
        assert_int_equal(httpd_start(&cfg, &h, &err), -EINVAL);
        assert_ptr_equal(h, before);

        start(f, &(struct httpd_config){ .registry = f->registry });
        (void)snprintf(text, sizeof(text), "127.0.0.1:%u", (unsigned)f->port);
        assert_int_equal(httpd_addr_parse(text, &cfg.addr, NULL), 0);
        errbuf_clear(&err);
        assert_int_equal(httpd_start(&cfg, &h, &err), -EADDRINUSE);
        assert_non_null(strstr(err.msg, text));
        assert_ptr_equal(h, before);

        assert_int_equal(httpd_addr_parse("127.0.0.1:0", &cfg.addr, NULL), 0);
        cfg.body_max_bytes = 100;
        assert_int_equal(httpd_start(&cfg, &h, &err), -EINVAL);
        assert_ptr_equal(h, before);
}

/* An exposition larger than the body limit is a 500 with the reason, not a cut body. */
static void test_body_limit(void **state)
{
        struct fixture *f = *state;
        struct metrics_family *big = NULL;
        struct metrics_series *s = NULL;
        char name[32];

        assert_int_equal(metrics_family_add(f->registry,
                                            &(struct metrics_desc){ .name = "x_big",
                                                                    .help = "Big.",
                                                                    .type = METRICS_GAUGE,
                                                                    .labels = { "n" },
                                                                    .max_series = 400 },
                                            &big, NULL),
                         0);
        for (int i = 0; i < 400; i++) {
                (void)snprintf(name, sizeof(name), "series-%d", i);
                assert_int_equal(metrics_series_get(big, (const char *[]){ name }, &s, NULL), 0);
        }
        start(f, &(struct httpd_config){ .registry = f->registry, .body_max_bytes = 4096 });
        assert_int_equal(get(f, "GET", "/metrics"), 500);
        assert_string_equal(httpc_body(f->resp), "metrics exposition exceeds 4096 bytes\n");
}

/* The wildcard address listens on IPv4 loopback too (dual stack, or IPv4 alone). */
static void test_wildcard(void **state)
{
        struct fixture *f = *state;
        struct httpd_config cfg = { .health = f->health };

        assert_int_equal(httpd_addr_parse(":0", &cfg.addr, NULL), 0);
        assert_int_equal(httpd_start(&cfg, &f->server, NULL), 0);
        f->port = httpd_port(f->server);
        assert_int_equal(get(f, "GET", "/healthz"), 200);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_addr_parse),
                cmocka_unit_test(test_health_state),
                cmocka_unit_test(test_health_alloc_failures),
                cmocka_unit_test_setup_teardown(test_endpoints, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_roles, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_oversize_request, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_connection_limit, fixture_setup,
                                                fixture_teardown),
                cmocka_unit_test_setup_teardown(test_per_ip_limit, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_idle_timeout, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_start_errors, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_body_limit, fixture_setup, fixture_teardown),
                cmocka_unit_test_setup_teardown(test_wildcard, fixture_setup, fixture_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
