/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BASE_MEMGUARD_H
#define BASE_MEMGUARD_H

#include <stddef.h>

/*
 * An allocation function that remembers its failures, for libraries that do not report every
 * one. jansson's lexer drops a byte when its token buffer cannot grow and carries on (2.14,
 * lex_save() ignores strbuffer_append_byte()), so one transient allocation failure while
 * parsing can yield a valid document with an altered string ("v1alpha1" read as "v1apha1",
 * "30d" as "3d"); other failures come back as syntax errors. main() installs it with
 * json_set_alloc_funcs(memguard_malloc, free); a parser of JSON text compares
 * memguard_failures() before and after the call and treats any failure in between as
 * -ENOMEM, whatever jansson returned. Without it installed the count stays 0.
 */

/* malloc(), counting each failure in a per-thread counter. Any thread. */
void *memguard_malloc(size_t size);

/* The failures of memguard_malloc() on the calling thread so far. */
unsigned long memguard_failures(void);

#endif
