/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite space reclaim after a prune. Deleted rows free pages inside the file; the file does not
 * shrink. With auto_vacuum=INCREMENTAL the free pages are returned in small
 * incremental_vacuum steps, each a short write transaction, paused between. A full VACUUM
 * (which holds the write lock for its whole duration and writes a rollback journal as large as
 * the live data) runs only when the volume has room for that journal, kagent's writers have
 * been idle, and the estimated duration stays far below kagent's 5 s busy timeout; its
 * temporary copy goes to the sidecar's own temporary directory, never the shared volume.
 */
#define LOG_MODULE "store"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "base/str.h"
#include "log/log.h"
#include "store/sqlite_internal.h"

#define INCREMENTAL_STEP_BYTES (10 << 20)  /* ~17-20 ms of lock per step, measured */
#define VACUUM_BYTES_PER_S     (200 << 20) /* conservative VACUUM rate on tmpfs */
#define VACUUM_MAX_MS          1500        /* well inside kagent's 5 s busy timeout */
#define VACUUM_IDLE_MS         60000       /* kagent idle this long before a full VACUUM */
#define VACUUM_MIN_FREE_RATIO  0.10        /* Vacuum and Auto modes: > 10% of the file free */

struct pages {
        int64_t size, count, free, auto_vacuum;
        char journal[16];
};

static int read_pages(struct sq *q, struct pages *pg, struct errbuf *err)
{
        sqlite3_stmt *st = NULL;
        int rc;

        memset(pg, 0, sizeof(*pg));
        if ((rc = sq_int(q, "PRAGMA page_size", &pg->size, err)) < 0 ||
            (rc = sq_int(q, "PRAGMA page_count", &pg->count, err)) < 0 ||
            (rc = sq_int(q, "PRAGMA freelist_count", &pg->free, err)) < 0 ||
            (rc = sq_int(q, "PRAGMA auto_vacuum", &pg->auto_vacuum, err)) < 0)
                return rc;
        rc = sq_prepare(q, "PRAGMA journal_mode", &st, err);
        if (rc < 0)
                return rc;
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                (void)str_copy(pg->journal, (const char *)sqlite3_column_text(st, 0),
                               sizeof(pg->journal));
        sqlite3_finalize(st);
        return 0;
}

static int64_t files_size(const struct sq *q)
{
        char p[4096];
        struct stat st;
        int64_t n = 0;

        if (stat(q->path, &st) == 0)
                n += st.st_size;
        if ((size_t)snprintf(p, sizeof(p), "%s-wal", q->path) < sizeof(p) && stat(p, &st) == 0)
                n += st.st_size;
        return n;
}

/* Return free pages to the file system in short steps. */
static int incremental(struct sq *q, const struct store_reclaim_params *p, const struct pages *pg,
                       struct errbuf *err)
{
        int64_t step = INCREMENTAL_STEP_BYTES / (pg->size > 0 ? pg->size : 4096);
        int64_t t0 = clock_mono_ms();
        int64_t left = pg->free;
        char sql[64];

        (void)snprintf(sql, sizeof(sql), "PRAGMA incremental_vacuum(%lld)", (long long)step);
        while (left > 0 && !(p->stop && *p->stop)) {
                int rc = sq_exec(q, sql, err);

                sq_note_commit(q);
                if (rc < 0)
                        return rc;
                rc = sq_int(q, "PRAGMA freelist_count", &left, err);
                if (rc < 0)
                        return rc;
                if (p->max_ms > 0 && clock_mono_ms() - t0 > p->max_ms)
                        break;
                if (left > 0 && p->step_pause_ms > 0)
                        clock_sleep_ms(p->step_pause_ms, p->stop);
        }
        return 0;
}

