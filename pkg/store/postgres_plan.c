/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PostgreSQL planning: each session's last activity is computed once per run, then every rule's
 * candidate rows are recorded, by primary key, in connection-private temp tables, children
 * before their parents. Reads never block kagent (MVCC), but they still run in short statements
 * so statement_timeout stays meaningful, the run deadline is honoured and no snapshot is held
 * for long: whole tables are walked in block ranges (TID range scans, PostgreSQL 14+; one
 * statement per table before that), per-session rules in slices of sessions through the indexes
 * kagent has (event.session_id, the lg_checkpoint primary key).
 *
 * Temp tables (pg_temp, gone with the connection):
 *   kr_act   (sid, uid) -> session row present, timestamps known, last activity, newest update
 *            of an unfinished task, event count and oldest event, checkpoint count, first block
 *            range holding one of its events
 *   kr_evs   per block range partial event aggregates, merged into kr_act
 *   kr_tact  task activity per session id, and per owner where task.user_id is set
 *   kr_skey  session keys re-checked inside each delete transaction
 *   kr_list  the sessions a per-session rule walks, numbered
 *   kr_sel   one round's head rows, one unit each
 *   kr_cand  the plan: seq order is deletion order; k1..k5 hold the row's primary key as text
 * Each round runs in one transaction: empty kr_sel, fill it, register its session keys, then
 * insert its heads and all their children into kr_cand in one statement, numbered by unit, then
 * table (children first). (kr_sel is not ON COMMIT DELETE ROWS: that truncates files at every
 * commit of the session, delete batches included, which costs more than the rest of a round.)
 */
#define LOG_MODULE "store"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/errbuf.h"
#include "base/str.h"
#include "log/log.h"
#include "store/pg_internal.h"

#define CHUNK_MIN           1
#define CHUNK_MAX           (1 << 20)
#define CHUNK_BLOCKS        16 /* first block range of a table walk */
#define CHUNK_SESSIONS      64 /* first slice of a session list */
#define PG_TIDRANGE_VERSION 140000

int pg_temp_setup(struct pgs *q, struct errbuf *err)
{
        static const char setup[] =
                "CREATE TEMP TABLE IF NOT EXISTS kr_cand(seq bigint PRIMARY KEY, "
                "unit bigint NOT NULL, skey bigint, tbl int NOT NULL, rule int NOT NULL, "
                "head boolean NOT NULL, shared boolean NOT NULL, bytes bigint NOT NULL, "
                "k1 text NOT NULL, k2 text NOT NULL, k3 text NOT NULL, k4 text NOT NULL, "
                "k5 text NOT NULL);"
                /* tbl last: a batch's "seq range AND tbl = T" must not look like a key lookup. */
                "CREATE UNIQUE INDEX IF NOT EXISTS kr_cand_key ON pg_temp.kr_cand"
                "(k1, k2, k3, k4, k5, tbl);"
                "CREATE INDEX IF NOT EXISTS kr_cand_skey ON pg_temp.kr_cand(skey);"
                "CREATE INDEX IF NOT EXISTS kr_cand_unit ON pg_temp.kr_cand(unit);"
                "CREATE TEMP TABLE IF NOT EXISTS kr_skey(skey bigserial PRIMARY KEY, "
                "sid text NOT NULL, uid text NOT NULL, anyuser boolean NOT NULL, "
                "UNIQUE (sid, uid, anyuser));"
                "CREATE TEMP TABLE IF NOT EXISTS kr_act(sid text NOT NULL, uid text NOT NULL, "
                "present boolean NOT NULL DEFAULT false, known boolean NOT NULL DEFAULT true, "
                "last timestamptz NOT NULL DEFAULT '-infinity', "
                "nonterm timestamptz NOT NULL DEFAULT '-infinity', "
                "ev_n bigint NOT NULL DEFAULT 0, ev_first timestamptz, "
                "cp_n bigint NOT NULL DEFAULT 0, pos bigint, PRIMARY KEY (sid, uid));"
                "CREATE TEMP TABLE IF NOT EXISTS kr_evs(sid text, uid text, last timestamptz, "
                "n bigint, first timestamptz, pos bigint);"
                "CREATE TEMP TABLE IF NOT EXISTS kr_tact(sid text NOT NULL, uid text NOT NULL, "
                "anyuser boolean NOT NULL, last timestamptz NOT NULL, "
                "nonterm timestamptz NOT NULL, PRIMARY KEY (sid, uid, anyuser));"
                "CREATE TEMP TABLE IF NOT EXISTS kr_list(i bigint PRIMARY KEY, "
                "sid text NOT NULL, uid text NOT NULL);"
                "CREATE TEMP TABLE IF NOT EXISTS kr_sel(unit bigint PRIMARY KEY, sid text, "
                "uid text, anyuser boolean NOT NULL DEFAULT false, "
                "bytes bigint NOT NULL DEFAULT 0, k1 text NOT NULL DEFAULT '', "
                "k2 text NOT NULL DEFAULT '', k3 text NOT NULL DEFAULT '', "
                "k4 text NOT NULL DEFAULT '', k5 text NOT NULL DEFAULT '');"
                /* The sessions rule's per-session plan: candidates, then numbered. */
                "CREATE TEMP TABLE IF NOT EXISTS kr_sstage(sid text NOT NULL, uid text NOT NULL, "
                "last timestamptz NOT NULL, pos bigint, rows bigint NOT NULL, "
                "n bigint[] NOT NULL, b bigint[] NOT NULL);"
                "CREATE TEMP TABLE IF NOT EXISTS kr_sess(seq bigint PRIMARY KEY, sid text NOT NULL, "
                "uid text NOT NULL, rows bigint NOT NULL, n bigint[] NOT NULL, "
                "b bigint[] NOT NULL);"
                "CREATE INDEX IF NOT EXISTS kr_sess_key ON pg_temp.kr_sess(sid, uid);"
                /* A batch that would delete more rows than it may fails with KR001. */
                "CREATE OR REPLACE FUNCTION pg_temp.kr_guard(n bigint, m bigint) RETURNS bigint "
                "LANGUAGE plpgsql AS $f$ BEGIN IF n > m THEN RAISE EXCEPTION 'batch over its row "
                "limit' USING ERRCODE = 'KR001'; END IF; RETURN n; END $f$;"
                /* A batch that deleted a row of a session active again fails with KR002. */
                "CREATE OR REPLACE FUNCTION pg_temp.kr_idle(n bigint) RETURNS bigint "
                "LANGUAGE plpgsql AS $f$ BEGIN IF n > 0 THEN RAISE EXCEPTION 'a session of the "
                "batch is active again' USING ERRCODE = 'KR002'; END IF; RETURN 0; END $f$;" PG_TASK_STATE_FN;

        if (!q->temp_ready) {
                int rc = pg_script(q, setup, err, "temp tables");

                if (rc < 0)
                        return rc;
                q->temp_ready = true;
        }
        pg_note_own_xid(q);
        if (q->sess_prepared || q->xid_prepared) {
                /* The statements name the tables as found: prepare them again each run. */
                int rc = pg_deallocate(q, err, "temp tables");

                if (rc < 0)
                        return rc;
        }
        return pg_exec(q,
                       "TRUNCATE pg_temp.kr_cand, pg_temp.kr_skey, pg_temp.kr_act, "
                       "pg_temp.kr_tact, pg_temp.kr_list, pg_temp.kr_sess, pg_temp.kr_sstage",
                       NULL, NULL, err, "temp tables");
}

/* ---- statements with named parameters ------------------------------------------------- */

/* Values bound by name (":age") to whichever parameters a statement uses. */
struct binds {
        int64_t lo, hi; /* a block range (tid) or a list slice */
        bool tid;
        int64_t ubase, keep, n, seq, rule;
        int64_t age_ms, active_ms, unf_ms, cut_ms;
        const char *json; /* :json, borrowed */
};

static bool bind_value(const struct binds *b, const char *name, size_t len, char *out, size_t size)
{
        static const struct {
                const char *name;
                size_t off;
                bool ts;
        } ints[] = {
                { "ubase", offsetof(struct binds, ubase), false },
                { "keep", offsetof(struct binds, keep), false },
                { "n", offsetof(struct binds, n), false },
                { "seq", offsetof(struct binds, seq), false },
                { "rule", offsetof(struct binds, rule), false },
                { "age", offsetof(struct binds, age_ms), true },
                { "active", offsetof(struct binds, active_ms), true },
                { "unf", offsetof(struct binds, unf_ms), true },
                { "cut", offsetof(struct binds, cut_ms), true },
        };

        /* The first block of the range as a number: where a session's rows start. */
        if (len == 3 && strncmp(name, "blk", 3) == 0) {
                (void)snprintf(out, size, "%" PRId64, b->lo);
                return true;
        }
        if ((len == 2 && strncmp(name, "lo", 2) == 0) ||
            (len == 2 && strncmp(name, "hi", 2) == 0)) {
                int64_t v = name[0] == 'l' ? b->lo : b->hi;

                if (b->tid)
                        (void)snprintf(out, size, "(%" PRId64 ",0)", v);
                else
                        (void)snprintf(out, size, "%" PRId64, v);
                return true;
        }
        for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
                int64_t v;

                if (strlen(ints[i].name) != len || strncmp(name, ints[i].name, len) != 0)
                        continue;
                memcpy(&v, (const char *)b + ints[i].off, sizeof(v));
                if (ints[i].ts) {
                        struct pg_params tmp;

                        pg_params_init(&tmp);
                        pg_param_ts(&tmp, v);
                        (void)str_copy(out, tmp.buf[0], size);
                } else {
                        (void)snprintf(out, size, "%" PRId64, v);
                }
                return true;
        }
        return false;
}

/* Add the value of ":name" as the next parameter; false when unknown or too many. */
static bool bind_param(const struct binds *b, const char *name, size_t len, struct pg_params *p)
{
        if (p->n == PG_PARAMS_MAX)
                return false;
        if (len == 4 && strncmp(name, "json", 4) == 0 && b->json) {
                p->v[p->n++] = b->json; /* borrowed */
                return true;
        }
        if (!bind_value(b, name, len, p->buf[p->n], sizeof(p->buf[p->n])))
                return false;
        p->v[p->n] = p->buf[p->n];
        p->n++;
        return true;
}

/* Rewrite ":name" placeholders (not "::type" casts) to $1..$n and collect their values. */
static int bind_sql(const char *sql, const struct binds *b, struct buf *out, struct pg_params *p,
                    struct errbuf *err)
{
        const char *names[PG_PARAMS_MAX] = { NULL };
        size_t lens[PG_PARAMS_MAX] = { 0 };
        int rc = 0;

        pg_params_init(p);
        for (const char *s = sql; *s && rc == 0; s++) {
                const char *e = s + 1;
                int idx = -1;

                if (*s != ':' || (s > sql && s[-1] == ':') || !(*e >= 'a' && *e <= 'z')) {
                        rc = buf_append(out, s, 1);
                        continue;
                }
                while ((*e >= 'a' && *e <= 'z') || *e == '_')
                        e++;
                for (int i = 0; i < p->n; i++)
                        if (names[i] && lens[i] == (size_t)(e - s - 1) &&
                            strncmp(names[i], s + 1, lens[i]) == 0)
                                idx = i;
                if (idx < 0) {
                        if (!bind_param(b, s + 1, (size_t)(e - s - 1), p))
                                return errbuf_set(err, -EINVAL, "plan: unknown parameter '%.*s'",
                                                  (int)(e - s - 1), s + 1);
                        idx = p->n - 1;
                        names[idx] = s + 1;
                        lens[idx] = (size_t)(e - s - 1);
                }
                rc = buf_printf(out, "$%d", idx + 1);
                s = e - 1;
        }
        if (rc < 0)
                return errbuf_set(err, rc, "plan: sql text too long");
        return 0;
}

/* Run a planning statement with named binds, for its statistics; '*out' may be NULL. */
static int run(struct pgs *q, const char *sql, const struct binds *b, PGresult **out,
               struct errbuf *err)
{
        struct pg_params p;
        struct buf text;
        int64_t t0 = clock_mono_ms();
        int64_t dt;
        int rc;

