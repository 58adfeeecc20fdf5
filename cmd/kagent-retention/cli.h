/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CMD_CLI_H
#define CMD_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct httpd;
struct httpd_health;
struct krmetrics;
struct prune_result;
struct store_usage;

/* Exit codes of every command. */
#define EXIT_OK    0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

enum output_format {
        OUTPUT_TEXT = 0,
        OUTPUT_JSON,
};

/* The effective configuration: defaults < environment < flags (see config.c). */
struct config {
        const char *database_type; /* sqlite | postgres */
        const char *sqlite_path;   /* default ./kagent.db */
        const char *postgres_url;  /* never logged */
        const char *postgres_url_file;
        const char *policy_file;
        const char *output; /* text | json */
        const char *log_level;
        const char *log_format;
        int64_t busy_timeout_ms;
        int64_t volume_poll_ms;
        int64_t reserve_bytes;
        int64_t volume_limit_bytes;
        const char *policy_name; /* the RetentionPolicy to reconcile (Kubernetes mode) */
        const char *ns;          /* its namespace; NULL: $POD_NAMESPACE or the kubeconfig's */
        const char *kubeconfig;
        const char *context;
        bool leader_elect;
        const char *lease_name;
        const char *metrics_address; /* --metrics-bind-address, "0" off */
        const char *health_address;  /* --health-probe-bind-address, "0" off */
        const char *now;             /* evaluate ages as of this instant (RFC 3339 or epoch ms) */
        bool dry_run;
        bool once;
        /* datagen */
        int64_t sessions, days, seed, size_bytes, events_per_session;
        const char *layout;
        bool help;
};

/* Parse flags and environment for 'command' (argv after the command name). Returns 0, or
 * EXIT_USAGE after printing the problem to stderr. */
int config_load(const char *command, int argc, char **argv, struct config *out);
/* Parse --now: epoch milliseconds or RFC 3339 UTC ("2026-01-02T03:04:05Z"). 0 or -EINVAL. */
int config_parse_now(const char *s, int64_t *out_ms);
/* Print the flags a command accepts. */
void config_usage(const char *command);
/* Store settings from the configuration; the URL file is read here. Returns 0 or EXIT_USAGE. */
int config_store(const struct config *c, struct store_config *out, char **url_owned);

/* The metrics and health endpoints of `run` (serve.c). */
struct serving {
        struct krmetrics *metrics;
        struct httpd_health *health;
        struct httpd *servers[2];
        int n;
};

/* Start the servers per the configuration. Returns 0, EXIT_USAGE for a bad address, or
 * EXIT_FAIL when a server cannot start (the problem is printed). */
int serving_start(const struct config *c, struct serving *s);
void serving_stop(struct serving *s);

void output_prune(const struct prune_result *r, enum output_format f, bool dry_run);
void output_report(const struct store_info *info, const struct store_usage *u, const char *path,
                   enum output_format f);

#endif
