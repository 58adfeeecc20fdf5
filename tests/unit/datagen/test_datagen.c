/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of pkg/datagen: the schema equals tests/data/kagent/schema-sqlite.sql, timestamps are
 * kagent's texts, generation is deterministic, and the data holds every case the retention rules
 * need (task states, orphans, soft deletes, NULL timestamps, shared sessions), checked with SQL
 * against the file rather than trusting the returned stats.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "base/buf.h"
#include "base/errbuf.h"
#include "datagen/datagen.h"

#define NOW_MS        INT64_C(1762164930123) /* 2025-11-03 10:15:30.123 UTC */
#define DAY_MS        INT64_C(86400000)
#define MIN_MS        INT64_C(60000)
#define TEST_PATH_MAX 512

static char tmpdir[] = "/tmp/test_datagen.XXXXXX";

/* The databases every query test reads, written once by the group setup. */
static struct gen {
        enum datagen_layout layout;
        char path[TEST_PATH_MAX];
        struct datagen_stats stats;
} gens[] = {
        { DATAGEN_LAYOUT_GORM, "", { 0 } },
        { DATAGEN_LAYOUT_TURSO, "", { 0 } },
        { DATAGEN_LAYOUT_V05, "", { 0 } },
};

#define N_GENS (sizeof(gens) / sizeof(gens[0]))

static const char *const prunable[] = {
        "session",
        "event",
        "task",
        "push_notification",
        "feedback",
        "lg_checkpoint",
        "lg_checkpoint_write",
        "crewai_agent_memory",
        "crewai_flow_state",
};

static void small_opts(struct datagen_opts *o, const char *path, enum datagen_layout layout,
                       uint64_t seed)
{
        datagen_opts_init(o);
        o->path = path;
        o->layout = layout;
        o->sessions = 60;
        o->events_per_session = 16;
        o->days = 30;
        o->seed = seed;
        o->now_ms = NOW_MS;
        o->quiet = true;
}

static void path_in_tmp(char *out, size_t size, const char *name)
{
        int n = snprintf(out, size, "%s/%s", tmpdir, name);

        assert_true(n > 0 && (size_t)n < size);
}

static int group_setup(void **state)
{
        size_t i;

        (void)state;
        if (!mkdtemp(tmpdir))
                return -1;
        for (i = 0; i < N_GENS; i++) {
                struct datagen_opts o;
                struct errbuf err = { 0 };
                char name[32];

                (void)snprintf(name, sizeof(name), "gen%zu.db", i);
                (void)snprintf(gens[i].path, sizeof(gens[i].path), "%s/%s", tmpdir, name);
                small_opts(&o, gens[i].path, gens[i].layout, 42);
                if (datagen_write(&o, &gens[i].stats, &err) != 0) {
                        (void)fprintf(stderr, "datagen_write: %s\n", err.msg);
                        return -1;
                }
        }
        return 0;
}

/* Every file a test may leave in 'tmpdir'. */
static const char *const tmp_names[] = {
        "gen0.db",  "gen1.db", "gen2.db",   "again.db",
        "seed2.db", "size.db", "exists.db", "invalid.db",
};

static int group_teardown(void **state)
{
        static const char *const suffixes[] = { "", "-journal", "-wal", "-shm" };
        size_t i, j;

        (void)state;
        for (i = 0; i < sizeof(tmp_names) / sizeof(tmp_names[0]); i++) {
                for (j = 0; j < sizeof(suffixes) / sizeof(suffixes[0]); j++) {
                        char p[TEST_PATH_MAX];

                        (void)snprintf(p, sizeof(p), "%s/%s%s", tmpdir, tmp_names[i], suffixes[j]);
                        (void)unlink(p);
                }
        }
        (void)rmdir(tmpdir);
        return 0;
}

/* ---- SQL helpers ---- */

static sqlite3 *open_ro(const char *path)
{
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        return db;
}

