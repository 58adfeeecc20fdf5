/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KUBE_INTERNAL_H
#define KUBE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* True when s[0..len) is well-formed UTF-8 (what jansson accepts in strings). */
bool kube_utf8_valid(const char *s, size_t len);

/* Default random source: xorshift64* on '*state' (seeded from the clock and the pid). */
uint64_t kube_rng_next(uint64_t *state);
uint64_t kube_rng_seed(void);

/* Read a whole file bounded by 'max' into a malloc'd NUL-terminated buffer. */
int kube_read_file(const char *path, size_t max, char **out, size_t *out_len, struct errbuf *err);

#endif
