/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command-line configuration: one table of options (flag, environment variable, type, default,
 * range, commands), applied as defaults < environment < flags and validated at once. Database
 * options use kagent's own names so the sidecar can share kagent's ConfigMap.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/str.h"
#include "cli.h"

enum opt_type {
        OPT_STR = 0,
        OPT_INT,
        OPT_BOOL,
};

/* Commands an option applies to, as a bit mask. */
#define C_RUN     1u
#define C_PRUNE   2u
#define C_REPORT  4u
#define C_DATAGEN 8u
#define C_DB      (C_RUN | C_PRUNE | C_REPORT)
#define C_ALL     (C_RUN | C_PRUNE | C_REPORT | C_DATAGEN)

struct opt {
        const char *flag;
        const char *env; /* NULL: no environment variable */
        enum opt_type type;
        unsigned commands;
        const char *def;
        int64_t min, max;
        size_t offset;
        const char *help;
};

#define OFF(f) offsetof(struct config, f)

static const struct opt opts[] = {
        { "database-type", "DATABASE_TYPE", OPT_STR, C_DB, "sqlite", 0, 0, OFF(database_type),
          "sqlite | postgres" },
        { "sqlite-database-path", "SQLITE_DATABASE_PATH", OPT_STR, C_ALL, "./kagent.db", 0, 0,
          OFF(sqlite_path), "SQLite database file (kagent's own setting)" },
        { "postgres-database-url", "POSTGRES_DATABASE_URL", OPT_STR, C_DB, NULL, 0, 0,
          OFF(postgres_url), "PostgreSQL URL (never logged)" },
        { "postgres-database-url-file", "POSTGRES_DATABASE_URL_FILE", OPT_STR, C_DB, NULL, 0, 0,
          OFF(postgres_url_file), "file holding the PostgreSQL URL" },
        { "policy", "RETENTION_POLICY_FILE", OPT_STR, C_RUN | C_PRUNE, NULL, 0, 0, OFF(policy_file),
          "RetentionPolicy YAML or JSON file" },
        { "dry-run", NULL, OPT_BOOL, C_PRUNE, "false", 0, 0, OFF(dry_run),
          "compute what would be deleted, delete nothing" },
        { "now", NULL, OPT_STR, C_PRUNE | C_DATAGEN, NULL, 0, 0, OFF(now),
          "evaluate ages as of this instant: RFC 3339 UTC or epoch ms (default: the clock)" },
        { "once", NULL, OPT_BOOL, C_RUN, "false", 0, 0, OFF(once),
          "run one prune cycle, then exit" },
        { "output", NULL, OPT_STR, C_PRUNE | C_REPORT, "text", 0, 0, OFF(output),
          "text | json (short: -o)" },
        { "busy-timeout", "RETENTION_BUSY_TIMEOUT_MS", OPT_INT, C_DB, "5000", 100, 60000,
          OFF(busy_timeout_ms), "SQLite busy timeout in milliseconds" },
        { "policy-name", "RETENTION_POLICY_NAME", OPT_STR, C_RUN, "default", 0, 0, OFF(policy_name),
          "the RetentionPolicy to reconcile (without --policy)" },
        { "namespace", NULL, OPT_STR, C_RUN, NULL, 0, 0, OFF(ns),
          "its namespace (default: $POD_NAMESPACE, else the kubeconfig's)" },
        { "kubeconfig", NULL, OPT_STR, C_RUN, NULL, 0, 0, OFF(kubeconfig),
          "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)" },
        { "context", NULL, OPT_STR, C_RUN, NULL, 0, 0, OFF(context),
          "kubeconfig context (default: current-context)" },
        { "leader-elect", "RETENTION_LEADER_ELECT", OPT_BOOL, C_RUN, "false", 0, 0,
          OFF(leader_elect), "only the holder of a Lease prunes (several replicas)" },
        { "lease-name", NULL, OPT_STR, C_RUN, NULL, 0, 0, OFF(lease_name),
          "the Lease's name (default: kagent-retention-<policy-name>)" },
        { "metrics-bind-address", "RETENTION_METRICS_BIND_ADDRESS", OPT_STR, C_RUN, ":9464", 0, 0,
          OFF(metrics_address), "serve /metrics here: :PORT, HOST:PORT, [::1]:PORT, 0 off" },
        { "health-probe-bind-address", "RETENTION_HEALTH_PROBE_BIND_ADDRESS", OPT_STR, C_RUN,
          ":9465", 0, 0, OFF(health_address), "serve /healthz and /readyz here (0: off)" },
        { "volume-poll-ms", "RETENTION_VOLUME_POLL_MS", OPT_INT, C_RUN, "2000", 100, 600000,
          OFF(volume_poll_ms), "measure the volume this often (milliseconds)" },
        { "reserve-bytes", "RETENTION_RESERVE_BYTES", OPT_INT, C_RUN, "8388608", 0,
          (int64_t)1 << 40, OFF(reserve_bytes),
          "reserve file kept on the volume for a full-volume rescue (0: none)" },
        { "volume-limit-bytes", "RETENTION_VOLUME_LIMIT_BYTES", OPT_INT, C_RUN, "0", 0, INT64_MAX,
          OFF(volume_limit_bytes),
          "the emptyDir sizeLimit when it is not discovered (spec.volume.sizeLimit wins)" },
        { "log-level", "LOG_LEVEL", OPT_STR, C_ALL, "info", 0, 0, OFF(log_level),
          "debug | info | warn | error" },
        { "log-format", "LOG_FORMAT", OPT_STR, C_ALL, "json", 0, 0, OFF(log_format),
          "json | text" },
        { "sessions", NULL, OPT_INT, C_DATAGEN, "200", 1, 10000000, OFF(sessions),
          "sessions to generate" },
        { "days", NULL, OPT_INT, C_DATAGEN, "30", 1, 3650, OFF(days), "days of history" },
        { "seed", NULL, OPT_INT, C_DATAGEN, "1", 0, INT64_MAX, OFF(seed), "random seed" },
        { "size", NULL, OPT_INT, C_DATAGEN, "0", 0, INT64_MAX, OFF(size_bytes),
          "grow the file to about this many bytes (0: off)" },
        { "events-per-session", NULL, OPT_INT, C_DATAGEN, "40", 1, 1000000, OFF(events_per_session),
          "mean events per session" },
        { "layout", NULL, OPT_STR, C_DATAGEN, "gorm", 0, 0, OFF(layout),
          "gorm (v0.6-v0.7.18) | turso (v0.7.19+) | v05" },
        { "help", NULL, OPT_BOOL, C_ALL, "false", 0, 0, OFF(help), "show this help" },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static unsigned command_bit(const char *command)
{
        if (strcmp(command, "run") == 0)
                return C_RUN;
        if (strcmp(command, "prune") == 0)
                return C_PRUNE;
        if (strcmp(command, "report") == 0)
                return C_REPORT;
        if (strcmp(command, "datagen") == 0)
                return C_DATAGEN;
        return 0;
}

static int set_value(const struct opt *o, const char *value, const char *source, struct config *c)
{
        char *base = (char *)c;

        switch (o->type) {
        case OPT_STR:
                *(const char **)(base + o->offset) = value;
                return 0;
        case OPT_BOOL:
                if (!value || strcmp(value, "true") == 0 || strcmp(value, "1") == 0) {
                        *(bool *)(base + o->offset) = true;
                        return 0;
                }
                if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0) {
                        *(bool *)(base + o->offset) = false;
                        return 0;
                }
                break;
        case OPT_INT: {
                int64_t v;

                if (str_to_i64(value, &v) == 0 && v >= o->min && v <= o->max) {
                        *(int64_t *)(base + o->offset) = v;
                        return 0;
                }
                (void)fprintf(stderr, "%s '%s': expected a whole number from %lld to %lld\n",
                              source, value, (long long)o->min, (long long)o->max);
                return EXIT_USAGE;
        }
        }
        (void)fprintf(stderr, "%s '%s': expected true or false\n", source, value);
        return EXIT_USAGE;
}

