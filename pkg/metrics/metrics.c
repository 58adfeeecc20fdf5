/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics registry: families with preallocated, bounded series whose values are C11
 * atomics, and a lock-free, allocation-free writer of the Prometheus text format 0.0.4.
 */
#include "metrics/metrics.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errbuf.h"
#include "base/seqstr.h"

struct metrics_series {
        struct metrics_family *family;
        struct seqstr labels; /* the values, each NUL-terminated, one after the other */
        atomic_bool hidden;
        /* counter: the count; gauge: int64 bits; double gauge and histogram _sum: double bits */
        _Atomic uint64_t value;
        _Atomic uint64_t *buckets; /* histograms: n_buckets + 1 counters, the last is +Inf */
};

struct metrics_family {
        char name[METRICS_NAME_MAX + 1];
        char help[METRICS_HELP_MAX + 1];
        enum metrics_type type;
        char label_names[METRICS_LABELS_MAX][METRICS_NAME_MAX + 1];
        size_t n_labels;
        double bounds[METRICS_BUCKETS_MAX];
        size_t n_buckets;
        unsigned max_series;
        /* Series [0, n_series) are complete; stored with release after the series is built. */
        atomic_uint n_series;
        struct metrics_series *series;  /* max_series entries */
        _Atomic uint64_t *bucket_store; /* histograms: max_series * (n_buckets + 1) */
        struct metrics_registry *registry;
};

struct metrics_registry {
        pthread_mutex_t lock; /* writers only: registration, series creation, relabelling */
        unsigned max_families;
        atomic_uint n_families; /* families [0, n) are complete, as n_series */
        struct metrics_family **families;
};

_Static_assert(METRICS_LABELS_BYTES == SEQSTR_MAX - 1, "label values live in a seqstr");

/* Registries are created at start-up; 256 families is far more than an exporter needs. */
#define FAMILIES_MAX 256

static bool is_name_char(char c, bool first, bool colon)
{
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
                return true;
        if (colon && c == ':')
                return true;
        return !first && c >= '0' && c <= '9';
}

static bool valid_name(const char *s, bool colon)
{
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > METRICS_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (!is_name_char(s[i], i == 0, colon))
                        return false;
        }
        return true;
}

/*
 * Length of the UTF-8 sequence at p[0..avail) (p[0] >= 0x80), or 0 when it is invalid: strict
 * UTF-8, no overlong forms, no surrogates, nothing above U+10FFFF.
 */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
        unsigned c = p[0];
        size_t n;
        unsigned cp;

        if (c >= 0xc2 && c <= 0xdf) {
                n = 1;
                cp = c & 0x1fU;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 2;
                cp = c & 0x0fU;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 3;
                cp = c & 0x07U;
        } else {
                return 0;
        }
        if (avail <= n)
                return 0;
        for (size_t k = 1; k <= n; k++) {
                if ((p[k] & 0xc0U) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[k] & 0x3fU);
        }
        if (n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
                return 0;
        if (n == 3 && (cp < 0x10000 || cp > 0x10ffff))
                return 0;
        return n + 1;
}

static bool valid_utf8(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i = 0;

        while (i < len) {
                size_t n = p[i] < 0x80 ? 1 : utf8_seq(p + i, len - i);

                if (n == 0)
                        return false;
                i += n;
        }
        return true;
}

static int check_labels(const struct metrics_desc *d, size_t *out_n, struct errbuf *err)
{
        size_t n = 0;

        while (n < METRICS_LABELS_MAX && d->labels[n])
                n++;
        for (size_t i = n; i < METRICS_LABELS_MAX; i++) {
                if (d->labels[i])
                        return errbuf_set(err, -EINVAL, "metric '%s': label names after a NULL",
                                          d->name);
        }
        for (size_t i = 0; i < n; i++) {
                const char *l = d->labels[i];

                if (!valid_name(l, false) || strncmp(l, "__", 2) == 0)
                        return errbuf_set(err, -EINVAL, "metric '%s': invalid label name '%s'",
                                          d->name, l);
                if (d->type == METRICS_HISTOGRAM && strcmp(l, "le") == 0)
                        return errbuf_set(err, -EINVAL,
                                          "metric '%s': label 'le' is reserved for buckets",
                                          d->name);
                for (size_t k = 0; k < i; k++) {
                        if (strcmp(l, d->labels[k]) == 0)
                                return errbuf_set(err, -EINVAL,
                                                  "metric '%s': duplicate label name '%s'", d->name,
                                                  l);
                }
        }
        *out_n = n;
        return 0;
}

