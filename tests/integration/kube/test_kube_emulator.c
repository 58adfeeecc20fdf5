/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pkg/kube against the Kubernetes API emulator of tests/e2e (HTTPS with its own CA): every way
 * of configuring the client, the own Pod's volume, LIST+WATCH of one RetentionPolicy through
 * the emulator's faults (bookmark, dropped and cut watches, compaction, 429), status patches
 * with conditions, the RBAC message of a denied verb, token rotation, aggregated Events on both
 * APIs and Lease leader election; and TLS servers with RSA or ECDSA keys, TLS 1.3 or 1.2 only.
 * Exits 77 (skipped) without python3, PyYAML or openssl.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "kube/kube.h"

#define NS         "kagent"
#define POD_NAME   "kagent-controller-7d9f8b6c5d-x2x7q" /* fixtures/kagent.yaml */
#define CONTROLLER "system:serviceaccount:kagent:kagent-controller"
#define START_MS   30000
#define EVENT_WAIT 15000
#define LOG_LINES  64

static const struct kube_resource rp_res = { "kagent.dev", "v1alpha1", "retentionpolicies" };

struct emulator {
        char dir[64];
        pid_t pid;
        json_t *ready; /* DIR/ready */
        struct kube_client *admin;
        char rp_collection[KUBE_PATH_MAX];
        char rp_path[KUBE_PATH_MAX];
};

static struct emulator emu;
static struct emulator extra; /* test_tls_servers' own; stopped by the teardown should it fail */

static const char *ready_str_of(const struct emulator *e, const char *key)
{
        const char *v = json_string_value(json_object_get(e->ready, key));

        assert_non_null(v);
        return v;
}

static const char *ready_str(const char *key)
{
        return ready_str_of(&emu, key);
}

/* Run "prog a1 a2" to completion with output discarded; its exit status, or -1. */
static int run_quiet(const char *prog, const char *a1, const char *a2)
{
        int status = 0;
        pid_t pid = fork();

        if (pid < 0)
                return -1;
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (fd >= 0) {
                        (void)dup2(fd, 1);
                        (void)dup2(fd, 2);
                }
                execlp(prog, prog, a1, a2, (char *)NULL);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
                return -1;
        return WEXITSTATUS(status);
}

static bool prerequisites(void)
{
        return run_quiet("python3", "-c", "import yaml") == 0 &&
               run_quiet("openssl", "version", NULL) == 0;
}

static char *read_text(const char *path)
{
        FILE *f = fopen(path, "re");
        char buf[4096];
        size_t n;

        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        (void)fclose(f);
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
                buf[--n] = '\0';
        return strdup(buf);
}

static struct kube_client *client_from(const struct kube_config *cfg)
{
        struct kube_client *c = NULL;
        struct errbuf err;

        if (kube_client_new(cfg, &c, &err) < 0)
                fail_msg("client: %s", err.msg);
        return c;
}

static struct kube_client *client_kubeconfig(const char *path)
{
        struct kube_client *c;
        struct kube_config cfg;
        struct errbuf err;

        if (kube_config_from_kubeconfig(path, NULL, &cfg, &err) < 0)
                fail_msg("kubeconfig: %s", err.msg);
        c = client_from(&cfg);
        kube_config_cleanup(&cfg);
        return c;
}

/* A client that follows token rotation (the tests after test_token_rotation need it). */
static struct kube_client *client_main(void)
{
        char path[256];

        (void)snprintf(path, sizeof(path), "%s/kubeconfig-tokenfile", emu.dir);
        return client_kubeconfig(path);
}

/* Start an emulator in a new directory, its keys KEY_TYPE ("ec", "rsa") and its newest TLS
 * version TLS_MAX ("1.3", "1.2"), and wait until it listens. */
