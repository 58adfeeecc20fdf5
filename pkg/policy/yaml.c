/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML to jansson conversion for policy files: libyaml's event parser feeds an explicit stack of
 * containers, plain scalars are typed by the YAML 1.2 core schema, and everything a policy never
 * needs (anchors, aliases, complex keys, custom tags) is rejected.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "base/errbuf.h"
#include "base/str.h"
#include "policy/policy.h"

/* A policy is four levels deep; anything much deeper is not a policy and is refused early. */
#define YAML_DEPTH_MAX 32

#define TAG_PREFIX "tag:yaml.org,2002:"

struct frame {
        json_t *node; /* borrowed: owned by its parent or by the converter's root */
        char *key;    /* owned; the mapping key waiting for its value, NULL for sequences */
};

struct conv {
        json_t *root; /* owned */
        struct frame stack[YAML_DEPTH_MAX];
        size_t depth;
};

static int mark_error(struct errbuf *err, const yaml_mark_t *m, const char *what)
{
        return errbuf_set(err, -EINVAL, "yaml: line %zu, column %zu: %s", m->line + 1,
                          m->column + 1, what);
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_one_of(const char *s, const char *const *list)
{
        for (; *list; list++) {
                if (strcmp(s, *list) == 0)
                        return true;
        }
        return false;
}

/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool is_core_float(const char *s)
{
        bool mant = false;

        if (*s == '-' || *s == '+')
                s++;
        for (; is_digit(*s); s++)
                mant = true;
        if (*s == '.') {
                for (s++; is_digit(*s); s++)
                        mant = true;
        }
        if (!mant)
                return false;
        if (*s == 'e' || *s == 'E') {
                s++;
                if (*s == '-' || *s == '+')
                        s++;
                if (!is_digit(*s))
                        return false;
                while (is_digit(*s))
                        s++;
        }
        return *s == '\0';
}

/* 0o[0-7]+ and 0x[0-9a-fA-F]+ of the core schema. Returns 1 when matched, 0 when not. */
static int parse_radix_int(const char *s, int64_t *out, bool *overflow)
{
        uint64_t v = 0;
        unsigned base;

        if (s[0] != '0' || (s[1] != 'o' && s[1] != 'x') || s[2] == '\0')
                return 0;
        base = s[1] == 'o' ? 8 : 16;
        for (s += 2; *s; s++) {
                unsigned d;

                if (is_digit(*s))
                        d = (unsigned)(*s - '0');
                else if (base == 16 && *s >= 'a' && *s <= 'f')
                        d = (unsigned)(*s - 'a' + 10);
                else if (base == 16 && *s >= 'A' && *s <= 'F')
                        d = (unsigned)(*s - 'A' + 10);
                else
                        return 0;
                if (d >= base)
                        return 0;
                if (v > ((uint64_t)INT64_MAX - d) / base)
                        *overflow = true;
                else
                        v = v * base + d;
        }
        *out = (int64_t)v;
        return 1;
}

enum core_type {
        CORE_ANY = 0, /* resolve by the core schema */
        CORE_STR,
        CORE_NULL,
        CORE_BOOL,
        CORE_INT,
        CORE_FLOAT,
};

static bool wants(enum core_type want, enum core_type t)
{
        return want == CORE_ANY || want == t;
}

/* The type a scalar's tag asks for; -EINVAL for tags a policy has no use for. */
static int tag_type(const yaml_event_t *ev, enum core_type *out)
{
        static const struct {
                const char *tag;
                enum core_type type;
        } tags[] = {
                { "!", CORE_STR },
                { TAG_PREFIX "str", CORE_STR },
                { TAG_PREFIX "null", CORE_NULL },
                { TAG_PREFIX "bool", CORE_BOOL },
                { TAG_PREFIX "int", CORE_INT },
                { TAG_PREFIX "float", CORE_FLOAT },
        };
        const char *tag = (const char *)ev->data.scalar.tag;
        size_t i;

        if (!tag) {
                /* Quoted and block scalars are strings; plain ones are resolved. */
                *out = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? CORE_ANY : CORE_STR;
                return 0;
        }
        for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
                if (strcmp(tag, tags[i].tag) == 0) {
                        *out = tags[i].type;
                        return 0;
                }
        }
        return -EINVAL;
}