static int check_buckets(const struct metrics_desc *d, struct errbuf *err)
{
        if (d->type != METRICS_HISTOGRAM) {
                if (d->n_buckets != 0)
                        return errbuf_set(err, -EINVAL, "metric '%s': buckets on a non-histogram",
                                          d->name);
                return 0;
        }
        if (!d->buckets || d->n_buckets == 0 || d->n_buckets > METRICS_BUCKETS_MAX)
                return errbuf_set(err, -EINVAL, "metric '%s': a histogram needs 1 to %d buckets",
                                  d->name, METRICS_BUCKETS_MAX);
        for (size_t i = 0; i < d->n_buckets; i++) {
                if (!isfinite(d->buckets[i]) || (i > 0 && !(d->buckets[i] > d->buckets[i - 1])))
                        return errbuf_set(err, -EINVAL,
                                          "metric '%s': bucket bounds must be finite and "
                                          "strictly increasing",
                                          d->name);
        }
        return 0;
}

static int check_desc(const struct metrics_desc *d, size_t *out_n_labels, struct errbuf *err)
{
        int rc;

        if (!valid_name(d->name, true))
                return errbuf_set(err, -EINVAL, "invalid metric name '%s'",
                                  d->name ? d->name : "(null)");
        if (!d->help || strlen(d->help) > METRICS_HELP_MAX || !valid_utf8(d->help, strlen(d->help)))
                return errbuf_set(err, -EINVAL,
                                  "metric '%s': help must be UTF-8 of at most %d "
                                  "bytes",
                                  d->name, METRICS_HELP_MAX);
        if ((unsigned)d->type > METRICS_HISTOGRAM)
                return errbuf_set(err, -EINVAL, "metric '%s': unknown type", d->name);
        rc = check_labels(d, out_n_labels, err);
        if (rc < 0)
                return rc;
        rc = check_buckets(d, err);
        if (rc < 0)
                return rc;
        if (d->max_series == 0 || d->max_series > METRICS_SERIES_MAX ||
            (*out_n_labels == 0 && d->max_series != 1))
                return errbuf_set(err, -EINVAL,
                                  "metric '%s': max_series must be 1..%d (1 "
                                  "without labels)",
                                  d->name, METRICS_SERIES_MAX);
        return 0;
}

int metrics_registry_new(unsigned max_families, struct metrics_registry **out, struct errbuf *err)
{
        struct metrics_registry *r = NULL;
        int rc;

        if (max_families == 0 || max_families > FAMILIES_MAX) {
                rc = errbuf_set(err, -EINVAL, "metrics registry: max_families must be 1..%d",
                                FAMILIES_MAX);
                goto out;
        }
        r = calloc(1, sizeof(*r));
        if (!r) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers, as intended */
        r->families = calloc(max_families, sizeof(*r->families));
        if (!r->families) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        rc = -pthread_mutex_init(&r->lock, NULL);
        if (rc < 0) {
                (void)errbuf_set(err, rc, "metrics registry: mutex");
                goto out;
        }
        r->max_families = max_families;
        atomic_init(&r->n_families, 0);

        *out = r;
        r = NULL;
        rc = 0;
out:
        if (r)
                free(r->families);
        free(r);
        return rc;
}

static void family_free(struct metrics_family *f)
{
        if (!f)
                return;
        free(f->bucket_store);
        free(f->series);
        free(f);
}

void metrics_registry_free(struct metrics_registry *r)
{
        unsigned n;

        if (!r)
                return;
        n = atomic_load(&r->n_families);
        for (unsigned i = 0; i < n; i++)
                family_free(r->families[i]);
        free(r->families);
        (void)pthread_mutex_destroy(&r->lock);
        free(r);
}

