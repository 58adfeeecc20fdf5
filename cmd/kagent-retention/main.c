/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kagent-retention: the retention controller for kagent's database. This file wires the
 * commands (run, prune, report, datagen, version) to the modules; it holds no retention logic.
 */
#define LOG_MODULE "main"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "base/memguard.h"
#include "cli.h"
#include "controller/controller.h"
#include "datagen/datagen.h"
#include "httpd/httpd.h"
#include "kube/kube.h"
#include "log/log.h"
#include "policy/policy.h"
#include "prune/prune.h"
#include "store/store.h"

#define START_RETRY_MIN_MS 1000
#define START_RETRY_MAX_MS 30000

static volatile int stop_requested;
/* The running controller, so a signal ends its sleep at once; NULL outside controller_run. */
static struct controller *volatile running;

static void on_signal(int sig)
{
        struct controller *c = running;

        (void)sig;
        stop_requested = 1;
        if (c)
                controller_wake(c);
}

static void install_signals(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        (void)sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGTERM, &sa, NULL);
        (void)sigaction(SIGINT, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        (void)sigaction(SIGPIPE, &sa, NULL);
}

static void setup_logging(const struct config *c)
{
        enum log_level level = LOG_LEVEL_INFO;
        enum log_format format = LOG_FORMAT_JSON;

        (void)log_level_parse(c->log_level, &level);
        (void)log_format_parse(c->log_format, &format);
        log_setup(level, format);
}

/* Load and validate the policy file; print every problem. Returns 0 or EXIT_USAGE. */
static int load_policy(const char *path, struct policy *out)
{
        struct policy_errors errs;
        struct errbuf err;
        int rc;

        errbuf_clear(&err);
        memset(&errs, 0, sizeof(errs));
        rc = policy_load_file(path, out, &errs, &err);
        if (rc == 0)
                return 0;
        if (rc == -EINVAL && errs.n > 0) {
                (void)fprintf(stderr, "policy '%s' is invalid; nothing will be deleted:\n", path);
                for (size_t i = 0; i < errs.n; i++)
                        (void)fprintf(stderr, "  %s: %s\n", errs.e[i].path, errs.e[i].msg);
                if (errs.n_dropped)
                        (void)fprintf(stderr, "  (%zu more)\n", errs.n_dropped);
        } else {
                (void)fprintf(stderr, "policy '%s': %s\n", path, errbuf_msg(&err));
        }
        return EXIT_USAGE;
}

static int open_store(const struct config *c, bool read_only, struct store **out)
{
        struct store_config sc;
        struct errbuf err;
        char *url = NULL;
        int rc;

        errbuf_clear(&err);
        rc = config_store(c, &sc, &url);
        if (rc != 0)
                return rc;
        sc.read_only = read_only;
        rc = store_open(&sc, out, &err);
        free(url);
        if (rc < 0) {
                (void)fprintf(stderr, "database: %s\n", errbuf_msg(&err));
                return rc == -EINVAL || rc == -ENOENT || rc == -EPROTO ? EXIT_USAGE : EXIT_FAIL;
        }
        return 0;
}

static enum output_format output_of(const struct config *c)
{
        return strcmp(c->output, "json") == 0 ? OUTPUT_JSON : OUTPUT_TEXT;
}

static int cmd_report(const struct config *c)
{
        struct store *s = NULL;
        struct store_usage u;
        struct errbuf err;
        int rc;

        errbuf_clear(&err);
        rc = open_store(c, true, &s);
        if (rc != 0)
                return rc;
        rc = store_measure(s, true, &u, &err);
        if (rc < 0) {
                (void)fprintf(stderr, "report: %s\n", errbuf_msg(&err));
                store_close(s);
                return EXIT_FAIL;
        }
        output_report(store_info(s), &u,
                      store_info(s)->type == STORE_SQLITE ? c->sqlite_path : NULL, output_of(c));
        store_close(s);
        return EXIT_OK;
}

static int cmd_prune(const struct config *c)
{
        struct policy p;
        struct store *s = NULL;
        struct prune_opts o;
        struct prune_result r;
        struct errbuf err;
        int rc;

        errbuf_clear(&err);
        rc = load_policy(c->policy_file, &p);
        if (rc != 0)
                return rc;
        rc = open_store(c, false, &s);
        if (rc != 0)
                return rc;
        memset(&o, 0, sizeof(o));
        o.policy = &p;
        o.dry_run = c->dry_run;
        o.stop = &stop_requested;
        if (c->now)
                (void)config_parse_now(c->now, &o.now_ms);
        rc = prune_run(s, &o, &r, &err);
        store_close(s);
        if (rc < 0) {
                (void)fprintf(stderr, "prune: %s\n", errbuf_msg(&err));
                return EXIT_FAIL;
        }
        output_prune(&r, output_of(c), o.dry_run || p.dry_run);
        return r.outcome == PRUNE_FAILED || r.outcome == PRUNE_SKIPPED ? EXIT_FAIL : EXIT_OK;
}

