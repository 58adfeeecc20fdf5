/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes Status errors: HTTP status (and Status reason) to errno, and messages that say
 * which request failed in Kubernetes terms (verb, resource, name, namespace), with the RBAC rule
 * to add when the server said 401 or 403.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "base/errbuf.h"
#include "kube/internal.h"
#include "kube/kube.h"

int kube_status_errno(long http_status, const char *reason)
{
        if (http_status >= 200 && http_status < 300)
                return 0;
        switch (http_status) {
        case 400: /* BadRequest */
        case 422: /* Invalid */
                return -EINVAL;
        case 401: /* Unauthorized */
        case 403: /* Forbidden */
                return -EACCES;
        case 404: /* NotFound */
                return -ENOENT;
        case 405: /* MethodNotAllowed */
                return -EOPNOTSUPP;
        case 408: /* Timeout: the request was not completed in time */
                return -ETIMEDOUT;
        case 409: /* AlreadyExists on create, Conflict on a stale resourceVersion */
                return reason && strcmp(reason, "AlreadyExists") == 0 ? -EEXIST : -ESTALE;
        case 410: /* Gone / Expired: the resourceVersion is too old, relist */
                return -ESTALE;
        case 413: /* RequestEntityTooLarge */
                return -EMSGSIZE;
        case 429: /* TooManyRequests */
                return -EAGAIN;
        default:
                break;
        }
        if (http_status >= 500 && http_status < 600)
                return -EAGAIN;
        return -EPROTO; /* 406, 415, other 4xx, 1xx, 3xx: a request or a server we do not grasp */
}

struct api_path {
        char group[KUBE_NAME_MAX + 1];
        char resource[2 * KUBE_NAME_MAX + 2]; /* "retentionpolicies" or ".../status" */
        char name[KUBE_NAME_MAX + 1];
        char ns[KUBE_NAME_MAX + 1];
        bool collection;
        bool parsed;
};

/* Copy the next '/'-separated segment of '*p' into out[size]; false at the end. */
static bool next_segment(const char **p, char *out, size_t size)
{
        size_t n;

        while (**p == '/')
                (*p)++;
        n = strcspn(*p, "/?");
        if (n == 0)
                return false;
        (void)snprintf(out, size, "%.*s", (int)n, *p);
        *p += n;
        return true;
}

/* /api/v1[/namespaces/NS]/RES[/NAME[/SUB]] and /apis/GROUP/VERSION/... */
static void parse_api_path(const char *path, struct api_path *ap)
{
        char seg[8][KUBE_NAME_MAX + 1];
        const char *p = path;
        size_t n = 0;
        size_t i;

        memset(ap, 0, sizeof(*ap));
        while (n < 8 && next_segment(&p, seg[n], sizeof(seg[n])))
                n++;
        if (n >= 3 && strcmp(seg[0], "api") == 0) {
                i = 2;
        } else if (n >= 4 && strcmp(seg[0], "apis") == 0) {
                (void)snprintf(ap->group, sizeof(ap->group), "%s", seg[1]);
                i = 3;
        } else {
                return;
        }
        if (n - i >= 3 && strcmp(seg[i], "namespaces") == 0) {
                (void)snprintf(ap->ns, sizeof(ap->ns), "%s", seg[i + 1]);
                i += 2;
        }
        (void)snprintf(ap->resource, sizeof(ap->resource), "%s", seg[i]);
        ap->collection = i + 1 >= n;
        if (i + 1 < n)
                (void)snprintf(ap->name, sizeof(ap->name), "%s", seg[i + 1]);
        if (i + 2 < n) {
                size_t len = strlen(ap->resource);

                (void)snprintf(ap->resource + len, sizeof(ap->resource) - len, "/%s", seg[i + 2]);
        }
        ap->parsed = true;
}

static bool query_has(const char *query, const char *param)
{
        size_t n = strlen(param);
        const char *p = query;

        while (p && *p) {
                if (strncmp(p, param, n) == 0 && (p[n] == '&' || p[n] == '\0'))
                        return true;
                p = strchr(p, '&');
                if (p)
                        p++;
        }
        return false;
}

static const char *verb_of(const char *method, const struct api_path *ap, const char *query)
{
        if (strcmp(method, "GET") == 0) {
                if (!ap->collection)
                        return "get";
                return query_has(query, "watch=1") || query_has(query, "watch=true") ? "watch"
                                                                                     : "list";
        }
        if (strcmp(method, "POST") == 0)
                return "create";
        if (strcmp(method, "PUT") == 0)
                return "update";
        if (strcmp(method, "PATCH") == 0)
                return "patch";
        if (strcmp(method, "DELETE") == 0)
                return ap->collection ? "deletecollection" : "delete";
        return method;
}

