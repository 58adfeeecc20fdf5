/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LIST+WATCH: an incremental decoder of newline-delimited watch events, and a state machine on
 * a libcurl multi handle that lists, watches from the list's resourceVersion, follows bookmarks,
 * relists on 410 Gone, ERROR events and over-long lines, and backs off on failures. Driven by
 * kube_watch_poll() from a loop or kube_watch_run() on a dedicated thread.
 */
#define LOG_MODULE "kube"
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "kube/internal.h"
#include "kube/kube.h"
#include "log/log.h"

#define WATCH_TIMEOUT_MIN_S   300
#define WATCH_TIMEOUT_MAX_S   600
#define WATCH_BACKOFF_INIT_MS 800 /* client-go reflector: 800 ms doubling to 30 s */
#define WATCH_BACKOFF_MAX_MS  30000
#define WATCH_RETRY_AFTER_MAX 300000
#define WATCH_LIST_TIMEOUT_MS 60000
#define WATCH_CLIENT_SLACK_S  30    /* the client gives up this long after the server should */
#define WATCH_HEALTHY_MS      1000  /* a stream shorter than this without events is a failure */
#define WATCH_ERROR_BODY_MAX  65536 /* a non-200 watch response: a Status, kept for the message */
#define WATCH_RV_MAX          128   /* resourceVersions are opaque but short */
#define WATCH_RUN_SLICE_MS    200

/* ------------------------------------------------------------------------------------------ */
/* Decoder                                                                                    */

void kube_watch_decoder_init(struct kube_watch_decoder *d, size_t line_max)
{
        memset(d, 0, sizeof(*d));
        d->line_max = line_max ? line_max : KUBE_WATCH_LINE_MAX;
}

void kube_watch_decoder_reset(struct kube_watch_decoder *d)
{
        d->len = 0;
        d->failed = 0;
}

void kube_watch_decoder_cleanup(struct kube_watch_decoder *d)
{
        if (!d)
                return;
        free(d->data);
        d->data = NULL;
        d->len = 0;
        d->cap = 0;
        d->failed = 0;
}

size_t kube_watch_decoder_pending(const struct kube_watch_decoder *d)
{
        return d->len;
}

static int tail_append(struct kube_watch_decoder *d, const char *p, size_t len)
{
        if (d->len + len > d->cap) {
                size_t cap = d->cap ? d->cap : 4096;
                char *n;

                while (cap < d->len + len)
                        cap *= 2;
                if (cap > d->line_max)
                        cap = d->line_max;
                n = realloc(d->data, cap);
                if (!n)
                        return -ENOMEM;
                d->data = n;
                d->cap = cap;
        }
        memcpy(d->data + d->len, p, len);
        d->len += len;
        return 0;
}

static int event_type(const char *s, enum kube_watch_event_type *out)
{
        static const struct {
                const char *name;
                enum kube_watch_event_type type;
        } types[] = {
                { "ADDED", KUBE_WATCH_ADDED },     { "MODIFIED", KUBE_WATCH_MODIFIED },
                { "DELETED", KUBE_WATCH_DELETED }, { "BOOKMARK", KUBE_WATCH_BOOKMARK },
                { "ERROR", KUBE_WATCH_ERROR },
        };
        size_t i;

        for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                if (strcmp(s, types[i].name) == 0) {
                        *out = types[i].type;
                        return 0;
                }
        }
        return -EPROTO;
}

/* An ERROR event carries a Status: its code decides (410 Gone: -ESTALE, relist). */
static void error_event(json_t *status, struct kube_watch_event *ev, char *msg, size_t size)
{
        json_int_t code = json_integer_value(json_object_get(status, "code"));
        const char *reason = kube_json_str(status, "reason");
        const char *text = kube_json_str(status, "message");

        ev->error = kube_status_errno((long)code, reason);
        ev->relist = true;
        (void)snprintf(msg, size, "watch error event: %s (code %lld%s%s)",
                       text ? text : "no message", (long long)code, reason ? ", " : "",
                       reason ? reason : "");
        ev->message = msg;
}