/* The effective configuration, once at start; the database URL with its password redacted. */
static void log_config(const struct config *c)
{
        char url[512];
        bool pg = strcmp(c->database_type, "postgres") == 0;

        log_info("started", LOG_STR("version", KR_VERSION),
                 LOG_STR("database_type", c->database_type),
                 LOG_STR("sqlite_path", pg ? NULL : c->sqlite_path),
                 LOG_STR("postgres_url",
                         pg && c->postgres_url
                                 ? store_conninfo_redact(c->postgres_url, url, sizeof(url))
                                 : NULL),
                 LOG_STR("postgres_url_file", pg ? c->postgres_url_file : NULL),
                 LOG_STR("policy", c->policy_file),
                 LOG_STR("policy_source", c->policy_file ? "file" : "kubernetes"),
                 LOG_STR("policy_name", c->policy_file ? NULL : c->policy_name),
                 LOG_STR("kubeconfig", c->kubeconfig), LOG_BOOL("leader_elect", c->leader_elect),
                 LOG_INT("busy_timeout_ms", c->busy_timeout_ms),
                 LOG_INT("volume_poll_ms", c->volume_poll_ms),
                 LOG_INT("reserve_bytes", c->reserve_bytes),
                 LOG_INT("volume_limit_bytes", c->volume_limit_bytes),
                 LOG_STR("metrics_bind_address", c->metrics_address),
                 LOG_STR("health_probe_bind_address", c->health_address),
                 LOG_STR("log_level", c->log_level), LOG_STR("log_format", c->log_format),
                 LOG_BOOL("once", c->once));
}

/*
 * controller_new(), waiting out a SQLite database that another connection holds locked at
 * start (kagent in a long transaction, a backup): a sidecar that exited here would restart in a
 * loop and keep kagent's pod unready. Other errors are final. Returns controller_new()'s code,
 * or -EINTR when a stop was requested while waiting.
 */
static int new_controller(const struct controller_config *cc, struct httpd_health *health,
                          struct controller **out, struct errbuf *err)
{
        int64_t delay_ms = START_RETRY_MIN_MS;

        for (;;) {
                int rc = controller_new(cc, out, err);

                if (rc != -EBUSY || cc->once)
                        return rc;
                log_warn("database locked by another connection: retrying",
                         LOG_STR("error", errbuf_msg(err)), LOG_INT("retry_in_ms", delay_ms));
                if (health)
                        httpd_health_beat(health); /* waiting is alive, not stuck */
                clock_sleep_ms(delay_ms, &stop_requested);
                if (stop_requested)
                        return errbuf_set(err, -EINTR, "stopped while the database was locked");
                errbuf_clear(err);
                delay_ms = delay_ms * 2 > START_RETRY_MAX_MS ? START_RETRY_MAX_MS : delay_ms * 2;
        }
}

static int cmd_run(const struct config *c)
{
        struct controller_kube_config kc;
        struct serving srv;
        struct controller_config cc;
        struct controller *ctl = NULL;
        struct policy p;
        struct errbuf err;
        char *url = NULL;
        int rc;

        errbuf_clear(&err);
        /* An invalid policy at start is a usage error; later edits keep the last valid one. */
        if (c->policy_file) {
                rc = load_policy(c->policy_file, &p);
                if (rc != 0)
                        return rc;
        }
        memset(&cc, 0, sizeof(cc));
        rc = config_store(c, &cc.store, &url);
        if (rc != 0)
                return rc;
        rc = serving_start(c, &srv);
        if (rc != 0) {
                free(url);
                return rc;
        }
        log_config(c);
        cc.metrics = srv.metrics;
        cc.health = srv.health;
        cc.policy_file = c->policy_file;
        if (!c->policy_file) {
                /* No policy file: the RetentionPolicy comes from the Kubernetes API. */
                memset(&kc, 0, sizeof(kc));
                kc.kubeconfig = c->kubeconfig;
                kc.context = c->context;
                kc.ns = c->ns;
                kc.policy_name = c->policy_name;
                kc.leader_elect = c->leader_elect;
                kc.lease_name = c->lease_name;
                kc.required = c->kubeconfig || c->leader_elect;
                cc.kube = &kc;
        }
        cc.volume_poll_ms = c->volume_poll_ms;
        cc.reserve_bytes = c->reserve_bytes;
        cc.pod_limit_bytes = c->volume_limit_bytes;
        cc.once = c->once;
        rc = new_controller(&cc, srv.health, &ctl, &err);
        free(url);
        if (rc == -EINTR) {
                serving_stop(&srv);
                log_info("shutting down");
                return EXIT_OK;
        }
        if (rc < 0) {
                serving_stop(&srv);
                (void)fprintf(stderr, "database: %s\n", errbuf_msg(&err));
                return rc == -EINVAL || rc == -ENOENT || rc == -EPROTO ? EXIT_USAGE : EXIT_FAIL;
        }
        running = ctl;
        rc = controller_run(ctl, &stop_requested, &err);
        running = NULL;
        if (c->once && controller_state(ctl)->runs > 0)
                output_prune(&controller_state(ctl)->last_run, OUTPUT_TEXT,
                             controller_state(ctl)->last_run.outcome == PRUNE_DRY_RUN);
        log_info("shutting down");
        controller_free(ctl);
        serving_stop(&srv);
        return rc < 0 ? EXIT_FAIL : EXIT_OK;
}

