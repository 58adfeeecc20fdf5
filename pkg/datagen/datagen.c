/* SPDX-License-Identifier: Apache-2.0 */
/*
 * datagen_write(): plan the rows, then insert them in creation order into a fresh file with
 * kagent's schema, in one transaction with journaling off, and leave the file in the journal
 * mode kagent uses. A size target re-plans once or twice when the estimate was off.
 */
#include "datagen/datagen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "base/clock.h"
#include "base/errbuf.h"
#include "datagen/internal.h"
#define LOG_MODULE "datagen"
#include "log/log.h"

/* Initial estimate -> file size factor (B-tree page fill, indexes), measured for the default
 * mix; a run that misses the target by more than the tolerance re-plans with the factor it
 * measured. v0.5 events (A2A messages) are smaller, so pages pack differently. */
#define SIZE_FACTOR      1.225
#define SIZE_FACTOR_V05  1.165
#define SIZE_TOLERANCE   0.07
#define SIZE_MAX_ATTEMPT 3

void datagen_opts_init(struct datagen_opts *o)
{
        memset(o, 0, sizeof(*o));
        o->layout = DATAGEN_LAYOUT_GORM;
        o->sessions = 200;
        o->days = 30;
        o->seed = 1;
        o->events_per_session = 40;
}

struct exec {
        sqlite3 *db;
        sqlite3_stmt *st[ACT_COUNT];
        struct plan *p;
        struct content c;
        struct datagen_stats *stats;
        char t_created[DATAGEN_TIME_MAX];
        char t_updated[DATAGEN_TIME_MAX];
        char t_deleted[DATAGEN_TIME_MAX];
        char t_extra[DATAGEN_TIME_MAX];
};

static const char *insert_sql(enum act_kind k, enum datagen_layout layout)
{
        bool v05 = layout == DATAGEN_LAYOUT_V05;

        switch (k) {
        case ACT_AGENT:
                return v05 ? "INSERT INTO `agent` (`id`,`created_at`,`updated_at`,`deleted_at`,"
                             "`config`) VALUES (?1,?2,?3,?4,?6)"
                           : "INSERT INTO `agent` (`id`,`created_at`,`updated_at`,`deleted_at`,"
                             "`type`,`config`) VALUES (?1,?2,?3,?4,?5,?6)";
        case ACT_TOOLSERVER:
                return v05 ? "INSERT INTO `toolserver` (`created_at`,`updated_at`,`deleted_at`,"
                             "`name`,`description`,`last_connected`,`config`) "
                             "VALUES (?1,?2,?3,?4,?6,?7,?8)"
                           : "INSERT INTO `toolserver` (`created_at`,`updated_at`,`deleted_at`,"
                             "`name`,`group_kind`,`description`,`last_connected`) "
                             "VALUES (?1,?2,?3,?4,?5,?6,?7)";
        case ACT_TOOL:
                return v05 ? "INSERT INTO `tool` (`id`,`server_name`,`created_at`,`updated_at`,"
                             "`deleted_at`,`description`) VALUES (?1,?2,?4,?5,?6,?7)"
                           : "INSERT INTO `tool` (`id`,`server_name`,`group_kind`,`created_at`,"
                             "`updated_at`,`deleted_at`,`description`) "
                             "VALUES (?1,?2,?3,?4,?5,?6,?7)";
        case ACT_MEMORY:
                return "INSERT INTO memory (id, agent_name, user_id, content, embedding, "
                       "metadata, created_at, expires_at, access_count) "
                       "VALUES (?,?,?,?,?,?,?,?,?)";
        case ACT_SESSION:
                return "INSERT INTO `session` (`id`,`name`,`user_id`,`created_at`,`updated_at`,"
                       "`deleted_at`,`agent_id`) VALUES (?,?,?,?,?,?,?)";
        case ACT_EVENT:
                return "INSERT INTO `event` (`id`,`session_id`,`user_id`,`created_at`,"
                       "`updated_at`,`deleted_at`,`data`) VALUES (?,?,?,?,?,?,?)";
        case ACT_TASK:
                return "INSERT INTO `task` (`id`,`created_at`,`updated_at`,`deleted_at`,`data`,"
                       "`session_id`) VALUES (?,?,?,?,?,?)";
        case ACT_PUSH:
                return "INSERT INTO `push_notification` (`id`,`task_id`,`created_at`,"
                       "`updated_at`,`deleted_at`,`data`) VALUES (?,?,?,?,?,?)";
        case ACT_FEEDBACK:
                return "INSERT INTO `feedback` (`created_at`,`updated_at`,`deleted_at`,`user_id`,"
                       "`message_id`,`is_positive`,`feedback_text`,`issue_type`) "
                       "VALUES (?,?,?,?,?,?,?,?)";
        case ACT_CP:
                return "INSERT INTO `lg_checkpoint` (`user_id`,`thread_id`,`checkpoint_ns`,"
                       "`checkpoint_id`,`parent_checkpoint_id`,`created_at`,`updated_at`,"
                       "`deleted_at`,`metadata`,`checkpoint`,`checkpoint_type`,`version`) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)";
        case ACT_CPW:
                return "INSERT INTO `lg_checkpoint_write` (`user_id`,`thread_id`,"
                       "`checkpoint_ns`,`checkpoint_id`,`write_idx`,`value`,`value_type`,"
                       "`channel`,`task_id`,`created_at`,`updated_at`,`deleted_at`) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)";
        case ACT_CREW_MEM:
                return "INSERT INTO `crewai_agent_memory` (`user_id`,`thread_id`,`created_at`,"
                       "`updated_at`,`deleted_at`,`memory_data`) VALUES (?,?,?,?,?,?)";
        case ACT_CREW_FLOW:
                return "INSERT INTO `crewai_flow_state` (`user_id`,`thread_id`,`method_name`,"
                       "`created_at`,`updated_at`,`deleted_at`,`state_data`) "
                       "VALUES (?,?,?,?,?,?,?)";
        default:
                return NULL;
        }
}

