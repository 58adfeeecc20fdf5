/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kubeconfig files: libyaml's event parser builds a jansson tree (plain true/false/null typed,
 * everything else a string), then the chosen context is resolved to its cluster, user and
 * namespace. Errors name the file and the key that is wrong.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "base/errbuf.h"
#include "kube/internal.h"
#include "kube/kube.h"

/* A kubeconfig is five levels deep; anything much deeper is not one and is refused early. */
#define YAML_DEPTH_MAX 32

struct frame {
        json_t *node; /* borrowed: owned by its parent or by conv.root */
        char *key;    /* owned; a mapping key waiting for its value */
};

struct conv {
        const char *path;
        json_t *root; /* owned */
        struct frame stack[YAML_DEPTH_MAX];
        size_t depth;
};

static int yaml_error(struct errbuf *err, const char *path, const yaml_mark_t *m, const char *what)
{
        return errbuf_set(err, -EINVAL, "kubeconfig '%s': line %zu, column %zu: %s", path,
                          m->line + 1, m->column + 1, what);
}

static json_t *scalar_value(const yaml_event_t *ev)
{
        const char *s = (const char *)ev->data.scalar.value;

        if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag) {
                if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0)
                        return json_true();
                if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0)
                        return json_false();
                if (s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
                    strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
                        return json_null();
        }
        return json_stringn(s, ev->data.scalar.length);
}

/* Attach 'v' (a new reference, consumed) to the container on top of the stack, or as root. */
static int attach(struct conv *cv, json_t *v, const yaml_mark_t *m, struct errbuf *err)
{
        struct frame *top;
        int rc;

        if (!v)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (cv->depth == 0) {
                if (cv->root) {
                        json_decref(v);
                        return yaml_error(err, cv->path, m, "more than one document node");
                }
                cv->root = v;
                return 0;
        }
        top = &cv->stack[cv->depth - 1];
        if (json_is_array(top->node))
                return json_array_append_new(top->node, v) < 0
                               ? errbuf_set(err, -ENOMEM, "out of memory")
                               : 0;
        if (!top->key) {
                /* A mapping key: it must be a string scalar. */
                if (!json_is_string(v)) {
                        json_decref(v);
                        return yaml_error(err, cv->path, m, "mapping keys must be strings");
                }
                top->key = strdup(json_string_value(v));
                json_decref(v);
                return top->key ? 0 : errbuf_set(err, -ENOMEM, "out of memory");
        }
        if (json_object_get(top->node, top->key)) {
                json_decref(v);
                (void)errbuf_set(err, -EINVAL, "kubeconfig '%s': line %zu: duplicate key '%s'",
                                 cv->path, m->line + 1, top->key);
                return -EINVAL;
        }
        rc = json_object_set_new(top->node, top->key, v);
        free(top->key);
        top->key = NULL;
        return rc < 0 ? errbuf_set(err, -ENOMEM, "out of memory") : 0;
}

static int push(struct conv *cv, json_t *container, const yaml_mark_t *m, struct errbuf *err)
{
        int rc;

        if (!container)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (cv->depth == YAML_DEPTH_MAX) {
                json_decref(container);
                return yaml_error(err, cv->path, m, "nested too deeply");
        }
        json_incref(container); /* one reference for the parent, one kept by the frame */
        rc = attach(cv, container, m, err);
        if (rc < 0) {
                json_decref(container);
                return rc;
        }
        cv->stack[cv->depth].node = container;
        cv->stack[cv->depth].key = NULL;
        cv->depth++;
        json_decref(container); /* the parent holds it now; the frame borrows */
        return 0;
}

static void pop(struct conv *cv)
{
        assert(cv->depth > 0); /* libyaml balances start and end events */
        cv->depth--;
        free(cv->stack[cv->depth].key);
        cv->stack[cv->depth].key = NULL;
}

/* One event; returns 1 at the end of the first document, 0 to go on, or a negative errno. */
static int on_event(struct conv *cv, const yaml_event_t *ev, struct errbuf *err)
{
        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                return attach(cv, scalar_value(ev), &ev->start_mark, err);
        case YAML_SEQUENCE_START_EVENT:
                return push(cv, json_array(), &ev->start_mark, err);
        case YAML_MAPPING_START_EVENT:
                return push(cv, json_object(), &ev->start_mark, err);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                pop(cv);
                return 0;
        case YAML_ALIAS_EVENT:
                return yaml_error(err, cv->path, &ev->start_mark, "aliases are not supported");
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
                return 1;
        default:
                return 0;
        }
}

