/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite deleting: one short BEGIN IMMEDIATE transaction per batch of planned rows. Inside it,
 * before anything is deleted, every session the batch touches is re-checked for activity newer
 * than the cutoff (an event written after the plan starts a new idle period), orphans whose
 * parent came back and soft-deleted rows that were resurrected are dropped from the plan, and
 * tasks still claimed by another session row are kept. The sessions rule planned per whole
 * session (temp.kr_sess) goes session by session instead: re-checked, then deleted children
 * first with bounded DELETE .. RETURNING statements, its row last.
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

/* Build the activity re-check for one session key: ?1 sid, ?2 uid, ?3 cut (julian day),
 * ?4 event rowid watermark, ?5 checkpoint rowid watermark. 'any': every session row with the
 * id (tasks belong to all of them) instead of the one (id, user). */
static int build_recheck(struct sq *q, bool any, struct buf *b)
{
        const char *s_uid = any ? "s.user_id" : "?2";
        const char *s_id = any ? "s.id" : "?1";
        int rc = 0;

        if (any)
                rc |= buf_append_str(b, "SELECT EXISTS (SELECT 1 FROM main.session s WHERE "
                                        "s.id = ?1 AND (julianday(s.updated_at) > ?3 OR "
                                        "julianday(s.created_at) > ?3");
        else
                rc |= buf_append_str(b, "SELECT (EXISTS (SELECT 1 FROM main.session s WHERE "
                                        "s.id = ?1 AND s.user_id = ?2 AND "
                                        "(julianday(s.updated_at) > ?3 OR "
                                        "julianday(s.created_at) > ?3))");
        if (q->t[STORE_T_EVENT].present)
                rc |= buf_printf(b,
                                 " OR EXISTS (SELECT 1 FROM main.event e WHERE e.session_id = %s "
                                 "AND e.rowid > ?4 AND e.user_id = %s)",
                                 s_id, s_uid);
        if (q->t[STORE_T_CHECKPOINT].present)
                rc |= buf_printf(b,
                                 " OR EXISTS (SELECT 1 FROM main.lg_checkpoint c WHERE "
                                 "c.user_id = %s AND c.thread_id = %s AND c.rowid > ?5)",
                                 s_uid, s_id);
        if (q->t[STORE_T_CREWAI_MEMORY].present)
                rc |= buf_printf(b,
                                 " OR EXISTS (SELECT 1 FROM main.crewai_agent_memory m WHERE "
                                 "m.user_id = %s AND m.thread_id = %s AND "
                                 "julianday(m.updated_at) > ?3)",
                                 s_uid, s_id);
        if (q->t[STORE_T_CREWAI_FLOW].present)
                rc |= buf_printf(b,
                                 " OR EXISTS (SELECT 1 FROM main.crewai_flow_state m WHERE "
                                 "m.user_id = %s AND m.thread_id = %s AND "
                                 "julianday(m.updated_at) > ?3)",
                                 s_uid, s_id);
        if (any)
                rc |= buf_append_str(b, "))");
        if (q->t[STORE_T_TASK].present)
                rc |= buf_append_str(b, " OR EXISTS (SELECT 1 FROM main.task t WHERE "
                                        "t.session_id = ?1 AND julianday(t.updated_at) > ?3)");
        if (!any)
                rc |= buf_append_str(b, ")");
        return rc ? -ENOMEM : 0;
}

