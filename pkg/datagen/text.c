/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Text building blocks: a sticky-error appender, JSON escaping, base64, a little msgpack and a
 * word-salad generator that looks like Kubernetes troubleshooting chat.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "datagen/internal.h"

void sb_init(struct sb *s)
{
        buf_init(&s->b, DG_PAYLOAD_MAX);
        s->rc = 0;
}

void sb_cleanup(struct sb *s)
{
        buf_cleanup(&s->b);
}

void sb_reset(struct sb *s)
{
        buf_reset(&s->b);
}

void sb_put(struct sb *s, const char *p, size_t n)
{
        int rc;

        if (s->rc < 0)
                return;
        rc = buf_append(&s->b, p, n);
        if (rc < 0)
                s->rc = rc;
}

void sb_puts(struct sb *s, const char *str)
{
        sb_put(s, str, strlen(str));
}

void sb_putc(struct sb *s, char c)
{
        sb_put(s, &c, 1);
}

void sb_printf(struct sb *s, const char *fmt, ...)
{
        va_list ap;
        int rc;

        if (s->rc < 0)
                return;
        va_start(ap, fmt);
        rc = buf_vprintf(&s->b, fmt, ap);
        va_end(ap);
        if (rc < 0)
                s->rc = rc;
}

void sb_json_esc(struct sb *s, const char *p, size_t n)
{
        size_t i;
        size_t start = 0;

        for (i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                const char *rep = NULL;
                char ubuf[8];

                if (c == '"')
                        rep = "\\\"";
                else if (c == '\\')
                        rep = "\\\\";
                else if (c == '\n')
                        rep = "\\n";
                else if (c == '\t')
                        rep = "\\t";
                else if (c < 0x20) {
                        (void)snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
                        rep = ubuf;
                }
                if (!rep)
                        continue;
                sb_put(s, p + start, i - start);
                sb_puts(s, rep);
                start = i + 1;
        }
        sb_put(s, p + start, n - start);
}

void sb_json_kv(struct sb *s, const char *key, const char *value)
{
        sb_putc(s, '"');
        sb_puts(s, key);
        sb_puts(s, "\":\"");
        sb_json_esc(s, value, strlen(value));
        sb_putc(s, '"');
}

