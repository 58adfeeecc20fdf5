/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API client: libcurl handles configured from a kube_config (TLS, bearer token re-read on
 * rotation, HTTP/2 over TLS), bounded responses, Status errors mapped to errno codes, and the
 * get/list/create/replace/patch/delete helpers.
 */
#define LOG_MODULE "kube"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/errbuf.h"
#include "base/str.h"
#include "kube/internal.h"
#include "kube/kube.h"
#include "log/log.h"

#ifndef KR_VERSION
#define KR_VERSION "0.0.0"
#endif

int kube_global_init(struct errbuf *err)
{
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return errbuf_set(err, -ENOMEM, "libcurl initialisation failed");
        return 0;
}

void kube_global_cleanup(void)
{
        curl_global_cleanup();
}

static int dup_blob(const struct kube_blob *src, struct kube_blob *dst)
{
        if (!src->data)
                return 0;
        dst->data = malloc(src->len + 1);
        if (!dst->data)
                return -ENOMEM;
        memcpy(dst->data, src->data, src->len);
        dst->data[src->len] = '\0';
        dst->len = src->len;
        return 0;
}

static int config_copy(const struct kube_config *src, struct kube_config *dst)
{
        memset(dst, 0, sizeof(*dst));
        dst->insecure_skip_tls_verify = src->insecure_skip_tls_verify;
        if (kube_strdup_opt(src->server, &dst->server) < 0 ||
            kube_strdup_opt(src->namespace ? src->namespace : "default", &dst->namespace) < 0 ||
            kube_strdup_opt(src->source, &dst->source) < 0 ||
            kube_strdup_opt(src->ca_file, &dst->ca_file) < 0 ||
            dup_blob(&src->ca_data, &dst->ca_data) < 0 ||
            kube_strdup_opt(src->client_cert_file, &dst->client_cert_file) < 0 ||
            dup_blob(&src->client_cert_data, &dst->client_cert_data) < 0 ||
            kube_strdup_opt(src->client_key_file, &dst->client_key_file) < 0 ||
            dup_blob(&src->client_key_data, &dst->client_key_data) < 0 ||
            kube_strdup_opt(src->token, &dst->token) < 0 ||
            kube_strdup_opt(src->token_file, &dst->token_file) < 0 ||
            kube_strdup_opt(src->username, &dst->username) < 0 ||
            kube_strdup_opt(src->password, &dst->password) < 0) {
                kube_config_cleanup(dst);
                return -ENOMEM;
        }
        return 0;
}

/* A file the config names must be readable now: a typo fails at startup, not per request. */
static int check_file(const char *what, const char *path, struct errbuf *err)
{
        if (!path || access(path, R_OK) == 0)
                return 0;
        return errbuf_set(err, errno == ENOENT ? -ENOENT : -EACCES, "%s '%s': %s", what, path,
                          errno == ENOENT ? "no such file" : "not readable");
}

int kube_client_new(const struct kube_config *cfg, struct kube_client **out, struct errbuf *err)
{
        const curl_version_info_data *ver;
        struct kube_client *c;
        int rc;

        if (!cfg->server ||
            (strncmp(cfg->server, "https://", 8) != 0 && strncmp(cfg->server, "http://", 7) != 0))
                return errbuf_set(err, -EINVAL, "kube client: server '%s' is not an http(s) URL",
                                  cfg->server ? cfg->server : "");
        c = calloc(1, sizeof(*c));
        if (!c)
                return errbuf_set(err, -ENOMEM, "out of memory");
        c->last_retry_after_ms = -1;
        if (config_copy(cfg, &c->cfg) < 0) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        rc = check_file("certificate authority", c->cfg.ca_file, err);
        if (rc == 0)
                rc = check_file("client certificate", c->cfg.client_cert_file, err);
        if (rc == 0)
                rc = check_file("client key", c->cfg.client_key_file, err);
        if (rc < 0)
                goto out;
        if (c->cfg.token_file) {
                rc = kube_token_file_init(&c->token_file, c->cfg.token_file, err);
                if (rc < 0)
                        goto out;
                c->have_token_file = true;
        }
        c->easy = curl_easy_init();
        if (!c->easy) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        ver = curl_version_info(CURLVERSION_NOW);
        c->http2 = ver && (ver->features & CURL_VERSION_HTTP2) != 0;
        (void)snprintf(c->user_agent, sizeof(c->user_agent), "kagent-retention/%s", KR_VERSION);
        *out = c;
        c = NULL;
        rc = 0;
out:
        kube_client_free(c);
        return rc;
}