static int validate(const char *command, struct config *c)
{
        if (strcmp(c->database_type, "sqlite") != 0 && strcmp(c->database_type, "postgres") != 0) {
                (void)fprintf(stderr, "--database-type '%s': expected sqlite or postgres\n",
                              c->database_type);
                return EXIT_USAGE;
        }
        if (strcmp(c->output, "text") != 0 && strcmp(c->output, "json") != 0) {
                (void)fprintf(stderr, "--output '%s': expected text or json\n", c->output);
                return EXIT_USAGE;
        }
        if (strcmp(c->log_format, "text") != 0 && strcmp(c->log_format, "json") != 0) {
                (void)fprintf(stderr, "--log-format '%s': expected text or json\n", c->log_format);
                return EXIT_USAGE;
        }
        if (strcmp(c->log_level, "debug") != 0 && strcmp(c->log_level, "info") != 0 &&
            strcmp(c->log_level, "warn") != 0 && strcmp(c->log_level, "error") != 0) {
                (void)fprintf(stderr, "--log-level '%s': expected debug, info, warn or error\n",
                              c->log_level);
                return EXIT_USAGE;
        }
        if (strcmp(c->layout, "gorm") != 0 && strcmp(c->layout, "turso") != 0 &&
            strcmp(c->layout, "v05") != 0) {
                (void)fprintf(stderr, "--layout '%s': expected gorm, turso or v05\n", c->layout);
                return EXIT_USAGE;
        }
        if (c->now) {
                int64_t ms;

                if (config_parse_now(c->now, &ms) < 0) {
                        (void)fprintf(stderr,
                                      "--now '%s': expected RFC 3339 UTC "
                                      "(2026-01-02T03:04:05Z) or epoch milliseconds\n",
                                      c->now);
                        return EXIT_USAGE;
                }
        }
        if (strcmp(command, "prune") == 0 && !c->policy_file && !c->help) {
                (void)fprintf(stderr, "prune: --policy FILE is required\n");
                return EXIT_USAGE;
        }
        return 0;
}

