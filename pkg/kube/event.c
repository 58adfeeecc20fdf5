/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Events on an object (events.k8s.io/v1 or core v1) and their aggregation: a repeat of the
 * same event within a window bumps the count of the Event already written (series.count or
 * count) with a merge patch instead of creating another object.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/errbuf.h"
#include "kube/internal.h"
#include "kube/kube.h"

#define EVENT_NOTE_MAX     1024 /* events.k8s.io/v1 validation: note <= 1 KiB */
#define EVENT_FIELD_MAX    128  /* reason, action, reportingInstance */
#define EVENT_SUFFIX_CHARS 17   /* ".%016llx" */

static size_t utf8_cut(const char *s, size_t max)
{
        size_t n = strlen(s);

        if (n <= max)
                return n;
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                n--;
        return n;
}

static json_t *object_ref(const struct kube_object_ref *ref)
{
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", ref->api_version, "kind",
                              ref->kind, "namespace", ref->ns, "name", ref->name);

        if (o && ref->uid && json_object_set_new(o, "uid", json_string(ref->uid)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static int check_inputs(const struct kube_event_source *src, const struct kube_object_ref *ref,
                        const struct kube_event_spec *spec, struct errbuf *err)
{
        assert(spec->type &&
               (strcmp(spec->type, "Normal") == 0 || strcmp(spec->type, "Warning") == 0));
        if (!ref->api_version || !ref->kind || !ref->ns || !ref->name || ref->name[0] == '\0')
                return errbuf_set(err, -EINVAL, "event: incomplete object reference");
        if (!spec->reason || spec->reason[0] == '\0' || strlen(spec->reason) > EVENT_FIELD_MAX)
                return errbuf_set(err, -EINVAL, "event: reason missing or longer than %d",
                                  EVENT_FIELD_MAX);
        if (!src->controller || !src->instance || src->instance[0] == '\0' ||
            strlen(src->instance) > EVENT_FIELD_MAX)
                return errbuf_set(err, -EINVAL, "event: reporting controller or instance missing");
        if (spec->message &&
            !kube_utf8_valid(spec->message, utf8_cut(spec->message, EVENT_NOTE_MAX)))
                return errbuf_set(err, -EINVAL, "event: message is not valid utf-8");
        return 0;
}

int kube_event_build(const struct kube_event_source *src, const struct kube_object_ref *ref,
                     const struct kube_event_spec *spec, int64_t now_wall_ms, json_t **out,
                     struct errbuf *err)
{
        const char *message = spec->message ? spec->message : "";
        char name[KUBE_NAME_MAX + 1];
        char micro[KUBE_TIME_LEN];
        char secs[KUBE_TIME_LEN];
        json_t *ev = NULL;
        json_t *regarding;
        int rc;

        rc = check_inputs(src, ref, spec, err);
        if (rc < 0)
                return rc;
        /* client-go's name: the object's name and the time in hex nanoseconds. */
        (void)snprintf(name, sizeof(name), "%.*s.%016llx",
                       (int)(KUBE_NAME_MAX - EVENT_SUFFIX_CHARS), ref->name,
                       (unsigned long long)now_wall_ms * 1000000ULL);
        kube_time_format(now_wall_ms, true, micro, sizeof(micro));
        kube_time_format(now_wall_ms, false, secs, sizeof(secs));
        regarding = object_ref(ref);
        if (!regarding)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (src->api == KUBE_EVENT_API_EVENTS_V1)
                ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:o, s:s%, s:s}",
                               "apiVersion", "events.k8s.io/v1", "kind", "Event", "metadata",
                               "name", name, "namespace", ref->ns, "eventTime", micro,
                               "reportingController", src->controller, "reportingInstance",
                               src->instance, "action", spec->action ? spec->action : spec->reason,
                               "reason", spec->reason, "regarding", regarding, "note", message,
                               utf8_cut(message, EVENT_NOTE_MAX), "type", spec->type);
        else
                ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s%, s:s, s:{s:s}, s:s, s:s, "
                               "s:i, s:s, s:s}",
                               "apiVersion", "v1", "kind", "Event", "metadata", "name", name,
                               "namespace", ref->ns, "involvedObject", regarding, "reason",
                               spec->reason, "message", message, utf8_cut(message, EVENT_NOTE_MAX),
                               "type", spec->type, "source", "component", src->controller,
                               "firstTimestamp", secs, "lastTimestamp", secs, "count", 1,
                               "reportingComponent", src->controller, "reportingInstance",
                               src->instance);
        /* json_pack's "o" consumed 'regarding' whether or not it succeeded. */
        if (!ev)
                return errbuf_set(err, -ENOMEM, "out of memory");
        *out = ev;
        return 0;
}