static int parse_line(const char *line, size_t len, kube_watch_fn *on_event, void *userdata,
                      struct errbuf *err)
{
        struct kube_watch_event ev;
        json_t *root = NULL;
        const char *type;
        json_error_t jerr;
        char msg[256];
        int rc;

        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
                len--;
        if (len == 0)
                return 0; /* a blank keep-alive line */
        memset(&ev, 0, sizeof(ev));
        root = kube_json_load(line, len, &jerr, &rc);
        if (!root) {
                rc = errbuf_set(err, rc, "watch event: %s", jerr.text);
                goto out;
        }
        type = kube_json_str(root, "type");
        ev.object = json_object_get(root, "object");
        if (!type || !json_is_object(ev.object)) {
                rc = errbuf_set(err, -EPROTO, "watch event: no type or object");
                goto out;
        }
        if (event_type(type, &ev.type) < 0) {
                rc = errbuf_set(err, -EPROTO, "watch event: unknown type '%.32s'", type);
                goto out;
        }
        if (ev.type == KUBE_WATCH_ERROR) {
                error_event(ev.object, &ev, msg, sizeof(msg));
        } else {
                ev.resource_version = kube_json_meta_str(ev.object, "resourceVersion");
                if (ev.resource_version && strlen(ev.resource_version) >= WATCH_RV_MAX) {
                        rc = errbuf_set(err, -EPROTO, "watch event: resourceVersion too long");
                        goto out;
                }
                if (ev.type == KUBE_WATCH_BOOKMARK && !ev.resource_version) {
                        rc = errbuf_set(err, -EPROTO,
                                        "watch event: bookmark without "
                                        "resourceVersion");
                        goto out;
                }
        }
        rc = on_event(&ev, userdata);
        if (rc < 0 && err && err->code == 0)
                (void)errbuf_set(err, rc, "watch event: stopped by the callback");
out:
        json_decref(root);
        return rc;
}