/* Apply every option's default. */
static int apply_defaults(struct config *c)
{
        for (size_t i = 0; i < N_OPTS; i++) {
                const struct opt *o = &opts[i];
                int rc;

                if (o->def && (rc = set_value(o, o->def, "default", c)) != 0)
                        return rc;
        }
        return 0;
}

/*
 * Apply the environment variables of the options of the command 'bit', and list those options
 * in 'longopts' for getopt_long() (option i has value 1000 + i). Sets '*n' to the count.
 */
static int apply_environment(unsigned bit, struct config *c, struct option *longopts, size_t *n)
{
        *n = 0;
        for (size_t i = 0; i < N_OPTS; i++) {
                const struct opt *o = &opts[i];
                /* NOLINTNEXTLINE(concurrency-mt-unsafe): runs before any thread starts */
                const char *v = o->env ? getenv(o->env) : NULL;

                if ((o->commands & bit) && v && v[0]) {
                        char source[80];
                        int rc;

                        (void)snprintf(source, sizeof(source), "environment %s", o->env);
                        rc = set_value(o, v, source, c);
                        if (rc != 0)
                                return rc;
                }
                if (o->commands & bit) {
                        longopts[*n].name = o->flag;
                        longopts[*n].has_arg =
                                o->type == OPT_BOOL ? optional_argument : required_argument;
                        longopts[*n].val = 1000 + (int)i;
                        (*n)++;
                }
        }
        return 0;
}

/* Apply the command line flags (argv after the command name). */
static int apply_flags(const char *command, unsigned bit, int argc, char **argv,
                       const struct option *longopts, struct config *c)
{
        int rc;

        optind = 1;
        opterr = 0;
        for (;;) {
                int idx = 0;
                /* NOLINTNEXTLINE(concurrency-mt-unsafe): runs before any thread starts */
                int ch = getopt_long(argc, argv, bit & (C_PRUNE | C_REPORT) ? "+o:h" : "+h",
                                     longopts, &idx);

                if (ch == -1)
                        break;
                if (ch == 'h') {
                        c->help = true;
                        continue;
                }
                if (ch == 'o') {
                        c->output = optarg;
                        continue;
                }
                if (ch < 1000) {
                        (void)fprintf(stderr,
                                      "%s: unknown or incomplete option '%s' (see --help)\n",
                                      command, argv[optind - 1]);
                        return EXIT_USAGE;
                }
                {
                        const struct opt *o = &opts[ch - 1000];
                        char source[80];

                        (void)snprintf(source, sizeof(source), "--%s", o->flag);
                        if ((rc = set_value(o, optarg, source, c)) != 0)
                                return rc;
                }
        }
        if (optind < argc) {
                (void)fprintf(stderr, "%s: unexpected argument '%s'\n", command, argv[optind]);
                return EXIT_USAGE;
        }
        return 0;
}

