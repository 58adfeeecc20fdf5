#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A burst fills a 64 MiB tmpfs to 100% faster than the sidecar polls: the writer gets
# SQLITE_FULL. At its next measurement the sidecar gives back its reserve (room for a delete
# journal), runs the emergency ladder, and the writer's ordinary traffic succeeds again.
set -uo pipefail
. "$(dirname "$0")/tmpfs_lib.sh"
work=$(mktemp -d /tmp/kr-rescue-XXXXXX)
mount_tmpfs 64m
db=$mnt/kagent.db

"$bin" datagen --sqlite-database-path "$db" --sessions 120 --days 90 --size 40000000 --seed 4 \
        >/dev/null || { echo "FAIL - datagen"; exit 1; }
cat >"$work/policy.yaml" <<'YAML'
spec:
  activeWindow: 5m
  volume: {highWatermarkPercent: 80, lowWatermarkPercent: 65}
  batch: {maxRows: 200, pause: 5ms}
YAML
"$bin" run --metrics-bind-address 0 --health-probe-bind-address 0 --policy "$work/policy.yaml" --sqlite-database-path "$db" --volume-poll-ms 4000 \
        --reserve-bytes 4194304 2>"$work/sidecar.log" &
sidecar=$!
for _ in $(seq 200); do grep -q '"reserve created"' "$work/sidecar.log" && break; sleep 0.05; done
check "sidecar created its reserve" grep -q '"reserve created"' "$work/sidecar.log"

# 1 MiB events back to back until the volume is full, then 64 KiB every 100 ms for 12 s.
"$writer" --db "$db" --session burst-session --burst-until-full --payload 1048576 \
        --payload-after 65536 --interval-ms 100 --read-every 0 --duration-ms 12000 \
        >"$work/writer.json"
cat "$work/writer.json"
kill -TERM "$sidecar"
wait "$sidecar"
sidecar=
check "the burst filled the volume (SQLITE_FULL seen)" \
        test "$(json "$work/writer.json" 'r["full_errors"]')" -gt 0
check "the sidecar released its reserve" grep -q '"reserve released"' "$work/sidecar.log"
check "the emergency ladder ran" grep -q '"emergency ladder finished"' "$work/sidecar.log"
check "the writer succeeds again after the rescue" \
        test "$(json "$work/writer.json" 'r["writes_after_last_error"]')" -ge 20
echo "writer failed from $(json "$work/writer.json" 'r["first_error_ms"]') ms to $(json "$work/writer.json" 'r["last_error_ms"]') ms after its start"
check "rescued within one poll period and one run (< 10 s of failures)" python3 -c '
import json,sys
r=json.load(open(sys.argv[1])); assert r["last_error_ms"] - r["first_error_ms"] < 10000, r' "$work/writer.json"
check "database intact" test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok
finish
