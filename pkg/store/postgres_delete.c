/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PostgreSQL deleting: one short READ COMMITTED transaction per batch of planned rows. Inside
 * it, before anything is deleted, the session rows of the batch are locked (FOR UPDATE SKIP
 * LOCKED: a session kagent is writing right now is skipped, and kagent's next update of one we
 * hold waits for our commit), then every session the batch touches is re-checked for activity
 * newer than the cutoff, orphans whose parent came back and soft-deleted rows that were saved
 * again are dropped, and tasks still claimed by another session row are kept. Rows are deleted
 * by primary key, table by table, children first, each row locked FOR UPDATE SKIP LOCKED: a row
 * another transaction holds is not waited for, and its whole unit (with the parent row) stays.
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

#define ARRAY_MAX (1 << 20) /* text of a bigint[] literal of units or session keys */

/* The batch's candidates: kr_cand rows with lo < seq <= hi. */
#define IN_BATCH(x) x ".seq > $1 AND " x ".seq <= $2"

static int too_long(struct errbuf *err)
{
        return errbuf_set(err, -EMSGSIZE, "postgres delete: sql text too long");
}

/* Collect the first column of every row (bigint) as a "{1,2,3}" literal; returns the count. */
static int64_t collect_ids(PGresult *res, struct buf *arr)
{
        int64_t n = 0;

        for (int i = 0; i < pqlib.PQntuples(res); i++) {
                if (pqlib.PQgetisnull(res, i, 0))
                        continue;
                if (buf_printf(arr, "%s%s", arr->len > 1 ? "," : "", pqlib.PQgetvalue(res, i, 0)) <
                    0)
                        return -EMSGSIZE;
                n++;
        }
        return n;
}

static void batch_params(struct pg_params *p, int64_t lo, int64_t hi)
{
        pg_params_init(p);
        pg_param_i64(p, lo);
        pg_param_i64(p, hi);
}

/* Drop every candidate of the given session keys or units ("{...}"); returns the count. */
static int drop(struct pgs *q, const char *column, const char *ids, int64_t *dropped,
                struct errbuf *err)
{
        struct pg_params p;
        char sql[160];

        pg_params_init(&p);
        pg_param_str(&p, ids);
        (void)snprintf(sql, sizeof(sql),
                       "WITH d AS (DELETE FROM pg_temp.kr_cand WHERE %s = ANY($1::bigint[]) "
                       "RETURNING %s) SELECT count(DISTINCT %s) FROM d",
                       column, column, column);
        return pg_int(q, sql, &p, dropped, err, "re-check");
}

/* The batch's session keys whose session rows another transaction holds (we lock the rest). */
static int lock_sessions(struct pgs *q, int64_t lo, int64_t hi, struct buf *busy, int64_t *n,
                         struct errbuf *err)
{
        const char *s = q->t[STORE_T_SESSION].qname;
        struct pg_params p;
        PGresult *res = NULL;
        struct buf sql;
        int rc;

        *n = 0;
        if (!q->t[STORE_T_SESSION].present)
                return 0;
        buf_init(&sql, 4096);
        if (buf_printf(
                    &sql,
                    "SELECT k.skey FROM pg_temp.kr_skey k WHERE k.skey IN (SELECT x.skey "
                    "FROM pg_temp.kr_cand x WHERE " IN_BATCH(
                            "x") ") AND (SELECT count(*) "
                                 "FROM %s s WHERE s.id = k.sid AND (k.anyuser OR s.user_id = k.uid)) > "
                                 "cardinality(ARRAY(SELECT 1 FROM %s s WHERE s.id = k.sid AND (k.anyuser "
                                 "OR s.user_id = k.uid) FOR UPDATE OF s SKIP LOCKED))",
                    s, s) < 0) {
                buf_cleanup(&sql);
                return too_long(err);
        }
        batch_params(&p, lo, hi);
        rc = pg_exec(q, sql.data, &p, &res, err, "lock sessions");
        buf_cleanup(&sql);
        if (rc < 0)
                return rc;
        *n = collect_ids(res, busy);
        pqlib.PQclear(res);
        return *n < 0 ? too_long(err) : 0;
}

int pg_child_cond(struct buf *b, enum store_table t, const char *sid, const char *uid)
{
        if (t == STORE_T_EVENT || t == STORE_T_SESSION_SHARE)
                return buf_printf(b, "c.session_id = %s AND c.user_id = %s", sid, uid);
        return buf_printf(b, "c.user_id = %s AND c.thread_id = %s", uid, sid);
}

const char *pg_activity_time(enum store_table t)
{
        switch (t) {
        case STORE_T_EVENT:
        case STORE_T_CHECKPOINT:
                return "created_at";
        case STORE_T_CREWAI_MEMORY:
        case STORE_T_CREWAI_FLOW:
                return "updated_at";
        default:
                return NULL;
        }
}

/* " OR EXISTS (...)" for the events, checkpoints and CrewAI rows of (sid, uid) after $3. */
static int thread_activity(const struct pgs *q, struct buf *b, const char *sid, const char *uid)
{
        int rc = 0;

        for (int t = 0; t < STORE_T_COUNT; t++) {
                if (!q->t[t].present || !pg_activity_time((enum store_table)t))
                        continue;
                rc |= buf_printf(b, " OR EXISTS (SELECT 1 FROM %s c WHERE ", q->t[t].qname);
                rc |= pg_child_cond(b, (enum store_table)t, sid, uid);
                rc |= buf_printf(b, " AND c.%s > $3 OFFSET 0)",
                                 pg_activity_time((enum store_table)t));
        }
        return rc ? -EMSGSIZE : 0;
}

/*
 * " OR EXISTS (...)" for a task of k's session id updated after $3 that belongs to k: where tasks
 * have an owner, k's user's, an ownerless one, or (when 'anyuser' holds, an SQL condition ending
 * in " OR ") any.
 */
static int task_activity(const struct pgs *q, struct buf *b, const char *anyuser)
{
        if (!q->t[STORE_T_TASK].present)
                return 0;
        if (!q->task_has_user_id)
                return buf_printf(b,
                                  " OR EXISTS (SELECT 1 FROM %s t WHERE t.session_id = k.sid AND "
                                  "t.updated_at > $3 OFFSET 0)",
                                  q->t[STORE_T_TASK].qname);
        return buf_printf(b,
                          " OR EXISTS (SELECT 1 FROM %s t WHERE t.session_id = k.sid AND "
                          "t.updated_at > $3 AND (%st.user_id IS NULL OR t.user_id = k.uid) "
                          "OFFSET 0)",
                          q->t[STORE_T_TASK].qname, anyuser);
}

/*
 * Activity of a session key k after $3 (each EXISTS an index probe: OFFSET 0 keeps the planner
 * from hashing a whole table for it): each of its session rows (one, or every row of the id
 * for a key of every user) with its own times, events, checkpoints and CrewAI rows; the rows of
 * the key itself even without a session row; and the tasks of the id.
 */
static int active_expr(const struct pgs *q, struct buf *b)
{
        int rc = 0;

        if (q->t[STORE_T_SESSION].present) {
                rc |= buf_printf(b,
                                 "EXISTS (SELECT 1 FROM %s s WHERE s.id = k.sid AND (k.anyuser "
                                 "OR s.user_id = k.uid) AND (s.updated_at > $3 OR "
                                 "s.created_at > $3",
                                 q->t[STORE_T_SESSION].qname);
                rc |= thread_activity(q, b, "s.id", "s.user_id");
                rc |= buf_append_str(b, ") OFFSET 0) OR ");
        }
        rc |= buf_append_str(b, "(NOT k.anyuser AND (false");
        rc |= thread_activity(q, b, "k.sid", "k.uid");
        rc |= buf_append_str(b, "))");
        rc |= task_activity(q, b, "k.anyuser OR ");
        return rc ? -EMSGSIZE : 0;
}

