/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration tests: kubeconfig variants (token, tokenFile, client certificate and key as
 * files and data, CA file and data, the insecure flag, context selection, every error naming
 * its file and key), in-cluster configuration from fake files (IPv6 too), token rotation.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/errbuf.h"
#include "failalloc.h"
#include "kube/kube.h"
#include "kube_test.h"

/* "hello-ca" and friends in base64. */
#define CA_B64   "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmNhCg=="
#define CA_PEM   "-----BEGIN CERTIFICATE-----\nca\n"
#define CERT_B64 "Y2VydC1kYXRh"
#define KEY_B64  "a2V5LWRhdGE="

static const char base_kc[] = "apiVersion: v1\n"
                              "kind: Config\n"
                              "current-context: dev\n"
                              "clusters:\n"
                              "- name: c1\n"
                              "  cluster:\n"
                              "    server: https://c1.example:6443/\n"
                              "    certificate-authority-data: " CA_B64 "\n"
                              "- name: c2\n"
                              "  cluster:\n"
                              "    server: https://10.1.2.3:443\n"
                              "    certificate-authority: pki/ca.crt\n"
                              "- name: c3\n"
                              "  cluster:\n"
                              "    server: https://insecure.example\n"
                              "    insecure-skip-tls-verify: true\n"
                              "users:\n"
                              "- name: tok\n"
                              "  user:\n"
                              "    token: s3cr3t\n"
                              "- name: tokfile\n"
                              "  user:\n"
                              "    tokenFile: token\n"
                              "- name: certfiles\n"
                              "  user:\n"
                              "    client-certificate: pki/client.crt\n"
                              "    client-key: /abs/client.key\n"
                              "- name: certdata\n"
                              "  user:\n"
                              "    client-certificate-data: " CERT_B64 "\n"
                              "    client-key-data: " KEY_B64 "\n"
                              "- name: execuser\n"
                              "  user:\n"
                              "    exec:\n"
                              "      command: aws\n"
                              "contexts:\n"
                              "- name: dev\n"
                              "  context:\n"
                              "    cluster: c1\n"
                              "    user: tok\n"
                              "    namespace: kagent\n"
                              "- name: files\n"
                              "  context:\n"
                              "    cluster: c2\n"
                              "    user: certfiles\n"
                              "- name: data\n"
                              "  context:\n"
                              "    cluster: c1\n"
                              "    user: certdata\n"
                              "- name: insecure\n"
                              "  context:\n"
                              "    cluster: c3\n"
                              "    user: tokfile\n"
                              "- name: exec\n"
                              "  context:\n"
                              "    cluster: c1\n"
                              "    user: execuser\n"
                              "- name: nouser\n"
                              "  context:\n"
                              "    cluster: c1\n"
                              "    user: ghost\n"
                              "- name: nocluster\n"
                              "  context:\n"
                              "    cluster: ghost\n"
                              "    user: tok\n";

static int parse(const char *text, const char *context, struct kube_config *cfg, struct errbuf *err)
{
        errbuf_clear(err);
        return kube_config_parse_kubeconfig(text, strlen(text), "/home/u/.kube/config", context,
                                            cfg, err);
}

static void test_kubeconfig_token_current_context(void **state)
{
        struct kube_config cfg;
        struct errbuf err;

        (void)state;
        memset(&cfg, 0, sizeof(cfg));
        assert_int_equal(parse(base_kc, NULL, &cfg, &err), 0);
        assert_string_equal(cfg.server, "https://c1.example:6443"); /* trailing '/' dropped */
        assert_string_equal(cfg.namespace, "kagent");
        assert_string_equal(cfg.token, "s3cr3t");
        assert_null(cfg.token_file);
        assert_null(cfg.ca_file);
        assert_non_null(cfg.ca_data.data);
        assert_int_equal(cfg.ca_data.len, strlen(CA_PEM));
        assert_memory_equal(cfg.ca_data.data, CA_PEM, cfg.ca_data.len);
        assert_false(cfg.insecure_skip_tls_verify);
        assert_string_equal(cfg.source, "kubeconfig '/home/u/.kube/config' context 'dev'");
        kube_config_cleanup(&cfg);
        assert_null(cfg.server);
}

