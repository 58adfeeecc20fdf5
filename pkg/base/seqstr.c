/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sequence-locked short strings: the writer bumps the sequence to odd, stores the bytes as
 * relaxed atomic words and bumps it to even; a reader copies the words between two reads of
 * the sequence and retries when they differ (Boehm, "Can seqlocks get along with programming
 * language memory models?", 2012, fences as in its figure 6).
 */
#include "base/seqstr.h"

#include <assert.h>
#include <sched.h>
#include <string.h>

void seqstr_init(struct seqstr *s)
{
        atomic_init(&s->seq, 0);
        atomic_init(&s->len, 0);
        for (size_t i = 0; i < SEQSTR_MAX / 8; i++)
                atomic_init(&s->words[i], 0);
}

void seqstr_set(struct seqstr *s, const char *p, size_t len)
{
        unsigned seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
        size_t n_words = (len + 7) / 8;

        assert(len < SEQSTR_MAX);
        assert((seq & 1U) == 0);
        atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_release);
        for (size_t i = 0; i < n_words; i++) {
                uint64_t w = 0;
                size_t chunk = len - i * 8 < 8 ? len - i * 8 : 8;

                memcpy(&w, p + i * 8, chunk);
                atomic_store_explicit(&s->words[i], w, memory_order_relaxed);
        }
        atomic_store_explicit(&s->len, (unsigned)len, memory_order_relaxed);
        atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

size_t seqstr_get(const struct seqstr *s, char *out, size_t size)
{
        char tmp[SEQSTR_MAX];
        size_t len;

        for (unsigned spins = 0;; spins++) {
                unsigned before;

                /* A writer preempted mid-write would keep us spinning: let it run. */
                if (spins >= 64)
                        (void)sched_yield();
                before = atomic_load_explicit(&s->seq, memory_order_acquire);
                if ((before & 1U) != 0)
                        continue;
                len = atomic_load_explicit(&s->len, memory_order_relaxed);
                if (len >= SEQSTR_MAX)
                        continue; /* torn: the sequence check below would fail too */
                for (size_t i = 0; i < (len + 7) / 8; i++) {
                        uint64_t w = atomic_load_explicit(&s->words[i], memory_order_relaxed);

                        memcpy(tmp + i * 8, &w, 8);
                }
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&s->seq, memory_order_relaxed) == before)
                        break;
        }
        if (size > 0) {
                size_t n = len < size - 1 ? len : size - 1;

                memcpy(out, tmp, n);
                out[n] = '\0';
        }
        return len;
}