static int64_t q_int(sqlite3 *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int64_t q_int(sqlite3 *db, const char *fmt, ...)
{
        sqlite3_stmt *st = NULL;
        va_list ap;
        char *sql;
        int64_t v;

        va_start(ap, fmt);
        sql = sqlite3_vmprintf(fmt, ap);
        va_end(ap);
        assert_non_null(sql);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                fail_msg("prepare '%s': %s", sql, sqlite3_errmsg(db));
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        v = sqlite3_column_int64(st, 0);
        (void)sqlite3_finalize(st);
        sqlite3_free(sql);
        return v;
}

static bool has_table(sqlite3 *db, const char *name)
{
        return q_int(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'",
                     name) == 1;
}

/* All of sqlite_master as one string, in creation order. */
static char *schema_text(sqlite3 *db, bool skip_memory)
{
        sqlite3_stmt *st = NULL;
        struct buf b;

        buf_init(&b, 1 << 20);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT type, name, tbl_name, ifnull(sql,'') FROM "
                                            "sqlite_master WHERE ?1 = 0 OR tbl_name <> 'memory' "
                                            "ORDER BY rowid",
                                            -1, &st, NULL),
                         SQLITE_OK);
        (void)sqlite3_bind_int(st, 1, skip_memory);
        while (sqlite3_step(st) == SQLITE_ROW) {
                int i;

                for (i = 0; i < 4; i++)
                        assert_int_equal(buf_printf(&b, "%s|", sqlite3_column_text(st, i)), 0);
                assert_int_equal(buf_append_str(&b, "\n"), 0);
        }
        (void)sqlite3_finalize(st);
        return buf_steal(&b);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
        const unsigned char *c = p;
        size_t i;

        for (i = 0; i < n; i++) {
                h ^= c[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

/* FNV-1a over every row of every table, in rowid order, with column types. */
static uint64_t db_hash(const char *path)
{
        sqlite3 *db = open_ro(path);
        sqlite3_stmt *tables = NULL;
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT name FROM sqlite_master WHERE type='table' "
                                            "ORDER BY name",
                                            -1, &tables, NULL),
                         SQLITE_OK);
        while (sqlite3_step(tables) == SQLITE_ROW) {
                char sql[256];
                sqlite3_stmt *rows = NULL;

                (void)snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY rowid",
                               sqlite3_column_text(tables, 0));
                h = fnv(h, sql, strlen(sql));
                assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &rows, NULL), SQLITE_OK);
                while (sqlite3_step(rows) == SQLITE_ROW) {
                        int i;

                        for (i = 0; i < sqlite3_column_count(rows); i++) {
                                int type = sqlite3_column_type(rows, i);
                                const void *v = sqlite3_column_blob(rows, i);
                                size_t n = (size_t)sqlite3_column_bytes(rows, i);

                                h = fnv(h, &type, sizeof(type));
                                if (v)
                                        h = fnv(h, v, n);
                        }
                }
                (void)sqlite3_finalize(rows);
        }
        (void)sqlite3_finalize(tables);
        (void)sqlite3_close(db);
        return h;
}

static char *read_file(const char *path)
{
        FILE *f = fopen(path, "rb");
        struct buf b;
        char chunk[4096];
        size_t n;

        if (!f)
                return NULL;
        buf_init(&b, 1 << 22);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                assert_int_equal(buf_append(&b, chunk, n), 0);
        (void)fclose(f);
        return buf_steal(&b);
}

/* ---- time text ---- */

struct time_case {
        int64_t ns;
        const char *gorm;
        const char *turso;
};

static const struct time_case time_cases[] = {
        { 0, "1970-01-01 00:00:00+00:00", "1970-01-01T00:00:00Z" },
        { INT64_C(1762164930000000000), "2025-11-03 10:15:30+00:00", "2025-11-03T10:15:30Z" },
        { INT64_C(1762164930100000000), "2025-11-03 10:15:30.1+00:00", "2025-11-03T10:15:30.1Z" },
        { INT64_C(1762164930120000000), "2025-11-03 10:15:30.12+00:00", "2025-11-03T10:15:30.12Z" },
        { INT64_C(1762164930123400000), "2025-11-03 10:15:30.1234+00:00",
          "2025-11-03T10:15:30.1234Z" },
        { INT64_C(1762164930123456789), "2025-11-03 10:15:30.123456789+00:00",
          "2025-11-03T10:15:30.123456789Z" },
        { INT64_C(1762164930000000010), "2025-11-03 10:15:30.00000001+00:00",
          "2025-11-03T10:15:30.00000001Z" },
        { INT64_C(1772187330123456789), "2026-02-27 10:15:30.123456789+00:00",
          "2026-02-27T10:15:30.123456789Z" },
        { INT64_C(951868799999000000), "2000-02-29 23:59:59.999+00:00",
          "2000-02-29T23:59:59.999Z" },
        { INT64_C(-500000000), "1969-12-31 23:59:59.5+00:00", "1969-12-31T23:59:59.5Z" },
};

/* julianday() of 'text' as ms since the epoch (SQLite keeps milliseconds, truncated). */
static int64_t julian_ms(sqlite3 *db, const char *text)
{
        return q_int(db,
                     "SELECT CAST(round((julianday('%s') - 2440587.5) * 86400000.0) AS INTEGER)",
                     text);
}

static int64_t floor_ms(int64_t ns)
{
        int64_t q = ns / 1000000;

        return (ns % 1000000 != 0 && ns < 0) ? q - 1 : q;
}

static void test_format_time(void **state)
{
        sqlite3 *db = NULL;
        char out[DATAGEN_TIME_MAX];
        size_t i;

        (void)state;
        assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
        for (i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
                const struct time_case *c = &time_cases[i];

                assert_string_equal(
                        datagen_format_time_ns(c->ns, DATAGEN_LAYOUT_GORM, out, sizeof(out)),
                        c->gorm);
                assert_int_equal(julian_ms(db, out), floor_ms(c->ns));
                assert_string_equal(
                        datagen_format_time_ns(c->ns, DATAGEN_LAYOUT_V05, out, sizeof(out)),
                        c->gorm);
                assert_string_equal(
                        datagen_format_time_ns(c->ns, DATAGEN_LAYOUT_TURSO, out, sizeof(out)),
                        c->turso);
                assert_int_equal(julian_ms(db, out), floor_ms(c->ns));
                if (c->ns % 1000000 == 0) {
                        assert_string_equal(datagen_format_time(c->ns / 1000000,
                                                                DATAGEN_LAYOUT_GORM, out,
                                                                sizeof(out)),
                                            c->gorm);
                        assert_string_equal(datagen_format_time(c->ns / 1000000,
                                                                DATAGEN_LAYOUT_TURSO, out,
                                                                sizeof(out)),
                                            c->turso);
                }
        }
        /* Truncated, still terminated. */
        assert_string_equal(datagen_format_time(0, DATAGEN_LAYOUT_GORM, out, 11), "1970-01-01");
        (void)sqlite3_close(db);
}