/* "patch retentionpolicies/status 'default' in namespace 'kagent'" */
static void describe(const char *method, const struct api_path *ap, const char *path,
                     const char *query, char *out, size_t size)
{
        int n;

        if (!ap->parsed) {
                (void)snprintf(out, size, "%s %s", method, path);
                return;
        }
        n = snprintf(out, size, "%s %s", verb_of(method, ap, query), ap->resource);
        if (n > 0 && (size_t)n < size && ap->name[0] != '\0')
                n += snprintf(out + n, size - (size_t)n, " '%s'", ap->name);
        if (n > 0 && (size_t)n < size && ap->ns[0] != '\0')
                (void)snprintf(out + n, size - (size_t)n, " in namespace '%s'", ap->ns);
}

/* The user a Forbidden message names: User "system:serviceaccount:ns:sa" cannot ... */
static void forbidden_user(const char *msg, char *out, size_t size)
{
        const char *p = msg ? strstr(msg, "User \"") : NULL;
        const char *end;

        out[0] = '\0';
        if (!p)
                return;
        p += 6;
        end = strchr(p, '"');
        if (end)
                (void)snprintf(out, size, "%.*s", (int)(end - p), p);
}

static int forbidden(const char *method, const struct api_path *ap, const char *path,
                     const char *query, const char *msg, struct errbuf *err)
{
        char user[128];
        char group[KUBE_NAME_MAX + 3];

        if (!ap->parsed)
                return errbuf_set(err, -EACCES, "forbidden: %s %s: %s", method, path,
                                  msg ? msg : "no permission");
        forbidden_user(msg, user, sizeof(user));
        (void)snprintf(group, sizeof(group), ap->group[0] ? "%s" : "\"\"", ap->group);
        if (ap->ns[0] != '\0')
                return errbuf_set(err, -EACCES,
                                  "forbidden: cannot %s %s in namespace '%s': add it to the Role "
                                  "(apiGroups: %s)%s%s",
                                  verb_of(method, ap, query), ap->resource, ap->ns, group,
                                  user[0] ? " bound to " : "", user);
        return errbuf_set(err, -EACCES,
                          "forbidden: cannot %s %s cluster-wide: add it to the ClusterRole "
                          "(apiGroups: %s)%s%s",
                          verb_of(method, ap, query), ap->resource, group,
                          user[0] ? " bound to " : "", user);
}

static const char *phrase(long status, int code)
{
        switch (code) {
        case -ENOENT:
                return "not found";
        case -EEXIST:
                return "already exists";
        case -ESTALE:
                return status == 409 ? "conflict" : "gone (resource version too old)";
        case -EINVAL:
                return status == 422 ? "invalid" : "bad request";
        case -ETIMEDOUT:
                return "timed out";
        case -EMSGSIZE:
                return "request too large";
        case -EOPNOTSUPP:
                return "method not allowed";
        default:
                break;
        }
        if (status == 429)
                return "too many requests";
        if (status >= 500 && status < 600)
                return "server error";
        return "unexpected response";
}

int kube_status_error(long http_status, const char *method, const char *path, const char *query,
                      const char *body, size_t body_len, struct errbuf *err)
{
        const char *reason = NULL;
        const char *msg = NULL;
        struct api_path ap;
        char what[3 * KUBE_NAME_MAX + 64];
        json_t *st = NULL;
        int code;

        if (body && body_len > 0) {
                json_error_t jerr;
                int rc;

                st = kube_json_load(body, body_len, &jerr, &rc);
                if (st && json_is_string(json_object_get(st, "kind")) &&
                    strcmp(kube_json_str(st, "kind"), "Status") == 0) {
                        reason = kube_json_str(st, "reason");
                        msg = kube_json_str(st, "message");
                }
        }
        code = kube_status_errno(http_status, reason);
        parse_api_path(path, &ap);
        if (http_status == 403) {
                code = forbidden(method, &ap, path, query, msg, err);
        } else if (http_status == 401) {
                describe(method, &ap, path, query, what, sizeof(what));
                code = errbuf_set(err, code,
                                  "unauthorized: credentials rejected for %s (token expired or "
                                  "revoked, or a client certificate the cluster does not trust)",
                                  what);
        } else {
                describe(method, &ap, path, query, what, sizeof(what));
                code = errbuf_set(err, code, "%s: %s (http %ld)%s%s", what,
                                  phrase(http_status, code), http_status, msg ? ": " : "",
                                  msg ? msg : "");
        }
        json_decref(st);
        return code;
}
