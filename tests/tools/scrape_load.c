/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scrape-load: scrapes an HTTP endpoint on loopback at a fixed rate from several threads for a
 * fixed time and reports how many scrapes were answered and their latency. The schedule is open
 * loop (scrape i is due at start + i / rate, whatever happened to earlier ones) and latency is
 * measured from the due time, so a slow server shows up as latency instead of a lower rate.
 * Without --target it serves a registry holding every kagent-retention metric itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/errbuf.h"
#include "base/str.h"
#include "httpc.h"
#include "httpd/httpd.h"
#include "krmetrics/krmetrics.h"
#include "krmetrics_fill.h"

#define RATE_MAX       10000
#define DURATION_S_MAX 600
#define WORKERS_MAX    256
#define SCRAPES_MAX    1000000 /* rate * duration: the latency array is preallocated */
#define TIMEOUT_MS     5000
#define RESPONSE_MAX   (4 << 20)

struct options {
        uint16_t port; /* 0: serve in-process */
        uint64_t rate;
        uint64_t duration_s;
        uint64_t workers;
        const char *path;
        bool keepalive;
};

struct run {
        const struct options *o;
        int64_t start_ns;
        uint64_t total;
        atomic_uint_fast64_t next;
        atomic_uint_fast64_t answered;
        atomic_uint_fast64_t failed;
        atomic_uint_fast64_t bytes;
        int64_t *latency_us; /* from due time to the end of the response; -1: failed */
        int64_t *service_us; /* from the request being sent to the end of the response */
};

static int64_t mono_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until_ns(int64_t t)
{
        struct timespec ts = { .tv_sec = t / 1000000000, .tv_nsec = t % 1000000000 };

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

/* One scrape on a kept-alive connection (*fd, reconnected when needed) or a fresh one. */
static int scrape(const struct run *r, int *fd, char *buf, size_t *len)
{
        char req[256];
        int n;
        int rc;

        if (!r->o->keepalive)
                return httpc_request(r->o->port, "GET", r->o->path, buf, RESPONSE_MAX, len,
                                     TIMEOUT_MS);
        n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", r->o->path);
        if (n < 0 || (size_t)n >= sizeof(req))
                return -EINVAL;
        if (*fd < 0)
                *fd = httpc_connect(r->o->port, TIMEOUT_MS);
        if (*fd < 0)
                return *fd;
        rc = httpc_send(*fd, req, (size_t)n);
        if (rc == 0)
                rc = httpc_read(*fd, buf, RESPONSE_MAX, len, TIMEOUT_MS);
        if (rc != 200) {
                (void)close(*fd);
                *fd = -1;
        }
        return rc;
}

static void *worker(void *arg)
{
        struct run *r = arg;
        char *buf = malloc(RESPONSE_MAX);
        int fd = -1;

        if (!buf)
                return NULL;
        for (;;) {
                uint64_t i = atomic_fetch_add(&r->next, 1);
                int64_t due;
                int64_t sent;
                size_t len = 0;
                int status;

                if (i >= r->total)
                        break;
                due = r->start_ns + (int64_t)(i * 1000000000ULL / r->o->rate);
                sleep_until_ns(due);
                sent = mono_ns();
                status = scrape(r, &fd, buf, &len);
                if (status == 200) {
                        int64_t end = mono_ns();

                        r->latency_us[i] = (end - due) / 1000;
                        r->service_us[i] = (end - sent) / 1000;
                        atomic_fetch_add(&r->answered, 1);
                        atomic_fetch_add(&r->bytes, len);
                } else {
                        r->latency_us[i] = -1;
                        r->service_us[i] = -1;
                        atomic_fetch_add(&r->failed, 1);
                }
        }
        if (fd >= 0)
                (void)close(fd);
        free(buf);
        return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a;
        int64_t y = *(const int64_t *)b;

        return (x > y) - (x < y);
}

/* Nearest-rank percentile of the answered scrapes (failed ones, -1, sort first). */
static double percentile_ms(const int64_t *sorted, uint64_t n, uint64_t failed, double p)
{
        uint64_t answered = n - failed;
        uint64_t rank;

        if (answered == 0)
                return 0;
        rank = (uint64_t)(p / 100.0 * (double)answered + 0.999999);
        if (rank < 1)
                rank = 1;
        return (double)sorted[failed + rank - 1] / 1000.0;
}

static void report(struct run *r, double elapsed_s)
{
        uint64_t failed = atomic_load(&r->failed);
        uint64_t answered = atomic_load(&r->answered);

        qsort(r->latency_us, r->total, sizeof(r->latency_us[0]), cmp_i64);
        qsort(r->service_us, r->total, sizeof(r->service_us[0]), cmp_i64);
        (void)printf("scrape-load: %s on port %u: %" PRIu64 " scrapes at %" PRIu64 "/s over %.1f s "
                     "(%" PRIu64 " workers, %s)\n",
                     r->o->path, (unsigned)r->o->port, r->total, r->o->rate, elapsed_s,
                     r->o->workers, r->o->keepalive ? "keep-alive" : "a connection per scrape");
        (void)printf("scrape-load: answered %" PRIu64 ", failed %" PRIu64 ", %.1f KiB per answer\n",
                     answered, failed,
                     answered ? (double)atomic_load(&r->bytes) / (double)answered / 1024.0 : 0.0);
        (void)printf("scrape-load: latency from due time  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
                     percentile_ms(r->latency_us, r->total, failed, 50),
                     percentile_ms(r->latency_us, r->total, failed, 99),
                     percentile_ms(r->latency_us, r->total, failed, 100));
        (void)printf("scrape-load: service time           p50 %.2f ms  p99 %.2f ms  max %.2f ms\n",
                     percentile_ms(r->service_us, r->total, failed, 50),
                     percentile_ms(r->service_us, r->total, failed, 99),
                     percentile_ms(r->service_us, r->total, failed, 100));
}

static int parse_u64(const char *flag, const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
        uint64_t x;

        if (!v || str_to_u64(v, &x) < 0 || x < min || x > max) {
                (void)fprintf(stderr,
                              "scrape-load: %s needs a number from %" PRIu64 " to %" PRIu64 "\n",
                              flag, min, max);
                return -EINVAL;
        }
        *out = x;
        return 0;
}

/* --target accepts loopback only: this tool must never load someone else's server. */
static int parse_target(const char *v, uint16_t *out)
{
        struct httpd_addr a;
        bool loopback;

        if (!v || httpd_addr_parse(v, &a, NULL) < 0 || !a.enabled || a.port == 0)
                goto bad;
        loopback = a.family == AF_INET && a.ip[0] == 127;
        if (!loopback)
                goto bad;
        *out = a.port;
        return 0;
bad:
        (void)fprintf(stderr, "scrape-load: --target must be 127.x.x.x:PORT or localhost:PORT\n");
        return -EINVAL;
}

static int parse_args(int argc, char **argv, struct options *o)
{
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                int rc = 0;

                if (strcmp(a, "--keepalive") == 0) {
                        o->keepalive = true;
                        continue;
                }
                if (strcmp(a, "--target") == 0)
                        rc = parse_target(v, &o->port);
                else if (strcmp(a, "--rate") == 0)
                        rc = parse_u64(a, v, 1, RATE_MAX, &o->rate);
                else if (strcmp(a, "--duration") == 0)
                        rc = parse_u64(a, v, 1, DURATION_S_MAX, &o->duration_s);
                else if (strcmp(a, "--workers") == 0)
                        rc = parse_u64(a, v, 1, WORKERS_MAX, &o->workers);
                else if (strcmp(a, "--path") == 0 && v && v[0] == '/' && strlen(v) < 128)
                        o->path = v;
                else
                        rc = -EINVAL;
                if (rc < 0)
                        return rc;
                i++;
        }
        if (o->rate * o->duration_s > SCRAPES_MAX) {
                (void)fprintf(stderr, "scrape-load: rate x duration is limited to %d scrapes\n",
                              SCRAPES_MAX);
                return -EINVAL;
        }
        return 0;
}

