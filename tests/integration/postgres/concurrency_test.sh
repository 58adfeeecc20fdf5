#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# While prune deletes more than 200k events from a PostgreSQL kagent database (migration era),
# a separate process writes like kagent (kagent-pg-writer: an event insert, a session bump and
# a task upsert per transaction every 20 ms, session reloads, every 10th write to one of the
# oldest sessions, the rows being pruned) and must see no error at all. Its latency
# percentiles and the prune's throughput are reported. No row may be left whose parent the
# run deleted, and nothing the writer wrote may lose its session.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kr-pgc-XXXXXX)
db=kr_conc_$$
trap 'kill $wpid 2>/dev/null; drop_db $db; rm -rf "$work"' EXIT
wpid=

create_db "$db" migrate >/dev/null || { echo "FAIL - create database"; exit 1; }
t0=$(date +%s)
gen "$db" 5000 60 120 "$(date +%s)" >/dev/null || { echo "FAIL - generate data"; exit 1; }
echo "data: $(pg "$db" -c "SELECT count(*) || ' events, ' || (SELECT count(*) FROM session) || ' sessions, ' || pg_size_pretty(pg_database_size(current_database())) FROM event") in $(( $(date +%s) - t0 )) s"
snapshot_parents "$db" >/dev/null
url_file "$db" "$work/url"
cat >"$work/policy.yaml" <<'YAML'
spec:
  activeWindow: 30m
  sessions: {expireAfter: 30d}
YAML

"$writer" --url-file "$work/url" --interval-ms 20 --old-every 10 --ready "$work/ready" \
        >"$work/writer.json" &
wpid=$!
wait_file "$work/ready" || fail "writer started"
POSTGRES_DATABASE_URL_FILE="$work/url" "$bin" prune --database-type postgres \
        --policy "$work/policy.yaml" -o json >"$work/prune.json" 2>"$work/prune.log"
prc=$?
kill -TERM "$wpid"
wait "$wpid"
wrc=$?
wpid=
check "prune succeeded" test "$prc" -eq 0
cat "$work/writer.json"
events=$(json "$work/prune.json" 'sum(d["rows"] for d in r["deleted"] if d["table"]=="event")')
echo "prune: $(json "$work/prune.json" '"%d rows (%d events) in %.1f s (planning %.1f s, paused %.1f s): %.0f rows/s; %d batches, longest write transaction %.1f ms, %d re-check skips" % (r["rows"], sum(d["rows"] for d in r["deleted"] if d["table"]=="event"), r["durationMillis"]/1000, r["planMillis"]/1000, r["pausedMillis"]/1000, r["rows"]*1000/max(r["durationMillis"],1), r["batches"], r["maxBatchMillis"], r["skippedUnits"])')"
check "prune deleted at least 200k events ($events)" test "$events" -ge 200000
check "writer saw no errors (exit $wrc)" test "$wrc" -eq 0
check "writer saw zero errors" test "$(json "$work/writer.json" 'r["errors"] + r["read_errors"]')" -eq 0
check "writer kept writing during the prune" test "$(json "$work/writer.json" 'r["writes"]')" -gt 50
check "writer went back to old sessions during the prune" \
        test "$(json "$work/writer.json" 'r["old_session_writes"]')" -gt 5
# Bounds that catch lock waits (lock_timeout is 500 ms) and table scans inside a batch. The
# fixture's server keeps its data and WAL on /dev/shm where there is one, so a shared disk's
# write-back stalls (a 531 ms commit once in CI, the writer's own commits as slow) are not in them.
check "no write transaction came near lock_timeout" \
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["maxBatchMillis"] < 450, r["maxBatchMillis"]' "$work/prune.json"
check "writer p99 latency stayed under 250 ms" \
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["write_p99_ms"] < 250, r["write_p99_ms"]' "$work/writer.json"
check "no row left whose parent the run deleted" test "$(dangling "$db")" -eq 0
check "every event the writer wrote still has its session" test "$(pg "$db" -c \
        "SELECT count(*) FROM event e WHERE e.id LIKE 'w-%' AND NOT EXISTS (SELECT 1 FROM session s WHERE s.id = e.session_id AND s.user_id = e.user_id)")" -eq 0
check "no expired session is left (but those the writer revived)" test "$(pg "$db" -c \
        "SELECT count(*) FROM session WHERE updated_at < now() - interval '30 days' AND deleted_at IS NULL")" -eq 0
echo "writer write latency during the prune: p50 $(json "$work/writer.json" 'r["write_p50_ms"]') ms, p99 $(json "$work/writer.json" 'r["write_p99_ms"]') ms, max $(json "$work/writer.json" 'r["write_max_ms"]') ms; session reload p99 $(json "$work/writer.json" 'r["read_p99_ms"]') ms"
finish
