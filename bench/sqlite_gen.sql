-- SPDX-License-Identifier: Apache-2.0
-- The data of pg_gen.sql for SQLite (sqlite3 shell, into a file with kagent's GORM schema,
-- times in GORM's layout), for the scaling runs, where a datagen file of a million events
-- (~5 KB each) would not fit tmpfs twice: @SESSIONS@ sessions with @EVENTS@ events of ~1 KB each,
-- last activity spread evenly over @DAYS@ days before @NOW@ (a julian day number), the same
-- tasks, push notifications, checkpoints, writes and CrewAI rows as pg_gen.sql. Deterministic.
.bail on
PRAGMA journal_mode = DELETE;
PRAGMA synchronous = OFF;
BEGIN;
CREATE TEMP TABLE g_sess AS
SELECT g, 'sess-' || g AS id, 'user-' || (g % 37) AS uid,
       @NOW@ - ((g * 7919) % (@DAYS@ * 1440) + 45) / 1440.0 AS last
FROM (SELECT value AS g FROM generate_series(1, @SESSIONS@));

INSERT INTO session(id, user_id, name, created_at, updated_at, deleted_at, agent_id)
SELECT id, uid, 'chat ' || g, strftime('%Y-%m-%d %H:%M:%f', last - 3) || '+00:00',
       strftime('%Y-%m-%d %H:%M:%f', last) || '+00:00',
       CASE WHEN g % 40 = 0 THEN strftime('%Y-%m-%d %H:%M:%f', last) || '+00:00' END,
       'kagent__NS__k8s_agent'
FROM g_sess;
INSERT INTO g_sess SELECT g, id, 'user-shared', last - 1 / 24.0 FROM g_sess WHERE g % 50 = 0;
INSERT INTO session(id, user_id, name, created_at, updated_at, agent_id)
SELECT id, uid, 'chat ' || g, strftime('%Y-%m-%d %H:%M:%f', last - 3) || '+00:00',
       strftime('%Y-%m-%d %H:%M:%f', last) || '+00:00', 'kagent__NS__k8s_agent'
FROM g_sess WHERE uid = 'user-shared';

INSERT INTO event(id, session_id, user_id, created_at, updated_at, deleted_at, data)
SELECT s.id || '-' || s.uid || '-e' || h, s.id, s.uid, t, t,
       CASE WHEN h % 50 = 0 THEN t END,
       '{"author":"model","invocation_id":"' || s.id || '-' || h || '","content":{"role":"model",'
       || '"parts":[{"text":"' || replace(printf('%0896d', 0), '0', char(97 + (s.g + h) % 26))
       || '"}]},"usage_metadata":{"prompt_token_count":' || ((h * 37) % 4000) || '}}'
FROM (SELECT s.*, e.value AS h,
             strftime('%Y-%m-%d %H:%M:%f', s.last - (@EVENTS@ - e.value) * 2 / 1440.0)
             || '+00:00' AS t
      FROM g_sess s, generate_series(1, @EVENTS@) e) s
ORDER BY s.g, s.uid, s.h;

INSERT INTO task(id, created_at, updated_at, data, session_id)
SELECT s.id || '-t' || h, strftime('%Y-%m-%d %H:%M:%f', s.last - 30 / 1440.0) || '+00:00',
       strftime('%Y-%m-%d %H:%M:%f', s.last - 1 / 1440.0) || '+00:00',
       '{"id":"' || s.id || '-t' || h || '","contextId":"' || s.id || '","status":{"state":"'
       || (CASE (length(s.id) + h * 3) % 8 WHEN 0 THEN 'completed' WHEN 1 THEN 'failed'
             WHEN 2 THEN 'completed' WHEN 3 THEN 'canceled' WHEN 4 THEN 'TASK_STATE_COMPLETED'
             WHEN 5 THEN 'completed' WHEN 6 THEN 'working' ELSE 'input-required' END)
       || '"},"history":[],"kind":"task"}', s.id
FROM g_sess s, (SELECT value AS h FROM generate_series(1, 2)) WHERE s.uid <> 'user-shared';

INSERT INTO push_notification(id, task_id, created_at, updated_at, data)
SELECT id || '-push', id, created_at, created_at, '{"url":"http://hook"}'
FROM task WHERE id LIKE '%-t1';

INSERT INTO lg_checkpoint(user_id, thread_id, checkpoint_ns, checkpoint_id,
                          parent_checkpoint_id, created_at, updated_at, metadata, checkpoint,
                          checkpoint_type, version)
SELECT s.uid, s.id, '', '1ef' || printf('%05d', h), NULL,
       strftime('%Y-%m-%d %H:%M:%f', s.last - (3 - h) * 10 / 1440.0) || '+00:00',
       strftime('%Y-%m-%d %H:%M:%f', s.last - (3 - h) * 10 / 1440.0) || '+00:00', 'bWV0YQ==',
       replace(printf('%0344d', 0), '0', 'Q'), 'msgpack', 1
FROM g_sess s, (SELECT value AS h FROM generate_series(1, 3));

INSERT INTO lg_checkpoint_write(user_id, thread_id, checkpoint_ns, checkpoint_id, write_idx,
                                value, value_type, channel, task_id, created_at, updated_at)
SELECT c.user_id, c.thread_id, c.checkpoint_ns, c.checkpoint_id, w, 'dmFsdWU=', 'msgpack',
       'messages', 'lgtask', c.created_at, c.created_at
FROM lg_checkpoint c, (SELECT value AS w FROM generate_series(0, 1));

INSERT INTO crewai_agent_memory(user_id, thread_id, created_at, updated_at, memory_data)
SELECT uid, id, strftime('%Y-%m-%d %H:%M:%f', last - 3) || '+00:00',
       strftime('%Y-%m-%d %H:%M:%f', last) || '+00:00', '{"task_description":"x","score":0.5}'
FROM g_sess WHERE g % 10 = 0;
INSERT INTO crewai_flow_state(user_id, thread_id, method_name, created_at, updated_at,
                              state_data)
SELECT uid, id, 'run', strftime('%Y-%m-%d %H:%M:%f', last - 3) || '+00:00',
       strftime('%Y-%m-%d %H:%M:%f', last) || '+00:00', '{}'
FROM g_sess WHERE g % 10 = 0;
COMMIT;
