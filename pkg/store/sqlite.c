/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite backend: opening a kagent database safely beside a running kagent, schema
 * introspection, the Turso-engine guard, and measurement. Planning and deleting live in
 * sqlite_plan.c and sqlite_delete.c.
 */
#define LOG_MODULE "store"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "base/str.h"
#include "log/log.h"
#include "store/sqlite_internal.h"

#define SQ_HEADER_SIZE 100

int sq_fail(struct sq *q, int rc, struct errbuf *err, const char *what)
{
        const char *msg = q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc);
        int code;

        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                code = -EBUSY;
                break;
        case SQLITE_FULL:
                code = -ENOSPC;
                break;
        case SQLITE_NOMEM:
                code = -ENOMEM;
                break;
        case SQLITE_READONLY:
                code = -EROFS;
                break;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                code = -EIO;
                break;
        case SQLITE_CANTOPEN:
                code = -ENOENT;
                break;
        case SQLITE_INTERRUPT:
                code = -EINTR;
                break;
        default:
                code = -EIO;
                break;
        }
        return errbuf_set(err, code, "sqlite %s: %s", what, msg);
}

int sq_prepare(struct sq *q, const char *sql, sqlite3_stmt **out, struct errbuf *err)
{
        int rc = sqlite3_prepare_v2(q->db, sql, -1, out, NULL);

        if (rc != SQLITE_OK)
                return sq_fail(q, rc, err, "prepare");
        return 0;
}

int sq_step_done(struct sq *q, sqlite3_stmt *st, struct errbuf *err, const char *what)
{
        int rc;

        do
                rc = sqlite3_step(st);
        while (rc == SQLITE_ROW);
        if (rc != SQLITE_DONE) {
                rc = sq_fail(q, rc, err, what);
                (void)sqlite3_reset(st);
                return rc;
        }
        (void)sqlite3_reset(st);
        return 0;
}

int sq_exec(struct sq *q, const char *sql, struct errbuf *err)
{
        char *msg = NULL;
        int rc = sqlite3_exec(q->db, sql, NULL, NULL, &msg);

        if (rc != SQLITE_OK) {
                int code = sq_fail(q, rc, err, "exec");

                if (msg)
                        (void)errbuf_set(err, code, "sqlite: %s", msg);
                sqlite3_free(msg);
                return code;
        }
        return 0;
}

int sq_int(struct sq *q, const char *sql, int64_t *out, struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sq_prepare(q, sql, &st, err);
        if (rc < 0)
                return rc;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *out = sqlite3_column_int64(st, 0);
                rc = 0;
        } else if (rc == SQLITE_DONE) {
                *out = 0;
                rc = 0;
        } else {
                rc = sq_fail(q, rc, err, "query");
        }
        sqlite3_finalize(st);
        return rc;
}

static int sq_text(struct sq *q, const char *sql, char *out, size_t size, struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sq_prepare(q, sql, &st, err);
        if (rc < 0)
                return rc;
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const unsigned char *t = sqlite3_column_text(st, 0);

                (void)str_copy(out, t ? (const char *)t : "", size);
                rc = 0;
        } else {
                rc = sq_fail(q, rc, err, "query");
        }
        sqlite3_finalize(st);
        return rc;
}

/* Build "coalesce(length(CAST("a" AS BLOB)),0)+..." over the table's columns. */
static int add_column(struct buf *b, const char *col)
{
        char *quoted = sqlite3_mprintf("\"%w\"", col);
        int rc;

        if (!quoted)
                return -ENOMEM;
        rc = buf_printf(b, "%scoalesce(length(CAST(%s AS BLOB)),0)", b->len ? "+" : "", quoted);
        sqlite3_free(quoted);
        return rc;
}