static int recheck_prepare(struct sq *q, struct errbuf *err)
{
        for (int any = 0; any < 2; any++) {
                struct buf b;
                int rc;

                if (q->recheck[any])
                        continue;
                buf_init(&b, 8192);
                rc = build_recheck(q, any, &b);
                if (rc < 0) {
                        buf_cleanup(&b);
                        return errbuf_set(err, rc, "out of memory");
                }
                rc = sq_prepare(q, b.data, &q->recheck[any], err);
                buf_cleanup(&b);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

/* Is the session key active after the cutoff? 1 yes, 0 no, negative errno. */
static int session_active(struct sq *q, const char *sid, const char *uid, int any,
                          struct errbuf *err)
{
        sqlite3_stmt *st = q->recheck[any ? 1 : 0];
        int rc;

        (void)sqlite3_bind_text(st, 1, sid, -1, SQLITE_TRANSIENT);
        (void)sqlite3_bind_text(st, 2, uid, -1, SQLITE_TRANSIENT);
        (void)sqlite3_bind_double(st, 3, q->recheck_cut_jd);
        (void)sqlite3_bind_int64(st, 4, q->w_event);
        (void)sqlite3_bind_int64(st, 5, q->w_checkpoint);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                rc = sqlite3_column_int(st, 0) != 0;
        } else {
                rc = sq_fail(q, rc, err, "re-check");
        }
        (void)sqlite3_reset(st);
        return rc;
}

struct key {
        int64_t skey;
        char *sid;
        char *uid;
        int any;
};

/*
 * gcc 12 -fanalyzer loses the strings stored at a variable index of the heap array below and
 * reports them leaked; the caller frees keys[0..*n), an entry whose copy failed included. Only
 * this function is exempt.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wanalyzer-malloc-leak"
#endif
/*
 * Append the key on the current row of 'sel' to keys[0..*n), growing the array as needed.
 * An entry whose strings failed to copy is still counted, so the caller frees it.
 */
static int key_push(sqlite3_stmt *sel, struct key **keys, size_t *n, size_t *cap,
                    struct errbuf *err)
{
        const char *sid = (const char *)sqlite3_column_text(sel, 1);
        const char *uid = (const char *)sqlite3_column_text(sel, 2);
        struct key *k;

        /* The columns are NOT NULL: a NULL text is SQLite out of memory. */
        if (!sid || !uid)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 64;
                struct key *v = reallocarray(*keys, nc, sizeof(*v));

                if (!v)
                        return errbuf_set(err, -ENOMEM, "out of memory");
                *keys = v;
                *cap = nc;
        }
        k = &(*keys)[*n];
        k->skey = sqlite3_column_int64(sel, 0);
        k->any = sqlite3_column_int(sel, 3);
        k->sid = strdup(sid);
        k->uid = strdup(uid);
        (*n)++;
        if (!k->sid || !k->uid)
                return errbuf_set(err, -ENOMEM, "out of memory");
        return 0;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* Re-check every session key of the batch; drop the plan of those that became active. */
static int recheck_sessions(struct sq *q, int64_t lo, int64_t hi, int64_t *skipped,
                            struct errbuf *err)
{
        sqlite3_stmt *sel = NULL;
        sqlite3_stmt *drop = NULL;
        struct key *keys = NULL;
        size_t n = 0;
        size_t cap = 0;
        int rc;

        rc = sq_prepare(q,
                        "SELECT DISTINCT k.skey, k.sid, k.uid, k.anyuser FROM temp.kr_cand c "
                        "JOIN temp.kr_skey k ON k.skey = c.skey WHERE c.seq > ?1 AND c.seq <= ?2",
                        &sel, err);
        if (rc < 0)
                goto out;
        (void)sqlite3_bind_int64(sel, 1, lo);
        (void)sqlite3_bind_int64(sel, 2, hi);
        while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
                rc = key_push(sel, &keys, &n, &cap, err);
                if (rc < 0)
                        goto out;
        }
        if (rc != SQLITE_DONE) {
                rc = sq_fail(q, rc, err, "re-check");
                goto out;
        }
        rc = sq_prepare(q, "DELETE FROM temp.kr_cand WHERE skey = ?1", &drop, err);
        if (rc < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                rc = session_active(q, keys[i].sid, keys[i].uid, keys[i].any, err);
                if (rc < 0)
                        goto out;
                if (rc == 0)
                        continue;
                log_debug("session became active, skipped", LOG_INT("skey", keys[i].skey));
                (void)sqlite3_bind_int64(drop, 1, keys[i].skey);
                rc = sq_step_done(q, drop, err, "re-check");
                if (rc < 0)
                        goto out;
                (*skipped)++;
        }
        rc = 0;
out:
        for (size_t i = 0; i < n; i++) {
                free(keys[i].sid);
                free(keys[i].uid);
        }
        free(keys);
        sqlite3_finalize(sel);
        sqlite3_finalize(drop);
        return rc;
}

