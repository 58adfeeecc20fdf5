/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation-failure injection by symbol interposition (see failalloc.h): the malloc family is
 * defined here for the whole process, counts and fails while armed, remembers the blocks it
 * handed out, and forwards to the next definition found with dlsym(RTLD_NEXT). Built without
 * sanitizer instrumentation (tests/CMakeLists.txt): it runs before the sanitizer runtime is set.
 */
#include "failalloc.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

typedef void *malloc_fn(size_t size);
typedef void *calloc_fn(size_t n, size_t size);
typedef void *realloc_fn(void *p, size_t size);
typedef void free_fn(void *p);

static malloc_fn *next_malloc;
static calloc_fn *next_calloc;
static realloc_fn *next_realloc;
static free_fn *next_free;

/*
 * Until the constructor below has looked the next definitions up, allocations (the dynamic
 * loader's, other libraries' constructors') come from this pool and are never given back: a
 * dlsym() from inside malloc() at that stage can run before the sanitizer runtime is ready.
 * Each block starts with its size, for realloc().
 */
#define BOOT_BYTES (1u << 20)
static _Alignas(max_align_t) unsigned char boot[BOOT_BYTES];
static size_t boot_used;

static atomic_bool armed;
static atomic_long count;
static atomic_long fail_at;
static atomic_bool injected;

/*
 * The blocks handed out while armed: an open-addressing set of pointers, stored inverted so
 * LeakSanitizer does not take this table for a reference that keeps a leaked block alive.
 * 32768 slots: the calls under test hold a few hundred blocks at most.
 */
#define TRACK_SLOTS 32768u
#define SLOT_FREE   ((uintptr_t)0)
#define SLOT_GONE   ((uintptr_t)1)
static uintptr_t track[TRACK_SLOTS];

/*
 * With FAILALLOC_TRACE set in the environment, where each remembered block and the failed
 * allocation were made, printed when a check fails (backtrace_symbols_fd() never allocates).
 */
#define TRACE_DEPTH 10
static bool tracing;
static void *trace[TRACK_SLOTS][TRACE_DEPTH];
static void *failed_trace[TRACE_DEPTH];
static atomic_long live;
static atomic_flag track_lock = ATOMIC_FLAG_INIT;

static void say(const char *msg)
{
        (void)write(STDERR_FILENO, msg, strlen(msg));
}

static void trace_hint(void)
{
        say("failalloc: run with FAILALLOC_TRACE=1 to see where\n");
}

static void die(const char *msg)
{
        say(msg);
        abort();
}

static void *boot_alloc(size_t size)
{
        size_t align = sizeof(max_align_t);
        size_t n = (size + align - 1) / align * align;
        unsigned char *p;

        if (size > BOOT_BYTES || n + align > BOOT_BYTES - boot_used)
                die("failalloc: bootstrap pool exhausted\n");
        p = boot + boot_used;
        boot_used += n + align;
        memcpy(p, &size, sizeof(size));
        return p + align; /* static storage, still zero: good for calloc too */
}

static size_t boot_size(const void *p)
{
        size_t size;

        memcpy(&size, (const unsigned char *)p - sizeof(max_align_t), sizeof(size));
        return size;
}

static bool is_boot(const void *p)
{
        const unsigned char *c = p;

        return c >= boot && c < boot + sizeof(boot);
}

static void *lookup(const char *name)
{
        void *sym = dlsym(RTLD_NEXT, name);

        if (!sym)
                die("failalloc: no next definition of an allocation function\n");
        return sym;
}