static const char *const time_columns[][2] = {
        { "agent", "created_at" },
        { "agent", "updated_at" },
        { "agent", "deleted_at" },
        { "session", "created_at" },
        { "session", "updated_at" },
        { "session", "deleted_at" },
        { "event", "created_at" },
        { "event", "updated_at" },
        { "event", "deleted_at" },
        { "task", "created_at" },
        { "task", "updated_at" },
        { "task", "deleted_at" },
        { "push_notification", "created_at" },
        { "push_notification", "deleted_at" },
        { "feedback", "created_at" },
        { "feedback", "deleted_at" },
        { "tool", "updated_at" },
        { "toolserver", "last_connected" },
        { "lg_checkpoint", "created_at" },
        { "lg_checkpoint", "deleted_at" },
        { "lg_checkpoint_write", "created_at" },
        { "crewai_agent_memory", "updated_at" },
        { "crewai_flow_state", "updated_at" },
        { "memory", "created_at" },
        { "memory", "expires_at" },
};

/* Every stored timestamp parses, has the layout's shape, and fractions vary in length. */
static void test_stored_times(void **state)
{
        size_t g, i;

        (void)state;
        for (g = 0; g < N_GENS; g++) {
                sqlite3 *db = open_ro(gens[g].path);
                bool rfc = gens[g].layout == DATAGEN_LAYOUT_TURSO;
                const char *glob = rfc ? "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:"
                                         "[0-5][0-9]:[0-5][0-9]*Z"
                                       : "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9] [0-2][0-9]:"
                                         "[0-5][0-9]:[0-5][0-9]*+00:00";

                for (i = 0; i < sizeof(time_columns) / sizeof(time_columns[0]); i++) {
                        const char *t = time_columns[i][0];
                        const char *c = time_columns[i][1];

                        if (!has_table(db, t))
                                continue;
                        assert_int_equal(q_int(db,
                                               "SELECT count(*) FROM `%s` WHERE `%s` IS NOT NULL "
                                               "AND (julianday(`%s`) IS NULL OR `%s` NOT GLOB "
                                               "'%s' OR `%s` GLOB '*.*0Z' OR `%s` GLOB "
                                               "'*.*0+00:00' OR `%s` GLOB '*.Z' OR `%s` GLOB "
                                               "'*.+00:00')",
                                               t, c, c, c, glob, c, c, c, c),
                                         0);
                }
                /* Fractions of 0 (none) and of 1..9 digits all occur in event.created_at. */
                assert_true(q_int(db, "SELECT count(DISTINCT length(created_at)) FROM event") >= 8);
                assert_true(q_int(db, "SELECT count(*) FROM event WHERE created_at NOT LIKE "
                                      "'%%.%%'") > 0);
                /* Rows were inserted in creation order: rowid order = created_at order. */
                assert_int_equal(q_int(db, "SELECT count(*) FROM event a JOIN event b ON b.rowid "
                                           "= a.rowid + 1 WHERE julianday(b.created_at) < "
                                           "julianday(a.created_at)"),
                                 0);
                assert_int_equal(q_int(db, "SELECT count(*) FROM task a JOIN task b ON b.rowid "
                                           "= a.rowid + 1 WHERE julianday(b.created_at) < "
                                           "julianday(a.created_at)"),
                                 0);
                /* Nothing is in the future, nothing before created_at. */
                assert_int_equal(q_int(db,
                                       "SELECT count(*) FROM event WHERE "
                                       "julianday(created_at) > %f OR julianday(deleted_at) "
                                       "< julianday(created_at)",
                                       NOW_MS / 86400000.0 + 2440587.5),
                                 0);
                assert_int_equal(q_int(db, "SELECT count(*) FROM task WHERE julianday(updated_at) "
                                           "< julianday(created_at)"),
                                 0);
                (void)sqlite3_close(db);
        }
}

/* ---- schema ---- */

static sqlite3 *file_schema_db(void)
{
        const char *src = getenv("KR_SOURCE_DIR"); /* NOLINT(concurrency-mt-unsafe): one thread */
        char path[TEST_PATH_MAX];
        char *sql;
        char *msg = NULL;
        sqlite3 *db = NULL;

        if (!src)
                return NULL;
        /* The copy kept in the repository (any clone), else the shared research copy. */
        (void)snprintf(path, sizeof(path), "%s/tests/data/kagent/schema-sqlite.sql", src);
        sql = read_file(path);
        if (!sql) {
                (void)snprintf(path, sizeof(path), "%s/../shared/kagent/schema-sqlite.sql", src);
                sql = read_file(path);
        }
        if (!sql)
                return NULL;
        assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
                fail_msg("schema-sqlite.sql: %s", msg);
        free(sql);
        return db;
}

