#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# For the kind job of .github/workflows/install.yaml: writes a one-template Helm chart "kagent"
# into $1 that renders kagent v0.7.23's controller (tests/install/fixtures/kagent-v0.7.23.yaml)
# with stand-ins that run without kagent's images: the controller container sleeps (busybox), and
# an init container writes a kagent database with `kagent-retention datagen` (image $2). The chart
# is installed with the real `helm install --post-renderer`, which adds the sidecar.
set -euo pipefail
out=${1:?usage: kagent-standin.sh DIR IMAGE}
image=${2:?usage: kagent-standin.sh DIR IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/templates"
cat >"$out/Chart.yaml" <<EOT
apiVersion: v2
name: kagent
version: 0.7.23
appVersion: "0.7.23"
EOT
python3 - "$here/../fixtures/kagent-v0.7.23.yaml" "$image" >"$out/templates/kagent.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    if d["kind"] != "Deployment":
        continue
    spec = d["spec"]["template"]["spec"]
    c = spec["containers"][0]
    c["image"] = "busybox:1.36"
    c["command"] = ["sh", "-c", "sleep 2147483647"]
    c.pop("readinessProbe", None)
    c["securityContext"] = {"runAsUser": 65532, "runAsGroup": 65532}
    spec["initContainers"] = [{
        "name": "datagen", "image": sys.argv[2], "imagePullPolicy": "Never",
        "args": ["datagen", "--sqlite-database-path", "/sqlite-volume/kagent.db", "--sessions", "100",
                 "--days", "60"],
        "securityContext": {"runAsUser": 65532, "runAsGroup": 65532},
        "volumeMounts": [{"name": "sqlite-volume", "mountPath": "/sqlite-volume"}]}]
print(yaml.safe_dump_all(docs, sort_keys=False))
PY
