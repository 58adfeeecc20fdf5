/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BASE_STR_H
#define BASE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Checked conversions and small string helpers. The parsers take the whole string: leading or
 * trailing junk, an empty string, a sign where none is allowed and overflow are all -EINVAL
 * (overflow: -ERANGE), and '*out' is written only on success.
 */
int str_to_u64(const char *s, uint64_t *out);
int str_to_i64(const char *s, int64_t *out);
/* Same, for a (p, len) slice that need not be NUL-terminated. */
int str_to_u64_n(const char *p, size_t len, uint64_t *out);

/* True when 's' starts with 'prefix' / ends with 'suffix'. */
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);

/* Copy at most size-1 bytes and terminate; returns strlen(src) like strlcpy. */
size_t str_copy(char *dst, const char *src, size_t size);

/* Format a byte count for humans ("1.5 MiB") into 'out'. Returns 'out'. */
const char *str_human_bytes(uint64_t bytes, char *out, size_t size);

#endif
