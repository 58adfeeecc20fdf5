/* SPDX-License-Identifier: Apache-2.0 */
/* Backend-independent entry points: dispatch through the ops table, and names. */
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>

#include "base/errbuf.h"
#include "store/internal.h"

static const char *const table_names[STORE_T_COUNT] = {
        [STORE_T_EVENT] = "event",
        [STORE_T_CHECKPOINT_WRITE] = "lg_checkpoint_write",
        [STORE_T_CHECKPOINT] = "lg_checkpoint",
        [STORE_T_CREWAI_MEMORY] = "crewai_agent_memory",
        [STORE_T_CREWAI_FLOW] = "crewai_flow_state",
        [STORE_T_SESSION_SHARE] = "session_share",
        [STORE_T_PUSH] = "push_notification",
        [STORE_T_TASK] = "task",
        [STORE_T_FEEDBACK] = "feedback",
        [STORE_T_SESSION] = "session",
};

static const char *const rule_names[STORE_RULE_COUNT] = {
        [STORE_RULE_SESSIONS] = "sessions",
        [STORE_RULE_SOFT_DELETED] = "softDeleted",
        [STORE_RULE_TASKS] = "tasks",
        [STORE_RULE_CHECKPOINTS] = "checkpoints",
        [STORE_RULE_EVENTS] = "events",
        [STORE_RULE_CREWAI_MEMORY] = "crewaiMemory",
        [STORE_RULE_CREWAI_FLOW] = "crewaiFlowState",
        [STORE_RULE_ORPHANS] = "orphans",
};

const char *store_table_name(enum store_table t)
{
        return (unsigned)t < STORE_T_COUNT ? table_names[t] : "?";
}

const char *store_rule_name(enum store_rule r)
{
        return (unsigned)r < STORE_RULE_COUNT ? rule_names[r] : "?";
}

const char *store_schema_name(enum store_schema s)
{
        switch (s) {
        case STORE_SCHEMA_GORM_SQLITE:
                return "gorm-sqlite";
        case STORE_SCHEMA_TURSO_SQLITE:
                return "turso-sqlite";
        case STORE_SCHEMA_GORM_POSTGRES:
                return "gorm-postgres";
        case STORE_SCHEMA_MIGRATE_POSTGRES:
                return "migrate-postgres";
        case STORE_SCHEMA_UNKNOWN:
                break;
        }
        return "unknown";
}

const char *store_type_name(enum store_type t)
{
        return t == STORE_POSTGRES ? "postgres" : "sqlite";
}

int store_open(const struct store_config *cfg, struct store **out, struct errbuf *err)
{
        const struct store_ops *ops;
        struct store *s;
        size_t size;
        int rc;

        switch (cfg->type) {
        case STORE_SQLITE:
                ops = &store_sqlite_ops;
                size = store_sqlite_size;
                break;
        case STORE_POSTGRES:
                ops = &store_postgres_ops;
                size = store_postgres_size;
                break;
        default:
                return errbuf_set(err, -ENOTSUP, "database type '%s' is not supported yet",
                                  store_type_name(cfg->type));
        }
        s = calloc(1, size);
        if (!s)
                return errbuf_set(err, -ENOMEM, "out of memory");
        s->ops = ops;
        s->info.type = cfg->type;
        rc = ops->open(s, cfg, err);
        if (rc < 0) {
                ops->close(s);
                return rc;
        }
        *out = s;
        return 0;
}

void store_close(struct store *s)
{
        if (s)
                s->ops->close(s);
}

const struct store_info *store_info(const struct store *s)
{
        return &s->info;
}

int store_writer_acquire(struct store *s, struct errbuf *err)
{
        return s->ops->writer_acquire(s, err);
}

void store_writer_release(struct store *s)
{
        s->ops->writer_release(s);
}

int store_measure(struct store *s, bool per_table, struct store_usage *out, struct errbuf *err)
{
        return s->ops->measure(s, per_table, out, err);
}

int store_run_begin(struct store *s, struct errbuf *err)
{
        return s->ops->run_begin(s, err);
}

int store_plan(struct store *s, const struct store_rule_params *p, struct store_plan_result *out,
               struct errbuf *err)
{
        return s->ops->plan(s, p, out, err);
}

int store_delete_batch(struct store *s, int64_t max_rows, struct store_batch_result *out,
                       struct errbuf *err)
{
        return s->ops->delete_batch(s, max_rows, out, err);
}

int store_plan_discard(struct store *s, struct errbuf *err)
{
        return s->ops->plan_discard(s, err);
}

bool store_others_wrote(struct store *s)
{
        return s->ops->others_wrote(s);
}

int store_others_waiting(struct store *s)
{
        return s->ops->others_waiting ? s->ops->others_waiting(s) : -1;
}

int store_reclaim(struct store *s, const struct store_reclaim_params *p,
                  struct store_reclaim_result *out, struct errbuf *err)
{
        return s->ops->reclaim(s, p, out, err);
}

int store_check(struct store *s, struct errbuf *err)
{
        return s->ops->check(s, err);
}

void store_release(struct store *s)
{
        if (s->ops->release)
                s->ops->release(s);
}
