/* SPDX-License-Identifier: Apache-2.0 */
#ifndef STORE_STORE_H
#define STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct errbuf;

/*
 * Access to a kagent database, SQLite or PostgreSQL, behind one ops table. The store knows
 * kagent's schema variants and the SQL of every retention rule; it knows nothing of Kubernetes
 * or of policies. A prune is driven in two steps per rule:
 *   store_plan()          reads the database in short statements and records the candidate rows
 *                         (children before parents) in connection-private scratch space;
 *   store_delete_batch()  deletes the next candidates in one short write transaction, after
 *                         re-checking inside that transaction that each session is still
 *                         inactive and each row still qualifies.
 * A store is used by one thread at a time.
 */

enum store_type {
        STORE_SQLITE = 0,
        STORE_POSTGRES,
};

/* kagent tables the rules touch, children before parents where order matters. */
enum store_table {
        STORE_T_EVENT = 0,
        STORE_T_CHECKPOINT_WRITE,
        STORE_T_CHECKPOINT,
        STORE_T_CREWAI_MEMORY,
        STORE_T_CREWAI_FLOW,
        STORE_T_SESSION_SHARE,
        STORE_T_PUSH,
        STORE_T_TASK,
        STORE_T_FEEDBACK,
        STORE_T_SESSION,
        STORE_T_COUNT,
};

enum store_rule {
        STORE_RULE_SESSIONS = 0,  /* sessions.expireAfter (and the idleSessions step) */
        STORE_RULE_SOFT_DELETED,  /* softDeleted.purgeAfter */
        STORE_RULE_TASKS,         /* tasks.finishedAfter */
        STORE_RULE_CHECKPOINTS,   /* checkpoints.keepLatestPerThread + minAge */
        STORE_RULE_EVENTS,        /* events.maxAge + keepLastPerSession */
        STORE_RULE_CREWAI_MEMORY, /* crewai.memoryMaxAge */
        STORE_RULE_CREWAI_FLOW,   /* crewai.flowStateMaxAge */
        STORE_RULE_ORPHANS,       /* orphans.enabled */
        STORE_RULE_COUNT,
};

/* Detected schema flavour (status.database.schema). */
enum store_schema {
        STORE_SCHEMA_UNKNOWN = 0,
        STORE_SCHEMA_GORM_SQLITE,
        STORE_SCHEMA_TURSO_SQLITE,
        STORE_SCHEMA_GORM_POSTGRES,
        STORE_SCHEMA_MIGRATE_POSTGRES,
};

struct store_config {
        enum store_type type;
        const char *sqlite_path;  /* SQLite database file */
        const char *postgres_url; /* libpq connection URL or keyword string */
        int busy_timeout_ms;      /* SQLite busy timeout (default 5000 when 0) */
        bool read_only;           /* never write (report, monitor-only) */
};

/* What the store found when it opened the database. */
struct store_info {
        enum store_type type;
        enum store_schema schema;
        char schema_version[32];       /* migrate-postgres version, else "" */
        bool has_table[STORE_T_COUNT]; /* tables present in this kagent version */
        bool task_has_user_id;         /* task.user_id (migrate v7+) */
        bool writable;                 /* deletes are allowed now */
        char not_writable_reason[160]; /* why not, when !writable */
        char engine_version[32];       /* "sqlite 3.40.1", "postgres 15.18" */
};

#define STORE_TABLES_MAX 64

struct store_table_usage {
        char name[64];
        int64_t rows;      /* -1 when not counted; PostgreSQL: n_live_tup (an estimate) */
        int64_t bytes;     /* pages used (SQLite dbstat or estimate) or pg_total_relation_size */
        int64_t dead_rows; /* PostgreSQL: n_dead_tup (not yet vacuumed); SQLite: 0 */
};