static void usage(void)
{
        (void)fprintf(stderr,
                      "usage: scrape-load [--target 127.0.0.1:PORT] [--rate N] [--duration S] "
                      "[--workers N] [--path /metrics] [--keepalive]\n"
                      "  defaults: an in-process kagent-retention metrics server, 200 "
                      "scrapes/s, 30 s, 16 workers\n"
                      "  exit status 1 when any scrape was not answered with 200\n");
}

/* The in-process server: every kagent-retention metric, as the sidecar serves them. */
static int serve(struct krmetrics **out_m, struct httpd **out_h, uint16_t *out_port)
{
        struct httpd_config cfg = { 0 };
        struct errbuf err;
        int rc;

        errbuf_clear(&err);
        rc = krmetrics_new(KR_VERSION, 0, out_m, &err);
        if (rc < 0)
                goto fail;
        krmetrics_fill(*out_m);
        cfg.registry = krmetrics_registry(*out_m);
        cfg.requests = krmetrics_http_family(*out_m);
        cfg.connection_limit = 64;
        cfg.per_ip_limit = 64; /* every client here is 127.0.0.1 */
        (void)httpd_addr_parse("127.0.0.1:0", &cfg.addr, NULL);
        rc = httpd_start(&cfg, out_h, &err);
        if (rc < 0)
                goto fail;
        *out_port = httpd_port(*out_h);
        return 0;
fail:
        (void)fprintf(stderr, "scrape-load: %s\n", err.msg);
        return rc;
}

int main(int argc, char **argv)
{
        struct options o = { .rate = 200, .duration_s = 30, .workers = 16, .path = "/metrics" };
        struct run r = { .o = &o };
        pthread_t threads[WORKERS_MAX];
        struct krmetrics *m = NULL;
        struct httpd *server = NULL;
        uint64_t started = 0;
        int64_t end_ns;
        int rc = 1;

        if (parse_args(argc, argv, &o) < 0) {
                usage();
                return 2;
        }
        if (o.port == 0 && serve(&m, &server, &o.port) < 0)
                goto out;
        r.total = o.rate * o.duration_s;
        r.latency_us = calloc(r.total, sizeof(*r.latency_us));
        r.service_us = calloc(r.total, sizeof(*r.service_us));
        if (!r.latency_us || !r.service_us) {
                (void)fprintf(stderr, "scrape-load: out of memory\n");
                goto out;
        }
        r.start_ns = mono_ns() + 10000000; /* 10 ms for the threads to start */
        for (; started < o.workers; started++) {
                if (pthread_create(&threads[started], NULL, worker, &r) != 0) {
                        (void)fprintf(stderr, "scrape-load: cannot start a thread\n");
                        atomic_store(&r.next, r.total); /* the started ones stop at once */
                        break;
                }
        }
        for (uint64_t i = 0; i < started; i++)
                (void)pthread_join(threads[i], NULL);
        end_ns = mono_ns();
        if (started < o.workers)
                goto out;
        report(&r, (double)(end_ns - r.start_ns) / 1e9);
        rc = atomic_load(&r.failed) == 0 && atomic_load(&r.answered) == r.total ? 0 : 1;
out:
        httpd_stop(server);
        krmetrics_free(m);
        free(r.latency_us);
        free(r.service_us);
        return rc;
}