static bool kind_in_layout(enum act_kind k, enum datagen_layout layout)
{
        if (k == ACT_MEMORY)
                return layout == DATAGEN_LAYOUT_TURSO;
        if (k == ACT_CP || k == ACT_CPW || k == ACT_CREW_MEM || k == ACT_CREW_FLOW)
                return layout != DATAGEN_LAYOUT_V05;
        return true;
}

/* ---- binding ---- */

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
        if (s)
                (void)sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
        else
                (void)sqlite3_bind_null(st, i);
}

static void bind_sb(sqlite3_stmt *st, int i, const struct sb *s)
{
        (void)sqlite3_bind_text(st, i, s->b.data ? s->b.data : "", (int)s->b.len, SQLITE_STATIC);
}

static void bind_time(const struct exec *x, sqlite3_stmt *st, int i, int64_t t, char *buf)
{
        if (t == TIME_NONE) {
                (void)sqlite3_bind_null(st, i);
                return;
        }
        datagen_format_time_ns(time_coarsen(t), x->p->layout, buf, DATAGEN_TIME_MAX);
        (void)sqlite3_bind_text(st, i, buf, -1, SQLITE_STATIC);
}

/* Bind created_at, updated_at, deleted_at of 'a' at 'i', i+1, i+2. */
static void bind_times(struct exec *x, sqlite3_stmt *st, int i, const struct act *a)
{
        bind_time(x, st, i, (a->flags & AF_NULL_CREATED) ? TIME_NONE : a->t, x->t_created);
        bind_time(x, st, i + 1, (a->flags & AF_NULL_UPDATED) ? TIME_NONE : a->upd, x->t_updated);
        bind_time(x, st, i + 2, a->del, x->t_deleted);
}

static int step(struct exec *x, sqlite3_stmt *st, struct errbuf *err)
{
        int rc = sqlite3_step(st);

        (void)sqlite3_reset(st);
        if (rc != SQLITE_DONE)
                return errbuf_set(err, -EIO, "insert: %s", sqlite3_errmsg(x->db));
        rc = content_rc(&x->c);
        if (rc < 0)
                return errbuf_set(err, rc, "build payload: %s",
                                  rc == -ENOMEM ? "out of memory" : "too large");
        return 0;
}

