# SPDX-License-Identifier: Apache-2.0
"""Helpers of the install tests: paths, kustomize and chart rendering, YAML documents, and
schema validation with tests/install/validate.mjs (kubernetes-models)."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("KR_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
MANIFESTS = os.path.join(SRC, "manifests")
CHART = os.path.join(SRC, "charts", "kagent-retention")
POST_RENDERER = os.path.join(CHART, "post-renderer", "kagent-retention-post-renderer")
FIXTURE = os.path.join(HERE, "fixtures", "kagent-v0.7.23.yaml")
# Built by the install_helmrender test (a ctest fixture), or by helmrender_path() on demand.
HELMRENDER = os.environ.get("KR_HELMRENDER", "")

# Every kustomization of manifests/ that renders on its own (sidecar/ is a Component: it is
# rendered through a kustomization that includes kagent's manifests, see kustomize_sidecar()).
KUSTOMIZATIONS = ["", "crd", "rbac", "rbac/leader-election", "prometheus", "standalone"]

# The chart renderings checked: name -> helmrender arguments (besides the chart).
CHART_CASES = {
    "default": [],
    "sidecar-monitoring": ["--set", "metrics.podMonitor.enabled=true",
                           "--set", "metrics.prometheusRule.enabled=true",
                           "--set", "metrics.podMonitor.labels.release=kube-prometheus-stack"],
    "sidecar-release-kagent2": ["--set", "kagent.fullname=kagent2", "--set", "policy.name=small",
                                "--set", "rbac.create=true"],
    "standalone": ["--set", "mode=standalone",
                   "--set", "standalone.database.existingSecret=kagent-postgres"],
    "standalone-env-monitoring": ["--set", "mode=standalone",
                                  "--set", "standalone.database.existingSecret=kagent-postgres",
                                  "--set", "standalone.database.urlFrom=env",
                                  "--set", "standalone.replicaCount=3",
                                  "--set", "metrics.podMonitor.enabled=true",
                                  "--set", "metrics.prometheusRule.enabled=true"],
    "standalone-single": ["--set", "mode=standalone",
                          "--set", "standalone.database.existingSecret=kagent-postgres",
                          "--set", "standalone.replicaCount=1",
                          "--set", "standalone.leaderElection=false",
                          "--set", "standalone.serviceAccount.create=false",
                          "--set", "standalone.serviceAccount.name=kagent-controller"],
    "no-policy-no-rbac": ["--set", "policy.create=false", "--set", "rbac.create=false"],
}


def run(cmd, input=None, check=True, env=None, cwd=None, timeout=300):
    p = subprocess.run(cmd, input=input, capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                        p.stderr))
    return p


def docs(text):
    """The non-empty YAML documents of a multi-document string."""
    return [d for d in yaml.safe_load_all(text) if d]


def kustomize(path):
    return run(["kubectl", "kustomize", path]).stdout


def kustomize_sidecar(component=os.path.join(MANIFESTS, "sidecar"), fixture=FIXTURE):
    """kagent's rendered manifests (the fixture) with the sidecar Component, as a user's
    kustomization would combine them."""
    d = tempfile.mkdtemp(prefix="kr-sidecar-")
    try:
        shutil.copy(fixture, os.path.join(d, "kagent.yaml"))
        shutil.copytree(component, os.path.join(d, "sidecar"))
        with open(os.path.join(d, "kustomization.yaml"), "w") as f:
            f.write("resources: [kagent.yaml]\ncomponents: [sidecar]\n")
        return kustomize(d)
    finally:
        shutil.rmtree(d)


def helmrender_path():
    global HELMRENDER
    if HELMRENDER and os.path.exists(HELMRENDER):
        return HELMRENDER
    out = tempfile.mkdtemp(prefix="kr-helmrender-")
    HELMRENDER = build_helmrender(os.path.join(out, "helmrender"))
    return HELMRENDER


def build_helmrender(out):
    p = run([os.path.join(HERE, "helmrender", "build.sh"), out], check=False)
    if p.returncode == 77:
        raise unittest.SkipTest(p.stdout.strip())
    if p.returncode != 0:
        raise AssertionError("helmrender/build.sh failed:\n%s%s" % (p.stdout, p.stderr))
    return out


def render_chart(args=(), name="kagent-retention", namespace="kagent", check=True, notes=None):
    cmd = [helmrender_path(), "-name", name, "-namespace", namespace]
    if notes:
        cmd += ["-notes", notes]
    return run(cmd + list(args) + [CHART], check=check)


def node_modules_ready():
    return os.path.isdir(os.path.join(HERE, "node_modules", "kubernetes-models"))


def validate(items, custom=("RetentionPolicy",)):
    """Validate [(source, object)] with kubernetes-models; returns (ok, output)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([{"source": s, "object": o} for s, o in items], f)
        path = f.name
    try:
        p = run(["node", os.path.join(HERE, "validate.mjs"), "--custom", ",".join(custom), path],
                check=False)
        return p.returncode == 0, p.stdout + p.stderr
    finally:
        os.unlink(path)


def find(objs, kind, name=None):
    out = [o for o in objs if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]
    return out


def container(pod_spec, name):
    for c in pod_spec.get("containers", []):
        if c["name"] == name:
            return c
    raise AssertionError("no container %s in %s" % (name, [c["name"] for c in pod_spec["containers"]]))
