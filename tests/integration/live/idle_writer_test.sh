#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A kagent writer that comes while nobody else writes: the engine then runs its batches back to
# back, and the writer, finding a transaction of ours running, sleeps in SQLite's busy handler,
# invisible to locks. Its attempts read the database file, and the engine sees those reads: it
# commits after the session it is on and pauses until the writer is through. Here one write
# every 2.5 s (longer than the 2 s after which kagent counts as idle) during a prune of a
# 0.9 GB file: no write may fail or wait longer than one batch.maxLockDuration (50 ms). (Measured
# 4.6-9.6 ms; 34-55 ms while a foreign commit unmapped the file under the shared lock and
# spilled batches held the exclusive lock.)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
work=$(scratch)
trap 'kill $wpid 2>/dev/null; rm -rf "$work"' EXIT
wpid=
db=$work/kagent.db
now=2026-06-01T00:00:00Z

# Under 2 GiB: the run's memory map covers the whole file, so every read(2) of it is another's.
year_db "$db" 4800 "$work/policy.yaml" || { echo "FAIL - datagen"; exit 1; }

"$bin" prune --policy "$work/policy.yaml" --now "$now" -o json --sqlite-database-path "$db" \
        >"$work/prune.json" 2>"$work/prune.log" &
ppid=$!
# The run's rollback journal appears with its first delete transaction: the writer starts then.
wait_file "$db-journal" || fail "the prune began deleting"
"$writer" --db "$db" --interval-ms 2500 --read-every 0 >"$work/writer.json" &
wpid=$!
wait "$ppid"
prc=$?
kill -TERM "$wpid"
wait "$wpid"
wrc=$?
wpid=
check "prune succeeded" test "$prc" -eq 0
cat "$work/writer.json"
echo "prune: $(json "$work/prune.json" '"%d rows in %.1f s, %d batches, paused %.2f s, longest write transaction %.1f ms" % (r["rows"], r["durationMillis"]/1000, r["batches"], r["pausedMillis"]/1000, r["maxBatchMillis"])')"
check "writer saw no errors (exit $wrc)" test "$wrc" -eq 0
check "writer saw zero 'database is locked'" test "$(json "$work/writer.json" 'r["locked_errors"]')" -eq 0
# Its first write follows its own session upsert (a commit); the next ones find kagent idle.
check "writer wrote at least twice during the prune" test "$(json "$work/writer.json" 'r["writes"]')" -ge 2
check "no write waited longer than 50 ms" \
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["write_max_ms"] <= 50, r["write_max_ms"]' "$work/writer.json"
check "database intact" test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok
finish