static struct metrics_family *family_find(struct metrics_registry *r, const char *name)
{
        unsigned n = atomic_load_explicit(&r->n_families, memory_order_relaxed);

        for (unsigned i = 0; i < n; i++) {
                if (strcmp(r->families[i]->name, name) == 0)
                        return r->families[i];
        }
        return NULL;
}

/* Build series 'i' of 'f' with packed label values; the caller publishes it. */
static struct metrics_series *series_build(struct metrics_family *f, unsigned i, const char *packed,
                                           size_t len)
{
        struct metrics_series *s = &f->series[i];

        s->family = f;
        seqstr_init(&s->labels);
        seqstr_set(&s->labels, packed, len);
        atomic_init(&s->hidden, false);
        atomic_init(&s->value, 0);
        if (f->type == METRICS_HISTOGRAM) {
                s->buckets = f->bucket_store + (size_t)i * (f->n_buckets + 1);
                for (size_t k = 0; k <= f->n_buckets; k++)
                        atomic_init(&s->buckets[k], 0);
        }
        return s;
}

static struct metrics_family *family_alloc(const struct metrics_desc *d, size_t n_labels)
{
        struct metrics_family *f = calloc(1, sizeof(*f));

        if (!f)
                return NULL;
        f->series = calloc(d->max_series, sizeof(*f->series));
        if (!f->series)
                goto fail;
        if (d->type == METRICS_HISTOGRAM) {
                f->bucket_store = calloc((size_t)d->max_series * (d->n_buckets + 1),
                                         sizeof(*f->bucket_store));
                if (!f->bucket_store)
                        goto fail;
        }
        (void)snprintf(f->name, sizeof(f->name), "%s", d->name);
        (void)snprintf(f->help, sizeof(f->help), "%s", d->help);
        f->type = d->type;
        f->n_labels = n_labels;
        for (size_t i = 0; i < n_labels; i++)
                (void)snprintf(f->label_names[i], sizeof(f->label_names[i]), "%s", d->labels[i]);
        f->n_buckets = d->n_buckets;
        for (size_t i = 0; i < d->n_buckets; i++)
                f->bounds[i] = d->buckets[i];
        f->max_series = d->max_series;
        atomic_init(&f->n_series, 0);
        return f;
fail:
        family_free(f);
        return NULL;
}

int metrics_family_add(struct metrics_registry *r, const struct metrics_desc *d,
                       struct metrics_family **out, struct errbuf *err)
{
        struct metrics_family *f = NULL;
        size_t n_labels = 0;
        bool locked = false;
        unsigned n;
        int rc;

        rc = check_desc(d, &n_labels, err);
        if (rc < 0)
                goto out;
        f = family_alloc(d, n_labels);
        if (!f) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        f->registry = r;
        if (n_labels == 0) {
                (void)series_build(f, 0, "", 0);
                atomic_store_explicit(&f->n_series, 1, memory_order_release);
        }
        (void)pthread_mutex_lock(&r->lock);
        locked = true;
        if (family_find(r, d->name)) {
                rc = errbuf_set(err, -EEXIST, "metric '%s' is already registered", d->name);
                goto out;
        }
        n = atomic_load_explicit(&r->n_families, memory_order_relaxed);
        if (n >= r->max_families) {
                rc = errbuf_set(err, -EMSGSIZE, "metric '%s': registry full (%u families)", d->name,
                                r->max_families);
                goto out;
        }
        r->families[n] = f;
        atomic_store_explicit(&r->n_families, n + 1, memory_order_release);
        if (out)
                *out = f;
        f = NULL;
        rc = 0;
out:
        if (locked)
                (void)pthread_mutex_unlock(&r->lock);
        family_free(f);
        return rc;
}

struct metrics_series *metrics_family_series(struct metrics_family *f)
{
        assert(f->n_labels == 0);
        return &f->series[0];
}