static int introspect_table(struct sq *q, enum store_table t, struct errbuf *err)
{
        struct sq_table *tb = &q->t[t];
        sqlite3_stmt *st = NULL;
        struct buf expr;
        char *sql = NULL;
        int rc;

        buf_init(&expr, 8192);
        sql = sqlite3_mprintf("SELECT name FROM pragma_table_info('%q')", store_table_name(t));
        if (!sql) {
                rc = errbuf_set(err, -ENOMEM, "out of memory");
                goto out;
        }
        rc = sq_prepare(q, sql, &st, err);
        if (rc < 0)
                goto out;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *col = (const char *)sqlite3_column_text(st, 0);

                if (!col)
                        continue;
                tb->present = true;
                if (strcmp(col, "deleted_at") == 0)
                        tb->has_deleted_at = true;
                else if (strcmp(col, "created_at") == 0)
                        tb->has_created_at = true;
                else if (strcmp(col, "updated_at") == 0)
                        tb->has_updated_at = true;
                if (add_column(&expr, col) < 0) {
                        rc = errbuf_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        if (rc != SQLITE_DONE) {
                rc = sq_fail(q, rc, err, "table_info");
                goto out;
        }
        if (tb->present) {
                free(tb->bytes_expr);
                tb->bytes_expr = buf_steal(&expr);
                if (!tb->bytes_expr) {
                        rc = errbuf_set(err, -ENOMEM, "out of memory");
                        goto out;
                }
        }
        q->base.info.has_table[t] = tb->present;
        rc = 0;
out:
        sqlite3_finalize(st);
        sqlite3_free(sql);
        buf_cleanup(&expr);
        return rc;
}

/*
 * The columns every rule relies on. A table that lacks one of them is treated as absent, so no
 * rule ever runs SQL against a shape it was not written for.
 */
static bool table_usable(struct sq *q, enum store_table t)
{
        const struct sq_table *tb = &q->t[t];

        if (!tb->present)
                return false;
        switch (t) {
        case STORE_T_SESSION:
        case STORE_T_TASK:
        case STORE_T_CREWAI_MEMORY:
        case STORE_T_CREWAI_FLOW:
                return tb->has_created_at && tb->has_updated_at;
        case STORE_T_EVENT:
        case STORE_T_CHECKPOINT:
        case STORE_T_CHECKPOINT_WRITE:
        case STORE_T_PUSH:
        case STORE_T_FEEDBACK:
                return tb->has_created_at;
        case STORE_T_SESSION_SHARE:
        case STORE_T_COUNT:
                break;
        }
        return false;
}

static int introspect(struct sq *q, struct errbuf *err)
{
        int64_t n = 0;
        int rc;

        for (int t = 0; t < STORE_T_COUNT; t++) {
                rc = introspect_table(q, (enum store_table)t, err);
                if (rc < 0)
                        return rc;
                if (q->t[t].present && !table_usable(q, (enum store_table)t)) {
                        log_debug("table has an unexpected shape, skipped",
                                  LOG_STR("table", store_table_name((enum store_table)t)));
                        q->t[t].present = false;
                        q->base.info.has_table[t] = false;
                }
        }
        if (!q->t[STORE_T_SESSION].present && !q->t[STORE_T_EVENT].present)
                return errbuf_set(err, -EPROTO,
                                  "'%s' is not a kagent database: no session or event table",
                                  q->path);
        rc = sq_int(q, "SELECT count(*) FROM pragma_table_info('memory') WHERE name='embedding'",
                    &n, err);
        if (rc < 0)
                return rc;
        if (n > 0)
                q->base.info.schema = STORE_SCHEMA_TURSO_SQLITE;
        rc = sq_int(q, "SELECT count(*) FROM pragma_function_list WHERE name='json_extract'", &n,
                    err);
        if (rc < 0)
                return rc;
        if (n == 0)
                return errbuf_set(err, -ENOTSUP, "the SQLite library lacks the JSON functions");
        rc = sq_int(q, "SELECT count(*) FROM pragma_module_list WHERE name='dbstat'", &n, err);
        if (rc < 0)
                return rc;
        q->has_dbstat = n > 0;
        return 0;
}

/* Read the 100-byte file header: is this SQLite, and is it in WAL mode (format version 2)? */
static int read_header(const char *path, unsigned char hdr[SQ_HEADER_SIZE], struct errbuf *err)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return errbuf_set(err, -errno, "sqlite database '%s': %s", path,
                                  errno == ENOENT ? "does not exist" : "cannot be opened");
        n = pread(fd, hdr, SQ_HEADER_SIZE, 0);
        close(fd);
        if (n == 0)
                memset(hdr, 0, SQ_HEADER_SIZE);
        else if (n != SQ_HEADER_SIZE || memcmp(hdr, "SQLite format 3", 16) != 0)
                return errbuf_set(err, -EINVAL, "'%s' is not an SQLite database", path);
        return (int)n;
}