void kube_client_free(struct kube_client *c)
{
        if (!c)
                return;
        if (c->easy)
                curl_easy_cleanup(c->easy);
        if (c->have_token_file)
                kube_token_file_cleanup(&c->token_file);
        kube_config_cleanup(&c->cfg);
        free(c);
}

const char *kube_client_namespace(const struct kube_client *c)
{
        return c->cfg.namespace;
}

long kube_client_last_status(const struct kube_client *c)
{
        return c->last_status;
}

int64_t kube_client_retry_after_ms(const struct kube_client *c)
{
        return c->last_retry_after_ms;
}

int kube_client_refresh_token(struct kube_client *c, struct errbuf *err)
{
        bool changed = false;
        int rc;

        if (!c->have_token_file)
                return 0;
        rc = kube_token_file_refresh(&c->token_file, true, &changed, err);
        if (rc < 0)
                return rc;
        return changed ? 1 : 0;
}

void kube_xfer_init(struct kube_xfer *x, struct kube_client *c, size_t max)
{
        memset(x, 0, sizeof(*x));
        x->client = c;
        x->max = max;
        x->retry_after_ms = -1;
}

void kube_xfer_cleanup(struct kube_xfer *x)
{
        struct curl_slist *h;

        /* The Authorization header holds the token: wipe the copies libcurl was given. */
        for (h = x->headers; h; h = h->next)
                explicit_bzero(h->data, strlen(h->data));
        curl_slist_free_all(x->headers);
        x->headers = NULL;
        free(x->body);
        x->body = NULL;
        x->len = 0;
        x->cap = 0;
        x->overflow = false;
}

int kube_xfer_append(struct kube_xfer *x, const char *p, size_t len)
{
        if (len > x->max - x->len) {
                x->overflow = true;
                return -EMSGSIZE;
        }
        if (x->len + len + 1 > x->cap) {
                size_t cap = x->cap ? x->cap : 4096;
                char *n;

                while (cap < x->len + len + 1)
                        cap *= 2;
                if (cap > x->max + 1)
                        cap = x->max + 1;
                n = realloc(x->body, cap);
                if (!n)
                        return -ENOMEM;
                x->body = n;
                x->cap = cap;
        }
        memcpy(x->body + x->len, p, len);
        x->len += len;
        x->body[x->len] = '\0';
        return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
        struct kube_xfer *x = userdata;

        (void)size; /* always 1 */
        return kube_xfer_append(x, p, n) < 0 ? 0 : n;
}

/* Retry-After: delay-seconds or an HTTP-date (RFC 9110 section 10.2.3). */
static int64_t parse_retry_after(const char *v, size_t len)
{
        char tmp[64];
        uint64_t secs;
        time_t when;
        time_t now;

        while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
                len--;
        while (len > 0 && *v == ' ') {
                v++;
                len--;
        }
        if (len == 0 || len >= sizeof(tmp))
                return -1;
        memcpy(tmp, v, len);
        tmp[len] = '\0';
        if (str_to_u64(tmp, &secs) == 0)
                return secs > 86400 ? 86400000 : (int64_t)secs * 1000;
        when = curl_getdate(tmp, NULL);
        if (when < 0)
                return -1;
        now = time(NULL);
        return when > now ? (int64_t)(when - now) * 1000 : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
        static const char name[] = "retry-after:";
        struct kube_xfer *x = userdata;

        (void)size;
        /* A new response (after a 100 Continue, or a retry) starts over. */
        if (n >= 5 && strncmp(p, "HTTP/", 5) == 0)
                x->retry_after_ms = -1;
        if (n > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0)
                x->retry_after_ms = parse_retry_after(p + sizeof(name) - 1, n - (sizeof(name) - 1));
        return n;
}