static void emulator_spawn(struct emulator *e, const char *key_type, const char *tls_max)
{
        const char *src = getenv("KR_SOURCE_DIR"); /* NOLINT(concurrency-mt-unsafe): one thread */
        char launcher[512];
        char fixture[512];
        char crd[512];
        char ready[128];
        int64_t deadline;

        assert_non_null(src);
        (void)snprintf(launcher, sizeof(launcher), "%s/tests/e2e/kube_emulator/kube-emulator", src);
        (void)snprintf(fixture, sizeof(fixture), "%s/tests/e2e/kube_emulator/fixtures/kagent.yaml",
                       src);
        (void)snprintf(crd, sizeof(crd), "%s/manifests/crd", src);
        (void)snprintf(e->dir, sizeof(e->dir), "/tmp/kr-kube-emu-XXXXXX");
        assert_non_null(mkdtemp(e->dir));
        (void)snprintf(ready, sizeof(ready), "%s/ready", e->dir);
        e->pid = fork();
        assert_true(e->pid >= 0);
        if (e->pid == 0) {
                char log[128];
                int fd;

                (void)snprintf(log, sizeof(log), "%s/log", e->dir);
                fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        (void)dup2(fd, 1);
                        (void)dup2(fd, 2);
                }
                execlp("python3", "python3", launcher, "--dir", e->dir, "--fixture", fixture,
                       "--crd", crd, "--bookmark-interval", "600", "--key-type", key_type,
                       "--tls-max-version", tls_max, (char *)NULL);
                _exit(127);
        }
        /* The emulator writes 'ready' once it listens: poll for it (an external process). */
        deadline = clock_mono_ms() + START_MS;
        while (access(ready, F_OK) != 0) {
                assert_true(clock_mono_ms() < deadline);
                assert_int_equal(waitpid(e->pid, NULL, WNOHANG), 0);
                clock_sleep_ms(20, NULL);
        }
        e->ready = json_load_file(ready, 0, NULL);
        assert_non_null(e->ready);
}