static void count_row(struct exec *x, const struct act *a)
{
        struct datagen_stats *s = x->stats;
        uint64_t *per_kind[ACT_COUNT] = {
                [ACT_AGENT] = &s->agents,
                [ACT_TOOLSERVER] = &s->toolservers,
                [ACT_TOOL] = &s->tools,
                [ACT_MEMORY] = &s->memories,
                [ACT_SESSION] = &s->sessions,
                [ACT_EVENT] = &s->events,
                [ACT_TASK] = &s->tasks,
                [ACT_PUSH] = &s->push_notifications,
                [ACT_FEEDBACK] = &s->feedback,
                [ACT_CP] = &s->checkpoints,
                [ACT_CPW] = &s->checkpoint_writes,
                [ACT_CREW_MEM] = &s->crewai_memory,
                [ACT_CREW_FLOW] = &s->crewai_flow_state,
        };

        (*per_kind[a->kind])++;
        if (a->del != TIME_NONE)
                s->soft_deleted_rows++;
        if (a->flags & AF_ORPHAN)
                s->orphan_rows++;
        if (a->flags & (AF_NULL_CREATED | AF_NULL_UPDATED))
                s->null_time_rows++;
}

/* ---- one insert per kind ---- */

static int ins_agent(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        const char *type;
        bool has_config = content_agent(&x->c, a->sess, &type);

        bind_text(st, 1, dg_agents[a->sess].id);
        bind_times(x, st, 2, a);
        bind_text(st, 5, type);
        /* GORM binds the json column's []byte value: a BLOB. */
        if (has_config)
                (void)sqlite3_bind_blob(st, 6, x->c.out.b.data, (int)x->c.out.b.len, SQLITE_STATIC);
        else
                (void)sqlite3_bind_null(st, 6);
        return step(x, st, err);
}

static int ins_toolserver(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        const char *kind;
        const char *desc;
        const char *name = content_toolserver(&x->c, a->sess, &kind, &desc);

        bind_times(x, st, 1, a);
        bind_text(st, 4, name);
        bind_text(st, 5, kind);
        bind_text(st, 6, desc);
        bind_time(x, st, 7, a->aux, x->t_extra);
        /* v0.5 only: the json `config` column (its statement skips ?5, group_kind). */
        if (x->p->layout == DATAGEN_LAYOUT_V05)
                (void)sqlite3_bind_blob(st, 8, x->c.out.b.data, (int)x->c.out.b.len, SQLITE_STATIC);
        return step(x, st, err);
}

static int ins_tool(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        const char *kind;
        const char *desc;
        const char *server = content_toolserver(&x->c, a->sess, &kind, &desc);
        const char *name = content_tool(a->sess, a->step, &desc);

        bind_text(st, 1, name);
        bind_text(st, 2, server);
        bind_text(st, 3, kind);
        bind_times(x, st, 4, a);
        bind_text(st, 7, desc);
        return step(x, st, err);
}

static int ins_memory(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        char id[37];
        const char *agent;
        const char *user;

        content_memory(&x->c, a, id, &agent, &user);
        bind_text(st, 1, id);
        bind_text(st, 2, agent);
        bind_text(st, 3, user);
        bind_sb(st, 4, &x->c.out);
        bind_sb(st, 5, &x->c.aux);
        bind_sb(st, 6, &x->c.meta);
        bind_time(x, st, 7, a->t, x->t_created);
        bind_time(x, st, 8, a->aux, x->t_extra);
        (void)sqlite3_bind_int(st, 9, a->role);
        return step(x, st, err);
}

static int ins_session(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        const struct sess *s = &x->p->sess[a->sess];

        bind_text(st, 1, s->id);
        if (content_session_name(&x->c, a))
                bind_sb(st, 2, &x->c.out);
        else
                (void)sqlite3_bind_null(st, 2);
        bind_text(st, 3, s->user);
        bind_times(x, st, 4, a);
        bind_text(st, 7, (s->flags & SF_NOAGENT) ? NULL : dg_agents[s->agent].id);
        return step(x, st, err);
}