/* Why a full VACUUM may not run now; NULL when it may. */
static const char *vacuum_blocker(const struct store_reclaim_params *p, const struct pages *pg,
                                  char *why, size_t size)
{
        int64_t live = (pg->count - pg->free) * pg->size;
        int64_t need = live + live / 5 + (1 << 20);
        int64_t est_ms = live * 1000 / VACUUM_BYTES_PER_S;

        if (p->volume_free_bytes < 0)
                return "volume free space unknown";
        if (p->volume_free_bytes < need) {
                (void)snprintf(why, size, "volume has %lld bytes free, VACUUM needs %lld",
                               (long long)p->volume_free_bytes, (long long)need);
                return why;
        }
        if (p->writers_idle_ms >= 0 && p->writers_idle_ms < VACUUM_IDLE_MS)
                return "kagent wrote within the last minute";
        if (est_ms > VACUUM_MAX_MS) {
                (void)snprintf(why, size, "VACUUM would hold the lock about %lld ms",
                               (long long)est_ms);
                return why;
        }
        return NULL;
}

static int full_vacuum(struct sq *q, bool to_incremental, const struct pages *pg,
                       struct errbuf *err)
{
        int rc;

        /* The temporary copy goes to the sidecar's own temp directory, not into memory. */
        rc = sq_exec(q, "PRAGMA temp_store=FILE", err);
        if (rc < 0)
                return rc;
        if (to_incremental)
                rc = sq_exec(q, "PRAGMA auto_vacuum=INCREMENTAL", err);
        if (rc == 0) {
                rc = sq_exec(q, "VACUUM", err);
                sq_note_commit(q);
        }
        if (rc == 0 && strcmp(pg->journal, "wal") == 0)
                rc = sq_exec(q, "PRAGMA wal_checkpoint(TRUNCATE)", err);
        (void)sq_exec(q, "PRAGMA temp_store=MEMORY", NULL);
        /* The temp tables of the plan were dropped with the schema change; recreate them. */
        if (rc == 0)
                rc = sq_temp_setup(q, err);
        return rc;
}

int sq_reclaim(struct store *s, const struct store_reclaim_params *p,
               struct store_reclaim_result *out, struct errbuf *err)
{
        struct sq *q = sq_of(s);
        struct store_reclaim_result res;
        struct pages pg;
        char why[88];
        const char *blocker;
        int64_t before;
        bool wal;
        int rc;

        memset(&res, 0, sizeof(res));
        if (!q->db || !s->info.writable) {
                (void)str_copy(res.action, "none: deletes not allowed now", sizeof(res.action));
                *out = res;
                return 0;
        }
        if (p->mode == STORE_RECLAIM_NONE) {
                (void)str_copy(res.action, "none: reclaim.mode is None", sizeof(res.action));
                *out = res;
                return 0;
        }
        rc = read_pages(q, &pg, err);
        if (rc < 0)
                return rc;
        before = files_size(q);
        wal = strcmp(pg.journal, "wal") == 0;
        if (pg.auto_vacuum == 2) {
                rc = incremental(q, p, &pg, err);
                (void)str_copy(res.action, "incremental_vacuum", sizeof(res.action));
        } else if (p->mode == STORE_RECLAIM_INCREMENTAL ||
                   (pg.count > 0 && (double)pg.free / (double)pg.count > VACUUM_MIN_FREE_RATIO)) {
                blocker = vacuum_blocker(p, &pg, why, sizeof(why));
                if (p->mode == STORE_RECLAIM_AUTO && !blocker && p->writers_idle_ms < 0)
                        blocker = "kagent's activity unknown";
                if (blocker) {
                        (void)snprintf(res.action, sizeof(res.action), "none: %s", blocker);
                } else {
                        bool convert = p->mode == STORE_RECLAIM_INCREMENTAL;

                        rc = full_vacuum(q, convert, &pg, err);
                        (void)str_copy(res.action,
                                       convert ? "VACUUM to auto_vacuum=INCREMENTAL" : "VACUUM",
                                       sizeof(res.action));
                }
        } else {
                (void)str_copy(res.action, "none: free pages are reused by kagent's writes",
                               sizeof(res.action));
        }
        if (rc == 0 && wal && strncmp(res.action, "VACUUM", 6) != 0)
                rc = sq_exec(q, "PRAGMA wal_checkpoint(PASSIVE)", err);
        if (rc < 0)
                return rc;
        res.reclaimed_bytes = before - files_size(q);
        if (res.reclaimed_bytes < 0)
                res.reclaimed_bytes = 0;
        log_debug("reclaim", LOG_STR("action", res.action),
                  LOG_INT("reclaimed_bytes", res.reclaimed_bytes));
        *out = res;
        return 0;
}
