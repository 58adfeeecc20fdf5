/* SPDX-License-Identifier: Apache-2.0 */
/* Test fixture: kagent SQLite databases from the shared schema, rows as kagent writes them. */
#include "kdb.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char *read_all(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        assert_non_null(f);
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

sqlite3 *kdb_create(char *path, size_t size, int with_langgraph)
{
        /* NOLINTNEXTLINE(concurrency-mt-unsafe): the tests are single-threaded */
        const char *src = getenv("KR_SOURCE_DIR");
        char schema_path[1024];
        char *schema;
        sqlite3 *db = NULL;
        int fd;

        assert_non_null(src);
        (void)snprintf(path, size, "/tmp/kr-test-XXXXXX");
        fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        (void)unlink(path);
        (void)snprintf(schema_path, sizeof(schema_path), "%s/tests/data/kagent/schema-sqlite.sql",
                       src);
        schema = read_all(schema_path);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, schema, NULL, NULL, NULL), SQLITE_OK);
        free(schema);
        if (!with_langgraph)
                assert_int_equal(sqlite3_exec(db,
                                              "DROP TABLE lg_checkpoint; DROP TABLE "
                                              "lg_checkpoint_write; DROP TABLE "
                                              "crewai_agent_memory; DROP TABLE crewai_flow_state;"
                                              "DROP TABLE memory;",
                                              NULL, NULL, NULL),
                                 SQLITE_OK);
        else /* the memory table marks a Turso-era file; these tests model the GORM era */
                assert_int_equal(sqlite3_exec(db, "DROP TABLE memory", NULL, NULL, NULL),
                                 SQLITE_OK);
        (void)sqlite3_busy_timeout(db, 5000);
        return db;
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

void kdb_exec(sqlite3 *db, const char *fmt, ...)
{
        char *err = NULL;
        char *sql;
        va_list ap;
        int rc;

        va_start(ap, fmt);
        sql = sqlite3_vmprintf(fmt, ap);
        va_end(ap);
        assert_non_null(sql);
        rc = sqlite3_exec(db, sql, NULL, NULL, &err);
        if (rc != SQLITE_OK)
                fail_msg("sql failed: %s: %s", sql, err ? err : "?");
        sqlite3_free(sql);
}

