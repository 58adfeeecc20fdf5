/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics server's request paths: the input is a request head (request line and headers),
 * split the way libmicrohttpd hands it to the handler (method, path without the query string,
 * percent-decoded; Content-Length and Transfer-Encoding), then routed by httpd_route_headers()
 * and httpd_route() against a real registry and health state. Checks what every answer must be.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "httpd/httpd.h"
#include "metrics/metrics.h"

#define BODY_MAX 8192

static struct metrics_registry *registry;
static struct httpd_health *health;
static int64_t now_ms;

static int64_t fake_clock(void *userdata)
{
        (void)userdata;
        return now_ms;
}

static void check(bool ok)
{
        if (!ok)
                abort();
}

static void setup(void)
{
        static const double buckets[] = { 0.1, 1, 10 };
        struct metrics_desc runs = { .name = "kr_runs_total",
                                     .help = "Runs \\ by \"result\"\nof the loop.",
                                     .labels = { "result" },
                                     .type = METRICS_COUNTER,
                                     .max_series = 4 };
        struct metrics_desc took = { .name = "kr_run_seconds",
                                     .help = "Run time.",
                                     .buckets = buckets,
                                     .n_buckets = 3,
                                     .type = METRICS_HISTOGRAM,
                                     .max_series = 1 };
        struct metrics_family *f = NULL;
        struct metrics_series *s = NULL;

        check(metrics_registry_new(4, &registry, NULL) == 0);
        check(metrics_family_add(registry, &runs, &f, NULL) == 0);
        check(metrics_series_get(f, (const char *[]){ "Succeeded" }, &s, NULL) == 0);
        metrics_counter_add(s, 3);
        check(metrics_family_add(registry, &took, &f, NULL) == 0);
        metrics_histogram_observe(metrics_family_series(f), 0.5);
        check(httpd_health_new(60000, fake_clock, NULL, &health, NULL) == 0);
}

static int hex(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* %XX decoding in place, as libmicrohttpd does to the path (an invalid escape stays). */
static void unescape(char *s)
{
        char *out = s;

        for (; *s; s++) {
                if (s[0] == '%' && hex(s[1]) >= 0 && hex(s[2]) >= 0) {
                        *out++ = (char)(hex(s[1]) * 16 + hex(s[2]));
                        s += 2;
                } else {
                        *out++ = *s;
                }
        }
        *out = '\0';
}

/* A header line's value, trimmed, when the line is "name: value"; else NULL. */
static const char *value_of(char *line, const char *name)
{
        size_t n = strlen(name);
        char *v;
        char *end;

        if (strncasecmp(line, name, n) != 0 || line[n] != ':')
                return NULL;
        v = line + n + 1;
        end = v + strlen(v);
        while (*v == ' ' || *v == '\t')
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                *--end = '\0';
        return v;
}

/* The two headers the router looks at, from the header lines at 'p' (cut in place). */
static void headers(char *p, struct httpd_request *req)
{
        while (p && *p) {
                char *next = strchr(p, '\n');
                const char *v;

                if (next)
                        *next++ = '\0';
                v = value_of(p, "Content-Length");
                if (v)
                        req->content_length = v;
                v = value_of(p, "Transfer-Encoding");
                if (v)
                        req->transfer_encoding = v;
                p = next;
        }
}

static void check_answer(const struct httpd_answer *a, const char *scratch, const char *body)
{
        check(a->content_type != NULL && a->body != NULL);
        switch (a->code) {
        case 200:
                check(a->handler != HTTPD_HANDLER_OTHER);
                break;
        case 500:
                check(a->handler == HTTPD_HANDLER_METRICS);
                break;
        case 503:
                check(a->handler == HTTPD_HANDLER_HEALTHZ || a->handler == HTTPD_HANDLER_READYZ);
                break;
        case 404:
        case 405:
        case 413:
                check(a->handler == HTTPD_HANDLER_OTHER);
                break;
        default:
                abort();
        }
        check(a->allow == (a->code == 405));
        if (a->body == body) {
                check(a->len <= BODY_MAX && a->len > 0 && a->body[a->len - 1] == '\n');
        } else {
                check(a->len == strlen(a->body) && a->len < HTTPD_MESSAGE_MAX);
                check(a->body == scratch || a->len < 64); /* else a constant */
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char body[BODY_MAX];
        char scratch[HTTPD_MESSAGE_MAX];
        struct httpd_routes routes = { 0 };
        struct httpd_request req = { 0 };
        struct httpd_answer a;
        char *text;
        char *sp;
        char *target;
        char *eol;

        if (size > HTTPD_REQUEST_MAX_DEFAULT)
                return 0; /* libmicrohttpd answers 414 or 431 before any handler */
        if (!registry)
                setup();
        text = fuzz_cstr(data, size);
        if (!text)
                return 0;
        /* The request line: METHOD SP target SP version; libmicrohttpd answers 400 otherwise. */
        eol = strchr(text, '\n');
        if (eol)
                *eol++ = '\0';
        sp = strchr(text, ' ');
        if (!sp || sp == text)
                goto out;
        *sp = '\0';
        target = sp + 1;
        sp = strchr(target, ' ');
        if (sp)
                *sp = '\0';
        target[strcspn(target, "?\r")] = '\0'; /* the query goes to the arguments */
        unescape(target);
        req.method = text;
        req.url = target;
        headers(eol, &req);
        /* Both pieces of the request state come from the input's size: every branch is met. */
        httpd_health_set_ready(health, size % 2 == 0, size % 3 == 0 ? "" : "database not open");
        now_ms = (int64_t)(size % 5) * 30000;
        routes.registry = size % 7 != 0 ? registry : NULL;
        routes.health = size % 11 != 0 ? health : NULL;
        routes.body = body;
        routes.body_max = size % 13 == 0 ? 64 : sizeof(body); /* 64: the scrape does not fit */
        if (httpd_route_headers(&req, &a)) {
                check_answer(&a, scratch, body);
                check(a.code == 405 || a.code == 413);
                check(a.code != 405 ||
                      (strcmp(req.method, "GET") != 0 && strcmp(req.method, "HEAD") != 0));
                goto out;
        }
        check(strcmp(req.method, "GET") == 0 || strcmp(req.method, "HEAD") == 0);
        httpd_route(&routes, &req, scratch, &a);
        check_answer(&a, scratch, body);
        if (a.code == 404)
                check(!routes.registry || strcmp(req.url, "/metrics") != 0);
        if (a.code == 200 && a.handler == HTTPD_HANDLER_METRICS)
                check(strncmp(a.body, "# HELP kr_runs_total ", 21) == 0);
out:
        free(text);
        return 0;
}
