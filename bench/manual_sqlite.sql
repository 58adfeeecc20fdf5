-- SPDX-License-Identifier: Apache-2.0
-- The manual baseline on SQLite: what an operator runs through the sqlite3 shell to delete
-- everything of the sessions idle longer than the cutoff, one DELETE per table (each its own
-- transaction, as the shell runs them). @CUT@ is replaced by the cutoff as a julian day number
-- (bench/run: now - 30 d). The expired set follows the sessions rule exactly: a session's last
-- activity is the newest of its own timestamps, its events, checkpoints and CrewAI rows and the
-- tasks of its id (of any user); a session without any known timestamp or with an unfinished
-- task updated after the cutoff (or never) is kept; tasks of an id shared by several users go
-- only with the last session row of that id.
.bail on
.timeout 5000
CREATE TEMP TABLE x(sid TEXT, uid TEXT, PRIMARY KEY (sid, uid)) WITHOUT ROWID;
INSERT INTO x SELECT s.id, s.user_id FROM session s
WHERE s.id IS NOT NULL AND s.user_id IS NOT NULL
  AND (julianday(s.updated_at) IS NOT NULL OR julianday(s.created_at) IS NOT NULL)
  AND max(coalesce(julianday(s.updated_at), -1), coalesce(julianday(s.created_at), -1)) < @CUT@
  AND NOT EXISTS (SELECT 1 FROM event e WHERE e.session_id = s.id AND e.user_id = s.user_id
                  AND julianday(e.created_at) >= @CUT@)
  AND NOT EXISTS (SELECT 1 FROM lg_checkpoint c WHERE c.user_id = s.user_id
                  AND c.thread_id = s.id AND julianday(c.created_at) >= @CUT@)
  AND NOT EXISTS (SELECT 1 FROM crewai_agent_memory m WHERE m.user_id = s.user_id
                  AND m.thread_id = s.id AND julianday(m.updated_at) >= @CUT@)
  AND NOT EXISTS (SELECT 1 FROM crewai_flow_state f WHERE f.user_id = s.user_id
                  AND f.thread_id = s.id AND julianday(f.updated_at) >= @CUT@)
  AND NOT EXISTS (SELECT 1 FROM task t WHERE t.session_id = s.id
                  AND (julianday(t.updated_at) >= @CUT@
                       OR ((CASE WHEN json_valid(t.data) THEN json_extract(t.data, '$.status.state') END)
                           IN ('submitted','working','input-required','auth-required',
                               'TASK_STATE_SUBMITTED','TASK_STATE_WORKING',
                               'TASK_STATE_INPUT_REQUIRED','TASK_STATE_AUTH_REQUIRED')
                           AND coalesce(julianday(t.updated_at), 1e9) > @CUT@)));
-- Session ids all of whose (non-NULL-user) rows expire: their tasks go too.
CREATE TEMP TABLE xt(sid TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO xt SELECT DISTINCT x.sid FROM x WHERE NOT EXISTS (SELECT 1 FROM session o
  WHERE o.id = x.sid AND o.user_id <> x.uid AND (o.id, o.user_id) NOT IN (SELECT sid, uid FROM x));
DELETE FROM event WHERE (session_id, user_id) IN (SELECT sid, uid FROM x);
DELETE FROM lg_checkpoint_write WHERE (thread_id, user_id) IN (SELECT sid, uid FROM x);
DELETE FROM lg_checkpoint WHERE (thread_id, user_id) IN (SELECT sid, uid FROM x);
DELETE FROM crewai_agent_memory WHERE (thread_id, user_id) IN (SELECT sid, uid FROM x);
DELETE FROM crewai_flow_state WHERE (thread_id, user_id) IN (SELECT sid, uid FROM x);
DELETE FROM push_notification WHERE task_id IN (SELECT id FROM task WHERE session_id IN (SELECT sid FROM xt));
DELETE FROM task WHERE session_id IN (SELECT sid FROM xt);
DELETE FROM session WHERE (id, user_id) IN (SELECT sid, uid FROM x);
