/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PostgreSQL backend: connecting with libpq (URL or keyword string, every libpq parameter
 * honoured, password never shown), session settings, SQLSTATE mapping, schema detection for
 * both kagent eras, the advisory lock that makes one pruner at a time, measurement, VACUUM and
 * reconnecting with a capped backoff. Planning and deleting live in postgres_plan.c and
 * postgres_delete.c.
 *
 * store_usage on PostgreSQL: db_bytes = pg_database_size(current_database()); page_size =
 * block_size; page_count = db_bytes / block_size; freelist_count and free_bytes = 0 (reusable
 * space inside relations is not measurable without pgstattuple); journal_mode = "wal";
 * auto_vacuum = the server's autovacuum setting ("on"/"off"); tables: every table of kagent's
 * schema, largest first, with rows = n_live_tup and dead_rows = n_dead_tup (statistics
 * estimates) and bytes = pg_total_relation_size (table, TOAST and indexes; exact);
 * tables_exact = true (the bytes are exact, the row counts are estimates).
 */
#define LOG_MODULE "store"
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "base/str.h"
#include "log/log.h"
#include "store/pg_internal.h"

#define BACKOFF_FIRST_MS 250
#define BACKOFF_MAX_MS   30000
#define PG_VERSION_MIN   100000 /* PostgreSQL 10 */
#define MSG_MAX          200
/*
 * Reclaim: VACUUM (ANALYZE) a table when the run deleted at least this share of its rows
 * (percent). Autovacuum waits for 20% dead rows by default; vacuuming at 10% makes the space
 * reusable sooner and refreshes the planner's statistics of a table that just shrank.
 */
#define VACUUM_SHARE_PERCENT 10

/* ---- parameters, statements, errors -------------------------------------------------- */

void pg_params_init(struct pg_params *p)
{
        memset(p, 0, sizeof(*p));
}

void pg_param_i64(struct pg_params *p, int64_t v)
{
        assert(p->n < PG_PARAMS_MAX);
        (void)snprintf(p->buf[p->n], sizeof(p->buf[p->n]), "%" PRId64, v);
        p->v[p->n] = p->buf[p->n];
        p->n++;
}

void pg_param_ts(struct pg_params *p, int64_t ms)
{
        int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
        int frac = (int)(ms - sec * 1000);
        time_t t = (time_t)sec;
        struct tm tm;
        char base[32];

        assert(p->n < PG_PARAMS_MAX);
        (void)gmtime_r(&t, &tm);
        (void)strftime(base, sizeof(base), "%Y-%m-%d %H:%M:%S", &tm);
        (void)snprintf(p->buf[p->n], sizeof(p->buf[p->n]), "%s.%03d+00", base, frac);
        p->v[p->n] = p->buf[p->n];
        p->n++;
}

void pg_param_str(struct pg_params *p, const char *s)
{
        assert(p->n < PG_PARAMS_MAX);
        p->v[p->n] = s;
        p->n++;
}

/* One line of at most MSG_MAX bytes: newlines become "; ", trailing space is cut. */
static void one_line(const char *in, char *out, size_t size)
{
        size_t n = 0;

        for (const char *s = in ? in : ""; *s && n + 3 < size; s++) {
                char c = *s;

                if (c == '\n' || c == '\r') {
                        if (s[1] && s[1] != '\n' && n > 0) {
                                out[n++] = ';';
                                out[n++] = ' ';
                        }
                        continue;
                }
                if (c == '\t')
                        c = ' ';
                out[n++] = c;
        }
        while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == ';'))
                n--;
        out[n] = '\0';
}

/* Replace every occurrence of 'secret' in 's' by "***" ('s' never grows). */
static void scrub(char *s, const char *secret)
{
        size_t n = secret ? strlen(secret) : 0;
        size_t w = 0;

        if (n == 0)
                return;
        for (size_t r = 0; s[r];) {
                if (strncmp(s + r, secret, n) == 0) {
                        /* A short secret is masked in place so the text never grows. */
                        size_t stars = n < 3 ? n : 3;

                        memset(s + w, '*', stars);
                        w += stars;
                        r += n;
                } else {
                        s[w++] = s[r++];
                }
        }
        s[w] = '\0';
}

/* libpq's message about 'conn', on one line, with anything that could be a password removed. */
static void conn_message(PGconn *conn, char *out, size_t size)
{
        char line[512];

        one_line(conn ? pqlib.PQerrorMessage(conn) : "out of memory", line, sizeof(line));
        (void)store_conninfo_redact(line, out, size);
        if (conn)
                scrub(out, pqlib.PQpass(conn));
}

static int map_sqlstate(const char *state)
{
        if (!state || strlen(state) != 5)
                return -EIO;
        if (strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0 ||
            strcmp(state, "40P01") == 0)
                return -EBUSY; /* lock_not_available, serialization_failure, deadlock */
        if (strcmp(state, "57014") == 0)
                return -ETIMEDOUT; /* query_canceled: statement_timeout */
        if (strcmp(state, "53100") == 0)
                return -ENOSPC; /* disk_full */
        if (strcmp(state, "53200") == 0)
                return -ENOMEM; /* out_of_memory */
        if (strcmp(state, "42501") == 0 || strncmp(state, "28", 2) == 0)
                return -EACCES; /* insufficient_privilege, invalid authorization */
        if (strcmp(state, "25006") == 0)
                return -EROFS; /* read_only_sql_transaction (a standby) */
        if (strcmp(state, "42P01") == 0 || strcmp(state, "42703") == 0)
                return -ESTALE; /* undefined table/column: kagent's schema changed */
        if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
            strncmp(state, "53", 2) == 0)
                return -EAGAIN; /* connection failure, shutdown, too many connections */
        return -EIO;
}

/* The connection is gone: everything that lived in the session went with it. */
static void conn_lost(struct pgs *q)
{
        pg_sessions_parts_end(q);
        q->temp_ready = false;
        q->run_ready = false;
        q->lock_held = false;
        q->act_ready = false;
        q->sess_pending = false;
        q->sess_prepared = false;
        q->xid_prepared = false;
        q->sess_gen++;
}

int pg_fail(struct pgs *q, const PGresult *res, struct errbuf *err, const char *what)
{
        const char *state = res ? pqlib.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *primary = res ? pqlib.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        char msg[MSG_MAX];
        int code;

        if (!q->conn || pqlib.PQstatus(q->conn) != CONNECTION_OK) {
                conn_message(q->conn, msg, sizeof(msg));
                conn_lost(q);
                return errbuf_set(err, -EAGAIN, "postgres %s: connection lost: %s", what,
                                  msg[0] ? msg : "no connection");
        }
        if (!res)
                return errbuf_set(err, -ENOMEM, "postgres %s: out of memory", what);
        one_line(primary ? primary : pqlib.PQresultErrorMessage(res), msg, sizeof(msg));
        code = map_sqlstate(state);
        if (code == -EAGAIN && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)) {
                /* The server is ending the session (shutdown, restart, terminate). */
                conn_lost(q);
                return errbuf_set(err, code, "postgres %s: connection lost: %s (%s)", what, msg,
                                  state);
        }
        return errbuf_set(err, code, "postgres %s: %s (%s)", what, msg, state ? state : "?");
}

/* Hand a statement's result to 'out' (or free it); a failed one becomes a negative errno. */
static int take_result(struct pgs *q, PGresult *res, PGresult **out, struct errbuf *err,
                       const char *what)
{
        ExecStatusType st = res ? pqlib.PQresultStatus(res) : PGRES_FATAL_ERROR;

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                int rc = pg_fail(q, res, err, what);

                pqlib.PQclear(res);
                return rc;
        }
        if (out)
                *out = res;
        else
                pqlib.PQclear(res);
        return 0;
}

