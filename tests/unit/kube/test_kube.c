/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of pkg/kube: the entry point and file helpers shared by the groups in
 * test_config.c, test_client.c, test_watch.c and test_helpers.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/memguard.h"
#include "kube/kube.h"
#include "kube_test.h"

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

        /* As main() does: a JSON parse that lost an allocation is -ENOMEM. */
        json_set_alloc_funcs(memguard_malloc, free);
        assert_int_equal(kube_global_init(NULL), 0);
        failed += run_config_tests();
        failed += run_client_tests();
        failed += run_watch_tests();
        failed += run_helper_tests();
        kube_global_cleanup();
        return failed == 0 ? 0 : 1;
}
