# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the live PostgreSQL tests (sourced): TAP-like checks from the live tests,
# plus databases on the fixture server (KR_PG_URL_FILE) built from kagent's schemas.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../live/lib.sh"
src=${KR_SOURCE_DIR:?}
if [ ! -s "${KR_PG_URL_FILE:?}" ]; then
        echo "skipped: no PostgreSQL test server (pg_server.sh start did not run)"
        exit 77
fi
server_url=$(head -1 "$KR_PG_URL_FILE")

# The server's URL for another database (the URL ends in /<dbname>).
db_url() { echo "${server_url%/*}/$1"; }

pg() { # pg DB SQL...: run SQL in DB, unaligned output without headers
        local db=$1
        shift
        psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$(db_url "$db")" "$@"
}

# create_db NAME ERA: a fresh database with kagent's schema of that era (migrate | gorm).
create_db() {
        pg postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" || return 1
        if [ "$2" = migrate ]; then
                sed '/^CREATE EXTENSION IF NOT EXISTS vector/,$d' \
                        "$src/tests/data/kagent/schema-postgres.sql" | pg "$1" -f - &&
                        pg "$1" -c "INSERT INTO schema_migrations VALUES (13, false)"
        else
                pg "$1" -f "$src/tests/data/kagent/schema-postgres-gorm.sql"
        fi
}

drop_db() { pg postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1; }

# gen DB SESSIONS EVENTS DAYS NOW_EPOCH: kagent-like data (gen.sql).
gen() {
        pg "$1" -v sessions="$2" -v events="$3" -v days="$4" -v now="$5" -f "$here/gen.sql"
}

# url_file DB FILE: the database's URL in a file, as POSTGRES_DATABASE_URL_FILE wants it.
url_file() { (umask 077 && db_url "$1" >"$2"); }

# snapshot_parents DB: remember every parent key, for dangling after a run.
snapshot_parents() {
        pg "$1" -c "DROP SCHEMA IF EXISTS snap CASCADE" -c "CREATE SCHEMA snap" \
                -c "CREATE TABLE snap.session AS SELECT id, user_id FROM session" \
                -c "CREATE TABLE snap.task AS SELECT id FROM task" \
                -c "CREATE TABLE snap.lg_checkpoint AS SELECT user_id, thread_id, checkpoint_ns, checkpoint_id FROM lg_checkpoint"
}

# dangling DB: rows whose parent existed before the run (snapshot_parents) and is gone now.
dangling() {
        pg "$1" -c "SELECT
 (SELECT count(*) FROM event e WHERE EXISTS (SELECT 1 FROM snap.session s WHERE s.id = e.session_id AND s.user_id = e.user_id) AND NOT EXISTS (SELECT 1 FROM session s WHERE s.id = e.session_id AND s.user_id = e.user_id))
 + (SELECT count(*) FROM push_notification p WHERE EXISTS (SELECT 1 FROM snap.task t WHERE t.id = p.task_id) AND NOT EXISTS (SELECT 1 FROM task t WHERE t.id = p.task_id))
 + (SELECT count(*) FROM task t WHERE EXISTS (SELECT 1 FROM snap.session s WHERE s.id = t.session_id) AND NOT EXISTS (SELECT 1 FROM session s WHERE s.id = t.session_id))
 + (SELECT count(*) FROM lg_checkpoint c WHERE EXISTS (SELECT 1 FROM snap.session s WHERE s.id = c.thread_id AND s.user_id = c.user_id) AND NOT EXISTS (SELECT 1 FROM session s WHERE s.id = c.thread_id AND s.user_id = c.user_id))
 + (SELECT count(*) FROM lg_checkpoint_write w WHERE EXISTS (SELECT 1 FROM snap.lg_checkpoint c WHERE c.user_id = w.user_id AND c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns AND c.checkpoint_id = w.checkpoint_id) AND NOT EXISTS (SELECT 1 FROM lg_checkpoint c WHERE c.user_id = w.user_id AND c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns AND c.checkpoint_id = w.checkpoint_id))
 + (SELECT count(*) FROM crewai_agent_memory m WHERE EXISTS (SELECT 1 FROM snap.session s WHERE s.id = m.thread_id AND s.user_id = m.user_id) AND NOT EXISTS (SELECT 1 FROM session s WHERE s.id = m.thread_id AND s.user_id = m.user_id))
 + (SELECT count(*) FROM crewai_flow_state m WHERE EXISTS (SELECT 1 FROM snap.session s WHERE s.id = m.thread_id AND s.user_id = m.user_id) AND NOT EXISTS (SELECT 1 FROM session s WHERE s.id = m.thread_id AND s.user_id = m.user_id))"
}

# rows DB: every prunable table's primary keys, one line per table.
rows() {
        local t
        for t in "session:id||'/'||user_id" "event:id||'/'||user_id" "task:id" \
                "push_notification:id" "lg_checkpoint:thread_id||'/'||checkpoint_id" \
                "lg_checkpoint_write:thread_id||'/'||checkpoint_id||'/'||write_idx" \
                "crewai_agent_memory:thread_id" "crewai_flow_state:thread_id" "feedback:id"; do
                echo "${t%%:*}: $(pg "$1" -c "SELECT md5(coalesce(string_agg(k::text, ',' ORDER BY k::text), '')) || ' ' || count(*) FROM (SELECT ${t#*:} AS k FROM ${t%%:*}) x")"
        done
}