static void test_schema_equals_file(void **state)
{
        sqlite3 *want = file_schema_db();
        sqlite3 *db = NULL;
        struct errbuf err = { 0 };
        char *a;
        char *b;

        (void)state;
        if (!want) {
                skip();
                return;
        }
        /* TURSO: the whole file, byte for byte (sqlite_master keeps the statement text). */
        assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
        assert_int_equal(datagen_create_schema(db, DATAGEN_LAYOUT_TURSO, &err), 0);
        a = schema_text(want, false);
        b = schema_text(db, false);
        assert_string_equal(a, b);
        assert_non_null(strstr(b, "`checkpoint_ns` text NOT NULL DEFAULT \"\""));
        free(a);
        free(b);
        (void)sqlite3_close(db);
        /* GORM: the same without `memory`, for a file datagen_write() made. */
        db = open_ro(gens[0].path);
        a = schema_text(want, true);
        b = schema_text(db, false);
        assert_string_equal(a, b);
        free(a);
        free(b);
        (void)sqlite3_close(db);
        /* A generated TURSO file too. */
        db = open_ro(gens[1].path);
        a = schema_text(want, false);
        b = schema_text(db, false);
        assert_string_equal(a, b);
        free(a);
        free(b);
        (void)sqlite3_close(db);
        (void)sqlite3_close(want);
        /* The schema exists already: -EIO with SQLite's message. */
        assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
        assert_int_equal(datagen_create_schema(db, DATAGEN_LAYOUT_GORM, &err), 0);
        assert_int_equal(datagen_create_schema(db, DATAGEN_LAYOUT_GORM, &err), -EIO);
        assert_non_null(strstr(err.msg, "already exists"));
        (void)sqlite3_close(db);
}

static void test_schema_v05(void **state)
{
        sqlite3 *db = open_ro(gens[2].path);

        (void)state;
        assert_false(has_table(db, "lg_checkpoint"));
        assert_false(has_table(db, "lg_checkpoint_write"));
        assert_false(has_table(db, "crewai_agent_memory"));
        assert_false(has_table(db, "crewai_flow_state"));
        assert_false(has_table(db, "memory"));
        assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_table_info('agent') WHERE name "
                                   "= 'type'"),
                         0);
        assert_int_equal(q_int(db, "SELECT \"notnull\" FROM pragma_table_info('agent') WHERE "
                                   "name = 'config'"),
                         1);
        assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_table_info('toolserver') WHERE "
                                   "pk > 0"),
                         1);
        assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_table_info('toolserver') WHERE "
                                   "name = 'config' AND type = 'json'"),
                         1);
        assert_int_equal(q_int(db, "SELECT count(*) FROM pragma_table_info('tool') WHERE pk > 0"),
                         2);
        assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                                   "'idx_feedback_user_id'"),
                         0);
        /* v0.5 events are A2A messages. */
        assert_int_equal(q_int(db, "SELECT count(*) FROM event WHERE json_extract(data, "
                                   "'$.kind') <> 'message'"),
                         0);
        assert_int_equal(q_int(db, "SELECT count(*) FROM agent WHERE config IS NULL"), 0);
        (void)sqlite3_close(db);
}

/* ---- determinism ---- */

static void test_determinism(void **state)
{
        struct datagen_opts o;
        struct datagen_stats s;
        struct errbuf err = { 0 };
        char again[TEST_PATH_MAX];
        char other[TEST_PATH_MAX];

        (void)state;
        path_in_tmp(again, sizeof(again), "again.db");
        path_in_tmp(other, sizeof(other), "seed2.db");
        small_opts(&o, again, DATAGEN_LAYOUT_GORM, 42);
        assert_int_equal(datagen_write(&o, &s, &err), 0);
        assert_memory_equal(&s, &gens[0].stats, sizeof(s));
        assert_true(db_hash(again) == db_hash(gens[0].path));
        small_opts(&o, other, DATAGEN_LAYOUT_GORM, 43);
        assert_int_equal(datagen_write(&o, &s, &err), 0);
        assert_true(db_hash(other) != db_hash(gens[0].path));
        (void)unlink(again);
        (void)unlink(other);
        /* Another 'now' shifts every timestamp. */
        small_opts(&o, again, DATAGEN_LAYOUT_GORM, 42);
        o.now_ms = NOW_MS + 1;
        assert_int_equal(datagen_write(&o, &s, &err), 0);
        assert_true(db_hash(again) != db_hash(gens[0].path));
        (void)unlink(again);
}

/* ---- content ---- */

