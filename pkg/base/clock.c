/* SPDX-License-Identifier: Apache-2.0 */
/* Clock readings, interruptible sleeps and RFC 3339 formatting. */
#include "base/clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

static int64_t read_ns(clockid_t id)
{
        struct timespec ts;

        (void)clock_gettime(id, &ts);
        return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_mono_ns(void)
{
        return read_ns(CLOCK_MONOTONIC);
}

int64_t clock_mono_ms(void)
{
        return read_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t clock_wall_ms(void)
{
        return read_ns(CLOCK_REALTIME) / 1000000;
}

void clock_sleep_ms(int64_t ms, const volatile int *stop)
{
        /* Sleep in slices so a stop request is noticed within 50 ms. */
        int64_t end = clock_mono_ms() + ms;

        while (!(stop && *stop)) {
                int64_t left = end - clock_mono_ms();
                struct timespec ts;

                if (left <= 0)
                        break;
                if (left > 50)
                        left = 50;
                ts.tv_sec = left / 1000;
                ts.tv_nsec = (left % 1000) * 1000000;
                (void)nanosleep(&ts, NULL);
        }
}

const char *clock_format_rfc3339(int64_t wall_ms, char *out, unsigned size)
{
        time_t t = (time_t)(wall_ms / 1000);
        struct tm tm;

        if (!gmtime_r(&t, &tm)) {
                (void)snprintf(out, size, "invalid");
                return out;
        }
        (void)strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return out;
}