static int emulator_start(void **state)
{
        struct kube_config cfg;
        struct errbuf err;
        char *admin_token;

        (void)state;
        emulator_spawn(&emu, "ec", "1.3");
        admin_token = read_text(ready_str("adminTokenFile"));
        assert_non_null(admin_token);
        memset(&cfg, 0, sizeof(cfg));
        cfg.server = (char *)(uintptr_t)ready_str("server"); /* NOLINT(performance-no-int-to-ptr) */
        cfg.ca_file =
                (char *)(uintptr_t)ready_str("caFile"); /* NOLINT(performance-no-int-to-ptr) */
        cfg.token = admin_token;
        emu.admin = client_from(&cfg);
        free(admin_token);
        assert_true(kube_path(&rp_res, NS, NULL, NULL, emu.rp_collection, KUBE_PATH_MAX, &err) > 0);
        assert_true(kube_path(&rp_res, NS, "default", NULL, emu.rp_path, KUBE_PATH_MAX, &err) > 0);
        return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static void emulator_kill(struct emulator *e)
{
        if (e->pid > 0) {
                (void)kill(e->pid, SIGTERM);
                (void)waitpid(e->pid, NULL, 0);
        }
        json_decref(e->ready);
        if (e->dir[0]) {
                /* NOLINTNEXTLINE(concurrency-mt-unsafe): one thread */
                (void)nftw(e->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
        }
        memset(e, 0, sizeof(*e));
}

static int emulator_stop(void **state)
{
        (void)state;
        kube_client_free(emu.admin);
        emulator_kill(&extra);
        emulator_kill(&emu);
        return 0;
}

/* POST a fault rule (JSON) to the emulator's control endpoint. */
static void fault(const char *json)
{
        struct kube_request req = { .method = "POST", .path = "/_emulator/faults" };
        struct errbuf err;

        req.body = json;
        req.body_len = strlen(json);
        if (kube_request(emu.admin, &req, NULL, &err) < 0)
                fail_msg("fault %s: %s", json, err.msg);
}

static void test_configurations(void **state)
{
        char path[256];
        struct kube_config cfg;
        struct kube_client *c[4];
        struct errbuf err;
        const json_t *ic = json_object_get(emu.ready, "inCluster");
        size_t i;

        (void)state;
        c[0] = client_kubeconfig(ready_str("kubeconfig"));
        c[1] = client_kubeconfig(ready_str("kubeconfigCert"));
        (void)snprintf(path, sizeof(path), "%s/kubeconfig-tokenfile", emu.dir);
        c[2] = client_kubeconfig(path);
        assert_int_equal(kube_config_in_cluster(
                                 json_string_value(json_object_get(ic, "KUBERNETES_SERVICE_HOST")),
                                 json_string_value(json_object_get(ic, "KUBERNETES_SERVICE_PORT")),
                                 json_string_value(json_object_get(ic, "serviceAccountDir")), &cfg,
                                 &err),
                         0);
        c[3] = client_from(&cfg);
        kube_config_cleanup(&cfg);
        for (i = 0; i < 4; i++) {
                json_t *pod = NULL;

                assert_string_equal(kube_client_namespace(c[i]), NS);
                if (kube_pod_get_self(c[i], POD_NAME, NS, &pod, &err) < 0)
                        fail_msg("config %zu: %s", i, err.msg);
                json_decref(pod);
                kube_client_free(c[i]);
        }
}

/* The TLS servers a client meets: RSA keys (kubeadm's default) and ECDSA, TLS 1.3 and 1.2
 * only (where an RSA server signs its key exchange with RSA-PSS), with a token and with a client
 * certificate of the same key type. */
static void test_tls_servers(void **state)
{
        static const char *const variants[][2] = { { "rsa", "1.3" },
                                                   { "rsa", "1.2" },
                                                   { "ec", "1.2" } };
        size_t v;

        (void)state;
        for (v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
                const char *kc[2];
                size_t i;

                emulator_spawn(&extra, variants[v][0], variants[v][1]);
                kc[0] = ready_str_of(&extra, "kubeconfig");
                kc[1] = ready_str_of(&extra, "kubeconfigCert");
                for (i = 0; i < 2; i++) {
                        struct kube_client *c = client_kubeconfig(kc[i]);
                        json_t *pod = NULL;
                        struct errbuf err;

                        if (kube_pod_get_self(c, POD_NAME, NS, &pod, &err) < 0)
                                fail_msg("%s keys, TLS %s, %s: %s", variants[v][0], variants[v][1],
                                         i ? "client certificate" : "token", err.msg);
                        json_decref(pod);
                        kube_client_free(c);
                }
                emulator_kill(&extra);
        }
}

static void test_pod_volume(void **state)
{
        struct kube_client *c = client_kubeconfig(ready_str("kubeconfig"));
        struct kube_pod_volume v;
        struct errbuf err;
        json_t *pod = NULL;

        (void)state;
        assert_int_equal(kube_pod_get_self(c, POD_NAME, NS, &pod, &err), 0);
        assert_int_equal(
                kube_pod_volume_find(pod, "retention", "/sqlite-volume/kagent.db", &v, &err), 0);
        assert_string_equal(v.name, "sqlite-volume");
        assert_true(v.empty_dir);
        assert_string_equal(v.medium, "Memory");
        assert_int_equal(v.size_limit_bytes, 500 * 1024 * 1024);
        json_decref(pod);
        pod = NULL;
        assert_int_equal(kube_pod_get_self(c, "no-such-pod", NS, &pod, &err), -ENOENT);
        kube_client_free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* Watch                                                                                      */

struct watch_log {
        char lines[LOG_LINES][128];
        size_t n;
        int64_t offset; /* the watch's clock runs ahead by this much: backoff without waiting */
};

static int64_t log_clock(void *userdata)
{
        const struct watch_log *l = userdata;

        return clock_mono_ms() + l->offset;
}

static int log_event(const struct kube_watch_event *ev, void *userdata)
{
        static const char *const names[] = { "?",       "SYNC",     "ADDED", "MODIFIED",
                                             "DELETED", "BOOKMARK", "ERROR" };
        struct watch_log *l = userdata;
        char *line = l->lines[l->n % LOG_LINES];

        if (ev->type == KUBE_WATCH_ERROR) {
                (void)snprintf(line, sizeof(l->lines[0]), "ERROR %d %s", ev->error,
                               ev->relist ? "relist" : "rewatch");
                print_message("  %s (%s)\n", ev->message, ev->relist ? "relist" : "rewatch");
                if (ev->retry_in_ms >= 1000)
                        (void)snprintf(line + strlen(line), sizeof(l->lines[0]) - strlen(line),
                                       " %llds", (long long)ev->retry_in_ms / 1000);
                l->offset += ev->retry_in_ms;
        } else if (ev->type == KUBE_WATCH_SYNC) {
                (void)snprintf(line, sizeof(l->lines[0]), "SYNC %zu", json_array_size(ev->object));
        } else {
                json_int_t gen = json_integer_value(
                        json_object_get(json_object_get(ev->object, "metadata"), "generation"));

                (void)snprintf(line, sizeof(l->lines[0]), "%s gen=%lld", names[ev->type],
                               (long long)gen);
        }
        print_message("event: %s rv=%s\n", line, ev->resource_version);
        l->n++;
        return 0;
}

/* Poll until the log has 'want' (exactly) at or after line 'from'; returns its index. */
static size_t wait_line(struct kube_watch *w, struct watch_log *l, size_t from, const char *want)
{
        int64_t deadline = clock_mono_ms() + EVENT_WAIT;
        struct errbuf err;

        for (;;) {
                size_t i;

                for (i = from; i < l->n; i++) {
                        if (strcmp(l->lines[i % LOG_LINES], want) == 0)
                                return i;
                }
                if (clock_mono_ms() > deadline)
                        fail_msg("no '%s' after line %zu", want, from);
                assert_int_equal(kube_watch_poll(w, 50, log_event, l, &err), 0);
        }
}

static void patch_spec(struct kube_client *c, const char *interval)
{
        json_t *p = json_pack("{s:{s:{s:s}}}", "spec", "schedule", "interval", interval);
        struct errbuf err;

        if (kube_patch(c, emu.rp_path, p, NULL, &err) < 0)
                fail_msg("patch: %s", err.msg);
        json_decref(p);
}

static void test_watch_policy(void **state)
{
        struct kube_watch_options opt = { 0 };
        struct kube_client *c = client_kubeconfig(ready_str("kubeconfig"));
        struct kube_client *wc = client_kubeconfig(ready_str("kubeconfig"));
        struct watch_log log = { 0 };
        struct kube_watch *w = NULL;
        struct errbuf err;
        json_t *obj;
        size_t at;

        (void)state;
        opt.path = emu.rp_collection;
        opt.field_selector = "metadata.name=default";
        opt.backoff_initial_ms = 50;
        opt.backoff_max_ms = 400;
        opt.clock = log_clock;
        opt.clock_userdata = &log;
        assert_int_equal(kube_watch_new(wc, &opt, &w, &err), 0);
        /* No policy yet: an empty sync (monitor-only). */
        at = wait_line(w, &log, 0, "SYNC 0");
        obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:s}}}", "apiVersion", "kagent.dev/v1alpha1",
                        "kind", "RetentionPolicy", "metadata", "name", "default", "spec",
                        "schedule", "interval", "15m");
        if (kube_create(c, emu.rp_collection, obj, NULL, &err) < 0)
                fail_msg("create: %s", err.msg);
        assert_int_equal(kube_create(c, emu.rp_collection, obj, NULL, &err), -EEXIST);
        json_decref(obj);
        at = wait_line(w, &log, at, "ADDED gen=1");
        patch_spec(c, "20m");
        at = wait_line(w, &log, at, "MODIFIED gen=2");
        /* A bookmark on demand. */
        fault("{\"action\":\"bookmark\"}");
        at = wait_line(w, &log, at, "BOOKMARK gen=0");
        /* Dropped: re-watched from where it was, no relist, nothing missed. */
        fault("{\"action\":\"dropWatches\",\"mode\":\"close\"}");
        at = wait_line(w, &log, at, "ERROR -11 rewatch");
        patch_spec(c, "25m");
        at = wait_line(w, &log, at, "MODIFIED gen=3");
        /* Ended cleanly by the server: resumed at once. */
        fault("{\"action\":\"dropWatches\",\"mode\":\"end\"}");
        patch_spec(c, "26m");
        at = wait_line(w, &log, at, "MODIFIED gen=4");
        /* An event cut in half: the connection is lost mid-event, the event comes again whole. */
        fault("{\"action\":\"cutWatch\"}");
        patch_spec(c, "30m");
        at = wait_line(w, &log, at, "ERROR -11 rewatch");
        at = wait_line(w, &log, at, "MODIFIED gen=5");
        /* Compacted past our resourceVersion: 410 Expired in an ERROR event, then a relist. */
        obj = json_pack("{s:s, s:s, s:{s:s}, s:{}}", "apiVersion", "kagent.dev/v1alpha1", "kind",
                        "RetentionPolicy", "metadata", "name", "other", "spec");
        if (kube_create(c, emu.rp_collection, obj, NULL, &err) < 0)
                fail_msg("create other: %s", err.msg);
        json_decref(obj);
        fault("{\"action\":\"compact\"}");
        fault("{\"action\":\"dropWatches\",\"mode\":\"close\"}");
        at = wait_line(w, &log, at, "ERROR -116 relist");
        at = wait_line(w, &log, at, "SYNC 1");
        /* 429 with Retry-After on the next list: honoured (the clock jumps past it). */
        fault("{\"action\":\"error\",\"code\":429,\"retryAfter\":3,\"verb\":\"list\"}");
        kube_watch_relist(w);
        at = wait_line(w, &log, at, "ERROR -11 relist 3s");
        at = wait_line(w, &log, at, "SYNC 1");
        patch_spec(c, "35m");
        (void)wait_line(w, &log, at, "MODIFIED gen=6");
        kube_watch_free(w);
        kube_client_free(wc);
        kube_client_free(c);
}

