/* SPDX-License-Identifier: Apache-2.0 */
/* Test fixture: kagent databases on SQLite or PostgreSQL from the shared schemas. */
#include "testdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

struct kdb {
        enum kdb_backend backend;
        sqlite3 *db;    /* KDB_SQLITE */
        PGconn *pg;     /* PostgreSQL backends */
        char path[64];  /* SQLite file */
        char name[64];  /* PostgreSQL database */
        char url[1024]; /* PostgreSQL URL of that database */
};

static char *read_all(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        if (!f)
                fail_msg("cannot read '%s'", path);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n > 0);
        rewind(f);
        buf = malloc((size_t)n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
        buf[n] = '\0';
        (void)fclose(f);
        return buf;
}

static char *read_schema(const char *file)
{
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): the tests are single-threaded */
        const char *src = getenv("KR_SOURCE_DIR");
        char path[1024];

        assert_non_null(src);
        (void)snprintf(path, sizeof(path), "%s/tests/data/kagent/%s", src, file);
        return read_all(path);
}

const char *kdb_backend_name(enum kdb_backend b)
{
        switch (b) {
        case KDB_SQLITE:
                return "sqlite";
        case KDB_PG_MIGRATE:
                return "pg-migrate";
        case KDB_PG_GORM:
                return "pg-gorm";
        case KDB_BACKENDS:
                break;
        }
        return "?";
}

const char *kdb_pg_server_url(void)
{
        static char url[1024];
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): the tests are single-threaded */
        const char *file = getenv("KR_PG_URL_FILE");
        char *text;

        if (url[0])
                return url;
        if (!file)
                fail_msg("KR_PG_URL_FILE is not set (the PostgreSQL test server fixture)");
        text = read_all(file);
        text[strcspn(text, "\r\n")] = '\0';
        (void)snprintf(url, sizeof(url), "%s", text);
        free(text);
        return url;
}

static void pg_must(PGconn *c, const char *sql)
{
        PGresult *r = PQexec(c, sql);

        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
                fail_msg("sql failed: %.200s: %s", sql, PQerrorMessage(c));
        PQclear(r);
}

/* The server URL with another database name (the URL ends in "/<dbname>"). */
static void url_for(const char *server, const char *db, char *out, size_t size)
{
        const char *slash = strrchr(server, '/');

        assert_non_null(slash);
        (void)snprintf(out, size, "%.*s/%s", (int)(slash - server), server, db);
}

