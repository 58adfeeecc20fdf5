/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite planning: computes each session's last activity once per run, then records every
 * rule's candidate rows in connection-private temp tables (temp_store=MEMORY), children before
 * their parents. Every read runs in short statements over rowid ranges or one session at a time,
 * so no statement holds the shared lock long enough to stall kagent's writers, and the total
 * work is one pass over each table per run, not one per batch.
 *
 * Temp tables:
 *   kr_act   (sid, uid) -> presence of the session row, last activity (julian day), newest
 *            update of an unfinished task, event and checkpoint counts
 *   kr_tact  session id -> task activity (tasks belong to every session row with that id)
 *   kr_skey  session keys whose activity is re-checked inside each delete transaction
 *   kr_sel   scratch: the head rows selected by one step
 *   kr_cand  the plan: seq order is deletion order
 *   kr_sess  the sessions rule's plan when it goes per whole session: each candidate session
 *            (seq = deletion order) with its rows (n<table>) and bytes (b<table>) per table
 */
#define LOG_MODULE "store"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/errbuf.h"
#include "log/log.h"
#include "store/sqlite_internal.h"

#define SQL_MAX       16384
#define CHUNK_MIN     64
#define CHUNK_MAX     (1 << 20)
#define CHUNK_INITIAL 2000

int sq_temp_setup(struct sq *q, struct errbuf *err)
{
        q->temp_used = true;
        return sq_exec(
                q,
                "CREATE TEMP TABLE IF NOT EXISTS kr_cand(seq INTEGER PRIMARY KEY, "
                "unit INTEGER NOT NULL, skey INTEGER, tbl INTEGER NOT NULL, rid INTEGER NOT NULL, "
                "bytes INTEGER NOT NULL, rule INTEGER NOT NULL, head INTEGER NOT NULL DEFAULT 0);"
                "CREATE INDEX IF NOT EXISTS temp.kr_cand_rid ON kr_cand(tbl, rid);"
                "CREATE INDEX IF NOT EXISTS temp.kr_cand_skey ON kr_cand(skey);"
                "CREATE INDEX IF NOT EXISTS temp.kr_cand_unit ON kr_cand(unit);"
                "CREATE TEMP TABLE IF NOT EXISTS kr_skey(skey INTEGER PRIMARY KEY, "
                "sid TEXT NOT NULL, uid TEXT NOT NULL, anyuser INTEGER NOT NULL, "
                "UNIQUE(sid, uid, anyuser));"
                "CREATE TEMP TABLE IF NOT EXISTS kr_act(sid TEXT NOT NULL, uid TEXT NOT NULL, "
                "present INTEGER NOT NULL DEFAULT 0, known INTEGER NOT NULL DEFAULT 1, "
                "last REAL NOT NULL DEFAULT -1, nonterm REAL NOT NULL DEFAULT -1, "
                "ev_n INTEGER NOT NULL DEFAULT 0, ev_first REAL, cp_n INTEGER NOT NULL DEFAULT 0, "
                "PRIMARY KEY(sid, uid)) WITHOUT ROWID;"
                "CREATE TEMP TABLE IF NOT EXISTS kr_tact(sid TEXT PRIMARY KEY, last REAL, "
                "nonterm REAL) WITHOUT ROWID;"
                "CREATE TEMP TABLE IF NOT EXISTS kr_sess(seq INTEGER PRIMARY KEY, "
                "sid TEXT NOT NULL, uid TEXT NOT NULL, srid INTEGER, tk INTEGER NOT NULL "
                "DEFAULT 0, "
                "n0 INTEGER DEFAULT 0, b0 INTEGER DEFAULT 0, "
                "n1 INTEGER DEFAULT 0, b1 INTEGER DEFAULT 0, "
                "n2 INTEGER DEFAULT 0, b2 INTEGER DEFAULT 0, "
                "n3 INTEGER DEFAULT 0, b3 INTEGER DEFAULT 0, "
                "n4 INTEGER DEFAULT 0, b4 INTEGER DEFAULT 0, "
                "n5 INTEGER DEFAULT 0, b5 INTEGER DEFAULT 0, "
                "n6 INTEGER DEFAULT 0, b6 INTEGER DEFAULT 0, "
                "n7 INTEGER DEFAULT 0, b7 INTEGER DEFAULT 0, "
                "n8 INTEGER DEFAULT 0, b8 INTEGER DEFAULT 0, "
                "n9 INTEGER DEFAULT 0, b9 INTEGER DEFAULT 0);"
                "CREATE INDEX IF NOT EXISTS temp.kr_sess_key ON kr_sess(sid, uid);"
                "CREATE TEMP TABLE IF NOT EXISTS kr_sel(rid INTEGER PRIMARY KEY, sid TEXT, "
                "uid TEXT, anyuser INTEGER NOT NULL DEFAULT 0, k1 TEXT, k2 TEXT, k3 TEXT, k4 TEXT);"
                "DELETE FROM temp.kr_cand; DELETE FROM temp.kr_skey; DELETE FROM temp.kr_act;"
                "DELETE FROM temp.kr_tact; DELETE FROM temp.kr_sel; DELETE FROM temp.kr_sess;",
                err);
}

/* Values bound by name to whichever parameters a statement has. */
struct binds {
        double age, active, unf, cut;
        int64_t keep, rule, lo, hi, after, n, skey, unit, rid;
        const char *sid, *uid;
};

static void bind_all(sqlite3_stmt *st, const struct binds *b)
{
        int n = sqlite3_bind_parameter_count(st);

        for (int i = 1; i <= n; i++) {
                const char *name = sqlite3_bind_parameter_name(st, i);

                if (!name)
                        continue;
                name++; /* skip ':' */
                if (strcmp(name, "age") == 0)
                        (void)sqlite3_bind_double(st, i, b->age);
                else if (strcmp(name, "active") == 0)
                        (void)sqlite3_bind_double(st, i, b->active);
                else if (strcmp(name, "unf") == 0)
                        (void)sqlite3_bind_double(st, i, b->unf);
                else if (strcmp(name, "cut") == 0)
                        (void)sqlite3_bind_double(st, i, b->cut);
                else if (strcmp(name, "keep") == 0)
                        (void)sqlite3_bind_int64(st, i, b->keep);
                else if (strcmp(name, "rule") == 0)
                        (void)sqlite3_bind_int64(st, i, b->rule);
                else if (strcmp(name, "lo") == 0)
                        (void)sqlite3_bind_int64(st, i, b->lo);
                else if (strcmp(name, "hi") == 0)
                        (void)sqlite3_bind_int64(st, i, b->hi);
                else if (strcmp(name, "after") == 0)
                        (void)sqlite3_bind_int64(st, i, b->after);
                else if (strcmp(name, "n") == 0)
                        (void)sqlite3_bind_int64(st, i, b->n);
                else if (strcmp(name, "skey") == 0)
                        (void)sqlite3_bind_int64(st, i, b->skey);
                else if (strcmp(name, "unit") == 0)
                        (void)sqlite3_bind_int64(st, i, b->unit);
                else if (strcmp(name, "rid") == 0)
                        (void)sqlite3_bind_int64(st, i, b->rid);
                else if (strcmp(name, "sid") == 0)
                        (void)sqlite3_bind_text(st, i, b->sid, -1, SQLITE_TRANSIENT);
                else if (strcmp(name, "uid") == 0)
                        (void)sqlite3_bind_text(st, i, b->uid, -1, SQLITE_TRANSIENT);
        }
}

/* Run a prepared statement with the binds, timing it for the plan statistics. */
static int run(struct sq *q, sqlite3_stmt *st, const struct binds *b, struct errbuf *err)
{
        int64_t t0 = clock_mono_ms();
        int64_t dt;
        int rc;

        sq_poll_writers(q);
        bind_all(st, b);
        rc = sq_step_done(q, st, err, "plan");
        dt = clock_mono_ms() - t0;
        if (q->plan_out) {
                q->plan_out->statements++;
                if (dt > q->plan_out->max_read_ms)
                        q->plan_out->max_read_ms = dt;
        }
        return rc;
}

static int check_deadline(struct sq *q, struct errbuf *err)
{
        if (q->deadline_mono_ms > 0 && clock_mono_ms() > q->deadline_mono_ms)
                return errbuf_set(err, -ETIMEDOUT, "run timeout reached while planning");
        if (q->stop && *q->stop)
                return errbuf_set(err, -ECANCELED, "stopped while planning");
        return 0;
}

/* A set of statements executed together over consecutive rowid ranges of one table. */
struct chunked {
        enum store_table table;
        sqlite3_stmt *st[4];
        int n;
        int64_t first; /* rowids in the first range; 0: CHUNK_INITIAL */
};

/*
 * Execute the statements over [1, max(rowid)] of the table in ranges bound as :lo < rowid <=
 * :hi, growing or shrinking the range so one round takes about the read budget.
 */
