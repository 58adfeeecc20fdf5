/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kagent's timestamp texts: Go's "2006-01-02 15:04:05.999999999-07:00" (modernc driver) and
 * RFC 3339 nano (Turso), both with trailing fraction zeros cut, always UTC.
 */
#include <stdio.h>

#include "datagen/datagen.h"
#include "datagen/internal.h"

static int64_t floor_div(int64_t a, int64_t b)
{
        int64_t q = a / b;

        if ((a % b != 0) && ((a < 0) != (b < 0)))
                q--;
        return q;
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
        int64_t era;
        unsigned doe, yoe, doy, mp;

        z += 719468;
        era = floor_div(z, 146097);
        doe = (unsigned)(z - era * 146097);
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *d = doy - (153 * mp + 2) / 5 + 1;
        *m = mp < 10 ? mp + 3 : mp - 9;
        *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

const char *datagen_format_time_ns(int64_t ns, enum datagen_layout layout, char *out, size_t size)
{
        int64_t secs = floor_div(ns, NS_PER_S);
        int64_t frac = ns - secs * NS_PER_S;
        int64_t days = floor_div(secs, 86400);
        int64_t sod = secs - days * 86400;
        char fbuf[12];
        int64_t y;
        unsigned m, d;
        bool rfc = layout == DATAGEN_LAYOUT_TURSO;

        civil_from_days(days, &y, &m, &d);
        fbuf[0] = '\0';
        if (frac != 0) {
                int len;

                /* ".123456789", then cut trailing zeros like Go's .999999999 does. */
                len = snprintf(fbuf, sizeof(fbuf), ".%09lld", (long long)frac);
                while (len > 1 && fbuf[len - 1] == '0')
                        fbuf[--len] = '\0';
        }
        (void)snprintf(out, size, "%04lld-%02u-%02u%c%02d:%02d:%02d%s%s", (long long)y, m, d,
                       rfc ? 'T' : ' ', (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
                       fbuf, rfc ? "Z" : "+00:00");
        return out;
}

const char *datagen_format_time(int64_t ms, enum datagen_layout layout, char *out, size_t size)
{
        return datagen_format_time_ns(ms * NS_PER_MS, layout, out, size);
}

int64_t time_coarsen(int64_t t_ns)
{
        /* Go's time.Now() has nanoseconds; keep that for most rows, but let a hash of the
         * instant's whole second pick a coarser clock for some seconds, so fractions of every
         * length (and none) appear. Deciding per second keeps the mapping monotonic: instants in
         * creation order keep their order (ties aside). */
        int64_t sec = floor_div(t_ns, NS_PER_S);
        uint64_t h = mix64((uint64_t)sec, 0x7157) % 100;
        int64_t unit;

        if (h < 70)
                return t_ns;
        if (h < 85)
                unit = 1000; /* microseconds */
        else if (h < 95)
                unit = NS_PER_MS;
        else
                unit = NS_PER_S;
        return floor_div(t_ns, unit) * unit;
}
