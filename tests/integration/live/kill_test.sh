#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# SIGKILL at random points of a prune: after each kill the database passes integrity_check, no
# row remains whose parent the run deleted, and the next runs finish the job with exactly the
# rows uninterrupted runs leave.
# SIGTERM to the sidecar (`run`) in the middle of its prune, as kubelet stops kagent's pod: the
# batch in flight commits and the run stops there (result Truncated, "stopped on request"; the
# rows it reports are exactly the rows gone from the file: no batch half done), the process
# exits 0 well within the pod's grace period, the file passes integrity_check with no row left
# whose parent went, and the next runs finish the job as above. (A session whose children span
# several batches may be left with part of its children gone: children go first by design, so
# that state is consistent, and the next run completes it.)
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

# kagent's controller pod sets no terminationGracePeriodSeconds (kagent's chart), so it has the
# Kubernetes default; our own Deployment (standalone mode) sets the same 30 s.
grace_ms=30000
terms=${KR_TERMS:-4}
# The scratch directory may sit on a shared tmpfs (/dev/shm), whose whole usage `run` takes for
# the volume's: a limit far above it keeps the emergency ladder out of these rounds.
no_ladder=(--volume-limit-bytes 1099511627776)
all_rows() {
        sqlite3 "$1" "SELECT (SELECT count(*) FROM session) + (SELECT count(*) FROM event) + (SELECT count(*) FROM task) + (SELECT count(*) FROM push_notification) + (SELECT count(*) FROM lg_checkpoint) + (SELECT count(*) FROM lg_checkpoint_write) + (SELECT count(*) FROM crewai_agent_memory) + (SELECT count(*) FROM crewai_flow_state) + (SELECT count(*) FROM feedback)"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# The sidecar prunes with the real clock: the same data, aged relative to now. The next runs and
# the reference then finish at an instant after every round ($now, an hour ahead): each rule
# selects a superset as time goes on, so the interrupted run's deletes are part of that state.
"$bin" datagen --sqlite-database-path "$work/term-orig.db" --sessions 600 --events-per-session 40 \
        --days 120 --seed 5 >/dev/null || fail "datagen for the SIGTERM rounds"
now=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
cp "$work/term-orig.db" "$work/term-ref.db"
db=$work/term-ref.db
fixpoint "$work/term-ref.db" "$work/term-ref.json" || fail "SIGTERM reference reaches a fixpoint"
max_stop_ms=0
for i in $(seq "$terms"); do
        db=$work/term.db
        cp "$work/term-orig.db" "$db"
        rm -f "$db-journal"
        "$bin" run --policy "$work/policy.yaml" --sqlite-database-path "$db" --reserve-bytes 0 \
                "${no_ladder[@]}" \
                --metrics-bind-address 0 --health-probe-bind-address 0 --log-level debug \
                2>"$work/term.log" &
        pid=$!
        # Wait for the prune to be deleting (its first committed batch), then a random moment.
        for _ in $(seq 2000); do
                grep -q '"msg":"batch"' "$work/term.log" && break
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.01
        done
        delay_ms=$((RANDOM % 300))
        sleep "$(printf '0.%03d' "$delay_ms")"
        t0=$(now_ms)
        kill -TERM "$pid"
        while kill -0 "$pid" 2>/dev/null && [ $(($(now_ms) - t0)) -lt $((grace_ms + 5000)) ]; do
                sleep 0.01
        done
        stop_ms=$(($(now_ms) - t0))
        kill -KILL "$pid" 2>/dev/null
        wait "$pid"
        rc=$?
        [ "$stop_ms" -gt "$max_stop_ms" ] && max_stop_ms=$stop_ms
        last=$(grep '"msg":"prune run finished"' "$work/term.log" | tail -1)
        reported=$(echo "$last" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read() or "{}").get("rows", -1))')
        result=$(echo "$last" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read() or "{}"); print(r.get("result"), r.get("message"))')
        gone=$(($(all_rows "$work/term-orig.db") - $(all_rows "$db")))
        check "SIGTERM round $i, $((delay_ms)) ms into the deletes: exit 0 (rc $rc)" test "$rc" -eq 0
        check "SIGTERM round $i: exited in ${stop_ms} ms, within the ${grace_ms} ms grace period" \
                test "$stop_ms" -lt "$grace_ms"
        check "SIGTERM round $i: the run stopped on request ($result)" \
                test "$(echo "$result" | cut -d' ' -f1-4)" = "Truncated stopped on request"
        check "SIGTERM round $i: rows reported ($reported) = rows gone from the file ($gone)" \
                test "$reported" -eq "$gone"
        check "SIGTERM round $i: integrity_check ok" \
                test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok
        check "SIGTERM round $i: no row left whose parent the run deleted" \
                test "$(dangling "$work/term-orig.db")" -eq 0
        fixpoint "$db" "$work/term-final.json" || fail "SIGTERM round $i: the next runs"
        if [ "$(rows "$db")" = "$(rows "$work/term-ref.db")" ]; then
                ok "SIGTERM round $i: the next runs finish the job: same rows as uninterrupted runs"
        else
                fail "SIGTERM round $i: the next runs finish the job: same rows as uninterrupted runs"
        fi
