-- =============================================================================
-- kagent controller database -- PostgreSQL, GORM era (kagent v0.8.0-beta9 .. v0.8.6)
-- =============================================================================
-- The variant described in the notes at the end of schema-postgres.sql: the 12
-- legacy tables as gorm.io/driver/postgres v1.6.0 AutoMigrate creates them from
-- the models of go/api/database/models.go (v0.8.x): columns in Go struct order
-- (the same order as schema-sqlite.sql), string -> text, time -> timestamptz,
-- bool -> boolean, int/uint -> bigint, auto-increment uint -> bigserial,
-- `type:json` -> json; PRIMARY KEY as a trailing unnamed clause; indexes
-- "idx_<table>_<column>" created after the table. Differences from the
-- migration era: no schema_migrations, no agent.workload_type, no
-- protocol_version columns, no task.user_id, no session_share /
-- session_share_access / runtime / agent_instance tables;
-- lg_checkpoint.version and feedback.is_positive are nullable; feedback's
-- primary key is (id, user_id), as in databases first created by kagent
-- <= v0.7.14. The vector `memory` table is left out (needs pgvector).
-- =============================================================================

CREATE TABLE "agent" ("id" text,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"type" text NOT NULL,"config" json,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_agent_deleted_at" ON "agent" ("deleted_at");

CREATE TABLE "session" ("id" text NOT NULL,"name" text,"user_id" text,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"agent_id" text,"source" text,PRIMARY KEY ("id","user_id"));
CREATE INDEX IF NOT EXISTS "idx_session_name" ON "session" ("name");
CREATE INDEX IF NOT EXISTS "idx_session_deleted_at" ON "session" ("deleted_at");
CREATE INDEX IF NOT EXISTS "idx_session_agent_id" ON "session" ("agent_id");
CREATE INDEX IF NOT EXISTS "idx_session_source" ON "session" ("source");

CREATE TABLE "task" ("id" text NOT NULL,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"data" text NOT NULL,"session_id" text,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_task_deleted_at" ON "task" ("deleted_at");
CREATE INDEX IF NOT EXISTS "idx_task_session_id" ON "task" ("session_id");

CREATE TABLE "event" ("id" text NOT NULL,"session_id" text,"user_id" text NOT NULL,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"data" text NOT NULL,PRIMARY KEY ("id","user_id"));
CREATE INDEX IF NOT EXISTS "idx_event_session_id" ON "event" ("session_id");
CREATE INDEX IF NOT EXISTS "idx_event_deleted_at" ON "event" ("deleted_at");

CREATE TABLE "push_notification" ("id" text NOT NULL,"task_id" text NOT NULL,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"data" text NOT NULL,PRIMARY KEY ("id"));
CREATE INDEX IF NOT EXISTS "idx_push_notification_task_id" ON "push_notification" ("task_id");
CREATE INDEX IF NOT EXISTS "idx_push_notification_deleted_at" ON "push_notification" ("deleted_at");

CREATE TABLE "feedback" ("id" bigserial,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"user_id" text NOT NULL,"message_id" bigint,"is_positive" boolean DEFAULT false,"feedback_text" text NOT NULL,"issue_type" text,PRIMARY KEY ("id","user_id"));
CREATE INDEX IF NOT EXISTS "idx_feedback_deleted_at" ON "feedback" ("deleted_at");
CREATE INDEX IF NOT EXISTS "idx_feedback_user_id" ON "feedback" ("user_id");
CREATE INDEX IF NOT EXISTS "idx_feedback_message_id" ON "feedback" ("message_id");

CREATE TABLE "tool" ("id" text NOT NULL,"server_name" text NOT NULL,"group_kind" text NOT NULL,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"description" text,PRIMARY KEY ("id","server_name","group_kind"));
CREATE INDEX IF NOT EXISTS "idx_tool_deleted_at" ON "tool" ("deleted_at");

CREATE TABLE "toolserver" ("created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"name" text NOT NULL,"group_kind" text NOT NULL,"description" text,"last_connected" timestamptz,PRIMARY KEY ("name","group_kind"));
CREATE INDEX IF NOT EXISTS "idx_toolserver_deleted_at" ON "toolserver" ("deleted_at");

CREATE TABLE "lg_checkpoint" ("user_id" text NOT NULL,"thread_id" text NOT NULL,"checkpoint_ns" text NOT NULL DEFAULT '',"checkpoint_id" text NOT NULL,"parent_checkpoint_id" text,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"metadata" text NOT NULL,"checkpoint" text NOT NULL,"checkpoint_type" text NOT NULL,"version" bigint DEFAULT 1,PRIMARY KEY ("user_id","thread_id","checkpoint_ns","checkpoint_id"));
CREATE INDEX IF NOT EXISTS "idx_lg_checkpoint_parent_checkpoint_id" ON "lg_checkpoint" ("parent_checkpoint_id");
CREATE INDEX IF NOT EXISTS "idx_lgcp_list" ON "lg_checkpoint" ("created_at");
CREATE INDEX IF NOT EXISTS "idx_lg_checkpoint_deleted_at" ON "lg_checkpoint" ("deleted_at");

CREATE TABLE "lg_checkpoint_write" ("user_id" text NOT NULL,"thread_id" text NOT NULL,"checkpoint_ns" text NOT NULL DEFAULT '',"checkpoint_id" text NOT NULL,"write_idx" bigint NOT NULL,"value" text NOT NULL,"value_type" text NOT NULL,"channel" text NOT NULL,"task_id" text NOT NULL,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,PRIMARY KEY ("user_id","thread_id","checkpoint_ns","checkpoint_id","write_idx"));
CREATE INDEX IF NOT EXISTS "idx_lg_checkpoint_write_deleted_at" ON "lg_checkpoint_write" ("deleted_at");

CREATE TABLE "crewai_agent_memory" ("user_id" text NOT NULL,"thread_id" text NOT NULL,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"memory_data" text NOT NULL,PRIMARY KEY ("user_id","thread_id"));
CREATE INDEX IF NOT EXISTS "idx_crewai_memory_list" ON "crewai_agent_memory" ("created_at");
CREATE INDEX IF NOT EXISTS "idx_crewai_agent_memory_deleted_at" ON "crewai_agent_memory" ("deleted_at");

CREATE TABLE "crewai_flow_state" ("user_id" text NOT NULL,"thread_id" text NOT NULL,"method_name" text NOT NULL,"created_at" timestamptz,"updated_at" timestamptz,"deleted_at" timestamptz,"state_data" text NOT NULL,PRIMARY KEY ("user_id","thread_id","method_name"));
CREATE INDEX IF NOT EXISTS "idx_crewai_flow_state_list" ON "crewai_flow_state" ("created_at");
CREATE INDEX IF NOT EXISTS "idx_crewai_flow_state_deleted_at" ON "crewai_flow_state" ("deleted_at");