int kube_watch_decoder_feed(struct kube_watch_decoder *d, const char *p, size_t len,
                            kube_watch_fn *on_event, void *userdata, struct errbuf *err)
{
        int rc = 0;

        if (d->failed)
                return errbuf_set(err, d->failed, "watch decoder: failed earlier, reset first");
        while (len > 0) {
                /* Only the new bytes are searched: the tail is known to hold no newline. */
                const char *nl = memchr(p, '\n', len);
                size_t n = nl ? (size_t)(nl - p) : len;

                if (n > d->line_max - d->len) {
                        rc = errbuf_set(err, -EMSGSIZE, "watch event: longer than %zu bytes",
                                        d->line_max);
                        break;
                }
                if (!nl) {
                        rc = tail_append(d, p, n);
                        if (rc < 0)
                                (void)errbuf_set(err, rc, "out of memory");
                        break;
                }
                if (d->len == 0) {
                        /* The whole line is in this chunk: parse it in place, no copy. */
                        rc = parse_line(p, n, on_event, userdata, err);
                } else {
                        rc = tail_append(d, p, n);
                        if (rc < 0)
                                (void)errbuf_set(err, rc, "out of memory");
                        else
                                rc = parse_line(d->data, d->len, on_event, userdata, err);
                        d->len = 0;
                }
                if (rc < 0)
                        break;
                p = nl + 1;
                len -= n + 1;
        }
        if (rc < 0)
                d->failed = rc;
        return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* The LIST+WATCH state machine                                                               */

enum phase {
        PHASE_IDLE = 0, /* waiting for next_attempt_ms */
        PHASE_LISTING,
        PHASE_WATCHING,
};

struct kube_watch {
        struct kube_client *client; /* borrowed */
        char *path;
        char *field_selector;
        char *label_selector;
        size_t line_max;
        size_t list_max;
        int timeout_min_s;
        int timeout_max_s;
        int64_t retry_after_max_ms;
        kube_clock_fn *clock;
        void *clock_userdata;
        struct kube_backoff backoff;
        CURLM *multi;
        CURL *easy;
        struct kube_xfer xfer;
        struct kube_watch_decoder dec;
        enum phase phase;
        bool need_list;
        bool relist_requested;
        char rv[WATCH_RV_MAX];
        int64_t next_attempt_ms;
        /* The stream in flight. */
        int64_t stream_start_ms;
        int64_t stream_events;
        long stream_status;
        int stream_rc; /* why the stream was cut short by us, 0 when it was not */
        bool stream_relist;
        struct errbuf stream_err;
        char query[2048];
        /* The poll in progress. */
        kube_watch_fn *on_event;
        void *userdata;
        int cb_rc;
        struct kube_watch_stats stats;
};

static int64_t now_ms(const struct kube_watch *w)
{
        return w->clock ? w->clock(w->clock_userdata) : clock_mono_ms();
}

static int dup_opt(const char *s, char **out)
{
        return kube_strdup_opt(s, out);
}

int kube_watch_new(struct kube_client *c, const struct kube_watch_options *opt,
                   struct kube_watch **out, struct errbuf *err)
{
        struct kube_watch *w;
        int rc;

        assert(opt->path);
        w = calloc(1, sizeof(*w));
        if (!w)
                return errbuf_set(err, -ENOMEM, "out of memory");
        w->client = c;
        w->line_max = opt->line_max ? opt->line_max : KUBE_WATCH_LINE_MAX;
        w->list_max = opt->list_max ? opt->list_max : KUBE_RESPONSE_MAX;
        w->timeout_min_s = opt->timeout_min_s > 0 ? opt->timeout_min_s : WATCH_TIMEOUT_MIN_S;
        w->timeout_max_s = opt->timeout_max_s > 0 ? opt->timeout_max_s : WATCH_TIMEOUT_MAX_S;
        if (w->timeout_max_s < w->timeout_min_s)
                w->timeout_max_s = w->timeout_min_s;
        w->retry_after_max_ms =
                opt->retry_after_max_ms > 0 ? opt->retry_after_max_ms : WATCH_RETRY_AFTER_MAX;
        w->clock = opt->clock;
        w->clock_userdata = opt->clock_userdata;
        kube_backoff_init(&w->backoff,
                          opt->backoff_initial_ms > 0 ? opt->backoff_initial_ms
                                                      : WATCH_BACKOFF_INIT_MS,
                          opt->backoff_max_ms > 0 ? opt->backoff_max_ms : WATCH_BACKOFF_MAX_MS,
                          opt->rng, opt->rng_userdata);
        if (w->backoff.max_ms < w->backoff.initial_ms)
                w->backoff.max_ms = w->backoff.initial_ms;
        kube_watch_decoder_init(&w->dec, w->line_max);
        kube_xfer_init(&w->xfer, c, 0);
        w->need_list = true;
        w->next_attempt_ms = now_ms(w);
        if (dup_opt(opt->path, &w->path) < 0 ||
            dup_opt(opt->field_selector, &w->field_selector) < 0 ||
            dup_opt(opt->label_selector, &w->label_selector) < 0) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        w->multi = curl_multi_init();
        w->easy = curl_easy_init();
        if (!w->multi || !w->easy) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto fail;
        }
        *out = w;
        return 0;
fail:
        kube_watch_free(w);
        return rc;
}

/* Stop the transfer in flight, if any. */
static void abort_transfer(struct kube_watch *w)
{
        if (w->phase != PHASE_IDLE) {
                (void)curl_multi_remove_handle(w->multi, w->easy);
                w->phase = PHASE_IDLE;
        }
        w->stats.established = false;
        kube_xfer_cleanup(&w->xfer);
}

void kube_watch_free(struct kube_watch *w)
{
        if (!w)
                return;
        if (w->multi && w->easy)
                abort_transfer(w);
        kube_xfer_cleanup(&w->xfer);
        if (w->easy)
                curl_easy_cleanup(w->easy);
        if (w->multi)
                (void)curl_multi_cleanup(w->multi);
        kube_watch_decoder_cleanup(&w->dec);
        free(w->path);
        free(w->field_selector);
        free(w->label_selector);
        free(w);
}

