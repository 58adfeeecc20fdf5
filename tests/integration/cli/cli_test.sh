#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The command-line contract: exit codes, flags and environment, invalid policies that delete
# nothing, dry runs that change nothing, and JSON output that parses.
set -uo pipefail
bin=${KR_BINARY:?}
src=${KR_SOURCE_DIR:?}
work=$(mktemp -d /tmp/kr-cli-XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() { # check NAME COMMAND...
        local name=$1
        shift
        if "$@"; then ok "$name"; else fail "$name"; fi
}
expect_exit() { # expect_exit CODE NAME COMMAND...
        local want=$1 name=$2
        shift 2
        "$@" >"$work/out" 2>"$work/err"
        local got=$?
        if [ "$got" -eq "$want" ]; then ok "$name"; else
                fail "$name (exit $got, want $want)"
                sed 's/^/    /' "$work/err" | head -20
        fi
}
digest() { sha256sum "$1" | cut -d' ' -f1; }

db=$work/kagent.db
"$bin" datagen --sqlite-database-path "$db" --sessions 60 --days 60 --seed 7 >/dev/null ||
        { echo "FAIL - datagen"; exit 1; }

expect_exit 0 "version" "$bin" version
check "version prints the version" grep -q "kagent-retention [0-9]" "$work/out"
expect_exit 2 "no command is a usage error" "$bin"
expect_exit 2 "unknown command" "$bin" frobnicate
expect_exit 0 "prune --help" "$bin" prune --help
check "prune --help lists --policy" grep -q -- "--policy" "$work/out"
expect_exit 2 "prune without --policy" "$bin" prune --sqlite-database-path "$db"
expect_exit 2 "unknown flag" "$bin" report --no-such-flag
expect_exit 2 "bad output format" "$bin" report -o yaml --sqlite-database-path "$db"
expect_exit 2 "missing database file" "$bin" report --sqlite-database-path "$work/nope.db"
check "missing database is named" grep -q "nope.db" "$work/err"

# The PostgreSQL URL file: blank or whitespace-only files are a clear usage error.
printf '   \t  \n' >"$work/blank-url"
expect_exit 2 "whitespace-only POSTGRES_DATABASE_URL_FILE" \
        env DATABASE_TYPE=postgres POSTGRES_DATABASE_URL_FILE="$work/blank-url" "$bin" report
check "the blank URL file is named" grep -q "blank-url': empty" "$work/err"
: >"$work/empty-url"
expect_exit 2 "empty POSTGRES_DATABASE_URL_FILE" \
        env DATABASE_TYPE=postgres POSTGRES_DATABASE_URL_FILE="$work/empty-url" "$bin" report
expect_exit 2 "missing POSTGRES_DATABASE_URL_FILE" \
        env DATABASE_TYPE=postgres POSTGRES_DATABASE_URL_FILE="$work/none" "$bin" report

# A PostgreSQL password never reaches the logs or errors, whatever fails.
"$bin" run --database-type postgres --metrics-bind-address 0 --health-probe-bind-address 0 \
        --postgres-database-url 'postgres://kagent:s3cr3t-pw@127.0.0.1:1/kagent?sslmode=disable' \
        --once >"$work/out" 2>"$work/err"
check "an unreachable database fails run" test $? -ne 0
check "the effective configuration is logged with the URL redacted" \
        grep -q '"postgres_url":"postgres://kagent:\*\*\*@127.0.0.1:1/kagent' "$work/err"
check "the password appears nowhere" sh -c "! grep -q s3cr3t-pw '$work/out' '$work/err'"

# report: text and JSON, largest table first.
expect_exit 0 "report" "$bin" report --sqlite-database-path "$db"
check "report names the schema" grep -q "schema gorm-sqlite" "$work/out"
expect_exit 0 "report -o json" "$bin" report -o json --sqlite-database-path "$db"
check "report json parses, tables sorted" python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
b=[t["bytes"] for t in r["tables"]]
assert r["schema"]=="gorm-sqlite" and r["pageCount"]>0 and b==sorted(b,reverse=True), r
' "$work/out"

# Environment: kagent's variable names; flags beat environment.
expect_exit 0 "SQLITE_DATABASE_PATH from the environment" \
        env SQLITE_DATABASE_PATH="$db" "$bin" report -o json
expect_exit 2 "a flag beats the environment" \
        env SQLITE_DATABASE_PATH="$db" "$bin" report --sqlite-database-path "$work/nope.db"
expect_exit 2 "bad DATABASE_TYPE" env DATABASE_TYPE=oracle "$bin" report

# Every bad policy: exit 2, the field named, nothing deleted.
before=$(digest "$db")
for f in "$src"/tests/data/policies/bad/*.yaml; do
        want=$(sed -n 's/^# expect: *//p' "$f" | head -1)
        expect_exit 2 "bad policy $(basename "$f") exits 2" \
                "$bin" prune --policy "$f" --sqlite-database-path "$db"
        check "bad policy $(basename "$f") names $want" grep -qF -- "$want" "$work/err"
done
check "bad policies deleted nothing" test "$(digest "$db")" = "$before"
expect_exit 2 "run refuses a bad policy too" "$bin" run --once --metrics-bind-address 0 --health-probe-bind-address 0 \
        --policy "$(ls "$src"/tests/data/policies/bad/*.yaml | head -1)" --sqlite-database-path "$db"

# A dry run changes nothing and predicts the real run exactly.
pol=$work/policy.yaml
cat >"$pol" <<'YAML'
apiVersion: kagent.dev/v1alpha1
kind: RetentionPolicy
metadata: {name: test}
spec:
  activeWindow: 30m
  sessions: {expireAfter: 30d}
  softDeleted: {purgeAfter: 7d}
  tasks: {finishedAfter: 7d}
  checkpoints: {keepLatestPerThread: 2, minAge: 1h}
  orphans: {enabled: true}
  batch: {maxRows: 500, pause: 0s}
YAML
expect_exit 0 "prune --dry-run" "$bin" prune --policy "$pol" --dry-run -o json \
        --sqlite-database-path "$db"
cp "$work/out" "$work/dry.json"
check "dry run changed nothing" test "$(digest "$db")" = "$before"
check "dry run result is DryRun with rows" python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
assert r["result"]=="DryRun" and r["rows"]>0, r' "$work/dry.json"
expect_exit 0 "prune" "$bin" prune --policy "$pol" -o json --sqlite-database-path "$db"
check "prune deleted what the dry run predicted" python3 -c '
import json,sys
d=json.load(open(sys.argv[1])); r=json.load(open(sys.argv[2]))
key=lambda x:(x["rule"],x["table"],x["rows"])
assert r["result"]=="Succeeded" and r["rows"]==d["rows"], (d["rows"], r["rows"])
assert sorted(map(key,d["deleted"]))==sorted(map(key,r["deleted"])), (d["deleted"], r["deleted"])
assert r["maxBatchMillis"] > 0' "$work/dry.json" "$work/out"
check "database intact" test "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok
expect_exit 0 "second prune" "$bin" prune --policy "$pol" -o json --sqlite-database-path "$db"
check "second prune finds nothing" python3 -c '
import json,sys
r=json.load(open(sys.argv[1])); assert r["rows"]==0, r' "$work/out"

# A corrupt database is detected at start (quick_check) and never written.
cp "$db" "$work/corrupt.db"
"$bin" datagen --sqlite-database-path "$work/fresh.db" --sessions 60 --days 60 --seed 8 >/dev/null
cp "$work/fresh.db" "$work/corrupt.db"
dd if=/dev/urandom of="$work/corrupt.db" bs=4096 seek=40 count=8 conv=notrunc 2>/dev/null
check "the corrupted copy fails quick_check" sh -c "test \"\$(sqlite3 '$work/corrupt.db' 'PRAGMA quick_check' 2>&1 | head -1)\" != ok"
sum_before=$(digest "$work/corrupt.db")
"$bin" run --once --metrics-bind-address 0 --health-probe-bind-address 0 --reserve-bytes 0 \
        --policy "$pol" --sqlite-database-path "$work/corrupt.db" >"$work/out" 2>"$work/err"
check "a corrupt database is reported" grep -q "failed its integrity check" "$work/err"
check "a corrupt database is never written" test "$(digest "$work/corrupt.db")" = "$sum_before"

# run --once: one cycle, then exit 0; SIGTERM stops the loop.
expect_exit 0 "run --once" "$bin" run --once --metrics-bind-address 0 --health-probe-bind-address 0 --policy "$pol" --sqlite-database-path "$db"
"$bin" run --metrics-bind-address 0 --health-probe-bind-address 0 --policy "$pol" --sqlite-database-path "$db" 2>"$work/run.log" &
pid=$!
for _ in $(seq 100); do grep -q "prune run finished" "$work/run.log" && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
check "run exits 0 on SIGTERM" test $? -eq 0
check "run logged its shutdown" grep -q '"shutting down"' "$work/run.log"
# Idle, the loop sleeps until its next poll (ten minutes here) without waking in between; SIGTERM
# must still end it at once, whichever thread the signal lands on (the HTTP servers have threads).
"$bin" run --metrics-bind-address 127.0.0.1:0 --health-probe-bind-address 127.0.0.1:0 \
        --volume-poll-ms 600000 --policy "$pol" --sqlite-database-path "$db" 2>"$work/idle.log" &
pid=$!
for _ in $(seq 100); do grep -q "prune run finished" "$work/idle.log" && break; sleep 0.1; done
# Deliver it to an HTTP server thread, not the sleeping main thread (tgkill).
python3 -c '
import ctypes, os, signal, sys
pid = int(sys.argv[1])
tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(libc.syscall(234, pid, tids[0], int(signal.SIGTERM)) if tids else 1)  # SYS_tgkill
' "$pid"
check "SIGTERM sent to a server thread" test $? -eq 0
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "SIGTERM ends a long idle sleep within 10 s" sh -c "! kill -0 $pid 2>/dev/null"
kill -KILL "$pid" 2>/dev/null
wait "$pid"
check "and the idle run exits 0" test $? -eq 0
check "run logs are JSON lines" python3 -c '
import json,sys
for line in open(sys.argv[1]): json.loads(line)' "$work/run.log"

# A database another connection holds locked at start: run waits (retrying with backoff) instead
# of exiting, then prunes once the lock is gone; SIGTERM while it waits exits 0.
cp "$db" "$work/locked.db"
hold_lock() { # hold_lock SECONDS: another process holds $work/locked.db exclusively (pid $lpid)
        rm -f "$work/locked.ready"
        python3 -c '
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
open(sys.argv[2], "w").close()
time.sleep(float(sys.argv[3]))
c.execute("COMMIT")
' "$work/locked.db" "$work/locked.ready" "$1" &
        lpid=$!
        for _ in $(seq 100); do [ -e "$work/locked.ready" ] && break; sleep 0.05; done
}
hold_lock 4
"$bin" run --metrics-bind-address 0 --health-probe-bind-address 0 --busy-timeout 300 \
        --policy "$pol" --sqlite-database-path "$work/locked.db" 2>"$work/locked.log" &
pid=$!
for _ in $(seq 300); do grep -q "prune run finished" "$work/locked.log" && break; sleep 0.1; done
check "a locked database at start is waited for" grep -q "database locked by another connection: retrying" "$work/locked.log"
check "and pruned once released" grep -q '"prune run finished","result":"Succeeded"' "$work/locked.log"
kill -TERM "$pid"
wait "$pid"
check "that run exits 0 on SIGTERM" test $? -eq 0
wait "$lpid"
hold_lock 30
"$bin" run --metrics-bind-address 0 --health-probe-bind-address 0 --busy-timeout 300 \
        --policy "$pol" --sqlite-database-path "$work/locked.db" 2>"$work/locked2.log" &
pid=$!
for _ in $(seq 100); do grep -q "retrying" "$work/locked2.log" && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
check "SIGTERM while waiting for the lock exits 0" test $? -eq 0
kill "$lpid" 2>/dev/null
wait "$lpid" 2>/dev/null

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
