/* SPDX-License-Identifier: Apache-2.0 */
#ifndef HTTPD_HTTPD_H
#define HTTPD_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct errbuf;
struct metrics_family;
struct metrics_registry;

/*
 * The embedded HTTP server (libmicrohttpd) for Prometheus scrapes and kubelet probes:
 *   GET /metrics   the registry in the text exposition format 0.0.4
 *   GET /healthz   liveness: 200 while the main loop's heartbeat is fresh, else 503 and its age
 *   GET /readyz    readiness: 200 when the controller says ready, else 503 and its reason
 * HEAD is answered like GET without the body; other methods get 405, other paths 404.
 *
 * Threads: each server runs one libmicrohttpd polling thread (epoll) that accepts, reads and
 * answers every connection; handlers never block. They read the registry (atomics, see
 * metrics/metrics.h) and the health state (atomics and a sequence-locked reason string), so
 * a scrape or probe never waits for the controller loop, and the loop never waits for them.
 *
 * Limits: a total connection limit (further connections wait in the listen backlog), a
 * per-address limit (further connections from the same address are closed at once), an idle
 * timeout, and a per-connection memory limit that bounds the request line and headers
 * (larger requests are refused with 431 or 414). Bodies are never read.
 */

/*
 * Default addresses. The kagent controller in the same pod listens on 8083 (HTTP API), 8084
 * (gRPC, kagent main), 8082 (health probes), 6060 (pprof) and, when its metrics are enabled,
 * 8080 or 8443; controller-runtime's own defaults are 8080 and 8081. 9464 and 9465 collide
 * with none of them.
 */
#define HTTPD_METRICS_ADDRESS_DEFAULT ":9464"
#define HTTPD_HEALTH_ADDRESS_DEFAULT  ":9465"

#define HTTPD_CONNECTIONS_DEFAULT 32        /* Prometheus, kubelet and a human or two */
#define HTTPD_PER_IP_DEFAULT      16        /* a misbehaving client cannot take every slot */
#define HTTPD_TIMEOUT_S_DEFAULT   10        /* idle connections closed after this */
#define HTTPD_REQUEST_MAX_DEFAULT 8192      /* request line + headers (and response headers) */
#define HTTPD_BODY_MAX_DEFAULT    (1 << 20) /* largest /metrics response */
#define HTTPD_REASON_MAX          256       /* readiness reason, bytes */
#define HTTPD_ADDRESS_TEXT_MAX    64

/* A parsed bind address. */
struct httpd_addr {
        bool enabled;         /* false for "0": the server is off */
        int family;           /* AF_INET, AF_INET6, or AF_UNSPEC for every interface */
        unsigned char ip[16]; /* network order: 4 bytes for AF_INET, 16 for AF_INET6 */
        uint16_t port;        /* 0: an ephemeral port (tests) */
};

/*
 * Parse a bind address the way controller-runtime's --metrics-bind-address and
 * --health-probe-bind-address read: ":9464" (every interface, IPv6 and IPv4 when the node
 * has IPv6), "127.0.0.1:9464", "[::1]:9464", "localhost:9464", or "0" (off). Host names other
 * than localhost are refused (no DNS at start-up). Returns 0 and fills '*out', or -EINVAL.
 */
int httpd_addr_parse(const char *s, struct httpd_addr *out, struct errbuf *err);

/* Write 'a' as text ("[::]:9464", "127.0.0.1:0", "off") into out[size]. Returns 'out'. */
const char *httpd_addr_format(const struct httpd_addr *a, char *out, size_t size);

/* True when both addresses name the same socket (one server can then serve both roles). */
bool httpd_addr_equal(const struct httpd_addr *a, const struct httpd_addr *b);

/* A monotonic clock in milliseconds (tests inject one). */
typedef int64_t httpd_clock_fn(void *userdata);

struct httpd_health;

/*
 * Create the liveness and readiness state that /healthz and /readyz report. Live while the
 * last heartbeat is at most 'max_age_ms' old (creation counts as a heartbeat); not ready, with
 * reason "starting", until httpd_health_set_ready(). 'clock' may be NULL (CLOCK_MONOTONIC).
 * Returns 0 and the state in '*out' (free with httpd_health_free()), -EINVAL or -ENOMEM.
 */
int httpd_health_new(int64_t max_age_ms, httpd_clock_fn *clock, void *clock_userdata,
                     struct httpd_health **out, struct errbuf *err);
/* Free the state. Accepts NULL. Only after every server using it has stopped. */
void httpd_health_free(struct httpd_health *h);

/* The main loop is turning. Lock-free; any thread. */
void httpd_health_beat(struct httpd_health *h);

