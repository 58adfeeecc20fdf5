#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The container image (ctest label "image"): scripts/build-image builds it from the Dockerfile
# (debootstrap base, buildah bud --isolation chroot --storage-driver vfs), then the image runs:
# `version`, `datagen` and `report` (text and JSON) and a dry-run `prune` with a sample policy on
# a mounted directory as UID 65532, `report` on PostgreSQL (libpq loads), and `run` in a cluster
# (bench/incluster.py: the API emulator over HTTPS, leader election, status); its configuration
# (user, entrypoint, OCI labels) and the absence of a shell are checked. Exit 77 (skipped) when
# not root, buildah or debootstrap is missing, or KR_IMAGE_TEST=0. Needs the Debian mirror apt
# uses (the first build debootstraps).
set -euo pipefail
src=${KR_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
skip() {
        echo "SKIP: $*"
        exit 77
}
[ "${KR_IMAGE_TEST:-1}" != 0 ] || skip "KR_IMAGE_TEST=0"
[ "$(id -u)" -eq 0 ] || skip "not root"
command -v buildah >/dev/null || skip "buildah not installed"
command -v debootstrap >/dev/null || skip "debootstrap not installed"

export KR_IMAGE_CACHE=${KR_IMAGE_CACHE:-/var/cache/kagent-retention-image}
tag=localhost/kagent-retention:test
bah() { buildah --root "$KR_IMAGE_CACHE/storage" --runroot "$KR_IMAGE_CACHE/run" --storage-driver vfs "$@"; }
fail() {
        echo "FAIL: $*" >&2
        exit 1
}

start=$(date +%s)
out=$("$src/scripts/build-image" "$tag")
echo "$out"
echo "build: $(($(date +%s) - start)) s"

# The configuration: non-root user, exec-form entrypoint, the OCI labels.
cfg=$(bah inspect --type image "$tag")
python3 - "$cfg" <<'PY' || fail "image configuration"
import json, sys
c = json.loads(sys.argv[1])["OCIv1"]["config"]
assert c["User"] == "65532:65532", c["User"]
assert c["Entrypoint"] == ["kagent-retention"], c["Entrypoint"]
assert c["Cmd"] == ["run"], c.get("Cmd")
labels = c.get("Labels") or {}
for k in ("title", "description", "source", "licenses", "version", "revision", "created"):
    assert labels.get("org.opencontainers.image." + k), "label org.opencontainers.image.%s missing" % k
assert labels["org.opencontainers.image.revision"] != "unknown"
print("config ok:", c["User"], c["Entrypoint"], labels["org.opencontainers.image.version"])
PY

work=$(mktemp -d)
ctr=""
cleanup() {
        [ -z "$ctr" ] || bah rm "$ctr" >/dev/null 2>&1 || true
        rm -rf "$work"
}
trap cleanup EXIT
ctr=$(bah from --pull=never "$tag")

# No shell and nothing but the binary, its libraries and a few /etc files.
mnt=$(bah mount "$ctr")
for f in bin/sh bin/bash bin/dash usr/bin/sh usr/bin/apt usr/bin/env; do
        [ ! -e "$mnt/$f" ] || fail "/$f exists in the image"
done
files=$(cd "$mnt" && find . -type f | wc -l)
echo "files in the image: $files"
[ "$files" -lt 80 ] || fail "$files files in the image: more than the binary and its libraries"
bah umount "$ctr" >/dev/null

run() { bah run --isolation chroot --user 65532:65532 -v "$work/data:/data" "$ctr" -- "$@"; }
mkdir -p "$work/data"
cp "$src/manifests/samples/retentionpolicy-default.yaml" "$work/data/policy.yaml"
chown -R 65532:65532 "$work/data"

v=$(run kagent-retention version)
echo "version: $v"
case "$v" in "kagent-retention "[0-9]*) ;; *) fail "version printed '$v'" ;; esac

run kagent-retention datagen --sqlite-database-path /data/kagent.db --sessions 40 --days 30 --seed 7 \
        --now 2026-01-01T00:00:00Z
[ "$(stat -c %u:%g "$work/data/kagent.db")" = 65532:65532 ] || fail "the database is not owned by 65532"
run kagent-retention report --sqlite-database-path /data/kagent.db | tee "$work/report.txt"
grep -q 'gorm-sqlite' "$work/report.txt" || fail "report: no schema line"
run kagent-retention report --sqlite-database-path /data/kagent.db -o json >"$work/report.json"
python3 - "$work/report.json" <<'PY' || fail "report -o json"
import json, sys
r = json.load(open(sys.argv[1]))
text = json.dumps(r)
assert "session" in text and "event" in text, text[:300]
print("report json ok")
PY
run kagent-retention prune --policy /data/policy.yaml --sqlite-database-path /data/kagent.db \
        --dry-run --now 2026-03-01T00:00:00Z | tee "$work/prune.txt"
grep -q '^result: DryRun' "$work/prune.txt" || fail "prune: no dry-run result"
! grep -q ' 0 rows would be deleted' "$work/prune.txt" || fail "prune: nothing due 60 days later"

# libpq, loaded only for PostgreSQL, is in the image: a closed port is a connection error.
run kagent-retention report --database-type postgres \
        --postgres-database-url 'postgresql://kagent@127.0.0.1:1/kagent' >"$work/pg.txt" 2>&1 &&
        fail "report on a closed PostgreSQL port succeeded"
cat "$work/pg.txt"
grep -q 'cannot connect' "$work/pg.txt" || fail "PostgreSQL in the image: $(head -3 "$work/pg.txt")"

# The image's binary in a cluster: chrooted into the image's file system as 65532, against the
# API emulator over HTTPS (its TLS client is the image's own libcurl and mbedTLS), with leader
# election and the default sample policy, it prunes the database and writes the policy's status.
mnt=$(bah mount "$ctr")
mkdir -p "$mnt/tmp/cluster"
cp "$work/data/kagent.db" "$mnt/tmp/cluster/kagent.db"
chown -R 65532:65532 "$mnt/tmp/cluster"
python3 "$src/bench/incluster.py" --root "$mnt" /usr/local/bin/kagent-retention \
        /tmp/cluster/kagent.db 5 "$work/cluster" >"$work/cluster.json" ||
        fail "in a cluster: $(cat "$work/cluster.json"; tail -5 "$work/cluster/sidecar.log" 2>/dev/null)"
python3 - "$work/cluster.json" <<'PY' || fail "in a cluster"
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert "skipped" not in r, r
assert r["leader"] and r["exit_code"] == 0, r
assert r["last_run"]["result"] == "Succeeded", r["last_run"]
assert r["requests_by_verb"].get("update leases", 0) > 0, r["requests_by_verb"]
print("in a cluster: %s, RSS %d KiB (anonymous %d, file-backed %d), %.2f ms/s on CPU idle"
      % (r["last_run"]["message"], r["rss_kb"], r["anon_kb"], r["file_kb"], r["cpu_ms_per_s"]))
PY
bah umount "$ctr" >/dev/null

# A shell is not there to run.
if bah run --isolation chroot "$ctr" -- /bin/sh -c true >/dev/null 2>&1; then
        fail "/bin/sh ran in the image"
fi
echo "image test: ok"