/* [-+]?[0-9]+ in decimal, then the 0o and 0x forms: 1 matched, 0 not an integer, -ERANGE. */
static int core_int(const char *s, int64_t *out)
{
        bool overflow = false;
        int rc;

        rc = str_to_i64(s, out);
        if (rc == 0)
                return 1;
        if (rc == -ERANGE)
                return rc;
        if (parse_radix_int(s, out, &overflow) == 0)
                return 0;
        return overflow ? -ERANGE : 1;
}

/*
 * Resolve a non-string scalar by the YAML 1.2 core schema, restricted to 'want'. Returns 0 and
 * '*out' (NULL when out of memory), or -EINVAL with the reason in '*problem'.
 */
static int core_scalar(const char *s, enum core_type want, json_t **out, const char **problem)
{
        static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
        static const char *const trues[] = { "true", "True", "TRUE", NULL };
        static const char *const falses[] = { "false", "False", "FALSE", NULL };
        static const char *const infs[] = { ".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                            "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                            ".NaN",  ".NAN",  NULL };
        int64_t i;
        int rc;

        *out = NULL;
        if (wants(want, CORE_NULL) && is_one_of(s, nulls)) {
                *out = json_null();
                return 0;
        }
        if (wants(want, CORE_BOOL) && (is_one_of(s, trues) || is_one_of(s, falses))) {
                *out = json_boolean(is_one_of(s, trues));
                return 0;
        }
        rc = wants(want, CORE_INT) ? core_int(s, &i) : 0;
        if (rc == 1) {
                *out = json_integer(i);
                return 0;
        }
        *problem = "integer out of range";
        if (rc < 0)
                return -EINVAL;
        *problem = "infinite and NaN numbers are not supported";
        if (wants(want, CORE_FLOAT) && is_one_of(s, infs))
                return -EINVAL;
        if (wants(want, CORE_FLOAT) && is_core_float(s)) {
                double d = strtod(s, NULL);

                *problem = "number out of range";
                if (!isfinite(d))
                        return -EINVAL;
                *out = json_real(d);
                return 0;
        }
        *problem = "scalar does not match its tag";
        if (want != CORE_ANY)
                return -EINVAL;
        *out = json_string(s);
        return 0;
}

/* Type a scalar: a string unless it is plain (or tagged) and the core schema says otherwise. */
static int scalar_to_json(const yaml_event_t *ev, json_t **out, struct errbuf *err)
{
        const char *s = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        const char *problem = NULL;
        enum core_type want;

        if (memchr(s, '\0', len))
                return mark_error(err, &ev->start_mark, "scalar contains a NUL character");
        if (tag_type(ev, &want) < 0)
                return mark_error(err, &ev->start_mark, "unsupported tag");
        if (want == CORE_STR)
                *out = json_stringn(s, len);
        else if (core_scalar(s, want, out, &problem) < 0)
                return mark_error(err, &ev->start_mark, problem);
        if (!*out)
                return errbuf_set(err, -ENOMEM, "out of memory");
        return 0;
}

/* Attach a new node (reference stolen) to the innermost container, or make it the root. */
static int attach(struct conv *c, json_t *node, const yaml_mark_t *m, struct errbuf *err)
{
        struct frame *f;
        int rc;

        if (c->depth == 0) {
                c->root = node;
                return 0;
        }
        f = &c->stack[c->depth - 1];
        if (json_is_array(f->node)) {
                rc = json_array_append_new(f->node, node);
        } else {
                if (!f->key) {
                        json_decref(node);
                        return mark_error(err, m, "only scalar mapping keys are supported");
                }
                rc = json_object_set_new(f->node, f->key, node);
                free(f->key);
                f->key = NULL;
        }
        if (rc < 0)
                return errbuf_set(err, -ENOMEM, "out of memory");
        return 0;
}

static int on_scalar(struct conv *c, const yaml_event_t *ev, struct errbuf *err)
{
        struct frame *f = c->depth > 0 ? &c->stack[c->depth - 1] : NULL;
        const char *text = (const char *)ev->data.scalar.value;
        json_t *node = NULL;
        int rc;

        if (f && json_is_object(f->node) && !f->key) {
                /* A mapping key: taken as text whatever its type, unique within its mapping. */
                if (memchr(text, '\0', ev->data.scalar.length))
                        return mark_error(err, &ev->start_mark, "key contains a NUL character");
                if (json_object_get(f->node, text)) {
                        char msg[160];

                        (void)snprintf(msg, sizeof(msg), "duplicate key '%.100s'", text);
                        return mark_error(err, &ev->start_mark, msg);
                }
                f->key = strdup(text);
                if (!f->key)
                        return errbuf_set(err, -ENOMEM, "out of memory");
                return 0;
        }
        rc = scalar_to_json(ev, &node, err);
        if (rc < 0)
                return rc;
        return attach(c, node, &ev->start_mark, err);
}

