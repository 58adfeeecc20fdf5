/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics and probe HTTP server: our own listening socket handed to one libmicrohttpd
 * epoll thread, three read-only handlers, and the liveness/readiness state they report.
 */
#include "httpd/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "base/seqstr.h"
#include "base/str.h"
#include "metrics/metrics.h"
#define LOG_MODULE "httpd"
#include "log/log.h"

#define LISTEN_BACKLOG       64
#define CONTENT_TYPE_TEXT    "text/plain; charset=utf-8"
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"

/* --- addresses --- */

static int parse_port(const char *s, uint16_t *out)
{
        uint64_t v;

        if (str_to_u64(s, &v) < 0 || v > 65535)
                return -EINVAL;
        *out = (uint16_t)v;
        return 0;
}

/* Split "host:port" / "[v6]:port" into host (copied into host[size]) and port text. */
static int split_host_port(const char *s, char *host, size_t size, const char **out_port)
{
        const char *colon;
        size_t n;

        if (s[0] == '[') {
                const char *end = strchr(s, ']');

                if (!end || end[1] != ':')
                        return -EINVAL;
                n = (size_t)(end - s - 1);
                if (n == 0 || n >= size)
                        return -EINVAL;
                memcpy(host, s + 1, n);
                host[n] = '\0';
                *out_port = end + 2;
                return 1; /* bracketed: must be IPv6 */
        }
        colon = strrchr(s, ':');
        if (!colon || memchr(s, ':', (size_t)(colon - s)))
                return -EINVAL; /* no port, or an unbracketed IPv6 address */
        n = (size_t)(colon - s);
        if (n >= size)
                return -EINVAL;
        memcpy(host, s, n);
        host[n] = '\0';
        *out_port = colon + 1;
        return 0;
}

int httpd_addr_parse(const char *s, struct httpd_addr *out, struct errbuf *err)
{
        struct httpd_addr a;
        char host[INET6_ADDRSTRLEN];
        const char *port = NULL;
        int bracketed;

        memset(&a, 0, sizeof(a));
        if (!s)
                return errbuf_set(err, -EINVAL, "bind address missing");
        if (strcmp(s, "0") == 0) {
                *out = a; /* off */
                return 0;
        }
        bracketed = split_host_port(s, host, sizeof(host), &port);
        if (bracketed < 0 || parse_port(port, &a.port) < 0)
                goto bad;
        a.enabled = true;
        if (host[0] == '\0' && !bracketed) {
                a.family = AF_UNSPEC;
        } else if (!bracketed && strcmp(host, "localhost") == 0) {
                a.family = AF_INET;
                a.ip[0] = 127;
                a.ip[3] = 1;
        } else if (!bracketed && inet_pton(AF_INET, host, a.ip) == 1) {
                a.family = AF_INET;
        } else if (bracketed && inet_pton(AF_INET6, host, a.ip) == 1) {
                a.family = AF_INET6;
        } else {
                goto bad;
        }
        *out = a;
        return 0;
bad:
        return errbuf_set(err, -EINVAL,
                          "bind address '%s': expected [host]:port with an IP address or "
                          "localhost, or 0 to disable",
                          s);
}

const char *httpd_addr_format(const struct httpd_addr *a, char *out, size_t size)
{
        char ip[INET6_ADDRSTRLEN];

        if (!a->enabled) {
                (void)snprintf(out, size, "off");
        } else if (a->family == AF_UNSPEC) {
                (void)snprintf(out, size, ":%u", (unsigned)a->port);
        } else if (a->family == AF_INET) {
                (void)inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
                (void)snprintf(out, size, "%s:%u", ip, (unsigned)a->port);
        } else {
                (void)inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
                (void)snprintf(out, size, "[%s]:%u", ip, (unsigned)a->port);
        }
        return out;
}

bool httpd_addr_equal(const struct httpd_addr *a, const struct httpd_addr *b)
{
        size_t n = a->family == AF_INET ? 4 : a->family == AF_INET6 ? 16 : 0;

        if (a->enabled != b->enabled)
                return false;
        if (!a->enabled)
                return true;
        return a->family == b->family && a->port == b->port && memcmp(a->ip, b->ip, n) == 0;
}

/* --- health state --- */