static int open_db(struct sq *q, struct errbuf *err)
{
        int flags = (q->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
        int rc;

        rc = sqlite3_open_v2(q->path, &q->db, flags, NULL);
        if (rc != SQLITE_OK)
                return sq_fail(q, rc, err, "open");
        (void)sqlite3_extended_result_codes(q->db, 1);
        (void)sqlite3_busy_timeout(q->db, q->busy_timeout_ms);
        /*
         * Scratch tables stay in memory, never on the shared (possibly full) volume.
         * secure_delete=FAST zeroes freed content where that costs no extra I/O: nearly the
         * speed of OFF, and most deleted conversation text is not left readable in free pages.
         */
        rc = sq_exec(q, "PRAGMA temp_store=MEMORY; PRAGMA secure_delete=FAST;", err);
        if (rc < 0)
                return rc;
        return introspect(q, err);
}

/*
 * Settings for the length of a run. While nobody else writes, reads go through a memory map:
 * planning and deleting read the same pages again and again, and each read through the page
 * cache copied a whole page (a third of the run's time on a 400 MB file). Once another
 * connection commits, the map goes (sq_poll_writers()): SQLite drops the whole map at each foreign
 * commit, and faulting the pages in again cost more than the copies saved. It comes back once
 * nobody has committed for STORE_WRITERS_RECENT_MS (sq_others_waiting()). A rollback journal
 * is kept between the run's transactions (journal_mode=PERSIST, only where kagent's DELETE mode
 * is set): each batch writes over the last one's journal instead of creating, growing and
 * deleting a file, and needs no new space on a full volume. All of it ends with the run
 * (sq_run_untune()): the map would keep the pages read in our resident set, the journal file
 * would keep its space on the volume.
 *
 * While the map covers the whole file, none of our own reads is a read(2) of it, and any read
 * of it is another process's. The run watches the file for them (inotify, IN_ACCESS): a kagent
 * writer that finds our transaction running sleeps in SQLite's busy handler, invisible to
 * fcntl, but at every attempt (the first and each retry) it takes a shared lock and reads the
 * database's change counter. That read is what sq_others_waiting() reports.
 */
/* kagent counts as about for this long after its last commit or read (spill_policy()). */
#define SQ_ACTIVE_MS 30000
/* SQLite's own ceiling (SQLITE_MAX_MMAP_SIZE, 0x7fff0000 on Linux): files up to 2 GiB. */
#define SQ_RUN_MMAP_BYTES "2147418112"

static void watch_close(struct sq *q)
{
        if (q->watch_fd >= 0)
                (void)close(q->watch_fd);
        q->watch_fd = -1;
        q->waiting_seen = false;
}

/*
 * Watch the database file for reads (rollback journal modes only: in WAL mode a waiting writer
 * retries on the -shm file's locks and reads nothing of the database file).
 */
static void watch_open(struct sq *q, const char *journal_mode)
{
        int fd;

        watch_close(q);
        if (strcmp(journal_mode, "delete") != 0 && strcmp(journal_mode, "persist") != 0 &&
            strcmp(journal_mode, "truncate") != 0)
                return;
        fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) {
                log_debug("sqlite: no inotify; pausing between batches without it",
                          LOG_INT("errno", errno));
                return;
        }
        if (inotify_add_watch(fd, q->path, IN_ACCESS | IN_MODIFY) < 0) {
                log_debug("sqlite: cannot watch the database file; pausing without it",
                          LOG_INT("errno", errno));
                (void)close(fd);
                return;
        }
        q->watch_fd = fd;
}

#define WATCH_READ  1 /* the file was read */
#define WATCH_WRITE 2 /* the file was written */

/*
 * Read every queued event: WATCH_READ and WATCH_WRITE for what was seen (both when events were
 * lost), negative when the watch is gone (the file was removed or replaced).
 */
static int watch_drain(struct sq *q)
{
        union {
                struct inotify_event ev;
                char bytes[4096];
        } buf;
        int seen = 0;

        for (;;) {
                ssize_t n = read(q->watch_fd, buf.bytes, sizeof(buf.bytes));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN ? seen : -errno;
                if (n == 0)
                        return seen;
                for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
                        struct inotify_event ev;

                        memcpy(&ev, buf.bytes + off, sizeof(ev));
                        if (ev.mask & IN_IGNORED)
                                return -ENOENT;
                        if (ev.mask & (IN_ACCESS | IN_Q_OVERFLOW))
                                seen |= WATCH_READ;
                        if (ev.mask & (IN_MODIFY | IN_Q_OVERFLOW))
                                seen |= WATCH_WRITE;
                        off += (ssize_t)sizeof(ev) + ev.len;
                }
        }
}