/*
 * active_expr for a session key k that is one session row we hold locked (k.sid, k.uid, never
 * anyuser), whose own times the caller checks from the locked row: its events, checkpoints and
 * CrewAI rows and the tasks of the id, each looked at once.
 */
static int sess_active_expr(const struct pgs *q, struct buf *b)
{
        int rc = 0;

        rc |= buf_append_str(b, "(false");
        rc |= thread_activity(q, b, "k.sid", "k.uid");
        rc |= buf_append_str(b, ")");
        rc |= task_activity(q, b, "");
        return rc ? -EMSGSIZE : 0;
}

/* Lock the batch's sessions, re-check their activity; drop the keys that are busy or active. */
static int recheck_sessions(struct pgs *q, int64_t lo, int64_t hi, int64_t *skipped,
                            struct errbuf *err)
{
        struct pg_params p;
        PGresult *res = NULL;
        struct buf drop_keys;
        struct buf sql;
        int64_t busy = 0;
        int64_t n = 0;
        int rc;

        buf_init(&drop_keys, ARRAY_MAX);
        buf_init(&sql, PG_SQL_MAX);
        rc = buf_append_str(&drop_keys, "{") < 0 ? too_long(err) : 0;
        if (rc == 0)
                rc = lock_sessions(q, lo, hi, &drop_keys, &busy, err);
        if (rc == 0 &&
            (buf_append_str(&sql, "SELECT k.skey FROM pg_temp.kr_skey k WHERE k.skey "
                                  "IN (SELECT x.skey FROM pg_temp.kr_cand x WHERE " IN_BATCH(
                                          "x") ") AND (") < 0 ||
             active_expr(q, &sql) < 0 || buf_append_str(&sql, ")") < 0))
                rc = too_long(err);
        if (rc == 0) {
                batch_params(&p, lo, hi);
                pg_param_ts(&p, q->recheck_cut_ms);
                rc = pg_exec(q, sql.data, &p, &res, err, "re-check");
        }
        if (rc == 0) {
                n = collect_ids(res, &drop_keys);
                pqlib.PQclear(res);
                rc = n < 0 || buf_append_str(&drop_keys, "}") < 0 ? too_long(err) : 0;
        }
        if (rc == 0 && busy + n > 0) {
                int64_t dropped = 0;

                log_debug("sessions busy or active again, skipped", LOG_INT("busy", busy),
                          LOG_INT("active", n));
                rc = drop(q, "skey", drop_keys.data, &dropped, err);
                *skipped += dropped;
        }
        buf_cleanup(&sql);
        buf_cleanup(&drop_keys);
        return rc;
}

/* Drop whole units of 'rule' in the batch whose head row fails 'cond' (over alias t). */
static int drop_units(struct pgs *q, enum store_rule rule, enum store_table head, const char *cond,
                      int64_t lo, int64_t hi, int64_t *skipped, struct errbuf *err)
{
        struct pg_params p;
        struct buf sql;
        int64_t n = 0;
        int rc = 0;

        if (!q->t[head].present)
                return 0;
        buf_init(&sql, PG_SQL_MAX);
        if (buf_printf(&sql,
                       "WITH u AS (SELECT DISTINCT c.unit FROM pg_temp.kr_cand c JOIN %s t ON ",
                       q->t[head].qname) < 0 ||
            pg_keys_match(&sql, head, "t", "c", false) < 0 ||
            buf_printf(&sql,
                       " WHERE c.unit IN (SELECT x.unit FROM pg_temp.kr_cand x WHERE " IN_BATCH(
                               "x") " AND x.rule = %d) AND c.head AND c.tbl = %d AND (%s)), "
                                    "d AS (DELETE FROM pg_temp.kr_cand c USING u WHERE c.unit = "
                                    "u.unit RETURNING c.unit) SELECT count(DISTINCT unit) FROM d",
                       (int)rule, (int)head, cond) < 0)
                rc = too_long(err);
        if (rc == 0) {
                batch_params(&p, lo, hi);
                if (strstr(cond, "$3"))
                        pg_param_ts(&p, q->cur_rule_age_ms);
                rc = pg_int(q, sql.data, &p, &n, err, "re-check");
        }
        buf_cleanup(&sql);
        *skipped += n;
        return rc;
}

/* Which rules have candidates in the batch: a bit per rule. */
static int batch_rules(struct pgs *q, int64_t lo, int64_t hi, unsigned *out, struct errbuf *err)
{
        struct pg_params p;
        PGresult *res = NULL;
        int rc;

        *out = 0;
        batch_params(&p, lo, hi);
        rc = pg_exec(q, "SELECT DISTINCT rule FROM pg_temp.kr_cand x WHERE " IN_BATCH("x"), &p,
                     &res, err, "batch");
        if (rc < 0)
                return rc;
        for (int i = 0; i < pqlib.PQntuples(res); i++) {
                int64_t r = -1;

                if (str_to_i64(pqlib.PQgetvalue(res, i, 0), &r) == 0 && r >= 0 &&
                    r < STORE_RULE_COUNT)
                        *out |= 1u << r;
        }
        pqlib.PQclear(res);
        return 0;
}

/* An orphan whose parent came back is no orphan: the check for each kind of orphan. */
static int orphan_checks(struct pgs *q, int64_t lo, int64_t hi, int64_t *skipped,
                         struct errbuf *err)
{
        const char *sess = q->t[STORE_T_SESSION].qname;
        struct buf pl;
        int rc = 0;

        buf_init(&pl, 1024);
        if (q->t[STORE_T_SESSION].present) {
                char cond[1024];
                static const enum store_table by_thread[] = { STORE_T_CHECKPOINT,
                                                              STORE_T_CREWAI_MEMORY,
                                                              STORE_T_CREWAI_FLOW };

                (void)snprintf(cond, sizeof(cond),
                               "EXISTS (SELECT 1 FROM %s s WHERE s.id = t.session_id AND "
                               "s.user_id = t.user_id)",
                               sess);
                rc = drop_units(q, STORE_RULE_ORPHANS, STORE_T_EVENT, cond, lo, hi, skipped, err);
                (void)snprintf(cond, sizeof(cond),
                               "EXISTS (SELECT 1 FROM %s s WHERE s.id = t.session_id%s)", sess,
                               q->task_has_user_id
                                       ? " AND (t.user_id IS NULL OR s.user_id = t.user_id)"
                                       : "");
                if (rc == 0)
                        rc = drop_units(q, STORE_RULE_ORPHANS, STORE_T_TASK, cond, lo, hi, skipped,
                                        err);
                (void)snprintf(cond, sizeof(cond),
                               "EXISTS (SELECT 1 FROM %s s WHERE s.id = t.thread_id AND "
                               "s.user_id = t.user_id)",
                               sess);
                for (size_t i = 0; rc == 0 && i < sizeof(by_thread) / sizeof(by_thread[0]); i++)
                        rc = drop_units(q, STORE_RULE_ORPHANS, by_thread[i], cond, lo, hi, skipped,
                                        err);
        }
        if (rc == 0 && q->t[STORE_T_TASK].present) {
                buf_reset(&pl);
                rc = buf_printf(&pl, "EXISTS (SELECT 1 FROM %s p WHERE p.id = t.task_id AND ",
                                q->t[STORE_T_TASK].qname) < 0 ||
                                     buf_append_str(&pl,
                                                    "NOT EXISTS (SELECT 1 FROM "
                                                    "pg_temp.kr_cand y WHERE y.tbl = 7 AND "
                                                    "y.k1 = p.id AND y.k2 = '' AND y.k3 = '' "
                                                    "AND y.k4 = '' AND y.k5 = '' OFFSET 0))") < 0
                             ? too_long(err)
                             : 0;
                if (rc == 0)
                        rc = drop_units(q, STORE_RULE_ORPHANS, STORE_T_PUSH, pl.data, lo, hi,
                                        skipped, err);
        }
        if (rc == 0 && q->t[STORE_T_CHECKPOINT].present) {
                buf_reset(&pl);
                rc = buf_printf(&pl,
                                "EXISTS (SELECT 1 FROM %s p WHERE p.user_id = t.user_id AND "
                                "p.thread_id = t.thread_id AND p.checkpoint_ns = t.checkpoint_ns "
                                "AND p.checkpoint_id = t.checkpoint_id AND NOT EXISTS (SELECT 1 "
                                "FROM pg_temp.kr_cand y WHERE y.tbl = 2 AND y.k1 = p.user_id AND "
                                "y.k2 = p.thread_id AND y.k3 = p.checkpoint_ns AND "
                                "y.k4 = p.checkpoint_id AND y.k5 = '' OFFSET 0))",
                                q->t[STORE_T_CHECKPOINT].qname) < 0
                             ? too_long(err)
                             : 0;
                if (rc == 0)
                        rc = drop_units(q, STORE_RULE_ORPHANS, STORE_T_CHECKPOINT_WRITE, pl.data,
                                        lo, hi, skipped, err);
        }
        buf_cleanup(&pl);
        return rc;
}

