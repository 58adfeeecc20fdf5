/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded growable byte buffer, always NUL-terminated. */
#include "base/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
        b->data = NULL;
        b->len = 0;
        b->cap = 0;
        b->max = max;
}

void buf_cleanup(struct buf *b)
{
        if (!b)
                return;
        free(b->data);
        b->data = NULL;
        b->len = 0;
        b->cap = 0;
}

void buf_reset(struct buf *b)
{
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

/* Make room for 'extra' more bytes plus the terminator. */
static int reserve(struct buf *b, size_t extra)
{
        size_t need;
        size_t cap;
        char *p;

        if (extra > b->max || b->len > b->max - extra)
                return -EMSGSIZE;
        need = b->len + extra + 1;
        if (need <= b->cap)
                return 0;
        cap = b->cap ? b->cap : 64;
        while (cap < need)
                cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        if (cap > b->max + 1)
                cap = b->max + 1;
        p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

int buf_append(struct buf *b, const void *p, size_t len)
{
        int rc;

        rc = reserve(b, len);
        if (rc < 0)
                return rc;
        if (len > 0)
                memcpy(b->data + b->len, p, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
        return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
        va_list ap2;
        int n;
        int rc;

        va_copy(ap2, ap);
        n = vsnprintf(NULL, 0, fmt, ap2);
        va_end(ap2);
        if (n < 0)
                return -EINVAL;
        rc = reserve(b, (size_t)n);
        if (rc < 0)
                return rc;
        (void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
        return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
        va_list ap;
        int rc;

        va_start(ap, fmt);
        rc = buf_vprintf(b, fmt, ap);
        va_end(ap);
        return rc;
}

void buf_consume(struct buf *b, size_t n)
{
        if (n >= b->len) {
                buf_reset(b);
                return;
        }
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
        b->data[b->len] = '\0';
}

char *buf_steal(struct buf *b)
{
        char *p = b->data;

        if (!p)
                return strdup("");
        b->data = NULL;
        b->len = 0;
        b->cap = 0;
        return p;
}
