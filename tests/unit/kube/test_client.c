/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The API client: every HTTP status mapped to its errno, Status messages that name the verb and
 * resource (and the RBAC rule for 401/403), API paths, and requests against the fake API server:
 * Status errors, Retry-After, bounded responses, timeouts, token rotation and TLS (CA, client
 * certificate and key as files and as data, insecure-skip-tls-verify).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/errbuf.h"
#include "fakeapi.h"
#include "kube/kube.h"
#include "kube_test.h"
#include "testcerts.h"

static void test_status_errno_table(void **state)
{
        static const struct {
                long status;
                const char *reason;
                int code;
        } table[] = {
                { 200, NULL, 0 },
                { 201, NULL, 0 },
                { 204, NULL, 0 },
                { 100, NULL, -EPROTO },
                { 302, NULL, -EPROTO },
                { 400, "BadRequest", -EINVAL },
                { 401, "Unauthorized", -EACCES },
                { 403, "Forbidden", -EACCES },
                { 404, "NotFound", -ENOENT },
                { 405, "MethodNotAllowed", -EOPNOTSUPP },
                { 406, "NotAcceptable", -EPROTO },
                { 408, "Timeout", -ETIMEDOUT },
                { 409, "AlreadyExists", -EEXIST },
                { 409, "Conflict", -ESTALE },
                { 409, NULL, -ESTALE },
                { 410, "Gone", -ESTALE },
                { 410, "Expired", -ESTALE },
                { 413, "RequestEntityTooLarge", -EMSGSIZE },
                { 415, "UnsupportedMediaType", -EPROTO },
                { 422, "Invalid", -EINVAL },
                { 429, "TooManyRequests", -EAGAIN },
                { 500, "InternalError", -EAGAIN },
                { 502, NULL, -EAGAIN },
                { 503, "ServiceUnavailable", -EAGAIN },
                { 504, "Timeout", -EAGAIN },
                { 599, NULL, -EAGAIN },
                { 600, NULL, -EPROTO },
        };
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
                print_message("status %ld %s\n", table[i].status,
                              table[i].reason ? table[i].reason : "-");
                assert_int_equal(kube_status_errno(table[i].status, table[i].reason),
                                 table[i].code);
        }
}

static void expect_status(long status, const char *method, const char *path, const char *query,
                          const char *body, int code, const char *msg)
{
        struct errbuf err;

        errbuf_clear(&err);
        assert_int_equal(
                kube_status_error(status, method, path, query, body, body ? strlen(body) : 0, &err),
                code);
        assert_int_equal(err.code, code);
        assert_string_equal(err.msg, msg);
}