        buf_init(&text, PG_SQL_MAX);
        rc = bind_sql(sql, b, &text, &p, err);
        if (rc == 0)
                rc = pg_exec(q, text.data, &p, out, err, "plan");
        buf_cleanup(&text);
        dt = clock_mono_ms() - t0;
        if (q->plan_out) {
                q->plan_out->statements++;
                if (dt > q->plan_out->max_read_ms)
                        q->plan_out->max_read_ms = dt;
        }
        return rc;
}

/* Two integers from the first row of a result ("count, max"); the result is cleared. */
static void two_ints(PGresult *res, int64_t *a, int64_t *b)
{
        *a = 0;
        *b = 0;
        if (pqlib.PQntuples(res) > 0 && pqlib.PQnfields(res) >= 2) {
                (void)str_to_i64(pqlib.PQgetvalue(res, 0, 0), a);
                (void)str_to_i64(pqlib.PQgetvalue(res, 0, 1), b);
        }
        pqlib.PQclear(res);
}

static int check_deadline(struct pgs *q, struct errbuf *err)
{
        if (q->deadline_mono_ms > 0 && clock_mono_ms() > q->deadline_mono_ms)
                return errbuf_set(err, -ETIMEDOUT, "run timeout reached while planning");
        if (q->stop && *q->stop)
                return errbuf_set(err, -ECANCELED, "stopped while planning");
        return 0;
}