int pg_exec(struct pgs *q, const char *sql, const struct pg_params *p, PGresult **out,
            struct errbuf *err, const char *what)
{
        if (!q->conn || pqlib.PQstatus(q->conn) != CONNECTION_OK)
                return pg_fail(q, NULL, err, what);
        return take_result(q,
                           pqlib.PQexecParams(q->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL,
                                              NULL, NULL, 0),
                           out, err, what);
}

int pg_exec_prepared(struct pgs *q, const char *name, const struct pg_params *p, PGresult **out,
                     struct errbuf *err, const char *what)
{
        if (!q->conn || pqlib.PQstatus(q->conn) != CONNECTION_OK)
                return pg_fail(q, NULL, err, what);
        return take_result(
                q,
                pqlib.PQexecPrepared(q->conn, name, p ? p->n : 0, p ? p->v : NULL, NULL, NULL, 0),
                out, err, what);
}

int pg_int(struct pgs *q, const char *sql, const struct pg_params *p, int64_t *out,
           struct errbuf *err, const char *what)
{
        PGresult *res = NULL;
        int64_t v = 0;
        int rc;

        rc = pg_exec(q, sql, p, &res, err, what);
        if (rc < 0)
                return rc;
        if (pqlib.PQntuples(res) > 0 && pqlib.PQnfields(res) > 0 && !pqlib.PQgetisnull(res, 0, 0) &&
            str_to_i64(pqlib.PQgetvalue(res, 0, 0), &v) < 0) {
                pqlib.PQclear(res);
                return errbuf_set(err, -EPROTO, "postgres %s: not an integer", what);
        }
        pqlib.PQclear(res);
        *out = v;
        return 0;
}

