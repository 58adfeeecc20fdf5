/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers shared by the kube module: Kubernetes time formats, strict base64, bounded file
 * reads, wiping secrets, jansson accessors and the default random source.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/errbuf.h"
#include "base/memguard.h"
#include "base/str.h"
#include "kube/internal.h"

void kube_time_format(int64_t wall_ms, bool micro, char *out, size_t size)
{
        time_t t = (time_t)(wall_ms / 1000);
        char date[32];
        struct tm tm;

        if (wall_ms < 0 || !gmtime_r(&t, &tm) ||
            strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
                (void)snprintf(out, size, "1970-01-01T00:00:00Z");
                return;
        }
        if (micro)
                (void)snprintf(out, size, "%s.%06dZ", date, (int)(wall_ms % 1000) * 1000);
        else
                (void)snprintf(out, size, "%sZ", date);
}

static int b64_value(unsigned char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int kube_base64_decode(const char *s, size_t len, char **out, size_t *out_len)
{
        char *dst;
        size_t n = 0;
        size_t pad = 0;
        uint32_t acc = 0;
        unsigned bits = 0;
        size_t i;

        dst = malloc(len / 4 * 3 + 4);
        if (!dst)
                return -ENOMEM;
        for (i = 0; i < len; i++) {
                int v;

                if (is_space(s[i]))
                        continue;
                if (s[i] == '=') {
                        pad++;
                        continue;
                }
                v = b64_value((unsigned char)s[i]);
                if (v < 0 || pad > 0) /* junk, or data after padding */
                        goto bad;
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        dst[n++] = (char)((acc >> bits) & 0xff);
                }
        }
        /* Leftover bits must be zero and fewer than a byte; padding completes a quantum. */
        if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0 || pad > 2 ||
            (pad > 0 && (bits / 2 != pad)))
                goto bad;
        dst[n] = '\0';
        *out = dst;
        *out_len = n;
        return 0;
bad:
        kube_free_secret(dst, len / 4 * 3 + 4);
        return -EINVAL;
}

void kube_free_secret(char *s, size_t len)
{
        if (!s)
                return;
        explicit_bzero(s, len);
        free(s);
}

int kube_strdup_opt(const char *src, char **out)
{
        char *p = NULL;

        if (src) {
                p = strdup(src);
                if (!p)
                        return -ENOMEM;
        }
        *out = p;
        return 0;
}

const char *kube_json_str(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

const char *kube_json_meta_str(const json_t *obj, const char *key)
{
        return kube_json_str(json_object_get(obj, "metadata"), key);
}

int kube_json_errno(const json_error_t *jerr)
{
        /* jansson leaves the error empty when its lexer cannot even allocate its buffer. */
        if (json_error_code(jerr) == json_error_out_of_memory || jerr->text[0] == '\0')
                return -ENOMEM;
        return -EPROTO;
}

json_t *kube_json_load(const char *text, size_t len, json_error_t *jerr, int *out_code)
{
        unsigned long failures = memguard_failures();
        json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, jerr);

        if (memguard_failures() != failures) {
                json_decref(v);
                (void)str_copy(jerr->text, "out of memory", sizeof(jerr->text));
                *out_code = -ENOMEM;
                return NULL;
        }
        if (!v)
                *out_code = kube_json_errno(jerr);
        return v;
}

/* The length of the sequence 'lead' starts and the smallest code point it may encode. */
static size_t utf8_seq(unsigned char lead, uint32_t *min)
{
        if (lead < 0x80) {
                *min = 0;
                return 1;
        }
        if ((lead & 0xe0) == 0xc0) {
                *min = 0x80;
                return 2;
        }
        if ((lead & 0xf0) == 0xe0) {
                *min = 0x800;
                return 3;
        }
        if ((lead & 0xf8) == 0xf0) {
                *min = 0x10000;
                return 4;
        }
        return 0;
}

bool kube_utf8_valid(const char *s, size_t len)
{
        size_t i = 0;

        while (i < len) {
                unsigned char lead = (unsigned char)s[i];
                uint32_t min = 0;
                size_t n = utf8_seq(lead, &min);
                uint32_t cp;
                size_t k;

                if (n == 0 || i + n > len || (n == 1 && lead == 0))
                        return false;
                cp = n == 1 ? lead : lead & (0x7fu >> n);
                for (k = 1; k < n; k++) {
                        unsigned char c = (unsigned char)s[i + k];

                        if ((c & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (c & 0x3fu);
                }
                /* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n;
        }
        return true;
}

uint64_t kube_rng_next(uint64_t *state)
{
        uint64_t x = *state;

        if (x == 0)
                x = 0x9e3779b97f4a7c15ULL;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *state = x;
        return x * 0x2545f4914f6cdd1dULL;
}

uint64_t kube_rng_seed(void)
{
        struct timespec ts;
        uint64_t s;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        s ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL;
        return s ? s : 1;
}

/* Grow '*data' so it holds at least one more byte than 'len' plus a terminator. */
static int grow(char **data, size_t *cap, size_t len)
{
        size_t ncap;
        char *p;

        if (len < *cap)
                return 0;
        ncap = *cap ? *cap * 2 : 4096;
        p = realloc(*data, ncap + 1);
        if (!p)
                return -ENOMEM;
        *data = p;
        *cap = ncap;
        return 0;
}

/* Read all of 'fd' into a buffer bounded by 'max' (the buffer may hold a secret: wiped). */
static int read_all(int fd, size_t max, char **out, size_t *out_len)
{
        char *data = NULL;
        size_t len = 0;
        size_t cap = 0;
        int rc = 0;

        for (;;) {
                ssize_t n;

                rc = grow(&data, &cap, len);
                if (rc < 0)
                        break;
                n = read(fd, data + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        rc = n < 0 ? -errno : 0;
                        break;
                }
                len += (size_t)n;
                if (len > max) {
                        rc = -EMSGSIZE;
                        break;
                }
        }
        if (rc < 0) {
                if (data)
                        kube_free_secret(data, cap + 1);
                return rc;
        }
        data[len] = '\0';
        *out = data;
        *out_len = len;
        return 0;
}

int kube_read_file(const char *path, size_t max, char **out, size_t *out_len, struct errbuf *err)
{
        int fd;
        int rc;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                rc = -errno;
                return errbuf_set(err, rc, "'%s': %s", path,
                                  rc == -ENOENT ? "no such file" : "cannot open");
        }
        rc = read_all(fd, max, out, out_len);
        (void)close(fd);
        if (rc == -EMSGSIZE)
                return errbuf_set(err, rc, "'%s': larger than %zu bytes", path, max);
        if (rc == -ENOMEM)
                return errbuf_set(err, rc, "out of memory");
        if (rc < 0)
                return errbuf_set(err, rc, "'%s': read failed", path);
        return 0;
}