static void test_counts_match_stats(void **state)
{
        size_t g;

        (void)state;
        for (g = 0; g < N_GENS; g++) {
                const struct datagen_stats *s = &gens[g].stats;
                sqlite3 *db = open_ro(gens[g].path);
                bool lg = gens[g].layout != DATAGEN_LAYOUT_V05;
                struct stat sb;

                assert_true(q_int(db, "SELECT count(*) FROM session") == (int64_t)s->sessions);
                assert_true(q_int(db, "SELECT count(*) FROM event") == (int64_t)s->events);
                assert_true(q_int(db, "SELECT count(*) FROM task") == (int64_t)s->tasks);
                assert_true(q_int(db, "SELECT count(*) FROM push_notification") ==
                            (int64_t)s->push_notifications);
                assert_true(q_int(db, "SELECT count(*) FROM feedback") == (int64_t)s->feedback);
                assert_true(q_int(db, "SELECT count(*) FROM agent") == (int64_t)s->agents);
                assert_true(q_int(db, "SELECT count(*) FROM tool") == (int64_t)s->tools);
                assert_true(q_int(db, "SELECT count(*) FROM toolserver") ==
                            (int64_t)s->toolservers);
                if (lg) {
                        assert_true(q_int(db, "SELECT count(*) FROM lg_checkpoint") ==
                                    (int64_t)s->checkpoints);
                        assert_true(q_int(db, "SELECT count(*) FROM lg_checkpoint_write") ==
                                    (int64_t)s->checkpoint_writes);
                        assert_true(q_int(db, "SELECT count(*) FROM crewai_agent_memory") ==
                                    (int64_t)s->crewai_memory);
                        assert_true(q_int(db, "SELECT count(*) FROM crewai_flow_state") ==
                                    (int64_t)s->crewai_flow_state);
                        assert_true(s->checkpoints > 0 && s->checkpoint_writes > 0);
                        assert_true(s->crewai_memory > 0 && s->crewai_flow_state > 0);
                }
                if (gens[g].layout == DATAGEN_LAYOUT_TURSO)
                        assert_true(q_int(db, "SELECT count(*) FROM memory") ==
                                    (int64_t)s->memories);
                assert_true(s->sessions > 50 && s->events > 300 && s->tasks > 100);
                assert_true(s->feedback > 0 && s->push_notifications > 0 && s->agents > 0);
                assert_int_equal(stat(gens[g].path, &sb), 0);
                assert_true((uint64_t)sb.st_size == s->file_bytes);
                (void)sqlite3_close(db);
        }
}

static void test_task_states(void **state)
{
        static const char *const states[] = {
                "submitted",
                "working",
                "input-required",
                "auth-required",
                "completed",
                "canceled",
                "failed",
                "rejected",
                "unknown",
                "TASK_STATE_COMPLETED",
                "TASK_STATE_WORKING",
        };
        size_t g, i;

        (void)state;
        for (g = 0; g < N_GENS; g++) {
                sqlite3 *db = open_ro(gens[g].path);

                for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                        if (q_int(db,
                                  "SELECT count(*) FROM task WHERE json_extract(data, "
                                  "'$.status.state') = '%s'",
                                  states[i]) == 0)
                                fail_msg("layout %d: no task in state '%s'", gens[g].layout,
                                         states[i]);
                }
                assert_int_equal(q_int(db, "SELECT count(*) FROM task WHERE json_valid(data) = 0 "
                                           "OR json_extract(data, '$.kind') <> 'task' OR "
                                           "json_extract(data, '$.contextId') <> session_id OR "
                                           "json_extract(data, '$.id') <> id OR "
                                           "json_type(data, '$.history') <> 'array' OR "
                                           "json_type(data, '$.artifacts') <> 'array'"),
                                 0);
                assert_int_equal(q_int(db, "SELECT count(*) FROM event WHERE json_valid(data) = "
                                           "0"),
                                 0);
                assert_int_equal(q_int(db, "SELECT count(*) FROM push_notification WHERE "
                                           "json_extract(data, '$.taskId') <> task_id"),
                                 0);
                (void)sqlite3_close(db);
        }
}

static const char *const orphan_sql =
        "SELECT (SELECT count(*) FROM event e WHERE NOT EXISTS (SELECT 1 FROM session s WHERE "
        "s.id = e.session_id AND s.user_id = e.user_id)) + (SELECT count(*) FROM task t WHERE "
        "NOT EXISTS (SELECT 1 FROM session s WHERE s.id = t.session_id)) + (SELECT count(*) FROM "
        "push_notification p WHERE NOT EXISTS (SELECT 1 FROM task t WHERE t.id = p.task_id))";

static const char *const orphan_lg_sql =
        "SELECT (SELECT count(*) FROM lg_checkpoint c WHERE NOT EXISTS (SELECT 1 FROM session s "
        "WHERE s.id = c.thread_id AND s.user_id = c.user_id)) + (SELECT count(*) FROM "
        "lg_checkpoint_write w WHERE NOT EXISTS (SELECT 1 FROM lg_checkpoint c WHERE c.user_id = "
        "w.user_id AND c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns AND "
        "c.checkpoint_id = w.checkpoint_id)) + (SELECT count(*) FROM crewai_agent_memory c WHERE "
        "NOT EXISTS (SELECT 1 FROM session s WHERE s.id = c.thread_id AND s.user_id = "
        "c.user_id)) + (SELECT count(*) FROM crewai_flow_state c WHERE NOT EXISTS (SELECT 1 FROM "
        "session s WHERE s.id = c.thread_id AND s.user_id = c.user_id))";

