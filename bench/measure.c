/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-measure: the cost of what the sidecar measures, through the same code it runs.
 *
 *   bench-measure (--sqlite PATH | --postgres-url-file FILE) [--runs N]
 *
 * Times, N times each: the cheap database check the controller does every poll
 * (store_measure with per_table=false: files, page_count, freelist_count), the volume check
 * (volume_measure of the database's directory: statfs, or a walk when it is not its own
 * filesystem), and the full per-table scan (store_measure with per_table=true: dbstat on SQLite,
 * pg_total_relation_size and the statistics views on PostgreSQL). Prints one JSON object with
 * every timing in milliseconds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/errbuf.h"
#include "store/store.h"
#include "volume/volume.h"

#define RUNS_MAX 100

static double now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static char *read_line(const char *path)
{
        static char line[4096];
        FILE *f = fopen(path, "r");

        if (!f)
                return NULL;
        if (!fgets(line, sizeof(line), f)) {
                (void)fclose(f);
                return NULL;
        }
        (void)fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        return line;
}

static void print_list(const char *name, const double *v, int n, int last)
{
        (void)printf("\"%s\":[", name);
        for (int i = 0; i < n; i++)
                (void)printf("%s%.3f", i ? "," : "", v[i]);
        (void)printf("]%s", last ? "" : ",");
}

int main(int argc, char **argv)
{
        static struct store_usage u; /* large: keep it off the stack */
        struct store_config cfg = { .type = STORE_SQLITE, .read_only = true };
        double cheap[RUNS_MAX], full[RUNS_MAX], vol[RUNS_MAX];
        struct volume_usage vu = { 0 };
        struct store *s = NULL;
        struct errbuf err;
        char dir[4096] = ".";
        int runs = 5;
        double t0;
        int rc;

        errbuf_clear(&err);
        for (int a = 1; a + 1 < argc; a += 2) {
                if (!strcmp(argv[a], "--sqlite")) {
                        cfg.type = STORE_SQLITE;
                        cfg.sqlite_path = argv[a + 1];
                } else if (!strcmp(argv[a], "--postgres-url-file")) {
                        cfg.type = STORE_POSTGRES;
                        cfg.postgres_url = read_line(argv[a + 1]);
                } else if (!strcmp(argv[a], "--runs")) {
                        runs = (int)strtol(argv[a + 1], NULL, 10);
                } else {
                        break;
                }
        }
        if ((!cfg.sqlite_path && !cfg.postgres_url) || runs < 1 || runs > RUNS_MAX) {
                (void)fprintf(stderr, "usage: bench-measure (--sqlite PATH | --postgres-url-file "
                                      "FILE) [--runs 1..100]\n");
                return 2;
        }
        t0 = now_ms();
        rc = store_open(&cfg, &s, &err);
        if (rc < 0) {
                (void)fprintf(stderr, "bench-measure: open: %s\n", errbuf_msg(&err));
                return 1;
        }
        (void)printf("{\"open_ms\":%.3f,", now_ms() - t0);
        if (cfg.sqlite_path)
                volume_dir_of(cfg.sqlite_path, dir, sizeof(dir));
        for (int i = 0; i < runs; i++) {
                t0 = now_ms();
                rc = store_measure(s, false, &u, &err);
                cheap[i] = now_ms() - t0;
                if (rc < 0)
                        goto fail;
                vol[i] = 0;
                if (!cfg.sqlite_path)
                        continue; /* PostgreSQL: no volume of ours to poll */
                t0 = now_ms();
                rc = volume_measure(dir, 0, 0, u.free_bytes, &vu, &err);
                vol[i] = now_ms() - t0;
                if (rc < 0)
                        goto fail;
        }
        for (int i = 0; i < runs; i++) {
                t0 = now_ms();
                rc = store_measure(s, true, &u, &err);
                full[i] = now_ms() - t0;
                if (rc < 0)
                        goto fail;
        }
        print_list("cheap_ms", cheap, runs, 0);
        print_list("volume_ms", vol, cfg.sqlite_path ? runs : 0, 0);
        print_list("per_table_ms", full, runs, 0);
        (void)printf(
                "\"db_bytes\":%lld,\"tables\":%zu,\"tables_exact\":%s,\"own_filesystem\":%s}\n",
                (long long)u.db_bytes, u.n_tables, u.tables_exact ? "true" : "false",
                vu.own_filesystem ? "true" : "false");
        store_close(s);
        return 0;
fail:
        (void)fprintf(stderr, "bench-measure: %s\n", errbuf_msg(&err));
        store_close(s);
        return 1;
}