/* Tasks of a shared session id stay while another session row (not deleted by now) claims them. */
static int shared_tasks(struct pgs *q, int64_t lo, int64_t hi, struct errbuf *err)
{
        static const char fmt[] =
                "DELETE FROM pg_temp.kr_cand x WHERE x.seq > $1 AND x.seq <= $2 AND "
                "x.tbl IN (%d, %d) AND x.rule IN (%d, %d) AND x.shared AND x.skey IN (SELECT "
                "k.skey FROM pg_temp.kr_skey k WHERE NOT k.anyuser AND EXISTS (SELECT 1 FROM %s s "
                "WHERE s.id = k.sid AND s.user_id <> k.uid AND NOT EXISTS (SELECT 1 FROM "
                "pg_temp.kr_cand y WHERE y.tbl = %d AND y.k1 = s.id AND y.k2 = s.user_id AND "
                "y.k3 = '' AND y.k4 = '' AND y.k5 = '' AND y.seq <= $2 OFFSET 0)))";
        struct pg_params p;
        char sql[1024];

        (void)snprintf(sql, sizeof(sql), fmt, (int)STORE_T_PUSH, (int)STORE_T_TASK,
                       (int)STORE_RULE_SESSIONS, (int)STORE_RULE_SOFT_DELETED,
                       q->t[STORE_T_SESSION].qname, (int)STORE_T_SESSION);
        batch_params(&p, lo, hi);
        return pg_exec(q, sql, &p, NULL, err, "re-check");
}

static int recheck_rows(struct pgs *q, int64_t lo, int64_t hi, int64_t *skipped, struct errbuf *err)
{
        unsigned rules = 0;
        int rc;

        rc = batch_rules(q, lo, hi, &rules, err);
        if (rc < 0)
                return rc;
        if (rules & (1u << STORE_RULE_ORPHANS)) {
                rc = orphan_checks(q, lo, hi, skipped, err);
                if (rc < 0)
                        return rc;
        }
        /* A soft-deleted row that was saved again (deleted_at reset) is live data. */
        for (int t = 0; t < STORE_T_COUNT && (rules & (1u << STORE_RULE_SOFT_DELETED)); t++) {
                if (!q->t[t].present || !q->t[t].has_deleted_at)
                        continue;
                rc = drop_units(q, STORE_RULE_SOFT_DELETED, (enum store_table)t,
                                "NOT (t.deleted_at IS NOT NULL AND t.deleted_at < $3)", lo, hi,
                                skipped, err);
                if (rc < 0)
                        return rc;
        }
        if (q->t[STORE_T_TASK].present && q->t[STORE_T_SESSION].present &&
            (rules & (1u << STORE_RULE_SESSIONS | 1u << STORE_RULE_SOFT_DELETED)))
                return shared_tasks(q, lo, hi, err);
        return 0;
}

/* Candidates of the batch per table, after the re-checks. */
static int batch_counts(struct pgs *q, int64_t lo, int64_t hi, int64_t counts[STORE_T_COUNT],
                        struct errbuf *err)
{
        struct pg_params p;
        PGresult *res = NULL;
        int rc;

        memset(counts, 0, sizeof(counts[0]) * STORE_T_COUNT);
        batch_params(&p, lo, hi);
        rc = pg_exec(
                q,
                "SELECT tbl, count(*) FROM pg_temp.kr_cand x WHERE " IN_BATCH("x") " GROUP BY tbl",
                &p, &res, err, "batch");
        if (rc < 0)
                return rc;
        for (int i = 0; i < pqlib.PQntuples(res); i++) {
                int64_t t = -1;

                if (str_to_i64(pqlib.PQgetvalue(res, i, 0), &t) == 0 && t >= 0 && t < STORE_T_COUNT)
                        (void)str_to_i64(pqlib.PQgetvalue(res, i, 1), &counts[t]);
        }
        pqlib.PQclear(res);
        return 0;
}

/*
 * Delete the batch's rows of one table: lock them by primary key with FOR UPDATE SKIP LOCKED,
 * delete the locked ones by ctid (a TID scan), and count rows and planned bytes of what went.
 * Units already found busy ($3) are left alone.
 */
static int delete_table(struct pgs *q, enum store_table t, int64_t lo, int64_t hi, const char *busy,
                        struct store_count *out, struct errbuf *err)
{
        const char *tn = q->t[t].qname;
        struct pg_params p;
        PGresult *res = NULL;
        struct buf sql;
        int rc = 0;

        buf_init(&sql, PG_SQL_MAX);
        if (buf_printf(&sql,
                       "WITH d AS (DELETE FROM %s t WHERE t.ctid = ANY(ARRAY(SELECT r.ctid FROM "
                       "pg_temp.kr_cand x JOIN %s r ON ",
                       tn, tn) < 0 ||
            pg_keys_match(&sql, t, "r", "x", false) < 0 ||
            buf_printf(&sql,
                       " WHERE " IN_BATCH("x") " AND x.tbl = %d AND x.unit <> ALL($3::bigint[]) "
                                               "FOR UPDATE OF r SKIP LOCKED)) RETURNING ",
                       (int)t) < 0 ||
            pg_keys_select(&sql, t, "t", "c") < 0 ||
            buf_printf(&sql, ") SELECT count(*), coalesce(sum(x.bytes), 0) FROM d JOIN "
                             "pg_temp.kr_cand x ON ") < 0)
                rc = too_long(err);
        /* RETURNING names its columns after the key columns; match them back by position. */
        for (int i = 0; rc == 0 && i < PG_KEYS; i++)
                rc = buf_printf(&sql, "%sx.k%d = d.c%d", i ? " AND " : "", i + 1, i + 1) < 0
                             ? too_long(err)
                             : 0;
        if (rc == 0 && buf_printf(&sql, " AND x.tbl = %d AND " IN_BATCH("x"), (int)t) < 0)
                rc = too_long(err);
        if (rc == 0) {
                pg_params_init(&p);
                pg_param_i64(&p, lo);
                pg_param_i64(&p, hi);
                pg_param_str(&p, busy);
                rc = pg_exec(q, sql.data, &p, &res, err, "delete");
        }
        buf_cleanup(&sql);
        if (rc < 0)
                return rc;
        (void)str_to_i64(pqlib.PQgetvalue(res, 0, 0), &out->rows);
        (void)str_to_i64(pqlib.PQgetvalue(res, 0, 1), &out->bytes);
        pqlib.PQclear(res);
        return 0;
}

