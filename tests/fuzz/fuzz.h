/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_FUZZ_H
#define TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Every fuzz target defines this (libFuzzer's entry point). Built with -DFUZZ=ON and clang it
 * links libFuzzer; otherwise driver.c replays the corpus files given on the command line. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the input (free() it); NULL when out of memory. */
char *fuzz_cstr(const uint8_t *data, size_t size);

#endif
