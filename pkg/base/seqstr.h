/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BASE_SEQSTR_H
#define BASE_SEQSTR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A short string that one thread replaces and other threads read without taking a lock
 * (a sequence lock). The bytes live in atomic words, so a reader never races with the writer
 * in the C11 sense; a reader that overlaps a write retries and always returns one complete
 * value, never a mix of two. Writers must be serialised by the caller (one writer at a time);
 * readers never block writers and writers never wait for readers.
 */

#define SEQSTR_MAX 512 /* capacity in bytes, terminator included */

struct seqstr {
        atomic_uint seq; /* odd while a write is in progress */
        atomic_uint len;
        _Atomic uint64_t words[SEQSTR_MAX / 8];
};

/* Initialise to the empty string. Not concurrent with anything. */
void seqstr_init(struct seqstr *s);

/*
 * Replace the contents with the bytes p[0..len). 'len' must be below SEQSTR_MAX (asserted);
 * the bytes may contain NULs. One writer at a time.
 */
void seqstr_set(struct seqstr *s, const char *p, size_t len);

/*
 * Copy the current contents into 'out' (at most size - 1 bytes, then a terminator) and return
 * the full length of the value. Lock-free; retries while a write is in progress.
 */
size_t seqstr_get(const struct seqstr *s, char *out, size_t size);

#endif
