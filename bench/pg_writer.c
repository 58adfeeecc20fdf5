/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-pg-writer: kagent's chat traffic on PostgreSQL for the writer-stall benchmark. Every
 * interval, one transaction like kagent's on a new ADK event: upsert the event, bump the
 * session's updated_at. lock_timeout and statement_timeout are 5000 ms, the PostgreSQL
 * counterpart of SQLite's busy_timeout: a write that waits longer fails and is counted. Prints
 * one JSON summary line (the fields of tests/tools/kagent-writer) on SIGTERM/SIGINT. --trace
 * writes a line per write: its start (ms since the first), its latency, the INSERT's, the
 * UPDATE's and the COMMIT's (ms), and 1 if it succeeded, to tell what a slow write waited in;
 * its first line, "# start UNIX-MS", dates the first write to set beside the server's log.
 *
 *   bench-pg-writer --url-file FILE [--interval-ms 20] [--payload 2048] [--ready FILE]
 *                   [--trace FILE]
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

static int64_t now_us(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b)
{
        int64_t x = *(const int64_t *)a;
        int64_t y = *(const int64_t *)b;

        return x < y ? -1 : x > y;
}

static int exec_ok(PGconn *c, const char *sql, int n, const char *const *v)
{
        PGresult *r = n > 0 ? PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0) : PQexec(c, sql);
        ExecStatusType st = PQresultStatus(r);
        int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

        PQclear(r);
        return ok;
}

static char *read_url(const char *path)
{
        static char line[4096];
        FILE *f = fopen(path, "r");

        if (!f || !fgets(line, sizeof(line), f)) {
                if (f)
                        (void)fclose(f);
                return NULL;
        }
        (void)fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        return line;
}