static void test_kubeconfig_files_relative(void **state)
{
        struct kube_config cfg;
        struct errbuf err;

        (void)state;
        assert_int_equal(parse(base_kc, "files", &cfg, &err), 0);
        assert_string_equal(cfg.server, "https://10.1.2.3:443");
        assert_string_equal(cfg.namespace, "default");
        /* Relative paths resolve against the kubeconfig's directory, absolute ones stay. */
        assert_string_equal(cfg.ca_file, "/home/u/.kube/pki/ca.crt");
        assert_string_equal(cfg.client_cert_file, "/home/u/.kube/pki/client.crt");
        assert_string_equal(cfg.client_key_file, "/abs/client.key");
        assert_null(cfg.client_cert_data.data);
        assert_null(cfg.token);
        kube_config_cleanup(&cfg);
}

static void test_kubeconfig_cert_data(void **state)
{
        struct kube_config cfg;
        struct errbuf err;

        (void)state;
        assert_int_equal(parse(base_kc, "data", &cfg, &err), 0);
        assert_string_equal(cfg.client_cert_data.data, "cert-data");
        assert_int_equal(cfg.client_cert_data.len, 9);
        assert_string_equal(cfg.client_key_data.data, "key-data");
        assert_null(cfg.client_cert_file);
        assert_null(cfg.client_key_file);
        kube_config_cleanup(&cfg);
}

static void test_kubeconfig_insecure_and_token_file(void **state)
{
        struct kube_config cfg;
        struct errbuf err;

        (void)state;
        assert_int_equal(parse(base_kc, "insecure", &cfg, &err), 0);
        assert_true(cfg.insecure_skip_tls_verify);
        assert_string_equal(cfg.token_file, "/home/u/.kube/token");
        assert_null(cfg.token);
        kube_config_cleanup(&cfg);
}

/* Each broken kubeconfig fails with -EINVAL and a message naming the file and the key. */
static void test_kubeconfig_errors(void **state)
{
        static const struct {
                const char *context;
                const char *text; /* NULL: base_kc */
                const char *msg;
        } cases[] = {
                { "prod", NULL, "kubeconfig '/home/u/.kube/config': context 'prod' not found" },
                { "nouser", NULL, "kubeconfig '/home/u/.kube/config': user 'ghost' not found" },
                { "nocluster", NULL,
                  "kubeconfig '/home/u/.kube/config': cluster 'ghost' not found" },
                { "exec", NULL,
                  "kubeconfig '/home/u/.kube/config': user 'execuser': exec credential plugins "
                  "are not supported (use a token or a client certificate)" },
                { NULL, "clusters: []\ncontexts: []\n",
                  "kubeconfig '/home/u/.kube/config': no current-context and no context given" },
                { NULL,
                  "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                  "clusters:\n- name: c\n  cluster: {}\n",
                  "kubeconfig '/home/u/.kube/config': cluster 'c': server missing" },
                { NULL,
                  "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                  "clusters:\n- name: c\n  cluster: {server: 'ftp://x'}\n",
                  "kubeconfig '/home/u/.kube/config': cluster 'c': server 'ftp://x' is not an "
                  "http(s) URL" },
                { NULL,
                  "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
                  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
                  "users:\n- name: u\n  user: {client-key-data: '%%%'}\n",
                  "kubeconfig '/home/u/.kube/config': user 'u': 'client-key-data': invalid "
                  "base64" },
                { NULL,
                  "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
                  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
                  "users:\n- name: u\n  user: {client-certificate: a.crt}\n",
                  "kubeconfig '/home/u/.kube/config': user 'u': client-certificate without "
                  "client-key" },
                { NULL,
                  "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                  "clusters:\n- name: c\n  cluster: {server: 'https://x', "
                  "insecure-skip-tls-verify: 'true'}\n",
                  "kubeconfig '/home/u/.kube/config': cluster 'c': 'insecure-skip-tls-verify' "
                  "must be true or false" },
                { NULL,
                  "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
                  "clusters:\n- name: c\n  cluster: {server: 'https://x', "
                  "insecure-skip-tls-verify: true, certificate-authority: ca}\n",
                  "kubeconfig '/home/u/.kube/config': cluster 'c': a certificate authority with "
                  "insecure-skip-tls-verify is not allowed" },
                { NULL, "contexts: {a: b}\ncurrent-context: a\n",
                  "kubeconfig '/home/u/.kube/config': 'contexts' is not a list" },
                { NULL, "- just\n- a list\n",
                  "kubeconfig '/home/u/.kube/config': not a kubeconfig (not a map)" },
                { NULL, "a: 1\na: 2\n",
                  "kubeconfig '/home/u/.kube/config': line 2: duplicate key 'a'" },
                { NULL, "a: &x 1\nb: *x\n",
                  "kubeconfig '/home/u/.kube/config': line 2, column 4: aliases are not "
                  "supported" },
                { NULL, "a: [1, 2\n", NULL /* a libyaml message with the position */ },
                { NULL, "", "kubeconfig '/home/u/.kube/config': empty" },
        };
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct kube_config cfg;
                struct errbuf err;

                memset(&cfg, 0x5a, sizeof(cfg)); /* must stay untouched */
                assert_int_equal(parse(cases[i].text ? cases[i].text : base_kc, cases[i].context,
                                       &cfg, &err),
                                 -EINVAL);
                assert_int_equal(err.code, -EINVAL);
                if (cases[i].msg)
                        assert_string_equal(err.msg, cases[i].msg);
                else
                        assert_non_null(strstr(err.msg, "kubeconfig '/home/u/.kube/config': line"));
                assert_int_equal(*(unsigned char *)&cfg, 0x5a);
        }
}