static void pg_create(struct kdb *k, int with_langgraph)
{
        static int counter;
        char sql[256];
        char *schema;
        PGconn *admin;

        (void)snprintf(k->name, sizeof(k->name), "kr_t%d_%d", (int)getpid(), ++counter);
        admin = PQconnectdb(kdb_pg_server_url());
        if (PQstatus(admin) != CONNECTION_OK)
                fail_msg("test server: %s", PQerrorMessage(admin));
        pg_must(admin, "SET client_min_messages = warning");
        (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", k->name);
        pg_must(admin, sql);
        (void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s", k->name);
        pg_must(admin, sql);
        PQfinish(admin);
        url_for(kdb_pg_server_url(), k->name, k->url, sizeof(k->url));
        k->pg = PQconnectdb(k->url);
        if (PQstatus(k->pg) != CONNECTION_OK)
                fail_msg("test database: %s", PQerrorMessage(k->pg));
        pg_must(k->pg, "SET client_min_messages = warning");
        if (k->backend == KDB_PG_MIGRATE) {
                /* The pgvector part cannot run here: everything from its CREATE EXTENSION on. */
                char *vector;

                schema = read_schema("schema-postgres.sql");
                vector = strstr(schema, "CREATE EXTENSION IF NOT EXISTS vector");
                assert_non_null(vector);
                *vector = '\0';
                pg_must(k->pg, schema);
                pg_must(k->pg, "INSERT INTO schema_migrations(version, dirty) VALUES (13, false)");
        } else {
                schema = read_schema("schema-postgres-gorm.sql");
                pg_must(k->pg, schema);
        }
        free(schema);
        if (!with_langgraph)
                pg_must(k->pg, "DROP TABLE lg_checkpoint, lg_checkpoint_write, "
                               "crewai_agent_memory, crewai_flow_state");
}

static void sqlite_create(struct kdb *k, int with_langgraph)
{
        char *schema;
        int fd;

        (void)snprintf(k->path, sizeof(k->path), "/tmp/kr-test-XXXXXX");
        fd = mkstemp(k->path);
        assert_true(fd >= 0);
        (void)close(fd);
        (void)unlink(k->path);
        schema = read_schema("schema-sqlite.sql");
        assert_int_equal(sqlite3_open(k->path, &k->db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(k->db, schema, NULL, NULL, NULL), SQLITE_OK);
        free(schema);
        if (!with_langgraph)
                kdb_exec(k, "DROP TABLE lg_checkpoint; DROP TABLE lg_checkpoint_write; "
                            "DROP TABLE crewai_agent_memory; DROP TABLE crewai_flow_state; "
                            "DROP TABLE memory;");
        else /* the memory table marks a Turso-era file; these tests model the GORM era */
                kdb_exec(k, "DROP TABLE memory");
        (void)sqlite3_busy_timeout(k->db, 5000);
}

struct kdb *kdb_create(enum kdb_backend b, int with_langgraph)
{
        struct kdb *k = calloc(1, sizeof(*k));

        assert_non_null(k);
        k->backend = b;
        if (b == KDB_SQLITE)
                sqlite_create(k, with_langgraph);
        else
                pg_create(k, with_langgraph);
        return k;
}

void kdb_free(struct kdb *k)
{
        if (!k)
                return;
        if (k->db) {
                char p[96];

                sqlite3_close(k->db);
                (void)unlink(k->path);
                (void)snprintf(p, sizeof(p), "%s-journal", k->path);
                (void)unlink(p);
        }
        if (k->pg) {
                PGconn *admin;
                char sql[160];

                PQfinish(k->pg);
                admin = PQconnectdb(kdb_pg_server_url());
                (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
                               k->name);
                if (PQstatus(admin) == CONNECTION_OK)
                        PQclear(PQexec(admin, sql));
                PQfinish(admin);
        }
        free(k);
}

enum kdb_backend kdb_backend(const struct kdb *k)
{
        return k->backend;
}

void kdb_store_config(const struct kdb *k, struct store_config *out)
{
        memset(out, 0, sizeof(*out));
        if (k->backend == KDB_SQLITE) {
                out->type = STORE_SQLITE;
                out->sqlite_path = k->path;
        } else {
                out->type = STORE_POSTGRES;
                out->postgres_url = k->url;
        }
}

sqlite3 *kdb_sqlite(const struct kdb *k)
{
        return k->db;
}

const char *kdb_path(const struct kdb *k)
{
        return k->path;
}

const char *kdb_url(const struct kdb *k)
{
        return k->url;
}

/* Format with sqlite3_vmprintf (%q doubles quotes as both dialects want); sqlite3_free it. */
static char *vformat(const char *fmt, va_list ap)
{
        char *sql = sqlite3_vmprintf(fmt, ap);

        assert_non_null(sql);
        return sql;
}

/* Run a query; on PostgreSQL the result is returned, on SQLite the statement. */
static PGresult *pg_query(struct kdb *k, const char *sql)
{
        PGresult *r = PQexec(k->pg, sql);

        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
                fail_msg("sql failed: %s: %s", sql, PQerrorMessage(k->pg));
        return r;
}

static sqlite3_stmt *sq_query(struct kdb *k, const char *sql)
{
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(k->db, sql, -1, &st, NULL) != SQLITE_OK)
                fail_msg("prepare failed: %s: %s", sql, sqlite3_errmsg(k->db));
        return st;
}

void kdb_exec(struct kdb *k, const char *fmt, ...)
{
        char *sql;
        va_list ap;

        va_start(ap, fmt);
        sql = vformat(fmt, ap);
        va_end(ap);
        if (k->backend == KDB_SQLITE) {
                char *err = NULL;

                if (sqlite3_exec(k->db, sql, NULL, NULL, &err) != SQLITE_OK)
                        fail_msg("sql failed: %s: %s", sql, err ? err : "?");
        } else {
                PQclear(pg_query(k, sql));
        }
        sqlite3_free(sql);
}

int64_t kdb_int(struct kdb *k, const char *fmt, ...)
{
        int64_t v = 0;
        char *sql;
        va_list ap;

        va_start(ap, fmt);
        sql = vformat(fmt, ap);
        va_end(ap);
        if (k->backend == KDB_SQLITE) {
                sqlite3_stmt *st = sq_query(k, sql);

                if (sqlite3_step(st) == SQLITE_ROW)
                        v = sqlite3_column_int64(st, 0);
                sqlite3_finalize(st);
        } else {
                PGresult *r = pg_query(k, sql);

                if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
                        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
                PQclear(r);
        }
        sqlite3_free(sql);
        return v;
}

static void append(char *out, size_t size, size_t *len, const char *v)
{
        int n = snprintf(out + *len, size - *len, "%s%s", *len ? "," : "", v ? v : "NULL");

        assert_true(n > 0 && (size_t)n < size - *len);
        *len += (size_t)n;
}

const char *kdb_list(struct kdb *k, char *out, size_t size, const char *fmt, ...)
{
        size_t len = 0;
        char *sql;
        va_list ap;

        va_start(ap, fmt);
        sql = vformat(fmt, ap);
        va_end(ap);
        out[0] = '\0';
        if (k->backend == KDB_SQLITE) {
                sqlite3_stmt *st = sq_query(k, sql);

                while (sqlite3_step(st) == SQLITE_ROW)
                        append(out, size, &len, (const char *)sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
        } else {
                PGresult *r = pg_query(k, sql);

                for (int i = 0; i < PQntuples(r); i++)
                        append(out, size, &len, PQgetisnull(r, i, 0) ? NULL : PQgetvalue(r, i, 0));
                PQclear(r);
        }
        sqlite3_free(sql);
        return out;
}

bool kdb_intact(struct kdb *k)
{
        if (k->backend == KDB_SQLITE)
                return kdb_int(k, "SELECT count(*) FROM pragma_integrity_check WHERE "
                                  "integrity_check <> 'ok'") == 0;
        /* Each primary key read through its index still finds exactly the table's rows. */
        return kdb_int(k, "SELECT count(*) FROM (SELECT id, user_id FROM session GROUP BY 1, 2 "
                          "HAVING count(*) > 1) d") == 0 &&
               kdb_int(k, "SELECT count(*) FROM (SELECT id, user_id FROM event GROUP BY 1, 2 "
                          "HAVING count(*) > 1) d") == 0;
}

const char *kdb_go(int64_t ago_ms, char *out, size_t size)
{
        int64_t ms = KDB_NOW_MS - ago_ms;
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        char base[32];
        int frac = (int)(ms % 1000);

        if (ago_ms < 0) {
                out[0] = '\0';
                return out;
        }
        (void)gmtime_r(&t, &tm);
        (void)strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
        if (frac == 0)
                (void)snprintf(out, size, "%s+00:00", base);
        else /* Go cuts trailing zeros: .5, .25, .125 ... written with 9 digits minus zeros */
                (void)snprintf(out, size, "%s.%03d4567+00:00", base, frac);
        return out;
}

const char *kdb_rfc(int64_t ago_ms, char *out, size_t size)
{
        int64_t ms = KDB_NOW_MS - ago_ms;
        time_t t = (time_t)(ms / 1000);
        struct tm tm;
        char base[32];

        (void)gmtime_r(&t, &tm);
        (void)strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
        (void)snprintf(out, size, "%s.%03d123456Z", base, (int)(ms % 1000));
        return out;
}

/* A timestamp literal for SQL: quoted text, or NULL. */
static char *ts(int64_t ago)
{
        char buf[64];

        if (ago < 0)
                return sqlite3_mprintf("NULL");
        return sqlite3_mprintf("'%q'", kdb_go(ago, buf, sizeof(buf)));
}

void kdb_session(struct kdb *k, const char *id, const char *user, int64_t created_ago,
                 int64_t updated_ago, int64_t deleted_ago)
{
        char *c = ts(created_ago);
        char *u = ts(updated_ago);
        char *d = ts(deleted_ago);

        kdb_exec(k,
                 "INSERT INTO session(id, name, user_id, created_at, updated_at, deleted_at, "
                 "agent_id) VALUES (%Q, 'chat', %Q, %s, %s, %s, 'kagent__NS__k8s_agent')",
                 id, user, c, u, d);
        sqlite3_free(c);
        sqlite3_free(u);
        sqlite3_free(d);
}

void kdb_event(struct kdb *k, const char *id, const char *sid, const char *user,
               int64_t created_ago, int64_t deleted_ago)
{
        char *c = ts(created_ago);
        char *d = ts(deleted_ago);

        kdb_exec(k,
                 "INSERT INTO event(id, session_id, user_id, created_at, updated_at, deleted_at, "
                 "data) VALUES (%Q, %Q, %Q, %s, %s, %s, '{\"author\":\"user\",\"content\":"
                 "{\"parts\":[{\"text\":\"hello there\"}]}}')",
                 id, sid, user, c, c, d);
        sqlite3_free(c);
        sqlite3_free(d);
}

void kdb_task(struct kdb *k, const char *id, const char *sid, const char *state,
              int64_t updated_ago, int64_t deleted_ago)
{
        char *u = ts(updated_ago);
        char *d = ts(deleted_ago);
        char *data = state ? sqlite3_mprintf("{\"id\":\"%q\",\"contextId\":\"%q\",\"status\":"
                                             "{\"state\":\"%q\"},\"kind\":\"task\"}",
                                             id, sid, state)
                           : sqlite3_mprintf("{not json");

        kdb_exec(k,
                 "INSERT INTO task(id, created_at, updated_at, deleted_at, data, session_id) "
                 "VALUES (%Q, %s, %s, %s, %Q, %Q)",
                 id, u, u, d, data, sid);
        sqlite3_free(data);
        sqlite3_free(u);
        sqlite3_free(d);
}

void kdb_push(struct kdb *k, const char *id, const char *task_id, int64_t created_ago,
              int64_t deleted_ago)
{
        char *c = ts(created_ago);
        char *d = ts(deleted_ago);

        kdb_exec(k,
                 "INSERT INTO push_notification(id, task_id, created_at, updated_at, deleted_at, "
                 "data) VALUES (%Q, %Q, %s, %s, %s, '{\"url\":\"http://x\"}')",
                 id, task_id, c, c, d);
        sqlite3_free(c);
        sqlite3_free(d);
}

void kdb_checkpoint(struct kdb *k, const char *user, const char *thread, const char *ns,
                    const char *cid, int64_t created_ago, int64_t deleted_ago)
{
        char *c = ts(created_ago);
        char *d = ts(deleted_ago);

        kdb_exec(k,
                 "INSERT INTO lg_checkpoint(user_id, thread_id, checkpoint_ns, checkpoint_id, "
                 "parent_checkpoint_id, created_at, updated_at, deleted_at, metadata, checkpoint, "
                 "checkpoint_type, version) VALUES (%Q, %Q, %Q, %Q, NULL, %s, %s, %s, 'bWV0YQ==', "
                 "'Y2hlY2twb2ludA==', 'msgpack', 1)",
                 user, thread, ns, cid, c, c, d);
        sqlite3_free(c);
        sqlite3_free(d);
}

void kdb_write(struct kdb *k, const char *user, const char *thread, const char *ns, const char *cid,
               int idx, int64_t created_ago)
{
        char *c = ts(created_ago);

        kdb_exec(k,
                 "INSERT INTO lg_checkpoint_write(user_id, thread_id, checkpoint_ns, "
                 "checkpoint_id, write_idx, value, value_type, channel, task_id, created_at, "
                 "updated_at) VALUES (%Q, %Q, %Q, %Q, %d, 'dmFsdWU=', 'msgpack', 'messages', "
                 "'lgtask', %s, %s)",
                 user, thread, ns, cid, idx, c, c);
        sqlite3_free(c);
}

void kdb_crewai(struct kdb *k, const char *table, const char *user, const char *thread,
                int64_t updated_ago, int64_t deleted_ago)
{
        char *u = ts(updated_ago);
        char *d = ts(deleted_ago);

        if (strcmp(table, "crewai_agent_memory") == 0)
                kdb_exec(k,
                         "INSERT INTO crewai_agent_memory(user_id, thread_id, created_at, "
                         "updated_at, deleted_at, memory_data) VALUES (%Q, %Q, %s, %s, %s, '{}')",
                         user, thread, u, u, d);
        else
                kdb_exec(k,
                         "INSERT INTO crewai_flow_state(user_id, thread_id, method_name, "
                         "created_at, updated_at, deleted_at, state_data) VALUES (%Q, %Q, 'run', "
                         "%s, %s, %s, '{}')",
                         user, thread, u, u, d);
        sqlite3_free(u);
        sqlite3_free(d);
}