/* SQL text assembled with buf_printf; -EMSGSIZE when it outgrows PG_SQL_MAX. */
static int sqlf(struct buf *b, struct errbuf *err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int sqlf(struct buf *b, struct errbuf *err, const char *fmt, ...)
{
        va_list ap;
        int rc;

        va_start(ap, fmt);
        rc = buf_vprintf(b, fmt, ap);
        va_end(ap);
        return rc < 0 ? errbuf_set(err, rc, "plan: sql text too long") : 0;
}

/* Append 'tpl' with "{0}".."{9}" replaced by vals[0..9]. */
static int expand(struct buf *out, const char *tpl, const char *const *vals, int n)
{
        int rc = 0;

        for (const char *s = tpl; *s && rc == 0; s++) {
                if (s[0] == '{' && s[1] >= '0' && s[1] <= '9' && s[2] == '}' && s[1] - '0' < n) {
                        rc = buf_append_str(out, vals[s[1] - '0']);
                        s += 2;
                } else {
                        rc = buf_append(out, s, 1);
                }
        }
        return rc;
}

/* ---- fragments ------------------------------------------------------------------------- */

static const char *qn(const struct pgs *q, enum store_table t)
{
        return q->t[t].qname;
}

/*
 * "NOT EXISTS (SELECT 1 FROM pg_temp.kr_cand x WHERE x.tbl = T AND <keys of a> OFFSET 0)".
 * OFFSET 0 keeps it a correlated subplan, one probe of the unique key index per row: as an
 * anti-join the planner, blind on a temp table without statistics, may scan every planned row
 * of the table for each row, and the plan grows to millions.
 */
static int not_planned(struct buf *b, enum store_table t, const char *a)
{
        int rc = buf_printf(b, "NOT EXISTS (SELECT 1 FROM pg_temp.kr_cand x WHERE x.tbl = %d AND ",
                            (int)t);

        rc |= pg_keys_match(b, t, a, "x", true);
        rc |= buf_append_str(b, " OFFSET 0)");
        return rc ? -EMSGSIZE : 0;
}

/* A task's sessions are inactive: those of its id, or its owner's where task.user_id is set. */
static int task_inactive(const struct pgs *q, struct buf *b, const char *t)
{
        if (!q->task_has_user_id)
                return buf_printf(b,
                                  "NOT EXISTS (SELECT 1 FROM pg_temp.kr_act a WHERE "
                                  "a.sid = %s.session_id AND a.last >= :active::timestamptz)",
                                  t);
        return buf_printf(b,
                          "NOT EXISTS (SELECT 1 FROM pg_temp.kr_act a WHERE a.sid = %s.session_id "
                          "AND (%s.user_id IS NULL OR a.uid = %s.user_id) AND "
                          "a.last >= :active::timestamptz)",
                          t, t, t);
}

/* ---- rounds: fill kr_sel, stage children and heads, number them into kr_cand ---------- */

/*
 * Rows of 'table' hanging off each head s of kr_sel: 'from' is "FROM <child> c WHERE ..." over
 * s, run per head as LATERAL (... OFFSET 0) so it is an index probe per head: temp tables have
 * no statistics, and a join the planner may plan freely becomes a hash join over the whole
 * child table in every round.
 */
struct child {
        enum store_table table;
        char from[1536];
        const char *shared; /* over the rows of 'from' */
};

struct round {
        enum store_table head;
        struct buf fill; /* "INSERT INTO pg_temp.kr_sel(...) SELECT ..." */
        bool skeys;      /* kr_sel rows carry session keys */
        struct child children[8];
        int n_children;
};

static void round_init(struct round *r, enum store_table head, bool skeys)
{
        memset(r, 0, sizeof(*r));
        r->head = head;
        r->skeys = skeys;
        buf_init(&r->fill, PG_SQL_MAX);
}

static void round_cleanup(struct round *r)
{
        buf_cleanup(&r->fill);
}

static void add_child(struct pgs *q, struct round *r, enum store_table t, const char *shared,
                      const char *from_fmt, ...) __attribute__((format(printf, 5, 6)));

static void add_child(struct pgs *q, struct round *r, enum store_table t, const char *shared,
                      const char *from_fmt, ...)
{
        struct child *c;
        va_list ap;

        if (!q->t[t].present ||
            r->n_children == (int)(sizeof(r->children) / sizeof(r->children[0])))
                return;
        c = &r->children[r->n_children++];
        c->table = t;
        c->shared = shared ? shared : "false";
        va_start(ap, from_fmt);
        /* clang-tidy 14 flags this va_list uninitialized right after va_start (false positive). */
        (void)vsnprintf(c->from, sizeof(c->from), from_fmt, // NOLINT(clang-analyzer-valist.*)
                        ap);
        va_end(ap);
}

/* "SELECT <row of one child table hanging off each head s>" for the round's emit. */
static int emit_child(struct pgs *q, struct buf *b, const struct child *c)
{
        int rc = buf_printf(
                b,
                "SELECT s.unit, k.skey, %d AS tbl, false AS head, c.kr_shared AS shared, "
                "%s AS bytes, ",
                (int)c->table, q->t[c->table].bytes_expr);

        rc |= pg_keys_select(b, c->table, "c", "k");
        rc |= buf_printf(b,
                         " FROM pg_temp.kr_sel s LEFT JOIN pg_temp.kr_skey k ON k.sid = s.sid AND "
                         "k.uid = s.uid AND k.anyuser = s.anyuser CROSS JOIN LATERAL (SELECT c.*, "
                         "%s AS kr_shared %s OFFSET 0) c WHERE ",
                         c->shared, c->from);
        rc |= not_planned(b, c->table, "c");
        return rc ? -EMSGSIZE : 0;
}

/*
 * Number the round's rows into kr_cand in one statement: the children of every head of kr_sel
 * and the heads, ordered by unit, then table (the enum is children first), each row once.
 */
static int emit(struct pgs *q, const struct round *r, struct binds *b, struct errbuf *err)
{
        PGresult *res = NULL;
        struct buf sql;
        int64_t n = 0;
        int64_t max = 0;
        int rc = 0;

        buf_init(&sql, PG_SQL_MAX);
        if (buf_append_str(&sql,
                           "WITH ins AS (INSERT INTO pg_temp.kr_cand(seq, unit, skey, tbl, rule, "
                           "head, shared, bytes, k1, k2, k3, k4, k5) SELECT :seq::bigint + "
                           "row_number() OVER (ORDER BY d.unit, d.tbl, d.k1, d.k2, d.k3, d.k4, "
                           "d.k5), d.unit, d.skey, d.tbl, :rule::int, d.head, d.shared, d.bytes, "
                           "d.k1, d.k2, d.k3, d.k4, d.k5 FROM (") < 0)
                rc = -EMSGSIZE;
        for (int i = 0; rc == 0 && i < r->n_children; i++)
                rc = emit_child(q, &sql, &r->children[i]) < 0 ||
                                     buf_append_str(&sql, " UNION ALL ") < 0
                             ? -EMSGSIZE
                             : 0;
        if (rc == 0 &&
            buf_printf(&sql,
                       "SELECT s.unit, k.skey, %d AS tbl, true AS head, false AS shared, s.bytes, "
                       "s.k1, s.k2, s.k3, s.k4, "
                       "s.k5 FROM pg_temp.kr_sel s LEFT JOIN pg_temp.kr_skey k ON k.sid = s.sid "
                       "AND k.uid = s.uid AND k.anyuser = s.anyuser) d ON CONFLICT DO NOTHING "
                       "RETURNING seq) SELECT count(*), coalesce(max(seq), 0) FROM ins",
                       (int)r->head) < 0)
                rc = -EMSGSIZE;
        b->seq = q->seq_max;
        rc = rc < 0 ? errbuf_set(err, rc, "plan: sql text too long")
                    : run(q, sql.data, b, &res, err);
        buf_cleanup(&sql);
        if (rc < 0)
                return rc;
        two_ints(res, &n, &max);
        if (n > 0 && max > q->seq_max)
                q->seq_max = max;
        return 0;
}

static int round_body(struct pgs *q, const struct round *r, struct binds *b, struct errbuf *err)
{
        PGresult *res = NULL;
        int64_t n = 0;
        int64_t max = 0;
        struct buf sql;
        int rc;

        buf_init(&sql, PG_SQL_MAX);
        b->ubase = q->unit_max;
        rc = sqlf(&sql, err,
                  "WITH ins AS (%s RETURNING unit) SELECT count(*), coalesce(max(unit), 0) "
                  "FROM ins",
                  r->fill.data);
        if (rc == 0)
                rc = run(q, sql.data, b, &res, err);
        buf_cleanup(&sql);
        if (rc < 0)
                return rc;
        two_ints(res, &n, &max);
        if (n == 0)
                return 0;
        if (max > q->unit_max)
                q->unit_max = max;
        if (r->skeys) {
                rc = run(q,
                         "INSERT INTO pg_temp.kr_skey(sid, uid, anyuser) SELECT DISTINCT sid, uid, "
                         "anyuser FROM pg_temp.kr_sel WHERE sid IS NOT NULL ON CONFLICT DO NOTHING",
                         b, NULL, err);
                if (rc < 0)
                        return rc;
        }
        return emit(q, r, b, err);
}

/* One round in one transaction. */
static int round_run(struct pgs *q, const struct round *r, struct binds *b, struct errbuf *err)
{
        int rc;

        rc = check_deadline(q, err);
        if (rc < 0)
                return rc;
        /* kr_sel is emptied every round and never autovacuumed: keep it a few pages. */
        if (++q->rounds % 64 == 0) {
                rc = pg_exec(q, "VACUUM pg_temp.kr_sel", NULL, NULL, err, "plan");
                if (rc < 0)
                        return rc;
        }
        rc = pg_begin(q, err);
        if (rc == 0)
                rc = pg_exec(q, "DELETE FROM pg_temp.kr_sel", NULL, NULL, err, "plan");
        if (rc == 0)
                rc = round_body(q, r, b, err);
        if (rc == 0)
                rc = pg_commit(q, err);
        if (rc < 0)
                pg_rollback(q);
        return rc;
}

/* ---- walking tables in block ranges and session lists in slices ----------------------- */

typedef int walk_fn(struct pgs *q, struct binds *b, const void *ctx, struct errbuf *err);

/* "c.ctid >= :lo::tid AND c.ctid < :hi::tid", or a constant true before PostgreSQL 14. */
static int range(const struct pgs *q, struct buf *b, const char *a)
{
        if (q->server_version >= PG_TIDRANGE_VERSION)
                return buf_printf(b, "%s.ctid >= :lo::tid AND %s.ctid < :hi::tid", a, a);
        return buf_append_str(b, ":lo::tid <= :hi::tid");
}

static int64_t adapt(const struct pgs *q, int64_t chunk, int64_t dt)
{
        if (dt * 2 < q->read_budget_ms && chunk < CHUNK_MAX)
                return chunk * 2;
        if (dt > q->read_budget_ms && chunk > CHUNK_MIN)
                return chunk / 2;
        return chunk;
}

/* The table's size in blocks, as it is now. */
static int table_blocks(struct pgs *q, enum store_table t, int64_t *blocks, struct errbuf *err)
{
        struct pg_params p;

        pg_params_init(&p);
        pg_param_str(&p, qn(q, t));
        return pg_int(q,
                      "SELECT pg_catalog.pg_relation_size($1::regclass) / "
                      "pg_catalog.current_setting('block_size')::bigint",
                      &p, blocks, err, "plan");
}

/*
 * Call 'fn' over the table's blocks as they are now, in ranges sized so one round takes about
 * the read budget. Rows written later land in new blocks or were never candidates anyway:
 * anything written after the plan started is activity, and the delete re-checks catch it.
 */
static int walk_blocks(struct pgs *q, enum store_table t, struct binds *b, walk_fn *fn,
                       const void *ctx, struct errbuf *err)
{
        bool ranges = q->server_version >= PG_TIDRANGE_VERSION;
        int64_t chunk = CHUNK_BLOCKS;
        int64_t blocks = 0;
        int rc = table_blocks(q, t, &blocks, err);

        if (rc < 0)
                return rc;
        b->tid = true;
        for (int64_t lo = 0; lo < blocks;) {
                int64_t t0 = clock_mono_ms();

                b->lo = lo;
                b->hi = ranges ? lo + chunk : blocks;
                rc = fn(q, b, ctx, err);
                if (rc < 0)
                        break;
                lo = ranges ? lo + chunk : blocks;
                chunk = adapt(q, chunk, clock_mono_ms() - t0);
        }
        b->tid = false;
        return rc;
}

/* Call 'fn' over slices (:lo, :hi] of pg_temp.kr_list. */
static int walk_list(struct pgs *q, struct binds *b, walk_fn *fn, const void *ctx,
                     struct errbuf *err)
{
        int64_t chunk = CHUNK_SESSIONS;
        int64_t n = 0;
        int rc;

        rc = pg_int(q, "SELECT coalesce(max(i), 0) FROM pg_temp.kr_list", NULL, &n, err, "plan");
        if (rc < 0)
                return rc;
        b->tid = false;
        for (int64_t lo = 0; lo < n;) {
                int64_t t0 = clock_mono_ms();

                b->lo = lo;
                b->hi = lo + chunk;
                rc = fn(q, b, ctx, err);
                if (rc < 0)
                        return rc;
                lo += chunk;
                chunk = adapt(q, chunk, clock_mono_ms() - t0);
        }
        return 0;
}

static int statement_fn(struct pgs *q, struct binds *b, const void *ctx, struct errbuf *err)
{
        int rc = check_deadline(q, err);

        return rc < 0 ? rc : run(q, ctx, b, NULL, err);
}

static int round_fn(struct pgs *q, struct binds *b, const void *ctx, struct errbuf *err)
{
        return round_run(q, ctx, b, err);
}

/* ---- session activity ---------------------------------------------------------------- */

/* Run 'tpl' ({0}: the table, {1}: the range condition) over every block range. */
static int act_step(struct pgs *q, enum store_table t, const char *tpl, struct binds *b,
                    struct errbuf *err)
{
        const char *vals[2];
        struct buf cond;
        struct buf sql;
        int rc;

        if (!q->t[t].present)
                return 0;
        buf_init(&cond, 256);
        buf_init(&sql, PG_SQL_MAX);
        rc = range(q, &cond, "c") < 0 ? errbuf_set(err, -ENOMEM, "out of memory") : 0;
        vals[0] = qn(q, t);
        vals[1] = cond.data;
        if (rc == 0 && expand(&sql, tpl, vals, 2) < 0)
                rc = errbuf_set(err, -EMSGSIZE, "plan: sql text too long");
        if (rc == 0)
                rc = walk_blocks(q, t, b, statement_fn, sql.data, err);
        buf_cleanup(&sql);
        buf_cleanup(&cond);
        return rc;
}

/*
 * Events per session, with where its rows start in the table (the first block range holding
 * one): the sessions rule deletes in that order, so a batch's rows share pages. kagent's events
 * are in insertion order, the sessions of a range interleaved: a range's partial aggregates have
 * about a row per event, so they are appended to kr_evs (no index) and merged into kr_act once,
 * instead of an upsert per event.
 */
static int act_events(struct pgs *q, struct binds *b, struct errbuf *err)
{
        int rc;

        if (!q->t[STORE_T_EVENT].present)
                return 0;
        rc = act_step(q, STORE_T_EVENT,
                      "INSERT INTO pg_temp.kr_evs(sid, uid, last, n, first, pos) SELECT "
                      "c.session_id, c.user_id, coalesce(max(c.created_at), '-infinity'), "
                      "count(*), min(c.created_at), :blk::bigint FROM {0} c WHERE {1} AND "
                      "c.session_id IS NOT NULL AND c.user_id IS NOT NULL GROUP BY 1, 2",
                      b, err);
        if (rc == 0)
                rc = run(q,
                         "INSERT INTO pg_temp.kr_act(sid, uid, last, ev_n, ev_first, pos) "
                         "SELECT sid, uid, max(last), sum(n), min(first), min(pos) FROM "
                         "pg_temp.kr_evs GROUP BY 1, 2 ON CONFLICT (sid, uid) DO UPDATE SET "
                         "last = greatest(kr_act.last, excluded.last), "
                         "ev_n = kr_act.ev_n + excluded.ev_n, "
                         "ev_first = least(kr_act.ev_first, excluded.ev_first), "
                         "pos = least(kr_act.pos, excluded.pos)",
                         b, NULL, err);
        if (rc == 0)
                rc = pg_exec(q, "TRUNCATE pg_temp.kr_evs", NULL, NULL, err, "plan");
        return rc;
}

static int act_tasks(struct pgs *q, struct binds *b, struct errbuf *err)
{
        char fmt[1536];
        int rc;

        if (!q->t[STORE_T_TASK].present)
                return 0;
        (void)snprintf(fmt, sizeof(fmt),
                       "INSERT INTO pg_temp.kr_tact(sid, uid, anyuser, last, nonterm) "
                       "SELECT c.session_id, %s, %s, coalesce(max(c.updated_at), '-infinity'), "
                       "coalesce(max(CASE WHEN pg_temp.kr_task_state(c.data) IN "
                       "(" STORE_UNFINISHED_STATES ") THEN coalesce(c.updated_at, 'infinity') "
                       "END), '-infinity') FROM {0} c WHERE {1} AND c.session_id IS NOT NULL "
                       "GROUP BY 1, 2, 3 ON CONFLICT (sid, uid, anyuser) DO UPDATE SET "
                       "last = greatest(kr_tact.last, excluded.last), "
                       "nonterm = greatest(kr_tact.nonterm, excluded.nonterm)",
                       q->task_has_user_id ? "coalesce(c.user_id, '')" : "''",
                       q->task_has_user_id ? "c.user_id IS NULL" : "true");
        rc = act_step(q, STORE_T_TASK, fmt, b, err);
        if (rc < 0)
                return rc;
        /* A task counts for every session row of its id, or only its owner's (task.user_id). */
        return run(q,
                   "UPDATE pg_temp.kr_act a SET last = greatest(a.last, x.last), "
                   "nonterm = greatest(a.nonterm, x.nonterm) FROM (SELECT a2.sid, a2.uid, "
                   "max(t.last) AS last, max(t.nonterm) AS nonterm FROM pg_temp.kr_act a2 "
                   "JOIN pg_temp.kr_tact t ON t.sid = a2.sid AND (t.anyuser OR t.uid = a2.uid) "
                   "GROUP BY a2.sid, a2.uid) x WHERE x.sid = a.sid AND x.uid = a.uid",
                   b, NULL, err);
}

static int build_activity(struct pgs *q, struct binds *b, struct errbuf *err)
{
        int rc;

        rc = pg_exec(q, "TRUNCATE pg_temp.kr_act, pg_temp.kr_tact, pg_temp.kr_evs", NULL, NULL, err,
                     "plan");
        if (rc < 0)
                return rc;
        if ((rc = act_step(q, STORE_T_SESSION,
                           "INSERT INTO pg_temp.kr_act(sid, uid, present, known, last) "
                           "SELECT c.id, c.user_id, true, (c.updated_at IS NOT NULL OR "
                           "c.created_at IS NOT NULL), coalesce(greatest(c.updated_at, "
                           "c.created_at), '-infinity') FROM {0} c WHERE {1} AND c.id IS NOT NULL "
                           "AND c.user_id IS NOT NULL ON CONFLICT (sid, uid) DO UPDATE SET "
                           "present = true, known = excluded.known, "
                           "last = greatest(kr_act.last, excluded.last)",
                           b, err)) < 0 ||
            (rc = act_events(q, b, err)) < 0 || (rc = act_tasks(q, b, err)) < 0 ||
            (rc = act_step(q, STORE_T_CHECKPOINT,
                           "INSERT INTO pg_temp.kr_act(sid, uid, last, cp_n) SELECT c.thread_id, "
                           "c.user_id, coalesce(max(c.created_at), '-infinity'), count(*) "
                           "FROM {0} c WHERE {1} GROUP BY 1, 2 ON CONFLICT (sid, uid) DO UPDATE "
                           "SET last = greatest(kr_act.last, excluded.last), "
                           "cp_n = kr_act.cp_n + excluded.cp_n",
                           b, err)) < 0)
                return rc;
        for (int t = STORE_T_CREWAI_MEMORY; t <= STORE_T_CREWAI_FLOW; t++) {
                rc = act_step(q, (enum store_table)t,
                              "INSERT INTO pg_temp.kr_act(sid, uid, last) SELECT c.thread_id, "
                              "c.user_id, coalesce(max(c.updated_at), '-infinity') FROM {0} c "
                              "WHERE {1} GROUP BY 1, 2 ON CONFLICT (sid, uid) DO UPDATE SET "
                              "last = greatest(kr_act.last, excluded.last)",
                              b, err);
                if (rc < 0)
                        return rc;
        }
        /* Temp tables are never auto-analyzed; the rules join kr_act with kagent's tables. */
        rc = pg_exec(q, "ANALYZE pg_temp.kr_act", NULL, NULL, err, "plan");
        if (rc < 0)
                return rc;
        pg_note_own_xid(q);
        q->act_ready = true;
        return 0;
}

/* ---- scanning rules: one head table walked in block ranges ----------------------------- */

struct scan {
        enum store_table head;
        const char *joins; /* extra FROM items after the head aliased c, or "" */
        const char *sid;   /* session key of a head row, or NULL: none */
        const char *uid;
        const char *anyuser;
        const char *cond; /* the rule's condition over c */
};

static int scan_fill(struct pgs *q, const struct scan *sc, struct round *r, struct errbuf *err)
{
        struct buf *f = &r->fill;
        int rc;

        rc = sqlf(f, err,
                  "INSERT INTO pg_temp.kr_sel(unit, sid, uid, anyuser, bytes, k1, k2, k3, k4, k5) "
                  "SELECT :ubase::bigint + row_number() OVER (ORDER BY c.ctid), %s, "
                  "coalesce(%s, ''), %s, %s, ",
                  sc->sid ? sc->sid : "NULL::text", sc->uid ? sc->uid : "''",
                  sc->anyuser ? sc->anyuser : "false", q->t[sc->head].bytes_expr);
        if (rc == 0 && pg_keys_select(f, sc->head, "c", NULL) < 0)
                rc = -EMSGSIZE;
        if (rc == 0)
                rc = sqlf(f, err, " FROM %s c %s WHERE ", qn(q, sc->head), sc->joins);
        if (rc == 0 && (range(q, f, "c") < 0 || buf_printf(f, " AND (%s) AND ", sc->cond) < 0 ||
                        not_planned(f, sc->head, "c") < 0))
                rc = -EMSGSIZE;
        return rc == -EMSGSIZE ? errbuf_set(err, rc, "plan: sql text too long") : rc;
}

static int scan_rule(struct pgs *q, const struct scan *sc, struct round *r, struct binds *b,
                     struct errbuf *err)
{
        int rc;

        r->head = sc->head;
        r->skeys = sc->sid != NULL;
        rc = scan_fill(q, sc, r, err);
        if (rc == 0)
                rc = walk_blocks(q, sc->head, b, round_fn, r, err);
        return rc;
}

/* Children joined to the heads in kr_sel s: push notifications of tasks, writes of checkpoints. */
static void add_task_children(struct pgs *q, struct round *r)
{
        add_child(q, r, STORE_T_PUSH, NULL, "FROM %s c WHERE c.task_id = s.k1",
                  qn(q, STORE_T_PUSH));
}

static void add_checkpoint_children(struct pgs *q, struct round *r)
{
        add_child(q, r, STORE_T_CHECKPOINT_WRITE, NULL,
                  "FROM %s c WHERE c.user_id = s.k1 AND c.thread_id = s.k2 AND "
                  "c.checkpoint_ns = s.k3 AND c.checkpoint_id = s.k4",
                  qn(q, STORE_T_CHECKPOINT_WRITE));
}

/* Run one scanning rule over a head table, with its children. */
static int scan_one(struct pgs *q, const struct scan *sc, struct binds *b, struct errbuf *err)
{
        struct round r;
        int rc;

        if (!q->t[sc->head].present)
                return 0;
        round_init(&r, sc->head, sc->sid != NULL);
        if (sc->head == STORE_T_TASK)
                add_task_children(q, &r);
        else if (sc->head == STORE_T_CHECKPOINT)
                add_checkpoint_children(q, &r);
        rc = scan_rule(q, sc, &r, b, err);
        round_cleanup(&r);
        return rc;
}

/* The session key of a task: its owner where task.user_id is set, else every user of its id. */
static const char *task_uid(const struct pgs *q, const char *t)
{
        (void)t;
        return q->task_has_user_id ? "c.user_id" : "''";
}

static int plan_soft_rows(struct pgs *q, struct binds *b, struct errbuf *err)
{
        char task_cond[512];
        char push_cond[640];
        char push_any[64];
        struct buf tmp;
        int rc = 0;

        buf_init(&tmp, 1024);
        if (task_inactive(q, &tmp, "c") < 0)
                rc = errbuf_set(err, -ENOMEM, "out of memory");
        (void)snprintf(task_cond, sizeof(task_cond),
                       "c.deleted_at IS NOT NULL AND c.deleted_at < :age::timestamptz AND %s",
                       tmp.data ? tmp.data : "false");
        buf_reset(&tmp);
        if (task_inactive(q, &tmp, "t") < 0)
                rc = errbuf_set(err, -ENOMEM, "out of memory");
        (void)snprintf(push_cond, sizeof(push_cond),
                       "c.deleted_at IS NOT NULL AND c.deleted_at < :age::timestamptz AND %s",
                       tmp.data ? tmp.data : "false");
        buf_cleanup(&tmp);
        (void)snprintf(push_any, sizeof(push_any), "%s",
                       q->task_has_user_id ? "t.user_id IS NULL" : "true");
        {
                char push_join[PG_NAME_MAX + 64];
                const char *soft = "c.deleted_at IS NOT NULL AND c.deleted_at < :age::timestamptz";
                static const char inact[] =
                        "c.deleted_at IS NOT NULL AND c.deleted_at < :age::timestamptz AND NOT "
                        "EXISTS (SELECT 1 FROM pg_temp.kr_act a WHERE a.sid = c.%s AND "
                        "a.uid = c.user_id AND a.last >= :active::timestamptz)";
                char ev_cond[512];
                char th_cond[512];
                const struct scan scans[] = {
                        { STORE_T_TASK, "", "c.session_id", task_uid(q, "c"),
                          q->task_has_user_id ? "c.user_id IS NULL" : "true", task_cond },
                        { STORE_T_EVENT, "", "c.session_id", "c.user_id", "false", ev_cond },
                        { STORE_T_PUSH, push_join, "t.session_id",
                          q->task_has_user_id ? "t.user_id" : "''", push_any, push_cond },
                        { STORE_T_FEEDBACK, "", NULL, NULL, NULL, soft },
                        { STORE_T_CHECKPOINT, "", "c.thread_id", "c.user_id", "false", th_cond },
                        { STORE_T_CHECKPOINT_WRITE, "", "c.thread_id", "c.user_id", "false",
                          th_cond },
                        { STORE_T_CREWAI_MEMORY, "", "c.thread_id", "c.user_id", "false", th_cond },
                        { STORE_T_CREWAI_FLOW, "", "c.thread_id", "c.user_id", "false", th_cond },
                };

                (void)snprintf(push_join, sizeof(push_join), "LEFT JOIN %s t ON t.id = c.task_id",
                               qn(q, STORE_T_TASK));
                (void)snprintf(ev_cond, sizeof(ev_cond), inact, "session_id");
                (void)snprintf(th_cond, sizeof(th_cond), inact, "thread_id");
                for (size_t i = 0; rc == 0 && i < sizeof(scans) / sizeof(scans[0]); i++) {
                        enum store_table h = scans[i].head;

                        if (!q->t[h].present || !q->t[h].has_deleted_at)
                                continue;
                        if (h == STORE_T_PUSH && !q->t[STORE_T_TASK].present)
                                continue;
                        rc = scan_one(q, &scans[i], b, err);
                }
        }
        return rc;
}

static int plan_tasks(struct pgs *q, struct binds *b, struct errbuf *err)
{
        char cond[1536];
        struct buf inact;
        int rc;

        buf_init(&inact, 1024);
        if (task_inactive(q, &inact, "c") < 0) {
                buf_cleanup(&inact);
                return errbuf_set(err, -ENOMEM, "out of memory");
        }
        (void)snprintf(cond, sizeof(cond),
                       "c.updated_at < :age::timestamptz AND pg_temp.kr_task_state(c.data) IN "
                       "(" STORE_TERMINAL_STATES ") AND EXISTS (SELECT 1 FROM pg_temp.kr_act a "
                       "WHERE a.sid = c.session_id AND %s a.present) AND %s",
                       q->task_has_user_id ? "(c.user_id IS NULL OR a.uid = c.user_id) AND" : "",
                       inact.data);
        buf_cleanup(&inact);
        {
                const struct scan sc = { STORE_T_TASK,
                                         "",
                                         "c.session_id",
                                         task_uid(q, "c"),
                                         q->task_has_user_id ? "c.user_id IS NULL" : "true",
                                         cond };

                rc = scan_one(q, &sc, b, err);
        }
        return rc;
}

static int plan_crewai(struct pgs *q, enum store_table t, struct binds *b, struct errbuf *err)
{
        const struct scan sc = {
                t,
                "",
                "c.thread_id",
                "c.user_id",
                "false",
                "c.updated_at < :age::timestamptz AND EXISTS (SELECT 1 FROM pg_temp.kr_act a "
                "WHERE a.sid = c.thread_id AND a.uid = c.user_id AND a.present) AND NOT EXISTS "
                "(SELECT 1 FROM pg_temp.kr_act a WHERE a.sid = c.thread_id AND a.uid = c.user_id "
                "AND a.last >= :active::timestamptz)",
        };

        return scan_one(q, &sc, b, err);
}

/*
 * Orphans: rows whose parent is gone, older than the active window. They carry no session key;
 * the delete transaction re-checks that the parent is still absent instead.
 */
static int plan_orphans(struct pgs *q, struct binds *b, struct errbuf *err)
{
        char ev[512];
        char task[640];
        char push[768];
        char cp[512];
        char write[1024];
        char mem[512];
        struct buf pl;
        int rc = 0;

        buf_init(&pl, 2048);
        (void)snprintf(ev, sizeof(ev),
                       "c.created_at < :active::timestamptz AND NOT EXISTS (SELECT 1 FROM %s s "
                       "WHERE s.id = c.session_id AND s.user_id = c.user_id)",
                       qn(q, STORE_T_SESSION));
        (void)snprintf(task, sizeof(task),
                       "c.updated_at < :active::timestamptz AND NOT EXISTS (SELECT 1 FROM %s s "
                       "WHERE s.id = c.session_id%s)",
                       qn(q, STORE_T_SESSION),
                       q->task_has_user_id ? " AND (c.user_id IS NULL OR s.user_id = c.user_id)"
                                           : "");
        if (not_planned(&pl, STORE_T_TASK, "t") < 0)
                rc = errbuf_set(err, -ENOMEM, "out of memory");
        (void)snprintf(push, sizeof(push),
                       "c.created_at < :active::timestamptz AND NOT EXISTS (SELECT 1 FROM %s t "
                       "WHERE t.id = c.task_id AND %s)",
                       qn(q, STORE_T_TASK), pl.data ? pl.data : "true");
        (void)snprintf(cp, sizeof(cp),
                       "c.created_at < :active::timestamptz AND NOT EXISTS (SELECT 1 FROM %s s "
                       "WHERE s.id = c.thread_id AND s.user_id = c.user_id)",
                       qn(q, STORE_T_SESSION));
        buf_reset(&pl);
        if (not_planned(&pl, STORE_T_CHECKPOINT, "p") < 0)
                rc = errbuf_set(err, -ENOMEM, "out of memory");
        (void)snprintf(write, sizeof(write),
                       "c.created_at < :active::timestamptz AND NOT EXISTS (SELECT 1 FROM %s p "
                       "WHERE p.user_id = c.user_id AND p.thread_id = c.thread_id AND "
                       "p.checkpoint_ns = c.checkpoint_ns AND p.checkpoint_id = c.checkpoint_id "
                       "AND %s)",
                       qn(q, STORE_T_CHECKPOINT), pl.data ? pl.data : "true");
        buf_cleanup(&pl);
        (void)snprintf(mem, sizeof(mem),
                       "c.updated_at < :active::timestamptz AND NOT EXISTS (SELECT 1 FROM %s s "
                       "WHERE s.id = c.thread_id AND s.user_id = c.user_id)",
                       qn(q, STORE_T_SESSION));
        {
                const struct scan scans[] = {
                        { STORE_T_EVENT, "", NULL, NULL, NULL, ev },
                        { STORE_T_TASK, "", NULL, NULL, NULL, task },
                        { STORE_T_PUSH, "", NULL, NULL, NULL, push },
                        { STORE_T_CHECKPOINT, "", NULL, NULL, NULL, cp },
                        { STORE_T_CHECKPOINT_WRITE, "", NULL, NULL, NULL, write },
                        { STORE_T_CREWAI_MEMORY, "", NULL, NULL, NULL, mem },
                        { STORE_T_CREWAI_FLOW, "", NULL, NULL, NULL, mem },
                };

                for (size_t i = 0; rc == 0 && i < sizeof(scans) / sizeof(scans[0]); i++) {
                        enum store_table h = scans[i].head;

                        if (!q->t[h].present)
                                continue;
                        /* Without the parent table a row cannot be told apart from an orphan. */
                        if (h == STORE_T_PUSH               ? !q->t[STORE_T_TASK].present
                            : h == STORE_T_CHECKPOINT_WRITE ? !q->t[STORE_T_CHECKPOINT].present
                                                            : !q->t[STORE_T_SESSION].present)
                                continue;
                        rc = scan_one(q, &scans[i], b, err);
                }
        }
        return rc;
}

/* ---- sessions with everything hanging off them ---------------------------------------- */

/*
 * Tasks of the session s: its own (task.user_id, migrate v7+) and those without an owner when s
 * is the last session row claiming them (several users may share a session id): every other
 * row of the id is planned already, or comes earlier in this round.
 */
static int task_owned(const struct pgs *q, struct buf *b, const char *t)
{
        int rc = 0;

        if (q->task_has_user_id)
                rc |= buf_printf(b, "(%s.user_id = s.uid OR (%s.user_id IS NULL AND ", t, t);
        rc |= buf_printf(b,
                         "NOT EXISTS (SELECT 1 FROM %s o WHERE o.id = s.sid AND "
                         "o.user_id <> s.uid AND NOT EXISTS (SELECT 1 FROM pg_temp.kr_cand y "
                         "WHERE y.tbl = %d AND y.k1 = o.id AND y.k2 = o.user_id AND y.k3 = '' "
                         "AND y.k4 = '' AND y.k5 = '' OFFSET 0) AND NOT EXISTS (SELECT 1 FROM "
                         "pg_temp.kr_sel s2 WHERE s2.sid = o.id AND s2.uid = o.user_id AND "
                         "s2.unit < s.unit))",
                         qn(q, STORE_T_SESSION), (int)STORE_T_SESSION);
        if (q->task_has_user_id)
                rc |= buf_append_str(b, "))");
        return rc ? -EMSGSIZE : 0;
}

static int cascade_children(struct pgs *q, struct round *r, struct errbuf *err)
{
        static const enum store_table threads[] = { STORE_T_CHECKPOINT_WRITE, STORE_T_CHECKPOINT,
                                                    STORE_T_CREWAI_MEMORY, STORE_T_CREWAI_FLOW };
        const char *shared = q->task_has_user_id ? "c.user_id IS NULL" : "true";
        struct buf owned;

        add_child(q, r, STORE_T_EVENT, NULL,
                  "FROM %s c WHERE c.session_id = s.sid AND c.user_id = s.uid",
                  qn(q, STORE_T_EVENT));
        for (size_t i = 0; i < sizeof(threads) / sizeof(threads[0]); i++)
                add_child(q, r, threads[i], NULL,
                          "FROM %s c WHERE c.user_id = s.uid AND c.thread_id = s.sid",
                          qn(q, threads[i]));
        add_child(q, r, STORE_T_SESSION_SHARE, NULL,
                  "FROM %s c WHERE c.session_id = s.sid AND c.user_id = s.uid",
                  qn(q, STORE_T_SESSION_SHARE));
        if (!q->t[STORE_T_TASK].present)
                return 0;
        buf_init(&owned, 2048);
        if (task_owned(q, &owned, "t") < 0) {
                buf_cleanup(&owned);
                return errbuf_set(err, -ENOMEM, "out of memory");
        }
        add_child(q, r, STORE_T_PUSH, q->task_has_user_id ? "t.user_id IS NULL" : "true",
                  "FROM %s t JOIN %s c ON c.task_id = t.id WHERE t.session_id = s.sid AND %s",
                  qn(q, STORE_T_TASK), qn(q, STORE_T_PUSH), owned.data);
        buf_reset(&owned);
        if (task_owned(q, &owned, "c") < 0) {
                buf_cleanup(&owned);
                return errbuf_set(err, -ENOMEM, "out of memory");
        }
        add_child(q, r, STORE_T_TASK, shared, "FROM %s c WHERE c.session_id = s.sid AND %s",
                  qn(q, STORE_T_TASK), owned.data);
        buf_cleanup(&owned);
        return 0;
}

/* Plan the sessions of kr_list with everything hanging off them, in list order. */
static int list_rounds(struct pgs *q, struct round *r, struct binds *b, struct errbuf *err)
{
        int rc;

        rc = sqlf(&r->fill, err,
                  "INSERT INTO pg_temp.kr_sel(unit, sid, uid, anyuser, bytes, k1, k2) "
                  "SELECT :ubase::bigint + row_number() OVER (ORDER BY l.i), l.sid, l.uid, "
                  "false, %s, c.id, c.user_id FROM pg_temp.kr_list l CROSS JOIN "
                  "LATERAL (SELECT * FROM %s c WHERE c.id = l.sid AND c.user_id = l.uid "
                  "OFFSET 0) c WHERE l.i > :lo::bigint AND l.i <= :hi::bigint",
                  q->t[STORE_T_SESSION].bytes_expr, qn(q, STORE_T_SESSION));
        if (rc == 0)
                rc = cascade_children(q, r, err);
        if (rc == 0)
                rc = walk_list(q, b, round_fn, r, err);
        return rc;
}

static int plan_sessions(struct pgs *q, const struct store_rule_params *p, bool soft,
                         struct binds *b, struct errbuf *err)
{
        struct round r;
        struct buf sql;
        int rc;

        if (!q->t[STORE_T_SESSION].present || (soft && !q->t[STORE_T_SESSION].has_deleted_at))
                return 0;
        buf_init(&sql, PG_SQL_MAX);
        round_init(&r, STORE_T_SESSION, true);
        rc = pg_exec(q, "TRUNCATE pg_temp.kr_list", NULL, NULL, err, "plan");
        /*
         * Sessions go in the order their events sit in the table (kr_act.pos), so a batch's rows
         * share pages and each page is read and written about once per run, not once per row;
         * oldest first when only the first few go (the emergency ladder).
         */
        if (rc == 0)
                rc = sqlf(&sql, err,
                          "INSERT INTO pg_temp.kr_list(i, sid, uid) SELECT row_number() OVER "
                          "(ORDER BY %s a.last, a.sid, a.uid), a.sid, a.uid FROM pg_temp.kr_act a "
                          "JOIN %s s ON s.id = a.sid AND s.user_id = a.uid WHERE a.present AND "
                          "a.known AND %s AND ",
                          p->max_sessions > 0 ? "" : "a.pos,", qn(q, STORE_T_SESSION),
                          soft ? "s.deleted_at IS NOT NULL AND s.deleted_at < :age::timestamptz "
                                 "AND a.last < :active::timestamptz"
                               : "a.last < :cut::timestamptz AND a.nonterm <= :unf::timestamptz");
        if (rc == 0 && not_planned(&sql, STORE_T_SESSION, "s") < 0)
                rc = errbuf_set(err, -EMSGSIZE, "plan: sql text too long");
        if (rc == 0)
                rc = sqlf(&sql, err, " ORDER BY a.last, a.sid, a.uid%s",
                          p->max_sessions > 0 ? " LIMIT :n" : "");
        b->n = p->max_sessions;
        if (rc == 0)
                rc = run(q, sql.data, b, NULL, err);
        if (rc == 0)
                rc = list_rounds(q, &r, b, err);
        round_cleanup(&r);
        buf_cleanup(&sql);
        return rc;
}

/* ---- per-session window rules: checkpoints and events --------------------------------- */

static int plan_per_session(struct pgs *q, const char *who, struct round *r, struct binds *b,
                            struct errbuf *err)
{
        char sql[512];
        int rc;

        rc = pg_exec(q, "TRUNCATE pg_temp.kr_list", NULL, NULL, err, "plan");
        if (rc < 0)
                return rc;
        (void)snprintf(sql, sizeof(sql),
                       "INSERT INTO pg_temp.kr_list(i, sid, uid) SELECT row_number() OVER "
                       "(ORDER BY sid, uid), sid, uid FROM pg_temp.kr_act WHERE present AND "
                       "last < :active::timestamptz AND %s",
                       who);
        rc = run(q, sql, b, NULL, err);
        if (rc < 0)
                return rc;
        return walk_list(q, b, round_fn, r, err);
}

static int plan_checkpoints(struct pgs *q, struct binds *b, struct errbuf *err)
{
        struct round r;
        int rc;

        if (!q->t[STORE_T_CHECKPOINT].present)
                return 0;
        round_init(&r, STORE_T_CHECKPOINT, true);
        add_checkpoint_children(q, &r);
        rc = sqlf(&r.fill, err,
                  "INSERT INTO pg_temp.kr_sel(unit, sid, uid, anyuser, bytes, k1, k2, k3, k4) "
                  "SELECT :ubase::bigint + row_number() OVER (ORDER BY w.i, w.checkpoint_ns, "
                  "w.checkpoint_id), w.sid, w.uid, false, w.bytes, w.user_id, w.thread_id, "
                  "w.checkpoint_ns, w.checkpoint_id FROM (SELECT l.i, l.sid, l.uid, c.* FROM "
                  "pg_temp.kr_list l CROSS JOIN LATERAL (SELECT c.user_id, c.thread_id, "
                  "c.checkpoint_ns, c.checkpoint_id, c.created_at, %s AS bytes, row_number() "
                  "OVER (PARTITION BY c.checkpoint_ns ORDER BY c.checkpoint_id DESC) AS rn "
                  "FROM %s c WHERE c.user_id = l.uid AND c.thread_id = l.sid OFFSET 0) c WHERE "
                  "l.i > :lo::bigint AND l.i <= :hi::bigint) w WHERE w.rn > :keep::bigint AND "
                  "w.created_at < :age::timestamptz AND ",
                  q->t[STORE_T_CHECKPOINT].bytes_expr, qn(q, STORE_T_CHECKPOINT));
        if (rc == 0 && not_planned(&r.fill, STORE_T_CHECKPOINT, "w") < 0)
                rc = errbuf_set(err, -EMSGSIZE, "plan: sql text too long");
        if (rc == 0)
                rc = plan_per_session(q, "cp_n > :keep::bigint", &r, b, err);
        round_cleanup(&r);
        return rc;
}

static int plan_events(struct pgs *q, struct binds *b, struct errbuf *err)
{
        struct round r;
        int rc;

        if (!q->t[STORE_T_EVENT].present)
                return 0;
        round_init(&r, STORE_T_EVENT, true);
        /* Newest first as kagent lists them; equal times (rare) fall back to the id. */
        rc = sqlf(&r.fill, err,
                  "INSERT INTO pg_temp.kr_sel(unit, sid, uid, anyuser, bytes, k1, k2) "
                  "SELECT :ubase::bigint + row_number() OVER (ORDER BY w.i, w.rn DESC), w.sid, "
                  "w.uid, false, w.bytes, w.id, w.user_id FROM (SELECT l.i, l.sid, l.uid, c.id, "
                  "c.user_id, c.created_at, c.bytes, c.rn FROM pg_temp.kr_list l CROSS JOIN "
                  "LATERAL (SELECT c.id, c.user_id, c.created_at, %s AS bytes, row_number() "
                  "OVER (ORDER BY c.created_at DESC NULLS LAST, c.id DESC) AS rn FROM %s c "
                  "WHERE c.session_id = l.sid AND c.user_id = l.uid OFFSET 0) c WHERE "
                  "l.i > :lo::bigint AND l.i <= :hi::bigint) w WHERE w.rn > :keep::bigint AND "
                  "w.created_at < :age::timestamptz AND ",
                  q->t[STORE_T_EVENT].bytes_expr, qn(q, STORE_T_EVENT));
        if (rc == 0 && not_planned(&r.fill, STORE_T_EVENT, "w") < 0)
                rc = errbuf_set(err, -EMSGSIZE, "plan: sql text too long");
        if (rc == 0)
                rc = plan_per_session(q, "ev_n > :keep::bigint AND ev_first < :age::timestamptz",
                                      &r, b, err);
        round_cleanup(&r);
        return rc;
}

/* ---- the sessions rule per session ---------------------------------------------------- */

/*
 * The sessions rule is planned per session, not per row: a candidate is a session row idle since
 * the cutoff, found through the indexes kagent has (event.session_id, the thread tables' primary
 * keys, task.session_id), as the manual SQL finds it; kr_sess keeps its key and its rows and bytes
 * per table (arrays indexed by enum store_table + 1), and the delete batches take whole sessions.
 */
_Static_assert(STORE_T_EVENT == 0 && STORE_T_SESSION_SHARE == 5 && STORE_T_PUSH == 6 &&
                       STORE_T_TASK == 7 && STORE_T_SESSION == 9 && STORE_T_COUNT == 10,
               "kr_sess arrays follow enum store_table");

/* A child table's rows of the session s: count, bytes and newest activity time (if it has one). */
static int sess_agg(const struct pgs *q, struct buf *b, enum store_table t, const char *alias)
{
        const char *time = pg_activity_time(t);
        int rc = 0;

        if (!q->t[t].present)
                return buf_printf(b,
                                  " CROSS JOIN (SELECT 0::bigint AS n, 0::bigint AS b, "
                                  "NULL::timestamptz AS last, NULL::bigint AS pos) %s",
                                  alias);
        rc |= buf_printf(
                b,
                " CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(%s), 0)::bigint AS b, "
                "%s%s%s AS last, %s AS pos FROM %s c WHERE ",
                q->t[t].bytes_expr, time ? "max(c." : "NULL::timestamptz", time ? time : "",
                time ? ")" : "",
                t == STORE_T_EVENT && q->server_version >= PG_TIDRANGE_VERSION
                        ? "((min(c.ctid)::text)::point)[0]::bigint"
                        : "NULL::bigint",
                qn(q, t));
        rc |= pg_child_cond(b, t, "s.sid", "s.uid");
        rc |= buf_printf(b, " OFFSET 0) %s", alias);
        return rc;
}

static const char *const sess_alias[STORE_T_COUNT] = {
        [STORE_T_EVENT] = "e",       [STORE_T_CHECKPOINT_WRITE] = "w",
        [STORE_T_CHECKPOINT] = "cp", [STORE_T_CREWAI_MEMORY] = "m",
        [STORE_T_CREWAI_FLOW] = "f", [STORE_T_SESSION_SHARE] = "h",
};

/* The child tables of a session that the stage reads. */
static const enum store_table sess_kids[] = {
        STORE_T_EVENT,         STORE_T_CHECKPOINT_WRITE, STORE_T_CHECKPOINT,
        STORE_T_CREWAI_MEMORY, STORE_T_CREWAI_FLOW,      STORE_T_SESSION_SHARE,
};

/* ", ARRAY[...] AS n" (rows per table) or "AS b" (bytes per table) of the stage's select list. */
static int sess_stage_array(struct buf *b, bool bytes, bool tasks)
{
        int rc = buf_append_str(b, ", ARRAY[");

        for (int t = 0; t < STORE_T_COUNT; t++) {
                rc |= buf_append_str(b, t ? ", " : "");
                if (sess_alias[t])
                        rc |= buf_printf(b, "%s.%s", sess_alias[t], bytes ? "b" : "n");
                else if (t == STORE_T_SESSION)
                        rc |= buf_append_str(b, bytes ? "s.bytes" : "1");
                else if (tasks && !bytes && (t == STORE_T_TASK || t == STORE_T_PUSH))
                        rc |= buf_append_str(b, t == STORE_T_TASK ? "tk.n" : "pu.n");
                else
                        rc |= buf_append_str(b, "0");
        }
        return rc | buf_printf(b, "]::bigint[] AS %s", bytes ? "b" : "n");
}

/* The select list of the stage: key, last activity, first event block, rows and bytes. */
static int sess_stage_select(struct buf *b, bool tasks)
{
        int rc = 0;

        rc |= buf_append_str(b, "SELECT s.sid, s.uid, greatest(coalesce(greatest(c.updated_at, "
                                "c.created_at), '-infinity')");
        for (size_t i = 0; i < sizeof(sess_kids) / sizeof(sess_kids[0]); i++)
                if (pg_activity_time(sess_kids[i]))
                        rc |= buf_printf(b, ", coalesce(%s.last, '-infinity')",
                                         sess_alias[sess_kids[i]]);
        rc |= buf_append_str(b, ") AS last, e.pos AS pos, 1");
        for (size_t i = 0; i < sizeof(sess_kids) / sizeof(sess_kids[0]); i++)
                rc |= buf_printf(b, " + %s.n", sess_alias[sess_kids[i]]);
        if (tasks)
                rc |= buf_append_str(b, " + tk.n + pu.n");
        rc |= buf_append_str(b, " AS rows");
        rc |= sess_stage_array(b, false, tasks);
        rc |= sess_stage_array(b, true, tasks);
        return rc;
}

/*
 * " AND NOT EXISTS (...)": the session 'a' (a.sid, a.uid) has no task updated after the cutoff
 * and no unfinished one updated after the unfinished cutoff.
 */
static int sess_task_filter(const struct pgs *q, struct buf *b, const char *a)
{
        if (!q->t[STORE_T_TASK].present)
                return 0;
        return buf_printf(b,
                          " AND NOT EXISTS (SELECT 1 FROM %s t WHERE t.session_id = %s.sid%s%s%s "
                          "AND (t.updated_at >= :cut::timestamptz OR (coalesce(t.updated_at, "
                          "'infinity') > :unf::timestamptz AND pg_temp.kr_task_state(t.data) IN "
                          "(" STORE_UNFINISHED_STATES "))) OFFSET 0)",
                          qn(q, STORE_T_TASK), a,
                          q->task_has_user_id ? " AND (t.user_id IS NULL OR t.user_id = " : "",
                          q->task_has_user_id ? a : "", q->task_has_user_id ? ".uid)" : "");
}

/*
 * The statement that stages the candidates of one block range of the session table into
 * kr_sstage, or (for the planning helper, which has no temp tables) returns them as one JSON
 * array, with the statement's duration in milliseconds, leaving the tasks to helper_take (the
 * task filter calls the temp function kr_task_state: creating one would take a transaction id,
 * which store_others_wrote() would take for kagent's).
 */
static int sess_stage_sql(const struct pgs *q, struct buf *b, bool helper)
{
        int rc = 0;

        if (helper)
                rc |= buf_append_str(b, "SELECT coalesce(json_agg(x), '[]')::text, (extract(epoch "
                                        "FROM clock_timestamp() - statement_timestamp()) * "
                                        "1000)::bigint FROM (");
        else
                rc |= buf_append_str(b, "INSERT INTO pg_temp.kr_sstage(sid, uid, last, pos, rows, "
                                        "n, b) ");
        rc |= sess_stage_select(b, helper && q->t[STORE_T_TASK].present);
        rc |= buf_printf(b,
                         " FROM %s c CROSS JOIN LATERAL (SELECT c.id AS sid, c.user_id AS uid, "
                         "(%s)::bigint AS bytes) s",
                         qn(q, STORE_T_SESSION), q->t[STORE_T_SESSION].bytes_expr);
        for (size_t i = 0; i < sizeof(sess_kids) / sizeof(sess_kids[0]); i++)
                rc |= sess_agg(q, b, sess_kids[i], sess_alias[sess_kids[i]]);
        if (helper && q->t[STORE_T_TASK].present) {
                /*
                 * The tasks and push notifications the session may take with it: its own and the
                 * unowned ones of its id, all of them (sess_tasks_sql's exact count needs kr_sess).
                 * An upper bound is enough for a real run's batches; bytes stay 0 (they measure).
                 */
                char own[96] = "";

                if (q->task_has_user_id)
                        (void)snprintf(own, sizeof(own),
                                       " AND (t.user_id IS NULL OR t.user_id = s.uid)");
                rc |= buf_printf(b,
                                 " CROSS JOIN LATERAL (SELECT count(*) AS n FROM %s t WHERE "
                                 "t.session_id = s.sid%s OFFSET 0) tk",
                                 qn(q, STORE_T_TASK), own);
                if (q->t[STORE_T_PUSH].present)
                        rc |= buf_printf(b,
                                         " CROSS JOIN LATERAL (SELECT count(*) AS n FROM %s t "
                                         "JOIN %s c ON c.task_id = t.id WHERE t.session_id = "
                                         "s.sid%s OFFSET 0) pu",
                                         qn(q, STORE_T_TASK), qn(q, STORE_T_PUSH), own);
                else
                        rc |= buf_append_str(b, " CROSS JOIN (SELECT 0::bigint AS n) pu");
        }
        rc |= buf_append_str(b, " WHERE ");
        rc |= range(q, b, "c");
        rc |= buf_append_str(b, " AND c.id IS NOT NULL AND c.user_id IS NOT NULL AND "
                                "(c.updated_at IS NOT NULL OR c.created_at IS NOT NULL) AND "
                                "coalesce(greatest(c.updated_at, c.created_at), '-infinity') < "
                                ":cut::timestamptz");
        if (!helper)
                rc |= sess_task_filter(q, b, "s");
        for (size_t i = 0; i < sizeof(sess_kids) / sizeof(sess_kids[0]); i++)
                if (pg_activity_time(sess_kids[i]))
                        rc |= buf_printf(b,
                                         " AND coalesce(%s.last, '-infinity') < :cut::timestamptz",
                                         sess_alias[sess_kids[i]]);
        if (helper)
                rc |= buf_append_str(b, ") x");
        return rc ? -EMSGSIZE : 0;
}

/*
 * Tasks (and their push notifications) of each planned session in (:lo, :hi]: its own, and those
 * without an owner when it is the last planned row of its id and no unplanned row claims them.
 */
static int sess_tasks_sql(const struct pgs *q, struct buf *b)
{
        char owned[2][1024];
        const char *as[2] = { "c", "t" };
        int rc = 0;

        for (int i = 0; i < 2; i++) {
                char none[640];

                (void)snprintf(none, sizeof(none),
                               "NOT EXISTS (SELECT 1 FROM %s o WHERE o.id = k2.sid AND "
                               "o.user_id <> k2.uid AND NOT EXISTS (SELECT 1 FROM pg_temp.kr_sess "
                               "y WHERE y.sid = o.id AND y.uid = o.user_id AND y.seq < k2.seq))",
                               qn(q, STORE_T_SESSION));
                if (q->task_has_user_id)
                        (void)snprintf(owned[i], sizeof(owned[i]),
                                       "(%s.user_id = k2.uid OR (%s.user_id IS NULL AND %s))",
                                       as[i], as[i], none);
                else
                        (void)snprintf(owned[i], sizeof(owned[i]), "%s", none);
        }
        rc |= buf_printf(b,
                         "UPDATE pg_temp.kr_sess k SET n = k.n[1:6] || ARRAY[x.np, x.nt] || "
                         "k.n[9:10], b = k.b[1:6] || ARRAY[x.bp, x.bt] || k.b[9:10], "
                         "rows = k.rows + x.np + x.nt FROM (SELECT k2.seq, tk.n AS nt, tk.b AS bt, "
                         "pu.n AS np, pu.b AS bp FROM pg_temp.kr_sess k2 CROSS JOIN LATERAL "
                         "(SELECT count(*) AS n, coalesce(sum(%s), 0)::bigint AS b FROM %s c "
                         "WHERE c.session_id = k2.sid AND %s OFFSET 0) tk",
                         q->t[STORE_T_TASK].bytes_expr, qn(q, STORE_T_TASK), owned[0]);
        if (q->t[STORE_T_PUSH].present)
                rc |= buf_printf(b,
                                 " CROSS JOIN LATERAL (SELECT count(*) AS n, coalesce(sum(%s), "
                                 "0)::bigint AS b FROM %s t JOIN %s c ON c.task_id = t.id WHERE "
                                 "t.session_id = k2.sid AND %s OFFSET 0) pu",
                                 q->t[STORE_T_PUSH].bytes_expr, qn(q, STORE_T_TASK),
                                 qn(q, STORE_T_PUSH), owned[1]);
        else
                rc |= buf_append_str(b, " CROSS JOIN (SELECT 0::bigint AS n, 0::bigint AS b) pu");
        rc |= buf_append_str(b, " WHERE k2.seq > :lo::bigint AND k2.seq <= :hi::bigint) x "
                                "WHERE k.seq = x.seq AND x.nt + x.np > 0");
        return rc ? -EMSGSIZE : 0;
}

/* Run 'sql' over slices (:lo, :hi] of kr_sess seqs from 'from' up to 'n'. */
static int walk_sess(struct pgs *q, struct binds *b, int64_t from, int64_t n, const char *sql,
                     struct errbuf *err)
{
        int64_t chunk = CHUNK_SESSIONS;
        int rc = 0;

        b->tid = false;
        for (int64_t lo = from; lo < n && rc == 0;) {
                int64_t t0 = clock_mono_ms();

                b->lo = lo;
                b->hi = lo + chunk;
                rc = check_deadline(q, err);
                if (rc == 0)
                        rc = run(q, sql, b, NULL, err);
                lo += chunk;
                chunk = adapt(q, chunk, clock_mono_ms() - t0);
        }
        return rc;
}

static int sess_totals(struct pgs *q, struct store_plan_result *out, struct errbuf *err)
{
        PGresult *res = NULL;
        struct buf sql;
        int rc = 0;

        buf_init(&sql, 4096);
        rc |= buf_append_str(&sql, "SELECT count(*)");
        for (int t = 0; t < STORE_T_COUNT; t++)
                rc |= buf_printf(&sql, ", coalesce(sum(n[%d]), 0), coalesce(sum(b[%d]), 0)", t + 1,
                                 t + 1);
        rc |= buf_append_str(&sql, " FROM pg_temp.kr_sess");
        rc = rc ? errbuf_set(err, -EMSGSIZE, "plan: sql text too long")
                : pg_exec(q, sql.data, NULL, &res, err, "plan");
        buf_cleanup(&sql);
        if (rc < 0)
                return rc;
        if (pqlib.PQntuples(res) == 1 && pqlib.PQnfields(res) == 1 + 2 * STORE_T_COUNT) {
                (void)str_to_i64(pqlib.PQgetvalue(res, 0, 0), &out->units);
                for (int t = 0; t < STORE_T_COUNT; t++) {
                        (void)str_to_i64(pqlib.PQgetvalue(res, 0, 1 + 2 * t), &out->tables[t].rows);
                        (void)str_to_i64(pqlib.PQgetvalue(res, 0, 2 + 2 * t),
                                         &out->tables[t].bytes);
                        out->rows += out->tables[t].rows;
                }
        }
        pqlib.PQclear(res);
        return 0;
}

/* lock_timeout of a batch of whole sessions: ours, or the connection's own when shorter. */
static int fast_lock_timeout(struct pgs *q, struct errbuf *err)
{
        int64_t ms = 0;
        int rc = pg_int(q,
                        "SELECT (extract(epoch FROM pg_catalog.current_setting('lock_timeout')"
                        "::interval) * 1000)::bigint",
                        NULL, &ms, err, "plan");

        if (rc < 0)
                return rc;
        q->fast_lock_ms = ms > 0 && ms < PG_FAST_LOCK_TIMEOUT_MS ? ms : PG_FAST_LOCK_TIMEOUT_MS;
        return 0;
}

/*
 * Stage the candidates of the session table's blocks [from, to) into kr_sstage, in block ranges
 * sized to the read budget; stop after the range that brought the sessions staged to 'enough'
 * (0: all blocks). '*next' gets the first block not staged, '*chunk' the range size reached.
 * Only the plan itself ('timed') stops at the run's deadline: a later part is planned inside a
 * delete batch.
 */
static int stage_blocks(struct pgs *q, struct binds *b, const char *sql, int64_t from, int64_t to,
                        int64_t enough, bool timed, int64_t *next, int64_t *chunk,
                        struct errbuf *err)
{
        int64_t staged = 0;
        int64_t lo = from;
        int rc = 0;

        if (*chunk < CHUNK_MIN)
                *chunk = CHUNK_BLOCKS;
        b->tid = true;
        while (lo < to && !(enough > 0 && staged >= enough)) {
                int64_t t0 = clock_mono_ms();
                PGresult *res = NULL;
                int64_t n = 0;

                b->lo = lo;
                b->hi = q->server_version >= PG_TIDRANGE_VERSION && lo + *chunk < to ? lo + *chunk
                                                                                     : to;
                rc = timed ? check_deadline(q, err) : 0;
                if (rc == 0)
                        rc = run(q, sql, b, &res, err);
                if (rc < 0)
                        break;
                (void)str_to_i64(pqlib.PQcmdTuples(res), &n);
                pqlib.PQclear(res);
                staged += n;
                lo = b->hi;
                *chunk = adapt(q, *chunk, clock_mono_ms() - t0);
        }
        b->tid = false;
        *next = lo;
        return rc;
}

/*
 * Number what kr_sstage holds into kr_sess after its last seq (deletion order: where the
 * sessions' events start; oldest first when only the first few go, the emergency ladder), count
 * their tasks, and empty kr_sstage. '*out_n' gets the sessions added.
 */
static int stage_number(struct pgs *q, int64_t max_sessions, bool counted, struct binds *bb,
                        struct buf *sqlb, int64_t *out_n, struct errbuf *err)
{
        PGresult *res = NULL;
        int64_t from = q->sess_seq_max;
        int64_t n = 0;
        int64_t max = 0;
        int rc;

        buf_reset(sqlb);
        bb->seq = from;
        rc = sqlf(sqlb, err,
                  "WITH ins AS (INSERT INTO pg_temp.kr_sess(seq, sid, uid, rows, n, b) SELECT "
                  ":seq + row_number() OVER (ORDER BY %s x.last, x.sid, x.uid), x.sid, x.uid, "
                  "x.rows, x.n, x.b FROM (SELECT * FROM pg_temp.kr_sstage %s) x RETURNING seq) "
                  "SELECT count(*), coalesce(max(seq), 0) FROM ins",
                  max_sessions > 0 ? "" : "x.pos NULLS LAST,",
                  max_sessions > 0 ? "ORDER BY last, sid, uid LIMIT :n" : "");
        if (rc == 0)
                rc = run(q, sqlb->data, bb, &res, err);
        if (rc == 0)
                two_ints(res, &n, &max);
        buf_reset(sqlb);
        if (rc == 0 && n > 0 && !counted && q->t[STORE_T_TASK].present)
                rc = sess_tasks_sql(q, sqlb) < 0
                             ? errbuf_set(err, -EMSGSIZE, "plan: sql text too long")
                             : walk_sess(q, bb, from, max, sqlb->data, err);
        /* A few hundred rows at a time: cheaper than TRUNCATE's new file. */
        if (rc == 0)
                rc = pg_exec(q, "DELETE FROM pg_temp.kr_sstage", NULL, NULL, err, "plan");
        if (rc == 0 && n > 0) {
                q->sess_seq_max = max;
                q->sess_gen++; /* what the batches read ahead is stale */
        }
        *out_n = n;
        return rc;
}

/* ---- the sessions plan in parts, and the planning helper ------------------------------ */

/*
 * The plan of a real run's sessions rule need not be whole before the first batch: the batches
 * take sessions in kr_sess order, and each re-checks its sessions anyway. So the plan stages the
 * session table's blocks up to its first candidates, and the rest goes in parts while deleting.
 * A second connection, the planning helper, stages the next part (a plain read, returned as
 * JSON) while this one deletes the current: the plan's index probes into kagent's tables then
 * run beside the deletes, on another backend, instead of before them. While kagent writes, no
 * part is handed to the helper (its backend would compete with kagent's), and a part is planned
 * here when the batches need it, as is every part after the helper failed once in the run.
 */
#define HELPER_PART_MS 200 /* target duration of one part the helper stages */
#define PART_SESSIONS  512 /* a part planned here: at least this many sessions (its own cost) */

static void helper_close(struct pgs *q)
{
        if (q->helper)
                pqlib.PQfinish(q->helper);
        q->helper = NULL;
        q->helper_busy = false;
}

static void helper_failed(struct pgs *q, const struct errbuf *err)
{
        log_debug("planning helper failed, planning here", LOG_STR("error", err->msg));
        helper_close(q);
        q->helper_off = true;
}

static void sess_binds(const struct pgs *q, struct binds *b)
{
        memset(b, 0, sizeof(*b));
        b->cut_ms = q->sess_cut_ms;
        b->unf_ms = q->sess_unf_ms;
}

/*
 * Hand the next part to the helper, when it is free and kagent idle: known only once
 * store_others_wrote() has looked after the plan (the plan's own writes to the temp tables
 * hide kagent's until then).
 */
void pg_sessions_ahead(struct pgs *q)
{
        struct errbuf err;
        struct pg_params p;
        struct binds b;
        struct buf text;
        struct buf sql;
        int rc;

        if (!q->sess_parts || q->helper_busy || q->helper_off ||
            q->sess_next_blk >= q->sess_blocks || q->polls == 0 ||
            pg_kagent_writing(q, clock_mono_ms()))
                return;
        errbuf_clear(&err);
        if (!q->helper) {
                if (pg_helper_connect(q, &q->helper, &err) < 0) {
                        helper_failed(q, &err);
                        return;
                }
        }
        sess_binds(q, &b);
        b.tid = true;
        b.lo = q->sess_next_blk;
        b.hi = b.lo + q->sess_part_blks < q->sess_blocks ? b.lo + q->sess_part_blks
                                                         : q->sess_blocks;
        pg_params_init(&p);
        buf_init(&sql, PG_SQL_MAX);
        buf_init(&text, PG_SQL_MAX);
        rc = sess_stage_sql(q, &sql, true) < 0
                     ? errbuf_set(&err, -EMSGSIZE, "plan: sql text too long")
                     : bind_sql(sql.data, &b, &text, &p, &err);
        if (rc == 0 &&
            !pqlib.PQsendQueryParams(q->helper, text.data, p.n, NULL, p.v, NULL, NULL, 0))
                rc = pg_helper_fail(q, q->helper, NULL, &err);
        buf_cleanup(&text);
        buf_cleanup(&sql);
        if (rc < 0) {
                helper_failed(q, &err);
                return;
        }
        q->helper_busy = true;
        q->helper_lo = b.lo;
        q->helper_hi = b.hi;
        q->sess_next_blk = b.hi;
}

/*
 * The helper's part into kr_sstage (waiting for it when it is not done). When the helper fails,
 * its blocks are staged here.
 */
static int helper_take(struct pgs *q, struct binds *bb, struct buf *sqlb, bool *counted,
                       struct errbuf *err)
{
        struct errbuf herr;
        PGresult *res = pqlib.PQgetResult(q->helper);
        PGresult *more;
        int64_t ms = 0;
        int rc = 0;

        while ((more = pqlib.PQgetResult(q->helper)) != NULL)
                pqlib.PQclear(more);
        q->helper_busy = false;
        *counted = false;
        errbuf_clear(&herr);
        if (!res || pqlib.PQresultStatus(res) != PGRES_TUPLES_OK || pqlib.PQntuples(res) != 1 ||
            pqlib.PQnfields(res) != 2) {
                int64_t next = 0;
                int64_t chunk = CHUNK_BLOCKS;

                (void)pg_helper_fail(q, q->helper, res, &herr);
                pqlib.PQclear(res);
                helper_failed(q, &herr);
                buf_reset(sqlb);
                if (sess_stage_sql(q, sqlb, false) < 0)
                        return errbuf_set(err, -EMSGSIZE, "plan: sql text too long");
                return stage_blocks(q, bb, sqlb->data, q->helper_lo, q->helper_hi, 0, false, &next,
                                    &chunk, err);
        }
        (void)str_to_i64(pqlib.PQgetvalue(res, 0, 1), &ms);
        buf_reset(sqlb);
        rc = buf_append_str(sqlb, "INSERT INTO pg_temp.kr_sstage(sid, uid, last, pos, rows, n, b) "
                                  "SELECT j.sid, j.uid, j.last, j.pos, j.rows, j.n, j.b FROM "
                                  "json_populate_recordset(NULL::pg_temp.kr_sstage, :json::json) "
                                  "j WHERE true") < 0 ||
                             sess_task_filter(q, sqlb, "j") < 0
                     ? errbuf_set(err, -EMSGSIZE, "plan: sql text too long")
                     : 0;
        bb->json = pqlib.PQgetvalue(res, 0, 0);
        if (rc == 0)
                rc = run(q, sqlb->data, bb, NULL, err);
        bb->json = NULL;
        pqlib.PQclear(res);
        *counted = true;
        if (ms * 2 < HELPER_PART_MS && q->sess_part_blks < CHUNK_MAX)
                q->sess_part_blks *= 2;
        else if (ms > HELPER_PART_MS && q->sess_part_blks > CHUNK_MIN)
                q->sess_part_blks /= 2;
        return rc;
}

void pg_sessions_parts_end(struct pgs *q)
{
        helper_close(q);
        q->helper_off = false;
        q->sess_parts = false;
}

int pg_sessions_next_part(struct pgs *q, int64_t *more, struct errbuf *err)
{
        struct binds b;
        struct buf sql;
        int64_t wrote = 0;
        int rc;

        *more = 0;
        buf_init(&sql, PG_SQL_MAX);
        sess_binds(q, &b);
        /* One transaction: its writes to the temp tables take one transaction id, counted ours. */
        rc = pg_exec(q, "BEGIN", NULL, NULL, err, "plan");
        while (rc == 0 && *more == 0 && q->sess_parts &&
               (q->helper_busy || q->sess_next_blk < q->sess_blocks)) {
                int64_t t0 = clock_mono_ms();
                bool helped = false;
                int64_t n = 0;

                if (q->helper_busy) {
                        rc = helper_take(q, &b, &sql, &helped, err);
                } else {
                        buf_reset(&sql);
                        rc = sess_stage_sql(q, &sql, false) < 0
                                     ? errbuf_set(err, -EMSGSIZE, "plan: sql text too long")
                                     : stage_blocks(q, &b, sql.data, q->sess_next_blk,
                                                    q->sess_blocks, PART_SESSIONS, false,
                                                    &q->sess_next_blk, &q->sess_chunk, err);
                }
                /* The helper goes on with the next part while this one is numbered and deleted. */
                if (rc == 0) {
                        pg_sessions_ahead(q);
                        rc = stage_number(q, 0, helped, &b, &sql, &n, err);
                }
                *more = n > 0;
                log_debug("planned a part", LOG_INT("sessions", n), LOG_BOOL("helper", helped),
                          LOG_INT("next_block", q->sess_next_blk),
                          LOG_INT("ms", clock_mono_ms() - t0));
        }
        buf_cleanup(&sql);
        if (rc == 0)
                rc = pg_int(q, "SELECT (pg_catalog.txid_current_if_assigned() IS NOT NULL)::int",
                            NULL, &wrote, err, "plan");
        if (rc == 0)
                rc = pg_commit(q, err);
        if (rc < 0) {
                /* The run fails: what was planned in the transaction is gone. */
                pg_rollback(q);
                pg_sessions_parts_end(q);
                return rc;
        }
        if (wrote)
                pg_note_own_xid(q);
        if (!q->helper_busy && q->sess_next_blk >= q->sess_blocks)
                pg_sessions_parts_end(q);
        return 0;
}

int pg_plan_sessions_fast(struct pgs *q, const struct store_rule_params *p,
                          struct store_plan_result *out, struct errbuf *err)
{
        /* In parts: a real run's plan that takes every idle session, with TID range scans. */
        bool parts =
                !p->dry_run && p->max_sessions == 0 && q->server_version >= PG_TIDRANGE_VERSION;
        struct binds b;
        struct buf sql;
        int64_t blocks = 0;
        int64_t next = 0;
        int64_t n = 0;
        int rc;

        pg_sessions_parts_end(q);
        q->sess_chunk = CHUNK_BLOCKS;
        memset(&b, 0, sizeof(b));
        b.active_ms = p->active_cutoff_ms;
        b.age_ms = p->age_cutoff_ms;
        b.unf_ms = p->unfinished_cutoff_ms;
        b.cut_ms = b.age_ms < b.active_ms ? b.age_ms : b.active_ms;
        b.n = p->max_sessions;
        q->sess_cut_ms = b.cut_ms;
        q->sess_unf_ms = b.unf_ms;
        q->sess_seq_max = 0;
        buf_init(&sql, PG_SQL_MAX);
        rc = fast_lock_timeout(q, err);
        if (rc == 0)
                rc = pg_exec(q, "TRUNCATE pg_temp.kr_sess, pg_temp.kr_sstage", NULL, NULL, err,
                             "plan");
        if (rc == 0 && q->t[STORE_T_SESSION].present) {
                rc = table_blocks(q, STORE_T_SESSION, &blocks, err);
                if (rc == 0)
                        rc = sess_stage_sql(q, &sql, false) < 0
                                     ? errbuf_set(err, -EMSGSIZE, "plan: sql text too long")
                                     : stage_blocks(q, &b, sql.data, 0, blocks, parts ? 1 : 0, true,
                                                    &next, &q->sess_chunk, err);
                if (rc == 0)
                        rc = stage_number(q, p->max_sessions, false, &b, &sql, &n, err);
        }
        buf_cleanup(&sql);
        if (rc == 0 && n > 0)
                rc = pg_exec(q, "ANALYZE pg_temp.kr_sess", NULL, NULL, err, "plan");
        if (rc == 0)
                rc = sess_totals(q, out, err);
        if (rc < 0)
                return rc;
        q->sess_pending = n > 0;
        q->sess_cursor = 0;
        q->sess_slow_until = 0;
        q->sess_gen++; /* kr_sess is new: what the batches read ahead is stale */
        q->sess_blocks = blocks;
        q->sess_next_blk = next;
        /*
         * The helper's first part is as large as the first: it is ready before the batches have
         * deleted the first (deleting a session takes longer than planning it). Later parts grow
         * towards HELPER_PART_MS.
         */
        q->sess_part_blks = next > CHUNK_BLOCKS ? next : CHUNK_BLOCKS;
        q->sess_parts = parts && n > 0 && next < blocks;
        q->polls = 0;
        return 0;
}

/*
 * What is left of a per-session plan (a dry run, a run that stopped) becomes kr_cand rows, so
 * later rules never count those rows twice.
 */
int pg_sessions_materialize(struct pgs *q, struct errbuf *err)
{
        struct binds b;
        struct round r;
        struct pg_params p;
        int rc;

        /* Sessions in parts not planned yet are not candidates of this run. */
        pg_sessions_parts_end(q);
        if (!q->sess_pending)
                return 0;
        memset(&b, 0, sizeof(b));
        b.rule = STORE_RULE_SESSIONS;
        pg_params_init(&p);
        pg_param_i64(&p, q->sess_cursor);
        rc = pg_exec(q, "TRUNCATE pg_temp.kr_list", NULL, NULL, err, "plan");
        if (rc == 0)
                rc = pg_exec(q,
                             "INSERT INTO pg_temp.kr_list(i, sid, uid) SELECT row_number() OVER "
                             "(ORDER BY seq), sid, uid FROM pg_temp.kr_sess WHERE seq > $1",
                             &p, NULL, err, "plan");
        if (rc < 0)
                return rc;
        round_init(&r, STORE_T_SESSION, true);
        rc = list_rounds(q, &r, &b, err);
        round_cleanup(&r);
        if (rc == 0)
                rc = pg_exec(q, "TRUNCATE pg_temp.kr_sess", NULL, NULL, err, "plan");
        if (rc == 0) {
                q->sess_pending = false;
                q->sess_gen++;
        }
        return rc;
}

/* ---- the entry point ------------------------------------------------------------------ */

static int plan_totals(struct pgs *q, int64_t seq_before, struct store_plan_result *out,
                       struct errbuf *err)
{
        struct pg_params p;
        PGresult *res = NULL;
        int rc;

        pg_params_init(&p);
        pg_param_i64(&p, seq_before);
        rc = pg_exec(q,
                     "SELECT tbl, count(*), coalesce(sum(bytes), 0), count(*) FILTER (WHERE head) "
                     "FROM pg_temp.kr_cand WHERE seq > $1 GROUP BY tbl",
                     &p, &res, err, "plan");
        if (rc < 0)
                return rc;
        for (int i = 0; i < pqlib.PQntuples(res); i++) {
                int64_t t = -1;
                int64_t units = 0;

                if (str_to_i64(pqlib.PQgetvalue(res, i, 0), &t) < 0 || t < 0 || t >= STORE_T_COUNT)
                        continue;
                (void)str_to_i64(pqlib.PQgetvalue(res, i, 1), &out->tables[t].rows);
                (void)str_to_i64(pqlib.PQgetvalue(res, i, 2), &out->tables[t].bytes);
                (void)str_to_i64(pqlib.PQgetvalue(res, i, 3), &units);
                out->rows += out->tables[t].rows;
                out->units += units;
        }
        pqlib.PQclear(res);
        return 0;
}

static int plan_rule(struct pgs *q, const struct store_rule_params *p, struct binds *b,
                     struct errbuf *err)
{
        switch (p->rule) {
        case STORE_RULE_SESSIONS:
                return plan_sessions(q, p, false, b, err);
        case STORE_RULE_SOFT_DELETED: {
                int rc = plan_sessions(q, p, true, b, err);

                return rc < 0 ? rc : plan_soft_rows(q, b, err);
        }
        case STORE_RULE_TASKS:
                return plan_tasks(q, b, err);
        case STORE_RULE_CHECKPOINTS:
                return plan_checkpoints(q, b, err);
        case STORE_RULE_EVENTS:
                return plan_events(q, b, err);
        case STORE_RULE_CREWAI_MEMORY:
                return q->t[STORE_T_CREWAI_MEMORY].present
                               ? plan_crewai(q, STORE_T_CREWAI_MEMORY, b, err)
                               : 0;
        case STORE_RULE_CREWAI_FLOW:
                return q->t[STORE_T_CREWAI_FLOW].present
                               ? plan_crewai(q, STORE_T_CREWAI_FLOW, b, err)
                               : 0;
        case STORE_RULE_ORPHANS:
                return plan_orphans(q, b, err);
        case STORE_RULE_COUNT:
                break;
        }
        return errbuf_set(err, -EINVAL, "unknown rule %d", (int)p->rule);
}

int pg_plan(struct store *s, const struct store_rule_params *p, struct store_plan_result *out,
            struct errbuf *err)
{
        struct pgs *q = pg_of(s);
        struct store_plan_result res;
        struct binds b;
        int64_t seq_before;
        int64_t planned = 1;
        bool fast;
        int rc;

        rc = pg_run_alive(q, err, "plan");
        memset(&res, 0, sizeof(res));
        q->plan_out = &res;
        q->deadline_mono_ms = p->deadline_mono_ms;
        q->stop = p->stop;
        if (p->read_budget_ms > 0)
                q->read_budget_ms = p->read_budget_ms;
        /* Earlier plans' rows stay planned: what is left of a per-session plan too. */
        if (rc == 0)
                rc = pg_sessions_materialize(q, err);
        /* The per-session plan when nothing of earlier rules is planned (they are deleted). */
        if (rc == 0 && p->rule == STORE_RULE_SESSIONS)
                rc = pg_int(q, "SELECT count(*) FROM (SELECT 1 FROM pg_temp.kr_cand LIMIT 1) x",
                            NULL, &planned, err, "plan");
        fast = p->rule == STORE_RULE_SESSIONS && planned == 0;
        if (rc < 0) {
                q->plan_out = NULL;
                return rc;
        }
        memset(&b, 0, sizeof(b));
        b.rule = p->rule;
        b.active_ms = p->active_cutoff_ms;
        b.age_ms = p->age_cutoff_ms;
        b.unf_ms = p->unfinished_cutoff_ms;
        b.cut_ms = b.age_ms < b.active_ms ? b.age_ms : b.active_ms;
        b.keep = p->keep;
        /* Inside each delete transaction a session counts as active after this instant. */
        q->recheck_cut_ms = p->rule == STORE_RULE_SESSIONS ? b.cut_ms : b.active_ms;
        /* Deleting starts after what is left of earlier plans (a dry run keeps them all). */
        seq_before = q->seq_max;
        q->cursor = seq_before;
        rc = q->act_ready || fast ? 0 : build_activity(q, &b, err);
        if (rc == 0 && fast)
                rc = pg_plan_sessions_fast(q, p, &res, err);
        else if (rc == 0)
                rc = plan_rule(q, p, &b, err);
        if (rc == 0 && !fast)
                rc = plan_totals(q, seq_before, &res, err);
        /* The batches join the plan with kagent's tables: give the planner its statistics. */
        if (rc == 0 && !fast && res.rows > 0)
                rc = pg_exec(q, "ANALYZE pg_temp.kr_cand", NULL, NULL, err, "plan");
        if (rc == 0) {
                q->cur_rule_age_ms = b.age_ms;
                *out = res;
        }
        q->plan_out = NULL;
        pg_xid_baseline(q);
        return rc;
}