static int on_start(struct conv *c, const yaml_event_t *ev, bool mapping, struct errbuf *err)
{
        const yaml_char_t *tag = mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
        const char *want = mapping ? TAG_PREFIX "map" : TAG_PREFIX "seq";
        json_t *node;
        int rc;

        if (tag && strcmp((const char *)tag, want) != 0)
                return mark_error(err, &ev->start_mark, "unsupported tag");
        if (c->depth == YAML_DEPTH_MAX)
                return mark_error(err, &ev->start_mark, "nesting too deep");
        node = mapping ? json_object() : json_array();
        if (!node)
                return errbuf_set(err, -ENOMEM, "out of memory");
        rc = attach(c, node, &ev->start_mark, err);
        if (rc < 0)
                return rc;
        c->stack[c->depth].node = node;
        c->stack[c->depth].key = NULL;
        c->depth++;
        return 0;
}

static int on_event(struct conv *c, const yaml_event_t *ev, struct errbuf *err)
{
        switch (ev->type) {
        case YAML_ALIAS_EVENT:
                return mark_error(err, &ev->start_mark, "aliases are not supported");
        case YAML_SCALAR_EVENT:
                if (ev->data.scalar.anchor)
                        return mark_error(err, &ev->start_mark, "anchors are not supported");
                return on_scalar(c, ev, err);
        case YAML_SEQUENCE_START_EVENT:
                if (ev->data.sequence_start.anchor)
                        return mark_error(err, &ev->start_mark, "anchors are not supported");
                return on_start(c, ev, false, err);
        case YAML_MAPPING_START_EVENT:
                if (ev->data.mapping_start.anchor)
                        return mark_error(err, &ev->start_mark, "anchors are not supported");
                return on_start(c, ev, true, err);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                assert(c->depth > 0);
                c->depth--;
                free(c->stack[c->depth].key);
                c->stack[c->depth].key = NULL;
                return 0;
        case YAML_NO_EVENT:
        case YAML_STREAM_START_EVENT:
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
                return 0;
        }
        return 0;
}

/* Feed the events of the first document to the converter; stop at its end. */
static int convert(yaml_parser_t *parser, struct conv *c, struct errbuf *err)
{
        yaml_event_t ev;

        for (;;) {
                int rc;

                if (!yaml_parser_parse(parser, &ev)) {
                        if (parser->error == YAML_MEMORY_ERROR)
                                return errbuf_set(err, -ENOMEM, "out of memory");
                        return mark_error(err, &parser->problem_mark,
                                          parser->problem ? parser->problem : "syntax error");
                }
                if (ev.type == YAML_STREAM_END_EVENT || ev.type == YAML_DOCUMENT_END_EVENT) {
                        yaml_event_delete(&ev);
                        return 0;
                }
                rc = on_event(c, &ev, err);
                yaml_event_delete(&ev);
                if (rc < 0)
                        return rc;
        }
}

int policy_yaml_to_json(const char *text, size_t len, json_t **out, struct errbuf *err)
{
        struct conv c = { 0 };
        yaml_parser_t parser;
        bool parser_ready = false;
        size_t i;
        int rc;

        assert(text || len == 0);
        if (len > (size_t)POLICY_TEXT_MAX) {
                rc = errbuf_set(err, -EMSGSIZE, "policy text is larger than %d bytes",
                                POLICY_TEXT_MAX);
                goto out;
        }
        if (!yaml_parser_initialize(&parser)) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        parser_ready = true;
        yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
        rc = convert(&parser, &c, err);
        if (rc < 0)
                goto out;
        if (!c.root) {
                rc = errbuf_set(err, -EINVAL, "yaml: empty document");
                goto out;
        }
        *out = c.root;
        c.root = NULL;
        rc = 0;
out:
        for (i = 0; i < c.depth; i++)
                free(c.stack[i].key);
        json_decref(c.root);
        if (parser_ready)
                yaml_parser_delete(&parser);
        return rc;
}