struct httpd_health {
        _Atomic int64_t beat_ms;
        int64_t max_age_ms;
        httpd_clock_fn *clock;
        void *clock_userdata;
        pthread_mutex_t writer; /* serialises set_ready() callers; readers never take it */
        struct seqstr state;    /* '1' or '0' (ready), then the reason: read as one value */
};

static int64_t mono_ms(void *userdata)
{
        (void)userdata;
        return clock_mono_ms();
}

static int64_t health_now(const struct httpd_health *h)
{
        return h->clock(h->clock_userdata);
}

int httpd_health_new(int64_t max_age_ms, httpd_clock_fn *clock, void *clock_userdata,
                     struct httpd_health **out, struct errbuf *err)
{
        struct httpd_health *h = NULL;
        int rc;

        if (max_age_ms <= 0) {
                rc = errbuf_set(err, -EINVAL, "liveness bound must be positive");
                goto out;
        }
        h = calloc(1, sizeof(*h));
        if (!h) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        rc = -pthread_mutex_init(&h->writer, NULL);
        if (rc < 0) {
                (void)errbuf_set(err, rc, "health state: mutex");
                free(h);
                h = NULL;
                goto out;
        }
        h->clock = clock ? clock : mono_ms;
        h->clock_userdata = clock_userdata;
        h->max_age_ms = max_age_ms;
        seqstr_init(&h->state);
        seqstr_set(&h->state, "0starting", 9);
        atomic_init(&h->beat_ms, health_now(h));

        *out = h;
        h = NULL;
        rc = 0;
out:
        httpd_health_free(h);
        return rc;
}

void httpd_health_free(struct httpd_health *h)
{
        if (!h)
                return;
        (void)pthread_mutex_destroy(&h->writer);
        free(h);
}

void httpd_health_beat(struct httpd_health *h)
{
        atomic_store_explicit(&h->beat_ms, health_now(h), memory_order_relaxed);
}

void httpd_health_set_ready(struct httpd_health *h, bool ready, const char *reason)
{
        char buf[HTTPD_REASON_MAX];
        size_t n;

        buf[0] = ready ? '1' : '0';
        n = 1 + str_copy(buf + 1, reason ? reason : "", sizeof(buf) - 1);
        if (n > sizeof(buf) - 1)
                n = sizeof(buf) - 1;
        (void)pthread_mutex_lock(&h->writer);
        seqstr_set(&h->state, buf, n);
        (void)pthread_mutex_unlock(&h->writer);
}

bool httpd_health_is_live(const struct httpd_health *h, int64_t *out_age_ms)
{
        int64_t age = health_now(h) - atomic_load_explicit(&h->beat_ms, memory_order_relaxed);

        if (out_age_ms)
                *out_age_ms = age;
        return age <= h->max_age_ms;
}

bool httpd_health_is_ready(const struct httpd_health *h, char *reason, size_t size)
{
        char buf[HTTPD_REASON_MAX];

        (void)seqstr_get(&h->state, buf, sizeof(buf));
        if (reason)
                (void)str_copy(reason, buf + 1, size);
        return buf[0] == '1';
}

/* --- routing --- */

static void answer_text(struct httpd_answer *out, enum httpd_handler handler, unsigned code,
                        const char *text)
{
        out->handler = handler;
        out->code = code;
        out->content_type = CONTENT_TYPE_TEXT;
        out->body = text;
        out->len = strlen(text);
        out->allow = false;
}

/* True when the request announces a body (a non-zero Content-Length or any chunked one). */
static bool has_body(const struct httpd_request *req)
{
        if (req->transfer_encoding)
                return true;
        return req->content_length && strcmp(req->content_length, "0") != 0;
}

bool httpd_route_headers(const struct httpd_request *req, struct httpd_answer *out)
{
        if (strcmp(req->method, MHD_HTTP_METHOD_GET) != 0 &&
            strcmp(req->method, MHD_HTTP_METHOD_HEAD) != 0) {
                answer_text(out, HTTPD_HANDLER_OTHER, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "method not allowed\n");
                out->allow = true;
                return true;
        }
        if (has_body(req)) {
                answer_text(out, HTTPD_HANDLER_OTHER, MHD_HTTP_CONTENT_TOO_LARGE,
                            "request body not accepted\n");
                return true;
        }
        return false;
}