static int yaml_to_json(const char *text, size_t len, const char *path, json_t **out,
                        struct errbuf *err)
{
        yaml_parser_t parser;
        struct conv cv;
        int rc;

        memset(&cv, 0, sizeof(cv));
        cv.path = path;
        if (!yaml_parser_initialize(&parser))
                return errbuf_set(err, -ENOMEM, "out of memory");
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        for (;;) {
                yaml_event_t ev;

                if (!yaml_parser_parse(&parser, &ev)) {
                        if (parser.error == YAML_MEMORY_ERROR)
                                rc = errbuf_set(err, -ENOMEM, "out of memory");
                        else
                                rc = yaml_error(err, path, &parser.problem_mark,
                                                parser.problem ? parser.problem : "invalid yaml");
                        goto out;
                }
                rc = on_event(&cv, &ev, err);
                yaml_event_delete(&ev);
                if (rc < 0)
                        goto out;
                if (rc == 1)
                        break;
        }
        if (!cv.root) {
                rc = errbuf_set(err, -EINVAL, "kubeconfig '%s': empty", path);
                goto out;
        }
        *out = cv.root;
        cv.root = NULL;
        rc = 0;
out:
        while (cv.depth > 0)
                pop(&cv);
        json_decref(cv.root);
        yaml_parser_delete(&parser);
        return rc;
}

struct kc {
        const char *path;   /* the file, for messages */
        const json_t *root; /* borrowed */
        struct kube_config *cfg;
        struct errbuf *err;
};

/* The entry named 'name' in the list 'list_key' ("contexts"): its 'inner' object. */
static int find_named(struct kc *k, const char *list_key, const char *what, const char *name,
                      const json_t **out)
{
        const json_t *list = json_object_get(k->root, list_key);
        const json_t *item;
        size_t i;

        if (list && !json_is_array(list) && !json_is_null(list))
                return errbuf_set(k->err, -EINVAL, "kubeconfig '%s': '%s' is not a list", k->path,
                                  list_key);
        json_array_foreach(list, i, item)
        {
                const char *n = kube_json_str(item, "name");
                const json_t *inner = json_object_get(item, what);

                if (!n || strcmp(n, name) != 0)
                        continue;
                if (!json_is_object(inner))
                        return errbuf_set(k->err, -EINVAL, "kubeconfig '%s': %s '%s': no '%s' map",
                                          k->path, what, name, what);
                *out = inner;
                return 0;
        }
        return errbuf_set(k->err, -EINVAL, "kubeconfig '%s': %s '%s' not found", k->path, what,
                          name);
}

/* A string field: NULL when absent or null; -EINVAL when present but not a string. */
static int get_str(struct kc *k, const json_t *o, const char *what, const char *name,
                   const char *key, const char **out)
{
        const json_t *v = json_object_get(o, key);

        *out = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return errbuf_set(k->err, -EINVAL, "kubeconfig '%s': %s '%s': '%s' is not a string",
                                  k->path, what, name, key);
        *out = json_string_value(v);
        if ((*out)[0] == '\0')
                *out = NULL;
        return 0;
}

/* A file path from the kubeconfig, relative ones resolved against the file's directory. */
static int resolve_path(struct kc *k, const char *p, char **out)
{
        const char *slash = strrchr(k->path, '/');
        int n;

        if (p[0] == '/' || !slash)
                return kube_strdup_opt(p, out) < 0 ? errbuf_set(k->err, -ENOMEM, "out of memory")
                                                   : 0;
        n = asprintf(out, "%.*s/%s", (int)(slash - k->path), k->path, p);
        if (n < 0) {
                *out = NULL;
                return errbuf_set(k->err, -ENOMEM, "out of memory");
        }
        return 0;
}