/*
 * Drain the watch: 1 a read was seen (now or before), 0 none, -1 no watch. A write counts as
 * another connection's unless 'ours' (during or right after a transaction of our own: nobody
 * else can write the file then).
 */
static int watch_poll(struct sq *q, bool ours)
{
        int seen;

        if (q->watch_fd < 0)
                return -1;
        seen = watch_drain(q);
        if (seen < 0) {
                log_debug("sqlite: the database file's watch ended", LOG_INT("errno", -seen));
                watch_close(q);
                return -1;
        }
        if ((seen & WATCH_WRITE) && !ours)
                q->foreign_write = true;
        if (seen & WATCH_READ) {
                q->waiting_seen = true;
                if (q->run_mmap && q->map_covers) /* none of them ours */
                        q->read_ms = clock_mono_ms();
        }
        return q->waiting_seen;
}

static int64_t file_size(const char *path, const char *suffix);

/*
 * Does the map reach every page? Only then are all of our reads of the file silent. SQLite maps
 * the file at its first page read: one read here, so that the change counter read at the start
 * of our next transaction already comes from the map. Neither waits for a lock another process
 * holds (the run's own statements will): where that read cannot be done now, the first batch
 * maps the file, and its one read(2) costs one pause.
 */
static void map_check(struct sq *q)
{
        int64_t limit = 0;
        int64_t size = file_size(q->path, "");
        int64_t n = 0;

        q->map_covers = q->run_mmap && sq_int(q, "PRAGMA mmap_size", &limit, NULL) == 0 &&
                        size > 0 && size <= limit;
        if (!q->map_covers)
                return;
        (void)sqlite3_busy_timeout(q->db, 0);
        (void)sq_int(q, "SELECT count(*) FROM main.sqlite_schema", &n, NULL);
        (void)sqlite3_busy_timeout(q->db, q->busy_timeout_ms);
}

static void drop_map(struct sq *q)
{
        if (q->run_mmap && sq_exec(q, "PRAGMA mmap_size=0", NULL) == 0) {
                q->run_mmap = false;
                q->map_covers = false;
                q->map_dropped = true;
                log_debug("sqlite: another connection writes; reading without the memory map");
        }
}

/*
 * A batch's changes stay in memory until its commit, unless the page cache fills up: then it
 * spills them into the file, which takes the exclusive lock for the rest of the transaction
 * (most batches of a large run did), and kagent's readers and writers wait for it without
 * reading the file, unseen by the watch (a writer waited up to 55 ms, 4-10 ms without spills).
 * A batch is bounded (batch.maxRows, batch.maxLockDuration), and so is what it keeps. Keeping
 * it all costs the run time (about 4%), so it is done while kagent is about: for
 * SQ_ACTIVE_MS after another connection's last commit or another process's last read.
 */
static void spill_policy(struct sq *q)
{
        int64_t now = clock_mono_ms();
        bool off = (q->foreign_ms > 0 && now - q->foreign_ms <= SQ_ACTIVE_MS) ||
                   (q->read_ms > 0 && now - q->read_ms <= SQ_ACTIVE_MS);

        if (!q->db || off == q->spill_off)
                return;
        if (sq_exec(q, off ? "PRAGMA cache_spill=OFF" : "PRAGMA cache_spill=ON", NULL) == 0)
                q->spill_off = off;
}

static void poll_writers(struct sq *q)
{
        int64_t v = 0;

        /*
         * The first read transaction after another connection's commit unmaps the whole file,
         * holding its shared lock meanwhile (tens of milliseconds for a large file), and that
         * writer's next commit waits for the lock: drop the map first, outside any transaction.
         */
        (void)watch_poll(q, false);
        if (q->foreign_write) {
                q->foreign_write = false;
                if (q->db && sqlite3_get_autocommit(q->db))
                        drop_map(q);
        }
        if (!q->db || sq_int(q, "PRAGMA data_version", &v, NULL) < 0) {
                q->foreign_pending = true; /* cannot tell: pacing stays on */
                q->foreign_ms = clock_mono_ms();
                return;
        }
        if (v == q->data_version)
                return;
        q->data_version = v;
        q->foreign_pending = true;
        q->foreign_ms = clock_mono_ms();
        drop_map(q);
}