static void test_orphans(void **state)
{
        size_t g;

        (void)state;
        for (g = 0; g < N_GENS; g++) {
                sqlite3 *db = open_ro(gens[g].path);
                int64_t n = q_int(db, "%s", orphan_sql);

                assert_true(q_int(db, "SELECT count(*) FROM event e WHERE NOT EXISTS (SELECT 1 "
                                      "FROM session s WHERE s.id = e.session_id AND s.user_id = "
                                      "e.user_id)") > 0);
                assert_true(q_int(db, "SELECT count(*) FROM task t WHERE NOT EXISTS (SELECT 1 "
                                      "FROM session s WHERE s.id = t.session_id)") > 0);
                assert_true(q_int(db, "SELECT count(*) FROM push_notification p WHERE NOT EXISTS "
                                      "(SELECT 1 FROM task t WHERE t.id = p.task_id)") > 0);
                if (gens[g].layout != DATAGEN_LAYOUT_V05) {
                        n += q_int(db, "%s", orphan_lg_sql);
                        assert_true(q_int(db, "SELECT count(*) FROM lg_checkpoint c WHERE NOT "
                                              "EXISTS (SELECT 1 FROM session s WHERE s.id = "
                                              "c.thread_id AND s.user_id = c.user_id)") > 0);
                        assert_true(q_int(db, "SELECT count(*) FROM lg_checkpoint_write w WHERE "
                                              "NOT EXISTS (SELECT 1 FROM lg_checkpoint c WHERE "
                                              "c.user_id = w.user_id AND c.thread_id = "
                                              "w.thread_id AND c.checkpoint_ns = w.checkpoint_ns "
                                              "AND c.checkpoint_id = w.checkpoint_id)") > 0);
                        assert_true(q_int(db, "SELECT count(*) FROM crewai_agent_memory c WHERE "
                                              "NOT EXISTS (SELECT 1 FROM session s WHERE s.id = "
                                              "c.thread_id AND s.user_id = c.user_id)") > 0);
                        assert_true(q_int(db, "SELECT count(*) FROM crewai_flow_state c WHERE "
                                              "NOT EXISTS (SELECT 1 FROM session s WHERE s.id = "
                                              "c.thread_id AND s.user_id = c.user_id)") > 0);
                }
                assert_true(n == (int64_t)gens[g].stats.orphan_rows);
                /* Some orphans are older than any activeWindow, some are not. */
                assert_true(q_int(db,
                                  "SELECT count(*) FROM event e WHERE NOT EXISTS (SELECT 1 "
                                  "FROM session s WHERE s.id = e.session_id) AND "
                                  "julianday(created_at) < %f - 1",
                                  NOW_MS / 86400000.0 + 2440587.5) > 0);
                (void)sqlite3_close(db);
        }
}

static void test_soft_deleted(void **state)
{
        double now_jd = NOW_MS / 86400000.0 + 2440587.5;
        size_t g, i;

        (void)state;
        for (g = 0; g < N_GENS; g++) {
                sqlite3 *db = open_ro(gens[g].path);
                int64_t total = 0;

                for (i = 0; i < sizeof(prunable) / sizeof(prunable[0]); i++) {
                        if (!has_table(db, prunable[i]))
                                continue;
                        if (q_int(db, "SELECT count(*) FROM `%s` WHERE deleted_at IS NOT NULL",
                                  prunable[i]) == 0)
                                fail_msg("layout %d: no soft-deleted row in %s", gens[g].layout,
                                         prunable[i]);
                        /* Deleted long ago (past a 7d purge) and recently (not yet). */
                        if (q_int(db,
                                  "SELECT count(*) FROM `%s` WHERE julianday(deleted_at) < "
                                  "%f - 7",
                                  prunable[i], now_jd) == 0)
                                fail_msg("layout %d: no old soft delete in %s", gens[g].layout,
                                         prunable[i]);
                        if (q_int(db,
                                  "SELECT count(*) FROM `%s` WHERE julianday(deleted_at) > "
                                  "%f - 7",
                                  prunable[i], now_jd) == 0)
                                fail_msg("layout %d: no recent soft delete in %s", gens[g].layout,
                                         prunable[i]);
                }
                for (i = 0; i < 12; i++) {
                        static const char *const all[] = {
                                "session",
                                "event",
                                "task",
                                "push_notification",
                                "feedback",
                                "lg_checkpoint",
                                "lg_checkpoint_write",
                                "crewai_agent_memory",
                                "crewai_flow_state",
                                "agent",
                                "tool",
                                "toolserver",
                        };

                        if (has_table(db, all[i]))
                                total += q_int(db,
                                               "SELECT count(*) FROM `%s` WHERE deleted_at "
                                               "IS NOT NULL",
                                               all[i]);
                }
                assert_true(total == (int64_t)gens[g].stats.soft_deleted_rows);
                /* The caches have soft-deleted rows too (which retention must never purge). */
                assert_true(q_int(db, "SELECT count(*) FROM agent WHERE deleted_at IS NOT NULL") >
                            0);
                assert_true(q_int(db, "SELECT count(*) FROM tool WHERE deleted_at IS NOT NULL") >
                            0);
                /* Soft-deleted sessions keep their children (kagent soft-deletes only the row). */
                assert_true(q_int(db, "SELECT count(*) FROM session s WHERE deleted_at IS NOT "
                                      "NULL AND EXISTS (SELECT 1 FROM event e WHERE e.session_id "
                                      "= s.id AND e.user_id = s.user_id)") > 0);
                assert_true(q_int(db, "SELECT count(*) FROM session s WHERE deleted_at IS NOT "
                                      "NULL AND EXISTS (SELECT 1 FROM task t WHERE t.session_id "
                                      "= s.id)") > 0);
                /* deleted_at never precedes the row's creation. */
                assert_int_equal(q_int(db, "SELECT count(*) FROM session WHERE "
                                           "julianday(deleted_at) < julianday(created_at)"),
                                 0);
                (void)sqlite3_close(db);
        }
}

