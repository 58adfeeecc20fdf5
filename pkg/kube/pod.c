/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The own Pod: reading it through the API, finding the volume that holds a path from the
 * containers' volumeMounts, and its emptyDir sizeLimit (a Kubernetes quantity) and medium.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/errbuf.h"
#include "kube/internal.h"
#include "kube/kube.h"

/* Significant digits of a quantity's number: 10^19 - 1 still fits in a uint64_t. */
#define QUANTITY_DIGITS_MAX 19
/* Beyond these exponents the value is certainly out of range (or rounds up to one byte). */
#define QUANTITY_EXP_MAX 64

__extension__ typedef unsigned __int128 u128;

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

/* The suffix: a power of ten and a power of two. False when unknown. */
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
        if (s[0] != 'e' && s[0] != 'E')
                return false;
        /* A decimal exponent: "e3", "E-2", "e+6". */
        {
                const char *p = s + 1;
                bool neg = *p == '-';
                int v = 0;

                if (*p == '+' || *p == '-')
                        p++;
                if (!is_digit(*p))
                        return false;
                for (; is_digit(*p); p++) {
                        if (v < 100000)
                                v = v * 10 + (*p - '0');
                }
                if (*p != '\0')
                        return false;
                *exp10 = neg ? -v : v;
                *exp2 = 0;
                return true;
        }
}

/* mant * 10^exp10 * 2^exp2, rounded up to an integer; -ERANGE beyond INT64_MAX. */
static int quantity_scale(uint64_t mant, int exp10, int exp2, int64_t *out)
{
        u128 v = (u128)mant << exp2; /* mant < 2^64, exp2 <= 60: fits */
        u128 div = 1;

        if (mant == 0) {
                *out = 0;
                return 0;
        }
        if (exp10 > QUANTITY_EXP_MAX)
                return -ERANGE;
        for (; exp10 > 0; exp10--) {
                if (v > (u128)INT64_MAX)
                        return -ERANGE;
                v *= 10;
        }
        if (exp10 < -38) {
                *out = 1; /* a positive value far below one byte rounds up to one */
                return 0;
        }
        for (; exp10 < 0; exp10++)
                div *= 10;
        v = v / div + (v % div != 0);
        if (v > (u128)INT64_MAX)
                return -ERANGE;
        *out = (int64_t)v;
        return 0;
}

int kube_quantity_parse(const char *s, int64_t *out)
{
        uint64_t mant = 0;
        int digits = 0;
        int exp10 = 0;
        int sexp10;
        int sexp2;
        int zeros = 0; /* zeros after the last non-zero digit, not yet in mant */
        bool any = false;
        bool fraction = false;
        const char *p = s;

        if (*p == '+')
                p++;
        for (;; p++) {
                if (*p == '.' && !fraction) {
                        fraction = true;
                        continue;
                }
                if (!is_digit(*p))
                        break;
                any = true;
                if (fraction)
                        exp10--;
                if (*p == '0') {
                        if (mant > 0)
                                zeros++;
                        continue;
                }
                if (digits + zeros + 1 > QUANTITY_DIGITS_MAX)
                        return -ERANGE;
                digits += zeros + 1;
                for (; zeros > 0; zeros--)
                        mant *= 10;
                mant = mant * 10 + (uint64_t)(*p - '0');
        }
        if (!any || !quantity_suffix(p, &sexp10, &sexp2))
                return -EINVAL;
        /* Trailing zeros were kept out of the mantissa: they are a power of ten. */
        return quantity_scale(mant, exp10 + zeros + sexp10, sexp2, out);
}

/* "/a/b/" -> length of "/a/b"; "/" stays "/". */
static size_t trimmed_len(const char *p)
{
        size_t n = strlen(p);

        while (n > 1 && p[n - 1] == '/')
                n--;
        return n;
}

