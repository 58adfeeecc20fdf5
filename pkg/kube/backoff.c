/* SPDX-License-Identifier: Apache-2.0 */
/* Capped exponential backoff with "equal jitter": delays in [d/2, d], d doubling up to a cap. */
#include <assert.h>

#include "kube/internal.h"
#include "kube/kube.h"

void kube_backoff_init(struct kube_backoff *b, int64_t initial_ms, int64_t max_ms, kube_rng_fn *rng,
                       void *rng_userdata)
{
        assert(initial_ms > 0 && max_ms >= initial_ms);
        b->initial_ms = initial_ms;
        b->max_ms = max_ms;
        b->attempt = 0;
        b->rng = rng;
        b->rng_userdata = rng_userdata;
        b->rng_state = rng ? 0 : kube_rng_seed();
}

void kube_backoff_reset(struct kube_backoff *b)
{
        b->attempt = 0;
}

uint64_t kube_backoff_uniform(struct kube_backoff *b, uint64_t n)
{
        uint64_t r;

        assert(n > 0);
        r = b->rng ? b->rng(b->rng_userdata) : kube_rng_next(&b->rng_state);
        /* The modulo bias is below n / 2^64: irrelevant for delays of at most minutes. */
        return r % n;
}

int64_t kube_backoff_next(struct kube_backoff *b)
{
        int64_t d = b->initial_ms;
        unsigned i;

        /* Doubling stops at the cap, so 'd' never overflows however many attempts failed. */
        for (i = 0; i < b->attempt && d < b->max_ms; i++)
                d = d > b->max_ms / 2 ? b->max_ms : d * 2;
        if (d > b->max_ms)
                d = b->max_ms;
        if (b->attempt < 64)
                b->attempt++;
        return d - d / 2 + (int64_t)kube_backoff_uniform(b, (uint64_t)(d / 2) + 1);
}