/* After the libraries' constructors, the sanitizer runtime's included. */
__attribute__((constructor)) static void resolve(void)
{
        void *m = lookup("malloc");
        void *c = lookup("calloc");
        void *r = lookup("realloc");
        void *f = lookup("free");

        /* POSIX allows object-to-function pointer conversion for dlsym(); ISO C spells it so. */
        memcpy(&next_calloc, &c, sizeof(c));
        memcpy(&next_realloc, &r, sizeof(r));
        memcpy(&next_free, &f, sizeof(f));
        memcpy(&next_malloc, &m, sizeof(m)); /* last: malloc() tests it */
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): before main(), one thread */
        tracing = getenv("FAILALLOC_TRACE") != NULL;
        if (tracing)
                (void)backtrace(failed_trace, TRACE_DEPTH); /* loads libgcc_s now, not later */
}

static void lock(void)
{
        while (atomic_flag_test_and_set_explicit(&track_lock, memory_order_acquire))
                ;
}

static void unlock(void)
{
        atomic_flag_clear_explicit(&track_lock, memory_order_release);
}

static size_t slot_of(uintptr_t key)
{
        return (size_t)((key >> 4) * UINT64_C(0x9e3779b97f4a7c15) >> 40) & (TRACK_SLOTS - 1);
}

static void track_add(const void *p)
{
        uintptr_t key = ~(uintptr_t)p;
        size_t i;

        lock();
        for (i = slot_of(key); track[i] > SLOT_GONE; i = (i + 1) & (TRACK_SLOTS - 1))
                ;
        track[i] = key;
        if (tracing) {
                memset(trace[i], 0, sizeof(trace[i]));
                (void)backtrace(trace[i], TRACE_DEPTH);
        }
        unlock();
        if (atomic_fetch_add(&live, 1) + 1 >= (long)TRACK_SLOTS / 2)
                die("failalloc: too many live blocks\n");
}

/* Forget 'p'; true when it was remembered. */
static bool track_remove(const void *p)
{
        uintptr_t key = ~(uintptr_t)p;
        bool found = false;
        size_t i;

        if (atomic_load(&live) == 0)
                return false;
        lock();
        for (i = slot_of(key); track[i] != SLOT_FREE; i = (i + 1) & (TRACK_SLOTS - 1)) {
                if (track[i] == key) {
                        track[i] = SLOT_GONE;
                        found = true;
                        break;
                }
        }
        unlock();
        if (found)
                atomic_fetch_sub(&live, 1);
        return found;
}

/* Count one allocation; true when it is the one to fail. */
static bool fail_now(void)
{
        long n;

        if (!atomic_load(&armed))
                return false;
        n = atomic_fetch_add(&count, 1) + 1;
        if (n != atomic_load(&fail_at))
                return false;
        atomic_store(&injected, true);
        if (tracing) {
                memset(failed_trace, 0, sizeof(failed_trace));
                (void)backtrace(failed_trace, TRACE_DEPTH);
        }
        errno = ENOMEM;
        return true;
}

static void *handed_out(void *p, bool keep)
{
        if (p && (keep || atomic_load(&armed)))
                track_add(p);
        return p;
}

/*
 * NOLINTBEGIN(bugprone-reserved-identifier): these definitions replace libc's on purpose, with
 * the parameter names of glibc's declarations.
 */
void *malloc(size_t __size)
{
        if (!next_malloc)
                return boot_alloc(__size);
        if (fail_now())
                return NULL;
        return handed_out(next_malloc(__size), false);
}

void *calloc(size_t __nmemb, size_t __size)
{
        if (!next_malloc) {
                if (__nmemb != 0 && __size > SIZE_MAX / __nmemb)
                        return NULL;
                return boot_alloc(__nmemb * __size);
        }
        if (fail_now())
                return NULL;
        return handed_out(next_calloc(__nmemb, __size), false);
}

void free(void *__ptr)
{
        if (!__ptr || is_boot(__ptr))
                return;
        (void)track_remove(__ptr);
        next_free(__ptr);
}