void kube_watch_wakeup(struct kube_watch *w)
{
        (void)curl_multi_wakeup(w->multi);
}

void kube_watch_relist(struct kube_watch *w)
{
        /* Only a flag: safe from inside the event callback; acted on by the next poll. */
        w->relist_requested = true;
}

const char *kube_watch_resource_version(const struct kube_watch *w)
{
        return w->rv;
}

void kube_watch_stats(const struct kube_watch *w, struct kube_watch_stats *out)
{
        *out = w->stats;
}

static int deliver(struct kube_watch *w, const struct kube_watch_event *ev)
{
        int rc;

        if (!w->on_event)
                return 0;
        rc = w->on_event(ev, w->userdata);
        if (rc < 0 && w->cb_rc == 0)
                w->cb_rc = rc;
        return rc;
}

/* A failed attempt: choose the delay, report it, go idle. */
static void fail_attempt(struct kube_watch *w, int rc, bool relist, int64_t retry_after_ms,
                         const struct errbuf *err)
{
        struct kube_watch_event ev;
        int64_t delay;

        /* The first 410 after a healthy stream relists at once, as client-go does. */
        if (rc == -ESTALE && w->backoff.attempt == 0) {
                (void)kube_backoff_next(&w->backoff);
                delay = 0;
        } else {
                delay = kube_backoff_next(&w->backoff);
        }
        if (retry_after_ms >= 0) {
                int64_t ra = retry_after_ms < w->retry_after_max_ms ? retry_after_ms
                                                                    : w->retry_after_max_ms;

                if (ra > delay)
                        delay = ra;
        }
        w->need_list = w->need_list || relist;
        w->next_attempt_ms = now_ms(w) + delay;
        w->stats.errors++;
        log_debug("watch attempt failed", LOG_STR("path", w->path), LOG_ERRNO(rc),
                  LOG_STR("error", errbuf_msg(err)), LOG_INT("retry_in_ms", delay),
                  LOG_BOOL("relist", w->need_list));
        memset(&ev, 0, sizeof(ev));
        ev.type = KUBE_WATCH_ERROR;
        ev.resource_version = w->rv;
        ev.error = rc;
        ev.message = errbuf_msg(err);
        ev.retry_in_ms = delay;
        ev.relist = w->need_list;
        (void)deliver(w, &ev);
}

static int add_param(struct kube_watch *w, const char *name, const char *value)
{
        size_t len = strlen(w->query);
        char *esc;
        int n;

        if (!value)
                return 0;
        esc = curl_easy_escape(w->easy, value, 0);
        if (!esc)
                return -ENOMEM;
        n = snprintf(w->query + len, sizeof(w->query) - len, "%s%s=%s", len ? "&" : "", name, esc);
        curl_free(esc);
        return n < 0 || (size_t)n >= sizeof(w->query) - len ? -EMSGSIZE : 0;
}

static size_t on_stream(char *p, size_t size, size_t n, void *userdata);

static int start_list(struct kube_watch *w, struct errbuf *err)
{
        int rc;

        w->query[0] = '\0';
        rc = add_param(w, "fieldSelector", w->field_selector);
        if (rc == 0)
                rc = add_param(w, "labelSelector", w->label_selector);
        if (rc < 0)
                return errbuf_set(err, rc, "list %s: query too long", w->path);
        kube_xfer_init(&w->xfer, w->client, w->list_max);
        rc = kube_client_setup(w->client, w->easy, &w->xfer, "GET", w->path, w->query, NULL,
                               WATCH_LIST_TIMEOUT_MS, false, err);
        if (rc < 0)
                return rc;
        w->phase = PHASE_LISTING;
        w->stats.lists++;
        return 0;
}