static void route_metrics(const struct httpd_routes *r, char *scratch, struct httpd_answer *out)
{
        size_t len = 0;
        struct errbuf err;

        errbuf_clear(&err);
        if (metrics_registry_write(r->registry, r->body, r->body_max, &len, &err) < 0) {
                log_debug("scrape failed", LOG_STR("error", err.msg));
                (void)snprintf(scratch, HTTPD_MESSAGE_MAX, "%s\n", err.msg);
                answer_text(out, HTTPD_HANDLER_METRICS, MHD_HTTP_INTERNAL_SERVER_ERROR, scratch);
                return;
        }
        answer_text(out, HTTPD_HANDLER_METRICS, MHD_HTTP_OK, "");
        out->content_type = CONTENT_TYPE_METRICS;
        out->body = r->body;
        out->len = len;
}

static void route_healthz(const struct httpd_routes *r, char *scratch, struct httpd_answer *out)
{
        int64_t age_ms = 0;

        if (httpd_health_is_live(r->health, &age_ms)) {
                answer_text(out, HTTPD_HANDLER_HEALTHZ, MHD_HTTP_OK, "ok\n");
                return;
        }
        (void)snprintf(scratch, HTTPD_MESSAGE_MAX,
                       "main loop stalled: last heartbeat %.1fs ago (limit %.1fs)\n",
                       (double)age_ms / 1000.0, (double)r->health->max_age_ms / 1000.0);
        answer_text(out, HTTPD_HANDLER_HEALTHZ, MHD_HTTP_SERVICE_UNAVAILABLE, scratch);
}

static void route_readyz(const struct httpd_routes *r, char *scratch, struct httpd_answer *out)
{
        char reason[HTTPD_REASON_MAX];
        bool ready = httpd_health_is_ready(r->health, reason, sizeof(reason));

        if (ready)
                (void)snprintf(scratch, HTTPD_MESSAGE_MAX, reason[0] ? "ok: %s\n" : "ok\n", reason);
        else
                (void)snprintf(scratch, HTTPD_MESSAGE_MAX, "not ready: %s\n",
                               reason[0] ? reason : "unknown");
        answer_text(out, HTTPD_HANDLER_READYZ, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                    scratch);
}

