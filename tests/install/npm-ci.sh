#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install tests/install/node_modules from package-lock.json (npm ci), once per lock file: the
# schema validation of the install tests needs kubernetes-models. Exit 77 without node or npm.
set -euo pipefail
cd "$(dirname "$0")"
command -v node >/dev/null || { echo "SKIP: node is not installed"; exit 77; }
command -v npm >/dev/null || { echo "SKIP: npm is not installed"; exit 77; }
stamp=node_modules/.kr-lock-sha256
want=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "node_modules up to date"
        exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
node -e 'import("kubernetes-models/apps/v1/Deployment").then(m => console.log("kubernetes-models:", typeof m.Deployment))'