static int add_header(struct kube_xfer *x, const char *h)
{
        struct curl_slist *l = curl_slist_append(x->headers, h);

        if (!l)
                return -ENOMEM;
        x->headers = l;
        return 0;
}

/* with_nul: hand libcurl the blob's terminating NUL too. libcurl gives mbedTLS a private key
 * blob as it is, and mbedTLS reads PEM only from a buffer whose length counts a final NUL
 * (otherwise it tries DER and fails); OpenSSL stops at the PEM's END line. */
static void setup_blob(CURL *h, CURLoption opt, const struct kube_blob *b, bool with_nul)
{
        struct curl_blob blob;

        blob.data = b->data;
        blob.len = b->len + (with_nul ? 1 : 0);
        blob.flags = CURL_BLOB_COPY;
        (void)curl_easy_setopt(h, opt, &blob);
}

static void setup_tls(const struct kube_client *c, CURL *h)
{
        const struct kube_config *cfg = &c->cfg;

        /* A configured CA replaces the system roots, as in client-go. */
        if (cfg->ca_data.data) {
                (void)curl_easy_setopt(h, CURLOPT_CAINFO, NULL);
                (void)curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
                setup_blob(h, CURLOPT_CAINFO_BLOB, &cfg->ca_data, false);
        } else if (cfg->ca_file) {
                (void)curl_easy_setopt(h, CURLOPT_CAINFO, cfg->ca_file);
                (void)curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
        }
        if (cfg->insecure_skip_tls_verify) {
                (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
                (void)curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (cfg->client_cert_data.data) {
                (void)curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
                setup_blob(h, CURLOPT_SSLCERT_BLOB, &cfg->client_cert_data, false);
        } else if (cfg->client_cert_file) {
                (void)curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
                (void)curl_easy_setopt(h, CURLOPT_SSLCERT, cfg->client_cert_file);
        }
        if (cfg->client_key_data.data) {
                (void)curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
                setup_blob(h, CURLOPT_SSLKEY_BLOB, &cfg->client_key_data, true);
        } else if (cfg->client_key_file) {
                (void)curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
                (void)curl_easy_setopt(h, CURLOPT_SSLKEY, cfg->client_key_file);
        }
}

static int setup_auth(struct kube_client *c, CURL *h, struct kube_xfer *x, struct errbuf *err)
{
        const char *token = c->cfg.token;
        int rc;

        if (c->have_token_file) {
                bool changed = false;

                /* One stat() per request notices a rotated token before the server does. */
                rc = kube_token_file_refresh(&c->token_file, false, &changed, err);
                if (rc < 0)
                        return rc;
                if (changed)
                        log_debug("token reloaded", LOG_STR("file", c->token_file.path));
                token = c->token_file.token;
        }
        if (token) {
                size_t n = strlen(token) + sizeof("Authorization: Bearer ");
                char *hdr = malloc(n);

                if (!hdr)
                        return errbuf_set(err, -ENOMEM, "out of memory");
                (void)snprintf(hdr, n, "Authorization: Bearer %s", token);
                rc = add_header(x, hdr);
                kube_free_secret(hdr, n);
                if (rc < 0)
                        return errbuf_set(err, rc, "out of memory");
        } else if (c->cfg.username) {
                (void)curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
                (void)curl_easy_setopt(h, CURLOPT_USERNAME, c->cfg.username);
                (void)curl_easy_setopt(h, CURLOPT_PASSWORD, c->cfg.password ? c->cfg.password : "");
        }
        return 0;
}

int kube_client_setup(struct kube_client *c, CURL *h, struct kube_xfer *x, const char *method,
                      const char *path, const char *query, const char *content_type,
                      int64_t timeout_ms, bool stream, struct errbuf *err)
{
        int n;
        int rc;

        n = snprintf(x->url, sizeof(x->url), "%s%s%s%s", c->cfg.server, path,
                     query && query[0] ? "?" : "", query ? query : "");
        if (n < 0 || (size_t)n >= sizeof(x->url))
                return errbuf_set(err, -EMSGSIZE, "%s %s: url too long", method, path);
        curl_easy_reset(h);
        (void)curl_easy_setopt(h, CURLOPT_URL, x->url);
        (void)curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        (void)curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        (void)curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
        (void)curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)KUBE_CONNECT_TIMEOUT_MS);
        if (timeout_ms > 0)
                (void)curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
        (void)curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
        (void)curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
        (void)curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 10L);
        (void)curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->curl_err);
        x->curl_err[0] = '\0';
        if (c->http2)
                (void)curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        if (strcmp(method, "GET") != 0)
                (void)curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        setup_tls(c, h);
        rc = add_header(x, "Accept: application/json");
        if (rc == 0)
                rc = add_header(x, "Expect:"); /* no 100-continue round trip for bodies */
        if (rc == 0 && content_type) {
                char ct[128];

                (void)snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
                rc = add_header(x, ct);
        }
        if (rc < 0)
                return errbuf_set(err, rc, "out of memory");
        rc = setup_auth(c, h, x, err);
        if (rc < 0)
                return rc;
        (void)curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
        (void)curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        (void)curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
        if (!stream) {
                (void)curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
                (void)curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
                (void)curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
        }
        return 0;
}

