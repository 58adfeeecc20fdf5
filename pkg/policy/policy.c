/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RetentionPolicy specs: one table describes every field (type, default, range), and drives
 * defaulting, validation with field paths, and the conversion back to JSON.
 */
#include "policy/policy.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/errbuf.h"
#include "base/memguard.h"
#include "base/str.h"

#define API_VERSION "kagent.dev/v1alpha1"
#define KIND        "RetentionPolicy"

#define MS_SEC  1000LL
#define MS_MIN  (60 * MS_SEC)
#define MS_HOUR (60 * MS_MIN)
#define MS_DAY  (24 * MS_HOUR)
#define NO_MAX  INT64_MAX

#define PATH_SIZE sizeof(((struct policy_error *)NULL)->path)
#define MSG_SIZE  sizeof(((struct policy_error *)NULL)->msg)

/* Field names are short; longer keys are typos of nothing and get no suggestion. */
#define SUGGEST_LEN_MAX 48

enum kind {
        KIND_BOOL,     /* bool */
        KIND_DURATION, /* int64_t milliseconds */
        KIND_COUNT,    /* int64_t */
        KIND_PERCENT,  /* int */
        KIND_QUANTITY, /* int64_t bytes */
        KIND_RECLAIM,  /* enum policy_reclaim */
        KIND_STEPS,    /* enum policy_step[] and n_steps */
        KIND_SECTION,  /* a nested object */
};

struct section;

struct field {
        const char *name;
        enum kind kind;
        size_t off;  /* offset of the value in struct policy (not for sections) */
        int64_t def; /* default where the enclosing section applies; POLICY_OFF: null */
        int64_t min; /* inclusive range, in milliseconds for durations */
        int64_t max;
        const struct section *sub; /* KIND_SECTION */
};

/*
 * A rule section (is_rule) is off when absent or null; when present its omitted fields take
 * their defaults and null fields are off. Other sections always apply: omitted or null fields
 * take their defaults, except fields whose default is null, where null means off.
 */
struct section {
        bool is_rule;
        const struct field *fields;
        size_t n_fields;
};

#define AT(m) offsetof(struct policy, m)
#define SECTION(name)                                                                              \
        {                                                                                          \
                true, name##_fields, sizeof(name##_fields) / sizeof(name##_fields[0])              \
        }
#define GROUP(name)                                                                                \
        {                                                                                          \
                false, name##_fields, sizeof(name##_fields) / sizeof(name##_fields[0])             \
        }

static const struct field schedule_fields[] = {
        { "interval", KIND_DURATION, AT(interval_ms), 15 * MS_MIN, POLICY_MIN_MS, NO_MAX, NULL },
};
static const struct section schedule_section = GROUP(schedule);

static const struct field sessions_fields[] = {
        { "expireAfter", KIND_DURATION, AT(session_expire_ms), 30 * MS_DAY, 0, NO_MAX, NULL },
};
static const struct section sessions_section = SECTION(sessions);

static const struct field soft_fields[] = {
        { "purgeAfter", KIND_DURATION, AT(soft_purge_ms), 7 * MS_DAY, 0, NO_MAX, NULL },
};
static const struct section soft_section = SECTION(soft);

static const struct field tasks_fields[] = {
        { "finishedAfter", KIND_DURATION, AT(task_finished_ms), 7 * MS_DAY, 0, NO_MAX, NULL },
};
static const struct section tasks_section = SECTION(tasks);

static const struct field checkpoints_fields[] = {
        { "keepLatestPerThread", KIND_COUNT, AT(checkpoint_keep), 3, 1, NO_MAX, NULL },
        { "minAge", KIND_DURATION, AT(checkpoint_min_age_ms), MS_HOUR, 0, NO_MAX, NULL },
};
static const struct section checkpoints_section = SECTION(checkpoints);

static const struct field events_fields[] = {
        { "maxAge", KIND_DURATION, AT(event_max_age_ms), POLICY_OFF, 0, NO_MAX, NULL },
        { "keepLastPerSession", KIND_COUNT, AT(event_keep_last), 200, 0, NO_MAX, NULL },
};
static const struct section events_section = SECTION(events);

