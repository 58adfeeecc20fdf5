/* SPDX-License-Identifier: Apache-2.0 */
#ifndef TESTS_KDB_H
#define TESTS_KDB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

/*
 * Test fixture: kagent SQLite databases built from ../shared/kagent/schema-sqlite.sql exactly,
 * with rows inserted the way kagent's GORM writes them (text timestamps in Go's layout).
 */

#define KDB_NOW_MS 1790000000000LL /* fixed "now" of the tests: 2026-09-21 */
#define MIN_MS     (60LL * 1000)
#define HOUR_MS    (60 * MIN_MS)
#define DAY_MS     (24 * HOUR_MS)

/* Create a fresh database file at a temporary path (written into 'path'); returns the handle. */
sqlite3 *kdb_create(char *path, size_t size, int with_langgraph);
/* Go layout "2006-01-02 15:04:05.999999999-07:00" of KDB_NOW_MS - ago_ms; "" for NULL. */
const char *kdb_go(int64_t ago_ms, char *out, size_t size);
/* RFC 3339 with nanoseconds and Z, as the Turso era writes. */
const char *kdb_rfc(int64_t ago_ms, char *out, size_t size);
/* Formats are sqlite3_mprintf()'s (%q, %Q). Execute formatted SQL; aborts the test on error. */
void kdb_exec(sqlite3 *db, const char *fmt, ...);
/* Single integer query. */
int64_t kdb_int(sqlite3 *db, const char *fmt, ...);
/* Concatenate a one-column query's values, "a,b,c" in query order, into 'out'. */
const char *kdb_list(sqlite3 *db, char *out, size_t size, const char *fmt, ...);

/* Row helpers; ages are milliseconds before KDB_NOW_MS, -1 writes NULL. */
void kdb_session(sqlite3 *db, const char *id, const char *user, int64_t created_ago,
                 int64_t updated_ago, int64_t deleted_ago);
void kdb_event(sqlite3 *db, const char *id, const char *sid, const char *user, int64_t created_ago,
               int64_t deleted_ago);
void kdb_task(sqlite3 *db, const char *id, const char *sid, const char *state, int64_t updated_ago,
              int64_t deleted_ago);
void kdb_push(sqlite3 *db, const char *id, const char *task_id, int64_t created_ago,
              int64_t deleted_ago);
void kdb_checkpoint(sqlite3 *db, const char *user, const char *thread, const char *ns,
                    const char *cid, int64_t created_ago, int64_t deleted_ago);
void kdb_write(sqlite3 *db, const char *user, const char *thread, const char *ns, const char *cid,
               int idx, int64_t created_ago);
void kdb_crewai(sqlite3 *db, const char *table, const char *user, const char *thread,
                int64_t updated_ago, int64_t deleted_ago);

#endif