/* Units with a row of 't' in the batch that is still there: another transaction holds it. */
static int find_busy(struct pgs *q, enum store_table t, int64_t lo, int64_t hi, struct buf *busy,
                     int64_t *n, struct errbuf *err)
{
        struct pg_params p;
        PGresult *res = NULL;
        struct buf sql;
        int64_t found;
        int rc = 0;

        buf_init(&sql, PG_SQL_MAX);
        if (buf_printf(&sql, "SELECT DISTINCT x.unit FROM pg_temp.kr_cand x JOIN %s r ON ",
                       q->t[t].qname) < 0 ||
            pg_keys_match(&sql, t, "r", "x", false) < 0 ||
            buf_printf(&sql,
                       " WHERE " IN_BATCH("x") " AND x.tbl = %d AND "
                                               "x.unit <> ALL($3::bigint[])",
                       (int)t) < 0)
                rc = too_long(err);
        if (rc == 0) {
                /* The literal is closed for the query and reopened to append more units. */
                if (buf_append_str(busy, "}") < 0) {
                        buf_cleanup(&sql);
                        return too_long(err);
                }
                pg_params_init(&p);
                pg_param_i64(&p, lo);
                pg_param_i64(&p, hi);
                pg_param_str(&p, busy->data);
                rc = pg_exec(q, sql.data, &p, &res, err, "delete");
                busy->len--;
                busy->data[busy->len] = '\0';
        }
        buf_cleanup(&sql);
        if (rc < 0)
                return rc;
        found = collect_ids(res, busy);
        pqlib.PQclear(res);
        if (found < 0)
                return too_long(err);
        *n += found;
        return 0;
}

/* Delete the batch table by table, children first; a unit with a held row keeps the rest. */
static int delete_rows(struct pgs *q, int64_t lo, int64_t hi, struct store_batch_result *out,
                       struct errbuf *err)
{
        int64_t counts[STORE_T_COUNT];
        int64_t n_busy = 0;
        struct buf busy;
        int rc;

        rc = batch_counts(q, lo, hi, counts, err);
        if (rc < 0)
                return rc;
        buf_init(&busy, ARRAY_MAX);
        rc = buf_append_str(&busy, "{") < 0 ? too_long(err) : 0;
        for (int t = 0; rc == 0 && t < STORE_T_COUNT; t++) {
                struct store_count *c = &out->tables[t];
                if (counts[t] == 0 || !q->t[t].present)
                        continue;
                rc = buf_append_str(&busy, "}") < 0 ? too_long(err) : 0;
                if (rc == 0)
                        rc = delete_table(q, (enum store_table)t, lo, hi, busy.data, c, err);
                busy.len--;
                busy.data[busy.len] = '\0';
                if (rc == 0 && c->rows < counts[t])
                        rc = find_busy(q, (enum store_table)t, lo, hi, &busy, &n_busy, err);
                out->rows += c->rows;
        }
        if (rc == 0 && n_busy > 0) {
                int64_t dropped = 0;

                log_debug("rows held by another transaction, units skipped",
                          LOG_INT("units", n_busy));
                rc = buf_append_str(&busy, "}") < 0 ? too_long(err) : 0;
                if (rc == 0)
                        rc = drop(q, "unit", busy.data, &dropped, err);
                out->skipped_units += dropped;
        }
        buf_cleanup(&busy);
        return rc;
}

static int batch_bounds(struct pgs *q, int64_t lo, int64_t max_rows, int64_t *hi,
                        struct errbuf *err)
{
        struct pg_params p;

        pg_params_init(&p);
        pg_param_i64(&p, lo);
        pg_param_i64(&p, max_rows - 1);
        return pg_int(q,
                      "SELECT coalesce((SELECT seq FROM pg_temp.kr_cand WHERE seq > $1 ORDER BY "
                      "seq OFFSET $2 LIMIT 1), (SELECT max(seq) FROM pg_temp.kr_cand WHERE "
                      "seq > $1), 0)",
                      &p, hi, err, "batch");
}

static int batch_body(struct pgs *q, int64_t lo, int64_t hi, struct store_batch_result *res,
                      struct errbuf *err)
{
        struct pg_params p;
        int rc;

        if ((rc = recheck_sessions(q, lo, hi, &res->skipped_units, err)) < 0 ||
            (rc = recheck_rows(q, lo, hi, &res->skipped_units, err)) < 0 ||
            (rc = delete_rows(q, lo, hi, res, err)) < 0)
                return rc;
        /* Only the batch's range: rows below it are gone already (never scan their remains). */
        batch_params(&p, lo, hi);
        return pg_exec(q, "DELETE FROM pg_temp.kr_cand WHERE seq > $1 AND seq <= $2", &p, NULL, err,
                       "batch");
}

/* ---- batches of whole sessions (the sessions rule's per-session plan) ------------------ */

/* The tasks (alias t) that go with the session: its own, and unowned ones nobody else claims. */
static int sess_task_owned(const struct pgs *q, struct buf *b, const char *t, const char *sid,
                           const char *uid, const char *others)
{
        int rc = 0;

        if (q->task_has_user_id)
                rc |= buf_printf(b, "(%s.user_id = %s OR (%s.user_id IS NULL AND ", t, uid, t);
        rc |= buf_printf(b, "NOT EXISTS (SELECT 1 FROM %s o WHERE o.id = %s AND %s)",
                         q->t[STORE_T_SESSION].qname, sid, others);
        if (q->task_has_user_id)
                rc |= buf_append_str(b, "))");
        return rc;
}

static bool sess_child(const struct pgs *q, int t)
{
        return q->t[t].present && t != STORE_T_FEEDBACK && t != STORE_T_SESSION;
}

/*
 * ", dN AS (DELETE ...)" for each child table of the sessions in ok but the tasks: each returns
 * its rows' bytes (x), their places (tid, for sess_hint()) and, unless 'checked', whether the
 * row is activity after $3 (a).
 */
static int sess_child_deletes(const struct pgs *q, struct buf *b, bool checked)
{
        int rc = 0;

        for (int t = 0; t < STORE_T_COUNT; t++) {
                const char *tt = checked ? NULL : pg_activity_time((enum store_table)t);

                if (!sess_child(q, t) || t == STORE_T_PUSH || t == STORE_T_TASK)
                        continue;
                rc |= buf_printf(b, ", d%d AS (DELETE FROM %s c USING ok WHERE ", t, q->t[t].qname);
                rc |= pg_child_cond(b, (enum store_table)t, "ok.id", "ok.user_id");
                rc |= buf_printf(b, " RETURNING (%s)::bigint AS x, c.ctid AS tid",
                                 q->t[t].bytes_expr);
                if (tt)
                        rc |= buf_printf(b, ", coalesce(c.%s > $3, false) AS a", tt);
                rc |= buf_append_str(b, ")");
        }
        return rc;
}

/* ", tk AS (...), dN AS (DELETE ...)": the tasks that go with the sessions in ok, and theirs. */
static int sess_task_deletes(const struct pgs *q, struct buf *b, const char *mat)
{
        int rc = 0;

        if (!q->t[STORE_T_TASK].present)
                return 0;
        rc |= buf_printf(b,
                         ", tk AS%s (SELECT DISTINCT t.id FROM %s t JOIN ok ON "
                         "t.session_id = ok.id WHERE ",
                         mat, q->t[STORE_T_TASK].qname);
        rc |= sess_task_owned(q, b, "t", "ok.id", "ok.user_id",
                              "NOT EXISTS (SELECT 1 FROM ok o2 WHERE o2.id = o.id AND "
                              "o2.user_id = o.user_id)");
        rc |= buf_append_str(b, ")");
        if (q->t[STORE_T_PUSH].present)
                rc |= buf_printf(b,
                                 ", d%d AS (DELETE FROM %s c USING tk WHERE c.task_id = "
                                 "tk.id RETURNING (%s)::bigint AS x, c.ctid AS tid)",
                                 (int)STORE_T_PUSH, q->t[STORE_T_PUSH].qname,
                                 q->t[STORE_T_PUSH].bytes_expr);
        rc |= buf_printf(b,
                         ", d%d AS (DELETE FROM %s c USING tk WHERE c.id = tk.id "
                         "RETURNING (%s)::bigint AS x, c.ctid AS tid)",
                         (int)STORE_T_TASK, q->t[STORE_T_TASK].qname,
                         q->t[STORE_T_TASK].bytes_expr);
        return rc;
}

