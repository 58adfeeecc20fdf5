/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VOLUME_VOLUME_H
#define VOLUME_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct errbuf;

/*
 * The volume that holds the database: how full it is against its limit, how fast it grows, and
 * when it will be full. Usage comes from statfs() when the volume is its own filesystem
 * (a tmpfs emptyDir, a PVC), and from a bounded directory walk otherwise (a disk-backed emptyDir
 * shares the node's filesystem; the kubelet measures it by walking it too). Knows nothing of
 * Kubernetes: a discovered emptyDir sizeLimit is passed in.
 */

#define VOLUME_WALK_MAX_ENTRIES 100000 /* a walk stops (and says so) past this many entries */
#define VOLUME_SAMPLES_MAX      720    /* growth window: e.g. one hour of 5 s samples */

enum volume_limit_source {
        VOLUME_LIMIT_NONE = 0,
        VOLUME_LIMIT_SPEC,       /* spec.volume.sizeLimit */
        VOLUME_LIMIT_POD,        /* the pod's emptyDir sizeLimit */
        VOLUME_LIMIT_FILESYSTEM, /* the filesystem's size */
};

struct volume_usage {
        int64_t used_bytes;  /* everything on the volume */
        int64_t limit_bytes; /* the effective limit */
        enum volume_limit_source limit_source;
        int64_t fs_size_bytes;  /* the filesystem the directory lives on */
        int64_t fs_avail_bytes; /* what can still be written there (statvfs f_bavail) */
        bool own_filesystem;    /* the directory is a mount point (or tmpfs): usage from statfs */
        bool is_tmpfs;
        bool walk_truncated;       /* the directory walk hit VOLUME_WALK_MAX_ENTRIES */
        int64_t reclaimable_bytes; /* set by the caller: free pages inside the database */
        double usage_ratio;        /* (used - reclaimable) / limit, 0 when no limit */
};

/*
 * Measure the volume holding 'dir'. 'spec_limit' and 'pod_limit' are bytes or <= 0 when unset;
 * the limit is the first set of spec, pod, filesystem size. 'reclaimable' (free pages inside the
 * database, reusable without growing the file) is subtracted for the effective ratio.
 */
int volume_measure(const char *dir, int64_t spec_limit, int64_t pod_limit, int64_t reclaimable,
                   struct volume_usage *out, struct errbuf *err);

/* The directory part of a file path ("/a/b.db" -> "/a", "b.db" -> "."). */
void volume_dir_of(const char *path, char *out, size_t size);

const char *volume_limit_source_name(enum volume_limit_source s);

/* Growth over a sliding window of (time, effective used bytes) samples. */
struct volume_growth {
        int64_t t_ms[VOLUME_SAMPLES_MAX];
        int64_t bytes[VOLUME_SAMPLES_MAX];
        size_t head, n;
        int64_t window_ms; /* samples older than this are dropped (default 1 h) */
};

void volume_growth_init(struct volume_growth *g, int64_t window_ms);
/* Add a sample (monotonic ms); samples closer than 1 s to the last one replace it. */
void volume_growth_add(struct volume_growth *g, int64_t t_ms, int64_t bytes);
/*
 * Least-squares slope over the window in bytes per hour; 0 with fewer than two samples or less
 * than a minute of history. Returns true when the estimate is meaningful.
 */
bool volume_growth_rate(const struct volume_growth *g, double *bytes_per_hour);
/*
 * Seconds until 'limit' at the current rate from the newest sample; -1 when not growing or
 * unknown, 0 when already at or past the limit.
 */
int64_t volume_growth_seconds_to(const struct volume_growth *g, int64_t limit);

#endif
