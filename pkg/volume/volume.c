/* SPDX-License-Identifier: Apache-2.0 */
/* Volume usage from statfs or a bounded directory walk, the effective limit, and growth. */
#include "volume/volume.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/errbuf.h"
#include "base/str.h"

#define VOLUME_TMPFS_MAGIC 0x01021994
#define WALK_DEPTH_MAX     16

const char *volume_limit_source_name(enum volume_limit_source s)
{
        switch (s) {
        case VOLUME_LIMIT_SPEC:
                return "spec";
        case VOLUME_LIMIT_POD:
                return "pod";
        case VOLUME_LIMIT_FILESYSTEM:
                return "filesystem";
        case VOLUME_LIMIT_NONE:
                break;
        }
        return "none";
}

void volume_dir_of(const char *path, char *out, size_t size)
{
        const char *slash = strrchr(path, '/');

        if (!slash) {
                (void)str_copy(out, ".", size);
                return;
        }
        if (slash == path) {
                (void)str_copy(out, "/", size);
                return;
        }
        if ((size_t)(slash - path) + 1 > size) {
                (void)str_copy(out, ".", size);
                return;
        }
        memcpy(out, path, (size_t)(slash - path));
        out[slash - path] = '\0';
}

/* Is 'dir' the root of its own filesystem (a mount point)? */
static bool is_mount_point(const char *dir)
{
        char parent[4096];
        struct stat a;
        struct stat b;

        if ((size_t)snprintf(parent, sizeof(parent), "%s/..", dir) >= sizeof(parent))
                return false;
        if (stat(dir, &a) < 0 || stat(parent, &b) < 0)
                return false;
        return a.st_dev != b.st_dev || a.st_ino == b.st_ino;
}

struct walk {
        int64_t bytes;
        size_t entries;
        bool truncated;
        dev_t dev;
};

/* Sum allocated bytes below an open directory, staying on one filesystem, bounded. */
static void walk_dir(int dfd, int depth, struct walk *w)
{
        DIR *d = fdopendir(dfd);
        struct dirent *e;

        if (!d) {
                close(dfd);
                return;
        }
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): readdir on a private DIR stream is safe */
        while ((e = readdir(d)) != NULL) {
                struct stat st;

                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                if (++w->entries > VOLUME_WALK_MAX_ENTRIES) {
                        w->truncated = true;
                        break;
                }
                if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    st.st_dev != w->dev)
                        continue;
                w->bytes += (int64_t)st.st_blocks * 512;
                if (S_ISDIR(st.st_mode) && depth < WALK_DEPTH_MAX) {
                        int sub = openat(dirfd(d), e->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        if (sub >= 0)
                                walk_dir(sub, depth + 1, w);
                }
        }
        (void)closedir(d);
}

int volume_measure(const char *dir, int64_t spec_limit, int64_t pod_limit, int64_t reclaimable,
                   struct volume_usage *out, struct errbuf *err)
{
        struct volume_usage u;
        struct statvfs vfs;
        struct statfs fs;
        int64_t effective;

