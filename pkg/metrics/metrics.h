/* SPDX-License-Identifier: Apache-2.0 */
#ifndef METRICS_METRICS_H
#define METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct errbuf;

/*
 * A small metrics registry with Prometheus text exposition (format 0.0.4).
 *
 * A registry holds families (one metric name, type, help text and a fixed list of label names);
 * a family holds series (one combination of label values). Every family has a fixed maximum
 * number of series, chosen at registration and allocated up front: label values are bounded by
 * construction, and creating a series past the maximum fails with -EMSGSIZE.
 *
 * Threads. Values live in C11 atomics: any thread may update a series (counter add, gauge set,
 * histogram observe) without a lock, and metrics_registry_write() reads them without a lock and
 * without allocating, so a scrape never blocks a writer and a writer never waits for a scrape.
 * Registering a family and creating or relabelling a series take the registry's mutex, which
 * only writers share; a scrape running at the same time sees a series either complete or not
 * at all. Each value is read whole (no torn 64-bit values). A histogram is not one atomic
 * snapshot: each bucket is its own counter and _sum a double updated by compare-and-swap on its
 * bits; a scrape derives _count and the +Inf bucket from the bucket counters it read, so within
 * one scrape the cumulative buckets never decrease and le="+Inf" always equals _count, while
 * _sum may include or miss the observations that were in flight during the scrape.
 *
 * Ownership. The registry owns its families and series; the pointers handed out stay valid
 * until metrics_registry_free(), which must not run concurrently with anything else.
 */

#define METRICS_LABELS_MAX      4    /* label names per family */
#define METRICS_BUCKETS_MAX     24   /* histogram upper bounds, +Inf not counted */
#define METRICS_SERIES_MAX      1024 /* the largest max_series a family may ask for */
#define METRICS_NAME_MAX        128  /* metric and label name length */
#define METRICS_LABEL_VALUE_MAX 255  /* bytes of one label value (a Kubernetes name fits) */
#define METRICS_LABELS_BYTES    511  /* the label values of one series together, NULs counted */
#define METRICS_HELP_MAX        512  /* help text length */
#define METRICS_DOUBLE_MAX      32   /* room for metrics_double_format() */

enum metrics_type {
        METRICS_COUNTER = 0,  /* uint64 that only goes up; exposed as "counter" */
        METRICS_GAUGE,        /* int64; exposed as "gauge" */
        METRICS_GAUGE_DOUBLE, /* double; exposed as "gauge" */
        METRICS_HISTOGRAM,    /* double observations counted into fixed buckets */
};

/* What a family is; borrowed by metrics_family_add(), which copies what it keeps. */
struct metrics_desc {
        const char *name;                       /* [a-zA-Z_:][a-zA-Z0-9_:]* */
        const char *help;                       /* one line of text; escaped on output */
        const char *labels[METRICS_LABELS_MAX]; /* label names, unused entries NULL */
        const double *buckets; /* histograms: upper bounds, finite, strictly increasing */
        size_t n_buckets;      /* 1..METRICS_BUCKETS_MAX for histograms, else 0 */
        enum metrics_type type;
        unsigned max_series; /* 1..METRICS_SERIES_MAX; must be 1 without labels */
};

struct metrics_registry;
struct metrics_family;
struct metrics_series;

/*
 * Create an empty registry that accepts up to 'max_families' families (the family table is
 * allocated here, so a scrape can walk it without a lock). Returns 0 and the registry in
 * '*out' (the caller frees it with metrics_registry_free()), -EINVAL or -ENOMEM.
 */
int metrics_registry_new(unsigned max_families, struct metrics_registry **out, struct errbuf *err);

/* Free the registry with its families and series. Accepts NULL. Not concurrent with anything. */
void metrics_registry_free(struct metrics_registry *r);

/*
 * Register a family described by 'd' and allocate room for its max_series series. A family
 * without labels gets its one series immediately (metrics_family_series() returns it).
 * Returns 0 and the family in '*out' (borrowed from the registry; 'out' may be NULL),
 * -EINVAL for an invalid description (bad name, label name, bucket list or limit), -EEXIST
 * when the name is taken, -EMSGSIZE when the registry is full, or -ENOMEM. Thread-safe.
 */
int metrics_family_add(struct metrics_registry *r, const struct metrics_desc *d,
                       struct metrics_family **out, struct errbuf *err);

/* The series of a family without labels (borrowed). */
struct metrics_series *metrics_family_series(struct metrics_family *f);

/*
 * Find or create the series with label values 'values' (one NUL-terminated UTF-8 string per
 * label name, in the order of the description; NULL when the family has no labels). Returns 0
 * and the series in '*out' (borrowed), -EINVAL for a value that is not UTF-8 or longer than
 * METRICS_LABEL_VALUE_MAX (or values longer than METRICS_LABELS_BYTES together), or -EMSGSIZE
 * when the family already has max_series series.
 * Thread-safe. Look a series up once and keep the pointer: the lookup is linear.
 */
int metrics_series_get(struct metrics_family *f, const char *const *values,
                       struct metrics_series **out, struct errbuf *err);

/*
 * Replace the label values of an existing series (an "_info" series whose labels describe the
 * current state: the old combination disappears, the series count stays bounded). A scrape sees
 * the old or the new labels, never a mix. Returns 0, -EINVAL as for metrics_series_get(), or
 * -EEXIST when another series of the family has these values. Thread-safe.
 */
int metrics_series_relabel(struct metrics_series *s, const char *const *values, struct errbuf *err);

/* Hide a series from the exposition (true) or show it again; its value is kept. Lock-free. */
void metrics_series_set_hidden(struct metrics_series *s, bool hidden);

/* Updates; lock-free, any thread. Using the wrong function for a family's type is asserted. */
void metrics_counter_add(struct metrics_series *s, uint64_t n);
void metrics_gauge_set(struct metrics_series *s, int64_t v);
void metrics_gauge_add(struct metrics_series *s, int64_t delta);
void metrics_gauge_set_double(struct metrics_series *s, double v);
/* Count 'v' into the first bucket whose upper bound is >= v and add it to _sum; NaN is ignored. */
void metrics_histogram_observe(struct metrics_series *s, double v);

/* Current values (tests, status reports); lock-free. */
uint64_t metrics_counter_value(const struct metrics_series *s);
int64_t metrics_gauge_value(const struct metrics_series *s);
double metrics_gauge_value_double(const struct metrics_series *s);

/*
 * Write the text exposition of every visible series into out[0..size): families in
 * registration order (a family with no visible series is left out), series in creation order.
 * Returns 0 with the length written (without a terminator) in '*out_len', or -EMSGSIZE when
 * 'size' is too small (the contents of 'out' are then unspecified). Never allocates and never
 * takes a lock; safe while other threads update, register and create series.
 */
int metrics_registry_write(const struct metrics_registry *r, char *out, size_t size,
                           size_t *out_len, struct errbuf *err);

/*
 * Format a sample value the way the Prometheus text format spells it ("NaN", "+Inf", "-Inf",
 * or the shortest decimal that reads back as the same double) into 'out', which holds at least
 * METRICS_DOUBLE_MAX bytes. Returns 'out'. Numbers are formatted in the C locale, which the
 * program never changes (no setlocale()).
 */
const char *metrics_double_format(double v, char *out);

#endif
