/* SPDX-License-Identifier: Apache-2.0 */
/* A malloc() that counts its failures per thread, for jansson's allocator hook. */
#include "base/memguard.h"

#include <stdlib.h>

static _Thread_local unsigned long failures;

void *memguard_malloc(size_t size)
{
        void *p = malloc(size);

        if (!p)
                failures++;
        return p;
}

unsigned long memguard_failures(void)
{
        return failures;
}