static void test_status_messages(void **state)
{
        (void)state;
        expect_status(
                403, "PATCH",
                "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies/default/status",
                NULL,
                "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
                "\"message\":\"retentionpolicies.kagent.dev \\\"default\\\" is forbidden: User "
                "\\\"system:serviceaccount:kagent:kagent-retention\\\" cannot patch resource "
                "\\\"retentionpolicies/status\\\" in API group \\\"kagent.dev\\\" in the namespace "
                "\\\"kagent\\\"\",\"reason\":\"Forbidden\",\"details\":{\"name\":\"default\","
                "\"group\":\"kagent.dev\",\"kind\":\"retentionpolicies\"},\"code\":403}",
                -EACCES,
                "forbidden: cannot patch retentionpolicies/status in namespace 'kagent': add it to "
                "the Role (apiGroups: kagent.dev) bound to "
                "system:serviceaccount:kagent:kagent-retention");
        expect_status(403, "GET", "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies",
                      "watch=1&allowWatchBookmarks=true", NULL, -EACCES,
                      "forbidden: cannot watch retentionpolicies in namespace 'kagent': add it to "
                      "the Role (apiGroups: kagent.dev)");
        expect_status(403, "GET", "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies",
                      "fieldSelector=metadata.name%3Ddefault", NULL, -EACCES,
                      "forbidden: cannot list retentionpolicies in namespace 'kagent': add it to "
                      "the Role (apiGroups: kagent.dev)");
        expect_status(403, "POST", "/apis/events.k8s.io/v1/namespaces/kagent/events", NULL, "{}",
                      -EACCES,
                      "forbidden: cannot create events in namespace 'kagent': add it to the Role "
                      "(apiGroups: events.k8s.io)");
        expect_status(403, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kagent/leases/kr", NULL,
                      "oops", -EACCES,
                      "forbidden: cannot update leases in namespace 'kagent': add it to the Role "
                      "(apiGroups: coordination.k8s.io)");
        expect_status(403, "GET", "/api/v1/namespaces/kagent/pods/kagent-0", NULL, NULL, -EACCES,
                      "forbidden: cannot get pods in namespace 'kagent': add it to the Role "
                      "(apiGroups: \"\")");
        expect_status(403, "DELETE", "/api/v1/nodes/n1", NULL, NULL, -EACCES,
                      "forbidden: cannot delete nodes cluster-wide: add it to the ClusterRole "
                      "(apiGroups: \"\")");
        expect_status(401, "GET", "/api/v1/namespaces/kagent/pods/kagent-0", NULL,
                      "{\"kind\":\"Status\",\"code\":401,\"reason\":\"Unauthorized\"}", -EACCES,
                      "unauthorized: credentials rejected for get pods 'kagent-0' in namespace "
                      "'kagent' (token expired or revoked, or a client certificate the cluster "
                      "does not trust)");
        expect_status(404, "GET",
                      "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies/default", NULL,
                      "{\"kind\":\"Status\",\"message\":\"retentionpolicies.kagent.dev "
                      "\\\"default\\\" not found\",\"reason\":\"NotFound\",\"code\":404}",
                      -ENOENT,
                      "get retentionpolicies 'default' in namespace 'kagent': not found (http "
                      "404): retentionpolicies.kagent.dev \"default\" not found");
        expect_status(409, "POST", "/apis/coordination.k8s.io/v1/namespaces/kagent/leases", NULL,
                      "{\"kind\":\"Status\",\"message\":\"leases.coordination.k8s.io \\\"kr\\\" "
                      "already exists\",\"reason\":\"AlreadyExists\",\"code\":409}",
                      -EEXIST,
                      "create leases in namespace 'kagent': already exists (http 409): "
                      "leases.coordination.k8s.io \"kr\" already exists");
        expect_status(409, "PUT", "/apis/coordination.k8s.io/v1/namespaces/kagent/leases/kr", NULL,
                      "{\"kind\":\"Status\",\"message\":\"the object has been modified\","
                      "\"reason\":\"Conflict\",\"code\":409}",
                      -ESTALE,
                      "update leases 'kr' in namespace 'kagent': conflict (http 409): the object "
                      "has been modified");
        expect_status(410, "GET", "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies",
                      "watch=1&resourceVersion=5", "{\"kind\":\"Status\",\"code\":410}", -ESTALE,
                      "watch retentionpolicies in namespace 'kagent': gone (resource version too "
                      "old) (http 410)");
        expect_status(500, "GET", "/api/v1/namespaces/kagent/pods", NULL, "<html>proxy</html>",
                      -EAGAIN, "list pods in namespace 'kagent': server error (http 500)");
        expect_status(429, "GET", "/version", NULL, NULL, -EAGAIN,
                      "GET /version: too many requests (http 429)");
}