int main(int argc, char **argv)
{
        const char *url_file = NULL, *ready = NULL, *trace = NULL;
        FILE *tf = NULL;
        long interval_ms = 20, payload_size = 2048;
        long errors = 0, locked = 0;
        char last_error[200] = "";
        int64_t *lat = NULL;
        size_t n = 0, cap = 0;
        char *payload;
        int64_t start;
        PGconn *c;

        for (int a = 1; a + 1 < argc; a += 2) {
                if (!strcmp(argv[a], "--url-file"))
                        url_file = argv[a + 1];
                else if (!strcmp(argv[a], "--interval-ms"))
                        interval_ms = strtol(argv[a + 1], NULL, 10);
                else if (!strcmp(argv[a], "--payload"))
                        payload_size = strtol(argv[a + 1], NULL, 10);
                else if (!strcmp(argv[a], "--ready"))
                        ready = argv[a + 1];
                else if (!strcmp(argv[a], "--trace"))
                        trace = argv[a + 1];
        }
        if (!url_file || !read_url(url_file) || interval_ms < 1 || payload_size < 1) {
                (void)fprintf(stderr, "usage: bench-pg-writer --url-file FILE [--interval-ms N] "
                                      "[--payload BYTES] [--ready FILE] [--trace FILE]\n");
                return 2;
        }
        (void)signal(SIGTERM, on_signal);
        (void)signal(SIGINT, on_signal);
        c = PQconnectdb(read_url(url_file));
        if (PQstatus(c) != CONNECTION_OK) {
                (void)fprintf(stderr, "bench-pg-writer: %s", PQerrorMessage(c));
                PQfinish(c);
                return 1;
        }
        payload = malloc((size_t)payload_size + 64);
        if (!payload)
                return 1;
        {
                int off = snprintf(payload, 64, "{\"author\":\"agent\",\"content\":{\"text\":\"");

                memset(payload + off, 'x', (size_t)payload_size);
                memcpy(payload + off + payload_size, "\"}}", 4);
        }
        if (!exec_ok(c,
                     "SET application_name = 'bench-pg-writer'; SET lock_timeout = 5000; "
                     "SET statement_timeout = 5000",
                     0, NULL) ||
            !exec_ok(c,
                     "INSERT INTO session(id, user_id, name, created_at, updated_at) VALUES "
                     "('live-session', 'admin@kagent.dev', 'live', now(), now()) ON CONFLICT "
                     "(id, user_id) DO UPDATE SET updated_at = now()",
                     0, NULL)) {
                (void)fprintf(stderr, "bench-pg-writer: setup: %s", PQerrorMessage(c));
                PQfinish(c);
                return 1;
        }
        if (trace && !(tf = fopen(trace, "w"))) {
                perror(trace);
                PQfinish(c);
                return 1;
        }
        if (ready) {
                FILE *f = fopen(ready, "w");

                if (f)
                        (void)fclose(f);
        }
        start = now_us();
        if (tf) {
                struct timespec wall;

                (void)clock_gettime(CLOCK_REALTIME, &wall);
                (void)fprintf(tf, "# start %lld\n",
                              (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
        }
        for (long i = 0; !stop; i++) {
                int64_t next = start + (int64_t)i * interval_ms * 1000;
                char id[64];
                const char *v[2] = { id, payload };
                int64_t t0, t1 = 0, t2 = 0, t3 = 0, t4;
                int ok;

                while (!stop && now_us() < next) {
                        struct timespec ts = { 0, 200000 };

                        (void)nanosleep(&ts, NULL);
                }
                if (stop)
                        break;
                (void)snprintf(id, sizeof(id), "w-%d-%ld", (int)getpid(), i);
                t0 = now_us();
                ok = exec_ok(c, "BEGIN", 0, NULL) && (t1 = now_us()) &&
                     exec_ok(c,
                             "INSERT INTO event(id, user_id, session_id, created_at, updated_at, "
                             "data) VALUES ($1, 'admin@kagent.dev', 'live-session', now(), now(), "
                             "$2) ON CONFLICT (id, user_id) DO UPDATE SET data = excluded.data, "
                             "updated_at = excluded.updated_at",
                             2, v) &&
                     (t2 = now_us()) &&
                     exec_ok(c,
                             "UPDATE session SET updated_at = now() WHERE id = 'live-session' AND "
                             "user_id = 'admin@kagent.dev'",
                             0, NULL) &&
                     (t3 = now_us()) && exec_ok(c, "COMMIT", 0, NULL);
                /* The write's end, before the trace line: a slow trace file is not kagent's. */
                t4 = now_us();
                if (tf) {
                        (void)fprintf(tf, "%.3f %.3f %.3f %.3f %.3f %d\n",
                                      (double)(t0 - start) / 1e3, (double)(t4 - t0) / 1e3,
                                      t2 ? (double)(t2 - t1) / 1e3 : 0.0,
                                      t3 ? (double)(t3 - t2) / 1e3 : 0.0,
                                      t3 ? (double)(t4 - t3) / 1e3 : 0.0, ok);
                }
                if (ok) {
                        if (n == cap) {
                                size_t nc = cap ? cap * 2 : 1024;
                                int64_t *nv = realloc(lat, nc * sizeof(*nv));

                                if (!nv)
                                        break;
                                lat = nv;
                                cap = nc;
                        }
                        lat[n++] = t4 - t0;
                } else {
                        const char *m = PQerrorMessage(c);

                        errors++;
                        if (strstr(m, "timeout") || strstr(m, "lock"))
                                locked++;
                        (void)snprintf(last_error, sizeof(last_error), "%s", m);
                        last_error[strcspn(last_error, "\"\\\r\n")] = '\0';
                        PQclear(PQexec(c, "ROLLBACK"));
                }
        }
        if (n > 0)
                qsort(lat, n, sizeof(*lat), cmp_i64);
#define PCT(p) (n ? (double)lat[(size_t)((double)(n - 1) * (p))] / 1000.0 : 0.0)
        (void)printf("{\"writes\":%zu,\"write_errors\":%ld,\"locked_errors\":%ld,"
                     "\"write_p50_ms\":%.2f,\"write_p99_ms\":%.2f,\"write_max_ms\":%.2f,"
                     "\"last_error\":\"%s\"}\n",
                     n, errors, locked, PCT(0.5), PCT(0.99), PCT(1.0), last_error);
#undef PCT
        (void)fflush(stdout);
        PQfinish(c);
        if (tf)
                (void)fclose(tf);
        free(lat);
        free(payload);
        return errors > 0 ? 1 : 0;
}
