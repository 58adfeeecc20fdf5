#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A kagent-like writer fills a 64 MiB tmpfs (a memory emptyDir) at 5 MB/s on top of 30 MB of old
# data. With the sidecar running, the writer never gets SQLITE_FULL: the emergency ladder keeps
# the volume under its watermark, steps in the policy's order, and the writer's active session
# survives whole.
set -uo pipefail
. "$(dirname "$0")/tmpfs_lib.sh"
work=$(mktemp -d /tmp/kr-fill-XXXXXX)
mount_tmpfs 64m
db=$mnt/kagent.db

"$bin" datagen --sqlite-database-path "$db" --sessions 100 --days 90 --size 30000000 --seed 3 \
        >/dev/null || { echo "FAIL - datagen"; exit 1; }
echo "before: $(du -b "$db" | cut -f1) bytes, volume $(used_pct)% used"
cat >"$work/policy.yaml" <<'YAML'
spec:
  activeWindow: 5m
  volume:
    highWatermarkPercent: 80
    lowWatermarkPercent: 65
  batch: {maxRows: 500, pause: 5ms}
YAML
"$bin" run --metrics-bind-address 0 --health-probe-bind-address 0 --policy "$work/policy.yaml" --sqlite-database-path "$db" --volume-poll-ms 250 \
        --reserve-bytes 4194304 --log-format json 2>"$work/sidecar.log" &
sidecar=$!
for _ in $(seq 200); do grep -q '"reserve created"' "$work/sidecar.log" && break; sleep 0.05; done
check "sidecar created its reserve" grep -q '"reserve created"' "$work/sidecar.log"

# 256 KiB events every 50 ms for 10 s: 50 MB into an active session.
"$writer" --db "$db" --session burst-session --interval-ms 50 --payload 262144 --read-every 0 \
        --duration-ms 10000 --ready "$work/ready" >"$work/writer.json"
wrc=$?
cat "$work/writer.json"
kill -TERM "$sidecar"
wait "$sidecar"
check "sidecar exits 0 on SIGTERM" test $? -eq 0
sidecar=
check "writer never got SQLITE_FULL (exit $wrc)" test "$(json "$work/writer.json" 'r["full_errors"]')" -eq 0
check "writer saw no error at all" test "$wrc" -eq 0
check "the emergency ladder ran" grep -q '"emergency ladder finished"' "$work/sidecar.log"
check "the ladder relieved the pressure" \
        grep -q '"emergency ladder finished".*"relieved":true' "$work/sidecar.log"
writes=$(json "$work/writer.json" 'r["writes"]')
check "the active session kept every event ($writes)" \
        test "$(sqlite3 "$db" "SELECT count(*) FROM event WHERE session_id = 'burst-session'")" -eq "$writes"
check "database intact" test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok
# Steps ran in the policy's order: softDeleted, orphans, checkpoints, finishedTasks, idleSessions.
python3 - "$work/sidecar.log" <<'PY' && ok "ladder steps in the policy's order" || fail "ladder steps in the policy's order"
import json, sys
order = ["softDeleted", "orphans", "checkpoints", "finishedTasks", "idleSessions"]
last = -1
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["msg"] == "emergency ladder finished":
        last = -1
    if r["msg"] == "emergency step finished":
        i = order.index(r["step"])
        assert i > last, (r["step"], last)
        last = i
PY
echo "after: volume $(used_pct)% used"
finish
