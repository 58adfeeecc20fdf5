/* SPDX-License-Identifier: Apache-2.0 */
/* Checked number parsing and small string helpers used across modules. */
#include "base/str.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int str_to_u64_n(const char *p, size_t len, uint64_t *out)
{
        uint64_t v = 0;
        size_t i;

        if (!p || len == 0)
                return -EINVAL;
        for (i = 0; i < len; i++) {
                unsigned d;

                if (p[i] < '0' || p[i] > '9')
                        return -EINVAL;
                d = (unsigned)(p[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *out = v;
        return 0;
}

int str_to_u64(const char *s, uint64_t *out)
{
        if (!s)
                return -EINVAL;
        return str_to_u64_n(s, strlen(s), out);
}

int str_to_i64(const char *s, int64_t *out)
{
        uint64_t v;
        bool neg = false;
        int rc;

        if (!s)
                return -EINVAL;
        if (*s == '-' || *s == '+') {
                neg = *s == '-';
                s++;
        }
        rc = str_to_u64(s, &v);
        if (rc < 0)
                return rc;
        if (neg) {
                if (v > (uint64_t)INT64_MAX + 1)
                        return -ERANGE;
                *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
                return 0;
        }
        if (v > (uint64_t)INT64_MAX)
                return -ERANGE;
        *out = (int64_t)v;
        return 0;
}

bool str_has_prefix(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
        size_t n = strlen(s);
        size_t m = strlen(suffix);

        return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

size_t str_copy(char *dst, const char *src, size_t size)
{
        size_t n = strlen(src);

        if (size > 0) {
                size_t c = n < size - 1 ? n : size - 1;

                memcpy(dst, src, c);
                dst[c] = '\0';
        }
        return n;
}

const char *str_human_bytes(uint64_t bytes, char *out, size_t size)
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double)bytes;
        size_t u = 0;

        while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
                v /= 1024.0;
                u++;
        }
        if (u == 0)
                (void)snprintf(out, size, "%llu B", (unsigned long long)bytes);
        else
                (void)snprintf(out, size, "%.1f %s", v, units[u]);
        return out;
}
