/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Redaction of libpq connection strings: the password of a URL's user info and the value of
 * every parameter whose name ends in "password" (password, sslpassword), in URL query or
 * keyword/value form, become "***". Used for every message that could quote a connection
 * string; over-redacting is preferred to leaking.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "store/store.h"

#define KEY_MAX 64

struct out {
        char *p;
        size_t size;
        size_t len;
};

static void put(struct out *o, const char *s, size_t n)
{
        for (size_t i = 0; i < n && o->len + 1 < o->size; i++)
                o->p[o->len++] = s[i];
        o->p[o->len] = '\0';
}

static void put_str(struct out *o, const char *s)
{
        put(o, s, strlen(s));
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char)tolower((unsigned char)c);
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Percent-decode the parameter name at 's' (length n) into 'key'; returns its length, or
 * 'size' when it does not fit. */
static size_t decode_key(const char *s, size_t n, char *key, size_t size)
{
        size_t k = 0;

        for (size_t i = 0; i < n && k < size; i++) {
                bool escaped =
                        s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0;

                if (escaped) {
                        key[k++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
                        i += 2;
                } else {
                        key[k++] = s[i];
                }
        }
        return k;
}

/* Does the parameter name at 's' (length n, percent-decoded, any case) end in "password"? */
static bool is_password_key(const char *s, size_t n)
{
        static const char suffix[] = "password";
        const size_t sl = sizeof(suffix) - 1;
        char key[KEY_MAX];
        size_t k = decode_key(s, n, key, sizeof(key));

        if (k < sl || k == sizeof(key))
                return false;
        for (size_t i = 0; i < sl; i++)
                if (tolower((unsigned char)key[k - sl + i]) != suffix[i])
                        return false;
        return true;
}

static bool is_key_char(char c)
{
        return isalnum((unsigned char)c) || c == '_' || c == '%';
}

/* End of a keyword-form value at 's': a quoted string (backslash escapes) or up to a space. */
static const char *skip_keyword_value(const char *s)
{
        if (*s == '\'') {
                for (s++; *s && *s != '\''; s++)
                        if (*s == '\\' && s[1])
                                s++;
                return *s ? s + 1 : s;
        }
        while (*s && !isspace((unsigned char)*s))
                s++;
        return s;
}

/*
 * At 's' (a parameter may start here): when it is "<name ending in password> [spaces] =", write
 * the redacted parameter and return where scanning resumes; else return NULL.
 */
static const char *redact_param(struct out *o, const char *s, bool query)
{
        const char *k = s;
        const char *e;

        while (is_key_char(*k))
                k++;
        if (k == s || !is_password_key(s, (size_t)(k - s)))
                return NULL;
        e = k;
        while (!query && (*e == ' ' || *e == '\t'))
                e++;
        if (*e != '=')
                return NULL;
        e++;
        put(o, s, (size_t)(k - s));
        put_str(o, "=***");
        if (query) {
                while (*e && *e != '&' && *e != '#')
                        e++;
                return e;
        }
        while (*e == ' ' || *e == '\t')
                e++;
        return skip_keyword_value(e);
}

/* At "://": redact the password of the user info ("user:password@"), up to the last '@'. */
static const char *redact_userinfo(struct out *o, const char *s)
{
        const char *start = s + 3;
        const char *at = strrchr(start, '@');
        const char *colon;

        put_str(o, "://");
        if (!at)
                return start;
        colon = memchr(start, ':', (size_t)(at - start));
        if (!colon)
                return start;
        put(o, start, (size_t)(colon - start));
        put_str(o, ":***");
        return at;
}

const char *store_conninfo_redact(const char *in, char *out, size_t size)
{
        struct out o = { .p = out, .size = size, .len = 0 };
        bool in_url = false;
        bool query = false;
        const char *s = in ? in : "";

        if (size == 0)
                return out;
        out[0] = '\0';
        while (*s) {
                bool boundary = s == in || isspace((unsigned char)s[-1]) ||
                                (in_url && (s[-1] == '?' || s[-1] == '&'));
                const char *next;

                if (strncmp(s, "://", 3) == 0 && !in_url) {
                        in_url = true;
                        s = redact_userinfo(&o, s);
                        continue;
                }
                if (in_url && *s == '?')
                        query = true;
                if (isspace((unsigned char)*s))
                        query = false;
                next = boundary ? redact_param(&o, s, query) : NULL;
                if (next) {
                        s = next;
                        continue;
                }
                put(&o, s, 1);
                s++;
        }
        return out;
}
