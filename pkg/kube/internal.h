/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KUBE_INTERNAL_H
#define KUBE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "kube/kube.h"

struct errbuf;

/* "2026-01-02T03:04:05Z" (metav1.Time) and "2026-01-02T03:04:05.123000Z" (metav1.MicroTime). */
#define KUBE_TIME_LEN 40
void kube_time_format(int64_t wall_ms, bool micro, char *out, size_t size);

/* Strict base64 (RFC 4648, padding optional, whitespace ignored). '*out' malloc'd, NUL-ended. */
int kube_base64_decode(const char *s, size_t len, char **out, size_t *out_len);

/* Free a secret after wiping it. Accepts NULL. */
void kube_free_secret(char *s, size_t len);
/* strdup that keeps NULL as NULL; -ENOMEM is reported as a NULL result for a non-NULL src. */
int kube_strdup_opt(const char *src, char **out);

/* The string at 'key' of object 'o', or NULL when missing or not a string. Borrowed. */
const char *kube_json_str(const json_t *o, const char *key);
/* metadata.<key> as a string, or NULL. Borrowed. */
const char *kube_json_meta_str(const json_t *obj, const char *key);

/* -ENOMEM when jansson failed for lack of memory, else -EPROTO (malformed input). */
int kube_json_errno(const json_error_t *jerr);
/*
 * Parse JSON text from outside, duplicate keys rejected. Returns a new reference, or NULL with
 * jerr->text set and '*out_code' -ENOMEM (an allocation failed during the parse: the result
 * cannot be trusted, see base/memguard.h) or -EPROTO (malformed).
 */
json_t *kube_json_load(const char *text, size_t len, json_error_t *jerr, int *out_code);
/* True when s[0..len) is well-formed UTF-8 (what jansson accepts in strings). */
bool kube_utf8_valid(const char *s, size_t len);

/* Default random source: xorshift64* on '*state' (seeded from the clock and the pid). */
uint64_t kube_rng_next(uint64_t *state);
uint64_t kube_rng_seed(void);

struct kube_client {
        struct kube_config cfg; /* deep copy */
        struct kube_token_file token_file;
        bool have_token_file;
        CURL *easy; /* blocking requests; reused for keep-alive */
        long last_status;
        int64_t last_retry_after_ms;
        bool http2;
        char user_agent[64];
};

/* Per-transfer response state shared by blocking requests and watches. */
struct kube_xfer {
        struct kube_client *client;
        char *body;
        size_t len;
        size_t cap;
        size_t max;
        bool overflow;
        int64_t retry_after_ms;
        struct curl_slist *headers; /* owned; lives until the transfer ends */
        char curl_err[CURL_ERROR_SIZE];
        char url[KUBE_PATH_MAX + 2048];
};

void kube_xfer_init(struct kube_xfer *x, struct kube_client *c, size_t max);
void kube_xfer_cleanup(struct kube_xfer *x);
/* Append response bytes, bounded by x->max (sets overflow). 0 or -EMSGSIZE/-ENOMEM. */
int kube_xfer_append(struct kube_xfer *x, const char *p, size_t len);

/*
 * Configure 'h' (after curl_easy_reset) for a request: URL, method, TLS, auth (refreshing a
 * token file), User-Agent, timeouts, the header callback into 'x' and, unless 'stream' is set,
 * the body into 'x'. A stream sets its own write callback afterwards.
 */
int kube_client_setup(struct kube_client *c, CURL *h, struct kube_xfer *x, const char *method,
                      const char *path, const char *query, const char *content_type,
                      int64_t timeout_ms, bool stream, struct errbuf *err);
/* Map a libcurl failure of a request to an errno with a message naming the request. */
int kube_curl_error(CURLcode code, const char *curl_msg, bool overflow, const char *method,
                    const char *path, const char *query, struct errbuf *err);
/* Force a re-read of the token file; 1 when the token changed, 0 when not, negative errno. */
int kube_client_refresh_token(struct kube_client *c, struct errbuf *err);

/* Read a whole file bounded by 'max' into a malloc'd NUL-terminated buffer. */
int kube_read_file(const char *path, size_t max, char **out, size_t *out_len, struct errbuf *err);

#endif