static int start_watch(struct kube_watch *w, struct errbuf *err)
{
        char tmo[16];
        int span = w->timeout_max_s - w->timeout_min_s;
        int secs;
        int rc;

        secs = w->timeout_min_s +
               (span > 0 ? (int)kube_backoff_uniform(&w->backoff, (uint64_t)span) : 0);
        (void)snprintf(tmo, sizeof(tmo), "%d", secs);
        w->query[0] = '\0';
        rc = add_param(w, "watch", "1");
        if (rc == 0)
                rc = add_param(w, "allowWatchBookmarks", "true");
        if (rc == 0)
                rc = add_param(w, "resourceVersion", w->rv);
        if (rc == 0)
                rc = add_param(w, "timeoutSeconds", tmo);
        if (rc == 0)
                rc = add_param(w, "fieldSelector", w->field_selector);
        if (rc == 0)
                rc = add_param(w, "labelSelector", w->label_selector);
        if (rc < 0)
                return errbuf_set(err, rc, "watch %s: query too long", w->path);
        kube_xfer_init(&w->xfer, w->client, WATCH_ERROR_BODY_MAX);
        rc = kube_client_setup(w->client, w->easy, &w->xfer, "GET", w->path, w->query, NULL,
                               ((int64_t)secs + WATCH_CLIENT_SLACK_S) * 1000, true, err);
        if (rc < 0)
                return rc;
        (void)curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, on_stream);
        (void)curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
        kube_watch_decoder_reset(&w->dec);
        w->stream_start_ms = now_ms(w);
        w->stream_events = 0;
        w->stream_status = 0;
        w->stream_rc = 0;
        w->stream_relist = false;
        errbuf_clear(&w->stream_err);
        w->phase = PHASE_WATCHING;
        w->stats.watches++;
        return 0;
}

static void start_attempt(struct kube_watch *w)
{
        struct errbuf err;
        CURLMcode mc;
        int rc;

        errbuf_clear(&err);
        rc = w->need_list ? start_list(w, &err) : start_watch(w, &err);
        if (rc == 0) {
                mc = curl_multi_add_handle(w->multi, w->easy);
                if (mc != CURLM_OK) {
                        w->phase = PHASE_IDLE;
                        rc = errbuf_set(&err, -ENOMEM, "%s %s: %s", w->need_list ? "list" : "watch",
                                        w->path, curl_multi_strerror(mc));
                }
        }
        if (rc < 0) {
                kube_xfer_cleanup(&w->xfer);
                fail_attempt(w, rc, false, -1, &err);
        }
}

/* Events from the stream: advance the resourceVersion, pass them on; ERROR ends the stream. */
static int stream_event(const struct kube_watch_event *ev, void *userdata)
{
        struct kube_watch *w = userdata;

        if (ev->type == KUBE_WATCH_ERROR) {
                w->stream_relist = true;
                (void)errbuf_set(&w->stream_err, ev->error, "%s", ev->message);
                return ev->error ? ev->error : -EPROTO;
        }
        if (ev->resource_version)
                (void)snprintf(w->rv, sizeof(w->rv), "%s", ev->resource_version);
        w->stream_events++;
        w->stats.events++;
        return deliver(w, ev);
}

static size_t on_stream(char *p, size_t size, size_t n, void *userdata)
{
        struct kube_watch *w = userdata;
        int rc;

        (void)size;
        if (w->stream_status == 0)
                (void)curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->stream_status);
        if (w->stream_status != 200)
                return kube_xfer_append(&w->xfer, p, n) < 0 ? 0 : n; /* a Status, for the message */
        if (!w->stats.established) {
                w->stats.established = true;
                log_debug("watch established", LOG_STR("path", w->path),
                          LOG_STR("resource_version", w->rv));
        }
        rc = kube_watch_decoder_feed(&w->dec, p, n, stream_event, w, &w->stream_err);
        if (rc < 0) {
                if (w->stream_rc == 0)
                        w->stream_rc = rc;
                return 0; /* abort the transfer */
        }
        return n;
}