void sq_poll_writers(struct sq *q)
{
        poll_writers(q);
        if (q->run_tuned)
                spill_policy(q);
}

void sq_note_commit(struct sq *q)
{
        (void)watch_poll(q, true);
}

static void sq_run_tune(struct sq *q)
{
        char mode[16];

        if (!q->db || q->read_only || q->run_tuned)
                return;
        q->run_tuned = true;
        q->read_ms = 0;
        sq_poll_writers(q); /* commits from before the run do not end its map */
        q->run_mmap = sq_exec(q, "PRAGMA mmap_size=" SQ_RUN_MMAP_BYTES, NULL) == 0;
        q->map_dropped = false;
        map_check(q);
        if (sq_text(q, "PRAGMA journal_mode", mode, sizeof(mode), NULL) < 0)
                return;
        watch_open(q, mode);
        if (strcmp(mode, "delete") == 0 &&
            sq_text(q, "PRAGMA journal_mode=PERSIST", mode, sizeof(mode), NULL) == 0)
                q->journal_persist = strcmp(mode, "persist") == 0;
}

/*
 * Back to DELETE: SQLite removes the journal file then, unless another connection is writing
 * (that one, in DELETE mode, removes it when it commits).
 */
static void sq_run_untune(struct sq *q)
{
        char mode[16];

        watch_close(q);
        if (!q->db || !q->run_tuned || !sqlite3_get_autocommit(q->db))
                return;
        if (q->journal_persist &&
            sq_text(q, "PRAGMA journal_mode=DELETE", mode, sizeof(mode), NULL) == 0)
                q->journal_persist = strcmp(mode, "delete") != 0;
        if (sq_exec(q, "PRAGMA mmap_size=0", NULL) == 0)
                q->run_mmap = false;
        if (q->spill_off && sq_exec(q, "PRAGMA cache_spill=ON", NULL) == 0)
                q->spill_off = false;
        q->map_covers = false;
        q->map_dropped = false;
        q->run_tuned = q->journal_persist || q->run_mmap;
}

static void close_db(struct sq *q)
{
        sq_run_untune(q);
        for (int i = 0; i < 2; i++) {
                sqlite3_finalize(q->recheck[i]);
                q->recheck[i] = NULL;
        }
        sq_sessions_forget(q);
        if (q->db) {
                (void)sqlite3_close_v2(q->db);
                q->db = NULL;
        }
        q->act_ready = false;
        q->sess_pending = false;
}