static int run_chunked(struct sq *q, struct chunked *c, struct binds *b, struct errbuf *err)
{
        int64_t chunk = c->first > 0 ? c->first : CHUNK_INITIAL;
        int64_t maxrid = 0;
        char sql[128];
        int rc;

        (void)snprintf(sql, sizeof(sql), "SELECT coalesce(max(rowid), 0) FROM main.\"%s\"",
                       store_table_name(c->table));
        rc = sq_int(q, sql, &maxrid, err);
        if (rc < 0)
                return rc;
        for (int64_t lo = 0; lo < maxrid;) {
                int64_t t0 = clock_mono_ms();
                int64_t dt;

                rc = check_deadline(q, err);
                if (rc < 0)
                        return rc;
                b->lo = lo;
                b->hi = lo + chunk;
                for (int i = 0; i < c->n; i++) {
                        rc = run(q, c->st[i], b, err);
                        if (rc < 0)
                                return rc;
                }
                dt = clock_mono_ms() - t0;
                lo += chunk;
                if (dt * 2 < q->read_budget_ms && chunk < CHUNK_MAX)
                        chunk *= 2;
                else if (dt > q->read_budget_ms && chunk > CHUNK_MIN)
                        chunk /= 2;
        }
        return 0;
}

static int prepare_fmt(struct sq *q, sqlite3_stmt **out, struct errbuf *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int prepare_fmt(struct sq *q, sqlite3_stmt **out, struct errbuf *err, const char *fmt, ...)
{
        struct buf b;
        va_list ap;
        int rc;

        buf_init(&b, SQL_MAX);
        va_start(ap, fmt);
        rc = buf_vprintf(&b, fmt, ap);
        va_end(ap);
        if (rc < 0) {
                buf_cleanup(&b);
                return errbuf_set(err, rc, "sql text too long");
        }
        rc = sq_prepare(q, b.data, out, err);
        buf_cleanup(&b);
        return rc;
}

static void finalize_all(sqlite3_stmt **st, int n)
{
        for (int i = 0; i < n; i++) {
                sqlite3_finalize(st[i]);
                st[i] = NULL;
        }
}

/* ---- session activity ---------------------------------------------------------------- */

static int act_step(struct sq *q, enum store_table t, const char *sql, int64_t first,
                    struct binds *b, struct errbuf *err)
{
        struct chunked c = { .table = t, .n = 1, .first = first };
        int rc;

        if (!q->t[t].present)
                return 0;
        rc = sq_prepare(q, sql, &c.st[0], err);
        if (rc < 0)
                return rc;
        rc = run_chunked(q, &c, b, err);
        finalize_all(c.st, c.n);
        return rc;
}

/* Watermarks first: any row inserted from now on has a larger rowid. Then empty kr_act. */
static int activity_begin(struct sq *q, struct errbuf *err)
{
        int rc;

        if (q->t[STORE_T_EVENT].present &&
            (rc = sq_int(q, "SELECT coalesce(max(rowid), 0) FROM main.event", &q->w_event, err)) <
                    0)
                return rc;
        if (q->t[STORE_T_CHECKPOINT].present &&
            (rc = sq_int(q, "SELECT coalesce(max(rowid), 0) FROM main.lg_checkpoint",
                         &q->w_checkpoint, err)) < 0)
                return rc;
        return sq_exec(q, "DELETE FROM temp.kr_act; DELETE FROM temp.kr_tact;", err);
}

static int build_activity(struct sq *q, struct errbuf *err)
{
        struct binds b;
        int rc;

        memset(&b, 0, sizeof(b));
        rc = activity_begin(q, err);
        if (rc < 0)
                return rc;
        rc = act_step(q, STORE_T_SESSION,
                      "INSERT INTO temp.kr_act(sid, uid, present, known, last) "
                      "SELECT id, user_id, 1, (julianday(updated_at) IS NOT NULL OR "
                      "julianday(created_at) IS NOT NULL), max(coalesce(julianday(updated_at), "
                      "-1), coalesce(julianday(created_at), -1)) FROM main.session "
                      "WHERE rowid > :lo AND rowid <= :hi AND id IS NOT NULL AND user_id IS NOT "
                      "NULL ON CONFLICT(sid, uid) DO UPDATE SET present = 1, "
                      "known = excluded.known, last = max(last, excluded.last)",
                      0, &b, err);
        if (rc < 0)
                return rc;
        rc = act_step(q, STORE_T_EVENT,
                      "INSERT INTO temp.kr_act(sid, uid, last, ev_n, ev_first) "
                      "SELECT session_id, user_id, coalesce(max(julianday(created_at)), -1), "
                      "count(*), min(julianday(created_at)) FROM main.event WHERE rowid > :lo "
                      "AND rowid <= :hi AND session_id IS NOT NULL AND user_id IS NOT NULL "
                      "GROUP BY session_id, user_id ON CONFLICT(sid, uid) DO UPDATE SET "
                      "last = max(last, excluded.last), ev_n = ev_n + excluded.ev_n, "
                      "ev_first = coalesce(min(ev_first, excluded.ev_first), ev_first, "
                      "excluded.ev_first)",
                      0, &b, err);
        if (rc < 0)
                return rc;
        rc = act_step(q, STORE_T_TASK,
                      "INSERT INTO temp.kr_tact(sid, last, nonterm) "
                      "SELECT session_id, coalesce(max(julianday(updated_at)), -1), "
                      "max(CASE WHEN st IN (" STORE_UNFINISHED_STATES ") "
                      "THEN coalesce(julianday(updated_at), 1e9) ELSE -1 END) FROM "
                      "(SELECT session_id, updated_at, CASE WHEN json_valid(data) THEN "
                      "json_extract(data, '$.status.state') END AS st FROM main.task "
                      "WHERE rowid > :lo AND rowid <= :hi AND session_id IS NOT NULL) "
                      "WHERE true GROUP BY session_id ON CONFLICT(sid) DO UPDATE SET "
                      "last = max(last, excluded.last), nonterm = max(nonterm, excluded.nonterm)",
                      0, &b, err);
        if (rc < 0)
                return rc;
        if (q->t[STORE_T_TASK].present) {
                rc = sq_exec(q,
                             "UPDATE temp.kr_act SET last = max(kr_act.last, t.last), "
                             "nonterm = max(kr_act.nonterm, t.nonterm) FROM temp.kr_tact t "
                             "WHERE t.sid = kr_act.sid",
                             err);
                if (rc < 0)
                        return rc;
        }
        rc = act_step(q, STORE_T_CHECKPOINT,
                      "INSERT INTO temp.kr_act(sid, uid, last, cp_n) "
                      "SELECT thread_id, user_id, coalesce(max(julianday(created_at)), -1), "
                      "count(*) FROM main.lg_checkpoint WHERE rowid > :lo AND rowid <= :hi "
                      "GROUP BY thread_id, user_id ON CONFLICT(sid, uid) DO UPDATE SET "
                      "last = max(last, excluded.last), cp_n = cp_n + excluded.cp_n",
                      0, &b, err);
        if (rc < 0)
                return rc;
        rc = act_step(q, STORE_T_CREWAI_MEMORY,
                      "INSERT INTO temp.kr_act(sid, uid, last) "
                      "SELECT thread_id, user_id, coalesce(max(julianday(updated_at)), -1) "
                      "FROM main.crewai_agent_memory WHERE rowid > :lo AND rowid <= :hi "
                      "GROUP BY thread_id, user_id ON CONFLICT(sid, uid) DO UPDATE SET "
                      "last = max(last, excluded.last)",
                      0, &b, err);
        if (rc < 0)
                return rc;
        rc = act_step(q, STORE_T_CREWAI_FLOW,
                      "INSERT INTO temp.kr_act(sid, uid, last) "
                      "SELECT thread_id, user_id, coalesce(max(julianday(updated_at)), -1) "
                      "FROM main.crewai_flow_state WHERE rowid > :lo AND rowid <= :hi "
                      "GROUP BY thread_id, user_id ON CONFLICT(sid, uid) DO UPDATE SET "
                      "last = max(last, excluded.last)",
                      0, &b, err);
        if (rc < 0)
                return rc;
        q->act_ready = true;
        return 0;
}

/* Is there an index whose leading columns are c1 (and c2, when given)? */
static int has_index(struct sq *q, enum store_table t, const char *c1, const char *c2,
                     struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sq_prepare(q,
                        "SELECT EXISTS (SELECT 1 FROM pragma_index_list(?1) l WHERE "
                        "(SELECT name FROM pragma_index_info(l.name) WHERE seqno = 0) = ?2 AND "
                        "(?3 IS NULL OR (SELECT name FROM pragma_index_info(l.name) "
                        "WHERE seqno = 1) = ?3))",
                        &st, err);
        if (rc < 0)
                return rc;
        (void)sqlite3_bind_text(st, 1, store_table_name(t), -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, c1, -1, SQLITE_STATIC);
        if (c2)
                (void)sqlite3_bind_text(st, 3, c2, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                rc = sqlite3_column_int(st, 0);
        else
                rc = sq_fail(q, rc, err, "index_list");
        sqlite3_finalize(st);
        return rc;
}

/* Can every child table be searched by session key through an index? 1 yes, 0 no. */
static int children_indexed(struct sq *q, struct errbuf *err)
{
        static const struct {
                enum store_table t;
                const char *c1, *c2;
        } need[] = {
                { STORE_T_EVENT, "session_id", NULL },
                { STORE_T_TASK, "session_id", NULL },
                { STORE_T_CHECKPOINT, "user_id", "thread_id" },
                { STORE_T_CREWAI_MEMORY, "user_id", "thread_id" },
                { STORE_T_CREWAI_FLOW, "user_id", "thread_id" },
        };

        for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
                int rc;

                if (!q->t[need[i].t].present)
                        continue;
                rc = has_index(q, need[i].t, need[i].c1, need[i].c2, err);
                if (rc <= 0)
                        return rc;
        }
        return 1;
}

/*
 * The sessions rule on its own needs no activity of every session: only session rows old enough
 * by their own timestamps can expire, and each of them is checked for anything newer than the
 * cutoff through the indexes kagent keeps on the children (as the manual SQL does), so the rows
 * of live sessions are never read. kr_act then holds just the candidates (last = the row's own
 * newest timestamp, the order they go in); rules that need every session's activity build it
 * in full.
 */
static int candidate_activity(struct sq *q, struct binds *b, struct errbuf *err)
{
        /* Tables keyed by (user_id, thread_id = session id), and the column that dates a row. */
        static const struct {
                enum store_table t;
                const char *col;
        } threads[] = {
                { STORE_T_CHECKPOINT, "created_at" },
                { STORE_T_CREWAI_MEMORY, "updated_at" },
                { STORE_T_CREWAI_FLOW, "updated_at" },
        };
        struct buf sql;
        int rc;

        rc = activity_begin(q, err);
        if (rc < 0)
                return rc;
        buf_init(&sql, SQL_MAX);
        rc = buf_append_str(
                &sql, "INSERT OR IGNORE INTO temp.kr_act(sid, uid, present, known, last) "
                      "SELECT s.id, s.user_id, 1, 1, max(coalesce(julianday(s.updated_at), "
                      "-1), coalesce(julianday(s.created_at), -1)) AS own FROM main.session s "
                      "WHERE s.rowid > :lo AND s.rowid <= :hi AND s.id IS NOT NULL AND "
                      "s.user_id IS NOT NULL AND (julianday(s.updated_at) IS NOT NULL OR "
                      "julianday(s.created_at) IS NOT NULL) AND own < :cut");
        if (q->t[STORE_T_EVENT].present)
                rc |= buf_append_str(&sql, " AND NOT EXISTS (SELECT 1 FROM main.event e WHERE "
                                           "e.session_id = s.id AND e.user_id = s.user_id AND "
                                           "julianday(e.created_at) >= :cut)");
        for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++) {
                if (q->t[threads[i].t].present)
                        rc |= buf_printf(&sql,
                                         " AND NOT EXISTS (SELECT 1 FROM main.\"%s\" c WHERE "
                                         "c.user_id = s.user_id AND c.thread_id = s.id AND "
                                         "julianday(c.%s) >= :cut)",
                                         store_table_name(threads[i].t), threads[i].col);
        }
        /* Tasks belong to every session row of their id; an unfinished one keeps it. */
        if (q->t[STORE_T_TASK].present)
                rc |= buf_append_str(&sql, " AND NOT EXISTS (SELECT 1 FROM main.task t WHERE "
                                           "t.session_id = s.id AND (julianday(t.updated_at) >= "
                                           ":cut OR ((CASE WHEN json_valid(t.data) THEN "
                                           "json_extract(t.data, '$.status.state') END) IN "
                                           "(" STORE_UNFINISHED_STATES ") AND "
                                           "coalesce(julianday(t.updated_at), 1e9) > :unf)))");
        if (rc != 0)
                rc = errbuf_set(err, -ENOMEM, "out of memory");
        else
                /* A session costs many lookups: start small, grow to the read budget. */
                rc = act_step(q, STORE_T_SESSION, sql.data, CHUNK_MIN, b, err);
        buf_cleanup(&sql);
        return rc;
}