static void test_kubeconfig_file_and_load(void **state)
{
        struct kube_config_options opt = { 0 };
        struct kube_config cfg;
        struct errbuf err;
        char dir[64];
        char path[128];
        char env[300];

        (void)state;
        tmpdir_make(dir, sizeof(dir));
        write_file(dir, "config", base_kc, 0);
        (void)snprintf(path, sizeof(path), "%s/config", dir);
        /* --kubeconfig and --context */
        opt.kubeconfig = path;
        opt.context = "insecure";
        assert_int_equal(kube_config_load(&opt, &cfg, &err), 0);
        assert_string_equal(cfg.server, "https://insecure.example");
        (void)snprintf(env, sizeof(env), "%s/token", dir);
        assert_string_equal(cfg.token_file, env);
        kube_config_cleanup(&cfg);
        /* KUBECONFIG: the first non-empty entry of the list */
        (void)snprintf(env, sizeof(env), "::%s:/nonexistent/other", path);
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): the tests run on one thread */
        assert_int_equal(setenv("KUBECONFIG", env, 1), 0);
        assert_int_equal(kube_config_load(NULL, &cfg, &err), 0);
        assert_string_equal(cfg.server, "https://c1.example:6443");
        kube_config_cleanup(&cfg);
        /* A missing file names it. */
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): the tests run on one thread */
        assert_int_equal(setenv("KUBECONFIG", "/nonexistent/kc", 1), 0);
        assert_int_equal(kube_config_load(NULL, &cfg, &err), -ENOENT);
        assert_string_equal(err.msg, "kubeconfig: '/nonexistent/kc': no such file");
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): the tests run on one thread */
        assert_int_equal(unsetenv("KUBECONFIG"), 0);
        tmpdir_remove(dir);
}

/*
 * Allocation failures (tests/unit/common/failalloc.h): every allocation of a load, libyaml's,
 * jansson's and libc's included, fails in turn: -ENOMEM, the output untouched, nothing leaked.
 */
struct load_case {
        const char *text;    /* kube_config_parse_kubeconfig() when set */
        const char *path;    /* else kube_config_from_kubeconfig() of this file */
        const char *sa_dir;  /* else kube_config_in_cluster() with this directory */
        const char *context; /* the context to use */
        const char *server;  /* the server a successful load finds */
        struct kube_config cfg;
        struct errbuf err;
};

static int load_call(void *userdata)
{
        struct load_case *c = userdata;

        memset(&c->cfg, 0x5a, sizeof(c->cfg));
        errbuf_clear(&c->err);
        if (c->text)
                return parse(c->text, c->context, &c->cfg, &c->err);
        if (c->path)
                return kube_config_from_kubeconfig(c->path, c->context, &c->cfg, &c->err);
        return kube_config_in_cluster("10.96.0.1", "443", c->sa_dir, &c->cfg, &c->err);
}

static void load_check(int rc, bool injected, void *userdata)
{
        struct load_case *c = userdata;
        struct kube_config untouched;

        if (!injected || rc == 0) { /* complete, or the failure was absorbed (failalloc.h) */
                assert_int_equal(rc, 0);
                assert_string_equal(c->cfg.server, c->server);
                kube_config_cleanup(&c->cfg);
                return;
        }
        if (rc != -ENOMEM)
                fail_msg("allocation %ld failed: got %d (%s), want -ENOMEM", failalloc_count(), rc,
                         c->err.msg);
        assert_int_equal(c->err.code, -ENOMEM);
        memset(&untouched, 0x5a, sizeof(untouched));
        assert_memory_equal(&c->cfg, &untouched, sizeof(untouched));
}