/* True when 'mount' (trimmed to 'n') is 'path' or a whole-component prefix of it. */
static bool mount_holds(const char *mount, size_t n, const char *path)
{
        if (n == 1 && mount[0] == '/')
                return true;
        return strncmp(path, mount, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

struct best {
        const char *volume;
        const char *container;
        const char *mount;
        size_t len;
};

static int scan_containers(const json_t *list, const char *container, const char *path,
                           struct best *b, struct errbuf *err)
{
        const json_t *c;
        size_t i;

        if (list && !json_is_array(list))
                return errbuf_set(err, -EPROTO, "pod: containers is not a list");
        json_array_foreach(list, i, c)
        {
                const char *name = kube_json_str(c, "name");
                const json_t *m;
                size_t j;

                if (!name || (container && strcmp(name, container) != 0))
                        continue;
                json_array_foreach(json_object_get(c, "volumeMounts"), j, m)
                {
                        const char *mp = kube_json_str(m, "mountPath");
                        const char *vol = kube_json_str(m, "name");
                        size_t n;

                        if (!mp || !vol || mp[0] != '/')
                                continue;
                        n = trimmed_len(mp);
                        if (mount_holds(mp, n, path) && (!b->volume || n > b->len)) {
                                b->volume = vol;
                                b->container = name;
                                b->mount = mp;
                                b->len = n;
                        }
                }
        }
        return 0;
}

static int fill_volume(const json_t *spec, const struct best *b, struct kube_pod_volume *out,
                       struct errbuf *err)
{
        const json_t *v;
        size_t i;

        (void)snprintf(out->name, sizeof(out->name), "%s", b->volume);
        (void)snprintf(out->container, sizeof(out->container), "%s", b->container);
        (void)snprintf(out->mount_path, sizeof(out->mount_path), "%.*s", (int)b->len, b->mount);
        out->size_limit_bytes = -1;
        json_array_foreach(json_object_get(spec, "volumes"), i, v)
        {
                const char *name = kube_json_str(v, "name");
                const json_t *ed = json_object_get(v, "emptyDir");
                const json_t *limit;
                const char *medium;

                if (!name || strcmp(name, b->volume) != 0)
                        continue;
                if (!json_is_object(ed))
                        return 0;
                out->empty_dir = true;
                medium = kube_json_str(ed, "medium");
                (void)snprintf(out->medium, sizeof(out->medium), "%s", medium ? medium : "");
                limit = json_object_get(ed, "sizeLimit");
                if (json_is_integer(limit) && json_integer_value(limit) >= 0) {
                        out->size_limit_bytes = (int64_t)json_integer_value(limit);
                } else if (json_is_string(limit)) {
                        int rc = kube_quantity_parse(json_string_value(limit),
                                                     &out->size_limit_bytes);

                        if (rc < 0)
                                return errbuf_set(err, -EPROTO,
                                                  "pod: volume '%s': invalid sizeLimit '%s'", name,
                                                  json_string_value(limit));
                } else if (limit && !json_is_null(limit)) {
                        return errbuf_set(err, -EPROTO, "pod: volume '%s': invalid sizeLimit",
                                          name);
                }
                return 0;
        }
        return errbuf_set(err, -EPROTO, "pod: volume '%s' is mounted but not declared", b->volume);
}

int kube_pod_volume_find(const json_t *pod, const char *container, const char *path,
                         struct kube_pod_volume *out, struct errbuf *err)
{
        const json_t *spec = json_object_get(pod, "spec");
        struct kube_pod_volume v;
        struct best b;
        int rc;

        if (!path || path[0] != '/')
                return errbuf_set(err, -EINVAL, "pod volume: path '%s' is not absolute",
                                  path ? path : "");
        if (!json_is_object(spec))
                return errbuf_set(err, -EPROTO, "pod: no spec");
        memset(&b, 0, sizeof(b));
        rc = scan_containers(json_object_get(spec, "containers"), container, path, &b, err);
        if (rc == 0)
                rc = scan_containers(json_object_get(spec, "initContainers"), container, path, &b,
                                     err);
        if (rc < 0)
                return rc;
        if (!b.volume)
                return errbuf_set(err, -ENOENT, "pod: no volume mount holds '%s'%s%s%s", path,
                                  container ? " in container '" : "", container ? container : "",
                                  container ? "'" : "");
        memset(&v, 0, sizeof(v));
        rc = fill_volume(spec, &b, &v, err);
        if (rc < 0)
                return rc;
        *out = v;
        return 0;
}

int kube_pod_get_self(struct kube_client *c, const char *pod_name, const char *ns, json_t **out,
                      struct errbuf *err)
{
        static const struct kube_resource pods = { "", "v1", "pods" };
        char path[KUBE_PATH_MAX];
        int rc;

        /* NOLINTNEXTLINE(concurrency-mt-unsafe): read-only, nothing here calls setenv */
        pod_name = pod_name ? pod_name : getenv("POD_NAME");
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): read-only, nothing here calls setenv */
        ns = ns ? ns : getenv("POD_NAMESPACE");
        if (!pod_name || pod_name[0] == '\0' || !ns || ns[0] == '\0')
                return errbuf_set(err, -EINVAL,
                                  "own pod: POD_NAME and POD_NAMESPACE must be set (downward API)");
        rc = kube_path(&pods, ns, pod_name, NULL, path, sizeof(path), err);
        if (rc < 0)
                return rc;
        return kube_get(c, path, out, err);
}
