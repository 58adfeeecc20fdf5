#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Two pruners started at once on the same PostgreSQL database (two replicas of the sidecar):
# exactly one prunes, the other skips the run because the advisory lock is taken, and the
# database ends as one uninterrupted run leaves it.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kr-pgp-XXXXXX)
db=kr_pruners_$$
trap 'drop_db $db; drop_db ${db}_ref; rm -rf "$work"' EXIT

create_db "$db" gorm >/dev/null || { echo "FAIL - create database"; exit 1; }
gen "$db" 1500 30 90 "$(date +%s)" >/dev/null || { echo "FAIL - generate data"; exit 1; }
pg postgres -c "CREATE DATABASE ${db}_ref TEMPLATE $db" >/dev/null
url_file "$db" "$work/url"
url_file "${db}_ref" "$work/ref_url"
# Small paced batches: the winner holds the lock for seconds, well past the loser's start.
cat >"$work/policy.yaml" <<'YAML'
spec:
  activeWindow: 30m
  sessions: {expireAfter: 30d}
  softDeleted: {purgeAfter: 7d}
  batch: {maxRows: 100, pause: 20ms}
YAML
prune() { # prune URL_FILE OUT
        "$bin" prune --database-type postgres --postgres-database-url-file "$1" \
                --policy "$work/policy.yaml" -o json >"$2" 2>"$2.log"
}
prune "$work/url" "$work/a.json" &
apid=$!
prune "$work/url" "$work/b.json" &
bpid=$!
wait "$apid"
arc=$?
wait "$bpid"
brc=$?
ra=$(json "$work/a.json" 'r["result"]')
rb=$(json "$work/b.json" 'r["result"]')
echo "pruner a: $ra (exit $arc, $(json "$work/a.json" 'r["rows"]') rows, $(json "$work/a.json" 'r["durationMillis"]') ms): $(json "$work/a.json" 'r["message"]')"
echo "pruner b: $rb (exit $brc, $(json "$work/b.json" 'r["rows"]') rows, $(json "$work/b.json" 'r["durationMillis"]') ms): $(json "$work/b.json" 'r["message"]')"
check "exactly one pruner succeeded" test "$(printf '%s\n%s\n' "$ra" "$rb" | grep -c '^Succeeded$')" -eq 1
check "the other skipped the run" test "$(printf '%s\n%s\n' "$ra" "$rb" | grep -c '^Skipped$')" -eq 1
if [ "$ra" = Skipped ]; then loser=a; winner=b; else loser=b; winner=a; fi
check "the loser says why" test "$(json "$work/$loser.json" 'r["message"]')" = \
        "another pruner holds the advisory lock"
check "the loser deleted nothing" test "$(json "$work/$loser.json" 'r["rows"]')" -eq 0
check "the winner pruned" test "$(json "$work/$winner.json" 'r["rows"]')" -gt 10000
prune "$work/ref_url" "$work/ref.json"
if [ "$(rows "$db")" = "$(rows "${db}_ref")" ]; then
        ok "the database ends as one uninterrupted run leaves it"
else
        fail "the database ends as one uninterrupted run leaves it"
        diff <(rows "$db") <(rows "${db}_ref")
fi
check "the lock is free again: a third run prunes (nothing left)" prune "$work/url" "$work/c.json"
finish
