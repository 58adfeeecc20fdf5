/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A process that writes to a kagent PostgreSQL database the way kagent's controller does
 * (sqlc/pgx era): each turn one transaction inserts an event, upserts the session (bumping
 * updated_at, clearing deleted_at) and upserts the session's task; every few turns the ADK's
 * "reload all events of the session" read. Most turns go to a few live sessions; every Nth
 * goes back to one of the oldest sessions, as a user returning to an old chat (those are the
 * rows a pruner is deleting). It records the latency of every operation and every error, and
 * prints one JSON summary line when it stops (SIGTERM/SIGINT or --duration-ms).
 *
 *   kagent-pg-writer --url-file FILE [--interval-ms 20] [--duration-ms 0] [--live 4]
 *                    [--old-every 10] [--read-every 5] [--payload 2048] [--ready FILE]
 * Exit code 0 when no operation failed, 1 otherwise, 2 on bad arguments or no connection.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#define OLD_MAX 512

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

struct stats {
        int64_t *lat;
        size_t n, cap;
        long errors;
        char last_error[200];
};

static void record(struct stats *s, int64_t us)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 1024;
                int64_t *v = realloc(s->lat, cap * sizeof(*v));

                if (!v)
                        return;
                s->lat = v;
                s->cap = cap;
        }
        s->lat[s->n++] = us;
}

static double pct_ms(struct stats *s, double p)
{
        size_t i;

        if (s->n == 0)
                return 0;
        qsort(s->lat, s->n, sizeof(s->lat[0]), cmp_i64);
        i = (size_t)(p * (double)(s->n - 1) + 0.5);
        return (double)s->lat[i] / 1000.0;
}

static void failed(struct stats *s, PGconn *c, const PGresult *r)
{
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        char *nl;

        s->errors++;
        (void)snprintf(s->last_error, sizeof(s->last_error), "%s %s", state ? state : "-----",
                       PQerrorMessage(c));
        nl = strchr(s->last_error, '\n');
        if (nl)
                *nl = '\0';
        if (PQtransactionStatus(c) != PQTRANS_IDLE)
                PQclear(PQexec(c, "ROLLBACK"));
}

/* Run one statement; 0 or -1 (the failure recorded). */
static int run(PGconn *c, struct stats *s, const char *sql, int n, const char *const *v)
{
        PGresult *r = PQexecParams(c, sql, n, NULL, v, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(r);

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                failed(s, c, r);
                PQclear(r);
                return -1;
        }
        PQclear(r);
        return 0;
}

/* One turn: the event, the session bump and the task upsert in one transaction. */
static int turn(PGconn *c, struct stats *w, const char *sid, const char *uid, long seq,
                const char *payload)
{
        char eid[96];
        char tid[160];
        char task[512];
        const char *ev[] = { eid, sid, uid, payload };
        const char *ses[] = { sid, uid };
        const char *tk[] = { tid, task, sid };

        (void)snprintf(eid, sizeof(eid), "w-%d-%ld", (int)getpid(), seq);
        (void)snprintf(tid, sizeof(tid), "task-%s-%s", sid, uid);
        (void)snprintf(task, sizeof(task),
                       "{\"id\":\"%s\",\"contextId\":\"%s\",\"status\":{\"state\":\"working\"},"
                       "\"kind\":\"task\"}",
                       tid, sid);
        if (run(c, w, "BEGIN", 0, NULL) < 0 ||
            run(c, w,
                "INSERT INTO event(id, session_id, user_id, created_at, updated_at, data) "
                "VALUES ($1, $2, $3, now(), now(), $4)",
                4, ev) < 0 ||
            run(c, w,
                "INSERT INTO session(id, user_id, name, created_at, updated_at) VALUES ($1, $2, "
                "'chat', now(), now()) ON CONFLICT (id, user_id) DO UPDATE SET "
                "updated_at = now(), deleted_at = NULL",
                2, ses) < 0 ||
            run(c, w,
                "INSERT INTO task(id, created_at, updated_at, data, session_id) VALUES ($1, "
                "now(), now(), $2, $3) ON CONFLICT (id) DO UPDATE SET data = excluded.data, "
                "updated_at = now()",
                3, tk) < 0 ||
            run(c, w, "COMMIT", 0, NULL) < 0)
                return -1;
        return 0;
}

struct options {
        const char *url_file;
        const char *ready;
        long interval_ms;
        long duration_ms;
        long live;
        long old_every;
        long read_every;
        long payload_size;
};

static int parse_args(int argc, char **argv, struct options *o)
{
        for (int a = 1; a + 1 < argc; a += 2) {
                const char *name = argv[a];
                const char *v = argv[a + 1];
                long n = strtol(v, NULL, 10);

                if (!strcmp(name, "--url-file"))
                        o->url_file = v;
                else if (!strcmp(name, "--ready"))
                        o->ready = v;
                else if (!strcmp(name, "--interval-ms"))
                        o->interval_ms = n;
                else if (!strcmp(name, "--duration-ms"))
                        o->duration_ms = n;
                else if (!strcmp(name, "--live"))
                        o->live = n;
                else if (!strcmp(name, "--old-every"))
                        o->old_every = n;
                else if (!strcmp(name, "--read-every"))
                        o->read_every = n;
                else if (!strcmp(name, "--payload"))
                        o->payload_size = n;
                else
                        return -1;
        }
        return argc % 2 == 1 && o->url_file && o->live > 0 && o->payload_size > 0 ? 0 : -1;
}

