/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_FAILALLOC_H
#define TESTS_FAILALLOC_H

#include <stdbool.h>

/*
 * Allocation-failure injection (STYLE.md section 10). A test executable that links failalloc.c
 * replaces malloc, calloc, realloc, reallocarray, free, strdup and strndup for the whole
 * process by symbol interposition, so the allocations of the code under test are seen wherever
 * they happen: in our static libraries, in libc (asprintf, fopen, ...) and inside shared
 * libraries such as libyaml and jansson, which -Wl,--wrap cannot reach. The replacements decide
 * and count, then call the next definition (dlsym(RTLD_NEXT)): libc's allocator, or
 * AddressSanitizer's in the sanitizer build, which keeps checking and leak-tracking every block.
 *
 * Disarmed, the replacements only forward. Armed, they count every allocation (a realloc is
 * one, a free none), fail the chosen one with ENOMEM, and remember each block handed out until
 * it is freed, so a test can tell that a failed call released everything it had allocated.
 * Meant for single-threaded tests: allocations of other threads while armed are counted too.
 */

/*
 * Start counting from zero and forget the blocks remembered so far; the nth allocation from now
 * fails (n == 0: none fails).
 */
void failalloc_arm(long n);
/* Stop counting and failing. Blocks allocated while armed stay remembered until freed. */
void failalloc_disarm(void);
/* Allocations since failalloc_arm(), the failed one included. */
long failalloc_count(void);
/* True when the armed failure happened (the nth allocation was reached and failed). */
bool failalloc_injected(void);
/* Blocks allocated while armed and not freed since. */
long failalloc_live(void);

/*
 * Print where the failed allocation and each live block were made, when FAILALLOC_TRACE is set
 * in the environment (else a hint to set it). For a test that found something wrong.
 */
void failalloc_report(void);

/* Make the call under test once; its result stays in 'userdata'. Returns the call's code. */
typedef int failalloc_call_fn(void *userdata);
/*
 * Check one call's outcome with cmocka asserts: 'rc' is what the call returned, 'injected'
 * whether one of its allocations failed. Free whatever the call returned. Runs disarmed.
 * A call may absorb a failure deep down and still succeed (glibc's asprintf() keeps its buffer
 * when shrinking it fails): its result must then be the complete one.
 */
typedef void failalloc_check_fn(int rc, bool injected, void *userdata);

/*
 * Drive 'call' once disarmed (one-time caches of libc and the libraries warm up and are not
 * mistaken for leaks), once armed without a failure (counting its allocations), then with
 * allocation n failing for n = 1, 2, ... up to that count; 'check' follows each call. After
 * every check, no block allocated during the call may be live. Returns the number of
 * allocations of a complete call (the failure points covered).
 */
long failalloc_each(failalloc_call_fn *call, failalloc_check_fn *check, void *userdata);

#endif