/* Drop whole units whose head row no longer qualifies: 'cond' is over alias t (the head). */
static int drop_units(struct sq *q, enum store_rule rule, enum store_table head, const char *cond,
                      int64_t lo, int64_t hi, int64_t *skipped, struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        struct buf b;
        int rc;

        if (!q->t[head].present)
                return 0;
        buf_init(&b, 4096);
        /* Driven from the batch's seq range, then each unit's head through the unit index:
         * the cost follows the batch, not the size of the plan. */
        rc = buf_printf(&b,
                        "DELETE FROM temp.kr_cand WHERE unit IN (SELECT c.unit FROM "
                        "(SELECT DISTINCT unit FROM temp.kr_cand WHERE seq > ?1 AND seq <= ?2 "
                        "AND +rule = %d) u CROSS JOIN temp.kr_cand c ON c.unit = u.unit "
                        "CROSS JOIN main.\"%s\" t ON t.rowid = c.rid WHERE c.head = 1 AND "
                        "c.tbl = %d AND (%s))",
                        (int)rule, store_table_name(head), (int)head, cond);
        if (rc < 0) {
                rc = errbuf_set(err, rc, "sql text too long");
                goto out;
        }
        rc = sq_prepare(q, b.data, &st, err);
        if (rc < 0)
                goto out;
        (void)sqlite3_bind_int64(st, 1, lo);
        (void)sqlite3_bind_int64(st, 2, hi);
        if (sqlite3_bind_parameter_index(st, "?3") > 0 || sqlite3_bind_parameter_count(st) >= 3)
                (void)sqlite3_bind_double(st, 3, q->cur_rule_age_jd);
        rc = sq_step_done(q, st, err, "re-check");
        if (rc < 0)
                goto out;
        *skipped += sqlite3_changes(q->db) > 0 ? 1 : 0;
out:
        sqlite3_finalize(st);
        buf_cleanup(&b);
        return rc;
}

/* Which rules have candidates in (lo, hi]: a bit per rule. */
static int batch_rules(struct sq *q, int64_t lo, int64_t hi, unsigned *out, struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        int rc;

        *out = 0;
        rc = sq_prepare(q, "SELECT DISTINCT rule FROM temp.kr_cand WHERE seq > ?1 AND seq <= ?2",
                        &st, err);
        if (rc < 0)
                return rc;
        (void)sqlite3_bind_int64(st, 1, lo);
        (void)sqlite3_bind_int64(st, 2, hi);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int r = sqlite3_column_int(st, 0);

                if (r >= 0 && r < STORE_RULE_COUNT)
                        *out |= 1u << r;
        }
        rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, err, "batch");
        sqlite3_finalize(st);
        return rc;
}

