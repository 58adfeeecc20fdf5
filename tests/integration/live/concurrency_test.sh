#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# While prune deletes more than 100k events, a separate process writing like kagent (journal
# DELETE, busy_timeout 5000 ms, one event upsert every 20 ms plus full-session reads) must see
# no "database is locked" and no other error. Its latency percentiles are reported.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
work=$(scratch)
trap 'kill $wpid 2>/dev/null; rm -rf "$work"' EXIT
wpid=
db=$work/kagent.db
now=2026-06-01T00:00:00Z

year_db "$db" 6500 "$work/policy.yaml" || { echo "FAIL - datagen"; exit 1; }
check "journal mode is DELETE, as kagent leaves it" \
        test "$(sqlite3 "$db" 'PRAGMA journal_mode')" = delete

"$writer" --db "$db" --interval-ms 20 --ready "$work/ready" >"$work/writer.json" &
wpid=$!
wait_file "$work/ready" || fail "writer started"
"$bin" prune --policy "$work/policy.yaml" --now "$now" -o json --sqlite-database-path "$db" \
        >"$work/prune.json" 2>"$work/prune.log"
prc=$?
kill -TERM "$wpid"
wait "$wpid"
wrc=$?
wpid=
check "prune succeeded" test "$prc" -eq 0
cat "$work/writer.json"
events=$(json "$work/prune.json" 'sum(d["rows"] for d in r["deleted"] if d["table"]=="event")')
echo "prune: $(json "$work/prune.json" '"%d rows in %.1f s, %d batches, paused %.2f s, longest write transaction %.1f ms, %d busy retries" % (r["rows"], r["durationMillis"]/1000, r["batches"], r["pausedMillis"]/1000, r["maxBatchMillis"], r["busyRetries"])')"
check "prune deleted at least 100k events ($events)" test "$events" -ge 100000
check "writer saw no errors (exit $wrc)" test "$wrc" -eq 0
check "writer saw zero 'database is locked'" test "$(json "$work/writer.json" 'r["locked_errors"]')" -eq 0
check "writer kept writing during the prune" test "$(json "$work/writer.json" 'r["writes"]')" -gt 20
check "no write transaction exceeded maxLockDuration twice over" \
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["maxBatchMillis"] < 100, r["maxBatchMillis"]' "$work/prune.json"
# The writer commits every 20 ms: a pause between batches ends once it has committed, so on
# average well short of batch.pause (20 ms; every pause lasting it would sum to batches x 20).
check "pauses end once the writer has committed" \
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["pausedMillis"] < 0.6 * 20 * r["batches"], (r["pausedMillis"], r["batches"])' "$work/prune.json"
check "database intact" test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok
echo "writer write latency during the prune: p50 $(json "$work/writer.json" 'r["write_p50_ms"]') ms, p99 $(json "$work/writer.json" 'r["write_p99_ms"]') ms, max $(json "$work/writer.json" 'r["write_max_ms"]') ms"
finish