/* Validate label values and pack them into out[SEQSTR_MAX]; returns the packed length. */
static int pack_values(const struct metrics_family *f, const char *const *values, char *out,
                       size_t *out_len, struct errbuf *err)
{
        size_t len = 0;

        for (size_t i = 0; i < f->n_labels; i++) {
                const char *v = values[i];
                size_t n;

                assert(v);
                n = strlen(v);
                if (n > METRICS_LABEL_VALUE_MAX || !valid_utf8(v, n))
                        return errbuf_set(err, -EINVAL,
                                          "metric '%s': label '%s' needs UTF-8 of at most %d "
                                          "bytes",
                                          f->name, f->label_names[i], METRICS_LABEL_VALUE_MAX);
                if (n + 1 > METRICS_LABELS_BYTES - len)
                        return errbuf_set(err, -EINVAL,
                                          "metric '%s': label values exceed %d bytes together",
                                          f->name, METRICS_LABELS_BYTES);
                memcpy(out + len, v, n + 1);
                len += n + 1;
        }
        *out_len = len;
        return 0;
}

/* The series of 'f' other than 'except' whose packed labels equal 'packed'; lock held. */
static struct metrics_series *series_find(struct metrics_family *f, const char *packed, size_t len,
                                          const struct metrics_series *except)
{
        unsigned n = atomic_load_explicit(&f->n_series, memory_order_relaxed);
        char cur[SEQSTR_MAX];

        for (unsigned i = 0; i < n; i++) {
                struct metrics_series *s = &f->series[i];

                if (s == except)
                        continue;
                if (seqstr_get(&s->labels, cur, sizeof(cur)) == len &&
                    memcmp(cur, packed, len) == 0)
                        return s;
        }
        return NULL;
}

int metrics_series_get(struct metrics_family *f, const char *const *values,
                       struct metrics_series **out, struct errbuf *err)
{
        struct metrics_registry *r = f->registry;
        struct metrics_series *s;
        char packed[SEQSTR_MAX];
        size_t len = 0;
        unsigned n;
        int rc;

        rc = pack_values(f, values, packed, &len, err);
        if (rc < 0)
                return rc;
        (void)pthread_mutex_lock(&r->lock);
        s = series_find(f, packed, len, NULL);
        if (!s) {
                n = atomic_load_explicit(&f->n_series, memory_order_relaxed);
                if (n >= f->max_series) {
                        rc = errbuf_set(err, -EMSGSIZE, "metric '%s': series limit %u reached",
                                        f->name, f->max_series);
                        goto out;
                }
                s = series_build(f, n, packed, len);
                atomic_store_explicit(&f->n_series, n + 1, memory_order_release);
        }
        *out = s;
        rc = 0;
out:
        (void)pthread_mutex_unlock(&r->lock);
        return rc;
}

int metrics_series_relabel(struct metrics_series *s, const char *const *values, struct errbuf *err)
{
        struct metrics_family *f = s->family;
        char packed[SEQSTR_MAX];
        size_t len = 0;
        int rc;

        rc = pack_values(f, values, packed, &len, err);
        if (rc < 0)
                return rc;
        (void)pthread_mutex_lock(&f->registry->lock);
        if (series_find(f, packed, len, s)) {
                rc = errbuf_set(err, -EEXIST, "metric '%s': a series with these labels exists",
                                f->name);
        } else {
                seqstr_set(&s->labels, packed, len);
                rc = 0;
        }
        (void)pthread_mutex_unlock(&f->registry->lock);
        return rc;
}

void metrics_series_set_hidden(struct metrics_series *s, bool hidden)
{
        atomic_store_explicit(&s->hidden, hidden, memory_order_relaxed);
}

static uint64_t double_bits(double v)
{
        uint64_t u;

        memcpy(&u, &v, sizeof(u));
        return u;
}

static double bits_double(uint64_t u)
{
        double v;

        memcpy(&v, &u, sizeof(v));
        return v;
}