/* Try the exclusive flock that kagent's Turso engine holds while it runs. */
static int flock_try(struct sq *q)
{
        if (q->lock_fd < 0) {
                q->lock_fd = open(q->path, O_RDONLY | O_CLOEXEC);
                if (q->lock_fd < 0)
                        return -errno;
        }
        if (flock(q->lock_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? 0 : -errno;
        return 1;
}

static void flock_release(struct sq *q)
{
        if (q->lock_fd >= 0) {
                (void)flock(q->lock_fd, LOCK_UN);
                close(q->lock_fd);
                q->lock_fd = -1;
        }
        q->flock_held = false;
}

static void set_not_writable(struct sq *q, const char *reason)
{
        q->base.info.writable = false;
        (void)str_copy(q->base.info.not_writable_reason, reason,
                       sizeof(q->base.info.not_writable_reason));
}

static int sq_open(struct store *s, const struct store_config *cfg, struct errbuf *err)
{
        struct sq *q = sq_of(s);
        unsigned char hdr[SQ_HEADER_SIZE] = { 0 };
        int rc;

        q->lock_fd = -1;
        q->watch_fd = -1;
        q->plan_dv = -1;
        q->read_only = cfg->read_only;
        q->busy_timeout_ms = cfg->busy_timeout_ms > 0 ? cfg->busy_timeout_ms : 5000;
        q->read_budget_ms = 20;
        if (!cfg->sqlite_path || !cfg->sqlite_path[0])
                return errbuf_set(err, -EINVAL, "no sqlite database path");
        q->path = strdup(cfg->sqlite_path);
        if (!q->path)
                return errbuf_set(err, -ENOMEM, "out of memory");
        rc = read_header(q->path, hdr, err);
        if (rc < 0)
                return rc;
        s->info.schema = STORE_SCHEMA_GORM_SQLITE;
        (void)snprintf(s->info.engine_version, sizeof(s->info.engine_version), "sqlite %s",
                       sqlite3_libversion());
        /* kagent's modernc driver never enables WAL; the Turso engine only runs in WAL. */
        if (rc == SQ_HEADER_SIZE && hdr[18] == 2 && hdr[19] == 2)
                s->info.schema = STORE_SCHEMA_TURSO_SQLITE;
        rc = flock_try(q);
        if (rc < 0)
                return errbuf_set(err, rc, "sqlite database '%s': flock probe failed", q->path);
        if (rc == 0) {
                /*
                 * Another process holds an exclusive flock: kagent's Turso engine. libsqlite3's
                 * fcntl locks do not see it, so even opening the file here could checkpoint its
                 * WAL under it. Measure from the file header alone.
                 */
                s->info.schema = STORE_SCHEMA_TURSO_SQLITE;
                for (int t = 0; t < STORE_T_COUNT; t++)
                        s->info.has_table[t] = false;
                set_not_writable(q, "held by kagent's Turso engine (exclusive flock): "
                                    "measuring only; pruning needs kagent stopped");
                flock_release(q);
                return 0;
        }
        rc = open_db(q, err);
        if (rc < 0) {
                flock_release(q);
                return rc;
        }
        if (s->info.schema == STORE_SCHEMA_TURSO_SQLITE) {
                /* Only ever touch a Turso file under its flock: close until a run takes it. */
                close_db(q);
        }
        flock_release(q);
        s->info.writable = !q->read_only;
        if (q->read_only)
                set_not_writable(q, "opened read-only");
        return 0;
}

static void sq_close(struct store *s)
{
        struct sq *q = sq_of(s);

        close_db(q);
        flock_release(q);
        for (int t = 0; t < STORE_T_COUNT; t++)
                free(q->t[t].bytes_expr);
        free(q->path);
        free(q);
}

static int sq_writer_acquire(struct store *s, struct errbuf *err)
{
        struct sq *q = sq_of(s);
        int rc;

        if (q->read_only) {
                set_not_writable(q, "opened read-only");
                return 0;
        }
        rc = flock_try(q);
        if (rc < 0)
                return errbuf_set(err, rc, "sqlite database '%s': flock probe failed", q->path);
        if (rc == 0) {
                set_not_writable(q, s->info.schema == STORE_SCHEMA_TURSO_SQLITE
                                            ? "held by kagent's Turso engine (exclusive flock): "
                                              "measuring only; pruning needs kagent stopped"
                                            : "another process holds an exclusive flock on the "
                                              "database file");
                flock_release(q);
                return 0;
        }
        if (s->info.schema != STORE_SCHEMA_TURSO_SQLITE) {
                /* kagent's own driver uses fcntl locks; the flock is only a probe. */
                flock_release(q);
                if (!q->db) {
                        /* sq_release() could not reopen after the last run. */
                        rc = open_db(q, err);
                        if (rc < 0) {
                                close_db(q);
                                return rc;
                        }
                }
        } else {
                q->flock_held = true;
                if (!q->db) {
                        rc = open_db(q, err);
                        if (rc < 0) {
                                close_db(q);
                                flock_release(q);
                                return rc;
                        }
                }
        }
        s->info.writable = true;
        s->info.not_writable_reason[0] = '\0';
        return 1;
}

static void sq_writer_release(struct store *s)
{
        struct sq *q = sq_of(s);

        if (q->flock_held) {
                /* Close first: a WAL checkpoint on close must happen under the flock. */
                close_db(q);
                flock_release(q);
        }
}

static int64_t file_size(const char *path, const char *suffix)
{
        char p[4096];
        struct stat st;

        if ((size_t)snprintf(p, sizeof(p), "%s%s", path, suffix) >= sizeof(p))
                return 0;
        if (stat(p, &st) < 0)
                return 0;
        return (int64_t)st.st_size;
}

static uint32_t be32(const unsigned char *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Page numbers from the file header, for a file we may not open. */
static int measure_header(struct sq *q, struct store_usage *u, struct errbuf *err)
{
        unsigned char hdr[SQ_HEADER_SIZE] = { 0 };
        int rc = read_header(q->path, hdr, err);

        if (rc < 0)
                return rc;
        if (rc != SQ_HEADER_SIZE)
                return 0;
        u->page_size = (int64_t)((unsigned)hdr[16] << 8 | hdr[17]);
        if (u->page_size == 1)
                u->page_size = 65536;
        u->page_count = be32(hdr + 28);
        u->freelist_count = be32(hdr + 36);
        (void)str_copy(u->journal_mode, hdr[18] == 2 ? "wal" : "delete", sizeof(u->journal_mode));
        (void)str_copy(u->auto_vacuum,
                       be32(hdr + 52) ? (be32(hdr + 64) ? "incremental" : "full") : "none",
                       sizeof(u->auto_vacuum));
        return 0;
}

static int cmp_usage(const void *a, const void *b)
{
        const struct store_table_usage *x = a;
        const struct store_table_usage *y = b;

        if (x->bytes != y->bytes)
                return x->bytes < y->bytes ? 1 : -1;
        return strcmp(x->name, y->name);
}

static int measure_tables(struct sq *q, struct store_usage *u, struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        int rc;

        /* dbstat reads every page; it runs only when asked (report, the periodic full scan). */
        rc = sq_prepare(q,
                        q->has_dbstat
                                ? "SELECT m.name, coalesce((SELECT sum(d.pgsize) FROM dbstat d "
                                  "JOIN sqlite_schema x ON x.name = d.name "
                                  "WHERE x.tbl_name = m.name), 0) FROM sqlite_schema m "
                                  "WHERE m.type = 'table' ORDER BY m.name"
                                : "SELECT name, -1 FROM sqlite_schema WHERE type = 'table' "
                                  "ORDER BY name",
                        &st, err);
        if (rc < 0)
                return rc;
        u->tables_exact = q->has_dbstat;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && u->n_tables < STORE_TABLES_MAX) {
                struct store_table_usage *tu = &u->tables[u->n_tables];
                const char *name = (const char *)sqlite3_column_text(st, 0);

                if (!name)
                        continue;
                (void)str_copy(tu->name, name, sizeof(tu->name));
                tu->bytes = sqlite3_column_int64(st, 1);
                tu->rows = -1;
                u->n_tables++;
        }
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
                rc = sq_fail(q, rc, err, "dbstat");
                sqlite3_finalize(st);
                return rc;
        }
        sqlite3_finalize(st);
        for (size_t i = 0; i < u->n_tables; i++) {
                char *sql = sqlite3_mprintf("SELECT count(*) FROM main.\"%w\"", u->tables[i].name);

                if (!sql)
                        return errbuf_set(err, -ENOMEM, "out of memory");
                rc = sq_int(q, sql, &u->tables[i].rows, err);
                sqlite3_free(sql);
                if (rc < 0)
                        return rc;
        }
        qsort(u->tables, u->n_tables, sizeof(u->tables[0]), cmp_usage);
        return 0;
}

static int sq_measure(struct store *s, bool per_table, struct store_usage *out, struct errbuf *err)
{
        struct sq *q = sq_of(s);
        struct store_usage u;
        int rc;

        memset(&u, 0, sizeof(u));
        u.main_bytes = file_size(q->path, "");
        u.wal_bytes = file_size(q->path, "-wal");
        u.shm_bytes = file_size(q->path, "-shm");
        u.journal_bytes = file_size(q->path, "-journal");
        u.db_bytes = u.main_bytes + u.wal_bytes + u.shm_bytes + u.journal_bytes;
        if (!q->db) {
                rc = measure_header(q, &u, err);
                if (rc < 0)
                        return rc;
        } else {
                if ((rc = sq_int(q, "PRAGMA page_size", &u.page_size, err)) < 0 ||
                    (rc = sq_int(q, "PRAGMA page_count", &u.page_count, err)) < 0 ||
                    (rc = sq_int(q, "PRAGMA freelist_count", &u.freelist_count, err)) < 0 ||
                    (rc = sq_text(q, "PRAGMA journal_mode", u.journal_mode, sizeof(u.journal_mode),
                                  err)) < 0)
                        return rc;
                {
                        int64_t av = 0;
                        static const char *const modes[] = { "none", "full", "incremental" };

                        rc = sq_int(q, "PRAGMA auto_vacuum", &av, err);
                        if (rc < 0)
                                return rc;
                        (void)str_copy(u.auto_vacuum, av >= 0 && av <= 2 ? modes[av] : "none",
                                       sizeof(u.auto_vacuum));
                }
                if (per_table) {
                        rc = measure_tables(q, &u, err);
                        if (rc < 0)
                                return rc;
                }
        }
        u.free_bytes = u.freelist_count * u.page_size;
        *out = u;
        return 0;
}

static int sq_run_begin(struct store *s, struct errbuf *err)
{
        struct sq *q = sq_of(s);
        int rc;

        if (!q->db)
                return errbuf_set(err, -EROFS, "%s", s->info.not_writable_reason);
        rc = sq_temp_setup(q, err);
        if (rc < 0)
                return rc;
        q->act_ready = false;
        q->cursor = 0;
        q->sess_pending = false;
        q->sess_cursor = 0;
        sq_run_tune(q);
        return 0;
}

static int sq_plan_discard(struct store *s, struct errbuf *err)
{
        struct sq *q = sq_of(s);

        if (!q->db)
                return 0;
        q->sess_pending = false;
        return sq_exec(q,
                       "DELETE FROM temp.kr_cand; DELETE FROM temp.kr_skey; "
                       "DELETE FROM temp.kr_sess;",
                       err);
}

static bool sq_others_wrote(struct store *s)
{
        struct sq *q = sq_of(s);
        bool changed;

        sq_poll_writers(q);
        changed = q->foreign_pending;
        q->foreign_pending = false;
        return changed;
}

bool sq_waiting_now(struct sq *q)
{
        if (!q->run_mmap || !q->map_covers)
                return false;
        return watch_poll(q, true) > 0;
}

static int sq_others_waiting(struct store *s)
{
        struct sq *q = sq_of(s);
        int seen = watch_poll(q, q->db && !sqlite3_get_autocommit(q->db));

        q->waiting_seen = false;
        if (seen < 0)
                return -1;
        if (q->map_dropped && clock_mono_ms() - q->foreign_ms > STORE_WRITERS_RECENT_MS &&
            sq_exec(q, "PRAGMA mmap_size=" SQ_RUN_MMAP_BYTES, NULL) == 0) {
                /* Nobody writes any more: the map comes back. Reads until now were ours too. */
                int64_t read_ms = q->read_ms;

                q->run_mmap = true;
                q->map_dropped = false;
                map_check(q);
                (void)watch_poll(q, false); /* the reads that mapped it */
                q->waiting_seen = false;
                q->read_ms = read_ms;
                log_debug("sqlite: nobody else writes; reading through the memory map again");
                return -1;
        }
        return q->run_mmap && q->map_covers ? seen : -1;
}

static int sq_check(struct store *s, struct errbuf *err)
{
        struct sq *q = sq_of(s);
        char res[160];
        int rc;

        if (!q->db)
                return 0;
        rc = sq_text(q, "PRAGMA quick_check", res, sizeof(res), err);
        if (rc < 0)
                return rc;
        if (strcmp(res, "ok") != 0)
                return errbuf_set(err, -EIO, "sqlite database '%s' failed quick_check: %s", q->path,
                                  res);
        return 0;
}

/*
 * Unused page cache goes back with sqlite3_db_release_memory(). After a run, a fresh connection
 * is the only way to give back the rest: the planning tables live in an in-memory temp database,
 * which never shrinks. If that reopen fails, the next run opens the database again
 * (sq_writer_acquire).
 */
static void sq_release(struct store *s)
{
        struct sq *q = sq_of(s);
        struct errbuf err;

        if (!q->db || q->flock_held || !sqlite3_get_autocommit(q->db))
                return;
        if (!q->temp_used) {
                sq_run_untune(q);
                (void)sqlite3_db_release_memory(q->db);
                return;
        }
        close_db(q);
        q->temp_used = false;
        errbuf_clear(&err);
        if (open_db(q, &err) < 0) {
                log_warn("sqlite: reopening the database after a run failed; the next run retries",
                         LOG_STR("error", errbuf_msg(&err)));
                close_db(q);
                return;
        }
        /* A new connection counts data_version from its own start: re-prime the baseline. */
        (void)sq_int(q, "PRAGMA data_version", &q->data_version, NULL);
        q->plan_dv = -1;
}

const struct store_ops store_sqlite_ops = {
        .open = sq_open,
        .close = sq_close,
        .writer_acquire = sq_writer_acquire,
        .writer_release = sq_writer_release,
        .measure = sq_measure,
        .run_begin = sq_run_begin,
        .plan = sq_plan,
        .delete_batch = sq_delete_batch,
        .plan_discard = sq_plan_discard,
        .others_wrote = sq_others_wrote,
        .others_waiting = sq_others_waiting,
        .reclaim = sq_reclaim,
        .check = sq_check,
        .release = sq_release,
};

const size_t store_sqlite_size = sizeof(struct sq);