static int ins_event(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        const struct sess *s = &x->p->sess[a->sess];
        char id[37];

        content_event(&x->c, a, id);
        bind_text(st, 1, id);
        bind_text(st, 2, s->id);
        bind_text(st, 3, s->user);
        bind_times(x, st, 4, a);
        bind_sb(st, 7, &x->c.out);
        return step(x, st, err);
}

static int ins_task(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        char id[37];

        content_task(&x->c, a, id);
        bind_text(st, 1, id);
        bind_times(x, st, 2, a);
        bind_sb(st, 5, &x->c.out);
        bind_text(st, 6, x->p->sess[a->sess].id);
        return step(x, st, err);
}

static int ins_push(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        char id[37];
        char task_id[37];

        content_push(&x->c, a, id, task_id);
        bind_text(st, 1, id);
        bind_text(st, 2, task_id);
        bind_times(x, st, 3, a);
        bind_sb(st, 6, &x->c.out);
        return step(x, st, err);
}

static int ins_feedback(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        int positive;
        int64_t message_id;
        const char *issue = content_feedback(&x->c, a, &positive, &message_id);

        bind_times(x, st, 1, a);
        bind_text(st, 4, x->p->sess[a->sess].user);
        (void)sqlite3_bind_int64(st, 5, message_id);
        (void)sqlite3_bind_int(st, 6, positive);
        bind_sb(st, 7, &x->c.out);
        bind_text(st, 8, issue);
        return step(x, st, err);
}

static int ins_checkpoint(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        const struct sess *s = &x->p->sess[a->sess];
        char ns[64];
        char id[37];
        char parent[37];
        bool has_parent;
        int version;

        content_cp_ns(x->p, a, ns, sizeof(ns));
        content_checkpoint(&x->c, a, id, parent, &has_parent, &version);
        bind_text(st, 1, s->user);
        bind_text(st, 2, s->id);
        bind_text(st, 3, ns);
        bind_text(st, 4, id);
        bind_text(st, 5, has_parent ? parent : NULL);
        bind_times(x, st, 6, a);
        bind_sb(st, 9, &x->c.meta);
        bind_sb(st, 10, &x->c.out);
        bind_text(st, 11, "msgpack");
        (void)sqlite3_bind_int(st, 12, version);
        return step(x, st, err);
}

static int ins_writes(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        const struct sess *s = &x->p->sess[a->sess];
        char ns[64];
        char cp_id[37];
        char task_id[37];
        unsigned i;
        int rc = 0;

        content_cp_ns(x->p, a, ns, sizeof(ns));
        content_cpw_checkpoint_id(x->p, a, cp_id);
        for (i = 0; i < a->step && rc == 0; i++) {
                const char *type;
                int idx;
                const char *channel = content_cp_write(&x->c, a, i, &idx, &type, task_id);

                bind_text(st, 1, s->user);
                bind_text(st, 2, s->id);
                bind_text(st, 3, ns);
                bind_text(st, 4, cp_id);
                (void)sqlite3_bind_int(st, 5, idx);
                bind_sb(st, 6, &x->c.out);
                bind_text(st, 7, type);
                bind_text(st, 8, channel);
                bind_text(st, 9, task_id);
                bind_times(x, st, 10, a);
                rc = step(x, st, err);
                if (rc == 0)
                        count_row(x, a);
        }
        return rc;
}

static int ins_crew_memory(struct exec *x, sqlite3_stmt *st, const struct act *a,
                           struct errbuf *err)
{
        const struct sess *s = &x->p->sess[a->sess];

        content_crew_memory(&x->c, a);
        bind_text(st, 1, s->user);
        bind_text(st, 2, s->id);
        bind_times(x, st, 3, a);
        bind_sb(st, 6, &x->c.out);
        return step(x, st, err);
}

static int ins_crew_flow(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err)
{
        const struct sess *s = &x->p->sess[a->sess];
        const char *method = content_crew_flow(&x->c, a);

        bind_text(st, 1, s->user);
        bind_text(st, 2, s->id);
        bind_text(st, 3, method);
        bind_times(x, st, 4, a);
        bind_sb(st, 7, &x->c.out);
        return step(x, st, err);
}