void sb_base64(struct sb *s, const unsigned char *p, size_t n)
{
        static const char tbl[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char chunk[256];
        size_t o = 0;
        size_t i;

        for (i = 0; i + 2 < n; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

                chunk[o++] = tbl[v >> 18];
                chunk[o++] = tbl[(v >> 12) & 63];
                chunk[o++] = tbl[(v >> 6) & 63];
                chunk[o++] = tbl[v & 63];
                if (o + 4 > sizeof(chunk)) {
                        sb_put(s, chunk, o);
                        o = 0;
                }
        }
        if (i < n) {
                uint32_t v = (uint32_t)p[i] << 16;

                if (i + 1 < n)
                        v |= (uint32_t)p[i + 1] << 8;
                chunk[o++] = tbl[v >> 18];
                chunk[o++] = tbl[(v >> 12) & 63];
                if (i + 1 < n)
                        chunk[o++] = tbl[(v >> 6) & 63];
                else
                        chunk[o++] = '=';
                chunk[o++] = '=';
        }
        sb_put(s, chunk, o);
}

/* ---- msgpack ---- */

static void mp_be(struct sb *s, unsigned char tag, uint64_t v, int bytes)
{
        unsigned char b[9];
        int i;

        b[0] = tag;
        for (i = 0; i < bytes; i++)
                b[1 + i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
        sb_put(s, (const char *)b, (size_t)bytes + 1);
}

void mp_map(struct sb *s, uint32_t n)
{
        if (n < 16)
                sb_putc(s, (char)(0x80 | n));
        else
                mp_be(s, 0xde, n, 2);
}

void mp_arr(struct sb *s, uint32_t n)
{
        if (n < 16)
                sb_putc(s, (char)(0x90 | n));
        else
                mp_be(s, 0xdc, n, 2);
}

void mp_str(struct sb *s, const char *p, size_t n)
{
        if (n < 32)
                sb_putc(s, (char)(0xa0 | n));
        else if (n < 256)
                mp_be(s, 0xd9, n, 1);
        else if (n < 65536)
                mp_be(s, 0xda, n, 2);
        else
                mp_be(s, 0xdb, n, 4);
        sb_put(s, p, n);
}

void mp_cstr(struct sb *s, const char *str)
{
        mp_str(s, str, strlen(str));
}

void mp_int(struct sb *s, int64_t v)
{
        if (v >= 0 && v < 128)
                sb_putc(s, (char)v);
        else if (v < 0 && v >= -32)
                sb_putc(s, (char)(0xe0 | (v & 0x1f)));
        else
                mp_be(s, 0xd3, (uint64_t)v, 8);
}

/* ---- word salad ---- */

static const char *const words[] = {
        "the",
        "pod",
        "is",
        "in",
        "namespace",
        "deployment",
        "service",
        "and",
        "a",
        "to",
        "of",
        "container",
        "image",
        "restart",
        "the",
        "node",
        "cluster",
        "replica",
        "set",
        "with",
        "for",
        "on",
        "memory",
        "limit",
        "request",
        "CPU",
        "probe",
        "readiness",
        "liveness",
        "failed",
        "because",
        "error",
        "timeout",
        "connection",
        "refused",
        "endpoint",
        "ingress",
        "gateway",
        "route",
        "TLS",
        "certificate",
        "secret",
        "config",
        "map",
        "volume",
        "mount",
        "claim",
        "storage",
        "class",
        "scheduler",
        "taint",
        "toleration",
        "affinity",
        "label",
        "selector",
        "annotation",
        "rollout",
        "revision",
        "history",
        "helm",
        "release",
        "chart",
        "values",
        "upgrade",
        "rollback",
        "istio",
        "sidecar",
        "proxy",
        "envoy",
        "mTLS",
        "policy",
        "network",
        "DNS",
        "lookup",
        "latency",
        "p99",
        "metrics",
        "prometheus",
        "query",
        "alert",
        "firing",
        "threshold",
        "dashboard",
        "grafana",
        "log",
        "line",
        "shows",
        "OOMKilled",
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "pending",
        "running",
        "ready",
        "events",
        "warning",
        "back-off",
        "restarting",
        "exit",
        "code",
        "signal",
        "terminated",
        "evicted",
        "pressure",
        "disk",
        "quota",
        "resource",
        "HPA",
        "scale",
        "target",
        "utilization",
        "I",
        "checked",
        "found",
        "that",
        "this",
        "should",
        "can",
        "will",
        "might",
        "looks",
        "like",
        "let",
        "me",
        "first",
        "then",
        "next",
        "finally",
        "recommend",
        "increase",
        "decrease",
        "apply",
        "patch",
        "describe",
        "get",
        "logs",
        "current",
        "previous",
        "version",
        "v1.29",
        "controller",
        "operator",
        "webhook",
        "admission",
        "RBAC",
        "role",
        "binding",
        "account",
        "token",
        "permission",
        "denied",
        "forbidden",
        "watch",
        "list",
        "kubelet",
        "cgroup",
        "runtime",
        "containerd",
        "port",
        "8080",
        "443",
        "health",
        "check",
        "argo",
        "cilium",
        "flow",
        "dropped",
        "packet",
        "kgateway",
        "listener",
        "upstream",
        "cluster-ip",
        "headless",
};

static const char *const names[] = {
        "nginx",  "checkout", "payments", "cart",    "frontend", "redis",  "postgres",  "kafka",
        "orders", "auth",     "gateway",  "catalog", "search",   "worker", "scheduler", "api",
};

static const char *const namespaces[] = {
        "default", "kube-system", "kagent",   "istio-system",  "monitoring",
        "prod",    "staging",     "payments", "argo-rollouts", "cert-manager",
};

static const char *const status_words[] = {
        "Running",   "Running", "Running",   "CrashLoopBackOff", "Pending",
        "Completed", "Error",   "OOMKilled", "ImagePullBackOff", "Terminating",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *pick(struct rng *r, const char *const *arr, size_t n)
{
        return arr[rng_below(r, n)];
}

static void pod_name(struct rng *r, struct sb *s)
{
        static const char al[] = "bcdfghjklmnpqrstvwxz2456789";
        char h[20];
        int i;

        for (i = 0; i < 16; i++)
                h[i] = al[rng_below(r, sizeof(al) - 1)];
        sb_printf(s, "%s-%.*s-%.*s", pick(r, names, N_OF(names)), 9 + (int)rng_below(r, 2), h, 5,
                  h + 11);
}

static void prose_sentence(struct rng *r, struct sb *s)
{
        int n = (int)rng_range(r, 6, 22);
        int i;

        for (i = 0; i < n; i++) {
                const char *w = pick(r, words, N_OF(words));
                uint64_t roll = rng_below(r, 100);

                if (i > 0)
                        sb_putc(s, ' ');
                if (roll < 4) {
                        sb_putc(s, '`');
                        pod_name(r, s);
                        sb_putc(s, '`');
                } else if (roll < 6) {
                        sb_printf(s, "`kubectl %s %s -n %s`", i % 2 ? "describe pod" : "logs",
                                  pick(r, names, N_OF(names)),
                                  pick(r, namespaces, N_OF(namespaces)));
                } else if (roll < 7) {
                        sb_puts(s, rng_chance(r, 0.5) ? "\"quoted\"" : "\xe2\x80\x94");
                } else if (i == 0) {
                        sb_putc(s, (char)(w[0] >= 'a' && w[0] <= 'z' ? w[0] - 32 : w[0]));
                        sb_puts(s, w + 1);
                } else {
                        sb_puts(s, w);
                }
        }
        sb_puts(s, rng_chance(r, 0.1) ? "?" : ".");
}

static void prose_separator(struct rng *r, struct sb *s)
{
        uint64_t roll = rng_below(r, 100);

        if (roll < 8)
                sb_puts(s, "\n\n");
        else if (roll < 14)
                sb_puts(s, "\n- ");
        else if (roll < 16)
                sb_puts(s, "\n\n```\n$ kubectl get pods -A\n```\n");
        else if (roll < 17)
                sb_puts(s, " \xe2\x9c\x85 ");
        else
                sb_putc(s, ' ');
}

static void fill_prose(struct rng *r, struct sb *s, size_t end)
{
        size_t start = s->b.len;

        while (s->b.len < end && s->rc == 0) {
                if (s->b.len > start)
                        prose_separator(r, s);
                prose_sentence(r, s);
        }
}

static void fill_table(struct rng *r, struct sb *s, size_t end)
{
        sb_puts(s, "NAMESPACE      NAME                                 READY   STATUS    "
                   "RESTARTS   AGE\n");
        while (s->b.len < end && s->rc == 0) {
                sb_printf(s, "%-14s ", pick(r, namespaces, N_OF(namespaces)));
                pod_name(r, s);
                sb_printf(s, "   %d/%d     %-16s %-9d %dd%dh\n", (int)rng_range(r, 0, 2), 2,
                          pick(r, status_words, N_OF(status_words)), (int)rng_range(r, 0, 40),
                          (int)rng_range(r, 0, 90), (int)rng_range(r, 0, 23));
        }
}

static void fill_log(struct rng *r, struct sb *s, size_t end)
{
        static const char *const lvls[] = { "INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG" };

        while (s->b.len < end && s->rc == 0) {
                sb_printf(s, "2025-%02d-%02dT%02d:%02d:%02d.%03dZ %s ", (int)rng_range(r, 1, 12),
                          (int)rng_range(r, 1, 28), (int)rng_range(r, 0, 23),
                          (int)rng_range(r, 0, 59), (int)rng_range(r, 0, 59),
                          (int)rng_range(r, 0, 999), pick(r, lvls, N_OF(lvls)));
                prose_sentence(r, s);
                sb_putc(s, '\n');
        }
}

static void fill_yaml(struct rng *r, struct sb *s, size_t end)
{
        const char *n = pick(r, names, N_OF(names));

        sb_printf(s,
                  "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\n  namespace: "
                  "%s\nspec:\n  replicas: %d\n  template:\n    spec:\n      containers:\n",
                  n, pick(r, namespaces, N_OF(namespaces)), (int)rng_range(r, 1, 5));
        while (s->b.len < end && s->rc == 0)
                sb_printf(s,
                          "      - name: %s\n        image: ghcr.io/acme/%s:1.%d.%d\n        "
                          "resources:\n          limits:\n            memory: %dMi\n",
                          pick(r, names, N_OF(names)), n, (int)rng_range(r, 0, 30),
                          (int)rng_range(r, 0, 9), 64 << rng_below(r, 5));
}

void text_fill(struct rng *r, struct sb *s, size_t n, enum text_style style)
{
        size_t start = s->b.len;
        size_t end = start + n;

        switch (style) {
        case TEXT_TABLE:
                fill_table(r, s, end);
                break;
        case TEXT_LOG:
                fill_log(r, s, end);
                break;
        case TEXT_YAML:
                fill_yaml(r, s, end);
                break;
        case TEXT_QUESTION:
        case TEXT_PROSE:
        default:
                fill_prose(r, s, end);
                break;
        }
        if (s->rc < 0 || s->b.len <= end)
                return;
        /* Cut to 'n' bytes, backing off to a UTF-8 character boundary. */
        while (end > start && ((unsigned char)s->b.data[end] & 0xc0) == 0x80)
                end--;
        s->b.len = end;
        s->b.data[end] = '\0';
}

void text_json(struct rng *r, struct sb *s, struct sb *tmp, size_t n, enum text_style style)
{
        sb_reset(tmp);
        text_fill(r, tmp, n, style);
        if (tmp->rc < 0) {
                s->rc = tmp->rc;
                return;
        }
        sb_json_esc(s, tmp->b.data ? tmp->b.data : "", tmp->b.len);
}