/* 'key' (a file) or 'key'-data (base64): data wins, like client-go. */
static int file_or_data(struct kc *k, const json_t *o, const char *what, const char *name,
                        const char *key, char **out_file, struct kube_blob *out_data)
{
        char data_key[64];
        const char *file = NULL;
        const char *data = NULL;
        int rc;

        (void)snprintf(data_key, sizeof(data_key), "%s-data", key);
        rc = get_str(k, o, what, name, key, &file);
        if (rc == 0)
                rc = get_str(k, o, what, name, data_key, &data);
        if (rc < 0)
                return rc;
        if (data) {
                rc = kube_base64_decode(data, strlen(data), &out_data->data, &out_data->len);
                if (rc == -ENOMEM)
                        return errbuf_set(k->err, rc, "out of memory");
                if (rc < 0 || out_data->len == 0)
                        return errbuf_set(k->err, -EINVAL,
                                          "kubeconfig '%s': %s '%s': '%s': invalid base64", k->path,
                                          what, name, data_key);
                return 0;
        }
        return file ? resolve_path(k, file, out_file) : 0;
}

static int load_cluster(struct kc *k, const char *name)
{
        const json_t *cl = NULL;
        const json_t *insecure;
        const char *server = NULL;
        size_t n;
        int rc;

        rc = find_named(k, "clusters", "cluster", name, &cl);
        if (rc == 0)
                rc = get_str(k, cl, "cluster", name, "server", &server);
        if (rc < 0)
                return rc;
        if (!server)
                return errbuf_set(k->err, -EINVAL, "kubeconfig '%s': cluster '%s': server missing",
                                  k->path, name);
        if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
                return errbuf_set(
                        k->err, -EINVAL,
                        "kubeconfig '%s': cluster '%s': server '%s' is not an http(s) URL", k->path,
                        name, server);
        n = strlen(server);
        while (n > 0 && server[n - 1] == '/')
                n--;
        k->cfg->server = strndup(server, n);
        if (!k->cfg->server)
                return errbuf_set(k->err, -ENOMEM, "out of memory");
        rc = file_or_data(k, cl, "cluster", name, "certificate-authority", &k->cfg->ca_file,
                          &k->cfg->ca_data);
        if (rc < 0)
                return rc;
        insecure = json_object_get(cl, "insecure-skip-tls-verify");
        if (insecure && !json_is_boolean(insecure) && !json_is_null(insecure))
                return errbuf_set(k->err, -EINVAL,
                                  "kubeconfig '%s': cluster '%s': 'insecure-skip-tls-verify' must "
                                  "be true or false",
                                  k->path, name);
        k->cfg->insecure_skip_tls_verify = json_is_true(insecure);
        if (k->cfg->insecure_skip_tls_verify && (k->cfg->ca_file || k->cfg->ca_data.data))
                return errbuf_set(k->err, -EINVAL,
                                  "kubeconfig '%s': cluster '%s': a certificate authority with "
                                  "insecure-skip-tls-verify is not allowed",
                                  k->path, name);
        return 0;
}

static int load_user_auth(struct kc *k, const json_t *u, const char *name)
{
        const char *token = NULL;
        const char *token_file = NULL;
        const char *username = NULL;
        const char *password = NULL;
        int rc;

        rc = get_str(k, u, "user", name, "token", &token);
        if (rc == 0)
                rc = get_str(k, u, "user", name, "tokenFile", &token_file);
        if (rc == 0)
                rc = get_str(k, u, "user", name, "username", &username);
        if (rc == 0)
                rc = get_str(k, u, "user", name, "password", &password);
        if (rc < 0)
                return rc;
        if (kube_strdup_opt(token, &k->cfg->token) < 0 ||
            kube_strdup_opt(username, &k->cfg->username) < 0 ||
            kube_strdup_opt(password, &k->cfg->password) < 0)
                return errbuf_set(k->err, -ENOMEM, "out of memory");
        return token_file ? resolve_path(k, token_file, &k->cfg->token_file) : 0;
}

