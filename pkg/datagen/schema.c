/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kagent's SQLite DDL as C strings, byte-identical to what GORM AutoMigrate (and, for `memory`,
 * kagent's raw SQL) issues, so sqlite_master of a file made here equals one made by kagent.
 */
#include <errno.h>
#include <stddef.h>

#include <sqlite3.h>

#include "base/errbuf.h"
#include "datagen/datagen.h"

/* Which layouts issue a statement. */
#define L_GORM  (1u << DATAGEN_LAYOUT_GORM)
#define L_TURSO (1u << DATAGEN_LAYOUT_TURSO)
#define L_V05   (1u << DATAGEN_LAYOUT_V05)
#define L_ALL   (L_GORM | L_TURSO | L_V05)
#define L_NEW   (L_GORM | L_TURSO)

struct ddl {
        unsigned layouts;
        const char *sql; /* one statement, no trailing ';' (stored verbatim in sqlite_master) */
};

/*
 * In AutoMigrate order (v0.7.23 manager.go; v0.5 lists the first eight). v0.5 differs in
 * agent (no `type`, config NOT NULL), tool (keyed by id, server_name), toolserver (keyed by
 * name, json `config`) and has no idx_feedback_user_id (user_id was a primaryKey tag then).
 */
static const struct ddl
        ddl_stmts
                [] = {
                        { L_NEW,
                          "CREATE TABLE `agent` (`id` text,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`type` text NOT NULL,`config` json,PRIMARY KEY (`id`))" },
                        { L_V05,
                          "CREATE TABLE `agent` (`id` text,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`config` json NOT NULL,PRIMARY KEY (`id`))" },
                        { L_ALL, "CREATE INDEX `idx_agent_deleted_at` ON `agent`(`deleted_at`)" },
                        { L_ALL,
                          "CREATE TABLE `session` (`id` text NOT NULL,`name` text,`user_id` text,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`agent_id` text,PRIMARY KEY (`id`,`user_id`))" },
                        { L_ALL, "CREATE INDEX `idx_session_name` ON `session`(`name`)" },
                        { L_ALL,
                          "CREATE INDEX `idx_session_deleted_at` ON `session`(`deleted_at`)" },
                        { L_ALL, "CREATE INDEX `idx_session_agent_id` ON `session`(`agent_id`)" },
                        { L_ALL,
                          "CREATE TABLE `task` (`id` text NOT NULL,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`data` text NOT NULL,`session_id` text,PRIMARY KEY (`id`))" },
                        { L_ALL, "CREATE INDEX `idx_task_deleted_at` ON `task`(`deleted_at`)" },
                        { L_ALL, "CREATE INDEX `idx_task_session_id` ON `task`(`session_id`)" },
                        { L_ALL,
                          "CREATE TABLE `event` (`id` text NOT NULL,`session_id` text,`user_id` text NOT NULL,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`data` text NOT NULL,PRIMARY KEY (`id`,`user_id`))" },
                        { L_ALL, "CREATE INDEX `idx_event_session_id` ON `event`(`session_id`)" },
                        { L_ALL, "CREATE INDEX `idx_event_deleted_at` ON `event`(`deleted_at`)" },
                        { L_ALL,
                          "CREATE TABLE `push_notification` (`id` text NOT NULL,`task_id` text NOT NULL,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`data` text NOT NULL,PRIMARY KEY (`id`))" },
                        { L_ALL,
                          "CREATE INDEX `idx_push_notification_task_id` ON `push_notification`(`task_id`)" },
                        { L_ALL,
                          "CREATE INDEX `idx_push_notification_deleted_at` ON `push_notification`(`deleted_at`)" },
                        { L_ALL,
                          "CREATE TABLE `feedback` (`id` integer PRIMARY KEY AUTOINCREMENT,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`user_id` text NOT NULL,`message_id` integer,`is_positive` numeric DEFAULT false,`feedback_text` text NOT NULL,`issue_type` text)" },
                        { L_ALL,
                          "CREATE INDEX `idx_feedback_deleted_at` ON `feedback`(`deleted_at`)" },
                        { L_NEW, "CREATE INDEX `idx_feedback_user_id` ON `feedback`(`user_id`)" },
                        { L_ALL,
                          "CREATE INDEX `idx_feedback_message_id` ON `feedback`(`message_id`)" },
                        { L_NEW,
                          "CREATE TABLE `tool` (`id` text NOT NULL,`server_name` text NOT NULL,`group_kind` text NOT NULL,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`description` text,PRIMARY KEY (`id`,`server_name`,`group_kind`))" },
                        { L_V05,
                          "CREATE TABLE `tool` (`id` text NOT NULL,`server_name` text NOT NULL,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`description` text,PRIMARY KEY (`id`,`server_name`))" },
                        { L_ALL, "CREATE INDEX `idx_tool_deleted_at` ON `tool`(`deleted_at`)" },
                        { L_NEW,
                          "CREATE TABLE `toolserver` (`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`name` text NOT NULL,`group_kind` text NOT NULL,`description` text,`last_connected` datetime,PRIMARY KEY (`name`,`group_kind`))" },
                        { L_V05,
                          "CREATE TABLE `toolserver` (`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`name` text NOT NULL,`description` text,`last_connected` datetime,`config` json,PRIMARY KEY (`name`))" },
                        { L_ALL,
                          "CREATE INDEX `idx_toolserver_deleted_at` ON `toolserver`(`deleted_at`)" },
                        { L_NEW,
                          "CREATE TABLE `lg_checkpoint` (`user_id` text NOT NULL,`thread_id` text NOT NULL,`checkpoint_ns` text NOT NULL DEFAULT \"\",`checkpoint_id` text NOT NULL,`parent_checkpoint_id` text,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`metadata` text NOT NULL,`checkpoint` text NOT NULL,`checkpoint_type` text NOT NULL,`version` integer DEFAULT 1,PRIMARY KEY (`user_id`,`thread_id`,`checkpoint_ns`,`checkpoint_id`))" },
                        { L_NEW,
                          "CREATE INDEX `idx_lg_checkpoint_parent_checkpoint_id` ON `lg_checkpoint`(`parent_checkpoint_id`)" },
                        { L_NEW, "CREATE INDEX `idx_lgcp_list` ON `lg_checkpoint`(`created_at`)" },
                        { L_NEW,
                          "CREATE INDEX `idx_lg_checkpoint_deleted_at` ON `lg_checkpoint`(`deleted_at`)" },
                        { L_NEW,
                          "CREATE TABLE `lg_checkpoint_write` (`user_id` text NOT NULL,`thread_id` text NOT NULL,`checkpoint_ns` text NOT NULL DEFAULT \"\",`checkpoint_id` text NOT NULL,`write_idx` integer NOT NULL,`value` text NOT NULL,`value_type` text NOT NULL,`channel` text NOT NULL,`task_id` text NOT NULL,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,PRIMARY KEY (`user_id`,`thread_id`,`checkpoint_ns`,`checkpoint_id`,`write_idx`))" },
                        { L_NEW,
                          "CREATE INDEX `idx_lg_checkpoint_write_deleted_at` ON `lg_checkpoint_write`(`deleted_at`)" },
                        { L_NEW,
                          "CREATE TABLE `crewai_agent_memory` (`user_id` text NOT NULL,`thread_id` text NOT NULL,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`memory_data` text NOT NULL,PRIMARY KEY (`user_id`,`thread_id`))" },
                        { L_NEW,
                          "CREATE INDEX `idx_crewai_memory_list` ON `crewai_agent_memory`(`created_at`)" },
                        { L_NEW,
                          "CREATE INDEX `idx_crewai_agent_memory_deleted_at` ON `crewai_agent_memory`(`deleted_at`)" },
                        { L_NEW,
                          "CREATE TABLE `crewai_flow_state` (`user_id` text NOT NULL,`thread_id` text NOT NULL,`method_name` text NOT NULL,`created_at` datetime,`updated_at` datetime,`deleted_at` datetime,`state_data` text NOT NULL,PRIMARY KEY (`user_id`,`thread_id`,`method_name`))" },
                        { L_NEW,
                          "CREATE INDEX `idx_crewai_flow_state_list` ON `crewai_flow_state`(`created_at`)" },
                        { L_NEW,
                          "CREATE INDEX `idx_crewai_flow_state_deleted_at` ON `crewai_flow_state`(`deleted_at`)" },
                        /* kagent v0.7.19+ manager.go, raw SQL with its own indentation (tabs). */
                        { L_TURSO, "CREATE TABLE IF NOT EXISTS memory (\n"
                                   "\t\t\t\tid TEXT PRIMARY KEY,\n"
                                   "\t\t\t\tagent_name TEXT,\n"
                                   "\t\t\t\tuser_id TEXT,\n"
                                   "\t\t\t\tcontent TEXT,\n"
                                   "\t\t\t\tembedding F32_BLOB(768),\n"
                                   "\t\t\t\tmetadata TEXT,\n"
                                   "\t\t\t\tcreated_at DATETIME DEFAULT CURRENT_TIMESTAMP,\n"
                                   "\t\t\t\texpires_at DATETIME,\n"
                                   "\t\t\t\taccess_count INTEGER DEFAULT 0\n"
                                   "\t\t\t)" },
                        { L_TURSO,
                          "CREATE INDEX IF NOT EXISTS idx_memory_agent_user ON memory(agent_name, user_id)" },
                        { L_TURSO,
                          "CREATE INDEX IF NOT EXISTS idx_memory_expires_at ON memory(expires_at)" },
                };

int datagen_create_schema(struct sqlite3 *db, enum datagen_layout layout, struct errbuf *err)
{
        unsigned mask;
        size_t i;

        if ((unsigned)layout > DATAGEN_LAYOUT_V05)
                return errbuf_set(err, -EINVAL, "unknown layout %d", (int)layout);
        mask = 1u << layout;
        for (i = 0; i < sizeof(ddl_stmts) / sizeof(ddl_stmts[0]); i++) {
                char *msg = NULL;

                if (!(ddl_stmts[i].layouts & mask))
                        continue;
                if (sqlite3_exec(db, ddl_stmts[i].sql, NULL, NULL, &msg) != SQLITE_OK) {
                        int rc = errbuf_set(err, -EIO, "create schema: %s",
                                            msg ? msg : sqlite3_errmsg(db));

                        sqlite3_free(msg);
                        return rc;
                }
        }
        return 0;
}