/*
 * The statement's one row after " SELECT ": the batch's last seq, its sessions, those deleted,
 * the guards, rows and bytes per table, then per table the deleted rows' places (a tid[]
 * literal) when $5 asks for them (sess_hint(): gathering them cost an idle run 15%), else NULL.
 */
static int sess_result_sql(const struct pgs *q, struct buf *b, bool checked)
{
        int rc = 0;

        rc |= buf_append_str(b, "(SELECT coalesce(max(seq), 0) FROM b), (SELECT count(*) FROM b), "
                                "(SELECT count(*) FROM ok), pg_temp.kr_guard(0");
        for (int t = 0; t < STORE_T_COUNT; t++)
                if (sess_child(q, t) || t == STORE_T_SESSION)
                        rc |= buf_printf(b, " + (SELECT count(*) FROM d%d)", t);
        rc |= buf_append_str(b, ", $2::bigint)");
        if (!checked) {
                rc |= buf_append_str(b, " + pg_temp.kr_idle(0");
                for (int t = 0; t < STORE_T_COUNT; t++)
                        if (sess_child(q, t) && pg_activity_time((enum store_table)t))
                                rc |= buf_printf(b, " + (SELECT count(*) FROM d%d WHERE a)", t);
                rc |= buf_append_str(b, ")");
        }
        for (int t = 0; t < STORE_T_COUNT; t++) {
                if (sess_child(q, t) || t == STORE_T_SESSION)
                        rc |= buf_printf(b,
                                         ", (SELECT count(*) FROM d%d), (SELECT "
                                         "coalesce(sum(x), 0) FROM d%d)",
                                         t, t);
                else
                        rc |= buf_append_str(b, ", 0, 0");
        }
        for (int t = 0; t < STORE_T_COUNT; t++) {
                if (sess_child(q, t) || t == STORE_T_SESSION)
                        rc |= buf_printf(b,
                                         ", CASE WHEN $5::boolean THEN (SELECT "
                                         "array_agg(tid)::text FROM d%d) END",
                                         t);
                else
                        rc |= buf_append_str(b, ", NULL::text");
        }
        return rc;
}

/*
 * One statement deleting a batch of whole sessions: lock their rows (a session kagent holds is
 * skipped), keep those still idle, delete everything of them, children and the session rows;
 * kr_guard fails it (KR001) when it would delete more rows than the batch may.
 *
 * 'checked' looks for each session's events, checkpoints and CrewAI rows after $3 before
 * deleting, and keeps a session that has one. Without it (the statement batches run first), the
 * deletes return each row's time instead and kr_idle fails the statement (KR002) when one is
 * after $3: the same rows are found by the same snapshot, once instead of twice (the probe of a
 * session's events reads every one of them, a fifth of a batch). A session gone active between
 * plan and batch is rare; its batch then runs again checked.
 */
static int sess_delete_sql(const struct pgs *q, struct buf *b, bool checked)
{
        const char *sess = q->t[STORE_T_SESSION].qname;
        /* Before PostgreSQL 12 every CTE is materialized, and the keyword does not exist. */
        const char *mat = q->server_version >= 120000 ? " MATERIALIZED" : "";
        int rc = 0;

        rc |= buf_printf(b,
                         "WITH b AS%s (SELECT seq, sid, uid FROM pg_temp.kr_sess WHERE seq > "
                         "$1::bigint AND seq <= $4::bigint), l AS%s (SELECT x.* FROM b, LATERAL "
                         "(SELECT s.id AS sid, s.user_id AS uid, false AS anyuser, s.updated_at "
                         "AS upd, s.created_at AS crt FROM %s s WHERE s.id = b.sid AND "
                         "s.user_id = b.uid FOR UPDATE OF s SKIP LOCKED) x), ok AS%s (SELECT "
                         "k.sid AS id, k.uid AS user_id FROM l k WHERE NOT (coalesce(k.upd >= "
                         "$3, false) OR coalesce(k.crt >= $3, false) OR ",
                         mat, mat, sess, mat);
        if (checked)
                rc |= sess_active_expr(q, b);
        else
                rc |= buf_append_str(b, "(false)") | task_activity(q, b, "");
        rc |= buf_append_str(b, "))");
        rc |= sess_child_deletes(q, b, checked);
        rc |= sess_task_deletes(q, b, mat);
        rc |= buf_printf(b,
                         ", d%d AS (DELETE FROM %s c USING ok WHERE c.id = ok.id AND "
                         "c.user_id = ok.user_id RETURNING (%s)::bigint AS x, c.ctid AS tid) "
                         "SELECT ",
                         (int)STORE_T_SESSION, sess, q->t[STORE_T_SESSION].bytes_expr);
        rc |= sess_result_sql(q, b, checked);
        return rc ? -EMSGSIZE : 0;
}

/*
 * "SELECT ...": reads the rows of each table the batch statement deletes from by their places,
 * $1.. a tid[] per such table in table order (NULL: none).
 */
static int sess_hint_sql(const struct pgs *q, struct buf *b)
{
        int rc = buf_append_str(b, "SELECT 0");
        int n = 0;

        for (int t = 0; t < STORE_T_COUNT; t++)
                if (sess_child(q, t) || t == STORE_T_SESSION)
                        rc |= buf_printf(b,
                                         " + (SELECT count(*) FROM %s WHERE ctid = "
                                         "ANY($%d::tid[]))",
                                         q->t[t].qname, ++n);
        return rc ? -EMSGSIZE : 0;
}

static int sess_prepare(struct pgs *q, struct errbuf *err)
{
        static const char lock_sql[] =
                "SELECT count(*) FROM pg_temp.kr_sess b, LATERAL (SELECT 1 FROM %s s WHERE "
                "s.id = b.sid AND s.user_id = b.uid FOR UPDATE OF s SKIP LOCKED) x WHERE "
                "b.seq > $1::bigint AND b.seq <= $2::bigint";
        static const char *const names[] = { "kr_slock", "kr_sdel", "kr_sdelc", "kr_shint" };
        struct buf sql;
        PGresult *res = NULL;
        int rc = 0;

        if (q->sess_prepared)
                return 0;
        buf_init(&sql, PG_SQL_MAX);
        for (int i = 0; i < 4 && rc == 0; i++) {
                buf_reset(&sql);
                if (i == 0   ? buf_printf(&sql, lock_sql, q->t[STORE_T_SESSION].qname) < 0
                    : i == 3 ? sess_hint_sql(q, &sql) < 0
                             : sess_delete_sql(q, &sql, i == 2) < 0) {
                        rc = too_long(err);
                        break;
                }
                res = pqlib.PQprepare(q->conn, names[i], sql.data, 0, NULL);
                if (!res || pqlib.PQresultStatus(res) != PGRES_COMMAND_OK)
                        rc = pg_fail(q, res, err, "prepare");
                pqlib.PQclear(res);
        }
        buf_cleanup(&sql);
        if (rc == 0)
                q->sess_prepared = true;
        else /* e.g. a table lock: the next attempt prepares them all again */
                (void)pg_deallocate(q, NULL, "prepare");
        return rc;
}