static int recheck_rows(struct sq *q, int64_t lo, int64_t hi, int64_t *skipped, struct errbuf *err)
{
        static const struct {
                enum store_rule rule;
                enum store_table head;
                const char *cond;
        } checks[] = {
                /* An orphan whose parent reappeared is no orphan. */
                { STORE_RULE_ORPHANS, STORE_T_EVENT,
                  "EXISTS (SELECT 1 FROM main.session s WHERE s.id = t.session_id AND "
                  "s.user_id = t.user_id)" },
                { STORE_RULE_ORPHANS, STORE_T_TASK,
                  "EXISTS (SELECT 1 FROM main.session s WHERE s.id = t.session_id)" },
                { STORE_RULE_ORPHANS, STORE_T_PUSH,
                  "EXISTS (SELECT 1 FROM main.task p WHERE p.id = t.task_id AND NOT EXISTS "
                  "(SELECT 1 FROM temp.kr_cand x WHERE x.tbl = 7 AND x.rid = p.rowid))" },
                { STORE_RULE_ORPHANS, STORE_T_CHECKPOINT,
                  "EXISTS (SELECT 1 FROM main.session s WHERE s.id = t.thread_id AND "
                  "s.user_id = t.user_id)" },
                { STORE_RULE_ORPHANS, STORE_T_CHECKPOINT_WRITE,
                  "EXISTS (SELECT 1 FROM main.lg_checkpoint p WHERE p.user_id = t.user_id AND "
                  "p.thread_id = t.thread_id AND p.checkpoint_ns = t.checkpoint_ns AND "
                  "p.checkpoint_id = t.checkpoint_id AND NOT EXISTS (SELECT 1 FROM "
                  "temp.kr_cand x WHERE x.tbl = 2 AND x.rid = p.rowid))" },
                { STORE_RULE_ORPHANS, STORE_T_CREWAI_MEMORY,
                  "EXISTS (SELECT 1 FROM main.session s WHERE s.id = t.thread_id AND "
                  "s.user_id = t.user_id)" },
                { STORE_RULE_ORPHANS, STORE_T_CREWAI_FLOW,
                  "EXISTS (SELECT 1 FROM main.session s WHERE s.id = t.thread_id AND "
                  "s.user_id = t.user_id)" },
        };
        static const char soft_cond[] =
                "NOT (t.deleted_at IS NOT NULL AND julianday(t.deleted_at) < ?3)";
        unsigned rules = 0;
        int rc;

        rc = batch_rules(q, lo, hi, &rules, err);
        if (rc < 0)
                return rc;
        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
                if (!(rules & (1u << checks[i].rule)))
                        continue;
                if ((checks[i].head == STORE_T_PUSH && !q->t[STORE_T_TASK].present) ||
                    (checks[i].head == STORE_T_CHECKPOINT_WRITE &&
                     !q->t[STORE_T_CHECKPOINT].present) ||
                    (checks[i].head != STORE_T_PUSH && checks[i].head != STORE_T_CHECKPOINT_WRITE &&
                     !q->t[STORE_T_SESSION].present))
                        continue;
                rc = drop_units(q, checks[i].rule, checks[i].head, checks[i].cond, lo, hi, skipped,
                                err);
                if (rc < 0)
                        return rc;
        }
        /* A soft-deleted row that was saved again (deleted_at reset) is live data. */
        for (int t = 0; t < STORE_T_COUNT && (rules & (1u << STORE_RULE_SOFT_DELETED)); t++) {
                if (!q->t[t].present || !q->t[t].has_deleted_at)
                        continue;
                rc = drop_units(q, STORE_RULE_SOFT_DELETED, (enum store_table)t, soft_cond, lo, hi,
                                skipped, err);
                if (rc < 0)
                        return rc;
        }
        if (q->t[STORE_T_TASK].present && q->t[STORE_T_SESSION].present &&
            (rules & (1u << STORE_RULE_SESSIONS | 1u << STORE_RULE_SOFT_DELETED))) {
                /* Tasks of a shared session id stay while another session row claims them. */
                sqlite3_stmt *st = NULL;

                rc = sq_prepare(q,
                                "DELETE FROM temp.kr_cand WHERE seq > ?1 AND seq <= ?2 AND "
                                "+tbl IN (6, 7) AND +rule IN (0, 1) AND EXISTS (SELECT 1 "
                                "FROM temp.kr_skey k WHERE k.skey = kr_cand.skey AND "
                                "k.anyuser = 0 AND EXISTS (SELECT 1 FROM main.session s WHERE "
                                "s.id = k.sid AND s.user_id <> k.uid AND NOT EXISTS (SELECT 1 "
                                "FROM temp.kr_cand y WHERE y.tbl = 9 AND y.rid = s.rowid AND "
                                "y.seq <= ?2)))",
                                &st, err);
                if (rc < 0)
                        return rc;
                (void)sqlite3_bind_int64(st, 1, lo);
                (void)sqlite3_bind_int64(st, 2, hi);
                rc = sq_step_done(q, st, err, "re-check");
                sqlite3_finalize(st);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

/* Count what the batch will delete, per table, from the plan (bytes as planned). */
static int batch_counts(struct sq *q, int64_t lo, int64_t hi, struct store_batch_result *out,
                        struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sq_prepare(q,
                        "SELECT tbl, coalesce(sum(bytes), 0) FROM temp.kr_cand WHERE seq > ?1 "
                        "AND seq <= ?2 GROUP BY tbl",
                        &st, err);
        if (rc < 0)
                return rc;
        (void)sqlite3_bind_int64(st, 1, lo);
        (void)sqlite3_bind_int64(st, 2, hi);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                int t = sqlite3_column_int(st, 0);

                if (t >= 0 && t < STORE_T_COUNT)
                        out->tables[t].bytes = sqlite3_column_int64(st, 1);
        }
        rc = rc == SQLITE_DONE ? 0 : sq_fail(q, rc, err, "batch");
        sqlite3_finalize(st);
        return rc;
}

static int delete_rows(struct sq *q, int64_t lo, int64_t hi, struct store_batch_result *out,
                       struct errbuf *err)
{
        for (int t = 0; t < STORE_T_COUNT; t++) {
                sqlite3_stmt *st = NULL;
                char sql[256];
                int rc;

                if (!q->t[t].present)
                        continue;
                (void)snprintf(sql, sizeof(sql),
                               "DELETE FROM main.\"%s\" WHERE rowid IN (SELECT rid FROM "
                               "temp.kr_cand WHERE seq > ?1 AND seq <= ?2 AND +tbl = %d)",
                               store_table_name((enum store_table)t), t);
                rc = sq_prepare(q, sql, &st, err);
                if (rc < 0)
                        return rc;
                (void)sqlite3_bind_int64(st, 1, lo);
                (void)sqlite3_bind_int64(st, 2, hi);
                rc = sq_step_done(q, st, err, "delete");
                sqlite3_finalize(st);
                if (rc < 0)
                        return rc;
                out->tables[t].rows = sqlite3_changes(q->db);
                if (out->tables[t].rows == 0)
                        out->tables[t].bytes = 0;
                out->rows += out->tables[t].rows;
        }
        return 0;
}

/*
 * Our own deletes can lower a table's largest rowid, and SQLite then hands the freed numbers to
 * new rows. Lower the watermark with it so a new row is never mistaken for an old one.
 */
