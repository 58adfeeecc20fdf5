/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_TESTDB_H
#define TESTS_TESTDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store/store.h"

/*
 * Test fixture: a fresh kagent database on any backend, built from the schemas kept in
 * tests/data/kagent/ exactly, with rows inserted the way kagent writes them, and one SQL
 * dialect for the assertions (what SQLite and PostgreSQL both accept).
 *   KDB_SQLITE       schema-sqlite.sql (GORM era, kagent v0.5-v0.7.23), text timestamps
 *   KDB_PG_MIGRATE   schema-postgres.sql without its pgvector part (golang-migrate, v0.9+)
 *   KDB_PG_GORM      schema-postgres-gorm.sql (GORM AutoMigrate on PostgreSQL, v0.8)
 * PostgreSQL databases are created on the server named by the file in $KR_PG_URL_FILE (the
 * test fixture server of tests/integration/postgres/pg_server.sh) and dropped by kdb_free().
 * Every helper aborts the test on failure.
 */

enum kdb_backend {
        KDB_SQLITE = 0,
        KDB_PG_MIGRATE,
        KDB_PG_GORM,
        KDB_BACKENDS,
};

#define KDB_NOW_MS 1790000000000LL /* fixed "now" of the tests: 2026-09-21 */
#define MIN_MS     (60LL * 1000)
#define HOUR_MS    (60 * MIN_MS)
#define DAY_MS     (24 * HOUR_MS)

struct kdb;

/* A fresh database; without LangGraph the checkpoint and CrewAI tables are dropped (v0.5). */
struct kdb *kdb_create(enum kdb_backend b, int with_langgraph);
/* Close and delete the database. Accepts NULL. */
void kdb_free(struct kdb *k);
enum kdb_backend kdb_backend(const struct kdb *k);
const char *kdb_backend_name(enum kdb_backend b);
/* Store settings that open this database (strings borrowed from 'k'). */
void kdb_store_config(const struct kdb *k, struct store_config *out);
/* The SQLite handle (KDB_SQLITE only), the database path or the connection URL. */
sqlite3 *kdb_sqlite(const struct kdb *k);
const char *kdb_path(const struct kdb *k);
const char *kdb_url(const struct kdb *k);
/* The server's URL for administration (PostgreSQL backends), from $KR_PG_URL_FILE. */
const char *kdb_pg_server_url(void);

/* Formats are sqlite3_mprintf()'s (%q, %Q). Execute SQL; aborts the test on error. */
void kdb_exec(struct kdb *k, const char *fmt, ...);
/* Single integer query (0 when no row). */
int64_t kdb_int(struct kdb *k, const char *fmt, ...);
/* Concatenate a one-column query's values, "a,b,c" in query order, into 'out'. */
const char *kdb_list(struct kdb *k, char *out, size_t size, const char *fmt, ...);
/* The database passes the engine's integrity check (SQLite integrity_check; PostgreSQL: the
 * primary keys are still unique, read through their indexes). */
bool kdb_intact(struct kdb *k);

/* Go layout "2006-01-02 15:04:05.999999999-07:00" of KDB_NOW_MS - ago_ms; "" for NULL. */
const char *kdb_go(int64_t ago_ms, char *out, size_t size);
/* RFC 3339 with nanoseconds and Z, as the Turso era writes. */
const char *kdb_rfc(int64_t ago_ms, char *out, size_t size);

/* Row helpers; ages are milliseconds before KDB_NOW_MS, -1 writes NULL. */
void kdb_session(struct kdb *k, const char *id, const char *user, int64_t created_ago,
                 int64_t updated_ago, int64_t deleted_ago);
void kdb_event(struct kdb *k, const char *id, const char *sid, const char *user,
               int64_t created_ago, int64_t deleted_ago);
/* A task; state NULL writes data that is not JSON. */
void kdb_task(struct kdb *k, const char *id, const char *sid, const char *state,
              int64_t updated_ago, int64_t deleted_ago);
void kdb_push(struct kdb *k, const char *id, const char *task_id, int64_t created_ago,
              int64_t deleted_ago);
void kdb_checkpoint(struct kdb *k, const char *user, const char *thread, const char *ns,
                    const char *cid, int64_t created_ago, int64_t deleted_ago);
void kdb_write(struct kdb *k, const char *user, const char *thread, const char *ns, const char *cid,
               int idx, int64_t created_ago);
void kdb_crewai(struct kdb *k, const char *table, const char *user, const char *thread,
                int64_t updated_ago, int64_t deleted_ago);

#endif