/* ---- generic head + children pipeline ------------------------------------------------- */

/*
 * One step of a rule: 'sel' fills temp.kr_sel with head rows of 'head' (rid, session key, join
 * keys k1..k4); then the children of each head (rows of 'child' matched by 'child_on', written
 * over aliases s = kr_sel and c = child) are planned, then the heads.
 */
struct pipe {
        const char *sel;
        const char *child_on;
        enum store_table head;
        enum store_table child; /* STORE_T_COUNT: none */
};

struct pipe_stmts {
        sqlite3_stmt *sel, *skey, *child, *heads, *clear;
};

static void pipe_finalize(struct pipe_stmts *ps)
{
        sqlite3_finalize(ps->sel);
        sqlite3_finalize(ps->skey);
        sqlite3_finalize(ps->child);
        sqlite3_finalize(ps->heads);
        sqlite3_finalize(ps->clear);
        memset(ps, 0, sizeof(*ps));
}

static int pipe_prepare(struct sq *q, const struct pipe *p, struct pipe_stmts *ps,
                        struct errbuf *err)
{
        const char *hname = store_table_name(p->head);
        int rc;

        memset(ps, 0, sizeof(*ps));
        rc = prepare_fmt(q, &ps->sel, err,
                         "INSERT INTO temp.kr_sel(rid, sid, uid, anyuser, "
                         "k1, k2, k3, k4) %s",
                         p->sel);
        if (rc < 0)
                return rc;
        rc = sq_prepare(q,
                        "INSERT OR IGNORE INTO temp.kr_skey(sid, uid, anyuser) SELECT DISTINCT "
                        "sid, coalesce(uid, ''), anyuser FROM temp.kr_sel WHERE sid IS NOT NULL",
                        &ps->skey, err);
        if (rc < 0)
                return rc;
        if (p->child != STORE_T_COUNT && q->t[p->child].present) {
                const char *cname = store_table_name(p->child);

                rc = prepare_fmt(
                        q, &ps->child, err,
                        "INSERT INTO temp.kr_cand(unit, skey, tbl, rid, bytes, rule) "
                        "SELECT -(s.rid * 16 + %d), k.skey, %d, c.rowid, (SELECT %s FROM "
                        "main.\"%s\" WHERE rowid = c.rowid), :rule FROM temp.kr_sel s "
                        "JOIN main.\"%s\" c ON %s LEFT JOIN temp.kr_skey k ON k.sid = s.sid AND "
                        "k.uid = coalesce(s.uid, '') AND k.anyuser = s.anyuser "
                        "WHERE NOT EXISTS (SELECT 1 FROM temp.kr_cand x WHERE x.tbl = %d AND "
                        "x.rid = c.rowid) ORDER BY s.rid, c.rowid",
                        (int)p->head, (int)p->child, q->t[p->child].bytes_expr, cname, cname,
                        p->child_on, (int)p->child);
                if (rc < 0)
                        return rc;
        }
        rc = prepare_fmt(q, &ps->heads, err,
                         "INSERT INTO temp.kr_cand(unit, skey, tbl, rid, bytes, rule, head) "
                         "SELECT -(s.rid * 16 + %d), k.skey, %d, s.rid, (SELECT %s FROM "
                         "main.\"%s\" WHERE rowid = s.rid), :rule, 1 FROM temp.kr_sel s "
                         "LEFT JOIN temp.kr_skey k ON k.sid = s.sid AND k.uid = coalesce(s.uid, "
                         "'') AND k.anyuser = s.anyuser ORDER BY s.rid",
                         (int)p->head, (int)p->head, q->t[p->head].bytes_expr, hname);
        if (rc < 0)
                return rc;
        return sq_prepare(q, "DELETE FROM temp.kr_sel", &ps->clear, err);
}

/* Execute one pipeline round with the current binds. */
static int pipe_round(struct sq *q, struct pipe_stmts *ps, const struct binds *b,
                      struct errbuf *err)
{
        int rc;

        if ((rc = run(q, ps->clear, b, err)) < 0 || (rc = run(q, ps->sel, b, err)) < 0 ||
            (rc = run(q, ps->skey, b, err)) < 0)
                return rc;
        if (ps->child && (rc = run(q, ps->child, b, err)) < 0)
                return rc;
        if ((rc = run(q, ps->heads, b, err)) < 0)
                return rc;
        return run(q, ps->clear, b, err);
}

/* A pipeline whose 'sel' is bounded by :lo < rowid <= :hi, over the whole head table. */
static int pipe_scan(struct sq *q, const struct pipe *p, struct binds *b, struct errbuf *err)
{
        struct pipe_stmts ps;
        int64_t chunk = CHUNK_INITIAL;
        int64_t maxrid = 0;
        char sql[128];
        int rc;

        if (!q->t[p->head].present)
                return 0;
        rc = pipe_prepare(q, p, &ps, err);
        if (rc < 0)
                goto out;
        (void)snprintf(sql, sizeof(sql), "SELECT coalesce(max(rowid), 0) FROM main.\"%s\"",
                       store_table_name(p->head));
        rc = sq_int(q, sql, &maxrid, err);
        if (rc < 0)
                goto out;
        for (int64_t lo = 0; lo < maxrid;) {
                int64_t t0 = clock_mono_ms();
                int64_t dt;

                rc = check_deadline(q, err);
                if (rc < 0)
                        goto out;
                b->lo = lo;
                b->hi = lo + chunk;
                rc = pipe_round(q, &ps, b, err);
                if (rc < 0)
                        goto out;
                dt = clock_mono_ms() - t0;
                lo += chunk;
                if (dt * 2 < q->read_budget_ms && chunk < CHUNK_MAX)
                        chunk *= 2;
                else if (dt > q->read_budget_ms && chunk > CHUNK_MIN)
                        chunk /= 2;
        }
        rc = 0;
out:
        pipe_finalize(&ps);
        return rc;
}