int config_load(const char *command, int argc, char **argv, struct config *out)
{
        struct option longopts[N_OPTS + 1];
        unsigned bit = command_bit(command);
        struct config c;
        size_t n = 0;
        int rc;

        memset(&c, 0, sizeof(c));
        memset(longopts, 0, sizeof(longopts));
        rc = apply_defaults(&c);
        if (rc != 0)
                return rc;
        rc = apply_environment(bit, &c, longopts, &n);
        if (rc != 0)
                return rc;
        rc = apply_flags(command, bit, argc, argv, longopts, &c);
        if (rc != 0)
                return rc;
        rc = validate(command, &c);
        if (rc != 0)
                return rc;
        *out = c;
        return 0;
}

void config_usage(const char *command)
{
        unsigned bit = command_bit(command);

        (void)printf(
                "usage: kagent-retention %s [flags]\n\nflags (environment variable in brackets; "
                "flags beat environment beat defaults):\n",
                command);
        for (size_t i = 0; i < N_OPTS; i++) {
                const struct opt *o = &opts[i];
                char left[64];

                if (!(o->commands & bit))
                        continue;
                (void)snprintf(left, sizeof(left), "--%s%s", o->flag,
                               o->type == OPT_BOOL ? "" : " VALUE");
                (void)printf("  %-34s %s", left, o->help);
                if (o->def && o->type != OPT_BOOL)
                        (void)printf(" (default %s)", o->def);
                if (o->env)
                        (void)printf(" [%s]", o->env);
                (void)printf("\n");
        }
}

int config_parse_now(const char *s, int64_t *out_ms)
{
        struct tm tm;
        const char *end;
        uint64_t ms;

        if (str_to_u64(s, &ms) == 0 && ms <= (uint64_t)INT64_MAX) {
                *out_ms = (int64_t)ms;
                return 0;
        }
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end != '\0')
                return -EINVAL;
        *out_ms = (int64_t)timegm(&tm) * 1000;
        return 0;
}

/* Read a URL file: first line, trailing newline and spaces removed, at most 8 KiB. */
static int read_url_file(const char *path, char **out)
{
        char buf[8192];
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f) {
                (void)fprintf(stderr, "POSTGRES_DATABASE_URL_FILE '%s': cannot be read\n", path);
                return EXIT_USAGE;
        }
        n = fread(buf, 1, sizeof(buf) - 1, f);
        (void)fclose(f);
        buf[n] = '\0';
        n = strcspn(buf, "\r\n");
        while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
                n--;
        buf[n] = '\0';
        if (!buf[0]) {
                (void)fprintf(stderr, "POSTGRES_DATABASE_URL_FILE '%s': empty\n", path);
                return EXIT_USAGE;
        }
        *out = strdup(buf);
        return *out ? 0 : EXIT_FAIL;
}

int config_store(const struct config *c, struct store_config *out, char **url_owned)
{
        memset(out, 0, sizeof(*out));
        *url_owned = NULL;
        out->busy_timeout_ms = (int)c->busy_timeout_ms;
        if (strcmp(c->database_type, "postgres") == 0) {
                out->type = STORE_POSTGRES;
                out->postgres_url = c->postgres_url;
                if (!out->postgres_url && c->postgres_url_file) {
                        int rc = read_url_file(c->postgres_url_file, url_owned);

                        if (rc != 0)
                                return rc;
                        out->postgres_url = *url_owned;
                }
                if (!out->postgres_url) {
                        (void)fprintf(stderr,
                                      "postgres: set --postgres-database-url, "
                                      "POSTGRES_DATABASE_URL or POSTGRES_DATABASE_URL_FILE\n");
                        return EXIT_USAGE;
                }
                return 0;
        }
        out->type = STORE_SQLITE;
        out->sqlite_path = c->sqlite_path;
        return 0;
}