void httpd_route(const struct httpd_routes *r, const struct httpd_request *req, char *scratch,
                 struct httpd_answer *out)
{
        if (r->registry && strcmp(req->url, "/metrics") == 0)
                route_metrics(r, scratch, out);
        else if (r->health && strcmp(req->url, "/healthz") == 0)
                route_healthz(r, scratch, out);
        else if (r->health && strcmp(req->url, "/readyz") == 0)
                route_readyz(r, scratch, out);
        else
                answer_text(out, HTTPD_HANDLER_OTHER, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* --- server --- */

static const char *const handler_names[] = { "metrics", "healthz", "readyz", "other" };

/* The (handler, code) pairs a server can answer with: the request counter's bounded series. */
static const struct {
        enum httpd_handler handler;
        unsigned code;
} answers[] = {
        { HTTPD_HANDLER_METRICS, 200 }, { HTTPD_HANDLER_METRICS, 500 },
        { HTTPD_HANDLER_HEALTHZ, 200 }, { HTTPD_HANDLER_HEALTHZ, 503 },
        { HTTPD_HANDLER_READYZ, 200 },  { HTTPD_HANDLER_READYZ, 503 },
        { HTTPD_HANDLER_OTHER, 404 },   { HTTPD_HANDLER_OTHER, 405 },
        { HTTPD_HANDLER_OTHER, 413 },
};
#define N_ANSWERS (sizeof(answers) / sizeof(answers[0]))

struct httpd {
        struct MHD_Daemon *daemon;
        struct httpd_routes routes; /* its body buffer: only the server's one thread uses it */
        char scratch[HTTPD_MESSAGE_MAX];
        struct metrics_series *counts[N_ANSWERS]; /* NULL without a requests family */
        uint16_t port;
        /* libmicrohttpd's last message while httpd_start() runs, for the error it returns */
        pthread_t starter;
        atomic_bool starting;
        char start_msg[160];
};

static void count(struct httpd *h, enum httpd_handler handler, unsigned code)
{
        for (size_t i = 0; i < N_ANSWERS; i++) {
                if (answers[i].handler == handler && answers[i].code == code && h->counts[i])
                        metrics_counter_add(h->counts[i], 1);
        }
}

/*
 * Queue a response. MHD copies the body (one allocation per response, freed once sent; at
 * most one per connection is in flight, so the connection limit bounds them).
 */
static enum MHD_Result reply(struct httpd *h, struct MHD_Connection *c,
                             const struct httpd_answer *a)
{
        void *src = (void *)(uintptr_t)a->body; /* NOLINT(performance-no-int-to-ptr): only read */
        struct MHD_Response *r;
        enum MHD_Result ret;

        r = MHD_create_response_from_buffer(a->len, src, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO; /* out of memory: MHD closes the connection */
        (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
        if (a->allow)
                (void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        ret = MHD_queue_response(c, a->code, r);
        MHD_destroy_response(r);
        count(h, a->handler, a->code);
        return ret;
}

/*
 * libmicrohttpd calls the handler once when the headers are in and again when the (empty) body
 * is: answering on the second call keeps the connection alive for the next scrape. Requests we
 * refuse are answered on the first call, which makes libmicrohttpd close the connection after
 * the answer instead of reading what the client still sends: another method (405) or a GET
 * or HEAD that announces a body (413).
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
        static int headers_seen; /* only its address is used, as a per-request marker */
        struct httpd *h = cls;
        struct httpd_request req = { .method = method, .url = url };
        struct httpd_answer a;

        (void)version;
        (void)upload_data;
        if (!*con_cls) {
                req.content_length = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
                req.transfer_encoding = MHD_lookup_connection_value(
                        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
                if (httpd_route_headers(&req, &a))
                        return reply(h, c, &a);
                *con_cls = &headers_seen;
                return MHD_YES;
        }
        if (*upload_data_size != 0) {
                *upload_data_size = 0; /* not announced, so not expected: drop it */
                return MHD_YES;
        }
        httpd_route(&h->routes, &req, h->scratch, &a);
        return reply(h, c, &a);
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
        struct httpd *h = cls;
        char msg[256];
        size_t n;

        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        n = strlen(msg);
        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '.'))
                msg[--n] = '\0';
        if (atomic_load(&h->starting) && pthread_equal(pthread_self(), h->starter))
                (void)str_copy(h->start_msg, msg, sizeof(h->start_msg));
        log_debug("libmicrohttpd", LOG_STR("message", msg));
}

static void fill_sockaddr(const struct httpd_addr *a, int family, struct sockaddr_storage *ss,
                          socklen_t *len)
{
        memset(ss, 0, sizeof(*ss));
        if (family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)ss;

                sin->sin_family = AF_INET;
                sin->sin_port = htons(a->port);
                if (a->family == AF_INET)
                        memcpy(&sin->sin_addr, a->ip, 4);
                *len = sizeof(*sin);
        } else {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(a->port);
                if (a->family == AF_INET6)
                        memcpy(&sin6->sin6_addr, a->ip, 16);
                *len = sizeof(*sin6);
        }
}

/* Bind and listen on one family; returns the descriptor or a negative errno. */
static int listen_on(const struct httpd_addr *a, int family)
{
        struct sockaddr_storage ss;
        socklen_t len = 0;
        int one = 1;
        int dual = 0;
        int fd;

        fill_sockaddr(a, family, &ss, &len);
        fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* Every interface on an IPv6 socket means IPv4 too (a dual-stack wildcard). */
        if ((setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
            (family == AF_INET6 && a->family == AF_UNSPEC &&
             setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &dual, sizeof(dual)) < 0) ||
            bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
                int rc = -errno;

                (void)close(fd);
                return rc;
        }
        return fd;
}

/* The description of a negative errno (thread-local storage, see errbuf_msg()). */
static const char *errno_desc(int code)
{
        struct errbuf e = { .code = code, .msg = "" };

        return errbuf_msg(&e);
}

static int open_listener(const struct httpd_addr *a, uint16_t *out_port, struct errbuf *err)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd;

        if (a->family == AF_UNSPEC) {
                fd = listen_on(a, AF_INET6);
                /* A node without IPv6: the wildcard is IPv4 only. */
                if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL || fd == -EINVAL)
                        fd = listen_on(a, AF_INET);
        } else {
                fd = listen_on(a, a->family);
        }
        if (fd < 0) {
                char text[HTTPD_ADDRESS_TEXT_MAX];

                return errbuf_set(err, fd, "listen on '%s': %s",
                                  httpd_addr_format(a, text, sizeof(text)), errno_desc(fd));
        }
        memset(&ss, 0, sizeof(ss));
        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
                int rc = -errno;