typedef int insert_fn(struct exec *x, sqlite3_stmt *st, const struct act *a, struct errbuf *err);

static insert_fn *const inserters[ACT_COUNT] = {
        [ACT_AGENT] = ins_agent,         [ACT_TOOLSERVER] = ins_toolserver,
        [ACT_TOOL] = ins_tool,           [ACT_MEMORY] = ins_memory,
        [ACT_SESSION] = ins_session,     [ACT_EVENT] = ins_event,
        [ACT_TASK] = ins_task,           [ACT_PUSH] = ins_push,
        [ACT_FEEDBACK] = ins_feedback,   [ACT_CP] = ins_checkpoint,
        [ACT_CPW] = ins_writes,          [ACT_CREW_MEM] = ins_crew_memory,
        [ACT_CREW_FLOW] = ins_crew_flow,
};

/* ---- the file ---- */

static int exec_sql(sqlite3 *db, const char *sql, struct errbuf *err)
{
        char *msg = NULL;
        int rc = 0;

        if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
                rc = errbuf_set(err, -EIO, "'%s': %s", sql, msg ? msg : sqlite3_errmsg(db));
                sqlite3_free(msg);
        }
        return rc;
}

static int prepare_all(struct exec *x, struct errbuf *err)
{
        int k;

        for (k = 0; k < ACT_COUNT; k++) {
                if (!kind_in_layout((enum act_kind)k, x->p->layout))
                        continue;
                if (sqlite3_prepare_v2(x->db, insert_sql((enum act_kind)k, x->p->layout), -1,
                                       &x->st[k], NULL) != SQLITE_OK)
                        return errbuf_set(err, -EIO, "prepare: %s", sqlite3_errmsg(x->db));
        }
        return 0;
}

static int insert_all(struct exec *x, struct errbuf *err)
{
        size_t i;
        int rc;

        rc = prepare_all(x, err);
        for (i = 0; i < x->p->n_acts && rc == 0; i++) {
                const struct act *a = &x->p->acts[i];

                rc = inserters[a->kind](x, x->st[a->kind], a, err);
                if (rc == 0 && a->kind != ACT_CPW) /* writes count each of their rows */
                        count_row(x, a);
        }
        return rc;
}

/* The GNU strerror_r() returns the message (thread-safe, unlike the plain variant). */
static const char *errno_text(int e, char *buf, size_t size)
{
        return strerror_r(e, buf, size);
}

static int file_size(const char *path, uint64_t *out, struct errbuf *err)
{
        struct stat sb;

        if (stat(path, &sb) < 0) {
                int e = errno;
                char ebuf[128];

                return errbuf_set(err, -e, "stat '%s': %s", path,
                                  errno_text(e, ebuf, sizeof(ebuf)));
        }
        *out = (uint64_t)sb.st_size;
        return 0;
}

/* One full generation into the (existing, empty) file at o->path. */
static int generate(const struct datagen_opts *o, int64_t now_ns, double factor,
                    struct datagen_stats *stats, double *est, uint32_t *history, struct errbuf *err)
{
        struct plan p;
        struct exec x;
        int k;
        int rc;