/* ---- per-session iteration ------------------------------------------------------------ */

struct skey_row {
        char *sid;
        char *uid;
        int64_t rid; /* session rowid, or 0 */
};

struct skey_list {
        struct skey_row *v;
        size_t n, cap;
};

static void skey_list_free(struct skey_list *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].sid);
                free(l->v[i].uid);
        }
        free(l->v);
        memset(l, 0, sizeof(*l));
}

/*
 * gcc 12 -fanalyzer loses the strings stored at a variable index of the heap array below and
 * reports them leaked (as in key_push() of sqlite_delete.c); skey_list_free() frees every entry
 * counted, one whose copy failed included. Only this function is exempt.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
/* Collect (sid, uid, rid) rows of a query into memory, so no read stays open while planning. */
static int collect(struct sq *q, sqlite3_stmt *st, const struct binds *b, struct skey_list *out,
                   struct errbuf *err)
{
        int rc;

        bind_all(st, b);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct skey_row *r;

                if (out->n == out->cap) {
                        size_t cap = out->cap ? out->cap * 2 : 256;
                        struct skey_row *v = reallocarray(out->v, cap, sizeof(*v));

                        if (!v) {
                                (void)sqlite3_reset(st);
                                return errbuf_set(err, -ENOMEM, "out of memory");
                        }
                        out->v = v;
                        out->cap = cap;
                }
                r = &out->v[out->n];
                r->sid = strdup((const char *)sqlite3_column_text(st, 0));
                r->uid = strdup((const char *)sqlite3_column_text(st, 1));
                r->rid = sqlite3_column_int64(st, 2);
                out->n++;
                if (!r->sid || !r->uid) {
                        (void)sqlite3_reset(st);
                        return errbuf_set(err, -ENOMEM, "out of memory");
                }
        }
        (void)sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return sq_fail(q, rc, err, "plan");
        return 0;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

static int skey_id(struct sq *q, sqlite3_stmt *ins, sqlite3_stmt *get, const char *sid,
                   const char *uid, int anyuser, int64_t *out, struct errbuf *err)
{
        int rc;

        (void)sqlite3_bind_text(ins, 1, sid, -1, SQLITE_TRANSIENT);
        (void)sqlite3_bind_text(ins, 2, uid, -1, SQLITE_TRANSIENT);
        (void)sqlite3_bind_int(ins, 3, anyuser);
        rc = sq_step_done(q, ins, err, "plan");
        if (rc < 0)
                return rc;
        (void)sqlite3_bind_text(get, 1, sid, -1, SQLITE_TRANSIENT);
        (void)sqlite3_bind_text(get, 2, uid, -1, SQLITE_TRANSIENT);
        (void)sqlite3_bind_int(get, 3, anyuser);
        rc = sqlite3_step(get);
        if (rc != SQLITE_ROW) {
                rc = sq_fail(q, rc == SQLITE_DONE ? SQLITE_INTERNAL : rc, err, "plan");
                (void)sqlite3_reset(get);
                return rc;
        }
        *out = sqlite3_column_int64(get, 0);
        (void)sqlite3_reset(get);
        return 0;
}

/* ---- sessions with everything hanging off them ---------------------------------------- */

enum cascade_stmt {
        CS_EVENTS = 0,
        CS_WRITES,
        CS_CHECKPOINTS,
        CS_MEMORY,
        CS_FLOW,
        CS_CLAIMS,
        CS_PUSH,
        CS_TASKS,
        CS_SESSION,
        CS_SKEY_INS,
        CS_SKEY_GET,
        CS_COUNT,
};

/* "INSERT INTO temp.kr_cand ... SELECT ... FROM main.<t> WHERE <where> AND not yet planned" */
static int prepare_cand(struct sq *q, sqlite3_stmt **out, enum store_table t, const char *where,
                        const char *tail, int head, struct errbuf *err)
{
        const char *name = store_table_name(t);

        if (!q->t[t].present)
                return 0;
        return prepare_fmt(q, out, err,
                           "INSERT INTO temp.kr_cand(unit, skey, tbl, rid, bytes, rule, head) "
                           "SELECT :unit, :skey, %d, rowid, %s, :rule, %d FROM main.\"%s\" "
                           "WHERE %s AND NOT EXISTS (SELECT 1 FROM temp.kr_cand x WHERE "
                           "x.tbl = %d AND x.rid = main.\"%s\".rowid) %s",
                           (int)t, q->t[t].bytes_expr, head, name, where, (int)t, name, tail);
}

static int cascade_prepare(struct sq *q, sqlite3_stmt **st, struct errbuf *err)
{
        int rc;

        if ((rc = prepare_cand(q, &st[CS_EVENTS], STORE_T_EVENT,
                               "session_id = :sid AND user_id = :uid AND rowid > :after",
                               "ORDER BY rowid LIMIT :n", 0, err)) < 0 ||
            (rc = prepare_cand(q, &st[CS_WRITES], STORE_T_CHECKPOINT_WRITE,
                               "user_id = :uid AND thread_id = :sid", "", 0, err)) < 0 ||
            (rc = prepare_cand(q, &st[CS_CHECKPOINTS], STORE_T_CHECKPOINT,
                               "user_id = :uid AND thread_id = :sid", "", 0, err)) < 0 ||
            (rc = prepare_cand(q, &st[CS_MEMORY], STORE_T_CREWAI_MEMORY,
                               "user_id = :uid AND thread_id = :sid", "", 0, err)) < 0 ||
            (rc = prepare_cand(q, &st[CS_FLOW], STORE_T_CREWAI_FLOW,
                               "user_id = :uid AND thread_id = :sid", "", 0, err)) < 0 ||
            (rc = prepare_cand(q, &st[CS_TASKS], STORE_T_TASK, "session_id = :sid", "", 0, err)) <
                    0 ||
            (rc = prepare_cand(q, &st[CS_SESSION], STORE_T_SESSION, "rowid = :rid", "", 1, err)) <
                    0)
                return rc;
        if (q->t[STORE_T_TASK].present &&
            (rc = prepare_cand(q, &st[CS_PUSH], STORE_T_PUSH,
                               "task_id IN (SELECT id FROM main.task WHERE session_id = :sid)", "",
                               0, err)) < 0)
                return rc;
        /* Other session rows that still claim this id's tasks (several users, one id). */
        if ((rc = sq_prepare(q,
                             "SELECT count(*) FROM main.session s WHERE s.id = :sid AND "
                             "s.user_id <> :uid AND NOT EXISTS (SELECT 1 FROM temp.kr_cand x "
                             "WHERE x.tbl = " /* STORE_T_SESSION */ "9 AND x.rid = s.rowid)",
                             &st[CS_CLAIMS], err)) < 0 ||
            (rc = sq_prepare(q,
                             "INSERT OR IGNORE INTO temp.kr_skey(sid, uid, anyuser) "
                             "VALUES (?1, ?2, ?3)",
                             &st[CS_SKEY_INS], err)) < 0)
                return rc;
        return sq_prepare(q,
                          "SELECT skey FROM temp.kr_skey WHERE sid = ?1 AND uid = ?2 AND "
                          "anyuser = ?3",
                          &st[CS_SKEY_GET], err);
}

/* Plan the events of one session; a session can own a huge number: plan them in rowid slices. */
static int cascade_events(struct sq *q, sqlite3_stmt *events, struct binds *b, struct errbuf *err)
{
        b->after = 0;
        b->n = CHUNK_INITIAL;
        for (;;) {
                int64_t before = sqlite3_total_changes64(q->db);
                int rc;

                rc = run(q, events, b, err);
                if (rc < 0)
                        return rc;
                if (sqlite3_total_changes64(q->db) - before < b->n)
                        return 0;
                rc = sq_int(q, "SELECT rid FROM temp.kr_cand ORDER BY seq DESC LIMIT 1", &b->after,
                            err);
                if (rc < 0)
                        return rc;
        }
}

/* Plan the tasks of one session (and their push notifications) unless another row claims them. */
static int cascade_tasks(struct sq *q, sqlite3_stmt **st, struct binds *b, struct errbuf *err)
{
        int64_t claims;
        int rc;

        bind_all(st[CS_CLAIMS], b);
        rc = sqlite3_step(st[CS_CLAIMS]);
        claims = rc == SQLITE_ROW ? sqlite3_column_int64(st[CS_CLAIMS], 0) : 0;
        (void)sqlite3_reset(st[CS_CLAIMS]);
        if (rc != SQLITE_ROW)
                return sq_fail(q, rc, err, "plan");
        /* Tasks go with the last session row that claims them. */
        if (claims != 0)
                return 0;
        if (st[CS_PUSH] && (rc = run(q, st[CS_PUSH], b, err)) < 0)
                return rc;
        return run(q, st[CS_TASKS], b, err);
}