/*
 * The next batch of whole sessions: the last seq of the longest run of planned sessions after
 * sess_cursor whose planned rows add up to at most max_rows (0: none, the first alone has more:
 * it goes through the fallback, a part per transaction). Chosen from (seq, rows) read ahead
 * about once per PG_SESS_AHEAD / 2 sessions; a batch never reaches past what was read.
 */
static int sess_hi(struct pgs *q, int64_t max_rows, int64_t *hi, struct errbuf *err)
{
        int64_t need = max_rows < PG_SESS_AHEAD / 2 ? max_rows : PG_SESS_AHEAD / 2;
        int64_t cum = 0;

        if (q->sc_gen == q->sess_gen)
                while (q->sc_pos < q->sc_n && q->sc_seq[q->sc_pos] <= q->sess_cursor)
                        q->sc_pos++;
        if (q->sc_gen != q->sess_gen || (!q->sc_end && q->sc_n - q->sc_pos < need)) {
                struct pg_params p;
                PGresult *res = NULL;
                int rc;

                pg_params_init(&p);
                pg_param_i64(&p, q->sess_cursor);
                pg_param_i64(&p, PG_SESS_AHEAD);
                rc = pg_exec(q,
                             "SELECT seq, rows FROM pg_temp.kr_sess WHERE seq > $1::bigint "
                             "ORDER BY seq LIMIT $2::bigint",
                             &p, &res, err, "batch");
                if (rc < 0)
                        return rc;
                q->sc_n = 0;
                q->sc_pos = 0;
                for (int i = 0; i < pqlib.PQntuples(res) && i < PG_SESS_AHEAD; i++) {
                        if (str_to_i64(pqlib.PQgetvalue(res, i, 0), &q->sc_seq[i]) < 0 ||
                            str_to_i64(pqlib.PQgetvalue(res, i, 1), &q->sc_rows[i]) < 0) {
                                pqlib.PQclear(res);
                                q->sc_gen = q->sess_gen - 1;
                                return errbuf_set(err, -EPROTO,
                                                  "postgres delete: unexpected result");
                        }
                        q->sc_n = i + 1;
                }
                q->sc_end = pqlib.PQntuples(res) < PG_SESS_AHEAD;
                q->sc_gen = q->sess_gen;
                pqlib.PQclear(res);
        }
        *hi = 0;
        for (int i = q->sc_pos; i < q->sc_n && i - q->sc_pos < max_rows; i++) {
                cum += q->sc_rows[i];
                if (cum > max_rows)
                        break;
                *hi = q->sc_seq[i];
        }
        return 0;
}

/* Whether a planned session follows sess_cursor, from what was read ahead; -1: not known. */
static int sess_more(const struct pgs *q)
{
        if (q->sc_gen != q->sess_gen || q->sc_n == 0)
                return -1;
        if (q->sc_seq[q->sc_n - 1] > q->sess_cursor)
                return 1;
        return q->sc_end ? 0 : -1;
}

/* "(SQLSTATE)" in the message: the fast path gives way to the fallback. */
static bool failed_with(const struct errbuf *err, const char *state)
{
        char tag[8];

        (void)snprintf(tag, sizeof(tag), "(%s)", state);
        return strstr(err->msg, tag) != NULL;
}

/* What one statement of whole sessions did: its rows, the last seq it took, its sessions. */
struct sess_done {
        struct store_batch_result res;
        int64_t last; /* the last seq of the batch (0: none) */
        int64_t nb;   /* sessions in the batch */
        int64_t nok;  /* of them deleted */
};

/*
 * After a batch committed while kagent writes: read the rows it deleted once more, by their
 * places (the batch statement's tid[] columns in 'res'), so that this backend sets their hint
 * bits (deleted, and committed) while their pages are still dirty in shared_buffers from the
 * delete. Whoever reads a deleted row first sets them otherwise, and that is autovacuum's
 * ANALYZE, which the deletes set off: it dirties its sample pages again (30,000 of event's,
 * ~220 MB after the benchmark's prune), its backend writes them to the page cache unflushed, and
 * the kernel later writes that pile out in one burst that kagent's commits wait behind. Only
 * while kagent writes: then our commits are synchronous, and a hint bit can only be set once
 * the commit is flushed. A read that fails changes nothing of what was deleted.
 */
static void sess_hint(struct pgs *q, const PGresult *res)
{
        struct pg_params p;
        struct errbuf err;

        pg_params_init(&p);
        for (int t = 0; t < STORE_T_COUNT; t++) {
                int col = 4 + 2 * STORE_T_COUNT + t;

                if (sess_child(q, t) || t == STORE_T_SESSION)
                        pg_param_str(&p, pqlib.PQgetisnull(res, 0, col)
                                                 ? NULL
                                                 : pqlib.PQgetvalue(res, 0, col));
        }
        errbuf_clear(&err);
        if (pg_exec_prepared(q, "kr_shint", &p, NULL, &err, "hint bits") < 0)
                log_debug("postgres: deleted rows not read again", LOG_STR("error", err.msg));
}

/*
 * The sessions after sess_cursor up to 'hi' in one transaction through statement 'stmt'
 * (kr_sdel or kr_sdelc), sent as one script: one round trip begins, locks the sessions, deletes
 * them and commits. Rolled back when it fails. While kagent writes, sess_hint() follows.
 */
static int sess_fast_once(struct pgs *q, const char *stmt, int64_t max_rows, int64_t hi,
                          struct sess_done *d, struct errbuf *err)
{
        struct pg_params cut;
        PGresult *r[2];
        char script[768];
        int64_t t0;
        int rc;

        bool writing = pg_kagent_writing(q, clock_mono_ms());

        memset(d, 0, sizeof(*d));
        pg_params_init(&cut);
        pg_param_ts(&cut, q->recheck_cut_ms);
        /*
         * A generic plan for the statement (PostgreSQL 12+): replanning its two dozen subplans
         * for every batch costs about 1 ms a batch; its joins are lateral or driven by the few
         * locked sessions, whatever the parameters. The sessions are locked by a statement of
         * their own, before the delete takes its snapshot: kagent's commits on them until then
         * are in it.
         */
        (void)snprintf(
                script, sizeof(script),
                "%s; SET LOCAL lock_timeout = '%" PRId64 "ms'%s; EXECUTE kr_slock(%" PRId64
                ", %" PRId64 "); EXECUTE %s(%" PRId64 ", %" PRId64 ", '%s', %" PRId64
                ", %s); COMMIT",
                pg_begin_sql(q), q->fast_lock_ms > 0 ? q->fast_lock_ms : PG_FAST_LOCK_TIMEOUT_MS,
                q->server_version >= 120000 ? "; SET LOCAL plan_cache_mode = force_generic_plan"
                                            : "",
                q->sess_cursor, hi, stmt, q->sess_cursor, max_rows, cut.v[0], hi,
                writing ? "true" : "false");
        t0 = clock_mono_ns();
        rc = pg_script_rows(q, script, r, 2, err, "delete");
        if (rc == 0) {
                if (!r[1] || pqlib.PQntuples(r[1]) != 1 ||
                    pqlib.PQnfields(r[1]) != 4 + 3 * STORE_T_COUNT) {
                        rc = errbuf_set(err, -EPROTO, "postgres delete: unexpected result");
                } else {
                        (void)str_to_i64(pqlib.PQgetvalue(r[1], 0, 0), &d->last);
                        (void)str_to_i64(pqlib.PQgetvalue(r[1], 0, 1), &d->nb);
                        (void)str_to_i64(pqlib.PQgetvalue(r[1], 0, 2), &d->nok);
                        for (int t = 0; t < STORE_T_COUNT; t++) {
                                struct store_count *c = &d->res.tables[t];

                                (void)str_to_i64(pqlib.PQgetvalue(r[1], 0, 4 + 2 * t), &c->rows);
                                (void)str_to_i64(pqlib.PQgetvalue(r[1], 0, 5 + 2 * t), &c->bytes);
                                d->res.rows += c->rows;
                        }
                }
                pg_note_own_xid(q); /* committed */
        }
        d->res.txn_us = (clock_mono_ns() - t0) / 1000;
        if (rc == 0 && writing)
                sess_hint(q, r[1]);
        for (int i = 0; i < 2; i++)
                pqlib.PQclear(r[i]);
        if (rc < 0) {
                pg_rollback(q);
                /* Failed by its own check, after deleting: its transaction id was taken. */
                if (failed_with(err, "KR001") || failed_with(err, "KR002"))
                        pg_note_own_xid(q);
                d->res.txn_us = (clock_mono_ns() - t0) / 1000; /* with its rollback */
        }
        return rc;
}