void *realloc(void *__ptr, size_t __size)
{
        void *q;

        if (!__ptr)
                return malloc(__size);
        if (is_boot(__ptr)) {
                size_t old = boot_size(__ptr);

                q = malloc(__size); /* the pool never shrinks: copy out */
                if (q)
                        memcpy(q, __ptr, __size < old ? __size : old);
                return q;
        }
        if (__size == 0) {
                free(__ptr); /* glibc's (and AddressSanitizer's default) realloc(p, 0) */
                return NULL;
        }
        if (fail_now())
                return NULL;
        q = next_realloc(__ptr, __size);
        if (!q)
                return NULL;
        /* A block remembered before stays remembered under its new address. */
        return handed_out(q, track_remove(__ptr));
}

void *reallocarray(void *__ptr, size_t __nmemb, size_t __size)
{
        if (__nmemb != 0 && __size > SIZE_MAX / __nmemb) {
                errno = ENOMEM;
                return NULL;
        }
        if (__nmemb == 0 || __size == 0) {
                free(__ptr); /* as realloc(p, 0) */
                return NULL;
        }
        return realloc(__ptr, __nmemb * __size);
}

/* Defined here, not forwarded: AddressSanitizer's own strdup would bypass malloc above. */
char *strdup(const char *__s)
{
        size_t n = strlen(__s) + 1;
        char *p = malloc(n);

        if (p)
                memcpy(p, __s, n);
        return p;
}

char *strndup(const char *__string, size_t __n)
{
        size_t n = strnlen(__string, __n);
        char *p = malloc(n + 1);

        if (p) {
                memcpy(p, __string, n);
                p[n] = '\0';
        }
        return p;
}
/* NOLINTEND(bugprone-reserved-identifier) */

void failalloc_arm(long n)
{
        lock();
        memset(track, 0, sizeof(track)); /* forget earlier blocks, drop the tombstones */
        atomic_store(&live, 0);
        unlock();
        atomic_store(&count, 0);
        atomic_store(&fail_at, n);
        atomic_store(&injected, false);
        atomic_store(&armed, true);
}

void failalloc_disarm(void)
{
        atomic_store(&armed, false);
}

long failalloc_count(void)
{
        return atomic_load(&count);
}

bool failalloc_injected(void)
{
        return atomic_load(&injected);
}

long failalloc_live(void)
{
        return atomic_load(&live);
}

static void print_trace(void *const *frames)
{
        int n = 0;

        while (n < TRACE_DEPTH && frames[n])
                n++;
        backtrace_symbols_fd(frames, n, STDERR_FILENO);
}

void failalloc_report(void)
{
        if (!tracing) {
                trace_hint();
                return;
        }
        if (atomic_load(&injected)) {
                say("failalloc: the failed allocation:\n");
                print_trace(failed_trace);
        }
        for (size_t i = 0; i < TRACK_SLOTS; i++) {
                if (track[i] > SLOT_GONE) {
                        say("failalloc: a live block:\n");
                        print_trace(trace[i]);
                }
        }
}

long failalloc_each(failalloc_call_fn *call, failalloc_check_fn *check, void *userdata)
{
        long total;
        int rc;

        rc = call(userdata);
        check(rc, false, userdata);

        failalloc_arm(0);
        rc = call(userdata);
        failalloc_disarm();
        total = failalloc_count();
        check(rc, false, userdata);
        if (failalloc_live() != 0) {
                failalloc_report();
                fail_msg("a complete call left %ld blocks allocated", failalloc_live());
        }

        for (long n = 1; n <= total; n++) {
                failalloc_arm(n);
                rc = call(userdata);
                failalloc_disarm();
                /* The same input takes the same path: allocation n is reached every time. */
                assert_true(failalloc_injected());
                if (rc == 0)
                        failalloc_report(); /* check() will say what is wrong with that */
                check(rc, true, userdata);
                if (failalloc_live() != 0) {
                        failalloc_report();
                        fail_msg("allocation %ld of %ld failed: %ld blocks leaked", n, total,
                                 failalloc_live());
                }
        }
        return total;
}