static int cascade_one(struct sq *q, sqlite3_stmt **st, const struct skey_row *r, struct binds *b,
                       struct errbuf *err)
{
        int rc;

        b->sid = r->sid;
        b->uid = r->uid;
        b->rid = r->rid;
        b->unit = -(r->rid * 16 + STORE_T_SESSION);
        rc = skey_id(q, st[CS_SKEY_INS], st[CS_SKEY_GET], r->sid, r->uid, 0, &b->skey, err);
        if (rc < 0)
                return rc;
        if (st[CS_EVENTS]) {
                rc = cascade_events(q, st[CS_EVENTS], b, err);
                if (rc < 0)
                        return rc;
        }
        for (int i = CS_WRITES; i <= CS_FLOW; i++) {
                if (st[i] && (rc = run(q, st[i], b, err)) < 0)
                        return rc;
        }
        if (st[CS_TASKS]) {
                rc = cascade_tasks(q, st, b, err);
                if (rc < 0)
                        return rc;
        }
        return run(q, st[CS_SESSION], b, err);
}

static int plan_sessions(struct sq *q, const struct store_rule_params *p, bool soft,
                         struct binds *b, struct errbuf *err)
{
        sqlite3_stmt *st[CS_COUNT] = { 0 };
        sqlite3_stmt *sel = NULL;
        struct skey_list list = { 0 };
        int rc;

        if (!q->t[STORE_T_SESSION].present)
                return 0;
        if (soft && !q->t[STORE_T_SESSION].has_deleted_at)
                return 0;
        rc = prepare_fmt(
                q, &sel, err,
                "SELECT a.sid, a.uid, s.rowid FROM temp.kr_act a JOIN main.session s "
                "ON s.id = a.sid AND s.user_id = a.uid WHERE a.present = 1 AND a.known = 1 AND "
                "%s AND NOT EXISTS (SELECT 1 FROM temp.kr_cand x WHERE x.tbl = %d AND "
                "x.rid = s.rowid) ORDER BY a.last, a.sid, a.uid %s",
                soft ? "s.deleted_at IS NOT NULL AND julianday(s.deleted_at) < :age AND "
                       "a.last < :active"
                     : "a.last < :cut AND a.nonterm <= :unf",
                (int)STORE_T_SESSION, p->max_sessions > 0 ? "LIMIT :n" : "");
        if (rc < 0)
                goto out;
        b->n = p->max_sessions;
        rc = collect(q, sel, b, &list, err);
        if (rc < 0)
                goto out;
        rc = cascade_prepare(q, st, err);
        if (rc < 0)
                goto out;
        for (size_t i = 0; i < list.n; i++) {
                rc = check_deadline(q, err);
                if (rc < 0)
                        goto out;
                rc = cascade_one(q, st, &list.v[i], b, err);
                if (rc < 0)
                        goto out;
        }
        rc = 0;
out:
        finalize_all(st, CS_COUNT);
        sqlite3_finalize(sel);
        skey_list_free(&list);
        return rc;
}

/* ---- the sessions rule per whole session ---------------------------------------------- */

/*
 * The sessions rule on the candidate path is planned per session, not per row: temp.kr_sess
 * lists the expiring sessions in deletion order with their rows and bytes per table (columns
 * n<table>, b<table>), counted through kagent's indexes, and each delete batch takes whole
 * sessions (sq_delete_sessions). Listing every child row instead cost a statement per session
 * and table and a temp-table insert per row.
 */
_Static_assert(STORE_T_EVENT == 0 && STORE_T_PUSH == 6 && STORE_T_TASK == 7 &&
                       STORE_T_SESSION == 9 && STORE_T_COUNT == 10,
               "kr_sess columns follow enum store_table");

/* Children keyed by the session, and how a row of each is matched to kr_sess. */
static const struct {
        enum store_table t;
        const char *cond;
} sess_kids[] = {
        { STORE_T_EVENT, "session_id = kr_sess.sid AND user_id = kr_sess.uid" },
        { STORE_T_CHECKPOINT_WRITE, "user_id = kr_sess.uid AND thread_id = kr_sess.sid" },
        { STORE_T_CHECKPOINT, "user_id = kr_sess.uid AND thread_id = kr_sess.sid" },
        { STORE_T_CREWAI_MEMORY, "user_id = kr_sess.uid AND thread_id = kr_sess.sid" },
        { STORE_T_CREWAI_FLOW, "user_id = kr_sess.uid AND thread_id = kr_sess.sid" },
};

/*
 * Another session row of the id still claims its tasks: one not planned before this one (as in
 * cascade_tasks(), the tasks go with the last planned row of their id).
 */
#define SESS_CLAIMED                                                                               \
        "EXISTS (SELECT 1 FROM main.session o WHERE o.id = kr_sess.sid AND o.user_id <> "          \
        "kr_sess.uid AND NOT EXISTS (SELECT 1 FROM temp.kr_sess y WHERE y.sid = o.id AND "         \
        "y.uid = o.user_id AND y.seq < kr_sess.seq))"

/*
 * The statements that count a slice (:lo, :hi] of kr_sess: the session and its children, and
 * their bytes only when 'bytes' (a dry run: the deletes of a real run measure what they delete,
 * and summing the bytes here would read every row's payload, overflow pages included).
 */
static int sess_count_sql(struct sq *q, bool bytes, struct buf *own, struct buf *tasks)
{
        const char *bx[STORE_T_COUNT];
        int rc = 0;

        for (int t = 0; t < STORE_T_COUNT; t++)
                bx[t] = bytes && q->t[t].bytes_expr ? q->t[t].bytes_expr : "0";

        rc |= buf_printf(own,
                         "UPDATE temp.kr_sess SET (srid, n9, b9) = (SELECT rowid, 1, %s FROM "
                         "main.session WHERE id = kr_sess.sid AND user_id = kr_sess.uid)",
                         bx[STORE_T_SESSION]);
        for (size_t i = 0; i < sizeof(sess_kids) / sizeof(sess_kids[0]); i++) {
                enum store_table t = sess_kids[i].t;

                if (q->t[t].present)
                        rc |= buf_printf(own,
                                         ", (n%d, b%d) = (SELECT count(*), coalesce(sum(%s), 0) "
                                         "FROM main.\"%s\" WHERE %s)",
                                         (int)t, (int)t, bx[t], store_table_name(t),
                                         sess_kids[i].cond);
        }
        rc |= buf_append_str(own, " WHERE seq > :lo AND seq <= :hi");
        if (q->t[STORE_T_TASK].present) {
                rc |= buf_printf(tasks,
                                 "UPDATE temp.kr_sess SET tk = 1, (n7, b7) = (SELECT count(*), "
                                 "coalesce(sum(%s), 0) FROM main.task WHERE session_id = "
                                 "kr_sess.sid)",
                                 bx[STORE_T_TASK]);
                if (q->t[STORE_T_PUSH].present)
                        rc |= buf_printf(tasks,
                                         ", (n6, b6) = (SELECT count(*), coalesce(sum(%s), 0) "
                                         "FROM main.push_notification WHERE task_id IN (SELECT "
                                         "t.id FROM main.task t WHERE t.session_id = "
                                         "kr_sess.sid))",
                                         bx[STORE_T_PUSH]);
                rc |= buf_append_str(tasks, " WHERE seq > :lo AND seq <= :hi AND srid IS NOT "
                                            "NULL AND NOT " SESS_CLAIMED);
        }
        return rc ? -EMSGSIZE : 0;
}

/* Run the counting statements over slices of kr_sess sized to the read budget. */
static int sess_count(struct sq *q, struct binds *b, int64_t n, bool bytes, struct errbuf *err)
{
        sqlite3_stmt *st[2] = { NULL, NULL };
        struct buf own;
        struct buf tasks;
        int64_t chunk = CHUNK_MIN;
        int rc;

        buf_init(&own, SQL_MAX);
        buf_init(&tasks, SQL_MAX);
        rc = sess_count_sql(q, bytes, &own, &tasks);
        if (rc < 0) {
                rc = errbuf_set(err, rc, "sql text too long");
                goto out;
        }
        rc = sq_prepare(q, own.data, &st[0], err);
        if (rc == 0 && tasks.len > 0)
                rc = sq_prepare(q, tasks.data, &st[1], err);
        for (int64_t lo = 0; rc == 0 && lo < n;) {
                int64_t t0 = clock_mono_ms();
                int64_t dt;

                rc = check_deadline(q, err);
                b->lo = lo;
                b->hi = lo + chunk;
                for (int i = 0; i < 2 && rc == 0; i++)
                        if (st[i])
                                rc = run(q, st[i], b, err);
                dt = clock_mono_ms() - t0;
                lo += chunk;
                if (dt * 2 < q->read_budget_ms && chunk < CHUNK_MAX)
                        chunk *= 2;
                else if (dt > q->read_budget_ms && chunk > CHUNK_MIN)
                        chunk /= 2;
        }
out:
        finalize_all(st, 2);
        buf_cleanup(&own);
        buf_cleanup(&tasks);
        return rc;
}

