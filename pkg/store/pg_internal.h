/* SPDX-License-Identifier: Apache-2.0 */
#ifndef STORE_PG_INTERNAL_H
#define STORE_PG_INTERNAL_H

#include <stdint.h>

#include "base/buf.h"
#include "store/internal.h"
#include "store/pqlib.h"

/*
 * Shared state of the PostgreSQL backend (postgres.c: connection, schema, lock, measure,
 * reclaim; postgres_plan.c: planning; postgres_delete.c: deleting).
 */

/* Session settings applied after every connect unless the connection string sets them. */
#define PG_LOCK_TIMEOUT_MS      500   /* waiting for a table or row lock */
#define PG_STATEMENT_TIMEOUT_MS 30000 /* any single statement */
#define PG_IDLE_TXN_TIMEOUT_MS  60000 /* the server ends a transaction we left open */
/*
 * A batch of whole sessions deletes with plain DELETEs under this lock_timeout (or the session's
 * own, when shorter): a row another transaction holds makes it fail fast, and the batch is redone
 * session by session with FOR UPDATE SKIP LOCKED, where a held row keeps its session.
 */
#define PG_FAST_LOCK_TIMEOUT_MS 20
/* kr_sess rows read ahead by the batches of whole sessions. */
#define PG_SESS_AHEAD        2048
#define PG_CONNECT_TIMEOUT_S "10"   /* libpq connect_timeout default */
#define PG_VACUUM_TIMEOUT_MS 600000 /* 10 minutes: one VACUUM of one table */

/*
 * The advisory lock that lets one pruner at a time delete (pg_try_advisory_lock, session level,
 * bigint form): the ASCII bytes "kagentrt" read as a big-endian integer.
 */
#define PG_ADVISORY_KEY "7737579320141705844"

#define PG_SQL_MAX    65536
#define PG_NAME_MAX   140 /* a quoted "schema"."table" */
#define PG_KEYS       5   /* key columns of a candidate row: k1..k5 */
#define PG_PARAMS_MAX 12

struct pg_table {
        bool present;
        bool has_deleted_at;
        char qname[PG_NAME_MAX]; /* "schema"."table", quoted */
        char *bytes_expr;        /* stored size of a row aliased c: sum of pg_column_size */
};

struct pgs {
        struct store base; /* first member: the store handle points here */
        PGconn *conn;
        char *conninfo;   /* URL or keyword string as given; holds the password (reconnects) */
        char target[192]; /* "host=... port=... dbname=... user=...": for messages, no password */
        bool read_only;
        int server_version; /* PQserverVersion: 150020 */
        struct pg_table t[STORE_T_COUNT];
        char migrations_qname[PG_NAME_MAX];
        bool task_has_user_id;
        bool migrate_dirty;
        bool temp_ready; /* this connection has the temp tables and function */
        bool run_ready;  /* store_run_begin() ran on this connection (the plan lives here) */
        bool lock_held;  /* the advisory lock is held by this connection */
        int connect_failures;
        int64_t next_connect_mono_ms; /* capped backoff after a failed connect */

