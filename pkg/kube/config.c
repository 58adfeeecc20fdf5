/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration sources: in-cluster (service host and port, service-account files), the search
 * order of kube_config_load(), and bearer token files re-read when the kubelet rotates them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errbuf.h"
#include "base/str.h"
#include "kube/internal.h"
#include "kube/kube.h"

/* The namespace file holds one name; anything much longer is not one. */
#define SMALL_FILE_MAX ((size_t)64 * 1024)

void kube_config_cleanup(struct kube_config *cfg)
{
        if (!cfg)
                return;
        free(cfg->server);
        free(cfg->namespace);
        free(cfg->source);
        free(cfg->ca_file);
        free(cfg->ca_data.data);
        free(cfg->client_cert_file);
        free(cfg->client_cert_data.data);
        free(cfg->client_key_file);
        kube_free_secret(cfg->client_key_data.data, cfg->client_key_data.len);
        kube_free_secret(cfg->token, cfg->token ? strlen(cfg->token) : 0);
        free(cfg->token_file);
        free(cfg->username);
        kube_free_secret(cfg->password, cfg->password ? strlen(cfg->password) : 0);
        memset(cfg, 0, sizeof(*cfg));
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Trim surrounding whitespace in place; returns the new length. */
static size_t trim(char *s, size_t len)
{
        size_t start = 0;

        while (len > 0 && is_space(s[len - 1]))
                len--;
        while (start < len && is_space(s[start]))
                start++;
        memmove(s, s + start, len - start);
        s[len - start] = '\0';
        return len - start;
}

int kube_token_file_init(struct kube_token_file *t, const char *path, struct errbuf *err)
{
        bool changed;
        int rc;

        memset(t, 0, sizeof(*t));
        t->path = strdup(path);
        if (!t->path)
                return errbuf_set(err, -ENOMEM, "out of memory");
        rc = kube_token_file_refresh(t, true, &changed, err);
        if (rc < 0) {
                kube_token_file_cleanup(t);
                return rc;
        }
        return 0;
}

int kube_token_file_refresh(struct kube_token_file *t, bool force, bool *out_changed,
                            struct errbuf *err)
{
        char *data = NULL;
        size_t len = 0;
        struct stat st;
        bool changed;
        int rc;

        if (stat(t->path, &st) < 0) {
                rc = -errno;
                return errbuf_set(err, rc, "token file '%s': %s", t->path,
                                  rc == -ENOENT ? "no such file" : "cannot stat");
        }
        if (!force && t->token && (uint64_t)st.st_dev == t->dev && (uint64_t)st.st_ino == t->ino &&
            (int64_t)st.st_size == t->size &&
            (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec == t->mtime_ns) {
                *out_changed = false;
                return 0;
        }
        rc = kube_read_file(t->path, KUBE_TOKEN_MAX, &data, &len, err);
        if (rc < 0)
                return errbuf_wrap(err, rc, "token file");
        len = trim(data, len);
        if (len == 0 || memchr(data, '\n', len) || memchr(data, '\r', len)) {
                kube_free_secret(data, len);
                return errbuf_set(err, -EINVAL, "token file '%s': %s", t->path,
                                  len == 0 ? "empty" : "not a single-line token");
        }
        changed = !t->token || strcmp(t->token, data) != 0;
        kube_free_secret(t->token, t->token ? strlen(t->token) : 0);
        t->token = data;
        t->dev = (uint64_t)st.st_dev;
        t->ino = (uint64_t)st.st_ino;
        t->size = (int64_t)st.st_size;
        t->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        *out_changed = changed;
        return 0;
}

void kube_token_file_cleanup(struct kube_token_file *t)
{
        if (!t)
                return;
        free(t->path);
        kube_free_secret(t->token, t->token ? strlen(t->token) : 0);
        memset(t, 0, sizeof(*t));
}

/* Read a small text file that may be absent: 0 with '*out' NULL when it does not exist. */
static int read_optional(const char *path, char **out, struct errbuf *err)
{
        char *data = NULL;
        size_t len;
        int rc;

        rc = kube_read_file(path, SMALL_FILE_MAX, &data, &len, err);
        if (rc == -ENOENT) {
                errbuf_clear(err);
                *out = NULL;
                return 0;
        }
        if (rc < 0)
                return rc;
        (void)trim(data, len);
        *out = data;
        return 0;
}

static bool valid_port(const char *port)
{
        uint64_t v;

        return str_to_u64(port, &v) == 0 && v > 0 && v <= 65535;
}

/* The host must be a name or an address; nothing that could change the URL's meaning. */
static bool valid_host(const char *host)
{
        size_t n = strlen(host);

        return n > 0 && n < 256 && strcspn(host, "/?#@[] \t\r\n%") == n;
}

int kube_config_in_cluster(const char *host, const char *port, const char *sa_dir,
                           struct kube_config *out, struct errbuf *err)
{
        struct kube_config cfg;
        struct kube_token_file tf;
        char path[KUBE_PATH_MAX];
        int rc;

        memset(&cfg, 0, sizeof(cfg));
        memset(&tf, 0, sizeof(tf));
        if (!sa_dir)
                sa_dir = KUBE_SA_DIR;
        if (!host || !port || host[0] == '\0' || port[0] == '\0') {
                rc = errbuf_set(err, -ENOENT,
                                "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                                "must be set");
                goto out;
        }
        if (!valid_host(host) || !valid_port(port)) {
                rc = errbuf_set(err, -EINVAL, "in-cluster: invalid service address '%s' port '%s'",
                                host, port);
                goto out;
        }
        if (asprintf(&cfg.server, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host,
                     port) < 0) {
                cfg.server = NULL;
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        (void)snprintf(path, sizeof(path), "%s/token", sa_dir);
        /* Read once now so a missing token fails here, not at the first request. */
        rc = kube_token_file_init(&tf, path, err);
        if (rc < 0) {
                (void)errbuf_wrap(err, rc, "in-cluster");
                goto out;
        }
        cfg.token_file = strdup(path);
        if (!cfg.token_file) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        (void)snprintf(path, sizeof(path), "%s/ca.crt", sa_dir);
        if (access(path, R_OK) == 0) {
                cfg.ca_file = strdup(path);
                if (!cfg.ca_file) {
                        rc = errbuf_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        (void)snprintf(path, sizeof(path), "%s/namespace", sa_dir);
        rc = read_optional(path, &cfg.namespace, err);
        if (rc < 0) {
                (void)errbuf_wrap(err, rc, "in-cluster: namespace file");
                goto out;
        }
        if (!cfg.namespace || cfg.namespace[0] == '\0') {
                free(cfg.namespace);
                cfg.namespace = strdup("default");
        }
        cfg.source = strdup("in-cluster");
        if (!cfg.namespace || !cfg.source) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        *out = cfg;
        /*
         * gcc 12 -fanalyzer reports cfg.namespace and cfg.source leaked here, though they were
         * just copied to '*out' with the rest of the struct (a false positive of its model of
         * struct copies through a parameter); only this statement is exempt.
         */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
        memset(&cfg, 0, sizeof(cfg));
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
        rc = 0;
out:
        kube_token_file_cleanup(&tf);
        kube_config_cleanup(&cfg);
        return rc;
}

/* The first non-empty entry of a colon-separated list, copied into out[size]. */
static bool first_entry(const char *list, char *out, size_t size)
{
        size_t n;

        while (*list == ':')
                list++;
        if (*list == '\0')
                return false;
        n = strcspn(list, ":");

        if (n >= size)
                n = size - 1;
        memcpy(out, list, n);
        out[n] = '\0';
        return true;
}

int kube_config_load(const struct kube_config_options *opt, struct kube_config *out,
                     struct errbuf *err)
{
        const char *context = opt ? opt->context : NULL;
        char path[KUBE_PATH_MAX];
        const char *env;
        const char *port;

        if (opt && opt->kubeconfig && opt->kubeconfig[0] != '\0')
                return kube_config_from_kubeconfig(opt->kubeconfig, context, out, err);
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): documented to run before threads start */
        env = getenv("KUBECONFIG");
        if (env && first_entry(env, path, sizeof(path)))
                return kube_config_from_kubeconfig(path, context, out, err);
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): documented to run before threads start */
        env = getenv("KUBERNETES_SERVICE_HOST");
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): documented to run before threads start */
        port = getenv("KUBERNETES_SERVICE_PORT");
        if (env && env[0] != '\0')
                return kube_config_in_cluster(env, port, NULL, out, err);
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): documented to run before threads start */
        env = getenv("HOME");
        if (env && env[0] != '\0') {
                (void)snprintf(path, sizeof(path), "%s/.kube/config", env);
                if (access(path, F_OK) == 0)
                        return kube_config_from_kubeconfig(path, context, out, err);
        }
        return errbuf_set(err, -ENOENT,
                          "no kubernetes configuration: no --kubeconfig, KUBECONFIG, "
                          "KUBERNETES_SERVICE_HOST or ~/.kube/config");
}