int64_t kdb_int(sqlite3 *db, const char *fmt, ...)
{
        sqlite3_stmt *st = NULL;
        char *sql;
        va_list ap;
        int64_t v = 0;

        va_start(ap, fmt);
        sql = sqlite3_vmprintf(fmt, ap);
        va_end(ap);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                fail_msg("prepare failed: %s: %s", sql, sqlite3_errmsg(db));
        if (sqlite3_step(st) == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        sqlite3_free(sql);
        return v;
}

const char *kdb_list(sqlite3 *db, char *out, size_t size, const char *fmt, ...)
{
        sqlite3_stmt *st = NULL;
        size_t len = 0;
        char *sql;
        va_list ap;

        va_start(ap, fmt);
        sql = sqlite3_vmprintf(fmt, ap);
        va_end(ap);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                fail_msg("prepare failed: %s: %s", sql, sqlite3_errmsg(db));
        out[0] = '\0';
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *v = (const char *)sqlite3_column_text(st, 0);
                int n = snprintf(out + len, size - len, "%s%s", len ? "," : "", v ? v : "NULL");

                assert_true(n > 0 && (size_t)n < size - len);
                len += (size_t)n;
        }
        sqlite3_finalize(st);
        sqlite3_free(sql);
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

void kdb_session(sqlite3 *db, const char *id, const char *user, int64_t created_ago,
                 int64_t updated_ago, int64_t deleted_ago)
{
        char *c = ts(created_ago);
        char *u = ts(updated_ago);
        char *d = ts(deleted_ago);

        kdb_exec(db,
                 "INSERT INTO session(id, name, user_id, created_at, updated_at, deleted_at, "
                 "agent_id) VALUES (%Q, 'chat', %Q, %s, %s, %s, 'kagent__NS__k8s_agent')",
                 id, user, c, u, d);
        sqlite3_free(c);
        sqlite3_free(u);
        sqlite3_free(d);
}

void kdb_event(sqlite3 *db, const char *id, const char *sid, const char *user, int64_t created_ago,
               int64_t deleted_ago)
{
        char *c = ts(created_ago);
        char *d = ts(deleted_ago);

        kdb_exec(db,
                 "INSERT INTO event(id, session_id, user_id, created_at, updated_at, deleted_at, "
                 "data) VALUES (%Q, %Q, %Q, %s, %s, %s, '{\"author\":\"user\",\"content\":"
                 "{\"parts\":[{\"text\":\"hello there\"}]}}')",
                 id, sid, user, c, c, d);
        sqlite3_free(c);
        sqlite3_free(d);
}

void kdb_task(sqlite3 *db, const char *id, const char *sid, const char *state, int64_t updated_ago,
              int64_t deleted_ago)
{
        char *u = ts(updated_ago);
        char *d = ts(deleted_ago);
        char *data = state ? sqlite3_mprintf("{\"id\":\"%q\",\"contextId\":\"%q\",\"status\":"
                                             "{\"state\":\"%q\"},\"kind\":\"task\"}",
                                             id, sid, state)
                           : sqlite3_mprintf("{not json");

        kdb_exec(db,
                 "INSERT INTO task(id, created_at, updated_at, deleted_at, data, session_id) "
                 "VALUES (%Q, %s, %s, %s, %Q, %Q)",
                 id, u, u, d, data, sid);
        sqlite3_free(data);
        sqlite3_free(u);
        sqlite3_free(d);
}

void kdb_push(sqlite3 *db, const char *id, const char *task_id, int64_t created_ago,
              int64_t deleted_ago)
{
        char *c = ts(created_ago);
        char *d = ts(deleted_ago);

        kdb_exec(db,
                 "INSERT INTO push_notification(id, task_id, created_at, updated_at, deleted_at, "
                 "data) VALUES (%Q, %Q, %s, %s, %s, '{\"url\":\"http://x\"}')",
                 id, task_id, c, c, d);
        sqlite3_free(c);
        sqlite3_free(d);
}

void kdb_checkpoint(sqlite3 *db, const char *user, const char *thread, const char *ns,
                    const char *cid, int64_t created_ago, int64_t deleted_ago)
{
        char *c = ts(created_ago);
        char *d = ts(deleted_ago);

        kdb_exec(db,
                 "INSERT INTO lg_checkpoint(user_id, thread_id, checkpoint_ns, checkpoint_id, "
                 "parent_checkpoint_id, created_at, updated_at, deleted_at, metadata, checkpoint, "
                 "checkpoint_type, version) VALUES (%Q, %Q, %Q, %Q, NULL, %s, %s, %s, 'bWV0YQ==', "
                 "'Y2hlY2twb2ludA==', 'msgpack', 1)",
                 user, thread, ns, cid, c, c, d);
        sqlite3_free(c);
        sqlite3_free(d);
}

void kdb_write(sqlite3 *db, const char *user, const char *thread, const char *ns, const char *cid,
               int idx, int64_t created_ago)
{
        char *c = ts(created_ago);

        kdb_exec(
                db,
                "INSERT INTO lg_checkpoint_write(user_id, thread_id, checkpoint_ns, checkpoint_id, "
                "write_idx, value, value_type, channel, task_id, created_at, updated_at) VALUES "
                "(%Q, %Q, %Q, %Q, %d, 'dmFsdWU=', 'msgpack', 'messages', 'lgtask', %s, %s)",
                user, thread, ns, cid, idx, c, c);
        sqlite3_free(c);
}

void kdb_crewai(sqlite3 *db, const char *table, const char *user, const char *thread,
                int64_t updated_ago, int64_t deleted_ago)
{
        char *u = ts(updated_ago);
        char *d = ts(deleted_ago);

        if (strcmp(table, "crewai_agent_memory") == 0)
                kdb_exec(db,
                         "INSERT INTO crewai_agent_memory(user_id, thread_id, created_at, "
                         "updated_at, deleted_at, memory_data) VALUES (%Q, %Q, %s, %s, %s, '{}')",
                         user, thread, u, u, d);
        else
                kdb_exec(db,
                         "INSERT INTO crewai_flow_state(user_id, thread_id, method_name, "
                         "created_at, updated_at, deleted_at, state_data) VALUES (%Q, %Q, 'run', "
                         "%s, %s, %s, '{}')",
                         user, thread, u, u, d);
        sqlite3_free(u);
        sqlite3_free(d);
}
