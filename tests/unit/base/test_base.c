/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of pkg/base (errbuf, buf, str) and pkg/log line formatting. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/errbuf.h"
#include "base/seqstr.h"
#include "base/str.h"
#include "base/waker.h"
#define LOG_MODULE "test"
#include "log/log.h"

static void test_errbuf(void **state)
{
        struct errbuf err;

        (void)state;
        errbuf_clear(&err);
        assert_int_equal(errbuf_set(&err, -EINVAL, "bad '%s'", "x\ny"), -EINVAL);
        assert_string_equal(err.msg, "bad 'x y'");
        assert_int_equal(errbuf_wrap(&err, -EIO, "policy '%s'", "p"), -EIO);
        assert_string_equal(err.msg, "policy 'p': bad 'x y'");
        assert_int_equal(err.code, -EIO);
        assert_int_equal(errbuf_set(NULL, -ENOENT, "ignored"), -ENOENT);
        errbuf_clear(&err);
        err.code = -ENOENT;
        assert_non_null(strstr(errbuf_msg(&err), "No such file"));
}

static void test_buf_bounds(void **state)
{
        struct buf b;

        (void)state;
        buf_init(&b, 8);
        assert_int_equal(buf_append_str(&b, "abcd"), 0);
        assert_int_equal(buf_printf(&b, "%d", 1234), 0);
        assert_string_equal(b.data, "abcd1234");
        assert_int_equal(buf_append_str(&b, "x"), -EMSGSIZE);
        assert_int_equal(b.len, 8);
        buf_consume(&b, 3);
        assert_string_equal(b.data, "d1234");
        buf_cleanup(&b);
}

static void test_str_numbers(void **state)
{
        uint64_t u = 7;
        int64_t i = 7;

        (void)state;
        assert_int_equal(str_to_u64("18446744073709551615", &u), 0);
        assert_true(u == UINT64_MAX);
        assert_int_equal(str_to_u64("18446744073709551616", &u), -ERANGE);
        assert_int_equal(str_to_u64("12x", &u), -EINVAL);
        assert_int_equal(str_to_u64("", &u), -EINVAL);
        assert_int_equal(str_to_u64("-1", &u), -EINVAL);
        assert_true(u == UINT64_MAX); /* untouched on failure */
        assert_int_equal(str_to_i64("-9223372036854775808", &i), 0);
        assert_true(i == INT64_MIN);
        assert_int_equal(str_to_i64("9223372036854775808", &i), -ERANGE);
        assert_true(str_has_suffix("kagent.db-wal", "-wal"));
        assert_false(str_has_prefix("kag", "kagent"));
}

/* A sequence-locked string reads back what was set, truncated to the buffer, NULs kept. */
static void test_seqstr_reads_back_the_last_value_set(void **state)
{
        struct seqstr s;
        char out[8];

        (void)state;
        seqstr_init(&s);
        assert_int_equal(seqstr_get(&s, out, sizeof(out)), 0);
        assert_string_equal(out, "");
        seqstr_set(&s, "hello, world", 12);
        assert_int_equal(seqstr_get(&s, out, sizeof(out)), 12);
        assert_string_equal(out, "hello, ");
        seqstr_set(&s, "a\0b", 3);
        assert_int_equal(seqstr_get(&s, out, sizeof(out)), 3);
        assert_memory_equal(out, "a\0b", 4);
}

/* Every log line is one valid JSON object, even when values are far too long to fit. */
static void test_log_json_lines(void **state)
{
        char big[3 * LOG_LINE_MAX];
        char out[4 * LOG_LINE_MAX];
        int fds[2];
        ssize_t n;
        json_t *line;
        json_error_t jerr;

        (void)state;
        memset(big, '"', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(pipe(fds), 0);
        log_set_fd(fds[1]);
        log_setup(LOG_LEVEL_INFO, LOG_FORMAT_JSON);
        log_debug("hidden");
        log_info("hello", LOG_STR("k", "v\n\"q\""), LOG_INT("n", -5), LOG_BOOL("b", 1));
        log_warn("big", LOG_STR("v", big), LOG_INT("after", 1));
        log_set_fd(2);
        close(fds[1]);
        n = read(fds[0], out, sizeof(out) - 1);
        close(fds[0]);
        assert_true(n > 0);
        out[n] = '\0';
        char *nl = strchr(out, '\n');
        assert_non_null(nl);
        line = json_loadb(out, (size_t)(nl - out), 0, &jerr);
        assert_non_null(line);
        assert_string_equal(json_string_value(json_object_get(line, "msg")), "hello");
        assert_string_equal(json_string_value(json_object_get(line, "k")), "v\n\"q\"");
        assert_int_equal(json_integer_value(json_object_get(line, "n")), -5);
        json_decref(line);
        char *second = nl + 1;
        char *nl2 = strchr(second, '\n');
        assert_non_null(nl2);
        assert_true(nl2 - second <= LOG_LINE_MAX);
        line = json_loadb(second, (size_t)(nl2 - second), 0, &jerr);
        assert_non_null(line);
        assert_string_equal(json_string_value(json_object_get(line, "level")), "warn");
        json_decref(line);
}

#define MINUTE_MS ((int64_t)60 * 1000)

/* A wake-up sent before the wait is not lost, and take() consumes it exactly once. */
static void test_waker_pending_until_taken(void **state)
{
        struct waker w;
        int64_t t0;

        (void)state;
        assert_int_equal(waker_init(&w), 0);
        assert_false(waker_pending(&w));
        assert_false(waker_take(&w));
        waker_signal(&w);
        waker_signal(&w);
        assert_true(waker_pending(&w));
        t0 = clock_mono_ms();
        waker_wait_ms(&w, MINUTE_MS); /* returns at once: a wake-up is pending */
        assert_true(clock_mono_ms() - t0 < MINUTE_MS / 2);
        assert_true(waker_take(&w));
        assert_false(waker_take(&w));
        assert_false(waker_pending(&w));
        waker_wait_ms(&w, 1); /* nothing pending: times out */
        assert_false(waker_pending(&w));
        waker_cleanup(&w);
        assert_int_equal(w.fd, -1);
}

static void *signal_later(void *arg)
{
        struct waker *w = arg;
        struct timespec ts = { 0, (long)50 * 1000 * 1000 };

        (void)nanosleep(&ts, NULL);
        waker_signal(w);
        return NULL;
}

/* Another thread's wake-up ends a long wait (without it the wait would last a minute). */
static void test_waker_ends_a_wait_from_another_thread(void **state)
{
        struct waker w;
        pthread_t th;
        int64_t t0;

        (void)state;
        assert_int_equal(waker_init(&w), 0);
        assert_int_equal(pthread_create(&th, NULL, signal_later, &w), 0);
        t0 = clock_mono_ms();
        while (!waker_pending(&w) && clock_mono_ms() - t0 < MINUTE_MS)
                waker_wait_ms(&w, MINUTE_MS);
        assert_true(waker_take(&w));
        assert_true(clock_mono_ms() - t0 < MINUTE_MS);
        assert_int_equal(pthread_join(th, NULL), 0);
        waker_cleanup(&w);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_errbuf),
                cmocka_unit_test(test_buf_bounds),
                cmocka_unit_test(test_str_numbers),
                cmocka_unit_test(test_log_json_lines),
                cmocka_unit_test(test_seqstr_reads_back_the_last_value_set),
                cmocka_unit_test(test_waker_pending_until_taken),
                cmocka_unit_test(test_waker_ends_a_wait_from_another_thread),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