static void test_paths(void **state)
{
        static const struct kube_resource rp = { "kagent.dev", "v1alpha1", "retentionpolicies" };
        static const struct kube_resource pods = { "", "v1", "pods" };
        static const struct kube_resource nodes = { "", "v1", "nodes" };
        struct errbuf err;
        char p[KUBE_PATH_MAX];

        (void)state;
        assert_int_equal(kube_path(&rp, "kagent", "default", "status", p, sizeof(p), &err),
                         (int)strlen("/apis/kagent.dev/v1alpha1/namespaces/kagent/"
                                     "retentionpolicies/default/status"));
        assert_string_equal(p, "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies/"
                               "default/status");
        assert_true(kube_path(&rp, "kagent", NULL, NULL, p, sizeof(p), &err) > 0);
        assert_string_equal(p, "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies");
        assert_true(kube_path(&pods, "kagent", "kagent-0", NULL, p, sizeof(p), &err) > 0);
        assert_string_equal(p, "/api/v1/namespaces/kagent/pods/kagent-0");
        assert_true(kube_path(&nodes, NULL, "n1", NULL, p, sizeof(p), &err) > 0);
        assert_string_equal(p, "/api/v1/nodes/n1");
        assert_int_equal(kube_path(&pods, "kagent", "a/../b", NULL, p, sizeof(p), &err), -EINVAL);
        assert_string_equal(err.msg, "invalid name 'a/../b' in an api path");
        assert_int_equal(kube_path(&pods, "kagent", "..", NULL, p, sizeof(p), &err), -EINVAL);
        assert_int_equal(kube_path(&pods, "ns", "a?b", NULL, p, sizeof(p), &err), -EINVAL);
        assert_int_equal(kube_path(&pods, "", "a", NULL, p, sizeof(p), &err), -EINVAL);
        assert_int_equal(kube_path(&pods, "ns", NULL, "status", p, sizeof(p), &err), -EINVAL);
        assert_int_equal(kube_path(&pods, "kagent", "kagent-0", NULL, p, 20, &err), -EMSGSIZE);
}

#define POD_PATH   "/api/v1/namespaces/kagent/pods/kagent-0"
#define RP_PATH    "/apis/kagent.dev/v1alpha1/namespaces/kagent/retentionpolicies"
#define LEASE_PATH "/apis/coordination.k8s.io/v1/namespaces/kagent/leases/kr"

static const char big_body[] = "{\"data\":\"................................................"
                               "..........................................................."
                               "...................................................\"}";

static const struct fake_resp request_script[] = {
        { 200, false, NULL, { "{\"metadata\":{\"name\":\"kagent-0\"}}" } },
        { 403,
          false,
          NULL,
          { "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"pods \\\"kagent-0\\\" is "
            "forbidden: User \\\"system:serviceaccount:kagent:kr\\\" cannot get resource "
            "\\\"pods\\\"\",\"reason\":\"Forbidden\",\"code\":403}" } },
        { 409,
          false,
          NULL,
          { "{\"kind\":\"Status\",\"message\":\"exists\",\"reason\":\"AlreadyExists\","
            "\"code\":409}" } },
        { 409,
          false,
          NULL,
          { "{\"kind\":\"Status\",\"message\":\"modified\",\"reason\":\"Conflict\",\"code\":409}" } },
        { 200, false, NULL, { "{\"status\":{\"observedGeneration\":2}}" } },
        { 429, false, "3", { "{\"kind\":\"Status\",\"code\":429}" } },
        { 200, false, NULL, { big_body } },
        { 404, false, NULL, { "{\"kind\":\"Status\",\"reason\":\"NotFound\",\"code\":404}" } },
        { 200,
          false,
          NULL,
          { "{\"metadata\":{\"resourceVersion\":\"77\"},\"items\":[{\"a\":1},{\"b\":2}]}" } },
        { 200, false, NULL, { "not json" } },
        { 201, false, NULL, { "" } },
};

