/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A process that writes to a kagent SQLite database the way kagent's GORM-era controller does:
 * its own connection, journal_mode untouched (DELETE), busy_timeout 5000 ms, every write an
 * upsert inside BEGIN ... COMMIT, plus the ADK's "reload all events of the session" read. It
 * records the latency of every operation and every error, and prints one JSON summary line
 * when it stops (SIGTERM/SIGINT or --duration-ms).
 *
 *   kagent-writer --db PATH [--interval-ms 20] [--duration-ms 0] [--session ID] [--user U]
 *                 [--read-every 5] [--payload 2048] [--ready FILE]
 *                 [--burst-until-full] [--payload-after 65536]
 *
 * --burst-until-full writes back to back until the first SQLITE_FULL, then continues at
 * --interval-ms with --payload-after bytes per event: a burst that fills the volume, then
 * ordinary traffic that must succeed again once the volume is relieved.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

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

static void go_time(char *out, size_t size)
{
        struct timespec ts;
        struct tm tm;
        char base[32];

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        (void)gmtime_r(&ts.tv_sec, &tm);
        (void)strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
        (void)snprintf(out, size, "%s.%09ld+00:00", base, ts.tv_nsec);
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
        long errors, locked, full;
        int64_t first_error_us, last_error_us; /* since start; -1 none */
        long ok_after_last_error;
        char last_error[200];
};

static int64_t start_us;

