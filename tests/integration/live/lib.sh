# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the live tests (sourced).
bin=${KR_BINARY:?}
writer=${KR_WRITER:?}
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; }
check() {
        local name=$1
        shift
        if "$@"; then ok "$name"; else fail "$name"; fi
}
finish() {
        echo "$passed passed, $failed failed"
        [ "$failed" -eq 0 ]
}
# A memory-backed directory like kagent's emptyDir when the machine has one.
scratch() {
        local base=/tmp
        [ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
        mktemp -d "$base/kr-live-XXXXXX"
}
# Wait until a file exists (a condition, not a fixed sleep); 20 s at most.
wait_file() {
        for _ in $(seq 400); do [ -e "$1" ] && return 0; sleep 0.05; done
        return 1
}
json() { # json FILE EXPR -> value of a Python expression over r
        python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
# A kagent database of SESSIONS datagen sessions (55 events each over a year, as of $now) and
# the policy the throughput tests prune it with (the sessions rule, 30 d).
year_db() { # year_db DB SESSIONS POLICY_FILE
        "$bin" datagen --sqlite-database-path "$1" --sessions "$2" --events-per-session 55 \
                --days 365 --seed 11 --now "${now:?}" >"$1.datagen.txt" || return 1
        cat "$1.datagen.txt"
        cat >"$3" <<'YAML'
spec:
  activeWindow: 30m
  sessions: {expireAfter: 30d}
YAML
}