        memset(&u, 0, sizeof(u));
        if (statvfs(dir, &vfs) < 0 || statfs(dir, &fs) < 0)
                return errbuf_set(err, -errno, "volume '%s': cannot stat the filesystem", dir);
        u.fs_size_bytes = (int64_t)vfs.f_blocks * (int64_t)vfs.f_frsize;
        u.fs_avail_bytes = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
        u.is_tmpfs = (unsigned long)fs.f_type == VOLUME_TMPFS_MAGIC;
        u.own_filesystem = u.is_tmpfs || is_mount_point(dir);
        if (u.own_filesystem) {
                u.used_bytes = (int64_t)(vfs.f_blocks - vfs.f_bfree) * (int64_t)vfs.f_frsize;
        } else {
                struct walk w = { 0 };
                struct stat st;
                int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                if (dfd < 0 || fstat(dfd, &st) < 0) {
                        if (dfd >= 0)
                                close(dfd);
                        return errbuf_set(err, -errno, "volume '%s': cannot be read", dir);
                }
                w.dev = st.st_dev;
                walk_dir(dfd, 0, &w);
                u.used_bytes = w.bytes;
                u.walk_truncated = w.truncated;
        }
        if (spec_limit > 0) {
                u.limit_bytes = spec_limit;
                u.limit_source = VOLUME_LIMIT_SPEC;
        } else if (pod_limit > 0) {
                u.limit_bytes = pod_limit;
                u.limit_source = VOLUME_LIMIT_POD;
        } else {
                u.limit_bytes = u.fs_size_bytes;
                u.limit_source = VOLUME_LIMIT_FILESYSTEM;
        }
        u.reclaimable_bytes = reclaimable > 0 ? reclaimable : 0;
        effective = u.used_bytes - u.reclaimable_bytes;
        if (effective < 0)
                effective = 0;
        u.usage_ratio = u.limit_bytes > 0 ? (double)effective / (double)u.limit_bytes : 0.0;
        *out = u;
        return 0;
}

void volume_growth_init(struct volume_growth *g, int64_t window_ms)
{
        memset(g, 0, sizeof(*g));
        g->window_ms = window_ms > 0 ? window_ms : (int64_t)3600 * 1000;
}

static size_t idx(const struct volume_growth *g, size_t i)
{
        return (g->head + i) % VOLUME_SAMPLES_MAX;
}

void volume_growth_add(struct volume_growth *g, int64_t t_ms, int64_t bytes)
{
        if (g->n > 0) {
                size_t last = idx(g, g->n - 1);

                if (t_ms - g->t_ms[last] < 1000) {
                        g->bytes[last] = bytes;
                        return;
                }
        }
        if (g->n == VOLUME_SAMPLES_MAX) {
                g->head = (g->head + 1) % VOLUME_SAMPLES_MAX;
                g->n--;
        }
        g->t_ms[idx(g, g->n)] = t_ms;
        g->bytes[idx(g, g->n)] = bytes;
        g->n++;
        while (g->n > 2 && t_ms - g->t_ms[idx(g, 0)] > g->window_ms) {
                g->head = (g->head + 1) % VOLUME_SAMPLES_MAX;
                g->n--;
        }
}

bool volume_growth_rate(const struct volume_growth *g, double *bytes_per_hour)
{
        double mt = 0;
        double mb = 0;
        double num = 0;
        double den = 0;
        int64_t t0;

        *bytes_per_hour = 0;
        if (g->n < 2)
                return false;
        t0 = g->t_ms[idx(g, 0)];
        if (g->t_ms[idx(g, g->n - 1)] - t0 < (int64_t)60 * 1000)
                return false;
        for (size_t i = 0; i < g->n; i++) {
                mt += (double)(g->t_ms[idx(g, i)] - t0);
                mb += (double)g->bytes[idx(g, i)];
        }
        mt /= (double)g->n;
        mb /= (double)g->n;
        for (size_t i = 0; i < g->n; i++) {
                double dt = (double)(g->t_ms[idx(g, i)] - t0) - mt;

                num += dt * ((double)g->bytes[idx(g, i)] - mb);
                den += dt * dt;
        }
        if (den <= 0)
                return false;
        *bytes_per_hour = num / den * 3600.0 * 1000.0;
        return true;
}

int64_t volume_growth_seconds_to(const struct volume_growth *g, int64_t limit)
{
        double rate;
        int64_t now_bytes;

        if (g->n == 0)
                return -1;
        now_bytes = g->bytes[idx(g, g->n - 1)];
        if (now_bytes >= limit)
                return 0;
        if (!volume_growth_rate(g, &rate) || rate <= 0)
                return -1;
        return (int64_t)((double)(limit - now_bytes) / rate * 3600.0);
}
