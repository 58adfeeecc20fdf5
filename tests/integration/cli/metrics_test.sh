#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `run` serves what it measured and did: /metrics passes promtool with no warnings, the counters
# agree with the run's own report, and the probes answer; a monitor-only sidecar says so.
set -uo pipefail
. "$(dirname "$0")/../live/lib.sh"
work=$(mktemp -d /tmp/kr-metrics-XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
command -v promtool >/dev/null || { echo "FAIL - promtool is required (Debian package prometheus)"; exit 1; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mport=$(port)
hport=$(port)
db=$work/kagent.db
"$bin" datagen --sqlite-database-path "$db" --sessions 80 --days 60 --seed 9 >/dev/null ||
        { echo "FAIL - datagen"; exit 1; }
scrape() { curl -sf "http://127.0.0.1:$mport/metrics"; }
value() { scrape | awk -v k="$1" '$1 == k { print $2 }'; }
wait_metric() { # wait_metric SERIES VALUE
        for _ in $(seq 200); do [ "$(value "$1")" = "$2" ] && return 0; sleep 0.05; done
        return 1
}

"$bin" run --policy "$KR_SOURCE_DIR/manifests/samples/retentionpolicy-default.yaml" \
        --sqlite-database-path "$db" --metrics-bind-address "127.0.0.1:$mport" \
        --health-probe-bind-address "127.0.0.1:$hport" --volume-poll-ms 200 2>"$work/run.log" &
pid=$!
check "a scheduled run is counted" wait_metric 'kagent_retention_runs_total{result="Succeeded"}' 1
scrape >"$work/metrics.txt"
check "promtool check metrics: no problems" sh -c "promtool check metrics <'$work/metrics.txt' >'$work/promtool.txt' 2>&1 && ! test -s '$work/promtool.txt'"
cat "$work/promtool.txt"
rows=$(python3 -c '
import json,sys
for l in open(sys.argv[1]):
    r=json.loads(l)
    if r["msg"]=="prune run finished": print(r["rows"]); break' "$work/run.log")
sum=$(awk '/^kagent_retention_deleted_rows_total/ { s += $2 } END { print s + 0 }' "$work/metrics.txt")
check "deleted_rows_total adds up to the run's $rows rows" test "$sum" = "$rows"
check "database size is exported" awk '$1 == "kagent_retention_database_size_bytes" && $2 > 0 { f = 1 } END { exit !f }' "$work/metrics.txt"
check "the event table's bytes are exported" grep -q '^kagent_retention_table_bytes{table="event"} [1-9]' "$work/metrics.txt"
check "watermarks are exported" grep -q '^kagent_retention_volume_watermark_ratio{level="high"} 0.8$' "$work/metrics.txt"
check "the policy is exported" grep -q '^kagent_retention_policy_info{name="default"' "$work/metrics.txt"
check "batch durations are observed" awk '$1 == "kagent_retention_batch_duration_seconds_count" && $2 > 0 { f = 1 } END { exit !f }' "$work/metrics.txt"
check "/healthz is 200" curl -sf "http://127.0.0.1:$hport/healthz"
check "/readyz is 200" curl -sf "http://127.0.0.1:$hport/readyz"
check "/metrics is not on the health port" test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$hport/metrics")" = 404
kill -TERM "$pid"
wait "$pid"
check "run exits 0 on SIGTERM" test $? -eq 0
pid=

# Monitor-only: no policy, ready with the reason, nothing deleted.
before=$(sha256sum "$db" | cut -d' ' -f1)
"$bin" run --sqlite-database-path "$db" --metrics-bind-address "127.0.0.1:$mport" \
        --health-probe-bind-address "127.0.0.1:$mport" --volume-poll-ms 200 2>"$work/mon.log" &
pid=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$mport/readyz" >"$work/ready" && break; sleep 0.05; done
check "monitor-only readiness says so" grep -q "monitor-only: no policy" "$work/ready"
check "one port serves metrics and probes" sh -c "curl -sf http://127.0.0.1:$mport/metrics | grep -q kagent_retention_build_info"
check "no policy series in monitor-only mode" sh -c "! curl -sf http://127.0.0.1:$mport/metrics | grep -q '^kagent_retention_policy_info'"
kill -TERM "$pid"
wait "$pid"
pid=
check "monitor-only deleted nothing" test "$(sha256sum "$db" | cut -d' ' -f1)" = "$before"
finish