static PGconn *connect_file(const char *path)
{
        char url[2048] = "";
        FILE *f = fopen(path, "re");
        PGconn *c;

        if (!f || !fgets(url, sizeof(url), f)) {
                if (f)
                        (void)fclose(f);
                return NULL;
        }
        (void)fclose(f);
        url[strcspn(url, "\r\n")] = '\0';
        c = PQconnectdb(url);
        if (PQstatus(c) != CONNECTION_OK) {
                (void)fprintf(stderr, "kagent-pg-writer: %s", PQerrorMessage(c));
                PQfinish(c);
                return NULL;
        }
        PQclear(PQexec(c, "SET application_name = 'kagent-pg-writer'"));
        return c;
}

/* The oldest sessions at start: where "returning users" write. */
static int load_old(PGconn *c, char old[][2][128], int max)
{
        PGresult *r = PQexec(c, "SELECT id, user_id FROM session ORDER BY updated_at LIMIT 512");
        int n = 0;

        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
                PQclear(r);
                return -1;
        }
        for (int i = 0; i < PQntuples(r) && n < max; i++, n++) {
                (void)snprintf(old[n][0], sizeof(old[n][0]), "%s", PQgetvalue(r, i, 0));
                (void)snprintf(old[n][1], sizeof(old[n][1]), "%s", PQgetvalue(r, i, 1));
        }
        PQclear(r);
        return n;
}

static void sleep_until(int64_t next_us)
{
        while (!stop && now_us() < next_us) {
                struct timespec ts = { 0, 200000 };

                (void)nanosleep(&ts, NULL);
        }
}

static void print_summary(struct stats *w, struct stats *r, long old_writes, int64_t elapsed_us)
{
        printf("{\"writes\": %zu, \"errors\": %ld, \"old_session_writes\": %ld, "
               "\"write_p50_ms\": %.2f, \"write_p99_ms\": %.2f, \"write_max_ms\": %.2f, "
               "\"reads\": %zu, \"read_errors\": %ld, \"read_p99_ms\": %.2f, "
               "\"seconds\": %.1f, \"last_error\": \"%s\"}\n",
               w->n, w->errors, old_writes, pct_ms(w, 0.5), pct_ms(w, 0.99), pct_ms(w, 1.0), r->n,
               r->errors, pct_ms(r, 0.99), (double)elapsed_us / 1e6,
               w->errors ? w->last_error : (r->errors ? r->last_error : ""));
}

int main(int argc, char **argv)
{
        struct options o = {
                .interval_ms = 20, .live = 4, .old_every = 10, .read_every = 5, .payload_size = 2048
        };
        static char old[OLD_MAX][2][128];
        struct stats w = { 0 };
        struct stats r = { 0 };
        long old_writes = 0;
        char *payload;
        int64_t start;
        int n_old;
        PGconn *c;

        if (parse_args(argc, argv, &o) < 0) {
                (void)fprintf(stderr, "usage: kagent-pg-writer --url-file FILE [--interval-ms N] "
                                      "[--duration-ms N] [--live N] [--old-every N] "
                                      "[--read-every N] [--payload BYTES] [--ready FILE]\n");
                return 2;
        }
        (void)signal(SIGTERM, on_signal);
        (void)signal(SIGINT, on_signal);
        c = connect_file(o.url_file);
        if (!c)
                return 2;
        n_old = load_old(c, old, OLD_MAX);
        payload = n_old < 0 ? NULL : malloc((size_t)o.payload_size + 64);
        if (!payload) {
                PQfinish(c);
                return 2;
        }
        {
                int off = snprintf(payload, 64, "{\"author\":\"agent\",\"content\":{\"text\":\"");

                memset(payload + off, 'x', (size_t)o.payload_size);
                memcpy(payload + off + o.payload_size, "\"}}", 4);
        }
        if (o.ready) {
                FILE *f = fopen(o.ready, "we");

                if (f)
                        (void)fclose(f);
        }
        start = now_us();
        for (long i = 0; !stop; i++) {
                bool back = o.old_every > 0 && n_old > 0 && i % o.old_every == o.old_every - 1;
                char live_sid[64];
                const char *sid = live_sid;
                const char *uid = "writer";
                int64_t t0;

                if (o.duration_ms > 0 && now_us() - start > o.duration_ms * 1000)
                        break;
                (void)snprintf(live_sid, sizeof(live_sid), "live-%d-%ld", (int)getpid(),
                               i % o.live);
                if (back) {
                        sid = old[(i / o.old_every) % n_old][0];
                        uid = old[(i / o.old_every) % n_old][1];
                        old_writes++;
                }
                t0 = now_us();
                if (turn(c, &w, sid, uid, i, payload) == 0)
                        record(&w, now_us() - t0);
                if (o.read_every > 0 && i % o.read_every == 0) {
                        const char *v[] = { sid, uid };

                        t0 = now_us();
                        if (run(c, &r,
                                "SELECT id, data FROM event WHERE session_id = $1 AND "
                                "user_id = $2 AND deleted_at IS NULL ORDER BY created_at",
                                2, v) == 0)
                                record(&r, now_us() - t0);
                }
                sleep_until(start + (i + 1) * o.interval_ms * 1000);
        }
        print_summary(&w, &r, old_writes, now_us() - start);
        PQfinish(c);
        free(payload);
        free(w.lat);
        free(r.lat);
        return w.errors || r.errors ? 1 : 0;
}