/* Status through /status with conditions; a denied verb names the RBAC rule to add. */
static void test_status_and_rbac(void **state)
{
        struct kube_client *c = client_kubeconfig(ready_str("kubeconfig"));
        struct kube_condition ready = { "Ready", "True", "RunSucceeded", "ok", 1 };
        json_t *conds = json_array();
        json_t *patch;
        json_t *got = NULL;
        struct errbuf err;

        (void)state;
        assert_int_equal(kube_condition_set(conds, &ready, clock_wall_ms(), NULL, &err), 0);
        patch = json_pack("{s:{s:i, s:O}}", "status", "observedGeneration", 1, "conditions", conds);
        if (kube_patch_status(c, emu.rp_path, patch, NULL, &err) < 0)
                fail_msg("status: %s", err.msg);
        assert_int_equal(kube_get(c, emu.rp_path, &got, &err), 0);
        assert_true(kube_condition_is_true(
                json_object_get(json_object_get(got, "status"), "conditions"), "Ready"));
        json_decref(got);
        fault("{\"action\":\"deny\",\"verb\":\"patch\",\"resource\":\"retentionpolicies/status\"}");
        assert_int_equal(kube_patch_status(c, emu.rp_path, patch, NULL, &err), -EACCES);
        assert_string_equal(err.msg, "forbidden: cannot patch retentionpolicies/status in "
                                     "namespace 'kagent': add it to the Role (apiGroups: "
                                     "kagent.dev) bound to " CONTROLLER);
        fault("{\"action\":\"clear\"}");
        assert_int_equal(kube_patch_status(c, emu.rp_path, patch, NULL, &err), 0);
        json_decref(patch);
        json_decref(conds);
        kube_client_free(c);
}