struct store_usage {
        /* SQLite files; 0 when absent. Postgres: db_bytes = pg_database_size. */
        int64_t main_bytes, wal_bytes, shm_bytes, journal_bytes;
        int64_t db_bytes; /* sum of the files (SQLite) or pg_database_size */
        int64_t page_size, page_count, freelist_count;
        int64_t free_bytes;    /* freelist_count * page_size */
        char journal_mode[16]; /* delete | wal | ... */
        char auto_vacuum[16];  /* none | full | incremental */
        bool tables_exact;     /* per-table bytes from dbstat (true) or estimated */
        struct store_table_usage tables[STORE_TABLES_MAX]; /* largest first */
        size_t n_tables;
};

/* Parameters of one rule's plan. Times are wall-clock milliseconds since the epoch. */
struct store_rule_params {
        enum store_rule rule;
        int64_t now_ms;
        int64_t active_cutoff_ms;     /* data of sessions active after this is never touched */
        int64_t age_cutoff_ms;        /* the rule's age: rows older than this qualify */
        int64_t unfinished_cutoff_ms; /* sessions: non-terminal tasks updated after this keep
                                         the session ("unfinished") */
        int64_t keep;             /* checkpoints: keep newest N per thread; events: per session */
        int64_t max_sessions;     /* sessions: plan at most this many (oldest first); 0 = all */
        int64_t deadline_mono_ms; /* stop planning with -ETIMEDOUT after this; 0 = none */
        const volatile int *stop; /* stop planning with -ECANCELED once *stop != 0; may be NULL */
        int64_t read_budget_ms;   /* target duration of each read statement */
        bool dry_run;             /* the plan is all the run does: count bytes too (else a store
                                     may leave them at 0 where its deletes measure them) */
};

struct store_count {
        int64_t rows;
        int64_t bytes;
};

struct store_plan_result {
        struct store_count tables[STORE_T_COUNT];
        int64_t rows;        /* total */
        int64_t units;       /* sessions / tasks / rows planned as deletion units */
        int64_t statements;  /* read statements issued */
        int64_t max_read_ms; /* longest read statement */
};

struct store_batch_result {
        struct store_count tables[STORE_T_COUNT];
        int64_t rows;          /* rows deleted */
        int64_t skipped_units; /* units dropped by the in-transaction re-check */
        int64_t txn_us;        /* BEGIN IMMEDIATE .. COMMIT */
        int64_t wait_us;       /* part of txn_us spent waiting for the write lock */
        bool done;             /* no candidates left */
};

struct store;

/* Open a database. Returns 0 and a new store in '*out', or a negative errno. */
int store_open(const struct store_config *cfg, struct store **out, struct errbuf *err);
/* Close and free. Accepts NULL. */
void store_close(struct store *s);

/* Borrowed until the store is closed. */
const struct store_info *store_info(const struct store *s);

/*
 * Re-evaluate whether deletes are allowed now (SQLite written by the Turso engine: only while an
 * exclusive flock on the file succeeds; the lock is then held until store_writer_release()).
 * Returns 1 when writable, 0 when not (reason in store_info()), or a negative errno.
 */
int store_writer_acquire(struct store *s, struct errbuf *err);
void store_writer_release(struct store *s);

/* Measure files, pages and (when 'per_table') every table's rows and bytes. */
int store_measure(struct store *s, bool per_table, struct store_usage *out, struct errbuf *err);

/* Forget all candidates and cached activity (start of a run). */
int store_run_begin(struct store *s, struct errbuf *err);

/*
 * Plan one rule: record its candidate rows after those already planned (rows planned by
 * earlier rules of this run are never counted twice). Fills 'out' with what would be deleted.
 */
int store_plan(struct store *s, const struct store_rule_params *p, struct store_plan_result *out,
               struct errbuf *err);

/*
 * Delete up to 'max_rows' planned rows in one write transaction. Returns 0 and fills 'out';
 * -EBUSY when the lock could not be had within the busy timeout (nothing deleted), -EROFS when
 * deletes are not allowed, -ENOSPC when the volume is full, other negative errno on failure
 * (the transaction is rolled back).
 */
