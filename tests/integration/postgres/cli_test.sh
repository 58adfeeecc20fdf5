#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The commands end to end on a real PostgreSQL server: report (text, JSON), prune from a URL
# file, a dry run that predicts the real run and changes nothing, run --once from the
# environment; exit codes for a wrong password, an unknown database, a database that is not
# kagent's; and the password on no output line, debug logs included.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/kr-pgcli-XXXXXX)
db=kr_cli_$$
trap 'drop_db $db; drop_db ${db}_empty; rm -rf "$work"' EXIT
now=$(date +%s)

create_db "$db" migrate >/dev/null || { echo "FAIL - create database"; exit 1; }
gen "$db" 300 20 60 "$now" >/dev/null || { echo "FAIL - generate data"; exit 1; }
url_file "$db" "$work/url"
password=$(sed -n 's#^postgresql://[^:]*:\([^@]*\)@.*#\1#p' "$work/url")
[ -n "$password" ] || { echo "FAIL - the test server URL has a password"; exit 1; }
cat >"$work/policy.yaml" <<'YAML'
spec:
  activeWindow: 30m
  sessions: {expireAfter: 30d}
  softDeleted: {purgeAfter: 7d}
  orphans: {enabled: true}
YAML
# expect_exit CODE NAME COMMAND...: run, keep stdout/stderr in $work/out and $work/err
expect_exit() {
        local want=$1 name=$2
        shift 2
        "$@" >"$work/out" 2>"$work/err"
        local rc=$?
        if [ "$rc" -eq "$want" ]; then ok "$name (exit $rc)"; else
                fail "$name (exit $rc, want $want)"
                head -5 "$work/err"
        fi
        if grep -qF "$password" "$work/out" "$work/err"; then fail "$name: the password was printed"; fi
}
pgenv() { env DATABASE_TYPE=postgres POSTGRES_DATABASE_URL_FILE="$work/url" LOG_LEVEL=debug "$@"; }

expect_exit 0 "report" pgenv "$bin" report
check "report names the schema and version" grep -q "schema migrate-postgres/13" "$work/out"
check "report lists the event table" grep -qE "^event +[0-9]+ +[0-9]+ " "$work/out"
expect_exit 0 "report -o json" pgenv "$bin" report -o json
check "report json: size, tables largest first with dead rows" python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
assert r["type"] == "postgres" and r["schemaVersion"] == "13" and r["sizeBytes"] > 0, r
b=[t["bytes"] for t in r["tables"]]
assert b == sorted(b, reverse=True) and "deadRows" in r["tables"][0], r["tables"][:2]' "$work/out"

before=$(rows "$db")
expect_exit 0 "prune --dry-run" pgenv "$bin" prune --policy "$work/policy.yaml" --dry-run -o json
cp "$work/out" "$work/dry.json"
check "the dry run changed nothing" test "$(rows "$db")" = "$before"
expect_exit 0 "prune" pgenv "$bin" prune --policy "$work/policy.yaml" -o json
check "the dry run predicted the real run, rule by rule" python3 -c '
import json,sys
d=json.load(open(sys.argv[1])); r=json.load(open(sys.argv[2]))
assert d["result"] == "DryRun" and r["result"] == "Succeeded", (d["result"], r["result"])
key=lambda x: [(e["rule"], e["table"], e["rows"], e["bytes"]) for e in x["deleted"]]
assert key(d) == key(r) and r["rows"] > 1000, (key(d), key(r))' "$work/dry.json" "$work/out"
check "the connection log names the target, not the URL" grep -q '"target":"host=127.0.0.1 port=' "$work/err"

expect_exit 0 "run --once from POSTGRES_DATABASE_URL" env DATABASE_TYPE=postgres \
        POSTGRES_DATABASE_URL="$(cat "$work/url")" LOG_LEVEL=debug "$bin" run --once \
        --metrics-bind-address 0 --health-probe-bind-address 0 --policy "$work/policy.yaml"
check "run logged the URL redacted" grep -q '"postgres_url":"postgresql://postgres:\*\*\*@' "$work/err"

sed "s#:$password@#:wrong-$password@#" "$work/url" >"$work/bad-url"
expect_exit 1 "a wrong password fails" env DATABASE_TYPE=postgres \
        POSTGRES_DATABASE_URL_FILE="$work/bad-url" "$bin" report
check "it says authentication failed" grep -q "password authentication failed" "$work/err"
check "and prints no password, right or wrong" sh -c "! grep -q 'wrong-' '$work/err'"
sed "s#/$db\$#/no_such_db_$$#" "$work/url" >"$work/nodb-url"
expect_exit 2 "an unknown database is a usage error" env DATABASE_TYPE=postgres \
        POSTGRES_DATABASE_URL_FILE="$work/nodb-url" "$bin" report
pg postgres -c "CREATE DATABASE ${db}_empty" >/dev/null
url_file "${db}_empty" "$work/empty-url"
expect_exit 2 "a database that is not kagent's is refused" env DATABASE_TYPE=postgres \
        POSTGRES_DATABASE_URL_FILE="$work/empty-url" "$bin" report
check "it says so" grep -q "not a kagent database" "$work/err"
expect_exit 2 "an unparsable URL is a usage error" env DATABASE_TYPE=postgres \
        POSTGRES_DATABASE_URL="postgresql://u:$password%zz@127.0.0.1/x" "$bin" report

# libpq is loaded when a PostgreSQL store opens, not linked: without it, SQLite still works and
# PostgreSQL fails with a clear error (the library hidden in a private mount namespace).
check "the binary does not link libpq" sh -c "! readelf -d '$bin' | grep -q 'libpq'"
libpq=$(ldconfig -p | awk '$1 == "libpq.so.5" { print $NF; exit }')
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null && [ -n "$libpq" ]; then
        : >"$work/empty.so"
        hide() { # COMMAND...: run with an empty file mounted over libpq
                unshare -m sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh \
                        "$work/empty.so" "$(readlink -f "$libpq")" "$@"
        }
        expect_exit 1 "without libpq PostgreSQL fails" hide env DATABASE_TYPE=postgres \
                POSTGRES_DATABASE_URL_FILE="$work/url" "$bin" report
        check "it says libpq cannot be loaded" \
                grep -q "PostgreSQL needs libpq, which cannot be loaded" "$work/err"
        "$bin" datagen --sqlite-database-path "$work/k.db" --sessions 5 --seed 1 >/dev/null 2>&1
        expect_exit 0 "without libpq SQLite works" hide "$bin" report --sqlite-database-path "$work/k.db"
else
        echo "SKIP - hiding libpq needs root and unshare"
fi
finish
