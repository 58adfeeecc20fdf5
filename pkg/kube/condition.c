/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metav1.Condition in a status.conditions array, with apimachinery's SetStatusCondition
 * semantics: lastTransitionTime moves only when the status changes.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "base/errbuf.h"
#include "kube/internal.h"
#include "kube/kube.h"

#define CONDITION_REASON_MAX  1024 /* metav1.Condition validation */
#define CONDITION_MESSAGE_MAX 32768
#define CONDITION_TYPE_MAX    316

/* ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$ */
static bool valid_reason(const char *s)
{
        size_t n = strlen(s);
        size_t i;

        if (n == 0 || n > CONDITION_REASON_MAX)
                return false;
        if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
                return false;
        for (i = 1; i < n; i++) {
                char c = s[i];
                bool word = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '_';

                if (!word && !((c == ',' || c == ':') && i + 1 < n))
                        return false;
        }
        return true;
}

static bool valid_status(const char *s)
{
        return s &&
               (strcmp(s, "True") == 0 || strcmp(s, "False") == 0 || strcmp(s, "Unknown") == 0);
}

/* The length of 's' cut to at most 'max' bytes on a UTF-8 character boundary. */
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

json_t *kube_condition_find(const json_t *conditions, const char *type)
{
        json_t *c;
        size_t i;

        json_array_foreach(conditions, i, c)
        {
                const char *t = kube_json_str(c, "type");

                if (t && strcmp(t, type) == 0)
                        return c;
        }
        return NULL;
}

bool kube_condition_is_true(const json_t *conditions, const char *type)
{
        const char *s = kube_json_str(kube_condition_find(conditions, type), "status");

        return s && strcmp(s, "True") == 0;
}

/* Set 'key' of 'o' to the string s[0..len) when different; true when it changed. */
static int set_str(json_t *o, const char *key, const char *s, size_t len, bool *changed)
{
        json_t *cur = json_object_get(o, key);

        if (json_is_string(cur) && json_string_length(cur) == len &&
            memcmp(json_string_value(cur), s, len) == 0)
                return 0;
        *changed = true;
        return json_object_set_new(o, key, json_stringn(s, len));
}

static int validate(const struct kube_condition *cond, const char *message, size_t msg_len,
                    struct errbuf *err)
{
        assert(valid_status(cond->status));
        if (!cond->type || cond->type[0] == '\0' || strlen(cond->type) > CONDITION_TYPE_MAX)
                return errbuf_set(err, -EINVAL, "condition: invalid type '%s'",
                                  cond->type ? cond->type : "");
        if (!cond->reason || !valid_reason(cond->reason))
                return errbuf_set(err, -EINVAL, "condition '%s': invalid reason '%s'", cond->type,
                                  cond->reason ? cond->reason : "");
        if (!kube_utf8_valid(message, msg_len))
                return errbuf_set(err, -EINVAL, "condition '%s': message is not valid utf-8",
                                  cond->type);
        return 0;
}

/* Apply 'cond' to the condition object 'c'; '*changed' is set when anything differs. */
static int apply(json_t *c, const struct kube_condition *cond, const char *message, size_t msg_len,
                 int64_t now_wall_ms, bool *changed)
{
        const char *old = kube_json_str(c, "status");
        bool transition = !old || strcmp(old, cond->status) != 0 ||
                          !json_is_string(json_object_get(c, "lastTransitionTime"));
        char now[KUBE_TIME_LEN];
        int rc;

        kube_time_format(now_wall_ms, false, now, sizeof(now));
        rc = set_str(c, "status", cond->status, strlen(cond->status), changed);
        if (rc == 0 && transition)
                rc = set_str(c, "lastTransitionTime", now, strlen(now), changed);
        if (rc == 0)
                rc = set_str(c, "reason", cond->reason, strlen(cond->reason), changed);
        if (rc == 0)
                rc = set_str(c, "message", message, msg_len, changed);
        if (rc == 0 && cond->observed_generation >= 0 &&
            json_integer_value(json_object_get(c, "observedGeneration")) !=
                    cond->observed_generation) {
                *changed = true;
                rc = json_object_set_new(c, "observedGeneration",
                                         json_integer(cond->observed_generation));
        }
        return rc;
}

int kube_condition_set(json_t *conditions, const struct kube_condition *cond, int64_t now_wall_ms,
                       bool *out_changed, struct errbuf *err)
{
        const char *message = cond->message ? cond->message : "";
        size_t msg_len = utf8_cut(message, CONDITION_MESSAGE_MAX);
        json_t *existing;
        json_t *c = NULL;
        bool changed = false;
        size_t index = 0;
        int rc;

        assert(json_is_array(conditions));
        rc = validate(cond, message, msg_len, err);
        if (rc < 0)
                return rc;
        existing = kube_condition_find(conditions, cond->type);
        if (existing) {
                /* Work on a copy so a failure leaves the array as it was. */
                c = json_deep_copy(existing);
                while (json_array_get(conditions, index) != existing)
                        index++;
        } else {
                c = json_object();
                changed = true;
                if (c)
                        rc = json_object_set_new(c, "type", json_string(cond->type));
        }
        if (!c || rc < 0 || apply(c, cond, message, msg_len, now_wall_ms, &changed) < 0)
                goto oom;
        if (changed) {
                rc = existing ? json_array_set_new(conditions, index, c)
                              : json_array_append_new(conditions, c);
                c = NULL; /* consumed either way */
                if (rc < 0)
                        goto oom;
        }
        json_decref(c);
        if (out_changed)
                *out_changed = changed;
        return 0;
oom:
        json_decref(c);
        return errbuf_set(err, -ENOMEM, "out of memory");
}