static void test_kubeconfig_alloc_failures(void **state)
{
        struct load_case c = { .text = base_kc,
                               .context = "data",
                               .server = "https://c1.example:6443" };

        (void)state;
        assert_true(failalloc_each(load_call, load_check, &c) > 10);
        c.context = NULL; /* current-context: a token and a CA file */
        c.server = "https://c1.example:6443";
        assert_true(failalloc_each(load_call, load_check, &c) > 10);
}

static void test_load_alloc_failures(void **state)
{
        struct load_case c = { .context = "insecure", .server = "https://insecure.example" };
        char dir[64];
        char path[128];

        (void)state;
        tmpdir_make(dir, sizeof(dir));
        write_file(dir, "config", base_kc, 0);
        (void)snprintf(path, sizeof(path), "%s/config", dir);
        c.path = path;
        assert_true(failalloc_each(load_call, load_check, &c) > 10);
        /* In-cluster: token, CA and namespace files. */
        write_file(dir, "token", "eyJhbGciOi.token.sig\n", 0);
        write_file(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\n", 0);
        write_file(dir, "namespace", "kagent\n", 0);
        c.path = NULL;
        c.sa_dir = dir;
        c.server = "https://10.96.0.1:443";
        assert_true(failalloc_each(load_call, load_check, &c) > 3);
        tmpdir_remove(dir);
}

/* A client from an in-cluster configuration: every allocation of kube_client_new() fails in turn.
 */
struct client_case {
        struct kube_config cfg;
        struct kube_client *client;
        struct errbuf err;
};

static int client_call(void *userdata)
{
        struct client_case *c = userdata;

        c->client = (struct kube_client *)&c->cfg; /* a canary: a failure leaves '*out' alone */
        errbuf_clear(&c->err);
        return kube_client_new(&c->cfg, &c->client, &c->err);
}

static void client_check(int rc, bool injected, void *userdata)
{
        struct client_case *c = userdata;

        if (!injected || rc == 0) {
                assert_int_equal(rc, 0);
                assert_string_equal(kube_client_namespace(c->client), "kagent");
                kube_client_free(c->client);
                return;
        }
        if (rc != -ENOMEM)
                fail_msg("allocation %ld failed: got %d (%s), want -ENOMEM", failalloc_count(), rc,
                         c->err.msg);
        assert_ptr_equal(c->client, (struct kube_client *)&c->cfg);
}

static void test_client_new_alloc_failures(void **state)
{
        struct client_case c;
        char dir[64];

        (void)state;
        memset(&c, 0, sizeof(c));
        tmpdir_make(dir, sizeof(dir));
        write_file(dir, "token", "eyJhbGciOi.token.sig\n", 0);
        write_file(dir, "ca.crt", "-----BEGIN CERTIFICATE-----\n", 0);
        write_file(dir, "namespace", "kagent\n", 0);
        errbuf_clear(&c.err);
        assert_int_equal(kube_config_in_cluster("10.96.0.1", "443", dir, &c.cfg, &c.err), 0);
        assert_true(failalloc_each(client_call, client_check, &c) > 3);
        kube_config_cleanup(&c.cfg);
        tmpdir_remove(dir);
}

static void test_in_cluster(void **state)
{
        struct kube_config cfg;
        struct errbuf err;
        char dir[64];

        (void)state;
        tmpdir_make(dir, sizeof(dir));
        /* No token yet: an error naming the file. */
        assert_int_equal(kube_config_in_cluster("10.96.0.1", "443", dir, &cfg, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "/token': no such file"));
        write_file(dir, "token", "eyJhbGciOi.token.sig\n", 0);
        assert_int_equal(kube_config_in_cluster("10.96.0.1", "443", dir, &cfg, &err), 0);
        assert_string_equal(cfg.server, "https://10.96.0.1:443");
        assert_string_equal(cfg.namespace, "default"); /* no namespace file */
        assert_null(cfg.ca_file);                      /* no ca.crt: the system roots */
        assert_string_equal(cfg.source, "in-cluster");
        assert_null(cfg.token); /* read from the file per request, never copied */
        kube_config_cleanup(&cfg);
        write_file(dir, "namespace", "kagent\n", 0);
        write_file(dir, "ca.crt", CA_PEM, 0);
        assert_int_equal(kube_config_in_cluster("fd00:10:96::1", "6443", dir, &cfg, &err), 0);
        assert_string_equal(cfg.server, "https://[fd00:10:96::1]:6443");
        assert_string_equal(cfg.namespace, "kagent");
        assert_non_null(strstr(cfg.ca_file, "/ca.crt"));
        assert_non_null(strstr(cfg.token_file, "/token"));
        kube_config_cleanup(&cfg);
        assert_int_equal(kube_config_in_cluster("10.0.0.1", "0", dir, &cfg, &err), -EINVAL);
        assert_int_equal(kube_config_in_cluster("10.0.0.1", "443x", dir, &cfg, &err), -EINVAL);
        assert_int_equal(kube_config_in_cluster("a/b", "443", dir, &cfg, &err), -EINVAL);
        assert_int_equal(kube_config_in_cluster(NULL, "443", dir, &cfg, &err), -ENOENT);
        write_file(dir, "token", " \n", 0);
        assert_int_equal(kube_config_in_cluster("10.0.0.1", "443", dir, &cfg, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "empty"));
        tmpdir_remove(dir);
}

static void set_mtime(const char *path, time_t sec)
{
        struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };

        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_token_rotation(void **state)
{
        struct kube_token_file t;
        struct errbuf err;
        char dir[64];
        char path[128];
        bool changed = true;

        (void)state;
        tmpdir_make(dir, sizeof(dir));
        (void)snprintf(path, sizeof(path), "%s/token", dir);
        write_file(dir, "token", "token-one\n", 0);
        set_mtime(path, 1000);
        assert_int_equal(kube_token_file_init(&t, path, &err), 0);
        assert_string_equal(t.token, "token-one");
        /* Unchanged file: no re-read. */
        assert_int_equal(kube_token_file_refresh(&t, false, &changed, &err), 0);
        assert_false(changed);
        /* The kubelet's atomic swap: a new inode. */
        write_file(dir, "token", "token-two\n", 1);
        set_mtime(path, 1000);
        assert_int_equal(kube_token_file_refresh(&t, false, &changed, &err), 0);
        assert_true(changed);
        assert_string_equal(t.token, "token-two");
        /* Rewritten in place with another size. */
        write_file(dir, "token", "token-three", 0);
        set_mtime(path, 1000);
        assert_int_equal(kube_token_file_refresh(&t, false, &changed, &err), 0);
        assert_true(changed);
        assert_string_equal(t.token, "token-three");
        /* Same inode and size, new mtime. */
        write_file(dir, "token", "token-four!", 0);
        set_mtime(path, 2000);
        assert_int_equal(kube_token_file_refresh(&t, false, &changed, &err), 0);
        assert_true(changed);
        assert_string_equal(t.token, "token-four!");
        /* Same inode, size and mtime: only a forced re-read notices (the client does it on 401). */
        write_file(dir, "token", "token-five!", 0);
        set_mtime(path, 2000);
        assert_int_equal(kube_token_file_refresh(&t, false, &changed, &err), 0);
        assert_false(changed);
        assert_string_equal(t.token, "token-four!");
        assert_int_equal(kube_token_file_refresh(&t, true, &changed, &err), 0);
        assert_true(changed);
        assert_string_equal(t.token, "token-five!");
        /* A vanished file keeps the last token and reports the error. */
        assert_int_equal(unlink(path), 0);
        assert_int_equal(kube_token_file_refresh(&t, false, &changed, &err), -ENOENT);
        assert_string_equal(t.token, "token-five!");
        kube_token_file_cleanup(&t);
        tmpdir_remove(dir);
}

int run_config_tests(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kubeconfig_token_current_context),
                cmocka_unit_test(test_kubeconfig_files_relative),
                cmocka_unit_test(test_kubeconfig_cert_data),
                cmocka_unit_test(test_kubeconfig_insecure_and_token_file),
                cmocka_unit_test(test_kubeconfig_errors),
                cmocka_unit_test(test_kubeconfig_file_and_load),
                cmocka_unit_test(test_kubeconfig_alloc_failures),
                cmocka_unit_test(test_load_alloc_failures),
                cmocka_unit_test(test_client_new_alloc_failures),
                cmocka_unit_test(test_in_cluster),
                cmocka_unit_test(test_token_rotation),
        };
        return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