static void test_requests(void **state)
{
        struct kube_request req = { .method = "GET", .path = POD_PATH };
        struct fake_server s;
        struct kube_client *c;
        struct errbuf err;
        json_t *out = NULL;
        json_t *obj;
        char *rv = NULL;

        (void)state;
        fake_server_start(&s, request_script, sizeof(request_script) / sizeof(request_script[0]),
                          false);
        c = fake_client_new(&s, "tok-C", NULL);
        assert_string_equal(kube_client_namespace(c), "kagent");
        assert_int_equal(kube_get(c, POD_PATH, &out, &err), 0);
        assert_string_equal(
                json_string_value(json_object_get(json_object_get(out, "metadata"), "name")),
                "kagent-0");
        assert_int_equal(kube_client_last_status(c), 200);
        json_decref(out);
        out = NULL;
        assert_int_equal(kube_get(c, POD_PATH, &out, &err), -EACCES);
        assert_string_equal(err.msg, "forbidden: cannot get pods in namespace 'kagent': add it to "
                                     "the Role (apiGroups: \"\") bound to "
                                     "system:serviceaccount:kagent:kr");
        assert_null(out);
        obj = json_pack("{s:{s:s, s:s}}", "metadata", "name", "kr", "resourceVersion", "5");
        assert_int_equal(kube_create(c, "/apis/coordination.k8s.io/v1/namespaces/kagent/leases",
                                     obj, NULL, &err),
                         -EEXIST);
        assert_int_equal(kube_replace(c, LEASE_PATH, obj, NULL, &err), -ESTALE);
        json_decref(obj);
        obj = json_pack("{s:{s:i}}", "status", "observedGeneration", 2);
        assert_int_equal(kube_patch_status(c, RP_PATH "/default", obj, &out, &err), 0);
        json_decref(out);
        json_decref(obj);
        assert_int_equal(kube_get(c, POD_PATH, &out, &err), -EAGAIN);
        assert_int_equal(kube_client_last_status(c), 429);
        assert_int_equal(kube_client_retry_after_ms(c), 3000);
        req.response_max = 100;
        assert_int_equal(kube_request(c, &req, &out, &err), -EMSGSIZE);
        assert_int_equal(kube_client_retry_after_ms(c), -1);
        assert_int_equal(kube_delete(c, POD_PATH, &err), -ENOENT);
        assert_int_equal(kube_list(c, "/api/v1/namespaces/kagent/pods", "status.phase=Running",
                                   "app in (a,b)", &out, &rv, &err),
                         0);
        assert_int_equal(json_array_size(out), 2);
        assert_string_equal(rv, "77");
        json_decref(out);
        free(rv);
        out = NULL;
        assert_int_equal(kube_get(c, POD_PATH, &out, &err), -EPROTO);
        assert_non_null(strstr(err.msg, "malformed response"));
        /* An empty 201 body is NULL. */
        out = json_true();
        obj = json_object();
        assert_int_equal(kube_create(c, "/api/v1/namespaces/kagent/configmaps", obj, &out, &err),
                         0);
        assert_null(out);
        json_decref(obj);
        /* replace() needs a resourceVersion, checked before sending. */
        obj = json_pack("{s:{s:s}}", "metadata", "name", "kr");
        assert_int_equal(kube_replace(c, LEASE_PATH, obj, NULL, &err), -EINVAL);
        json_decref(obj);

        pthread_mutex_lock(&s.mu);
        assert_int_equal(s.nreq, 11);
        assert_string_equal(s.reqs[0].auth, "Bearer tok-C");
        assert_string_equal(s.reqs[2].method, "POST");
        assert_string_equal(s.reqs[2].ctype, "application/json");
        assert_string_equal(s.reqs[2].body, "{\"metadata\":{\"name\":\"kr\",\"resourceVersion\":"
                                            "\"5\"}}");
        assert_string_equal(s.reqs[3].method, "PUT");
        assert_string_equal(s.reqs[3].path, LEASE_PATH);
        assert_string_equal(s.reqs[4].method, "PATCH");
        assert_string_equal(s.reqs[4].path, RP_PATH "/default/status");
        assert_string_equal(s.reqs[4].ctype, "application/merge-patch+json");
        assert_string_equal(s.reqs[4].body, "{\"status\":{\"observedGeneration\":2}}");
        assert_string_equal(s.reqs[7].method, "DELETE");
        assert_string_equal(s.reqs[8].query,
                            "fieldSelector=status.phase=Running&labelSelector=app in (a,b)");
        pthread_mutex_unlock(&s.mu);
        kube_client_free(c);
        fake_server_stop(&s);
}