static void list_done(struct kube_watch *w, CURLcode cc)
{
        struct kube_watch_event ev;
        json_t *list = NULL;
        json_t *items;
        const char *rv;
        json_error_t jerr;
        struct errbuf err;
        long status = 0;
        int rc;

        errbuf_clear(&err);
        (void)curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK) {
                rc = kube_curl_error(cc, w->xfer.curl_err, w->xfer.overflow, "list", w->path,
                                     w->query, &err);
                fail_attempt(w, rc, true, -1, &err);
                return;
        }
        if (status != 200) {
                rc = kube_status_error(status, "GET", w->path, w->query, w->xfer.body, w->xfer.len,
                                       &err);
                fail_attempt(w, rc, true, w->xfer.retry_after_ms, &err);
                return;
        }
        rc = 0;
        list = kube_json_load(w->xfer.body ? w->xfer.body : "", w->xfer.len, &jerr, &rc);
        items = json_object_get(list, "items");
        rv = kube_json_meta_str(list, "resourceVersion");
        if (!list || (!json_is_array(items) && !json_is_null(items)) || !rv ||
            strlen(rv) >= sizeof(w->rv)) {
                rc = errbuf_set(&err, list ? -EPROTO : rc, "list %s: malformed response%s%s",
                                w->path, list ? "" : ": ", list ? "" : jerr.text);
                json_decref(list);
                fail_attempt(w, rc, true, -1, &err);
                return;
        }
        if (!json_is_array(items)) {
                items = json_array();
                if (!items || json_object_set_new(list, "items", items) < 0) {
                        json_decref(list);
                        rc = errbuf_set(&err, -ENOMEM, "out of memory");
                        fail_attempt(w, rc, true, -1, &err);
                        return;
                }
        }
        (void)snprintf(w->rv, sizeof(w->rv), "%s", rv);
        w->need_list = false;
        w->next_attempt_ms = now_ms(w);
        log_debug("list done", LOG_STR("path", w->path), LOG_INT("items", json_array_size(items)),
                  LOG_STR("resource_version", w->rv));
        memset(&ev, 0, sizeof(ev));
        ev.type = KUBE_WATCH_SYNC;
        ev.object = items;
        ev.resource_version = w->rv;
        (void)deliver(w, &ev);
        json_decref(list);
}

static void watch_done(struct kube_watch *w, CURLcode cc)
{
        int64_t lasted = now_ms(w) - w->stream_start_ms;
        bool healthy = w->stream_events > 0 || lasted >= WATCH_HEALTHY_MS;
        struct errbuf err;
        int rc;

        errbuf_clear(&err);
        w->stats.established = false;
        if (w->stream_status == 0)
                (void)curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &w->stream_status);
        if (healthy)
                kube_backoff_reset(&w->backoff);
        if (w->cb_rc < 0 && w->stream_rc == w->cb_rc) {
                /* The callback stopped us: resume from the last resourceVersion next time. */
                w->next_attempt_ms = now_ms(w);
                return;
        }
        if (w->stream_rc < 0) {
                /* ERROR event (relist), an over-long line (relist) or a malformed one. */
                bool relist = w->stream_relist || w->stream_rc == -EMSGSIZE;

                fail_attempt(w, w->stream_rc, relist, -1, &w->stream_err);
                return;
        }
        if (w->stream_status != 0 && w->stream_status != 200) {
                rc = kube_status_error(w->stream_status, "GET", w->path, w->query, w->xfer.body,
                                       w->xfer.len, &err);
                fail_attempt(w, rc, rc != -EAGAIN && rc != -ETIMEDOUT, w->xfer.retry_after_ms,
                             &err);
                return;
        }
        if (cc != CURLE_OK && !(cc == CURLE_OPERATION_TIMEDOUT && healthy)) {
                rc = kube_curl_error(cc, w->xfer.curl_err, false, "watch", w->path, w->query, &err);
                if (kube_watch_decoder_pending(&w->dec) > 0)
                        (void)errbuf_wrap(&err, rc, "connection lost mid-event");
                fail_attempt(w, rc, false, -1, &err);
                return;
        }
        if (kube_watch_decoder_pending(&w->dec) > 0) {
                rc = errbuf_set(&err, -EAGAIN, "watch %s: stream ended mid-event", w->path);
                fail_attempt(w, rc, false, -1, &err);
                return;
        }
        if (!healthy) {
                rc = errbuf_set(&err, -EAGAIN, "watch %s: closed at once without events", w->path);
                fail_attempt(w, rc, false, -1, &err);
                return;
        }
        /* The server's timeoutSeconds ran out: resume at once from where we are. */
        log_debug("watch ended", LOG_STR("path", w->path), LOG_STR("resource_version", w->rv),
                  LOG_INT("events", w->stream_events));
        w->next_attempt_ms = now_ms(w);
}

