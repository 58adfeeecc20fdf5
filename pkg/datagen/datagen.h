/* SPDX-License-Identifier: Apache-2.0 */
#ifndef DATAGEN_DATAGEN_H
#define DATAGEN_DATAGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct errbuf;
struct sqlite3;

/*
 * Writes a realistic kagent SQLite database with the exact schema kagent's GORM creates
 * (../shared/kagent/schema-sqlite.sql), for demos, tests and benchmarks. Deterministic for a
 * seed and a 'now'.
 *
 * Content: ADK / LangGraph / CrewAI conversations spread over 'days' (some active in the last
 * 30 minutes, most idle for days or weeks), rows inserted in creation order (rowid order =
 * created_at order). Every A2A task state (also TASK_STATE_COMPLETED/WORKING/FAILED), session
 * ids owned by several users, soft-deleted rows in every table (deleted more and less than 7
 * days ago; soft-deleted sessions keep their children), orphans of every kind (see
 * struct datagen_stats) and a few NULL created_at/updated_at. Each of these cases is forced to
 * exist from about 20 sessions up; smaller databases may miss some.
 */

enum datagen_layout {
        DATAGEN_LAYOUT_GORM = 0, /* v0.6.20-v0.7.18: modernc driver, Go time text
                                    "2006-01-02 15:04:05.999999999-07:00", journal DELETE */
        DATAGEN_LAYOUT_TURSO,    /* v0.7.19-v0.7.23: RFC 3339 nano text "...T...Z", WAL,
                                    plus the `memory` table */
        DATAGEN_LAYOUT_V05,      /* v0.5.x: no lg_* / crewai_* tables */
};

struct datagen_opts {
        const char *path; /* database file to create; must not exist */
        enum datagen_layout layout;
        uint32_t sessions;           /* sessions to create (default 200): conversations,
                                        counting extra owners of a shared id and those whose
                                        session row is missing (orphans) */
        uint32_t days;               /* history spread over this many days before 'now' (30) */
        uint64_t size_target_bytes;  /* if > 0, add events until the file is about this size */
        uint64_t seed;               /* PRNG seed (default 1) */
        int64_t now_ms;              /* wall clock "now" in ms since epoch; 0 = current time */
        uint32_t events_per_session; /* mean events per session (default 40) */
        bool quiet;
};

/*
 * What datagen_write() inserted, counted row by row. 'sessions' counts session rows (a session
 * id shared by several users counts once per user); conversations planned as orphans have no
 * session row. A row is an orphan when its direct parent row does not exist at all (a
 * soft-deleted parent still exists): event without session (id, user_id), task without any
 * session of its session_id, push_notification without its task, lg_checkpoint_write without
 * its checkpoint, lg_checkpoint / crewai_* without session (thread_id, user_id).
 */
struct datagen_stats {
        uint64_t sessions, events, tasks, push_notifications, feedback;
        uint64_t checkpoints, checkpoint_writes, crewai_memory, crewai_flow_state;
        uint64_t soft_deleted_rows; /* rows with deleted_at set, all tables */
        uint64_t orphan_rows;       /* child rows whose parent does not exist */
        uint64_t file_bytes;
        /* Added fields. */
        uint64_t agents, toolservers, tools; /* controller cache rows */
        uint64_t memories;                   /* `memory` rows (TURSO layout only) */
        uint64_t null_time_rows;     /* rows with created_at or updated_at NULL, all tables */
        uint64_t shared_session_ids; /* session ids owned by more than one user */
};

/* Fill 'o' with the defaults above ('path' NULL). */
void datagen_opts_init(struct datagen_opts *o);

/*
 * Create the database. Returns 0 and fills 'out' (may be NULL), or a negative errno:
 * -EEXIST when 'path' exists (nothing is touched), -EINVAL for bad options (NULL path, zero
 * days or events_per_session), -ENOMEM, -EIO for SQLite failures. A partly written file is
 * removed on failure. Not thread-safe with respect to the same path; otherwise reentrant.
 */
int datagen_write(const struct datagen_opts *o, struct datagen_stats *out, struct errbuf *err);

/*
 * Create kagent's tables and indexes in 'db' with statements byte-identical to what kagent
 * issues for 'layout' (GORM: schema-sqlite.sql without `memory`; TURSO: with `memory`; V05:
 * the v0.5 models). 'db' is borrowed and must not contain them yet. Returns 0, or -EIO with
 * SQLite's message in 'err'.
 */
int datagen_create_schema(struct sqlite3 *db, enum datagen_layout layout, struct errbuf *err);

/* Buffer size that holds any datagen_format_time*() result. */
#define DATAGEN_TIME_MAX 48

/*
 * Write the instant 'ms' (ms since the Unix epoch, UTC) into 'out' as kagent stores it:
 * GORM/V05 Go layout "2006-01-02 15:04:05.999999999-07:00" ("2025-11-03 10:15:30+00:00",
 * "2025-11-03 10:15:30.12+00:00"), TURSO RFC 3339 nano ("2026-02-27T10:15:30.123Z"); trailing
 * fraction zeros are cut like Go does, no fraction at all when it is zero. Truncated to 'size'
 * (DATAGEN_TIME_MAX always suffices). Returns 'out'. Thread-safe.
 */
const char *datagen_format_time(int64_t ms, enum datagen_layout layout, char *out, size_t size);
/* Same for nanoseconds since the epoch ("2025-11-03 10:15:30.123456789+00:00"). */
const char *datagen_format_time_ns(int64_t ns, enum datagen_layout layout, char *out, size_t size);

#endif