/* A server that accepts connections and never answers: -ETIMEDOUT. Nothing listening: -EAGAIN. */
static void test_request_timeout_and_refused(void **state)
{
        struct sockaddr_in sa;
        socklen_t len = sizeof(sa);
        struct kube_config cfg;
        struct kube_client *c = NULL;
        struct kube_request req = { .method = "GET", .path = "/version", .timeout_ms = 300 };
        struct errbuf err;
        char server[64];
        char bad_ca[] = "/nonexistent/ca.crt";
        char ftp[] = "ftp://x";
        int fd;

        (void)state;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 4), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
        memset(&cfg, 0, sizeof(cfg));
        (void)snprintf(server, sizeof(server), "http://127.0.0.1:%u", ntohs(sa.sin_port));
        cfg.server = server;
        assert_int_equal(kube_client_new(&cfg, &c, &err), 0);
        assert_string_equal(kube_client_namespace(c), "default");
        assert_int_equal(kube_request(c, &req, NULL, &err), -ETIMEDOUT);
        assert_non_null(strstr(err.msg, "GET /version"));
        kube_client_free(c);
        assert_int_equal(close(fd), 0);
        /* The port is closed now. */
        assert_int_equal(kube_client_new(&cfg, &c, &err), 0);
        assert_int_equal(kube_request(c, &req, NULL, &err), -EAGAIN);
        kube_client_free(c);
        /* Configuration problems are caught when the client is made. */
        cfg.ca_file = bad_ca;
        assert_int_equal(kube_client_new(&cfg, &c, &err), -ENOENT);
        assert_string_equal(err.msg, "certificate authority '/nonexistent/ca.crt': no such file");
        cfg.ca_file = NULL;
        cfg.server = ftp;
        assert_int_equal(kube_client_new(&cfg, &c, &err), -EINVAL);
}

static const struct fake_resp token_script[] = {
        { 401, false, NULL, { "{\"kind\":\"Status\",\"code\":401,\"reason\":\"Unauthorized\"}" } },
        { 200, false, NULL, { "{}" } },
        { 200, false, NULL, { "{}" } },
        { 401, false, NULL, { "{\"kind\":\"Status\",\"code\":401,\"reason\":\"Unauthorized\"}" } },
};

