/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of pkg/volume: paths, usage by directory walk, limit precedence, growth forecast. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/errbuf.h"
#include "volume/volume.h"

static void test_dir_of(void **state)
{
        char out[64];

        (void)state;
        volume_dir_of("/sqlite-volume/kagent.db", out, sizeof(out));
        assert_string_equal(out, "/sqlite-volume");
        volume_dir_of("kagent.db", out, sizeof(out));
        assert_string_equal(out, ".");
        volume_dir_of("/kagent.db", out, sizeof(out));
        assert_string_equal(out, "/");
        volume_dir_of("./a/b/c.db", out, sizeof(out));
        assert_string_equal(out, "./a/b");
}

/* A plain directory (not a mount point) is measured by walking it. */
static void test_measure_walk_and_limits(void **state)
{
        char dir[] = "/tmp/kr-vol-XXXXXX";
        char path[128];
        char sub[128];
        struct volume_usage u;
        struct errbuf err;
        char block[65536];
        int fd;

        (void)state;
        assert_non_null(mkdtemp(dir));
        (void)snprintf(path, sizeof(path), "%s/kagent.db", dir);
        (void)snprintf(sub, sizeof(sub), "%s/.cache", dir);
        assert_int_equal(mkdir(sub, 0700), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        memset(block, 'x', sizeof(block));
        for (int i = 0; i < 16; i++) /* 1 MiB */
                assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
        assert_int_equal(fsync(fd), 0);
        close(fd);
        (void)snprintf(path, sizeof(path), "%s/.cache/blob", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
        close(fd);

        errbuf_clear(&err);
        assert_int_equal(volume_measure(dir, 0, 0, 0, &u, &err), 0);
        if (!u.own_filesystem) {
                /* 1 MiB + 64 KiB of data plus a directory block at most. */
                assert_true(u.used_bytes >= 1114112);
                assert_true(u.used_bytes < 1114112 + 256 * 1024);
        }
        assert_int_equal(u.limit_source, VOLUME_LIMIT_FILESYSTEM);
        assert_true(u.limit_bytes == u.fs_size_bytes && u.limit_bytes > 0);

        assert_int_equal(volume_measure(dir, 0, 4 << 20, 0, &u, &err), 0);
        assert_int_equal(u.limit_source, VOLUME_LIMIT_POD);
        assert_int_equal(u.limit_bytes, 4 << 20);
        assert_int_equal(volume_measure(dir, 2 << 20, 4 << 20, (int64_t)512 * 1024, &u, &err), 0);
        assert_int_equal(u.limit_source, VOLUME_LIMIT_SPEC);
        assert_int_equal(u.limit_bytes, 2 << 20);
        if (!u.own_filesystem) {
                double want = (double)(u.used_bytes - (int64_t)512 * 1024) / (double)(2 << 20);

                assert_true(u.usage_ratio > want - 1e-9 && u.usage_ratio < want + 1e-9);
        }
        /* Reclaimable space larger than the usage never makes the ratio negative. */
        assert_int_equal(volume_measure(dir, 2 << 20, 0, INT64_MAX / 2, &u, &err), 0);
        assert_true(u.usage_ratio == 0.0);

        assert_int_equal(volume_measure("/nonexistent/dir", 0, 0, 0, &u, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "/nonexistent/dir"));

        (void)unlink(path);
        (void)snprintf(path, sizeof(path), "%s/kagent.db", dir);
        (void)unlink(path);
        (void)rmdir(sub);
        (void)rmdir(dir);
}

static void test_growth_rate(void **state)
{
        static struct volume_growth g;
        double rate = 0;

        (void)state;
        volume_growth_init(&g, (int64_t)3600 * 1000);
        assert_false(volume_growth_rate(&g, &rate));
        assert_int_equal(volume_growth_seconds_to(&g, 100), -1);
        /* 1 MiB per minute, sampled every 5 s for 10 minutes. */
        for (int i = 0; i <= 120; i++)
                volume_growth_add(&g, (int64_t)i * 5000, (int64_t)i * 5 * (1 << 20) / 60);
        assert_true(volume_growth_rate(&g, &rate));
        assert_true(rate > 59.9 * (1 << 20) && rate < 60.1 * (1 << 20));
        /* At 10 MiB now, a 70 MiB limit is an hour away. */
        {
                int64_t s = volume_growth_seconds_to(&g, 70 << 20);

                assert_true(s > 3590 && s < 3610);
        }
        assert_int_equal(volume_growth_seconds_to(&g, 1 << 20), 0);
}

static void test_growth_window_and_shrink(void **state)
{
        static struct volume_growth g;
        double rate = 0;

        (void)state;
        volume_growth_init(&g, (int64_t)120 * 1000);
        /* An old fast phase falls out of a two-minute window; a flat phase remains. */
        for (int i = 0; i < 60; i++)
                volume_growth_add(&g, (int64_t)i * 1000, (int64_t)i * 1000000);
        for (int i = 60; i < 400; i++)
                volume_growth_add(&g, (int64_t)i * 1000, 60000000);
        assert_true(g.n <= 122);
        assert_true(volume_growth_rate(&g, &rate));
        assert_true(rate > -1.0 && rate < 1.0);
        assert_int_equal(volume_growth_seconds_to(&g, 100000000), -1);
        /* Samples closer than a second replace the last one. */
        {
                size_t n = g.n;

                volume_growth_add(&g, 399500, 1);
                assert_int_equal(g.n, n);
        }
        /* Shrinking (after a prune) is a negative rate: no time to full. */
        volume_growth_init(&g, (int64_t)3600 * 1000);
        for (int i = 0; i < 100; i++)
                volume_growth_add(&g, (int64_t)i * 2000, 100000000 - (int64_t)i * 100000);
        assert_true(volume_growth_rate(&g, &rate) && rate < 0);
        assert_int_equal(volume_growth_seconds_to(&g, 200000000), -1);
}

/* The ring holds at most VOLUME_SAMPLES_MAX samples however many are added. */
static void test_growth_ring(void **state)
{
        static struct volume_growth g;
        double rate = 0;

        (void)state;
        volume_growth_init(&g, INT64_MAX / 4);
        for (int i = 0; i < 5 * VOLUME_SAMPLES_MAX; i++)
                volume_growth_add(&g, (int64_t)i * 1000, (int64_t)i * 10);
        assert_int_equal(g.n, VOLUME_SAMPLES_MAX);
        assert_true(volume_growth_rate(&g, &rate));
        assert_true(rate > 35999.0 && rate < 36001.0); /* 10 bytes per second */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dir_of),      cmocka_unit_test(test_measure_walk_and_limits),
                cmocka_unit_test(test_growth_rate), cmocka_unit_test(test_growth_window_and_shrink),
                cmocka_unit_test(test_growth_ring),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