/*
 * Set readiness and its reason (shown by /readyz with a 503 when not ready, e.g.
 * "database not open", or with the 200 as detail, e.g. "monitor-only: no policy"). 'reason'
 * (borrowed; may be NULL) is cut at HTTPD_REASON_MAX - 1 bytes. Never waits for readers;
 * writers are serialised by a mutex that readers never take.
 */
void httpd_health_set_ready(struct httpd_health *h, bool ready, const char *reason);

/* What /healthz reports: true when live; the heartbeat's age in '*out_age_ms' (may be NULL). */
bool httpd_health_is_live(const struct httpd_health *h, int64_t *out_age_ms);
/* What /readyz reports: true when ready; the reason is copied into reason[size] (may be NULL). */
bool httpd_health_is_ready(const struct httpd_health *h, char *reason, size_t size);

/*
 * Request routing, without sockets: what a server answers, decided from the method, the path and
 * the body headers. The server's libmicrohttpd handler calls these; the fuzz target does too.
 */
enum httpd_handler {
        HTTPD_HANDLER_METRICS = 0,
        HTTPD_HANDLER_HEALTHZ,
        HTTPD_HANDLER_READYZ,
        HTTPD_HANDLER_OTHER,
};

#define HTTPD_MESSAGE_MAX 512 /* room for a text answer (httpd_route()'s 'scratch') */

struct httpd_request {
        const char *method;            /* "GET", "HEAD", ... */
        const char *url;               /* the path as libmicrohttpd hands it: no query string */
        const char *content_length;    /* the header's value, or NULL when absent */
        const char *transfer_encoding; /* the header's value, or NULL when absent */
};

struct httpd_answer {
        enum httpd_handler handler; /* for the request counter */
        unsigned code;              /* HTTP status */
        const char *content_type;
        const char *body; /* borrowed: a constant, 'scratch' or the routes' exposition buffer */
        size_t len;
        bool allow; /* a 405: add "Allow: GET, HEAD" */
};

/* What a server serves. 'body' holds the /metrics exposition; the routes do not own anything. */
struct httpd_routes {
        const struct metrics_registry *registry; /* NULL: /metrics is 404 */
        const struct httpd_health *health;       /* NULL: /healthz and /readyz are 404 */
        char *body;                              /* body_max bytes when registry is set */
        size_t body_max;
};

/*
 * The answer once the headers are in: true with '*out' filled when the request is refused
 * before its body (another method than GET or HEAD: 405; a body announced: 413), false when it
 * goes on to httpd_route(). Pure.
 */
bool httpd_route_headers(const struct httpd_request *req, struct httpd_answer *out);

/*
 * The answer to an accepted request (404 for an unknown path). Text answers are written into
 * scratch[HTTPD_MESSAGE_MAX]; a scrape into r->body. Reads the registry and health state
 * (lock-free); one caller at a time per 'r' and 'scratch'.
 */
void httpd_route(const struct httpd_routes *r, const struct httpd_request *req, char *scratch,
                 struct httpd_answer *out);

struct httpd_config {
        struct httpd_addr addr;
        const struct metrics_registry *registry; /* serve /metrics; NULL: 404 (borrowed) */
        const struct httpd_health *health;       /* serve /healthz, /readyz; NULL: 404 */
        struct metrics_family *requests;         /* optional: counts requests (labels handler,
                                                    code; 9 series are created at start) */
        unsigned connection_limit;               /* 0: HTTPD_CONNECTIONS_DEFAULT */
        unsigned per_ip_limit;                   /* 0: HTTPD_PER_IP_DEFAULT */
        unsigned timeout_s;                      /* 0: HTTPD_TIMEOUT_S_DEFAULT */
        size_t request_max_bytes;                /* 0: HTTPD_REQUEST_MAX_DEFAULT */
        size_t body_max_bytes;                   /* 0: HTTPD_BODY_MAX_DEFAULT */
};

struct httpd;

/*
 * Bind, listen and start serving on the server's own thread. The registry, health state and
 * requests family must outlive the server. Returns 0 and the server in '*out' (stop it with
 * httpd_stop()), -EINVAL for a disabled address or bad limits, the bind error (-EADDRINUSE,
 * -EACCES, -EADDRNOTAVAIL), -ENOMEM, or -EIO when libmicrohttpd does not start.
 */
int httpd_start(const struct httpd_config *cfg, struct httpd **out, struct errbuf *err);

/* Stop serving: close the listening socket and every connection, join the thread, free. NULL ok. */
void httpd_stop(struct httpd *h);

/* The bound port (the ephemeral one when the address asked for port 0). */
uint16_t httpd_port(const struct httpd *h);

#endif