        memset(&x, 0, sizeof(x));
        memset(stats, 0, sizeof(*stats));
        x.p = &p;
        x.stats = stats;
        content_init(&x.c, &p);
        rc = plan_build(&p, o, now_ns, factor);
        if (rc < 0) {
                rc = errbuf_set(err, rc, "plan: out of memory");
                goto out;
        }
        if (sqlite3_open_v2(o->path, &x.db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
                rc = errbuf_set(err, -EIO, "open '%s': %s", o->path,
                                x.db ? sqlite3_errmsg(x.db) : "out of memory");
                goto out;
        }
        rc = exec_sql(x.db,
                      "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
                      "PRAGMA cache_size=-32768; BEGIN",
                      err);
        if (rc == 0)
                rc = datagen_create_schema(x.db, o->layout, err);
        if (rc == 0)
                rc = insert_all(&x, err);
        for (k = 0; k < ACT_COUNT; k++)
                (void)sqlite3_finalize(x.st[k]);
        if (rc == 0)
                rc = exec_sql(x.db, "COMMIT", err);
        /* kagent's modernc driver never changes the journal mode; Turso is WAL-only. */
        if (rc == 0)
                rc = exec_sql(x.db,
                              o->layout == DATAGEN_LAYOUT_TURSO ? "PRAGMA journal_mode=WAL"
                                                                : "PRAGMA journal_mode=DELETE",
                              err);
        if (sqlite3_close(x.db) != SQLITE_OK && rc == 0)
                rc = errbuf_set(err, -EIO, "close '%s'", o->path);
        x.db = NULL;
        if (rc == 0)
                rc = file_size(o->path, &stats->file_bytes, err);
        stats->shared_session_ids = p.shared_ids;
        *est = p.est_bytes;
        *history = p.n_history;
out:
        (void)sqlite3_close(x.db);
        content_cleanup(&x.c);
        plan_cleanup(&p);
        return rc;
}

static int create_empty(const char *path, struct errbuf *err)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

        if (fd < 0) {
                int e = errno;
                char ebuf[128];

                if (e == EEXIST)
                        return errbuf_set(err, -EEXIST, "database '%s' already exists", path);
                return errbuf_set(err, -e, "create '%s': %s", path,
                                  errno_text(e, ebuf, sizeof(ebuf)));
        }
        (void)close(fd);
        return 0;
}

static bool size_ok(const struct datagen_opts *o, const struct datagen_stats *s, uint32_t history)
{
        double target = (double)o->size_target_bytes;
        double file = (double)s->file_bytes;

        if (o->size_target_bytes == 0)
                return true;
        /* Bigger than the target without any history added: nothing to take away. */
        if (file > target && history == 0)
                return true;
        return file >= target * (1 - SIZE_TOLERANCE) && file <= target * (1 + SIZE_TOLERANCE);
}

int datagen_write(const struct datagen_opts *o, struct datagen_stats *out, struct errbuf *err)
{
        struct datagen_stats stats;
        double factor;
        double est = 0;
        uint32_t history = 0;
        int64_t now_ms;
        int64_t t0 = clock_mono_ms();
        int attempt;

        if (!o || !o->path || o->path[0] == '\0')
                return errbuf_set(err, -EINVAL, "datagen: no database path");
        if (o->days == 0 || o->events_per_session == 0 || (unsigned)o->layout > DATAGEN_LAYOUT_V05)
                return errbuf_set(err, -EINVAL, "datagen: days, events_per_session must be > 0");
        now_ms = o->now_ms ? o->now_ms : clock_wall_ms();
        factor = o->layout == DATAGEN_LAYOUT_V05 ? SIZE_FACTOR_V05 : SIZE_FACTOR;
        for (attempt = 0; attempt < SIZE_MAX_ATTEMPT; attempt++) {
                int rc = create_empty(o->path, err);

                if (rc < 0)
                        return rc;
                rc = generate(o, now_ms * NS_PER_MS, factor, &stats, &est, &history, err);
                if (rc < 0) {
                        (void)unlink(o->path);
                        return rc;
                }
                if (!o->quiet)
                        log_debug("attempt", LOG_INT("bytes", stats.file_bytes),
                                  LOG_DBL("measured_factor", (double)stats.file_bytes / est),
                                  LOG_DBL("factor", factor), LOG_INT("history", history));
                if (size_ok(o, &stats, history) || attempt + 1 == SIZE_MAX_ATTEMPT)
                        break;
                /* Re-plan with the factor this run measured. */
                factor = (double)stats.file_bytes / est;
                (void)unlink(o->path);
        }
        if (!o->quiet)
                log_debug("database written", LOG_STR("path", o->path),
                          LOG_INT("bytes", stats.file_bytes), LOG_INT("events", stats.events),
                          LOG_INT("attempts", attempt + 1), LOG_INT("ms", clock_mono_ms() - t0));
        if (out)
                *out = stats;
        return 0;
}
