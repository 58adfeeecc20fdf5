/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Structured log lines. Each line is formatted into a stack buffer and written with one write(2)
 * so concurrent writers never interleave; values that do not fit are truncated, and the line is
 * always closed properly.
 */
#include "log/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_LEVEL_INFO;
static enum log_format out_format = LOG_FORMAT_JSON;
static int out_fd = 2;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_level level, enum log_format format)
{
        min_level = level;
        out_format = format;
}

void log_set_fd(int fd)
{
        out_fd = fd;
}

bool log_enabled(enum log_level level)
{
        return level >= min_level;
}

int log_level_parse(const char *s, enum log_level *out)
{
        for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
                if (strcmp(s, level_names[i]) == 0) {
                        *out = (enum log_level)i;
                        return 0;
                }
        }
        return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
        if (strcmp(s, "json") == 0) {
                *out = LOG_FORMAT_JSON;
                return 0;
        }
        if (strcmp(s, "text") == 0) {
                *out = LOG_FORMAT_TEXT;
                return 0;
        }
        return -EINVAL;
}

/* A cursor into the line buffer; 'reserve' bytes stay free for the closing characters. */
struct line {
        char buf[LOG_LINE_MAX];
        size_t len;
        size_t limit;
};

static void put(struct line *l, const char *s, size_t n)
{
        if (n > l->limit - l->len)
                n = l->limit - l->len;
        memcpy(l->buf + l->len, s, n);
        l->len += n;
}

static void put_str(struct line *l, const char *s)
{
        put(l, s, strlen(s));
}

/* Append 's' as the body of a JSON string (escaped), or raw for text output. */
static void put_escaped(struct line *l, const char *s, bool json)
{
        static const char hex[] = "0123456789abcdef";

        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                char esc[6];
                size_t n = 1;

                esc[0] = (char)c;
                if (!json && c < 0x20) {
                        esc[0] = ' ';
                } else if (json && (c == '"' || c == '\\')) {
                        esc[0] = '\\';
                        esc[1] = (char)c;
                        n = 2;
                } else if (json && c < 0x20) {
                        esc[0] = '\\';
                        esc[1] = 'u';
                        esc[2] = '0';
                        esc[3] = '0';
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        n = 6;
                }
                if (n > l->limit - l->len)
                        break; /* truncate on a whole character escape */
                put(l, esc, n);
        }
}

static void put_value(struct line *l, const struct log_field *f, bool json)
{
        char num[64];

        switch (f->type) {
        case LOG_FIELD_STR:
        case LOG_FIELD_ERRNO: {
                const char *s = f->v.s;
                /* cppcheck-suppress variableScope ; s may point into ebuf after strerror_r */
                char ebuf[64];

                if (f->type == LOG_FIELD_ERRNO)
                        s = strerror_r((int)-f->v.i, ebuf, sizeof(ebuf));
                if (!s) {
                        put_str(l, json ? "null" : "-");
                        return;
                }
                if (json)
                        put_str(l, "\"");
                l->limit -= 1; /* keep room for the closing quote */
                put_escaped(l, s, json);
                l->limit += 1;
                if (json)
                        put_str(l, "\"");
                return;
        }
        case LOG_FIELD_INT:
                (void)snprintf(num, sizeof(num), "%lld", (long long)f->v.i);
                break;
        case LOG_FIELD_DBL:
                (void)snprintf(num, sizeof(num), "%.6g", f->v.d);
                break;
        case LOG_FIELD_BOOL:
                (void)snprintf(num, sizeof(num), "%s", f->v.i ? "true" : "false");
                break;
        case LOG_FIELD_END:
                return;
        }
        put_str(l, num);
}

void log_emit(enum log_level level, const char *module, const char *msg, ...)
{
        bool json = out_format == LOG_FORMAT_JSON;
        struct line l;
        struct timespec ts;
        struct tm tm;
        char stamp[96];
        va_list ap;
        int saved = errno;

        if (level < min_level)
                return;
        l.len = 0;
        l.limit = sizeof(l.buf) - 3; /* room for "}\n" */
        (void)clock_gettime(CLOCK_REALTIME, &ts);
        (void)gmtime_r(&ts.tv_sec, &tm);
        (void)snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                       tm.tm_sec, ts.tv_nsec / 1000000);
        if (json) {
                put_str(&l, "{\"ts\":\"");
                put_str(&l, stamp);
                put_str(&l, "\",\"level\":\"");
                put_str(&l, level_names[level]);
                put_str(&l, "\",\"module\":\"");
                put_escaped(&l, module, true);
                put_str(&l, "\",\"msg\":\"");
                put_escaped(&l, msg, true);
                put_str(&l, "\"");
        } else {
                put_str(&l, stamp);
                put_str(&l, " ");
                put_str(&l, level_names[level]);
                put_str(&l, " ");
                put_str(&l, module);
                put_str(&l, ": ");
                put_str(&l, msg);
        }
        va_start(ap, msg);
        for (;;) {
                struct log_field f = va_arg(ap, struct log_field);

                if (f.type == LOG_FIELD_END)
                        break;
                if (l.limit - l.len < 80)
                        continue; /* no room for another whole field: drop it */
                if (json) {
                        put_str(&l, ",\"");
                        put_escaped(&l, f.key, true);
                        put_str(&l, "\":");
                } else {
                        put_str(&l, " ");
                        put_str(&l, f.key);
                        put_str(&l, "=");
                }
                put_value(&l, &f, json);
        }
        va_end(ap);
        l.limit = sizeof(l.buf);
        if (json)
                put_str(&l, "}");
        put_str(&l, "\n");
        (void)!write(out_fd, l.buf, l.len);
        errno = saved;
}