        /* Run state. */
        bool act_ready;
        int64_t seq_max;          /* largest candidate seq handed out */
        int64_t unit_max;         /* largest unit number handed out */
        int64_t cursor;           /* last candidate seq consumed by delete_batch */
        int64_t recheck_cut_ms;   /* in a delete transaction a session is active after this */
        int64_t cur_rule_age_ms;  /* the planned rule's age (soft-delete re-check) */
        int64_t read_budget_ms;   /* target duration of one read statement */
        int64_t rounds;           /* planning rounds run on this connection */
        int64_t deadline_mono_ms; /* plan deadline, 0 = none */
        const volatile int *stop; /* plan stop request, may be NULL */
        struct store_plan_result *plan_out;
        /*
         * The sessions rule is planned per session (kr_sess, seq order is deletion order), not per
         * row: while sess_pending, delete batches take whole sessions from kr_sess after
         * sess_cursor; up to sess_slow_until they go one per transaction (the fallback).
         */
        bool sess_pending;
        bool sess_prepared;        /* the batch statements are prepared on this connection */
        int64_t sess_cursor;       /* last kr_sess seq consumed */
        int64_t sess_slow_until;   /* kr_sess seqs up to this go through the fallback */
        int64_t fast_lock_ms;      /* lock_timeout of a batch of whole sessions */
        int64_t xid_seen;          /* next transaction id when others_wrote last looked */
        int64_t analyses_seen;     /* ANALYZE runs of kagent's tables then */
        int64_t own_xids;          /* transaction ids this connection used since then */
        int64_t analyze_credit;    /* ANALYZE runs counted whose transaction ids did not show yet */
        int64_t analyze_credit_ms; /* when the last of them was counted */
        int64_t foreign_ms;        /* monotonic time others_wrote last saw another's commit */
        int64_t polls;             /* others_wrote calls since the last plan */
        bool xid_prepared;         /* kr_xid (others_wrote's look) is prepared on this connection */
        bool sync_off;             /* synchronous_commit is off on this connection */
        bool flush_ours;           /* backend_flush_after is 0 here: ours to set */
        bool walc_ours;            /* wal_compression is off here and ours to set (to lz4) */
        int writeback;             /* our write-back settings are on: 1, 0, -1 unknown */
        /*
         * A real run's sessions plan goes in parts (PostgreSQL 14+, see postgres_plan.c): kr_sess
         * holds the sessions of the session table's blocks before sess_next_blk; the parts after
         * it are staged while the batches delete, by the planning helper (a second connection,
         * one part ahead) or, while kagent writes or when the helper failed, by this connection.
         */
        int64_t sess_blocks;    /* blocks of the session table when the plan started */
        int64_t sess_next_blk;  /* first block neither planned nor handed to the helper */
        int64_t sess_seq_max;   /* last kr_sess seq */
        int64_t sess_part_blks; /* blocks of the helper's next part */
        int64_t sess_chunk;     /* blocks of one staging statement here (read budget) */
        int64_t sess_cut_ms;    /* the plan's cutoffs, for the later parts */
        int64_t sess_unf_ms;
        PGconn *helper; /* the planning helper, while a plan has parts left */
        int64_t helper_lo;
        int64_t helper_hi;
        bool sess_parts;  /* blocks from sess_next_blk on are still to be planned */
        bool helper_off;  /* it failed in this run: the parts are planned here */
        bool helper_busy; /* it is staging blocks [helper_lo, helper_hi) */
        /*
         * (seq, rows) of the next kr_sess rows, read ahead so that each batch's sessions are
         * chosen here rather than by a window over kr_sess in every batch; valid while
         * sc_gen == sess_gen (each per-session plan bumps sess_gen).
         */
        bool sc_end; /* the read reached the end of kr_sess */
        uint64_t sess_gen;
        uint64_t sc_gen;
        int sc_n;
        int sc_pos;
        int64_t sc_seq[PG_SESS_AHEAD];
        int64_t sc_rows[PG_SESS_AHEAD];
};

static inline struct pgs *pg_of(struct store *s)
{
        return (struct pgs *)s;
}

/* Whether kagent (another connection) committed within STORE_WRITERS_RECENT_MS before now. */
static inline bool pg_kagent_writing(const struct pgs *q, int64_t now)
{
        return q->foreign_ms > 0 && now - q->foreign_ms <= STORE_WRITERS_RECENT_MS;
}

/* Statement parameters, all passed as text. */
struct pg_params {
        const char *v[PG_PARAMS_MAX];
        char buf[PG_PARAMS_MAX][48];
        int n;
};

void pg_params_init(struct pg_params *p);
void pg_param_i64(struct pg_params *p, int64_t v);
/* A wall-clock instant in milliseconds as a timestamptz literal. */
void pg_param_ts(struct pg_params *p, int64_t ms);
/* Borrowed until the statement ran. */
void pg_param_str(struct pg_params *p, const char *s);

/*
 * Run one statement. Returns 0 (the result in '*out' when 'out' is not NULL: PQclear it), or a
 * negative errno mapped from the SQLSTATE with 'what' and the server's message in 'err'.
 */
int pg_exec(struct pgs *q, const char *sql, const struct pg_params *p, PGresult **out,
            struct errbuf *err, const char *what);
/* A statement returning one integer (0 when no row or NULL). */
int pg_int(struct pgs *q, const char *sql, const struct pg_params *p, int64_t *out,
           struct errbuf *err, const char *what);
/* Several statements of our own text (no parameters) in one round trip. */
int pg_script(struct pgs *q, const char *sql, struct errbuf *err, const char *what);
/*
 * The same, keeping the results that return rows: the i-th into rows[i] (i < nrows; the caller
 * clears them; the rest are NULL). The first statement that fails is the error, and the
 * statements after it do not run.
 */
int pg_script_rows(struct pgs *q, const char *sql, PGresult **rows, int nrows, struct errbuf *err,
                   const char *what);