static const struct field crewai_fields[] = {
        { "memoryMaxAge", KIND_DURATION, AT(crewai_memory_ms), POLICY_OFF, 0, NO_MAX, NULL },
        { "flowStateMaxAge", KIND_DURATION, AT(crewai_flow_ms), POLICY_OFF, 0, NO_MAX, NULL },
};
static const struct section crewai_section = SECTION(crewai);

static const struct field orphans_fields[] = {
        { "enabled", KIND_BOOL, AT(orphans), 1, 0, 1, NULL },
};
static const struct section orphans_section = SECTION(orphans);

static const struct field emergency_fields[] = {
        { "enabled", KIND_BOOL, AT(emergency), 1, 0, 1, NULL },
        { "steps", KIND_STEPS, AT(steps), 0, 0, 0, NULL },
};
static const struct section emergency_section = GROUP(emergency);

static const struct field volume_fields[] = {
        { "sizeLimit", KIND_QUANTITY, AT(size_limit_bytes), POLICY_OFF, 1, NO_MAX, NULL },
        { "highWatermarkPercent", KIND_PERCENT, AT(high_watermark_pct), 80, 1, 100, NULL },
        { "lowWatermarkPercent", KIND_PERCENT, AT(low_watermark_pct), 65, 0, 99, NULL },
        { "emergency", KIND_SECTION, 0, 0, 0, 0, &emergency_section },
};
static const struct section volume_section = GROUP(volume);

static const struct field reclaim_fields[] = {
        { "mode", KIND_RECLAIM, AT(reclaim), POLICY_RECLAIM_AUTO, 0, 0, NULL },
};
static const struct section reclaim_section = GROUP(reclaim);

static const struct field batch_fields[] = {
        { "maxRows", KIND_COUNT, AT(batch_max_rows), 1000, 1, 100000, NULL },
        { "maxLockDuration", KIND_DURATION, AT(batch_max_lock_ms), 50, 1, 10 * MS_SEC, NULL },
        { "pause", KIND_DURATION, AT(batch_pause_ms), 20, 0, 10 * MS_SEC, NULL },
};
static const struct section batch_section = GROUP(batch);

static const struct field limits_fields[] = {
        { "maxRowsPerRun", KIND_COUNT, AT(max_rows_per_run), POLICY_OFF, 1, NO_MAX, NULL },
        { "runTimeout", KIND_DURATION, AT(run_timeout_ms), 10 * MS_MIN, MS_SEC, NO_MAX, NULL },
};
static const struct section limits_section = GROUP(limits);

static const struct field spec_fields[] = {
        { "suspend", KIND_BOOL, AT(suspend), 0, 0, 1, NULL },
        { "dryRun", KIND_BOOL, AT(dry_run), 0, 0, 1, NULL },
        { "schedule", KIND_SECTION, 0, 0, 0, 0, &schedule_section },
        { "activeWindow", KIND_DURATION, AT(active_window_ms), 30 * MS_MIN, POLICY_MIN_MS, NO_MAX,
          NULL },
        { "sessions", KIND_SECTION, 0, 0, 0, 0, &sessions_section },
        { "softDeleted", KIND_SECTION, 0, 0, 0, 0, &soft_section },
        { "tasks", KIND_SECTION, 0, 0, 0, 0, &tasks_section },
        { "checkpoints", KIND_SECTION, 0, 0, 0, 0, &checkpoints_section },
        { "events", KIND_SECTION, 0, 0, 0, 0, &events_section },
        { "crewai", KIND_SECTION, 0, 0, 0, 0, &crewai_section },
        { "orphans", KIND_SECTION, 0, 0, 0, 0, &orphans_section },
        { "volume", KIND_SECTION, 0, 0, 0, 0, &volume_section },
        { "reclaim", KIND_SECTION, 0, 0, 0, 0, &reclaim_section },
        { "batch", KIND_SECTION, 0, 0, 0, 0, &batch_section },
        { "limits", KIND_SECTION, 0, 0, 0, 0, &limits_section },
};
static const struct section spec_section = GROUP(spec);

#define N_RECLAIM (POLICY_RECLAIM_NONE + 1)

struct ctx {
        struct policy p;
        struct policy_errors errs;
};