static int lower_watermarks(struct sq *q, const struct store_batch_result *r, struct errbuf *err)
{
        int64_t m = 0;
        int rc;

        if (r->tables[STORE_T_EVENT].rows > 0) {
                rc = sq_int(q, "SELECT coalesce(max(rowid), 0) FROM main.event", &m, err);
                if (rc < 0)
                        return rc;
                if (m < q->w_event)
                        q->w_event = m;
        }
        if (r->tables[STORE_T_CHECKPOINT].rows > 0) {
                rc = sq_int(q, "SELECT coalesce(max(rowid), 0) FROM main.lg_checkpoint", &m, err);
                if (rc < 0)
                        return rc;
                if (m < q->w_checkpoint)
                        q->w_checkpoint = m;
        }
        return 0;
}

/* ---- whole sessions ------------------------------------------------------------------- */

/* The delete statements of one session, in deletion order: children first, the row last. */
enum sess_del {
        SD_EVENTS = 0,
        SD_WRITES,
        SD_CHECKPOINTS,
        SD_MEMORY,
        SD_FLOW,
        SD_PUSH,
        SD_TASKS,
        SD_SESSION,
        SD_CLAIMED,
        SD_COUNT,
};

static const enum store_table sd_table[SD_CLAIMED] = {
        STORE_T_EVENT,         STORE_T_CHECKPOINT_WRITE, STORE_T_CHECKPOINT,
        STORE_T_CREWAI_MEMORY, STORE_T_CREWAI_FLOW,      STORE_T_PUSH,
        STORE_T_TASK,          STORE_T_SESSION,
};

/*
 * Which rows of the session (?1 sid, ?2 uid) each statement deletes; ?3 is the table's rowid
 * watermark (rows that existed at planning), ?4 the rows left in the batch. Each DELETE is
 * bounded by ?4 so a batch never exceeds max_rows, even when rows appeared after planning.
 */
static const char *const sd_where[SD_CLAIMED] = {
        "session_id = ?1 AND user_id = ?2 AND rowid <= ?3",
        "user_id = ?2 AND thread_id = ?1",
        "user_id = ?2 AND thread_id = ?1 AND rowid <= ?3",
        "user_id = ?2 AND thread_id = ?1",
        "user_id = ?2 AND thread_id = ?1",
        "task_id IN (SELECT t.id FROM main.task t WHERE t.session_id = ?1)",
        "session_id = ?1",
        "rowid = ?3 AND id = ?1 AND user_id = ?2",
};

_Static_assert(SD_COUNT == SQ_SESS_STMTS, "struct sq holds every whole-session statement");

void sq_sessions_forget(struct sq *q)
{
        for (int i = 0; i < SD_COUNT; i++) {
                sqlite3_finalize(q->sess_del[i]);
                q->sess_del[i] = NULL;
        }
        q->sess_del_ready = false;
}

/* Prepare the statements once per connection (the schema is read when it opens). */
static int sess_stmts_prepare(struct sq *q, struct errbuf *err)
{
        sqlite3_stmt **st = q->sess_del;
        char sql[8192];
        int rc;

        if (q->sess_del_ready)
                return 0;
        sq_sessions_forget(q);

        for (int i = 0; i < SD_CLAIMED; i++) {
                enum store_table t = sd_table[i];
                int n;

                if (!q->t[t].present)
                        continue;
                if ((i == SD_PUSH && !q->t[STORE_T_TASK].present))
                        continue;
                n = snprintf(sql, sizeof(sql),
                             "DELETE FROM main.\"%s\" WHERE rowid IN (SELECT rowid FROM "
                             "main.\"%s\" WHERE %s LIMIT ?4) RETURNING %s",
                             store_table_name(t), store_table_name(t), sd_where[i],
                             q->t[t].bytes_expr);
                if (n < 0 || (size_t)n >= sizeof(sql))
                        return errbuf_set(err, -EMSGSIZE, "sql text too long");
                rc = sq_prepare(q, sql, &st[i], err);
                if (rc < 0)
                        return rc;
        }
        /* Another session row of the id claims its tasks (several users, one session id). */
        rc = sq_prepare(q,
                        "SELECT EXISTS (SELECT 1 FROM main.session s WHERE s.id = ?1 AND "
                        "s.user_id <> ?2)",
                        &st[SD_CLAIMED], err);
        if (rc < 0)
                return rc;
        q->sess_del_ready = true;
        return 0;
}