/* A rotated token: the tokenFile client follows it, the inline token is revoked. */
static void test_token_rotation(void **state)
{
        char path[256];
        struct kube_client *inline_tok = client_kubeconfig(ready_str("kubeconfig"));
        struct kube_client *file_tok;
        struct errbuf err;

        (void)state;
        (void)snprintf(path, sizeof(path), "%s/kubeconfig-tokenfile", emu.dir);
        file_tok = client_kubeconfig(path);
        assert_int_equal(kube_get(file_tok, emu.rp_path, NULL, &err), 0);
        fault("{\"action\":\"rotateToken\"}");
        assert_int_equal(kube_get(file_tok, emu.rp_path, NULL, &err), 0);
        assert_int_equal(kube_get(inline_tok, emu.rp_path, NULL, &err), -EACCES);
        assert_non_null(strstr(err.msg, "unauthorized"));
        kube_client_free(inline_tok);
        kube_client_free(file_tok);
}

static void check_event_count(struct kube_client *c, const char *reason, int64_t count)
{
        char q[128];
        struct kube_request req = { .method = "GET", .path = "/api/v1/namespaces/kagent/events" };
        struct errbuf err;
        json_t *list = NULL;
        json_t *item;
        size_t i;
        int found = 0;

        (void)snprintf(q, sizeof(q), "fieldSelector=reason%%3D%s", reason);
        req.query = q;
        if (kube_request(c, &req, &list, &err) < 0)
                fail_msg("events: %s", err.msg);
        json_array_foreach(json_object_get(list, "items"), i, item)
        {
                json_int_t n = json_integer_value(json_object_get(item, "count"));
                json_int_t s = json_integer_value(
                        json_object_get(json_object_get(item, "series"), "count"));

                print_message("event %s count=%lld series=%lld\n", reason, (long long)n,
                              (long long)s);
                assert_int_equal(n > s ? n : s, count);
                found++;
        }
        assert_int_equal(found, 1);
        json_decref(list);
}

