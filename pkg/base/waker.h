/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BASE_WAKER_H
#define BASE_WAKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * A wake-up for one sleeping thread, sent by another thread or by a signal handler: an eventfd
 * plus a pending flag. The sleeper blocks in poll() for the whole interval instead of waking in
 * short slices to look at flags, so an idle process costs no CPU.
 */
struct waker {
        int fd; /* eventfd; -1 before waker_init */
        atomic_int pending;
};

/* Create the eventfd. Returns 0 or a negative errno. */
int waker_init(struct waker *w);
/* Close it. Call only on a waker that went through waker_init (fd is -1 if that failed). */
void waker_cleanup(struct waker *w);
/* Wake the sleeper (now or its next wait). Async-signal-safe. */
void waker_signal(struct waker *w);
/* Has a wake-up been sent since the last waker_take()? */
bool waker_pending(struct waker *w);
/* Consume the wake-up: returns whether one was pending and clears it. */
bool waker_take(struct waker *w);
/* Sleep until a wake-up is pending, a signal interrupts, or 'ms' milliseconds pass. */
void waker_wait_ms(struct waker *w, int64_t ms);

#endif