/* Map a failed result (or a lost connection when 'res' is NULL) to a negative errno. */
int pg_fail(struct pgs *q, const PGresult *res, struct errbuf *err, const char *what);
/* BEGIN / COMMIT / ROLLBACK (rollback never fails: a broken connection rolls back itself). */
/* The statements that begin a write transaction (BEGIN, and its synchronous_commit). */
const char *pg_begin_sql(const struct pgs *q);
int pg_begin(struct pgs *q, struct errbuf *err);
int pg_commit(struct pgs *q, struct errbuf *err);
void pg_rollback(struct pgs *q);
/* Count the transaction ids this connection used, for store_others_wrote(). */
void pg_note_own_xid(struct pgs *q);
/* Look at the next transaction id now: the baseline of the next store_others_wrote(). */
void pg_xid_baseline(struct pgs *q);
/* DEALLOCATE ALL: every statement this connection prepared. */
int pg_deallocate(struct pgs *q, struct errbuf *err, const char *what);

/* The rows of table t hanging off the session (sid, uid) given as SQL expressions, alias c. */
int pg_child_cond(struct buf *b, enum store_table t, const char *sid, const char *uid);
/*
 * The time that makes a session's rows in table t activity of the session (events, checkpoints,
 * CrewAI rows), or NULL (the table's rows have no activity time of their own).
 */
const char *pg_activity_time(enum store_table t);

/* The candidate key columns of a table, for SQL text. */
/*
 * "a.id, a.user_id, '', '', ''": the key of the row aliased 'a' as five text values, each named
 * "<as>1".."<as>5" when 'as' is not NULL.
 */
int pg_keys_select(struct buf *b, enum store_table t, const char *a, const char *as);
/*
 * "a.id = x.k1 AND a.user_id = x.k2": the row aliased 'a' is the candidate aliased 'x'.
 * 'probe_cand' puts the casts on the main table's side (the kr_cand index is used), else on the
 * candidate's side (the main table's primary key is used).
 */
int pg_keys_match(struct buf *b, enum store_table t, const char *a, const char *x, bool probe_cand);

/* Planning (postgres_plan.c). */
int pg_temp_setup(struct pgs *q, struct errbuf *err);
int pg_plan(struct store *s, const struct store_rule_params *p, struct store_plan_result *out,
            struct errbuf *err);

/*
 * Plan the sessions rule per session into kr_sess (only when kr_cand holds nothing of earlier
 * rules); 'out' gets the totals. pg_sessions_materialize() turns what is left of such a plan into
 * kr_cand rows (the row-level plan later rules check against).
 */
int pg_plan_sessions_fast(struct pgs *q, const struct store_rule_params *p,
                          struct store_plan_result *out, struct errbuf *err);
int pg_sessions_materialize(struct pgs *q, struct errbuf *err);
/*
 * The next part of a plan in parts, once the batches have taken every planned session: '*more'
 * is 1 when sessions were added to kr_sess, 0 when the plan has no part left.
 */
int pg_sessions_next_part(struct pgs *q, int64_t *more, struct errbuf *err);
/* Hand the next part to the planning helper when it is free and kagent idle. */
void pg_sessions_ahead(struct pgs *q);
/* Forget the parts not planned yet and close the helper (a run ends or stops). */
void pg_sessions_parts_end(struct pgs *q);

/* The planning helper's connection: same target, our settings, read-only. */
int pg_helper_connect(struct pgs *q, PGconn **out, struct errbuf *err);
/* A failed helper result (or NULL) as an error message. */
int pg_helper_fail(struct pgs *q, PGconn *conn, const PGresult *res, struct errbuf *err);

/* kagent stores task JSON as text, and not every row is valid JSON. */
#define PG_TASK_STATE_FN                                                                           \
        "CREATE OR REPLACE FUNCTION pg_temp.kr_task_state(d text) RETURNS text "                   \
        "LANGUAGE plpgsql STABLE AS $f$ BEGIN RETURN d::json #>> '{status,state}'; "               \
        "EXCEPTION WHEN data_exception THEN RETURN NULL; END $f$;"

/* -EAGAIN when the run's plan went with a lost connection, else 0. */
int pg_run_alive(struct pgs *q, struct errbuf *err, const char *what);

/* Deleting (postgres_delete.c). */
int pg_delete_batch(struct store *s, int64_t max_rows, struct store_batch_result *out,
                    struct errbuf *err);
/* A prepared statement (prepared by the caller); same contract as pg_exec(). */
int pg_exec_prepared(struct pgs *q, const char *name, const struct pg_params *p, PGresult **out,
                     struct errbuf *err, const char *what);

#endif
