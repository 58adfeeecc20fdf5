/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_KUBE_TEST_H
#define TESTS_KUBE_TEST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Shared helpers of the pkg/kube unit tests: each test_*.c file runs its own cmocka group
 * through run_*_tests() and test_kube.c's main() adds up the failures. The fake API server is in
 * fakeapi.h.
 */

/* A fresh temporary directory (caller frees with tmpdir_remove). */
void tmpdir_make(char *out, size_t size);
void tmpdir_remove(const char *dir);
/* Write 'text' to dir/name (replaced atomically through a rename when 'rename_in' is set). */
void write_file(const char *dir, const char *name, const char *text, int rename_in);

int run_config_tests(void);
int run_client_tests(void);
int run_watch_tests(void);
int run_helper_tests(void);

#endif