int store_delete_batch(struct store *s, int64_t max_rows, struct store_batch_result *out,
                       struct errbuf *err);

/* Drop the remaining planned candidates (a run stopped early). */
int store_plan_discard(struct store *s, struct errbuf *err);

/*
 * True when another connection committed since the last call (SQLite: PRAGMA data_version;
 * PostgreSQL: transaction ids others used, or true when it cannot tell). The engine paces
 * SQLite batches by it; the PostgreSQL store commits synchronously while others write.
 */
bool store_others_wrote(struct store *s);

/*
 * Whether another process may be waiting for the database lock, asked between batches while
 * nobody commits (SQLite): 1 when another process read the database file since the last call
 * (a writer in its busy handler reads the file's change counter at every retry), 0 when nobody
 * did, -1 when this store cannot tell (PostgreSQL; SQLite in WAL mode, without inotify, or
 * while its own reads do not all go through the run's memory map).
 */
int store_others_waiting(struct store *s);

/* kagent counts as writing while another connection committed within this long. */
#define STORE_WRITERS_RECENT_MS 2000

/*
 * PostgreSQL: an ANALYZE counts itself before its transaction commits, and its transaction id
 * shows only at the commit; the count explains one such id for this long after it was seen.
 */
#define STORE_ANALYZE_CREDIT_MS 1000

enum store_reclaim_mode {
        STORE_RECLAIM_AUTO = 0,    /* incremental_vacuum where enabled; VACUUM only with room */
        STORE_RECLAIM_INCREMENTAL, /* also convert to auto_vacuum=INCREMENTAL once, with room */
        STORE_RECLAIM_VACUUM,      /* VACUUM after a run that freed > 10% of the file */
        STORE_RECLAIM_NONE,
};

struct store_reclaim_params {
        enum store_reclaim_mode mode;
        int64_t deleted_rows[STORE_T_COUNT]; /* what the run deleted, per table */
        int64_t volume_free_bytes;           /* free space on the database's volume; -1 unknown */
        int64_t writers_idle_ms;             /* time since another connection last committed;
                                                -1 unknown (a full VACUUM needs kagent idle) */
        int64_t max_ms;                      /* stop incremental work after this long; 0 = none */
        int64_t step_pause_ms;               /* pause between incremental steps */
        const volatile int *stop;            /* stop request, may be NULL */
};

struct store_reclaim_result {
        int64_t reclaimed_bytes; /* the database files shrank by this much */
        char action[96];         /* what was done: "incremental_vacuum", "VACUUM (ANALYZE) event",
                                    "none: ..." */
};

/*
 * Give space back after a prune, per the mode (SQLite: free pages to the file system;
 * PostgreSQL: VACUUM (ANALYZE) of the tables the run touched, never VACUUM FULL). Returns 0 and
 * fills 'out' (also when nothing was done, with the reason in 'action'), or a negative errno.
 */
int store_reclaim(struct store *s, const struct store_reclaim_params *p,
                  struct store_reclaim_result *out, struct errbuf *err);

/*
 * Between runs: give back the memory a run left behind (planning tables, statement and page
 * caches). The next run re-creates what it needs. Never fails: at worst nothing is freed.
 */
void store_release(struct store *s);

/* Run ANALYZE-free integrity check ("quick_check"). Returns 0 when ok, -EIO when not. */
int store_check(struct store *s, struct errbuf *err);

const char *store_table_name(enum store_table t);
const char *store_rule_name(enum store_rule r);
const char *store_schema_name(enum store_schema s);
const char *store_type_name(enum store_type t);

/*
 * Copy a libpq connection string (URL or keyword/value), or a message that may quote one, into
 * 'out' with every password replaced by "***": the URL's user info password and the value of
 * every parameter named *password (password, sslpassword). Always NUL-terminated, truncated to
 * 'size'. Returns 'out'. Thread-safe.
 */
const char *store_conninfo_redact(const char *in, char *out, size_t size);

#endif
