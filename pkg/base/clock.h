/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BASE_CLOCK_H
#define BASE_CLOCK_H

#include <stdint.h>

/*
 * Time sources. Monotonic time measures durations and timeouts; wall time is what rows in the
 * database are compared against. Both are plain functions so tests can pass fixed values to the
 * code that consumes them instead of reading clocks.
 */

/* CLOCK_MONOTONIC in milliseconds / nanoseconds. */
int64_t clock_mono_ms(void);
int64_t clock_mono_ns(void);
/* CLOCK_REALTIME in milliseconds since the Unix epoch. */
int64_t clock_wall_ms(void);
/* Sleep for 'ms' milliseconds, resuming after signals; returns early only when *stop != 0. */
void clock_sleep_ms(int64_t ms, const volatile int *stop);
/* Format a wall time (ms since epoch) as RFC 3339 UTC with seconds, "2026-01-02T03:04:05Z". */
const char *clock_format_rfc3339(int64_t wall_ms, char *out, unsigned size);

#endif
