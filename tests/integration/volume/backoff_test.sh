#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A volume above the high watermark with nothing the emergency ladder may delete (every session
# active, a big file that is not the database): the ladder runs, finds nothing, and backs off
# instead of re-planning on every volume poll. It runs again at once when data can go.
set -uo pipefail
. "$(dirname "$0")/tmpfs_lib.sh"
work=$(mktemp -d /tmp/kr-backoff-XXXXXX)
mount_tmpfs 32m
db=$mnt/kagent.db

"$bin" datagen --sqlite-database-path "$db" --sessions 20 --days 1 --seed 5 >/dev/null ||
        { echo "FAIL - datagen"; exit 1; }
# Usage well above the high watermark, from a file the sidecar must never touch.
dd if=/dev/zero of="$mnt/other-data" bs=1M count=22 status=none
cat >"$work/policy.yaml" <<'YAML'
spec:
  activeWindow: 1000d
  volume:
    highWatermarkPercent: 50
    lowWatermarkPercent: 40
    emergency: {enabled: true}
YAML
"$bin" run --metrics-bind-address 0 --health-probe-bind-address 0 --policy "$work/policy.yaml" \
        --sqlite-database-path "$db" --volume-poll-ms 200 --reserve-bytes 0 \
        2>"$work/sidecar.log" &
sidecar=$!
# Wait for the first ladder that deleted nothing, then watch 25 more polls (5 s).
zero='"emergency ladder finished".*"rows":0,'
for _ in $(seq 300); do grep -q "$zero" "$work/sidecar.log" && break; sleep 0.05; done
check "a ladder found nothing to delete" grep -q "$zero" "$work/sidecar.log"
sleep 5 # the observation window itself: ladders are counted over it, not waited for
kill -TERM "$sidecar"
wait "$sidecar"
check "sidecar exits 0 on SIGTERM" test $? -eq 0
sidecar=
n=$(grep -c "$zero" "$work/sidecar.log")
echo "ladders that deleted nothing: $n in about 5 s of 200 ms polls"
check "it backed off (one empty ladder, not one per poll)" test "$n" -eq 1
check "the other file is untouched" test "$(stat -c %s "$mnt/other-data")" -eq $((22 * 1048576))
check "the database is intact" sh -c "test \"\$(sqlite3 '$db' 'PRAGMA integrity_check')\" = ok"
finish