                (void)close(fd);
                return errbuf_set(err, rc, "getsockname: %s", errno_desc(rc));
        }
        *out_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
        return fd;
}

static int count_init(struct httpd *h, struct metrics_family *requests, struct errbuf *err)
{
        for (size_t i = 0; requests && i < N_ANSWERS; i++) {
                char code[8];
                int rc;

                (void)snprintf(code, sizeof(code), "%u", answers[i].code);
                rc = metrics_series_get(requests,
                                        (const char *[]){ handler_names[answers[i].handler], code },
                                        &h->counts[i], err);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

static int check_config(const struct httpd_config *cfg, struct errbuf *err)
{
        if (!cfg->addr.enabled)
                return errbuf_set(err, -EINVAL, "http server: address is disabled");
        if (cfg->connection_limit > 4096 || cfg->per_ip_limit > 4096 || cfg->timeout_s > 3600)
                return errbuf_set(err, -EINVAL, "http server: limits out of range");
        if ((cfg->request_max_bytes != 0 && cfg->request_max_bytes < 2048) ||
            (cfg->body_max_bytes != 0 && cfg->body_max_bytes < 4096))
                return errbuf_set(err, -EINVAL, "http server: memory limits too small");
        return 0;
}

static unsigned or_default(unsigned v, unsigned def)
{
        return v != 0 ? v : def;
}

static int start_daemon(struct httpd *h, const struct httpd_config *cfg, int fd, struct errbuf *err)
{
        h->starter = pthread_self();
        atomic_store(&h->starting, true);
        h->daemon = MHD_start_daemon(
                MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                on_request, h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                or_default(cfg->connection_limit, HTTPD_CONNECTIONS_DEFAULT),
                MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                or_default(cfg->per_ip_limit, HTTPD_PER_IP_DEFAULT), MHD_OPTION_CONNECTION_TIMEOUT,
                or_default(cfg->timeout_s, HTTPD_TIMEOUT_S_DEFAULT),
                MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                cfg->request_max_bytes != 0 ? cfg->request_max_bytes
                                            : (size_t)HTTPD_REQUEST_MAX_DEFAULT,
                MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_END);
        atomic_store(&h->starting, false);
        if (!h->daemon)
                return errbuf_set(err, -EIO, "http server: libmicrohttpd did not start: %s",
                                  h->start_msg[0] ? h->start_msg : "unknown error");
        return 0;
}

int httpd_start(const struct httpd_config *cfg, struct httpd **out, struct errbuf *err)
{
        struct httpd *h = NULL;
        int fd = -1;
        int rc;

        rc = check_config(cfg, err);
        if (rc < 0)
                goto out;
        h = calloc(1, sizeof(*h));
        if (!h) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        h->routes.registry = cfg->registry;
        h->routes.health = cfg->health;
        atomic_init(&h->starting, false);
        h->routes.body_max =
                cfg->body_max_bytes != 0 ? cfg->body_max_bytes : HTTPD_BODY_MAX_DEFAULT;
        if (h->routes.registry) {
                h->routes.body = malloc(h->routes.body_max);
                if (!h->routes.body) {
                        rc = errbuf_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        rc = count_init(h, cfg->requests, err);
        if (rc < 0)
                goto out;
        fd = open_listener(&cfg->addr, &h->port, err);
        if (fd < 0) {
                rc = fd;
                goto out;
        }
        /*
         * From here libmicrohttpd owns the socket: it closes it on stop, and on some of its
         * start failures but not all; leaking one descriptor after a failed start is safer
         * than closing a number that may already be reused.
         */
        rc = start_daemon(h, cfg, fd, err);
        if (rc < 0)
                goto out;

        *out = h;
        h = NULL;
        rc = 0;
out:
        httpd_stop(h);
        return rc;
}

void httpd_stop(struct httpd *h)
{
        if (!h)
                return;
        if (h->daemon)
                MHD_stop_daemon(h->daemon);
        free(h->routes.body);
        free(h);
}

uint16_t httpd_port(const struct httpd *h)
{
        return h->port;
}
