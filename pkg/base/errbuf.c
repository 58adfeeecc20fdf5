/* SPDX-License-Identifier: Apache-2.0 */
/* Error detail buffer: formatting, wrapping with context, and a fallback description. */
#include "base/errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void errbuf_clear(struct errbuf *err)
{
        if (!err)
                return;
        err->code = 0;
        err->msg[0] = '\0';
}

/* Replace control characters so a message always stays on one line. */
static void one_line(char *s)
{
        for (; *s; s++) {
                if ((unsigned char)*s < 0x20)
                        *s = ' ';
        }
}

int errbuf_set(struct errbuf *err, int code, const char *fmt, ...)
{
        va_list ap;

        if (!err)
                return code;
        va_start(ap, fmt);
        (void)vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        one_line(err->msg);
        err->code = code;
        return code;
}

int errbuf_wrap(struct errbuf *err, int code, const char *fmt, ...)
{
        char prefix[sizeof(err->msg)];
        char old[sizeof(err->msg)];
        va_list ap;

        if (!err)
                return code;
        va_start(ap, fmt);
        (void)vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, err->msg, sizeof(old));
        /* Compose with buf-free arithmetic: the result is cut at the buffer's size. */
        {
                size_t n = strlen(prefix);
                size_t cap = sizeof(err->msg) - 1;

                memcpy(err->msg, prefix, n);
                if (old[0] != '\0' && n + 2 < cap) {
                        size_t m = strlen(old);

                        memcpy(err->msg + n, ": ", 2);
                        n += 2;
                        if (m > cap - n)
                                m = cap - n;
                        memcpy(err->msg + n, old, m);
                        n += m;
                }
                err->msg[n] = '\0';
        }
        one_line(err->msg);
        err->code = code;
        return code;
}

const char *errbuf_msg(const struct errbuf *err)
{
        static __thread char desc[64];

        if (err && err->msg[0] != '\0')
                return err->msg;
        if (!err || err->code == 0)
                return "unknown error";
        return strerror_r(-err->code, desc, sizeof(desc));
}