void metrics_counter_add(struct metrics_series *s, uint64_t n)
{
        assert(s->family->type == METRICS_COUNTER);
        atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void metrics_gauge_set(struct metrics_series *s, int64_t v)
{
        assert(s->family->type == METRICS_GAUGE);
        atomic_store_explicit(&s->value, (uint64_t)v, memory_order_relaxed);
}

void metrics_gauge_add(struct metrics_series *s, int64_t delta)
{
        assert(s->family->type == METRICS_GAUGE);
        /* Two's complement: adding the unsigned image of a negative delta subtracts. */
        atomic_fetch_add_explicit(&s->value, (uint64_t)delta, memory_order_relaxed);
}

void metrics_gauge_set_double(struct metrics_series *s, double v)
{
        assert(s->family->type == METRICS_GAUGE_DOUBLE);
        atomic_store_explicit(&s->value, double_bits(v), memory_order_relaxed);
}

void metrics_histogram_observe(struct metrics_series *s, double v)
{
        const struct metrics_family *f = s->family;
        uint64_t old;
        size_t i = 0;

        assert(f->type == METRICS_HISTOGRAM);
        if (isnan(v))
                return;
        while (i < f->n_buckets && v > f->bounds[i])
                i++;
        atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
        old = atomic_load_explicit(&s->value, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(&s->value, &old,
                                                      double_bits(bits_double(old) + v),
                                                      memory_order_relaxed, memory_order_relaxed))
                ;
}

uint64_t metrics_counter_value(const struct metrics_series *s)
{
        assert(s->family->type == METRICS_COUNTER);
        return atomic_load_explicit(&s->value, memory_order_relaxed);
}

int64_t metrics_gauge_value(const struct metrics_series *s)
{
        assert(s->family->type == METRICS_GAUGE);
        return (int64_t)atomic_load_explicit(&s->value, memory_order_relaxed);
}

double metrics_gauge_value_double(const struct metrics_series *s)
{
        assert(s->family->type == METRICS_GAUGE_DOUBLE);
        return bits_double(atomic_load_explicit(&s->value, memory_order_relaxed));
}

const char *metrics_double_format(double v, char *out)
{
        if (isnan(v)) {
                memcpy(out, "NaN", 4);
                return out;
        }
        if (isinf(v)) {
                memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
                return out;
        }
        /* The shortest of 15..17 significant digits that reads back as the same double. */
        for (int prec = 15; prec <= 17; prec++) {
                (void)snprintf(out, METRICS_DOUBLE_MAX, "%.*g", prec, v);
                if (strtod(out, NULL) == v)
                        break;
        }
        return out;
}

/* The exposition writer: appends into a fixed buffer and remembers running out of room. */
struct out {
        char *p;
        size_t size;
        size_t len;
        bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
        if (o->full || n > o->size - o->len) {
                o->full = true;
                return;
        }
        memcpy(o->p + o->len, s, n);
        o->len += n;
}

static void put_str(struct out *o, const char *s)
{
        put(o, s, strlen(s));
}

/* Escape '\' and newline (HELP) or also '"' (label values), per the text format. */
static void put_escaped(struct out *o, const char *s, bool quote)
{
        const char *run = s;

        for (; *s; s++) {
                const char *rep = NULL;

                if (*s == '\\')
                        rep = "\\\\";
                else if (*s == '\n')
                        rep = "\\n";
                else if (quote && *s == '"')
                        rep = "\\\"";
                if (rep) {
                        put(o, run, (size_t)(s - run));
                        put_str(o, rep);
                        run = s + 1;
                }
        }
        put(o, run, (size_t)(s - run));
}

/* '{name="value",...,le="bound"}' or nothing; 'packed' holds the values one after the other. */
static void put_labels(struct out *o, const struct metrics_family *f, const char *packed,
                       const char *le)
{
        const char *v = packed;

        if (f->n_labels == 0 && !le)
                return;
        put(o, "{", 1);
        for (size_t i = 0; i < f->n_labels; i++) {
                if (i > 0)
                        put(o, ",", 1);
                put_str(o, f->label_names[i]);
                put(o, "=\"", 2);
                put_escaped(o, v, true);
                put(o, "\"", 1);
                v += strlen(v) + 1;
        }
        if (le) {
                if (f->n_labels > 0)
                        put(o, ",", 1);
                put(o, "le=\"", 4);
                put_str(o, le);
                put(o, "\"", 1);
        }
        put(o, "}", 1);
}

static void put_sample(struct out *o, const struct metrics_family *f, const char *suffix,
                       const char *packed, const char *le, const char *value)
{
        put_str(o, f->name);
        put_str(o, suffix);
        put_labels(o, f, packed, le);
        put(o, " ", 1);
        put_str(o, value);
        put(o, "\n", 1);
}

static void put_histogram(struct out *o, const struct metrics_family *f,
                          const struct metrics_series *s, const char *packed)
{
        char le[METRICS_DOUBLE_MAX];
        char num[METRICS_DOUBLE_MAX];
        uint64_t cumulative = 0;

        for (size_t i = 0; i <= f->n_buckets; i++) {
                cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
                (void)snprintf(num, sizeof(num), "%" PRIu64, cumulative);
                if (i < f->n_buckets)
                        put_sample(o, f, "_bucket", packed, metrics_double_format(f->bounds[i], le),
                                   num);
                else
                        put_sample(o, f, "_bucket", packed, "+Inf", num);
        }
        put_sample(
                o, f, "_sum", packed, NULL,
                metrics_double_format(
                        bits_double(atomic_load_explicit(&s->value, memory_order_relaxed)), num));
        (void)snprintf(num, sizeof(num), "%" PRIu64, cumulative);
        put_sample(o, f, "_count", packed, NULL, num);
}

static void put_series(struct out *o, const struct metrics_family *f,
                       const struct metrics_series *s)
{
        char packed[SEQSTR_MAX];
        char num[METRICS_DOUBLE_MAX];
        uint64_t v;

        (void)seqstr_get(&s->labels, packed, sizeof(packed));
        v = atomic_load_explicit(&s->value, memory_order_relaxed);
        switch (f->type) {
        case METRICS_COUNTER:
                (void)snprintf(num, sizeof(num), "%" PRIu64, v);
                put_sample(o, f, "", packed, NULL, num);
                break;
        case METRICS_GAUGE:
                (void)snprintf(num, sizeof(num), "%" PRId64, (int64_t)v);
                put_sample(o, f, "", packed, NULL, num);
                break;
        case METRICS_GAUGE_DOUBLE:
                put_sample(o, f, "", packed, NULL, metrics_double_format(bits_double(v), num));
                break;
        case METRICS_HISTOGRAM:
                put_histogram(o, f, s, packed);
                break;
        }
}

static const char *type_name(enum metrics_type t)
{
        switch (t) {
        case METRICS_COUNTER:
                return "counter";
        case METRICS_HISTOGRAM:
                return "histogram";
        case METRICS_GAUGE:
        case METRICS_GAUGE_DOUBLE:
                break;
        }
        return "gauge";
}

static void put_family(struct out *o, const struct metrics_family *f)
{
        unsigned n = atomic_load_explicit(&f->n_series, memory_order_acquire);
        bool any = false;

        for (unsigned i = 0; i < n && !any; i++)
                any = !atomic_load_explicit(&f->series[i].hidden, memory_order_relaxed);
        if (!any)
                return;
        put(o, "# HELP ", 7);
        put_str(o, f->name);
        put(o, " ", 1);
        put_escaped(o, f->help, false);
        put(o, "\n# TYPE ", 8);
        put_str(o, f->name);
        put(o, " ", 1);
        put_str(o, type_name(f->type));
        put(o, "\n", 1);
        for (unsigned i = 0; i < n; i++) {
                if (!atomic_load_explicit(&f->series[i].hidden, memory_order_relaxed))
                        put_series(o, f, &f->series[i]);
        }
}

/* NOLINTNEXTLINE(readability-non-const-parameter): written through o.p */
int metrics_registry_write(const struct metrics_registry *r, char *out, size_t size,
                           size_t *out_len, struct errbuf *err)
{
        struct out o = { .p = out, .size = size, .len = 0, .full = false };
        unsigned n = atomic_load_explicit(&r->n_families, memory_order_acquire);

        for (unsigned i = 0; i < n && !o.full; i++)
                put_family(&o, r->families[i]);
        if (o.full)
                return errbuf_set(err, -EMSGSIZE, "metrics exposition exceeds %zu bytes", size);
        *out_len = o.len;
        return 0;
}
