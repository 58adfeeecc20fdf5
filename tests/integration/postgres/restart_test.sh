#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The PostgreSQL server restarts (fast shutdown: every connection is cut) in the middle of a
# prune: the run fails cleanly (exit 1, a connection error, no crash), no row is left whose
# parent the run deleted, and the next runs finish the job with exactly the rows that
# uninterrupted runs leave. The server is shared by the other tests: ctest runs this one alone.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kr-pgr-XXXXXX)
db=kr_restart_$$
trap 'drop_db $db; drop_db ${db}_ref; drop_db ${db}_orig; rm -rf "$work"' EXIT
rounds=${KR_RESTARTS:-3}
now=$(date +%s)

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
  batch: {maxRows: 100, pause: 5ms}
YAML
prune() { # prune DB OUT
        url_file "$1" "$work/$1.url"
        "$bin" prune --database-type postgres --postgres-database-url-file "$work/$1.url" \
                --policy "$work/policy.yaml" --now "${now}000" -o json >"$2" 2>"$2.log"
}
# Rules interact, so the end state is the fixpoint: runs repeated until one deletes nothing.
fixpoint() { # fixpoint DB OUT
        for _ in 1 2 3 4 5 6; do
                prune "$1" "$2" || return 1
                [ "$(json "$2" 'r["rows"]')" -eq 0 ] && return 0
        done
        return 1
}

create_db "${db}_orig" gorm >/dev/null || { echo "FAIL - create database"; exit 1; }
gen "${db}_orig" 1200 40 90 "$now" >/dev/null || { echo "FAIL - generate data"; exit 1; }
pg postgres -c "CREATE DATABASE ${db}_ref TEMPLATE ${db}_orig" >/dev/null
prune "${db}_ref" "$work/ref.json" || fail "reference prune"
total=$(json "$work/ref.json" 'r["durationMillis"]')
echo "reference run: $(json "$work/ref.json" '"%d rows in %d batches, %d ms" % (r["rows"], r["batches"], r["durationMillis"])')"
fixpoint "${db}_ref" "$work/ref2.json" || fail "reference reaches a fixpoint"

failed_runs=0
for i in $(seq "$rounds"); do
        drop_db "$db"
        pg postgres -c "CREATE DATABASE $db TEMPLATE ${db}_orig" >/dev/null
        snapshot_parents "$db" >/dev/null
        prune "$db" "$work/run.json" &
        pid=$!
        # Restart somewhere in the middle of the run (its uninterrupted duration was measured).
        delay_ms=$(( total / 4 + RANDOM % (total / 2 + 1) ))
        sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
        "$KR_PG_SERVER" restart "$KR_PG_DIR" || fail "round $i: server restart"
        wait "$pid"
        rc=$?
        result=$(json "$work/run.json" 'r["result"]' 2>/dev/null)
        echo "round $i, restart after ${delay_ms} ms: exit $rc, $result: $(json "$work/run.json" 'r["message"]' 2>/dev/null | cut -c1-160)"
        if [ "$result" = Failed ]; then
                failed_runs=$((failed_runs + 1))
                check "round $i: the run failed cleanly (exit 1, a connection error)" \
                        test "$rc" -eq 1 -a -n "$(json "$work/run.json" 'r["message"]' | grep -iE 'connection|terminat|shut')"
        else
                check "round $i: a run the restart missed succeeded" test "$rc" -eq 0
        fi
        check "round $i: no row left whose parent the run deleted" test "$(dangling "$db")" -eq 0
        fixpoint "$db" "$work/final.json" || fail "round $i: the next runs"
        if [ "$(rows "$db")" = "$(rows "${db}_ref")" ]; then
                ok "round $i: the next runs finish the job: same rows as uninterrupted runs"
        else
                fail "round $i: the next runs finish the job: same rows as uninterrupted runs"
                diff <(rows "$db") <(rows "${db}_ref") | head -10
        fi
done
check "at least one round was cut mid-run ($failed_runs of $rounds)" test "$failed_runs" -ge 1
finish