static int cmd_datagen(const struct config *c)
{
        struct datagen_opts o;
        struct datagen_stats st;
        struct errbuf err;
        int rc;

        errbuf_clear(&err);
        datagen_opts_init(&o);
        o.path = c->sqlite_path;
        o.sessions = (uint32_t)c->sessions;
        o.days = (uint32_t)c->days;
        o.seed = (uint64_t)c->seed;
        o.size_target_bytes = (uint64_t)c->size_bytes;
        o.events_per_session = (uint32_t)c->events_per_session;
        if (c->now)
                (void)config_parse_now(c->now, &o.now_ms);
        o.layout = strcmp(c->layout, "turso") == 0 ? DATAGEN_LAYOUT_TURSO
                   : strcmp(c->layout, "v05") == 0 ? DATAGEN_LAYOUT_V05
                                                   : DATAGEN_LAYOUT_GORM;
        rc = datagen_write(&o, &st, &err);
        if (rc < 0) {
                (void)fprintf(stderr, "datagen: %s\n", errbuf_msg(&err));
                return rc == -EEXIST || rc == -EINVAL ? EXIT_USAGE : EXIT_FAIL;
        }
        (void)printf(
                "datagen: wrote %s: %llu sessions, %llu events, %llu tasks, %llu checkpoints, "
                "%llu checkpoint writes, %llu soft-deleted rows, %llu orphan rows, %llu bytes\n",
                c->sqlite_path, (unsigned long long)st.sessions, (unsigned long long)st.events,
                (unsigned long long)st.tasks, (unsigned long long)st.checkpoints,
                (unsigned long long)st.checkpoint_writes, (unsigned long long)st.soft_deleted_rows,
                (unsigned long long)st.orphan_rows, (unsigned long long)st.file_bytes);
        return EXIT_OK;
}

static void usage(FILE *f)
{
        (void)fprintf(f, "usage: kagent-retention <command> [flags]\n\n"
                         "commands:\n"
                         "  run       the retention controller: prune on the policy's schedule\n"
                         "  prune     one prune run with --policy FILE, then exit\n"
                         "  report    database files, pages and per-table sizes\n"
                         "  datagen   write a realistic demo/test kagent SQLite database\n"
                         "  version   print the version\n\n"
                         "'kagent-retention <command> --help' lists a command's flags.\n"
                         "exit codes: 0 ok, 1 failure, 2 usage or invalid input\n");
}

int main(int argc, char **argv)
{
        const char *command;
        struct config c;
        int rc;

        /* Before any JSON is parsed: a parse that lost an allocation is -ENOMEM, not data. */
        json_set_alloc_funcs(memguard_malloc, free);
        if (argc < 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        command = argv[1];
        if (strcmp(command, "version") == 0 || strcmp(command, "--version") == 0) {
                (void)printf("kagent-retention %s\n", KR_VERSION);
                return EXIT_OK;
        }
        if (strcmp(command, "help") == 0 || strcmp(command, "--help") == 0 ||
            strcmp(command, "-h") == 0) {
                usage(stdout);
                return EXIT_OK;
        }
        if (strcmp(command, "run") != 0 && strcmp(command, "prune") != 0 &&
            strcmp(command, "report") != 0 && strcmp(command, "datagen") != 0) {
                (void)fprintf(stderr, "unknown command '%s'\n", command);
                usage(stderr);
                return EXIT_USAGE;
        }
        rc = config_load(command, argc - 1, argv + 1, &c);
        if (rc != 0)
                return rc;
        if (c.help) {
                config_usage(command);
                return EXIT_OK;
        }
        setup_logging(&c);
        install_signals();
        if (kube_global_init(NULL) < 0) {
                (void)fprintf(stderr, "out of memory\n");
                return EXIT_FAIL;
        }
        if (strcmp(command, "report") == 0)
                return cmd_report(&c);
        if (strcmp(command, "prune") == 0)
                return cmd_prune(&c);
        if (strcmp(command, "datagen") == 0)
                return cmd_datagen(&c);
        return cmd_run(&c);
}
