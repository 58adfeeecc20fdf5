/* SPDX-License-Identifier: Apache-2.0 */
#ifndef STORE_SQLITE_INTERNAL_H
#define STORE_SQLITE_INTERNAL_H

#include <stdint.h>

#include <sqlite3.h>

#include "base/buf.h"
#include "store/internal.h"

/* Statements of a whole-session delete (enum sess_del in sqlite_delete.c). */
#define SQ_SESS_STMTS 9

/* Per-table facts from PRAGMA table_info. */
struct sq_table {
        bool present;
        bool has_deleted_at;
        bool has_created_at;
        bool has_updated_at;
        char *bytes_expr; /* payload bytes of one row, as an SQL expression over its columns */
};

struct sq {
        struct store base; /* first member: the store handle points here */
        sqlite3 *db;
        char *path;
        bool read_only;
        int busy_timeout_ms;
        int lock_fd;     /* descriptor for the flock probe, -1 when not open */
        bool flock_held; /* exclusive flock taken by store_writer_acquire */
        struct sq_table t[STORE_T_COUNT];
        bool has_dbstat;
        bool run_tuned;       /* the run settings are on (sq_run_tune()) */
        bool run_mmap;        /* reads go through the memory map */
        bool foreign_pending; /* another connection committed since sq_others_wrote() looked */
        bool journal_persist; /* we switched journal_mode DELETE -> PERSIST for the run */
        bool map_dropped;     /* a foreign commit ended the run's map (it may come back) */
        bool map_covers;      /* the whole file lies within the run's map */
        int watch_fd;         /* inotify watch of the database file during a run, or -1 */
        bool waiting_seen;    /* another process read the file since sq_others_waiting() */
        bool foreign_write;   /* another process wrote the file since sq_poll_writers() */
        bool spill_off;       /* batches keep their changes in memory (spill_policy()) */
        int64_t read_ms;      /* monotonic time another process last read the file, or 0 */
        int64_t foreign_ms;   /* monotonic time another connection's commit was last seen */

        /* Run state. */
        bool temp_used;           /* the temp tables were filled since the last sq_release */
        bool act_ready;           /* temp.kr_act holds this run's session activity */
        int64_t w_event;          /* rowid watermark: newer events have a larger rowid */
        int64_t w_checkpoint;     /* same for lg_checkpoint */
        double recheck_cut_jd;    /* a session counts as active after this instant */
        double cur_rule_age_jd;   /* the planned rule's age cutoff (soft-delete re-check) */
        sqlite3_stmt *recheck[2]; /* session activity re-check: one user / every user */
        /* Whole-session deletes (sqlite_delete.c): prepared on first use, kept while open. */
        sqlite3_stmt *sess_del[SQ_SESS_STMTS];
        bool sess_del_ready;
        int64_t cursor;                     /* last candidate seq consumed by delete_batch */
        bool sess_pending;                  /* temp.kr_sess holds whole sessions still to delete */
        int64_t sess_cursor;                /* last kr_sess seq done (deleted or skipped) */
        int64_t data_version;               /* last PRAGMA data_version seen */
        int64_t plan_dv;                    /* data_version as the plan began reading, or -1 */
        int64_t read_budget_ms;             /* target duration of one read statement */
        int64_t deadline_mono_ms;           /* plan deadline, 0 = none */
        const volatile int *stop;           /* plan stop request, may be NULL */
        struct store_plan_result *plan_out; /* accumulating plan statistics */
};

static inline struct sq *sq_of(struct store *s)
{
        return (struct sq *)s;
}

/* Map an SQLite result code to a negative errno and describe it in 'err'. */
int sq_fail(struct sq *q, int rc, struct errbuf *err, const char *what);
/* Prepare; on failure fill 'err'. */
int sq_prepare(struct sq *q, const char *sql, sqlite3_stmt **out, struct errbuf *err);
/* Run SQL without results. */
int sq_exec(struct sq *q, const char *sql, struct errbuf *err);
/* Run a one-value integer query. */
int sq_int(struct sq *q, const char *sql, int64_t *out, struct errbuf *err);
/* Step a statement to completion; returns 0 or a negative errno. */
int sq_step_done(struct sq *q, sqlite3_stmt *st, struct errbuf *err, const char *what);

/* Julian day number of a wall-clock millisecond timestamp. */
static inline double sq_jd(int64_t ms)
{
        return (double)ms / 86400000.0 + 2440587.5;
}

/*
 * Look at PRAGMA data_version (sqlite.c): another connection's commit is kept for the pacing
 * signal and ends the run's memory map (before the read, when the watch saw the file written).
 * During a run, also decides whether batches may spill their changes into the file.
 */
void sq_poll_writers(struct sq *q);

/* After a commit of our own: its writes to the file are not another connection's. */
void sq_note_commit(struct sq *q);

/*
 * Has another process read the database file since sq_others_waiting() last looked (a writer
 * waiting for our transaction)? False whenever that cannot be told (sqlite.c).
 */
bool sq_waiting_now(struct sq *q);

/* Planning (sqlite_plan.c). */
int sq_plan(struct store *s, const struct store_rule_params *p, struct store_plan_result *out,
            struct errbuf *err);
int sq_temp_setup(struct sq *q, struct errbuf *err);
/*
 * Turn what is left of a per-session plan (temp.kr_sess: a dry run, a run that stopped) into
 * candidate rows, so the next rule's plan never counts those rows twice.
 */
int sq_sessions_materialize(struct sq *q, struct errbuf *err);

/* Reclaiming space (sqlite_reclaim.c). */
int sq_reclaim(struct store *s, const struct store_reclaim_params *p,
               struct store_reclaim_result *out, struct errbuf *err);

/* Deleting (sqlite_delete.c). */
int sq_delete_batch(struct store *s, int64_t max_rows, struct store_batch_result *out,
                    struct errbuf *err);
/* One batch of whole sessions from temp.kr_sess (the sessions rule planned per session). */
int sq_delete_sessions(struct sq *q, int64_t max_rows, struct store_batch_result *out,
                       struct errbuf *err);
/* Finalize the cached whole-session delete statements. */
void sq_sessions_forget(struct sq *q);

#endif