/* One planned session, as read from temp.kr_sess. */
struct sess_row {
        int64_t seq;
        int64_t srid;
        int64_t n[STORE_T_COUNT]; /* its planned rows per table */
        bool tk;                  /* its tasks were planned to go with it */
        char *sid;
        char *uid;
};

struct sess_batch {
        struct sess_row *v;
        size_t n;
};

static void sess_batch_free(struct sess_batch *b)
{
        for (size_t i = 0; i < b->n; i++) {
                free(b->v[i].sid);
                free(b->v[i].uid);
        }
        free(b->v);
        memset(b, 0, sizeof(*b));
}

/*
 * The next sessions after the cursor whose planned rows add up to at most max_rows (the first
 * one always: a session larger than a batch goes in parts).
 */
static int sess_batch_load(struct sq *q, int64_t max_rows, struct sess_batch *out,
                           struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        int64_t sum = 0;
        size_t cap = max_rows < 256 ? (size_t)max_rows : 256;
        int rc;

        out->v = calloc(cap, sizeof(*out->v));
        if (!out->v)
                return errbuf_set(err, -ENOMEM, "out of memory");
        _Static_assert(STORE_T_COUNT == 10, "kr_sess has the columns n0..n9");
        rc = sq_prepare(q,
                        "SELECT seq, srid, tk, sid, uid, n0, n1, n2, n3, n4, n5, n6, n7, n8, "
                        "n9 FROM temp.kr_sess WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                        &st, err);
        if (rc < 0)
                return rc;
        (void)sqlite3_bind_int64(st, 1, q->sess_cursor);
        (void)sqlite3_bind_int64(st, 2, (int64_t)cap);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                struct sess_row *r = &out->v[out->n];
                const char *sid = (const char *)sqlite3_column_text(st, 3);
                const char *uid = (const char *)sqlite3_column_text(st, 4);
                int64_t rows = 0;

                for (int t = 0; t < STORE_T_COUNT; t++) {
                        r->n[t] = sqlite3_column_int64(st, 5 + t);
                        rows += r->n[t];
                }
                if (out->n > 0 && sum + rows > max_rows)
                        break;
                sum += rows;
                r->seq = sqlite3_column_int64(st, 0);
                r->srid = sqlite3_column_int64(st, 1);
                r->tk = sqlite3_column_int(st, 2) != 0;
                r->sid = sid ? strdup(sid) : NULL;
                r->uid = uid ? strdup(uid) : NULL;
                out->n++;
                if (!r->sid || !r->uid) {
                        rc = errbuf_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_fail(q, rc, err, "batch");
out:
        sqlite3_finalize(st);
        return rc;
}

/* Run one bounded DELETE .. RETURNING <bytes>; add what it deleted to 'res'. */
static int sess_del_step(struct sq *q, sqlite3_stmt *st, enum store_table t,
                         const struct sess_row *r, int64_t mark, int64_t limit,
                         struct store_batch_result *res, int64_t *out_n, struct errbuf *err)
{
        int64_t n = 0;
        int64_t bytes = 0;
        int rc;

        (void)sqlite3_bind_text(st, 1, r->sid, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st, 2, r->uid, -1, SQLITE_STATIC);
        (void)sqlite3_bind_int64(st, 3, mark);
        (void)sqlite3_bind_int64(st, 4, limit);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                n++;
                bytes += sqlite3_column_int64(st, 0);
        }
        (void)sqlite3_reset(st);
        (void)sqlite3_clear_bindings(st);
        if (rc != SQLITE_DONE)
                return sq_fail(q, rc, err, "delete");
        res->tables[t].rows += n;
        res->tables[t].bytes += bytes;
        res->rows += n;
        *out_n = n;
        return 0;
}

/* Are the session's tasks still its own to delete? 1 yes, 0 no, negative errno. */
static int sess_tasks_go(struct sq *q, sqlite3_stmt **st, const struct sess_row *r,
                         struct errbuf *err)
{
        int rc;

        if (!r->tk || !st[SD_TASKS])
                return 0;
        (void)sqlite3_bind_text(st[SD_CLAIMED], 1, r->sid, -1, SQLITE_STATIC);
        (void)sqlite3_bind_text(st[SD_CLAIMED], 2, r->uid, -1, SQLITE_STATIC);
        rc = sqlite3_step(st[SD_CLAIMED]);
        if (rc == SQLITE_ROW)
                rc = sqlite3_column_int(st[SD_CLAIMED], 0) == 0;
        else
                rc = sq_fail(q, rc, err, "re-check");
        (void)sqlite3_reset(st[SD_CLAIMED]);
        (void)sqlite3_clear_bindings(st[SD_CLAIMED]);
        return rc;
}

/*
 * Delete what is left of one idle session within '*budget' rows, children first and its row
 * last. '*complete' tells whether the session row went (else the next batch goes on with it).
 * When nobody else has written since the plan ('as_planned'), a table the plan found none of
 * the session's rows in has none still, and is not visited.
 */
static int sess_delete_one(struct sq *q, sqlite3_stmt **st, const struct sess_row *r,
                           bool as_planned, int64_t *budget, struct store_batch_result *res,
                           bool *complete, struct errbuf *err)
{
        int go;
        int rc;

        *complete = false;
        go = sess_tasks_go(q, st, r, err);
        if (go < 0)
                return go;
        for (int i = 0; i < SD_CLAIMED; i++) {
                int64_t mark = 0;
                int64_t n = 0;

                if (!st[i] || ((i == SD_PUSH || i == SD_TASKS) && !go) ||
                    (as_planned && r->n[sd_table[i]] == 0))
                        continue;
                if (*budget <= 0)
                        return 0;
                if (i == SD_EVENTS)
                        mark = q->w_event;
                else if (i == SD_CHECKPOINTS)
                        mark = q->w_checkpoint;
                else if (i == SD_SESSION)
                        mark = r->srid;
                rc = sess_del_step(q, st[i], sd_table[i], r, mark, *budget, res, &n, err);
                if (rc < 0)
                        return rc;
                *budget -= n;
                /* A full part may have left rows of this table: the next batch goes on. */
                if (*budget <= 0 && i != SD_SESSION)
                        return 0;
        }
        *complete = true;
        return 0;
}

/*
 * Nobody else has committed since the plan began reading, and nobody can until this batch
 * commits (it holds the write lock): the plan is still exactly what the database holds. Our
 * own commits do not change data_version.
 */
static bool as_planned(struct sq *q)
{
        int64_t v = -1;

        return q->plan_dv >= 0 && sq_int(q, "PRAGMA data_version", &v, NULL) == 0 &&
               v == q->plan_dv;
}

/*
 * Re-check and delete the batch's sessions; '*cursor' ends after the last one finished. The
 * batch ends early, after a whole session, when another process is waiting for the lock. A
 * session is re-checked unless nothing has changed since the plan found it idle.
 */
static int sess_batch_run(struct sq *q, sqlite3_stmt **st, const struct sess_batch *b,
                          int64_t max_rows, struct store_batch_result *res, int64_t *cursor,
                          struct errbuf *err)
{
        bool unchanged = as_planned(q);
        int64_t budget = max_rows;

        for (size_t i = 0; i < b->n && budget > 0; i++) {
                const struct sess_row *r = &b->v[i];
                bool complete = false;
                int rc;

                if (i > 0 && sq_waiting_now(q)) {
                        log_debug("another process is waiting: committing early",
                                  LOG_INT("sessions", (int64_t)i));
                        break;
                }

                rc = unchanged ? 0 : session_active(q, r->sid, r->uid, 0, err);
                if (rc < 0)
                        return rc;
                if (rc > 0) {
                        log_debug("session became active, skipped", LOG_INT("seq", r->seq));
                        res->skipped_units++;
                        *cursor = r->seq;
                        continue;
                }
                rc = sess_delete_one(q, st, r, unchanged, &budget, res, &complete, err);
                if (rc < 0)
                        return rc;
                if (!complete)
                        break;
                *cursor = r->seq;
        }
        return 0;
}

/* Every planned session is done: the whole-session plan is over. */
static int sessions_done(struct sq *q, struct errbuf *err)
{
        q->sess_pending = false;
        return sq_exec(q, "DELETE FROM temp.kr_sess", err);
}

/* BEGIN IMMEDIATE, with the time spent waiting for the lock in res->wait_us; '*t1' is when the
 * transaction began. */
static int begin_batch(struct sq *q, struct store_batch_result *res, int64_t *t1,
                       struct errbuf *err)
{
        int64_t t0 = clock_mono_ns();
        int rc = sq_exec(q, "BEGIN IMMEDIATE", err);

        if (rc < 0)
                return rc;
        *t1 = clock_mono_ns();
        res->wait_us = (*t1 - t0) / 1000;
        return 0;
}

int sq_delete_sessions(struct sq *q, int64_t max_rows, struct store_batch_result *out,
                       struct errbuf *err)
{
        sqlite3_stmt **st = q->sess_del;
        struct sess_batch batch = { 0 };
        struct store_batch_result res;
        int64_t cursor = q->sess_cursor;
        int64_t more = 0;
        int64_t t1;
        char sql[128];
        bool in_txn = false;
        int rc;

        memset(&res, 0, sizeof(res));
        rc = sess_batch_load(q, max_rows, &batch, err);
        if (rc < 0)
                goto out;
        if (batch.n == 0) {
                rc = sessions_done(q, err);
                if (rc < 0)
                        goto out;
                res.done = true;
                *out = res;
                goto out;
        }
        rc = sess_stmts_prepare(q, err);
        if (rc < 0)
                goto out;
        rc = begin_batch(q, &res, &t1, err);
        if (rc < 0)
                goto out;
        in_txn = true;
        if ((rc = sess_batch_run(q, st, &batch, max_rows, &res, &cursor, err)) < 0 ||
            (rc = lower_watermarks(q, &res, err)) < 0)
                goto out;
        rc = sq_exec(q, "COMMIT", err);
        sq_note_commit(q);
        if (rc < 0)
                goto out;
        in_txn = false;
        res.txn_us = (clock_mono_ns() - t1) / 1000;
        q->sess_cursor = cursor;
        (void)snprintf(sql, sizeof(sql),
                       "SELECT count(*) FROM (SELECT 1 FROM temp.kr_sess WHERE seq > %lld "
                       "LIMIT 1)",
                       (long long)cursor);
        rc = sq_int(q, sql, &more, err);
        if (rc < 0)
                goto out;
        if (more == 0) {
                rc = sessions_done(q, err);
                if (rc < 0)
                        goto out;
        }
        res.done = more == 0;
        *out = res;
        rc = 0;
out:
        if (in_txn && !sqlite3_get_autocommit(q->db))
                (void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        sess_batch_free(&batch);
        return rc;
}

int sq_delete_batch(struct store *s, int64_t max_rows, struct store_batch_result *out,
                    struct errbuf *err)
{
        struct sq *q = sq_of(s);
        struct store_batch_result res;
        int64_t lo = q->cursor;
        int64_t hi = 0;
        int64_t t1;
        int64_t more = 0;
        char sql[160];
        bool in_txn = false;
        int rc;

        memset(&res, 0, sizeof(res));
        if (!q->db || !s->info.writable)
                return errbuf_set(err, -EROFS, "deletes not allowed: %s",
                                  s->info.not_writable_reason[0] ? s->info.not_writable_reason
                                                                 : "database not open");
        if (max_rows < 1)
                max_rows = 1;
        rc = recheck_prepare(q, err);
        if (rc < 0)
                return rc;
        sq_poll_writers(q);
        if (q->sess_pending)
                return sq_delete_sessions(q, max_rows, out, err);
        (void)snprintf(sql, sizeof(sql),
                       "SELECT coalesce((SELECT seq FROM temp.kr_cand WHERE seq > %lld ORDER BY "
                       "seq LIMIT 1 OFFSET %lld), (SELECT max(seq) FROM temp.kr_cand), 0)",
                       (long long)lo, (long long)(max_rows - 1));
        rc = sq_int(q, sql, &hi, err);
        if (rc < 0)
                return rc;
        if (hi <= lo) {
                res.done = true;
                *out = res;
                return 0;
        }
        rc = begin_batch(q, &res, &t1, err);
        if (rc < 0)
                return rc;
        in_txn = true;
        if ((rc = recheck_sessions(q, lo, hi, &res.skipped_units, err)) < 0 ||
            (rc = recheck_rows(q, lo, hi, &res.skipped_units, err)) < 0 ||
            (rc = batch_counts(q, lo, hi, &res, err)) < 0 ||
            (rc = delete_rows(q, lo, hi, &res, err)) < 0 ||
            (rc = lower_watermarks(q, &res, err)) < 0)
                goto out;
        (void)snprintf(sql, sizeof(sql), "DELETE FROM temp.kr_cand WHERE seq <= %lld",
                       (long long)hi);
        rc = sq_exec(q, sql, err);
        if (rc < 0)
                goto out;
        rc = sq_exec(q, "COMMIT", err);
        sq_note_commit(q);
        if (rc < 0)
                goto out;
        in_txn = false;
        res.txn_us = (clock_mono_ns() - t1) / 1000;
        q->cursor = hi;
        rc = sq_int(q, "SELECT count(*) FROM (SELECT 1 FROM temp.kr_cand LIMIT 1)", &more, err);
        if (rc < 0)
                goto out;
        res.done = more == 0;
        /* Our own commit bumps nobody's data_version but ours; keep pacing decisions clean. */
        *out = res;
        rc = 0;
out:
        if (in_txn && !sqlite3_get_autocommit(q->db))
                (void)sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
}