int kube_event_patch_build(enum kube_event_api api, int64_t count, int64_t now_wall_ms,
                           json_t **out, struct errbuf *err)
{
        char t[KUBE_TIME_LEN];
        json_t *p;

        if (api == KUBE_EVENT_API_EVENTS_V1) {
                kube_time_format(now_wall_ms, true, t, sizeof(t));
                p = json_pack("{s:{s:I, s:s}}", "series", "count", (json_int_t)count,
                              "lastObservedTime", t);
        } else {
                kube_time_format(now_wall_ms, false, t, sizeof(t));
                p = json_pack("{s:I, s:s}", "count", (json_int_t)count, "lastTimestamp", t);
        }
        if (!p)
                return errbuf_set(err, -ENOMEM, "out of memory");
        *out = p;
        return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Recorder                                                                                   */

struct entry {
        char *key; /* owned; NULL for a free slot */
        char name[KUBE_NAME_MAX + 1];
        int64_t count;
        int64_t last_ms;
};

struct kube_event_recorder {
        struct kube_event_source src; /* strings point to the two below */
        char *controller;
        char *instance;
        int64_t window_ms;
        uint64_t rng_state; /* the sub-millisecond part of new Events' names */
        struct entry entries[KUBE_EVENT_CACHE_ENTRIES];
};

int kube_event_recorder_new(const struct kube_event_source *src, int64_t window_ms,
                            struct kube_event_recorder **out, struct errbuf *err)
{
        struct kube_event_recorder *r;

        r = calloc(1, sizeof(*r));
        if (!r || kube_strdup_opt(src->controller, &r->controller) < 0 ||
            kube_strdup_opt(src->instance, &r->instance) < 0) {
                kube_event_recorder_free(r);
                return errbuf_set(err, -ENOMEM, "out of memory");
        }
        r->src.api = src->api;
        r->src.controller = r->controller;
        r->src.instance = r->instance;
        r->window_ms = window_ms > 0 ? window_ms : KUBE_EVENT_WINDOW_MS;
        r->rng_state = kube_rng_seed();
        *out = r;
        return 0;
}

void kube_event_recorder_free(struct kube_event_recorder *r)
{
        size_t i;

        if (!r)
                return;
        for (i = 0; i < KUBE_EVENT_CACHE_ENTRIES; i++)
                free(r->entries[i].key);
        free(r->controller);
        free(r->instance);
        free(r);
}

/* The aggregation key: the object (uid, else namespace/kind/name), type, reason, message. */
static char *event_key(const struct kube_object_ref *ref, const struct kube_event_spec *spec)
{
        char *key = NULL;

        if (asprintf(&key, "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s", ref->uid ? ref->uid : "",
                     ref->ns ? ref->ns : "", ref->kind ? ref->kind : "", ref->name ? ref->name : "",
                     spec->type, spec->reason ? spec->reason : "",
                     spec->message ? spec->message : "") < 0)
                return NULL;
        return key;
}

/* The index of the entry for 'key', or -1. */
static int find_entry(const struct kube_event_recorder *r, const char *key)
{
        int i;

        for (i = 0; i < KUBE_EVENT_CACHE_ENTRIES; i++) {
                if (r->entries[i].key && strcmp(r->entries[i].key, key) == 0)
                        return i;
        }
        return -1;
}

void kube_event_recorder_decide(const struct kube_event_recorder *r,
                                const struct kube_object_ref *ref,
                                const struct kube_event_spec *spec, int64_t now_wall_ms,
                                struct kube_event_decision *out)
{
        char *key = event_key(ref, spec);
        int i = key ? find_entry(r, key) : -1;
        const struct entry *e = i >= 0 ? &r->entries[i] : NULL;

        memset(out, 0, sizeof(*out));
        out->action = KUBE_EVENT_CREATE;
        out->count = 1;
        /* Out of memory for the key: a new Event is always a correct (if verbose) choice. */
        if (e && now_wall_ms - e->last_ms <= r->window_ms && now_wall_ms >= e->last_ms) {
                out->action = KUBE_EVENT_PATCH;
                out->count = e->count + 1;
                (void)snprintf(out->name, sizeof(out->name), "%s", e->name);
        }
        free(key);
}

int kube_event_recorder_commit(struct kube_event_recorder *r, const struct kube_object_ref *ref,
                               const struct kube_event_spec *spec, int64_t now_wall_ms,
                               const struct kube_event_decision *d, struct errbuf *err)
{
        struct entry *e = NULL;
        char *key;
        int i;

        key = event_key(ref, spec);
        if (!key)
                return errbuf_set(err, -ENOMEM, "out of memory");
        i = find_entry(r, key);
        if (i >= 0)
                e = &r->entries[i];
        if (!e) {
                /* A free slot, else the least recently seen entry. */
                e = &r->entries[0];
                for (i = 0; i < KUBE_EVENT_CACHE_ENTRIES; i++) {
                        if (!r->entries[i].key) {
                                e = &r->entries[i];
                                break;
                        }
                        if (r->entries[i].last_ms < e->last_ms)
                                e = &r->entries[i];
                }
                free(e->key);
                e->key = key;
                key = NULL;
        }
        free(key);
        (void)snprintf(e->name, sizeof(e->name), "%s", d->name);
        e->count = d->action == KUBE_EVENT_PATCH ? d->count : 1;
        e->last_ms = now_wall_ms;
        return 0;
}

static int events_path(enum kube_event_api api, const char *ns, const char *name, char *out,
                       size_t size, struct errbuf *err)
{
        static const struct kube_resource events_v1 = { "events.k8s.io", "v1", "events" };
        static const struct kube_resource core_v1 = { "", "v1", "events" };

        return kube_path(api == KUBE_EVENT_API_EVENTS_V1 ? &events_v1 : &core_v1, ns, name, NULL,
                         out, size, err);
}

/*
 * Give 'ev' a name unique beyond the millisecond: the object's name and the time in hex
 * nanoseconds as client-go does, with random nanoseconds, since the times we get are in ms and
 * two Events on one object (or from two replicas) may fall in the same millisecond.
 */
static int rename_event(struct kube_event_recorder *r, const struct kube_object_ref *ref,
                        json_t *ev, int64_t now_wall_ms)
{
        char name[KUBE_NAME_MAX + 1];
        uint64_t ns = (uint64_t)now_wall_ms * 1000000ULL + kube_rng_next(&r->rng_state) % 1000000;

        (void)snprintf(name, sizeof(name), "%.*s.%016llx",
                       (int)(KUBE_NAME_MAX - EVENT_SUFFIX_CHARS), ref->name,
                       (unsigned long long)ns);
        return json_object_set_new(json_object_get(ev, "metadata"), "name", json_string(name));
}

static int create_event(struct kube_event_recorder *r, struct kube_client *c,
                        const struct kube_object_ref *ref, const struct kube_event_spec *spec,
                        int64_t now_wall_ms, struct kube_event_decision *d, struct errbuf *err)
{
        char path[KUBE_PATH_MAX];
        json_t *ev = NULL;
        int tries;
        int rc;

        rc = kube_event_build(&r->src, ref, spec, now_wall_ms, &ev, err);
        if (rc == 0)
                rc = events_path(r->src.api, ref->ns, NULL, path, sizeof(path), err);
        /* A name taken (the same nanosecond by chance) is retried once with another. */
        for (tries = 0; rc >= 0 && tries < 2; tries++) {
                if (rename_event(r, ref, ev, now_wall_ms) < 0) {
                        rc = errbuf_set(err, -ENOMEM, "out of memory");
                        break;
                }
                rc = kube_create(c, path, ev, NULL, err);
                if (rc == -EEXIST && tries == 0)
                        rc = 0; /* go round once more */
                else
                        break;
        }
        if (rc == 0) {
                d->action = KUBE_EVENT_CREATE;
                d->count = 1;
                (void)snprintf(d->name, sizeof(d->name), "%s", kube_json_meta_str(ev, "name"));
        }
        json_decref(ev);
        return rc;
}

static int patch_event(const struct kube_event_recorder *r, struct kube_client *c, const char *ns,
                       const struct kube_event_decision *d, int64_t now_wall_ms, struct errbuf *err)
{
        char path[KUBE_PATH_MAX];
        json_t *patch = NULL;
        int rc;

        rc = kube_event_patch_build(r->src.api, d->count, now_wall_ms, &patch, err);
        if (rc == 0)
                rc = events_path(r->src.api, ns, d->name, path, sizeof(path), err);
        if (rc >= 0)
                rc = kube_patch(c, path, patch, NULL, err);
        json_decref(patch);
        return rc;
}

int kube_event_record(struct kube_event_recorder *r, struct kube_client *c,
                      const struct kube_object_ref *ref, const struct kube_event_spec *spec,
                      int64_t now_wall_ms, struct errbuf *err)
{
        struct kube_event_decision d;
        int rc;

        rc = check_inputs(&r->src, ref, spec, err);
        if (rc < 0)
                return rc;
        kube_event_recorder_decide(r, ref, spec, now_wall_ms, &d);
        if (d.action == KUBE_EVENT_PATCH) {
                rc = patch_event(r, c, ref->ns, &d, now_wall_ms, err);
                if (rc == -ENOENT) /* expired (the apiserver's event TTL) or deleted */
                        rc = create_event(r, c, ref, spec, now_wall_ms, &d, err);
        } else {
                rc = create_event(r, c, ref, spec, now_wall_ms, &d, err);
        }
        if (rc < 0)
                return rc;
        return kube_event_recorder_commit(r, ref, spec, now_wall_ms, &d, err);
}
