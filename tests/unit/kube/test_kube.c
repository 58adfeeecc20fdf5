/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of pkg/kube: the entry point, allocation-failure wrappers and file helpers shared
 * by the groups in test_config.c, test_client.c, test_watch.c and test_helpers.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "kube/kube.h"
#include "kube_test.h"

/* NOLINTBEGIN(bugprone-reserved-identifier,readability-identifier-naming): the linker's names */
void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);

static atomic_long allocs;
static atomic_long fail_at;     /* 0: never fail */
static atomic_bool json_exempt; /* jansson's allocations never fail */

static bool alloc_fails(void)
{
        long n = atomic_fetch_add(&allocs, 1) + 1;
        long f = atomic_load(&fail_at);

        return f > 0 && n == f;
}

void *__wrap_malloc(size_t size)
{
        return alloc_fails() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
        return alloc_fails() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
        return alloc_fails() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
        return alloc_fails() ? NULL : __real_strdup(s);
}
/* NOLINTEND(bugprone-reserved-identifier,readability-identifier-naming) */

static void *json_malloc(size_t size)
{
        return atomic_load(&json_exempt) ? __real_malloc(size) : __wrap_malloc(size);
}

void alloc_json_exempt(bool exempt)
{
        atomic_store(&json_exempt, exempt);
}

void alloc_fail_at(long n)
{
        atomic_store(&allocs, 0);
        atomic_store(&fail_at, n);
}

long alloc_count(void)
{
        return atomic_load(&allocs);
}

void tmpdir_make(char *out, size_t size)
{
        (void)snprintf(out, size, "/tmp/kr-kube-XXXXXX");
        assert_non_null(mkdtemp(out));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

void tmpdir_remove(const char *dir)
{
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): the tests run on one thread */
        (void)nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void write_file(const char *dir, const char *name, const char *text, int rename_in)
{
        char path[512];
        char tmp[600];
        size_t len = strlen(text);
        int fd;

        (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
        (void)snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fd = open(rename_in ? tmp : path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, len), (ssize_t)len);
        assert_int_equal(close(fd), 0);
        if (rename_in)
                assert_int_equal(rename(tmp, path), 0);
}

int main(void)
{
        int failed = 0;

        json_set_alloc_funcs(json_malloc, free);
        assert_int_equal(kube_global_init(NULL), 0);
        failed += run_config_tests();
        failed += run_client_tests();
        failed += run_watch_tests();
        failed += run_helper_tests();
        kube_global_cleanup();
        return failed == 0 ? 0 : 1;
}
