/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Units of the RetentionPolicy spec: Go durations with d and w, Kubernetes quantities, and the
 * names of emergency steps and reclaim modes. Pure functions without allocation.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"

#define NS_PER_MS   1000000ULL
#define MS_PER_SEC  1000ULL
#define MS_PER_MIN  (60 * MS_PER_SEC)
#define MS_PER_HOUR (60 * MS_PER_MIN)
#define MS_PER_DAY  (24 * MS_PER_HOUR)
#define MS_PER_WEEK (7 * MS_PER_DAY)

/* Go accumulates in int64 nanoseconds; so do we, which caps durations at about 292 years. */
#define DURATION_NS_MAX ((uint64_t)INT64_MAX)

/* At most this many significant digits in a quantity: 10^19 - 1 still fits in a uint64_t. */
#define QUANTITY_DIGITS_MAX 19

struct duration_unit {
        const char *name;
        uint64_t ns;
};

static const struct duration_unit duration_units[] = {
        { "ns", 1ULL },
        { "us", 1000ULL },
        { "\xc2\xb5s", 1000ULL }, /* U+00B5 micro sign */
        { "\xce\xbcs", 1000ULL }, /* U+03BC Greek small letter mu */
        { "ms", NS_PER_MS },
        { "s", NS_PER_MS *MS_PER_SEC },
        { "m", NS_PER_MS *MS_PER_MIN },
        { "h", NS_PER_MS *MS_PER_HOUR },
        { "d", NS_PER_MS *MS_PER_DAY },
        { "w", NS_PER_MS *MS_PER_WEEK },
};

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static uint64_t duration_unit_ns(const char *p, size_t len)
{
        size_t i;

        for (i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
                if (strlen(duration_units[i].name) == len &&
                    memcmp(duration_units[i].name, p, len) == 0)
                        return duration_units[i].ns;
        }
        return 0;
}

/*
 * One "<number><unit>" element of a duration, Go's algorithm: the integer part is exact, the
 * fraction is scaled in floating point (digits beyond what fits are ignored). Advances '*pp'.
 */
static int duration_element(const char **pp, uint64_t *out_ns)
{
        const char *p = *pp;
        const char *unit;
        uint64_t v = 0;
        uint64_t f = 0;
        double scale = 1.0;
        bool any = false;
        uint64_t unit_ns;

        for (; is_digit(*p); p++) {
                uint64_t d = (uint64_t)(*p - '0');

                if (v > (DURATION_NS_MAX - d) / 10)
                        return -EINVAL;
                v = v * 10 + d;
                any = true;
        }
        if (*p == '.') {
                bool f_full = false;

                for (p++; is_digit(*p); p++) {
                        uint64_t d = (uint64_t)(*p - '0');

                        any = true;
                        if (f_full || f > (DURATION_NS_MAX - d) / 10) {
                                f_full = true; /* further digits cannot matter */
                                continue;
                        }
                        f = f * 10 + d;
                        scale *= 10.0;
                }
        }
        if (!any)
                return -EINVAL;
        unit = p;
        while (*p != '\0' && *p != '.' && !is_digit(*p))
                p++;
        unit_ns = duration_unit_ns(unit, (size_t)(p - unit));
        if (unit_ns == 0)
                return -EINVAL;
        if (v > DURATION_NS_MAX / unit_ns)
                return -EINVAL;
        v *= unit_ns;
        if (f > 0) {
                double frac = (double)f * ((double)unit_ns / scale);

                if (frac >= (double)DURATION_NS_MAX)
                        return -EINVAL;
                if (v > DURATION_NS_MAX - (uint64_t)frac)
                        return -EINVAL;
                v += (uint64_t)frac;
        }
        *pp = p;
        *out_ns = v;
        return 0;
}