done
echo "SIGTERM: slowest exit ${max_stop_ms} ms of $terms rounds (grace period ${grace_ms} ms)"

# SIGTERM while a database the size of kagent's 500Mi volume is being planned: planning looks
# at the stop request between its short read statements, so the exit does not wait for the
# rule's whole plan. It must come well within the grace period.
"$bin" datagen --sqlite-database-path "$work/big.db" --sessions 2500 --events-per-session 55 \
        --days 365 --seed 11 >/dev/null || fail "datagen of the large database"
before=$(all_rows "$work/big.db")
"$bin" run --policy "$work/policy.yaml" --sqlite-database-path "$work/big.db" --reserve-bytes 0 \
        "${no_ladder[@]}" \
        --metrics-bind-address 0 --health-probe-bind-address 0 2>"$work/big.log" &
pid=$!
# The loop's first tick measures, then plans at once: stop it right after the measurement.
for _ in $(seq 3000); do
        grep -q '"msg":"measured"' "$work/big.log" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.01
done
t0=$(now_ms)
kill -TERM "$pid"
while kill -0 "$pid" 2>/dev/null && [ $(($(now_ms) - t0)) -lt $((grace_ms + 5000)) ]; do
        sleep 0.01
done
stop_ms=$(($(now_ms) - t0))
kill -KILL "$pid" 2>/dev/null
wait "$pid"
rc=$?
last=$(grep '"msg":"prune run finished"' "$work/big.log" | tail -1)
reported=$(echo "$last" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read() or "{}").get("rows", -1))')
echo "large database ($(($(stat -c %s "$work/big.db") / 1000000)) MB): SIGTERM while planning, exit in ${stop_ms} ms: $(echo "$last" | cut -c1-200)"
check "large database: exit 0 (rc $rc)" test "$rc" -eq 0
check "large database: exited in ${stop_ms} ms, within the ${grace_ms} ms grace period" \
        test "$stop_ms" -lt "$grace_ms"
check "large database: rows reported ($reported) = rows gone ($((before - $(all_rows "$work/big.db"))))" \
        test "$reported" -eq $((before - $(all_rows "$work/big.db")))
check "large database: integrity_check ok" \
        test "$(sqlite3 "$work/big.db" 'PRAGMA integrity_check')" = ok
"$bin" prune --policy "$work/policy.yaml" --sqlite-database-path "$work/big.db" -o json \
        >"$work/big-next.json" 2>/dev/null
check "large database: the next run resumes and succeeds" \
        test "$(json "$work/big-next.json" 'r["result"]')" = Succeeded
rm -f "$work/big.db"
finish