static void record(struct stats *s, int64_t us)
{
        s->ok_after_last_error++;
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

static void failed(struct stats *s, sqlite3 *db, int rc)
{
        s->errors++;
        s->last_error_us = now_us() - start_us;
        if (s->first_error_us < 0)
                s->first_error_us = s->last_error_us;
        s->ok_after_last_error = 0;
        if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
                s->locked++;
        if ((rc & 0xff) == SQLITE_FULL)
                s->full++;
        (void)snprintf(s->last_error, sizeof(s->last_error), "%s", sqlite3_errmsg(db));
        if (!sqlite3_get_autocommit(db))
                sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* One GORM-style write: BEGIN; upsert; COMMIT. Returns the SQLite code. */
static int write_one(sqlite3 *db, sqlite3_stmt *ins, const char *id, const char *sid,
                     const char *user, const char *payload)
{
        char ts[64];
        int rc;

        go_time(ts, sizeof(ts));
        rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return rc;
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 2, sid, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, ts, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 5, payload, -1, SQLITE_STATIC);
        rc = sqlite3_step(ins);
        sqlite3_reset(ins);
        if (rc != SQLITE_DONE)
                return rc;
        return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

static int read_all(sqlite3_stmt *sel)
{
        int rc;

        while ((rc = sqlite3_step(sel)) == SQLITE_ROW)
                ;
        sqlite3_reset(sel);
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

struct options {
        const char *path;
        const char *sid;
        const char *user;
        const char *ready;
        long interval_ms;
        long duration_ms;
        long read_every;
        long payload_size;
        long payload_after; /* with burst: event size once the volume was full */
        int burst;          /* write back to back until the first SQLITE_FULL */
};

static int parse_args(int argc, char **argv, struct options *o)
{
        for (int a = 1; a < argc; a++) {
                const char *name = argv[a];
                const char *v;

                if (!strcmp(name, "--burst-until-full")) {
                        o->burst = 1;
                        continue;
                }
                if (a + 1 >= argc)
                        return -1;
                v = argv[++a]; /* every other option takes a value */
                if (!strcmp(name, "--db"))
                        o->path = v;
                else if (!strcmp(name, "--interval-ms"))
                        o->interval_ms = strtol(v, NULL, 10);
                else if (!strcmp(name, "--duration-ms"))
                        o->duration_ms = strtol(v, NULL, 10);
                else if (!strcmp(name, "--session"))
                        o->sid = v;
                else if (!strcmp(name, "--user"))
                        o->user = v;
                else if (!strcmp(name, "--read-every"))
                        o->read_every = strtol(v, NULL, 10);
                else if (!strcmp(name, "--payload"))
                        o->payload_size = strtol(v, NULL, 10);
                else if (!strcmp(name, "--payload-after"))
                        o->payload_after = strtol(v, NULL, 10);
                else if (!strcmp(name, "--ready"))
                        o->ready = v;
                else
                        return -1;
        }
        return 0;
}

/* An ADK event body whose text part is 'size' bytes of 'x'. */
static char *make_payload(long size)
{
        char *payload = malloc((size_t)size + 128);
        int off;

        if (!payload)
                return NULL;
        off = snprintf(payload, 64,
                       "{\"author\":\"agent\",\"content\":{\"parts\":"
                       "[{\"text\":\"");
        memset(payload + off, 'x', (size_t)size);
        memcpy(payload + off + size, "\"}]}}", 6);
        return payload;
}

static int prepare_all(sqlite3 *db, sqlite3_stmt **ins, sqlite3_stmt **sel, sqlite3_stmt **ses)
{
        if (sqlite3_prepare_v2(db,
                               "INSERT INTO event(id, session_id, user_id, created_at, "
                               "updated_at, deleted_at, data) VALUES (?1, ?2, ?3, ?4, ?4, NULL, "
                               "?5) ON CONFLICT(id, user_id) DO UPDATE SET session_id = "
                               "excluded.session_id, updated_at = excluded.updated_at, "
                               "deleted_at = NULL, data = excluded.data",
                               -1, ins, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT id, data FROM event WHERE session_id = ?1 AND user_id = "
                               "?2 AND deleted_at IS NULL ORDER BY created_at ASC",
                               -1, sel, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "INSERT INTO session(id, user_id, created_at, updated_at) VALUES "
                               "(?1, ?2, ?3, ?3) ON CONFLICT(id, user_id) DO UPDATE SET "
                               "updated_at = excluded.updated_at, deleted_at = NULL",
                               -1, ses, NULL) != SQLITE_OK)
                return -1;
        return 0;
}

/* Upsert the session row the events belong to, as kagent does before its first event. */
static void upsert_session(sqlite3 *db, sqlite3_stmt *ses, const struct options *o, struct stats *w)
{
        char ts[64];

        go_time(ts, sizeof(ts));
        (void)sqlite3_bind_text(ses, 1, o->sid, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(ses, 2, o->user, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(ses, 3, ts, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(ses) != SQLITE_DONE)
                failed(w, db, sqlite3_errcode(db));
        (void)sqlite3_reset(ses);
}

/* Sleep in short steps until the monotonic time 'next_us' or a stop request. */
static void sleep_until(int64_t next_us)
{
        while (!stop && now_us() < next_us) {
                struct timespec ts = { 0, 200000 };

                (void)nanosleep(&ts, NULL);
        }
}

/* Write one event every interval (and read the session back every read_every writes). */
static void write_loop(sqlite3 *db, sqlite3_stmt *ins, sqlite3_stmt *sel, const struct options *o,
                       char *payload, struct stats *w, struct stats *r)
{
        int64_t start = now_us();
        int64_t paced_from = start; /* when pacing began (after a burst: when it ended) */
        long paced_i = 0;           /* first paced write */
        bool bursting = o->burst;

        for (long i = 0; !stop; i++) {
                int64_t next = paced_from + (int64_t)(i - paced_i) * o->interval_ms * 1000;
                int64_t t0;
                char id[64];
                int rc;

                if (bursting && w->full > 0) {
                        /* The volume is full: ordinary traffic from now on. */
                        bursting = false;
                        paced_from = now_us();
                        paced_i = i;
                        next = paced_from;
                        if (o->payload_after > 0 && o->payload_after < o->payload_size) {
                                size_t off = strlen("{\"author\":\"agent\",\"content\":"
                                                    "{\"parts\":[{\"text\":\"");

                                memcpy(payload + off + o->payload_after, "\"}]}}", 6);
                        }
                }
                if (bursting)
                        next = 0;
                sleep_until(next);
                if (stop || (o->duration_ms > 0 && now_us() - start > o->duration_ms * 1000))
                        break;
                (void)snprintf(id, sizeof(id), "w-%d-%ld", (int)getpid(), i);
                t0 = now_us();
                rc = write_one(db, ins, id, o->sid, o->user, payload);
                if (rc == SQLITE_OK)
                        record(w, now_us() - t0);
                else
                        failed(w, db, rc);
                if (o->read_every > 0 && i % o->read_every == 0) {
                        t0 = now_us();
                        rc = read_all(sel);
                        if (rc == SQLITE_OK)
                                record(r, now_us() - t0);
                        else
                                failed(r, db, rc);
                }
        }
}

static void print_summary(struct stats *w, struct stats *r)
{
        if (w->n > 0)
                qsort(w->lat, w->n, sizeof(int64_t), cmp_i64);
        if (r->n > 0)
                qsort(r->lat, r->n, sizeof(int64_t), cmp_i64);
#define PCT(s, p) ((s)->n ? (double)(s)->lat[(size_t)((double)((s)->n - 1) * (p))] / 1000.0 : 0.0)
        (void)printf("{\"writes\":%zu,\"write_errors\":%ld,\"locked_errors\":%ld,"
                     "\"full_errors\":%ld,\"write_p50_ms\":%.2f,\"write_p99_ms\":%.2f,"
                     "\"write_max_ms\":%.2f,\"reads\":%zu,\"read_errors\":%ld,"
                     "\"read_p99_ms\":%.2f,\"read_max_ms\":%.2f,\"first_error_ms\":%.1f,"
                     "\"last_error_ms\":%.1f,\"writes_after_last_error\":%ld,"
                     "\"last_error\":\"%s\"}\n",
                     w->n, w->errors, w->locked + r->locked, w->full, PCT(w, 0.5), PCT(w, 0.99),
                     PCT(w, 1.0), r->n, r->errors, PCT(r, 0.99), PCT(r, 1.0),
                     (double)w->first_error_us / 1000.0, (double)w->last_error_us / 1000.0,
                     w->ok_after_last_error, w->last_error);
#undef PCT
        (void)fflush(stdout);
}

int main(int argc, char **argv)
{
        struct options o = {
                .sid = "live-session",
                .user = "admin@kagent.dev",
                .interval_ms = 20,
                .duration_ms = 0,
                .read_every = 5,
                .payload_size = 2048,
        };
        struct stats w = { .first_error_us = -1, .last_error_us = -1 };
        struct stats r = { .first_error_us = -1, .last_error_us = -1 };
        sqlite3 *db = NULL;
        sqlite3_stmt *ins = NULL, *sel = NULL, *ses = NULL;
        char *payload = NULL;
        int rc;

        if (parse_args(argc, argv, &o) < 0 || !o.path) {
                (void)fprintf(stderr, "usage: kagent-writer --db PATH [options]\n");
                return 2;
        }
        (void)signal(SIGTERM, on_signal);
        (void)signal(SIGINT, on_signal);
        payload = make_payload(o.payload_size);
        if (!payload)
                return 1;
        if (sqlite3_open_v2(o.path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
                (void)fprintf(stderr, "open %s: %s\n", o.path, sqlite3_errmsg(db));
                rc = 1;
                goto out;
        }
        (void)sqlite3_busy_timeout(db, 5000);
        if (prepare_all(db, &ins, &sel, &ses) < 0) {
                (void)fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
                rc = 1;
                goto out;
        }
        (void)sqlite3_bind_text(sel, 1, o.sid, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(sel, 2, o.user, -1, SQLITE_STATIC);
        upsert_session(db, ses, &o, &w);
        if (o.ready) {
                FILE *f = fopen(o.ready, "w");

                if (f)
                        (void)fclose(f);
        }
        start_us = now_us();
        write_loop(db, ins, sel, &o, payload, &w, &r);
        print_summary(&w, &r);
        rc = w.errors + r.errors > 0 ? 1 : 0;
out:
        sqlite3_finalize(ins);
        sqlite3_finalize(sel);
        sqlite3_finalize(ses);
        sqlite3_close(db);
        free(w.lat);
        free(r.lat);
        free(payload);
        return rc;
}