static int64_t *i64_at(struct policy *p, const struct field *f)
{
        return (int64_t *)(void *)((char *)p + f->off);
}

static int64_t i64_get(const struct policy *p, const struct field *f)
{
        return *(const int64_t *)(const void *)((const char *)p + f->off);
}

/* jansson's object iterators take a non-const pointer; iterating does not modify. */
static json_t *unconst(const json_t *v)
{
        return (json_t *)(uintptr_t)v; /* NOLINT(performance-no-int-to-ptr): drops const only */
}

/* Store a value, or switch the field off with POLICY_OFF. */
static void field_store(struct policy *p, const struct field *f, int64_t v)
{
        size_t i;

        switch (f->kind) {
        case KIND_BOOL:
                *(bool *)((char *)p + f->off) = v > 0;
                break;
        case KIND_PERCENT:
                *(int *)(void *)((char *)p + f->off) = (int)v;
                break;
        case KIND_DURATION:
        case KIND_COUNT:
        case KIND_QUANTITY:
                *i64_at(p, f) = v;
                break;
        case KIND_RECLAIM:
                p->reclaim = v == POLICY_OFF ? POLICY_RECLAIM_AUTO : (enum policy_reclaim)v;
                break;
        case KIND_STEPS:
                p->n_steps = 0;
                if (v == POLICY_OFF)
                        break;
                for (i = 0; i < POLICY_MAX_STEPS; i++)
                        p->steps[i] = (enum policy_step)i;
                p->n_steps = POLICY_MAX_STEPS;
                break;
        case KIND_SECTION:
                assert(!"sections hold no value");
                break;
        }
}

/* Defaults (on) or off for every field of a section; nested rule sections start off. */
static void section_reset(struct policy *p, const struct section *s, bool on)
{
        size_t i;

        for (i = 0; i < s->n_fields; i++) {
                const struct field *f = &s->fields[i];

                if (f->kind == KIND_SECTION)
                        section_reset(p, f->sub, on && !f->sub->is_rule);
                else
                        field_store(p, f, on ? f->def : POLICY_OFF);
        }
}

void policy_init(struct policy *p)
{
        memset(p, 0, sizeof(*p));
        section_reset(p, &spec_section, true);
}