int kube_curl_error(CURLcode code, const char *curl_msg, bool overflow, const char *method,
                    const char *path, const char *query, struct errbuf *err)
{
        const char *detail = curl_msg && curl_msg[0] ? curl_msg : curl_easy_strerror(code);
        int rc;

        (void)query;
        switch (code) {
        case CURLE_WRITE_ERROR:
                rc = overflow ? -EMSGSIZE : -EIO;
                if (overflow)
                        return errbuf_set(err, rc, "%s %s: response larger than the limit", method,
                                          path);
                break;
        case CURLE_OPERATION_TIMEDOUT:
                rc = -ETIMEDOUT;
                break;
        case CURLE_OUT_OF_MEMORY:
                rc = -ENOMEM;
                break;
        case CURLE_ABORTED_BY_CALLBACK:
                rc = -ECANCELED;
                break;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CIPHER:
        case CURLE_BAD_FUNCTION_ARGUMENT:
                rc = -EINVAL; /* the configuration, not the network */
                break;
        default:
                rc = -EAGAIN; /* resolve, connect, TLS handshake, reset, partial transfer */
                break;
        }
        return errbuf_set(err, rc, "%s %s: %s", method, path, detail);
}

static int parse_body(const struct kube_xfer *x, const char *method, const char *path, json_t **out,
                      struct errbuf *err)
{
        json_error_t jerr;
        json_t *v;
        int rc = 0;

        if (x->len == 0) {
                if (out)
                        *out = NULL;
                return 0;
        }
        if (!out)
                return 0;
        v = kube_json_load(x->body, x->len, &jerr, &rc);
        if (!v)
                return errbuf_set(err, rc, "%s %s: malformed response: %s", method, path,
                                  jerr.text);
        *out = v;
        return 0;
}

static int request_once(struct kube_client *c, const struct kube_request *req, json_t **out,
                        struct errbuf *err)
{
        const char *ct = req->content_type;
        struct kube_xfer x;
        CURLcode cc;
        long status = 0;
        int rc;