int pg_script_rows(struct pgs *q, const char *sql, PGresult **rows, int nrows, struct errbuf *err,
                   const char *what)
{
        PGresult *res;
        int n = 0;
        int rc = 0;

        for (int i = 0; i < nrows; i++)
                rows[i] = NULL;
        if (!q->conn || pqlib.PQstatus(q->conn) != CONNECTION_OK)
                return pg_fail(q, NULL, err, what);
        if (!pqlib.PQsendQuery(q->conn, sql))
                return pg_fail(q, NULL, err, what);
        /* Every result up to the end of the script, the error's too (the connection is ready). */
        while ((res = pqlib.PQgetResult(q->conn)) != NULL) {
                ExecStatusType st = pqlib.PQresultStatus(res);

                if (rc == 0 && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
                        rc = pg_fail(q, res, err, what);
                if (rc == 0 && st == PGRES_TUPLES_OK && n < nrows)
                        rows[n++] = res;
                else
                        pqlib.PQclear(res);
        }
        if (rc < 0)
                for (int i = 0; i < n; i++) {
                        pqlib.PQclear(rows[i]);
                        rows[i] = NULL;
                }
        return rc;
}

int pg_script(struct pgs *q, const char *sql, struct errbuf *err, const char *what)
{
        return pg_script_rows(q, sql, NULL, 0, err, what);
}

/*
 * Our commits do not wait for their WAL to be flushed (session_setup), but while kagent writes,
 * each of its commits would flush our WAL written so far along with its own: a kagent insert
 * then waited up to 80-90 ms behind a bulk delete. While others commit, ours wait for their own
 * flush instead (kagent's longest insert: 40-50 ms), at the cost of a flush per batch.
 */
const char *pg_begin_sql(const struct pgs *q)
{
        if (q->sync_off && pg_kagent_writing(q, clock_mono_ms()))
                return "BEGIN; SET LOCAL synchronous_commit = on";
        return "BEGIN";
}

int pg_begin(struct pgs *q, struct errbuf *err)
{
        return pg_script(q, pg_begin_sql(q), err, "begin");
}

int pg_commit(struct pgs *q, struct errbuf *err)
{
        return pg_exec(q, "COMMIT", NULL, NULL, err, "commit");
}

void pg_rollback(struct pgs *q)
{
        if (q->conn && pqlib.PQstatus(q->conn) == CONNECTION_OK &&
            pqlib.PQtransactionStatus(q->conn) != PQTRANS_IDLE)
                (void)pg_exec(q, "ROLLBACK", NULL, NULL, NULL, "rollback");
}

void pg_note_own_xid(struct pgs *q)
{
        q->own_xids++;
}

int pg_deallocate(struct pgs *q, struct errbuf *err, const char *what)
{
        int rc = pg_exec(q, "DEALLOCATE ALL", NULL, NULL, err, what);

        if (rc == 0) {
                q->sess_prepared = false;
                q->xid_prepared = false;
        }
        return rc;
}

/* "'name'::regclass" for a quoted table name. */
static int append_regclass(struct buf *b, const char *qname)
{
        int rc = buf_append_str(b, "'");

        for (const char *c = qname; *c && rc == 0; c++)
                rc = *c == '\'' ? buf_append_str(b, "''") : buf_append(b, c, 1);
        return rc < 0 ? rc : buf_append_str(b, "'::regclass");
}

/*
 * The catalogs that DDL fills (a new database's schema, our temp tables) and ANALYZE itself
 * (pg_statistic): autovacuum analyzes them as it does kagent's tables.
 */
static const char *const ddl_catalogs[] = {
        "pg_catalog.pg_class",   "pg_catalog.pg_attribute", "pg_catalog.pg_type",
        "pg_catalog.pg_depend",  "pg_catalog.pg_index",     "pg_catalog.pg_constraint",
        "pg_catalog.pg_attrdef", "pg_catalog.pg_statistic",
};

static int append_analyses(struct buf *b, const char *qname)
{
        int rc = 0;

        rc |= buf_append_str(b, " + pg_catalog.pg_stat_get_analyze_count(");
        rc |= append_regclass(b, qname);
        rc |= buf_append_str(b, ") + pg_catalog.pg_stat_get_autoanalyze_count(");
        rc |= append_regclass(b, qname);
        rc |= buf_append_str(b, ")");
        return rc;
}

/*
 * kr_xid: the cluster's next transaction id and the ANALYZE runs so far (autovacuum's and
 * others') of kagent's tables and of the catalogs autovacuum analyzes beside them: each ANALYZE
 * takes a transaction id, which is not kagent writing. Prepared once per connection and run
 * (the tables as found) until the next run's DEALLOCATE.
 */
static int xid_prepare(struct pgs *q, struct errbuf *err)
{
        PGresult *res = NULL;
        struct buf sql;
        int rc = 0;

        if (q->xid_prepared)
                return 0;
        buf_init(&sql, 4096);
        rc |= buf_append_str(&sql, "SELECT pg_catalog.txid_snapshot_xmax("
                                   "pg_catalog.txid_current_snapshot()), 0");
        for (int t = 0; t < STORE_T_COUNT; t++)
                if (q->t[t].present)
                        rc |= append_analyses(&sql, q->t[t].qname);
        for (size_t i = 0; i < sizeof(ddl_catalogs) / sizeof(ddl_catalogs[0]); i++)
                rc |= append_analyses(&sql, ddl_catalogs[i]);
        if (rc != 0) {
                buf_cleanup(&sql);
                return errbuf_set(err, -EMSGSIZE, "postgres snapshot: sql text too long");
        }
        res = pqlib.PQprepare(q->conn, "kr_xid", sql.data, 0, NULL);
        buf_cleanup(&sql);
        if (!res || pqlib.PQresultStatus(res) != PGRES_COMMAND_OK)
                rc = pg_fail(q, res, err, "snapshot");
        pqlib.PQclear(res);
        if (rc == 0)
                q->xid_prepared = true;
        return rc;
}

static int next_xid(struct pgs *q, int64_t *xid, int64_t *analyses)
{
        PGresult *res = NULL;
        int rc;

        if (!q->conn || pqlib.PQstatus(q->conn) != CONNECTION_OK)
                return -ENOTCONN;
        rc = xid_prepare(q, NULL);
        if (rc == 0)
                rc = pg_exec_prepared(q, "kr_xid", NULL, &res, NULL, "snapshot");
        if (rc < 0)
                return rc;
        if (pqlib.PQntuples(res) != 1 || pqlib.PQnfields(res) != 2 ||
            str_to_i64(pqlib.PQgetvalue(res, 0, 0), xid) < 0 ||
            str_to_i64(pqlib.PQgetvalue(res, 0, 1), analyses) < 0)
                rc = -EPROTO;
        pqlib.PQclear(res);
        return rc;
}

void pg_xid_baseline(struct pgs *q)
{
        int64_t x = 0;
        int64_t a = 0;

        if (next_xid(q, &x, &a) == 0) {
                q->xid_seen = x;
                q->analyses_seen = a;
                q->own_xids = 0;
                q->analyze_credit = 0;
        }
}

/* Server notices go to the debug log, never to stderr as libpq's default does. */
static void on_notice(void *arg, const char *message)
{
        char line[MSG_MAX];

        (void)arg;
        one_line(message, line, sizeof(line));
        log_debug("postgres notice", LOG_STR("message", line));
}

/* ---- keys of the tables ---------------------------------------------------------------- */

struct tdef {
        const char *keys[PG_KEYS];     /* key columns; NULL after the last */
        const char *key_type[PG_KEYS]; /* SQL type of a key that is not text, else NULL */
        const char *required[8];       /* columns every rule relies on */
};

static const struct tdef tdefs[STORE_T_COUNT] = {
        [STORE_T_EVENT] = { { "id", "user_id" },
                            { NULL },
                            { "id", "user_id", "session_id", "created_at" } },
        [STORE_T_CHECKPOINT_WRITE] = { { "user_id", "thread_id", "checkpoint_ns", "checkpoint_id",
                                         "write_idx" },
                                       { NULL, NULL, NULL, NULL, "bigint" },
                                       { "user_id", "thread_id", "checkpoint_ns", "checkpoint_id",
                                         "write_idx", "created_at" } },
        [STORE_T_CHECKPOINT] = { { "user_id", "thread_id", "checkpoint_ns", "checkpoint_id" },
                                 { NULL },
                                 { "user_id", "thread_id", "checkpoint_ns", "checkpoint_id",
                                   "created_at" } },
        [STORE_T_CREWAI_MEMORY] = { { "user_id", "thread_id" },
                                    { NULL },
                                    { "user_id", "thread_id", "created_at", "updated_at" } },
        [STORE_T_CREWAI_FLOW] = { { "user_id", "thread_id", "method_name" },
                                  { NULL },
                                  { "user_id", "thread_id", "method_name", "created_at",
                                    "updated_at" } },
        [STORE_T_SESSION_SHARE] = { { "id" }, { "bigint" }, { "id", "session_id", "user_id" } },
        [STORE_T_PUSH] = { { "id" }, { NULL }, { "id", "task_id", "created_at" } },
        [STORE_T_TASK] = { { "id" },
                           { NULL },
                           { "id", "session_id", "data", "created_at", "updated_at" } },
        [STORE_T_FEEDBACK] = { { "id" }, { "bigint" }, { "id", "created_at" } },
        [STORE_T_SESSION] = { { "id", "user_id" },
                              { NULL },
                              { "id", "user_id", "created_at", "updated_at" } },
};

int pg_keys_select(struct buf *b, enum store_table t, const char *a, const char *as)
{
        int rc = 0;

        for (int i = 0; i < PG_KEYS; i++) {
                const char *col = tdefs[t].keys[i];

                if (i > 0)
                        rc |= buf_append_str(b, ", ");
                if (!col)
                        rc |= buf_append_str(b, "''::text");
                else if (tdefs[t].key_type[i])
                        rc |= buf_printf(b, "%s.%s::text", a, col);
                else
                        rc |= buf_printf(b, "%s.%s", a, col);
                if (as)
                        rc |= buf_printf(b, " AS %s%d", as, i + 1);
        }
        return rc ? -EMSGSIZE : 0;
}

int pg_keys_match(struct buf *b, enum store_table t, const char *a, const char *x, bool probe_cand)
{
        int rc = 0;

        for (int i = 0; i < PG_KEYS; i++) {
                const char *col = tdefs[t].keys[i];
                const char *type = tdefs[t].key_type[i];

                if (i > 0)
                        rc |= buf_append_str(b, " AND ");
                if (!col)
                        rc |= buf_printf(b, "%s.k%d = ''", x, i + 1);
                else if (!type)
                        rc |= buf_printf(b, "%s.%s = %s.k%d", a, col, x, i + 1);
                else if (probe_cand)
                        rc |= buf_printf(b, "%s.%s::text = %s.k%d", a, col, x, i + 1);
                else
                        rc |= buf_printf(b, "%s.%s = %s.k%d::%s", a, col, x, i + 1, type);
        }
        return rc ? -EMSGSIZE : 0;
}

/* ---- schema -------------------------------------------------------------------------- */

static bool is_timestamp_type(const char *type)
{
        return strcmp(type, "timestamp with time zone") == 0 ||
               strcmp(type, "timestamp without time zone") == 0;
}

/* Columns of one table as found: which of the required ones, and the timestamp types. */
struct cols {
        unsigned required; /* bit i: tdefs[t].required[i] exists */
        bool bad_time;     /* a created_at/updated_at/deleted_at that is not a timestamp */
        bool deleted_at;
        bool user_id;
        struct buf bytes;
};

static int append_ident(struct buf *b, const char *name)
{
        int rc = buf_append_str(b, "\"");

        for (const char *s = name; *s && rc == 0; s++)
                rc = *s == '"' ? buf_append_str(b, "\"\"") : buf_append(b, s, 1);
        return rc < 0 ? rc : buf_append_str(b, "\"");
}

static int note_column(struct cols *c, enum store_table t, const char *col, const char *type)
{
        int rc = 0;

        for (int i = 0; i < 8 && tdefs[t].required[i]; i++)
                if (strcmp(col, tdefs[t].required[i]) == 0)
                        c->required |= 1u << i;
        if ((strcmp(col, "created_at") == 0 || strcmp(col, "updated_at") == 0 ||
             strcmp(col, "deleted_at") == 0) &&
            !is_timestamp_type(type))
                c->bad_time = true;
        if (strcmp(col, "deleted_at") == 0)
                c->deleted_at = true;
        if (strcmp(col, "user_id") == 0)
                c->user_id = true;
        /* Stored size: TOASTed values count at their stored (compressed) size, unread. */
        rc |= buf_append_str(&c->bytes, c->bytes.len ? "+coalesce(pg_catalog.pg_column_size(c."
                                                     : "coalesce(pg_catalog.pg_column_size(c.");
        rc |= append_ident(&c->bytes, col);
        rc |= buf_append_str(&c->bytes, "),0)");
        return rc ? -ENOMEM : 0;
}

static int table_index(const char *name)
{
        for (int t = 0; t < STORE_T_COUNT; t++)
                if (strcmp(name, store_table_name((enum store_table)t)) == 0)
                        return t;
        return -1;
}

static void forget_tables(struct pgs *q)
{
        for (int t = 0; t < STORE_T_COUNT; t++) {
                free(q->t[t].bytes_expr);
                memset(&q->t[t], 0, sizeof(q->t[t]));
                q->base.info.has_table[t] = false;
        }
        q->migrations_qname[0] = '\0';
        q->task_has_user_id = false;
        q->base.info.task_has_user_id = false;
}

/* Take what one table's columns say: usable or not, and its facts. */
static int settle_table(struct pgs *q, int t, const char *qname, struct cols *c)
{
        unsigned all = 0;

        for (int i = 0; i < 8 && tdefs[t].required[i]; i++)
                all |= 1u << i;
        if (c->required != all || c->bad_time) {
                log_debug("table has an unexpected shape, skipped",
                          LOG_STR("table", store_table_name((enum store_table)t)));
                return 0;
        }
        q->t[t].bytes_expr = buf_steal(&c->bytes);
        if (!q->t[t].bytes_expr)
                return -ENOMEM;
        q->t[t].present = true;
        q->t[t].has_deleted_at = c->deleted_at;
        (void)str_copy(q->t[t].qname, qname, sizeof(q->t[t].qname));
        q->base.info.has_table[t] = true;
        if (t == STORE_T_TASK && c->user_id) {
                q->task_has_user_id = true;
                q->base.info.task_has_user_id = true;
        }
        return 0;
}

/* Read the kagent tables visible on the session's search_path, as kagent resolves them. */
static int introspect_tables(struct pgs *q, struct errbuf *err)
{
        static const char sql[] =
                "SELECT w.name, pg_catalog.quote_ident(n.nspname) || '.' || "
                "pg_catalog.quote_ident(c.relname), a.attname, "
                "pg_catalog.format_type(a.atttypid, a.atttypmod) "
                "FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS w(name, i) "
                "JOIN pg_catalog.pg_class c ON c.oid = "
                "pg_catalog.to_regclass(pg_catalog.quote_ident(w.name)) "
                "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND "
                "NOT a.attisdropped WHERE c.relkind IN ('r', 'p') ORDER BY w.i, a.attnum";
        struct cols cols[STORE_T_COUNT + 1];
        char qnames[STORE_T_COUNT + 1][PG_NAME_MAX];
        struct pg_params p;
        struct buf names;
        PGresult *res = NULL;
        int rc;

        memset(cols, 0, sizeof(cols));
        memset(qnames, 0, sizeof(qnames));
        for (int t = 0; t <= STORE_T_COUNT; t++)
                buf_init(&cols[t].bytes, 8192);
        buf_init(&names, 1024);
        rc = buf_append_str(&names, "{");
        for (int t = 0; t < STORE_T_COUNT && rc == 0; t++)
                rc = buf_printf(&names, "%s,", store_table_name((enum store_table)t));
        if (rc == 0)
                rc = buf_append_str(&names, "schema_migrations}");
        if (rc < 0) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        pg_params_init(&p);
        pg_param_str(&p, names.data);
        rc = pg_exec(q, sql, &p, &res, err, "schema");
        if (rc < 0)
                goto out;
        forget_tables(q);
        for (int i = 0; i < pqlib.PQntuples(res); i++) {
                const char *name = pqlib.PQgetvalue(res, i, 0);
                int t = strcmp(name, "schema_migrations") == 0 ? STORE_T_COUNT : table_index(name);

                if (t < 0)
                        continue;
                (void)str_copy(qnames[t], pqlib.PQgetvalue(res, i, 1), sizeof(qnames[t]));
                if (t < STORE_T_COUNT &&
                    note_column(&cols[t], (enum store_table)t, pqlib.PQgetvalue(res, i, 2),
                                pqlib.PQgetvalue(res, i, 3)) < 0) {
                        rc = errbuf_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        for (int t = 0; t < STORE_T_COUNT; t++) {
                if (!qnames[t][0])
                        continue;
                if (settle_table(q, t, qnames[t], &cols[t]) < 0) {
                        rc = errbuf_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        (void)str_copy(q->migrations_qname, qnames[STORE_T_COUNT], sizeof(q->migrations_qname));
        rc = 0;
out:
        pqlib.PQclear(res);
        for (int t = 0; t <= STORE_T_COUNT; t++)
                buf_cleanup(&cols[t].bytes);
        buf_cleanup(&names);
        return rc;
}

/* golang-migrate era: the version and dirty flag from schema_migrations. */
static int introspect_migrations(struct pgs *q, struct errbuf *err)
{
        struct store_info *info = &q->base.info;
        PGresult *res = NULL;
        char sql[256];
        int rc;

        q->migrate_dirty = false;
        info->schema_version[0] = '\0';
        if (!q->migrations_qname[0]) {
                info->schema = STORE_SCHEMA_GORM_POSTGRES;
                return 0;
        }
        info->schema = STORE_SCHEMA_MIGRATE_POSTGRES;
        (void)snprintf(sql, sizeof(sql),
                       "SELECT version::text, dirty FROM %s ORDER BY version DESC LIMIT 1",
                       q->migrations_qname);
        rc = pg_exec(q, sql, NULL, &res, err, "schema_migrations");
        if (rc < 0)
                return rc;
        if (pqlib.PQntuples(res) > 0) {
                (void)str_copy(info->schema_version, pqlib.PQgetvalue(res, 0, 0),
                               sizeof(info->schema_version));
                q->migrate_dirty = strcmp(pqlib.PQgetvalue(res, 0, 1), "t") == 0;
        }
        pqlib.PQclear(res);
        return 0;
}

/*
 * Resolve kagent's tables with the session's own search_path (as kagent does), then pin
 * search_path to pg_catalog, pg_temp: every kagent table is used schema-qualified, so no object
 * of another schema can stand in for a function or operator we call.
 */
static int introspect(struct pgs *q, struct errbuf *err)
{
        int rc;

        rc = pg_exec(q, "RESET search_path", NULL, NULL, err, "schema");
        if (rc < 0)
                return rc;
        rc = introspect_tables(q, err);
        if (rc < 0)
                return rc;
        rc = introspect_migrations(q, err);
        if (rc < 0)
                return rc;
        rc = pg_exec(q, "SET search_path = pg_catalog, pg_temp", NULL, NULL, err, "schema");
        if (rc < 0)
                return rc;
        if (!q->t[STORE_T_SESSION].present && !q->t[STORE_T_EVENT].present)
                return errbuf_set(err, -EPROTO,
                                  "postgres %s is not a kagent database: no session or event "
                                  "table on the search_path",
                                  q->target);
        return 0;
}

/* ---- connecting ---------------------------------------------------------------------- */

static void describe_target(struct pgs *q, PGconn *conn)
{
        const char *host = conn ? pqlib.PQhost(conn) : NULL;
        const char *port = conn ? pqlib.PQport(conn) : NULL;
        const char *db = conn ? pqlib.PQdb(conn) : NULL;
        const char *user = conn ? pqlib.PQuser(conn) : NULL;

        (void)snprintf(q->target, sizeof(q->target), "host=%s port=%s dbname=%s user=%s",
                       host && host[0] ? host : "(default)", port && port[0] ? port : "(default)",
                       db && db[0] ? db : "(default)", user && user[0] ? user : "(default)");
}

/*
 * Session settings, ours unless the connection string set them (options=-c lock_timeout=...):
 * the timeouts, and synchronous_commit off. A pruner's commit then does not wait for its WAL to
 * reach the disk (or a synchronous standby): a server crash may forget its last batches, which
 * only means the next run deletes those rows again (the WAL replays a prefix of the commits, so
 * children-first order still holds). While kagent writes, batches commit synchronously again
 * (pg_begin_sql()).
 * And jit off: the statements are short, and their cost estimates (made blind on temp tables)
 * cross jit_above_cost, where compiling took longer than running (44 ms against 5 ms).
 * kagent's own sessions are not affected.
 */
static void settings_sql(char *sql, size_t size, bool read_only)
{
        (void)snprintf(sql, size,
                       "SELECT pg_catalog.set_config(v.name, v.value, false) FROM (VALUES "
                       "('lock_timeout', '%dms'), ('statement_timeout', '%dms'), "
                       "('idle_in_transaction_session_timeout', '%dms'), "
                       "('synchronous_commit', 'off'), ('jit', 'off')%s) AS v(name, value) "
                       "WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_settings s WHERE "
                       "s.name = v.name AND s.source = 'client')",
                       PG_LOCK_TIMEOUT_MS, PG_STATEMENT_TIMEOUT_MS, PG_IDLE_TXN_TIMEOUT_MS,
                       read_only ? ", ('default_transaction_read_only', 'on')" : "");
}

static int session_setup(struct pgs *q, struct errbuf *err)
{
        /* wal_compression: see writeback_update() (lz4 and the privilege: PostgreSQL 15+) */
        bool walc = !q->read_only && q->server_version >= 150000;
        char sql[768];
        int64_t off = 0; /* 1: synchronous_commit off, 2: backend_flush_after 0, 4: walc_ours */
        int rc;

        settings_sql(sql, sizeof(sql), q->read_only);
        rc = pg_exec(q, sql, NULL, NULL, err, "session setup");
        if (rc < 0)
                return rc;
        (void)snprintf(sql, sizeof(sql),
                       "SELECT (pg_catalog.current_setting('synchronous_commit') = 'off')::int + 2 "
                       "* (pg_catalog.current_setting('backend_flush_after') = '0')::int%s",
                       walc ? " + 4 * (SELECT count(*) FROM pg_catalog.pg_settings s WHERE s.name "
                              "= 'wal_compression' AND s.setting = 'off' AND s.source <> 'client' "
                              "AND 'lz4' = ANY (s.enumvals) AND "
                              "pg_catalog.has_parameter_privilege(s.name, 'SET'))::int"
                            : "");
        rc = pg_int(q, sql, NULL, &off, err, "session setup");
        q->sync_off = rc == 0 && (off & 1);
        q->flush_ours = rc == 0 && (off & 2);
        q->walc_ours = rc == 0 && (off & 4);
        q->writeback = 0;
        return rc;
}

int pg_helper_fail(struct pgs *q, PGconn *conn, const PGresult *res, struct errbuf *err)
{
        const char *state = res ? pqlib.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        char msg[MSG_MAX];

        if (res && pqlib.PQresultErrorMessage(res)[0])
                one_line(pqlib.PQresultErrorMessage(res), msg, sizeof(msg));
        else
                conn_message(conn, msg, sizeof(msg));
        return errbuf_set(err, -EIO, "postgres %s: planning helper: %s (%s)", q->target,
                          msg[0] ? msg : "no connection", state ? state : "?");
}

/*
 * Connected like the main connection (the primary of a multi-host URL), with the same settings,
 * read-only. It creates nothing: no transaction id of its own (see store_others_wrote()).
 */
int pg_helper_connect(struct pgs *q, PGconn **out, struct errbuf *err)
{
        const char *keys[] = { "fallback_application_name", "connect_timeout",
                               "target_session_attrs", "dbname", NULL };
        const char *vals[] = { "kagent-retention", PG_CONNECT_TIMEOUT_S, "read-write", q->conninfo,
                               NULL };
        char sql[768];
        PGconn *conn;
        PGresult *res;
        int rc = 0;

        *out = NULL;
        conn = pqlib.PQconnectdbParams(keys, vals, 1);
        if (!conn)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (pqlib.PQstatus(conn) != CONNECTION_OK) {
                rc = pg_helper_fail(q, conn, NULL, err);
                pqlib.PQfinish(conn);
                return rc;
        }
        (void)pqlib.PQsetNoticeProcessor(conn, on_notice, NULL);
        settings_sql(sql, sizeof(sql), true);
        res = pqlib.PQexec(conn, sql);
        if (!res || pqlib.PQresultStatus(res) != PGRES_TUPLES_OK)
                rc = pg_helper_fail(q, conn, res, err);
        pqlib.PQclear(res);
        if (rc < 0) {
                pqlib.PQfinish(conn);
                return rc;
        }
        *out = conn;
        return 0;
}

static void drop_conn(struct pgs *q)
{
        if (q->conn) {
                pqlib.PQfinish(q->conn);
                q->conn = NULL;
        }
        conn_lost(q);
}

static int connect_db(struct pgs *q, struct errbuf *err)
{
        /*
         * Our defaults come before the caller's string, so every parameter it sets wins:
         * fallback_application_name only applies when it names none, and connect_timeout and
         * target_session_attrs (a writer needs the primary of a multi-host URL) are overridable.
         */
        const char *keys[] = { "fallback_application_name", "connect_timeout",
                               "target_session_attrs", "dbname", NULL };
        const char *vals[] = { "kagent-retention", PG_CONNECT_TIMEOUT_S,
                               q->read_only ? "any" : "read-write", q->conninfo, NULL };
        const char *ver;
        int rc;

        drop_conn(q);
        q->conn = pqlib.PQconnectdbParams(keys, vals, 1);
        describe_target(q, q->conn);
        if (!q->conn)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (pqlib.PQstatus(q->conn) != CONNECTION_OK) {
                char msg[MSG_MAX];

                conn_message(q->conn, msg, sizeof(msg));
                rc = strstr(msg, "authentication failed") || strstr(msg, "pg_hba.conf") ? -EACCES
                     : strstr(msg, "does not exist")                                    ? -ENOENT
                                                                                        : -EAGAIN;
                drop_conn(q);
                return errbuf_set(err, rc, "postgres %s: cannot connect: %s", q->target, msg);
        }
        (void)pqlib.PQsetNoticeProcessor(q->conn, on_notice, NULL);
        q->server_version = pqlib.PQserverVersion(q->conn);
        if (q->server_version < PG_VERSION_MIN) {
                drop_conn(q);
                return errbuf_set(err, -ENOTSUP, "postgres %s: server version %d is older than 10",
                                  q->target, q->server_version);
        }
        ver = pqlib.PQparameterStatus(q->conn, "server_version");
        (void)snprintf(q->base.info.engine_version, sizeof(q->base.info.engine_version),
                       "postgres %.*s", (int)strcspn(ver ? ver : "?", " "), ver ? ver : "?");
        rc = session_setup(q, err);
        if (rc == 0)
                rc = introspect(q, err);
        if (rc < 0) {
                drop_conn(q);
                return rc;
        }
        log_debug("connected", LOG_STR("target", q->target),
                  LOG_STR("engine", q->base.info.engine_version),
                  LOG_STR("schema", store_schema_name(q->base.info.schema)),
                  LOG_STR("schema_version", q->base.info.schema_version));
        return 0;
}

/*
 * Make sure there is a connection: 0 when the current one is up, 1 after reconnecting, or
 * -EAGAIN while the capped backoff after a failed attempt has not elapsed (no attempt is made).
 */
static int ensure_conn(struct pgs *q, struct errbuf *err)
{
        int64_t now = clock_mono_ms();
        int rc;

        if (q->conn && pqlib.PQstatus(q->conn) == CONNECTION_OK)
                return 0;
        if (q->connect_failures > 0 && now < q->next_connect_mono_ms)
                return errbuf_set(err, -EAGAIN,
                                  "postgres %s: not connected; next attempt in %" PRId64 " ms",
                                  q->target, q->next_connect_mono_ms - now);
        rc = connect_db(q, err);
        if (rc < 0) {
                int64_t delay;

                q->connect_failures++;
                delay = BACKOFF_FIRST_MS << (q->connect_failures < 8 ? q->connect_failures - 1 : 7);
                if (delay > BACKOFF_MAX_MS)
                        delay = BACKOFF_MAX_MS;
                /* Jitter of up to a quarter, so replicas restarting together spread out. */
                delay -= (clock_mono_ns() / 1000) % (delay / 4 + 1);
                q->next_connect_mono_ms = now + delay;
                return rc;
        }
        q->connect_failures = 0;
        log_debug("reconnected", LOG_STR("target", q->target));
        return 1;
}

/* ---- the ops --------------------------------------------------------------------------- */

static void set_not_writable(struct pgs *q, const char *reason)
{
        q->base.info.writable = false;
        (void)str_copy(q->base.info.not_writable_reason, reason,
                       sizeof(q->base.info.not_writable_reason));
}

static int pgs_open(struct store *s, const struct store_config *cfg, struct errbuf *err)
{
        struct pgs *q = pg_of(s);
        PQconninfoOption *opts;
        char *perr = NULL;
        int rc;

        q->read_only = cfg->read_only;
        q->read_budget_ms = 20;
        (void)str_copy(q->target, "(not connected)", sizeof(q->target));
        if (!cfg->postgres_url || !cfg->postgres_url[0])
                return errbuf_set(err, -EINVAL, "no postgres connection string");
        rc = pqlib_load(err);
        if (rc < 0)
                return rc;
        opts = pqlib.PQconninfoParse(cfg->postgres_url, &perr);
        if (!opts) {
                char line[MSG_MAX];
                char msg[MSG_MAX];

                /* libpq quotes the part it could not parse, which may be the password. */
                one_line(perr ? perr : "out of memory", line, sizeof(line));
                (void)store_conninfo_redact(line, msg, sizeof(msg));
                msg[strcspn(msg, "\"")] = '\0';
                rc = perr ? -EINVAL : -ENOMEM;
                pqlib.PQfreemem(perr);
                return errbuf_set(err, rc, "postgres connection string is invalid: %s", msg);
        }
        pqlib.PQconninfoFree(opts);
        q->conninfo = strdup(cfg->postgres_url);
        if (!q->conninfo)
                return errbuf_set(err, -ENOMEM, "out of memory");
        rc = connect_db(q, err);
        if (rc < 0)
                return rc;
        s->info.writable = !q->read_only;
        if (q->read_only)
                set_not_writable(q, "opened read-only");
        return 0;
}

static void pgs_close(struct store *s)
{
        struct pgs *q = pg_of(s);

        drop_conn(q);
        forget_tables(q);
        if (q->conninfo) {
                explicit_bzero(q->conninfo, strlen(q->conninfo));
                free(q->conninfo);
        }
        free(q);
}

/* Take the advisory lock (when not held) and look at the server: 1 writable, 0 not. */
static int try_writer(struct pgs *q, struct errbuf *err)
{
        PGresult *res = NULL;
        bool standby;
        bool locked;
        int rc;

        rc = introspect(q, err);
        if (rc < 0)
                return rc;
        rc = pg_exec(q,
                     q->lock_held ? "SELECT pg_catalog.pg_is_in_recovery(), true"
                                  : "SELECT r, CASE WHEN r THEN false ELSE "
                                    "pg_catalog.pg_try_advisory_lock(" PG_ADVISORY_KEY
                                    ") END FROM pg_catalog.pg_is_in_recovery() AS r",
                     NULL, &res, err, "advisory lock");
        if (rc < 0)
                return rc;
        standby = strcmp(pqlib.PQgetvalue(res, 0, 0), "t") == 0;
        locked = strcmp(pqlib.PQgetvalue(res, 0, 1), "t") == 0;
        pqlib.PQclear(res);
        q->lock_held = locked;
        if (standby) {
                set_not_writable(q, "the server is a read-only standby (pg_is_in_recovery)");
                return 0;
        }
        if (!locked) {
                set_not_writable(q, "another pruner holds the advisory lock");
                return 0;
        }
        if (q->migrate_dirty) {
                char reason[sizeof(q->base.info.not_writable_reason)];

                (void)snprintf(reason, sizeof(reason),
                               "kagent's schema migration %s is dirty (a migration failed "
                               "half-way): nothing is deleted until kagent repairs it",
                               q->base.info.schema_version);
                set_not_writable(q, reason);
                (void)pg_exec(q, "SELECT pg_catalog.pg_advisory_unlock(" PG_ADVISORY_KEY ")", NULL,
                              NULL, NULL, "advisory unlock");
                q->lock_held = false;
                return 0;
        }
        q->base.info.writable = true;
        q->base.info.not_writable_reason[0] = '\0';
        return 1;
}

static int pgs_writer_acquire(struct store *s, struct errbuf *err)
{
        struct pgs *q = pg_of(s);
        int rc;

        if (q->read_only) {
                set_not_writable(q, "opened read-only");
                return 0;
        }
        rc = ensure_conn(q, err);
        if (rc < 0)
                return rc;
        rc = try_writer(q, err);
        if (rc == -EAGAIN && q->connect_failures == 0) {
                /* The connection died while idle (a server restart): one fresh attempt now. */
                rc = ensure_conn(q, err);
                if (rc >= 0)
                        rc = try_writer(q, err);
        }
        return rc;
}

static void pgs_writer_release(struct store *s)
{
        struct pgs *q = pg_of(s);

        if (q->lock_held)
                (void)pg_exec(q, "SELECT pg_catalog.pg_advisory_unlock(" PG_ADVISORY_KEY ")", NULL,
                              NULL, NULL, "advisory unlock");
        q->lock_held = false;
}

static int cmp_usage(const void *a, const void *b)
{
        const struct store_table_usage *x = a;
        const struct store_table_usage *y = b;

        if (x->bytes != y->bytes)
                return x->bytes < y->bytes ? 1 : -1;
        return strcmp(x->name, y->name);
}

/* The schema holding kagent's tables: that of the session (or event) table. */
static const char *kagent_schema_table(struct pgs *q)
{
        if (q->t[STORE_T_SESSION].present)
                return q->t[STORE_T_SESSION].qname;
        if (q->t[STORE_T_EVENT].present)
                return q->t[STORE_T_EVENT].qname;
        return NULL;
}

static int measure_tables(struct pgs *q, struct store_usage *u, struct errbuf *err)
{
        const char *anchor = kagent_schema_table(q);
        struct pg_params p;
        PGresult *res = NULL;
        int rc;

        if (!anchor)
                return 0;
        pg_params_init(&p);
        pg_param_str(&p, anchor);
        pg_param_i64(&p, STORE_TABLES_MAX);
        rc = pg_exec(q,
                     "SELECT c.relname, coalesce(s.n_live_tup, greatest(c.reltuples, "
                     "0)::bigint), coalesce(s.n_dead_tup, 0), pg_catalog.pg_total_relation_size("
                     "c.oid) AS bytes FROM pg_catalog.pg_class c LEFT JOIN "
                     "pg_catalog.pg_stat_user_tables s ON s.relid = c.oid WHERE c.relnamespace = "
                     "(SELECT relnamespace FROM pg_catalog.pg_class WHERE oid = $1::regclass) AND "
                     "c.relkind IN ('r', 'p') ORDER BY bytes DESC, c.relname LIMIT $2",
                     &p, &res, err, "measure");
        if (rc < 0)
                return rc;
        u->tables_exact = true;
        for (int i = 0; i < pqlib.PQntuples(res) && u->n_tables < STORE_TABLES_MAX; i++) {
                struct store_table_usage *tu = &u->tables[u->n_tables++];

                (void)str_copy(tu->name, pqlib.PQgetvalue(res, i, 0), sizeof(tu->name));
                if (str_to_i64(pqlib.PQgetvalue(res, i, 1), &tu->rows) < 0 ||
                    str_to_i64(pqlib.PQgetvalue(res, i, 2), &tu->dead_rows) < 0 ||
                    str_to_i64(pqlib.PQgetvalue(res, i, 3), &tu->bytes) < 0) {
                        pqlib.PQclear(res);
                        return errbuf_set(err, -EPROTO, "postgres measure: bad numbers");
                }
        }
        pqlib.PQclear(res);
        qsort(u->tables, u->n_tables, sizeof(u->tables[0]), cmp_usage);
        return 0;
}

static int pgs_measure(struct store *s, bool per_table, struct store_usage *out, struct errbuf *err)
{
        struct pgs *q = pg_of(s);
        struct store_usage u;
        PGresult *res = NULL;
        int rc;

        memset(&u, 0, sizeof(u));
        rc = ensure_conn(q, err);
        if (rc < 0)
                return rc;
        rc = pg_exec(q,
                     "SELECT pg_catalog.pg_database_size(pg_catalog.current_database()), "
                     "pg_catalog.current_setting('block_size'), "
                     "pg_catalog.current_setting('autovacuum')",
                     NULL, &res, err, "measure");
        if (rc < 0)
                return rc;
        if (str_to_i64(pqlib.PQgetvalue(res, 0, 0), &u.db_bytes) < 0 ||
            str_to_i64(pqlib.PQgetvalue(res, 0, 1), &u.page_size) < 0 || u.page_size <= 0) {
                pqlib.PQclear(res);
                return errbuf_set(err, -EPROTO, "postgres measure: bad numbers");
        }
        (void)str_copy(u.auto_vacuum, pqlib.PQgetvalue(res, 0, 2), sizeof(u.auto_vacuum));
        pqlib.PQclear(res);
        (void)str_copy(u.journal_mode, "wal", sizeof(u.journal_mode));
        u.page_count = u.db_bytes / u.page_size;
        if (per_table) {
                rc = measure_tables(q, &u, err);
                if (rc < 0)
                        return rc;
        }
        *out = u;
        return 0;
}

static int pgs_run_begin(struct store *s, struct errbuf *err)
{
        struct pgs *q = pg_of(s);
        int rc;

        rc = ensure_conn(q, err);
        if (rc < 0)
                return rc;
        if (rc == 1 && !q->read_only && q->base.info.writable)
                return errbuf_set(err, -EAGAIN,
                                  "postgres %s: the connection was lost after the advisory lock "
                                  "was taken",
                                  q->target);
        rc = pg_temp_setup(q, err);
        if (rc < 0)
                return rc;
        q->run_ready = true;
        q->act_ready = false;
        q->cursor = 0;
        q->seq_max = 0;
        q->unit_max = 0;
        pg_sessions_parts_end(q);
        q->sess_pending = false;
        q->sess_gen++;
        q->sess_cursor = 0;
        q->sess_slow_until = 0;
        pg_xid_baseline(q);
        return 0;
}

int pg_run_alive(struct pgs *q, struct errbuf *err, const char *what)
{
        if (q->run_ready && q->conn && pqlib.PQstatus(q->conn) == CONNECTION_OK)
                return 0;
        /* A reconnect in the middle of a run (a measurement) took the plan and the lock. */
        return errbuf_set(err, -EAGAIN,
                          "postgres %s: connection lost during the run; its plan and "
                          "advisory lock went with it",
                          what);
}

static int pgs_plan_discard(struct store *s, struct errbuf *err)
{
        struct pgs *q = pg_of(s);

        if (!q->temp_ready || !q->conn || pqlib.PQstatus(q->conn) != CONNECTION_OK)
                return 0;
        pg_note_own_xid(q);
        pg_sessions_parts_end(q);
        q->sess_pending = false;
        q->sess_gen++;
        return pg_exec(q, "TRUNCATE pg_temp.kr_cand, pg_temp.kr_skey, pg_temp.kr_sess", NULL, NULL,
                       err, "discard");
}

/*
 * While kagent writes, the pages this connection writes out go to the kernel's write-back at
 * once (backend_flush_after), instead of piling up in the page cache until the next
 * checkpoint's fsync, which then holds the disk for a second or more: every kagent commit in
 * that second waits for it. A bulk delete dirties pages faster than the checkpointer and the
 * background writer write them out, so most reach the disk through the backend that needs
 * their buffers: ours, in its batches and in the planning between them. On a disk: 48 of 2,085
 * kagent writes over 25 ms, all waiting in COMMIT, all inside the checkpoints' sync phases
 * (0.7-1.3 s each); with it the sync phases took 17-55 ms. It costs a run about 10% while kagent
 * writes and 15% while it does not, so only then, and only where the server and the connection
 * leave it at 0 (flush_ours).
 * And while kagent writes, the full-page images in our WAL are compressed with lz4, where the
 * server leaves wal_compression off, has lz4 (PostgreSQL 15+), the connection string does not set
 * it and the role may set it (walc_ours: a superuser, as the bundled server's kagent user is, or
 * GRANT SET ON PARAMETER). A delete's WAL is nearly all full-page images of the pages it empties
 * (2 KB per deleted row): fewer bytes to write and flush in kagent's way. Only then: on payloads
 * that do not compress, it cost an idle run 24% (compressing 2.6 GB to 2.2 GB); on the
 * benchmark's, which compress 6x, it saved 24%.
 * Both are session settings, changed only between transactions (so that no rollback takes them
 * back): here, after each batch. A change that failed leaves them unknown (-1).
 */
#define PG_WRITER_FLUSH_AFTER "512kB"

static void writeback_update(struct pgs *q, int64_t now)
{
        int want = (q->flush_ours || q->walc_ours) && pg_kagent_writing(q, now);
        bool both = q->flush_ours && q->walc_ours;
        char sql[128];
        struct errbuf err;

        if (want == q->writeback || !q->conn || pqlib.PQstatus(q->conn) != CONNECTION_OK ||
            pqlib.PQtransactionStatus(q->conn) != PQTRANS_IDLE)
                return;
        if (want)
                (void)snprintf(sql, sizeof(sql), "%s%s%s",
                               q->flush_ours ? "SET backend_flush_after = '" PG_WRITER_FLUSH_AFTER
                                               "'"
                                             : "",
                               both ? "; " : "", q->walc_ours ? "SET wal_compression = lz4" : "");
        else
                (void)snprintf(sql, sizeof(sql), "%s%s%s",
                               q->flush_ours ? "RESET backend_flush_after" : "", both ? "; " : "",
                               q->walc_ours ? "RESET wal_compression" : "");
        errbuf_clear(&err);
        if (pg_script(q, sql, &err, "settings") < 0) {
                log_debug("postgres: write-back settings not changed", LOG_STR("error", err.msg));
                q->writeback = -1;
                return;
        }
        q->writeback = want;
}

/*
 * Did another connection write since the last call? Every writing transaction takes a
 * transaction id, so the cluster's next id grows by one per writer; ours are counted and
 * subtracted, and so are those of ANALYZE runs of kagent's tables (autovacuum's, which our
 * deletes set off: each would otherwise look like kagent writing for STORE_WRITERS_RECENT_MS).
 * Read-only sessions do not count (they do not compete with deletes). Anything unclear (an
 * error, the baseline unknown) answers true: pacing stays on.
 */
static bool pgs_others_wrote(struct store *s)
{
        struct pgs *q = pg_of(s);
        int64_t now = clock_mono_ms();
        int64_t x = 0;
        int64_t a = 0;
        int64_t unexplained;
        bool wrote;

        q->polls++;
        if (next_xid(q, &x, &a) < 0)
                return true;
        /*
         * Their ANALYZE runs explain that many (autovacuum's follow our deletes). A run counts
         * itself before it commits, so its id may show only at a later poll: the count stays
         * credited for a while (an empty table's ANALYZE takes no id at all).
         */
        if (q->xid_seen != 0 && a > q->analyses_seen) {
                q->analyze_credit += a - q->analyses_seen;
                q->analyze_credit_ms = now;
        } else if (now - q->analyze_credit_ms > STORE_ANALYZE_CREDIT_MS) {
                q->analyze_credit = 0;
        }
        unexplained = x - q->xid_seen - q->own_xids;
        wrote = q->xid_seen == 0 || unexplained > 0;
        if (wrote && q->xid_seen != 0 && unexplained <= q->analyze_credit) {
                log_debug("transaction ids of ANALYZE runs, not of kagent",
                          LOG_INT("ids", unexplained));
                q->analyze_credit -= unexplained;
                wrote = false;
        }
        if (wrote && q->xid_seen != 0)
                q->foreign_ms = now;
        q->xid_seen = x;
        q->analyses_seen = a;
        q->own_xids = 0;
        writeback_update(q, now);
        return wrote;
}

/* ---- reclaim --------------------------------------------------------------------------- */

/* Is the table worth a VACUUM after this run, and may we vacuum it? 1 yes, 0 no. */
static int vacuum_wanted(struct pgs *q, enum store_table t, int64_t deleted, bool always,
                         bool *not_owner, struct errbuf *err)
{
        struct pg_params p;
        PGresult *res = NULL;
        int64_t base = 0;
        int rc;

        pg_params_init(&p);
        pg_param_str(&p, q->t[t].qname);
        rc = pg_exec(q,
                     "SELECT greatest(c.reltuples::bigint, coalesce(s.n_live_tup, 0)), "
                     "pg_catalog.pg_has_role(c.relowner, 'USAGE') FROM pg_catalog.pg_class c "
                     "LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid "
                     "WHERE c.oid = $1::regclass",
                     &p, &res, err, "reclaim");
        if (rc < 0)
                return rc;
        if (pqlib.PQntuples(res) == 0) {
                pqlib.PQclear(res);
                return 0;
        }
        (void)str_to_i64(pqlib.PQgetvalue(res, 0, 0), &base);
        *not_owner = strcmp(pqlib.PQgetvalue(res, 0, 1), "t") != 0;
        pqlib.PQclear(res);
        if (*not_owner)
                return 0;
        if (base < deleted)
                base = deleted;
        return always || deleted * 100 >= base * VACUUM_SHARE_PERCENT;
}

/*
 * VACUUM (ANALYZE) the tables the run deleted a meaningful share of. Plain VACUUM takes a SHARE
 * UPDATE EXCLUSIVE lock: kagent keeps reading and writing, the space becomes reusable and the
 * statistics match the smaller table. Never VACUUM FULL: it rewrites the table under an ACCESS
 * EXCLUSIVE lock that blocks every kagent query for the whole rewrite (measured: 14.9 s for a
 * 2.7 GB event table) and needs room for a second copy. TRUNCATE false keeps VACUUM from taking
 * that lock for its brief end-of-table truncation too (and from cancelling standby queries);
 * SKIP_LOCKED skips a table autovacuum is working on instead of waiting for it.
 */
static int vacuum_table(struct pgs *q, enum store_table t, int64_t timeout_ms, struct errbuf *err)
{
        char sql[PG_NAME_MAX + 128];
        char saved[64] = "";
        struct pg_params p;
        PGresult *res = NULL;
        int rc;

        /* Its own statement_timeout for the VACUUM; the session's own comes back after. */
        pg_params_init(&p);
        pg_param_i64(&p, timeout_ms);
        rc = pg_exec(q,
                     "SELECT pg_catalog.current_setting('statement_timeout'), "
                     "pg_catalog.set_config('statement_timeout', $1, false)",
                     &p, &res, err, "vacuum");
        if (rc < 0)
                return rc;
        (void)str_copy(saved, pqlib.PQgetvalue(res, 0, 0), sizeof(saved));
        pqlib.PQclear(res);
        (void)snprintf(sql, sizeof(sql), "VACUUM (%s) %s",
                       q->server_version >= 120000 ? "ANALYZE, SKIP_LOCKED, TRUNCATE false"
                                                   : "ANALYZE",
                       q->t[t].qname);
        pg_note_own_xid(q);
        rc = pg_exec(q, sql, NULL, NULL, err, "vacuum");
        pg_params_init(&p);
        pg_param_str(&p, saved);
        (void)pg_exec(q, "SELECT pg_catalog.set_config('statement_timeout', $1, false)", &p, NULL,
                      NULL, "vacuum");
        return rc;
}

static int db_size(struct pgs *q, int64_t *out, struct errbuf *err)
{
        return pg_int(q, "SELECT pg_catalog.pg_database_size(pg_catalog.current_database())", NULL,
                      out, err, "reclaim");
}

static int pgs_reclaim(struct store *s, const struct store_reclaim_params *p,
                       struct store_reclaim_result *out, struct errbuf *err)
{
        struct pgs *q = pg_of(s);
        struct store_reclaim_result r;
        int64_t t0 = clock_mono_ms();
        int64_t before = 0;
        int64_t after = 0;
        bool not_owner = false;
        bool any = false;
        int rc;

        memset(&r, 0, sizeof(r));
        if (p->mode == STORE_RECLAIM_NONE) {
                (void)str_copy(r.action, "none: reclaim.mode is None", sizeof(r.action));
                *out = r;
                return 0;
        }
        rc = ensure_conn(q, err);
        if (rc < 0)
                return rc;
        rc = db_size(q, &before, err);
        if (rc < 0)
                return rc;
        (void)str_copy(r.action, "VACUUM (ANALYZE)", sizeof(r.action));
        for (int t = 0; t < STORE_T_COUNT; t++) {
                int64_t left = PG_VACUUM_TIMEOUT_MS;

                if (!q->t[t].present || p->deleted_rows[t] <= 0 || (p->stop && *p->stop))
                        continue;
                if (p->max_ms > 0) {
                        left = p->max_ms - (clock_mono_ms() - t0);
                        if (left <= 0)
                                break;
                }
                rc = vacuum_wanted(q, (enum store_table)t, p->deleted_rows[t],
                                   p->mode == STORE_RECLAIM_VACUUM, &not_owner, err);
                if (rc < 0)
                        return rc;
                if (rc == 0)
                        continue;
                rc = vacuum_table(q, (enum store_table)t, left, err);
                if (rc < 0)
                        return rc;
                any = true;
                {
                        size_t len = strlen(r.action);

                        (void)snprintf(r.action + len, sizeof(r.action) - len, " %s",
                                       store_table_name((enum store_table)t));
                }
        }
        if (!any)
                (void)str_copy(r.action,
                               not_owner ? "none: VACUUM needs the tables' owner"
                                         : "none: no table lost 10% of its rows",
                               sizeof(r.action));
        rc = db_size(q, &after, err);
        if (rc < 0)
                return rc;
        r.reclaimed_bytes = before > after ? before - after : 0;
        *out = r;
        return 0;
}

/*
 * A cheap sanity check: the server answers and kagent's tables are where they were. PostgreSQL
 * has no cheap integrity check (amcheck is an extension and reads every index page); a standby
 * is not an error here (store_writer_acquire() reports it per run, and it ends at promotion).
 */
static int pgs_check(struct store *s, struct errbuf *err)
{
        struct pgs *q = pg_of(s);
        const char *anchor;
        struct pg_params p;
        int64_t found = 0;
        int rc;

        rc = ensure_conn(q, err);
        if (rc < 0)
                return rc;
        anchor = kagent_schema_table(q);
        pg_params_init(&p);
        pg_param_str(&p, anchor ? anchor : "-");
        rc = pg_int(q, "SELECT (pg_catalog.to_regclass($1) IS NOT NULL)::int", &p, &found, err,
                    "check");
        if (rc < 0)
                return rc;
        if (!found)
                return errbuf_set(err, -EIO, "postgres %s: kagent's tables are gone", q->target);
        return 0;
}

const struct store_ops store_postgres_ops = {
        .open = pgs_open,
        .close = pgs_close,
        .writer_acquire = pgs_writer_acquire,
        .writer_release = pgs_writer_release,
        .measure = pgs_measure,
        .run_begin = pgs_run_begin,
        .plan = pg_plan,
        .delete_batch = pg_delete_batch,
        .plan_discard = pgs_plan_discard,
        .others_wrote = pgs_others_wrote,
        .reclaim = pgs_reclaim,
        .check = pgs_check,
};

const size_t store_postgres_size = sizeof(struct pgs);
