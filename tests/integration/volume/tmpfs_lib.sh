# SPDX-License-Identifier: Apache-2.0
# Helpers for tests on a real size-limited tmpfs, like a memory-backed emptyDir (sourced).
. "$(dirname "${BASH_SOURCE[0]}")/../live/lib.sh"
mnt=
sidecar=
wpid=
cleanup() {
        [ -n "$wpid" ] && kill "$wpid" 2>/dev/null
        [ -n "$sidecar" ] && kill "$sidecar" 2>/dev/null
        wait 2>/dev/null
        [ -n "$mnt" ] && { umount "$mnt" 2>/dev/null; rmdir "$mnt"; }
        [ -n "${work:-}" ] && rm -rf "$work"
}
trap cleanup EXIT
# mount_tmpfs SIZE: a fresh tmpfs of that size in $mnt (root only; exit 77 = skipped otherwise).
mount_tmpfs() {
        if [ "$(id -u)" -ne 0 ]; then
                echo "skipped: mounting a tmpfs needs root"
                exit 77
        fi
        mnt=$(mktemp -d /tmp/kr-tmpfs-XXXXXX)
        mount -t tmpfs -o "size=$1" tmpfs "$mnt" || { echo "FAIL - mount tmpfs"; exit 1; }
}
used_pct() { df --output=pcent "$mnt" | tail -1 | tr -dc 0-9; }
