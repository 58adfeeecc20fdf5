/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_POLICY_TEST_H
#define TESTS_POLICY_TEST_H

/* The allocation-failure group (test_policy_alloc.c); returns the number of failed tests. */
int run_alloc_tests(void);

#endif