int policy_duration_parse(const char *s, int64_t *out_ms)
{
        const char *p = s;
        uint64_t total = 0;

        if (!s)
                return -EINVAL;
        /* Go accepts a sign; a negative duration is never meaningful in a policy. */
        if (*p == '+')
                p++;
        if (*p == '\0' || *p == '-')
                return -EINVAL;
        if (strcmp(p, "0") == 0) {
                *out_ms = 0;
                return 0;
        }
        while (*p != '\0') {
                uint64_t ns;
                int rc;

                rc = duration_element(&p, &ns);
                if (rc < 0)
                        return rc;
                if (total > DURATION_NS_MAX - ns)
                        return -EINVAL;
                total += ns;
        }
        /*
         * Round half up to whole milliseconds, but never past the largest whole millisecond
         * that still fits the nanosecond range: a duration we accept must print as one we
         * accept again (found by fuzz_units).
         */
        {
                uint64_t ms = total / NS_PER_MS + (total % NS_PER_MS >= NS_PER_MS / 2 ? 1 : 0);

                if (ms > (uint64_t)INT64_MAX / NS_PER_MS)
                        ms = (uint64_t)INT64_MAX / NS_PER_MS;
                *out_ms = (int64_t)ms;
        }
        return 0;
}

/* Append "<v><unit>" at 'pos' when v > 0; keeps the string terminated and truncated. */
static size_t put_part(char *out, size_t size, size_t pos, uint64_t v, const char *unit)
{
        int n;

        if (v == 0 || pos >= size)
                return pos;
        n = snprintf(out + pos, size - pos, "%llu%s", (unsigned long long)v, unit);
        if (n < 0)
                return pos;
        return pos + (size_t)n;
}

const char *policy_duration_format(int64_t ms, char *out, size_t size)
{
        uint64_t v;
        size_t pos = 0;

        assert(out && size > 0);
        out[0] = '\0';
        v = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;
        if (ms < 0)
                pos = (size_t)snprintf(out, size, "-");
        if (v == 0) {
                (void)snprintf(out, size, "0s");
                return out;
        }
        /* Whole weeks as w, whole days as d, anything else as h, m, s and ms parts. */
        if (v % MS_PER_WEEK == 0) {
                (void)put_part(out, size, pos, v / MS_PER_WEEK, "w");
        } else if (v % MS_PER_DAY == 0) {
                (void)put_part(out, size, pos, v / MS_PER_DAY, "d");
        } else {
                pos = put_part(out, size, pos, v / MS_PER_HOUR, "h");
                pos = put_part(out, size, pos, v / MS_PER_MIN % 60, "m");
                pos = put_part(out, size, pos, v / MS_PER_SEC % 60, "s");
                (void)put_part(out, size, pos, v % MS_PER_SEC, "ms");
        }
        return out;
}

/*
 * The suffix of a quantity as a power of ten and a power of two. Returns false when unknown.
 * "m" is milli: "1500m" bytes is fractional and rejected later, "1000m" is one byte.
 */
static bool quantity_suffix(const char *s, int *exp10, int *exp2)
{
        static const struct {
                const char *name;
                int exp10;
                int exp2;
        } suffixes[] = {
                { "", 0, 0 },    { "m", -3, 0 },  { "k", 3, 0 },   { "M", 6, 0 },   { "G", 9, 0 },
                { "T", 12, 0 },  { "P", 15, 0 },  { "E", 18, 0 },  { "Ki", 0, 10 }, { "Mi", 0, 20 },
                { "Gi", 0, 30 }, { "Ti", 0, 40 }, { "Pi", 0, 50 }, { "Ei", 0, 60 },
        };
        size_t i;

        for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
                if (strcmp(s, suffixes[i].name) == 0) {
                        *exp10 = suffixes[i].exp10;
                        *exp2 = suffixes[i].exp2;
                        return true;
                }
        }
        return false;
}

/* "e3", "E-2", "e+6": a decimal exponent, saturated far beyond any meaningful value. */
static bool quantity_exponent(const char *s, int *out)
{
        bool neg = false;
        int v = 0;

        if (*s != 'e' && *s != 'E')
                return false;
        s++;
        if (*s == '+' || *s == '-') {
                neg = *s == '-';
                s++;
        }
        if (!is_digit(*s))
                return false;
        for (; is_digit(*s); s++) {
                if (v < 100000)
                        v = v * 10 + (*s - '0');
        }
        if (*s != '\0')
                return false;
        *out = neg ? -v : v;
        return true;
}

/*
 * The number of a quantity, "12", "1.5", ".5", "100.": its significant digits in '*mant' and a
 * power of ten in '*exp10'. Advances '*pp' past the number.
 */