/*
 * Whole sessions in one transaction: first without looking for their activity before deleting
 * (kr_sdel), again with it (kr_sdelc) when a session turned out active. Returns 1 when the
 * fallback must take the batch.
 */
static int sess_fast(struct pgs *q, int64_t max_rows, struct store_batch_result *out,
                     struct errbuf *err)
{
        struct sess_done d;
        int64_t first_us = 0;
        int64_t hi = 0;
        int rc;

        rc = sess_prepare(q, err);
        if (rc == 0)
                rc = sess_hi(q, max_rows, &hi, err);
        if (rc < 0)
                return rc;
        rc = sess_fast_once(q, "kr_sdel", max_rows, hi, &d, err);
        if (rc < 0 && failed_with(err, "KR002")) {
                log_debug("a session of the batch is active again, the batch again checked",
                          LOG_STR("error", err->msg));
                errbuf_clear(err);
                first_us = d.res.txn_us;
                rc = sess_fast_once(q, "kr_sdelc", max_rows, hi, &d, err);
        }
        /* The longest transaction counts, the one rolled back too. */
        if (first_us > d.res.txn_us)
                d.res.txn_us = first_us;
        if (rc < 0) {
                if (!failed_with(err, "55P03") && !failed_with(err, "KR001"))
                        return rc;
                /* A held row or more rows than planned: session by session, with SKIP LOCKED. */
                log_debug("batch of sessions gives way to the fallback",
                          LOG_STR("error", err->msg));
                q->sess_slow_until = hi > q->sess_cursor ? hi : q->sess_cursor + 1;
                errbuf_clear(err);
                out->txn_us = d.res.txn_us;
                return 1;
        }
        if (d.nb == 0) {
                /* The next session alone has more rows than a batch may: in parts. */
                q->sess_slow_until = q->sess_cursor + 1;
                out->txn_us = d.res.txn_us;
                return 1;
        }
        d.res.skipped_units = d.nb - d.nok;
        if (d.res.skipped_units > 0)
                log_debug("sessions busy or active again, skipped",
                          LOG_INT("sessions", d.res.skipped_units));
        q->sess_cursor = d.last;
        *out = d.res;
        return 0;
}

/*
 * Up to 'budget' rows of table t of the session ($1, $2), each locked FOR UPDATE SKIP LOCKED;
 * '*seen' is how many there were (up to budget + 1): more than went means held or over budget.
 */
static int sess_slow_table(struct pgs *q, enum store_table t, const char *sid, const char *uid,
                           int64_t budget, struct store_count *c, int64_t *seen, struct errbuf *err)
{
        const char *tn = q->t[t].qname;
        struct pg_params p;
        PGresult *res = NULL;
        struct buf cond;
        struct buf sql;
        int rc = 0;

        buf_init(&cond, 4096);
        buf_init(&sql, PG_SQL_MAX);
        if (t == STORE_T_PUSH) {
                rc |= buf_printf(&cond,
                                 "c.task_id IN (SELECT t.id FROM %s t WHERE "
                                 "t.session_id = $1 AND ",
                                 q->t[STORE_T_TASK].qname);
                rc |= sess_task_owned(q, &cond, "t", "$1", "$2", "o.user_id <> $2");
                rc |= buf_append_str(&cond, ")");
        } else if (t == STORE_T_TASK) {
                rc |= buf_append_str(&cond, "c.session_id = $1 AND ");
                rc |= sess_task_owned(q, &cond, "c", "$1", "$2", "o.user_id <> $2");
        } else if (t == STORE_T_SESSION) {
                rc |= buf_append_str(&cond, "c.id = $1 AND c.user_id = $2");
        } else {
                rc |= pg_child_cond(&cond, t, "$1", "$2");
        }
        rc |= buf_printf(&sql,
                         "WITH d AS (DELETE FROM %s x WHERE x.ctid = ANY(ARRAY(SELECT c.ctid "
                         "FROM %s c WHERE %s LIMIT $3::bigint FOR UPDATE OF c SKIP LOCKED)) "
                         "RETURNING x.*) SELECT count(*), coalesce(sum(%s), 0), (SELECT "
                         "count(*) FROM (SELECT 1 FROM %s c WHERE %s LIMIT $3::bigint + 1) m) "
                         "FROM d c",
                         tn, tn, cond.data, q->t[t].bytes_expr, tn, cond.data);
        buf_cleanup(&cond);
        if (rc != 0) {
                buf_cleanup(&sql);
                return too_long(err);
        }
        pg_params_init(&p);
        pg_param_str(&p, sid);
        pg_param_str(&p, uid);
        pg_param_i64(&p, budget);
        rc = pg_exec(q, sql.data, &p, &res, err, "delete");
        buf_cleanup(&sql);
        if (rc < 0)
                return rc;
        (void)str_to_i64(pqlib.PQgetvalue(res, 0, 0), &c->rows);
        (void)str_to_i64(pqlib.PQgetvalue(res, 0, 1), &c->bytes);
        (void)str_to_i64(pqlib.PQgetvalue(res, 0, 2), seen);
        pqlib.PQclear(res);
        return 0;
}

/* Lock the session row and re-check it: 1 when it may go, 0 when busy, gone or active. */
static int sess_slow_check(struct pgs *q, const char *sid, const char *uid, struct errbuf *err)
{
        struct pg_params p;
        struct buf sql;
        int64_t n = 0;
        int rc = 0;

        pg_params_init(&p);
        pg_param_str(&p, sid);
        pg_param_str(&p, uid);
        pg_param_ts(&p, q->recheck_cut_ms);
        buf_init(&sql, PG_SQL_MAX);
        if (buf_printf(&sql,
                       "SELECT count(*) FROM (SELECT 1 FROM %s s WHERE s.id = $1 AND "
                       "s.user_id = $2 AND coalesce(s.updated_at < $3, true) AND "
                       "coalesce(s.created_at < $3, true) FOR UPDATE OF s SKIP LOCKED) x",
                       q->t[STORE_T_SESSION].qname) < 0)
                rc = too_long(err);
        if (rc == 0)
                rc = pg_int(q, sql.data, &p, &n, err, "lock sessions");
        buf_reset(&sql);
        if (rc == 0 && n == 1 &&
            (buf_append_str(&sql, "SELECT count(*) FROM (SELECT $1::text AS sid, $2::text AS "
                                  "uid, false AS anyuser) k WHERE ") < 0 ||
             active_expr(q, &sql) < 0))
                rc = too_long(err);
        if (rc == 0 && n == 1)
                rc = pg_int(q, sql.data, &p, &n, err, "re-check");
        else if (rc == 0)
                n = 1; /* busy or gone: not "active", but not ours either */
        buf_cleanup(&sql);
        if (rc < 0)
                return rc;
        return n == 0 ? 1 : 0;
}