static void test_null_timestamps(void **state)
{
        size_t g, i;

        (void)state;
        for (g = 0; g < N_GENS; g++) {
                sqlite3 *db = open_ro(gens[g].path);
                int64_t total = 0;

                for (i = 0; i < sizeof(prunable) / sizeof(prunable[0]); i++) {
                        int64_t n;

                        if (!has_table(db, prunable[i]))
                                continue;
                        n = q_int(db,
                                  "SELECT count(*) FROM `%s` WHERE created_at IS NULL OR "
                                  "updated_at IS NULL",
                                  prunable[i]);
                        if (n == 0)
                                fail_msg("layout %d: no NULL timestamp in %s", gens[g].layout,
                                         prunable[i]);
                        total += n;
                }
                assert_true(total == (int64_t)gens[g].stats.null_time_rows);
                assert_true(total * 50 < (int64_t)(gens[g].stats.events + gens[g].stats.tasks));
                (void)sqlite3_close(db);
        }
}

/* Users, agents, sessions shared by users, activity spread, checkpoint chains. */
static void test_realism(void **state)
{
        double now_jd = NOW_MS / 86400000.0 + 2440587.5;
        sqlite3 *db = open_ro(gens[0].path);

        (void)state;
        assert_true(q_int(db, "SELECT count(*) FROM session WHERE user_id = "
                              "'admin@kagent.dev'") > 0);
        assert_true(q_int(db, "SELECT count(*) FROM session WHERE user_id = "
                              "'A2A_USER_' || id") > 0);
        assert_true(q_int(db, "SELECT count(*) FROM session WHERE user_id = "
                              "'alice@example.com'") > 0);
        assert_true(q_int(db, "SELECT count(*) FROM session WHERE agent_id GLOB "
                              "'*__NS__*'") > 0);
        assert_true(q_int(db, "SELECT count(*) FROM session WHERE id GLOB '[0-9a-f][0-9a-f]"
                              "[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-*'") ==
                    q_int(db, "SELECT count(*) FROM session"));
        assert_true(gens[0].stats.shared_session_ids > 0);
        assert_true(q_int(db, "SELECT count(*) FROM (SELECT id FROM session GROUP BY id HAVING "
                              "count(*) > 1)") == (int64_t)gens[0].stats.shared_session_ids);
        /* Activity within the last 30 minutes, days ago, and weeks ago. */
        assert_true(q_int(db,
                          "SELECT count(DISTINCT session_id) FROM event WHERE "
                          "julianday(created_at) > %f - 30.0 / 1440",
                          now_jd) > 0);
        assert_true(q_int(db,
                          "SELECT count(*) FROM (SELECT session_id, max(julianday(created_at))"
                          " m FROM event GROUP BY session_id) WHERE m < %f - 14",
                          now_jd) > 0);
        assert_true(q_int(db, "SELECT count(*) FROM event WHERE julianday(created_at) < %f - 30",
                          now_jd) == 0);
        /* Event payloads are ADK events of about 0.5-8 KB. */
        assert_true(q_int(db, "SELECT count(*) FROM event WHERE length(data) < 500 OR "
                              "length(data) > 9000") == 0);
        assert_true(q_int(db, "SELECT count(*) FROM event WHERE json_extract(data, "
                              "'$.content.parts[0].function_call.name') IS NOT NULL") > 0);
        assert_true(q_int(db, "SELECT count(*) FROM event WHERE json_extract(data, "
                              "'$.content.parts[0].function_response.id') IS NOT NULL") > 0);
        assert_true(q_int(db, "SELECT count(DISTINCT json_extract(data, '$.author')) FROM "
                              "event") > 2);
        /* Checkpoint chains: ids sort by time, parents link within the thread. */
        assert_int_equal(q_int(db, "SELECT count(*) FROM (SELECT created_at, lag(created_at) "
                                   "OVER (PARTITION BY user_id, thread_id, checkpoint_ns ORDER "
                                   "BY checkpoint_id) p FROM lg_checkpoint) WHERE "
                                   "julianday(created_at) < julianday(p)"),
                         0);
        assert_true(q_int(db, "SELECT count(*) FROM lg_checkpoint c JOIN lg_checkpoint p ON "
                              "p.user_id = c.user_id AND p.thread_id = c.thread_id AND "
                              "p.checkpoint_ns = c.checkpoint_ns AND p.checkpoint_id = "
                              "c.parent_checkpoint_id AND p.checkpoint_id < c.checkpoint_id") > 0);
        assert_true(q_int(db, "SELECT count(*) FROM lg_checkpoint WHERE checkpoint_ns <> ''") > 0);
        assert_int_equal(q_int(db, "SELECT count(*) FROM lg_checkpoint WHERE checkpoint_type <> "
                                   "'msgpack' OR checkpoint_id NOT GLOB '1[0-9a-f]*-*-6*'"),
                         0);
        assert_true(q_int(db, "SELECT min(n) FROM (SELECT count(*) n FROM lg_checkpoint_write "
                              "GROUP BY user_id, thread_id, checkpoint_ns, checkpoint_id)") >= 1);
        assert_true(q_int(db, "SELECT count(*) FROM (SELECT 1 FROM lg_checkpoint_write GROUP BY "
                              "user_id, thread_id, checkpoint_ns, checkpoint_id HAVING count(*) > "
                              "1)") > 0);
        /* Metadata is base64 of JSON. */
        assert_true(q_int(db, "SELECT count(*) FROM lg_checkpoint WHERE metadata GLOB 'eyJ*'") ==
                    q_int(db, "SELECT count(*) FROM lg_checkpoint"));
        assert_true(q_int(db, "SELECT count(*) FROM feedback WHERE is_positive = 0 AND "
                              "issue_type IS NOT NULL") > 0);
        assert_true(q_int(db, "SELECT count(*) FROM agent WHERE typeof(config) = 'blob'") > 0);
        (void)sqlite3_close(db);
}