static void add_error(struct ctx *c, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void add_error(struct ctx *c, const char *path, const char *fmt, ...)
{
        struct policy_error *e;
        va_list ap;
        char *s;

        if (c->errs.n == POLICY_MAX_ERRORS) {
                c->errs.n_dropped++;
                return;
        }
        e = &c->errs.e[c->errs.n++];
        (void)str_copy(e->path, path, sizeof(e->path));
        va_start(ap, fmt);
        (void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        /* Keys and values come from the input: keep every entry on one line. */
        for (s = e->path; *s; s++) {
                if ((unsigned char)*s < 0x20)
                        *s = '?';
        }
        for (s = e->msg; *s; s++) {
                if ((unsigned char)*s < 0x20)
                        *s = '?';
        }
}

static size_t n_errors(const struct ctx *c)
{
        return c->errs.n + c->errs.n_dropped;
}

static bool has_error(const struct ctx *c, const char *path)
{
        size_t i;

        for (i = 0; i < c->errs.n; i++) {
                if (strcmp(c->errs.e[i].path, path) == 0)
                        return true;
        }
        return false;
}

/* "string '30x'", "integer 5", "list": what was found instead, for type errors. */
static const char *describe(const json_t *v, char *out, size_t size)
{
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                (void)snprintf(out, size, "object");
                break;
        case JSON_ARRAY:
                (void)snprintf(out, size, "list");
                break;
        case JSON_STRING:
                (void)snprintf(out, size, "string '%.40s'", json_string_value(v));
                break;
        case JSON_INTEGER:
                (void)snprintf(out, size, "integer %lld", (long long)json_integer_value(v));
                break;
        case JSON_REAL:
                (void)snprintf(out, size, "number %g", json_real_value(v));
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                (void)snprintf(out, size, "boolean %s", json_is_true(v) ? "true" : "false");
                break;
        case JSON_NULL:
                (void)snprintf(out, size, "null");
                break;
        }
        return out;
}

/* "spec.x: must be <want>, got <what v is>". */
static void type_error(struct ctx *c, const char *path, const char *want, const json_t *v)
{
        char got[64];

        add_error(c, path, "must be %s, got %s", want, describe(v, got, sizeof(got)));
}

/* A string without embedded NUL characters (jansson allows them only on request). */
static const char *plain_string(const json_t *v)
{
        const char *s = json_string_value(v);

        if (!s || strlen(s) != json_string_length(v))
                return NULL;
        return s;
}

static void check_bool(struct ctx *c, const struct field *f, const json_t *v, const char *path)
{
        if (!json_is_boolean(v)) {
                type_error(c, path, "true or false", v);
                return;
        }
        field_store(&c->p, f, json_is_true(v) ? 1 : 0);
}

static void check_range(struct ctx *c, const struct field *f, int64_t n, const char *path)
{
        if (n < 0) {
                add_error(c, path, "must not be negative, got %lld", (long long)n);
                return;
        }
        if (f->max != NO_MAX && (n < f->min || n > f->max)) {
                add_error(c, path, "must be between %lld and %lld, got %lld", (long long)f->min,
                          (long long)f->max, (long long)n);
                return;
        }
        if (n < f->min) {
                add_error(c, path, "must be at least %lld, got %lld", (long long)f->min,
                          (long long)n);
                return;
        }
        field_store(&c->p, f, n);
}

static void check_integer(struct ctx *c, const struct field *f, const json_t *v, const char *path)
{
        if (!json_is_integer(v)) {
                type_error(c, path, "an integer", v);
                return;
        }
        check_range(c, f, (int64_t)json_integer_value(v), path);
}

static void check_duration(struct ctx *c, const struct field *f, const json_t *v, const char *path)
{
        const char *s = plain_string(v);
        char lim[32];
        int64_t ms;

        if (!json_is_string(v)) {
                type_error(c, path, "a duration such as 15m or 30d", v);
                return;
        }
        if (s && s[0] == '-') {
                add_error(c, path, "must not be negative, got '%.40s'", s);
                return;
        }
        if (!s || policy_duration_parse(s, &ms) < 0) {
                add_error(
                        c, path,
                        "invalid duration '%.40s': want a number and a unit (ms, s, m, h, d, w), e.g. 90s, 1h30m, 30d",
                        s ? s : "");
                return;
        }
        if (ms < f->min) {
                add_error(c, path, "must be at least %s, got '%.40s'",
                          policy_duration_format(f->min, lim, sizeof(lim)), s);
                return;
        }
        if (ms > f->max) {
                add_error(c, path, "must be at most %s, got '%.40s'",
                          policy_duration_format(f->max, lim, sizeof(lim)), s);
                return;
        }
        field_store(&c->p, f, ms);
}

static void check_quantity(struct ctx *c, const struct field *f, const json_t *v, const char *path)
{
        const char *s = plain_string(v);
        int64_t n;

        if (json_is_integer(v)) {
                check_range(c, f, (int64_t)json_integer_value(v), path);
                return;
        }
        if (json_is_real(v)) {
                double d = json_real_value(v);

                if (d < 0) {
                        add_error(c, path, "must not be negative, got %g", d);
                        return;
                }
                /* 2^63 is the first double past INT64_MAX; below it the cast is exact for
                 * whole numbers. */
                if (d >= 9223372036854775808.0 || (double)(int64_t)d != d) {
                        add_error(c, path, "must be a whole number of bytes, got %g", d);
                        return;
                }
                check_range(c, f, (int64_t)d, path);
                return;
        }
        if (!json_is_string(v)) {
                type_error(c, path, "a quantity such as 500Mi or 1Gi", v);
                return;
        }
        if (s && s[0] == '-') {
                add_error(c, path, "must not be negative, got '%.40s'", s);
                return;
        }
        if (!s || policy_quantity_parse(s, &n) < 0) {
                add_error(
                        c, path,
                        "invalid quantity '%.40s': want a whole number of bytes such as 500Mi, 1Gi, 10G or 123456",
                        s ? s : "");
                return;
        }
        check_range(c, f, n, path);
}

static void check_reclaim(struct ctx *c, const struct field *f, const json_t *v, const char *path)
{
        const char *s = plain_string(v);
        int i;

        if (!s) {
                type_error(c, path, "one of Auto, Incremental, Vacuum or None", v);
                return;
        }
        for (i = 0; i < N_RECLAIM; i++) {
                if (strcmp(s, policy_reclaim_name((enum policy_reclaim)i)) == 0) {
                        field_store(&c->p, f, i);
                        return;
                }
        }
        add_error(c, path, "unknown reclaim mode '%.40s': want Auto, Incremental, Vacuum or None",
                  s);
}

static int step_from_name(const char *s)
{
        int i;

        for (i = 0; s && i < POLICY_MAX_STEPS; i++) {
                if (strcmp(s, policy_step_name((enum policy_step)i)) == 0)
                        return i;
        }
        return -1;
}

static void check_steps(struct ctx *c, const json_t *v, const char *path)
{
        enum policy_step steps[POLICY_MAX_STEPS];
        bool seen[POLICY_MAX_STEPS] = { false };
        size_t before = n_errors(c);
        size_t n = 0;
        size_t i;

        if (!json_is_array(v)) {
                type_error(c, path, "a list of steps", v);
                return;
        }
        for (i = 0; i < json_array_size(v); i++) {
                const json_t *item = json_array_get(v, i);
                const char *s = plain_string(item);
                int step = step_from_name(s);
                char ipath[PATH_SIZE];

                (void)snprintf(ipath, sizeof(ipath), "%.100s[%zu]", path, i);
                if (!s) {
                        type_error(c, ipath, "a step name", item);
                        continue;
                }
                if (step < 0) {
                        add_error(
                                c, ipath,
                                "unknown step '%.40s': want softDeleted, orphans, checkpoints, finishedTasks or idleSessions",
                                s);
                        continue;
                }
                if (seen[step]) {
                        add_error(c, ipath, "duplicate step '%s'", s);
                        continue;
                }
                seen[step] = true;
                steps[n++] = (enum policy_step)step;
        }
        if (n_errors(c) != before)
                return;
        memcpy(c->p.steps, steps, n * sizeof(steps[0]));
        c->p.n_steps = n;
}

/* Edit distance of two short strings, ignoring case (a wrong case is a typo, too). */
static size_t distance(const char *a, const char *b)
{
        size_t row[SUGGEST_LEN_MAX + 1];
        size_t la = strlen(a);
        size_t lb = strlen(b);
        size_t i;
        size_t j;

        assert(lb <= SUGGEST_LEN_MAX);
        for (j = 0; j <= lb; j++)
                row[j] = j;
        for (i = 1; i <= la; i++) {
                size_t diag = row[0];

                row[0] = i;
                for (j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t cost = (a[i - 1] | 0x20) == (b[j - 1] | 0x20) ? 0 : 1;
                        size_t best = diag + cost;

                        if (up + 1 < best)
                                best = up + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

static void unknown_field(struct ctx *c, const struct section *s, const char *key, const char *path)
{
        const char *best = NULL;
        size_t best_d = 3; /* suggest only names at most two edits away */
        size_t i;

        if (strlen(key) > SUGGEST_LEN_MAX) {
                add_error(c, path, "unknown field");
                return;
        }
        for (i = 0; i < s->n_fields; i++) {
                size_t d = distance(key, s->fields[i].name);

                if (d < best_d) {
                        best_d = d;
                        best = s->fields[i].name;
                }
        }
        if (best)
                add_error(c, path, "unknown field (did you mean '%s'?)", best);
        else
                add_error(c, path, "unknown field");
}

static void walk_section(struct ctx *c, const struct section *s, const json_t *obj,
                         const char *path);

static void check_field(struct ctx *c, const struct section *s, const struct field *f,
                        const json_t *v, const char *path)
{
        if (json_is_null(v)) {
                if (f->kind == KIND_SECTION)
                        section_reset(&c->p, f->sub, !f->sub->is_rule);
                else if (s->is_rule || f->def == POLICY_OFF)
                        field_store(&c->p, f, POLICY_OFF);
                else
                        field_store(&c->p, f, f->def);
                return;
        }
        switch (f->kind) {
        case KIND_BOOL:
                check_bool(c, f, v, path);
                break;
        case KIND_DURATION:
                check_duration(c, f, v, path);
                break;
        case KIND_COUNT:
        case KIND_PERCENT:
                check_integer(c, f, v, path);
                break;
        case KIND_QUANTITY:
                check_quantity(c, f, v, path);
                break;
        case KIND_RECLAIM:
                check_reclaim(c, f, v, path);
                break;
        case KIND_STEPS:
                check_steps(c, v, path);
                break;
        case KIND_SECTION:
                if (!json_is_object(v)) {
                        type_error(c, path, "an object", v);
                        break;
                }
                if (f->sub->is_rule)
                        section_reset(&c->p, f->sub, true);
                walk_section(c, f->sub, v, path);
                break;
        }
}

/* Check the keys of 'obj' in document order; omitted fields keep what section_reset() set. */
static void walk_section(struct ctx *c, const struct section *s, const json_t *obj,
                         const char *path)
{
        json_t *o = unconst(obj);
        void *it;

        for (it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
                const char *key = json_object_iter_key(it);
                const json_t *v = json_object_iter_value(it);
                const struct field *f = NULL;
                char child[PATH_SIZE];
                size_t i;

                (void)snprintf(child, sizeof(child), "%.60s.%.60s", path, key);
                for (i = 0; i < s->n_fields; i++) {
                        if (strcmp(s->fields[i].name, key) == 0) {
                                f = &s->fields[i];
                                break;
                        }
                }
                if (!f)
                        unknown_field(c, s, key, child);
                else
                        check_field(c, s, f, v, child);
        }
}

/* Rules between fields, checked when the fields themselves are valid. */
static void check_cross(struct ctx *c)
{
        static const char low[] = "spec.volume.lowWatermarkPercent";
        static const char high[] = "spec.volume.highWatermarkPercent";

        if (!has_error(c, low) && !has_error(c, high) &&
            c->p.low_watermark_pct >= c->p.high_watermark_pct)
                add_error(c, low, "must be less than highWatermarkPercent (%d), got %d",
                          c->p.high_watermark_pct, c->p.low_watermark_pct);
}

static void check_spec(struct ctx *c, const json_t *spec)
{
        if (json_is_null(spec))
                return;
        if (!json_is_object(spec)) {
                type_error(c, "spec", "an object", spec);
                return;
        }
        walk_section(c, &spec_section, spec, "spec");
}

static void check_metadata(struct ctx *c, const json_t *meta)
{
        const json_t *name = json_object_get(meta, "name");
        const json_t *gen = json_object_get(meta, "generation");

        if (!json_is_object(meta)) {
                type_error(c, "metadata", "an object", meta);
                return;
        }
        if (name) {
                const char *s = plain_string(name);

                if (!s || s[0] == '\0')
                        type_error(c, "metadata.name", "a non-empty string", name);
                else if (strlen(s) >= sizeof(c->p.name))
                        add_error(c, "metadata.name", "must be at most %zu characters",
                                  sizeof(c->p.name) - 1);
                else
                        (void)str_copy(c->p.name, s, sizeof(c->p.name));
        }
        if (gen) {
                if (!json_is_integer(gen) || json_integer_value(gen) < 0)
                        type_error(c, "metadata.generation", "a non-negative integer", gen);
                else
                        c->p.generation = (int64_t)json_integer_value(gen);
        }
}

static void check_const(struct ctx *c, const char *path, const json_t *v, const char *want)
{
        const char *s = plain_string(v);

        if (!s || strcmp(s, want) != 0) {
                char quoted[64];

                (void)snprintf(quoted, sizeof(quoted), "'%s'", want);
                type_error(c, path, quoted, v);
        }
}

/* A whole RetentionPolicy object: check apiVersion and kind, read metadata, ignore status. */
static void check_object(struct ctx *c, const json_t *root)
{
        json_t *o = unconst(root);
        void *it;

        for (it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
                const char *key = json_object_iter_key(it);
                const json_t *v = json_object_iter_value(it);

                if (strcmp(key, "apiVersion") == 0)
                        check_const(c, "apiVersion", v, API_VERSION);
                else if (strcmp(key, "kind") == 0)
                        check_const(c, "kind", v, KIND);
                else if (strcmp(key, "metadata") == 0)
                        check_metadata(c, v);
                else if (strcmp(key, "spec") == 0)
                        check_spec(c, v);
                else if (strcmp(key, "status") != 0)
                        add_error(c, key, "unknown field");
        }
}

static bool is_whole_object(const json_t *root)
{
        static const char *const keys[] = { "apiVersion", "kind", "metadata", "spec", "status" };
        size_t i;

        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                if (json_object_get(root, keys[i]))
                        return true;
        }
        return false;
}

int policy_from_json(const json_t *root, struct policy *out, struct policy_errors *errs,
                     struct errbuf *err)
{
        struct ctx c;
        int rc;

        assert(root && out);
        memset(&c.errs, 0, sizeof(c.errs));
        policy_init(&c.p);
        if (!json_is_object(root))
                type_error(&c, "spec", "an object", root);
        else if (is_whole_object(root))
                check_object(&c, root);
        else
                check_spec(&c, root);
        check_cross(&c);

        if (n_errors(&c) > 0) {
                rc = errbuf_set(err, -EINVAL, "%s: %s", c.errs.e[0].path, c.errs.e[0].msg);
        } else {
                *out = c.p;
                rc = 0;
        }
        if (errs)
                *errs = c.errs;
        return rc;
}

/* Errors of the text itself (syntax, size, I/O) are one entry without a field path. */
static int text_error(struct policy_errors *errs, struct errbuf *err, const struct errbuf *e)
{
        if (errs) {
                memset(errs, 0, sizeof(*errs));
                errs->n = 1;
                (void)str_copy(errs->e[0].msg, e->msg, sizeof(errs->e[0].msg));
        }
        return errbuf_set(err, e->code, "%s", e->msg);
}

/*
 * JSON text (it starts with '{') through jansson: exact numbers, duplicate keys rejected. A
 * parse that lost an allocation is -ENOMEM whatever jansson returned (base/memguard.h).
 */
static int json_text(const char *text, size_t len, json_t **out, struct errbuf *terr)
{
        unsigned long failures = memguard_failures();
        json_error_t jerr;
        json_t *root;
        int rc;

        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (memguard_failures() != failures ||
            (!root && json_error_code(&jerr) == json_error_out_of_memory)) {
                json_decref(root);
                return errbuf_set(terr, -ENOMEM, "out of memory");
        }
        if (root) {
                *out = root;
                return 0;
        }
        /* '{' also opens a YAML flow mapping ("{spec: {}}"): accept valid YAML. */
        rc = policy_yaml_to_json(text, len, out, NULL);
        if (rc == -ENOMEM)
                return errbuf_set(terr, rc, "out of memory");
        if (rc < 0)
                return errbuf_set(terr, -EINVAL, "json: line %d, column %d: %s", jerr.line,
                                  jerr.column, jerr.text);
        return 0;
}

/*
 * Decode policy text into a JSON value: jansson for text that starts with '{', else YAML.
 * Errors go to 'terr'; a null document is "empty".
 */
static int text_to_json(const char *text, size_t len, json_t **out, struct errbuf *terr)
{
        json_t *root = NULL;
        size_t i = 0;
        int rc;

        if (len > (size_t)POLICY_TEXT_MAX)
                return errbuf_set(terr, -EMSGSIZE, "policy text is larger than %d bytes",
                                  POLICY_TEXT_MAX);
        if (len > 0 && memchr(text, '\0', len))
                return errbuf_set(terr, -EINVAL, "policy text contains a NUL byte");
        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
                i++;
        if (i < len && text[i] == '{')
                rc = json_text(text, len, &root, terr);
        else
                rc = policy_yaml_to_json(text ? text : "", len, &root, terr);
        if (rc < 0)
                return rc;
        if (json_is_null(root)) {
                json_decref(root);
                return errbuf_set(terr, -EINVAL, "empty document");
        }
        *out = root;
        return 0;
}

int policy_parse(const char *text, size_t len, struct policy *out, struct policy_errors *errs,
                 struct errbuf *err)
{
        json_t *root = NULL;
        struct errbuf terr;
        int rc;

        assert(text || len == 0);
        errbuf_clear(&terr);
        rc = text_to_json(text, len, &root, &terr);
        if (rc < 0) {
                rc = text_error(errs, err, &terr);
                goto out;
        }
        rc = policy_from_json(root, out, errs, err);
out:
        json_decref(root);
        return rc;
}

int policy_load_file(const char *path, struct policy *out, struct policy_errors *errs,
                     struct errbuf *err)
{
        struct errbuf ferr;
        struct buf b;
        char chunk[16384];
        char ebuf[128];
        int fd = -1;
        int rc;

        assert(path);
        errbuf_clear(&ferr);
        buf_init(&b, (size_t)POLICY_TEXT_MAX);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                rc = -errno;
                (void)errbuf_set(&ferr, rc, "policy file '%s': %s", path,
                                 strerror_r(-rc, ebuf, sizeof(ebuf)));
                goto out;
        }
        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        rc = -errno;
                        (void)errbuf_set(&ferr, rc, "policy file '%s': %s", path,
                                         strerror_r(-rc, ebuf, sizeof(ebuf)));
                        goto out;
                }
                if (n == 0)
                        break;
                rc = buf_append(&b, chunk, (size_t)n);
                if (rc == -EMSGSIZE) {
                        (void)errbuf_set(&ferr, rc, "policy file '%s' is larger than %d bytes",
                                         path, POLICY_TEXT_MAX);
                        goto out;
                }
                if (rc < 0) {
                        (void)errbuf_set(&ferr, rc, "out of memory");
                        goto out;
                }
        }
        rc = policy_parse(b.data ? b.data : "", b.len, out, errs, err);
        if (rc < 0)
                (void)errbuf_wrap(err, rc, "policy file '%s'", path);
out:
        if (rc < 0 && ferr.code != 0)
                rc = text_error(errs, err, &ferr);
        if (fd >= 0)
                (void)close(fd);
        buf_cleanup(&b);
        return rc;
}

