#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGKILL at random points of a prune: after each kill the database passes integrity_check, no
# row remains whose parent the run deleted, and the next runs finish the job with exactly the
# rows uninterrupted runs leave.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
work=$(scratch)
trap 'rm -rf "$work"' EXIT
db=$work/kagent.db
now=2026-06-01T00:00:00Z
kills=${KR_KILLS:-8}

"$bin" datagen --sqlite-database-path "$db" --sessions 600 --events-per-session 40 --days 120 \
        --seed 5 --now "$now" >/dev/null || { echo "FAIL - datagen"; exit 1; }
cat >"$work/policy.yaml" <<'YAML'
spec:
  activeWindow: 30m
  sessions: {expireAfter: 30d}
  softDeleted: {purgeAfter: 7d}
  tasks: {finishedAfter: 7d}
  checkpoints: {keepLatestPerThread: 1, minAge: 1h}
  events: {maxAge: 14d, keepLastPerSession: 10}
  crewai: {memoryMaxAge: 14d, flowStateMaxAge: 14d}
  orphans: {enabled: true}
  batch: {maxRows: 50, pause: 1ms}
YAML
# Rules interact (deleting a finished task can make its session the oldest activity), so the
# end state is the fixpoint: runs repeated until one deletes nothing.
fixpoint() { # fixpoint DB OUT_JSON
        for _ in 1 2 3 4 5 6; do
                "$bin" prune --policy "$work/policy.yaml" --now "$now" -o json \
                        --sqlite-database-path "$1" >"$2" 2>/dev/null || return 1
                [ "$(json "$2" 'r["rows"]')" -eq 0 ] && return 0
        done
        return 1
}
cp "$db" "$work/ref.db"
"$bin" prune --policy "$work/policy.yaml" --now "$now" -o json \
        --sqlite-database-path "$work/ref.db" >"$work/ref.json" ||
        fail "reference prune"
echo "reference run: $(json "$work/ref.json" '"%d rows in %d batches, %d ms" % (r["rows"], r["batches"], r["durationMillis"])')"
fixpoint "$work/ref.db" "$work/ref2.json" || fail "reference reaches a fixpoint"

# Rows whose parent existed before the run and is gone now: must be none.
dangling() { # dangling BEFORE_DB
        sqlite3 "$db" "ATTACH '$1' AS b;
SELECT (SELECT count(*) FROM event e WHERE EXISTS (SELECT 1 FROM b.session s WHERE s.id = e.session_id AND s.user_id = e.user_id) AND NOT EXISTS (SELECT 1 FROM main.session s WHERE s.id = e.session_id AND s.user_id = e.user_id))
 + (SELECT count(*) FROM push_notification p WHERE EXISTS (SELECT 1 FROM b.task t WHERE t.id = p.task_id) AND NOT EXISTS (SELECT 1 FROM main.task t WHERE t.id = p.task_id))
 + (SELECT count(*) FROM task t WHERE EXISTS (SELECT 1 FROM b.session s WHERE s.id = t.session_id) AND NOT EXISTS (SELECT 1 FROM main.session s WHERE s.id = t.session_id))
 + (SELECT count(*) FROM lg_checkpoint c WHERE EXISTS (SELECT 1 FROM b.session s WHERE s.id = c.thread_id AND s.user_id = c.user_id) AND NOT EXISTS (SELECT 1 FROM main.session s WHERE s.id = c.thread_id AND s.user_id = c.user_id))
 + (SELECT count(*) FROM lg_checkpoint_write w WHERE EXISTS (SELECT 1 FROM b.lg_checkpoint c WHERE c.user_id = w.user_id AND c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns AND c.checkpoint_id = w.checkpoint_id) AND NOT EXISTS (SELECT 1 FROM main.lg_checkpoint c WHERE c.user_id = w.user_id AND c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns AND c.checkpoint_id = w.checkpoint_id))
 + (SELECT count(*) FROM crewai_agent_memory m WHERE EXISTS (SELECT 1 FROM b.session s WHERE s.id = m.thread_id AND s.user_id = m.user_id) AND NOT EXISTS (SELECT 1 FROM main.session s WHERE s.id = m.thread_id AND s.user_id = m.user_id))
 + (SELECT count(*) FROM crewai_flow_state m WHERE EXISTS (SELECT 1 FROM b.session s WHERE s.id = m.thread_id AND s.user_id = m.user_id) AND NOT EXISTS (SELECT 1 FROM main.session s WHERE s.id = m.thread_id AND s.user_id = m.user_id));"
}
rows() { # every table's rowids, one line per table
        for t in session event task push_notification lg_checkpoint lg_checkpoint_write \
                crewai_agent_memory crewai_flow_state feedback agent tool toolserver; do
                echo "$t: $(sqlite3 "$1" "SELECT group_concat(rowid) FROM (SELECT rowid FROM $t ORDER BY rowid)")"
        done
}

total=$(json "$work/ref.json" 'r["durationMillis"]')
cp "$db" "$work/orig.db"
killed=0
for i in $(seq "$kills"); do
        # Each round starts from the original database, is killed at a random point inside
        # the run (its uninterrupted duration was measured above), then finished.
        cp "$work/orig.db" "$db"
        "$bin" prune --policy "$work/policy.yaml" --now "$now" --sqlite-database-path "$db" \
                -o json >/dev/null 2>&1 &
        pid=$!
        delay_ms=$(( (RANDOM % (total > 20 ? total : 20)) + 5 ))
        sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
        if kill -KILL "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
        wait "$pid" 2>/dev/null
        check "round $i, killed after ${delay_ms} ms: integrity_check ok" \
                test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok
        check "round $i: no row left whose parent the run deleted" \
                test "$(dangling "$work/orig.db")" -eq 0
        fixpoint "$db" "$work/final.json" || fail "round $i: the next runs"
        if [ "$(rows "$db")" = "$(rows "$work/ref.db")" ]; then
                ok "round $i: the next runs finish the job: same rows as uninterrupted runs"
        else
                fail "round $i: the next runs finish the job: same rows as uninterrupted runs"
                diff <(rows "$db") <(rows "$work/ref.db") | cut -c1-300 | head -10
        fi
done
check "at least half of the rounds were killed mid-run ($killed of $kills)" \
        test $((killed * 2)) -ge "$kills"
finish
