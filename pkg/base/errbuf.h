/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BASE_ERRBUF_H
#define BASE_ERRBUF_H

/*
 * Error detail that travels beside a negative errno return code. Functions take an optional
 * 'struct errbuf *err' as their last argument (NULL allowed) and fill it on every negative
 * return: one line, lower case, no final period, user data quoted.
 */
struct errbuf {
        int code;      /* negative errno; 0 while unset */
        char msg[256]; /* one line, no trailing newline */
};

/* Reset 'err' to the unset state. 'err' may be NULL. */
void errbuf_clear(struct errbuf *err);

/* Record an error and return 'code':  return errbuf_set(err, -EINVAL, "...", ...); */
int errbuf_set(struct errbuf *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with context ("context: old message") and return 'code'. */
int errbuf_wrap(struct errbuf *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* The message of 'err', or a description of 'code' when no message was recorded. Borrowed. */
const char *errbuf_msg(const struct errbuf *err);

#endif