static int load_user(struct kc *k, const char *name)
{
        struct kube_config *cfg = k->cfg;
        const json_t *u = NULL;
        bool have_cert;
        bool have_key;
        int rc;

        rc = find_named(k, "users", "user", name, &u);
        if (rc == 0)
                rc = load_user_auth(k, u, name);
        if (rc == 0)
                rc = file_or_data(k, u, "user", name, "client-certificate", &cfg->client_cert_file,
                                  &cfg->client_cert_data);
        if (rc == 0)
                rc = file_or_data(k, u, "user", name, "client-key", &cfg->client_key_file,
                                  &cfg->client_key_data);
        if (rc < 0)
                return rc;
        have_cert = cfg->client_cert_file || cfg->client_cert_data.data;
        have_key = cfg->client_key_file || cfg->client_key_data.data;
        if (have_cert != have_key)
                return errbuf_set(k->err, -EINVAL, "kubeconfig '%s': user '%s': %s without %s",
                                  k->path, name, have_cert ? "client-certificate" : "client-key",
                                  have_cert ? "client-key" : "client-certificate");
        if (!have_cert && !cfg->token && !cfg->token_file && !cfg->username) {
                if (json_object_get(u, "exec"))
                        return errbuf_set(k->err, -EINVAL,
                                          "kubeconfig '%s': user '%s': exec credential plugins are "
                                          "not supported (use a token or a client certificate)",
                                          k->path, name);
                if (json_object_get(u, "auth-provider"))
                        return errbuf_set(k->err, -EINVAL,
                                          "kubeconfig '%s': user '%s': auth-provider is not "
                                          "supported (use a token or a client certificate)",
                                          k->path, name);
        }
        return 0;
}

static int load_context(struct kc *k, const char *context)
{
        const json_t *ctx = NULL;
        const char *cluster = NULL;
        const char *user = NULL;
        const char *ns = NULL;
        int rc;

        if (!context) {
                rc = get_str(k, k->root, "kubeconfig", k->path, "current-context", &context);
                if (rc < 0)
                        return rc;
                if (!context)
                        return errbuf_set(k->err, -EINVAL,
                                          "kubeconfig '%s': no current-context and no context "
                                          "given",
                                          k->path);
        }
        rc = find_named(k, "contexts", "context", context, &ctx);
        if (rc == 0)
                rc = get_str(k, ctx, "context", context, "cluster", &cluster);
        if (rc == 0)
                rc = get_str(k, ctx, "context", context, "user", &user);
        if (rc == 0)
                rc = get_str(k, ctx, "context", context, "namespace", &ns);
        if (rc < 0)
                return rc;
        if (!cluster)
                return errbuf_set(k->err, -EINVAL, "kubeconfig '%s': context '%s': cluster missing",
                                  k->path, context);
        rc = load_cluster(k, cluster);
        if (rc == 0 && user)
                rc = load_user(k, user);
        if (rc < 0)
                return rc;
        k->cfg->namespace = strdup(ns ? ns : "default");
        if (asprintf(&k->cfg->source, "kubeconfig '%s' context '%s'", k->path, context) < 0)
                k->cfg->source = NULL;
        if (!k->cfg->namespace || !k->cfg->source)
                return errbuf_set(k->err, -ENOMEM, "out of memory");
        return 0;
}

int kube_config_parse_kubeconfig(const char *text, size_t len, const char *path,
                                 const char *context, struct kube_config *out, struct errbuf *err)
{
        struct kube_config cfg;
        json_t *root = NULL;
        struct kc k;
        int rc;

        memset(&cfg, 0, sizeof(cfg));
        rc = yaml_to_json(text, len, path, &root, err);
        if (rc < 0)
                goto out;
        if (!json_is_object(root)) {
                rc = errbuf_set(err, -EINVAL, "kubeconfig '%s': not a kubeconfig (not a map)",
                                path);
                goto out;
        }
        k.path = path;
        k.root = root;
        k.cfg = &cfg;
        k.err = err;
        rc = load_context(&k, context);
        if (rc < 0)
                goto out;
        *out = cfg;
        memset(&cfg, 0, sizeof(cfg));
        rc = 0;
out:
        kube_config_cleanup(&cfg);
        json_decref(root);
        return rc;
}

int kube_config_from_kubeconfig(const char *path, const char *context, struct kube_config *out,
                                struct errbuf *err)
{
        char *text = NULL;
        size_t len = 0;
        int rc;

        rc = kube_read_file(path, KUBE_KUBECONFIG_MAX, &text, &len, err);
        if (rc < 0)
                return errbuf_wrap(err, rc, "kubeconfig");
        rc = kube_config_parse_kubeconfig(text, len, path, context, out, err);
        kube_free_secret(text, len);
        return rc;
}
