/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_PRUNE_CASES_H
#define TESTS_PRUNE_CASES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "policy/policy.h"
#include "prune/prune.h"
#include "testdb.h"

/*
 * The rule cases shared by every backend. Each case gets a fresh database of its backend with
 * a permissive policy (activeWindow 30m, no pause) and prunes it as of KDB_NOW_MS.
 */

struct fx {
        enum kdb_backend backend;
        struct kdb *k;
        struct policy p;
        char buf[4096];
};

/* Fill 'out' with the cases for backend 'b' (setup and teardown included); returns the count. */
size_t prune_cases_tests(enum kdb_backend b, struct CMUnitTest *out, size_t cap);

/* The fixture of the cases, for backend-specific tests: *state points at an enum kdb_backend. */
int prune_case_setup(void **state);
int prune_case_teardown(void **state);
/* Open the store, run the policy as of KDB_NOW_MS, close; fails the test on a failed run. */
struct prune_result prune_case_run(struct fx *f, bool dry);
/* A session idle for 'ago' with three events, a checkpoint and its write, CrewAI rows. */
void prune_case_session(struct kdb *k, const char *sid, const char *user, int64_t ago);
/* Every table's primary keys as one string (free() it), to prove nothing changed. */
char *prune_case_snapshot(struct kdb *k);

#endif