static int sess_totals(struct sq *q, struct store_plan_result *out, struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        struct buf sql;
        int rc = 0;

        buf_init(&sql, 4096);
        rc |= buf_append_str(&sql, "SELECT count(*)");
        for (int t = 0; t < STORE_T_COUNT; t++)
                rc |= buf_printf(&sql, ", coalesce(sum(n%d), 0), coalesce(sum(b%d), 0)", t, t);
        rc |= buf_append_str(&sql, " FROM temp.kr_sess");
        rc = rc ? errbuf_set(err, -EMSGSIZE, "sql text too long")
                : sq_prepare(q, sql.data, &st, err);
        buf_cleanup(&sql);
        if (rc < 0)
                return rc;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                out->units = sqlite3_column_int64(st, 0);
                for (int t = 0; t < STORE_T_COUNT; t++) {
                        out->tables[t].rows = sqlite3_column_int64(st, 1 + 2 * t);
                        out->tables[t].bytes = sqlite3_column_int64(st, 2 + 2 * t);
                        out->rows += out->tables[t].rows;
                }
                rc = 0;
        } else {
                rc = sq_fail(q, rc, err, "plan");
        }
        sqlite3_finalize(st);
        return rc;
}

/* Plan the sessions rule per whole session from the candidates in kr_act. */
static int plan_sessions_whole(struct sq *q, struct binds *b, bool bytes,
                               struct store_plan_result *out, struct errbuf *err)
{
        int64_t n = 0;
        int rc;

        q->sess_pending = false;
        q->sess_cursor = 0;
        rc = sq_exec(q, "DELETE FROM temp.kr_sess", err);
        if (rc < 0)
                return rc;
        if (!q->t[STORE_T_SESSION].present)
                return 0;
        /* kr_act holds only the candidates: numbering them reads no kagent table. */
        rc = sq_exec(q,
                     "INSERT INTO temp.kr_sess(seq, sid, uid) SELECT row_number() OVER "
                     "(ORDER BY last, sid, uid), sid, uid FROM temp.kr_act WHERE present = 1 "
                     "AND known = 1",
                     err);
        if (rc == 0)
                rc = sq_int(q, "SELECT coalesce(max(seq), 0) FROM temp.kr_sess", &n, err);
        if (rc == 0)
                rc = sess_count(q, b, n, bytes, err);
        /* A session row deleted since the candidates were read has nothing left to plan. */
        if (rc == 0)
                rc = sq_exec(q, "DELETE FROM temp.kr_sess WHERE srid IS NULL", err);
        if (rc == 0)
                rc = sess_totals(q, out, err);
        if (rc < 0)
                return rc;
        q->sess_pending = out->units > 0;
        return 0;
}

int sq_sessions_materialize(struct sq *q, struct errbuf *err)
{
        sqlite3_stmt *st[CS_COUNT] = { 0 };
        sqlite3_stmt *sel = NULL;
        struct skey_list list = { 0 };
        struct binds b;
        int rc;

        if (!q->sess_pending)
                return 0;
        memset(&b, 0, sizeof(b));
        b.rule = STORE_RULE_SESSIONS;
        b.after = q->sess_cursor;
        rc = sq_prepare(q,
                        "SELECT sid, uid, srid FROM temp.kr_sess WHERE seq > :after ORDER BY seq",
                        &sel, err);
        if (rc == 0)
                rc = collect(q, sel, &b, &list, err);
        if (rc == 0)
                rc = cascade_prepare(q, st, err);
        for (size_t i = 0; rc == 0 && i < list.n; i++)
                rc = cascade_one(q, st, &list.v[i], &b, err);
        if (rc == 0)
                rc = sq_exec(q, "DELETE FROM temp.kr_sess", err);
        if (rc == 0)
                q->sess_pending = false;
        finalize_all(st, CS_COUNT);
        sqlite3_finalize(sel);
        skey_list_free(&list);
        return rc;
}

/* ---- per-session window rules: checkpoints and events --------------------------------- */

static int plan_per_session(struct sq *q, const char *who, const struct pipe *p, struct binds *b,
                            struct errbuf *err)
{
        sqlite3_stmt *sel = NULL;
        struct skey_list list = { 0 };
        struct pipe_stmts ps = { 0 };
        int rc;

        if (!q->t[p->head].present)
                return 0;
        rc = prepare_fmt(q, &sel, err,
                         "SELECT sid, uid, 0 FROM temp.kr_act WHERE present = 1 AND "
                         "last < :active AND %s ORDER BY sid, uid",
                         who);
        if (rc < 0)
                goto out;
        rc = collect(q, sel, b, &list, err);
        if (rc < 0)
                goto out;
        rc = pipe_prepare(q, p, &ps, err);
        if (rc < 0)
                goto out;
        for (size_t i = 0; i < list.n; i++) {
                rc = check_deadline(q, err);
                if (rc < 0)
                        goto out;
                b->sid = list.v[i].sid;
                b->uid = list.v[i].uid;
                rc = pipe_round(q, &ps, b, err);
                if (rc < 0)
                        goto out;
        }
        rc = 0;
out:
        pipe_finalize(&ps);
        sqlite3_finalize(sel);
        skey_list_free(&list);
        return rc;
}

#define NOT_PLANNED(tbl, alias)                                                                    \
        "NOT EXISTS (SELECT 1 FROM temp.kr_cand x WHERE x.tbl = " #tbl " AND x.rid = " alias       \
        ".rowid)"
/* Numeric table ids used inside SQL text; checked against the enum below. */
#define T_EVENT    0
#define T_WRITE    1
#define T_CP       2
#define T_MEM      3
#define T_FLOW     4
#define T_PUSH     6
#define T_TASK     7
#define T_FEEDBACK 8
#define T_SESSION  9
_Static_assert(T_EVENT == STORE_T_EVENT && T_WRITE == STORE_T_CHECKPOINT_WRITE &&
                       T_CP == STORE_T_CHECKPOINT && T_MEM == STORE_T_CREWAI_MEMORY &&
                       T_FLOW == STORE_T_CREWAI_FLOW && T_PUSH == STORE_T_PUSH &&
                       T_TASK == STORE_T_TASK && T_FEEDBACK == STORE_T_FEEDBACK &&
                       T_SESSION == STORE_T_SESSION,
               "table ids in SQL text");

#define STR_RAW(x) #x
#define STR(x)     STR_RAW(x)

/* Not active: no activity row for this key newer than the active cutoff. */
#define INACTIVE(sid, uid)                                                                         \
        "NOT EXISTS (SELECT 1 FROM temp.kr_act a WHERE a.sid = " sid " AND a.uid = " uid           \
        " AND a.last >= :active)"
#define INACTIVE_ANY(sid)                                                                          \
        "NOT EXISTS (SELECT 1 FROM temp.kr_act a WHERE a.sid = " sid " AND a.last >= :active)"
#define SESSION_EXISTS(sid, uid)                                                                   \
        "EXISTS (SELECT 1 FROM temp.kr_act a WHERE a.sid = " sid " AND a.uid = " uid               \
        " AND a.present = 1)"
#define RANGE(alias)  alias ".rowid > :lo AND " alias ".rowid <= :hi"
#define OLD(col, cut) "julianday(" col ") < " cut

static const char checkpoint_write_on[] =
        "c.user_id = s.k1 AND c.thread_id = s.k2 AND c.checkpoint_ns = s.k3 AND "
        "c.checkpoint_id = s.k4";

static int plan_checkpoints(struct sq *q, struct binds *b, struct errbuf *err)
{
        const struct pipe p = {
                .head = STORE_T_CHECKPOINT,
                .sel = "SELECT w.rid, :sid, :uid, 0, w.user_id, w.thread_id, w.checkpoint_ns, "
                       "w.checkpoint_id FROM (SELECT rowid AS rid, user_id, thread_id, "
                       "checkpoint_ns, checkpoint_id, created_at, row_number() OVER "
                       "(PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC) AS rn "
                       "FROM main.lg_checkpoint WHERE user_id = :uid AND thread_id = :sid) w "
                       "WHERE w.rn > :keep AND julianday(w.created_at) < :age AND NOT EXISTS "
                       "(SELECT 1 FROM temp.kr_cand x WHERE x.tbl = 2 AND x.rid = w.rid)",
                .child = STORE_T_CHECKPOINT_WRITE,
                .child_on = checkpoint_write_on,
        };

        return plan_per_session(q, "cp_n > :keep", &p, b, err);
}

static int plan_events(struct sq *q, struct binds *b, struct errbuf *err)
{
        const struct pipe p = {
                .head = STORE_T_EVENT,
                .sel = "SELECT w.rid, :sid, :uid, 0, NULL, NULL, NULL, NULL FROM (SELECT "
                       "rowid AS rid, julianday(created_at) AS t, row_number() OVER (ORDER BY "
                       "julianday(created_at) DESC, rowid DESC) AS rn FROM main.event WHERE "
                       "session_id = :sid AND user_id = :uid) w WHERE w.rn > :keep AND "
                       "w.t < :age AND NOT EXISTS (SELECT 1 FROM temp.kr_cand x WHERE "
                       "x.tbl = 0 AND x.rid = w.rid)",
                .child = STORE_T_COUNT,
        };

        return plan_per_session(q, "ev_n > :keep AND ev_first < :age", &p, b, err);
}