static void process_done(struct kube_watch *w)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(w->multi, &left)) != NULL) {
                CURLcode cc;
                enum phase phase = w->phase;

                if (msg->msg != CURLMSG_DONE || msg->easy_handle != w->easy)
                        continue;
                cc = msg->data.result; /* 'msg' dies with the handle's removal */
                (void)curl_multi_remove_handle(w->multi, w->easy);
                w->phase = PHASE_IDLE;
                if (phase == PHASE_LISTING)
                        list_done(w, cc);
                else if (phase == PHASE_WATCHING)
                        watch_done(w, cc);
                kube_xfer_cleanup(&w->xfer);
        }
}

/* Idle: start the attempt when it is due, else wait for it (at most 'left' ms). True: return. */
static bool step_idle(struct kube_watch *w, int64_t left, int *starts)
{
        int64_t wait = w->next_attempt_ms - now_ms(w);

        /* Once the time is up, a poll still starts one attempt (a poll with timeout 0). */
        if (wait <= 0 && (left > 0 || *starts == 0)) {
                start_attempt(w);
                (*starts)++;
                return w->cb_rc < 0;
        }
        if (left <= 0)
                return true;
        if (wait > left)
                wait = left;
        (void)curl_multi_poll(w->multi, NULL, 0, (int)(wait > 0 ? wait : 0), NULL);
        return false;
}

/* A transfer in flight: move it on, handle its end, else wait for its sockets. True: return. */
static bool step_transfer(struct kube_watch *w, int64_t left)
{
        int running = 0;

        (void)curl_multi_perform(w->multi, &running);
        process_done(w);
        if (w->cb_rc < 0)
                return true;
        if (w->phase == PHASE_IDLE)
                return false;
        if (left <= 0)
                return true;
        (void)curl_multi_poll(w->multi, NULL, 0, (int)(left < 1000 ? left : 1000), NULL);
        return false;
}

int kube_watch_poll(struct kube_watch *w, int64_t timeout_ms, kube_watch_fn *on_event,
                    void *userdata, struct errbuf *err)
{
        int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        bool done = false;
        int starts = 0;
        int rc = 0;

        w->on_event = on_event;
        w->userdata = userdata;
        w->cb_rc = 0;
        while (!done) {
                int64_t left = deadline - clock_mono_ms();

                if (w->relist_requested) {
                        w->relist_requested = false;
                        abort_transfer(w);
                        w->need_list = true;
                        w->next_attempt_ms = now_ms(w);
                }
                if (w->phase == PHASE_IDLE)
                        done = step_idle(w, left, &starts);
                else
                        done = step_transfer(w, left);
        }
        if (w->cb_rc < 0) {
                rc = errbuf_set(err, w->cb_rc, "watch %s: stopped by the event callback", w->path);
                w->cb_rc = 0;
        }
        w->on_event = NULL;
        w->userdata = NULL;
        return rc;
}

int kube_watch_run(struct kube_watch *w, kube_watch_fn *on_event, void *userdata,
                   const volatile int *stop, struct errbuf *err)
{
        while (!*stop) {
                int rc = kube_watch_poll(w, WATCH_RUN_SLICE_MS, on_event, userdata, err);

                if (rc < 0)
                        return rc;
        }
        return 0;
}
