-- SPDX-License-Identifier: Apache-2.0
-- The manual baseline on PostgreSQL: what an operator runs through psql to delete everything of
-- the sessions idle longer than the cutoff, one DELETE per table, each its own transaction
-- (psql's autocommit).   psql -v cut='2026-05-02 00:00:00+00' -f manual_pg.sql
-- The expired set follows the sessions rule exactly: a session's last activity is the newest of
-- its own timestamps, its events, checkpoints and CrewAI rows and its tasks (a task without
-- user_id belongs to every session row of its id); a session without a known timestamp or with
-- an unfinished task updated after the cutoff (or never) is kept; a task without user_id goes
-- only with the last session row of its id. session_share_access goes with its share (FK
-- ON DELETE CASCADE).
\set ON_ERROR_STOP on
CREATE TEMP TABLE x AS SELECT s.id AS sid, s.user_id AS uid FROM session s
WHERE (s.updated_at IS NOT NULL OR s.created_at IS NOT NULL)
  AND greatest(s.updated_at, s.created_at) < :'cut'
  AND NOT EXISTS (SELECT 1 FROM event e WHERE e.session_id = s.id AND e.user_id = s.user_id
                  AND e.created_at >= :'cut')
  AND NOT EXISTS (SELECT 1 FROM lg_checkpoint c WHERE c.user_id = s.user_id
                  AND c.thread_id = s.id AND c.created_at >= :'cut')
  AND NOT EXISTS (SELECT 1 FROM crewai_agent_memory m WHERE m.user_id = s.user_id
                  AND m.thread_id = s.id AND m.updated_at >= :'cut')
  AND NOT EXISTS (SELECT 1 FROM crewai_flow_state f WHERE f.user_id = s.user_id
                  AND f.thread_id = s.id AND f.updated_at >= :'cut')
  AND NOT EXISTS (SELECT 1 FROM task t WHERE t.session_id = s.id
                  AND (t.user_id IS NULL OR t.user_id = s.user_id)
                  AND (t.updated_at >= :'cut'
                       OR (t.data::json #>> '{status,state}'
                           IN ('submitted','working','input-required','auth-required',
                               'TASK_STATE_SUBMITTED','TASK_STATE_WORKING',
                               'TASK_STATE_INPUT_REQUIRED','TASK_STATE_AUTH_REQUIRED')
                           AND coalesce(t.updated_at, 'infinity') > :'cut')));
ALTER TABLE x ADD PRIMARY KEY (sid, uid);
ANALYZE x;
-- Tasks that go: the session's own (task.user_id), or without owner when every other session
-- row of the id expires too.
CREATE TEMP TABLE xt AS SELECT t.id FROM task t JOIN x ON t.session_id = x.sid
WHERE t.user_id = x.uid OR (t.user_id IS NULL AND NOT EXISTS (SELECT 1 FROM session o
  WHERE o.id = x.sid AND o.user_id <> x.uid
    AND NOT EXISTS (SELECT 1 FROM x x2 WHERE x2.sid = o.id AND x2.uid = o.user_id)));
ANALYZE xt;
DELETE FROM event e USING x WHERE e.session_id = x.sid AND e.user_id = x.uid;
DELETE FROM lg_checkpoint_write w USING x WHERE w.thread_id = x.sid AND w.user_id = x.uid;
DELETE FROM lg_checkpoint c USING x WHERE c.thread_id = x.sid AND c.user_id = x.uid;
DELETE FROM crewai_agent_memory m USING x WHERE m.thread_id = x.sid AND m.user_id = x.uid;
DELETE FROM crewai_flow_state f USING x WHERE f.thread_id = x.sid AND f.user_id = x.uid;
DELETE FROM session_share h USING x WHERE h.session_id = x.sid AND h.user_id = x.uid;
DELETE FROM push_notification p USING xt WHERE p.task_id = xt.id;
DELETE FROM task t USING xt WHERE t.id = xt.id;
DELETE FROM session s USING x WHERE s.id = x.sid AND s.user_id = x.uid;