        if (req->body && !ct)
                ct = KUBE_CONTENT_JSON;
        kube_xfer_init(&x, c, req->response_max ? req->response_max : KUBE_RESPONSE_MAX);
        c->last_status = 0;
        c->last_retry_after_ms = -1;
        rc = kube_client_setup(c, c->easy, &x, req->method, req->path, req->query, ct,
                               req->timeout_ms > 0 ? req->timeout_ms : KUBE_REQUEST_TIMEOUT_MS,
                               false, err);
        if (rc < 0)
                goto out;
        if (req->body) {
                (void)curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                                       (curl_off_t)req->body_len);
                (void)curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, req->body);
        }
        cc = curl_easy_perform(c->easy);
        (void)curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        c->last_status = status;
        c->last_retry_after_ms = x.retry_after_ms;
        if (cc != CURLE_OK) {
                rc = kube_curl_error(cc, x.curl_err, x.overflow, req->method, req->path, req->query,
                                     err);
                goto out;
        }
        if (status < 200 || status >= 300) {
                rc = kube_status_error(status, req->method, req->path, req->query, x.body, x.len,
                                       err);
                goto out;
        }
        rc = parse_body(&x, req->method, req->path, out, err);
out:
        /* Never leave the easy handle pointing at the caller's body or our headers. */
        (void)curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
        (void)curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, NULL);
        kube_xfer_cleanup(&x);
        return rc;
}

int kube_request(struct kube_client *c, const struct kube_request *req, json_t **out,
                 struct errbuf *err)
{
        int rc;

        rc = request_once(c, req, out, err);
        if (rc == -EACCES && c->last_status == 401 && c->have_token_file) {
                struct errbuf ignored;

                /* A rotated token the stat() did not catch (same size and mtime): re-read. */
                if (kube_client_refresh_token(c, &ignored) == 1) {
                        log_debug("token changed after 401, retrying", LOG_STR("path", req->path));
                        rc = request_once(c, req, out, err);
                }
        }
        return rc;
}

int kube_get(struct kube_client *c, const char *path, json_t **out, struct errbuf *err)
{
        struct kube_request req = { .method = "GET", .path = path };

        return kube_request(c, &req, out, err);
}

/* Append "&name=escaped(value)" (or without '&' at the start) to q[size]. */
static int query_add(CURL *h, char *q, size_t size, const char *name, const char *value)
{
        size_t len = strlen(q);
        char *esc;
        int n;

        if (!value)
                return 0;
        esc = curl_easy_escape(h, value, 0);
        if (!esc)
                return -ENOMEM;
        n = snprintf(q + len, size - len, "%s%s=%s", len ? "&" : "", name, esc);
        curl_free(esc);
        return n < 0 || (size_t)n >= size - len ? -EMSGSIZE : 0;
}

int kube_list(struct kube_client *c, const char *path, const char *field_selector,
              const char *label_selector, json_t **out_items, char **out_resource_version,
              struct errbuf *err)
{
        struct kube_request req = { .method = "GET", .path = path };
        json_t *list = NULL;
        json_t *items;
        const char *rv;
        char query[1024] = "";
        char *rv_copy = NULL;
        int rc;

