/* SPDX-License-Identifier: Apache-2.0 */
#ifndef LOG_LOG_H
#define LOG_LOG_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Structured logging: one JSON object per line on stderr (or a plain text line), written with a
 * single write(2) of at most LOG_LINE_MAX bytes; long values are truncated. log_emit() never
 * allocates and is safe to call from any thread.
 *
 * Each .c file defines LOG_MODULE before including this header:
 *   #define LOG_MODULE "prune"
 *   #include "log/log.h"
 *   log_info("run finished", LOG_INT("rows", n), LOG_STR("result", "Succeeded"));
 */

#define LOG_LINE_MAX 4096

enum log_level {
        LOG_LEVEL_DEBUG = 0,
        LOG_LEVEL_INFO,
        LOG_LEVEL_WARN,
        LOG_LEVEL_ERROR,
};

enum log_format {
        LOG_FORMAT_JSON = 0,
        LOG_FORMAT_TEXT,
};

enum log_field_type {
        LOG_FIELD_END = 0,
        LOG_FIELD_STR,
        LOG_FIELD_INT,
        LOG_FIELD_DBL,
        LOG_FIELD_BOOL,
        LOG_FIELD_ERRNO,
};

struct log_field {
        const char *key;
        enum log_field_type type;
        union {
                const char *s;
                int64_t i;
                double d;
        } v;
};

#define LOG_STR(k, val) ((struct log_field){ .key = (k), .type = LOG_FIELD_STR, .v.s = (val) })
#define LOG_INT(k, val)                                                                            \
        ((struct log_field){ .key = (k), .type = LOG_FIELD_INT, .v.i = (int64_t)(val) })
#define LOG_DBL(k, val)                                                                            \
        ((struct log_field){ .key = (k), .type = LOG_FIELD_DBL, .v.d = (double)(val) })
#define LOG_BOOL(k, val) ((struct log_field){ .key = (k), .type = LOG_FIELD_BOOL, .v.i = !!(val) })
/* A negative errno code, printed as its description under "errno". */
#define LOG_ERRNO(rc) ((struct log_field){ .key = "errno", .type = LOG_FIELD_ERRNO, .v.i = (rc) })
#define LOG_END       ((struct log_field){ .key = NULL, .type = LOG_FIELD_END })

/* Set the minimum level and the output format. Not thread-safe: call before starting threads. */
void log_setup(enum log_level level, enum log_format format);
/* Parse "debug|info|warn|error" / "json|text". Return 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);
/* True when messages at 'level' are written. */
bool log_enabled(enum log_level level);
/* Redirect output to 'fd' (tests). The default is 2. */
void log_set_fd(int fd);

/* Write one line: fields are struct log_field values terminated by LOG_END. */
void log_emit(enum log_level level, const char *module, const char *msg, ...);

#ifndef LOG_MODULE
#define LOG_MODULE "main"
#endif

#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, LOG_MODULE, __VA_ARGS__, LOG_END)
#define log_info(...)  log_emit(LOG_LEVEL_INFO, LOG_MODULE, __VA_ARGS__, LOG_END)
#define log_warn(...)  log_emit(LOG_LEVEL_WARN, LOG_MODULE, __VA_ARGS__, LOG_END)
#define log_error(...) log_emit(LOG_LEVEL_ERROR, LOG_MODULE, __VA_ARGS__, LOG_END)

#endif