/* The session's rows, table by table, children first, within 'budget'. */
static int sess_slow_tables(struct pgs *q, const char *sid, const char *uid, int64_t budget,
                            struct store_batch_result *res, bool *keep, bool *part,
                            struct errbuf *err)
{
        static const enum store_table order[] = {
                STORE_T_EVENT,       STORE_T_CHECKPOINT_WRITE,
                STORE_T_CHECKPOINT,  STORE_T_CREWAI_MEMORY,
                STORE_T_CREWAI_FLOW, STORE_T_SESSION_SHARE,
                STORE_T_PUSH,        STORE_T_TASK,
                STORE_T_SESSION,
        };
        int rc = 0;

        for (size_t i = 0; rc == 0 && i < sizeof(order) / sizeof(order[0]); i++) {
                enum store_table t = order[i];
                struct store_count c = { 0, 0 };
                int64_t seen = 0;

                if (!q->t[t].present || (t == STORE_T_PUSH && !q->t[STORE_T_TASK].present))
                        continue;
                if (budget == 0) {
                        *part = true;
                        break;
                }
                rc = sess_slow_table(q, t, sid, uid, budget, &c, &seen, err);
                if (rc < 0)
                        break;
                res->tables[t] = c;
                res->rows += c.rows;
                budget -= c.rows;
                if (seen > c.rows && budget > 0)
                        *keep = true; /* a row another transaction holds */
                else if (seen > c.rows)
                        *part = true;
                if (*keep || *part)
                        break;
        }
        return rc < 0 ? rc : 1;
}

/*
 * The fallback: one session, in one transaction, at most 'max_rows' of its rows, children first,
 * each locked FOR UPDATE SKIP LOCKED; a row another transaction holds keeps the session (the
 * transaction is rolled back). A session with more rows than a batch may goes in parts; the
 * session row goes last.
 */
static int sess_slow(struct pgs *q, int64_t max_rows, struct store_batch_result *out,
                     struct errbuf *err)
{
        struct store_batch_result res;
        struct pg_params p;
        PGresult *key = NULL;
        int64_t seq = q->sess_cursor + 1;
        bool keep = false;
        bool part = false;
        int64_t t0;
        int rc;

        memset(&res, 0, sizeof(res));
        pg_params_init(&p);
        pg_param_i64(&p, q->sess_cursor);
        rc = pg_exec(q,
                     "SELECT seq, sid, uid FROM pg_temp.kr_sess WHERE seq > $1 ORDER BY seq "
                     "LIMIT 1",
                     &p, &key, err, "batch");
        if (rc < 0)
                return rc;
        if (pqlib.PQntuples(key) != 1) {
                pqlib.PQclear(key);
                q->sess_slow_until = 0;
                *out = res;
                return 0;
        }
        (void)str_to_i64(pqlib.PQgetvalue(key, 0, 0), &seq);
        t0 = clock_mono_ns();
        rc = pg_begin(q, err);
        if (rc == 0)
                rc = sess_slow_check(q, pqlib.PQgetvalue(key, 0, 1), pqlib.PQgetvalue(key, 0, 2),
                                     err);
        keep = rc == 0;
        if (rc == 1)
                rc = sess_slow_tables(q, pqlib.PQgetvalue(key, 0, 1), pqlib.PQgetvalue(key, 0, 2),
                                      max_rows, &res, &keep, &part, err);
        pqlib.PQclear(key);
        if (rc < 0 || keep) {
                pg_rollback(q);
                if (rc < 0)
                        return rc;
                memset(&res, 0, sizeof(res));
                res.skipped_units = 1;
                log_debug("session busy or active again, skipped");
        } else {
                rc = pg_commit(q, err);
                if (rc < 0) {
                        pg_rollback(q);
                        return rc;
                }
                pg_note_own_xid(q);
        }
        res.txn_us = (clock_mono_ns() - t0) / 1000;
        if (!part)
                q->sess_cursor = seq;
        *out = res;
        return 0;
}

/* The next batch of the per-session plan; 'out->done' when no session is left. */
static int sess_batch(struct pgs *q, int64_t max_rows, struct store_batch_result *out,
                      struct errbuf *err)
{
        struct pg_params p;
        int64_t fast_us = 0;
        int64_t more = 0;
        int rc = 1;

        pg_sessions_ahead(q);
        if (q->sess_cursor >= q->sess_slow_until) {
                rc = sess_fast(q, max_rows, out, err);
                fast_us = out->txn_us;
        }
        if (rc == 1) {
                rc = sess_slow(q, max_rows, out, err);
                /* The longest transaction counts, the one that gave way too. */
                if (rc == 0 && fast_us > out->txn_us)
                        out->txn_us = fast_us;
        }
        if (rc < 0)
                return rc;
        more = sess_more(q);
        if (more < 0) {
                pg_params_init(&p);
                pg_param_i64(&p, q->sess_cursor);
                rc = pg_int(q,
                            "SELECT count(*) FROM (SELECT 1 FROM pg_temp.kr_sess WHERE seq > $1 "
                            "LIMIT 1) m",
                            &p, &more, err, "batch");
                if (rc < 0)
                        return rc;
        }
        /* Every planned session is taken: the next part of a plan in parts, if any. */
        if (more == 0 && q->sess_parts) {
                rc = pg_sessions_next_part(q, &more, err);
                if (rc < 0)
                        return rc;
        }
        out->done = more == 0;
        if (out->done)
                q->sess_pending = false;
        return 0;
}

int pg_delete_batch(struct store *s, int64_t max_rows, struct store_batch_result *out,
                    struct errbuf *err)
{
        struct pgs *q = pg_of(s);
        struct store_batch_result res;
        struct pg_params p;
        int64_t lo = q->cursor;
        int64_t hi = 0;
        int64_t more = 0;
        int64_t t0;
        int rc;

        memset(&res, 0, sizeof(res));
        if (!s->info.writable)
                return errbuf_set(err, -EROFS, "deletes not allowed: %s",
                                  s->info.not_writable_reason);
        rc = pg_run_alive(q, err, "delete");
        if (rc < 0)
                return rc;
        if (max_rows < 1)
                max_rows = 1;
        if (q->sess_pending) {
                rc = sess_batch(q, max_rows, &res, err);
                if (rc == 0)
                        *out = res;
                return rc;
        }
        rc = batch_bounds(q, lo, max_rows, &hi, err);
        if (rc < 0)
                return rc;
        if (hi <= lo) {
                res.done = true;
                *out = res;
                return 0;
        }
        t0 = clock_mono_ns();
        rc = pg_begin(q, err);
        if (rc < 0)
                return rc;
        rc = batch_body(q, lo, hi, &res, err);
        if (rc == 0)
                rc = pg_commit(q, err);
        if (rc < 0) {
                /* Not counted as ours: at worst the next pause is a full one. */
                pg_rollback(q);
                return rc;
        }
        pg_note_own_xid(q); /* a committed batch wrote: exactly one transaction id */
        /* SKIP LOCKED never waits for a row; a table lock wait ends at lock_timeout (-EBUSY). */
        res.txn_us = (clock_mono_ns() - t0) / 1000;
        res.wait_us = 0;
        q->cursor = hi;
        /*
         * Through the seq index: a scan would step over every row earlier batches deleted (a
         * temp table is never vacuumed), a cost growing with the plan times the batches.
         */
        pg_params_init(&p);
        pg_param_i64(&p, hi);
        rc = pg_int(
                q,
                "SELECT count(*) FROM (SELECT 1 FROM pg_temp.kr_cand WHERE seq > $1 ORDER BY seq "
                "LIMIT 1) m",
                &p, &more, err, "batch");
        if (rc < 0)
                return rc;
        res.done = more == 0;
        *out = res;
        return 0;
}