static void set_mtime(const char *path, time_t sec)
{
        struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };

        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_token_rotation_requests(void **state)
{
        struct fake_server s;
        struct kube_client *c;
        struct errbuf err;
        char dir[64];
        char path[128];

        (void)state;
        tmpdir_make(dir, sizeof(dir));
        (void)snprintf(path, sizeof(path), "%s/token", dir);
        write_file(dir, "token", "old-1\n", 0);
        set_mtime(path, 1000);
        fake_server_start(&s, token_script, sizeof(token_script) / sizeof(token_script[0]), false);
        c = fake_client_new(&s, "static-token-ignored", path);
        /* Rotated in place with the same size and mtime: stat() cannot tell, the 401 can. */
        write_file(dir, "token", "new-1\n", 0);
        set_mtime(path, 1000);
        assert_int_equal(kube_get(c, POD_PATH, NULL, &err), 0);
        /* Rotated by the kubelet's rename: noticed before sending. */
        write_file(dir, "token", "new-2\n", 1);
        assert_int_equal(kube_get(c, POD_PATH, NULL, &err), 0);
        /* A 401 with an unchanged token is final. */
        assert_int_equal(kube_get(c, POD_PATH, NULL, &err), -EACCES);
        assert_non_null(strstr(err.msg, "unauthorized: credentials rejected for get pods "
                                        "'kagent-0' in namespace 'kagent'"));
        pthread_mutex_lock(&s.mu);
        assert_int_equal(s.nreq, 4);
        assert_string_equal(s.reqs[0].auth, "Bearer old-1");
        assert_string_equal(s.reqs[1].auth, "Bearer new-1");
        assert_string_equal(s.reqs[2].auth, "Bearer new-2");
        assert_string_equal(s.reqs[3].auth, "Bearer new-2");
        pthread_mutex_unlock(&s.mu);
        kube_client_free(c);
        fake_server_stop(&s);
        tmpdir_remove(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* TLS                                                                                        */

static const struct fake_resp tls_script[] = {
        { 200, false, NULL, { "{\"ok\":1}" } },
        { 200, false, NULL, { "{\"ok\":2}" } },
        { 200, false, NULL, { "{\"ok\":3}" } },
        { 200, false, NULL, { "{\"ok\":4}" } },
};

static int tls_get(const struct kube_config *cfg, struct errbuf *err)
{
        struct kube_client *c = NULL;
        int rc;

        rc = kube_client_new(cfg, &c, err);
        if (rc == 0)
                rc = kube_get(c, "/version", NULL, err);
        kube_client_free(c);
        return rc;
}

static void test_tls(void **state)
{
        struct kube_config cfg;
        struct fake_server s;
        struct errbuf err;
        char server[64];
        char dir[64];
        char ca_path[128];
        char cert_path[128];
        char key_path[128];
        char kc[4096];
        char ca_pem[] = TEST_CA_PEM;
        char other_pem[] = TEST_OTHER_CA_PEM;
        char cert_pem[] = TEST_CLIENT_CERT_PEM;
        char key_pem[] = TEST_CLIENT_KEY_PEM;

        (void)state;
        fake_server_start(&s, tls_script, sizeof(tls_script) / sizeof(tls_script[0]), true);
        (void)snprintf(server, sizeof(server), "https://127.0.0.1:%u", (unsigned)s.port);
        tmpdir_make(dir, sizeof(dir));
        write_file(dir, "ca.crt", TEST_CA_PEM, 0);
        write_file(dir, "client.crt", TEST_CLIENT_CERT_PEM, 0);
        write_file(dir, "client.key", TEST_CLIENT_KEY_PEM, 0);
        (void)snprintf(ca_path, sizeof(ca_path), "%s/ca.crt", dir);
        (void)snprintf(cert_path, sizeof(cert_path), "%s/client.crt", dir);
        (void)snprintf(key_path, sizeof(key_path), "%s/client.key", dir);

        /* CA, certificate and key as data (libcurl blobs). */
        memset(&cfg, 0, sizeof(cfg));
        cfg.server = server;
        cfg.ca_data.data = ca_pem;
        cfg.ca_data.len = strlen(ca_pem);
        cfg.client_cert_data.data = cert_pem;
        cfg.client_cert_data.len = strlen(cert_pem);
        cfg.client_key_data.data = key_pem;
        cfg.client_key_data.len = strlen(key_pem);
        assert_int_equal(tls_get(&cfg, &err), 0);
        /* The same as files. */
        memset(&cfg, 0, sizeof(cfg));
        cfg.server = server;
        cfg.ca_file = ca_path;
        cfg.client_cert_file = cert_path;
        cfg.client_key_file = key_path;
        assert_int_equal(tls_get(&cfg, &err), 0);
        /* The system roots, or another CA: the server is not trusted. */
        cfg.ca_file = NULL;
        cfg.client_cert_file = NULL;
        cfg.client_key_file = NULL;
        assert_int_equal(tls_get(&cfg, &err), -EAGAIN);
        print_message("untrusted: %s\n", err.msg);
        cfg.ca_data.data = other_pem;
        cfg.ca_data.len = strlen(other_pem);
        assert_int_equal(tls_get(&cfg, &err), -EAGAIN);
        /* insecure-skip-tls-verify: no verification at all. */
        memset(&cfg, 0, sizeof(cfg));
        cfg.server = server;
        cfg.insecure_skip_tls_verify = true;
        assert_int_equal(tls_get(&cfg, &err), 0);
        /* A kubeconfig with *-data fields, end to end. */
        (void)snprintf(
                kc, sizeof(kc),
                "current-context: t\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\n"
                "clusters:\n- name: c\n  cluster:\n    server: %s\n"
                "    certificate-authority-data: %s\n"
                "users:\n- name: u\n  user:\n    client-certificate-data: %s\n"
                "    client-key-data: %s\n",
                server, TEST_CA_B64, TEST_CLIENT_CERT_B64, TEST_CLIENT_KEY_B64);
        assert_int_equal(kube_config_parse_kubeconfig(kc, strlen(kc), "/tls/kc", NULL, &cfg, &err),
                         0);
        assert_int_equal(tls_get(&cfg, &err), 0);
        kube_config_cleanup(&cfg);

        pthread_mutex_lock(&s.mu);
        assert_int_equal(s.nreq, 4);
#ifdef HAVE_GNUTLS
        assert_true(s.reqs[0].client_cert);
        assert_true(s.reqs[1].client_cert);
        assert_false(s.reqs[2].client_cert);
        assert_true(s.reqs[3].client_cert);
#endif
        pthread_mutex_unlock(&s.mu);
        fake_server_stop(&s);
        tmpdir_remove(dir);
}

int run_client_tests(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_status_errno_table),
                cmocka_unit_test(test_status_messages),
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_requests),
                cmocka_unit_test(test_request_timeout_and_refused),
                cmocka_unit_test(test_token_rotation_requests),
                cmocka_unit_test(test_tls),
        };
        return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
