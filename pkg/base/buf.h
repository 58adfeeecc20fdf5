/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BASE_BUF_H
#define BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growable byte buffer with a hard maximum. 'data' is always NUL-terminated (the terminator
 * is not counted in 'len'), so a buffer of text can be passed as a C string. Growing past 'max'
 * fails with -EMSGSIZE and leaves the buffer unchanged.
 */
struct buf {
        char *data; /* owned; NULL until the first append */
        size_t len;
        size_t cap;
        size_t max;
};

/* Initialise an empty buffer that may hold at most 'max' bytes. */
void buf_init(struct buf *b, size_t max);
/* Release the memory; the buffer is empty and reusable afterwards. Accepts NULL. */
void buf_cleanup(struct buf *b);
/* Drop the contents, keep the memory. */
void buf_reset(struct buf *b);
/* Append bytes. Returns 0, -ENOMEM or -EMSGSIZE. */
int buf_append(struct buf *b, const void *p, size_t len);
/* Append a NUL-terminated string. */
int buf_append_str(struct buf *b, const char *s);
/* Append formatted text. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Remove the first 'n' bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Hand the data to the caller (free() it) and reset the buffer. Returns "" copy when empty. */
char *buf_steal(struct buf *b);

#endif
