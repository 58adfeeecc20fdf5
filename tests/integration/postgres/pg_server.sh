#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A throw-away PostgreSQL server for the tests, never running as root.
#   pg_server.sh start DIR    initdb into a fresh temporary directory, start postgres on
#                             127.0.0.1 on a free port with password (scram) authentication, and
#                             write DIR/url (a libpq URL with the password) and DIR/env
#   pg_server.sh stop DIR     stop the server and remove its data directory
#   pg_server.sh restart DIR  stop (fast: every connection is cut) and start on the same port
#   pg_server.sh psql DIR [psql args]   psql as the superuser
# As root the server runs as the 'postgres' system user (runuser); otherwise as the caller.
# PG_BINDIR overrides the binary directory (default: the newest /usr/lib/postgresql/*/bin).
# KR_PG_BASE is where the data directory is made (default: /tmp). The ctest fixture puts it on
# /dev/shm: the tests bound lock waits and latencies, and a shared disk's write-back stalls
# (half a second, seen in CI) would stand in every commit's way. bench/run keeps the disk.
# Without server binaries, start exits 77 (skipped) and the tests that need a server skip too.
set -euo pipefail

cmd=${1:?usage: pg_server.sh start|stop|restart|psql DIR}
dir=${2:?usage: pg_server.sh start|stop|restart|psql DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

bindir() {
        local d=${PG_BINDIR:-}
        if [ -z "$d" ]; then
                d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
                [ -n "$d" ] || d=$(pg_config --bindir 2>/dev/null) || true
        fi
        [ -x "$d/initdb" ] || { echo "pg_server: no PostgreSQL server binaries found: skipped" >&2; exit 77; }
        echo "$d"
}

# Run a command as the server's owner.
as_owner() {
        if [ "$(id -u)" -eq 0 ]; then
                runuser -u "$owner" -- "$@"
        else
                "$@"
        fi
}

free_port() {
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() { # start_server: uses $bin $data $port $sock $owner
        as_owner "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
                -o "-h 127.0.0.1 -p $port -k $sock -c max_connections=60 -c shared_buffers=128MB" \
                start >/dev/null
}

case "$cmd" in
start)
        if [ -f "$dir/env" ] && [ -f "$dir/url" ]; then
                # Already running (another test run in the same build directory): share it.
                # shellcheck disable=SC1091
                . "$dir/env"
                if as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
                        exit 0
                fi
        fi
        rm -f "$dir/url"
        bin=$(bindir)
        owner=$(id -un)
        [ "$(id -u)" -eq 0 ] && owner=postgres
        id "$owner" >/dev/null 2>&1 || { echo "pg_server: no '$owner' user to run postgres as" >&2; exit 1; }
        base=$(mktemp -d "${KR_PG_BASE:-/tmp}/kr-pg-XXXXXX")
        # A start that fails half-way leaves nothing behind.
        trap 'rc=$?; [ $rc -eq 0 ] || { as_owner "$bin/pg_ctl" -D "$base/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$base"; }' EXIT
        chmod 700 "$base"
        [ "$(id -u)" -eq 0 ] && chown "$owner" "$base"
        data=$base/data
        sock=$base
        password=kr-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
        as_owner bash -c "umask 077; printf '%s\n' '$password' >'$base/pw'"
        as_owner "$bin/initdb" -D "$data" -U postgres --pwfile="$base/pw" --no-locale -E UTF8 \
                --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
                { cat "$dir/initdb.log" >&2; exit 1; }
        port=$(free_port)
        start_server || { cat "$data/server.log" >&2; exit 1; }
        cat >"$dir/env" <<EOF
bin='$bin'
owner='$owner'
base='$base'
data='$data'
sock='$sock'
port='$port'
EOF
        umask 077
        printf 'postgresql://postgres:%s@127.0.0.1:%s/postgres\n' "$password" "$port" >"$dir/url"
        trap - EXIT
        ;;
stop)
        [ -f "$dir/env" ] || exit 0
        # shellcheck disable=SC1091
        . "$dir/env"
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$base"
        rm -f "$dir/env" "$dir/url"
        ;;
restart)
        # shellcheck disable=SC1091
        . "$dir/env"
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
        start_server
        ;;
psql)
        # shellcheck disable=SC1091
        . "$dir/env"
        shift 2
        as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"
        ;;
*)
        echo "usage: pg_server.sh start|stop|restart|psql DIR" >&2
        exit 2
        ;;
esac