static void test_events(void **state)
{
        static const struct kube_object_ref ref = { "kagent.dev/v1alpha1", "RetentionPolicy", NS,
                                                    "default", NULL };
        struct kube_event_source src = { KUBE_EVENT_API_EVENTS_V1, "kagent.dev/kagent-retention",
                                         POD_NAME };
        struct kube_event_spec ok = { "Normal", "PruneSucceeded", "Prune", "deleted 3 rows" };
        struct kube_event_spec bad = { "Warning", "PruneFailed", "Prune", "database is locked" };
        struct kube_client *c = client_main();
        struct kube_event_recorder *r = NULL;
        struct errbuf err;
        int64_t now = clock_wall_ms();

        (void)state;
        assert_int_equal(kube_event_recorder_new(&src, 0, &r, &err), 0);
        for (int i = 0; i < 3; i++) {
                if (kube_event_record(r, c, &ref, &ok, now + (int64_t)i * 1000, &err) < 0)
                        fail_msg("events.k8s.io: %s", err.msg);
        }
        check_event_count(c, "PruneSucceeded", 3);
        kube_event_recorder_free(r);
        src.api = KUBE_EVENT_API_CORE_V1;
        assert_int_equal(kube_event_recorder_new(&src, 0, &r, &err), 0);
        for (int i = 0; i < 2; i++) {
                if (kube_event_record(r, c, &ref, &bad, now + (int64_t)i * 1000, &err) < 0)
                        fail_msg("core v1: %s", err.msg);
        }
        check_event_count(c, "PruneFailed", 2);
        kube_event_recorder_free(r);
        kube_client_free(c);
}

static void test_lease(void **state)
{
        struct kube_lease_config cfg = { NS, "kagent-retention", NULL, 0, 0, 0 };
        struct kube_client *ca = client_main();
        struct kube_client *cb = client_kubeconfig(ready_str("kubeconfigCert"));
        struct kube_leader *a = NULL;
        struct kube_leader *b = NULL;
        struct errbuf err;
        char ida[128];
        char idb[128];
        json_t *lease = NULL;

        (void)state;
        assert_int_equal(kube_leader_identity(POD_NAME, NULL, NULL, ida, sizeof(ida)), 0);
        assert_int_equal(kube_leader_identity("kagent-other", NULL, NULL, idb, sizeof(idb)), 0);
        cfg.identity = ida;
        assert_int_equal(kube_leader_new(ca, &cfg, NULL, NULL, NULL, &a, &err), 0);
        cfg.identity = idb;
        assert_int_equal(kube_leader_new(cb, &cfg, NULL, NULL, NULL, &b, &err), 0);
        if (kube_leader_tick(a, NULL, &err) != 1)
                fail_msg("a: %s", err.msg);
        assert_int_equal(kube_leader_tick(b, NULL, &err), 0);
        assert_int_equal(kube_get(ca,
                                  "/apis/coordination.k8s.io/v1/namespaces/kagent/leases/"
                                  "kagent-retention",
                                  &lease, &err),
                         0);
        assert_string_equal(json_string_value(json_object_get(json_object_get(lease, "spec"),
                                                              "holderIdentity")),
                            ida);
        json_decref(lease);
        /* Released on shutdown: the other candidate takes over at its next attempt. */
        assert_int_equal(kube_leader_release(a, &err), 0);
        clock_sleep_ms(KUBE_RETRY_PERIOD_MS, NULL);
        if (kube_leader_tick(b, NULL, &err) != 1)
                fail_msg("b: %s", err.msg);
        kube_leader_free(a);
        kube_leader_free(b);
        kube_client_free(ca);
        kube_client_free(cb);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_configurations),  cmocka_unit_test(test_tls_servers),
                cmocka_unit_test(test_pod_volume),      cmocka_unit_test(test_watch_policy),
                cmocka_unit_test(test_status_and_rbac), cmocka_unit_test(test_token_rotation),
                cmocka_unit_test(test_events),          cmocka_unit_test(test_lease),
        };

        if (!prerequisites()) {
                (void)fprintf(stderr, "SKIP: python3 with PyYAML and openssl are needed\n");
                return 77;
        }
        if (kube_global_init(NULL) < 0)
                return 1;
        return cmocka_run_group_tests(tests, emulator_start, emulator_stop) == 0 ? 0 : 1;
}
