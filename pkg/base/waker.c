/* SPDX-License-Identifier: Apache-2.0 */
#include "base/waker.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define WAIT_MAX_MS ((int64_t)60 * 60 * 1000) /* poll() takes an int: cap one wait at an hour */

int waker_init(struct waker *w)
{
        atomic_store(&w->pending, 0);
        w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        return w->fd < 0 ? -errno : 0;
}

void waker_cleanup(struct waker *w)
{
        if (w->fd >= 0)
                (void)close(w->fd);
        w->fd = -1;
}

void waker_signal(struct waker *w)
{
        uint64_t one = 1;
        int saved = errno; /* a signal handler must leave errno as it found it */

        atomic_store(&w->pending, 1);
        if (w->fd >= 0)
                (void)!write(w->fd, &one, sizeof(one)); /* the counter saturates: never fails */
        errno = saved;
}

bool waker_pending(struct waker *w)
{
        return atomic_load(&w->pending) != 0;
}

bool waker_take(struct waker *w)
{
        uint64_t n;

        if (w->fd >= 0)
                (void)!read(w->fd, &n, sizeof(n)); /* drain; EAGAIN when nothing was written */
        return atomic_exchange(&w->pending, 0) != 0;
}

void waker_wait_ms(struct waker *w, int64_t ms)
{
        struct pollfd p = { .fd = w->fd, .events = POLLIN };

        if (ms <= 0 || waker_pending(w))
                return;
        if (ms > WAIT_MAX_MS)
                ms = WAIT_MAX_MS;
        /* Without an eventfd (waker_init failed) this is a plain sleep. */
        (void)poll(w->fd >= 0 ? &p : NULL, w->fd >= 0 ? 1 : 0, (int)ms);
}