bool policy_has_rules(const struct policy *p)
{
        return p->session_expire_ms != POLICY_OFF || p->soft_purge_ms != POLICY_OFF ||
               p->task_finished_ms != POLICY_OFF || p->checkpoint_keep != POLICY_OFF ||
               p->event_max_age_ms != POLICY_OFF || p->crewai_memory_ms != POLICY_OFF ||
               p->crewai_flow_ms != POLICY_OFF || p->orphans;
}

static json_t *section_to_json(const struct section *s, const struct policy *p);

static json_t *field_to_json(const struct field *f, const struct policy *p)
{
        char dur[32];
        json_t *a;
        size_t i;

        switch (f->kind) {
        case KIND_BOOL:
                return json_boolean(*(const bool *)((const char *)p + f->off));
        case KIND_PERCENT:
                return json_integer(*(const int *)(const void *)((const char *)p + f->off));
        case KIND_DURATION:
                if (i64_get(p, f) == POLICY_OFF)
                        return json_null();
                return json_string(policy_duration_format(i64_get(p, f), dur, sizeof(dur)));
        case KIND_COUNT:
        case KIND_QUANTITY:
                if (i64_get(p, f) == POLICY_OFF)
                        return json_null();
                return json_integer(i64_get(p, f));
        case KIND_RECLAIM:
                return json_string(policy_reclaim_name(p->reclaim));
        case KIND_STEPS:
                a = json_array();
                for (i = 0; a && i < p->n_steps; i++) {
                        if (json_array_append_new(a, json_string(policy_step_name(p->steps[i]))) <
                            0) {
                                json_decref(a);
                                a = NULL;
                        }
                }
                return a;
        case KIND_SECTION:
                return section_to_json(f->sub, p);
        }
        return NULL;
}

static json_t *section_to_json(const struct section *s, const struct policy *p)
{
        json_t *obj = json_object();
        size_t i;

        for (i = 0; obj && i < s->n_fields; i++) {
                if (json_object_set_new(obj, s->fields[i].name, field_to_json(&s->fields[i], p)) <
                    0) {
                        json_decref(obj);
                        obj = NULL;
                }
        }
        return obj;
}

json_t *policy_to_json(const struct policy *p)
{
        return section_to_json(&spec_section, p);
}