/* ---- scanning rules ------------------------------------------------------------------- */

static int plan_soft_rows(struct sq *q, struct binds *b, struct errbuf *err)
{
        const struct pipe pipes[] = {
                { .head = STORE_T_TASK,
                  .sel = "SELECT t.rowid, t.session_id, '', 1, t.id, NULL, NULL, NULL FROM main.task t "
                         "WHERE " RANGE("t") " AND t.deleted_at IS NOT NULL AND " OLD(
                                 "t.deleted_at",
                                 ":age") " AND " INACTIVE_ANY("t.session_id") " AND " NOT_PLANNED(7,
                                                                                                  "t"),
                  .child = STORE_T_PUSH,
                  .child_on = "c.task_id = s.k1" },
                { .head = STORE_T_EVENT,
                  .sel = "SELECT e.rowid, e.session_id, e.user_id, 0, NULL, NULL, NULL, NULL FROM "
                         "main.event e WHERE " RANGE("e") " AND e.deleted_at IS NOT NULL AND " OLD(
                                 "e.deleted_at",
                                 ":age") " AND " INACTIVE("e.session_id",
                                                          "e.user_id") " AND " NOT_PLANNED(0, "e"),
                  .child = STORE_T_COUNT },
                { .head = STORE_T_PUSH,
                  .sel = "SELECT p.rowid, (SELECT t.session_id FROM main.task t WHERE t.id = "
                         "p.task_id), '', 1, NULL, NULL, NULL, NULL FROM main.push_notification p "
                         "WHERE " RANGE("p") " AND p.deleted_at IS NOT NULL AND " OLD("p.deleted_at", ":age") " AND " INACTIVE_ANY(
                                 "(SELECT t.session_id FROM main.task t WHERE t.id = p.task_id)") " AND " NOT_PLANNED(6,
                                                                                                                      "p"),
                  .child = STORE_T_COUNT },
                { .head = STORE_T_FEEDBACK,
                  .sel = "SELECT f.rowid, NULL, NULL, 0, NULL, NULL, NULL, NULL FROM main.feedback f "
                         "WHERE " RANGE("f") " AND f.deleted_at IS NOT NULL AND " OLD(
                                 "f.deleted_at", ":age") " AND " NOT_PLANNED(8, "f"),
                  .child = STORE_T_COUNT },
                { .head = STORE_T_CHECKPOINT,
                  .sel = "SELECT c.rowid, c.thread_id, c.user_id, 0, c.user_id, c.thread_id, "
                         "c.checkpoint_ns, c.checkpoint_id FROM main.lg_checkpoint c WHERE " RANGE("c") " AND c.deleted_at IS NOT NULL AND " OLD(
                                 "c.deleted_at",
                                 ":age") " AND " INACTIVE("c.thread_id",
                                                          "c.user_id") " AND " NOT_PLANNED(2, "c"),
                  .child = STORE_T_CHECKPOINT_WRITE,
                  .child_on = checkpoint_write_on },
                { .head = STORE_T_CHECKPOINT_WRITE,
                  .sel = "SELECT w.rowid, w.thread_id, w.user_id, 0, NULL, NULL, NULL, NULL FROM "
                         "main.lg_checkpoint_write w WHERE " RANGE(
                                 "w") " AND w.deleted_at IS NOT "
                                      "NULL AND " OLD("w.deleted_at", ":age") " AND " INACTIVE(
                                              "w.thread_id", "w.user_id") " AND " NOT_PLANNED(1,
                                                                                              "w"),
                  .child = STORE_T_COUNT },
                { .head = STORE_T_CREWAI_MEMORY,
                  .sel = "SELECT m.rowid, m.thread_id, m.user_id, 0, NULL, NULL, NULL, NULL FROM "
                         "main.crewai_agent_memory m WHERE " RANGE(
                                 "m") " AND m.deleted_at IS NOT "
                                      "NULL AND " OLD("m.deleted_at", ":age") " AND " INACTIVE(
                                              "m.thread_id", "m.user_id") " AND " NOT_PLANNED(3,
                                                                                              "m"),
                  .child = STORE_T_COUNT },
                { .head = STORE_T_CREWAI_FLOW,
                  .sel = "SELECT m.rowid, m.thread_id, m.user_id, 0, NULL, NULL, NULL, NULL FROM "
                         "main.crewai_flow_state m WHERE " RANGE(
                                 "m") " AND m.deleted_at IS NOT "
                                      "NULL AND " OLD("m.deleted_at", ":age") " AND " INACTIVE(
                                              "m.thread_id", "m.user_id") " AND " NOT_PLANNED(4,
                                                                                              "m"),
                  .child = STORE_T_COUNT },
        };
        int rc;

        for (size_t i = 0; i < sizeof(pipes) / sizeof(pipes[0]); i++) {
                if (!q->t[pipes[i].head].present || !q->t[pipes[i].head].has_deleted_at)
                        continue;
                if (pipes[i].head == STORE_T_PUSH && !q->t[STORE_T_TASK].present)
                        continue;
                rc = pipe_scan(q, &pipes[i], b, err);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

static int plan_tasks(struct sq *q, struct binds *b, struct errbuf *err)
{
        const struct pipe p = {
                .head = STORE_T_TASK,
                .sel = "SELECT t.rowid, t.session_id, '', 1, t.id, NULL, NULL, NULL FROM main.task t "
                       "WHERE " RANGE("t") " AND " OLD(
                               "t.updated_at",
                               ":age") " AND json_valid(t.data) "
                                       "AND json_extract(t.data, '$.status.state') IN (" STORE_TERMINAL_STATES
                                       ") AND "
                                       "EXISTS (SELECT 1 FROM temp.kr_act a WHERE a.sid = t.session_id AND "
                                       "a.present = 1) AND " INACTIVE_ANY(
                                               "t.session_id") " AND " NOT_PLANNED(7, "t"),
                .child = STORE_T_PUSH,
                .child_on = "c.task_id = s.k1",
        };

        return pipe_scan(q, &p, b, err);
}

static int plan_crewai(struct sq *q, enum store_table t, struct binds *b, struct errbuf *err)
{
        char sel[1024];
        struct pipe p = { .head = t, .child = STORE_T_COUNT };

        (void)snprintf(
                sel, sizeof(sel),
                "SELECT m.rowid, m.thread_id, m.user_id, 0, NULL, NULL, NULL, NULL FROM "
                "main.\"%s\" m WHERE " RANGE("m") " AND " OLD("m.updated_at", ":age") " AND " SESSION_EXISTS(
                        "m.thread_id",
                        "m.user_id") " AND " INACTIVE("m.thread_id",
                                                      "m.user_id") " AND NOT EXISTS (SELECT 1 FROM "
                                                                   "temp.kr_cand x WHERE x.tbl = %d AND "
                                                                   "x.rid = m.rowid)",
                store_table_name(t), (int)t);
        p.sel = sel;
        return pipe_scan(q, &p, b, err);
}

/*
 * Orphans: rows whose parent is gone, older than the active window. Their units carry no session
 * key; the delete transaction re-checks that the parent is still absent instead.
 */
static int plan_orphans(struct sq *q, struct binds *b, struct errbuf *err)
{
        const struct pipe pipes[] = {
                { .head = STORE_T_EVENT,
                  .sel = "SELECT e.rowid, NULL, NULL, 0, NULL, NULL, NULL, NULL FROM main.event e "
                         "WHERE " RANGE("e") " AND " OLD(
                                 "e.created_at",
                                 ":active") " AND NOT EXISTS "
                                            "(SELECT 1 FROM main.session s WHERE s.id = e.session_id AND s.user_id = "
                                            "e.user_id) AND " NOT_PLANNED(0, "e"),
                  .child = STORE_T_COUNT },
                { .head = STORE_T_TASK,
                  .sel = "SELECT t.rowid, NULL, NULL, 0, t.id, NULL, NULL, NULL FROM main.task t "
                         "WHERE " RANGE("t") " AND " OLD(
                                 "t.updated_at",
                                 ":active") " AND NOT EXISTS "
                                            "(SELECT 1 FROM main.session s WHERE s.id = t.session_id) AND " NOT_PLANNED(
                                                    7, "t"),
                  .child = STORE_T_PUSH,
                  .child_on = "c.task_id = s.k1" },
                { .head = STORE_T_PUSH,
                  .sel = "SELECT p.rowid, NULL, NULL, 0, NULL, NULL, NULL, NULL FROM "
                         "main.push_notification p WHERE " RANGE("p") " AND " OLD(
                                 "p.created_at",
                                 ":active") " AND NOT EXISTS (SELECT 1 FROM main.task "
                                            "t WHERE t.id = p.task_id AND " NOT_PLANNED(
                                                    7, "t") ") AND " NOT_PLANNED(6, "p"),
                  .child = STORE_T_COUNT },
                { .head = STORE_T_CHECKPOINT,
                  .sel = "SELECT c.rowid, NULL, NULL, 0, c.user_id, c.thread_id, c.checkpoint_ns, "
                         "c.checkpoint_id FROM main.lg_checkpoint c WHERE " RANGE("c") " AND " OLD(
                                 "c.created_at",
                                 ":active") " AND NOT EXISTS (SELECT 1 FROM "
                                            "main.session s WHERE s.id = c.thread_id AND "
                                            "s.user_id = c.user_id) AND " NOT_PLANNED(2, "c"),
                  .child = STORE_T_CHECKPOINT_WRITE,
                  .child_on = checkpoint_write_on },
                { .head = STORE_T_CHECKPOINT_WRITE,
                  .sel = "SELECT w.rowid, NULL, NULL, 0, NULL, NULL, NULL, NULL FROM "
                         "main.lg_checkpoint_write w WHERE " RANGE("w") " AND " OLD(
                                 "w.created_at",
                                 ":active") " AND NOT EXISTS (SELECT 1 FROM "
                                            "main.lg_checkpoint c WHERE c.user_id = "
                                            "w.user_id AND c.thread_id = w.thread_id AND "
                                            "c.checkpoint_ns = w.checkpoint_ns AND "
                                            "c.checkpoint_id = w.checkpoint_id AND " NOT_PLANNED(
                                                    2, "c") ") AND " NOT_PLANNED(1, "w"),
                  .child = STORE_T_COUNT },
                { .head = STORE_T_CREWAI_MEMORY,
                  .sel = "SELECT m.rowid, NULL, NULL, 0, NULL, NULL, NULL, NULL FROM "
                         "main.crewai_agent_memory m WHERE " RANGE("m") " AND " OLD(
                                 "m.updated_at",
                                 ":active") " AND NOT EXISTS (SELECT 1 FROM "
                                            "main.session s WHERE s.id = m.thread_id AND "
                                            "s.user_id = m.user_id) AND " NOT_PLANNED(3, "m"),
                  .child = STORE_T_COUNT },
                { .head = STORE_T_CREWAI_FLOW,
                  .sel = "SELECT m.rowid, NULL, NULL, 0, NULL, NULL, NULL, NULL FROM "
                         "main.crewai_flow_state m WHERE " RANGE("m") " AND " OLD(
                                 "m.updated_at",
                                 ":active") " AND NOT EXISTS (SELECT 1 FROM "
                                            "main.session s WHERE s.id = m.thread_id AND "
                                            "s.user_id = m.user_id) AND " NOT_PLANNED(4, "m"),
                  .child = STORE_T_COUNT },
        };
        int rc;

        for (size_t i = 0; i < sizeof(pipes) / sizeof(pipes[0]); i++) {
                enum store_table h = pipes[i].head;

                if (!q->t[h].present)
                        continue;
                /* Without the parent table a row cannot be told apart from an orphan. */
                if ((h == STORE_T_EVENT || h == STORE_T_TASK || h == STORE_T_CHECKPOINT ||
                     h == STORE_T_CREWAI_MEMORY || h == STORE_T_CREWAI_FLOW) &&
                    !q->t[STORE_T_SESSION].present)
                        continue;
                if (h == STORE_T_PUSH && !q->t[STORE_T_TASK].present)
                        continue;
                if (h == STORE_T_CHECKPOINT_WRITE && !q->t[STORE_T_CHECKPOINT].present)
                        continue;
                rc = pipe_scan(q, &pipes[i], b, err);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

static int plan_totals(struct sq *q, int64_t seq_before, struct store_plan_result *out,
                       struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sq_prepare(q,
                        "SELECT tbl, count(*), coalesce(sum(bytes), 0), sum(head) "
                        "FROM temp.kr_cand WHERE seq > ?1 GROUP BY tbl",
                        &st, err);
        if (rc < 0)
                return rc;
        (void)sqlite3_bind_int64(st, 1, seq_before);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int t = sqlite3_column_int(st, 0);

                if (t < 0 || t >= STORE_T_COUNT)
                        continue;
                out->tables[t].rows = sqlite3_column_int64(st, 1);
                out->tables[t].bytes = sqlite3_column_int64(st, 2);
                out->rows += out->tables[t].rows;
                out->units += sqlite3_column_int64(st, 3);
        }
        if (rc != SQLITE_DONE)
                rc = sq_fail(q, rc, err, "plan");
        else
                rc = 0;
        sqlite3_finalize(st);
        return rc;
}

/*
 * Session activity for this plan, unless a rule before it built it. The sessions rule alone, all
 * of it (not the ladder's oldest few), reads candidates only when the children can be searched
 * by session; with nothing planned before it ('fresh'), it then goes per whole session
 * ('*whole'), when the push notifications of its tasks can be found through an index too.
 */
static int plan_activity(struct sq *q, const struct store_rule_params *p, struct binds *b,
                         bool fresh, bool *whole, struct errbuf *err)
{
        int rc;

        *whole = false;
        if (q->act_ready)
                return 0;
        rc = p->rule == STORE_RULE_SESSIONS && p->max_sessions <= 0 ? children_indexed(q, err) : 0;
        if (rc < 0)
                return rc;
        if (rc == 0)
                return build_activity(q, err);
        rc = candidate_activity(q, b, err);
        if (rc < 0 || !fresh)
                return rc;
        if (q->t[STORE_T_PUSH].present && q->t[STORE_T_TASK].present) {
                rc = has_index(q, STORE_T_PUSH, "task_id", NULL, err);
                if (rc <= 0)
                        return rc;
        }
        *whole = true;
        return 0;
}

int sq_plan(struct store *s, const struct store_rule_params *p, struct store_plan_result *out,
            struct errbuf *err)
{
        struct sq *q = sq_of(s);
        struct store_plan_result res;
        struct binds b;
        int64_t seq_before = 0;
        bool whole = false;
        int rc;

        if (!q->db)
                return errbuf_set(err, -EROFS, "%s", s->info.not_writable_reason);
        memset(&res, 0, sizeof(res));
        memset(&b, 0, sizeof(b));
        q->plan_out = &res;
        q->deadline_mono_ms = p->deadline_mono_ms;
        q->stop = p->stop;
        if (p->read_budget_ms > 0)
                q->read_budget_ms = p->read_budget_ms;
        b.rule = p->rule;
        b.active = sq_jd(p->active_cutoff_ms);
        b.age = sq_jd(p->age_cutoff_ms);
        b.unf = sq_jd(p->unfinished_cutoff_ms);
        b.cut = b.age < b.active ? b.age : b.active;
        b.keep = p->keep;
        /* Inside each delete transaction a session counts as active after this instant. */
        q->recheck_cut_jd = p->rule == STORE_RULE_SESSIONS ? b.cut : b.active;
        rc = sq_sessions_materialize(q, err);
        if (rc < 0)
                goto out;
        rc = sq_int(q, "SELECT coalesce(max(seq), 0) FROM temp.kr_cand", &seq_before, err);
        if (rc < 0)
                goto out;
        /* Deleting starts after what is left of earlier plans (a dry run keeps them all). */
        q->cursor = seq_before;
        /* What the plan reads is as of this version or later (sq_delete_sessions()). */
        rc = sq_int(q, "PRAGMA data_version", &q->plan_dv, err);
        if (rc < 0) {
                q->plan_dv = -1;
                goto out;
        }
        rc = plan_activity(q, p, &b, seq_before == 0, &whole, err);
        if (rc < 0)
                goto out;
        if (whole) {
                rc = plan_sessions_whole(q, &b, p->dry_run, &res, err);
                if (rc < 0)
                        goto out;
                q->cur_rule_age_jd = b.age;
                *out = res;
                goto out;
        }
        switch (p->rule) {
        case STORE_RULE_SESSIONS:
                rc = plan_sessions(q, p, false, &b, err);
                break;
        case STORE_RULE_SOFT_DELETED:
                rc = plan_sessions(q, p, true, &b, err);
                if (rc == 0)
                        rc = plan_soft_rows(q, &b, err);
                break;
        case STORE_RULE_TASKS:
                rc = plan_tasks(q, &b, err);
                break;
        case STORE_RULE_CHECKPOINTS:
                rc = plan_checkpoints(q, &b, err);
                break;
        case STORE_RULE_EVENTS:
                rc = plan_events(q, &b, err);
                break;
        case STORE_RULE_CREWAI_MEMORY:
                rc = plan_crewai(q, STORE_T_CREWAI_MEMORY, &b, err);
                break;
        case STORE_RULE_CREWAI_FLOW:
                rc = plan_crewai(q, STORE_T_CREWAI_FLOW, &b, err);
                break;
        case STORE_RULE_ORPHANS:
                rc = plan_orphans(q, &b, err);
                break;
        default:
                rc = errbuf_set(err, -EINVAL, "unknown rule %d", (int)p->rule);
                break;
        }
        if (rc < 0)
                goto out;
        rc = plan_totals(q, seq_before, &res, err);
        if (rc < 0)
                goto out;
        q->cur_rule_age_jd = b.age;
        *out = res;
out:
        q->plan_out = NULL;
        return rc;
}
