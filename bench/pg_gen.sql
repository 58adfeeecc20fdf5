-- SPDX-License-Identifier: Apache-2.0
-- kagent-like data for the PostgreSQL benchmarks, generated on the server with generate_series
-- into kagent's migrate-era schema (tests/data/kagent/schema-postgres.sql):
--   psql -v sessions=N -v events=M -v days=D -v now=EPOCH_SECONDS -f pg_gen.sql
-- Sessions (owners spread over 37 users, every 50th id shared with a second user) whose last
-- activity is spread evenly over the last D days; per session M events of ~1 KB of ADK JSON in
-- the minutes before, two A2A tasks (no user_id, as kagent writes them) in assorted states with a
-- push notification, three LangGraph checkpoints with two writes each, CrewAI rows for every
-- 10th session, a share with two access rows for every 20th. Every 40th session and every 50th
-- event is soft-deleted. Deterministic for the same arguments.
\set ON_ERROR_STOP on
SET synchronous_commit = off;
BEGIN;

INSERT INTO session(id, user_id, name, created_at, updated_at, deleted_at, agent_id)
SELECT 'sess-' || g, 'user-' || (g % 37), 'chat ' || g,
       last - interval '3 days', last,
       CASE WHEN g % 40 = 0 THEN last END, 'kagent__NS__k8s_agent'
FROM (SELECT g, to_timestamp(:now) - ((g * 7919) % (:days * 1440) + 45) * interval '1 minute'
             AS last FROM generate_series(1, :sessions) g) s;

INSERT INTO session(id, user_id, name, created_at, updated_at, agent_id)
SELECT id, 'user-shared', name, created_at, updated_at - interval '1 hour', agent_id
FROM session WHERE (substr(id, 6)::int) % 50 = 0;

INSERT INTO event(id, user_id, session_id, created_at, updated_at, deleted_at, data)
SELECT s.id || '-' || s.user_id || '-e' || h, s.user_id, s.id, t, t,
       CASE WHEN h % 50 = 0 THEN t + interval '1 minute' END,
       '{"author":"model","invocation_id":"' || md5(s.id || h) || '","content":{"role":"model",'
       || '"parts":[{"text":"' || repeat(md5(s.user_id || s.id || h), 28) || '"}]},'
       || '"usage_metadata":{"prompt_token_count":' || (h * 37) % 4000 || '}}'
FROM session s, generate_series(1, :events) h,
     LATERAL (SELECT s.updated_at - (:events - h) * interval '2 minutes' AS t) x;

INSERT INTO task(id, created_at, updated_at, data, session_id)
SELECT s.id || '-t' || h, s.updated_at - interval '30 minutes',
       s.updated_at - interval '1 minute',
       '{"id":"' || s.id || '-t' || h || '","contextId":"' || s.id || '","status":{"state":"'
       || (ARRAY['completed', 'failed', 'completed', 'canceled', 'TASK_STATE_COMPLETED',
                 'completed', 'working', 'input-required'])[1 + (length(s.id) + h * 3) % 8]
       || '"},"history":[],"kind":"task"}', s.id
FROM session s, generate_series(1, 2) h WHERE s.user_id <> 'user-shared';

INSERT INTO push_notification(id, task_id, created_at, updated_at, data)
SELECT t.id || '-push', t.id, t.created_at, t.created_at, '{"url":"http://hook"}'
FROM task t WHERE t.id LIKE '%-t1';

INSERT INTO lg_checkpoint(user_id, thread_id, checkpoint_ns, checkpoint_id,
                          parent_checkpoint_id, created_at, updated_at, metadata, checkpoint,
                          checkpoint_type, version)
SELECT s.user_id, s.id, '', '1ef' || lpad(h::text, 5, '0'), NULL,
       s.updated_at - (3 - h) * interval '10 minutes',
       s.updated_at - (3 - h) * interval '10 minutes', 'bWV0YQ==',
       encode(convert_to(repeat(md5(s.id || h), 8), 'UTF8'), 'base64'), 'msgpack', 1
FROM session s, generate_series(1, 3) h;

INSERT INTO lg_checkpoint_write(user_id, thread_id, checkpoint_ns, checkpoint_id, write_idx,
                                value, value_type, channel, task_id, created_at, updated_at)
SELECT c.user_id, c.thread_id, c.checkpoint_ns, c.checkpoint_id, w, 'dmFsdWU=', 'msgpack',
       'messages', 'lgtask', c.created_at, c.created_at
FROM lg_checkpoint c, generate_series(0, 1) w;

INSERT INTO crewai_agent_memory(user_id, thread_id, created_at, updated_at, memory_data)
SELECT user_id, id, created_at, updated_at, '{"task_description":"x","score":0.5}'
FROM session WHERE (substr(id, 6)::int) % 10 = 0;

INSERT INTO crewai_flow_state(user_id, thread_id, method_name, created_at, updated_at,
                              state_data)
SELECT user_id, id, 'run', created_at, updated_at, '{}'
FROM session WHERE (substr(id, 6)::int) % 10 = 0;

INSERT INTO session_share(token, session_id, user_id)
SELECT md5('share' || id || user_id), id, user_id FROM session
WHERE (substr(id, 6)::int) % 20 = 0;
INSERT INTO session_share_access(user_id, share_id)
SELECT 'viewer-' || v, id FROM session_share, generate_series(1, 2) v;

COMMIT;
VACUUM ANALYZE;