static void test_integrity_and_journal(void **state)
{
        size_t g;

        (void)state;
        for (g = 0; g < N_GENS; g++) {
                sqlite3 *db = open_ro(gens[g].path);
                sqlite3_stmt *st = NULL;
                char side[TEST_PATH_MAX + 16];

                assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
                                 SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
                (void)sqlite3_finalize(st);
                assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
                                 SQLITE_OK);
                assert_int_equal(sqlite3_step(st), SQLITE_ROW);
                assert_string_equal((const char *)sqlite3_column_text(st, 0),
                                    gens[g].layout == DATAGEN_LAYOUT_TURSO ? "wal" : "delete");
                (void)sqlite3_finalize(st);
                (void)sqlite3_close(db);
                (void)snprintf(side, sizeof(side), "%s-journal", gens[g].path);
                assert_int_equal(access(side, F_OK), -1);
        }
}

static void test_size_target(void **state)
{
        struct datagen_opts o;
        struct datagen_stats s;
        struct errbuf err = { 0 };
        char path[TEST_PATH_MAX];
        struct stat sb;
        uint64_t target = UINT64_C(6) << 20;

        (void)state;
        path_in_tmp(path, sizeof(path), "size.db");
        small_opts(&o, path, DATAGEN_LAYOUT_GORM, 5);
        o.sessions = 10;
        o.size_target_bytes = target;
        assert_int_equal(datagen_write(&o, &s, &err), 0);
        assert_int_equal(stat(path, &sb), 0);
        assert_true((uint64_t)sb.st_size == s.file_bytes);
        assert_true(s.file_bytes >= target * 85 / 100 && s.file_bytes <= target * 115 / 100);
        assert_true(s.sessions > 10); /* history was added */
        (void)unlink(path);
}

static void test_refuses_existing(void **state)
{
        struct datagen_opts o;
        struct datagen_stats s;
        struct errbuf err = { 0 };
        char path[TEST_PATH_MAX];
        char *content;
        FILE *f;

        (void)state;
        path_in_tmp(path, sizeof(path), "exists.db");
        f = fopen(path, "w");
        assert_non_null(f);
        assert_true(fputs("not a database", f) >= 0);
        assert_int_equal(fclose(f), 0);
        small_opts(&o, path, DATAGEN_LAYOUT_GORM, 1);
        memset(&s, 0x5a, sizeof(s));
        assert_int_equal(datagen_write(&o, &s, &err), -EEXIST);
        assert_int_equal(err.code, -EEXIST);
        assert_non_null(strstr(err.msg, "exists.db"));
        assert_true(s.events == UINT64_C(0x5a5a5a5a5a5a5a5a)); /* untouched */
        content = read_file(path);
        assert_non_null(content);
        assert_string_equal(content, "not a database");
        free(content);
        (void)unlink(path);
}

static void test_invalid_opts(void **state)
{
        struct datagen_opts o;
        struct errbuf err = { 0 };
        char path[TEST_PATH_MAX];

        (void)state;
        path_in_tmp(path, sizeof(path), "invalid.db");
        datagen_opts_init(&o);
        assert_null(o.path);
        assert_int_equal(o.sessions, 200);
        assert_int_equal(o.days, 30);
        assert_int_equal(o.events_per_session, 40);
        assert_true(o.seed == 1);
        assert_int_equal(datagen_write(&o, NULL, &err), -EINVAL);
        o.path = path;
        o.days = 0;
        assert_int_equal(datagen_write(&o, NULL, &err), -EINVAL);
        assert_int_equal(err.code, -EINVAL);
        assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_time),
                cmocka_unit_test(test_stored_times),
                cmocka_unit_test(test_schema_equals_file),
                cmocka_unit_test(test_schema_v05),
                cmocka_unit_test(test_determinism),
                cmocka_unit_test(test_counts_match_stats),
                cmocka_unit_test(test_task_states),
                cmocka_unit_test(test_orphans),
                cmocka_unit_test(test_soft_deleted),
                cmocka_unit_test(test_null_timestamps),
                cmocka_unit_test(test_realism),
                cmocka_unit_test(test_integrity_and_journal),
                cmocka_unit_test(test_size_target),
                cmocka_unit_test(test_refuses_existing),
                cmocka_unit_test(test_invalid_opts),
        };

        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