static int quantity_number(const char **pp, uint64_t *mant, int64_t *exp10)
{
        const char *p = *pp;
        uint64_t m = 0;
        int64_t e = 0;
        int64_t zeros = 0; /* zeros after the last non-zero digit, not yet in m */
        int64_t digits = 0;
        bool any = false;
        bool fraction = false;

        for (;; p++) {
                if (*p == '.' && !fraction) {
                        fraction = true;
                        continue;
                }
                if (!is_digit(*p))
                        break;
                any = true;
                e -= fraction ? 1 : 0;
                if (*p == '0') {
                        zeros += m > 0 ? 1 : 0;
                        continue;
                }
                if (digits + zeros + 1 > QUANTITY_DIGITS_MAX)
                        return -EINVAL;
                digits += zeros + 1;
                for (; zeros > 0; zeros--)
                        m *= 10;
                m = m * 10 + (uint64_t)(*p - '0');
        }
        if (!any)
                return -EINVAL;
        *pp = p;
        *mant = m;
        *exp10 = e + zeros;
        return 0;
}

/* mant * 10^exp10 * 2^exp2 as a whole number of bytes; a fraction or overflow is -EINVAL. */
static int quantity_scale(uint64_t mant, int64_t exp10, int64_t exp2, int64_t *out)
{
        if (mant == 0) {
                *out = 0;
                return 0;
        }
        /* 10^-k = 5^-k * 2^-k: divide out the fives, then the twos; a remainder is a fraction. */
        for (; exp10 < 0; exp10++) {
                if (mant % 5 != 0)
                        return -EINVAL;
                mant /= 5;
                exp2--;
        }
        if (exp2 < 0) {
                if (exp2 <= -64 || (mant & ((1ULL << -exp2) - 1)) != 0)
                        return -EINVAL;
                mant >>= -exp2;
                exp2 = 0;
        }
        for (; exp10 > 0; exp10--) {
                if (mant > (uint64_t)INT64_MAX / 10)
                        return -EINVAL;
                mant *= 10;
        }
        if (exp2 >= 63 || mant > ((uint64_t)INT64_MAX >> exp2))
                return -EINVAL;
        *out = (int64_t)(mant << exp2);
        return 0;
}

/*
 * Kubernetes quantity grammar: sign, digits with an optional fraction, then a binary suffix,
 * a decimal suffix or a decimal exponent. The value is kept exact as mant * 10^exp10 * 2^exp2.
 */
int policy_quantity_parse(const char *s, int64_t *out_bytes)
{
        const char *p = s;
        uint64_t mant;
        int64_t exp10;
        int sx10;
        int sx2 = 0;
        int rc;

        if (!s || *s == '-')
                return -EINVAL;
        if (*p == '+')
                p++;
        rc = quantity_number(&p, &mant, &exp10);
        if (rc < 0)
                return rc;
        if (!quantity_exponent(p, &sx10) && !quantity_suffix(p, &sx10, &sx2))
                return -EINVAL;
        return quantity_scale(mant, exp10 + sx10, sx2, out_bytes);
}

static const char *const step_names[POLICY_MAX_STEPS] = {
        [POLICY_STEP_SOFT_DELETED] = "softDeleted",
        [POLICY_STEP_ORPHANS] = "orphans",
        [POLICY_STEP_CHECKPOINTS] = "checkpoints",
        [POLICY_STEP_FINISHED_TASKS] = "finishedTasks",
        [POLICY_STEP_IDLE_SESSIONS] = "idleSessions",
};

static const char *const reclaim_names[] = {
        [POLICY_RECLAIM_AUTO] = "Auto",
        [POLICY_RECLAIM_INCREMENTAL] = "Incremental",
        [POLICY_RECLAIM_VACUUM] = "Vacuum",
        [POLICY_RECLAIM_NONE] = "None",
};

const char *policy_step_name(enum policy_step s)
{
        assert((unsigned)s < POLICY_MAX_STEPS);
        return step_names[s];
}

const char *policy_reclaim_name(enum policy_reclaim r)
{
        assert((unsigned)r < sizeof(reclaim_names) / sizeof(reclaim_names[0]));
        return reclaim_names[r];
}