        rc = query_add(c->easy, query, sizeof(query), "fieldSelector", field_selector);
        if (rc == 0)
                rc = query_add(c->easy, query, sizeof(query), "labelSelector", label_selector);
        if (rc < 0) {
                rc = errbuf_set(err, rc, "list %s: %s", path,
                                rc == -ENOMEM ? "out of memory" : "selectors too long");
                goto out;
        }
        req.query = query;
        rc = kube_request(c, &req, &list, err);
        if (rc < 0)
                goto out;
        items = json_object_get(list, "items");
        rv = kube_json_meta_str(list, "resourceVersion");
        if (!json_is_array(items) && !json_is_null(items)) {
                rc = errbuf_set(err, -EPROTO, "list %s: malformed response: no items", path);
                goto out;
        }
        rv_copy = strdup(rv ? rv : "");
        items = json_is_array(items) ? json_incref(items) : json_array();
        if (!rv_copy || !items) {
                json_decref(items);
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        *out_items = items;
        *out_resource_version = rv_copy;
        rv_copy = NULL;
        rc = 0;
out:
        free(rv_copy);
        json_decref(list);
        return rc;
}

/* Serialise 'obj' and send it with 'method' and 'content_type'. */
static int send_json(struct kube_client *c, const char *method, const char *path,
                     const char *content_type, const json_t *obj, json_t **out, struct errbuf *err)
{
        struct kube_request req = { .method = method, .path = path, .content_type = content_type };
        char *body;
        int rc;

        body = json_dumps(obj, JSON_COMPACT);
        if (!body)
                return errbuf_set(err, -ENOMEM, "out of memory");
        req.body = body;
        req.body_len = strlen(body);
        rc = kube_request(c, &req, out, err);
        free(body);
        return rc;
}

int kube_create(struct kube_client *c, const char *path, const json_t *obj, json_t **out,
                struct errbuf *err)
{
        return send_json(c, "POST", path, KUBE_CONTENT_JSON, obj, out, err);
}

int kube_replace(struct kube_client *c, const char *path, const json_t *obj, json_t **out,
                 struct errbuf *err)
{
        const char *rv = kube_json_meta_str(obj, "resourceVersion");

        if (!rv || rv[0] == '\0')
                return errbuf_set(err, -EINVAL, "update %s: metadata.resourceVersion missing",
                                  path);
        return send_json(c, "PUT", path, KUBE_CONTENT_JSON, obj, out, err);
}

int kube_patch(struct kube_client *c, const char *path, const json_t *patch, json_t **out,
               struct errbuf *err)
{
        return send_json(c, "PATCH", path, KUBE_CONTENT_MERGE_PATCH, patch, out, err);
}

int kube_patch_status(struct kube_client *c, const char *path, const json_t *patch, json_t **out,
                      struct errbuf *err)
{
        char sub[KUBE_PATH_MAX + 16];
        int n;

        n = snprintf(sub, sizeof(sub), "%s/status", path);
        if (n < 0 || (size_t)n >= sizeof(sub))
                return errbuf_set(err, -EMSGSIZE, "patch %s/status: path too long", path);
        return send_json(c, "PATCH", sub, KUBE_CONTENT_MERGE_PATCH, patch, out, err);
}

int kube_delete(struct kube_client *c, const char *path, struct errbuf *err)
{
        struct kube_request req = { .method = "DELETE", .path = path };

        return kube_request(c, &req, NULL, err);
}

/* Object and namespace names: non-empty, no characters that change a URL's meaning. */
static bool valid_name(const char *s)
{
        size_t n = strlen(s);
        size_t i;

        if (n == 0 || n > KUBE_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return false;
        for (i = 0; i < n; i++) {
                char ch = s[i];

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == ':'))
                        return false;
        }
        return true;
}

int kube_path(const struct kube_resource *res, const char *ns, const char *name,
              const char *subresource, char *out, size_t size, struct errbuf *err)
{
        const char *parts[] = {
                res->group[0] ? res->group : NULL, res->version, ns, res->plural, name, subresource
        };
        size_t i;
        int n;

        for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
                if (parts[i] && !valid_name(parts[i]))
                        return errbuf_set(err, -EINVAL, "invalid name '%s' in an api path",
                                          parts[i]);
        }
        if (subresource && !name)
                return errbuf_set(err, -EINVAL, "a subresource needs an object name");
        n = snprintf(out, size, "%s%s/%s%s%s/%s%s%s%s%s", res->group[0] ? "/apis/" : "/api",
                     res->group, res->version, ns ? "/namespaces/" : "", ns ? ns : "", res->plural,
                     name ? "/" : "", name ? name : "", subresource ? "/" : "",
                     subresource ? subresource : "");
        if (n < 0 || (size_t)n >= size)
                return errbuf_set(err, -EMSGSIZE, "api path too long");
        return n;
}
